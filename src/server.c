/* SPDX-License-Identifier: ISC
 * server.c — the HTTP/1.1 connection layer of ociregd.
 *
 * Decision (foundation issue): Debian 12 ships libevent 2.1.12, whose evhttp
 * reads a whole request body into memory before any handler runs; the hook
 * that would let a handler take the body as it arrives (evhttp_set_newreqcb,
 * bodies streamed through evhttp_request_set_on_complete_cb) exists only in
 * 2.2.  A docker PATCH carries a whole layer, often gigabytes, so evhttp is
 * out.  libevhtp (Debian: libevhtp-dev) streams but is an unmaintained fork
 * tied to its own threading model and its own parser.  So this file is a
 * small HTTP/1.1 server of our own on libevent bufferevents, with the framing
 * (request line, headers, Content-Length and chunked bodies) done by
 * http-parser, the proven parser from node.js.  It gives keep-alive,
 * Expect: 100-continue, a header deadline and an idle timeout, ceilings on
 * the URL and on header bytes and count, body slices handed to handlers as
 * they arrive (zero copy from the socket buffer), and responses from files
 * written from a sliding mapped window (server_file_pump).  TLS goes through
 * bufferevent_openssl without touching handlers.
 *
 * Threads: one worker per thread, each with its own event_base and its own
 * listening socket bound with SO_REUSEPORT so the kernel spreads connections.
 * A connection stays on the worker that accepted it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "log.h"
#include "notify.h"
#include "server.h"
#include "addr.h"
#include "uri.h"

#define SERVER_URL_MAX 8192
#define SERVER_HDR_BYTES (64 * 1024)
#define SERVER_HDR_COUNT 128
#define SERVER_READ_MAX (1 << 20)	/* one read(2) at most */
/* One write(2) at most: libevent's default is 16 KiB, one event loop
 * round per 16 KiB of a large answer. */
#define SERVER_WRITE_MAX (1 << 20)
#define SERVER_OUT_HIGH (1 << 20)	/* stop reading requests past this */
#define SERVER_OUT_LOW (256 * 1024)
#define SERVER_RBUF (128 * 1024)	/* the worker's direct read buffer */
#define SERVER_DIRECT_BUDGET (16u << 20)	/* bytes per connection per loop turn */

/* One worker: a thread with its own event loop and listener socket
 * (SO_REUSEPORT), its connections, and the application's context for it. */
struct http_worker {
	struct server *srv;
	int id;
	struct event_base *base;
	struct evconnlistener *listener;
	const struct config *cfg;	/* gen's */
	struct server_gen *gen;		/* a reference (server.c) */
	unsigned long nconns;
	struct http_conn *conns;	/* open connections (server.c) */
	char *rbuf;			/* direct socket reads (server.c) */
	struct ssl_ctx_st *ssl_ctx;	/* NULL: plain HTTP */
	struct worker *app;		/* the application's (hooks.worker_new) */
	int draining;			/* stopping: no new connections */
	/* accept() out of descriptors: paused, with back-off (server.c) */
	struct event *accept_timer;
	int accept_paused;
	int accept_delay_ms;
	unsigned long accept_failures;	/* since the last report */
	long long accept_logged_us;
	size_t mapped;			/* file bytes queued as mapped windows */
};

struct server {
	const struct config *cfg;
	/* The config the process started with: what listeners, workers and
	 * storage really run with, whatever reloads came since. */
	const struct config *start_cfg;
	int activated;			/* serving a socket systemd passed */
	char listen_addr[INET6_ADDRSTRLEN + 16];	/* the main listener, as bound */
	struct server_hooks hooks;
	SSL_CTX *ssl_ctx;		/* NULL: plain HTTP */
	struct http_worker *workers;
	int nworkers;
	pthread_t *threads;
	int port;
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *watchdog;
	struct evconnlistener *metrics_listener;	/* on worker 0 */
	int metrics_port;
	/* SIGHUP: the caller's reload function.  Each config and the auth
	 * built from it form a generation, freed when the last holder lets go
	 * (see struct server_gen); gens lists the live ones. */
	server_reload_fn reload_fn;
	void *reload_arg;
	struct server_gen *gen;		/* current: srv->cfg's */
	struct server_gen *gens;
	pthread_mutex_t gen_mu;
	SSL_CTX *pending_ctx;
	volatile int stopping;
	size_t body_bytes;		/* atomic: reserved by req_read_body */
};

/* A config and the application's part built from it, shared by the server (while current), each worker
 * (until it swaps to a newer one) and each request that began under it
 * (req->cfg): a reload must not free what a request in flight still reads,
 * nor keep every replaced config until exit (~125 KB each). */
struct server_gen {
	struct config *cfg;
	void *app;			/* the application's part (hooks.app_free) */
	int refs;			/* atomic */
	int owned;			/* 0: the caller's first pair, not ours to free */
	struct server *srv;
	struct server_gen *next;
};

struct http_conn {
	struct http_worker *w;
	struct bufferevent *bev;
	http_parser parser;
	char peer[64];

	/* request being parsed */
	struct request *req;
	/* URL and header bytes grow with the request, up to the limits: a
	 * connection of a CI fleet costs ~3 KiB, not the 72 KiB of fixed
	 * arrays (64 keep-alive connections held 4.9 MB). */
	char *url;
	size_t url_len, url_cap;
	char *hbuf;
	size_t hlen, hcap;
	struct { size_t name, value; } hoff[SERVER_HDR_COUNT];
	size_t nhdr;
	int last_was_value;
	enum reg_error parse_err;	/* set by callbacks that refuse */
	int hscan;			/* server_hscan's state */

	struct event *header_timer;
	int in_message;
	int closing;			/* close once output drains */
	int reading_paused;
	int body_paused;		/* req_body_pause: the handler is not ready */
	int freed;
	struct http_conn *next, *prev;	/* the worker's list, for shutdown */
	int waiting;			/* a deferred answer is outstanding */
	int tls;			/* bufferevent_openssl: no direct reads */
	int metrics_only;		/* accepted on [server] metrics_listen */
	int file_fd;			/* file response being pumped, or -1 */
	uint64_t file_off, file_left;
	struct event *resume_ev;	/* resume parsing after a deferred answer */
};

/* server_hscan's states: where in a request's head the last byte was. */
enum {
	HSCAN_START = 0,	/* before the request line (CR/LF skipped) */
	HSCAN_LINE,		/* in the request line */
	HSCAN_BOL,		/* at the start of a header line */
	HSCAN_NAME,		/* in a field name */
	HSCAN_VALUE,		/* in a field value */
	HSCAN_CR,		/* CR of the empty line ending the head */
	HSCAN_BODY,		/* head done: nothing to check until the next message */
};

static http_parser_settings server_parser_settings;

static int server_detached(struct request *req);
struct http_conn;
static int server_conn_adopt(struct http_worker *w, struct http_conn *c, evutil_socket_t fd);
static SSL_CTX *server_tls_ctx(const struct config *cfg, char *err, size_t cap);
static void server_file_pump(struct http_conn *c);
static void server_deferred_answered(struct request *req);
static void server_accept_resume(struct http_worker *w);

long long
server_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- config generations ---- */

/* A generation for cfg and auth with one reference (the caller's), on the
 * server's list; owned: freed with it.  NULL out of memory. */
static struct server_gen *
server_gen_new(struct server *srv, struct config *cfg, void *app, int owned)
{
	struct server_gen *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->cfg = cfg;
	g->app = app;
	g->srv = srv;
	g->owned = owned;
	g->refs = 1;
	pthread_mutex_lock(&srv->gen_mu);
	g->next = srv->gens;
	srv->gens = g;
	pthread_mutex_unlock(&srv->gen_mu);
	return g;
}

static void
server_gen_destroy(struct server_gen *g)
{
	if (g->owned) {
		config_free(g->cfg);
		free(g->cfg);
		if (g->srv->hooks.app_free != NULL)
			g->srv->hooks.app_free(g->srv->hooks.arg, g->app);
	}
	free(g);
}

static void
server_gen_ref(struct server_gen *g)
{
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
}

