#!/usr/bin/env bash
# t_clients_auth.sh — real clients against a daemon with authentication and
# TLS (self-signed certificate made here, trusted through a cert dir with
# ca.crt): skopeo copy / inspect / list-tags / delete with --creds and
# --cert-dir (push, copy back, cross-repository copy through token mounts,
# a read-only user's push refused, wrong or missing credentials refused,
# an untrusted certificate refused); podman login (auth file in the temp
# dir) then push and pull over TLS, logout, a read-only user's push
# refused.  Every client command runs under `timeout 120`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init

if ! command -v skopeo >/dev/null || ! command -v openssl >/dev/null; then
	t_pass "skopeo and openssl are needed # SKIP"
	e2e_finish
fi

W=$TMP/w
CL=$TMP/clients
CERTDIR=$TMP/certs
mkdir -p "$W" "$CERTDIR" "$CL"/{home,cfg,data,cache,tmp}
mkdir -m 700 "$CL/xdgrt"
CERT=$TMP/cert.pem
KEY=$TMP/key.pem
USERS=$TMP/users
PW_ALICE='Alice-clients-4b1d'
PW_BOB='Bob-clients-9c3e'

# Keep every client's config, cache, credentials and temp files inside the
# temp dir.
export HOME=$CL/home XDG_CONFIG_HOME=$CL/cfg XDG_DATA_HOME=$CL/data XDG_CACHE_HOME=$CL/cache
export XDG_RUNTIME_DIR=$CL/xdgrt TMPDIR=$CL/tmp
export REGISTRY_AUTH_FILE=$CL/auth.json
printf 'unqualified-search-registries = []\n' >"$CL/registries.conf"
export CONTAINERS_REGISTRIES_CONF=$CL/registries.conf
printf '[engine]\nevents_logger = "file"\nevents_logfile_path = "%s"\ncgroup_manager = "cgroupfs"\n' "$CL/events.log" >"$CL/containers.conf"
export CONTAINERS_CONF=$CL/containers.conf

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 \
	-keyout "$KEY" -out "$CERT" >"$TMP/openssl.out" 2>&1 || bail "openssl made a certificate" "$(cat "$TMP/openssl.out")"
cp "$CERT" "$CERTDIR/ca.crt"

cat >"$CONF" <<EOF
[server]
listen = 127.0.0.1:0
workers = ${E2E_WORKERS:-1}
log_level = info
[storage]
root = $ROOT
sync = true
[auth]
users = $USERS
anonymous = none
token_key = $TMP/token.key
[tls]
certificate = $CERT
key = $KEY
[group "writers"]
members = alice
[access "team/*"]
pull = *
push = @writers
delete = alice
EOF
for u in "alice:$PW_ALICE" "bob:$PW_BOB"; do
	printf '%s\n' "${u#*:}" | timeout 60 "$OCIREGD" passwd -c "$CONF" "${u%%:*}" >"$TMP/passwd.out" 2>&1
	assert_eq "$?" 0 "ociregd passwd ${u%%:*} (password on stdin)"
done

daemon_start
BASE=https://127.0.0.1:$PORT
REG=127.0.0.1:$PORT
MKIMAGE=$E2E_DIR/mkimage

treq() {
	local method=$1 target=$2
	shift 2
	req "$method" "$target" --cacert "$CERT" "$@"
}

