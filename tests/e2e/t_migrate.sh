#!/usr/bin/env bash
# t_migrate.sh — `ociregd migrate-metadata`: a registry pushed to on the
# SQLite backend is copied into an empty PostgreSQL database, then served by
# a daemon on the postgres backend over the same blob directory: the same
# digests, tags, catalog and referrers, an upload session that goes on, new
# pushes (ids past the imported ones), fsck clean.  A non-empty target is
# refused without --force and replaced with it; a postgres source and a
# missing --to are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"

# The source is SQLite whatever the run's backend; the target is a database
# of this script's own on E2E_PG_URL's server (or a server of its own).
E2E_META=sqlite
e2e_init
. "$E2E_DIR/lib-pg.sh"
if [ -z "${E2E_PG_URL:-}" ]; then
	if ! pg_bin || ! command -v psql >/dev/null; then
		t_pass "PostgreSQL is not installed # SKIP"
		e2e_finish
	fi
	pg_start || bail "a PostgreSQL server (lib-pg.sh pg_start)"
fi
MIG_DB=$(printf 'e2e_migrate_%s' "$$")
trap 'rc=$?; for d in "$MIG_DB" "${MIG_DB}_latin1" "${MIG_DB}_ascii"; do pg_dropdb "$d"; done; pg_stop; (exit $rc); e2e_cleanup' EXIT
pg_createdb "$MIG_DB" || bail "CREATE DATABASE $MIG_DB"
MIG_URL=$E2E_PG_URL/$MIG_DB
pgq() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$MIG_URL" -c "$1" 2>&1; }
sq() { sqlite3 -batch -noheader "$ROOT/meta.db" "$1" 2>&1; }

# ---------------------------------------------------------------- a registry on SQLite
daemon_start
blob_json mig/app "$TMP/cfg" '{"architecture":"amd64","os":"linux"}'
mkblob "$TMP/layer" 70000
push_blob mig/app "$TMP/layer"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$TMP/cfg")" "$(desc "$MT_OCI_LAYER" "$TMP/layer")" >"$TMP/m1"
M1=$(sha256_of "$TMP/m1")
push_manifest mig/app v1 "$TMP/m1"
push_manifest mig/app latest "$TMP/m1"
# A referrer of m1.
blob_json mig/app "$TMP/empty" '{}'
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":%s,"layers":[%s],"subject":%s}' \
	"$MT_OCI_MANIFEST" "$(desc "$MT_OCI_EMPTY" "$TMP/empty")" "$(desc "$MT_OCI_EMPTY" "$TMP/empty")" \
	"$(desc "$MT_OCI_MANIFEST" "$TMP/m1")" >"$TMP/sig"
SIG=$(sha256_of "$TMP/sig")
push_manifest mig/app "$SIG" "$TMP/sig"
# A second repository by mount.
req POST "/v2/mig/other/blobs/uploads/?mount=$(sha256_of "$TMP/layer")&from=mig/app"
assert_status 201 "mount into mig/other"
req POST "/v2/mig/other/blobs/uploads/?mount=$(sha256_of "$TMP/cfg")&from=mig/app"
push_manifest mig/other 1.0 "$TMP/m1"
# A referrer whose artifactType is UTF-8 beyond ASCII (PostgreSQL keeps
# text as UTF-8: the same bytes must come back, whatever PGCLIENTENCODING).
UT='application/vnd.example.sïg+€'
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":%s,"layers":[],"subject":%s}' \
	"$MT_OCI_MANIFEST" "$UT" "$(desc "$MT_OCI_EMPTY" "$TMP/empty")" "$(desc "$MT_OCI_MANIFEST" "$TMP/m1")" >"$TMP/usig"
req POST "/v2/mig/other/blobs/uploads/?mount=$(sha256_of "$TMP/empty")&from=mig/app"
push_manifest mig/other "$(sha256_of "$TMP/usig")" "$TMP/usig"
# An upload session left open, half pushed.
mkblob "$TMP/half" 50000
slice "$TMP/half" 0 20000 "$TMP/h1"
slice "$TMP/half" 20000 30000 "$TMP/h2"
upload_start mig/app || bail "POST"
req PATCH "$UPLOAD_LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-19999' --data-binary "@$TMP/h1"
assert_status 202 "first half of an upload left open"
SESSION=$UPLOAD_ID
req GET /v2/_catalog
CATALOG=$(jq -c . "$BODY")
req GET "/v2/mig/app/referrers/$M1"
REFS=$(jq -c '[.manifests[].digest]' "$BODY")
assert_eq "$REFS" "[\"$SIG\"]" "the referrer before migration"
daemon_stop

# ---------------------------------------------------------------- refusals
"$OCIREGD" migrate-metadata -c "$CONF" >"$TMP/out" 2>&1
assert_eq "$?" 64 "migrate-metadata without --to: usage (64)"
"$OCIREGD" gc -c "$CONF" --to "$MIG_URL" >"$TMP/out" 2>&1
assert_eq "$?" 64 "--to with another command: usage (64)"

