/* SPDX-License-Identifier: ISC
 * test_digest.c — digest grammar (sha256/sha512, lowercase hex of the exact
 * length) and the incremental hasher, checked against published vectors and
 * against the one-shot digest for every way of cutting the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "errors.h"

#define HEX64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX128 "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" \
	"47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"

static void
test_parse_valid(void **state)
{
	struct digest d, copy;

	(void)state;
	memset(&d, 0x55, sizeof(d));
	assert_int_equal(digest_parse("sha256:" HEX64, &d), 0);
	assert_int_equal(d.alg, DIGEST_SHA256);
	assert_string_equal(d.str, "sha256:" HEX64);
	assert_string_equal(digest_hex(&d), HEX64);

	memset(&d, 0x55, sizeof(d));
	assert_int_equal(digest_parse("sha512:" HEX128, &d), 0);
	assert_int_equal(d.alg, DIGEST_SHA512);
	assert_string_equal(d.str, "sha512:" HEX128);
	assert_string_equal(digest_hex(&d), HEX128);
	assert_int_equal(strlen(d.str) + 1, DIGEST_STR_MAX);

	/* The struct holds no self-pointers: a copy is independent. */
	copy = d;
	memset(&d, 0, sizeof(d));
	assert_string_equal(digest_hex(&copy), HEX128);

	assert_int_equal(digest_parse("sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000", &d), 0);
	assert_int_equal(digest_parse("sha256:"
	    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", &d), 0);
}

static void
test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		":",
		"sha256",
		"sha256:",
		HEX64,					/* no algorithm */
		":" HEX64,
		"sha256" HEX64,				/* missing colon */
		"SHA256:" HEX64,			/* algorithm is case-sensitive */
		"Sha256:" HEX64,
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85E",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",	/* 63 */
		"sha256:" HEX64 "0",			/* 65 */
		"sha256:" HEX64 "\n",
		"sha256:" HEX64 " ",
		" sha256:" HEX64,
		"sha256: " HEX64,
		"sha256::" HEX64,
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85-",
		"sha256:" HEX128,			/* sha512 length under sha256 */
		"sha512:" HEX64,			/* sha256 length under sha512 */
		"sha512:" HEX128 "0",
		"sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
		    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3",	/* 127 */
		"sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da"
		    "274edebfe76f65fbd51ad2f14898b95b",
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
		"sha256+b64u:" HEX64,
		"sha25:" HEX64,
		"sha2566:" HEX64,
		"blake3:" HEX64,
		"sha256:%65" HEX64,
	};
	struct digest d;
	char *big;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (digest_parse(bad[i], &d) != -ERR_DIGEST_INVALID)
			fail_msg("digest '%s' should be invalid", bad[i]);
	}
	/* A long NUL-free hex run after a valid prefix. */
	big = malloc(1 << 20);
	assert_non_null(big);
	memcpy(big, "sha256:", 7);
	memset(big + 7, 'a', (1 << 20) - 8);
	big[(1 << 20) - 1] = '\0';
	assert_int_equal(digest_parse(big, &d), -ERR_DIGEST_INVALID);
	free(big);
}

static void
test_alg_name(void **state)
{
	(void)state;
	assert_string_equal(digest_alg_name(DIGEST_SHA256), "sha256");
	assert_string_equal(digest_alg_name(DIGEST_SHA512), "sha512");
}

/* ?digest-algorithm= takes a bare name: the two we hash, spelled exactly. */
static void
test_alg_parse(void **state)
{
	static const char *const bad[] = {
		"", "sha", "sha384", "SHA512", "sha512 ", " sha256", "sha256:", "sha5120", "blake3",
	};
	enum digest_alg a = DIGEST_SHA512;

	(void)state;
	assert_int_equal(digest_alg_parse("sha256", &a), 0);
	assert_int_equal(a, DIGEST_SHA256);
	assert_int_equal(digest_alg_parse("sha512", &a), 0);
	assert_int_equal(a, DIGEST_SHA512);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = DIGEST_SHA512;
		assert_int_equal(digest_alg_parse(bad[i], &a), -ERR_DIGEST_INVALID);
		assert_int_equal(a, DIGEST_SHA512);	/* untouched */
	}
}

