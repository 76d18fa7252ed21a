#!/usr/bin/env bash
# t_spec14.sh — issue 14: (1) upload sessions opened with
# ?digest-algorithm=sha512 (distribution-spec main, end-4c), chunked and
# monolithic, across a restart, and the refusals (unknown algorithm, a
# closing digest of another algorithm or of other bytes) that leave nothing
# behind; (2) [storage] auto_mount: a mount without from= is 201 by default
# and a plain session (202) with auto_mount = false, while from= still
# mounts; (3) the catalog lists every repository that holds a manifest or a
# blob link, and no longer one that was emptied (deletes, gc) or that only
# has an upload session; pagination over the mix; with auth, only what the
# user may pull.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
W=$TMP/w
mkdir -p "$W"
USERS=$TMP/users
PW_ALICE='alice-spec14-pw-1'
PW_BOB='bob-spec14-pw-2'

# spec14_conf [INI...]: the base config (zero gc grace, so `ociregd gc`
# collects unreferenced links at once) plus extra lines.
spec14_conf() {
	e2e_config
	{
		printf '[gc]\nuntagged = delete\nuntagged_grace = 0s\ngrace = 0s\n'
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} >>"$CONF"
}
spec14_conf
daemon_start

catalog_is() { # catalog_is JSON DESC [curl args]: GET /v2/_catalog, 200, exact list
	local want=$1 desc=$2
	shift 2
	req GET /v2/_catalog "$@"
	assert_status 200 "$desc: GET /v2/_catalog"
	assert_json .repositories "$want" "$desc"
}
jlist() { printf '%s\n' "$@" | LC_ALL=C sort | jq -R . | jq -sc .; }
# mkimg REPO NAME: push a config blob and a layer to REPO, write the
# manifest to $W/NAME.m; sets CFG_D, LAYER_D.
mkimg() {
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"r":"%s"}' "$1" >"$W/$2.cfg"
	mkblob "$W/$2.layer" 3000
	push_blob "$1" "$W/$2.cfg"
	push_blob "$1" "$W/$2.layer"
	CFG_D=$(sha256_of "$W/$2.cfg")
	LAYER_D=$(sha256_of "$W/$2.layer")
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
		"$(desc "$MT_OCI_CONFIG" "$W/$2.cfg")" "$(desc "$MT_OCI_LAYER" "$W/$2.layer")" >"$W/$2.m"
}

# ================================================================ (3) catalog
catalog_is '[]' "empty registry: empty catalog"

# An upload session alone makes no repository, even with bytes in it.
upload_start sess/only
mkblob "$W/sess" 1000
req PATCH "$UPLOAD_LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$W/sess"
assert_status 202 "PATCH 1000 bytes into a session of sess/only"
catalog_is '[]' "a repository with only an upload session is not listed"

# A repository exists from its first blob push ...
mkblob "$W/a.blob" 5000
A_D=$(sha256_of "$W/a.blob")
push_blob a/blobonly "$W/a.blob"
catalog_is '["a/blobonly"]' "a repository holding only a pushed blob is listed"
# ... or its first mount (with from=, and by automatic discovery).
req POST "/v2/b/mounted/blobs/uploads/?mount=$A_D&from=a/blobonly"
assert_status 201 "mount a/blobonly's blob into b/mounted"
req POST "/v2/b/auto/blobs/uploads/?mount=$A_D"
assert_status 201 "mount without from= into b/auto (auto_mount default true)"
mkimg c/img c
push_manifest c/img v1 "$W/c.m"
catalog_is '["a/blobonly","b/auto","b/mounted","c/img"]' "blob-only, mounted and image repositories are listed"

# Emptied by deletes: a/blobonly loses its only blob link; d/img loses its
# manifest, then its two blobs.
req DELETE "/v2/a/blobonly/blobs/$A_D"
assert_status 202 "DELETE the only blob of a/blobonly"
mkimg d/img d
push_manifest d/img v1 "$W/d.m"
D_M=$(sha256_of "$W/d.m")
catalog_is '["b/auto","b/mounted","c/img","d/img"]' "a/blobonly (emptied) is no longer listed; d/img is"
req DELETE "/v2/d/img/manifests/$D_M"
assert_status 202 "DELETE d/img's manifest"
catalog_is '["b/auto","b/mounted","c/img","d/img"]' "d/img still holds its blobs: still listed"
req DELETE "/v2/d/img/blobs/$CFG_D"
assert_status 202 "DELETE d/img's config blob"
req DELETE "/v2/d/img/blobs/$LAYER_D"
assert_status 202 "DELETE d/img's layer blob"
catalog_is '["b/auto","b/mounted","c/img"]' "d/img, emptied by deletes, is no longer listed"
assert_rows "SELECT count(*) FROM repo_blobs rb JOIN repositories r ON r.id=rb.repo_id WHERE r.name IN ('a/blobonly','d/img')" 0 \
	"no blob link is left in the emptied repositories"
