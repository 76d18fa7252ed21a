/* SPDX-License-Identifier: ISC
 * test_config.c — the INI configuration: defaults from the key table, every
 * key's parser (sizes, durations, booleans, levels, listen addresses), the
 * exact "FILE:LINE: section.key: reason" messages with the right line after
 * comments and blank lines, file loading, and the example file round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"

#define NAME "test.ini"

/* Load text that must parse. */
static void
load_ok(const char *text, struct config *cfg)
{
	char err[512] = "";

	if (config_load_string(NAME, text, cfg, err, sizeof(err)) != 0)
		fail_msg("config should load: %s\n--- text ---\n%s", err, text);
}

/* Load text that must fail with exactly the message want. */
static void
load_fails(const char *text, const char *want)
{
	struct config cfg;
	char err[512];

	memset(err, 0, sizeof(err));
	if (config_load_string(NAME, text, &cfg, err, sizeof(err)) != -1)
		fail_msg("config should fail with \"%s\"\n--- text ---\n%s", want, text);
	if (strcmp(err, want) != 0)
		fail_msg("got  \"%s\"\nwant \"%s\"\n--- text ---\n%s", err, want, text);
}

static void
assert_defaults(const struct config *cfg)
{
	assert_string_equal(cfg->listen, "127.0.0.1:5000");
	assert_int_equal(cfg->log_level, LOG_INFO);
	assert_int_equal(cfg->workers, 0);
	assert_int_equal(cfg->header_timeout, 30);
	assert_int_equal(cfg->read_timeout, 120);
	assert_int_equal(cfg->max_connections, 4096);
	assert_string_equal(cfg->root, "./var");
	assert_int_equal(cfg->sync, 1);
	assert_int_equal(cfg->max_manifest_size, 4LL << 20);
	assert_int_equal(cfg->chunk_min_length, 0);
	assert_int_equal(cfg->max_blob_size, 0);
}

static void
test_defaults(void **state)
{
	struct config cfg;

	(void)state;
	memset(&cfg, 0x77, sizeof(cfg));
	config_defaults(&cfg);
	assert_defaults(&cfg);

	memset(&cfg, 0x77, sizeof(cfg));
	load_ok("", &cfg);
	assert_defaults(&cfg);
	assert_string_equal(cfg.path, NAME);

	/* Only comments, blank lines and empty sections. */
	load_ok("# nothing\n; nothing either\n\n[server]\n\n[storage]\n[limits]\n", &cfg);
	assert_defaults(&cfg);

	/* Every load starts again from the defaults. */
	load_ok("[server]\nworkers = 5\n", &cfg);
	assert_int_equal(cfg.workers, 5);
	load_ok("", &cfg);
	assert_int_equal(cfg.workers, 0);
}

static void
test_every_key(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("# a full configuration\n"
	    "[server]\n"
	    "listen = [::1]:8080\n"
	    "log_level = debug\n"
	    "workers = 8\n"
	    "header_timeout = 10s\n"
	    "read_timeout = 10m\n"
	    "max_connections = 100\n"
	    "\n"
	    "[storage]\n"
	    "root = /srv/registry with spaces\n"
	    "sync = false\n"
	    "\n"
	    "[limits]\n"
	    "max_manifest_size = 512k\n"
	    "chunk_min_length = 4M\n"
	    "max_blob_size = 2GiB\n", &cfg);
	assert_string_equal(cfg.listen, "[::1]:8080");
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_int_equal(cfg.workers, 8);
	assert_int_equal(cfg.header_timeout, 10);
	assert_int_equal(cfg.read_timeout, 600);
	assert_int_equal(cfg.max_connections, 100);
	assert_string_equal(cfg.root, "/srv/registry with spaces");
	assert_int_equal(cfg.sync, 0);
	assert_int_equal(cfg.max_manifest_size, 512 * 1024);
	assert_int_equal(cfg.chunk_min_length, 4 * 1024 * 1024);
	assert_int_equal(cfg.max_blob_size, 2LL << 30);

	/* Sections may come in any order, whitespace around '=' is free,
	 * CRLF line ends are fine. */
	load_ok("[limits]\r\nmax_blob_size=1T\r\n[server]\r\n  workers   =   3  \r\n", &cfg);
	assert_int_equal(cfg.max_blob_size, 1LL << 40);
	assert_int_equal(cfg.workers, 3);
	assert_string_equal(cfg.listen, "127.0.0.1:5000");
}

