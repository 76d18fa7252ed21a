/* SPDX-License-Identifier: ISC
 * proxy_conf.c — the pull-through cache's pure parts (issue 6): the
 * [proxy "NAME"] sections parsed and validated (password files read), the
 * parsed sections of each config the workers use, routing a repository
 * name to a section by prefix or by containerd's ?ns= host, and
 * WWW-Authenticate challenges (RFC 7235; distribution
 * docs/spec/auth/token.md).  No network, no request: unit-tested in
 * tests/unit/test_proxy.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "proxy_conf.h"
#include "reference.h"

/* ------------------------------------------------------------ configuration */

static int proxy_conf_fail(char *err, size_t cap, const struct config *cfg,
    const struct config_section *cs, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int
proxy_conf_fail(char *err, size_t cap, const struct config *cfg, const struct config_section *cs,
    const char *key, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, cap, "%s:%d: proxy \"%s\".%s: %s", cfg->path, config_section_line(cs, key),
	    cs->name, key, why);
	return -1;
}

static int
proxy_read_password(const char *path, char *out, size_t cap, char *why, size_t whycap)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, whycap, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(out, 1, cap - 1, f);
	if (ferror(f)) {
		snprintf(why, whycap, "%s: read error", path);
		fclose(f);
		return -1;
	}
	if (n == cap - 1 && fgetc(f) != EOF) {
		snprintf(why, whycap, "%s: longer than %zu bytes", path, cap - 2);
		fclose(f);
		return -1;
	}
	fclose(f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	if (n == 0) {
		snprintf(why, whycap, "%s is empty", path);
		return -1;
	}
	return 0;
}

/* A file libcurl will read when it first talks to the upstream: check now
 * that it is there and readable, so a typo is a config error at load
 * rather than a failed pull later. */
static int
proxy_check_file(const char *path, char *out, size_t cap, char *why, size_t whycap)
{
	FILE *f;

	if (strlen(path) >= cap) {
		snprintf(why, whycap, "path longer than %zu bytes", cap - 1);
		return -1;
	}
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, whycap, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fgetc(f) == EOF) {
		snprintf(why, whycap, "%s: %s", path, ferror(f) ? "read error" : "is empty");
		fclose(f);
		return -1;
	}
	fclose(f);
	memcpy(out, path, strlen(path) + 1);
	return 0;
}

static int
proxy_section_parse(const struct config *cfg, const struct config_section *cs,
    struct proxy_section *s, char *err, size_t cap)
{
	const char *url = config_section_get(cs, "url"), *user = config_section_get(cs, "username");
	const char *pw = config_section_get(cs, "password"), *pwf = config_section_get(cs, "password_file");
	const char *prefix = config_section_get(cs, "prefix"), *ttl = config_section_get(cs, "tag_ttl");
	const char *ca = config_section_get(cs, "ca_file");
	const char *ccert = config_section_get(cs, "client_certificate");
	const char *ckey = config_section_get(cs, "client_key");
	static const char *const bools[] = {"mirror", "push", "tls_verify"};
	const char *host;
	long long secs = 600;
	size_t hlen, n;
	char why[PATH_MAX + 64];

