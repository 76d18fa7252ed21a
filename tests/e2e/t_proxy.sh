#!/usr/bin/env bash
# t_proxy.sh — the pull-through cache (issue 6).  Two ociregd: an upstream
# with token auth (users file from `ociregd passwd`, anonymous = pull, then
# anonymous = none), and the cache in front of it with [proxy "up"]
# (prefix up, tag_ttl 2s), [proxy "hub"] (mirror = true), [proxy "cred"]
# (credentials) and, with python3, [proxy "fake"] in front of fakehub.py (a
# Docker-Hub-like front: anonymous tokens, 307 to a "CDN" for blobs).
#   skopeo and podman pull through the cache in prefix and mirror mode; a
#   second pull causes no upstream blob GET (upstream access log); a tag
#   moved upstream is seen after tag_ttl (revalidated with a HEAD); with
#   the upstream stopped cached tags and blobs still pull (stale, logged);
#   a blob the upstream serves with wrong bytes gives the client an error
#   and leaves nothing cached (no file, no row, no spool); 8 concurrent
#   pulls of a cold blob make one upstream GET; the first byte of a cold
#   256 MiB blob reaches the client before the upstream GET finished;
#   ?ns= routing; tags list and referrers merge upstream and cache; cached
#   repositories are read-only (405 UNSUPPORTED) while local pushes work;
#   the anonymous and credentialed token flows; redirects to blob storage;
#   an upstream that breaks mid-body leaves nothing cached; a client that
#   leaves does not stop a fetch another joins; stopping the daemon during
#   a fetch leaves no spool or session; eviction under [cache] max_size
#   (least recently pulled first, never local content); check-config
#   errors for bad [proxy] sections.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
. "$(dirname "$0")/lib-proxy.sh"
# The daemons' libcurl honours proxy variables: everything here is local.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
e2e_init
proxy_init
if ! command -v skopeo >/dev/null; then
	t_pass "skopeo is not installed # SKIP"
	e2e_finish
fi
clients_init
W=$TMP/w
mkdir -p "$W"
MKIMAGE=$E2E_DIR/mkimage
PW='Alice-up-pw-5e1c9a'
printf '%s\n' "$PW" >"$TMP/alice.pw"

# ---------------------------------------------------------------- check-config
cfgcheck() { # cfgcheck NAME INI-TEXT -> $OUT, $CFG_RC
	printf '[storage]\nroot = %s\n%s\n' "$TMP/cc" "$2" >"$W/$1.ini"
	timeout 30 "$OCIREGD" check-config -c "$W/$1.ini" >"$OUT" 2>&1 </dev/null
	CFG_RC=$?
}
cfgcheck nourl '[proxy "a"]
prefix = a'
assert_eq "$CFG_RC" 78 "check-config: a [proxy] section without url is a config error (exit 78)"
assert_match "$(cat "$OUT")" "nourl.ini:4: proxy \"a\".url: required" "check-config: FILE:LINE: proxy \"NAME\".key: reason"
cfgcheck twomirrors '[proxy "a"]
url = https://a.example
mirror = true
[proxy "b"]
url = https://b.example
mirror = true'
assert_match "$(cat "$OUT")" 'twomirrors.ini:8: proxy "b".mirror: .*"a".* mirror already' "check-config: at most one mirror"
cfgcheck nouser '[proxy "a"]
url = https://a.example
password = x'
assert_match "$(cat "$OUT")" 'nouser.ini:5: proxy "a".password: needs username' "check-config: a password needs a username"
cfgcheck badurl '[proxy "a"]
url = ftp://a.example
tag_ttl = 1m'
assert_match "$(cat "$OUT")" 'badurl.ini:4: proxy "a".url: .*https://' "check-config: the url must be http(s)"
cfgcheck badttl '[proxy "a"]
url = https://a.example
tag_ttl = soon'
assert_match "$(cat "$OUT")" "badttl.ini:5: proxy \"a\".tag_ttl: 'soon' is not a duration" "check-config: tag_ttl is a duration (typed by the key table)"
cfgcheck pwfile "[proxy \"a\"]
url = https://a.example
username = u
password_file = $W/no-such-file"
assert_match "$(cat "$OUT")" "pwfile.ini:6: proxy \"a\".password_file: .*no-such-file" "check-config: an unreadable password_file"
cfgcheck ok "[proxy \"a\"]
url = https://a.example/
prefix = dockerhub
tag_ttl = 10m
username = u
password_file = $TMP/alice.pw
[proxy \"b\"]
url = http://127.0.0.1:1
mirror = yes
push = true
tls_verify = false
[cache]
max_size = 50G"
assert_eq "$CFG_RC" 0 "check-config accepts good [proxy] sections and [cache] max_size"

# ---------------------------------------------------------------- the upstream
UP_AUTH="[auth]
users = $UP_DIR/users
anonymous = pull
[access \"*\"]
pull = alice
push = alice
delete = alice"
# skopeo learns that it must log in from the /v2/ challenge, which an
# upstream with anonymous pull does not send: push every image while the
# upstream has no anonymous access, then restart it with anonymous pull.
up_config "${UP_AUTH/anonymous = pull/anonymous = none}"
if ! printf '%s\n' "$PW" | timeout 60 "$OCIREGD" passwd -c "$UP_CONF" alice >"$OUT" 2>&1; then
	bail "ociregd passwd alice (the upstream's users file)" "$(cat "$OUT")"
fi
up_start
UPREG=127.0.0.1:$UP_PORT

# push_up LAYOUT NAME:TAG: skopeo push to the upstream (token flow, alice).
push_up() {
	run "skopeo copy $(basename "$1") -> upstream $2" skopeo copy --dest-tls-verify=false \
		--dest-creds "alice:$PW" "oci:$1:latest" "docker://$UPREG/$2"
}
# up_put_blob FILE REPO: monolithic push to the upstream (Basic).
up_put_blob() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 -u "alice:$PW" -X POST \
		-H 'Content-Type: application/octet-stream' -T "$1" \
		"$UP_BASE/v2/$2/blobs/uploads?digest=$(sha256_of "$1")")
	assert_eq "$code" 201 "push $(fsize "$1") bytes to the upstream's $2"
}
# up_put_manifest FILE REPO REF [CONTENT-TYPE]
up_put_manifest() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 30 -u "alice:$PW" -X PUT \
		-H "Content-Type: ${4:-$MT_OCI_MANIFEST}" --data-binary "@$1" "$UP_BASE/v2/$2/manifests/$3"
}

