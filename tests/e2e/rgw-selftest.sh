#!/usr/bin/env bash
# rgw-selftest.sh — checks tests/e2e/lib-rgw.sh: start a one-node radosgw,
# create a bucket, PUT/GET a 5 MiB object, a 2-part multipart upload, list
# the bucket, stop, and check that no daemon remains.  Not a t_*.sh suite
# (make check does not run it): it needs the ceph packages lib-rgw.sh names.
# Exit 0 if every check passed.
set -u
# shellcheck source=tests/e2e/lib-rgw.sh
. "$(dirname "$0")/lib-rgw.sh"

FAIL=0
N=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
notok() { N=$((N + 1)); FAIL=$((FAIL + 1)); echo "not ok $N - $1"; [ $# -gt 1 ] && echo "# $2"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rgw-selftest.XXXXXX") || exit 1
cleanup() { rgw_stop; [ "${KEEP:-0}" = 1 ] || rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! rgw_start "$TMP/rgw"; then
	notok "rgw_start"
	exit 1
fi
ok "rgw_start ($RGW_STORE) in ${RGW_START_SECONDS}s at $RGW_ENDPOINT"
PIDS=("${RGW_PIDS[@]}")

check "rgw_mkbucket blobs" rgw_mkbucket blobs
check "rgw_mkbucket blobs again (already mine: 200)" rgw_mkbucket blobs

# A 5 MiB object, PUT then GET.
head -c $((5 << 20)) /dev/urandom >"$TMP/a"
code=$(rgw_s3 -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$TMP/a" "$RGW_ENDPOINT/blobs/obj-a")
check "PUT 5 MiB object: $code" [ "$code" = 200 ]
code=$(rgw_s3 -o "$TMP/a.got" -w '%{http_code}' "$RGW_ENDPOINT/blobs/obj-a")
check "GET 5 MiB object: $code" [ "$code" = 200 ]
check "GET returns the same sha256" [ "$(sha256sum <"$TMP/a")" = "$(sha256sum <"$TMP/a.got")" ]
code=$(rgw_s3 -o /dev/null -w '%{http_code}' "$RGW_ENDPOINT/blobs/missing")
check "GET a missing object: 404 ($code)" [ "$code" = 404 ]

# A 2-part multipart upload: 5 MiB + 1 MiB.
head -c $((5 << 20)) /dev/urandom >"$TMP/p1"
head -c $((1 << 20)) /dev/urandom >"$TMP/p2"
rgw_s3 -X POST "$RGW_ENDPOINT/blobs/obj-mp?uploads=" >"$TMP/init.xml"
uid=$(sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p' "$TMP/init.xml")
check "initiate multipart: UploadId '$uid'" [ -n "$uid" ]
etags=()
for i in 1 2; do
	code=$(rgw_s3 -D "$TMP/h$i" -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$TMP/p$i" \
		"$RGW_ENDPOINT/blobs/obj-mp?partNumber=$i&uploadId=$uid")
	etags[i]=$(tr -d '\r' <"$TMP/h$i" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')
	check "PUT part $i: $code, ETag ${etags[i]}" [ "$code" = 200 ] && [ -n "${etags[i]}" ]
done
{
	echo '<CompleteMultipartUpload>'
	for i in 1 2; do
		echo "<Part><PartNumber>$i</PartNumber><ETag>${etags[i]}</ETag></Part>"
	done
	echo '</CompleteMultipartUpload>'
} >"$TMP/complete.xml"
code=$(rgw_s3 -o "$TMP/complete.out" -w '%{http_code}' -X POST -H 'Content-Type: application/xml' \
	--data-binary @"$TMP/complete.xml" "$RGW_ENDPOINT/blobs/obj-mp?uploadId=$uid")
check "complete multipart: $code" [ "$code" = 200 ] && grep -q CompleteMultipartUploadResult "$TMP/complete.out"
rgw_s3 -o "$TMP/mp.got" "$RGW_ENDPOINT/blobs/obj-mp"
check "GET the multipart object: same sha256" \
	[ "$(cat "$TMP/p1" "$TMP/p2" | sha256sum)" = "$(sha256sum <"$TMP/mp.got")" ]

# List the bucket.
rgw_s3 "$RGW_ENDPOINT/blobs?list-type=2" >"$TMP/list.xml"
check "list the bucket: both keys" grep -q '<Key>obj-a</Key>.*<Key>obj-mp</Key>' "$TMP/list.xml"
check "list: obj-mp is 6 MiB" grep -q "<Key>obj-mp</Key>.*<Size>$((6 << 20))</Size>" "$TMP/list.xml"

# Memory of the daemons (KiB).
for p in "${PIDS[@]}"; do
	echo "# rss $(ps -o comm= -p "$p") $(ps -o rss= -p "$p") KiB"
done

t0=$(date +%s.%N)
rgw_stop
echo "# rgw_stop in $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")s"
left=
for p in "${PIDS[@]}"; do
	kill -0 "$p" 2>/dev/null && left="$left $p"
done
check "every daemon stopped${left:+ (left:$left)}" [ -z "$left" ]
left=$(pgrep -f -- "$TMP/rgw/ceph.conf" | tr '\n' ' ')
check "no process uses this cluster's ceph.conf${left:+ (left: $left)}" [ -z "$left" ]

echo "# $N checks, $FAIL failed"
[ "$FAIL" = 0 ]
