/* SPDX-License-Identifier: ISC
 * router.c — the gates every request passes in one order (resolve the
 * target repository, authenticate, authorize that target, dispatch) and the
 * route table that maps {method, kind} to handler modules.
 */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "errors.h"
#include "handlers.h"
#include "metrics.h"
#include "ops.h"
#include "proxy.h"
#include "router.h"
#include "server.h"
#include "ui.h"
#include "worker.h"

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

/* RFC 9110: a 405 lists what the resource does allow -- in maintenance
 * ([server] read_only) only the reading methods. */
static void
router_allow(struct request *req, int read_only)
{
	static const char *const names[] = {"", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
	char allow[64] = "";
	size_t o = 0;

	for (size_t i = 0; i < sizeof(router_table) / sizeof(router_table[0]); i++) {
		if (router_table[i].kind != req->m.kind)
			continue;
		if (read_only && router_table[i].method != METHOD_GET &&
		    router_table[i].method != METHOD_HEAD)
			continue;
		o += (size_t)snprintf(allow + o, sizeof(allow) - o, "%s%s", o ? ", " : "",
		    names[router_table[i].method]);
		if (o >= sizeof(allow))
			break;
	}
	req_add_header(req, "Allow", "%s", allow);
}

/* The gates, in the one order every request goes through: split (done),
 * resolve the target repository, authenticate and authorize that target,
 * refuse writes in maintenance, then dispatch (nginx's phases, one
 * function each, in one list). */
void
router_dispatch(struct request *req)
{
	struct route_match *m = (struct route_match *)&req->m;
	struct proxy_target *t;
	int rc, kind_known = 0;

	/* The operator's endpoints first: on [server] metrics_listen they
	 * are all there is. */
	if (ops_dispatch(req))
		return;
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
	rc = route_split(req->path, m);
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
		/* Gate 4: maintenance ([server] read_only, per request: a
		 * reload turns it on or off for the requests that follow).
		 * Every method but GET and HEAD writes (an upload's status is
		 * a GET and goes on).  After authentication, as in
		 * Distribution, whose read-only mode leaves the writing
		 * methods out of each route behind its auth check: an
		 * anonymous writer is asked to log in first, and who may not
		 * write hears 401/403, not that the registry is in
		 * maintenance.  Reads of the pull-through cache still fill
		 * it from upstream: that is no client write. */
		if (req->cfg->read_only && req->method != METHOD_GET && req->method != METHOD_HEAD) {
			router_allow(req, 1);
			req_error(req, ERR_METHOD, "the registry is in maintenance (read-only): pushes, "
			    "deletes and uploads are refused until it ends; pulls go on");
			return;
		}
		/* Gate 5: dispatch -- the pull-through cache or the handler. */
		if (req->m.ref_unknown) {
			req_error(req, ERR_MANIFEST_UNKNOWN, NULL);
			return;
		}
		if (proxy_handle(req, t))
			return;
		router_table[i].handle(req);
		return;
	}
	if (kind_known)
		router_allow(req, 0);
	req_error(req, kind_known ? ERR_METHOD : ERR_NOT_FOUND, NULL);
}
