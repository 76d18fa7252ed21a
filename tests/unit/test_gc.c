/* SPDX-License-Identifier: ISC
 * test_gc.c — garbage collection and retention against a fresh mkdtemp
 * root (meta_open + store_open): a constructed registry with tagged and
 * untagged (old and young) manifests, index children, referrers whose
 * subject is alive or dead, and layers shared between repositories; gc
 * removes exactly the unreachable manifests, links and blobs; a dry run
 * removes nothing and predicts the real run; retention keep_last,
 * keep_tags, keep_days and the most specific pattern; upload expiry;
 * the trash protocol of the store.  Ages are set by editing the
 * created/updated columns through a second SQLite connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "digest.h"
#include "errors.h"
#include "gc.h"
#include "log.h"
#include "meta.h"
#include "store.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define DAY 86400
#define ID1 "123e4567-e89b-42d3-a456-426614174001"
#define ID2 "123e4567-e89b-42d3-a456-426614174002"

struct fixture {
	char dir[64];
	struct meta *m;
	struct store *s;
	sqlite3 *db;
	struct config cfg;
	char out[16384];		/* the last run's item lines */
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
load_cfg(struct fixture *f, const char *extra)
{
	char text[4096], err[512];

	config_free(&f->cfg);
	snprintf(text, sizeof(text), "[storage]\nroot = %s\nsync = false\n%s", f->dir, extra);
	if (config_load_string("test.ini", text, &f->cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	if (gc_config_check(&f->cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[PATH_MAX];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_gc.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	load_cfg(f, "[gc]\nuntagged = delete\n");
	if ((f->s = store_open(f->dir, 0)) == NULL || (f->m = meta_open(&f->cfg)) == NULL ||
	    sqlite3_open(path, &f->db) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(f->db, 5000);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	sqlite3_close(f->db);
	meta_close(f->m);
	store_close(f->s);
	config_free(&f->cfg);
	rc = nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

static void sql(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sql(struct fixture *f, const char *fmt, ...)
{
	char q[2048], *err = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	if (sqlite3_exec(f->db, q, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", q, err);
}

static long long
count(struct fixture *f, const char *q)
{
	sqlite3_stmt *st;
	long long n = -1;

	assert_int_equal(sqlite3_prepare_v2(f->db, q, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static long long
now(void)
{
	return (long long)time(NULL);
}

/* A blob with this content, linked into repo. */
static struct digest
put_blob(struct fixture *f, const char *repo, const char *content)
{
	struct digest d;

	assert_int_equal(digest_buffer(DIGEST_SHA256, content, strlen(content), &d), 0);
	assert_int_equal(store_blob_put(f->s, &d, content, strlen(content)), 0);
	assert_int_equal(meta_blob_link(f->m, repo, d.str, strlen(content)), 0);
	return d;
}

/* A manifest (an index if children) listing refs, with an optional tag
 * and subject; its bytes are a unique stand-in (gc never parses them). */
static struct digest
put_manifest(struct fixture *f, const char *repo, const char *tag, const char *subject,
    int children, const struct digest *refs, size_t nrefs)
{
	static unsigned nonce;
	struct meta_ref r[8];
	struct meta_manifest mf;
	struct digest d;
	char body[2048];
	size_t len;

	assert_true(nrefs <= 8);
	len = (size_t)snprintf(body, sizeof(body), "{\"nonce\":%u,\"refs\":[", nonce++);
	for (size_t i = 0; i < nrefs; i++) {
		len += (size_t)snprintf(body + len, sizeof(body) - len, "%s\"%s\"", i ? "," : "",
		    refs[i].str);
		r[i].digest = refs[i].str;
		r[i].is_manifest = children;
		r[i].skip_check = 0;
	}
	len += (size_t)snprintf(body + len, sizeof(body) - len, "]}");
	assert_int_equal(digest_buffer(DIGEST_SHA256, body, len, &d), 0);
	assert_int_equal(store_blob_put(f->s, &d, body, len), 0);
	memset(&mf, 0, sizeof(mf));
	snprintf(mf.digest, sizeof(mf.digest), "%s", d.str);
	snprintf(mf.media_type, sizeof(mf.media_type), "%s", children ? MT_INDEX : MT_MANIFEST);
	snprintf(mf.subject, sizeof(mf.subject), "%s", subject ? subject : "");
	mf.size = len;
	assert_int_equal(meta_manifest_put(f->m, repo, &mf, r, nrefs, tag), 0);
	return d;
}

/* Point tag at an existing manifest (pushed again with the tag). */
static void
tag_manifest(struct fixture *f, const char *repo, const char *tag, const struct digest *d)
{
	struct meta_manifest mf;

	assert_int_equal(meta_manifest_get(f->m, repo, d->str, &mf), 0);
	assert_int_equal(meta_manifest_put(f->m, repo, &mf, NULL, 0, tag), 0);
}

/* Make everything `age` seconds old. */
static void
age_all(struct fixture *f, long long age)
{
	sql(f, "UPDATE manifests SET created = %lld; UPDATE repo_blobs SET created = %lld; "
	    "UPDATE blobs SET created = %lld; UPDATE tags SET updated = %lld; "
	    "UPDATE uploads SET created = %lld, updated = %lld", now() - age, now() - age, now() - age,
	    now() - age, now() - age, now() - age);
}

static void
age_manifest(struct fixture *f, const struct digest *d, long long age)
{
	sql(f, "UPDATE manifests SET created = %lld WHERE digest = '%s'", now() - age, d->str);
}

static void
age_tag(struct fixture *f, const char *tag, long long age)
{
	sql(f, "UPDATE tags SET updated = %lld WHERE name = '%s'", now() - age, tag);
}

static void
age_blob(struct fixture *f, const struct digest *d, long long age)
{
	sql(f, "UPDATE repo_blobs SET created = %lld WHERE digest = '%s'; "
	    "UPDATE blobs SET created = %lld WHERE digest = '%s'", now() - age, d->str, now() - age,
	    d->str);
}

static int
has_manifest(struct fixture *f, const char *repo, const struct digest *d)
{
	struct meta_manifest mf;

	return meta_manifest_get(f->m, repo, d->str, &mf) == 0;
}

static int
has_link(struct fixture *f, const char *repo, const struct digest *d)
{
	uint64_t size;

	return meta_blob_get(f->m, repo, d->str, &size) == 0;
}

static int
has_file(struct fixture *f, const struct digest *d)
{
	uint64_t size;

	return store_blob_stat(f->s, d, &size) == 0;
}

static int
has_tag(struct fixture *f, const char *repo, const char *tag)
{
	struct meta_manifest mf;

	return meta_tag_get(f->m, repo, tag, &mf) == 0;
}

static void
run(struct fixture *f, int dry, struct gc_stats *st)
{
	struct gc_options opt = {.dry_run = dry};
	FILE *out = fmemopen(f->out, sizeof(f->out) - 1, "w");

	assert_non_null(out);
	memset(f->out, 0, sizeof(f->out));
	opt.out = out;
	assert_int_equal(gc_run(&f->cfg, f->m, f->s, &opt, st), 0);
	fclose(out);
	assert_int_equal(st->errors, 0);
}

static void
assert_out_has(struct fixture *f, const char *needle)
{
	if (strstr(f->out, needle) == NULL)
		fail_msg("gc output lacks \"%s\":\n%s", needle, f->out);
}

/* The constructed registry. */
struct reg {
	struct digest c1, l1, l2, l3, l4, l5, x, y, c1b;
	struct digest m1, m2, m3, i1, k1, k2, i2, k3, r1, r2, r3, m4, m5;
};

static void
build(struct fixture *f, struct reg *g)
{
	struct digest v[3];

	/* Repository a. */
	g->c1 = put_blob(f, "a", "config 1");
	g->l1 = put_blob(f, "a", "layer 1 (shared with b)");
	g->l2 = put_blob(f, "a", "layer 2 (also in b)");
	g->l3 = put_blob(f, "a", "layer 3");
	g->l4 = put_blob(f, "a", "layer 4");
	g->l5 = put_blob(f, "a", "layer 5");
	g->x = put_blob(f, "a", "blob nobody references");
	v[0] = g->c1, v[1] = g->l1;
	g->m1 = put_manifest(f, "a", "v1", NULL, 0, v, 2);		/* tagged */
	v[0] = g->c1, v[1] = g->l2;
	g->m2 = put_manifest(f, "a", NULL, NULL, 0, v, 2);		/* untagged, old */
	v[0] = g->c1, v[1] = g->l3;
	g->m3 = put_manifest(f, "a", NULL, NULL, 0, v, 2);		/* untagged, young */
	v[0] = g->c1, v[1] = g->l4;
	g->k1 = put_manifest(f, "a", NULL, NULL, 0, v, 2);
	g->k2 = put_manifest(f, "a", NULL, NULL, 0, v, 1);
	v[0] = g->k1, v[1] = g->k2;
	g->i1 = put_manifest(f, "a", "multi", NULL, 1, v, 2);	/* tagged index */
	v[0] = g->c1, v[1] = g->l5;
	g->k3 = put_manifest(f, "a", NULL, NULL, 0, v, 2);
	v[0] = g->k3;
	g->i2 = put_manifest(f, "a", NULL, NULL, 1, v, 1);		/* untagged index, old */
	v[0] = g->c1;
	g->r1 = put_manifest(f, "a", NULL, g->m1.str, 0, v, 1);	/* subject alive */
	g->r2 = put_manifest(f, "a", NULL, g->m2.str, 0, v, 1);	/* subject dead */
	g->r3 = put_manifest(f, "a", NULL, "sha256:0000000000000000000000000000000000000000000000000000000000000000", 0, v, 1);
	/* Repository b shares l1 and l2. */
	g->c1b = put_blob(f, "b", "config 1b");
	g->l1 = put_blob(f, "b", "layer 1 (shared with b)");
	g->l2 = put_blob(f, "b", "layer 2 (also in b)");
	v[0] = g->c1b, v[1] = g->l1;
	g->m4 = put_manifest(f, "b", "latest", NULL, 0, v, 2);
	v[0] = g->c1b, v[1] = g->l2;
	g->m5 = put_manifest(f, "b", "other", NULL, 0, v, 2);
	age_all(f, 2 * DAY);
	age_manifest(f, &g->m3, 3600);
	/* A blob linked ten minutes ago, for a manifest not pushed yet. */
	g->y = put_blob(f, "a", "blob pushed just now");
	age_blob(f, &g->y, 600);
}

static void
test_reachability(void **state)
{
	struct fixture *f = *state;
	struct gc_stats st;
	struct reg g;

	build(f, &g);
	run(f, 0, &st);

	/* Live: tagged, young untagged, children of a tagged index, a
	 * referrer of a live subject, and b's images. */
	assert_true(has_manifest(f, "a", &g.m1));
	assert_true(has_manifest(f, "a", &g.m3));
	assert_true(has_manifest(f, "a", &g.i1));
	assert_true(has_manifest(f, "a", &g.k1));
	assert_true(has_manifest(f, "a", &g.k2));
	assert_true(has_manifest(f, "a", &g.r1));
	assert_true(has_manifest(f, "b", &g.m4));
	assert_true(has_manifest(f, "b", &g.m5));
	/* Dead: old untagged, an untagged index and its only child, a
	 * referrer of a dead subject, a referrer of nothing. */
	assert_false(has_manifest(f, "a", &g.m2));
	assert_false(has_manifest(f, "a", &g.i2));
	assert_false(has_manifest(f, "a", &g.k3));
	assert_false(has_manifest(f, "a", &g.r2));
	assert_false(has_manifest(f, "a", &g.r3));
	assert_int_equal(st.manifests, 5);
	assert_int_equal(count(f, "SELECT count(*) FROM manifest_refs f WHERE NOT EXISTS (SELECT 1 "
	    "FROM manifests m WHERE m.repo_id = f.repo_id AND m.digest = f.digest)"), 0);

	/* Links: what live manifests use stays; l2 leaves a but not b. */
	assert_true(has_link(f, "a", &g.c1));
	assert_true(has_link(f, "a", &g.l1));
	assert_true(has_link(f, "a", &g.l3));
	assert_true(has_link(f, "a", &g.l4));
	assert_true(has_link(f, "a", &g.y));
	assert_false(has_link(f, "a", &g.l2));
	assert_false(has_link(f, "a", &g.l5));
	assert_false(has_link(f, "a", &g.x));
	assert_true(has_link(f, "b", &g.l1));
	assert_true(has_link(f, "b", &g.l2));
	assert_true(has_link(f, "a", &g.m1));
	assert_false(has_link(f, "a", &g.m2));

	/* Files: only content no repository holds any more. */
	assert_true(has_file(f, &g.l1));
	assert_true(has_file(f, &g.l2));
	assert_true(has_file(f, &g.y));
	assert_true(has_file(f, &g.m1));
	assert_true(has_file(f, &g.r1));
	assert_false(has_file(f, &g.l5));
	assert_false(has_file(f, &g.x));
	assert_false(has_file(f, &g.m2));
	assert_false(has_file(f, &g.i2));
	assert_false(has_file(f, &g.k3));
	assert_false(has_file(f, &g.r2));
	assert_false(has_file(f, &g.r3));
	/* l2, l5, x and the five manifests' own bytes. */
	assert_int_equal(st.links, 8);
	assert_int_equal(st.blobs, 7);
	assert_int_equal(count(f, "SELECT count(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM "
	    "repo_blobs rb WHERE rb.digest = b.digest)"), 0);
	assert_true(st.blob_bytes > 0);

	/* The output says why. */
	assert_out_has(f, "untagged for more than 1d");
	assert_out_has(f, "referrer of ");
	assert_out_has(f, "child of index ");
	assert_out_has(f, "no manifest in the repository references it");
	assert_out_has(f, "no repository holds it");

	/* A second run finds nothing more. */
	run(f, 0, &st);
	assert_int_equal(st.manifests + st.links + st.blobs + st.tags + st.uploads, 0);
}

static long long
all_rows(struct fixture *f)
{
	return count(f, "SELECT (SELECT count(*) FROM manifests) * 1000000 + (SELECT count(*) FROM "
	    "repo_blobs) * 10000 + (SELECT count(*) FROM blobs) * 100 + (SELECT count(*) FROM tags)");
}

static int
count_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	return flag == FTW_F ? 1 : 0;
}

static int nfiles_seen;

static int
count_files_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	nfiles_seen += count_file(path, st, flag, ftw);
	return 0;
}

static int
nfiles(struct fixture *f)
{
	char path[PATH_MAX];

	nfiles_seen = 0;
	snprintf(path, sizeof(path), "%s/blobs", f->dir);
	nftw(path, count_files_cb, 16, FTW_PHYS);
	return nfiles_seen;
}

static void
test_dry_run(void **state)
{
	struct fixture *f = *state;
	struct gc_stats dry, real;
	long long rows;
	struct reg g;
	int files;

	build(f, &g);
	load_cfg(f, "[gc]\nuntagged = delete\n[retention \"b\"]\nkeep_last = 1\n");
	rows = all_rows(f);
	files = nfiles(f);
	run(f, 1, &dry);
	assert_int_equal(all_rows(f), rows);
	assert_int_equal(nfiles(f), files);
	assert_true(has_manifest(f, "a", &g.m2));
	assert_true(has_tag(f, "b", "other"));
	assert_out_has(f, "gc: dry run, nothing is changed");
	assert_out_has(f, "retention \"b\"");

	/* The dry run predicted the real one exactly. */
	run(f, 0, &real);
	assert_int_equal(dry.tags, real.tags);
	assert_int_equal(dry.manifests, real.manifests);
	assert_int_equal(dry.links, real.links);
	assert_int_equal(dry.blobs, real.blobs);
	assert_int_equal(dry.blob_bytes, real.blob_bytes);
	assert_int_equal(real.tags, 1);
	assert_true(real.manifests == 6);
}

/* Repository r: tags t1 (oldest) .. t6 (newest), one manifest each. */
static void
build_tags(struct fixture *f, const char *repo, struct digest m[6])
{
	struct digest v[1];
	char tag[16];

	for (int i = 0; i < 6; i++) {
		char content[64];

		snprintf(content, sizeof(content), "%s layer %d", repo, i);
		v[0] = put_blob(f, repo, content);
		snprintf(tag, sizeof(tag), "t%d", i + 1);
		m[i] = put_manifest(f, repo, tag, NULL, 0, v, 1);
	}
	age_all(f, 30 * DAY);
	for (int i = 0; i < 6; i++) {
		snprintf(tag, sizeof(tag), "t%d", i + 1);
		/* t1: 6 days (less an hour) ... t6: 1 day */
		age_tag(f, tag, (long long)(6 - i) * DAY - 3600);
	}
}

static void
test_retention_keep_last(void **state)
{
	struct fixture *f = *state;
	struct gc_stats st;
	struct digest m[6];

	/* untagged = keep: retention alone decides, without grace. */
	load_cfg(f, "[retention \"r*\"]\nkeep_last = 2\n");
	build_tags(f, "r", m);
	/* t2's manifest is also the newest tag: it stays. */
	tag_manifest(f, "r", "latest", &m[1]);
	age_manifest(f, &m[0], 60);	/* young manifests lose their tags too */
	run(f, 0, &st);
	assert_int_equal(st.tags, 5);
	assert_true(has_tag(f, "r", "latest"));
	assert_true(has_tag(f, "r", "t6"));
	assert_false(has_tag(f, "r", "t5"));
	assert_false(has_tag(f, "r", "t1"));
	assert_false(has_manifest(f, "r", &m[0]));
	assert_true(has_manifest(f, "r", &m[1]));
	assert_false(has_manifest(f, "r", &m[4]));
	assert_true(has_manifest(f, "r", &m[5]));
	assert_int_equal(st.manifests, 4);
	assert_out_has(f, "not among the newest keep_last=2 (it is #3)");
	assert_out_has(f, "its last tag goes by retention \"r*\"");
}

static void
test_retention_keep_tags_days(void **state)
{
	struct fixture *f = *state;
	struct gc_stats st;
	struct digest m[6], v[2];

	load_cfg(f, "[retention \"r\"]\nkeep_tags = t1, x-*\nkeep_days = 3\n");
	build_tags(f, "r", m);
	/* An index tagged recently keeps a child that lost its tag. */
	v[0] = m[2];
	put_manifest(f, "r", "x-index", NULL, 1, v, 1);
	age_tag(f, "x-index", 20 * DAY);
	run(f, 0, &st);
	/* Within 3 days: t4 (3 days less an hour), t5, t6; by name: t1, x-index; so t2
	 * and t3 go, t3's manifest stays (the index lists it). */
	assert_true(has_tag(f, "r", "t1"));
	assert_false(has_tag(f, "r", "t2"));
	assert_false(has_tag(f, "r", "t3"));
	assert_true(has_tag(f, "r", "t4"));
	assert_true(has_tag(f, "r", "x-index"));
	assert_int_equal(st.tags, 2);
	assert_false(has_manifest(f, "r", &m[1]));
	assert_true(has_manifest(f, "r", &m[2]));
	assert_int_equal(st.manifests, 1);
	assert_out_has(f, "pushed 4d ago, keep_days=3");
	assert_out_has(f, "matches no keep_tags (t1, x-*)");
}

static void
test_retention_most_specific(void **state)
{
	struct fixture *f = *state;
	struct gc_stats st;
	struct digest m[6], n[6];

	load_cfg(f, "[retention \"team/*\"]\nkeep_last = 1\n[retention \"team/special\"]\n"
	    "keep_last = 5\n");
	build_tags(f, "team/special", m);
	build_tags(f, "team/other", n);
	run(f, 0, &st);
	assert_false(has_tag(f, "team/special", "t1"));
	assert_true(has_tag(f, "team/special", "t2"));
	assert_int_equal(count(f, "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repo_id "
	    "WHERE r.name = 'team/other'"), 1);
	assert_int_equal(st.tags, 1 + 5);
	(void)m;
	(void)n;
}

static void
test_retention_config_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{"[retention \"a\"]\nkeep_last = x\n", "t.ini:2: retention \"a\".keep_last: 'x' is not"},
		{"[retention \"a\"]\nkeep_last = -1\n", "t.ini:2: retention \"a\".keep_last"},
		{"\n[retention \"a\"]\nkeep_days = 99999999\n", "t.ini:3: retention \"a\".keep_days"},
		{"[retention \"a\"]\nkeep_tags = ,\n", "t.ini:2: retention \"a\".keep_tags"},
		{"[retention \"a\"]\nkeep_tags = v1 v/2\n", "t.ini:2: retention \"a\".keep_tags"},
		{"[retention \"A b\"]\nkeep_last = 1\n", "t.ini:2: [retention \"A b\"]: not a repository"},
		{"[group \"g\"]\nmembers = x\n[retention \"a\"]\n# nothing\n[retention \"b\"]\nkeep_last = 1\n",
		    NULL},
	};
	struct config cfg;
	char err[512];

	(void)f;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&cfg, 0, sizeof(cfg));
		if (config_load_string("t.ini", cases[i].text, &cfg, err, sizeof(err)) != 0) {
			/* A mistyped or out-of-range number stops the load
			 * itself (the key table's types), naming the key. */
			if (cases[i].want == NULL || strstr(err, cases[i].want) == NULL)
				fail_msg("case %zu: load failed with \"%s\"", i, err);
			continue;
		}
		if (cases[i].want == NULL) {
			/* A section with no keys never reaches the config. */
			assert_int_equal(gc_config_check(&cfg, err, sizeof(err)), 0);
		} else {
			assert_int_equal(gc_config_check(&cfg, err, sizeof(err)), -1);
			if (strstr(err, cases[i].want) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
		}
		config_free(&cfg);
	}
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_load_string("t.ini", "[retention \"a/*\"]\nkeep_tags = release-*\n",
	    &cfg, err, sizeof(err)), 0);
	assert_int_equal(gc_config_check(&cfg, err, sizeof(err)), 0);
	config_free(&cfg);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_load_string("t.ini", "[gc]\nuntagged = sometimes\n", &cfg, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "t.ini:2: gc.untagged: 'sometimes' is not one of keep, delete"));
}

static void
test_untagged_keep(void **state)
{
	struct fixture *f = *state;
	struct gc_stats st;
	struct reg g;

	load_cfg(f, "");
	build(f, &g);
	run(f, 0, &st);
	/* Nothing untagged goes; the referrer of a live subject neither. */
	assert_int_equal(st.manifests, 0);
	assert_true(has_manifest(f, "a", &g.m2));
	assert_true(has_manifest(f, "a", &g.r2));
	assert_true(has_manifest(f, "a", &g.k3));
	/* Unreferenced blobs still go, except the young one. */
	assert_false(has_file(f, &g.x));
	assert_true(has_file(f, &g.y));
	assert_int_equal(st.blobs, 1);
}

static void
test_created_after_start_is_live(void **state)
{
	struct fixture *f = *state;
	struct gc_stats st;
	struct digest v[1], m;

	v[0] = put_blob(f, "a", "layer");
	m = put_manifest(f, "a", NULL, NULL, 0, v, 1);
	age_all(f, 2 * DAY);
	/* Pushed (again) after the collection began. */
	load_cfg(f, "[gc]\nuntagged = delete\nuntagged_grace = 0s\ngrace = 0s\n");
	sql(f, "UPDATE manifests SET created = %lld", now() + 5);
	run(f, 0, &st);
	assert_int_equal(st.manifests, 0);
	assert_true(has_manifest(f, "a", &m));
	assert_true(has_link(f, "a", &v[0]));
	/* Once older than the start and untagged, with no grace: gone. */
	age_all(f, 10);
	run(f, 0, &st);
	assert_int_equal(st.manifests, 1);
	assert_false(has_link(f, "a", &v[0]));
}

static void
test_relink_refreshes(void **state)
{
	struct fixture *f = *state;
	struct gc_stats st;
	struct digest d;

	d = put_blob(f, "a", "pushed twice");
	age_all(f, 2 * DAY);
	/* Pushed again into the same repository: a young link again. */
	assert_int_equal(meta_blob_link(f->m, "a", d.str, 12), 0);
	run(f, 0, &st);
	assert_true(has_link(f, "a", &d));
	assert_true(has_file(f, &d));
	/* Mounted again likewise. */
	assert_int_equal(meta_blob_link(f->m, "src", d.str, 12), 0);
	age_all(f, 2 * DAY);
	assert_int_equal(meta_blob_mount(f->m, "src", "a", d.str), 0);
	run(f, 0, &st);
	assert_true(has_link(f, "a", &d));
	assert_false(has_link(f, "src", &d));
}

static void
test_uploads(void **state)
{
	struct fixture *f = *state;
	struct gc_stats st;
	struct timespec old[2];
	char path[PATH_MAX];
	struct digest d;
	int fd;

	load_cfg(f, "[storage]\nupload_expiry = 1h\n");
	assert_int_equal(store_upload_create(f->s, ID1), 0);
	assert_int_equal(meta_upload_create(f->m, ID1, "a"), 0);
	assert_int_equal(store_upload_create(f->s, ID2), 0);
	assert_int_equal(meta_upload_create(f->m, ID2, "a"), 0);
	sql(f, "UPDATE uploads SET updated = %lld WHERE id = '%s'", now() - 7200, ID1);
	/* Spool files without a session: an old one and a young one. */
	snprintf(path, sizeof(path), "%s/uploads/put-0123456789abcdef", f->dir);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0644)) >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	old[0].tv_sec = old[1].tv_sec = (time_t)(now() - 7200);
	old[0].tv_nsec = old[1].tv_nsec = 0;
	assert_int_equal(futimens(fd, old), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/uploads/put-young", f->dir);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0644)) >= 0);
	close(fd);
	/* A young blob file without a row may be a push in flight. */
	assert_int_equal(digest_buffer(DIGEST_SHA256, "stray", 5, &d), 0);
	assert_int_equal(store_blob_put(f->s, &d, "stray", 5), 0);

	run(f, 1, &st);
	assert_int_equal(st.uploads, 2);
	assert_int_equal(count(f, "SELECT count(*) FROM uploads"), 2);
	run(f, 0, &st);
	assert_int_equal(st.uploads, 2);
	assert_int_equal(st.upload_bytes, 3);
	assert_int_equal(count(f, "SELECT count(*) FROM uploads"), 1);
	snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, ID1);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, ID2);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/uploads/put-0123456789abcdef", f->dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/uploads/put-young", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	assert_true(has_file(f, &d));
	assert_out_has(f, "upload session idle for more than 1h");
}

static void
test_trash_protocol(void **state)
{
	struct fixture *f = *state;
	char name[256];
	struct digest d;
	uint64_t size;

	assert_int_equal(digest_buffer(DIGEST_SHA256, "content", 7, &d), 0);
	assert_int_equal(store_blob_put(f->s, &d, "content", 7), 0);
	assert_int_equal(store_blob_trash(f->s, &d, name, sizeof(name), &size), 0);
	assert_int_equal(size, 7);
	assert_false(has_file(f, &d));
	/* Restored when nobody reinstalled it. */
	assert_int_equal(store_trash_restore(f->s, name, &d), 0);
	assert_true(has_file(f, &d));
	/* A pusher's copy wins over the trashed one. */
	assert_int_equal(store_blob_trash(f->s, &d, name, sizeof(name), &size), 0);
	assert_int_equal(store_blob_put(f->s, &d, "content", 7), 0);
	assert_int_equal(store_trash_restore(f->s, name, &d), 0);
	assert_true(has_file(f, &d));
	assert_int_equal(store_trash_remove(f->s, name), 0);
	/* Nothing to trash. */
	assert_int_equal(store_blob_delete(f->s, &d), 0);
	assert_int_equal(store_blob_trash(f->s, &d, name, sizeof(name), &size), -ERR_BLOB_UNKNOWN);
}

static void
test_stop_flag(void **state)
{
	struct fixture *f = *state;
	struct gc_options opt = {0};
	struct gc_stats st;
	int stop = 1;
	struct reg g;

	build(f, &g);
	opt.stop = &stop;
	assert_int_equal(gc_run(&f->cfg, f->m, f->s, &opt, &st), 0);
	assert_int_equal(st.interrupted, 1);
	assert_int_equal(st.manifests, 0);
	assert_true(has_manifest(f, "a", &g.m2));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_reachability),
		T(test_dry_run),
		T(test_retention_keep_last),
		T(test_retention_keep_tags_days),
		T(test_retention_most_specific),
		T(test_retention_config_errors),
		T(test_untagged_keep),
		T(test_created_after_start_is_live),
		T(test_relink_refreshes),
		T(test_uploads),
		T(test_trash_protocol),
		T(test_stop_flag),
	};
#undef T

	log_set_level((enum log_level)(LOG_ERROR + 1));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
