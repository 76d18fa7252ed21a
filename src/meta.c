/* SPDX-License-Identifier: ISC
 * meta.c — the metadata store's dispatch layer: meta_open picks the backend
 * [metadata] backend names, once, and every meta_* call goes through its
 * table of operations (meta_backend.h) to the backend's own connection.
 * Handlers, gc, fsck and the proxy see only meta.h; the backends see only
 * their own state.  Adding a backend is a struct meta_ops, a value of
 * enum config_meta_backend, and a line in meta_backends below.
 *
 * Nothing is retried here: a backend knows which of its failures are worth
 * waiting out (SQLite's busy handler already waits), and the rest go up as
 * -ERR_UNAVAILABLE for the client to retry.
 */
#include <stdlib.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "meta.h"
#include "meta_backend.h"

struct meta {
	const struct meta_ops *ops;	/* chosen at open, never changed */
	struct meta_conn *conn;		/* the backend's connection */
};

/* By enum config_meta_backend. */
static const struct meta_ops *const meta_backends[] = {
	[CONFIG_META_SQLITE] = &meta_sqlite_ops,
	[CONFIG_META_POSTGRES] = &meta_pg_ops,
};

struct meta *
meta_open(const struct config *cfg)
{
	const struct meta_ops *ops = NULL;
	struct meta *m;

	/* config.c accepts only the names of backends listed here. */
	if (cfg->meta_backend >= 0 &&
	    (size_t)cfg->meta_backend < sizeof(meta_backends) / sizeof(meta_backends[0]))
		ops = meta_backends[cfg->meta_backend];
	if (ops == NULL) {
		log_error("meta: no metadata backend %d", cfg->meta_backend);
		return NULL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_error("meta: out of memory");
		return NULL;
	}
	m->ops = ops;
	if ((m->conn = ops->open(cfg)) == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
meta_close(struct meta *m)
{
	if (m == NULL)
		return;
	m->ops->close(m->conn);
	free(m);
}

int
meta_schema_version(struct meta *m)
{
	return m->ops->schema_version(m->conn);
}

uint64_t
meta_busy_retries(struct meta *m)
{
	return m->ops->busy_retries(m->conn);
}

int
meta_stats(struct meta *m, uint64_t *uploads, uint64_t *blobs, uint64_t *bytes)
{
	return m->ops->stats(m->conn, uploads, blobs, bytes);
}

/* ---- repositories and blobs ---- */

int
meta_repo_exists(struct meta *m, const char *repo)
{
	return m->ops->repo_exists(m->conn, repo);
}

int
meta_blob_link(struct meta *m, const char *repo, const char *digest, uint64_t size)
{
	return m->ops->blob_link(m->conn, repo, digest, size);
}

int
meta_blob_get(struct meta *m, const char *repo, const char *digest, uint64_t *size)
{
	return m->ops->blob_lookup(m->conn, repo, digest, size);
}

int
meta_blob_unlink(struct meta *m, const char *repo, const char *digest)
{
	return m->ops->blob_unlink(m->conn, repo, digest);
}

int
meta_blob_mount(struct meta *m, const char *src, const char *dst, const char *digest)
{
	return m->ops->blob_mount(m->conn, src, dst, digest);
}

int
meta_blob_find_repo(struct meta *m, const char *digest, const char *except,
    char out[REFERENCE_NAME_MAX + 1])
{
	return m->ops->blob_find_repo(m->conn, digest, except, out);
}

/* ---- upload sessions ---- */

int
meta_upload_create(struct meta *m, const char *id, const char *repo)
{
	/* A session counted against no one: no client, no user, no caps. */
	return m->ops->upload_open(m->conn, id, repo, "", "", "", 0, 0);
}

int
meta_upload_open(struct meta *m, const char *id, const char *repo, const char *client,
    const char *user, const char *alg, int max_client, int max_user)
{
	return m->ops->upload_open(m->conn, id, repo, client, user, alg, max_client, max_user);
}

int
meta_upload_get(struct meta *m, const char *id, char repo[REFERENCE_NAME_MAX + 1],
    uint64_t *size)
{
	return m->ops->upload_get(m->conn, id, repo, size, NULL);
}

int
meta_upload_get_alg(struct meta *m, const char *id, char repo[REFERENCE_NAME_MAX + 1],
    uint64_t *size, char alg[META_UPLOAD_ALG_MAX + 1])
{
	return m->ops->upload_get(m->conn, id, repo, size, alg);
}

int
meta_upload_touch(struct meta *m, const char *id)
{
	return m->ops->upload_touch(m->conn, id);
}

int
meta_upload_set_size(struct meta *m, const char *id, uint64_t size, int flush)
{
	return m->ops->upload_set_size(m->conn, id, size, flush);
}

int
meta_upload_delete(struct meta *m, const char *id)
{
	return m->ops->upload_delete(m->conn, id);
}

int
meta_upload_finish(struct meta *m, const char *id, const char *repo,
    const char *digest, uint64_t size)
{
	return m->ops->upload_finish(m->conn, id, repo, digest, size);
}

/* ---- manifests, tags, references ---- */

int
meta_manifest_put(struct meta *m, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *tag)
{
	return m->ops->manifest_store(m->conn, repo, mf, refs, nrefs, &tag, tag != NULL ? 1 : 0);
}

int
meta_manifest_put_tags(struct meta *m, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *const *tags, size_t ntags)
{
	return m->ops->manifest_store(m->conn, repo, mf, refs, nrefs, tags, ntags);
}

int
meta_manifest_get(struct meta *m, const char *repo, const char *digest,
    struct meta_manifest *out)
{
	return m->ops->manifest_lookup(m->conn, repo, digest, out);
}

int
meta_tag_get(struct meta *m, const char *repo, const char *tag, struct meta_manifest *out)
{
	return m->ops->tag_get(m->conn, repo, tag, out);
}

int
meta_manifest_delete(struct meta *m, const char *repo, const char *digest)
{
	return m->ops->manifest_remove(m->conn, repo, digest);
}

int
meta_tag_delete(struct meta *m, const char *repo, const char *tag)
{
	return m->ops->tag_delete(m->conn, repo, tag);
}

int
meta_tag_list(struct meta *m, const char *repo, const char *last, long n,
    meta_list_fn fn, void *arg, int *more)
{
	return m->ops->tag_list(m->conn, repo, last, n, fn, arg, more);
}

int
meta_repo_list(struct meta *m, const char *last, long n, int filtered, meta_list_fn fn,
    void *arg, int *more)
{
	return m->ops->repo_list(m->conn, last, n, filtered, fn, arg, more);
}

int
meta_referrers(struct meta *m, const char *repo, const char *subject,
    const char *artifact_type, const char *last, long n, meta_referrer_fn fn, void *arg,
    int *more)
{
	return m->ops->referrers(m->conn, repo, subject, artifact_type, last, n, fn, arg, more);
}

/* ---- garbage collection and integrity checks ---- */

int
meta_gc_reset(struct meta *m)
{
	return m->ops->gc_reset(m->conn);
}

void
meta_gc_end(struct meta *m)
{
	if (m->ops->gc_end != NULL)
		m->ops->gc_end(m->conn);
}

int
meta_gc_read_begin(struct meta *m)
{
	return m->ops->read_begin(m->conn);
}

void
meta_gc_read_end(struct meta *m)
{
	m->ops->read_end(m->conn);
}

int
meta_gc_manifests(struct meta *m, meta_gc_fn fn, void *arg)
{
	return m->ops->gc_manifests(m->conn, fn, arg);
}

int
meta_gc_tags(struct meta *m, meta_gc_fn fn, void *arg)
{
	return m->ops->gc_tags(m->conn, fn, arg);
}

int
meta_gc_children(struct meta *m, meta_gc_fn fn, void *arg)
{
	return m->ops->gc_children(m->conn, fn, arg);
}

int
meta_gc_tag_delete(struct meta *m, int64_t repo_id, const char *name, const char *digest,
    int64_t updated, int *removed)
{
	return m->ops->gc_tag_delete(m->conn, repo_id, name, digest, updated, removed);
}

int
meta_gc_manifest_delete(struct meta *m, int64_t repo_id, const char *digest, int64_t before,
    int *removed)
{
	return m->ops->gc_manifest_delete(m->conn, repo_id, digest, before, removed);
}

int
meta_gc_dry_manifest(struct meta *m, int64_t repo_id, const char *digest)
{
	return m->ops->gc_dry_manifest(m->conn, repo_id, digest);
}

int
meta_gc_dry_link(struct meta *m, int64_t repo_id, const char *digest)
{
	return m->ops->gc_dry_link(m->conn, repo_id, digest);
}

int
meta_gc_links(struct meta *m, int64_t before, int64_t after_id, const char *after, long n,
    meta_gc_fn fn, void *arg)
{
	return m->ops->gc_links(m->conn, before, after_id, after, n, fn, arg);
}

int
meta_gc_link_delete(struct meta *m, int64_t repo_id, const char *digest, int64_t before,
    int *removed)
{
	return m->ops->gc_link_delete(m->conn, repo_id, digest, before, removed);
}

int
meta_gc_blobs(struct meta *m, int64_t before, const char *after, long n, meta_gc_fn fn, void *arg)
{
	return m->ops->gc_blobs(m->conn, before, after, n, fn, arg);
}

int
meta_gc_mark(struct meta *m, const struct meta_gc_mark *p, uint64_t *dead)
{
	return m->ops->gc_mark(m->conn, p, dead);
}

int
meta_gc_dead(struct meta *m, int64_t after_id, const char *after, long n, meta_gc_fn fn,
    void *arg)
{
	return m->ops->gc_dead(m->conn, after_id, after, n, fn, arg);
}

int
meta_gc_keep(struct meta *m, int64_t repo_id, const char *digest, int *dropped)
{
	return m->ops->gc_keep(m->conn, repo_id, digest, dropped);
}

int
meta_gc_grace(struct meta *m, meta_gc_fn fn, void *arg)
{
	return m->ops->gc_grace(m->conn, fn, arg);
}

int
meta_gc_flush(struct meta *m)
{
	return m->ops->gc_flush != NULL ? m->ops->gc_flush(m->conn) : 0;
}

int
meta_gc_newest(struct meta *m, int64_t *newest)
{
	return m->ops->gc_newest(m->conn, newest);
}

int
meta_gc_blob_delete(struct meta *m, const char *digest, int64_t before, int *removed)
{
	return m->ops->gc_blob_delete(m->conn, digest, before, removed);
}

int
meta_gc_blob_exists(struct meta *m, const char *digest, int *exists)
{
	return m->ops->gc_blob_exists(m->conn, digest, exists);
}

int
meta_gc_uploads(struct meta *m, int64_t before, meta_gc_fn fn, void *arg)
{
	return m->ops->gc_uploads(m->conn, before, fn, arg);
}

int
meta_gc_upload_delete(struct meta *m, const char *id, int64_t before, int *removed)
{
	return m->ops->gc_upload_delete(m->conn, id, before, removed);
}

int
meta_gc_upload_exists(struct meta *m, const char *id, int *exists)
{
	return m->ops->gc_upload_exists(m->conn, id, exists);
}

int
meta_fsck_blobs(struct meta *m, meta_gc_fn fn, void *arg)
{
	return m->ops->fsck_blobs(m->conn, fn, arg);
}

int
meta_fsck_refs(struct meta *m, meta_gc_fn fn, void *arg)
{
	return m->ops->fsck_refs(m->conn, fn, arg);
}

int
meta_fsck_drop_blob(struct meta *m, const char *digest, int *links)
{
	return m->ops->fsck_drop_blob(m->conn, digest, links);
}

/* ---- the pull-through cache ---- */

int
meta_proxy_repo(struct meta *m, const char *repo, char proxy[META_PROXY_NAME_MAX], int *local)
{
	return m->ops->proxy_repo(m->conn, repo, proxy, local);
}

int
meta_proxy_link(struct meta *m, const char *repo, const char *proxy, const char *digest,
    uint64_t size)
{
	return m->ops->proxy_link(m->conn, repo, proxy, digest, size);
}

int
meta_proxy_blob_finish(struct meta *m, const char *id, const char *repo, const char *proxy,
    const char *digest, uint64_t size)
{
	return m->ops->proxy_blob_finish(m->conn, id, repo, proxy, digest, size);
}

int
meta_proxy_tag_checked(struct meta *m, const char *repo, const char *tag, int64_t *checked)
{
	return m->ops->proxy_tag_checked(m->conn, repo, tag, checked);
}

int
meta_proxy_tag_set_checked(struct meta *m, const char *repo, const char *tag, int64_t when)
{
	return m->ops->proxy_tag_set_checked(m->conn, repo, tag, when);
}

int
meta_proxy_touch(struct meta *m, const char *digest)
{
	return m->ops->proxy_touch(m->conn, digest);
}

int
meta_proxy_cached_bytes(struct meta *m, uint64_t *bytes)
{
	return m->ops->proxy_cached_bytes(m->conn, bytes);
}

int
meta_proxy_evict_next(struct meta *m, char digest[META_PROXY_DIGEST_MAX], uint64_t *size)
{
	return m->ops->proxy_evict_next(m->conn, digest, size);
}

int
meta_proxy_evict(struct meta *m, const char *digest)
{
	return m->ops->proxy_evict(m->conn, digest);
}

int
meta_proxy_ref_known(struct meta *m, const char *repo, const char *digest)
{
	return m->ops->proxy_ref_known(m->conn, repo, digest);
}

int
meta_size(struct meta *m, uint64_t *bytes)
{
	if (m->ops->size == NULL)
		return -ERR_UNSUPPORTED;
	return m->ops->size(m->conn, bytes);
}

int
meta_backup(struct meta *m, const struct config *dest)
{
	if (m->ops->backup == NULL)
		return -ERR_UNSUPPORTED;
	return m->ops->backup(m->conn, dest);
}

/* ---- moving the metadata between backends ---- */

static const char *const meta_cols_repositories[] = {"id", "name", "created", "proxy"};
static const char *const meta_cols_blobs[] = {"digest", "size", "created", "cached", "last_pulled"};
static const char *const meta_cols_repo_blobs[] = {"repo_id", "digest", "created", "cached"};
static const char *const meta_cols_manifests[] = {"repo_id", "digest", "media_type",
    "artifact_type", "subject", "size", "created"};
static const char *const meta_cols_manifest_refs[] = {"repo_id", "digest", "ref", "is_manifest"};
static const char *const meta_cols_tags[] = {"repo_id", "name", "digest", "updated", "checked"};
static const char *const meta_cols_uploads[] = {"id", "repo", "size", "created", "updated",
    "client", "owner", "alg"};

#define META_TABLE(t) {#t, (int)(sizeof(meta_cols_##t) / sizeof(meta_cols_##t[0])), meta_cols_##t}

/* The columns of schema version 6 of both backends (unchanged since 4).  A
 * migration that adds a column adds it here too. */
const struct meta_table meta_tables[] = {
	META_TABLE(repositories),
	META_TABLE(blobs),
	META_TABLE(repo_blobs),
	META_TABLE(manifests),
	META_TABLE(manifest_refs),
	META_TABLE(tags),
	META_TABLE(uploads),
};
const size_t meta_ntables = sizeof(meta_tables) / sizeof(meta_tables[0]);

int
meta_export(struct meta *m, meta_row_fn fn, void *arg)
{
	if (m->ops->export_rows == NULL)
		return -ERR_UNSUPPORTED;
	return m->ops->export_rows(m->conn, fn, arg);
}

int
meta_import_begin(struct meta *m, int force, int *nonempty)
{
	*nonempty = 0;
	if (m->ops->import_begin == NULL)
		return -ERR_UNSUPPORTED;
	return m->ops->import_begin(m->conn, force, nonempty);
}

int
meta_import_row(struct meta *m, size_t table, const char *const *vals)
{
	if (table >= meta_ntables)
		return -ERR_INTERNAL;
	return m->ops->import_row(m->conn, table, vals);
}

int
meta_import_end(struct meta *m, int commit)
{
	return m->ops->import_end(m->conn, commit);
}
