/* SPDX-License-Identifier: ISC
 * range.c — byte ranges: the Range header of a blob GET (RFC 9110 §14.2,
 * used by clients resuming pulls) and the Content-Range of an upload chunk
 * (distribution-spec "Pushing a blob in chunks": "<start>-<end>", inclusive).
 */
#include <string.h>

#include "errors.h"
#include "range.h"

int
range_parse_u64(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0;

	if (s >= end || end - s > 19)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static const char *
range_skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int
range_parse_request(const char *hdr, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p = range_skip_ws(hdr), *dash, *end;
	uint64_t a, b;

	if (strncmp(p, "bytes=", 6) != 0)
		return 1;
	p = range_skip_ws(p + 6);
	if (strchr(p, ',') != NULL)
		return 1;
	if ((dash = strchr(p, '-')) == NULL)
		return 1;
	end = dash + 1 + strcspn(dash + 1, " \t");
	if (*range_skip_ws(end) != '\0')
		return 1;
	if (dash == p) {
		/* Suffix range: the last n bytes. */
		if (range_parse_u64(dash + 1, end, &b) != 0)
			return 1;
		if (b == 0 || size == 0)
			return -ERR_RANGE_UNSATISFIABLE;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return 0;
	}
	if (range_parse_u64(p, dash, &a) != 0)
		return 1;
	if (dash + 1 == end) {
		b = UINT64_MAX;
	} else if (range_parse_u64(dash + 1, end, &b) != 0 || b < a) {
		return 1;
	}
	if (a >= size)
		return -ERR_RANGE_UNSATISFIABLE;
	if (b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return 0;
}

int
range_parse_content(const char *hdr, uint64_t *start, uint64_t *end)
{
	const char *p = range_skip_ws(hdr), *dash, *stop;

	if (strncmp(p, "bytes=", 6) == 0)
		p += 6;
	else if (strncmp(p, "bytes ", 6) == 0)
		p = range_skip_ws(p + 6);
	if ((dash = strchr(p, '-')) == NULL)
		return -ERR_RANGE_INVALID;
	stop = dash + 1 + strcspn(dash + 1, "/ \t");
	if (*stop == '/') {
		/* "/N" or "/\*": the total is not something we can check yet. */
		const char *t = stop + 1;

		if (!(t[0] == '*' && t[1] == '\0')) {
			uint64_t total;

			if (range_parse_u64(t, t + strlen(t), &total) != 0)
				return -ERR_RANGE_INVALID;
		}
	} else if (*range_skip_ws(stop) != '\0') {
		return -ERR_RANGE_INVALID;
	}
	if (range_parse_u64(p, dash, start) != 0 || range_parse_u64(dash + 1, stop, end) != 0 ||
	    *end < *start)
		return -ERR_RANGE_INVALID;
	return 0;
}
