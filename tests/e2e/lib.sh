# shellcheck shell=bash
# lib.sh — helpers for the ociregd end-to-end tests.  Source it from a
# tests/e2e/t_*.sh script:
#
#   . "$(dirname "$0")/lib.sh"
#   e2e_init            # temp dir, config, trap
#   daemon_start        # sets $BASE, $PORT, $ROOT, $DAEMON_PID, $LOG
#   req GET /v2/        # sets $STATUS, $BODY (file), $HDRS (file), $DLSIZE
#   assert_status 200 "GET /v2/"
#   ...
#   e2e_finish          # stops the daemon (asserting exit 0), prints counts, exits
#
# Output is TAP-like: "ok N - desc" / "not ok N - desc" followed by "#" lines
# with the actual value.  Every wait is bounded.  Environment:
#   OCIREGD   the binary (default: build/ociregd of this checkout)
#   E2E_KEEP  if 1, keep the temp dir (its path is printed)
#   E2E_LOG_LEVEL  the daemon's log_level (default info; debug to look into a failure)
#   E2E_META  postgres: run the daemon on the postgres metadata backend, on
#             a fresh database per e2e_init in the server E2E_PG_URL names
#             (postgresql://USER@HOST:PORT; without it, a throwaway server
#             of this script's own: lib-pg.sh); db() then queries it
#   E2E_STORE s3: run the daemon on the S3 blob backend, on a fresh bucket
#             per e2e_init in the radosgw E2E_S3_ENDPOINT names (exported
#             by tests/e2e/lib-s3.sh run; without it, a gateway of this
#             script's own); the blob_*/upload_*/trash_*/quarantine_*
#             helpers below then look into the bucket instead of $ROOT

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OCIREGD:=$(cd "$E2E_DIR/../.." && pwd)/build/ociregd}"
export OCIREGD
E2E_NAME=$(basename "$0")

T_N=0
T_PASS=0
T_FAIL=0
TMP=
ROOT=
CONF=
LOG=
BASE=
PORT=
DAEMON_PID=
DAEMON_STARTS=0
STATUS=
DLSIZE=
BODY=
HDRS=
# Extra INI lines for e2e_config (set before e2e_init or daemon_start):
# E2E_EXTRA_SERVER goes into [server], E2E_EXTRA_LIMITS into [limits],
# E2E_EXTRA_INI (whole sections) at the end.  E2E_WORKERS (default 1) and
# E2E_SYNC (default true) set server.workers and storage.sync.
: "${E2E_EXTRA_SERVER:=}" "${E2E_EXTRA_LIMITS:=}" "${E2E_EXTRA_INI:=}"

# Spec error codes (distribution-spec v1.1, "Error Codes").
SPEC_CODES="BLOB_UNKNOWN BLOB_UPLOAD_INVALID BLOB_UPLOAD_UNKNOWN DIGEST_INVALID MANIFEST_BLOB_UNKNOWN MANIFEST_INVALID MANIFEST_UNKNOWN NAME_INVALID NAME_UNKNOWN SIZE_INVALID UNAUTHORIZED DENIED UNSUPPORTED TOOMANYREQUESTS"
EMPTY_SHA256=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# ---------------------------------------------------------------- results

diag() {
	local line
	while IFS= read -r line; do
		printf '#   %s\n' "$line"
	done <<<"$*"
}

t_pass() {
	T_N=$((T_N + 1))
	T_PASS=$((T_PASS + 1))
	printf 'ok %d - %s\n' "$T_N" "$1"
}

