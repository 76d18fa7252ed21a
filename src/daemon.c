/* SPDX-License-Identifier: ISC
 * daemon.c — the serving process: the registry put together on the HTTP
 * layer.  It opens the blob store, builds users and rules, makes each
 * worker's context (metadata connection, manifest cache, counters) through
 * the HTTP layer's hooks, registers the router as its dispatcher, reloads
 * config and users on SIGHUP, and runs the background collectors (gc,
 * upload expiry) beside the workers.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "cache.h"
#include "config.h"
#include "daemon.h"
#include "gc.h"
#include "log.h"
#include "meta.h"
#include "metrics.h"
#include "pool.h"
#include "proxy.h"
#include "router.h"
#include "server.h"
#include "store.h"
#include "upload.h"
#include "version.h"
#include "worker.h"

/* The S3 keys the store needs, checked with the configuration so that
 * check-config reports them. */
static int
daemon_storage_check(const struct config *cfg, char *err, size_t cap)
{
	char where[PATH_MAX + 64];

	if (strcmp(cfg->storage_backend, "s3") != 0)
		return 0;
	if (cfg->s3_endpoint[0] == '\0' || cfg->s3_bucket[0] == '\0') {
		snprintf(err, cap, "%.400s: backend = s3 needs [s3] endpoint and bucket",
		    config_key_where(cfg, "storage", "backend", where, sizeof(where)));
		return -1;
	}
	return 0;
}

