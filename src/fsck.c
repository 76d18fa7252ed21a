/* SPDX-License-Identifier: ISC
 * fsck.c — integrity check of the storage (`ociregd fsck [--repair]`).
 *
 * Four passes, each printing one line per problem ("KIND DIGEST PATH:
 * what is wrong"):
 *  1. every blob row: its file exists, has the row's size, and its content
 *     hashes to its name (distribution-spec "Content Digests": a registry
 *     must not serve bytes under a digest they do not match);
 *  2. every file under blobs/: it is named like a blob and has a row;
 *  3. every manifest: its own bytes, the blobs it lists and, for an index,
 *     its children are in its repository (and not among the bad blobs of
 *     pass 1).  Non-distributable ("foreign") layers need not be, so a
 *     missing blob is looked up in the manifest itself before it counts;
 *     with [storage] sparse on, no missing blob or child counts.
 *
 * --repair acts on what pass 1 finds and nothing else: the rows of a
 * corrupt blob (and every repository's link to it) are dropped first, then
 * its file moves to <root>/quarantine/ for a human to look at; a row whose
 * file is missing is dropped.  Clients then get 404 instead of wrong bytes,
 * and a push of the same content heals it.  Strays are only reported: on a
 * running registry a young one is a push in flight, and gc removes the old
 * ones.  The check reads a consistent registry best when idle, but it
 * re-checks a finding (row still there?) before reporting it, so the
 * daemon may run.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "digest.h"
#include "errors.h"
#include "fsck.h"
#include "gc.h"
#include "log.h"
#include "meta.h"
#include "oci.h"
#include "store.h"

#define FSCK_BUF (1u << 20)

struct fsck_blob {
	char *digest;
	uint64_t size;
};

/* A blob found bad in pass 1, for pass 3's messages. */
struct fsck_bad {
	char digest[DIGEST_STR_MAX];
	const char *what;		/* "corrupt", "missing its file" */
};

struct fsck_ref {
	int64_t repo_id;
	char *repo;
	char *manifest;
	char *ref;
	int kind;			/* 0 blob, 1 child, 2 own bytes */
	int present;
};

struct fsck {
	const struct config *cfg;
	struct meta *m;
	struct store *s;
	const struct fsck_options *opt;
	struct fsck_stats *st;
	struct gc_progress prog;
	struct fsck_blob *blobs;
	size_t nblobs, capblobs;
	struct fsck_bad *bad;
	size_t nbad, capbad;
	struct fsck_ref *refs;
	size_t nrefs, caprefs;
	char *buf;
};

