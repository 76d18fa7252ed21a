/* SPDX-License-Identifier: ISC
 * test_store.c — the filesystem blob store against a fresh mkdtemp
 * directory: the layout on disk (<root>/blobs/<alg>/<2 hex>/<hex>,
 * <root>/uploads/<id>), commit by rename with an existing blob left alone,
 * upload truncation and the short-spool check, and the blob calls.  Every
 * check looks at the files themselves, not just at return codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "errors.h"
#include "log.h"
#include "store.h"

#define ID1 "123e4567-e89b-42d3-a456-426614174001"
#define ID2 "123e4567-e89b-42d3-a456-426614174002"

struct fixture {
	char dir[64];		/* the mkdtemp directory */
	char root[128];		/* dir/root: store_open creates it */
	struct store *s;
};

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
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	if ((f->s = store_open(f->root, 1)) == NULL) {
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

	store_close(f->s);
	rc = nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

/* Path under the fixture's root. */
static const char *
path_of(const struct fixture *f, const char *rel, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", f->root, rel);
	return buf;
}

static const char *
blob_path(const struct fixture *f, const struct digest *d, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/blobs/%s/%.2s/%s", f->root, digest_alg_name(d->alg), digest_hex(d),
	    digest_hex(d));
	return buf;
}

static const char *
upload_path(const struct fixture *f, const char *id, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/uploads/%s", f->root, id);
	return buf;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Whole file into a malloc'd NUL-terminated buffer. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		fail_msg("open %s failed", path);
	assert_int_equal(fstat(fd, &st), 0);
	assert_non_null(buf = malloc((size_t)st.st_size + 1));
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void
assert_file_is(const char *path, const void *data, size_t len)
{
	size_t got;
	char *buf = slurp(path, &got);

	if (got != len)
		fail_msg("%s: %zu bytes, want %zu", path, got, len);
	assert_memory_equal(buf, data, len);
	free(buf);
}

static void
fd_read_all(int fd, const void *data, size_t len)
{
	char *buf = malloc(len + 1);

	assert_non_null(buf);
	assert_int_equal(read(fd, buf, len + 1), (ssize_t)len);
	assert_memory_equal(buf, data, len);
	free(buf);
}

static void
write_all(int fd, const void *data, size_t len)
{
	assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Entries of a directory other than . and .. */
static int
count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Upload data as one spool and commit it under its sha256 digest. */
static void
push(struct fixture *f, const char *id, const void *data, size_t len, struct digest *d)
{
	int fd;

	assert_int_equal(digest_buffer(DIGEST_SHA256, data, len, d), 0);
	assert_int_equal(store_upload_create(f->s, id), 0);
	assert_int_equal(store_upload_open(f->s, id, 0, &fd), 0);
	write_all(fd, data, len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(store_upload_commit(f->s, id, d), 0);
	/* The row would be committed here; then the spool is settled. */
	assert_int_equal(store_upload_settle(f->s, id, d), 0);
}

static void
test_open_creates_dirs(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct store *again;

	assert_true(is_dir(f->root));
	assert_true(is_dir(path_of(f, "blobs", p, sizeof(p))));
	assert_true(is_dir(path_of(f, "blobs/sha256", p, sizeof(p))));
	assert_true(is_dir(path_of(f, "blobs/sha512", p, sizeof(p))));
	assert_true(is_dir(path_of(f, "uploads", p, sizeof(p))));
	assert_string_equal(store_root(f->s), f->root);

	/* Opening an existing store is fine and changes nothing. */
	assert_non_null(again = store_open(f->root, 0));
	assert_string_equal(store_root(again), f->root);
	store_close(again);
	assert_int_equal(count_entries(path_of(f, "uploads", p, sizeof(p))), 0);
	assert_int_equal(count_entries(path_of(f, "blobs/sha256", p, sizeof(p))), 0);
}

static void
test_open_failures(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], *longroot;
	int fd;

	/* The root is a regular file. */
	path_of(f, "file", p, sizeof(p));
	assert_true((fd = open(p, O_WRONLY | O_CREAT, 0644)) >= 0);
	close(fd);
	assert_null(store_open(p, 1));

	/* A root path too long for the blob paths under it. */
	assert_non_null(longroot = malloc(PATH_MAX));
	memset(longroot, 'x', PATH_MAX - 1);
	longroot[0] = '/';
	longroot[PATH_MAX - 1] = '\0';
	assert_null(store_open(longroot, 1));
	free(longroot);
}

static void
test_upload_commit(void **state)
{
	struct fixture *f = *state;
	static const char data[] = "hello, registry";
	const size_t len = sizeof(data) - 1;
	char p[PATH_MAX];
	struct digest d;
	uint64_t size = 0;
	struct stat st;
	struct store_reader r;
	int fd;

	assert_int_equal(digest_buffer(DIGEST_SHA256, data, len, &d), 0);
	assert_int_equal(store_upload_create(f->s, ID1), 0);
	/* An empty spool file. */
	assert_int_equal(stat(upload_path(f, ID1, p, sizeof(p)), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);
	/* Creating the same upload again does not clobber it. */
	assert_int_not_equal(store_upload_create(f->s, ID1), 0);

	/* Two chunks. */
	assert_int_equal(store_upload_open(f->s, ID1, 0, &fd), 0);
	write_all(fd, data, 5);
	assert_int_equal(close(fd), 0);
	assert_int_equal(store_upload_open(f->s, ID1, 5, &fd), 0);
	write_all(fd, data + 5, len - 5);
	assert_int_equal(close(fd), 0);
	assert_file_is(p, data, len);

	/* What an earlier process received can be read back. */
	assert_int_equal(store_upload_open_read(f->s, ID1, &fd), 0);
	fd_read_all(fd, data, len);
	close(fd);

	assert_int_equal(store_blob_stat(f->s, &d, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(store_upload_commit(f->s, ID1, &d), 0);
	/* Until the row is committed the spool stays (hard-linked), so a
	 * failed commit leaves the session whole; settling drops it. */
	assert_true(exists(p));
	assert_int_equal(store_upload_settle(f->s, ID1, &d), 0);
	assert_false(exists(p));
	blob_path(f, &d, p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_file_is(p, data, len);
	assert_int_equal(store_blob_stat(f->s, &d, &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(store_blob_reader(f->s, &d, &r), 0);
	assert_int_equal(r.size, len);
	assert_true((fd = store_reader_take_fd(&r)) >= 0);
	store_reader_close(&r);
	fd_read_all(fd, data, len);
	close(fd);
	/* Nothing left in the spool directory. */
	assert_int_equal(count_entries(path_of(f, "uploads", p, sizeof(p))), 0);
}

static void
test_commit_same_content_twice(void **state)
{
	struct fixture *f = *state;
	static const char data[] = "same bytes twice";
	char p[PATH_MAX], u[PATH_MAX];
	struct digest d, d2;
	struct stat st1, st2;

	push(f, ID1, data, sizeof(data) - 1, &d);
	blob_path(f, &d, p, sizeof(p));
	assert_int_equal(stat(p, &st1), 0);

	push(f, ID2, data, sizeof(data) - 1, &d2);
	assert_string_equal(d.str, d2.str);
	/* The first file stays (same inode); the second spool is removed. */
	assert_int_equal(stat(p, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	assert_true(st1.st_dev == st2.st_dev);
	assert_file_is(p, data, sizeof(data) - 1);
	assert_false(exists(upload_path(f, ID2, u, sizeof(u))));
	assert_int_equal(count_entries(path_of(f, "uploads", u, sizeof(u))), 0);
}

static void
test_commit_same_content_twice_nosync(void **state)
{
	struct fixture *f = *state;
	static const char data[] = "no fsync either";
	char p[PATH_MAX];
	struct digest d;
	struct stat st1, st2;

	store_close(f->s);
	assert_non_null(f->s = store_open(f->root, 0));
	push(f, ID1, data, sizeof(data) - 1, &d);
	assert_int_equal(stat(blob_path(f, &d, p, sizeof(p)), &st1), 0);
	push(f, ID2, data, sizeof(data) - 1, &d);
	assert_int_equal(stat(p, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	assert_file_is(p, data, sizeof(data) - 1);
	assert_int_equal(count_entries(path_of(f, "uploads", p, sizeof(p))), 0);
}

static void
test_upload_open_truncates(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	int fd;

	upload_path(f, ID1, p, sizeof(p));
	assert_int_equal(store_upload_create(f->s, ID1), 0);
	assert_int_equal(store_upload_open(f->s, ID1, 0, &fd), 0);
	write_all(fd, "abcdefghij", 10);
	close(fd);

	/* Only 4 bytes were acknowledged: the rest is cut off and writing
	 * continues at offset 4. */
	assert_int_equal(store_upload_open(f->s, ID1, 4, &fd), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 4);
	assert_file_is(p, "abcd", 4);
	write_all(fd, "XY", 2);
	close(fd);
	assert_file_is(p, "abcdXY", 6);

	/* At the exact size nothing is cut. */
	assert_int_equal(store_upload_open(f->s, ID1, 6, &fd), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 6);
	write_all(fd, "Z", 1);
	close(fd);
	assert_file_is(p, "abcdXYZ", 7);

	/* Back to zero. */
	assert_int_equal(store_upload_open(f->s, ID1, 0, &fd), 0);
	close(fd);
	assert_file_is(p, "", 0);
}

static void
test_upload_shorter_than_recorded(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	int fd = -1, before;

	assert_int_equal(store_upload_create(f->s, ID1), 0);
	assert_int_equal(store_upload_open(f->s, ID1, 0, &fd), 0);
	write_all(fd, "abc", 3);
	close(fd);

	before = count_fds();
	assert_int_equal(store_upload_open(f->s, ID1, 10, &fd), -ERR_BLOB_UPLOAD_INVALID);
	assert_int_equal(store_upload_open(f->s, ID1, 4, &fd), -ERR_BLOB_UPLOAD_INVALID);
	/* No descriptor leaks on the error path, and the spool is untouched. */
	assert_int_equal(count_fds(), before);
	assert_file_is(upload_path(f, ID1, p, sizeof(p)), "abc", 3);
}

static void
test_upload_unknown(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct digest d;
	int fd, before = count_fds();

	assert_int_equal(store_upload_open(f->s, ID1, 0, &fd), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(store_upload_open_read(f->s, ID1, &fd), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(count_fds(), before);
	/* Removing a missing upload is not an error. */
	assert_int_equal(store_upload_remove(f->s, ID1), 0);

	/* Committing a spool that does not exist fails and creates nothing. */
	assert_int_equal(digest_buffer(DIGEST_SHA256, "x", 1, &d), 0);
	assert_int_not_equal(store_upload_commit(f->s, ID1, &d), 0);
	assert_false(exists(blob_path(f, &d, p, sizeof(p))));
	assert_int_equal(store_blob_stat(f->s, &d, &(uint64_t){0}), -ERR_BLOB_UNKNOWN);
}

static void
test_upload_remove(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	int fd;

	assert_int_equal(store_upload_create(f->s, ID1), 0);
	assert_int_equal(store_upload_open(f->s, ID1, 0, &fd), 0);
	write_all(fd, "data", 4);
	close(fd);
	assert_true(exists(upload_path(f, ID1, p, sizeof(p))));
	assert_int_equal(store_upload_remove(f->s, ID1), 0);
	assert_false(exists(p));
	assert_int_equal(store_upload_open(f->s, ID1, 0, &fd), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(store_upload_remove(f->s, ID1), 0);
}

static void
test_large_upload_in_chunks(void **state)
{
	struct fixture *f = *state;
	const size_t len = 3 * 1024 * 1024 + 123, chunk = 300000;
	unsigned char *data = malloc(len);
	struct digest d;
	char p[PATH_MAX];
	size_t off = 0;
	uint64_t size;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 131 + (i >> 9));
	assert_int_equal(store_upload_create(f->s, ID1), 0);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		int fd;

		assert_int_equal(store_upload_open(f->s, ID1, off, &fd), 0);
		write_all(fd, data + off, n);
		/* A chunk that is never acknowledged: cut off next time. */
		write_all(fd, "garbage", 7);
		close(fd);
		off += n;
	}
	{
		int fd;

		assert_int_equal(store_upload_open(f->s, ID1, len, &fd), 0);
		close(fd);
	}
	assert_int_equal(digest_buffer(DIGEST_SHA256, data, len, &d), 0);
	assert_int_equal(store_upload_commit(f->s, ID1, &d), 0);
	assert_file_is(blob_path(f, &d, p, sizeof(p)), data, len);
	assert_int_equal(store_blob_stat(f->s, &d, &size), 0);
	assert_int_equal(size, len);
	free(data);
}

/* The spool writer, with and without O_DIRECT: requests of odd sizes that
 * end mid-block, pieces that straddle the 1 MiB staging buffers (so writes
 * go to the background threads), a refused chunk cut off again, and a
 * request whose staged bytes are never flushed (a failed one) - the file
 * must hold exactly the acknowledged bytes every time. */
static void
spool_requests(struct fixture *f, int direct)
{
	static const size_t req[] = {1, 4095, 4097, 3 * 1048576 + 17, 511, 2 * 1048576, 100000};
	static const size_t piece[] = {1, 7, 4096, 65536, 1048576 + 3, 300001};
	size_t len = 0, off = 0, k = 0;
	unsigned char *data;
	struct store_spool *sp;
	struct digest d;
	char p[PATH_MAX];

	store_set_direct(f->s, direct);
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		len += req[i];
	assert_non_null(data = malloc(len));
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	assert_int_equal(store_upload_create(f->s, ID1), 0);
	for (size_t r = 0; r < sizeof(req) / sizeof(req[0]); r++) {
		size_t end = off + req[r];

		/* A refused chunk first: written, then cut off. */
		assert_int_equal(store_spool_open(f->s, ID1, off, UINT64_MAX, &sp), 0);
		assert_int_equal(store_spool_write(sp, "garbage!", 8), 0);
		assert_int_equal(store_spool_flush(sp), 0);
		assert_int_equal(store_spool_truncate(sp, off), 0);
		store_spool_close(sp);
		/* A request that fails before its staged bytes are flushed. */
		assert_int_equal(store_spool_open(f->s, ID1, off, UINT64_MAX, &sp), 0);
		assert_int_equal(store_spool_write(sp, data + off, req[r] < 9 ? req[r] : 9), 0);
		store_spool_close(sp);
		/* The accepted one. */
		assert_int_equal(store_spool_open(f->s, ID1, off, UINT64_MAX, &sp), 0);
		while (off < end) {
			size_t n = piece[k++ % (sizeof(piece) / sizeof(piece[0]))];

			n = end - off < n ? end - off : n;
			assert_int_equal(store_spool_write(sp, data + off, n), 0);
			off += n;
		}
		assert_int_equal(store_spool_flush(sp), 0);
		store_spool_close(sp);
		assert_file_is(upload_path(f, ID1, p, sizeof(p)), data, off);
	}
	assert_int_equal(digest_buffer(DIGEST_SHA256, data, len, &d), 0);
	assert_int_equal(store_upload_commit(f->s, ID1, &d), 0);
	assert_int_equal(store_upload_settle(f->s, ID1, &d), 0);
	assert_file_is(blob_path(f, &d, p, sizeof(p)), data, len);
	free(data);
}

static void
test_spool_direct(void **state)
{
	spool_requests(*state, 1);
}

static void
test_spool_plain(void **state)
{
	spool_requests(*state, 0);
}

/* Many uploads at once: the staging budget gives the first 1 MiB buffers,
 * the next ones 256 KiB, the rest plain writes; interleaved writes to all
 * of them must each land whole. */
static void
test_spool_many(void **state)
{
	struct fixture *f = *state;
	enum { N = 8 };
	static const char *const ids[N] = {
	    "123e4567-e89b-42d3-a456-426614174010", "123e4567-e89b-42d3-a456-426614174011",
	    "123e4567-e89b-42d3-a456-426614174012", "123e4567-e89b-42d3-a456-426614174013",
	    "123e4567-e89b-42d3-a456-426614174014", "123e4567-e89b-42d3-a456-426614174015",
	    "123e4567-e89b-42d3-a456-426614174016", "123e4567-e89b-42d3-a456-426614174017"};
	const size_t len = 3 * 1048576 + 4095, step = 200003;
	struct store_spool *sp[N];
	unsigned char *data;
	char p[PATH_MAX];

	store_set_direct(f->s, 1);
	assert_non_null(data = malloc(len));
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 2246822519u >> 11);
	for (int k = 0; k < N; k++) {
		assert_int_equal(store_upload_create(f->s, ids[k]), 0);
		assert_int_equal(store_spool_open(f->s, ids[k], 0, k == 7 ? 100 : UINT64_MAX, &sp[k]), 0);
	}
	for (size_t off = 0; off < len; off += step)
		for (int k = 0; k < N; k++) {
			/* Each upload gets a rotated copy, so a mix-up shows. */
			size_t n = len - off < step ? len - off : step;
			unsigned char *tmp = malloc(n);

			assert_non_null(tmp);
			for (size_t i = 0; i < n; i++)
				tmp[i] = (unsigned char)(data[off + i] + k);
			assert_int_equal(store_spool_write(sp[k], tmp, n), 0);
			free(tmp);
		}
	for (int k = 0; k < N; k++) {
		unsigned char *want = malloc(len);

		assert_non_null(want);
		assert_int_equal(store_spool_flush(sp[k]), 0);
		store_spool_close(sp[k]);
		for (size_t i = 0; i < len; i++)
			want[i] = (unsigned char)(data[i] + k);
		assert_file_is(upload_path(f, ids[k], p, sizeof(p)), want, len);
		free(want);
	}
	free(data);
}

static void
test_blob_put_stat_open_delete(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct digest d;
	uint64_t size = 0;
	struct stat st1, st2;
	struct store_reader r;
	char buf[8];
	size_t got;

	assert_int_equal(digest_buffer(DIGEST_SHA256, "{}", 2, &d), 0);
	assert_string_equal(d.str,
	    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
	assert_int_equal(store_blob_put(f->s, &d, "{}", 2), 0);
	path_of(f, "blobs/sha256/44/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
	    p, sizeof(p));
	assert_int_equal(stat(p, &st1), 0);
	assert_file_is(p, "{}", 2);
	/* The temporary file is gone. */
	assert_int_equal(count_entries(path_of(f, "uploads", p, sizeof(p))), 0);

	assert_int_equal(store_blob_stat(f->s, &d, &size), 0);
	assert_int_equal(size, 2);
	assert_int_equal(store_blob_reader(f->s, &d, &r), 0);
	assert_int_equal(r.size, 2);
	/* Through the reader, as a backend without files serves it. */
	assert_int_equal(store_reader_read(&r, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 2);
	assert_memory_equal(buf, "{}", 2);
	assert_int_equal(store_reader_read(&r, 1, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 1);
	assert_int_equal(buf[0], '}');
	assert_int_equal(store_reader_read(&r, 2, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 0);
	store_reader_close(&r);
	store_reader_close(&r);		/* idempotent */

	/* An existing blob is left as it is, whatever the caller passes. */
	assert_int_equal(store_blob_put(f->s, &d, "XX", 2), 0);
	blob_path(f, &d, p, sizeof(p));
	assert_int_equal(stat(p, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	assert_file_is(p, "{}", 2);

	assert_int_equal(store_blob_delete(f->s, &d), 0);
	assert_false(exists(p));
	assert_int_equal(store_blob_stat(f->s, &d, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(store_blob_reader(f->s, &d, &r), -ERR_BLOB_UNKNOWN);
	/* Deleting again is fine. */
	assert_int_equal(store_blob_delete(f->s, &d), 0);
	/* And it can come back. */
	assert_int_equal(store_blob_put(f->s, &d, "{}", 2), 0);
	assert_file_is(p, "{}", 2);
}

static void
test_blob_sha512_and_empty(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct digest d;
	uint64_t size = 99;

	assert_int_equal(digest_buffer(DIGEST_SHA512, "", 0, &d), 0);
	assert_int_equal(store_blob_put(f->s, &d, "", 0), 0);
	path_of(f, "blobs/sha512/cf/cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
	    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e", p, sizeof(p));
	assert_file_is(p, "", 0);
	assert_int_equal(store_blob_stat(f->s, &d, &size), 0);
	assert_int_equal(size, 0);
}

static void
test_blob_unknown(void **state)
{
	struct fixture *f = *state;
	struct digest d;
	uint64_t size;
	char *buf = (char *)"sentinel";
	struct store_reader r;
	size_t len;
	int before = count_fds();

	assert_int_equal(digest_parse("sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000", &d), 0);
	assert_int_equal(store_blob_stat(f->s, &d, &size), -ERR_BLOB_UNKNOWN);
	assert_int_equal(store_blob_reader(f->s, &d, &r), -ERR_BLOB_UNKNOWN);
	assert_int_equal(store_upload_reader(f->s, "no-such-upload", &r), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(store_blob_read(f->s, &d, 1024, &buf, &len), -ERR_BLOB_UNKNOWN);
	assert_null(buf);
	assert_int_equal(count_fds(), before);
}

static void
test_blob_read(void **state)
{
	struct fixture *f = *state;
	static const char body[] = "{\"schemaVersion\":2}";
	const size_t n = sizeof(body) - 1;
	struct digest d;
	char *buf;
	size_t len = 0;
	int before;

	assert_int_equal(digest_buffer(DIGEST_SHA256, body, n, &d), 0);
	assert_int_equal(store_blob_put(f->s, &d, body, n), 0);

	assert_int_equal(store_blob_read(f->s, &d, n, &buf, &len), 0);
	assert_int_equal(len, n);
	assert_string_equal(buf, body);		/* NUL-terminated */
	free(buf);

	before = count_fds();
	buf = (char *)"sentinel";
	assert_int_equal(store_blob_read(f->s, &d, n - 1, &buf, &len), -ERR_TOO_LARGE);
	assert_null(buf);
	assert_int_equal(count_fds(), before);

	assert_int_equal(digest_buffer(DIGEST_SHA256, "", 0, &d), 0);
	assert_int_equal(store_blob_put(f->s, &d, "", 0), 0);
	assert_int_equal(store_blob_read(f->s, &d, 0, &buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_dirs),
		T(test_open_failures),
		T(test_upload_commit),
		T(test_commit_same_content_twice),
		T(test_commit_same_content_twice_nosync),
		T(test_upload_open_truncates),
		T(test_upload_shorter_than_recorded),
		T(test_upload_unknown),
		T(test_upload_remove),
		T(test_large_upload_in_chunks),
		T(test_spool_direct),
		T(test_spool_plain),
		T(test_spool_many),
		T(test_blob_put_stat_open_delete),
		T(test_blob_sha512_and_empty),
		T(test_blob_unknown),
		T(test_blob_read),
	};
#undef T

	/* The store logs its expected failures at error level; keep the test
	 * output to cmocka's. */
	log_set_level((enum log_level)(LOG_ERROR + 1));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