# ---------------------------------------------------------------- migrate
# (PGCLIENTENCODING: the connection's encoding is UTF8 whatever it says.)
PGCLIENTENCODING=LATIN1 "$OCIREGD" migrate-metadata -c "$CONF" --to "$MIG_URL" >"$TMP/out" 2>&1
rc=$?
assert_eq "$rc" 0 "migrate-metadata --to an empty database"
assert_match "$(cat "$TMP/out")" 'copied repositories 2, blobs [0-9]+, ' "it says what it copied ($(tail -n 1 "$TMP/out"))"
for t in repositories blobs repo_blobs manifests manifest_refs tags uploads; do
	assert_eq "$(pgq "SELECT count(*) FROM $t")" "$(sq "SELECT count(*) FROM $t")" "table $t: as many rows in PostgreSQL as in SQLite"
done
q="SELECT r.name, t.name, t.digest, t.updated FROM tags t JOIN repositories r ON r.id = t.repo_id ORDER BY 1, 2"
assert_eq "$(pgq "$q")" "$(sq "$q")" "tags: the same rows, ids resolved to the same names"
q="SELECT id, repo, size, alg FROM uploads ORDER BY id"
assert_eq "$(pgq "$q")" "$(sq "$q")" "upload sessions: the same rows"

"$OCIREGD" migrate-metadata -c "$CONF" --to "$MIG_URL" >"$TMP/out" 2>&1
rc=$?
assert_eq "$rc" 1 "a second migrate-metadata into the now non-empty database is refused (exit 1)"
assert_match "$(cat "$TMP/out")" 'already holds registry metadata.*--force' "it says why and what overrides it"
assert_eq "$(pgq "SELECT count(*) FROM tags")" "$(sq "SELECT count(*) FROM tags")" "the refused run changed nothing"
pgq "INSERT INTO repositories(name, created) VALUES ('stray/repo', 0)" >/dev/null
"$OCIREGD" migrate-metadata -c "$CONF" --to "$MIG_URL" --force >"$TMP/out" 2>&1
assert_eq "$?" 0 "migrate-metadata --force replaces a non-empty target"
assert_eq "$(pgq "SELECT count(*) FROM repositories WHERE name = 'stray/repo'")" 0 "--force: the target's own rows are gone"

# ---------------------------------------------------------------- database encodings
# A database that would convert text (LATIN1 has no euro sign) is refused
# before anything is written; SQL_ASCII (bytes kept as given, the default of
# a cluster made under the C locale) is taken.
pg_admin -c "CREATE DATABASE \"${MIG_DB}_latin1\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null ||
	bail "CREATE DATABASE ... ENCODING 'LATIN1'"
"$OCIREGD" migrate-metadata -c "$CONF" --to "$E2E_PG_URL/${MIG_DB}_latin1" >"$TMP/out" 2>&1
assert_eq "$?" 74 "migrate-metadata into a LATIN1 database is refused (exit 74: the target does not open)"
assert_match "$(cat "$TMP/out")" "database's encoding is LATIN1; .*ENCODING 'UTF8'" "it says why ($(grep -m1 encoding "$TMP/out"))"
assert_eq "$(psql -X -q -A -t "$E2E_PG_URL/${MIG_DB}_latin1" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0 \
	"nothing was created in the LATIN1 database"
pg_admin -c "CREATE DATABASE \"${MIG_DB}_ascii\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null ||
	bail "CREATE DATABASE ... ENCODING 'SQL_ASCII'"
"$OCIREGD" migrate-metadata -c "$CONF" --to "$E2E_PG_URL/${MIG_DB}_ascii" >"$TMP/out" 2>&1
assert_eq "$?" 0 "migrate-metadata into a SQL_ASCII database"
q="SELECT artifact_type FROM manifests WHERE artifact_type LIKE '%sïg%'"
assert_eq "$(psql -X -q -A -t "$E2E_PG_URL/${MIG_DB}_ascii" -c "$q")" "$UT" "SQL_ASCII: the UTF-8 artifactType stored byte for byte"
assert_eq "$(pgq "$q")" "$UT" "UTF8: the UTF-8 artifactType stored as such"

