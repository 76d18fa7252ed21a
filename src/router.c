/* SPDX-License-Identifier: ISC
 * router.c — the /v2/ URL layout of the distribution spec ("Endpoints"
 * table, end-1 .. end-13) and the route table that maps {method, kind} to
 * handler modules.
 */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "errors.h"
#include "handlers.h"
#include "metrics.h"
#include "proxy.h"
#include "router.h"
#include "server.h"
#include "ui.h"

static int
router_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
router_decode(const char *src, size_t len, char *dst, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			if ((hi = router_hex(src[i + 1])) < 0 || (lo = router_hex(src[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			/* Only meaningful in queries; paths never carry '+'
			 * in any grammar we accept, so decoding it is safe. */
			c = ' ';
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return 0;
}

int
router_query(const char *query, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = query;

	if (p == NULL)
		return 0;
	while (*p != '\0') {
		const char *amp = strchr(p, '&');
		size_t plen = amp != NULL ? (size_t)(amp - p) : strlen(p);

		if (plen >= klen && strncmp(p, key, klen) == 0 &&
		    (plen == klen || p[klen] == '=')) {
			if (plen == klen) {
				if (cap == 0)
					return -1;
				out[0] = '\0';
				return 1;
			}
			return router_decode(p + klen + 1, plen - klen - 1, out, cap) == 0 ? 1 : -1;
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	return 0;
}

static int
router_set_name(struct route_match *m, const char *name, size_t len)
{
	if (len == 0 || len > REFERENCE_NAME_MAX)
		return -ERR_NAME_INVALID;
	memcpy(m->name, name, len);
	m->name[len] = '\0';
	memcpy(m->url_name, m->name, len + 1);
	return reference_name_valid(m->name) ? 0 : -ERR_NAME_INVALID;
}

static int
router_set_ref(struct route_match *m, const char *ref, int err)
{
	if (strlen(ref) >= sizeof(m->ref))
		return -err;
	memcpy(m->ref, ref, strlen(ref) + 1);
	return 0;
}

/* Return the start of the component before `end` (which points at a '/'
 * or at the string's end), or NULL if there is none. */
static const char *
router_prev(const char *start, const char *end)
{
	const char *p = end;

	if (p <= start)
		return NULL;
	while (p > start && p[-1] != '/')
		p--;
	return p;
}

int
router_split(const char *path, struct route_match *m)
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
	last = router_prev(p, end);
	if (last == NULL)
		last = end;
	lastlen = (size_t)(end - last);
	if (last == p || last[-1] != '/')
		return -ERR_NOT_FOUND;
	kind = router_prev(p, last - 1);
	if (kind == NULL || kind == p)
		return -ERR_NOT_FOUND;
	/* kind spans [kind, last-1). */
#define KIND_IS(s) ((size_t)(last - 1 - kind) == strlen(s) && strncmp(kind, s, strlen(s)) == 0)
	if (KIND_IS("uploads")) {
		third = router_prev(p, kind - 1);
		if (third != NULL && third > p && (size_t)(kind - 1 - third) == 5 &&
		    strncmp(third, "blobs", 5) == 0) {
			if ((rc = router_set_name(m, p, (size_t)(third - 1 - p))) != 0)
				return rc;
			if (lastlen == 0) {
				m->kind = ROUTE_UPLOAD_START;
				return 0;
			}
			m->kind = ROUTE_UPLOAD;
			if (!reference_uuid_valid(last))
				return -ERR_BLOB_UPLOAD_UNKNOWN;
			return router_set_ref(m, last, ERR_BLOB_UPLOAD_UNKNOWN);
		}
	}
	if (lastlen == 0) {
		/* "/v2/<name>/blobs/uploads" without the slash is common too. */
		return -ERR_NOT_FOUND;
	}
	if (KIND_IS("tags") && strcmp(last, "list") == 0) {
		m->kind = ROUTE_TAGS;
		return router_set_name(m, p, (size_t)(kind - 1 - p));
	}
	if (KIND_IS("blobs") && strcmp(last, "uploads") == 0) {
		/* POST /v2/<name>/blobs/uploads (no trailing slash). */
		if ((rc = router_set_name(m, p, (size_t)(kind - 1 - p))) != 0)
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
	if ((rc = router_set_name(m, p, (size_t)(kind - 1 - p))) != 0)
		return rc;
	if (m->kind == ROUTE_MANIFEST && strchr(last, ':') == NULL) {
		if (!reference_tag_valid(last))
			return -ERR_TAG_INVALID;
		return router_set_ref(m, last, ERR_TAG_INVALID);
	}
	if ((rc = digest_parse(last, &m->digest)) != 0)
		return rc;
	m->ref_is_digest = 1;
	return router_set_ref(m, last, ERR_DIGEST_INVALID);
}

const char *
router_kind_name(enum route_kind kind)
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

/* The route table.  A request whose kind matches but whose method does not
 * is 405 UNSUPPORTED; HEAD is served by the GET handler, which omits bodies
 * through the response layer.  `need` is what the caller must be allowed
 * to do on the repository (TOKEN_* bits; 0 = only be authenticated). */
static const struct {
	enum http_method_kind method;
	enum route_kind kind;
	unsigned need;
	void (*handle)(struct request *);
} router_table[] = {
	{METHOD_GET, ROUTE_BASE, 0, handlers_base},
	{METHOD_GET, ROUTE_BLOB, TOKEN_PULL, blob_get},
	{METHOD_HEAD, ROUTE_BLOB, TOKEN_PULL, blob_get},
	{METHOD_DELETE, ROUTE_BLOB, TOKEN_DELETE, blob_delete},
	{METHOD_POST, ROUTE_UPLOAD_START, TOKEN_PUSH, upload_start},
	{METHOD_GET, ROUTE_UPLOAD, TOKEN_PUSH, upload_status},
	{METHOD_PATCH, ROUTE_UPLOAD, TOKEN_PUSH, upload_patch},
	{METHOD_PUT, ROUTE_UPLOAD, TOKEN_PUSH, upload_put},
	{METHOD_DELETE, ROUTE_UPLOAD, TOKEN_PUSH, upload_cancel},
	{METHOD_GET, ROUTE_MANIFEST, TOKEN_PULL, manifest_get},
	{METHOD_HEAD, ROUTE_MANIFEST, TOKEN_PULL, manifest_get},
	{METHOD_PUT, ROUTE_MANIFEST, TOKEN_PUSH, manifest_put},
	{METHOD_DELETE, ROUTE_MANIFEST, TOKEN_DELETE, manifest_delete},
	{METHOD_GET, ROUTE_TAGS, TOKEN_PULL, tags_list},
	{METHOD_GET, ROUTE_CATALOG, 0, tags_catalog},
	{METHOD_GET, ROUTE_REFERRERS, TOKEN_PULL, referrers_get},
};

/* The gates, in the one order every request goes through: split (done),
 * resolve the target repository, authenticate and authorize that target,
 * then dispatch (nginx's phases, one function each, in one list). */
void
router_dispatch(struct request *req)
{
	struct route_match *m = (struct route_match *)&req->m;
	struct proxy_target *t;
	int rc, kind_known = 0;

	/* The web page (ui.c) lives beside /v2/: "/", "/ui" and "/ui/...". */
	if (ui_dispatch(req))
		return;
	/* Docker's token endpoint lives beside /v2/. */
	if (strcmp(req->path, "/token") == 0) {
		req->metric_route = METRICS_ROUTE_TOKEN;
		if (req->method == METHOD_GET)
			auth_token_handler(req);
		else
			req_error(req, ERR_METHOD, NULL);
		return;
	}
	/* The only writes to req->m: its storage is the request's (arena,
	 * not an object defined const), and no handler has run yet. */
	rc = router_split(req->path, m);
	req->metric_route = (int)req->m.kind;
	/* A manifest reference that is neither a tag nor a digest cannot
	 * exist: reading it is MANIFEST_UNKNOWN (as the conformance suite,
	 * Distribution and zot have it), answered after the auth gates like
	 * any other unknown manifest.  PUT and DELETE keep the 400. */
	if ((rc == -ERR_TAG_INVALID || rc == -ERR_DIGEST_INVALID) && m->kind == ROUTE_MANIFEST &&
	    (req->method == METHOD_GET || req->method == METHOD_HEAD)) {
		m->ref_unknown = 1;
		rc = 0;
	}
	if (rc != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	for (size_t i = 0; i < sizeof(router_table) / sizeof(router_table[0]); i++) {
		int repo_route, write;

		if (router_table[i].kind != req->m.kind)
			continue;
		kind_known = 1;
		if (router_table[i].method != req->method)
			continue;
		repo_route = router_table[i].kind != ROUTE_BASE && router_table[i].kind != ROUTE_CATALOG;
		write = (router_table[i].need & (TOKEN_PUSH | TOKEN_DELETE)) != 0;
		/* Gate 1: which repository this request really addresses. */
		if ((t = arena_alloc(req->arena, sizeof(*t))) == NULL) {
			req_error(req, ERR_INTERNAL, NULL);
			return;
		}
		if ((rc = proxy_resolve(req, write, t)) < 0) {
			req_error(req, (enum reg_error)-rc, NULL);
			return;
		}
		if (strcmp(m->name, t->local) != 0)
			snprintf(m->name, sizeof(m->name), "%s", t->local);
		/* Gate 2 and 3: who the client is, and whether it may do
		 * this on that repository.  A token is checked against the
		 * name it was issued for (the URL's), the user's rights
		 * against the repository served. */
		if (auth_request(req->w->auth, req, repo_route ? req->m.url_name : NULL,
		    repo_route ? req->m.name : NULL, router_table[i].need) != 0)
			return;
		/* Gate 4: dispatch -- the pull-through cache or the handler. */
		if (req->m.ref_unknown) {
			req_error(req, ERR_MANIFEST_UNKNOWN, NULL);
			return;
		}
		if (proxy_handle(req, t))
			return;
		router_table[i].handle(req);
		return;
	}
	if (kind_known) {
		/* RFC 9110: a 405 lists what the resource does allow. */
		char allow[64] = "";
		size_t o = 0;

		for (size_t i = 0; i < sizeof(router_table) / sizeof(router_table[0]); i++) {
			static const char *const names[] = {"", "GET", "HEAD", "POST", "PUT", "PATCH",
			    "DELETE"};

			if (router_table[i].kind != req->m.kind)
				continue;
			o += (size_t)snprintf(allow + o, sizeof(allow) - o, "%s%s", o ? ", " : "",
			    names[router_table[i].method]);
			if (o >= sizeof(allow))
				break;
		}
		req_add_header(req, "Allow", "%s", allow);
	}
	req_error(req, kind_known ? ERR_METHOD : ERR_NOT_FOUND, NULL);
}
