#!/usr/bin/env bash
# t_load.sh — legitimate pulls keep succeeding while hostile clients hammer
# the daemon.  wrk (-t2 -c32, 8 s) pulls a manifest while, at the same
# time, a hostile script opens slowloris connections (header bytes
# trickled; header_timeout = 2s cuts them), sends garbage, oversized and
# overlong requests and thousands of headers, and a curl loop pulls the
# manifest and a 1 MiB blob and checks their digests.  wrk must see no
# non-2xx answer and at most a handful of socket errors, every curl pull
# must match its digest, and the daemon stays up, bounded in memory, and
# exits 0 on SIGTERM.  Everything is bounded in time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"

# shellcheck disable=SC2034 # read by lib.sh's e2e_config
E2E_EXTRA_SERVER=$'header_timeout = 2s\nread_timeout = 10s'
# Under ASan, freed memory sits in a quarantine (256 MiB by default) and
# counts as RSS: keep it small so the memory bound measures the daemon.
export ASAN_OPTIONS="quarantine_size_mb=8${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
LOAD_SECONDS=${E2E_LOAD_SECONDS:-8}
HWM_LIMIT_MB=${E2E_LOAD_HWM_MB:-128}
e2e_init
command -v wrk >/dev/null || bail "wrk is installed"
daemon_start
W=$TMP/work
mkdir -p "$W"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- content to pull
BLOB=$W/layer
mkblob "$BLOB" 1048576
push_blob load/app "$BLOB"
DB=$(sha256_of "$BLOB")
printf '{}' >"$W/cfg"
push_blob load/app "$W/cfg"
MF=$W/mf.json
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_EMPTY" "$W/cfg")" "$(desc "$MT_OCI_LAYER" "$BLOB")" >"$MF"
push_manifest load/app v1 "$MF"
DM=$(sha256_of "$MF")

# ---- the hostile script: runs until $W/stop exists (and at most 60 s)
head -c 70000 /dev/zero | tr '\0' a | sed 's/^/X-Big: /' >"$W/bighdr"
seq 1 5000 | awk '{printf "X-H%d: v\r\n", $1}' >"$W/manyhdr"
LONGQ=$(head -c 9000 /dev/zero | tr '\0' q)
hostile_loris() { # one slowloris connection: headers trickled until cut
	local fd i
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || return 0
	(
		trap '' PIPE
		printf 'GET /v2/load/app/manifests/v1 HTTP/1.1\r\n'
		for ((i = 0; i < 40; i++)); do
			[ -e "$W/stop" ] && exit 0
			printf 'X-Slow-%d: y\r\n' "$i" || exit 0
			sleep 0.25
		done
	) 1>&"$fd" 2>/dev/null &
	timeout 15 cat <&"$fd" >/dev/null 2>&1
	exec {fd}>&-
	wait $! 2>/dev/null
	echo loris >>"$W/hostile.log"
}
hostile_garbage() { # one connection of garbage, then of bad framing
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || return 0
	(
		trap '' PIPE
		head -c 4096 /dev/urandom
		printf '\r\n\r\n'
	) 1>&"$fd" 2>/dev/null
	timeout 5 cat <&"$fd" >/dev/null 2>&1
	exec {fd}>&-
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || return 0
	(
		trap '' PIPE
		printf 'PUT /v2/load/app/manifests/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}'
		printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\n'
	) 1>&"$fd" 2>/dev/null
	timeout 5 cat <&"$fd" >/dev/null 2>&1
	exec {fd}>&-
	echo garbage >>"$W/hostile.log"
}
hostile_big() { # oversized header, thousands of headers, overlong URI, deep JSON
	curl -s -o /dev/null --max-time 10 -H "@$W/bighdr" "$BASE/v2/" && echo big >>"$W/hostile.log"
	curl -s -o /dev/null --max-time 10 -H "@$W/manyhdr" "$BASE/v2/" && echo many >>"$W/hostile.log"
	curl -s -o /dev/null --max-time 10 "$BASE/v2/load/app/tags/list?q=$LONGQ" && echo uri >>"$W/hostile.log"
	curl -s -o /dev/null --max-time 10 -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
		--data-binary "@$W/deep.json" "$BASE/v2/load/app/manifests/deep" && echo deep >>"$W/hostile.log"
	curl -s -o /dev/null --max-time 10 -H 'Range: bytes=0-1,0-1,0-1,0-1,0-1,5-2,-0' \
		"$BASE/v2/load/app/blobs/$DB" && echo range >>"$W/hostile.log"
}
head -c 20000 /dev/zero | tr '\0' '[' >"$W/deep.json"
: >"$W/hostile.log"
hostile() {
	local end=$(($(date +%s) + 60)) pids=() i
	# 24 slowloris connections kept open, replaced as they are cut.
	for i in $(seq 1 24); do
		(while [ ! -e "$W/stop" ] && [ "$(date +%s)" -lt "$end" ]; do hostile_loris; done) &
		pids+=($!)
	done
	for i in 1 2; do
		(while [ ! -e "$W/stop" ] && [ "$(date +%s)" -lt "$end" ]; do hostile_garbage; done) &
		pids+=($!)
	done
	(while [ ! -e "$W/stop" ] && [ "$(date +%s)" -lt "$end" ]; do hostile_big; done) &
	pids+=($!)
	wait "${pids[@]}"
}

