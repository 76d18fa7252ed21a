/* digest.h — content digests ("algorithm:hex") and incremental hashing.
 *
 * Only sha256 and sha512 are accepted (distribution-spec "Content Digests";
 * image-spec descriptor.md registered algorithms), hex lowercase and of the
 * algorithm's exact length.  Hashing is OpenSSL's, so SHA-NI is used. */
#ifndef OCIREGD_DIGEST_H
#define OCIREGD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum digest_alg { DIGEST_SHA256 = 0, DIGEST_SHA512 = 1 };

#define DIGEST_STR_MAX (7 + 128 + 1)	/* "sha512:" + 128 hex + NUL */

struct digest {
	enum digest_alg alg;
	char str[DIGEST_STR_MAX];	/* canonical "alg:hex" */
};

/* The hex part of d (both algorithm names are 6 characters).  The struct
 * holds no pointers into itself, so it may be copied freely. */
static inline const char *
digest_hex(const struct digest *d)
{
	return d->str + 7;
}

/* Parse and validate s; 0 or -ERR_DIGEST_INVALID. */
int digest_parse(const char *s, struct digest *out);
/* "sha256" / "sha512". */
const char *digest_alg_name(enum digest_alg alg);
/* An algorithm by its name alone (as in ?digest-algorithm=), exactly as
 * digest_alg_name spells it: 0 or -ERR_DIGEST_INVALID for any other string. */
int digest_alg_parse(const char *name, enum digest_alg *out);

struct hasher;

/* New incremental hasher; NULL on allocation failure.  Owned by the caller,
 * released with hasher_free. */
struct hasher *hasher_new(enum digest_alg alg);
void hasher_free(struct hasher *h);
int hasher_update(struct hasher *h, const void *data, size_t len);
/* Bytes fed so far. */
uint64_t hasher_bytes(const struct hasher *h);
enum digest_alg hasher_alg(const struct hasher *h);
/* Finish into out; the hasher cannot be updated afterwards. 0 or -1. */
int hasher_final(struct hasher *h, struct digest *out);
/* The hasher's state as bytes (at most HASHER_EXPORT_MAX): what resuming
 * an upload on another node or after a restart needs instead of reading
 * its bytes again.  The length written, 0 if cap is too small.  Only for a
 * build of the same OpenSSL on the same architecture (it is the context
 * struct); hasher_import checks the length, a magic, and that the context's
 * block fill and bit count agree with its byte count. */
#define HASHER_EXPORT_MAX 512
size_t hasher_export(const struct hasher *h, void *buf, size_t cap);
/* A new hasher from what hasher_export wrote, or NULL (malformed). */
struct hasher *hasher_import(const void *buf, size_t len);
/* One-shot digest of a buffer. */
int digest_buffer(enum digest_alg alg, const void *data, size_t len, struct digest *out);

/* SHA-256 of a buffer, raw (S3 request signing): 0 or -1. */
int digest_sha256_raw(const void *data, size_t len, unsigned char out[32]);
/* HMAC-SHA256 of data under key (AWS SigV4): 0 or -1. */
int digest_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[32]);
/* n raw bytes as 2n lowercase hex digits and a NUL into out. */
void digest_hex_encode(const unsigned char *raw, size_t n, char *out);

#endif
