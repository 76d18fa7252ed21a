/* metrics.h — Prometheus metrics.  Each worker counts into its own block
 * (no locks on the request path); a scrape sums the blocks with relaxed
 * atomic loads and adds gauges read from the metadata store. */
#ifndef OCIREGD_METRICS_H
#define OCIREGD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "route.h"

/* Route labels: the router's kinds, then these. */
enum {
	METRICS_ROUTE_TOKEN = ROUTE_COUNT,
	METRICS_ROUTE_METRICS,
	METRICS_ROUTE_HEALTH,
	METRICS_NROUTES
};

#define METRICS_NMETHODS 7
#define METRICS_NSTATUS 20
#define METRICS_NBUCKETS 11

struct metrics_worker {
	uint64_t requests[METRICS_NROUTES][METRICS_NMETHODS][METRICS_NSTATUS];
	uint64_t dur_bucket[METRICS_NROUTES][METRICS_NBUCKETS];
	uint64_t dur_count[METRICS_NROUTES];
	uint64_t dur_sum_us[METRICS_NROUTES];
	uint64_t bytes_in, bytes_out;
	uint64_t manifest_cache_hits, manifest_cache_misses;
	uint64_t proxy_hits, proxy_misses;
	uint64_t connections_open;
};

/* Count one finished request (called on the worker's thread). */
void metrics_observe(struct metrics_worker *m, int route, int method, int status,
    long long usec, uint64_t bytes_in, uint64_t bytes_out);

/* Values the scrape reads from elsewhere. */
struct metrics_gauges {
	uint64_t uploads_in_progress;
	uint64_t blobs_stored;
	uint64_t blob_bytes_stored;
	uint64_t sqlite_busy_retries;
	int ready;
	int read_only;			/* [server] read_only of the scrape */
	/* Sizes; a have_* of 0 leaves the series out (could not be read). */
	int have_meta_bytes, have_fs, have_cache;
	uint64_t meta_bytes;		/* the metadata store on disk */
	uint64_t fs_avail_bytes, fs_size_bytes;	/* the storage root's filesystem */
	uint64_t cache_bytes;		/* pull-through content no local link holds */
	uint64_t cache_max_bytes;	/* [cache] max_size; 0: no limit */
	/* The daemon's collector ([gc] interval); the gc_last_* series are
	 * left out until its first run. */
	uint64_t gc_runs;
	double gc_last_start, gc_last_end, gc_last_seconds;
	uint64_t gc_last_freed_bytes;
	uint64_t gc_last_removed[5];	/* tags, manifests, links, blobs, uploads */
	uint64_t gc_last_kept_grace;
	uint64_t gc_freed_bytes;	/* summed over every run */
	uint64_t gc_removed[5];
};

/* Render the text exposition format (version 0.0.4) summing n workers'
 * blocks.  Returns a malloc'd string (caller frees) and its length, or
 * NULL. */
char *metrics_render(struct metrics_worker *const *workers, size_t n,
    const struct metrics_gauges *g, size_t *len);

#endif
