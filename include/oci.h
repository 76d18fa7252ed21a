/* oci.h — the OCI JSON module: parsing and validating image manifests and
 * indexes (OCI image-spec manifest.md / image-index.md, and Docker's schema 2
 * manifest and manifest list), and rendering the JSON documents the API
 * returns (tag lists, catalog, referrers index).  The only user of cJSON. */
#ifndef OCIREGD_OCI_H
#define OCIREGD_OCI_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_MAX 256

enum oci_kind { OCI_KIND_MANIFEST = 0, OCI_KIND_INDEX = 1 };

/* A content reference of a manifest: a blob (config, layer) or, for an
 * index, a child manifest. */
struct oci_ref {
	struct digest digest;
	int64_t size;
	int is_manifest;
	int foreign;		/* non-distributable layer: need not be here */
};

struct oci_manifest {
	enum oci_kind kind;
	char media_type[OCI_MT_MAX];	/* effective media type */
	char artifact_type[OCI_MT_MAX];	/* artifactType, else config mediaType, else "" */
	int has_subject;
	struct digest subject;
	struct oci_ref *refs;		/* malloc'd, nrefs entries */
	size_t nrefs;
};

/* 1 if s[0..len) is strict UTF-8 (no overlong forms, no surrogates, nothing
 * past U+10FFFF: what PostgreSQL accepts as UTF-8 text), else 0. */
int oci_utf8_valid(const char *s, size_t len);

/* Parse and validate a manifest body.  content_type is the request's
 * Content-Type (NULL if none).  Returns 0, or -ERR_MANIFEST_INVALID /
 * -ERR_DIGEST_INVALID with a reason in err.  On success the caller frees
 * with oci_manifest_free. */
int oci_manifest_parse(const char *body, size_t len, const char *content_type,
    struct oci_manifest *out, char *err, size_t errcap);
void oci_manifest_free(struct oci_manifest *m);

/* A JSON document under construction. */
struct oci_doc;

/* {"name": name, "<key>": [...]} (name omitted when NULL). */
struct oci_doc *oci_list_new(const char *name, const char *key);
int oci_list_add(struct oci_doc *d, const char *item);

/* The referrers response: an image index of descriptors. */
struct oci_doc *oci_referrers_new(void);
/* Add the descriptor of manifest `body` (digest, size, media type, artifact
 * type given; annotations copied from the body). */
int oci_referrers_add(struct oci_doc *d, const char *digest, uint64_t size,
    const char *media_type, const char *artifact_type, const char *body, size_t len);

/* Render and free the document; the string is malloc'd (caller frees);
 * NULL on allocation failure. */
char *oci_doc_render(struct oci_doc *d);
void oci_doc_free(struct oci_doc *d);

/* Upstream documents (the pull-through cache).  A token endpoint's answer:
 * "token" (or "access_token") copied into token (cap bytes), expires_in in
 * seconds (60 when absent).  0, or -1 if malformed or too long. */
int oci_token_parse(const char *body, size_t len, char *token, size_t cap, long long *expires_in);
/* Call fn for each string of the array `key` of a JSON object (a tags
 * list: key "tags"; null or absent is an empty list).  Returns fn's first
 * non-zero result, 0, or -1 if malformed. */
int oci_list_parse(const char *body, size_t len, const char *key,
    int (*fn)(void *arg, const char *item), void *arg);
/* Add to a referrers document the descriptors of an upstream referrers
 * index that it does not hold yet (by digest), keeping only those of
 * artifact_type if not NULL.  0 or -1. */
int oci_referrers_merge(struct oci_doc *d, const char *body, size_t len, const char *artifact_type);

#endif
