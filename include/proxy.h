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
 * The parsing and routing functions below are pure (unit tests); the rest
 * runs on the worker threads.  libcurl is used only in proxy.c. */
#ifndef OCIREGD_PROXY_H
#define OCIREGD_PROXY_H

#include <stddef.h>

#include "reference.h"

struct config;
struct request;
struct worker;

/* One [proxy "NAME"] section, parsed and validated. */
struct proxy_section {
	char name[256];
	char url[1024];			/* base URL, no trailing slash */
	char host[256];			/* host[:port] of url, lowercased */
	char username[256];		/* "" = anonymous */
	char password[1024];		/* from password or password_file */
	char prefix[REFERENCE_NAME_MAX + 1];	/* "" = none */
	int tag_ttl;			/* seconds a tag is served before a HEAD upstream */
	int mirror;			/* the section for non-local repositories */
	int push;			/* clients may push to its repositories */
	int tls_verify;
	int basic;			/* learned: the upstream asks for Basic (atomic) */
};

/* Every [proxy] section of one config. */
struct proxy_conf {
	const struct config *cfg;
	struct proxy_section *sections;	/* n entries, file order */
	size_t n;
	struct proxy_section *mirror;	/* NULL if no section sets mirror */
	struct proxy_conf *next;	/* proxy.c's list of parsed configs */
};

/* Parse and validate cfg's [proxy] sections (reads password files).  0 with
 * *out malloc'd (proxy_conf_free), or -1 with "FILE:LINE: proxy "NAME".key:
 * reason" in err. */
int proxy_conf_parse(const struct config *cfg, struct proxy_conf **out, char *err, size_t cap);
void proxy_conf_free(struct proxy_conf *pc);
/* The start-up and reload check: proxy_conf_parse without keeping it. */
int proxy_config_check(const struct config *cfg, char *err, size_t cap);

/* The section whose prefix begins name ("<prefix>/<rest>", the longest
 * prefix wins); *rest points into name.  NULL if none. */
const struct proxy_section *proxy_route_prefix(const struct proxy_conf *pc, const char *name,
    const char **rest);
/* The section whose url host (host[:port], case-insensitive) is ns;
 * containerd's "docker.io" also matches registry-1.docker.io and
 * index.docker.io.  The first in file order; NULL if none. */
const struct proxy_section *proxy_route_ns(const struct proxy_conf *pc, const char *ns);

/* A parsed WWW-Authenticate challenge (RFC 7235; Docker's token spec). */
struct proxy_challenge {
	char scheme[16];		/* lowercased: "bearer", "basic", ... */
	char realm[1024];
	char service[256];
	char scope[1024];
	char error[64];
};
/* Parse the first challenge of a header value: scheme, then
 * comma-separated key=value or key="quoted \"value\"" parameters
 * (case-insensitive keys; unknown ones ignored).  0, or -1 if malformed or
 * a known value is too long. */
int proxy_challenge_parse(const char *value, struct proxy_challenge *out);

/* The repository a request addresses, resolved before authorization (the
 * router's resolve gate): a section and the upstream name, or local. */
struct proxy_target {
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
