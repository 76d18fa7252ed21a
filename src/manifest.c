/* SPDX-License-Identifier: ISC
 * manifest.c — the manifest plane (distribution-spec end-3, end-7, end-9):
 * push, pull and delete manifests by tag or digest.
 *
 * A manifest is stored byte for byte as a content-addressed blob; its row
 * (media type, artifact type, subject, size) and its references (config and
 * layer blobs, or an index's child manifests) go into the metadata in one
 * transaction together with the tag, so a tag moves atomically and a
 * manifest is visible only once all of it is recorded.
 *
 * From the spec's next version (distribution-spec main, "Pushing
 * manifests"): a push by digest may carry `tag` query parameters, each
 * pointed at the manifest in that same transaction and echoed in one
 * OCI-Tag header; and with [storage] sparse, manifests may list blobs or
 * child manifests the repository does not hold (partial mirrors of
 * multi-platform images), which then answer 404 when fetched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "meta.h"
#include "oci.h"
#include "reference.h"
#include "server.h"
#include "store.h"
#include "uri.h"
#include "worker.h"

/* Tags one push may set through `tag` query parameters.  The spec asks for
 * at least 10 and allows 414 past the registry's limit; 32 tags of the
 * longest form (128 characters) still fit the server's 8 KiB target. */
#define MANIFEST_TAGS_MAX 32
/* A header line we emit holds at most this much of the OCI-Tag list (the
 * server's cap on one header value is 2 KiB); past it the list goes on in
 * another OCI-Tag line, which RFC 9110 (5.3) makes the same field. */
#define MANIFEST_OCI_TAG_LINE 1900

struct manifest_tags {
	size_t n;
	const char *name[MANIFEST_TAGS_MAX];
};

/* Collect every `tag` parameter of the raw query string, percent-decoded,
 * into the request's arena, dropping repeats (a tag set twice is set once).
 * Nothing is read past a bound: a parameter longer than a tag can be is
 * refused before it is decoded.  0, -ERR_URI_TOO_LONG past
 * MANIFEST_TAGS_MAX parameters (counted before repeats are dropped, so a
 * client cannot make us scan an unbounded list), or -ERR_TAG_INVALID with
 * the offending value (or a note) in bad. */
