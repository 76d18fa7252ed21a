/* SPDX-License-Identifier: ISC
 * test_token.c — Ed25519 JWT bearer tokens (token.c): sign/verify round
 * trip with every claim and access entry, the checks token_verify must make
 * (signature over header and payload, alg EdDSA only, exp, nbf with its
 * 60 s leeway, aud), garbage and oversized input, the key file (created
 * 0600, reloaded to the same key, bad contents refused), and the scope
 * parser and action formatter of Docker's token protocol.
 *
 * Tokens with chosen headers and claims are forged in the test with the
 * real signing key read back from the key file, so a rejection is known to
 * come from the check under test and not from a bad signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "token.h"

#define SVC "ociregd"
#define NOW 1700000000LL

struct fixture {
	char dir[64];
	char keypath[128];
	struct token_key *k;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Read the hex seed of a key file and derive the keypair from it. */
static int
read_keypair(const char *path, unsigned char *pk, unsigned char *sk)
{
	char hex[256];
	unsigned char seed[crypto_sign_SEEDBYTES];
	size_t bl;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, hex, sizeof(hex) - 1);
	close(fd);
	if (n < 64)
		return -1;
	if (sodium_hex2bin(seed, sizeof(seed), hex, 64, NULL, &bl, NULL) != 0 || bl != sizeof(seed))
		return -1;
	return crypto_sign_seed_keypair(pk, sk, seed);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_token.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->keypath, sizeof(f->keypath), "%s/token.key", f->dir);
	if ((f->k = token_key_load(f->keypath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "token_key_load: %s\n", err);
		return -1;
	}
	if (read_keypair(f->keypath, f->pk, f->sk) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	token_key_free(f->k);
	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* base64url without padding, malloc'd. */
static char *
b64(const void *bin, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = malloc(cap);

	assert_non_null(out);
	sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/* Decode base64url part [s, s+len), malloc'd and NUL-terminated. */
static unsigned char *
unb64(const char *s, size_t len, size_t *outlen)
{
	unsigned char *out = malloc(len + 1);

	assert_non_null(out);
	assert_int_equal(sodium_base642bin(out, len, s, len, NULL, outlen, NULL,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
	out[*outlen] = '\0';
	return out;
}

/* header.payload.signature: sign with sk (NULL: an empty signature part). */
static char *
forge(const unsigned char *sk, const char *header, const char *payload)
{
	char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload)), *s, *jwt;
	size_t slen = strlen(h) + 1 + strlen(p), cap;
	unsigned char sig[crypto_sign_BYTES];
	char *signing = malloc(slen + 1);

	assert_non_null(signing);
	snprintf(signing, slen + 1, "%s.%s", h, p);
	if (sk != NULL) {
		crypto_sign_detached(sig, NULL, (const unsigned char *)signing, slen, sk);
		s = b64(sig, sizeof(sig));
	} else {
		s = strdup("");
	}
	cap = slen + 1 + strlen(s) + 1;
	jwt = malloc(cap);
	assert_non_null(jwt);
	snprintf(jwt, cap, "%s.%s", signing, s);
	free(h);
	free(p);
	free(s);
	free(signing);
	return jwt;
}

static const char hdr_eddsa[] = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}";

/* A payload with the given times and audience and one pull grant. */
static char *
payload(long long exp, long long nbf, long long iat, const char *aud)
{
	char *p = malloc(512);

	assert_non_null(p);
	snprintf(p, 512, "{\"iss\":\"ociregd\",\"sub\":\"alice\",\"aud\":\"%s\",\"exp\":%lld,\"nbf\":%lld,"
	    "\"iat\":%lld,\"jti\":\"x\",\"access\":[{\"type\":\"repository\",\"name\":\"team/app\","
	    "\"actions\":[\"pull\"]}]}", aud, exp, nbf, iat);
	return p;
}

static int
verify(const struct fixture *f, const char *jwt, long long now, struct token_claims *c, char *err,
    size_t cap)
{
	err[0] = '\0';
	return token_verify(f->k, jwt, SVC, now, c, err, cap);
}

/* The token must be refused, with a reason. */
static void
assert_refused(const struct fixture *f, const char *jwt, long long now, const char *what)
{
	struct token_claims c;
	char err[256];

	if (verify(f, jwt, now, &c, err, sizeof(err)) != -1)
		fail_msg("%s: token_verify accepted it (sub '%s')", what, c.sub);
	if (err[0] == '\0')
		fail_msg("%s: refused without a reason in err", what);
}

static void
claims_base(struct token_claims *c, long long now)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->sub, sizeof(c->sub), "alice");
	snprintf(c->aud, sizeof(c->aud), SVC);
	c->iat = now;
	c->nbf = now - 5;
	c->exp = now + 300;
}

