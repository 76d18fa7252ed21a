/* SPDX-License-Identifier: ISC
 * test_store_durable.c — the blob store under the POSIX durability model:
 * after a power loss a file system keeps a directory entry only if its
 * directory was fsynced after the entry appeared, and a file's data only if
 * the file was fsynced.  The store's mkdir, link, rename, renameat2, fsync
 * and fdatasync calls are interposed (the Makefile links this test with
 * -Wl,--wrap=...), every entry they create is recorded, and an fsync of a
 * directory makes the entries then in it durable.  The tests assert that
 * every entry on the path <root>/blobs/<alg>/<xx>/<hex> is durable, and the
 * blob's data synced, when the call that acknowledges it returns — also
 * when another store (another process) or another call of the same store
 * (another worker) made a directory on the way and has not yet made it
 * durable: both are replayed deterministically from inside the interposed
 * call, between the other party's mkdir or link and its fsync.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "log.h"
#include "store.h"

#define ID1 "123e4567-e89b-42d3-a456-426614174001"
#define ID2 "123e4567-e89b-42d3-a456-426614174002"

/* ---- the model ---- */

#define MODEL_ENTRIES 256
#define MODEL_INODES 64

struct model_entry {
	char path[PATH_MAX];
	int durable;
};

static struct model_entry model_ents[MODEL_ENTRIES];
static size_t model_n;
static ino_t model_synced[MODEL_INODES];	/* inodes whose data an fsync covered */
static size_t model_nsynced;

/* One deferred call, run once right after the interposed op on a path
 * ending in hook_suffix succeeded: the other party's move. */
static const char *hook_op;
static const char *hook_suffix;
static void (*hook_fn)(void);

int __real_mkdir(const char *path, mode_t mode);
int __real_link(const char *from, const char *to);
int __real_rename(const char *from, const char *to);
int __real_renameat2(int ofd, const char *from, int nfd, const char *to, unsigned flags);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __wrap_mkdir(const char *path, mode_t mode);
int __wrap_link(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);
int __wrap_renameat2(int ofd, const char *from, int nfd, const char *to, unsigned flags);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);

static void
model_reset(void)
{
	model_n = 0;
	model_nsynced = 0;
	hook_op = hook_suffix = NULL;
	hook_fn = NULL;
}

/* The canonical form of a path whose parent exists (so the fsync side,
 * which sees /proc/self/fd names, matches). */
static int
model_canon(const char *path, char *out, size_t cap)
{
	char parent[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof(parent))
		return -1;
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	if (realpath(parent, real) == NULL)
		return -1;
	return snprintf(out, cap, "%s%s", real, slash) < (int)cap ? 0 : -1;
}

static void
model_created(const char *path)
{
	char canon[PATH_MAX];
	size_t i;

	if (model_canon(path, canon, sizeof(canon)) != 0)
		fail_msg("model: cannot resolve %s", path);
	for (i = 0; i < model_n; i++)
		if (strcmp(model_ents[i].path, canon) == 0)
			break;
	if (i == model_n) {
		if (model_n == MODEL_ENTRIES)
			fail_msg("model: more than %d entries", MODEL_ENTRIES);
		snprintf(model_ents[model_n++].path, PATH_MAX, "%s", canon);
	}
	model_ents[i].durable = 0;
}

/* fsync(fd): a directory makes the entries now in it durable; a file
 * its data. */
static void
model_synced_fd(int fd)
{
	char link[64], path[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		if (model_nsynced < MODEL_INODES)
			model_synced[model_nsynced++] = st.st_ino;
		return;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) < 0)
		return;
	path[n] = '\0';
	for (size_t i = 0; i < model_n; i++) {
		const char *slash = strrchr(model_ents[i].path, '/');

		if ((size_t)(slash - model_ents[i].path) == (size_t)n &&
		    strncmp(model_ents[i].path, path, (size_t)n) == 0)
			model_ents[i].durable = 1;
	}
}

static void
model_hook(const char *op, const char *path)
{
	size_t n = strlen(path), k;
	void (*fn)(void) = hook_fn;

	if (fn == NULL || strcmp(op, hook_op) != 0)
		return;
	k = strlen(hook_suffix);
	if (n < k || strcmp(path + n - k, hook_suffix) != 0)
		return;
	hook_fn = NULL;		/* once: the nested call passes here too */
	fn();
}

int
__wrap_mkdir(const char *path, mode_t mode)
{
	int rc = __real_mkdir(path, mode), err = errno;

	if (rc == 0) {
		model_created(path);
		model_hook("mkdir", path);
	}
	errno = err;
	return rc;
}

int
__wrap_link(const char *from, const char *to)
{
	int rc = __real_link(from, to), err = errno;

	if (rc == 0) {
		model_created(to);
		model_hook("link", to);
	}
	errno = err;
	return rc;
}

