/* SPDX-License-Identifier: ISC
 * meta_sqlite.c — the SQLite metadata backend ([metadata] backend =
 * sqlite): the ops of meta_backend.h on <root>/meta.db.  WAL mode so readers
 * never wait for the writer; every multi-row change in one BEGIN IMMEDIATE
 * transaction; prepared statements cached per connection; a schema version
 * in PRAGMA user_version with forward migrations applied at open.  The only
 * file that includes sqlite3.h.
 *
 * Ordering with the blob store: a row that names a blob is written only
 * after the blob file is in place (store.c), so no row ever points at a file
 * that may not exist.
 *
 * Retryable failures: a lock still held after the busy handler's ~10 s of
 * waiting (SQLITE_BUSY, SQLITE_LOCKED) is -ERR_UNAVAILABLE, with the
 * transaction rolled back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "meta.h"
#include "meta_backend.h"

enum meta_stmt {
	S_REPO_ID,
	S_REPO_INSERT,
	S_BLOB_INSERT,
	S_REPO_BLOB_INSERT,
	S_REPO_BLOB_GET,
	S_REPO_BLOB_DELETE,
	S_BLOB_FIND_REPO,
	S_UPLOAD_GET,
	S_UPLOAD_SET_SIZE,
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
	S_GC_TAG_DELETE,
	S_GC_MANIFEST_DELETE,
	S_GC_MANIFEST_REFS_DELETE,
	S_GC_LINK_DELETE,
	S_GC_BLOB_DELETE,
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SYNC_NORMAL,
	S_SYNC_FULL,
	S_COUNT
};

static const char *const meta_sql[S_COUNT] = {
	[S_REPO_ID] = "SELECT id FROM repositories WHERE name = ?1",
	[S_REPO_INSERT] = "INSERT INTO repositories(name, created) VALUES (?1, ?2) "
	    "ON CONFLICT(name) DO NOTHING",
	[S_BLOB_INSERT] = "INSERT INTO blobs(digest, size, created) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT(digest) DO NOTHING",
	/* A link pushed or mounted again is new again: garbage collection
	 * spares links younger than [gc] grace. */
	[S_REPO_BLOB_INSERT] = "INSERT INTO repo_blobs(repo_id, digest, created) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT DO UPDATE SET created = excluded.created",
	[S_REPO_BLOB_GET] = "SELECT b.size FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
	    "JOIN blobs b ON b.digest = rb.digest WHERE r.name = ?1 AND rb.digest = ?2",
	[S_REPO_BLOB_DELETE] = "DELETE FROM repo_blobs WHERE digest = ?2 AND repo_id = "
	    "(SELECT id FROM repositories WHERE name = ?1)",
	[S_BLOB_FIND_REPO] = "SELECT r.name FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
	    "WHERE rb.digest = ?1 AND r.name <> ?2 LIMIT 1",
	[S_UPLOAD_GET] = "SELECT repo, size, alg FROM uploads WHERE id = ?1",
	[S_UPLOAD_SET_SIZE] = "UPDATE uploads SET size = ?2, updated = ?3 WHERE id = ?1",
	[S_UPLOAD_DELETE] = "DELETE FROM uploads WHERE id = ?1",
	[S_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
	[S_SYNC_FULL] = "PRAGMA synchronous=FULL",
	[S_UPLOAD_OPEN] = "INSERT INTO uploads(id, repo, size, created, updated, client, owner, alg) "
	    "VALUES (?1, ?2, 0, ?3, ?3, ?4, ?5, ?6)",
	/* Bounded counts: the cap is all we need to know, and a client
	 * that holds many sessions must not make each POST scan them all. */
	[S_UPLOAD_COUNT_CLIENT] = "SELECT count(*) FROM (SELECT 1 FROM uploads WHERE client = ?1 LIMIT ?2)",
	[S_UPLOAD_COUNT_OWNER] = "SELECT count(*) FROM (SELECT 1 FROM uploads WHERE owner = ?1 LIMIT ?2)",
	[S_UPLOAD_TOUCH] = "UPDATE uploads SET updated = ?2 WHERE id = ?1",
	[S_MANIFEST_INSERT] = "INSERT INTO manifests(repo_id, digest, media_type, artifact_type, subject, "
	    "size, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
	    "ON CONFLICT DO UPDATE SET created = excluded.created",
	[S_MANIFEST_GET] = "SELECT m.media_type, m.artifact_type, m.subject, m.size FROM manifests m "
	    "WHERE m.repo_id = ?1 AND m.digest = ?2",
	[S_REF_INSERT] = "INSERT INTO manifest_refs(repo_id, digest, ref, is_manifest) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
	[S_TAG_UPSERT] = "INSERT INTO tags(repo_id, name, digest, updated) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest, updated = excluded.updated",
	[S_TAG_GET] = "SELECT m.digest, m.media_type, m.artifact_type, m.subject, m.size FROM tags t "
	    "JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest "
	    "WHERE t.repo_id = ?1 AND t.name = ?2",
	[S_MANIFEST_DELETE] = "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2",
	[S_REFS_DELETE] = "DELETE FROM manifest_refs WHERE repo_id = ?1 AND digest = ?2",
	[S_TAGS_DELETE_DIGEST] = "DELETE FROM tags WHERE repo_id = ?1 AND digest = ?2",
	[S_TAG_DELETE] = "DELETE FROM tags WHERE repo_id = ?1 AND name = ?2",
	[S_TAG_LIST] = "SELECT name FROM tags WHERE repo_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
	/* A repository exists while it holds anything: a manifest or a blob
	 * link (pushed or mounted), as in distribution and zot.  Its row
	 * outlives its content (rows are never deleted), so the emptied
	 * ones are left out here; an upload session alone makes no row. */
	[S_REPO_LIST] = "SELECT name FROM repositories r WHERE name > ?1 AND "
	    "(EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.repo_id = r.id) OR "
	    "EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)) ORDER BY name LIMIT ?2",
	/* A page: digests after ?3, at most ?4 rows. */
	[S_REFERRERS] = "SELECT digest, media_type, artifact_type, subject, size FROM manifests "
	    "WHERE repo_id = ?1 AND subject = ?2 AND digest > ?3 ORDER BY digest LIMIT ?4",
	[S_REFERRERS_TYPE] = "SELECT digest, media_type, artifact_type, subject, size FROM manifests "
	    "WHERE repo_id = ?1 AND subject = ?2 AND digest > ?3 AND artifact_type = ?5 "
	    "ORDER BY digest LIMIT ?4",
	[S_BLOB_MOUNT] = "INSERT INTO repo_blobs(repo_id, digest, created) "
	    "SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r "
	    "ON r.id = rb.repo_id WHERE r.name = ?4 AND rb.digest = ?2) "
	    "ON CONFLICT DO UPDATE SET created = excluded.created",
	[S_REPO_BLOB_DELETE_ID] = "DELETE FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2",
	[S_REF_CHECK_BLOB] = "SELECT 1 FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2",
	[S_REF_CHECK_MANIFEST] = "SELECT 1 FROM manifests WHERE repo_id = ?1 AND digest = ?2",
	/* Garbage collection's deletions (see "garbage collection" below):
	 * each re-checks, as it deletes, that the row is still unreferenced. */
	/* Only if nobody moved or re-pushed the tag since the snapshot. */
	[S_GC_TAG_DELETE] = "DELETE FROM tags WHERE repo_id = ?1 AND name = ?2 AND digest = ?3 "
	    "AND updated = ?4",
	/* Still unreferenced now: no tag, no index that lists it, no subject
	 * it refers to, and not pushed (again) since the collection began. */
	[S_GC_MANIFEST_DELETE] = "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2 "
	    "AND created < ?3 "
	    "AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = ?1 AND t.digest = ?2) "
	    "AND NOT EXISTS (SELECT 1 FROM manifest_refs f JOIN manifests p ON p.repo_id = f.repo_id "
	    "  AND p.digest = f.digest WHERE f.repo_id = ?1 AND f.ref = ?2 AND f.is_manifest = 1) "
	    "AND (subject = '' OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repo_id = ?1 "
	    "  AND s.digest = manifests.subject))",
	[S_GC_MANIFEST_REFS_DELETE] = "DELETE FROM manifest_refs WHERE repo_id = ?1 AND digest = ?2",
	[S_GC_LINK_DELETE] = "DELETE FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2 "
	    "AND created < ?3 "
	    "AND NOT EXISTS (SELECT 1 FROM manifests x WHERE x.repo_id = ?1 AND x.digest = ?2) "
	    "AND NOT EXISTS (SELECT 1 FROM manifest_refs f WHERE f.repo_id = ?1 AND f.ref = ?2)",
	[S_GC_BLOB_DELETE] = "DELETE FROM blobs WHERE digest = ?1 AND created < ?2 "
	    "AND NOT EXISTS (SELECT 1 FROM repo_blobs WHERE digest = ?1)",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
};

/* Forward migrations: meta_migrations[i] takes the schema from version i to
 * i + 1.  Never edit a released step; append a new one. */
