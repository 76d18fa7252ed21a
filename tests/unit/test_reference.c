/* SPDX-License-Identifier: ISC
 * test_reference.c — the distribution-spec grammar for repository names,
 * tags and our upload ids (reference.c).  Every path and query value passes
 * through these predicates before it reaches the disk or SQLite, so the
 * hostile cases (dot segments, escapes, separators at the edges) matter as
 * much as the valid ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

/* A string of n copies of c (caller frees). */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_name_valid(void **state)
{
	static const char *const ok[] = {
		"a", "0", "abc", "a1", "library/ubuntu", "a/b/c/d/e", "a.b", "a_b",
		"a__b", "a-b", "a--b", "a---------b", "a.b.c", "a-b_c.d__e",
		"foo.bar/baz-qux_quux", "0/1/2", "x/blobs/uploads", "a/manifests",
		"blobs", "uploads", "tags", "manifests", "referrers",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!reference_name_valid(ok[i]))
			fail_msg("name '%s' should be valid", ok[i]);
	}
}

static void
test_name_invalid(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", "...", "./a", "a/.", "a/..", "../a", "a/../b", "a/./b",
		"%2e", "%2e%2e", "a/%2e%2e/b", "a%2fb", "A", "Library", "library/Ubuntu",
		"aB", "/a", "a/", "/", "//", "a//b", "/a/b/", "a___b", "a____b", "a_-b",
		"a-_b", "a._b", "a.-b", "a-.b", "a..b", "a.", "a-", "a_", "-a", "_a",
		".a", "a/-b", "a/b_", "a/_b", "a b", " a", "a ", "a\tb", "a\nb", "a:b",
		"a@b", "a+b", "a\\b", "a?b", "a#b", "a*b", "caf\xc3\xa9", "\xff",
		"a/b:latest", "a/b@sha256",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (reference_name_valid(bad[i]))
			fail_msg("name '%s' should be invalid", bad[i]);
	}
}

static void
test_name_length_cap(void **state)
{
	char *s;

	(void)state;
	/* One component exactly at the cap, then one past it. */
	s = repeat('a', REFERENCE_NAME_MAX);
	assert_true(reference_name_valid(s));
	free(s);
	s = repeat('a', REFERENCE_NAME_MAX + 1);
	assert_false(reference_name_valid(s));
	free(s);

	/* Many components: "a/a/a/...": 2k-1 characters for k components. */
	s = repeat('a', REFERENCE_NAME_MAX);
	for (size_t i = 1; i < REFERENCE_NAME_MAX; i += 2)
		s[i] = '/';
	/* REFERENCE_NAME_MAX is even, so the last character is a slash. */
	s[REFERENCE_NAME_MAX - 1] = '\0';
	assert_int_equal(strlen(s), REFERENCE_NAME_MAX - 1);
	assert_true(reference_name_valid(s));
	free(s);

	/* A long NUL-free string, valid grammar but far past the cap: the
	 * check must not depend on scanning the whole thing. */
	s = repeat('a', 100000);
	assert_false(reference_name_valid(s));
	free(s);
	s = repeat('-', 100000);
	s[0] = 'a';
	assert_false(reference_name_valid(s));
	free(s);
}

static void
test_tag_valid(void **state)
{
	static const char *const ok[] = {
		"latest", "v1", "v1.0.0", "1.0", "_", "_x", "A", "0", "a-b_c.d",
		"UPPER", "MiXeD-case.1_2", "x..y", "x--", "x__", "sha256",
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!reference_tag_valid(ok[i]))
			fail_msg("tag '%s' should be valid", ok[i]);
	}
	/* 128 characters is the maximum. */
	s = repeat('t', REFERENCE_TAG_MAX);
	assert_true(reference_tag_valid(s));
	s[0] = '_';
	s[REFERENCE_TAG_MAX - 1] = '-';
	assert_true(reference_tag_valid(s));
	free(s);
}

static void
test_tag_invalid(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", ".x", "-x", "a/b", "a:b", "sha256:abc", "a b", " a",
		"a ", "a+b", "a@b", "a%b", "%2e", "a\tb", "a\nb", "caf\xc3\xa9", "\x80",
		"a*", "a~", "a\\b",
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (reference_tag_valid(bad[i]))
			fail_msg("tag '%s' should be invalid", bad[i]);
	}
	/* 129 characters is one too many. */
	s = repeat('t', REFERENCE_TAG_MAX + 1);
	assert_false(reference_tag_valid(s));
	free(s);
	s = repeat('t', 100000);
	assert_false(reference_tag_valid(s));
	free(s);
}

static void
test_uuid_valid(void **state)
{
	static const char *const ok[] = {
		"123e4567-e89b-12d3-a456-426614174000",
		"00000000-0000-0000-0000-000000000000",
		"ffffffff-ffff-ffff-ffff-ffffffffffff",
	};
	static const char *const bad[] = {
		"", "123e4567", "123E4567-E89B-12D3-A456-426614174000",
		"123e4567-e89b-12d3-a456-42661417400",		/* 35 chars */
		"123e4567-e89b-12d3-a456-4266141740000",	/* 37 chars */
		"123e4567-e89b-12d3-a456-426614174000/",
		"123e4567e89b-12d3-a456-4266141740000",		/* dash moved */
		"123e4567-e89b-12d3-a4564-26614174000",
		"123e4567_e89b_12d3_a456_426614174000",
		"123e4567-e89b-12d3-a456-42661417400g",
		"{23e4567-e89b-12d3-a456-426614174000",
		"../../../../../../../../../etc/passwd",
		"123e4567-e89b-12d3-a456-4266141740\n0",
		"------------------------------------",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!reference_uuid_valid(ok[i]))
			fail_msg("uuid '%s' should be valid", ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (reference_uuid_valid(bad[i]))
			fail_msg("uuid '%s' should be invalid", bad[i]);
	}
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_uuid_new(void **state)
{
	enum { N = 2000 };
	char (*ids)[REFERENCE_UUID_LEN + 1];

	(void)state;
	ids = calloc(N, sizeof(*ids));
	assert_non_null(ids);
	for (size_t i = 0; i < N; i++) {
		char *id = ids[i];

		memset(id, 'X', REFERENCE_UUID_LEN + 1);
		reference_uuid_new(id);
		assert_int_equal(strlen(id), REFERENCE_UUID_LEN);
		assert_true(reference_uuid_valid(id));
		/* RFC 4122 version 4, variant 10xx. */
		assert_int_equal(id[14], '4');
		assert_non_null(strchr("89ab", id[19]));
	}
	/* Fresh every time. */
	qsort(ids, N, sizeof(*ids), cmp_str);
	for (size_t i = 1; i < N; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	free(ids);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_name_invalid),
		cmocka_unit_test(test_name_length_cap),
		cmocka_unit_test(test_tag_valid),
		cmocka_unit_test(test_tag_invalid),
		cmocka_unit_test(test_uuid_valid),
		cmocka_unit_test(test_uuid_new),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
