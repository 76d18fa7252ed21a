#!/usr/bin/env bash
# t_s3_loop2.sh — reads of the S3 backend that a handler waits on run as
# transfers of the worker's event loop too (issue 17: "the client is
# libcurl on the worker's event loop"), not as blocking calls on it: with
# one worker and a proxy in front of the gateway (tests/e2e/s3delay.py)
# that holds, for 1.5 s, the S3 request of
#   - a manifest GET that misses the worker's manifest cache (the GET of
#     the manifest's object),
#   - a referrers listing (the GET of each referrer's manifest, for its
#     annotations),
#   - a cross-repository mount (the HEAD of the blob),
#   - an upload session's cancel (the listing of its multipart uploads),
#   - a pull-through cache's blob GET that links a blob the store holds
#     for another repository (the HEAD of the blob),
# GET /v2/ on other connections, sampled every 0.1 s meanwhile, answers
# in well under a second each time (a worker that waited for S3 itself
# stalled >= 1.5 s), and the held request still gets the right answer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
. "$(dirname "$0")/lib-proxy.sh"
# The daemons' libcurl honours proxy variables: everything here is local.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

for c in radosgw ceph-mon ceph-osd radosgw-admin ceph-authtool monmaptool python3; do
	if ! command -v "$c" >/dev/null; then
		echo "ok 1 - $c is not installed # SKIP"
		echo "1..1"
		exit 0
	fi
done
# shellcheck disable=SC2034 # read by lib.sh
E2E_STORE=s3
# shellcheck disable=SC2034
E2E_WORKERS=1
# shellcheck disable=SC2034
E2E_EXTRA_INI=$'[gc]\ninterval = 0'
# shellcheck disable=SC2034 # (a stop cuts a held request, see the end)
E2E_EXTRA_SERVER='shutdown_timeout = 1s'
e2e_init
proxy_init
# An upstream registry (filesystem) for two pull-through sections of the
# cache under test, up/ and up2/: the same blobs under two local names.
up_start
E2E_EXTRA_INI+=$(printf '\n[proxy "up"]\nurl = %s\nprefix = up\n[proxy "up2"]\nurl = %s\nprefix = up2' \
	"$UP_BASE" "$UP_BASE")

# The proxy holds what the pattern file names (empty: nothing), between
# the daemon and the gateway; the test's own S3 helpers talk to the
# gateway itself.
HOLD=$TMP/hold
: >"$HOLD"
PROXY_LOG=$TMP/s3delay.log
python3 "$E2E_DIR/s3delay.py" "${E2E_S3_ENDPOINT#http://}" 1.5 "$HOLD" >"$PROXY_LOG" 2>&1 &
PROXY_PID=$!
# shellcheck disable=SC2154 # rc is the trap's own
trap 'rc=$?; kill "$PROXY_PID" 2>/dev/null; proxy_cleanup; (exit $rc); e2e_cleanup' EXIT
s3delay_wait
daemon_start

W=$TMP/w
mkdir -p "$W"
R=s3/loop2
hex() { printf '%s' "${1#sha256:}"; }

# during OUT CURL-ARGS...: the request in the background (status and time
# into OUT.res, body OUT.body, headers OUT.hdrs) while GET /v2/ is sampled
# every 0.1 s on other connections (status and time per line, OUT.times).
during() {
	local out=$1 pid
	shift
	curl -s --path-as-is --max-time 30 -o "$out.body" -D "$out.hdrs" \
		-w '%{http_code} %{time_total}\n' "$@" >"$out.res" </dev/null &
	pid=$!
	: >"$out.times"
	while kill -0 "$pid" 2>/dev/null; do
		curl -s --max-time 10 -o /dev/null -w '%{http_code} %{time_total}\n' "$BASE/v2/" >>"$out.times"
		sleep 0.1
	done
	wait "$pid"
}