static void
test_sizes(void **state)
{
	static const struct {
		const char *v;
		long long want;
	} c[] = {
		{"0", 0}, {"1", 1}, {"1024", 1024}, {"512k", 512LL << 10}, {"512K", 512LL << 10},
		{"4M", 4LL << 20}, {"4m", 4LL << 20}, {"4MB", 4LL << 20}, {"4MiB", 4LL << 20},
		{"2G", 2LL << 30}, {"2GiB", 2LL << 30}, {"2g", 2LL << 30}, {"1T", 1LL << 40},
		{"1024T", 1LL << 50}, {"1125899906842624", 1LL << 50}, {"1kB", 1024},
	};
	static const char *const bad[] = {
		"4X", "4Mi", "4MiBB", "4MBs", "k", "M", "-1", "-1M", "1.5M", "4 M", "4M ",
		"0x10", "1e6", "4b", "4 MiB", "four",
		"8388608T",			/* overflows long long */
		"99999999999999999999",	/* strtoll range */
	};
	char text[256], want[512];
	struct config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(text, sizeof(text), "[limits]\nmax_blob_size = %s\n", c[i].v);
		load_ok(text, &cfg);
		if (cfg.max_blob_size != c[i].want)
			fail_msg("'%s': %lld, want %lld", c[i].v, cfg.max_blob_size, c[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* inih strips trailing blanks, so "4M " reads as "4M": skip. */
		if (strcmp(bad[i], "4M ") == 0)
			continue;
		snprintf(text, sizeof(text), "[limits]\n\nmax_blob_size = %s\n", bad[i]);
		snprintf(want, sizeof(want),
		    NAME ":3: limits.max_blob_size: '%s' is not a size (e.g. 512k, 4M, 2G)", bad[i]);
		load_fails(text, want);
	}
	load_fails("[limits]\nmax_blob_size =\n",
	    NAME ":2: limits.max_blob_size: '' is not a size (e.g. 512k, 4M, 2G)");

	/* Bounds are per key. */
	load_ok("[limits]\nmax_manifest_size = 1024\n", &cfg);
	assert_int_equal(cfg.max_manifest_size, 1024);
	load_ok("[limits]\nmax_manifest_size = 1G\n", &cfg);
	assert_int_equal(cfg.max_manifest_size, 1LL << 30);
	load_fails("[limits]\nmax_manifest_size = 1023\n",
	    NAME ":2: limits.max_manifest_size: 1023 is out of range [1024, 1073741824]");
	load_fails("[limits]\nmax_manifest_size = 2GiB\n",
	    NAME ":2: limits.max_manifest_size: 2147483648 is out of range [1024, 1073741824]");
	load_fails("[limits]\nchunk_min_length = 1025M\n",
	    NAME ":2: limits.chunk_min_length: 1074790400 is out of range [0, 1073741824]");
	load_fails("[limits]\nmax_blob_size = 1025T\n",
	    NAME ":2: limits.max_blob_size: 1126999418470400 is out of range [0, 1125899906842624]");
}

/* [metadata] backend picks the metadata store; a backend this build does
 * not have is a config error, not a failure at the first request. */
static void
test_meta_backend(void **state)
{
	struct config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.meta_backend, CONFIG_META_SQLITE);
	load_ok("[metadata]\nbackend = sqlite\n", &cfg);
	assert_int_equal(cfg.meta_backend, CONFIG_META_SQLITE);
	load_ok("[metadata]\nbackend = postgres\nurl = postgresql://ociregd@db:5432/ociregd\n", &cfg);
	assert_int_equal(cfg.meta_backend, CONFIG_META_POSTGRES);
	assert_string_equal(cfg.meta_url, "postgresql://ociregd@db:5432/ociregd");
	/* A keyword connection string: '=' in the value is the value's. */
	load_ok("[metadata]\nbackend = postgres\nurl = host=/run/pg dbname=x\n", &cfg);
	assert_string_equal(cfg.meta_url, "host=/run/pg dbname=x");
	load_fails("[metadata]\n\nbackend = mysql\n",
	    NAME ":3: metadata.backend: 'mysql' is not one of sqlite, postgres");
	load_fails("[metadata]\nbackend =\n",
	    NAME ":2: metadata.backend: '' is not one of sqlite, postgres");
	load_fails("[metadata]\npath = /x\n", NAME ":2: metadata.path: unknown key");
}

