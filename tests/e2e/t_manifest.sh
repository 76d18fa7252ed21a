#!/usr/bin/env bash
# t_manifest.sh — PUT/GET/HEAD/DELETE of manifests: exact bytes, headers,
# validation errors, indexes, Docker schema2, tag moves, the sqlite rows,
# max_manifest_size and persistence across a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
daemon_start

R=team/app
W=$TMP/w
mkdir -p "$W"

# ---------------------------------------------------------------- blobs
mkblob "$W/l1" 3000
mkblob "$W/l2" 5000
L1=$(sha256_of "$W/l1")
L2=$(sha256_of "$W/l2")
push_blob $R "$W/l1"
push_blob $R "$W/l2"
blob_json $R "$W/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
CFG=$(sha256_of "$W/cfg")
blob_json $R "$W/empty" '{}'
assert_eq "$(sha256_of "$W/empty")" "$EMPTY_JSON_DIGEST" "the empty JSON blob {} has the well-known digest"
req HEAD "/v2/$R/blobs/$EMPTY_JSON_DIGEST"
assert_status 200 "the empty config blob is in $R"

# ---------------------------------------------------------------- image manifest
# Pretty-printed with odd whitespace and key order: the registry must keep
# these exact bytes (no re-serialization).
cat >"$W/m1" <<EOF
{
   "schemaVersion" : 2,
   "mediaType": "$MT_OCI_MANIFEST",
   "config": $(desc $MT_OCI_CONFIG "$W/cfg"),
   "layers": [
      $(desc $MT_OCI_LAYER "$W/l1"),
      $(desc $MT_OCI_LAYER "$W/l2")
   ],
   "annotations": {"org.example.note": "caf\u00e9 \t tab", "z": "1"}
}
EOF
M1=$(sha256_of "$W/m1")
M1SIZE=$(fsize "$W/m1")
put_manifest $R v1 "$W/m1"
assert_status 201 "PUT OCI image manifest by tag"
assert_header Location "/v2/$R/manifests/$M1" "PUT by tag"
assert_header Docker-Content-Digest "$M1" "PUT by tag"
assert_no_header OCI-Subject "PUT of a manifest without subject"

for ref in v1 "$M1"; do
	req GET "/v2/$R/manifests/$ref"
	assert_status 200 "GET manifest by ${ref:0:12}"
	assert_body_digest "$M1" "GET by ${ref:0:12}: exact bytes"
	assert_eq "$(cmp -s "$BODY" "$W/m1" && echo same)" same "GET by ${ref:0:12}: body identical to what was pushed"
	assert_header Content-Type "$MT_OCI_MANIFEST" "GET by ${ref:0:12}"
	assert_header Docker-Content-Digest "$M1" "GET by ${ref:0:12}"
	assert_header Content-Length "$M1SIZE" "GET by ${ref:0:12}"
	assert_header Etag "\"$M1\"" "GET by ${ref:0:12}"
	req HEAD "/v2/$R/manifests/$ref"
	assert_status 200 "HEAD manifest by ${ref:0:12}"
	assert_header Content-Type "$MT_OCI_MANIFEST" "HEAD by ${ref:0:12}"
	assert_header Docker-Content-Digest "$M1" "HEAD by ${ref:0:12}"
	assert_header Content-Length "$M1SIZE" "HEAD by ${ref:0:12}"
	assert_header Etag "\"$M1\"" "HEAD by ${ref:0:12}"
	assert_eq "$(head_then_get "/v2/$R/manifests/$ref" "$W/htg")" "200 0" "HEAD then GET by ${ref:0:12} on one connection"
	assert_eq "$(sha256_of "$W/htg")" "$M1" "HEAD by ${ref:0:12} sends no body (the GET after it on the same connection is intact)"
done

# ---- sqlite rows
RID=$(repo_id $R)
assert_match "$RID" '^[0-9]+$' "repository row for $R"
# artifact_type holds the effective artifact type: the manifest's
# artifactType, else its config media type (what the referrers API reports).
assert_rows "SELECT media_type||'|'||artifact_type||'|'||subject||'|'||size FROM manifests WHERE repo_id=$RID AND digest='$M1'" \
	"$MT_OCI_MANIFEST|$MT_OCI_CONFIG||$M1SIZE" "manifests row for the image"
assert_rows "SELECT digest FROM tags WHERE repo_id=$RID AND name='v1'" "$M1" "tags row v1 -> image"
assert_rows "SELECT group_concat(ref||':'||is_manifest, ' ') FROM (SELECT ref, is_manifest FROM manifest_refs WHERE repo_id=$RID AND digest='$M1' ORDER BY ref) s" \
	"$(printf '%s\n' "$CFG:0" "$L1:0" "$L2:0" | LC_ALL=C sort | paste -sd' ')" "manifest_refs rows: config and both layers, is_manifest=0"

