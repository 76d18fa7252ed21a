#!/usr/bin/env bash
# t_pg_concurrent.sh — concurrent pushes to ONE repository all succeed.  A
# busy CI pushes many tags to one repository at once; on the postgres
# metadata backend each write is a SERIALIZABLE transaction, and writers of
# one repository that touched the same rows failed each other until one of
# them gave up after META_PG_TRIES conflicts and its client got a 503.  Eight
# workers, eight clients (tests/e2e/pushstorm.py), each with its own
# connection, started together: the same manifest to 8 x COUNT tags,
# distinct manifests to 8 x COUNT tags, one tag moved by every PUT, pushes
# and deletes of tags and manifests, and the same blob pushed again and
# again.  Every request must get its 2xx, and the rows (psql/sqlite3), the
# tags list and GET by tag must show exactly what was acknowledged; no
# "gave up after" line in the log.  Written for E2E_META=postgres (make
# check-pg); on SQLite (the normal pass) the same storms run as a check of
# its writer threads.
. "$(dirname "$0")/lib.sh"
E2E_WORKERS=8
# Each storm: 8 clients x COUNT requests (a multiple of 4, for churn).
# Before the repository lock (meta_pg.c), 8 x 250 on PostgreSQL failed 1 to
# 7 requests of the "same", "move" and "blob" storms in every run.  SQLite
# has one writer at a time anyway: fewer requests there.
if [ "${E2E_META:-sqlite}" = postgres ]; then COUNT=248; else COUNT=64; fi
COUNT=${E2E_PUSHSTORM_COUNT:-$COUNT}
CLIENTS=8
command -v python3 >/dev/null || {
	echo "ok 1 - python3 is not installed # SKIP"
	echo "1..1"
	exit 0
}
e2e_init
daemon_start

R=bench/bigtags
W=$TMP/w
mkdir -p "$W"
N=$((CLIENTS * COUNT))

# storm MODE: run one; $W/MODE.out has its request lines.
storm() {
	local t0=$SECONDS
	python3 "$E2E_DIR/pushstorm.py" "$BASE" "$R" "$1" "$CLIENTS" "$COUNT" >"$W/$1.out" 2>"$W/$1.err" ||
		bail "pushstorm.py $1 runs" "$(head -c 400 "$W/$1.err")"
	echo "# storm $1: $(wc -l <"$W/$1.out") requests in $((SECONDS - t0))s"
}

# assert_all_ok MODE OP STATUS COUNT: COUNT lines of OP, each with STATUS.
assert_all_ok() {
	local got bad
	got=$(awk -v op="$2" -v st="$3" '$2 == op && $1 == st' "$W/$1.out" | wc -l)
	bad=$(awk -v op="$2" -v st="$3" '$2 == op && $1 != st' "$W/$1.out" | sort | uniq -c | head -n 5)
	if [ "$got" = "$4" ]; then
		t_pass "$1: all $4 concurrent $2s answered $3"
	else
		t_fail "$1: all $4 concurrent $2s answered $3" "$got did; others: $bad"
	fi
}

# The tags of the repository as the API lists them (one page: at most
# 10000), one a line, in byte order.
api_tags() {
	req GET "/v2/$R/tags/list?n=10000"
	[ "$STATUS" = 200 ] || t_fail "GET tags/list" "status $STATUS $(head -c 300 "$BODY")"
	jq -r '.tags[]?' "$BODY" | LC_ALL=C sort
}

db_tags() { # db_tags LIKE: "name digest" of the repository's tags LIKE it
	db "SELECT t.name || ' ' || t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id
	    WHERE r.name = '$R' AND t.name LIKE '$1'" | LC_ALL=C sort
}

# ---------------------------------------------------------------- same manifest
storm same
assert_all_ok same PUT 201 "$N"
awk '$1 == 201 {print $3 " " $4}' "$W/same.out" | LC_ALL=C sort >"$W/same.want"
MS=$(awk 'NR == 1 {print $4}' "$W/same.out")
assert_eq "$(db_tags 's%' | cmp - "$W/same.want" && echo same)" same \
	"same: the database has the $N tags, each on the one manifest"
