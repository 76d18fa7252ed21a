/* SPDX-License-Identifier: ISC
 * gc.c — storage lifecycle: garbage collection while pushes go on, tag
 * retention, expiry of upload sessions, and the daemon's background runner
 * (`ociregd gc`, [gc] interval).
 *
 * There is no lock on the whole registry.  A collection is a mark from one
 * read snapshot followed by a sweep in many short write transactions, each
 * of which re-checks the current state before it deletes anything, so
 * whatever a concurrent push did after the snapshot wins.
 *
 * Mark.  One read transaction (SQLite WAL: writers go on).  Per repository, retention
 * ([retention "GLOB"], the most specific pattern wins, as for [access])
 * keeps the newest keep_last tags by push time, the tags matching a
 * keep_tags glob and the tags pushed within keep_days; the others are to
 * be deleted.  The roots are then: manifests a kept tag points at;
 * manifests created since the collection began (time T0); untagged
 * manifests younger than [gc] untagged_grace; and, with untagged = keep,
 * every other untagged manifest except "dependents" (an index's children,
 * or referrers whose subject is in the repository), whose life is their
 * parent's or subject's.  A manifest that lost its last tag to retention
 * is no root, grace or not.  Liveness flows from a manifest to its index
 * children and to its referrers (manifests whose subject it is), to a
 * fixpoint.  What is not live is dead.  Retention runs here over the tag
 * rows as they stream by (keeping only the tags it removes); the rest is
 * set-based in the database (meta_gc_mark), which leaves the dead
 * manifests, with why each is dead, in its temp tables: the collector
 * holds no list of every manifest, and each sweep step below pages through
 * its listing GC_PAGE rows at a time.
 *
 * Sweep, each step its own short transaction(s):
 *  0. retention's tags, each only if it still points where it did with the
 *     same push time;
 *  1. dead manifests (and their references), each only if, now, no tag
 *     points at it, no remaining index lists it, the subject it refers to
 *     is gone, and it was created before T0.  Passes repeat until one
 *     makes no progress: an index goes before its children, a subject
 *     before its referrers;
 *  2. repository links to blobs that no remaining manifest of the
 *     repository lists (or is) and that are older than [gc] grace -- a
 *     blob pushed for a manifest that is about to be pushed is spared;
 *     link times are refreshed when a blob is pushed or mounted again;
 *  3. blob rows with no link left, older than grace: the row goes in one
 *     transaction (if still unlinked), then the file is renamed into
 *     <root>/trash/, then a second transaction asks whether a row for the
 *     digest reappeared (a concurrent push).  If so the file is renamed
 *     back (if the pusher already reinstalled the file, the trashed copy
 *     just goes), else it is unlinked.  The push side keeps its side of the
 *     bargain: an upload keeps its spool until its row is committed and
 *     then reinstalls the file if it vanished (store_upload_settle); a
 *     manifest PUT writes its bytes again after its row; a mount links
 *     only if the source still holds the blob, atomically.  Blob files
 *     with no row at all (a push that failed after installing its file)
 *     go the same way once older than both grace and upload_expiry, and
 *     trash left by an interrupted collection is settled after an hour;
 *  4. upload sessions idle longer than [storage] upload_expiry, row first
 *     then spool; and spool or temporary files in uploads/ that no session
 *     owns, older than upload_expiry.
 *
 * Because a concurrent push re-checks its references inside its own
 * transaction (meta_manifest_put), a push either commits before a sweep
 * step (and the step sees it) or fails with MANIFEST_BLOB_UNKNOWN; it is
 * never acknowledged and then lost.  A dry run marks the same way, sweeps
 * nothing, and lists what each step would remove given the steps before.
 * Both list ("kept:") what only a grace period spares, with its age, so
 * that a collection that frees nothing says why: the mark roots young
 * untagged manifests in a second round, after everything else, to tell
 * them from those something else keeps anyway.
 */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "digest.h"
#include "errors.h"
#include "gc.h"
#include "log.h"
#include "meta.h"
#include "store.h"

#define GC_KEEP_LAST_MAX 1000000
#define GC_KEEP_DAYS_MAX 36500
#define GC_TRASH_AGE 3600		/* trash older than this is a crashed run's */
#define GC_NICE 10			/* added to the collector's nice value */

/* ---- small helpers ---- */

static double
gc_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
gc_size(uint64_t n, char *buf, size_t cap)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void
gc_duration(long long s, char *buf, size_t cap)
{
	if (s > 0 && s % 86400 == 0)
		snprintf(buf, cap, "%lldd", s / 86400);
	else if (s > 0 && s % 3600 == 0)
		snprintf(buf, cap, "%lldh", s / 3600);
	else if (s > 0 && s % 60 == 0)
		snprintf(buf, cap, "%lldm", s / 60);
	else
		snprintf(buf, cap, "%llds", s);
}

/* An age in the largest whole unit: "4d", "7h", "12m", "30s". */
static void
gc_age(long long s, char *buf, size_t cap)
{
	if (s >= 2 * 86400)
		snprintf(buf, cap, "%lldd", s / 86400);
	else if (s >= 2 * 3600)
		snprintf(buf, cap, "%lldh", s / 3600);
	else if (s >= 120)
		snprintf(buf, cap, "%lldm", s / 60);
	else
		snprintf(buf, cap, "%llds", s < 0 ? 0 : s);
}

/* ---- progress ---- */

void
gc_progress_begin(struct gc_progress *p, FILE *f, int on, const char *what, uint64_t total,
    uint64_t bytes_total)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->on = on && f != NULL;
	p->what = what;
	p->total = total;
	p->bytes_total = bytes_total;
	p->t0 = p->last = gc_now_mono();
}

static void
gc_progress_draw(struct gc_progress *p, int force)
{
	char b[32], bt[32], r[32];
	double now, dt;

	if (!p->on)
		return;
	now = gc_now_mono();
	if (!force && now - p->last < 0.1)
		return;
	p->last = now;
	dt = now - p->t0;
	gc_size(p->bytes, b, sizeof(b));
	gc_size(p->bytes_total, bt, sizeof(bt));
	gc_size(dt > 0.05 ? (uint64_t)((double)p->bytes / dt) : 0, r, sizeof(r));
	fprintf(p->f, "\r%s: %llu/%llu, %s/%s, %s/s, %.0f items/s\033[K", p->what,
	    (unsigned long long)p->n, (unsigned long long)p->total, b, bt, r,
	    dt > 0.05 ? (double)p->n / dt : 0.0);
	fflush(p->f);
	p->shown = 1;
}

void
gc_progress_bytes(struct gc_progress *p, uint64_t bytes)
{
	p->bytes += bytes;
	gc_progress_draw(p, 0);
}

void
gc_progress_item(struct gc_progress *p)
{
	p->n++;
	gc_progress_draw(p, p->n == p->total);
}

void
gc_progress_clear(struct gc_progress *p)
{
	if (p->on && p->shown) {
		fputs("\r\033[K", p->f);
		fflush(p->f);
		p->shown = 0;
	}
}

/* ---- retention rules ---- */

struct gc_rule {
	const char *pattern;		/* the section name, in cfg */
	int literal, wild;		/* specificity, as auth.c ranks [access] */
	long keep_last;			/* -1: not set */
	long keep_days;			/* -1: not set */
	const char *keep_tags;		/* comma/space separated globs, or NULL */
};

static int gc_errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
gc_errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* Characters of a glob over names of kind: repository names ("r") or tags
 * ("t"), plus the glob syntax fnmatch understands. */
static int
gc_glob_valid(const char *g, size_t n, int tag)
{
	if (n == 0 || n > 255)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = g[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-' || c == '*' || c == '?' || c == '[' || c == ']' || c == '!' || c == '^')
			continue;
		if (tag && (c >= 'A' && c <= 'Z'))
			continue;
		if (!tag && c == '/')
			continue;
		return 0;
	}
	return 1;
}