/* Drop a reference; the last one frees the generation.  Any thread. */
static void
server_gen_unref(struct server *srv, struct server_gen *g)
{
	struct server_gen **pp;

	if (g == NULL || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_lock(&srv->gen_mu);
	for (pp = &srv->gens; *pp != NULL; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	pthread_mutex_unlock(&srv->gen_mu);
	server_gen_destroy(g);
}

/* ---- requests: headers, query, response ---- */

const char *
req_header(const struct request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

int
req_query(const struct request *req, const char *key, char *out, size_t cap)
{
	return uri_query(req->query, key, out, cap);
}

void
req_add_header(struct request *req, const char *name, const char *fmt, ...)
{
	char value[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (req->nout == req->outcap) {
		size_t cap = req->outcap ? req->outcap * 2 : 8;
		struct req_header *n = arena_alloc(req->arena, cap * sizeof(*n));

		if (n == NULL)
			return;
		if (req->nout)
			memcpy(n, req->out, req->nout * sizeof(*n));
		req->out = n;
		req->outcap = cap;
	}
	req->out[req->nout].name = arena_strdup(req->arena, name);
	req->out[req->nout].value = arena_strdup(req->arena, value);
	if (req->out[req->nout].name != NULL && req->out[req->nout].value != NULL) {
		if (strcmp(name, "Docker-Content-Digest") == 0)
			req->log_digest = req->out[req->nout].value;
		req->nout++;
	}
}

static const char *
server_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

/* Write status line and headers.  A request that failed before or during
 * its body closes the connection unless the body was fully read. */
static void
server_write_head(struct request *req, int status, const char *content_type, uint64_t len)
{
	struct http_conn *c = req->conn;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	req->responded = 1;
	req->status = status;
	if (!http_should_keep_alive(&c->parser) || c->w->draining)
		c->closing = 1;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Docker-Distribution-API-Version: registry/2.0\r\n"
	    "Content-Length: %llu\r\n", status, server_reason(status),
	    (unsigned long long)len);
	if (content_type != NULL)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", content_type);
	for (size_t i = 0; i < req->nout; i++)
		evbuffer_add_printf(out, "%s: %s\r\n", req->out[i].name, req->out[i].value);
	if (c->closing)
		evbuffer_add(out, "Connection: close\r\n", 19);
	evbuffer_add(out, "\r\n", 2);
}

/* When answering before the body has been read: if the client is waiting
 * for 100-continue we never asked for the body, so it may not come; close
 * after the answer rather than guess where the next request starts. */
static void
server_early_answer(struct request *req)
{
	struct http_conn *c = req->conn;

	if (c->in_message && (req->has_length || req->chunked) &&
	    req_header(req, "Expect") != NULL)
		c->closing = 1;
	/* Answered: the rest of a paused body is read (and dropped). */
	if (c->body_paused) {
		c->body_paused = 0;
		event_active(c->resume_ev, EV_TIMEOUT, 0);
	}
}

void
req_respond(struct request *req, int status, const char *content_type,
    const void *body, size_t len)
{
	if (server_detached(req) || req->responded)
		return;
	server_early_answer(req);
	server_write_head(req, status, content_type, len);
	if (req->method != METHOD_HEAD && len > 0) {
		evbuffer_add(bufferevent_get_output(req->conn->bev), body, len);
		req->bytes_out = len;
	}
	server_deferred_answered(req);
}

void
req_respond_file(struct request *req, int status, const char *content_type,
    int fd, uint64_t offset, uint64_t len)
{
	if (req->conn == NULL || req->responded) {
		close(fd);
		server_detached(req);
		return;
	}
	server_early_answer(req);
	server_write_head(req, status, content_type, len);
	if (req->method == METHOD_HEAD || len == 0) {
		close(fd);
		server_deferred_answered(req);
		return;
	}
	/* Pumped in slices as the output drains: bounded memory, whatever
	 * the size of the file. */
	req->conn->file_fd = fd;
	req->conn->file_off = offset;
	req->conn->file_left = len;
	req->bytes_out = len;
	server_file_pump(req->conn);
	server_deferred_answered(req);
}

void
req_error(struct request *req, enum reg_error e, const char *detail)
{
	char buf[1024];
	size_t n;

	if (server_detached(req))
		return;
	if (e == ERR_NONE)
		e = ERR_INTERNAL;
	n = errors_render(e, detail, buf, sizeof(buf));
	if (errors_status(e) >= 500)
		log_error("%s %s: %s%s%s", req->method_name, req->path ? req->path : req->url,
		    errors_message(e), detail ? ": " : "", detail ? detail : "");
	if (e == ERR_TOOMANYREQUESTS) {
		int has = 0;

		for (size_t i = 0; i < req->nout; i++)
			has |= strcasecmp(req->out[i].name, "Retry-After") == 0;
		if (!has)
			req_add_header(req, "Retry-After", "5");
	}
	req_respond(req, errors_status(e), "application/json", buf, n);
}

void
req_on_end(struct request *req, void (*fn)(struct request *))
{
	req->end_fn = fn;
}

void
req_stream_body(struct request *req, req_body_fn fn, req_done_fn done, void *ctx)
{
	req->body_fn = fn;
	req->done_fn = done;
	req->ctx = ctx;
}

void
req_stream_body_buffer(struct request *req, req_body_buf_fn fn)
{
	req->body_buf_fn = fn;
}

static int
server_collect_body(struct request *req, const char *data, size_t len)
{
	if (len > req->body_max - req->body_len)
		return -ERR_TOO_LARGE;
	if (req->body == NULL) {
		size_t cap = req->has_length ? (size_t)req->content_length : req->body_max;

		if ((req->body = malloc(cap + 1)) == NULL)
			return -ERR_INTERNAL;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	return 0;
}

void
req_read_body(struct request *req, size_t max, req_done_fn done, void *ctx)
{
	struct server *srv = req->hw->srv;
	size_t need, held;

	if (req->has_length && req->content_length > max) {
		req_error(req, ERR_TOO_LARGE, NULL);
		return;
	}
	/* The whole buffer is reserved before a byte of it arrives (and given
	 * back in server_req_free, however the request ends): bodies trickled
	 * in over many connections must not add up past the budget. */
	need = (req->has_length ? (size_t)req->content_length : max) + 1;
	held = __atomic_add_fetch(&srv->body_bytes, need, __ATOMIC_RELAXED);
	if (held > (size_t)req->cfg->max_body_memory) {
		__atomic_sub_fetch(&srv->body_bytes, need, __ATOMIC_RELAXED);
		log_warn("%s: %s %s: [limits] max_body_memory reached (%zu bytes held)", req->peer,
		    req->method_name, req->url, held - need);
		req_error(req, ERR_TOOMANYREQUESTS, "request bodies held in memory are at the limit");
		return;
	}
	req->body_reserved = need;
	req->body_max = max;
	req_stream_body(req, server_collect_body, done, ctx);
}

/* ---- connections ---- */

static void server_conn_free(struct http_conn *c);
static void server_conn_process(struct http_conn *c);
static void server_event_cb(struct bufferevent *bev, short what, void *arg);

/* End of a request: call the handler's done hook if it has not run, log, and
 * release the request's memory. */
static void
server_req_free(struct request *req)
{
	struct log_access_rec r = {
		.peer = req->peer, .user = req->user, .method = req->method_name,
		.path = req->url ? req->url : "-", .status = req->responded ? req->status : 499,
		.bytes_in = req->body_bytes, .bytes_out = req->bytes_out,
		.usec = server_now_us() - req->t_start_us, .worker = req->hw->id,
	};

	r.digest = req->log_digest != NULL ? req->log_digest :
	    (req->m.ref_is_digest ? req->m.ref : NULL);
	struct server_gen *gen = req->gen;
	struct server *srv = req->hw->srv;

	log_access((enum log_access_format)req->hw->cfg->access_log, &r);
	if (srv->hooks.request_done != NULL)
		srv->hooks.request_done(req, &r);
	if (req->end_fn != NULL)
		req->end_fn(req);
	free(req->body);
	if (req->body_reserved > 0)
		__atomic_sub_fetch(&srv->body_bytes, req->body_reserved, __ATOMIC_RELAXED);
	arena_free(req->arena);
	/* Last: the request may hold the last reference to its config. */
	server_gen_unref(srv, gen);
}

/* End of a request's message (or of its connection, aborted): call the
 * handler's done hook if it has not run, then log and release the request
 * -- unless its answer was deferred and is still to come.  Then the
 * connection waits (message complete) or, if it is going away, the request
 * is detached and freed when the handler finally answers into the void. */
static void
server_req_finish(struct http_conn *c, int aborted)
{
	struct request *req = c->req;

	if (req == NULL)
		return;
	if (aborted)
		req->aborted = 1;
	if (req->done_fn != NULL) {
		req_done_fn done = req->done_fn;

		req->done_fn = NULL;
		done(req);
	}
	if (req->deferred && (!req->responded || req->streaming)) {
		if (aborted) {
			req->conn = NULL;
			c->req = NULL;
		} else {
			c->waiting = 1;
			bufferevent_disable(c->bev, EV_READ);
		}
		return;
	}
	if (!req->responded && !aborted)
		req_error(req, ERR_INTERNAL, "handler gave no answer");
	server_req_free(req);
	c->req = NULL;
}

void
req_defer(struct request *req)
{
	req->deferred = 1;
}

void
req_body_pause(struct request *req)
{
	struct http_conn *c = req->conn;

	if (c == NULL || c->req != req || c->body_paused)
		return;
	/* Nothing more is read from the socket (the kernel's buffer and
	 * then the client's window fill up: TCP's flow control), and the
	 * parser stops after the callback that asked (see cb_body). */
	c->body_paused = 1;
	bufferevent_disable(c->bev, EV_READ);
}

void
req_body_resume(struct request *req)
{
	struct http_conn *c = req->conn;

	if (c == NULL || c->req != req || !c->body_paused)
		return;
	c->body_paused = 0;
	/* On the next loop turn: the caller may be deep in a callback. */
	event_active(c->resume_ev, EV_TIMEOUT, 0);
}

void
req_stream_begin(struct request *req, int status, const char *content_type, uint64_t len)
{
	req->deferred = 1;
	if (server_detached(req) || req->responded)
		return;
	req->streaming = 1;
	server_early_answer(req);
	server_write_head(req, status, content_type, len);
	if (req->method == METHOD_HEAD)
		req_stream_end(req, 1);
}

int
req_stream_write(struct request *req, const void *data, size_t len)
{
	if (req->conn == NULL || !req->streaming)
		return -1;
	if (evbuffer_add(bufferevent_get_output(req->conn->bev), data, len) != 0)
		return -1;
	req->bytes_out += len;
	return 0;
}

int
req_stream_file(struct request *req, int fd, uint64_t off, uint64_t len)
{
	struct evbuffer *out;
	int dfd;

	if (req->conn == NULL || !req->streaming)
		return -1;
	if (len == 0)
		return 0;
	out = bufferevent_get_output(req->conn->bev);
	if (req->conn->tls) {
		/* No sendfile under TLS: copy the slice (callers bound it). */
		struct evbuffer_iovec v;
		ssize_t n;

		if (evbuffer_reserve_space(out, (ev_ssize_t)len, &v, 1) < 1)
			return -1;
		n = pread(fd, v.iov_base, (size_t)len, (off_t)off);
		if (n < 0 || (uint64_t)n != len)
			return -1;
		v.iov_len = (size_t)n;
		evbuffer_commit_space(out, &v, 1);
	} else {
		if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
			return -1;
		if (evbuffer_add_file(out, dfd, (ev_off_t)off, (ev_off_t)len) != 0) {
			close(dfd);
			return -1;
		}
	}
	req->bytes_out += len;
	return 0;
}

size_t
req_stream_pending(const struct request *req)
{
	if (req->conn == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(req->conn->bev));
}

void
req_stream_on_drain(struct request *req, void (*fn)(struct request *))
{
	req->drain_fn = fn;
}

void
req_stream_end(struct request *req, int ok)
{
	if (req->conn == NULL) {
		/* The client left; free the detached request now. */
		req->streaming = 0;
		server_detached(req);
		return;
	}
	req->streaming = 0;
	req->drain_fn = NULL;
	if (!ok) {
		/* Part of the body is out: the only honest end is to close. */
		req->conn->closing = 1;
		bufferevent_disable(req->conn->bev, EV_READ);
	}
	/* This may free req (the message is complete); if the request is
	 * still being received it is finished when it completes. */
	server_deferred_answered(req);
}

/* A detached request (its connection is gone) that answers now is freed;
 * returns 1 if req was detached. */
static int
server_detached(struct request *req)
{
	if (req->conn != NULL)
		return 0;
	if (req->deferred)
		server_req_free(req);
	return 1;
}

/* A deferred answer was queued after the message had completed: release
 * the request and resume parsing on the next loop turn. */
static void
server_deferred_answered(struct request *req)
{
	struct http_conn *c = req->conn;

	if (!req->deferred || !c->waiting || req->streaming)
		return;
	c->waiting = 0;
	server_req_free(req);
	c->req = NULL;
	event_active(c->resume_ev, EV_TIMEOUT, 0);
}

/* A protocol-level failure: answer if we still can, then close. */
static void
server_conn_fail(struct http_conn *c, enum reg_error e)
{
	char buf[512];
	size_t n;

	c->closing = 1;
	if (c->req != NULL && !c->req->responded) {
		req_error(c->req, e, NULL);
		server_req_finish(c, 1);
	} else if (c->req != NULL) {
		server_req_finish(c, 1);
	} else {
		struct evbuffer *out = bufferevent_get_output(c->bev);

		n = errors_render(e, NULL, buf, sizeof(buf));
		evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
		    "Docker-Distribution-API-Version: registry/2.0\r\n"
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n", errors_status(e),
		    server_reason(errors_status(e)), n);
		evbuffer_add(out, buf, n);
		{
			struct log_access_rec r = {.peer = c->peer, .method = "-", .path = "-",
			    .status = errors_status(e), .bytes_out = n, .worker = c->w->id};

			log_access((enum log_access_format)c->w->cfg->access_log, &r);
		}
	}
	bufferevent_disable(c->bev, EV_READ);
}

static void
server_header_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	log_debug("%s: header timeout", c->peer);
	server_conn_fail(c, ERR_BAD_REQUEST);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		server_conn_free(c);
}

static int
cb_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;
	struct timeval tv = {c->w->cfg->header_timeout, 0};

	c->url_len = 0;
	c->hlen = 0;
	c->nhdr = 0;
	c->last_was_value = 0;
	c->parse_err = ERR_NONE;
	c->in_message = 1;
	evtimer_add(c->header_timer, &tv);
	return 0;
}

/* Make *buf (capacity *cap) hold need bytes: doubling from 512, capped at
 * max (need <= max).  0, or -1 out of memory. */
static int
server_grow(char **buf, size_t *cap, size_t need, size_t max)
{
	size_t n = *cap > 0 ? *cap : 512;
	char *nb;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (n > max)
		n = max;
	if ((nb = realloc(*buf, n)) == NULL)
		return -1;
	*buf = nb;
	*cap = n;
	return 0;
}

static int
cb_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (len > SERVER_URL_MAX - c->url_len) {
		c->parse_err = ERR_URI_TOO_LONG;
		return -1;
	}
	if (server_grow(&c->url, &c->url_cap, c->url_len + len, SERVER_URL_MAX) != 0) {
		c->parse_err = ERR_INTERNAL;
		return -1;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	return 0;
}

static int
server_hbuf_add(struct http_conn *c, const char *at, size_t len)
{
	if (len >= SERVER_HDR_BYTES - c->hlen) {
		c->parse_err = ERR_HEADERS_TOO_LARGE;
		return -1;
	}
	if (server_grow(&c->hbuf, &c->hcap, c->hlen + len + 1, SERVER_HDR_BYTES) != 0) {
		c->parse_err = ERR_INTERNAL;
		return -1;
	}
	memcpy(c->hbuf + c->hlen, at, len);
	c->hlen += len;
	return 0;
}

static int
cb_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->nhdr == 0 || c->last_was_value) {
		if (c->nhdr > 0 && server_hbuf_add(c, "", 1) != 0)
			return -1;
		if (c->nhdr == SERVER_HDR_COUNT) {
			c->parse_err = ERR_HEADERS_TOO_LARGE;
			return -1;
		}
		c->hoff[c->nhdr].name = c->hlen;
		c->hoff[c->nhdr].value = SIZE_MAX;
		c->nhdr++;
		c->last_was_value = 0;
	}
	return server_hbuf_add(c, at, len);
}