int
daemon_load_config(const char *path, struct config *cfg)
{
	char err[1024];

	if (config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (gc_config_check(cfg, err, sizeof(err)) != 0 ||
	    proxy_config_check(cfg, err, sizeof(err)) != 0 ||
	    daemon_storage_check(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		config_free(cfg);
		return -1;
	}
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n > 0 && n < 256 ? (int)n : 1;
	}
	return 0;
}

/* Everything the workers share, and the workers' contexts. */
struct daemon {
	const struct config *cfg;
	struct store *store;
	struct pool *pool;
	struct worker_set set;
	struct server *srv;
};

/* Whether addr ("HOST:PORT") is a loopback address: only this host can
 * reach it.  An address that does not parse counts as reachable. */
static int
daemon_loopback(const char *addr)
{
	struct sockaddr_storage ss;
	int sslen;

	if (addr_parse(addr, &ss, &sslen) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		    (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

static void daemon_warnf(void (*fn)(void *, const char *), void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
daemon_warnf(void (*fn)(void *, const char *), void *arg, const char *fmt, ...)
{
	char msg[3 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(arg, msg);
}

int
daemon_config_warnings(const struct config *cfg, const struct auth *auth, const char *listen_addr,
    void (*fn)(void *, const char *), void *arg)
{
	int n = auth_warnings(auth, cfg, fn, arg), auth_on = cfg->auth_users[0] != '\0';
	char where[PATH_MAX + 64];

	if (!auth_on && !daemon_loopback(listen_addr)) {
		daemon_warnf(fn, arg, "%s: %s is reachable from other hosts and auth.users is not "
		    "set: anyone who reaches it may push, overwrite and delete (set [auth] users, "
		    "see ociregd(8), or listen on 127.0.0.1)", config_key_where(cfg, "server", "listen",
		    where, sizeof(where)), listen_addr);
		n++;
	}
	/* [proxy] sections are proxy_conf.c's to parse; these two keys are
	 * read as the key table typed them (config.c checked the boolean). */
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct config_section *s = &cfg->sections[i];
		const char *v;
		int b = 1;

		if (strcmp(s->kind, "proxy") != 0)
			continue;
		if ((v = config_section_get(s, "tls_verify")) != NULL && v[0] != '\0' &&
		    config_parse_bool(v, &b) == 0 && !b) {
			daemon_warnf(fn, arg, "%s:%d: proxy \"%s\".tls_verify: false: the upstream's "
			    "certificate is not checked, so anyone on the network path can serve any "
			    "image into the cache (install the upstream's CA instead)", cfg->path,
			    config_section_line(s, "tls_verify"), s->name);
			n++;
		}
		if (!auth_on && (v = config_section_get(s, "username")) != NULL && v[0] != '\0') {
			daemon_warnf(fn, arg, "%s:%d: proxy \"%s\".username: upstream credentials with "
			    "auth.users not set: anyone who reaches this registry pulls through the "
			    "cache as '%s' (set [auth] users)", cfg->path,
			    config_section_line(s, "username"), s->name, v);
			n++;
		}
	}
	return n;
}

static void
daemon_warn_log(void *arg, const char *msg)
{
	(void)arg;
	log_warn("%s", msg);
}

/* SIGHUP: build a new config and auth from the same file; on any error
 * log it and keep the running ones. */
static int
daemon_reload(void *arg, struct config **out_cfg, void **out_app)
{
	struct daemon *d = arg;
	const char *path = d->cfg->path;
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct auth *auth;
	char err[1024];

	if (cfg == NULL)
		return -1;
	if (daemon_load_config(path, cfg) != 0) {
		log_error("reload refused: the configuration has errors (see above); keeping the old one");
		free(cfg);
		return -1;
	}
	if ((auth = auth_new(cfg, err, sizeof(err))) == NULL) {
		log_error("reload refused: %s", err);
		config_free(cfg);
		free(cfg);
		return -1;
	}
	/* The listener stays the one the process started with. */
	daemon_config_warnings(cfg, auth, server_listen_addr(d->srv), daemon_warn_log, NULL);
	*out_cfg = cfg;
	*out_app = auth;
	return 0;
}

/* ---- the HTTP layer's hooks ---- */

static struct worker *
daemon_worker_new(void *arg, int id, struct event_base *base, void *app)
{
	struct daemon *d = arg;
	struct worker *w = &d->set.w[id];

	w->id = id;
	w->base = base;
	w->store = d->store;
	w->pool = d->pool;
	w->auth = app;
	w->all = &d->set;
	if ((w->metrics = calloc(1, sizeof(*w->metrics))) == NULL)
		return NULL;
	/* Split the manifest cache between the workers. */
	if ((w->manifests = cache_new((size_t)d->cfg->manifest_cache_size / (size_t)d->set.n,
	    (size_t)d->cfg->max_manifest_size)) == NULL)
		return NULL;
	if ((w->meta = meta_open(d->cfg)) == NULL)
		return NULL;
	/* The writer is an optimization: without it writes stay on the loop. */
	if ((w->wmeta = meta_open(d->cfg)) != NULL && (w->writer = pool_new(1)) == NULL) {
		meta_close(w->wmeta);
		w->wmeta = NULL;
	}
	if (w->writer == NULL)
		log_warn("worker %d: no writer thread; metadata writes run on the event loop", id);
	return w;
}

static void
daemon_worker_swap(void *arg, struct worker *w, void *app)
{
	(void)arg;
	w->auth = app;
}

static void
daemon_worker_free(void *arg, struct worker *w)
{
	(void)arg;
	/* Upstream transfers and the requests waiting on them first. */
	proxy_worker_free(w);
	store_loop_done(w->store, w->base);
	pool_free(w->writer);	/* NULL already after daemon_quiesce */
	w->writer = NULL;
	meta_close(w->wmeta);
	w->wmeta = NULL;
	meta_close(w->meta);
	cache_free(w->manifests);
	free(w->metrics);
	w->meta = NULL;
	w->manifests = NULL;
	w->metrics = NULL;
}

static void
daemon_quiesce(void *arg)
{
	struct daemon *d = arg;

	/* Joined before the event loops go: no job hands back to a freed one. */
	pool_free(d->pool);
	d->pool = NULL;
	for (int i = 0; i < d->set.n; i++) {
		pool_free(d->set.w[i].writer);
		d->set.w[i].writer = NULL;
	}
}

static void
daemon_request_done(struct request *req, const struct log_access_rec *r)
{
	metrics_observe(req->w->metrics, req->metric_route, (int)req->method, r->status, r->usec,
	    r->bytes_in, r->bytes_out);
}

static void
daemon_conn_count(struct worker *w, int delta)
{
	if (delta > 0)
		__atomic_add_fetch(&w->metrics->connections_open, 1, __ATOMIC_RELAXED);
	else
		__atomic_sub_fetch(&w->metrics->connections_open, 1, __ATOMIC_RELAXED);
}

static void
daemon_app_free(void *arg, void *app)
{
	(void)arg;
	auth_free(app);
}

struct daemon *
daemon_new(const struct config *cfg, struct store *store, struct auth *auth)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct server_hooks hooks = {
		.dispatch = router_dispatch,
		.worker_new = daemon_worker_new,
		.worker_swap = daemon_worker_swap,
		.worker_free = daemon_worker_free,
		.quiesce = daemon_quiesce,
		.request_done = daemon_request_done,
		.conn_count = daemon_conn_count,
		.app_free = daemon_app_free,
		.arg = d,
	};

	if (d == NULL)
		return NULL;
	d->cfg = cfg;
	d->store = store;
	d->set.n = cfg->workers > 0 ? cfg->workers : 1;
	if ((d->set.w = calloc((size_t)d->set.n, sizeof(*d->set.w))) == NULL ||
	    (d->pool = pool_new(2)) == NULL || (d->srv = server_new(cfg, auth, &hooks)) == NULL) {
		daemon_free(d);
		return NULL;
	}
	server_set_reload(d->srv, daemon_reload, d);
	return d;
}

struct server *
daemon_server(struct daemon *d)
{
	return d->srv;
}

void
daemon_free(struct daemon *d)
{
	if (d == NULL)
		return;
	server_free(d->srv);	/* the workers' contexts through the hooks */
	pool_free(d->pool);	/* NULL already unless server_new failed */
	free(d->set.w);
	free(d);
}

int
daemon_serve(const struct config *cfg)
{
	struct store *store;
	struct meta *meta;
	struct daemon *d;
	struct auth *auth;
	struct gc_runner *gc;
	struct upload_sweeper *sweeper;
	char err[1024];
	int gc_failed;

	log_set_level((enum log_level)cfg->log_level);
	if (server_fd_check(cfg, err, sizeof(err)) != 0)
		log_warn("%s", err);
	/* A configuration error, not a failure to bind: exit 78 (systemd's
	 * RestartPreventExitStatus= does not retry it), before storage. */
	if (server_tls_check(cfg, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return EXIT_CONFIG;
	}
	if ((store = store_open_cfg(cfg, cfg->root, cfg->sync)) == NULL)
		return EXIT_STORAGE;
	store_set_direct(store, cfg->sync && cfg->direct_io);
	/* After the store: the token key defaults to a file in its root. */
	if ((auth = auth_new(cfg, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		store_close(store);
		return EXIT_CONFIG;
	}
	/* Open once here so a broken database fails start-up with a clear
	 * message before any listener exists. */
	if ((meta = meta_open(cfg)) == NULL) {
		auth_free(auth);
		store_close(store);
		return EXIT_STORAGE;
	}
	meta_close(meta);
	if ((d = daemon_new(cfg, store, auth)) == NULL) {
		auth_free(auth);
		store_close(store);
		return EXIT_BIND;
	}
	/* XXX the collector keeps the settings it started with: a reload
	 * does not change [gc] or [retention] until a restart. */
	if ((gc = gc_runner_start(cfg, store, &gc_failed)) == NULL && gc_failed) {
		daemon_free(d);
		auth_free(auth);
		store_close(store);
		return EXIT_STORAGE;
	}
	/* Idle upload sessions expire even with the collector off. */
	if ((sweeper = upload_sweeper_start(cfg, store, &gc_failed)) == NULL) {
		gc_runner_stop(gc);
		daemon_free(d);
		auth_free(auth);
		store_close(store);
		return EXIT_STORAGE;
	}
	log_info("ociregd %s: storage %s%s%s", OCIREGD_VERSION, cfg->root,
	    auth_enabled(auth) ? ", authentication on" : "", cfg->tls_certificate[0] ? ", TLS" : "");
	daemon_config_warnings(cfg, auth, server_listen_addr(daemon_server(d)), daemon_warn_log, NULL);
	server_run(daemon_server(d));
	upload_sweeper_stop(sweeper);
	gc_runner_stop(gc);
	daemon_free(d);
	auth_free(auth);
	store_close(store);
	log_info("stopped");
	return EXIT_OK;
}