int
__wrap_rename(const char *from, const char *to)
{
	int rc = __real_rename(from, to), err = errno;

	if (rc == 0)
		model_created(to);
	errno = err;
	return rc;
}

int
__wrap_renameat2(int ofd, const char *from, int nfd, const char *to, unsigned flags)
{
	int rc = __real_renameat2(ofd, from, nfd, to, flags), err = errno;

	/* The store passes AT_FDCWD and absolute paths. */
	if (rc == 0)
		model_created(to);
	errno = err;
	return rc;
}

int
__wrap_fsync(int fd)
{
	int rc = __real_fsync(fd), err = errno;

	if (rc == 0)
		model_synced_fd(fd);
	errno = err;
	return rc;
}

int
__wrap_fdatasync(int fd)
{
	int rc = __real_fdatasync(fd), err = errno;

	/* Directory entries need fsync proper; fdatasync of a file is as
	 * good for its data. */
	if (rc == 0)
		model_synced_fd(fd);
	errno = err;
	return rc;
}

/* What would survive a power loss now: the first entry on path (from the
 * top) that would be lost, or NULL if all of path, and the data of the file
 * it names, would survive.  Entries the model did not see created existed
 * before the test (the mkdtemp directory and above). */
static const char *
model_lost(const char *path)
{
	static char why[PATH_MAX + 64];
	char canon[PATH_MAX];
	struct stat st;

	if (model_canon(path, canon, sizeof(canon)) != 0)
		return "cannot resolve the path";
	for (size_t i = 0; i < model_n; i++) {
		size_t k = strlen(model_ents[i].path);

		if (strncmp(canon, model_ents[i].path, k) == 0 && (canon[k] == '/' || canon[k] == '\0') &&
		    !model_ents[i].durable) {
			snprintf(why, sizeof(why), "entry %s", model_ents[i].path);
			return why;
		}
	}
	if (stat(canon, &st) != 0)
		return "no file";
	if (S_ISREG(st.st_mode)) {
		for (size_t i = 0; i < model_nsynced; i++)
			if (model_synced[i] == st.st_ino)
				return NULL;
		return "the file's data";
	}
	return NULL;
}

#define assert_durable(path)                                                             \
	do {                                                                             \
		const char *lost_ = model_lost(path);                                    \
		if (lost_ != NULL)                                                       \
			fail_msg("%s: after a power loss %s would be gone", path, lost_); \
	} while (0)

/* ---- fixture ---- */

struct fixture {
	char dir[64];		/* the mkdtemp directory */
	char root[128];		/* dir/root: store_open creates it */
	struct store *s;
};

static struct fixture *cur;	/* for the hooks */
static struct store *other;	/* a second store on the same root: another process */
static struct digest hook_digest;
static char hook_path[PATH_MAX];
static const char *hook_lost;

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
	model_reset();
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_durable.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	cur = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	if (f->s != NULL)
		store_close(f->s);
	if (other != NULL && other != f->s)
		store_close(other);
	other = NULL;
	cur = NULL;
	model_reset();
	rc = nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

static const char *
blob_path(const struct fixture *f, const struct digest *d, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/blobs/%s/%.2s/%s", f->root, digest_alg_name(d->alg), digest_hex(d),
	    digest_hex(d));
	return buf;
}

/* Two small contents whose sha256 digests share their first two hex
 * digits (so their blobs share a prefix directory). */
static void
same_prefix(char a[32], struct digest *da, char b[32], struct digest *db)
{
	struct digest seen[257];
	char text[257][32];

	for (int i = 0; i < 257; i++) {
		snprintf(text[i], sizeof(text[i]), "blob %d", i);
		assert_int_equal(digest_buffer(DIGEST_SHA256, text[i], strlen(text[i]), &seen[i]), 0);
		for (int j = 0; j < i; j++) {
			if (strncmp(digest_hex(&seen[i]), digest_hex(&seen[j]), 2) == 0) {
				memcpy(a, text[j], 32);
				*da = seen[j];
				memcpy(b, text[i], 32);
				*db = seen[i];
				return;
			}
		}
	}
	fail_msg("no two digests share a prefix (impossible: 257 > 256)");
}

/* Push data as an upload (spool, hard link into place). */
static void
push(struct store *s, const char *id, const void *data, size_t len, const struct digest *d)
{
	int fd;

	assert_int_equal(store_upload_create(s, id), 0);
	assert_int_equal(store_upload_open(s, id, 0, &fd), 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(store_upload_commit(s, id, d), 0);
}

/* ---- tests ---- */

/* A fresh root: the tree store_open makes is durable when it returns. */
static void
test_open_fresh_root(void **state)
{
	struct fixture *f = *state;
	static const char *const dirs[] = {"", "/blobs", "/blobs/sha256", "/blobs/sha512", "/uploads"};
	char path[PATH_MAX];

	assert_non_null(f->s = store_open(f->root, 1));
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", f->root, dirs[i]);
		assert_durable(path);
	}
}

