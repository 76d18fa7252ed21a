/* SPDX-License-Identifier: ISC
 * test_upload.c — upload sessions (issue 13, 6b and 6d), against a fresh
 * mkdtemp root:
 *   - meta_upload_open caps open sessions per client address and per
 *     user, and a closed session makes room again;
 *   - the hash states upload.c keeps per session (upload_live_count) do
 *     not outlive their sessions: N sessions opened and written to, then
 *     abandoned, are dropped by one expiry pass (upload_expire), which
 *     also removes their rows and spool files; a cancelled session and a
 *     session whose row vanished leave nothing behind either.
 * Requests are played through the real server in process
 * (server_fuzz_connection), as the HTTP fuzz driver does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "errors.h"
#include "log.h"
#include "meta.h"
#include "server.h"
#include "store.h"
#include "upload.h"

#define NSESSIONS 5
#define ID_MAX 64

struct fixture {
	char dir[64];
	struct config cfg;
	struct store *s;
	struct auth *auth;
	struct daemon *d;
	struct server *srv;
	struct meta *m;
	char ids[NSESSIONS + 4][ID_MAX];
	int nids;
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
	char text[1024], err[512];

	if (f == NULL || sodium_init() < 0)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_upload.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(text, sizeof(text),
	    "[server]\nlisten = 127.0.0.1:0\nworkers = 1\naccess_log = off\nlog_level = error\n"
	    "[storage]\nroot = %s\nsync = false\nupload_expiry = 1h\n", f->dir);
	if (config_load_string("test.ini", text, &f->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	log_set_level(LOG_ERROR);
	if ((f->s = store_open(f->dir, 0)) == NULL ||
	    (f->auth = auth_new(&f->cfg, err, sizeof(err))) == NULL ||
	    (f->d = daemon_new(&f->cfg, f->s, f->auth)) == NULL || (f->m = meta_open(&f->cfg)) == NULL)
		return -1;
	f->srv = daemon_server(f->d);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	meta_close(f->m);
	daemon_free(f->d);
	auth_free(f->auth);
	store_close(f->s);
	config_free(&f->cfg);
	rc = nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

static void play(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One request on its own connection. */
static void
play(struct fixture *f, const char *fmt, ...)
{
	char buf[1024], *out = NULL;
	size_t outlen = 0;
	va_list ap;
	int n, closed = 0;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	assert_int_equal(server_fuzz_connection(f->srv, buf, (size_t)n, 1, &out, &outlen, &closed), 0);
	free(out);
	assert_true(outlen > 0);
}

static int
collect_id(void *arg, const struct meta_gc_row *row)
{
	struct fixture *f = arg;

	for (int i = 0; i < f->nids; i++)
		if (strcmp(f->ids[i], row->digest) == 0)
			return 0;
	if (f->nids < (int)(sizeof(f->ids) / sizeof(f->ids[0])))
		snprintf(f->ids[f->nids++], ID_MAX, "%s", row->digest);
	return 0;
}

/* Open a session with POST and return its id (the one row not seen yet). */
static const char *
open_session(struct fixture *f)
{
	int before = f->nids;

	play(f, "POST /v2/r/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(meta_gc_uploads(f->m, INT64_MAX, collect_id, f), 0);
	assert_int_equal(f->nids, before + 1);
	return f->ids[before];
}

static void
patch(struct fixture *f, const char *id)
{
	play(f, "PATCH /v2/r/blobs/uploads/%s HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\nhello", id);
}

static int
spool_exists(struct fixture *f, const char *id)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, id);
	return access(path, F_OK) == 0;
}

static void
test_hash_states_expire(void **state)
{
	struct fixture *f = *state;
	char repo[REFERENCE_NAME_MAX + 1];
	uint64_t size;

	assert_int_equal(upload_live_count(), 0);
	for (int i = 0; i < NSESSIONS; i++)
		patch(f, open_session(f));
	/* Each written session keeps its hasher between requests. */
	assert_int_equal(upload_live_count(), NSESSIONS);
	for (int i = 0; i < NSESSIONS; i++) {
		assert_int_equal(meta_upload_get(f->m, f->ids[i], repo, &size), 0);
		assert_int_equal(size, 5);
		assert_true(spool_exists(f, f->ids[i]));
	}
	/* Not idle long enough yet: nothing goes. */
	assert_int_equal(upload_expire(&f->cfg, f->m, f->s, (int64_t)time(NULL)), 0);
	assert_int_equal(upload_live_count(), NSESSIONS);
	assert_int_equal(meta_upload_get(f->m, f->ids[0], repo, &size), 0);
	/* Abandoned for longer than upload_expiry (1h): all gone. */
	assert_int_equal(upload_expire(&f->cfg, f->m, f->s, (int64_t)time(NULL) + 3600 + 10), 0);
	assert_int_equal(upload_live_count(), 0);
	for (int i = 0; i < NSESSIONS; i++) {
		assert_int_equal(meta_upload_get(f->m, f->ids[i], repo, &size), -ERR_BLOB_UPLOAD_UNKNOWN);
		assert_false(spool_exists(f, f->ids[i]));
	}
}

