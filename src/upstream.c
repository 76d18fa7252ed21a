/* SPDX-License-Identifier: ISC
 * upstream.c — the pull-through cache's HTTP client (issue 6): requests to
 * upstream registries, with the authentication dance around them.  A 401
 * with a Bearer challenge fetches a token from the realm (distribution
 * docs/spec/auth/token.md: anonymous, or with the section's Basic
 * credentials), caches it per upstream, identity and scope until it
 * expires, and repeats the request with it; a Basic challenge repeats it
 * with the credentials, and the section remembers to send them at once.
 * Bodies are kept up to the owner's ceiling or handed to its sink; the
 * headers a registry answers with are parsed as they arrive.
 *
 * The only user of libcurl (through curl_dl.h: loaded on first use).  Each
 * worker drives its own CURLM from its libevent loop
 * (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION); nothing here waits on the
 * network.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "curl_dl.h"
#include "log.h"
#include "oci.h"
#include "proxy_conf.h"
#include "range.h"
#include "upstream.h"

#define UPSTREAM_TOKEN_MAX 16384
#define UPSTREAM_TOKEN_BODY_MAX (64u << 10)
#define UPSTREAM_TOKENS_MAX 512
#define UPSTREAM_ACCEPT_MANIFESTS_HDR "Accept: " OCI_MT_MANIFEST ", " OCI_MT_INDEX ", " \
	OCI_MT_DOCKER_MANIFEST ", " OCI_MT_DOCKER_LIST

_Static_assert(UPSTREAM_ERRBUF >= CURL_ERROR_SIZE, "curl's error buffer fits");

/* Copy src into dst (cap bytes), cutting it short if it does not fit. */
static void
upstream_strlcpy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ------------------------------------------------------------ tokens */

struct upstream_token {
	char key[sizeof(((struct proxy_section *)0)->url) + 256 + UPSTREAM_SCOPE_MAX + 4];
	char *token;
	time_t expires;
	struct upstream_token *next;
};

static pthread_mutex_t upstream_tok_mu = PTHREAD_MUTEX_INITIALIZER;
static struct upstream_token *upstream_tokens;
static size_t upstream_ntokens;

static void
upstream_token_key(const struct proxy_section *s, const char *scope, char *out, size_t cap)
{
	/* Per upstream and identity, not per section name: a reload that
	 * keeps the upstream keeps its tokens. */
	snprintf(out, cap, "%s\n%s\n%s", s->url, s->username, scope);
}

/* Copy a cached, unexpired token for (s, scope) into out: 1 if found. */
static int
upstream_token_get(const struct proxy_section *s, const char *scope, char *out, size_t cap)
{
	char key[sizeof(((struct upstream_token *)0)->key)];
	struct upstream_token *t;
	int found = 0;

	upstream_token_key(s, scope, key, sizeof(key));
	pthread_mutex_lock(&upstream_tok_mu);
	for (t = upstream_tokens; t != NULL; t = t->next) {
		if (strcmp(t->key, key) == 0 && t->expires > time(NULL) && strlen(t->token) < cap) {
			memcpy(out, t->token, strlen(t->token) + 1);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&upstream_tok_mu);
	return found;
}

static void
upstream_token_free(struct upstream_token *t)
{
	explicit_bzero(t->token, strlen(t->token));
	free(t->token);
	free(t);
}

static void
upstream_token_put(const struct proxy_section *s, const char *scope, const char *token,
    long long expires_in)
{
	struct upstream_token *t, **pp;
	time_t now = time(NULL);

	if ((t = calloc(1, sizeof(*t))) == NULL || (t->token = strdup(token)) == NULL) {
		free(t);
		return;
	}
	upstream_token_key(s, scope, t->key, sizeof(t->key));
	/* A little early, so a token never expires on its way upstream. */
	t->expires = now + (expires_in > 20 ? (time_t)expires_in - 10 : (time_t)expires_in / 2 + 1);
	pthread_mutex_lock(&upstream_tok_mu);
	for (pp = &upstream_tokens; *pp != NULL;) {
		struct upstream_token *o = *pp;

		if (strcmp(o->key, t->key) == 0 || o->expires <= now) {
			*pp = o->next;
			upstream_token_free(o);
			upstream_ntokens--;
		} else {
			pp = &o->next;
		}
	}
	if (upstream_ntokens >= UPSTREAM_TOKENS_MAX) {
		/* Full of live tokens: drop the oldest (the list's tail). */
		for (pp = &upstream_tokens; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		upstream_token_free(*pp);
		*pp = NULL;
		upstream_ntokens--;
	}
	t->next = upstream_tokens;
	upstream_tokens = t;
	upstream_ntokens++;
	pthread_mutex_unlock(&upstream_tok_mu);
}

/* ------------------------------------------------------------ curl on libevent */

struct upstream_xfer;

/* A worker's curl state: created on its first upstream request. */
struct upstream {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct upstream_xfer *xfers;	/* running, or waiting for a token */
	int closing;
};

/* The owner's done, told whether the exchange completed. */
static void
upstream_done(struct upstream_xfer *x)
{
	x->ok = x->result == CURLE_OK;
	x->done(x);
}

int
upstream_load(char *err, size_t cap)
{
	return curl_dl_load(err, cap);
}

/* libcurl is loaded on first use (curl_dl.h); 0 once it is there. */
static int
upstream_ready(void)
{
	char err[256];

	if (curl_dl_load(err, sizeof(err)) == 0)
		return 0;
	log_error("proxy: %s", err);
	return -1;
}

static void upstream_finished(struct upstream_xfer *x);
static void upstream_easy_free(struct upstream_xfer *x);

static void
upstream_check(struct upstream *u)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(u->multi, &left)) != NULL) {
		struct upstream_xfer *x;
		CURL *e = msg->easy_handle;
		CURLcode res = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;

		curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		x = (struct upstream_xfer *)(void *)priv;
		curl_multi_remove_handle(u->multi, e);
		if (x == NULL)
			continue;
		x->in_multi = 0;
		x->result = res;
		upstream_finished(x);
	}
}

