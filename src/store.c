/* SPDX-License-Identifier: ISC
 * store.c — the blob store's dispatch layer.  A store is a backend's
 * function table (store_backend.h), chosen by name once at store_open,
 * and that backend's state; every store_* call goes to the table.  What is
 * the same for every backend lives here instead: reading a small blob
 * whole, and the checks on readers.  The filesystem backend is store_fs.c.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "store.h"
#include "store_backend.h"

struct store {
	const struct store_ops *ops;
	struct store_be *be;
};

/* Every backend, by its [storage] backend name (config.c validates the
 * key against store_backend_known). */
static const struct store_ops *const store_backends[] = {
	&store_fs_ops,
	&store_s3_ops,
};

static const struct store_ops *
store_find(const char *name)
{
	for (size_t i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]); i++)
		if (strcmp(store_backends[i]->name, name) == 0)
			return store_backends[i];
	return NULL;
}

int
store_backend_known(const char *name)
{
	return store_find(name) != NULL;
}

static struct store *store_open_ops(const char *backend, const struct config *cfg,
    const char *root, int sync);

struct store *
store_open_backend(const char *backend, const char *root, int sync)
{
	return store_open_ops(backend, NULL, root, sync);
}

struct store *
store_open_cfg(const struct config *cfg, const char *root, int sync)
{
	return store_open_ops(cfg->storage_backend, cfg, root, sync);
}