/* Call fn on each item of a "a, b c" list; stop at a non-zero result. */
static int
gc_list_each(const char *list, int (*fn)(void *, const char *, size_t), void *arg)
{
	const char *p = list;

	while (*p != '\0') {
		size_t n;
		int r;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if ((r = fn(arg, p, n)) != 0)
			return r;
		p += n;
	}
	return 0;
}

static int
gc_tag_glob_check(void *arg, const char *item, size_t n)
{
	(void)arg;
	return gc_glob_valid(item, n, 1) ? 0 : 1;
}

static int
gc_parse_long(const char *v, long max, long *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0 || n > max)
		return -1;
	*out = (long)n;
	return 0;
}

/* Build the rules from cfg's [retention] sections; *rules is malloc'd
 * (NULL if none).  0, or -1 with a message. */
static int
gc_rules_load(const struct config *cfg, struct gc_rule **rules, size_t *nrules, char *err,
    size_t cap)
{
	struct gc_rule *r = NULL;
	size_t n = 0;

	*rules = NULL;
	*nrules = 0;
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct config_section *s = &cfg->sections[i];
		const char *v;
		struct gc_rule *nr;

		if (strcmp(s->kind, "retention") != 0)
			continue;
		if (!gc_glob_valid(s->name, strlen(s->name), 0)) {
			free(r);
			return gc_errf(err, cap, "%s:%d: [retention \"%s\"]: not a repository name "
			    "pattern (lowercase, digits, . _ - /, and * ? [ ])", cfg->path, s->line, s->name);
		}
		if ((nr = realloc(r, (n + 1) * sizeof(*r))) == NULL) {
			free(r);
			return gc_errf(err, cap, "out of memory");
		}
		r = nr;
		nr = &r[n++];
		memset(nr, 0, sizeof(*nr));
		nr->pattern = s->name;
		nr->keep_last = nr->keep_days = -1;
		for (const char *p = s->name; *p != '\0'; p++) {
			if (*p == '*' || *p == '?' || *p == '[')
				nr->wild++;
			else
				nr->literal++;
		}
		if ((v = config_section_get(s, "keep_last")) != NULL &&
		    gc_parse_long(v, GC_KEEP_LAST_MAX, &nr->keep_last) != 0) {
			free(r);
			return gc_errf(err, cap, "%s:%d: retention \"%s\".keep_last: '%s' is not a "
			    "number of tags from 0 to %d", cfg->path, config_section_line(s, "keep_last"),
			    s->name, v, GC_KEEP_LAST_MAX);
		}
		if ((v = config_section_get(s, "keep_days")) != NULL &&
		    gc_parse_long(v, GC_KEEP_DAYS_MAX, &nr->keep_days) != 0) {
			free(r);
			return gc_errf(err, cap, "%s:%d: retention \"%s\".keep_days: '%s' is not a "
			    "number of days from 0 to %d", cfg->path, config_section_line(s, "keep_days"),
			    s->name, v, GC_KEEP_DAYS_MAX);
		}
		if ((v = config_section_get(s, "keep_tags")) != NULL) {
			if (v[strspn(v, " \t,")] == '\0' || gc_list_each(v, gc_tag_glob_check, NULL) != 0) {
				free(r);
				return gc_errf(err, cap, "%s:%d: retention \"%s\".keep_tags: '%s' is not a "
				    "list of tag patterns (letters, digits, . _ -, and * ? [ ])", cfg->path,
				    config_section_line(s, "keep_tags"), s->name, v);
			}
			nr->keep_tags = v;
		}
		if (nr->keep_last < 0 && nr->keep_days < 0 && nr->keep_tags == NULL) {
			/* An empty section would delete every tag: surely not
			 * what anyone meant. */
			free(r);
			return gc_errf(err, cap, "%s:%d: [retention \"%s\"]: set at least one of "
			    "keep_last, keep_tags, keep_days", cfg->path, s->line, s->name);
		}
	}
	*rules = r;
	*nrules = n;
	return 0;
}

int
gc_config_check(const struct config *cfg, char *err, size_t cap)
{
	struct gc_rule *rules;
	size_t n;

	if (gc_rules_load(cfg, &rules, &n, err, cap) != 0)
		return -1;
	free(rules);
	return 0;
}

/* The most specific rule matching repo: most literal characters, then
 * fewest wildcards (as [access] in auth.c). */
static const struct gc_rule *
gc_rule_find(const struct gc_rule *rules, size_t n, const char *repo)
{
	const struct gc_rule *best = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct gc_rule *r = &rules[i];

		if (fnmatch(r->pattern, repo, 0) != 0)
			continue;
		if (best == NULL || r->literal > best->literal ||
		    (r->literal == best->literal && r->wild < best->wild))
			best = r;
	}
	return best;
}

struct gc_tag_match {
	const char *tag;
	int found;
};

static int
gc_tag_match_item(void *arg, const char *item, size_t n)
{
	struct gc_tag_match *t = arg;
	char glob[256];

	if (n >= sizeof(glob))
		return 0;
	memcpy(glob, item, n);
	glob[n] = '\0';
	if (fnmatch(glob, t->tag, 0) == 0) {
		t->found = 1;
		return 1;
	}
	return 0;
}

/* ---- the run's state ---- */

/* Strings: a chain of chunks, freed at the end (the run's) or after each
 * page of a sweep (the page's). */
struct gc_chunk {
	struct gc_chunk *next;
	size_t used, cap;
	char data[];
};

/* A tag retention removes. */
struct gc_tag {
	int64_t repo_id;
	const char *repo;
	const char *name;
	const char *digest;
	int64_t updated;
	char *why;			/* retention's reason */
	int removed;			/* read after meta_gc_flush (meta.h) */
};

/* A sweep candidate: a manifest, a link, a blob, an upload, a file. */
struct gc_item {
	int64_t repo_id;
	const char *repo;
	const char *name;		/* digest, upload id or file name */
	const char *aux;		/* a manifest's: see enum meta_gc_why */
	uint64_t size;
	int64_t time;
	int kind;
	int removed;			/* read after meta_gc_flush (meta.h) */
};

/* Rows a sweep holds at a time: one page of a listing. */
#define GC_PAGE 1000

struct gc {
	const struct config *cfg;
	struct meta *m;
	struct store *s;
	const struct gc_options *opt;
	struct gc_stats *st;
	int64_t t0;			/* collection start (unix seconds) */
	struct gc_chunk *chunks;	/* the run's strings */
	struct gc_chunk *pchunks;	/* the page's strings */
	struct gc_rule *rules;
	size_t nrules;
	uint64_t ndead;			/* candidate manifests of the mark */
	struct gc_tag *tags;		/* retention's */
	size_t ntags, captags;
	int64_t rt_repo;		/* retention: the repository of the rows */
	long rt_i;			/* ... the rank of the next tag in it */
	const struct gc_rule *rt_rule;	/* ... its rule, or NULL */
	struct gc_item *items;
	size_t nitems, capitems;
	struct gc_progress prog;
	int use_mtime;			/* gc_collect_file: uploads/ */
	int64_t file_before;		/* gc_collect_file: older files only */
	int strays;			/* gc_collect_file: blobs without a row */
};

static const char *
gc_str_in(struct gc_chunk **list, const char *s)
{
	size_t n = strlen(s) + 1;
	struct gc_chunk *c = *list;
	char *p;

	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;

		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->next = *list;
		c->used = 0;
		c->cap = cap;
		*list = c;
	}
	p = c->data + c->used;
	memcpy(p, s, n);
	c->used += n;
	return p;
}

static const char *
gc_str(struct gc *gc, const char *s)
{
	return gc_str_in(&gc->chunks, s);
}

static void
gc_chunks_free(struct gc_chunk **list)
{
	while (*list != NULL) {
		struct gc_chunk *c = *list;

		*list = c->next;
		free(c);
	}
}

