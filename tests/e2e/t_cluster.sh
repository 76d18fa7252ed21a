#!/usr/bin/env bash
# t_cluster.sh — several nodes, one registry: a PostgreSQL of this script's
# own, three ociregd nodes on one storage directory and one database, and
# haproxy in front (mode http, roundrobin, no stickiness, health check GET
# /readyz).  Through the balancer: skopeo and podman push and pull.  Node to
# node: a chunked upload whose POST, PATCHes and PUT each go to another node
# (the spool lives in the shared root), a tag pushed on one node read on
# another at once, a delete on one seen on another.  Failures: kill -9 of a
# node in the middle of a push (the client's retry finishes through the
# balancer, every digest acknowledged with 201 is pullable, fsck is clean);
# PostgreSQL stopped and started while requests run (503 meanwhile, never
# 500, never a crash; each node recovers by itself).  Garbage collection
# from one node while the others take pushes, and one collector at a time.
# A pull-through cache on every node ([proxy "up"] in front of an upstream
# ociregd of its own storage): a cold manifest and a cold blob requested on
# two nodes at the same moment are answered whole by both and stored once
# (one blob row, one file, no duplicate rows; fsck clean).  Auth across
# nodes: three more nodes on the same root and database sharing [auth]
# users and token_key; a token from one node's /token pushes and pulls on
# the others, a token signed with another key is refused (401).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
. "$(dirname "$0")/lib-proxy.sh"
# The daemons' libcurl honours proxy variables: everything here is local.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

# A server of this script's own even under lib-pg.sh run: it is stopped and
# started again below, which must not touch the other suites' server.
unset E2E_PG_URL
. "$E2E_DIR/lib-pg.sh"
if ! pg_bin || ! command -v psql >/dev/null; then
	echo "ok 1 - PostgreSQL (initdb, pg_ctl, psql) is not installed # SKIP"
	echo "1..1"
	exit 0
fi
E2E_META=postgres
e2e_init
proxy_init

if ! command -v haproxy >/dev/null; then
	t_pass "haproxy is not installed # SKIP"
	e2e_finish
fi

NODES=(1 2 3)
declare -A NODE_PID=() NODE_PORT=() NODE_LOG=() NODE_STARTS=()
HAP_PID=
HAP_LOG=$TMP/haproxy.log
LB=

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# stop_pid PID: TERM, a bounded wait, then KILL.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	wait_dead "$1" 100 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

cluster_cleanup() {
	local i
	stop_pid "$HAP_PID"
	HAP_PID=
	for i in "${!NODE_PID[@]}"; do
		stop_pid "${NODE_PID[$i]:-}"
		NODE_PID[$i]=
	done
}
trap 'rc=$?; cluster_cleanup; proxy_cleanup; (exit $rc); e2e_cleanup' EXIT

# node_root I: the shared root; on S3 (E2E_STORE=s3) each node's own, the
# nodes sharing the bucket and the database.
node_root() {
	if store_is_s3; then printf '%s/root%s' "$TMP" "$1"; else printf '%s' "$ROOT"; fi
}

# node_conf I [EXTRA-INI]: node I's configuration: its own port, the shared
# root (bucket) and database, the pull-through cache of the upstream, then
# EXTRA.  workers = 2 so that one node serves requests in parallel too.
node_conf() {
	{
		printf '[server]\nlisten = 127.0.0.1:%s\nworkers = 2\nlog_level = info\nshutdown_timeout = 5s\n' \
			"${NODE_PORT[$1]}"
		E2E_SYNC=true e2e_storage_ini "$(node_root "$1")"
	} >"$TMP/node$1.ini"
	cat >>"$TMP/node$1.ini" <<-EOF
		[metadata]
		backend = postgres
		url = $E2E_PG_DB_URL
		[proxy "up"]
		url = $UP_BASE
		prefix = up
	EOF
	[ -n "${2:-}" ] && printf '%s\n' "$2" >>"$TMP/node$1.ini"
	return 0
}

node_start() {
	local i=$1 n
	NODE_STARTS[$i]=$((${NODE_STARTS[$i]:-0} + 1))
	NODE_LOG[$i]=$TMP/node$i.${NODE_STARTS[$i]}.log
	: >"${NODE_LOG[$i]}"
	"$OCIREGD" -c "$TMP/node$i.ini" </dev/null >>"${NODE_LOG[$i]}" 2>&1 &
	NODE_PID[$i]=$!
	for ((n = 0; n < 150; n++)); do
		grep -q 'listening on' "${NODE_LOG[$i]}" && return 0
		kill -0 "${NODE_PID[$i]}" 2>/dev/null || break
		sleep 0.1
	done
	bail "node $i starts on port ${NODE_PORT[$i]}" "log: $(tail -n 20 "${NODE_LOG[$i]}")"
}