# ---- PUT by digest
put_manifest $R "$M1" "$W/m1"
assert_status 201 "PUT the same manifest by digest"
assert_header Location "/v2/$R/manifests/$M1" "PUT by digest"
assert_header Docker-Content-Digest "$M1" "PUT by digest"
assert_rows "SELECT count(*) FROM manifests WHERE repo_id=$RID AND digest='$M1'" 1 "re-PUT keeps one manifests row"

# same JSON, different bytes (compact) -> a different digest
jq -c . "$W/m1" >"$W/m1c"
M1C=$(sha256_of "$W/m1c")
assert_ne "$M1C" "$M1" "compact re-serialization has another digest"
put_manifest $R "$M1C" "$W/m1c"
assert_status 201 "PUT the compact form by its digest"
assert_header Docker-Content-Digest "$M1C" "compact form"
req GET "/v2/$R/manifests/$M1C"
assert_body_digest "$M1C" "GET compact form"
req GET "/v2/$R/manifests/$M1"
assert_body_digest "$M1" "the pretty form is unchanged"

# PUT by digest with a body that does not match
put_manifest $R "$M1" "$W/m1c"
assert_status_error 400 DIGEST_INVALID "PUT by digest with a body of another digest"
put_manifest $R "sha256:0000000000000000000000000000000000000000000000000000000000000000" "$W/m1"
assert_status_error 400 DIGEST_INVALID "PUT by an all-zero digest"
put_manifest $R "sha256:abc" "$W/m1"
assert_status_error 400 DIGEST_INVALID "PUT by a malformed (short) digest"
put_manifest $R "md5:d41d8cd98f00b204e9800998ecf8427e" "$W/m1"
assert_status_error 400 DIGEST_INVALID "PUT by an unknown-algorithm digest"
# sha512 reference: the body's sha512 is accepted (or refused with a 400, never a 5xx)
put_manifest $R "$(sha512_of "$W/m1")" "$W/m1"
assert_match "$STATUS" '^(201|400)$' "PUT by sha512 digest: 201 or a clean 400 (got $STATUS)"
if [ "$STATUS" = 201 ]; then
	assert_header Docker-Content-Digest "$(sha512_of "$W/m1")" "PUT by sha512"
	req GET "/v2/$R/manifests/$(sha512_of "$W/m1")"
	assert_status 200 "GET by sha512 digest"
	assert_body_digest "$M1" "GET by sha512 digest"
fi

# ---- unknowns
req GET "/v2/$R/manifests/nope"
assert_status_error 404 MANIFEST_UNKNOWN "GET unknown tag"
req GET "/v2/$R/manifests/sha256:1111111111111111111111111111111111111111111111111111111111111111"
assert_status_error 404 MANIFEST_UNKNOWN "GET unknown digest"
req HEAD "/v2/$R/manifests/nope"
assert_status 404 "HEAD unknown tag"
req GET "/v2/no/such/repo/manifests/v1"
assert_status_error 404 NAME_UNKNOWN "GET manifest in an unknown repository"
req GET "/v2/no/such/repo/manifests/$M1"
assert_status_error 404 NAME_UNKNOWN "GET manifest by digest in an unknown repository"
req HEAD "/v2/no/such/repo/manifests/v1"
assert_status 404 "HEAD manifest in an unknown repository"
# A reference that is neither a tag nor a digest cannot exist: GET and HEAD
# answer 404 MANIFEST_UNKNOWN (distribution-spec v1.1 conformance,
# .INVALID_MANIFEST_NAME; Distribution and zot agree); PUT and DELETE 400.
for ref in sha256:zz .INVALID_MANIFEST_NAME "t$(printf '%0128d' 0)" "foo:bar" "-x"; do
	req GET "/v2/$R/manifests/$ref"
	assert_status_error 404 MANIFEST_UNKNOWN "GET by the impossible reference '${ref:0:20}'"
	req HEAD "/v2/$R/manifests/$ref"
	assert_status 404 "HEAD by the impossible reference '${ref:0:20}'"
	req DELETE "/v2/$R/manifests/$ref"
	assert_status 400 "DELETE by the impossible reference '${ref:0:20}'"
done
req GET "/v2/no/such/repo/manifests/.INVALID_MANIFEST_NAME"
assert_status 404 "GET of an impossible reference in an unknown repository"
# a manifest is not a blob and a blob is not a manifest
req GET "/v2/$R/blobs/$L1"
assert_status 200 "layer is a blob"
req GET "/v2/$R/manifests/$L1"
assert_status_error 404 MANIFEST_UNKNOWN "a blob digest is not a manifest"

