# shellcheck shell=bash
# lib-proxy.sh — helpers for the pull-through cache tests.  Source it after
# lib.sh (and lib-oci.sh), then call proxy_init after e2e_init:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib-proxy.sh"
#   e2e_init; proxy_init
#
# lib.sh's daemon ($BASE, $ROOT, $LOG, req, db) is the cache.  This file adds
#   - a second ociregd, the upstream: up_config / up_start / up_stop, with
#     $UP_PORT $UP_BASE $UP_ROOT $UP_CONF $UP_LOG; once started, restarts
#     keep its port so the cache's config stays valid;
#   - CNCF Distribution (docker-registry): dist_start DIR [HTPASSWD], with
#     $DIST_PORT $DIST_LOG $DIST_PID of the last one started (several may
#     run; all stop at exit);
#   - tests/e2e/fakehub.py (anonymous tokens, 307 to a "CDN"): fake_start
#     URL / fake_stop, with $FAKE_PORT $FAKE_LOG;
#   - access-log counting over every upstream log: up_count ERE;
#   - client set-up for skopeo and podman in the temp dir: clients_init,
#     run DESC CMD... (timeout 120, output in $OUT), $PM (podman argv).
# Every wait is bounded; everything listens on 127.0.0.1.

UP_PID=
UP_PORT=
UP_BASE=
UP_LISTEN=127.0.0.1:0
UP_STARTS=0
UP_LOG=
DIST_PID=
DIST_PIDS=()
DIST_PORT=
DIST_LOG=
DIST_STARTS=0
FAKE_PID=
FAKE_PORT=
FAKE_LOG=
OUT=

proxy_init() {
	UP_DIR=$TMP/upstream
	UP_ROOT=$UP_DIR/var
	UP_CONF=$UP_DIR/ociregd.ini
	mkdir -p "$UP_DIR"
	OUT=$TMP/client.out
	# lib.sh's trap stops the cache and removes $TMP; stop ours first.
	trap 'proxy_rc=$?; proxy_cleanup; (exit $proxy_rc); e2e_cleanup' EXIT
}

# stop_pid PID: TERM, bounded wait, KILL.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	wait_dead "$1" 100 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

proxy_cleanup() {
	stop_pid "$UP_PID"
	UP_PID=
	for p in "${DIST_PIDS[@]}"; do
		stop_pid "$p"
	done
	DIST_PIDS=()
	stop_pid "$FAKE_PID"
	FAKE_PID=
}

# up_config [EXTRA-INI-LINES]: the upstream's config (one file, rewritten).
up_config() {
	{
		echo "[server]"
		echo "listen = $UP_LISTEN"
		echo "workers = 2"
		echo "log_level = info"
		echo "[storage]"
		echo "root = $UP_ROOT"
		echo "sync = false"
		[ -n "${1:-}" ] && printf '%s\n' "$1"
	} >"$UP_CONF"
}

# up_start: start the upstream and wait for its port.
up_start() {
	local n port
	[ -n "$UP_PID" ] && bail "up_start: the upstream is already running"
	[ -f "$UP_CONF" ] || up_config
	UP_STARTS=$((UP_STARTS + 1))
	UP_LOG=$UP_DIR/upstream.$UP_STARTS.log
	: >"$UP_LOG"
	"$OCIREGD" -c "$UP_CONF" </dev/null >>"$UP_LOG" 2>&1 &
	UP_PID=$!
	port=
	for ((n = 0; n < 150; n++)); do
		port=$(sed -n 's/.*listening on .* (port \([0-9][0-9]*\), [0-9]* workers\{0,1\}).*/\1/p' "$UP_LOG" 2>/dev/null | head -n 1)
		[ -n "$port" ] && break
		if ! kill -0 "$UP_PID" 2>/dev/null; then
			wait "$UP_PID"
			UP_PID=
			bail "upstream start #$UP_STARTS" "exited before listening; log: $(cat "$UP_LOG")"
		fi
		sleep 0.1
	done
	[ -n "$port" ] || bail "upstream start #$UP_STARTS" "no port within 15s; log: $(cat "$UP_LOG")"
	UP_PORT=$port
	UP_BASE=http://127.0.0.1:$UP_PORT
	# Later starts reuse the port: the cache's config names it.
	if [ "$UP_LISTEN" = 127.0.0.1:0 ]; then
		UP_LISTEN=127.0.0.1:$UP_PORT
		sed -i "s/^listen = .*/listen = $UP_LISTEN/" "$UP_CONF"
	fi
	echo "# upstream #$UP_STARTS pid $UP_PID on $UP_BASE"
}

