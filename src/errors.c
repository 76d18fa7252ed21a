/* SPDX-License-Identifier: ISC
 * errors.c — the error table and the envelope of the OCI Distribution spec
 * ("Error Codes" section): {"errors":[{"code","message","detail"}]}.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

static const struct {
	int status;
	const char *code;
	const char *message;
} errors_table[ERR_COUNT] = {
	[ERR_NONE] = {200, "", ""},
	[ERR_BLOB_UNKNOWN] = {404, "BLOB_UNKNOWN", "blob unknown to registry"},
	[ERR_BLOB_UPLOAD_INVALID] = {400, "BLOB_UPLOAD_INVALID", "blob upload invalid"},
	[ERR_BLOB_UPLOAD_UNKNOWN] = {404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"},
	[ERR_DIGEST_INVALID] = {400, "DIGEST_INVALID", "provided digest did not match uploaded content"},
	[ERR_MANIFEST_BLOB_UNKNOWN] = {400, "MANIFEST_BLOB_UNKNOWN", "manifest references a blob unknown to registry"},
	[ERR_MANIFEST_INVALID] = {400, "MANIFEST_INVALID", "manifest invalid"},
	[ERR_MANIFEST_UNKNOWN] = {404, "MANIFEST_UNKNOWN", "manifest unknown to registry"},
	[ERR_NAME_INVALID] = {400, "NAME_INVALID", "invalid repository name"},
	[ERR_NAME_UNKNOWN] = {404, "NAME_UNKNOWN", "repository name not known to registry"},
	[ERR_SIZE_INVALID] = {400, "SIZE_INVALID", "provided length did not match content length"},
	[ERR_UNAUTHORIZED] = {401, "UNAUTHORIZED", "authentication required"},
	[ERR_DENIED] = {403, "DENIED", "requested access to the resource is denied"},
	[ERR_UNSUPPORTED] = {400, "UNSUPPORTED", "the operation is unsupported"},
	[ERR_METHOD] = {405, "UNSUPPORTED", "method not allowed on this resource"},
	[ERR_TOOMANYREQUESTS] = {429, "TOOMANYREQUESTS", "too many requests"},
	[ERR_RANGE_INVALID] = {416, "BLOB_UPLOAD_INVALID", "chunk does not start at the end of the upload"},
	[ERR_RANGE_UNSATISFIABLE] = {416, "BLOB_UNKNOWN", "requested range not satisfiable"},
	[ERR_TAG_INVALID] = {400, "MANIFEST_INVALID", "invalid tag or digest reference"},
	[ERR_PAGINATION] = {400, "UNSUPPORTED", "invalid pagination parameters"},
	[ERR_TOO_LARGE] = {413, "SIZE_INVALID", "request body too large"},
	[ERR_NOT_FOUND] = {404, "UNSUPPORTED", "no such endpoint"},
	[ERR_BAD_REQUEST] = {400, "UNSUPPORTED", "malformed HTTP request"},
	[ERR_URI_TOO_LONG] = {414, "UNSUPPORTED", "request URI too long"},
	[ERR_HEADERS_TOO_LARGE] = {431, "UNSUPPORTED", "request header fields too large"},
	[ERR_LENGTH_REQUIRED] = {411, "SIZE_INVALID", "Content-Length required"},
	[ERR_NO_SPACE] = {507, "UNKNOWN", "insufficient storage"},
	[ERR_INTERNAL] = {500, "UNKNOWN", "internal server error"},
	[ERR_UNAVAILABLE] = {503, "UNAVAILABLE", "service unavailable"},
};

static enum reg_error
errors_clamp(enum reg_error e)
{
	if ((int)e <= 0 || e >= ERR_COUNT)
		return ERR_INTERNAL;
	return e;
}

int
errors_status(enum reg_error e)
{
	return errors_table[errors_clamp(e)].status;
}

const char *
errors_code(enum reg_error e)
{
	return errors_table[errors_clamp(e)].code;
}

const char *
errors_message(enum reg_error e)
{
	return errors_table[errors_clamp(e)].message;
}

/* Append s as the inside of a JSON string, writing below `cap`; stops
 * (without splitting an escape) when the next character does not fit. */
static size_t
errors_json_escape(char *out, size_t pos, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		size_t need = (c == '"' || c == '\\') ? 2 : (c < 0x20 || c >= 0x7f) ? 6 : 1;

		if (pos + need > cap)
			break;

		if (c == '"' || c == '\\') {
			out[pos++] = '\\';
			out[pos++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Non-ASCII too: detail may echo client input that is not
			 * valid UTF-8, and the envelope must stay valid JSON. */
			out[pos++] = '\\';
			out[pos++] = 'u';
			out[pos++] = '0';
			out[pos++] = '0';
			out[pos++] = hex[c >> 4];
			out[pos++] = hex[c & 15];
		} else {
			out[pos++] = (char)c;
		}
	}
	return pos;
}

size_t
errors_render(enum reg_error e, const char *detail, char *buf, size_t cap)
{
	/* Room the tail needs: closing quote (or "{}"), "}]}" and the NUL. */
	static const size_t tail = 6;
	size_t pos;
	int n;

	if (cap == 0)
		return 0;
	e = errors_clamp(e);
	n = snprintf(buf, cap, "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\",\"detail\":",
	    errors_table[e].code, errors_table[e].message);
	if (n < 0 || (size_t)n + tail > cap) {
		buf[0] = '\0';
		return 0;
	}
	pos = (size_t)n;
	if (detail == NULL) {
		memcpy(buf + pos, "{}", 2);
		pos += 2;
	} else {
		buf[pos++] = '"';
		pos = errors_json_escape(buf, pos, cap - (tail - 1), detail);
		buf[pos++] = '"';
	}
	memcpy(buf + pos, "}]}", 3);
	pos += 3;
	buf[pos] = '\0';
	return pos;
}

enum reg_error
errors_from_errno(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return ERR_NO_SPACE;
	default:
		return ERR_INTERNAL;
	}
}