# ---------------------------------------------------------------- Content-Type
put_manifest $R ct1 "$W/m1" "$MT_DOCKER_MANIFEST"
assert_status_error 400 MANIFEST_INVALID "Content-Type (docker v2) disagrees with body mediaType (OCI)"
put_manifest $R ct1 "$W/m1" "$MT_OCI_INDEX"
assert_status_error 400 MANIFEST_INVALID "Content-Type (OCI index) disagrees with body mediaType (OCI manifest)"
req GET "/v2/$R/manifests/ct1"
assert_status_error 404 MANIFEST_UNKNOWN "a refused PUT creates no tag"
# Content-Type with parameters is still the same type
put_manifest $R ct2 "$W/m1" "$MT_OCI_MANIFEST; charset=utf-8"
assert_match "$STATUS" '^(201|400)$' "Content-Type with a parameter: 201 or a clean 400 (got $STATUS)"
# no Content-Type: the body's mediaType is used
put_manifest $R ct3 "$W/m1" -
assert_status 201 "PUT without Content-Type, mediaType in the body"
req GET "/v2/$R/manifests/ct3"
assert_header Content-Type "$MT_OCI_MANIFEST" "served with the body's mediaType"
# no mediaType in the body: the Content-Type is used and served back
printf '{"schemaVersion":2,"config":%s,"layers":[%s]}' "$(desc $MT_OCI_CONFIG "$W/cfg")" "$(desc $MT_OCI_LAYER "$W/l1")" >"$W/nomt"
NOMT=$(sha256_of "$W/nomt")
put_manifest $R nomt "$W/nomt" "$MT_OCI_MANIFEST"
assert_status 201 "PUT manifest without mediaType, Content-Type OCI manifest"
req GET "/v2/$R/manifests/nomt"
assert_header Content-Type "$MT_OCI_MANIFEST" "served with the pushed Content-Type"
assert_body_digest "$NOMT" "manifest without mediaType"
# the same bytes pushed again under another tag with another Content-Type:
# either refused, or served with the type it was pushed with - never a 201
# followed by a different Content-Type.
put_manifest $R nomt-docker "$W/nomt" "$MT_DOCKER_MANIFEST"
if [ "$STATUS" = 201 ]; then
	req GET "/v2/$R/manifests/nomt-docker"
	assert_header Content-Type "$MT_DOCKER_MANIFEST" "same bytes re-pushed as a Docker manifest (201): served as pushed"
else
	assert_status_error 400 MANIFEST_INVALID "same bytes re-pushed with another Content-Type"
fi
req GET "/v2/$R/manifests/nomt"
assert_header Content-Type "$MT_OCI_MANIFEST" "the first tag still serves its pushed type"

# ---------------------------------------------------------------- invalid bodies
printf '{"schemaVersion":2,"mediaType":"%s","config":' "$MT_OCI_MANIFEST" >"$W/trunc"
put_manifest $R bad "$W/trunc" "$MT_OCI_MANIFEST"
assert_status_error 400 MANIFEST_INVALID "truncated JSON"
printf 'not json at all' >"$W/garbage"
put_manifest $R bad "$W/garbage" "$MT_OCI_MANIFEST"
assert_status_error 400 MANIFEST_INVALID "garbage body"
: >"$W/emptybody"
put_manifest $R bad "$W/emptybody" "$MT_OCI_MANIFEST"
assert_status_error 400 MANIFEST_INVALID "empty body"
printf '[1,2,3]' >"$W/arr"
put_manifest $R bad "$W/arr" "$MT_OCI_MANIFEST"
assert_status_error 400 MANIFEST_INVALID "a JSON array"

# schema 1
printf '{"schemaVersion":1,"mediaType":"%s","name":"%s","tag":"old","architecture":"amd64","fsLayers":[{"blobSum":"%s"}],"history":[{"v1Compatibility":"{}"}]}' \
	"$MT_DOCKER_V1" "$R" "$L1" >"$W/s1"
put_manifest $R old "$W/s1" "$MT_DOCKER_V1"
assert_status_error 400 MANIFEST_INVALID "schema 1 (mediaType v1+json)"
printf '{"schemaVersion":1,"name":"%s","tag":"old","architecture":"amd64","fsLayers":[{"blobSum":"%s"}],"history":[{"v1Compatibility":"{}"}]}' \
	"$R" "$L1" >"$W/s1b"
put_manifest $R old "$W/s1b" "$MT_DOCKER_V1_SIGNED"
assert_status_error 400 MANIFEST_INVALID "schema 1 (schemaVersion 1, signed content type)"
put_manifest $R old "$W/s1b" "$MT_OCI_MANIFEST"
assert_status_error 400 MANIFEST_INVALID "schemaVersion 1 with an OCI Content-Type"
req GET "/v2/$R/manifests/old"
assert_status 404 "no schema 1 manifest was stored"