static void
test_hash_states_cancel_and_vanish(void **state)
{
	struct fixture *f = *state;
	const char *a, *b;

	assert_int_equal(upload_live_count(), 0);
	a = open_session(f);
	patch(f, a);
	b = open_session(f);
	patch(f, b);
	assert_int_equal(upload_live_count(), 2);
	play(f, "DELETE /v2/r/blobs/uploads/%s HTTP/1.1\r\nHost: x\r\n\r\n", a);
	assert_int_equal(upload_live_count(), 1);
	assert_false(spool_exists(f, a));
	/* The row goes behind upload.c's back (another process's gc): the
	 * next request that finds it gone drops the hash state. */
	assert_int_equal(meta_upload_delete(f->m, b), 0);
	play(f, "GET /v2/r/blobs/uploads/%s HTTP/1.1\r\nHost: x\r\n\r\n", b);
	assert_int_equal(upload_live_count(), 0);
}

static void
test_session_caps(void **state)
{
	struct fixture *f = *state;

	/* Per client address. */
	assert_int_equal(meta_upload_open(f->m, "c1", "r", "10.0.0.1", "", "", 2, 3), 0);
	assert_int_equal(meta_upload_open(f->m, "c2", "r", "10.0.0.1", "", "", 2, 3), 0);
	assert_int_equal(meta_upload_open(f->m, "c3", "r", "10.0.0.1", "", "", 2, 3), -ERR_TOOMANYREQUESTS);
	assert_int_equal(meta_upload_open(f->m, "c3", "r", "10.0.0.2", "", "", 2, 3), 0);
	assert_int_equal(meta_upload_delete(f->m, "c1"), 0);
	assert_int_equal(meta_upload_open(f->m, "c4", "r", "10.0.0.1", "", "", 2, 3), 0);
	/* Per user, whatever the address. */
	assert_int_equal(meta_upload_open(f->m, "u1", "r", "10.1.0.1", "alice", "", 2, 3), 0);
	assert_int_equal(meta_upload_open(f->m, "u2", "r", "10.1.0.2", "alice", "", 2, 3), 0);
	assert_int_equal(meta_upload_open(f->m, "u3", "r", "10.1.0.3", "alice", "", 2, 3), 0);
	assert_int_equal(meta_upload_open(f->m, "u4", "r", "10.1.0.4", "alice", "", 2, 3), -ERR_TOOMANYREQUESTS);
	assert_int_equal(meta_upload_open(f->m, "u4", "r", "10.1.0.4", "bob", "", 2, 3), 0);
	/* The refused ones left no row: c2, c3, c4, u1, u2, u3 and bob's u4. */
	{
		uint64_t uploads, blobs, bytes;

		assert_int_equal(meta_stats(f->m, &uploads, &blobs, &bytes), 0);
		assert_int_equal(uploads, 7);
	}
	/* Sessions without a client (the pull-through cache) are not capped. */
	assert_int_equal(meta_upload_create(f->m, "p1", "r"), 0);
	/* The digest algorithm a session was opened with is kept with it
	 * (a restarted daemon hashes the spool again that way). */
	{
		char repo[REFERENCE_NAME_MAX + 1], alg[META_UPLOAD_ALG_MAX + 1];
		uint64_t size;

		assert_int_equal(meta_upload_open(f->m, "a1", "r/s", "10.2.0.1", "", "sha512", 2, 3), 0);
		memset(alg, 'x', sizeof(alg));
		assert_int_equal(meta_upload_get_alg(f->m, "a1", repo, &size, alg), 0);
		assert_string_equal(alg, "sha512");
		assert_string_equal(repo, "r/s");
		memset(alg, 'x', sizeof(alg));
		assert_int_equal(meta_upload_get_alg(f->m, "c2", repo, &size, alg), 0);
		assert_string_equal(alg, "");
		assert_int_equal(meta_upload_get_alg(f->m, "p1", repo, &size, alg), 0);
		assert_string_equal(alg, "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hash_states_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_states_cancel_and_vanish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_caps, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
