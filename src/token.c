/* SPDX-License-Identifier: ISC
 * token.c — bearer tokens for Docker's token protocol: compact JWTs
 * (RFC 7519) with alg EdDSA (RFC 8037), signed and verified with libsodium.
 * Besides oci.c this is the only user of cJSON: the claims are JSON.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token.h"

struct token_key {
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

static const char token_header[] = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}";

static int token_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
token_fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && cap > 0) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

struct token_key *
token_key_load(const char *path, char *err, size_t errcap)
{
	struct token_key *k = sodium_malloc(sizeof(*k));
	unsigned char seed[crypto_sign_SEEDBYTES];
	char hex[2 * crypto_sign_SEEDBYTES + 2], tmp[4096];
	ssize_t n;
	size_t bin_len;
	int fd;

	if (k == NULL) {
		token_fail(err, errcap, "out of memory");
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, hex, sizeof(hex) - 1);
		close(fd);
		if (n < 2 * crypto_sign_SEEDBYTES ||
		    sodium_hex2bin(seed, sizeof(seed), hex, (size_t)n, "\n", &bin_len, NULL) != 0 ||
		    bin_len != sizeof(seed)) {
			token_fail(err, errcap, "%s: not a token key (64 hex digits)", path);
			goto fail;
		}
	} else if (errno == ENOENT) {
		/* First start: a fresh key, written atomically, 0600. */
		randombytes_buf(seed, sizeof(seed));
		sodium_bin2hex(hex, sizeof(hex), seed, sizeof(seed));
		hex[2 * crypto_sign_SEEDBYTES] = '\n';
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
		    write(fd, hex, sizeof(hex) - 1) != (ssize_t)(sizeof(hex) - 1) || fsync(fd) != 0 ||
		    close(fd) != 0 || rename(tmp, path) != 0) {
			token_fail(err, errcap, "%s: cannot create token key: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			unlink(tmp);
			goto fail;
		}
	} else {
		token_fail(err, errcap, "%s: %s", path, strerror(errno));
		goto fail;
	}
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(hex, sizeof(hex));
	return k;
fail:
	sodium_memzero(seed, sizeof(seed));
	sodium_free(k);
	return NULL;
}

void
token_key_free(struct token_key *k)
{
	if (k != NULL)
		sodium_free(k);
}

static char *
token_b64(const void *bin, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = malloc(cap);

	if (out != NULL)
		sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

const char *
token_actions_str(unsigned actions, char *out, size_t cap)
{
	static const char *const names[] = {"pull", "push", "delete"};
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < 3; i++) {
		if (!(actions & (1u << i)))
			continue;
		o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", names[i]);
		if (o >= cap)
			break;
	}
	return out;
}