static int
cb_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->nhdr == 0)
		return -1;
	if (!c->last_was_value) {
		if (server_hbuf_add(c, "", 1) != 0)
			return -1;
		c->hoff[c->nhdr - 1].value = c->hlen;
		c->last_was_value = 1;
	}
	return server_hbuf_add(c, at, len);
}

static char *
server_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static enum http_method_kind
server_method(unsigned m)
{
	switch (m) {
	case HTTP_GET: return METHOD_GET;
	case HTTP_HEAD: return METHOD_HEAD;
	case HTTP_POST: return METHOD_POST;
	case HTTP_PUT: return METHOD_PUT;
	case HTTP_PATCH: return METHOD_PATCH;
	case HTTP_DELETE: return METHOD_DELETE;
	default: return METHOD_OTHER;
	}
}

/* Headers are complete: build the request and hand it to the router. */
static int
cb_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct request *req;
	struct req_header *h;
	struct arena *a;
	struct timeval tv = {c->w->cfg->read_timeout, 0};
	const char *q;
	char *path;

	evtimer_del(c->header_timer);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	if (c->nhdr > 0 && server_hbuf_add(c, "", 1) != 0)
		return -1;
	if (server_grow(&c->url, &c->url_cap, 1, SERVER_URL_MAX) != 0) {
		c->parse_err = ERR_INTERNAL;
		return -1;
	}
	if ((a = arena_new()) == NULL || (req = arena_alloc(a, sizeof(*req))) == NULL) {
		arena_free(a);
		c->parse_err = ERR_INTERNAL;
		return -1;
	}
	req->arena = a;
	req->conn = c;
	req->hw = c->w;
	req->w = c->w->app;
	/* The config this request lives by, even if a reload swaps the
	 * worker's meanwhile: its reference keeps it allocated. */
	req->gen = c->w->gen;
	server_gen_ref(req->gen);
	req->cfg = c->w->cfg;
	req->t_start_us = server_now_us();
	req->method = server_method(p->method);
	req->method_name = http_method_str((enum http_method)p->method);
	req->peer = arena_strdup(a, c->peer);
	c->req = req;
	req->url = arena_strndup(a, c->url, c->url_len);
	h = arena_alloc(a, (c->nhdr ? c->nhdr : 1) * sizeof(*h));
	if (req->url == NULL || h == NULL) {
		c->parse_err = ERR_INTERNAL;
		return -1;
	}
	for (size_t i = 0; i < c->nhdr; i++) {
		h[i].name = server_trim(c->hbuf + c->hoff[i].name);
		h[i].value = c->hoff[i].value == SIZE_MAX ? "" :
		    server_trim(c->hbuf + c->hoff[i].value);
	}
	req->headers = h;
	req->nheaders = c->nhdr;
	req->chunked = (p->flags & F_CHUNKED) != 0;
	if (!req->chunked && req_header(req, "Content-Length") != NULL) {
		req->has_length = 1;
		req->content_length = p->content_length;
	}
	/* Split the target into path and query; decode the path. */
	q = memchr(c->url, '?', c->url_len);
	if (q != NULL)
		req->query = arena_strndup(a, q + 1, c->url_len - (size_t)(q - c->url) - 1);
	path = arena_alloc(a, c->url_len + 1);
	if (path == NULL || uri_decode(c->url, q ? (size_t)(q - c->url) : c->url_len,
	    path, c->url_len + 1) != 0) {
		req->path = req->url;
		req_error(req, ERR_BAD_REQUEST, "malformed request path");
		return 0;
	}
	req->path = path;
	c->w->srv->hooks.dispatch(req);
	if (c->body_paused)
		http_parser_pause(p, 1);	/* not a byte of the body yet */
	if (!req->responded && req_header(req, "Expect") != NULL &&
	    strcasecmp(req_header(req, "Expect"), "100-continue") == 0 &&
	    (req->chunked || req->content_length > 0))
		evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return 0;
}

static int
cb_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct request *req = c->req;
	int rc;

	if (req == NULL)
		return 0;
	req->body_bytes += len;
	if (req->responded || req->body_fn == NULL)
		return 0;
	if ((rc = req->body_fn(req, at, len)) != 0) {
		req->body_fn = NULL;
		req_error(req, (enum reg_error)-rc, NULL);
	}
	if (c->body_paused)
		http_parser_pause(p, 1);
	return 0;
}