static void
add_access(struct token_claims *c, const char *type, const char *name, unsigned actions)
{
	struct token_access *a = &c->access[c->naccess++];

	snprintf(a->type, sizeof(a->type), "%s", type);
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->actions = actions;
}

/* ---------------------------------------------------------------- round trip */

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct token_claims c, out;
	char err[256], *jwt;

	claims_base(&c, NOW);
	add_access(&c, "repository", "team/app", TOKEN_PULL | TOKEN_PUSH);
	add_access(&c, "repository", "localhost:5000/a/b", TOKEN_PULL);
	add_access(&c, "repository", "team/del", TOKEN_DELETE);
	add_access(&c, "registry", "catalog", TOKEN_ALL);
	add_access(&c, "repository", "team/none", 0);
	jwt = token_sign(f->k, &c, "ociregd");
	assert_non_null(jwt);
	assert_true(strlen(jwt) < TOKEN_MAX_LEN);
	/* Compact form: three base64url parts, no padding. */
	assert_int_equal(strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
	    strlen(jwt));
	{
		const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

		assert_non_null(d2);
		assert_null(strchr(d2 + 1, '.'));
	}

	assert_int_equal(verify(f, jwt, NOW, &out, err, sizeof(err)), 0);
	assert_string_equal(out.sub, "alice");
	assert_string_equal(out.aud, SVC);
	assert_int_equal(out.exp, NOW + 300);
	assert_int_equal(out.nbf, NOW - 5);
	assert_int_equal(out.iat, NOW);
	assert_int_equal(out.naccess, 5);
	assert_string_equal(out.access[0].type, "repository");
	assert_string_equal(out.access[0].name, "team/app");
	assert_int_equal(out.access[0].actions, TOKEN_PULL | TOKEN_PUSH);
	assert_string_equal(out.access[1].name, "localhost:5000/a/b");
	assert_int_equal(out.access[1].actions, TOKEN_PULL);
	assert_string_equal(out.access[2].name, "team/del");
	assert_int_equal(out.access[2].actions, TOKEN_DELETE);
	assert_string_equal(out.access[3].type, "registry");
	assert_string_equal(out.access[3].name, "catalog");
	assert_int_equal(out.access[3].actions, TOKEN_ALL);
	assert_string_equal(out.access[4].name, "team/none");
	assert_int_equal(out.access[4].actions, 0);

	/* Valid for its whole lifetime, not at exp. */
	assert_int_equal(verify(f, jwt, NOW + 299, &out, err, sizeof(err)), 0);
	assert_refused(f, jwt, NOW + 300, "at exp");
	/* No credential fingerprint signed: none read back. */
	assert_string_equal(out.cred, "");
	free(jwt);

	/* The credential fingerprint (ocv) round-trips. */
	snprintf(c.cred, sizeof(c.cred), "%s", "0123456789abcdef01234567");
	jwt = token_sign(f->k, &c, "ociregd");
	assert_non_null(jwt);
	assert_int_equal(verify(f, jwt, NOW, &out, err, sizeof(err)), 0);
	assert_string_equal(out.cred, "0123456789abcdef01234567");
	free(jwt);
}

