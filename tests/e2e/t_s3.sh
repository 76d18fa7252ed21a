#!/usr/bin/env bash
# t_s3.sh — the S3 blob backend ([storage] backend = s3) against a real
# Ceph RADOS Gateway of this script's own (tests/e2e/lib-s3.sh; it is
# stopped and started below, which must not touch the other suites'
# gateway), with a key prefix and part_size = 5MiB.  Asserted on the
# bucket itself (ListObjectsV2, ListMultipartUploads):
#  - a chunked upload whose PATCHes do not align with the parts, and a
#    monolithic one, give the right digest and one object at
#    <prefix>blobs/<alg>/<2 hex>/<hex>; nothing is left under uploads/;
#  - a monolithic push (POST ?digest=, or PUT ?digest= with the whole blob)
#    stores the right bytes and leaves no upload object; with a wrong
#    digest, no object at either digest's key and no multipart upload;
#  - a session continues on a second node (node A killed with -9 after an
#    acknowledged PATCH; node B with another root: only the metadata and
#    the bucket are shared) and finishes with the right digest; a node
#    killed while a PATCH streams keeps the acknowledged bytes;
#  - a wrong digest on PUT: 400 DIGEST_INVALID, no object under blobs/, no
#    unfinished multipart upload;
#  - DELETE of a session aborts its multipart upload; so does expiry;
#  - gc deletes the objects of unreferenced blobs (and empties trash/);
#  - fsck verifies the objects; --repair moves a corrupt one to quarantine/;
#  - GET with a Range; redirect = true: 307 to a presigned URL that plain
#    curl fetches;
#  - the gateway down: HEAD still answers (from the metadata), GET is 503
#    with the error envelope, /readyz is not ready; both recover;
#  - a wrong secret key: a clear log line at start.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"

for c in radosgw ceph-mon ceph-osd radosgw-admin ceph-authtool monmaptool; do
	if ! command -v "$c" >/dev/null; then
		echo "ok 1 - $c is not installed (scripts/install-deps: radosgw ceph-mon ceph-osd ceph-base) # SKIP"
		echo "1..1"
		exit 0
	fi
done
# A gateway of this script's own, even under lib-s3.sh run.
unset E2E_S3_ENDPOINT E2E_S3_CONF E2E_S3_DIR
# shellcheck disable=SC2034 # read by lib.sh
E2E_STORE=s3
E2E_S3_PREFIX=reg/
# shellcheck disable=SC2034
E2E_S3_PART_SIZE=5MiB
# No collector and no expiry unless a section below asks for them.
E2E_EXTRA_INI=$'[gc]\ninterval = 0'
e2e_init
daemon_start

W=$TMP/w
mkdir -p "$W"
OCT=(-H 'Content-Type: application/octet-stream')
MiB=$((1 << 20))
R=s3/app

# mp_of ID: the unfinished multipart uploads of session ID, one a line.
mp_of() { s3_uploads "${E2E_S3_PREFIX}uploads/$1/"; }
objs_of() { s3_list "${E2E_S3_PREFIX}uploads/$1/"; }
kill9() {
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}
# patch LOC FILE FROM: PATCH FILE's bytes at offset FROM; asserts 202 and
# the Range that follows.
patch() {
	local n
	n=$(fsize "$2")
	req PATCH "$1" "${OCT[@]}" -H "Content-Range: $3-$(($3 + n - 1))" --data-binary "@$2"
	assert_status 202 "PATCH $3-$(($3 + n - 1)) ($n bytes)"
	assert_header Range "0-$(($3 + n - 1))" "PATCH $3-$(($3 + n - 1))"
}
pull() { # REPO REF FILE: the manifest REF pulls with FILE's digest
	req GET "/v2/$1/manifests/$2" -H "Accept: $MT_OCI_MANIFEST, $MT_OCI_INDEX"
	assert_status 200 "pull $1:$2"
	assert_body_digest "$(sha256_of "$3")" "pull $1:$2"
}
pullblob() { # REPO FILE: FILE's blob pulls with its digest
	req GET "/v2/$1/blobs/$(sha256_of "$2")"
	assert_status 200 "blob $(basename "$2") in $1"
	assert_body_digest "$(sha256_of "$2")" "blob $(basename "$2") in $1"
}
# stored_is DIGEST FILE DESC: the object holds FILE's bytes.
stored_is() {
	if blob_read "$1" "$W/stored"; then
		assert_eq "$(sha256_of "$W/stored")" "$(sha256_of "$2")" "$3: the object $(blob_key "$1") holds the pushed bytes"
	else
		t_fail "$3: the object $(blob_key "$1") exists" "GET on the bucket failed"
	fi
}

