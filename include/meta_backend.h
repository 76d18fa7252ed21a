/* meta_backend.h — what a metadata backend implements: one table of
 * function pointers (struct meta_ops), chosen once by meta_open from
 * [metadata] backend and called through by meta.c.  Only meta.c and the
 * backends include this header; everyone else sees meta.h.
 *
 * Each op mirrors the meta_* function of the same name in meta.h (same
 * arguments after the connection, same results, same documentation), and
 * the rules there bind every backend:
 *
 *  - Errors.  0 or a negated reg_error.  -ERR_UNAVAILABLE means "try again
 *    later": the database could not be reached, or a lock or serialization
 *    conflict outlasted the backend's own waiting.  The op's transaction
 *    was rolled back, so nothing of it happened, except when the
 *    connection was lost during COMMIT, when the outcome is unknown (the
 *    writes here are upserts or deletes that re-check, so a later retry
 *    converges; XXX a lost COMMIT of upload_open or upload_delete makes
 *    the retry report a duplicate or an unknown session).  -ERR_NO_SPACE
 *    for a full disk or quota, -ERR_INTERNAL for anything else.  A backend
 *    logs the cause once, and after a lost connection reconnects at its
 *    next call rather than failing for ever.
 *  - Atomicity.  Each op is one unit: one that writes several rows does so
 *    in one transaction, and the checks an op documents ("re-checked under
 *    the write lock", "if still unreferenced", session caps) run in that
 *    same transaction, serialised against other connections (SQLite:
 *    BEGIN IMMEDIATE; a server database: SERIALIZABLE with retries, or row
 *    locks).  Callers never hold a write transaction across ops.
 *  - Snapshots.  read_begin / read_end bracket several listings that must
 *    see one consistent state (garbage collection's mark phase) while
 *    other connections go on writing: SQLite WAL's read transaction, a
 *    server database's REPEATABLE READ.  Only listings run in between.
 *  - Connections.  A struct meta_conn is one connection owned by one
 *    thread (one per worker, and one per gc/fsck run); only busy_retries
 *    may be called from another thread.  Calls block the caller.
 *  - Callbacks.  Listing ops call fn once per row with strings that live
 *    until fn returns; fn does not call back into the same connection.
 */
#ifndef OCIREGD_META_BACKEND_H
#define OCIREGD_META_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

struct config;

/* One backend connection: each backend defines it in its own .c file;
 * meta.c only passes it back. */
struct meta_conn;

struct meta_ops {
	const char *name;			/* as in [metadata] backend */

	/* Connect (creating or migrating the schema as needed) with what the
	 * configuration says; NULL on failure (logged). */
	struct meta_conn *(*open)(const struct config *cfg);
	void (*close)(struct meta_conn *c);
	int (*schema_version)(struct meta_conn *c);
	/* Waits and retries this connection made (metrics); thread-safe. */
	uint64_t (*busy_retries)(struct meta_conn *c);
	int (*stats)(struct meta_conn *c, uint64_t *uploads, uint64_t *blobs, uint64_t *bytes);
	/* Bytes the metadata occupies where it is stored. */
	int (*size)(struct meta_conn *c, uint64_t *bytes);

	int (*repo_exists)(struct meta_conn *c, const char *repo);
	int (*blob_link)(struct meta_conn *c, const char *repo, const char *digest, uint64_t size);
	int (*blob_lookup)(struct meta_conn *c, const char *repo, const char *digest, uint64_t *size);
	int (*blob_unlink)(struct meta_conn *c, const char *repo, const char *digest);
	int (*blob_mount)(struct meta_conn *c, const char *src, const char *dst, const char *digest);
	int (*blob_find_repo)(struct meta_conn *c, const char *digest, const char *except,
	    char out[REFERENCE_NAME_MAX + 1]);

	/* meta_upload_create is upload_open with no client, user, algorithm
	 * or caps. */
	int (*upload_open)(struct meta_conn *c, const char *id, const char *repo,
	    const char *client, const char *user, const char *alg, int max_client, int max_user);
	int (*upload_touch)(struct meta_conn *c, const char *id);
	/* alg may be NULL (meta_upload_get). */
	int (*upload_get)(struct meta_conn *c, const char *id, char repo[REFERENCE_NAME_MAX + 1],
	    uint64_t *size, char alg[META_UPLOAD_ALG_MAX + 1]);
	int (*upload_set_size)(struct meta_conn *c, const char *id, uint64_t size, int flush);
	int (*upload_delete)(struct meta_conn *c, const char *id);
	int (*upload_finish)(struct meta_conn *c, const char *id, const char *repo,
	    const char *digest, uint64_t size);

	/* meta_manifest_put is manifest_put with at most one tag. */
	int (*manifest_store)(struct meta_conn *c, const char *repo, const struct meta_manifest *mf,
	    const struct meta_ref *refs, size_t nrefs, const char *const *tags, size_t ntags);
	int (*manifest_lookup)(struct meta_conn *c, const char *repo, const char *digest,
	    struct meta_manifest *out);
	int (*tag_get)(struct meta_conn *c, const char *repo, const char *tag,
	    struct meta_manifest *out);
	int (*manifest_remove)(struct meta_conn *c, const char *repo, const char *digest);
	int (*tag_delete)(struct meta_conn *c, const char *repo, const char *tag);
	int (*tag_list)(struct meta_conn *c, const char *repo, const char *last, long n,
	    meta_list_fn fn, void *arg, int *more);
	int (*repo_list)(struct meta_conn *c, const char *last, long n, int filtered,
	    meta_list_fn fn, void *arg, int *more);
	int (*referrers)(struct meta_conn *c, const char *repo, const char *subject,
	    const char *artifact_type, const char *last, long n, meta_referrer_fn fn, void *arg,
	    int *more);