static const char *const meta_migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE repositories ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE blobs ("
	"  digest TEXT PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE repo_blobs ("
	"  repo_id INTEGER NOT NULL REFERENCES repositories(id),"
	"  digest TEXT NOT NULL REFERENCES blobs(digest),"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
	"CREATE INDEX repo_blobs_digest ON repo_blobs(digest);"
	"CREATE TABLE uploads ("
	"  id TEXT PRIMARY KEY,"
	"  repo TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE manifests ("
	"  repo_id INTEGER NOT NULL REFERENCES repositories(id),"
	"  digest TEXT NOT NULL,"
	"  media_type TEXT NOT NULL,"
	"  artifact_type TEXT NOT NULL DEFAULT '',"
	"  subject TEXT NOT NULL DEFAULT '',"
	"  size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
	"CREATE INDEX manifests_subject ON manifests(repo_id, subject) WHERE subject <> '';"
	"CREATE INDEX manifests_digest ON manifests(digest);"
	"CREATE TABLE manifest_refs ("
	"  repo_id INTEGER NOT NULL,"
	"  digest TEXT NOT NULL,"
	"  ref TEXT NOT NULL,"
	"  is_manifest INTEGER NOT NULL,"
	"  PRIMARY KEY (repo_id, digest, ref)) WITHOUT ROWID;"
	"CREATE INDEX manifest_refs_ref ON manifest_refs(ref);"
	"CREATE TABLE tags ("
	"  repo_id INTEGER NOT NULL REFERENCES repositories(id),"
	"  name TEXT NOT NULL,"
	"  digest TEXT NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (repo_id, name)) WITHOUT ROWID;"
	"CREATE INDEX tags_digest ON tags(repo_id, digest);",
	/* 1 -> 2: the pull-through cache (proxy.c).  A repository filled from
	 * an upstream names its [proxy] section; blobs and links it brought
	 * are `cached` (evictable under [cache] max_size, least recently
	 * pulled first); a cached tag remembers when the upstream last
	 * confirmed it. */
	"ALTER TABLE repositories ADD COLUMN proxy TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE blobs ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE blobs ADD COLUMN last_pulled INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE repo_blobs ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tags ADD COLUMN checked INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX blobs_cached ON blobs(last_pulled, created) WHERE cached = 1;",
	/* 2 -> 3: who opened each upload session (client address, and the
	 * authenticated user or ''), so that open sessions can be capped per
	 * client and per user across restarts ([limits] max_sessions_per_*).
	 * Sessions from before the upgrade belong to nobody and count
	 * against no one until they finish or expire. */
	"ALTER TABLE uploads ADD COLUMN client TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE uploads ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
	"CREATE INDEX uploads_client ON uploads(client) WHERE client <> '';"
	"CREATE INDEX uploads_owner ON uploads(owner) WHERE owner <> '';",
	/* 3 -> 4: the digest algorithm a session was opened with
	 * (?digest-algorithm=, distribution-spec end-4c), so that a session
	 * resumed after a restart is hashed again the same way.  '' is a
	 * session that named none: hashed as sha256, and its closing PUT
	 * may still name another algorithm (the spool is then re-read). */
	"ALTER TABLE uploads ADD COLUMN alg TEXT NOT NULL DEFAULT '';",
	/* 4 -> 5: nothing here.  PostgreSQL's step 5 indexes creation
	 * times for meta_pg_gc_newest; here meta_sqlite_gc_newest answers
	 * from the files' times, which costs no index.  The step keeps the
	 * two schemas' version numbers in step. */
	"SELECT 1;",
	/* 5 -> 6: references indexed by (repo_id, ref), not by ref alone
	 * (issue 19).  Refs are random digests: under an index on ref, a
	 * gc batch of 1,000 manifests dirtied ~4,700 scattered pages of it
	 * (~19 MB of WAL per commit at the full bench size); by repository,
	 * one repository's refs (~100 at the bench's sizes) share 4-5 pages
	 * and gc deletes in (repo_id, digest) order.  is_manifest makes the index covering:
	 * without it the planner searched gc's "is it an index's child?"
	 * checks by the primary key's repo_id alone (every ref of the
	 * repository).  Every lookup by ref names its repository but one: a
	 * cached blob's eviction (META_PROXY_EVICTABLE) asks whether a
	 * manifest anywhere references it.  It reaches the repositories that
	 * hold the blob through repo_blobs_digest, and those that reference
	 * it without holding it (sparse, foreign, unlinked since) through
	 * manifest_refs_absent: exactly the (ref, repository) pairs with a
	 * reference and no repo_blobs row, kept so by the triggers whatever
	 * statement changes either table (exact because SQLite has one
	 * writer at a time). */
	"DROP INDEX manifest_refs_ref;"
	"CREATE INDEX manifest_refs_repo_ref ON manifest_refs(repo_id, ref, is_manifest);"
	"CREATE TABLE manifest_refs_absent ("
	"  ref TEXT NOT NULL,"
	"  repo_id INTEGER NOT NULL,"
	"  PRIMARY KEY (ref, repo_id)) WITHOUT ROWID;"
	"INSERT INTO manifest_refs_absent(ref, repo_id) SELECT DISTINCT f.ref, f.repo_id "
	"  FROM manifest_refs f WHERE NOT EXISTS (SELECT 1 FROM repo_blobs rb "
	"  WHERE rb.repo_id = f.repo_id AND rb.digest = f.ref);"
	"CREATE TRIGGER manifest_refs_absent_add AFTER INSERT ON manifest_refs "
	"  WHEN NOT EXISTS (SELECT 1 FROM repo_blobs WHERE repo_id = new.repo_id "
	"  AND digest = new.ref) BEGIN "
	"  INSERT INTO manifest_refs_absent(ref, repo_id) VALUES (new.ref, new.repo_id) "
	"  ON CONFLICT DO NOTHING; END;"
	"CREATE TRIGGER manifest_refs_absent_drop AFTER DELETE ON manifest_refs "
	"  WHEN EXISTS (SELECT 1 FROM manifest_refs_absent WHERE ref = old.ref "
	"  AND repo_id = old.repo_id) AND NOT EXISTS (SELECT 1 FROM manifest_refs "
	"  WHERE repo_id = old.repo_id AND ref = old.ref) BEGIN "
	"  DELETE FROM manifest_refs_absent WHERE ref = old.ref AND repo_id = old.repo_id; END;"
	"CREATE TRIGGER repo_blobs_absent_drop AFTER INSERT ON repo_blobs BEGIN "
	"  DELETE FROM manifest_refs_absent WHERE ref = new.digest AND repo_id = new.repo_id; END;"
	"CREATE TRIGGER repo_blobs_absent_add AFTER DELETE ON repo_blobs "
	"  WHEN EXISTS (SELECT 1 FROM manifest_refs WHERE repo_id = old.repo_id "
	"  AND ref = old.digest) BEGIN "
	"  INSERT INTO manifest_refs_absent(ref, repo_id) VALUES (old.digest, old.repo_id) "
	"  ON CONFLICT DO NOTHING; END;",
};

#define META_SCHEMA_VERSION ((int)(sizeof(meta_migrations) / sizeof(meta_migrations[0])))

struct meta_conn {
	sqlite3 *db;
	uint64_t busy;			/* lock waits, for metrics */
	sqlite3_stmt *stmt[S_COUNT];
	int gc_batch;			/* a gc batch transaction is open */
	int gc_cache;			/* the sweep's larger page cache is set */
	int gc_batch_rows;		/* deletions in it */
	struct timespec gc_batch_t0;	/* when it began */
	int collector;			/* gc's connection: its waits are not signalled */
	struct meta_ckpt *ckpt;		/* the database's checkpointer, or NULL */
	uint32_t *waiters;		/* <db>-wait, shared: bumped by a waiting writer */
	uint32_t waiters_seen;		/* its value when the batch last looked */
	char path[PATH_MAX];
};

static int meta_sqlite_gc_flush(struct meta_conn *m);

static int
meta_sqlite_fail(struct meta_conn *m, const char *what)
{
	int code = sqlite3_extended_errcode(m->db);

	log_error("meta: %s: %s (%d)", what, sqlite3_errmsg(m->db), code);
	if ((code & 0xff) == SQLITE_FULL)
		return -ERR_NO_SPACE;
	if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
		return -ERR_UNAVAILABLE;
	return -ERR_INTERNAL;
}

/* The cached statement, reset and with bindings cleared. */
static sqlite3_stmt *
meta_sqlite_stmt(struct meta_conn *m, enum meta_stmt s)
{
	if (m->stmt[s] == NULL) {
		if (sqlite3_prepare_v3(m->db, meta_sql[s], -1, SQLITE_PREPARE_PERSISTENT,
		    &m->stmt[s], NULL) != SQLITE_OK) {
			meta_sqlite_fail(m, meta_sql[s]);
			return NULL;
		}
	} else {
		sqlite3_reset(m->stmt[s]);
		sqlite3_clear_bindings(m->stmt[s]);
	}
	return m->stmt[s];
}

static int
meta_sqlite_exec_stmt(struct meta_conn *m, enum meta_stmt s)
{
	sqlite3_stmt *st = meta_sqlite_stmt(m, s);
	int rc;

	if (st == NULL)
		return -ERR_INTERNAL;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return meta_sqlite_fail(m, meta_sql[s]);
	return 0;
}

static int
meta_sqlite_begin(struct meta_conn *m)
{
	return meta_sqlite_exec_stmt(m, S_BEGIN);
}

static int
meta_sqlite_commit(struct meta_conn *m)
{
	return meta_sqlite_exec_stmt(m, S_COMMIT);
}

static void
meta_sqlite_rollback(struct meta_conn *m)
{
	if (!sqlite3_get_autocommit(m->db))
		meta_sqlite_exec_stmt(m, S_ROLLBACK);
}

static long long
meta_sqlite_now(void)
{
	return (long long)time(NULL);
}

