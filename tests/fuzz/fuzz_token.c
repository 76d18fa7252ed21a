/* SPDX-License-Identifier: ISC
 * fuzz_token.c — bearer tokens (token.c): JWT verification, signing and
 * scope parsing.
 *
 * Two fixed Ed25519 keys (written once to a temporary directory and loaded
 * with token_key_load); "now" is fixed and libsodium's random bytes (the
 * jti) come from a generator restarted per input, so runs are reproducible.
 *
 * token_verify properties:
 *   - the input, as a C string, never verifies (nobody can forge an Ed25519
 *     signature), and fails with a NUL-terminated reason; so does a token
 *     we signed with the input put in front of it or after it;
 *   - a token signed by token_sign over claims built from the input (the
 *     first line is the subject, each further line a scope given to
 *     token_scope_parse, the second byte picks the lifetime) verifies at a
 *     time inside its validity and gives back exactly those claims: sub,
 *     aud, exp, nbf, iat, every access entry's type, name and actions;
 *   - that token fails with the other key, for another audience, once
 *     expired and before nbf - 60 s;
 *   - that token with any one byte changed fails, checked at positions the
 *     input picks and at the first and last character of each of the three
 *     base64url segments (where non-canonical trailing bits would hide).
 *     The byte is flipped by one of 0x01, 0x02, 0x04, 0x20 and 0x80; the
 *     last makes a non-ASCII byte, which libsodium 1.0.18's base64 decoder
 *     takes for '_' (found here, fixed in token_unb64; the regression seed
 *     is corpus/fuzz_token/b64-high-byte-alias).
 *
 * token_scope_parse properties (the input as a scope):
 *   - it succeeds exactly when an oracle says so: a first ':' and a
 *     different last ':', a type of 1..15 bytes before the first and a name
 *     of 1..255 bytes between them; then type and name are those bytes, and
 *     actions the union of the comma-separated items after the last ':'
 *     that are pull, push, delete or * (all three); on failure the result
 *     is all zero;
 *   - "type:name:" + token_actions_str(actions) parses back to the same.
 */
#include <sodium.h>
#include <unistd.h>

#include "fuzz.h"
#include "token.h"

#define NOW 1700000000LL
#define SERVICE "ociregd"

static struct token_key *key, *other;

/* token_sign draws a random jti: a deterministic generator, restarted for
 * every input, makes every run of an input sign the same token, so a
 * finding replays. */
static uint64_t rng_state;