	/* An empty value is the documented default: not set. */
	if (user != NULL && user[0] == '\0')
		user = NULL;
	if (pw != NULL && pw[0] == '\0')
		pw = NULL;
	if (pwf != NULL && pwf[0] == '\0')
		pwf = NULL;
	if (prefix != NULL && prefix[0] == '\0')
		prefix = NULL;
	if (ca != NULL && ca[0] == '\0')
		ca = NULL;
	if (ccert != NULL && ccert[0] == '\0')
		ccert = NULL;
	if (ckey != NULL && ckey[0] == '\0')
		ckey = NULL;
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", cs->name);
	s->tls_verify = 1;
	if (url == NULL || url[0] == '\0')
		return proxy_conf_fail(err, cap, cfg, cs, "url", "required (e.g. https://registry-1.docker.io)");
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return proxy_conf_fail(err, cap, cfg, cs, "url", "'%.200s' does not start with https:// or http://", url);
	if (strlen(url) >= sizeof(s->url) || strpbrk(url, " \t\"?#") != NULL)
		return proxy_conf_fail(err, cap, cfg, cs, "url", "must be a plain URL without query, at most %zu bytes",
		    sizeof(s->url) - 1);
	memcpy(s->url, url, strlen(url) + 1);
	host = strstr(s->url, "://") + 3;
	hlen = strcspn(host, "/");
	if (hlen == 0 || hlen >= sizeof(s->host))
		return proxy_conf_fail(err, cap, cfg, cs, "url", "'%.200s' has no host", url);
	/* Trailing slashes of the path go: we append "/v2/...". */
	n = strlen(s->url);
	while (s->url + n > host + hlen && s->url[n - 1] == '/')
		s->url[--n] = '\0';
	if (memchr(host, '@', hlen) != NULL)
		return proxy_conf_fail(err, cap, cfg, cs, "url", "must not carry credentials (set username and password)");
	for (size_t i = 0; i < hlen; i++)
		s->host[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] - 'A' + 'a' : host[i]);
	if (pw != NULL && pwf != NULL)
		return proxy_conf_fail(err, cap, cfg, cs, "password_file", "set password or password_file, not both");
	if ((pw != NULL || pwf != NULL) && user == NULL)
		return proxy_conf_fail(err, cap, cfg, cs, pw != NULL ? "password" : "password_file",
		    "needs username");
	if (user != NULL) {
		if (strlen(user) >= sizeof(s->username) || strchr(user, ':') != NULL)
			return proxy_conf_fail(err, cap, cfg, cs, "username", "too long or contains ':'");
		memcpy(s->username, user, strlen(user) + 1);
		if (pw == NULL && pwf == NULL)
			return proxy_conf_fail(err, cap, cfg, cs, "username", "needs password or password_file");
		if (pw != NULL) {
			if (strlen(pw) >= sizeof(s->password))
				return proxy_conf_fail(err, cap, cfg, cs, "password", "too long");
			memcpy(s->password, pw, strlen(pw) + 1);
		} else if (proxy_read_password(pwf, s->password, sizeof(s->password), why, sizeof(why)) != 0) {
			return proxy_conf_fail(err, cap, cfg, cs, "password_file", "%s", why);
		}
	}
	if (prefix != NULL) {
		if (strlen(prefix) > REFERENCE_NAME_MAX - 2 || !reference_name_valid(prefix))
			return proxy_conf_fail(err, cap, cfg, cs, "prefix",
			    "'%.200s' is not a repository name prefix (e.g. dockerhub)", prefix);
		memcpy(s->prefix, prefix, strlen(prefix) + 1);
	}
	/* A year at most: tag_ttl is kept in an int. */
	if (ttl != NULL && (config_parse_duration(ttl, &secs) != 0 || secs > 365LL * 86400))
		return proxy_conf_fail(err, cap, cfg, cs, "tag_ttl",
		    "'%.100s' is not a duration up to 365d (e.g. 30s, 10m, 24h)", ttl);
	s->tag_ttl = (int)secs;
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		const char *v = config_section_get(cs, bools[i]);
		int *field = i == 0 ? &s->mirror : i == 1 ? &s->push : &s->tls_verify;

		if (v != NULL && config_parse_bool(v, field) != 0)
			return proxy_conf_fail(err, cap, cfg, cs, bools[i], "'%.100s' is not a boolean (true/false)", v);
	}
	if (ca != NULL) {
		if (proxy_check_file(ca, s->ca_file, sizeof(s->ca_file), why, sizeof(why)) != 0)
			return proxy_conf_fail(err, cap, cfg, cs, "ca_file", "%s", why);
	} else if ((ca = getenv("SSL_CERT_FILE")) != NULL && ca[0] != '\0') {
		/* What OpenSSL and the curl command honour; libcurl alone
		 * would ignore it in favour of its built-in bundle. */
		if (proxy_check_file(ca, s->ca_file, sizeof(s->ca_file), why, sizeof(why)) != 0)
			return proxy_conf_fail(err, cap, cfg, cs, "ca_file",
			    "unset, and SSL_CERT_FILE names %s", why);
	}
	if ((ccert == NULL) != (ckey == NULL))
		return proxy_conf_fail(err, cap, cfg, cs, ccert == NULL ? "client_key" : "client_certificate",
		    "needs %s too (mutual TLS takes both)", ccert == NULL ? "client_certificate" : "client_key");
	if (ccert != NULL) {
		if (strncmp(s->url, "https://", 8) != 0)
			return proxy_conf_fail(err, cap, cfg, cs, "client_certificate",
			    "the url is not https://");
		if (proxy_check_file(ccert, s->client_certificate, sizeof(s->client_certificate), why,
		    sizeof(why)) != 0)
			return proxy_conf_fail(err, cap, cfg, cs, "client_certificate", "%s", why);
		if (proxy_check_file(ckey, s->client_key, sizeof(s->client_key), why, sizeof(why)) != 0)
			return proxy_conf_fail(err, cap, cfg, cs, "client_key", "%s", why);
	}
	return 0;
}

