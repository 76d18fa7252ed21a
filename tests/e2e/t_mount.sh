#!/usr/bin/env bash
# t_mount.sh — cross-repository blob mount: POST ?mount=&from=.
. "$(dirname "$0")/lib.sh"
e2e_init
daemon_start

SRC=lib/src
F=$TMP/blob
mkblob "$F" 600000
D=$(sha256_of "$F")
push_blob "$SRC" "$F"

repo_has() {
	db "SELECT count(*) FROM repo_blobs rb JOIN repositories r ON r.id=rb.repo_id
		WHERE r.name=$(sqlq "$1") AND rb.digest=$(sqlq "$2")"
}

# ---- mount with from: 201 + exact Location
nfiles=$(blob_file_count)
req POST "/v2/team/dst/blobs/uploads/?mount=$D&from=$SRC"
assert_status 201 "mount from $SRC"
assert_header Location "/v2/team/dst/blobs/$D" "mount from $SRC"
assert_header Docker-Content-Digest "$D" "mount from $SRC"
assert_no_header Docker-Upload-UUID "a mount starts no session"
assert_eq "$(repo_has team/dst "$D")" 1 "mount links the blob in team/dst (repo_blobs)"
assert_eq "$(blob_file_count)" "$nfiles" "mount copies no file"
assert_rows "SELECT count(*) FROM uploads" 0 "mount leaves no uploads row"
req GET "/v2/team/dst/blobs/$D"
assert_status 200 "GET the mounted blob"
assert_header Content-Length 600000 "GET the mounted blob"
assert_body_digest "$D" "GET the mounted blob"
req GET "/v2/$SRC/blobs/$D"
assert_status 200 "source still has it"

# mounting again (already there) is still 201
req POST "/v2/team/dst/blobs/uploads/?mount=$D&from=$SRC"
assert_status 201 "mount again into a repository that has it"
assert_header Location "/v2/team/dst/blobs/$D" "mount again"

# query parameter order does not matter
req POST "/v2/team/dst2/blobs/uploads/?from=$SRC&mount=$D"
assert_status 201 "mount with from= before mount="
assert_header Location "/v2/team/dst2/blobs/$D" "mount with from= first"

# ---- from a repository that lacks the blob: a normal session (202)
F2=$TMP/blob2
mkblob "$F2" 1000
push_blob empty/src "$F2"
req POST "/v2/team/dst3/blobs/uploads/?mount=$D&from=empty/src"
assert_status 202 "mount from a repository without the blob"
U=$(hdr Docker-Upload-UUID)
assert_match "$U" '^[0-9a-f-]{36}$' "fallback session has a Docker-Upload-UUID"
assert_header Location "/v2/team/dst3/blobs/uploads/$U" "fallback session"
assert_header Range "0-0" "fallback session"
assert_eq "$(repo_has team/dst3 "$D")" 0 "nothing linked in team/dst3"
req GET "/v2/team/dst3/blobs/$D"
assert_status_error 404 BLOB_UNKNOWN "blob not visible in team/dst3 after a failed mount"
# the fallback session works: push the blob through it
L=$(loc_url "/v2/team/dst3/blobs/uploads/$U")
req PUT "$(with_query "$L" "digest=$D")" -H 'Content-Type: application/octet-stream' --data-binary "@$F"
assert_status 201 "the fallback session completes an upload"
req GET "/v2/team/dst3/blobs/$D"
assert_body_digest "$D" "blob pushed through the fallback session"

# from a repository that does not exist
req POST "/v2/team/dst4/blobs/uploads/?mount=$D&from=no/such/repo"
assert_status 202 "mount from a repository that does not exist"
assert_match "$(hdr Location)" "^/v2/team/dst4/blobs/uploads/[0-9a-f-]{36}$" "fallback Location"

# from a repository that had it but deleted it
push_blob had/it "$F"
req DELETE "/v2/had/it/blobs/$D"
assert_status 202 "DELETE the blob in had/it"
req POST "/v2/team/dst5/blobs/uploads/?mount=$D&from=had/it"
assert_status 202 "mount from a repository whose link was deleted"
assert_eq "$(repo_has team/dst5 "$D")" 0 "nothing linked in team/dst5"

# a digest nobody has
UNK=sha256:$(printf '%064d' 5)
req POST "/v2/team/dst6/blobs/uploads/?mount=$UNK&from=$SRC"
assert_status 202 "mount of an unknown digest"

# an invalid from= is not an error, just no mount
req POST "/v2/team/dst7/blobs/uploads/?mount=$D&from=../../lib/src"
assert_status 202 "mount with an invalid from= name"
assert_eq "$(repo_has team/dst7 "$D")" 0 "invalid from= links nothing"

# ---- mount without from (automatic content discovery)
req POST "/v2/auto/dst/blobs/uploads/?mount=$D"
assert_status 201 "mount without from"
assert_header Location "/v2/auto/dst/blobs/$D" "mount without from"
assert_header Docker-Content-Digest "$D" "mount without from"
req GET "/v2/auto/dst/blobs/$D"
assert_status 200 "GET the blob mounted without from"
assert_body_digest "$D" "GET the blob mounted without from"
req POST "/v2/auto/dst2/blobs/uploads/?mount=$UNK"
assert_status 202 "mount without from of an unknown digest"
assert_match "$(hdr Location)" "^/v2/auto/dst2/blobs/uploads/[0-9a-f-]{36}$" "fallback Location without from"

# the only repository holding a blob deleted it: nothing to discover
F4=$TMP/blob4
mkblob "$F4" 50000
D4=$(sha256_of "$F4")
push_blob solo/repo "$F4"
req DELETE "/v2/solo/repo/blobs/$D4"
assert_status 202 "DELETE the only link of a blob"
req POST "/v2/auto/dst3/blobs/uploads/?mount=$D4"
assert_status 202 "mount without from of a blob no repository links any more"
assert_eq "$(repo_has auto/dst3 "$D4")" 0 "nothing linked in auto/dst3"
req GET "/v2/auto/dst3/blobs/$D4"
assert_status_error 404 BLOB_UNKNOWN "blob not visible in auto/dst3"

# ---- malformed mount digest
req POST "/v2/team/dst8/blobs/uploads/?mount=sha256:nothex&from=$SRC"
assert_status_error 400 DIGEST_INVALID "mount= with a malformed digest"

# ---- sha512 mount
F3=$TMP/blob3
mkblob "$F3" 70000
D3=$(sha512_of "$F3")
push_blob "$SRC" "$F3" "$D3"
req POST "/v2/team/dst9/blobs/uploads/?mount=$D3&from=$SRC"
assert_status 201 "mount a sha512 blob"
assert_header Location "/v2/team/dst9/blobs/$D3" "mount a sha512 blob"
req GET "/v2/team/dst9/blobs/$D3"
assert_body_digest "$D3" "GET the mounted sha512 blob"

assert_no_5xx "no 5xx answered"
e2e_finish
