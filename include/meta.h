/* meta.h — the metadata store: repositories, which blobs each repository
 * holds, upload sessions, manifests, tags and references.
 *
 * This is the seam for metadata backends: handlers see only these functions
 * and plain C types.  meta.c calls through to the backend [metadata]
 * backend names (meta_backend.h: SQLite in meta_sqlite.c, which keeps
 * <root>/meta.db).  A struct meta is one connection and belongs to one
 * thread; each worker opens its own.  Calls block on the database.
 *
 * Every function returning int returns 0 or a negated reg_error; besides
 * the ones named at each, any may fail with
 *   -ERR_UNAVAILABLE  the database is unreachable or a lock or conflict
 *                     outlasted the backend's waiting; the call was rolled
 *                     back (XXX but for a COMMIT cut off: meta_backend.h),
 *                     so retry later (a request answers 503);
 *   -ERR_NO_SPACE     the database's disk is full (507);
 *   -ERR_INTERNAL     anything else (500).
 * Each call is atomic on its own (the ones that write several rows do so in
 * one transaction); meta_gc_read_begin/_end is the one transaction callers
 * hold across calls, a read snapshot. */
#ifndef OCIREGD_META_H
#define OCIREGD_META_H

#include <stddef.h>
#include <stdint.h>

#include "reference.h"

struct config;
struct meta;

/* Connect to the metadata store cfg names ([metadata] backend; SQLite:
 * open, creating and migrating, <root>/meta.db).  cfg need not outlive the
 * call.  NULL on failure (logged). */
struct meta *meta_open(const struct config *cfg);
void meta_close(struct meta *m);
/* Schema version of the open database. */
int meta_schema_version(struct meta *m);
/* Times this connection waited for a lock or retried (metrics); may be
 * called from another thread. */
uint64_t meta_busy_retries(struct meta *m);
/* Upload sessions, blobs and blob bytes (metrics, readiness): 0 or error. */
int meta_stats(struct meta *m, uint64_t *uploads, uint64_t *blobs, uint64_t *bytes);

/* Whether the repository exists: 0 or -ERR_NAME_UNKNOWN. */
int meta_repo_exists(struct meta *m, const char *repo);

/* Record that repo holds blob digest (size bytes), creating the repository
 * and the blob row as needed; one transaction. */
int meta_blob_link(struct meta *m, const char *repo, const char *digest, uint64_t size);
/* Size of a blob in a repository: 0 or -ERR_BLOB_UNKNOWN. */
int meta_blob_get(struct meta *m, const char *repo, const char *digest, uint64_t *size);
/* Remove a blob from a repository: 0 or -ERR_BLOB_UNKNOWN. */
int meta_blob_unlink(struct meta *m, const char *repo, const char *digest);
/* Link digest into dst only if src holds it, atomically (a mount):
 * 0, or -ERR_BLOB_UNKNOWN if src does not hold it. */
int meta_blob_mount(struct meta *m, const char *src, const char *dst, const char *digest);
/* Find a repository other than `except` that holds digest (mount without
 * `from`).  Writes its name into out; 0 or -ERR_BLOB_UNKNOWN. */
int meta_blob_find_repo(struct meta *m, const char *digest, const char *except,
    char out[REFERENCE_NAME_MAX + 1]);

/* Upload sessions. */
int meta_upload_create(struct meta *m, const char *id, const char *repo);
/* Open a session on behalf of a client address and an authenticated user
 * ("" for either: not counted), unless that client already holds
 * max_client open sessions or that user max_user (0: no cap); the count
 * and the insert are one transaction.  alg is the digest algorithm the
 * client named at POST ("sha256", "sha512"), or "" for none.  0,
 * -ERR_TOOMANYREQUESTS, or another negated reg_error. */
int meta_upload_open(struct meta *m, const char *id, const char *repo, const char *client,
    const char *user, const char *alg, int max_client, int max_user);
/* Mark a session as used now (a request is still writing to it), so that
 * expiry spares it: 0 or -ERR_BLOB_UPLOAD_UNKNOWN. */
int meta_upload_touch(struct meta *m, const char *id);
/* Repository and current size of an upload: 0 or -ERR_BLOB_UPLOAD_UNKNOWN. */
int meta_upload_get(struct meta *m, const char *id, char repo[REFERENCE_NAME_MAX + 1],
    uint64_t *size);
