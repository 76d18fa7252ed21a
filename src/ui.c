/* SPDX-License-Identifier: ISC
 * ui.c — the registry's web page (issue 18): serves the static files that
 * scripts/embed-ui compiled into the binary, and GET /ui/api/repos, the
 * one listing the page cannot get from the distribution API: which
 * repositories the client may pull *and* which of them are pull-through
 * cached, from which upstream.  Everything else the page reads through
 * /v2/ with the client's own credentials, so the UI can show nothing the
 * API would not.
 *
 * The page renders every registry string as text; the headers below are
 * the second line of defence: a strict Content-Security-Policy (no inline
 * script or style, no foreign origin), nosniff and no framing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "errors.h"
#include "meta.h"
#include "range.h"
#include "server.h"
#include "ui.h"
#include "worker.h"

/* Page sizes of /ui/api/repos: the page asks for UI_PAGE_DEFAULT; n is
 * clamped to UI_PAGE_MAX so one answer stays small (the body ceiling
 * below holds UI_PAGE_MAX entries of the longest names). */
#define UI_PAGE_DEFAULT 100L
#define UI_PAGE_MAX 500L
#define UI_FILTER_MAX 256
#define UI_JSON_MAX (4u << 20)

static const char ui_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

static void
ui_security_headers(struct request *req)
{
	req_add_header(req, "Content-Security-Policy", "%s", ui_csp);
	req_add_header(req, "X-Content-Type-Options", "nosniff");
	req_add_header(req, "X-Frame-Options", "DENY");
	req_add_header(req, "Referrer-Policy", "no-referrer");
}

