/* SPDX-License-Identifier: ISC
 * test_router.c — splitting /v2/ paths from the right into {kind, name,
 * reference} (distribution-spec "Endpoints"), percent-decoding, and query
 * lookup.  Repository names contain slashes and may have components that
 * look like route keywords ("blobs", "uploads", "manifests", "tags"), so
 * the ambiguous cases are spelled out one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "route.h"
#include "uri.h"

#define HEX64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX128 "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" \
	"47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
#define D256 "sha256:" HEX64
#define D512 "sha512:" HEX128
#define UUID "123e4567-e89b-42d3-a456-426614174000"

struct ok_case {
	const char *path;
	enum route_kind kind;
	const char *name;
	const char *ref;
	int is_digest;
};

static void
check_ok(const struct ok_case *c)
{
	struct route_match m;
	int rc;

	memset(&m, 0x5a, sizeof(m));
	if ((rc = route_split(c->path, &m)) != 0)
		fail_msg("%s: rc %d, want 0", c->path, rc);
	if (m.kind != c->kind)
		fail_msg("%s: kind %s, want %s", c->path, route_kind_name(m.kind),
		    route_kind_name(c->kind));
	if (strcmp(m.name, c->name) != 0)
		fail_msg("%s: name '%s', want '%s'", c->path, m.name, c->name);
	if (strcmp(m.ref, c->ref) != 0)
		fail_msg("%s: ref '%s', want '%s'", c->path, m.ref, c->ref);
	if (m.ref_is_digest != c->is_digest)
		fail_msg("%s: ref_is_digest %d, want %d", c->path, m.ref_is_digest, c->is_digest);
	if (c->is_digest) {
		assert_string_equal(m.digest.str, c->ref);
		assert_int_equal(m.digest.alg,
		    strncmp(c->ref, "sha512:", 7) == 0 ? DIGEST_SHA512 : DIGEST_SHA256);
	}
}

static void
check_err(const char *path, int want)
{
	struct route_match m;
	int rc = route_split(path, &m);

	if (rc != want)
		fail_msg("'%s': rc %d, want %d", path, rc, want);
}

static void
test_split_base_catalog(void **state)
{
	static const struct ok_case c[] = {
		{"/v2", ROUTE_BASE, "", "", 0},
		{"/v2/", ROUTE_BASE, "", "", 0},
		{"/v2/_catalog", ROUTE_CATALOG, "", "", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		check_ok(&c[i]);
}

static void
test_split_blobs(void **state)
{
	static const struct ok_case c[] = {
		{"/v2/a/blobs/" D256, ROUTE_BLOB, "a", D256, 1},
		{"/v2/library/ubuntu/blobs/" D256, ROUTE_BLOB, "library/ubuntu", D256, 1},
		{"/v2/a/b/c/d/blobs/" D512, ROUTE_BLOB, "a/b/c/d", D512, 1},
		/* Keyword-looking components belong to the name. */
		{"/v2/a/blobs/blobs/" D256, ROUTE_BLOB, "a/blobs", D256, 1},
		{"/v2/blobs/blobs/" D256, ROUTE_BLOB, "blobs", D256, 1},
		{"/v2/x/blobs/uploads/blobs/" D256, ROUTE_BLOB, "x/blobs/uploads", D256, 1},
		{"/v2/manifests/blobs/" D256, ROUTE_BLOB, "manifests", D256, 1},
		{"/v2/a/tags/list/blobs/" D256, ROUTE_BLOB, "a/tags/list", D256, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		check_ok(&c[i]);
}

