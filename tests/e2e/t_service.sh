#!/usr/bin/env bash
# t_service.sh — ociregd as a service (issue 7): the sd_notify protocol
# (READY=1 once the port accepts, RELOADING=1/READY=1 around SIGHUP,
# STOPPING=1, WATCHDOG=1 every WATCHDOG_USEC/2, WATCHDOG_PID), socket
# activation (LISTEN_FDS/LISTEN_PID, blocking and non-blocking sockets),
# /metrics (exact counter deltas, gauges, histogram consistency, names and
# syntax, SQLite busy retries), /healthz, /readyz (503 when <root>/uploads
# is unusable or the database cannot answer),
# [server] metrics_listen, access_log json/text/off, SIGHUP reloads (log
# level, access log, users/groups/access rules, limits, TLS certificate;
# refused configs keep the old one; open connections survive), graceful
# SIGTERM (in-flight upload finishes, new connections not served, exit 0),
# shutdown_timeout (the cut upload stays resumable), exit codes 64/69/74/78.
#
# tests/e2e/sdhelper.c plays systemd; it is compiled here.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init

command -v cc >/dev/null || bail "cc is installed (scripts/install-deps)"
SDH=$TMP/sdhelper
if cc -O2 -Wall -Werror -o "$SDH" "$E2E_DIR/sdhelper.c" >"$TMP/cc.out" 2>&1; then
	t_pass "sdhelper.c compiles with cc -O2 -Wall -Werror"
else
	bail "sdhelper.c compiles with cc -O2 -Wall -Werror" "$(cat "$TMP/cc.out")"
fi

OCT=(-H 'Content-Type: application/octet-stream')
ISO_MS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'

# ---------------------------------------------------------------- helpers

# svc_conf: write the whole config to ${S_OUT:-$CONF}.  Variables (usually
# given as prefix assignments): S_LISTEN, S_WORKERS, S_LEVEL, S_ACCESS,
# S_SERVER (more [server] lines), S_LIMITS ([limits] lines), S_INI (whole
# sections at the end), ROOT.
svc_conf() {
	{
		echo "[server]"
		echo "listen = ${S_LISTEN:-127.0.0.1:0}"
		echo "workers = ${S_WORKERS:-1}"
		echo "log_level = ${S_LEVEL:-info}"
		echo "access_log = ${S_ACCESS:-text}"
		[ -n "${S_SERVER:-}" ] && printf '%s\n' "$S_SERVER"
		echo "[storage]"
		echo "root = $ROOT"
		echo "sync = true"
		[ -n "${S_LIMITS:-}" ] && printf '[limits]\n%s\n' "$S_LIMITS"
		[ -n "${S_INI:-}" ] && printf '%s\n' "$S_INI"
		:
	} >"${S_OUT:-$CONF}.tmp"
	mv "${S_OUT:-$CONF}.tmp" "${S_OUT:-$CONF}"
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
	rm -f "$TMP/fp.port"
	"$SDH" -n "$TMP/fp.sock" /dev/null "$TMP/fp.port" -- true </dev/null >/dev/null 2>&1
	cat "$TMP/fp.port" 2>/dev/null
}

# sd_start [sdhelper options]: start the daemon under sdhelper (the daemon
# keeps the helper's pid).  Like daemon_start: sets DAEMON_PID, LOG, PORT,
# BASE; also NLOG (the notifications, "MS MESSAGE" lines) and SD_PORT (the
# helper's listening socket, passed as fd 3).
sd_start() {
	local n port
	[ -n "$DAEMON_PID" ] && bail "sd_start: a daemon is already running"
	DAEMON_STARTS=$((DAEMON_STARTS + 1))
	LOG=$TMP/daemon.$DAEMON_STARTS.log
	NLOG=$TMP/notify.$DAEMON_STARTS.log
	SD_PORTF=$TMP/sdport.$DAEMON_STARTS
	: >"$LOG"
	: >"$NLOG"
	rm -f "$SD_PORTF"
	"$SDH" "$@" "$TMP/notify.$DAEMON_STARTS.sock" "$NLOG" "$SD_PORTF" -- \
		"$OCIREGD" -c "$CONF" </dev/null >>"$LOG" 2>&1 &
	DAEMON_PID=$!
	port=
	for ((n = 0; n < 150; n++)); do
		port=$(sed -n 's/.*listening on .* (port \([0-9][0-9]*\), [0-9]* workers\{0,1\}).*/\1/p' "$LOG" 2>/dev/null | head -n 1)
		[ -n "$port" ] && break
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			wait "$DAEMON_PID"
			local rc=$?
			DAEMON_PID=
			bail "daemon start #$DAEMON_STARTS under sdhelper $*" "exited with $rc before listening; log: $(cat "$LOG")"
		fi
		sleep 0.1
	done
	[ -n "$port" ] || bail "daemon start #$DAEMON_STARTS under sdhelper $*" "no 'listening on' line within 15s; log: $(cat "$LOG")"
	PORT=$port
	BASE=http://127.0.0.1:$PORT
	SD_PORT=$(cat "$SD_PORTF" 2>/dev/null)
	echo "# daemon #$DAEMON_STARTS pid $DAEMON_PID on $BASE under sdhelper $* (helper port $SD_PORT)"
}

# daemon_reap TENTHS: wait for the daemon to exit by itself (after a signal
# the test sent); EXIT_RC = its status, or "timeout" (then it is killed).
# Checks the log for sanitizer reports.
daemon_reap() {
	local pid=$DAEMON_PID
	if wait_dead "$pid" "$1"; then
		wait "$pid"
		EXIT_RC=$?
	else
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		EXIT_RC=timeout
	fi
	DAEMON_PID=
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak)' "$LOG"; then
		t_fail "daemon #$DAEMON_STARTS log has no sanitizer report" "$(grep -E -A30 'ERROR: |runtime error:' "$LOG" | head -n 60)"
	fi
}

# Notifications: nmsgs = the messages in order; ncount MSG = how many.
nmsgs() { awk '$2 != "probe" {print $2}' "$NLOG"; }
ncount() { grep -c -E "^[0-9]+ $1\$" "$NLOG"; }
# wait_notify MSG COUNT [TENTHS]: until MSG was received COUNT times.
wait_notify() {
	local n
	for ((n = 0; n < ${3:-50}; n++)); do
		[ "$(ncount "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# The messages since the mark, WATCHDOG=1 left out, on one line.
nsince() { tail -n +$((NLOG_MARK + 1)) "$NLOG" | awk '$2 != "probe" && $2 != "WATCHDOG=1" {printf "%s ", $2}'; }
# mark: remember where the logs are; since = daemon log lines after it.
mark() {
	LOG_MARK=$(wc -l <"$LOG")
	NLOG_MARK=$(wc -l <"$NLOG" 2>/dev/null || echo 0)
}
since() { tail -n +$((LOG_MARK + 1)) "$LOG"; }
# wait_since ERE: bounded (3s) wait for a log line after the mark.
wait_since() {
	local n
	for ((n = 0; n < 30; n++)); do
		since | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	return 1
}

# hup: SIGHUP, then wait for the READY=1 that ends the reload (5s).
hup() {
	local before
	before=$(ncount READY=1)
	kill -HUP "$DAEMON_PID"
	wait_notify READY=1 $((before + 1)) 50
}

# assert_reload_notify DESC: since the mark, exactly RELOADING=1 then READY=1.
assert_reload_notify() {
	assert_eq "$(nsince)" "RELOADING=1 READY=1 " "$1: RELOADING=1 then READY=1 sent"
}

# raw HTTP over /dev/tcp: an invalid request line (a control byte in the
# target); prints the answer's status line.
# (The request is written with one write(2): bash's printf writes line by
# line, and the daemon may close after the first line.)
printf 'GET /\001bad HTTP/1.1\r\nHost: x\r\n\r\n' >"$TMP/garbage.req"
garbage_req() {
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	timeout 5 bash -c 'trap "" PIPE; exec 9<>"/dev/tcp/127.0.0.1/$1" || exit 1
		cat "$2" >&9
		head -n 1 <&9 | tr -d "\r"' _ "$PORT" "$TMP/garbage.req" 2>/dev/null
}

# scrape FILE [BASE]: GET /metrics into FILE (asserts nothing).
scrape() { curl -s --max-time 10 -o "$1" "${2:-$BASE}/metrics"; }
# mval FILE SAMPLE: a sample's value ("name{labels}" exactly), 0 if absent.
mval() { awk -v k="$2" '$1 == k {v = $2} END {print (v == "" ? 0 : v)}' "$1"; }
REQ_BASE_GET_200='ociregd_http_requests_total{route="base",method="GET",status="200"}'

# metrics_format FILE: "" if every line is HELP/TYPE or a valid sample whose
# family is ociregd_* and declared by a TYPE line; else the problems.
metrics_format() {
	awk '
	function bad(m) { if (nbad++ < 5) print m " (line " NR ": " $0 ")" }
	/^# (HELP|TYPE) / {
		if ($3 !~ /^ociregd_[a-z0-9_]+$/) bad("family not ociregd_*")
		if ($2 == "TYPE") { type[$3] = $4; if ($4 !~ /^(counter|gauge|histogram)$/) bad("unknown type") }
		next
	}
	/^#/ { bad("stray comment"); next }
	/^$/ { next }
	{
		if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.]+([eE][-+]?[0-9]+)?$/)
			bad("not a valid sample line")
		name = $1; sub(/\{.*/, "", name)
		if (name !~ /^ociregd_/) bad("name not ociregd_*")
		fam = name
		if (!(fam in type)) { sub(/_(bucket|sum|count)$/, "", fam); if (type[fam] != "histogram") bad("no TYPE line before the sample") }
		else if (type[fam] == "counter" && fam !~ /_total$/) bad("counter not named *_total")
		n++
	}
	END { if (n == 0) print "no samples" }' "$1"
}

