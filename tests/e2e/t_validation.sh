#!/usr/bin/env bash
# t_validation.sh — repository names and digests that must be refused with
# the spec's 400 codes (never a 500), and path traversal that must never
# reach a file outside the storage root.
. "$(dirname "$0")/lib.sh"
e2e_init
daemon_start

OCT=(-H 'Content-Type: application/octet-stream')
F=$TMP/blob
mkblob "$F" 200000
D=$(sha256_of "$F")
push_blob good/repo "$F"
SMALL=$TMP/small
mkblob "$SMALL" 1000

# Files outside the root that traversal would reach: $TMP/secret is a sibling
# of the root, and a fake blob/upload one level up.
echo "top secret" >"$TMP/secret"
SECRET_SUM=$(sha256sum "$TMP/secret")
mkdir -p "$TMP/outside"
echo "outside" >"$TMP/outside/file"
touch "$TMP/marker"
sleep 0.01
outside_before=$(cd "$TMP" && find . -path ./var -prune -o -print | grep -v -e '^\./body$' -e '^\./headers' | sort)

# ---- invalid names, on every blob/upload route
LONG=$(printf 'a%.0s' $(seq 1 300))
LONG_PARTS=$(printf 'abcdefghi/%.0s' $(seq 1 30))x
UUID=6d7ab1ac-4d49-4a1d-9a39-2bd2b3f8d1e5
for name in Upper/case UPPER 'a..b' '..' 'a/../b' 'a/%2e%2e/b' '%2e%2e/%2e%2e' 'a//b' '/a' 'a/' \
	'-lead' 'trail-' '_x' 'x_' 'a___b' 'a.-b' 'white%20space' 'semi;colon' 'a%00b' \
	'caf%C3%A9' "$LONG" "$LONG_PARTS"; do
	short=${name:0:40}
	[ ${#name} -gt 40 ] && short="$short...(${#name} chars)"
	for route in "POST /v2/$name/blobs/uploads/" "GET /v2/$name/blobs/$D" "HEAD /v2/$name/blobs/$D" \
		"DELETE /v2/$name/blobs/$D" "GET /v2/$name/blobs/uploads/$UUID" "PATCH /v2/$name/blobs/uploads/$UUID" \
		"POST /v2/$name/blobs/uploads/?digest=$D"; do
		set -- $route
		extra=()
		case $route in *digest=* | PATCH*) extra=("${OCT[@]}" --data-binary "@$SMALL") ;; esac
		req "$1" "$2" "${extra[@]}"
		if [ "$name" = 'a%00b' ]; then
			# a NUL byte cannot be part of any name: any 400 will do
			assert_status 400 "$1 name '$short'"
		elif [ "$1" = HEAD ]; then
			assert_status 400 "$1 name '$short'"
		else
			assert_status_error 400 NAME_INVALID "$1 ${2/$name/<$short>}"
		fi
	done
done

# a name at the length limit is fine, and valid separators are accepted
OK_LONG=$(printf 'b%.0s' $(seq 1 150))
for name in "$OK_LONG" a.b a_b a__b a-b a---b a/b/c/d 0/9 x.y-z__w/v; do
	req POST "/v2/$name/blobs/uploads/"
	assert_status 202 "valid name '${name:0:30}' accepted"
done

# ---- malformed digests
HEX64=$(printf '%064d' 1)
UPPER=sha256:$(printf '%s' "${D#sha256:}" | tr a-f A-F)
for dg in sha256:XYZ "md5:d41d8cd98f00b204e9800998ecf8427e" "$UPPER" "sha256:${HEX64:0:63}" \
	"sha256:${HEX64}0" "sha512:$HEX64" sha256: :$HEX64 "$HEX64" "sha256-$HEX64" "SHA256:$HEX64" \
	"sha256:${HEX64:0:62}zz" "sha384:$(printf '%096d' 1)"; do
	short=${dg:0:30}
	req GET "/v2/good/repo/blobs/$dg"
	assert_status_error 400 DIGEST_INVALID "GET blob digest '$short'"
	req HEAD "/v2/good/repo/blobs/$dg"
	assert_status 400 "HEAD blob digest '$short'"
	req DELETE "/v2/good/repo/blobs/$dg"
	assert_status_error 400 DIGEST_INVALID "DELETE blob digest '$short'"
	req POST "/v2/good/repo/blobs/uploads/?digest=$dg" "${OCT[@]}" --data-binary "@$SMALL"
	assert_status_error 400 DIGEST_INVALID "monolithic POST ?digest='$short'"
	req POST "/v2/good/repo/blobs/uploads/?mount=$dg&from=good/repo"
	assert_status_error 400 DIGEST_INVALID "mount='$short'"
	upload_start good/repo || continue
	req PUT "$(with_query "$UPLOAD_LOC" "digest=$dg")" "${OCT[@]}" --data-binary "@$SMALL"
	assert_status_error 400 DIGEST_INVALID "closing PUT ?digest='$short'"
	req DELETE "$UPLOAD_LOC"
done
# the upper-case form of a stored digest does not reach the blob
req GET "/v2/good/repo/blobs/$UPPER"
if cmp -s "$BODY" "$F"; then
	t_fail "upper-case digest does not serve the blob"
else
	t_pass "upper-case digest does not serve the blob"
fi

# ---- path traversal
# Through the URL path, literally and percent-encoded, in every position.
for path in /v2/../../secret /v2/good/repo/blobs/../../../../secret \
	"/v2/good/repo/blobs/sha256:../../../secret" \
	"/v2/good/repo/blobs/sha256:..%2f..%2f..%2f..%2fsecret" \
	"/v2/good/repo/blobs/uploads/../../../../secret" \
	"/v2/good/repo/blobs/uploads/..%2f..%2f..%2fsecret" \
	"/v2/good/repo/blobs/uploads/%2e%2e%2f%2e%2e%2fsecret" \
	"/v2/good/repo/blobs/uploads/..%2fmeta.db" \
	"/v2/good/repo/blobs/uploads/..%2f..%2foutside%2ffile" \
	"/v2/..%2f..%2fsecret/blobs/$D" "/v2/%2e%2e/%2e%2e/blobs/$D" \
	"/v2/good/repo/blobs/sha256:%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret"; do
	for m in GET HEAD DELETE PATCH PUT; do
		extra=()
		[ "$m" = PATCH ] || [ "$m" = PUT ] && extra=("${OCT[@]}" --data-binary "pwned")
		req "$m" "$path" "${extra[@]}"
		case $STATUS in
		400 | 404 | 405) t_pass "$m $path refused ($STATUS)" ;;
		*) t_fail "$m $path refused with 400/404/405" "status $STATUS, body $(head -c 200 "$BODY")" ;;
		esac
		if grep -q "top secret" "$BODY" 2>/dev/null; then
			t_fail "$m $path does not leak the secret"
		fi
	done