# ---------------------------------------------------------------- chunked, unaligned
# 12 MiB + 123 in PATCHes of 3 MiB + 1, 4 MiB - 7 and 1.5 MiB + 99, the rest
# with the PUT: no boundary is a part boundary.
mkblob "$W/big" $((12 * MiB + 123))
DBIG=$(sha256_of "$W/big")
slice "$W/big" 0 $((3 * MiB + 1)) "$W/c1"
slice "$W/big" $((3 * MiB + 1)) $((4 * MiB - 7)) "$W/c2"
slice "$W/big" $((7 * MiB - 6)) $((3 * MiB / 2 + 99)) "$W/c3"
off4=$((7 * MiB - 6 + 3 * MiB / 2 + 99))
slice "$W/big" "$off4" $((12 * MiB + 123 - off4)) "$W/c4"
upload_start "$R" || bail "POST a session"
L=$UPLOAD_LOC
U=$UPLOAD_ID
patch "$L" "$W/c1" 0
patch "$L" "$W/c2" $((3 * MiB + 1))
patch "$L" "$W/c3" $((7 * MiB - 6))
assert_eq "$(mp_of "$U" | grep -c .)" 1 "past 5 MiB the session has one multipart upload at uploads/$U/data"
assert_match "$(mp_of "$U" | cut -d' ' -f1)" "^${E2E_S3_PREFIX}uploads/$U/data$" "its key is <prefix>uploads/<id>/data"
req GET "$L"
assert_header Range "0-$((off4 - 1))" "the session's status after three PATCHes"
req PUT "$(with_query "$L" "digest=$DBIG")" "${OCT[@]}" --data-binary "@$W/c4"
assert_status 201 "PUT with the last chunk closes the unaligned upload"
assert_header Docker-Content-Digest "$DBIG" "the unaligned upload"
req GET "/v2/$R/blobs/$DBIG"
assert_status 200 "GET the unaligned upload's blob"
assert_body_digest "$DBIG" "GET the unaligned upload's blob"
assert_eq "$DLSIZE" $((12 * MiB + 123)) "GET: every byte"
stored_is "$DBIG" "$W/big" "unaligned upload"
assert_eq "$(blob_size "$DBIG")" $((12 * MiB + 123)) "the object's size is the blob's"
assert_eq "$(mp_of "$U" | grep -c .)" 0 "no multipart upload left once the blob is stored"
assert_eq "$(objs_of "$U" | grep -c .)" 0 "no object left under uploads/$U/"

# Monolithic, above one part.
mkblob "$W/mono" $((6 * MiB + 5))
DMONO=$(sha256_of "$W/mono")
push_blob "$R" "$W/mono"
stored_is "$DMONO" "$W/mono" "monolithic 6 MiB push"
assert_eq "$(s3_list "${E2E_S3_PREFIX}uploads/" | grep -c .)" 0 "monolithic POST: no object left under uploads/"
assert_eq "$(multipart_count)" 0 "monolithic POST: no unfinished multipart upload"
# Every key is under the prefix.
assert_eq "$(s3_list "" | grep -v "^$E2E_S3_PREFIX" | head -n 3)" "" "every object is under the prefix $E2E_S3_PREFIX"

