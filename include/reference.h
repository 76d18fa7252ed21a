/* reference.h — the spec's grammar for repository names, tags and upload ids.
 * All functions are pure and take a NUL-terminated string. */
#ifndef OCIREGD_REFERENCE_H
#define OCIREGD_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

/* Longest repository name we accept: many clients cap "host[:port]/name" at
 * 255 characters, so the name alone stays well under that. */
#define REFERENCE_NAME_MAX 200
#define REFERENCE_TAG_MAX 128
#define REFERENCE_UUID_LEN 36

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* */
bool reference_name_valid(const char *name);
/* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
bool reference_tag_valid(const char *tag);
/* Our upload ids: lowercase RFC 4122 form, 8-4-4-4-12 hex. */
bool reference_uuid_valid(const char *uuid);
/* Write a fresh random upload id into out (REFERENCE_UUID_LEN + 1 bytes). */
void reference_uuid_new(char out[REFERENCE_UUID_LEN + 1]);

#endif
