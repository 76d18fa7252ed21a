/* SPDX-License-Identifier: ISC
 * fuzz.h — shared by the fuzz drivers in tests/fuzz/.
 *
 * Each fuzz_X.c defines LLVMFuzzerTestOneInput and is linked either with
 * libFuzzer (clang -fsanitize=fuzzer: `make fuzz`, `make fuzz-smoke`) or with
 * replay.c (any compiler: `make fuzz-replay`), which feeds it the files of
 * the seed corpus.  A driver checks properties of what the parser returned,
 * not only that it did not crash: FUZZ_CHECK prints the property and aborts,
 * so libFuzzer saves the input as a crash and the replay program fails.
 */
#ifndef OCIREGD_FUZZ_H
#define OCIREGD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: property violated: %s\n",	\
			    __FILE__, __LINE__, #cond);				\
			abort();						\
		}								\
	} while (0)

/* A NUL-terminated copy of data[0..size) in a buffer of exactly size + 1
 * bytes, so that ASan sees a parser reading past the terminator.  Bytes after
 * an embedded NUL are invisible to the C-string parsers, as they would be to
 * a caller.  Never NULL (aborts on allocation failure). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A copy of data[0..size) without a terminator, for length-taking APIs, in
 * a buffer of exactly size bytes (ASan reports any read past it, though not
 * an access to a malloc(0) block).  May be NULL only when size is 0. */
static inline char *
fuzz_memdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size);

	if (s == NULL && size > 0)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	return s;
}

static inline int
fuzz_is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static inline int
fuzz_is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

#endif
