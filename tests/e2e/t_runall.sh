#!/usr/bin/env bash
# t_runall.sh — run-all itself: a "# SKIP" assertion is counted as a skip,
# not a pass, and shown in the closing line ("N passed, N failed, N
# skipped"); under CI=true a skip fails the run (a suite whose tool is
# missing must not come out green).  Runs run-all on tiny fake suites; no
# daemon.
. "$(dirname "$0")/lib.sh"
e2e_init

mk() { # mk NAME BODY: a fake suite that prints BODY and exits 0
	printf '%s\n' "$2" >"$TMP/$1.out"
	printf 'cat %q\nexit 0\n' "$TMP/$1.out" >"$TMP/$1"
}
mk skip.sh $'ok 1 - a real check\nok 2 - # SKIP no tool\nok 3 - TLS reload # skip openssl is missing\n1..3'
mk pass.sh $'ok 1 - fine\n1..1'
mk fail.sh $'ok 1 - fine\nnot ok 2 - broken\n1..2'

# runall [ENV...] -- SUITE...: sets RC and OUT (run-all's output)
runall() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env -u CI E2E_NO_SNAPSHOT=1 "${envs[@]}" timeout 60 "$E2E_DIR/run-all" "$@" </dev/null >"$TMP/runall.out" 2>&1
	RC=$?
	OUT=$(cat "$TMP/runall.out")
}

runall -- "$TMP/skip.sh" "$TMP/pass.sh"
assert_eq "$RC" 0 "locally a skip does not fail the run"
assert_eq "$(tail -n 1 <<<"$OUT")" "2 passed, 0 failed, 2 skipped" "locally the skips are counted apart from the passes"
assert_match "$OUT" '=== skip\.sh: PASS \(1 passed, 2 skipped' "the suite's line shows its skips"
assert_match "$OUT" '# skipped: ok 2 - # SKIP no tool' "each skip is listed with its reason"

runall CI=true -- "$TMP/skip.sh" "$TMP/pass.sh"
assert_ne "$RC" 0 "under CI=true a skip fails the run"
assert_eq "$(tail -n 1 <<<"$OUT")" "2 passed, 2 failed, 2 skipped" "under CI=true the skips count as failures"
assert_match "$OUT" '=== skip\.sh: FAIL .*CI=true' "under CI=true the skipping suite is marked FAIL"
assert_match "$OUT" '# failing scripts: skip\.sh$' "only the skipping suite is listed as failing"

runall CI=true -- "$TMP/pass.sh"
assert_eq "$RC" 0 "under CI=true a run without skips passes"
assert_eq "$(tail -n 1 <<<"$OUT")" "1 passed, 0 failed" "no skips: the closing line has no skip count"

runall -- "$TMP/fail.sh"
assert_ne "$RC" 0 "a failing assertion still fails the run"
assert_eq "$(tail -n 1 <<<"$OUT")" "1 passed, 1 failed" "a failing assertion is counted"

e2e_finish
