/* SPDX-License-Identifier: ISC
 * blob.c — blob reads and deletes (distribution-spec end-2, end-10) and the
 * API version check (end-1).  A blob is visible in a repository only if it
 * was pushed or mounted there: the repo_blobs table decides, the file store
 * only serves the bytes.  GET honours a single Range (resumed pulls) and
 * sends the file with sendfile.
 */
#include <stdio.h>
#include <unistd.h>

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

void
blob_get(struct request *req)
{
	const struct digest *d = &req->m.digest;
	const char *range;
	uint64_t size, msize, start = 0, len;
	int fd, rc, status = 200;

	if ((rc = meta_blob_get(req->w->meta, req->m.name, d->str, &msize)) != 0) {
		req_error(req, (enum reg_error)-rc, d->str);
		return;
	}
	if ((rc = store_blob_open(req->w->store, d, &fd, &size)) != 0) {
		/* A row without its file is an integrity problem (fsck):
		 * the client sees the blob as unknown, not wrong bytes. */
		req_error(req, (enum reg_error)-rc, d->str);
		return;
	}
	len = size;
	range = req->method == METHOD_GET ? req_header(req, "Range") : NULL;
	if (range != NULL) {
		rc = range_parse_request(range, size, &start, &len);
		if (rc < 0) {
			close(fd);
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
	req_respond_file(req, status, "application/octet-stream", fd, start, len);
}

void
blob_delete(struct request *req)
{
	int rc;

	if ((rc = meta_blob_unlink(req->w->meta, req->m.name, req->m.digest.str)) != 0) {
		req_error(req, (enum reg_error)-rc, req->m.digest.str);
		return;
	}
	/* Only the repository's link goes; the file stays until garbage
	 * collection, since other repositories may hold the same content. */
	req_respond(req, 202, NULL, NULL, 0);
}
