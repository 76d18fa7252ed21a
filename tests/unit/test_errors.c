/* SPDX-License-Identifier: ISC
 * test_errors.c — the error table (status and OCI code per error) and the
 * envelope {"errors":[{"code","message","detail"}]} of the distribution spec
 * ("Error Codes").  The envelope is parsed back with cJSON: it must stay
 * valid JSON whatever the detail holds and however small the buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

static const struct {
	enum reg_error e;
	int status;
	const char *code;	/* NULL: not one of the spec's codes; format only */
} expect[] = {
	{ERR_BLOB_UNKNOWN, 404, "BLOB_UNKNOWN"},
	{ERR_BLOB_UPLOAD_INVALID, 400, "BLOB_UPLOAD_INVALID"},
	{ERR_BLOB_UPLOAD_UNKNOWN, 404, "BLOB_UPLOAD_UNKNOWN"},
	{ERR_DIGEST_INVALID, 400, "DIGEST_INVALID"},
	{ERR_MANIFEST_BLOB_UNKNOWN, 400, "MANIFEST_BLOB_UNKNOWN"},
	{ERR_MANIFEST_INVALID, 400, "MANIFEST_INVALID"},
	{ERR_MANIFEST_UNKNOWN, 404, "MANIFEST_UNKNOWN"},
	{ERR_NAME_INVALID, 400, "NAME_INVALID"},
	{ERR_NAME_UNKNOWN, 404, "NAME_UNKNOWN"},
	{ERR_SIZE_INVALID, 400, "SIZE_INVALID"},
	{ERR_UNAUTHORIZED, 401, "UNAUTHORIZED"},
	{ERR_DENIED, 403, "DENIED"},
	{ERR_UNSUPPORTED, 400, "UNSUPPORTED"},
	{ERR_METHOD, 405, "UNSUPPORTED"},
	{ERR_TOOMANYREQUESTS, 429, "TOOMANYREQUESTS"},
	{ERR_RANGE_INVALID, 416, NULL},
	{ERR_RANGE_UNSATISFIABLE, 416, NULL},
	{ERR_TAG_INVALID, 400, "MANIFEST_INVALID"},
	{ERR_PAGINATION, 400, NULL},
	{ERR_TOO_LARGE, 413, NULL},
	{ERR_NOT_FOUND, 404, NULL},
	{ERR_BAD_REQUEST, 400, NULL},
	{ERR_URI_TOO_LONG, 414, NULL},
	{ERR_HEADERS_TOO_LARGE, 431, NULL},
	{ERR_LENGTH_REQUIRED, 411, NULL},
	{ERR_NO_SPACE, 507, NULL},
	{ERR_INTERNAL, 500, NULL},
	{ERR_UNAVAILABLE, 503, NULL},
};

#define NEXPECT (sizeof(expect) / sizeof(expect[0]))

/* The spec: "containing only uppercase alphabetic characters and
 * underscores". */
static int
code_well_formed(const char *code)
{
	if (code == NULL || code[0] == '\0')
		return 0;
	for (const char *p = code; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || *p == '_'))
			return 0;
	}
	return 1;
}

/* The spec's code table (distribution-spec "Error Codes", code-1..code-14):
 * a 4XX body's code must be one of these. */
static const char *const spec_codes[] = {
	"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
	"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
	"NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
};

static int
is_spec_code(const char *code)
{
	for (size_t i = 0; i < sizeof(spec_codes) / sizeof(spec_codes[0]); i++) {
		if (strcmp(code, spec_codes[i]) == 0)
			return 1;
	}
	return 0;
}

static void
test_table(void **state)
{
	(void)state;
	/* Every error is listed here exactly once. */
	assert_int_equal(NEXPECT, ERR_COUNT - 1);
	for (size_t i = 0; i < NEXPECT; i++) {
		enum reg_error e = expect[i].e;

		assert_int_equal(e, (enum reg_error)(i + 1));
		if (errors_status(e) != expect[i].status)
			fail_msg("error %d: status %d, want %d", (int)e, errors_status(e),
			    expect[i].status);
		if (!code_well_formed(errors_code(e)))
			fail_msg("error %d: code '%s' malformed", (int)e, errors_code(e));
		if (expect[i].code != NULL && strcmp(errors_code(e), expect[i].code) != 0)
			fail_msg("error %d: code '%s', want '%s'", (int)e, errors_code(e),
			    expect[i].code);
		if (errors_status(e) >= 400 && errors_status(e) < 500 && !is_spec_code(errors_code(e)))
			fail_msg("error %d: %d with code '%s', not one of the spec's codes", (int)e,
			    errors_status(e), errors_code(e));
		assert_non_null(errors_message(e));
		assert_true(strlen(errors_message(e)) > 0);
		/* Messages go into JSON unescaped: keep them plain. */
		assert_null(strpbrk(errors_message(e), "\"\\"));
	}
}

