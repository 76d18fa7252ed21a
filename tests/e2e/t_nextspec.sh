#!/usr/bin/env bash
# t_nextspec.sh — what the distribution-spec's next version adds (issue 14).
#
# 1. Several tags in one push by digest: PUT .../manifests/<digest>?tag=a&tag=b
#    sets every tag in the manifest's transaction and answers one OCI-Tag
#    list; repeats count once; percent-escapes are decoded; 32 tags are
#    accepted (longest tags: the list goes on over more OCI-Tag lines), 33
#    answer 414; one bad tag is 400 for the whole push; tag parameters on a
#    push by tag are 400 UNSUPPORTED.  Every refused push leaves no manifest
#    row, no tag row and no manifest file, and moves no existing tag.
# 2. Sparse manifests ([storage] sparse): off, an index with a missing child
#    and a manifest with a missing layer are 400 MANIFEST_BLOB_UNKNOWN; on,
#    both are accepted (sizes of what is present still checked), what is
#    missing answers 404, tags and referrers work, `ociregd fsck` is clean
#    (and reports them with sparse off), and `ociregd gc` keeps them while
#    tagged, removes nothing they do not hold, and collects them once
#    untagged (untagged = delete, untagged_grace = 0s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
e2e_config
cat >>"$CONF" <<EOF
[gc]
untagged = delete
untagged_grace = 0s
grace = 0s
EOF
daemon_start

W=$TMP/w
mkdir -p "$W"
A=ns/app

# mkimg OUT CONFIG LAYER...: an image manifest for these files.
mkimg() {
	local out=$1 cfg=$2 layers= f
	shift 2
	for f; do layers="$layers${layers:+,}$(desc $MT_OCI_LAYER "$f")"; done
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
		"$(desc $MT_OCI_CONFIG "$cfg")" "$layers" >"$out"
}
# mkindex OUT MANIFEST...: an index of these manifest files.
mkindex() {
	local out=$1 ms= f
	shift
	for f; do ms="$ms${ms:+,}$(desc $MT_OCI_MANIFEST "$f")"; done
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$MT_OCI_INDEX" "$ms" >"$out"
}
d() { sha256_of "$W/$1"; }
# put_q REPO REF FILE QUERY: PUT a manifest with a query string.
put_q() {
	req PUT "/v2/$1/manifests/$2?$4" -H "Content-Type: $(jq -r .mediaType "$3")" --data-binary "@$3"
}
ntags() { db "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = $(sqlq "$1")"; }
tag_of() { db "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = $(sqlq "$1") AND t.name = $(sqlq "$2")"; }
has_mf() { db "SELECT count(*) FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = $(sqlq "$1") AND m.digest = $(sqlq "$2")"; }
# The OCI-Tag header lines of the last answer, joined as one list.
oci_tags() { hdr OCI-Tag | paste -sd, - | sed 's/, */, /g'; }

# ---------------------------------------------------------------- 1. tags
blob_json $A "$W/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
mkblob "$W/l1" 3000
push_blob $A "$W/l1"
mkimg "$W/m1" "$W/cfg" "$W/l1"
mkblob "$W/l2" 2000
push_blob $A "$W/l2"
mkimg "$W/m2" "$W/cfg" "$W/l2"
M1=$(d m1)
M2=$(d m2)

put_q $A "$M1" "$W/m1" "tag=v1&tag=v1.2&tag=latest"
assert_status 201 "push by digest with three tag parameters"
assert_header OCI-Tag "v1, v1.2, latest" "one OCI-Tag header lists each tag, in request order"
assert_eq "$(hdr OCI-Tag | wc -l)" 1 "exactly one OCI-Tag line"
assert_header Docker-Content-Digest "$M1" "digest header still sent"
assert_eq "$(ntags $A)" 3 "three tag rows"
for t in v1 v1.2 latest; do
	assert_eq "$(tag_of $A $t)" "$M1" "tag $t row points at the manifest"
	req GET "/v2/$A/manifests/$t" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200 "GET by tag $t"
	assert_body_digest "$M1" "GET by tag $t serves the pushed bytes"
done
req GET "/v2/$A/tags/list"
assert_json '.tags' '["latest","v1","v1.2"]' "tag list has all three"

# Without tag parameters nothing changes from before: no OCI-Tag.
put_q $A "$M1" "$W/m1" "tags=zzz&x=tag&tagx=1"
assert_status 201 "push by digest with look-alike parameters only"
assert_no_header OCI-Tag "no tag parameter, no OCI-Tag"
assert_eq "$(ntags $A)" 3 "look-alike parameters set no tag"

