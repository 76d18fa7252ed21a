/* SPDX-License-Identifier: ISC
 * referrers.c — the referrers API (distribution-spec v1.1 end-12a/b): every
 * manifest in a repository whose `subject` is the given digest, as an image
 * index.  A valid digest never gets 404 (clients would fall back to the
 * tag schema): an unknown subject or repository is an empty index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "handlers.h"
#include "log.h"
#include "meta.h"
#include "oci.h"
#include "server.h"
#include "store.h"
#include "worker.h"

#define REFERRERS_MANIFEST_MAX (4u << 20)
/* Manifests read at once for one listing on an object store. */
#define REFERRERS_READS 8

/* A page being gathered: the rows first (the metadata, on the loop),
 * then each row's manifest bytes (the store: on an object store as
 * transfers of the loop, REFERRERS_READS at a time), then the index. */
struct referrers_page {
	struct request *req;		/* referrers_get's, else NULL */
	struct store *store;
	struct meta_manifest *rows;	/* malloc'd, at most n */
	char **body;			/* each row's bytes, or NULL */
	size_t *len;
	size_t nrows, cap;
	size_t started, pending;	/* reads started, still running */
	size_t bytes;			/* row sizes listed so far */
	int full;			/* stopped at REFERRERS_PAGE_BYTES */
	int more;			/* rows past n */
	int failed;
	const char *at;
	long n;
};

static int
referrers_row(void *arg, const struct meta_manifest *mf)
{
	struct referrers_page *pg = arg;

	/* A page holds what a client can take in one answer: past the
	 * byte budget the rest waits for the next page. */
	if (pg->nrows > 0 && pg->bytes >= (size_t)REFERRERS_PAGE_BYTES) {
		pg->full = 1;
		return 1;
	}
	if (pg->nrows == pg->cap) {
		size_t cap = pg->cap ? pg->cap * 2 : 16;
		struct meta_manifest *rows;

		if ((rows = realloc(pg->rows, cap * sizeof(*rows))) == NULL) {
			pg->failed = 1;
			return 1;
		}
		pg->rows = rows;
		pg->cap = cap;
	}
	pg->rows[pg->nrows++] = *mf;
	pg->bytes += mf->size;
	return 0;
}

static void
referrers_page_free(struct referrers_page *pg)
{
	for (size_t i = 0; pg->body != NULL && i < pg->nrows; i++)
		free(pg->body[i]);
	free(pg->body);
	free(pg->len);
	free(pg->rows);
	free(pg);
}

/* The page's rows (at most n, after last): 0 and a page (the caller's, to
 * referrers_page_free) or a negated reg_error. */
static int
referrers_rows(struct worker *wk, const char *name, const char *subject, const char *at,
    const char *last, long n, struct referrers_page **out)
{
	struct referrers_page *pg;
	int rc;

	if ((pg = calloc(1, sizeof(*pg))) == NULL)
		return -ERR_INTERNAL;
	pg->store = wk->store;
	pg->at = at;
	pg->n = n;
	rc = n > 0 ? meta_referrers(wk->meta, name, subject, at, last, n, referrers_row, pg,
	    &pg->more) : 0;
	if (rc == -ERR_NAME_UNKNOWN)
		rc = 0;
	if (rc == 0 && !pg->failed && pg->nrows > 0 &&
	    ((pg->body = calloc(pg->nrows, sizeof(*pg->body))) == NULL ||
	    (pg->len = calloc(pg->nrows, sizeof(*pg->len))) == NULL))
		pg->failed = 1;
	if (rc != 0 || pg->failed) {
		referrers_page_free(pg);
		return rc != 0 ? rc : -ERR_INTERNAL;
	}
	*out = pg;
	return 0;
}

/* Row i's bytes came (rc 0) or not: the annotations live only there, and
 * an entry without them is still listed. */
static void
referrers_got(struct referrers_page *pg, size_t i, int rc, char *buf, size_t len)
{
	if (rc != 0) {
		log_warn("referrers: cannot read manifest %s: %s", pg->rows[i].digest,
		    errors_message((enum reg_error)-rc));
		free(buf);
		return;
	}
	pg->body[i] = buf;
	pg->len[i] = len;
}

/* The index of the page's rows with their bytes: 0 with *out (and next
 * as referrers_collect says), or a negated reg_error. */
static int
referrers_build(struct referrers_page *pg, char *next, struct oci_doc **out)
{
	struct oci_doc *doc;

	*out = NULL;
	if (next != NULL)
		next[0] = '\0';
	if ((doc = oci_referrers_new()) == NULL)
		return -ERR_INTERNAL;
	for (size_t i = 0; i < pg->nrows; i++) {
		const struct meta_manifest *mf = &pg->rows[i];

		if (oci_referrers_add(doc, mf->digest, mf->size, mf->media_type, mf->artifact_type,
		    pg->body[i], pg->len[i]) != 0) {
			oci_doc_free(doc);
			return -ERR_INTERNAL;
		}
	}
	if (next != NULL && (pg->more || pg->full) && pg->nrows > 0 &&
	    strlen(pg->rows[pg->nrows - 1].digest) < DIGEST_STR_MAX)
		memcpy(next, pg->rows[pg->nrows - 1].digest,
		    strlen(pg->rows[pg->nrows - 1].digest) + 1);
	*out = doc;
	return 0;
}

