/* SPDX-License-Identifier: ISC
 * fuzz_digest.c — digest grammar and incremental hashing (digest.c).
 *
 * The input, as a C string, goes to digest_parse.  Accepted exactly when it
 * is "sha256:" + 64 or "sha512:" + 128 lowercase hex digits (checked against
 * an oracle in both directions), and then the canonical str equals the input
 * and alg matches the prefix: a digest names a file under blobs/, so nothing
 * else may get through.
 *
 * The raw input bytes are also hashed with both algorithms through a hasher
 * fed in pieces whose lengths the input itself picks (including empty
 * updates); the result must equal digest_buffer of the whole and parse back.
 */
#include "digest.h"
#include "errors.h"
#include "fuzz.h"

static int
oracle_digest(const char *s, enum digest_alg *alg)
{
	static const struct {
		const char *prefix;
		size_t hexlen;
		enum digest_alg alg;
	} algs[] = {{"sha256:", 64, DIGEST_SHA256}, {"sha512:", 128, DIGEST_SHA512}};

	for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		const char *hex = s + 7;

		if (strncmp(s, algs[a].prefix, 7) != 0)
			continue;
		if (strlen(hex) != algs[a].hexlen)
			return 0;
		for (size_t i = 0; hex[i] != '\0'; i++)
			if (!fuzz_is_lower_hex(hex[i]))
				return 0;
		*alg = algs[a].alg;
		return 1;
	}
	return 0;
}

static void
check_parse(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	struct digest d;
	enum digest_alg want = DIGEST_SHA256;
	int rc, ok;

	memset(&d, 0x5a, sizeof(d));
	rc = digest_parse(s, &d);
	ok = oracle_digest(s, &want);
	FUZZ_CHECK(rc == 0 || rc == -ERR_DIGEST_INVALID);
	FUZZ_CHECK((rc == 0) == ok);
	if (rc == 0) {
		size_t hexlen = d.alg == DIGEST_SHA512 ? 128 : 64;

		FUZZ_CHECK(d.alg == want);
		FUZZ_CHECK(memchr(d.str, '\0', sizeof(d.str)) != NULL);
		FUZZ_CHECK(strcmp(d.str, s) == 0);
		FUZZ_CHECK(strncmp(d.str, digest_alg_name(d.alg), 6) == 0 && d.str[6] == ':');
		FUZZ_CHECK(strlen(digest_hex(&d)) == hexlen);
		for (size_t i = 0; i < hexlen; i++)
			FUZZ_CHECK(fuzz_is_lower_hex(digest_hex(&d)[i]));
	}
	free(s);
}

static void
check_hash(enum digest_alg alg, const uint8_t *data, size_t size)
{
	struct hasher *h = hasher_new(alg);
	struct digest whole, pieces, back;
	size_t pos = 0;

	FUZZ_CHECK(h != NULL);
	FUZZ_CHECK(hasher_alg(h) == alg);
	/* Split points from the data: the byte at each split picks the next
	 * piece's length, 0 meaning an empty update before a 1-byte one. */
	while (pos < size) {
		size_t n = data[pos] % 67;

		if (n == 0) {
			FUZZ_CHECK(hasher_update(h, data + pos, 0) == 0);
			n = 1;
		}
		if (n > size - pos)
			n = size - pos;
		FUZZ_CHECK(hasher_update(h, data + pos, n) == 0);
		pos += n;
		FUZZ_CHECK(hasher_bytes(h) == pos);
	}
	FUZZ_CHECK(hasher_bytes(h) == size);
	FUZZ_CHECK(hasher_final(h, &pieces) == 0);
	hasher_free(h);
	FUZZ_CHECK(digest_buffer(alg, data, size, &whole) == 0);
	FUZZ_CHECK(whole.alg == alg && pieces.alg == alg);
	FUZZ_CHECK(strcmp(whole.str, pieces.str) == 0);
	/* What we compute is what we accept. */
	FUZZ_CHECK(digest_parse(whole.str, &back) == 0);
	FUZZ_CHECK(back.alg == alg && strcmp(back.str, whole.str) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_hash(DIGEST_SHA256, data, size);
	check_hash(DIGEST_SHA512, data, size);
	return 0;
}