/* The same and the digest algorithm the session was opened with ("" if it
 * named none; alg may be NULL).  Longer names than META_UPLOAD_ALG_MAX are
 * cut, which makes them no known algorithm. */
#define META_UPLOAD_ALG_MAX 15
int meta_upload_get_alg(struct meta *m, const char *id, char repo[REFERENCE_NAME_MAX + 1],
    uint64_t *size, char alg[META_UPLOAD_ALG_MAX + 1]);
/* Record the size a session reached.  flush: the commit is durable before
 * this returns, as every other change is; 0 when the bytes it names are
 * not durable themselves (a local spool, fsynced only at the closing PUT):
 * then it is written but not flushed, which survives a killed process but
 * not always a power loss, and saves a WAL flush per PATCH. */
int meta_upload_set_size(struct meta *m, const char *id, uint64_t size, int flush);
int meta_upload_delete(struct meta *m, const char *id);
/* Finish an upload: drop the session and link the blob, in one transaction. */
int meta_upload_finish(struct meta *m, const char *id, const char *repo,
    const char *digest, uint64_t size);

/* ---- manifests, tags, references (the manifest plane) ---- */

struct meta_manifest {
	char digest[140];
	char media_type[256];
	char artifact_type[256];	/* "" if none */
	char subject[140];		/* "" if none */
	uint64_t size;
};

/* A manifest's references, stored with it. */
struct meta_ref {
	const char *digest;
	int is_manifest;		/* index child (1) or blob (0) */
	int skip_check;			/* need not be present (foreign layer) */
};

/* Store a manifest row with its references and, if tag is not NULL, point
 * the tag at it; one transaction, in which every reference (unless
 * skip_check) is checked to be present: -ERR_MANIFEST_BLOB_UNKNOWN if not.
 * The manifest's bytes must already be a blob in the store. */
int meta_manifest_put(struct meta *m, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *tag);
/* The same with any number of tags (ntags may be 0), all pointed at the
 * manifest in that one transaction: either every tag moves or none does.
 * The tags must already be valid (reference_tag_valid). */
int meta_manifest_put_tags(struct meta *m, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *const *tags, size_t ntags);
/* Look a manifest up by digest: 0, -ERR_NAME_UNKNOWN or -ERR_MANIFEST_UNKNOWN. */
int meta_manifest_get(struct meta *m, const char *repo, const char *digest,
    struct meta_manifest *out);
/* Resolve a tag to its manifest: 0, -ERR_NAME_UNKNOWN or -ERR_MANIFEST_UNKNOWN. */
int meta_tag_get(struct meta *m, const char *repo, const char *tag, struct meta_manifest *out);
/* Delete a manifest and every tag that points at it. */
int meta_manifest_delete(struct meta *m, const char *repo, const char *digest);
/* Delete one tag. */
int meta_tag_delete(struct meta *m, const char *repo, const char *tag);

/* Called once per listed item; return 0 to count it, 2 to skip it (not
 * counted against n), 1 to stop. */
typedef int (*meta_list_fn)(void *arg, const char *item);
/* Tags of repo after `last` (exclusive, "" = from the start) in lexical
 * order, at most n; *more set if more remain.  -ERR_NAME_UNKNOWN if the
 * repository does not exist. */
int meta_tag_list(struct meta *m, const char *repo, const char *last, long n,
    meta_list_fn fn, void *arg, int *more);
/* Repositories that hold something (a manifest or a blob link), in
 * lexical order, same paging; filtered: the callback may skip rows. */
int meta_repo_list(struct meta *m, const char *last, long n, int filtered, meta_list_fn fn,
    void *arg, int *more);

typedef int (*meta_referrer_fn)(void *arg, const struct meta_manifest *mf);
/* Manifests in repo whose subject is digest, optionally filtered by artifact
 * type (NULL = all), ordered by digest: a page of at most n (> 0) with a
 * digest after last ("" for the first page); *more is set if others
 * follow. */
int meta_referrers(struct meta *m, const char *repo, const char *subject,
    const char *artifact_type, const char *last, long n, meta_referrer_fn fn, void *arg,
    int *more);

