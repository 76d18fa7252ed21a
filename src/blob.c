/* SPDX-License-Identifier: ISC
 * blob.c — blob reads and deletes (distribution-spec end-2, end-10) and the
 * API version check (end-1).  A blob is visible in a repository only if it
 * was pushed or mounted there: the repo_blobs table decides, the file store
 * only serves the bytes.  GET honours a single Range (resumed pulls); HEAD
 * answers from the row and the store's size without opening the blob (an
 * object store's from the row alone).  From an object store a GET streams
 * on the worker's loop (blob_remote_send), or redirects to a presigned URL.
 * blob_send is how every handler sends a stored blob: the backend's local
 * file with sendfile, or its bytes streamed as the client takes them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "arena.h"
#include "errors.h"

#include "handlers.h"
#include "meta.h"
#include "range.h"
#include "server.h"
#include "store.h"
#include "worker.h"

void
handlers_base(struct request *req)
{
	req_respond(req, 200, "application/json", "{}", 2);
}

/* A blob streamed from a backend without local files: its reader, read
 * in slices of BLOB_SLICE bytes as the client drains the output, so at
 * most about BLOB_QUEUED + BLOB_SLICE bytes wait in memory. */
#define BLOB_SLICE (64u * 1024)
#define BLOB_QUEUED (256u * 1024)

struct blob_stream {
	struct store_reader r;
	uint64_t off, left;
	char buf[BLOB_SLICE];
};

static void
blob_stream_end(struct request *req)
{
	struct blob_stream *bs = req->ctx;

	store_reader_close(&bs->r);
	free(bs);
}

static void
blob_stream_pump(struct request *req)
{
	struct blob_stream *bs = req->ctx;

	while (bs->left > 0 && req_stream_pending(req) < BLOB_QUEUED) {
		size_t want = bs->left < BLOB_SLICE ? (size_t)bs->left : BLOB_SLICE, got;

		/* XXX: the read blocks this worker's loop; a remote backend
		 * wants it on a thread, the answer pushed back here. */
		if (store_reader_read(&bs->r, bs->off, bs->buf, want, &got) != 0 || got == 0 ||
		    req_stream_write(req, bs->buf, got) != 0) {
			/* Headers with the length are out: only a cut body
			 * tells the client. */
			req_stream_end(req, 0);
			return;
		}
		bs->off += got;
		bs->left -= got;
	}
	if (bs->left == 0)
		req_stream_end(req, 1);	/* may free req: nothing after */
}

