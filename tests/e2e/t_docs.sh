#!/usr/bin/env bash
# t_docs.sh — what ships next to the binary: the man pages (mandoc -Tlint
# clean; ociregd.ini.5 documents exactly the keys the parser accepts, with
# print-config's defaults; ociregd.8's SYNOPSIS is --help's usage), the
# systemd units (systemd-analyze verify clean, security rated OK or better)
# and `make install` / `make uninstall` with DESTDIR and PREFIX.  Starts no
# daemon.
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$E2E_DIR/../.." && pwd)
MAN8=$REPO/man/ociregd.8
MAN5=$REPO/man/ociregd.ini.5

e2e_init

# ---------------------------------------------------------------- mandoc

# lint_filter: mandoc -Tlint output less what depends on the machine rather
# than on our pages: "outdated mandoc.db" (the system's database) and a
# reference to another project's page (fsync(2), skopeo(1)) that this
# machine lacks (manpages-dev, skopeo's pages...).  References to our own
# pages must still resolve.
lint_filter() {
	grep -v 'outdated mandoc.db' | grep -v '^$' | awk '
		/STYLE: referenced manual not found: Xr / {
			n = $0; sub(/.*Xr /, "", n); split(n, a, " ")
			if (a[1] != "ociregd" && a[1] != "ociregd.ini") next
		}
		{ print }'
}
sample='mandoc: ociregd.8:307:6: STYLE: referenced manual not found: Xr fsync 2
mandoc: ociregd.8:310:6: STYLE: referenced manual not found: Xr fnmatch 3
mandoc: outdated mandoc.db lacks podman(1) entry, run makewhatis /usr/share/man
mandoc: ociregd.ini.5:19:6: STYLE: referenced manual not found: Xr ociregd 8
mandoc: ociregd.8:12:2: WARNING: skipping paragraph macro: Pp after Sh'
assert_eq "$(printf '%s\n' "$sample" | lint_filter)" "mandoc: ociregd.ini.5:19:6: STYLE: referenced manual not found: Xr ociregd 8
mandoc: ociregd.8:12:2: WARNING: skipping paragraph macro: Pp after Sh" \
	"the lint filter drops notes about other projects' pages only"

if ! command -v mandoc >/dev/null; then
	t_fail "mandoc is installed (scripts/install-deps test)"
else
	for page in ociregd.8 ociregd.ini.5; do
		if [ ! -f "$REPO/man/$page" ]; then
			t_fail "man/$page exists"
			continue
		fi
		# From man/ so cross references between the two pages resolve;
		# "outdated mandoc.db" is about the system's database, not us.
		out=$(cd "$REPO/man" && mandoc -Tlint "$page" 2>&1)
		rc=$?
		out=$(printf '%s\n' "$out" | lint_filter)
		# mandoc's exit status counts the notes filtered out above.
		[ -z "$out" ] && rc=0
		if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
			t_pass "mandoc -Tlint man/$page is clean"
		else
			t_fail "mandoc -Tlint man/$page is clean" "exit $rc" "$out"
		fi
	done
fi
if [ ! -f "$MAN5" ] || [ ! -f "$MAN8" ]; then
	bail "both man pages exist"
fi

# ---------------------------------------------------------------- keys

# print-config: "section.key<TAB>default" for every key it prints.
PC=$TMP/print-config.keys
"$OCIREGD" print-config 2>&1 | awk '
	/^\[[a-z0-9_]+\]$/ { sec = substr($0, 2, length($0) - 2); next }
	/^[a-z_]+ = ?/ && sec != "" {
		k = $1; v = $0; sub(/^[a-z_]+ = ?/, "", v)
		printf "%s.%s\t%s\n", sec, k, v
	}' >"$PC"
n_pc=$(wc -l <"$PC")
if [ "$n_pc" -ge 10 ]; then
	t_pass "print-config prints keys ($n_pc)"
else
	t_fail "print-config prints keys" "only $n_pc: $("$OCIREGD" print-config 2>&1 | head -n 20)"
fi

