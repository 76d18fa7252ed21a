/* SPDX-License-Identifier: ISC
 * test_store_backend.c — the blob store's seam (store.c): [storage]
 * backend chooses the backend and refuses an unknown one with
 * FILE:LINE, store_open_backend refuses one too, readers hand over their
 * file or serve reads, and store_close stops and joins the spool writer
 * threads (no thread is left behind, ASan/valgrind see nothing leak).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "digest.h"
#include "errors.h"
#include "log.h"
#include "store.h"

#define ID1 "123e4567-e89b-42d3-a456-426614174001"

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	char *dir = malloc(64);

	if (dir == NULL)
		return -1;
	snprintf(dir, 64, "/tmp/test_store_backend.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int
teardown(void **state)
{
	char *dir = *state;

	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	return 0;
}

/* Threads of this process, from /proc/self/task. */
static int
count_threads(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
test_config_backend(void **state)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char err[512];

	(void)state;
	assert_non_null(cfg);
	config_defaults(cfg);
	assert_string_equal(cfg->storage_backend, "filesystem");
	assert_int_equal(config_load_string("t.ini", "[storage]\nbackend = filesystem\n", cfg, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg->storage_backend, "filesystem");
	config_free(cfg);
	free(cfg);
	assert_non_null(cfg = calloc(1, sizeof(*cfg)));
	assert_int_equal(config_load_string("t.ini", "[storage]\n# blobs\nbackend = s3\n", cfg,
	    err, sizeof(err)), 0);
	assert_string_equal(cfg->storage_backend, "s3");
	config_free(cfg);
	free(cfg);
	assert_non_null(cfg = calloc(1, sizeof(*cfg)));
	assert_int_not_equal(config_load_string("t.ini", "[storage]\n# blobs\nbackend = gcs\n", cfg,
	    err, sizeof(err)), 0);
	assert_string_equal(err, "t.ini:3: storage.backend: 'gcs' is not one of filesystem|s3");
	free(cfg);
}

static void
test_open_backend(void **state)
{
	const char *dir = *state;
	char root[PATH_MAX];
	struct store *s;

	snprintf(root, sizeof(root), "%s/root", dir);
	assert_true(store_backend_known("filesystem"));
	assert_true(store_backend_known("s3"));
	assert_false(store_backend_known("gcs"));
	assert_false(store_backend_known(""));
	assert_null(store_open_backend("gcs", root, 0));
	/* The S3 backend needs its [s3] settings: none, nothing made. */
	assert_null(store_open_backend("s3", root, 0));
	assert_int_equal(access(root, F_OK), -1);	/* nothing made */
	assert_non_null(s = store_open_backend("filesystem", root, 0));
	assert_string_equal(store_root(s), root);
	store_close(s);
	store_close(NULL);
}

static void
test_reader(void **state)
{
	const char *dir = *state;
	char root[PATH_MAX], buf[16];
	struct store_reader r;
	struct store *s;
	struct digest d;
	size_t got;
	int fd;

	snprintf(root, sizeof(root), "%s/root", dir);
	assert_non_null(s = store_open(root, 0));
	assert_int_equal(digest_buffer(DIGEST_SHA256, "0123456789", 10, &d), 0);
	assert_int_equal(store_blob_put(s, &d, "0123456789", 10), 0);
	assert_int_equal(store_blob_reader(s, &d, &r), 0);
	assert_int_equal(r.size, 10);
	/* Reads are clamped to the blob. */
	assert_int_equal(store_reader_read(&r, 7, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 3);
	assert_memory_equal(buf, "789", 3);
	assert_int_equal(store_reader_read(&r, 10, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(store_reader_read(&r, 99, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 0);
	/* The filesystem hands over its file, once. */
	assert_true((fd = store_reader_take_fd(&r)) >= 0);
	assert_int_equal(store_reader_take_fd(&r), -1);
	store_reader_close(&r);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 10);
	close(fd);

	/* An upload reads the same way; its file as store_upload_open_read. */
	assert_int_equal(store_upload_create(s, ID1), 0);
	assert_int_equal(store_upload_open(s, ID1, 0, &fd), 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	assert_int_equal(store_upload_reader(s, ID1, &r), 0);
	assert_int_equal(r.size, 3);
	assert_int_equal(store_reader_read(&r, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 3);
	store_reader_close(&r);
	assert_int_equal(store_upload_open_read(s, ID1, &fd), 0);
	close(fd);
	store_close(s);
}

/* Push sz bytes through a direct spool and commit them. */
static void
push_direct(struct store *s, size_t sz)
{
	struct store_spool *sp;
	struct digest d;
	unsigned char *data;

	assert_non_null(data = malloc(sz));
	for (size_t i = 0; i < sz; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	assert_int_equal(store_upload_create(s, ID1), 0);
	assert_int_equal(store_spool_open(s, ID1, 0, sz, &sp), 0);
	for (size_t off = 0; off < sz; off += 65536)
		assert_int_equal(store_spool_write(sp, data + off, sz - off < 65536 ? sz - off : 65536), 0);
	assert_int_equal(store_spool_flush(sp), 0);
	store_spool_close(sp);
	assert_int_equal(digest_buffer(DIGEST_SHA256, data, sz, &d), 0);
	assert_int_equal(store_upload_commit(s, ID1, &d), 0);
	assert_int_equal(store_upload_settle(s, ID1, &d), 0);
	free(data);
}

static void
test_close_joins_spool_threads(void **state)
{
	const char *dir = *state;
	char root[PATH_MAX];
	int before = count_threads();

	snprintf(root, sizeof(root), "%s/root", dir);
	/* Twice: a second store starts its own threads after the first's
	 * were joined, and both give their buffers back. */
	for (int round = 0; round < 2; round++) {
		struct store *s;

		assert_non_null(s = store_open(root, 1));
		store_set_direct(s, 1);
		push_direct(s, 5 * 1048576 + 4097);
		/* With O_DIRECT the writer threads run now (without it, as
		 * on tmpfs, there are none to join). */
		assert_true(count_threads() >= before);
		store_close(s);
		assert_int_equal(count_threads(), before);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_backend),
		cmocka_unit_test_setup_teardown(test_open_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_joins_spool_threads, setup, teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
