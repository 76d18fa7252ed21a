/* SPDX-License-Identifier: ISC
 * meta_pg.c — the PostgreSQL metadata backend ([metadata] backend =
 * postgres): the ops of meta_backend.h on the database [metadata] url names
 * (any libpq connection string or URI; passwords come through libpq's own
 * means, PGPASSWORD, ~/.pgpass or passfile=).  The only file that includes
 * libpq-fe.h.
 *
 * The schema is the SQLite backend's (same tables, columns and version
 * numbers, so tools and tests query both alike), created and migrated by
 * ociregd itself under a transaction-scoped advisory lock, so several nodes
 * starting at once migrate once.  Text columns compare in the "C" collation:
 * tag and repository pagination is by byte order, as in SQLite.  Times are
 * unix seconds in bigint columns.
 *
 * Concurrency: SQLite serialised every writer with BEGIN IMMEDIATE; here
 * each op that reads and writes (the checks meta.h documents: references
 * present, session caps, "still unreferenced") runs as one SERIALIZABLE
 * transaction, and a serialization failure or deadlock (SQLSTATE 40001,
 * 40P01) runs it again, a bounded number of times, before it becomes
 * -ERR_UNAVAILABLE.  Single-statement writes that check nothing run in
 * autocommit.  Writers of one repository also wait for each other, on every
 * node: each op that writes a repository's manifests, tags, blob links or
 * upload sessions takes a session advisory lock keyed by the repository's
 * name before its transaction begins and drops it after
 * (meta_pg_repo_lock).  Without it, clients pushing tags of one manifest, or
 * one blob, to one repository at once updated the same rows and failed each
 * other's commits until one gave up and answered 503
 * (tests/e2e/t_pg_concurrent.sh).  The lock costs two round trips per
 * write.  A lost connection fails the op with
 * -ERR_UNAVAILABLE and is re-established (PQreset) at the connection's next
 * op; prepared statements are prepared again after it.
 *
 * Text is UTF-8 (SQLite stores any bytes, PostgreSQL refuses what is not
 * valid in the database's encoding): the connection's client_encoding is
 * UTF8, the database's encoding must be UTF8 (or SQL_ASCII, which stores
 * bytes as given), and every parameter is checked before it is sent.  What
 * the API stores is UTF-8 by grammar (names, tags, digests, ids, media
 * types) or by oci_manifest_parse (artifactType comes from a body checked
 * as strict UTF-8); a lookup by bytes that are not UTF-8 (the referrers'
 * artifactType filter) finds nothing, as on SQLite; any other parameter
 * that is not UTF-8 fails the op with -ERR_UNSUPPORTED (400, logged)
 * rather than a database error.
 * Several nodes on one database (tests/e2e/t_cluster.sh): garbage
 * collection takes a session advisory lock (META_PG_GC_LOCK) from gc_reset
 * to gc_end, so one collection runs at a time across nodes.  The import ops
 * (migrate-metadata) fill an empty database in one transaction, each
 * table's rows streamed through one COPY.
 */
#include <dlfcn.h>
#include <libpq-fe.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "meta.h"
#include "meta_backend.h"
#include "oci.h"

/* libpq is loaded when a postgres backend is first opened, not linked:
 * linking it maps libpq and the libraries it pulls in (GSSAPI, LDAP,
 * OpenSSL's second copy of its state...) into every ociregd, about 3.5 MiB
 * resident in an idle daemon that uses SQLite (the same reason libcurl is
 * loaded by curl_dl.c).  The calls below go through this table; the macros
 * after meta_pg_load() make the rest of the file read as plain libpq. */
#define META_PG_FNS(X) \
	X(PQclear) \
	X(PQntuples) \
	X(PQresultStatus) \
	X(PQgetvalue) \
	X(PQstatus) \
	X(PQreset) \
	X(PQerrorMessage) \
	X(PQgetisnull) \
	X(PQexec) \
	X(PQsetSingleRowMode) \
	X(PQsetNoticeProcessor) \
	X(PQparameterStatus) \
	X(PQsendQueryParams) \
	X(PQresultErrorMessage) \
	X(PQresultErrorField) \
	X(PQprepare) \
	X(PQgetResult) \
	X(PQfinish) \
	X(PQexecPrepared) \
	X(PQexecParams) \
	X(PQconnectdbParams) \
	X(PQcmdTuples) \
	X(PQputCopyData) \
	X(PQputCopyEnd)

static struct {
#define META_PG_MEMBER(f) __typeof__(f) *f;
	META_PG_FNS(META_PG_MEMBER)
#undef META_PG_MEMBER
} meta_pg_lib;
static pthread_once_t meta_pg_once = PTHREAD_ONCE_INIT;
static char meta_pg_load_err[256];

static void
meta_pg_load_once(void)
{
	void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		snprintf(meta_pg_load_err, sizeof(meta_pg_load_err), "cannot load libpq.so.5 (install "
		    "libpq5): %s", dlerror());
		return;
	}