# ociregd.ini.5 (conventions at the top of the page): one line per key,
# "kind<TAB>named(0|1)<TAB>key<TAB>state<TAB>value" with state default,
# required or unset (value: the example) or none.
DOC=$TMP/man5.keys
awk '
	function flush() {
		if (key != "")
			printf "%s\t%d\t%s\t%s\t%s\n", sec, named, key, state, value
		key = ""
	}
	/^\.S[hs] / { flush(); sec = ""; named = 0 }
	/^\.Ss Bq [a-z_]+/ { sec = $3; named = ($4 != ""); next }
	sec == "" { next }
	/^\.El/ { flush(); next }
	/^\.It Ic [a-z_]+/ { flush(); key = $3; state = "none"; value = ""; want = ""; next }
	key == "" { next }
	/^Default: empty\.$/ { state = "default"; value = ""; next }
	/^Default: not set\.$/ { state = "unset"; next }
	/^Default:$/ { want = "default"; next }
	/^Example:$/ { want = "example"; next }
	/^Required\.$/ { state = "required"; next }
	/^\.Ql / && want != "" {
		v = $0
		sub(/^\.Ql /, "", v)
		sub(/ [.,;:]$/, "", v)
		if (want == "default") { state = "default"; value = v }
		else if (state == "required" || state == "unset") value = v
		want = ""
		next
	}
	{ want = "" }
	END { flush() }' "$MAN5" >"$DOC"
n_doc=$(wc -l <"$DOC")
if [ "$n_doc" -ge "$n_pc" ]; then
	t_pass "ociregd.ini.5 documents keys ($n_doc)"
else
	t_fail "ociregd.ini.5 documents at least as many keys as print-config prints" "$n_doc < $n_pc"
fi

