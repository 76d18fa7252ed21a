#!/usr/bin/env bash
# t_restart.sh — upload sessions and stored blobs survive a restart (SIGTERM,
# start again on the same root).
. "$(dirname "$0")/lib.sh"
e2e_init
daemon_start

R=keep/me
OCT=(-H 'Content-Type: application/octet-stream')

# ---- content pushed before the restart
F1=$TMP/f1
mkblob "$F1" 800000
D1=$(sha256_of "$F1")
push_blob "$R" "$F1"
F2=$TMP/f2
mkblob "$F2" 300000
D2=$(sha512_of "$F2")
push_blob "$R" "$F2" "$D2"
req POST "/v2/mounted/here/blobs/uploads/?mount=$D1&from=$R"
assert_status 201 "mount before restart"

# ---- session A: half pushed with Content-Range, finished after the restart
FA=$TMP/fa
SA=1600000
HA=700000
mkblob "$FA" "$SA"
DA=$(sha256_of "$FA")
slice "$FA" 0 "$HA" "$TMP/fa.1"
slice "$FA" "$HA" $((SA - HA)) "$TMP/fa.2"
upload_start "$R" || bail "cannot start session A"
LA=$UPLOAD_LOC
UA=$UPLOAD_ID
req PATCH "$LA" "${OCT[@]}" -H "Content-Range: 0-$((HA - 1))" --data-binary "@$TMP/fa.1"
assert_status 202 "session A: first half"
assert_header Range "0-$((HA - 1))" "session A: first half"

# ---- session B: half pushed, finished after the restart by a PUT with the rest
FB=$TMP/fb
mkblob "$FB" 500000
DB=$(sha256_of "$FB")
slice "$FB" 0 250000 "$TMP/fb.1"
slice "$FB" 250000 250000 "$TMP/fb.2"
upload_start "$R" || bail "cannot start session B"
LB=$UPLOAD_LOC
req PATCH "$LB" "${OCT[@]}" -H 'Transfer-Encoding: chunked' -T "$TMP/fb.1"
assert_status 202 "session B: streamed first half"

# ---- session C: half pushed, to be closed with a sha512 digest after restart
FC=$TMP/fc
mkblob "$FC" 400000
DC=$(sha512_of "$FC")
slice "$FC" 0 123457 "$TMP/fc.1"
slice "$FC" 123457 $((400000 - 123457)) "$TMP/fc.2"
upload_start "$R" || bail "cannot start session C"
LC=$UPLOAD_LOC
req PATCH "$LC" "${OCT[@]}" -H "Content-Range: 0-123456" --data-binary "@$TMP/fc.1"
assert_status 202 "session C: first part"

# ---- session D: started, nothing written; cancelled after the restart
upload_start "$R" || bail "cannot start session D"
LD=$UPLOAD_LOC
UD=$UPLOAD_ID

# ---- session E: half pushed, to be closed with a WRONG digest after restart
upload_start "$R" || bail "cannot start session E"
LE=$UPLOAD_LOC
req PATCH "$LE" "${OCT[@]}" -H "Content-Range: 0-249999" --data-binary "@$TMP/fb.2"
assert_status 202 "session E: first part"

old_port=$PORT
daemon_restart
echo "# restarted: port $old_port -> $PORT"