void
blob_send(struct request *req, int status, const char *content_type, struct store_reader *r,
    uint64_t off, uint64_t len)
{
	struct blob_stream *bs;
	int fd;

	if ((fd = store_reader_take_fd(r)) >= 0) {
		/* A local file: server.c writes it from the page cache. */
		store_reader_close(r);
		req_respond_file(req, status, content_type, fd, off, len);
		return;
	}
	if (req->method == METHOD_HEAD || len == 0) {
		store_reader_close(r);
		req_respond(req, status, content_type, NULL, req->method == METHOD_HEAD ? len : 0);
		return;
	}
	if ((bs = malloc(sizeof(*bs))) == NULL) {
		store_reader_close(r);
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	bs->r = *r;
	bs->off = off;
	bs->left = len;
	*r = (struct store_reader){.fd = -1};
	req->ctx = bs;
	req_on_end(req, blob_stream_end);
	req_stream_begin(req, status, content_type, len);
	req_stream_on_drain(req, blob_stream_pump);
	blob_stream_pump(req);
}

/* A blob streamed from an object store on this worker's loop (S3): the
 * headers go out with the first bytes, so a missing object is still a
 * clean 404; the GET pauses while the client's queue holds BLOB_QUEUED
 * bytes and resumes from the drain callback. */
/* An object store's GET pauses past this much queued for the client: a
 * bigger window than a local file's, as each pause and resume costs a
 * round of curl's loop. */
#define BLOB_REMOTE_QUEUED (1u << 20)

struct blob_remote {
	struct request *req;
	struct store_stream *st;	/* running, or NULL */
	int status, begun;
	uint64_t len;
};

static void
blob_remote_drain(struct request *req)
{
	struct blob_remote *b = req->ctx;

	if (b->st != NULL && req_stream_pending(req) < BLOB_REMOTE_QUEUED / 2)
		store_stream_resume(req->w->store, b->st);
}

static int
blob_remote_data(void *arg, const char *p, size_t len)
{
	struct blob_remote *b = arg;

	if (!b->begun) {
		b->begun = 1;
		req_stream_begin(b->req, b->status, "application/octet-stream", b->len);
		req_stream_on_drain(b->req, blob_remote_drain);
	}
	if (req_stream_write(b->req, p, len) != 0)
		return -1;
	return req_stream_pending(b->req) >= BLOB_REMOTE_QUEUED;
}

static int
blob_remote_alive(void *arg)
{
	struct blob_remote *b = arg;

	return req_stream_write(b->req, "", 0) == 0;
}

static void
blob_remote_done(void *arg, int rc)
{
	struct blob_remote *b = arg;

	b->st = NULL;
	if (!b->begun) {
		req_error(b->req, rc == -ERR_BLOB_UNKNOWN ? ERR_BLOB_UNKNOWN : ERR_UNAVAILABLE,
		    b->req->m.digest.str);
		return;
	}
	req_stream_end(b->req, rc == 0);	/* may free req: nothing after */
}

static void
blob_remote_end(struct request *req)
{
	struct blob_remote *b = req->ctx;

	if (b->st != NULL)
		store_stream_cancel(req->w->store, b->st);
	free(b);
}

/* 0 if the stream started (it answers), else -ERR_UNSUPPORTED or an
 * error (nothing was answered). */
static int
blob_remote_send(struct request *req, int status, uint64_t off, uint64_t len)
{
	const struct store_stream_cb cb = {.data = blob_remote_data, .done = blob_remote_done,
	    .alive = blob_remote_alive};
	struct store_stream_cb c = cb;
	struct blob_remote *b;
	int rc;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ERR_INTERNAL;
	b->req = req;
	b->status = status;
	b->len = len;
	c.arg = b;
	if ((rc = store_blob_stream(req->w->store, req->w->base, &req->m.digest, off, len, &c,
	    &b->st)) != 0) {
		free(b);
		return rc;
	}
	req->ctx = b;
	req_on_end(req, blob_remote_end);
	req_defer(req);
	return 0;
}

void
blob_get(struct request *req)
{
	const struct digest *d = &req->m.digest;
	const char *range;
	struct store_reader r = {.fd = -1};
	uint64_t size, msize, start = 0, len;
	int rc, status = 200, remote = !store_stat_cheap(req->w->store);

	if ((rc = meta_blob_get(req->w->meta, req->m.name, d->str, &msize)) != 0) {
		req_error(req, (enum reg_error)-rc, d->str);
		return;
	}
	if (remote) {
		char url[4096];

		/* An object store: the row's size is the object's (a round
		 * trip saved); [s3] redirect sends the client to the bucket. */
		size = msize;
		if (req->method == METHOD_GET &&
		    store_blob_redirect(req->w->store, d, url, sizeof(url)) == 0) {
			req_add_header(req, "Location", "%s", url);
			req_add_header(req, "Docker-Content-Digest", "%s", d->str);
			req_respond(req, 307, NULL, NULL, 0);
			return;
		}
	} else {
		/* HEAD needs the size only; GET opens the blob once and
		 * takes the size from what it opened. */
		rc = req->method == METHOD_HEAD ? store_blob_stat(req->w->store, d, &size) :
		    store_blob_reader(req->w->store, d, &r);
		if (rc != 0) {
			/* A row without its file is an integrity problem
			 * (fsck): the client sees the blob as unknown, not
			 * wrong bytes. */
			req_error(req, (enum reg_error)-rc, d->str);
			return;
		}
		if (req->method != METHOD_HEAD)
			size = r.size;
	}
	len = size;
	range = req->method == METHOD_GET ? req_header(req, "Range") : NULL;
	if (range != NULL) {
		rc = range_parse_request(range, size, &start, &len);
		if (rc < 0) {
			store_reader_close(&r);
			req_add_header(req, "Content-Range", "bytes */%llu", (unsigned long long)size);
			req_error(req, ERR_RANGE_UNSATISFIABLE, range);
			return;
		}
		if (rc == 0) {
			status = 206;
			req_add_header(req, "Content-Range", "bytes %llu-%llu/%llu",
			    (unsigned long long)start, (unsigned long long)(start + len - 1),
			    (unsigned long long)size);
		} else {
			start = 0;
			len = size;
		}
	}
	req_add_header(req, "Docker-Content-Digest", "%s", d->str);
	req_add_header(req, "Etag", "\"%s\"", d->str);
	req_add_header(req, "Accept-Ranges", "bytes");
	req_add_header(req, "Cache-Control", "max-age=31536000, immutable");
	if (req->method == METHOD_HEAD || (remote && len == 0)) {
		req_respond(req, status, "application/octet-stream", NULL,
		    req->method == METHOD_HEAD ? len : 0);
		return;
	}
	if (remote) {
		if ((rc = blob_remote_send(req, status, start, len)) == 0)
			return;
		if (rc != -ERR_UNSUPPORTED || (rc = store_blob_reader(req->w->store, d, &r)) != 0) {
			req_error(req, (enum reg_error)-rc, d->str);
			return;
		}
	}
	blob_send(req, status, "application/octet-stream", &r, start, len);
}

/* A blob's link removed on the worker's writer (handler_write). */
struct blob_unlink {
	struct request *req;
	struct meta *m;
	int rc;
};

static void
blob_unlink_work(void *arg)
{
	struct blob_unlink *u = arg;

	u->rc = meta_blob_unlink(u->m, u->req->m.name, u->req->m.digest.str);
}

static void
blob_unlink_done(void *arg)
{
	struct blob_unlink *u = arg;

	if (u->rc != 0) {
		req_error(u->req, (enum reg_error)-u->rc, u->req->m.digest.str);
		return;
	}
	/* Only the repository's link goes; the file stays until garbage
	 * collection, since other repositories may hold the same content. */
	req_respond(u->req, 202, NULL, NULL, 0);
}

void
blob_delete(struct request *req)
{
	struct blob_unlink *u;

	if ((u = arena_alloc(req->arena, sizeof(*u))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	u->req = req;
	handler_write(req, &u->m, blob_unlink_work, blob_unlink_done, u);
}
