#!/usr/bin/env bash
# t_referrers.sh — GET /v2/<name>/referrers/<digest>: descriptors of the
# manifests whose subject is <digest>, artifactType filter, referrers pushed
# before their subject, deletes, unknown/malformed digests, restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
daemon_start

R=team/app
W=$TMP/w
mkdir -p "$W"
SIGT=application/vnd.example.signature.v1
SBOMCFG=application/vnd.example.sbom.config.v1+json
ATTT=application/vnd.example.attestation.v1

# ---------------------------------------------------------------- the image
mkblob "$W/l1" 4000
push_blob $R "$W/l1"
blob_json $R "$W/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
blob_json $R "$W/empty" '{}'
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/cfg")" "$(desc $MT_OCI_LAYER "$W/l1")" >"$W/img"
IMG=$(sha256_of "$W/img")
IMGSIZE=$(fsize "$W/img")
push_manifest $R v1 "$W/img"

req GET "/v2/$R/referrers/$IMG"
assert_status 200 "referrers of an image without referrers"
assert_header Content-Type "$MT_OCI_INDEX" "empty referrers"
assert_json '[.schemaVersion, .mediaType, .manifests]' "[2,\"$MT_OCI_INDEX\",[]]" "empty referrers: an empty index"

# ---------------------------------------------------------------- two artifacts
SUBJ=$(desc_d $MT_OCI_MANIFEST "$IMG" "$IMGSIZE")
# 1. signature: explicit artifactType, empty config, one layer
blob_json $R "$W/sigdata" 'signature-bytes'
cat >"$W/sig" <<EOF
{
  "schemaVersion": 2,
  "mediaType": "$MT_OCI_MANIFEST",
  "artifactType": "$SIGT",
  "config": {"mediaType": "$MT_OCI_EMPTY", "digest": "$EMPTY_JSON_DIGEST", "size": 2},
  "layers": [$(desc application/vnd.example.signature.data "$W/sigdata")],
  "subject": $SUBJ,
  "annotations": {"org.opencontainers.image.created": "2024-01-02T03:04:05Z", "org.example.signer": "alice"}
}
EOF
SIG=$(sha256_of "$W/sig")
put_manifest $R "$SIG" "$W/sig"
assert_status 201 "PUT signature artifact by digest"
assert_header OCI-Subject "$IMG" "PUT signature"
assert_header Docker-Content-Digest "$SIG" "PUT signature"

# 2. SBOM: no artifactType -> the config media type is the artifact type
blob_json $R "$W/sbomcfg" '{"format":"spdx"}'
blob_json $R "$W/sbom" '{"spdxVersion":"SPDX-2.3"}'
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s],"subject":%s,"annotations":{"org.example.kind":"sbom"}}' \
	"$MT_OCI_MANIFEST" "$(desc $SBOMCFG "$W/sbomcfg")" "$(desc application/spdx+json "$W/sbom")" "$SUBJ" >"$W/sbomm"
SBOM=$(sha256_of "$W/sbomm")
put_manifest $R sbom "$W/sbomm"
assert_status 201 "PUT SBOM artifact by tag"
assert_header OCI-Subject "$IMG" "PUT SBOM"

# the same subject in another repository does not leak into $R
blob_json other/repo "$W/oempty" '{}'
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"subject":%s}' \
	"$MT_OCI_MANIFEST" "$SIGT" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$SUBJ" >"$W/osig"
OSIG=$(sha256_of "$W/osig")
push_manifest other/repo "$OSIG" "$W/osig"

# ---------------------------------------------------------------- listing
expected_desc() { # expected_desc FILE ARTIFACTTYPE: the descriptor for FILE
	jq -c --arg d "$(sha256_of "$1")" --argjson s "$(fsize "$1")" --arg at "$2" \
		'{mediaType: .mediaType, digest: $d, size: $s, artifactType: $at, annotations: (.annotations // null)} | with_entries(select(.value != null))' "$1"
}
norm='.manifests | map({mediaType, digest, size, artifactType, annotations} | with_entries(select(.value != null))) | sort_by(.digest)'
EXP_SIG=$(expected_desc "$W/sig" "$SIGT")
EXP_SBOM=$(expected_desc "$W/sbomm" "$SBOMCFG")
both=$(printf '%s\n%s\n' "$EXP_SIG" "$EXP_SBOM" | jq -sc 'sort_by(.digest)')

