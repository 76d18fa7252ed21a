/* SPDX-License-Identifier: ISC
 * proxy.c — the pull-through cache (issue 6): [proxy "NAME"] sections put
 * an upstream registry behind /v2/<prefix>/..., behind containerd's
 * ?ns=<host>, or (the one `mirror` section) behind every repository that is
 * not local, as docker's registry-mirrors and containerd's hosts.toml
 * address a mirror.
 *
 * What is fetched enters the normal metadata under the name the client used,
 * marked as cached, so catalog, gc and fsck see it.  Manifests by digest are
 * fetched once, verified and kept; manifests by tag are revalidated with a
 * HEAD (which Docker Hub does not count as a pull) once tag_ttl has passed,
 * fetched again only when the digest changed, and served stale when the
 * upstream is down.  A missing blob is written to a spool file and hashed
 * while it arrives, and each client is sent the spool's new bytes as they
 * land (all but the last byte, which goes out only once the digest
 * matched: a client of bad bytes sees a short body).  Concurrent requests
 * for the same content share one upstream transfer (struct proxy_fetch in a
 * process-wide table); a client leaving does not stop it.  Upstream
 * authentication is Docker's token protocol (distribution
 * docs/spec/auth/token.md: anonymous or with Basic credentials, tokens
 * cached per section and scope until they expire) or plain Basic.
 *
 * libcurl stays in this file.  Each worker drives its own CURLM from its
 * libevent loop (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION); nothing here
 * waits on the network.  Like the other handlers it does SQLite and small
 * disk writes on the worker thread; the fsync and rename of a fetched blob
 * run on the pool.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "curl_dl.h"
#include "handlers.h"
#include "log.h"
#include "meta.h"
#include "metrics.h"
#include "oci.h"
#include "pool.h"
#include "proxy.h"
#include "range.h"
#include "server.h"
#include "store.h"

#define PROXY_URL_MAX 2048
#define PROXY_SCOPE_MAX (REFERENCE_NAME_MAX + 32)
#define PROXY_TOKEN_MAX 16384
#define PROXY_TOKEN_BODY_MAX (64u << 10)
#define PROXY_LIST_BODY_MAX (4u << 20)	/* tags list, referrers index */
#define PROXY_TAGS_MAX 100000		/* tags merged into one listing */
#define PROXY_TAGS_PAGE_MAX 10000L	/* as tags.c */
#define PROXY_KEY_MAX (2 + REFERENCE_NAME_MAX + 1 + DIGEST_STR_MAX + 1)
#define PROXY_STREAM_HIGH (4u << 20)	/* queued to one client at most */
#define PROXY_SLICE (1u << 20)
#define PROXY_TOKENS_MAX 512
#define PROXY_ACCEPT_MANIFESTS "Accept: " OCI_MT_MANIFEST ", " OCI_MT_INDEX ", " \
	OCI_MT_DOCKER_MANIFEST ", " OCI_MT_DOCKER_LIST

/* Copy src into dst (cap bytes), cutting it short if it does not fit. */
static void
proxy_strlcpy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

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

static int
proxy_section_parse(const struct config *cfg, const struct config_section *cs,
    struct proxy_section *s, char *err, size_t cap)
{
	const char *url = config_section_get(cs, "url"), *user = config_section_get(cs, "username");
	const char *pw = config_section_get(cs, "password"), *pwf = config_section_get(cs, "password_file");
	const char *prefix = config_section_get(cs, "prefix"), *ttl = config_section_get(cs, "tag_ttl");
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
	pc->cfg = cfg;
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

int
proxy_config_check(const struct config *cfg, char *err, size_t cap)
{
	struct proxy_conf *pc;

	char why[256];
	size_t n;

	if (proxy_conf_parse(cfg, &pc, err, cap) != 0)
		return -1;
	n = pc->n;
	proxy_conf_free(pc);
	/* Without libcurl a [proxy] section cannot work: say so at start. */
	if (n > 0 && curl_dl_load(why, sizeof(why)) != 0) {
		snprintf(err, cap, "%s: [proxy] sections need libcurl: %s", cfg->path, why);
		return -1;
	}
	return 0;
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

/* The parsed configs, one per config object the workers have used (a
 * reload makes a new one; old ones stay until exit, as the server keeps
 * old configs: requests in flight point into them). */
static pthread_mutex_t proxy_conf_mu = PTHREAD_MUTEX_INITIALIZER;
static struct proxy_conf *proxy_confs;

static struct proxy_conf *
proxy_conf_for(const struct config *cfg)
{
	struct proxy_conf *pc;
	char err[1024];
	int any = 0;

	for (size_t i = 0; i < cfg->nsections && !any; i++)
		any = strcmp(cfg->sections[i].kind, "proxy") == 0;
	if (!any)
		return NULL;
	pthread_mutex_lock(&proxy_conf_mu);
	for (pc = proxy_confs; pc != NULL; pc = pc->next)
		if (pc->cfg == cfg)
			break;
	if (pc == NULL) {
		/* Checked at start-up and reload: a failure here is a
		 * password file that went away meanwhile. */
		if (proxy_conf_parse(cfg, &pc, err, sizeof(err)) != 0) {
			log_error("proxy: %s; the pull-through cache is off", err);
			if ((pc = calloc(1, sizeof(*pc))) != NULL)
				pc->cfg = cfg;
		}
		if (pc != NULL) {
			pc->next = proxy_confs;
			proxy_confs = pc;
		}
	}
	pthread_mutex_unlock(&proxy_conf_mu);
	return pc != NULL && pc->n > 0 ? pc : NULL;
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

/* ------------------------------------------------------------ tokens */

struct proxy_token {
	char key[sizeof(((struct proxy_section *)0)->url) + 256 + PROXY_SCOPE_MAX + 4];
	char *token;
	time_t expires;
	struct proxy_token *next;
};

static pthread_mutex_t proxy_tok_mu = PTHREAD_MUTEX_INITIALIZER;
static struct proxy_token *proxy_tokens;
static size_t proxy_ntokens;

static void
proxy_token_key(const struct proxy_section *s, const char *scope, char *out, size_t cap)
{
	/* Per upstream and identity, not per section name: a reload that
	 * keeps the upstream keeps its tokens. */
	snprintf(out, cap, "%s\n%s\n%s", s->url, s->username, scope);
}

/* Copy a cached, unexpired token for (s, scope) into out: 1 if found. */
static int
proxy_token_get(const struct proxy_section *s, const char *scope, char *out, size_t cap)
{
	char key[sizeof(((struct proxy_token *)0)->key)];
	struct proxy_token *t;
	int found = 0;

	proxy_token_key(s, scope, key, sizeof(key));
	pthread_mutex_lock(&proxy_tok_mu);
	for (t = proxy_tokens; t != NULL; t = t->next) {
		if (strcmp(t->key, key) == 0 && t->expires > time(NULL) && strlen(t->token) < cap) {
			memcpy(out, t->token, strlen(t->token) + 1);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&proxy_tok_mu);
	return found;
}

static void
proxy_token_free(struct proxy_token *t)
{
	explicit_bzero(t->token, strlen(t->token));
	free(t->token);
	free(t);
}

static void
proxy_token_put(const struct proxy_section *s, const char *scope, const char *token,
    long long expires_in)
{
	struct proxy_token *t, **pp;
	time_t now = time(NULL);

	if ((t = calloc(1, sizeof(*t))) == NULL || (t->token = strdup(token)) == NULL) {
		free(t);
		return;
	}
	proxy_token_key(s, scope, t->key, sizeof(t->key));
	/* A little early, so a token never expires on its way upstream. */
	t->expires = now + (expires_in > 20 ? (time_t)expires_in - 10 : (time_t)expires_in / 2 + 1);
	pthread_mutex_lock(&proxy_tok_mu);
	for (pp = &proxy_tokens; *pp != NULL;) {
		struct proxy_token *o = *pp;

		if (strcmp(o->key, t->key) == 0 || o->expires <= now) {
			*pp = o->next;
			proxy_token_free(o);
			proxy_ntokens--;
		} else {
			pp = &o->next;
		}
	}
	if (proxy_ntokens >= PROXY_TOKENS_MAX) {
		/* Full of live tokens: drop the oldest (the list's tail). */
		for (pp = &proxy_tokens; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		proxy_token_free(*pp);
		*pp = NULL;
		proxy_ntokens--;
	}
	t->next = proxy_tokens;
	proxy_tokens = t;
	proxy_ntokens++;
	pthread_mutex_unlock(&proxy_tok_mu);
}

/* ------------------------------------------------------------ curl on libevent */

struct proxy_xfer;

/* A worker's curl state: created on its first upstream request. */
struct proxy_worker {
	struct worker *w;
	CURLM *multi;
	struct event *timer;
	struct proxy_xfer *xfers;	/* running, or waiting for a token */
	int closing;
	struct proxy_worker *next;
};

/* One upstream request, with the authentication dance around it. */
struct proxy_xfer {
	struct proxy_worker *pw;
	struct proxy_section *sec;
	CURL *easy;
	struct curl_slist *hdrs;
	char url[PROXY_URL_MAX];
	char scope[PROXY_SCOPE_MAX];	/* what to ask a token for */
	int head;
	int accept;			/* 0 none, 1 manifests, 2 an index */
	int attempt;			/* 1 once authenticated */
	int basic;			/* send Basic credentials */
	struct proxy_xfer *parent;	/* a token request: for whom */
	int in_multi;
	/* the current response */
	long status;
	char ctype[256];
	char dcd[DIGEST_STR_MAX];	/* Docker-Content-Digest */
	char www[2048];			/* WWW-Authenticate (a Bearer one if any) */
	int filtered;			/* OCI-Filters-Applied present */
	int has_location;
	uint64_t clen;
	int has_clen;
	char *body;			/* 200 bodies without a sink, up to max */
	size_t len, max;
	int too_big;
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
	/* the owner's */
	int (*sink)(struct proxy_xfer *x, const char *data, size_t len);
	void (*on_headers)(struct proxy_xfer *x);	/* a final 200's headers */
	void (*done)(struct proxy_xfer *x);		/* then x is freed */
	void *arg;
	struct proxy_xfer *next, *prev;
};

static pthread_mutex_t proxy_mu = PTHREAD_MUTEX_INITIALIZER;	/* workers, fetches, waiters */
static struct proxy_worker *proxy_workers;
/* libcurl is loaded on first use (curl_dl.h); 0 once it is there. */
static int
proxy_curl_ready(void)
{
	char err[256];

	if (curl_dl_load(err, sizeof(err)) == 0)
		return 0;
	log_error("proxy: %s", err);
	return -1;
}

static void proxy_xfer_finished(struct proxy_xfer *x);

static void
proxy_worker_check(struct proxy_worker *pw)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(pw->multi, &left)) != NULL) {
		struct proxy_xfer *x;
		CURL *e = msg->easy_handle;
		CURLcode res = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;

		curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		x = (struct proxy_xfer *)(void *)priv;
		curl_multi_remove_handle(pw->multi, e);
		if (x == NULL)
			continue;
		x->in_multi = 0;
		x->result = res;
		proxy_xfer_finished(x);
	}
}

static void
proxy_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_worker *pw = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(pw->multi, fd, flags, &running);
	proxy_worker_check(pw);
}

static void
proxy_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_worker *pw = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(pw->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	proxy_worker_check(pw);
}

static int
proxy_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct proxy_worker *pw = userp;
	struct event *ev = socketp;
	short kind;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (ev == NULL) {
		if ((ev = event_new(pw->w->base, s, kind, proxy_event_cb, pw)) == NULL)
			return -1;
		curl_multi_assign(pw->multi, s, ev);
	} else {
		event_del(ev);
		event_assign(ev, pw->w->base, s, kind, proxy_event_cb, pw);
	}
	return event_add(ev, NULL);
}

