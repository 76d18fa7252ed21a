/* SPDX-License-Identifier: ISC
 * fuzz_router.c — /v2/ path splitting, percent-decoding and query lookup
 * (router.c).
 *
 * route_split gets the whole input as a path.  Its verdict (route kind or
 * error) is compared with a plain re-statement of the URL layout below, and a
 * match must describe the path exactly: the name passes
 * reference_name_valid, digest references parse (and m.digest is that
 * digest), upload ids are valid, tags are valid, and "/v2/" + name + suffix
 * + ref rebuilds the input.  Every output buffer is bounded (ASan, plus a
 * NUL inside each fixed array).
 *
 * uri_decode gets input[1..] (not NUL-terminated) with a capacity picked
 * by input[0] (0 included), and once more with room for the whole;
 * uri_query gets the input as a query string, each key the server asks
 * for, and a capacity from input[0] (0 included) or room for the whole.
 * Both are compared with an independent decoder: '+' is a space, %XX needs
 * two hex digits, a decoded NUL or an output that does not fit (counting
 * its NUL, also for the "" of a bare key) is an error, and nothing is ever
 * written into a zero-byte buffer.
 */
#include "digest.h"
#include "errors.h"
#include "fuzz.h"
#include "reference.h"
#include "route.h"
#include "uri.h"

/* ---- route_split ---- */

static int
has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int
name_ok(const char *s, size_t len)
{
	char buf[REFERENCE_NAME_MAX + 2];

	if (len == 0 || len > REFERENCE_NAME_MAX)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return reference_name_valid(buf);
}

/* The expected result of route_split: a route kind (> 0) or a negated
 * error.  The path is split at its last two slashes: name/kind/ref. */
static int
oracle_split(const char *path)
{
	const char *rest, *ref, *kind;
	size_t headlen, namelen, kindlen;
	struct digest d;

	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0)
		return ROUTE_BASE;
	if (strncmp(path, "/v2/", 4) != 0)
		return -ERR_NOT_FOUND;
	rest = path + 4;
	if (strcmp(rest, "_catalog") == 0)
		return ROUTE_CATALOG;
	if ((ref = strrchr(rest, '/')) == NULL)
		return -ERR_NOT_FOUND;
	headlen = (size_t)(ref - rest);
	ref++;
	/* head = rest[0..headlen) = name "/" kind */
	kind = NULL;
	for (size_t i = headlen; i > 0; i--) {
		if (rest[i - 1] == '/') {
			kind = rest + i;
			break;
		}
	}
	if (kind == NULL)
		return -ERR_NOT_FOUND;
	namelen = (size_t)(kind - 1 - rest);
	kindlen = headlen - namelen - 1;
#define KIND(s) (kindlen == strlen(s) && memcmp(kind, s, kindlen) == 0)
	if (KIND("uploads") && has_suffix(rest, namelen, "/blobs")) {
		if (!name_ok(rest, namelen - 6))
			return -ERR_NAME_INVALID;
		if (*ref == '\0')
			return ROUTE_UPLOAD_START;
		return reference_uuid_valid(ref) ? ROUTE_UPLOAD : -ERR_BLOB_UPLOAD_UNKNOWN;
	}
	if (*ref == '\0')
		return -ERR_NOT_FOUND;
	if (KIND("tags") && strcmp(ref, "list") == 0)
		return name_ok(rest, namelen) ? ROUTE_TAGS : -ERR_NAME_INVALID;
	if (KIND("blobs") && strcmp(ref, "uploads") == 0)
		return name_ok(rest, namelen) ? ROUTE_UPLOAD_START : -ERR_NAME_INVALID;
	if (!KIND("blobs") && !KIND("manifests") && !KIND("referrers"))
		return -ERR_NOT_FOUND;
	if (!name_ok(rest, namelen))
		return -ERR_NAME_INVALID;
	if (KIND("manifests") && strchr(ref, ':') == NULL)
		return reference_tag_valid(ref) ? ROUTE_MANIFEST : -ERR_TAG_INVALID;
	if (digest_parse(ref, &d) != 0)
		return -ERR_DIGEST_INVALID;
	return KIND("blobs") ? ROUTE_BLOB : KIND("manifests") ? ROUTE_MANIFEST : ROUTE_REFERRERS;
#undef KIND
}