/* The JOSE header and the claims as Docker's token spec names them. */
static void
test_wire_format(void **state)
{
	struct fixture *f = *state;
	struct token_claims c;
	char *jwt;
	const char *d1, *d2;
	unsigned char *h, *p;
	size_t hl, pl;
	cJSON *hj, *pj, *a, *acts;

	claims_base(&c, NOW);
	add_access(&c, "repository", "team/app", TOKEN_PULL | TOKEN_PUSH);
	add_access(&c, "registry", "catalog", TOKEN_ALL);
	jwt = token_sign(f->k, &c, "my-issuer");
	assert_non_null(jwt);
	d1 = strchr(jwt, '.');
	d2 = strchr(d1 + 1, '.');
	h = unb64(jwt, (size_t)(d1 - jwt), &hl);
	p = unb64(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
	hj = cJSON_Parse((const char *)h);
	pj = cJSON_Parse((const char *)p);
	assert_non_null(hj);
	assert_non_null(pj);
	assert_string_equal(cJSON_GetObjectItem(hj, "alg")->valuestring, "EdDSA");
	assert_string_equal(cJSON_GetObjectItem(pj, "iss")->valuestring, "my-issuer");
	assert_string_equal(cJSON_GetObjectItem(pj, "sub")->valuestring, "alice");
	assert_string_equal(cJSON_GetObjectItem(pj, "aud")->valuestring, SVC);
	assert_int_equal((long long)cJSON_GetObjectItem(pj, "exp")->valuedouble, NOW + 300);
	assert_int_equal((long long)cJSON_GetObjectItem(pj, "nbf")->valuedouble, NOW - 5);
	assert_int_equal((long long)cJSON_GetObjectItem(pj, "iat")->valuedouble, NOW);
	assert_true(cJSON_IsString(cJSON_GetObjectItem(pj, "jti")));
	assert_true(strlen(cJSON_GetObjectItem(pj, "jti")->valuestring) > 0);
	a = cJSON_GetArrayItem(cJSON_GetObjectItem(pj, "access"), 0);
	assert_non_null(a);
	assert_string_equal(cJSON_GetObjectItem(a, "type")->valuestring, "repository");
	assert_string_equal(cJSON_GetObjectItem(a, "name")->valuestring, "team/app");
	acts = cJSON_GetObjectItem(a, "actions");
	assert_int_equal(cJSON_GetArraySize(acts), 2);
	assert_string_equal(cJSON_GetArrayItem(acts, 0)->valuestring, "pull");
	assert_string_equal(cJSON_GetArrayItem(acts, 1)->valuestring, "push");
	cJSON_Delete(hj);
	cJSON_Delete(pj);
	free(h);
	free(p);

	/* Two tokens for the same claims differ (jti) and both verify. */
	{
		char *jwt2 = token_sign(f->k, &c, "my-issuer");
		struct token_claims out;
		char err[256];

		assert_non_null(jwt2);
		assert_string_not_equal(jwt, jwt2);
		assert_int_equal(verify(f, jwt2, NOW, &out, err, sizeof(err)), 0);
		free(jwt2);
	}
	free(jwt);
}

/* An anonymous token: sub "" survives the round trip. */
static void
test_anonymous_round_trip(void **state)
{
	struct fixture *f = *state;
	struct token_claims c, out;
	char err[256], *jwt;

	claims_base(&c, NOW);
	c.sub[0] = '\0';
	jwt = token_sign(f->k, &c, "ociregd");
	assert_non_null(jwt);
	assert_int_equal(verify(f, jwt, NOW, &out, err, sizeof(err)), 0);
	assert_string_equal(out.sub, "");
	assert_int_equal(out.naccess, 0);
	free(jwt);
}

/* ---------------------------------------------------------------- tampering */

static void
test_tampered_payload(void **state)
{
	struct fixture *f = *state;
	struct token_claims c;
	char *jwt, *p64, *forged;
	const char *d1, *d2;
	unsigned char *p;
	size_t pl, cap;
	char *at;

	claims_base(&c, NOW);
	add_access(&c, "repository", "team/app", TOKEN_PULL);
	jwt = token_sign(f->k, &c, "ociregd");
	assert_non_null(jwt);
	d1 = strchr(jwt, '.');
	d2 = strchr(d1 + 1, '.');

	/* Edit the claims (pull -> push, alice -> admin) and keep the
	 * original header and signature. */
	p = unb64(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
	at = strstr((char *)p, "\"pull\"");
	assert_non_null(at);
	memcpy(at, "\"push\"", 6);
	at = strstr((char *)p, "alice");
	assert_non_null(at);
	memcpy(at, "admin", 5);
	p64 = b64(p, pl);
	cap = strlen(jwt) + strlen(p64) + 4;
	forged = malloc(cap);
	assert_non_null(forged);
	snprintf(forged, cap, "%.*s.%s%s", (int)(d1 - jwt), jwt, p64, d2);
	assert_refused(f, forged, NOW, "payload edited, old signature");

	/* One character of the encoded payload changed. */
	memcpy(forged, jwt, strlen(jwt) + 1);
	forged[(d1 - jwt) + 3] = forged[(d1 - jwt) + 3] == 'A' ? 'B' : 'A';
	assert_refused(f, forged, NOW, "payload character flipped");

	/* One character of the encoded header changed. */
	memcpy(forged, jwt, strlen(jwt) + 1);
	forged[2] = forged[2] == 'A' ? 'B' : 'A';
	assert_refused(f, forged, NOW, "header character flipped");

	free(p);
	free(p64);
	free(forged);
	free(jwt);
}

static void
test_tampered_signature(void **state)
{
	struct fixture *f = *state;
	struct token_claims c;
	char *jwt, *s64, *forged;
	const char *d2;
	unsigned char *sig;
	size_t sl, cap;

	claims_base(&c, NOW);
	add_access(&c, "repository", "team/app", TOKEN_PULL);
	jwt = token_sign(f->k, &c, "ociregd");
	assert_non_null(jwt);
	d2 = strrchr(jwt, '.');

	sig = unb64(d2 + 1, strlen(d2 + 1), &sl);
	assert_int_equal(sl, crypto_sign_BYTES);
	for (size_t bit = 0; bit < sl * 8; bit += 61) {
		sig[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		s64 = b64(sig, sl);
		cap = strlen(jwt) + strlen(s64) + 2;
		forged = malloc(cap);
		assert_non_null(forged);
		snprintf(forged, cap, "%.*s.%s", (int)(d2 - jwt), jwt, s64);
		assert_refused(f, forged, NOW, "signature bit flipped");
		sig[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		free(forged);
		free(s64);
	}

	/* Truncated signature, missing signature, doubled signature. */
	cap = strlen(jwt) * 2 + 2;
	forged = malloc(cap);
	assert_non_null(forged);
	snprintf(forged, cap, "%.*s", (int)(strlen(jwt) - 4), jwt);
	assert_refused(f, forged, NOW, "signature truncated");
	snprintf(forged, cap, "%.*s", (int)(d2 - jwt + 1), jwt);
	assert_refused(f, forged, NOW, "signature empty");
	snprintf(forged, cap, "%s%s", jwt, d2 + 1);
	assert_refused(f, forged, NOW, "signature doubled");
	free(forged);
	free(sig);
	free(jwt);
}

/* A token signed by another key (another registry) is refused. */
static void
test_other_key(void **state)
{
	struct fixture *f = *state;
	struct token_key *k2;
	struct token_claims c, out;
	char path[160], err[256], *jwt;

	snprintf(path, sizeof(path), "%s/other.key", f->dir);
	k2 = token_key_load(path, err, sizeof(err));
	assert_non_null(k2);
	claims_base(&c, NOW);
	add_access(&c, "repository", "team/app", TOKEN_PULL);
	jwt = token_sign(k2, &c, "ociregd");
	assert_non_null(jwt);
	assert_int_equal(token_verify(k2, jwt, SVC, NOW, &out, err, sizeof(err)), 0);
	assert_refused(f, jwt, NOW, "token of another key");
	free(jwt);
	token_key_free(k2);
}

/* ---------------------------------------------------------------- time and audience */

static void
test_expired(void **state)
{
	struct fixture *f = *state;
	struct token_claims c, out;
	char err[256], *jwt;

	claims_base(&c, NOW - 600);	/* exp = NOW - 300 */
	jwt = token_sign(f->k, &c, "ociregd");
	assert_non_null(jwt);
	assert_refused(f, jwt, NOW, "expired 5 minutes ago");
	assert_refused(f, jwt, NOW - 300, "now == exp");
	assert_int_equal(verify(f, jwt, NOW - 301, &out, err, sizeof(err)), 0);
	free(jwt);

	/* The same through a forged token (our own signature). */
	{
		char *p = payload(NOW - 1, NOW - 100, NOW - 100, SVC);

		jwt = forge(f->sk, hdr_eddsa, p);
		assert_refused(f, jwt, NOW, "exp one second ago");
		assert_int_equal(verify(f, jwt, NOW - 2, &out, err, sizeof(err)), 0);
		free(jwt);
		free(p);
	}
}

static void
test_not_yet_valid(void **state)
{
	struct fixture *f = *state;
	struct token_claims c, out;
	char err[256], *jwt;

	/* nbf an hour ahead. */
	claims_base(&c, NOW);
	c.nbf = NOW + 3600;
	c.exp = NOW + 7200;
	jwt = token_sign(f->k, &c, "ociregd");
	assert_non_null(jwt);
	assert_refused(f, jwt, NOW, "nbf in an hour");
	free(jwt);

	/* 60 s of leeway for clock skew, and not a second more. */
	c.nbf = NOW + 61;
	jwt = token_sign(f->k, &c, "ociregd");
	assert_refused(f, jwt, NOW, "nbf 61 s ahead");
	free(jwt);
	c.nbf = NOW + 60;
	jwt = token_sign(f->k, &c, "ociregd");
	assert_int_equal(verify(f, jwt, NOW, &out, err, sizeof(err)), 0);
	free(jwt);
	c.nbf = NOW + 30;
	jwt = token_sign(f->k, &c, "ociregd");
	assert_int_equal(verify(f, jwt, NOW, &out, err, sizeof(err)), 0);
	free(jwt);
}

static void
test_wrong_audience(void **state)
{
	struct fixture *f = *state;
	struct token_claims c, out;
	char err[256], *jwt, *p;

	claims_base(&c, NOW);
	snprintf(c.aud, sizeof(c.aud), "other-registry");
	jwt = token_sign(f->k, &c, "ociregd");
	assert_non_null(jwt);
	assert_refused(f, jwt, NOW, "aud other-registry");
	assert_int_equal(token_verify(f->k, jwt, "other-registry", NOW, &out, err, sizeof(err)), 0);
	assert_string_equal(out.aud, "other-registry");
	free(jwt);

	/* A prefix / case variant of the service is not the service. */
	snprintf(c.aud, sizeof(c.aud), "ociregd2");
	jwt = token_sign(f->k, &c, "ociregd");
	assert_refused(f, jwt, NOW, "aud ociregd2");
	free(jwt);
	snprintf(c.aud, sizeof(c.aud), "OCIREGD");
	jwt = token_sign(f->k, &c, "ociregd");
	assert_refused(f, jwt, NOW, "aud OCIREGD");
	free(jwt);
	c.aud[0] = '\0';
	jwt = token_sign(f->k, &c, "ociregd");
	assert_refused(f, jwt, NOW, "aud empty");
	free(jwt);

	/* aud missing or not a string (forged, validly signed). */
	p = strdup("{\"sub\":\"alice\",\"exp\":1700000300,\"nbf\":1699999990,\"iat\":1700000000,\"access\":[]}");
	jwt = forge(f->sk, hdr_eddsa, p);
	assert_refused(f, jwt, NOW, "no aud");
	free(jwt);
	free(p);
	p = strdup("{\"sub\":\"alice\",\"aud\":[\"ociregd\"],\"exp\":1700000300,\"nbf\":1699999990,\"iat\":1700000000}");
	jwt = forge(f->sk, hdr_eddsa, p);
	assert_refused(f, jwt, NOW, "aud as an array");
	free(jwt);
	free(p);
}

/* exp/nbf/iat are required numbers. */
static void
test_missing_times(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"{\"sub\":\"alice\",\"aud\":\"ociregd\",\"nbf\":1699999990,\"iat\":1700000000}",
		"{\"sub\":\"alice\",\"aud\":\"ociregd\",\"exp\":\"1700000300\",\"nbf\":1699999990,\"iat\":1700000000}",
		"{\"sub\":\"alice\",\"aud\":\"ociregd\",\"exp\":null,\"nbf\":1699999990,\"iat\":1700000000}",
		"[1,2,3]",
		"\"just a string\"",
		"{not json",
		"",
	};
	char *jwt;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		jwt = forge(f->sk, hdr_eddsa, bad[i]);
		assert_refused(f, jwt, NOW, bad[i]);
		free(jwt);
	}
	/* The control: the same forging path with good claims verifies. */
	{
		char *p = payload(NOW + 300, NOW - 5, NOW, SVC), err[256];
		struct token_claims out;

		jwt = forge(f->sk, hdr_eddsa, p);
		assert_int_equal(verify(f, jwt, NOW, &out, err, sizeof(err)), 0);
		assert_string_equal(out.sub, "alice");
		assert_int_equal(out.naccess, 1);
		assert_int_equal(out.access[0].actions, TOKEN_PULL);
		free(jwt);
		free(p);
	}
}

/* ---------------------------------------------------------------- algorithms */

static void
test_alg_none_and_hs256(void **state)
{
	struct fixture *f = *state;
	char *p = payload(NOW + 300, NOW - 5, NOW, SVC), *jwt;
	static const char *const headers[] = {
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"None\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"eddsa\",\"typ\":\"JWT\"}",
		"{\"alg\":\"\",\"typ\":\"JWT\"}",
		"{\"typ\":\"JWT\"}",
		"{\"alg\":null}",
		"{\"alg\":[\"EdDSA\"]}",
		"not json",
	};

	/* alg none with no signature at all (the classic attack). */
	jwt = forge(NULL, "{\"alg\":\"none\",\"typ\":\"JWT\"}", p);
	assert_refused(f, jwt, NOW, "alg none, empty signature");
	free(jwt);
	jwt = forge(NULL, "{\"alg\":\"none\"}", p);
	assert_refused(f, jwt, NOW, "alg none (no typ), empty signature");
	free(jwt);

	/* Every other header, even with a valid Ed25519 signature over it:
	 * the algorithm is checked on its own. */
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		jwt = forge(f->sk, headers[i], p);
		assert_refused(f, jwt, NOW, headers[i]);
		free(jwt);
	}

	/* HS256 keyed with the public key (algorithm confusion). */
	{
		const char *hh = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
		char *h64 = b64(hh, strlen(hh)), *p64 = b64(p, strlen(p)), *s64, signing[2048], tok[4096];
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		crypto_auth_hmacsha256_state st;

		snprintf(signing, sizeof(signing), "%s.%s", h64, p64);
		crypto_auth_hmacsha256_init(&st, f->pk, sizeof(f->pk));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)signing, strlen(signing));
		crypto_auth_hmacsha256_final(&st, mac);
		s64 = b64(mac, sizeof(mac));
		snprintf(tok, sizeof(tok), "%s.%s", signing, s64);
		assert_refused(f, tok, NOW, "HS256 keyed with the public key");
		free(h64);
		free(p64);
		free(s64);
	}

	/* The control: the same path with the EdDSA header verifies. */
	{
		struct token_claims out;
		char err[256];

		jwt = forge(f->sk, hdr_eddsa, p);
		assert_int_equal(verify(f, jwt, NOW, &out, err, sizeof(err)), 0);
		free(jwt);
	}
	free(p);
}

