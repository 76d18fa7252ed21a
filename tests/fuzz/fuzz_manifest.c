/* SPDX-License-Identifier: ISC
 * fuzz_manifest.c — manifest and index validation and the JSON documents the
 * API renders (oci.c).
 *
 * Input layout: the first line (up to the first '\n') is the request's
 * Content-Type (an empty line: no Content-Type), the rest is the body.  If
 * the input has no '\n', all of it is the body and there is no Content-Type.
 *
 * oci_manifest_parse properties:
 *   - it returns 0, -ERR_MANIFEST_INVALID or -ERR_DIGEST_INVALID; a failure
 *     leaves a NUL-terminated reason in err and nothing allocated in out;
 *     the same input gives the same verdict and, on success, the same refs;
 *   - on success the body is a JSON object with schemaVersion 2; kind and
 *     media type agree (media_type is one of the four types, compared
 *     without case, and kind is MANIFEST exactly for the two manifest types);
 *     media_type is the body's mediaType without parameters when the body
 *     has one, else the Content-Type's when that is set and not
 *     application/json, else what the shape says (a manifests array: index);
 *     when both are set and the Content-Type is not application/json they
 *     name the same type;
 *   - refs are what the document lists, in order: a manifest's config and
 *     then its layers (never is_manifest; only layers may be foreign), an
 *     index's manifests (all is_manifest, none foreign); each ref's digest
 *     parses back to itself and equals the descriptor's digest string, its
 *     size equals the descriptor's size, in 0..9e15; the subject likewise;
 *   - nrefs is bounded by the input: every descriptor takes at least
 *     MIN_DESC_BYTES bytes of body (its digest alone is 71 characters);
 *   - artifact_type is the body's artifactType (for a manifest: else the
 *     config's mediaType), exactly: a registry must not answer a referrers
 *     query with a type the manifest does not carry.  (Found here: types of
 *     256 bytes or more used to be cut to 255, even inside a UTF-8
 *     sequence; now refused.  Regression seeds: corpus/fuzz_manifest/
 *     artifacttype-*.)
 *
 * Rendering properties (the documents read back with cJSON):
 *   - oci_list_new/oci_list_add with the Content-Type line as "name" and the
 *     body's lines as items (tag lists, the catalog) renders to an object
 *     with exactly that name and that array, item for item, byte for byte;
 *   - oci_referrers_new/oci_referrers_add renders an image index whose
 *     descriptors carry the given digest, size, media type, artifact type
 *     (only when non-empty) and the body's "annotations" object (only when
 *     the body parses and has one), member for member the body's when its
 *     values are all strings, as image-spec requires (other values are
 *     copied too but need not survive a print/parse: 1e999 prints as null);
 *   - when every string given is valid UTF-8 the rendered document is valid
 *     UTF-8 and has no raw control characters (RFC 8259).
 */
#include <cjson/cJSON.h>

#include "digest.h"
#include "errors.h"
#include "fuzz.h"
#include "oci.h"

/* "digest":"sha256:" + 64 hex + '"' alone is 82 bytes; with a mediaType
 * and a size a descriptor is over 100.  80 leaves room. */
#define MIN_DESC_BYTES 80
#define MAX_LIST_ITEMS 64

/* Strict UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		unsigned cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

static int
str_utf8(const char *s)
{
	return s == NULL || utf8_valid((const unsigned char *)s, strlen(s));
}

/* A rendered JSON text: valid UTF-8, no raw control characters. */
static void
check_json_text(const char *s)
{
	FUZZ_CHECK(utf8_valid((const unsigned char *)s, strlen(s)));
	for (const char *p = s; *p != '\0'; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20);
}

/* The media type without parameters, as oci.c's comparison sees it. */
static size_t
mt_base_len(const char *s)
{
	size_t n = strcspn(s, ";");

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return n;
}

static int
mt_is(const char *s, const char *type)
{
	size_t n = mt_base_len(s);

	return n == strlen(type) && strncasecmp(s, type, n) == 0;
}

static int
mt_base_eq(const char *a, const char *b)
{
	size_t n = mt_base_len(a);

	return n == strlen(b) && strncmp(a, b, n) == 0;
}

static const char *
json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Objects equal member by member in order (duplicate keys included, which
 * cJSON_Compare's lookups by name would mix up). */
static int
json_same(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
		for (x = a->child, y = b->child; x != NULL && y != NULL; x = x->next, y = y->next)
			if (strcmp(x->string, y->string) != 0 || !json_same(x, y))
				return 0;
		return x == NULL && y == NULL;
	}
	return cJSON_Compare(a, b, 1);
}