static uint32_t
rng_random(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

static void
rng_buf(void *const buf, const size_t size)
{
	for (size_t i = 0; i < size; i++)
		((unsigned char *)buf)[i] = (unsigned char)rng_random();
}

static const char *
rng_name(void)
{
	return "fuzz-deterministic";
}

static randombytes_implementation rng_impl = {
	.implementation_name = rng_name,
	.random = rng_random,
	.buf = rng_buf,
};

static struct token_key *
load_key(const char *dir, const char *name, const char *hex)
{
	char path[512], err[256];
	struct token_key *k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0)
		abort();
	if ((k = token_key_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	unlink(path);
	return k;
}

static void
setup(void)
{
	static char dir[] = "/tmp/ociregd-fuzz-token.XXXXXX";

	rng_state = 0x9e3779b97f4a7c15ULL;
	if (randombytes_set_implementation(&rng_impl) != 0 || sodium_init() < 0 || mkdtemp(dir) == NULL)
		abort();
	key = load_key(dir, "a.key", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	other = load_key(dir, "b.key", "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
	rmdir(dir);
}

static int
verify(const struct token_key *k, const char *jwt, const char *service, long long now,
    struct token_claims *out)
{
	char err[128];
	int rc;

	memset(err, 0x5a, sizeof(err));
	rc = token_verify(k, jwt, service, now, out, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0)
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
	return rc;
}

static void
must_fail(const char *jwt)
{
	struct token_claims *c = malloc(sizeof(*c));

	FUZZ_CHECK(c != NULL);
	if (verify(key, jwt, SERVICE, NOW, c) == 0) {
		fprintf(stderr, "forged or altered token verified: '%s'\n", jwt);
		FUZZ_CHECK(!"a token not made by token_sign verifies");
	}
	free(c);
}

static unsigned
oracle_action(const char *a, size_t n)
{
	if (n == 4 && memcmp(a, "pull", 4) == 0)
		return TOKEN_PULL;
	if (n == 4 && memcmp(a, "push", 4) == 0)
		return TOKEN_PUSH;
	if (n == 6 && memcmp(a, "delete", 6) == 0)
		return TOKEN_DELETE;
	if (n == 1 && a[0] == '*')
		return TOKEN_ALL;
	return 0;
}

static void
check_scope(const char *s)
{
	struct token_access ta, back;
	const char *c1 = strchr(s, ':'), *c2 = strrchr(s, ':');
	char acts[64], *again;
	size_t alen;
	int ok = c1 != NULL && c1 != c2;
	size_t tl = 0, nl = 0;
	unsigned want = 0;
	static const struct token_access zero;

	if (ok) {
		tl = (size_t)(c1 - s);
		nl = (size_t)(c2 - c1 - 1);
		ok = tl >= 1 && tl <= 15 && nl >= 1 && nl <= 255;
	}
	if (ok) {
		for (const char *p = c2 + 1; *p != '\0';) {
			size_t n = strcspn(p, ",");

			want |= oracle_action(p, n);
			p += n;
			if (*p == ',')
				p++;
		}
	}
	memset(&ta, 0x5a, sizeof(ta));
	if (token_scope_parse(s, &ta) != 0) {
		FUZZ_CHECK(!ok);
		FUZZ_CHECK(memcmp(&ta, &zero, sizeof(ta)) == 0);
		return;
	}
	FUZZ_CHECK(ok);
	FUZZ_CHECK(strlen(ta.type) == tl && memcmp(ta.type, s, tl) == 0);
	FUZZ_CHECK(strlen(ta.name) == nl && memcmp(ta.name, c1 + 1, nl) == 0);
	FUZZ_CHECK(ta.actions == want && (ta.actions & ~TOKEN_ALL) == 0);

	token_actions_str(ta.actions, acts, sizeof(acts));
	FUZZ_CHECK(strlen(acts) < sizeof(acts));
	alen = tl + nl + strlen(acts) + 3;
	again = malloc(alen);
	FUZZ_CHECK(again != NULL);
	snprintf(again, alen, "%s:%s:%s", ta.type, ta.name, acts);
	FUZZ_CHECK(token_scope_parse(again, &back) == 0);
	FUZZ_CHECK(strcmp(back.type, ta.type) == 0 && strcmp(back.name, ta.name) == 0 &&
	    back.actions == ta.actions);
	free(again);
}

/* Claims from the input: subject, then scopes, one per line. */
static void
build_claims(const uint8_t *data, size_t size, struct token_claims *c)
{
	size_t off = 0, line = 0;

	memset(c, 0, sizeof(*c));
	snprintf(c->aud, sizeof(c->aud), "%s", SERVICE);
	c->iat = NOW;
	c->nbf = NOW - 5;
	c->exp = NOW + 60 + (size > 1 ? data[1] : 0) * 337;
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl != NULL ? (size_t)(nl - (data + off)) : size - off;
		char *s = fuzz_strndup(data + off, n);

		if (line == 0) {
			snprintf(c->sub, sizeof(c->sub), "%s", s);
		} else if (c->naccess < TOKEN_MAX_ACCESS && token_scope_parse(s, &c->access[c->naccess]) == 0) {
			/* Bits past the three actions are not representable. */
			c->access[c->naccess].actions |= (n > 0 ? ((unsigned)data[off] & 8u) : 0);
			c->naccess++;
		}
		free(s);
		off += n + 1;
		line++;
	}
}

static void
check_roundtrip(const uint8_t *data, size_t size, const char *input)
{
	struct token_claims *c = malloc(sizeof(*c)), *got = malloc(sizeof(*got));
	char *jwt, *alt;
	size_t len, pos[16], npos = 0;
	uint32_t h = 2166136261u;

	FUZZ_CHECK(c != NULL && got != NULL);
	build_claims(data, size, c);
	jwt = token_sign(key, c, "ociregd");
	FUZZ_CHECK(jwt != NULL);
	len = strlen(jwt);
	if (len > TOKEN_MAX_LEN) {
		/* Too long for token_verify to look at: it must say so. */
		FUZZ_CHECK(verify(key, jwt, SERVICE, NOW, got) == -1);
		goto out;
	}
	FUZZ_CHECK(verify(key, jwt, SERVICE, NOW, got) == 0);
	FUZZ_CHECK(strcmp(got->sub, c->sub) == 0 && strcmp(got->aud, c->aud) == 0);
	FUZZ_CHECK(got->exp == c->exp && got->nbf == c->nbf && got->iat == c->iat);
	FUZZ_CHECK(got->naccess == c->naccess);
	for (size_t i = 0; i < c->naccess; i++) {
		FUZZ_CHECK(strcmp(got->access[i].type, c->access[i].type) == 0);
		FUZZ_CHECK(strcmp(got->access[i].name, c->access[i].name) == 0);
		FUZZ_CHECK(got->access[i].actions == (c->access[i].actions & TOKEN_ALL));
	}
	/* Edges of validity, other key, other audience. */
	FUZZ_CHECK(verify(key, jwt, SERVICE, c->exp - 1, got) == 0);
	FUZZ_CHECK(verify(key, jwt, SERVICE, c->exp, got) == -1);
	FUZZ_CHECK(verify(key, jwt, SERVICE, c->nbf - 60, got) == 0);
	FUZZ_CHECK(verify(key, jwt, SERVICE, c->nbf - 61, got) == -1);
	FUZZ_CHECK(verify(other, jwt, SERVICE, NOW, got) == -1);
	FUZZ_CHECK(verify(key, jwt, "ociregd2", NOW, got) == -1);
	FUZZ_CHECK(verify(key, jwt, "", NOW, got) == -1);

	/* One byte changed. */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	pos[npos++] = h % len;
	pos[npos++] = (h >> 7) % len;
	pos[npos++] = 0;
	pos[npos++] = len - 1;
	for (size_t i = 0; i < len; i++) {
		if (jwt[i] == '.') {
			pos[npos++] = i - 1;
			pos[npos++] = i + 1;
			if (npos + 2 > sizeof(pos) / sizeof(pos[0]))
				break;
		}
	}
	for (size_t i = 0; i < npos; i++) {
		static const unsigned flips[] = {0x01, 0x02, 0x04, 0x20, 0x80};

		for (size_t f = 0; f < sizeof(flips) / sizeof(flips[0]); f++) {
			char x = (char)(flips[f] | (size > 0 ? data[0] & 0x40 : 0));

			jwt[pos[i]] ^= x;
			must_fail(jwt);
			jwt[pos[i]] ^= x;
		}
	}
	/* Anything appended or prepended. */
	if (input[0] != '\0' && strlen(input) < 4096) {
		size_t alen = len + strlen(input) + 1;

		alt = malloc(alen);
		FUZZ_CHECK(alt != NULL);
		snprintf(alt, alen, "%s%s", jwt, input);
		must_fail(alt);
		snprintf(alt, alen, "%s%s", input, jwt);
		must_fail(alt);
		free(alt);
	}
out:
	free(jwt);
	free(c);
	free(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (key == NULL)
		setup();
	rng_state = 0x9e3779b97f4a7c15ULL;
	s = fuzz_strndup(data, size);
	must_fail(s);
	check_scope(s);
	check_roundtrip(data, size, s);
	free(s);
	return 0;
}
