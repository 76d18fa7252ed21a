/* store_backend.h — what a blob backend implements (store.c dispatches).
 *
 * Handlers and commands see only store.h.  A backend is one `static const`
 * table of functions, chosen by name once, at store_open ([storage]
 * backend), in the way of curl's Curl_handler or Redis's rio: store.c holds
 * the table and the backend's state (struct store_be, which each backend
 * defines for itself and nobody else looks into) and forwards each call.
 * The filesystem backend is store_fs.c.
 *
 * Every function has the contract of the store_* function of the same name
 * in store.h, with the backend's state in place of the store; the ones
 * marked optional may be NULL (store.c then answers -ERR_UNSUPPORTED). */
#ifndef OCIREGD_STORE_BACKEND_H
#define OCIREGD_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_be;

/* The head of every backend's upload writer: its struct starts with this,
 * so store_spool_* find the table without a lookup per write. */
struct store_spool {
	const struct store_ops *ops;
};

struct store_ops {
	const char *name;		/* the [storage] backend value */
	/* The state of a store at root, or NULL (logged); cfg may be NULL
	 * (store_open_backend) for a backend that needs no settings. */
	struct store_be *(*open)(const struct config *cfg, const char *root, int sync);
	/* Release everything, waiting for the backend's threads (bounded). */
	void (*close)(struct store_be *be);
	void (*set_direct)(struct store_be *be, int on);	/* optional */
	const char *(*root)(const struct store_be *be);
	int (*writable)(struct store_be *be);
	/* Space left for new blobs and the store's size, in bytes. */
	int (*free_bytes)(struct store_be *be, uint64_t *avail, uint64_t *size);

	int (*blob_stat)(struct store_be *be, const struct digest *d, uint64_t *size);
	/* Fill r (ops, size, and fd or state) for reading blob d. */
	int (*blob_reader)(struct store_be *be, const struct digest *d, struct store_reader *r);
	int (*blob_put)(struct store_be *be, const struct digest *d, const void *data, size_t len);
	int (*blob_remove)(struct store_be *be, const struct digest *d);
	/* For readers of this backend (blob_reader, upload_reader). */
	int (*reader_read)(struct store_reader *r, uint64_t off, void *buf, size_t cap,
	    size_t *got);
	void (*reader_close)(struct store_reader *r);

	int (*upload_create)(struct store_be *be, const char *id);
	/* Optional: only a backend whose spools are local files. */
	int (*upload_open)(struct store_be *be, const char *id, uint64_t size, int *fd);
	int (*upload_reader)(struct store_be *be, const char *id, struct store_reader *r);
	/* The writer: *out's head set to this table by the backend. */
	int (*spool_open)(struct store_be *be, const char *id, uint64_t size, uint64_t expect,
	    struct store_spool **out);
	int (*spool_write)(struct store_spool *sp, const void *data, size_t len);
	char *(*spool_window)(struct store_spool *sp, size_t *cap);
	int (*spool_flush)(struct store_spool *sp);
	int (*spool_truncate)(struct store_spool *sp, uint64_t size);
	void (*spool_close)(struct store_spool *sp);
	/* size: the bytes the caller hashed, or UINT64_MAX (not known). */
	int (*upload_commit)(struct store_be *be, const char *id, const struct digest *d,
	    uint64_t size);
	int (*upload_settle)(struct store_be *be, const char *id, const struct digest *d);
	int (*upload_remove)(struct store_be *be, const char *id);

	void (*blob_file)(const struct store_be *be, const struct digest *d, char *out, size_t cap);
	int (*blob_trash)(struct store_be *be, const struct digest *d, char *name, size_t cap,
	    uint64_t *size);
	int (*trash_restore)(struct store_be *be, const char *name, const struct digest *d);
	int (*trash_remove)(struct store_be *be, const char *name);
	int (*blob_quarantine)(struct store_be *be, const struct digest *d, char *dest, size_t cap);
	int (*each)(struct store_be *be, enum store_area area, store_each_fn fn, void *arg);

	/* Backups (issue 20), kept last so that other additions merge.
	 * Optional: dest is a store of this same backend. */
	int (*blob_export)(struct store_be *be, const struct digest *d, struct store_be *dest,
	    int *linked);

	/* Object stores (issue 17), all optional. */
	int (*spool_checkpoint)(struct store_spool *sp, const struct hasher *h);
	int (*upload_resume)(struct store_be *be, const char *id, uint64_t size, struct hasher **h);
	int (*blob_redirect)(struct store_be *be, const struct digest *d, char *url, size_t cap);
	int (*stream_start)(struct store_be *be, struct event_base *base, const struct digest *d,
	    uint64_t off, uint64_t len, const struct store_stream_cb *cb, struct store_stream **out);
	void (*stream_resume)(struct store_stream *st);
	void (*stream_cancel)(struct store_stream *st);
	/* base's loop is about to be freed: release what streams kept on it. */
	void (*loop_done)(struct store_be *be, struct event_base *base);
	void (*spool_target)(struct store_spool *sp, const struct digest *d);
	/* Optional, both or neither: requests on the writer's loop. */
	void (*spool_attach)(struct store_spool *sp, struct event_base *base, void (*wake)(void *),
	    void *arg);
	int (*spool_flush_start)(struct store_spool *sp, void (*done)(void *arg, int rc),
	    void *arg);
	/* Optional, both or neither: spool_open without waiting. */
	int (*spool_open_start)(struct store_be *be, struct event_base *base, const char *id,
	    uint64_t size, uint64_t expect, void (*ready)(void *arg, int rc), void *arg,
	    struct store_spool **out);
	int (*spool_hash)(struct store_spool *sp, struct hasher **h);
	/* Optional, both or neither: blob_stat and a whole small blob's
	 * read as transfers of a worker's loop: 0 (done runs later) or an
	 * error (it will not). */
	int (*blob_stat_start)(struct store_be *be, struct event_base *base,
	    const struct digest *d, void (*done)(void *arg, int rc, uint64_t size), void *arg);
	int (*blob_read_start)(struct store_be *be, struct event_base *base,
	    const struct digest *d, size_t max,
	    void (*done)(void *arg, int rc, char *buf, size_t len), void *arg);
	int stat_remote;		/* a blob_stat is a network round trip */
};

/* Blobs as files under a root directory (store_fs.c). */
extern const struct store_ops store_fs_ops;
/* Blobs as objects in an S3 bucket (store_s3.c). */
extern const struct store_ops store_s3_ops;

#endif
