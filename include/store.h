/* store.h — the content-addressed blob store and the upload spool.
 *
 * This is the seam for blob backends: handlers call only these functions,
 * and store.c hands each to the backend [storage] backend chose at
 * store_open (store_backend.h).  The filesystem backend (store_fs.c) keeps
 * blobs at <root>/blobs/<alg>/<2 hex>/<hex>, immutable, and uploads at
 * <root>/uploads/<id>; the S3 backend (store_s3.c) keeps them as objects of
 * a bucket, uploads as multipart uploads.  A blob appears only after its
 * digest matched (and, with sync on, once it is durable).  Functions
 * return 0 or a negated reg_error; all may block on I/O.  One store serves
 * every worker thread. */
#ifndef OCIREGD_STORE_H
#define OCIREGD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct store;
struct store_ops;
struct config;
struct event_base;

/* Open (creating directories as needed) the store under root with the
 * backend named backend ("filesystem"; NULL: the filesystem).  sync: a
 * blob is durable before it becomes visible; for the filesystem, fsync of
 * the file, and every directory on a blob's path (root's entry in its
 * parent, root, blobs/, blobs/<alg>/, each prefix directory) is durable
 * before a blob in it is acknowledged, whichever process or thread created
 * it.  NULL on failure, an unknown backend included (logged). */
struct store *store_open_backend(const char *backend, const char *root, int sync);
/* Open the store [storage] backend of cfg names at root (the S3 backend
 * takes its bucket and credentials from cfg's [s3] keys; root then holds
 * only local state).  NULL on failure (logged). */
struct store *store_open_cfg(const struct config *cfg, const char *root, int sync);
/* store_open_backend with the filesystem backend. */
struct store *store_open(const char *root, int sync);
/* Whether name is a blob backend store_open_backend knows. */
int store_backend_known(const char *name);
/* Free the store, after waiting (bounded) for the backend's threads.  Every
 * spool and reader of the store must be closed first. */
void store_close(struct store *s);
/* Write upload spools with O_DIRECT where the filesystem allows (pays when
 * sync is on; see store_spool_open).  No-op for other backends. */
void store_set_direct(struct store *s, int on);
const char *store_root(const struct store *s);

/* Whether the store takes a new file (readiness): 0 or an error. */
int store_writable(struct store *s);
/* Size of a stored blob: 0, -ERR_BLOB_UNKNOWN or an I/O error. */
int store_blob_stat(struct store *s, const struct digest *d, uint64_t *size);

/* A blob (or an upload's spool) open for reading, as its backend serves
 * it: a local file (fd >= 0, for sendfile) or only through
 * store_reader_read (an object store has no descriptor).  The caller's,
 * on the stack or anywhere; close it with store_reader_close. */
struct store_reader {
	const struct store_ops *ops;	/* the backend's (store.c only) */
	uint64_t size;			/* bytes in the blob */
	int fd;				/* the local file, or -1 */
	void *state;			/* the backend's, else NULL */
};
/* Open blob d for reading: 0 (r filled, r->size its size),
 * -ERR_BLOB_UNKNOWN or an I/O error (r then needs no close). */
int store_blob_reader(struct store *s, const struct digest *d, struct store_reader *r);
/* Read up to cap bytes at off into buf: *got 0 only at the end. */
int store_reader_read(struct store_reader *r, uint64_t off, void *buf, size_t cap, size_t *got);
/* Hand over the reader's local file (it is then the caller's to close, r
 * keeps nothing): a descriptor, or -1 when the backend has none and the
 * bytes come only from store_reader_read. */
int store_reader_take_fd(struct store_reader *r);
/* Release r (idempotent after a zeroed or closed reader). */
void store_reader_close(struct store_reader *r);
/* Store a small blob from memory (manifests).  d must be the digest of the
 * data; an existing blob is left as it is.  Callers call it again after
 * committing the row that names the blob: if garbage collection removed an
 * old copy meanwhile, that puts it back (otherwise it is one stat). */
int store_blob_put(struct store *s, const struct digest *d, const void *data, size_t len);
/* Read a small blob (a manifest) into a malloc'd buffer of at most max
 * bytes (-ERR_TOO_LARGE past it); *buf is the caller's to free. */