# t_fail DESC [ACTUAL-DESCRIPTION...]
t_fail() {
	local desc=$1
	shift
	T_N=$((T_N + 1))
	T_FAIL=$((T_FAIL + 1))
	printf 'not ok %d - %s\n' "$T_N" "$desc"
	[ $# -gt 0 ] && diag "$*"
	return 0
}

# A failure that makes the rest of the script meaningless.
bail() {
	t_fail "$1" "${2:-}"
	[ -n "$LOG" ] && [ -f "$LOG" ] && { echo "# daemon log (tail):"; tail -n 20 "$LOG" | diag "$(cat)"; }
	e2e_finish
}

# ---------------------------------------------------------------- setup

e2e_cleanup() {
	local rc=$?
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait_dead "$DAEMON_PID" 100 || kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	DAEMON_PID=
	if [ -n "${E2E_PG_DB:-}" ]; then
		pg_dropdb "$E2E_PG_DB"
		pg_stop
	fi
	if [ -n "${E2E_S3_BUCKET:-}" ]; then
		[ "${E2E_KEEP:-0}" = 1 ] || s3_bucket_purge "$E2E_S3_BUCKET"
		s3_stop
	fi
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		if [ "${E2E_KEEP:-0}" = 1 ]; then
			echo "# kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}

e2e_init() {
	command -v curl >/dev/null && command -v jq >/dev/null && command -v sqlite3 >/dev/null &&
		command -v sha256sum >/dev/null || {
		echo "not ok 1 - curl, jq, sqlite3 and sha256sum are required"
		exit 1
	}
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/ociregd-e2e.XXXXXX") || {
		echo "not ok 1 - mktemp -d"
		exit 1
	}
	ROOT=$TMP/var
	CONF=$TMP/ociregd.ini
	BODY=$TMP/body
	HDRS=$TMP/headers
	trap e2e_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	echo "# $E2E_NAME: binary $OCIREGD, temp $TMP"
	if [ ! -x "$OCIREGD" ]; then
		bail "binary $OCIREGD exists and is executable"
	fi
	[ "${E2E_META:-sqlite}" = postgres ] && e2e_pg_init
	[ "${E2E_STORE:-filesystem}" = s3 ] && e2e_s3_init
	return 0
}

# The S3 blob backend: an empty bucket of this run's own, and the secret key
# in a file of its own (the config names it).
E2E_S3_BUCKET=
E2E_S3_SECRET_FILE=
e2e_s3_init() {
	. "$E2E_DIR/lib-s3.sh"
	if [ -z "${E2E_S3_ENDPOINT:-}" ]; then
		s3_start || bail "a radosgw for E2E_STORE=s3 (lib-s3.sh s3_start)"
	fi
	s3_attach || bail "lib-s3.sh s3_attach"
	E2E_S3_BUCKET=$(printf 'e2e-%s-%s' "${E2E_NAME%.sh}" "$$" | tr 'A-Z_' 'a-z-' | tr -cd 'a-z0-9-' | cut -c1-63)
	rgw_mkbucket "$E2E_S3_BUCKET" || bail "PUT bucket $E2E_S3_BUCKET on $E2E_S3_ENDPOINT"
	E2E_S3_SECRET_FILE=$TMP/s3.secret
	(umask 077 && printf '%s\n' "$E2E_S3_SECRET_KEY" >"$E2E_S3_SECRET_FILE")
	echo "# blobs: s3 $E2E_S3_ENDPOINT/$E2E_S3_BUCKET${E2E_S3_PREFIX:+ prefix $E2E_S3_PREFIX}"
}

store_is_s3() { [ -n "$E2E_S3_BUCKET" ]; }

# e2e_storage_ini [ROOT]: the [storage] section (root, sync, and on S3 the
# backend) and, on S3, the [s3] section, for a config of ROOT (default
# $ROOT).  E2E_S3_EXTRA: more [s3] lines (redirect = true...);
# E2E_S3_PART_SIZE: part_size (default 5MiB, S3's minimum: small tests
# still cross part boundaries).
e2e_storage_ini() {
	echo "[storage]"
	echo "root = ${1:-$ROOT}"
	echo "sync = ${E2E_SYNC:-true}"
	store_is_s3 || return 0
	echo "backend = s3"
	echo "[s3]"
	echo "endpoint = $E2E_S3_ENDPOINT"
	echo "bucket = $E2E_S3_BUCKET"
	echo "region = ${E2E_S3_REGION:-us-east-1}"
	echo "prefix = $E2E_S3_PREFIX"
	echo "path_style = true"
	echo "access_key = $E2E_S3_ACCESS_KEY"
	echo "secret_key_file = $E2E_S3_SECRET_FILE"
	echo "part_size = ${E2E_S3_PART_SIZE:-5MiB}"
	[ -n "${E2E_S3_EXTRA:-}" ] && printf '%s\n' "$E2E_S3_EXTRA"
	return 0
}

# The postgres metadata backend: an empty database of this run's own.
E2E_PG_DB=
E2E_PG_DB_URL=
e2e_pg_init() {
	. "$E2E_DIR/lib-pg.sh"
	if [ -z "${E2E_PG_URL:-}" ]; then
		pg_start || bail "a PostgreSQL server for E2E_META=postgres (lib-pg.sh pg_start)"
	fi
	E2E_PG_DB=$(printf 'e2e_%s_%s' "${E2E_NAME%.sh}" "$$" | tr -c 'a-zA-Z0-9_' '_')
	pg_createdb "$E2E_PG_DB" || bail "CREATE DATABASE $E2E_PG_DB on $E2E_PG_URL"
	E2E_PG_DB_URL=$E2E_PG_URL/$E2E_PG_DB
	# SQLite's group_concat, so that the suites' queries run on both.
	# The daemon's own schema (migrated at its start) does not see it.
	psql -X -q -v ON_ERROR_STOP=1 "$E2E_PG_DB_URL" >/dev/null <<-'EOF' || bail "group_concat in $E2E_PG_DB"
		CREATE FUNCTION e2e_concat(acc text, v text, sep text) RETURNS text
		    LANGUAGE sql IMMUTABLE AS
		    $$ SELECT CASE WHEN v IS NULL THEN acc WHEN acc IS NULL THEN v
		        ELSE acc || sep || v END $$;
		CREATE FUNCTION e2e_concat(acc text, v text) RETURNS text
		    LANGUAGE sql IMMUTABLE AS $$ SELECT e2e_concat(acc, v, ',') $$;
		CREATE AGGREGATE group_concat(text, text) (SFUNC = e2e_concat, STYPE = text);
		CREATE AGGREGATE group_concat(text) (SFUNC = e2e_concat, STYPE = text);
	EOF
	echo "# metadata: postgres $E2E_PG_DB_URL"
}

# Write the config file: listen on a kernel-chosen port, one worker.
e2e_config() {
	{
		echo "[server]"
		echo "listen = 127.0.0.1:0"
		echo "workers = ${E2E_WORKERS:-1}"
		echo "log_level = ${E2E_LOG_LEVEL:-info}"
		[ -n "$E2E_EXTRA_SERVER" ] && printf '%s\n' "$E2E_EXTRA_SERVER"
		e2e_storage_ini "$ROOT"
		if [ -n "$E2E_PG_DB_URL" ]; then
			echo "[metadata]"
			echo "backend = postgres"
			echo "url = $E2E_PG_DB_URL"
		fi
		if [ -n "$E2E_EXTRA_LIMITS" ]; then
			echo "[limits]"
			printf '%s\n' "$E2E_EXTRA_LIMITS"
		fi
		[ -n "$E2E_EXTRA_INI" ] && printf '%s\n' "$E2E_EXTRA_INI"
	} >"$CONF"
}

# wait_dead PID TENTHS: 0 once PID has exited (or is a zombie), 1 on timeout.
wait_dead() {
	local pid=$1 n=${2:-100} state
	while [ "$n" -gt 0 ]; do
		kill -0 "$pid" 2>/dev/null || return 0
		state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
		[ "$state" = Z ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# Start the daemon on $ROOT (created by the daemon) and wait until it logs its
# port.  Each start has its own log file; $LOG is the current one.
daemon_start() {
	local n port
	[ -n "$DAEMON_PID" ] && bail "daemon_start: a daemon is already running"
	[ -f "$CONF" ] || e2e_config
	DAEMON_STARTS=$((DAEMON_STARTS + 1))
	LOG=$TMP/daemon.$DAEMON_STARTS.log
	: >"$LOG" # the background job's redirection happens asynchronously
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
			bail "daemon start #$DAEMON_STARTS" "exited with $rc before listening; log: $(cat "$LOG")"
		fi
		sleep 0.1
	done
	if [ -z "$port" ]; then
		bail "daemon start #$DAEMON_STARTS" "no 'listening on ... (port N' line within 15s; log: $(cat "$LOG")"
	fi
	PORT=$port
	BASE=http://127.0.0.1:$PORT
	echo "# daemon #$DAEMON_STARTS pid $DAEMON_PID on $BASE"
}

# Stop with SIGTERM and assert a clean exit (status 0 within 15s, no
# sanitizer report in the log).
daemon_stop() {
	local rc pid=$DAEMON_PID
	[ -z "$pid" ] && return 0
	if ! daemon_alive; then
		t_fail "daemon #$DAEMON_STARTS still running when the test stops it" "$(daemon_gone_why)"
	fi
	kill -TERM "$pid" 2>/dev/null
	if ! wait_dead "$pid" 150; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		DAEMON_PID=
		t_fail "daemon #$DAEMON_STARTS stops within 15s of SIGTERM" "had to SIGKILL it"
		return 0
	fi
	wait "$pid"
	rc=$?
	DAEMON_PID=
	if [ "$rc" -eq 0 ]; then
		t_pass "daemon #$DAEMON_STARTS exits 0 on SIGTERM"
	else
		t_fail "daemon #$DAEMON_STARTS exits 0 on SIGTERM" "exit status $rc; log tail: $(tail -n 30 "$LOG")"
	fi
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak)' "$LOG"; then
		t_fail "daemon #$DAEMON_STARTS log has no sanitizer report" "$(grep -E -A30 'ERROR: |runtime error:' "$LOG" | head -n 60)"
	fi
}

daemon_restart() {
	daemon_stop
	daemon_start
}

# e2e_finish: stop the daemon, print the counts, exit non-zero on failure.
e2e_finish() {
	daemon_stop
	echo "1..$T_N"
	echo "# $E2E_NAME: $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ] && exit 0
	exit 1
}

# ---------------------------------------------------------------- HTTP

# req METHOD PATH-OR-URL [curl args...]
# Sets STATUS (000 if no answer), DLSIZE (body bytes received), $BODY, $HDRS
# (CR stripped).  HEAD is sent as a real HEAD (curl -I).  Paths are sent as
# given (--path-as-is: "..", "//" reach the daemon).
req() {
	local method=$1 target=$2 out
	shift 2
	case $target in
	http://* | https://*) ;;
	*) target=$BASE$target ;;
	esac
	local m=(-X "$method")
	[ "$method" = HEAD ] && m=(-I)
	: >"$BODY"
	: >"$HDRS.raw"
	out=$(curl -s --path-as-is --max-time 30 "${m[@]}" -o "$BODY" -D "$HDRS.raw" \
		-w '%{http_code} %{size_download} %{exitcode}' "$@" "$target" </dev/null)
	STATUS=${out%% *}
	out=${out#* }
	DLSIZE=${out%% *}
	CURL_RC=${out##* }
	# Keep only the final response's header block (drop "100 Continue").
	awk '{sub(/\r$/, "")} /^HTTP\//{n=0} {h[n++]=$0} END{for(i=0;i<n;i++) print h[i]}' "$HDRS.raw" >"$HDRS"
	[ "$method" = HEAD ] && : >"$BODY"
	if [ "$STATUS" = 000 ] && [ -n "$DAEMON_PID" ] && ! daemon_alive; then
		bail "daemon #$DAEMON_STARTS is still running at $method $target" \
			"no answer$(curl_why) and $(daemon_gone_why)"
	fi
	return 0
}

# daemon_alive: the daemon we started is running and nobody signalled it.
daemon_alive() {
	[ -n "$DAEMON_PID" ] || return 1
	kill -0 "$DAEMON_PID" 2>/dev/null || return 1
	[ "$(awk '{print $3}' "/proc/$DAEMON_PID/stat" 2>/dev/null)" != Z ] || return 1
	! grep -q ' info: signal [0-9]*: stopping' "$LOG"
}

daemon_gone_why() {
	if grep -q ' info: signal [0-9]*: stopping' "$LOG"; then
		printf 'the daemon got a signal this test did not send (someone else killed it?): %s' \
			"$(grep -E 'signal [0-9]+: stopping|stopped' "$LOG" | tr '\n' ' ')"
	else
		printf 'the daemon process is gone; log tail: %s' "$(tail -n 15 "$LOG")"
	fi
}

# hdr NAME: the value(s) of a response header (case-insensitive name), one
# per line; empty if absent.
hdr() {
	awk -v n="$1" 'BEGIN{n=tolower(n)} {i=index($0,":"); if(i>0 && tolower(substr($0,1,i-1))==n){v=substr($0,i+1); sub(/^[ \t]+/,"",v); sub(/[ \t]+$/,"",v); print v}}' "$HDRS"
}

# Absolute URL for a Location value.
loc_url() {
	case $1 in
	http://* | https://*) printf '%s' "$1" ;;
	*) printf '%s%s' "$BASE" "$1" ;;
	esac
}

# URL with a query parameter appended.
with_query() {
	case $1 in
	*\?*) printf '%s&%s' "$1" "$2" ;;
	*) printf '%s?%s' "$1" "$2" ;;
	esac
}