#define META_PG_SYM(f)								\
	if ((*(void **)&meta_pg_lib.f = dlsym(h, #f)) == NULL) {		\
		snprintf(meta_pg_load_err, sizeof(meta_pg_load_err),		\
		    "libpq.so.5 has no %s", #f);				\
		return;								\
	}
	META_PG_FNS(META_PG_SYM)
#undef META_PG_SYM
}

/* 0 once libpq is loaded, or -1 with the reason logged. */
static int
meta_pg_load(void)
{
	pthread_once(&meta_pg_once, meta_pg_load_once);
	if (meta_pg_load_err[0] != '\0') {
		log_error("meta: postgres: %s", meta_pg_load_err);
		return -1;
	}
	return 0;
}

#define PQclear meta_pg_lib.PQclear
#define PQntuples meta_pg_lib.PQntuples
#define PQresultStatus meta_pg_lib.PQresultStatus
#define PQgetvalue meta_pg_lib.PQgetvalue
#define PQstatus meta_pg_lib.PQstatus
#define PQreset meta_pg_lib.PQreset
#define PQerrorMessage meta_pg_lib.PQerrorMessage
#define PQgetisnull meta_pg_lib.PQgetisnull
#define PQexec meta_pg_lib.PQexec
#define PQsetSingleRowMode meta_pg_lib.PQsetSingleRowMode
#define PQsetNoticeProcessor meta_pg_lib.PQsetNoticeProcessor
#define PQparameterStatus meta_pg_lib.PQparameterStatus
#define PQsendQueryParams meta_pg_lib.PQsendQueryParams
#define PQresultErrorMessage meta_pg_lib.PQresultErrorMessage
#define PQresultErrorField meta_pg_lib.PQresultErrorField
#define PQprepare meta_pg_lib.PQprepare
#define PQgetResult meta_pg_lib.PQgetResult
#define PQfinish meta_pg_lib.PQfinish
#define PQexecPrepared meta_pg_lib.PQexecPrepared
#define PQexecParams meta_pg_lib.PQexecParams
#define PQconnectdbParams meta_pg_lib.PQconnectdbParams
#define PQcmdTuples meta_pg_lib.PQcmdTuples
#define PQputCopyData meta_pg_lib.PQputCopyData
#define PQputCopyEnd meta_pg_lib.PQputCopyEnd


/* A serialization failure or deadlock runs the transaction again this many
 * times in all before the op gives up with -ERR_UNAVAILABLE. */
#define META_PG_TRIES 12

/* pg_advisory_xact_lock key of the migration: "ociregd" in ASCII. */
#define META_PG_MIGRATE_LOCK "28548151150307684"

/* pg_advisory_lock key of garbage collection, held by the session from
 * gc_reset to gc_end: one collector at a time across every node on the
 * database (documented in ociregd(8): an operator may take it to pause
 * collections). */
#define META_PG_GC_LOCK "28548151150307671"

/* The class (first key) of the repository locks, pg_advisory_lock(int4,
 * int4): "ocir" in ASCII.  The two-key form is a key space of its own, apart
 * from the single bigint keys above; the second key is the hash of the
 * repository's name (meta_pg_repo_lock). */
#define META_PG_REPO_LOCK_CLASS "1868786034"

enum meta_pg_stmt {
	S_REPO_ID,
	S_REPO_INSERT,
	S_BLOB_INSERT,
	S_REPO_BLOB_INSERT,
	S_REPO_BLOB_GET,
	S_REPO_BLOB_DELETE,
	S_BLOB_FIND_REPO,
	S_UPLOAD_GET,
	S_UPLOAD_SET_SIZE,
	S_UPLOAD_SET_SIZE_LAZY,
	S_UPLOAD_DELETE,
	S_UPLOAD_OPEN,
	S_UPLOAD_COUNT_CLIENT,
	S_UPLOAD_COUNT_OWNER,
	S_UPLOAD_TOUCH,
	S_MANIFEST_INSERT,
	S_MANIFEST_GET,
	S_REF_INSERT,
	S_TAG_UPSERT,
	S_TAG_GET,
	S_MANIFEST_DELETE,
	S_REFS_DELETE,
	S_TAGS_DELETE_DIGEST,
	S_TAG_DELETE,
	S_TAG_LIST,
	S_REPO_LIST,
	S_REFERRERS,
	S_REFERRERS_TYPE,
	S_BLOB_MOUNT,
	S_REPO_BLOB_DELETE_ID,
	S_REF_CHECK_BLOB,
	S_REF_CHECK_MANIFEST,
	S_STATS,
	S_GC_TAG_DELETE,
	S_GC_MANIFEST_DELETE,
	S_GC_LINK_DELETE,
	S_GC_BLOB_DELETE,
	S_REPO_LOCK,
	S_REPO_UNLOCK,
	S_COUNT
};

/* The statements of meta_sqlite.c, in PostgreSQL's dialect: $n parameters,
 * upserts that name their conflict target, casts where a parameter's type
 * cannot be inferred. */
static const char *const meta_pg_sql[S_COUNT] = {
	[S_REPO_ID] = "SELECT id FROM repositories WHERE name = $1",
	/* The id, inserting the repository if it is new, in one round trip:
	 * the SELECT sees the statement's snapshot (not the row the INSERT
	 * adds), so exactly one of the two branches gives a row. */
	[S_REPO_INSERT] = "WITH i AS (INSERT INTO repositories(name, created) VALUES ($1, $2) "
	    "ON CONFLICT (name) DO NOTHING RETURNING id) "
	    "SELECT id FROM i UNION ALL SELECT id FROM repositories WHERE name = $1",
	[S_BLOB_INSERT] = "INSERT INTO blobs(digest, size, created) VALUES ($1, $2, $3) "
	    "ON CONFLICT (digest) DO NOTHING",
	/* A link pushed or mounted again is new again: garbage collection
	 * spares links younger than [gc] grace. */
	[S_REPO_BLOB_INSERT] = "INSERT INTO repo_blobs(repo_id, digest, created) VALUES ($1, $2, $3) "
	    "ON CONFLICT (repo_id, digest) DO UPDATE SET created = excluded.created",
	[S_REPO_BLOB_GET] = "SELECT b.size FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
	    "JOIN blobs b ON b.digest = rb.digest WHERE r.name = $1 AND rb.digest = $2",
	[S_REPO_BLOB_DELETE] = "DELETE FROM repo_blobs WHERE digest = $2 AND repo_id = "
	    "(SELECT id FROM repositories WHERE name = $1)",
	[S_BLOB_FIND_REPO] = "SELECT r.name FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
	    "WHERE rb.digest = $1 AND r.name <> $2 LIMIT 1",
	[S_UPLOAD_GET] = "SELECT repo, size, alg FROM uploads WHERE id = $1",
	[S_UPLOAD_SET_SIZE] = "UPDATE uploads SET size = $2, updated = $3 WHERE id = $1",
	/* Without flush, the size a PATCH reached commits without waiting
	 * for the WAL flush (synchronous_commit off for this one implicit
	 * transaction): visible to every node at once, lost only with the
	 * server, and then the client resumes from the older size; see
	 * meta_sqlite.c's upload_set_size for when that is enough. */
	[S_UPLOAD_SET_SIZE_LAZY] = "WITH a AS (SELECT set_config('synchronous_commit', 'off', true)) "
	    "UPDATE uploads SET size = $2, updated = $3 WHERE id = $1 AND EXISTS (SELECT 1 FROM a)",
	[S_UPLOAD_DELETE] = "DELETE FROM uploads WHERE id = $1",
	[S_UPLOAD_OPEN] = "INSERT INTO uploads(id, repo, size, created, updated, client, owner, alg) "
	    "VALUES ($1, $2, 0, $3, $3, $4, $5, $6)",
	/* Bounded counts: the cap is all we need to know. */
	[S_UPLOAD_COUNT_CLIENT] = "SELECT count(*) FROM (SELECT 1 FROM uploads WHERE client = $1 "
	    "LIMIT $2) s",
	[S_UPLOAD_COUNT_OWNER] = "SELECT count(*) FROM (SELECT 1 FROM uploads WHERE owner = $1 "
	    "LIMIT $2) s",
	[S_UPLOAD_TOUCH] = "UPDATE uploads SET updated = $2 WHERE id = $1",
	[S_MANIFEST_INSERT] = "INSERT INTO manifests(repo_id, digest, media_type, artifact_type, "
	    "subject, size, created) VALUES ($1, $2, $3, $4, $5, $6, $7) "
	    "ON CONFLICT (repo_id, digest) DO UPDATE SET created = excluded.created",
	/* The reads of the hot paths (manifest GET, tags list, referrers)
	 * are one statement each, one round trip: they start from the
	 * repository's row and LEFT JOIN the rest, so no row at all means
	 * no such repository and a row of NULLs means no such manifest, tag
	 * or referrer (the two errors differ).  Each is one index lookup of
	 * the name more than a query by repository id. */
	[S_MANIFEST_GET] = "SELECT m.media_type, m.artifact_type, m.subject, m.size "
	    "FROM repositories r LEFT JOIN manifests m ON m.repo_id = r.id AND m.digest = $2 "
	    "WHERE r.name = $1",
	[S_REF_INSERT] = "INSERT INTO manifest_refs(repo_id, digest, ref, is_manifest) "
	    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
	[S_TAG_UPSERT] = "INSERT INTO tags(repo_id, name, digest, updated) VALUES ($1, $2, $3, $4) "
	    "ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, "
	    "updated = excluded.updated",
	[S_TAG_GET] = "SELECT m.digest, m.media_type, m.artifact_type, m.subject, m.size "
	    "FROM repositories r LEFT JOIN (tags t JOIN manifests m ON m.repo_id = t.repo_id "
	    "AND m.digest = t.digest) ON t.repo_id = r.id AND t.name = $2 WHERE r.name = $1",
	[S_MANIFEST_DELETE] = "DELETE FROM manifests WHERE repo_id = $1 AND digest = $2",
	[S_REFS_DELETE] = "DELETE FROM manifest_refs WHERE repo_id = $1 AND digest = $2",
	[S_TAGS_DELETE_DIGEST] = "DELETE FROM tags WHERE repo_id = $1 AND digest = $2",
	[S_TAG_DELETE] = "DELETE FROM tags WHERE repo_id = $1 AND name = $2",
	/* Read in the order of the primary key (no sort); an empty page asks
	 * again whether the repository exists. */
	[S_TAG_LIST] = "SELECT name FROM tags WHERE repo_id = (SELECT id FROM repositories "
	    "WHERE name = $1) AND name > $2 ORDER BY name LIMIT $3",
	/* A repository exists while it holds a manifest or a blob link
	 * (meta_sqlite.c); LIMIT NULL is no limit. */
	[S_REPO_LIST] = "SELECT name FROM repositories r WHERE name > $1 AND "
	    "(EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.repo_id = r.id) OR "
	    "EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)) ORDER BY name LIMIT $2",
	/* A page: digests after $3, at most $4 rows; the repository's one
	 * row of NULLs when it has none, no row when it does not exist. */
	[S_REFERRERS] = "SELECT m.digest, m.media_type, m.artifact_type, m.subject, m.size "
	    "FROM repositories r LEFT JOIN manifests m ON m.repo_id = r.id AND m.subject = $2 "
	    "AND m.digest > $3 WHERE r.name = $1 ORDER BY m.digest LIMIT $4",
	[S_REFERRERS_TYPE] = "SELECT m.digest, m.media_type, m.artifact_type, m.subject, m.size "
	    "FROM repositories r LEFT JOIN manifests m ON m.repo_id = r.id AND m.subject = $2 "
	    "AND m.digest > $3 AND m.artifact_type = $5 WHERE r.name = $1 ORDER BY m.digest "
	    "LIMIT $4",
	[S_BLOB_MOUNT] = "INSERT INTO repo_blobs(repo_id, digest, created) "
	    "SELECT $1::bigint, $2::text, $3::bigint WHERE EXISTS (SELECT 1 FROM repo_blobs rb "
	    "JOIN repositories r ON r.id = rb.repo_id WHERE r.name = $4 AND rb.digest = $2) "
	    "ON CONFLICT (repo_id, digest) DO UPDATE SET created = excluded.created",
	[S_REPO_BLOB_DELETE_ID] = "DELETE FROM repo_blobs WHERE repo_id = $1 AND digest = $2",
	[S_REF_CHECK_BLOB] = "SELECT 1 FROM repo_blobs WHERE repo_id = $1 AND digest = $2",
	[S_REF_CHECK_MANIFEST] = "SELECT 1 FROM manifests WHERE repo_id = $1 AND digest = $2",
	[S_STATS] = "SELECT (SELECT count(*) FROM uploads), count(*), coalesce(sum(size), 0) "
	    "FROM blobs",
	/* Garbage collection's deletions (meta_pg_gc_op): each re-checks, in
	 * the transaction that deletes, that nothing references the row now. */
	/* Only if nobody moved or re-pushed the tag since the snapshot. */
	[S_GC_TAG_DELETE] = "DELETE FROM tags WHERE repo_id = $1 AND name = $2 AND digest = $3 "
	    "AND updated = $4",
	/* Still unreferenced now: no tag, no index that lists it, no subject
	 * it refers to, and not pushed (again) since the collection began;
	 * its references go in the same statement.  One row: how many went. */
	[S_GC_MANIFEST_DELETE] = "WITH d AS (DELETE FROM manifests WHERE repo_id = $1 "
	    "AND digest = $2 AND created < $3 "
	    "AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = $1 AND t.digest = $2) "
	    "AND NOT EXISTS (SELECT 1 FROM manifest_refs f JOIN manifests p ON p.repo_id = f.repo_id "
	    "  AND p.digest = f.digest WHERE f.repo_id = $1 AND f.ref = $2 AND f.is_manifest = 1) "
	    "AND (subject = '' OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repo_id = $1 "
	    "  AND s.digest = manifests.subject)) RETURNING repo_id, digest), "
	    "r AS (DELETE FROM manifest_refs f USING d WHERE f.repo_id = d.repo_id "
	    "  AND f.digest = d.digest) "
	    "SELECT count(*) FROM d",
	[S_GC_LINK_DELETE] = "DELETE FROM repo_blobs WHERE repo_id = $1 AND digest = $2 "
	    "AND created < $3 "
	    "AND NOT EXISTS (SELECT 1 FROM manifests x WHERE x.repo_id = $1 AND x.digest = $2) "
	    "AND NOT EXISTS (SELECT 1 FROM manifest_refs f WHERE f.repo_id = $1 AND f.ref = $2)",
	[S_GC_BLOB_DELETE] = "DELETE FROM blobs WHERE digest = $1 AND created < $2 "
	    "AND NOT EXISTS (SELECT 1 FROM repo_blobs WHERE digest = $1)",
	[S_REPO_LOCK] = "SELECT pg_advisory_lock(" META_PG_REPO_LOCK_CLASS ", $1)",
	[S_REPO_UNLOCK] = "SELECT pg_advisory_unlock(" META_PG_REPO_LOCK_CLASS ", $1)",
};

/* Forward migrations: meta_pg_migrations[i] takes the schema from version
 * i to i + 1, step for step with meta_sqlite.c's.  Never edit a released
 * step; append a new one. */
static const char *const meta_pg_migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE repositories ("
	"  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  name text COLLATE \"C\" NOT NULL UNIQUE,"
	"  created bigint NOT NULL);"
	"CREATE TABLE blobs ("
	"  digest text COLLATE \"C\" PRIMARY KEY,"
	"  size bigint NOT NULL,"
	"  created bigint NOT NULL);"
	"CREATE TABLE repo_blobs ("
	"  repo_id bigint NOT NULL REFERENCES repositories(id),"
	"  digest text COLLATE \"C\" NOT NULL REFERENCES blobs(digest),"
	"  created bigint NOT NULL,"
	"  PRIMARY KEY (repo_id, digest));"
	"CREATE INDEX repo_blobs_digest ON repo_blobs(digest);"
	"CREATE TABLE uploads ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  repo text COLLATE \"C\" NOT NULL,"
	"  size bigint NOT NULL,"
	"  created bigint NOT NULL,"
	"  updated bigint NOT NULL);"
	"CREATE TABLE manifests ("
	"  repo_id bigint NOT NULL REFERENCES repositories(id),"
	"  digest text COLLATE \"C\" NOT NULL,"
	"  media_type text COLLATE \"C\" NOT NULL,"
	"  artifact_type text COLLATE \"C\" NOT NULL DEFAULT '',"
	"  subject text COLLATE \"C\" NOT NULL DEFAULT '',"
	"  size bigint NOT NULL,"
	"  created bigint NOT NULL,"
	"  PRIMARY KEY (repo_id, digest));"
	"CREATE INDEX manifests_subject ON manifests(repo_id, subject) WHERE subject <> '';"
	"CREATE INDEX manifests_digest ON manifests(digest);"
	"CREATE TABLE manifest_refs ("
	"  repo_id bigint NOT NULL,"
	"  digest text COLLATE \"C\" NOT NULL,"
	"  ref text COLLATE \"C\" NOT NULL,"
	"  is_manifest integer NOT NULL,"
	"  PRIMARY KEY (repo_id, digest, ref));"
	"CREATE INDEX manifest_refs_ref ON manifest_refs(ref);"
	"CREATE TABLE tags ("
	"  repo_id bigint NOT NULL REFERENCES repositories(id),"
	"  name text COLLATE \"C\" NOT NULL,"
	"  digest text COLLATE \"C\" NOT NULL,"
	"  updated bigint NOT NULL,"
	"  PRIMARY KEY (repo_id, name));"
	"CREATE INDEX tags_digest ON tags(repo_id, digest);",
	/* 1 -> 2: the pull-through cache (meta_sqlite.c). */
	"ALTER TABLE repositories ADD COLUMN proxy text COLLATE \"C\" NOT NULL DEFAULT '';"
	"ALTER TABLE blobs ADD COLUMN cached integer NOT NULL DEFAULT 0;"
	"ALTER TABLE blobs ADD COLUMN last_pulled bigint NOT NULL DEFAULT 0;"
	"ALTER TABLE repo_blobs ADD COLUMN cached integer NOT NULL DEFAULT 0;"
	"ALTER TABLE tags ADD COLUMN checked bigint NOT NULL DEFAULT 0;"
	"CREATE INDEX blobs_cached ON blobs(last_pulled, created) WHERE cached = 1;",
	/* 2 -> 3: who opened each upload session. */
	"ALTER TABLE uploads ADD COLUMN client text COLLATE \"C\" NOT NULL DEFAULT '';"
	"ALTER TABLE uploads ADD COLUMN owner text COLLATE \"C\" NOT NULL DEFAULT '';"
	"CREATE INDEX uploads_client ON uploads(client) WHERE client <> '';"
	"CREATE INDEX uploads_owner ON uploads(owner) WHERE owner <> '';",
	/* 3 -> 4: the digest algorithm a session was opened with. */
	"ALTER TABLE uploads ADD COLUMN alg text COLLATE \"C\" NOT NULL DEFAULT '';",
	/* 4 -> 5: creation times, indexed (meta_pg_gc_newest). */
	"CREATE INDEX manifests_created ON manifests(created);"
	"CREATE INDEX repo_blobs_created ON repo_blobs(created);"
	"CREATE INDEX blobs_created ON blobs(created);",
	/* 5 -> 6: nothing here.  SQLite's step 6 indexes references by
	 * (repo_id, ref) and keeps manifest_refs_absent by triggers for the
	 * one lookup across repositories (eviction).  Those triggers are
	 * exact only because SQLite has one writer at a time; here, under
	 * READ COMMITTED, a push adding a reference and an eviction dropping
	 * the blob's links could each miss the other's row, so the same
	 * change needs its own design.  XXX: unmeasured whether PostgreSQL's
	 * collections pay for manifest_refs_ref as SQLite's did.  The step
	 * keeps the two schemas' version numbers in step. */
	"SELECT 1;",
};

#define META_PG_SCHEMA_VERSION ((int)(sizeof(meta_pg_migrations) / sizeof(meta_pg_migrations[0])))

/* One deletion of garbage collection, as a batch keeps it (below). */
enum meta_pg_gc_kind { META_PG_GC_TAG, META_PG_GC_MANIFEST, META_PG_GC_LINK, META_PG_GC_BLOB };
#define META_PG_GC_KEY_MAX 160		/* digests (sha512: 135), tag names (128) */
struct meta_pg_gc_op {
	enum meta_pg_gc_kind kind;
	int64_t repo_id;
	int64_t t;			/* before (manifest, link, blob); updated (tag) */
	char digest[META_PG_GC_KEY_MAX];
	char name[META_PG_GC_KEY_MAX];	/* a tag's */
	int *removed;			/* the caller's, valid until the flush */
};

struct meta_conn {
	PGconn *pg;
	uint64_t busy;			/* retries and reconnects, for metrics */
	int in_tx;			/* inside BEGIN ... COMMIT of ours */
	int conflict;			/* the last failure was 40001/40P01 */
	int lost;			/* logged the connection as lost */
	int gc_locked;			/* holds META_PG_GC_LOCK (session lock) */
	int repo_locked;		/* holds a repository lock (session lock) */
	int gc_batch;			/* a gc batch transaction is open */
	int gc_batch_ops;		/* deletions run in it */
	struct timespec gc_batch_t0;	/* when it began */
	struct meta_pg_gc_op *gc_done;	/* its deletions that removed a row */
	size_t gc_ndone;
	size_t copying;			/* import: meta_tables index + 1 of the open COPY */
	unsigned seed;			/* retry jitter */
	unsigned char prepared[S_COUNT];
};

static int meta_pg_gc_flush(struct meta_conn *c);

/* Integer parameters are passed as text, like every other. */
struct meta_pg_num {
	char s[24];
};

static const char *
meta_pg_i64(struct meta_pg_num *n, int64_t v)
{
	snprintf(n->s, sizeof(n->s), "%" PRId64, v);
	return n->s;
}

static const char *
meta_pg_u64(struct meta_pg_num *n, uint64_t v)
{
	/* bigint columns: sizes past INT64_MAX do not occur (max_blob_size). */
	snprintf(n->s, sizeof(n->s), "%" PRId64, (int64_t)v);
	return n->s;
}

static int64_t
meta_pg_now(void)
{
	return (int64_t)time(NULL);
}

/* A column as a number; a NULL or malformed value (not produced by our
 * queries) reads as 0. */
static int64_t
meta_pg_col_i64(const PGresult *res, int row, int col)
{
	const char *s = PQgetvalue(res, row, col);
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0')
		return 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return 0;
	return (int64_t)v;
}

/* Rows an INSERT, UPDATE or DELETE changed ("" for other commands). */
static int
meta_pg_changed(PGresult *res)
{
	const char *s = PQcmdTuples(res);
	char *end;
	long v;

	if (s == NULL || s[0] == '\0')
		return 0;
	v = strtol(s, &end, 10);
	return *end == '\0' && v > 0 && v <= INT32_MAX ? (int)v : 0;
}

static void
meta_pg_col_copy(const PGresult *res, int row, int col, char *out, size_t cap)
{
	snprintf(out, cap, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* Log a failure once, with what was being done, and map it to an error.
 * res may be NULL (the message is then the connection's). */
static int
meta_pg_fail(struct meta_conn *c, const PGresult *res, const char *what)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
	char text[512];
	size_t len;

	if (msg == NULL || msg[0] == '\0')
		msg = PQerrorMessage(c->pg);
	snprintf(text, sizeof(text), "%s", msg != NULL ? msg : "?");
	/* libpq's messages end in a newline (some span several lines). */
	len = strlen(text);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	if (PQstatus(c->pg) != CONNECTION_OK) {
		if (!c->lost)
			log_error("meta: postgres: %s: connection lost: %s", what, text);
		c->lost = 1;
		return -ERR_UNAVAILABLE;
	}
	if (state != NULL) {
		/* Another transaction won: the caller runs ours again. */
		if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
			log_debug("meta: postgres: %s: %s (%s), retrying", what, text, state);
			c->conflict = 1;
			return -ERR_UNAVAILABLE;
		}
		log_error("meta: postgres: %s: %s (%s)", what, text, state);
		if (strcmp(state, "53100") == 0)	/* disk_full */
			return -ERR_NO_SPACE;
		/* Connection exceptions, too many connections, the server
		 * shutting down or starting, a lock timeout: all pass. */
		if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
		    strncmp(state, "57P", 3) == 0 || strcmp(state, "55P03") == 0)
			return -ERR_UNAVAILABLE;
		return -ERR_INTERNAL;
	}
	log_error("meta: postgres: %s: %s", what, text);
	return -ERR_INTERNAL;
}

/* Before a statement outside a transaction of ours: a connection that was
 * lost is re-established now (PQreset), and its prepared statements with
 * it.  Inside a transaction a lost connection fails the statement. */
static int
meta_pg_ready(struct meta_conn *c)
{
	if (c->in_tx || PQstatus(c->pg) == CONNECTION_OK)
		return 0;
	PQreset(c->pg);
	__atomic_add_fetch(&c->busy, 1, __ATOMIC_RELAXED);
	memset(c->prepared, 0, sizeof(c->prepared));
	/* XXX a collection that loses its connection loses the collector
	 * lock with it and goes on unlocked: the sweep's own re-checks keep
	 * it safe, only "one at a time" is lost. */
	if (c->gc_locked)
		log_warn("meta: postgres: the garbage collector's lock went with the connection");
	c->gc_locked = 0;
	c->repo_locked = 0;
	if (PQstatus(c->pg) != CONNECTION_OK) {
		if (!c->lost)
			log_error("meta: postgres: reconnect: %s", PQerrorMessage(c->pg));
		c->lost = 1;
		return -ERR_UNAVAILABLE;
	}
	log_info("meta: postgres: reconnected");
	c->lost = 0;
	return 0;
}

/* Run a command that returns no rows (BEGIN, COMMIT, DDL). */
static int
meta_pg_cmd(struct meta_conn *c, const char *sql)
{
	PGresult *res;
	int rc = 0;

	if ((rc = meta_pg_ready(c)) != 0)
		return rc;
	res = PQexec(c->pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = meta_pg_fail(c, res, sql);
	PQclear(res);
	return rc;
}

/* 0 if every parameter is UTF-8 (the server would refuse the statement
 * otherwise, an error the client did not cause), else -ERR_UNSUPPORTED,
 * logged with what was being done. */
static int
meta_pg_params_utf8(int n, const char *const *params, const char *what)
{
	for (int i = 0; i < n; i++) {
		if (params[i] != NULL && !oci_utf8_valid(params[i], strlen(params[i]))) {
			log_warn("meta: postgres: %.80s...: parameter $%d is not valid UTF-8, which "
			    "PostgreSQL cannot store as text; refused", what, i + 1);
			return -ERR_UNSUPPORTED;
		}
	}
	return 0;
}

/* Run cached statement s with n text parameters (NULL: SQL NULL).  The
 * result (to PQclear) or NULL with *rc set. */
static PGresult *
meta_pg_run(struct meta_conn *c, enum meta_pg_stmt s, int n, const char *const *params, int *rc)
{
	char name[24];
	PGresult *res;
	ExecStatusType st;

	if ((*rc = meta_pg_params_utf8(n, params, meta_pg_sql[s])) != 0 ||
	    (*rc = meta_pg_ready(c)) != 0)
		return NULL;
	snprintf(name, sizeof(name), "ociregd_%d", (int)s);
	if (!c->prepared[s]) {
		res = PQprepare(c->pg, name, meta_pg_sql[s], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			*rc = meta_pg_fail(c, res, meta_pg_sql[s]);
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		c->prepared[s] = 1;
	}
	res = PQexecPrepared(c->pg, name, n, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		*rc = meta_pg_fail(c, res, meta_pg_sql[s]);
		PQclear(res);
		return NULL;
	}
	*rc = 0;
	return res;
}

/* Run statement s for its effect; *changed (if not NULL) gets the rows it
 * changed. */
static int
meta_pg_exec(struct meta_conn *c, enum meta_pg_stmt s, int n, const char *const *params,
    int *changed)
{
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, s, n, params, &rc)) == NULL)
		return rc;
	if (changed != NULL)
		*changed = meta_pg_changed(res);
	PQclear(res);
	return 0;
}

/* Run a one-off query (gc, fsck, proxy: not hot, not cached) with n
 * parameters; the result or NULL with *rc set. */
static PGresult *
meta_pg_query(struct meta_conn *c, const char *sql, int n, const char *const *params, int *rc)
{
	PGresult *res;
	ExecStatusType st;

	if ((*rc = meta_pg_params_utf8(n, params, sql)) != 0 || (*rc = meta_pg_ready(c)) != 0)
		return NULL;
	res = PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		*rc = meta_pg_fail(c, res, sql);
		PQclear(res);
		return NULL;
	}
	*rc = 0;
	return res;
}

