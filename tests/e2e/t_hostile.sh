#!/usr/bin/env bash
# t_hostile.sh — hostile clients.  Every case gets a defined status (never a
# 5xx, never a hang), the daemon keeps answering GET /v2/ after each group,
# exits 0 on SIGTERM, and its peak RSS (VmHWM) stays bounded.
#
#   - path traversal in names, tags, digests and upload ids (.., %2e%2e,
#     %00, backslash, absolute paths, %2F): 400 or 404, and no file outside
#     the storage root is created, changed or served;
#   - overlong URIs (414), a huge header and thousands of headers (431);
#   - deeply nested JSON (400) and JSON over max_manifest_size (413, also
#     with chunked framing); invalid UTF-8 in tags and names (400) and in
#     manifest JSON (201 with the exact bytes, or 400; what the registry
#     renders from it must stay valid UTF-8);
#   - n=10^12 on the catalog and tag lists (200, bounded);
#   - suffix, reversed, overlapping and many ranges (206 or 200, never a
#     multipart amplification);
#   - malformed framing: bodies longer than their Content-Length (the extra
#     bytes are a new, bad request: 400 and close), conflicting lengths,
#     huge lengths, chunk-size overflow;
#   - slowloris: header bytes trickled (cut after header_timeout = 2s), an
#     idle connection and a stalled body (cut after read_timeout = 2s), 40
#     such connections at once while a legitimate client is served;
#   - concurrent uploads over max_uploads_per_client = 3 and max_uploads = 5
#     (429 with Retry-After; slots come back when the uploads end);
#   - pipelining past the output high-water mark (1 MiB of answers queued):
#     every request answered, and a body never run as a request;
#   - a client that stops reading a 64 MiB GET (dropped after read_timeout;
#     RSS does not grow by the blob) or thousands of pipelined requests.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"

# shellcheck disable=SC2034 # read by lib.sh's e2e_config
E2E_EXTRA_SERVER=$'header_timeout = 2s\nread_timeout = 2s'
# shellcheck disable=SC2034
E2E_EXTRA_LIMITS=$'max_manifest_size = 256k\nmax_uploads_per_client = 3\nmax_uploads = 5'
HWM_LIMIT_MB=${E2E_HOSTILE_HWM_MB:-96}
# Under ASan, freed memory sits in a quarantine (256 MiB by default) and
# counts as RSS: keep it small so the memory bounds measure the daemon.
export ASAN_OPTIONS="quarantine_size_mb=8${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
e2e_init
# A deep root: traversal of up to four levels still lands inside $TMP, where
# the test can see every file.
ROOT=$TMP/d1/d2/d3/root
W=$TMP/work
mkdir -p "$W" "$TMP/d1/d2/d3"
daemon_start

hwm() { awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$DAEMON_PID/status"; }
rss() { awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$DAEMON_PID/status"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

still_serving() {
	req GET /v2/
	assert_status 200 "the daemon still answers GET /v2/ after $1"
}

# status_in LIST DESC: $STATUS is one of the space-separated LIST.
status_in() {
	case " $1 " in
	*" $STATUS "*) t_pass "$2 (status $STATUS)" ;;
	*) t_fail "$2 (status in {$1})" "got $STATUS$(curl_why); body: $(head -c 300 "$BODY")" ;;
	esac
}

# rawio FILE [SECS]: send FILE's bytes on a new connection, then read for up
# to SECS seconds (default 5) or until the daemon closes.  Sets RAW_CODES
# (the status codes of the responses, space-separated), RAW_CLOSED (1 if the
# daemon closed within SECS), RAW_MS (how long the read took), and $RAW_OUT.
RAW_OUT=$W/raw.out
rawio() {
	local f=$1 secs=${2:-5} fd t0 rc
	RAW_CODES=
	RAW_CLOSED=0
	: >"$RAW_OUT"
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	(
		trap '' PIPE
		cat "$f" >&"$fd"
	) 2>/dev/null
	t0=$(now_ms)
	timeout "$secs" cat <&"$fd" >"$RAW_OUT" 2>/dev/null
	rc=$?
	RAW_MS=$(($(now_ms) - t0))
	exec {fd}>&-
	[ "$rc" -ne 124 ] && RAW_CLOSED=1
	RAW_CODES=$(tr -d '\r' <"$RAW_OUT" | grep -a -o -E 'HTTP/1\.[01] [0-9]{3}' | awk '{print $2}' | tr '\n' ' ')
	RAW_CODES=${RAW_CODES% }
	return 0
}

# raw_case DESC EXPECTED-CODES BYTES (printf format): one raw request.
raw_case() {
	printf "$3" >"$W/raw.in"
	rawio "$W/raw.in" 5
	assert_eq "$RAW_CODES" "$2" "$1: responses"
	if [ "${2##* }" = 400 ] || [ "${2##* }" = 413 ] || [ "${2##* }" = 431 ]; then
		assert_eq "$RAW_CLOSED" 1 "$1: the daemon closes the connection after the error"
	fi
}

# ------------------------------------------------------------- setup