static void
test_out_of_range(void **state)
{
	static const int bad[] = {ERR_COUNT, ERR_COUNT + 1, -1, -1000, 1 << 30};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum reg_error e = (enum reg_error)bad[i];
		char buf[512];

		assert_int_equal(errors_status(e), 500);
		assert_true(code_well_formed(errors_code(e)));
		assert_true(strlen(errors_message(e)) > 0);
		assert_true(errors_render(e, NULL, buf, sizeof(buf)) > 0);
	}
}

static void
test_from_errno(void **state)
{
	static const int internal[] = {0, EIO, EACCES, EPERM, ENOENT, EEXIST, EROFS, EMFILE,
	    EINVAL, ENOMEM, -1};

	(void)state;
	assert_int_equal(errors_from_errno(ENOSPC), ERR_NO_SPACE);
	assert_int_equal(errors_from_errno(EDQUOT), ERR_NO_SPACE);
	assert_int_equal(errors_status(errors_from_errno(ENOSPC)), 507);
	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++)
		assert_int_equal(errors_from_errno(internal[i]), ERR_INTERNAL);
}

/* errors.h: "ENOSPC/EDQUOT to ERR_NO_SPACE, everything else to
 * ERR_INTERNAL". */
static void
test_from_errno_efbig(void **state)
{
	(void)state;
	assert_int_equal(errors_from_errno(EFBIG), ERR_NO_SPACE);
}

/* Parse buf and check the envelope; returns the detail item. The caller
 * deletes *root. */
static const cJSON *
envelope(const char *buf, enum reg_error e, cJSON **root)
{
	const cJSON *errs, *item, *code, *msg, *detail;

	if ((*root = cJSON_Parse(buf)) == NULL)
		fail_msg("not JSON: %s", buf);
	assert_true(cJSON_IsObject(*root));
	errs = cJSON_GetObjectItemCaseSensitive(*root, "errors");
	assert_true(cJSON_IsArray(errs));
	assert_int_equal(cJSON_GetArraySize(errs), 1);
	item = cJSON_GetArrayItem(errs, 0);
	assert_true(cJSON_IsObject(item));
	code = cJSON_GetObjectItemCaseSensitive(item, "code");
	msg = cJSON_GetObjectItemCaseSensitive(item, "message");
	detail = cJSON_GetObjectItemCaseSensitive(item, "detail");
	assert_true(cJSON_IsString(code));
	assert_true(cJSON_IsString(msg));
	assert_non_null(detail);
	assert_string_equal(code->valuestring, errors_code(e));
	assert_string_equal(msg->valuestring, errors_message(e));
	return detail;
}

static void
test_render_every_error(void **state)
{
	char buf[1024];

	(void)state;
	for (int e = 1; e < ERR_COUNT; e++) {
		cJSON *root;
		const cJSON *detail;
		size_t n;

		n = errors_render((enum reg_error)e, NULL, buf, sizeof(buf));
		assert_int_equal(n, strlen(buf));
		detail = envelope(buf, (enum reg_error)e, &root);
		/* NULL detail: an empty object. */
		assert_true(cJSON_IsObject(detail));
		assert_null(detail->child);
		cJSON_Delete(root);

		n = errors_render((enum reg_error)e, "blob sha256:abc not here", buf, sizeof(buf));
		assert_int_equal(n, strlen(buf));
		detail = envelope(buf, (enum reg_error)e, &root);
		assert_true(cJSON_IsString(detail));
		assert_string_equal(detail->valuestring, "blob sha256:abc not here");
		cJSON_Delete(root);
	}
}

static void
test_render_escaping(void **state)
{
	static const char *const ascii[] = {
		"",
		"say \"hi\"",
		"back\\slash \\\\ and \\\"",
		"\"",
		"\\",
		"ctl \x01\x02\x1f tab\tnl\nret\rbs\bff\f",
		"del \x7f",
		"{\"errors\":[]}",
		"</script>",
		"'single' `back`",
	};
	char buf[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(ascii) / sizeof(ascii[0]); i++) {
		cJSON *root;
		const cJSON *detail;
		size_t n = errors_render(ERR_NAME_INVALID, ascii[i], buf, sizeof(buf));

		assert_int_equal(n, strlen(buf));
		/* No raw control characters in the output. */
		for (size_t j = 0; j < n; j++) {
			if ((unsigned char)buf[j] < 0x20)
				fail_msg("raw control byte 0x%02x in %s", (unsigned char)buf[j], buf);
		}
		detail = envelope(buf, ERR_NAME_INVALID, &root);
		assert_true(cJSON_IsString(detail));
		assert_string_equal(detail->valuestring, ascii[i]);
		cJSON_Delete(root);
	}
}

