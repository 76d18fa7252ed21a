#!/usr/bin/env bash
# t_limits.sh — resource limits a hostile or careless client must not get
# past (issue 13):
#   - header framing: whitespace before a field's colon and obs-fold
#     continuation lines (e.g. "Transfer-Encoding : chunked") get 400, as
#     RFC 9112 5.1/5.2 require; a plain chunked request still works;
#   - [limits] max_body_memory: manifest bodies held in memory while they
#     trickle in are bounded in all; one more gets 429 with Retry-After and
#     the JSON envelope; the budget comes back when the holders go; RSS
#     stays flat while 24 connections each send 1.5 MiB of a 2 MiB manifest;
#   - manifest pushes count against max_uploads_per_client;
#   - SIGHUP: 1000 reloads under light load leave RSS flat (replaced configs
#     are freed once no request uses them);
#   - descriptors run out (ulimit -n 64, 150 idle connections): accept()
#     is paused, not retried in a busy loop -- few log lines, little CPU --
#     and once the idle clients go a new request is served.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"

command -v python3 >/dev/null || {
	echo "not ok 1 - python3 is required"
	exit 1
}
export ASAN_OPTIONS="quarantine_size_mb=8${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
# shellcheck disable=SC2034 # read by lib.sh's e2e_config
E2E_EXTRA_LIMITS=$'max_body_memory = 1M\nmax_uploads_per_client = 6\nmax_uploads = 100'
e2e_init
daemon_start

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }

# raw.py: plays raw HTTP over sockets.
#   raw.py send PORT FILE       send FILE's bytes, print the answer's status
#                               line (or "none" after 5 s)
#   raw.py hold PORT N CL SENT PROBE_CL OUT [PID]
#       open N connections that each PUT a manifest declaring Content-Length
#       CL and send SENT bytes of it, then (holders still open) one more
#       declaring PROBE_CL with no body: its whole answer goes to OUT.  Each
#       holder's status (or "none") is printed; with PID, that process's
#       VmRSS (kB) while the holders are open is printed as "rss N".
#   raw.py idle PORT N SECONDS  open N idle connections, print "ready",
#                               keep them SECONDS, close them.
cat >"$TMP/raw.py" <<'EOF'
import socket, sys, time

def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    return s

def status_of(s, wait):
    s.settimeout(wait)
    data = b""
    try:
        while b"\r\n" not in data:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ConnectionResetError):
        pass
    return data.split(b"\r\n", 1)[0].decode("latin-1") if data else "none"

def head(cl):
    return ("PUT /v2/lim/hold/manifests/t HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
            "Content-Length: %d\r\n\r\n" % cl).encode()

mode, port = sys.argv[1], int(sys.argv[2])
if mode == "send":
    s = connect(port)
    s.sendall(open(sys.argv[3], "rb").read())
    print(status_of(s, 5))
