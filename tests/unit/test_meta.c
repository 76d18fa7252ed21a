/* SPDX-License-Identifier: ISC
 * test_meta.c — the SQLite metadata backend against a fresh mkdtemp
 * directory: schema creation and reopening, blob links scoped per
 * repository, upload sessions (finish is one transaction), manifests and
 * tags, paging of tag and repository lists, and referrers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
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
#include "log.h"
#include "meta.h"

#define ID1 "123e4567-e89b-42d3-a456-426614174001"
#define ID2 "123e4567-e89b-42d3-a456-426614174002"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"

/* SQLite's own calls of fsync and fdatasync land here (the test binary
 * defines them, so libsqlite3's calls resolve to these first): a count of
 * what a commit made durable, then the real call. */
static __thread int meta_syncs;	/* by this thread */
static int all_syncs;			/* by any thread */

static int
real_sync(const char *name, int fd)
{
	int (*fn)(int);

	*(void **)&fn = dlsym(RTLD_NEXT, name);
	meta_syncs++;
	__atomic_add_fetch(&all_syncs, 1, __ATOMIC_RELAXED);
	return fn != NULL ? fn(fd) : -1;
}

int
fsync(int fd)
{
	return real_sync("fsync", fd);
}

int
fdatasync(int fd)
{
	return real_sync("fdatasync", fd);
}

struct fixture {
	char dir[64];
	struct meta *m;
};

/* The SQLite backend on dir, as [storage] root = dir configures it. */
static struct meta *
open_dir(const char *dir)
{
	struct config cfg;

	config_defaults(&cfg);
	snprintf(cfg.root, sizeof(cfg.root), "%s", dir);
	return meta_open(&cfg);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_meta.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	if ((f->m = open_dir(f->dir)) == NULL) {
		nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	meta_close(f->m);
	rc = nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

/* A distinct, well-formed sha256 digest per seed. */
static const char *
dg(const char *seed)
{
	static struct digest d[16];
	static unsigned next;
	struct digest *p = &d[next++ % 16];

	assert_int_equal(digest_buffer(DIGEST_SHA256, seed, strlen(seed), p), 0);
	return p->str;
}

static struct meta_manifest
mk_manifest(const char *digest, const char *media_type, const char *artifact_type,
    const char *subject, uint64_t size)
{
	struct meta_manifest mf;

	memset(&mf, 0, sizeof(mf));
	snprintf(mf.digest, sizeof(mf.digest), "%s", digest);
	snprintf(mf.media_type, sizeof(mf.media_type), "%s", media_type);
	snprintf(mf.artifact_type, sizeof(mf.artifact_type), "%s", artifact_type);
	snprintf(mf.subject, sizeof(mf.subject), "%s", subject);
	mf.size = size;
	return mf;
}

/* Collected list items. */
struct list {
	char item[64][256];
	int n;
	int stop_after;		/* stop the listing after this many (0: never) */
};

static int
list_cb(void *arg, const char *item)
{
	struct list *l = arg;

	assert_true(l->n < 64);
	snprintf(l->item[l->n++], sizeof(l->item[0]), "%s", item);
	return l->stop_after != 0 && l->n >= l->stop_after;
}

/* Compare a listing with a '|'-separated expectation ("" for none). */
static void
assert_list(const struct list *l, const char *want)
{
	char got[4096] = "";
	size_t len = 0;

	for (int i = 0; i < l->n; i++) {
		int n = snprintf(got + len, sizeof(got) - len, "%s%s", i > 0 ? "|" : "", l->item[i]);

		assert_true(n >= 0 && (size_t)n < sizeof(got) - len);
		len += (size_t)n;
	}
	if (strcmp(got, want) != 0)
		fail_msg("listed \"%s\", want \"%s\"", got, want);
}

static void
tags(struct meta *m, const char *repo, const char *last, long n, const char *want, int want_more)
{
	struct list l;
	int more = -1;

	memset(&l, 0, sizeof(l));
	assert_int_equal(meta_tag_list(m, repo, last, n, list_cb, &l, &more), 0);
	assert_list(&l, want);
	if (more != want_more)
		fail_msg("tags of %s after '%s' n=%ld: more=%d, want %d", repo, last, n, more,
		    want_more);
}

static void
repos(struct meta *m, const char *last, long n, const char *want, int want_more)
{
	struct list l;
	int more = -1;

	memset(&l, 0, sizeof(l));
	assert_int_equal(meta_repo_list(m, last, n, 0, list_cb, &l, &more), 0);
	assert_list(&l, want);
	if (more != want_more)
		fail_msg("repos after '%s' n=%ld: more=%d, want %d", last, n, more, want_more);
}

struct refs {
	struct meta_manifest mf[16];
	int n;
};

static int
ref_cb(void *arg, const struct meta_manifest *mf)
{
	struct refs *r = arg;

	assert_true(r->n < 16);
	r->mf[r->n++] = *mf;
	return 0;
}

static void
test_open_schema(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_true(meta_schema_version(f->m) >= 1);
	assert_int_equal(meta_repo_exists(f->m, "a"), -ERR_NAME_UNKNOWN);
}

static void
test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	const char *d = dg("reopen");
	struct meta_manifest mf = mk_manifest(dg("m"), MT_MANIFEST, "", "", 321), got;
	int version = meta_schema_version(f->m);
	uint64_t size = 0;

	assert_int_equal(meta_blob_link(f->m, "a/b", d, 1234), 0);
	assert_int_equal(meta_manifest_put(f->m, "a/b", &mf, NULL, 0, "latest"), 0);
	assert_int_equal(meta_upload_create(f->m, ID1, "a/b"), 0);
	meta_close(f->m);

	assert_non_null(f->m = open_dir(f->dir));
	assert_int_equal(meta_schema_version(f->m), version);
	assert_int_equal(meta_repo_exists(f->m, "a/b"), 0);
	assert_int_equal(meta_blob_get(f->m, "a/b", d, &size), 0);
	assert_int_equal(size, 1234);
	assert_int_equal(meta_tag_get(f->m, "a/b", "latest", &got), 0);
	assert_string_equal(got.digest, mf.digest);
	assert_int_equal(got.size, 321);
	{
		char repo[REFERENCE_NAME_MAX + 1];

		assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), 0);
		assert_string_equal(repo, "a/b");
	}
}

