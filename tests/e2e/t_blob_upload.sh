#!/usr/bin/env bash
# t_blob_upload.sh — pushing blobs: monolithic POST, chunked PATCHes with
# Content-Range, a docker-style chunked-transfer PATCH, PUT with a final
# chunk, upload status, out-of-order and re-sent chunks, digest mismatch,
# sha512, re-push of the same content, the empty blob, cancel, bad ids.
. "$(dirname "$0")/lib.sh"
e2e_init
daemon_start

R=e2e/upload
OCT=(-H 'Content-Type: application/octet-stream')

# check_stored DIGEST FILE REPO DESC: the stored file (object) with the right
# bytes, rows in blobs and repo_blobs, and a GET in REPO serves the same bytes.
check_stored() {
	local d=$1 f=$2 repo=$3 desc=$4 hex=${1#*:}
	assert_blob_stored "$d" "$desc: blob stored at blobs/${d%%:*}/${hex:0:2}/<hex>"
	if blob_read "$d" "$TMP/stored"; then
		assert_eq "$(cmp -s "$TMP/stored" "$f" && echo same || echo differs)" same "$desc: stored blob holds the pushed bytes"
	fi
	assert_rows "SELECT count(*) FROM blobs WHERE digest=$(sqlq "$d") AND size=$(fsize "$f")" 1 \
		"$desc: one blobs row with the right size"
	assert_rows "SELECT count(*) FROM repo_blobs rb JOIN repositories r ON r.id=rb.repo_id
		WHERE r.name=$(sqlq "$repo") AND rb.digest=$(sqlq "$d")" 1 "$desc: linked to $repo in repo_blobs"
	req GET "/v2/$repo/blobs/$d"
	assert_status 200 "$desc: GET"
	assert_body_digest "$d" "$desc: GET"
}

# ==== monolithic POST ?digest=
B1=$TMP/b1
mkblob "$B1" 700001
D1=$(sha256_of "$B1")
req POST "/v2/$R/blobs/uploads/?digest=$D1" "${OCT[@]}" --data-binary "@$B1"
assert_status 201 "monolithic POST"
assert_header Location "/v2/$R/blobs/$D1" "monolithic POST"
assert_header Docker-Content-Digest "$D1" "monolithic POST"
check_stored "$D1" "$B1" "$R" "monolithic"
assert_rows "SELECT count(*) FROM uploads" 0 "monolithic POST leaves no uploads row"
assert_eq "$(spool_files)" 0 "monolithic POST leaves no spool file (nor upload object)"

# ==== chunked: 3 PATCHes with Content-Range
B2=$TMP/b2
mkblob "$B2" 1500000
D2=$(sha256_of "$B2")
slice "$B2" 0 500000 "$TMP/b2.1"
slice "$B2" 500000 600000 "$TMP/b2.2"
slice "$B2" 1100000 400000 "$TMP/b2.3"
upload_start "$R" || bail "cannot start a session"
assert_header Range "0-0" "POST start"
assert_header OCI-Chunk-Min-Length 0 "POST start"
assert_match "$UPLOAD_ID" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "Docker-Upload-UUID is a UUID"
assert_eq "$(hdr Location)" "/v2/$R/blobs/uploads/$UPLOAD_ID" "POST start: Location is /v2/<name>/blobs/uploads/<uuid>"
# On S3 a fresh session may have nothing in the bucket yet (the multipart
# upload begins with the first bytes); it must once a PATCH is acknowledged.
store_is_s3 || assert_upload_stored "$UPLOAD_ID" "session has a spool file under uploads/"
assert_rows "SELECT count(*) FROM uploads WHERE id=$(sqlq "$UPLOAD_ID") AND repo=$(sqlq "$R") AND size=0" 1 \
	"session has an uploads row (repo, size 0)"
L=$UPLOAD_LOC
U=$UPLOAD_ID

req GET "$L"
assert_status 204 "status of a fresh session"
assert_header Range "0-0" "status of a fresh session"
assert_header Docker-Upload-UUID "$U" "status of a fresh session"
assert_header Location "/v2/$R/blobs/uploads/$U" "status of a fresh session"

req PATCH "$L" "${OCT[@]}" -H "Content-Range: 0-499999" --data-binary "@$TMP/b2.1"
assert_status 202 "PATCH chunk 1/3"
assert_header Range "0-499999" "PATCH chunk 1/3"
assert_header Location "/v2/$R/blobs/uploads/$U" "PATCH chunk 1/3"
assert_header Docker-Upload-UUID "$U" "PATCH chunk 1/3"
assert_rows "SELECT size FROM uploads WHERE id=$(sqlq "$U")" 500000 "uploads.size is 500000 after chunk 1"
if store_is_s3; then
	# The bytes sit in parts and a tail object whose layout is the backend's.
	assert_upload_stored "$U" "the session has objects under uploads/$U/ after chunk 1"
else
	assert_eq "$(fsize "$ROOT/uploads/$U")" 500000 "spool holds 500000 bytes after chunk 1"
fi

req GET "$L"
assert_status 204 "status after chunk 1"
assert_header Range "0-499999" "status after chunk 1"

# out of order: skips ahead
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 1100000-1499999" --data-binary "@$TMP/b2.3"
assert_status 416 "PATCH chunk 3 before chunk 2"
assert_header Range "0-499999" "416 reports where the upload stands"
assert_header Location "/v2/$R/blobs/uploads/$U" "416 carries the session Location"
assert_error BLOB_UPLOAD_INVALID "out-of-order chunk"
# re-sent: chunk 1 again
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 0-499999" --data-binary "@$TMP/b2.1"
assert_status 416 "re-sent chunk 1"
assert_header Range "0-499999" "416 on re-sent chunk reports the current range"
# overlapping the end by one byte
slice "$B2" 499999 1000 "$TMP/overlap"
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 499999-500998" --data-binary "@$TMP/overlap"
assert_status 416 "chunk overlapping the end by one byte"
req GET "$L"
assert_header Range "0-499999" "rejected chunks changed nothing"
store_is_s3 || assert_eq "$(fsize "$ROOT/uploads/$U")" 500000 "rejected chunks wrote nothing to the spool"

req PATCH "$L" "${OCT[@]}" -H "Content-Range: 500000-1099999" --data-binary "@$TMP/b2.2"
assert_status 202 "PATCH chunk 2/3"
assert_header Range "0-1099999" "PATCH chunk 2/3"
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 1100000-1499999" --data-binary "@$TMP/b2.3"
assert_status 202 "PATCH chunk 3/3"
assert_header Range "0-1499999" "PATCH chunk 3/3"
req GET "$L"
assert_status 204 "status after 3 chunks"
assert_header Range "0-1499999" "status after 3 chunks"

req PUT "$(with_query "$L" "digest=$D2")"
assert_status 201 "closing PUT without body"
assert_header Location "/v2/$R/blobs/$D2" "closing PUT"
assert_header Docker-Content-Digest "$D2" "closing PUT"
check_stored "$D2" "$B2" "$R" "3 chunks"
assert_rows "SELECT count(*) FROM uploads WHERE id=$(sqlq "$U")" 0 "finished session's uploads row is gone"
assert_upload_absent "$U" "finished session's spool file (upload objects) is gone"
req GET "$L"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "status of a finished session"
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 1500000-1500000" --data-binary x
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "PATCH to a finished session"

# ==== docker-style: one PATCH, Transfer-Encoding: chunked, no Content-Length
B3=$TMP/b3
mkblob "$B3" 2000000
D3=$(sha256_of "$B3")
upload_start "$R" || bail "cannot start a session"
L=$UPLOAD_LOC
req PATCH "$L" "${OCT[@]}" -H 'Transfer-Encoding: chunked' -T "$B3"
assert_status 202 "chunked-transfer PATCH without Content-Range/Length"
assert_header Range "0-1999999" "chunked-transfer PATCH"
assert_header Location "/v2/$R/blobs/uploads/$UPLOAD_ID" "chunked-transfer PATCH"
assert_log "access: .* PATCH /v2/$R/blobs/uploads/$UPLOAD_ID 202 in=2000000 " \
	"access log counts the 2000000 body bytes of the chunked PATCH"
req PUT "$(with_query "$L" "digest=$D3")"
assert_status 201 "closing PUT after a chunked-transfer PATCH"
assert_header Docker-Content-Digest "$D3" "closing PUT after chunked PATCH"
check_stored "$D3" "$B3" "$R" "chunked-transfer"

# docker-style twice: two streamed PATCHes, no Content-Range, append
B3b=$TMP/b3b
mkblob "$B3b" 300000
D3b=$(sha256_of "$B3b")
slice "$B3b" 0 100000 "$TMP/b3b.1"
slice "$B3b" 100000 200000 "$TMP/b3b.2"
upload_start "$R" || bail "cannot start a session"
L=$UPLOAD_LOC
req PATCH "$L" "${OCT[@]}" -H 'Transfer-Encoding: chunked' -T "$TMP/b3b.1"
assert_header Range "0-99999" "first streamed PATCH"
req PATCH "$L" "${OCT[@]}" -H 'Transfer-Encoding: chunked' -T "$TMP/b3b.2"
assert_status 202 "second streamed PATCH appends"
assert_header Range "0-299999" "second streamed PATCH"
req PUT "$(with_query "$L" "digest=$D3b")"
assert_status 201 "closing PUT after two streamed PATCHes"
check_stored "$D3b" "$B3b" "$R" "two streamed PATCHes"

# ==== an interrupted PATCH: the client resumes from the Range the server reports
B3c=$TMP/b3c
mkblob "$B3c" 3000000
D3c=$(sha256_of "$B3c")
upload_start "$R" || bail "cannot start a session"
L=$UPLOAD_LOC
U=$UPLOAD_ID
# ~300 KB/s for 1 s: the connection drops in the middle of the 3 MB body
curl -s --max-time 1 --limit-rate 300k -o /dev/null -X PATCH "${OCT[@]}" \
	-H "Content-Range: 0-2999999" --data-binary "@$B3c" "$L" </dev/null
assert_log "access: .* PATCH /v2/$R/blobs/uploads/$U 499 " "the aborted PATCH is logged (499)"
req GET "$L"
assert_status 204 "status after an interrupted PATCH"
got=$(hdr Range)
end=${got#0-}
if [[ $got =~ ^0-[0-9]+$ ]] && [ "$end" -lt 2999999 ]; then
	t_pass "interrupted PATCH: Range $got is a prefix of the chunk"
else
	t_fail "interrupted PATCH: Range is a prefix 0-<n> of the chunk" "Range: '$got'"
	end=-1
fi
assert_rows "SELECT size FROM uploads WHERE id=$(sqlq "$U")" $((end + 1)) "uploads.size agrees with the Range"
slice "$B3c" $((end + 1)) $((2999999 - end)) "$TMP/b3c.rest"
req PATCH "$L" "${OCT[@]}" -H "Content-Range: $((end + 1))-2999999" --data-binary "@$TMP/b3c.rest"
assert_status 202 "PATCH resuming at $((end + 1))"
assert_header Range "0-2999999" "PATCH resuming"
req PUT "$(with_query "$L" "digest=$D3c")"
assert_status 201 "closing PUT after an interrupted and resumed PATCH"
check_stored "$D3c" "$B3c" "$R" "interrupted + resumed"

# the same with a docker-style streamed PATCH
upload_start "$R" || bail "cannot start a session"
L=$UPLOAD_LOC
curl -s --max-time 1 --limit-rate 300k -o /dev/null -X PATCH "${OCT[@]}" \
	-H 'Transfer-Encoding: chunked' -T "$B3c" "$L" </dev/null
req GET "$L"
got=$(hdr Range)
end=${got#0-}
if [[ $got =~ ^0-[0-9]+$ ]] && [ "$end" -lt 2999999 ]; then
	t_pass "interrupted streamed PATCH: Range $got is a prefix"
else
	t_fail "interrupted streamed PATCH: Range is a prefix 0-<n>" "Range: '$got'"
	end=-1
fi
slice "$B3c" $((end + 1)) $((2999999 - end)) "$TMP/b3c.rest"
req PUT "$(with_query "$L" "digest=$D3c")" "${OCT[@]}" --data-binary "@$TMP/b3c.rest"
assert_status 201 "PUT with the rest after an interrupted streamed PATCH"
req GET "/v2/$R/blobs/$D3c"
assert_body_digest "$D3c" "interrupted streamed PATCH + PUT"

# ==== PUT with a final chunk
B4=$TMP/b4
mkblob "$B4" 900000
D4=$(sha256_of "$B4")
slice "$B4" 0 600000 "$TMP/b4.1"
slice "$B4" 600000 300000 "$TMP/b4.2"
upload_start "$R" || bail "cannot start a session"
L=$UPLOAD_LOC
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 0-599999" --data-binary "@$TMP/b4.1"
assert_status 202 "PATCH before a PUT with the final chunk"
req PUT "$(with_query "$L" "digest=$D4")" "${OCT[@]}" --data-binary "@$TMP/b4.2"
assert_status 201 "PUT carrying the final chunk"
assert_header Location "/v2/$R/blobs/$D4" "PUT carrying the final chunk"
assert_header Docker-Content-Digest "$D4" "PUT carrying the final chunk"
check_stored "$D4" "$B4" "$R" "PUT with final chunk"

# PUT with the whole blob right after POST (POST + single PUT upload)
B4b=$TMP/b4b
mkblob "$B4b" 250000
D4b=$(sha256_of "$B4b")
upload_start "$R" || bail "cannot start a session"
req PUT "$(with_query "$UPLOAD_LOC" "digest=$D4b")" "${OCT[@]}" --data-binary "@$B4b"
assert_status 201 "POST then one PUT with the whole blob"
check_stored "$D4b" "$B4b" "$R" "POST + PUT"

# ==== digest mismatch on PUT: 400 DIGEST_INVALID, nothing stored
B5=$TMP/b5
mkblob "$B5" 400000
D5=$(sha256_of "$B5")
WRONG=sha256:$(printf '%s' "not the content" | sha256sum | cut -d' ' -f1)
nfiles=$(blob_file_count)
nrows=$(db "SELECT count(*) FROM blobs")
upload_start "$R" || bail "cannot start a session"
L=$UPLOAD_LOC
U=$UPLOAD_ID
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 0-399999" --data-binary "@$B5"
assert_status 202 "PATCH before a mismatching PUT"
req PUT "$(with_query "$L" "digest=$WRONG")"
assert_status_error 400 DIGEST_INVALID "PUT with a digest that does not match the content"
assert_blob_absent "$WRONG" "no blob file under the claimed digest"
assert_blob_absent "$D5" "no blob file under the content's digest"
assert_eq "$(blob_file_count)" "$nfiles" "no new file anywhere under blobs/"
assert_rows "SELECT count(*) FROM blobs WHERE digest IN ($(sqlq "$WRONG"), $(sqlq "$D5"))" 0 \
	"no blobs row for either digest"
assert_rows "SELECT count(*) FROM blobs" "$nrows" "blobs table unchanged"
req GET "/v2/$R/blobs/$WRONG"
assert_status_error 404 BLOB_UNKNOWN "GET the claimed digest after the mismatch"
req GET "/v2/$R/blobs/$D5"
assert_status_error 404 BLOB_UNKNOWN "GET the content's digest after the mismatch"

# mismatch on a monolithic POST too
req POST "/v2/$R/blobs/uploads/?digest=$WRONG" "${OCT[@]}" --data-binary "@$B5"
assert_status_error 400 DIGEST_INVALID "monolithic POST with a wrong digest"
assert_eq "$(blob_file_count)" "$nfiles" "monolithic mismatch: no new file under blobs/"
assert_rows "SELECT count(*) FROM blobs" "$nrows" "monolithic mismatch: blobs table unchanged"
assert_rows "SELECT count(*) FROM uploads WHERE size > 0" 0 "monolithic mismatch: no leftover upload row with data"

# ==== sha512
B6=$TMP/b6
mkblob "$B6" 333333
D6=$(sha512_of "$B6")
req POST "/v2/$R/blobs/uploads/?digest=$D6" "${OCT[@]}" --data-binary "@$B6"
assert_status 201 "monolithic POST with a sha512 digest"
assert_header Location "/v2/$R/blobs/$D6" "sha512 monolithic POST"
assert_header Docker-Content-Digest "$D6" "sha512 monolithic POST"
check_stored "$D6" "$B6" "$R" "sha512 monolithic"
req HEAD "/v2/$R/blobs/$D6"
assert_header Content-Length 333333 "HEAD sha512 blob"
assert_header Docker-Content-Digest "$D6" "HEAD sha512 blob"

B6b=$TMP/b6b
mkblob "$B6b" 444444
D6b=$(sha512_of "$B6b")
slice "$B6b" 0 200000 "$TMP/b6b.1"
slice "$B6b" 200000 244444 "$TMP/b6b.2"
upload_start "$R" || bail "cannot start a session"
L=$UPLOAD_LOC
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 0-199999" --data-binary "@$TMP/b6b.1"
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 200000-444443" --data-binary "@$TMP/b6b.2"
assert_header Range "0-444443" "chunks of a sha512 upload"
req PUT "$(with_query "$L" "digest=$D6b")"
assert_status 201 "closing PUT with a sha512 digest after chunks"
assert_header Docker-Content-Digest "$D6b" "sha512 chunked upload"
check_stored "$D6b" "$B6b" "$R" "sha512 chunked"

# wrong sha512 for the content
B6c=$TMP/b6c
mkblob "$B6c" 1000
req POST "/v2/$R/blobs/uploads/?digest=$D6" "${OCT[@]}" --data-binary "@$B6c"
assert_status_error 400 DIGEST_INVALID "sha512 monolithic POST whose digest belongs to other content"
req GET "/v2/$R/blobs/$D6"
assert_body_digest "$D6" "the stored sha512 blob is untouched by the failed push"

# ==== second push of the same content: 201, the file is not rewritten
# The file's inode and mtime (the object's ETag and Last-Modified, whose
# second resolution the sleep covers) tell whether it was written again.
id1=$(blob_identity "$D1")
assert_ne "$id1" "" "the first push's blob has an identity ($id1)"
sleep 1.1
req POST "/v2/$R/blobs/uploads/?digest=$D1" "${OCT[@]}" --data-binary "@$B1"
assert_status 201 "second monolithic push of the same blob"
assert_header Location "/v2/$R/blobs/$D1" "second push"
assert_eq "$(blob_identity "$D1")" "$id1" "second push: blob file not rewritten (same inode/mtime, ETag/Last-Modified)"
upload_start "$R" || bail "cannot start a session"
req PUT "$(with_query "$UPLOAD_LOC" "digest=$D1")" "${OCT[@]}" --data-binary "@$B1"
assert_status 201 "third push of the same blob, through a session"
assert_eq "$(blob_identity "$D1")" "$id1" "third push: blob file not rewritten"
assert_rows "SELECT count(*) FROM blobs WHERE digest=$(sqlq "$D1")" 1 "still one blobs row"
assert_rows "SELECT count(*) FROM repo_blobs WHERE digest=$(sqlq "$D1")" 1 "still one repo_blobs row"
assert_eq "$(spool_files)" 0 "no spool files (upload objects, multipart uploads) left after re-pushes"
# same content into another repository: a second link, same file
req POST "/v2/e2e/other/blobs/uploads/?digest=$D1" "${OCT[@]}" --data-binary "@$B1"
assert_status 201 "push of the same blob into another repository"
assert_eq "$(blob_identity "$D1")" "$id1" "other repository: same blob file"
assert_rows "SELECT count(*) FROM repo_blobs WHERE digest=$(sqlq "$D1")" 2 "two repo_blobs rows"

# ==== the empty blob
: >"$TMP/empty"
req POST "/v2/$R/blobs/uploads/?digest=$EMPTY_SHA256" "${OCT[@]}" -H 'Content-Length: 0' --data-binary "@$TMP/empty"
assert_status 201 "monolithic POST of the empty blob"
assert_header Docker-Content-Digest "$EMPTY_SHA256" "empty blob"
assert_blob_stored "$EMPTY_SHA256" "empty blob file exists"
assert_eq "$(blob_size "$EMPTY_SHA256")" 0 "empty blob file is empty"
req GET "/v2/$R/blobs/$EMPTY_SHA256"
assert_status 200 "GET the empty blob"
assert_header Content-Length 0 "GET the empty blob"
assert_eq "$DLSIZE" 0 "GET the empty blob: zero bytes"
# and through a session with an empty PUT
upload_start e2e/empty || bail "cannot start a session"
req GET "$UPLOAD_LOC"
assert_header Range "0-0" "empty session status"
req PUT "$(with_query "$UPLOAD_LOC" "digest=$EMPTY_SHA256")"
assert_status 201 "empty session closed by an empty PUT"
req HEAD "/v2/e2e/empty/blobs/$EMPTY_SHA256"
assert_status 200 "HEAD the empty blob in the second repository"
assert_header Content-Length 0 "HEAD the empty blob"

# ==== cancel: DELETE the session
upload_start "$R" || bail "cannot start a session"
L=$UPLOAD_LOC
U=$UPLOAD_ID
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 0-99999" --data-binary "@$TMP/b3b.1"
assert_status 202 "PATCH before cancel"
req DELETE "$L"
assert_status 204 "DELETE the session"
assert_rows "SELECT count(*) FROM uploads WHERE id=$(sqlq "$U")" 0 "cancelled session: uploads row gone"
assert_upload_absent "$U" "cancelled session: spool file (upload objects, multipart upload) gone"
req GET "$L"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "GET status of a cancelled session"
req PATCH "$L" "${OCT[@]}" -H "Content-Range: 100000-100009" --data-binary 0123456789
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "PATCH a cancelled session"
req PUT "$(with_query "$L" "digest=$D3b")"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "PUT a cancelled session"
req DELETE "$L"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "DELETE a cancelled session again"

# ==== bad upload ids
for id in 00000000-0000-4000-8000-000000000000 not-a-uuid 12345 \
	"$(printf '%s' "$UPLOAD_ID" | tr a-f A-F)" "${UPLOAD_ID}0" "${UPLOAD_ID:0:35}"; do
	for m in GET PATCH PUT DELETE; do
		extra=()
		[ "$m" = PATCH ] && extra=("${OCT[@]}" --data-binary x)
		[ "$m" = PUT ] && id_q="?digest=$D1" || id_q=
		req "$m" "/v2/$R/blobs/uploads/$id$id_q" "${extra[@]}"
		assert_status_error 404 BLOB_UPLOAD_UNKNOWN "$m upload id '$id'"
	done
done
# a live session is not reachable through another repository's URL
upload_start "$R" || bail "cannot start a session"
req GET "/v2/e2e/elsewhere/blobs/uploads/$UPLOAD_ID"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "session of $R asked through e2e/elsewhere"
req PATCH "/v2/e2e/elsewhere/blobs/uploads/$UPLOAD_ID" "${OCT[@]}" -H 'Content-Range: 0-0' --data-binary x
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "PATCH through another repository"
req DELETE "/v2/e2e/elsewhere/blobs/uploads/$UPLOAD_ID"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "DELETE through another repository"
req GET "$UPLOAD_LOC"
assert_status 204 "the session is intact after those attempts"

# ==== PUT without or with a malformed digest keeps the session
req PUT "$UPLOAD_LOC"
assert_status_error 400 DIGEST_INVALID "closing PUT without ?digest="
req PUT "$(with_query "$UPLOAD_LOC" "digest=sha256:1234")"
assert_status_error 400 DIGEST_INVALID "closing PUT with a malformed digest"
req GET "$UPLOAD_LOC"
assert_status 204 "session still usable after a refused PUT"

assert_no_5xx "no 5xx answered"
e2e_finish