int
referrers_collect(struct worker *wk, const char *name, const char *subject, const char *at,
    const char *last, long n, char *next, struct oci_doc **out)
{
	struct referrers_page *pg;
	int rc;

	*out = NULL;
	if (next != NULL)
		next[0] = '\0';
	if ((rc = referrers_rows(wk, name, subject, at, last, n, &pg)) != 0)
		return rc;
	for (size_t i = 0; i < pg->nrows; i++) {
		struct digest d;
		char *buf = NULL;
		size_t len = 0;

		if (digest_parse(pg->rows[i].digest, &d) != 0)
			continue;
		rc = store_blob_read(pg->store, &d, REFERRERS_MANIFEST_MAX, &buf, &len);
		referrers_got(pg, i, rc, buf, len);
	}
	rc = referrers_build(pg, next, out);
	referrers_page_free(pg);
	return rc;
}

static void referrers_pump(struct referrers_page *pg);

/* The end of one read of referrers_get's page, on the loop. */
struct referrers_read {
	struct referrers_page *pg;
	size_t i;
};

static void
referrers_read_done(void *arg, int rc, char *buf, size_t len)
{
	struct referrers_read *r = arg;
	struct referrers_page *pg = r->pg;

	referrers_got(pg, r->i, rc, buf, len);
	free(r);
	pg->pending--;
	referrers_pump(pg);
}

/* Start reads up to REFERRERS_READS running (those a local store answers
 * at once count as done); once every one ended, answer.  The request is
 * deferred while any runs: a client gone meanwhile is answered into the
 * void, which frees its request. */
static void
referrers_pump(struct referrers_page *pg)
{
	struct request *req = pg->req;
	struct oci_doc *doc;
	char next[DIGEST_STR_MAX];
	int rc;

	/* A client gone (or a worker stopping, whose loop ends every
	 * transfer) gets no more reads started. */
	while (pg->started < pg->nrows && pg->pending < REFERRERS_READS && !req->aborted) {
		size_t i = pg->started++;
		struct referrers_read *r;
		struct digest d;
		char *buf = NULL;
		size_t len = 0;

		if (digest_parse(pg->rows[i].digest, &d) != 0)
			continue;
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			referrers_got(pg, i, -ERR_INTERNAL, NULL, 0);
			continue;
		}
		r->pg = pg;
		r->i = i;
		rc = store_blob_read_start(pg->store, req->w->base, &d, REFERRERS_MANIFEST_MAX, &buf,
		    &len, referrers_read_done, r);
		if (rc == STORE_PENDING) {
			pg->pending++;
			continue;
		}
		free(r);
		referrers_got(pg, i, rc, buf, len);
	}
	if (pg->pending > 0) {
		req_defer(req);
		return;
	}
	if ((rc = referrers_build(pg, next, &doc)) != 0)
		req_error(req, (enum reg_error)-rc, NULL);
	else
		referrers_respond(req, doc, pg->at, next, pg->n);
	referrers_page_free(pg);
}

/* ?n= (clamped to REFERRERS_PAGE_MAX, which is also the default) and
 * ?last= (a digest).  0 or -ERR_PAGINATION. */
static int
referrers_params(struct request *req, long *n, char *last, size_t cap)
{
	struct digest d;
	int rc;

	if ((rc = handlers_page_params(req, REFERRERS_PAGE_MAX, REFERRERS_PAGE_MAX, n, last,
	    cap)) != 0 || (last[0] != '\0' && digest_parse(last, &d) != 0))
		return -ERR_PAGINATION;
	return 0;
}

void
referrers_get(struct request *req)
{
	struct referrers_page *pg;
	char *filter, last[DIGEST_STR_MAX + 8];
	const char *at = NULL;
	long n;
	int rc;

	/* The filter outlives this call when the reads answer later. */
	if ((filter = arena_alloc(req->arena, 256)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	rc = req_query(req, "artifactType", filter, 256);
	if (rc < 0) {
		req_error(req, ERR_UNSUPPORTED, "malformed artifactType filter");
		return;
	}
	if (rc == 1 && filter[0] != '\0')
		at = filter;
	if ((rc = referrers_params(req, &n, last, sizeof(last))) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	if ((rc = referrers_rows(req->w, req->m.name, req->m.digest.str, at, last, n, &pg)) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	pg->req = req;
	referrers_pump(pg);
}

/* s with every character but the unreserved ones (RFC 3986) as %XX;
 * false if it does not fit. */
static int
referrers_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (o + 4 > cap)
			return 0;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 1;
}

void
referrers_respond(struct request *req, struct oci_doc *doc, const char *at, const char *next,
    long n)
{
	char *json, esc[3 * 256 + 1];

	if ((json = oci_doc_render(doc)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (at != NULL)
		req_add_header(req, "OCI-Filters-Applied", "artifactType");
	/* The next page keeps the filter; names and digests need no
	 * escaping in a URL. */
	if (next != NULL && next[0] != '\0') {
		if (at != NULL && referrers_escape(at, esc, sizeof(esc)))
			req_add_header(req, "Link", "</v2/%s/referrers/%s?n=%ld&last=%s&artifactType=%s>; "
			    "rel=\"next\"", req->m.name, req->m.digest.str, n, next, esc);
		else if (at == NULL)
			req_add_header(req, "Link", "</v2/%s/referrers/%s?n=%ld&last=%s>; rel=\"next\"",
			    req->m.name, req->m.digest.str, n, next);
	}
	req_respond(req, 200, OCI_MT_INDEX, json, strlen(json));
	free(json);
}
