#!/usr/bin/env bash
# t_readonly.sh — [server] read_only, the maintenance mode (issue 20): a push
# works; after a SIGHUP with read_only = true every write on /v2/ (upload
# start, monolithic push, mount, PATCH, PUT and DELETE of a session, manifest
# PUT, manifest and tag and blob DELETE) is 405 UNSUPPORTED saying the
# registry is in maintenance, with an Allow header of the reading methods,
# and no row or file changed; pulls, HEAD, tags list, catalog, referrers
# and an upload's status still answer 200/204.  Back to false with another
# SIGHUP, the same pushes work again.  Then, with authentication on, the
# check comes after it (as Distribution's read-only mode): an anonymous
# writer gets 401, a user without push 403, a user with push the 405.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
e2e_config
daemon_start

W=$TMP/w
mkdir -p "$W"
A=team/app
d() { sha256_of "$W/$1"; }
mkimg() {	# OUT CONFIG LAYER
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
		"$(desc $MT_OCI_CONFIG "$2")" "$(desc $MT_OCI_LAYER "$3")" >"$1"
}

# hup VALUE: set read_only and reload; wait for the reload to be logged.
hup() {
	local n c
	sed -i '/^read_only = /d' "$CONF"
	sed -i "/^\\[server\\]\$/a read_only = $1" "$CONF"
	c=$(grep -c 'reloaded' "$LOG")
	kill -HUP "$DAEMON_PID"
	for ((n = 0; n < 50; n++)); do
		[ "$(grep -c 'reloaded' "$LOG")" -gt "$c" ] && break
		sleep 0.1
	done
	assert_ne "$(grep -c 'reloaded' "$LOG")" "$c" "SIGHUP with read_only = $1: reloaded"
}

# ---------------------------------------------------------------- writable
blob_json $A "$W/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
mkblob "$W/l1" 3000
push_blob $A "$W/l1"
mkimg "$W/m1" "$W/cfg" "$W/l1"
push_manifest $A v1 "$W/m1"
# What the read-only phase will try to write.
mkblob "$W/l2" 2000
mkimg "$W/m2" "$W/cfg" "$W/l2"
mkblob "$W/chunk" 1000
# A session opened before the maintenance, with a first chunk.
upload_start $A
SESSION=$UPLOAD_LOC
req PATCH "$SESSION" -H 'Content-Type: application/octet-stream' --data-binary "@$W/chunk"
assert_status 202 "a chunk before the maintenance"
SESSION=$(loc_url "$(hdr Location)")

snapshot() {
	db "SELECT (SELECT count(*) FROM repositories), (SELECT count(*) FROM manifests),
	    (SELECT count(*) FROM tags), (SELECT count(*) FROM repo_blobs),
	    (SELECT count(*) FROM blobs), (SELECT group_concat(id || ':' || size) FROM uploads)"
	find "$ROOT/blobs" "$ROOT/uploads" -type f -printf '%P %s\n' | LC_ALL=C sort | md5sum
}

# ---------------------------------------------------------------- read-only
hup true
before=$(snapshot)

