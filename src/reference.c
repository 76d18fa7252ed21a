/* SPDX-License-Identifier: ISC
 * reference.c — repository-name, tag and upload-id grammar (distribution-spec
 * "Pulling manifests": <name> and <reference>).  Everything that reaches a
 * path or a query passes through here first.
 */
#include <sodium.h>
#include <string.h>

#include "reference.h"

static bool
ref_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*; returns the length
 * consumed or 0 if the component is invalid. */
static size_t
ref_component(const char *s)
{
	size_t i = 0;

	if (!ref_alnum(s[0]))
		return 0;
	for (;;) {
		while (ref_alnum(s[i]))
			i++;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (s[i] == '-')
				i++;
		} else {
			return i;
		}
		/* A separator must be followed by an alphanumeric. */
		if (!ref_alnum(s[i]))
			return 0;
	}
}

bool
reference_name_valid(const char *name)
{
	size_t len = strnlen(name, REFERENCE_NAME_MAX + 1);
	const char *p = name;

	if (len == 0 || len > REFERENCE_NAME_MAX)
		return false;
	for (;;) {
		size_t n = ref_component(p);

		if (n == 0)
			return false;
		p += n;
		if (*p == '\0')
			return true;
		if (*p != '/')
			return false;
		p++;
	}
}

bool
reference_tag_valid(const char *tag)
{
	size_t i;

	if (!((tag[0] >= 'a' && tag[0] <= 'z') || (tag[0] >= 'A' && tag[0] <= 'Z') ||
	    (tag[0] >= '0' && tag[0] <= '9') || tag[0] == '_'))
		return false;
	for (i = 1; tag[i] != '\0'; i++) {
		char c = tag[i];

		if (i >= REFERENCE_TAG_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool
reference_uuid_valid(const char *uuid)
{
	size_t i;

	for (i = 0; i < REFERENCE_UUID_LEN; i++) {
		char c = uuid[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return uuid[REFERENCE_UUID_LEN] == '\0';
}

void
reference_uuid_new(char out[REFERENCE_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	size_t o = 0;

	randombytes_buf(r, sizeof(r));
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);	/* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	for (size_t i = 0; i < sizeof(r); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[r[i] >> 4];
		out[o++] = hex[r[i] & 15];
	}
	out[o] = '\0';
}