SMALL=$W/small
mkblob "$SMALL" 1000
DS=$(sha256_of "$SMALL")
push_blob r/base "$SMALL"
printf '{}' >"$W/cfg"
push_blob r/base "$W/cfg"
MF=$W/mf.json
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_EMPTY" "$W/cfg")" "$(desc "$MT_OCI_LAYER" "$SMALL")" >"$MF"
push_manifest r/base v1 "$MF"
MFD=$(sha256_of "$MF")

# ------------------------------------------------------------- traversal

# Files outside the root that traversal would reach, and a snapshot of
# everything outside the root.
echo "top secret" >"$TMP/d1/d2/d3/h0stile-target"
echo "top secret" >"$TMP/d1/h0stile-target"
mkdir -p "$TMP/d1/d2/d3/blobs/sha256/aa"
printf 'not a blob' >"$TMP/d1/d2/d3/blobs/sha256/aa/$(printf 'a%.0s' {1..64})"
snapshot() {
	(cd "$TMP" && find . -path ./d1/d2/d3/root -prune -o -path ./work -prune -o \
		-path ./body -prune -o -path './headers*' -prune -o -path './daemon.*' -prune -o \
		-printf '%p %s %T@\n' | sort)
}
outside_before=$(snapshot)
touch "$W/marker"

AAA=$(printf 'a%.0s' {1..64})
UUID=6d7ab1ac-4d49-4a1d-9a39-2bd2b3f8d1e5
TRAV_NAMES=('..' '../..' '%2e%2e' '%2e%2e/%2e%2e/h0stile-target' 'r/../../h0stile-target' 'r/%2e%2e/%2e%2e/h0stile-target'
	'r%2F..%2F..%2Fh0stile-target' 'r%00x' 'r%00/../x' 'r\..\..\h0stile-target' 'r%5c..%5ch0stile-target' '%2Fetc%2Fpasswd'
	'/etc/passwd' '%2F%2Fetc' 'r/./x' 'r/%2e/x')
TRAV_REFS=('..' '%2e%2e' '..%2F..%2F..%2Fh0stile-target' '..%2f..%2fh0stile-target' 'v1%00' '%00' 'a%00b' '..\..\h0stile-target'
	'%5c..%5ch0stile-target' '%2Fetc%2Fpasswd' '.' '%2e' '...' 'sha256:..%2F..%2Fh0stile-target'
	"sha256:..%2F..%2F..%2F..%2Fh0stile-target" "sha256:$AAA%00" "sha256:../../../$AAA" "sha512:%2e%2e"
	"sha256:%2Fetc%2Fpasswd" "sha256:$(printf 'A%.0s' {1..64})")
TRAV_IDS=('..' '%2e%2e' '..%2F..%2F..%2Fh0stile-target' '..%2F..%2Fmeta.db' "$UUID%00" "$UUID%2F..%2F.."
	'%2Fetc%2Fpasswd' '..\..\meta.db' "${UUID//-/}" "../$UUID")
served_secret=0
check_no_secret() {
	if grep -aq -e 'top secret' -e 'root:x:0:0' -e 'not a blob' "$BODY"; then
		served_secret=1
		t_fail "$1 serves no file from outside the root" "body: $(head -c 200 "$BODY")"
	fi
}
OCT=(-H 'Content-Type: application/octet-stream')
n_trav=0
bad_trav=
for name in "${TRAV_NAMES[@]}"; do
	for route in "GET /v2/$name/tags/list" "GET /v2/$name/manifests/v1" "PUT /v2/$name/manifests/v1" \
		"DELETE /v2/$name/manifests/v1" "GET /v2/$name/blobs/$DS" "POST /v2/$name/blobs/uploads/" \
		"POST /v2/$name/blobs/uploads/?digest=$DS" "GET /v2/$name/referrers/$MFD"; do
		set -- $route
		extra=()
		case $1 in PUT) extra=(-H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$MF") ;; POST) extra=("${OCT[@]}" --data-binary "@$SMALL") ;; esac
		req "$1" "$2" "${extra[@]}"
		n_trav=$((n_trav + 1))
		case $STATUS in 400 | 404) ;; *) bad_trav="$bad_trav${bad_trav:+; }$1 $2 -> $STATUS" ;; esac
		check_no_secret "$1 $2"
	done
done
for ref in "${TRAV_REFS[@]}"; do
	for route in "GET /v2/r/base/manifests/$ref" "HEAD /v2/r/base/manifests/$ref" \
		"PUT /v2/r/base/manifests/$ref" "DELETE /v2/r/base/manifests/$ref" \
		"GET /v2/r/base/blobs/$ref" "HEAD /v2/r/base/blobs/$ref" "DELETE /v2/r/base/blobs/$ref" \
		"GET /v2/r/base/referrers/$ref" "POST /v2/r/base/blobs/uploads/?digest=$ref"; do
		set -- $route
		extra=()
		case $1 in PUT) extra=(-H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$MF") ;; POST) extra=("${OCT[@]}" --data-binary "@$SMALL") ;; esac
		req "$1" "$2" "${extra[@]}"
		n_trav=$((n_trav + 1))
		case $STATUS in 400 | 404) ;; *) bad_trav="$bad_trav${bad_trav:+; }$1 $2 -> $STATUS" ;; esac
		check_no_secret "$1 $2"
	done
