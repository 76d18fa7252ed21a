/* SPDX-License-Identifier: ISC
 * test_arena.c — the per-request bump allocator: alignment, zeroing, string
 * helpers, and the ARENA_MAX ceiling that bounds a request's memory.  Leaks
 * and out-of-bounds writes are ASan's part (make unit SAN=1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "arena.h"

static int
all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return 0;
	}
	return 1;
}

static void
test_alignment(void **state)
{
	static const size_t sizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 100, 1000, 4095, 4096,
	    4097, 10000, 65536};
	struct arena *a;

	(void)state;
	assert_non_null(a = arena_new());
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned char *p = arena_alloc(a, sizes[i]);

			assert_non_null(p);
			assert_int_equal((uintptr_t)p % 16, 0);
			/* The whole allocation is ours to write. */
			memset(p, 0xab, sizes[i]);
		}
	}
	arena_free(a);
}

static void
test_distinct(void **state)
{
	struct arena *a;
	unsigned char *p[200];

	(void)state;
	assert_non_null(a = arena_new());
	/* Sizes that fill blocks unevenly; contents must not overlap. */
	for (size_t i = 0; i < 200; i++) {
		size_t n = 1 + (i * 37) % 300;

		assert_non_null(p[i] = arena_alloc(a, n));
		memset(p[i], (int)i, n);
	}
	for (size_t i = 0; i < 200; i++) {
		size_t n = 1 + (i * 37) % 300;

		for (size_t j = 0; j < n; j++)
			assert_int_equal(p[i][j], (unsigned char)i);
	}
	arena_free(a);
}

static void
test_zeroed(void **state)
{
	static const size_t sizes[] = {24, 4000, 5000, 100000};

	(void)state;
	/* Dirty memory, release it, and allocate again: malloc is likely to
	 * hand the same chunks back, and they must come out zeroed. */
	for (int round = 0; round < 3; round++) {
		struct arena *a = arena_new();

		assert_non_null(a);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned char *p = arena_alloc(a, sizes[i]);

			assert_non_null(p);
			if (!all_zero(p, sizes[i]))
				fail_msg("round %d: %zu bytes not zeroed", round, sizes[i]);
			memset(p, 0xff, sizes[i]);
		}
		arena_free(a);
	}
}

static void
test_strings(void **state)
{
	struct arena *a;
	const char *src = "hello, world";
	char *s, *big;

	(void)state;
	assert_non_null(a = arena_new());
	assert_non_null(s = arena_strdup(a, src));
	assert_string_equal(s, src);
	assert_ptr_not_equal(s, src);
	assert_int_equal((uintptr_t)s % 16, 0);

	assert_non_null(s = arena_strdup(a, ""));
	assert_string_equal(s, "");

	assert_non_null(s = arena_strndup(a, src, 5));
	assert_string_equal(s, "hello");
	assert_non_null(s = arena_strndup(a, src, 0));
	assert_string_equal(s, "");
	/* strndup copies n bytes as given, even a NUL in the middle. */
	assert_non_null(s = arena_strndup(a, "ab\0cd", 5));
	assert_memory_equal(s, "ab\0cd", 6);

	assert_non_null(s = arena_printf(a, "%s-%d-%05.1f-%c%%", "x", 42, 3.14159, 'z'));
	assert_string_equal(s, "x-42-003.1-z%");
	assert_non_null(s = arena_printf(a, "%s", ""));
	assert_string_equal(s, "");

	/* Longer than a block. */
	big = malloc(10001);
	assert_non_null(big);
	memset(big, 'q', 10000);
	big[10000] = '\0';
	assert_non_null(s = arena_strdup(a, big));
	assert_string_equal(s, big);
	assert_non_null(s = arena_printf(a, "<%s>", big));
	assert_int_equal(strlen(s), 10002);
	assert_int_equal(s[0], '<');
	assert_int_equal(s[10001], '>');
	assert_int_equal(memcmp(s + 1, big, 10000), 0);
	free(big);
	arena_free(a);
}

static void
test_ceiling_one_block(void **state)
{
	struct arena *a;
	unsigned char *p;

	(void)state;
	assert_non_null(a = arena_new());
	assert_null(arena_alloc(a, (size_t)ARENA_MAX + 1));
	assert_null(arena_alloc(a, SIZE_MAX));
	assert_null(arena_alloc(a, SIZE_MAX - 14));	/* rounding would wrap */
	/* Failed requests do not use up the budget. */
	assert_non_null(p = arena_alloc(a, ARENA_MAX));
	p[0] = 1;
	p[ARENA_MAX - 1] = 1;
	/* Nothing more, not even a byte. */
	assert_null(arena_alloc(a, 1));
	assert_null(arena_strdup(a, "x"));
	assert_null(arena_printf(a, "%d", 1));
	arena_free(a);
}

static void
test_ceiling_many_small(void **state)
{
	struct arena *a;
	size_t got = 0;
	void *p;

	(void)state;
	assert_non_null(a = arena_new());
	/* Small allocations until the ceiling: the total handed out stays
	 * within ARENA_MAX, comes reasonably close to it, and once refused
	 * stays refused. */
	while ((p = arena_alloc(a, 1000)) != NULL) {
		memset(p, 1, 1000);
		got += 1000;
		assert_true(got <= ARENA_MAX);
	}
	assert_true(got > ARENA_MAX / 2);
	assert_null(arena_alloc(a, 1000));
	assert_null(arena_alloc(a, 100000));
	arena_free(a);

	/* A separate arena has its own budget. */
	assert_non_null(a = arena_new());
	assert_non_null(arena_alloc(a, ARENA_MAX / 2));
	assert_non_null(arena_alloc(a, ARENA_MAX / 4));
	assert_null(arena_alloc(a, ARENA_MAX / 2));
	arena_free(a);
}

static void
test_free_null(void **state)
{
	(void)state;
	arena_free(NULL);
	/* An arena never allocated from. */
	arena_free(arena_new());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_distinct),
		cmocka_unit_test(test_zeroed),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_ceiling_one_block),
		cmocka_unit_test(test_ceiling_many_small),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