req GET "/v2/a/blobonly/blobs/$A_D"
assert_status_error 404 BLOB_UNKNOWN "the deleted blob is gone from a/blobonly"
req GET "/v2/b/mounted/blobs/$A_D"
assert_status 200 "the mounted copy in b/mounted stays"

# Pagination over a mix of blob-only and manifest repositories.
for r in p/1 p/3 p/5; do
	mkblob "$W/pb" 700
	push_blob "$r" "$W/pb"
done
for r in p/2 p/4; do
	mkimg "$r" pimg
	push_manifest "$r" v1 "$W/pimg.m"
done
jlist b/auto b/mounted c/img p/1 p/2 p/3 p/4 p/5 | jq -r '.[]' >"$W/cat.all"
NC=$(wc -l <"$W/cat.all")
catalog_is "$(jq -R . "$W/cat.all" | jq -sc .)" "the whole mixed catalog, in lexical order"
req GET "/v2/_catalog?n=3"
assert_json .repositories '["b/auto","b/mounted","c/img"]' "catalog ?n=3: the first three"
assert_header Link '</v2/_catalog?n=3&last=c/img>; rel="next"' "catalog ?n=3: Link to the next page"
req GET "/v2/_catalog?n=2&last=p/1"
assert_json .repositories '["p/2","p/3"]' "catalog ?n=2&last=p/1 (a blob-only repository as last)"
req GET "/v2/_catalog?n=0"
assert_json .repositories '[]' "catalog ?n=0: empty"
assert_no_header Link "catalog ?n=0: no Link"
for n in 1 2 3 $NC; do
	if follow_pages "/v2/_catalog?n=$n" repositories "$n" "$W/cat.got"; then
		assert_eq "$(cat "$W/cat.got")" "$(cat "$W/cat.all")" "catalog: the Link pages of n=$n concatenate to the whole list"
	else
		t_fail "catalog: follow the Link pages of n=$n" "$PAGE_ERR"
	fi
done

# Emptied by garbage collection: links no manifest references go at zero
# grace, and their repositories leave the catalog.
sleep 1
OUT=$("$OCIREGD" gc -c "$CONF" 2>&1)
assert_match "$OUT" "gc: removed" "ociregd gc ran ($(tail -n 1 <<<"$OUT"))"
catalog_is '["c/img","p/2","p/4"]' "after gc only the repositories with manifests are left"
assert_rows "SELECT count(*) FROM repo_blobs rb JOIN repositories r ON r.id=rb.repo_id WHERE r.name IN ('b/auto','b/mounted','p/1','p/3','p/5')" 0 \
	"gc removed the blob-only repositories' links"

# ================================================================ (1) sha512 sessions
R=s512/app
mkblob "$W/big" 300000
D512=$(sha512_of "$W/big")
D256=$(sha256_of "$W/big")
slice "$W/big" 0 100000 "$W/big.1"
slice "$W/big" 100000 200000 "$W/big.2"