# histo_check FILE: "" if, per route, the buckets are cumulative (le
# ascending, counts non-decreasing), le="+Inf" equals _count, and _count
# equals the sum of ociregd_http_requests_total for the route.
histo_check() {
	awk '
	function route() { match($0, /route="[^"]*"/); return substr($0, RSTART + 7, RLENGTH - 8) }
	function bad(m) { if (nbad++ < 5) print m }
	/^ociregd_http_requests_total\{/ { reqs[route()] += $2 }
	/^ociregd_http_request_duration_seconds_bucket\{/ {
		r = route(); match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
		if (r in last) {
			if ($2 + 0 < last[r]) bad(r ": bucket le=" le " has " $2 " < previous " last[r])
			if (lastle[r] == "+Inf" || (le != "+Inf" && le + 0 <= lastle[r] + 0)) bad(r ": le=" le " after le=" lastle[r])
		}
		last[r] = $2 + 0; lastle[r] = le; nb[r]++
		if (le == "+Inf") inf[r] = $2
	}
	/^ociregd_http_request_duration_seconds_sum\{/ { if ($2 < 0) bad(route() ": negative _sum") }
	/^ociregd_http_request_duration_seconds_count\{/ { cnt[route()] = $2 }
	END {
		for (r in cnt) {
			if (!(r in inf)) bad(r ": no le=\"+Inf\" bucket")
			else if (inf[r] != cnt[r]) bad(r ": +Inf bucket " inf[r] " != _count " cnt[r])
			if (reqs[r] != cnt[r]) bad(r ": _count " cnt[r] " != sum of requests_total " reqs[r])
			if (nb[r] < 2) bad(r ": " nb[r] " buckets")
		}
		for (r in reqs) if (!(r in cnt)) bad(r ": requests counted but no histogram")
		if (length(cnt) == 0) bad("no histogram at all")
	}' "$1"
}

# run_exit NAME CONF [ARGS...]: run the daemon in the foreground (bounded);
# sets RUN_RC and RUN_OUT (file with its output).
run_exit() {
	local name=$1 conf=$2
	shift 2
	RUN_OUT=$TMP/exit-$name.out
	if [ -n "$conf" ]; then
		timeout -k 2 15 "$OCIREGD" -c "$conf" "$@" </dev/null >"$RUN_OUT" 2>&1
	else
		timeout -k 2 15 "$OCIREGD" "$@" </dev/null >"$RUN_OUT" 2>&1
	fi
	RUN_RC=$?
}

sanitizer_clean() {
	! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak)' "$1"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ================================================================ 1. exit codes

BAD=$TMP/bad.ini

run_exit usage-opt "" --no-such-option
assert_eq "$RUN_RC" 64 "unknown option: exit 64 (usage)"
assert_match "$(cat "$RUN_OUT")" "usage: ociregd" "unknown option: usage on stderr"
run_exit usage-cmd "" frobnicate
assert_eq "$RUN_RC" 64 "unknown command: exit 64 (usage)"
run_exit usage-extra "" version extra-argument
assert_eq "$RUN_RC" 64 "extra argument: exit 64 (usage)"

S_OUT=$BAD S_LEVEL=loud svc_conf
run_exit config-value "$BAD"
assert_eq "$RUN_RC" 78 "log_level = loud: exit 78 (config error)"
assert_match "$(cat "$RUN_OUT")" "log_level" "log_level = loud: the message names the key"
S_OUT=$BAD S_SERVER="no_such_key = 1" svc_conf
run_exit config-key "$BAD"
assert_eq "$RUN_RC" 78 "unknown key: exit 78 (config error)"
run_exit config-missing "$TMP/no-such-config.ini"
assert_eq "$RUN_RC" 78 "missing config file: exit 78 (config error)"
if sanitizer_clean "$RUN_OUT"; then t_pass "config errors: no sanitizer report"; else
	t_fail "config errors: no sanitizer report" "$(head -n 40 "$RUN_OUT")"; fi

: >"$TMP/root-is-a-file"
ROOT=$TMP/root-is-a-file S_OUT=$BAD svc_conf
run_exit storage "$BAD"
assert_eq "$RUN_RC" 74 "[storage] root is a plain file: exit 74 (storage error)"
assert_match "$(cat "$RUN_OUT")" "root-is-a-file" "storage error: the message names the root"
if sanitizer_clean "$RUN_OUT"; then t_pass "storage error: no sanitizer report"; else
	t_fail "storage error: no sanitizer report" "$(head -n 40 "$RUN_OUT")"; fi

# ================================================================ 2. READY, watchdog, metrics, health (daemon under sdhelper, no activation)

FP=$(free_port)
[ -n "$FP" ] || bail "sdhelper -n finds a free port"
S_LISTEN=127.0.0.1:$FP S_ACCESS=json svc_conf
# Abstract NOTIFY_SOCKET, a connect() probe on READY=1, WATCHDOG_USEC=2s
# and no WATCHDOG_PID.
sd_start -n -a -p "$FP" -w 2000000
assert_eq "$PORT" "$FP" "without LISTEN_FDS the daemon binds [server] listen"

# READY=1 without any request from us.
if wait_notify READY=1 1 50; then
	t_pass "READY=1 arrives (abstract NOTIFY_SOCKET) before any request"
else
	t_fail "READY=1 arrives (abstract NOTIFY_SOCKET) before any request" "notifications: $(cat "$NLOG")"
fi
assert_eq "$(grep -c '^{' "$LOG")" 0 "no request was served before READY=1 (access log empty)"
sleep 0.1
assert_match "$(grep 'probe READY=1' "$NLOG")" "connect=ok" "the port accepts connections the moment READY=1 arrives"
assert_eq "$(nmsgs | head -n 1)" "READY=1" "READY=1 is the first notification"
READY_MS=$(awk '$2 == "READY=1" {print $1; exit}' "$NLOG")

# ---- /healthz, /readyz
req GET /healthz
assert_status 200 "GET /healthz"
assert_eq "$(tr -d '\n' <"$BODY")" "ok" "GET /healthz body"
req GET /readyz
assert_status 200 "GET /readyz on a healthy daemon"
req HEAD /healthz
assert_status 200 "HEAD /healthz"

# ---- /metrics: exact deltas
R=svc/app
req GET /metrics
assert_status 200 "GET /metrics"
assert_match "$(hdr Content-Type)" '^text/plain; version=0\.0\.4' "GET /metrics: Prometheus text Content-Type"
cp "$BODY" "$TMP/m0"
for m in ociregd_http_requests_total ociregd_http_request_duration_seconds ociregd_http_received_bytes_total \
	ociregd_http_sent_bytes_total ociregd_uploads_in_progress ociregd_blobs_stored ociregd_blob_bytes_stored \
	ociregd_manifest_cache_hits_total ociregd_manifest_cache_misses_total ociregd_sqlite_busy_retries_total \
	ociregd_connections_open ociregd_ready; do
	grep -q "^# TYPE $m " "$TMP/m0" || MISSING="${MISSING:-} $m"
done
assert_eq "${MISSING:-}" "" "/metrics declares every documented family"
assert_eq "$(metrics_format "$TMP/m0")" "" "/metrics: every line is valid exposition and every name starts with ociregd_"
assert_eq "$(mval "$TMP/m0" ociregd_ready)" 1 "ociregd_ready is 1"
assert_match "$(mval "$TMP/m0" ociregd_sqlite_busy_retries_total)" '^[0-9]+$' "ociregd_sqlite_busy_retries_total is a count"
assert_match "$(mval "$TMP/m0" ociregd_connections_open)" '^[1-9][0-9]*$' "ociregd_connections_open counts the scrape's own connection"

# A blob push: stored gauges and received bytes move by exactly the blob.
scrape "$TMP/m1"
LAYER=$TMP/layer
mkblob "$LAYER" 12345
DL=$(sha256_of "$LAYER")
push_blob "$R" "$LAYER"
scrape "$TMP/m2"
assert_eq "$(($(mval "$TMP/m2" ociregd_blobs_stored) - $(mval "$TMP/m1" ociregd_blobs_stored)))" 1 \
	"a pushed blob: ociregd_blobs_stored +1"
assert_eq "$(($(mval "$TMP/m2" ociregd_blob_bytes_stored) - $(mval "$TMP/m1" ociregd_blob_bytes_stored)))" 12345 \
	"a pushed blob: ociregd_blob_bytes_stored +12345"
assert_eq "$(($(mval "$TMP/m2" ociregd_http_received_bytes_total) - $(mval "$TMP/m1" ociregd_http_received_bytes_total)))" 12345 \
	"a pushed blob: ociregd_http_received_bytes_total +12345"
assert_eq "$(($(mval "$TMP/m2" ociregd_http_sent_bytes_total) - $(mval "$TMP/m1" ociregd_http_sent_bytes_total)))" \
	"$(fsize "$TMP/m1")" "ociregd_http_sent_bytes_total grew by exactly the previous scrape's body (the 201 has none)"
K='ociregd_http_requests_total{route="upload_start",method="POST",status="201"}'
assert_eq "$(($(mval "$TMP/m2" "$K") - $(mval "$TMP/m1" "$K")))" 1 "a pushed blob: $K +1"

# Sent bytes: a blob GET.
req GET "/v2/$R/blobs/$DL"
assert_status 200 "GET the pushed blob"
scrape "$TMP/m3"
assert_eq "$(($(mval "$TMP/m3" ociregd_http_sent_bytes_total) - $(mval "$TMP/m2" ociregd_http_sent_bytes_total)))" \
	"$((12345 + $(fsize "$TMP/m2")))" "a blob GET: ociregd_http_sent_bytes_total +12345 (+ the scrape in between)"
K='ociregd_http_requests_total{route="blob",method="GET",status="200"}'
assert_eq "$(($(mval "$TMP/m3" "$K") - $(mval "$TMP/m2" "$K")))" 1 "a blob GET: $K +1"

# Uploads in progress: +1 on POST, back on DELETE.
upload_start "$R"
scrape "$TMP/m4"
assert_eq "$(($(mval "$TMP/m4" ociregd_uploads_in_progress) - $(mval "$TMP/m3" ociregd_uploads_in_progress)))" 1 \
	"an upload session started: ociregd_uploads_in_progress +1"
req DELETE "$UPLOAD_LOC"
assert_status 204 "DELETE the upload session"
scrape "$TMP/m5"
assert_eq "$(mval "$TMP/m5" ociregd_uploads_in_progress)" "$(mval "$TMP/m3" ociregd_uploads_in_progress)" \
	"upload session cancelled: ociregd_uploads_in_progress back"

# Three GET /v2/: exactly +3, and the base histogram count too.
for i in 1 2 3; do
	req GET /v2/
	assert_status 200 "GET /v2/ #$i"
done
scrape "$TMP/m6"
assert_eq "$(($(mval "$TMP/m6" "$REQ_BASE_GET_200") - $(mval "$TMP/m5" "$REQ_BASE_GET_200")))" 3 \
	"3 × GET /v2/: $REQ_BASE_GET_200 +3"
K='ociregd_http_request_duration_seconds_count{route="base"}'
assert_eq "$(($(mval "$TMP/m6" "$K") - $(mval "$TMP/m5" "$K")))" 3 "3 × GET /v2/: $K +3"

# 404s and HEAD are labelled as such.
ZERO=sha256:0000000000000000000000000000000000000000000000000000000000000000
req GET "/v2/$R/blobs/$ZERO"
assert_status 404 "GET an unknown blob"
req HEAD "/v2/$R/blobs/$ZERO"
assert_status 404 "HEAD an unknown blob"

# Manifest cache: two GETs of a manifest are two lookups, at least one a hit.
blob_json "$R" "$TMP/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
cat >"$TMP/manifest" <<EOF
{"schemaVersion":2,"mediaType":"$MT_OCI_MANIFEST","config":$(desc "$MT_OCI_CONFIG" "$TMP/cfg"),"layers":[$(desc "$MT_OCI_LAYER" "$LAYER")]}
EOF
DM=$(sha256_of "$TMP/manifest")
push_manifest "$R" v1 "$TMP/manifest"
scrape "$TMP/m7"
req GET "/v2/$R/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "GET manifest by tag #1"
req GET "/v2/$R/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "GET manifest by tag #2"
assert_header Docker-Content-Digest "$DM" "GET manifest by tag"
scrape "$TMP/m8"
H=$(($(mval "$TMP/m8" ociregd_manifest_cache_hits_total) - $(mval "$TMP/m7" ociregd_manifest_cache_hits_total)))
M=$(($(mval "$TMP/m8" ociregd_manifest_cache_misses_total) - $(mval "$TMP/m7" ociregd_manifest_cache_misses_total)))
assert_eq "$((H + M))" 2 "2 manifest GETs: cache hits + misses +2 (hits +$H, misses +$M)"
assert_match "$H" '^[12]$' "2 manifest GETs: at least one served from the cache"
K='ociregd_http_requests_total{route="blob",method="GET",status="404"}'
assert_eq "$(($(mval "$TMP/m8" "$K") - $(mval "$TMP/m6" "$K")))" 1 "an unknown blob GET: $K +1"
K='ociregd_http_requests_total{route="blob",method="HEAD",status="404"}'
assert_eq "$(($(mval "$TMP/m8" "$K") - $(mval "$TMP/m6" "$K")))" 1 "an unknown blob HEAD: $K +1"
K='ociregd_http_requests_total{route="health",method="GET",status="200"}'
assert_match "$(mval "$TMP/m8" "$K")" '^[1-9]' "/healthz and /readyz are counted (route=\"health\")"

# Consistency of the last scrape; counters never go down between scrapes.
assert_eq "$(metrics_format "$TMP/m8")" "" "/metrics after traffic: valid exposition, all names ociregd_*"
assert_eq "$(histo_check "$TMP/m8")" "" "histograms: buckets cumulative, +Inf = _count = sum of requests_total per route"
DOWN=$(awk 'NR == FNR { if ($1 ~ /_total(\{|$)/) a[$1] = $2; next } ($1 in a) && $2 + 0 < a[$1] + 0 {print $1 ": " a[$1] " -> " $2}' "$TMP/m1" "$TMP/m8")
assert_eq "$DOWN" "" "no counter went down between two scrapes"

# (issue 20) Sizes an administrator watches, against what the system says.
for m in ociregd_metadata_bytes ociregd_storage_available_bytes ociregd_storage_size_bytes \
	ociregd_cache_bytes ociregd_cache_max_bytes ociregd_read_only ociregd_gc_runs_total \
	ociregd_gc_removed_total ociregd_gc_freed_bytes_total; do
	grep -q "^# TYPE $m " "$TMP/m8" || MISSING8="${MISSING8:-} $m"
done
assert_eq "${MISSING8:-}" "" "/metrics declares the size, cache, maintenance and gc families"
read -r FBLK FFRAG FAVAIL < <(stat -f -c '%b %S %a' "$ROOT")
assert_eq "$(mval "$TMP/m8" ociregd_storage_size_bytes)" "$((FBLK * FFRAG))" \
	"ociregd_storage_size_bytes is the root filesystem's size (statvfs)"
AV=$(mval "$TMP/m8" ociregd_storage_available_bytes)
if [ "$AV" -gt 0 ] && [ "$AV" -le "$((FBLK * FFRAG))" ] &&
	[ "$(((AV - FAVAIL * FFRAG) / 1048576))" -ge -64 ] && [ "$(((AV - FAVAIL * FFRAG) / 1048576))" -le 64 ]; then
	t_pass "ociregd_storage_available_bytes $AV: > 0, <= the size, within 64 MiB of statvfs now ($((FAVAIL * FFRAG)))"
else
	t_fail "ociregd_storage_available_bytes is sane" "$AV against size $((FBLK * FFRAG)), available $((FAVAIL * FFRAG))"
fi
MB=$(mval "$TMP/m8" ociregd_metadata_bytes)
DBB=$(stat -c %s "$ROOT/meta.db")
WALB=$(stat -c %s "$ROOT/meta.db-wal" 2>/dev/null || echo 0)
if [ "$MB" -ge "$DBB" ] && [ "$MB" -le "$((DBB + WALB + 1048576))" ]; then
	t_pass "ociregd_metadata_bytes $MB: meta.db ($DBB) plus at most its WAL ($WALB)"
else
	t_fail "ociregd_metadata_bytes is the database's size" "$MB, meta.db $DBB, wal $WALB"
fi
# Blob bytes: what `du -sb` (apparent sizes) sees in blobs/, less directories.
assert_eq "$(mval "$TMP/m8" ociregd_blob_bytes_stored)" \
	"$(find "$ROOT/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')" \
	"ociregd_blob_bytes_stored is the sum of the blob files' sizes"
assert_eq "$(mval "$TMP/m8" ociregd_cache_max_bytes)" 0 "ociregd_cache_max_bytes: [cache] max_size (0, no limit)"
assert_eq "$(mval "$TMP/m8" ociregd_cache_bytes)" 0 "ociregd_cache_bytes: nothing cached without [proxy]"
assert_eq "$(mval "$TMP/m8" ociregd_read_only)" 0 "ociregd_read_only: 0"
assert_eq "$(mval "$TMP/m8" ociregd_gc_runs_total)" 0 "ociregd_gc_runs_total: no collector ([gc] interval 0)"
assert_eq "$(grep -c '^ociregd_gc_last_' "$TMP/m8")" 0 "no ociregd_gc_last_* series before a first collection"

# ---- watchdog: WATCHDOG_USEC=2000000 → a ping every second.
wait_notify WATCHDOG=1 2 40
W3=$(awk -v r="$READY_MS" '$2 == "WATCHDOG=1" && $1 - r <= 3000' "$NLOG" | wc -l)
if [ "$W3" -ge 2 ]; then
	t_pass "WATCHDOG=1 at least twice within 3s of READY=1 (WATCHDOG_USEC=2000000, no WATCHDOG_PID): $W3"
else
	t_fail "WATCHDOG=1 at least twice within 3s of READY=1 (WATCHDOG_USEC=2000000, no WATCHDOG_PID)" "notifications: $(cat "$NLOG")"
fi
GAPS=$(awk '$2 == "WATCHDOG=1" { if (p != "") printf "%d ", $1 - p; p = $1 }' "$NLOG")
BADGAP=$(for g in $GAPS; do [ "$g" -lt 600 ] || [ "$g" -gt 2000 ] && echo "$g"; done)
assert_eq "$BADGAP" "" "WATCHDOG=1 every ~WATCHDOG_USEC/2 = 1s (gaps ms: $GAPS)"

# ---- /readyz: 503 when <root>/uploads cannot take a file
mv "$ROOT/uploads" "$ROOT/uploads.aside"
: >"$ROOT/uploads"
req GET /readyz
assert_status 503 "GET /readyz with <root>/uploads replaced by a plain file"
scrape "$TMP/m9"
assert_eq "$(mval "$TMP/m9" ociregd_ready)" 0 "ociregd_ready is 0 while not ready"
req GET /healthz
assert_status 200 "GET /healthz while not ready (the process is alive)"
rm -f "$ROOT/uploads"
mv "$ROOT/uploads.aside" "$ROOT/uploads"
req GET /readyz
assert_status 200 "GET /readyz once <root>/uploads is restored"
assert_eq "$(find "$ROOT/uploads" -maxdepth 1 -name 'ready-*' | wc -l)" 0 "/readyz leaves no probe file in <root>/uploads"

# ---- /readyz: 503 when the database does not answer the readiness query
# (its uploads table renamed away by another connection), 200 once back.
assert_eq "$(db 'ALTER TABLE uploads RENAME TO uploads_svc_aside' && echo renamed)" renamed "rename the uploads table away (sqlite3)"
req GET /readyz
assert_status 503 "GET /readyz while the database cannot answer"
scrape "$TMP/m9b"
assert_eq "$(mval "$TMP/m9b" ociregd_ready)" 0 "ociregd_ready is 0 while the database cannot answer"
assert_eq "$(db 'ALTER TABLE uploads_svc_aside RENAME TO uploads' && echo renamed)" renamed "rename the uploads table back"
req GET /readyz
assert_status 200 "GET /readyz once the database answers again"

# ---- ociregd_sqlite_busy_retries_total: a write waits for a lock another
# process holds for 1s.
scrape "$TMP/m9c"
(printf 'BEGIN IMMEDIATE;\nCREATE TABLE svc_lock(a);\n'; sleep 1; printf 'ROLLBACK;\n') |
	sqlite3 -batch "$ROOT/meta.db" >"$TMP/lock.out" 2>&1 &
LOCK_PID=$!
sleep 0.3
T0=$(now_ms)
req POST "/v2/$R/blobs/uploads/"
T1=$(now_ms)
wait "$LOCK_PID"
assert_status 202 "an upload start while another process holds the database write lock for 1s"
assert_eq "$(cat "$TMP/lock.out")" "" "the other process held the lock without error"
scrape "$TMP/m9d"
BUSY=$(($(mval "$TMP/m9d" ociregd_sqlite_busy_retries_total) - $(mval "$TMP/m9c" ociregd_sqlite_busy_retries_total)))
if [ "$BUSY" -gt 0 ]; then
	t_pass "the wait for the lock ($((T1 - T0)) ms) counts in ociregd_sqlite_busy_retries_total (+$BUSY)"
else
	t_fail "the wait for the lock counts in ociregd_sqlite_busy_retries_total" "delta $BUSY; the POST took $((T1 - T0)) ms"
fi
req DELETE "$(loc_url "$(hdr Location)")"

# ---- access_log = json
grep '^{' "$LOG" >"$TMP/access.json"
NJ=$(wc -l <"$TMP/access.json")
assert_eq "$(jq -s 'length' "$TMP/access.json" 2>&1)" "$NJ" "every access log line parses with jq ($NJ lines)"
assert_eq "$(grep -vcE '^\{|^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z (debug|info|warn|error): ' "$LOG")" 0 \
	"every daemon log line is a JSON access record or a leveled message"
assert_eq "$(jq -s '[.[] | select(keys_unsorted != ["time","remote","user","method","path","status","bytes_in","bytes_out","duration_us","worker","digest"])] | length' "$TMP/access.json")" 0 \
	"every JSON access record has exactly time, remote, user, method, path, status, bytes_in, bytes_out, duration_us, worker, digest"
assert_eq "$(jq -s --arg re "$ISO_MS" '[.[] | select((.time|test($re)|not) or (.remote|test("^127\\.0\\.0\\.1:[0-9]+$")|not) or (.user|type) != "string"
	or (.status|type) != "number" or (.bytes_in|type) != "number" or (.bytes_out|type) != "number" or (.duration_us|type) != "number"
	or (.worker|type) != "number" or ((.digest|type) != "null" and (.digest|type) != "string"))] | length' "$TMP/access.json")" 0 \
	"every JSON access record has the right types (time ISO-8601 ms UTC, remote 127.0.0.1:port)"
J=$(jq -c --arg p "/v2/$R/blobs/uploads/?digest=$DL" 'select(.method == "POST" and .path == $p) | [.status, .bytes_in, .digest, .user]' "$TMP/access.json")
assert_eq "$J" "[201,12345,\"$DL\",\"\"]" "access json: blob push has status 201, bytes_in, the Docker-Content-Digest, user \"\""
J=$(jq -c --arg p "/v2/$R/blobs/$DL" 'select(.method == "GET" and .path == $p) | [.status, .bytes_out, .digest]' "$TMP/access.json")
assert_eq "$J" "[200,12345,\"$DL\"]" "access json: blob GET has status 200, bytes_out 12345, the digest"
J=$(jq -c --arg p "/v2/$R/blobs/$ZERO" 'select(.method == "HEAD" and .path == $p) | [.status, .digest]' "$TMP/access.json")
assert_eq "$J" "[404,\"$ZERO\"]" "access json: HEAD of an unknown blob: 404 with the digest in the URL"
J=$(jq -c --arg p "/v2/$R/manifests/v1" 'select(.method == "GET" and .path == $p) | [.status, .digest]' "$TMP/access.json" | sort -u)
assert_eq "$J" "[200,\"$DM\"]" "access json: manifest GET by tag carries the manifest's digest"
J=$(jq -c 'select(.method == "GET" and .path == "/v2/") | [.status, .digest, .user]' "$TMP/access.json" | sort -u)
assert_eq "$J" '[200,null,""]' "access json: GET /v2/ has digest null and user \"\""
J=$(jq -c 'select(.path == "/readyz") | .status' "$TMP/access.json" | tr '\n' ' ')
assert_eq "$J" "200 503 200 503 200 " "access json: /readyz statuses 200, 503, 200, 503, 200"

# ================================================================ 3. SIGHUP
# ---- a connection opened before the reload survives it; log level and
# access log format change for what follows.
assert_eq "$(garbage_req)" "HTTP/1.1 400 Bad Request" "an invalid request line gets 400"
sleep 0.2
assert_eq "$(grep -c ' debug: ' "$LOG")" 0 "log_level = info: no debug line"

KA=$TMP/keepalive
mkblob "$KA" 200000
upload_start "$R"
mark
curl -s --max-time 20 --limit-rate 100k -X PATCH "${OCT[@]}" --data-binary "@$KA" -o /dev/null \
	-w '%{http_code} %{num_connects}\n' "$UPLOAD_LOC" \
	--next -s --max-time 20 -o /dev/null -w '%{http_code} %{num_connects}\n' "$BASE/v2/" >"$TMP/ka.out" 2>&1 &
KA_PID=$!
sleep 0.6
S_LISTEN=127.0.0.1:$FP S_LEVEL=debug S_ACCESS=text svc_conf
hup || t_fail "SIGHUP: READY=1 within 5s" "notifications: $(cat "$NLOG")"
assert_reload_notify "SIGHUP (log_level = debug, access_log = text)"
assert_log "info: SIGHUP: reloading configuration" "SIGHUP logged"
assert_log "info: reloaded $CONF" "'reloaded' logged"
wait "$KA_PID"
assert_eq "$(tr '\n' ' ' <"$TMP/ka.out")" "202 1 200 0 " \
	"a slow PATCH in flight across the reload finishes (202) and its keep-alive connection serves the next request (num_connects 0)"
KA_PEER=$(since | sed -n "s|.*access: \\(127\\.0\\.0\\.1:[0-9]*\\) PATCH ${UPLOAD_LOC#"$BASE"} 202 in=200000 .*|\\1|p")
assert_match "$(since | grep -F "access: $KA_PEER GET /v2/ 200" || true)" "^[0-9TZ:-]+ access: " \
	"the request after the reload on the same connection is logged in the new (text) format"
# The new level and format apply to new requests.
assert_eq "$(garbage_req)" "HTTP/1.1 400 Bad Request" "an invalid request line gets 400 (after reload)"
if wait_since ' debug: .*http parse error'; then t_pass "log_level = debug after SIGHUP: the parse error is logged at debug"; else
	t_fail "log_level = debug after SIGHUP: the parse error is logged at debug" "$(since | tail -n 5)"; fi
req GET /v2/
assert_status 200 "GET /v2/ after reload"
assert_match "$(since | grep ' access: ' | tail -n 1)" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z access: 127\.0\.0\.1:[0-9]+ GET /v2/ 200 in=0 out=2 [0-9]+us w=0$' \
	"access_log = text after SIGHUP: 'access: PEER METHOD TARGET STATUS in=N out=N Nus w=N'"
assert_eq "$(since | grep -c '^{')" 0 "no JSON access line after switching to text"

# ---- a config with errors is refused; the old one stays
mark
S_LISTEN=127.0.0.1:$FP S_LEVEL=loud S_ACCESS=off svc_conf
hup || t_fail "refused reload: READY=1 within 5s" "notifications: $(cat "$NLOG")"
assert_reload_notify "SIGHUP with a broken config"
if wait_since 'error: reload refused'; then t_pass "a config with errors: 'reload refused' logged"; else
	t_fail "a config with errors: 'reload refused' logged" "$(since | tail -n 5)"; fi
assert_match "$(since)" 'log_level' "the refusal says what is wrong (log_level)"
req GET /v2/svc-marker-1/tags/list
assert_status 404 "still serving after a refused reload"
if wait_since 'access: 127\.0\.0\.1:[0-9]+ GET /v2/svc-marker-1/tags/list 404'; then
	t_pass "after a refused reload the old access_log (text) is still in force"
else
	t_fail "after a refused reload the old access_log (text) is still in force" "$(since | tail -n 5)"
fi
assert_eq "$(garbage_req)" "HTTP/1.1 400 Bad Request" "invalid request after a refused reload: 400"
if wait_since ' debug: .*http parse error'; then t_pass "after a refused reload the old log_level (debug) is still in force"; else
	t_fail "after a refused reload the old log_level (debug) is still in force" "$(since | tail -n 5)"; fi

# ---- access_log = off, log_level = warn (and a change only a restart applies)
mark
S_LISTEN=127.0.0.1:$FP S_LEVEL=warn S_ACCESS=off S_WORKERS=2 svc_conf
hup || t_fail "SIGHUP (warn/off): READY=1 within 5s"
assert_reload_notify "SIGHUP (log_level = warn, access_log = off)"
if wait_since 'warn: reload: .*next start'; then t_pass "log_level = warn: a warning (workers changed) is still logged"; else
	t_fail "log_level = warn: a warning (workers changed) is still logged" "$(since | tail -n 5)"; fi
assert_eq "$(since | grep -c 'info: reloaded')" 0 "log_level = warn: the info line 'reloaded' is no longer logged"
req GET /v2/svc-marker-2/tags/list
assert_status 404 "GET with access_log = off"
req GET /v2/
assert_status 200 "GET /v2/ with access_log = off"
assert_eq "$(garbage_req)" "HTTP/1.1 400 Bad Request" "invalid request with log_level = warn: 400"
sleep 0.3
assert_eq "$(since | grep -c 'svc-marker-2\| access: \|^{')" 0 "access_log = off: no access line"
assert_eq "$(since | grep -c ' debug: ')" 0 "log_level = warn: no debug line"

# ---- users, groups and access rules
USERS=$TMP/users
S_OUT=$TMP/passwd.ini S_INI="[auth]
users = $USERS" svc_conf
printf 'alice-pw-5e1\n' | timeout 60 "$OCIREGD" passwd -c "$TMP/passwd.ini" alice >"$TMP/passwd.out" 2>&1 &&
	printf 'bob-pw-77c\n' | timeout 60 "$OCIREGD" passwd -c "$TMP/passwd.ini" bob >>"$TMP/passwd.out" 2>&1
assert_eq "$?" 0 "ociregd passwd alice, bob"
AUTH_INI="[auth]
users = $USERS
anonymous = none
[group \"devs\"]
members = alice"
mark
S_LISTEN=127.0.0.1:$FP S_ACCESS=json S_INI="$AUTH_INI
[access \"team/*\"]
pull = @devs
push = @devs" svc_conf
hup || t_fail "SIGHUP (auth on): READY=1 within 5s"
assert_reload_notify "SIGHUP turning authentication on"
req GET /v2/
assert_status 401 "users file set by SIGHUP: anonymous GET /v2/"
req GET /v2/ -u alice:alice-pw-5e1
assert_status 200 "users file set by SIGHUP: alice (Basic) GET /v2/"
req GET /v2/ -u alice:wrong-password
assert_status 401 "users file set by SIGHUP: wrong password"
mkblob "$TMP/a1" 1000
req POST "/v2/team/x/blobs/uploads/?digest=$(sha256_of "$TMP/a1")" -u alice:alice-pw-5e1 "${OCT[@]}" --data-binary "@$TMP/a1"
assert_status 201 "group devs = alice: alice pushes to team/x"
req POST "/v2/team/x/blobs/uploads/?digest=$(sha256_of "$TMP/a1")" -u bob:bob-pw-77c "${OCT[@]}" --data-binary "@$TMP/a1"
assert_status 403 "group devs = alice: bob may not push to team/x"
J=$(since | grep '^{' | jq -c 'select(.method == "POST" and .status == 201) | .user' 2>&1)
assert_eq "$J" '"alice"' "access json: the authenticated user is logged"

mark
S_LISTEN=127.0.0.1:$FP S_ACCESS=json S_INI="${AUTH_INI/members = alice/members = bob}
[access \"team/*\"]
pull = @devs
push = @devs" svc_conf
hup || t_fail "SIGHUP (group changed): READY=1 within 5s"
assert_reload_notify "SIGHUP changing a group"
mkblob "$TMP/a2" 1001
req POST "/v2/team/x/blobs/uploads/?digest=$(sha256_of "$TMP/a2")" -u bob:bob-pw-77c "${OCT[@]}" --data-binary "@$TMP/a2"
assert_status 201 "group devs = bob after SIGHUP: bob pushes"
req POST "/v2/team/x/blobs/uploads/?digest=$(sha256_of "$TMP/a2")" -u alice:alice-pw-5e1 "${OCT[@]}" --data-binary "@$TMP/a2"
assert_status 403 "group devs = bob after SIGHUP: alice may no longer push"

mark
S_LISTEN=127.0.0.1:$FP S_ACCESS=text S_INI="${AUTH_INI/users = $USERS/users = $TMP/no-such-users-file}" svc_conf
hup || t_fail "SIGHUP (missing users file): READY=1 within 5s"
assert_reload_notify "SIGHUP with a missing users file"
if wait_since 'error: reload refused'; then t_pass "a missing users file: 'reload refused' logged"; else
	t_fail "a missing users file: 'reload refused' logged" "$(since | tail -n 5)"; fi
req POST "/v2/team/x/blobs/uploads/?digest=$(sha256_of "$TMP/a2")" -u bob:bob-pw-77c "${OCT[@]}" --data-binary "@$TMP/a2"
assert_status 201 "refused auth reload: the old rules stay (bob pushes)"
req GET /v2/
assert_status 401 "refused auth reload: authentication stays on"
assert_eq "$(since | grep -c ' access: ')" 0 "refused reload: access_log stays json (no text line)"

# ---- limits: new requests get the new ones; a request in flight keeps its own
S_LISTEN=127.0.0.1:$FP svc_conf
hup || t_fail "SIGHUP (auth off): READY=1 within 5s"
req GET /v2/
assert_status 200 "authentication off again after SIGHUP"
SLOW=$TMP/slow-limit
mkblob "$SLOW" 150000
upload_start "$R"
curl -s --max-time 20 --limit-rate 100k -X PATCH "${OCT[@]}" --data-binary "@$SLOW" -o /dev/null \
	-w '%{http_code}' "$UPLOAD_LOC" >"$TMP/limit.out" 2>&1 &
LIM_PID=$!
sleep 0.5
mark
S_LISTEN=127.0.0.1:$FP S_LIMITS="max_blob_size = 1000" svc_conf
hup || t_fail "SIGHUP (max_blob_size): READY=1 within 5s"
mkblob "$TMP/small" 900
mkblob "$TMP/large" 2000
req POST "/v2/$R/blobs/uploads/?digest=$(sha256_of "$TMP/large")" "${OCT[@]}" --data-binary "@$TMP/large"
assert_status 413 "max_blob_size = 1000 after SIGHUP: a 2000-byte push"
req POST "/v2/$R/blobs/uploads/?digest=$(sha256_of "$TMP/small")" "${OCT[@]}" --data-binary "@$TMP/small"
assert_status 201 "max_blob_size = 1000 after SIGHUP: a 900-byte push"
wait "$LIM_PID"
assert_eq "$(cat "$TMP/limit.out")" 202 \
	"a 150000-byte PATCH in flight when max_blob_size drops to 1000 finishes under the limits it started with (202)"
S_LISTEN=127.0.0.1:$FP svc_conf
hup || t_fail "SIGHUP (limits back): READY=1 within 5s"

# ================================================================ 4. SIGTERM: graceful
TERMF=$TMP/term
mkblob "$TERMF" 200000
DT=$(sha256_of "$TERMF")
upload_start svc/term
READY_BEFORE=$(ncount READY=1)
mark
curl -s --max-time 20 --limit-rate 100k -X PUT "${OCT[@]}" --data-binary "@$TERMF" -D "$TMP/term.h" -o /dev/null \
	-w '%{http_code}' "$(with_query "$UPLOAD_LOC" "digest=$DT")" >"$TMP/term.out" 2>&1 &
TERM_PID=$!
sleep 0.6
kill -TERM "$DAEMON_PID"
if wait_notify STOPPING=1 1 30; then t_pass "SIGTERM: STOPPING=1 sent"; else
	t_fail "SIGTERM: STOPPING=1 sent" "notifications: $(cat "$NLOG")"; fi
assert_log 'info: stopping: finishing requests in flight' "SIGTERM: 'stopping' logged"
NEW=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$BASE/v2/" 2>/dev/null)
assert_eq "$NEW" 000 "SIGTERM: a new connection is not served while the upload drains"
if kill -0 "$DAEMON_PID" 2>/dev/null && ! grep -q 'info: stopped' "$LOG"; then
	t_pass "SIGTERM: the daemon waits for the upload in flight"
else
	t_fail "SIGTERM: the daemon waits for the upload in flight" "$(tail -n 5 "$LOG")"
fi
wait "$TERM_PID"
assert_eq "$(cat "$TMP/term.out")" 201 "SIGTERM: the slow upload in flight finishes with 201"
HDRS_SAVE=$HDRS
HDRS=$TMP/term.hh
tr -d '\r' <"$TMP/term.h" >"$HDRS"
assert_header Docker-Content-Digest "$DT" "SIGTERM: the drained upload"
assert_match "$(hdr Connection)" '^[Cc]lose$' "SIGTERM: the drained upload's answer says Connection: close"
HDRS=$HDRS_SAVE
daemon_reap 100
assert_eq "$EXIT_RC" 0 "SIGTERM: exit status 0 once the upload is done"
assert_log 'info: stopped' "SIGTERM: 'stopped' logged"
assert_eq "$(nsince)" "STOPPING=1 " "SIGTERM: STOPPING=1 is the only notification (no READY=1 after it)"
assert_eq "$(ncount READY=1)" "$READY_BEFORE" "SIGTERM: no READY=1 after STOPPING=1"
sleep 0.2
AFTER=$(curl -s --max-time 2 -o /dev/null -w '%{http_code} %{exitcode}' "$BASE/v2/" 2>/dev/null)
assert_eq "$AFTER" "000 7" "after exit the port refuses connections"

# ================================================================ 5. shutdown_timeout: the cut upload stays resumable
S_SERVER="shutdown_timeout = 1s" svc_conf
daemon_start
req GET "/v2/svc/term/blobs/$DT"
assert_status 200 "after restart: the blob finished during the drain is served"
assert_body_digest "$DT" "after restart: the blob finished during the drain"
CUT=$TMP/cut
CUTSZ=400000
mkblob "$CUT" "$CUTSZ"
DC=$(sha256_of "$CUT")
upload_start svc/cut
UC=$UPLOAD_ID
curl -s --max-time 20 --limit-rate 50k -X PATCH "${OCT[@]}" --data-binary "@$CUT" -o /dev/null \
	-w '%{http_code} %{exitcode}' "$UPLOAD_LOC" >"$TMP/cut.out" 2>&1 &
CUT_PID=$!
sleep 1
T0=$(now_ms)
kill -TERM "$DAEMON_PID"
daemon_reap 100
T1=$(now_ms)
assert_eq "$EXIT_RC" 0 "shutdown_timeout = 1s: exit status 0 after cutting the upload"
if [ $((T1 - T0)) -ge 800 ] && [ $((T1 - T0)) -le 3000 ]; then
	t_pass "shutdown_timeout = 1s: the daemon exits ~1s after SIGTERM ($((T1 - T0)) ms)"
else
	t_fail "shutdown_timeout = 1s: the daemon exits ~1s after SIGTERM" "took $((T1 - T0)) ms"
fi
wait "$CUT_PID"
assert_ne "$(cut -d' ' -f1 "$TMP/cut.out")" 202 "shutdown_timeout: the cut PATCH got no 202 ($(cat "$TMP/cut.out"))"
assert_log 'warn: worker 0: shutdown_timeout: cutting 1 connection' "shutdown_timeout: the cut is logged"
assert_log 'info: stopped' "shutdown_timeout: 'stopped' logged"
CUT_IN=$(sed -n "s|.* PATCH /v2/svc/cut/blobs/uploads/$UC [0-9]* in=\\([0-9]*\\) .*|\\1|p" "$LOG" | tail -n 1)
assert_match "$CUT_IN" '^[1-9][0-9]*$' "shutdown_timeout: the cut PATCH is in the access log with the bytes received"
daemon_start
req GET "/v2/svc/cut/blobs/uploads/$UC"
assert_status 204 "after restart: GET the cut upload session"
RANGE=$(hdr Range)
N=$((${RANGE#0-} + 1))
assert_eq "$RANGE" "0-$((${CUT_IN:-0} - 1))" "after restart: the session's Range is the bytes the daemon received"
if [ "$N" -gt 0 ] && [ "$N" -lt "$CUTSZ" ]; then t_pass "the cut session holds part of the blob ($N of $CUTSZ bytes)"; else
	t_fail "the cut session holds part of the blob" "Range '$RANGE'"; fi
scrape "$TMP/m10"
assert_match "$(mval "$TMP/m10" ociregd_uploads_in_progress)" '^[1-9]' "after restart: ociregd_uploads_in_progress counts the cut session"
slice "$CUT" "$N" $((CUTSZ - N)) "$TMP/cut.rest"
req PATCH "$BASE/v2/svc/cut/blobs/uploads/$UC" "${OCT[@]}" -H "Content-Range: $N-$((CUTSZ - 1))" --data-binary "@$TMP/cut.rest"
assert_status 202 "resume the cut upload from byte $N"
assert_header Range "0-$((CUTSZ - 1))" "resume the cut upload"
req PUT "$BASE/v2/svc/cut/blobs/uploads/$UC?digest=$DC"
assert_status 201 "close the resumed upload with the whole blob's digest"
req GET "/v2/svc/cut/blobs/$DC"
assert_body_digest "$DC" "the resumed blob"
daemon_stop

# ================================================================ 6. socket activation
# ---- a non-blocking socket (NonBlocking=yes), WATCHDOG_PID = the daemon
FP2=$(free_port)
S_LISTEN=127.0.0.1:$FP2 svc_conf
sd_start -N -w 500000 -W self
assert_eq "$PORT" "$SD_PORT" "LISTEN_FDS=1, LISTEN_PID=self: the daemon serves the passed socket"
assert_log "info: listening on 127\\.0\\.0\\.1:$SD_PORT \\(port $SD_PORT," "socket activation: 'listening on' names the inherited socket's address"
assert_eq "$(grep -c "listening on 127\\.0\\.0\\.1:$FP2 " "$LOG")" 0 "socket activation: 'listening on' does not name the unused [server] listen"
assert_log "info: socket activation: serving the socket systemd passed \\(127\\.0\\.0\\.1:$SD_PORT\\); \\[server\\] listen \\(127\\.0\\.0\\.1:$FP2\\) is unused" \
	"socket activation: the log says [server] listen is unused"
if wait_notify READY=1 1 30; then t_pass "socket activation: READY=1 (NOTIFY_SOCKET is a path)"; else
	t_fail "socket activation: READY=1 (NOTIFY_SOCKET is a path)" "$(cat "$NLOG")"; fi
for i in 1 2 3; do
	req GET /v2/ --max-time 3
	assert_status 200 "socket activation: GET /v2/ #$i on the helper's port"
done
req GET /healthz --max-time 3
assert_status 200 "socket activation: /healthz on the helper's port"
OTHER=$(curl -s --max-time 2 -o /dev/null -w '%{http_code} %{exitcode}' "http://127.0.0.1:$FP2/v2/" 2>/dev/null)
assert_eq "$OTHER" "000 7" "socket activation: [server] listen (port $FP2) stays closed"
if wait_notify WATCHDOG=1 2 20; then t_pass "WATCHDOG_PID = the daemon's pid: WATCHDOG=1 sent"; else
	t_fail "WATCHDOG_PID = the daemon's pid: WATCHDOG=1 sent" "$(cat "$NLOG")"; fi
mark
daemon_stop
assert_eq "$(nsince)" "STOPPING=1 " "socket activation: STOPPING=1 at SIGTERM"
AFTER=$(curl -s --max-time 2 -o /dev/null -w '%{http_code} %{exitcode}' "http://127.0.0.1:$SD_PORT/v2/" 2>/dev/null)
assert_eq "$AFTER" "000 7" "socket activation: the passed socket is closed once the daemon exits"

# ---- LISTEN_PID names another process: bind [server] listen; WATCHDOG_PID
# names another process: no pings
FP3=$(free_port)
S_LISTEN=127.0.0.1:$FP3 svc_conf
sd_start -N -L 1 -w 300000 -W 1
assert_eq "$PORT" "$FP3" "LISTEN_PID of another process: the daemon binds [server] listen"
req GET /v2/ --max-time 3
assert_status 200 "LISTEN_PID of another process: GET /v2/ on [server] listen"
OTHER=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SD_PORT/v2/" 2>/dev/null)
assert_ne "$OTHER" 200 "LISTEN_PID of another process: the passed socket is not served"
assert_eq "$(ncount READY=1)" 1 "LISTEN_PID of another process: READY=1"
assert_eq "$(ncount WATCHDOG=1)" 0 "WATCHDOG_PID of another process (WATCHDOG_USEC=300000, >1s): no WATCHDOG=1"
daemon_stop

# ---- a blocking socket, as systemd passes it by default (ociregd.socket
# has no NonBlocking=yes)
FP4=$(free_port)
S_LISTEN=127.0.0.1:$FP4 svc_conf
sd_start -w 400000
wait_notify READY=1 1 30
OK_N=0
for i in 1 2 3; do
	S=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SD_PORT/v2/" 2>/dev/null)
	[ "$S" = 200 ] && OK_N=$((OK_N + 1))
	[ "$S" = 200 ] || break
done
assert_eq "$OK_N" 3 "socket activation with a blocking socket (systemd's default): 3 sequential GET /v2/ answered within 2s each"
W0=$(ncount WATCHDOG=1)
sleep 1
W1=$(ncount WATCHDOG=1)
if [ $((W1 - W0)) -ge 1 ]; then t_pass "socket activation with a blocking socket: WATCHDOG=1 keeps coming ($((W1 - W0)) in 1s)"; else
	t_fail "socket activation with a blocking socket: WATCHDOG=1 keeps coming (WATCHDOG_USEC=400000)" "none in 1s; notifications: $(tr '\n' '|' <"$NLOG")"; fi
kill -TERM "$DAEMON_PID"
daemon_reap 30
assert_eq "$EXIT_RC" 0 "socket activation with a blocking socket: exits 0 within 3s of SIGTERM"

# ================================================================ 7. metrics_listen
S_SERVER="metrics_listen = 127.0.0.1:0" svc_conf
daemon_start
MPORT=$(sed -n 's/.*metrics on 127\.0\.0\.1:0 (port \([0-9][0-9]*\)).*/\1/p' "$LOG" | head -n 1)
assert_match "$MPORT" '^[1-9][0-9]*$' "metrics_listen: 'metrics on 127.0.0.1:0 (port N)' logged"
assert_ne "$MPORT" "$PORT" "metrics_listen: a port of its own"
MBASE=http://127.0.0.1:$MPORT
for p in /metrics /healthz /readyz; do
	req GET "$p"
	assert_status 404 "metrics_listen set: GET $p on the main listener"
done
req GET /v2/
assert_status 200 "metrics_listen set: GET /v2/ on the main listener"
req GET "$MBASE/metrics"
assert_status 200 "metrics_listen: GET /metrics on the metrics listener"
assert_eq "$(metrics_format "$BODY")" "" "metrics_listen: valid exposition, names ociregd_*"
assert_match "$(mval "$BODY" "$REQ_BASE_GET_200")" '^[1-9]' "metrics_listen: counts requests of the main listener"
req GET "$MBASE/healthz"
assert_status 200 "metrics_listen: GET /healthz on the metrics listener"
req GET "$MBASE/readyz"
assert_status 200 "metrics_listen: GET /readyz on the metrics listener"
req GET "$MBASE/v2/"
assert_status 404 "metrics_listen: GET /v2/ on the metrics listener"
req GET "$MBASE/v2/$R/blobs/$DL"
assert_status 404 "metrics_listen: a blob GET on the metrics listener"

# ---- exit 69: the port is in use (by this daemon)
ROOT=$TMP/var69 S_OUT=$BAD S_LISTEN=127.0.0.1:$PORT svc_conf
rm -f "$TMP/b69.nlog"
timeout -k 2 15 "$SDH" -n "$TMP/b69.sock" "$TMP/b69.nlog" "$TMP/b69.port" -- "$OCIREGD" -c "$BAD" </dev/null >"$TMP/exit-69.out" 2>&1
RC=$?
assert_eq "$RC" 69 "[server] listen port in use: exit 69 (bind error)"
assert_match "$(cat "$TMP/exit-69.out")" "127\\.0\\.0\\.1:$PORT: Address already in use" "bind error: the message names the address"
sleep 0.2
assert_eq "$(grep -c READY=1 "$TMP/b69.nlog" 2>/dev/null || true)" 0 "bind error: no READY=1 sent"
ROOT=$TMP/var69 S_OUT=$BAD S_SERVER="metrics_listen = 127.0.0.1:$MPORT" svc_conf
run_exit bind-metrics "$BAD"
assert_eq "$RUN_RC" 69 "metrics_listen port in use: exit 69 (bind error)"
if sanitizer_clean "$TMP/exit-69.out" && sanitizer_clean "$RUN_OUT"; then t_pass "bind errors: no sanitizer report"; else
	t_fail "bind errors: no sanitizer report" "$(head -n 40 "$TMP/exit-69.out" "$RUN_OUT")"; fi
req GET /v2/
assert_status 200 "the daemon holding the port still serves after the failed starts"
daemon_stop

# ================================================================ 8. TLS certificate reload
if ! command -v openssl >/dev/null; then
	t_pass "TLS certificate reload # SKIP openssl is not installed"
else
	mkdir -p "$TMP/tls"
	mkcert() {
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$3" \
			-addext subjectAltName=IP:127.0.0.1 -days 2 -keyout "$2" -out "$1" >>"$TMP/openssl.out" 2>&1
	}
	if ! { mkcert "$TMP/tls/a.crt" "$TMP/tls/a.key" svc-a && mkcert "$TMP/tls/b.crt" "$TMP/tls/b.key" svc-b; }; then
		bail "openssl makes two certificates" "$(cat "$TMP/openssl.out")"
	fi
	cert_fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }
	peer_fp() {
		timeout 5 openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
			openssl x509 -noout -fingerprint -sha256 2>/dev/null
	}
	tls_ini() { printf '[tls]\ncertificate = %s\nkey = %s' "$1" "$2"; }
	S_INI=$(tls_ini "$TMP/tls/a.crt" "$TMP/tls/a.key") svc_conf
	daemon_start
	BASE=https://127.0.0.1:$PORT
	assert_eq "$(peer_fp)" "$(cert_fp "$TMP/tls/a.crt")" "TLS: the daemon presents certificate A"
	req POST "/v2/$R/blobs/uploads/" --cacert "$TMP/tls/a.crt"
	assert_status 202 "TLS: start an upload"
	LOCT=$(loc_url "$(hdr Location)")
	mark
	curl -s --max-time 20 --cacert "$TMP/tls/a.crt" --limit-rate 100k -X PATCH "${OCT[@]}" --data-binary "@$KA" \
		-o /dev/null -w '%{http_code} %{num_connects}\n' "$LOCT" \
		--next -s --max-time 20 --cacert "$TMP/tls/a.crt" -o /dev/null -w '%{http_code} %{num_connects}\n' \
		"$BASE/v2/" >"$TMP/tls-ka.out" 2>&1 &
	TKA=$!
	sleep 0.6
	S_INI=$(tls_ini "$TMP/tls/b.crt" "$TMP/tls/b.key") svc_conf
	kill -HUP "$DAEMON_PID"
	assert_log "info: reloaded $CONF" "TLS: SIGHUP with certificate B reloaded"
	wait "$TKA"
	assert_eq "$(tr '\n' ' ' <"$TMP/tls-ka.out")" "202 1 200 0 " \
		"TLS: a connection open across the certificate reload keeps working (upload 202, next request on it 200)"
	assert_eq "$(peer_fp)" "$(cert_fp "$TMP/tls/b.crt")" "TLS: new connections get certificate B after SIGHUP"
	req GET /v2/ --cacert "$TMP/tls/b.crt"
	assert_status 200 "TLS: GET /v2/ verified against certificate B"
	mark
	S_INI=$(tls_ini "$TMP/tls/b.crt" "$TMP/tls/a.key") svc_conf
	kill -HUP "$DAEMON_PID"
	if wait_since 'error: reload refused'; then t_pass "TLS: a key that does not match the certificate: 'reload refused'"; else
		t_fail "TLS: a key that does not match the certificate: 'reload refused'" "$(since | tail -n 5)"; fi
	assert_eq "$(peer_fp)" "$(cert_fp "$TMP/tls/b.crt")" "TLS: after the refused reload certificate B is still served"
	req GET /v2/ --cacert "$TMP/tls/b.crt"
	assert_status 200 "TLS: still serving after the refused reload"
	daemon_stop
fi

e2e_finish
