#!/usr/bin/env bash
# t_fsck.sh — `ociregd fsck [--repair]`: a clean registry passes (exit 0);
# a flipped byte, a deleted blob file and stray files are each reported
# with digest and path, and so are the manifests that reference the bad
# blobs (exit 1); --repair quarantines the corrupt blob and drops the rows
# of both, so clients get 404 instead of wrong bytes (still exit 1: there
# were problems); pushing the content again heals it.  Exit codes for
# usage, config and storage errors; progress only on a terminal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
daemon_start

W=$TMP/w
mkdir -p "$W"
A=team/app
blob_json $A "$W/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
mkblob "$W/l1" 20000
mkblob "$W/l2" 30000
push_blob $A "$W/l1"
push_blob $A "$W/l2"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s,%s]}' "$MT_OCI_MANIFEST" \
	"$(desc $MT_OCI_CONFIG "$W/cfg")" "$(desc $MT_OCI_LAYER "$W/l1")" "$(desc $MT_OCI_LAYER "$W/l2")" >"$W/m"
push_manifest $A v1 "$W/m"
M=$(sha256_of "$W/m")
L1=$(sha256_of "$W/l1")
L2=$(sha256_of "$W/l2")

# fsck PHASE [ARGS...]: run fsck; sets OUT, RC.
fsck() {
	OUT=$("$OCIREGD" fsck -c "$CONF" "$@" 2>"$TMP/fsck.err")
	RC=$?
	printf '%s\n' "$OUT" >"$TMP/fsck.out"
}

# ---------------------------------------------------------------- clean
fsck
assert_eq "$RC" 0 "fsck of a clean registry exits 0"
assert_match "$OUT" '^fsck: 4 blobs \([0-9.]+ KiB\) checked in [0-9.]+ s: no problems$' "fsck of a clean registry: no problems"

# ---------------------------------------------------------------- damage
# The files (on S3, the objects) as fsck names them.
P1=$(blob_where "$L1")
P2=$(blob_where "$L2")
blob_flip_byte "$L1" 1000 || bail "flip a byte of $P1"
blob_delete "$L2" || bail "delete $P2"
printf 'stray bytes' >"$W/stray"
S=$(sha256_of "$W/stray")
PS=$(blob_where "$S")
blob_write "$S" "$W/stray" || bail "write $PS"
printf 'junk' >"$W/junk"
store_put_raw blobs/sha256/junk "$W/junk" || bail "write blobs/sha256/junk"
JUNK=$(store_where blobs/sha256/junk)

req GET "/v2/$A/blobs/$L1"
assert_status 200 "before repair the corrupt blob is still served"
assert_ne "$(body_sha256)" "$L1" "before repair its bytes do not match its digest"

fsck
assert_eq "$RC" 1 "fsck with problems exits 1"
blob_read "$L1" "$W/p1" || bail "read $P1"
GOT=$(sha256_of "$W/p1")
assert_match "$OUT" "^corrupt +$L1 $P1: the content hashes to $GOT \\(20000 bytes\\)$" "fsck names the corrupt blob, its path and what its content is"
assert_match "$OUT" "^missing +$L2 $P2: a blob row \\(29.3 KiB\\) without its file$" "fsck names the blob whose file is gone"
assert_match "$OUT" "^stray +$S $PS: a blob file without a row \\(11 bytes" "fsck names the stray blob file"
assert_match "$OUT" "^stray +- $JUNK: a file under blobs/ that is not named like a blob$" "fsck names the stray non-blob file"
assert_match "$OUT" "^manifest $M $A: lists blob $L1, which is corrupt$" "fsck names the manifest of the corrupt blob"
assert_match "$OUT" "^manifest $M $A: lists blob $L2, which is missing its file$" "fsck names the manifest of the missing blob"
assert_match "$OUT" '^fsck: 4 blobs .*: 6 problems \(1 corrupt, 1 missing, 0 wrong size, 2 stray, 2 manifest references\); --repair drops corrupt and missing blobs$' "fsck summary"
assert_blob_stored "$L1" "fsck without --repair changes nothing"
assert_rows "SELECT count(*) FROM blobs" 4 "fsck without --repair keeps every row"

