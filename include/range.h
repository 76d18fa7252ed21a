/* range.h — HTTP Range (blob GET) and Content-Range (upload PATCH) parsing. */
#ifndef OCIREGD_RANGE_H
#define OCIREGD_RANGE_H

#include <stdint.h>

/* Parse a strict unsigned decimal (digits only, no sign, no spaces) of at most
 * 19 digits.  0 or -1. */
int range_parse_u64(const char *s, const char *end, uint64_t *out);

/* Range request header against a blob of `size` bytes.  Accepts one range
 * "bytes=a-b", "bytes=a-" or "bytes=-n".  Returns 0 with start and len set for a
 * satisfiable range, 1 when the header should be ignored (syntax we do not
 * serve, e.g. several ranges: RFC 9110 lets a server send the whole body), or
 * -ERR_RANGE_UNSATISFIABLE. */
int range_parse_request(const char *hdr, uint64_t size, uint64_t *start, uint64_t *len);

/* Content-Range of an upload chunk: "a-b" as the distribution spec writes it;
 * "bytes a-b/N", "bytes a-b/(star)" and "bytes=a-b" are tolerated.  Inclusive
 * end, a <= b.  0 or -ERR_RANGE_INVALID. */
int range_parse_content(const char *hdr, uint64_t *start, uint64_t *end);

#endif
