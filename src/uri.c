/* SPDX-License-Identifier: ISC
 * uri.c — percent-decoding of request paths and query strings (RFC 3986
 * section 2.1) and lookup of one query parameter.  A leaf: no project
 * includes but its own header.
 */
#include <string.h>

#include "uri.h"

static int
uri_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
uri_decode(const char *src, size_t len, char *dst, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			if ((hi = uri_hex(src[i + 1])) < 0 || (lo = uri_hex(src[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			/* Only meaningful in queries; paths never carry '+'
			 * in any grammar we accept, so decoding it is safe. */
			c = ' ';
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return 0;
}

int
uri_query(const char *query, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = query;

	if (p == NULL)
		return 0;
	while (*p != '\0') {
		const char *amp = strchr(p, '&');
		size_t plen = amp != NULL ? (size_t)(amp - p) : strlen(p);

		if (plen >= klen && strncmp(p, key, klen) == 0 &&
		    (plen == klen || p[klen] == '=')) {
			if (plen == klen) {
				if (cap == 0)
					return -1;
				out[0] = '\0';
				return 1;
			}
			return uri_decode(p + klen + 1, plen - klen - 1, out, cap) == 0 ? 1 : -1;
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	return 0;
}
