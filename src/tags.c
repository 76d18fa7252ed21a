/* SPDX-License-Identifier: ISC
 * tags.c — listing (distribution-spec end-8a/b and the catalog): tags of a
 * repository and the repositories themselves, in lexical order, with the
 * n/last pagination and an RFC 8288 Link header when more remain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "handlers.h"
#include "meta.h"
#include "oci.h"
#include "range.h"
#include "server.h"
#include "worker.h"

/* Ceiling of one page: n larger than this is clamped and the client
 * follows the Link header for the rest. */
#define TAGS_PAGE_MAX 10000L

struct tags_page {
	struct request *filter;		/* catalog: list only what it may pull */
	struct oci_doc *doc;
	char last[REFERENCE_NAME_MAX + 1];
	int failed;
};

static int
tags_add(void *arg, const char *item)
{
	struct tags_page *p = arg;
	size_t n = strlen(item);

	if (p->filter != NULL &&
	    !(auth_request_actions(p->filter->w->auth, p->filter, item) & TOKEN_PULL))
		return 2;	/* skipped, not counted */
	if (oci_list_add(p->doc, item) != 0) {
		p->failed = 1;
		return 1;
	}
	if (n >= sizeof(p->last))
		n = sizeof(p->last) - 1;
	memcpy(p->last, item, n);
	p->last[n] = '\0';
	return 0;
}

int
handlers_page_params(struct request *req, long dflt, long max, long *n, char *last,
    size_t lastcap)
{
	char nbuf[32];
	uint64_t v;
	int rc;

	*n = dflt;
	last[0] = '\0';
	if ((rc = req_query(req, "n", nbuf, sizeof(nbuf))) < 0)
		return -ERR_PAGINATION;
	if (rc == 1) {
		if (range_parse_u64(nbuf, nbuf + strlen(nbuf), &v) != 0)
			return -ERR_PAGINATION;
		*n = v > (uint64_t)max ? max : (long)v;
	}
	if (req_query(req, "last", last, lastcap) < 0)
		return -ERR_PAGINATION;
	return 0;
}

static void
tags_respond(struct request *req, struct tags_page *p, long n, int more, const char *link_path)
{
	char *json;

	if (p->failed) {
		oci_doc_free(p->doc);
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if ((json = oci_doc_render(p->doc)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	/* Names and tags need no escaping in a URL: both grammars are
	 * subsets of the unreserved characters plus '/'. */
	if (more && n > 0)
		req_add_header(req, "Link", "<%s?n=%ld&last=%s>; rel=\"next\"", link_path, n, p->last);
	req_respond(req, 200, "application/json", json, strlen(json));
	free(json);
}

void
tags_list(struct request *req)
{
	struct tags_page p = {0};
	char last[REFERENCE_TAG_MAX + 8], path[REFERENCE_NAME_MAX + 32];
	long n;
	int more = 0, rc;

	if ((rc = handlers_page_params(req, -1, TAGS_PAGE_MAX, &n, last, sizeof(last))) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	if ((p.doc = oci_list_new(req->m.name, "tags")) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (n != 0 && (rc = meta_tag_list(req->w->meta, req->m.name, last,
	    n < 0 ? TAGS_PAGE_MAX : n, tags_add, &p, &more)) != 0) {
		oci_doc_free(p.doc);
		req_error(req, (enum reg_error)-rc, req->m.name);
		return;
	}
	if (n == 0 && (rc = meta_repo_exists(req->w->meta, req->m.name)) != 0) {
		oci_doc_free(p.doc);
		req_error(req, (enum reg_error)-rc, req->m.name);
		return;
	}
	snprintf(path, sizeof(path), "/v2/%s/tags/list", req->m.name);
	tags_respond(req, &p, n < 0 ? TAGS_PAGE_MAX : n, more, path);
}

void
tags_catalog(struct request *req)
{
	struct tags_page p = {0};
	char last[REFERENCE_NAME_MAX + 8];
	long n;
	int more = 0, rc;

	if ((rc = handlers_page_params(req, -1, TAGS_PAGE_MAX, &n, last, sizeof(last))) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	if (auth_enabled(req->w->auth))
		p.filter = req;
	if ((p.doc = oci_list_new(NULL, "repositories")) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (n != 0 && (rc = meta_repo_list(req->w->meta, last, n < 0 ? TAGS_PAGE_MAX : n,
	    p.filter != NULL, tags_add, &p, &more)) != 0) {
		oci_doc_free(p.doc);
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	tags_respond(req, &p, n < 0 ? TAGS_PAGE_MAX : n, more, "/v2/_catalog");
}