# " (curl exit N: ...)" when curl got no HTTP answer.
curl_why() {
	[ "${CURL_RC:-0}" = 0 ] && return
	case $CURL_RC in
	7) printf ' (curl exit 7: connection refused)' ;;
	28) printf ' (curl exit 28: timed out)' ;;
	52) printf ' (curl exit 52: empty reply, connection closed)' ;;
	55) printf ' (curl exit 55: send failed)' ;;
	56) printf ' (curl exit 56: receive failed / reset)' ;;
	*) printf ' (curl exit %s)' "$CURL_RC" ;;
	esac
}

err_code() { jq -r '.errors[0].code // empty' "$BODY" 2>/dev/null; }

# ---------------------------------------------------------------- blobs

# mkblob FILE SIZE: random bytes.
mkblob() { head -c "$2" /dev/urandom >"$1"; }
sha256_of() { printf 'sha256:%s' "$(sha256sum "$1" | cut -d' ' -f1)"; }
sha512_of() { printf 'sha512:%s' "$(sha512sum "$1" | cut -d' ' -f1)"; }
body_sha256() { sha256_of "$BODY"; }
fsize() { stat -c %s "$1"; }
# slice FILE OFFSET LEN OUT
slice() { tail -c +"$(($2 + 1))" "$1" | head -c "$3" >"$4"; }

