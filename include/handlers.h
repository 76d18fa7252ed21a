/* handlers.h — the request handlers the route table (router.c) dispatches
 * to.  Each is called when a request's headers are complete; see server.h
 * for how they answer and stream bodies.  One file per group:
 * blob.c (blobs and /v2/), upload.c, manifest.c, tags.c (tags and catalog),
 * referrers.c. */
#ifndef OCIREGD_HANDLERS_H
#define OCIREGD_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

struct meta;
struct meta_manifest;
struct meta_ref;
struct oci_doc;
struct oci_manifest;
struct request;
struct store_reader;
struct worker;

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

/* Run work(arg) on the request's worker's writer (one thread with its own
 * metadata connection: a commit's fsync or a wait for the write lock then
 * holds up this request alone, not the loop), then done(arg) on the loop.
 * *m is set, before work runs, to the connection work must use; without a
 * writer both run at once, here, with the loop's connection.  Defers the
 * request: done must answer it.  In upload.c. */
void handler_write(struct request *req, struct meta **m, void (*work)(void *),
    void (*done)(void *), void *arg);

/* Remove upload id's spool (store_upload_remove) without holding up the
 * loop where that takes round trips (an object store: on the shared pool,
 * in the background; the caller answers meanwhile, the session's row
 * being gone or going).  Local spools are removed at once.  In upload.c. */
void upload_remove_bg(struct worker *w, const char *id);

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
/* The metadata rows of a parsed manifest of len bytes with digest: *mf,
 * and *refs (malloc'd, om->nrefs entries pointing into om; free it before
 * oci_manifest_free), each with skip_check as given.  0, or -ERR_INTERNAL
 * out of memory.  Shared with the pull-through cache's stores. */
int manifest_rows(const struct oci_manifest *om, const char *digest, size_t len, int skip_check,
    struct meta_manifest *mf, struct meta_ref **refs);

/* A listing's ?n= (dflt when absent, clamped to max) and ?last= (into
 * last, "" when absent), as tags/list, _catalog and referrers take them:
 * 0 or -ERR_PAGINATION.  In tags.c. */
int handlers_page_params(struct request *req, long dflt, long max, long *n, char *last,
    size_t lastcap);
void tags_list(struct request *req);
void tags_catalog(struct request *req);

void referrers_get(struct request *req);
/* Answer with the referrers index doc (rendered, then freed) and, with a
 * filter at, OCI-Filters-Applied; with next (not NULL or ""), a Link to
 * the page of n after that digest. */
void referrers_respond(struct request *req, struct oci_doc *doc, const char *at,
    const char *next, long n);
/* A page of the referrers index of subject in repository name as stored
 * here (at: an artifactType filter or NULL): at most n entries with a
 * digest after last (""), and fewer if their annotations pass
 * REFERRERS_PAGE_BYTES.  Each entry's annotations are read from the
 * manifest's bytes; an unknown repository is an empty index.  0 with *out
 * (oci_doc_render or oci_doc_free) and, if next (DIGEST_STR_MAX bytes) is
 * not NULL, the digest the next page follows there ("" if this is the
 * last page), or a negated
 * reg_error.  Reads the metadata and the store on the calling thread.
 * Shared with the pull-through cache, which merges the upstream's answer
 * into it. */
int referrers_collect(struct worker *w, const char *name, const char *subject, const char *at,
    const char *last, long n, char *next, struct oci_doc **out);

/* A page of referrers: at most this many entries (?n= may ask fewer),
 * and no more once the annotations read pass REFERRERS_PAGE_BYTES; a Link
 * header leads to the rest. */
#define REFERRERS_PAGE_MAX 1000L
#define REFERRERS_PAGE_BYTES (4L << 20)

#endif