static int
manifest_tag_params(struct request *req, struct manifest_tags *out, char *bad, size_t badcap)
{
	const char *p = req->query;
	size_t seen = 0;

	out->n = 0;
	bad[0] = '\0';
	while (p != NULL && *p != '\0') {
		const char *amp = strchr(p, '&');
		size_t plen = amp != NULL ? (size_t)(amp - p) : strlen(p);
		char val[REFERENCE_TAG_MAX + 1];
		const char *v;
		size_t vlen;
		int dup = 0;

		if (plen >= 3 && strncmp(p, "tag", 3) == 0 && (plen == 3 || p[3] == '=')) {
			if (++seen > MANIFEST_TAGS_MAX)
				return -ERR_URI_TOO_LONG;
			v = plen > 3 ? p + 4 : p + 3;
			vlen = plen > 3 ? plen - 4 : 0;
			/* Three bytes an escape at most: anything longer
			 * cannot decode to a tag. */
			if (vlen > 3 * REFERENCE_TAG_MAX ||
			    uri_decode(v, vlen, val, sizeof(val)) != 0 || !reference_tag_valid(val)) {
				snprintf(bad, badcap, "tag parameter '%.*s' is not a valid tag",
				    (int)(vlen < 140 ? vlen : 140), v);
				return -ERR_TAG_INVALID;
			}
			for (size_t i = 0; i < out->n; i++)
				dup |= strcmp(out->name[i], val) == 0;
			if (!dup) {
				if ((out->name[out->n] = arena_strdup(req->arena, val)) == NULL)
					return -ERR_INTERNAL;
				out->n++;
			}
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* OCI-Tag: every tag the push set, as one comma-separated list (RFC 9110
 * list syntax), split over several lines only past the server's cap. */
static void
manifest_oci_tag(struct request *req, const struct manifest_tags *t)
{
	char line[MANIFEST_OCI_TAG_LINE + REFERENCE_TAG_MAX + 3];
	size_t len = 0;

	for (size_t i = 0; i < t->n; i++) {
		size_t n = strlen(t->name[i]);

		if (len > 0 && len + 2 + n > MANIFEST_OCI_TAG_LINE) {
			req_add_header(req, "OCI-Tag", "%s", line);
			len = 0;
		}
		if (len > 0) {
			memcpy(line + len, ", ", 2);
			len += 2;
		}
		memcpy(line + len, t->name[i], n);
		len += n;
		line[len] = '\0';
	}
	if (len > 0)
		req_add_header(req, "OCI-Tag", "%s", line);
}

/* Resolve the route's reference (tag or digest) to a manifest row. */
static int
manifest_resolve(struct request *req, struct meta_manifest *mf)
{
	if (req->m.ref_is_digest)
		return meta_manifest_get(req->w->meta, req->m.name, req->m.digest.str, mf);
	return meta_tag_get(req->w->meta, req->m.name, req->m.ref, mf);
}

/* A manifest GET waiting on the store's answer (an object store's GET,
 * a transfer of the worker's loop: the loop serves other connections
 * meanwhile). */
struct manifest_fetch {
	struct request *req;
	struct meta_manifest mf;
};

static void
manifest_fetched(void *arg, int rc, char *buf, size_t len)
{
	struct manifest_fetch *f = arg;
	struct request *req = f->req;

	if (rc == 0) {
		cache_put(req->w->manifests, f->mf.digest, buf, len);
		req_respond(req, 200, f->mf.media_type, buf, len);
	} else {
		req_error(req, rc == -ERR_BLOB_UNKNOWN ? ERR_MANIFEST_UNKNOWN : (enum reg_error)-rc,
		    f->mf.digest);
	}
	free(buf);
}

void
manifest_get(struct request *req)
{
	struct manifest_fetch *f;
	struct meta_manifest mf;
	struct digest d;
	const char *data;
	char *buf;
	size_t len;
	uint64_t size;
	struct store_reader r = {.fd = -1};
	int rc;

	if ((rc = manifest_resolve(req, &mf)) != 0) {
		req_error(req, (enum reg_error)-rc, req->m.ref);
		return;
	}
	req_add_header(req, "Docker-Content-Digest", "%s", mf.digest);
	req_add_header(req, "Etag", "\"%s\"", mf.digest);
	/* Manifests are immutable: serve from this worker's cache, fill it
	 * on a miss.  HEAD needs only the row. */
	if (cache_get(req->w->manifests, mf.digest, &data, &len)) {
		__atomic_add_fetch(&req->w->metrics->manifest_cache_hits, 1, __ATOMIC_RELAXED);
		req_respond(req, 200, mf.media_type, data, len);
		return;
	}
	__atomic_add_fetch(&req->w->metrics->manifest_cache_misses, 1, __ATOMIC_RELAXED);
	if (digest_parse(mf.digest, &d) != 0) {
		req_error(req, ERR_INTERNAL, "stored manifest digest is malformed");
		return;
	}
	if (req->method == METHOD_GET && mf.size <= (uint64_t)req->cfg->max_manifest_size) {
		if ((f = arena_alloc(req->arena, sizeof(*f))) == NULL) {
			req_error(req, ERR_INTERNAL, NULL);
			return;
		}
		f->req = req;
		f->mf = mf;
		rc = store_blob_read_start(req->w->store, req->w->base, &d, (size_t)mf.size, &buf,
		    &len, manifest_fetched, f);
		if (rc == STORE_PENDING) {
			req_defer(req);
			return;
		}
		if (rc == 0) {
			manifest_fetched(f, 0, buf, len);
			return;
		}
		/* Not read whole: through a reader below, which says why. */
	}
	/* HEAD: the size is enough, the file is not opened (nor, on an
	 * object store, asked about: the row has the size). */
	if (req->method == METHOD_HEAD && !store_stat_cheap(req->w->store)) {
		req_respond(req, 200, mf.media_type, NULL, mf.size);
		return;
	}
	rc = req->method == METHOD_HEAD ? store_blob_stat(req->w->store, &d, &size) :
	    store_blob_reader(req->w->store, &d, &r);
	if (rc != 0) {
		req_error(req, rc == -ERR_BLOB_UNKNOWN ? ERR_MANIFEST_UNKNOWN : (enum reg_error)-rc,
		    mf.digest);
		return;
	}
	if (req->method == METHOD_HEAD) {
		req_respond(req, 200, mf.media_type, NULL, size);
		return;
	}
	blob_send(req, 200, mf.media_type, &r, 0, r.size);
}

int
manifest_rows(const struct oci_manifest *om, const char *digest, size_t len, int skip_check,
    struct meta_manifest *mf, struct meta_ref **refs)
{
	if ((*refs = calloc(om->nrefs ? om->nrefs : 1, sizeof(**refs))) == NULL)
		return -ERR_INTERNAL;
	for (size_t i = 0; i < om->nrefs; i++) {
		(*refs)[i].digest = om->refs[i].digest.str;
		(*refs)[i].is_manifest = om->refs[i].is_manifest;
		(*refs)[i].skip_check = skip_check;
	}
	memset(mf, 0, sizeof(*mf));
	snprintf(mf->digest, sizeof(mf->digest), "%s", digest);
	snprintf(mf->media_type, sizeof(mf->media_type), "%s", om->media_type);
	snprintf(mf->artifact_type, sizeof(mf->artifact_type), "%s", om->artifact_type);
	if (om->has_subject)
		snprintf(mf->subject, sizeof(mf->subject), "%s", om->subject.str);
	mf->size = len;
	return 0;
}

/* What a manifest push stores once it is judged: made on the loop, stored
 * on the worker's writer (manifest_store_work), answered on the loop. */
struct manifest_job {
	struct request *req;
	struct meta *m;			/* the writer's connection, or the loop's */
	struct oci_manifest om;
	struct meta_manifest mf;
	struct meta_ref *refs;
	struct digest got;
	const char *tag;
	const char *const *tags;
	size_t ntags;
	int rc;
};

/* Bytes first, then the rows that point at them, then the bytes again
 * (see store_blob_put).  Off the loop: the file's fsync and the commit's
 * can each take long while a collection keeps the disk busy. */
static void
manifest_store_work(void *arg)
{
	struct manifest_job *j = arg;
	struct request *req = j->req;
	const char *body = req->body ? req->body : "";

	if ((j->rc = store_blob_put(req->w->store, &j->got, body, req->body_len)) != 0)
		return;
	if ((j->rc = meta_manifest_put_tags(j->m, req->m.name, &j->mf, j->refs, j->om.nrefs,
	    j->tags, j->ntags)) != 0)
		return;
	j->rc = store_blob_put(req->w->store, &j->got, body, req->body_len);
}

static void
manifest_store_done(void *arg)
{
	struct manifest_job *j = arg;
	struct request *req = j->req;

	if (j->rc == -ERR_MANIFEST_BLOB_UNKNOWN) {
		req_error(req, ERR_MANIFEST_BLOB_UNKNOWN, "a referenced blob was removed meanwhile");
	} else if (j->rc != 0) {
		req_error(req, (enum reg_error)-j->rc, NULL);
	} else {
		req_add_header(req, "Location", "/v2/%s/manifests/%s", req->m.name, j->got.str);
		req_add_header(req, "Docker-Content-Digest", "%s", j->got.str);
		if (j->om.has_subject)
			req_add_header(req, "OCI-Subject", "%s", j->om.subject.str);
		if (req->m.ref_is_digest)
			manifest_oci_tag(req, req->ctx);
		req_respond(req, 201, NULL, NULL, 0);
	}
	free(j->refs);
	oci_manifest_free(&j->om);
	free(j);
}

static void
manifest_put_done(struct request *req)
{
	struct manifest_job *j;
	struct meta_manifest stored;
	struct manifest_tags *qt = req->ctx;
	char err[512];
	int sparse = req->cfg->sparse;
	int rc;

	if (req->aborted || req->responded)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	j->req = req;
	j->tags = &j->tag;
	if (digest_buffer(req->m.ref_is_digest ? req->m.digest.alg : DIGEST_SHA256,
	    req->body ? req->body : "", req->body_len, &j->got) != 0) {
		req_error(req, ERR_INTERNAL, NULL);
		free(j);
		return;
	}
	if (req->m.ref_is_digest) {
		if (strcmp(j->got.str, req->m.digest.str) != 0) {
			req_error(req, ERR_DIGEST_INVALID, "manifest body does not match the digest in the URL");
			free(j);
			return;
		}
		j->tags = qt->name;
		j->ntags = qt->n;
	} else {
		j->tag = req->m.ref;
		j->ntags = 1;
	}
	if ((rc = oci_manifest_parse(req->body ? req->body : "", req->body_len,
	    req_header(req, "Content-Type"), &j->om, err, sizeof(err))) != 0) {
		req_error(req, (enum reg_error)-rc, err);
		free(j);
		return;
	}
	if ((rc = manifest_rows(&j->om, j->got.str, req->body_len, 0, &j->mf, &j->refs)) != 0)
		goto fail;
	/* Everything a manifest references must already be in this
	 * repository: blobs for an image manifest, manifests for an index.
	 * The subject need not exist (referrers may come first).  With
	 * [storage] sparse, missing references are allowed too: a partial
	 * mirror keeps the index of a multi-platform image (same bytes,
	 * same digest) with only some of its platforms; what is missing
	 * answers 404 to whoever fetches it. */
	for (size_t i = 0; i < j->om.nrefs; i++) {
		const struct oci_ref *r = &j->om.refs[i];
		struct meta_manifest child;
		uint64_t bsize = 0;

		/* Sparse: no re-check under the write lock either; content
		 * that vanishes meanwhile just leaves the manifest sparse. */
		j->refs[i].skip_check = r->foreign || sparse;
		if (r->is_manifest)
			rc = meta_manifest_get(req->w->meta, req->m.name, r->digest.str, &child);
		else if (r->foreign)
			rc = 0;
		else
			rc = meta_blob_get(req->w->meta, req->m.name, r->digest.str, &bsize);
		if (rc == -ERR_MANIFEST_UNKNOWN || rc == -ERR_BLOB_UNKNOWN || rc == -ERR_NAME_UNKNOWN) {
			if (sparse)
				continue;	/* nothing held, so no size to check */
			req_error(req, ERR_MANIFEST_BLOB_UNKNOWN, r->digest.str);
			goto out;
		}
		if (rc != 0)
			goto fail;
		/* The descriptor's size is what a client will trust when it
		 * pulls (it sizes buffers and verifies by it): a descriptor
		 * that lies about content we hold is refused.  Sizes of a
		 * digest never change, so checking before the transaction is
		 * enough. */
		if (!r->foreign && (uint64_t)r->size != (r->is_manifest ? child.size : bsize)) {
			char why[300];

			snprintf(why, sizeof(why), "%s: descriptor size %lld, stored size %llu",
			    r->digest.str, (long long)r->size,
			    (unsigned long long)(r->is_manifest ? child.size : bsize));
			req_error(req, ERR_MANIFEST_INVALID, why);
			goto out;
		}
	}
	/* One digest, one media type: the same bytes under another type
	 * would make GET by digest ambiguous. */
	if (meta_manifest_get(req->w->meta, req->m.name, j->got.str, &stored) == 0 &&
	    strcmp(stored.media_type, j->om.media_type) != 0) {
		char why[600];

		snprintf(why, sizeof(why), "these bytes are stored as %.250s, not %.250s",
		    stored.media_type, j->om.media_type);
		req_error(req, ERR_MANIFEST_INVALID, why);
		goto out;
	}
	handler_write(req, &j->m, manifest_store_work, manifest_store_done, j);
	return;
fail:
	req_error(req, (enum reg_error)-rc, NULL);
out:
	free(j->refs);
	oci_manifest_free(&j->om);
	free(j);
}

void
manifest_put(struct request *req)
{
	struct manifest_tags *qt;
	char bad[200];
	int rc;

	if ((qt = arena_alloc(req->arena, sizeof(*qt))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	/* The tag parameters are judged before the body is read: a refused
	 * push costs no upload and changes nothing. */
	if ((rc = manifest_tag_params(req, qt, bad, sizeof(bad))) != 0) {
		if (rc == -ERR_URI_TOO_LONG)
			snprintf(bad, sizeof(bad), "at most %d tag parameters per push", MANIFEST_TAGS_MAX);
		req_error(req, (enum reg_error)-rc, bad[0] != '\0' ? bad : NULL);
		return;
	}
	/* The spec defines `tag` parameters for a push by digest only; with
	 * a tag in the path the two would compete, and silently dropping
	 * them would let a client believe they were set. */
	if (qt->n > 0 && !req->m.ref_is_digest) {
		req_error(req, ERR_UNSUPPORTED, "tag parameters are only accepted on a push by digest");
		return;
	}
	if (!req->has_length && !req->chunked) {
		req_error(req, ERR_MANIFEST_INVALID, "manifest body required");
		return;
	}
	/* A manifest body is held in memory while it arrives: it counts
	 * against the upload limits, and the slot comes back however the
	 * request ends. */
	if ((rc = upload_slot_take(req)) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	req_on_end(req, upload_slot_put);
	req_read_body(req, (size_t)req->cfg->max_manifest_size, manifest_put_done, qt);
}

/* A manifest (by digest) or a tag removed on the worker's writer. */
struct manifest_unlink {
	struct request *req;
	struct meta *m;
	int rc;
};

static void
manifest_delete_work(void *arg)
{
	struct manifest_unlink *u = arg;
	struct request *req = u->req;

	if (req->m.ref_is_digest)
		u->rc = meta_manifest_delete(u->m, req->m.name, req->m.digest.str);
	else
		u->rc = meta_tag_delete(u->m, req->m.name, req->m.ref);
}

static void
manifest_delete_done(void *arg)
{
	struct manifest_unlink *u = arg;

	if (u->rc != 0) {
		req_error(u->req, (enum reg_error)-u->rc, u->req->m.ref);
		return;
	}
	req_respond(u->req, 202, NULL, NULL, 0);
}

void
manifest_delete(struct request *req)
{
	struct manifest_unlink *u;

	if ((u = arena_alloc(req->arena, sizeof(*u))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	u->req = req;
	handler_write(req, &u->m, manifest_delete_work, manifest_delete_done, u);
}
