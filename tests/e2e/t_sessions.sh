#!/usr/bin/env bash
# t_sessions.sh — findings 6a, 6b and 6d of issue 13 (outside security
# review):
#   - a manifest whose descriptor size disagrees with the stored blob (or
#     child manifest) is refused with 400 MANIFEST_INVALID and leaves no
#     row or tag behind; a missing blob is still MANIFEST_BLOB_UNKNOWN;
#   - open upload sessions are capped per client address
#     ([limits] max_sessions_per_client): past it POST answers 429
#     TOOMANYREQUESTS with Retry-After; closing one lets the next through;
#     the count survives a restart (it is the session rows);
#   - with [gc] interval = 0 the daemon still expires sessions idle past
#     [storage] upload_expiry: row, spool file and Location all gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
E2E_EXTRA_LIMITS=$'max_sessions_per_client = 3'
E2E_EXTRA_INI=$'[gc]\ninterval = 0'
e2e_config
daemon_start

# ---------------------------------------------------------------- 6a
CFG=$TMP/cfg.json
blob_json lie/repo "$CFG" '{"architecture":"amd64","os":"linux"}'
L=$TMP/layer
mkblob "$L" 10
push_blob lie/repo "$L"
LD=$(sha256_of "$L")
M=$TMP/lie.json
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$CFG")" "$(desc_d "$MT_OCI_LAYER" "$LD" 999)" >"$M"
MD=$(sha256_of "$M")
put_manifest lie/repo v1 "$M"
assert_status_error 400 MANIFEST_INVALID "a layer descriptor saying 999 bytes for a 10-byte blob"
assert_match "$(jq -r '.errors[0].detail' "$BODY")" "999" "the detail names the declared size"
req GET /v2/lie/repo/manifests/v1
assert_status_error 404 MANIFEST_UNKNOWN "no tag v1 after the refused push"
req GET "/v2/lie/repo/manifests/$MD"
assert_status 404 "no manifest by digest after the refused push"
assert_rows "SELECT count(*) FROM manifests WHERE digest = $(sqlq "$MD")" 0 "no manifest row for the refused push"
assert_rows "SELECT count(*) FROM tags WHERE name = 'v1'" 0 "no tag row for the refused push"

# The config's size is checked the same way.
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc_d "$MT_OCI_CONFIG" "$(sha256_of "$CFG")" 5)" "$(desc "$MT_OCI_LAYER" "$L")" >"$M"
put_manifest lie/repo v2 "$M"
assert_status_error 400 MANIFEST_INVALID "a config descriptor with the wrong size"

# A missing blob is still MANIFEST_BLOB_UNKNOWN, whatever size it claims.
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$CFG")" \
	"$(desc_d "$MT_OCI_LAYER" sha256:0000000000000000000000000000000000000000000000000000000000000001 999)" >"$M"
put_manifest lie/repo v3 "$M"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "a missing layer stays MANIFEST_BLOB_UNKNOWN"

# The truthful manifest goes in; an index that lies about its child's size
# does not, the truthful index does.
GOOD=$TMP/good.json
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$CFG")" "$(desc "$MT_OCI_LAYER" "$L")" >"$GOOD"
push_manifest lie/repo good "$GOOD"
IDX=$TMP/index.json
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$MT_OCI_INDEX" \
	"$(desc_d "$MT_OCI_MANIFEST" "$(sha256_of "$GOOD")" $(($(fsize "$GOOD") + 1)))" >"$IDX"
ID=$(sha256_of "$IDX")
put_manifest lie/repo idx "$IDX"
assert_status_error 400 MANIFEST_INVALID "an index whose child descriptor has the wrong size"
assert_rows "SELECT count(*) FROM manifests WHERE digest = $(sqlq "$ID")" 0 "no row for the lying index"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$MT_OCI_INDEX" \
	"$(desc "$MT_OCI_MANIFEST" "$GOOD")" >"$IDX"
push_manifest lie/repo idx "$IDX"

# ---------------------------------------------------------------- 6b: the cap
OCT=(-H 'Content-Type: application/octet-stream')
assert_rows "SELECT count(*) FROM uploads" 0 "no session open before the cap test"
LOCS=()
for i in 1 2 3; do
	upload_start cap/repo && LOCS+=("$(hdr Location)")
