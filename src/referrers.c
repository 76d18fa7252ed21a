/* SPDX-License-Identifier: ISC
 * referrers.c — the referrers API (distribution-spec v1.1 end-12a/b): every
 * manifest in a repository whose `subject` is the given digest, as an image
 * index.  A valid digest never gets 404 (clients would fall back to the
 * tag schema): an unknown subject or repository is an empty index.
 */
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
	int failed;
};

static int
referrers_add(void *arg, const struct meta_manifest *mf)
{
	struct referrers_walk *w = arg;
	struct digest d;
	char *body = NULL;
	size_t len = 0;

	/* The annotations live only in the manifest's bytes. */
	if (digest_parse(mf->digest, &d) == 0 &&
	    store_blob_read(w->store, &d, REFERRERS_MANIFEST_MAX, &body, &len) != 0)
		log_warn("referrers: cannot read manifest %s", mf->digest);
	if (oci_referrers_add(w->doc, mf->digest, mf->size, mf->media_type, mf->artifact_type,
	    body, len) != 0)
		w->failed = 1;
	free(body);
	return w->failed;
}

int
referrers_collect(struct worker *wk, const char *name, const char *subject, const char *at,
    struct oci_doc **out)
{
	struct referrers_walk w = {.store = wk->store};
	int rc;

	*out = NULL;
	if ((w.doc = oci_referrers_new()) == NULL)
		return -ERR_INTERNAL;
	rc = meta_referrers(wk->meta, name, subject, at, referrers_add, &w);
	if ((rc != 0 && rc != -ERR_NAME_UNKNOWN) || w.failed) {
		oci_doc_free(w.doc);
		return rc != 0 ? rc : -ERR_INTERNAL;
	}
	*out = w.doc;
	return 0;
}

void
referrers_get(struct request *req)
{
	struct oci_doc *doc;
	char filter[256];
	const char *at = NULL;
	int rc;

	rc = req_query(req, "artifactType", filter, sizeof(filter));
	if (rc < 0) {
		req_error(req, ERR_UNSUPPORTED, "malformed artifactType filter");
		return;
	}
	if (rc == 1 && filter[0] != '\0')
		at = filter;
	if ((rc = referrers_collect(req->w, req->m.name, req->m.digest.str, at, &doc)) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	referrers_respond(req, doc, at);
}

void
referrers_respond(struct request *req, struct oci_doc *doc, const char *at)
{
	char *json;

	if ((json = oci_doc_render(doc)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (at != NULL)
		req_add_header(req, "OCI-Filters-Applied", "artifactType");
	req_respond(req, 200, OCI_MT_INDEX, json, strlen(json));
	free(json);
}
