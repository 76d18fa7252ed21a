/* gc.h — storage lifecycle: garbage collection of manifests and blobs while
 * pushes go on, tag retention ([retention "GLOB"] sections), expiry of
 * upload sessions, and the daemon's background runner.  The design (mark
 * from one snapshot, sweep in short transactions that re-check) is
 * explained at the top of gc.c.
 *
 * Everything here blocks on SQLite and disk I/O: never call it from an
 * event loop.  The runner has its own thread and metadata connection. */
#ifndef OCIREGD_GC_H
#define OCIREGD_GC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config;
struct gc_writer;
struct meta;
struct store;

struct gc_options {
	int dry_run;			/* report, change nothing */
	FILE *out;			/* item lines and totals; NULL: the log */
	int progress;			/* a \r progress line on out (a terminal) */
	const int *stop;		/* read atomically; non-zero ends the run
					 * early (shutdown); may be NULL */
	struct gc_writer *writer;	/* the thread the deletions run on
					 * (gc.c: gc_command and the runner set
					 * it); NULL: the calling thread */
};

/* What a run removed (or, dry, would remove). */
struct gc_stats {
	uint64_t tags;			/* deleted by retention */
	uint64_t manifests;
	uint64_t links;			/* repository links to blobs */
	uint64_t blobs;			/* blob rows and files */
	uint64_t blob_bytes;
	uint64_t uploads;		/* sessions and orphaned spool files */
	uint64_t upload_bytes;
	uint64_t kept;			/* candidates referenced again meanwhile */
	/* Kept only because they are younger than a grace period: untagged
	 * manifests ([gc] untagged_grace, counted from the push) and the
	 * manifests only they keep; unreferenced repository links (grace,
	 * from the link) and unlinked blob rows (grace, from the store). */
	uint64_t grace_manifests;
	uint64_t grace_links;
	uint64_t grace_blobs;
	uint64_t errors;		/* items that failed (logged), run went on */
	int interrupted;		/* stopped early by opt->stop */
};

/* Check the [retention "GLOB"] sections of cfg: 0, or -1 with
 * "FILE:LINE: retention \"GLOB\".key: reason" in err. */
int gc_config_check(const struct config *cfg, char *err, size_t cap);

/* One collection with cfg's [gc], [storage] and [retention] settings,
 * through connection m (not shared with another thread while it runs).
 * Fills *st (zeroed first).  0, or a negated reg_error if the run could
 * not go on (individual items that fail are logged and counted). */
int gc_run(const struct config *cfg, struct meta *m, struct store *s,
    const struct gc_options *opt, struct gc_stats *st);

/* Only step 4 of a collection: remove the upload sessions idle since
 * before now - cfg->upload_expiry (row first, then spool) and the spool
 * files no session owns, logging each; counts go to st->uploads and
 * st->upload_bytes.  For the daemon's session expiry (upload.c), which
 * runs even with [gc] interval = 0.  0 or a negated reg_error. */
int gc_expire_uploads(const struct config *cfg, struct meta *m, struct store *s, int64_t now,
    struct gc_stats *st);

/* Print (to f) or log (f NULL) the one-line summary of a run. */
void gc_summary(FILE *f, const struct gc_stats *st, int dry_run, double seconds);

/* `ociregd gc [--dry-run]`: open the storage of cfg, run one collection,
 * print each item and the summary on stdout (with progress on a
 * terminal).  0, or -1 if the storage could not be opened or the run
 * failed (logged). */
int gc_command(const struct config *cfg, int dry_run);

/* The daemon's runner: collects every cfg->gc_interval seconds on its own
 * thread and meta connection.  NULL if the interval is 0 (nothing to do)
 * or the thread could not start (logged; *failed set).  cfg and s must
 * outlive the runner. */
struct gc_runner *gc_runner_start(const struct config *cfg, struct store *s, int *failed);
/* Wake the runner, let a run in progress stop at its next item, join.
 * NULL is a no-op. */
void gc_runner_stop(struct gc_runner *r);

/* The last collection this process's runner finished, for /metrics.
 * `ociregd gc` runs in a process of its own and is not counted. */
struct gc_last {
	uint64_t runs;			/* collections finished; 0: none yet */
	double start, end;		/* unix seconds, wall clock */
	double seconds;			/* monotonic duration */
	struct gc_stats st;		/* what it removed and kept */
	struct gc_stats total;		/* the same, summed over every run */
};
/* Copy the runner's last run into *out (all zero before the first).
 * Any thread; takes a mutex, no I/O. */
void gc_last_run(struct gc_last *out);

/* A one-line progress display ("what: items/total, bytes/total, rate")
 * redrawn with \r at most ten times a second; shared with fsck.  Off
 * (every call a no-op) unless `on`. */
/* Make room for element n of a growing array (*arr of *cap elements of
 * elem bytes; doubles, from 256).  0 or -ERR_INTERNAL.  Shared with fsck. */
int gc_grow(void **arr, size_t *cap, size_t n, size_t elem);

struct gc_progress {
	FILE *f;
	int on;
	int shown;
	const char *what;
	uint64_t n, total, bytes, bytes_total;
	double t0, last;
};
void gc_progress_begin(struct gc_progress *p, FILE *f, int on, const char *what,
    uint64_t total, uint64_t bytes_total);
/* Count bytes done (part of the current item). */
void gc_progress_bytes(struct gc_progress *p, uint64_t bytes);
/* Count one item done. */
void gc_progress_item(struct gc_progress *p);
/* Erase the line (before printing anything else, and at the end). */
void gc_progress_clear(struct gc_progress *p);

/* "512 B", "1.5 KiB", "3.2 GiB" into buf. */
void gc_size(uint64_t n, char *buf, size_t cap);
/* "45s", "90m", "24h", "7d": the shortest exact unit. */
void gc_duration(long long seconds, char *buf, size_t cap);

#endif
