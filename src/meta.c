/* SPDX-License-Identifier: ISC
 * meta.c — SQLite metadata backend.  WAL mode so readers never wait for the
 * writer; every multi-row change in one BEGIN IMMEDIATE transaction; prepared
 * statements cached per connection; a schema version in PRAGMA user_version
 * with forward migrations applied at open.
 *
 * Ordering with the blob store: a row that names a blob is written only
 * after the blob file is in place (store.c), so no row ever points at a file
 * that may not exist.
 */
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"
#include "meta.h"

enum meta_stmt {
	S_REPO_ID,
	S_REPO_INSERT,
	S_BLOB_INSERT,
	S_REPO_BLOB_INSERT,
	S_REPO_BLOB_GET,
	S_REPO_BLOB_DELETE,
	S_BLOB_FIND_REPO,
	S_UPLOAD_INSERT,
	S_UPLOAD_GET,
	S_UPLOAD_SET_SIZE,
	S_UPLOAD_DELETE,
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
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_COUNT
};

static const char *const meta_sql[S_COUNT] = {
	[S_REPO_ID] = "SELECT id FROM repositories WHERE name = ?1",
	[S_REPO_INSERT] = "INSERT INTO repositories(name, created) VALUES (?1, ?2) "
	    "ON CONFLICT(name) DO NOTHING",
	[S_BLOB_INSERT] = "INSERT INTO blobs(digest, size, created) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT(digest) DO NOTHING",
	[S_REPO_BLOB_INSERT] = "INSERT INTO repo_blobs(repo_id, digest, created) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT DO NOTHING",
	[S_REPO_BLOB_GET] = "SELECT b.size FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
	    "JOIN blobs b ON b.digest = rb.digest WHERE r.name = ?1 AND rb.digest = ?2",
	[S_REPO_BLOB_DELETE] = "DELETE FROM repo_blobs WHERE digest = ?2 AND repo_id = "
	    "(SELECT id FROM repositories WHERE name = ?1)",
	[S_BLOB_FIND_REPO] = "SELECT r.name FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id "
	    "WHERE rb.digest = ?1 AND r.name <> ?2 LIMIT 1",
	[S_UPLOAD_INSERT] = "INSERT INTO uploads(id, repo, size, created, updated) VALUES (?1, ?2, 0, ?3, ?3)",
	[S_UPLOAD_GET] = "SELECT repo, size FROM uploads WHERE id = ?1",
	[S_UPLOAD_SET_SIZE] = "UPDATE uploads SET size = ?2, updated = ?3 WHERE id = ?1",
	[S_UPLOAD_DELETE] = "DELETE FROM uploads WHERE id = ?1",
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
	[S_REPO_LIST] = "SELECT name FROM repositories r WHERE name > ?1 AND "
	    "EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) ORDER BY name LIMIT ?2",
	[S_REFERRERS] = "SELECT digest, media_type, artifact_type, subject, size FROM manifests "
	    "WHERE repo_id = ?1 AND subject = ?2 ORDER BY digest",
	[S_REFERRERS_TYPE] = "SELECT digest, media_type, artifact_type, subject, size FROM manifests "
	    "WHERE repo_id = ?1 AND subject = ?2 AND artifact_type = ?3 ORDER BY digest",
	[S_BLOB_MOUNT] = "INSERT INTO repo_blobs(repo_id, digest, created) "
	    "SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r "
	    "ON r.id = rb.repo_id WHERE r.name = ?4 AND rb.digest = ?2) ON CONFLICT DO NOTHING",
	[S_REPO_BLOB_DELETE_ID] = "DELETE FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2",
	[S_REF_CHECK_BLOB] = "SELECT 1 FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2",
	[S_REF_CHECK_MANIFEST] = "SELECT 1 FROM manifests WHERE repo_id = ?1 AND digest = ?2",
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
};

#define META_SCHEMA_VERSION ((int)(sizeof(meta_migrations) / sizeof(meta_migrations[0])))

struct meta {
	sqlite3 *db;
	uint64_t busy;			/* lock waits, for metrics */
	sqlite3_stmt *stmt[S_COUNT];
	char path[PATH_MAX];
};