# ------------------------------------------------- the store, on both backends
# What the suites look at in the blob store, without knowing the backend:
# files under $ROOT (filesystem) or objects in this run's bucket (S3, keys as
# the backend lays them out: <prefix>blobs/<alg>/<2 hex>/<hex>,
# <prefix>uploads/<id>/..., <prefix>trash/..., <prefix>quarantine/<alg>-<hex>).

# Where the filesystem store keeps a digest's bytes.
blob_path() {
	local alg=${1%%:*} hex=${1#*:}
	printf '%s/blobs/%s/%s/%s' "$ROOT" "$alg" "${hex:0:2}" "$hex"
}
# The object key of a digest's bytes (S3).
blob_key() {
	local alg=${1%%:*} hex=${1#*:}
	printf '%sblobs/%s/%s/%s' "$E2E_S3_PREFIX" "$alg" "${hex:0:2}" "$hex"
}
# blob_where DIGEST: the file or the s3:// object, for messages.
blob_where() {
	if store_is_s3; then printf 's3://%s/%s' "$E2E_S3_BUCKET" "$(blob_key "$1")"; else blob_path "$1"; fi
}

# store_area_count AREA: files (objects) under blobs/, uploads/, trash/ or
# quarantine/ of the store.
store_area_count() {
	if store_is_s3; then
		s3_list "$E2E_S3_PREFIX$1/" | grep -c .
	else
		find "$ROOT/$1" -type f 2>/dev/null | wc -l
	fi
}
blob_count() { store_area_count blobs; }
blob_file_count() { blob_count; }
trash_count() { store_area_count trash; }
quarantine_count() { store_area_count quarantine; }

# blob_exists DIGEST: 0 if the store holds bytes under DIGEST.
blob_exists() {
	if store_is_s3; then s3_head "$(blob_key "$1")" >/dev/null; else [ -f "$(blob_path "$1")" ]; fi
}
# blob_size DIGEST: the size of the stored bytes (empty if none).
blob_size() {
	if store_is_s3; then
		s3_head "$(blob_key "$1")" | sed -n 's/^[Cc]ontent-[Ll]ength: *//p'
	else
		stat -c %s "$(blob_path "$1")" 2>/dev/null
	fi
}
# blob_identity DIGEST: what changes when the stored bytes are written again
# (the inode and mtime of the file; the ETag and Last-Modified of the object).
blob_identity() {
	if store_is_s3; then
		s3_head "$(blob_key "$1")" | grep -Ei '^(etag|last-modified):' | sort | tr '\n' ' '
	else
		stat -c '%i %Y.%y' "$(blob_path "$1")" 2>/dev/null
	fi
}
# blob_read DIGEST OUT: copy the stored bytes to the file OUT.
blob_read() {
	if store_is_s3; then s3_get "$(blob_key "$1")" "$2"; else cp "$(blob_path "$1")" "$2"; fi
}
# blob_write DIGEST FILE: replace the stored bytes of DIGEST by FILE's,
# behind the daemon's back.
blob_write() {
	if store_is_s3; then
		s3_put "$(blob_key "$1")" "$2"
	else
		mkdir -p "$(dirname "$(blob_path "$1")")" && cat "$2" >"$(blob_path "$1")"
	fi
}
# blob_corrupt DIGEST: overwrite the stored bytes with others of the same
# size (each byte flipped); 0 if done.
blob_corrupt() {
	local f=$TMP/.corrupt.$$
	blob_read "$1" "$f" || return 1
	[ -s "$f" ] || return 1
	perl -0777 -pe '$_ = ~$_' <"$f" >"$f.x" && blob_write "$1" "$f.x"
	local rc=$?
	rm -f "$f" "$f.x"
	return $rc
}
# blob_flip_byte DIGEST OFFSET: add 1 to the stored byte at OFFSET.
blob_flip_byte() {
	local f=$TMP/.flip.$$ byte
	blob_read "$1" "$f" || return 1
	byte=$(od -An -tu1 -j "$2" -N 1 "$f" | tr -d ' ')
	[ -n "$byte" ] || return 1
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $(((byte + 1) % 256)))" | dd of="$f" bs=1 seek="$2" count=1 conv=notrunc status=none &&
		blob_write "$1" "$f"
	local rc=$?
	rm -f "$f"
	return $rc
}
# blob_delete DIGEST: remove the stored bytes behind the daemon's back.
blob_delete() {
	if store_is_s3; then s3_delete "$(blob_key "$1")"; else rm -f "$(blob_path "$1")"; fi
}
# store_put_raw REL FILE / store_rm_raw REL: a file (object) at REL under the
# root (under the prefix), e.g. a stray under blobs/.
store_put_raw() {
	if store_is_s3; then s3_put "$E2E_S3_PREFIX$1" "$2"; else mkdir -p "$(dirname "$ROOT/$1")" && cp "$2" "$ROOT/$1"; fi
}
store_rm_raw() {
	if store_is_s3; then s3_delete "$E2E_S3_PREFIX$1"; else rm -f "$ROOT/$1"; fi
}
store_has_raw() {
	if store_is_s3; then s3_head "$E2E_S3_PREFIX$1" >/dev/null; else [ -f "$ROOT/$1" ]; fi
}
# store_where REL: the file or object REL names, as the daemon prints it.
store_where() {
	if store_is_s3; then printf 's3://%s/%s%s' "$E2E_S3_BUCKET" "$E2E_S3_PREFIX" "$1"; else printf '%s/%s' "$ROOT" "$1"; fi
}
# quarantine_read NAME OUT: copy quarantine/NAME (alg-hex) to OUT.
quarantine_read() {
	if store_is_s3; then s3_get "${E2E_S3_PREFIX}quarantine/$1" "$2"; else cp "$ROOT/quarantine/$1" "$2"; fi
}

# Uploads.  On the filesystem a session is the spool file uploads/<id>; on
# S3, the objects under uploads/<id>/ and the multipart upload of
# uploads/<id>/data.
# upload_ids: the ids of the sessions the store holds anything of, sorted.
upload_ids() {
	if store_is_s3; then
		{
			s3_list "${E2E_S3_PREFIX}uploads/"
			s3_uploads "${E2E_S3_PREFIX}uploads/" | cut -d' ' -f1
		} | sed -n "s|^${E2E_S3_PREFIX}uploads/\([^/]*\)/.*|\1|p" | LC_ALL=C sort -u
	else
		find "$ROOT/uploads" -mindepth 1 -maxdepth 1 -type f ! -name '.*' ! -name 'ready-*' \
			-printf '%f\n' 2>/dev/null | LC_ALL=C sort
	fi
}
upload_count() { upload_ids | grep -c .; }
# spool_files: every file under uploads/ (filesystem: temporary ones too);
# on S3 every object under uploads/ plus every unfinished multipart upload.
spool_files() {
	if store_is_s3; then
		echo $(($(store_area_count uploads) + $(multipart_count)))
	else
		find "$ROOT/uploads" -type f 2>/dev/null | wc -l
	fi
}
# upload_exists ID
upload_exists() { upload_ids | grep -qx -- "$1"; }
# multipart_count: unfinished multipart uploads in the bucket (0 on the
# filesystem, which has none).
multipart_count() {
	if store_is_s3; then s3_uploads "$E2E_S3_PREFIX" | grep -c .; else echo 0; fi
}
# store_listing: every blob and upload file (object), sorted, with its size:
# what a dry run must leave unchanged.
store_listing() {
	if store_is_s3; then
		{
			s3_list_sizes "${E2E_S3_PREFIX}blobs/"
			s3_list_sizes "${E2E_S3_PREFIX}uploads/"
			s3_uploads "$E2E_S3_PREFIX"
		} | LC_ALL=C sort
	else
		find "$ROOT/blobs" "$ROOT/uploads" -type f -printf '%p %s\n' 2>/dev/null | LC_ALL=C sort
	fi
}

# db SQL: run a query on the metadata (read-only use): meta.db, or with
# E2E_META=postgres this run's database (same tables and columns; psql
# prints rows as sqlite3 does, fields joined by '|').
db() {
	if [ -n "$E2E_PG_DB_URL" ]; then
		psql -X -q -A -t -v ON_ERROR_STOP=1 "$E2E_PG_DB_URL" -c "$1" 2>&1
	else
		sqlite3 -batch -noheader -cmd '.timeout 3000' "$ROOT/meta.db" "$1" 2>&1
	fi
}
sqlq() { printf "'%s'" "${1//\'/\'\'}"; }

# Start an upload session in REPO; sets UPLOAD_LOC (absolute URL) and
# UPLOAD_ID.  Asserts the 202.
upload_start() {
	req POST "/v2/$1/blobs/uploads/"
	UPLOAD_LOC=
	UPLOAD_ID=
	if [ "$STATUS" = 202 ] && [ -n "$(hdr Location)" ]; then
		UPLOAD_LOC=$(loc_url "$(hdr Location)")
		UPLOAD_ID=$(hdr Docker-Upload-UUID)
		return 0
	fi
	t_fail "POST /v2/$1/blobs/uploads/ starts a session" "status $STATUS, Location '$(hdr Location)', body $(head -c 300 "$BODY")"
	return 1
}

# push_blob REPO FILE [DIGEST]: monolithic POST; asserts 201.
push_blob() {
	local d=${3:-$(sha256_of "$2")}
	req POST "/v2/$1/blobs/uploads/?digest=$d" -H 'Content-Type: application/octet-stream' --data-binary "@$2"
	assert_status 201 "monolithic push of $(fsize "$2") bytes to $1"
}

# ---------------------------------------------------------------- assertions

# assert_eq ACTUAL EXPECTED DESC
assert_eq() {
	if [ "$1" = "$2" ]; then
		t_pass "$3"
	else
		t_fail "$3" "expected: '$2'" "  actual: '$1'"
	fi
}

assert_ne() {
	if [ "$1" != "$2" ]; then
		t_pass "$3"
	else
		t_fail "$3" "expected anything but '$2'"
	fi
}

# assert_match ACTUAL ERE DESC
assert_match() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		t_pass "$3"
	else
		t_fail "$3" "expected to match: /$2/" "  actual: '$1'"
	fi
}