node_url() { printf 'http://127.0.0.1:%s' "${NODE_PORT[$1]}"; }
on() { BASE=$(node_url "$1"); }
via_lb() { BASE=$LB; }
node_alive() { kill -0 "${NODE_PID[$1]}" 2>/dev/null && [ "$(awk '{print $3}' "/proc/${NODE_PID[$1]}/stat" 2>/dev/null)" != Z ]; }

# ---------------------------------------------------------------- start
# The upstream of the pull-through cache: a plain ociregd, its own storage.
up_start
for i in "${NODES[@]}"; do
	NODE_PORT[$i]=$(free_port)
	node_conf "$i"
done
for i in "${NODES[@]}"; do node_start "$i"; done
if store_is_s3; then
	t_pass "three nodes, each its own root, on one bucket ($E2E_S3_BUCKET) and one database"
else
	t_pass "three nodes on one root ($ROOT) and one database"
fi

HAP_PORT=$(free_port)
LB=http://127.0.0.1:$HAP_PORT
cat >"$TMP/haproxy.cfg" <<EOF
global
	log stdout format raw local0 info
	maxconn 512
defaults
	mode http
	log global
	log-format "%ST %s %HM %HU"
	timeout connect 2s
	timeout client 120s
	timeout server 120s
	retries 3
	option redispatch
frontend registry
	bind 127.0.0.1:$HAP_PORT
	default_backend nodes
backend nodes
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server check inter 250ms fall 2 rise 2
	server n1 127.0.0.1:${NODE_PORT[1]}
	server n2 127.0.0.1:${NODE_PORT[2]}
	server n3 127.0.0.1:${NODE_PORT[3]}
EOF
: >"$HAP_LOG"
haproxy -f "$TMP/haproxy.cfg" -db </dev/null >>"$HAP_LOG" 2>&1 &
HAP_PID=$!
via_lb
for ((n = 0; n < 100; n++)); do
	req GET /v2/
	[ "$STATUS" = 200 ] && break
	kill -0 "$HAP_PID" 2>/dev/null || bail "haproxy starts" "$(cat "$HAP_LOG")"
	sleep 0.1
done
assert_status 200 "GET /v2/ through haproxy"
for ((n = 0; n < 6; n++)); do req GET /v2/; done
used=$(awk '$3 == "GET" && $4 == "/v2/" {print $2}' "$HAP_LOG" | sort -u | tr '\n' ' ')
assert_eq "$used" "n1 n2 n3 " "round robin: GET /v2/ reached every node"