/* ---------------------------------------------------------------- garbage */

static void
test_garbage(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"", ".", "..", "...", "a", "a.b", "a.b.c", "a.b.c.d", "abc..def",
		"eyJhbGciOiJFZERTQSJ9", "eyJhbGciOiJFZERTQSJ9.", "eyJhbGciOiJFZERTQSJ9..",
		"!!!.@@@.###", "eyJhbGciOiJFZERTQSJ9.e30=.AAAA", " eyJhbGciOiJFZERTQSJ9.e30.AAAA",
		"Bearer x.y.z", "\xff\xfe.\x01.\x02",
	};
	struct token_claims c;
	char *big, *jwt, *huge;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(f, bad[i], NOW, bad[i]);

	/* Oversized: TOKEN_MAX_LEN + 1 bytes, as dots-and-letters and as a
	 * huge but otherwise well-formed token. */
	big = malloc(TOKEN_MAX_LEN + 2);
	assert_non_null(big);
	memset(big, 'A', TOKEN_MAX_LEN + 1);
	big[10] = '.';
	big[20] = '.';
	big[TOKEN_MAX_LEN + 1] = '\0';
	assert_refused(f, big, NOW, "TOKEN_MAX_LEN + 1 bytes");
	free(big);

	/* A validly signed token whose claims make it longer than
	 * TOKEN_MAX_LEN. */
	n = TOKEN_MAX_LEN;
	huge = malloc(n + 256);
	assert_non_null(huge);
	snprintf(huge, n + 256, "{\"sub\":\"alice\",\"aud\":\"ociregd\",\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld,\"pad\":\"",
	    NOW + 300, NOW - 5, NOW);
	memset(huge + strlen(huge), 'x', n - strlen(huge));
	huge[n] = '\0';
	strncat(huge, "\"}", 3);
	jwt = forge(f->sk, hdr_eddsa, huge);
	assert_true(strlen(jwt) > TOKEN_MAX_LEN);
	assert_refused(f, jwt, NOW, "validly signed but longer than TOKEN_MAX_LEN");
	free(jwt);
	free(huge);

	/* Many access entries: at most TOKEN_MAX_ACCESS are kept. */
	{
		char *p = malloc(65536), err[256];
		size_t o;

		assert_non_null(p);
		o = (size_t)snprintf(p, 65536, "{\"sub\":\"alice\",\"aud\":\"ociregd\",\"exp\":%lld,\"nbf\":%lld,"
		    "\"iat\":%lld,\"access\":[", NOW + 300, NOW - 5, NOW);
		for (int i = 0; i < TOKEN_MAX_ACCESS + 8; i++)
			o += (size_t)snprintf(p + o, 65536 - o, "%s{\"type\":\"repository\",\"name\":\"r%d\","
			    "\"actions\":[\"pull\",\"bogus\",7]}", i ? "," : "", i);
		snprintf(p + o, 65536 - o, "]}");
		jwt = forge(f->sk, hdr_eddsa, p);
		assert_true(strlen(jwt) <= TOKEN_MAX_LEN);
		assert_int_equal(verify(f, jwt, NOW, &c, err, sizeof(err)), 0);
		assert_int_equal(c.naccess, TOKEN_MAX_ACCESS);
		assert_string_equal(c.access[TOKEN_MAX_ACCESS - 1].name, "r31");
		assert_int_equal(c.access[0].actions, TOKEN_PULL);
		free(jwt);
		free(p);
	}
}