static struct store *
store_open_ops(const char *backend, const struct config *cfg, const char *root, int sync)
{
	const struct store_ops *ops = backend != NULL ? store_find(backend) : &store_fs_ops;
	struct store *s;

	if (ops == NULL) {
		log_error("store: unknown backend '%s'", backend);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->ops = ops;
	if ((s->be = ops->open(cfg, root, sync)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

struct store *
store_open(const char *root, int sync)
{
	return store_open_backend(NULL, root, sync);
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->be);
	free(s);
}

void
store_set_direct(struct store *s, int on)
{
	if (s->ops->set_direct != NULL)
		s->ops->set_direct(s->be, on);
}

const char *
store_root(const struct store *s)
{
	return s->ops->root(s->be);
}

int
store_writable(struct store *s)
{
	return s->ops->writable(s->be);
}

int
store_blob_stat(struct store *s, const struct digest *d, uint64_t *size)
{
	return s->ops->blob_stat(s->be, d, size);
}

int
store_blob_stat_start(struct store *s, struct event_base *base, const struct digest *d,
    uint64_t *size, void (*done)(void *arg, int rc, uint64_t size), void *arg)
{
	int rc;

	if (s->ops->blob_stat_start == NULL)
		return s->ops->blob_stat(s->be, d, size);
	if ((rc = s->ops->blob_stat_start(s->be, base, d, done, arg)) != 0)
		return rc;
	return STORE_PENDING;
}

int
store_blob_read_start(struct store *s, struct event_base *base, const struct digest *d,
    size_t max, char **buf, size_t *len, void (*done)(void *arg, int rc, char *buf, size_t len),
    void *arg)
{
	int rc;

	*buf = NULL;
	*len = 0;
	if (s->ops->blob_read_start == NULL)
		return store_blob_read(s, d, max, buf, len);
	if ((rc = s->ops->blob_read_start(s->be, base, d, max, done, arg)) != 0)
		return rc;
	return STORE_PENDING;
}

int
store_blob_reader(struct store *s, const struct digest *d, struct store_reader *r)
{
	*r = (struct store_reader){.ops = s->ops, .fd = -1};
	return s->ops->blob_reader(s->be, d, r);
}

int
store_reader_read(struct store_reader *r, uint64_t off, void *buf, size_t cap, size_t *got)
{
	*got = 0;
	if (off >= r->size || cap == 0)
		return 0;
	if (cap > r->size - off)
		cap = (size_t)(r->size - off);
	return r->ops->reader_read(r, off, buf, cap, got);
}

int
store_reader_take_fd(struct store_reader *r)
{
	int fd = r->fd;

	r->fd = -1;
	return fd;
}

void
store_reader_close(struct store_reader *r)
{
	if (r->ops != NULL)
		r->ops->reader_close(r);
	r->ops = NULL;
	r->fd = -1;
	r->state = NULL;
}

int
store_blob_put(struct store *s, const struct digest *d, const void *data, size_t len)
{
	return s->ops->blob_put(s->be, d, data, len);
}

int
store_blob_read(struct store *s, const struct digest *d, size_t max, char **buf, size_t *len)
{
	struct store_reader r;
	size_t off = 0, got;
	int rc;

	*buf = NULL;
	if ((rc = store_blob_reader(s, d, &r)) != 0)
		return rc;
	if (r.size > max) {
		rc = -ERR_TOO_LARGE;
		goto out;
	}
	if ((*buf = malloc((size_t)r.size + 1)) == NULL) {
		rc = -ERR_INTERNAL;
		goto out;
	}
	while (off < r.size) {
		if ((rc = store_reader_read(&r, off, *buf + off, (size_t)r.size - off, &got)) != 0)
			break;
		if (got == 0) {
			/* The blob is immutable: shorter than its size is damage. */
			log_error("store: %s: shorter than its %llu bytes", d->str,
			    (unsigned long long)r.size);
			rc = -ERR_INTERNAL;
			break;
		}
		off += got;
	}
	if (rc != 0) {
		free(*buf);
		*buf = NULL;
		goto out;
	}
	(*buf)[off] = '\0';
	*len = off;
out:
	store_reader_close(&r);
	return rc;
}

int
store_blob_delete(struct store *s, const struct digest *d)
{
	return s->ops->blob_remove(s->be, d);
}

int
store_upload_create(struct store *s, const char *id)
{
	return s->ops->upload_create(s->be, id);
}

int
store_upload_open(struct store *s, const char *id, uint64_t size, int *fd)
{
	*fd = -1;
	if (s->ops->upload_open == NULL)
		return -ERR_UNSUPPORTED;
	return s->ops->upload_open(s->be, id, size, fd);
}

int
store_upload_reader(struct store *s, const char *id, struct store_reader *r)
{
	*r = (struct store_reader){.ops = s->ops, .fd = -1};
	return s->ops->upload_reader(s->be, id, r);
}

int
store_upload_open_read(struct store *s, const char *id, int *fd)
{
	struct store_reader r;
	int rc;

	if ((rc = store_upload_reader(s, id, &r)) != 0)
		return rc;
	*fd = store_reader_take_fd(&r);
	store_reader_close(&r);
	return *fd >= 0 ? 0 : -ERR_UNSUPPORTED;
}

/* The spool calls are the push path's inner loop: one indirect call each,
 * through the table the backend put at the head of its writer. */
int
store_spool_open(struct store *s, const char *id, uint64_t size, uint64_t expect,
    struct store_spool **out)
{
	return s->ops->spool_open(s->be, id, size, expect, out);
}

int
store_spool_write(struct store_spool *sp, const void *data, size_t len)
{
	return sp->ops->spool_write(sp, data, len);
}

char *
store_spool_window(struct store_spool *sp, size_t *cap)
{
	return sp->ops->spool_window(sp, cap);
}

int
store_spool_flush(struct store_spool *sp)
{
	return sp->ops->spool_flush(sp);
}

int
store_spool_open_start(struct store *s, struct event_base *base, const char *id, uint64_t size,
    uint64_t expect, void (*ready)(void *arg, int rc), void *arg, struct store_spool **out)
{
	if (s->ops->spool_open_start == NULL)
		return s->ops->spool_open(s->be, id, size, expect, out);
	return s->ops->spool_open_start(s->be, base, id, size, expect, ready, arg, out);
}

int
store_spool_hash(struct store_spool *sp, struct hasher **h)
{
	*h = NULL;
	if (sp->ops->spool_hash == NULL)
		return -ERR_UNSUPPORTED;
	return sp->ops->spool_hash(sp, h);
}

void
store_spool_attach(struct store_spool *sp, struct event_base *base, void (*wake)(void *),
    void *arg)
{
	if (sp->ops->spool_attach != NULL)
		sp->ops->spool_attach(sp, base, wake, arg);
}

int
store_spool_flush_start(struct store_spool *sp, void (*done)(void *arg, int rc), void *arg)
{
	/* A backend without requests of its own flushes in line. */
	if (sp->ops->spool_flush_start == NULL)
		return sp->ops->spool_flush(sp);
	return sp->ops->spool_flush_start(sp, done, arg);
}

int
store_spool_truncate(struct store_spool *sp, uint64_t size)
{
	return sp->ops->spool_truncate(sp, size);
}

void
store_spool_close(struct store_spool *sp)
{
	if (sp != NULL)
		sp->ops->spool_close(sp);
}

int
store_upload_commit(struct store *s, const char *id, const struct digest *d)
{
	return s->ops->upload_commit(s->be, id, d, UINT64_MAX);
}

int
store_upload_commit_size(struct store *s, const char *id, const struct digest *d, uint64_t size)
{
	return s->ops->upload_commit(s->be, id, d, size);
}

int
store_upload_settle(struct store *s, const char *id, const struct digest *d)
{
	return s->ops->upload_settle(s->be, id, d);
}

int
store_upload_remove(struct store *s, const char *id)
{
	return s->ops->upload_remove(s->be, id);
}

void
store_blob_file(const struct store *s, const struct digest *d, char *out, size_t cap)
{
	s->ops->blob_file(s->be, d, out, cap);
}

int
store_blob_trash(struct store *s, const struct digest *d, char *name, size_t cap, uint64_t *size)
{
	return s->ops->blob_trash(s->be, d, name, cap, size);
}

int
store_trash_restore(struct store *s, const char *name, const struct digest *d)
{
	return s->ops->trash_restore(s->be, name, d);
}

int
store_trash_remove(struct store *s, const char *name)
{
	return s->ops->trash_remove(s->be, name);
}

int
store_blob_quarantine(struct store *s, const struct digest *d, char *dest, size_t cap)
{
	return s->ops->blob_quarantine(s->be, d, dest, cap);
}

int
store_each(struct store *s, enum store_area area, store_each_fn fn, void *arg)
{
	return s->ops->each(s->be, area, fn, arg);
}

int
store_free_bytes(struct store *s, uint64_t *avail, uint64_t *size)
{
	return s->ops->free_bytes(s->be, avail, size);
}

int
store_blob_export(struct store *s, const struct digest *d, struct store *dest, int *linked)
{
	*linked = 0;
	/* Each backend knows only its own state: a copy between two kinds
	 * of store would go through readers and spools instead. */
	if (s->ops != dest->ops || s->ops->blob_export == NULL)
		return -ERR_UNSUPPORTED;
	return s->ops->blob_export(s->be, d, dest->be, linked);
}

/* ---- object stores (issue 17) ---- */

int
store_spool_checkpoint(struct store_spool *sp, const struct hasher *h)
{
	if (sp->ops->spool_checkpoint == NULL)
		return -ERR_UNSUPPORTED;
	return sp->ops->spool_checkpoint(sp, h);
}

void
store_spool_target(struct store_spool *sp, const struct digest *d)
{
	if (sp->ops->spool_target != NULL)
		sp->ops->spool_target(sp, d);
}

int
store_upload_resume(struct store *s, const char *id, uint64_t size, struct hasher **h)
{
	*h = NULL;
	if (s->ops->upload_resume == NULL)
		return -ERR_UNSUPPORTED;
	return s->ops->upload_resume(s->be, id, size, h);
}

int
store_blob_redirect(struct store *s, const struct digest *d, char *url, size_t cap)
{
	if (s->ops->blob_redirect == NULL)
		return -ERR_UNSUPPORTED;
	return s->ops->blob_redirect(s->be, d, url, cap);
}

int
store_blob_stream(struct store *s, struct event_base *base, const struct digest *d,
    uint64_t off, uint64_t len, const struct store_stream_cb *cb, struct store_stream **out)
{
	*out = NULL;
	if (s->ops->stream_start == NULL || len == 0)
		return -ERR_UNSUPPORTED;
	return s->ops->stream_start(s->be, base, d, off, len, cb, out);
}

void
store_stream_resume(struct store *s, struct store_stream *st)
{
	s->ops->stream_resume(st);
}

void
store_stream_cancel(struct store *s, struct store_stream *st)
{
	if (st != NULL)
		s->ops->stream_cancel(st);
}

void
store_loop_done(struct store *s, struct event_base *base)
{
	if (s != NULL && s->ops->loop_done != NULL)
		s->ops->loop_done(s->be, base);
}

int
store_stat_cheap(const struct store *s)
{
	return !s->ops->stat_remote;
}

int
store_keeps_checkpoints(const struct store *s)
{
	return s->ops->spool_checkpoint != NULL;
}