# ---------------------------------------------------------------- chunked upload across nodes
mkblob "$TMP/big" 300000
slice "$TMP/big" 0 100000 "$TMP/c1"
slice "$TMP/big" 100000 100000 "$TMP/c2"
slice "$TMP/big" 200000 100000 "$TMP/c3"
BIG=$(sha256_of "$TMP/big")
on 1
upload_start xnode/up || bail "POST on node 1"
path=/${UPLOAD_LOC#http://*/}
# (On S3 a session may have no object before its first bytes.)
store_is_s3 || assert_upload_stored "$UPLOAD_ID" "the session's spool is in the shared root (uploads/$UPLOAD_ID)"
on 2
req PATCH "$path" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-99999' --data-binary "@$TMP/c1"
assert_status 202 "PATCH bytes 0-99999 on node 2"
path=/$(hdr Location | sed 's|^https\{0,1\}://[^/]*/||; s|^/||')
if store_is_s3; then
	assert_upload_stored "$UPLOAD_ID" "node 2's bytes are in the shared bucket (uploads/$UPLOAD_ID/)"
else
	assert_eq "$(fsize "$ROOT/uploads/$UPLOAD_ID" 2>/dev/null)" 100000 "node 2 appended to the shared spool"
fi
on 3
req GET "$path"
assert_status 204 "upload status on node 3"
assert_header Range 0-99999 "node 3 sees node 2's bytes"
req PATCH "$path" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 100000-199999' --data-binary "@$TMP/c2"
assert_status 202 "PATCH bytes 100000-199999 on node 3"
path=/$(hdr Location | sed 's|^https\{0,1\}://[^/]*/||; s|^/||')
on 1
req PUT "$(with_query "$path" "digest=$BIG")" -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/c3"
assert_status 201 "PUT with the last chunk on node 1 (POST 1, PATCH 2, PATCH 3, PUT 1)"
assert_upload_absent "$UPLOAD_ID" "the spool (upload objects) is gone after the PUT"
for i in "${NODES[@]}"; do
	on "$i"
	req GET "/v2/xnode/up/blobs/$BIG"
	assert_status 200 "node $i serves the cross-node blob"
	assert_body_digest "$BIG" "node $i, cross-node blob"
done
if store_is_s3; then
	assert_eq "$(find "$TMP"/root[123] -name "*$UPLOAD_ID*" | head -n 3)" "" \
		"no node keeps a file of the finished session in its own root"
else
	assert_eq "$(find "$TMP" \( -path "$ROOT" -o -path "$UP_ROOT" \) -prune -o -name uploads -print | wc -l)" 0 \
		"no node keeps an uploads directory outside the shared root"
fi

# ---------------------------------------------------------------- tags and deletes, node to node
on 1
blob_json xnode/t "$TMP/cfg1" '{"architecture":"amd64","os":"linux","n":1}'
blob_json xnode/t "$TMP/cfg2" '{"architecture":"amd64","os":"linux","n":2}'
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$TMP/cfg1")" >"$TMP/m1"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$TMP/cfg2")" >"$TMP/m2"
M1=$(sha256_of "$TMP/m1")
M2=$(sha256_of "$TMP/m2")
push_manifest xnode/t v1 "$TMP/m1"
on 2
req GET /v2/xnode/t/manifests/v1
assert_status 200 "a tag pushed on node 1 is read on node 2 at once"
assert_body_digest "$M1" "node 2 reads node 1's tag"
on 3
req GET /v2/xnode/t/manifests/v1
assert_header Docker-Content-Digest "$M1" "node 3 (manifest now in its cache)"
on 2
push_manifest xnode/t v1 "$TMP/m2"
on 3
req GET /v2/xnode/t/manifests/v1
assert_header Docker-Content-Digest "$M2" "the tag moved on node 2 is seen moved on node 3 at once"
req GET /v2/xnode/t/tags/list
assert_eq "$(jq -c .tags "$BODY")" '["v1"]' "tags/list on node 3"
on 1
req DELETE "/v2/xnode/t/manifests/$M2"
assert_status 202 "DELETE on node 1"
on 3
req GET "/v2/xnode/t/manifests/$M2"
assert_status 404 "node 3 no longer serves the manifest node 1 deleted (its cache notwithstanding)"
req GET /v2/xnode/t/manifests/v1
assert_status 404 "node 3: the deleted manifest's tag is gone"

# ---------------------------------------------------------------- pull-through cache on two nodes at once
# A cold manifest and a cold blob of the upstream, each requested on nodes 1
# and 2 at the same moment (two curls in parallel, one to each node): both
# answers are whole, and the shared store holds them once.
mkblob "$TMP/cold.layer" $((6 << 20))
printf '{"architecture":"amd64","os":"linux","cold":true}' >"$TMP/cold.cfg"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$TMP/cold.cfg")" "$(desc "$MT_OCI_LAYER" "$TMP/cold.layer")" >"$TMP/cold.m"
CL_L=$(sha256_of "$TMP/cold.layer")
CL_M=$(sha256_of "$TMP/cold.m")
BASE=$UP_BASE
push_blob lib/cold "$TMP/cold.cfg"
push_blob lib/cold "$TMP/cold.layer"
push_manifest lib/cold v1 "$TMP/cold.m"
# pair PATH NAME: GET PATH on nodes 1 and 2 in parallel; bodies in
# $TMP/NAME.1 and .2, "status digest-header" in $TMP/NAME.N.st.
pair() {
	local i pids=()
	for i in 1 2; do
		curl -s --max-time 60 -H "Accept: $MT_OCI_MANIFEST" -o "$TMP/$2.$i" \
			-w '%{http_code} %header{docker-content-digest}' "$(node_url "$i")$1" >"$TMP/$2.$i.st" </dev/null &
		pids+=($!)
	done
	wait_dead "${pids[0]}" 700
	wait_dead "${pids[1]}" 700
	wait "${pids[@]}" 2>/dev/null
}
pair /v2/up/lib/cold/manifests/v1 coldm
for i in 1 2; do
	assert_eq "$(cat "$TMP/coldm.$i.st") $(sha256_of "$TMP/coldm.$i")" "200 $CL_M $CL_M" \
		"cold manifest requested on nodes 1 and 2 at once: node $i answers it whole"
done
pair "/v2/up/lib/cold/blobs/$CL_L" coldb
for i in 1 2; do
	assert_eq "$(cat "$TMP/coldb.$i.st") $(sha256_of "$TMP/coldb.$i")" "200 $CL_L $CL_L" \
		"cold 6 MiB blob requested on nodes 1 and 2 at once: node $i answers it whole"
done
echo "# upstream blob GETs for the cold layer: $(up_blob_gets lib/cold "$CL_L"), manifest GETs: $(up_count "GET /v2/lib/cold/manifests/v1 200 ")"
on 3
req GET "/v2/up/lib/cold/blobs/$CL_L"
assert_body_digest "$CL_L" "node 3 serves the cached blob"
assert_eq "$(db "SELECT count(*) FROM blobs WHERE digest = '$CL_L'")" 1 "one blob row for the cached layer"
if store_is_s3; then
	ncl=$(s3_list "$E2E_S3_PREFIX" | grep -c -- "${CL_L#sha256:}")
else
	ncl=$(find "$ROOT" -name "${CL_L#sha256:}*" | wc -l)
fi
assert_eq "$ncl $(blob_size "$CL_L")" "1 $((6 << 20))" \
	"one file for the cached layer in the shared store, whole"
assert_eq "$(db "SELECT count(*) FROM repositories WHERE name = 'up/lib/cold'")" 1 "one repository row for up/lib/cold"
assert_eq "$(db "SELECT count(*) FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id WHERE r.name = 'up/lib/cold' AND rb.digest = '$CL_L'")" 1 \
	"one repo_blobs row for the cached layer"
assert_eq "$(db "SELECT count(*), count(DISTINCT m.digest) FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = 'up/lib/cold'")" "1|1" \
	"one manifests row for the cached manifest"
assert_eq "$(db "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = 'up/lib/cold'")" 1 \
	"one tag row for the cached tag"
assert_eq "$(db "SELECT count(*) FROM uploads") $(spool_files)" "0 0" \
	"no upload session or spool left by the two fetches"
"$OCIREGD" fsck -c "$TMP/node1.ini" >"$TMP/fsck.cache.out" 2>&1
rc=$?
if [ $rc -eq 0 ]; then t_pass "ociregd fsck is clean after the concurrent cache fills"; else t_fail "ociregd fsck is clean after the concurrent cache fills" "exit $rc: $(tail -n 20 "$TMP/fsck.cache.out")"; fi

# ---------------------------------------------------------------- auth across nodes
# Nodes 4, 5, 6: the same root and database, with one users file and one
# token_key file.  Node 7 (briefly): the same users, another key.
USERS=$TMP/users
PW_ALICE='Cluster-alice-pw-71c2'
AUTH_INI="[auth]
users = $USERS
anonymous = none
token_key = $TMP/cluster-token.key
[access \"auth/*\"]
pull = *
push = alice"
for i in 4 5 6 7; do
	NODE_PORT[$i]=$(free_port)
	node_conf "$i" "$AUTH_INI"
done
sed -i "s|token_key = .*|token_key = $TMP/other-token.key|" "$TMP/node7.ini"
printf '%s\n' "$PW_ALICE" | timeout 60 "$OCIREGD" passwd -c "$TMP/node4.ini" alice >"$TMP/passwd.out" 2>&1
assert_eq "$?" 0 "ociregd passwd alice (the shared users file)"
for i in 4 5 6 7; do node_start "$i"; done
assert_eq "$(ls "$TMP"/*-token.key | wc -l)" 2 "nodes 4-6 share one token key file, node 7 has its own"
SCOPE='repository:auth/app:pull,push'
# get_token NODE: a token from NODE's /token for alice; sets TOKEN.
get_token() {
	on "$1"
	req GET /token -G --data-urlencode service=ociregd --data-urlencode "scope=$SCOPE" -u "alice:$PW_ALICE"
	TOKEN=
	[ "$STATUS" = 200 ] && TOKEN=$(jq -r .token "$BODY" 2>/dev/null)
}
get_token 4
assert_match "$TOKEN" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "node 4's /token issues alice a token"
TOK_A=$TOKEN
on 5
req GET /v2/auth/app/tags/list
assert_status 401 "node 5 without a token: 401"
mkblob "$TMP/auth.layer" 50000
printf '{"architecture":"amd64","os":"linux","auth":1}' >"$TMP/auth.cfg"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$TMP/auth.cfg")" "$(desc "$MT_OCI_LAYER" "$TMP/auth.layer")" >"$TMP/auth.m"
AUTH_M=$(sha256_of "$TMP/auth.m")
for f in cfg layer; do
	req POST "/v2/auth/app/blobs/uploads/?digest=$(sha256_of "$TMP/auth.$f")" -H "Authorization: Bearer $TOK_A" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$TMP/auth.$f"
	assert_status 201 "node 5 takes a push ($f blob) with node 4's token"
done
req PUT /v2/auth/app/manifests/v1 -H "Authorization: Bearer $TOK_A" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$TMP/auth.m"
assert_status 201 "node 5 takes a manifest push with node 4's token"
on 6
req GET /v2/auth/app/manifests/v1 -H "Authorization: Bearer $TOK_A" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "node 6 serves a pull with node 4's token"
assert_body_digest "$AUTH_M" "node 6, manifest pulled with node 4's token"
req GET "/v2/auth/app/blobs/$(sha256_of "$TMP/auth.layer")" -H "Authorization: Bearer $TOK_A"
assert_body_digest "$(sha256_of "$TMP/auth.layer")" "node 6, blob pulled with node 4's token"
get_token 6
TOK_C=$TOKEN
on 4
req GET /v2/auth/app/manifests/v1 -H "Authorization: Bearer $TOK_C" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "node 4 accepts node 6's token too"
get_token 7
assert_match "$TOKEN" '\.' "node 7 (another key) issues a token"
TOK_X=$TOKEN
for i in 4 5 6; do
	on "$i"
	req GET /v2/auth/app/manifests/v1 -H "Authorization: Bearer $TOK_X" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 401 "node $i refuses a token signed with another key"
done
on 5
req PUT /v2/auth/app/manifests/v2 -H "Authorization: Bearer $TOK_X" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$TMP/auth.m"
assert_status 401 "node 5 refuses a push with a token signed with another key"
on 1
req GET /v2/auth/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_body_digest "$AUTH_M" "the anonymous node 1 sees what was pushed through the auth nodes (one registry)"
for i in 4 5 6 7; do
	stop_pid "${NODE_PID[$i]}"
	NODE_PID[$i]=
done

# ---------------------------------------------------------------- skopeo and podman through the balancer
W=$TMP/w
CL=$TMP/clients
mkdir -p "$W" "$CL"/{home,cfg,data,cache,tmp}
mkdir -m 700 "$CL/xdgrt"
export HOME=$CL/home XDG_CONFIG_HOME=$CL/cfg XDG_DATA_HOME=$CL/data XDG_CACHE_HOME=$CL/cache
export XDG_RUNTIME_DIR=$CL/xdgrt TMPDIR=$CL/tmp
printf 'unqualified-search-registries = []\n' >"$CL/registries.conf"
export CONTAINERS_REGISTRIES_CONF=$CL/registries.conf
printf '[engine]\nevents_logger = "file"\nevents_logfile_path = "%s"\ncgroup_manager = "cgroupfs"\n' "$CL/events.log" >"$CL/containers.conf"
export CONTAINERS_CONF=$CL/containers.conf
REG=127.0.0.1:$HAP_PORT
OUT=$TMP/client.out
run() {
	local desc=$1 rc
	shift
	timeout 120 "$@" >"$OUT" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 0 ]; then t_pass "$desc"; else t_fail "$desc" "exit $rc: $*" "$(tail -n 15 "$OUT")"; fi
	return $rc
}

have_skopeo=0
command -v skopeo >/dev/null && have_skopeo=1
if [ $have_skopeo = 1 ]; then
	M=$("$E2E_DIR/mkimage" "$W/img" 3 64 amd64)
	run "skopeo copy oci -> balancer" skopeo copy --dest-tls-verify=false "oci:$W/img:latest" "docker://$REG/lb/app:1"
	pushed_by=$(awk '$3 != "GET" && $3 != "HEAD" && $4 ~ /^\/v2\/lb\/app\// {print $2}' "$HAP_LOG" | sort -u | tr '\n' ' ')
	assert_match "$pushed_by" '^n[123] n[123] ' "skopeo's push was spread over more than one node ($pushed_by)"
	run "skopeo copy balancer -> oci" skopeo copy --src-tls-verify=false "docker://$REG/lb/app:1" "oci:$W/back:latest"
	assert_eq "$(jq -r '.manifests[0].digest' "$W/back/index.json")" "$M" "pulled back through the balancer: same manifest digest"
	if command -v podman >/dev/null && [ "$(id -u)" = 0 ]; then
		PM=(podman --root "$CL/podman/root" --runroot "$CL/podman/run" --storage-driver vfs)
		run "podman pull through the balancer" "${PM[@]}" pull --tls-verify=false "$REG/lb/app:1"
		run "podman tag" "${PM[@]}" tag "$REG/lb/app:1" "$REG/lb/pod:2"
		run "podman push through the balancer" "${PM[@]}" push --tls-verify=false "$REG/lb/pod:2"
		for i in "${NODES[@]}"; do
			on "$i"
			req GET /v2/lb/pod/manifests/2
			assert_status 200 "node $i serves podman's push"
		done
		run "podman rmi -a -f" "${PM[@]}" rmi -a -f
		run "podman pull back through the balancer" "${PM[@]}" pull --tls-verify=false "$REG/lb/pod:2"
	else
		t_pass "podman through the balancer needs podman and root # SKIP"
	fi
else
	t_pass "skopeo is not installed # SKIP"
fi

# ---------------------------------------------------------------- kill -9 a node mid-push
# acked REPO: every blob digest and manifest reference the balancer
# acknowledged with 201 for REPO (from haproxy's log: status server method uri).
acked() {
	awk -v r="/v2/$1/" '$1 == 201 && index($4, r) == 1 {print $3, $4}' "$HAP_LOG" |
		sed -n 's/.*[?&]digest=\(sha256[:%][0-9A-Fa-f3]*\).*/blob \1/p; s|^PUT /v2/.*/manifests/\([^?]*\)$|manifest \1|p' |
		sed 's/%3[Aa]/:/' | sort -u
}
if [ $have_skopeo = 1 ]; then
	"$E2E_DIR/mkimage" "$W/crash" 8 768 amd64 >"$TMP/crash.digest"
	CM=$(cat "$TMP/crash.digest")
	before=$(grep -c ' n2 ' "$HAP_LOG")
	(timeout 120 skopeo copy --dest-tls-verify=false "oci:$W/crash:latest" "docker://$REG/crash/app:1" \
		</dev/null >"$TMP/crash.1.out" 2>&1; echo $? >"$TMP/crash.1.rc") &
	cpid=$!
	# Kill node 2 once it has taken part in this push.
	for ((n = 0; n < 300; n++)); do
		[ "$(awk '$4 ~ /^\/v2\/crash\// && $2 == "n2"' "$HAP_LOG" | wc -l)" -ge 1 ] && break
		[ -f "$TMP/crash.1.rc" ] && break
		sleep 0.02
	done
	kill -KILL "${NODE_PID[2]}"
	wait "${NODE_PID[2]}" 2>/dev/null
	NODE_PID[2]=
	if [ -f "$TMP/crash.1.rc" ]; then
		t_pass "node 2 killed mid-push # SKIP the push had already ended"
	else
		t_pass "node 2 killed with kill -9 in the middle of a push"
	fi
	wait_dead "$cpid" 1300
	wait "$cpid" 2>/dev/null
	rc=$(cat "$TMP/crash.1.rc" 2>/dev/null)
	echo "# first attempt: exit ${rc:-none}; $(tail -n 2 "$TMP/crash.1.out" | tr '\n' ' ')"
	echo "# balancer answers for crash/app: $(awk '$4 ~ /^\/v2\/crash\// {print $1}' "$HAP_LOG" | sort | uniq -c | tr '\n' ' ')"
	# The client's retry (a CI job's): the same copy again, bounded.
	for a in 2 3 4; do
		[ "$rc" = 0 ] && break
		timeout 120 skopeo copy --dest-tls-verify=false "oci:$W/crash:latest" "docker://$REG/crash/app:1" \
			</dev/null >"$TMP/crash.$a.out" 2>&1
		rc=$?
		echo "# attempt $a: exit $rc"
	done
	assert_eq "$rc" 0 "the client's retry finishes the push through the balancer"
	for ((n = 0; n < 50; n++)); do
		grep -q 'n2 is DOWN' "$HAP_LOG" && break
		sleep 0.1
	done
	assert_match "$(grep -o 'Server nodes/n2 is DOWN' "$HAP_LOG" | head -n 1)" DOWN "haproxy marked the killed node down"
	via_lb
	req GET /v2/crash/app/manifests/1
	assert_header Docker-Content-Digest "$CM" "the retried push's manifest is there"
	acked crash/app >"$TMP/acked"
	nacked=$(wc -l <"$TMP/acked")
	lost=
	while read -r kind ref; do
		if [ "$kind" = blob ]; then
			req GET "/v2/crash/app/blobs/$ref"
			[ "$STATUS" = 200 ] && [ "$(body_sha256)" = "$ref" ] || lost="$lost blob:$ref($STATUS)"
		else
			req GET "/v2/crash/app/manifests/$ref"
			[ "$STATUS" = 200 ] || lost="$lost manifest:$ref($STATUS)"
		fi
	done <"$TMP/acked"
	assert_match "$nacked" '^[1-9][0-9]*$' "the balancer acknowledged pushes with 201 ($nacked)"
	assert_eq "$lost" "" "every digest acknowledged with 201 is pullable after the kill"
	node_start 2
	t_pass "node 2 restarted on its port"
	"$OCIREGD" fsck -c "$TMP/node1.ini" >"$TMP/fsck.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then t_pass "ociregd fsck is clean after the kill"; else t_fail "ociregd fsck is clean after the kill" "exit $rc: $(tail -n 20 "$TMP/fsck.out")"; fi
fi

# ---------------------------------------------------------------- gc on one node, pushes on the others
# push_loop NODE PREFIX N: N images (a config blob, a layer, a tagged
# manifest) pushed with curl; each acknowledged manifest is written to
# $TMP/gcpush.PREFIX as "digest config layer".
push_loop() {
	local node=$1 p=$2 n=$3 i base c l m cd ld md s
	base=$(node_url "$node")
	for ((i = 0; i < n; i++)); do
		printf '{"architecture":"amd64","os":"linux","p":"%s","i":%d}' "$p" "$i" >"$TMP/gc.$p.c"
		head -c 20000 /dev/urandom >"$TMP/gc.$p.l"
		cd=$(sha256_of "$TMP/gc.$p.c")
		ld=$(sha256_of "$TMP/gc.$p.l")
		for f in c l; do
			d=$(sha256_of "$TMP/gc.$p.$f")
			curl -s -o /dev/null --max-time 30 -X POST -H 'Content-Type: application/octet-stream' \
				--data-binary "@$TMP/gc.$p.$f" "$base/v2/gc/$p/blobs/uploads/?digest=$d"
		done
		printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
			"$(desc "$MT_OCI_CONFIG" "$TMP/gc.$p.c")" "$(desc "$MT_OCI_LAYER" "$TMP/gc.$p.l")" >"$TMP/gc.$p.m"
		md=$(sha256_of "$TMP/gc.$p.m")
		s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
			--data-binary "@$TMP/gc.$p.m" "$base/v2/gc/$p/manifests/t$i")
		[ "$s" = 201 ] && echo "$md $cd $ld t$i" >>"$TMP/gcpush.$p"
	done
}
for i in 1 2; do
	cat "$TMP/node$i.ini" >"$TMP/gc$i.ini"
	printf '[gc]\ngrace = 0\nuntagged_grace = 0\n' >>"$TMP/gc$i.ini"
