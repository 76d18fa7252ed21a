#!/usr/bin/env bash
# t_proxy_distribution.sh — CNCF Distribution (Debian's docker-registry) as
# a second kind of upstream for the pull-through cache: skopeo pushes an
# image and a multi-arch index to it; skopeo and podman pull them through
# ociregd in prefix and mirror mode; a second pull makes no upstream blob
# GET (Distribution's access log); a tag past tag_ttl is revalidated with a
# HEAD; the tags list merges; a second Distribution with htpasswd answers
# with a Basic challenge, which a section with credentials follows (and
# one with wrong credentials does not get past).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
. "$(dirname "$0")/lib-proxy.sh"
# The daemons' libcurl honours proxy variables: everything here is local.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
e2e_init
proxy_init
if ! command -v skopeo >/dev/null || ! command -v docker-registry >/dev/null; then
	t_pass "skopeo and docker-registry (CNCF Distribution) are needed # SKIP"
	e2e_finish
fi
clients_init
W=$TMP/w
mkdir -p "$W"
MKIMAGE=$E2E_DIR/mkimage
BPW='Bob-dist-pw-0b7e'

# ---------------------------------------------------------------- two Distributions, one store
dist_start "$TMP/dist"
D1=127.0.0.1:$DIST_PORT
D1LOG=$DIST_LOG
# bcrypt (Distribution's htpasswd takes nothing else) through libcrypt.
HASH=$(perl -e 'my @c = ("a".."z", "A".."Z", 0..9, ".", "/"); my $s = join("", map { $c[rand @c] } 1..22); print crypt($ARGV[0], "\$2a\$05\$$s")' "$BPW")
case $HASH in
'$2a$05$'*) ;;
*) bail "bcrypt hash for the htpasswd file" "perl crypt gave '$HASH'" ;;
esac
printf 'bob:%s\n' "$HASH" >"$TMP/htpasswd"
dist_start "$TMP/dist" "$TMP/htpasswd"
D2=127.0.0.1:$DIST_PORT
D2LOG=$DIST_LOG
printf '%s\n' "$BPW" >"$TMP/bob.pw"

M1=$("$MKIMAGE" "$W/img" 2 256 amd64)
run "skopeo push to Distribution: library/img:1" skopeo copy --dest-tls-verify=false "oci:$W/img:latest" "docker://$D1/library/img:1"
run "skopeo push to Distribution: library/img:2" skopeo copy --dest-tls-verify=false "oci:$W/img:latest" "docker://$D1/library/img:2"
# A multi-arch index of two images.
MA=$("$MKIMAGE" "$W/amd" 1 64 amd64)
MR=$("$MKIMAGE" "$W/arm" 1 64 arm64)
mkdir -p "$W/multi/blobs/sha256"
cp "$W/amd/blobs/sha256/"* "$W/arm/blobs/sha256/"* "$W/multi/blobs/sha256/"
cp "$W/amd/oci-layout" "$W/multi/"
child() { jq -c '.manifests[0] | del(.annotations)' "$1/index.json"; }
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s]}' "$MT_OCI_INDEX" "$(child "$W/amd")" "$(child "$W/arm")" >"$W/ix"
IX=$(sha256_of "$W/ix")
cp "$W/ix" "$W/multi/blobs/sha256/${IX#sha256:}"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
	"$MT_OCI_INDEX" "$IX" "$(fsize "$W/ix")" >"$W/multi/index.json"
run "skopeo push --all to Distribution: library/multi:1" skopeo copy --all --dest-tls-verify=false \
	"oci:$W/multi:latest" "docker://$D1/library/multi:1"