static int
meta_sqlite_migrate(struct meta_conn *m)
{
	sqlite3_stmt *st;
	int version = 0;
	char *err = NULL;

	if (sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return meta_sqlite_fail(m, "begin migration");
	if (sqlite3_prepare_v2(m->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > META_SCHEMA_VERSION) {
		log_error("meta: %s has schema version %d, newer than this ociregd (%d)", m->path,
		    version, META_SCHEMA_VERSION);
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
		return -ERR_INTERNAL;
	}
	for (; version < META_SCHEMA_VERSION; version++) {
		char pragma[64];

		if (sqlite3_exec(m->db, meta_migrations[version], NULL, NULL, &err) != SQLITE_OK) {
			log_error("meta: migration %d -> %d: %s", version, version + 1, err);
			sqlite3_free(err);
			goto fail;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
		if (sqlite3_exec(m->db, pragma, NULL, NULL, NULL) != SQLITE_OK)
			goto fail;
		log_info("meta: schema migrated to version %d", version + 1);
	}
	if (sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	meta_sqlite_fail(m, "migration");
	sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
	return -ERR_INTERNAL;
}

/* ---- the checkpointer ----
 *
 * SQLite copies the write-ahead log back into the database (a checkpoint,
 * with an fsync of each) from inside the commit that takes the log past
 * 1,000 pages: whichever connection commits then does it, and the daemon's
 * connections commit on their workers' event loops.  While a collection
 * wrote large batches, pushes' commits on the loops took 50 ms to 1.9 s
 * that way (every request of the worker waiting).  So no connection
 * checkpoints by itself: its commit hook wakes this thread, one per
 * database and process, which checkpoints (PASSIVE: it never waits for or
 * blocks readers and writers) on its own connection.  The last connection
 * to the database closed stops it.  If the thread cannot start, SQLite's
 * automatic checkpoints stay on. */
#define META_CKPT_FRAMES 1000		/* SQLite's own wal_autocheckpoint */

struct meta_ckpt {
	char path[PATH_MAX];
	int refs;			/* connections using it (meta_ckpt_mu) */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int want, stop;
	int ready;			/* its connection has read the database */
	struct meta_ckpt *next;
};

static pthread_mutex_t meta_ckpt_mu = PTHREAD_MUTEX_INITIALIZER;
static struct meta_ckpt *meta_ckpts;

static void *
meta_ckpt_main(void *arg)
{
	struct meta_ckpt *c = arg;
	sqlite3 *db = NULL;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		int rc;

		while (!c->want && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		c->want = 0;
		pthread_mutex_unlock(&c->mu);
		if (db == NULL && sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE |
		    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
			log_error("meta: checkpointer: open %s: %s", c->path,
			    db != NULL ? sqlite3_errmsg(db) : "no memory");
			sqlite3_close(db);
			db = NULL;
		}
		/* A fresh connection knows the log only once it has read
		 * the database: before, a checkpoint does nothing. */
		if (db != NULL && !c->ready) {
			if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) == SQLITE_OK) {
				sqlite3_wal_autocheckpoint(db, 0);
				c->ready = 1;
			} else {
				log_error("meta: checkpointer: %s: %s", c->path, sqlite3_errmsg(db));
			}
		}
		if (db != NULL && c->ready) {
			rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
			if (rc != SQLITE_OK && rc != SQLITE_BUSY)
				log_error("meta: checkpoint of %s: %s", c->path, sqlite3_errmsg(db));
		}
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	sqlite3_close(db);
	return NULL;
}

/* After each commit: a log past META_CKPT_FRAMES pages wakes the thread. */
static int
meta_ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct meta_ckpt *c = arg;

	(void)db;
	(void)name;
	if (frames >= META_CKPT_FRAMES) {
		pthread_mutex_lock(&c->mu);
		c->want = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

/* The checkpointer of m's database, started if it is the first user;
 * NULL if it could not be (SQLite then checkpoints in commits, as usual). */
static struct meta_ckpt *
meta_ckpt_get(const char *path)
{
	struct meta_ckpt *c;

	pthread_mutex_lock(&meta_ckpt_mu);
	for (c = meta_ckpts; c != NULL; c = c->next)
		if (strcmp(c->path, path) == 0)
			break;
	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
		snprintf(c->path, sizeof(c->path), "%s", path);
		pthread_mutex_init(&c->mu, NULL);
		pthread_cond_init(&c->cv, NULL);
		if (pthread_create(&c->thread, NULL, meta_ckpt_main, c) != 0) {
			log_error("meta: no checkpointer thread for %s: %s", path, strerror(errno));
			pthread_cond_destroy(&c->cv);
			pthread_mutex_destroy(&c->mu);
			free(c);
			c = NULL;
		} else {
			c->next = meta_ckpts;
			meta_ckpts = c;
		}
	}
	if (c != NULL)
		c->refs++;
	pthread_mutex_unlock(&meta_ckpt_mu);
	return c;
}

static void
meta_ckpt_put(struct meta_ckpt *c)
{
	struct meta_ckpt **pp;

	if (c == NULL)
		return;
	pthread_mutex_lock(&meta_ckpt_mu);
	if (--c->refs > 0) {
		pthread_mutex_unlock(&meta_ckpt_mu);
		return;
	}
	for (pp = &meta_ckpts; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	pthread_mutex_unlock(&meta_ckpt_mu);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Wait for a lock held by another connection: up to ~10 s in 1 ms
 * sleeps, counting each wait for the metrics.  A writer that waits (a
 * push, on its worker's loop) also bumps the shared counter in <db>-wait:
 * a garbage collection holding the lock for a batch of deletions sees it
 * and commits at once (meta_sqlite_gc_batch_end), so a push waits for one
 * deletion and a commit rather than for the whole batch. */
static int
meta_sqlite_busy(void *arg, int n)
{
	struct meta_conn *m = arg;

	__atomic_add_fetch(&m->busy, 1, __ATOMIC_RELAXED);
	if (n >= 10000)
		return 0;
	if (m->waiters != NULL && !m->collector)
		__atomic_add_fetch(m->waiters, 1, __ATOMIC_RELAXED);
	usleep(1000);
	return 1;
}

/* Map <db>-wait, the counter writers bump while they wait for the lock.
 * Without it (a read-only root, say) collections only batch by size and
 * time, as before it existed. */
static void
meta_sqlite_waiters_map(struct meta_conn *m)
{
	char path[sizeof(m->path) + 8];
	struct stat db, st;
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s-wait", m->path);
	if (stat(m->path, &db) != 0 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return;
	/* As SQLite does with -wal and -shm: a command run as root (ociregd
	 * gc) leaves the file to the database's owner (the daemon's user). */
	if (geteuid() == 0 && fchown(fd, db.st_uid, db.st_gid) != 0)
		log_debug("meta: chown %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_size < (off_t)sizeof(uint32_t) && ftruncate(fd, sizeof(uint32_t)) != 0)) {
		close(fd);
		return;
	}
	p = mmap(NULL, sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p != MAP_FAILED)
		m->waiters = p;
}

static uint64_t
meta_sqlite_busy_retries(struct meta_conn *m)
{
	return __atomic_load_n(&m->busy, __ATOMIC_RELAXED);
}

/* The database file plus its write-ahead log. */
static int
meta_sqlite_size(struct meta_conn *m, uint64_t *bytes)
{
	char wal[sizeof(m->path) + 8];
	struct stat st;

	/* The database file plus its write-ahead log, which holds recent
	 * commits until a checkpoint copies them in: both are on disk. */
	if (stat(m->path, &st) != 0) {
		int err = errno;

		log_error("meta: stat %s: %s", m->path, strerror(err));
		return -(int)errors_from_errno(err);
	}
	*bytes = (uint64_t)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", m->path);
	if (stat(wal, &st) == 0)
		*bytes += (uint64_t)st.st_size;
	return 0;
}

static int
meta_sqlite_stats(struct meta_conn *m, uint64_t *uploads, uint64_t *blobs, uint64_t *bytes)
{
	sqlite3_stmt *st;
	int rc = -ERR_INTERNAL;

	if (sqlite3_prepare_v2(m->db, "SELECT (SELECT count(*) FROM uploads), count(*), "
	    "coalesce(sum(size), 0) FROM blobs", -1, &st, NULL) != SQLITE_OK)
		return meta_sqlite_fail(m, "stats");
	if (sqlite3_step(st) == SQLITE_ROW) {
		*uploads = (uint64_t)sqlite3_column_int64(st, 0);
		*blobs = (uint64_t)sqlite3_column_int64(st, 1);
		*bytes = (uint64_t)sqlite3_column_int64(st, 2);
		rc = 0;
	} else {
		rc = meta_sqlite_fail(m, "stats");
	}
	sqlite3_finalize(st);
	return rc;
}

static void
meta_sqlite_close(struct meta_conn *m)
{
	if (m == NULL)
		return;
	meta_sqlite_gc_flush(m);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(m->stmt[i]);
	sqlite3_close(m->db);
	meta_ckpt_put(m->ckpt);
	if (m->waiters != NULL)
		munmap(m->waiters, sizeof(uint32_t));
	free(m);
}

static struct meta_conn *
meta_sqlite_open(const struct config *cfg)
{
	struct meta_conn *m;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_error("meta: out of memory");
		return NULL;
	}
	if ((size_t)snprintf(m->path, sizeof(m->path), "%s/meta.db", cfg->root) >= sizeof(m->path)) {
		log_error("meta: %s/meta.db: path too long", cfg->root);
		goto fail;
	}
	if (sqlite3_open_v2(m->path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("meta: open %s: %s", m->path, m->db ? sqlite3_errmsg(m->db) : "no memory");
		goto fail;
	}
	/* Several workers write through their own connections: wait for the
	 * lock rather than fail.  synchronous=FULL in WAL mode makes every
	 * commit durable before the client hears 2xx (but a PATCH's new
	 * session size: see meta_sqlite_upload_set_size). */
	sqlite3_busy_handler(m->db, meta_sqlite_busy, m);
	/* A 1 MiB page cache per connection: the hot rows (tags, recent
	 * blobs) fit, and N workers do not each pin SQLite's 2 MiB default. */
	if (sqlite3_exec(m->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
	    "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-1024;",
	    NULL, NULL, NULL) != SQLITE_OK) {
		meta_sqlite_fail(m, "pragmas");
		goto fail;
	}
	if (meta_sqlite_migrate(m) != 0)
		goto fail;
	meta_sqlite_waiters_map(m);
	/* Checkpoints on the checkpointer's thread, not in this
	 * connection's commits (a worker's loop). */
	if ((m->ckpt = meta_ckpt_get(m->path)) != NULL)
		sqlite3_wal_hook(m->db, meta_ckpt_hook, m->ckpt);
	return m;
fail:
	meta_sqlite_close(m);
	return NULL;
}

static int
meta_sqlite_schema_version(struct meta_conn *m)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(m->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Repository id; with create, inserts it.  0, -ERR_NAME_UNKNOWN or error. */
static int
meta_sqlite_repo_id(struct meta_conn *m, const char *repo, int create, sqlite3_int64 *id)
{
	sqlite3_stmt *st;
	int rc;

	if (create) {
		if ((st = meta_sqlite_stmt(m, S_REPO_INSERT)) == NULL)
			return -ERR_INTERNAL;
		sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, meta_sqlite_now());
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return meta_sqlite_fail(m, "insert repository");
	}
	if ((st = meta_sqlite_stmt(m, S_REPO_ID)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return -ERR_NAME_UNKNOWN;
	return meta_sqlite_fail(m, "select repository");
}

static int
meta_sqlite_repo_exists(struct meta_conn *m, const char *repo)
{
	sqlite3_int64 id;

	return meta_sqlite_repo_id(m, repo, 0, &id);
}

/* The blob and repo_blobs rows, inside the caller's transaction. */
static int
meta_sqlite_blob_link_tx(struct meta_conn *m, const char *repo, const char *digest, uint64_t size)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_repo_id(m, repo, 1, &id)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_BLOB_INSERT)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, meta_sqlite_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_sqlite_fail(m, "insert blob");
	if ((st = meta_sqlite_stmt(m, S_REPO_BLOB_INSERT)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, meta_sqlite_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_sqlite_fail(m, "insert repo blob");
	return 0;
}

static int
meta_sqlite_blob_link(struct meta_conn *m, const char *repo, const char *digest, uint64_t size)
{
	int rc;

	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if ((rc = meta_sqlite_blob_link_tx(m, repo, digest, size)) != 0 ||
	    (rc = meta_sqlite_commit(m)) != 0)
		meta_sqlite_rollback(m);
	return rc;
}

static int
meta_sqlite_blob_get(struct meta_conn *m, const char *repo, const char *digest, uint64_t *size)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_sqlite_stmt(m, S_REPO_BLOB_GET)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ERR_BLOB_UNKNOWN : meta_sqlite_fail(m, "select repo blob");
}

static int
meta_sqlite_blob_unlink(struct meta_conn *m, const char *repo, const char *digest)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_sqlite_stmt(m, S_REPO_BLOB_DELETE)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_sqlite_fail(m, "delete repo blob");
	return sqlite3_changes(m->db) > 0 ? 0 : -ERR_BLOB_UNKNOWN;
}

static int
meta_sqlite_blob_find_repo(struct meta_conn *m, const char *digest, const char *except,
    char out[REFERENCE_NAME_MAX + 1])
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_sqlite_stmt(m, S_BLOB_FIND_REPO)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, except, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, REFERENCE_NAME_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ERR_BLOB_UNKNOWN : meta_sqlite_fail(m, "find blob");
}

static int
meta_sqlite_blob_mount(struct meta_conn *m, const char *src, const char *dst, const char *digest)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc, changed;

	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if ((rc = meta_sqlite_repo_id(m, dst, 1, &id)) != 0)
		goto fail;
	if ((st = meta_sqlite_stmt(m, S_BLOB_MOUNT)) == NULL) {
		rc = -ERR_INTERNAL;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, meta_sqlite_now());
	sqlite3_bind_text(st, 4, src, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = meta_sqlite_fail(m, "mount");
		goto fail;
	}
	changed = sqlite3_changes(m->db);
	if (changed == 0 && strcmp(src, dst) != 0) {
		/* Either the source lost it, or dst had it already. */
		uint64_t size;

		if (meta_sqlite_blob_get(m, dst, digest, &size) != 0) {
			rc = -ERR_BLOB_UNKNOWN;
			goto fail;
		}
	}
	if ((rc = meta_sqlite_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_sqlite_rollback(m);
	return rc;
}

/* Inside meta_manifest_put's transaction: is the reference still there? */
static int
meta_sqlite_ref_present(struct meta_conn *m, sqlite3_int64 id, const struct meta_ref *r)
{
	sqlite3_stmt *st = meta_sqlite_stmt(m, r->is_manifest ? S_REF_CHECK_MANIFEST : S_REF_CHECK_BLOB);
	int rc;

	if (st == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, r->digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ERR_MANIFEST_BLOB_UNKNOWN : meta_sqlite_fail(m, "check reference");
}

/* How many sessions (at most max) match key through statement s. */
static int
meta_sqlite_upload_count(struct meta_conn *m, enum meta_stmt s, const char *key, int max, int *n)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_sqlite_stmt(m, s)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, max);
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : meta_sqlite_fail(m, "count uploads");
}

static int
meta_sqlite_upload_open(struct meta_conn *m, const char *id, const char *repo, const char *client,
    const char *user, const char *alg, int max_client, int max_user)
{
	sqlite3_stmt *st;
	int n, rc;

	/* Count and insert in one write transaction: BEGIN IMMEDIATE
	 * serialises the workers' connections, so two POSTs of the same
	 * client cannot both see room for one more. */
	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if (client[0] != '\0' && max_client > 0) {
		if ((rc = meta_sqlite_upload_count(m, S_UPLOAD_COUNT_CLIENT, client, max_client, &n)) != 0)
			goto fail;
		if (n >= max_client) {
			rc = -ERR_TOOMANYREQUESTS;
			goto fail;
		}
	}
	if (user[0] != '\0' && max_user > 0) {
		if ((rc = meta_sqlite_upload_count(m, S_UPLOAD_COUNT_OWNER, user, max_user, &n)) != 0)
			goto fail;
		if (n >= max_user) {
			rc = -ERR_TOOMANYREQUESTS;
			goto fail;
		}
	}
	if ((st = meta_sqlite_stmt(m, S_UPLOAD_OPEN)) == NULL) {
		rc = -ERR_INTERNAL;
		goto fail;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, repo, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, meta_sqlite_now());
	sqlite3_bind_text(st, 4, client, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, alg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = meta_sqlite_fail(m, "insert upload");
		goto fail;
	}
	if ((rc = meta_sqlite_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_sqlite_rollback(m);
	return rc;
}

static int
meta_sqlite_upload_touch(struct meta_conn *m, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_sqlite_stmt(m, S_UPLOAD_TOUCH)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, meta_sqlite_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_sqlite_fail(m, "touch upload");
	return sqlite3_changes(m->db) > 0 ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
}

static void meta_sqlite_copy_col(sqlite3_stmt *st, int col, char *out, size_t cap);

static int
meta_sqlite_upload_get(struct meta_conn *m, const char *id, char repo[REFERENCE_NAME_MAX + 1],
    uint64_t *size, char alg[META_UPLOAD_ALG_MAX + 1])
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_sqlite_stmt(m, S_UPLOAD_GET)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(repo, REFERENCE_NAME_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		*size = (uint64_t)sqlite3_column_int64(st, 1);
		if (alg != NULL)
			meta_sqlite_copy_col(st, 2, alg, META_UPLOAD_ALG_MAX + 1);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ERR_BLOB_UPLOAD_UNKNOWN : meta_sqlite_fail(m, "select upload");
}

/* The size a PATCH reached.  Without flush it commits with
 * synchronous=NORMAL: the WAL is written (a killed process loses nothing)
 * but not fsynced, which was the larger part of a 16 MiB PATCH's fixed
 * cost (0.3-4.8 ms, 0.54 ms median, of ~1.25 ms here).  Power loss may
 * take the row back to an earlier size; a local spool is then cut back to
 * it at the next write and the client resumes from there (the Range it is
 * told).  A durable row would buy nothing more there: the spool's bytes
 * are fsynced only at the closing PUT, so a row that outlived them would
 * name bytes that are gone.  The next FULL commit of this connection (the
 * PUT's) makes it durable.  (An object store's parts are durable at once,
 * and it drops the state of older sizes: it asks for flush.) */
static int
meta_sqlite_upload_set_size(struct meta_conn *m, const char *id, uint64_t size, int flush)
{
	sqlite3_stmt *st;
	int rc, changed;

	if (!flush && (rc = meta_sqlite_exec_stmt(m, S_SYNC_NORMAL)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_UPLOAD_SET_SIZE)) == NULL) {
		rc = -ERR_INTERNAL;
		goto out;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, meta_sqlite_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	changed = sqlite3_changes(m->db) > 0;
	if (rc != SQLITE_DONE)
		rc = meta_sqlite_fail(m, "update upload");
	else
		rc = changed ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
out:
	/* Every other commit of this connection stays FULL; if that cannot
	 * be restored the connection must not be trusted with them. */
	if (!flush && meta_sqlite_exec_stmt(m, S_SYNC_FULL) != 0) {
		log_error("meta: cannot restore synchronous=FULL on %s", m->path);
		return -ERR_INTERNAL;
	}
	return rc;
}

static int
meta_sqlite_upload_delete(struct meta_conn *m, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_sqlite_stmt(m, S_UPLOAD_DELETE)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_sqlite_fail(m, "delete upload");
	return sqlite3_changes(m->db) > 0 ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
}

static int
meta_sqlite_upload_finish(struct meta_conn *m, const char *id, const char *repo,
    const char *digest, uint64_t size)
{
	int rc;

	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if ((rc = meta_sqlite_upload_delete(m, id)) != 0 ||
	    (rc = meta_sqlite_blob_link_tx(m, repo, digest, size)) != 0 ||
	    (rc = meta_sqlite_commit(m)) != 0)
		meta_sqlite_rollback(m);
	return rc;
}

/* ---- manifests ---- */

static void
meta_sqlite_copy_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static int
meta_sqlite_manifest_put(struct meta_conn *m, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *const *tags, size_t ntags)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if ((rc = meta_sqlite_repo_id(m, repo, 1, &id)) != 0)
		goto fail;
	/* The manifest's own bytes are a blob of this repository too. */
	if ((rc = meta_sqlite_blob_link_tx(m, repo, mf->digest, mf->size)) != 0)
		goto fail;
	if ((st = meta_sqlite_stmt(m, S_MANIFEST_INSERT)) == NULL) {
		rc = -ERR_INTERNAL;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, mf->digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, mf->media_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, mf->artifact_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, mf->subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)mf->size);
	sqlite3_bind_int64(st, 7, meta_sqlite_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = meta_sqlite_fail(m, "insert manifest");
		goto fail;
	}
	for (size_t i = 0; i < nrefs; i++) {
		/* Checked again under the write lock: garbage collection may
		 * have dropped a blob since the handler looked. */
		if (!refs[i].skip_check && (rc = meta_sqlite_ref_present(m, id, &refs[i])) != 0)
			goto fail;
		if ((st = meta_sqlite_stmt(m, S_REF_INSERT)) == NULL) {
			rc = -ERR_INTERNAL;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, mf->digest, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, refs[i].digest, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, refs[i].is_manifest);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			rc = meta_sqlite_fail(m, "insert manifest ref");
			goto fail;
		}
	}
	for (size_t i = 0; i < ntags; i++) {
		if ((st = meta_sqlite_stmt(m, S_TAG_UPSERT)) == NULL) {
			rc = -ERR_INTERNAL;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, tags[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, mf->digest, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, meta_sqlite_now());
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			rc = meta_sqlite_fail(m, "upsert tag");
			goto fail;
		}
	}
	if ((rc = meta_sqlite_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_sqlite_rollback(m);
	return rc;
}

static int
meta_sqlite_manifest_get(struct meta_conn *m, const char *repo, const char *digest,
    struct meta_manifest *out)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_MANIFEST_GET)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out->digest, sizeof(out->digest), "%s", digest);
		meta_sqlite_copy_col(st, 0, out->media_type, sizeof(out->media_type));
		meta_sqlite_copy_col(st, 1, out->artifact_type, sizeof(out->artifact_type));
		meta_sqlite_copy_col(st, 2, out->subject, sizeof(out->subject));
		out->size = (uint64_t)sqlite3_column_int64(st, 3);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ERR_MANIFEST_UNKNOWN : meta_sqlite_fail(m, "select manifest");
}

static void
meta_sqlite_row_manifest(sqlite3_stmt *st, struct meta_manifest *out)
{
	meta_sqlite_copy_col(st, 0, out->digest, sizeof(out->digest));
	meta_sqlite_copy_col(st, 1, out->media_type, sizeof(out->media_type));
	meta_sqlite_copy_col(st, 2, out->artifact_type, sizeof(out->artifact_type));
	meta_sqlite_copy_col(st, 3, out->subject, sizeof(out->subject));
	out->size = (uint64_t)sqlite3_column_int64(st, 4);
}

static int
meta_sqlite_tag_get(struct meta_conn *m, const char *repo, const char *tag,
    struct meta_manifest *out)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_TAG_GET)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		meta_sqlite_row_manifest(st, out);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ERR_MANIFEST_UNKNOWN : meta_sqlite_fail(m, "select tag");
}

/* Run one statement with (repo id, text) bindings inside a transaction. */
static int
meta_sqlite_exec_id_text(struct meta_conn *m, enum meta_stmt s, sqlite3_int64 id, const char *text)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_sqlite_stmt(m, s)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : meta_sqlite_fail(m, meta_sql[s]);
}

static int
meta_sqlite_manifest_delete(struct meta_conn *m, const char *repo, const char *digest)
{
	sqlite3_int64 id;
	int rc, changed;

	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if ((rc = meta_sqlite_repo_id(m, repo, 0, &id)) != 0)
		goto fail;
	if ((rc = meta_sqlite_exec_id_text(m, S_MANIFEST_DELETE, id, digest)) != 0)
		goto fail;
	changed = sqlite3_changes(m->db);
	if (changed == 0) {
		rc = -ERR_MANIFEST_UNKNOWN;
		goto fail;
	}
	/* The manifest's own bytes leave the repository with it. */
	if ((rc = meta_sqlite_exec_id_text(m, S_REFS_DELETE, id, digest)) != 0 ||
	    (rc = meta_sqlite_exec_id_text(m, S_TAGS_DELETE_DIGEST, id, digest)) != 0 ||
	    (rc = meta_sqlite_exec_id_text(m, S_REPO_BLOB_DELETE_ID, id, digest)) != 0 ||
	    (rc = meta_sqlite_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_sqlite_rollback(m);
	return rc;
}

static int
meta_sqlite_tag_delete(struct meta_conn *m, const char *repo, const char *tag)
{
	sqlite3_int64 id;
	int rc;

	if ((rc = meta_sqlite_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((rc = meta_sqlite_exec_id_text(m, S_TAG_DELETE, id, tag)) != 0)
		return rc;
	return sqlite3_changes(m->db) > 0 ? 0 : -ERR_MANIFEST_UNKNOWN;
}

/* Step a listing statement, n + 1 rows, to learn whether more remain. */
static int
meta_sqlite_list_rows(struct meta_conn *m, sqlite3_stmt *st, long n, meta_list_fn fn, void *arg,
    int *more)
{
	long count = 0;
	int rc;

	*more = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == n) {
			*more = 1;
			break;
		}
		/* XXX with a filtering callback, `more` may be set by a
		 * row the caller will not see: the next page is then empty. */
		int r = fn(arg, (const char *)sqlite3_column_text(st, 0));

		if (r == 1)
			break;
		if (r == 0)
			count++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return meta_sqlite_fail(m, "list");
	return 0;
}

static int
meta_sqlite_tag_list(struct meta_conn *m, const char *repo, const char *last, long n,
    meta_list_fn fn, void *arg, int *more)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_TAG_LIST)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, last, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)n + 1);
	return meta_sqlite_list_rows(m, st, n, fn, arg, more);
}