assert_eq "$(db "SELECT count(*) FROM manifests WHERE digest = '$MS'")" 1 \
	"same: one manifest row for $N PUTs of it"

# ---------------------------------------------------------------- distinct manifests
storm distinct
assert_all_ok distinct PUT 201 "$N"
awk '$1 == 201 {print $3 " " $4}' "$W/distinct.out" | LC_ALL=C sort >"$W/distinct.want"
assert_eq "$(db_tags 'd%' | cmp - "$W/distinct.want" && echo same)" same \
	"distinct: the database has the $N tags, each on its own manifest"
awk '{print $4}' "$W/distinct.out" | LC_ALL=C sort -u >"$W/distinct.digests"
assert_eq "$(db "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id
    WHERE r.name = '$R' AND m.digest <> '$MS'" | LC_ALL=C sort | cmp - "$W/distinct.digests" && echo same)" same \
	"distinct: every acknowledged manifest has its row"

# ---------------------------------------------------------------- one tag moved
storm move
assert_all_ok move PUT 201 "$N"
MOVED=$(db "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id
    WHERE r.name = '$R' AND t.name = 'moving'")
assert_match "$(awk '{print $4}' "$W/move.out" | grep -cxF -- "$MOVED")" '^1$' \
	"move: the tag points at one of the manifests pushed to it ($MOVED)"
req HEAD "/v2/$R/manifests/moving" -H "Accept: $(printf 'application/vnd.oci.image.manifest.v1+json')"
assert_header Docker-Content-Digest "$MOVED" "move: GET by tag answers the database's digest"
awk '$1 == 201 {print $4}' "$W/move.out" | LC_ALL=C sort >"$W/move.acked"
db "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id
    WHERE r.name = '$R'" | LC_ALL=C sort >"$W/move.rows"
assert_eq "$(LC_ALL=C comm -23 "$W/move.acked" "$W/move.rows" | wc -l)/$(wc -l <"$W/move.acked")" \
	"0/$(grep -c '^201 ' "$W/move.out")" "move: every acknowledged manifest has its row"

# ---------------------------------------------------------------- pushes and deletes
storm churn
assert_all_ok churn PUT 201 "$N"
assert_all_ok churn DELTAG 202 "$((N / 4))"
assert_all_ok churn DELMAN 202 "$((N / 4))"
# Each client's last request deleted its manifest, and its tags with it.
assert_eq "$(db_tags 'c%' | wc -l)" 0 "churn: no tag of a deleted manifest is left"
awk '{print $4}' "$W/churn.out" | LC_ALL=C sort -u >"$W/churn.digests"
assert_eq "$(db "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id
    WHERE r.name = '$R'" | grep -cxFf "$W/churn.digests")" 0 \
	"churn: no deleted manifest is left"

# ---------------------------------------------------------------- one blob, again and again
storm blob
assert_all_ok blob POST 201 "$N"

# ---------------------------------------------------------------- the listing
{
	cat "$W/same.want" "$W/distinct.want"
	echo "moving x"
} | awk '{print $1}' | LC_ALL=C sort >"$W/all.want"
api_tags >"$W/all.api"
assert_eq "$(cmp "$W/all.api" "$W/all.want" && echo same)" same \
	"tags/list lists exactly the $((2 * N + 1)) tags acknowledged and not deleted"

if grep -q 'gave up after' "$LOG"; then
	t_fail "no write gave up after serialization conflicts" "$(grep -c 'gave up after' "$LOG") did: $(grep -m 3 'gave up after' "$LOG")"
else
	t_pass "no write gave up after serialization conflicts"
fi
assert_no_5xx "no request answered 5xx"
req GET /metrics
echo "# $(grep -h '^ociregd_sqlite_busy_retries_total' "$BODY") (transactions run again, all storms)"

e2e_finish