static void
test_open_failures(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], pragma[64];
	int version = meta_schema_version(f->m);
	sqlite3 *db;

	/* A missing directory. */
	snprintf(path, sizeof(path), "%s/no/such/dir", f->dir);
	log_set_level((enum log_level)(LOG_ERROR + 1));
	assert_null(open_dir(path));

	/* A database from a newer ociregd is refused, not downgraded. */
	meta_close(f->m);
	f->m = NULL;
	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9999", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_null(open_dir(f->dir));

	/* Put it back so teardown has a connection to close. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
	assert_int_equal(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_non_null(f->m = open_dir(f->dir));
	assert_int_equal(meta_schema_version(f->m), version);
}

/* meta_open picks the backend from the config: a value no backend has
 * (config.c refuses it; a caller that builds a config by hand might not)
 * is refused, not looked up past the table. */
static void
test_open_backend(void **state)
{
	struct fixture *f = *state;
	struct config cfg;

	config_defaults(&cfg);
	snprintf(cfg.root, sizeof(cfg.root), "%s", f->dir);
	cfg.meta_backend = 99;
	assert_null(meta_open(&cfg));
	cfg.meta_backend = -1;
	assert_null(meta_open(&cfg));
	cfg.meta_backend = CONFIG_META_SQLITE;
	meta_close(f->m);
	assert_non_null(f->m = meta_open(&cfg));
	assert_int_equal(meta_repo_exists(f->m, "a"), -ERR_NAME_UNKNOWN);
}

