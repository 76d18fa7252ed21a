/* handlers.h — the request handlers the route table (router.c) dispatches
 * to.  Each is called when a request's headers are complete; see server.h
 * for how they answer and stream bodies.  One file per group:
 * blob.c (blobs and /v2/), upload.c, manifest.c, tags.c (tags and catalog),
 * referrers.c. */
#ifndef OCIREGD_HANDLERS_H
#define OCIREGD_HANDLERS_H

#include <stdint.h>

struct request;
struct store_reader;

void handlers_base(struct request *req);

void blob_get(struct request *req);		/* GET and HEAD */
void blob_delete(struct request *req);
/* Answer with len bytes of r's blob from off (status, content_type and
 * any headers already added as for req_respond): sendfile when the
 * backend has a local file, else streamed from the reader as the client
 * drains.  Takes r over in every case (the caller's struct is left
 * closed). */
void blob_send(struct request *req, int status, const char *content_type, struct store_reader *r,
    uint64_t off, uint64_t len);

void upload_start(struct request *req);		/* POST: session, monolithic, mount */
void upload_status(struct request *req);	/* GET */
void upload_patch(struct request *req);
void upload_put(struct request *req);
void upload_cancel(struct request *req);	/* DELETE */
/* [limits] max_uploads and max_uploads_per_client, which manifest pushes
 * count against too: take a slot for req (0, or -ERR_TOOMANYREQUESTS) and
 * give it back (exactly once per slot taken). */
int upload_slot_take(struct request *req);
void upload_slot_put(struct request *req);

void manifest_get(struct request *req);		/* GET and HEAD */
void manifest_put(struct request *req);
void manifest_delete(struct request *req);

void tags_list(struct request *req);
void tags_catalog(struct request *req);

void referrers_get(struct request *req);

#endif