# ---------------------------------------------------------------- the cache
E2E_WORKERS=2
E2E_EXTRA_INI="[proxy \"dist\"]
url = http://$D1
prefix = dist
tag_ttl = 1s
[proxy \"mirror\"]
url = http://$D1
mirror = true
[proxy \"basic\"]
url = http://$D2
prefix = basic
username = bob
password_file = $TMP/bob.pw
[proxy \"wrong\"]
url = http://$D2
prefix = wrong
username = bob
password = not-the-password"
e2e_config
daemon_start
REG=127.0.0.1:$PORT
layout_digest() { jq -r '.manifests[0].digest' "$1/index.json" 2>&1; }
blob_gets() { dist_count "$1" "GET /v2/$2/blobs/sha256:[0-9a-f]+ HTTP/1.1\" 200"; }

# ---------------------------------------------------------------- prefix mode
run "skopeo pull through the cache from Distribution (prefix): dist/library/img:1" \
	skopeo copy --src-tls-verify=false "docker://$REG/dist/library/img:1" "oci:$W/p1:latest"
assert_eq "$(layout_digest "$W/p1")" "$M1" "prefix pull from Distribution: manifest digest"
assert_eq "$(layout_ok "$W/p1")" ok "prefix pull from Distribution: every blob hashes to its name"
G1=$(blob_gets "$D1LOG" library/img)
assert_eq "$G1" 3 "prefix pull: each of the 3 blobs fetched from Distribution once"
assert_rows "SELECT proxy FROM repositories WHERE name='dist/library/img'" dist "stored as dist/library/img"
run "second skopeo pull (prefix)" skopeo copy --src-tls-verify=false "docker://$REG/dist/library/img:1" "oci:$W/p2:latest"
assert_eq "$(blob_gets "$D1LOG" library/img)" "$G1" "second pull: no upstream blob traffic"
if have_podman; then
	run "podman pull $REG/dist/library/img:1" "${PM[@]}" pull --tls-verify=false "$REG/dist/library/img:1"
	run "podman image inspect" "${PM[@]}" image inspect --format '{{.Digest}}' "$REG/dist/library/img:1"
	assert_eq "$(tail -n 1 "$OUT")" "$M1" "podman (prefix mode, Distribution): digest"
	assert_eq "$(blob_gets "$D1LOG" library/img)" "$G1" "podman pull of a cached image: no upstream blob traffic"
else
	t_pass "podman tests need podman and root # SKIP"
fi

# ---------------------------------------------------------------- revalidation and tags
H0=$(dist_count "$D1LOG" "HEAD /v2/library/img/manifests/1 HTTP/1.1\" 200")
sleep 1.2
req GET /v2/dist/library/img/manifests/1 -H "Accept: $MT_OCI_MANIFEST"
assert_header Docker-Content-Digest "$M1" "cached tag after tag_ttl"
assert_eq "$(($(dist_count "$D1LOG" "HEAD /v2/library/img/manifests/1 HTTP/1.1\" 200") - H0))" 1 \
	"after tag_ttl the tag is revalidated with one HEAD to Distribution"
req GET /v2/dist/library/img/tags/list
assert_json .tags '["1","2"]' "tags list merges Distribution's tags with the cache's"

# ---------------------------------------------------------------- mirror mode, multi-arch
if have_podman; then
	run "podman pull (mirror mode) $REG/library/multi:1" "${PM[@]}" pull --tls-verify=false "$REG/library/multi:1"
	run "podman image inspect (mirror mode)" "${PM[@]}" image inspect --format '{{.Digest}}' "$REG/library/multi:1"
	assert_eq "$(tail -n 1 "$OUT")" "$IX" "podman (mirror mode): the index digest"
fi
run "skopeo copy --all through the cache (mirror mode): library/multi:1" skopeo copy --all \
	--src-tls-verify=false "docker://$REG/library/multi:1" "oci:$W/m1:latest"
assert_eq "$(layout_digest "$W/m1")" "$IX" "mirror pull of an index: its digest"
assert_eq "$(layout_ok "$W/m1")" ok "mirror pull of an index: every blob hashes to its name"
for c in "$MA" "$MR"; do
	req GET "/v2/library/multi/manifests/$c" -H "Accept: $MT_OCI_MANIFEST"
	assert_body_digest "$c" "child manifest ${c:7:12} is cached"
done
assert_rows "SELECT count(*) FROM manifest_refs mr JOIN repositories r ON r.id=mr.repo_id WHERE r.name='library/multi' AND mr.digest='$IX' AND mr.is_manifest=1" 2 \
	"the cached index references its two children"
assert_rows "SELECT proxy FROM repositories WHERE name='library/multi'" mirror "stored as library/multi, marked as [proxy \"mirror\"]"

# ---------------------------------------------------------------- Basic authentication
run "skopeo pull through a section with credentials (Distribution with htpasswd: Basic)" \
	skopeo copy --src-tls-verify=false "docker://$REG/basic/library/img:2" "oci:$W/b1:latest"
assert_eq "$(layout_digest "$W/b1")" "$M1" "Basic: digest"
if [ "$(dist_count "$D2LOG" "GET /v2/library/img/manifests/2 HTTP/1.1\" 401")" -ge 1 ] &&
	[ "$(dist_count "$D2LOG" "GET /v2/library/img/manifests/2 HTTP/1.1\" 200")" -ge 1 ]; then
	t_pass "Basic: the challenge was answered with the section's credentials"
else
	t_fail "Basic: the challenge was answered with the section's credentials" "$(grep 'manifests/2' "$D2LOG" | tail -n 5)"
fi
assert_eq "$(blob_gets "$D2LOG" library/img)" 0 \
	"Basic: blobs the cache holds for a manifest it got from this upstream are linked, not fetched"
req GET /v2/basic/library/img/tags/list
assert_json .tags '["1","2"]' "Basic: tags list through the authenticated upstream"
run_fails "wrong credentials: the pull fails" skopeo copy --src-tls-verify=false "docker://$REG/wrong/library/img:1" "oci:$W/w1:latest"
req GET /v2/wrong/library/img/manifests/1
assert_status_error 404 MANIFEST_UNKNOWN "wrong credentials: MANIFEST_UNKNOWN for the client"
assert_log 'proxy wrong: GET http://[^ ]+/v2/library/img/manifests/1: upstream wrong answered 401' "wrong credentials: logged"
req PUT /v2/basic/library/img/manifests/9 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/img/blobs/sha256/${M1#sha256:}"
assert_status_error 405 UNSUPPORTED "push to a cached repository"

e2e_finish
