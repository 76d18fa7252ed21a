#!/usr/bin/env bash
# t_valgrind.sh — a scripted push/pull session against the daemon running
# under valgrind memcheck (one worker): blobs monolithic, in one PUT, in
# Content-Range chunks and as a chunked-encoding PATCH, an upload status and
# a cancel, an aborted upload, a cross-repository mount, manifests by tag and
# digest, an index, tags lists, referrers with and without a filter, the
# catalog, ranges, metrics, a header timeout, a SIGHUP reload, then deletes
# of tags, manifests and blobs; a second daemon with authentication on
# (users file, Basic, bearer tokens).  Each is stopped with SIGTERM;
# valgrind's exit status must be 0 (it is 99 on any error or definite or
# indirect leak) and its log must say "ERROR SUMMARY: 0 errors" and that
# nothing was definitely lost.
#
# Meant for the normal build (build/ociregd, -O2 -g), not an ASan one:
# valgrind and ASan do not mix.  Skipped when valgrind is not installed or
# the binary is sanitized (the test then reports one skip as a pass).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"

# shellcheck disable=SC2034 # read by lib.sh's e2e_config
E2E_EXTRA_SERVER=$'header_timeout = 2s'
e2e_init
W=$TMP/work
mkdir -p "$W"
VG_START_TENTHS=300 # valgrind starts slowly: 30 s for the port line
VG_STOP_TENTHS=900  # and the leak check at exit takes a while

if ! command -v valgrind >/dev/null; then
	t_pass "# SKIP valgrind is not installed"
	e2e_finish
fi
if grep -aq -e __asan_init -e __ubsan_handle "$OCIREGD"; then
	t_pass "# SKIP $OCIREGD is built with sanitizers; run this with the normal build"
	e2e_finish
fi

# vg_start TAG: the daemon under valgrind with the current $CONF; sets what
# daemon_start sets ($DAEMON_PID is valgrind's process, which is the
# daemon's: valgrind runs it in place).
vg_start() {
	local n port
	[ -f "$CONF" ] || e2e_config
	DAEMON_STARTS=$((DAEMON_STARTS + 1))
	LOG=$TMP/daemon.$DAEMON_STARTS.log
	VG_LOG=$TMP/valgrind.$1.log
	: >"$LOG"
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		--track-fds=no --num-callers=30 --log-file="$VG_LOG" \
		"$OCIREGD" -c "$CONF" </dev/null >>"$LOG" 2>&1 &
	DAEMON_PID=$!
	port=
	for ((n = 0; n < VG_START_TENTHS; n++)); do
		port=$(sed -n 's/.*listening on .* (port \([0-9][0-9]*\), [0-9]* workers\{0,1\}).*/\1/p' "$LOG" 2>/dev/null | head -n 1)
		[ -n "$port" ] && break
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			wait "$DAEMON_PID"
			DAEMON_PID=
			bail "daemon under valgrind starts ($1)" "exited before listening; log: $(cat "$LOG"); valgrind: $(tail -n 30 "$VG_LOG")"
		fi
		sleep 0.1
	done
	[ -n "$port" ] || bail "daemon under valgrind listens within 30 s ($1)" "log: $(cat "$LOG")"
	PORT=$port
	BASE=http://127.0.0.1:$PORT
	echo "# valgrind ($1) pid $DAEMON_PID on $BASE"
}