/* ---- garbage collection (gc.c) and integrity checks (fsck.c) ----
 * Not hot paths: statements are prepared per call.  Listings call fn once
 * per row; fn returns 0 to go on or a non-zero value that stops the listing
 * and is returned.  fn must not write through the same connection.  The
 * deleting functions re-check in the statement (or transaction) that
 * deletes that the row is still unreferenced now, and set *removed to
 * whether it went. */

/* One listed row; which fields mean what is said at each listing.  The
 * strings live until fn returns. */
struct meta_gc_row {
	int64_t repo_id;
	const char *repo;		/* repository name, "" where none */
	const char *digest;
	const char *aux;
	uint64_t size;
	int64_t time;			/* unix seconds */
	int kind;
};
typedef int (*meta_gc_fn)(void *arg, const struct meta_gc_row *row);

/* Create (or empty) the connection's temp tables that let a dry run leave
 * out what it has already counted as removed.  Call before each run.  On a
 * database shared by several nodes it also takes the collector lock (one
 * collection at a time), waiting for a collection elsewhere to end. */
int meta_gc_reset(struct meta *m);
/* The run meta_gc_reset began is over (whatever its outcome): releases the
 * collector lock, if the backend took one. */
void meta_gc_end(struct meta *m);
/* Begin / end one read transaction: every listing in between sees the
 * same snapshot (SQLite: WAL), while writers go on. */
int meta_gc_read_begin(struct meta *m);
void meta_gc_read_end(struct meta *m);
/* Manifests: digest, aux = subject ("" if none), size, time = created;
 * ordered by repo_id, digest. */
int meta_gc_manifests(struct meta *m, meta_gc_fn fn, void *arg);

/* The mark of a collection, computed by the database from the snapshot
 * (between meta_gc_read_begin and _end) into the connection's temp tables,
 * so that the collector holds no list of every manifest.  Roots: manifests
 * created at or after t0; manifests a tag points at that is not in drop
 * (retention's tags); with keep_untagged, untagged manifests that no
 * index of their repository lists and whose subject is not in it.
 * Liveness flows from a live manifest to the children its index lists and
 * to its referrers (manifests whose subject it is), in its repository.
 * Then a second round roots the untagged manifests created at or after
 * young that are still dead (kept by grace; what they keep inherits
 * them).  What stays dead is a candidate; *dead gets their number. */
struct meta_gc_tagref {
	int64_t repo_id;
	const char *name;
};
struct meta_gc_mark {
	int64_t t0;
	int64_t young;
	int keep_untagged;
	const struct meta_gc_tagref *drop;
	size_t ndrop;
};
/* Why a candidate is dead (meta_gc_dead's kind). */
enum meta_gc_why {
	META_GC_UNTAGGED = 0,		/* untagged, older than young */
	META_GC_RETENTION = 1,		/* every tag it had is in drop */
	META_GC_REFERRER = 2,		/* its subject (aux) is a candidate */
	META_GC_CHILD = 3,		/* an index (aux) listing it is one */
	META_GC_CHILD_MANY = 4		/* the same, and so is every other */
};
int meta_gc_mark(struct meta *m, const struct meta_gc_mark *p, uint64_t *dead);
/* The candidates after (after_id, after) in (repo_id, digest) order whose
 * manifest still exists, at most n: repo, digest, aux (see kind), size,
 * time = created, kind = enum meta_gc_why. */
int meta_gc_dead(struct meta *m, int64_t after_id, const char *after, long n, meta_gc_fn fn,
    void *arg);
/* A manifest that is live after all (its tag was pushed again): no longer
 * a candidate (*dropped: it was one), nor kept by grace. */
int meta_gc_keep(struct meta *m, int64_t repo_id, const char *digest, int *dropped);
/* Manifests only the second round keeps: repo, digest, aux = the young
 * manifest they depend on ("" for itself), size, time = its creation. */
int meta_gc_grace(struct meta *m, meta_gc_fn fn, void *arg);
/* Commit the deletions a backend batches (tags, manifests, links, blob
 * rows) now, before anything depends on their being durable.  Until it
 * returns, the *removed of each batched deletion may still change (a
 * PostgreSQL batch aborted by a conflict runs its deletions again, and a
 * row written again meanwhile is then kept): the caller keeps each
 * *removed valid until the flush and acts on it (reports, counts, files)
 * only after. */