/* The first blobs of a fresh root, both ways in (upload, small put):
 * durable when acknowledged. */
static void
test_first_blobs(void **state)
{
	struct fixture *f = *state;
	static const char layer[] = "a layer", manifest[] = "{\"schemaVersion\":2}";
	struct digest d1, d2;
	char path[PATH_MAX];

	assert_non_null(f->s = store_open(f->root, 1));
	assert_int_equal(digest_buffer(DIGEST_SHA256, layer, sizeof(layer) - 1, &d1), 0);
	push(f->s, ID1, layer, sizeof(layer) - 1, &d1);
	assert_durable(blob_path(f, &d1, path, sizeof(path)));
	assert_int_equal(digest_buffer(DIGEST_SHA512, manifest, sizeof(manifest) - 1, &d2), 0);
	assert_int_equal(store_blob_put(f->s, &d2, manifest, sizeof(manifest) - 1), 0);
	assert_durable(blob_path(f, &d2, path, sizeof(path)));
}

/* The other party's blob, put while the first is between its mkdir of
 * the shared prefix directory and its fsync of blobs/sha256. */
/* hook_lost, kept past the next model_lost call. */
static void
hook_record(const char *lost)
{
	static char buf[PATH_MAX + 64];

	hook_lost = NULL;
	if (lost != NULL) {
		snprintf(buf, sizeof(buf), "%s", lost);
		hook_lost = buf;
	}
}

static void
hook_put_other(void)
{
	hook_lost = NULL;
	if (store_blob_put(other, &hook_digest, hook_path, strlen(hook_path)) != 0) {
		hook_lost = "the nested store_blob_put failed";
		return;
	}
	blob_path(cur, &hook_digest, hook_path, sizeof(hook_path));
	hook_record(model_lost(hook_path));
}

static void
race_on_prefix(struct fixture *f, int same_store)
{
	char a[32], b[32], path[PATH_MAX];
	struct digest da, db;
	char suffix[8];

	assert_non_null(f->s = store_open(f->root, 1));
	assert_non_null(other = same_store ? f->s : store_open(f->root, 1));
	same_prefix(a, &da, b, &db);
	/* hook_path carries b's content into the hook, then b's path out. */
	snprintf(hook_path, sizeof(hook_path), "%s", b);
	hook_digest = db;
	snprintf(suffix, sizeof(suffix), "/%.2s", digest_hex(&da));
	hook_op = "mkdir";
	hook_suffix = suffix;
	hook_fn = hook_put_other;
	hook_lost = "the hook never ran";
	assert_int_equal(store_blob_put(f->s, &da, a, strlen(a)), 0);
	if (hook_lost != NULL)
		fail_msg("%s acknowledged while the other party's mkdir was not yet fsynced: %s would be lost",
		    hook_path, hook_lost);
	assert_durable(blob_path(f, &da, path, sizeof(path)));
	assert_durable(blob_path(f, &db, path, sizeof(path)));
}

/* Another process made the prefix directory (mkdir here says EEXIST). */
static void
test_prefix_race_other_store(void **state)
{
	race_on_prefix(*state, 0);
}

/* Another worker of this store made it. */
static void
test_prefix_race_same_store(void **state)
{
	race_on_prefix(*state, 1);
}

/* The same blob pushed by a second party while the first is between its
 * link and its fsync of the prefix directory: the second's link fails with
 * EEXIST, and it must not acknowledge a name that is not durable yet. */
static void
hook_push_same(void)
{
	char path[PATH_MAX];
	int fd;

	hook_lost = "the nested push failed";
	if (store_upload_create(other, ID2) != 0 || store_upload_open(other, ID2, 0, &fd) != 0)
		return;
	if (write(fd, "same", 4) != 4 || close(fd) != 0)
		return;
	if (store_upload_commit(other, ID2, &hook_digest) != 0)
		return;
	blob_path(cur, &hook_digest, path, sizeof(path));
	hook_record(model_lost(path));
}

static void
test_same_blob_race(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	assert_non_null(f->s = store_open(f->root, 1));
	assert_non_null(other = store_open(f->root, 1));
	assert_int_equal(digest_buffer(DIGEST_SHA256, "same", 4, &hook_digest), 0);
	hook_op = "link";
	hook_suffix = digest_hex(&hook_digest);
	hook_fn = hook_push_same;
	hook_lost = "the hook never ran";
	push(f->s, ID1, "same", 4, &hook_digest);
	if (hook_lost != NULL)
		fail_msg("a second push of %s acknowledged before its name was durable: %s would be lost",
		    hook_digest.str, hook_lost);
	assert_durable(blob_path(f, &hook_digest, path, sizeof(path)));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_fresh_root),
		T(test_first_blobs),
		T(test_prefix_race_other_store),
		T(test_prefix_race_same_store),
		T(test_same_blob_race),
	};
#undef T

	log_set_level((enum log_level)(LOG_ERROR + 1));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