done
for id in "${TRAV_IDS[@]}"; do
	for route in "GET /v2/r/base/blobs/uploads/$id" "PATCH /v2/r/base/blobs/uploads/$id" \
		"PUT /v2/r/base/blobs/uploads/$id?digest=$DS" "DELETE /v2/r/base/blobs/uploads/$id"; do
		set -- $route
		extra=()
		case $1 in PUT | PATCH) extra=("${OCT[@]}" --data-binary "@$SMALL") ;; esac
		req "$1" "$2" "${extra[@]}"
		n_trav=$((n_trav + 1))
		case $STATUS in 400 | 404) ;; *) bad_trav="$bad_trav${bad_trav:+; }$1 $2 -> $STATUS" ;; esac
		check_no_secret "$1 $2"
	done
done
if [ -z "$bad_trav" ]; then
	t_pass "$n_trav traversal requests in names, tags, digests and upload ids: all 400 or 404"
else
	t_fail "$n_trav traversal requests in names, tags, digests and upload ids: all 400 or 404" "$bad_trav"
fi
# A mount whose source is a traversal: no mount; a new session (202, as the
# spec allows) or a 400/404.
for from in '..%2F..%2Fh0stile-target' '%2e%2e' '%2Fetc%2Fpasswd' 'r%00x'; do
	req POST "/v2/r/base/blobs/uploads/?mount=$DS&from=$from"
	status_in "202 400 404" "mount from '$from' is not a mount"
	if [ "$STATUS" = 202 ]; then
		assert_match "$(hdr Location)" '^/v2/r/base/blobs/uploads/[0-9a-f-]{36}$' "mount from '$from': the new session is in r/base"
	fi
done
# Absolute-form and odd request targets.
for target in 'http://127.0.0.1/../../etc/passwd' '/etc/passwd' '//etc/passwd' '/v2/../../../../etc/passwd' '*'; do
	printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$target" >"$W/raw.in"
	rawio "$W/raw.in" 5
	case $RAW_CODES in
	400 | 404) t_pass "request target '$target' (status $RAW_CODES)" ;;
	*) t_fail "request target '$target' is 400 or 404" "responses: '$RAW_CODES'" ;;
	esac
	if grep -aq 'root:x:0:0' "$RAW_OUT"; then t_fail "request target '$target' does not serve /etc/passwd"; fi
done
[ "$served_secret" = 0 ] && t_pass "no traversal request served a file from outside the root"
outside_after=$(snapshot)
if [ "$outside_before" = "$outside_after" ]; then
	t_pass "no file outside the storage root was created, changed or removed"
else
	t_fail "no file outside the storage root was created, changed or removed" \
		"$(diff <(echo "$outside_before") <(echo "$outside_after") | head -n 20)"
fi
# (Another run of this suite at the same time has these two fixtures of its
# own under its temp dir: not a finding.)
new_tmp=$(find /tmp -maxdepth 3 -name 'h0stile-target*' -newer "$W/marker" 2>/dev/null | grep -v "^$TMP" |
	grep -Ev '^/tmp/ociregd-e2e\.[^/]+/d1/(d2/d3/)?h0stile-target$' | head)
assert_eq "$new_tmp" "" "no file named after a traversal target appeared elsewhere in /tmp"
assert_eq "$(find "$ROOT" -name 'h0stile-target*' -o -name passwd | head -n 3)" "" "nothing named after a traversal target inside the root either"
if store_is_s3; then
	assert_eq "$(s3_list "" | grep -E 'h0stile-target|passwd|\.\.' | head -n 3)" "" \
		"nothing named after a traversal target in the bucket either"
fi
still_serving "the traversal requests"

# ------------------------------------------------------------- URIs, headers

req GET "/v2/r/base/tags/list?x=$(head -c 9000 /dev/zero | tr '\0' a)"
assert_status 414 "a 9000-byte query"
req GET "/v2/$(head -c 8300 /dev/zero | tr '\0' a)/tags/list"
assert_status 414 "an 8300-byte path"
head -c 200000 /dev/zero | tr '\0' a >"$W/longpath"
printf 'GET /v2/%s HTTP/1.1\r\nHost: x\r\n\r\n' "$(cat "$W/longpath")" >"$W/raw.in"
rawio "$W/raw.in" 5
assert_eq "$RAW_CODES" 414 "a 200 KB request target: 414"
assert_eq "$RAW_CLOSED" 1 "a 200 KB request target: the connection is closed"
req GET "/v2/r/base/tags/list?x=$(head -c 7900 /dev/zero | tr '\0' a)"
assert_status 200 "a 7.9 KB URI is still served"