done
: >"$TMP/gcpush.a"
: >"$TMP/gcpush.b"
push_loop 2 a 25 &
pa=$!
push_loop 3 b 25 &
pb=$!
gcbad=
for r in 1 2 3; do
	"$OCIREGD" gc -c "$TMP/gc1.ini" >"$TMP/gc.$r.out" 2>&1 || gcbad="$gcbad run $r: exit $? $(tail -n 3 "$TMP/gc.$r.out")"
done
wait_dead "$pa" 1200
wait_dead "$pb" 1200
wait "$pa" "$pb" 2>/dev/null
assert_eq "$gcbad" "" "ociregd gc on node 1's config, three runs while nodes 2 and 3 take pushes"
n_acked=$(cat "$TMP/gcpush.a" "$TMP/gcpush.b" | wc -l)
assert_match "$n_acked" '^[1-9][0-9]*$' "pushes acknowledged during gc ($n_acked of 50)"
lost=
via_lb
for p in a b; do
	while read -r md cd ld tag; do
		req GET "/v2/gc/$p/manifests/$tag"
		[ "$STATUS" = 200 ] && [ "$(body_sha256)" = "$md" ] || lost="$lost $p:$tag($STATUS)"
		for d in $cd $ld; do
			req GET "/v2/gc/$p/blobs/$d"
			[ "$STATUS" = 200 ] && [ "$(body_sha256)" = "$d" ] || lost="$lost $p:$tag:${d:7:12}($STATUS)"
		done
	done <"$TMP/gcpush.$p"
