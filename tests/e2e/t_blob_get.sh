#!/usr/bin/env bash
# t_blob_get.sh — pulling blobs: GET/HEAD headers, Range requests (206,
# Content-Range, open and suffix ranges, 416), repository scoping, DELETE.
. "$(dirname "$0")/lib.sh"
e2e_init
daemon_start

A=a/x
B=b/y
SIZE=1048583
F=$TMP/blob
mkblob "$F" "$SIZE"
D=$(sha256_of "$F")
push_blob "$A" "$F"

# ---- GET
req GET "/v2/$A/blobs/$D"
assert_status 200 "GET blob"
assert_header Content-Length "$SIZE" "GET blob"
assert_header Docker-Content-Digest "$D" "GET blob"
assert_header Content-Type application/octet-stream "GET blob"
assert_header Docker-Distribution-API-Version registry/2.0 "GET blob"
assert_eq "$DLSIZE" "$SIZE" "GET blob: body length"
assert_body_digest "$D" "GET blob"
assert_log "access: 127\.0\.0\.1:[0-9]+ GET /v2/$A/blobs/$D 200 in=0 out=$SIZE [0-9]+us" \
	"access log: GET blob with out=$SIZE"

# ---- HEAD
req HEAD "/v2/$A/blobs/$D"
assert_status 200 "HEAD blob"
assert_header Content-Length "$SIZE" "HEAD blob"
assert_header Docker-Content-Digest "$D" "HEAD blob"
assert_header Content-Type application/octet-stream "HEAD blob"
assert_eq "$DLSIZE" 0 "HEAD blob: no body"
# the connection is still usable after a HEAD (no body bytes were sent)
out=$(curl -s --max-time 10 -I -o /dev/null -w '%{http_code} %{num_connects}\n' "$BASE/v2/$A/blobs/$D" \
	--next -s --max-time 10 -o "$TMP/after-head" -w '%{http_code} %{num_connects}\n' "$BASE/v2/$A/blobs/$D" </dev/null | tr '\n' ' ')
assert_eq "$out" "200 1 200 0 " "HEAD then GET on one kept-alive connection"
assert_eq "$(sha256_of "$TMP/after-head")" "$D" "GET after HEAD on the same connection has the right bytes"

# ---- Range
# range_case SPEC EXP-START EXP-END DESC
range_case() {
	local spec=$1 s=$2 e=$3 desc=$4
	req GET "/v2/$A/blobs/$D" -H "Range: $spec"
	assert_status 206 "Range: $spec ($desc)"
	assert_header Content-Range "bytes $s-$e/$SIZE" "Range: $spec"
	assert_header Content-Length "$((e - s + 1))" "Range: $spec"
	assert_header Docker-Content-Digest "$D" "Range: $spec"
	slice "$F" "$s" "$((e - s + 1))" "$TMP/expect"
	assert_eq "$(sha256_of "$BODY")" "$(sha256_of "$TMP/expect")" "Range: $spec: body is bytes $s-$e of the blob"
}
range_case "bytes=0-99" 0 99 "first 100 bytes"
range_case "bytes=0-0" 0 0 "first byte"
range_case "bytes=524288-786431" 524288 786431 "middle"
range_case "bytes=1000000-" 1000000 $((SIZE - 1)) "open-ended"
range_case "bytes=-500" $((SIZE - 500)) $((SIZE - 1)) "suffix: last 500"
range_case "bytes=-$((SIZE + 10))" 0 $((SIZE - 1)) "suffix longer than the blob"
range_case "bytes=$((SIZE - 10))-$((SIZE + 1000))" $((SIZE - 10)) $((SIZE - 1)) "end past the blob is clamped"
range_case "bytes=$((SIZE - 1))-$((SIZE - 1))" $((SIZE - 1)) $((SIZE - 1)) "last byte"

# resume a pull: fetch in two halves, the concatenation is the blob
req GET "/v2/$A/blobs/$D" -H "Range: bytes=0-499999"
cp "$BODY" "$TMP/part1"
req GET "/v2/$A/blobs/$D" -H "Range: bytes=500000-"
cat "$TMP/part1" "$BODY" >"$TMP/joined"
assert_eq "$(sha256_of "$TMP/joined")" "$D" "two Range GETs reassemble the blob"

for spec in "bytes=$SIZE-" "bytes=$((SIZE + 100))-$((SIZE + 200))" "bytes=-0"; do
	req GET "/v2/$A/blobs/$D" -H "Range: $spec"
	assert_status 416 "unsatisfiable Range: $spec"
	assert_header Content-Range "bytes */$SIZE" "unsatisfiable Range: $spec"
	assert_header Docker-Distribution-API-Version registry/2.0 "unsatisfiable Range: $spec"