static void
test_durations(void **state)
{
	static const struct {
		const char *v;
		int want;
	} c[] = {
		{"1", 1}, {"90", 90}, {"30s", 30}, {"10m", 600}, {"1h", 3600}, {"1d", 86400},
		{"24h", 86400}, {"1440m", 86400},
	};
	static const char *const bad[] = {
		"10x", "1.5h", "-1s", "-1", "s", "10 s", "10S", "10M", "1hh", "1h30m", "ten",
		"0x10", "99999999999999999999",
	};
	char text[256], want[512];
	struct config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(text, sizeof(text), "[server]\nread_timeout = %s\n", c[i].v);
		load_ok(text, &cfg);
		if (cfg.read_timeout != c[i].want)
			fail_msg("'%s': %d, want %d", c[i].v, cfg.read_timeout, c[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[server]\nread_timeout = %s\n", bad[i]);
		snprintf(want, sizeof(want),
		    NAME ":2: server.read_timeout: '%s' is not a duration (e.g. 30s, 10m, 24h)", bad[i]);
		load_fails(text, want);
	}
	load_ok("[server]\nheader_timeout = 1h\n", &cfg);
	assert_int_equal(cfg.header_timeout, 3600);
	load_fails("[server]\nheader_timeout = 61m\n",
	    NAME ":2: server.header_timeout: 3660 is out of range [1, 3600]");
	load_fails("[server]\nheader_timeout = 0s\n",
	    NAME ":2: server.header_timeout: 0 is out of range [1, 3600]");
	load_fails("[server]\nread_timeout = 2d\n",
	    NAME ":2: server.read_timeout: 172800 is out of range [1, 86400]");
	/* Large enough to overflow an int if it were stored before the bounds
	 * check. */
	load_fails("[server]\nread_timeout = 100000000000d\n",
	    NAME ":2: server.read_timeout: 8640000000000000 is out of range [1, 86400]");
}

static void
test_booleans_levels_ints(void **state)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	char text[256];
	struct config cfg;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "[storage]\nsync = %s\n", yes[i]);
		load_ok(text, &cfg);
		assert_int_equal(cfg.sync, 1);
		snprintf(text, sizeof(text), "[storage]\nsync = %s\n", no[i]);
		load_ok(text, &cfg);
		assert_int_equal(cfg.sync, 0);
		snprintf(text, sizeof(text), "[server]\nlog_level = %s\n", levels[i]);
		load_ok(text, &cfg);
		assert_int_equal(cfg.log_level, (int)i);
	}
	load_fails("[storage]\nsync = maybe\n",
	    NAME ":2: storage.sync: 'maybe' is not a boolean (true/false)");
	load_fails("[storage]\nsync = 2\n", NAME ":2: storage.sync: '2' is not a boolean (true/false)");
	load_fails("[storage]\nsync =\n", NAME ":2: storage.sync: '' is not a boolean (true/false)");
	load_fails("[server]\nlog_level = verbose\n",
	    NAME ":2: server.log_level: 'verbose' is not one of debug, info, warn, error");
	load_fails("[server]\nlog_level = DEBUG\n",
	    NAME ":2: server.log_level: 'DEBUG' is not one of debug, info, warn, error");

	load_ok("[server]\nworkers = 256\nmax_connections = 1000000\n", &cfg);
	assert_int_equal(cfg.workers, 256);
	assert_int_equal(cfg.max_connections, 1000000);
	load_fails("[server]\nworkers = 257\n", NAME ":2: server.workers: 257 is out of range [0, 256]");
	load_fails("[server]\nworkers = -1\n", NAME ":2: server.workers: -1 is out of range [0, 256]");
	load_fails("[server]\nmax_connections = 0\n",
	    NAME ":2: server.max_connections: 0 is out of range [1, 1000000]");
	load_fails("[server]\nmax_connections = 4294967297\n",
	    NAME ":2: server.max_connections: 4294967297 is out of range [1, 1000000]");
	load_fails("[server]\nworkers = 0x10\n", NAME ":2: server.workers: '0x10' is not an integer");
	load_fails("[server]\nworkers = 4k\n", NAME ":2: server.workers: '4k' is not an integer");
	load_fails("[server]\nworkers =\n", NAME ":2: server.workers: '' is not an integer");
	load_fails("[server]\nworkers = 99999999999999999999\n",
	    NAME ":2: server.workers: '99999999999999999999' is not an integer");
}

