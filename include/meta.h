/* meta.h — the metadata store: repositories, which blobs each repository
 * holds, upload sessions, manifests, tags and references.
 *
 * This is the seam for metadata backends: handlers see only these functions
 * and plain C types.  The SQLite backend (meta.c) keeps <root>/meta.db in WAL
 * mode with a schema version and forward migrations.  A struct meta is one
 * connection and belongs to one thread; each worker opens its own.
 * Functions return 0 or a negated reg_error and block on disk I/O. */
#ifndef OCIREGD_META_H
#define OCIREGD_META_H

#include <stddef.h>
#include <stdint.h>

#include "reference.h"

struct meta;

/* Open (creating and migrating) <root>/meta.db.  NULL on failure (logged). */
struct meta *meta_open(const char *root);
void meta_close(struct meta *m);
/* Schema version of the open database. */
int meta_schema_version(struct meta *m);
/* Times this connection waited for a lock (metrics). */
uint64_t meta_busy_retries(struct meta *m);
/* Upload sessions, blobs and blob bytes (metrics, readiness): 0 or error. */
int meta_stats(struct meta *m, uint64_t *uploads, uint64_t *blobs, uint64_t *bytes);

/* Whether the repository exists: 0 or -ERR_NAME_UNKNOWN. */
int meta_repo_exists(struct meta *m, const char *repo);

/* Record that repo holds blob digest (size bytes), creating the repository
 * and the blob row as needed; one transaction. */
int meta_blob_link(struct meta *m, const char *repo, const char *digest, uint64_t size);
/* Size of a blob in a repository: 0 or -ERR_BLOB_UNKNOWN. */
int meta_blob_get(struct meta *m, const char *repo, const char *digest, uint64_t *size);
/* Remove a blob from a repository: 0 or -ERR_BLOB_UNKNOWN. */
int meta_blob_unlink(struct meta *m, const char *repo, const char *digest);
/* Link digest into dst only if src holds it, atomically (a mount):
 * 0, or -ERR_BLOB_UNKNOWN if src does not hold it. */
int meta_blob_mount(struct meta *m, const char *src, const char *dst, const char *digest);
/* Find a repository other than `except` that holds digest (mount without
 * `from`).  Writes its name into out; 0 or -ERR_BLOB_UNKNOWN. */
int meta_blob_find_repo(struct meta *m, const char *digest, const char *except,
    char out[REFERENCE_NAME_MAX + 1]);

/* Upload sessions. */
int meta_upload_create(struct meta *m, const char *id, const char *repo);
/* Repository and current size of an upload: 0 or -ERR_BLOB_UPLOAD_UNKNOWN. */
int meta_upload_get(struct meta *m, const char *id, char repo[REFERENCE_NAME_MAX + 1],
    uint64_t *size);
int meta_upload_set_size(struct meta *m, const char *id, uint64_t size);
int meta_upload_delete(struct meta *m, const char *id);
/* Finish an upload: drop the session and link the blob, in one transaction. */
int meta_upload_finish(struct meta *m, const char *id, const char *repo,
    const char *digest, uint64_t size);

/* ---- manifests, tags, references (the manifest plane) ---- */

struct meta_manifest {
	char digest[140];
	char media_type[256];
	char artifact_type[256];	/* "" if none */
	char subject[140];		/* "" if none */
	uint64_t size;
};

/* A manifest's references, stored with it. */
struct meta_ref {
	const char *digest;
	int is_manifest;		/* index child (1) or blob (0) */
	int skip_check;			/* need not be present (foreign layer) */
};

/* Store a manifest row with its references and, if tag is not NULL, point
 * the tag at it; one transaction, in which every reference (unless
 * skip_check) is checked to be present: -ERR_MANIFEST_BLOB_UNKNOWN if not.
 * The manifest's bytes must already be a blob in the store. */
int meta_manifest_put(struct meta *m, const char *repo, const struct meta_manifest *mf,
    const struct meta_ref *refs, size_t nrefs, const char *tag);
/* Look a manifest up by digest: 0, -ERR_NAME_UNKNOWN or -ERR_MANIFEST_UNKNOWN. */
int meta_manifest_get(struct meta *m, const char *repo, const char *digest,
    struct meta_manifest *out);
/* Resolve a tag to its manifest: 0, -ERR_NAME_UNKNOWN or -ERR_MANIFEST_UNKNOWN. */
int meta_tag_get(struct meta *m, const char *repo, const char *tag, struct meta_manifest *out);
/* Delete a manifest and every tag that points at it. */
int meta_manifest_delete(struct meta *m, const char *repo, const char *digest);
/* Delete one tag. */
int meta_tag_delete(struct meta *m, const char *repo, const char *tag);

/* Called once per listed item; return 0 to count it, 2 to skip it (not
 * counted against n), 1 to stop. */
typedef int (*meta_list_fn)(void *arg, const char *item);
/* Tags of repo after `last` (exclusive, "" = from the start) in lexical
 * order, at most n; *more set if more remain.  -ERR_NAME_UNKNOWN if the
 * repository does not exist. */
int meta_tag_list(struct meta *m, const char *repo, const char *last, long n,
    meta_list_fn fn, void *arg, int *more);
/* Repositories that have manifests, in lexical order, same paging;
 * filtered: the callback may skip rows. */
int meta_repo_list(struct meta *m, const char *last, long n, int filtered, meta_list_fn fn,
    void *arg, int *more);

typedef int (*meta_referrer_fn)(void *arg, const struct meta_manifest *mf);
/* Manifests in repo whose subject is digest, optionally filtered by artifact
 * type (NULL = all), ordered by digest. */
int meta_referrers(struct meta *m, const char *repo, const char *subject,
    const char *artifact_type, meta_referrer_fn fn, void *arg);

#endif