static int
meta_fail(struct meta *m, const char *what)
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
meta_stmt(struct meta *m, enum meta_stmt s)
{
	if (m->stmt[s] == NULL) {
		if (sqlite3_prepare_v3(m->db, meta_sql[s], -1, SQLITE_PREPARE_PERSISTENT,
		    &m->stmt[s], NULL) != SQLITE_OK) {
			meta_fail(m, meta_sql[s]);
			return NULL;
		}
	} else {
		sqlite3_reset(m->stmt[s]);
		sqlite3_clear_bindings(m->stmt[s]);
	}
	return m->stmt[s];
}

static int
meta_exec_stmt(struct meta *m, enum meta_stmt s)
{
	sqlite3_stmt *st = meta_stmt(m, s);
	int rc;

	if (st == NULL)
		return -ERR_INTERNAL;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return meta_fail(m, meta_sql[s]);
	return 0;
}

static int
meta_begin(struct meta *m)
{
	return meta_exec_stmt(m, S_BEGIN);
}

static int
meta_commit(struct meta *m)
{
	return meta_exec_stmt(m, S_COMMIT);
}

static void
meta_rollback(struct meta *m)
{
	if (!sqlite3_get_autocommit(m->db))
		meta_exec_stmt(m, S_ROLLBACK);
}

static long long
meta_now(void)
{
	return (long long)time(NULL);
}

static int
meta_migrate(struct meta *m)
{
	sqlite3_stmt *st;
	int version = 0;
	char *err = NULL;

	if (sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return meta_fail(m, "begin migration");
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
	meta_fail(m, "migration");
	sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
	return -ERR_INTERNAL;
}

/* Wait for a lock held by another connection: up to ~10 s in short
 * sleeps, counting each wait for the metrics. */
static int
meta_busy(void *arg, int n)
{
	struct meta *m = arg;

	__atomic_add_fetch(&m->busy, 1, __ATOMIC_RELAXED);
	if (n >= 2000)
		return 0;
	usleep(n < 10 ? 1000 : 5000);
	return 1;
}

uint64_t
meta_busy_retries(struct meta *m)
{
	return __atomic_load_n(&m->busy, __ATOMIC_RELAXED);
}

int
meta_stats(struct meta *m, uint64_t *uploads, uint64_t *blobs, uint64_t *bytes)
{
	sqlite3_stmt *st;
	int rc = -ERR_INTERNAL;

	if (sqlite3_prepare_v2(m->db, "SELECT (SELECT count(*) FROM uploads), count(*), "
	    "coalesce(sum(size), 0) FROM blobs", -1, &st, NULL) != SQLITE_OK)
		return meta_fail(m, "stats");
	if (sqlite3_step(st) == SQLITE_ROW) {
		*uploads = (uint64_t)sqlite3_column_int64(st, 0);
		*blobs = (uint64_t)sqlite3_column_int64(st, 1);
		*bytes = (uint64_t)sqlite3_column_int64(st, 2);
		rc = 0;
	} else {
		rc = meta_fail(m, "stats");
	}
	sqlite3_finalize(st);
	return rc;
}

struct meta *
meta_open(const char *root)
{
	struct meta *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	snprintf(m->path, sizeof(m->path), "%s/meta.db", root);
	if (sqlite3_open_v2(m->path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("meta: open %s: %s", m->path, m->db ? sqlite3_errmsg(m->db) : "no memory");
		goto fail;
	}
	/* Several workers write through their own connections: wait for the
	 * lock rather than fail.  synchronous=FULL in WAL mode makes every
	 * commit durable before the client hears 2xx. */
	sqlite3_busy_handler(m->db, meta_busy, m);
	if (sqlite3_exec(m->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
	    "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;", NULL, NULL, NULL) != SQLITE_OK) {
		meta_fail(m, "pragmas");
		goto fail;
	}
	if (meta_migrate(m) != 0)
		goto fail;
	return m;
fail:
	meta_close(m);
	return NULL;
}

void
meta_close(struct meta *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(m->stmt[i]);
	sqlite3_close(m->db);
	free(m);
}

int
meta_schema_version(struct meta *m)
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
meta_repo_id(struct meta *m, const char *repo, int create, sqlite3_int64 *id)
{
	sqlite3_stmt *st;
	int rc;

	if (create) {
		if ((st = meta_stmt(m, S_REPO_INSERT)) == NULL)
			return -ERR_INTERNAL;
		sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, meta_now());
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return meta_fail(m, "insert repository");
	}
	if ((st = meta_stmt(m, S_REPO_ID)) == NULL)
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
	return meta_fail(m, "select repository");
}

int
meta_repo_exists(struct meta *m, const char *repo)
{
	sqlite3_int64 id;

	return meta_repo_id(m, repo, 0, &id);
}

/* The blob and repo_blobs rows, inside the caller's transaction. */
static int
meta_blob_link_tx(struct meta *m, const char *repo, const char *digest, uint64_t size)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_repo_id(m, repo, 1, &id)) != 0)
		return rc;
	if ((st = meta_stmt(m, S_BLOB_INSERT)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, meta_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_fail(m, "insert blob");
	if ((st = meta_stmt(m, S_REPO_BLOB_INSERT)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, meta_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_fail(m, "insert repo blob");
	return 0;
}

int
meta_blob_link(struct meta *m, const char *repo, const char *digest, uint64_t size)
{
	int rc;

	if ((rc = meta_begin(m)) != 0)
		return rc;
	if ((rc = meta_blob_link_tx(m, repo, digest, size)) != 0 || (rc = meta_commit(m)) != 0)
		meta_rollback(m);
	return rc;
}

int
meta_blob_get(struct meta *m, const char *repo, const char *digest, uint64_t *size)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_stmt(m, S_REPO_BLOB_GET)) == NULL)
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
	return rc == SQLITE_DONE ? -ERR_BLOB_UNKNOWN : meta_fail(m, "select repo blob");
}