/* Every member's value is a string (what image-spec annotations are). */
static int
all_strings(const cJSON *obj)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, obj)
		if (!cJSON_IsString(x))
			return 0;
	return 1;
}

static void
check_ref(const struct oci_ref *r, const cJSON *desc)
{
	struct digest back;
	const char *dg = json_str(desc, "digest");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(desc, "size");

	FUZZ_CHECK(memchr(r->digest.str, '\0', sizeof(r->digest.str)) != NULL);
	FUZZ_CHECK(digest_parse(r->digest.str, &back) == 0);
	FUZZ_CHECK(back.alg == r->digest.alg && strcmp(back.str, r->digest.str) == 0);
	FUZZ_CHECK(strlen(r->digest.str) == (r->digest.alg == DIGEST_SHA256 ? 71u : 135u));
	FUZZ_CHECK(strncmp(r->digest.str, r->digest.alg == DIGEST_SHA256 ? "sha256:" : "sha512:", 7) == 0);
	FUZZ_CHECK(dg != NULL && strcmp(dg, r->digest.str) == 0);
	FUZZ_CHECK(r->size >= 0 && r->size <= 9000000000000000LL);
	FUZZ_CHECK(cJSON_IsNumber(size) && size->valuedouble == (double)r->size);
	FUZZ_CHECK(r->is_manifest == 0 || r->is_manifest == 1);
	FUZZ_CHECK(r->foreign == 0 || r->foreign == 1);
}

static void
check_success(const char *body, size_t len, const char *ct, const struct oci_manifest *m)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *sv, *arr, *item, *config, *subject;
	const char *bmt, *at;
	size_t i;

	FUZZ_CHECK(root != NULL && cJSON_IsObject(root));
	sv = cJSON_GetObjectItemCaseSensitive(root, "schemaVersion");
	FUZZ_CHECK(cJSON_IsNumber(sv) && sv->valuedouble == 2);

	/* Kind and media type. */
	FUZZ_CHECK(memchr(m->media_type, '\0', sizeof(m->media_type)) != NULL);
	FUZZ_CHECK(memchr(m->artifact_type, '\0', sizeof(m->artifact_type)) != NULL);
	if (m->kind == OCI_KIND_MANIFEST)
		FUZZ_CHECK(strcasecmp(m->media_type, OCI_MT_MANIFEST) == 0 ||
		    strcasecmp(m->media_type, OCI_MT_DOCKER_MANIFEST) == 0);
	else
		FUZZ_CHECK(m->kind == OCI_KIND_INDEX && (strcasecmp(m->media_type, OCI_MT_INDEX) == 0 ||
		    strcasecmp(m->media_type, OCI_MT_DOCKER_LIST) == 0));
	bmt = json_str(root, "mediaType");
	if (bmt != NULL) {
		FUZZ_CHECK(mt_base_eq(bmt, m->media_type));
		if (ct != NULL && mt_base_len(ct) > 0 && !mt_is(ct, "application/json"))
			FUZZ_CHECK(mt_is(ct, bmt) && mt_is(ct, m->media_type));
	} else if (ct != NULL && mt_base_len(ct) > 0 && !mt_is(ct, "application/json")) {
		FUZZ_CHECK(mt_base_eq(ct, m->media_type));
	} else {
		FUZZ_CHECK(m->kind == (cJSON_GetObjectItemCaseSensitive(root, "manifests") != NULL ?
		    OCI_KIND_INDEX : OCI_KIND_MANIFEST));
	}

	/* References, in document order. */
	FUZZ_CHECK(m->nrefs * MIN_DESC_BYTES <= len);
	FUZZ_CHECK(m->nrefs == 0 || m->refs != NULL);
	if (m->kind == OCI_KIND_MANIFEST) {
		config = cJSON_GetObjectItemCaseSensitive(root, "config");
		arr = cJSON_GetObjectItemCaseSensitive(root, "layers");
		FUZZ_CHECK(cJSON_IsObject(config) && cJSON_IsArray(arr));
		FUZZ_CHECK(m->nrefs == 1 + (size_t)cJSON_GetArraySize(arr));
		check_ref(&m->refs[0], config);
		FUZZ_CHECK(!m->refs[0].is_manifest && !m->refs[0].foreign);
		i = 1;
		cJSON_ArrayForEach(item, arr) {
			FUZZ_CHECK(i < m->nrefs);
			check_ref(&m->refs[i], item);
			FUZZ_CHECK(!m->refs[i].is_manifest);
			i++;
		}
		at = json_str(root, "artifactType");
		if (at == NULL)
			at = json_str(config, "mediaType");
	} else {
		arr = cJSON_GetObjectItemCaseSensitive(root, "manifests");
		FUZZ_CHECK(cJSON_IsArray(arr));
		FUZZ_CHECK(m->nrefs == (size_t)cJSON_GetArraySize(arr));
		i = 0;
		cJSON_ArrayForEach(item, arr) {
			FUZZ_CHECK(i < m->nrefs);
			check_ref(&m->refs[i], item);
			FUZZ_CHECK(m->refs[i].is_manifest && !m->refs[i].foreign);
			i++;
		}
		at = json_str(root, "artifactType");
	}
	if (at == NULL)
		FUZZ_CHECK(m->artifact_type[0] == '\0');
	else
		FUZZ_CHECK(strcmp(m->artifact_type, at) == 0);

	subject = cJSON_GetObjectItemCaseSensitive(root, "subject");
	FUZZ_CHECK(m->has_subject == (subject != NULL));
	if (subject != NULL) {
		struct oci_ref r = {0};

		r.digest = m->subject;
		r.size = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(subject, "size"));
		check_ref(&r, subject);
	}
	cJSON_Delete(root);
}