static int
meta_sqlite_repo_list(struct meta_conn *m, const char *last, long n, int filtered, meta_list_fn fn,
    void *arg, int *more)
{
	sqlite3_stmt *st;

	if ((st = meta_sqlite_stmt(m, S_REPO_LIST)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, last, -1, SQLITE_STATIC);
	/* A callback that skips rows (access filtering) needs them all. */
	sqlite3_bind_int64(st, 2, filtered ? -1 : (sqlite3_int64)n + 1);
	return meta_sqlite_list_rows(m, st, n, fn, arg, more);
}

static int
meta_sqlite_referrers(struct meta_conn *m, const char *repo, const char *subject,
    const char *artifact_type, const char *last, long n, meta_referrer_fn fn, void *arg, int *more)
{
	struct meta_manifest mf;
	sqlite3_int64 id;
	sqlite3_stmt *st;
	long rows = 0;
	int rc;

	*more = 0;
	if ((rc = meta_sqlite_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, artifact_type ? S_REFERRERS_TYPE : S_REFERRERS)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, last, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)n + 1);
	if (artifact_type != NULL)
		sqlite3_bind_text(st, 5, artifact_type, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (rows++ == n) {
			*more = 1;
			continue;
		}
		meta_sqlite_row_manifest(st, &mf);
		if (fn(arg, &mf) != 0)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return meta_sqlite_fail(m, "referrers");
	return 0;
}

/* ---- garbage collection and integrity checks (gc.c, fsck.c) ----
 *
 * Listings are prepared per call.  Listing functions step one SELECT and
 * hand each row to a callback that must not write through this connection
 * (collect, then act): a write while the SELECT is open would stretch one
 * implicit transaction over the sweep.  Deleting functions re-check, in the
 * statement or the transaction that deletes, that what they delete is
 * still unreferenced now.
 *
 * Batches.  Deleting tags, manifests, repository links and blob rows one transaction
 * each costs a commit, and so an fsync (synchronous=FULL), per row: a
 * collection of 100,000 untagged manifests took minutes.  So those
 * deletions share one write transaction, committed after
 * META_GC_BATCH_ROWS rows or META_GC_BATCH_MS milliseconds, whichever comes
 * first (a push waits for the lock at most about that long), and before
 * any other gc or fsck call on the connection runs, so that the next step
 * (blob rows, whose files go next) sees them committed and durable.  Each
 * deletion still re-checks the current state in its own statement, inside
 * the batch's transaction, so a push that committed before the batch began
 * is seen, and a push that comes later waits for the commit and then finds
 * the row gone (MANIFEST_BLOB_UNKNOWN, or it writes the row again).  What a
 * failed batch had deleted comes back with the rollback: the call that
 * fails returns the error, and the collection stops.  A connection that
 * collects does nothing else meanwhile (gc.c opens its own). */

/* Each commit writes every page the batch dirtied (index pages all over,
 * by digest) to the WAL: small batches rewrote the same pages again and
 * again.  100 ms is the longest a batch holds the lock; reads never wait
 * (WAL).  But a push waits for the lock on its worker's event loop
 * (manifest.c, upload.c), and every request of that worker waits with it:
 * with a push loop running, the p99 of GETs during a collection was that
 * wait.  So a writer that waits says so (meta_sqlite_busy bumps the counter
 * in <db>-wait, shared by every process on the database) and the batch
 * commits after the deletion in progress (meta_sqlite_gc_batch_end), then
 * stays off the lock for META_GC_YIELD_US: the push waits for one deletion
 * and a commit.  Batches stay long while nobody waits.  (Fixed batches of
 * 1,000 rows or 10 ms with 5 ms between them made the manifest step 2-4x
 * slower.) */
#define META_GC_BATCH_ROWS 5000
#define META_GC_BATCH_MS 100
/* How long a batch that saw a writer waiting stays off the lock after its
 * commit: the waiter polls every millisecond. */
#define META_GC_YIELD_US 2000
/* The sweep's page cache, KiB.  Its deletions touch pages all over the
 * indexes (by digest): with the connection's 1 MiB each batch re-read and
 * spilled the same pages, and 10x the rows cost 30x the time.  Set at the
 * first batch, back to meta_sqlite_open's size at read_end (the end of a
 * run), so the daemon's collector does not keep it between runs. */
#define META_GC_CACHE_KIB 32768

/* Commit the open batch, if any. */
static int
meta_sqlite_gc_flush(struct meta_conn *m)
{
	int rc;

	if (!m->gc_batch)
		return 0;
	m->gc_batch = 0;
	if ((rc = meta_sqlite_commit(m)) != 0)
		meta_sqlite_rollback(m);
	/* About how long the batch kept writers (pushes) waiting, for tuning
	 * (an automatic checkpoint after the commit is counted in too). */
	if (log_get_level() == LOG_DEBUG) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		log_debug("gc: a batch of %d deletions took %.1f ms from BEGIN to COMMIT done",
		    m->gc_batch_rows,
		    (double)(now.tv_sec - m->gc_batch_t0.tv_sec) * 1e3 +
		    (double)(now.tv_nsec - m->gc_batch_t0.tv_nsec) / 1e6);
	}
	return rc;
}