static void fsck_report(struct fsck *f, const char *kind, const char *digest, const char *where,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
fsck_report(struct fsck *f, const char *kind, const char *digest, const char *where,
    const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (f->opt->out == NULL) {
		log_warn("fsck: %s %s %s: %s", kind, digest, where, what);
		return;
	}
	gc_progress_clear(&f->prog);
	fprintf(f->opt->out, "%-8s %s %s: %s\n", kind, digest, where, what);
}

static int
fsck_collect_blob(void *arg, const struct meta_gc_row *row)
{
	struct fsck *f = arg;
	struct fsck_blob *b;

	if (gc_grow((void **)&f->blobs, &f->capblobs, f->nblobs, sizeof(*f->blobs)) != 0)
		return -ERR_INTERNAL;
	b = &f->blobs[f->nblobs];
	if ((b->digest = strdup(row->digest)) == NULL)
		return -ERR_INTERNAL;
	b->size = row->size;
	f->nblobs++;
	return 0;
}

static int
fsck_add_bad(struct fsck *f, const char *digest, const char *what)
{
	struct fsck_bad *b;

	if (gc_grow((void **)&f->bad, &f->capbad, f->nbad, sizeof(*f->bad)) != 0)
		return -ERR_INTERNAL;
	b = &f->bad[f->nbad++];
	snprintf(b->digest, sizeof(b->digest), "%s", digest);
	b->what = what;
	return 0;
}

static const struct fsck_bad *
fsck_find_bad(const struct fsck *f, const char *digest)
{
	/* Pass 1 goes in digest order: bad[] is sorted. */
	size_t lo = 0, hi = f->nbad;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(f->bad[mid].digest, digest);

		if (c == 0)
			return &f->bad[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Whether pass 1 listed a row for digest (f->blobs is in digest order). */
static int
fsck_find_row(const struct fsck *f, const char *digest)
{
	size_t lo = 0, hi = f->nblobs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(f->blobs[mid].digest, digest);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Hash a blob file; *got gets the digest of its content, *size its size.
 * 0, -ERR_BLOB_UNKNOWN (no file) or an I/O error. */
static int
fsck_hash(struct fsck *f, const struct digest *d, struct digest *got, uint64_t *size)
{
	struct store_reader r;
	struct hasher *h;
	size_t n;
	int rc;

	if ((rc = store_blob_reader(f->s, d, &r)) != 0)
		return rc;
	*size = 0;
	if ((h = hasher_new(d->alg)) == NULL) {
		store_reader_close(&r);
		return -ERR_INTERNAL;
	}
	for (;;) {
		if ((rc = store_reader_read(&r, *size, f->buf, FSCK_BUF, &n)) != 0) {
			log_error("fsck: read %s: %s", d->str, errors_message((enum reg_error)-rc));
			break;
		}
		if (n == 0)
			break;
		hasher_update(h, f->buf, n);
		*size += (uint64_t)n;
		gc_progress_bytes(&f->prog, (uint64_t)n);
	}
	store_reader_close(&r);
	if (rc == 0 && hasher_final(h, got) != 0)
		rc = -ERR_INTERNAL;
	hasher_free(h);
	return rc;
}

/* Pass 1: every blob row against its file. */
static int
fsck_blobs(struct fsck *f)
{
	uint64_t total = 0;
	int rc;

	if ((rc = meta_fsck_blobs(f->m, fsck_collect_blob, f)) != 0)
		return rc;
	for (size_t i = 0; i < f->nblobs; i++)
		total += f->blobs[i].size;
	gc_progress_begin(&f->prog, f->opt->out, f->opt->progress, "fsck: blobs", f->nblobs, total);
	for (size_t i = 0; i < f->nblobs; i++) {
		struct fsck_blob *b = &f->blobs[i];
		char path[PATH_MAX + 256], dest[PATH_MAX + 256], sz[32];
		struct digest d, got;
		uint64_t size;
		int exists, links;

		f->st->blobs++;
		if (digest_parse(b->digest, &d) != 0) {
			fsck_report(f, "row", b->digest, "-", "a blob row whose digest is malformed");
			f->st->errors++;
			gc_progress_item(&f->prog);
			continue;
		}
		store_blob_file(f->s, &d, path, sizeof(path));
		rc = fsck_hash(f, &d, &got, &size);
		gc_progress_item(&f->prog);
		f->st->bytes += rc == 0 ? size : 0;
		if (rc == -ERR_BLOB_UNKNOWN) {
			/* Garbage collection drops the row before the file:
			 * a row still there now is a real problem. */
			if (meta_gc_blob_exists(f->m, b->digest, &exists) != 0 || !exists)
				continue;
			f->st->missing++;
			gc_size(b->size, sz, sizeof(sz));
			if (fsck_add_bad(f, b->digest, "missing its file") != 0)
				return -ERR_INTERNAL;
			if (f->opt->repair && meta_fsck_drop_blob(f->m, b->digest, &links) == 0) {
				f->st->repaired++;
				fsck_report(f, "missing", b->digest, path, "a blob row (%s) without its file; "
				    "repaired: dropped the row and %d repository link%s", sz, links,
				    links == 1 ? "" : "s");
			} else {
				fsck_report(f, "missing", b->digest, path, "a blob row (%s) without its file",
				    sz);
			}
			continue;
		}
		if (rc != 0) {
			fsck_report(f, "error", b->digest, path, "cannot read: %s",
			    errors_message((enum reg_error)-rc));
			f->st->errors++;
			continue;
		}
		if (strcmp(got.str, b->digest) != 0) {
			f->st->corrupt++;
			if (fsck_add_bad(f, b->digest, "corrupt") != 0)
				return -ERR_INTERNAL;
			if (!f->opt->repair) {
				fsck_report(f, "corrupt", b->digest, path, "the content hashes to %s "
				    "(%llu bytes)", got.str, (unsigned long long)size);
				continue;
			}
			/* Rows first: from then on clients get 404, never
			 * these bytes; then the file goes aside. */
			if ((rc = meta_fsck_drop_blob(f->m, b->digest, &links)) != 0 ||
			    (rc = store_blob_quarantine(f->s, &d, dest, sizeof(dest))) != 0) {
				fsck_report(f, "corrupt", b->digest, path, "the content hashes to %s; repair "
				    "failed: %s", got.str, errors_message((enum reg_error)-rc));
				f->st->errors++;
				continue;
			}
			f->st->repaired++;
			fsck_report(f, "corrupt", b->digest, path, "the content hashes to %s; repaired: "
			    "moved to %s, dropped the row and %d repository link%s", got.str, dest, links,
			    links == 1 ? "" : "s");
			continue;
		}
		if (size != b->size) {
			f->st->size++;
			fsck_report(f, "size", b->digest, path, "the file has %llu bytes, its row says %llu "
			    "(content is right; not repaired)", (unsigned long long)size,
			    (unsigned long long)b->size);
		}
	}
	gc_progress_clear(&f->prog);
	return 0;
}

/* Pass 2: files under blobs/ that are not blobs of a row. */
static int
fsck_stray(void *arg, const struct store_file *sf)
{
	struct fsck *f = arg;
	int exists;

	if (sf->digest == NULL) {
		f->st->strays++;
		fsck_report(f, "stray", "-", sf->path, "%s under blobs/ that is not named like a blob",
		    sf->regular ? "a file" : "an entry");
		return 0;
	}
	/* The rows of pass 1 (in digest order) answer for almost every
	 * file; only a file they lack costs a query (a row since added?). */
	if (fsck_find_row(f, sf->digest->str))
		return 0;
	if (meta_gc_blob_exists(f->m, sf->digest->str, &exists) != 0) {
		f->st->errors++;
		return 0;
	}
	if (!exists && fsck_find_bad(f, sf->digest->str) == NULL) {
		f->st->strays++;
		fsck_report(f, "stray", sf->digest->str, sf->path, "a blob file without a row (%llu bytes; "
		    "gc removes such files once older than grace and upload_expiry)",
		    (unsigned long long)sf->size);
	}
	return 0;
}

static int
fsck_collect_ref(void *arg, const struct meta_gc_row *row)
{
	struct fsck *f = arg;
	struct fsck_ref *r;

	/* Only what may be a problem: missing, or a bad blob of pass 1. */
	if (row->size != 0 && fsck_find_bad(f, row->aux) == NULL)
		return 0;
	if (gc_grow((void **)&f->refs, &f->caprefs, f->nrefs, sizeof(*f->refs)) != 0)
		return -ERR_INTERNAL;
	r = &f->refs[f->nrefs];
	memset(r, 0, sizeof(*r));
	r->repo_id = row->repo_id;
	r->kind = row->kind;
	r->present = row->size != 0;
	if ((r->repo = strdup(row->repo)) == NULL || (r->manifest = strdup(row->digest)) == NULL ||
	    (r->ref = strdup(row->aux)) == NULL) {
		free(r->repo);
		free(r->manifest);
		return -ERR_INTERNAL;
	}
	f->nrefs++;
	return 0;
}

/* Whether manifest (of repo) lists ref as a non-distributable layer. */
static int
fsck_foreign(struct fsck *f, const char *repo, const char *manifest, const char *ref)
{
	struct meta_manifest mf;
	struct oci_manifest om;
	struct digest d;
	char *body, err[256];
	size_t len;
	int foreign = 0;

	if (meta_manifest_get(f->m, repo, manifest, &mf) != 0 || digest_parse(manifest, &d) != 0 ||
	    store_blob_read(f->s, &d, (size_t)f->cfg->max_manifest_size, &body, &len) != 0)
		return 0;
	if (oci_manifest_parse(body, len, mf.media_type, &om, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < om.nrefs; i++)
			if (om.refs[i].foreign && strcmp(om.refs[i].digest.str, ref) == 0)
				foreign = 1;
		oci_manifest_free(&om);
	}
	free(body);
	return foreign;
}

/* Pass 3: manifests whose references are missing or bad. */
static int
fsck_manifests(struct fsck *f)
{
	int rc;

	if ((rc = meta_fsck_refs(f->m, fsck_collect_ref, f)) != 0)
		return rc;
	for (size_t i = 0; i < f->nrefs; i++) {
		struct fsck_ref *r = &f->refs[i];
		const struct fsck_bad *bad = fsck_find_bad(f, r->ref);
		char why[512];

		if (!r->present && r->kind == 0 && fsck_foreign(f, r->repo, r->manifest, r->ref))
			continue;
		/* [storage] sparse: a manifest may list blobs or children the
		 * repository never held; that is what the setting allows, not
		 * damage.  Its own bytes, and content that is there but
		 * corrupt or without its file, are still problems. */
		if (f->cfg->sparse && !r->present && r->kind != 2 && bad == NULL)
			continue;
		if (r->kind == 2)
			snprintf(why, sizeof(why), "its own bytes are %s", !r->present ?
			    "not a blob of the repository" : bad->what);
		else
			snprintf(why, sizeof(why), "lists %s %s, which %s", r->kind == 1 ? "child manifest" :
			    "blob", r->ref, !r->present ? "is not in the repository" : bad->what[0] == 'c' ?
			    "is corrupt" : "is missing its file");
		if (!r->present && bad != NULL) {
			size_t n = strlen(why);

			snprintf(why + n, sizeof(why) - n, " (%s, dropped by --repair)", bad->what);
		}
		f->st->manifests++;
		fsck_report(f, "manifest", r->manifest, r->repo, "%s", why);
	}
	return 0;
}

static double
fsck_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
fsck_run(const struct config *cfg, struct meta *m, struct store *s, const struct fsck_options *opt,
    struct fsck_stats *st)
{
	struct fsck f;
	double t[3];
	int rc;

	memset(st, 0, sizeof(*st));
	memset(&f, 0, sizeof(f));
	f.cfg = cfg;
	f.m = m;
	f.s = s;
	f.opt = opt;
	f.st = st;
	if ((f.buf = malloc(FSCK_BUF)) == NULL)
		return -ERR_INTERNAL;
	t[0] = fsck_now();
	if ((rc = fsck_blobs(&f)) != 0 || (t[1] = fsck_now(), 0) ||
	    (rc = store_each(s, STORE_BLOBS, fsck_stray, &f)) != 0 || (t[2] = fsck_now(), 0) ||
	    (rc = fsck_manifests(&f)) != 0)
		log_error("fsck: stopped: %s", errors_message((enum reg_error)-rc));
	else
		log_debug("fsck: passes: blobs %.3f s, files %.3f s, manifests %.3f s", t[1] - t[0],
		    t[2] - t[1], fsck_now() - t[2]);
	gc_progress_clear(&f.prog);
	for (size_t i = 0; i < f.nblobs; i++)
		free(f.blobs[i].digest);
	for (size_t i = 0; i < f.nrefs; i++) {
		free(f.refs[i].repo);
		free(f.refs[i].manifest);
		free(f.refs[i].ref);
	}
	free(f.blobs);
	free(f.bad);
	free(f.refs);
	free(f.buf);
	return rc;
}

int
fsck_command(const struct config *cfg, int repair)
{
	struct fsck_options opt = {.repair = repair, .out = stdout};
	struct fsck_stats st;
	struct timespec t0, t1;
	struct store *s;
	struct meta *m;
	int rc;

	opt.progress = isatty(STDOUT_FILENO);
	if ((s = store_open_cfg(cfg, cfg->root, cfg->sync)) == NULL)
		return -1;
	if ((m = meta_open(cfg)) == NULL) {
		store_close(s);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = fsck_run(cfg, m, s, &opt, &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fsck_summary(stdout, &st, repair, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	fflush(stdout);
	meta_close(m);
	store_close(s);
	if (rc != 0 || st.errors > 0)
		return -1;
	return fsck_problems(&st) > 0 ? 1 : 0;
}

uint64_t
fsck_problems(const struct fsck_stats *st)
{
	return st->corrupt + st->missing + st->size + st->strays + st->manifests;
}

void
fsck_summary(FILE *f, const struct fsck_stats *st, int repair, double seconds)
{
	char b[32];
	uint64_t n = fsck_problems(st);

	gc_size(st->bytes, b, sizeof(b));
	fprintf(f, "fsck: %llu blob%s (%s) checked in %.1f s: ", (unsigned long long)st->blobs,
	    st->blobs == 1 ? "" : "s", b, seconds);
	if (n == 0 && st->errors == 0) {
		fprintf(f, "no problems\n");
		return;
	}
	fprintf(f, "%llu problem%s (%llu corrupt, %llu missing, %llu wrong size, %llu stray, "
	    "%llu manifest reference%s)", (unsigned long long)n, n == 1 ? "" : "s",
	    (unsigned long long)st->corrupt, (unsigned long long)st->missing,
	    (unsigned long long)st->size, (unsigned long long)st->strays,
	    (unsigned long long)st->manifests, st->manifests == 1 ? "" : "s");
	if (repair)
		fprintf(f, ", %llu repaired", (unsigned long long)st->repaired);
	else if (st->corrupt + st->missing > 0)
		fprintf(f, "; --repair drops corrupt and missing blobs");
	if (st->errors)
		fprintf(f, "; %llu error%s", (unsigned long long)st->errors, st->errors == 1 ? "" : "s");
	fprintf(f, "\n");
}
