/* SPDX-License-Identifier: ISC
 * fuzz_s3.c — what the S3 backend reads from the object store: XML answers
 * (s3_xml_get, s3.c), the SigV4 key encoding (s3_uri_encode), and an
 * upload's saved hash state (hasher_import, digest.c), which a resumed
 * upload reads back from the bucket.
 *
 * Input layout: byte 0 is the output capacity (1..256), byte 1 picks the
 * tag from a fixed list (the tags s3.c and store_s3.c ask for), the rest is
 * the document / string / state blob.  Properties:
 *   - s3_xml_get returns exactly what an independent oracle extracts (the
 *     text between the first <tag> and the next </tag>, the five XML
 *     entities and &#34; &#39; decoded, anything else kept as it is), or
 *     -1 exactly when the oracle finds no element or its text does not fit
 *     in cap; *next points just past the closing tag;
 *   - s3_uri_encode's output holds only unreserved characters, '/' (when
 *     kept) and %XX with uppercase hex, decodes back to the input, and is
 *     refused exactly when it does not fit;
 *   - hasher_import of any bytes gives NULL or a hasher that hashes on:
 *     export gives back the same bytes, and updating it and finishing
 *     never touches memory out of bounds (ASan) and yields a digest that
 *     parses.
 */
#include "digest.h"
#include "fuzz.h"
#include "s3.h"

static const char *const tags[] = {"UploadId", "ETag", "Code", "Message", "Key", "Size",
    "LastModified", "NextContinuationToken", "IsTruncated", "Contents", "Part", "PartNumber"};

static int
oracle_xml(const char *xml, const char *tag, size_t cap, char *out, const char **next)
{
	static const char *const ents[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"},
	    {"&quot;", "\""}, {"&apos;", "'"}, {"&#34;", "\""}, {"&#39;", "'"}};
	char open[64], close[64];
	const char *a, *b;
	size_t n = 0;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if ((a = strstr(xml, open)) == NULL)
		return -1;
	a += strlen(open);
	if ((b = strstr(a, close)) == NULL)
		return -1;
	while (a < b) {
		size_t step = 1;
		char c = *a;

		for (size_t i = 0; c == '&' && i < sizeof(ents) / sizeof(ents[0]); i++) {
			size_t l = strlen(ents[i][0]);

			if ((size_t)(b - a) >= l && memcmp(a, ents[i][0], l) == 0) {
				c = ents[i][1][0];
				step = l;
				break;
			}
		}
		if (n + 1 >= cap)
			return -1;
		out[n++] = c;
		a += step;
	}
	out[n] = '\0';
	*next = b + strlen(close);
	return 0;
}

static void
check_xml(const char *xml, const char *tag, size_t cap)
{
	char *got = malloc(cap), *want = malloc(cap);
	const char *gnext = NULL, *wnext = NULL;
	int rc, wrc;

	if (got == NULL || want == NULL)
		abort();
	rc = s3_xml_get(xml, tag, got, cap, &gnext);
	wrc = oracle_xml(xml, tag, cap, want, &wnext);
	FUZZ_CHECK(rc == wrc);
	if (rc == 0) {
		FUZZ_CHECK(strcmp(got, want) == 0);
		FUZZ_CHECK(gnext == wnext);
	}
	free(got);
	free(want);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
check_uri(const char *in, int keep_slash, size_t cap)
{
	char *out = malloc(cap), *back;
	size_t need = 1, n = 0;
	int rc;

	if (out == NULL || (back = malloc(strlen(in) + 1)) == NULL)
		abort();
	for (const char *p = in; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
		    (c == '/' && keep_slash);

		need += keep ? 1 : 3;
	}
	rc = s3_uri_encode(in, keep_slash, out, cap);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == (need <= cap));
	if (rc == 0) {
		FUZZ_CHECK(strlen(out) + 1 == need);
		for (const char *p = out; *p != '\0'; p++) {
			if (*p == '%') {
				int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

				FUZZ_CHECK(hi >= 0 && lo >= 0);
				back[n++] = (char)(hi << 4 | lo);
				p += 2;
			} else {
				FUZZ_CHECK(*p != '/' || keep_slash);
				back[n++] = *p;
			}
		}
		back[n] = '\0';
		FUZZ_CHECK(strcmp(back, in) == 0);
	}
	free(back);
	free(out);
}

static void
check_import(const uint8_t *data, size_t size)
{
	unsigned char again[HASHER_EXPORT_MAX];
	struct hasher *h = hasher_import(data, size);
	struct digest d, d2;

	if (h == NULL)
		return;
	FUZZ_CHECK(size <= sizeof(again));
	FUZZ_CHECK(hasher_export(h, again, sizeof(again)) == size);
	FUZZ_CHECK(memcmp(again, data, size) == 0);
	FUZZ_CHECK(hasher_update(h, data, size) == 0);
	FUZZ_CHECK(hasher_final(h, &d) == 0);
	FUZZ_CHECK(digest_parse(d.str, &d2) == 0 && strcmp(d.str, d2.str) == 0);
	hasher_free(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap;
	const char *tag;
	char *s;

	if (size < 2)
		return 0;
	cap = (size_t)data[0] + 1;
	tag = tags[data[1] % (sizeof(tags) / sizeof(tags[0]))];
	s = fuzz_strndup(data + 2, size - 2);
	check_xml(s, tag, cap);
	check_uri(s, data[1] & 0x80, cap);
	check_import(data + 2, size - 2);
	free(s);
	return 0;
}