# ---- chunked: POST ?digest-algorithm=sha512, two PATCHes, PUT sha512
req POST "/v2/$R/blobs/uploads/?digest-algorithm=sha512"
assert_status 202 "POST ?digest-algorithm=sha512 starts a session"
U=$(hdr Docker-Upload-UUID)
L=$(loc_url "$(hdr Location)")
assert_rows "SELECT alg FROM uploads WHERE id='$U'" sha512 "the session row records sha512"
req PATCH "$L" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-99999' --data-binary "@$W/big.1"
assert_status 202 "PATCH chunk 1 (0-99999)"
assert_header Range 0-99999 "PATCH chunk 1"
req PATCH "$L" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 100000-299999' --data-binary "@$W/big.2"
assert_status 202 "PATCH chunk 2 (100000-299999)"
assert_header Range 0-299999 "PATCH chunk 2"
req PUT "$(with_query "$L" "digest=$D512")"
assert_status 201 "PUT ?digest=sha512:... closes the sha512 session"
assert_header Location "/v2/$R/blobs/$D512" "sha512 PUT"
assert_header Docker-Content-Digest "$D512" "sha512 PUT"
assert_blob_stored "$D512" "the blob is stored under blobs/sha512/"
assert_rows "SELECT count(*) FROM uploads" 1 "the closed session is gone (sess/only's remains)"
req GET "/v2/$R/blobs/$D512"
assert_status 200 "GET the blob by its sha512 digest"
assert_header Docker-Content-Digest "$D512" "GET by sha512"
assert_header Content-Length 300000 "GET by sha512"
assert_body_digest "$D512" "GET by sha512"
req HEAD "/v2/$R/blobs/$D512"
assert_status 200 "HEAD by sha512"
assert_header Docker-Content-Digest "$D512" "HEAD by sha512"

# ---- monolithic, with the parameter
mkblob "$W/mono" 40000
M512=$(sha512_of "$W/mono")
req POST "/v2/$R/blobs/uploads/?digest-algorithm=sha512&digest=$M512" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$W/mono"
assert_status 201 "monolithic POST ?digest-algorithm=sha512&digest=sha512:..."
assert_header Docker-Content-Digest "$M512" "monolithic sha512"
req GET "/v2/$R/blobs/$M512"
assert_body_digest "$M512" "GET the monolithic sha512 blob"

# ---- refusals that leave nothing behind
mkblob "$W/other" 20000
O512=$(sha512_of "$W/other")
O256=$(sha256_of "$W/other")
WRONG512=sha512:$(printf '%0128d' 7)
NFILES=$(blob_file_count)
NUP=$(db "SELECT count(*) FROM uploads")
NLINKS=$(db "SELECT count(*) FROM repo_blobs")
NSESS=$(upload_count)
unchanged() { # unchanged DESC: no blob file, upload row or link came or went
	assert_eq "$(blob_file_count)" "$NFILES" "$1: no blob file added"
	assert_rows "SELECT count(*) FROM uploads" "$NUP" "$1: no upload row left"
	assert_rows "SELECT count(*) FROM repo_blobs" "$NLINKS" "$1: no blob link added"
	if store_is_s3; then # a session without bytes may have no object yet
		assert_eq "$(upload_count)" "$NSESS" "$1: no upload object left"
	else
		assert_eq "$(spool_files)" "$NUP" "$1: no spool file left"
	fi
}
for alg in md5 sha384 SHA512 sha512x sha256: '' "$(printf 'x%.0s' {1..40})"; do
	req POST "/v2/$R/blobs/uploads/?digest-algorithm=$alg"
	assert_status_error 400 DIGEST_INVALID "POST ?digest-algorithm='$alg' (unknown)"
	assert_envelope "POST ?digest-algorithm='$alg'"
	assert_no_header Location "POST ?digest-algorithm='$alg' opens no session"
done
unchanged "unknown algorithms"
req POST "/v2/$R/blobs/uploads/?digest-algorithm=blake3&digest=$O512" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$W/other"
assert_status_error 400 DIGEST_INVALID "monolithic POST with an unknown digest-algorithm"
req POST "/v2/$R/blobs/uploads/?digest-algorithm=sha256&digest=$O512" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$W/other"
assert_status_error 400 DIGEST_INVALID "monolithic POST: digest-algorithm=sha256 but a sha512 digest"
req POST "/v2/team/x/blobs/uploads/?digest-algorithm=md5&mount=$A_D&from=b/mounted"
assert_status_error 400 DIGEST_INVALID "a mount with an unknown digest-algorithm mounts nothing"
assert_rows "SELECT count(*) FROM repositories WHERE name='team/x'" 0 "... and makes no repository"
unchanged "refused monolithic POSTs and mount"

# a wrong sha512 digest: 400, nothing stored under either name
req POST "/v2/$R/blobs/uploads/?digest-algorithm=sha512"
assert_status 202 "another sha512 session"
L=$(loc_url "$(hdr Location)")
req PATCH "$L" -H 'Content-Type: application/octet-stream' --data-binary "@$W/other"
assert_status 202 "PATCH the whole blob (no Content-Range)"
req PUT "$(with_query "$L" "digest=$WRONG512")"
assert_status_error 400 DIGEST_INVALID "PUT with a wrong sha512 digest"
assert_blob_absent "$WRONG512" "nothing stored under the claimed digest"
assert_blob_absent "$O512" "nothing stored under the real digest"
req GET "/v2/$R/blobs/$O512"
assert_status_error 404 BLOB_UNKNOWN "the mismatched blob is not served"
unchanged "a wrong sha512 digest"