elif mode == "hold":
    n, cl, sent, probe_cl, out = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
    pid = sys.argv[8] if len(sys.argv) > 8 else None
    holders = []
    for i in range(n):
        s = connect(port)
        s.sendall(head(cl))
        left = sent
        while left > 0:
            k = min(left, 65536)
            s.sendall(b" " * k)
            left -= k
        holders.append(s)
    for s in holders:
        print(status_of(s, 0.3))
    if pid:
        time.sleep(0.5)
        for line in open("/proc/%s/status" % pid):
            if line.startswith("VmRSS:"):
                print("rss", line.split()[1])
    s = connect(port)
    s.sendall(head(probe_cl))
    s.settimeout(5)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
            h, sep, b = data.partition(b"\r\n\r\n")
            if sep:
                cl_line = [l for l in h.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl_line and len(b) >= int(cl_line[0].split(b":")[1]):
                    break
    except socket.timeout:
        pass
    open(out, "wb").write(data)
    for s in holders + [s]:
        s.close()
elif mode == "idle":
    n, secs = int(sys.argv[3]), float(sys.argv[4])
    conns = [connect(port) for _ in range(n)]
    print("ready", flush=True)
    time.sleep(secs)
    for s in conns:
        s.close()
EOF

# raw_send DESC-FILE: STATUS_LINE is the answer's status line.
raw_send() { STATUS_LINE=$(python3 "$TMP/raw.py" send "$PORT" "$1" 2>&1); }
# split_probe FILE: the probe's answer into $HDRS and $BODY (CR stripped).
split_probe() {
	awk 'BEGIN{RS="\r\n\r\n"} NR==1{print; exit}' "$1" | tr -d '\r' >"$HDRS"
	awk 'BEGIN{RS="\r\n\r\n"} NR>1{printf "%s", $0}' "$1" >"$BODY"
	STATUS=$(awk 'NR==1{print $2}' "$HDRS")
}

# ---------------------------------------------------------------- framing
# A monolithic blob upload with a chunked body: 201 only if the body was
# framed as chunked.
D5=sha256:$(printf hello | sha256sum | cut -d' ' -f1)
mono() { # mono FILE TE-HEADER-LINES
	printf 'POST /v2/lim/te/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\n%s\r\n5\r\nhello\r\n0\r\n\r\n' \
		"$D5" "$2" >"$1"
}
mono "$TMP/ok.req" $'Transfer-Encoding: chunked\r\n'
raw_send "$TMP/ok.req"
assert_match "$STATUS_LINE" '^HTTP/1.1 201 ' "a plain chunked monolithic upload is accepted"
mono "$TMP/sp.req" $'Transfer-Encoding : chunked\r\n'
raw_send "$TMP/sp.req"
assert_match "$STATUS_LINE" '^HTTP/1.1 400 ' "Transfer-Encoding with a space before the colon: 400"
mono "$TMP/tab.req" $'Transfer-Encoding\t: chunked\r\n'
raw_send "$TMP/tab.req"
assert_match "$STATUS_LINE" '^HTTP/1.1 400 ' "Transfer-Encoding with a tab before the colon: 400"
mono "$TMP/fold.req" $'Transfer-Encoding:\r\n chunked\r\n'
raw_send "$TMP/fold.req"
assert_match "$STATUS_LINE" '^HTTP/1.1 400 ' "Transfer-Encoding folded onto a continuation line: 400"
mono "$TMP/fold2.req" $'X-Note: a\r\n\tb\r\nTransfer-Encoding: chunked\r\n'
raw_send "$TMP/fold2.req"
assert_match "$STATUS_LINE" '^HTTP/1.1 400 ' "any obs-fold continuation line: 400"
printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Any : y\r\n\r\n' >"$TMP/any.req"
raw_send "$TMP/any.req"
assert_match "$STATUS_LINE" '^HTTP/1.1 400 ' "whitespace before the colon of any field: 400"
printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Any:   y  \r\n\r\n' >"$TMP/ows.req"
raw_send "$TMP/ows.req"
assert_match "$STATUS_LINE" '^HTTP/1.1 200 ' "whitespace around a field value is still fine"
# Pipelined: the check starts over at each message.
printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\nBad : y\r\n\r\n' >"$TMP/pipe.req"
out=$(python3 - "$PORT" "$TMP/pipe.req" <<'EOF'
import re, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
s.sendall(open(sys.argv[2], "rb").read())
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except socket.timeout:
    pass
print(" ".join(re.findall(r"HTTP/1\.1 (\d{3}) ", data.decode("latin-1"))))
EOF
)
assert_eq "$out" "200 400" "pipelined: a good request answered, the next one with a bad field 400"

# ---------------------------------------------------------------- body budget
# Two holders reserve 2 x 400001 bytes of the 1 MiB budget; a third push
# declaring 400000 does not fit.
out=$(python3 "$TMP/raw.py" hold "$PORT" 2 400000 100 400000 "$TMP/probe")
assert_eq "$(echo "$out" | tr '\n' ' ')" "none none " "two manifest pushes trickling in are waited for"
split_probe "$TMP/probe"
assert_status_error 429 TOOMANYREQUESTS "a third push past max_body_memory"
assert_match "$(hdr Retry-After)" '^[0-9]+$' "the 429 carries Retry-After"
assert_log "max_body_memory reached" "the refusal is logged"
# The holders are gone: the budget is back.
cfg='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$EMPTY_SHA256'","size":0}'
: >"$TMP/empty"
req POST "/v2/lim/hold/blobs/uploads/?digest=$EMPTY_SHA256" --data-binary @"$TMP/empty"
assert_status 201 "empty config blob pushed"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[]}' "$cfg" >"$TMP/m.json"
req PUT /v2/lim/hold/manifests/v1 -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
	--data-binary @"$TMP/m.json"
assert_status 201 "after the holders leave, a manifest push gets 201 (budget given back)"

# Per-client: six small pushes hold max_uploads_per_client = 6 (6 KB of
# budget), the seventh gets 429.
out=$(python3 "$TMP/raw.py" hold "$PORT" 6 1000 10 1000 "$TMP/probe")
assert_eq "$(echo "$out" | tr '\n' ' ')" "none none none none none none " "six manifest pushes in progress"
split_probe "$TMP/probe"
assert_status_error 429 TOOMANYREQUESTS "a seventh manifest push from the client past max_uploads_per_client"
req PUT /v2/lim/hold/manifests/v2 -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
	--data-binary @"$TMP/m.json"
