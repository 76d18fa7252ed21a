#!/usr/bin/env bash
# t_tags.sh — GET /v2/<name>/tags/list and GET /v2/_catalog: lexical order,
# ?n= / ?last= pagination, Link headers followed to the end, bad parameters.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
E2E_WORKERS=4 # listings must agree whichever worker answers
e2e_init
daemon_start

R=team/app
W=$TMP/w
mkdir -p "$W"

# one tiny manifest (empty config, zero layers) per repository
mkman() { # mkman REPO FILE: push the empty config to REPO, write a manifest
	blob_json "$1" "$W/empty" '{}'
	printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"annotations":{"repo":"%s"}}' \
		"$MT_OCI_MANIFEST" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$1" >"$2"
}
mkman $R "$W/m"
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"annotations":{"other":"1"}}' \
	"$MT_OCI_MANIFEST" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" >"$W/m2"

LONG=t$(printf '%0127d' 0 | tr 0 x)
TAGS=(latest v2 v1.0.0 v1.0.0-rc1 v1.0.0-rc10 v1.0.0-rc2 1.0 1.10 1.2 10 9 A Z _under a a-b a.b a_b ab z "$LONG" 0)
for t in "${TAGS[@]}"; do
	f=$W/m
	case $t in a* | 1*) f=$W/m2 ;; esac
	put_manifest $R "$t" "$f"
	[ "$STATUS" = 201 ] || t_fail "PUT tag $t" "status $STATUS $(head -c 200 "$BODY")"
done
t_pass "pushed ${#TAGS[@]} tags"
# re-pushing a tag does not duplicate it
put_manifest $R latest "$W/m2"
assert_status 201 "re-push tag latest"

printf '%s\n' "${TAGS[@]}" | LC_ALL=C sort >"$W/expected"
NT=$(wc -l <"$W/expected")
EXPECTED_JSON=$(jq -R . "$W/expected" | jq -sc .)
nth() { sed -n "${1}p" "$W/expected"; }

# ---------------------------------------------------------------- full list
req GET "/v2/$R/tags/list"
assert_status 200 "tags list"
assert_match "$(hdr Content-Type)" '^application/json' "tags list is JSON"
assert_json .name "\"$R\"" "tags list names the repository"
assert_json .tags "$EXPECTED_JSON" "all tags in lexical (byte) order, no duplicates"
assert_no_header Link "full tags list"

# ---------------------------------------------------------------- n
req GET "/v2/$R/tags/list?n=4"
assert_status 200 "tags ?n=4"
assert_json .tags "$(head -n 4 "$W/expected" | jq -R . | jq -sc .)" "tags ?n=4: the first four"
assert_header Link "</v2/$R/tags/list?n=4&last=$(nth 4)>; rel=\"next\"" "tags ?n=4"

req GET "/v2/$R/tags/list?n=1"
assert_json .tags "[\"$(nth 1)\"]" "tags ?n=1"
assert_header Link "</v2/$R/tags/list?n=1&last=$(nth 1)>; rel=\"next\"" "tags ?n=1"

req GET "/v2/$R/tags/list?n=$NT"
assert_json .tags "$EXPECTED_JSON" "tags ?n=<count>: all"
assert_no_header Link "tags ?n=<count> (nothing remains)"

req GET "/v2/$R/tags/list?n=$((NT - 1))"
assert_json '.tags | length' "$((NT - 1))" "tags ?n=<count-1>"
assert_header Link "</v2/$R/tags/list?n=$((NT - 1))&last=$(nth $((NT - 1)))>; rel=\"next\"" "tags ?n=<count-1>"

req GET "/v2/$R/tags/list?n=0"
assert_status 200 "tags ?n=0"
assert_json .tags '[]' "tags ?n=0: empty list"
assert_json .name "\"$R\"" "tags ?n=0 still names the repository"
assert_no_header Link "tags ?n=0"

req GET "/v2/$R/tags/list?n=1000000000000"
assert_status 200 "tags ?n=1000000000000"
assert_json .tags "$EXPECTED_JSON" "tags with a huge n: all"
assert_no_header Link "tags with a huge n"

req GET "/v2/$R/tags/list?n=99999999999999999999999999"
assert_match "$STATUS" '^(200|400)$' "tags with n beyond 64 bits: 200 or 400, no crash (got $STATUS)"

for bad in -1 abc 1x 0x10; do
	req GET "/v2/$R/tags/list?n=$bad"
	assert_status 400 "tags ?n=$bad"
	assert_envelope "tags ?n=$bad"
done

# ---------------------------------------------------------------- follow Link to the end
for n in 1 4 5 $NT; do
	if follow_pages "/v2/$R/tags/list?n=$n" tags "$n" "$W/got"; then
		assert_eq "$(cat "$W/got")" "$(cat "$W/expected")" "tags: Link pages of n=$n concatenate to the full list"
		assert_eq "$PAGES" "$(((NT + n - 1) / n))" "tags: n=$n takes ceil($NT/$n) pages"
	else
		t_fail "tags: follow Link pages with n=$n" "$PAGE_ERR"
	fi
