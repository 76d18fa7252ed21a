#!/usr/bin/env bash
# t_cli.sh — the command line: version, --help, check-config (ok and every
# kind of error with "FILE:LINE: section.key: reason"), serve refusing a bad
# config, and a port already in use.
. "$(dirname "$0")/lib.sh"
e2e_init

# run CMD...: sets RC, OUT (stdout), ERR (stderr); bounded to 10s.
run() {
	timeout 10 "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# ---- version
run "$OCIREGD" version
assert_eq "$RC" 0 "version exits 0"
assert_match "$OUT" '^ociregd [0-9]+\.[0-9]+\.[0-9]+' "version prints 'ociregd X.Y.Z'"
assert_eq "$ERR" "" "version writes nothing to stderr"

# ---- --help / -h
run "$OCIREGD" --help
assert_eq "$RC" 0 "--help exits 0"
assert_match "$OUT" '^usage: ociregd' "--help prints usage on stdout"
assert_match "$OUT" 'check-config' "--help mentions check-config"
assert_match "$OUT" 'version' "--help mentions version"
run "$OCIREGD" -h
assert_eq "$RC" 0 "-h exits 0"
assert_match "$OUT" '^usage: ociregd' "-h prints usage"

# ---- bad usage
run "$OCIREGD" frobnicate
assert_ne "$RC" 0 "unknown command exits non-zero"
assert_match "$ERR" "unknown command 'frobnicate'" "unknown command is named on stderr"
run "$OCIREGD" --no-such-option
assert_ne "$RC" 0 "unknown option exits non-zero"
assert_match "$ERR" 'usage: ociregd' "unknown option prints usage on stderr"
run "$OCIREGD" version extra-arg
assert_ne "$RC" 0 "stray argument exits non-zero"

# ---- check-config: ok
GOOD=$TMP/good.ini
cat >"$GOOD" <<EOF
# a comment
[server]
listen = 127.0.0.1:0
workers = 2
log_level = debug
; another comment
[storage]
root = $TMP/var
sync = false
[limits]
chunk_min_length = 4k
max_blob_size = 10M
EOF
run "$OCIREGD" check-config -c "$GOOD"
assert_eq "$RC" 0 "check-config on a valid file exits 0"
assert_eq "$OUT" "$GOOD: ok" "check-config prints 'FILE: ok'"
run "$OCIREGD" check-config --config "$GOOD"
assert_eq "$RC" 0 "check-config --config FILE exits 0"
assert_file_absent "$TMP/var" "check-config does not create the storage root"

# The example config (print-config) is itself valid.
run "$OCIREGD" print-config
assert_eq "$RC" 0 "print-config exits 0"
cp "$TMP/out" "$TMP/example.ini"
run "$OCIREGD" check-config -c "$TMP/example.ini"
assert_eq "$RC" 0 "print-config output passes check-config"

# ---- libcurl is loaded only for [proxy] sections (src/curl_dl.c)
PXY=$TMP/proxy.ini
cat >"$PXY" <<EOF
[storage]
root = $TMP/pxvar
[proxy "hub"]
url = http://127.0.0.1:9
EOF
run "$OCIREGD" check-config -c "$PXY"
assert_eq "$RC" 0 "check-config with a [proxy] section and the real libcurl exits 0"
if ldd "$OCIREGD" | grep -q 'libcurl'; then
	t_fail "ociregd is not linked against libcurl" "$(ldd "$OCIREGD" | grep libcurl)"
else
	t_pass "ociregd is not linked against libcurl (loaded on demand)"
fi
# A libcurl.so.4 without curl's symbols, found first through LD_LIBRARY_PATH.
mkdir -p "$TMP/fakecurl"
printf 'int not_curl;\n' >"$TMP/fakecurl/c.c"
if ${CC:-cc} -shared -fPIC -o "$TMP/fakecurl/libcurl.so.4" "$TMP/fakecurl/c.c" 2>"$TMP/err"; then
	LD_LIBRARY_PATH=$TMP/fakecurl run "$OCIREGD" check-config -c "$PXY"
	assert_eq "$RC" 78 "[proxy] section with a broken libcurl: exit 78 (config)"
	assert_match "$ERR" "proxy.*sections need libcurl: libcurl.so.4 has no curl_global_init" \
		"the message names the missing symbol"
	LD_LIBRARY_PATH=$TMP/fakecurl run "$OCIREGD" check-config -c "$GOOD"
	assert_eq "$RC" 0 "without [proxy] sections a broken libcurl does not matter"
else
	t_fail "compile a fake libcurl.so.4" "$(cat "$TMP/err")"
fi

# ---- check-config: errors.  bad_config NAME EXPECTED-LINE ERE-AFTER-LINE
# writes $TMP/NAME.ini from stdin and checks exit status and the message.
bad_config() {
	local f=$TMP/$1.ini line=$2 ere=$3
	cat >"$f"
	run "$OCIREGD" check-config -c "$f"
	assert_ne "$RC" 0 "check-config $1: exits non-zero"
	assert_eq "$OUT" "" "check-config $1: nothing on stdout"
	assert_match "$ERR" "^$(printf '%s' "$f" | sed 's/[.[\*^$/]/\\&/g'):$line: $ere" \
		"check-config $1: stderr is '$1.ini:$line: ...'"
	assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "check-config $1: one line of error"
}

bad_config bad-int 5 'server\.workers: .*abc' <<EOF
# line 1
[server]
listen = 127.0.0.1:0

workers = abc
[storage]
root = $TMP/var
EOF

bad_config unknown-key 4 'server\.bogus_key: unknown key$' <<EOF
[server]
listen = 127.0.0.1:0
workers = 1
bogus_key = 1
EOF

bad_config unknown-key-storage 3 'storage\.rooot: unknown key$' <<EOF
[storage]
root = /tmp/x
rooot = /tmp/y
EOF

# The section header is on line 4, its first key on line 5: either is a fair
# place to point at, but the section must be named.
bad_config unknown-section '[45]' 'unknown section \[bogus\]' <<EOF
[server]
listen = 127.0.0.1:0
# next: a section we do not have
[bogus]
key = value
EOF

bad_config bad-listen 2 "server\.listen: .*not-an-address" <<EOF
[server]
listen = not-an-address
EOF

bad_config bad-listen-port 3 "server\.listen: .*127\.0\.0\.1:99999" <<EOF
[server]
workers = 1
listen = 127.0.0.1:99999
EOF

bad_config bad-listen-noport 2 "server\.listen: " <<EOF
[server]
listen = 127.0.0.1
EOF

bad_config out-of-range 2 'server\.workers: .*range' <<EOF
[server]
workers = 100000
EOF

bad_config bad-level 3 'server\.log_level: .*loud' <<EOF
[server]

log_level = loud
EOF

bad_config bad-bool 3 'storage\.sync: .*maybe' <<EOF
[storage]
root = /tmp/x
sync = maybe
EOF

bad_config bad-size 2 'limits\.max_blob_size: .*lots' <<EOF
[limits]
max_blob_size = lots
EOF

bad_config set-twice 3 'server\.workers: set twice' <<EOF
[server]
workers = 1
workers = 2
EOF

bad_config syntax 3 'syntax error' <<EOF
[server]
workers = 1
this line is not ini
EOF

# ---- missing file
run "$OCIREGD" check-config -c "$TMP/does-not-exist.ini"
assert_ne "$RC" 0 "check-config on a missing file exits non-zero"
assert_match "$ERR" "^$TMP/does-not-exist\.ini: No such file or directory" \
	"check-config on a missing file names the file and the reason"

# ---- serve refuses a bad config, without creating anything
run "$OCIREGD" -c "$TMP/bad-listen.ini"
assert_ne "$RC" 0 "serve with a bad listen value exits non-zero"
assert_match "$ERR" "bad-listen\.ini:2: server\.listen: " "serve reports the config error"
run "$OCIREGD" -c "$TMP/does-not-exist.ini"
assert_ne "$RC" 0 "serve with a missing config exits non-zero"
assert_ne "$RC" 124 "serve with a missing config does not hang"

# ---- a port that is already taken: the second daemon must fail, not share it
daemon_start
cat >"$TMP/same-port.ini" <<EOF
[server]
listen = 127.0.0.1:$PORT
workers = 1
[storage]
root = $TMP/other-root
EOF
timeout 3 "$OCIREGD" -c "$TMP/same-port.ini" </dev/null >"$TMP/out" 2>"$TMP/err"
RC=$?
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then
	t_pass "a second daemon on a port in use exits non-zero (exit $RC)"
else
	t_fail "a second daemon on a port in use exits non-zero" \
		"exit status $RC (124: still running after 3s, killed by timeout); its stderr:" "$(cat "$TMP/err")"
fi
req GET /v2/
assert_status 200 "the first daemon still answers"

e2e_finish