static int
proxy_timer_set(CURLM *multi, long ms, void *userp)
{
	struct proxy_worker *pw = userp;
	struct timeval tv;

	(void)multi;
	if (ms < 0)
		return evtimer_del(pw->timer);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(pw->timer, &tv);
}

/* This worker's curl state, created on first use (on its own thread). */
static struct proxy_worker *
proxy_worker_get(struct worker *w)
{
	struct proxy_worker *pw;

	if (proxy_curl_ready() != 0)
		return NULL;
	pthread_mutex_lock(&proxy_mu);
	for (pw = proxy_workers; pw != NULL; pw = pw->next)
		if (pw->w == w)
			break;
	pthread_mutex_unlock(&proxy_mu);
	if (pw != NULL)
		return pw->closing ? NULL : pw;
	if ((pw = calloc(1, sizeof(*pw))) == NULL)
		return NULL;
	pw->w = w;
	if ((pw->multi = curl_multi_init()) == NULL ||
	    (pw->timer = evtimer_new(w->base, proxy_timer_cb, pw)) == NULL) {
		if (pw->multi != NULL)
			curl_multi_cleanup(pw->multi);
		free(pw);
		return NULL;
	}
	curl_multi_setopt(pw->multi, CURLMOPT_SOCKETFUNCTION, proxy_socket_cb);
	curl_multi_setopt(pw->multi, CURLMOPT_SOCKETDATA, pw);
	curl_multi_setopt(pw->multi, CURLMOPT_TIMERFUNCTION, proxy_timer_set);
	curl_multi_setopt(pw->multi, CURLMOPT_TIMERDATA, pw);
	pthread_mutex_lock(&proxy_mu);
	pw->next = proxy_workers;
	proxy_workers = pw;
	pthread_mutex_unlock(&proxy_mu);
	return pw;
}

/* ------------------------------------------------------------ transfers */

static void
proxy_xfer_reset_response(struct proxy_xfer *x)
{
	x->status = 0;
	x->ctype[0] = x->dcd[0] = x->www[0] = '\0';
	x->filtered = x->has_location = x->has_clen = 0;
	x->clen = 0;
}

static size_t
proxy_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct proxy_xfer *x = arg;
	size_t len = size * nitems, nlen;
	const char *v;
	char val[2048];
	size_t vlen;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', len);

		proxy_xfer_reset_response(x);
		if (sp != NULL && (size_t)(sp - buf) + 4 <= len && sp[1] >= '1' && sp[1] <= '5')
			x->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		return len;
	}
	if (len <= 2 && (len == 0 || buf[0] == '\r' || buf[0] == '\n')) {
		/* End of one response's headers: interim and followed
		 * redirects are not the final answer. */
		if (x->status < 200 || (x->status >= 300 && x->status < 400 && x->has_location))
			return len;
		if (x->status == 200 && x->on_headers != NULL)
			x->on_headers(x);
		return len;
	}
	if ((v = memchr(buf, ':', len)) == NULL)
		return len;
	nlen = (size_t)(v - buf);
	v++;
	while (v < buf + len && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(buf + len - v);
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= sizeof(val))
		return len;	/* no header we read is that long */
	memcpy(val, v, vlen);
	val[vlen] = '\0';
#define HDR_IS(s) (nlen == sizeof(s) - 1 && strncasecmp(buf, s, nlen) == 0)
	if (HDR_IS("Content-Type")) {
		proxy_strlcpy(x->ctype, sizeof(x->ctype), val);
	} else if (HDR_IS("Docker-Content-Digest")) {
		proxy_strlcpy(x->dcd, sizeof(x->dcd), val);
	} else if (HDR_IS("Content-Length")) {
		if (range_parse_u64(val, val + vlen, &x->clen) == 0)
			x->has_clen = 1;
	} else if (HDR_IS("WWW-Authenticate")) {
		if (x->www[0] == '\0' || (strncasecmp(x->www, "bearer", 6) != 0 &&
		    strncasecmp(val, "bearer", 6) == 0))
			proxy_strlcpy(x->www, sizeof(x->www), val);
	} else if (HDR_IS("OCI-Filters-Applied")) {
		x->filtered = 1;
	} else if (HDR_IS("Location")) {
		x->has_location = 1;
	}
#undef HDR_IS
	return len;
}

static size_t
proxy_write_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct proxy_xfer *x = arg;
	size_t len = size * nitems;

	if (x->status != 200)
		return len;	/* an error's body: not needed */
	if (x->sink != NULL)
		return x->sink(x, data, len) == 0 ? len : 0;
	if (x->max == 0)
		return len;
	if (len > x->max - x->len) {
		x->too_big = 1;
		return 0;
	}
	if (x->body == NULL && (x->body = malloc(x->max + 1)) == NULL)
		return 0;
	memcpy(x->body + x->len, data, len);
	x->len += len;
	x->body[x->len] = '\0';
	return len;
}

static struct proxy_xfer *
proxy_xfer_new(struct proxy_worker *pw, struct proxy_section *sec)
{
	struct proxy_xfer *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->pw = pw;
	x->sec = sec;
	x->next = pw->xfers;
	if (pw->xfers != NULL)
		pw->xfers->prev = x;
	pw->xfers = x;
	return x;
}