/* Forget the page's items and strings. */
static void
gc_page_reset(struct gc *gc)
{
	gc->nitems = 0;
	gc_chunks_free(&gc->pchunks);
}

int
gc_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 256;
	if ((p = realloc(*arr, ncap * elem)) == NULL)
		return -ERR_INTERNAL;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int
gc_stopped(struct gc *gc)
{
	if (gc->opt->stop != NULL && __atomic_load_n(gc->opt->stop, __ATOMIC_RELAXED)) {
		gc->st->interrupted = 1;
		return 1;
	}
	return 0;
}

/* ---- the writer ----
 *
 * The collector lowers its priority (gc_yield_cpu) so that it takes the
 * CPU time requests leave.  But a batch of deletions holds the database's
 * write lock, and a push waits for that lock on its worker's event loop
 * (meta_sqlite.c): a collector descheduled while it holds the lock (nice
 * 10 against busy workers: tens of milliseconds) held up every request of
 * that worker, a priority inversion.  So the batches run on the writer, a
 * thread made before the collector lowered its priority, which keeps the
 * one the collector had: the mark and the listings are low-priority work,
 * a batch runs at the workers' priority and ends (or hands the lock to a
 * waiting push) promptly.  The calling thread waits meanwhile, so the
 * connection is never used by two threads at once. */
struct gc_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int (*fn)(struct gc *, void *);
	struct gc *gc;
	void *arg;
	int rc;
	int pending;			/* fn is posted, not yet done */
	int stop;
	int nice;			/* the writer thread's nice value */
};