static void
upstream_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(u->multi, fd, flags, &running);
	upstream_check(u);
}

static void
upstream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	upstream_check(u);
}

static int
upstream_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct upstream *u = userp;
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
		if ((ev = event_new(u->base, s, kind, upstream_event_cb, u)) == NULL)
			return -1;
		curl_multi_assign(u->multi, s, ev);
	} else {
		event_del(ev);
		event_assign(ev, u->base, s, kind, upstream_event_cb, u);
	}
	return event_add(ev, NULL);
}

static int
upstream_timer_set(CURLM *multi, long ms, void *userp)
{
	struct upstream *u = userp;
	struct timeval tv;

	(void)multi;
	if (ms < 0)
		return evtimer_del(u->timer);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(u->timer, &tv);
}

struct upstream *
upstream_new(struct event_base *base)
{
	struct upstream *u;

	if (upstream_ready() != 0 || (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->base = base;
	if ((u->multi = curl_multi_init()) == NULL ||
	    (u->timer = evtimer_new(base, upstream_timer_cb, u)) == NULL) {
		if (u->multi != NULL)
			curl_multi_cleanup(u->multi);
		free(u);
		return NULL;
	}
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, upstream_socket_cb);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, upstream_timer_set);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	return u;
}

void
upstream_close(struct upstream *u)
{
	if (u != NULL)
		u->closing = 1;
}

void
upstream_free(struct upstream *u)
{
	if (u == NULL)
		return;
	u->closing = 1;
	/* Each owner cleans up (spool, session row) and fails its fetch,
	 * which wakes waiters of other workers (on bases not freed yet;
	 * their own shutdown answers them). */
	while (u->xfers != NULL) {
		struct upstream_xfer *x = u->xfers;

		if (x->in_multi) {
			curl_multi_remove_handle(u->multi, x->easy);
			x->in_multi = 0;
		}
		x->result = CURLE_ABORTED_BY_CALLBACK;
		x->status = 0;
		if (x->parent == NULL)
			upstream_done(x);
		/* A token request's parent is in the list too. */
		upstream_easy_free(x);
	}
	curl_multi_cleanup(u->multi);
	event_free(u->timer);
	free(u);
}

/* ------------------------------------------------------------ transfers */

static void
upstream_reset_response(struct upstream_xfer *x)
{
	x->status = 0;
	x->ctype[0] = x->dcd[0] = x->www[0] = '\0';
	x->filtered = x->has_location = x->has_clen = 0;
	x->clen = 0;
}

static size_t
upstream_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upstream_xfer *x = arg;
	size_t len = size * nitems, nlen;
	const char *v;
	char val[2048];
	size_t vlen;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', len);

		upstream_reset_response(x);
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
		upstream_strlcpy(x->ctype, sizeof(x->ctype), val);
	} else if (HDR_IS("Docker-Content-Digest")) {
		upstream_strlcpy(x->dcd, sizeof(x->dcd), val);
	} else if (HDR_IS("Content-Length")) {
		if (range_parse_u64(val, val + vlen, &x->clen) == 0)
			x->has_clen = 1;
	} else if (HDR_IS("WWW-Authenticate")) {
		if (x->www[0] == '\0' || (strncasecmp(x->www, "bearer", 6) != 0 &&
		    strncasecmp(val, "bearer", 6) == 0))
			upstream_strlcpy(x->www, sizeof(x->www), val);
	} else if (HDR_IS("OCI-Filters-Applied")) {
		x->filtered = 1;
	} else if (HDR_IS("Location")) {
		x->has_location = 1;
	}