M1=$("$MKIMAGE" "$W/app1" 3 256 amd64)
push_up "$W/app1" library/app:1
M2=$("$MKIMAGE" "$W/tool" 2 256 amd64)
push_up "$W/tool" library/tool:1
M3=$("$MKIMAGE" "$W/app3" 2 128 amd64)
push_up "$W/app3" library/app:3
M4=$("$MKIMAGE" "$W/bad" 1 512 amd64)
push_up "$W/bad" library/bad:1
M5=$("$MKIMAGE" "$W/nsimg" 1 64 amd64)
push_up "$W/nsimg" library/nsimg:1
M6=$("$MKIMAGE" "$W/secret" 1 64 amd64)
push_up "$W/secret" library/secret:1
M7=$("$MKIMAGE" "$W/fresh" 2 128 amd64)
push_up "$W/fresh" library/fresh:1
for x in a b c; do
	eval "E_$x=\$(\"\$MKIMAGE\" \"\$W/ev$x\" 1 1200 amd64)"
	push_up "$W/ev$x" "library/ev$x:1"
done
up_stop
up_config "$UP_AUTH"
up_start

HAVE_FAKE=0
if command -v python3 >/dev/null; then
	fake_start "$UP_BASE"
	HAVE_FAKE=1
fi

# ---------------------------------------------------------------- the cache
cache_ini() { # cache_ini [EXTRA]
	printf '[proxy "up"]\nurl = %s\nprefix = up\ntag_ttl = %s\n' "$UP_BASE" "${TTL:-2s}"
	printf '[proxy "hub"]\nurl = %s\nmirror = true\ntag_ttl = %s\n' "$UP_BASE" "${TTL:-2s}"
	printf '[proxy "cred"]\nurl = %s/\nprefix = cred\nusername = alice\npassword_file = %s\ntls_verify = false\n' \
		"$UP_BASE" "$TMP/alice.pw"
	[ "$HAVE_FAKE" = 1 ] && printf '[proxy "fake"]\nurl = http://127.0.0.1:%s\nprefix = fake\n' "$FAKE_PORT"
	[ -n "${1:-}" ] && printf '%s\n' "$1"
	return 0
}
E2E_WORKERS=2
E2E_EXTRA_INI=$(cache_ini)
e2e_config
daemon_start
REG=127.0.0.1:$PORT

# pull NAME:TAG OUT-LAYOUT DESC: skopeo through the cache.
pull() {
	rm -rf "$2"
	run "$3" skopeo copy --src-tls-verify=false "docker://$REG/$1" "oci:$2:latest"
}
layout_digest() { jq -r '.manifests[0].digest' "$1/index.json" 2>&1; }