static void
test_listen(void **state)
{
	static const char *const ok[] = {
		"127.0.0.1:5000", "0.0.0.0:0", "[::1]:5000", "[::]:443", ":5000", "*:80",
		"localhost:5000", "10.1.2.3:65535", "[fe80::1]:1",
	};
	static const char *const bad[] = {
		"127.0.0.1", "[::1]5000", "host:99999", "localhost:65536", "127.0.0.1:",
		"127.0.0.1:port", "127.0.0.1:80x", "127.0.0.1:-1", "[::1]", "[::1", "::1:5000x",
		"256.0.0.1:80", "example.invalid:80", ":",
	};
	char text[512], want[512];
	struct config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[server]\nlisten = %s\n", ok[i]);
		load_ok(text, &cfg);
		assert_string_equal(cfg.listen, ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "# listen tests\n\n[server]\nlisten = %s\n", bad[i]);
		snprintf(want, sizeof(want),
		    NAME ":4: server.listen: '%s' is not HOST:PORT or [IPV6]:PORT", bad[i]);
		load_fails(text, want);
	}
}

/* prefix, then n copies of fill, then suffix (caller frees). */
static char *
text_with_run(const char *prefix, char fill, size_t n, const char *suffix)
{
	size_t plen = strlen(prefix), slen = strlen(suffix);
	char *t = malloc(plen + n + slen + 1);

	assert_non_null(t);
	memcpy(t, prefix, plen);
	memset(t + plen, fill, n);
	memcpy(t + plen + n, suffix, slen + 1);
	return t;
}

static void
test_root(void **state)
{
	struct config cfg;
	char *text;

	(void)state;
	load_fails("[storage]\nroot =\n", NAME ":2: storage.root: empty or longer than 4095 bytes");
	/* A long path fits. */
	text = text_with_run("[storage]\nroot = /", 'r', 3999, "\n");
	load_ok(text, &cfg);
	free(text);
	assert_int_equal(strlen(cfg.root), 4000);
	assert_int_equal(cfg.root[0], '/');
	assert_int_equal(cfg.root[3999], 'r');
}

/* A line longer than the parser's line buffer (4096 bytes) must fail, and
 * the message must name that line: the text below has only three lines. */
static void
test_long_line(void **state)
{
	char *text = text_with_run("[storage]\n# c\nroot = /", 'r', 5000, "\n"), err[512];
	struct config cfg;
	int rc;

	(void)state;
	memset(err, 0, sizeof(err));
	rc = config_load_string(NAME, text, &cfg, err, sizeof(err));
	free(text);
	assert_int_equal(rc, -1);
	if (strncmp(err, NAME ":3: ", strlen(NAME ":3: ")) != 0)
		fail_msg("error names the wrong line: \"%s\"", err);
}