# A digest known before the body (POST ?digest=, or the whole blob in the
# PUT ?digest= of an empty session) stages the parts at the blob's key
# itself: completed there once the digest checked, aborted if it did not.
mkblob "$W/mput" $((11 * MiB + 9))
DMPUT=$(sha256_of "$W/mput")
upload_start "$R" || bail "POST a session"
U=$UPLOAD_ID
req PUT "$(with_query "$UPLOAD_LOC" "digest=$DMPUT")" "${OCT[@]}" --data-binary "@$W/mput"
assert_status 201 "monolithic PUT of 11 MiB"
assert_header Docker-Content-Digest "$DMPUT" "monolithic PUT"
stored_is "$DMPUT" "$W/mput" "monolithic PUT"
assert_eq "$(blob_size "$DMPUT")" $((11 * MiB + 9)) "monolithic PUT: the object's size is the blob's"
assert_eq "$(objs_of "$U" | grep -c .)" 0 "monolithic PUT: no object left under uploads/$U/"
assert_eq "$(multipart_count)" 0 "monolithic PUT: no unfinished multipart upload"
pullblob "$R" "$W/mput"
# Wrong digests, on both forms: nothing at either key, no multipart upload.
WRONG=sha256:$(printf 'not it' | sha256sum | cut -d' ' -f1)
for form in put post; do
	mkblob "$W/mw" $((11 * MiB + 3))
	DMW=$(sha256_of "$W/mw")
	nblobs=$(blob_count)
	if [ "$form" = put ]; then
		upload_start "$R" || bail "POST a session"
		U=$UPLOAD_ID
		req PUT "$(with_query "$UPLOAD_LOC" "digest=$WRONG")" "${OCT[@]}" --data-binary "@$W/mw"
	else
		req POST "/v2/$R/blobs/uploads/?digest=$WRONG" "${OCT[@]}" --data-binary "@$W/mw"
	fi
	assert_status_error 400 DIGEST_INVALID "monolithic $form of 11 MiB with a wrong digest"
	assert_blob_absent "$WRONG" "monolithic $form, wrong digest: no object at the claimed digest's key"
	assert_blob_absent "$DMW" "monolithic $form, wrong digest: no object at the content's key"
	assert_eq "$(blob_count)" "$nblobs" "monolithic $form, wrong digest: no new object under blobs/"
	assert_eq "$(s3_uploads "$(blob_key "$WRONG")" | grep -c .)" 0 "monolithic $form, wrong digest: no multipart upload at the claimed digest's key"
	assert_eq "$(multipart_count)" 0 "monolithic $form, wrong digest: no unfinished multipart upload"
	if [ "$form" = put ]; then
		req DELETE "$UPLOAD_LOC"
		assert_eq "$(objs_of "$U" | grep -c .)" 0 "monolithic PUT, wrong digest: nothing left of the session once it ends"
	fi
done
assert_eq "$(s3_list "${E2E_S3_PREFIX}uploads/" | grep -c .)" 0 "no object left under uploads/"

# ---------------------------------------------------------------- Range
req GET "/v2/$R/blobs/$DBIG" -H "Range: bytes=$((5 * MiB - 10))-$((5 * MiB + 99))"
assert_status 206 "GET with a Range across a part boundary"
assert_header Content-Range "bytes $((5 * MiB - 10))-$((5 * MiB + 99))/$((12 * MiB + 123))" "Range GET"
slice "$W/big" $((5 * MiB - 10)) 110 "$W/range"
assert_body_digest "$(sha256_of "$W/range")" "the Range GET's 110 bytes"
req GET "/v2/$R/blobs/$DBIG" -H "Range: bytes=$((12 * MiB))-"
assert_status 206 "GET with an open Range"
slice "$W/big" $((12 * MiB)) 123 "$W/tail"
assert_body_digest "$(sha256_of "$W/tail")" "the open Range's last 123 bytes"

# ---------------------------------------------------------------- wrong digest
mkblob "$W/w" $((6 * MiB + 17))
DW=$(sha256_of "$W/w")
nblobs=$(blob_count)
upload_start "$R" || bail "POST a session"
L=$UPLOAD_LOC
U=$UPLOAD_ID
patch "$L" "$W/w" 0
assert_eq "$(mp_of "$U" | grep -c .)" 1 "before the PUT the session has its multipart upload"
req PUT "$(with_query "$L" "digest=$WRONG")"
assert_status_error 400 DIGEST_INVALID "PUT with a digest the 6 MiB do not hash to"
assert_blob_absent "$WRONG" "nothing under the claimed digest"
assert_blob_absent "$DW" "nothing under the content's digest"
assert_eq "$(blob_count)" "$nblobs" "no new object under blobs/"
req GET "$L"
if [ "$STATUS" = 404 ]; then
	# The session ended with the refusal: nothing of it may remain.
	assert_eq "$(mp_of "$U" | grep -c .)" 0 "the refused session's multipart upload is aborted"
	assert_eq "$(objs_of "$U" | grep -c .)" 0 "no object left under uploads/$U/"
else
	# The session lives on (the client may PUT the right digest): cancel
	# it, and then nothing may remain.
	req DELETE "$L"
	assert_status 204 "DELETE the refused session"
	assert_eq "$(mp_of "$U" | grep -c .)" 0 "the refused session's multipart upload is aborted once it ends"
fi
assert_eq "$(multipart_count)" 0 "no unfinished multipart upload in the bucket"