done
assert_eq "${#LOCS[@]}" 3 "three sessions open (max_sessions_per_client = 3)"
assert_rows "SELECT count(*) FROM uploads WHERE client = '127.0.0.1'" 3 "the session rows record the client address"
NUP_BEFORE=$(upload_count)
req POST /v2/cap/repo/blobs/uploads/
assert_status_error 429 TOOMANYREQUESTS "a 4th open session from the same client"
assert_match "$(hdr Retry-After)" '^[0-9]+$' "the 429 carries Retry-After"
assert_no_header Location "the 429 opened no session"
assert_rows "SELECT count(*) FROM uploads" 3 "no row for the refused session"
if store_is_s3; then
	# A fresh session may have nothing in the bucket yet: the refused one
	# added nothing.
	assert_eq "$(upload_count)" "$NUP_BEFORE" "no upload object for the refused session"
else
	assert_eq "$(upload_count)" 3 "no spool file for the refused session"
fi
# A monolithic push also opens a (short) session: refused too while full.
SMALL=$TMP/small
mkblob "$SMALL" 100
req POST "/v2/cap/repo/blobs/uploads/?digest=$(sha256_of "$SMALL")" "${OCT[@]}" --data-binary "@$SMALL"
assert_status_error 429 TOOMANYREQUESTS "a monolithic push while the client holds 3 sessions"

# The count is the rows: it survives a restart.
daemon_restart
req POST /v2/cap/repo/blobs/uploads/
assert_status_error 429 TOOMANYREQUESTS "still 3 open sessions after a restart"

# Closing one (cancel) lets the next through; finishing one does too.
req DELETE "${LOCS[0]}"
assert_status 204 "cancel one session"
upload_start cap/repo && LOCS[0]=$(hdr Location)
assert_eq "$STATUS" 202 "after a cancel the next session opens"
req POST /v2/cap/repo/blobs/uploads/
assert_status 429 "full again"
req PUT "$(with_query "${LOCS[1]}" "digest=$(sha256_of "$SMALL")")" "${OCT[@]}" --data-binary "@$SMALL"
assert_status 201 "finish one session with a PUT"
upload_start cap/repo && LOCS[1]=$(hdr Location)
assert_eq "$STATUS" 202 "after a finished upload the next session opens"
for l in "${LOCS[@]}"; do req DELETE "$l"; done
assert_rows "SELECT count(*) FROM uploads" 0 "all sessions closed"

# ---------------------------------------------------------------- 6b: expiry
# [gc] interval = 0 (no collector) and upload_expiry = 2s: the daemon's own
# sweep (every second here) removes idle sessions.
daemon_stop
E2E_EXTRA_INI=$'[gc]\ninterval = 0\n[storage]\nupload_expiry = 2s'
e2e_config
daemon_start
CHUNK=$TMP/chunk
mkblob "$CHUNK" 1000
upload_start exp/repo
IDLE_LOC=$UPLOAD_LOC
IDLE_ID=$UPLOAD_ID
req PATCH "$IDLE_LOC" "${OCT[@]}" --data-binary "@$CHUNK"
assert_status 202 "a chunk into the session that will go idle"
assert_upload_stored "$IDLE_ID" "its spool file (upload objects) exists"
# A session whose one PATCH lasts longer than the expiry (40 KB at 10 KB/s)
# is in use, not idle: it must survive.
BIG=$TMP/big
mkblob "$BIG" 40000
upload_start exp/repo
SLOW_LOC=$UPLOAD_LOC
SLOW_ID=$UPLOAD_ID
req PATCH "$SLOW_LOC" "${OCT[@]}" --limit-rate 10K --data-binary "@$BIG"
assert_status 202 "a PATCH streaming for longer than upload_expiry completes"
assert_header Range "0-39999" "and the session kept all its bytes"
gone=
wait_status 404 80 GET "$IDLE_LOC" && gone=1
assert_eq "$gone" 1 "the idle session expires within 8s with [gc] interval = 0"
req GET "$IDLE_LOC"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "GET of the expired session's Location"
assert_upload_absent "$IDLE_ID" "the expired session's spool file (upload objects, multipart upload) is gone"
assert_rows "SELECT count(*) FROM uploads WHERE id = $(sqlq "$IDLE_ID")" 0 "the expired session's row is gone"
assert_log "upload: expired [0-9]+ idle upload session" "the daemon logs the expiry"
# The slow session, idle now, goes the same way.
wait_status 404 80 GET "$SLOW_LOC"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "the slow session, once idle, expires too"
assert_upload_absent "$SLOW_ID" "its spool file (upload objects) is gone"
assert_rows "SELECT count(*) FROM uploads" 0 "no session rows left"

e2e_finish