# Percent-escapes are decoded; a repeated tag is set (and listed) once.
put_q $A "$M1" "$W/m1" "tag=v%32&tag=dup&tag=dup&tag=v2"
assert_status 201 "escaped and repeated tags"
assert_header OCI-Tag "v2, dup" "repeats listed once, escapes decoded"
assert_eq "$(tag_of $A v2)" "$M1" "tag v%32 was set as v2"
assert_eq "$(ntags $A)" 5 "two more tag rows"

# A refused push changes nothing: not the new manifest, not its tags, not
# the tags it would have moved.
refused() { # DESC
	assert_eq "$(has_mf $A "$M2")" 0 "$1: no manifest row"
	assert_eq "$(ntags $A)" 5 "$1: no tag row added or removed"
	assert_eq "$(tag_of $A v1)" "$M1" "$1: tag v1 not moved"
	assert_blob_absent "$M2" "$1: no manifest file"
}
put_q $A "$M2" "$W/m2" "tag=ok1&tag=-bad&tag=v1"
assert_status_error 400 MANIFEST_INVALID "one invalid tag fails the whole push"
assert_detail_has "-bad" "the detail names the bad tag"
refused "invalid tag"
put_q $A "$M2" "$W/m2" "tag=ok1&tag="
assert_status_error 400 MANIFEST_INVALID "an empty tag parameter"
refused "empty tag"
put_q $A "$M2" "$W/m2" "tag=ok1&tag"
assert_status_error 400 MANIFEST_INVALID "a tag parameter without ="
refused "tag without ="
put_q $A "$M2" "$W/m2" "tag=ok%ZZ"
assert_status_error 400 MANIFEST_INVALID "a malformed escape"
refused "malformed escape"
put_q $A "$M2" "$W/m2" "tag=a%00b"
assert_status_error 400 MANIFEST_INVALID "an escaped NUL"
refused "escaped NUL"
long=$(printf 'a%.0s' $(seq 129))
put_q $A "$M2" "$W/m2" "tag=$long"
assert_status_error 400 MANIFEST_INVALID "a 129-character tag"
refused "129-character tag"
put_q $A "$M2" "$W/m2" "tag=a+b"
assert_status_error 400 MANIFEST_INVALID "a '+' (a space in a query) is no tag character"
refused "plus sign"

q33=
for i in $(seq 1 33); do q33="$q33${q33:+&}tag=t$i"; done
put_q $A "$M2" "$W/m2" "$q33"
assert_status_error 414 UNSUPPORTED "33 tag parameters"
assert_detail_has "32" "the detail gives the limit"
refused "33 tags"
q33=
for i in $(seq 1 33); do q33="$q33${q33:+&}tag=same"; done
put_q $A "$M2" "$W/m2" "$q33"
assert_status 414 "33 tag parameters, all the same, are still 33"
refused "33 repeats"

put_q $A v9 "$W/m2" "tag=also"
assert_status_error 400 UNSUPPORTED "tag parameters on a push by tag"
assert_eq "$(tag_of $A v9)" "" "push by tag refused: no tag v9"
assert_eq "$(tag_of $A also)" "" "push by tag refused: no tag 'also'"
refused "push by tag with tag parameters"

# Ten, then the limit of 32 with the longest tags (the list no longer
# fits one header line of the server; it goes on in another).
q=
want=
for i in $(seq -w 1 10); do q="$q${q:+&}tag=ten-$i"; want="$want${want:+, }ten-$i"; done
put_q $A "$M2" "$W/m2" "$q"
assert_status 201 "ten tags at once"
assert_header OCI-Tag "$want" "ten tags listed"
assert_eq "$(db "SELECT count(*) FROM tags WHERE name LIKE 'ten-%' AND digest = '$M2'")" 10 "ten tag rows"
q=
want=
for i in $(seq -w 1 32); do
	t=$(printf 'L%s%.0s' "$i" $(seq 126))
	t=${t:0:128}
	q="$q${q:+&}tag=$t"
	want="$want${want:+, }$t"
done
put_q $A "$M2" "$W/m2" "tag=v1&$q"
assert_status 414 "32 long tags plus one more"
put_q $A "$M2" "$W/m2" "$q"
assert_status 201 "32 tags of 128 characters"
assert_eq "$(oci_tags)" "$want" "OCI-Tag lines together list all 32, in order"
assert_eq "$(db "SELECT count(*) FROM tags WHERE length(name) = 128 AND digest = '$M2'")" 32 "32 long tag rows"