/* Before a batched deletion: begin the batch if none is open. */
static int
meta_sqlite_gc_batch_begin(struct meta_conn *m)
{
	int rc;

	if (m->gc_batch)
		return 0;
	if (!m->gc_cache) {
		char pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA cache_size=-%d", META_GC_CACHE_KIB);
		if (sqlite3_exec(m->db, pragma, NULL, NULL, NULL) != SQLITE_OK)
			return meta_sqlite_fail(m, pragma);
		m->gc_cache = 1;
	}
	m->collector = 1;
	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	m->gc_batch = 1;
	m->gc_batch_rows = 0;
	clock_gettime(CLOCK_MONOTONIC, &m->gc_batch_t0);
	if (m->waiters != NULL)
		m->waiters_seen = __atomic_load_n(m->waiters, __ATOMIC_RELAXED);
	return 0;
}

/* A writer waited for the lock since the batch began (meta_sqlite_busy)? */
static int
meta_sqlite_gc_waited(struct meta_conn *m)
{
	return m->waiters != NULL &&
	    __atomic_load_n(m->waiters, __ATOMIC_RELAXED) != m->waiters_seen;
}

/* After a batched deletion: commit if the batch is full or old enough. */
static int
meta_sqlite_gc_batch_end(struct meta_conn *m)
{
	struct timespec now;
	long long ms;

	int rc;

	if (meta_sqlite_gc_waited(m)) {
		/* Hand the lock over: commit, then stay off it for longer
		 * than the waiter's poll (1 ms) so that it gets it. */
		rc = meta_sqlite_gc_flush(m);
		usleep(META_GC_YIELD_US);
		return rc;
	}
	if (++m->gc_batch_rows < META_GC_BATCH_ROWS) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long long)(now.tv_sec - m->gc_batch_t0.tv_sec) * 1000 +
		    (now.tv_nsec - m->gc_batch_t0.tv_nsec) / 1000000;
		if (ms < META_GC_BATCH_MS)
			return 0;
	}
	return meta_sqlite_gc_flush(m);
}

/* A batched deletion failed: the whole batch goes. */
static int
meta_sqlite_gc_batch_fail(struct meta_conn *m, int rc)
{
	m->gc_batch = 0;
	meta_sqlite_rollback(m);
	return rc;
}

/* Step a cached gc deletion once; *changed (if not NULL) gets the number
 * of rows it deleted. */
static int
meta_sqlite_gc_step(struct meta_conn *m, sqlite3_stmt *st, const char *what, int *changed)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return meta_sqlite_fail(m, what);
	if (changed != NULL)
		*changed = sqlite3_changes(m->db);
	return 0;
}

static int
meta_sqlite_gc_prepare(struct meta_conn *m, const char *sql, sqlite3_stmt **st)
{
	int rc;

	*st = NULL;
	if ((rc = meta_sqlite_gc_flush(m)) != 0)
		return rc;
	if (sqlite3_prepare_v2(m->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return meta_sqlite_fail(m, sql);
	}
	return 0;
}

/* Step a listing whose columns are (repo_id, repo, digest, aux, size, time,
 * kind) to its end, then finalize it.  A non-zero callback result stops
 * the listing and is returned. */
static int
meta_sqlite_gc_list(struct meta_conn *m, sqlite3_stmt *st, meta_gc_fn fn, void *arg)
{
	struct meta_gc_row row;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t;

		row.repo_id = sqlite3_column_int64(st, 0);
		t = sqlite3_column_text(st, 1);
		row.repo = t ? (const char *)t : "";
		t = sqlite3_column_text(st, 2);
		row.digest = t ? (const char *)t : "";
		t = sqlite3_column_text(st, 3);
		row.aux = t ? (const char *)t : "";
		row.size = (uint64_t)sqlite3_column_int64(st, 4);
		row.time = sqlite3_column_int64(st, 5);
		row.kind = sqlite3_column_int(st, 6);
		if ((r = fn(arg, &row)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = meta_sqlite_fail(m, "gc listing");
	sqlite3_finalize(st);
	return r;
}

/* Step a prepared write statement once and finalize it; *changed (if not
 * NULL) gets the number of rows it changed. */
static int
meta_sqlite_gc_exec(struct meta_conn *m, sqlite3_stmt *st, const char *what, int *changed)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return meta_sqlite_fail(m, what);
	if (changed != NULL)
		*changed = sqlite3_changes(m->db);
	return 0;
}

static int
meta_sqlite_gc_reset(struct meta_conn *m)
{
	char *err = NULL;
	int rc;

	if ((rc = meta_sqlite_gc_flush(m)) != 0)
		return rc;
	/* The temp tables hold what a dry run would have removed, so the
	 * later listings can leave it out; a real run keeps them empty.
	 * They live in a temp file (in TMPDIR; the units' PrivateTmp), not
	 * in memory as the connection's other temp data: at size 1 of
	 * scripts/bench-scale (1.2 M blobs, 200,000 manifests) the mark's
	 * tables made a dry run's peak RSS 37 MiB, 10 MiB in a file, in the
	 * same time (mark 1.2-1.3 s against 1.5-2.0 s, runs alternated); a
	 * real run collecting 50,000 manifests peaked at 54 and 42.5 MiB.
	 * (Setting temp_store drops temp tables: they are emptied here
	 * anyway.) */
	if (sqlite3_exec(m->db,
	    "PRAGMA temp_store=FILE;"
	    "CREATE TEMP TABLE IF NOT EXISTS gc_dead (repo_id INTEGER NOT NULL, digest TEXT NOT NULL,"
	    "  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
	    "CREATE TEMP TABLE IF NOT EXISTS gc_unlinked (repo_id INTEGER NOT NULL, digest TEXT NOT NULL,"
	    "  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
	    /* The mark (meta_sqlite_gc_mark): retention's tags, the live
	     * manifests (gen: the round of the flow that reached them; via:
	     * the young manifest that only grace keeps), the candidates. */
	    "CREATE TEMP TABLE IF NOT EXISTS gc_rtag (repo_id INTEGER NOT NULL, name TEXT NOT NULL,"
	    "  PRIMARY KEY (repo_id, name)) WITHOUT ROWID;"
	    "CREATE TEMP TABLE IF NOT EXISTS gc_live (repo_id INTEGER NOT NULL, digest TEXT NOT NULL,"
	    "  via TEXT, gen INTEGER NOT NULL, PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
	    "CREATE INDEX IF NOT EXISTS temp.gc_live_gen ON gc_live(gen);"
	    "CREATE TEMP TABLE IF NOT EXISTS gc_cand (repo_id INTEGER NOT NULL, digest TEXT NOT NULL,"
	    "  repo TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL,"
	    "  kind INTEGER NOT NULL, aux TEXT NOT NULL, PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
	    "DELETE FROM temp.gc_dead; DELETE FROM temp.gc_unlinked; DELETE FROM temp.gc_rtag;"
	    "DELETE FROM temp.gc_live; DELETE FROM temp.gc_cand;", NULL, NULL, &err) != SQLITE_OK) {
		log_error("meta: gc temp tables: %s", err ? err : "?");
		sqlite3_free(err);
		return -ERR_INTERNAL;
	}
	return 0;
}

static int
meta_sqlite_gc_read_begin(struct meta_conn *m)
{
	int rc;

	if ((rc = meta_sqlite_gc_flush(m)) != 0)
		return rc;
	if (sqlite3_exec(m->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return meta_sqlite_fail(m, "begin read");
	return 0;
}

static void
meta_sqlite_gc_read_end(struct meta_conn *m)
{
	meta_sqlite_gc_flush(m);
	if (!sqlite3_get_autocommit(m->db))
		sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
	if (m->gc_cache && sqlite3_exec(m->db, "PRAGMA cache_size=-1024", NULL, NULL, NULL) == SQLITE_OK)
		m->gc_cache = 0;
}

static int
meta_sqlite_gc_manifests(struct meta_conn *m, meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m,
	    "SELECT m.repo_id, r.name, m.digest, m.subject, m.size, m.created, 0 "
	    "FROM manifests m JOIN repositories r ON r.id = m.repo_id ORDER BY m.repo_id, m.digest",
	    &st)) != 0)
		return rc;
	return meta_sqlite_gc_list(m, st, fn, arg);
}

static int
meta_sqlite_gc_tags(struct meta_conn *m, meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m, "SELECT t.repo_id, r.name, t.digest, t.name, 0, t.updated, 0 "
	    "FROM tags t JOIN repositories r ON r.id = t.repo_id "
	    "ORDER BY t.repo_id, t.updated DESC, t.name", &st)) != 0)
		return rc;
	return meta_sqlite_gc_list(m, st, fn, arg);
}

static int
meta_sqlite_gc_children(struct meta_conn *m, meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m, "SELECT repo_id, '', digest, ref, 0, 0, 0 FROM manifest_refs "
	    "WHERE is_manifest = 1", &st)) != 0)
		return rc;
	return meta_sqlite_gc_list(m, st, fn, arg);
}

static int
meta_sqlite_gc_tag_delete(struct meta_conn *m, int64_t repo_id, const char *name,
    const char *digest, int64_t updated, int *removed)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_batch_begin(m)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_GC_TAG_DELETE)) == NULL)
		return meta_sqlite_gc_batch_fail(m, -ERR_INTERNAL);
	sqlite3_bind_int64(st, 1, repo_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, updated);
	if ((rc = meta_sqlite_gc_step(m, st, "gc delete tag", removed)) != 0)
		return meta_sqlite_gc_batch_fail(m, rc);
	return meta_sqlite_gc_batch_end(m);
}

static int
meta_sqlite_gc_manifest_delete(struct meta_conn *m, int64_t repo_id, const char *digest,
    int64_t before, int *removed)
{
	sqlite3_stmt *st;
	int rc, n = 0;

	*removed = 0;
	/* The row and its references go in the same (batch) transaction. */
	if ((rc = meta_sqlite_gc_batch_begin(m)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_GC_MANIFEST_DELETE)) == NULL)
		return meta_sqlite_gc_batch_fail(m, -ERR_INTERNAL);
	sqlite3_bind_int64(st, 1, repo_id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, before);
	if ((rc = meta_sqlite_gc_step(m, st, "gc delete manifest", &n)) != 0)
		return meta_sqlite_gc_batch_fail(m, rc);
	if (n > 0) {
		if ((st = meta_sqlite_stmt(m, S_GC_MANIFEST_REFS_DELETE)) == NULL)
			return meta_sqlite_gc_batch_fail(m, -ERR_INTERNAL);
		sqlite3_bind_int64(st, 1, repo_id);
		sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
		if ((rc = meta_sqlite_gc_step(m, st, "gc delete manifest refs", NULL)) != 0)
			return meta_sqlite_gc_batch_fail(m, rc);
	}
	*removed = n > 0;
	return meta_sqlite_gc_batch_end(m);
}

/* Record (repo_id, digest) in a temp table (dry run). */
static int
meta_sqlite_gc_dry_insert(struct meta_conn *m, const char *sql, int64_t repo_id, const char *digest)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m, sql, &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, repo_id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	return meta_sqlite_gc_exec(m, st, "gc dry run", NULL);
}

static int
meta_sqlite_gc_dry_manifest(struct meta_conn *m, int64_t repo_id, const char *digest)
{
	return meta_sqlite_gc_dry_insert(m, "INSERT OR IGNORE INTO temp.gc_dead(repo_id, digest) "
	    "VALUES (?1, ?2)", repo_id, digest);
}