req GET "/v2/$R/referrers/$IMG"
assert_status 200 "referrers of the image"
assert_header Content-Type "$MT_OCI_INDEX" "referrers"
assert_json '[.schemaVersion, .mediaType]' "[2,\"$MT_OCI_INDEX\"]" "referrers: schemaVersion and mediaType"
assert_json '.manifests | length' 2 "referrers: two descriptors (not the other repository's)"
assert_json "$norm" "$both" "referrers: mediaType, digest, size, artifactType, annotations"
assert_eq "$(jq -r --arg d "$SBOM" '.manifests[] | select(.digest==$d) | .artifactType' "$BODY")" "$SBOMCFG" \
	"SBOM without artifactType reports its config media type"
assert_no_header OCI-Filters-Applied "referrers without a filter"
req HEAD "/v2/$R/referrers/$IMG"
assert_match "$STATUS" '^(200|405)$' "HEAD referrers: 200 or 405 (got $STATUS)"

# filter
req GET "/v2/$R/referrers/$IMG?artifactType=$SIGT"
assert_status 200 "referrers ?artifactType=signature"
assert_header OCI-Filters-Applied artifactType "filtered referrers"
assert_json "$norm" "[$EXP_SIG]" "filter keeps only the signature"
req GET "/v2/$R/referrers/$IMG?artifactType=$(jq -rn --arg s "$SBOMCFG" '$s|@uri')"
assert_status 200 "referrers ?artifactType=<sbom config type, percent-encoded>"
assert_header OCI-Filters-Applied artifactType "filter on the config media type"
assert_json "$norm" "[$EXP_SBOM]" "filter on the config media type keeps only the SBOM"
req GET "/v2/$R/referrers/$IMG?artifactType=application/vnd.none"
assert_status 200 "referrers with a filter that matches nothing"
assert_header OCI-Filters-Applied artifactType "filter that matches nothing"
assert_json .manifests '[]' "filter that matches nothing: empty"
# Text beyond ASCII: an artifactType in UTF-8 is kept byte for byte, and is
# what a filter finds (both backends: PostgreSQL keeps its text as UTF-8).
UT='application/vnd.example.sïg+€'
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"subject":%s}' \
	"$MT_OCI_MANIFEST" "$UT" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$SUBJ" >"$W/usig"
blob_json utf8/repo "$W/uempty" '{}'
push_manifest utf8/repo "$(sha256_of "$W/usig")" "$W/usig"
req GET "/v2/utf8/repo/referrers/$IMG?artifactType=$(jq -rn --arg s "$UT" '$s|@uri')"
assert_status 200 "referrers ?artifactType=<UTF-8 beyond ASCII, percent-encoded>"
assert_json '[.manifests[] | [.digest, .artifactType]]' "[[\"$(sha256_of "$W/usig")\",\"$UT\"]]" \
	"the UTF-8 artifactType is found by its filter and served byte for byte"
# Bytes that are not UTF-8 can equal no stored artifactType: nothing
# matches (on PostgreSQL they are not sent to the server, which would
# refuse them).
for q in 'application/vnd.a%FFb' '%C3%28' '%ED%A0%80' 'application/vnd.example.s%EF%BF'; do
	req GET "/v2/utf8/repo/referrers/$IMG?artifactType=$q"
	assert_status 200 "referrers ?artifactType=$q (not UTF-8)"
	assert_header OCI-Filters-Applied artifactType "?artifactType=$q (not UTF-8)"
	assert_json .manifests '[]' "?artifactType=$q (not UTF-8): nothing matches"
done

req GET "/v2/other/repo/referrers/$IMG"
assert_json '[.manifests[].digest]' "[\"$OSIG\"]" "other/repo lists only its own referrer"

# ---------------------------------------------------------------- referrer before its subject
blob_json $R "$W/cfg2" '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/cfg2")" "$(desc $MT_OCI_LAYER "$W/l1")" >"$W/img2"
IMG2=$(sha256_of "$W/img2")
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"subject":%s,"annotations":{"early":"yes"}}' \
	"$MT_OCI_MANIFEST" "$ATTT" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$(desc_d $MT_OCI_MANIFEST "$IMG2" "$(fsize "$W/img2")")" >"$W/early"
EARLY=$(sha256_of "$W/early")
req GET "/v2/$R/manifests/$IMG2"
assert_status 404 "the second image is not pushed yet"
put_manifest $R "$EARLY" "$W/early"
assert_status 201 "PUT a referrer before its subject exists"
assert_header OCI-Subject "$IMG2" "referrer before its subject"
req GET "/v2/$R/referrers/$IMG2"
assert_status 200 "referrers of a subject that does not exist yet"
assert_json "$norm" "[$(expected_desc "$W/early" "$ATTT")]" "the early referrer is listed before its subject exists"
push_manifest $R v2 "$W/img2"
req GET "/v2/$R/referrers/$IMG2"
assert_json '[.manifests[].digest]' "[\"$EARLY\"]" "the early referrer is still listed once the subject exists"