# ---------------------------------------------------------------- missing blobs
MISSING=sha256:$(printf 'missing-layer' | sha256sum | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s,%s]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/cfg")" "$(desc $MT_OCI_LAYER "$W/l1")" "$(desc_d $MT_OCI_LAYER "$MISSING" 13)" >"$W/miss"
put_manifest $R miss "$W/miss"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "manifest with a missing layer"
assert_detail_has "$MISSING" "manifest with a missing layer"
MISSCFG=sha256:$(printf 'missing-config' | sha256sum | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc_d $MT_OCI_CONFIG "$MISSCFG" 14)" "$(desc $MT_OCI_LAYER "$W/l1")" >"$W/misscfg"
put_manifest $R misscfg "$W/misscfg"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "manifest with a missing config"
assert_detail_has "$MISSCFG" "manifest with a missing config"
# a blob that exists, but in another repository
mkblob "$W/other" 1234
OTHER=$(sha256_of "$W/other")
push_blob other/repo "$W/other"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/cfg")" "$(desc $MT_OCI_LAYER "$W/other")" >"$W/elsewhere"
put_manifest $R elsewhere "$W/elsewhere"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "layer only in another repository"
assert_detail_has "$OTHER" "layer only in another repository"
put_manifest other/repo elsewhere "$W/elsewhere"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "config only in the first repository"
assert_detail_has "$CFG" "config only in the first repository"
assert_rows "SELECT count(*) FROM tags t JOIN repositories r ON r.id=t.repo_id WHERE t.name IN ('miss','misscfg','elsewhere')" 0 "refused manifests left no tag rows"
# "urls" does not make a config or a regular layer optional: with an empty
# list there is nowhere else to get it from, and a config is never foreign.
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":14,"urls":[]},"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$MT_OCI_CONFIG" "$MISSCFG" "$(desc $MT_OCI_LAYER "$W/l1")" >"$W/cfgurls"
put_manifest $R cfgurls "$W/cfgurls"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "missing config with \"urls\":[]"
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":14,"urls":["https://example.com/cfg"]},"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$MT_OCI_CONFIG" "$MISSCFG" "$(desc $MT_OCI_LAYER "$W/l1")" >"$W/cfgurls2"
put_manifest $R cfgurls2 "$W/cfgurls2"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "missing config with a urls list"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[{"mediaType":"%s","digest":"%s","size":13,"urls":[]}]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/cfg")" "$MT_OCI_LAYER" "$MISSING" >"$W/layurls"
put_manifest $R layurls "$W/layurls"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "missing regular layer with \"urls\":[]"
# a non-distributable (foreign) layer with URLs may legitimately be absent
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"%s","size":13,"urls":["https://example.com/layer"]}]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/cfg")" "$MISSING" >"$W/foreign"
put_manifest $R foreign "$W/foreign"
assert_match "$STATUS" '^(201|400)$' "missing non-distributable layer with urls: 201 or 400 (got $STATUS)"
# the same layer twice (images do this) is fine
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s,%s,%s]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/cfg")" "$(desc $MT_OCI_LAYER "$W/l1")" "$(desc $MT_OCI_LAYER "$W/l2")" "$(desc $MT_OCI_LAYER "$W/l1")" >"$W/dup"
push_manifest $R dup "$W/dup"
req GET "/v2/$R/manifests/dup"
assert_body_digest "$(sha256_of "$W/dup")" "manifest with a repeated layer"
# malformed descriptors
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"sha256:xyz","size":2},"layers":[]}' "$MT_OCI_MANIFEST" "$MT_OCI_CONFIG" >"$W/baddesc"
put_manifest $R baddesc "$W/baddesc"
assert_status 400 "config descriptor with a malformed digest"
assert_code_in_spec "config descriptor with a malformed digest"
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":-5},"layers":[]}' "$MT_OCI_MANIFEST" "$MT_OCI_CONFIG" "$CFG" >"$W/badsize"
put_manifest $R badsize "$W/badsize"
assert_status_error 400 MANIFEST_INVALID "descriptor with a negative size"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"subject":{"mediaType":"%s","digest":"nope","size":1}}' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")" "$MT_OCI_MANIFEST" >"$W/badsubj"
put_manifest $R badsubj "$W/badsubj"
assert_status 400 "subject with a malformed digest"
assert_code_in_spec "subject with a malformed digest"
printf '{"schemaVersion":2,"mediaType":"%s","layers":[]}' "$MT_OCI_MANIFEST" >"$W/nocfg"
put_manifest $R nocfg "$W/nocfg"
assert_status_error 400 MANIFEST_INVALID "image manifest without config"
printf '{"schemaVersion":2,"mediaType":"%s"}' "$MT_OCI_INDEX" >"$W/nomanifests"
put_manifest $R nomanifests "$W/nomanifests"
assert_status_error 400 MANIFEST_INVALID "index without manifests"
printf '{"schemaVersion":2,"mediaType":"application/vnd.example.unknown+json","config":%s,"layers":[]}' "$(desc $MT_OCI_CONFIG "$W/cfg")" >"$W/unkmt"
put_manifest $R unkmt "$W/unkmt"
assert_status_error 400 MANIFEST_INVALID "unknown manifest mediaType"
printf '{"schemaVersion":3,"mediaType":"%s","config":%s,"layers":[]}' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")" >"$W/sv3"
put_manifest $R sv3 "$W/sv3"
assert_status_error 400 MANIFEST_INVALID "schemaVersion 3"
# invalid tags
put_manifest $R ".dot" "$W/m1"
assert_status 400 "PUT with a tag starting with '.'"
assert_code_in_spec "PUT with a tag starting with '.'"
put_manifest $R "t$(printf '%0128d' 0)" "$W/m1"
assert_status 400 "PUT with a 129-character tag"
assert_code_in_spec "PUT with a 129-character tag"
put_manifest $R "t$(printf '%0127d' 0)" "$W/m1"
assert_status 201 "PUT with a 128-character tag"