void
proxy_conf_free(struct proxy_conf *pc)
{
	if (pc == NULL)
		return;
	for (size_t i = 0; i < pc->n; i++)
		explicit_bzero(pc->sections[i].password, sizeof(pc->sections[i].password));
	free(pc->sections);
	free(pc);
}

int
proxy_conf_parse(const struct config *cfg, struct proxy_conf **out, char *err, size_t cap)
{
	struct proxy_conf *pc;
	size_t n = 0;

	*out = NULL;
	for (size_t i = 0; i < cfg->nsections; i++)
		if (strcmp(cfg->sections[i].kind, "proxy") == 0)
			n++;
	if ((pc = calloc(1, sizeof(*pc))) == NULL ||
	    (n > 0 && (pc->sections = calloc(n, sizeof(*pc->sections))) == NULL)) {
		free(pc);
		snprintf(err, cap, "%s: out of memory", cfg->path);
		return -1;
	}
	pc->serial = cfg->serial;
	pc->refs = 1;
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct config_section *cs = &cfg->sections[i];
		struct proxy_section *s = &pc->sections[pc->n];

		if (strcmp(cs->kind, "proxy") != 0)
			continue;
		if (proxy_section_parse(cfg, cs, s, err, cap) != 0)
			goto fail;
		for (size_t j = 0; j < pc->n; j++) {
			if (s->prefix[0] != '\0' && strcmp(pc->sections[j].prefix, s->prefix) == 0) {
				proxy_conf_fail(err, cap, cfg, cs, "prefix", "'%s' is also the prefix of [proxy \"%s\"]",
				    s->prefix, pc->sections[j].name);
				goto fail;
			}
		}
		if (s->mirror) {
			if (pc->mirror != NULL) {
				proxy_conf_fail(err, cap, cfg, cs, "mirror", "[proxy \"%s\"] is the mirror already",
				    pc->mirror->name);
				goto fail;
			}
			pc->mirror = s;
		}
		pc->n++;
	}
	*out = pc;
	return 0;
fail:
	pc->n++;	/* wipe the failed section's password too */
	proxy_conf_free(pc);
	return -1;
}

/* ------------------------------------------------------------ routing */

const struct proxy_section *
proxy_route_prefix(const struct proxy_conf *pc, const char *name, const char **rest)
{
	const struct proxy_section *best = NULL;
	size_t bestlen = 0;

	for (size_t i = 0; i < pc->n; i++) {
		const struct proxy_section *s = &pc->sections[i];
		size_t n = strlen(s->prefix);

		if (n == 0 || n <= bestlen || strncmp(name, s->prefix, n) != 0 || name[n] != '/' ||
		    name[n + 1] == '\0')
			continue;
		best = s;
		bestlen = n;
	}
	if (best != NULL)
		*rest = name + bestlen + 1;
	return best;
}

const struct proxy_section *
proxy_route_ns(const struct proxy_conf *pc, const char *ns)
{
	for (size_t i = 0; i < pc->n; i++)
		if (strcasecmp(pc->sections[i].host, ns) == 0)
			return &pc->sections[i];
	/* containerd calls Docker Hub docker.io; its API is elsewhere. */
	if (strcasecmp(ns, "docker.io") == 0)
		for (size_t i = 0; i < pc->n; i++)
			if (strcmp(pc->sections[i].host, "registry-1.docker.io") == 0 ||
			    strcmp(pc->sections[i].host, "index.docker.io") == 0)
				return &pc->sections[i];
	return NULL;
}

/* The parsed configs someone holds, found by config serial: each worker
 * holds the one of the config it last served a proxy request under, and
 * each fetch the one it began with; the last reference frees it. */
static pthread_mutex_t proxy_conf_mu = PTHREAD_MUTEX_INITIALIZER;
static struct proxy_conf *proxy_confs;