done
# Through query parameters.
for q in "digest=sha256:../../secret" "digest=..%2f..%2fsecret" "mount=../../secret&from=good/repo" \
	"mount=$D&from=..%2f..%2foutside" "mount=$D&from=../../var"; do
	req POST "/v2/good/repo/blobs/uploads/?$q" "${OCT[@]}" --data-binary pwned
	case $STATUS in
	202 | 400) t_pass "POST ?$q handled ($STATUS)" ;;
	*) t_fail "POST ?$q answered 202 or 400" "status $STATUS, body $(head -c 200 "$BODY")" ;;
	esac
done
# Through the Location of a session: a different repository's path.
upload_start good/repo
req PUT "$BASE/v2/good/repo/blobs/uploads/$UPLOAD_ID/../../../../../secret?digest=$D" "${OCT[@]}" --data-binary pwned
case $STATUS in
400 | 404 | 405) t_pass "PUT <session>/../../secret refused ($STATUS)" ;;
*) t_fail "PUT <session>/../../secret refused" "status $STATUS" ;;
esac

assert_eq "$(sha256sum "$TMP/secret")" "$SECRET_SUM" "the secret outside the root is unchanged"
assert_file_exists "$TMP/outside/file" "the file outside the root still exists"
assert_eq "$(cat "$TMP/outside/file")" outside "the file outside the root is unchanged"
outside_after=$(cd "$TMP" && find . -path ./var -prune -o -print | grep -v -e '^\./body$' -e '^\./headers' | sort)
assert_eq "$outside_after" "$outside_before" "no file created or removed outside the root"
changed=$(find "$TMP" -path "$ROOT" -prune -o -newer "$TMP/marker" -type f -print |
	grep -v -e "^$TMP/body$" -e "^$TMP/headers" -e "^$TMP/daemon\..*\.log$")
assert_eq "$changed" "" "no file outside the root was modified"
# and inside the root, only the expected layout exists
UUID_RE='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
if store_is_s3; then
	# The blobs are objects: every key in the bucket is a blob or an
	# upload's object; the local root (SQLite, temp files of the backend's
	# own layout) holds nothing named after a traversal target.
	odd=$(s3_list "$E2E_S3_PREFIX" | sed "s|^$E2E_S3_PREFIX||" |
		grep -Ev "^(blobs/sha256/[0-9a-f]{2}/[0-9a-f]{64}|blobs/sha512/[0-9a-f]{2}/[0-9a-f]{128}|uploads/$UUID_RE/[a-z0-9._-]+)$")
	assert_eq "$odd" "" "nothing unexpected in the bucket"
	odd=$(cd "$ROOT" && find . -mindepth 1 \( -name 'secret*' -o -name outside -o -name file -o -name pwned \))
	assert_eq "$odd" "" "nothing named after a traversal target inside the root"
else
	odd=$(cd "$ROOT" && find . -mindepth 1 | grep -Ev "^\./(meta\.db(-wal|-shm|-journal|-wait)?|blobs|blobs/sha(256|512)|blobs/sha(256|512)/[0-9a-f]{2}|blobs/sha256/[0-9a-f]{2}/[0-9a-f]{64}|blobs/sha512/[0-9a-f]{2}/[0-9a-f]{128}|uploads|uploads/$UUID_RE)$")
	assert_eq "$odd" "" "nothing unexpected inside the root"
fi
req GET "/v2/good/repo/blobs/$D"
assert_status 200 "the real blob is still served"
assert_body_digest "$D" "the real blob is intact"

# ---- the daemon never answered 5xx, and is still alive
assert_no_5xx "no 5xx answered to any malformed request"
req GET /v2/
assert_status 200 "daemon alive after the malformed requests"
e2e_finish