# ---------------------------------------------------------------- empty config, zero layers
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.thing.v1","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[]}' \
	"$MT_OCI_MANIFEST" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" >"$W/art"
ART=$(sha256_of "$W/art")
push_manifest $R art "$W/art"
req GET "/v2/$R/manifests/art"
assert_status 200 "GET artifact with empty config and zero layers"
assert_body_digest "$ART" "artifact with zero layers"
assert_rows "SELECT artifact_type||'|'||subject FROM manifests WHERE repo_id=$RID AND digest='$ART'" \
	"application/vnd.example.thing.v1|" "manifests.artifact_type of the artifact"
assert_rows "SELECT ref||':'||is_manifest FROM manifest_refs WHERE repo_id=$RID AND digest='$ART'" "$EMPTY_JSON_DIGEST:0" "artifact refs: only the empty config"
# zero layers with a plain image config
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")" >"$W/nolayers"
push_manifest $R nolayers "$W/nolayers"

# ---------------------------------------------------------------- Docker schema2
blob_json $R "$W/dcfg" '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"docker_version":"24.0"}'
cat >"$W/d2" <<EOF
{
   "schemaVersion": 2,
   "mediaType": "$MT_DOCKER_MANIFEST",
   "config": $(desc $MT_DOCKER_CONFIG "$W/dcfg"),
   "layers": [
      $(desc $MT_DOCKER_LAYER "$W/l2")
   ]
}
EOF
D2=$(sha256_of "$W/d2")
put_manifest $R docker "$W/d2"
assert_status 201 "PUT Docker schema2 manifest"
assert_header Docker-Content-Digest "$D2" "Docker schema2"
req GET "/v2/$R/manifests/docker"
assert_status 200 "GET Docker schema2 manifest"
assert_header Content-Type "$MT_DOCKER_MANIFEST" "Docker schema2"
assert_body_digest "$D2" "Docker schema2"
req HEAD "/v2/$R/manifests/$D2"
assert_header Content-Type "$MT_DOCKER_MANIFEST" "HEAD Docker schema2"
assert_rows "SELECT media_type FROM manifests WHERE repo_id=$RID AND digest='$D2'" "$MT_DOCKER_MANIFEST" "manifests.media_type for schema2"

# ---------------------------------------------------------------- indexes
NL=$(sha256_of "$W/nolayers")
cat >"$W/idx" <<EOF
{
  "schemaVersion": 2,
  "mediaType": "$MT_OCI_INDEX",
  "manifests": [
    {"mediaType":"$MT_OCI_MANIFEST","digest":"$M1","size":$M1SIZE,"platform":{"architecture":"amd64","os":"linux"}},
    {"mediaType":"$MT_OCI_MANIFEST","digest":"$NL","size":$(fsize "$W/nolayers"),"platform":{"architecture":"arm64","os":"linux"}}
  ]
}
EOF
IDX=$(sha256_of "$W/idx")
put_manifest $R multi "$W/idx"
assert_status 201 "PUT OCI index with both children present"
assert_header Location "/v2/$R/manifests/$IDX" "PUT index"
req GET "/v2/$R/manifests/multi"
assert_status 200 "GET index"
assert_header Content-Type "$MT_OCI_INDEX" "GET index"
assert_body_digest "$IDX" "GET index"
assert_rows "SELECT group_concat(ref||':'||is_manifest, ' ') FROM (SELECT ref, is_manifest FROM manifest_refs WHERE repo_id=$RID AND digest='$IDX' ORDER BY ref) s" \
	"$(printf '%s\n' "$M1:1" "$NL:1" | LC_ALL=C sort | paste -sd' ')" "manifest_refs rows: both children, is_manifest=1"
# missing child
MISSM=sha256:$(printf 'missing-manifest' | sha256sum | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s},{"mediaType":"%s","digest":"%s","size":99}]}' \
	"$MT_OCI_INDEX" "$MT_OCI_MANIFEST" "$M1" "$M1SIZE" "$MT_OCI_MANIFEST" "$MISSM" >"$W/idxmiss"