# vg_stop TAG: SIGTERM, wait, check the exit status and valgrind's log.
vg_stop() {
	local rc pid=$DAEMON_PID
	kill -TERM "$pid"
	if ! wait_dead "$pid" "$VG_STOP_TENTHS"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		DAEMON_PID=
		t_fail "daemon under valgrind ($1) stops within $((VG_STOP_TENTHS / 10)) s of SIGTERM" "had to SIGKILL it"
		return
	fi
	wait "$pid"
	rc=$?
	DAEMON_PID=
	assert_eq "$rc" 0 "valgrind ($1): exit status 0 (99 would mean errors or leaks)"
	if grep -q 'ERROR SUMMARY: 0 errors' "$VG_LOG"; then
		t_pass "valgrind ($1): ERROR SUMMARY: 0 errors"
	else
		t_fail "valgrind ($1): ERROR SUMMARY: 0 errors" "$(grep 'ERROR SUMMARY' "$VG_LOG")" \
			"$(grep -E -A25 '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and|Argument|[0-9,]+ bytes in)' "$VG_LOG" | head -n 80)"
	fi
	if grep -q 'definitely lost: 0 bytes' "$VG_LOG" || grep -q 'no leaks are possible' "$VG_LOG"; then
		t_pass "valgrind ($1): definitely lost: 0 bytes"
	else
		t_fail "valgrind ($1): definitely lost: 0 bytes" "$(grep -E 'definitely lost|indirectly lost' "$VG_LOG")" \
			"$(grep -E -A25 'are definitely lost' "$VG_LOG" | head -n 80)"
	fi
	if grep -q 'indirectly lost: 0 bytes' "$VG_LOG" || grep -q 'no leaks are possible' "$VG_LOG"; then
		t_pass "valgrind ($1): indirectly lost: 0 bytes"
	else
		t_fail "valgrind ($1): indirectly lost: 0 bytes" "$(grep -E 'indirectly lost' "$VG_LOG")"
	fi
	echo "# valgrind ($1): $(grep -E 'ERROR SUMMARY|in use at exit|definitely lost|possibly lost|still reachable' "$VG_LOG" | sed 's/^==[0-9]*== *//' | tr '\n' ';')"
}

OCT=(-H 'Content-Type: application/octet-stream')

# ================================================================ session 1

vg_start session
req GET /v2/
assert_status 200 "GET /v2/ under valgrind"

# ---- blobs: monolithic, one PUT, Content-Range chunks, chunked encoding
B1=$W/b1
mkblob "$B1" 300000
D1=$(sha256_of "$B1")
push_blob vg/app "$B1"
B2=$W/b2
mkblob "$B2" 200000
D2=$(sha256_of "$B2")
upload_start vg/app || bail "upload session"
req PUT "$(with_query "$UPLOAD_LOC" "digest=$D2")" "${OCT[@]}" --data-binary "@$B2"
assert_status 201 "POST then one PUT with the body"
B3=$W/b3
mkblob "$B3" 250000
D3=$(sha256_of "$B3")
slice "$B3" 0 100000 "$W/b3.1"
slice "$B3" 100000 100000 "$W/b3.2"
slice "$B3" 200000 50000 "$W/b3.3"
upload_start vg/app || bail "upload session"
req PATCH "$UPLOAD_LOC" "${OCT[@]}" -H 'Content-Range: 0-99999' --data-binary "@$W/b3.1"
assert_status 202 "PATCH chunk 1"
L=$(loc_url "$(hdr Location)")
req GET "$L"
assert_status 204 "upload status"
assert_header Range 0-99999 "upload status"
req PATCH "$L" "${OCT[@]}" -H 'Content-Range: 100000-199999' --data-binary "@$W/b3.2"
assert_status 202 "PATCH chunk 2"
L=$(loc_url "$(hdr Location)")
req PUT "$(with_query "$L" "digest=$D3")" "${OCT[@]}" -H 'Content-Range: 200000-249999' --data-binary "@$W/b3.3"
assert_status 201 "PUT with the last chunk"
B4=$W/b4
mkblob "$B4" 400000
D4=$(sha256_of "$B4")
upload_start vg/app || bail "upload session"
req PATCH "$UPLOAD_LOC" "${OCT[@]}" -H 'Transfer-Encoding: chunked' --data-binary "@$B4"
assert_status 202 "a chunked-encoding PATCH"
L=$(loc_url "$(hdr Location)")
req PUT "$(with_query "$L" "digest=$D4")"
assert_status 201 "PUT closes it"
req PUT "$(with_query "$L" "digest=$D4")"
assert_status 404 "the closed session is gone"
# a cancel, a digest mismatch, an aborted body
upload_start vg/app || bail "upload session"
req DELETE "$UPLOAD_LOC"
assert_status 204 "cancel an upload"
upload_start vg/app || bail "upload session"
req PUT "$(with_query "$UPLOAD_LOC" "digest=$D1")" "${OCT[@]}" --data-binary "@$B2"
assert_status 400 "a digest mismatch"
upload_start vg/app || bail "upload session"
(
	for i in 1 2 3 4 5; do
		head -c 20000 /dev/urandom
		sleep 0.2
	done
) | curl -s -o /dev/null --max-time 0.6 -X PATCH "${OCT[@]}" -T - "$UPLOAD_LOC"
sleep 0.5
req GET "$UPLOAD_LOC"
assert_status 204 "an upload whose client went away mid-body keeps its session"
# a slowloris connection cut by header_timeout
exec {sfd}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /v2/ HTTP/1.1\r\nX-Slow: ' >&"$sfd"
timeout 10 cat <&"$sfd" >/dev/null 2>&1
exec {sfd}>&-
# a cross-repository mount, and a pull of each blob
req POST "/v2/vg/other/blobs/uploads/?mount=$D1&from=vg/app"
assert_status 201 "cross-repository mount"
for d in "$D1" "$D2" "$D3" "$D4"; do
	req GET "/v2/vg/app/blobs/$d"
	assert_body_digest "$d" "pull $d"