/* ---------------------------------------------------------------- scopes */

static void
scope_ok(const char *scope, const char *type, const char *name, unsigned actions)
{
	struct token_access a;

	memset(&a, 0x55, sizeof(a));
	if (token_scope_parse(scope, &a) != 0)
		fail_msg("token_scope_parse(\"%s\") failed", scope);
	if (strcmp(a.type, type) != 0 || strcmp(a.name, name) != 0 || a.actions != actions)
		fail_msg("token_scope_parse(\"%s\"): got type '%s' name '%s' actions %u; want '%s' '%s' %u",
		    scope, a.type, a.name, a.actions, type, name, actions);
}

static void
scope_bad(const char *scope)
{
	struct token_access a;

	if (token_scope_parse(scope, &a) != -1)
		fail_msg("token_scope_parse(\"%s\") should fail; got type '%s' name '%s' actions %u",
		    scope, a.type, a.name, a.actions);
}

static void
test_scope_parse(void **state)
{
	char longname[400];

	(void)state;
	scope_ok("repository:team/app:pull,push", "repository", "team/app", TOKEN_PULL | TOKEN_PUSH);
	scope_ok("repository:team/app:pull", "repository", "team/app", TOKEN_PULL);
	scope_ok("repository:team/app:push", "repository", "team/app", TOKEN_PUSH);
	scope_ok("repository:team/app:delete", "repository", "team/app", TOKEN_DELETE);
	scope_ok("repository:team/app:push,pull,delete", "repository", "team/app", TOKEN_ALL);
	scope_ok("repository:team/app:*", "repository", "team/app", TOKEN_ALL);
	scope_ok("repository:app:pull", "repository", "app", TOKEN_PULL);
	/* host:port in the name: split from the right. */
	scope_ok("repository:localhost:5000/a/b:pull", "repository", "localhost:5000/a/b", TOKEN_PULL);
	scope_ok("repository:localhost:5000/a/b:pull,push", "repository", "localhost:5000/a/b",
	    TOKEN_PULL | TOKEN_PUSH);
	scope_ok("repository:reg.example.com:443/x:delete", "repository", "reg.example.com:443/x",
	    TOKEN_DELETE);
	scope_ok("registry:catalog:*", "registry", "catalog", TOKEN_ALL);
	/* Unknown actions are ignored; empty items too. */
	scope_ok("repository:team/app:pull,frobnicate", "repository", "team/app", TOKEN_PULL);
	scope_ok("repository:team/app:frobnicate", "repository", "team/app", 0);
	scope_ok("repository:team/app:pull,,push", "repository", "team/app", TOKEN_PULL | TOKEN_PUSH);
	scope_ok("repository:team/app:PULL", "repository", "team/app", 0);

	/* Malformed. */
	scope_bad("");
	scope_bad("repository");
	scope_bad("repository:team/app");
	scope_bad(":team/app:pull");
	scope_bad("repository::pull");
	scope_bad("::");
	scope_bad(":");
	scope_bad("averyveryverylongtypename:x:pull");	/* type > 15 bytes */
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "repository:", 11);
	memcpy(longname + 11 + 300, ":pull", 6);	/* a 300-byte name */
	scope_bad(longname);
}