static int
meta_pg_query_exec(struct meta_conn *c, const char *sql, int n, const char *const *params,
    int *changed)
{
	PGresult *res;
	int rc;

	if ((res = meta_pg_query(c, sql, n, params, &rc)) == NULL)
		return rc;
	if (changed != NULL)
		*changed = meta_pg_changed(res);
	PQclear(res);
	return 0;
}

static int
meta_pg_begin(struct meta_conn *c)
{
	int rc;

	c->conflict = 0;
	if ((rc = meta_pg_cmd(c, "BEGIN ISOLATION LEVEL SERIALIZABLE")) != 0)
		return rc;
	c->in_tx = 1;
	return 0;
}

static int
meta_pg_commit(struct meta_conn *c)
{
	int rc = meta_pg_cmd(c, "COMMIT");

	/* A failed COMMIT ends the transaction too. */
	c->in_tx = 0;
	return rc;
}

static void
meta_pg_rollback(struct meta_conn *c)
{
	if (c->in_tx && PQstatus(c->pg) == CONNECTION_OK) {
		PGresult *res = PQexec(c->pg, "ROLLBACK");

		PQclear(res);
	}
	c->in_tx = 0;
}

/* Whether to run a transaction again after it failed with rc: only for a
 * serialization failure or deadlock, and at most META_PG_TRIES times in
 * all, after a short randomised wait that grows with each try. */
static int
meta_pg_again(struct meta_conn *c, int rc, int *tries)
{
	unsigned wait;

	if (rc != -ERR_UNAVAILABLE || !c->conflict)
		return 0;
	c->conflict = 0;
	if (++*tries >= META_PG_TRIES) {
		log_warn("meta: postgres: gave up after %d serialization conflicts", *tries);
		return 0;
	}
	__atomic_add_fetch(&c->busy, 1, __ATOMIC_RELAXED);
	c->seed = c->seed * 1103515245u + 12345u;
	wait = 500u << (*tries < 6 ? *tries : 6);
	usleep(wait / 2 + (c->seed >> 8) % wait);
	return 1;
}

/* Run body (an expression that assigns nothing and yields 0 or an error)
 * as one SERIALIZABLE transaction, again on a serialization failure. */
#define META_PG_TX(c, rc, body) do {					\
	int tries_ = 0;							\
	do {								\
		if (((rc) = meta_pg_begin(c)) != 0)			\
			break;						\
		if (((rc) = (body)) == 0)				\
			(rc) = meta_pg_commit(c);			\
		else							\
			meta_pg_rollback(c);				\
	} while (meta_pg_again((c), (rc), &tries_));			\
} while (0)

/* The second key of a repository's lock: 32-bit FNV-1a of its name, as the
 * int4 the two-key pg_advisory_lock takes.  Two names of one hash share a
 * lock: their writers wait for each other, nothing worse. */
static const char *
meta_pg_repo_key(struct meta_pg_num *n, const char *repo)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)repo; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return meta_pg_i64(n, (int32_t)h);
}

/* Writers of one repository one at a time, across every node: the session
 * lock (META_PG_REPO_LOCK_CLASS, hash of repo), waited for BEFORE the
 * transaction begins.  Inside a SERIALIZABLE transaction the lock would
 * come too late: its first statement takes the snapshot, so a writer that
 * waited there still sees the rows as they were before the holder committed
 * and its writes over them fail (40001), the failure the lock is to spare.
 * Serialised, concurrent pushes of tags and blobs to one repository no
 * longer fail each other until one gives up (META_PG_TRIES); the retries
 * stay for conflicts the lock does not cover (gc, two repositories adding
 * one blob row).  The lock is held across an op's retries.  One repository
 * lock at a time per connection, so writers cannot wait for each other's in
 * a cycle.  XXX if the connection is lost and re-established between the
 * lock and BEGIN, the op runs without the lock: SERIALIZABLE still keeps it
 * correct, only the retries may run out. */
static int
meta_pg_repo_lock(struct meta_conn *c, const char *repo)
{
	struct meta_pg_num n;
	const char *p[1] = {meta_pg_repo_key(&n, repo)};
	int rc;

	if ((rc = meta_pg_exec(c, S_REPO_LOCK, 1, p, NULL)) != 0)
		return rc;
	c->repo_locked = 1;
	return 0;
}

/* Release it on every path, failed or not.  A connection that was lost
 * (or re-established since: meta_pg_ready clears repo_locked) took the
 * lock with it. */
static void
meta_pg_repo_unlock(struct meta_conn *c, const char *repo)
{
	struct meta_pg_num n;
	const char *p[1] = {meta_pg_repo_key(&n, repo)};

	if (!c->repo_locked)
		return;
	c->repo_locked = 0;
	if (PQstatus(c->pg) != CONNECTION_OK)
		return;
	if (meta_pg_exec(c, S_REPO_UNLOCK, 1, p, NULL) != 0)
		log_warn("meta: postgres: could not release the lock of repository %s", repo);
}

/* Run stmt (which sets rc) under repository repo's lock. */
#define META_PG_LOCKED(c, repo, rc, stmt) do {				\
	if (((rc) = meta_pg_repo_lock((c), (repo))) != 0)		\
		break;							\
	stmt;								\
	meta_pg_repo_unlock((c), (repo));				\
} while (0)

/* META_PG_TX for an op that writes repository repo's rows, under its lock. */
#define META_PG_TX_REPO(c, repo, rc, body)				\
	META_PG_LOCKED((c), (repo), (rc), META_PG_TX((c), (rc), (body)))

/* ---- connection, schema ---- */

static int
meta_pg_migrate(struct meta_conn *c)
{
	PGresult *res;
	int version = 0, rc;

	/* One node migrates at a time: the others wait on the lock, then
	 * find the schema current.  The lock ends with the transaction. */
	if ((rc = meta_pg_cmd(c, "BEGIN")) != 0)
		return rc;
	c->in_tx = 1;
	if ((rc = meta_pg_cmd(c, "SELECT pg_advisory_xact_lock(" META_PG_MIGRATE_LOCK ")")) != 0 ||
	    (rc = meta_pg_cmd(c, "CREATE TABLE IF NOT EXISTS ociregd_schema (version integer NOT NULL)"))
	    != 0)
		goto fail;
	if ((res = meta_pg_query(c, "SELECT max(version) FROM ociregd_schema", 0, NULL, &rc)) == NULL)
		goto fail;
	version = (int)meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	if (version > META_PG_SCHEMA_VERSION) {
		log_error("meta: postgres: the database has schema version %d, newer than this "
		    "ociregd (%d)", version, META_PG_SCHEMA_VERSION);
		rc = -ERR_INTERNAL;
		goto fail;
	}
	for (int v = version; v < META_PG_SCHEMA_VERSION; v++) {
		struct meta_pg_num n;
		const char *p[1] = {meta_pg_i64(&n, v + 1)};

		if ((rc = meta_pg_cmd(c, meta_pg_migrations[v])) != 0) {
			log_error("meta: postgres: migration %d -> %d failed", v, v + 1);
			goto fail;
		}
		if ((rc = meta_pg_query_exec(c, v == 0 && version == 0 ?
		    "INSERT INTO ociregd_schema(version) VALUES ($1)" :
		    "UPDATE ociregd_schema SET version = $1", 1, p, NULL)) != 0)
			goto fail;
		log_info("meta: postgres: schema migrated to version %d", v + 1);
	}
	if ((rc = meta_pg_commit(c)) != 0)
		return rc;
	return 0;
fail:
	meta_pg_rollback(c);
	return rc != 0 ? rc : -ERR_INTERNAL;
}

static void
meta_pg_close(struct meta_conn *c)
{
	if (c == NULL)
		return;
	PQfinish(c->pg);
	free(c->gc_done);
	free(c);
}

/* The server's notices ("relation already exists, skipping" at each
 * start's migration check) are not ours to print on stderr, where a
 * command's output is checked. */
static void
meta_pg_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("meta: postgres: %.*s", (int)strcspn(message, "\n"), message);
}

/* Text goes both ways as UTF-8 (client_encoding, set at connect).  The
 * database must store it as such: UTF8; or SQL_ASCII, which keeps bytes as
 * given (no conversion, no check: we send only UTF-8) and is what a cluster
 * initialised under the C locale creates by default.  Any other encoding
 * would convert, and refuse characters it lacks: the node does not start.
 * Both values are reported by the server at connect (no round trip). */
static int
meta_pg_encoding(struct meta_conn *c)
{
	const char *server = PQparameterStatus(c->pg, "server_encoding");
	const char *client = PQparameterStatus(c->pg, "client_encoding");

	if (server == NULL || (strcmp(server, "UTF8") != 0 && strcmp(server, "SQL_ASCII") != 0)) {
		log_error("meta: postgres: the database's encoding is %s; ociregd keeps its text in "
		    "UTF-8 and needs a database created with ENCODING 'UTF8' (CREATE DATABASE ... "
		    "ENCODING 'UTF8' TEMPLATE template0)", server != NULL ? server : "not reported");
		return -1;
	}
	if (client == NULL || strcmp(client, "UTF8") != 0) {
		log_error("meta: postgres: the connection's client_encoding is %s, not UTF8",
		    client != NULL ? client : "not reported");
		return -1;
	}
	return 0;
}

static struct meta_conn *
meta_pg_open(const struct config *cfg)
{
	struct meta_conn *c;

	if (meta_pg_load() != 0)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("meta: out of memory");
		return NULL;
	}
	c->seed = (unsigned)getpid() ^ (unsigned)(uintptr_t)c;
	/* The URL is not logged: it may carry a password.  A bounded
	 * connect_timeout unless the URL sets its own (it comes later, so it
	 * wins): PQreset runs in a worker, which must not hang on a server
	 * that drops packets.  client_encoding comes after the URL, so it
	 * wins over the URL's and PGCLIENTENCODING, and is kept by PQreset
	 * (a SET after connecting would not be). */
	static const char *const keys[] = {"connect_timeout", "fallback_application_name",
	    "dbname", "client_encoding", NULL};
	const char *vals[] = {"10", "ociregd", cfg->meta_url, "UTF8", NULL};

	if ((c->pg = PQconnectdbParams(keys, vals, 1)) == NULL) {
		log_error("meta: postgres: out of memory");
		goto fail;
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		char text[512];
		size_t len;

		snprintf(text, sizeof(text), "%s", PQerrorMessage(c->pg));
		len = strlen(text);
		while (len > 0 && text[len - 1] == '\n')
			text[--len] = '\0';
		log_error("meta: postgres: connect: %s", text);
		goto fail;
	}
	PQsetNoticeProcessor(c->pg, meta_pg_notice, c);
	/* Times are ours (unix seconds), so the session time zone does not
	 * matter; the encoding does. */
	if (meta_pg_encoding(c) != 0)
		goto fail;
	if (meta_pg_migrate(c) != 0)
		goto fail;
	return c;
fail:
	meta_pg_close(c);
	return NULL;
}