int
meta_blob_unlink(struct meta *m, const char *repo, const char *digest)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_stmt(m, S_REPO_BLOB_DELETE)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_fail(m, "delete repo blob");
	return sqlite3_changes(m->db) > 0 ? 0 : -ERR_BLOB_UNKNOWN;
}

int
meta_blob_find_repo(struct meta *m, const char *digest, const char *except,
    char out[REFERENCE_NAME_MAX + 1])
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_stmt(m, S_BLOB_FIND_REPO)) == NULL)
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
	return rc == SQLITE_DONE ? -ERR_BLOB_UNKNOWN : meta_fail(m, "find blob");
}

int
meta_blob_mount(struct meta *m, const char *src, const char *dst, const char *digest)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc, changed;

	if ((rc = meta_begin(m)) != 0)
		return rc;
	if ((rc = meta_repo_id(m, dst, 1, &id)) != 0)
		goto fail;
	if ((st = meta_stmt(m, S_BLOB_MOUNT)) == NULL) {
		rc = -ERR_INTERNAL;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, meta_now());
	sqlite3_bind_text(st, 4, src, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = meta_fail(m, "mount");
		goto fail;
	}
	changed = sqlite3_changes(m->db);
	if (changed == 0 && strcmp(src, dst) != 0) {
		/* Either the source lost it, or dst had it already. */
		uint64_t size;

		if (meta_blob_get(m, dst, digest, &size) != 0) {
			rc = -ERR_BLOB_UNKNOWN;
			goto fail;
		}
	}
	if ((rc = meta_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_rollback(m);
	return rc;
}

/* Inside meta_manifest_put's transaction: is the reference still there? */
static int
meta_ref_present(struct meta *m, sqlite3_int64 id, const struct meta_ref *r)
{
	sqlite3_stmt *st = meta_stmt(m, r->is_manifest ? S_REF_CHECK_MANIFEST : S_REF_CHECK_BLOB);
	int rc;

	if (st == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, r->digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ERR_MANIFEST_BLOB_UNKNOWN : meta_fail(m, "check reference");
}

int
meta_upload_create(struct meta *m, const char *id, const char *repo)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_stmt(m, S_UPLOAD_INSERT)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, repo, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, meta_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : meta_fail(m, "insert upload");
}

int
meta_upload_get(struct meta *m, const char *id, char repo[REFERENCE_NAME_MAX + 1],
    uint64_t *size)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_stmt(m, S_UPLOAD_GET)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(repo, REFERENCE_NAME_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
		*size = (uint64_t)sqlite3_column_int64(st, 1);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ERR_BLOB_UPLOAD_UNKNOWN : meta_fail(m, "select upload");
}

int
meta_upload_set_size(struct meta *m, const char *id, uint64_t size)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_stmt(m, S_UPLOAD_SET_SIZE)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, meta_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_fail(m, "update upload");
	return sqlite3_changes(m->db) > 0 ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
}