done

# ---- repository scoping
req GET "/v2/$B/blobs/$D"
assert_status_error 404 BLOB_UNKNOWN "GET a blob of $A in $B"
req HEAD "/v2/$B/blobs/$D"
assert_status 404 "HEAD a blob of $A in $B"
assert_eq "$DLSIZE" 0 "HEAD 404 has no body"
req GET "/v2/$B/blobs/$D" -H 'Range: bytes=0-9'
assert_status 404 "Range GET of a blob of $A in $B"
req GET "/v2/a/blobs/$D"
assert_status 404 "GET in parent repository 'a' of $A"
req GET "/v2/a/x/y/blobs/$D"
assert_status 404 "GET in child repository 'a/x/y' of $A"
req GET "/v2/$A/blobs/sha256:$(printf '%064d' 7)"
assert_status_error 404 BLOB_UNKNOWN "GET a digest nobody pushed"

# ---- Large answers: written from 2 MiB mapped windows of the file while
# a worker's 8 MiB budget lasts, by sendfile past it (server.c).  Eight
# concurrent pulls of a 21 MiB blob overrun the budget (each queues 4 MiB
# ahead), so both kinds of slice and their mix on one connection are
# checked, and Ranges that start and end inside windows.
BIG=$TMP/big
BIGSIZE=$((21 * 1048576 + 12345))
mkblob "$BIG" "$BIGSIZE"
BD=$(sha256_of "$BIG")
push_blob "$A" "$BIG"
pids=()
for i in 1 2 3 4 5 6 7 8; do
	curl -s --max-time 60 --limit-rate $((i * 8))M -o "$TMP/bigpull.$i" "$BASE/v2/$A/blobs/$BD" </dev/null &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for i in 1 2 3 4 5 6 7 8; do
	assert_eq "$(sha256_of "$TMP/bigpull.$i")" "$BD" "concurrent pull $i of a $BIGSIZE-byte blob has its bytes"
done
for spec in "$((2 * 1048576 - 1))-$((6 * 1048576 + 7))" "$((20 * 1048576 + 3))-" "1-$((4 * 1048576))"; do
	s=${spec%-*}
	e=${spec#*-}
	[ -n "$e" ] || e=$((BIGSIZE - 1))
	req GET "/v2/$A/blobs/$BD" -H "Range: bytes=$spec"
	assert_status 206 "large blob, Range: bytes=$spec"
	slice "$BIG" "$s" "$((e - s + 1))" "$TMP/bigexpect"
	assert_eq "$(sha256_of "$BODY")" "$(sha256_of "$TMP/bigexpect")" "large blob, Range: bytes=$spec: the right bytes"
done
# A client that leaves mid-answer: its queued windows are unmapped with
# the connection (under ASan a use after free would show here).
curl -s --max-time 2 --limit-rate 1M -o /dev/null "$BASE/v2/$A/blobs/$BD" </dev/null
req GET "/v2/$A/blobs/$BD"
assert_status 200 "large blob after a client left mid-answer"
assert_body_digest "$BD" "large blob after a client left mid-answer"
daemon_alive && alive=yes || alive=no
assert_eq "$alive" yes "daemon alive after concurrent and abandoned large pulls"

# ---- DELETE: only the repository's link goes
C=c/z
push_blob "$C" "$F"
req DELETE "/v2/$A/blobs/$D"
assert_status 202 "DELETE blob in $A"
req GET "/v2/$A/blobs/$D"
assert_status_error 404 BLOB_UNKNOWN "GET after DELETE in $A"
req HEAD "/v2/$A/blobs/$D"
assert_status 404 "HEAD after DELETE in $A"
assert_rows "SELECT count(*) FROM repo_blobs rb JOIN repositories r ON r.id=rb.repo_id
	WHERE r.name='$A' AND rb.digest='$D'" 0 "repo_blobs link of $A removed"
req GET "/v2/$C/blobs/$D"
assert_status 200 "GET in $C after DELETE in $A"
assert_body_digest "$D" "GET in $C after DELETE in $A"
req DELETE "/v2/$A/blobs/$D"
assert_status_error 404 BLOB_UNKNOWN "second DELETE in $A"
req DELETE "/v2/$B/blobs/$D"
assert_status_error 404 BLOB_UNKNOWN "DELETE in $B, which never had it"
req GET "/v2/$C/blobs/$D"
assert_status 200 "GET in $C still works"
# push it again into A: visible again
push_blob "$A" "$F"
req GET "/v2/$A/blobs/$D"
assert_status 200 "GET in $A after pushing it again"
assert_body_digest "$D" "GET in $A after pushing it again"

assert_no_5xx "no 5xx answered"
e2e_finish