# a sha512 session closed with a sha256 digest (right bytes): 400, and the
# session is left as it was, so the right digest still closes it
req POST "/v2/$R/blobs/uploads/?digest-algorithm=sha512"
U=$(hdr Docker-Upload-UUID)
L=$(loc_url "$(hdr Location)")
req PATCH "$L" -H 'Content-Type: application/octet-stream' --data-binary "@$W/other"
assert_status 202 "PATCH 20000 bytes into a third sha512 session"
req PUT "$(with_query "$L" "digest=$O256")"
assert_status_error 400 DIGEST_INVALID "a sha512 session closed with a sha256 digest"
assert_detail_has sha512 "the refusal names the session's algorithm"
assert_blob_absent "$O256" "nothing stored under the sha256 digest"
req GET "/v2/$R/blobs/$O256"
assert_status_error 404 BLOB_UNKNOWN "not served by the sha256 digest"
req GET "$L"
assert_status 204 "the session survives the refused PUT"
assert_header Range 0-19999 "... with all its bytes"
assert_rows "SELECT size || ' ' || alg FROM uploads WHERE id='$U'" "20000 sha512" "... and its row unchanged"

# ---- the algorithm survives a restart mid-upload
slice "$W/other" 0 8000 "$W/o.1"
slice "$W/other" 8000 12000 "$W/o.2"
req POST "/v2/$R/blobs/uploads/?digest-algorithm=sha512"
L2=$(loc_url "$(hdr Location)")
U2=$(hdr Docker-Upload-UUID)
req PATCH "$L2" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-7999' --data-binary "@$W/o.1"
assert_status 202 "sha512 session: PATCH 0-7999 before the restart"
daemon_restart
L=$(loc_url "/v2/$R/blobs/uploads/$U")
L2=$(loc_url "/v2/$R/blobs/uploads/$U2")
req PUT "$(with_query "$L" "digest=$O256")"
assert_status_error 400 DIGEST_INVALID "after the restart: the sha512 session still refuses a sha256 digest"
req PUT "$(with_query "$L" "digest=$O512")"
assert_status 201 "after the restart: the right sha512 digest closes the refused session"
assert_header Docker-Content-Digest "$O512" "closing the refused session"
req GET "/v2/$R/blobs/$O512"
assert_body_digest "$O512" "the blob of the session closed after a refusal and a restart"
req PATCH "$L2" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 8000-19999' --data-binary "@$W/o.2"
assert_status 202 "after the restart: PATCH 8000-19999 (spool re-hashed as sha512)"
req PUT "$(with_query "$L2" "digest=$O512")"
assert_status 201 "after the restart: PUT sha512 of the resumed session"
assert_blob_stored "$O512" "the resumed session's blob is stored"

# ---- sha256 named explicitly, and sessions that named nothing
mkblob "$W/s256" 9000
req POST "/v2/$R/blobs/uploads/?digest-algorithm=sha256"
assert_status 202 "POST ?digest-algorithm=sha256 (explicit default)"
L=$(loc_url "$(hdr Location)")
req PUT "$(with_query "$L" "digest=$(sha256_of "$W/s256")")" -H 'Content-Type: application/octet-stream' --data-binary "@$W/s256"
assert_status 201 "the explicit sha256 session closes with a sha256 digest"
mkblob "$W/plain" 9000
upload_start "$R"
req PUT "$(with_query "$UPLOAD_LOC" "digest=$(sha512_of "$W/plain")")" -H 'Content-Type: application/octet-stream' --data-binary "@$W/plain"
assert_status 201 "a session that named no algorithm may still close with sha512"
req GET "/v2/$R/blobs/$(sha512_of "$W/plain")"
assert_body_digest "$(sha512_of "$W/plain")" "the sha512 blob of the plain session"
req POST "/v2/$R/blobs/uploads/?digest=$D512" -H 'Content-Type: application/octet-stream' --data-binary "@$W/big"
assert_status 201 "monolithic sha512 POST without the parameter (as before)"
assert_eq "$D256" "$(sha256_of "$W/big")" "(sha256 of the big blob is stable)"

