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
#include "meta.h"
#include "metrics.h"
#include "ops.h"
#include "server.h"
#include "store.h"
#include "worker.h"

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
		for (int i = 0; i < all->n && n < 256; i++) {
			blocks[n++] = all->w[i].metrics;
			g.sqlite_busy_retries += meta_busy_retries(all->w[i].meta);
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