	/* Garbage collection and fsck. */
	int (*gc_reset)(struct meta_conn *c);
	int (*read_begin)(struct meta_conn *c);
	void (*read_end)(struct meta_conn *c);
	int (*gc_manifests)(struct meta_conn *c, meta_gc_fn fn, void *arg);
	int (*gc_tags)(struct meta_conn *c, meta_gc_fn fn, void *arg);
	int (*gc_children)(struct meta_conn *c, meta_gc_fn fn, void *arg);
	int (*gc_tag_delete)(struct meta_conn *c, int64_t repo_id, const char *name,
	    const char *digest, int64_t updated, int *removed);
	int (*gc_manifest_delete)(struct meta_conn *c, int64_t repo_id, const char *digest,
	    int64_t before, int *removed);
	int (*gc_dry_manifest)(struct meta_conn *c, int64_t repo_id, const char *digest);
	int (*gc_dry_link)(struct meta_conn *c, int64_t repo_id, const char *digest);
	int (*gc_links)(struct meta_conn *c, int64_t before, int64_t after_id, const char *after,
	    long n, meta_gc_fn fn, void *arg);
	int (*gc_link_delete)(struct meta_conn *c, int64_t repo_id, const char *digest,
	    int64_t before, int *removed);
	int (*gc_blobs)(struct meta_conn *c, int64_t before, const char *after, long n,
	    meta_gc_fn fn, void *arg);
	int (*gc_blob_delete)(struct meta_conn *c, const char *digest, int64_t before,
	    int *removed);
	int (*gc_blob_exists)(struct meta_conn *c, const char *digest, int *exists);
	int (*gc_uploads)(struct meta_conn *c, int64_t before, meta_gc_fn fn, void *arg);
	int (*gc_upload_delete)(struct meta_conn *c, const char *id, int64_t before, int *removed);
	int (*gc_upload_exists)(struct meta_conn *c, const char *id, int *exists);
	int (*fsck_blobs)(struct meta_conn *c, meta_gc_fn fn, void *arg);
	int (*fsck_refs)(struct meta_conn *c, meta_gc_fn fn, void *arg);
	int (*fsck_drop_blob)(struct meta_conn *c, const char *digest, int *links);

	/* The pull-through cache. */
	int (*proxy_repo)(struct meta_conn *c, const char *repo, char proxy[META_PROXY_NAME_MAX],
	    int *local);
	int (*proxy_link)(struct meta_conn *c, const char *repo, const char *proxy,
	    const char *digest, uint64_t size);
	int (*proxy_blob_finish)(struct meta_conn *c, const char *id, const char *repo,
	    const char *proxy, const char *digest, uint64_t size);
	int (*proxy_tag_checked)(struct meta_conn *c, const char *repo, const char *tag,
	    int64_t *checked);
	int (*proxy_tag_set_checked)(struct meta_conn *c, const char *repo, const char *tag,
	    int64_t when);
	int (*proxy_touch)(struct meta_conn *c, const char *digest);
	int (*proxy_cached_bytes)(struct meta_conn *c, uint64_t *bytes);
	int (*proxy_evict_next)(struct meta_conn *c, char digest[META_PROXY_DIGEST_MAX],
	    uint64_t *size);
	int (*proxy_evict)(struct meta_conn *c, const char *digest);
	int (*proxy_ref_known)(struct meta_conn *c, const char *repo, const char *digest);

	/* Backups (issue 20), kept last so that other additions merge. */
	/* A consistent copy of everything, as of one instant while the other
	 * connections go on writing, placed where dest (a configuration whose
	 * storage root is the backup's directory) would open it; the backend
	 * names its own file there.  NULL: the backend's own tools do it
	 * (meta_backup answers -ERR_UNSUPPORTED). */
	int (*backup)(struct meta_conn *c, const struct config *dest);

	/* Scale-out (issue 16). */
	/* The end of a collection that gc_reset began: a backend that keeps
	 * one collector at a time across nodes (gc_reset takes a lock,
	 * waiting for it) releases it here.  NULL: nothing to release. */
	void (*gc_end)(struct meta_conn *c);
	/* migrate-metadata: NULL where a backend cannot export or import
	 * (meta_export / meta_import_* answer -ERR_UNSUPPORTED). */
	int (*export_rows)(struct meta_conn *c, meta_row_fn fn, void *arg);
	int (*import_begin)(struct meta_conn *c, int force, int *nonempty);
	int (*import_row)(struct meta_conn *c, size_t table, const char *const *vals);
	int (*import_end)(struct meta_conn *c, int commit);

	/* Garbage collection at scale (issue 19): the mark in the database. */
	int (*gc_mark)(struct meta_conn *c, const struct meta_gc_mark *p, uint64_t *dead);
	int (*gc_dead)(struct meta_conn *c, int64_t after_id, const char *after, long n,
	    meta_gc_fn fn, void *arg);
	int (*gc_keep)(struct meta_conn *c, int64_t repo_id, const char *digest, int *dropped);
	int (*gc_grace)(struct meta_conn *c, meta_gc_fn fn, void *arg);
	/* NULL: the backend does not batch. */
	int (*gc_flush)(struct meta_conn *c);
	int (*gc_newest)(struct meta_conn *c, int64_t *newest);
};

/* The backends (meta_sqlite.c, meta_pg.c), by [metadata] backend. */
extern const struct meta_ops meta_sqlite_ops;
extern const struct meta_ops meta_pg_ops;

#endif