static void
test_actions_str(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(token_actions_str(0, buf, sizeof(buf)), "");
	assert_string_equal(token_actions_str(TOKEN_PULL, buf, sizeof(buf)), "pull");
	assert_string_equal(token_actions_str(TOKEN_PUSH, buf, sizeof(buf)), "push");
	assert_string_equal(token_actions_str(TOKEN_DELETE, buf, sizeof(buf)), "delete");
	assert_string_equal(token_actions_str(TOKEN_PULL | TOKEN_PUSH, buf, sizeof(buf)), "pull,push");
	assert_string_equal(token_actions_str(TOKEN_PUSH | TOKEN_DELETE, buf, sizeof(buf)), "push,delete");
	assert_string_equal(token_actions_str(TOKEN_ALL, buf, sizeof(buf)), "pull,push,delete");
	assert_ptr_equal(token_actions_str(TOKEN_PULL, buf, sizeof(buf)), buf);
	/* Round trip through the parser. */
	{
		struct token_access a;
		char scope[128];

		for (unsigned m = 1; m <= TOKEN_ALL; m++) {
			snprintf(scope, sizeof(scope), "repository:x/y:%s", token_actions_str(m, buf, sizeof(buf)));
			assert_int_equal(token_scope_parse(scope, &a), 0);
			assert_int_equal(a.actions, m);
		}
	}
	/* Small buffers: truncated, never overrun, always terminated. */
	for (size_t cap = 1; cap <= 18; cap++) {
		char small[32];

		memset(small, '#', sizeof(small));
		token_actions_str(TOKEN_ALL, small, cap);
		assert_true(memchr(small, '\0', cap) != NULL);
		for (size_t i = cap; i < sizeof(small); i++)
			assert_int_equal(small[i], '#');
		assert_int_equal(strncmp(small, "pull,push,delete", strlen(small)), 0);
	}
}

