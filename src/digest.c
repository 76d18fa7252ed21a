/* SPDX-License-Identifier: ISC
 * digest.c — digest grammar, incremental SHA-256/512 and HMAC-SHA256
 * through OpenSSL (SHA-NI on this hardware: several times libsodium's
 * portable code).  The one owner of OpenSSL's hashes: the S3 client's
 * request signing (s3.c) comes here too.
 *
 * The incremental hasher uses OpenSSL's SHA256_CTX / SHA512_CTX rather than
 * an EVP_MD_CTX: those are plain structs, so a hasher's state can be
 * exported and imported (hasher_export), which an upload that resumes on
 * another node needs when its bytes live in an object store that cannot
 * read them back.  They run the same assembly block functions as EVP
 * (SHA-NI included); the deprecation warnings of OpenSSL 3 are silenced
 * for this file only (OPENSSL_SUPPRESS_DEPRECATED): the API is not going
 * away in 3.x and EVP offers no way to serialise a digest's state.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "errors.h"

struct hasher {
	union {
		SHA256_CTX s256;
		SHA512_CTX s512;
	} ctx;
	enum digest_alg alg;
	uint64_t bytes;
};

/* What hasher_export writes: a magic, the algorithm, the byte count and
 * the context struct as OpenSSL lays it out (the nodes of one deployment
 * run the same build). */
#define HASHER_MAGIC 0x31485352u	/* "RSH1" */
struct hasher_blob {
	uint32_t magic;
	uint32_t alg;
	uint64_t bytes;
	uint32_t ctxlen;
	uint32_t zero;			/* explicit padding: 0 */
};

static const struct {
	const char *name;
	size_t hexlen;
} digest_algs[] = {
	[DIGEST_SHA256] = {"sha256", 64},
	[DIGEST_SHA512] = {"sha512", 128},
};

const char *
digest_alg_name(enum digest_alg alg)
{
	return digest_algs[alg].name;
}

int
digest_alg_parse(const char *name, enum digest_alg *out)
{
	for (size_t a = 0; a < sizeof(digest_algs) / sizeof(digest_algs[0]); a++) {
		if (strcmp(name, digest_algs[a].name) == 0) {
			*out = (enum digest_alg)a;
			return 0;
		}
	}
	return -ERR_DIGEST_INVALID;
}

int
digest_parse(const char *s, struct digest *out)
{
	const char *colon = strchr(s, ':');
	size_t alen, hlen;

	if (colon == NULL)
		return -ERR_DIGEST_INVALID;
	alen = (size_t)(colon - s);
	for (size_t a = 0; a < sizeof(digest_algs) / sizeof(digest_algs[0]); a++) {
		if (alen != strlen(digest_algs[a].name) ||
		    memcmp(s, digest_algs[a].name, alen) != 0)
			continue;
		hlen = strnlen(colon + 1, digest_algs[a].hexlen + 1);
		if (hlen != digest_algs[a].hexlen)
			return -ERR_DIGEST_INVALID;
		for (size_t i = 0; i < hlen; i++) {
			char c = colon[1 + i];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				return -ERR_DIGEST_INVALID;
		}
		out->alg = (enum digest_alg)a;
		memcpy(out->str, s, alen + 1 + hlen);
		out->str[alen + 1 + hlen] = '\0';
		return 0;
	}
	return -ERR_DIGEST_INVALID;
}