# ================================================================ (2) auto_mount
mkblob "$W/m.blob" 4000
MD=$(sha256_of "$W/m.blob")
push_blob m/src "$W/m.blob"
req POST "/v2/m/auto1/blobs/uploads/?mount=$MD"
assert_status 201 "auto_mount = true (default): a mount without from= mounts"
assert_header Location "/v2/m/auto1/blobs/$MD" "default mount without from="

daemon_stop
spec14_conf "[storage]" "auto_mount = false"
daemon_start
NUP=$(db "SELECT count(*) FROM uploads")
req POST "/v2/m/auto2/blobs/uploads/?mount=$MD"
assert_status 202 "auto_mount = false: a mount without from= starts a session"
U=$(hdr Docker-Upload-UUID)
assert_match "$U" '^[0-9a-f-]{36}$' "auto_mount = false: the session has an id"
assert_header Location "/v2/m/auto2/blobs/uploads/$U" "auto_mount = false: session Location"
assert_header Range 0-0 "auto_mount = false: empty session"
assert_no_header Docker-Content-Digest "auto_mount = false: nothing mounted"
assert_rows "SELECT count(*) FROM uploads" "$((NUP + 1))" "auto_mount = false: one new session row"
assert_rows "SELECT count(*) FROM repo_blobs rb JOIN repositories r ON r.id=rb.repo_id WHERE r.name='m/auto2'" 0 \
	"auto_mount = false: no link in m/auto2"
req GET "/v2/m/auto2/blobs/$MD"
assert_status_error 404 BLOB_UNKNOWN "auto_mount = false: the blob is not in m/auto2"
L=$(loc_url "/v2/m/auto2/blobs/uploads/$U")
req PUT "$(with_query "$L" "digest=$MD")" -H 'Content-Type: application/octet-stream' --data-binary "@$W/m.blob"
assert_status 201 "auto_mount = false: the session it started uploads the blob"
req POST "/v2/m/auto3/blobs/uploads/?mount=$MD&from=m/src"
assert_status 201 "auto_mount = false: a mount with from= still mounts"
assert_header Location "/v2/m/auto3/blobs/$MD" "auto_mount = false, from="
req POST "/v2/m/auto4/blobs/uploads/?mount=$MD&digest-algorithm=sha512"
assert_status 202 "auto_mount = false: the fallback session honours digest-algorithm"
assert_rows "SELECT alg FROM uploads WHERE id='$(hdr Docker-Upload-UUID)'" sha512 "... (its row says sha512)"

# ================================================================ (3) catalog with auth
# pub/* may be pulled by alice and bob, priv/* by alice; no rule names the
# other repositories, so nobody sees them.
mkblob "$W/pub" 1000
push_blob pub/blob "$W/pub"
mkimg pub/img pubimg
push_manifest pub/img v1 "$W/pubimg.m"
push_blob priv/blob "$W/pub"
daemon_stop
spec14_conf "[auth]" "users = $USERS" \
	'[access "pub/*"]' "pull = alice, bob" \
	'[access "priv/*"]' "pull = alice"
for u in "alice:$PW_ALICE" "bob:$PW_BOB"; do
	printf '%s\n' "${u#*:}" | timeout 60 "$OCIREGD" passwd -c "$CONF" "${u%%:*}" >/dev/null 2>&1 ||
		bail "ociregd passwd ${u%%:*}"
done
daemon_start
catalog_is '["pub/blob","pub/img"]' "bob sees the pub/* repositories, blob-only included" -u "bob:$PW_BOB"
catalog_is '["priv/blob","pub/blob","pub/img"]' "alice also sees priv/blob (blob-only)" -u "alice:$PW_ALICE"
req GET '/v2/_catalog?n=1' -u "bob:$PW_BOB"
assert_json .repositories '["pub/blob"]' "bob: catalog ?n=1"
assert_header Link '</v2/_catalog?n=1&last=pub/blob>; rel="next"' "bob: catalog ?n=1 Link"
req GET '/v2/_catalog?n=1&last=pub/blob' -u "bob:$PW_BOB"
assert_json .repositories '["pub/img"]' "bob: the second page"
req GET /v2/_catalog
assert_status 401 "anonymous catalog is challenged"

assert_no_5xx "no 5xx answered"
e2e_finish