int store_blob_read(struct store *s, const struct digest *d, size_t max, char **buf,
    size_t *len);
/* A call that answers later on the caller's loop (the *_start forms). */
#define STORE_PENDING 2
/* store_blob_stat without waiting, for a request on base (the calling
 * thread's loop): the outcome now (0 and *size, or an error: a backend
 * whose stat is local answers at once), or STORE_PENDING: done(arg, rc,
 * size) runs later on the loop, once, never from within this call --
 * also when the loop is being freed (then with -ERR_UNAVAILABLE).
 * Nothing cancels it: arg must live until done ran.  Does not block on
 * an object store (its HEAD is a transfer of base's loop). */
int store_blob_stat_start(struct store *s, struct event_base *base, const struct digest *d,
    uint64_t *size, void (*done)(void *arg, int rc, uint64_t size), void *arg);
/* store_blob_read in the same way: 0 with *buf and *len now (a local
 * backend), an error, or STORE_PENDING: done(arg, rc, buf, len) later as
 * above, buf (malloc'd, NUL-terminated, NULL after an error) then done's
 * to free. */
int store_blob_read_start(struct store *s, struct event_base *base, const struct digest *d,
    size_t max, char **buf, size_t *len, void (*done)(void *arg, int rc, char *buf, size_t len),
    void *arg);
/* Where a client may fetch blob d itself (the S3 backend with [s3]
 * redirect on: a presigned URL valid for a few minutes): 0 and the URL in
 * url, or -ERR_UNSUPPORTED (serve the bytes).  No I/O. */
int store_blob_redirect(struct store *s, const struct digest *d, char *url, size_t cap);

/* An asynchronous read of a blob on the calling thread's event loop, for
 * backends without local files (S3): the bytes arrive through data (0: go
 * on; 1: pause until store_stream_resume; -1: stop), then done runs once
 * with 0 or a negated reg_error, and the stream is freed after it. */
struct store_stream;
struct store_stream_cb {
	int (*data)(void *arg, const char *p, size_t len);
	void (*done)(void *arg, int rc);
	int (*alive)(void *arg);	/* while paused, each second: 0 = reader gone */
	void *arg;
};
/* Start streaming bytes [off, off + len) of blob d (len > 0) on base, the
 * caller's own loop: 0 (*out may then be resumed or cancelled until done
 * ran), -ERR_UNSUPPORTED (read through store_blob_reader instead) or an
 * error.  Does not block. */
int store_blob_stream(struct store *s, struct event_base *base, const struct digest *d,
    uint64_t off, uint64_t len, const struct store_stream_cb *cb, struct store_stream **out);
void store_stream_resume(struct store *s, struct store_stream *st);
/* Stop st and free it; done is not called. */
void store_stream_cancel(struct store *s, struct store_stream *st);
/* base (a worker's loop) stops for good and is about to be freed, its
 * streams already gone: release what the backend keeps on it. */
void store_loop_done(struct store *s, struct event_base *base);
/* Whether a HEAD of a blob whose row carries its size needs the store (a
 * local stat is cheap; an object store's HEAD is a round trip: 0). */
int store_stat_cheap(const struct store *s);
/* 1 if a session's bytes can be resumed only from a checkpoint
 * (store_spool_checkpoint: an object store, whose parts cannot be read
 * back to hash again); 0 if the spool can be read again. */
int store_keeps_checkpoints(const struct store *s);

/* Remove a blob file (garbage collection only). */
int store_blob_delete(struct store *s, const struct digest *d);

/* Create the empty spool file of a new upload. */
int store_upload_create(struct store *s, const char *id);
/* Open an upload for appending at offset `size`: anything past it (bytes of
 * a chunk that was never acknowledged) is cut off.  *fd is the caller's.
 * Only where spools can be local files (-ERR_UNSUPPORTED elsewhere): the
 * pull-through cache reads the file back while it grows (the S3 backend
 * keeps such an upload under root and sends it to the bucket at commit). */
int store_upload_open(struct store *s, const char *id, uint64_t size, int *fd);
/* A writer appending to an upload's spool, the backend's own (the
 * filesystem: a file written with direct I/O when set, with the bytes of a
 * partial block staged until store_spool_flush; an object store would
 * stage parts of a multipart upload).  A spool is used by one thread. */