# Moving tags: an existing tag moves with the others, in one transaction.
put_q $A "$M2" "$W/m2" "tag=v1&tag=fresh"
assert_status 201 "push that moves v1 and adds 'fresh'"
assert_header OCI-Tag "v1, fresh" "both listed"
assert_eq "$(tag_of $A v1)" "$M2" "v1 moved"
assert_eq "$(tag_of $A v1.2)" "$M1" "v1.2 stayed"
req GET "/v2/$A/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_body_digest "$M2" "GET v1 serves the new manifest"

# ---------------------------------------------------------------- 2. sparse off
S=ns/mirror
blob_json $S "$W/scfg" '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
mkblob "$W/sl1" 1500
push_blob $S "$W/sl1"
mkimg "$W/p" "$W/scfg" "$W/sl1"          # present child
mkblob "$W/ml1" 1700                      # never pushed
mkimg "$W/q" "$W/scfg" "$W/ml1"           # missing child
mkindex "$W/idx" "$W/p" "$W/q"
mkimg "$W/s" "$W/scfg" "$W/sl1" "$W/ml1"  # a missing layer
push_manifest $S "$(d p)" "$W/p"

put_manifest $S multi "$W/idx"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "sparse off: index with a missing child"
assert_detail_has "$(d q)" "sparse off: the detail names the missing child"
assert_eq "$(has_mf $S "$(d idx)")" 0 "sparse off: no index row"
assert_eq "$(ntags $S)" 0 "sparse off: no tag row"
put_q $S "$(d s)" "$W/s" "tag=s1"
assert_status_error 400 MANIFEST_BLOB_UNKNOWN "sparse off: manifest with a missing layer"
assert_eq "$(has_mf $S "$(d s)")" 0 "sparse off: no manifest row"
assert_blob_absent "$(d s)" "sparse off: no manifest file"

# ---------------------------------------------------------------- 2. sparse on
printf '[storage]\nsparse = true\n' >>"$CONF"
daemon_restart

put_manifest $S multi "$W/idx"
assert_status 201 "sparse: index with one present and one missing child"
assert_header Docker-Content-Digest "$(d idx)" "sparse: digest of the exact bytes"
req GET "/v2/$S/manifests/multi" -H "Accept: $MT_OCI_INDEX"
assert_status 200 "sparse: GET the index by tag"
assert_body_digest "$(d idx)" "sparse: the index's bytes"
req GET "/v2/$S/manifests/$(d p)" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "sparse: GET the present child"
req GET "/v2/$S/manifests/$(d q)" -H "Accept: $MT_OCI_MANIFEST"
assert_status_error 404 MANIFEST_UNKNOWN "sparse: GET the missing child"
req HEAD "/v2/$S/manifests/$(d q)"
assert_status 404 "sparse: HEAD the missing child"

put_q $S "$(d s)" "$W/s" "tag=s1&tag=s-latest"
assert_status 201 "sparse: manifest with a missing layer, two tag parameters"
assert_header OCI-Tag "s1, s-latest" "sparse: tags listed"
req GET "/v2/$S/blobs/$(d ml1)"
assert_status_error 404 BLOB_UNKNOWN "sparse: GET the missing layer"
req HEAD "/v2/$S/blobs/$(d ml1)"
assert_status 404 "sparse: HEAD the missing layer"
req GET "/v2/$S/blobs/$(d sl1)"
assert_status 200 "sparse: GET the present layer"
assert_body_digest "$(d sl1)" "sparse: present layer bytes"
assert_eq "$(db "SELECT count(*) FROM repo_blobs WHERE digest = '$(d ml1)'")" 0 "sparse: no link row for the missing layer"
# A layer held by another repository is not borrowed by a sparse manifest.
push_blob $A "$W/ml1"
req GET "/v2/$S/blobs/$(d ml1)"
assert_status 404 "sparse: a blob of another repository is still 404 here"

# Sizes of what is present are still checked.
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s]}' "$MT_OCI_INDEX" \
	"$(desc_d $MT_OCI_MANIFEST "$(d p)" 5)" "$(desc $MT_OCI_MANIFEST "$W/q")" >"$W/badidx"
put_manifest $S bad "$W/badidx"
assert_status_error 400 MANIFEST_INVALID "sparse: a present child with the wrong size"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s,%s]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/scfg")" "$(desc_d $MT_OCI_LAYER "$(d sl1)" 7)" \
	"$(desc $MT_OCI_LAYER "$W/ml1")" >"$W/badimg"
put_manifest $S bad "$W/badimg"
assert_status_error 400 MANIFEST_INVALID "sparse: a present layer with the wrong size"
assert_eq "$(tag_of $S bad)" "" "sparse: refused pushes set no tag"

req GET "/v2/$S/tags/list"
assert_json '.tags' '["multi","s-latest","s1"]' "sparse: tag list"