# ---------------------------------------------------------------- DELETE aborts
upload_start "$R" || bail "POST a session"
L=$UPLOAD_LOC
U=$UPLOAD_ID
slice "$W/big" 0 $((5 * MiB + 1000)) "$W/d1"
patch "$L" "$W/d1" 0
assert_eq "$(mp_of "$U" | grep -c .)" 1 "a session past one part has a multipart upload"
req DELETE "$L"
assert_status 204 "DELETE the session"
assert_eq "$(mp_of "$U" | grep -c .)" 0 "DELETE aborts its multipart upload"
assert_eq "$(objs_of "$U" | grep -c .)" 0 "DELETE leaves no object under uploads/$U/"
req GET "$L"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "the deleted session is gone"

# ---------------------------------------------------------------- a second node
# Node A takes 7 MiB + 5 (one part and a tail), acknowledges, and dies with
# -9.  Node B has a root of its own (on SQLite, only a copy of meta.db: the
# metadata and the bucket are everything the nodes share) and finishes.
mkblob "$W/n" $((13 * MiB + 321))
DN=$(sha256_of "$W/n")
slice "$W/n" 0 $((7 * MiB + 5)) "$W/n1"
slice "$W/n" $((7 * MiB + 5)) $((4 * MiB)) "$W/n2"
slice "$W/n" $((11 * MiB + 5)) $((2 * MiB + 316)) "$W/n3"
upload_start "$R" || bail "POST a session"
U=$UPLOAD_ID
LPATH=/v2/$R/blobs/uploads/$U
patch "$UPLOAD_LOC" "$W/n1" 0
kill9
t_pass "node A killed with -9 after an acknowledged PATCH"
ROOT_A=$ROOT
ROOT=$TMP/nodeB
mkdir -p "$ROOT"
if [ -z "$E2E_PG_DB_URL" ]; then
	cp "$ROOT_A"/meta.db* "$ROOT/" || bail "copy meta.db to node B's root"
fi
e2e_config
daemon_start
req GET "$LPATH"
assert_status 204 "node B knows the session"
assert_header Range "0-$((7 * MiB + 4))" "node B: every acknowledged byte is there"
patch "$LPATH" "$W/n2" $((7 * MiB + 5))
req PUT "$(with_query "$LPATH" "digest=$DN")" "${OCT[@]}" --data-binary "@$W/n3"
assert_status 201 "node B closes the session node A began"
req GET "/v2/$R/blobs/$DN"
assert_body_digest "$DN" "the blob begun on node A and finished on node B"
stored_is "$DN" "$W/n" "resumed on node B"
assert_eq "$(mp_of "$U" | grep -c .)" 0 "the resumed session left no multipart upload"
assert_eq "$(objs_of "$U" | grep -c .)" 0 "the resumed session left no object under uploads/"

# Killed in the middle of a PATCH: the bytes acknowledged before stay, the
# session goes on from wherever the status says, and the blob is right.
mkblob "$W/k" $((14 * MiB + 77))
DK=$(sha256_of "$W/k")
slice "$W/k" 0 $((6 * MiB)) "$W/k1"
slice "$W/k" $((6 * MiB)) $((8 * MiB + 77)) "$W/k2"
upload_start "$R" || bail "POST a session"
U=$UPLOAD_ID
LPATH=/v2/$R/blobs/uploads/$U
patch "$UPLOAD_LOC" "$W/k1" 0
curl -s -o /dev/null --max-time 60 --limit-rate 2M -X PATCH "${OCT[@]}" \
	-H "Content-Range: $((6 * MiB))-$((14 * MiB + 76))" --data-binary "@$W/k2" "$BASE$LPATH" &