/* ---------------------------------------------------------------- key file */

static void
test_key_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	struct token_key *k2, *k3;
	struct token_claims c, out;
	char err[256], path[160], tmp[180], buf[128], *jwt;
	ssize_t n;
	int fd;

	/* The fixture's key was created by token_key_load: 0600, a regular
	 * file, 64 hex digits and a newline, no temporary file left. */
	assert_int_equal(stat(f->keypath, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	fd = open(f->keypath, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 65);
	assert_int_equal(strspn(buf, "0123456789abcdefABCDEF"), 64);
	assert_int_equal(buf[64], '\n');
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->keypath);
	assert_int_equal(access(tmp, F_OK), -1);

	/* Reload: the same key (sign with one, verify with the other, both
	 * ways), the file unchanged. */
	k2 = token_key_load(f->keypath, err, sizeof(err));
	assert_non_null(k2);
	claims_base(&c, NOW);
	add_access(&c, "repository", "team/app", TOKEN_PULL);
	jwt = token_sign(f->k, &c, "ociregd");
	assert_int_equal(token_verify(k2, jwt, SVC, NOW, &out, err, sizeof(err)), 0);
	free(jwt);
	jwt = token_sign(k2, &c, "ociregd");
	assert_int_equal(token_verify(f->k, jwt, SVC, NOW, &out, err, sizeof(err)), 0);
	free(jwt);
	{
		char again[128];

		fd = open(f->keypath, O_RDONLY);
		assert_true(read(fd, again, sizeof(again)) == 65);
		close(fd);
		assert_memory_equal(again, buf, 65);
	}
	token_key_free(k2);

	/* Even under a permissive umask the new key is 0600. */
	{
		mode_t old = umask(0);

		snprintf(path, sizeof(path), "%s/umask0.key", f->dir);
		k3 = token_key_load(path, err, sizeof(err));
		umask(old);
		assert_non_null(k3);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		/* A second fresh key is a different key. */
		jwt = token_sign(k3, &c, "ociregd");
		assert_refused(f, jwt, NOW, "token of a second fresh key");
		free(jwt);
		token_key_free(k3);
	}

	/* A key file without the trailing newline (written by hand). */
	snprintf(path, sizeof(path), "%s/nonl.key", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, buf, 64), 64);
	close(fd);
	k3 = token_key_load(path, err, sizeof(err));
	assert_non_null(k3);
	jwt = token_sign(k3, &c, "ociregd");
	assert_int_equal(token_verify(f->k, jwt, SVC, NOW, &out, err, sizeof(err)), 0);
	free(jwt);
	token_key_free(k3);
}