static int
cb_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;

	c->in_message = 0;
	c->hscan = HSCAN_START;
	server_req_finish(c, 0);
	/* Stop here: the next pipelined request is parsed only after this
	 * one's answer is queued, and not at all if we are closing. */
	http_parser_pause(p, 1);
	return 0;
}

/* http-parser takes "Name : value" (whitespace before the colon) and
 * obs-fold continuation lines, so "Transfer-Encoding : chunked" or a folded
 * "Transfer-Encoding:\r\n chunked" frames the body as chunked -- while a
 * proxy in front may read the same bytes differently (request smuggling).
 * RFC 9112 5.1 and 5.2: a server must reject both with 400.  So the head's
 * bytes are checked here, before the parser sees them; the state carries
 * across reads.  -1: refuse. */
static int
server_hscan(struct http_conn *c, const char *data, size_t len)
{
	int st = c->hscan;

	for (size_t i = 0; i < len && st != HSCAN_BODY; i++) {
		char ch = data[i];

		switch (st) {
		case HSCAN_START:
			if (ch != '\r' && ch != '\n')
				st = HSCAN_LINE;
			break;
		case HSCAN_LINE:
		case HSCAN_VALUE:
			if (ch == '\n')
				st = HSCAN_BOL;
			break;
		case HSCAN_BOL:
			if (ch == ' ' || ch == '\t')
				return -1;	/* obs-fold (or space before the first field) */
			st = ch == '\r' ? HSCAN_CR : ch == '\n' ? HSCAN_BODY : HSCAN_NAME;
			break;
		case HSCAN_NAME:
			if (ch == ' ' || ch == '\t')
				return -1;	/* whitespace in or after a field name */
			if (ch == ':')
				st = HSCAN_VALUE;
			else if (ch == '\n')
				st = HSCAN_BOL;	/* no colon: the parser refuses it */
			break;
		case HSCAN_CR:
			st = HSCAN_BODY;	/* LF, or junk the parser refuses */
			break;
		}
	}
	c->hscan = st;
	return 0;
}

#define SERVER_PUMP_FILL (4u << 20)
#define SERVER_PUMP_SLICE (2u << 20)
#define SERVER_PUMP_TLS_SLICE (256u << 10)
#define SERVER_PUMP_TLS_FILL (1u << 20)
/* Mapped windows queued per worker at most; past it, slices go by
 * sendfile.  A mapped window is resident file memory of the process while
 * it is queued (VmRSS counts it), hence a small bound. */
#define SERVER_MAP_BUDGET (8u << 20)

struct server_map {
	struct http_worker *w;
	size_t len;
};

/* A mapped window was written and unmapped: give its bytes back. */
static void
server_map_done(const struct evbuffer_file_segment *seg, int flags, void *arg)
{
	struct server_map *m = arg;

	(void)seg;
	(void)flags;
	m->w->mapped -= m->len;
	free(m);
}

/* Queue the slice [off, off + len) of fd on out: as a mapped window if the
 * worker's budget allows, else by sendfile.  0, or -1. */
static int
server_file_slice(struct http_conn *c, struct evbuffer *out, uint64_t off, size_t len)
{
	struct evbuffer_file_segment *seg;
	struct server_map *m;
	int fd, rc;

	if (c->w->mapped + len <= SERVER_MAP_BUDGET && (m = malloc(sizeof(*m))) != NULL) {
		seg = evbuffer_file_segment_new(c->file_fd, (ev_off_t)off, (ev_off_t)len,
		    EVBUF_FS_DISABLE_SENDFILE | EVBUF_FS_DISABLE_LOCKING);
		if (seg == NULL) {
			free(m);
			return -1;
		}
		m->w = c->w;
		m->len = len;
		c->w->mapped += len;
		evbuffer_file_segment_add_cleanup_cb(seg, server_map_done, m);
		/* The output holds the segment from here; ours goes. */
		rc = evbuffer_add_file_segment(out, seg, 0, (ev_off_t)len);
		evbuffer_file_segment_free(seg);
		return rc;
	}
	if ((fd = fcntl(c->file_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -1;
	if (evbuffer_add_file(out, fd, (ev_off_t)off, (ev_off_t)len) != 0) {
		close(fd);
		return -1;
	}
	return 0;
}

/* Refill the output with the next slices of the file being answered
 * (bounded memory: at most SERVER_PUMP_FILL queued, SERVER_PUMP_TLS_FILL
 * copied under TLS).  When the file is
 * done, parsing of further requests resumes.
 *
 * Plain connections queue each slice as a mapped window of the file
 * (evbuffer_file_segment without sendfile; unmapped once written) while
 * the worker's SERVER_MAP_BUDGET lasts, so each write(2) copies from the
 * page cache into linear socket buffers; slices past the budget go by
 * sendfile.  A receiver copies linear socket buffers much faster than the
 * page-cache fragments sendfile queues: on one 1 GiB loopback pull, curl
 * spent 0.15-0.20 s of system time per GiB against 0.33-0.63 with
 * sendfile, ociregd ~0.26 s against ~0.2, and the pull went from about
 * nginx's speed to ahead of CNCF Distribution's (which reads and writes
 * through 32 KiB; see README, Performance).  2 MiB windows and 1 MiB
 * writes (SERVER_WRITE_MAX): 256 KiB windows cost a munmap, with its TLB
 * shootdown, every 256 KiB and were slower.  A write that meets a
 * truncated file fails with EFAULT (the kernel reads the mapping, never
 * this process), which ends the connection like a short read.  TLS copies
 * into the output: its records are encrypted from memory. */
static void
server_file_pump(struct http_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (!c->tls && c->file_fd >= 0 && c->file_left > 0 &&
	    evbuffer_get_length(out) < SERVER_PUMP_FILL) {
		size_t want = c->file_left < SERVER_PUMP_SLICE ? (size_t)c->file_left : SERVER_PUMP_SLICE;

		if (server_file_slice(c, out, c->file_off, want) != 0) {
			/* The answer is half sent: all we can do is close. */
			log_error("%s: queueing file for response: %s", c->peer, strerror(errno));
			c->closing = 1;
			c->file_left = 0;
			break;
		}
		c->file_off += want;
		c->file_left -= want;
	}
	while (c->tls && c->file_fd >= 0 && c->file_left > 0 &&
	    evbuffer_get_length(out) < SERVER_PUMP_TLS_FILL) {
		struct evbuffer_iovec v;
		size_t want = c->file_left < SERVER_PUMP_TLS_SLICE ? (size_t)c->file_left :
		    SERVER_PUMP_TLS_SLICE;
		ssize_t n;

		if (evbuffer_reserve_space(out, (ev_ssize_t)want, &v, 1) < 1)
			break;
		n = pread(c->file_fd, v.iov_base, want, (off_t)c->file_off);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			/* The answer is half sent: all we can do is close. */
			log_error("%s: reading file for response: %s", c->peer,
			    n < 0 ? strerror(errno) : "file shorter than announced");
			c->closing = 1;
			c->file_left = 0;
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(out, &v, 1);
		c->file_off += (uint64_t)n;
		c->file_left -= (uint64_t)n;
	}
	if (c->file_fd >= 0 && c->file_left == 0) {
		close(c->file_fd);
		c->file_fd = -1;
		event_active(c->resume_ev, EV_TIMEOUT, 0);
	}
}

static void
server_conn_free(struct http_conn *c)
{
	if (c->freed)
		return;
	c->freed = 1;
	if (c->req != NULL)
		server_req_finish(c, 1);
	event_free(c->header_timer);
	event_free(c->resume_ev);
	if (c->file_fd >= 0)
		close(c->file_fd);
	bufferevent_free(c->bev);
	c->w->nconns--;
	if (c->w->srv->hooks.conn_count != NULL)
		c->w->srv->hooks.conn_count(c->w->app, -1);
	if (c->w->draining && c->w->nconns == 0)
		event_base_loopexit(c->w->base, NULL);
	/* Its descriptor is free now (bufferevent_free closed it). */
	server_accept_resume(c->w);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->url);
	free(c->hbuf);
	free(c);
}

/* Feed bytes to the parser.  Returns how many were consumed; stops early
 * (consumed < len) when the connection must not parse further now: it is
 * closing, failed, or its answers are piling up unread. */
static size_t
server_feed(struct http_conn *c, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len && !c->closing && !c->waiting && !c->body_paused && c->file_fd < 0) {
		size_t n;
		enum http_errno err;

		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > SERVER_OUT_HIGH) {
			/* The client is not reading its answers; stop reading
			 * its requests until it does. */
			bufferevent_disable(c->bev, EV_READ);
			c->reading_paused = 1;
			break;
		}
		/* Only bytes this very call hands the parser: it stops at the
		 * end of a message, where the scan starts over. */
		if (c->hscan != HSCAN_BODY && server_hscan(c, data + off, len - off) != 0) {
			log_debug("%s: whitespace before a colon or a folded header line", c->peer);
			server_conn_fail(c, ERR_BAD_REQUEST);
			break;
		}
		n = http_parser_execute(&c->parser, &server_parser_settings, data + off, len - off);
		off += n;
		err = HTTP_PARSER_ERRNO(&c->parser);
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			continue;
		}
		if (err != HPE_OK) {
			enum reg_error e = c->parse_err;

			if (e == ERR_NONE && err == HPE_HEADER_OVERFLOW)
				/* http-parser counts the request line in its
				 * header limit: before any header it is the URI. */
				e = c->nhdr == 0 ? ERR_URI_TOO_LONG : ERR_HEADERS_TOO_LARGE;
			else if (e == ERR_NONE)
				e = ERR_BAD_REQUEST;
			log_debug("%s: http parse error: %s", c->peer, http_errno_name(err));
			server_conn_fail(c, e);
			break;
		}
	}
	return off;
}