#undef HDR_IS
	return len;
}

static size_t
upstream_write_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct upstream_xfer *x = arg;
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

static struct upstream_xfer *
upstream_easy_new(struct upstream *u, struct proxy_section *sec)
{
	struct upstream_xfer *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->u = u;
	x->sec = sec;
	x->next = u->xfers;
	if (u->xfers != NULL)
		u->xfers->prev = x;
	u->xfers = x;
	return x;
}

static void
upstream_easy_free(struct upstream_xfer *x)
{
	if (x->easy != NULL) {
		if (x->in_multi)
			curl_multi_remove_handle(x->u->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		x->u->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	free(x->body);
	free(x);
}

/* (Re)start x: a fresh easy handle with the credentials it has now. */
static int
upstream_easy_start(struct upstream_xfer *x)
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
	upstream_reset_response(x);
	free(x->body);
	x->body = NULL;
	x->len = 0;
	x->too_big = 0;
	x->errbuf[0] = '\0';
	if (x->u->closing || (e = curl_easy_init()) == NULL)
		return -1;
	x->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, x->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, upstream_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_write_cb);
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
	/* A private registry's CA, instead of the system's bundle.  It
	 * applies to the redirects and token realms of this section too:
	 * they are the same operator's. */
	if (s->ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
	if (s->client_certificate[0] != '\0') {
		curl_easy_setopt(e, CURLOPT_SSLCERT, s->client_certificate);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(e, CURLOPT_SSLKEY, s->client_key);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (x->head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (x->accept == UPSTREAM_ACCEPT_MANIFESTS)
		x->hdrs = curl_slist_append(x->hdrs, UPSTREAM_ACCEPT_MANIFESTS_HDR);
	else if (x->accept == UPSTREAM_ACCEPT_INDEX)
		x->hdrs = curl_slist_append(x->hdrs, "Accept: " OCI_MT_INDEX);
	if (x->parent != NULL || x->basic || __atomic_load_n(&s->basic, __ATOMIC_RELAXED)) {
		/* The token endpoint, or an upstream that wants Basic. */
		if (s->username[0] != '\0') {
			curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(e, CURLOPT_USERNAME, s->username);
			curl_easy_setopt(e, CURLOPT_PASSWORD, s->password);
		}
	}
	if (x->parent == NULL && (tok = malloc(UPSTREAM_TOKEN_MAX + 32)) != NULL) {
		memcpy(tok, "Authorization: Bearer ", 22);
		if (upstream_token_get(s, x->scope, tok + 22, UPSTREAM_TOKEN_MAX))
			x->hdrs = curl_slist_append(x->hdrs, tok);
		explicit_bzero(tok, UPSTREAM_TOKEN_MAX + 32);
		free(tok);
	}
	if (x->hdrs != NULL)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	if (curl_multi_add_handle(x->u->multi, e) != CURLM_OK)
		return -1;
	x->in_multi = 1;
	return 0;
}

/* Start x; on failure its done runs now (with x->result set) and x is
 * freed.  Either way the caller must not touch x afterwards. */
void
upstream_xfer_run(struct upstream_xfer *x)
{
	if (upstream_easy_start(x) != 0) {
		x->result = CURLE_FAILED_INIT;
		x->status = 0;
		upstream_done(x);
		upstream_easy_free(x);
	}
}

static void
upstream_token_done(struct upstream_xfer *t)
{
	struct upstream_xfer *x = t->parent;
	char *tok;
	long long expires = 60;

	if ((tok = malloc(UPSTREAM_TOKEN_MAX)) != NULL && t->result == CURLE_OK && t->status == 200 &&
	    t->body != NULL && oci_token_parse(t->body, t->len, tok, UPSTREAM_TOKEN_MAX, &expires) == 0) {
		upstream_token_put(x->sec, x->scope, tok, expires);
		explicit_bzero(tok, UPSTREAM_TOKEN_MAX);
		free(tok);
		if (upstream_easy_start(x) == 0)
			return;
		x->result = CURLE_FAILED_INIT;
		x->status = 0;
	} else {
		free(tok);
		log_warn("proxy %s: token request for %s failed: %s", x->sec->name, x->scope,
		    t->result != CURLE_OK ? curl_easy_strerror(t->result) :
		    t->status == 401 ? "credentials refused (HTTP 401)" : "no token in the answer");
	}
	upstream_done(x);	/* with the upstream's 401 */
	upstream_easy_free(x);
}

/* x's easy handle finished (and left the multi handle). */
static void
upstream_finished(struct upstream_xfer *x)
{
	struct proxy_challenge ch;

	if (x->parent != NULL) {
		upstream_done(x);
		upstream_easy_free(x);
		return;
	}
	if (x->result == CURLE_OK && x->status == 401 && x->attempt == 0 && !x->u->closing &&
	    proxy_challenge_parse(x->www, &ch) == 0) {
		x->attempt = 1;
		if (strcmp(ch.scheme, "bearer") == 0 && (strncmp(ch.realm, "https://", 8) == 0 ||
		    strncmp(ch.realm, "http://", 7) == 0)) {
			struct upstream_xfer *t = upstream_easy_new(x->u, x->sec);
			char *svc = curl_easy_escape(NULL, ch.service, 0);
			char *scope = curl_easy_escape(NULL, ch.scope[0] != '\0' ? ch.scope : x->scope, 0);

			if (t != NULL && svc != NULL && scope != NULL &&
			    (size_t)snprintf(t->url, sizeof(t->url), "%s%sservice=%s&scope=%s", ch.realm,
			    strchr(ch.realm, '?') != NULL ? "&" : "?", svc, scope) < sizeof(t->url)) {
				curl_free(svc);
				curl_free(scope);
				t->parent = x;
				t->max = UPSTREAM_TOKEN_BODY_MAX;
				t->done = upstream_token_done;
				upstream_xfer_run(t);
				return;
			}
			curl_free(svc);
			curl_free(scope);
			if (t != NULL)
				upstream_easy_free(t);
		} else if (strcmp(ch.scheme, "basic") == 0 && x->sec->username[0] != '\0') {
			__atomic_store_n(&x->sec->basic, 1, __ATOMIC_RELAXED);
			x->basic = 1;
			if (upstream_easy_start(x) == 0)
				return;
			x->result = CURLE_FAILED_INIT;
			x->status = 0;
		}
	}
	upstream_done(x);
	upstream_easy_free(x);
}

/* A new upstream request of kind `what` ("manifests", "blobs", ...) for
 * repo/ref, on this worker; the caller sets callbacks and runs it.  NULL
 * on failure. */
struct upstream_xfer *
upstream_xfer_new(struct upstream *u, struct proxy_section *sec, const char *repo, const char *what,
    const char *ref, const char *query)
{
	struct upstream_xfer *x;

	if (u->closing || (x = upstream_easy_new(u, sec)) == NULL)
		return NULL;
	if ((size_t)snprintf(x->url, sizeof(x->url), "%s/v2/%s/%s%s%s%s%s", sec->url, repo, what,
	    ref != NULL ? "/" : "", ref != NULL ? ref : "", query != NULL ? "?" : "",
	    query != NULL ? query : "") >= sizeof(x->url)) {
		upstream_easy_free(x);
		return NULL;
	}
	snprintf(x->scope, sizeof(x->scope), "repository:%s:pull", repo);
	return x;
}

/* The client-facing error for an upstream that did not deliver. */
enum reg_error
upstream_xfer_error(const struct upstream_xfer *x, enum reg_error unknown, char *detail, size_t cap)
{
	if (x->result != CURLE_OK) {
		const char *hint = "";

		/* Say what to change: the operator reads this in the log. */
		if (x->result == CURLE_PEER_FAILED_VERIFICATION)
			hint = x->sec->ca_file[0] != '\0' ?
			    " (the upstream's certificate is not trusted by ca_file)" :
			    " (the upstream's certificate is not trusted: set ca_file to its CA)";
		else if (x->result == CURLE_SSL_CERTPROBLEM)
			hint = " (client_certificate or client_key cannot be used)";
		else if (x->result == CURLE_SSL_CACERT_BADFILE)
			hint = " (ca_file cannot be read)";
		snprintf(detail, cap, "upstream %s: %s%s", x->sec->name,
		    x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(x->result), hint);
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

char *
upstream_escape(const char *s)
{
	char *esc, *out;

	if (upstream_ready() != 0 || (esc = curl_easy_escape(NULL, s, 0)) == NULL)
		return NULL;
	out = strdup(esc);
	curl_free(esc);
	return out;
}