static void
check_parse(const char *body, size_t len, const char *ct)
{
	struct oci_manifest m, again;
	char err[256], err2[256];
	int rc, rc2;

	memset(err, 0x5a, sizeof(err));
	rc = oci_manifest_parse(body, len, ct, &m, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -ERR_MANIFEST_INVALID || rc == -ERR_DIGEST_INVALID);
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc != 0) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(m.refs == NULL && m.nrefs == 0);
	} else {
		check_success(body, len, ct, &m);
	}
	rc2 = oci_manifest_parse(body, len, ct, &again, err2, sizeof(err2));
	FUZZ_CHECK(rc2 == rc);
	if (rc == 0) {
		FUZZ_CHECK(again.kind == m.kind && again.nrefs == m.nrefs &&
		    again.has_subject == m.has_subject);
		FUZZ_CHECK(strcmp(again.media_type, m.media_type) == 0);
		FUZZ_CHECK(strcmp(again.artifact_type, m.artifact_type) == 0);
		for (size_t i = 0; i < m.nrefs; i++)
			FUZZ_CHECK(strcmp(again.refs[i].digest.str, m.refs[i].digest.str) == 0 &&
			    again.refs[i].size == m.refs[i].size &&
			    again.refs[i].is_manifest == m.refs[i].is_manifest &&
			    again.refs[i].foreign == m.refs[i].foreign);
		oci_manifest_free(&again);
		oci_manifest_free(&m);
		FUZZ_CHECK(m.refs == NULL && m.nrefs == 0);
	} else {
		FUZZ_CHECK(strcmp(err, err2) == 0);
	}
}

/* oci_list: name and items come back exactly. */
static void
check_list(const char *name, const char *body, size_t len, int catalog)
{
	const char *key = catalog ? "repositories" : "tags";
	char *items[MAX_LIST_ITEMS], *text;
	size_t n = 0, off = 0;
	int all_utf8 = str_utf8(name);
	struct oci_doc *d = oci_list_new(catalog ? NULL : name, key);
	cJSON *root, *arr, *it;

	FUZZ_CHECK(d != NULL);
	while (off < len && n < MAX_LIST_ITEMS) {
		const char *nl = memchr(body + off, '\n', len - off);
		size_t l = nl != NULL ? (size_t)(nl - (body + off)) : len - off;

		items[n] = fuzz_strndup((const uint8_t *)body + off, l);
		all_utf8 &= str_utf8(items[n]);
		FUZZ_CHECK(oci_list_add(d, items[n]) == 0);
		n++;
		off += l + 1;
	}
	text = oci_doc_render(d);
	FUZZ_CHECK(text != NULL);
	if (all_utf8)
		check_json_text(text);
	root = cJSON_Parse(text);
	FUZZ_CHECK(root != NULL && cJSON_IsObject(root));
	FUZZ_CHECK(cJSON_GetArraySize(root) == (catalog ? 1 : 2));
	if (!catalog) {
		const char *got = json_str(root, "name");

		FUZZ_CHECK(got != NULL && strcmp(got, name) == 0);
	}
	arr = cJSON_GetObjectItemCaseSensitive(root, key);
	FUZZ_CHECK(cJSON_IsArray(arr) && (size_t)cJSON_GetArraySize(arr) == n);
	off = 0;
	cJSON_ArrayForEach(it, arr) {
		FUZZ_CHECK(cJSON_IsString(it) && strcmp(it->valuestring, items[off]) == 0);
		off++;
	}
	cJSON_Delete(root);
	free(text);
	for (size_t i = 0; i < n; i++)
		free(items[i]);
}