# up_stop: SIGTERM, assert exit 0 and no sanitizer report.
up_stop() {
	local rc pid=$UP_PID
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	if ! wait_dead "$pid" 150; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		UP_PID=
		t_fail "upstream #$UP_STARTS stops within 15s of SIGTERM" "had to SIGKILL it"
		return 0
	fi
	wait "$pid"
	rc=$?
	UP_PID=
	assert_eq "$rc" 0 "upstream #$UP_STARTS exits 0 on SIGTERM"
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$UP_LOG"; then
		t_fail "upstream #$UP_STARTS log has no sanitizer report" "$(grep -E -A30 'ERROR: |runtime error:' "$UP_LOG" | head -n 40)"
	fi
}

# up_count ERE: access-log lines of every upstream log whose "METHOD TARGET
# STATUS" part matches ERE (e.g. 'GET /v2/library/x/blobs/[^ ]+ 200').
up_count() {
	cat "$UP_DIR"/upstream.*.log 2>/dev/null | grep -E "access: [^ ]+ $1" | wc -l
}

# up_blob_gets REPO [DIGEST]: upstream blob GETs answered 200 (cumulative).
up_blob_gets() {
	up_count "GET /v2/$1/blobs/${2:-sha256:[0-9a-f]+} 200 "
}

# free_port: a port nobody listens on now (for servers that cannot take 0).
free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p n
	for ((n = 0; n < 50; n++)); do
		p=$((20000 + RANDOM % 30000))
		ss -ltn 2>/dev/null | grep -q ":$p " || { echo "$p"; return; }
	done
	echo 0
}