# ---- sessions are where they were
req GET "$(loc_url "${LA#"http://127.0.0.1:$old_port"}")"
assert_status 204 "session A status after restart"
assert_header Range "0-$((HA - 1))" "session A status after restart"
assert_header Docker-Upload-UUID "$UA" "session A status after restart"
assert_header Location "/v2/$R/blobs/uploads/$UA" "session A status after restart"
assert_rows "SELECT size FROM uploads WHERE id=$(sqlq "$UA")" "$HA" "session A uploads row survived"

LA=$BASE/v2/$R/blobs/uploads/$UA
# the already-accepted half is rejected again, with the right Range
req PATCH "$LA" "${OCT[@]}" -H "Content-Range: 0-$((HA - 1))" --data-binary "@$TMP/fa.1"
assert_status 416 "session A: re-sending the first half after restart"
assert_header Range "0-$((HA - 1))" "session A: 416 after restart"
req PATCH "$LA" "${OCT[@]}" -H "Content-Range: $HA-$((SA - 1))" --data-binary "@$TMP/fa.2"
assert_status 202 "session A: second half after restart"
assert_header Range "0-$((SA - 1))" "session A: second half after restart"
req PUT "$(with_query "$LA" "digest=$DA")"
assert_status 201 "session A: PUT after restart"
assert_header Docker-Content-Digest "$DA" "session A: PUT after restart"
assert_header Location "/v2/$R/blobs/$DA" "session A: PUT after restart"
req GET "/v2/$R/blobs/$DA"
assert_status 200 "session A blob is served"
assert_header Content-Length "$SA" "session A blob"
assert_body_digest "$DA" "session A blob"
assert_file_exists "$(blob_path "$DA")" "session A blob file"

LB=$(loc_url "${LB#"http://127.0.0.1:$old_port"}")
req GET "$LB"
assert_header Range "0-249999" "session B status after restart"
req PUT "$(with_query "$LB" "digest=$DB")" "${OCT[@]}" --data-binary "@$TMP/fb.2"
assert_status 201 "session B: PUT with the final chunk after restart"
req GET "/v2/$R/blobs/$DB"
assert_body_digest "$DB" "session B blob"

LC=$(loc_url "${LC#"http://127.0.0.1:$old_port"}")
req PATCH "$LC" "${OCT[@]}" -H 'Transfer-Encoding: chunked' -T "$TMP/fc.2"
assert_status 202 "session C: streamed rest after restart"
assert_header Range "0-399999" "session C after restart"
req PUT "$(with_query "$LC" "digest=$DC")"
assert_status 201 "session C: PUT with a sha512 digest after restart"
req GET "/v2/$R/blobs/$DC"
assert_body_digest "$DC" "session C blob (sha512)"

LD=$BASE/v2/$R/blobs/uploads/$UD
req GET "$LD"
assert_status 204 "session D (empty) status after restart"
assert_header Range "0-0" "session D after restart"
req DELETE "$LD"
assert_status 204 "session D cancelled after restart"
assert_file_absent "$ROOT/uploads/$UD" "session D spool removed"

LE=$(loc_url "${LE#"http://127.0.0.1:$old_port"}")
req PUT "$(with_query "$LE" "digest=$DB")"
assert_status_error 400 DIGEST_INVALID "session E: wrong digest after restart"

# ---- everything pushed before the restart is still served
req GET "/v2/$R/blobs/$D1"
assert_status 200 "blob 1 after restart"
assert_header Content-Length 800000 "blob 1 after restart"
assert_header Docker-Content-Digest "$D1" "blob 1 after restart"
assert_body_digest "$D1" "blob 1 after restart"
req GET "/v2/$R/blobs/$D2"
assert_status 200 "sha512 blob after restart"
assert_body_digest "$D2" "sha512 blob after restart"
req GET "/v2/mounted/here/blobs/$D1"
assert_status 200 "mounted blob after restart"
assert_body_digest "$D1" "mounted blob after restart"
req GET "/v2/other/repo/blobs/$D1"
assert_status 404 "scoping survives the restart"
req GET "/v2/$R/blobs/$D1" -H 'Range: bytes=100-199'
assert_status 206 "Range GET after restart"
assert_header Content-Range "bytes 100-199/800000" "Range GET after restart"

# ---- SIGTERM while a PATCH is in flight: clean exit, the session resumes
FS=$TMP/fs
mkblob "$FS" 3000000
DS=$(sha256_of "$FS")
upload_start "$R" || bail "cannot start session S"
US=$UPLOAD_ID
curl -s --max-time 5 --limit-rate 500k -o /dev/null -X PATCH "${OCT[@]}" \
	-H "Content-Range: 0-2999999" --data-binary "@$FS" "$UPLOAD_LOC" </dev/null &
CURL_BG=$!
sleep 0.7
daemon_stop
wait "$CURL_BG" 2>/dev/null
daemon_start
LS=$BASE/v2/$R/blobs/uploads/$US
req GET "$LS"
assert_status 204 "session S status after SIGTERM mid-PATCH"
got=$(hdr Range)
end=${got#0-}
if [[ $got =~ ^0-[0-9]+$ ]] && [ "$end" -lt 2999999 ]; then
	t_pass "session S: Range $got after SIGTERM mid-PATCH"
else
	t_fail "session S: Range 0-<n> (n < 2999999) after SIGTERM mid-PATCH" "Range: '$got'"
	end=-1
fi
[ "$got" = "0-0" ] && end=-1 # nothing kept (or one byte: the spec's Range cannot tell)
if [ "$got" = "0-0" ] && [ "$(db "SELECT size FROM uploads WHERE id=$(sqlq "$US")")" = 1 ]; then end=0; fi
slice "$FS" $((end + 1)) $((2999999 - end)) "$TMP/fs.rest"
req PUT "$(with_query "$LS" "digest=$DS")" "${OCT[@]}" --data-binary "@$TMP/fs.rest"
assert_status 201 "session S: PUT with the rest after the restart"
req GET "/v2/$R/blobs/$DS"
assert_body_digest "$DS" "session S blob"

# ---- a second restart: the finished blobs are still there, no sessions left
daemon_restart
for d in "$D1" "$D2" "$DA" "$DB" "$DC" "$DS"; do
	req GET "/v2/$R/blobs/$d"
	assert_status 200 "after a second restart: GET ${d:0:20}..."
	assert_body_digest "$d" "after a second restart: ${d:0:20}..."
done
assert_rows "SELECT count(*) FROM uploads" 0 "no uploads rows left"
assert_eq "$(find "$ROOT/uploads" -type f | wc -l)" 0 "no spool files left"

assert_no_5xx "no 5xx answered"
e2e_finish