# loop_free OUT WHAT HELD-MIN HELD-PATTERN: the proxy held at least HELD-MIN
# requests matching HELD-PATTERN (so the S3 request really happened, and
# waited), the held request took that long, and no GET /v2/ meanwhile did.
loop_free() {
	local out=$1 what=$2 min=$3 pat=$4 n held took worst bad
	held=$(grep -cE "^s3delay: held ($pat)" "$PROXY_LOG")
	assert_eq "$(awk -v h="$held" -v m="$min" 'BEGIN{print (h >= m) ? "yes" : "no (" h ")"}')" yes \
		"$what: the proxy held its S3 request(s) ($held)"
	took=$(awk '{print $2}' "$out.res")
	assert_eq "$(awk -v t="$took" -v m="$min" 'BEGIN{print (t >= 1.4 * m) ? "yes" : "no (" t " s)"}')" yes \
		"$what: it took the held time (${took} s)"
	n=$(grep -c . "$out.times")
	bad=$(awk '$1 != 200' "$out.times" | head -n 3)
	assert_eq "$bad" "" "$what: every GET /v2/ meanwhile answered 200 ($n samples)"
	assert_eq "$(awk -v n="$n" -v m="$min" 'BEGIN{print (n >= 5 * m) ? "yes" : "no (" n ")"}')" yes \
		"$what: GET /v2/ was sampled all along ($n samples in ${took} s)"
	worst=$(awk 'BEGIN{m = 0} {if ($2 > m) m = $2} END{printf "%.3f", m}' "$out.times")
	assert_eq "$(awk -v w="$worst" 'BEGIN{print (w < 0.5) ? "yes" : "no"}')" yes \
		"$what: the worker never stalled: the slowest GET /v2/ took ${worst} s (< 0.5 s; a held request is 1.5 s)"
}

# ---------------------------------------------------------------- an image
mkblob "$W/l1" 4000
push_blob $R "$W/l1"
L1=$(sha256_of "$W/l1")
blob_json $R "$W/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$W/cfg")" "$(desc "$MT_OCI_LAYER" "$W/l1")" >"$W/img"
IMG=$(sha256_of "$W/img")
push_manifest $R v1 "$W/img"
# Two referrers, each with its annotations.
SUBJ=$(desc_d "$MT_OCI_MANIFEST" "$IMG" "$(fsize "$W/img")")
for k in a b; do
	printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.%s","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"subject":%s,"annotations":{"org.example.k":"%s"}}' \
		"$MT_OCI_MANIFEST" "$k" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$SUBJ" "$k" >"$W/ref$k"
	blob_json $R "$W/empty" '{}'
	push_manifest $R "$(sha256_of "$W/ref$k")" "$W/ref$k"
done
REFA=$(sha256_of "$W/refa")
REFB=$(sha256_of "$W/refb")

# ---------------------------------------------------------------- manifest GET
# A push does not fill the worker's cache: this GET misses it and reads
# the manifest's object (held).
echo "^(GET|HEAD) [^ ]*$(hex "$IMG")" >"$HOLD"
during "$W/mget" -H "Accept: $MT_OCI_MANIFEST" "$BASE/v2/$R/manifests/$IMG"
: >"$HOLD"
assert_eq "$(awk '{print $1}' "$W/mget.res")" 200 "the manifest GET (cache miss, S3 read held) answers 200"
assert_eq "$(sha256_of "$W/mget.body")" "$IMG" "... with the manifest's bytes"
loop_free "$W/mget" "manifest GET" 1 "GET [^ ]*$(hex "$IMG")"
# Now from the cache: nothing more is asked of S3.
req GET "/v2/$R/manifests/$IMG" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "the manifest GET again (from the cache)"
assert_body_digest "$IMG" "... with the manifest's bytes"

# ---------------------------------------------------------------- referrers
printf '^GET [^ ]*%s\n^GET [^ ]*%s\n' "$(hex "$REFA")" "$(hex "$REFB")" >"$HOLD"
during "$W/refs" "$BASE/v2/$R/referrers/$IMG"
: >"$HOLD"
assert_eq "$(awk '{print $1}' "$W/refs.res")" 200 "the referrers listing (reads of both referrers held) answers 200"
assert_eq "$(jq -c '[.manifests[] | [.digest, .artifactType, .annotations["org.example.k"]]] | sort' "$W/refs.body")" \
	"$(printf '[["%s","application/vnd.example.a","a"],["%s","application/vnd.example.b","b"]]' "$REFA" "$REFB" |
		jq -c sort)" "... listing both referrers with their annotations"