# ---- the legitimate curl pull loop: until $W/stop (and at most 60 s)
puller() {
	local end=$(($(date +%s) + 60)) ok=0 bad=0 got
	while [ ! -e "$W/stop" ] && [ "$(date +%s)" -lt "$end" ]; do
		got=$(curl -s --max-time 10 -H "Accept: $MT_OCI_MANIFEST" "$BASE/v2/load/app/manifests/v1" | sha256sum | cut -d' ' -f1)
		if [ "sha256:$got" = "$DM" ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		got=$(curl -s --max-time 10 "$BASE/v2/load/app/blobs/$DB" | sha256sum | cut -d' ' -f1)
		if [ "sha256:$got" = "$DB" ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
	done
	echo "$ok $bad" >"$W/puller"
}

hostile &
HOSTILE=$!
sleep 1 # let the slowloris connections pile up first
puller &
PULLER=$!
t0=$(now_ms)
timeout $((LOAD_SECONDS + 30)) wrk -t2 -c32 -d"${LOAD_SECONDS}s" --timeout 5s \
	-H "Accept: $MT_OCI_MANIFEST" "$BASE/v2/load/app/manifests/v1" >"$W/wrk.out" 2>&1
wrk_rc=$?
touch "$W/stop"
wait "$PULLER"
wait "$HOSTILE"
echo "# wrk ($(($(now_ms) - t0)) ms):"
sed 's/^/#   /' "$W/wrk.out"
echo "# hostile requests made: $(sort "$W/hostile.log" | uniq -c | awk '{printf "%s %s, ", $2, $1}')"

assert_eq "$wrk_rc" 0 "wrk ran to the end"
requests=$(awk '/requests in/ {print $1}' "$W/wrk.out")
non2xx=$(awk -F': ' '/Non-2xx or 3xx responses/ {print $2}' "$W/wrk.out")
errors=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$W/wrk.out" |
	awk '{print $1 + $2 + $3 + $4}')
if [ -n "$requests" ] && [ "$requests" -ge 200 ]; then
	t_pass "wrk pulled the manifest $requests times under attack"
else
	t_fail "wrk pulls the manifest at least 200 times in ${LOAD_SECONDS}s under attack" "requests: '$requests'"
fi
assert_eq "${non2xx:-0}" 0 "wrk saw no non-2xx answer"
if [ "${errors:-0}" -le 3 ]; then
	t_pass "wrk saw ${errors:-0} socket errors (<= 3)"
else
	t_fail "wrk sees at most 3 socket errors" "$(grep 'Socket errors' "$W/wrk.out")"
fi
read -r pulls_ok pulls_bad <"$W/puller"
if [ "$pulls_bad" -eq 0 ] && [ "$pulls_ok" -ge 10 ]; then
	t_pass "the curl pull loop: $pulls_ok pulls, every digest right"
else
	t_fail "every curl pull under attack has the right digest (and there are >= 10)" "$pulls_ok right, $pulls_bad wrong"
fi
for kind in loris garbage big many uri deep range; do
	n=$(grep -c "^$kind\$" "$W/hostile.log")
	if [ "$n" -ge 1 ]; then
		t_pass "the hostile script ran its '$kind' attack ($n times)"
	else
		t_fail "the hostile script ran its '$kind' attack" "never"
	fi
done

req GET "/v2/load/app/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "a pull after the attack"
assert_body_digest "$DM" "a pull after the attack"
assert_no_5xx "no 5xx during the whole run"
peak=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$DAEMON_PID/status")
if [ "$peak" -lt "$HWM_LIMIT_MB" ]; then
	t_pass "peak RSS (VmHWM) ${peak} MiB (< ${HWM_LIMIT_MB})"
else
	t_fail "peak RSS (VmHWM) stays under ${HWM_LIMIT_MB} MiB" "VmHWM ${peak} MiB"
fi
e2e_finish