done
req GET "/v2/vg/app/blobs/$D1" -H 'Range: bytes=1000-1999'
assert_status 206 "a range"
req HEAD "/v2/vg/app/blobs/$D2"
assert_status 200 "HEAD a blob"
req GET "/v2/vg/app/blobs/sha256:$(printf '0%.0s' {1..64})"
assert_status 404 "an unknown blob"

# ---- manifests, an index, tags, referrers, catalog
printf '{}' >"$W/cfg"
push_blob vg/app "$W/cfg"
M1=$W/m1.json
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s,%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_EMPTY" "$W/cfg")" "$(desc "$MT_OCI_LAYER" "$B1")" "$(desc "$MT_OCI_LAYER" "$B2")" >"$M1"
push_manifest vg/app v1 "$M1"
DM1=$(sha256_of "$M1")
M2=$W/m2.json
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_EMPTY" "$W/cfg")" "$(desc "$MT_OCI_LAYER" "$B3")" >"$M2"
push_manifest vg/app "$(sha256_of "$M2")" "$M2"
DM2=$(sha256_of "$M2")
IX=$W/ix.json
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s]}' "$MT_OCI_INDEX" \
	"$(desc "$MT_OCI_MANIFEST" "$M1")" "$(desc "$MT_OCI_MANIFEST" "$M2")" >"$IX"
push_manifest vg/app multi "$IX"
for t in v2 v3 latest; do push_manifest vg/app "$t" "$M1"; done
SIG=$W/sig.json
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":%s,"layers":[%s],"subject":%s,"annotations":{"k":"v"}}' \
	"$MT_OCI_MANIFEST" "$(desc "$MT_OCI_EMPTY" "$W/cfg")" "$(desc "$MT_OCI_LAYER" "$B4")" "$(desc "$MT_OCI_MANIFEST" "$M1")" >"$SIG"
push_manifest vg/app "$(sha256_of "$SIG")" "$SIG"
req GET "/v2/vg/app/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_body_digest "$DM1" "pull v1"
req GET "/v2/vg/app/manifests/multi" -H "Accept: $MT_OCI_INDEX"
assert_body_digest "$(sha256_of "$IX")" "pull the index"
req HEAD "/v2/vg/app/manifests/$DM2"
assert_status 200 "HEAD a manifest by digest"
put_manifest vg/app bad "$W/cfg" "$MT_OCI_MANIFEST"
assert_status 400 "an invalid manifest"
req GET /v2/vg/app/tags/list
assert_eq "$(jq -c .tags "$BODY")" '["latest","multi","v1","v2","v3"]' "tags list"
req GET '/v2/vg/app/tags/list?n=2&last=multi'
assert_eq "$(jq -c .tags "$BODY")" '["v1","v2"]' "tags list n=2 last=multi"
req GET "/v2/vg/app/referrers/$DM1"
assert_eq "$(jq -r '.manifests | length' "$BODY")" 1 "referrers"
req GET "/v2/vg/app/referrers/$DM1?artifactType=application/vnd.example.sig"
assert_eq "$(jq -r '.manifests | length' "$BODY")" 1 "referrers filtered"
req GET /v2/_catalog
assert_match "$(jq -c .repositories "$BODY")" '"vg/app"' "catalog"
req GET '/v2/_catalog?n=1'
assert_status 200 "catalog page"
req GET /metrics
assert_status 200 "metrics"
pulls=()
for i in 1 2 3 4; do
	curl -s -o "$W/par.$i" "$BASE/v2/vg/app/blobs/$D1" &
	pulls+=($!)