static void
test_blob_scoping(void **state)
{
	struct fixture *f = *state;
	const char *d1 = dg("blob-1"), *d2 = dg("blob-2");
	uint64_t size = 0;

	assert_int_equal(meta_blob_link(f->m, "a/x", d1, 10), 0);
	assert_int_equal(meta_repo_exists(f->m, "a/x"), 0);
	assert_int_equal(meta_blob_get(f->m, "a/x", d1, &size), 0);
	assert_int_equal(size, 10);
	/* Not visible from another repository, existing or not. */
	assert_int_equal(meta_blob_get(f->m, "b/y", d1, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(meta_repo_exists(f->m, "b/y"), -ERR_NAME_UNKNOWN);
	assert_int_equal(meta_blob_link(f->m, "b/y", d2, 20), 0);
	assert_int_equal(meta_blob_get(f->m, "b/y", d1, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(meta_blob_get(f->m, "a/x", d2, &size), -ERR_BLOB_UNKNOWN);
	/* Nor from a prefix or an extension of the name. */
	assert_int_equal(meta_blob_get(f->m, "a", d1, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(meta_blob_get(f->m, "a/x/y", d1, &size), -ERR_BLOB_UNKNOWN);

	/* Linking twice is harmless. */
	assert_int_equal(meta_blob_link(f->m, "a/x", d1, 10), 0);
	/* Linking into a second repository; unlinking from one leaves the
	 * other. */
	assert_int_equal(meta_blob_link(f->m, "b/y", d1, 10), 0);
	assert_int_equal(meta_blob_unlink(f->m, "a/x", d1), 0);
	assert_int_equal(meta_blob_get(f->m, "a/x", d1, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(meta_blob_get(f->m, "b/y", d1, &size), 0);
	assert_int_equal(size, 10);
	assert_int_equal(meta_blob_unlink(f->m, "a/x", d1), -ERR_BLOB_UNKNOWN);
	assert_int_equal(meta_blob_unlink(f->m, "no/such", d1), -ERR_BLOB_UNKNOWN);
	/* The repository outlives its last blob. */
	assert_int_equal(meta_repo_exists(f->m, "a/x"), 0);
}

static void
test_sql_metacharacters(void **state)
{
	struct fixture *f = *state;
	const char *evil = "x'); DROP TABLE blobs; --";
	const char *d = dg("evil");
	uint64_t size = 0;

	/* Names are bound, never spliced into SQL. */
	assert_int_equal(meta_blob_link(f->m, evil, d, 7), 0);
	assert_int_equal(meta_blob_get(f->m, evil, d, &size), 0);
	assert_int_equal(size, 7);
	assert_int_equal(meta_blob_get(f->m, "x", d, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(meta_blob_link(f->m, "%", dg("pct"), 1), 0);
	assert_int_equal(meta_repo_exists(f->m, "_"), -ERR_NAME_UNKNOWN);
	assert_int_equal(meta_repo_exists(f->m, "%"), 0);
}

static void
test_blob_find_repo(void **state)
{
	struct fixture *f = *state;
	const char *d1 = dg("shared"), *d2 = dg("lonely");
	char out[REFERENCE_NAME_MAX + 1];

	assert_int_equal(meta_blob_link(f->m, "a", d1, 5), 0);
	assert_int_equal(meta_blob_find_repo(f->m, d1, "a", out), -ERR_BLOB_UNKNOWN);
	assert_int_equal(meta_blob_find_repo(f->m, d1, "z", out), 0);
	assert_string_equal(out, "a");
	assert_int_equal(meta_blob_link(f->m, "b/c", d1, 5), 0);
	assert_int_equal(meta_blob_find_repo(f->m, d1, "a", out), 0);
	assert_string_equal(out, "b/c");
	assert_int_equal(meta_blob_find_repo(f->m, d1, "b/c", out), 0);
	assert_string_equal(out, "a");
	assert_int_equal(meta_blob_find_repo(f->m, d2, "a", out), -ERR_BLOB_UNKNOWN);
	/* Unlinked blobs are not found. */
	assert_int_equal(meta_blob_unlink(f->m, "b/c", d1), 0);
	assert_int_equal(meta_blob_find_repo(f->m, d1, "a", out), -ERR_BLOB_UNKNOWN);
}

static void
test_upload_lifecycle(void **state)
{
	struct fixture *f = *state;
	char repo[REFERENCE_NAME_MAX + 1];
	uint64_t size = 99;

	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(meta_upload_create(f->m, ID1, "a/b"), 0);
	assert_int_equal(meta_upload_create(f->m, ID2, "c"), 0);
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), 0);
	assert_string_equal(repo, "a/b");
	assert_int_equal(size, 0);

	assert_int_equal(meta_upload_set_size(f->m, ID1, 100, 1), 0);
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), 0);
	assert_int_equal(size, 100);
	/* Sizes past 2^32 survive. */
	assert_int_equal(meta_upload_set_size(f->m, ID1, 5000000000ULL, 1), 0);
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), 0);
	assert_true(size == 5000000000ULL);
	/* The other session is untouched. */
	assert_int_equal(meta_upload_get(f->m, ID2, repo, &size), 0);
	assert_string_equal(repo, "c");
	assert_int_equal(size, 0);

	assert_int_equal(meta_upload_set_size(f->m, "no-such-id", 1, 1), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(meta_upload_delete(f->m, ID1), 0);
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(meta_upload_delete(f->m, ID1), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(meta_upload_set_size(f->m, ID1, 1, 1), -ERR_BLOB_UPLOAD_UNKNOWN);
	/* An upload session alone does not make a repository. */
	assert_int_equal(meta_repo_exists(f->m, "c"), -ERR_NAME_UNKNOWN);
}

/* A PATCH's size commits without an fsync (synchronous=NORMAL) unless
 * asked to flush, yet is there for the next reader; every other commit of
 * the connection is FULL again afterwards, failed set_size or not. */
static void
test_upload_set_size_sync(void **state)
{
	struct fixture *f = *state;
	char repo[REFERENCE_NAME_MAX + 1];
	uint64_t size = 0;
	int before;

	before = meta_syncs;
	assert_int_equal(meta_upload_create(f->m, ID1, "a/b"), 0);
	assert_true(meta_syncs > before);
	before = meta_syncs;
	assert_int_equal(meta_upload_set_size(f->m, ID1, 4096, 0), 0);
	assert_int_equal(meta_upload_set_size(f->m, "no-such-id", 1, 0), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(meta_syncs, before);
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), 0);
	assert_int_equal(size, 4096);
	/* FULL again: the next commit syncs, and covers the one above. */
	assert_int_equal(meta_upload_create(f->m, ID2, "c"), 0);
	assert_true(meta_syncs > before);
	before = meta_syncs;
	assert_int_equal(meta_upload_delete(f->m, ID2), 0);
	assert_true(meta_syncs > before);
	/* Asked to flush (the store made the bytes durable): it does. */
	before = meta_syncs;
	assert_int_equal(meta_upload_set_size(f->m, ID1, 8192, 1), 0);
	assert_true(meta_syncs > before);
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), 0);
	assert_int_equal(size, 8192);
}

static void
test_upload_finish(void **state)
{
	struct fixture *f = *state;
	const char *d1 = dg("finished"), *d2 = dg("never");
	char repo[REFERENCE_NAME_MAX + 1];
	uint64_t size = 0;

	assert_int_equal(meta_upload_create(f->m, ID1, "r"), 0);
	assert_int_equal(meta_upload_set_size(f->m, ID1, 5, 1), 0);
	assert_int_equal(meta_upload_finish(f->m, ID1, "r", d1, 5), 0);
	/* The session is gone and the blob is in the repository. */
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(meta_blob_get(f->m, "r", d1, &size), 0);
	assert_int_equal(size, 5);

	/* Finishing twice, or an unknown session, links nothing. */
	assert_int_equal(meta_upload_finish(f->m, ID1, "r", d2, 7), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(meta_blob_get(f->m, "r", d2, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(meta_upload_finish(f->m, ID2, "other", d2, 7), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(meta_repo_exists(f->m, "other"), -ERR_NAME_UNKNOWN);
	assert_int_equal(meta_blob_find_repo(f->m, d2, "", repo), -ERR_BLOB_UNKNOWN);
}

/* The other half of atomicity: when linking fails after the session row
 * was deleted, the deletion is rolled back.  A NULL digest (outside the
 * contract, used here as fault injection) makes the blob insert violate
 * NOT NULL. */
static void
test_upload_finish_rolls_back(void **state)
{
	struct fixture *f = *state;
	char repo[REFERENCE_NAME_MAX + 1];
	uint64_t size = 0;

	log_set_level((enum log_level)(LOG_ERROR + 1));
	assert_int_equal(meta_upload_create(f->m, ID1, "fresh/repo"), 0);
	assert_int_equal(meta_upload_set_size(f->m, ID1, 3, 1), 0);
	assert_int_not_equal(meta_upload_finish(f->m, ID1, "fresh/repo", NULL, 3), 0);
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), 0);
	assert_string_equal(repo, "fresh/repo");
	assert_int_equal(size, 3);
	/* Nor was the repository created. */
	assert_int_equal(meta_repo_exists(f->m, "fresh/repo"), -ERR_NAME_UNKNOWN);
	/* The connection is usable afterwards (no transaction left open). */
	assert_int_equal(meta_upload_finish(f->m, ID1, "fresh/repo", dg("ok"), 3), 0);
	assert_int_equal(meta_upload_get(f->m, ID1, repo, &size), -ERR_BLOB_UPLOAD_UNKNOWN);
}

static void
test_manifest_and_tags(void **state)
{
	struct fixture *f = *state;
	struct meta_manifest m1 = mk_manifest(dg("m1"), MT_MANIFEST, "", "", 100);
	struct meta_manifest m2 = mk_manifest(dg("m2"), MT_INDEX, "application/x.art", "", 200);
	/* skip_check: this test is about rows, not reference presence. */
	struct meta_ref refs[] = {{dg("config"), 0, 1}, {dg("layer"), 0, 1}};
	struct meta_manifest got;

	assert_int_equal(meta_tag_get(f->m, "r", "latest", &got), -ERR_NAME_UNKNOWN);
	assert_int_equal(meta_manifest_get(f->m, "r", m1.digest, &got), -ERR_NAME_UNKNOWN);

	assert_int_equal(meta_manifest_put(f->m, "r", &m1, refs, 2, "latest"), 0);
	assert_int_equal(meta_repo_exists(f->m, "r"), 0);
	memset(&got, 0x41, sizeof(got));
	assert_int_equal(meta_tag_get(f->m, "r", "latest", &got), 0);
	assert_string_equal(got.digest, m1.digest);
	assert_string_equal(got.media_type, MT_MANIFEST);
	assert_string_equal(got.artifact_type, "");
	assert_string_equal(got.subject, "");
	assert_int_equal(got.size, 100);
	memset(&got, 0x41, sizeof(got));
	assert_int_equal(meta_manifest_get(f->m, "r", m1.digest, &got), 0);
	assert_string_equal(got.digest, m1.digest);
	assert_string_equal(got.media_type, MT_MANIFEST);
	assert_int_equal(got.size, 100);

	/* Tags are per repository and case-sensitive. */
	assert_int_equal(meta_tag_get(f->m, "r", "LATEST", &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_tag_get(f->m, "r", "nope", &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_manifest_get(f->m, "r", m2.digest, &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_blob_link(f->m, "s", dg("x"), 1), 0);
	assert_int_equal(meta_tag_get(f->m, "s", "latest", &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_manifest_get(f->m, "s", m1.digest, &got), -ERR_MANIFEST_UNKNOWN);

	/* Moving the tag. */
	assert_int_equal(meta_manifest_put(f->m, "r", &m2, NULL, 0, "latest"), 0);
	assert_int_equal(meta_tag_get(f->m, "r", "latest", &got), 0);
	assert_string_equal(got.digest, m2.digest);
	assert_string_equal(got.media_type, MT_INDEX);
	assert_string_equal(got.artifact_type, "application/x.art");
	assert_int_equal(got.size, 200);
	/* The old manifest stays, untagged. */
	assert_int_equal(meta_manifest_get(f->m, "r", m1.digest, &got), 0);
	tags(f->m, "r", "", 100, "latest", 0);

	/* Putting the same manifest again (without a tag) changes nothing. */
	assert_int_equal(meta_manifest_put(f->m, "r", &m1, refs, 2, NULL), 0);
	assert_int_equal(meta_tag_get(f->m, "r", "latest", &got), 0);
	assert_string_equal(got.digest, m2.digest);
}

static void
test_manifest_delete(void **state)
{
	struct fixture *f = *state;
	struct meta_manifest m1 = mk_manifest(dg("d1"), MT_MANIFEST, "", "", 10);
	struct meta_manifest m2 = mk_manifest(dg("d2"), MT_MANIFEST, "", "", 20);
	struct meta_manifest got;

	assert_int_equal(meta_manifest_put(f->m, "r", &m1, NULL, 0, "keep"), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &m2, NULL, 0, "latest"), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &m2, NULL, 0, "v1"), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &m2, NULL, 0, "v2"), 0);
	/* The same digest in another repository is a different manifest. */
	assert_int_equal(meta_manifest_put(f->m, "other", &m2, NULL, 0, "latest"), 0);
	tags(f->m, "r", "", 100, "keep|latest|v1|v2", 0);

	assert_int_equal(meta_manifest_delete(f->m, "r", m2.digest), 0);
	assert_int_equal(meta_manifest_get(f->m, "r", m2.digest, &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_tag_get(f->m, "r", "latest", &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_tag_get(f->m, "r", "v1", &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_tag_get(f->m, "r", "v2", &got), -ERR_MANIFEST_UNKNOWN);
	tags(f->m, "r", "", 100, "keep", 0);
	assert_int_equal(meta_tag_get(f->m, "r", "keep", &got), 0);
	assert_string_equal(got.digest, m1.digest);
	/* Untouched elsewhere. */
	assert_int_equal(meta_tag_get(f->m, "other", "latest", &got), 0);
	assert_string_equal(got.digest, m2.digest);

	assert_int_equal(meta_manifest_delete(f->m, "r", m2.digest), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_manifest_delete(f->m, "no/such", m2.digest), -ERR_NAME_UNKNOWN);
	/* A failed delete left no transaction open. */
	assert_int_equal(meta_manifest_put(f->m, "r", &m2, NULL, 0, "back"), 0);
	assert_int_equal(meta_tag_get(f->m, "r", "back", &got), 0);
}

static void
test_tag_delete(void **state)
{
	struct fixture *f = *state;
	struct meta_manifest m1 = mk_manifest(dg("t1"), MT_MANIFEST, "", "", 10);
	struct meta_manifest got;

	assert_int_equal(meta_manifest_put(f->m, "r", &m1, NULL, 0, "a"), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &m1, NULL, 0, "b"), 0);
	assert_int_equal(meta_tag_delete(f->m, "r", "a"), 0);
	assert_int_equal(meta_tag_get(f->m, "r", "a", &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_tag_get(f->m, "r", "b", &got), 0);
	assert_string_equal(got.digest, m1.digest);
	/* The manifest itself stays. */
	assert_int_equal(meta_manifest_get(f->m, "r", m1.digest, &got), 0);
	tags(f->m, "r", "", 100, "b", 0);
	assert_int_equal(meta_tag_delete(f->m, "r", "a"), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_tag_delete(f->m, "no/such", "a"), -ERR_NAME_UNKNOWN);
	assert_int_equal(meta_tag_delete(f->m, "r", "b"), 0);
	tags(f->m, "r", "", 100, "", 0);
	assert_int_equal(meta_manifest_get(f->m, "r", m1.digest, &got), 0);
}

static void
test_tag_list_paging(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {"e", "b", "V1", "d", "a", "1.0", "c", "v1"};
	struct meta_manifest m1 = mk_manifest(dg("p1"), MT_MANIFEST, "", "", 10);
	struct list l;
	int more;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(meta_manifest_put(f->m, "r", &m1, NULL, 0, names[i]), 0);
	/* Byte order: digits, upper case, lower case. */
	tags(f->m, "r", "", 100, "1.0|V1|a|b|c|d|e|v1", 0);
	tags(f->m, "r", "", 8, "1.0|V1|a|b|c|d|e|v1", 0);
	tags(f->m, "r", "", 7, "1.0|V1|a|b|c|d|e", 1);
	tags(f->m, "r", "", 3, "1.0|V1|a", 1);
	/* last is exclusive and need not exist. */
	tags(f->m, "r", "a", 2, "b|c", 1);
	tags(f->m, "r", "c", 2, "d|e", 1);
	tags(f->m, "r", "e", 2, "v1", 0);
	tags(f->m, "r", "v1", 2, "", 0);
	tags(f->m, "r", "bb", 2, "c|d", 1);
	tags(f->m, "r", "zzz", 10, "", 0);
	tags(f->m, "r", "0", 1, "1.0", 1);
	/* n = 0: nothing listed, but more remain. */
	tags(f->m, "r", "", 0, "", 1);
	tags(f->m, "r", "v1", 0, "", 0);

	/* A callback may stop the listing early. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	assert_int_equal(meta_tag_list(f->m, "r", "", 100, list_cb, &l, &more), 0);
	assert_list(&l, "1.0|V1");

	/* A repository with blobs only, or untagged manifests, has no tags. */
	assert_int_equal(meta_blob_link(f->m, "blobs/only", dg("b"), 1), 0);
	tags(f->m, "blobs/only", "", 100, "", 0);
	tags(f->m, "blobs/only", "", 0, "", 0);
	assert_int_equal(meta_manifest_put(f->m, "untagged", &m1, NULL, 0, NULL), 0);
	tags(f->m, "untagged", "", 100, "", 0);

	memset(&l, 0, sizeof(l));
	assert_int_equal(meta_tag_list(f->m, "no/such", "", 100, list_cb, &l, &more),
	    -ERR_NAME_UNKNOWN);
	assert_int_equal(l.n, 0);
}

static void
test_repo_list(void **state)
{
	struct fixture *f = *state;
	struct meta_manifest m1 = mk_manifest(dg("r1"), MT_MANIFEST, "", "", 10);

	repos(f->m, "", 100, "", 0);
	repos(f->m, "", 0, "", 0);
	assert_int_equal(meta_manifest_put(f->m, "b", &m1, NULL, 0, "latest"), 0);
	assert_int_equal(meta_manifest_put(f->m, "a/x", &m1, NULL, 0, NULL), 0);
	assert_int_equal(meta_manifest_put(f->m, "a", &m1, NULL, 0, "t"), 0);
	/* A blob link alone lists a repository (c, and e by a mount); an
	 * upload session alone does not (d). */
	assert_int_equal(meta_blob_link(f->m, "c", dg("c"), 1), 0);
	assert_int_equal(meta_upload_create(f->m, ID1, "d"), 0);
	assert_int_equal(meta_blob_mount(f->m, "c", "e", dg("c")), 0);

	repos(f->m, "", 100, "a|a/x|b|c|e", 0);
	repos(f->m, "", 5, "a|a/x|b|c|e", 0);
	repos(f->m, "", 3, "a|a/x|b", 1);
	repos(f->m, "", 1, "a", 1);
	repos(f->m, "a", 1, "a/x", 1);
	repos(f->m, "a/x", 1, "b", 1);
	repos(f->m, "b", 5, "c|e", 0);
	repos(f->m, "c", 5, "e", 0);
	repos(f->m, "e", 5, "", 0);
	repos(f->m, "", 0, "", 1);

	/* Deleting a repository's last manifest, or its last blob link,
	 * unlists it (its row stays behind). */
	assert_int_equal(meta_manifest_delete(f->m, "b", m1.digest), 0);
	assert_int_equal(meta_blob_unlink(f->m, "c", dg("c")), 0);
	repos(f->m, "", 100, "a|a/x|e", 0);
	assert_int_equal(meta_repo_exists(f->m, "c"), 0);
}

static void
test_referrers(void **state)
{
	struct fixture *f = *state;
	char subject[DIGEST_STR_MAX], other[DIGEST_STR_MAX];
	struct meta_manifest sig, sbom, sig2, unrelated;
	struct refs r;
	int more;

	snprintf(subject, sizeof(subject), "%s", dg("the image"));
	snprintf(other, sizeof(other), "%s", dg("another image"));
	sig = mk_manifest(dg("sig"), MT_MANIFEST, "application/vnd.example.sig", subject, 11);
	sbom = mk_manifest(dg("sbom"), MT_MANIFEST, "application/spdx+json", subject, 22);
	sig2 = mk_manifest(dg("sig2"), MT_INDEX, "application/vnd.example.sig", subject, 33);
	unrelated = mk_manifest(dg("unrelated"), MT_MANIFEST, "application/vnd.example.sig",
	    other, 44);
	assert_int_equal(meta_manifest_put(f->m, "r", &sig, NULL, 0, NULL), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &sbom, NULL, 0, NULL), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &sig2, NULL, 0, NULL), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &unrelated, NULL, 0, NULL), 0);
	/* The same referrer in another repository is not listed here. */
	assert_int_equal(meta_manifest_put(f->m, "elsewhere", &sig, NULL, 0, NULL), 0);

	memset(&r, 0, sizeof(r));
	assert_int_equal(meta_referrers(f->m, "r", subject, NULL, "", 100, ref_cb, &r, &more), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(more, 0);
	/* Ordered by digest. */
	for (int i = 1; i < r.n; i++)
		assert_true(strcmp(r.mf[i - 1].digest, r.mf[i].digest) < 0);
	/* Pages: two, then the one after the second. */
	{
		char second[sizeof(r.mf[1].digest)], third[sizeof(r.mf[2].digest)];

		memcpy(second, r.mf[1].digest, sizeof(second));
		memcpy(third, r.mf[2].digest, sizeof(third));
		memset(&r, 0, sizeof(r));
		assert_int_equal(meta_referrers(f->m, "r", subject, NULL, "", 2, ref_cb, &r, &more), 0);
		assert_int_equal(r.n, 2);
		assert_int_equal(more, 1);
		assert_string_equal(r.mf[1].digest, second);
		memset(&r, 0, sizeof(r));
		assert_int_equal(meta_referrers(f->m, "r", subject, NULL, second, 2, ref_cb, &r, &more), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(more, 0);
		assert_string_equal(r.mf[0].digest, third);
		memset(&r, 0, sizeof(r));
		assert_int_equal(meta_referrers(f->m, "r", subject, NULL, "", 3, ref_cb, &r, &more), 0);
		assert_int_equal(r.n, 3);
		assert_int_equal(more, 0);
	}
	for (int i = 0; i < r.n; i++) {
		const struct meta_manifest *want = strcmp(r.mf[i].digest, sig.digest) == 0 ? &sig :
		    strcmp(r.mf[i].digest, sbom.digest) == 0 ? &sbom : &sig2;

		assert_string_equal(r.mf[i].digest, want->digest);
		assert_string_equal(r.mf[i].media_type, want->media_type);
		assert_string_equal(r.mf[i].artifact_type, want->artifact_type);
		assert_string_equal(r.mf[i].subject, subject);
		assert_int_equal(r.mf[i].size, want->size);
	}

	/* Filtered by artifact type. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(meta_referrers(f->m, "r", subject, "application/spdx+json", "", 100, ref_cb, &r, &more), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.mf[0].digest, sbom.digest);
	memset(&r, 0, sizeof(r));
	assert_int_equal(meta_referrers(f->m, "r", subject, "application/vnd.example.sig", "", 100, ref_cb,
	    &r, &more), 0);
	assert_int_equal(r.n, 2);
	assert_true(strcmp(r.mf[0].digest, r.mf[1].digest) < 0);
	for (int i = 0; i < 2; i++)
		assert_string_equal(r.mf[i].artifact_type, "application/vnd.example.sig");
	memset(&r, 0, sizeof(r));
	assert_int_equal(meta_referrers(f->m, "r", subject, "application/none", "", 100, ref_cb, &r, &more), 0);
	assert_int_equal(r.n, 0);

	/* Nothing refers to the referrers themselves. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(meta_referrers(f->m, "r", sig.digest, NULL, "", 100, ref_cb, &r, &more), 0);
	assert_int_equal(r.n, 0);
	/* Deleting a referrer drops it from the list. */
	assert_int_equal(meta_manifest_delete(f->m, "r", sig.digest), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(meta_referrers(f->m, "r", subject, NULL, "", 100, ref_cb, &r, &more), 0);
	assert_int_equal(r.n, 2);

	memset(&r, 0, sizeof(r));
	assert_int_equal(meta_referrers(f->m, "no/such", subject, NULL, "", 100, ref_cb, &r, &more),
	    -ERR_NAME_UNKNOWN);
	assert_int_equal(r.n, 0);
}
/* Several tags in one put (a push by digest with ?tag= parameters): all
 * move together with the manifest row, or, when the put fails, none does. */
static void
test_manifest_put_tags(void **state)
{
	struct fixture *f = *state;
	struct meta_manifest m1 = mk_manifest(dg("t1"), MT_MANIFEST, "", "", 10);
	struct meta_manifest m2 = mk_manifest(dg("t2"), MT_MANIFEST, "", "", 20);
	const char *three[] = {"a", "b", "c"};
	const char *moving[] = {"b", "d"};
	/* A reference that must be present and is not: the put fails inside
	 * its transaction, after the manifest row was written. */
	struct meta_ref missing[] = {{dg("absent"), 0, 0}};
	struct meta_ref sparse[] = {{dg("absent"), 0, 1}, {dg("child"), 1, 1}};
	struct meta_manifest got;

	assert_int_equal(meta_manifest_put_tags(f->m, "r", &m1, NULL, 0, three, 3), 0);
	tags(f->m, "r", "", 100, "a|b|c", 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(meta_tag_get(f->m, "r", three[i], &got), 0);
		assert_string_equal(got.digest, m1.digest);
	}
	assert_int_equal(meta_manifest_put_tags(f->m, "r", &m2, missing, 1, moving, 2),
	    -ERR_MANIFEST_BLOB_UNKNOWN);
	assert_int_equal(meta_manifest_get(f->m, "r", m2.digest, &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_tag_get(f->m, "r", "b", &got), 0);
	assert_string_equal(got.digest, m1.digest);
	tags(f->m, "r", "", 100, "a|b|c", 0);
	/* Sparse: absent blob and child, not checked; b moves, d appears. */
	assert_int_equal(meta_manifest_put_tags(f->m, "r", &m2, sparse, 2, moving, 2), 0);
	assert_int_equal(meta_tag_get(f->m, "r", "b", &got), 0);
	assert_string_equal(got.digest, m2.digest);
	assert_int_equal(meta_tag_get(f->m, "r", "d", &got), 0);
	assert_string_equal(got.digest, m2.digest);
	assert_int_equal(meta_tag_get(f->m, "r", "a", &got), 0);
	assert_string_equal(got.digest, m1.digest);
	tags(f->m, "r", "", 100, "a|b|c|d", 0);
	/* No tags at all is a put without a tag. */
	assert_int_equal(meta_manifest_put_tags(f->m, "r", &m1, NULL, 0, NULL, 0), 0);
	tags(f->m, "r", "", 100, "a|b|c|d", 0);
}


static int
gc_repo_id_cb(void *arg, const struct meta_gc_row *row)
{
	*(int64_t *)arg = row->repo_id;
	return 0;
}

/* Garbage collection's deletions share batch transactions
 * (meta_sqlite.c): each still re-checks the row, what a batch deleted is
 * committed before the next listing (or read_end), and then no lock is
 * left for other connections. */
static void
test_gc_batch(void **state)
{
	struct fixture *f = *state;
	struct meta_manifest a = mk_manifest(dg("ga"), MT_MANIFEST, "", "", 10);
	struct meta_manifest b = mk_manifest(dg("gb"), MT_MANIFEST, "", "", 10);
	struct meta_manifest c = mk_manifest(dg("gc"), MT_MANIFEST, "", "", 10);
	struct meta_manifest got;
	struct meta *m2;
	int64_t repo_id = 0, later = (int64_t)time(NULL) + 3600;
	int removed;

	assert_int_equal(meta_manifest_put(f->m, "r", &a, NULL, 0, NULL), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &b, NULL, 0, NULL), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &c, NULL, 0, "kept"), 0);
	assert_int_equal(meta_gc_manifests(f->m, gc_repo_id_cb, &repo_id), 0);
	assert_true(repo_id > 0);
	assert_non_null(m2 = open_dir(f->dir));

	assert_int_equal(meta_gc_manifest_delete(f->m, repo_id, a.digest, later, &removed), 0);
	assert_int_equal(removed, 1);
	/* Deleted once only, even inside the same batch. */
	assert_int_equal(meta_gc_manifest_delete(f->m, repo_id, a.digest, later, &removed), 0);
	assert_int_equal(removed, 0);
	/* A tagged manifest stays; one created since `before` stays. */
	assert_int_equal(meta_gc_manifest_delete(f->m, repo_id, c.digest, later, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(meta_gc_manifest_delete(f->m, repo_id, b.digest, 0, &removed), 0);
	assert_int_equal(removed, 0);
	/* The batch is committed at the end of the run's last call. */
	meta_gc_read_end(f->m);
	assert_int_equal(meta_manifest_get(m2, "r", a.digest, &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_manifest_get(m2, "r", b.digest, &got), 0);
	/* No lock is left: another connection writes at once. */
	assert_int_equal(meta_manifest_put(m2, "r", &a, NULL, 0, "back"), 0);

	/* A listing commits a pending batch first. */
	assert_int_equal(meta_gc_manifest_delete(f->m, repo_id, b.digest, later, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(meta_gc_manifests(f->m, gc_repo_id_cb, &repo_id), 0);
	assert_int_equal(meta_manifest_get(m2, "r", b.digest, &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_manifest_put(m2, "r", &b, NULL, 0, NULL), 0);

	/* And closing the connection commits it too. */
	assert_int_equal(meta_gc_manifest_delete(f->m, repo_id, b.digest, later, &removed), 0);
	assert_int_equal(removed, 1);
	meta_close(f->m);
	f->m = open_dir(f->dir);
	assert_non_null(f->m);
	assert_int_equal(meta_manifest_get(m2, "r", b.digest, &got), -ERR_MANIFEST_UNKNOWN);
	meta_close(m2);
}

/* One integer from the database under f (a second connection: WAL lets it
 * read while the backend has the file open). */
static long long
db_int(struct fixture *f, const char *sql)
{
	char path[PATH_MAX];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v;

	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
db_exec(struct fixture *f, const char *sql)
{
	char path[PATH_MAX];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* The cached blob x is the next eviction (want 1) or not evictable. */
static void
assert_evictable(struct meta *m, const char *x, int want)
{
	char next[META_PROXY_DIGEST_MAX];
	uint64_t size = 0;
	int rc = meta_proxy_evict_next(m, next, &size);

	if (want) {
		assert_int_equal(rc, 0);
		assert_string_equal(next, x);
	} else {
		assert_int_equal(rc, -ERR_BLOB_UNKNOWN);
		assert_int_equal(meta_proxy_evict(m, x), -ERR_BLOB_UNKNOWN);
	}
}

#define ABSENT_PAIRS "SELECT count(*) FROM manifest_refs_absent"

/* Schema step 5 -> 6 (issue 19): references are indexed by (repo_id, ref),
 * none by ref alone, so a collection's deletions of one repository's
 * references land on few pages.  The one lookup by ref across
 * repositories, a cached blob's eviction, still sees a local manifest's
 * reference wherever it is: in a repository that holds the blob, in one
 * that never did (sparse), in one that unlinked it since; and
 * manifest_refs_absent holds exactly the pairs of the last two kinds,
 * whichever statement made or unmade them. */
static void
test_refs_by_repo(void **state)
{
	struct fixture *f = *state;
	const char *x = dg("cached-x"), *y = dg("local-y");
	struct meta_manifest sparse = mk_manifest(dg("sparse"), MT_MANIFEST, "", "", 10);
	struct meta_manifest held = mk_manifest(dg("held"), MT_MANIFEST, "", "", 11);
	struct meta_manifest in_cache = mk_manifest(dg("in-cache"), MT_MANIFEST, "", "", 12);
	struct meta_ref rx = {x, 0, 1}, rxy[2] = {{x, 0, 0}, {y, 0, 0}};

	{
		char path[PATH_MAX];
		sqlite3 *db;
		sqlite3_stmt *st;
		const char *cols;

		snprintf(path, sizeof(path), "%s/meta.db", f->dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(name, ',') FROM "
		    "(SELECT name FROM pragma_index_info('manifest_refs_repo_ref') ORDER BY seqno)",
		    -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		cols = (const char *)sqlite3_column_text(st, 0);
		assert_string_equal(cols != NULL ? cols : "(no such index)", "repo_id,ref,is_manifest");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	/* No index of manifest_refs starts with ref. */
	assert_int_equal(db_int(f, "SELECT count(*) FROM pragma_index_list('manifest_refs') l, "
	    "pragma_index_info(l.name) i WHERE i.seqno = 0 AND i.name = 'ref'"), 0);

	assert_int_equal(meta_proxy_link(f->m, "up/lib", "hub", x, 100), 0);
	assert_evictable(f->m, x, 1);

	/* A sparse manifest in a repository that never held x. */
	assert_int_equal(meta_manifest_put(f->m, "sparse", &sparse, &rx, 1, "t"), 0);
	assert_int_equal(db_int(f, ABSENT_PAIRS), 1);
	assert_evictable(f->m, x, 0);
	assert_int_equal(meta_manifest_delete(f->m, "sparse", sparse.digest), 0);
	assert_int_equal(db_int(f, ABSENT_PAIRS), 0);
	assert_evictable(f->m, x, 1);

	/* A local manifest in the cached repository itself, which holds x
	 * only as cached. */
	assert_int_equal(meta_manifest_put(f->m, "up/lib", &in_cache, &rx, 1, NULL), 0);
	assert_int_equal(db_int(f, ABSENT_PAIRS), 0);
	assert_evictable(f->m, x, 0);
	assert_int_equal(meta_manifest_delete(f->m, "up/lib", in_cache.digest), 0);
	assert_evictable(f->m, x, 1);

	/* Held, then unlinked while a manifest still references it. */
	assert_int_equal(meta_blob_mount(f->m, "up/lib", "loc", x), 0);
	assert_int_equal(meta_blob_link(f->m, "loc", y, 5), 0);
	assert_int_equal(meta_manifest_put(f->m, "loc", &held, rxy, 2, "t"), 0);
	assert_int_equal(db_int(f, ABSENT_PAIRS), 0);
	assert_evictable(f->m, x, 0);
	assert_int_equal(meta_blob_unlink(f->m, "loc", x), 0);
	assert_int_equal(db_int(f, "SELECT count(*) FROM manifest_refs_absent a JOIN repositories r "
	    "ON r.id = a.repo_id WHERE r.name = 'loc'"), 1);
	assert_evictable(f->m, x, 0);
	/* Linked again: the pair goes; unlinked again: it is back. */
	assert_int_equal(meta_blob_mount(f->m, "up/lib", "loc", x), 0);
	assert_int_equal(db_int(f, ABSENT_PAIRS), 0);
	assert_int_equal(meta_blob_unlink(f->m, "loc", x), 0);
	assert_int_equal(db_int(f, ABSENT_PAIRS), 1);

	/* A database of schema 5 (the index on ref, no pairs) migrates: the
	 * pair is found again from the rows. */
	meta_close(f->m);
	f->m = NULL;
	db_exec(f, "DROP TRIGGER manifest_refs_absent_add; DROP TRIGGER manifest_refs_absent_drop;"
	    "DROP TRIGGER repo_blobs_absent_drop; DROP TRIGGER repo_blobs_absent_add;"
	    "DROP TABLE manifest_refs_absent; DROP INDEX manifest_refs_repo_ref;"
	    "CREATE INDEX manifest_refs_ref ON manifest_refs(ref); PRAGMA user_version = 5;");
	assert_non_null(f->m = open_dir(f->dir));
	assert_int_equal(meta_schema_version(f->m), 6);
	assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
	    "name = 'manifest_refs_ref'"), 0);
	assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"), 4);
	assert_int_equal(db_int(f, ABSENT_PAIRS), 1);
	assert_evictable(f->m, x, 0);

	/* The last reference goes: x may go, and goes. */
	assert_int_equal(meta_manifest_delete(f->m, "loc", held.digest), 0);
	assert_int_equal(db_int(f, ABSENT_PAIRS), 0);
	assert_evictable(f->m, x, 1);
	assert_int_equal(meta_proxy_evict(f->m, x), 0);
	assert_int_equal(db_int(f, "SELECT count(*) FROM blobs WHERE cached = 1"), 0);
}

/* A writer waiting for the lock a collection's batch holds. */
struct waiter {
	struct meta *m;
	struct meta_manifest mf;
	int rc;
	int done;
};

static void *
waiter_run(void *arg)
{
	struct waiter *w = arg;

	w->rc = meta_manifest_put(w->m, "r", &w->mf, NULL, 0, "w");
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The counter in <db>-wait; 0 if there is none. */
static uint32_t
waiters_count(const char *dir)
{
	char path[PATH_MAX];
	uint32_t v = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/meta.db-wait", dir);
	if ((fd = open(path, O_RDONLY)) >= 0) {
		if (pread(fd, &v, sizeof(v), 0) != (ssize_t)sizeof(v))
			v = 0;
		close(fd);
	}
	return v;
}

/* A writer that waits for a collection's batch signals it through
 * <db>-wait, and the batch commits at its next deletion instead of at its
 * size or age (100 ms): the writer waits for one deletion, not a batch. */
static void
test_gc_yield(void **state)
{
	struct fixture *f = *state;
	struct meta_manifest a = mk_manifest(dg("ya"), MT_MANIFEST, "", "", 10);
	struct meta_manifest b = mk_manifest(dg("yb"), MT_MANIFEST, "", "", 10);
	struct meta_manifest got;
	struct waiter w = {.mf = mk_manifest(dg("yw"), MT_MANIFEST, "", "", 10)};
	int64_t repo_id = 0, later = (int64_t)time(NULL) + 3600;
	uint32_t before;
	pthread_t t;
	int removed, i;

	assert_int_equal(meta_manifest_put(f->m, "r", &a, NULL, 0, NULL), 0);
	assert_int_equal(meta_manifest_put(f->m, "r", &b, NULL, 0, NULL), 0);
	assert_int_equal(meta_gc_manifests(f->m, gc_repo_id_cb, &repo_id), 0);
	assert_non_null(w.m = open_dir(f->dir));
	before = waiters_count(f->dir);

	/* The batch begins and holds the lock; the writer waits for it. */
	assert_int_equal(meta_gc_manifest_delete(f->m, repo_id, a.digest, later, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(pthread_create(&t, NULL, waiter_run, &w), 0);
	for (i = 0; i < 2000 && waiters_count(f->dir) == before; i++)
		usleep(1000);
	if (waiters_count(f->dir) == before)
		fail_msg("the waiting writer never bumped meta.db-wait");
	assert_false(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
	/* The next deletion sees it and commits the batch. */
	assert_int_equal(meta_gc_manifest_delete(f->m, repo_id, b.digest, later, &removed), 0);
	assert_int_equal(removed, 1);
	for (i = 0; i < 2000 && !__atomic_load_n(&w.done, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	if (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
		fail_msg("the writer still waits for the batch after 2 s");
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	/* Both deletions were committed, and the writer's row is there. */
	assert_int_equal(meta_manifest_get(w.m, "r", a.digest, &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_manifest_get(w.m, "r", b.digest, &got), -ERR_MANIFEST_UNKNOWN);
	assert_int_equal(meta_tag_get(w.m, "r", "w", &got), 0);
	assert_string_equal(got.digest, w.mf.digest);
	meta_gc_read_end(f->m);
	meta_close(w.m);
}


/* A commit that takes the write-ahead log past 1,000 pages does not copy
 * it back into the database itself (SQLite's automatic checkpoint, two
 * more fsyncs, in the commit of whichever connection comes then: a worker's
 * event loop): the checkpointer thread does, soon after. */
static void
test_checkpoint_off_thread(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct stat st;
	off_t size0;
	int before, others, i;

	snprintf(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(stat(path, &st), 0);
	size0 = st.st_size;
	/* 1,200 sessions in one transaction each: well past 1,000 pages of
	 * log (a commit writes at least a page). */
	others = __atomic_load_n(&all_syncs, __ATOMIC_RELAXED) - meta_syncs;
	for (i = 0; i < 1200; i++) {
		char id[64];

		snprintf(id, sizeof(id), "123e4567-e89b-42d3-a456-42661417%04d", i);
		before = meta_syncs;
		assert_int_equal(meta_upload_create(f->m, id, "a/b"), 0);
		/* The commit's own fsync of the log, plus one of the log's
		 * header when it starts over after a checkpoint; a checkpoint
		 * in the commit would add two more. */
		if (meta_syncs - before < 1 || meta_syncs - before > 2)
			fail_msg("commit %d made %d fsyncs on the committing thread", i,
			    meta_syncs - before);
	}
	/* The checkpointer copied the pages into the database file. */
	for (i = 0; i < 2000; i++) {
		assert_int_equal(stat(path, &st), 0);
		if (st.st_size > size0 &&
		    __atomic_load_n(&all_syncs, __ATOMIC_RELAXED) - meta_syncs > others)
			break;
		usleep(1000);
	}
	if (st.st_size <= size0)
		fail_msg("no checkpoint within 2 s: meta.db still %lld bytes, syncs elsewhere %d", (long long)st.st_size, __atomic_load_n(&all_syncs, __ATOMIC_RELAXED) - meta_syncs - others);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_schema),
		T(test_reopen_keeps_data),
		T(test_open_failures),
		T(test_open_backend),
		T(test_blob_scoping),
		T(test_sql_metacharacters),
		T(test_blob_find_repo),
		T(test_upload_lifecycle),
		T(test_upload_set_size_sync),
		T(test_upload_finish),
		T(test_upload_finish_rolls_back),
		T(test_manifest_and_tags),
		T(test_manifest_put_tags),
		T(test_manifest_delete),
		T(test_tag_delete),
		T(test_tag_list_paging),
		T(test_repo_list),
		T(test_referrers),
		T(test_refs_by_repo),
		T(test_gc_batch),
		T(test_gc_yield),
		T(test_checkpoint_off_thread),
	};
#undef T

	/* meta logs migrations at info level and expected failures at error
	 * level; keep the output to cmocka's. */
	log_set_level((enum log_level)(LOG_ERROR + 1));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