assert_status() {
	if [ "$STATUS" = "$1" ]; then
		t_pass "$2 (status $1)"
	else
		t_fail "$2 (status $1)" "expected status $1, got $STATUS$(curl_why); body: $(head -c 400 "$BODY")"
	fi
}

# assert_header NAME VALUE DESC: header present exactly once with this value.
assert_header() {
	local v
	v=$(hdr "$1")
	if [ "$v" = "$2" ]; then
		t_pass "$3 ($1: $2)"
	else
		t_fail "$3 ($1: $2)" "expected $1: '$2'" "  actual: '$(printf '%s' "$v" | tr '\n' '|')' (status $STATUS)"
	fi
}

assert_no_header() {
	local v
	v=$(hdr "$1")
	if [ -z "$v" ]; then
		t_pass "$2 (no $1)"
	else
		t_fail "$2 (no $1)" "unexpected $1: '$v'"
	fi
}

# assert_error CODE DESC: the body is the spec's envelope and errors[0].code
# is CODE.
declare -A E2E_JQ_CACHE=()
assert_error() {
	local c b=
	# jq costs ~20ms a run; identical small bodies are checked once.
	[ -s "$BODY" ] && [ "$(fsize "$BODY")" -lt 4096 ] && b=$(<"$BODY")
	if [ -n "$b" ] && [ -n "${E2E_JQ_CACHE[$b]+set}" ]; then
		c=${E2E_JQ_CACHE[$b]}
	else
		c=$(jq -r 'if (.errors|type)=="array" and (.errors|length)>=1 and
		    (.errors[0]|has("code") and has("message") and has("detail"))
		    then .errors[0].code else "(not the spec envelope)" end' "$BODY" 2>/dev/null)
		[ -n "$b" ] && E2E_JQ_CACHE[$b]=$c
	fi
	if [ "$c" = "$1" ]; then
		t_pass "$2 (code $1)"
	else
		t_fail "$2 (code $1)" "expected code $1 in the {errors:[{code,message,detail}]} envelope" \
			"  actual (status $STATUS): $(head -c 400 "$BODY")"
	fi
}

# assert_status_error STATUS CODE DESC
assert_status_error() {
	assert_status "$1" "$3"
	assert_error "$2" "$3"
}

# assert_body_digest DIGEST DESC: the downloaded body hashes to DIGEST.
assert_body_digest() {
	local got
	case $1 in
	sha512:*) got=$(sha512_of "$BODY") ;;
	*) got=$(sha256_of "$BODY") ;;
	esac
	assert_eq "$got" "$1" "$2 (body digest)"
}