static int
meta_pg_schema_version(struct meta_conn *c)
{
	PGresult *res;
	int rc, v;

	if ((res = meta_pg_query(c, "SELECT max(version) FROM ociregd_schema", 0, NULL, &rc)) == NULL)
		return -1;
	v = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? (int)meta_pg_col_i64(res, 0, 0) : -1;
	PQclear(res);
	return v;
}

static uint64_t
meta_pg_busy_retries(struct meta_conn *c)
{
	return __atomic_load_n(&c->busy, __ATOMIC_RELAXED);
}

static int
meta_pg_stats(struct meta_conn *c, uint64_t *uploads, uint64_t *blobs, uint64_t *bytes)
{
	PGresult *res;
	int rc;

	/* A query, not a cached answer: readiness fails while the database
	 * is down. */
	if ((res = meta_pg_run(c, S_STATS, 0, NULL, &rc)) == NULL)
		return rc;
	*uploads = (uint64_t)meta_pg_col_i64(res, 0, 0);
	*blobs = (uint64_t)meta_pg_col_i64(res, 0, 1);
	*bytes = (uint64_t)meta_pg_col_i64(res, 0, 2);
	PQclear(res);
	return 0;
}

/* ---- repositories and blobs ---- */

/* Repository id; with create, inserts it.  0, -ERR_NAME_UNKNOWN or error. */
static int
meta_pg_repo_id(struct meta_conn *c, const char *repo, int create, int64_t *id)
{
	struct meta_pg_num now;
	const char *p[2] = {repo, meta_pg_i64(&now, meta_pg_now())};
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, create ? S_REPO_INSERT : S_REPO_ID, create ? 2 : 1, p, &rc)) == NULL)
		return rc;
	rc = PQntuples(res) > 0 ? 0 : -ERR_NAME_UNKNOWN;
	if (rc == 0)
		*id = meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

static int
meta_pg_repo_exists(struct meta_conn *c, const char *repo)
{
	int64_t id;

	return meta_pg_repo_id(c, repo, 0, &id);
}

/* The blob and repo_blobs rows of repository id, inside the caller's
 * transaction. */
static int
meta_pg_blob_link_id(struct meta_conn *c, int64_t id, const char *digest, uint64_t size)
{
	struct meta_pg_num n1, n2, n3;
	int rc;

	{
		const char *p[3] = {digest, meta_pg_u64(&n1, size), meta_pg_i64(&n2, meta_pg_now())};

		if ((rc = meta_pg_exec(c, S_BLOB_INSERT, 3, p, NULL)) != 0)
			return rc;
	}
	{
		const char *p[3] = {meta_pg_i64(&n1, id), digest, meta_pg_i64(&n3, meta_pg_now())};

		return meta_pg_exec(c, S_REPO_BLOB_INSERT, 3, p, NULL);
	}
}

static int
meta_pg_blob_link_tx(struct meta_conn *c, const char *repo, const char *digest, uint64_t size)
{
	int64_t id;
	int rc;

	if ((rc = meta_pg_repo_id(c, repo, 1, &id)) != 0)
		return rc;
	return meta_pg_blob_link_id(c, id, digest, size);
}

static int
meta_pg_blob_link(struct meta_conn *c, const char *repo, const char *digest, uint64_t size)
{
	int rc;

	META_PG_TX_REPO(c, repo, rc, meta_pg_blob_link_tx(c, repo, digest, size));
	return rc;
}

static int
meta_pg_blob_get(struct meta_conn *c, const char *repo, const char *digest, uint64_t *size)
{
	const char *p[2] = {repo, digest};
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, S_REPO_BLOB_GET, 2, p, &rc)) == NULL)
		return rc;
	rc = PQntuples(res) > 0 ? 0 : -ERR_BLOB_UNKNOWN;
	if (rc == 0)
		*size = (uint64_t)meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

static int
meta_pg_blob_unlink_one(struct meta_conn *c, const char *repo, const char *digest)
{
	const char *p[2] = {repo, digest};
	int rc, n = 0;

	if ((rc = meta_pg_exec(c, S_REPO_BLOB_DELETE, 2, p, &n)) != 0)
		return rc;
	return n > 0 ? 0 : -ERR_BLOB_UNKNOWN;
}

/* One statement in autocommit, but under the repository's lock: a push of
 * the blob to the repository at the same moment would fail to commit over
 * the deleted row (40001) and run again. */
static int
meta_pg_blob_unlink(struct meta_conn *c, const char *repo, const char *digest)
{
	int rc;

	META_PG_LOCKED(c, repo, rc, rc = meta_pg_blob_unlink_one(c, repo, digest));
	return rc;
}

static int
meta_pg_blob_find_repo(struct meta_conn *c, const char *digest, const char *except,
    char out[REFERENCE_NAME_MAX + 1])
{
	const char *p[2] = {digest, except};
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, S_BLOB_FIND_REPO, 2, p, &rc)) == NULL)
		return rc;
	rc = PQntuples(res) > 0 ? 0 : -ERR_BLOB_UNKNOWN;
	if (rc == 0)
		meta_pg_col_copy(res, 0, 0, out, REFERENCE_NAME_MAX + 1);
	PQclear(res);
	return rc;
}

static int
meta_pg_blob_mount_tx(struct meta_conn *c, const char *src, const char *dst, const char *digest)
{
	struct meta_pg_num n1, n2;
	int64_t id;
	int rc, changed = 0;

	if ((rc = meta_pg_repo_id(c, dst, 1, &id)) != 0)
		return rc;
	{
		const char *p[4] = {meta_pg_i64(&n1, id), digest, meta_pg_i64(&n2, meta_pg_now()), src};

		if ((rc = meta_pg_exec(c, S_BLOB_MOUNT, 4, p, &changed)) != 0)
			return rc;
	}
	if (changed == 0 && strcmp(src, dst) != 0) {
		/* Either the source lost it, or dst had it already. */
		uint64_t size;

		if ((rc = meta_pg_blob_get(c, dst, digest, &size)) != 0)
			return rc;
	}
	return 0;
}

static int
meta_pg_blob_mount(struct meta_conn *c, const char *src, const char *dst, const char *digest)
{
	int rc;

	META_PG_TX_REPO(c, dst, rc, meta_pg_blob_mount_tx(c, src, dst, digest));
	return rc;
}

/* ---- upload sessions ---- */

/* How many sessions (at most max) match key through statement s. */
static int
meta_pg_upload_count(struct meta_conn *c, enum meta_pg_stmt s, const char *key, int max, int *n)
{
	struct meta_pg_num m;
	const char *p[2] = {key, meta_pg_i64(&m, max)};
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, s, 2, p, &rc)) == NULL)
		return rc;
	*n = (int)meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int
meta_pg_upload_open_tx(struct meta_conn *c, const char *id, const char *repo, const char *client,
    const char *user, const char *alg, int max_client, int max_user)
{
	struct meta_pg_num now;
	int n, rc;

	/* Count and insert in one SERIALIZABLE transaction: of two POSTs of
	 * the same client that both saw room for one more, one fails to
	 * commit and counts again. */
	if (client[0] != '\0' && max_client > 0) {
		if ((rc = meta_pg_upload_count(c, S_UPLOAD_COUNT_CLIENT, client, max_client, &n)) != 0)
			return rc;
		if (n >= max_client)
			return -ERR_TOOMANYREQUESTS;
	}
	if (user[0] != '\0' && max_user > 0) {
		if ((rc = meta_pg_upload_count(c, S_UPLOAD_COUNT_OWNER, user, max_user, &n)) != 0)
			return rc;
		if (n >= max_user)
			return -ERR_TOOMANYREQUESTS;
	}
	{
		const char *p[6] = {id, repo, meta_pg_i64(&now, meta_pg_now()), client, user, alg};

		return meta_pg_exec(c, S_UPLOAD_OPEN, 6, p, NULL);
	}
}

static int
meta_pg_upload_open(struct meta_conn *c, const char *id, const char *repo, const char *client,
    const char *user, const char *alg, int max_client, int max_user)
{
	int rc;

	/* Under the repository's lock too: the sessions' counts conflicted
	 * with upload_finish's deletion of sessions of the same client (8
	 * clients pushing one blob to one repository: about 1100 retries in
	 * 2000 pushes without it, none with it).  Counts of one client across
	 * repositories still conflict, and are run again. */
	META_PG_TX_REPO(c, repo, rc, meta_pg_upload_open_tx(c, id, repo, client, user, alg,
	    max_client, max_user));
	return rc;
}

static int
meta_pg_upload_touch(struct meta_conn *c, const char *id)
{
	struct meta_pg_num now;
	const char *p[2] = {id, meta_pg_i64(&now, meta_pg_now())};
	int rc, n = 0;

	if ((rc = meta_pg_exec(c, S_UPLOAD_TOUCH, 2, p, &n)) != 0)
		return rc;
	return n > 0 ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
}

static int
meta_pg_upload_get(struct meta_conn *c, const char *id, char repo[REFERENCE_NAME_MAX + 1],
    uint64_t *size, char alg[META_UPLOAD_ALG_MAX + 1])
{
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, S_UPLOAD_GET, 1, &id, &rc)) == NULL)
		return rc;
	rc = PQntuples(res) > 0 ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
	if (rc == 0) {
		meta_pg_col_copy(res, 0, 0, repo, REFERENCE_NAME_MAX + 1);
		*size = (uint64_t)meta_pg_col_i64(res, 0, 1);
		if (alg != NULL)
			meta_pg_col_copy(res, 0, 2, alg, META_UPLOAD_ALG_MAX + 1);
	}
	PQclear(res);
	return rc;
}

static int
meta_pg_upload_set_size(struct meta_conn *c, const char *id, uint64_t size, int flush)
{
	struct meta_pg_num n1, n2;
	const char *p[3] = {id, meta_pg_u64(&n1, size), meta_pg_i64(&n2, meta_pg_now())};
	int rc, n = 0;

	if ((rc = meta_pg_exec(c, flush ? S_UPLOAD_SET_SIZE : S_UPLOAD_SET_SIZE_LAZY, 3, p, &n)) != 0)
		return rc;
	return n > 0 ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
}

static int
meta_pg_upload_delete(struct meta_conn *c, const char *id)
{
	int rc, n = 0;

	if ((rc = meta_pg_exec(c, S_UPLOAD_DELETE, 1, &id, &n)) != 0)
		return rc;
	return n > 0 ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
}

static int
meta_pg_upload_finish_tx(struct meta_conn *c, const char *id, const char *repo,
    const char *digest, uint64_t size)
{
	int rc;

	if ((rc = meta_pg_upload_delete(c, id)) != 0)
		return rc;
	return meta_pg_blob_link_tx(c, repo, digest, size);
}

static int
meta_pg_upload_finish(struct meta_conn *c, const char *id, const char *repo,
    const char *digest, uint64_t size)
{
	int rc;

	META_PG_TX_REPO(c, repo, rc, meta_pg_upload_finish_tx(c, id, repo, digest, size));
	return rc;
}

/* ---- manifests ---- */

static int
meta_pg_manifest_put_tx(struct meta_conn *c, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *const *tags, size_t ntags)
{
	struct meta_pg_num nid, nsize, now;
	PGresult *res;
	int64_t id;
	int rc;

	if ((rc = meta_pg_repo_id(c, repo, 1, &id)) != 0)
		return rc;
	/* The manifest's own bytes are a blob of this repository too. */
	if ((rc = meta_pg_blob_link_id(c, id, mf->digest, mf->size)) != 0)
		return rc;
	meta_pg_i64(&nid, id);
	meta_pg_i64(&now, meta_pg_now());
	{
		const char *p[7] = {nid.s, mf->digest, mf->media_type, mf->artifact_type, mf->subject,
		    meta_pg_u64(&nsize, mf->size), now.s};

		if ((rc = meta_pg_exec(c, S_MANIFEST_INSERT, 7, p, NULL)) != 0)
			return rc;
	}
	for (size_t i = 0; i < nrefs; i++) {
		const char *p[4] = {nid.s, refs[i].digest, NULL, NULL};

		/* Checked again in the transaction: garbage collection may
		 * have dropped a blob since the handler looked (SERIALIZABLE
		 * makes one of the two fail if both commit otherwise). */
		if (!refs[i].skip_check) {
			if ((res = meta_pg_run(c, refs[i].is_manifest ? S_REF_CHECK_MANIFEST :
			    S_REF_CHECK_BLOB, 2, p, &rc)) == NULL)
				return rc;
			rc = PQntuples(res) > 0 ? 0 : -ERR_MANIFEST_BLOB_UNKNOWN;
			PQclear(res);
			if (rc != 0)
				return rc;
		}
		p[1] = mf->digest;
		p[2] = refs[i].digest;
		p[3] = refs[i].is_manifest ? "1" : "0";
		if ((rc = meta_pg_exec(c, S_REF_INSERT, 4, p, NULL)) != 0)
			return rc;
	}
	for (size_t i = 0; i < ntags; i++) {
		const char *p[4] = {nid.s, tags[i], mf->digest, now.s};

		if ((rc = meta_pg_exec(c, S_TAG_UPSERT, 4, p, NULL)) != 0)
			return rc;
	}
	return 0;
}

static int
meta_pg_manifest_put(struct meta_conn *c, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *const *tags, size_t ntags)
{
	int rc;

	META_PG_TX_REPO(c, repo, rc, meta_pg_manifest_put_tx(c, repo, mf, refs, nrefs, tags, ntags));
	return rc;
}

static void
meta_pg_row_manifest(const PGresult *res, int row, struct meta_manifest *out)
{
	meta_pg_col_copy(res, row, 0, out->digest, sizeof(out->digest));
	meta_pg_col_copy(res, row, 1, out->media_type, sizeof(out->media_type));
	meta_pg_col_copy(res, row, 2, out->artifact_type, sizeof(out->artifact_type));
	meta_pg_col_copy(res, row, 3, out->subject, sizeof(out->subject));
	out->size = (uint64_t)meta_pg_col_i64(res, row, 4);
}

/* A hot read's answer (see S_MANIFEST_GET): no row, no repository; a
 * first row of NULLs, nothing under it. */
static int
meta_pg_found(const PGresult *res)
{
	if (PQntuples(res) == 0)
		return -ERR_NAME_UNKNOWN;
	return PQgetisnull(res, 0, 0) ? -ERR_MANIFEST_UNKNOWN : 0;
}

static int
meta_pg_manifest_get(struct meta_conn *c, const char *repo, const char *digest,
    struct meta_manifest *out)
{
	const char *p[2] = {repo, digest};
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, S_MANIFEST_GET, 2, p, &rc)) == NULL)
		return rc;
	if ((rc = meta_pg_found(res)) == 0) {
		snprintf(out->digest, sizeof(out->digest), "%s", digest);
		meta_pg_col_copy(res, 0, 0, out->media_type, sizeof(out->media_type));
		meta_pg_col_copy(res, 0, 1, out->artifact_type, sizeof(out->artifact_type));
		meta_pg_col_copy(res, 0, 2, out->subject, sizeof(out->subject));
		out->size = (uint64_t)meta_pg_col_i64(res, 0, 3);
	}
	PQclear(res);
	return rc;
}