struct store_spool;
/* As store_upload_open, as a writer; *out is the caller's to close.
 * expect: bytes this writer will likely get (UINT64_MAX: unknown); below
 * 256 KiB the spool is written plainly. */
int store_spool_open(struct store *s, const char *id, uint64_t size, uint64_t expect,
    struct store_spool **out);
/* store_spool_open without waiting, for a request on base (the calling
 * thread's loop): 0 (*out is open), an error, or STORE_PENDING: *out
 * exists but is opening (an object store loads what the session saved),
 * and ready(arg, rc) runs later on the loop, once; after an error there,
 * only store_spool_close.  Closing it before ready ran abandons the open
 * (ready is then not called).  Local backends open at once. */
int store_spool_open_start(struct store *s, struct event_base *base, const char *id,
    uint64_t size, uint64_t expect, void (*ready)(void *arg, int rc), void *arg,
    struct store_spool **out);
/* The hash state saved with the bytes the spool was opened at (the same
 * as store_upload_resume gives, without another request): 0 and *h (the
 * caller's), -ERR_UNSUPPORTED (none kept: re-read the spool) or an
 * error. */
int store_spool_hash(struct store_spool *sp, struct hasher **h);
/* Append len bytes: 0, STORE_SPOOL_FULL (a spool on a loop: every byte
 * taken, but write nothing more before the wake callback ran), or an
 * error (the file then holds an unknown prefix). */
#define STORE_SPOOL_FULL 1
int store_spool_write(struct store_spool *sp, const void *data, size_t len);
/* Put the spool on base, the calling thread's event loop: an object
 * store's requests then run as transfers of that loop (none waits), a
 * write may answer STORE_SPOOL_FULL, after which wake(arg) runs on the
 * loop once the spool takes bytes again (or has failed: the next write
 * says so), and store_spool_flush_start may answer STORE_PENDING.  A no-op
 * for local backends, whose calls complete before they return. */
void store_spool_attach(struct store_spool *sp, struct event_base *base, void (*wake)(void *),
    void *arg);
/* store_spool_flush without waiting: its outcome (0 or an error) now, or
 * STORE_PENDING: done(arg, outcome) runs later on the spool's loop, once
 * (the spool may be closed from it).  Use the spool for nothing else
 * meanwhile but store_spool_close (which abandons the flush). */
int store_spool_flush_start(struct store_spool *sp, void (*done)(void *arg, int rc), void *arg);
/* Where the next bytes may be placed before store_spool_write is called
 * with that address (saves the copy into the staging buffer): *cap bytes,
 * or NULL when they must come from elsewhere. */
char *store_spool_window(struct store_spool *sp, size_t *cap);
/* Write what is staged: after 0 the file holds every byte given. */
int store_spool_flush(struct store_spool *sp);
/* Drop what is staged and cut the file to size bytes. */
int store_spool_truncate(struct store_spool *sp, uint64_t size);
void store_spool_close(struct store_spool *sp);
/* Hand the spool the hash state of every byte given so far, to be saved
 * with them at the next store_spool_flush: an upload resumed later (on
 * another node, after a restart) takes it back with store_upload_resume
 * instead of reading its bytes again.  -ERR_UNSUPPORTED where the backend
 * does not keep it (the caller re-reads the spool), else 0. */
int store_spool_checkpoint(struct store_spool *sp, const struct hasher *h);
/* A hint, right after store_spool_open at size 0: this writer's bytes are
 * the whole blob d (the digest came with the request) and
 * store_upload_commit(d) follows them, no checkpoint between.  An object
 * store may then stage them at d's key itself, visible only at the commit,
 * instead of copying them there at the commit.  A backend may ignore it. */
void store_spool_target(struct store_spool *sp, const struct digest *d);
/* The hash state saved with the upload's first `size` bytes: 0 and *h (the
 * caller's), -ERR_UNSUPPORTED (none kept: re-read the spool), or an
 * error. */
int store_upload_resume(struct store *s, const char *id, uint64_t size, struct hasher **h);
/* Open an upload for reading (to hash what an earlier process received):
 * 0, -ERR_BLOB_UPLOAD_UNKNOWN or an I/O error. */