static const EVP_MD *
digest_md(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

struct hasher *
hasher_new(enum digest_alg alg)
{
	struct hasher *h = calloc(1, sizeof(*h));
	int ok;

	if (h == NULL)
		return NULL;
	h->alg = alg;
	ok = alg == DIGEST_SHA512 ? SHA512_Init(&h->ctx.s512) : SHA256_Init(&h->ctx.s256);
	if (ok != 1) {
		hasher_free(h);
		return NULL;
	}
	return h;
}

void
hasher_free(struct hasher *h)
{
	if (h == NULL)
		return;
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

int
hasher_update(struct hasher *h, const void *data, size_t len)
{
	int ok;

	if (len == 0)
		return 0;
	ok = h->alg == DIGEST_SHA512 ? SHA512_Update(&h->ctx.s512, data, len) :
	    SHA256_Update(&h->ctx.s256, data, len);
	if (ok != 1)
		return -1;
	h->bytes += len;
	return 0;
}

static size_t
hasher_ctxlen(enum digest_alg alg)
{
	return alg == DIGEST_SHA512 ? sizeof(SHA512_CTX) : sizeof(SHA256_CTX);
}

size_t
hasher_export(const struct hasher *h, void *buf, size_t cap)
{
	struct hasher_blob b = {.magic = HASHER_MAGIC, .alg = (uint32_t)h->alg, .bytes = h->bytes,
	    .ctxlen = (uint32_t)hasher_ctxlen(h->alg)};
	size_t need = sizeof(b) + b.ctxlen;

	if (cap < need)
		return 0;
	memcpy(buf, &b, sizeof(b));
	memcpy((char *)buf + sizeof(b), &h->ctx, b.ctxlen);
	return need;
}

/* Whether an imported context is one hasher_update can continue: the
 * fill of its block buffer (OpenSSL indexes the buffer with it unchecked)
 * and its bit count agree with the byte count, the digest length is the
 * algorithm's.  The blob comes from shared storage another process wrote. */
static int
hasher_ctx_sane(const struct hasher *h)
{
	const SHA512_CTX *c5 = &h->ctx.s512;
	const SHA256_CTX *c2 = &h->ctx.s256;
	uint64_t n = h->bytes;

	if (h->alg == DIGEST_SHA512)
		return c5->num == (unsigned int)(n % SHA512_CBLOCK) &&
		    c5->md_len == SHA512_DIGEST_LENGTH && c5->Nl == (n << 3) && c5->Nh == (n >> 61);
	return c2->num == (unsigned int)(n % SHA256_CBLOCK) &&
	    c2->md_len == SHA256_DIGEST_LENGTH && c2->Nl == (SHA_LONG)(n << 3) &&
	    c2->Nh == (SHA_LONG)(n >> 29);
}

struct hasher *
hasher_import(const void *buf, size_t len)
{
	struct hasher_blob b;
	struct hasher *h;

	if (len < sizeof(b))
		return NULL;
	memcpy(&b, buf, sizeof(b));
	if (b.magic != HASHER_MAGIC || b.zero != 0 || b.alg > DIGEST_SHA512 ||
	    b.ctxlen != hasher_ctxlen((enum digest_alg)b.alg) || len != sizeof(b) + b.ctxlen)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->alg = (enum digest_alg)b.alg;
	h->bytes = b.bytes;
	memcpy(&h->ctx, (const char *)buf + sizeof(b), b.ctxlen);
	if (!hasher_ctx_sane(h)) {
		hasher_free(h);
		return NULL;
	}
	return h;
}

uint64_t
hasher_bytes(const struct hasher *h)
{
	return h->bytes;
}

enum digest_alg
hasher_alg(const struct hasher *h)
{
	return h->alg;
}

static void
digest_from_raw(enum digest_alg alg, const unsigned char *raw, unsigned int n,
    struct digest *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t alen = strlen(digest_algs[alg].name);
	char *p;

	out->alg = alg;
	memcpy(out->str, digest_algs[alg].name, alen);
	out->str[alen] = ':';
	p = out->str + alen + 1;
	for (unsigned int i = 0; i < n; i++) {
		*p++ = hex[raw[i] >> 4];
		*p++ = hex[raw[i] & 15];
	}
	*p = '\0';
}

int
hasher_final(struct hasher *h, struct digest *out)
{
	unsigned char raw[SHA512_DIGEST_LENGTH];
	int ok;

	ok = h->alg == DIGEST_SHA512 ? SHA512_Final(raw, &h->ctx.s512) :
	    SHA256_Final(raw, &h->ctx.s256);
	if (ok != 1)
		return -1;
	digest_from_raw(h->alg, raw,
	    h->alg == DIGEST_SHA512 ? SHA512_DIGEST_LENGTH : SHA256_DIGEST_LENGTH, out);
	return 0;
}

int
digest_buffer(enum digest_alg alg, const void *data, size_t len, struct digest *out)
{
	unsigned char raw[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(data, len, raw, &n, digest_md(alg), NULL) != 1)
		return -1;
	digest_from_raw(alg, raw, n, out);
	return 0;
}

int
digest_sha256_raw(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

int
digest_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[32])
{
	unsigned int n = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) == NULL || n != 32)
		return -1;
	return 0;
}

void
digest_hex_encode(const unsigned char *raw, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		*out++ = hex[raw[i] >> 4];
		*out++ = hex[raw[i] & 15];
	}
	*out = '\0';
}