/* Returns 1 if the connection was freed. */
static int
server_conn_settle(struct http_conn *c)
{
	if (c->closing) {
		bufferevent_disable(c->bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
			server_conn_free(c);
			return 1;
		}
	}
	return 0;
}

/* Where the next direct read may land: inside the body sink's own buffer
 * when the request streams a body of known length into one (an upload
 * spool), so the bytes are not copied again; no further than the body's
 * end, so nothing of a pipelined request lands there. */
static char *
server_body_window(struct http_conn *c, size_t *cap)
{
	struct request *req = c->req;
	uint64_t left = c->parser.content_length;
	char *p;

	if (req == NULL || req->body_buf_fn == NULL || req->body_fn == NULL || req->responded ||
	    !c->in_message || req->chunked || !req->has_length || left == 0 || left == ULLONG_MAX)
		return NULL;
	if ((p = req->body_buf_fn(req, cap)) == NULL || *cap == 0)
		return NULL;
	if (*cap > left)
		*cap = (size_t)left;
	return p;
}

static void
server_conn_process(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t budget = SERVER_DIRECT_BUDGET, cap;

	while (!c->closing && !c->reading_paused && !c->waiting && !c->body_paused &&
	    c->file_fd < 0 && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		size_t n;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = server_feed(c, v.iov_base, v.iov_len);
		evbuffer_drain(in, n);
		if (n < v.iov_len)
			break;
	}
	if (server_conn_settle(c))
		return;
	/* libevent 2.1's evbuffer_read reads at most 4096 bytes per call (its
	 * EVBUFFER_MAX_READ), one read per loop turn: ~5 KB per syscall, 200
	 * MB/s for a layer upload.  So once the bufferevent's input is drained
	 * we read the socket ourselves into the worker's large buffer and feed
	 * the parser from there, up to a budget per turn for fairness; bytes
	 * the parser does not take now go back into the input buffer. */
	while (!c->tls && !c->closing && !c->reading_paused && !c->waiting && !c->body_paused &&
	    c->file_fd < 0 && evbuffer_get_length(in) == 0 && budget > 0) {
		char *dst = server_body_window(c, &cap);
		ssize_t n;
		size_t used;

		if (dst == NULL) {
			dst = c->w->rbuf;
			cap = SERVER_RBUF;
		}
		n = recv(bufferevent_getfd(c->bev), dst, cap, 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			server_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
			return;
		}
		if (n == 0) {
			server_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
			return;
		}
		used = server_feed(c, dst, (size_t)n);
		/* What the parser did not take waits in the input buffer (empty
		 * here).  Its end is frozen by the bufferevent, its start is
		 * not: prepend.  Losing these bytes would desynchronise the
		 * stream (a body parsed as a request). */
		if (used < (size_t)n && evbuffer_prepend(in, dst + used, (size_t)n - used) != 0) {
			log_error("%s: cannot keep %zu unparsed bytes; closing", c->peer, (size_t)n - used);
			server_conn_fail(c, ERR_INTERNAL);
			break;
		}
		budget -= (size_t)n < budget ? (size_t)n : budget;
	}
	server_conn_settle(c);
}

static void
server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->closing && !c->reading_paused && !c->body_paused)
		bufferevent_enable(c->bev, EV_READ);
	server_conn_process(c);
}

static void
server_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	server_conn_process(arg);
}

static void
server_write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	size_t left;

	if (c->file_fd >= 0)
		server_file_pump(c);
	if (c->req != NULL && c->req->streaming && c->req->drain_fn != NULL)
		c->req->drain_fn(c->req);
	left = evbuffer_get_length(bufferevent_get_output(bev));
	/* A streamed answer drains between its pieces: close only after
	 * req_stream_end. */
	if (c->closing && left == 0 && (c->req == NULL || !c->req->streaming)) {
		server_conn_free(c);
		return;
	}
	if (c->reading_paused && left <= SERVER_OUT_LOW) {
		c->reading_paused = 0;
		if (!c->body_paused)
			bufferevent_enable(bev, EV_READ);
		server_conn_process(c);
	}
}

static void
server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;		/* the TLS handshake finished */
	if ((what & BEV_EVENT_EOF) && c->req == NULL &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* The client half-closed after its last request: deliver
		 * the answers still queued, then close. */
		c->closing = 1;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("%s: %s timeout", c->peer, (what & BEV_EVENT_READING) ? "read" : "write");
	else if (what & BEV_EVENT_ERROR)
		log_debug("%s: connection error: %s", c->peer, strerror(errno));
	/* EOF, error or timeout: whatever the client had not finished is
	 * aborted (uploads keep what was written, see upload.c). */
	server_conn_free(c);
}

/* ---- accepting: pause while descriptors are out ---- */

#define SERVER_ACCEPT_DELAY_MIN 10	/* ms */
#define SERVER_ACCEPT_DELAY_MAX 1000

static void
server_listeners_enable(struct http_worker *w, int on)
{
	if (w->listener != NULL)
		(on ? evconnlistener_enable : evconnlistener_disable)(w->listener);
	if (w->id == 0 && w->srv->metrics_listener != NULL)
		(on ? evconnlistener_enable : evconnlistener_disable)(w->srv->metrics_listener);
}

/* Accept again: the back-off ran out, or a connection closed and gave its
 * descriptor back.  Not while draining (the listeners stay off). */
static void
server_accept_resume(struct http_worker *w)
{
	if (!w->accept_paused || w->draining)
		return;
	w->accept_paused = 0;
	evtimer_del(w->accept_timer);
	server_listeners_enable(w, 1);
}

static void
server_accept_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_accept_resume(arg);
}

/* accept() failed with the connection still queued: out of descriptors
 * (EMFILE, ENFILE) or kernel memory.  Left enabled, libevent's listener
 * would retry at once, forever: a core at 100% and a warning per try
 * (millions a second).  Pause instead, 10 ms doubling to 1 s while the
 * failures go on, and report once a second with a count. */
static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct http_worker *w = arg;
	int err = EVUTIL_SOCKET_ERROR();
	long long now = server_now_us();
	struct timeval tv;

	(void)l;
	w->accept_delay_ms = w->accept_delay_ms == 0 ? SERVER_ACCEPT_DELAY_MIN :
	    w->accept_delay_ms * 2 > SERVER_ACCEPT_DELAY_MAX ? SERVER_ACCEPT_DELAY_MAX :
	    w->accept_delay_ms * 2;
	w->accept_failures++;
	if (now - w->accept_logged_us >= 1000000) {
		log_warn("worker %d: accept: %s (%lu time%s since the last report): pausing accepts "
		    "for %d ms or until a connection closes", w->id, strerror(err), w->accept_failures,
		    w->accept_failures == 1 ? "" : "s", w->accept_delay_ms);
		w->accept_failures = 0;
		w->accept_logged_us = now;
	}
	server_listeners_enable(w, 0);
	w->accept_paused = 1;
	tv.tv_sec = w->accept_delay_ms / 1000;
	tv.tv_usec = (w->accept_delay_ms % 1000) * 1000;
	evtimer_add(w->accept_timer, &tv);
}

int
server_fd_check(const struct config *cfg, char *err, size_t cap)
{
	struct rlimit rl;
	unsigned long long need;
	int workers = cfg->workers > 0 ? cfg->workers : 1;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	/* Take all the hard limit allows: a connection costs a descriptor
	 * and the default soft limit (1024) is far below max_connections. */
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Besides connections: per worker its database (3 with WAL), event
	 * loop and wake-up pipes; the log, listeners, pool and files being
	 * sent or spooled. */
	need = (unsigned long long)workers * (unsigned long long)cfg->max_connections +
	    64 + 16ULL * (unsigned long long)workers;
	if (rl.rlim_cur != RLIM_INFINITY && (unsigned long long)rl.rlim_cur < need) {
		char where[PATH_MAX + 64];

		snprintf(err, cap, "%s: only %llu file descriptors (RLIMIT_NOFILE) but [server] workers "
		    "(%d) x max_connections (%d) + reserve need %llu: past it new connections wait "
		    "(raise the limit, e.g. LimitNOFILE=, or lower max_connections)",
		    config_key_where(cfg, "server", "max_connections", where, sizeof(where)),
		    (unsigned long long)rl.rlim_cur, workers, cfg->max_connections, need);
		return -1;
	}
	return 0;
}

