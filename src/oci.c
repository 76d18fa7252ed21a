/* SPDX-License-Identifier: ISC
 * oci.c — OCI JSON: manifest and index validation (image-spec manifest.md,
 * image-index.md, descriptor.md; Docker schema 2), and the JSON the API
 * returns (tags list, catalog, referrers).  cJSON stays inside this file.
 *
 * We validate what a registry must rely on (kinds, descriptors, digests,
 * the references we check for presence) and store the exact bytes pushed:
 * the digest is over those bytes, never over a re-serialisation.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "oci.h"

struct oci_doc {
	cJSON *root;
	cJSON *array;
};

static int oci_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
oci_fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -ERR_MANIFEST_INVALID;
}

int
oci_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p;
		size_t n;
		unsigned cp, min;

		if (c < 0x80) {
			p++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if ((size_t)(end - p) <= n)
			return 0;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

static const char *
oci_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The media type without parameters ("; charset=..."), lowercased length. */
static size_t
oci_mt_len(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n;
}

static int
oci_mt_eq(const char *a, const char *b)
{
	size_t n = oci_mt_len(a);

	return n == strlen(b) && strncasecmp(a, b, n) == 0;
}

/* Validate one descriptor; fill ref. */
static int
oci_descriptor(const cJSON *d, const char *where, struct oci_ref *ref, char *err, size_t cap)
{
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(d, "size");
	const char *mt = oci_string(d, "mediaType"), *dg = oci_string(d, "digest");

	if (!cJSON_IsObject(d))
		return oci_fail(err, cap, "%s: descriptor is not an object", where);
	if (mt == NULL)
		return oci_fail(err, cap, "%s: descriptor has no mediaType", where);
	if (dg == NULL)
		return oci_fail(err, cap, "%s: descriptor has no digest", where);
	if (digest_parse(dg, &ref->digest) != 0)
		return oci_fail(err, cap, "%s: invalid digest '%.140s'", where, dg);
	if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 9.0e15 ||
	    size->valuedouble != (double)(int64_t)size->valuedouble)
		return oci_fail(err, cap, "%s: size must be a non-negative integer", where);
	ref->size = (int64_t)size->valuedouble;
	/* Non-distributable ("foreign") layers live elsewhere by design:
	 * their media type says so (urls alone do not; callers reset this
	 * for anything but layers). */
	ref->foreign = strstr(mt, "nondistributable") != NULL || strstr(mt, ".foreign.") != NULL;
	return 0;
}

static int
oci_add_ref(struct oci_manifest *m, const struct oci_ref *r, size_t cap)
{
	if (m->nrefs == cap)
		return -1;
	m->refs[m->nrefs++] = *r;
	return 0;
}

