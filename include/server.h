/* server.h — the HTTP/1.1 layer: connections, request framing, streaming
 * request bodies, responses (with sendfile for files), and the workers.
 *
 * Handlers see only the types below; libevent and http-parser stay inside
 * server.c.  A handler is called once the request's headers are complete.
 * It either answers at once (req_respond*, req_error), or registers a body
 * sink with req_stream_body / req_read_body and answers from its `done`
 * callback, which the server calls exactly once: when the body has arrived,
 * or with req->aborted set when the connection went away first.
 *
 * Nothing here blocks except what handlers do themselves (SQLite and disk I/O
 * are synchronous on the worker's thread). */
#ifndef OCIREGD_SERVER_H
#define OCIREGD_SERVER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "route.h"

enum http_method_kind {
	METHOD_OTHER = 0,
	METHOD_GET,
	METHOD_HEAD,
	METHOD_POST,
	METHOD_PUT,
	METHOD_PATCH,
	METHOD_DELETE,
};

struct config;
struct server;
struct http_worker;
struct server_gen;
struct http_conn;
struct arena;
struct request;

/* The application's per-worker context (worker.h): opaque to the HTTP
 * layer, which only hands it to each request (req->w) and to the hooks. */
struct worker;
struct event_base;
struct log_access_rec;

struct req_header {
	const char *name;
	const char *value;
};

/* Body sink: called with each slice of the decoded body (chunked framing is
 * already removed).  Return 0 to go on, or a negated reg_error: the server
 * answers with that error, discards the rest of the body, and still calls
 * `done`. */
typedef int (*req_body_fn)(struct request *req, const char *data, size_t len);
typedef void (*req_done_fn)(struct request *req);
/* Optional, for a sink that stages the body anyway (upload spools): where
 * the server may receive the next body bytes in place, *cap of them; they
 * then reach the req_body_fn at that address.  NULL: the server's buffer. */
typedef char *(*req_body_buf_fn)(struct request *req, size_t *cap);

struct request {
	struct http_conn *conn;
	struct http_worker *hw;		/* the transport's worker (server.c) */
	struct worker *w;		/* the application's (hooks.worker_new) */
	const struct config *cfg;	/* as it was when the request began */
	struct server_gen *gen;		/* holds cfg until the request ends */
	struct arena *arena;		/* freed when the request ends */
	enum http_method_kind method;
	const char *method_name;
	const char *peer;		/* client address, for logs */
	void *auth_ident;		/* auth.c: who the client is */
	const char *user;		/* authenticated user, for logs */
	const char *log_digest;		/* digest the answer carried */
	int metric_route;		/* route label for metrics */
	const char *url;		/* raw target, for logs */
	const char *path;		/* percent-decoded path */
	const char *query;		/* raw query string or NULL */
	const struct req_header *headers;
	size_t nheaders;
	uint64_t content_length;	/* valid if has_length */
	int has_length;
	int chunked;
	/* Written once by the router (router_dispatch), before any handler
	 * runs; read-only to everyone after it (hence const: a handler that
	 * tried to rename the repository it serves would not compile). */
	const struct route_match m;

	/* body */
	req_body_fn body_fn;
	req_body_buf_fn body_buf_fn;
	req_done_fn done_fn;
	void *ctx;			/* the handler's */
	uint64_t body_bytes;		/* decoded body bytes seen */
	int aborted;			/* connection lost before the body ended */
	char *body;			/* req_read_body's buffer (malloc, owned here) */
	size_t body_len, body_max;
	size_t body_reserved;		/* of [limits] max_body_memory */
	void (*end_fn)(struct request *);	/* req_on_end */

	/* response */
	int deferred;			/* req_defer: answered later */
	int streaming;			/* req_stream_begin .. req_stream_end */
	void (*drain_fn)(struct request *);	/* output drained (streaming) */
	int responded;
	int status;
	uint64_t bytes_out;
	struct req_header *out;		/* extra headers (arena) */
	size_t nout, outcap;
	long long t_start_us;
};

/* Case-insensitive header lookup; NULL if absent.  Values are trimmed. */
const char *req_header(const struct request *req, const char *name);
/* Query parameter, percent-decoded into out; see router_query. */
int req_query(const struct request *req, const char *key, char *out, size_t cap);