static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct http_worker *w = arg;
	struct http_conn *c;
	int one = 1;

	(void)salen;
	w->accept_delay_ms = 0;		/* descriptors are back */
	if (w->nconns >= (unsigned long)w->cfg->max_connections) {
		log_warn("connection limit (%d per worker) reached", w->cfg->max_connections);
		evutil_closesocket(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->w = w;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sa->sa_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", a,
		    ntohs(((struct sockaddr_in6 *)sa)->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", a,
		    ntohs(((struct sockaddr_in *)sa)->sin_port));
	} else {
		snprintf(c->peer, sizeof(c->peer), "local");
	}
	c->file_fd = -1;
	c->metrics_only = l != NULL && l == w->srv->metrics_listener;
	if (w->ssl_ctx != NULL && !c->metrics_only) {
		SSL *ssl = SSL_new(w->ssl_ctx);

		c->tls = 1;
		c->bev = ssl == NULL ? NULL : bufferevent_openssl_socket_new(w->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL && ssl != NULL)
			SSL_free(ssl);
	} else {
		c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (server_conn_adopt(w, c, fd) != 0)
		return;
}

/* Finish setting up a connection whose bufferevent is in c->bev: timers,
 * the parser, callbacks, the worker's list.  On failure everything is
 * released (fd closed if there is no bufferevent) and -1 returned. */
static int
server_conn_adopt(struct http_worker *w, struct http_conn *c, evutil_socket_t fd)
{
	struct timeval tv = {w->cfg->read_timeout, 0};

	c->header_timer = evtimer_new(w->base, server_header_timeout, c);
	c->resume_ev = evtimer_new(w->base, server_resume_cb, c);
	if (c->bev == NULL || c->header_timer == NULL || c->resume_ev == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else if (fd >= 0)
			evutil_closesocket(fd);
		if (c->header_timer != NULL)
			event_free(c->header_timer);
		if (c->resume_ev != NULL)
			event_free(c->resume_ev);
		free(c);
		return -1;
	}
	w->nconns++;
	if (w->srv->hooks.conn_count != NULL)
		w->srv->hooks.conn_count(w->app, 1);
	c->next = w->conns;
	if (c->next != NULL)
		c->next->prev = c;
	w->conns = c;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	bufferevent_set_max_single_read(c->bev, SERVER_READ_MAX);
	bufferevent_set_max_single_write(c->bev, SERVER_WRITE_MAX);
	bufferevent_setcb(c->bev, server_read_cb, server_write_cb, server_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return 0;
}

static void
server_fuzz_pair_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		*(int *)arg = 1;
}

#define SERVER_FUZZ_OUT_MAX (64u << 20)

/* Append what the client end has received to *out; 1 at EOF. */
static int
server_fuzz_take(int cfd, struct bufferevent *peer, char **out, size_t *len, size_t *cap)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		if (peer != NULL)
			n = (ssize_t)bufferevent_read(peer, buf, sizeof(buf));
		else if ((n = read(cfd, buf, sizeof(buf))) == 0)
			return 1;
		if (n <= 0)
			return 0;
		if (*len + (size_t)n > *cap) {
			size_t ncap = *cap ? *cap * 2 : 65536;
			char *p;

			while (ncap < *len + (size_t)n)
				ncap *= 2;
			if (ncap > SERVER_FUZZ_OUT_MAX || (p = realloc(*out, ncap)) == NULL)
				return 0;	/* keep what fits; the rest is dropped */
			*out = p;
			*cap = ncap;
		}
		memcpy(*out + *len, buf, (size_t)n);
		*len += (size_t)n;
	}
}

int
server_fuzz_connection(struct server *srv, const void *data, size_t len, int plain,
    char **out, size_t *outlen, int *closed)
{
	struct http_worker *w = &srv->workers[0];
	struct bufferevent *pair[2] = {NULL, NULL};
	struct http_conn *c;
	int sv[2] = {-1, -1};
	size_t last = (size_t)-1, sent = 0, cap = 0;
	int idle = 0;

	*out = NULL;
	*outlen = 0;
	*closed = 0;
	if (plain) {
		/* A real socket: the direct-read path (recv into the worker's
		 * buffer or an upload spool) and sendfile answers. */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
			return -1;
	} else if (bufferevent_pair_new(w->base, 0, pair) != 0) {
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->w = w;
	c->file_fd = -1;
	/* No socket under a pair: no direct reads, as with TLS. */
	c->tls = !plain;
	c->bev = plain ? bufferevent_socket_new(w->base, sv[0], BEV_OPT_CLOSE_ON_FREE) : pair[0];
	snprintf(c->peer, sizeof(c->peer), "fuzz");
	if (server_conn_adopt(w, c, plain ? sv[0] : -1) != 0) {
		sv[0] = -1;
		pair[0] = NULL;
		goto fail;
	}
	if (!plain) {
		bufferevent_setcb(pair[1], NULL, NULL, server_fuzz_pair_event, closed);
		bufferevent_enable(pair[1], EV_READ | EV_WRITE);
		bufferevent_write(pair[1], data, len);
		sent = len;
	}
	/* Run the loop until the output stops growing for a while (deferred
	 * answers come back from pool threads), bounded. */
	for (int i = 0; i < 2000 && idle < 20; i++) {
		size_t before = sent;

		if (plain && sent < len) {
			ssize_t n = write(sv[1], (const char *)data + sent, len - sent);

			if (n > 0)
				sent += (size_t)n;
		}
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		if (server_fuzz_take(sv[1], pair[1], out, outlen, &cap))
			*closed = 1;
		if (*outlen == last && sent == before) {
			/* An answer still to come from another thread (the
			 * worker's writer, the pool) is not idleness. */
			if (w->conns == NULL || w->conns->req == NULL ||
			    !w->conns->req->deferred || w->conns->req->responded)
				idle++;
			usleep(200);
		} else {
			idle = 0;
			last = *outlen;
		}
	}
	/* A pair's end does not report its partner's free: ask the worker
	 * (this was its only connection). */
	if (w->nconns == 0)
		*closed = 1;
	/* Hang up: the server side sees EOF and aborts what is left. */
	if (plain)
		close(sv[1]);
	else
		bufferevent_free(pair[1]);
	for (int i = 0; i < 20; i++)
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	while (w->conns != NULL)
		server_conn_free(w->conns);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (pair[i] != NULL)
			bufferevent_free(pair[i]);
	}
	return -1;
}

/* ---- the server and its workers ---- */


/* Bind (without SO_REUSEPORT) and close: fails with EADDRINUSE if any
 * socket, ours or another process's, is bound to the address. */
static int
server_probe(const struct sockaddr_storage *ss, int sslen)
{
	int fd, one = 1, rc;

	if (((const struct sockaddr_in *)ss)->sin_port == 0)
		return 0;
	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = bind(fd, (const struct sockaddr *)ss, (socklen_t)sslen);
	close(fd);
	return rc;
}

/* ---- lifecycle: graceful stop, reload, watchdog ---- */

static void
server_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_worker *w = arg;

	(void)fd;
	(void)what;
	if (w->nconns > 0)
		log_warn("worker %d: shutdown_timeout: cutting %lu connection%s", w->id, w->nconns,
		    w->nconns == 1 ? "" : "s");
	event_base_loopexit(w->base, NULL);
}

/* Runs on each worker's own thread: stop accepting, close idle
 * connections, let the others finish their request (answers carry
 * Connection: close), and leave the loop when none is left or at the
 * deadline.  Uploads cut at the deadline stay resumable (upload.c). */
static void
server_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_worker *w = arg;
	struct http_conn *c, *next;
	struct timeval tv = {w->cfg->shutdown_timeout, 0};

	(void)fd;
	(void)what;
	w->draining = 1;
	if (w->listener != NULL)
		evconnlistener_disable(w->listener);
	if (w->id == 0 && w->srv->metrics_listener != NULL)
		evconnlistener_disable(w->srv->metrics_listener);
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (c->req == NULL && c->file_fd < 0 &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			server_conn_free(c);
		else
			c->closing = c->req == NULL ? 1 : c->closing;
	}
	if (w->nconns == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	event_base_once(w->base, -1, EV_TIMEOUT, server_drain_deadline, w, &tv);
}

void
server_shutdown(struct server *srv)
{
	struct timeval now = {0, 0};

	if (srv->stopping) {
		/* A second signal: stop now. */
		server_stop(srv);
		return;
	}
	srv->stopping = 1;
	notify_send("STOPPING=1");
	log_info("stopping: finishing requests in flight (up to %ds)", srv->cfg->shutdown_timeout);
	for (int i = 0; i < srv->nworkers; i++)
		event_base_once(srv->workers[i].base, -1, EV_TIMEOUT, server_drain_cb, &srv->workers[i], &now);
}

struct server_swap {
	struct http_worker *w;
	struct server_gen *gen;		/* a reference, handed to the worker */
	SSL_CTX *ctx;
};

/* Runs on the worker's thread, between requests of its loop. */
static void
server_swap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_swap *sw = arg;

	(void)fd;
	(void)what;
	struct server_gen *old = sw->w->gen;

	sw->w->gen = sw->gen;
	sw->w->cfg = sw->gen->cfg;
	if (sw->w->srv->hooks.worker_swap != NULL)
		sw->w->srv->hooks.worker_swap(sw->w->srv->hooks.arg, sw->w->app, sw->gen->app);
	if (sw->w->ssl_ctx != NULL)
		SSL_CTX_free(sw->w->ssl_ctx);
	sw->w->ssl_ctx = sw->ctx;
	/* Requests that began under the old one hold their own references. */
	server_gen_unref(sw->w->srv, old);
	free(sw);
}

/* Fields a reload cannot change in a running process: named only when the
 * new file differs from what the process started with (not from the last
 * reload), so setting one back to its start value is silent again. */
static void
server_reload_warn(const struct server *srv, const struct config *cfg)
{
	const struct config *run = srv->start_cfg;
	char keys[256] = "";
	size_t n = 0;

#define SERVER_CHANGED(cond, name) do { \
	if (cond) \
		n += (size_t)snprintf(keys + n, n < sizeof(keys) ? sizeof(keys) - n : 0, "%s%s", \
		    n > 0 ? ", " : "", name); \
} while (0)
	/* Under socket activation [server] listen is unused either way. */
	SERVER_CHANGED(!srv->activated && strcmp(run->listen, cfg->listen) != 0, "server.listen");
	SERVER_CHANGED(strcmp(run->metrics_listen, cfg->metrics_listen) != 0, "server.metrics_listen");
	SERVER_CHANGED(run->workers != cfg->workers, "server.workers");
	SERVER_CHANGED(strcmp(run->root, cfg->root) != 0, "storage.root");
	SERVER_CHANGED(run->sync != cfg->sync, "storage.sync");
	SERVER_CHANGED(run->direct_io != cfg->direct_io, "storage.direct_io");
	SERVER_CHANGED((run->tls_certificate[0] == '\0') != (cfg->tls_certificate[0] == '\0'),
	    "tls.certificate (TLS on or off)");
