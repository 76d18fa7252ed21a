/* SPDX-License-Identifier: ISC
 * fuzz_errors.c — the error envelope (errors.c).
 *
 * Input layout: byte 0 picks the error (including out-of-range values, which
 * must render as UNKNOWN/500), byte 1 picks the buffer size, byte 2's low bit
 * whether the detail is NULL; the rest, as a C string, is the detail, which
 * in the server echoes client input.  errors_render writes into a buffer of
 * exactly cap bytes (ASan sees any overflow), for the chosen cap, for every
 * cap around the envelope's own length, and for a cap with room for all.
 * Properties:
 *   - the result is NUL-terminated, its length is the return value, < cap;
 *   - a non-empty result is valid JSON (cJSON_Parse) of the spec's shape
 *     {"errors":[{"code","message","detail"}]} with the table's code and
 *     message; the detail is a string that decodes to a prefix of the input
 *     (bytes >= 0x80 are escaped as \u00XX, i.e. read back as U+0080..U+00FF),
 *     or {} for a NULL detail;
 *   - only a buffer too small for the envelope itself (head, the detail's
 *     quotes or "{}", "}]}" and the NUL) yields "";
 *   - the detail is cut only when the next character's escape would not
 *     fit, so a buffer with room for all of it holds all of it.
 */
#include <cjson/cJSON.h>

#include "errors.h"
#include "fuzz.h"

/* The detail as cJSON decodes it back: each byte b is code point b. */
static char *
expected_detail(const char *d, size_t *outlen)
{
	size_t n = strlen(d), o = 0;
	char *out = malloc(2 * n + 1);

	FUZZ_CHECK(out != NULL);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c < 0x80) {
			out[o++] = (char)c;
		} else {
			out[o++] = (char)(0xc0 | (c >> 6));
			out[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Bytes the renderer needs for c inside a JSON string. */
static size_t
escaped_len(unsigned char c)
{
	if (c == '"' || c == '\\')
		return 2;
	if (c < 0x20 || c >= 0x7f)
		return 6;
	return 1;
}

/* Length of the envelope before the detail: the smallest output. */
static size_t
head_len(enum reg_error e)
{
	int n = snprintf(NULL, 0, "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\",\"detail\":",
	    errors_code(e), errors_message(e));

	FUZZ_CHECK(n > 0);
	return (size_t)n;
}

static void
check_render(enum reg_error e, const char *detail, size_t cap)
{
	/* cap bytes; for cap 0 one canary byte (ASan ignores malloc(0)). */
	char *buf = malloc(cap > 0 ? cap : 1);
	size_t ret, head = head_len(e), want_len = 0;
	char *want = NULL;
	cJSON *root, *errs, *item, *code, *msg, *det;

	FUZZ_CHECK(buf != NULL);
	if (cap == 0)
		buf[0] = 0x5a;
	ret = errors_render(e, detail, buf, cap);
	if (cap == 0) {
		FUZZ_CHECK(ret == 0 && buf[0] == 0x5a);
		free(buf);
		return;
	}
	FUZZ_CHECK(ret < cap);
	FUZZ_CHECK(buf[ret] == '\0');
	FUZZ_CHECK(strlen(buf) == ret);
	/* Room for the envelope (head + "{}" or two quotes + "}]}" + NUL)
	 * must give one. */
	FUZZ_CHECK((ret > 0) == (cap >= head + 6));
	if (ret == 0) {
		free(buf);
		return;
	}

	root = cJSON_Parse(buf);
	if (root == NULL)
		fprintf(stderr, "not JSON (cap %zu): %s\n", cap, buf);
	FUZZ_CHECK(root != NULL);
	FUZZ_CHECK(cJSON_IsObject(root) && cJSON_GetArraySize(root) == 1);
	errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
	FUZZ_CHECK(cJSON_IsArray(errs) && cJSON_GetArraySize(errs) == 1);
	item = cJSON_GetArrayItem(errs, 0);
	FUZZ_CHECK(cJSON_IsObject(item) && cJSON_GetArraySize(item) == 3);
	code = cJSON_GetObjectItemCaseSensitive(item, "code");
	msg = cJSON_GetObjectItemCaseSensitive(item, "message");
	det = cJSON_GetObjectItemCaseSensitive(item, "detail");
	FUZZ_CHECK(cJSON_IsString(code) && strcmp(code->valuestring, errors_code(e)) == 0);
	FUZZ_CHECK(cJSON_IsString(msg) && strcmp(msg->valuestring, errors_message(e)) == 0);
	if (detail == NULL) {
		FUZZ_CHECK(cJSON_IsObject(det) && cJSON_GetArraySize(det) == 0);
	} else {
		size_t got;

		FUZZ_CHECK(cJSON_IsString(det));
		want = expected_detail(detail, &want_len);
		got = strlen(det->valuestring);
		FUZZ_CHECK(got <= want_len);
		FUZZ_CHECK(memcmp(det->valuestring, want, got) == 0);
		/* A two-byte sequence is one escape: never cut in half. */
		FUZZ_CHECK(got == want_len || ((unsigned char)want[got] & 0xc0) != 0x80);
		if (got < want_len) {
			/* Truncated: the next input byte's escape plus the
			 * NUL would not have fit. */
			size_t used = 0, in = 0;
			unsigned char next;

			while (used < got) {
				used += (unsigned char)detail[in] < 0x80 ? 1 : 2;
				in++;
			}
			FUZZ_CHECK(used == got);
			next = (unsigned char)detail[in];
			FUZZ_CHECK(ret + escaped_len(next) + 1 > cap);
		}
	}
	cJSON_Delete(root);
	free(want);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum reg_error e;
	char *detail;
	size_t head;

	if (size < 3)
		return 0;
	/* -2..ERR_COUNT+1: out-of-range values must be clamped. */
	e = (enum reg_error)((int)(data[0] % (ERR_COUNT + 4)) - 2);
	detail = fuzz_strndup(data + 3, size - 3);
	if (data[2] & 1) {
		free(detail);
		detail = NULL;
	}
	head = head_len(e);
	check_render(e, detail, data[1]);
	check_render(e, detail, head + data[1]);
	/* Every cap where the envelope starts or stops fitting. */
	for (size_t cap = head; cap <= head + 16; cap++)
		check_render(e, detail, cap);
	check_render(e, detail, head + 6 * (detail != NULL ? strlen(detail) : 0) + 32);
	free(detail);
	return 0;
}