# ---------------------------------------------------------------- repair
fsck --repair
assert_eq "$RC" 1 "fsck --repair exits 1 (problems were found)"
Q=$(store_where "quarantine/sha256-${L1#sha256:}")
assert_match "$OUT" "^corrupt +$L1 $P1: the content hashes to $GOT; repaired: moved to $Q, dropped the row and 1 repository link$" "--repair quarantines the corrupt blob"
assert_match "$OUT" "^missing +$L2 $P2: .*repaired: dropped the row and 1 repository link$" "--repair drops the row of the missing blob"
assert_match "$OUT" "^manifest $M $A: lists blob $L1, which is not in the repository \\(corrupt, dropped by --repair\\)$" "--repair: the manifest now lacks the blob"
assert_match "$OUT" ', 2 repaired$' "--repair summary"
assert_blob_absent "$L1" "the corrupt file left blobs/"
if quarantine_read "sha256-${L1#sha256:}" "$W/q"; then
	t_pass "the corrupt file is in quarantine/"
	assert_eq "$(sha256_of "$W/q")" "$GOT" "quarantine keeps the corrupt bytes as they were"
else
	t_fail "the corrupt file is in quarantine/" "no $Q"
fi
assert_rows "SELECT count(*) FROM blobs WHERE digest IN ('$L1', '$L2')" 0 "--repair dropped both rows"
assert_rows "SELECT count(*) FROM repo_blobs WHERE digest IN ('$L1', '$L2')" 0 "--repair dropped their links"
req GET "/v2/$A/blobs/$L1"
assert_status_error 404 BLOB_UNKNOWN "after repair the corrupt blob is 404, not wrong bytes"
req GET "/v2/$A/blobs/$L2"
assert_status_error 404 BLOB_UNKNOWN "after repair the missing blob is 404"

fsck
assert_eq "$RC" 1 "fsck after repair still finds the strays and the manifest"
assert_match "$OUT" '\(0 corrupt, 0 missing, 0 wrong size, 2 stray, 2 manifest references\)' "after repair: no corrupt or missing blobs"

# ---------------------------------------------------------------- heal
push_blob $A "$W/l1"
push_blob $A "$W/l2"
blob_delete "$S"
store_rm_raw blobs/sha256/junk
fsck
assert_eq "$RC" 0 "pushing the content again heals the registry (fsck exits 0)"
assert_match "$OUT" 'no problems$' "healed: no problems"
req GET "/v2/$A/blobs/$L1"
assert_body_digest "$L1" "the healed blob has the right bytes"
[ -s "$TMP/fsck.err" ] && t_fail "fsck writes nothing to stderr" "$(head -n 5 "$TMP/fsck.err")"

# ---------------------------------------------------------------- progress on a terminal
if command -v script >/dev/null; then
	script -qec "$OCIREGD fsck -c $CONF" /dev/null >"$TMP/tty.out" 2>&1
	if grep -q $'\r''fsck: blobs: [0-9]*/4, ' "$TMP/tty.out"; then
		t_pass "on a terminal fsck shows progress (items, bytes, rate)"
	else
		t_fail "on a terminal fsck shows progress" "$(od -c "$TMP/tty.out" | head -n 10)"
	fi
	assert_match "$(tr -d '\r' <"$TMP/tty.out")" 'no problems' "on a terminal fsck still ends with its summary"
	if grep -q $'\r' "$TMP/fsck.out"; then
		t_fail "without a terminal fsck prints no progress" "$(od -c "$TMP/fsck.out" | head -n 5)"
	else
		t_pass "without a terminal fsck prints no progress"
	fi
fi

# ---------------------------------------------------------------- exit codes
"$OCIREGD" fsck -c "$CONF" --dry-run >/dev/null 2>&1
assert_eq "$?" 64 "fsck --dry-run is a usage error (64)"
"$OCIREGD" gc -c "$CONF" --repair >/dev/null 2>&1
assert_eq "$?" 64 "gc --repair is a usage error (64)"
printf '[storage]\nroot = %s\n[retention "x"]\nkeep_last = many\n' "$ROOT" >"$TMP/bad.ini"
ERR=$("$OCIREGD" fsck -c "$TMP/bad.ini" 2>&1)
assert_eq "$?" 78 "fsck with a bad config exits 78"
assert_match "$ERR" "^$TMP/bad.ini:4: retention \"x\".keep_last: 'many' is not an integer" "the config error names file, line and key"
printf '[storage]\nroot = /dev/null/nowhere\n' >"$TMP/noroot.ini"
"$OCIREGD" fsck -c "$TMP/noroot.ini" >/dev/null 2>&1
assert_eq "$?" 74 "fsck of a storage that cannot be opened exits 74"
"$OCIREGD" gc -c "$TMP/noroot.ini" >/dev/null 2>&1
assert_eq "$?" 74 "gc of a storage that cannot be opened exits 74"

e2e_finish