static void
test_split_uploads(void **state)
{
	static const struct ok_case c[] = {
		{"/v2/a/blobs/uploads/", ROUTE_UPLOAD_START, "a", "", 0},
		{"/v2/a/blobs/uploads", ROUTE_UPLOAD_START, "a", "", 0},
		{"/v2/a/b/c/blobs/uploads/", ROUTE_UPLOAD_START, "a/b/c", "", 0},
		{"/v2/a/b/c/blobs/uploads", ROUTE_UPLOAD_START, "a/b/c", "", 0},
		{"/v2/x/blobs/blobs/uploads/", ROUTE_UPLOAD_START, "x/blobs", "", 0},
		{"/v2/x/blobs/uploads/blobs/uploads/", ROUTE_UPLOAD_START, "x/blobs/uploads", "", 0},
		{"/v2/x/blobs/uploads/blobs/uploads", ROUTE_UPLOAD_START, "x/blobs/uploads", "", 0},
		{"/v2/uploads/blobs/uploads/", ROUTE_UPLOAD_START, "uploads", "", 0},
		{"/v2/blobs/blobs/uploads", ROUTE_UPLOAD_START, "blobs", "", 0},
		{"/v2/a/blobs/uploads/" UUID, ROUTE_UPLOAD, "a", UUID, 0},
		{"/v2/a/b/blobs/uploads/" UUID, ROUTE_UPLOAD, "a/b", UUID, 0},
		{"/v2/uploads/blobs/uploads/" UUID, ROUTE_UPLOAD, "uploads", UUID, 0},
		{"/v2/x/blobs/uploads/blobs/uploads/" UUID, ROUTE_UPLOAD, "x/blobs/uploads", UUID, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		check_ok(&c[i]);
}

static void
test_split_manifests_tags_referrers(void **state)
{
	static const struct ok_case c[] = {
		{"/v2/a/manifests/latest", ROUTE_MANIFEST, "a", "latest", 0},
		{"/v2/a/manifests/v1.0.0-rc_1", ROUTE_MANIFEST, "a", "v1.0.0-rc_1", 0},
		{"/v2/a/manifests/UPPER", ROUTE_MANIFEST, "a", "UPPER", 0},
		{"/v2/a/manifests/" D256, ROUTE_MANIFEST, "a", D256, 1},
		{"/v2/a/manifests/" D512, ROUTE_MANIFEST, "a", D512, 1},
		{"/v2/a/manifests/manifests/latest", ROUTE_MANIFEST, "a/manifests", "latest", 0},
		{"/v2/manifests/manifests/manifests", ROUTE_MANIFEST, "manifests", "manifests", 0},
		{"/v2/a/blobs/manifests/blobs", ROUTE_MANIFEST, "a/blobs", "blobs", 0},
		{"/v2/a/blobs/uploads/manifests/uploads", ROUTE_MANIFEST, "a/blobs/uploads",
		    "uploads", 0},
		{"/v2/a/tags/list", ROUTE_TAGS, "a", "", 0},
		{"/v2/a/b/c/tags/list", ROUTE_TAGS, "a/b/c", "", 0},
		{"/v2/a/tags/tags/list", ROUTE_TAGS, "a/tags", "", 0},
		{"/v2/tags/tags/list", ROUTE_TAGS, "tags", "", 0},
		{"/v2/a/blobs/uploads/tags/list", ROUTE_TAGS, "a/blobs/uploads", "", 0},
		{"/v2/a/manifests/latest/tags/list", ROUTE_TAGS, "a/manifests/latest", "", 0},
		{"/v2/a/referrers/" D256, ROUTE_REFERRERS, "a", D256, 1},
		{"/v2/referrers/referrers/" D512, ROUTE_REFERRERS, "referrers", D512, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		check_ok(&c[i]);
}

static void
test_split_long_name_and_tag(void **state)
{
	char path[ROUTE_PATH_MAX], name[REFERENCE_NAME_MAX + 2], tag[REFERENCE_TAG_MAX + 2];
	struct route_match m;

	(void)state;
	/* A name exactly at the cap. */
	memset(name, 'n', REFERENCE_NAME_MAX);
	name[REFERENCE_NAME_MAX] = '\0';
	snprintf(path, sizeof(path), "/v2/%s/tags/list", name);
	assert_int_equal(route_split(path, &m), 0);
	assert_int_equal(m.kind, ROUTE_TAGS);
	assert_string_equal(m.name, name);
	snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", name);
	assert_int_equal(route_split(path, &m), 0);
	assert_string_equal(m.name, name);

	/* One past it, for every kind. */
	name[REFERENCE_NAME_MAX] = 'n';
	name[REFERENCE_NAME_MAX + 1] = '\0';
	snprintf(path, sizeof(path), "/v2/%s/tags/list", name);
	assert_int_equal(route_split(path, &m), -ERR_NAME_INVALID);
	snprintf(path, sizeof(path), "/v2/%s/blobs/" D256, name);
	assert_int_equal(route_split(path, &m), -ERR_NAME_INVALID);
	snprintf(path, sizeof(path), "/v2/%s/manifests/latest", name);
	assert_int_equal(route_split(path, &m), -ERR_NAME_INVALID);
	snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", name);
	assert_int_equal(route_split(path, &m), -ERR_NAME_INVALID);
	snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/" UUID, name);
	assert_int_equal(route_split(path, &m), -ERR_NAME_INVALID);

	/* 128-character tag fits the ref buffer; 129 is invalid. */
	memset(tag, 'T', REFERENCE_TAG_MAX);
	tag[REFERENCE_TAG_MAX] = '\0';
	snprintf(path, sizeof(path), "/v2/a/manifests/%s", tag);
	assert_int_equal(route_split(path, &m), 0);
	assert_int_equal(m.kind, ROUTE_MANIFEST);
	assert_string_equal(m.ref, tag);
	assert_int_equal(m.ref_is_digest, 0);
	tag[REFERENCE_TAG_MAX] = 'T';
	tag[REFERENCE_TAG_MAX + 1] = '\0';
	snprintf(path, sizeof(path), "/v2/a/manifests/%s", tag);
	assert_int_equal(route_split(path, &m), -ERR_TAG_INVALID);
}

static void
test_split_name_invalid(void **state)
{
	static const char *const bad[] = {
		"/v2/A/blobs/" D256,
		"/v2/Library/ubuntu/manifests/latest",
		"/v2/a/../b/manifests/latest",
		"/v2/../manifests/latest",
		"/v2/./tags/list",
		"/v2/a/./tags/list",
		"/v2/%2e%2e/tags/list",			/* already decoded: '%' is literal */
		"/v2//manifests/latest",
		"/v2//blobs/" D256,
		"/v2/a//manifests/latest",
		"/v2/a/b//tags/list",
		"/v2//a/tags/list",
		"/v2/a___b/blobs/uploads/",
		"/v2/-a/blobs/uploads/" UUID,
		"/v2/a-/referrers/" D256,
		"/v2/_catalog/tags/list",
		"/v2/a b/tags/list",
		"/v2/a:b/manifests/latest",
		"/v2/a\n/tags/list",
		/* The name is checked before the reference. */
		"/v2/A/manifests/-bad",
		"/v2/A/blobs/nope",
		"/v2/A/blobs/uploads/nope",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_err(bad[i], -ERR_NAME_INVALID);
}

static void
test_split_digest_invalid(void **state)
{
	static const char *const bad[] = {
		"/v2/a/blobs/latest",
		"/v2/a/blobs/sha256:abc",
		"/v2/a/blobs/SHA256:" HEX64,
		"/v2/a/blobs/sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"/v2/a/blobs/sha256:" HEX64 "0",
		"/v2/a/blobs/md5:d41d8cd98f00b204e9800998ecf8427e",
		"/v2/a/blobs/" HEX64,
		"/v2/a/blobs/sha512:" HEX64,
		"/v2/a/manifests/sha256:abc",
		"/v2/a/manifests/sha256:" HEX128,
		"/v2/a/manifests/:latest",
		"/v2/a/manifests/latest:1",
		"/v2/a/referrers/latest",
		"/v2/a/referrers/sha256:xyz",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_err(bad[i], -ERR_DIGEST_INVALID);
}

static void
test_split_tag_invalid(void **state)
{
	static const char *const bad[] = {
		"/v2/a/manifests/-x",
		"/v2/a/manifests/.x",
		"/v2/a/manifests/..",
		"/v2/a/manifests/a%20b",
		"/v2/a/manifests/a b",
		"/v2/a/manifests/a+b",
		"/v2/a/manifests/caf\xc3\xa9",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_err(bad[i], -ERR_TAG_INVALID);
}

static void
test_split_upload_id_invalid(void **state)
{
	static const char *const bad[] = {
		"/v2/a/blobs/uploads/not-a-uuid",
		"/v2/a/blobs/uploads/123E4567-E89B-42D3-A456-426614174000",
		"/v2/a/blobs/uploads/" UUID "0",
		"/v2/a/blobs/uploads/..",
		"/v2/a/blobs/uploads/.",
		"/v2/a/blobs/uploads/put-0011223344556677",
		"/v2/a/blobs/uploads/" D256,
	};
	struct route_match m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_err(bad[i], -ERR_BLOB_UPLOAD_UNKNOWN);
	/* The kind is kept for logs even when the id is bad. */
	assert_int_equal(route_split("/v2/a/blobs/uploads/nope", &m), -ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(m.kind, ROUTE_UPLOAD);
}

static void
test_split_not_found(void **state)
{
	static const char *const bad[] = {
		"", "/", "v2", "v2/", "/v1/", "/v3/", "/V2/", "/v2x", "/v20/", "/v2x/a/tags/list",
		"//v2/", "/other/v2/",
		"/v2/a", "/v2/a/", "/v2/a/b", "/v2/a/b/", "/v2/a/foo/bar", "/v2/a/blob/" D256,
		"/v2/a/tags", "/v2/a/tags/", "/v2/a/tags/lists", "/v2/a/tags/list/",
		"/v2/a/manifests/", "/v2/a/blobs/", "/v2/a/referrers/",
		"/v2/_catalog/", "/v2/_catalog/x",
		/* No name at all. */
		"/v2/tags/list", "/v2/manifests/latest", "/v2/blobs/" D256,
		"/v2/blobs/uploads/", "/v2/blobs/uploads", "/v2/blobs/uploads/" UUID,
		"/v2/referrers/" D256,
		/* "uploads" not preceded by "blobs". */
		"/v2/a/uploads/" UUID, "/v2/a/uploads/",
		"/v2/a/blobs/uploads/" UUID "/",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_err(bad[i], -ERR_NOT_FOUND);
}

static void
test_kind_name(void **state)
{
	(void)state;
	assert_string_equal(route_kind_name(ROUTE_NONE), "none");
	assert_string_equal(route_kind_name(ROUTE_BASE), "base");
	assert_string_equal(route_kind_name(ROUTE_CATALOG), "catalog");
	assert_string_equal(route_kind_name(ROUTE_BLOB), "blob");
	assert_string_equal(route_kind_name(ROUTE_UPLOAD_START), "upload_start");
	assert_string_equal(route_kind_name(ROUTE_UPLOAD), "upload");
	assert_string_equal(route_kind_name(ROUTE_MANIFEST), "manifest");
	assert_string_equal(route_kind_name(ROUTE_TAGS), "tags");
	assert_string_equal(route_kind_name(ROUTE_REFERRERS), "referrers");
	assert_string_equal(route_kind_name(ROUTE_COUNT), "none");
	assert_string_equal(route_kind_name((enum route_kind)-1), "none");
}

/* Decode src into an oversized buffer whose bytes past cap must stay
 * untouched. */
static int
decode(const char *src, size_t len, size_t cap, char *out, size_t outsz)
{
	char buf[256];
	int rc;

	assert_true(cap + 8 <= sizeof(buf));
	memset(buf, '#', sizeof(buf));
	rc = uri_decode(src, len, buf, cap);
	for (size_t i = cap; i < sizeof(buf); i++) {
		if (buf[i] != '#')
			fail_msg("'%.*s' cap %zu: byte %zu written", (int)len, src, cap, i);
	}
	if (rc == 0) {
		assert_true(memchr(buf, '\0', cap) != NULL);
		snprintf(out, outsz, "%s", buf);
	}
	return rc;
}

static void
test_decode_valid(void **state)
{
	static const struct {
		const char *in, *out;
	} c[] = {
		{"", ""},
		{"abc", "abc"},
		{"/v2/a/tags/list", "/v2/a/tags/list"},
		{"a%2Fb", "a/b"},
		{"a%2fb", "a/b"},
		{"sha256%3A" HEX64, "sha256:" HEX64},
		{"sha256%3a" HEX64, "sha256:" HEX64},
		{"%41%42%43", "ABC"},
		{"%7e%7E", "~~"},
		{"%25", "%"},
		{"%252e", "%2e"},		/* decoded once, not twice */
		{"%2e%2e", ".."},
		{"%20", " "},
		{"%C3%A9", "\xc3\xa9"},
		{"%ff", "\xff"},
		{"%01", "\x01"},
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (decode(c[i].in, strlen(c[i].in), 128, out, sizeof(out)) != 0)
			fail_msg("'%s' should decode", c[i].in);
		assert_string_equal(out, c[i].out);
	}
	/* Only len bytes are read. */
	assert_int_equal(decode("abcdef", 3, 64, out, sizeof(out)), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(decode("ab%41%42", 5, 64, out, sizeof(out)), 0);
	assert_string_equal(out, "abA");
	/* An escape cut by len is malformed even if the string goes on. */
	assert_int_equal(decode("ab%41", 4, 64, out, sizeof(out)), -1);
}

static void
test_decode_malformed(void **state)
{
	static const char *const bad[] = {
		"%", "%4", "%zz", "%g0", "%0g", "a%", "a%4", "abc%", "%%", "%%41", "% 4",
		"%-1", "%+1", "%x41",
		/* NUL, escaped: it would cut the path short downstream. */
		"%00", "a%00b", "%00%41",
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode(bad[i], strlen(bad[i]), 64, out, sizeof(out)) != -1)
			fail_msg("'%s' should be rejected", bad[i]);
	}
	/* A raw NUL inside the given length. */
	assert_int_equal(decode("a\0b", 3, 64, out, sizeof(out)), -1);
}

static void
test_decode_capacity(void **state)
{
	char out[64];

	(void)state;
	/* cap counts the NUL. */
	assert_int_equal(decode("abc", 3, 4, out, sizeof(out)), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(decode("abc", 3, 3, out, sizeof(out)), -1);
	assert_int_equal(decode("abcd", 4, 4, out, sizeof(out)), -1);
	/* Escapes are counted decoded. */
	assert_int_equal(decode("%41%42%43", 9, 4, out, sizeof(out)), 0);
	assert_string_equal(out, "ABC");
	assert_int_equal(decode("%41%42%43", 9, 3, out, sizeof(out)), -1);
	assert_int_equal(decode("", 0, 1, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(decode("a", 1, 1, out, sizeof(out)), -1);
}

/* cap 0 leaves no room even for the NUL: the header's contract ("cap bytes
 * incl. NUL") means nothing may be written and the call must fail. */
static void
test_decode_zero_capacity(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(decode("", 0, 0, out, sizeof(out)), -1);
	assert_int_equal(decode("a", 1, 0, out, sizeof(out)), -1);
}

static void
test_decode_long(void **state)
{
	const size_t n = 100000;
	char *src = malloc(n * 3), *dst = malloc(n + 1);

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	for (size_t i = 0; i < n; i++)
		memcpy(src + 3 * i, "%61", 3);
	assert_int_equal(uri_decode(src, 3 * n, dst, n + 1), 0);
	assert_int_equal(strlen(dst), n);
	assert_true(dst[0] == 'a' && dst[n - 1] == 'a');
	assert_int_equal(uri_decode(src, 3 * n, dst, n), -1);
	free(src);
	free(dst);
}

static void
query_is(const char *query, const char *key, size_t cap, int want_rc, const char *want)
{
	char out[256];
	int rc;

	assert_true(cap <= sizeof(out));
	memset(out, '#', sizeof(out));
	out[sizeof(out) - 1] = '\0';
	rc = uri_query(query, key, out, cap);
	if (rc != want_rc)
		fail_msg("query '%s' key '%s': rc %d, want %d", query ? query : "(null)", key, rc,
		    want_rc);
	for (size_t i = cap; i < sizeof(out) - 1; i++)
		assert_int_equal(out[i], '#');
	if (rc == 1 && strcmp(out, want) != 0)
		fail_msg("query '%s' key '%s': '%s', want '%s'", query, key, out, want);
}

static void
test_query(void **state)
{
	(void)state;
	/* First, middle, last. */
	query_is("a=1&b=2&c=3", "a", 64, 1, "1");
	query_is("a=1&b=2&c=3", "b", 64, 1, "2");
	query_is("a=1&b=2&c=3", "c", 64, 1, "3");
	query_is("n=10", "n", 64, 1, "10");
	/* A key that only starts like ours is someone else's. */
	query_is("digestx=1", "digest", 64, 0, "");
	query_is("digestx=1&digest=" D256, "digest", 80, 1, D256);
	query_is("xdigest=1", "digest", 64, 0, "");
	query_is("dig=1", "digest", 64, 0, "");
	query_is("nn=5&n=7", "n", 64, 1, "7");
	query_is("N=5", "n", 64, 0, "");
	/* Without '=' and with an empty value. */
	query_is("digest", "digest", 64, 1, "");
	query_is("a=1&digest", "digest", 64, 1, "");
	query_is("digest&a=1", "digest", 64, 1, "");
	query_is("digest=", "digest", 64, 1, "");
	query_is("digest=&a=1", "digest", 64, 1, "");
	/* The first of repeated keys. */
	query_is("n=10&n=20", "n", 64, 1, "10");
	/* Percent-decoded value; '=' inside a value stays. */
	query_is("last=a%2Fb", "last", 64, 1, "a/b");
	query_is("digest=sha256%3A" HEX64, "digest", 80, 1, D256);
	query_is("artifactType=application%2Fvnd.example%2Bjson", "artifactType", 64, 1,
	    "application/vnd.example+json");
	query_is("a=1=2", "a", 64, 1, "1=2");
	/* Empty segments are skipped. */
	query_is("&&a=1&", "a", 64, 1, "1");
	query_is("&", "a", 64, 0, "");
	/* A malformed value of another key does not matter. */
	query_is("x=%zz&a=1", "a", 64, 1, "1");
	/* Absent. */
	query_is("", "a", 64, 0, "");
	query_is(NULL, "a", 64, 0, "");
	query_is("b=1&c=2", "a", 64, 0, "");
	/* Malformed or too long. */
	query_is("a=%zz", "a", 64, -1, "");
	query_is("a=%", "a", 64, -1, "");
	query_is("a=%4", "a", 64, -1, "");
	query_is("a=%00", "a", 64, -1, "");
	query_is("a=12345", "a", 6, 1, "12345");
	query_is("a=123456", "a", 6, -1, "");
	query_is("a=%41%41%41%41%41", "a", 6, 1, "AAAAA");
	query_is("a=%41%41%41%41%41%41", "a", 6, -1, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_base_catalog),
		cmocka_unit_test(test_split_blobs),
		cmocka_unit_test(test_split_uploads),
		cmocka_unit_test(test_split_manifests_tags_referrers),
		cmocka_unit_test(test_split_long_name_and_tag),
		cmocka_unit_test(test_split_name_invalid),
		cmocka_unit_test(test_split_digest_invalid),
		cmocka_unit_test(test_split_tag_invalid),
		cmocka_unit_test(test_split_upload_id_invalid),
		cmocka_unit_test(test_split_not_found),
		cmocka_unit_test(test_kind_name),
		cmocka_unit_test(test_decode_valid),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_capacity),
		cmocka_unit_test(test_decode_zero_capacity),
		cmocka_unit_test(test_decode_long),
		cmocka_unit_test(test_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