# ---------------------------------------------------------------- prefix mode
B0=$(up_blob_gets library/app)
pull up/library/app:1 "$W/p1" "skopeo pull through the cache (prefix mode): up/library/app:1"
assert_eq "$(layout_digest "$W/p1")" "$M1" "prefix pull: the upstream's manifest digest"
assert_eq "$(layout_ok "$W/p1")" ok "prefix pull: every blob hashes to its name"
B1=$(up_blob_gets library/app)
assert_eq "$((B1 - B0))" 4 "prefix pull: each of the 4 blobs was fetched upstream once"
assert_rows "SELECT proxy FROM repositories WHERE name='up/library/app'" up \
	"stored under the client's name up/library/app, marked as [proxy \"up\"]"
assert_rows "SELECT count(*) FROM repo_blobs rb JOIN repositories r ON r.id=rb.repo_id WHERE r.name='up/library/app' AND rb.cached=1" 5 \
	"the manifest and its 4 blobs are cached links of up/library/app"
assert_rows "SELECT count(*) FROM manifests m JOIN repositories r ON r.id=m.repo_id WHERE r.name='up/library/app' AND m.digest='$M1'" 1 \
	"the cached manifest is a normal manifest row"
bad=
for d in $(image_blobs "$W/app1" "$M1"); do
	[ -f "$(blob_path "$d")" ] || bad="$bad $d"
done
assert_eq "$bad" "" "every blob of the image is in the cache's store"
req GET /v2/_catalog
assert_match "$(jq -c .repositories "$BODY")" '"up/library/app"' "the catalog lists the cached repository"

pull up/library/app:1 "$W/p2" "second skopeo pull (prefix mode)"
assert_eq "$(layout_digest "$W/p2")" "$M1" "second pull: same digest"
assert_eq "$(up_blob_gets library/app)" "$B1" "second pull: no upstream blob traffic"
if have_podman; then
	run "podman pull $REG/up/library/app:1" "${PM[@]}" pull --tls-verify=false "$REG/up/library/app:1"
	run "podman image inspect" "${PM[@]}" image inspect --format '{{.Digest}}' "$REG/up/library/app:1"
	assert_eq "$(tail -n 1 "$OUT")" "$M1" "podman (prefix mode): the upstream's manifest digest"
	assert_eq "$(up_blob_gets library/app)" "$B1" "podman pull of a cached image: no upstream blob traffic"
else
	t_pass "podman tests need podman and root # SKIP"
fi

# ---------------------------------------------------------------- mirror mode
T0=$(up_blob_gets library/tool)
if have_podman; then
	run "podman pull (mirror mode, cold) $REG/library/tool:1" "${PM[@]}" pull --tls-verify=false "$REG/library/tool:1"
	run "podman image inspect (mirror mode)" "${PM[@]}" image inspect --format '{{.Digest}}' "$REG/library/tool:1"
	assert_eq "$(tail -n 1 "$OUT")" "$M2" "podman (mirror mode): the upstream's manifest digest"
	T1=$(up_blob_gets library/tool)
	assert_eq "$((T1 - T0))" 3 "podman mirror pull: each of the 3 blobs fetched upstream once"
	run "podman rmi -a -f" "${PM[@]}" rmi -a -f
	run "podman pull again (mirror mode)" "${PM[@]}" pull --tls-verify=false "$REG/library/tool:1"
	assert_eq "$(up_blob_gets library/tool)" "$T1" "second podman pull (mirror mode): no upstream blob traffic"
	pull library/tool:1 "$W/m1" "skopeo pull (mirror mode) library/tool:1"
else
	pull library/tool:1 "$W/m1" "skopeo pull (mirror mode, cold) library/tool:1"
	T1=$(up_blob_gets library/tool)
	assert_eq "$((T1 - T0))" 3 "mirror pull: each of the 3 blobs fetched upstream once"
fi
assert_eq "$(layout_digest "$W/m1")" "$M2" "skopeo (mirror mode): the upstream's manifest digest"
assert_eq "$(layout_ok "$W/m1")" ok "mirror pull: every blob hashes to its name"
assert_eq "$(up_blob_gets library/tool)" "$T1" "skopeo pull after podman (mirror mode): no upstream blob traffic"
assert_rows "SELECT proxy FROM repositories WHERE name='library/tool'" hub \
	"mirror mode: stored as library/tool, marked as [proxy \"hub\"]"
