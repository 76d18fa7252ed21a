/* SPDX-License-Identifier: ISC
 * route.c — the /v2/ URL layout of the distribution spec ("Endpoints"
 * table, end-1 .. end-13): splitting a decoded path into {route kind,
 * repository name, reference} and validating each part against the spec's
 * grammar.  Pure; the router (router.c) runs the gates on the result.
 */
#include <string.h>

#include "errors.h"
#include "route.h"

static int
route_set_name(struct route_match *m, const char *name, size_t len)
{
	if (len == 0 || len > REFERENCE_NAME_MAX)
		return -ERR_NAME_INVALID;
	memcpy(m->name, name, len);
	m->name[len] = '\0';
	memcpy(m->url_name, m->name, len + 1);
	return reference_name_valid(m->name) ? 0 : -ERR_NAME_INVALID;
}

static int
route_set_ref(struct route_match *m, const char *ref, int err)
{
	if (strlen(ref) >= sizeof(m->ref))
		return -err;
	memcpy(m->ref, ref, strlen(ref) + 1);
	return 0;
}

/* Return the start of the component before `end` (which points at a '/'
 * or at the string's end), or NULL if there is none. */
static const char *
route_prev(const char *start, const char *end)
{
	const char *p = end;

	if (p <= start)
		return NULL;
	while (p > start && p[-1] != '/')
		p--;
	return p;
}

int
route_split(const char *path, struct route_match *m)
{
	const char *p, *end, *last, *kind, *third;
	size_t lastlen;
	int rc;

	memset(m, 0, sizeof(*m));
	if (strncmp(path, "/v2", 3) != 0)
		return -ERR_NOT_FOUND;
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) {
		m->kind = ROUTE_BASE;
		return 0;
	}
	if (path[3] != '/')
		return -ERR_NOT_FOUND;
	p = path + 4;
	if (strcmp(p, "_catalog") == 0) {
		m->kind = ROUTE_CATALOG;
		return 0;
	}
	end = p + strlen(p);
	/* last = final component (possibly empty after a trailing slash). */
	last = route_prev(p, end);
	if (last == NULL)
		last = end;
	lastlen = (size_t)(end - last);
	if (last == p || last[-1] != '/')
		return -ERR_NOT_FOUND;
	kind = route_prev(p, last - 1);
	if (kind == NULL || kind == p)
		return -ERR_NOT_FOUND;
	/* kind spans [kind, last-1). */
#define KIND_IS(s) ((size_t)(last - 1 - kind) == strlen(s) && strncmp(kind, s, strlen(s)) == 0)
	if (KIND_IS("uploads")) {
		third = route_prev(p, kind - 1);
		if (third != NULL && third > p && (size_t)(kind - 1 - third) == 5 &&
		    strncmp(third, "blobs", 5) == 0) {
			if ((rc = route_set_name(m, p, (size_t)(third - 1 - p))) != 0)
				return rc;
			if (lastlen == 0) {
				m->kind = ROUTE_UPLOAD_START;
				return 0;
			}
			m->kind = ROUTE_UPLOAD;
			if (!reference_uuid_valid(last))
				return -ERR_BLOB_UPLOAD_UNKNOWN;
			return route_set_ref(m, last, ERR_BLOB_UPLOAD_UNKNOWN);
		}
	}
	if (lastlen == 0) {
		/* "/v2/<name>/blobs/uploads" without the slash is common too. */
		return -ERR_NOT_FOUND;
	}
	if (KIND_IS("tags") && strcmp(last, "list") == 0) {
		m->kind = ROUTE_TAGS;
		return route_set_name(m, p, (size_t)(kind - 1 - p));
	}
	if (KIND_IS("blobs") && strcmp(last, "uploads") == 0) {
		/* POST /v2/<name>/blobs/uploads (no trailing slash). */
		if ((rc = route_set_name(m, p, (size_t)(kind - 1 - p))) != 0)
			return rc;
		m->kind = ROUTE_UPLOAD_START;
		return 0;
	}
	if (KIND_IS("blobs"))
		m->kind = ROUTE_BLOB;
	else if (KIND_IS("manifests"))
		m->kind = ROUTE_MANIFEST;
	else if (KIND_IS("referrers"))
		m->kind = ROUTE_REFERRERS;
	else
		return -ERR_NOT_FOUND;
#undef KIND_IS
	if ((rc = route_set_name(m, p, (size_t)(kind - 1 - p))) != 0)
		return rc;
	if (m->kind == ROUTE_MANIFEST && strchr(last, ':') == NULL) {
		if (!reference_tag_valid(last))
			return -ERR_TAG_INVALID;
		return route_set_ref(m, last, ERR_TAG_INVALID);
	}
	if ((rc = digest_parse(last, &m->digest)) != 0)
		return rc;
	m->ref_is_digest = 1;
	return route_set_ref(m, last, ERR_DIGEST_INVALID);
}

const char *
route_kind_name(enum route_kind kind)
{
	static const char *const names[ROUTE_COUNT] = {
		[ROUTE_NONE] = "none",
		[ROUTE_BASE] = "base",
		[ROUTE_CATALOG] = "catalog",
		[ROUTE_BLOB] = "blob",
		[ROUTE_UPLOAD_START] = "upload_start",
		[ROUTE_UPLOAD] = "upload",
		[ROUTE_MANIFEST] = "manifest",
		[ROUTE_TAGS] = "tags",
		[ROUTE_REFERRERS] = "referrers",
	};

	return (unsigned)kind < ROUTE_COUNT ? names[kind] : "none";
}
