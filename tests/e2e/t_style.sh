#!/usr/bin/env bash
# t_style.sh — scripts/check-style can fire: on a copy of the tree it
# passes, then each planted violation (a banned function, a library used
# outside its owner, an include that climbs a floor, a file on no floor, a
# file that does not say what it owns) makes it fail and name the rule.
. "$(dirname "$0")/lib.sh"
e2e_init
REPO=$(cd "$E2E_DIR/../.." && pwd)
T=$TMP/tree
fresh() {
	rm -rf "$T"
	mkdir -p "$T"
	cp -r "$REPO/src" "$REPO/include" "$REPO/scripts" "$T/"
}
fresh
out=$("$REPO/scripts/check-style" "$T" 2>&1)
assert_eq "$?" 0 "check-style passes on a copy of the tree"
# plant FILE TEXT RULE-ERE DESC: append TEXT to FILE in a fresh copy; expect
# exit 1 and a message matching RULE-ERE.
plant() {
	fresh
	printf '%s\n' "$2" >>"$T/$1"
	out=$("$REPO/scripts/check-style" "$T" 2>&1)
	rc=$?
	assert_eq "$rc" 1 "check-style fails on $4"
	assert_match "$out" "$3" "... and says why ($4)"
}
plant src/tags.c 'static void f(void) { char b[8]; sprintf(b, "x"); }' 'banned function' "sprintf in tags.c"
plant src/tags.c 'static void f(void) { sqlite3_close(0); }' 'SQLite used outside' "an SQLite call in tags.c"
plant src/manifest.c '#include <sqlite3.h>' 'SQLite used outside' "sqlite3.h included in manifest.c"
plant src/blob.c 'static void f(void) { cJSON_Parse("{}"); }' 'cJSON used outside' "a cJSON call in blob.c"
plant src/tags.c 'static void f(void) { curl_easy_init(); }' 'libcurl used outside' "a libcurl call in tags.c"
plant src/proxy.c '#include "curl_dl.h"' 'libcurl used outside' "curl_dl.h included in proxy.c"
plant src/blob.c 'static void f(void) { bufferevent_write(0, 0, 0); }' 'bufferevents and listeners used outside' "a bufferevent call in blob.c"
plant src/upload.c '#include <http_parser.h>' 'http-parser used outside' "http_parser.h in upload.c"
plant src/server.c '#include "router.h"' 'server.c \(floor 2\) includes router.h \(floor 6\)' "the HTTP layer including the router"
plant src/meta.c '#include "nosuchthing.h"' 'includes nosuchthing.h, which is on no floor' "an include of an unknown header"
plant src/store.c '#include "auth.h"' 'floor 1\) includes auth.h \(floor 3\)' "the blob store including auth"
fresh
printf '/* SPDX-License-Identifier: ISC\n * newthing.c — a file nobody classified.\n */\n' >"$T/src/newthing.c"
out=$("$REPO/scripts/check-style" "$T" 2>&1)
assert_eq "$?" 1 "check-style fails on a file on no floor"
assert_match "$out" 'src/newthing.c: not on any floor' "... and names it"
fresh
sed -i '2d' "$T/src/tags.c"
out=$("$REPO/scripts/check-style" "$T" 2>&1)
assert_eq "$?" 1 "check-style fails on a file whose opening comment does not name it"
assert_match "$out" 'src/tags.c: must open with the SPDX line' "... and names it"
e2e_finish