done

# ---------------------------------------------------------------- last
req GET "/v2/$R/tags/list?last=$(nth 5)"
assert_status 200 "tags ?last=<5th>"
assert_json .tags "$(tail -n +6 "$W/expected" | jq -R . | jq -sc .)" "tags ?last is exclusive"
assert_no_header Link "tags ?last without n"
req GET "/v2/$R/tags/list?n=2&last=$(nth 5)"
assert_json .tags "[\"$(nth 6)\",\"$(nth 7)\"]" "tags ?n=2&last=<5th>"
assert_header Link "</v2/$R/tags/list?n=2&last=$(nth 7)>; rel=\"next\"" "tags ?n=2&last=<5th>"
# a last that is not a tag: everything after it
req GET "/v2/$R/tags/list?last=v1"
assert_json .tags "$(awk '$0 > "v1"' "$W/expected" | LC_ALL=C sort | jq -R . | jq -sc .)" "tags ?last=v1 (not a tag): the tags after it"
req GET "/v2/$R/tags/list?last=zzzz"
assert_status 200 "tags ?last beyond the end"
assert_json .tags '[]' "tags ?last beyond the end: empty"
assert_no_header Link "tags ?last beyond the end"
req GET "/v2/$R/tags/list?n=3&last=$(nth "$NT")"
assert_json .tags '[]' "tags ?last=<last tag>: empty"
assert_no_header Link "tags ?last=<last tag>"
req GET "/v2/$R/tags/list?n=3&last=$(nth $((NT - 3)))"
assert_json '.tags | length' 3 "tags: exactly the last three"
assert_no_header Link "tags: page that ends exactly at the last tag"

# ---------------------------------------------------------------- unknown repository
req GET "/v2/no/such/tags/list"
assert_status_error 404 NAME_UNKNOWN "tags list of an unknown repository"
req GET "/v2/no/such/tags/list?n=2"
assert_status_error 404 NAME_UNKNOWN "tags list of an unknown repository with n"

# ---------------------------------------------------------------- deleting tags
req DELETE "/v2/$R/manifests/z"
assert_status 202 "DELETE tag z"
req GET "/v2/$R/tags/list"
assert_json .tags "$(grep -vx z "$W/expected" | jq -R . | jq -sc .)" "tag z is gone from the list"
grep -vx z "$W/expected" >"$W/expected2"
mv "$W/expected2" "$W/expected"
NT=$((NT - 1))
EXPECTED_JSON=$(jq -R . "$W/expected" | jq -sc .)

# ---------------------------------------------------------------- catalog
REPOS=(alpha beta/one beta/two beta-x gamma z9 a0/b1/c2)
for r in "${REPOS[@]}"; do
	mkman "$r" "$W/r"
	push_manifest "$r" v1 "$W/r"
done
# a repository with only blobs is in the catalog (issue 14: a repository
# exists while it holds a manifest or a blob, as in distribution and zot)
mkblob "$W/b" 100
push_blob blobs/only "$W/b"
# so is one whose only manifest was deleted: its config blob stays
mkman gone "$W/g"
push_manifest gone v1 "$W/g"
req DELETE "/v2/gone/manifests/$(sha256_of "$W/g")"
assert_status 202 "DELETE the only manifest of 'gone'"
# one emptied of its last blob is not
mkblob "$W/e" 100
push_blob emptied "$W/e"
req DELETE "/v2/emptied/blobs/$(sha256_of "$W/e")"
assert_status 202 "DELETE the only blob of 'emptied'"

printf '%s\n' "${REPOS[@]}" "$R" blobs/only gone | LC_ALL=C sort >"$W/crepos"
NR=$(wc -l <"$W/crepos")
CAT_JSON=$(jq -R . "$W/crepos" | jq -sc .)
cnth() { sed -n "${1}p" "$W/crepos"; }

req GET /v2/_catalog
assert_status 200 "catalog"
assert_match "$(hdr Content-Type)" '^application/json' "catalog is JSON"
assert_json .repositories "$CAT_JSON" "catalog: repositories with manifests or blobs, lexical order"
assert_no_header Link "full catalog"