static int
meta_sqlite_gc_dry_link(struct meta_conn *m, int64_t repo_id, const char *digest)
{
	return meta_sqlite_gc_dry_insert(m, "INSERT OR IGNORE INTO temp.gc_unlinked(repo_id, digest) "
	    "VALUES (?1, ?2)", repo_id, digest);
}

static int
meta_sqlite_gc_links(struct meta_conn *m, int64_t before, int64_t after_id, const char *after,
    long n, meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	/* A link is referenced by a manifest of its repository that lists
	 * it, or is that manifest's own bytes (minus what a dry run has
	 * already counted as removed).  A page in key order: the scan goes
	 * on where the last page ended. */
	if ((rc = meta_sqlite_gc_prepare(m,
	    "SELECT rb.repo_id, r.name, rb.digest, '', b.size, rb.created, "
	    "  EXISTS (SELECT 1 FROM temp.gc_cand c WHERE c.repo_id = rb.repo_id "
	    "  AND c.digest = rb.digest) "
	    "FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
	    "JOIN blobs b ON b.digest = rb.digest WHERE rb.created < ?1 "
	    "AND (rb.repo_id, rb.digest) > (?2, ?3) "
	    "AND NOT EXISTS (SELECT 1 FROM manifests x WHERE x.repo_id = rb.repo_id "
	    "  AND x.digest = rb.digest AND NOT EXISTS (SELECT 1 FROM temp.gc_dead d "
	    "  WHERE d.repo_id = x.repo_id AND d.digest = x.digest)) "
	    "AND NOT EXISTS (SELECT 1 FROM manifest_refs f WHERE f.repo_id = rb.repo_id "
	    "  AND f.ref = rb.digest AND NOT EXISTS (SELECT 1 FROM temp.gc_dead d "
	    "  WHERE d.repo_id = f.repo_id AND d.digest = f.digest)) "
	    "ORDER BY rb.repo_id, rb.digest LIMIT ?4", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, after_id);
	sqlite3_bind_text(st, 3, after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, n);
	return meta_sqlite_gc_list(m, st, fn, arg);
}

static int
meta_sqlite_gc_link_delete(struct meta_conn *m, int64_t repo_id, const char *digest, int64_t before,
    int *removed)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_batch_begin(m)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_GC_LINK_DELETE)) == NULL)
		return meta_sqlite_gc_batch_fail(m, -ERR_INTERNAL);
	sqlite3_bind_int64(st, 1, repo_id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, before);
	if ((rc = meta_sqlite_gc_step(m, st, "gc delete link", removed)) != 0)
		return meta_sqlite_gc_batch_fail(m, rc);
	return meta_sqlite_gc_batch_end(m);
}

static int
meta_sqlite_gc_blobs(struct meta_conn *m, int64_t before, const char *after, long n,
    meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m,
	    "SELECT 0, '', b.digest, '', b.size, b.created, 0 FROM blobs b "
	    "WHERE b.digest > ?2 AND b.created < ?1 AND NOT EXISTS (SELECT 1 FROM repo_blobs rb "
	    "  WHERE rb.digest = b.digest AND NOT EXISTS (SELECT 1 FROM temp.gc_unlinked u "
	    "  WHERE u.repo_id = rb.repo_id AND u.digest = rb.digest)) ORDER BY b.digest LIMIT ?3",
	    &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, n);
	return meta_sqlite_gc_list(m, st, fn, arg);
}

/* Batched with the other deletions: gc.c flushes (meta_gc_flush) before it
 * removes the files of the rows that went. */
static int
meta_sqlite_gc_blob_delete(struct meta_conn *m, const char *digest, int64_t before, int *removed)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_batch_begin(m)) != 0)
		return rc;
	if ((st = meta_sqlite_stmt(m, S_GC_BLOB_DELETE)) == NULL)
		return meta_sqlite_gc_batch_fail(m, -ERR_INTERNAL);
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, before);
	if ((rc = meta_sqlite_gc_step(m, st, "gc delete blob", removed)) != 0)
		return meta_sqlite_gc_batch_fail(m, rc);
	return meta_sqlite_gc_batch_end(m);
}

/* ---- the mark (meta.h: meta_gc_mark) ----
 *
 * Set-based, in the temp tables, from the snapshot of read_begin: only
 * temp tables are written, so it stays a read transaction on the database
 * and writers go on.  Conditions below are on a manifest m. */
#define META_GC_TAGGED "EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id " \
	"AND t.digest = m.digest)"
#define META_GC_KEPT_TAG "EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id " \
	"AND t.digest = m.digest AND NOT EXISTS (SELECT 1 FROM temp.gc_rtag x " \
	"WHERE x.repo_id = t.repo_id AND x.name = t.name))"
#define META_GC_PARENTS "FROM manifest_refs f JOIN manifests p ON p.repo_id = f.repo_id " \
	"AND p.digest = f.digest WHERE f.ref = m.digest AND f.repo_id = m.repo_id " \
	"AND f.is_manifest = 1"
#define META_GC_SUBJECT "(m.subject <> '' AND EXISTS (SELECT 1 FROM manifests s " \
	"WHERE s.repo_id = m.repo_id AND s.digest = m.subject))"
#define META_GC_DEPENDENT "(EXISTS (SELECT 1 " META_GC_PARENTS ") OR " META_GC_SUBJECT ")"

/* Run one mark statement with integer parameters v; *changed (if not
 * NULL) gets the rows it wrote. */
static int
meta_sqlite_gc_mark_step(struct meta_conn *m, const char *sql, const int64_t *v, int nv,
    int *changed)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return meta_sqlite_fail(m, sql);
	for (int i = 0; i < nv; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
	return meta_sqlite_gc_exec(m, st, "gc mark", changed);
}

/* Flow liveness from the manifests of round *gen on, round by round, to
 * index children and referrers; what becomes live inherits `via`. */
static int
meta_sqlite_gc_flow(struct meta_conn *m, int64_t *gen)
{
	int rc, n;

	do {
		int64_t v[1] = {*gen};

		if ((rc = meta_sqlite_gc_mark_step(m,
		    "INSERT OR IGNORE INTO temp.gc_live(repo_id, digest, via, gen) "
		    "SELECT c.repo_id, c.digest, l.via, ?1 + 1 FROM temp.gc_live l "
		    "JOIN manifest_refs f ON f.repo_id = l.repo_id AND f.digest = l.digest "
		    "JOIN manifests c ON c.repo_id = f.repo_id AND c.digest = f.ref "
		    "WHERE l.gen = ?1 AND f.is_manifest = 1 "
		    "UNION ALL "
		    "SELECT s.repo_id, s.digest, l.via, ?1 + 1 FROM temp.gc_live l "
		    "JOIN manifests s ON s.repo_id = l.repo_id AND s.subject = l.digest "
		    "WHERE l.gen = ?1 AND s.subject <> ''", v, 1, &n)) != 0)
			return rc;
		(*gen)++;
	} while (n > 0);
	return 0;
}

static int
meta_sqlite_gc_mark(struct meta_conn *m, const struct meta_gc_mark *p, uint64_t *dead)
{
	int64_t gen = 0, v[3] = {p->t0, p->young, p->keep_untagged ? 1 : 0};
	sqlite3_stmt *st;
	int rc;

	*dead = 0;
	for (size_t i = 0; i < p->ndrop; i++) {
		if (sqlite3_prepare_v2(m->db, "INSERT OR IGNORE INTO temp.gc_rtag(repo_id, name) "
		    "VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK)
			return meta_sqlite_fail(m, "gc mark: retention");
		sqlite3_bind_int64(st, 1, p->drop[i].repo_id);
		sqlite3_bind_text(st, 2, p->drop[i].name, -1, SQLITE_STATIC);
		if ((rc = meta_sqlite_gc_exec(m, st, "gc mark: retention", NULL)) != 0)
			return rc;
	}
	if ((rc = meta_sqlite_gc_mark_step(m,
	    "INSERT INTO temp.gc_live(repo_id, digest, via, gen) "
	    "SELECT m.repo_id, m.digest, NULL, 0 FROM manifests m WHERE m.created >= ?1 OR "
	    META_GC_KEPT_TAG " OR (?3 AND NOT " META_GC_TAGGED " AND NOT " META_GC_DEPENDENT ")",
	    v, 3, NULL)) != 0 ||
	    (rc = meta_sqlite_gc_flow(m, &gen)) != 0)
		return rc;
	/* Round two: what only untagged_grace keeps. */
	v[0] = gen;
	if ((rc = meta_sqlite_gc_mark_step(m,
	    "INSERT INTO temp.gc_live(repo_id, digest, via, gen) "
	    "SELECT m.repo_id, m.digest, m.digest, ?1 FROM manifests m WHERE m.created >= ?2 "
	    "AND NOT " META_GC_TAGGED " AND (NOT ?3 OR " META_GC_DEPENDENT ") "
	    "AND NOT EXISTS (SELECT 1 FROM temp.gc_live l WHERE l.repo_id = m.repo_id "
	    "  AND l.digest = m.digest)", v, 3, NULL)) != 0 ||
	    (rc = meta_sqlite_gc_flow(m, &gen)) != 0)
		return rc;
	/* The candidates, with why each is dead (as of the snapshot). */
	if ((rc = meta_sqlite_gc_mark_step(m,
	    "INSERT INTO temp.gc_cand(repo_id, digest, repo, size, created, kind, aux) "
	    "SELECT repo_id, digest, repo, size, created, "
	    "  CASE WHEN tagged THEN 1 WHEN subj THEN 2 WHEN par IS NOT NULL AND np > 1 THEN 4 "
	    "  WHEN par IS NOT NULL THEN 3 ELSE 0 END, "
	    "  CASE WHEN tagged THEN '' WHEN subj THEN subject WHEN par IS NOT NULL THEN par "
	    "  ELSE '' END FROM ("
	    "SELECT m.repo_id, m.digest, r.name AS repo, m.size, m.created, m.subject, "
	    "  " META_GC_TAGGED " AS tagged, " META_GC_SUBJECT " AS subj, "
	    "  (SELECT count(*) " META_GC_PARENTS ") AS np, "
	    "  (SELECT min(f.digest) " META_GC_PARENTS " AND f.digest <> m.subject) AS par "
	    "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
	    "WHERE NOT EXISTS (SELECT 1 FROM temp.gc_live l WHERE l.repo_id = m.repo_id "
	    "  AND l.digest = m.digest))", NULL, 0, NULL)) != 0)
		return rc;
	if (sqlite3_prepare_v2(m->db, "SELECT count(*) FROM temp.gc_cand", -1, &st, NULL) != SQLITE_OK)
		return meta_sqlite_fail(m, "gc mark: count");
	if (sqlite3_step(st) == SQLITE_ROW)
		*dead = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int
meta_sqlite_gc_dead(struct meta_conn *m, int64_t after_id, const char *after, long n,
    meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m,
	    "SELECT c.repo_id, c.repo, c.digest, c.aux, c.size, c.created, c.kind "
	    "FROM temp.gc_cand c WHERE (c.repo_id, c.digest) > (?1, ?2) AND EXISTS (SELECT 1 "
	    "  FROM manifests x WHERE x.repo_id = c.repo_id AND x.digest = c.digest) "
	    "ORDER BY c.repo_id, c.digest LIMIT ?3", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, n);
	return meta_sqlite_gc_list(m, st, fn, arg);
}

static int
meta_sqlite_gc_keep(struct meta_conn *m, int64_t repo_id, const char *digest, int *dropped)
{
	static const char *const sql[] = {
		"DELETE FROM temp.gc_cand WHERE repo_id = ?1 AND digest = ?2",
		"INSERT INTO temp.gc_live(repo_id, digest, via, gen) VALUES (?1, ?2, NULL, -1) "
		"ON CONFLICT DO UPDATE SET via = NULL",
	};
	sqlite3_stmt *st;
	int rc;

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if ((rc = meta_sqlite_gc_prepare(m, sql[i], &st)) != 0)
			return rc;
		sqlite3_bind_int64(st, 1, repo_id);
		sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
		if ((rc = meta_sqlite_gc_exec(m, st, "gc keep", i == 0 ? dropped : NULL)) != 0)
			return rc;
	}
	return 0;
}

static int
meta_sqlite_gc_grace(struct meta_conn *m, meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m,
	    "SELECT l.repo_id, r.name, l.digest, CASE WHEN l.via = l.digest THEN '' ELSE l.via END, "
	    "  x.size, v.created, 0 FROM temp.gc_live l "
	    "JOIN manifests x ON x.repo_id = l.repo_id AND x.digest = l.digest "
	    "JOIN manifests v ON v.repo_id = l.repo_id AND v.digest = l.via "
	    "JOIN repositories r ON r.id = l.repo_id WHERE l.via IS NOT NULL "
	    "ORDER BY l.repo_id, l.digest", &st)) != 0)
		return rc;
	return meta_sqlite_gc_list(m, st, fn, arg);
}