static void
test_known_vectors(void **state)
{
	static const struct {
		enum digest_alg alg;
		const char *in;
		const char *out;
	} v[] = {
		{DIGEST_SHA256, "", "sha256:" HEX64},
		{DIGEST_SHA256, "{}",
		    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
		{DIGEST_SHA256, "abc",
		    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{DIGEST_SHA512, "", "sha512:" HEX128},
		{DIGEST_SHA512, "abc",
		    "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
		    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
	};
	struct digest d, p;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct hasher *h;

		assert_int_equal(digest_buffer(v[i].alg, v[i].in, strlen(v[i].in), &d), 0);
		assert_string_equal(d.str, v[i].out);
		assert_int_equal(d.alg, v[i].alg);
		/* What we produce, we accept. */
		assert_int_equal(digest_parse(d.str, &p), 0);
		assert_memory_equal(&p.alg, &d.alg, sizeof(d.alg));

		assert_non_null(h = hasher_new(v[i].alg));
		assert_int_equal(hasher_alg(h), v[i].alg);
		assert_int_equal(hasher_update(h, v[i].in, strlen(v[i].in)), 0);
		assert_int_equal(hasher_bytes(h), strlen(v[i].in));
		assert_int_equal(hasher_final(h, &d), 0);
		assert_string_equal(d.str, v[i].out);
		hasher_free(h);
	}
}

static void
test_million_a(void **state)
{
	char chunk[1000];
	struct hasher *h256, *h512;
	struct digest d;

	(void)state;
	memset(chunk, 'a', sizeof(chunk));
	assert_non_null(h256 = hasher_new(DIGEST_SHA256));
	assert_non_null(h512 = hasher_new(DIGEST_SHA512));
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(hasher_update(h256, chunk, sizeof(chunk)), 0);
		assert_int_equal(hasher_update(h512, chunk, sizeof(chunk)), 0);
	}
	assert_int_equal(hasher_bytes(h256), 1000000);
	assert_int_equal(hasher_final(h256, &d), 0);
	assert_string_equal(d.str,
	    "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	assert_int_equal(hasher_final(h512, &d), 0);
	assert_string_equal(d.str,
	    "sha512:e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
	    "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");
	hasher_free(h256);
	hasher_free(h512);
}

/* Incremental hashing in irregular pieces, including empty updates, equals
 * the one-shot digest for both algorithms. */
static void
test_incremental_equals_oneshot(void **state)
{
	const size_t len = 3 * 1024 * 1024 + 17;
	static const size_t cuts[] = {1, 2, 3, 7, 63, 64, 65, 127, 128, 129, 4096, 65537};
	unsigned char *buf;
	struct digest one, inc;

	(void)state;
	assert_non_null(buf = malloc(len));
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 7 + 3) & 0xff);
	assert_int_equal(digest_buffer(DIGEST_SHA256, buf, len, &one), 0);
	assert_string_equal(one.str,
	    "sha256:af0420698203db612d2363019e5daab6c288a059aad9a9ee0270be2cd0f5bd4d");

	for (int alg = DIGEST_SHA256; alg <= DIGEST_SHA512; alg++) {
		assert_int_equal(digest_buffer((enum digest_alg)alg, buf, len, &one), 0);
		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
			struct hasher *h = hasher_new((enum digest_alg)alg);
			size_t off = 0, step = cuts[c];

			assert_non_null(h);
			while (off < len) {
				size_t n = len - off < step ? len - off : step;

				assert_int_equal(hasher_update(h, buf + off, n), 0);
				assert_int_equal(hasher_update(h, buf + off, 0), 0);
				off += n;
				/* Vary the piece size so boundaries do not line up
				 * with the hash block size. */
				step = step * 3 % 100003 + 1;
			}
			assert_int_equal(hasher_bytes(h), len);
			assert_int_equal(hasher_final(h, &inc), 0);
			assert_string_equal(inc.str, one.str);
			assert_int_equal(inc.alg, alg);
			hasher_free(h);
		}
	}
	free(buf);
}

static void
test_hasher_empty_and_free(void **state)
{
	struct hasher *h;
	struct digest d;

	(void)state;
	/* No update at all is the digest of "". */
	assert_non_null(h = hasher_new(DIGEST_SHA512));
	assert_int_equal(hasher_bytes(h), 0);
	assert_int_equal(hasher_update(h, "", 0), 0);
	assert_int_equal(hasher_bytes(h), 0);
	assert_int_equal(hasher_final(h, &d), 0);
	assert_string_equal(d.str, "sha512:" HEX128);
	hasher_free(h);

	/* Freeing an unfinished hasher and NULL is fine (ASan checks leaks). */
	assert_non_null(h = hasher_new(DIGEST_SHA256));
	assert_int_equal(hasher_update(h, "abc", 3), 0);
	hasher_free(h);
	hasher_free(NULL);
}

/* A hasher exported mid-stream and imported elsewhere finishes with the
 * digest of the whole input (S3 uploads resume on another node this way);
 * malformed state is refused. */
static void
test_hasher_export_import(void **state)
{
	static const char text[] = "The quick brown fox jumps over the lazy dog, twice over: "
	    "the quick brown fox jumps over the lazy dog.";
	unsigned char buf[HASHER_EXPORT_MAX];

	(void)state;
	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
		for (size_t cut = 0; cut <= sizeof(text) - 1; cut += 7) {
			struct hasher *h = hasher_new((enum digest_alg)a), *h2;
			struct digest want, got;
			size_t n;

			assert_non_null(h);
			assert_int_equal(digest_buffer((enum digest_alg)a, text, sizeof(text) - 1, &want), 0);
			hasher_update(h, text, cut);
			n = hasher_export(h, buf, sizeof(buf));
			assert_true(n > 0 && n <= HASHER_EXPORT_MAX);
			assert_int_equal(hasher_export(h, buf, n - 1), 0);
			hasher_free(h);
			assert_non_null(h2 = hasher_import(buf, n));
			assert_int_equal(hasher_alg(h2), a);
			assert_int_equal(hasher_bytes(h2), cut);
			hasher_update(h2, text + cut, sizeof(text) - 1 - cut);
			assert_int_equal(hasher_final(h2, &got), 0);
			assert_string_equal(got.str, want.str);
			hasher_free(h2);
			assert_null(hasher_import(buf, n - 1));
			/* A byte count the context does not bear out: a
			 * block fill (num) or bit count that disagrees. */
			for (uint64_t delta = 1; delta <= 256; delta *= 4) {
				uint64_t bytes;

				memcpy(&bytes, buf + 8, sizeof(bytes));
				bytes += delta;
				memcpy(buf + 8, &bytes, sizeof(bytes));
				assert_null(hasher_import(buf, n));
				bytes -= delta;
				memcpy(buf + 8, &bytes, sizeof(bytes));
			}
			assert_non_null(h2 = hasher_import(buf, n));
			hasher_free(h2);
			buf[0] ^= 1;
			assert_null(hasher_import(buf, n));
		}
	}
	assert_null(hasher_import(buf, 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_alg_name),
		cmocka_unit_test(test_alg_parse),
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_incremental_equals_oneshot),
		cmocka_unit_test(test_hasher_empty_and_free),
		cmocka_unit_test(test_hasher_export_import),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
