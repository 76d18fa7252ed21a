/* SPDX-License-Identifier: ISC
 * metrics.c — counters and histograms for Prometheus, every name prefixed
 * ociregd_.  Status codes are kept in a small fixed table so the label set
 * is bounded whatever clients send.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const int metrics_statuses[METRICS_NSTATUS] = {
	0, 100, 200, 201, 202, 204, 206, 307, 400, 401, 403, 404, 405, 411, 413, 416, 429, 500,
	503, 507,
};

static const char *const metrics_methods[METRICS_NMETHODS] = {
	"OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
};

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const long long metrics_bounds_us[METRICS_NBUCKETS - 1] = {
	500, 1000, 5000, 10000, 50000, 100000, 500000, 1000000, 5000000, 30000000,
};

static const char *
metrics_route_name(int r)
{
	switch (r) {
	case METRICS_ROUTE_TOKEN: return "token";
	case METRICS_ROUTE_METRICS: return "metrics";
	case METRICS_ROUTE_HEALTH: return "health";
	default: return route_kind_name((enum route_kind)r);
	}
}

static int
metrics_status_index(int status)
{
	for (int i = 1; i < METRICS_NSTATUS; i++)
		if (metrics_statuses[i] == status)
			return i;
	return 0;	/* "other" */
}

