/* proxy_conf.h — the pull-through cache's [proxy "NAME"] sections, parsed
 * and validated, routing by prefix and ?ns= host, and upstream
 * WWW-Authenticate challenges.  Pure functions (unit tests), beside the
 * parsed-config cache; no network. */
#ifndef OCIREGD_PROXY_CONF_H
#define OCIREGD_PROXY_CONF_H

#include <limits.h>
#include <stddef.h>

#include "reference.h"

struct config;

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
	/* PEM files handed to libcurl; "" = not set.  ca_file replaces the
	 * system's CAs (it is SSL_CERT_FILE's value when unset and that is
	 * set); the client pair is set together or not at all. */
	char ca_file[PATH_MAX];
	char client_certificate[PATH_MAX];
	char client_key[PATH_MAX];
	int basic;			/* learned: the upstream asks for Basic (atomic) */
};

/* Every [proxy] section of one config. */
struct proxy_conf {
	unsigned long serial;		/* the config's (struct config) */
	struct proxy_section *sections;	/* n entries, file order */
	size_t n;
	struct proxy_section *mirror;	/* NULL if no section sets mirror */
	int refs;			/* proxy_conf_get's, under its lock */
	int listed;			/* on proxy_conf_get's list */
	struct proxy_conf *next;
};

/* Parse and validate cfg's [proxy] sections (reads password files).  0 with
 * *out malloc'd, one reference (proxy_conf_free or proxy_conf_unref), or -1 with "FILE:LINE: proxy "NAME".key:
 * reason" in err. */
int proxy_conf_parse(const struct config *cfg, struct proxy_conf **out, char *err, size_t cap);
void proxy_conf_free(struct proxy_conf *pc);

/* A reference to the parsed sections of cfg: parsed on first use, shared
 * by every thread asking for the same config, freed with the last
 * reference (proxy_conf_unref).  It points into nothing of cfg, so it may
 * outlive it: an upstream fetch that outlives its request holds one.  cfg
 * was checked at start-up or reload, so a failure here is a password file
 * gone meanwhile: logged, and an empty one is returned (the cache is off).
 * NULL if cfg has no [proxy] section or out of memory.  Any thread. */
struct proxy_conf *proxy_conf_get(const struct config *cfg);
/* Another reference to pc (which the caller holds). */
struct proxy_conf *proxy_conf_ref(struct proxy_conf *pc);
/* Drop a reference of proxy_conf_get or proxy_conf_ref; NULL is ignored. */
void proxy_conf_unref(struct proxy_conf *pc);

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

#endif
