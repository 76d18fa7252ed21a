/* SPDX-License-Identifier: ISC
 * test_range.c — the Range header of a blob GET (RFC 9110 §14) and the
 * Content-Range of an upload chunk (distribution-spec: "<start>-<end>",
 * inclusive), with the strict decimal parser under both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "errors.h"
#include "range.h"

static int
u64(const char *s, uint64_t *out)
{
	return range_parse_u64(s, s + strlen(s), out);
}

static void
test_u64(void **state)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1a", "a1", "0x10", "1.0", "1,0", "１",
		"18446744073709551615",		/* 20 digits, even though it fits */
		"99999999999999999999",
		"00000000000000000000",		/* 20 digits */
	};
	const char *s = "123456";
	uint64_t v;

	(void)state;
	assert_int_equal(u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(u64("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(u64("007", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(u64("9999999999999999999", &v), 0);	/* 19 digits */
	assert_true(v == 9999999999999999999ULL);
	assert_int_equal(u64("0000000000000000001", &v), 0);
	assert_int_equal(v, 1);

	/* Only [s, end) is read. */
	assert_int_equal(range_parse_u64(s, s + 3, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(range_parse_u64(s, s, &v), -1);
	assert_int_equal(range_parse_u64(s + 3, s, &v), -1);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 4242;
		if (u64(bad[i], &v) != -1)
			fail_msg("'%s' should not parse", bad[i]);
		assert_int_equal(v, 4242);	/* untouched on failure */
	}
}

struct req_case {
	const char *hdr;
	uint64_t size;
	int rc;
	uint64_t start, len;
};

static void
run_request_cases(const struct req_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t start = 777, len = 777;
		int rc = range_parse_request(c[i].hdr, c[i].size, &start, &len);

		if (rc != c[i].rc)
			fail_msg("'%s' size %llu: rc %d, want %d", c[i].hdr,
			    (unsigned long long)c[i].size, rc, c[i].rc);
		if (rc == 0 && (start != c[i].start || len != c[i].len))
			fail_msg("'%s' size %llu: start %llu len %llu, want %llu %llu", c[i].hdr,
			    (unsigned long long)c[i].size, (unsigned long long)start,
			    (unsigned long long)len, (unsigned long long)c[i].start,
			    (unsigned long long)c[i].len);
	}
}

static void
test_request_satisfiable(void **state)
{
	static const struct req_case c[] = {
		{"bytes=0-99", 100, 0, 0, 100},
		{"bytes=0-0", 100, 0, 0, 1},
		{"bytes=10-19", 100, 0, 10, 10},
		{"bytes=99-99", 100, 0, 99, 1},
		{"bytes=50-", 100, 0, 50, 50},
		{"bytes=0-", 100, 0, 0, 100},
		{"bytes=99-", 100, 0, 99, 1},
		/* An end past the blob is clamped to its last byte. */
		{"bytes=0-100", 100, 0, 0, 100},
		{"bytes=90-1000000", 100, 0, 90, 10},
		{"bytes=0-9999999999999999999", 100, 0, 0, 100},
		/* Suffix ranges: the last n bytes, all of it if n > size. */
		{"bytes=-10", 100, 0, 90, 10},
		{"bytes=-1", 100, 0, 99, 1},
		{"bytes=-100", 100, 0, 0, 100},
		{"bytes=-1000", 100, 0, 0, 100},
		{"bytes=-9999999999999999999", 100, 0, 0, 100},
		{"bytes=0-0", 1, 0, 0, 1},
		/* Optional whitespace around the value. */
		{" bytes=0-9", 100, 0, 0, 10},
		{"bytes= 0-9", 100, 0, 0, 10},
		{"bytes=0-9 ", 100, 0, 0, 10},
		{"bytes=0-9\t", 100, 0, 0, 10},
		{"bytes=-5 ", 100, 0, 95, 5},
		/* Very large blobs. */
		{"bytes=0-", UINT64_MAX, 0, 0, UINT64_MAX},
		{"bytes=-1", UINT64_MAX, 0, UINT64_MAX - 1, 1},
		{"bytes=9999999999999999999-", UINT64_MAX, 0, 9999999999999999999ULL,
		    UINT64_MAX - 9999999999999999999ULL},
	};

	(void)state;
	run_request_cases(c, sizeof(c) / sizeof(c[0]));
}

static void
test_request_unsatisfiable(void **state)
{
	static const struct req_case c[] = {
		{"bytes=100-", 100, -ERR_RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=100-199", 100, -ERR_RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=1000-2000", 100, -ERR_RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=9999999999999999999-", 100, -ERR_RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=-0", 100, -ERR_RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=0-", 0, -ERR_RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=0-0", 0, -ERR_RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=-5", 0, -ERR_RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=1-1", 1, -ERR_RANGE_UNSATISFIABLE, 0, 0},
	};

	(void)state;
	run_request_cases(c, sizeof(c) / sizeof(c[0]));
}

static void
test_request_ignored(void **state)
{
	static const struct req_case c[] = {
		/* Several ranges: we may send the whole body instead. */
		{"bytes=0-9,20-29", 100, 1, 0, 0},
		{"bytes=0-9, 20-29", 100, 1, 0, 0},
		{"bytes=-5,0-1", 100, 1, 0, 0},
		{"bytes=0-1,", 100, 1, 0, 0},
		/* Garbage and other units. */
		{"", 100, 1, 0, 0},
		{"bytes", 100, 1, 0, 0},
		{"bytes=", 100, 1, 0, 0},
		{"bytes=-", 100, 1, 0, 0},
		{"bytes=abc", 100, 1, 0, 0},
		{"bytes=1", 100, 1, 0, 0},
		{"bytes=a-1", 100, 1, 0, 0},
		{"bytes=1-a", 100, 1, 0, 0},
		{"bytes=1-2x", 100, 1, 0, 0},
		{"bytes=0-99 x", 100, 1, 0, 0},
		{"bytes=--1", 100, 1, 0, 0},
		{"bytes=1--2", 100, 1, 0, 0},
		{"bytes=0 -9", 100, 1, 0, 0},
		{"bytes=+1-2", 100, 1, 0, 0},
		{"bytes=0x1-2", 100, 1, 0, 0},
		{"bytes 0-9", 100, 1, 0, 0},
		{"items=0-9", 100, 1, 0, 0},
		{"0-9", 100, 1, 0, 0},
		/* An end before the start is an invalid range-spec. */
		{"bytes=5-3", 100, 1, 0, 0},
		{"bytes=500-3", 100, 1, 0, 0},
		/* 20+ digits never overflow silently. */
		{"bytes=99999999999999999999-", 100, 1, 0, 0},
		{"bytes=0-99999999999999999999", 100, 1, 0, 0},
		{"bytes=-99999999999999999999", 100, 1, 0, 0},
		{"bytes=18446744073709551616-", 100, 1, 0, 0},
		{"bytes=-18446744073709551616", 100, 1, 0, 0},
	};

	(void)state;
	run_request_cases(c, sizeof(c) / sizeof(c[0]));
}

static void
test_content_valid(void **state)
{
	static const struct {
		const char *hdr;
		uint64_t start, end;
	} c[] = {
		{"0-99", 0, 99},
		{"0-0", 0, 0},
		{"100-199", 100, 199},
		{"5-5", 5, 5},
		{"bytes 0-99/100", 0, 99},
		{"bytes 0-99/*", 0, 99},
		{"bytes 100-199/1000", 100, 199},
		{"bytes=0-99", 0, 99},
		{"bytes  0-99/100", 0, 99},
		{" 0-99", 0, 99},
		{"0-99 ", 0, 99},
		{"0-9999999999999999999", 0, 9999999999999999999ULL},
		{"9999999999999999999-9999999999999999999", 9999999999999999999ULL,
		    9999999999999999999ULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint64_t start = 777, end = 777;

		if (range_parse_content(c[i].hdr, &start, &end) != 0)
			fail_msg("'%s' should parse", c[i].hdr);
		if (start != c[i].start || end != c[i].end)
			fail_msg("'%s': %llu-%llu, want %llu-%llu", c[i].hdr,
			    (unsigned long long)start, (unsigned long long)end,
			    (unsigned long long)c[i].start, (unsigned long long)c[i].end);
	}
}

static void
test_content_invalid(void **state)
{
	static const char *const bad[] = {
		"", " ", "-", "0", "0-", "-99", "-0-5", "-1-5",
		"99-0", "1-0",			/* end before start */
		"0--5", "0-+5", "+0-5", "a-b", "0-9x", "x0-9", "0 -9", "0- 9",
		"0-9 x", "0-9,10-19", "0,1-2", "0-99-100", "0.5-9",
		"bytes", "bytes ", "bytes=", "bytes0-99", "bytes:0-99",
		"bytes 0-99/", "bytes 0-99/abc", "bytes 0-99/*x", "bytes 0-99/**",
		"bytes 0-99/-1", "bytes 0-99/100 x", "bytes 0-99 /100", "bytes */100",
		"bytes 99-0/100",
		"0-99999999999999999999", "99999999999999999999-99999999999999999999",
		"18446744073709551616-18446744073709551617",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t start, end;

		if (range_parse_content(bad[i], &start, &end) != -ERR_RANGE_INVALID)
			fail_msg("'%s' should be -ERR_RANGE_INVALID", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_request_satisfiable),
		cmocka_unit_test(test_request_unsatisfiable),
		cmocka_unit_test(test_request_ignored),
		cmocka_unit_test(test_content_valid),
		cmocka_unit_test(test_content_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