/* Add a response header (copied into the request's arena). */
void req_add_header(struct request *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answer with a body from memory (copied).  content_type may be NULL for an
 * empty body.  HEAD requests get the headers only, with the same
 * Content-Length. */
void req_respond(struct request *req, int status, const char *content_type,
    const void *body, size_t len);
/* Answer with len bytes of an open file from offset, sent with sendfile.
 * Takes ownership of fd in every case. */
void req_respond_file(struct request *req, int status, const char *content_type,
    int fd, uint64_t offset, uint64_t len);
/* Answer with the spec's error envelope for e; detail may be NULL. */
void req_error(struct request *req, enum reg_error e, const char *detail);

/* The answer will come later, from a callback on this worker's loop (e.g.
 * a pool job's done function).  The handler must then answer exactly once;
 * if the connection went away meanwhile the answer is dropped and the
 * request freed by that call, so touch nothing of req after answering. */
void req_defer(struct request *req);

/* Flow control of a request's body, for a sink that must wait (an object
 * store's parts in flight): after req_body_pause, called from the
 * handler or from its req_body_fn, no more body bytes are read or passed
 * on until req_body_resume (which may be called from any callback on the
 * worker's loop; the bytes then flow from the next loop turn).  Bytes
 * already received wait in the connection's buffer.  No-ops on a request
 * whose connection is gone. */
void req_body_pause(struct request *req);
void req_body_resume(struct request *req);

/* A streamed answer (the pull-through cache): headers now with the final
 * Content-Length, the body in pieces as it arrives, then req_stream_end
 * exactly once (ok = 0 closes the connection: the client sees a short
 * body).  req_stream_write copies data and returns -1 once the client is
 * gone (call req_stream_end anyway: it frees the request).  The drain
 * callback runs when the client has taken what was queued, so a producer
 * can bound req_stream_pending(). */
void req_stream_begin(struct request *req, int status, const char *content_type, uint64_t len);
int req_stream_write(struct request *req, const void *data, size_t len);
/* Queue len bytes of fd from off (sendfile on plain connections; fd stays
 * the caller's).  0 or -1. */
int req_stream_file(struct request *req, int fd, uint64_t off, uint64_t len);
size_t req_stream_pending(const struct request *req);
void req_stream_on_drain(struct request *req, void (*fn)(struct request *));
void req_stream_end(struct request *req, int ok);

/* fn runs once when the request ends, however it ends (answered, client
 * gone, timeout, server stopping), just before its memory is released:
 * where to give back what the handler took for it.  One per request. */
void req_on_end(struct request *req, void (*fn)(struct request *));
/* Stream the body to fn; done is called once at its end (see above). */
void req_stream_body(struct request *req, req_body_fn fn, req_done_fn done, void *ctx);
/* With req_stream_body: receive body bytes into the sink's own buffer. */
void req_stream_body_buffer(struct request *req, req_body_buf_fn fn);
/* Collect the body in memory up to max bytes (413 past it); done is called
 * with req->body / req->body_len set.  The buffer's size (Content-Length,
 * or max when chunked) counts against [limits] max_body_memory from now
 * until the request ends; past that budget the answer is 429 at once. */
void req_read_body(struct request *req, size_t max, req_done_fn done, void *ctx);

/* What the application plugs into the HTTP layer, registered once with
 * server_new.  Every hook runs on the thread named; none may block long. */
struct server_hooks {
	/* Each request whose headers are complete (worker thread).  Required:
	 * it answers, defers, or registers a body sink. */
	void (*dispatch)(struct request *req);
	/* Worker id's context, with its event loop, made by server_new before
	 * any loop runs; NULL fails server_new.  app is the first
	 * generation's (see server_new). */
	struct worker *(*worker_new)(void *arg, int id, struct event_base *base, void *app);
	/* A reload reached worker w, on its thread, between requests: app is
	 * the new generation's. */
	void (*worker_swap)(void *arg, struct worker *w, void *app);
	/* After the loops stopped and w's connections are gone (server_free). */
	void (*worker_free)(void *arg, struct worker *w);
	/* After every worker_free, before the event loops are freed: stop
	 * whatever hands work back to them (thread pools). */
	void (*quiesce)(void *arg);
	/* A finished request (its worker's thread), after its access line. */
	void (*request_done)(struct request *req, const struct log_access_rec *r);
	/* A connection opened (+1) or closed (-1) on worker w. */
	void (*conn_count)(struct worker *w, int delta);
	/* Free a generation's application part (reload replaced it, exit). */
	void (*app_free)(void *arg, void *app);
	void *arg;
};

/* The server: workers listening on cfg's address.  app is the
 * application's part of the first generation (e.g. users and rules built
 * from cfg): handed to worker_new, never freed by the server; later
 * generations come from the reload function and are freed with app_free.
 * cfg is not owned either. */
struct server *server_new(const struct config *cfg, void *app, const struct server_hooks *hooks);
/* SIGHUP: fn builds a new config (malloc'd) and its application part, or
 * returns -1 after logging why.  The server frees both when the last
 * request that began under them ends. */
typedef int (*server_reload_fn)(void *arg, struct config **cfg, void **app);
void server_set_reload(struct server *srv, server_reload_fn fn, void *arg);
/* Whether the request came in on [server] metrics_listen. */
int req_on_metrics_listener(const struct request *req);
/* Graceful stop (what SIGTERM does): stop accepting, finish requests in
 * flight up to [server] shutdown_timeout, then server_run returns. */
void server_shutdown(struct server *srv);
/* Raise the soft RLIMIT_NOFILE to the hard limit, then whether it covers
 * workers x max_connections plus a reserve: 0, or -1 with a warning in
 * err (the daemon still runs; past the limit new connections wait). */
int server_fd_check(const struct config *cfg, char *err, size_t cap);
/* Whether cfg's [tls] files load and match: 0, or -1 with a reason. */
int server_tls_check(const struct config *cfg, char *err, size_t cap);
/* Run until server_stop (or SIGTERM/SIGINT).  0 or -1. */
int server_run(struct server *srv);
void server_stop(struct server *srv);
void server_free(struct server *srv);
/* The port actually bound (useful with port 0). */
int server_port(const struct server *srv);
/* The main listener's address as bound ("127.0.0.1:5000", "[::]:443"), or
 * as systemd passed it under socket activation; server_activated says
 * which (then [server] listen is unused). */
const char *server_listen_addr(const struct server *srv);
int server_activated(const struct server *srv);

long long server_now_us(void);
/* For fuzzing and tests: play one client connection that sends data, run
 * worker 0's loop until its answers stop coming, then hang up.  plain: over
 * a socketpair, through the direct-read path plain TCP takes; else over a
 * bufferevent pair, the path of TLS connections (no direct reads).  *out
 * (malloc'd, the caller frees it; NULL if nothing) and *outlen: what the
 * server wrote back (up to 64 MiB); *closed: whether it closed the
 * connection before the hang-up.  0 or -1.  Not while server_run runs. */
int server_fuzz_connection(struct server *srv, const void *data, size_t len, int plain,
    char **out, size_t *outlen, int *closed);

#endif