/* The line number after comments and blank lines, for each kind of error. */
static void
test_error_lines(void **state)
{
	(void)state;
	load_fails("# ociregd test\n"
	    "; another comment\n"
	    "\n"
	    "[server]\n"
	    "listen = 0.0.0.0:8080\n"
	    "\n"
	    "# the bad one:\n"
	    "workers = 999\n"
	    "log_level = nope\n",
	    NAME ":8: server.workers: 999 is out of range [0, 256]");
	load_fails("[server]\n"
	    "workers = 2\n"
	    "[nope]\n"
	    "# comment\n"
	    "x = 1\n",
	    NAME ":3: unknown section [nope]");
	load_fails("\n\n# keys outside any section\nworkers = 1\n",
	    NAME ":4: unknown section [(none)]");
	load_fails("[storage]\n"
	    "root = /x\n"
	    "\n"
	    "bogus = 1\n",
	    NAME ":4: storage.bogus: unknown key");
	/* Keys belong to one section only. */
	load_fails("[storage]\nworkers = 1\n", NAME ":2: storage.workers: unknown key");
	load_fails("[server]\n"
	    "workers = 1\n"
	    "\n"
	    "  # indented comment\n"
	    "workers = 2\n",
	    NAME ":5: server.workers: set twice");
	/* Set twice even when the section is opened again. */
	load_fails("[server]\n"
	    "workers = 1\n"
	    "[storage]\n"
	    "root = /x\n"
	    "[server]\n"
	    "workers = 1\n",
	    NAME ":6: server.workers: set twice");
	load_fails("[server]\n"
	    "\n"
	    "# fine so far\n"
	    "this line is junk\n",
	    NAME ":4: syntax error (expected [section], key = value, or # comment)");
	load_fails("# one\n[server\n",
	    NAME ":2: syntax error (expected [section], key = value, or # comment)");
	/* No newline at the end of the last line. */
	load_fails("[server]\n\nworkers = 999",
	    NAME ":3: server.workers: 999 is out of range [0, 256]");
	/* CRLF line ends count the same. */
	load_fails("[server]\r\n\r\n# c\r\nworkers = 999\r\n",
	    NAME ":4: server.workers: 999 is out of range [0, 256]");
}

/* Only the first error is reported (config.c: "report the first error
 * only"): a key error before a syntax error wins... */
static void
test_first_error_wins(void **state)
{
	(void)state;
	load_fails("[server]\n"
	    "workers = 999\n"
	    "bogus = 1\n"
	    "this line is junk\n",
	    NAME ":2: server.workers: 999 is out of range [0, 256]");
}

/* ...and so does a syntax error before a key error.  The common case is a
 * broken section header: the keys after it land in no section, and the
 * message must point at the header, not at the first key below it. */
static void
test_first_error_wins_syntax(void **state)
{
	(void)state;
	load_fails("[server]\n"
	    "this line is junk\n"
	    "\n"
	    "workers = 999\n",
	    NAME ":2: syntax error (expected [section], key = value, or # comment)");
	load_fails("# one\n[server\nworkers = 1\n",
	    NAME ":2: syntax error (expected [section], key = value, or # comment)");
}

static void
test_error_buffer_small(void **state)
{
	char err[64];
	struct config cfg;

	(void)state;
	for (size_t cap = 1; cap < 40; cap++) {
		memset(err, '#', sizeof(err));
		assert_int_equal(config_load_string(NAME, "[server]\nworkers = 999\n", &cfg, err,
		    cap), -1);
		assert_int_equal(strlen(err), cap - 1);
		assert_memory_equal(err, NAME ":2: server.workers: 999", cap - 1 < 22 ? cap - 1 : 22);
		for (size_t i = cap; i < sizeof(err); i++)
			assert_int_equal(err[i], '#');
	}
}

/* A scratch directory per file test, removed by the teardown even when an
 * assertion fails half-way. */