assert_file_exists() {
	if [ -f "$1" ]; then t_pass "$2"; else t_fail "$2" "no file $1"; fi
}

assert_file_absent() {
	if [ ! -e "$1" ]; then t_pass "$2"; else t_fail "$2" "unexpected file $1 ($(stat -c %s "$1") bytes)"; fi
}

# assert_blob_stored DIGEST DESC / assert_blob_absent DIGEST DESC: the store
# holds (does not hold) bytes under DIGEST, on either backend.
assert_blob_stored() {
	if blob_exists "$1"; then t_pass "$2"; else t_fail "$2" "nothing at $(blob_where "$1")"; fi
}
assert_blob_absent() {
	if ! blob_exists "$1"; then t_pass "$2"; else t_fail "$2" "unexpected $(blob_where "$1") ($(blob_size "$1") bytes)"; fi
}

# assert_upload_stored ID DESC / assert_upload_absent ID DESC: the store
# holds something (nothing) of the session ID.
assert_upload_stored() {
	if upload_exists "$1"; then t_pass "$2"; else t_fail "$2" "no trace of session $1 in the store: $(upload_ids | head -n 5 | tr '\n' ' ')"; fi
}
assert_upload_absent() {
	if ! upload_exists "$1"; then t_pass "$2"; else t_fail "$2" "session $1 still in the store"; fi
}