static int
meta_pg_tag_get(struct meta_conn *c, const char *repo, const char *tag,
    struct meta_manifest *out)
{
	const char *p[2] = {repo, tag};
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, S_TAG_GET, 2, p, &rc)) == NULL)
		return rc;
	if ((rc = meta_pg_found(res)) == 0)
		meta_pg_row_manifest(res, 0, out);
	PQclear(res);
	return rc;
}

static int
meta_pg_manifest_delete_tx(struct meta_conn *c, const char *repo, const char *digest)
{
	struct meta_pg_num nid;
	const char *p[2] = {NULL, digest};
	int64_t id;
	int rc, changed = 0;

	if ((rc = meta_pg_repo_id(c, repo, 0, &id)) != 0)
		return rc;
	p[0] = meta_pg_i64(&nid, id);
	if ((rc = meta_pg_exec(c, S_MANIFEST_DELETE, 2, p, &changed)) != 0)
		return rc;
	if (changed == 0)
		return -ERR_MANIFEST_UNKNOWN;
	/* The manifest's own bytes leave the repository with it. */
	if ((rc = meta_pg_exec(c, S_REFS_DELETE, 2, p, NULL)) != 0 ||
	    (rc = meta_pg_exec(c, S_TAGS_DELETE_DIGEST, 2, p, NULL)) != 0 ||
	    (rc = meta_pg_exec(c, S_REPO_BLOB_DELETE_ID, 2, p, NULL)) != 0)
		return rc;
	return 0;
}

static int
meta_pg_manifest_delete(struct meta_conn *c, const char *repo, const char *digest)
{
	int rc;

	META_PG_TX_REPO(c, repo, rc, meta_pg_manifest_delete_tx(c, repo, digest));
	return rc;
}

static int
meta_pg_tag_delete_one(struct meta_conn *c, const char *repo, const char *tag)
{
	struct meta_pg_num nid;
	int64_t id;
	int rc, n = 0;

	if ((rc = meta_pg_repo_id(c, repo, 0, &id)) != 0)
		return rc;
	{
		const char *p[2] = {meta_pg_i64(&nid, id), tag};

		if ((rc = meta_pg_exec(c, S_TAG_DELETE, 2, p, &n)) != 0)
			return rc;
	}
	return n > 0 ? 0 : -ERR_MANIFEST_UNKNOWN;
}

/* Under the repository's lock, as meta_pg_blob_unlink: against a push of
 * the tag at the same moment. */
static int
meta_pg_tag_delete(struct meta_conn *c, const char *repo, const char *tag)
{
	int rc;

	META_PG_LOCKED(c, repo, rc, rc = meta_pg_tag_delete_one(c, repo, tag));
	return rc;
}

/* The `last` of a listing as a bound PostgreSQL accepts (valid UTF-8) that
 * orders every name as `last` itself does byte by byte, into buf (at
 * least 300 bytes).  Tags and repository names are ASCII without 0x7f
 * (their grammars), so a name either differs from `last` before its first
 * byte >= 0x80 or sorts below it there: the prefix before that byte
 * followed by 0x7f bounds the same names.  Names are at most 255 bytes, so
 * cutting `last` past that changes no comparison either. */
static const char *
meta_pg_last_bound(const char *last, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; last[i] != '\0' && i + 2 < cap; i++) {
		if ((unsigned char)last[i] >= 0x80) {
			buf[i++] = 0x7f;
			break;
		}
		buf[i] = last[i];
	}
	buf[i] = '\0';
	return buf;
}

/* Hand a listing's rows (n + 1 asked for, to learn whether more remain)
 * to fn; frees res. */
static int
meta_pg_list_rows(PGresult *res, long n, meta_list_fn fn, void *arg, int *more)
{
	long count = 0;
	int rows = PQntuples(res);

	*more = 0;
	for (int i = 0; i < rows; i++) {
		int r;

		if (count == n) {
			*more = 1;
			break;
		}
		/* XXX with a filtering callback, `more` may be set by a
		 * row the caller will not see (as in meta_sqlite.c). */
		r = fn(arg, PQgetvalue(res, i, 0));
		if (r == 1)
			break;
		if (r == 0)
			count++;
	}
	PQclear(res);
	return 0;
}

static int
meta_pg_tag_list(struct meta_conn *c, const char *repo, const char *last, long n,
    meta_list_fn fn, void *arg, int *more)
{
	struct meta_pg_num lim;
	char bound[320];
	const char *p[3] = {repo, meta_pg_last_bound(last, bound, sizeof(bound)),
	    meta_pg_i64(&lim, (int64_t)n + 1)};
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, S_TAG_LIST, 3, p, &rc)) == NULL)
		return rc;
	if (PQntuples(res) == 0 && (rc = meta_pg_repo_exists(c, repo)) != 0) {
		PQclear(res);
		return rc;
	}
	return meta_pg_list_rows(res, n, fn, arg, more);
}

static int
meta_pg_repo_list(struct meta_conn *c, const char *last, long n, int filtered, meta_list_fn fn,
    void *arg, int *more)
{
	struct meta_pg_num lim;
	char bound[320];
	/* A callback that skips rows (access filtering) needs them all. */
	const char *p[2] = {meta_pg_last_bound(last, bound, sizeof(bound)),
	    filtered ? NULL : meta_pg_i64(&lim, (int64_t)n + 1)};
	PGresult *res;
	int rc;

	if ((res = meta_pg_run(c, S_REPO_LIST, 2, p, &rc)) == NULL)
		return rc;
	return meta_pg_list_rows(res, n, fn, arg, more);
}

static int
meta_pg_referrers(struct meta_conn *c, const char *repo, const char *subject,
    const char *artifact_type, const char *last, long n, meta_referrer_fn fn, void *arg, int *more)
{
	struct meta_manifest mf;
	struct meta_pg_num nn;
	PGresult *res;
	int rc, rows;

	*more = 0;
	/* No artifactType stored here is anything but UTF-8: a filter of
	 * other bytes matches nothing (SQLite compares the bytes, and finds
	 * nothing either). */
	if (artifact_type != NULL && !oci_utf8_valid(artifact_type, strlen(artifact_type)))
		return meta_pg_repo_exists(c, repo);
	{
		const char *p[5] = {repo, subject, last, meta_pg_i64(&nn, n + 1), artifact_type};

		if ((res = meta_pg_run(c, artifact_type ? S_REFERRERS_TYPE : S_REFERRERS,
		    artifact_type ? 5 : 4, p, &rc)) == NULL)
			return rc;
	}
	if ((rows = PQntuples(res)) == 0) {
		PQclear(res);
		return -ERR_NAME_UNKNOWN;
	}
	/* No referrer: the repository's one row of NULLs. */
	if (PQgetisnull(res, 0, 0))
		rows = 0;
	if (rows > n) {
		*more = 1;
		rows = (int)n;
	}
	for (int i = 0; i < rows; i++) {
		meta_pg_row_manifest(res, i, &mf);
		if (fn(arg, &mf) != 0)
			break;
	}
	PQclear(res);
	return 0;
}

/* ---- garbage collection and integrity checks (gc.c, fsck.c) ----
 *
 * Not hot paths: statements are sent per call, not prepared.  Listings
 * stream their rows (single-row mode), so a large registry's listing is
 * not held whole in memory; the callback must not use this connection
 * meanwhile (meta_backend.h).  Deleting functions re-check, in the
 * transaction that deletes, that what they delete is still unreferenced
 * now; SERIALIZABLE makes that check hold against a concurrent push. */

/* Stream a listing whose columns are (repo_id, repo, digest, aux, size,
 * time, kind) to fn.  A non-zero callback result stops the listing (the
 * rest is read and dropped) and is returned. */
static int
meta_pg_gc_list(struct meta_conn *c, const char *sql, int n, const char *const *params,
    meta_gc_fn fn, void *arg)
{
	struct meta_gc_row row;
	PGresult *res;
	int rc = 0, r = 0;

	if ((rc = meta_pg_gc_flush(c)) != 0 || (rc = meta_pg_params_utf8(n, params, sql)) != 0 ||
	    (rc = meta_pg_ready(c)) != 0)
		return rc;
	if (!PQsendQueryParams(c->pg, sql, n, NULL, params, NULL, NULL, 0))
		return meta_pg_fail(c, NULL, sql);
	if (!PQsetSingleRowMode(c->pg))
		log_warn("meta: postgres: single-row mode refused; the listing is read whole");
	while ((res = PQgetResult(c->pg)) != NULL) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
			for (int i = 0; r == 0 && rc == 0 && i < PQntuples(res); i++) {
				row.repo_id = meta_pg_col_i64(res, i, 0);
				row.repo = PQgetvalue(res, i, 1);
				row.digest = PQgetvalue(res, i, 2);
				row.aux = PQgetvalue(res, i, 3);
				row.size = (uint64_t)meta_pg_col_i64(res, i, 4);
				row.time = meta_pg_col_i64(res, i, 5);
				row.kind = (int)meta_pg_col_i64(res, i, 6);
				r = fn(arg, &row);
			}
		} else if (rc == 0) {
			rc = meta_pg_fail(c, res, sql);
		}
		PQclear(res);
	}
	return r != 0 ? r : rc;
}

/* One collector at a time across nodes: the session lock META_PG_GC_LOCK,
 * waited for (logged once) if another session holds it.  Held until
 * gc_end, or until the connection goes.  XXX the wait is not interruptible:
 * a daemon told to stop while its collector waits here stops when the other
 * collection ends (or its connection does). */
static int
meta_pg_gc_lock(struct meta_conn *c)
{
	PGresult *res;
	int rc, got;

	if (c->gc_locked)
		return 0;
	if ((res = meta_pg_query(c, "SELECT pg_try_advisory_lock(" META_PG_GC_LOCK ")", 0, NULL,
	    &rc)) == NULL)
		return rc;
	got = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!got) {
		log_info("gc: waiting for another collector (PostgreSQL advisory lock %s)",
		    META_PG_GC_LOCK);
		if ((rc = meta_pg_cmd(c, "SELECT pg_advisory_lock(" META_PG_GC_LOCK ")")) != 0)
			return rc;
	}
	c->gc_locked = 1;
	return 0;
}

static void
meta_pg_gc_end(struct meta_conn *c)
{
	if (meta_pg_gc_flush(c) != 0)
		log_warn("meta: postgres: the garbage collector's last batch failed");
	if (!c->gc_locked)
		return;
	if (meta_pg_cmd(c, "SELECT pg_advisory_unlock(" META_PG_GC_LOCK ")") != 0)
		log_warn("meta: postgres: could not release the garbage collector's lock");
	c->gc_locked = 0;
}

static int
meta_pg_gc_reset(struct meta_conn *c)
{
	int rc;

	if ((rc = meta_pg_gc_flush(c)) != 0 || (rc = meta_pg_gc_lock(c)) != 0)
		return rc;

	/* The temp tables hold what a dry run would have removed, so the
	 * later listings can leave it out; a real run keeps them empty.
	 * They live as long as the session (a reconnect drops them, and the
	 * next run creates them again). */
	if ((rc = meta_pg_cmd(c, "CREATE TEMP TABLE IF NOT EXISTS gc_dead (repo_id bigint NOT NULL, "
	    "digest text COLLATE \"C\" NOT NULL, PRIMARY KEY (repo_id, digest))")) != 0 ||
	    (rc = meta_pg_cmd(c, "CREATE TEMP TABLE IF NOT EXISTS gc_unlinked (repo_id bigint NOT NULL, "
	    "digest text COLLATE \"C\" NOT NULL, PRIMARY KEY (repo_id, digest))")) != 0 ||
	    /* The mark (meta_pg_gc_mark), created here: not in its
	     * read-only snapshot. */
	    (rc = meta_pg_cmd(c, "CREATE TEMP TABLE IF NOT EXISTS gc_rtag (repo_id bigint NOT NULL, "
	    "name text COLLATE \"C\" NOT NULL, PRIMARY KEY (repo_id, name))")) != 0 ||
	    (rc = meta_pg_cmd(c, "CREATE TEMP TABLE IF NOT EXISTS gc_live (repo_id bigint NOT NULL, "
	    "digest text COLLATE \"C\" NOT NULL, via text COLLATE \"C\", gen bigint NOT NULL, "
	    "PRIMARY KEY (repo_id, digest))")) != 0 ||
	    (rc = meta_pg_cmd(c, "CREATE INDEX IF NOT EXISTS gc_live_gen ON pg_temp.gc_live(gen)")) != 0 ||
	    (rc = meta_pg_cmd(c, "CREATE TEMP TABLE IF NOT EXISTS gc_cand (repo_id bigint NOT NULL, "
	    "digest text COLLATE \"C\" NOT NULL, repo text COLLATE \"C\" NOT NULL, size bigint NOT NULL, "
	    "created bigint NOT NULL, kind int NOT NULL, aux text COLLATE \"C\" NOT NULL, "
	    "PRIMARY KEY (repo_id, digest))")) != 0 ||
	    (rc = meta_pg_cmd(c, "TRUNCATE pg_temp.gc_dead, pg_temp.gc_unlinked, pg_temp.gc_rtag, "
	    "pg_temp.gc_live, pg_temp.gc_cand")) != 0)
		return rc;
	return 0;
}