/* oci_referrers: one descriptor per add, fields as given. */
static void
check_referrers(const char *body, size_t len, const char *media_type, const char *artifact_type)
{
	struct oci_doc *d = oci_referrers_new();
	struct digest dg;
	cJSON *root, *arr, *desc, *want_ann = NULL, *body_root;
	const cJSON *ann;
	uint64_t sizes[3] = {len, 0, 999999999999999ULL};
	char *text;
	int utf8 = str_utf8(media_type) && str_utf8(artifact_type), i = 0;

	FUZZ_CHECK(d != NULL);
	FUZZ_CHECK(digest_buffer(DIGEST_SHA256, body, len, &dg) == 0);
	body_root = cJSON_ParseWithLength(body, len);
	if (body_root != NULL) {
		ann = cJSON_GetObjectItemCaseSensitive(body_root, "annotations");
		if (cJSON_IsObject(ann))
			want_ann = (cJSON *)ann;
	}
	/* Annotations' strings come from the body: UTF-8 only if it is. */
	if (want_ann != NULL && !utf8_valid((const unsigned char *)body, len))
		utf8 = 0;
	for (int k = 0; k < 3; k++)
		FUZZ_CHECK(oci_referrers_add(d, dg.str, sizes[k], media_type,
		    k == 1 ? NULL : artifact_type, body, len) == 0);
	text = oci_doc_render(d);
	FUZZ_CHECK(text != NULL);
	if (utf8)
		check_json_text(text);
	root = cJSON_Parse(text);
	FUZZ_CHECK(root != NULL && cJSON_IsObject(root));
	FUZZ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(root, "schemaVersion")) == 2);
	FUZZ_CHECK(json_str(root, "mediaType") != NULL && strcmp(json_str(root, "mediaType"), OCI_MT_INDEX) == 0);
	arr = cJSON_GetObjectItemCaseSensitive(root, "manifests");
	FUZZ_CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 3);
	cJSON_ArrayForEach(desc, arr) {
		const char *at = json_str(desc, "artifactType");
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(desc, "size");
		int want_at = i != 1 && artifact_type != NULL && artifact_type[0] != '\0';

		FUZZ_CHECK(cJSON_IsObject(desc));
		FUZZ_CHECK(json_str(desc, "digest") != NULL && strcmp(json_str(desc, "digest"), dg.str) == 0);
		FUZZ_CHECK(json_str(desc, "mediaType") != NULL &&
		    strcmp(json_str(desc, "mediaType"), media_type) == 0);
		FUZZ_CHECK(cJSON_IsNumber(size) && size->valuedouble == (double)sizes[i]);
		FUZZ_CHECK(want_at ? at != NULL && strcmp(at, artifact_type) == 0 : at == NULL);
		ann = cJSON_GetObjectItemCaseSensitive(desc, "annotations");
		if (want_ann == NULL)
			FUZZ_CHECK(ann == NULL);
		else
			FUZZ_CHECK(cJSON_IsObject(ann) &&
			    cJSON_GetArraySize(ann) == cJSON_GetArraySize(want_ann) &&
			    (!all_strings(want_ann) || json_same(ann, want_ann)));
		FUZZ_CHECK(cJSON_GetArraySize(desc) == 3 + want_at + (want_ann != NULL));
		i++;
	}
	/* Sizes below 1e15 render as plain integers (Go clients decode them
	 * into int64, which rejects "1e+15"). */
	FUZZ_CHECK(strstr(text, "\"size\":999999999999999") != NULL);
	cJSON_Delete(root);
	cJSON_Delete(body_root);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *ct = NULL, *body;
	size_t blen;

	if (nl != NULL) {
		ct = fuzz_strndup(data, (size_t)(nl - data));
		blen = size - (size_t)(nl - data) - 1;
		body = fuzz_memdup(nl + 1, blen);
	} else {
		blen = size;
		body = fuzz_memdup(data, size);
	}
	if (ct != NULL && ct[0] == '\0') {
		free(ct);
		ct = NULL;
	}

	check_parse(body, blen, ct);
	/* The same body with the Content-Type a client usually sends. */
	check_parse(body, blen, OCI_MT_MANIFEST);

	check_list(ct != NULL ? ct : "", body, blen, 0);
	check_list(NULL, body, blen, 1);
	{
		struct oci_manifest m;
		char err[128];

		if (oci_manifest_parse(body, blen, ct, &m, err, sizeof(err)) == 0) {
			check_referrers(body, blen, m.media_type, m.artifact_type);
			oci_manifest_free(&m);
		} else {
			check_referrers(body, blen, OCI_MT_MANIFEST,
			    ct != NULL ? ct : "application/vnd.example+json");
		}
	}
	free(ct);
	free(body);
	return 0;
}