# A referrer of the sparse index.
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"subject":%s}' \
	"$MT_OCI_MANIFEST" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$(desc $MT_OCI_INDEX "$W/idx")" >"$W/sig"
blob_json $S "$W/empty" '{}'
push_manifest $S "$(d sig)" "$W/sig"
assert_header OCI-Subject "$(d idx)" "sparse: referrer's subject echoed"
req GET "/v2/$S/referrers/$(d idx)"
assert_status 200 "sparse: referrers of the sparse index"
assert_json '[.manifests[].digest]' "[\"$(d sig)\"]" "sparse: the referrer is listed"

# ---------------------------------------------------------------- fsck
FSCK=$("$OCIREGD" fsck -c "$CONF" 2>&1)
rc=$?
assert_eq "$rc" 0 "fsck with sparse on: exit 0 (missing children and layers are allowed)"
assert_eq "$(printf '%s\n' "$FSCK" | grep -c '^manifest')" 0 "fsck with sparse on: no manifest problem lines"
sed 's/^sparse = true$/sparse = false/' "$CONF" >"$TMP/nosparse.ini"
FSCK=$("$OCIREGD" fsck -c "$TMP/nosparse.ini" 2>&1)
rc=$?
assert_eq "$rc" 1 "fsck with sparse off: exit 1 (the same storage has incomplete manifests)"
assert_match "$FSCK" "manifest +$(d idx) $S: lists child manifest $(d q)" "fsck with sparse off: names the missing child"
assert_match "$FSCK" "manifest +$(d s) $S: lists blob $(d ml1)" "fsck with sparse off: names the missing layer"

# ---------------------------------------------------------------- gc
# Everything is made old (the daemon stopped while ages are edited); with
# untagged = delete and no grace, only what tags keep may stay.
daemon_stop
NOW=$(date +%s)
db "UPDATE manifests SET created = $NOW - 7200; UPDATE repo_blobs SET created = $NOW - 7200;
    UPDATE blobs SET created = $NOW - 7200; UPDATE tags SET updated = $NOW - 7200" >/dev/null
GC=$("$OCIREGD" gc -c "$CONF" 2>&1)
rc=$?
assert_eq "$rc" 0 "gc with sparse manifests: exit 0"
for x in idx p s sig; do
	assert_eq "$(has_mf $S "$(d $x)")" 1 "gc kept $x (tagged, child or referrer of a tagged index)"
done
for x in scfg sl1 empty; do
	assert_blob_stored "$(d $x)" "gc kept blob $x"
done
assert_eq "$(printf '%s\n' "$GC" | grep -Ec "^(manifest|blob|link) .*$S")" 0 "gc removed nothing of $S"
daemon_start
req GET "/v2/$S/manifests/multi" -H "Accept: $MT_OCI_INDEX"
assert_status 200 "after gc: the sparse index"
req GET "/v2/$S/manifests/$(d s)" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "after gc: the manifest with a missing layer"
req GET "/v2/$S/blobs/$(d sl1)"
assert_status 200 "after gc: the present layer"

# Untag everything: the sparse manifests, the present child and the
# referrer go, and with them the blobs only they held.
for t in multi s1 s-latest; do
	req DELETE "/v2/$S/manifests/$t"
	assert_status 202 "untag $t"
done
daemon_stop
db "UPDATE manifests SET created = $NOW - 7200" >/dev/null
GC=$("$OCIREGD" gc -c "$CONF" 2>&1)
rc=$?
assert_eq "$rc" 0 "gc after untagging: exit 0"
for x in idx p s sig; do
	assert_eq "$(has_mf $S "$(d $x)")" 0 "gc collected $x once untagged"
	assert_blob_absent "$(d $x)" "gc removed the bytes of $x"
done
for x in scfg sl1; do
	assert_blob_absent "$(d $x)" "gc removed blob $x (no manifest holds it)"
done
assert_eq "$(has_mf $A "$M1")" 1 "gc kept $A's tagged manifest"
assert_blob_stored "$(d l1)" "gc kept the layer of $A's tagged manifest"
FSCK=$("$OCIREGD" fsck -c "$CONF" 2>&1)
assert_eq "$?" 0 "fsck after gc: clean"
daemon_start
req GET "/v2/$S/manifests/$(d idx)" -H "Accept: $MT_OCI_INDEX"
assert_status_error 404 MANIFEST_UNKNOWN "after gc: the untagged sparse index is gone"
req GET "/v2/$A/manifests/v1.2" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "after gc: $A still pulls"
assert_body_digest "$M1" "after gc: $A's bytes"

e2e_finish