static const char *
ui_content_type(const char *name)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
		{".html", "text/html; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".svg", "image/svg+xml"},
		{".png", "image/png"},
		{".ico", "image/x-icon"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* A strong validator from the bytes (FNV-1a, 64 bits): the files change
 * only with the binary, so an ETag lets browsers revalidate cheaply and
 * still see a new version as soon as the daemon is upgraded. */
static uint64_t
ui_hash(const unsigned char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void
ui_serve_asset(struct request *req, const char *name)
{
	const struct ui_asset *a = NULL;
	const char *inm;
	char etag[24];

	for (size_t i = 0; i < ui_nassets; i++)
		if (strcmp(ui_assets[i].name, name) == 0)
			a = &ui_assets[i];
	if (a == NULL) {
		req_error(req, ERR_NOT_FOUND, NULL);
		return;
	}
	snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)ui_hash(a->data, a->len));
	req_add_header(req, "ETag", "%s", etag);
	/* Revalidate every time: a 304 costs one round trip, and a page
	 * never mixes the script of one version with the HTML of another. */
	req_add_header(req, "Cache-Control", "no-cache");
	if ((inm = req_header(req, "If-None-Match")) != NULL && strstr(inm, etag) != NULL) {
		req_respond(req, 304, NULL, NULL, 0);
		return;
	}
	req_respond(req, 200, ui_content_type(name), a->data, a->len);
}

/* ---- GET /ui/api/repos ---- */

/* A JSON body with a ceiling: past UI_JSON_MAX it is an error, not a
 * bigger allocation. */
struct ui_buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void
ui_put(struct ui_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > UI_JSON_MAX || (np = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
ui_puts(struct ui_buf *b, const char *s)
{
	ui_put(b, s, strlen(s));
}

/* A JSON string.  Names are grammar-bound, but section names and URLs come
 * from the config: escape quotes, backslashes, controls, and '<' '>' '&'
 * so the body stays inert even if something renders it as HTML. */
static void
ui_put_str(struct ui_buf *b, const char *s)
{
	ui_put(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&') {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			ui_puts(b, esc);
		} else {
			ui_put(b, (const char *)&c, 1);
		}
	}
	ui_put(b, "\"", 1);
}

struct ui_list {
	struct request *req;
	int filter_auth;		/* list only what the client may pull */
	const char *q;			/* substring filter ("" = none) */
	char (*names)[REFERENCE_NAME_MAX + 1];
	size_t n, cap;
};

static int
ui_list_add(void *arg, const char *item)
{
	struct ui_list *l = arg;

	if (l->q[0] != '\0' && strstr(item, l->q) == NULL)
		return 2;
	/* The same filter as the catalog (tags.c): the [access] rules for
	 * the identity the auth gate recorded. */
	if (l->filter_auth &&
	    !(auth_request_actions(l->req->w->auth, l->req, item) & TOKEN_PULL))
		return 2;
	if (l->n >= l->cap || strlen(item) > REFERENCE_NAME_MAX)
		return 1;
	memcpy(l->names[l->n], item, strlen(item) + 1);
	l->n++;
	return 0;
}

/* The [proxy "NAME"] section's url and prefix, from the config as the
 * request sees it. */
static void
ui_proxy_info(const struct config *cfg, const char *name, const char **url, const char **prefix)
{
	*url = "";
	*prefix = "";
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct config_section *s = &cfg->sections[i];
		const char *v;

		if (strcmp(s->kind, "proxy") != 0 || strcmp(s->name, name) != 0)
			continue;
		if ((v = config_section_get(s, "url")) != NULL)
			*url = v;
		if ((v = config_section_get(s, "prefix")) != NULL)
			*prefix = v;
		return;
	}
}

static void
ui_repos(struct request *req)
{
	struct ui_list l = {0};
	struct ui_buf b = {0};
	char nbuf[32], last[REFERENCE_NAME_MAX + 8], q[UI_FILTER_MAX];
	uint64_t v;
	long n = UI_PAGE_DEFAULT;
	int more = 0, rc;

	/* The catalog's gate: authenticated (or anonymous allowed), no
	 * repository yet; each row is then filtered by pull permission. */
	if (auth_request(req->w->auth, req, NULL, NULL, 0) != 0)
		return;
	if ((rc = req_query(req, "n", nbuf, sizeof(nbuf))) < 0 ||
	    (rc == 1 && range_parse_u64(nbuf, nbuf + strlen(nbuf), &v) != 0)) {
		req_error(req, ERR_PAGINATION, NULL);
		return;
	}
	if (rc == 1)
		n = v == 0 ? 1 : v > (uint64_t)UI_PAGE_MAX ? UI_PAGE_MAX : (long)v;
	if ((rc = req_query(req, "last", last, sizeof(last))) < 0) {
		req_error(req, ERR_PAGINATION, NULL);
		return;
	}
	if (rc == 0)
		last[0] = '\0';
	if ((rc = req_query(req, "q", q, sizeof(q))) < 0) {
		req_error(req, ERR_PAGINATION, "filter too long");
		return;
	}
	if (rc == 0)
		q[0] = '\0';
	l.req = req;
	l.q = q;
	l.filter_auth = auth_enabled(req->w->auth);
	l.cap = (size_t)n;
	if ((l.names = malloc(l.cap * sizeof(*l.names))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	/* Names first, then the per-repository lookups: the listing's
	 * statement is done before the next one runs. */
	if ((rc = meta_repo_list(req->w->meta, last, n, 1, ui_list_add, &l, &more)) != 0) {
		free(l.names);
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	ui_puts(&b, "{\"auth\":");
	ui_puts(&b, auth_enabled(req->w->auth) ? "true" : "false");
	ui_puts(&b, ",\"user\":");
	if (req->user != NULL && req->user[0] != '\0')
		ui_put_str(&b, req->user);
	else
		ui_puts(&b, "null");
	ui_puts(&b, ",\"repositories\":[");
	for (size_t i = 0; i < l.n; i++) {
		char proxy[META_PROXY_NAME_MAX];
		int local = 0;

		ui_puts(&b, i ? ",{\"name\":" : "{\"name\":");
		ui_put_str(&b, l.names[i]);
		proxy[0] = '\0';
		if (meta_proxy_repo(req->w->meta, l.names[i], proxy, &local) == 0 && proxy[0] != '\0') {
			const char *url, *prefix;
			const char *up = l.names[i];
			size_t pl;

			ui_proxy_info(req->cfg, proxy, &url, &prefix);
			pl = strlen(prefix);
			if (pl > 0 && strncmp(up, prefix, pl) == 0 && up[pl] == '/')
				up += pl + 1;
			ui_puts(&b, ",\"proxy\":");
			ui_put_str(&b, proxy);
			ui_puts(&b, ",\"upstream\":");
			ui_put_str(&b, url);
			ui_puts(&b, ",\"upstream_name\":");
			ui_put_str(&b, up);
			ui_puts(&b, local ? ",\"local\":true" : ",\"local\":false");
		}
		ui_puts(&b, "}");
	}
	ui_puts(&b, "]");
	if (more && l.n > 0) {
		ui_puts(&b, ",\"next\":");
		ui_put_str(&b, l.names[l.n - 1]);
	}
	ui_puts(&b, "}");
	free(l.names);
	if (b.failed) {
		free(b.p);
		req_error(req, ERR_INTERNAL, "listing too large");
		return;
	}
	req_add_header(req, "Cache-Control", "no-store");
	req_respond(req, 200, "application/json", b.p, b.len);
	free(b.p);
}

int
ui_dispatch(struct request *req)
{
	const char *p = req->path;

	if (strcmp(p, "/") != 0 && strcmp(p, "/ui") != 0 && strncmp(p, "/ui/", 4) != 0)
		return 0;
	/* Off: the paths are simply not there (the router's 404). */
	if (!req->cfg->ui_enabled)
		return 0;
	ui_security_headers(req);
	if (req->method != METHOD_GET && req->method != METHOD_HEAD) {
		req_add_header(req, "Allow", "GET, HEAD");
		req_error(req, ERR_METHOD, NULL);
		return 1;
	}
	if (strcmp(p, "/") == 0 || strcmp(p, "/ui") == 0) {
		/* Relative to the host the client used, so it works behind
		 * any name or port. */
		req_add_header(req, "Location", "/ui/");
		req_respond(req, 302, NULL, NULL, 0);
		return 1;
	}
	p += 4;
	if (strcmp(p, "api/repos") == 0) {
		ui_repos(req);
		return 1;
	}
	if (*p == '\0')
		p = "index.html";
	/* Only flat names: the table has no directories to walk into. */
	if (strchr(p, '/') != NULL) {
		req_error(req, ERR_NOT_FOUND, NULL);
		return 1;
	}
	ui_serve_asset(req, p);
	return 1;
}
