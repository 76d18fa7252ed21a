/* uri.h — percent-decoding (RFC 3986 2.1) and query parameters.  Pure
 * functions on caller-owned buffers; a leaf module. */
#ifndef OCIREGD_URI_H
#define OCIREGD_URI_H

#include <stddef.h>

/* Percent-decode src[0..len) into dst (cap bytes incl. NUL).  '+' decodes
 * to a space.  Rejects NUL bytes, malformed escapes and output that does
 * not fit.  0 or -1. */
int uri_decode(const char *src, size_t len, char *dst, size_t cap);

/* Find key in a raw query string ("a=1&b=2") and percent-decode its value
 * into out (cap bytes).  Returns 1 if found, 0 if absent, -1 if the value is
 * malformed or too long.  A key without '=' yields "". */
int uri_query(const char *query, const char *key, char *out, size_t cap);

#endif