# assert_rows SQL-COUNT-QUERY EXPECTED DESC
assert_rows() {
	local got
	got=$(db "$1")
	if [ "$got" = "$2" ]; then
		t_pass "$3"
	else
		t_fail "$3" "query: $1" "expected: $2" "  actual: $got"
	fi
}

assert_code_in_spec() {
	local c
	c=$(err_code)
	case " $SPEC_CODES " in
	*" $c "*) [ -n "$c" ] && { t_pass "$1 (code $c is a spec code)"; return; } ;;
	esac
	t_fail "$1 (error code is one of the spec's codes)" "code '$c' is not in: $SPEC_CODES"
}

# wait_status STATUS TENTHS METHOD TARGET [curl args...]: repeat the request
# every 0.1 s until it answers STATUS; 0 then, 1 after TENTHS tries.
wait_status() {
	local want=$1 n=$2
	shift 2
	while [ "$n" -gt 0 ]; do
		req "$@"
		[ "$STATUS" = "$want" ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# wait_log ERE: bounded wait (3s) for a line in the current daemon log.
wait_log() {
	local n
	for ((n = 0; n < 30; n++)); do
		grep -Eq -- "$1" "$LOG" && return 0
		sleep 0.1
	done
	return 1
}

# assert_log ERE DESC
assert_log() {
	if wait_log "$1"; then
		t_pass "$2"
	else
		t_fail "$2" "no log line matching /$1/; last lines: $(tail -n 5 "$LOG")"
	fi
}

# assert_no_5xx DESC: no 5xx in any access log line of this script so far.
assert_no_5xx() {
	local bad
	bad=$(cat "$TMP"/daemon.*.log 2>/dev/null | grep -E '^.*access: .* 5[0-9][0-9] in=' | head -n 5)
	if [ -z "$bad" ]; then
		t_pass "$1"
	else
		t_fail "$1" "$bad"
	fi
}

# s3delay_wait: once tests/e2e/s3delay.py was started with its output to
# $PROXY_LOG, wait for its port and point the daemon's S3 endpoint at it
# (E2E_S3_ENDPOINT, read by daemon_start); bails if it does not listen.
s3delay_wait() {
	local i
	for ((i = 0; i < 50; i++)); do
		PROXY_PORT=$(sed -n 's/^s3delay listening on port \([0-9]*\)$/\1/p' "$PROXY_LOG")
		[ -n "$PROXY_PORT" ] && break
		sleep 0.1
	done
	[ -n "$PROXY_PORT" ] || bail "s3delay.py listens" "$(cat "$PROXY_LOG")"
	E2E_S3_ENDPOINT=http://127.0.0.1:$PROXY_PORT
}