static void
write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void
test_key_file_bad(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"",
		"0123456789abcdef\n",
		"zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		"not a key at all, just some text that is long enough to be read fully\n",
	};
	char path[160], err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "%s/bad%zu.key", f->dir, i);
		write_file(path, bad[i]);
		err[0] = '\0';
		if (token_key_load(path, err, sizeof(err)) != NULL)
			fail_msg("key file \"%s\" was accepted", bad[i]);
		assert_non_null(strstr(err, path));
	}
	/* A directory that does not exist: no key, a reason. */
	snprintf(path, sizeof(path), "%s/missing/dir/token.key", f->dir);
	err[0] = '\0';
	assert_null(token_key_load(path, err, sizeof(err)));
	assert_true(err[0] != '\0');
	/* A directory where the key should be. */
	snprintf(path, sizeof(path), "%s", f->dir);
	err[0] = '\0';
	assert_null(token_key_load(path, err, sizeof(err)));
	assert_true(err[0] != '\0');
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_round_trip),
		T(test_wire_format),
		T(test_anonymous_round_trip),
		T(test_tampered_payload),
		T(test_tampered_signature),
		T(test_other_key),
		T(test_expired),
		T(test_not_yet_valid),
		T(test_wrong_audience),
		T(test_missing_times),
		T(test_alg_none_and_hs256),
		T(test_garbage),
		cmocka_unit_test(test_scope_parse),
		cmocka_unit_test(test_actions_str),
		T(test_key_file),
		T(test_key_file_bad),
	};
#undef T

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