static int
meta_pg_gc_read_begin(struct meta_conn *c)
{
	int rc;

	/* One snapshot for every listing until read_end. */
	if ((rc = meta_pg_gc_flush(c)) != 0 ||
	    (rc = meta_pg_cmd(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) != 0)
		return rc;
	c->in_tx = 1;
	return 0;
}

static void
meta_pg_gc_read_end(struct meta_conn *c)
{
	if (c->gc_batch && meta_pg_gc_flush(c) != 0)
		log_warn("meta: postgres: the garbage collector's last batch failed");
	if (!c->in_tx)
		return;
	if (meta_pg_cmd(c, "COMMIT") != 0)
		meta_pg_rollback(c);
	c->in_tx = 0;
}

static int
meta_pg_gc_manifests(struct meta_conn *c, meta_gc_fn fn, void *arg)
{
	return meta_pg_gc_list(c, "SELECT m.repo_id, r.name, m.digest, m.subject, m.size, m.created, 0 "
	    "FROM manifests m JOIN repositories r ON r.id = m.repo_id ORDER BY m.repo_id, m.digest",
	    0, NULL, fn, arg);
}

static int
meta_pg_gc_tags(struct meta_conn *c, meta_gc_fn fn, void *arg)
{
	return meta_pg_gc_list(c, "SELECT t.repo_id, r.name, t.digest, t.name, 0, t.updated, 0 "
	    "FROM tags t JOIN repositories r ON r.id = t.repo_id "
	    "ORDER BY t.repo_id, t.updated DESC, t.name", 0, NULL, fn, arg);
}

static int
meta_pg_gc_children(struct meta_conn *c, meta_gc_fn fn, void *arg)
{
	return meta_pg_gc_list(c, "SELECT repo_id, '', digest, ref, 0, 0, 0 FROM manifest_refs "
	    "WHERE is_manifest = 1", 0, NULL, fn, arg);
}

/* Batches.  One SERIALIZABLE transaction per deleted row cost a BEGIN, a
 * COMMIT and their round trips per row (about 1,000 manifests per second
 * on a small store).  As on SQLite (meta_sqlite.c), the deletions of tags,
 * manifests, links and blob rows share one transaction, committed after
 * META_PG_GC_BATCH_OPS deletions or META_PG_GC_BATCH_MS milliseconds,
 * whichever comes first, and before any other gc or fsck call on the
 * connection (meta_pg_gc_flush), so that the next step sees them committed.
 * Each deletion still re-checks the current state in its own statement, in
 * the batch's transaction: SERIALIZABLE makes those checks hold against a
 * concurrent push exactly as they did one row at a time, only over more rows.
 *
 * What differs from SQLite: PostgreSQL does not make pushes wait for the
 * batch, it aborts one side of a conflict (40001), and that side may be the
 * batch, at any statement or at COMMIT.  Its deletions are then undone,
 * though the caller has been told they happened.  So the batch keeps the
 * deletions that removed a row (gc_done), and after such an abort runs each
 * of them again alone, in order (an index before its children), as its own
 * SERIALIZABLE transaction retried on conflict, the old path: each re-checks
 * again, so a row a push referenced meanwhile stays.  A deletion that
 * removed nothing in the aborted batch is not run again (it waits for the
 * next collection).  The caller's *removed of each is set again by its
 * second run (meta.h: acted on only after meta_gc_flush).  Any other
 * failure rolls the batch back and the collection stops. */
#define META_PG_GC_BATCH_OPS 2000
#define META_PG_GC_BATCH_MS 100

/* Run one deletion in the open transaction (or in autocommit); *removed is
 * set if it removed its row. */
static int
meta_pg_gc_op(struct meta_conn *c, const struct meta_pg_gc_op *op, int *removed)
{
	struct meta_pg_num n1, n2;
	const char *p[4];
	PGresult *res;
	int rc, n = 0;

	*removed = 0;
	switch (op->kind) {
	case META_PG_GC_TAG:
		p[0] = meta_pg_i64(&n1, op->repo_id);
		p[1] = op->name;
		p[2] = op->digest;
		p[3] = meta_pg_i64(&n2, op->t);
		rc = meta_pg_exec(c, S_GC_TAG_DELETE, 4, p, &n);
		break;
	case META_PG_GC_MANIFEST:
		p[0] = meta_pg_i64(&n1, op->repo_id);
		p[1] = op->digest;
		p[2] = meta_pg_i64(&n2, op->t);
		if ((res = meta_pg_run(c, S_GC_MANIFEST_DELETE, 3, p, &rc)) != NULL) {
			n = (int)meta_pg_col_i64(res, 0, 0);
			PQclear(res);
		}
		break;
	case META_PG_GC_LINK:
		p[0] = meta_pg_i64(&n1, op->repo_id);
		p[1] = op->digest;
		p[2] = meta_pg_i64(&n2, op->t);
		rc = meta_pg_exec(c, S_GC_LINK_DELETE, 3, p, &n);
		break;
	default:
		p[0] = op->digest;
		p[1] = meta_pg_i64(&n1, op->t);
		rc = meta_pg_exec(c, S_GC_BLOB_DELETE, 2, p, &n);
		break;
	}
	if (rc == 0)
		*removed = n > 0;
	return rc;
}

/* One deletion alone, as its own SERIALIZABLE transaction (retried on
 * conflict). */
static int
meta_pg_gc_op_alone(struct meta_conn *c, const struct meta_pg_gc_op *op, int *removed)
{
	int rc;

	META_PG_TX(c, rc, meta_pg_gc_op(c, op, removed));
	if (rc != 0)
		*removed = 0;
	return rc;
}

/* The batch was aborted by a conflict: roll it back and run again, each
 * alone, the deletions it had made. */
static int
meta_pg_gc_replay(struct meta_conn *c)
{
	size_t n = c->gc_ndone;
	int rc = 0, removed;

	meta_pg_rollback(c);
	c->gc_batch = 0;
	c->gc_ndone = 0;
	__atomic_add_fetch(&c->busy, 1, __ATOMIC_RELAXED);
	log_debug("gc: a batch of %d deletions conflicted with a concurrent write; its %zu "
	    "removals run again one by one", c->gc_batch_ops, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct meta_pg_gc_op *op = &c->gc_done[i];

		if ((rc = meta_pg_gc_op_alone(c, op, &removed)) == 0)
			*op->removed = removed;
	}
	return rc;
}

/* Commit the open batch, if any. */
static int
meta_pg_gc_flush(struct meta_conn *c)
{
	int rc;

	if (!c->gc_batch)
		return 0;
	if ((rc = meta_pg_commit(c)) == 0 || !c->conflict) {
		c->gc_batch = 0;
		c->gc_ndone = 0;
		return rc;
	}
	return meta_pg_gc_replay(c);
}

/* A deletion, batched. */
static int
meta_pg_gc_batched(struct meta_conn *c, const struct meta_pg_gc_op *op, int *removed)
{
	struct timespec now;
	long long ms;
	int rc;

	*removed = 0;
	/* No digest or tag name that long is ever stored (digest.h,
	 * reference.h); one cut short by meta_pg_gc_op_set is refused. */
	if (strlen(op->digest) >= sizeof(op->digest) - 1 || strlen(op->name) >= sizeof(op->name) - 1) {
		log_error("gc: a key longer than any stored (%.40s...): not deleted", op->digest);
		return -ERR_INTERNAL;
	}
	if (!c->gc_batch) {
		if (c->gc_done == NULL &&
		    (c->gc_done = calloc(META_PG_GC_BATCH_OPS, sizeof(*c->gc_done))) == NULL)
			return -ERR_INTERNAL;
		if ((rc = meta_pg_begin(c)) != 0)
			return rc;
		c->gc_batch = 1;
		c->gc_batch_ops = 0;
		c->gc_ndone = 0;
		clock_gettime(CLOCK_MONOTONIC, &c->gc_batch_t0);
	}
	c->gc_batch_ops++;
	if ((rc = meta_pg_gc_op(c, op, removed)) != 0) {
		if (!c->conflict) {
			meta_pg_rollback(c);
			c->gc_batch = 0;
			c->gc_ndone = 0;
			return rc;
		}
		if ((rc = meta_pg_gc_replay(c)) != 0)
			return rc;
		return meta_pg_gc_op_alone(c, op, removed);
	}
	if (*removed) {
		c->gc_done[c->gc_ndone] = *op;
		c->gc_done[c->gc_ndone++].removed = removed;
	}
	if (c->gc_batch_ops < META_PG_GC_BATCH_OPS) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long long)(now.tv_sec - c->gc_batch_t0.tv_sec) * 1000 +
		    (now.tv_nsec - c->gc_batch_t0.tv_nsec) / 1000000;
		if (ms < META_PG_GC_BATCH_MS)
			return 0;
	}
	return meta_pg_gc_flush(c);
}

/* A deletion's record; keys cut short are refused by meta_pg_gc_batched. */
static void
meta_pg_gc_op_set(struct meta_pg_gc_op *op, enum meta_pg_gc_kind kind, int64_t repo_id,
    const char *digest, const char *name, int64_t t)
{
	op->kind = kind;
	op->repo_id = repo_id;
	op->t = t;
	snprintf(op->digest, sizeof(op->digest), "%s", digest);
	snprintf(op->name, sizeof(op->name), "%s", name);
	op->removed = NULL;
}

static int
meta_pg_gc_tag_delete(struct meta_conn *c, int64_t repo_id, const char *name,
    const char *digest, int64_t updated, int *removed)
{
	struct meta_pg_gc_op op;

	meta_pg_gc_op_set(&op, META_PG_GC_TAG, repo_id, digest, name, updated);
	return meta_pg_gc_batched(c, &op, removed);
}

static int
meta_pg_gc_manifest_delete(struct meta_conn *c, int64_t repo_id, const char *digest,
    int64_t before, int *removed)
{
	struct meta_pg_gc_op op;

	meta_pg_gc_op_set(&op, META_PG_GC_MANIFEST, repo_id, digest, "", before);
	return meta_pg_gc_batched(c, &op, removed);
}

static int
meta_pg_gc_dry_manifest(struct meta_conn *c, int64_t repo_id, const char *digest)
{
	struct meta_pg_num n1;
	const char *p[2] = {meta_pg_i64(&n1, repo_id), digest};

	return meta_pg_query_exec(c, "INSERT INTO pg_temp.gc_dead(repo_id, digest) VALUES ($1, $2) "
	    "ON CONFLICT DO NOTHING", 2, p, NULL);
}