printf 'X-Big: %s\r\n' "$(head -c 70000 /dev/zero | tr '\0' a)" >"$W/h1"
req GET /v2/ -H "@$W/h1"
assert_status 431 "one 70 KB header"
printf 'X-Big: %s\r\n' "$(head -c 60000 /dev/zero | tr '\0' a)" >"$W/h1"
req GET /v2/ -H "@$W/h1"
assert_status 200 "one 60 KB header is within the 64 KiB"
for i in $(seq 1 20); do printf 'X-Part-%d: %s\r\n' "$i" "$(head -c 4000 /dev/zero | tr '\0' b)"; done >"$W/h2"
req GET /v2/ -H "@$W/h2"
assert_status 431 "20 headers of 4 KB (80 KB in all)"
seq 1 5000 | awk '{printf "X-H%d: v\r\n", $1}' >"$W/h3"
req GET /v2/ -H "@$W/h3"
assert_status 431 "5000 headers"
seq 1 200 | awk '{printf "X-H%d: v\r\n", $1}' >"$W/h4"
req GET /v2/ -H "@$W/h4"
assert_status 431 "200 headers"
seq 1 100 | awk '{printf "X-H%d: v\r\n", $1}' >"$W/h5"
req GET /v2/ -H "@$W/h5"
assert_status 200 "100 headers are fine"
# 5000 headers as raw bytes with no end: the daemon answers 431 and closes
# at the 129th, without waiting for the rest.
{
	printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\n'
	seq 1 5000 | awk '{printf "X-H%d: v\r\n", $1}'
} >"$W/raw.in"
rawio "$W/raw.in" 5
assert_eq "$RAW_CODES" 431 "5000 raw headers with no end: 431"
assert_eq "$RAW_CLOSED" 1 "5000 raw headers: the connection is closed"
still_serving "overlong URIs and headers"

# ------------------------------------------------------------- JSON

head -c 100000 /dev/zero | tr '\0' '[' >"$W/deep.json"
head -c 100000 /dev/zero | tr '\0' ']' >>"$W/deep.json"
put_manifest r/json deep "$W/deep.json" "$MT_OCI_MANIFEST"
assert_status_error 400 MANIFEST_INVALID "100000 nested arrays (200 KB) as a manifest"
{
	for ((i = 0; i < 20000; i++)); do printf '{"a":'; done
	printf '1'
	for ((i = 0; i < 20000; i++)); do printf '}'; done
} >"$W/deep2.json"
put_manifest r/json deep "$W/deep2.json" "$MT_OCI_MANIFEST"
assert_status_error 400 MANIFEST_INVALID "20000 nested objects as a manifest"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"pad":"%s"}}' \
	"$MT_OCI_MANIFEST" "$(desc "$MT_OCI_EMPTY" "$W/cfg")" "$(head -c 300000 /dev/zero | tr '\0' x)" >"$W/huge.json"
put_manifest r/json huge "$W/huge.json"
assert_status 413 "a 300 KB manifest (max_manifest_size = 256k)"
req PUT /v2/r/json/manifests/huge -H "Content-Type: $MT_OCI_MANIFEST" -H 'Transfer-Encoding: chunked' --data-binary "@$W/huge.json"
assert_status 413 "the same with chunked framing (no Content-Length)"
head -c 5000000 /dev/zero | tr '\0' ' ' >"$W/spaces.json"
put_manifest r/json huge "$W/spaces.json" "$MT_OCI_MANIFEST"
assert_status 413 "5 MB of whitespace as a manifest"
req GET /v2/r/json/manifests/huge
assert_status 404 "none of them was stored"

# Invalid UTF-8.
for tag in '%C3%28' '%FF' '%E2%82' 'v%C0%AF' '%ED%A0%80'; do
	put_manifest r/json "$tag" "$MF"
	assert_status 400 "tag with invalid UTF-8 '$tag'"
done
req GET '/v2/r%C3%28/tags/list'
assert_status 400 "repository name with invalid UTF-8"
req GET '/v2/r/base/tags/list?last=%FF%FE'
status_in "200 400" "tags list with last= invalid UTF-8"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"subject":%s,"annotations":{"k\xff":"v\xc3\x28\xed\xa0\x80"}}' \
	"$MT_OCI_MANIFEST" "$(desc "$MT_OCI_EMPTY" "$W/cfg")" "$(desc_d "$MT_OCI_MANIFEST" "$MFD" "$(fsize "$MF")")" >"$W/badutf.json"
put_manifest r/base badutf "$W/badutf.json"
status_in "201 400" "a manifest whose JSON has invalid UTF-8 in annotations"
if [ "$STATUS" = 201 ]; then
	req GET /v2/r/base/manifests/badutf
	assert_body_digest "$(sha256_of "$W/badutf.json")" "the invalid-UTF-8 manifest is served as pushed"
	req GET "/v2/r/base/referrers/$MFD"
	assert_status 200 "referrers of its subject"
	if iconv -f UTF-8 -t UTF-8 "$BODY" >/dev/null 2>&1; then
		t_pass "the referrers index the registry renders is valid UTF-8 (RFC 8259)"
	else
		t_fail "the referrers index the registry renders is valid UTF-8 (RFC 8259)" \
			"it copies the pushed annotations' invalid bytes: $(LC_ALL=C grep -ao '"annotations":{[^}]*}' "$BODY" | od -An -c | tr -s ' ' | head -n 3)"
	fi
else
	assert_error MANIFEST_INVALID "the invalid-UTF-8 manifest is refused as MANIFEST_INVALID"
fi
still_serving "the JSON cases"

# ------------------------------------------------------------- n=, ranges