/* No row carries a time later than the last write to the database: every
 * commit writes the write-ahead log (its time then is at least the time()
 * its rows were stamped with, the same coarse clock), and a checkpoint that
 * removes the log writes the database file first.  So the newer of the two
 * files' modification times bounds every row's time, at the cost of two
 * stat calls instead of an index on each table's time.  The log is looked
 * at first: a commit, then a checkpoint that removes the log, between the
 * two calls, still shows in the database file's time. */
static int
meta_sqlite_gc_newest(struct meta_conn *m, int64_t *newest)
{
	char wal[sizeof(m->path) + 8];
	struct stat st;
	int rc;

	*newest = 0;
	if ((rc = meta_sqlite_gc_flush(m)) != 0)
		return rc;
	snprintf(wal, sizeof(wal), "%s-wal", m->path);
	/* An empty log holds no commit: a reader's open creates it empty
	 * (this collector's own, on a database nobody had open). */
	if (stat(wal, &st) == 0) {
		if (st.st_size > 0)
			*newest = (int64_t)st.st_mtim.tv_sec;
	} else if (errno != ENOENT)
		return -(int)errors_from_errno(errno);
	if (stat(m->path, &st) != 0)
		return -(int)errors_from_errno(errno);
	if ((int64_t)st.st_mtim.tv_sec > *newest)
		*newest = (int64_t)st.st_mtim.tv_sec;
	return 0;
}

/* Whether the row sql (one ?1 key) selects exists: gc's re-checks. */
static int
meta_sqlite_gc_exists(struct meta_conn *m, const char *sql, const char *key, const char *what,
    int *exists)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m, sql, &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return meta_sqlite_fail(m, what);
	*exists = rc == SQLITE_ROW;
	return 0;
}

static int
meta_sqlite_gc_blob_exists(struct meta_conn *m, const char *digest, int *exists)
{
	return meta_sqlite_gc_exists(m, "SELECT 1 FROM blobs WHERE digest = ?1", digest,
	    "gc blob exists", exists);
}

static int
meta_sqlite_gc_uploads(struct meta_conn *m, int64_t before, meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m, "SELECT 0, repo, id, '', size, updated, 0 FROM uploads "
	    "WHERE updated < ?1 ORDER BY updated", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, before);
	return meta_sqlite_gc_list(m, st, fn, arg);
}

static int
meta_sqlite_gc_upload_delete(struct meta_conn *m, const char *id, int64_t before, int *removed)
{
	sqlite3_stmt *st;
	int rc;

	/* A request that wrote to the session since the listing saved it. */
	if ((rc = meta_sqlite_gc_prepare(m, "DELETE FROM uploads WHERE id = ?1 AND updated < ?2",
	    &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, before);
	return meta_sqlite_gc_exec(m, st, "gc delete upload", removed);
}

static int
meta_sqlite_gc_upload_exists(struct meta_conn *m, const char *id, int *exists)
{
	return meta_sqlite_gc_exists(m, "SELECT 1 FROM uploads WHERE id = ?1", id, "gc upload exists",
	    exists);
}

static int
meta_sqlite_fsck_blobs(struct meta_conn *m, meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_gc_prepare(m, "SELECT 0, '', digest, '', size, created, 0 FROM blobs "
	    "ORDER BY digest", &st)) != 0)
		return rc;
	return meta_sqlite_gc_list(m, st, fn, arg);
}

static int
meta_sqlite_fsck_refs(struct meta_conn *m, meta_gc_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	/* One row per reference, and one per manifest for its own bytes
	 * (kind 2); size says whether the target is in the repository. */
	if ((rc = meta_sqlite_gc_prepare(m,
	    "SELECT f.repo_id, r.name, f.digest, f.ref, CASE WHEN f.is_manifest = 1 THEN "
	    "  EXISTS (SELECT 1 FROM manifests x WHERE x.repo_id = f.repo_id AND x.digest = f.ref) "
	    "  ELSE EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.repo_id = f.repo_id AND rb.digest = f.ref) "
	    "  END, 0, f.is_manifest "
	    "FROM manifest_refs f JOIN repositories r ON r.id = f.repo_id "
	    /* A pull-through cache fetches blobs lazily: their absence
	     * from a cached repository is not a problem. */
	    "WHERE r.proxy = '' "
	    "UNION ALL "
	    "SELECT m.repo_id, r.name, m.digest, m.digest, EXISTS (SELECT 1 FROM repo_blobs rb "
	    "  WHERE rb.repo_id = m.repo_id AND rb.digest = m.digest), 0, 2 "
	    "FROM manifests m JOIN repositories r ON r.id = m.repo_id "
	    "ORDER BY 2, 3, 7 DESC, 4", &st)) != 0)
		return rc;
	return meta_sqlite_gc_list(m, st, fn, arg);
}

static int
meta_sqlite_fsck_drop_blob(struct meta_conn *m, const char *digest, int *links)
{
	sqlite3_stmt *st;
	int rc;

	*links = 0;
	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if ((rc = meta_sqlite_gc_prepare(m, "DELETE FROM repo_blobs WHERE digest = ?1", &st)) != 0)
		goto fail;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	if ((rc = meta_sqlite_gc_exec(m, st, "fsck drop links", links)) != 0)
		goto fail;
	if ((rc = meta_sqlite_gc_prepare(m, "DELETE FROM blobs WHERE digest = ?1", &st)) != 0)
		goto fail;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	if ((rc = meta_sqlite_gc_exec(m, st, "fsck drop blob", NULL)) != 0)
		goto fail;
	if ((rc = meta_sqlite_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_sqlite_rollback(m);
	return rc;
}

/* ---- the pull-through cache (proxy.c) ----
 *
 * Statements are prepared per call.  A cached blob (blobs.cached = 1) is
 * one the proxy brought in; it stays evictable only while no repository
 * holds it as a local push or mount (repo_blobs.cached = 0) and no manifest
 * of such a link references it. */

static int
meta_sqlite_proxy_prepare(struct meta_conn *m, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(m->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return meta_sqlite_fail(m, sql);
	}
	return 0;
}

/* Step a statement that returns no rows, then finalize it. */
static int
meta_sqlite_proxy_exec(struct meta_conn *m, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = meta_sqlite_fail(m, what);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return 0;
}

static int
meta_sqlite_proxy_repo(struct meta_conn *m, const char *repo, char proxy[META_PROXY_NAME_MAX],
    int *local)
{
	sqlite3_stmt *st;
	int rc;

	*local = 0;
	proxy[0] = '\0';
	if ((rc = meta_sqlite_proxy_prepare(m, "SELECT r.proxy, "
	    "EXISTS (SELECT 1 FROM manifests WHERE repo_id = r.id) OR "
	    "EXISTS (SELECT 1 FROM repo_blobs WHERE repo_id = r.id) OR "
	    "EXISTS (SELECT 1 FROM tags WHERE repo_id = r.id) "
	    "FROM repositories r WHERE r.name = ?1", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		meta_sqlite_copy_col(st, 0, proxy, META_PROXY_NAME_MAX);
		*local = proxy[0] == '\0' && sqlite3_column_int(st, 1) != 0;
		sqlite3_finalize(st);
		return 0;
	}
	rc = rc == SQLITE_DONE ? -ERR_NAME_UNKNOWN : meta_sqlite_fail(m, "proxy repository");
	sqlite3_finalize(st);
	return rc;
}

/* The cached blob and link rows, inside the caller's transaction.  A blob
 * already known as local content stays local (cached is only set on
 * insert); a repository is marked as the proxy's if nothing else claimed
 * it. */
static int
meta_sqlite_proxy_link_tx(struct meta_conn *m, const char *repo, const char *proxy,
    const char *digest, uint64_t size)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_repo_id(m, repo, 1, &id)) != 0)
		return rc;
	if ((rc = meta_sqlite_proxy_prepare(m, "UPDATE repositories SET proxy = ?2 "
	    "WHERE id = ?1 AND proxy = ''", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, proxy, -1, SQLITE_STATIC);
	if ((rc = meta_sqlite_proxy_exec(m, st, "mark proxy repository")) != 0)
		return rc;
	if ((rc = meta_sqlite_proxy_prepare(m, "INSERT INTO blobs(digest, size, created, cached, "
	    "last_pulled) VALUES (?1, ?2, ?3, 1, ?3) "
	    "ON CONFLICT(digest) DO UPDATE SET last_pulled = excluded.last_pulled", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, meta_sqlite_now());
	if ((rc = meta_sqlite_proxy_exec(m, st, "insert cached blob")) != 0)
		return rc;
	if ((rc = meta_sqlite_proxy_prepare(m, "INSERT INTO repo_blobs(repo_id, digest, created, cached) "
	    "VALUES (?1, ?2, ?3, 1) ON CONFLICT DO UPDATE SET created = excluded.created", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, meta_sqlite_now());
	return meta_sqlite_proxy_exec(m, st, "insert cached link");
}

static int
meta_sqlite_proxy_link(struct meta_conn *m, const char *repo, const char *proxy, const char *digest,
    uint64_t size)
{
	int rc;

	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if ((rc = meta_sqlite_proxy_link_tx(m, repo, proxy, digest, size)) != 0 ||
	    (rc = meta_sqlite_commit(m)) != 0)
		meta_sqlite_rollback(m);
	return rc;
}

static int
meta_sqlite_proxy_blob_finish(struct meta_conn *m, const char *id, const char *repo,
    const char *proxy, const char *digest, uint64_t size)
{
	int rc;

	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	if ((rc = meta_sqlite_upload_delete(m, id)) != 0 ||
	    (rc = meta_sqlite_proxy_link_tx(m, repo, proxy, digest, size)) != 0 ||
	    (rc = meta_sqlite_commit(m)) != 0)
		meta_sqlite_rollback(m);
	return rc;
}

static int
meta_sqlite_proxy_tag_checked(struct meta_conn *m, const char *repo, const char *tag,
    int64_t *checked)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_proxy_prepare(m, "SELECT t.checked FROM tags t JOIN repositories r "
	    "ON r.id = t.repo_id WHERE r.name = ?1 AND t.name = ?2", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*checked = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		return 0;
	}
	rc = rc == SQLITE_DONE ? -ERR_MANIFEST_UNKNOWN : meta_sqlite_fail(m, "tag checked");
	sqlite3_finalize(st);
	return rc;
}

static int
meta_sqlite_proxy_tag_set_checked(struct meta_conn *m, const char *repo, const char *tag,
    int64_t when)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_proxy_prepare(m, "UPDATE tags SET checked = ?3 WHERE name = ?2 AND "
	    "repo_id = (SELECT id FROM repositories WHERE name = ?1)", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)when);
	return meta_sqlite_proxy_exec(m, st, "set tag checked");
}

static int
meta_sqlite_proxy_touch(struct meta_conn *m, const char *digest)
{
	sqlite3_stmt *st;
	int rc;

	/* At most one write per blob per second, and none for local ones. */
	if ((rc = meta_sqlite_proxy_prepare(m, "UPDATE blobs SET last_pulled = ?2 "
	    "WHERE digest = ?1 AND cached = 1 AND last_pulled < ?2", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, meta_sqlite_now());
	return meta_sqlite_proxy_exec(m, st, "touch cached blob");
}

/* Whether a cached blob may go: nothing local holds or references it.
 * References are indexed by repository (schema step 5 -> 6), so a local
 * (not cached) manifest that references the blob is looked for in the
 * repositories that hold it (through repo_blobs_digest) and in those that
 * reference it without holding it (manifest_refs_absent): between them,
 * every repository with such a reference, and no scan of them all. */
#define META_PROXY_EVICTABLE \
	"b.cached = 1 AND NOT EXISTS (SELECT 1 FROM repo_blobs rb " \
	"WHERE rb.digest = b.digest AND rb.cached = 0) " \
	"AND NOT EXISTS (SELECT 1 FROM repo_blobs h JOIN manifest_refs mr " \
	"ON mr.repo_id = h.repo_id AND mr.ref = h.digest JOIN repo_blobs rb " \
	"ON rb.repo_id = mr.repo_id AND rb.digest = mr.digest " \
	"WHERE h.digest = b.digest AND rb.cached = 0) " \
	"AND NOT EXISTS (SELECT 1 FROM manifest_refs_absent a JOIN manifest_refs mr " \
	"ON mr.repo_id = a.repo_id AND mr.ref = a.ref JOIN repo_blobs rb " \
	"ON rb.repo_id = mr.repo_id AND rb.digest = mr.digest " \
	"WHERE a.ref = b.digest AND rb.cached = 0)"

static int
meta_sqlite_proxy_cached_bytes(struct meta_conn *m, uint64_t *bytes)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_proxy_prepare(m, "SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE "
	    "b.cached = 1 AND NOT EXISTS (SELECT 1 FROM repo_blobs rb "
	    "WHERE rb.digest = b.digest AND rb.cached = 0)", &st)) != 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*bytes = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		return 0;
	}
	rc = meta_sqlite_fail(m, "cached bytes");
	sqlite3_finalize(st);
	return rc;
}

static int
meta_sqlite_proxy_evict_next(struct meta_conn *m, char digest[META_PROXY_DIGEST_MAX],
    uint64_t *size)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_proxy_prepare(m, "SELECT b.digest, b.size FROM blobs b WHERE "
	    META_PROXY_EVICTABLE " ORDER BY b.last_pulled, b.created, b.digest LIMIT 1", &st)) != 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		meta_sqlite_copy_col(st, 0, digest, META_PROXY_DIGEST_MAX);
		*size = (uint64_t)sqlite3_column_int64(st, 1);
		sqlite3_finalize(st);
		return 0;
	}
	rc = rc == SQLITE_DONE ? -ERR_BLOB_UNKNOWN : meta_sqlite_fail(m, "eviction candidate");
	sqlite3_finalize(st);
	return rc;
}