put_manifest $R multimiss "$W/idxmiss"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "index with a missing child"
assert_detail_has "$MISSM" "index with a missing child"
# a child that exists as a blob only is not a manifest
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
	"$MT_OCI_INDEX" "$MT_OCI_MANIFEST" "$L1" 3000 >"$W/idxblob"
put_manifest $R multiblob "$W/idxblob"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "index whose child is a blob, not a manifest"
assert_detail_has "$L1" "index whose child is a blob"
# a child that is a manifest of another repository
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/other")" >"$W/om"
push_manifest other/repo om "$W/om"
OM=$(sha256_of "$W/om")
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
	"$MT_OCI_INDEX" "$MT_OCI_MANIFEST" "$OM" "$(fsize "$W/om")" >"$W/idxother"
put_manifest $R multiother "$W/idxother"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "index whose child is in another repository"
assert_detail_has "$OM" "index child in another repository"
req GET "/v2/$R/manifests/$OM"
assert_status_error 404 MANIFEST_UNKNOWN "GET a manifest that is only in another repository"
req GET "/v2/other/repo/manifests/$OM"
assert_status 200 "... which other/repo serves"
# Content-Type / mediaType disagreement on an index
put_manifest $R multi2 "$W/idx" "$MT_DOCKER_LIST"
assert_status_error 400 MANIFEST_INVALID "index pushed as a Docker manifest list"
# Docker manifest list
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux"}}]}' \
	"$MT_DOCKER_LIST" "$MT_DOCKER_MANIFEST" "$D2" "$(fsize "$W/d2")" >"$W/dlist"
DLIST=$(sha256_of "$W/dlist")
push_manifest $R dlist "$W/dlist"
req GET "/v2/$R/manifests/dlist"
assert_header Content-Type "$MT_DOCKER_LIST" "GET Docker manifest list"
assert_body_digest "$DLIST" "Docker manifest list"
# an empty index is valid
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[]}' "$MT_OCI_INDEX" >"$W/idxempty"
push_manifest $R emptyidx "$W/idxempty"

# ---------------------------------------------------------------- subject
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"subject":{"mediaType":"%s","digest":"%s","size":%s}}' \
	"$MT_OCI_MANIFEST" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$MT_OCI_MANIFEST" "$M1" "$M1SIZE" >"$W/sig"
SIG=$(sha256_of "$W/sig")
put_manifest $R "$SIG" "$W/sig"
assert_status 201 "PUT a manifest with a subject"
assert_header OCI-Subject "$M1" "PUT with subject"
assert_rows "SELECT subject||'|'||artifact_type FROM manifests WHERE repo_id=$RID AND digest='$SIG'" "$M1|application/vnd.example.sig" "manifests.subject and artifact_type"
GHOST=sha256:$(printf 'not-pushed-yet' | sha256sum | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"subject":{"mediaType":"%s","digest":"%s","size":10}}' \
	"$MT_OCI_MANIFEST" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$MT_OCI_MANIFEST" "$GHOST" >"$W/sig2"
put_manifest $R early "$W/sig2"
assert_status 201 "PUT a manifest whose subject does not exist"
assert_header OCI-Subject "$GHOST" "subject that does not exist"

# ---------------------------------------------------------------- tag move
put_manifest $R moving "$W/m1"
assert_status 201 "tag 'moving' -> image"
put_manifest $R moving "$W/d2"
assert_status 201 "re-push tag 'moving' with another manifest"
req GET "/v2/$R/manifests/moving"
assert_body_digest "$D2" "tag 'moving' now serves the second manifest"
assert_header Content-Type "$MT_DOCKER_MANIFEST" "tag 'moving' after the move"
req GET "/v2/$R/manifests/$M1"
assert_status 200 "the first manifest is still there by digest"
assert_rows "SELECT digest FROM tags WHERE repo_id=$RID AND name='moving'" "$D2" "tags row follows the move"
assert_rows "SELECT count(*) FROM tags WHERE repo_id=$RID AND name='moving'" 1 "one tags row for 'moving'"

# ---------------------------------------------------------------- deletes
push_manifest $R dtag1 "$W/nolayers"
push_manifest $R dtag2 "$W/nolayers"
req DELETE "/v2/$R/manifests/dtag1"
assert_status 202 "DELETE by tag"
req GET "/v2/$R/manifests/dtag1"
assert_status_error 404 MANIFEST_UNKNOWN "deleted tag"
req GET "/v2/$R/manifests/dtag2"
assert_status 200 "other tag of the same manifest survives a tag delete"
req GET "/v2/$R/manifests/$NL"
assert_status 200 "manifest survives a tag delete"
req GET "/v2/$R/tags/list"
assert_eq "$(jq -r '.tags | index("dtag1")' "$BODY")" null "deleted tag not listed"
assert_eq "$(jq -r '.tags | index("dtag2") != null' "$BODY")" true "other tag still listed"
req DELETE "/v2/$R/manifests/dtag1"
assert_status_error 404 MANIFEST_UNKNOWN "DELETE an already deleted tag"