req GET '/v2/_catalog?n=1000000000000'
assert_status 200 "catalog n=10^12"
assert_eq "$(jq -r '.repositories | length' "$BODY" 2>/dev/null)" "$(jq -r '.repositories | length' <<<"$(curl -s "$BASE/v2/_catalog")")" "catalog n=10^12 lists what there is"
req GET '/v2/r/base/tags/list?n=1000000000000'
assert_status 200 "tags list n=10^12"
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v2/r/base/manifests/badutf")" = 200 ]; then
	assert_eq "$(jq -c '.tags' "$BODY" 2>/dev/null)" '["badutf","v1"]' "tags list n=10^12 lists the tags"
else
	assert_eq "$(jq -c '.tags' "$BODY" 2>/dev/null)" '["v1"]' "tags list n=10^12 lists the tags"
fi
for n in 99999999999999999999999 -1 0x10 1e3 ''; do
	req GET "/v2/_catalog?n=$n"
	status_in "200 400" "catalog n='$n'"
done
assert_no_5xx "no 5xx so far"

BIG=$W/blob1m
mkblob "$BIG" 1048576
DB=$(sha256_of "$BIG")
push_blob r/base "$BIG"
check_range() { # RANGE EXPECTED-STATUS EXPECTED-BYTES DESC
	req GET "/v2/r/base/blobs/$DB" -H "Range: $1"
	status_in "$2" "Range '${1:0:40}': $4"
	if [ "$STATUS" = 200 ]; then
		assert_body_digest "$DB" "Range '${1:0:40}' answered with the whole blob"
	elif [ "$STATUS" = 206 ]; then
		assert_eq "$DLSIZE" "$3" "Range '${1:0:40}': $3 bytes"
		case $(hdr Content-Type) in
		multipart/*) t_fail "Range '${1:0:40}' is not answered as multipart" "Content-Type: $(hdr Content-Type)" ;;
		esac
	fi
}
check_range 'bytes=-100' 206 100 "a suffix range"
check_range 'bytes=-0' "416" 0 "an empty suffix"
check_range 'bytes=-1-5' "200 416" 0 "a negative first position"
check_range 'bytes=--5' "200 416" 0 "a double minus"
check_range 'bytes=5-2' "200 416" 0 "a reversed range"
check_range 'bytes=0-10,5-20' "200 206" 21 "two overlapping ranges"
check_range "bytes=$(seq 0 2999 | awk '{printf "%s0-1048575", (NR > 1 ? "," : "")}')" "200 206" 1048576 "3000 copies of the whole blob"
check_range "bytes=$(seq 0 2999 | awk '{printf "%s%d-%d", (NR > 1 ? "," : ""), $1, $1 + 1000000}')" "200 206" 1000001 "3000 overlapping 1 MB ranges"
check_range 'bytes=0-18446744073709551615' "200 206" 1048576 "an end at 2^64-1"
check_range 'bytes=0-99999999999999999999999' "200 206 416" 1048576 "an end past 2^64"
check_range 'bytes=1048576-' 416 0 "a start at the size"
req HEAD "/v2/r/base/blobs/$DB" -H "Range: bytes=0-10,5-20"
status_in "200 206" "HEAD with overlapping ranges"
still_serving "the range cases"

# ------------------------------------------------------------- framing

# The body is longer than its Content-Length: the rest is a new request,
# and garbage, so 400 and close.
{
	printf 'PUT /v2/r/base/manifests/cl HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %s\r\n\r\n' "$MT_OCI_MANIFEST" "$(fsize "$MF")"
	cat "$MF"
	printf '{"extra":"bytes the length did not announce"}\r\n\r\n'
} >"$W/raw.in"
rawio "$W/raw.in" 5
assert_eq "$RAW_CODES" "201 400" "a manifest body longer than its Content-Length: 201, then 400 for the excess"
assert_eq "$RAW_CLOSED" 1 "the daemon closes the connection after the excess"
req GET /v2/r/base/manifests/cl
assert_body_digest "$MFD" "the manifest stored is exactly Content-Length bytes"
{
	printf 'POST /v2/r/base/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n' "$DS"
	cat "$SMALL"
	head -c 5000 /dev/urandom | tr -d '\n'
} >"$W/raw.in"
rawio "$W/raw.in" 5
assert_eq "$RAW_CODES" "201 400" "a blob body 5000 bytes longer than its Content-Length: 201, then 400"
assert_eq "$RAW_CLOSED" 1 "the daemon closes the connection after the excess blob bytes"
raw_case "GET with a body and junk after it" "200 400" 'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloXXXXXXXXXXXXXXXX\r\n\r\n'
raw_case "two different Content-Lengths" 400 'PUT /v2/r/base/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n{}'
raw_case "Content-Length and chunked" 400 'PUT /v2/r/base/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
raw_case "a negative Content-Length" 400 'PUT /v2/r/base/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'
raw_case "a Content-Length past 2^64" 400 'PUT /v2/r/base/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n'
raw_case "a Content-Length of 2^64-2" 400 'PATCH /v2/r/base/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551614\r\n\r\nabc'
raw_case "a chunk size past 2^64" 400 'PUT /v2/r/base/manifests/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nabc'
raw_case "an unknown Transfer-Encoding" 400 'PUT /v2/r/base/manifests/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc'
raw_case "a NUL in a header value" 400 'GET /v2/ HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n'
raw_case "a TLS ClientHello on the plain port" 400 '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'
raw_case "an HTTP/2 preface" 400 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
raw_case "binary garbage" 400 '\x00\x01\x02\xff\xfe\r\n\r\n'
# A manifest PUT with more than the limit declared up front.
raw_case "a manifest PUT declaring 1 GB" 413 'PUT /v2/r/base/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 1000000000\r\n\r\n{'
still_serving "malformed framing"
assert_no_5xx "no 5xx from any hostile request so far"

# ------------------------------------------------------------- slowloris

# Header bytes trickled: cut ~2 s (header_timeout) after the request began.
slow_headers() { # FD
	(
		trap '' PIPE
		printf 'GET /v2/ HTTP/1.1\r\n'
		for i in $(seq 1 24); do
			printf 'X-Slow-%d: y\r\n' "$i" || exit 0
			sleep 0.5
		done
	) 1>&"$1" 2>/dev/null
}
exec {sfd}<>"/dev/tcp/127.0.0.1/$PORT"
slow_headers "$sfd" &
writer=$!
t0=$(now_ms)
timeout 12 cat <&"$sfd" >"$W/slow.out" 2>/dev/null
el=$(($(now_ms) - t0))
exec {sfd}>&-
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
if [ "$el" -ge 1500 ] && [ "$el" -le 5000 ]; then
	t_pass "headers trickled at 2 lines a second are cut after ${el} ms (header_timeout = 2s)"
else
	t_fail "headers trickled are cut after ~2 s (header_timeout = 2s)" "closed after ${el} ms"
fi
assert_match "$(tr -d '\r' <"$W/slow.out" | head -n 1)" '^(HTTP/1\.1 4[0-9][0-9] |$)' "the trickled request gets a 4xx (or nothing)"

exec {ifd}<>"/dev/tcp/127.0.0.1/$PORT"
t0=$(now_ms)
timeout 12 cat <&"$ifd" >/dev/null 2>&1
el=$(($(now_ms) - t0))
exec {ifd}>&-
if [ "$el" -ge 1500 ] && [ "$el" -le 5000 ]; then
	t_pass "a connection that sends nothing is closed after ${el} ms (read_timeout = 2s)"
else
	t_fail "a connection that sends nothing is closed after ~2 s" "closed after ${el} ms"
fi

# A body that stops: cut after read_timeout, nothing stored.
printf 'PUT /v2/r/base/manifests/stalled HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 500\r\n\r\n{"schemaVersion":2,' "$MT_OCI_MANIFEST" >"$W/raw.in"
rawio "$W/raw.in" 12
if [ "$RAW_CLOSED" = 1 ] && [ "$RAW_MS" -ge 1500 ] && [ "$RAW_MS" -le 5000 ]; then
	t_pass "a manifest body that stalls is cut after ${RAW_MS} ms (read_timeout = 2s)"
else
	t_fail "a manifest body that stalls is cut after ~2 s" "closed: $RAW_CLOSED after ${RAW_MS} ms, responses '$RAW_CODES'"
fi
req GET /v2/r/base/manifests/stalled
assert_status 404 "the stalled manifest was not stored"
upload_start r/base || bail "upload session"
printf 'PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n%s' \
	"$(hdr Location)" "$(head -c 1000 /dev/zero | tr '\0' z)" >"$W/raw.in"
rawio "$W/raw.in" 12
if [ "$RAW_CLOSED" = 1 ] && [ "$RAW_MS" -ge 1500 ] && [ "$RAW_MS" -le 5000 ]; then
	t_pass "an upload body that stalls is cut after ${RAW_MS} ms"
else
	t_fail "an upload body that stalls is cut after ~2 s" "closed: $RAW_CLOSED after ${RAW_MS} ms"
fi
req GET "$UPLOAD_LOC"
assert_status 204 "the stalled upload session is still there"
assert_header Range 0-999 "it kept the 1000 bytes that arrived before the stall"

# 40 slowloris connections at once, while a legitimate client is served.
# (wait for those jobs by pid: a bare wait would wait for the daemon too.)
loris=()
for i in $(seq 1 40); do
	(
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || exit 0
		slow_headers "$fd" &
		w=$!
		s=$(now_ms)
		timeout 12 cat <&"$fd" >/dev/null 2>&1
		echo $(($(now_ms) - s)) >"$W/loris.$i"
		kill "$w" 2>/dev/null
		wait "$w" 2>/dev/null
	) &
	loris+=($!)
done
sleep 0.5
t0=$(now_ms)
req GET "/v2/r/base/manifests/v1"
el=$(($(now_ms) - t0))
assert_status 200 "a pull during 40 slowloris connections"
if [ "$el" -lt 1000 ]; then
	t_pass "the pull took ${el} ms (< 1 s) during the slowloris"
else
	t_fail "a pull during the slowloris takes < 1 s" "${el} ms"
fi
wait "${loris[@]}"
slow=0
for i in $(seq 1 40); do
	v=$(cat "$W/loris.$i" 2>/dev/null || echo 99999)
	[ "$v" -le 5000 ] || slow=$((slow + 1))
done
assert_eq "$slow" 0 "all 40 slowloris connections were cut within 5 s"
still_serving "slowloris"

# ------------------------------------------------------------- upload limits

trickle() { # N: N bytes, one every 0.3 s
	local i
	for ((i = 0; i < $1; i++)); do
		printf x || return 0
		sleep 0.3
	done
}
slow_patch() { # IFACE OUT: a session, then a PATCH whose body trickles for ~9 s
	local loc
	loc=$(curl -s -D - -o /dev/null --interface "$1" -X POST "$BASE/v2/r/limits/blobs/uploads/" |
		tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
	trickle 30 | curl -s -o /dev/null -D "$2.h" -w '%{http_code}' --max-time 30 --interface "$1" -X PATCH -T - \
		-H 'Content-Type: application/octet-stream' "$BASE$loc" >"$2" 2>/dev/null
}
quick_patch() { # IFACE: a PATCH of 3 bytes, trickled for ~1 s; prints the status
	local loc
	loc=$(curl -s -D - -o /dev/null --interface "$1" -X POST "$BASE/v2/r/limits/blobs/uploads/" |
		tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
	trickle 3 | curl -s -o "$W/q.body" -D "$W/q.h" -w '%{http_code}' --max-time 30 --interface "$1" -X PATCH -T - \
		-H 'Content-Type: application/octet-stream' "$BASE$loc" 2>/dev/null
}
if curl -s -o /dev/null --max-time 5 --interface 127.0.0.2 "$BASE/v2/"; then
	slows=()
	for i in 1 2 3; do
		slow_patch 127.0.0.1 "$W/slow.$i" &
		slows+=($!)
	done
	sleep 2
	st=$(quick_patch 127.0.0.1)
	assert_eq "$st" 429 "a 4th concurrent upload from one client (max_uploads_per_client = 3)"
	assert_match "$(tr -d '\r' <"$W/q.h" | grep -i '^retry-after:')" '^[Rr]etry-[Aa]fter: [0-9]+$' "the 429 carries Retry-After"
	assert_eq "$(jq -r '.errors[0].code' "$W/q.body" 2>/dev/null)" TOOMANYREQUESTS "the 429 is TOOMANYREQUESTS"
	for i in 4 5; do
		slow_patch 127.0.0.2 "$W/slow.$i" &
		slows+=($!)
	done
	sleep 2
	st=$(quick_patch 127.0.0.2)
	assert_eq "$st" 429 "a 6th concurrent upload in all, from a 2nd client (max_uploads = 5)"
	st=$(quick_patch 127.0.0.3)
	assert_eq "$st" 429 "a 1st upload from a 3rd client while 5 are running"
	assert_match "$(tr -d '\r' <"$W/q.h" | grep -i '^retry-after:')" '^[Rr]etry-[Aa]fter: [0-9]+$' "that 429 carries Retry-After too"
	wait "${slows[@]}"
	ok=0
	for i in 1 2 3 4 5; do [ "$(cat "$W/slow.$i")" = 202 ] && ok=$((ok + 1)); done
	assert_eq "$ok" 5 "the 5 slow uploads within the limits all completed (202)"
	st=$(quick_patch 127.0.0.1)
	assert_eq "$st" 202 "once they ended, uploads from the 1st client are accepted again"
	st=$(quick_patch 127.0.0.3)
	assert_eq "$st" 202 "and from the 3rd"
else
	t_fail "curl --interface 127.0.0.2 reaches the daemon (needed for the per-client limit test)"
fi
still_serving "the upload limits"

# ------------------------------------------------------------- stop reading

HUGE=$W/huge.bin
head -c $((64 * 1048576)) /dev/urandom >"$HUGE"
DH=$(sha256_of "$HUGE")
req POST "/v2/r/base/blobs/uploads/?digest=$DH" "${OCT[@]}" --data-binary "@$HUGE" --max-time 120
assert_status 201 "push of a 64 MiB blob"
rm -f "$HUGE"
rss0=$(rss)
exec {gfd}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /v2/r/base/blobs/%s HTTP/1.1\r\nHost: x\r\n\r\n' "$DH" >&"$gfd"
sleep 1
rss1=$(rss)
if [ $((rss1 - rss0)) -lt 16 ]; then
	t_pass "a client not reading a 64 MiB GET: RSS ${rss0} -> ${rss1} MiB (grows < 16 MiB)"
else
	t_fail "a client not reading a 64 MiB GET does not grow the daemon by the blob" "RSS ${rss0} -> ${rss1} MiB"
fi
sleep 3
t0=$(now_ms)
got=$(timeout 20 cat <&"$gfd" 2>/dev/null | wc -c)
exec {gfd}>&-
if [ "$got" -lt $((64 * 1048576)) ]; then
	t_pass "the stalled GET was dropped after read_timeout (the client got $got of 67108864 bytes)"
else
	t_fail "the stalled GET is dropped after read_timeout" "the client still got all $got bytes after 4 s of not reading"
fi
req GET "/v2/r/base/blobs/$DH" --max-time 60 -o /dev/null
assert_status 200 "the 64 MiB blob is still served to a client that reads"

# Pipelining works when the client reads...
for i in $(seq 1 1000); do printf 'GET /v2/r/base/manifests/v1 HTTP/1.1\r\nHost: x\r\nAccept: %s\r\n\r\n' "$MT_OCI_MANIFEST"; done >"$W/pipe.in"
printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >>"$W/pipe.in"
rawio "$W/pipe.in" 20
assert_eq "$(tr ' ' '\n' <<<"$RAW_CODES" | grep -c '^200$')" 1001 "1001 pipelined requests read promptly: 1001 answers"
# ...also past the point where the answers queued exceed the output
# high-water mark (1 MiB), where the daemon stops parsing until they drain:
# no request may be lost on the way.
for i in $(seq 1 2500); do printf 'GET /v2/r/base/manifests/v1 HTTP/1.1\r\nHost: x\r\nAccept: %s\r\n\r\n' "$MT_OCI_MANIFEST"; done >"$W/pipe.in"
printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >>"$W/pipe.in"
rawio "$W/pipe.in" 8
n200=$(tr ' ' '\n' <<<"$RAW_CODES" | grep -c '^200$')
assert_eq "$n200" 2501 "2501 pipelined requests (1.3 MB of answers) read promptly: 2501 answers"
# A request pipelined behind a 1 MiB blob: the PUT's headers come in the
# same read as the blob GET, its body (which looks like a request) later.
# The body must stay a body: never executed as a DELETE of another tag.
push_manifest r/base victim "$MF"
printf 'DELETE /v2/r/base/manifests/victim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$W/smuggle.body"
{
	for i in $(seq 1 200); do printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n'; done
	printf 'GET /v2/r/base/blobs/%s HTTP/1.1\r\nHost: x\r\n\r\n' "$DB"
	printf 'PUT /v2/r/base/blobs/uploads/%s?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %s\r\n\r\n' \
		"$UUID" "$DS" "$(fsize "$W/smuggle.body")"
} >"$W/smuggle.head"
exec {mfd}<>"/dev/tcp/127.0.0.1/$PORT"
timeout 8 cat <&"$mfd" >"$W/smuggle.out" 2>/dev/null &
reader=$!
cat "$W/smuggle.head" >&"$mfd"
sleep 0.7
cat "$W/smuggle.body" >&"$mfd"
wait "$reader"
exec {mfd}>&-
codes=$(grep -a -o -E 'HTTP/1\.1 [0-9]{3}' "$W/smuggle.out" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s x%s, ", $2, $1}')
echo "# answers on the pipelined connection: ${codes%, }"
req GET /v2/r/base/manifests/victim
if [ "$STATUS" = 200 ]; then
	t_pass "the body of a PUT pipelined behind a 1 MiB answer is not run as a request"
else
	t_fail "the body of a PUT pipelined behind a 1 MiB answer is not run as a request" \
		"the tag 'victim' is gone (GET: $STATUS): its body, 'DELETE /v2/r/base/manifests/victim', was executed;" \
		"answers on that connection: ${codes%, }; daemon log: $(grep -a 'DELETE /v2/r/base/manifests/victim' "$LOG" | tail -n 1)"
fi
assert_match "$codes" '(^|, )404 x1' "the pipelined PUT (unknown session) got its own answer (404)"

# ...and thousands of pipelined requests whose answers are not read for 4 s
# do not make the daemon buffer them all.
for i in $(seq 1 5000); do printf 'GET /v2/r/base/manifests/v1 HTTP/1.1\r\nHost: x\r\nAccept: %s\r\n\r\n' "$MT_OCI_MANIFEST"; done >"$W/pipe.in"
rss0=$(rss)
exec {pfd}<>"/dev/tcp/127.0.0.1/$PORT"
(
	trap '' PIPE
	cat "$W/pipe.in" >&"$pfd"
) 2>/dev/null &
pw=$!
sleep 4
rss1=$(rss)
got=$(timeout 10 cat <&"$pfd" 2>/dev/null | grep -a -o 'HTTP/1\.1 200' | wc -l)
exec {pfd}>&-
kill "$pw" 2>/dev/null
wait "$pw" 2>/dev/null
if [ $((rss1 - rss0)) -lt 16 ]; then
	t_pass "5000 pipelined requests whose answers are not read: RSS ${rss0} -> ${rss1} MiB"
else
	t_fail "5000 pipelined requests whose answers are not read keep memory bounded" "RSS ${rss0} -> ${rss1} MiB"
fi
echo "# pipelined: the client got $got answers after not reading for 4 s"
still_serving "clients that stop reading"

# ------------------------------------------------------------- the end

assert_no_5xx "no 5xx in the whole run"
peak=$(hwm)
if [ "$peak" -lt "$HWM_LIMIT_MB" ]; then
	t_pass "peak RSS (VmHWM) over the whole run: ${peak} MiB (< ${HWM_LIMIT_MB})"
else
	t_fail "peak RSS (VmHWM) stays under ${HWM_LIMIT_MB} MiB" "VmHWM ${peak} MiB"
fi
e2e_finish