void
metrics_observe(struct metrics_worker *m, int route, int method, int status,
    long long usec, uint64_t bytes_in, uint64_t bytes_out)
{
	int b;

	if (route < 0 || route >= METRICS_NROUTES)
		route = 0;
	if (method < 0 || method >= METRICS_NMETHODS)
		method = 0;
	if (usec < 0)
		usec = 0;
	for (b = 0; b < METRICS_NBUCKETS - 1 && usec > metrics_bounds_us[b]; b++)
		;
	/* Only this worker's thread writes; scrapes read with relaxed
	 * atomic loads, so plain increments are enough here. */
	__atomic_add_fetch(&m->requests[route][method][metrics_status_index(status)], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->dur_bucket[route][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->dur_count[route], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->dur_sum_us[route], (uint64_t)usec, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->bytes_in, bytes_in, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->bytes_out, bytes_out, __ATOMIC_RELAXED);
}

struct metrics_buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void __attribute__((format(printf, 2, 3)))
metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		/* The exposition is bounded by the label tables: grow. */
		char *np = realloc(b->p, b->cap * 2);

		if (np == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap *= 2;
	}
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Labels of metrics_gauges.gc_removed and gc_last_removed. */
static const char *const metrics_gc_kinds[5] = {"tag", "manifest", "link", "blob", "upload"};

char *
metrics_render(struct metrics_worker *const *w, size_t n, const struct metrics_gauges *g,
    size_t *len)
{
	struct metrics_buf b = {malloc(65536), 0, 65536, 0};
	uint64_t sum, in = 0, out = 0, mh = 0, mm = 0, ph = 0, pm = 0, conns = 0;

	if (b.p == NULL)
		return NULL;
	metrics_printf(&b, "# HELP ociregd_http_requests_total Requests answered, by route, method and status.\n"
	    "# TYPE ociregd_http_requests_total counter\n");
	for (int r = 0; r < METRICS_NROUTES; r++)
		for (int m = 0; m < METRICS_NMETHODS; m++)
			for (int s = 0; s < METRICS_NSTATUS; s++) {
				sum = 0;
				for (size_t i = 0; i < n; i++)
					sum += LOAD(w[i]->requests[r][m][s]);
				if (sum == 0)
					continue;
				if (s == 0)
					metrics_printf(&b, "ociregd_http_requests_total{route=\"%s\",method=\"%s\","
					    "status=\"other\"} %llu\n", metrics_route_name(r), metrics_methods[m],
					    (unsigned long long)sum);
				else
					metrics_printf(&b, "ociregd_http_requests_total{route=\"%s\",method=\"%s\","
					    "status=\"%d\"} %llu\n", metrics_route_name(r), metrics_methods[m],
					    metrics_statuses[s], (unsigned long long)sum);
			}
	metrics_printf(&b, "# HELP ociregd_http_request_duration_seconds Time from headers to answer queued.\n"
	    "# TYPE ociregd_http_request_duration_seconds histogram\n");
	for (int r = 0; r < METRICS_NROUTES; r++) {
		uint64_t count = 0, us = 0, cum = 0;

		for (size_t i = 0; i < n; i++) {
			count += LOAD(w[i]->dur_count[r]);
			us += LOAD(w[i]->dur_sum_us[r]);
		}
		if (count == 0)
			continue;
		for (int k = 0; k < METRICS_NBUCKETS; k++) {
			for (size_t i = 0; i < n; i++)
				cum += LOAD(w[i]->dur_bucket[r][k]);
			if (k < METRICS_NBUCKETS - 1)
				metrics_printf(&b, "ociregd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
				    metrics_route_name(r), (double)metrics_bounds_us[k] / 1e6, (unsigned long long)cum);
			else
				metrics_printf(&b, "ociregd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
				    metrics_route_name(r), (unsigned long long)cum);
		}
		metrics_printf(&b, "ociregd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
		    "ociregd_http_request_duration_seconds_count{route=\"%s\"} %llu\n", metrics_route_name(r),
		    (double)us / 1e6, metrics_route_name(r), (unsigned long long)count);
	}
	for (size_t i = 0; i < n; i++) {
		in += LOAD(w[i]->bytes_in);
		out += LOAD(w[i]->bytes_out);
		mh += LOAD(w[i]->manifest_cache_hits);
		mm += LOAD(w[i]->manifest_cache_misses);
		ph += LOAD(w[i]->proxy_hits);
		pm += LOAD(w[i]->proxy_misses);
		conns += LOAD(w[i]->connections_open);
	}
	metrics_printf(&b,
	    "# HELP ociregd_http_received_bytes_total Request body bytes received.\n"
	    "# TYPE ociregd_http_received_bytes_total counter\nociregd_http_received_bytes_total %llu\n"
	    "# HELP ociregd_http_sent_bytes_total Response body bytes sent.\n"
	    "# TYPE ociregd_http_sent_bytes_total counter\nociregd_http_sent_bytes_total %llu\n"
	    "# HELP ociregd_connections_open Client connections open.\n"
	    "# TYPE ociregd_connections_open gauge\nociregd_connections_open %llu\n"
	    "# HELP ociregd_uploads_in_progress Upload sessions open.\n"
	    "# TYPE ociregd_uploads_in_progress gauge\nociregd_uploads_in_progress %llu\n"
	    "# HELP ociregd_blobs_stored Blobs in the store.\n"
	    "# TYPE ociregd_blobs_stored gauge\nociregd_blobs_stored %llu\n"
	    "# HELP ociregd_blob_bytes_stored Bytes of blobs in the store.\n"
	    "# TYPE ociregd_blob_bytes_stored gauge\nociregd_blob_bytes_stored %llu\n"
	    "# HELP ociregd_manifest_cache_hits_total Manifest GETs served from memory.\n"
	    "# TYPE ociregd_manifest_cache_hits_total counter\nociregd_manifest_cache_hits_total %llu\n"
	    "# HELP ociregd_manifest_cache_misses_total Manifest GETs read from disk.\n"
	    "# TYPE ociregd_manifest_cache_misses_total counter\nociregd_manifest_cache_misses_total %llu\n"
	    "# HELP ociregd_proxy_cache_hits_total Pull-through requests served from the cache.\n"
	    "# TYPE ociregd_proxy_cache_hits_total counter\nociregd_proxy_cache_hits_total %llu\n"
	    "# HELP ociregd_proxy_cache_misses_total Pull-through requests that went upstream.\n"
	    "# TYPE ociregd_proxy_cache_misses_total counter\nociregd_proxy_cache_misses_total %llu\n"
	    "# HELP ociregd_sqlite_busy_retries_total Times a database call waited for a lock.\n"
	    "# TYPE ociregd_sqlite_busy_retries_total counter\nociregd_sqlite_busy_retries_total %llu\n"
	    "# HELP ociregd_ready Whether the database answers and the storage root is writable.\n"
	    "# TYPE ociregd_ready gauge\nociregd_ready %d\n",
	    (unsigned long long)in, (unsigned long long)out, (unsigned long long)conns,
	    (unsigned long long)g->uploads_in_progress, (unsigned long long)g->blobs_stored,
	    (unsigned long long)g->blob_bytes_stored, (unsigned long long)mh, (unsigned long long)mm,
	    (unsigned long long)ph, (unsigned long long)pm, (unsigned long long)g->sqlite_busy_retries,
	    g->ready);
	metrics_printf(&b,
	    "# HELP ociregd_read_only Whether [server] read_only refuses writes (maintenance).\n"
	    "# TYPE ociregd_read_only gauge\nociregd_read_only %d\n"
	    "# HELP ociregd_cache_max_bytes [cache] max_size; 0 means no limit.\n"
	    "# TYPE ociregd_cache_max_bytes gauge\nociregd_cache_max_bytes %llu\n",
	    g->read_only, (unsigned long long)g->cache_max_bytes);
	if (g->have_cache)
		metrics_printf(&b, "# HELP ociregd_cache_bytes Bytes of pull-through cached content no local manifest holds "
	    "(what [cache] max_size limits).\n"
	    "# TYPE ociregd_cache_bytes gauge\nociregd_cache_bytes %llu\n",
		    (unsigned long long)g->cache_bytes);
	if (g->have_meta_bytes)
		metrics_printf(&b, "# HELP ociregd_metadata_bytes Bytes of the metadata store on disk.\n"
		    "# TYPE ociregd_metadata_bytes gauge\nociregd_metadata_bytes %llu\n",
		    (unsigned long long)g->meta_bytes);
	if (g->have_fs)
		metrics_printf(&b, "# HELP ociregd_storage_available_bytes Bytes the daemon may still "
		    "write on the storage root's filesystem.\n"
		    "# TYPE ociregd_storage_available_bytes gauge\nociregd_storage_available_bytes %llu\n"
		    "# HELP ociregd_storage_size_bytes Size of the storage root's filesystem.\n"
		    "# TYPE ociregd_storage_size_bytes gauge\nociregd_storage_size_bytes %llu\n",
		    (unsigned long long)g->fs_avail_bytes, (unsigned long long)g->fs_size_bytes);
	metrics_printf(&b, "# HELP ociregd_gc_runs_total Collections the daemon's collector finished.\n"
	    "# TYPE ociregd_gc_runs_total counter\nociregd_gc_runs_total %llu\n"
	    "# HELP ociregd_gc_freed_bytes_total Bytes of blobs and upload spools its collections freed.\n"
	    "# TYPE ociregd_gc_freed_bytes_total counter\nociregd_gc_freed_bytes_total %llu\n"
	    "# HELP ociregd_gc_removed_total Items its collections removed, by kind.\n"
	    "# TYPE ociregd_gc_removed_total counter\n",
	    (unsigned long long)g->gc_runs, (unsigned long long)g->gc_freed_bytes);
	for (int k = 0; k < 5; k++)
		metrics_printf(&b, "ociregd_gc_removed_total{kind=\"%s\"} %llu\n", metrics_gc_kinds[k],
		    (unsigned long long)g->gc_removed[k]);
	if (g->gc_runs > 0) {

		metrics_printf(&b,
		    "# HELP ociregd_gc_last_start_time_seconds When the last collection started (unix time).\n"
		    "# TYPE ociregd_gc_last_start_time_seconds gauge\nociregd_gc_last_start_time_seconds %.3f\n"
		    "# HELP ociregd_gc_last_end_time_seconds When the last collection ended (unix time).\n"
		    "# TYPE ociregd_gc_last_end_time_seconds gauge\nociregd_gc_last_end_time_seconds %.3f\n"
		    "# HELP ociregd_gc_last_duration_seconds How long the last collection took.\n"
		    "# TYPE ociregd_gc_last_duration_seconds gauge\nociregd_gc_last_duration_seconds %.6f\n"
		    "# HELP ociregd_gc_last_freed_bytes Bytes of blobs and upload spools the last collection freed.\n"
		    "# TYPE ociregd_gc_last_freed_bytes gauge\nociregd_gc_last_freed_bytes %llu\n"
		    "# HELP ociregd_gc_last_kept_by_grace Items the last collection kept only for a grace period.\n"
		    "# TYPE ociregd_gc_last_kept_by_grace gauge\nociregd_gc_last_kept_by_grace %llu\n"
		    "# HELP ociregd_gc_last_removed Items the last collection removed, by kind.\n"
		    "# TYPE ociregd_gc_last_removed gauge\n",
		    g->gc_last_start, g->gc_last_end, g->gc_last_seconds,
		    (unsigned long long)g->gc_last_freed_bytes, (unsigned long long)g->gc_last_kept_grace);
		for (int k = 0; k < 5; k++)
			metrics_printf(&b, "ociregd_gc_last_removed{kind=\"%s\"} %llu\n", metrics_gc_kinds[k],
			    (unsigned long long)g->gc_last_removed[k]);
	}
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