# ---------------------------------------------------------------- what COPY must escape, what PostgreSQL cannot hold
# A copy of the SQLite metadata with an artifactType holding tab, backslash,
# newline and carriage return (COPY's text format escapes them), then an
# upload owner that is not UTF-8: refused by name, the target unchanged.
mkdir -p "$TMP/esc/root"
sq ".backup '$TMP/esc/root/meta.db'" >/dev/null
sed "s#^root = .*#root = $TMP/esc/root#" "$CONF" >"$TMP/esc.ini"
esq() { sqlite3 -batch -noheader "$TMP/esc/root/meta.db" "$1" 2>&1; }
apq() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$E2E_PG_URL/${MIG_DB}_ascii" -c "$1" 2>&1; }
esq "UPDATE manifests SET artifact_type = 'a' || char(9) || 'b\\c' || char(10) || 'd' || char(13) || 'e' WHERE digest = '$SIG'"
q="SELECT artifact_type FROM manifests WHERE digest = '$SIG'"
assert_eq "$(esq "$q")" "$(printf 'a\tb\\c\nd\re')" "the source holds the awkward artifactType"
"$OCIREGD" migrate-metadata -c "$TMP/esc.ini" --to "$E2E_PG_URL/${MIG_DB}_ascii" --force >"$TMP/out" 2>&1
assert_eq "$?" 0 "migrate-metadata of rows with tab, backslash, newline, carriage return"
assert_eq "$(apq "$q")" "$(esq "$q")" "they arrive byte for byte"
esq "UPDATE uploads SET owner = 'bad' || CAST(X'FF' AS TEXT) WHERE id = '$SESSION'"
"$OCIREGD" migrate-metadata -c "$TMP/esc.ini" --to "$E2E_PG_URL/${MIG_DB}_ascii" --force >"$TMP/out" 2>&1
assert_eq "$?" 74 "a source value that is not UTF-8 stops the migration (exit 74)"
assert_match "$(cat "$TMP/out")" 'uploads\.owner holds a value that is not valid UTF-8' "it names the column"
assert_eq "$(apq "$q")" "$(esq "$q")" "the target is as the last good run left it"

# ---------------------------------------------------------------- serve it from PostgreSQL
mkdir -p "$TMP/sqlite-aside"
mv "$ROOT"/meta.db* "$TMP/sqlite-aside/"
cp "$CONF" "$TMP/sqlite.ini"
printf '[metadata]\nbackend = postgres\nurl = %s\n' "$MIG_URL" >>"$CONF"
"$OCIREGD" migrate-metadata -c "$CONF" --to "$MIG_URL" >"$TMP/out" 2>&1
assert_eq "$?" 1 "migrate-metadata from a postgres configuration is refused"
PGCLIENTENCODING=LATIN1 daemon_start
assert_file_absent "$ROOT/meta.db" "the postgres node made no meta.db"
req GET /v2/mig/app/manifests/v1
assert_status 200 "mig/app:v1 from PostgreSQL"
assert_body_digest "$M1" "mig/app:v1"
req GET /v2/mig/other/manifests/1.0
assert_header Docker-Content-Digest "$M1" "mig/other:1.0"
for d in "$(sha256_of "$TMP/cfg")" "$(sha256_of "$TMP/layer")"; do
	req GET "/v2/mig/other/blobs/$d"
	assert_status 200 "blob ${d:7:12} in the mounted repository"
	assert_body_digest "$d" "blob ${d:7:12}"
done
req GET /v2/mig/app/tags/list
assert_eq "$(jq -c .tags "$BODY")" '["latest","v1"]' "tags/list"
req GET /v2/_catalog
assert_eq "$(jq -c . "$BODY")" "$CATALOG" "the same catalog"
req GET "/v2/mig/app/referrers/$M1"
assert_eq "$(jq -c '[.manifests[].digest]' "$BODY")" "$REFS" "the same referrers"
req GET "/v2/mig/other/referrers/$M1?artifactType=$(jq -rn --arg s "$UT" '$s|@uri')"
assert_json '[.manifests[] | [.digest, .artifactType]]' "[[\"$(sha256_of "$TMP/usig")\",\"$UT\"]]" \
	"the UTF-8 artifactType: found by its filter, served byte for byte"
req GET "/v2/mig/app/blobs/uploads/$SESSION"
assert_status 204 "the open upload session survived the migration"
assert_header Range 0-19999 "with its size"
req PUT "/v2/mig/app/blobs/uploads/$SESSION?digest=$(sha256_of "$TMP/half")" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 20000-49999' --data-binary "@$TMP/h2"
assert_status 201 "and it finishes on the postgres node"
# New rows after the imported ones: a new repository gets a fresh id.
blob_json mig/new "$TMP/cfg3" '{"architecture":"arm64","os":"linux"}'
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$TMP/cfg3")" >"$TMP/m3"
push_manifest mig/new v1 "$TMP/m3"
assert_eq "$(pgq "SELECT count(DISTINCT id) FROM repositories")" 3 "three repositories, three ids"
daemon_stop
"$OCIREGD" fsck -c "$CONF" >"$TMP/fsck.out" 2>&1
rc=$?
if [ $rc -eq 0 ]; then t_pass "fsck on the postgres configuration is clean"; else t_fail "fsck clean" "exit $rc: $(tail -n 20 "$TMP/fsck.out")"; fi
e2e_finish
