/* worker.h — the registry's per-worker context: what the gates, handlers
 * and the pull-through cache reach through req->w.  One per worker thread,
 * made and freed by the daemon (daemon.c, through the HTTP layer's hooks);
 * the HTTP layer itself never looks inside.  Plain pointers only: each
 * module owns its own state. */
#ifndef OCIREGD_WORKER_H
#define OCIREGD_WORKER_H

struct auth;
struct cache;
struct event_base;
struct meta;
struct metrics_worker;
struct pool;
struct proxy_worker;
struct store;
struct worker_set;

struct worker {
	int id;
	struct event_base *base;	/* this worker's loop: pool completions, upstream I/O */
	struct meta *meta;		/* this worker's metadata connection */
	/* Write transactions run off the loop, on the worker's writer: one
	 * thread with its own connection (wmeta, used by that thread only),
	 * so a commit's fsync or a wait for the write lock (a collection
	 * holds it) stalls that request alone, not every connection of the
	 * worker.  NULL (then writes run on the loop with meta) if either
	 * could not be made. */
	struct meta *wmeta;
	struct pool *writer;
	struct store *store;		/* the blob store (shared, thread-safe) */
	struct cache *manifests;	/* this worker's manifest cache */
	struct pool *pool;		/* shared blocking-work threads */
	struct auth *auth;		/* users, permissions, tokens of the current config */
	struct metrics_worker *metrics;	/* this worker's counters */
	struct proxy_worker *proxy;	/* the cache's upstream state (proxy.c), lazily */
	const struct worker_set *all;	/* every worker, for sums (/metrics) */
};

struct worker_set {
	struct worker *w;
	int n;
};

#endif