req GET "/v2/_catalog?n=2"
assert_json .repositories "$(head -n 2 "$W/crepos" | jq -R . | jq -sc .)" "catalog ?n=2"
# the first two are a0/b1/c2 and alpha: the Link's last is a plain name
assert_header Link "</v2/_catalog?n=2&last=$(cnth 2)>; rel=\"next\"" "catalog ?n=2"
req GET "/v2/_catalog?n=0"
assert_status 200 "catalog ?n=0"
assert_json .repositories '[]' "catalog ?n=0: empty"
assert_no_header Link "catalog ?n=0"
req GET "/v2/_catalog?n=1000000000000"
assert_json .repositories "$CAT_JSON" "catalog with a huge n"
assert_no_header Link "catalog with a huge n"
req GET "/v2/_catalog?n=$NR"
assert_json .repositories "$CAT_JSON" "catalog ?n=<count>"
assert_no_header Link "catalog ?n=<count>"
req GET "/v2/_catalog?last=zzz"
assert_json .repositories '[]' "catalog ?last beyond the end"
assert_no_header Link "catalog ?last beyond the end"
req GET "/v2/_catalog?last=beta-x"
assert_json .repositories "$(awk '$0 > "beta-x"' "$W/crepos" | jq -R . | jq -sc .)" "catalog ?last=beta-x is exclusive"
req GET "/v2/_catalog?last=beta%2Fone"
assert_json .repositories "$(awk '$0 > "beta/one"' "$W/crepos" | jq -R . | jq -sc .)" "catalog ?last=beta%2Fone (percent-encoded slash)"
req GET "/v2/_catalog?last=beta/one"
assert_json .repositories "$(awk '$0 > "beta/one"' "$W/crepos" | jq -R . | jq -sc .)" "catalog ?last=beta/one (raw slash)"
for bad in -1 abc; do
	req GET "/v2/_catalog?n=$bad"
	assert_status 400 "catalog ?n=$bad"
	assert_envelope "catalog ?n=$bad"
done
for n in 1 2 3 $NR; do
	if follow_pages "/v2/_catalog?n=$n" repositories "$n" "$W/cgot"; then
		assert_eq "$(cat "$W/cgot")" "$(cat "$W/crepos")" "catalog: Link pages of n=$n concatenate to the full list"
		assert_eq "$PAGES" "$(((NR + n - 1) / n))" "catalog: n=$n takes ceil($NR/$n) pages"
	else
		t_fail "catalog: follow Link pages with n=$n" "$PAGE_ERR"
	fi
done

# ---------------------------------------------------------------- concurrent tag pushes
mkman team/many "$W/many"
for i in $(seq -w 1 40); do
	sed "s/\"repo\":\"team\/many\"/\"repo\":\"team\/many\",\"i\":\"$i\"/" "$W/many" >"$W/many.$i"
done
seq -w 1 40 | xargs -P 20 -I{} curl -s --max-time 30 -o /dev/null -w '%{http_code}\n' -X PUT \
	-H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/many.{}" "$BASE/v2/team/many/manifests/c{}" >"$W/codes"
assert_eq "$(sort "$W/codes" | uniq -c | awk '{print $2"x"$1}')" "201x40" "40 concurrent manifest PUTs (20 at a time, 4 workers) all get 201"
req GET /v2/team/many/tags/list
assert_json '.tags' "$(seq -w 1 40 | sed 's/^/c/' | jq -R . | jq -sc .)" "all 40 concurrently pushed tags are listed, in order"
assert_rows "SELECT count(DISTINCT m.digest) FROM manifests m JOIN repositories r ON r.id=m.repo_id WHERE r.name='team/many'" 40 "40 manifests rows"
seq -w 1 20 | xargs -P 20 -I{} curl -s --max-time 30 -o /dev/null -w '%{http_code}\n' -X PUT \
	-H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/many.{}" "$BASE/v2/team/many/manifests/race" >"$W/codes"
assert_eq "$(sort "$W/codes" | uniq -c | awk '{print $2"x"$1}')" "201x20" "20 concurrent PUTs of one tag all get 201"
assert_rows "SELECT count(*) FROM tags t JOIN repositories r ON r.id=t.repo_id WHERE r.name='team/many' AND t.name='race'" 1 "one tags row for the raced tag"
req GET /v2/team/many/manifests/race
assert_status 200 "the raced tag resolves"
RD=$(body_sha256)
for f in "$W"/many.0[1-9] "$W"/many.1[0-9] "$W"/many.20; do
	[ "$(sha256_of "$f")" = "$RD" ] && RF=$f
done
assert_match "${RF:-none}" 'many\.(0[1-9]|1[0-9]|20)$' "the raced tag serves one of the 20 bodies"
printf '%s\n' team/many >>"$W/crepos"
LC_ALL=C sort -o "$W/crepos" "$W/crepos"
CAT_JSON=$(jq -R . "$W/crepos" | jq -sc .)

# ---------------------------------------------------------------- restart
daemon_restart
req GET "/v2/$R/tags/list"
assert_json .tags "$EXPECTED_JSON" "after restart: same tags"
req GET /v2/_catalog
assert_json .repositories "$CAT_JSON" "after restart: same catalog"
if follow_pages "/v2/$R/tags/list?n=3" tags 3 "$W/got"; then
	assert_eq "$(cat "$W/got")" "$(cat "$W/expected")" "after restart: tags pages of n=3"
else
	t_fail "after restart: tags pages of n=3" "$PAGE_ERR"
fi

assert_no_5xx "no 5xx in the access log"
e2e_finish