# an index can be a referrer too (artifactType from the index)
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.bundle","manifests":[%s],"subject":%s,"annotations":{"kind":"bundle"}}' \
	"$MT_OCI_INDEX" "$(desc $MT_OCI_MANIFEST "$W/img2")" "$SUBJ" >"$W/bundle"
BUNDLE=$(sha256_of "$W/bundle")
put_manifest $R "$BUNDLE" "$W/bundle"
assert_status 201 "PUT an index with a subject"
assert_header OCI-Subject "$IMG" "index with a subject"
req GET "/v2/$R/referrers/$IMG"
assert_json '.manifests | length' 3 "the index referrer is listed"
assert_json "[.manifests[] | select(.digest==\"$BUNDLE\") | {mediaType, artifactType, size}]" \
	"[{\"mediaType\":\"$MT_OCI_INDEX\",\"artifactType\":\"application/vnd.example.bundle\",\"size\":$(fsize "$W/bundle")}]" "index referrer descriptor"

# ---------------------------------------------------------------- unknown / malformed
UNK=sha256:$(printf 'nobody-refers-to-me' | sha256sum | cut -d' ' -f1)
req GET "/v2/$R/referrers/$UNK"
assert_status 200 "referrers of an unknown digest"
assert_json '[.schemaVersion, .mediaType, .manifests]' "[2,\"$MT_OCI_INDEX\",[]]" "unknown digest: an empty index"
req GET "/v2/no/such/repo/referrers/$IMG"
assert_status 200 "referrers in an unknown repository"
assert_json .manifests '[]' "unknown repository: an empty index"
req GET "/v2/$R/referrers/$(sha512_of "$W/img")"
assert_status 200 "referrers of a valid sha512 digest"
for bad in sha256:abc "sha256:$(printf '%064d' 0 | tr 0 G)" notadigest "md5:d41d8cd98f00b204e9800998ecf8427e" latest; do
	req GET "/v2/$R/referrers/$bad"
	assert_status 400 "referrers of malformed digest '${bad:0:20}'"
	assert_envelope "referrers of malformed digest '${bad:0:20}'"
done

# ---------------------------------------------------------------- sqlite
RID=$(repo_id $R)
assert_rows "SELECT group_concat(digest||'|'||artifact_type, ' ') FROM (SELECT digest, artifact_type FROM manifests WHERE repo_id=$RID AND subject='$IMG' ORDER BY digest) s" \
	"$(printf '%s\n' "$SIG|$SIGT" "$SBOM|$SBOMCFG" "$BUNDLE|application/vnd.example.bundle" | LC_ALL=C sort | paste -sd' ')" "manifests.subject rows for the image"

# ---------------------------------------------------------------- delete a referrer
req DELETE "/v2/$R/manifests/$SIG"
assert_status 202 "DELETE the signature"
req GET "/v2/$R/referrers/$IMG"
assert_json '.manifests | map(.digest) | sort' "$(printf '%s\n' "$SBOM" "$BUNDLE" | jq -R . | jq -sc 'sort')" "the deleted signature is no longer a referrer"
req GET "/v2/$R/referrers/$IMG?artifactType=$SIGT"
assert_json .manifests '[]' "filtered on the signature type: now empty"
# deleting the tag of the SBOM keeps it as a referrer (the manifest remains)
req DELETE "/v2/$R/manifests/sbom"
assert_status 202 "DELETE the SBOM's tag"
req GET "/v2/$R/referrers/$IMG"
assert_json "[.manifests[] | select(.digest==\"$SBOM\") | .digest]" "[\"$SBOM\"]" "untagged SBOM is still a referrer"

# ---------------------------------------------------------------- pages
# 25 referrers of one subject (15 signatures, 10 attestations): ?n= pages
# with a Link to the next, the filter kept across pages.
PS=$(printf 'page subject' | sha256sum | awk '{print "sha256:" $1}')
PSUBJ=$(desc_d $MT_OCI_MANIFEST "$PS" 100)
: >"$W/all"
: >"$W/sigs"
for i in $(seq 1 25); do
	if [ $((i % 5)) -lt 3 ]; then t=$SIGT; else t=$ATTT; fi
	printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"subject":%s,"annotations":{"n":"%d"}}' \
		"$MT_OCI_MANIFEST" "$t" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$PSUBJ" "$i" >"$W/p$i"
	d=$(sha256_of "$W/p$i")
	push_manifest $R "$d" "$W/p$i"
	echo "$d" >>"$W/all"
	[ "$t" = "$SIGT" ] && echo "$d" >>"$W/sigs"
