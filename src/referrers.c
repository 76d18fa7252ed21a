/* SPDX-License-Identifier: ISC
 * referrers.c — the referrers API (distribution-spec v1.1 end-12a/b): every
 * manifest in a repository whose `subject` is the given digest, as an image
 * index.  A valid digest never gets 404 (clients would fall back to the
 * tag schema): an unknown subject or repository is an empty index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "meta.h"
#include "oci.h"
#include "server.h"
#include "store.h"
#include "worker.h"

#define REFERRERS_MANIFEST_MAX (4u << 20)

struct referrers_walk {
	struct store *store;
	struct oci_doc *doc;
	char last[DIGEST_STR_MAX];	/* the last entry added */
	long n;				/* entries added */
	size_t bytes;			/* manifest bytes read for them */
	int full;			/* stopped at REFERRERS_PAGE_BYTES */
	int failed;
};

static int
referrers_add(void *arg, const struct meta_manifest *mf)
{
	struct referrers_walk *w = arg;
	struct digest d;
	char *body = NULL;
	size_t len = 0;

	/* A page holds what a client can take in one answer: past the
	 * byte budget the rest waits for the next page. */
	if (w->n > 0 && w->bytes >= (size_t)REFERRERS_PAGE_BYTES) {
		w->full = 1;
		return 1;
	}
	/* The annotations live only in the manifest's bytes. */
	if (digest_parse(mf->digest, &d) == 0 &&
	    store_blob_read(w->store, &d, REFERRERS_MANIFEST_MAX, &body, &len) != 0)
		log_warn("referrers: cannot read manifest %s", mf->digest);
	if (oci_referrers_add(w->doc, mf->digest, mf->size, mf->media_type, mf->artifact_type,
	    body, len) != 0)
		w->failed = 1;
	free(body);
	if (strlen(mf->digest) < sizeof(w->last))
		memcpy(w->last, mf->digest, strlen(mf->digest) + 1);
	w->n++;
	w->bytes += len;
	return w->failed;
}

int
referrers_collect(struct worker *wk, const char *name, const char *subject, const char *at,
    const char *last, long n, char *next, struct oci_doc **out)
{
	struct referrers_walk w = {.store = wk->store};
	int more = 0, rc;

	*out = NULL;
	if (next != NULL)
		next[0] = '\0';
	if ((w.doc = oci_referrers_new()) == NULL)
		return -ERR_INTERNAL;
	rc = n > 0 ? meta_referrers(wk->meta, name, subject, at, last, n, referrers_add, &w, &more) : 0;
	if ((rc != 0 && rc != -ERR_NAME_UNKNOWN) || w.failed) {
		oci_doc_free(w.doc);
		return rc != 0 ? rc : -ERR_INTERNAL;
	}
	if (next != NULL && (more || w.full) && w.n > 0)
		memcpy(next, w.last, sizeof(w.last));
	*out = w.doc;
	return 0;
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
	struct oci_doc *doc;
	char filter[256], last[DIGEST_STR_MAX + 8], next[DIGEST_STR_MAX];
	const char *at = NULL;
	long n;
	int rc;

	rc = req_query(req, "artifactType", filter, sizeof(filter));
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
	if ((rc = referrers_collect(req->w, req->m.name, req->m.digest.str, at, last, n, next,
	    &doc)) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	referrers_respond(req, doc, at, next, n);
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