char *
token_sign(const struct token_key *k, const struct token_claims *c, const char *iss)
{
	unsigned char sig[crypto_sign_BYTES], jti[12];
	char jtihex[sizeof(jti) * 2 + 1];
	char *payload = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL, *signing = NULL, *jwt = NULL;
	cJSON *root, *access, *a, *acts;
	size_t slen;

	if ((root = cJSON_CreateObject()) == NULL)
		return NULL;
	randombytes_buf(jti, sizeof(jti));
	sodium_bin2hex(jtihex, sizeof(jtihex), jti, sizeof(jti));
	cJSON_AddStringToObject(root, "iss", iss);
	cJSON_AddStringToObject(root, "sub", c->sub);
	cJSON_AddStringToObject(root, "aud", c->aud);
	cJSON_AddNumberToObject(root, "exp", (double)c->exp);
	cJSON_AddNumberToObject(root, "nbf", (double)c->nbf);
	cJSON_AddNumberToObject(root, "iat", (double)c->iat);
	cJSON_AddStringToObject(root, "jti", jtihex);
	if (c->cred[0] != '\0')
		cJSON_AddStringToObject(root, "ocv", c->cred);
	access = cJSON_AddArrayToObject(root, "access");
	for (size_t i = 0; access != NULL && i < c->naccess; i++) {
		static const char *const names[] = {"pull", "push", "delete"};

		if ((a = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddStringToObject(a, "type", c->access[i].type);
		cJSON_AddStringToObject(a, "name", c->access[i].name);
		acts = cJSON_AddArrayToObject(a, "actions");
		for (int b = 0; acts != NULL && b < 3; b++)
			if (c->access[i].actions & (1u << b))
				cJSON_AddItemToArray(acts, cJSON_CreateString(names[b]));
		if (c->access[i].actions == TOKEN_ALL && strcmp(c->access[i].type, "registry") == 0)
			cJSON_AddItemToArray(acts, cJSON_CreateString("*"));
		cJSON_AddItemToArray(access, a);
	}
	payload = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (payload == NULL)
		return NULL;
	h64 = token_b64(token_header, strlen(token_header));
	p64 = token_b64(payload, strlen(payload));
	if (h64 == NULL || p64 == NULL)
		goto out;
	slen = strlen(h64) + 1 + strlen(p64);
	if ((signing = malloc(slen + 1)) == NULL)
		goto out;
	snprintf(signing, slen + 1, "%s.%s", h64, p64);
	crypto_sign_detached(sig, NULL, (const unsigned char *)signing, slen, k->sk);
	if ((s64 = token_b64(sig, sizeof(sig))) == NULL)
		goto out;
	if ((jwt = malloc(slen + 1 + strlen(s64) + 1)) != NULL)
		snprintf(jwt, slen + 1 + strlen(s64) + 1, "%s.%s", signing, s64);
out:
	free(payload);
	free(h64);
	free(p64);
	free(s64);
	free(signing);
	return jwt;
}

/* Decode base64url [s, s+len) into a malloc'd NUL-terminated buffer. */
static unsigned char *
token_unb64(const char *s, size_t len, size_t *outlen)
{
	unsigned char *out;
	char *again;

	/* Only the URL-safe alphabet, and only the canonical encoding (the
	 * spare bits of the last character zero): one token, one spelling. */
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return NULL;
	}
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	if (sodium_base642bin(out, len, s, len, NULL, outlen, NULL,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    (again = token_b64(out, *outlen)) == NULL) {
		free(out);
		return NULL;
	}
	if (strlen(again) != len || memcmp(again, s, len) != 0) {
		free(again);
		free(out);
		return NULL;
	}
	free(again);
	out[*outlen] = '\0';
	return out;
}

static unsigned
token_action_bit(const char *a)
{
	if (strcmp(a, "pull") == 0)
		return TOKEN_PULL;
	if (strcmp(a, "push") == 0)
		return TOKEN_PUSH;
	if (strcmp(a, "delete") == 0)
		return TOKEN_DELETE;
	if (strcmp(a, "*") == 0)
		return TOKEN_ALL;
	return 0;
}

static int
token_num(const cJSON *root, const char *key, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!cJSON_IsNumber(v))
		return -1;
	*out = (long long)v->valuedouble;
	return 0;
}

int
token_verify(const struct token_key *k, const char *jwt, const char *service, long long now,
    struct token_claims *out, char *err, size_t errcap)
{
	const char *d1, *d2;
	unsigned char *hdr = NULL, *payload = NULL, *sig = NULL;
	size_t len = strnlen(jwt, TOKEN_MAX_LEN + 1), hl, pl, sl;
	cJSON *h = NULL, *root = NULL;
	const cJSON *v, *access, *a;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > TOKEN_MAX_LEN)
		return token_fail(err, errcap, "token too long");
	if ((d1 = strchr(jwt, '.')) == NULL || (d2 = strchr(d1 + 1, '.')) == NULL ||
	    strchr(d2 + 1, '.') != NULL)
		return token_fail(err, errcap, "not a compact JWT");
	if ((hdr = token_unb64(jwt, (size_t)(d1 - jwt), &hl)) == NULL ||
	    (payload = token_unb64(d1 + 1, (size_t)(d2 - d1 - 1), &pl)) == NULL ||
	    (sig = token_unb64(d2 + 1, strlen(d2 + 1), &sl)) == NULL) {
		token_fail(err, errcap, "bad base64url");
		goto out;
	}
	if ((h = cJSON_ParseWithLength((const char *)hdr, hl)) == NULL ||
	    (v = cJSON_GetObjectItemCaseSensitive(h, "alg")) == NULL || !cJSON_IsString(v) ||
	    strcmp(v->valuestring, "EdDSA") != 0) {
		token_fail(err, errcap, "unsupported JWT algorithm");
		goto out;
	}
	/* The signature covers the encoded header and payload exactly. */
	if (sl != crypto_sign_BYTES || crypto_sign_verify_detached(sig, (const unsigned char *)jwt,
	    (size_t)(d2 - jwt), k->pk) != 0) {
		token_fail(err, errcap, "bad signature");
		goto out;
	}
	if ((root = cJSON_ParseWithLength((const char *)payload, pl)) == NULL || !cJSON_IsObject(root)) {
		token_fail(err, errcap, "bad claims");
		goto out;
	}
	if (token_num(root, "exp", &out->exp) != 0 || token_num(root, "nbf", &out->nbf) != 0 ||
	    token_num(root, "iat", &out->iat) != 0) {
		token_fail(err, errcap, "missing exp/nbf/iat");
		goto out;
	}
	if (now >= out->exp) {
		token_fail(err, errcap, "token expired");
		goto out;
	}
	if (out->nbf > now + 60) {
		token_fail(err, errcap, "token not yet valid");
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "aud");
	if (!cJSON_IsString(v) || strcmp(v->valuestring, service) != 0) {
		token_fail(err, errcap, "wrong audience");
		goto out;
	}
	snprintf(out->aud, sizeof(out->aud), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(root, "sub");
	if (cJSON_IsString(v))
		snprintf(out->sub, sizeof(out->sub), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(root, "ocv");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(out->cred))
		memcpy(out->cred, v->valuestring, strlen(v->valuestring) + 1);
	access = cJSON_GetObjectItemCaseSensitive(root, "access");
	cJSON_ArrayForEach(a, access) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(a, "type");
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "name");
		const cJSON *acts = cJSON_GetObjectItemCaseSensitive(a, "actions"), *x;
		struct token_access *ta;

		if (out->naccess == TOKEN_MAX_ACCESS || !cJSON_IsString(t) || !cJSON_IsString(n))
			continue;
		ta = &out->access[out->naccess++];
		snprintf(ta->type, sizeof(ta->type), "%s", t->valuestring);
		snprintf(ta->name, sizeof(ta->name), "%s", n->valuestring);
		cJSON_ArrayForEach(x, acts)
			if (cJSON_IsString(x))
				ta->actions |= token_action_bit(x->valuestring);
	}
	rc = 0;
out:
	cJSON_Delete(h);
	cJSON_Delete(root);
	free(hdr);
	free(payload);
	free(sig);
	return rc;
}

int
token_scope_parse(const char *scope, struct token_access *out)
{
	const char *c1 = strchr(scope, ':'), *c2 = strrchr(scope, ':');
	char act[64];
	size_t tl, nl;
	const char *p;

	memset(out, 0, sizeof(*out));
	if (c1 == NULL || c2 == c1)
		return -1;
	tl = (size_t)(c1 - scope);
	nl = (size_t)(c2 - c1 - 1);
	if (tl == 0 || tl >= sizeof(out->type) || nl == 0 || nl >= sizeof(out->name))
		return -1;
	memcpy(out->type, scope, tl);
	memcpy(out->name, c1 + 1, nl);
	for (p = c2 + 1; *p != '\0';) {
		size_t al = strcspn(p, ",");

		if (al < sizeof(act)) {
			memcpy(act, p, al);
			act[al] = '\0';
			out->actions |= token_action_bit(act);
		}
		p += al;
		if (*p == ',')
			p++;
	}
	return 0;
}
