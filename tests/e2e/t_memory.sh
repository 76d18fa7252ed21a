#!/bin/bash
# t_memory.sh — bodies are streamed, never held whole: a 512 MiB push
# (monolithic, and as one chunked-encoding PATCH the way docker sends it)
# and its pull keep the daemon's peak RSS (VmHWM) under 64 MiB.
. "$(dirname "$0")/lib.sh"
# Under ASan the resident set also holds shadow memory and the allocator's
# quarantine: keep the quarantine small and allow for the shadow.
LIMIT=64
if grep -aq -e __asan_init "$OCIREGD"; then
	export ASAN_OPTIONS="quarantine_size_mb=8${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
	LIMIT=192
fi
e2e_init
daemon_start

MB=${E2E_MEMORY_MB:-512}
hwm() { awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$DAEMON_PID/status"; }

# The blob never exists as a file: generate, hash and send in one stream.
mkfifo "$TMP/fifo"
head -c $((MB * 1048576)) /dev/urandom | tee "$TMP/fifo" | sha256sum | cut -d' ' -f1 >"$TMP/sum" &
gen=$!
upload_start team/big || bail "upload session"
out=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 -X PATCH -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: application/octet-stream' -T - "$UPLOAD_LOC" <"$TMP/fifo")
wait $gen
D=sha256:$(cat "$TMP/sum")
assert_eq "$out" 202 "a ${MB} MiB chunked-encoding PATCH is accepted"
req PUT "$(with_query "$UPLOAD_LOC" "digest=$D")"
assert_status 201 "PUT closes the ${MB} MiB upload"
peak=$(hwm)
if [ "$peak" -lt "$LIMIT" ]; then
	t_pass "peak RSS after a ${MB} MiB push is ${peak} MiB (< $LIMIT)"
else
	t_fail "peak RSS after a ${MB} MiB push stays under $LIMIT MiB" "VmHWM ${peak} MiB"
fi
got=$(curl -s --max-time 120 "$BASE/v2/team/big/blobs/$D" | sha256sum | cut -d' ' -f1)
assert_eq "sha256:$got" "$D" "the ${MB} MiB blob pulls back intact"
peak=$(hwm)
if [ "$peak" -lt "$LIMIT" ]; then
	t_pass "peak RSS after pulling it is ${peak} MiB (< $LIMIT): sent from the file, not memory"
else
	t_fail "peak RSS after the pull stays under $LIMIT MiB" "VmHWM ${peak} MiB"
fi
e2e_finish