int store_upload_reader(struct store *s, const char *id, struct store_reader *r);
/* Open an upload read-only as a file; *fd is the caller's.  Only where
 * spools are local files (-ERR_UNSUPPORTED elsewhere), as store_upload_open. */
int store_upload_open_read(struct store *s, const char *id, int *fd);
/* Make the upload the blob d: fsync, rename into place, fsync the directory.
 * If the blob already exists the spool stays until store_upload_settle. */
int store_upload_commit(struct store *s, const char *id, const struct digest *d);
/* store_upload_commit of an upload whose caller hashed exactly `size`
 * bytes (the digest it verified is of those): a backend that finds
 * another size stored refuses (-ERR_BLOB_UPLOAD_INVALID, nothing made
 * visible) rather than install bytes that were not verified. */
int store_upload_commit_size(struct store *s, const char *id, const struct digest *d,
    uint64_t size);
/* After the blob's row is committed: make sure the blob file exists (a
 * concurrent garbage collection may have removed the old copy; then the
 * spool takes its place) and remove the spool. */
int store_upload_settle(struct store *s, const char *id, const struct digest *d);
/* Remove an upload's spool file; a missing file is not an error. */
int store_upload_remove(struct store *s, const char *id);

/* ---- garbage collection (gc.c) and integrity checks (fsck.c) ---- */

/* The path of blob d's file (for messages). */
void store_blob_file(const struct store *s, const struct digest *d, char *out, size_t cap);
/* Move blob d's file into <root>/trash/ under a name unique to this call,
 * written to name; *size gets its size.  -ERR_BLOB_UNKNOWN if there is no
 * file.  Follow with store_trash_remove or store_trash_restore. */
int store_blob_trash(struct store *s, const struct digest *d, char *name, size_t cap,
    uint64_t *size);
/* Put a trashed file back as blob d.  If d exists again (a pusher
 * installed it meanwhile) theirs is kept and the trashed copy removed. */
int store_trash_restore(struct store *s, const char *name, const struct digest *d);
/* Remove a trashed file for good; a missing one is not an error. */
int store_trash_remove(struct store *s, const char *name);
/* Move blob d's file to <root>/quarantine/<alg>-<hex> (a suffix if that
 * exists); dest gets the new path.  -ERR_BLOB_UNKNOWN if there is no file. */
int store_blob_quarantine(struct store *s, const struct digest *d, char *dest, size_t cap);

enum store_area { STORE_BLOBS, STORE_UPLOADS, STORE_TRASH };

/* A file found by store_each. */
struct store_file {
	const char *path;		/* full path */
	const char *name;		/* last component */
	const struct digest *digest;	/* blobs: the digest its path names, else NULL */
	int regular;
	uint64_t size;
	int64_t mtime, ctime;
};
/* Return 0 to go on; anything else stops the walk and is returned. */
typedef int (*store_each_fn)(void *arg, const struct store_file *f);
/* Call fn for every entry of an area: blobs/<alg>/<2 hex>/<hex> (anything
 * else found under blobs/ comes with digest NULL), or the files directly
 * in uploads/ or trash/.  Entries may vanish or appear during the walk. */
int store_each(struct store *s, enum store_area area, store_each_fn fn, void *arg);

/* Space on the storage root's filesystem (statvfs): bytes the daemon may
 * still write (*avail, less what is reserved for root) and the
 * filesystem's size.  0 or a negated reg_error; one system call, for
 * /metrics.  (Added for issue 20, metrics.) */
int store_free_bytes(struct store *s, uint64_t *avail, uint64_t *size);

/* Put blob d of s into dest, another store of the same backend (a
 * backup's): the filesystem hard-links the file when both roots are on
 * one file system, *linked = 1 (no bytes copied; blobs are immutable, so
 * sharing the inode is safe), and copies it otherwise (*linked = 0),
 * durably as dest's sync asks (fsync of the file and its directory).  A
 * blob dest already has is left alone.  0, -ERR_BLOB_UNKNOWN if s has no
 * such file, -ERR_UNSUPPORTED for backends that differ or cannot, or an
 * I/O error.  Blocks for the copy.  (Added for issue 20, backups.) */
int store_blob_export(struct store *s, const struct digest *d, struct store *dest, int *linked);

#endif