# delete by digest: the docker manifest, tagged 'docker' and 'moving'
req GET "/v2/$R/tags/list"
NTAGS=$(jq '.tags | length' "$BODY")
req DELETE "/v2/$R/manifests/$D2"
assert_status 202 "DELETE by digest"
req GET "/v2/$R/manifests/$D2"
assert_status_error 404 MANIFEST_UNKNOWN "GET deleted digest"
req HEAD "/v2/$R/manifests/$D2"
assert_status 404 "HEAD deleted digest"
req GET "/v2/$R/manifests/docker"
assert_status_error 404 MANIFEST_UNKNOWN "tag 'docker' of the deleted digest"
req GET "/v2/$R/manifests/moving"
assert_status_error 404 MANIFEST_UNKNOWN "tag 'moving' of the deleted digest"
req GET "/v2/$R/tags/list"
assert_eq "$(jq '.tags | length' "$BODY")" "$((NTAGS - 2))" "tags list shrank by two"
assert_eq "$(jq -r '[.tags[] | select(.=="docker" or .=="moving")] | length' "$BODY")" 0 "neither tag is listed"
assert_rows "SELECT count(*) FROM manifests WHERE repo_id=$RID AND digest='$D2'" 0 "manifests row removed"
assert_rows "SELECT count(*) FROM tags WHERE repo_id=$RID AND digest='$D2'" 0 "tags rows removed"
assert_rows "SELECT count(*) FROM manifest_refs WHERE repo_id=$RID AND digest='$D2'" 0 "manifest_refs rows removed"
# the deleted manifest's bytes are not reachable through the blob endpoint
# either (the daemon links a manifest's own bytes as a blob of the repository)
req GET "/v2/$R/blobs/$D2"
assert_status_error 404 BLOB_UNKNOWN "GET /blobs/<deleted manifest digest>"
req POST "/v2/third/repo/blobs/uploads/?mount=$D2&from=$R"
assert_status 202 "a deleted manifest cannot be mounted from $R as a blob"
req DELETE "/v2/$R/manifests/$D2"
assert_status_error 404 MANIFEST_UNKNOWN "DELETE a deleted digest again"
req DELETE "/v2/$R/manifests/sha256:2222222222222222222222222222222222222222222222222222222222222222"
assert_status_error 404 MANIFEST_UNKNOWN "DELETE an unknown digest"
req DELETE "/v2/no/such/repo/manifests/$M1"
assert_status 404 "DELETE in an unknown repository"
assert_code_in_spec "DELETE in an unknown repository"
req DELETE "/v2/$R/manifests/sha256:nothex"
assert_status_error 400 DIGEST_INVALID "DELETE a malformed digest"
# the deleted manifest can be pushed again
push_manifest $R docker "$W/d2"
req GET "/v2/$R/manifests/docker"
assert_body_digest "$D2" "re-pushed after delete"

# ---------------------------------------------------------------- 413 (default 4M)
{
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"pad":"' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")"
	head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' a
	printf '"}}'
} >"$W/huge"
put_manifest $R huge "$W/huge"
assert_status 413 "manifest over the default 4M max_manifest_size"
req GET "/v2/$R/manifests/huge"
assert_status 404 "the oversized manifest was not stored"

# chunked transfer encoding (no Content-Length)
req PUT "/v2/$R/manifests/chunked" -H "Content-Type: $MT_OCI_MANIFEST" -H 'Transfer-Encoding: chunked' --data-binary "@$W/nolayers"
assert_status 201 "PUT manifest with Transfer-Encoding: chunked"
assert_header Docker-Content-Digest "$NL" "chunked PUT"
req PUT "/v2/$R/manifests/hugechunked" -H "Content-Type: $MT_OCI_MANIFEST" -H 'Transfer-Encoding: chunked' --data-binary "@$W/huge"
assert_status 413 "chunked manifest over the default 4M max_manifest_size"
req GET "/v2/$R/manifests/hugechunked"
assert_status 404 "the oversized chunked manifest was not stored"
# exactly at the limit is fine
{
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"pad":"' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")"
	head -c $((4 * 1024 * 1024 - 300)) /dev/zero | tr '\0' d
	printf '"}}'
} >"$W/atlimit"
truncate_to=$((4 * 1024 * 1024))
pad=$((truncate_to - $(fsize "$W/atlimit")))
{
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"pad":"' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")"
	head -c $((4 * 1024 * 1024 - 300 + pad)) /dev/zero | tr '\0' d
	printf '"}}'
} >"$W/atlimit"
assert_eq "$(fsize "$W/atlimit")" $((4 * 1024 * 1024)) "test manifest is exactly 4M"
push_manifest $R atlimit "$W/atlimit"
ATLIMIT=$(sha256_of "$W/atlimit")

