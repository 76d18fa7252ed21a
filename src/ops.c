/* SPDX-License-Identifier: ISC
 * ops.c — the operator's endpoints: /healthz (the process answers),
 * /readyz (the metadata store answers and the blob store takes a new file:
 * what a load balancer's health check asks) and /metrics (Prometheus text,
 * every worker's counters summed).  On the main listener unless [server]
 * metrics_listen moves them to a listener of their own.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gc.h"
#include "meta.h"
#include "metrics.h"
#include "ops.h"
#include "server.h"
#include "store.h"
#include "worker.h"

/* What /metrics adds to the counters: sizes, the cache against its cap,
 * the daemon's last collection.  Each read is cheap (stat, statvfs, one
 * indexed query, a mutex); one that fails leaves its series out. */
static void
ops_gauges(struct request *req, struct metrics_gauges *g)
{
	struct gc_last last;

	g->read_only = req->cfg->read_only;
	g->cache_max_bytes = (uint64_t)req->cfg->cache_max_size;
	g->have_cache = meta_proxy_cached_bytes(req->w->meta, &g->cache_bytes) == 0;
	g->have_meta_bytes = meta_size(req->w->meta, &g->meta_bytes) == 0;
	g->have_fs = store_free_bytes(req->w->store, &g->fs_avail_bytes, &g->fs_size_bytes) == 0;
	gc_last_run(&last);
	g->gc_runs = last.runs;
	g->gc_last_start = last.start;
	g->gc_last_end = last.end;
	g->gc_last_seconds = last.seconds;
	g->gc_last_freed_bytes = last.st.blob_bytes + last.st.upload_bytes;
	g->gc_last_removed[0] = last.st.tags;
	g->gc_last_removed[1] = last.st.manifests;
	g->gc_last_removed[2] = last.st.links;
	g->gc_last_removed[3] = last.st.blobs;
	g->gc_last_removed[4] = last.st.uploads;
	g->gc_last_kept_grace = last.st.grace_manifests + last.st.grace_links + last.st.grace_blobs;
	g->gc_freed_bytes = last.total.blob_bytes + last.total.upload_bytes;
	g->gc_removed[0] = last.total.tags;
	g->gc_removed[1] = last.total.manifests;
	g->gc_removed[2] = last.total.links;
	g->gc_removed[3] = last.total.blobs;
	g->gc_removed[4] = last.total.uploads;
}

int
ops_dispatch(struct request *req)
{
	int on_metrics = req_on_metrics_listener(req);
	int ops_here = on_metrics || req->cfg->metrics_listen[0] == '\0';
	const struct worker_set *all = req->w->all;

	if (ops_here && strcmp(req->path, "/healthz") == 0) {
		req->metric_route = METRICS_ROUTE_HEALTH;
		req_respond(req, 200, "text/plain", "ok\n", 3);
		return 1;
	}
	if (ops_here && (strcmp(req->path, "/readyz") == 0 || strcmp(req->path, "/metrics") == 0)) {
		struct metrics_gauges g = {0};
		struct metrics_worker *blocks[256];
		size_t n = 0, len;
		char *text;

		g.ready = meta_stats(req->w->meta, &g.uploads_in_progress, &g.blobs_stored,
		    &g.blob_bytes_stored) == 0 && store_writable(req->w->store) == 0;
		if (strcmp(req->path, "/readyz") == 0) {
			req->metric_route = METRICS_ROUTE_HEALTH;
			if (g.ready)
				req_respond(req, 200, "text/plain", "ready\n", 6);
			else
				req_respond(req, 503, "text/plain", "not ready\n", 10);
			return 1;
		}
		req->metric_route = METRICS_ROUTE_METRICS;
		ops_gauges(req, &g);
		for (int i = 0; i < all->n && n < 256; i++) {
			blocks[n++] = all->w[i].metrics;
			g.sqlite_busy_retries += meta_busy_retries(all->w[i].meta);
			if (all->w[i].wmeta != NULL)
				g.sqlite_busy_retries += meta_busy_retries(all->w[i].wmeta);
		}
		if ((text = metrics_render(blocks, n, &g, &len)) == NULL) {
			req_error(req, ERR_INTERNAL, NULL);
			return 1;
		}
		req_respond(req, 200, "text/plain; version=0.0.4", text, len);
		free(text);
		return 1;
	}
	if (on_metrics) {
		req_error(req, ERR_NOT_FOUND, NULL);
		return 1;
	}
	return 0;
}