static void
oci_copy(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int
oci_manifest_parse(const char *body, size_t len, const char *content_type,
    struct oci_manifest *out, char *err, size_t errcap)
{
	const cJSON *sv, *config, *layers, *manifests, *subject, *item;
	const char *mt, *at;
	cJSON *root;
	size_t cap;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	/* RFC 8259: JSON between systems is UTF-8.  Bytes we accept are
	 * copied into our own answers (referrers), which must stay valid. */
	if (!oci_utf8_valid(body, len))
		return oci_fail(err, errcap, "body is not valid UTF-8");
	if ((root = cJSON_ParseWithLength(body, len)) == NULL)
		return oci_fail(err, errcap, "body is not valid JSON");
	if (!cJSON_IsObject(root)) {
		rc = oci_fail(err, errcap, "manifest is not a JSON object");
		goto out;
	}
	sv = cJSON_GetObjectItemCaseSensitive(root, "schemaVersion");
	mt = oci_string(root, "mediaType");
	if ((cJSON_IsNumber(sv) && sv->valuedouble == 1) ||
	    (content_type != NULL && strstr(content_type, "docker.distribution.manifest.v1") != NULL)) {
		rc = oci_fail(err, errcap, "Docker schema 1 manifests are not supported; "
		    "push with schema 2 or OCI (e.g. skopeo copy --format oci)");
		goto out;
	}
	if (!cJSON_IsNumber(sv) || sv->valuedouble != 2) {
		rc = oci_fail(err, errcap, "schemaVersion must be 2");
		goto out;
	}
	config = cJSON_GetObjectItemCaseSensitive(root, "config");
	layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	manifests = cJSON_GetObjectItemCaseSensitive(root, "manifests");
	/* Which document is it: the body's mediaType, else Content-Type, else
	 * its shape.  Where both are given they must agree. */
	if (mt != NULL && content_type != NULL && oci_mt_len(content_type) > 0 &&
	    !oci_mt_eq(content_type, "application/json") && !oci_mt_eq(content_type, mt)) {
		rc = oci_fail(err, errcap, "Content-Type '%.100s' does not match mediaType '%.100s'",
		    content_type, mt);
		goto out;
	}
	if (mt == NULL && content_type != NULL && oci_mt_len(content_type) > 0 &&
	    !oci_mt_eq(content_type, "application/json"))
		mt = content_type;
	if (mt == NULL)
		mt = manifests != NULL ? OCI_MT_INDEX : OCI_MT_MANIFEST;
	if (oci_mt_eq(mt, OCI_MT_MANIFEST) || oci_mt_eq(mt, OCI_MT_DOCKER_MANIFEST)) {
		out->kind = OCI_KIND_MANIFEST;
	} else if (oci_mt_eq(mt, OCI_MT_INDEX) || oci_mt_eq(mt, OCI_MT_DOCKER_LIST)) {
		out->kind = OCI_KIND_INDEX;
	} else {
		rc = oci_fail(err, errcap, "unsupported manifest media type '%.200s'", mt);
		goto out;
	}
	if (oci_mt_len(mt) >= sizeof(out->media_type)) {
		rc = oci_fail(err, errcap, "mediaType longer than %zu characters", sizeof(out->media_type) - 1);
		goto out;
	}
	oci_copy(out->media_type, sizeof(out->media_type), mt, oci_mt_len(mt));
	if (out->kind == OCI_KIND_MANIFEST) {
		if (!cJSON_IsObject(config)) {
			rc = oci_fail(err, errcap, "manifest has no config descriptor");
			goto out;
		}
		if (!cJSON_IsArray(layers)) {
			rc = oci_fail(err, errcap, "manifest has no layers array");
			goto out;
		}
		cap = 2 + (size_t)cJSON_GetArraySize(layers);
	} else {
		if (!cJSON_IsArray(manifests)) {
			rc = oci_fail(err, errcap, "index has no manifests array");
			goto out;
		}
		cap = (size_t)cJSON_GetArraySize(manifests);
	}
	if ((out->refs = calloc(cap ? cap : 1, sizeof(*out->refs))) == NULL) {
		rc = -ERR_INTERNAL;
		goto out;
	}
	if (out->kind == OCI_KIND_MANIFEST) {
		struct oci_ref r = {0};
		int i = 0;

		if ((rc = oci_descriptor(config, "config", &r, err, errcap)) != 0)
			goto out;
		r.foreign = 0;
		oci_add_ref(out, &r, cap);
		cJSON_ArrayForEach(item, layers) {
			char where[32];

			snprintf(where, sizeof(where), "layers[%d]", i++);
			memset(&r, 0, sizeof(r));
			if ((rc = oci_descriptor(item, where, &r, err, errcap)) != 0)
				goto out;
			oci_add_ref(out, &r, cap);
		}
		at = oci_string(root, "artifactType");
		if (at == NULL)
			at = oci_string(config, "mediaType");
	} else {
		int i = 0;

		cJSON_ArrayForEach(item, manifests) {
			struct oci_ref r = {0};
			char where[32];

			snprintf(where, sizeof(where), "manifests[%d]", i++);
			if ((rc = oci_descriptor(item, where, &r, err, errcap)) != 0)
				goto out;
			r.is_manifest = 1;
			r.foreign = 0;
			oci_add_ref(out, &r, cap);
		}
		at = oci_string(root, "artifactType");
	}
	if (at != NULL) {
		/* RFC 6838 caps type and subtype at 127 characters each; a
		 * longer value would be cut, and then never match a filter. */
		if (strlen(at) >= sizeof(out->artifact_type)) {
			rc = oci_fail(err, errcap, "artifactType longer than %zu characters",
			    sizeof(out->artifact_type) - 1);
			goto out;
		}
		oci_copy(out->artifact_type, sizeof(out->artifact_type), at, strlen(at));
	}
	subject = cJSON_GetObjectItemCaseSensitive(root, "subject");
	if (subject != NULL) {
		struct oci_ref r = {0};

		if ((rc = oci_descriptor(subject, "subject", &r, err, errcap)) != 0)
			goto out;
		out->has_subject = 1;
		out->subject = r.digest;
	}
out:
	cJSON_Delete(root);
	if (rc != 0)
		oci_manifest_free(out);
	return rc;
}

void
oci_manifest_free(struct oci_manifest *m)
{
	free(m->refs);
	m->refs = NULL;
	m->nrefs = 0;
}

struct oci_doc *
oci_list_new(const char *name, const char *key)
{
	struct oci_doc *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if ((d->root = cJSON_CreateObject()) == NULL ||
	    (name != NULL && cJSON_AddStringToObject(d->root, "name", name) == NULL) ||
	    (d->array = cJSON_AddArrayToObject(d->root, key)) == NULL) {
		oci_doc_free(d);
		return NULL;
	}
	return d;
}

int
oci_list_add(struct oci_doc *d, const char *item)
{
	cJSON *s = cJSON_CreateString(item);

	if (s == NULL || !cJSON_AddItemToArray(d->array, s)) {
		cJSON_Delete(s);
		return -1;
	}
	return 0;
}

struct oci_doc *
oci_referrers_new(void)
{
	struct oci_doc *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if ((d->root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(d->root, "schemaVersion", 2) == NULL ||
	    cJSON_AddStringToObject(d->root, "mediaType", OCI_MT_INDEX) == NULL ||
	    (d->array = cJSON_AddArrayToObject(d->root, "manifests")) == NULL) {
		oci_doc_free(d);
		return NULL;
	}
	return d;
}

int
oci_referrers_add(struct oci_doc *d, const char *digest, uint64_t size,
    const char *media_type, const char *artifact_type, const char *body, size_t len)
{
	cJSON *desc, *parsed, *ann;

	if ((desc = cJSON_CreateObject()) == NULL)
		return -1;
	cJSON_AddStringToObject(desc, "mediaType", media_type);
	cJSON_AddStringToObject(desc, "digest", digest);
	cJSON_AddNumberToObject(desc, "size", (double)size);
	if (artifact_type != NULL && artifact_type[0] != '\0')
		cJSON_AddStringToObject(desc, "artifactType", artifact_type);
	if (body != NULL && (parsed = cJSON_ParseWithLength(body, len)) != NULL) {
		ann = cJSON_GetObjectItemCaseSensitive(parsed, "annotations");
		if (cJSON_IsObject(ann)) {
			cJSON_DetachItemViaPointer(parsed, ann);
			cJSON_AddItemToObject(desc, "annotations", ann);
		}
		cJSON_Delete(parsed);
	}
	if (!cJSON_AddItemToArray(d->array, desc)) {
		cJSON_Delete(desc);
		return -1;
	}
	return 0;
}

char *
oci_doc_render(struct oci_doc *d)
{
	char *s = cJSON_PrintUnformatted(d->root);

	oci_doc_free(d);
	return s;
}

void
oci_doc_free(struct oci_doc *d)
{
	if (d == NULL)
		return;
	cJSON_Delete(d->root);
	free(d);
}

/* ---- upstream documents (the pull-through cache, proxy.c) ---- */

int
oci_token_parse(const char *body, size_t len, char *token, size_t cap, long long *expires_in)
{
	const cJSON *ex;
	const char *t;
	cJSON *root;
	int rc = -1;

	if ((root = cJSON_ParseWithLength(body, len)) == NULL)
		return -1;
	/* Docker's "token", or OAuth2's "access_token" (both may be set). */
	if ((t = oci_string(root, "token")) == NULL || t[0] == '\0')
		t = oci_string(root, "access_token");
	if (t != NULL && t[0] != '\0' && strlen(t) < cap) {
		memcpy(token, t, strlen(t) + 1);
		ex = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
		*expires_in = cJSON_IsNumber(ex) && ex->valuedouble >= 1 &&
		    ex->valuedouble < 1e9 ? (long long)ex->valuedouble : 60;
		rc = 0;
	}
	cJSON_Delete(root);
	return rc;
}

int
oci_list_parse(const char *body, size_t len, const char *key,
    int (*fn)(void *arg, const char *item), void *arg)
{
	const cJSON *arr, *item;
	cJSON *root;
	int rc = 0;

	if ((root = cJSON_ParseWithLength(body, len)) == NULL)
		return -1;
	arr = cJSON_GetObjectItemCaseSensitive(root, key);
	if (cJSON_IsArray(arr)) {
		cJSON_ArrayForEach(item, arr) {
			if (cJSON_IsString(item) && (rc = fn(arg, item->valuestring)) != 0)
				break;
		}
	} else if (!cJSON_IsNull(arr) && arr != NULL) {
		rc = -1;
	}
	cJSON_Delete(root);
	return rc;
}

int
oci_referrers_merge(struct oci_doc *d, const char *body, size_t len, const char *artifact_type)
{
	const cJSON *arr, *item, *have;
	cJSON *root;
	int rc = 0;

	if ((root = cJSON_ParseWithLength(body, len)) == NULL)
		return -1;
	arr = cJSON_GetObjectItemCaseSensitive(root, "manifests");
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(root);
		return -1;
	}
	cJSON_ArrayForEach(item, arr) {
		const char *dg = oci_string(item, "digest"), *at = oci_string(item, "artifactType");
		struct digest parsed;
		int dup = 0;
		cJSON *copy;

		if (dg == NULL || digest_parse(dg, &parsed) != 0 || oci_string(item, "mediaType") == NULL)
			continue;
		/* The upstream may ignore the filter (no OCI-Filters-Applied). */
		if (artifact_type != NULL && (at == NULL || strcmp(at, artifact_type) != 0))
			continue;
		cJSON_ArrayForEach(have, d->array) {
			const char *hd = oci_string(have, "digest");

			if (hd != NULL && strcmp(hd, dg) == 0)
				dup = 1;
		}
		if (dup)
			continue;
		if ((copy = cJSON_Duplicate(item, 1)) == NULL || !cJSON_AddItemToArray(d->array, copy)) {
			cJSON_Delete(copy);
			rc = -1;
			break;
		}
	}
	cJSON_Delete(root);
	return rc;
}