#undef SERVER_CHANGED
	if (n > 0)
		log_warn("reload: %s: changed in %s but take%s effect only at the next start "
		    "(systemctl restart ociregd); running with the start values meanwhile", keys,
		    cfg->path, strchr(keys, ',') != NULL ? "" : "s");
}

static void
server_reload(struct server *srv)
{
	struct config *cfg = NULL;
	void *app = NULL;
	SSL_CTX *ctx = NULL;
	struct server_gen *g, *old;
	char err[2 * PATH_MAX + 256];

	if (srv->reload_fn == NULL)
		return;
	notify_send("RELOADING=1");
	if (srv->reload_fn(srv->reload_arg, &cfg, &app) != 0)
		goto out;	/* the function logged why; the old config stays */
	if (srv->ssl_ctx != NULL && cfg->tls_certificate[0] != '\0' &&
	    (ctx = server_tls_ctx(cfg, err, sizeof(err))) == NULL) {
		log_error("reload refused: %s", err);
		config_free(cfg);
		free(cfg);
		if (srv->hooks.app_free != NULL)
			srv->hooks.app_free(srv->hooks.arg, app);
		goto out;
	}
	server_reload_warn(srv, cfg);
	if ((g = server_gen_new(srv, cfg, app, 1)) == NULL) {
		log_error("reload refused: out of memory");
		config_free(cfg);
		free(cfg);
		if (srv->hooks.app_free != NULL)
			srv->hooks.app_free(srv->hooks.arg, app);
		if (ctx != NULL)
			SSL_CTX_free(ctx);
		goto out;
	}
	/* g's first reference is the server's, taken over from the old
	 * one's; each worker gets one with its swap. */
	old = srv->gen;
	srv->gen = g;
	srv->cfg = cfg;
	log_set_level((enum log_level)cfg->log_level);
	for (int i = 0; i < srv->nworkers; i++) {
		struct server_swap *sw = calloc(1, sizeof(*sw));
		struct timeval now = {0, 0};

		if (sw == NULL)
			continue;
		sw->w = &srv->workers[i];
		sw->gen = g;
		server_gen_ref(g);
		sw->ctx = ctx;
		if (ctx != NULL)
			SSL_CTX_up_ref(ctx);
		if (event_base_once(srv->workers[i].base, -1, EV_TIMEOUT, server_swap_cb, sw, &now) != 0) {
			if (ctx != NULL)
				SSL_CTX_free(ctx);
			server_gen_unref(srv, g);
			free(sw);
		}
	}
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	server_gen_unref(srv, old);
	log_info("reloaded %s", cfg->path);
out:
	notify_send("READY=1");
}

void
server_set_reload(struct server *srv, server_reload_fn fn, void *arg)
{
	srv->reload_fn = fn;
	srv->reload_arg = arg;
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_info("SIGHUP: reloading configuration");
		server_reload(srv);
		return;
	}
	log_info("signal %d: stopping", (int)sig);
	server_shutdown(srv);
}

static void
server_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1");
}

/* A TLS context from cfg's certificate and key: TLS 1.2 minimum, forward
 * secret AEAD ciphers for 1.2 (1.3 suites are OpenSSL's defaults).  NULL
 * with "FILE: reason" in err. */
static int
server_tls_no_password(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

/* 0 if [tls] key's file can be opened for reading; else the reason. */
static int
server_tls_readable(const struct config *cfg, const char *key, const char *path, char *err,
    size_t cap)
{
	char where[PATH_MAX + 64];
	FILE *f;

	if ((f = fopen(path, "r")) != NULL) {
		fclose(f);
		return 0;
	}
	snprintf(err, cap, "%s: %s: cannot be read: %s (%s)", config_key_where(cfg, "tls", key,
	    where, sizeof(where)), path, strerror(errno), errno == EACCES ? "make it readable by "
	    "the daemon's user, e.g. chgrp ociregd FILE; chmod 0640 FILE" : "check the path");
	return -1;
}

static SSL_CTX *
server_tls_ctx(const struct config *cfg, char *err, size_t cap)
{
	SSL_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	FILE *f;
	char where[PATH_MAX + 64];

	if (cfg->tls_key[0] == '\0') {
		snprintf(err, cap, "%s: set but tls.key is not (set key = the certificate's PEM private "
		    "key file)", config_key_where(cfg, "tls", "certificate", where, sizeof(where)));
		return NULL;
	}
	/* OpenSSL's reasons ("error:80000002:...") name no file and no
	 * remedy: say which file, and whether it is missing, unreadable or
	 * of the wrong kind. */
	if (server_tls_readable(cfg, "certificate", cfg->tls_certificate, err, cap) != 0 ||
	    server_tls_readable(cfg, "key", cfg->tls_key, err, cap) != 0)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, cap, "TLS: cannot create a context (out of memory?)");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS");
	/* A password-protected key must not stop start-up at a prompt. */
	SSL_CTX_set_default_passwd_cb(ctx, server_tls_no_password);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_certificate) != 1) {
		snprintf(err, cap, "%s: %s is not a PEM certificate (chain) (expected \"-----BEGIN "
		    "CERTIFICATE-----\")", config_key_where(cfg, "tls", "certificate", where,
		    sizeof(where)), cfg->tls_certificate);
		goto fail;
	}
	/* Read apart from installing, which also compares it with the
	 * certificate: "not a key" and "not this certificate's key" are
	 * different mistakes. */
	if ((f = fopen(cfg->tls_key, "r")) != NULL) {
		pkey = PEM_read_PrivateKey(f, NULL, server_tls_no_password, NULL);
		fclose(f);
	}
	if (pkey == NULL) {
		snprintf(err, cap, "%s: %s is not a PEM private key, or is encrypted (give the "
		    "certificate's unencrypted key, \"-----BEGIN PRIVATE KEY-----\")",
		    config_key_where(cfg, "tls", "key", where, sizeof(where)), cfg->tls_key);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, cap, "%s: %s does not match the certificate %s (give the key the "
		    "certificate was made for)", config_key_where(cfg, "tls", "key", where,
		    sizeof(where)), cfg->tls_key, cfg->tls_certificate);
		goto fail;
	}
	EVP_PKEY_free(pkey);
	return ctx;
fail:
	EVP_PKEY_free(pkey);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

int
server_tls_check(const struct config *cfg, char *err, size_t cap)
{
	SSL_CTX *ctx;

	if (cfg->tls_certificate[0] == '\0') {
		if (cfg->tls_key[0] != '\0') {
			char where[PATH_MAX + 64];

			snprintf(err, cap, "%s: set but tls.certificate is not (set certificate = the "
			    "PEM certificate file, or remove key)", config_key_where(cfg, "tls", "key",
			    where, sizeof(where)));
			return -1;
		}
		return 0;
	}
	if ((ctx = server_tls_ctx(cfg, err, cap)) == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" of a bound socket. */
static void
server_addr_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%d", host, ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%d", host, ntohs(s4->sin_port));
	} else {
		snprintf(out, cap, "(a socket of family %d)", (int)ss->ss_family);
	}
}

/* A listener that will not bind: the config line, the address, why, and
 * the usual remedy. */
static void
server_bind_error(const struct config *cfg, const char *key, const char *addr)
{
	char where[PATH_MAX + 64];
	int e = errno;

	log_error("%s: cannot listen on %s: %s (%s)", config_key_where(cfg, "server", key, where,
	    sizeof(where)), addr, strerror(e), e == EADDRINUSE ? "another process holds the port: "
	    "stop it or choose another port" : e == EACCES ? "ports below 1024 need privileges: "
	    "use a higher port or socket activation (ociregd.socket)" : e == EADDRNOTAVAIL ?
	    "no interface has this address" : "check the address");
}

const char *
server_listen_addr(const struct server *srv)
{
	return srv->listen_addr;
}

int
server_activated(const struct server *srv)
{
	return srv->activated;
}

