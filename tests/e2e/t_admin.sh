#!/usr/bin/env bash
# t_admin.sh — an administrator's week (issue 20, reload and configuration):
# the unit's ExecReload= run as written (a broken file fails the reload and
# sends no SIGHUP; a good one reloads), reload warnings naming only the
# restart-only keys that differ from what the process started with,
# users in [access] missing from the users file (a warning; an error with
# check-config --strict; logged at start and reload), start-up errors as
# "FILE:LINE: section.key: reason (what to do)" (users file, TLS files, a
# port in use), the security warnings (no auth on a non-loopback listener,
# [proxy] tls_verify = false, upstream credentials without local auth), and
# the mode `ociregd passwd` keeps on the users file.
. "$(dirname "$0")/lib.sh"
e2e_init
REPO=$(cd "$E2E_DIR/../.." && pwd)
UNIT=$REPO/systemd/ociregd.service

# run CMD...: sets RC, OUT (stdout), ERR (stderr); bounded to 20s.
run() {
	timeout 20 "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# conf [WORKERS] [EXTRA-INI]: the whole config, written atomically.
conf() {
	{
		echo "[server]"
		echo "listen = 127.0.0.1:0"
		echo "workers = ${1:-1}"
		echo "log_level = info"
		echo "[storage]"
		echo "root = $ROOT"
		echo "sync = false"
		[ -n "${2:-}" ] && printf '%s\n' "$2"
		:
	} >"$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
}

mark() { LOG_MARK=$(wc -l <"$LOG"); }
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
# hup_done: after a SIGHUP, wait (5s) for its "reloaded" or "reload refused".
hup_done() {
	local n
	for ((n = 0; n < 50; n++)); do
		since | grep -Eq 'info: reloaded|reload refused' && return 0
		sleep 0.1
	done
	return 1
}

# ================================================================ ExecReload
# The unit's ExecReload= lines, run as systemd runs them: in order, the
# first that fails fails the reload and the rest do not run.  The binary
# and the config path are the ones under test; $MAINPID is the daemon.
mapfile -t RELOAD < <(sed -n 's/^ExecReload=//p' "$UNIT")
if [ "${#RELOAD[@]}" -ge 2 ]; then
	t_pass "ociregd.service has ${#RELOAD[@]} ExecReload= lines"
else
	t_fail "ociregd.service has a check before the SIGHUP (2 or more ExecReload= lines)" "$(printf '%s\n' "${RELOAD[@]}")"
fi
assert_match "${RELOAD[0]}" '^/usr/local/bin/ociregd check-config -c /etc/ociregd/ociregd\.ini$' \
	"the first ExecReload= checks the file the daemon runs with (ExecStart's -c)"
assert_match "$(sed -n 's/^ExecStart=//p' "$UNIT")" ' -c /etc/ociregd/ociregd\.ini$' "ExecStart reads /etc/ociregd/ociregd.ini"
exec_reload() {
	local line argv
	for line in "${RELOAD[@]}"; do
		line=${line//\/usr\/local\/bin\/ociregd/$OCIREGD}
		line=${line//\/etc\/ociregd\/ociregd.ini/$CONF}
		line=${line//\$MAINPID/$DAEMON_PID}
		read -r -a argv <<<"$line"
		"${argv[@]}" </dev/null >>"$TMP/reload.out" 2>&1 || return $?
	done
	return 0
}

conf 1
daemon_start
mark
cp "$CONF" "$TMP/good.ini"
printf '[server]\nworkers = 1\nbogus = 1\n[storage]\nroot = %s\n' "$ROOT" >"$CONF"
: >"$TMP/reload.out"
exec_reload
RC=$?
assert_ne "$RC" 0 "ExecReload with a broken config: non-zero exit (systemctl reload fails)"
assert_match "$(cat "$TMP/reload.out")" "$CONF:3: server\\.bogus: unknown key" "ExecReload with a broken config: the error names FILE:LINE: section.key"
sleep 0.5
assert_eq "$(since | grep -c 'SIGHUP')" 0 "ExecReload with a broken config: no SIGHUP reached the daemon"
req GET /v2/
assert_status 200 "the daemon still serves after the refused reload"
cp "$TMP/good.ini" "$CONF"
mark
exec_reload
assert_eq "$?" 0 "ExecReload with a good config: exit 0"
if hup_done && since | grep -q "info: reloaded $CONF"; then t_pass "ExecReload with a good config: the daemon logs 'reloaded'"; else
	t_fail "ExecReload with a good config: the daemon logs 'reloaded'" "$(since | tail -n 5)"; fi

# ================================================================ restart-only keys
mark
conf 2
kill -HUP "$DAEMON_PID"
hup_done || t_fail "SIGHUP (workers = 2): reloaded within 5s" "$(since | tail -n 5)"
W=$(since | grep 'warn: reload: ')
assert_match "$W" 'reload: server\.workers: changed in .* only at the next start' "workers 1 -> 2: the warning names server.workers"
assert_eq "$(printf '%s' "$W" | grep -Ec 'listen|root|sync|direct_io|tls')" 0 "workers 1 -> 2: the warning names no key that did not change"
mark
conf 2 "log_level = debug"
conf 2
kill -HUP "$DAEMON_PID"
hup_done || t_fail "SIGHUP (workers = 2 again): reloaded within 5s"
assert_match "$(since | grep 'warn: reload: ')" 'server\.workers' "workers still 2 (the process runs 1): still warned"
mark
conf 1
kill -HUP "$DAEMON_PID"
hup_done || t_fail "SIGHUP (workers back to 1): reloaded within 5s"
assert_eq "$(since | grep -c 'warn: reload: .*next start')" 0 "workers set back to its start value: no restart warning"
daemon_stop

# ================================================================ users not in the users file
USERS=$TMP/users
echo 'secret-a' | "$OCIREGD" passwd -c "$TMP/good.ini" alice >/dev/null 2>&1 # no users = : refused
assert_file_absent "$USERS" "passwd without [auth] users writes nothing"
run "$OCIREGD" passwd -c "$TMP/good.ini" alice
assert_match "$ERR" "^$TMP/good\\.ini: auth\\.users: not set" "passwd without [auth] users: 'FILE: auth.users: not set (...)'"
AUTH="[auth]
users = $USERS
token_key = $TMP/token.key
[access \"team/*\"]
pull = *
push = alice, psher"
conf 1 "$AUTH"
ULINE=$(grep -n '^users = ' "$CONF" | cut -d: -f1)
run "$OCIREGD" check-config -c "$CONF"
assert_ne "$RC" 0 "check-config with a users file that does not exist: non-zero"
assert_eq "$ERR" "$CONF:$ULINE: auth.users: $USERS: No such file or directory (create it with \`ociregd passwd -c $CONF USER\`)" \
	"a missing users file: FILE:LINE: auth.users: PATH: reason (create it with ociregd passwd)"
run "$OCIREGD" -c "$CONF"
assert_eq "$RC" 78 "serve with a missing users file exits 78"
assert_match "$ERR" "error: $CONF:$ULINE: auth\\.users: $USERS: No such file or directory \\(create it" "serve logs the same message"
echo 'secret-a' | "$OCIREGD" passwd -c "$CONF" alice >/dev/null 2>&1
assert_eq "$(stat -c %a "$USERS")" 600 "passwd creates the users file with mode 0600"
chmod 0640 "$USERS"
echo 'secret-b' | "$OCIREGD" passwd -c "$CONF" bob >/dev/null 2>&1
assert_eq "$(stat -c %a "$USERS"):$(cut -d: -f1 "$USERS" | tr '\n' ' ')" "640:alice bob " "passwd keeps the users file's mode (0640) when it rewrites it"
PLINE=$(grep -n '^push = ' "$CONF" | cut -d: -f1)
run "$OCIREGD" check-config -c "$CONF"
assert_eq "$RC" 0 "check-config: a user in [access] missing from the users file is not an error"
assert_eq "$OUT" "$CONF: ok" "check-config still prints 'FILE: ok'"
assert_match "$ERR" "^warning: $CONF:$PLINE: access \"team/\\*\"\\.push: user 'psher' is not in the users file $USERS" \
	"check-config warns: FILE:LINE: access \"GLOB\".push: user 'psher' ..."
assert_eq "$(printf '%s\n' "$ERR" | grep -c "alice")" 0 "no warning for alice, who is in the users file"
run "$OCIREGD" check-config --strict -c "$CONF"
assert_eq "$RC" 78 "check-config --strict: the warning fails the check (exit 78)"
assert_eq "$OUT" "" "check-config --strict with a warning does not print 'ok'"
assert_match "$ERR" "psher" "check-config --strict prints the warning"
run "$OCIREGD" gc --strict -c "$CONF"
assert_eq "$RC" 64 "--strict is check-config's only (gc --strict: usage error)"
run "$OCIREGD" --help
assert_match "$OUT" 'check-config \[-c FILE\] \[--strict\]' "--help shows check-config [--strict]"
# An unknown @group stays an error, and says how to define it.
conf 1 "$AUTH, @nosuch"
run "$OCIREGD" check-config -c "$CONF"
assert_match "$ERR" "^$CONF:$PLINE: access \"team/\\*\"\\.push: unknown group @nosuch \\(define it with \\[group \"nosuch\"\\]" \
	"an unknown @group: an error with what to do"
conf 1 "$AUTH"
daemon_start
assert_log "warn: $CONF:$PLINE: access \"team/\\*\"\\.push: user 'psher' is not in the users file" "the daemon logs the warning at start"
mark
conf 1 "${AUTH/psher/carl}"
kill -HUP "$DAEMON_PID"
hup_done || t_fail "SIGHUP (carl): reloaded within 5s"
assert_match "$(since | grep 'warn: ')" "user 'carl' is not in the users file" "the daemon logs the warning at reload, naming the new user"
assert_eq "$(since | grep -c psher)" 0 "after the reload psher is no longer named"
daemon_stop

# ================================================================ TLS files
ROOT=$TMP/var-tls	# a root no daemon has created yet
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
		-days 2 -keyout "$2" -out "$1" >/dev/null 2>&1
}
mkcert "$TMP/cert.pem" "$TMP/key.pem"
mkcert "$TMP/cert2.pem" "$TMP/key2.pem"
tls_conf() { conf 1 "[tls]
certificate = $TMP/cert.pem
key = $1"; }
tls_conf "$TMP/key.pem"
run "$OCIREGD" check-config -c "$CONF"
assert_eq "$RC:$OUT" "0:$CONF: ok" "check-config accepts a matching certificate and key"
KLINE=$(grep -n '^key = ' "$CONF" | cut -d: -f1)
tls_conf "$TMP/key2.pem"
run "$OCIREGD" check-config -c "$CONF"
assert_eq "$ERR" "$CONF:$KLINE: tls.key: $TMP/key2.pem does not match the certificate $TMP/cert.pem (give the key the certificate was made for)" \
	"a key of another certificate: FILE:LINE: tls.key: ... does not match the certificate"
run "$OCIREGD" -c "$CONF"
assert_eq "$RC" 78 "serve with a mismatched key exits 78 (a config error: systemd does not restart it)"
assert_match "$ERR" "error: $CONF:$KLINE: tls\\.key: .* does not match" "serve logs the same message"
assert_file_absent "$ROOT/blobs" "serve refuses the TLS files before touching the storage root"
printf 'not a key\n' >"$TMP/garbage.pem"
tls_conf "$TMP/garbage.pem"
run "$OCIREGD" check-config -c "$CONF"
assert_match "$ERR" "^$CONF:$KLINE: tls\\.key: $TMP/garbage\\.pem is not a PEM private key" "a file that is no key: 'is not a PEM private key'"
assert_eq "$(printf '%s' "$ERR" | grep -c 'error:[0-9A-F]\{8\}')" 0 "no bare OpenSSL error code in the message"
tls_conf "$TMP/missing.pem"
run "$OCIREGD" check-config -c "$CONF"
assert_match "$ERR" "^$CONF:$KLINE: tls\\.key: $TMP/missing\\.pem: cannot be read: No such file or directory" "a missing key: 'cannot be read: No such file or directory'"
conf 1 "[tls]
certificate = $TMP/cert.pem"
run "$OCIREGD" check-config -c "$CONF"
assert_match "$ERR" "^$CONF:[0-9]+: tls\\.certificate: set but tls\\.key is not" "certificate without key: FILE:LINE: tls.certificate: set but tls.key is not"

# ================================================================ a port in use
conf 1
daemon_start
cat >"$TMP/same.ini" <<EOF
[storage]
root = $TMP/other
[server]
listen = 127.0.0.1:$PORT
EOF
run "$OCIREGD" -c "$TMP/same.ini"
assert_eq "$RC" 69 "a second daemon on a port in use exits 69"
assert_match "$ERR" "error: $TMP/same\\.ini:4: server\\.listen: cannot listen on 127\\.0\\.0\\.1:$PORT: Address already in use \\(another process" \
	"a port in use: FILE:LINE: server.listen: cannot listen on ADDR: reason (what to do)"
daemon_stop

# ================================================================ security warnings
conf 1
sed -i 's/^listen = .*/listen = 0.0.0.0:5000/' "$CONF"
run "$OCIREGD" check-config -c "$CONF"
assert_eq "$RC" 0 "check-config: no authentication on 0.0.0.0 is a warning, not an error"
assert_match "$ERR" "^warning: $CONF:2: server\\.listen: 0\\.0\\.0\\.0:5000 is reachable from other hosts and auth\\.users is not set" \
	"no authentication on a non-loopback listener: warned"
run "$OCIREGD" check-config --strict -c "$CONF"
assert_eq "$RC" 78 "the same with --strict: exit 78"
conf 1
run "$OCIREGD" check-config --strict -c "$CONF"
assert_eq "$RC:$ERR" "0:" "no authentication on 127.0.0.1: no warning (--strict passes)"
PROXY='[proxy "hub"]
url = https://127.0.0.1:9/
username = robot
password = hunter2
tls_verify = false'
conf 1 "$PROXY"
VLINE=$(grep -n '^tls_verify' "$CONF" | cut -d: -f1)
NLINE=$(grep -n '^username' "$CONF" | cut -d: -f1)
run "$OCIREGD" check-config -c "$CONF"
assert_eq "$RC" 0 "check-config with tls_verify = false and upstream credentials: exit 0 (warnings)"
assert_match "$ERR" "warning: $CONF:$VLINE: proxy \"hub\"\\.tls_verify: false: the upstream's certificate is not checked" "[proxy] tls_verify = false: warned"
assert_match "$ERR" "warning: $CONF:$NLINE: proxy \"hub\"\\.username: upstream credentials with auth\\.users not set: anyone .* as 'robot'" \
	"[proxy] credentials without local auth: warned"
assert_eq "$(printf '%s' "$ERR" | grep -c hunter2)" 0 "the warning does not print the upstream password"
daemon_start
assert_log "warn: $CONF:$VLINE: proxy \"hub\"\\.tls_verify: false" "the daemon logs the tls_verify warning at start"
assert_log "warn: $CONF:$NLINE: proxy \"hub\"\\.username: upstream credentials" "the daemon logs the credentials warning at start"
daemon_stop
conf 1 "$PROXY
[auth]
users = $USERS
token_key = $TMP/token.key"
run "$OCIREGD" check-config -c "$CONF"
assert_eq "$(printf '%s' "$ERR" | grep -c 'upstream credentials')" 0 "with local auth on, upstream credentials are not warned about"

e2e_finish
