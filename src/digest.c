/* SPDX-License-Identifier: ISC
 * digest.c — digest grammar and incremental SHA-256/512 through OpenSSL EVP
 * (SHA-NI on this hardware: several times libsodium's portable code).
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "errors.h"

struct hasher {
	EVP_MD_CTX *ctx;
	enum digest_alg alg;
	uint64_t bytes;
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

	if (h == NULL)
		return NULL;
	h->alg = alg;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(h->ctx, digest_md(alg), NULL) != 1) {
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
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int
hasher_update(struct hasher *h, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		return -1;
	h->bytes += len;
	return 0;
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
	unsigned char raw[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, raw, &n) != 1)
		return -1;
	digest_from_raw(h->alg, raw, n, out);
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