static void
test_render_non_ascii(void **state)
{
	/* Not valid UTF-8 on purpose: detail may echo raw client bytes. */
	static const char *const raw[] = {
		"caf\xc3\xa9", "\x80", "\xff\xfe", "x\xc3(y", "\xed\xa0\x80", "a\xf0\x9f\x98\x80z",
	};
	char buf[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		cJSON *root;
		const cJSON *detail;
		size_t n = errors_render(ERR_TAG_INVALID, raw[i], buf, sizeof(buf));

		assert_int_equal(n, strlen(buf));
		/* The envelope is plain ASCII, hence valid UTF-8. */
		for (size_t j = 0; j < n; j++) {
			if ((unsigned char)buf[j] >= 0x80)
				fail_msg("raw byte 0x%02x in %s", (unsigned char)buf[j], buf);
		}
		detail = envelope(buf, ERR_TAG_INVALID, &root);
		assert_true(cJSON_IsString(detail));
		/* The ASCII around the bytes survives. */
		if (raw[i][0] == 'c' || raw[i][0] == 'a' || raw[i][0] == 'x')
			assert_int_equal(detail->valuestring[0], raw[i][0]);
		cJSON_Delete(root);
	}
}

/* Every capacity from 0 up to past the full length: no byte past cap is
 * touched, the result is NUL-terminated, and whatever came out is either
 * empty or a valid envelope whose detail is a prefix of the real one. */
static void
check_all_caps(enum reg_error e, const char *detail)
{
	char full[4096], buf[4096 + 64];
	size_t flen = errors_render(e, detail, full, sizeof(full));

	assert_true(flen > 0 && flen < sizeof(full) - 1);
	for (size_t cap = 0; cap <= flen + 16; cap++) {
		size_t n;

		memset(buf, '#', sizeof(buf));
		n = errors_render(e, detail, buf, cap);
		for (size_t j = cap; j < sizeof(buf); j++) {
			if (buf[j] != '#')
				fail_msg("cap %zu: byte %zu written", cap, j);
		}
		if (cap == 0) {
			assert_int_equal(n, 0);
			continue;
		}
		assert_non_null(memchr(buf, '\0', cap));
		assert_int_equal(n, strlen(buf));
		assert_true(n < cap);
		if (n > 0) {
			cJSON *root;
			const cJSON *d = envelope(buf, e, &root);

			if (detail == NULL) {
				assert_true(cJSON_IsObject(d));
			} else {
				cJSON *froot;
				const cJSON *fd = envelope(full, e, &froot);

				assert_true(cJSON_IsString(d));
				assert_int_equal(strncmp(fd->valuestring, d->valuestring,
				    strlen(d->valuestring)), 0);
				cJSON_Delete(froot);
			}
			cJSON_Delete(root);
		}
	}
}

static void
test_render_tiny_buffers(void **state)
{
	(void)state;
	check_all_caps(ERR_BLOB_UNKNOWN, NULL);
	check_all_caps(ERR_MANIFEST_BLOB_UNKNOWN, "short");
	check_all_caps(ERR_NAME_INVALID, "q\"u\\o\"t\\e\x01\x02\xff\xc3\xa9\n\t end");
	check_all_caps(ERR_INTERNAL, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c");
}

/* errors.h: the detail is truncated "if the buffer is short".  A buffer of
 * exactly the envelope's length plus the NUL is not short: it must get the
 * whole envelope, as must any larger one. */
static void
test_render_exact_fit(void **state)
{
	static const char *const details[] = {NULL, "short", "q\"uote\\ \x01 \xff"};
	char full[1024], buf[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(details) / sizeof(details[0]); i++) {
		size_t flen = errors_render(ERR_BLOB_UNKNOWN, details[i], full, sizeof(full));

		for (size_t cap = flen + 1; cap <= flen + 16; cap++) {
			size_t n = errors_render(ERR_BLOB_UNKNOWN, details[i], buf, cap);

			if (n != flen || strcmp(buf, full) != 0)
				fail_msg("cap %zu (need %zu): got \"%s\"", cap, flen + 1, buf);
		}
	}
}

static void
test_render_long_detail(void **state)
{
	const size_t n = 100000;
	char *detail = malloc(n + 1), buf[512];
	cJSON *root;
	const cJSON *d;
	size_t len;

	(void)state;
	assert_non_null(detail);
	for (size_t i = 0; i < n; i++)
		detail[i] = "a\"\\\x01\xff"[i % 5];
	detail[n] = '\0';
	len = errors_render(ERR_DIGEST_INVALID, detail, buf, sizeof(buf));
	assert_true(len > 0 && len < sizeof(buf));
	assert_int_equal(len, strlen(buf));
	d = envelope(buf, ERR_DIGEST_INVALID, &root);
	assert_true(cJSON_IsString(d));
	assert_true(strlen(d->valuestring) > 0);
	cJSON_Delete(root);
	free(detail);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_from_errno),
		cmocka_unit_test(test_from_errno_efbig),
		cmocka_unit_test(test_render_every_error),
		cmocka_unit_test(test_render_escaping),
		cmocka_unit_test(test_render_non_ascii),
		cmocka_unit_test(test_render_tiny_buffers),
		cmocka_unit_test(test_render_exact_fit),
		cmocka_unit_test(test_render_long_detail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