done
LC_ALL=C sort -o "$W/all" "$W/all"
LC_ALL=C sort -o "$W/sigs" "$W/sigs"

# follow URL: GET it and every page its Link leads to; the digests go to
# $W/follow (in order), the page sizes to SIZES, the Links to $W/links.
follow() {
	local url=$1 link n=0
	SIZES=
	: >"$W/follow"
	: >"$W/links"
	while [ $n -lt 50 ]; do
		n=$((n + 1))
		req GET "$url"
		[ "$STATUS" = 200 ] || { t_fail "GET $url: $STATUS"; return; }
		jq -r '.manifests[].digest' "$BODY" >>"$W/follow"
		SIZES="$SIZES$(jq '.manifests | length' "$BODY") "
		link=$(hdr Link)
		[ -n "$link" ] || return 0
		echo "$link" >>"$W/links"
		url=$(sed -n 's/^<\([^>]*\)>; rel="next"$/\1/p' <<<"$link")
		[ -n "$url" ] || { t_fail "a Link that is not rel=\"next\": $link"; return; }
	done
	t_fail "more than 50 pages from $1"
}

req GET "/v2/$R/referrers/$PS?n=10"
assert_status 200 "referrers ?n=10"
assert_json '.manifests | length' 10 "?n=10: ten descriptors"
assert_json '[.manifests[].digest]' "$(head -n 10 "$W/all" | jq -R . | jq -sc .)" "?n=10: the first ten by digest"
assert_header Link "</v2/$R/referrers/$PS?n=10&last=$(sed -n 10p "$W/all")>; rel=\"next\"" "?n=10: Link to the next page after the tenth digest"
follow "/v2/$R/referrers/$PS?n=10"
assert_eq "$SIZES" "10 10 5 " "?n=10: pages of 10, 10 and 5"
assert_eq "$(cat "$W/follow")" "$(cat "$W/all")" "?n=10: following the Links yields every referrer exactly once, in order"
req GET "/v2/$R/referrers/$PS"
assert_json '.manifests | length' 25 "without ?n= all 25 fit the default page"
assert_no_header Link "one page: no Link"
follow "/v2/$R/referrers/$PS?n=4&artifactType=$SIGT"
assert_eq "$SIZES" "4 4 4 3 " "filtered, ?n=4: pages of 4, 4, 4 and 3"
assert_eq "$(cat "$W/follow")" "$(cat "$W/sigs")" "filtered: every signature exactly once, nothing else"
assert_eq "$(grep -c 'artifactType=application%2Fvnd.example.signature.v1>' "$W/links")" 3 "filtered: each Link keeps the filter, percent-encoded"
assert_header OCI-Filters-Applied artifactType "filtered: the last page says the filter applied"
req GET "/v2/$R/referrers/$PS?n=0"
assert_status 200 "?n=0"
assert_json '.manifests' '[]' "?n=0: an empty index"
assert_no_header Link "?n=0: no Link"
req GET "/v2/$R/referrers/$PS?n=25"
assert_no_header Link "?n=25: exactly all, no Link"
req GET "/v2/$R/referrers/$PS?last=$(sed -n 24p "$W/all")"
assert_json '[.manifests[].digest]' "[\"$(sed -n 25p "$W/all")\"]" "?last=the 24th: only the 25th"
for bad in 'n=x' 'n=-1' 'last=sha256:zz'; do
	req GET "/v2/$R/referrers/$PS?$bad"
	assert_status 400 "referrers ?$bad"
	assert_envelope "referrers ?$bad"
done

# ---------------------------------------------------------------- restart
daemon_restart
req GET "/v2/$R/referrers/$IMG"
assert_status 200 "after restart: referrers"
assert_json "$norm" "$(printf '%s\n' "$EXP_SBOM" "$(jq -c --arg d "$BUNDLE" '.manifests[] | select(.digest==$d) | {mediaType, digest, size, artifactType, annotations}' "$BODY")" | jq -sc 'sort_by(.digest)')" \
	"after restart: SBOM and bundle descriptors"
assert_json '[.manifests[].digest] | sort' "$(printf '%s\n' "$SBOM" "$BUNDLE" | jq -R . | jq -sc 'sort')" "after restart: the same two referrers"
req GET "/v2/$R/referrers/$IMG2?artifactType=$ATTT"
assert_header OCI-Filters-Applied artifactType "after restart: filter"
assert_json '[.manifests[].digest]' "[\"$EARLY\"]" "after restart: the early referrer"

assert_no_5xx "no 5xx in the access log"
e2e_finish
