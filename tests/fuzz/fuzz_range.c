/* SPDX-License-Identifier: ISC
 * fuzz_range.c — Range and Content-Range parsing (range.c).
 *
 * Input layout: the first 8 bytes (little-endian, zero-padded if short) are
 * the blob size for range_parse_request; the rest, as a C string, is the
 * header value.  Properties:
 *   - range_parse_request returns 0, 1 or -ERR_RANGE_UNSATISFIABLE; on 0 the
 *     range lies inside the blob (len >= 1, start + len <= size, computed
 *     without overflow): blob_get hands it to sendfile;
 *   - a range it returned, written back as "bytes=a-b", parses to itself;
 *   - range_parse_content returns 0 or -ERR_RANGE_INVALID; on 0 start <= end,
 *     and "a-b" written back parses to the same pair;
 *   - range_parse_u64 accepts exactly 1..19 ASCII digits, with the value
 *     strtoull gives.
 */
#include <inttypes.h>

#include "errors.h"
#include "fuzz.h"
#include "range.h"

static void
check_u64(const char *s)
{
	size_t len = strlen(s);
	uint64_t v = 0xdeadbeef;
	int rc = range_parse_u64(s, s + len, &v);
	int want = len >= 1 && len <= 19 && strspn(s, "0123456789") == len;

	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == want);
	if (rc == 0) {
		char *end;

		FUZZ_CHECK(v == strtoull(s, &end, 10) && *end == '\0');
	}
}

static void
check_request(const char *hdr, uint64_t size)
{
	uint64_t start = 0, len = 0, start2 = 0, len2 = 0;
	char again[64];
	int rc = range_parse_request(hdr, size, &start, &len);

	FUZZ_CHECK(rc == 0 || rc == 1 || rc == -ERR_RANGE_UNSATISFIABLE);
	if (rc != 0)
		return;
	FUZZ_CHECK(len >= 1);
	FUZZ_CHECK(start < size);
	FUZZ_CHECK(len <= size - start);
	snprintf(again, sizeof(again), "bytes=%" PRIu64 "-%" PRIu64, start, start + len - 1);
	if (start + len - 1 <= 9999999999999999999ULL) {
		FUZZ_CHECK(range_parse_request(again, size, &start2, &len2) == 0);
		FUZZ_CHECK(start2 == start && len2 == len);
	}
}

static void
check_content(const char *hdr)
{
	uint64_t start = 0, end = 0, start2 = 0, end2 = 0;
	char again[64];
	int rc = range_parse_content(hdr, &start, &end);

	FUZZ_CHECK(rc == 0 || rc == -ERR_RANGE_INVALID);
	if (rc != 0)
		return;
	FUZZ_CHECK(start <= end);
	snprintf(again, sizeof(again), "%" PRIu64 "-%" PRIu64, start, end);
	FUZZ_CHECK(range_parse_content(again, &start2, &end2) == 0);
	FUZZ_CHECK(start2 == start && end2 == end);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t blob = 0;
	size_t nsize = size < 8 ? size : 8;
	char *hdr;

	for (size_t i = 0; i < nsize; i++)
		blob |= (uint64_t)data[i] << (8 * i);
	hdr = fuzz_strndup(data + nsize, size - nsize);
	check_request(hdr, blob);
	/* Small sizes are where the edge cases are; try them too. */
	check_request(hdr, blob & 0xff);
	check_content(hdr);
	check_u64(hdr);
	free(hdr);
	return 0;
}