static int
meta_sqlite_proxy_evict(struct meta_conn *m, const char *digest)
{
	static const char *const drop[] = {
		"DELETE FROM tags WHERE digest = ?1",
		"DELETE FROM manifest_refs WHERE digest = ?1",
		"DELETE FROM manifests WHERE digest = ?1",
		"DELETE FROM repo_blobs WHERE digest = ?1",
		"DELETE FROM blobs WHERE digest = ?1",
	};
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_begin(m)) != 0)
		return rc;
	/* Checked again under the write lock: a push or mount may have made
	 * it local since it was chosen. */
	if ((rc = meta_sqlite_proxy_prepare(m, "SELECT 1 FROM blobs b WHERE b.digest = ?1 AND "
	    META_PROXY_EVICTABLE, &st)) != 0)
		goto fail;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? -ERR_BLOB_UNKNOWN : meta_sqlite_fail(m, "eviction check");
		goto fail;
	}
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		if ((rc = meta_sqlite_proxy_prepare(m, drop[i], &st)) != 0)
			goto fail;
		sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
		if ((rc = meta_sqlite_proxy_exec(m, st, drop[i])) != 0)
			goto fail;
	}
	if ((rc = meta_sqlite_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_sqlite_rollback(m);
	return rc;
}

static int
meta_sqlite_proxy_ref_known(struct meta_conn *m, const char *repo, const char *digest)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_sqlite_proxy_prepare(m, "SELECT 1 FROM manifest_refs mr JOIN repositories r "
	    "ON r.id = mr.repo_id WHERE r.name = ?1 AND mr.ref = ?2 LIMIT 1", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ERR_BLOB_UNKNOWN :
	    meta_sqlite_fail(m, "proxy reference");
	sqlite3_finalize(st);
	return rc;
}

/* ---- backups (issue 20) ---- */

/* fsync path (a file or a directory): 0, or -1 with errno. */
static int
meta_sqlite_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc, err;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	err = errno;
	close(fd);
	errno = err;
	return rc;
}

/* SQLite's online backup API into <dest root>/meta.db.  All pages are
 * copied in one sqlite3_backup_step(-1): that is one read transaction on
 * the live database, so the copy is the state of one instant, and in WAL
 * mode the writers go on meanwhile.  Stepping in slices would let a
 * commit through another connection restart the copy from scratch, over
 * and over on a busy registry. */
static int
meta_sqlite_backup(struct meta_conn *m, const struct config *dest)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	sqlite3_backup *b;
	struct stat st;
	int rc, tries = 0, ret = -ERR_INTERNAL;

	if ((size_t)snprintf(path, sizeof(path), "%s/meta.db", dest->root) >= sizeof(path)) {
		log_error("meta: backup %s/meta.db: path too long", dest->root);
		return -ERR_INTERNAL;
	}
	/* Never write over a database: the destination is a new copy. */
	if (lstat(path, &st) == 0 || errno != ENOENT) {
		log_error("meta: backup %s: %s", path, errno == ENOENT ? "exists" : strerror(errno));
		return -ERR_INTERNAL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("meta: backup: open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
		goto out;
	}
	/* The copy's last commit reaches the disk before the backup says
	 * it is done. */
	if (sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
		log_error("meta: backup: %s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	if ((b = sqlite3_backup_init(db, "main", m->db, "main")) == NULL) {
		log_error("meta: backup: sqlite3_backup_init %s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	/* BUSY/LOCKED: a checkpoint or a schema change holds a lock for a
	 * moment; wait as the busy handler would (~10 s). */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		if (++tries > 2000)
			break;
		__atomic_add_fetch(&m->busy, 1, __ATOMIC_RELAXED);
		sqlite3_sleep(5);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		log_error("meta: backup: sqlite3_backup_step into %s: %s (%d)", path,
		    sqlite3_errstr(rc), rc);
		ret = (rc & 0xff) == SQLITE_FULL ? -ERR_NO_SPACE :
		    (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? -ERR_UNAVAILABLE :
		    -ERR_INTERNAL;
		goto out;
	}
	if (sqlite3_close(db) != SQLITE_OK) {
		log_error("meta: backup: close %s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	db = NULL;
	/* synchronous=FULL synced the file's pages; its name in the
	 * directory is durable only once the directory is. */
	if (meta_sqlite_fsync_path(path) != 0 || meta_sqlite_fsync_path(dest->root) != 0) {
		int err = errno;

		log_error("meta: backup: fsync %s: %s", path, strerror(err));
		ret = -(int)errors_from_errno(err);
		goto out;
	}
	ret = 0;
out:
	if (db != NULL)
		sqlite3_close(db);
	return ret;
}

/* migrate-metadata: every table of meta_tables, in its order, from one read
 * transaction (the daemon may still be serving; what it writes after the
 * snapshot is not copied). */
static int
meta_sqlite_export_rows(struct meta_conn *m, meta_row_fn fn, void *arg)
{
	const char *vals[16];
	char sql[512];
	int rc = 0;

	if ((rc = meta_sqlite_gc_read_begin(m)) != 0)
		return rc;
	for (size_t t = 0; rc == 0 && t < meta_ntables; t++) {
		const struct meta_table *tb = &meta_tables[t];
		sqlite3_stmt *st = NULL;
		size_t n;
		int step;

		if (tb->ncols > (int)(sizeof(vals) / sizeof(vals[0]))) {
			rc = -ERR_INTERNAL;
			break;
		}
		n = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
		for (int i = 0; i < tb->ncols && n < sizeof(sql); i++)
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s", i ? ", " : "", tb->cols[i]);
		if (n < sizeof(sql))
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, " FROM %s ORDER BY 1", tb->name);
		if (n >= sizeof(sql)) {
			rc = -ERR_INTERNAL;
			break;
		}
		if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) {
			rc = meta_sqlite_fail(m, sql);
			break;
		}
		while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
			for (int i = 0; i < tb->ncols; i++)
				vals[i] = (const char *)sqlite3_column_text(st, i);
			rc = fn(arg, t, vals);
		}
		if (rc == 0 && step != SQLITE_DONE)
			rc = meta_sqlite_fail(m, sql);
		sqlite3_finalize(st);
	}
	meta_sqlite_gc_read_end(m);
	return rc;
}

const struct meta_ops meta_sqlite_ops = {
	.name = "sqlite",
	.open = meta_sqlite_open,
	.close = meta_sqlite_close,
	.schema_version = meta_sqlite_schema_version,
	.busy_retries = meta_sqlite_busy_retries,
	.stats = meta_sqlite_stats,
	.size = meta_sqlite_size,
	.repo_exists = meta_sqlite_repo_exists,
	.blob_link = meta_sqlite_blob_link,
	.blob_lookup = meta_sqlite_blob_get,
	.blob_unlink = meta_sqlite_blob_unlink,
	.blob_mount = meta_sqlite_blob_mount,
	.blob_find_repo = meta_sqlite_blob_find_repo,
	.upload_open = meta_sqlite_upload_open,
	.upload_touch = meta_sqlite_upload_touch,
	.upload_get = meta_sqlite_upload_get,
	.upload_set_size = meta_sqlite_upload_set_size,
	.upload_delete = meta_sqlite_upload_delete,
	.upload_finish = meta_sqlite_upload_finish,
	.manifest_store = meta_sqlite_manifest_put,
	.manifest_lookup = meta_sqlite_manifest_get,
	.tag_get = meta_sqlite_tag_get,
	.manifest_remove = meta_sqlite_manifest_delete,
	.tag_delete = meta_sqlite_tag_delete,
	.tag_list = meta_sqlite_tag_list,
	.repo_list = meta_sqlite_repo_list,
	.referrers = meta_sqlite_referrers,
	.gc_reset = meta_sqlite_gc_reset,
	.read_begin = meta_sqlite_gc_read_begin,
	.read_end = meta_sqlite_gc_read_end,
	.gc_manifests = meta_sqlite_gc_manifests,
	.gc_tags = meta_sqlite_gc_tags,
	.gc_children = meta_sqlite_gc_children,
	.gc_tag_delete = meta_sqlite_gc_tag_delete,
	.gc_manifest_delete = meta_sqlite_gc_manifest_delete,
	.gc_dry_manifest = meta_sqlite_gc_dry_manifest,
	.gc_dry_link = meta_sqlite_gc_dry_link,
	.gc_links = meta_sqlite_gc_links,
	.gc_link_delete = meta_sqlite_gc_link_delete,
	.gc_blobs = meta_sqlite_gc_blobs,
	.gc_blob_delete = meta_sqlite_gc_blob_delete,
	.gc_blob_exists = meta_sqlite_gc_blob_exists,
	.gc_uploads = meta_sqlite_gc_uploads,
	.gc_upload_delete = meta_sqlite_gc_upload_delete,
	.gc_upload_exists = meta_sqlite_gc_upload_exists,
	.gc_mark = meta_sqlite_gc_mark,
	.gc_dead = meta_sqlite_gc_dead,
	.gc_keep = meta_sqlite_gc_keep,
	.gc_grace = meta_sqlite_gc_grace,
	.gc_flush = meta_sqlite_gc_flush,
	.gc_newest = meta_sqlite_gc_newest,
	.fsck_blobs = meta_sqlite_fsck_blobs,
	.fsck_refs = meta_sqlite_fsck_refs,
	.fsck_drop_blob = meta_sqlite_fsck_drop_blob,
	.proxy_repo = meta_sqlite_proxy_repo,
	.proxy_link = meta_sqlite_proxy_link,
	.proxy_blob_finish = meta_sqlite_proxy_blob_finish,
	.proxy_tag_checked = meta_sqlite_proxy_tag_checked,
	.proxy_tag_set_checked = meta_sqlite_proxy_tag_set_checked,
	.proxy_touch = meta_sqlite_proxy_touch,
	.proxy_cached_bytes = meta_sqlite_proxy_cached_bytes,
	.proxy_evict_next = meta_sqlite_proxy_evict_next,
	.proxy_evict = meta_sqlite_proxy_evict,
	.proxy_ref_known = meta_sqlite_proxy_ref_known,
	.backup = meta_sqlite_backup,
	.export_rows = meta_sqlite_export_rows,
};
