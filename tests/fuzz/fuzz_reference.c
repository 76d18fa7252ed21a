/* SPDX-License-Identifier: ISC
 * fuzz_reference.c — repository names, tags and upload ids (reference.c).
 *
 * The input, as a C string, goes to reference_name_valid,
 * reference_tag_valid and reference_uuid_valid.  Each verdict is compared
 * with a second, deliberately plain implementation of the same grammar
 * (distribution-spec "Pulling manifests"), in both directions: a name the
 * server accepts must be safe to put in a filesystem path or a SQL row, and
 * a name the spec allows must not be refused.  The properties that matter
 * for safety are also checked on their own, so a wrong oracle cannot hide
 * them: a valid name is 1..REFERENCE_NAME_MAX bytes of [a-z0-9._/-], never
 * contains ".." or "//", and neither starts nor ends with a separator.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "reference.h"

/* One component between slashes: alnum runs joined by exactly one of
 * ".", "_", "__" or a run of '-'. */
static bool
oracle_component(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !fuzz_is_lower_alnum(s[0]) || !fuzz_is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		size_t j;

		if (fuzz_is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		/* A separator run s[i..j). */
		for (j = i; j < len && !fuzz_is_lower_alnum(s[j]); j++)
			;
		if (j - i == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-')) {
			/* ".", "_" or "-" */
		} else if (j - i == 2 && s[i] == '_' && s[i + 1] == '_') {
			/* "__" */
		} else {
			for (size_t k = i; k < j; k++)
				if (s[k] != '-')
					return false;
		}
		i = j;
	}
	return true;
}

static bool
oracle_name(const char *s)
{
	size_t len = strlen(s), start = 0;

	if (len == 0 || len > REFERENCE_NAME_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			if (!oracle_component(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

static bool
tag_char(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
		return true;
	return !first && (c == '.' || c == '-');
}

static bool
oracle_tag(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > REFERENCE_TAG_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!tag_char(s[i], i == 0))
			return false;
	return true;
}

static bool
oracle_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (shape[i] == '-' ? s[i] != '-' : !fuzz_is_lower_hex(s[i]))
			return false;
	}
	return true;
}

static void
check_valid_name(const char *s)
{
	size_t len = strlen(s);

	FUZZ_CHECK(len >= 1 && len <= REFERENCE_NAME_MAX);
	FUZZ_CHECK(strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._/-") == len);
	FUZZ_CHECK(strstr(s, "..") == NULL);
	FUZZ_CHECK(strstr(s, "//") == NULL);
	FUZZ_CHECK(fuzz_is_lower_alnum(s[0]));
	FUZZ_CHECK(fuzz_is_lower_alnum(s[len - 1]));
	/* Every component, too: no "/." or "./" that would make a path
	 * component start or end with a dot. */
	FUZZ_CHECK(strstr(s, "/.") == NULL && strstr(s, "./") == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	bool name = reference_name_valid(s);
	bool tag = reference_tag_valid(s);
	bool uuid = reference_uuid_valid(s);

	if (name)
		check_valid_name(s);
	FUZZ_CHECK(name == oracle_name(s));

	if (tag) {
		size_t len = strlen(s);

		FUZZ_CHECK(len >= 1 && len <= REFERENCE_TAG_MAX);
		FUZZ_CHECK(strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_.-") == len);
		FUZZ_CHECK(s[0] != '.' && s[0] != '-');
	}
	FUZZ_CHECK(tag == oracle_tag(s));

	if (uuid)
		FUZZ_CHECK(strlen(s) == REFERENCE_UUID_LEN);
	FUZZ_CHECK(uuid == oracle_uuid(s));

	free(s);
	return 0;
}
