/* errors.h — the one error vocabulary of ociregd.
 *
 * Every failure a client can see is an enum reg_error.  One static table maps
 * each to {HTTP status, OCI error code, message}; handlers never spell a status
 * number or a code string.  Fallible functions in ociregd return 0 on success
 * or the negated enum value (-ERR_BLOB_UNKNOWN, ...).
 */
#ifndef OCIREGD_ERRORS_H
#define OCIREGD_ERRORS_H

#include <stddef.h>

enum reg_error {
	ERR_NONE = 0,
	ERR_BLOB_UNKNOWN,
	ERR_BLOB_UPLOAD_INVALID,
	ERR_BLOB_UPLOAD_UNKNOWN,
	ERR_DIGEST_INVALID,
	ERR_MANIFEST_BLOB_UNKNOWN,
	ERR_MANIFEST_INVALID,
	ERR_MANIFEST_UNKNOWN,
	ERR_NAME_INVALID,
	ERR_NAME_UNKNOWN,
	ERR_SIZE_INVALID,
	ERR_UNAUTHORIZED,
	ERR_DENIED,
	ERR_UNSUPPORTED,	/* 400: a request we refuse to carry out */
	ERR_METHOD,		/* 405: method not allowed on a known route */
	ERR_TOOMANYREQUESTS,
	ERR_RANGE_INVALID,	/* 416 on an upload chunk that does not follow */
	ERR_RANGE_UNSATISFIABLE,/* 416 on a blob GET */
	ERR_TAG_INVALID,	/* 400 MANIFEST_INVALID-ish: bad reference */
	ERR_PAGINATION,		/* 400: bad n/last */
	ERR_TOO_LARGE,		/* 413 */
	ERR_NOT_FOUND,		/* 404: no such endpoint */
	ERR_BAD_REQUEST,	/* 400: malformed HTTP */
	ERR_URI_TOO_LONG,	/* 414 */
	ERR_HEADERS_TOO_LARGE,	/* 431 */
	ERR_LENGTH_REQUIRED,	/* 411 */
	ERR_NO_SPACE,		/* 507: storage full */
	ERR_INTERNAL,		/* 500 */
	ERR_UNAVAILABLE,	/* 503 */
	ERR_COUNT
};

/* HTTP status for an error. */
int errors_status(enum reg_error e);
/* OCI error code string ("BLOB_UNKNOWN", ...); static storage. */
const char *errors_code(enum reg_error e);
/* Default human message; static storage. */
const char *errors_message(enum reg_error e);

/* Render the spec's envelope {"errors":[{"code","message","detail"}]} into buf
 * (size cap).  detail may be NULL (rendered as an empty object) and is emitted
 * as a JSON string.  Returns the length written (always NUL-terminated,
 * truncated detail if the buffer is short). */
size_t errors_render(enum reg_error e, const char *detail, char *buf, size_t cap);

/* Map an errno value from a storage operation to an error: ENOSPC, EDQUOT
 * and EFBIG (a file-size limit) to ERR_NO_SPACE, everything else to
 * ERR_INTERNAL. */
enum reg_error errors_from_errno(int err);

#endif