static int
meta_pg_gc_dry_link(struct meta_conn *c, int64_t repo_id, const char *digest)
{
	struct meta_pg_num n1;
	const char *p[2] = {meta_pg_i64(&n1, repo_id), digest};

	return meta_pg_query_exec(c, "INSERT INTO pg_temp.gc_unlinked(repo_id, digest) "
	    "VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, p, NULL);
}

static int
meta_pg_gc_links(struct meta_conn *c, int64_t before, int64_t after_id, const char *after,
    long n, meta_gc_fn fn, void *arg)
{
	struct meta_pg_num n1, n2, n3;
	const char *p[4] = {meta_pg_i64(&n1, before), meta_pg_i64(&n2, after_id), after,
	    meta_pg_i64(&n3, n)};

	/* A link is referenced by a manifest of its repository that lists
	 * it, or is that manifest's own bytes (minus what a dry run has
	 * already counted as removed).  A page in key order. */
	return meta_pg_gc_list(c,
	    "SELECT rb.repo_id, r.name, rb.digest, '', b.size, rb.created, "
	    "  (EXISTS (SELECT 1 FROM pg_temp.gc_cand c WHERE c.repo_id = rb.repo_id "
	    "  AND c.digest = rb.digest))::int "
	    "FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
	    "JOIN blobs b ON b.digest = rb.digest WHERE rb.created < $1 "
	    "AND (rb.repo_id, rb.digest) > ($2::bigint, $3) "
	    "AND NOT EXISTS (SELECT 1 FROM manifests x WHERE x.repo_id = rb.repo_id "
	    "  AND x.digest = rb.digest AND NOT EXISTS (SELECT 1 FROM pg_temp.gc_dead d "
	    "  WHERE d.repo_id = x.repo_id AND d.digest = x.digest)) "
	    "AND NOT EXISTS (SELECT 1 FROM manifest_refs f WHERE f.repo_id = rb.repo_id "
	    "  AND f.ref = rb.digest AND NOT EXISTS (SELECT 1 FROM pg_temp.gc_dead d "
	    "  WHERE d.repo_id = f.repo_id AND d.digest = f.digest)) "
	    "ORDER BY rb.repo_id, rb.digest LIMIT $4", 4, p, fn, arg);
}

static int
meta_pg_gc_link_delete(struct meta_conn *c, int64_t repo_id, const char *digest, int64_t before,
    int *removed)
{
	struct meta_pg_gc_op op;

	meta_pg_gc_op_set(&op, META_PG_GC_LINK, repo_id, digest, "", before);
	return meta_pg_gc_batched(c, &op, removed);
}

static int
meta_pg_gc_blobs(struct meta_conn *c, int64_t before, const char *after, long n, meta_gc_fn fn,
    void *arg)
{
	struct meta_pg_num n1, n2;
	const char *p[3] = {meta_pg_i64(&n1, before), after, meta_pg_i64(&n2, n)};

	return meta_pg_gc_list(c,
	    "SELECT 0, '', b.digest, '', b.size, b.created, 0 FROM blobs b "
	    "WHERE b.digest > $2 AND b.created < $1 AND NOT EXISTS (SELECT 1 FROM repo_blobs rb "
	    "  WHERE rb.digest = b.digest AND NOT EXISTS (SELECT 1 FROM pg_temp.gc_unlinked u "
	    "  WHERE u.repo_id = rb.repo_id AND u.digest = rb.digest)) ORDER BY b.digest LIMIT $3",
	    3, p, fn, arg);
}

static int
meta_pg_gc_blob_delete(struct meta_conn *c, const char *digest, int64_t before, int *removed)
{
	struct meta_pg_gc_op op;

	meta_pg_gc_op_set(&op, META_PG_GC_BLOB, 0, digest, "", before);
	return meta_pg_gc_batched(c, &op, removed);
}

static int
meta_pg_gc_newest(struct meta_conn *c, int64_t *newest)
{
	PGresult *res;
	int rc;

	*newest = 0;
	/* Three lookups at the end of the created indexes. */
	if ((rc = meta_pg_gc_flush(c)) != 0 || (res = meta_pg_query(c,
	    "SELECT greatest((SELECT max(created) FROM manifests), "
	    "(SELECT max(created) FROM repo_blobs), (SELECT max(created) FROM blobs), 0)",
	    0, NULL, &rc)) == NULL)
		return rc;
	*newest = meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* Whether sql (one parameter) returns a row. */
static int
meta_pg_exists(struct meta_conn *c, const char *sql, const char *param, int *exists)
{
	PGresult *res;
	int rc;

	if ((rc = meta_pg_gc_flush(c)) != 0 || (res = meta_pg_query(c, sql, 1, &param, &rc)) == NULL)
		return rc;
	*exists = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

static int
meta_pg_gc_blob_exists(struct meta_conn *c, const char *digest, int *exists)
{
	return meta_pg_exists(c, "SELECT 1 FROM blobs WHERE digest = $1", digest, exists);
}

static int
meta_pg_gc_uploads(struct meta_conn *c, int64_t before, meta_gc_fn fn, void *arg)
{
	struct meta_pg_num n1;
	const char *p[1] = {meta_pg_i64(&n1, before)};

	return meta_pg_gc_list(c, "SELECT 0, repo, id, '', size, updated, 0 FROM uploads "
	    "WHERE updated < $1 ORDER BY updated", 1, p, fn, arg);
}

static int
meta_pg_gc_upload_delete(struct meta_conn *c, const char *id, int64_t before, int *removed)
{
	struct meta_pg_num n1;
	const char *p[2] = {id, meta_pg_i64(&n1, before)};
	int rc, n = 0;

	/* A request that wrote to the session since the listing saved it:
	 * one statement, nothing else to keep consistent. */
	*removed = 0;
	if ((rc = meta_pg_gc_flush(c)) != 0 ||
	    (rc = meta_pg_query_exec(c, "DELETE FROM uploads WHERE id = $1 AND updated < $2", 2, p,
	    &n)) != 0)
		return rc;
	*removed = n > 0;
	return 0;
}

static int
meta_pg_gc_upload_exists(struct meta_conn *c, const char *id, int *exists)
{
	return meta_pg_exists(c, "SELECT 1 FROM uploads WHERE id = $1", id, exists);
}

/* ---- the mark (meta.h: meta_gc_mark) ----
 *
 * As in meta_sqlite.c: set-based, into the session's temp tables, inside
 * the REPEATABLE READ READ ONLY snapshot of read_begin (temp tables may be
 * written there).  Conditions below are on a manifest m. */
#define META_PG_GC_TAGGED "EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id " \
	"AND t.digest = m.digest)"
#define META_PG_GC_KEPT_TAG "EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id " \
	"AND t.digest = m.digest AND NOT EXISTS (SELECT 1 FROM pg_temp.gc_rtag x " \
	"WHERE x.repo_id = t.repo_id AND x.name = t.name))"
#define META_PG_GC_PARENTS "FROM manifest_refs f JOIN manifests p ON p.repo_id = f.repo_id " \
	"AND p.digest = f.digest WHERE f.ref = m.digest AND f.repo_id = m.repo_id " \
	"AND f.is_manifest = 1"
#define META_PG_GC_SUBJECT "(m.subject <> '' AND EXISTS (SELECT 1 FROM manifests s " \
	"WHERE s.repo_id = m.repo_id AND s.digest = m.subject))"
#define META_PG_GC_DEPENDENT "(EXISTS (SELECT 1 " META_PG_GC_PARENTS ") OR " \
	META_PG_GC_SUBJECT ")"

/* Flow liveness from the manifests of round *gen on, round by round. */
static int
meta_pg_gc_flow(struct meta_conn *c, int64_t *gen)
{
	int rc, n;

	do {
		struct meta_pg_num n1;
		const char *p[1] = {meta_pg_i64(&n1, *gen)};

		if ((rc = meta_pg_query_exec(c,
		    "INSERT INTO pg_temp.gc_live(repo_id, digest, via, gen) "
		    "SELECT c.repo_id, c.digest, l.via, $1::bigint + 1 FROM pg_temp.gc_live l "
		    "JOIN manifest_refs f ON f.repo_id = l.repo_id AND f.digest = l.digest "
		    "JOIN manifests c ON c.repo_id = f.repo_id AND c.digest = f.ref "
		    "WHERE l.gen = $1::bigint AND f.is_manifest = 1 "
		    "UNION ALL "
		    "SELECT s.repo_id, s.digest, l.via, $1::bigint + 1 FROM pg_temp.gc_live l "
		    "JOIN manifests s ON s.repo_id = l.repo_id AND s.subject = l.digest "
		    "WHERE l.gen = $1::bigint AND s.subject <> '' "
		    "ON CONFLICT DO NOTHING", 1, p, &n)) != 0)
			return rc;
		(*gen)++;
	} while (n > 0);
	return 0;
}

static int
meta_pg_gc_mark(struct meta_conn *c, const struct meta_gc_mark *mk, uint64_t *dead)
{
	struct meta_pg_num n1, n2, n3;
	const char *p[3];
	int64_t gen = 0;
	PGresult *res;
	int rc;

	*dead = 0;
	if ((rc = meta_pg_gc_flush(c)) != 0)
		return rc;
	for (size_t i = 0; i < mk->ndrop; i++) {
		const char *q[2] = {meta_pg_i64(&n1, mk->drop[i].repo_id), mk->drop[i].name};

		if ((rc = meta_pg_query_exec(c, "INSERT INTO pg_temp.gc_rtag(repo_id, name) "
		    "VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, q, NULL)) != 0)
			return rc;
	}
	p[0] = meta_pg_i64(&n1, mk->t0);
	p[1] = meta_pg_i64(&n2, mk->young);
	p[2] = meta_pg_i64(&n3, mk->keep_untagged ? 1 : 0);
	if ((rc = meta_pg_query_exec(c,
	    "INSERT INTO pg_temp.gc_live(repo_id, digest, via, gen) "
	    "SELECT m.repo_id, m.digest, NULL, 0 FROM manifests m WHERE m.created >= $1::bigint OR "
	    META_PG_GC_KEPT_TAG " OR ($2::bigint IS NOT NULL AND $3::int = 1 AND NOT "
	    META_PG_GC_TAGGED " AND NOT " META_PG_GC_DEPENDENT ")", 3, p, NULL)) != 0 ||
	    (rc = meta_pg_gc_flow(c, &gen)) != 0)
		return rc;
	/* Round two: what only untagged_grace keeps. */
	p[0] = meta_pg_i64(&n1, gen);
	if ((rc = meta_pg_query_exec(c,
	    "INSERT INTO pg_temp.gc_live(repo_id, digest, via, gen) "
	    "SELECT m.repo_id, m.digest, m.digest, $1::bigint FROM manifests m "
	    "WHERE m.created >= $2::bigint AND NOT " META_PG_GC_TAGGED " AND ($3::int = 0 OR "
	    META_PG_GC_DEPENDENT ") AND NOT EXISTS (SELECT 1 FROM pg_temp.gc_live l "
	    "WHERE l.repo_id = m.repo_id AND l.digest = m.digest)", 3, p, NULL)) != 0 ||
	    (rc = meta_pg_gc_flow(c, &gen)) != 0)
		return rc;
	/* The candidates, with why each is dead (as of the snapshot). */
	if ((rc = meta_pg_query_exec(c,
	    "INSERT INTO pg_temp.gc_cand(repo_id, digest, repo, size, created, kind, aux) "
	    "SELECT repo_id, digest, repo, size, created, "
	    "  CASE WHEN tagged THEN 1 WHEN subj THEN 2 WHEN par IS NOT NULL AND np > 1 THEN 4 "
	    "  WHEN par IS NOT NULL THEN 3 ELSE 0 END, "
	    "  CASE WHEN tagged THEN '' WHEN subj THEN subject WHEN par IS NOT NULL THEN par "
	    "  ELSE '' END FROM ("
	    "SELECT m.repo_id, m.digest, r.name AS repo, m.size, m.created, m.subject, "
	    "  " META_PG_GC_TAGGED " AS tagged, " META_PG_GC_SUBJECT " AS subj, "
	    "  (SELECT count(*) " META_PG_GC_PARENTS ") AS np, "
	    "  (SELECT min(f.digest) " META_PG_GC_PARENTS " AND f.digest <> m.subject) AS par "
	    "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
	    "WHERE NOT EXISTS (SELECT 1 FROM pg_temp.gc_live l WHERE l.repo_id = m.repo_id "
	    "  AND l.digest = m.digest)) x", 0, NULL, NULL)) != 0)
		return rc;
	if ((res = meta_pg_query(c, "SELECT count(*) FROM pg_temp.gc_cand", 0, NULL, &rc)) == NULL)
		return rc;
	*dead = (uint64_t)meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int
meta_pg_gc_dead(struct meta_conn *c, int64_t after_id, const char *after, long n,
    meta_gc_fn fn, void *arg)
{
	struct meta_pg_num n1, n2;
	const char *p[3] = {meta_pg_i64(&n1, after_id), after, meta_pg_i64(&n2, n)};

	return meta_pg_gc_list(c,
	    "SELECT c.repo_id, c.repo, c.digest, c.aux, c.size, c.created, c.kind "
	    "FROM pg_temp.gc_cand c WHERE (c.repo_id, c.digest) > ($1::bigint, $2) AND EXISTS "
	    "  (SELECT 1 FROM manifests x WHERE x.repo_id = c.repo_id AND x.digest = c.digest) "
	    "ORDER BY c.repo_id, c.digest LIMIT $3", 3, p, fn, arg);
}

static int
meta_pg_gc_keep(struct meta_conn *c, int64_t repo_id, const char *digest, int *dropped)
{
	struct meta_pg_num n1;
	const char *p[2] = {meta_pg_i64(&n1, repo_id), digest};
	int rc;

	if ((rc = meta_pg_gc_flush(c)) != 0 ||
	    (rc = meta_pg_query_exec(c, "DELETE FROM pg_temp.gc_cand WHERE repo_id = $1 "
	    "AND digest = $2", 2, p, dropped)) != 0)
		return rc;
	return meta_pg_query_exec(c, "INSERT INTO pg_temp.gc_live(repo_id, digest, via, gen) "
	    "VALUES ($1, $2, NULL, -1) ON CONFLICT (repo_id, digest) DO UPDATE SET via = NULL",
	    2, p, NULL);
}

static int
meta_pg_gc_grace(struct meta_conn *c, meta_gc_fn fn, void *arg)
{
	return meta_pg_gc_list(c,
	    "SELECT l.repo_id, r.name, l.digest, CASE WHEN l.via = l.digest THEN '' ELSE l.via END, "
	    "  x.size, v.created, 0 FROM pg_temp.gc_live l "
	    "JOIN manifests x ON x.repo_id = l.repo_id AND x.digest = l.digest "
	    "JOIN manifests v ON v.repo_id = l.repo_id AND v.digest = l.via "
	    "JOIN repositories r ON r.id = l.repo_id WHERE l.via IS NOT NULL "
	    "ORDER BY l.repo_id, l.digest", 0, NULL, fn, arg);
}

static int
meta_pg_fsck_blobs(struct meta_conn *c, meta_gc_fn fn, void *arg)
{
	return meta_pg_gc_list(c, "SELECT 0, '', digest, '', size, created, 0 FROM blobs "
	    "ORDER BY digest", 0, NULL, fn, arg);
}

static int
meta_pg_fsck_refs(struct meta_conn *c, meta_gc_fn fn, void *arg)
{
	/* One row per reference, and one per manifest for its own bytes
	 * (kind 2); size says whether the target is in the repository. */
	return meta_pg_gc_list(c,
	    "SELECT f.repo_id, r.name, f.digest, f.ref, (CASE WHEN f.is_manifest = 1 THEN "
	    "  EXISTS (SELECT 1 FROM manifests x WHERE x.repo_id = f.repo_id AND x.digest = f.ref) "
	    "  ELSE EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.repo_id = f.repo_id "
	    "  AND rb.digest = f.ref) END)::int AS present, 0 AS t, f.is_manifest AS kind "
	    "FROM manifest_refs f JOIN repositories r ON r.id = f.repo_id "
	    /* A pull-through cache fetches blobs lazily. */
	    "WHERE r.proxy = '' "
	    "UNION ALL "
	    "SELECT m.repo_id, r.name, m.digest, m.digest, (EXISTS (SELECT 1 FROM repo_blobs rb "
	    "  WHERE rb.repo_id = m.repo_id AND rb.digest = m.digest))::int, 0, 2 "
	    "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
	    "ORDER BY 2, 3, 7 DESC, 4", 0, NULL, fn, arg);
}

static int
meta_pg_fsck_drop_blob_tx(struct meta_conn *c, const char *digest, int *links)
{
	int rc;

	*links = 0;
	if ((rc = meta_pg_query_exec(c, "DELETE FROM repo_blobs WHERE digest = $1", 1, &digest,
	    links)) != 0)
		return rc;
	return meta_pg_query_exec(c, "DELETE FROM blobs WHERE digest = $1", 1, &digest, NULL);
}

static int
meta_pg_fsck_drop_blob(struct meta_conn *c, const char *digest, int *links)
{
	int rc;

	if ((rc = meta_pg_gc_flush(c)) != 0)
		return rc;
	META_PG_TX(c, rc, meta_pg_fsck_drop_blob_tx(c, digest, links));
	return rc;
}

/* ---- the pull-through cache (proxy.c) ----
 *
 * Statements are sent per call.  A cached blob (blobs.cached = 1) is one
 * the proxy brought in; it stays evictable only while no repository holds
 * it as a local push or mount and no manifest of such a link references it
 * (meta_sqlite.c). */

static int
meta_pg_proxy_repo(struct meta_conn *c, const char *repo, char proxy[META_PROXY_NAME_MAX],
    int *local)
{
	PGresult *res;
	int rc;

	*local = 0;
	proxy[0] = '\0';
	if ((res = meta_pg_query(c, "SELECT r.proxy, (EXISTS (SELECT 1 FROM manifests "
	    "WHERE repo_id = r.id) OR EXISTS (SELECT 1 FROM repo_blobs WHERE repo_id = r.id) OR "
	    "EXISTS (SELECT 1 FROM tags WHERE repo_id = r.id))::int "
	    "FROM repositories r WHERE r.name = $1", 1, &repo, &rc)) == NULL)
		return rc;
	rc = PQntuples(res) > 0 ? 0 : -ERR_NAME_UNKNOWN;
	if (rc == 0) {
		meta_pg_col_copy(res, 0, 0, proxy, META_PROXY_NAME_MAX);
		*local = proxy[0] == '\0' && meta_pg_col_i64(res, 0, 1) != 0;
	}
	PQclear(res);
	return rc;
}

/* The cached blob and link rows, inside the caller's transaction. */
static int
meta_pg_proxy_link_tx(struct meta_conn *c, const char *repo, const char *proxy,
    const char *digest, uint64_t size)
{
	struct meta_pg_num nid, nsize, now;
	int64_t id;
	int rc;

	if ((rc = meta_pg_repo_id(c, repo, 1, &id)) != 0)
		return rc;
	meta_pg_i64(&nid, id);
	meta_pg_i64(&now, meta_pg_now());
	{
		const char *p[2] = {nid.s, proxy};

		if ((rc = meta_pg_query_exec(c, "UPDATE repositories SET proxy = $2 "
		    "WHERE id = $1 AND proxy = ''", 2, p, NULL)) != 0)
			return rc;
	}
	{
		const char *p[3] = {digest, meta_pg_u64(&nsize, size), now.s};

		if ((rc = meta_pg_query_exec(c, "INSERT INTO blobs(digest, size, created, cached, "
		    "last_pulled) VALUES ($1, $2, $3, 1, $3) ON CONFLICT (digest) DO UPDATE "
		    "SET last_pulled = excluded.last_pulled", 3, p, NULL)) != 0)
			return rc;
	}
	{
		const char *p[3] = {nid.s, digest, now.s};

		return meta_pg_query_exec(c, "INSERT INTO repo_blobs(repo_id, digest, created, cached) "
		    "VALUES ($1, $2, $3, 1) ON CONFLICT (repo_id, digest) DO UPDATE "
		    "SET created = excluded.created", 3, p, NULL);
	}
}

static int
meta_pg_proxy_link(struct meta_conn *c, const char *repo, const char *proxy, const char *digest,
    uint64_t size)
{
	int rc;

	META_PG_TX(c, rc, meta_pg_proxy_link_tx(c, repo, proxy, digest, size));
	return rc;
}

static int
meta_pg_proxy_blob_finish_tx(struct meta_conn *c, const char *id, const char *repo,
    const char *proxy, const char *digest, uint64_t size)
{
	int rc;

	if ((rc = meta_pg_upload_delete(c, id)) != 0)
		return rc;
	return meta_pg_proxy_link_tx(c, repo, proxy, digest, size);
}

static int
meta_pg_proxy_blob_finish(struct meta_conn *c, const char *id, const char *repo,
    const char *proxy, const char *digest, uint64_t size)
{
	int rc;

	META_PG_TX(c, rc, meta_pg_proxy_blob_finish_tx(c, id, repo, proxy, digest, size));
	return rc;
}

static int
meta_pg_proxy_tag_checked(struct meta_conn *c, const char *repo, const char *tag,
    int64_t *checked)
{
	const char *p[2] = {repo, tag};
	PGresult *res;
	int rc;

	if ((res = meta_pg_query(c, "SELECT t.checked FROM tags t JOIN repositories r "
	    "ON r.id = t.repo_id WHERE r.name = $1 AND t.name = $2", 2, p, &rc)) == NULL)
		return rc;
	rc = PQntuples(res) > 0 ? 0 : -ERR_MANIFEST_UNKNOWN;
	if (rc == 0)
		*checked = meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

static int
meta_pg_proxy_tag_set_checked(struct meta_conn *c, const char *repo, const char *tag,
    int64_t when)
{
	struct meta_pg_num n1;
	const char *p[3] = {repo, tag, meta_pg_i64(&n1, when)};

	return meta_pg_query_exec(c, "UPDATE tags SET checked = $3 WHERE name = $2 AND "
	    "repo_id = (SELECT id FROM repositories WHERE name = $1)", 3, p, NULL);
}

static int
meta_pg_proxy_touch(struct meta_conn *c, const char *digest)
{
	struct meta_pg_num n1;
	const char *p[2] = {digest, meta_pg_i64(&n1, meta_pg_now())};

	/* At most one write per blob per second, and none for local ones. */
	return meta_pg_query_exec(c, "UPDATE blobs SET last_pulled = $2 "
	    "WHERE digest = $1 AND cached = 1 AND last_pulled < $2", 2, p, NULL);
}

/* Whether a cached blob may go: nothing local holds or references it. */
#define META_PG_EVICTABLE \
	"b.cached = 1 AND NOT EXISTS (SELECT 1 FROM repo_blobs rb " \
	"WHERE rb.digest = b.digest AND rb.cached = 0) AND NOT EXISTS (SELECT 1 FROM " \
	"manifest_refs mr JOIN repo_blobs rb ON rb.repo_id = mr.repo_id AND rb.digest = mr.digest " \
	"WHERE mr.ref = b.digest AND rb.cached = 0)"

/* The database's size on the server (tables, indexes, TOAST). */
static int
meta_pg_size(struct meta_conn *c, uint64_t *bytes)
{
	PGresult *res;
	int rc;

	if ((res = meta_pg_query(c, "SELECT pg_database_size(current_database())", 0, NULL, &rc)) == NULL)
		return rc;
	*bytes = (uint64_t)meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int
meta_pg_proxy_cached_bytes(struct meta_conn *c, uint64_t *bytes)
{
	PGresult *res;
	int rc;

	if ((res = meta_pg_query(c, "SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE "
	    "b.cached = 1 AND NOT EXISTS (SELECT 1 FROM repo_blobs rb "
	    "WHERE rb.digest = b.digest AND rb.cached = 0)", 0, NULL, &rc)) == NULL)
		return rc;
	*bytes = (uint64_t)meta_pg_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int
meta_pg_proxy_evict_next(struct meta_conn *c, char digest[META_PROXY_DIGEST_MAX],
    uint64_t *size)
{
	PGresult *res;
	int rc;

	if ((res = meta_pg_query(c, "SELECT b.digest, b.size FROM blobs b WHERE "
	    META_PG_EVICTABLE " ORDER BY b.last_pulled, b.created, b.digest LIMIT 1", 0, NULL,
	    &rc)) == NULL)
		return rc;
	rc = PQntuples(res) > 0 ? 0 : -ERR_BLOB_UNKNOWN;
	if (rc == 0) {
		meta_pg_col_copy(res, 0, 0, digest, META_PROXY_DIGEST_MAX);
		*size = (uint64_t)meta_pg_col_i64(res, 0, 1);
	}
	PQclear(res);
	return rc;
}

static int
meta_pg_proxy_evict_tx(struct meta_conn *c, const char *digest)
{
	static const char *const drop[] = {
		"DELETE FROM tags WHERE digest = $1",
		"DELETE FROM manifest_refs WHERE digest = $1",
		"DELETE FROM manifests WHERE digest = $1",
		"DELETE FROM repo_blobs WHERE digest = $1",
		"DELETE FROM blobs WHERE digest = $1",
	};
	int exists = 0, rc;

	/* Checked again in the transaction: a push or mount may have made
	 * it local since it was chosen. */
	if ((rc = meta_pg_exists(c, "SELECT 1 FROM blobs b WHERE b.digest = $1 AND "
	    META_PG_EVICTABLE, digest, &exists)) != 0)
		return rc;
	if (!exists)
		return -ERR_BLOB_UNKNOWN;
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if ((rc = meta_pg_query_exec(c, drop[i], 1, &digest, NULL)) != 0)
			return rc;
	return 0;
}

static int
meta_pg_proxy_evict(struct meta_conn *c, const char *digest)
{
	int rc;

	META_PG_TX(c, rc, meta_pg_proxy_evict_tx(c, digest));
	return rc;
}

static int
meta_pg_proxy_ref_known(struct meta_conn *c, const char *repo, const char *digest)
{
	const char *p[2] = {repo, digest};
	PGresult *res;
	int rc;

	if ((res = meta_pg_query(c, "SELECT 1 FROM manifest_refs mr JOIN repositories r "
	    "ON r.id = mr.repo_id WHERE r.name = $1 AND mr.ref = $2 LIMIT 1", 2, p, &rc)) == NULL)
		return rc;
	rc = PQntuples(res) > 0 ? 0 : -ERR_BLOB_UNKNOWN;
	PQclear(res);
	return rc;
}

/* ---- migrate-metadata: the import side ---- */

/* One transaction for the whole copy, under the migration lock (so that
 * two imports, or an import and a node's first start, do not interleave). */
static int
meta_pg_import_begin(struct meta_conn *c, int force, int *nonempty)
{
	PGresult *res;
	int rc, full;

	if ((rc = meta_pg_begin(c)) != 0)
		return rc;
	if ((rc = meta_pg_cmd(c, "SELECT pg_advisory_xact_lock(" META_PG_MIGRATE_LOCK ")")) != 0)
		goto fail;
	if ((res = meta_pg_query(c, "SELECT EXISTS (SELECT 1 FROM repositories) OR "
	    "EXISTS (SELECT 1 FROM blobs) OR EXISTS (SELECT 1 FROM uploads)", 0, NULL, &rc)) == NULL)
		goto fail;
	full = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (full && !force) {
		*nonempty = 1;
		meta_pg_rollback(c);
		return 0;
	}
	if (full && (rc = meta_pg_cmd(c, "TRUNCATE tags, manifest_refs, manifests, repo_blobs, "
	    "blobs, uploads, repositories RESTART IDENTITY")) != 0)
		goto fail;
	return 0;
fail:
	meta_pg_rollback(c);
	return rc != 0 ? rc : -ERR_INTERNAL;
}

/* End the import's COPY, if one is open: with abort (a reason) the server
 * drops its rows.  Errors in the rows (a duplicate key, a foreign key) are
 * reported here, at the end of the table's stream. */
static int
meta_pg_copy_end(struct meta_conn *c, const char *abort)
{
	PGresult *res;
	int rc = 0;

	if (c->copying == 0)
		return 0;
	c->copying = 0;
	if (PQputCopyEnd(c->pg, abort) != 1)
		return meta_pg_fail(c, NULL, "COPY (end)");
	while ((res = PQgetResult(c->pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0 && abort == NULL)
			rc = meta_pg_fail(c, res, "COPY");
		PQclear(res);
	}
	return rc != 0 ? rc : (abort != NULL ? -ERR_INTERNAL : 0);
}

/* Start streaming the rows of meta_tables[table] (COPY ... FROM STDIN). */
static int
meta_pg_copy_start(struct meta_conn *c, size_t table)
{
	const struct meta_table *tb = &meta_tables[table];
	char sql[512];
	PGresult *res;
	size_t n;
	int rc = 0;

	n = (size_t)snprintf(sql, sizeof(sql), "COPY %s (", tb->name);
	for (int i = 0; i < tb->ncols && n < sizeof(sql); i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s", i ? ", " : "", tb->cols[i]);
	if (n < sizeof(sql))
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ") FROM STDIN");
	if (n >= sizeof(sql))
		return -ERR_INTERNAL;
	if ((rc = meta_pg_ready(c)) != 0)
		return rc;
	res = PQexec(c->pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		rc = meta_pg_fail(c, res, sql);
	else
		c->copying = table + 1;
	PQclear(res);
	return rc;
}

/* One row in COPY's text format: tab-separated, \N for NULL, backslash,
 * tab, newline and carriage return escaped.  A row past the buffer (no
 * value of our schema comes near) is an error, not a cut. */
static int
meta_pg_import_row(struct meta_conn *c, size_t table, const char *const *vals)
{
	const struct meta_table *tb = &meta_tables[table];
	char row[8192];
	size_t n = 0;
	int rc;

	for (int i = 0; i < tb->ncols; i++) {
		const char *v = vals[i];

		if (v != NULL && !oci_utf8_valid(v, strlen(v))) {
			log_error("meta: postgres: import: %s.%s holds a value that is not valid UTF-8, "
			    "which PostgreSQL cannot store as text", tb->name, tb->cols[i]);
			return -ERR_UNSUPPORTED;
		}
		if (i > 0)
			row[n++] = '\t';
		if (v == NULL) {
			row[n++] = '\\';
			row[n++] = 'N';
		}
		for (; v != NULL && *v != '\0' && n + 4 < sizeof(row); v++) {
			const char *esc = *v == '\\' ? "\\\\" : *v == '\t' ? "\\t" : *v == '\n' ? "\\n" :
			    *v == '\r' ? "\\r" : NULL;

			if (esc != NULL) {
				memcpy(row + n, esc, 2);
				n += 2;
			} else {
				row[n++] = *v;
			}
		}
		if (n + 4 >= sizeof(row)) {
			log_error("meta: postgres: import: a row of %s longer than %zu bytes", tb->name,
			    sizeof(row));
			return -ERR_INTERNAL;
		}
	}
	row[n++] = '\n';
	if (c->copying != table + 1) {
		if ((rc = meta_pg_copy_end(c, NULL)) != 0 || (rc = meta_pg_copy_start(c, table)) != 0)
			return rc;
	}
	if (PQputCopyData(c->pg, row, (int)n) != 1)
		return meta_pg_fail(c, NULL, "COPY");
	return 0;
}

static int
meta_pg_import_end(struct meta_conn *c, int commit)
{
	int rc;

	if (!commit) {
		meta_pg_copy_end(c, "migrate-metadata: rolled back");
		meta_pg_rollback(c);
		return 0;
	}
	if ((rc = meta_pg_copy_end(c, NULL)) != 0) {
		meta_pg_rollback(c);
		return rc;
	}
	/* New repositories get ids past the imported ones. */
	if ((rc = meta_pg_cmd(c, "SELECT setval(pg_get_serial_sequence('repositories', 'id'), "
	    "COALESCE((SELECT max(id) FROM repositories), 0) + 1, false)")) != 0) {
		meta_pg_rollback(c);
		return rc;
	}
	return meta_pg_commit(c);
}

const struct meta_ops meta_pg_ops = {
	.name = "postgres",
	.open = meta_pg_open,
	.close = meta_pg_close,
	.schema_version = meta_pg_schema_version,
	.busy_retries = meta_pg_busy_retries,
	.stats = meta_pg_stats,
	.size = meta_pg_size,
	.repo_exists = meta_pg_repo_exists,
	.blob_link = meta_pg_blob_link,
	.blob_lookup = meta_pg_blob_get,
	.blob_unlink = meta_pg_blob_unlink,
	.blob_mount = meta_pg_blob_mount,
	.blob_find_repo = meta_pg_blob_find_repo,
	.upload_open = meta_pg_upload_open,
	.upload_touch = meta_pg_upload_touch,
	.upload_get = meta_pg_upload_get,
	.upload_set_size = meta_pg_upload_set_size,
	.upload_delete = meta_pg_upload_delete,
	.upload_finish = meta_pg_upload_finish,
	.manifest_store = meta_pg_manifest_put,
	.manifest_lookup = meta_pg_manifest_get,
	.tag_get = meta_pg_tag_get,
	.manifest_remove = meta_pg_manifest_delete,
	.tag_delete = meta_pg_tag_delete,
	.tag_list = meta_pg_tag_list,
	.repo_list = meta_pg_repo_list,
	.referrers = meta_pg_referrers,
	.gc_reset = meta_pg_gc_reset,
	.read_begin = meta_pg_gc_read_begin,
	.gc_end = meta_pg_gc_end,
	.import_begin = meta_pg_import_begin,
	.import_row = meta_pg_import_row,
	.import_end = meta_pg_import_end,
	.read_end = meta_pg_gc_read_end,
	.gc_manifests = meta_pg_gc_manifests,
	.gc_tags = meta_pg_gc_tags,
	.gc_children = meta_pg_gc_children,
	.gc_tag_delete = meta_pg_gc_tag_delete,
	.gc_manifest_delete = meta_pg_gc_manifest_delete,
	.gc_dry_manifest = meta_pg_gc_dry_manifest,
	.gc_dry_link = meta_pg_gc_dry_link,
	.gc_links = meta_pg_gc_links,
	.gc_link_delete = meta_pg_gc_link_delete,
	.gc_blobs = meta_pg_gc_blobs,
	.gc_blob_delete = meta_pg_gc_blob_delete,
	.gc_blob_exists = meta_pg_gc_blob_exists,
	.gc_uploads = meta_pg_gc_uploads,
	.gc_upload_delete = meta_pg_gc_upload_delete,
	.gc_upload_exists = meta_pg_gc_upload_exists,
	.gc_mark = meta_pg_gc_mark,
	.gc_dead = meta_pg_gc_dead,
	.gc_keep = meta_pg_gc_keep,
	.gc_grace = meta_pg_gc_grace,
	.gc_flush = meta_pg_gc_flush,
	.gc_newest = meta_pg_gc_newest,
	.fsck_blobs = meta_pg_fsck_blobs,
	.fsck_refs = meta_pg_fsck_refs,
	.fsck_drop_blob = meta_pg_fsck_drop_blob,
	.proxy_repo = meta_pg_proxy_repo,
	.proxy_link = meta_pg_proxy_link,
	.proxy_blob_finish = meta_pg_proxy_blob_finish,
	.proxy_tag_checked = meta_pg_proxy_tag_checked,
	.proxy_tag_set_checked = meta_pg_proxy_tag_set_checked,
	.proxy_touch = meta_pg_proxy_touch,
	.proxy_cached_bytes = meta_pg_proxy_cached_bytes,
	.proxy_evict_next = meta_pg_proxy_evict_next,
	.proxy_evict = meta_pg_proxy_evict,
	.proxy_ref_known = meta_pg_proxy_ref_known,
};