# Every key print-config prints is in the page, with the same default.
while IFS=$'\t' read -r sk def; do
	s=${sk%%.*}
	k=${sk#*.}
	line=$(awk -F'\t' -v s="$s" -v k="$k" '$1 == s && $2 == 0 && $3 == k' "$DOC")
	if [ -z "$line" ]; then
		t_fail "ociregd.ini.5 documents $sk" "no '.It Ic $k' under '.Ss Bq $s'"
		continue
	fi
	IFS=$'\t' read -r _ _ _ state value <<<"$line"
	if [ "$state" = default ] && [ "$value" = "$def" ]; then
		t_pass "ociregd.ini.5 documents $sk, default '$def'"
	else
		t_fail "ociregd.ini.5 documents $sk, default '$def'" "the page says: $state '$value'"
	fi
done <"$PC"

# Every key in the page's plain sections is one print-config prints, and
# the parser accepts it set to its documented default.
while IFS=$'\t' read -r s named k state value; do
	[ "$named" = 0 ] || continue
	if ! grep -q "^$s\.$k"$'\t' "$PC"; then
		t_fail "documented key $s.$k is a key of print-config" "not in: $(cut -f1 "$PC" | tr '\n' ' ')"
		continue
	fi
	f=$TMP/key-$s-$k.ini
	printf '[%s]\n%s = %s\n' "$s" "$k" "$value" >"$f"
	out=$("$OCIREGD" check-config -c "$f" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		t_pass "check-config accepts $s.$k = '$value'"
	else
		t_fail "check-config accepts $s.$k = '$value'" "exit $rc: $out"
	fi
done <"$DOC"

# Named sections: the kinds and keys print-config declares (commented out:
# "#[kind "NAME"]" then "#key = default"), "kind key default" per line.
PARSER_NAMED=$TMP/parser-named.keys
"$OCIREGD" print-config 2>&1 | awk '
	/^\[/ { kind = ""; next }
	/^#\[[a-z_]+ "[A-Z]+"\]$/ { kind = substr($1, 3); next }
	kind != "" && /^#[a-z_]+ =/ {
		k = substr($1, 2); v = $0; sub(/^#[a-z_]+ = ?/, "", v)
		printf "%s %s %s\n", kind, k, v
	}' >"$PARSER_NAMED"
if [ "$(wc -l <"$PARSER_NAMED")" -ge 10 ]; then
	t_pass "print-config declares the named-section keys ($(wc -l <"$PARSER_NAMED"))"
else
	t_fail "print-config declares the named-section keys" "$(cat "$PARSER_NAMED")"
fi
# A named key's default in print-config is the page's default.
while read -r kind k def; do
	line=$(awk -F'\t' -v s="$kind" -v k="$k" '$1 == s && $2 == 1 && $3 == k' "$DOC")
	IFS=$'\t' read -r _ _ _ state value <<<"$line"
	if [ -z "$def" ] && [ "$state" != default ]; then
		t_pass "[$kind \"...\"] $k: no default in print-config nor in the page ($state)"
	elif [ "$state" = default ] && [ "$value" = "$def" ]; then
		t_pass "[$kind \"...\"] $k: default '$def' in print-config and the page"
	else
		t_fail "[$kind \"...\"] $k: print-config's default '$def' is the page's" "the page says: $state '$value'"
	fi
done <"$PARSER_NAMED"
while read -r kind k _; do
	if awk -F'\t' -v s="$kind" -v k="$k" '$1 == s && $2 == 1 && $3 == k { f = 1 } END { exit !f }' "$DOC"; then
		t_pass "ociregd.ini.5 documents [$kind \"...\"] $k"
	else
		t_fail "ociregd.ini.5 documents [$kind \"...\"] $k" "no '.It Ic $k' under '.Ss Bq $kind \\(dq...\\(dq'"
	fi
done <"$PARSER_NAMED"

# Every documented named-section key is accepted, set to its default (or
# its example), next to the kind's required keys.
while IFS=$'\t' read -r s named k state value; do
	[ "$named" = 1 ] || continue
	if ! grep -q "^$s $k\( \|$\)" "$PARSER_NAMED"; then
		t_fail "documented key [$s \"...\"] $k is in the parser's table" "$(tr '\n' ',' <"$PARSER_NAMED")"
		continue
	fi
	if [ "$state" = none ] || { [ "$state" != default ] && [ -z "$value" ]; }; then
		t_fail "ociregd.ini.5 gives [$s \"...\"] $k a default or an example"
		continue
	fi
	f=$TMP/named-$s-$k.ini
	{
		printf '[%s "t"]\n%s = %s\n' "$s" "$k" "$value"
		awk -F'\t' -v s="$s" -v k="$k" '$1 == s && $2 == 1 && $3 != k && $4 == "required" {
			printf "%s = %s\n", $3, $5 }' "$DOC"
	} >"$f"
	out=$("$OCIREGD" check-config -c "$f" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		t_pass "check-config accepts [$s \"t\"] $k = '$value'"
	else
		t_fail "check-config accepts [$s \"t\"] $k = '$value'" "exit $rc: $out" "$(cat "$f")"
	fi
done <"$DOC"

# ---------------------------------------------------------------- synopsis

# Usage lines of --help, and the SYNOPSIS as mandoc renders it, lower-case
# with single spaces (the page writes "file" where --help writes FILE).
norm() { tr '[:upper:]' '[:lower:]' | sed -E 's/[[:space:]]+/ /g; s/^ //; s/ $//'; }
USAGE=$TMP/usage
"$OCIREGD" --help 2>&1 | sed -n '1,/^$/p' | sed 's/^usage://' | grep -v '^$' | norm >"$USAGE"
SYN=$TMP/synopsis
mandoc -Tascii -O width=300 "$MAN8" 2>/dev/null | sed 's/.\x08//g' |
	awk '/^SYNOPSIS/ { on = 1; next } /^[A-Z]/ { on = 0 } on && NF' | norm >"$SYN"
if [ -s "$USAGE" ] && [ -s "$SYN" ]; then
	t_pass "--help prints $(wc -l <"$USAGE") usage lines, the SYNOPSIS has $(wc -l <"$SYN")"
else
	t_fail "--help usage and the SYNOPSIS are readable" "usage: $(cat "$USAGE")" "synopsis: $(cat "$SYN")"
fi
while IFS= read -r u; do
	if grep -qxF -- "$u" "$SYN"; then
		t_pass "ociregd.8 SYNOPSIS lists '$u'"
	else
		t_fail "ociregd.8 SYNOPSIS lists '$u'" "SYNOPSIS: $(tr '\n' '|' <"$SYN")"
	fi
done <"$USAGE"
while IFS= read -r l; do
	grep -qxF -- "$l" "$USAGE" ||
		t_fail "SYNOPSIS line '$l' is a usage line of --help" "usage: $(tr '\n' '|' <"$USAGE")"
done <"$SYN"
# Each command has an entry in the command list.
for cmd in $(awk '$2 ~ /^[a-z][a-z-]*$/ { print $2 }' "$USAGE"); do
	if grep -qE "^\.It Cm $cmd( |$)" "$MAN8"; then
		t_pass "ociregd.8 describes the command $cmd"
	else
		t_fail "ociregd.8 describes the command $cmd" "no '.It Cm $cmd' in $MAN8"
	fi
done

# ---------------------------------------------------------------- systemd

UNITS=()
for u in "$REPO"/systemd/*.service "$REPO"/systemd/*.socket "$REPO"/systemd/*.timer; do
	[ -f "$u" ] && UNITS+=("$u")
done
for want in ociregd.service ociregd.socket; do
	assert_file_exists "$REPO/systemd/$want" "systemd/$want exists"
done

if ! command -v systemd-analyze >/dev/null; then
	t_fail "systemd-analyze is installed (package systemd, scripts/install-deps test)"
else
	# verify needs ExecStart's binary: a copy pointing at the one under test.
	mkdir -p "$TMP/units"
	for u in "${UNITS[@]}"; do
		sed "s|/usr/local/bin/ociregd|$OCIREGD|g" "$u" >"$TMP/units/$(basename "$u")"
	done
	out=$(systemd-analyze verify --man=no "$TMP"/units/* 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
		t_pass "systemd-analyze verify: ${UNITS[*]##*/}"
	else
		t_fail "systemd-analyze verify: ${UNITS[*]##*/}" "exit $rc" "$out"
	fi
	for u in "$REPO"/systemd/*.service; do
		[ -f "$u" ] || continue
		out=$(systemd-analyze security --offline=yes --no-pager "$u" 2>&1)
		rc=$?
		overall=$(printf '%s\n' "$out" | grep 'Overall exposure level' | sed 's/^[^O]*//')
		echo "# $overall"
		# Ratings from best to worst: PERFECT, SAFE, OK, MEDIUM, EXPOSED, UNSAFE.
		if [ "$rc" -eq 0 ] && printf '%s' "$overall" | grep -Eq ': [0-9.]+ (PERFECT|SAFE|OK)( |$)'; then
			t_pass "systemd-analyze security rates $(basename "$u") OK or better"
		else
			t_fail "systemd-analyze security rates $(basename "$u") OK or better" "exit $rc: ${overall:-$(printf '%s\n' "$out" | tail -n 5)}"
		fi
	done
fi

# ---------------------------------------------------------------- install

# make install of the binary under test (run-all may test a snapshot):
# BUILD points at a copy of it, which make is told not to rebuild.
mkdir -p "$TMP/build"
cp "$OCIREGD" "$TMP/build/ociregd" || bail "copy $OCIREGD for make install"
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "$REPO" \
		BUILD="$TMP/build" -o "$TMP/build/ociregd" "$@" 2>&1
}

D=$TMP/root
P=$D/usr/local
out=$(mk install DESTDIR="$D" PREFIX=/usr/local)
rc=$?
if [ "$rc" -eq 0 ]; then
	t_pass "make install DESTDIR=... PREFIX=/usr/local"
else
	bail "make install DESTDIR=... PREFIX=/usr/local" "exit $rc: $out"
fi
if [ -x "$P/bin/ociregd" ] && cmp -s "$P/bin/ociregd" "$OCIREGD"; then
	t_pass "installs bin/ociregd, executable, the binary under test"
else
	t_fail "installs bin/ociregd, executable, the binary under test" "$(ls -l "$P/bin" 2>&1)"
fi
assert_file_exists "$P/share/man/man8/ociregd.8" "installs share/man/man8/ociregd.8"
assert_file_exists "$P/share/man/man5/ociregd.ini.5" "installs share/man/man5/ociregd.ini.5"
for u in "${UNITS[@]}"; do
	assert_file_exists "$P/lib/systemd/system/$(basename "$u")" "installs lib/systemd/system/$(basename "$u")"
done
assert_file_exists "$P/lib/sysusers.d/ociregd.conf" "installs lib/sysusers.d/ociregd.conf"
assert_eq "$(cmp "$REPO/LICENSE" "$P/share/doc/ociregd/LICENSE" 2>&1 && echo same)" same \
	"installs the LICENSE as share/doc/ociregd/LICENSE"
assert_match "$(head -n 3 "$REPO/LICENSE")" '^ISC License' "LICENSE is the ISC licence the sources' SPDX lines name"
n=$(grep -L 'SPDX-License-Identifier: ISC' "$REPO"/src/*.c | wc -l)
assert_eq "$n" 0 "every source file carries SPDX-License-Identifier: ISC"
assert_file_exists "$D/etc/ociregd/ociregd.ini" "installs /etc/ociregd/ociregd.ini"
assert_eq "$(grep '^ExecStart=' "$P/lib/systemd/system/ociregd.service")" \
	"ExecStart=/usr/local/bin/ociregd -c /etc/ociregd/ociregd.ini" "installed unit runs \$PREFIX/bin/ociregd"
# The installed config is etc/ociregd.ini with only the storage root changed.
assert_eq "$(diff "$REPO/etc/ociregd.ini" "$D/etc/ociregd/ociregd.ini" | grep '^[<>]' | tr '\n' '|')" \
	"< root = ./var|> root = /var/lib/ociregd|" "installed config: etc/ociregd.ini with root = /var/lib/ociregd"
assert_match "$(grep '^listen = ' "$D/etc/ociregd/ociregd.ini")" '^listen = 127\.0\.0\.1:5000$' \
	"installed config listens on 127.0.0.1:5000"
if out=$("$P/bin/ociregd" check-config -c "$D/etc/ociregd/ociregd.ini" 2>&1); then
	t_pass "the installed binary accepts the installed config"
else
	t_fail "the installed binary accepts the installed config" "$out"
fi

# The installed units verify against the installed binary, and their
# Documentation= pages resolve in the installed man tree.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$TMP/iunits"
	for u in "$P"/lib/systemd/system/*; do
		sed "s|/usr/local/bin/ociregd|$P/bin/ociregd|g" "$u" >"$TMP/iunits/$(basename "$u")"
	done
	if command -v man >/dev/null; then
		out=$(MANPATH=$P/share/man systemd-analyze verify "$TMP"/iunits/* 2>&1)
		desc="installed units verify, Documentation= man pages included"
	else
		echo "# man(1) is not installed: verify --man=no"
		out=$(systemd-analyze verify --man=no "$TMP"/iunits/* 2>&1)
		desc="installed units verify"
	fi
	rc=$?
	if [ "$rc" -eq 0 ] && [ -z "$out" ]; then t_pass "$desc"; else t_fail "$desc" "exit $rc" "$out"; fi
fi

# A second install keeps the config an admin edited.
echo "# edited by the admin" >>"$D/etc/ociregd/ociregd.ini"
out=$(mk install DESTDIR="$D" PREFIX=/usr/local)
assert_eq "$?" 0 "make install again"
assert_eq "$(tail -n 1 "$D/etc/ociregd/ociregd.ini")" "# edited by the admin" "a second install keeps the edited config"

# Another PREFIX: paths follow it; unedited, uninstall leaves nothing.
D2=$TMP/root2
out=$(mk install DESTDIR="$D2" PREFIX=/opt/ociregd)
assert_eq "$?" 0 "make install DESTDIR=... PREFIX=/opt/ociregd"
assert_eq "$(grep '^ExecStart=' "$D2/opt/ociregd/lib/systemd/system/ociregd.service")" \
	"ExecStart=/opt/ociregd/bin/ociregd -c /etc/ociregd/ociregd.ini" "PREFIX=/opt/ociregd: the unit runs /opt/ociregd/bin/ociregd"
assert_file_exists "$D2/opt/ociregd/bin/ociregd" "PREFIX=/opt/ociregd: bin/ociregd"
out=$(mk uninstall DESTDIR="$D2" PREFIX=/opt/ociregd)
assert_eq "$?" 0 "make uninstall DESTDIR=... PREFIX=/opt/ociregd"
assert_eq "$(find "$D2" ! -type d | tr '\n' ' ')" "" "uninstall removes every file install added (config unedited)"
assert_file_absent "$D2/etc/ociregd" "uninstall removes /etc/ociregd when it holds nothing else"

# Uninstall with the edited config: everything goes but that file.
out=$(mk uninstall DESTDIR="$D" PREFIX=/usr/local)
assert_eq "$?" 0 "make uninstall DESTDIR=... PREFIX=/usr/local"
assert_eq "$(cd "$D" && find . ! -type d | tr '\n' ' ')" "./etc/ociregd/ociregd.ini " \
	"uninstall removes every file install added but the edited config"
assert_match "$out" 'keeping .*/etc/ociregd/ociregd.ini' "uninstall says it keeps the edited config"

e2e_finish