# wait_http URL: bounded wait (10s) until URL answers at all.
wait_http() {
	local n code
	for ((n = 0; n < 100; n++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null)
		[ "$code" != 000 ] && return 0
		sleep 0.1
	done
	return 1
}

# dist_start DIR [HTPASSWD]: CNCF Distribution storing under DIR on a free
# port; with HTPASSWD, Basic authentication.
dist_start() {
	local dir=$1 htpasswd=${2:-} conf
	DIST_STARTS=$((DIST_STARTS + 1))
	DIST_PORT=$(free_port)
	conf=$TMP/distribution.$DIST_STARTS.yml
	DIST_LOG=$TMP/distribution.$DIST_STARTS.log
	mkdir -p "$dir"
	{
		echo "version: 0.1"
		echo "log:"
		echo "  level: warn"
		echo "  accesslog:"
		echo "    disabled: false"
		echo "storage:"
		echo "  filesystem:"
		echo "    rootdirectory: $dir"
		echo "  delete:"
		echo "    enabled: true"
		echo "http:"
		echo "  addr: 127.0.0.1:$DIST_PORT"
		if [ -n "$htpasswd" ]; then
			echo "auth:"
			echo "  htpasswd:"
			echo "    realm: e2e"
			echo "    path: $htpasswd"
		fi
	} >"$conf"
	# Distribution reads REGISTRY_* variables; make sure none leak in.
	env -u REGISTRY_HTTP_ADDR docker-registry serve "$conf" </dev/null >"$DIST_LOG" 2>&1 &
	DIST_PID=$!
	DIST_PIDS+=("$DIST_PID")
	if ! wait_http "http://127.0.0.1:$DIST_PORT/v2/"; then
		bail "docker-registry #$DIST_STARTS answers on port $DIST_PORT" "$(tail -n 20 "$DIST_LOG")"
	fi
	echo "# distribution #$DIST_STARTS pid $DIST_PID on 127.0.0.1:$DIST_PORT"
}

# dist_count LOG ERE: access lines ("METHOD PATH HTTP/x" STATUS) of a
# Distribution log matching ERE, e.g. 'GET /v2/x/blobs/[^ ]+ HTTP/1.1" 200'.
dist_count() {
	grep -cE "\"$2" "$1"
}

# fake_start UPSTREAM-URL: tests/e2e/fakehub.py in front of UPSTREAM-URL.
fake_start() {
	local n
	FAKE_LOG=$TMP/fakehub.log
	python3 "$E2E_DIR/fakehub.py" "$1" </dev/null >"$FAKE_LOG" 2>&1 &
	FAKE_PID=$!
	FAKE_PORT=
	for ((n = 0; n < 100; n++)); do
		FAKE_PORT=$(sed -n 's/^fakehub listening on port \([0-9]*\)$/\1/p' "$FAKE_LOG" | head -n 1)
		[ -n "$FAKE_PORT" ] && break
		sleep 0.1
	done
	[ -n "$FAKE_PORT" ] || bail "fakehub starts" "$(cat "$FAKE_LOG")"
	echo "# fakehub pid $FAKE_PID on 127.0.0.1:$FAKE_PORT"
}

fake_stop() {
	stop_pid "$FAKE_PID"
	FAKE_PID=
}

# clients_init: skopeo's and podman's files inside the temp dir; $PM is
# the podman command (vfs storage under the temp dir).
clients_init() {
	local cl=$TMP/clients
	mkdir -p "$cl"/{home,cfg,data,cache,tmp}
	mkdir -m 700 "$cl/xdgrt"
	export HOME=$cl/home XDG_CONFIG_HOME=$cl/cfg XDG_DATA_HOME=$cl/data XDG_CACHE_HOME=$cl/cache
	export XDG_RUNTIME_DIR=$cl/xdgrt TMPDIR=$cl/tmp
	printf 'unqualified-search-registries = []\n' >"$cl/registries.conf"
	export CONTAINERS_REGISTRIES_CONF=$cl/registries.conf
	printf '[engine]\nevents_logger = "file"\nevents_logfile_path = "%s"\ncgroup_manager = "cgroupfs"\n' "$cl/events.log" >"$cl/containers.conf"
	export CONTAINERS_CONF=$cl/containers.conf
	PM=(podman --root "$cl/podman/root" --runroot "$cl/podman/run" --storage-driver vfs)
}

# have_podman: podman is installed and we are root (vfs storage needs it).
have_podman() {
	command -v podman >/dev/null && [ "$(id -u)" = 0 ]
}

# run DESC CMD...: CMD under `timeout 120`, output in $OUT; assert exit 0.
run() {
	local desc=$1 rc
	shift
	timeout 120 "$@" >"$OUT" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		t_pass "$desc"
	else
		t_fail "$desc" "exit $rc: $*" "$(tail -n 15 "$OUT")"
	fi
	return $rc
}

# run_fails DESC CMD...: the same, asserting a non-zero exit.
run_fails() {
	local desc=$1 rc
	shift
	timeout 120 "$@" >"$OUT" 2>&1 </dev/null
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then
		t_pass "$desc"
	else
		t_fail "$desc" "exit $rc (expected a failure, not success or a timeout): $*" "$(tail -n 15 "$OUT")"
	fi
}

# layout_ok DIR: every blob of an OCI layout hashes to its name.
layout_ok() {
	local f bad=
	for f in "$1"/blobs/sha256/*; do
		[ "sha256:$(basename "$f")" = "$(sha256_of "$f")" ] || bad="$bad $(basename "$f")"
	done
	[ -z "$bad" ] && echo ok || echo "bad:$bad"
}

# image_blobs LAYOUT MANIFEST-DIGEST: the config and layer digests.
image_blobs() {
	jq -r '.config.digest, .layers[].digest' "$1/blobs/sha256/${2#sha256:}"
}