static int
meta_upload_delete_tx(struct meta *m, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_stmt(m, S_UPLOAD_DELETE)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return meta_fail(m, "delete upload");
	return sqlite3_changes(m->db) > 0 ? 0 : -ERR_BLOB_UPLOAD_UNKNOWN;
}

int
meta_upload_delete(struct meta *m, const char *id)
{
	return meta_upload_delete_tx(m, id);
}

int
meta_upload_finish(struct meta *m, const char *id, const char *repo,
    const char *digest, uint64_t size)
{
	int rc;

	if ((rc = meta_begin(m)) != 0)
		return rc;
	if ((rc = meta_upload_delete_tx(m, id)) != 0 ||
	    (rc = meta_blob_link_tx(m, repo, digest, size)) != 0 ||
	    (rc = meta_commit(m)) != 0)
		meta_rollback(m);
	return rc;
}

/* ---- manifests ---- */

static void
meta_copy_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int
meta_manifest_put(struct meta *m, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *tag)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_begin(m)) != 0)
		return rc;
	if ((rc = meta_repo_id(m, repo, 1, &id)) != 0)
		goto fail;
	/* The manifest's own bytes are a blob of this repository too. */
	if ((rc = meta_blob_link_tx(m, repo, mf->digest, mf->size)) != 0)
		goto fail;
	if ((st = meta_stmt(m, S_MANIFEST_INSERT)) == NULL) {
		rc = -ERR_INTERNAL;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, mf->digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, mf->media_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, mf->artifact_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, mf->subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)mf->size);
	sqlite3_bind_int64(st, 7, meta_now());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = meta_fail(m, "insert manifest");
		goto fail;
	}
	for (size_t i = 0; i < nrefs; i++) {
		/* Checked again under the write lock: garbage collection may
		 * have dropped a blob since the handler looked. */
		if (!refs[i].skip_check && (rc = meta_ref_present(m, id, &refs[i])) != 0)
			goto fail;
		if ((st = meta_stmt(m, S_REF_INSERT)) == NULL) {
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
			rc = meta_fail(m, "insert manifest ref");
			goto fail;
		}
	}
	if (tag != NULL) {
		if ((st = meta_stmt(m, S_TAG_UPSERT)) == NULL) {
			rc = -ERR_INTERNAL;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, mf->digest, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, meta_now());
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			rc = meta_fail(m, "upsert tag");
			goto fail;
		}
	}
	if ((rc = meta_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_rollback(m);
	return rc;
}

int
meta_manifest_get(struct meta *m, const char *repo, const char *digest,
    struct meta_manifest *out)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((st = meta_stmt(m, S_MANIFEST_GET)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out->digest, sizeof(out->digest), "%s", digest);
		meta_copy_col(st, 0, out->media_type, sizeof(out->media_type));
		meta_copy_col(st, 1, out->artifact_type, sizeof(out->artifact_type));
		meta_copy_col(st, 2, out->subject, sizeof(out->subject));
		out->size = (uint64_t)sqlite3_column_int64(st, 3);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ERR_MANIFEST_UNKNOWN : meta_fail(m, "select manifest");
}

static void
meta_row_manifest(sqlite3_stmt *st, struct meta_manifest *out)
{
	meta_copy_col(st, 0, out->digest, sizeof(out->digest));
	meta_copy_col(st, 1, out->media_type, sizeof(out->media_type));
	meta_copy_col(st, 2, out->artifact_type, sizeof(out->artifact_type));
	meta_copy_col(st, 3, out->subject, sizeof(out->subject));
	out->size = (uint64_t)sqlite3_column_int64(st, 4);
}

int
meta_tag_get(struct meta *m, const char *repo, const char *tag, struct meta_manifest *out)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((st = meta_stmt(m, S_TAG_GET)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		meta_row_manifest(st, out);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? -ERR_MANIFEST_UNKNOWN : meta_fail(m, "select tag");
}

/* Run one statement with (repo id, text) bindings inside a transaction. */
static int
meta_exec_id_text(struct meta *m, enum meta_stmt s, sqlite3_int64 id, const char *text)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = meta_stmt(m, s)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : meta_fail(m, meta_sql[s]);
}

int
meta_manifest_delete(struct meta *m, const char *repo, const char *digest)
{
	sqlite3_int64 id;
	int rc, changed;

	if ((rc = meta_begin(m)) != 0)
		return rc;
	if ((rc = meta_repo_id(m, repo, 0, &id)) != 0)
		goto fail;
	if ((rc = meta_exec_id_text(m, S_MANIFEST_DELETE, id, digest)) != 0)
		goto fail;
	changed = sqlite3_changes(m->db);
	if (changed == 0) {
		rc = -ERR_MANIFEST_UNKNOWN;
		goto fail;
	}
	/* The manifest's own bytes leave the repository with it. */
	if ((rc = meta_exec_id_text(m, S_REFS_DELETE, id, digest)) != 0 ||
	    (rc = meta_exec_id_text(m, S_TAGS_DELETE_DIGEST, id, digest)) != 0 ||
	    (rc = meta_exec_id_text(m, S_REPO_BLOB_DELETE_ID, id, digest)) != 0 ||
	    (rc = meta_commit(m)) != 0)
		goto fail;
	return 0;
fail:
	meta_rollback(m);
	return rc;
}

int
meta_tag_delete(struct meta *m, const char *repo, const char *tag)
{
	sqlite3_int64 id;
	int rc;

	if ((rc = meta_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((rc = meta_exec_id_text(m, S_TAG_DELETE, id, tag)) != 0)
		return rc;
	return sqlite3_changes(m->db) > 0 ? 0 : -ERR_MANIFEST_UNKNOWN;
}

/* Step a listing statement, n + 1 rows, to learn whether more remain. */
static int
meta_list_rows(struct meta *m, sqlite3_stmt *st, long n, meta_list_fn fn, void *arg, int *more)
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
		return meta_fail(m, "list");
	return 0;
}

int
meta_tag_list(struct meta *m, const char *repo, const char *last, long n,
    meta_list_fn fn, void *arg, int *more)
{
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((st = meta_stmt(m, S_TAG_LIST)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, last, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)n + 1);
	return meta_list_rows(m, st, n, fn, arg, more);
}

int
meta_repo_list(struct meta *m, const char *last, long n, int filtered, meta_list_fn fn,
    void *arg, int *more)
{
	sqlite3_stmt *st;

	if ((st = meta_stmt(m, S_REPO_LIST)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_text(st, 1, last, -1, SQLITE_STATIC);
	/* A callback that skips rows (access filtering) needs them all. */
	sqlite3_bind_int64(st, 2, filtered ? -1 : (sqlite3_int64)n + 1);
	return meta_list_rows(m, st, n, fn, arg, more);
}

int
meta_referrers(struct meta *m, const char *repo, const char *subject,
    const char *artifact_type, meta_referrer_fn fn, void *arg)
{
	struct meta_manifest mf;
	sqlite3_int64 id;
	sqlite3_stmt *st;
	int rc;

	if ((rc = meta_repo_id(m, repo, 0, &id)) != 0)
		return rc;
	if ((st = meta_stmt(m, artifact_type ? S_REFERRERS_TYPE : S_REFERRERS)) == NULL)
		return -ERR_INTERNAL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	if (artifact_type != NULL)
		sqlite3_bind_text(st, 3, artifact_type, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		meta_row_manifest(st, &mf);
		if (fn(arg, &mf) != 0)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return meta_fail(m, "referrers");
	return 0;
}