# run DESC CMD...: run CMD under `timeout 120`, output in $OUT; assert rc 0.
OUT=$TMP/client.out
run() {
	local desc=$1 rc
	shift
	timeout 120 "$@" >"$OUT" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		t_pass "$desc"
	else
		t_fail "$desc" "exit $rc: $*" "$(tail -n 15 "$OUT")"
	fi
	return $rc
}
# run_fails DESC ERE CMD...: CMD must fail (not by timeout), its output
# matching ERE.
run_fails() {
	local desc=$1 ere=$2 rc
	shift 2
	timeout 120 "$@" >"$OUT" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		t_fail "$desc" "the command succeeded: $*" "$(tail -n 5 "$OUT")"
	elif [ $rc -eq 124 ]; then
		t_fail "$desc" "timed out after 120s: $*" "$(tail -n 5 "$OUT")"
	elif ! grep -Eqi -- "$ere" "$OUT"; then
		t_fail "$desc" "failed (exit $rc) but the output does not match /$ere/:" "$(tail -n 8 "$OUT")"
	else
		t_pass "$desc (exit $rc)"
	fi
}
blob_names() { (cd "$1/blobs/sha256" && ls | LC_ALL=C sort); }
layout_ok() {
	local f bad=
	for f in "$1"/blobs/sha256/*; do
		[ "sha256:$(basename "$f")" = "$(sha256_of "$f")" ] || bad="$bad $(basename "$f")"
	done
	[ -z "$bad" ] && echo ok || echo "bad:$bad"
}

# ---------------------------------------------------------------- skopeo push with credentials over TLS
M=$("$MKIMAGE" "$W/img" 3 64 amd64)
assert_match "$M" '^sha256:[0-9a-f]{64}$' "mkimage wrote a 3-layer OCI layout"
MF=$W/img/blobs/sha256/${M#sha256:}
LAYERS=$(jq -r '.layers[].digest' "$MF")
MINLAYER=$(jq '[.layers[].size] | min' "$MF")

run_fails "skopeo copy without credentials is refused" 'unauthori[sz]ed|authentication required|401' \
	skopeo copy --dest-cert-dir "$CERTDIR" "oci:$W/img:latest" "docker://$REG/team/app:anon"
run_fails "skopeo copy with a wrong password is refused" 'unauthori[sz]ed|authentication|401|invalid username/password' \
	skopeo copy --dest-creds "alice:wrong" --dest-cert-dir "$CERTDIR" "oci:$W/img:latest" "docker://$REG/team/app:wrong"
run_fails "skopeo copy without the CA (no --dest-cert-dir) fails certificate verification" 'x509|certificate|unknown authority' \
	skopeo copy --dest-creds "alice:$PW_ALICE" "oci:$W/img:latest" "docker://$REG/team/app:nocert"

run "skopeo copy --dest-creds alice --dest-cert-dir: oci:img -> docker://$REG/team/app:1" \
	skopeo copy --dest-creds "alice:$PW_ALICE" --dest-cert-dir "$CERTDIR" "oci:$W/img:latest" "docker://$REG/team/app:1"
treq GET /v2/team/app/manifests/1 -u "bob:$PW_BOB"
assert_status 200 "the skopeo-pushed manifest is there (curl, Basic bob)"
assert_header Docker-Content-Digest "$M" "registry keeps the layout's manifest digest"
assert_body_digest "$M" "skopeo-pushed manifest bytes"
for d in $(jq -r '.config.digest, .layers[].digest' "$MF"); do
	treq GET "/v2/team/app/blobs/$d" -u "bob:$PW_BOB"
	assert_body_digest "$d" "blob ${d:7:12} pushed by skopeo over TLS"
done
treq GET /v2/team/app/tags/list -u "alice:$PW_ALICE"
assert_json .tags '["1"]' "only the authenticated push created a tag"
assert_match "$(grep -c 'GET /token' "$LOG")" '^[1-9][0-9]*$' "skopeo went through the token endpoint"

# ---------------------------------------------------------------- read-only user
run_fails "skopeo copy --dest-creds bob (read-only) is refused" 'denied|unauthori[sz]ed|403|401|requested access' \
	skopeo copy --dest-creds "bob:$PW_BOB" --dest-cert-dir "$CERTDIR" "oci:$W/img:latest" "docker://$REG/team/app:bob"
treq GET /v2/team/app/manifests/bob -u "alice:$PW_ALICE"
assert_status 404 "bob's refused push left no tag"
M2=$("$MKIMAGE" "$W/img2" 1 16 amd64)
run_fails "skopeo copy --dest-creds bob of a new image (new blobs) is refused" 'denied|unauthori[sz]ed|403|401|requested access' \
	skopeo copy --dest-creds "bob:$PW_BOB" --dest-cert-dir "$CERTDIR" "oci:$W/img2:latest" "docker://$REG/team/bob:1"
L2=$(jq -r '.layers[0].digest' "$W/img2/blobs/sha256/${M2#sha256:}")
assert_rows "SELECT count(*) FROM repo_blobs WHERE digest='$L2'" 0 "none of bob's blobs was linked anywhere"
run_fails "skopeo delete --creds bob is refused" 'denied|unauthori[sz]ed|403|401|requested access' \
	skopeo delete --creds "bob:$PW_BOB" --cert-dir "$CERTDIR" "docker://$REG/team/app:1"

# ---------------------------------------------------------------- pull back, inspect, list-tags
run "skopeo copy --src-creds bob --src-cert-dir: docker://$REG/team/app:1 -> oci:back" \
	skopeo copy --src-creds "bob:$PW_BOB" --src-cert-dir "$CERTDIR" "docker://$REG/team/app:1" "oci:$W/back:latest"
assert_eq "$(jq -r '.manifests[0].digest' "$W/back/index.json" 2>&1)" "$M" "copied-back layout has the same manifest digest"
assert_eq "$(blob_names "$W/back")" "$(blob_names "$W/img")" "copied-back layout has exactly the same blobs"
assert_eq "$(layout_ok "$W/back")" ok "every copied-back blob hashes to its name"
run "skopeo inspect --creds bob --cert-dir" skopeo inspect --creds "bob:$PW_BOB" --cert-dir "$CERTDIR" "docker://$REG/team/app:1"
assert_eq "$(jq -r .Digest "$OUT" 2>&1)" "$M" "skopeo inspect: Digest"
run "skopeo list-tags --creds bob --cert-dir" skopeo list-tags --creds "bob:$PW_BOB" --cert-dir "$CERTDIR" "docker://$REG/team/app"
assert_eq "$(jq -c .Tags "$OUT" 2>&1)" '["1"]' "skopeo list-tags"
run_fails "skopeo inspect without credentials is refused" 'unauthori[sz]ed|authentication required|401' \
	skopeo inspect --cert-dir "$CERTDIR" "docker://$REG/team/app:1"

# ---------------------------------------------------------------- cross-repository copy: mounts with tokens
NLOG=$(wc -l <"$LOG")
run "skopeo copy (alice) docker://$REG/team/app:1 -> docker://$REG/team/copy:1" \
	skopeo copy --src-creds "alice:$PW_ALICE" --dest-creds "alice:$PW_ALICE" --src-cert-dir "$CERTDIR" \
	--dest-cert-dir "$CERTDIR" "docker://$REG/team/app:1" "docker://$REG/team/copy:1"
treq GET /v2/team/copy/manifests/1 -u "bob:$PW_BOB"
assert_header Docker-Content-Digest "$M" "team/copy:1 has the same manifest digest"
tail -n +"$((NLOG + 1))" "$LOG" >"$W/copy.log"
NMOUNT=0
for d in $LAYERS; do
	grep -Eq "access: [^ ]+ POST /v2/team/copy/blobs/uploads/\?([^ ]*&)?mount=sha256(:|%3[Aa])${d#sha256:}[^ ]* 201 " "$W/copy.log" &&
		NMOUNT=$((NMOUNT + 1))
done
assert_eq "$NMOUNT" "$(echo $LAYERS | wc -w)" "every layer was mounted from team/app (POST ?mount= 201) with alice's token"
UPBYTES=$(grep -E "access: [^ ]+ (PATCH|PUT|POST) /v2/team/copy/blobs/uploads/" "$W/copy.log" | sed -n 's/.* in=\([0-9]*\) .*/\1/p' | awk '{s+=$1} END{print s+0}')
assert_match "$([ "$UPBYTES" -lt "$MINLAYER" ] && echo yes)" yes "no layer was re-uploaded to team/copy ($UPBYTES upload bytes)"

# ---------------------------------------------------------------- podman
if ! command -v podman >/dev/null || [ "$(id -u)" != 0 ]; then
	t_pass "podman tests need podman and root # SKIP"
else
	PM=(podman --root "$CL/podman/root" --runroot "$CL/podman/run" --storage-driver vfs)
	run_fails "podman login without the CA fails certificate verification" 'x509|certificate|unknown authority' \
		bash -c 'printf "%s\n" "$1" | "${@:2}"' _ "$PW_ALICE" "${PM[@]}" login -u alice --password-stdin "$REG"
	run_fails "podman login with a wrong password fails" 'unauthori[sz]ed|invalid username/password|401' \
		bash -c 'printf "%s\n" "$1" | "${@:2}"' _ wrong "${PM[@]}" login --cert-dir "$CERTDIR" -u alice --password-stdin "$REG"
	assert_eq "$(jq -r --arg r "$REG" '.auths[$r] // "none"' "$REGISTRY_AUTH_FILE" 2>/dev/null || echo none)" none \
		"failed logins stored no credentials"
	run "podman login --cert-dir -u alice --password-stdin $REG" \
		bash -c 'printf "%s\n" "$1" | "${@:2}"' _ "$PW_ALICE" "${PM[@]}" login --cert-dir "$CERTDIR" -u alice --password-stdin "$REG"
	assert_match "$(cat "$OUT")" 'Login Succeeded' "podman login: Login Succeeded"
	assert_match "$(jq -r --arg r "$REG" '.auths[$r].auth // empty' "$REGISTRY_AUTH_FILE" 2>&1)" '.' \
		"podman stored the credentials in REGISTRY_AUTH_FILE (inside the temp dir)"
	if grep -qF "$PW_ALICE" "$LOG"; then t_fail "alice's password is not in the daemon log"; else t_pass "alice's password is not in the daemon log"; fi

	run "podman pull $REG/team/app:1" "${PM[@]}" pull --cert-dir "$CERTDIR" "$REG/team/app:1"
	run "podman image inspect" "${PM[@]}" image inspect --format '{{.Digest}}' "$REG/team/app:1"
	assert_eq "$(tail -n 1 "$OUT")" "$M" "podman: pulled image has the pushed manifest digest"
	run "podman tag -> $REG/team/pod:2" "${PM[@]}" tag "$REG/team/app:1" "$REG/team/pod:2"
	run "podman push $REG/team/pod:2 (alice)" "${PM[@]}" push --cert-dir "$CERTDIR" "$REG/team/pod:2"
	treq GET /v2/team/pod/manifests/2 -u "bob:$PW_BOB"
	assert_status 200 "the podman-pushed manifest is in team/pod"
	PD=$(hdr Docker-Content-Digest)
	assert_body_digest "$PD" "podman-pushed manifest"
	cp "$BODY" "$W/pod-manifest"
	for d in $(jq -r '.config.digest, .layers[].digest' "$W/pod-manifest"); do
		treq GET "/v2/team/pod/blobs/$d" -u "bob:$PW_BOB"
		assert_status 200 "podman-pushed blob ${d:7:12}"
		assert_body_digest "$d" "podman-pushed blob ${d:7:12}"
	done
	run "podman rmi -a -f" "${PM[@]}" rmi -a -f
	run "podman pull $REG/team/pod:2 (pulled back)" "${PM[@]}" pull --cert-dir "$CERTDIR" "$REG/team/pod:2"
	run "podman image inspect (pulled back)" "${PM[@]}" image inspect --format '{{.Digest}}' "$REG/team/pod:2"
	assert_eq "$(tail -n 1 "$OUT")" "$PD" "podman: pulled-back image digest == registry manifest digest"

	run "podman logout $REG" "${PM[@]}" logout "$REG"
	assert_eq "$(jq -r --arg r "$REG" '.auths[$r] // "none"' "$REGISTRY_AUTH_FILE" 2>&1)" none "podman logout removed the credentials"
	run_fails "podman pull after logout is refused" 'unauthori[sz]ed|authentication required|401|denied' \
		"${PM[@]}" pull --cert-dir "$CERTDIR" "$REG/team/pod:2"

	run "podman login -u bob (read-only)" \
		bash -c 'printf "%s\n" "$1" | "${@:2}"' _ "$PW_BOB" "${PM[@]}" login --cert-dir "$CERTDIR" -u bob --password-stdin "$REG"
	run "podman pull as bob" "${PM[@]}" pull --cert-dir "$CERTDIR" "$REG/team/app:1"
	run "podman tag -> $REG/team/pod:bob" "${PM[@]}" tag "$REG/team/app:1" "$REG/team/pod:bob"
	run_fails "podman push as bob (read-only) is refused" 'denied|unauthori[sz]ed|403|401|requested access' \
		"${PM[@]}" push --cert-dir "$CERTDIR" "$REG/team/pod:bob"
	treq GET /v2/team/pod/manifests/bob -u "alice:$PW_ALICE"
	assert_status 404 "bob's refused podman push left no tag"
	run "podman logout -a" "${PM[@]}" logout -a
fi

assert_no_5xx "no 5xx in the access log"
e2e_finish