static void
proxy_xfer_free(struct proxy_xfer *x)
{
	if (x->easy != NULL) {
		if (x->in_multi)
			curl_multi_remove_handle(x->pw->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		x->pw->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	free(x->body);
	free(x);
}

/* (Re)start x: a fresh easy handle with the credentials it has now. */
static int
proxy_xfer_start(struct proxy_xfer *x)
{
	struct proxy_section *s = x->sec;
	char *tok = NULL;
	CURL *e;

	if (x->easy != NULL) {
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	proxy_xfer_reset_response(x);
	free(x->body);
	x->body = NULL;
	x->len = 0;
	x->too_big = 0;
	x->errbuf[0] = '\0';
	if (x->pw->closing || (e = curl_easy_init()) == NULL)
		return -1;
	x->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, proxy_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, proxy_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "ociregd-proxy");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Blob storage answers with a redirect (307 to a CDN); curl drops
	 * our Authorization when the host changes. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	/* A stalled transfer ends; a slow one does not. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
	if (x->sink == NULL)
		curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
	if (!s->tls_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (x->head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (x->accept == 1)
		x->hdrs = curl_slist_append(x->hdrs, PROXY_ACCEPT_MANIFESTS);
	else if (x->accept == 2)
		x->hdrs = curl_slist_append(x->hdrs, "Accept: " OCI_MT_INDEX);
	if (x->parent != NULL || x->basic || __atomic_load_n(&s->basic, __ATOMIC_RELAXED)) {
		/* The token endpoint, or an upstream that wants Basic. */
		if (s->username[0] != '\0') {
			curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(e, CURLOPT_USERNAME, s->username);
			curl_easy_setopt(e, CURLOPT_PASSWORD, s->password);
		}
	}
	if (x->parent == NULL && (tok = malloc(PROXY_TOKEN_MAX + 32)) != NULL) {
		memcpy(tok, "Authorization: Bearer ", 22);
		if (proxy_token_get(s, x->scope, tok + 22, PROXY_TOKEN_MAX))
			x->hdrs = curl_slist_append(x->hdrs, tok);
		explicit_bzero(tok, PROXY_TOKEN_MAX + 32);
		free(tok);
	}
	if (x->hdrs != NULL)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	if (curl_multi_add_handle(x->pw->multi, e) != CURLM_OK)
		return -1;
	x->in_multi = 1;
	return 0;
}

/* Start x; on failure its done runs now (with x->result set) and x is
 * freed.  Either way the caller must not touch x afterwards. */
static void
proxy_xfer_run(struct proxy_xfer *x)
{
	if (proxy_xfer_start(x) != 0) {
		x->result = CURLE_FAILED_INIT;
		x->status = 0;
		x->done(x);
		proxy_xfer_free(x);
	}
}

static void
proxy_token_done(struct proxy_xfer *t)
{
	struct proxy_xfer *x = t->parent;
	char *tok;
	long long expires = 60;

	if ((tok = malloc(PROXY_TOKEN_MAX)) != NULL && t->result == CURLE_OK && t->status == 200 &&
	    t->body != NULL && oci_token_parse(t->body, t->len, tok, PROXY_TOKEN_MAX, &expires) == 0) {
		proxy_token_put(x->sec, x->scope, tok, expires);
		explicit_bzero(tok, PROXY_TOKEN_MAX);
		free(tok);
		if (proxy_xfer_start(x) == 0)
			return;
		x->result = CURLE_FAILED_INIT;
		x->status = 0;
	} else {
		free(tok);
		log_warn("proxy %s: token request for %s failed: %s", x->sec->name, x->scope,
		    t->result != CURLE_OK ? curl_easy_strerror(t->result) :
		    t->status == 401 ? "credentials refused (HTTP 401)" : "no token in the answer");
	}
	x->done(x);	/* with the upstream's 401 */
	proxy_xfer_free(x);
}

/* x's easy handle finished (and left the multi handle). */
static void
proxy_xfer_finished(struct proxy_xfer *x)
{
	struct proxy_challenge ch;

	if (x->parent != NULL) {
		x->done(x);
		proxy_xfer_free(x);
		return;
	}
	if (x->result == CURLE_OK && x->status == 401 && x->attempt == 0 && !x->pw->closing &&
	    proxy_challenge_parse(x->www, &ch) == 0) {
		x->attempt = 1;
		if (strcmp(ch.scheme, "bearer") == 0 && (strncmp(ch.realm, "https://", 8) == 0 ||
		    strncmp(ch.realm, "http://", 7) == 0)) {
			struct proxy_xfer *t = proxy_xfer_new(x->pw, x->sec);
			char *svc = curl_easy_escape(NULL, ch.service, 0);
			char *scope = curl_easy_escape(NULL, ch.scope[0] != '\0' ? ch.scope : x->scope, 0);

			if (t != NULL && svc != NULL && scope != NULL &&
			    (size_t)snprintf(t->url, sizeof(t->url), "%s%sservice=%s&scope=%s", ch.realm,
			    strchr(ch.realm, '?') != NULL ? "&" : "?", svc, scope) < sizeof(t->url)) {
				curl_free(svc);
				curl_free(scope);
				t->parent = x;
				t->max = PROXY_TOKEN_BODY_MAX;
				t->done = proxy_token_done;
				proxy_xfer_run(t);
				return;
			}
			curl_free(svc);
			curl_free(scope);
			if (t != NULL)
				proxy_xfer_free(t);
		} else if (strcmp(ch.scheme, "basic") == 0 && x->sec->username[0] != '\0') {
			__atomic_store_n(&x->sec->basic, 1, __ATOMIC_RELAXED);
			x->basic = 1;
			if (proxy_xfer_start(x) == 0)
				return;
			x->result = CURLE_FAILED_INIT;
			x->status = 0;
		}
	}
	x->done(x);
	proxy_xfer_free(x);
}

/* A new upstream request of kind `what` ("manifests", "blobs", ...) for
 * repo/ref, on this worker; the caller sets callbacks and runs it.  NULL
 * on failure. */
static struct proxy_xfer *
proxy_xfer_for(struct worker *w, struct proxy_section *sec, const char *repo, const char *what,
    const char *ref, const char *query)
{
	struct proxy_worker *pw;
	struct proxy_xfer *x;

	if ((pw = proxy_worker_get(w)) == NULL || (x = proxy_xfer_new(pw, sec)) == NULL)
		return NULL;
	if ((size_t)snprintf(x->url, sizeof(x->url), "%s/v2/%s/%s%s%s%s%s", sec->url, repo, what,
	    ref != NULL ? "/" : "", ref != NULL ? ref : "", query != NULL ? "?" : "",
	    query != NULL ? query : "") >= sizeof(x->url)) {
		proxy_xfer_free(x);
		return NULL;
	}
	snprintf(x->scope, sizeof(x->scope), "repository:%s:pull", repo);
	return x;
}

/* The client-facing error for an upstream that did not deliver. */
static enum reg_error
proxy_upstream_error(const struct proxy_xfer *x, enum reg_error unknown, char *detail, size_t cap)
{
	if (x->result != CURLE_OK) {
		snprintf(detail, cap, "upstream %s: %s", x->sec->name,
		    x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(x->result));
		return x->too_big ? ERR_TOO_LARGE : ERR_UNAVAILABLE;
	}
	snprintf(detail, cap, "upstream %s answered %ld", x->sec->name, x->status);
	switch (x->status) {
	case 404:
		return unknown;
	case 401:
	case 403:
		/* Docker Hub answers 401 for repositories that do not
		 * exist; the log has the details for the operator. */
		return unknown;
	case 429:
		return ERR_TOOMANYREQUESTS;
	default:
		return ERR_UNAVAILABLE;
	}
}

/* ------------------------------------------------------------ shared fetches */

enum proxy_state { PF_RUNNING = 0, PF_OK, PF_FAIL };

struct proxy_waiter;

/* One upstream fetch of a manifest or blob that every request for it
 * waits on.  Fields under "shared" are read and written under proxy_mu;
 * the rest belong to the owner (the worker that started it). */
struct proxy_fetch {
	char key[PROXY_KEY_MAX];
	int blob;
	/* shared */
	int refs;			/* the owner's, and one per waiter */
	enum proxy_state state;
	enum reg_error err;
	char detail[300];
	int headers_ok, has_total;
	uint64_t total, have;		/* blob: announced size, bytes in the spool */
	int rfd;			/* blob: the spool, read side (-1 none) */
	struct proxy_waiter *waiters;
	struct proxy_fetch *next;	/* proxy_fetches while running */
	/* the owner's */
	struct worker *w;
	const struct config *cfg;	/* the first request's */
	struct proxy_section *sec;
	char upstream[REFERENCE_NAME_MAX + 1];
	char local[REFERENCE_NAME_MAX + 1];
	char ref[DIGEST_STR_MAX > REFERENCE_TAG_MAX + 1 ? DIGEST_STR_MAX : REFERENCE_TAG_MAX + 1];
	int ref_is_digest;
	struct digest want;		/* blob, or manifest by digest */
	int have_local;			/* manifest by tag: a cached copy exists */
	char local_digest[DIGEST_STR_MAX];
	char expect[DIGEST_STR_MAX];	/* the digest a HEAD announced */
	char upload_id[REFERENCE_UUID_LEN + 1];
	int wfd;
	struct hasher *h;
	int too_big;
	int commit_rc;
};

/* A request waiting on a fetch, on its own worker. */
struct proxy_waiter {
	struct proxy_fetch *f;
	struct request *req;
	struct worker *w;
	int want;			/* wake me when bytes arrive */
	int wakes;			/* callbacks scheduled, not run yet */
	int dead;			/* finished; the last callback frees it */
	int begun, range;
	uint64_t sent;
	char local[REFERENCE_NAME_MAX + 1];
	struct proxy_waiter *next;	/* the fetch's waiters */
	struct proxy_waiter *all_next, *all_prev;	/* proxy_waiters, until freed */
};

static struct proxy_fetch *proxy_fetches;
static struct proxy_waiter *proxy_waiters;

static void
proxy_waiter_free_locked(struct proxy_waiter *wt)
{
	if (wt->all_prev != NULL)
		wt->all_prev->all_next = wt->all_next;
	else
		proxy_waiters = wt->all_next;
	if (wt->all_next != NULL)
		wt->all_next->all_prev = wt->all_prev;
	free(wt);
}

static void proxy_waiter_step(struct proxy_waiter *wt);

static void
proxy_waiter_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_waiter *wt = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&proxy_mu);
	wt->wakes--;
	if (wt->dead) {
		if (wt->wakes == 0)
			proxy_waiter_free_locked(wt);
		pthread_mutex_unlock(&proxy_mu);
		return;
	}
	pthread_mutex_unlock(&proxy_mu);
	proxy_waiter_step(wt);
}