assert_status 201 "the slots come back when the pushes go (aborted by the client)"
mkblob "$TMP/b1" 1000
push_blob lim/hold "$TMP/b1"

# Memory: 24 connections each send 1.5 MiB of a 2 MiB manifest.  Refused
# at once, their bytes are read and dropped, never held.
rss0=$(rss_kb)
out=$(python3 "$TMP/raw.py" hold "$PORT" 24 $((2 << 20)) $((3 << 19)) 100 "$TMP/probe" "$DAEMON_PID")
rss1=$(echo "$out" | awk '$1 == "rss" {print $2}')
n429=$(echo "$out" | grep -c '^HTTP/1.1 429 ')
assert_eq "$n429" 24 "24 pushes of a 2 MiB manifest over a 1 MiB budget: 429 each"
if [ -n "$rss1" ] && [ $((rss1 - rss0)) -lt $((16 * 1024)) ]; then
	t_pass "RSS stays flat while 36 MiB of manifest bodies arrive ($rss0 -> $rss1 kB)"
else
	t_fail "RSS stays flat while 36 MiB of manifest bodies arrive" "$rss0 -> $rss1 kB"
fi
still=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v2/")
assert_eq "$still" 200 "the daemon still answers"

# ---------------------------------------------------------------- reloads
# Light load (a request every 10 ms) while 1000 reloads happen; VmRSS after
# 1000 within 4 MiB of after 100.
(while :; do curl -s -o /dev/null "$BASE/v2/" ; sleep 0.01; done) &
LOADER=$!
reload_to() {
	local want=$1 n
	while [ "$RELOADS" -lt "$want" ]; do
		kill -HUP "$DAEMON_PID"
		for ((n = 0; n < 500; n++)); do
			[ "$(grep -c ' reloaded ' "$LOG")" -gt "$RELOADS" ] && break
			sleep 0.005
		done
		RELOADS=$(grep -c ' reloaded ' "$LOG")
	done
}
RELOADS=0
reload_to 100
r100=$(rss_kb)
reload_to 1000
r1000=$(rss_kb)
kill "$LOADER" 2>/dev/null
wait "$LOADER" 2>/dev/null
assert_eq "$RELOADS" 1000 "1000 reloads done"
if [ $((r1000 - r100)) -lt 4096 ]; then
	t_pass "RSS flat over 900 reloads ($r100 -> $r1000 kB)"
else
	t_fail "RSS flat over 900 reloads" "$r100 -> $r1000 kB"
fi
req GET /v2/lim/hold/manifests/v1
assert_status 200 "the daemon serves after 1000 reloads"
daemon_stop

# ---------------------------------------------------------------- descriptors
# 64 descriptors, soft and hard (the daemon raises soft to hard), and 150
# idle clients: accept() fails with EMFILE.
cat >"$TMP/low-fd" <<EOF
#!/bin/sh
ulimit -n 64 || exit 1
exec "$OCIREGD" "\$@"
EOF
chmod +x "$TMP/low-fd"
REAL=$OCIREGD
OCIREGD=$TMP/low-fd
daemon_start
OCIREGD=$REAL
assert_log "descriptors" "the daemon warns that 64 descriptors are too few for max_connections"
exec 7< <(python3 "$TMP/raw.py" idle "$PORT" 150 6)
read -r -t 10 ready <&7
assert_eq "$ready" ready "150 idle connections open"
sleep 0.5
emf0=$(grep -c 'Too many open files' "$LOG")
cpu0=$(cpu_ticks)
sleep 5
cpu1=$(cpu_ticks)
emf1=$(grep -c 'Too many open files' "$LOG")
hz=$(getconf CLK_TCK)
if [ $((emf1 - emf0)) -lt 50 ] && [ "$emf1" -gt 0 ]; then
	t_pass "EMFILE logged a bounded number of times in 5 s ($((emf1 - emf0)) lines)"
else
	t_fail "EMFILE logged a bounded number of times in 5 s (1..49)" "$emf0 -> $emf1 lines"
fi
if [ $((cpu1 - cpu0)) -lt $((hz / 2)) ]; then
	t_pass "no busy loop: $((cpu1 - cpu0)) ticks of CPU in 5 s (of $((5 * hz)))"
else
	t_fail "no busy loop (< $((hz / 2)) ticks of CPU in 5 s)" "$((cpu1 - cpu0)) ticks"
fi
cat <&7 >/dev/null
exec 7<&-
sleep 1.5
req GET /v2/
assert_status 200 "after the idle clients leave, a new request is served"

e2e_finish