struct server *
server_new(const struct config *cfg, void *app, const struct server_hooks *hooks)
{
	struct server *srv;
	struct sockaddr_storage ss;
	char where[PATH_MAX + 64];
	int sslen, i, lfd;

	if (addr_parse(cfg->listen, &ss, &sslen) != 0) {
		log_error("%s: '%s' is not HOST:PORT or [IPV6]:PORT", config_key_where(cfg, "server",
		    "listen", where, sizeof(where)), cfg->listen);
		return NULL;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	pthread_mutex_init(&srv->gen_mu, NULL);
	http_parser_settings_init(&server_parser_settings);
	server_parser_settings.on_message_begin = cb_message_begin;
	server_parser_settings.on_url = cb_url;
	server_parser_settings.on_header_field = cb_header_field;
	server_parser_settings.on_header_value = cb_header_value;
	server_parser_settings.on_headers_complete = cb_headers_complete;
	server_parser_settings.on_body = cb_body;
	server_parser_settings.on_message_complete = cb_message_complete;
	evthread_use_pthreads();
	signal(SIGPIPE, SIG_IGN);
	srv->cfg = cfg;
	srv->start_cfg = cfg;
	srv->hooks = *hooks;
	/* The caller's pair: never freed here. */
	if ((srv->gen = server_gen_new(srv, (struct config *)cfg, app, 0)) == NULL)
		goto fail;
	/* Socket activation: systemd passes the listening socket. */
	lfd = notify_listen_fd();
	srv->activated = lfd >= 0;
	if (cfg->tls_certificate[0] != '\0' || cfg->tls_key[0] != '\0') {
		char err[2 * PATH_MAX + 256];

		if (server_tls_check(cfg, err, sizeof(err)) != 0 ||
		    (srv->ssl_ctx = server_tls_ctx(cfg, err, sizeof(err))) == NULL) {
			log_error("%s", err);
			goto fail;
		}
	}
	srv->nworkers = cfg->workers > 0 ? cfg->workers : 1;
	srv->workers = calloc((size_t)srv->nworkers, sizeof(*srv->workers));
	srv->threads = calloc((size_t)srv->nworkers, sizeof(*srv->threads));
	if (srv->workers == NULL || srv->threads == NULL)
		goto fail;
	for (i = 0; i < srv->nworkers; i++) {
		struct http_worker *w = &srv->workers[i];

		w->srv = srv;
		w->id = i;
		w->cfg = cfg;
		w->gen = srv->gen;
		server_gen_ref(w->gen);
		if (srv->ssl_ctx != NULL) {
			SSL_CTX_up_ref(srv->ssl_ctx);
			w->ssl_ctx = srv->ssl_ctx;
		}
		if ((w->base = event_base_new()) == NULL || (w->rbuf = malloc(SERVER_RBUF)) == NULL)
			goto fail;
		if ((w->app = srv->hooks.worker_new(srv->hooks.arg, i, w->base, app)) == NULL)
			goto fail;
		if (lfd >= 0) {
			/* Every worker accepts on (a duplicate of) the one
			 * inherited socket. */
			int fd = i == 0 ? lfd : fcntl(lfd, F_DUPFD_CLOEXEC, 3);

			if (fd < 0 || (w->listener = evconnlistener_new(w->base, server_accept_cb, w,
			    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd)) == NULL) {
				log_error("socket activation: cannot listen on the passed socket (fd %d): %s "
				    "(check ListenStream= in ociregd.socket)", fd, strerror(errno));
				goto fail;
			}
			goto bound;
		}
		/* Every worker binds the same address with SO_REUSEPORT; with
		 * port 0 the first bind picks the port and the rest follow. */
		if (i > 0 && srv->port != 0) {
			if (ss.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)srv->port);
			else
				((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)srv->port);
		}
		/* SO_REUSEPORT would let us share the port with another
		 * process as well: make sure nobody else holds it first. */
		if (i == 0 && server_probe(&ss, sslen) != 0) {
			server_bind_error(cfg, "listen", cfg->listen);
			goto fail;
		}
		w->listener = evconnlistener_new_bind(w->base, server_accept_cb, w,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
		    LEV_OPT_CLOSE_ON_EXEC, 511, (struct sockaddr *)&ss, sslen);
		if (w->listener == NULL) {
			server_bind_error(cfg, "listen", cfg->listen);
			goto fail;
		}
bound:
		evconnlistener_set_error_cb(w->listener, server_accept_error_cb);
		if ((w->accept_timer = evtimer_new(w->base, server_accept_timer_cb, w)) == NULL)
			goto fail;
		if (i == 0) {
			struct sockaddr_storage bound;
			socklen_t blen = sizeof(bound);

			memset(&bound, 0, sizeof(bound));
			getsockname(evconnlistener_get_fd(w->listener), (struct sockaddr *)&bound, &blen);
			srv->port = ntohs(bound.ss_family == AF_INET6 ?
			    ((struct sockaddr_in6 *)&bound)->sin6_port :
			    ((struct sockaddr_in *)&bound)->sin_port);
			/* What the log and the start-up checks name: the
			 * socket as bound (or as systemd passed it), not the
			 * config's text. */
			server_addr_str(&bound, srv->listen_addr, sizeof(srv->listen_addr));
		}
	}
	if (cfg->metrics_listen[0] != '\0') {
		struct sockaddr_storage ms;
		int mslen;

		if (addr_parse(cfg->metrics_listen, &ms, &mslen) != 0 ||
		    (srv->metrics_listener = evconnlistener_new_bind(srv->workers[0].base,
		    server_accept_cb, &srv->workers[0], LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
		    LEV_OPT_CLOSE_ON_EXEC, 64, (struct sockaddr *)&ms, mslen)) == NULL) {
			server_bind_error(cfg, "metrics_listen", cfg->metrics_listen);
			goto fail;
		}
		evconnlistener_set_error_cb(srv->metrics_listener, server_accept_error_cb);
		{
			struct sockaddr_storage bound;
			socklen_t blen = sizeof(bound);

			getsockname(evconnlistener_get_fd(srv->metrics_listener),
			    (struct sockaddr *)&bound, &blen);
			srv->metrics_port = ntohs(bound.ss_family == AF_INET6 ?
			    ((struct sockaddr_in6 *)&bound)->sin6_port :
			    ((struct sockaddr_in *)&bound)->sin_port);
		}
	}
	srv->sig_term = evsignal_new(srv->workers[0].base, SIGTERM, server_signal_cb, srv);
	srv->sig_int = evsignal_new(srv->workers[0].base, SIGINT, server_signal_cb, srv);
	srv->sig_hup = evsignal_new(srv->workers[0].base, SIGHUP, server_signal_cb, srv);
	if (srv->sig_term == NULL || srv->sig_int == NULL || srv->sig_hup == NULL)
		goto fail;
	evsignal_add(srv->sig_term, NULL);
	evsignal_add(srv->sig_int, NULL);
	evsignal_add(srv->sig_hup, NULL);
	if (notify_watchdog_usec() > 0) {
		long long half = notify_watchdog_usec() / 2;
		struct timeval tv = {half / 1000000, half % 1000000};

		if ((srv->watchdog = event_new(srv->workers[0].base, -1, EV_PERSIST,
		    server_watchdog_cb, srv)) == NULL)
			goto fail;
		evtimer_add(srv->watchdog, &tv);
	}
	return srv;
fail:
	server_free(srv);
	return NULL;
}

int
req_on_metrics_listener(const struct request *req)
{
	return req->conn->metrics_only;
}

int
server_port(const struct server *srv)
{
	return srv->port;
}

static void *
server_thread(void *arg)
{
	struct http_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

int
server_run(struct server *srv)
{
	int i, started = 1;

	log_info("listening on %s (port %d, %d worker%s)", srv->listen_addr, srv->port,
	    srv->nworkers, srv->nworkers == 1 ? "" : "s");
	if (srv->activated)
		log_info("socket activation: serving the socket systemd passed (%s); [server] listen "
		    "(%s) is unused (change the address with ListenStream= in ociregd.socket)",
		    srv->listen_addr, srv->cfg->listen);
	if (srv->metrics_listener != NULL)
		log_info("metrics on %s (port %d)", srv->cfg->metrics_listen, srv->metrics_port);
	for (i = 1; i < srv->nworkers; i++) {
		if (pthread_create(&srv->threads[i], NULL, server_thread, &srv->workers[i]) != 0) {
			log_error("pthread_create: %s", strerror(errno));
			server_stop(srv);
			break;
		}
		started++;
	}
	notify_send("READY=1");
	event_base_dispatch(srv->workers[0].base);
	/* In a graceful stop each worker leaves its loop when its last
	 * connection is done; otherwise make them all stop now. */
	if (!srv->stopping)
		server_stop(srv);
	for (i = 1; i < started; i++)
		pthread_join(srv->threads[i], NULL);
	return 0;
}

void
server_stop(struct server *srv)
{
	srv->stopping = 1;
	for (int i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].base != NULL)
			event_base_loopexit(srv->workers[i].base, NULL);
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	if (srv->sig_term != NULL)
		event_free(srv->sig_term);
	if (srv->sig_int != NULL)
		event_free(srv->sig_int);
	if (srv->sig_hup != NULL)
		event_free(srv->sig_hup);
	if (srv->watchdog != NULL)
		event_free(srv->watchdog);
	if (srv->metrics_listener != NULL)
		evconnlistener_free(srv->metrics_listener);
	for (int i = 0; srv->workers != NULL && i < srv->nworkers; i++) {
		struct http_worker *w = &srv->workers[i];

		while (w->conns != NULL)
			server_conn_free(w->conns);
		/* The application's state of the worker (upstream transfers
		 * and the requests waiting on them, its database
		 * connection...). */
		if (w->app != NULL && srv->hooks.worker_free != NULL)
			srv->hooks.worker_free(srv->hooks.arg, w->app);
		w->app = NULL;
		if (w->listener != NULL)
			evconnlistener_free(w->listener);
		if (w->accept_timer != NULL)
			event_free(w->accept_timer);
		free(w->rbuf);
		if (w->ssl_ctx != NULL)
			SSL_CTX_free(w->ssl_ctx);
	}
	/* Before the bases go: nothing may hand work back to a freed base. */
	if (srv->hooks.quiesce != NULL)
		srv->hooks.quiesce(srv->hooks.arg);
	for (int i = 0; srv->workers != NULL && i < srv->nworkers; i++)
		if (srv->workers[i].base != NULL)
			event_base_free(srv->workers[i].base);
	if (srv->ssl_ctx != NULL)
		SSL_CTX_free(srv->ssl_ctx);
	/* Every request is gone: whatever generations are left (the
	 * current one) go regardless of counts. */
	while (srv->gens != NULL) {
		struct server_gen *g = srv->gens;

		srv->gens = g->next;
		server_gen_destroy(g);
	}
	pthread_mutex_destroy(&srv->gen_mu);
	free(srv->workers);
	free(srv->threads);
	free(srv);
}