/* Wake one waiter on its worker's loop (proxy_mu held).  Scheduling under
 * the lock is safe: libevent runs callbacks without its base lock held. */
static void
proxy_wake_locked(struct proxy_waiter *wt)
{
	struct timeval now = {0, 0};

	wt->want = 0;
	if (event_base_once(wt->w->base, -1, EV_TIMEOUT, proxy_waiter_cb, wt, &now) == 0)
		wt->wakes++;
	else
		log_error("proxy: cannot wake a waiting request");
}

static void
proxy_wake_all_locked(struct proxy_fetch *f, int only_wanting)
{
	for (struct proxy_waiter *wt = f->waiters; wt != NULL; wt = wt->next)
		if (!only_wanting || wt->want)
			proxy_wake_locked(wt);
}

static void
proxy_fetch_free(struct proxy_fetch *f)
{
	if (f->rfd >= 0)
		close(f->rfd);
	if (f->wfd >= 0)
		close(f->wfd);
	hasher_free(f->h);
	free(f);
}

static void
proxy_fetch_unref_locked(struct proxy_fetch *f, struct proxy_fetch **gone)
{
	if (--f->refs == 0)
		*gone = f;
}

/* The fetch is over: record the outcome, take it out of the table (later
 * requests find the metadata instead), wake everyone, drop the owner's
 * reference.  Waiters on other workers may free f at once: the owner must
 * not touch it afterwards. */
static void
proxy_fetch_finish(struct proxy_fetch *f, enum proxy_state state, enum reg_error err,
    const char *detail)
{
	struct proxy_fetch **pp, *gone = NULL;

	pthread_mutex_lock(&proxy_mu);
	f->state = state;
	f->err = err;
	snprintf(f->detail, sizeof(f->detail), "%s", detail != NULL ? detail : "");
	for (pp = &proxy_fetches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	proxy_wake_all_locked(f, 0);
	proxy_fetch_unref_locked(f, &gone);
	pthread_mutex_unlock(&proxy_mu);
	if (gone != NULL)
		proxy_fetch_free(gone);
}

/* Join the fetch for key, creating it if none runs (*created = 1: the
 * caller owns it and must start it).  The request is deferred and answered
 * by the waiter.  NULL on allocation failure (nothing done). */
static struct proxy_waiter *
proxy_join(struct request *req, const char *key, int blob, const char *local, int *created)
{
	struct proxy_waiter *wt;
	struct proxy_fetch *f;

	*created = 0;
	if ((wt = calloc(1, sizeof(*wt))) == NULL)
		return NULL;
	wt->req = req;
	wt->w = req->w;
	snprintf(wt->local, sizeof(wt->local), "%s", local);
	wt->range = req->method == METHOD_GET && req_header(req, "Range") != NULL;
	pthread_mutex_lock(&proxy_mu);
	for (f = proxy_fetches; f != NULL; f = f->next)
		if (strcmp(f->key, key) == 0)
			break;
	if (f == NULL) {
		if ((f = calloc(1, sizeof(*f))) == NULL) {
			pthread_mutex_unlock(&proxy_mu);
			free(wt);
			return NULL;
		}
		snprintf(f->key, sizeof(f->key), "%s", key);
		f->blob = blob;
		f->refs = 1;
		f->rfd = f->wfd = -1;
		f->w = req->w;
		f->cfg = req->cfg;
		f->next = proxy_fetches;
		proxy_fetches = f;
		*created = 1;
	}
	f->refs++;
	wt->f = f;
	wt->next = f->waiters;
	f->waiters = wt;
	wt->all_next = proxy_waiters;
	if (proxy_waiters != NULL)
		proxy_waiters->all_prev = wt;
	proxy_waiters = wt;
	/* A first look on the next loop turn: the fetch may be past its
	 * headers already. */
	proxy_wake_locked(wt);
	pthread_mutex_unlock(&proxy_mu);
	req->ctx = wt;
	req_defer(req);
	return wt;
}

/* The waiter is done with its request: leave the fetch. */
static void
proxy_waiter_done(struct proxy_waiter *wt)
{
	struct proxy_fetch *f = wt->f, *gone = NULL;
	struct proxy_waiter **pp;

	pthread_mutex_lock(&proxy_mu);
	for (pp = &f->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == wt) {
			*pp = wt->next;
			break;
		}
	}
	proxy_fetch_unref_locked(f, &gone);
	if (wt->wakes > 0)
		wt->dead = 1;
	else
		proxy_waiter_free_locked(wt);
	pthread_mutex_unlock(&proxy_mu);
	if (gone != NULL)
		proxy_fetch_free(gone);
}

/* ------------------------------------------------------------ serving from the cache */

/* Serve through the local handlers.  The router resolved req->m.name to
 * the stored name before authorizing it; it is never renamed here. */
static void
proxy_serve_local(struct request *req)
{
	if (req->m.kind == ROUTE_MANIFEST)
		manifest_get(req);
	else
		blob_get(req);
}

static void
proxy_waiter_drain(struct request *req)
{
	proxy_waiter_step(req->ctx);
}

/* Advance a waiting request: answer it when the fetch is over, or (blobs)
 * send what has arrived.  Runs on the waiter's worker. */
static void
proxy_waiter_step(struct proxy_waiter *wt)
{
	struct proxy_fetch *f = wt->f;
	struct request *req = wt->req;
	enum proxy_state state;
	enum reg_error err;
	char detail[300], local[REFERENCE_NAME_MAX + 1];
	uint64_t total, have, limit;
	int headers_ok, has_total, rfd;

again:
	pthread_mutex_lock(&proxy_mu);
	state = f->state;
	err = f->err;
	memcpy(detail, f->detail, sizeof(detail));
	headers_ok = f->headers_ok;
	has_total = f->has_total;
	total = f->total;
	have = f->have;
	rfd = f->rfd;
	pthread_mutex_unlock(&proxy_mu);
	memcpy(local, wt->local, sizeof(local));

	if (state == PF_FAIL) {
		proxy_waiter_done(wt);
		if (req->streaming)
			req_stream_end(req, 0);	/* part of the body is out: close */
		else
			req_error(req, err, detail[0] != '\0' ? detail : NULL);
		return;
	}
	if (!wt->begun) {
		if (state == PF_OK) {
			proxy_waiter_done(wt);
			proxy_serve_local(req);
			return;
		}
		/* Still running: a manifest, a Range request or a blob of
		 * unknown length waits for the end; others start streaming
		 * once the upstream announced the length. */
		if (!f->blob || wt->range || !headers_ok || !has_total)
			return;
		if (req->conn == NULL) {
			/* The client left before anything was sent. */
			proxy_waiter_done(wt);
			req_stream_end(req, 0);
			return;
		}
		req_add_header(req, "Docker-Content-Digest", "%s", req->m.digest.str);
		req_add_header(req, "Etag", "\"%s\"", req->m.digest.str);
		wt->begun = 1;
		if (req->method == METHOD_HEAD) {
			proxy_waiter_done(wt);
			req_stream_begin(req, 200, "application/octet-stream", total);	/* ends it */
			return;
		}
		req_stream_begin(req, 200, "application/octet-stream", total);
		req_stream_on_drain(req, proxy_waiter_drain);
	}
	/* The last byte waits for the digest check: a client of bad bytes
	 * then sees a short body, never a complete wrong one. */
	limit = state == PF_OK ? total : (have < total ? have : (total > 0 ? total - 1 : 0));
	while (wt->sent < limit && req_stream_pending(req) < PROXY_STREAM_HIGH) {
		uint64_t n = limit - wt->sent < PROXY_SLICE ? limit - wt->sent : PROXY_SLICE;

		if (req_stream_file(req, rfd, wt->sent, n) != 0) {
			proxy_waiter_done(wt);
			req_stream_end(req, 0);	/* the client is gone */
			return;
		}
		wt->sent += n;
	}
	if (state == PF_OK && wt->sent == total) {
		proxy_waiter_done(wt);
		req_stream_end(req, 1);
		return;
	}
	if (wt->sent < limit)
		return;		/* the drain callback continues */
	/* Caught up: ask to be woken by the next bytes, unless they came
	 * while we were sending. */
	pthread_mutex_lock(&proxy_mu);
	if (f->state == state && f->have == have) {
		wt->want = 1;
		pthread_mutex_unlock(&proxy_mu);
		return;
	}
	pthread_mutex_unlock(&proxy_mu);
	goto again;
}

