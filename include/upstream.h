/* upstream.h — the pull-through cache's HTTP client for upstream
 * registries: requests to <section url>/v2/..., with Docker's token
 * authentication (anonymous or Basic credentials, tokens cached per
 * upstream, identity and scope) or plain Basic, answered through callbacks
 * on the worker's event loop.  Never blocks.
 *
 * The caller speaks in these types only; libcurl (loaded by curl_dl.c on
 * first use) stays inside upstream.c. */
#ifndef OCIREGD_UPSTREAM_H
#define OCIREGD_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "errors.h"
#include "reference.h"

#define UPSTREAM_URL_MAX 2048
#define UPSTREAM_SCOPE_MAX (REFERENCE_NAME_MAX + 32)
#define UPSTREAM_ERRBUF 256		/* libcurl's CURL_ERROR_SIZE */

struct curl_slist;
struct event_base;
struct proxy_section;
struct upstream;

/* What an upstream request asks for in its Accept header. */
enum upstream_accept {
	UPSTREAM_ACCEPT_ANY = 0,
	UPSTREAM_ACCEPT_MANIFESTS,	/* OCI and Docker manifests and indexes */
	UPSTREAM_ACCEPT_INDEX,		/* an OCI image index (referrers) */
};

/* One upstream request.  The owner sets the fields of the first group
 * before upstream_xfer_run; upstream_xfer_new set the second; the third is
 * the answer, valid in the callbacks.  The rest is upstream.c's.  x is
 * freed after `done` returned. */
struct upstream_xfer {
	/* the owner's */
	int head;			/* HEAD instead of GET */
	enum upstream_accept accept;
	size_t max;			/* bytes of a 200 body kept in body (no sink); 0: none */
	int (*sink)(struct upstream_xfer *x, const char *data, size_t len);	/* 0, or -1 to abort */
	void (*on_headers)(struct upstream_xfer *x);	/* a final 200's headers arrived */
	void (*done)(struct upstream_xfer *x);		/* the end, success or not */
	void *arg;
	/* upstream_xfer_new's */
	struct proxy_section *sec;	/* must outlive x */
	char url[UPSTREAM_URL_MAX];
	/* the answer */
	int ok;				/* the exchange completed: status is the upstream's */
	long status;			/* 0: no answer */
	char ctype[256];		/* Content-Type */
	char dcd[DIGEST_STR_MAX];	/* Docker-Content-Digest, "" none */
	uint64_t clen;			/* Content-Length, if has_clen */
	int has_clen;
	char *body;			/* a 200 body without a sink, NUL-terminated; NULL: empty */
	size_t len;
	int too_big;			/* the body passed max */
	/* upstream.c's: the curl handles and the authentication dance */
	struct upstream *u;
	void *easy;			/* CURL * */
	struct curl_slist *hdrs;
	char scope[UPSTREAM_SCOPE_MAX];	/* what to ask a token for */
	int attempt;			/* 1 once authenticated */
	int basic;			/* send Basic credentials */
	struct upstream_xfer *parent;	/* a token request: for whom */
	int in_multi;
	char www[2048];			/* WWW-Authenticate (a Bearer one if any) */
	int filtered;			/* OCI-Filters-Applied present */
	int has_location;
	int result;			/* CURLcode */
	char errbuf[UPSTREAM_ERRBUF];
	struct upstream_xfer *next, *prev;	/* u's */
};

/* Load libcurl (once per process, thread-safe): 0, or -1 with the reason
 * in err.  [proxy] sections cannot work without it. */
int upstream_load(char *err, size_t cap);

/* A worker's client: a curl multi handle driven by base's loop (its socket
 * and timer callbacks).  NULL if libcurl cannot load (logged) or out of
 * memory.  Created and used on the worker's own thread only. */
struct upstream *upstream_new(struct event_base *base);
/* From now on upstream_xfer_new fails: the worker is stopping. */
void upstream_close(struct upstream *u);
/* Abort u's transfers (each owner's `done` runs with ok = 0, status 0),
 * release its curl handles, free u.  The loop must have stopped.  NULL is
 * ignored. */
void upstream_free(struct upstream *u);

/* A request of kind `what` ("manifests", "blobs", "tags/list", ...) for
 * repo (its name upstream), with ref and a query ("k=v&...", escaped) if
 * not NULL: <sec url>/v2/<repo>/<what>[/<ref>][?<query>].  The caller sets
 * the owner's fields and calls upstream_xfer_run.  NULL on failure (URL too
 * long, out of memory, closing). */
struct upstream_xfer *upstream_xfer_new(struct upstream *u, struct proxy_section *sec,
    const char *repo, const char *what, const char *ref, const char *query);
/* Start x.  If it cannot start, its `done` runs at once (ok = 0); either
 * way x belongs to upstream.c now and the caller must not touch it. */
void upstream_xfer_run(struct upstream_xfer *x);

/* The client-facing error for an upstream that did not deliver, with a
 * detail naming the section and what went wrong; unknown is the answer to
 * a 404 (and to 401/403: Docker Hub's answer for repositories that do not
 * exist). */
enum reg_error upstream_xfer_error(const struct upstream_xfer *x, enum reg_error unknown,
    char *detail, size_t cap);

/* s percent-encoded for a query value (all but ALPHA DIGIT -._~), malloc'd;
 * NULL if libcurl cannot load or out of memory. */
char *upstream_escape(const char *s);

#endif
