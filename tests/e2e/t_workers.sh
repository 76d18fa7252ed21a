#!/bin/bash
# t_workers.sh — several workers (issue 4): a chunked upload whose PATCHes
# land on different workers, concurrent pushes of one blob to many
# repositories, concurrent tag moves.  Runs with 4 workers whatever
# E2E_WORKERS says.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
E2E_WORKERS=4
e2e_init
daemon_start

# --- a chunked upload, one connection per PATCH: SO_REUSEPORT spreads
# connections over the workers, so the chunks land on several of them.
mkblob "$TMP/big" $((16 * 65536))
D=$(sha256_of "$TMP/big")
upload_start team/chunks || bail "upload session"
ID=$UPLOAD_ID
off=0
for i in $(seq 0 15); do
	slice "$TMP/big" $off 65536 "$TMP/part"
	req PATCH "$UPLOAD_LOC" -H "Content-Range: $off-$((off + 65535))" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$TMP/part"
	[ "$STATUS" = 202 ] || t_fail "PATCH chunk $i" "status $STATUS body $(cat "$BODY")"
	UPLOAD_LOC=$(loc_url "$(hdr Location)")
	off=$((off + 65536))
done
assert_eq "$(hdr Range)" "0-$((off - 1))" "Range after 16 PATCHes on separate connections"
req PUT "$(with_query "$UPLOAD_LOC" "digest=$D")"
assert_status 201 "PUT closes the upload spread over workers"
workers=$(grep "access: .* PATCH /v2/team/chunks/blobs/uploads/$ID 202" "$LOG" | sed 's/.* w=\([0-9]*\)$/\1/' | sort -u | wc -l)
if [ "$workers" -ge 2 ]; then
	t_pass "the 16 PATCHes were served by $workers different workers"
else
	t_fail "the PATCHes were served by more than one worker" "workers seen: $workers"
fi
req GET "/v2/team/chunks/blobs/$D"
assert_status 200 "GET the blob assembled across workers"
assert_body_digest "$D" "its bytes hash to the digest"

# --- the same blob pushed to 12 repositories at once.
mkblob "$TMP/same" 300000
S=$(sha256_of "$TMP/same")
pids=()
for i in $(seq 1 12); do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 -X POST \
		"$BASE/v2/team/r$i/blobs/uploads/?digest=$S" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$TMP/same" >"$TMP/same.$i" &
	pids+=($!)
done
wait "${pids[@]}"
ok=0
for i in $(seq 1 12); do [ "$(cat "$TMP/same.$i")" = 201 ] && ok=$((ok + 1)); done
assert_eq "$ok" 12 "12 concurrent pushes of one blob to 12 repositories all get 201"
assert_eq "$(db "SELECT count(*) FROM repo_blobs WHERE digest='$S'")" 12 "12 repo_blobs rows for the blob"
assert_eq "$(db "SELECT count(*) FROM blobs WHERE digest='$S'")" 1 "one blobs row"
assert_eq "$(find "$ROOT/blobs" -name "${S#sha256:}" | wc -l)" 1 "one blob file on disk"
assert_eq "$(find "$ROOT/uploads" -type f | wc -l)" 0 "no spool left behind"
for i in 1 7 12; do
	req GET "/v2/team/r$i/blobs/$S"
	assert_body_digest "$S" "team/r$i serves the blob"
done

# --- concurrent tag moves: 10 manifests PUT to one tag at once.
blob_json team/tags "$TMP/cfg" '{}'
for i in $(seq 1 10); do
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"n":"%d"}}' \
		"$MT_OCI_MANIFEST" "$(desc application/vnd.oci.image.config.v1+json "$TMP/cfg")" "$i" >"$TMP/m$i.json"
done
pids=()
for i in $(seq 1 10); do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 -X PUT "$BASE/v2/team/tags/manifests/moving" \
		-H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$TMP/m$i.json" >"$TMP/tag.$i" &
	pids+=($!)
done
wait "${pids[@]}"
ok=0
for i in $(seq 1 10); do [ "$(cat "$TMP/tag.$i")" = 201 ] && ok=$((ok + 1)); done
assert_eq "$ok" 10 "10 concurrent PUTs to one tag all get 201"
req GET /v2/team/tags/manifests/moving
assert_status 200 "the moved tag resolves"
assert_body_digest "$(hdr Docker-Content-Digest)" "its body matches its Docker-Content-Digest"
found=0
for i in $(seq 1 10); do [ "$(sha256_of "$TMP/m$i.json")" = "$(hdr Docker-Content-Digest)" ] && found=1; done
assert_eq "$found" 1 "the tag points at one of the pushed manifests"
assert_eq "$(db "SELECT count(*) FROM tags WHERE name='moving'")" 1 "exactly one tag row"
assert_eq "$(db "SELECT count(*) FROM manifests m JOIN repositories r ON r.id=m.repo_id WHERE r.name='team/tags'")" 10 "all 10 manifests recorded"
req GET /v2/team/tags/tags/list
assert_eq "$(jq -c .tags "$BODY")" '["moving"]' "tags list has the one tag"

e2e_finish