static int
path_is(const char *path, const char *a, const char *b, const char *c)
{
	size_t na = strlen(a), nb = strlen(b);

	return strncmp(path, a, na) == 0 && strncmp(path + na, b, nb) == 0 &&
	    strcmp(path + na + nb, c) == 0;
}

static void
check_split(const char *path)
{
	struct route_match *m = malloc(sizeof(*m));
	int rc, want;
	struct digest d;

	FUZZ_CHECK(m != NULL);
	memset(m, 0xa5, sizeof(*m));
	rc = route_split(path, m);
	want = oracle_split(path);
	FUZZ_CHECK(rc <= 0);
	FUZZ_CHECK(rc == 0 || rc == -ERR_NOT_FOUND || rc == -ERR_NAME_INVALID ||
	    rc == -ERR_DIGEST_INVALID || rc == -ERR_TAG_INVALID || rc == -ERR_BLOB_UPLOAD_UNKNOWN);
	FUZZ_CHECK(memchr(m->name, '\0', sizeof(m->name)) != NULL);
	FUZZ_CHECK(memchr(m->ref, '\0', sizeof(m->ref)) != NULL);
	if (rc != 0) {
		FUZZ_CHECK(rc == want);
		free(m);
		return;
	}
	FUZZ_CHECK((int)m->kind == want);
	FUZZ_CHECK(m->kind > ROUTE_NONE && m->kind < ROUTE_COUNT);
	switch (m->kind) {
	case ROUTE_BASE:
		FUZZ_CHECK(strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0);
		FUZZ_CHECK(m->name[0] == '\0' && m->ref[0] == '\0');
		break;
	case ROUTE_CATALOG:
		FUZZ_CHECK(strcmp(path, "/v2/_catalog") == 0);
		FUZZ_CHECK(m->name[0] == '\0' && m->ref[0] == '\0');
		break;
	case ROUTE_TAGS:
		FUZZ_CHECK(reference_name_valid(m->name));
		FUZZ_CHECK(m->ref[0] == '\0');
		FUZZ_CHECK(path_is(path, "/v2/", m->name, "/tags/list"));
		break;
	case ROUTE_UPLOAD_START:
		FUZZ_CHECK(reference_name_valid(m->name));
		FUZZ_CHECK(m->ref[0] == '\0');
		FUZZ_CHECK(path_is(path, "/v2/", m->name, "/blobs/uploads/") ||
		    path_is(path, "/v2/", m->name, "/blobs/uploads"));
		break;
	case ROUTE_UPLOAD:
		FUZZ_CHECK(reference_name_valid(m->name));
		FUZZ_CHECK(reference_uuid_valid(m->ref));
		FUZZ_CHECK(strncmp(path, "/v2/", 4) == 0);
		FUZZ_CHECK(strncmp(path + 4, m->name, strlen(m->name)) == 0);
		FUZZ_CHECK(path_is(path + 4 + strlen(m->name), "/blobs/uploads/", m->ref, ""));
		break;
	case ROUTE_BLOB:
	case ROUTE_REFERRERS:
	case ROUTE_MANIFEST: {
		const char *mid = m->kind == ROUTE_BLOB ? "/blobs/" :
		    m->kind == ROUTE_REFERRERS ? "/referrers/" : "/manifests/";
		size_t off = 4 + strlen(m->name) + strlen(mid);

		FUZZ_CHECK(reference_name_valid(m->name));
		FUZZ_CHECK(strncmp(path, "/v2/", 4) == 0);
		FUZZ_CHECK(strncmp(path + 4, m->name, strlen(m->name)) == 0);
		FUZZ_CHECK(strncmp(path + 4 + strlen(m->name), mid, strlen(mid)) == 0);
		FUZZ_CHECK(strcmp(path + off, m->ref) == 0);
		if (m->kind != ROUTE_MANIFEST)
			FUZZ_CHECK(m->ref_is_digest);
		if (m->ref_is_digest) {
			FUZZ_CHECK(digest_parse(m->ref, &d) == 0);
			FUZZ_CHECK(d.alg == m->digest.alg && strcmp(d.str, m->digest.str) == 0);
		} else {
			FUZZ_CHECK(reference_tag_valid(m->ref));
			FUZZ_CHECK(strchr(m->ref, ':') == NULL);
		}
		break;
	}
	default:
		FUZZ_CHECK(!"unexpected route kind");
	}
	FUZZ_CHECK(strcmp(route_kind_name(m->kind), "none") != 0);
	free(m);
}