done
wait "${pulls[@]}"
par_ok=0
for i in 1 2 3 4; do [ "$(sha256_of "$W/par.$i")" = "$D1" ] && par_ok=$((par_ok + 1)); done
assert_eq "$par_ok" 4 "4 concurrent pulls"

# ---- a reload, then deletes
kill -HUP "$DAEMON_PID"
sleep 2
req GET /v2/
assert_status 200 "GET /v2/ after SIGHUP"
req DELETE /v2/vg/app/manifests/v3
assert_status 202 "delete a tag"
req DELETE "/v2/vg/app/manifests/$(sha256_of "$SIG")"
assert_status 202 "delete the referrer by digest"
req DELETE "/v2/vg/app/manifests/$(sha256_of "$IX")"
assert_status 202 "delete the index"
req DELETE "/v2/vg/other/blobs/$D1"
assert_status 202 "delete a blob"
req GET "/v2/vg/other/blobs/$D1"
assert_status 404 "the deleted blob is gone from that repository"
req GET /v2/vg/app/tags/list
assert_eq "$(jq -c .tags "$BODY")" '["latest","v1","v2"]' "tags after the deletes"
vg_stop session

# ================================================================ session 2: auth

# A bcrypt hash of cost 4 ("secret"), so valgrind does not spend minutes in
# Argon2.
HASH='$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW'
printf 'alice:%s\nbob:%s\n' "$HASH" "$HASH" >"$TMP/users"
# shellcheck disable=SC2034 # read by lib.sh's e2e_config
E2E_EXTRA_INI=$(printf '[auth]\nusers = %s\nanonymous = pull\n[group "devs"]\nmembers = alice\n[access "vg/*"]\npush = @devs\npull = *\ndelete = alice\n' "$TMP/users")
e2e_config
vg_start auth
req GET /v2/
assert_status 401 "anonymous GET /v2/ is challenged (docker login probes it)"
req GET "/v2/vg/app/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_body_digest "$DM1" "anonymous pull (anonymous = pull)"
req POST /v2/vg/app/blobs/uploads/
assert_status 401 "anonymous push is refused"
req GET "/v2/vg/app/blobs/$D1" -u bob:wrong
assert_status 401 "a wrong password"
req GET "/v2/vg/app/blobs/$D1" -u alice:secret
assert_body_digest "$D1" "Basic pull"
B5=$W/b5
mkblob "$B5" 50000
req POST "/v2/vg/app/blobs/uploads/?digest=$(sha256_of "$B5")" -u alice:secret "${OCT[@]}" --data-binary "@$B5"
assert_status 201 "Basic push by a member of @devs"
req GET '/token?service=ociregd&scope=repository:vg/app:pull,push' -u alice:secret
assert_status 200 "a token"
TOKEN=$(jq -r .token "$BODY")
req GET "/v2/vg/app/manifests/v1" -H "Authorization: Bearer $TOKEN" -H "Accept: $MT_OCI_MANIFEST"
assert_body_digest "$DM1" "bearer pull"
req GET "/v2/vg/app/manifests/v1" -H "Authorization: Bearer ${TOKEN}x"
assert_status 401 "a damaged token"
req DELETE /v2/vg/app/manifests/v2 -H "Authorization: Bearer $TOKEN"
status_ok=$STATUS
case $status_ok in 401 | 403) t_pass "a token without delete cannot delete ($status_ok)" ;; *) t_fail "a token without delete cannot delete" "status $status_ok" ;; esac
req GET /v2/_catalog -u bob:secret
assert_status 200 "catalog for bob"
vg_stop auth

e2e_finish