int meta_gc_flush(struct meta *m);
/* A time (unix seconds) no manifest, repository link or blob row carries
 * a later one than: the newest creation time (PostgreSQL: an indexed
 * lookup per table) or the time of the last write to the database
 * (SQLite: its files' times).  Cheap: no scan. */
int meta_gc_newest(struct meta *m, int64_t *newest);
/* Tags: digest = manifest, aux = tag name, time = updated; ordered by
 * repo_id, newest first, then name. */
int meta_gc_tags(struct meta *m, meta_gc_fn fn, void *arg);
/* Index children: digest = the index, aux = the child (repo unset). */
int meta_gc_children(struct meta *m, meta_gc_fn fn, void *arg);
/* Delete a tag if it still points at digest with the same updated time. */
int meta_gc_tag_delete(struct meta *m, int64_t repo_id, const char *name, const char *digest,
    int64_t updated, int *removed);
/* Delete a manifest and its references, in one transaction, if it was
 * created before `before` and no tag, no index of the repository and no
 * subject (a manifest its subject field names) keeps it now. */
int meta_gc_manifest_delete(struct meta *m, int64_t repo_id, const char *digest, int64_t before,
    int *removed);
/* Dry run: count a manifest, or a repository link, as removed for the
 * listings that follow. */
int meta_gc_dry_manifest(struct meta *m, int64_t repo_id, const char *digest);
int meta_gc_dry_link(struct meta *m, int64_t repo_id, const char *digest);
/* Repository links created before `before` that no manifest of their
 * repository lists or is, after (after_id, after) in (repo_id, digest)
 * order, at most n: digest, size (of the blob), time = created, kind = 1
 * if the link is a candidate manifest's own bytes. */
int meta_gc_links(struct meta *m, int64_t before, int64_t after_id, const char *after, long n,
    meta_gc_fn fn, void *arg);
int meta_gc_link_delete(struct meta *m, int64_t repo_id, const char *digest, int64_t before,
    int *removed);
/* Blob rows created before `before` that no repository links, with a
 * digest after `after`, at most n, in digest order: digest, size, time =
 * created.  meta_gc_blob_delete may batch: meta_gc_flush before acting on
 * its result. */
int meta_gc_blobs(struct meta *m, int64_t before, const char *after, long n, meta_gc_fn fn,
    void *arg);
int meta_gc_blob_delete(struct meta *m, const char *digest, int64_t before, int *removed);
/* Whether a blob row exists now. */
int meta_gc_blob_exists(struct meta *m, const char *digest, int *exists);
/* Upload sessions last written before `before`: digest = session id,
 * repo, size, time = updated. */
int meta_gc_uploads(struct meta *m, int64_t before, meta_gc_fn fn, void *arg);
int meta_gc_upload_delete(struct meta *m, const char *id, int64_t before, int *removed);
int meta_gc_upload_exists(struct meta *m, const char *id, int *exists);
/* Every blob row: digest, size, time = created; ordered by digest. */
int meta_fsck_blobs(struct meta *m, meta_gc_fn fn, void *arg);
/* Every reference of every manifest: digest = the manifest, aux = what it
 * references, kind 0 a blob, 1 a child manifest, 2 the manifest's own
 * bytes; size = 1 if the target is in the repository, else 0. */
int meta_fsck_refs(struct meta *m, meta_gc_fn fn, void *arg);
/* Drop a blob row and every repository's link to it (fsck --repair);
 * *links gets how many links went. */
int meta_fsck_drop_blob(struct meta *m, const char *digest, int *links);

/* ---- the pull-through cache (proxy.c) ----
 * Statements are prepared per call.  Cached content is what the proxy
 * brought in: evictable under [cache] max_size, least recently pulled
 * first, unless a local push or mount holds it. */

#define META_PROXY_NAME_MAX 256
#define META_PROXY_DIGEST_MAX 140

/* The [proxy] section that filled repo ("" if none) and whether the
 * repository holds local content (manifests, tags or blobs, not filled by
 * a proxy): 0 or -ERR_NAME_UNKNOWN. */