# refused DESC ALLOW: 405 UNSUPPORTED with maintenance in the detail, and an
# Allow header of the reading methods only (RFC 9110: empty where a resource
# has none, "temporarily disabled by configuration").
refused() {
	assert_status_error 405 UNSUPPORTED "$1"
	assert_detail_has "maintenance (read-only)" "$1"
	if grep -qix "Allow: *$2" "$HDRS"; then
		t_pass "$1: Allow: $2"
	else
		t_fail "$1: Allow: $2" "$(grep -i '^Allow' "$HDRS" || echo 'no Allow header')"
	fi
}
req POST "/v2/$A/blobs/uploads/"
refused "upload start" ""
req POST "/v2/$A/blobs/uploads/?digest=$(d l2)" -H 'Content-Type: application/octet-stream' --data-binary "@$W/l2"
refused "monolithic blob push" ""
req POST "/v2/team/other/blobs/uploads/?mount=$(d l1)&from=$A"
refused "cross-repository mount" ""
req PATCH "$SESSION" -H 'Content-Type: application/octet-stream' --data-binary "@$W/chunk"
refused "PATCH of an open session" "GET"
req PUT "$(with_query "$SESSION" "digest=$(d chunk)")" -H 'Content-Type: application/octet-stream'
refused "PUT closing an open session" "GET"
req DELETE "$SESSION"
refused "DELETE of an open session" "GET"
put_manifest $A v2 "$W/m2"
refused "manifest PUT" "GET, HEAD"
req DELETE "/v2/$A/manifests/v1"
refused "tag DELETE" "GET, HEAD"
req DELETE "/v2/$A/manifests/$(d m1)"
refused "manifest DELETE" "GET, HEAD"
req DELETE "/v2/$A/blobs/$(d l1)"
refused "blob DELETE" "GET, HEAD"
assert_eq "$(snapshot)" "$before" "read-only: no row and no file changed"
assert_file_absent "$(blob_path "$(d l2)")" "the refused blob is not stored"

# Reads go on.
req GET "/v2/$A/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "read-only: pull by tag"
assert_body_digest "$(d m1)" "read-only: pull by tag"
req HEAD "/v2/$A/manifests/$(d m1)"
assert_status 200 "read-only: HEAD manifest"
req GET "/v2/$A/blobs/$(d l1)"
assert_status 200 "read-only: pull a blob"
assert_body_digest "$(d l1)" "read-only: pull a blob"
req GET "/v2/$A/tags/list"
assert_status 200 "read-only: tags list"
assert_json '.tags' '["v1"]' "read-only: tags list"
req GET "/v2/_catalog"
assert_status 200 "read-only: catalog"
assert_json '.repositories' "[\"$A\"]" "read-only: catalog"
req GET "/v2/$A/referrers/$(d m1)"
assert_status 200 "read-only: referrers"
req GET "$SESSION"
assert_status 204 "read-only: an upload's status is a read"
req GET /v2/
assert_status 200 "read-only: the base endpoint"
req GET /readyz
assert_status 200 "read-only: still ready (a load balancer keeps sending pulls)"

# ---------------------------------------------------------------- writable again
hup false
req PATCH "$SESSION" -H 'Content-Type: application/octet-stream' --data-binary "@$W/chunk"
assert_status 202 "after the maintenance the open session goes on"
req DELETE "$SESSION"
assert_status 204 "after the maintenance the session can be cancelled"
push_blob $A "$W/l2"
push_manifest $A v2 "$W/m2"
assert_rows "SELECT count(*) FROM tags WHERE name = 'v2'" 1 "after the maintenance the push is recorded"
req DELETE "/v2/$A/manifests/v2"
assert_status 202 "after the maintenance a tag can be deleted"
assert_no_5xx "no 5xx"
daemon_stop

# ---------------------------------------------------------------- with authentication
USERS=$TMP/users
: >"$USERS"
cat >>"$CONF" <<EOF
[auth]
users = $USERS
anonymous = pull
[access "team/*"]
push = alice
pull = bob
EOF
printf 'Alice-pw-1\n' | "$OCIREGD" passwd -c "$CONF" alice >/dev/null 2>&1 || bail "passwd alice"
printf 'Bob-pw-2\n' | "$OCIREGD" passwd -c "$CONF" bob >/dev/null 2>&1 || bail "passwd bob"
sed -i 's/^read_only = .*/read_only = true/' "$CONF"
daemon_start
req POST "/v2/$A/blobs/uploads/"
assert_status 401 "read-only with auth: an anonymous writer is asked to log in first"
req POST "/v2/$A/blobs/uploads/" -u 'bob:Bob-pw-2'
assert_status 403 "read-only with auth: a user who may not push is denied first"
req POST "/v2/$A/blobs/uploads/" -u 'alice:Alice-pw-1'
refused "read-only with auth: a user who may push" ""
req GET "/v2/$A/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "read-only with auth: an anonymous pull"

e2e_finish