# a 3k manifest, to be served after the limit is lowered to 2k
{
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"pad":"' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")"
	head -c 3000 /dev/zero | tr '\0' e
	printf '"}}'
} >"$W/old3k"
OLD3K=$(sha256_of "$W/old3k")
push_manifest $R old3k "$W/old3k"

# ---------------------------------------------------------------- restart (small limit)
req GET "/v2/$R/tags/list"
cp "$BODY" "$W/tags-before"
rm -f "$CONF"
E2E_EXTRA_LIMITS="max_manifest_size = 2k"
daemon_restart
# HEAD first, before anything is cached in the new process
for pair in "v1 $M1 $MT_OCI_MANIFEST $M1SIZE" "$D2 $D2 $MT_DOCKER_MANIFEST $(fsize "$W/d2")" "multi $IDX $MT_OCI_INDEX $(fsize "$W/idx")" \
	"old3k $OLD3K $MT_OCI_MANIFEST $(fsize "$W/old3k")" "atlimit $ATLIMIT $MT_OCI_MANIFEST $((4 * 1024 * 1024))"; do
	set -- $pair
	req HEAD "/v2/$R/manifests/$1"
	assert_status 200 "after restart: HEAD ${1:0:14} (uncached)"
	assert_header Docker-Content-Digest "$2" "after restart: HEAD ${1:0:14}"
	assert_header Content-Type "$3" "after restart: HEAD ${1:0:14}"
	assert_header Content-Length "$4" "after restart: HEAD ${1:0:14}"
	assert_header Etag "\"$2\"" "after restart: HEAD ${1:0:14}"
done
daemon_restart
for pair in "v1 $M1" "old3k $OLD3K" "atlimit $ATLIMIT"; do
	set -- $pair
	assert_eq "$(head_then_get "/v2/$R/manifests/$1" "$W/htg")" "200 0" "uncached HEAD then GET ${1:0:14} on one connection"
	assert_eq "$(sha256_of "$W/htg")" "$2" "uncached HEAD ${1:0:14} sends no body"
done
# manifests larger than the new 2k limit are still served, byte for byte
for pair in "old3k $OLD3K" "$OLD3K $OLD3K" "atlimit $ATLIMIT"; do
	set -- $pair
	req GET "/v2/$R/manifests/$1"
	assert_status 200 "after restart, limit 2k: GET ${1:0:14} (larger than the limit)"
	assert_body_digest "$2" "after restart, limit 2k: ${1:0:14}"
	assert_header Content-Length "$(fsize "$BODY")" "after restart, limit 2k: ${1:0:14}"
	assert_header Content-Type "$MT_OCI_MANIFEST" "after restart, limit 2k: ${1:0:14}"
done
for pair in "v1 $M1 $MT_OCI_MANIFEST" "$M1 $M1 $MT_OCI_MANIFEST" "$M1C $M1C $MT_OCI_MANIFEST" \
	"docker $D2 $MT_DOCKER_MANIFEST" "multi $IDX $MT_OCI_INDEX" "dlist $DLIST $MT_DOCKER_LIST" \
	"art $ART $MT_OCI_MANIFEST" "nomt $NOMT $MT_OCI_MANIFEST" "$SIG $SIG $MT_OCI_MANIFEST"; do
	set -- $pair
	req GET "/v2/$R/manifests/$1"
	assert_status 200 "after restart: GET ${1:0:14}"
	assert_body_digest "$2" "after restart: ${1:0:14}"
	assert_header Content-Type "$3" "after restart: ${1:0:14}"
done
req GET "/v2/$R/manifests/dtag1"
assert_status 404 "after restart: deleted tag stays deleted"
req GET "/v2/$R/manifests/moving"
assert_status 404 "after restart: tag of a deleted digest stays deleted"
req GET "/v2/$R/tags/list"
assert_eq "$(jq -c . "$BODY")" "$(jq -c . "$W/tags-before")" "after restart: same tags list"

# 2k limit: 3k refused, 1.5k accepted
{
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"pad":"' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")"
	head -c 3000 /dev/zero | tr '\0' b
	printf '"}}'
} >"$W/m3k"
put_manifest $R big "$W/m3k"
assert_status 413 "3k manifest with max_manifest_size = 2k"
{
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"pad":"' "$MT_OCI_MANIFEST" "$(desc $MT_OCI_CONFIG "$W/cfg")"
	head -c 1300 /dev/zero | tr '\0' c
	printf '"}}'
} >"$W/m15k"
push_manifest $R small "$W/m15k"
req GET "/v2/$R/manifests/big"
assert_status 404 "the 3k manifest was not stored"

assert_no_5xx "no 5xx in the access log"
e2e_finish