/* ------------------------------------------------------------ eviction */

static int proxy_evicting;

/* Keep cached content under [cache] max_size: drop the least recently
 * pulled cached blobs and manifests that nothing local holds. */
static void
proxy_evict(struct worker *w, const struct config *cfg)
{
	long long max = cfg->cache_max_size;
	char dg[META_PROXY_DIGEST_MAX];
	uint64_t bytes, size;
	unsigned evicted = 0;

	if (max <= 0 || __atomic_exchange_n(&proxy_evicting, 1, __ATOMIC_ACQUIRE))
		return;
	if (meta_proxy_cached_bytes(w->meta, &bytes) != 0)
		goto out;
	for (int i = 0; bytes > (uint64_t)max && i < 100000; i++) {
		struct digest d;
		int exists = 1;

		if (meta_proxy_evict_next(w->meta, dg, &size) != 0)
			break;
		if (meta_proxy_evict(w->meta, dg) != 0) {
			if (meta_proxy_cached_bytes(w->meta, &bytes) != 0)
				break;
			continue;
		}
		/* Rows first, then the file.  XXX a fetch of the same digest
		 * that commits between the two loses its file (as with gc);
		 * the check below narrows that window, fsck repairs it. */
		if (digest_parse(dg, &d) == 0 && meta_gc_blob_exists(w->meta, dg, &exists) == 0 &&
		    !exists)
			store_blob_delete(w->store, &d);
		bytes = bytes > size ? bytes - size : 0;
		evicted++;
		log_info("proxy: evicted %s (%llu bytes) from the cache", dg, (unsigned long long)size);
	}
	if (evicted > 0)
		log_info("proxy: cache at %llu bytes (max_size %lld) after evicting %u item%s",
		    (unsigned long long)bytes, max, evicted, evicted == 1 ? "" : "s");
out:
	__atomic_store_n(&proxy_evicting, 0, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ manifests */

/* Verify and store a manifest fetched for f (owner's thread): bytes, the
 * cached rows, the manifest with its references (not checked: blobs come
 * when they are pulled) and the tag.  0 or a negated error. */
static int
proxy_manifest_store(struct proxy_fetch *f, const char *body, size_t len, const char *ctype,
    char *detail, size_t cap)
{
	struct worker *w = f->w;
	struct oci_manifest om;
	struct meta_manifest mf;
	struct meta_ref *refs;
	struct digest got, expect;
	const char *tag = f->ref_is_digest ? NULL : f->ref;
	char why[512];
	int has_expect, rc;

	if (f->ref_is_digest) {
		expect = f->want;
		has_expect = 1;
	} else {
		has_expect = f->expect[0] != '\0' && digest_parse(f->expect, &expect) == 0;
	}
	if (digest_buffer(has_expect ? expect.alg : DIGEST_SHA256, body, len, &got) != 0)
		return -ERR_INTERNAL;
	if (has_expect && strcmp(got.str, expect.str) != 0) {
		snprintf(detail, cap, "upstream %s sent a manifest that does not match %s", f->sec->name,
		    expect.str);
		log_warn("proxy %s: %s/manifests/%s: content is %s, not %s; not cached", f->sec->name,
		    f->upstream, f->ref, got.str, expect.str);
		return -ERR_UNAVAILABLE;
	}
	if ((rc = oci_manifest_parse(body, len, ctype[0] != '\0' ? ctype : NULL, &om, why,
	    sizeof(why))) != 0) {
		snprintf(detail, cap, "upstream %.100s: %.250s", f->sec->name, why);
		log_warn("proxy %s: %s/manifests/%s: %s; not cached", f->sec->name, f->upstream, f->ref, why);
		return rc;
	}
	if ((rc = manifest_rows(&om, got.str, len, 1, &mf, &refs)) != 0) {
		oci_manifest_free(&om);
		return rc;
	}
	/* Bytes, then the cached rows (so the manifest's own link is
	 * cached before meta_manifest_put adds it), then the manifest and
	 * tag; the bytes again in case gc took them meanwhile. */
	if ((rc = store_blob_put(w->store, &got, body, len)) == 0 &&
	    (rc = meta_proxy_link(w->meta, f->local, f->sec->name, got.str, len)) == 0 &&
	    (rc = meta_manifest_put(w->meta, f->local, &mf, refs, om.nrefs, tag)) == 0 &&
	    (rc = store_blob_put(w->store, &got, body, len)) == 0 && tag != NULL)
		rc = meta_proxy_tag_set_checked(w->meta, f->local, tag, (int64_t)time(NULL));
	free(refs);
	oci_manifest_free(&om);
	if (rc == 0)
		log_info("proxy %s: cached %s/manifests/%s (%s) as %s", f->sec->name, f->upstream, f->ref,
		    got.str, f->local);
	return rc;
}

static void proxy_manifest_get_done(struct proxy_xfer *x);

static int
proxy_manifest_request(struct proxy_fetch *f, int head, const char *ref)
{
	struct proxy_xfer *x;

	if ((x = proxy_xfer_for(f->w, f->sec, f->upstream, "manifests", ref, NULL)) == NULL)
		return -1;
	x->head = head;
	x->accept = 1;
	x->max = (size_t)f->cfg->max_manifest_size;
	x->arg = f;
	x->done = proxy_manifest_get_done;
	proxy_xfer_run(x);
	return 0;
}

/* The upstream cannot confirm a cached tag: serve what we have. */
static void
proxy_manifest_stale(struct proxy_fetch *f, const char *why)
{
	meta_proxy_touch(f->w->meta, f->local_digest);
	log_warn("proxy %s: %s:%s: %s; serving the cached copy (stale)", f->sec->name, f->local, f->ref,
	    why);
	proxy_fetch_finish(f, PF_OK, ERR_NONE, NULL);
}

static void
proxy_manifest_head_done(struct proxy_xfer *x)
{
	struct proxy_fetch *f = x->arg;
	struct digest d;
	char why[600];

	if (x->result == CURLE_OK && x->status == 200) {
		if (strcmp(x->dcd, f->local_digest) == 0) {
			/* Unchanged: confirmed without a pull. */
			meta_proxy_tag_set_checked(f->w->meta, f->local, f->ref, (int64_t)time(NULL));
			meta_proxy_touch(f->w->meta, f->local_digest);
			proxy_fetch_finish(f, PF_OK, ERR_NONE, NULL);
			return;
		}
		/* Moved (or no digest announced): fetch it, by digest if we
		 * know it, and check the bytes against it. */
		if (digest_parse(x->dcd, &d) == 0) {
			snprintf(f->expect, sizeof(f->expect), "%s", d.str);
			log_info("proxy %s: %s:%s moved upstream to %s", f->sec->name, f->local, f->ref, d.str);
		}
		if (proxy_manifest_request(f, 0, f->expect[0] != '\0' ? f->expect : f->ref) != 0)
			proxy_manifest_stale(f, "cannot start the upstream request");
		return;
	}
	if (x->result == CURLE_OK && x->status == 404) {
		/* Gone upstream: keep serving the cached copy, but do not
		 * ask again before tag_ttl. */
		meta_proxy_tag_set_checked(f->w->meta, f->local, f->ref, (int64_t)time(NULL));
		proxy_manifest_stale(f, "the tag is not upstream (404)");
		return;
	}
	proxy_upstream_error(x, ERR_MANIFEST_UNKNOWN, why, sizeof(why));
	proxy_manifest_stale(f, why);
}

static void
proxy_manifest_get_done(struct proxy_xfer *x)
{
	struct proxy_fetch *f = x->arg;
	enum reg_error e;
	char detail[600];
	int rc;

	if (x->head) {
		proxy_manifest_head_done(x);
		return;
	}
	if (x->result == CURLE_OK && x->status == 200 && !x->too_big) {
		rc = proxy_manifest_store(f, x->body != NULL ? x->body : "", x->len, x->ctype, detail,
		    sizeof(detail));
		if (rc == 0) {
			struct worker *w = f->w;
			const struct config *cfg = f->cfg;

			proxy_fetch_finish(f, PF_OK, ERR_NONE, NULL);	/* f may be gone */
			proxy_evict(w, cfg);
			return;
		}
		if (f->have_local) {
			proxy_manifest_stale(f, detail);
			return;
		}
		/* An invalid upstream manifest is the upstream's fault. */
		proxy_fetch_finish(f, PF_FAIL, rc == -ERR_NO_SPACE || rc == -ERR_INTERNAL ?
		    (enum reg_error)-rc : ERR_UNAVAILABLE, detail);
		return;
	}
	e = proxy_upstream_error(x, ERR_MANIFEST_UNKNOWN, detail, sizeof(detail));
	if (f->have_local) {
		proxy_manifest_stale(f, detail);
		return;
	}
	if (x->result != CURLE_OK || x->status != 404)
		log_warn("proxy %s: GET %s: %s", f->sec->name, x->url, detail);
	proxy_fetch_finish(f, PF_FAIL, e, detail);
}

static void
proxy_manifest(struct request *req, struct proxy_section *sec, const char *upstream,
    const char *local)
{
	struct proxy_waiter *wt;
	struct proxy_fetch *f;
	struct meta_manifest mf;
	char key[PROXY_KEY_MAX];
	int64_t checked = 0;
	int rc, created, have_local = 0;

	if (req->m.ref_is_digest) {
		rc = meta_manifest_get(req->w->meta, local, req->m.digest.str, &mf);
	} else {
		/* XXX with push = true a tag pushed here is revalidated too,
		 * and the upstream's tag of the same name replaces it. */
		rc = meta_tag_get(req->w->meta, local, req->m.ref, &mf);
		have_local = rc == 0;
		if (rc == 0 && meta_proxy_tag_checked(req->w->meta, local, req->m.ref, &checked) == 0 &&
		    (int64_t)time(NULL) - checked >= sec->tag_ttl)
			rc = -ERR_MANIFEST_UNKNOWN;	/* stale: ask upstream */
	}
	if (rc == 0) {
		__atomic_add_fetch(&req->w->metrics->proxy_hits, 1, __ATOMIC_RELAXED);
		meta_proxy_touch(req->w->meta, mf.digest);
		proxy_serve_local(req);
		return;
	}
	if (rc != -ERR_MANIFEST_UNKNOWN && rc != -ERR_NAME_UNKNOWN) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	__atomic_add_fetch(&req->w->metrics->proxy_misses, 1, __ATOMIC_RELAXED);
	snprintf(key, sizeof(key), "m %s %s", local, req->m.ref);
	if ((wt = proxy_join(req, key, 0, local, &created)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (!created)
		return;
	f = wt->f;
	f->sec = sec;
	snprintf(f->upstream, sizeof(f->upstream), "%s", upstream);
	snprintf(f->local, sizeof(f->local), "%s", local);
	snprintf(f->ref, sizeof(f->ref), "%s", req->m.ref);
	f->ref_is_digest = req->m.ref_is_digest;
	f->want = req->m.digest;
	if (have_local) {
		f->have_local = 1;
		proxy_strlcpy(f->local_digest, sizeof(f->local_digest), mf.digest);
	}
	if (proxy_manifest_request(f, f->have_local, f->ref) != 0) {
		if (f->have_local)
			proxy_manifest_stale(f, "cannot start the upstream request");
		else
			proxy_fetch_finish(f, PF_FAIL, ERR_INTERNAL, "cannot start the upstream request");
	}
}

/* ------------------------------------------------------------ blobs */

/* Nothing of a failed blob fetch stays: no spool, no session row. */
static void
proxy_blob_fail(struct proxy_fetch *f, enum reg_error e, const char *detail)
{
	if (f->wfd >= 0) {
		close(f->wfd);
		f->wfd = -1;
	}
	if (f->upload_id[0] != '\0') {
		store_upload_remove(f->w->store, f->upload_id);
		meta_upload_delete(f->w->meta, f->upload_id);
	}
	proxy_fetch_finish(f, PF_FAIL, e, detail);
}

static void
proxy_blob_headers(struct proxy_xfer *x)
{
	struct proxy_fetch *f = x->arg;
	long long max = f->cfg->max_blob_size;

	if (x->has_clen && max > 0 && x->clen > (uint64_t)max) {
		f->too_big = 1;	/* the sink refuses the body */
		return;
	}
	pthread_mutex_lock(&proxy_mu);
	f->headers_ok = 1;
	f->has_total = x->has_clen;
	f->total = x->clen;
	proxy_wake_all_locked(f, 0);
	pthread_mutex_unlock(&proxy_mu);
}

static int
proxy_blob_sink(struct proxy_xfer *x, const char *data, size_t len)
{
	struct proxy_fetch *f = x->arg;
	const char *p = data;
	size_t left = len;
	int over;

	if (f->too_big || f->wfd < 0)
		return -1;
	while (left > 0) {
		ssize_t n = write(f->wfd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("proxy %s: writing spool %s: %s", f->sec->name, f->upload_id, strerror(errno));
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	hasher_update(f->h, data, len);
	pthread_mutex_lock(&proxy_mu);
	f->have += len;
	over = f->has_total && f->have > f->total;
	proxy_wake_all_locked(f, 1);
	pthread_mutex_unlock(&proxy_mu);
	return over ? -1 : 0;
}

/* On the pool: fsync and rename the verified spool into the store. */
static void
proxy_blob_commit_work(void *arg)
{
	struct proxy_fetch *f = arg;

	f->commit_rc = store_upload_commit(f->w->store, f->upload_id, &f->want);
}

static void
proxy_blob_commit_done(void *arg)
{
	struct proxy_fetch *f = arg;
	struct worker *w = f->w;
	const struct config *cfg = f->cfg;
	int rc = f->commit_rc;

	if (rc == 0)
		rc = meta_proxy_blob_finish(w->meta, f->upload_id, f->local, f->sec->name, f->want.str,
		    f->have);
	if (rc == 0)
		rc = store_upload_settle(w->store, f->upload_id, &f->want);
	if (rc != 0) {
		proxy_blob_fail(f, (enum reg_error)-rc, "storing the fetched blob failed");
		return;
	}
	log_info("proxy %s: cached %s/blobs/%s (%llu bytes) as %s", f->sec->name, f->upstream,
	    f->want.str, (unsigned long long)f->have, f->local);
	proxy_fetch_finish(f, PF_OK, ERR_NONE, NULL);	/* f may be gone */
	proxy_evict(w, cfg);
}

static void
proxy_blob_done(struct proxy_xfer *x)
{
	struct proxy_fetch *f = x->arg;
	struct digest got;
	char detail[600];
	enum reg_error e;

	if (x->result == CURLE_OK && x->status == 200 && !f->too_big &&
	    (!f->has_total || f->have == f->total)) {
		close(f->wfd);
		f->wfd = -1;
		if (hasher_final(f->h, &got) != 0) {
			proxy_blob_fail(f, ERR_INTERNAL, NULL);
			return;
		}
		if (strcmp(got.str, f->want.str) != 0) {
			log_warn("proxy %s: %s/blobs/%s: upstream sent %llu bytes hashing to %s; not cached",
			    f->sec->name, f->upstream, f->want.str, (unsigned long long)f->have, got.str);
			proxy_blob_fail(f, ERR_UNAVAILABLE, "the upstream sent content that does not match "
			    "the digest");
			return;
		}
		if (pool_submit(f->w->pool, f->w->base, proxy_blob_commit_work, proxy_blob_commit_done, f) != 0) {
			proxy_blob_commit_work(f);
			proxy_blob_commit_done(f);
		}
		return;
	}
	if (f->too_big) {
		proxy_blob_fail(f, ERR_TOO_LARGE, "the blob is larger than [limits] max_blob_size");
		return;
	}
	e = proxy_upstream_error(x, ERR_BLOB_UNKNOWN, detail, sizeof(detail));
	if (x->result == CURLE_OK && x->status == 200)
		snprintf(detail, sizeof(detail), "upstream %s: %llu of %llu bytes, then the transfer ended",
		    x->sec->name, (unsigned long long)f->have, (unsigned long long)f->total);
	if (x->result != CURLE_OK || x->status != 404)
		log_warn("proxy %s: GET %s: %s; nothing cached", f->sec->name, x->url, detail);
	proxy_blob_fail(f, e, detail);
}

static void
proxy_blob_start(struct proxy_fetch *f)
{
	struct worker *w = f->w;
	struct proxy_xfer *x;
	int rc, rfd = -1;

	reference_uuid_new(f->upload_id);
	/* The spool is an upload session, so an interrupted fetch is
	 * expired like any abandoned upload. */
	if ((rc = store_upload_create(w->store, f->upload_id)) != 0 ||
	    (rc = meta_upload_create(w->meta, f->upload_id, f->local)) != 0 ||
	    (rc = store_upload_open(w->store, f->upload_id, 0, &f->wfd)) != 0 ||
	    (rc = store_upload_open_read(w->store, f->upload_id, &rfd)) != 0) {
		proxy_blob_fail(f, (enum reg_error)-rc, NULL);
		return;
	}
	/* rfd is shared: the fetch is published already, and waiters on
	 * other workers read it under proxy_mu (proxy_waiter_step). */
	pthread_mutex_lock(&proxy_mu);
	f->rfd = rfd;
	pthread_mutex_unlock(&proxy_mu);
	if ((f->h = hasher_new(f->want.alg)) == NULL ||
	    (x = proxy_xfer_for(w, f->sec, f->upstream, "blobs", f->want.str, NULL)) == NULL) {
		proxy_blob_fail(f, ERR_INTERNAL, "cannot start the upstream request");
		return;
	}
	x->sink = proxy_blob_sink;
	x->on_headers = proxy_blob_headers;
	x->done = proxy_blob_done;
	x->arg = f;
	proxy_xfer_run(x);
}

static void
proxy_blob(struct request *req, struct proxy_section *sec, const char *upstream, const char *local)
{
	struct proxy_waiter *wt;
	struct proxy_fetch *f;
	char key[PROXY_KEY_MAX];
	uint64_t size;
	int rc, created;

	if ((rc = meta_blob_get(req->w->meta, local, req->m.digest.str, &size)) == 0) {
		__atomic_add_fetch(&req->w->metrics->proxy_hits, 1, __ATOMIC_RELAXED);
		meta_proxy_touch(req->w->meta, req->m.digest.str);
		proxy_serve_local(req);
		return;
	}
	if (rc != -ERR_BLOB_UNKNOWN) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	/* Already in the store for another repository, and a manifest this
	 * repository got from the upstream lists it (so the upstream has it
	 * there): link it instead of fetching it again. */
	if (store_blob_stat(req->w->store, &req->m.digest, &size) == 0 &&
	    meta_proxy_ref_known(req->w->meta, local, req->m.digest.str) == 0 &&
	    meta_proxy_link(req->w->meta, local, sec->name, req->m.digest.str, size) == 0) {
		__atomic_add_fetch(&req->w->metrics->proxy_hits, 1, __ATOMIC_RELAXED);
		proxy_serve_local(req);
		return;
	}
	/* A miss, GET or HEAD: the blob is fetched (a HEAD is answered
	 * once the upstream announced the length, and warms the cache).
	 * XXX a blob the store holds for another repository, that no cached
	 * manifest of this one lists, is fetched again rather than checked
	 * with an upstream HEAD; a transfer that breaks is not resumed with
	 * a Range request. */
	__atomic_add_fetch(&req->w->metrics->proxy_misses, 1, __ATOMIC_RELAXED);
	snprintf(key, sizeof(key), "b %s %s", local, req->m.digest.str);
	if ((wt = proxy_join(req, key, 1, local, &created)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (!created)
		return;
	f = wt->f;
	f->sec = sec;
	snprintf(f->upstream, sizeof(f->upstream), "%s", upstream);
	snprintf(f->local, sizeof(f->local), "%s", local);
	snprintf(f->ref, sizeof(f->ref), "%s", req->m.digest.str);
	f->ref_is_digest = 1;
	f->want = req->m.digest;
	proxy_blob_start(f);
}

/* ------------------------------------------------------------ tags and referrers */

/* A listing that merges the upstream's answer with the cache. */
struct proxy_list {
	struct request *req;
	char local[REFERENCE_NAME_MAX + 1];
	long n;				/* -1: not given */
	char last[REFERENCE_TAG_MAX + 8];
	char filter[256];		/* referrers: artifactType, "" none */
	char **items;
	size_t nitems, cap;
	int failed;
};

static int
proxy_list_add(void *arg, const char *item)
{
	struct proxy_list *l = arg;
	char **grown;

	if (!reference_tag_valid(item))
		return 0;
	if (l->nitems == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		if (l->nitems >= PROXY_TAGS_MAX ||
		    (grown = realloc(l->items, cap * sizeof(*grown))) == NULL) {
			l->failed = 1;
			return 1;
		}
		l->items = grown;
		l->cap = cap;
	}
	if ((l->items[l->nitems] = strdup(item)) == NULL) {
		l->failed = 1;
		return 1;
	}
	l->nitems++;
	return 0;
}

static int
proxy_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
proxy_tags_done(struct proxy_xfer *x)
{
	struct proxy_list *l = x->arg;
	struct request *req = l->req;
	struct oci_doc *doc = NULL;
	char detail[600], *json;
	long n = l->n < 0 ? PROXY_TAGS_PAGE_MAX : l->n, count = 0;
	int more = 0, upstream_ok, rc;
	const char *prev = NULL;

	upstream_ok = x->result == CURLE_OK && x->status == 200 && x->body != NULL &&
	    oci_list_parse(x->body, x->len, "tags", proxy_list_add, l) == 0;
	if (x->result == CURLE_OK && x->status == 200 && x->body == NULL)
		upstream_ok = 1;	/* an empty body: no tags */
	rc = meta_tag_list(req->w->meta, l->local, "", PROXY_TAGS_MAX, proxy_list_add, l, &more);
	if (!upstream_ok) {
		enum reg_error e = proxy_upstream_error(x, ERR_NAME_UNKNOWN, detail, sizeof(detail));

		log_warn("proxy %s: GET %s: %s; listing the cached tags only", x->sec->name, x->url, detail);
		if (rc != 0) {
			req_error(req, rc == -ERR_NAME_UNKNOWN ? e : (enum reg_error)-rc, detail);
			goto out;
		}
	}
	if (l->failed || (rc != 0 && rc != -ERR_NAME_UNKNOWN)) {
		req_error(req, ERR_INTERNAL, NULL);
		goto out;
	}
	if (l->nitems > 0)
		qsort(l->items, l->nitems, sizeof(*l->items), proxy_strcmp);
	if ((doc = oci_list_new(req->m.url_name, "tags")) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		goto out;
	}
	more = 0;
	for (size_t i = 0; i < l->nitems; i++) {
		if ((prev != NULL && strcmp(prev, l->items[i]) == 0) || strcmp(l->items[i], l->last) <= 0)
			continue;
		if (count == n) {
			more = 1;
			break;
		}
		if (oci_list_add(doc, l->items[i]) != 0) {
			oci_doc_free(doc);
			req_error(req, ERR_INTERNAL, NULL);
			goto out;
		}
		prev = l->items[i];
		count++;
	}
	if ((json = oci_doc_render(doc)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		goto out;
	}
	if (more && n > 0 && prev != NULL)
		req_add_header(req, "Link", "</v2/%s/tags/list?n=%ld&last=%s>; rel=\"next\"",
		    req->m.url_name, n, prev);
	req_respond(req, 200, "application/json", json, strlen(json));
	free(json);
out:
	/* l is not the request's: the answer may have freed the request. */
	for (size_t i = 0; i < l->nitems; i++)
		free(l->items[i]);
	free(l->items);
	free(l);
}

static void
proxy_tags(struct request *req, struct proxy_section *sec, const char *upstream, const char *local)
{
	struct proxy_list *l;
	struct proxy_xfer *x;
	char nbuf[32];
	uint64_t v;
	int rc;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	l->req = req;
	l->n = -1;
	snprintf(l->local, sizeof(l->local), "%s", local);
	if ((rc = req_query(req, "n", nbuf, sizeof(nbuf))) < 0 ||
	    (rc == 1 && range_parse_u64(nbuf, nbuf + strlen(nbuf), &v) != 0) ||
	    req_query(req, "last", l->last, sizeof(l->last)) < 0) {
		free(l);
		req_error(req, ERR_PAGINATION, NULL);
		return;
	}
	if (rc == 1)
		l->n = v > (uint64_t)PROXY_TAGS_PAGE_MAX ? PROXY_TAGS_PAGE_MAX : (long)v;
	/* XXX only the upstream's first page: its Link is not followed. */
	if ((x = proxy_xfer_for(req->w, sec, upstream, "tags/list", NULL, NULL)) == NULL) {
		free(l);
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	x->max = PROXY_LIST_BODY_MAX;
	x->arg = l;
	x->done = proxy_tags_done;
	req_defer(req);
	proxy_xfer_run(x);
}

static void
proxy_referrers_done(struct proxy_xfer *x)
{
	struct proxy_list *l = x->arg;
	struct request *req = l->req;
	const char *at = l->filter[0] != '\0' ? l->filter : NULL;
	struct oci_doc *doc;
	char *json;
	int rc;

	if ((rc = referrers_collect(req->w, l->local, req->m.digest.str, at, &doc)) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	/* Referrers never answer 404: an upstream without the API (or
	 * down) leaves the cached ones. */
	if (x->result == CURLE_OK && x->status == 200 && x->body != NULL &&
	    oci_referrers_merge(doc, x->body, x->len, at) != 0)
		log_warn("proxy %s: GET %s: not a referrers index", x->sec->name, x->url);
	if ((json = oci_doc_render(doc)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (at != NULL)
		req_add_header(req, "OCI-Filters-Applied", "artifactType");
	req_respond(req, 200, OCI_MT_INDEX, json, strlen(json));
	free(json);
}

static void
proxy_referrers(struct request *req, struct proxy_section *sec, const char *upstream,
    const char *local)
{
	struct proxy_list *l;
	struct proxy_xfer *x;
	char *q = NULL, *esc = NULL;
	int rc;

	if ((l = arena_alloc(req->arena, sizeof(*l))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	l->req = req;
	snprintf(l->local, sizeof(l->local), "%s", local);
	if ((rc = req_query(req, "artifactType", l->filter, sizeof(l->filter))) < 0) {
		req_error(req, ERR_UNSUPPORTED, "malformed artifactType filter");
		return;
	}
	if (rc != 1)
		l->filter[0] = '\0';
	if (l->filter[0] != '\0' && (proxy_curl_ready() != 0 ||
	    (esc = curl_easy_escape(NULL, l->filter, 0)) == NULL ||
	    (q = arena_printf(req->arena, "artifactType=%s", esc)) == NULL)) {
		curl_free(esc);
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	curl_free(esc);
	if ((x = proxy_xfer_for(req->w, sec, upstream, "referrers", req->m.digest.str, q)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	x->accept = 2;
	x->max = PROXY_LIST_BODY_MAX;
	x->arg = l;
	x->done = proxy_referrers_done;
	req_defer(req);
	proxy_xfer_run(x);
}

/* ------------------------------------------------------------ the router's hooks */

static int
proxy_route_kind(enum route_kind kind)
{
	switch (kind) {
	case ROUTE_BLOB:
	case ROUTE_MANIFEST:
	case ROUTE_TAGS:
	case ROUTE_REFERRERS:
	case ROUTE_UPLOAD_START:
	case ROUTE_UPLOAD:
		return 1;
	default:
		return 0;
	}
}

int
proxy_resolve(struct request *req, int write, struct proxy_target *t)
{
	char ns[256], owner[META_PROXY_NAME_MAX];
	const char *name = req->m.url_name, *rest;
	struct proxy_conf *pc;
	int has_ns, local = 0, rc;

	t->sec = NULL;
	snprintf(t->upstream, sizeof(t->upstream), "%s", name);
	snprintf(t->local, sizeof(t->local), "%s", name);
	if (!proxy_route_kind(req->m.kind) || (pc = proxy_conf_for(req->cfg)) == NULL)
		return 0;
	has_ns = req_query(req, "ns", ns, sizeof(ns)) == 1 && ns[0] != '\0';
	if (has_ns && (t->sec = (struct proxy_section *)proxy_route_ns(pc, ns)) != NULL) {
		/* Under the section's prefix, if it has one, so two
		 * upstreams' library/alpine do not meet. */
		if ((size_t)snprintf(t->local, sizeof(t->local), "%s%s%s", t->sec->prefix,
		    t->sec->prefix[0] != '\0' ? "/" : "", name) >= sizeof(t->local)) {
			t->sec = NULL;
			return -ERR_NAME_INVALID;
		}
		return 1;
	}
	if ((t->sec = (struct proxy_section *)proxy_route_prefix(pc, name, &rest)) != NULL) {
		snprintf(t->upstream, sizeof(t->upstream), "%s", rest);
		return 1;
	}
	if (has_ns || pc->mirror == NULL)
		return 0;
	rc = meta_proxy_repo(req->w->meta, name, owner, &local);
	if (rc != 0 && rc != -ERR_NAME_UNKNOWN)
		return rc;
	if (local)
		return 0;
	/* A push to a repository nobody has is a new local one. */
	if (write && (rc != 0 || owner[0] == '\0'))
		return 0;
	t->sec = pc->mirror;
	for (size_t i = 0; rc == 0 && owner[0] != '\0' && i < pc->n; i++)
		if (strcmp(pc->sections[i].name, owner) == 0 && pc->sections[i].prefix[0] == '\0')
			t->sec = &pc->sections[i];
	return 1;
}

int
proxy_handle(struct request *req, const struct proxy_target *t)
{
	int write = (req->method != METHOD_GET && req->method != METHOD_HEAD) ||
	    req->m.kind == ROUTE_UPLOAD || req->m.kind == ROUTE_UPLOAD_START;

	if (t->sec == NULL || !proxy_route_kind(req->m.kind))
		return 0;
	if (write) {
		if (t->sec->push)
			return 0;
		req_error(req, auth_enabled(req->w->auth) ? ERR_DENIED : ERR_METHOD,
		    "this repository is a read-only pull-through cache");
		return 1;
	}
	switch (req->m.kind) {
	case ROUTE_MANIFEST:
		proxy_manifest(req, t->sec, t->upstream, t->local);
		break;
	case ROUTE_BLOB:
		proxy_blob(req, t->sec, t->upstream, t->local);
		break;
	case ROUTE_TAGS:
		proxy_tags(req, t->sec, t->upstream, t->local);
		break;
	default:
		proxy_referrers(req, t->sec, t->upstream, t->local);
		break;
	}
	return 1;
}

/* ------------------------------------------------------------ shutdown */

void
proxy_worker_free(struct worker *w)
{
	struct proxy_worker *pw, **pp;

	/* Closing but still listed: nothing makes new curl state for w. */
	pthread_mutex_lock(&proxy_mu);
	for (pw = proxy_workers; pw != NULL; pw = pw->next)
		if (pw->w == w)
			break;
	if (pw != NULL)
		pw->closing = 1;
	pthread_mutex_unlock(&proxy_mu);
	/* This worker's waiting requests: the loops have stopped, so the
	 * wake-ups scheduled on its base will never run.  Free the finished
	 * waiters, answer (and thereby free) the others. */
	for (;;) {
		struct proxy_waiter *wt, *live = NULL;
		struct request *req;

		pthread_mutex_lock(&proxy_mu);
		for (wt = proxy_waiters; wt != NULL;) {
			struct proxy_waiter *next = wt->all_next;

			if (wt->w == w && wt->dead)
				proxy_waiter_free_locked(wt);
			else if (wt->w == w && live == NULL)
				live = wt;
			wt = next;
		}
		if (live != NULL)
			live->wakes = 0;
		pthread_mutex_unlock(&proxy_mu);
		if (live == NULL)
			break;
		req = live->req;
		proxy_waiter_done(live);
		if (req->streaming)
			req_stream_end(req, 0);
		else
			req_error(req, ERR_UNAVAILABLE, "shutting down");
	}
	if (pw == NULL)
		return;
	/* Abort its transfers: each owner cleans up (spool, session row)
	 * and fails its fetch, which wakes waiters of other workers (on
	 * bases not freed yet; their own shutdown answers them). */
	while (pw->xfers != NULL) {
		struct proxy_xfer *x = pw->xfers;

		if (x->in_multi) {
			curl_multi_remove_handle(pw->multi, x->easy);
			x->in_multi = 0;
		}
		x->result = CURLE_ABORTED_BY_CALLBACK;
		x->status = 0;
		if (x->parent == NULL)
			x->done(x);
		/* A token request's parent is in the list too. */
		proxy_xfer_free(x);
	}
	curl_multi_cleanup(pw->multi);
	event_free(pw->timer);
	pthread_mutex_lock(&proxy_mu);
	for (pp = &proxy_workers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == pw) {
			*pp = pw->next;
			break;
		}
	}
	pthread_mutex_unlock(&proxy_mu);
	free(pw);
}