CPID=$!
sleep 2
kill9
wait "$CPID" 2>/dev/null
t_pass "the node killed with -9 while a PATCH streams"
daemon_start
req GET "$LPATH"
assert_status 204 "after the crash the session is known"
END=$(hdr Range)
END=${END#0-}
assert_match "$END" '^[0-9]+$' "after the crash the status has a Range (0-$END)"
if [ -n "$END" ] && [ "$END" -ge $((6 * MiB - 1)) ] && [ "$END" -lt $((14 * MiB + 76)) ]; then
	t_pass "the acknowledged 6 MiB are kept, the cut PATCH is not whole (0-$END)"
	slice "$W/k" $((END + 1)) $((14 * MiB + 76 - END)) "$W/k3"
	patch "$LPATH" "$W/k3" $((END + 1))
	req PUT "$(with_query "$LPATH" "digest=$DK")"
	assert_status 201 "the rest from byte $((END + 1)), then PUT, closes the session"
	req GET "/v2/$R/blobs/$DK"
	assert_body_digest "$DK" "the blob of the session cut by the crash"
	assert_eq "$(mp_of "$U" | grep -c .)" 0 "the session cut by the crash left no multipart upload"
else
	t_fail "the acknowledged 6 MiB are kept, the cut PATCH is not whole" "Range 0-$END"
fi

# ---------------------------------------------------------------- gc
# An unreferenced blob, made old: gc deletes its object; a tagged image's
# blobs stay.
blob_json "$R" "$W/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
mkblob "$W/l1" 300000
push_blob "$R" "$W/l1"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$W/cfg")" "$(desc "$MT_OCI_LAYER" "$W/l1")" >"$W/m"
push_manifest "$R" v1 "$W/m"
L1=$(sha256_of "$W/l1")
mkblob "$W/z" 200000
push_blob "$R" "$W/z"
Z=$(sha256_of "$W/z")
assert_blob_stored "$Z" "the unreferenced blob has its object before gc"
daemon_stop
db "UPDATE repo_blobs SET created = created - 7200 WHERE digest IN ('$Z', '$DBIG', '$DN');
    UPDATE blobs SET created = created - 7200 WHERE digest IN ('$Z', '$DBIG', '$DN')" >/dev/null
OUT=$("$OCIREGD" gc -c "$CONF" 2>&1)
assert_eq "$?" 0 "gc exits 0"
assert_match "$OUT" "blob +$Z " "gc names the unreferenced blob"
assert_blob_absent "$Z" "gc deleted the unreferenced blob's object"
assert_blob_absent "$DBIG" "gc deleted the 12 MiB blob's object"
assert_blob_stored "$L1" "gc kept the tagged image's layer"
assert_blob_stored "$(sha256_of "$W/m")" "gc kept the tagged manifest"
assert_eq "$(trash_count)" 0 "nothing left under trash/ after gc"
daemon_start
pull "$R" v1 "$W/m"
pullblob "$R" "$W/l1"

# ---------------------------------------------------------------- fsck
OUT=$("$OCIREGD" fsck -c "$CONF" 2>&1)
assert_eq "$?" 0 "fsck of the bucket: exit 0"
assert_match "$OUT" 'no problems$' "fsck of the bucket: no problems"
blob_corrupt "$L1" || bail "overwrite the object of $L1"
blob_read "$L1" "$W/bad"
BADSUM=$(sha256_of "$W/bad")
OUT=$("$OCIREGD" fsck -c "$CONF" 2>&1)
assert_eq "$?" 1 "fsck finds the corrupt object: exit 1"
assert_match "$OUT" "^corrupt +$L1 .*the content hashes to $BADSUM" "fsck names the corrupt object and what it hashes to"
assert_blob_stored "$L1" "fsck without --repair leaves the object"
OUT=$("$OCIREGD" fsck -c "$CONF" --repair 2>&1)
assert_eq "$?" 1 "fsck --repair: exit 1 (there was a problem)"
assert_match "$OUT" "^corrupt +$L1 .*repaired: moved to " "--repair quarantines the corrupt object"
assert_blob_absent "$L1" "the corrupt object left blobs/"
if quarantine_read "sha256-${L1#sha256:}" "$W/q"; then
	assert_eq "$(sha256_of "$W/q")" "$BADSUM" "quarantine/sha256-<hex> keeps the corrupt bytes"
else
	t_fail "the corrupt object is at ${E2E_S3_PREFIX}quarantine/sha256-<hex>" "$(s3_list "${E2E_S3_PREFIX}quarantine/")"
fi
req GET "/v2/$R/blobs/$L1"
assert_status_error 404 BLOB_UNKNOWN "after --repair the corrupt blob is 404"
push_blob "$R" "$W/l1"
pullblob "$R" "$W/l1"

# ---------------------------------------------------------------- expiry
daemon_stop
# shellcheck disable=SC2034
E2E_EXTRA_INI=$'[gc]\ninterval = 0\n[storage]\nupload_expiry = 2s'
e2e_config
daemon_start
upload_start "$R" || bail "POST a session"
L=$UPLOAD_LOC
U=$UPLOAD_ID
patch "$L" "$W/d1" 0
assert_eq "$(mp_of "$U" | grep -c .)" 1 "the session that will expire has a multipart upload"
wait_status 404 100 GET "$L"
assert_status 404 "the idle session expires within 10 s (upload_expiry = 2s)"
for ((n = 0; n < 50; n++)); do
	[ -z "$(mp_of "$U")" ] && [ -z "$(objs_of "$U")" ] && break
	sleep 0.1
done
assert_eq "$(mp_of "$U" | grep -c .)" 0 "expiry aborted its multipart upload"
assert_eq "$(objs_of "$U" | grep -c .)" 0 "expiry left no object under uploads/$U/"

# ---------------------------------------------------------------- redirect
daemon_stop
E2E_S3_EXTRA='redirect = true'
e2e_config
daemon_start
req GET "/v2/$R/blobs/$DMONO"
assert_status 307 "redirect = true: blob GET answers 307"
LOC=$(hdr Location)
assert_match "$LOC" "^$E2E_S3_ENDPOINT/" "the Location is on the S3 endpoint"
assert_match "$LOC" "X-Amz-Signature=" "the Location is presigned"
code=$(curl -s --max-time 60 -o "$W/redir" -w '%{http_code}' "$LOC")
assert_eq "$code" 200 "plain curl fetches the presigned URL"
assert_eq "$(sha256_of "$W/redir")" "$DMONO" "the presigned URL gives the blob's bytes"
req HEAD "/v2/$R/blobs/$DMONO"
assert_status 200 "redirect = true: HEAD still answers itself"
assert_header Content-Length $((6 * MiB + 5)) "HEAD"
daemon_stop
E2E_S3_EXTRA=
e2e_config
daemon_start

# ---------------------------------------------------------------- outage
req GET /readyz
assert_status 200 "/readyz before the outage"
s3_gw_down || bail "stop the gateway"
t_pass "the gateway is down (the monitor and the osd keep the data)"
req HEAD "/v2/$R/blobs/$DMONO"
assert_status 200 "HEAD of a blob while S3 is down (from the metadata)"
assert_header Content-Length $((6 * MiB + 5)) "HEAD while S3 is down"
assert_header Docker-Content-Digest "$DMONO" "HEAD while S3 is down"
t0=$(date +%s)
req GET "/v2/$R/blobs/$DMONO"
t1=$(date +%s)
assert_status 503 "GET of a blob while S3 is down"
assert_match "$(jq -r '.errors[0] | has("code") and has("message")' "$BODY" 2>&1)" '^true$' \
	"the 503 carries the error envelope"
assert_match "$((t1 - t0))" '^([0-9]|1[0-9]|2[0-5])$' "the 503 comes within 25 s ($((t1 - t0)) s)"
wait_status 503 100 GET /readyz
assert_status 503 "/readyz is not ready within 10 s while S3 is down"
s3_gw_up || bail "start the gateway again"
wait_status 200 300 GET /readyz
assert_status 200 "/readyz is ready again within 30 s of the gateway's return"
req GET "/v2/$R/blobs/$DMONO"
assert_status 200 "GET after the outage"
assert_body_digest "$DMONO" "GET after the outage"
push_blob "$R" "$W/z"
assert_blob_stored "$Z" "a push after the outage lands in the bucket"

# ---------------------------------------------------------------- credentials
daemon_stop
sed 's|^secret_key_file = .*|secret_key = not-the-secret-key-0123456789|' "$CONF" >"$TMP/badkey.ini"
grep -q '^secret_key = not-the' "$TMP/badkey.ini" || bail "write a config with a wrong secret key"
: >"$TMP/badkey.log"
"$OCIREGD" -c "$TMP/badkey.ini" </dev/null >>"$TMP/badkey.log" 2>&1 &
BADPID=$!
found=
for ((n = 0; n < 150; n++)); do
	grep -Eiq 's3.*(credential|secret|signature|access key|access denied|forbidden|403)' "$TMP/badkey.log" && { found=1; break; }
	kill -0 "$BADPID" 2>/dev/null || { sleep 0.2; grep -Eiq 's3.*(credential|secret|signature|access key|access denied|forbidden|403)' "$TMP/badkey.log" && found=1; break; }
	sleep 0.1
done
kill -TERM "$BADPID" 2>/dev/null
wait_dead "$BADPID" 100 || kill -KILL "$BADPID" 2>/dev/null
wait "$BADPID" 2>/dev/null
assert_eq "$found" 1 "a wrong secret key: a clear log line at start naming S3 and the credentials"
diag "$(grep -Ei 's3' "$TMP/badkey.log" | head -n 3)"

daemon_start
e2e_finish