loop_free "$W/refs" "referrers" 1 "GET [^ ]*($(hex "$REFA")|$(hex "$REFB"))"

# ---------------------------------------------------------------- mount
echo "^HEAD [^ ]*$(hex "$L1")" >"$HOLD"
during "$W/mount" -X POST "$BASE/v2/s3/other/blobs/uploads/?mount=$L1&from=$R"
: >"$HOLD"
assert_eq "$(awk '{print $1}' "$W/mount.res")" 201 "the cross-repository mount (S3 HEAD held) answers 201"
assert_eq "$(awk '{sub(/\r$/, "")} tolower($1) == "docker-content-digest:" {print $2}' "$W/mount.hdrs")" \
	"$L1" "... with the mounted digest"
loop_free "$W/mount" "mount" 1 "HEAD [^ ]*$(hex "$L1")"
req GET "/v2/s3/other/blobs/$L1"
assert_status 200 "the mounted blob pulls from the other repository"
assert_body_digest "$L1" "... with its digest"

# ---------------------------------------------------------------- cancel
# A session with bytes in it (a multipart upload or a tail under its
# prefix); its cancel lists the multipart uploads of that prefix (held):
# the answer does not wait for the store's cleanup.
mkblob "$W/part" 3000
upload_start "$R"
req PATCH "$UPLOAD_LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-2999' \
	--data-binary "@$W/part"
assert_status 202 "a chunk into a session to cancel"
echo "^GET [^ ]*[?&](uploads=[^ ]*${UPLOAD_ID}|[^ ]*${UPLOAD_ID}[^ ]*&uploads=)" >"$HOLD"
during "$W/cancel" -X DELETE "$UPLOAD_LOC"
assert_eq "$(awk '{print $1}' "$W/cancel.res")" 204 "the session's cancel answers 204"
took=$(awk '{print $2}' "$W/cancel.res")
assert_eq "$(awk -v t="$took" 'BEGIN{print (t < 0.5) ? "yes" : "no (" t " s)"}')" yes \
	"... at once (${took} s), not after the store's cleanup"
req GET "$UPLOAD_LOC"
assert_status 404 "the cancelled session is gone"
# The cleanup goes on behind the answer, held: wait for it, then nothing
# of the session is left in the bucket.
wait_log_held() {
	for ((i = 0; i < 50; i++)); do
		grep -q "^s3delay: held GET [^ ]*uploads" "$PROXY_LOG" && return 0
		sleep 0.1
	done
	return 1
}
wait_log_held && heldc=yes || heldc=no
assert_eq "$heldc" yes "the cancel's cleanup asked S3 (held)"
: >"$HOLD"
sleep 2.5
n=$(grep -c . "$W/cancel.times")
worst=$(awk 'BEGIN{m = 0} {if ($2 > m) m = $2} END{printf "%.3f", m}' "$W/cancel.times")
diag "GET /v2/ during the cancel: $n samples, slowest $worst s"
assert_eq "$(s3_uploads "${E2E_S3_PREFIX}uploads/$UPLOAD_ID/")" "" "no multipart upload of the session is left"
assert_eq "$(store_listing | grep -c "$UPLOAD_ID")" 0 "no object of the session is left"