static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
dir_setup(void **state)
{
	char *dir = strdup("/tmp/test_config.XXXXXX");

	if (dir == NULL || mkdtemp(dir) == NULL) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int
dir_teardown(void **state)
{
	char *dir = *state;
	int rc = nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	free(dir);
	return rc;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void
test_load_file(void **state)
{
	const char *dir = *state;
	char path[256], err[512], want[512];
	struct config cfg;

	snprintf(path, sizeof(path), "%s/ociregd.ini", dir);

	/* Missing file. */
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);

	/* A good file. */
	write_file(path, "# test\n[server]\nworkers = 7\n\n[storage]\nroot = /data\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 7);
	assert_string_equal(cfg.root, "/data");
	assert_string_equal(cfg.path, path);
	assert_string_equal(cfg.listen, "127.0.0.1:5000");

	/* A bad file: the message carries the path and the line. */
	write_file(path, "# test\n\n[limits]\n; c\nmax_manifest_size = 12\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
	    "%s:5: limits.max_manifest_size: 12 is out of range [1024, 1073741824]", path);
	assert_string_equal(err, want);

	/* Syntax error line from a file, last line without a newline. */
	write_file(path, "[server]\nworkers = 1\n\njunk");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
	    "%s:4: syntax error (expected [section], key = value, or # comment)", path);
	assert_string_equal(err, want);

	/* An empty file is all defaults. */
	write_file(path, "");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	assert_defaults(&cfg);
}

/* A path that opens but cannot be read (a directory: fopen succeeds, the
 * first read fails with EISDIR) is an error, not an empty file that
 * silently yields the defaults. */
static void
test_load_unreadable(void **state)
{
	const char *dir = *state;
	char err[512];
	struct config cfg;

	memset(err, 0, sizeof(err));
	assert_int_equal(config_load(dir, &cfg, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, dir, strlen(dir)), 0);
}

static void
test_example_round_trip(void **state)
{
	static const char *const keys[] = {
		"[server]\n", "[storage]\n", "[limits]\n", "\nlisten = ", "\nlog_level = ",
		"\nworkers = ", "\nheader_timeout = ", "\nread_timeout = ", "\nmax_connections = ",
		"\nroot = ", "\nsync = ", "\nmax_manifest_size = ", "\nchunk_min_length = ",
		"\nmax_blob_size = ",
	};
	struct config cfg, def;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(f = open_memstream(&text, &len));
	config_write_example(f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(text);
	assert_true(len > 0);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strstr(text, keys[i]) == NULL)
			fail_msg("example lacks '%s'", keys[i]);
	}
	load_ok(text, &cfg);
	assert_defaults(&cfg);
	/* The example states the defaults: loading it changes nothing. */
	config_defaults(&def);
	snprintf(def.path, sizeof(def.path), "%s", NAME);
	/* Only where each key was set differs: the example sets them all. */
	for (size_t i = 0; i < CONFIG_KEYS_MAX; i++)
		if (cfg.key_lines[i] != 0)
			def.key_lines[i] = cfg.key_lines[i];
	assert_memory_equal(&cfg, &def, sizeof(cfg));
	free(text);
}

/* Named sections' keys are typed by the key table like the plain ones. */
static void
test_named_keys_typed(void **state)
{
	struct config cfg;

	(void)state;
	load_fails("[proxy \"up\"]\nurl = http://x\ntag_ttl = banana\n",
	    NAME ":3: proxy \"up\".tag_ttl: 'banana' is not a duration (e.g. 30s, 10m, 24h)");
	load_fails("[proxy \"up\"]\nurl = http://x\nmirror = maybe\n",
	    NAME ":3: proxy \"up\".mirror: 'maybe' is not a boolean (true/false)");
	load_fails("[retention \"a/*\"]\nkeep_last = -5\n",
	    NAME ":2: retention \"a/*\".keep_last: -5 is out of range [0, 1000000]");
	load_fails("[retention \"a/*\"]\nkeep_days = 36501\n",
	    NAME ":2: retention \"a/*\".keep_days: 36501 is out of range [0, 36500]");
	load_fails("[access \"a/*\"]\npul = bob\n", NAME ":2: access \"a/*\".pul: unknown key");
	/* inih would keep only 49 bytes of a longer header: a glob cut
	 * short is another rule, so it is refused. */
	load_fails("[access \"team/very/long/repository/path/that/goes/on/*\"]\npull = bob\n",
	    NAME ":1: section header longer than 49 characters");
	load_ok("[access \"team/very/long/repository/path/goes/on/*\"]\npull = bob\n", &cfg);
	assert_string_equal(cfg.sections[0].name, "team/very/long/repository/path/goes/on/*");
	config_free(&cfg);
	/* Empty is the documented "not set"; lists and strings are the
	 * owning module's to judge. */
	load_ok("[proxy \"up\"]\nurl = http://x\ntag_ttl =\nmirror = yes\n"
	    "[retention \"a/*\"]\nkeep_last = 3\nkeep_tags = v*, latest\n"
	    "[group \"g\"]\nmembers = a, b\n[access \"*\"]\npull = @g\n", &cfg);
	assert_int_equal(cfg.nsections, 4);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_meta_backend),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_booleans_levels_ints),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_error_lines),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_first_error_wins_syntax),
		cmocka_unit_test(test_error_buffer_small),
		cmocka_unit_test_setup_teardown(test_load_file, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_load_unreadable, dir_setup, dir_teardown),
		cmocka_unit_test(test_example_round_trip),
		cmocka_unit_test(test_named_keys_typed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