/* ---- uri_decode / uri_query ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode src[0..len) into a malloc'd NUL-terminated string of *outlen
 * bytes, or NULL if malformed (bad escape, decoded NUL). */
static char *
oracle_decode(const char *src, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	size_t o = 0;

	FUZZ_CHECK(out != NULL);
	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (len - i < 3 || hexval(src[i + 1]) < 0 || hexval(src[i + 2]) < 0) {
				free(out);
				return NULL;
			}
			c = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
			i += 2;
		}
		if (c == '\0') {
			free(out);
			return NULL;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* An output buffer of cap bytes; for cap 0 a one-byte canary, since ASan
 * does not report writes into malloc(0). */
#define CANARY 0x5a

static char *
out_new(size_t cap)
{
	char *b = malloc(cap > 0 ? cap : 1);

	FUZZ_CHECK(b != NULL);
	if (cap == 0)
		b[0] = CANARY;
	return b;
}

/* Nothing may be written into a zero-byte buffer. */
static void
out_check(const char *b, size_t cap)
{
	if (cap == 0)
		FUZZ_CHECK(b[0] == CANARY);
}

static void
check_decode(const char *src, size_t len, size_t cap)
{
	char *dst = out_new(cap);
	size_t wlen = 0;
	char *want = oracle_decode(src, len, &wlen);
	int rc;

	rc = uri_decode(src, len, dst, cap);
	out_check(dst, cap);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(want != NULL);
		FUZZ_CHECK(memchr(dst, '\0', cap) != NULL);
		FUZZ_CHECK(strlen(dst) < cap);
		FUZZ_CHECK(strcmp(dst, want) == 0);
	} else {
		FUZZ_CHECK(want == NULL || wlen + 1 > cap);
	}
	free(want);
	free(dst);
}

/* Expected uri_query result; *val (malloc'd) on 1. */
static int
oracle_query(const char *q, const char *key, size_t cap, char **val)
{
	size_t qlen = strlen(q), klen = strlen(key), pos = 0;

	*val = NULL;
	while (pos < qlen) {
		const char *seg = q + pos;
		const char *amp = strchr(seg, '&');
		size_t slen = amp != NULL ? (size_t)(amp - seg) : strlen(seg);

		if (slen == klen && memcmp(seg, key, klen) == 0) {
			/* "" needs one byte, like any value. */
			if (cap == 0)
				return -1;
			*val = calloc(1, 1);
			FUZZ_CHECK(*val != NULL);
			return 1;
		}
		if (slen > klen && memcmp(seg, key, klen) == 0 && seg[klen] == '=') {
			size_t vlen;

			if ((*val = oracle_decode(seg + klen + 1, slen - klen - 1, &vlen)) == NULL)
				return -1;
			if (vlen + 1 > cap) {
				free(*val);
				*val = NULL;
				return -1;
			}
			return 1;
		}
		pos += slen + 1;
	}
	return 0;
}

static void
check_query(const char *q, size_t cap)
{
	/* The keys the handlers ask for, and the empty key as an edge. */
	static const char *const keys[] = {"n", "last", "digest", "mount", "from",
	    "artifactType", ""};

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		char *out = out_new(cap), *want = NULL;
		int rc, wrc;

		rc = uri_query(q, keys[k], out, cap);
		out_check(out, cap);
		wrc = oracle_query(q, keys[k], cap, &want);
		FUZZ_CHECK(rc == wrc);
		if (rc == 1) {
			FUZZ_CHECK(memchr(out, '\0', cap) != NULL);
			FUZZ_CHECK(strcmp(out, want) == 0);
		}
		free(want);
		free(out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_strndup(data, size);

	check_split(path);
	if (size >= 1) {
		char *src = fuzz_memdup(data + 1, size - 1);

		/* cap counts the NUL; 0 leaves no room even for it. */
		check_decode(src, size - 1, data[0]);
		check_decode(src, size - 1, size);
		free(src);
		check_query(path, (size_t)data[0] % 64);
		check_query(path, size + 1);
	}
	free(path);
	return 0;
}