struct proxy_conf *
proxy_conf_get(const struct config *cfg)
{
	struct proxy_conf *pc, *made = NULL;
	char err[1024];
	int any = 0;

	for (size_t i = 0; i < cfg->nsections && !any; i++)
		any = strcmp(cfg->sections[i].kind, "proxy") == 0;
	if (!any)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		pthread_mutex_lock(&proxy_conf_mu);
		for (pc = proxy_confs; pc != NULL; pc = pc->next)
			if (pc->serial == cfg->serial)
				break;
		if (pc != NULL) {
			pc->refs++;
		} else if (made != NULL) {
			pc = made;
			made = NULL;
			pc->listed = 1;
			pc->next = proxy_confs;
			proxy_confs = pc;
		}
		pthread_mutex_unlock(&proxy_conf_mu);
		if (pc != NULL || pass == 1)
			break;
		/* Parsed outside the lock (it reads password files); the
		 * second pass takes whichever of two racing parses came first. */
		if (proxy_conf_parse(cfg, &made, err, sizeof(err)) != 0) {
			log_error("proxy: %s; the pull-through cache is off", err);
			if ((made = calloc(1, sizeof(*made))) == NULL)
				return NULL;
			made->serial = cfg->serial;
			made->refs = 1;
		}
	}
	proxy_conf_free(made);	/* another thread's parse won */
	return pc;
}

struct proxy_conf *
proxy_conf_ref(struct proxy_conf *pc)
{
	pthread_mutex_lock(&proxy_conf_mu);
	pc->refs++;
	pthread_mutex_unlock(&proxy_conf_mu);
	return pc;
}

void
proxy_conf_unref(struct proxy_conf *pc)
{
	struct proxy_conf **pp;
	int gone;

	if (pc == NULL)
		return;
	pthread_mutex_lock(&proxy_conf_mu);
	if ((gone = --pc->refs == 0) && pc->listed) {
		for (pp = &proxy_confs; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == pc) {
				*pp = pc->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&proxy_conf_mu);
	if (gone)
		proxy_conf_free(pc);
}

/* ------------------------------------------------------------ challenges */

static int
proxy_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~/", c) != NULL);
}

int
proxy_challenge_parse(const char *v, struct proxy_challenge *out)
{
	const char *p = v;
	size_t n;

	memset(out, 0, sizeof(*out));
	p += strspn(p, " \t");
	for (n = 0; proxy_tchar(p[n]) && p[n] != '/'; n++)
		;
	if (n == 0 || n >= sizeof(out->scheme))
		return -1;
	for (size_t i = 0; i < n; i++)
		out->scheme[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
	p += n;
	for (;;) {
		char key[32], val[1024];
		size_t kn = 0, vn = 0;
		char *dst = NULL;
		size_t dcap = 0;

		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		while (proxy_tchar(p[kn]) && p[kn] != '/')
			kn++;
		if (kn == 0)
			return -1;
		{
			const char *q = p + kn;

			q += strspn(q, " \t");
			if (*q != '=')
				break;	/* the next challenge begins: keep the first */
			if (kn >= sizeof(key))
				kn = sizeof(key) - 1;	/* unknown anyway */
			memcpy(key, p, kn);
			key[kn] = '\0';
			p = q + 1;
		}
		p += strspn(p, " \t");
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0')
					return -1;
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (vn + 1 >= sizeof(val))
					return -1;
				val[vn++] = *p;
			}
			p++;
		} else {
			while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') {
				if (vn + 1 >= sizeof(val))
					return -1;
				val[vn++] = *p++;
			}
		}
		val[vn] = '\0';
		if (strcasecmp(key, "realm") == 0) {
			dst = out->realm;
			dcap = sizeof(out->realm);
		} else if (strcasecmp(key, "service") == 0) {
			dst = out->service;
			dcap = sizeof(out->service);
		} else if (strcasecmp(key, "scope") == 0) {
			dst = out->scope;
			dcap = sizeof(out->scope);
		} else if (strcasecmp(key, "error") == 0) {
			dst = out->error;
			dcap = sizeof(out->error);
		}
		if (dst != NULL) {
			if (vn >= dcap)
				return -1;
			memcpy(dst, val, vn + 1);
		}
	}
	return 0;
}
