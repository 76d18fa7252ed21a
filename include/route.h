/* route.h — splitting /v2/ paths into {route kind, name, reference}.
 *
 * Names contain slashes, so a path is split from the right: the last one or
 * two components name the kind (blobs/<digest>, manifests/<ref>,
 * blobs/uploads/[<id>], tags/list, referrers/<digest>) and everything before
 * them is the repository name.  A leaf module (digest and reference
 * grammars only). */
#ifndef OCIREGD_ROUTE_H
#define OCIREGD_ROUTE_H

#include <stddef.h>

#include "digest.h"
#include "reference.h"

enum route_kind {
	ROUTE_NONE = 0,
	ROUTE_BASE,		/* /v2/ */
	ROUTE_CATALOG,		/* /v2/_catalog */
	ROUTE_BLOB,		/* /v2/<name>/blobs/<digest> */
	ROUTE_UPLOAD_START,	/* /v2/<name>/blobs/uploads/ */
	ROUTE_UPLOAD,		/* /v2/<name>/blobs/uploads/<id> */
	ROUTE_MANIFEST,		/* /v2/<name>/manifests/<tag|digest> */
	ROUTE_TAGS,		/* /v2/<name>/tags/list */
	ROUTE_REFERRERS,	/* /v2/<name>/referrers/<digest> */
	ROUTE_COUNT
};

#define ROUTE_PATH_MAX 1024

struct route_match {
	enum route_kind kind;
	/* The repository the request is served from or written to.  After
	 * route_split it is the name in the URL; the router's resolve gate
	 * replaces it with the repository a [proxy] section maps the request
	 * to (<prefix>/<name> for ?ns=) before anything is authorized, so
	 * the name authorized is the name served. */
	char name[REFERENCE_NAME_MAX + 1];
	/* The name as the client wrote it in the URL: token scopes (clients
	 * ask /token for it), challenges, and names echoed back in bodies
	 * and Link headers. */
	char url_name[REFERENCE_NAME_MAX + 1];
	/* The reference as given: a digest, tag or upload id ("" if none). */
	char ref[DIGEST_STR_MAX > REFERENCE_TAG_MAX + 1 ? DIGEST_STR_MAX : REFERENCE_TAG_MAX + 1];
	int ref_is_digest;	/* ROUTE_MANIFEST: ref is a digest, not a tag */
	int ref_unknown;	/* GET/HEAD of a manifest reference that is neither */
	struct digest digest;	/* valid when the reference is a digest */
};

/* Split a percent-decoded path (no query string).  Validates the name and
 * the reference against the grammar for the kind.  Returns 0, or
 * -ERR_NOT_FOUND (not a registry path), -ERR_NAME_INVALID,
 * -ERR_DIGEST_INVALID, -ERR_TAG_INVALID, -ERR_BLOB_UPLOAD_UNKNOWN (malformed
 * upload id). */
int route_split(const char *path, struct route_match *m);

/* Route name for logs and metrics ("blob", "manifest", ...). */
const char *route_kind_name(enum route_kind kind);

#endif