pull library/app:1 "$W/m2" "skopeo pull (mirror mode) library/app:1, whose blobs the cache holds under up/"
assert_eq "$(layout_digest "$W/m2")" "$M1" "mirror pull of library/app: digest"
assert_eq "$(up_blob_gets library/app)" "$B1" \
	"blobs already in the store that a cached manifest of the repository lists are linked, not fetched again"

# ---------------------------------------------------------------- tag moved upstream
# Past tag_ttl, so this GET revalidates (unchanged) and restarts the clock.
sleep 2.1
req GET /v2/up/library/app/manifests/1 -H "Accept: $MT_OCI_MANIFEST"
assert_header Docker-Content-Digest "$M1" "cached tag before the move"
H0=$(up_count "HEAD /v2/library/app/manifests/1 200")
assert_eq "$(up_put_manifest "$W/app3/blobs/sha256/${M3#sha256:}" library/app 1)" 201 "tag library/app:1 moved upstream"
req GET /v2/up/library/app/manifests/1 -H "Accept: $MT_OCI_MANIFEST"
assert_header Docker-Content-Digest "$M1" "within tag_ttl the cached tag is served as it was"
sleep 2.3
req HEAD /v2/up/library/app/manifests/1 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "HEAD of the cached tag after tag_ttl"
assert_header Docker-Content-Digest "$M3" "after tag_ttl a HEAD sees the moved tag"
req GET /v2/up/library/app/manifests/1 -H "Accept: $MT_OCI_MANIFEST"
assert_body_digest "$M3" "after tag_ttl GET serves the moved tag's manifest"
if [ "$(up_count "HEAD /v2/library/app/manifests/1 200")" -gt "$H0" ]; then
	t_pass "the tag was revalidated with an upstream HEAD"
else
	t_fail "the tag was revalidated with an upstream HEAD" "$(grep 'manifests/1 ' "$UP_LOG" | tail -n 5)"
fi
assert_eq "$(up_count "GET /v2/library/app/manifests/$M3 200")" 1 "the moved tag's manifest was fetched once, by digest"
pull up/library/app:1 "$W/p3" "skopeo pull of the moved tag"
assert_eq "$(layout_digest "$W/p3")" "$M3" "skopeo gets the moved tag"
assert_eq "$(layout_ok "$W/p3")" ok "moved tag: every blob hashes to its name"

# ---------------------------------------------------------------- tags list and referrers merge
req GET /v2/up/library/app/tags/list
assert_status 200 "tags list of a cached repository"
assert_json .tags '["1","3"]' "tags list merges the upstream's tags (3 was never pulled) with the cache's"
assert_json .name '"up/library/app"' "tags list names the repository as the client does"
req GET '/v2/up/library/app/tags/list?n=1'
assert_json .tags '["1"]' "merged tags list: n=1"
assert_header Link '</v2/up/library/app/tags/list?n=1&last=1>; rel="next"' "merged tags list: Link to the next page"
printf '{}' >"$W/empty.json"
printf 'signature-of-app' >"$W/sig"
up_put_blob "$W/empty.json" library/app
up_put_blob "$W/sig" library/app
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":%s,"layers":[%s],"subject":{"mediaType":"%s","digest":"%s","size":%s}}' \
	"$MT_OCI_MANIFEST" "$(desc "$MT_OCI_EMPTY" "$W/empty.json")" "$(desc application/vnd.example.sig "$W/sig")" \
	"$MT_OCI_MANIFEST" "$M3" "$(fsize "$W/app3/blobs/sha256/${M3#sha256:}")" >"$W/art.json"
ART=$(sha256_of "$W/art.json")
assert_eq "$(up_put_manifest "$W/art.json" library/app "$ART")" 201 "an artifact referring to app:1 pushed upstream"
req GET "/v2/up/library/app/referrers/$M3"
assert_status 200 "referrers of a cached manifest"
assert_json '[.manifests[] | select(.digest == "'"$ART"'") | .artifactType]' '["application/vnd.example.sig"]' \
	"referrers include the upstream's artifact"
req GET "/v2/up/library/app/referrers/$M3?artifactType=application/vnd.other"
assert_json '.manifests | length' 0 "filtered referrers: the upstream's artifact of another type is left out"
assert_header OCI-Filters-Applied artifactType "filtered referrers"

# ---------------------------------------------------------------- upstream stopped
up_stop
sleep 2.3
pull up/library/app:1 "$W/down" "upstream stopped: skopeo pull of a cached tag past its tag_ttl still works"
assert_eq "$(layout_digest "$W/down")" "$M3" "upstream stopped: the cached (stale) manifest"
assert_log 'up/library/app:1: .*serving the cached copy \(stale\)' "serving a stale tag is logged"
L1=$(jq -r '.layers[0].digest' "$W/app1/blobs/sha256/${M1#sha256:}")
req GET "/v2/up/library/app/blobs/$L1"
assert_status 200 "upstream stopped: a cached blob"
assert_body_digest "$L1" "upstream stopped: a cached blob"
req GET "/v2/up/library/app/manifests/$M1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "upstream stopped: a cached manifest by digest"
req GET /v2/up/library/never/manifests/1
assert_status_error 503 UNAVAILABLE "upstream stopped, nothing cached: 503 UNAVAILABLE"
req GET /v2/up/library/app/tags/list
assert_json .tags '["1"]' "upstream stopped: the tags list has the cached tags"
up_start

# ---------------------------------------------------------------- wrong bytes upstream
L4=$(jq -r '.layers[0].digest' "$W/bad/blobs/sha256/${M4#sha256:}")
L4SIZE=$(jq -r '.layers[0].size' "$W/bad/blobs/sha256/${M4#sha256:}")
UPF=$UP_ROOT/blobs/sha256/${L4:7:2}/${L4#sha256:}
orig=$(od -An -tu1 -j 1000 -N 1 "$UPF" | tr -d ' ')
printf "\\$(printf %o $((orig ^ 255)))" | dd of="$UPF" bs=1 seek=1000 conv=notrunc status=none
assert_ne "$(sha256_of "$UPF")" "$L4" "the upstream's copy of a layer is corrupted (one byte flipped)"
req GET "/v2/up/library/bad/blobs/$L4"
if [ "$STATUS" != 200 ] || [ "$CURL_RC" != 0 ]; then
	t_pass "wrong bytes upstream: the client gets an error (status $STATUS, curl exit $CURL_RC, $DLSIZE of $L4SIZE bytes)"
else
	t_fail "wrong bytes upstream: the client gets an error" "complete 200 answer of $DLSIZE bytes"
fi
assert_ne "$(body_sha256)" "$L4" "wrong bytes upstream: the client never holds a complete wrong blob"
check_nothing_cached() {
	assert_file_absent "$(blob_path "$L4")" "$1: no blob file"
	assert_rows "SELECT count(*) FROM blobs WHERE digest='$L4'" 0 "$1: no blob row"
	assert_rows "SELECT count(*) FROM repo_blobs WHERE digest='$L4'" 0 "$1: no repository link"
	assert_rows "SELECT count(*) FROM uploads" 0 "$1: no upload session left"
	assert_eq "$(find "$ROOT/uploads" -type f | wc -l)" 0 "$1: no spool file left"
}
check_nothing_cached "wrong bytes upstream (curl)"
assert_log "blobs/$L4: upstream sent [0-9]+ bytes hashing to sha256:[0-9a-f]+; not cached" "the digest mismatch is logged"
run_fails "wrong bytes upstream: skopeo pull fails" skopeo copy --src-tls-verify=false \
	"docker://$REG/up/library/bad:1" "oci:$W/badout:latest"
check_nothing_cached "wrong bytes upstream (skopeo)"

# ---------------------------------------------------------------- 8 concurrent pulls of a cold blob
head -c $((64 << 20)) /dev/urandom >"$W/conc.bin"
DC=$(sha256_of "$W/conc.bin")
up_put_blob "$W/conc.bin" library/conc
C0=$(up_blob_gets library/conc)
pids=()
for i in 1 2 3 4 5 6 7 8; do
	curl -s --max-time 120 -o "$W/conc.$i" -w '%{http_code}' "$BASE/v2/up/library/conc/blobs/$DC" >"$W/conc.$i.code" </dev/null &
	pids+=($!)
done
wait "${pids[@]}"
bad=
for i in 1 2 3 4 5 6 7 8; do
	[ "$(cat "$W/conc.$i.code")" = 200 ] && [ "$(sha256_of "$W/conc.$i")" = "$DC" ] || bad="$bad $i:$(cat "$W/conc.$i.code")"
done
assert_eq "$bad" "" "8 concurrent pulls of a cold 64 MiB blob all get it whole"
assert_eq "$(($(up_blob_gets library/conc) - C0))" 1 "8 concurrent pulls of a cold blob: exactly one upstream GET"
assert_rows "SELECT cached FROM blobs WHERE digest='$DC'" 1 "the shared fetch was cached"

# ---------------------------------------------------------------- streaming: first byte before the upstream is done
head -c $((256 << 20)) /dev/urandom >"$W/big.bin"
DB=$(sha256_of "$W/big.bin")
up_put_blob "$W/big.bin" library/big
rm -f "$W/big.bin"
mkfifo "$W/fifo"
curl -s --max-time 120 "$BASE/v2/up/library/big/blobs/$DB" >"$W/fifo" </dev/null &
CPID=$!
exec 3<"$W/fifo"
dd bs=1 count=1 of="$W/big.first" <&3 2>/dev/null
# How far the upstream transfer is: the size of the cache's spool file.
SPOOL=$(find "$ROOT/uploads" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -n 1)
CACHED=$(grep -c "cached library/big/blobs/$DB" "$LOG")
cat <&3 >"$W/big.rest"
exec 3<&-
wait "$CPID"
assert_eq "$(fsize "$W/big.first")" 1 "streaming: the client read its first byte"
if [ -n "$SPOOL" ] && [ "$SPOOL" -lt $((256 << 20)) ]; then
	t_pass "streaming: the first byte of a cold 256 MiB blob arrived while the upstream transfer was running ($SPOOL bytes in)"
else
	t_fail "streaming: the first byte of a cold 256 MiB blob arrived while the upstream transfer was running" "spool size: '$SPOOL'"
fi
assert_eq "$CACHED" 0 "streaming: ... and before the blob was verified and cached"
assert_eq "$(cat "$W/big.first" "$W/big.rest" | sha256sum | cut -d' ' -f1)" "${DB#sha256:}" "streaming: the whole 256 MiB arrived intact"
assert_eq "$(up_blob_gets library/big "$DB")" 1 "streaming: one upstream GET"
rm -f "$W/big.rest" "$W/big.first"

# ---------------------------------------------------------------- ?ns= routing
req GET "/v2/library/nsimg/manifests/1?ns=127.0.0.1:$UP_PORT" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "?ns=<upstream host> pulls through the cache"
assert_header Docker-Content-Digest "$M5" "?ns= manifest"
assert_rows "SELECT count(*) FROM repositories WHERE name='up/library/nsimg' AND proxy='up'" 1 \
	"?ns= goes to the section whose url host matches (the first: up), stored under its prefix"
assert_rows "SELECT count(*) FROM repositories WHERE name='library/nsimg'" 0 "?ns= does not go through the mirror"
for d in $(image_blobs "$W/nsimg" "$M5"); do
	req GET "/v2/library/nsimg/blobs/$d?ns=127.0.0.1:$UP_PORT"
	assert_body_digest "$d" "?ns= blob ${d:7:12}"
done
req GET "/v2/library/nsimg/manifests/1?ns=quay.example"
assert_status 404 "?ns= naming no section is not proxied (local: unknown)"

# ---------------------------------------------------------------- read-only cached repositories, local pushes
req POST /v2/up/library/app/blobs/uploads/
assert_status_error 405 UNSUPPORTED "push (upload) to a cached repository"
put_manifest up/library/app 9 "$W/app1/blobs/sha256/${M1#sha256:}"
assert_status_error 405 UNSUPPORTED "manifest PUT to a cached repository"
req DELETE "/v2/up/library/app/manifests/$M1"
assert_status_error 405 UNSUPPORTED "DELETE in a cached repository"
req POST /v2/library/tool/blobs/uploads/
assert_status_error 405 UNSUPPORTED "push to a repository cached through the mirror"
run "skopeo push of a local image (team/local) while a mirror is configured" skopeo copy --dest-tls-verify=false \
	"oci:$W/app1:latest" "docker://$REG/team/local:1"
assert_rows "SELECT proxy FROM repositories WHERE name='team/local'" "" "team/local is a local repository"
N0=$(up_count "[A-Z]+ /v2/team/local/")
pull team/local:1 "$W/local" "skopeo pull of the local image"
assert_eq "$(layout_digest "$W/local")" "$M1" "the local image pulls back"
assert_eq "$(up_count "[A-Z]+ /v2/team/local/")" "$N0" "a local repository is served without the upstream"

# ---------------------------------------------------------------- anonymous token flow, redirect to blob storage
if [ "$HAVE_FAKE" = 1 ]; then
	F0=$(grep -c '^fakehub: GET /token' "$FAKE_LOG")
	pull fake/library/fresh:1 "$W/fake" "skopeo pull through a Docker-Hub-like upstream (anonymous token, 307 to a CDN)"
	assert_eq "$(layout_digest "$W/fake")" "$M7" "Docker-Hub-like upstream: digest"
	assert_eq "$(layout_ok "$W/fake")" ok "Docker-Hub-like upstream: every blob hashes to its name"
	assert_eq "$(($(grep -c '^fakehub: GET /token' "$FAKE_LOG") - F0))" 1 \
		"anonymous token flow: one token for the whole pull (cached per scope)"
	assert_match "$(grep '^fakehub: GET /token' "$FAKE_LOG" | tail -n 1)" \
		'service=fakehub&scope=repository%3Alibrary%2Ffresh%3Apull 200 auth=no' "the token request names service and scope, without credentials"
	assert_eq "$(grep -cE '^fakehub: GET /v2/library/fresh/blobs/sha256:[0-9a-f]+ 307 auth=yes' "$FAKE_LOG")" 3 \
		"blob GETs carry the token and are redirected"
	assert_eq "$(up_blob_gets library/fresh)" 3 "the redirects were followed to the blob storage"
	assert_eq "$(up_count "GET /v2/library/fresh/blobs/[^ ]+ 401")" 0 "the token was not sent to the blob storage"

	# An upstream that breaks mid-body: a short body for the client,
	# nothing cached.
	head -c $((4 << 20)) /dev/urandom >"$W/broken.bin"
	DBR=$(sha256_of "$W/broken.bin")
	up_put_blob "$W/broken.bin" library/broken
	req GET "/v2/fake/library/broken/blobs/$DBR"
	if [ "$STATUS" != 200 ] || [ "$CURL_RC" != 0 ]; then
		t_pass "upstream breaks mid-body: the client gets an error (status $STATUS, curl exit $CURL_RC, $DLSIZE bytes)"
	else
		t_fail "upstream breaks mid-body: the client gets an error" "complete 200 answer of $DLSIZE bytes"
	fi
	assert_file_absent "$(blob_path "$DBR")" "upstream breaks mid-body: no blob file"
	assert_rows "SELECT count(*) FROM blobs WHERE digest='$DBR'" 0 "upstream breaks mid-body: no blob row"
	assert_rows "SELECT count(*) FROM uploads" 0 "upstream breaks mid-body: no upload session left"
	assert_eq "$(find "$ROOT/uploads" -type f | wc -l)" 0 "upstream breaks mid-body: no spool file left"
	assert_log "GET http://[^ ]+/v2/library/broken/blobs/$DBR: .*nothing cached" "upstream breaks mid-body: logged"

	# A client that leaves does not stop the fetch another waits on (nor
	# one nobody waits on any more).
	head -c $((8 << 20)) /dev/urandom >"$W/slow.bin"
	DSL=$(sha256_of "$W/slow.bin")
	up_put_blob "$W/slow.bin" library/slow
	curl -s --max-time 0.4 -o /dev/null "$BASE/v2/fake/library/slow/blobs/$DSL" </dev/null
	assert_eq "$?" 28 "a client gives up on a slow cold blob after 0.4s (curl exit 28)"
	req GET "/v2/fake/library/slow/blobs/$DSL"
	assert_status 200 "another client joins the running fetch"
	assert_body_digest "$DSL" "the joining client gets the whole blob"
	assert_eq "$(grep -cE "^fakehub: GET /v2/library/slow/blobs/$DSL 200" "$FAKE_LOG")" 1 \
		"one upstream GET for both clients"
	assert_rows "SELECT cached FROM blobs WHERE digest='$DSL'" 1 "the blob was cached although its first client left"

	# Stopping the cache while a fetch runs that no client waits on:
	# the transfer is aborted, its spool and session removed, and the
	# daemon exits cleanly (daemon_stop checks the sanitizer report).
	head -c $((24 << 20)) /dev/urandom >"$W/slow2.bin"
	DS2=$(sha256_of "$W/slow2.bin")
	up_put_blob "$W/slow2.bin" library/slow
	curl -s --max-time 0.3 -o /dev/null "$BASE/v2/fake/library/slow/blobs/$DS2" </dev/null
	STOP_MIDFETCH=1
else
	t_pass "the Docker-Hub-like upstream needs python3 # SKIP"
fi

# ---------------------------------------------------------------- metrics
req GET /metrics
assert_match "$(grep '^ociregd_proxy_cache_hits_total' "$BODY")" '^ociregd_proxy_cache_hits_total [1-9][0-9]*$' "metrics count cache hits"
assert_match "$(grep '^ociregd_proxy_cache_misses_total' "$BODY")" '^ociregd_proxy_cache_misses_total [1-9][0-9]*$' "metrics count cache misses"

# ---------------------------------------------------------------- eviction under [cache] max_size
daemon_stop
if [ "${STOP_MIDFETCH:-0}" = 1 ]; then
	assert_eq "$(find "$ROOT/uploads" -type f | wc -l)" 0 "stopped during a fetch: no spool file left"
	assert_rows "SELECT count(*) FROM uploads" 0 "stopped during a fetch: no upload session left"
	assert_rows "SELECT count(*) FROM blobs WHERE digest='$DS2'" 0 "stopped during a fetch: nothing half-fetched is cached"
fi
rm -rf "$ROOT"
TTL=10m
E2E_EXTRA_INI=$(cache_ini "[cache]
max_size = 3M")
e2e_config
daemon_start
REG=127.0.0.1:$PORT
"$MKIMAGE" "$W/keep" 1 1200 amd64 >/dev/null
run "local push of team/keep (a 1.2 MiB layer)" skopeo copy --dest-tls-verify=false "oci:$W/keep:latest" "docker://$REG/team/keep:1"
KEEPL=$(jq -r '.layers[0].digest' "$W/keep/blobs/sha256/$(jq -r '.manifests[0].digest' "$W/keep/index.json" | cut -d: -f2)")
layer_of() { local m; m=$(eval "echo \$E_$1"); jq -r '.layers[0].digest' "$W/ev$1/blobs/sha256/${m#sha256:}"; }
config_of() { local m; m=$(eval "echo \$E_$1"); jq -r '.config.digest' "$W/ev$1/blobs/sha256/${m#sha256:}"; }
pull up/library/eva:1 "$W/ea" "eviction: pull A"
sleep 1.1
pull up/library/evb:1 "$W/eb" "eviction: pull B"
req POST "/v2/team/keep/blobs/uploads/?mount=$(config_of b)&from=up/library/evb"
assert_status 201 "eviction: B's config mounted into the local team/keep"
sleep 1.1
pull up/library/eva:1 "$W/ea2" "eviction: pull A again (now B is the least recently pulled)"
sleep 1.1
pull up/library/evc:1 "$W/ec" "eviction: pull C (over max_size)"
assert_log 'proxy: cache at [0-9]+ bytes \(max_size 3145728\) after evicting' "eviction is logged"
gone() { [ ! -e "$(blob_path "$1")" ] && [ "$(db "SELECT count(*) FROM blobs WHERE digest='$1'")" = 0 ] && echo gone || echo present; }
assert_eq "$(gone "$(layer_of b)")" gone "the least recently pulled cached layer (B's) was evicted: no file, no row"
assert_eq "$(gone "$(layer_of a)")" present "A's layer (pulled again since) stays"
assert_eq "$(gone "$(layer_of c)")" present "C's layer stays"
assert_eq "$(gone "$(config_of b)")" present "B's config, which a local repository holds, is never evicted"
assert_eq "$(gone "$KEEPL")" present "a local push is never evicted"
CB=$(db "SELECT COALESCE(SUM(size),0) FROM blobs b WHERE cached=1 AND NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest=b.digest AND rb.cached=0)")
if [ "$CB" -le 3145728 ]; then
	t_pass "cached bytes ($CB) are within max_size"
else
	t_fail "cached bytes are within max_size" "$CB > 3145728"
fi
EB0=$(up_blob_gets library/evb)
pull up/library/evb:1 "$W/eb2" "eviction: B pulls again"
assert_eq "$(layout_digest "$W/eb2")" "$E_b" "eviction: B is whole again"
assert_eq "$(($(up_blob_gets library/evb) - EB0))" 1 "eviction: B's evicted layer was fetched again"

# ---------------------------------------------------------------- credentialed token flow
up_stop
up_config "${UP_AUTH/anonymous = pull/anonymous = none}"
up_start
TK0=$(up_count "GET /token[^ ]* 200")
pull cred/library/secret:1 "$W/sec" "upstream without anonymous access: pull with the section's credentials (token flow)"
assert_eq "$(layout_digest "$W/sec")" "$M6" "credentialed token flow: digest"
assert_eq "$(($(up_count "GET /token[^ ]* 200") - TK0))" 1 "credentialed token flow: one token for the whole pull"
if grep -q "$PW" "$LOG"; then
	t_fail "the upstream password never reaches the cache's log" "$(grep -c "$PW" "$LOG") lines"
else
	t_pass "the upstream password never reaches the cache's log"
fi
run_fails "upstream without anonymous access: an anonymous section cannot pull" skopeo copy --src-tls-verify=false \
	"docker://$REG/up/library/secret:1" "oci:$W/nosec:latest"
req GET /v2/up/library/secret/manifests/1
assert_status_error 404 MANIFEST_UNKNOWN "the anonymous section: the upstream's refusal is MANIFEST_UNKNOWN"
up_stop
fake_stop
e2e_finish