static void *
gc_writer_main(void *arg)
{
	struct gc_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	w->nice = getpriority(PRIO_PROCESS, 0);
	pthread_cond_broadcast(&w->cv);
	for (;;) {
		while (!w->pending && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->pending)
			break;
		pthread_mutex_unlock(&w->mu);
		w->rc = w->fn(w->gc, w->arg);
		pthread_mutex_lock(&w->mu);
		w->pending = 0;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* A writer at the calling thread's priority; NULL if none could start
 * (the deletions then run on the caller, as before the writer existed). */
static struct gc_writer *
gc_writer_start(void)
{
	struct gc_writer *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->nice = INT_MIN;
	if (pthread_create(&w->thread, NULL, gc_writer_main, w) != 0) {
		log_debug("gc: no writer thread: %s", strerror(errno));
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return NULL;
	}
	/* Its priority is known once it runs (for the log line in gc_run). */
	pthread_mutex_lock(&w->mu);
	while (w->nice == INT_MIN)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return w;
}

static void
gc_writer_stop(struct gc_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* fn(gc, arg) on the writer (or here, without one); its result. */
static int
gc_write(struct gc *gc, int (*fn)(struct gc *, void *), void *arg)
{
	struct gc_writer *w = gc->opt->writer;
	int rc;

	if (w == NULL)
		return fn(gc, arg);
	pthread_mutex_lock(&w->mu);
	w->fn = fn;
	w->gc = gc;
	w->arg = arg;
	w->pending = 1;
	pthread_cond_broadcast(&w->cv);
	while (w->pending)
		pthread_cond_wait(&w->cv, &w->mu);
	rc = w->rc;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void gc_vreport(struct gc *gc, int kept, const char *kind, const char *what,
    uint64_t size, const char *repo, const char *fmt, va_list ap) __attribute__((format(printf, 7, 0)));
static void gc_report(struct gc *gc, const char *kind, const char *what, uint64_t size,
    const char *repo, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void gc_kept(struct gc *gc, const char *kind, const char *what, uint64_t size,
    const char *repo, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
gc_vreport(struct gc *gc, int kept, const char *kind, const char *what, uint64_t size,
    const char *repo, const char *fmt, va_list ap)
{
	char why[768], sz[32];

	vsnprintf(why, sizeof(why), fmt, ap);
	if (size == UINT64_MAX)
		snprintf(sz, sizeof(sz), "-");
	else
		gc_size(size, sz, sizeof(sz));
	if (gc->opt->out == NULL) {
		/* The daemon's runner: what a grace period keeps comes back
		 * every interval until it ages, so only its count is logged
		 * at info (the summary). */
		if (kept)
			log_debug("gc: kept %s %s %s %s: %s", kind, what, sz, repo[0] ? repo : "-", why);
		else
			log_info("gc: %s %s %s %s %s: %s", gc->opt->dry_run ? "would remove" : "removed",
			    kind, what, sz, repo[0] ? repo : "-", why);
		return;
	}
	gc_progress_clear(&gc->prog);
	fprintf(gc->opt->out, "%s%-8s %s %s %s: %s\n", kept ? "kept: " : "", kind, what, sz,
	    repo[0] ? repo : "-", why);
}

/* One line per removed (or, dry, removable) item:
 *   KIND DIGEST-OR-ID SIZE REPOSITORY: WHY */
static void
gc_report(struct gc *gc, const char *kind, const char *what, uint64_t size, const char *repo,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gc_vreport(gc, 0, kind, what, size, repo, fmt, ap);
	va_end(ap);
}

/* One line per item that would go but for a grace period, so that an
 * administrator sees why a collection freed less than expected:
 *   kept: KIND DIGEST SIZE REPOSITORY: WHY, AGE since EVENT (GRACE-KEY DURATION) */
static void
gc_kept(struct gc *gc, const char *kind, const char *what, uint64_t size, const char *repo,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gc_vreport(gc, 1, kind, what, size, repo, fmt, ap);
	va_end(ap);
}

/* ---- mark ---- */

/* Retention, one tag row at a time: rows come grouped by repository,
 * newest first, so a tag's rank in its repository is a counter.  Only the
 * tags to be removed are kept (with their reason). */
static int
gc_retention_row(void *arg, const struct meta_gc_row *row)
{
	struct gc *gc = arg;
	const struct gc_rule *r;
	struct gc_tag_match tm = {row->aux, 0};
	struct gc_tag *t;
	char why[600], age[32];
	size_t off;
	long i;

	if ((gc->rt_i & 4095) == 4095 && gc_stopped(gc))
		return 1;
	if (row->repo_id != gc->rt_repo || gc->rt_i < 0) {
		gc->rt_repo = row->repo_id;
		gc->rt_i = 0;
		gc->rt_rule = gc_rule_find(gc->rules, gc->nrules, row->repo);
	}
	i = gc->rt_i++;
	if ((r = gc->rt_rule) == NULL)
		return 0;
	if (r->keep_last >= 0 && i < r->keep_last)
		return 0;
	if (r->keep_days >= 0 && row->time >= gc->t0 - (int64_t)r->keep_days * 86400)
		return 0;
	if (r->keep_tags != NULL) {
		gc_list_each(r->keep_tags, gc_tag_match_item, &tm);
		if (tm.found)
			return 0;
	}
	off = (size_t)snprintf(why, sizeof(why), "retention \"%s\":", r->pattern);
	if (r->keep_last >= 0)
		off += (size_t)snprintf(why + off, sizeof(why) - off, " not among the newest "
		    "keep_last=%ld (it is #%ld);", r->keep_last, i + 1);
	if (r->keep_days >= 0 && off < sizeof(why)) {
		gc_age(gc->t0 - row->time, age, sizeof(age));
		off += (size_t)snprintf(why + off, sizeof(why) - off, " pushed %s ago, keep_days=%ld;",
		    age, r->keep_days);
	}
	if (r->keep_tags != NULL && off < sizeof(why))
		off += (size_t)snprintf(why + off, sizeof(why) - off, " matches no keep_tags (%s);",
		    r->keep_tags);
	if (off < sizeof(why) && off > 0 && why[off - 1] == ';')
		why[off - 1] = '\0';
	if (gc_grow((void **)&gc->tags, &gc->captags, gc->ntags, sizeof(*gc->tags)) != 0)
		return -ERR_INTERNAL;
	t = &gc->tags[gc->ntags];
	memset(t, 0, sizeof(*t));
	t->repo_id = row->repo_id;
	t->repo = gc_str(gc, row->repo);
	t->name = gc_str(gc, row->aux);
	t->digest = gc_str(gc, row->digest);
	t->why = (char *)gc_str(gc, why);
	if (t->repo == NULL || t->name == NULL || t->digest == NULL || t->why == NULL)
		return -ERR_INTERNAL;
	t->updated = row->time;
	gc->ntags++;
	return 0;
}

/* The mark, from one snapshot: retention here (its rules are globs the
 * database does not speak), the reachability in the database
 * (meta_gc_mark), which leaves the candidates in its temp tables: the
 * collector holds only the tags retention removes. */
static int
gc_mark(struct gc *gc)
{
	struct meta_gc_mark p;
	struct meta_gc_tagref *drop = NULL;
	int rc;

	if ((rc = meta_gc_read_begin(gc->m)) != 0)
		return rc;
	gc->rt_i = -1;
	if (gc->nrules > 0 && (rc = meta_gc_tags(gc->m, gc_retention_row, gc)) != 0)
		goto out;
	if (gc->ntags > 0 && (drop = calloc(gc->ntags, sizeof(*drop))) == NULL) {
		rc = -ERR_INTERNAL;
		goto out;
	}
	for (size_t i = 0; i < gc->ntags; i++) {
		drop[i].repo_id = gc->tags[i].repo_id;
		drop[i].name = gc->tags[i].name;
	}
	memset(&p, 0, sizeof(p));
	p.t0 = gc->t0;
	p.young = gc->t0 - gc->cfg->gc_untagged_grace;
	p.keep_untagged = gc->cfg->gc_untagged == CONFIG_UNTAGGED_KEEP;
	p.drop = drop;
	p.ndrop = gc->ntags;
	rc = meta_gc_mark(gc->m, &p, &gc->ndead);
out:
	free(drop);
	meta_gc_read_end(gc->m);
	return rc;
}

/* Why a dead manifest is dead, in words. */
static void
gc_mf_why(const struct gc *gc, const struct gc_item *it, char *why, size_t cap)
{
	const struct gc_rule *r;
	char grace[32];

	switch (it->kind) {
	case META_GC_RETENTION:
		r = gc_rule_find(gc->rules, gc->nrules, it->repo);
		snprintf(why, cap, "its last tag goes by retention \"%s\", and no index or subject "
		    "keeps it", r ? r->pattern : "?");
		break;
	case META_GC_REFERRER:
		snprintf(why, cap, "referrer of %s, which is removed", it->aux);
		break;
	case META_GC_CHILD:
	case META_GC_CHILD_MANY:
		snprintf(why, cap, "child of index %s, which is removed%s", it->aux,
		    it->kind == META_GC_CHILD_MANY ? " (as is every other index listing it)" : "");
		break;
	default:
		gc_duration(gc->cfg->gc_untagged_grace, grace, sizeof(grace));
		snprintf(why, cap, "untagged for more than %s (untagged = delete)", grace);
	}
}

/* ---- sweep ---- */

/* The tags' deletions (on the writer); *arg gets how many were tried. */
static int
gc_tags_write(struct gc *gc, void *arg)
{
	size_t *n = arg;
	int rc;

	for (*n = 0; *n < gc->ntags && !gc_stopped(gc); (*n)++) {
		struct gc_tag *t = &gc->tags[*n];

		t->removed = 1;
		if (!gc->opt->dry_run &&
		    (rc = meta_gc_tag_delete(gc->m, t->repo_id, t->name, t->digest, t->updated,
		    &t->removed)) != 0) {
			gc->st->errors++;
			return rc;
		}
		gc_progress_item(&gc->prog);
	}
	/* What was removed is known once the batch is committed. */
	return meta_gc_flush(gc->m);
}

static int
gc_sweep_tags(struct gc *gc)
{
	size_t n = 0;
	int rc;

	if (gc->ntags == 0)
		return 0;
	gc_progress_begin(&gc->prog, gc->opt->out, gc->opt->progress, "gc: tags", gc->ntags, 0);
	if ((rc = gc_write(gc, gc_tags_write, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct gc_tag *t = &gc->tags[i];
		char ref[600];
		int dropped = 0;

		if (!t->removed) {
			/* Pushed again or moved since the snapshot. */
			gc->st->kept++;
			if ((rc = meta_gc_keep(gc->m, t->repo_id, t->digest, &dropped)) != 0)
				return rc;
			if (dropped && gc->ndead > 0)
				gc->ndead--;
			continue;
		}
		snprintf(ref, sizeof(ref), "%s:%s", t->repo, t->name);
		gc_report(gc, "tag", t->digest, UINT64_MAX, ref, "%s", t->why);
		gc->st->tags++;
	}
	gc_progress_clear(&gc->prog);
	return 0;
}

/* A listed row into the page (gc->items). */
static int
gc_collect_item(void *arg, const struct meta_gc_row *row)
{
	struct gc *gc = arg;
	struct gc_item *it;

	if (gc_grow((void **)&gc->items, &gc->capitems, gc->nitems, sizeof(*gc->items)) != 0)
		return -ERR_INTERNAL;
	it = &gc->items[gc->nitems];
	memset(it, 0, sizeof(*it));
	it->repo_id = row->repo_id;
	it->repo = gc_str_in(&gc->pchunks, row->repo);
	it->name = gc_str_in(&gc->pchunks, row->digest);
	it->aux = gc_str_in(&gc->pchunks, row->aux);
	if (it->repo == NULL || it->name == NULL || it->aux == NULL)
		return -ERR_INTERNAL;
	it->size = row->size;
	it->time = row->time;
	it->kind = row->kind;
	gc->nitems++;
	return 0;
}

/* Report a manifest that only untagged_grace keeps, with its age. */
static int
gc_grace_row(void *arg, const struct meta_gc_row *row)
{
	struct gc *gc = arg;
	char grace[32], age[32];

	gc_duration(gc->cfg->gc_untagged_grace, grace, sizeof(grace));
	gc_age(gc->t0 - row->time, age, sizeof(age));
	if (row->aux[0] == '\0')
		gc_kept(gc, "manifest", row->digest, row->size, row->repo, "untagged, %s since pushed "
		    "(untagged_grace %s)", age, grace);
	else
		gc_kept(gc, "manifest", row->digest, row->size, row->repo, "listed by or refers to %s, "
		    "untagged, %s since pushed (untagged_grace %s)", row->aux, age, grace);
	gc->st->grace_manifests++;
	return 0;
}

/* The listings a sweep pages through, by key: the page after the last
 * item of the page before (items must be empty for the first page). */
enum gc_listing { GC_LIST_DEAD, GC_LIST_LINKS, GC_LIST_BLOBS };

static int
gc_list_page(struct gc *gc, enum gc_listing what, int64_t after_id, const char *after)
{
	gc_page_reset(gc);
	switch (what) {
	case GC_LIST_DEAD:
		return meta_gc_dead(gc->m, after_id, after, GC_PAGE, gc_collect_item, gc);
	case GC_LIST_LINKS:
		return meta_gc_links(gc->m, gc->t0, after_id, after, GC_PAGE, gc_collect_item, gc);
	default:
		return meta_gc_blobs(gc->m, gc->t0, after, GC_PAGE, gc_collect_item, gc);
	}
}

/* Page through a listing: *more is cleared after the last page.  The key
 * of the last item goes to (*id, key) for the next call. */
static int
gc_next_page(struct gc *gc, enum gc_listing what, int64_t *id, char key[DIGEST_STR_MAX + 64],
    int *more)
{
	const struct gc_item *last;
	int rc;

	if ((rc = gc_list_page(gc, what, *id, key)) != 0)
		return rc;
	*more = gc->nitems == GC_PAGE;
	if (gc->nitems == 0)
		return 0;
	last = &gc->items[gc->nitems - 1];
	*id = last->repo_id;
	snprintf(key, DIGEST_STR_MAX + 64, "%s", last->name);
	return 0;
}

/* Progress over a listing's items older than `before` (the others are
 * kept): counted by a pass of its own, so only on a terminal. */
static int
gc_items_progress(struct gc *gc, enum gc_listing what, const char *label, int64_t before)
{
	char key[DIGEST_STR_MAX + 64] = "";
	uint64_t bytes = 0, n = 0;
	int64_t id = 0;
	int more = gc->opt->progress && gc->opt->out != NULL, rc;

	while (more) {
		if ((rc = gc_next_page(gc, what, &id, key, &more)) != 0)
			return rc;
		for (size_t i = 0; i < gc->nitems; i++)
			if (gc->items[i].time < before) {
				bytes += gc->items[i].size;
				n++;
			}
	}
	gc_page_reset(gc);
	gc_progress_begin(&gc->prog, gc->opt->out, gc->opt->progress, label, n, bytes);
	return 0;
}

/* A page of dead manifests deleted (on the writer); *arg gets how many
 * were tried. */
static int
gc_manifests_write(struct gc *gc, void *arg)
{
	size_t *n = arg;
	int rc;

	for (*n = 0; *n < gc->nitems && !gc_stopped(gc); (*n)++) {
		struct gc_item *it = &gc->items[*n];

		it->removed = 1;
		if (gc->opt->dry_run)
			rc = meta_gc_dry_manifest(gc->m, it->repo_id, it->name);
		else
			rc = meta_gc_manifest_delete(gc->m, it->repo_id, it->name, gc->t0,
			    &it->removed);
		if (rc != 0) {
			gc->st->errors++;
			return rc;
		}
	}
	/* The page's results are final once committed. */
	return meta_gc_flush(gc->m);
}

static int
gc_sweep_manifests(struct gc *gc)
{
	uint64_t left = gc->ndead, progress;
	int rc;

	if ((rc = meta_gc_grace(gc->m, gc_grace_row, gc)) != 0)
		return rc;
	if (gc->ndead == 0)
		return 0;
	gc_progress_begin(&gc->prog, gc->opt->out, gc->opt->progress, "gc: manifests", gc->ndead, 0);
	/* Each pass removes what nothing references any more; an index goes
	 * in the pass before its children, a subject before its referrers.
	 * A pass lists the candidates that still exist, a page at a time. */
	do {
		char key[DIGEST_STR_MAX + 64] = "";
		int64_t id = 0;
		int more = 1;

		progress = 0;
		while (more && !gc_stopped(gc)) {
			size_t n = 0;

			if ((rc = gc_next_page(gc, GC_LIST_DEAD, &id, key, &more)) != 0 ||
			    (rc = gc_write(gc, gc_manifests_write, &n)) != 0)
				return rc;
			for (size_t i = 0; i < n; i++) {
				struct gc_item *it = &gc->items[i];
				char why[700];

				if (!it->removed)
					continue;
				progress++;
				if (left > 0)
					left--;
				gc_progress_item(&gc->prog);
				gc_mf_why(gc, it, why, sizeof(why));
				gc_report(gc, "manifest", it->name, it->size, it->repo, "%s", why);
				gc->st->manifests++;
			}
		}
		/* Dry, everything listed counts as removed in one pass. */
	} while (!gc->opt->dry_run && progress > 0 && left > 0 && !gc_stopped(gc));
	gc_page_reset(gc);
	if ((rc = meta_gc_flush(gc->m)) != 0)
		return rc;
	/* The rest was tagged, listed or pushed again meanwhile. */
	gc->st->kept += left;
	gc_progress_clear(&gc->prog);
	return 0;
}

/* A page the writer works on: the deletions tried (n), the cut-off of
 * the grace period and its text. */
struct gc_page {
	size_t n;
	int64_t before;
	const char *grace;
};

/* A page of unreferenced links deleted (on the writer). */
static int
gc_links_write(struct gc *gc, void *arg)
{
	struct gc_page *pg = arg;
	char age[32];
	int rc;

	for (pg->n = 0; pg->n < gc->nitems && !gc_stopped(gc); pg->n++) {
		struct gc_item *it = &gc->items[pg->n];

		if (it->time >= pg->before) {
			gc_age(gc->t0 - it->time, age, sizeof(age));
			gc_kept(gc, "link", it->name, it->size, it->repo, "no manifest in the "
			    "repository references it, %s since linked (grace %s)", age, pg->grace);
			gc->st->grace_links++;
			it->removed = -1;	/* reported */
			continue;
		}
		it->removed = 1;
		if (gc->opt->dry_run)
			rc = meta_gc_dry_link(gc->m, it->repo_id, it->name);
		else
			rc = meta_gc_link_delete(gc->m, it->repo_id, it->name, pg->before,
			    &it->removed);
		if (rc != 0) {
			gc->st->errors++;
			return rc;
		}
		gc_progress_bytes(&gc->prog, it->size);
		gc_progress_item(&gc->prog);
	}
	/* The page's results are final once committed. */
	return meta_gc_flush(gc->m);
}

static int
gc_sweep_links(struct gc *gc)
{
	int64_t before = gc->t0 - gc->cfg->gc_grace, id = 0;
	char grace[32], key[DIGEST_STR_MAX + 64] = "";
	struct gc_page pg = {.before = before, .grace = grace};
	int more = 1, rc;

	/* Every unreferenced link older than the run: the young ones are
	 * listed as kept by grace, the others go. */
	gc_duration(gc->cfg->gc_grace, grace, sizeof(grace));
	if ((rc = gc_items_progress(gc, GC_LIST_LINKS, "gc: blob links", before)) != 0)
		return rc;
	while (more && !gc_stopped(gc)) {
		if ((rc = gc_next_page(gc, GC_LIST_LINKS, &id, key, &more)) != 0 ||
		    (rc = gc_write(gc, gc_links_write, &pg)) != 0)
			return rc;
		for (size_t i = 0; i < pg.n; i++) {
			struct gc_item *it = &gc->items[i];

			if (it->removed < 0)
				continue;
			if (!it->removed) {
				gc->st->kept++;
				continue;
			}
			if (it->kind)
				gc_report(gc, "link", it->name, it->size, it->repo, "the bytes of a manifest "
				    "removed above");
			else
				gc_report(gc, "link", it->name, it->size, it->repo, "no manifest in the "
				    "repository references it, linked more than %s ago", grace);
			gc->st->links++;
		}
	}
	gc_page_reset(gc);
	if ((rc = meta_gc_flush(gc->m)) != 0)
		return rc;
	gc_progress_clear(&gc->prog);
	return 0;
}

/* Remove a blob file whose row is gone: trash it, then look again for a
 * row.  *freed gets the bytes removed (0 if there was no file); *restored
 * is set if a row reappeared and the file went back.  0 or an error. */
static int
gc_blob_file(struct gc *gc, const struct digest *d, uint64_t *freed, int *restored)
{
	char name[DIGEST_STR_MAX + 64];
	uint64_t size;
	int exists, rc;

	*freed = 0;
	*restored = 0;
	if ((rc = store_blob_trash(gc->s, d, name, sizeof(name), &size)) != 0)
		return rc == -ERR_BLOB_UNKNOWN ? 0 : rc;
	/* A push of the same content may have committed its row since our
	 * delete: then the file goes back (unless the pusher reinstalled it
	 * already).  A push that commits after this check finds the file
	 * missing and installs its own copy. */
	if ((rc = meta_gc_blob_exists(gc->m, d->str, &exists)) != 0) {
		/* Unsure: put it back, the next run decides. */
		store_trash_restore(gc->s, name, d);
		return rc;
	}
	if (exists) {
		gc->st->kept++;
		*restored = 1;
		return store_trash_restore(gc->s, name, d);
	}
	if ((rc = store_trash_remove(gc->s, name)) != 0)
		return rc;
	*freed = size;
	return 0;
}

/* A page of unlinked blob rows deleted (on the writer). */
static int
gc_blob_rows_write(struct gc *gc, void *arg)
{
	const struct gc_page *pg = arg;
	char age[32];
	int rc;

	for (size_t i = 0; i < gc->nitems && !gc_stopped(gc); i++) {
		struct gc_item *it = &gc->items[i];

		/* A blob row's age counts from when the content was first
		 * stored (a push of the same bytes again refreshes its link,
		 * not its row). */
		if (it->time >= pg->before) {
			gc_age(gc->t0 - it->time, age, sizeof(age));
			gc_kept(gc, "blob", it->name, it->size, "", "no repository holds it, %s since "
			    "stored (grace %s)", age, pg->grace);
			gc->st->grace_blobs++;
			continue;
		}
		it->removed = 1;
		if (!gc->opt->dry_run &&
		    (rc = meta_gc_blob_delete(gc->m, it->name, pg->before, &it->removed)) != 0) {
			gc->st->errors++;
			return rc;
		}
		it->kind = 1;		/* an old one: swept below */
	}
	/* The rows are gone for good before any file goes. */
	return meta_gc_flush(gc->m);
}

/* One page of unlinked blob rows: the rows first (a batch, committed),
 * then the files of those that went. */
static int
gc_sweep_blob_page(struct gc *gc, int64_t before, const char *grace)
{
	struct gc_page pg = {.before = before, .grace = grace};
	int rc;

	if ((rc = gc_write(gc, gc_blob_rows_write, &pg)) != 0)
		return rc;
	for (size_t i = 0; i < gc->nitems && !gc_stopped(gc); i++) {
		struct gc_item *it = &gc->items[i];
		struct digest d;
		uint64_t freed = 0;
		int restored = 0;

		if (!it->kind)
			continue;
		gc_progress_bytes(&gc->prog, it->size);
		gc_progress_item(&gc->prog);
		if (digest_parse(it->name, &d) != 0) {
			log_error("gc: blob row with a malformed digest '%s' left alone", it->name);
			gc->st->errors++;
			continue;
		}
		if (!gc->opt->dry_run) {
			if (!it->removed) {
				gc->st->kept++;
				continue;
			}
			if ((rc = gc_blob_file(gc, &d, &freed, &restored)) != 0) {
				log_error("gc: %s: could not remove its file (its row is gone; the next "
				    "run retries)", it->name);
				gc->st->errors++;
				continue;
			}
			if (restored)
				continue;	/* pushed again meanwhile */
		} else {
			freed = it->size;
		}
		gc_report(gc, "blob", it->name, it->size, "", "no repository holds it, unused for more "
		    "than %s%s", grace, !gc->opt->dry_run && freed == 0 ? " (its file was already "
		    "gone)" : "");
		gc->st->blobs++;
		gc->st->blob_bytes += freed;
	}
	return 0;
}

static int
gc_sweep_blobs(struct gc *gc)
{
	int64_t before = gc->t0 - gc->cfg->gc_grace, id = 0;
	char grace[32], key[DIGEST_STR_MAX + 64] = "";
	int more = 1, rc;

	gc_duration(gc->cfg->gc_grace, grace, sizeof(grace));
	if ((rc = gc_items_progress(gc, GC_LIST_BLOBS, "gc: blobs", before)) != 0)
		return rc;
	while (more && !gc_stopped(gc)) {
		if ((rc = gc_next_page(gc, GC_LIST_BLOBS, &id, key, &more)) != 0 ||
		    (rc = gc_sweep_blob_page(gc, before, grace)) != 0)
			return rc;
	}
	gc_page_reset(gc);
	gc_progress_clear(&gc->prog);
	return 0;
}

static int
gc_collect_file(void *arg, const struct store_file *f)
{
	struct gc *gc = arg;
	struct gc_item *it;

	/* Age: a rename into blobs/ or trash/ sets ctime (mtime stays the
	 * content's); a spool's age is its last write. */
	int64_t t = gc->use_mtime ? f->mtime : f->ctime;
	int exists, rc = 0;

	if (!f->regular || t >= gc->file_before)
		return 0;
	/* Strays: checked here, so only the few without a row are kept in
	 * memory (not a list of every blob file).  Anything not named like
	 * a blob is left for fsck to report. */
	if (gc->strays && (f->digest == NULL ||
	    (rc = meta_gc_blob_exists(gc->m, f->digest->str, &exists)) != 0 || exists))
		return rc;
	if (gc_grow((void **)&gc->items, &gc->capitems, gc->nitems, sizeof(*gc->items)) != 0)
		return -ERR_INTERNAL;
	it = &gc->items[gc->nitems];
	memset(it, 0, sizeof(*it));
	it->repo = "";
	if ((it->name = gc_str(gc, f->digest != NULL ? f->digest->str : f->name)) == NULL)
		return -ERR_INTERNAL;
	it->size = f->size;
	it->time = t;
	gc->nitems++;
	return 0;
}

/* Blob files no row names: a push that installed its file and then
 * failed.  Only old ones: an upload renames its file in before it commits
 * its row, so a young file without a row may be a push in flight. */
static int
gc_sweep_strays(struct gc *gc)
{
	int64_t age = gc->cfg->gc_grace > gc->cfg->upload_expiry ? gc->cfg->gc_grace :
	    gc->cfg->upload_expiry;
	char ages[32];
	int rc;

	gc->nitems = 0;
	gc->file_before = gc->t0 - age;
	gc->strays = 1;
	rc = store_each(gc->s, STORE_BLOBS, gc_collect_file, gc);
	gc->strays = 0;
	gc->file_before = gc->t0;
	if (rc != 0)
		return rc;
	gc_duration(age, ages, sizeof(ages));
	for (size_t i = 0; i < gc->nitems && !gc_stopped(gc); i++) {
		struct gc_item *it = &gc->items[i];
		struct digest d;
		uint64_t freed = it->size;
		int restored = 0;

		if (digest_parse(it->name, &d) != 0)
			continue;
		if (!gc->opt->dry_run && (rc = gc_blob_file(gc, &d, &freed, &restored)) != 0) {
			gc->st->errors++;
			continue;
		}
		if (!gc->opt->dry_run && (restored || freed == 0))
			continue;
		gc_report(gc, "blob", it->name, it->size, "", "a file without a blob row, older than %s "
		    "(a push that failed after storing it)", ages);
		gc->st->blobs++;
		gc->st->blob_bytes += freed;
	}
	return 0;
}

/* Trash left by a collection that stopped between its two checks. */
static int
gc_sweep_trash(struct gc *gc)
{
	int rc;

	if (gc->opt->dry_run)
		return 0;
	gc->nitems = 0;
	gc->file_before = gc->t0 - GC_TRASH_AGE;
	rc = store_each(gc->s, STORE_TRASH, gc_collect_file, gc);
	gc->file_before = gc->t0;
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < gc->nitems; i++) {
		struct gc_item *it = &gc->items[i];
		char ds[DIGEST_STR_MAX + 8];
		const char *dash = strchr(it->name, '-'), *dot;
		struct digest d;
		int exists;

		if (dash == NULL ||
		    (dot = strchr(dash, '.')) == NULL || (size_t)(dot - it->name) >= sizeof(ds))
			continue;
		memcpy(ds, it->name, (size_t)(dot - it->name));
		ds[dot - it->name] = '\0';
		ds[dash - it->name] = ':';
		if (digest_parse(ds, &d) != 0 || meta_gc_blob_exists(gc->m, d.str, &exists) != 0)
			continue;
		if (exists) {
			log_warn("gc: restoring %s from the trash of an interrupted collection", d.str);
			store_trash_restore(gc->s, it->name, &d);
		} else {
			store_trash_remove(gc->s, it->name);
		}
	}
	return 0;
}

static int
gc_sweep_uploads(struct gc *gc)
{
	int64_t before = gc->t0 - gc->cfg->upload_expiry;
	char expiry[32];
	size_t n;
	int rc;

	gc_duration(gc->cfg->upload_expiry, expiry, sizeof(expiry));
	gc->nitems = 0;
	if ((rc = meta_gc_uploads(gc->m, before, gc_collect_item, gc)) != 0)
		return rc;
	for (size_t i = 0; i < gc->nitems && !gc_stopped(gc); i++) {
		struct gc_item *it = &gc->items[i];
		int removed = 1;

		/* Row first: a request that finds no session answers 404,
		 * and only then the spool goes. */
		if (!gc->opt->dry_run) {
			if ((rc = meta_gc_upload_delete(gc->m, it->name, before, &removed)) != 0)
				return rc;
			if (!removed) {
				gc->st->kept++;
				continue;
			}
			store_upload_remove(gc->s, it->name);
		}
		gc_report(gc, "upload", it->name, it->size, it->repo, "upload session idle for more "
		    "than %s", expiry);
		gc->st->uploads++;
		gc->st->upload_bytes += it->size;
	}
	/* Files in uploads/ that no session owns: spools of sessions that
	 * are gone, temporary files of manifest PUTs that died. */
	n = gc->nitems;
	gc->use_mtime = 1;
	gc->file_before = before;
	rc = store_each(gc->s, STORE_UPLOADS, gc_collect_file, gc);
	gc->file_before = gc->t0;
	gc->use_mtime = 0;
	if (rc != 0)
		return rc;
	for (size_t i = n; i < gc->nitems && !gc_stopped(gc); i++) {
		struct gc_item *it = &gc->items[i];
		int exists = 0;

		/* (Dry, the spools of the sessions above still have their
		 * rows, so they are not counted twice.) */
		if (it->time >= before)
			continue;
		if ((rc = meta_gc_upload_exists(gc->m, it->name, &exists)) != 0)
			return rc;
		if (exists)
			continue;
		if (!gc->opt->dry_run && store_upload_remove(gc->s, it->name) != 0) {
			gc->st->errors++;
			continue;
		}
		gc_report(gc, "upload", it->name, it->size, "", "a file in uploads/ without a session, "
		    "older than %s", expiry);
		gc->st->uploads++;
		gc->st->upload_bytes += it->size;
	}
	return 0;
}

static void
gc_free(struct gc *gc)
{
	gc_chunks_free(&gc->chunks);
	gc_chunks_free(&gc->pchunks);
	free(gc->rules);
	free(gc->tags);
	free(gc->items);
}

/* The second a collection begins (t0): rows created at or after it are
 * spared.  Rows carry whole seconds (time()), and with a zero grace every
 * row written before the call must be older than t0.  If some row was
 * written in the current second, t0 = that second would spare it: then
 * sleep to the start of the next second (at most one) and begin there.  If
 * none was (meta_gc_newest: older than the current second; no scan), the
 * current second already puts every row written
 * before the call below t0, and the wait would buy nothing.  A row written
 * after the lookup is the collection's concurrent write either way.  m
 * NULL: wait without looking. */
static int64_t
gc_start_second(struct meta *m, int zero_grace)
{
	struct timespec now, pause;
	int64_t s, newest;

	if (!zero_grace)
		return (int64_t)time(NULL);
	/* time() is what rows are stamped with: read before the lookup, so
	 * that a row stamped with this second, or a later one, is seen. */
	s = (int64_t)time(NULL);
	if (m != NULL && meta_gc_newest(m, &newest) == 0 && newest < s) {
		log_debug("gc: no row written in the current second: the collection begins in it");
		return s;
	}
	log_debug("gc: rows written in the current second: the collection begins at the next");
	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		return (int64_t)time(NULL);
	pause.tv_sec = 0;
	pause.tv_nsec = 1000000000L - now.tv_nsec;
	while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
		;
	/* Past the boundary now; time() agrees with CLOCK_REALTIME. */
	while ((int64_t)time(NULL) <= (int64_t)now.tv_sec)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	return (int64_t)time(NULL);
}

int
gc_expire_uploads(const struct config *cfg, struct meta *m, struct store *s, int64_t now,
    struct gc_stats *st)
{
	struct gc_options opt = {0};
	struct gc gc;
	int rc;

	memset(st, 0, sizeof(*st));
	memset(&gc, 0, sizeof(gc));
	gc.cfg = cfg;
	gc.m = m;
	gc.s = s;
	gc.opt = &opt;
	gc.st = st;
	gc.t0 = now;
	gc.file_before = now;
	rc = gc_sweep_uploads(&gc);
	gc_free(&gc);
	return rc;
}

int
gc_run(const struct config *cfg, struct meta *m, struct store *s, const struct gc_options *opt,
    struct gc_stats *st)
{
	struct gc gc;
	char err[512];
	double t[6];
	int rc, zero, days0 = 0;

	memset(st, 0, sizeof(*st));
	memset(&gc, 0, sizeof(gc));
	gc.cfg = cfg;
	gc.m = m;
	gc.s = s;
	gc.opt = opt;
	gc.st = st;
	if (gc_rules_load(cfg, &gc.rules, &gc.nrules, err, sizeof(err)) != 0) {
		log_error("gc: %s", err);
		return -ERR_INTERNAL;
	}
	/* Anything created at or after t0 is live.  Times are whole
	 * seconds, so t0 is the second the collection began: a row of that
	 * second may be newer than the snapshot and is spared.  A zero grace
	 * must be exactly zero (a tag deleted and collected at once goes):
	 * everything written before `gc` was started must be older than t0
	 * (gc_start_second).  So must then a tag a keep_days = 0 rule looks
	 * at; tags.updated has no index: such a rule always takes the wait. */
	zero = cfg->gc_grace == 0 || cfg->gc_untagged_grace == 0;
	for (size_t i = 0; i < gc.nrules; i++)
		if (gc.rules[i].keep_days == 0)
			days0 = 1;
	gc.t0 = gc_start_second(zero && days0 ? NULL : m, zero);
	log_debug("gc: the deletions run at nice %d, the rest at nice %d",
	    opt->writer != NULL ? opt->writer->nice : getpriority(PRIO_PROCESS, 0),
	    getpriority(PRIO_PROCESS, 0));
	gc.file_before = gc.t0;
	t[0] = gc_now_mono();
	if ((rc = meta_gc_reset(m)) != 0)
		goto out;
	if (opt->out != NULL && opt->dry_run)
		fprintf(opt->out, "gc: dry run, nothing is changed; this is what would be removed:\n");
	if ((rc = gc_mark(&gc)) != 0) {
		/* A stop request ends the mark early: nothing was changed. */
		if (st->interrupted)
			rc = 0;
		goto out;
	}
	t[1] = gc_now_mono();
	if ((rc = gc_sweep_tags(&gc)) != 0)
		goto out;
	t[2] = gc_now_mono();
	if ((rc = gc_sweep_manifests(&gc)) != 0)
		goto out;
	t[3] = gc_now_mono();
	if ((rc = gc_sweep_links(&gc)) != 0)
		goto out;
	t[4] = gc_now_mono();
	if ((rc = gc_sweep_blobs(&gc)) != 0)
		goto out;
	t[5] = gc_now_mono();
	if ((rc = gc_sweep_strays(&gc)) != 0 || (rc = gc_sweep_trash(&gc)) != 0 ||
	    (rc = gc_sweep_uploads(&gc)) != 0)
		goto out;
	/* Where the time went (scripts/bench-scale reads this line). */
	log_debug("gc: steps: mark %.3f s, tags %.3f s, manifests %.3f s, links %.3f s, "
	    "blobs %.3f s, files and uploads %.3f s", t[1] - t[0], t[2] - t[1], t[3] - t[2],
	    t[4] - t[3], t[5] - t[4], gc_now_mono() - t[5]);
out:
	/* Leave no transaction open on the connection: a backend may batch
	 * the sweep's deletions (meta_sqlite.c) until its next call. */
	meta_gc_read_end(m);
	/* Then let another node's collector in (postgres: the advisory lock). */
	meta_gc_end(m);
	gc_progress_clear(&gc.prog);
	if (rc != 0)
		log_error("gc: stopped: %s", errors_message((enum reg_error)-rc));
	gc_free(&gc);
	return rc;
}

void
gc_summary(FILE *f, const struct gc_stats *st, int dry_run, double seconds)
{
	char bb[32], ub[32], tb[32], line[1024];
	uint64_t total = st->blob_bytes + st->upload_bytes;

	gc_size(st->blob_bytes, bb, sizeof(bb));
	gc_size(st->upload_bytes, ub, sizeof(ub));
	gc_size(total, tb, sizeof(tb));
	snprintf(line, sizeof(line), "gc: %s %llu tag%s, %llu manifest%s, %llu blob link%s, "
	    "%llu blob%s (%s), %llu upload%s (%s): %llu bytes (%s) %s in %.1f s%s%s",
	    dry_run ? "would remove" : "removed",
	    (unsigned long long)st->tags, st->tags == 1 ? "" : "s",
	    (unsigned long long)st->manifests, st->manifests == 1 ? "" : "s",
	    (unsigned long long)st->links, st->links == 1 ? "" : "s",
	    (unsigned long long)st->blobs, st->blobs == 1 ? "" : "s", bb,
	    (unsigned long long)st->uploads, st->uploads == 1 ? "" : "s", ub,
	    (unsigned long long)total, tb, dry_run ? "would be freed" : "freed", seconds,
	    st->kept ? "; candidates used again meanwhile, kept: " : "",
	    st->interrupted ? " (interrupted)" : "");
	if (st->kept) {
		size_t n = strlen(line);

		snprintf(line + n, sizeof(line) - n, "%llu", (unsigned long long)st->kept);
	}
	if (st->grace_manifests + st->grace_links + st->grace_blobs > 0) {
		size_t n = strlen(line);

		/* Why a run freed less than expected (the items are listed
		 * with "kept:" and their age). */
		snprintf(line + n, sizeof(line) - n, "; kept by grace: %llu manifest%s, %llu blob "
		    "link%s, %llu blob%s", (unsigned long long)st->grace_manifests,
		    st->grace_manifests == 1 ? "" : "s", (unsigned long long)st->grace_links,
		    st->grace_links == 1 ? "" : "s", (unsigned long long)st->grace_blobs,
		    st->grace_blobs == 1 ? "" : "s");
	}
	if (st->errors) {
		size_t n = strlen(line);

		snprintf(line + n, sizeof(line) - n, "; %llu error%s (see the log)",
		    (unsigned long long)st->errors, st->errors == 1 ? "" : "s");
	}
	if (f != NULL)
		fprintf(f, "%s\n", line);
	else
		log_info("%s", line);
}

/* A collection is background work: on a busy machine it yields the CPU
 * to the requests it runs beside (with 2 cores, the GETs' p99 during a
 * collection was 7x their p99 without) rather than compete with them.  On
 * Linux the nice value is the calling thread's, so the daemon's runner
 * lowers only itself.  Failing to is no reason not to collect. */
static void
gc_yield_cpu(void)
{
	int cur;

	errno = 0;
	cur = getpriority(PRIO_PROCESS, 0);
	if (errno != 0 || cur >= 19)
		return;
	if (setpriority(PRIO_PROCESS, 0, cur + GC_NICE > 19 ? 19 : cur + GC_NICE) != 0)
		log_debug("gc: cannot lower the collector's priority: %s", strerror(errno));
}

int
gc_command(const struct config *cfg, int dry_run)
{
	struct gc_options opt = {.dry_run = dry_run, .out = stdout};
	struct gc_stats st;
	struct store *s;
	struct meta *m;
	double t;
	int rc;

	opt.progress = isatty(STDOUT_FILENO);
	/* The writer keeps the priority this thread had (see "the writer"). */
	opt.writer = gc_writer_start();
	gc_yield_cpu();
	if ((s = store_open_cfg(cfg, cfg->root, cfg->sync)) == NULL) {
		gc_writer_stop(opt.writer);
		return -1;
	}
	if ((m = meta_open(cfg)) == NULL) {
		store_close(s);
		gc_writer_stop(opt.writer);
		return -1;
	}
	t = gc_now_mono();
	rc = gc_run(cfg, m, s, &opt, &st);
	if (rc == 0)
		gc_summary(stdout, &st, dry_run, gc_now_mono() - t);
	fflush(stdout);
	meta_close(m);
	store_close(s);
	gc_writer_stop(opt.writer);
	return rc == 0 ? 0 : -1;
}

/* ---- the daemon's runner ---- */

/* The runner's last run: written by its thread, read by scrapes on the
 * workers' threads.  Process-wide rather than the runner's, so that the
 * numbers survive a runner restarted by a reload. */
static pthread_mutex_t gc_last_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gc_last gc_last_value;

static double
gc_now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
gc_stats_add(struct gc_stats *t, const struct gc_stats *s)
{
	t->tags += s->tags;
	t->manifests += s->manifests;
	t->links += s->links;
	t->blobs += s->blobs;
	t->blob_bytes += s->blob_bytes;
	t->uploads += s->uploads;
	t->upload_bytes += s->upload_bytes;
	t->kept += s->kept;
	t->grace_manifests += s->grace_manifests;
	t->grace_links += s->grace_links;
	t->grace_blobs += s->grace_blobs;
	t->errors += s->errors;
}

void
gc_last_run(struct gc_last *out)
{
	pthread_mutex_lock(&gc_last_mu);
	*out = gc_last_value;
	pthread_mutex_unlock(&gc_last_mu);
}

struct gc_runner {
	const struct config *cfg;
	struct store *store;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;			/* under mu; read atomically by gc_run */
};

static void *
gc_runner_main(void *arg)
{
	struct gc_runner *r = arg;
	struct gc_options opt = {.stop = &r->stop};
	struct meta *m = NULL;

	opt.writer = gc_writer_start();
	gc_yield_cpu();
	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct timespec deadline;
		struct gc_stats st;
		double t;

		/* A timed wait, so that a stop request does not wait for the
		 * interval to run out. */
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += r->cfg->gc_interval;
		while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &deadline) != ETIMEDOUT)
			;
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->mu);
		if (m == NULL && (m = meta_open(r->cfg)) == NULL)
			log_error("gc: cannot open the metadata; trying again in %d s", r->cfg->gc_interval);
		if (m != NULL) {
			double wall = gc_now_wall();

			t = gc_now_mono();
			log_debug("gc: collecting");
			if (gc_run(r->cfg, m, r->store, &opt, &st) == 0) {
				double secs = gc_now_mono() - t;

				gc_summary(NULL, &st, 0, secs);
				pthread_mutex_lock(&gc_last_mu);
				gc_last_value.runs++;
				gc_last_value.start = wall;
				gc_last_value.end = gc_now_wall();
				gc_last_value.seconds = secs;
				gc_last_value.st = st;
				gc_stats_add(&gc_last_value.total, &st);
				pthread_mutex_unlock(&gc_last_mu);
			}
		}
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	meta_close(m);
	gc_writer_stop(opt.writer);
	return NULL;
}

struct gc_runner *
gc_runner_start(const struct config *cfg, struct store *s, int *failed)
{
	struct gc_runner *r;
	pthread_condattr_t ca;
	char every[32];

	*failed = 0;
	if (cfg->gc_interval <= 0)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		*failed = 1;
		return NULL;
	}
	r->cfg = cfg;
	r->store = s;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&r->thread, NULL, gc_runner_main, r) != 0) {
		log_error("gc: cannot start the collector thread: %s", strerror(errno));
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		*failed = 1;
		return NULL;
	}
	gc_duration(cfg->gc_interval, every, sizeof(every));
	log_info("gc: collecting every %s", every);
	return r;
}

void
gc_runner_stop(struct gc_runner *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