done
assert_eq "$lost" "" "every image pushed during gc is whole afterwards"
"$OCIREGD" gc -c "$TMP/gc1.ini" >/dev/null 2>&1
if [ $have_skopeo = 1 ]; then
	via_lb
	req GET /v2/lb/app/manifests/1
	assert_header Docker-Content-Digest "$M" "the earlier skopeo push survives the collections"
fi

# ---------------------------------------------------------------- one collector at a time
# The collector's advisory lock (meta_pg.c, key GC_LOCK) held by another
# session for 2 s: a collection started meanwhile says it waits and ends
# only after the lock is released; a second `gc` started together with a
# first waits for it the same way.
GC_LOCK=28548151150307671
psql -X -q "$E2E_PG_DB_URL" -c "SELECT pg_advisory_lock($GC_LOCK)" -c "SELECT pg_sleep(2)" >/dev/null 2>&1 &
hold=$!
for ((n = 0; n < 50; n++)); do
	[ "$(db "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" -ge 1 ] && break
	sleep 0.1
done
t0=$(date +%s%N)
"$OCIREGD" gc -c "$TMP/gc2.ini" >"$TMP/gcW.out" 2>&1
rc=$?
t1=$(date +%s%N)
wait "$hold"
assert_eq "$rc" 0 "gc on node 2's config while another session holds the collector lock"
assert_match "$(cat "$TMP/gcW.out")" 'waiting for another collector' "it said it waits for another collector"
assert_match "$(((t1 - t0) / 1000000))" '^(1[0-9]{3}|[2-9][0-9]{3}|[0-9]{5,})$' "it ran only after the lock was released (took $(((t1 - t0) / 1000000)) ms)"
"$OCIREGD" gc -c "$TMP/gc1.ini" >"$TMP/gcA.out" 2>&1 &
ga=$!
"$OCIREGD" gc -c "$TMP/gc2.ini" >"$TMP/gcB.out" 2>&1 &
gb=$!
wait_dead "$ga" 600
wait_dead "$gb" 600
wait "$ga"
ra=$?
wait "$gb"
rb=$?
assert_eq "$ra $rb" "0 0" "two collectors started at once from two nodes both end well"

# ---------------------------------------------------------------- PostgreSQL stopped and started
# A path that needs the database: a tag pushed during the collections.
read -r _ _ _ TAG0 <"$TMP/gcpush.a"
OBJ=/v2/gc/a/manifests/$TAG0
via_lb
req GET "$OBJ"
assert_status 200 "before the outage: GET $OBJ"
: >"$TMP/dbloop"
(
	for ((k = 0; k < 3000; k++)); do
		[ -f "$TMP/dbloop.stop" ] && break
		i=$((k % 3 + 1))
		s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$(node_url "$i")$OBJ")
		echo "$i $s" >>"$TMP/dbloop"
		sleep 0.05
	done
) &
lpid=$!
sleep 0.5
if pg_down; then t_pass "PostgreSQL stopped"; else t_fail "PostgreSQL stopped"; fi
for i in "${NODES[@]}"; do
	on "$i"
	for ((n = 0; n < 50; n++)); do
		req GET "$OBJ"
		[ "$STATUS" = 503 ] && break
		sleep 0.1
	done
	assert_status 503 "node $i: a manifest GET while the database is down"
	req GET /readyz
	assert_status 503 "node $i: /readyz while the database is down"
done
via_lb
for ((n = 0; n < 50; n++)); do
	req GET /v2/
	[ "$STATUS" = 503 ] && break
	sleep 0.1
done
assert_status 503 "the balancer has no ready node while the database is down"
sleep 1
if pg_up; then t_pass "PostgreSQL started again"; else t_fail "PostgreSQL started again"; fi
for i in "${NODES[@]}"; do
	on "$i"
	for ((n = 0; n < 150; n++)); do
		req GET "$OBJ"
		[ "$STATUS" = 200 ] && break
		sleep 0.1
	done
	assert_status 200 "node $i recovers by itself within 15 s"
	req GET /readyz
	assert_status 200 "node $i: /readyz after the database is back"
done
via_lb
for ((n = 0; n < 100; n++)); do
	req GET "$OBJ"
	[ "$STATUS" = 200 ] && break
	sleep 0.1
done
assert_status 200 "through the balancer after the outage"
touch "$TMP/dbloop.stop"
wait_dead "$lpid" 300
wait "$lpid" 2>/dev/null
seen=$(awk '{print $2}' "$TMP/dbloop" | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
echo "# statuses during the outage loop: $seen"
assert_eq "$(awk '$2 != 200 && $2 != 503' "$TMP/dbloop" | head -n 5 | tr '\n' ' ')" "" \
	"the request loop saw only 200 and 503 (never 500, never a dropped connection)"
assert_match "$seen" '503:[0-9]' "the loop saw the outage (503)"
for i in "${NODES[@]}"; do
	if node_alive "$i"; then t_pass "node $i is still running"; else t_fail "node $i is still running" "$(tail -n 20 "${NODE_LOG[$i]}")"; fi
	assert_eq "$(cat "$TMP"/node"$i".*.log | grep -cE 'access: .* 500 in=')" 0 "node $i logged no 500"
done

# ---------------------------------------------------------------- stop
for i in "${NODES[@]}"; do
	pid=${NODE_PID[$i]}
	kill -TERM "$pid"
	if wait_dead "$pid" 150; then
		wait "$pid"
		assert_eq "$?" 0 "node $i exits 0 on SIGTERM"
	else
		t_fail "node $i exits within 15 s of SIGTERM"
	fi
	NODE_PID[$i]=
	grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "${NODE_LOG[$i]}" &&
		t_fail "node $i: no sanitizer report" "$(grep -A20 'ERROR: ' "${NODE_LOG[$i]}" | head -n 40)"
done
e2e_finish