# ---------------------------------------------------------------- pull-through link
# An image upstream, pulled through up/ (its blob fetched into the store),
# then its manifest through up2/: up2's blob GET finds the blob in the
# store (the HEAD, held) and links it instead of fetching it.
SAVE_BASE=$BASE
BASE=$UP_BASE
UR=lib/app
mkblob "$W/ul" 5000
push_blob $UR "$W/ul"
UL=$(sha256_of "$W/ul")
blob_json $UR "$W/ucfg" '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$W/ucfg")" "$(desc "$MT_OCI_LAYER" "$W/ul")" >"$W/uimg"
push_manifest $UR v1 "$W/uimg"
BASE=$SAVE_BASE
req GET "/v2/up/$UR/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "the upstream's manifest through up/"
req GET "/v2/up/$UR/blobs/$UL"
assert_status 200 "its layer through up/ (fetched into the store)"
assert_body_digest "$UL" "... with its digest"
req GET "/v2/up2/$UR/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "the same manifest through up2/"
G0=$(up_blob_gets "$UR")
echo "^HEAD [^ ]*$(hex "$UL")" >"$HOLD"
during "$W/plink" "$BASE/v2/up2/$UR/blobs/$UL"
: >"$HOLD"
assert_eq "$(awk '{print $1}' "$W/plink.res")" 200 "the layer through up2/ (store's HEAD held) answers 200"
assert_eq "$(sha256_of "$W/plink.body")" "$UL" "... with the layer's bytes"
assert_eq "$(up_blob_gets "$UR")" "$G0" "... linked from the store, not fetched from the upstream again"
loop_free "$W/plink" "pull-through link" 1 "HEAD [^ ]*$(hex "$UL")"

# ---------------------------------------------------------------- clients that leave
# A deferred request whose client went is answered into the void when its
# read ends (and freed then: the sanitizer build checks); the reads'
# results are right for the next client.
echo "^GET [^ ]*$(hex "$REFB")" >"$HOLD"
code=$(curl -s --max-time 0.5 -o /dev/null -w '%{http_code}' -H "Accept: $MT_OCI_MANIFEST" \
	"$BASE/v2/$R/manifests/$REFB" </dev/null)
assert_eq "$code" 000 "a manifest GET's client leaves while the S3 read is held"
printf '^GET [^ ]*%s\n^GET [^ ]*%s\n' "$(hex "$REFA")" "$(hex "$REFB")" >"$HOLD"
code=$(curl -s --max-time 0.5 -o /dev/null -w '%{http_code}' "$BASE/v2/$R/referrers/$IMG" </dev/null)
assert_eq "$code" 000 "a referrers listing's client leaves while the S3 reads are held"
echo "^HEAD [^ ]*$(hex "$L1")" >"$HOLD"
code=$(curl -s --max-time 0.5 -o /dev/null -w '%{http_code}' -X POST \
	"$BASE/v2/s3/third/blobs/uploads/?mount=$L1&from=$R" </dev/null)
assert_eq "$code" 000 "a mount's client leaves while the S3 HEAD is held"
sleep 2
: >"$HOLD"
req GET "/v2/$R/manifests/$REFB" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "the manifest GET again"
assert_body_digest "$REFB" "... with the manifest's bytes"
req GET "/v2/$R/referrers/$IMG"
assert_status 200 "the referrers listing again"
assert_json '.manifests | length' 2 "... with both referrers"
assert_eq "$(db "SELECT count(*) FROM uploads WHERE repo='s3/third'")" 0 \
	"the mount whose client left opened no session"

# ---------------------------------------------------------------- a stop
# SIGTERM while a manifest read is held (1.5 s) past shutdown_timeout
# (1 s): the worker's loop ends the transfer, the request is answered into
# the void and freed; the daemon exits 0 without a sanitizer report
# (daemon_stop checks both).
echo "^GET [^ ]*$(hex "$REFA")" >"$HOLD"
curl -s --max-time 10 -o /dev/null -H "Accept: $MT_OCI_MANIFEST" "$BASE/v2/$R/manifests/$REFA" \
	</dev/null &
cut_pid=$!
for ((i = 0; i < 50; i++)); do
	grep -q "^s3delay: held GET [^ ]*$(hex "$REFA")" "$PROXY_LOG" && break
	sleep 0.1
done
daemon_alive && alive=yes || alive=no
assert_eq "$alive" yes "the daemon is alive"
daemon_stop
wait "$cut_pid" 2>/dev/null
grep -q 'shutdown_timeout: cutting 1 connection' "$LOG" && cut=yes || cut=no
assert_eq "$cut" yes "the stop cut the connection of the held manifest GET"
up_stop
kill "$PROXY_PID" 2>/dev/null
wait "$PROXY_PID" 2>/dev/null
e2e_finish