int meta_proxy_repo(struct meta *m, const char *repo, char proxy[META_PROXY_NAME_MAX], int *local);
/* Record a cached blob (or a cached manifest's bytes, before
 * meta_manifest_put) in repo, marking the repository as proxy's; one
 * transaction.  Content already local stays local. */
int meta_proxy_link(struct meta *m, const char *repo, const char *proxy, const char *digest,
    uint64_t size);
/* A verified upstream blob spooled as upload id: drop the session row and
 * link the cached blob, in one transaction. */
int meta_proxy_blob_finish(struct meta *m, const char *id, const char *repo, const char *proxy,
    const char *digest, uint64_t size);
/* When the upstream last confirmed a cached tag (unix seconds; 0 never):
 * 0 or -ERR_MANIFEST_UNKNOWN. */
int meta_proxy_tag_checked(struct meta *m, const char *repo, const char *tag, int64_t *checked);
int meta_proxy_tag_set_checked(struct meta *m, const char *repo, const char *tag, int64_t when);
/* A cached blob or manifest was pulled now (for least-recently-pulled
 * eviction); local content is left alone. */
int meta_proxy_touch(struct meta *m, const char *digest);
/* Bytes of cached content no local link holds. */
int meta_proxy_cached_bytes(struct meta *m, uint64_t *bytes);
/* The least recently pulled evictable blob: 0 or -ERR_BLOB_UNKNOWN. */
int meta_proxy_evict_next(struct meta *m, char digest[META_PROXY_DIGEST_MAX], uint64_t *size);
/* Drop an evictable blob's rows (and, if it is a manifest, its manifest,
 * reference and tag rows in every repository), in one transaction that
 * checks again that it is evictable: 0 or -ERR_BLOB_UNKNOWN.  The caller
 * removes the file afterwards. */
int meta_proxy_evict(struct meta *m, const char *digest);
/* Whether a manifest of repo references digest: 0 or -ERR_BLOB_UNKNOWN. */
int meta_proxy_ref_known(struct meta *m, const char *repo, const char *digest);

/* Bytes the metadata takes on disk (SQLite: the database file and its
 * write-ahead log).  0 or a negated reg_error; two stat calls, for
 * /metrics.  (Added for issue 20, metrics.) */
int meta_size(struct meta *m, uint64_t *bytes);

/* Copy the whole metadata store, as one snapshot taken while other
 * connections go on writing, to where meta_open(dest) will find it (dest:
 * a configuration like the live one but for its storage root, the
 * backup's directory; SQLite: <dest root>/meta.db, which must not exist).
 * The copy is durable (file and directory entry fsynced) on return.
 * -ERR_UNSUPPORTED for a backend that is backed up with its own tools
 * (a server database: its dump).  Blocks for the whole copy.  (Added for
 * issue 20, backups.) */
int meta_backup(struct meta *m, const struct config *dest);

/* ---- moving the metadata between backends (issue 16: migrate-metadata) ---- */

/* The tables and columns copied, in an order that satisfies the foreign
 * keys (repositories before what refers to them); the same at every
 * backend's current schema version. */
struct meta_table {
	const char *name;
	int ncols;
	const char *const *cols;
};
extern const struct meta_table meta_tables[];
extern const size_t meta_ntables;

/* One row of table meta_tables[table]: ncols values as text (NULL: SQL
 * NULL), living until the callback returns. */
typedef int (*meta_row_fn)(void *arg, size_t table, const char *const *vals);

/* Every row of every table of meta_tables, one table after the other, from
 * one read snapshot.  fn's nonzero return stops the export and is
 * returned.  -ERR_UNSUPPORTED if the backend cannot export.  Blocks. */
int meta_export(struct meta *m, meta_row_fn fn, void *arg);
/* Begin an import into this database: one transaction, held until
 * meta_import_end.  If the database holds any repository, blob or upload
 * session, *nonempty is set and nothing begins (return 0) unless force,
 * when everything in it is deleted first (inside the same transaction).
 * -ERR_UNSUPPORTED if the backend cannot import. */
int meta_import_begin(struct meta *m, int force, int *nonempty);
/* Insert one row (the values of meta_export's callback). */
int meta_import_row(struct meta *m, size_t table, const char *const *vals);
/* Commit (commit != 0) or roll back the import; on commit the backend's
 * id generators move past the imported ids. */
int meta_import_end(struct meta *m, int commit);

#endif
