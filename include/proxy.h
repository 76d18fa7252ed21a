/* proxy.h — the pull-through cache: [proxy "NAME"] sections put upstream
 * registries behind this one (issue 6).
 *
 * A request reaches a section by prefix (/v2/<prefix>/<upstream repo>/...),
 * by containerd's ?ns=<upstream host>, or, for a repository that is not
 * local and matches no prefix, through the one section with mirror = true.
 * What is fetched is stored under the name the client used (with ?ns= and
 * a section prefix: <prefix>/<name>) and marked as cached.  Cached
 * repositories are read-only unless the section says push = true.
 *
 * The sections, routing and challenges are proxy_conf.h's (pure, unit
 * tests); the upstream HTTP client is upstream.h's (the only user of
 * libcurl).  What is here runs on the worker threads. */
#ifndef OCIREGD_PROXY_H
#define OCIREGD_PROXY_H

#include <stddef.h>

#include "proxy_conf.h"
#include "reference.h"

struct config;
struct request;
struct worker;

/* The start-up and reload check: proxy_conf_parse without keeping it, and
 * with [proxy] sections, that libcurl loads (upstream_load). */
int proxy_config_check(const struct config *cfg, char *err, size_t cap);

/* The repository a request addresses, resolved before authorization (the
 * router's resolve gate): a section and the upstream name, or local. */
struct proxy_target {
	struct proxy_conf *conf;	/* sec's: held by the worker while it routes */
	struct proxy_section *sec;	/* NULL: a local repository */
	char upstream[REFERENCE_NAME_MAX + 1];	/* the name upstream */
	char local[REFERENCE_NAME_MAX + 1];	/* the name stored and served here */
};

/* Resolve the request's URL name (req->m.url_name) for a read (write = 0)
 * or a write: by ?ns=, by a section's prefix, or through the mirror
 * section.  Returns 0 with t->sec NULL and t->local = the URL name (local),
 * 1 with t filled (a [proxy] section applies), or a negated reg_error.
 * Reads the metadata store (mirror mode); never blocks on the network. */
int proxy_resolve(struct request *req, int write, struct proxy_target *t);

/* The cache's handler, called after the gates passed for t (proxy_resolve
 * returned 1; req->m.name is t->local).  Returns 1 if the proxy answered
 * (or will answer: deferred), 0 to let the local handler run (a push the
 * section allows).  Never blocks on the network. */
int proxy_handle(struct request *req, const struct proxy_target *t);

/* Before a worker's event base is freed (server_free): abort its upstream
 * transfers, answer the requests waiting on this worker, release its curl
 * handles.  The loops must have stopped. */
void proxy_worker_free(struct worker *w);

#endif
