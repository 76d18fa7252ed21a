/* SPDX-License-Identifier: ISC
 * store_s3.c — the S3 blob backend (store_backend.h): blobs as objects in
 * a bucket of an S3-compatible object store, spoken to through s3.c.
 *
 * Keys (a contract: tests and operators look at them):
 *   <prefix>blobs/<alg>/<2 hex>/<hex>      a blob, immutable
 *   <prefix>uploads/<id>/...                an upload session's objects:
 *       data            the multipart upload the parts go to
 *       state-<size>    what resuming at <size> needs: the multipart
 *                       upload's id, its parts' ETags, the hash state
 *       tail-<size>     the bytes after the last part (< 5 MiB)
 *       target          "<blob key>\n<upload id>\n": the multipart upload
 *                       staged at a blob's key (below), while it runs
 *   <prefix>trash/<alg>-<hex>.<random>     garbage collection's trash
 *   <prefix>quarantine/<alg>-<hex>[.N]     fsck --repair's quarantine
 *
 * An upload streams into an S3 multipart upload to uploads/<id>/data:
 * the spool stages up to [s3] part_size bytes in memory (all spools
 * together within a budget: past it a new upload gets 429) and sends a
 * part whenever that is full.  S3 cannot read back the parts of an
 * unfinished multipart upload, so at the end of each PATCH everything a
 * later PATCH (on any node, after any crash) needs is in the bucket: a
 * remainder of at least 5 MiB (S3's minimum part) goes as a part, a smaller
 * one as tail-<size>, and state-<size> names the parts and holds the
 * SHA-256 state (digest.c's hasher_export), so nothing is read again but
 * the tail.  The next spool_open at <size> loads them and continues the
 * part numbering (overwriting parts a crashed attempt left), and removes
 * the previous size's objects.  The commit completes the multipart upload
 * (the tail as its last part; a blob that never filled a part is one PUT)
 * and copies uploads/<id>/data to the blob's key; nothing is visible
 * before the digest was checked (upload.c checks it before the commit).
 * When the digest comes before the bytes (POST ?digest=, a PUT ?digest=
 * of the whole blob: store_spool_target) and no object is at its key when
 * the first part goes, the multipart upload is made at the blob's key
 * itself: the commit only completes it (the copy of every byte, most of a
 * commit's time, is saved), anything else aborts it.  Such a request gets
 * no checkpoint (a cut-off one keeps none of its bytes), and an object
 * already at the key (perhaps one garbage collection is trashing, which
 * upload_settle must be able to put back) takes the copy's way.
 *
 * A request's upload runs on its worker's loop: the spool's parts, the
 * multipart upload's start, the tail and state of a checkpoint and the
 * load of a session's state at open are transfers of that loop's curl
 * multi (s3_call_start, see "the spool" below), and so are blob bodies
 * streamed to clients (store_blob_stream).  Everything else blocks the
 * calling thread (s3_do): the commands (gc, fsck, migrate), the commit
 * and settle (on upload.c's pool threads), and, still on the worker,
 * XXX: blob_stat/blob_put/blob_read of manifests and mounts, an upload's
 * create (state-0) and remove.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "s3.h"
#include "store.h"
#include "store_backend.h"

#define S3S_MIN_PART (5u << 20)		/* S3's smallest part but the last */
#define S3S_MAX_PARTS 10000		/* S3's limit */
#define S3S_COPY_MAX (5ULL << 30)	/* CopyObject's limit; past it: multipart copy */
#define S3S_COPY_PART (1ULL << 30)
#define S3S_READAHEAD (1u << 20)
#define S3S_PROBE_SECONDS 2
#define S3S_HANDOFF_MAX 256
#define S3S_PRESIGN_SECONDS 300

/* The staged state of an upload: parts sent, and its tail in memory. */
struct s3s_upstate {
	uint64_t size;			/* bytes the state covers */
	uint64_t prev;			/* the size of the state this one followed */
	int prev_tail;			/* ... and whether it had a tail */
	uint64_t parts_bytes;		/* bytes in the parts sent */
	char upload_id[256];		/* "" until the first part */
	unsigned nparts;
	char (*etags)[80];		/* of parts 1..nparts */
	unsigned etags_cap;
	unsigned char hash[HASHER_EXPORT_MAX];
	size_t hashlen;
};

/* A finished spool handed from its close to the commit in this process
 * (upload.c: flush, close, verify, commit), so that the commit needs not
 * read the state and tail back. */
struct s3s_handoff {
	char id[64];
	struct s3s_upstate st;
	char *buf;
	size_t len, cap;		/* cap: charged to the memory budget */
	char target[512];		/* the multipart upload is at this blob key */
	struct s3s_handoff *next;
};

/* Parts of one upload in flight at once: a single part's PUT runs at half
 * of what one long PUT reaches on radosgw; three overlap its latency. */
#define S3S_INFLIGHT 3

/* A worker loop's curl multi handle ("blob bodies on the worker's loop"). */
struct s3s_loopent {
	struct event_base *base;
	struct s3_loop *loop;
	struct s3s_loopent *next;
};

struct store_be {
	char root[PATH_MAX];
	char bucket[64];
	char prefix[256];
	struct s3 *s3;
	size_t part_size;
	int redirect;
	pthread_mutex_t mu;
	time_t probe_at;		/* writable: the last probe ... */
	int probe_rc;			/* ... and its outcome */
	uint64_t mem, mem_max;		/* spool buffers, all uploads */
	struct s3s_handoff *handoffs;
	int nhandoffs;
	struct s3s_loopent *loops;	/* each worker loop's streams (below) */
};

/* ------------------------------------------------------------ keys */

static int
s3s_key(const struct store_be *be, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s3s_key(const struct store_be *be, char *out, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(be->prefix);
	va_list ap;
	int w;

	if (n >= cap)
		return -1;
	memcpy(out, be->prefix, n);
	va_start(ap, fmt);
	w = vsnprintf(out + n, cap - n, fmt, ap);
	va_end(ap);
	return w < 0 || (size_t)w >= cap - n ? -1 : 0;
}

static void
s3s_blob_key(const struct store_be *be, const struct digest *d, char *out, size_t cap)
{
	(void)s3s_key(be, out, cap, "blobs/%s/%.2s/%s", digest_alg_name(d->alg), digest_hex(d),
	    digest_hex(d));
}

/* ------------------------------------------------------------ requests */

static int
s3s_head(struct store_be *be, const char *key, uint64_t *size, int64_t *mtime)
{
	struct s3_call c = {.method = "HEAD", .key = key};
	int rc = s3_do(be->s3, &c);

	if (rc == 0) {
		if (size != NULL)
			*size = c.length;
		if (mtime != NULL)
			*mtime = c.mtime;
	}
	s3_call_free(&c);
	return rc;
}

static int
s3s_put(struct store_be *be, const char *key, const void *data, size_t len)
{
	struct s3_call c = {.method = "PUT", .key = key, .body = data, .body_len = len};
	int rc = s3_do(be->s3, &c);

	s3_call_free(&c);
	return rc;
}

/* DELETE key; a missing one is no error. */
static int
s3s_delete(struct store_be *be, const char *key)
{
	struct s3_call c = {.method = "DELETE", .key = key};
	int rc = s3_do(be->s3, &c);

	s3_call_free(&c);
	return rc == -ERR_BLOB_UNKNOWN ? 0 : rc;
}

/* Up to cap bytes of key at off into buf; *got 0 past the end. */
static int
s3s_get(struct store_be *be, const char *key, uint64_t off, char *buf, size_t cap, size_t *got)
{
	char range[64];
	struct s3_call c = {.method = "GET", .key = key, .range = range, .sink = buf,
	    .sink_cap = cap};
	int rc;

	*got = 0;
	if (cap == 0)
		return 0;
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
	    (unsigned long long)(off + cap - 1));
	rc = s3_do(be->s3, &c);
	if (rc == -ERR_INTERNAL && c.status == 416)
		rc = 0;			/* at or past the end */
	else if (rc == 0)
		*got = c.sink_len;
	s3_call_free(&c);
	return rc;
}

/* A whole small object (state, tail) into a malloc'd buffer. */
static int
s3s_get_all(struct store_be *be, const char *key, size_t max, char **buf, size_t *len)
{
	struct s3_call c = {.method = "GET", .key = key, .resp_max = max + 1};
	int rc;

	*buf = NULL;
	*len = 0;
	if ((rc = s3_do(be->s3, &c)) != 0) {
		s3_call_free(&c);
		return rc;
	}
	if (c.resp_len > max) {
		s3_call_free(&c);
		return -ERR_INTERNAL;
	}
	if (c.resp == NULL && (c.resp = calloc(1, 1)) == NULL)
		return -ERR_INTERNAL;
	*buf = c.resp;
	*len = c.resp_len;
	return 0;
}

/* ---- multipart uploads ---- */

static int
s3s_mpu_init(struct store_be *be, const char *key, char *upload_id, size_t cap)
{
	static const struct s3_param q[] = {{"uploads", ""}};
	struct s3_call c = {.method = "POST", .key = key, .query = q, .nquery = 1};
	int rc;

	if ((rc = s3_do(be->s3, &c)) == 0 &&
	    s3_xml_get(c.resp, "UploadId", upload_id, cap, NULL) != 0) {
		log_error("store: s3: CreateMultipartUpload %s: no UploadId in the answer", key);
		rc = -ERR_INTERNAL;
	}
	s3_call_free(&c);
	return rc;
}

static int
s3s_mpu_part(struct store_be *be, const char *key, const char *upload_id, unsigned n,
    const void *data, size_t len, char etag[80])
{
	char num[16];
	struct s3_param q[2] = {{"partNumber", num}, {"uploadId", upload_id}};
	struct s3_call c = {.method = "PUT", .key = key, .query = q, .nquery = 2, .body = data,
	    .body_len = len};
	int rc;

	snprintf(num, sizeof(num), "%u", n);
	if ((rc = s3_do(be->s3, &c)) == 0) {
		if (c.etag[0] == '\0' || strlen(c.etag) >= 80) {
			log_error("store: s3: UploadPart %s #%u: no ETag", key, n);
			rc = -ERR_INTERNAL;
		} else {
			memcpy(etag, c.etag, strlen(c.etag) + 1);	/* < 80: checked */
		}
	}
	s3_call_free(&c);
	return rc;
}

static int
s3s_mpu_complete(struct store_be *be, const char *key, const char *upload_id,
    char (*etags)[80], unsigned n)
{
	struct s3_param q[1] = {{"uploadId", upload_id}};
	struct s3_call c = {.method = "POST", .key = key, .query = q, .nquery = 1};
	size_t cap = 128 + (size_t)n * 140, len = 0;
	char *xml;
	int rc;

	if ((xml = malloc(cap)) == NULL)
		return -ERR_INTERNAL;
	len += (size_t)snprintf(xml, cap, "<CompleteMultipartUpload>");
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(xml + len, cap - len,
		    "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", i + 1, etags[i]);
	len += (size_t)snprintf(xml + len, cap - len, "</CompleteMultipartUpload>");
	c.body = xml;
	c.body_len = len;
	rc = s3_do(be->s3, &c);
	/* S3 may answer 200 and put the error in the body. */
	if (rc == 0 && c.resp != NULL && strstr(c.resp, "<Error>") != NULL) {
		char code[64] = "";

		(void)s3_xml_get(c.resp, "Code", code, sizeof(code), NULL);
		log_error("store: s3: CompleteMultipartUpload %s: %s", key, code);
		rc = -ERR_INTERNAL;
	}
	s3_call_free(&c);
	free(xml);
	return rc;
}

static int
s3s_mpu_abort(struct store_be *be, const char *key, const char *upload_id)
{
	struct s3_param q[1] = {{"uploadId", upload_id}};
	struct s3_call c = {.method = "DELETE", .key = key, .query = q, .nquery = 1};
	int rc = s3_do(be->s3, &c);

	s3_call_free(&c);
	return rc == -ERR_BLOB_UNKNOWN ? 0 : rc;
}

/* Copy src to dst inside the bucket (size: src's, or UINT64_MAX to ask):
 * CopyObject, or UploadPartCopy in 1 GiB ranges past its 5 GiB limit. */
static int
s3s_copy(struct store_be *be, const char *src, const char *dst, uint64_t size)
{
	char upload_id[256], range[64], (*etags)[80] = NULL;
	unsigned n = 0;
	int rc;

	if (size == UINT64_MAX && (rc = s3s_head(be, src, &size, NULL)) != 0)
		return rc;
	if (size <= S3S_COPY_MAX) {
		struct s3_call c = {.method = "PUT", .key = dst, .copy_source = src};

		rc = s3_do(be->s3, &c);
		if (rc == 0 && c.resp != NULL && strstr(c.resp, "<Error>") != NULL) {
			log_error("store: s3: copy %s to %s failed", src, dst);
			rc = -ERR_INTERNAL;
		}
		s3_call_free(&c);
		return rc;
	}
	n = (unsigned)((size + S3S_COPY_PART - 1) / S3S_COPY_PART);
	if ((etags = calloc(n, sizeof(*etags))) == NULL)
		return -ERR_INTERNAL;
	if ((rc = s3s_mpu_init(be, dst, upload_id, sizeof(upload_id))) != 0) {
		free(etags);
		return rc;
	}
	for (unsigned i = 0; i < n && rc == 0; i++) {
		uint64_t a = (uint64_t)i * S3S_COPY_PART;
		uint64_t b = a + S3S_COPY_PART > size ? size - 1 : a + S3S_COPY_PART - 1;
		char num[16];
		struct s3_param q[2] = {{"partNumber", num}, {"uploadId", upload_id}};
		struct s3_call c = {.method = "PUT", .key = dst, .query = q, .nquery = 2,
		    .copy_source = src, .copy_range = range};

		snprintf(num, sizeof(num), "%u", i + 1);
		snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)a,
		    (unsigned long long)b);
		if ((rc = s3_do(be->s3, &c)) == 0 &&
		    s3_xml_get(c.resp, "ETag", etags[i], sizeof(etags[i]), NULL) != 0)
			rc = -ERR_INTERNAL;
		s3_call_free(&c);
	}
	if (rc == 0)
		rc = s3s_mpu_complete(be, dst, upload_id, etags, n);
	if (rc != 0)
		s3s_mpu_abort(be, dst, upload_id);
	free(etags);
	return rc;
}

/* ---- listing ---- */

struct s3s_obj {
	const char *key;		/* full key */
	uint64_t size;
	int64_t mtime;
};
typedef int (*s3s_list_fn)(void *arg, const struct s3s_obj *o);

static int64_t
s3s_parse_time(const char *iso)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return (int64_t)timegm(&tm);
}

/* Every object under prefix, a page (at most 1000) at a time. */
static int
s3s_list(struct store_be *be, const char *prefix, s3s_list_fn fn, void *arg)
{
	char token[1024] = "", key[1100], size[32], mtime[64], trunc[8];
	int rc = 0;

	do {
		struct s3_param q[3] = {{"list-type", "2"}, {"prefix", prefix},
		    {"continuation-token", token}};
		struct s3_call c = {.method = "GET", .query = q, .nquery = token[0] ? 3 : 2};
		const char *p, *next;

		if ((rc = s3_do(be->s3, &c)) != 0) {
			s3_call_free(&c);
			return rc;
		}
		for (p = c.resp; rc == 0 && p != NULL && (p = strstr(p, "<Contents>")) != NULL;
		    p = next) {
			const char *end = strstr(p, "</Contents>");
			char *endp;
			struct s3s_obj o;

			if (end == NULL)
				break;
			next = end + 11;
			if (s3_xml_get(p, "Key", key, sizeof(key), NULL) != 0 ||
			    s3_xml_get(p, "Size", size, sizeof(size), NULL) != 0)
				continue;
			o.key = key;
			o.size = strtoull(size, &endp, 10);
			if (endp == size)
				o.size = 0;
			o.mtime = s3_xml_get(p, "LastModified", mtime, sizeof(mtime), NULL) == 0 ?
			    s3s_parse_time(mtime) : 0;
			rc = fn(arg, &o);
		}
		token[0] = '\0';
		if (rc == 0 && s3_xml_get(c.resp, "IsTruncated", trunc, sizeof(trunc), NULL) == 0 &&
		    strcmp(trunc, "true") == 0 &&
		    s3_xml_get(c.resp, "NextContinuationToken", token, sizeof(token), NULL) != 0) {
			log_error("store: s3: listing %s: truncated without a continuation token",
			    prefix);
			rc = -ERR_INTERNAL;
		}
		s3_call_free(&c);
	} while (rc == 0 && token[0] != '\0');
	return rc;
}

/* ------------------------------------------------------------ open, probes */

/* The secret key: [s3] secret_key, else the first line of secret_key_file,
 * else AWS_SECRET_ACCESS_KEY. */
static int
s3s_secret(const struct config *cfg, char *out, size_t cap)
{
	const char *env;

	if (cfg->s3_secret_key[0] != '\0') {
		snprintf(out, cap, "%s", cfg->s3_secret_key);
		return 0;
	}
	if (cfg->s3_secret_key_file[0] != '\0') {
		FILE *f = fopen(cfg->s3_secret_key_file, "r");
		size_t n;

		if (f == NULL) {
			log_error("store: s3: secret_key_file %s: %s", cfg->s3_secret_key_file,
			    strerror(errno));
			return -1;
		}
		if (fgets(out, (int)cap, f) == NULL)
			out[0] = '\0';
		fclose(f);
		n = strlen(out);
		while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
			out[--n] = '\0';
		if (n == 0) {
			log_error("store: s3: secret_key_file %s is empty", cfg->s3_secret_key_file);
			return -1;
		}
		return 0;
	}
	if ((env = getenv("AWS_SECRET_ACCESS_KEY")) != NULL && env[0] != '\0') {
		snprintf(out, cap, "%s", env);
		return 0;
	}
	log_error("store: s3: no secret key: set [s3] secret_key_file (or secret_key, or "
	    "AWS_SECRET_ACCESS_KEY)");
	return -1;
}

/* One signed request at start, so that wrong credentials or a missing
 * bucket show up as one plain line in the log (a HEAD's answer has no
 * body to say which; a listing of one key has). */
static void
s3s_check(struct store_be *be, const char *endpoint)
{
	static const struct s3_param q[] = {{"list-type", "2"}, {"max-keys", "1"}};
	struct s3_call c = {.method = "GET", .query = q, .nquery = 2, .quiet = 1};
	int rc = s3_do(be->s3, &c);

	if (rc == 0)
		log_debug("store: s3: bucket %s at %s", be->bucket, endpoint);
	else if (c.status == 403)
		log_error("store: s3: bucket %s at %s refuses our credentials: %s (check [s3] "
		    "access_key and the secret key)", be->bucket, endpoint,
		    c.code[0] ? c.code : "403 Forbidden");
	else if (c.status == 404)
		log_error("store: s3: bucket %s at %s: %s (create the bucket first)", be->bucket,
		    endpoint, c.code[0] ? c.code : "not found");
	else
		log_error("store: s3: bucket %s at %s cannot be reached (%s); not ready until "
		    "it answers", be->bucket, endpoint, c.status ? c.code : "no connection");
	s3_call_free(&c);
}

static struct store_be *
s3s_open(const struct config *cfg, const char *root, int sync)
{
	struct s3_conf conf;
	struct store_be *be;
	const char *env;
	char err[256];

	(void)sync;		/* an object store acknowledges only stored objects */
	if (cfg == NULL) {
		log_error("store: the s3 backend needs its [s3] settings");
		return NULL;
	}
	if (cfg->s3_endpoint[0] == '\0' || cfg->s3_bucket[0] == '\0') {
		log_error("store: [storage] backend = s3 needs [s3] endpoint and bucket");
		return NULL;
	}
	memset(&conf, 0, sizeof(conf));
	snprintf(conf.endpoint, sizeof(conf.endpoint), "%s", cfg->s3_endpoint);
	snprintf(conf.bucket, sizeof(conf.bucket), "%s", cfg->s3_bucket);
	snprintf(conf.region, sizeof(conf.region), "%s", cfg->s3_region);
	conf.path_style = cfg->s3_path_style;
	if (cfg->s3_access_key[0] != '\0')
		snprintf(conf.access_key, sizeof(conf.access_key), "%s", cfg->s3_access_key);
	else if ((env = getenv("AWS_ACCESS_KEY_ID")) != NULL && env[0] != '\0')
		snprintf(conf.access_key, sizeof(conf.access_key), "%s", env);
	else {
		log_error("store: s3: no access key: set [s3] access_key (or AWS_ACCESS_KEY_ID)");
		return NULL;
	}
	if (s3s_secret(cfg, conf.secret_key, sizeof(conf.secret_key)) != 0)
		return NULL;
	if ((be = calloc(1, sizeof(*be))) == NULL)
		return NULL;
	snprintf(be->root, sizeof(be->root), "%s", root);
	snprintf(be->bucket, sizeof(be->bucket), "%s", cfg->s3_bucket);
	snprintf(be->prefix, sizeof(be->prefix), "%s", cfg->s3_prefix);
	be->part_size = (size_t)cfg->s3_part_size;
	be->redirect = cfg->s3_redirect;
	/* Sixteen parts being staged at once (256 MiB at the default part
	 * size); a seventeenth upload waits for one of them (429). */
	be->mem_max = (uint64_t)be->part_size * 16;
	pthread_mutex_init(&be->mu, NULL);
	if ((be->s3 = s3_new(&conf, err, sizeof(err))) == NULL) {
		log_error("store: s3: %s", err);
		goto fail;
	}
	explicit_bzero(conf.secret_key, sizeof(conf.secret_key));
	/* The root still holds this node's own state (meta.db, token.key). */
	if (mkdir(be->root, 0755) != 0 && errno != EEXIST) {
		log_error("store: mkdir %s: %s", be->root, strerror(errno));
		goto fail;
	}
	s3s_check(be, cfg->s3_endpoint);
	return be;
fail:
	explicit_bzero(conf.secret_key, sizeof(conf.secret_key));
	s3_free(be->s3);
	pthread_mutex_destroy(&be->mu);
	free(be);
	return NULL;
}

static void s3s_handoff_free(struct store_be *be, struct s3s_handoff *h);

static void
s3s_close(struct store_be *be)
{
	/* Every worker's loop was given back by store_loop_done (a loop left
	 * here would outlive its event base: not freed, only forgotten). */
	while (be->loops != NULL) {
		struct s3s_loopent *e = be->loops;

		be->loops = e->next;
		free(e);
	}
	while (be->handoffs != NULL) {
		struct s3s_handoff *h = be->handoffs;

		be->handoffs = h->next;
		s3s_handoff_free(be, h);
	}
	s3_free(be->s3);
	pthread_mutex_destroy(&be->mu);
	free(be);
}

static const char *
s3s_root(const struct store_be *be)
{
	return be->root;
}

/* Readiness: a HEAD of the bucket, at most every S3S_PROBE_SECONDS. */
static int
s3s_writable(struct store_be *be)
{
	time_t now = time(NULL);
	int rc;

	pthread_mutex_lock(&be->mu);
	if (be->probe_at != 0 && now - be->probe_at < S3S_PROBE_SECONDS) {
		rc = be->probe_rc;
		pthread_mutex_unlock(&be->mu);
		return rc;
	}
	pthread_mutex_unlock(&be->mu);
	rc = s3s_head(be, NULL, NULL, NULL);
	if (rc == -ERR_BLOB_UNKNOWN)
		rc = -ERR_UNAVAILABLE;	/* no bucket */
	pthread_mutex_lock(&be->mu);
	be->probe_at = now;
	be->probe_rc = rc;
	pthread_mutex_unlock(&be->mu);
	return rc;
}

/* An object store has no free-space figure: none for /metrics. */
static int
s3s_free_bytes(struct store_be *be, uint64_t *avail, uint64_t *size)
{
	(void)be;
	*avail = *size = 0;
	return -ERR_UNSUPPORTED;
}

/* ------------------------------------------------------------ blobs */

static int
s3s_blob_stat(struct store_be *be, const struct digest *d, uint64_t *size)
{
	char key[512];

	s3s_blob_key(be, d, key, sizeof(key));
	return s3s_head(be, key, size, NULL);
}

/* A reader of an object: ranged GETs through a read-ahead buffer, or of
 * bytes held in memory (an upload's tail). */
struct s3s_reader {
	struct store_be *be;
	char key[512];
	char *ra;
	uint64_t ra_off;
	size_t ra_len, ra_cap;
	int mem;			/* ra is the whole object */
};

static int
s3s_blob_reader(struct store_be *be, const struct digest *d, struct store_reader *r)
{
	struct s3s_reader *sr;
	int rc;

	if ((sr = calloc(1, sizeof(*sr))) == NULL)
		return -ERR_INTERNAL;
	sr->be = be;
	s3s_blob_key(be, d, sr->key, sizeof(sr->key));
	if ((rc = s3s_head(be, sr->key, &r->size, NULL)) != 0) {
		free(sr);
		return rc;
	}
	r->state = sr;
	return 0;
}

static int
s3s_reader_read(struct store_reader *r, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct s3s_reader *sr = r->state;
	size_t n;
	int rc;

	if (sr == NULL) {		/* a local spool */
		ssize_t k;

		if (r->fd < 0)
			return -ERR_INTERNAL;
		while ((k = pread(r->fd, buf, cap, (off_t)off)) < 0 && errno == EINTR)
			;
		if (k < 0)
			return -(int)errors_from_errno(errno);
		*got = (size_t)k;
		return 0;
	}
	if (sr->mem || (off >= sr->ra_off && off < sr->ra_off + sr->ra_len)) {
		if (off < sr->ra_off || off >= sr->ra_off + sr->ra_len) {
			*got = 0;
			return 0;
		}
		n = (size_t)(sr->ra_off + sr->ra_len - off);
		n = n < cap ? n : cap;
		memcpy(buf, sr->ra + (off - sr->ra_off), n);
		*got = n;
		return 0;
	}
	if (cap >= S3S_READAHEAD)	/* a big read: straight into the caller's buffer */
		return s3s_get(sr->be, sr->key, off, buf, cap, got);
	if (sr->ra == NULL && (sr->ra = malloc(S3S_READAHEAD)) == NULL)
		return -ERR_INTERNAL;
	n = r->size - off < S3S_READAHEAD ? (size_t)(r->size - off) : S3S_READAHEAD;
	sr->ra_len = 0;
	if ((rc = s3s_get(sr->be, sr->key, off, sr->ra, n, &sr->ra_len)) != 0)
		return rc;
	sr->ra_off = off;
	n = sr->ra_len < cap ? sr->ra_len : cap;
	memcpy(buf, sr->ra, n);
	*got = n;
	return 0;
}

static void
s3s_reader_close(struct store_reader *r)
{
	struct s3s_reader *sr = r->state;

	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (sr == NULL)
		return;
	free(sr->ra);
	free(sr);
	r->state = NULL;
}

static int
s3s_blob_put(struct store_be *be, const struct digest *d, const void *data, size_t len)
{
	char key[512];
	uint64_t size;

	s3s_blob_key(be, d, key, sizeof(key));
	if (s3s_head(be, key, &size, NULL) == 0)
		return 0;
	return s3s_put(be, key, data, len);
}

static int
s3s_blob_remove(struct store_be *be, const struct digest *d)
{
	char key[512];

	s3s_blob_key(be, d, key, sizeof(key));
	return s3s_delete(be, key);
}

static int
s3s_blob_redirect(struct store_be *be, const struct digest *d, char *url, size_t cap)
{
	char key[512];

	if (!be->redirect)
		return -ERR_UNSUPPORTED;
	s3s_blob_key(be, d, key, sizeof(key));
	return s3_presign(be->s3, key, S3S_PRESIGN_SECONDS, time(NULL), url, cap) == 0 ? 0 :
	    -ERR_INTERNAL;
}

/* ---- blob bodies on the worker's loop (s3.c's asynchronous GET) ---- */

/* Each worker loop's curl multi handle, made on its first stream, kept
 * in be->loops until store_loop_done (the worker's end).  A handful of
 * entries (one per worker), looked up under be->mu per stream. */
static struct s3_loop *
s3s_loop_of(struct store_be *be, struct event_base *base)
{
	struct s3s_loopent *e;
	struct s3_loop *l = NULL;

	pthread_mutex_lock(&be->mu);
	for (e = be->loops; e != NULL && e->base != base; e = e->next)
		;
	if (e != NULL) {
		l = e->loop;
	} else if ((e = calloc(1, sizeof(*e))) != NULL) {
		if ((e->loop = s3_loop_new(base)) == NULL) {
			free(e);
		} else {
			e->base = base;
			e->next = be->loops;
			be->loops = e;
			l = e->loop;
		}
	}
	pthread_mutex_unlock(&be->mu);
	return l;
}

static void
s3s_loop_done(struct store_be *be, struct event_base *base)
{
	struct s3s_loopent **pp, *e;

	pthread_mutex_lock(&be->mu);
	for (pp = &be->loops; (e = *pp) != NULL && e->base != base; pp = &e->next)
		;
	if (e != NULL)
		*pp = e->next;
	pthread_mutex_unlock(&be->mu);
	if (e != NULL) {
		s3_loop_free(e->loop);
		free(e);
	}
}

static int
s3s_stream_start(struct store_be *be, struct event_base *base, const struct digest *d,
    uint64_t off, uint64_t len, const struct store_stream_cb *cb, struct store_stream **out)
{
	const struct s3_get_cb gcb = {.data = cb->data, .done = cb->done, .alive = cb->alive,
	    .arg = cb->arg};
	struct s3_loop *l;
	struct s3_get *g;
	char key[512];
	int rc;

	if ((l = s3s_loop_of(be, base)) == NULL)
		return -ERR_INTERNAL;
	s3s_blob_key(be, d, key, sizeof(key));
	if ((rc = s3_get_start(be->s3, l, key, off, len, &gcb, &g)) != 0)
		return rc;
	*out = (struct store_stream *)(void *)g;
	return 0;
}

static void
s3s_stream_resume(struct store_stream *st)
{
	s3_get_resume((struct s3_get *)(void *)st);
}

static void
s3s_stream_cancel(struct store_stream *st)
{
	s3_get_cancel((struct s3_get *)(void *)st);
}

/* A blob's HEAD, or the GET of a whole small one (a manifest), for a
 * request that waits on the worker's loop rather than blocking it. */
struct s3s_blob_call {
	struct s3_call c;
	char key[512];
	size_t max;
	void (*stat_done)(void *arg, int rc, uint64_t size);
	void (*read_done)(void *arg, int rc, char *buf, size_t len);
	void *arg;
};

static void
s3s_blob_call_done(void *arg, int rc)
{
	struct s3s_blob_call *b = arg;
	char *buf = NULL;
	size_t len = 0;

	if (b->stat_done != NULL) {
		b->stat_done(b->arg, rc, rc == 0 ? b->c.length : 0);
	} else {
		if (rc == 0 && b->c.resp_len > b->max)
			rc = -ERR_TOO_LARGE;
		else if (rc == 0 && b->c.resp == NULL && (b->c.resp = calloc(1, 1)) == NULL)
			rc = -ERR_INTERNAL;
		if (rc == 0) {
			buf = b->c.resp;
			len = b->c.resp_len;
			b->c.resp = NULL;
		}
		b->read_done(b->arg, rc, buf, len);
	}
	s3_call_free(&b->c);
	free(b);
}

static int
s3s_blob_call_start(struct store_be *be, struct event_base *base, struct s3s_blob_call *b,
    const struct digest *d, const char *method)
{
	struct s3_loop *l;
	int rc;

	s3s_blob_key(be, d, b->key, sizeof(b->key));
	/* One byte past max (and resp's NUL) tells a larger object. */
	b->c = (struct s3_call){.method = method, .key = b->key, .resp_max = b->max + 2};
	if ((l = s3s_loop_of(be, base)) == NULL)
		rc = -ERR_INTERNAL;
	else
		rc = s3_call_start(be->s3, l, &b->c, s3s_blob_call_done, b, NULL);
	if (rc != 0)
		free(b);
	return rc;
}

static int
s3s_blob_stat_start(struct store_be *be, struct event_base *base, const struct digest *d,
    void (*done)(void *arg, int rc, uint64_t size), void *arg)
{
	struct s3s_blob_call *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ERR_INTERNAL;
	b->stat_done = done;
	b->arg = arg;
	return s3s_blob_call_start(be, base, b, d, "HEAD");
}

static int
s3s_blob_read_start(struct store_be *be, struct event_base *base, const struct digest *d,
    size_t max, void (*done)(void *arg, int rc, char *buf, size_t len), void *arg)
{
	struct s3s_blob_call *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ERR_INTERNAL;
	b->max = max;
	b->read_done = done;
	b->arg = arg;
	return s3s_blob_call_start(be, base, b, d, "GET");
}

/* ------------------------------------------------------------ uploads */

static void
s3s_upload_key(const struct store_be *be, const char *id, const char *what, uint64_t size,
    char *out, size_t cap)
{
	if (size == UINT64_MAX)
		(void)s3s_key(be, out, cap, "uploads/%s/%s", id, what);
	else
		(void)s3s_key(be, out, cap, "uploads/%s/%s-%llu", id, what,
		    (unsigned long long)size);
}

static void
s3s_upstate_free(struct s3s_upstate *st)
{
	free(st->etags);
	st->etags = NULL;
	st->etags_cap = 0;
}

static int
s3s_upstate_add(struct s3s_upstate *st, const char *etag)
{
	if (st->nparts >= S3S_MAX_PARTS)
		return -ERR_TOO_LARGE;
	if (st->nparts == st->etags_cap) {
		unsigned cap = st->etags_cap ? st->etags_cap * 2 : 64;
		char (*e)[80] = realloc(st->etags, (size_t)cap * sizeof(*e));

		if (e == NULL)
			return -ERR_INTERNAL;
		st->etags = e;
		st->etags_cap = cap;
	}
	snprintf(st->etags[st->nparts++], 80, "%s", etag);
	return 0;
}

/* state-<size>: lines of "name value". */
static char *
s3s_upstate_format(const struct s3s_upstate *st, size_t *len)
{
	size_t cap = 512 + 2 * HASHER_EXPORT_MAX + (size_t)st->nparts * 90, n;
	char *out, hex[2 * HASHER_EXPORT_MAX + 1];

	if ((out = malloc(cap)) == NULL)
		return NULL;
	digest_hex_encode(st->hash, st->hashlen, hex);
	n = (size_t)snprintf(out, cap, "ociregd-s3-upload 1\nsize %llu\nprev %llu\nprev_tail %d\n"
	    "parts_bytes %llu\nupload_id %s\nhash %s\n", (unsigned long long)st->size,
	    (unsigned long long)st->prev, st->prev_tail, (unsigned long long)st->parts_bytes,
	    st->upload_id[0] ? st->upload_id : "-", st->hashlen ? hex : "-");
	for (unsigned i = 0; i < st->nparts; i++)
		n += (size_t)snprintf(out + n, cap - n, "part %s\n", st->etags[i]);
	*len = n;
	return out;
}

static int
s3s_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
s3s_upstate_parse(const char *text, struct s3s_upstate *st)
{
	const char *p = text;
	int version = 0;

	memset(st, 0, sizeof(*st));
	while (*p != '\0') {
		const char *eol = strchr(p, '\n'), *sp;
		char name[32], value[2 * HASHER_EXPORT_MAX + 8];
		size_t nl, vl;

		if (eol == NULL)
			eol = p + strlen(p);
		if ((sp = memchr(p, ' ', (size_t)(eol - p))) == NULL)
			goto bad;
		nl = (size_t)(sp - p);
		vl = (size_t)(eol - sp - 1);
		if (nl >= sizeof(name) || vl >= sizeof(value))
			goto bad;
		memcpy(name, p, nl);
		name[nl] = '\0';
		memcpy(value, sp + 1, vl);
		value[vl] = '\0';
		if (strcmp(name, "ociregd-s3-upload") == 0) {
			version = strcmp(value, "1") == 0;
		} else if (strcmp(name, "size") == 0 || strcmp(name, "prev") == 0 ||
		    strcmp(name, "parts_bytes") == 0) {
			char *end;
			unsigned long long v = strtoull(value, &end, 10);

			if (end == value || *end != '\0')
				goto bad;
			if (name[0] == 's')
				st->size = v;
			else if (name[0] == 'p' && name[1] == 'r')
				st->prev = v;
			else
				st->parts_bytes = v;
		} else if (strcmp(name, "prev_tail") == 0) {
			st->prev_tail = strcmp(value, "0") != 0;
		} else if (strcmp(name, "upload_id") == 0) {
			if (vl >= sizeof(st->upload_id))
				goto bad;
			if (strcmp(value, "-") != 0)
				memcpy(st->upload_id, value, vl + 1);
		} else if (strcmp(name, "hash") == 0) {
			if (strcmp(value, "-") != 0) {
				if (vl % 2 != 0 || vl / 2 > sizeof(st->hash))
					goto bad;
				for (size_t i = 0; i < vl / 2; i++) {
					int hi = s3s_hexval(value[2 * i]), lo = s3s_hexval(value[2 * i + 1]);

					if (hi < 0 || lo < 0)
						goto bad;
					st->hash[i] = (unsigned char)(hi << 4 | lo);
				}
				st->hashlen = vl / 2;
			}
		} else if (strcmp(name, "part") == 0) {
			if (s3s_upstate_add(st, value) != 0)
				goto bad;
		}
		p = *eol ? eol + 1 : eol;
	}
	if (!version || st->parts_bytes > st->size || (st->nparts > 0 && st->upload_id[0] == '\0'))
		goto bad;
	return 0;
bad:
	s3s_upstate_free(st);
	return -1;
}

/* The answer to a GET of state-<size> (key): rc and the body text (freed
 * here) into *st: 0, or why the session cannot go on. */
static int
s3s_upstate_take(const char *id, uint64_t size, const char *key, int rc, char *text,
    struct s3s_upstate *st)
{
	memset(st, 0, sizeof(*st));
	if (rc != 0) {
		free(text);
		if (rc == -ERR_BLOB_UNKNOWN) {
			log_error("store: s3: upload %s has no state at %llu bytes (%s)", id,
			    (unsigned long long)size, key);
			rc = -ERR_BLOB_UPLOAD_INVALID;
		}
		return rc;
	}
	rc = s3s_upstate_parse(text != NULL ? text : "", st);
	free(text);
	if (rc != 0 || st->size != size) {
		if (rc == 0)
			s3s_upstate_free(st);
		log_error("store: s3: %s is malformed", key);
		return -ERR_BLOB_UPLOAD_INVALID;
	}
	return 0;
}

/* The answer (rc, *tail of tlen bytes) to a GET of the tail st names: 0,
 * or the reason (then *tail is freed and st released). */
static int
s3s_tail_check(const char *id, struct s3s_upstate *st, int rc, char **tail, size_t tlen)
{
	if (rc == 0 && tlen == st->size - st->parts_bytes)
		return 0;
	log_error("store: s3: upload %s: tail at %llu bytes is %s", id,
	    (unsigned long long)st->size, rc != 0 ? "missing" : "of the wrong length");
	free(*tail);
	*tail = NULL;
	s3s_upstate_free(st);
	return rc == -ERR_BLOB_UNKNOWN || rc == 0 ? -ERR_BLOB_UPLOAD_INVALID : rc;
}

/* Load state-<size> (and, if buf is not NULL, tail-<size> into it: the
 * caller's, *len bytes). */
static int
s3s_upstate_load(struct store_be *be, const char *id, uint64_t size, struct s3s_upstate *st,
    char **tail, size_t *tlen)
{
	char key[512], *text;
	size_t len;
	int rc;

	s3s_upload_key(be, id, "state", size, key, sizeof(key));
	rc = s3s_get_all(be, key, 1 << 20, &text, &len);
	if ((rc = s3s_upstate_take(id, size, key, rc, text, st)) != 0)
		return rc;
	if (tail == NULL || st->size == st->parts_bytes)
		return 0;
	s3s_upload_key(be, id, "tail", size, key, sizeof(key));
	rc = s3s_get_all(be, key, be->part_size, tail, tlen);
	return s3s_tail_check(id, st, rc, tail, *tlen);
}

/* ---- local spools (the pull-through cache) ----
 *
 * The pull-through cache serves a blob to its waiters from the spool file
 * while the upstream's bytes still arrive, which needs a local file: such
 * an upload (store_upload_open) is a file under <root>/uploads/, and its
 * commit uploads the verified file to the blob's key. */

static void
s3s_local_path(const struct store_be *be, const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/uploads/%s", be->root, id);
}

static int
s3s_upload_open(struct store_be *be, const char *id, uint64_t size, int *fd)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/uploads", be->root);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		log_error("store: mkdir %s: %s", path, strerror(errno));
		return -(int)errors_from_errno(errno);
	}
	s3s_local_path(be, id, path, sizeof(path));
	if ((*fd = open(path, O_RDWR | O_CLOEXEC | (size == 0 ? O_CREAT : 0), 0644)) < 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UPLOAD_UNKNOWN;
		log_error("store: open %s: %s", path, strerror(errno));
		return -(int)errors_from_errno(errno);
	}
	if (ftruncate(*fd, (off_t)size) != 0 || lseek(*fd, (off_t)size, SEEK_SET) < 0) {
		int rc = -(int)errors_from_errno(errno);

		log_error("store: truncate %s: %s", path, strerror(errno));
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 0;
}

/* Send the verified local spool of upload id to key: one PUT up to a
 * part's size, else a multipart upload straight to key.  -ERR_BLOB_UNKNOWN
 * if there is no local spool. */
static int
s3s_local_commit(struct store_be *be, const char *id, const char *key)
{
	char path[PATH_MAX + 64], upload_id[256], (*etags)[80] = NULL;
	struct stat st;
	unsigned n;
	char *p;
	int fd, rc = 0;

	s3s_local_path(be, id, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? -ERR_BLOB_UNKNOWN : -(int)errors_from_errno(errno);
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -(int)errors_from_errno(errno);
	}
	if (st.st_size == 0) {
		close(fd);
		return s3s_put(be, key, "", 0);
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -(int)errors_from_errno(errno);
	if ((uint64_t)st.st_size <= be->part_size) {
		rc = s3s_put(be, key, p, (size_t)st.st_size);
		munmap(p, (size_t)st.st_size);
		return rc;
	}
	n = (unsigned)(((uint64_t)st.st_size + be->part_size - 1) / be->part_size);
	if (n > S3S_MAX_PARTS || (etags = calloc(n, sizeof(*etags))) == NULL) {
		munmap(p, (size_t)st.st_size);
		return n > S3S_MAX_PARTS ? -ERR_TOO_LARGE : -ERR_INTERNAL;
	}
	if ((rc = s3s_mpu_init(be, key, upload_id, sizeof(upload_id))) == 0) {
		for (unsigned i = 0; i < n && rc == 0; i++) {
			uint64_t off = (uint64_t)i * be->part_size;
			size_t len = (uint64_t)st.st_size - off < be->part_size ?
			    (size_t)((uint64_t)st.st_size - off) : be->part_size;

			rc = s3s_mpu_part(be, key, upload_id, i + 1, p + off, len, etags[i]);
		}
		if (rc == 0)
			rc = s3s_mpu_complete(be, key, upload_id, etags, n);
		if (rc != 0)
			s3s_mpu_abort(be, key, upload_id);
	}
	free(etags);
	munmap(p, (size_t)st.st_size);
	return rc;
}

static double
s3s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the memory budget of spool buffers ---- */

static int
s3s_mem_take(struct store_be *be, size_t n, int quiet)
{
	int ok;

	pthread_mutex_lock(&be->mu);
	if ((ok = be->mem + n <= be->mem_max))
		be->mem += n;
	pthread_mutex_unlock(&be->mu);
	if (!ok && !quiet)
		log_warn("store: s3: upload buffers are full (%llu bytes); refusing an upload",
		    (unsigned long long)be->mem_max);
	return ok ? 0 : -ERR_TOOMANYREQUESTS;
}

static void
s3s_mem_put(struct store_be *be, size_t n)
{
	pthread_mutex_lock(&be->mu);
	be->mem -= n;
	pthread_mutex_unlock(&be->mu);
}

static void
s3s_handoff_free(struct store_be *be, struct s3s_handoff *h)
{
	/* Not committed: its parts at the blob's key go. */
	if (h->target[0] != '\0' && h->st.upload_id[0] != '\0')
		(void)s3s_mpu_abort(be, h->target, h->st.upload_id);
	s3s_mem_put(be, h->cap);
	free(h->buf);
	s3s_upstate_free(&h->st);
	free(h);
}

/* Take the handoff of upload id out of the list, or NULL. */
static struct s3s_handoff *
s3s_handoff_take(struct store_be *be, const char *id)
{
	struct s3s_handoff **pp, *h;

	pthread_mutex_lock(&be->mu);
	for (pp = &be->handoffs; (h = *pp) != NULL; pp = &h->next)
		if (strcmp(h->id, id) == 0) {
			*pp = h->next;
			be->nhandoffs--;
			break;
		}
	pthread_mutex_unlock(&be->mu);
	return h;
}

/* ---- the spool ----
 *
 * Every request a spool makes (its parts, the multipart upload's start,
 * the tail and state of a checkpoint) is a transfer of the curl multi of
 * the loop the spool serves (store_spool_attach: a worker's), through
 * s3s_run; a spool on no loop carries each out at once with s3_do.
 * Either way each ends in the same callback, which hands on to
 * s3s_progress: one path for both.  A worker's thread never waits for S3:
 * when S3S_INFLIGHT parts are in flight (or the memory budget allows no
 * buffer for the next) and the buffer is full, store_spool_write keeps
 * what it was given and answers STORE_SPOOL_FULL, and the writer reads
 * nothing more until the wake callback. */

struct s3s_job;

enum {
	S3S_FLUSH_BEGIN = 0,
	S3S_FLUSH_TAIL,			/* the last part is in flight */
	S3S_FLUSH_STATE,		/* the tail is being written */
	S3S_FLUSH_END,			/* the state is being written */
};

struct s3s_spool {
	struct store_spool base;	/* first: store.c's view */
	struct store_be *be;
	struct s3_loop *loop;		/* the worker's (attach), or NULL */
	char id[64];
	char key[512];			/* uploads/<id>/data, or target */
	char target[512];		/* spool_target's blob key, or "" */
	struct s3s_upstate st;		/* parts sent; st.size: bytes given */
	uint64_t start;			/* the size it was opened at */
	int start_tail;			/* tail-<start> exists */
	int del_prev;			/* state/tail of st.prev are to go */
	char *buf;			/* bytes after the last part (NULL while
					 * its buffer is in flight, none spare) */
	size_t len, cap;		/* cap: of buf and spare (each charged) */
	/* Parts in flight, oldest first, and the buffers free to receive
	 * into (each of cap bytes, charged to the budget). */
	struct s3s_job *jobs[S3S_INFLIGHT];
	int njobs;
	/* A spool owns at most S3S_INFLIGHT + 1 buffers (s3s_make_room
	 * allocates only with none spare and a slot free), and all of them
	 * can be spare at once: after the flush sent the current one as the
	 * last part while S3S_INFLIGHT others had come back. */
	char *spare[S3S_INFLIGHT + 1];
	int nspare;
	int init;			/* the multipart upload: 0 none, 1 being
					 * made, 2 there (st.upload_id) */
	struct s3s_job *aux;		/* the one other request in flight */
	/* The rest of a write that found no room (at most one write's). */
	char *over;
	size_t over_len;
	int blocked;			/* the writer waits for wake */
	void (*wake)(void *arg);
	void *wake_arg;
	int opening, open_rc;		/* spool_open_start: loading the state */
	uint64_t expect;		/* ... and the writer's likely bytes */
	void (*open_ready)(void *arg, int rc);
	void *open_arg;
	int flushing, flush_step, flush_sync, flush_rc;
	void (*flush_done)(void *arg, int rc);
	void *flush_arg;
	int busy, again;		/* s3s_progress running / to run again */
	int err;			/* sticky */
	int discard;			/* truncated: keep nothing of this writer */
	int checkpoint;			/* the hash state was given: persist at flush */
	int handoff;			/* flushed without persisting: hand to commit */
	int flushed;
};

/* One request of a spool: a part (data: one of its buffers) or, as
 * sp->aux, a step of the multipart upload's start or of a flush. */
struct s3s_job {
	struct s3s_spool *sp;
	struct s3_call c;
	struct s3_param q[2];
	char num[16];
	char key[512];
	char *data;			/* a part's buffer, else NULL */
	char *text;			/* a body of our own (freed with the job) */
	size_t len;
	unsigned partno;
	int step;			/* aux: which (S3S_AUX_*) */
	int done, rc;
	char etag[80];
	struct s3_async *a;		/* on the loop, until done */
};

enum {
	S3S_AUX_HEAD_TARGET = 1,
	S3S_AUX_MPU_INIT,
	S3S_AUX_PUT_TARGET,
	S3S_AUX_TAIL,
	S3S_AUX_STATE,
	S3S_AUX_GET_STATE,
	S3S_AUX_GET_TAIL,
};

static void s3s_progress(struct s3s_spool *sp);

/* Carry out c: on the spool's loop (done runs later), or here when it has
 * none (done has run when this returns 0).  An error: done will not run. */
static int
s3s_run(struct s3s_spool *sp, struct s3_call *c, s3_call_done_fn done, void *arg,
    struct s3_async **a)
{
	if (sp->loop == NULL) {
		done(arg, s3_do(sp->be->s3, c));
		return 0;
	}
	return s3_call_start(sp->be->s3, sp->loop, c, done, arg, a);
}

/* A DELETE of key (with upload_id: an AbortMultipartUpload) nobody waits
 * for: on l, else here. */
struct s3s_fire {
	struct s3_call c;
	struct s3_param q[1];
	char key[512];
	char upload_id[256];
};

static void
s3s_fire_done(void *arg, int rc)
{
	struct s3s_fire *f = arg;

	(void)rc;
	s3_call_free(&f->c);
	free(f);
}

static void
s3s_fire(struct store_be *be, struct s3_loop *l, const char *key, const char *upload_id)
{
	struct s3s_fire *f;

	if (l == NULL || (f = calloc(1, sizeof(*f))) == NULL ||
	    strlen(key) >= sizeof(f->key) ||
	    (upload_id != NULL && strlen(upload_id) >= sizeof(f->upload_id))) {
		if (l != NULL && f != NULL)
			free(f);
		if (upload_id != NULL)
			(void)s3s_mpu_abort(be, key, upload_id);
		else
			(void)s3s_delete(be, key);
		return;
	}
	memcpy(f->key, key, strlen(key) + 1);
	f->c = (struct s3_call){.method = "DELETE", .key = f->key, .quiet = 1};
	if (upload_id != NULL) {
		memcpy(f->upload_id, upload_id, strlen(upload_id) + 1);
		f->q[0] = (struct s3_param){"uploadId", f->upload_id};
		f->c.query = f->q;
		f->c.nquery = 1;
	}
	if (s3_call_start(be->s3, l, &f->c, s3s_fire_done, f, NULL) != 0) {
		free(f);
		if (upload_id != NULL)
			(void)s3s_mpu_abort(be, key, upload_id);
		else
			(void)s3s_delete(be, key);
	}
}

static void
s3s_job_free(struct s3s_job *j)
{
	if (j->a != NULL)
		s3_call_cancel(j->a);
	s3_call_free(&j->c);
	free(j->text);
	free(j);
}

static void
s3s_part_done(void *arg, int rc)
{
	struct s3s_job *j = arg;

	j->a = NULL;
	j->done = 1;
	if (rc == 0 && (j->c.etag[0] == '\0' || strlen(j->c.etag) >= sizeof(j->etag))) {
		log_error("store: s3: UploadPart %s #%u: no ETag", j->c.key, j->partno);
		rc = -ERR_INTERNAL;
	}
	if (rc == 0)
		memcpy(j->etag, j->c.etag, strlen(j->c.etag) + 1);	/* < 80: checked */
	j->rc = rc;
	s3_call_free(&j->c);
	s3s_progress(j->sp);
}

/* A request could not even start (no memory, the loop is closing): it
 * ended with rc, and so does the spool's work. */
static void
s3s_start_failed(struct s3s_spool *sp, struct s3s_job *j, int rc)
{
	j->done = 1;
	j->rc = rc;
	if (sp->err == 0)
		sp->err = rc;
	sp->again = 1;		/* a running s3s_progress goes round again */
}

/* Whether a transfer of the spool runs (it reads the spool's buffers). */
static int
s3s_running(const struct s3s_spool *sp)
{
	if (sp->aux != NULL && sp->aux->a != NULL)
		return 1;
	for (int i = 0; i < sp->njobs; i++)
		if (sp->jobs[i]->a != NULL)
			return 1;
	return 0;
}

/* Send part j (the multipart upload is there). */
static void
s3s_part_start(struct s3s_job *j)
{
	struct s3s_spool *sp = j->sp;
	int rc;

	snprintf(j->num, sizeof(j->num), "%u", j->partno);
	j->q[0] = (struct s3_param){"partNumber", j->num};
	j->q[1] = (struct s3_param){"uploadId", sp->st.upload_id};
	j->c = (struct s3_call){.method = "PUT", .key = sp->key, .query = j->q, .nquery = 2,
	    .body = j->data, .body_len = j->len};
	if ((rc = s3s_run(sp, &j->c, s3s_part_done, j, &j->a)) != 0)
		s3s_start_failed(sp, j, rc);
}

static void s3s_aux_start(struct s3s_spool *sp, int step);
static void s3s_open_end(struct s3s_spool *sp, int rc, char *tail, size_t tlen);

/* Queue buffer data (len bytes) as the next part; it is sent once the
 * multipart upload is there (started here on the first part). */
static int
s3s_part_submit(struct s3s_spool *sp, char *data, size_t len)
{
	struct s3s_job *j;

	if (sp->st.nparts + (unsigned)sp->njobs + 1 >= S3S_MAX_PARTS) {
		log_error("store: s3: upload %s: more than %d parts", sp->id, S3S_MAX_PARTS);
		return -ERR_TOO_LARGE;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -ERR_INTERNAL;
	j->sp = sp;
	j->data = data;
	j->len = len;
	j->partno = sp->st.nparts + (unsigned)sp->njobs + 1;
	sp->jobs[sp->njobs++] = j;
	if (sp->init == 2)
		s3s_part_start(j);
	else if (sp->init == 0) {
		sp->init = 1;
		s3s_aux_start(sp, sp->target[0] != '\0' ? S3S_AUX_HEAD_TARGET : S3S_AUX_MPU_INIT);
	}
	return 0;
}

static void
s3s_aux_done(void *arg, int rc)
{
	struct s3s_job *j = arg;
	struct s3s_spool *sp = j->sp;

	j->a = NULL;
	j->done = 1;
	j->rc = rc;
	s3s_progress(sp);
}

/* Start the aux request of this step (one at a time). */
static void
s3s_aux_start(struct s3s_spool *sp, int step)
{
	static const struct s3_param uploads[] = {{"uploads", ""}};
	struct s3s_job *j;
	int rc, n;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		sp->err = sp->err ? sp->err : -ERR_INTERNAL;
		return;
	}
	j->sp = sp;
	j->step = step;
	switch (step) {
	case S3S_AUX_HEAD_TARGET:
		j->c = (struct s3_call){.method = "HEAD", .key = sp->target, .quiet = 1};
		break;
	case S3S_AUX_MPU_INIT:
		j->c = (struct s3_call){.method = "POST", .key = sp->key, .query = uploads,
		    .nquery = 1};
		break;
	case S3S_AUX_PUT_TARGET:
		/* "<blob key>\n<upload id>\n", for upload_remove after a crash. */
		if ((j->text = malloc(900)) == NULL ||
		    (n = snprintf(j->text, 900, "%s\n%s\n", sp->target, sp->st.upload_id)) < 0 ||
		    n >= 900) {
			s3s_job_free(j);
			sp->err = sp->err ? sp->err : -ERR_INTERNAL;
			return;
		}
		s3s_upload_key(sp->be, sp->id, "target", UINT64_MAX, j->key, sizeof(j->key));
		j->c = (struct s3_call){.method = "PUT", .key = j->key, .body = j->text,
		    .body_len = (size_t)n};
		break;
	case S3S_AUX_TAIL:
		s3s_upload_key(sp->be, sp->id, "tail", sp->st.size, j->key, sizeof(j->key));
		j->c = (struct s3_call){.method = "PUT", .key = j->key, .body = sp->buf,
		    .body_len = sp->len};
		break;
	case S3S_AUX_GET_STATE:
	case S3S_AUX_GET_TAIL:
		s3s_upload_key(sp->be, sp->id, step == S3S_AUX_GET_STATE ? "state" : "tail",
		    sp->start, j->key, sizeof(j->key));
		j->c = (struct s3_call){.method = "GET", .key = j->key,
		    .resp_max = step == S3S_AUX_GET_STATE ? (1 << 20) + 1 : sp->be->part_size + 1};
		break;
	case S3S_AUX_STATE:
		sp->st.prev = sp->start;
		sp->st.prev_tail = sp->start_tail;
		if ((j->text = s3s_upstate_format(&sp->st, &j->len)) == NULL) {
			s3s_job_free(j);
			sp->err = sp->err ? sp->err : -ERR_INTERNAL;
			return;
		}
		s3s_upload_key(sp->be, sp->id, "state", sp->st.size, j->key, sizeof(j->key));
		j->c = (struct s3_call){.method = "PUT", .key = j->key, .body = j->text,
		    .body_len = j->len};
		break;
	}
	sp->aux = j;
	if ((rc = s3s_run(sp, &j->c, s3s_aux_done, j, &j->a)) != 0)
		s3s_start_failed(sp, j, rc);
}

/* An aux request ended: account for it, start the next step of the
 * multipart upload's start. */
static void
s3s_aux_end(struct s3s_spool *sp)
{
	struct s3s_job *j = sp->aux;
	int rc = j->rc, step = j->step;

	sp->aux = NULL;
	switch (step) {
	case S3S_AUX_HEAD_TARGET:
		/* At the blob's key only if nothing is there yet (one that is
		 * may be garbage collection's, whose trash and restore the
		 * settle of an upload spooled apart covers). */
		if (rc != -ERR_BLOB_UNKNOWN)
			sp->target[0] = '\0';
		else
			memcpy(sp->key, sp->target, sizeof(sp->key));
		rc = 0;
		s3s_job_free(j);
		s3s_aux_start(sp, S3S_AUX_MPU_INIT);
		return;
	case S3S_AUX_MPU_INIT:
		if (rc == 0 && s3_xml_get(j->c.resp, "UploadId", sp->st.upload_id,
		    sizeof(sp->st.upload_id), NULL) != 0) {
			log_error("store: s3: CreateMultipartUpload %s: no UploadId in the answer",
			    sp->key);
			rc = -ERR_INTERNAL;
		}
		s3s_job_free(j);
		if (rc == 0 && sp->target[0] != '\0') {
			s3s_aux_start(sp, S3S_AUX_PUT_TARGET);
			return;
		}
		break;
	case S3S_AUX_PUT_TARGET:
		s3s_job_free(j);
		if (rc != 0) {
			s3s_fire(sp->be, sp->loop, sp->key, sp->st.upload_id);
			sp->st.upload_id[0] = '\0';
		}
		break;
	case S3S_AUX_GET_STATE:
		rc = s3s_upstate_take(sp->id, sp->start, j->key, rc, j->c.resp, &sp->st);
		j->c.resp = NULL;
		s3s_job_free(j);
		if (rc == 0 && sp->st.size != sp->st.parts_bytes) {
			s3s_aux_start(sp, S3S_AUX_GET_TAIL);
			return;
		}
		s3s_open_end(sp, rc, NULL, 0);
		return;
	case S3S_AUX_GET_TAIL: {
		char *tail = j->c.resp;
		size_t tlen = j->c.resp_len;

		j->c.resp = NULL;
		s3s_job_free(j);
		if ((rc = s3s_tail_check(sp->id, &sp->st, rc, &tail, tlen)) == 0 && tail == NULL)
			rc = -ERR_INTERNAL;
		s3s_open_end(sp, rc, tail, tlen);
		return;
	}
	default:			/* a flush's: s3s_flush_step goes on */
		s3s_job_free(j);
		if (rc != 0 && sp->err == 0)
			sp->err = rc;
		return;
	}
	/* The multipart upload's start ended: its parts go, or fail. */
	if (rc != 0) {
		sp->init = 0;
		if (sp->err == 0)
			sp->err = rc;
		for (int i = 0; i < sp->njobs; i++)
			if (!sp->jobs[i]->done) {
				sp->jobs[i]->done = 1;
				sp->jobs[i]->rc = rc;
			}
		return;
	}
	sp->init = 2;
	for (int i = 0; i < sp->njobs; i++)
		if (!sp->jobs[i]->done && sp->jobs[i]->a == NULL)
			s3s_part_start(sp->jobs[i]);
}

/* Make room for more bytes in sp->buf: 0 (there is), 1 (not before a
 * part in flight ends: wait), or an error. */
static int
s3s_make_room(struct s3s_spool *sp)
{
	size_t more = sp->be->part_size - sp->cap;
	char *b, *data;
	size_t dlen;
	int rc;

	if (sp->err != 0)
		return sp->err;
	if (sp->buf == NULL) {
		if (sp->nspare == 0)
			return 1;
		sp->buf = sp->spare[--sp->nspare];
		sp->len = 0;
		return 0;
	}
	if (sp->len < sp->cap)
		return 0;
	if (more > 0) {
		/* A small buffer grows to a part first. */
		if ((rc = s3s_mem_take(sp->be, more, 0)) != 0)
			return rc;
		if ((b = realloc(sp->buf, sp->be->part_size)) == NULL) {
			s3s_mem_put(sp->be, more);
			return -ERR_INTERNAL;
		}
		sp->buf = b;
		sp->cap = sp->be->part_size;
		return 0;
	}
	if (sp->njobs >= S3S_INFLIGHT)
		return 1;
	/* The full buffer goes as a part; the next bytes into a free one
	 * (within the budget), else into this one once it is back. */
	if (sp->nspare == 0 && s3s_mem_take(sp->be, sp->cap, 1) == 0) {
		if ((sp->spare[sp->nspare] = malloc(sp->cap)) != NULL)
			sp->nspare++;
		else
			s3s_mem_put(sp->be, sp->cap);
	}
	data = sp->buf;
	dlen = sp->len;
	sp->buf = sp->nspare > 0 ? sp->spare[--sp->nspare] : NULL;
	sp->len = 0;
	if ((rc = s3s_part_submit(sp, data, dlen)) != 0) {
		if (sp->buf != NULL)
			sp->spare[sp->nspare++] = sp->buf;
		sp->buf = data;
		sp->len = dlen;
		return rc;
	}
	/* Without a loop the part has been sent: its buffer is spare. */
	if (sp->buf == NULL && sp->nspare > 0) {
		sp->buf = sp->spare[--sp->nspare];
		return 0;
	}
	return sp->buf != NULL ? 0 : 1;
}

/* Copy len bytes of p in, making room as it goes: 0 (all taken), 1 (the
 * rest waits in sp->over) or an error. */
static int
s3s_spool_take(struct s3s_spool *sp, const char *p, size_t len)
{
	int rc;

	while (len > 0) {
		size_t n;

		if ((rc = s3s_make_room(sp)) < 0)
			return sp->err = rc;
		if (rc == 1) {
			if ((sp->over = malloc(len)) == NULL)
				return sp->err = -ERR_INTERNAL;
			memcpy(sp->over, p, len);
			sp->over_len = len;
			return 1;
		}
		n = sp->cap - sp->len;
		n = n < len ? n : len;
		if (p != sp->buf + sp->len)	/* not received in place */
			memmove(sp->buf + sp->len, p, n);
		sp->len += n;
		p += n;
		len -= n;
	}
	return 0;
}

static void s3s_flush_step(struct s3s_spool *sp);

/* The spool's requests moved on: account for the parts that ended (in
 * order), take in a waiting write's rest, go on with a flush; then tell
 * the writer.  Re-entered from a callback it only asks the running call
 * to go round once more, so the callbacks to the writer (which may close
 * the spool) run last, once. */
static void
s3s_progress(struct s3s_spool *sp)
{
	void (*wake)(void *) = NULL, (*fdone)(void *, int) = NULL, (*oready)(void *, int) = NULL;
	void *warg = NULL, *farg = NULL;
	void *oarg = NULL;
	int frc = 0, orc = 0;

	if (sp->busy) {
		sp->again = 1;
		return;
	}
	sp->busy = 1;
	do {
		sp->again = 0;
		while (sp->njobs > 0 && sp->jobs[0]->done) {
			struct s3s_job *j = sp->jobs[0];
			int rc = 0;

			memmove(sp->jobs, sp->jobs + 1, (size_t)(sp->njobs - 1) * sizeof(sp->jobs[0]));
			sp->njobs--;
			if (sp->nspare < (int)(sizeof(sp->spare) / sizeof(sp->spare[0]))) {
				sp->spare[sp->nspare++] = j->data;
			} else {
				/* Cannot happen (see spare): never write past it. */
				free(j->data);
				s3s_mem_put(sp->be, sp->cap);
			}
			if (sp->err == 0 && (rc = j->rc) == 0 &&
			    (rc = s3s_upstate_add(&sp->st, j->etag)) == 0)
				sp->st.parts_bytes += j->len;
			else if (sp->err == 0)
				sp->err = rc;
			j->data = NULL;
			s3s_job_free(j);
		}
		if (sp->aux != NULL && sp->aux->done)
			s3s_aux_end(sp);
		if (sp->over_len > 0 && sp->err == 0) {
			char *over = sp->over;
			size_t n = sp->over_len;
			int rc;

			sp->over = NULL;
			sp->over_len = 0;
			rc = s3s_spool_take(sp, over, n);
			free(over);
			if (rc < 0 && sp->err == 0)
				sp->err = rc;
			if (rc == 0 && sp->blocked) {
				sp->blocked = 0;
				wake = sp->wake;
			}
		}
		if (sp->err != 0 && sp->blocked) {
			/* The writer's next write gets the error. */
			sp->blocked = 0;
			wake = sp->wake;
		}
		if (sp->flushing)
			s3s_flush_step(sp);
	} while (sp->again);
	sp->busy = 0;
	warg = sp->wake_arg;
	if (!sp->flushing && sp->flush_done != NULL && !sp->flush_sync) {
		fdone = sp->flush_done;
		farg = sp->flush_arg;
		frc = sp->flush_rc;
		sp->flush_done = NULL;
	}
	if (!sp->opening && sp->open_ready != NULL) {
		oready = sp->open_ready;
		oarg = sp->open_arg;
		orc = sp->open_rc;
		sp->open_ready = NULL;
	}
	if (oready != NULL)
		oready(oarg, orc);	/* may close the spool: last */
	if (wake != NULL)
		wake(warg);
	if (fdone != NULL)
		fdone(farg, frc);	/* may close the spool: last */
}

static void
s3s_flush_end(struct s3s_spool *sp, int rc)
{
	sp->flushing = 0;
	sp->flush_rc = rc;
}

/* The steps of a flush, each once the requests before it ended. */
static void
s3s_flush_step(struct s3s_spool *sp)
{
	for (;;) {
		if (sp->err != 0 || sp->discard) {
			/* Once no transfer reads the buffers (parts waiting for
			 * a multipart upload that failed never start). */
			if (!s3s_running(sp))
				s3s_flush_end(sp, sp->err);
			return;
		}
		if (sp->aux != NULL || sp->njobs > 0 || sp->over_len > 0)
			return;		/* wait */
		switch (sp->flush_step) {
		case S3S_FLUSH_BEGIN:
			sp->flushed = 1;
			if (!sp->checkpoint) {
				sp->handoff = 1;
				s3s_flush_end(sp, 0);
				return;
			}
			if (sp->st.size == sp->start && sp->start > 0) {
				/* No new byte: state-<start> says it all. */
				s3s_flush_end(sp, 0);
				return;
			}
			sp->flush_step = S3S_FLUSH_TAIL;
			if (sp->buf != NULL && sp->len >= S3S_MIN_PART) {
				/* A remainder of a part's minimum goes as one. */
				char *data = sp->buf;
				size_t dlen = sp->len;
				int rc;

				sp->buf = NULL;
				sp->len = 0;
				if ((rc = s3s_part_submit(sp, data, dlen)) != 0) {
					sp->buf = data;
					sp->len = dlen;
					sp->err = rc;
				}
			}
			break;
		case S3S_FLUSH_TAIL:
			sp->flush_step = S3S_FLUSH_STATE;
			if (sp->buf != NULL && sp->len > 0)
				s3s_aux_start(sp, S3S_AUX_TAIL);
			break;
		case S3S_FLUSH_STATE:
			/* Last: once it is there, the session can go on from
			 * st.size anywhere. */
			sp->flush_step = S3S_FLUSH_END;
			s3s_aux_start(sp, S3S_AUX_STATE);
			break;
		default:
			s3s_flush_end(sp, 0);
			return;
		}
	}
}

static int
s3s_upload_create(struct store_be *be, const char *id)
{
	struct s3s_upstate st;
	char key[512], *text;
	size_t len;
	int rc;

	/* An empty state at 0: the session exists in the bucket (listings
	 * of uploads/ see it, and gc expires it). */
	memset(&st, 0, sizeof(st));
	if ((text = s3s_upstate_format(&st, &len)) == NULL)
		return -ERR_INTERNAL;
	s3s_upload_key(be, id, "state", 0, key, sizeof(key));
	rc = s3s_put(be, key, text, len);
	free(text);
	return rc;
}

/* The spool's buffer, with the tail of what the session holds (taken
 * over: freed here) at its start.  0 or an error. */
static int
s3s_spool_setup(struct s3s_spool *sp, char *tail, size_t tlen, uint64_t expect)
{
	struct store_be *be = sp->be;
	size_t want;
	int rc;

	if (sp->st.upload_id[0] != '\0')
		sp->init = 2;
	/* The buffer: a part's worth, or what this request will likely
	 * bring if that is less (a config blob needs not 16 MiB). */
	want = be->part_size;
	if (expect != UINT64_MAX && tlen + expect < want)
		want = tlen + (size_t)expect > 0 ? tlen + (size_t)expect : 1;
	if ((rc = s3s_mem_take(be, want, 0)) != 0) {
		free(tail);
		return rc;
	}
	if ((sp->buf = malloc(want)) == NULL) {
		s3s_mem_put(be, want);
		free(tail);
		return -ERR_INTERNAL;
	}
	sp->cap = want;
	sp->start_tail = tlen > 0;
	if (tlen > 0)
		memcpy(sp->buf, tail, tlen);
	sp->len = tlen;
	free(tail);
	sp->st.size = sp->start;
	/* The objects of the size before this one are no longer needed
	 * once the metadata moved on to `size` (which it did: we were
	 * opened at it).  Best effort, on the loop once the spool is on one
	 * (upload_remove takes what is left). */
	sp->del_prev = sp->start > 0 && sp->st.prev != sp->start;
	return 0;
}

static struct s3s_spool *
s3s_spool_new(struct store_be *be, const char *id, uint64_t size)
{
	struct s3s_spool *sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return NULL;
	sp->base.ops = &store_s3_ops;
	sp->be = be;
	snprintf(sp->id, sizeof(sp->id), "%s", id);
	s3s_upload_key(be, id, "data", UINT64_MAX, sp->key, sizeof(sp->key));
	sp->start = size;
	return sp;
}

/* A spool opened at `size` blocks for the two small GETs of its state and
 * tail; commands and tests use it, requests s3s_spool_open_start. */
static int
s3s_spool_open(struct store_be *be, const char *id, uint64_t size, uint64_t expect,
    struct store_spool **out)
{
	struct s3s_spool *sp;
	char *tail = NULL;
	size_t tlen = 0;
	int rc;

	if ((sp = s3s_spool_new(be, id, size)) == NULL)
		return -ERR_INTERNAL;
	if ((size > 0 && (rc = s3s_upstate_load(be, id, size, &sp->st, &tail, &tlen)) != 0) ||
	    (rc = s3s_spool_setup(sp, tail, tlen, expect)) != 0) {
		s3s_upstate_free(&sp->st);
		free(sp);
		return rc;
	}
	*out = &sp->base;
	return 0;
}

/* The state (and tail) of an opening spool arrived, or failed: rc. */
static void
s3s_open_end(struct s3s_spool *sp, int rc, char *tail, size_t tlen)
{
	if (rc == 0)
		rc = s3s_spool_setup(sp, tail, tlen, sp->expect);
	else
		free(tail);
	sp->opening = 0;
	sp->open_rc = rc;
	if (rc != 0 && sp->err == 0)
		sp->err = rc;
}

static int
s3s_spool_open_start(struct store_be *be, struct event_base *base, const char *id,
    uint64_t size, uint64_t expect, void (*ready)(void *arg, int rc), void *arg,
    struct store_spool **out)
{
	struct s3s_spool *sp;
	struct s3_loop *l;

	/* Nothing to load (a new session), or no loop: at once. */
	if (size == 0 || (l = s3s_loop_of(be, base)) == NULL)
		return s3s_spool_open(be, id, size, expect, out);
	if ((sp = s3s_spool_new(be, id, size)) == NULL)
		return -ERR_INTERNAL;
	sp->loop = l;
	sp->expect = expect;
	sp->opening = 1;
	sp->open_ready = ready;
	sp->open_arg = arg;
	s3s_aux_start(sp, S3S_AUX_GET_STATE);
	if (sp->aux == NULL || sp->aux->done) {
		int rc = sp->aux != NULL ? sp->aux->rc : -ERR_INTERNAL;

		if (sp->aux != NULL)
			s3s_job_free(sp->aux);
		free(sp);
		return rc;
	}
	*out = &sp->base;
	return STORE_PENDING;
}

/* The hash state saved with the bytes the spool was opened at. */
static int
s3s_spool_hash(struct store_spool *base, struct hasher **h)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;

	*h = NULL;
	if (sp->start == 0 || sp->opening || sp->err != 0)
		return -ERR_UNSUPPORTED;
	if (sp->st.hashlen == 0 || (*h = hasher_import(sp->st.hash, sp->st.hashlen)) == NULL) {
		log_error("store: s3: upload %s: no usable hash state at %llu bytes", sp->id,
		    (unsigned long long)sp->start);
		return -ERR_BLOB_UPLOAD_INVALID;
	}
	return 0;
}

static void
s3s_spool_del_prev(struct s3s_spool *sp)
{
	char key[512];

	if (!sp->del_prev)
		return;
	sp->del_prev = 0;
	s3s_upload_key(sp->be, sp->id, "state", sp->st.prev, key, sizeof(key));
	s3s_fire(sp->be, sp->loop, key, NULL);
	if (sp->st.prev_tail) {
		s3s_upload_key(sp->be, sp->id, "tail", sp->st.prev, key, sizeof(key));
		s3s_fire(sp->be, sp->loop, key, NULL);
	}
}

static void
s3s_spool_attach(struct store_spool *base, struct event_base *ev, void (*wake)(void *),
    void *arg)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;

	/* No multi handle for this loop (out of memory): requests block. */
	if ((sp->loop = s3s_loop_of(sp->be, ev)) == NULL)
		log_warn("store: s3: upload %s: no transfer handle on this loop; sending in line",
		    sp->id);
	sp->wake = wake;
	sp->wake_arg = arg;
	s3s_spool_del_prev(sp);
}

static int
s3s_spool_write(struct store_spool *base, const void *data, size_t len)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;
	int rc;

	if (sp->err != 0)
		return sp->err;
	if (sp->over_len > 0)
		return sp->err = -ERR_INTERNAL;	/* written to while full */
	/* Room is made only when more bytes come: a buffer sized to the
	 * request is never grown, and bytes received in place stay where
	 * they are until the next write. */
	sp->st.size += len;
	if ((rc = s3s_spool_take(sp, data, len)) == 1) {
		sp->blocked = 1;
		/* A part that ended within this call (one that failed to
		 * start, or any on a spool without a loop) brings no callback
		 * of its own: reap it now, or the writer would wait for a wake
		 * that never comes.  A wake given here finds the body not yet
		 * paused (a no-op), and the write answers as if never full. */
		if (sp->err != 0 || (sp->njobs > 0 && sp->jobs[0]->done) ||
		    (sp->aux != NULL && sp->aux->done)) {
			s3s_progress(sp);
			if (!sp->blocked)
				return sp->err;
		}
		return STORE_SPOOL_FULL;
	}
	return rc;
}

static char *
s3s_spool_window(struct store_spool *base, size_t *cap)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;

	if (sp->err != 0 || sp->buf == NULL || sp->over_len > 0 || sp->len == sp->cap) {
		*cap = 0;
		return NULL;
	}
	*cap = sp->cap - sp->len;
	return sp->buf + sp->len;
}

static int
s3s_spool_checkpoint(struct store_spool *base, const struct hasher *h)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;

	/* A PUT at the blob's key cut off: its parts cannot go on as another
	 * blob's, so none of its bytes are kept (the session stays where it
	 * was, and the spool's close aborts them). */
	if (sp->target[0] != '\0' && sp->init != 0)
		return -ERR_BLOB_UPLOAD_INVALID;
	sp->target[0] = '\0';
	if ((sp->st.hashlen = hasher_export(h, sp->st.hash, sizeof(sp->st.hash))) == 0)
		return -ERR_INTERNAL;
	sp->checkpoint = 1;
	return 0;
}

static void
s3s_spool_target(struct store_spool *base, const struct digest *d)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;

	if (sp->start == 0 && sp->init == 0)
		s3s_blob_key(sp->be, d, sp->target, sizeof(sp->target));
}

/* End of a request's bytes.  With a checkpoint (a PATCH): a remainder of
 * at least 5 MiB goes as a part, the rest as tail-<size>, and
 * state-<size> last: once it is there, the session can go on from <size>
 * anywhere.  Without (the closing PUT, a monolithic POST): the state
 * stays in memory for the commit that follows (spool_close hands it on).
 * First every part in flight ends. */
static int
s3s_spool_flush_start(struct store_spool *base, void (*done)(void *arg, int rc), void *arg)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;

	if (sp->flushing)
		return -ERR_INTERNAL;
	s3s_spool_del_prev(sp);		/* never attached: here */
	sp->flushing = 1;
	sp->flush_step = S3S_FLUSH_BEGIN;
	sp->flush_done = done;
	sp->flush_arg = arg;
	sp->flush_sync = 1;
	s3s_progress(sp);
	sp->flush_sync = 0;
	if (sp->flushing)
		return STORE_PENDING;
	sp->flush_done = NULL;
	return sp->flush_rc;
}

static int
s3s_spool_flush(struct store_spool *base)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;
	int rc;

	/* Only a spool on no loop completes in line. */
	if ((rc = s3s_spool_flush_start(base, NULL, NULL)) == STORE_PENDING) {
		log_error("store: s3: upload %s: flushed in line on a loop", sp->id);
		return -ERR_INTERNAL;
	}
	return rc;
}

static int
s3s_spool_truncate(struct store_spool *base, uint64_t size)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;

	/* Only ever back to where it was opened: state-<start> still holds;
	 * parts this writer sent past it are overwritten by the next one. */
	if (size != sp->start)
		return -ERR_INTERNAL;
	sp->discard = 1;
	return 0;
}

static void
s3s_spool_close(struct store_spool *base)
{
	struct s3s_spool *sp = (struct s3s_spool *)base;
	struct s3s_handoff *h = NULL, *old = NULL;
	struct store_be *be;

	if (sp == NULL)
		return;
	be = sp->be;
	/* Requests still in flight (a failed or cut-off writer) stop here;
	 * their buffers go with them. */
	while (sp->njobs > 0) {
		struct s3s_job *j = sp->jobs[--sp->njobs];

		if (j->data != NULL) {
			s3s_mem_put(be, sp->cap);
			free(j->data);
		}
		s3s_job_free(j);
	}
	if (sp->aux != NULL) {
		s3s_job_free(sp->aux);
		sp->aux = NULL;
	}
	free(sp->over);
	while (sp->nspare > 0) {
		s3s_mem_put(be, sp->cap);
		free(sp->spare[--sp->nspare]);
	}
	if (sp->handoff && sp->err == 0 && !sp->discard && sp->buf != NULL &&
	    (h = calloc(1, sizeof(*h))) != NULL) {
		snprintf(h->id, sizeof(h->id), "%s", sp->id);
		h->st = sp->st;
		h->buf = sp->buf;
		h->len = sp->len;
		h->cap = sp->cap;
		if (sp->target[0] != '\0' && sp->st.upload_id[0] != '\0')
			memcpy(h->target, sp->target, sizeof(h->target));
		sp->st.etags = NULL;
		sp->buf = NULL;
		old = s3s_handoff_take(be, sp->id);
		pthread_mutex_lock(&be->mu);
		h->next = be->handoffs;
		be->handoffs = h;
		be->nhandoffs++;
		if (be->nhandoffs > S3S_HANDOFF_MAX && old == NULL) {
			/* Commits that never came (bounded): drop the oldest. */
			struct s3s_handoff **pp = &be->handoffs;

			while ((*pp)->next != NULL)
				pp = &(*pp)->next;
			old = *pp;
			*pp = NULL;
			be->nhandoffs--;
		}
		pthread_mutex_unlock(&be->mu);
		if (old != NULL)
			s3s_handoff_free(be, old);
	} else if (sp->target[0] != '\0' && sp->st.upload_id[0] != '\0') {
		s3s_fire(be, sp->loop, sp->target, sp->st.upload_id);
	}
	if (sp->buf != NULL) {
		s3s_mem_put(be, sp->cap);
		free(sp->buf);
	}
	s3s_upstate_free(&sp->st);
	free(sp);
}

/* The latest state of an upload from its objects (a commit or a read in a
 * process that did not receive its last bytes). */
struct s3s_latest {
	char prefix[512];
	uint64_t size;
	int found;
};

static int
s3s_latest_fn(void *arg, const struct s3s_obj *o)
{
	struct s3s_latest *l = arg;
	const char *name = o->key + strlen(l->prefix);
	char *end;
	unsigned long long v;

	if (strncmp(name, "state-", 6) != 0)
		return 0;
	v = strtoull(name + 6, &end, 10);
	if (end == name + 6 || *end != '\0')
		return 0;
	if (!l->found || v > l->size)
		l->size = v;
	l->found = 1;
	return 0;
}

/* The upload's state and tail: the handoff, else the latest in the bucket. */
static int
s3s_upload_state(struct store_be *be, const char *id, struct s3s_handoff **out)
{
	struct s3s_latest l;
	struct s3s_handoff *h;
	int rc;

	if ((*out = s3s_handoff_take(be, id)) != NULL)
		return 0;
	memset(&l, 0, sizeof(l));
	(void)s3s_key(be, l.prefix, sizeof(l.prefix), "uploads/%s/", id);
	if ((rc = s3s_list(be, l.prefix, s3s_latest_fn, &l)) != 0)
		return rc;
	if (!l.found)
		return -ERR_BLOB_UPLOAD_UNKNOWN;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ERR_INTERNAL;
	snprintf(h->id, sizeof(h->id), "%s", id);
	if (l.size == 0) {
		*out = h;
		return 0;
	}
	if ((rc = s3s_upstate_load(be, id, l.size, &h->st, &h->buf, &h->len)) != 0) {
		free(h);
		return rc;
	}
	*out = h;
	return 0;
}

static int
s3s_upload_resume(struct store_be *be, const char *id, uint64_t size, struct hasher **h)
{
	struct s3s_upstate st;
	int rc;

	*h = NULL;
	if ((rc = s3s_upstate_load(be, id, size, &st, NULL, NULL)) != 0)
		return rc;
	if (st.hashlen > 0)
		*h = hasher_import(st.hash, st.hashlen);
	s3s_upstate_free(&st);
	if (*h == NULL) {
		log_error("store: s3: upload %s: no usable hash state at %llu bytes", id,
		    (unsigned long long)size);
		return -ERR_BLOB_UPLOAD_INVALID;
	}
	return 0;
}

/* An upload read back (the closing digest of another algorithm than the
 * chunks were hashed with): possible while it is all in its tail; the
 * parts of an unfinished multipart upload cannot be read. */
static int
s3s_upload_reader(struct store_be *be, const char *id, struct store_reader *r)
{
	char path[PATH_MAX + 64];
	struct s3s_handoff *h;
	struct s3s_reader *sr;
	struct stat st;
	int rc;

	s3s_local_path(be, id, path, sizeof(path));
	if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		if (fstat(r->fd, &st) != 0) {
			close(r->fd);
			r->fd = -1;
			return -ERR_INTERNAL;
		}
		r->size = (uint64_t)st.st_size;
		return 0;
	}
	if ((rc = s3s_upload_state(be, id, &h)) != 0)
		return rc;
	if (h->st.nparts > 0) {
		log_warn("store: s3: upload %s: its parts cannot be read back before it completes",
		    id);
		rc = -ERR_UNSUPPORTED;
	} else if ((sr = calloc(1, sizeof(*sr))) == NULL) {
		rc = -ERR_INTERNAL;
	} else {
		sr->be = be;
		sr->mem = 1;
		sr->ra = malloc(h->len > 0 ? h->len : 1);
		if (sr->ra == NULL) {
			free(sr);
			rc = -ERR_INTERNAL;
		} else {
			if (h->len > 0)
				memcpy(sr->ra, h->buf, h->len);
			sr->ra_len = h->len;
			r->size = h->len;
			r->state = sr;
		}
	}
	/* A handoff goes back for the commit. */
	if (h->cap > 0) {
		pthread_mutex_lock(&be->mu);
		h->next = be->handoffs;
		be->handoffs = h;
		be->nhandoffs++;
		pthread_mutex_unlock(&be->mu);
	} else {
		free(h->buf);
		s3s_upstate_free(&h->st);
		free(h);
	}
	return rc;
}

static int
s3s_upload_commit(struct store_be *be, const char *id, const struct digest *d, uint64_t want)
{
	struct s3s_handoff *h;
	char key[512], path[PATH_MAX + 64];
	uint64_t size, total;
	double t0, t1, t2;
	int rc;

	s3s_local_path(be, id, path, sizeof(path));
	if (access(path, F_OK) == 0) {
		s3s_blob_key(be, d, key, sizeof(key));
		if (s3s_head(be, key, &size, NULL) == 0)
			return 0;
		return s3s_local_commit(be, id, key);
	}
	if ((rc = s3s_upload_state(be, id, &h)) != 0)
		return rc;
	total = h->st.parts_bytes + h->len;
	s3s_blob_key(be, d, key, sizeof(key));
	t0 = s3s_now();
	if (want != UINT64_MAX && total != want) {
		/* The state found (the bucket's latest, when this process has
		 * no handoff) is not what the caller verified: its bytes are
		 * not the digest's.  An empty state-0 would put an empty object
		 * at the blob's key. */
		log_error("store: s3: upload %s: %llu bytes stored, %llu verified; not committing "
		    "%s", id, (unsigned long long)total, (unsigned long long)want, d->str);
		rc = -ERR_BLOB_UPLOAD_INVALID;
	} else if (h->target[0] != '\0' && strcmp(h->target, key) != 0) {
		log_error("store: s3: upload %s was staged for another digest than %s", id, d->str);
		rc = -ERR_INTERNAL;	/* upload.c gives the digest it verified */
	} else if (h->target[0] == '\0' && s3s_head(be, key, &size, NULL) == 0) {
		rc = 0;			/* the same content is there: keep it */
	} else if (h->st.nparts == 0) {
		rc = s3s_put(be, key, h->buf, h->len);
	} else {
		const char *how = "copied";
		char data[512];

		/* Staged at the blob's key (spool_target), the completion
		 * installs it: verified bytes, the same as any copy there. */
		if (h->target[0] != '\0')
			memcpy(data, h->target, sizeof(data));
		else
			s3s_upload_key(be, id, "data", UINT64_MAX, data, sizeof(data));
		rc = 0;
		if (h->len > 0) {
			char etag[80];

			/* The last part may be short. */
			if ((rc = s3s_mpu_part(be, data, h->st.upload_id, h->st.nparts + 1, h->buf,
			    h->len, etag)) == 0)
				rc = s3s_upstate_add(&h->st, etag);
		}
		t1 = s3s_now();
		if (rc == 0)
			rc = s3s_mpu_complete(be, data, h->st.upload_id, h->st.etags, h->st.nparts);
		t2 = s3s_now();
		if (rc == 0 && h->target[0] != '\0') {
			how = "at its key";
			h->target[0] = '\0';	/* completed: nothing to abort */
			s3s_upload_key(be, id, "target", UINT64_MAX, data, sizeof(data));
			(void)s3s_delete(be, data);
		} else if (rc == 0) {
			rc = s3s_copy(be, data, key, total);
		}
		log_debug("store: s3: commit %s (%llu bytes, %s): last part %.3fs, complete %.3fs, "
		    "then %.3fs", d->str, (unsigned long long)total, how, t1 - t0, t2 - t1,
		    s3s_now() - t2);
	}
	if (h->cap > 0) {
		s3s_handoff_free(be, h);
	} else {
		free(h->buf);
		s3s_upstate_free(&h->st);
		free(h);
	}
	return rc;
}

struct s3s_keys {
	struct store_be *be;
	int rc;
};

static int
s3s_delete_fn(void *arg, const struct s3s_obj *o)
{
	struct s3s_keys *k = arg;
	size_t klen = strlen(o->key), len;
	char *text, *nl;
	int rc;

	/* A multipart upload at a blob's key (s3s_aux_start) that no
	 * commit completed: abort it (after completion: a no-op). */
	if (klen > 7 && strcmp(o->key + klen - 7, "/target") == 0 &&
	    s3s_get_all(k->be, o->key, 4096, &text, &len) == 0) {
		if ((nl = strchr(text, '\n')) != NULL) {
			*nl = '\0';
			if (strchr(nl + 1, '\n') != NULL)
				*strchr(nl + 1, '\n') = '\0';
			(void)s3s_mpu_abort(k->be, text, nl + 1);
		}
		free(text);
	}
	rc = s3s_delete(k->be, o->key);

	if (rc != 0 && k->rc == 0)
		k->rc = rc;
	return 0;
}

static int
s3s_upload_remove(struct store_be *be, const char *id)
{
	struct s3_param q[2] = {{"uploads", ""}, {"prefix", NULL}};
	struct s3_call c = {.method = "GET", .query = q, .nquery = 2};
	struct s3s_keys k = {.be = be};
	struct s3s_handoff *h;
	char prefix[512], local[PATH_MAX + 64];
	const char *p;
	int rc;

	if ((h = s3s_handoff_take(be, id)) != NULL)
		s3s_handoff_free(be, h);
	s3s_local_path(be, id, local, sizeof(local));
	if (unlink(local) != 0 && errno != ENOENT)
		log_warn("store: unlink %s: %s", local, strerror(errno));
	(void)s3s_key(be, prefix, sizeof(prefix), "uploads/%s/", id);
	q[1].value = prefix;
	/* Every multipart upload under the session's prefix (a crashed
	 * attempt may have started one no state names) is aborted. */
	if ((rc = s3_do(be->s3, &c)) != 0) {
		s3_call_free(&c);
		return rc;
	}
	for (p = c.resp; p != NULL && (p = strstr(p, "<Upload>")) != NULL;) {
		char key[1100], uid[256];
		const char *next = strstr(p, "</Upload>");

		if (next == NULL)
			break;
		if (s3_xml_get(p, "Key", key, sizeof(key), NULL) == 0 &&
		    s3_xml_get(p, "UploadId", uid, sizeof(uid), NULL) == 0 &&
		    (rc = s3s_mpu_abort(be, key, uid)) != 0 && k.rc == 0)
			k.rc = rc;
		p = next + 9;
	}
	s3_call_free(&c);
	if ((rc = s3s_list(be, prefix, s3s_delete_fn, &k)) != 0)
		return rc;
	return k.rc;
}

static int
s3s_upload_settle(struct store_be *be, const char *id, const struct digest *d)
{
	char key[512], data[512];
	uint64_t size;

	/* Garbage collection may have taken an existing copy between the
	 * commit's check and the row: then the upload's object goes in.
	 * XXX: a blob that never filled a part has no object of its own
	 * here to put back. */
	s3s_blob_key(be, d, key, sizeof(key));
	s3s_upload_key(be, id, "data", UINT64_MAX, data, sizeof(data));
	if (s3s_head(be, key, &size, NULL) == -ERR_BLOB_UNKNOWN &&
	    s3s_head(be, data, &size, NULL) == 0) {
		log_warn("store: %s vanished while being pushed again; installing the new copy",
		    d->str);
		(void)s3s_copy(be, data, key, size);
	}
	return s3s_upload_remove(be, id);
}

/* ------------------------------------------------------------ gc and fsck */

static void
s3s_blob_file(const struct store_be *be, const struct digest *d, char *out, size_t cap)
{
	char key[512];

	s3s_blob_key(be, d, key, sizeof(key));
	snprintf(out, cap, "s3://%s/%s", be->bucket, key);
}

/* Move src to dst: copy, then delete the source. */
static int
s3s_move(struct store_be *be, const char *src, const char *dst, uint64_t size)
{
	int rc;

	if ((rc = s3s_copy(be, src, dst, size)) != 0)
		return rc;
	return s3s_delete(be, src);
}

static int
s3s_blob_trash(struct store_be *be, const struct digest *d, char *name, size_t cap,
    uint64_t *size)
{
	unsigned char r[8];
	char key[512], trash[512];
	int rc;

	s3s_blob_key(be, d, key, sizeof(key));
	if ((rc = s3s_head(be, key, size, NULL)) != 0)
		return rc;
	randombytes_buf(r, sizeof(r));
	snprintf(name, cap, "%s-%s.%02x%02x%02x%02x%02x%02x%02x%02x", digest_alg_name(d->alg),
	    digest_hex(d), r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	(void)s3s_key(be, trash, sizeof(trash), "trash/%s", name);
	return s3s_move(be, key, trash, *size);
}

static int
s3s_trash_restore(struct store_be *be, const char *name, const struct digest *d)
{
	char key[512], trash[512];
	uint64_t size;
	int rc;

	s3s_blob_key(be, d, key, sizeof(key));
	(void)s3s_key(be, trash, sizeof(trash), "trash/%s", name);
	/* A pusher installed the same content again: keep theirs. */
	if ((rc = s3s_head(be, key, &size, NULL)) == 0)
		return s3s_delete(be, trash);
	if (rc != -ERR_BLOB_UNKNOWN)
		return rc;
	return s3s_move(be, trash, key, UINT64_MAX);
}

static int
s3s_trash_remove(struct store_be *be, const char *name)
{
	char trash[512];

	(void)s3s_key(be, trash, sizeof(trash), "trash/%s", name);
	return s3s_delete(be, trash);
}

static int
s3s_blob_quarantine(struct store_be *be, const struct digest *d, char *dest, size_t cap)
{
	char key[512], q[512];
	uint64_t size;
	int rc;

	s3s_blob_key(be, d, key, sizeof(key));
	if ((rc = s3s_head(be, key, &size, NULL)) != 0)
		return rc;
	/* Keep every copy that was ever quarantined. */
	for (int i = 0; i < 1000; i++) {
		uint64_t qs;

		if (i == 0)
			(void)s3s_key(be, q, sizeof(q), "quarantine/%s-%s", digest_alg_name(d->alg),
			    digest_hex(d));
		else
			(void)s3s_key(be, q, sizeof(q), "quarantine/%s-%s.%d",
			    digest_alg_name(d->alg), digest_hex(d), i);
		if ((rc = s3s_head(be, q, &qs, NULL)) == 0)
			continue;
		if (rc != -ERR_BLOB_UNKNOWN)
			return rc;
		snprintf(dest, cap, "s3://%s/%s", be->bucket, q);
		return s3s_move(be, key, q, size);
	}
	log_error("store: quarantine: too many copies of %s", d->str);
	return -ERR_INTERNAL;
}

struct s3s_each {
	struct store_be *be;
	enum store_area area;
	store_each_fn fn;
	void *arg;
	size_t plen;			/* of the area's prefix */
	/* uploads: the session being gathered (keys come sorted) */
	char id[256];
	int64_t mtime;
	uint64_t size;
};

static int
s3s_each_emit(struct s3s_each *e, const char *key, const char *name, const struct digest *d,
    uint64_t size, int64_t mtime)
{
	char path[1200];
	struct store_file f;

	snprintf(path, sizeof(path), "s3://%s/%s", e->be->bucket, key);
	memset(&f, 0, sizeof(f));
	f.path = path;
	f.name = name;
	f.digest = d;
	f.regular = 1;
	f.size = size;
	f.mtime = f.ctime = mtime;
	return e->fn(e->arg, &f);
}

static int
s3s_each_upload_flush(struct s3s_each *e)
{
	char key[600];
	int rc;

	if (e->id[0] == '\0')
		return 0;
	(void)s3s_key(e->be, key, sizeof(key), "uploads/%s/", e->id);
	rc = s3s_each_emit(e, key, e->id, NULL, e->size, e->mtime);
	e->id[0] = '\0';
	return rc;
}

static int
s3s_each_fn(void *arg, const struct s3s_obj *o)
{
	struct s3s_each *e = arg;
	const char *rest = o->key + e->plen, *slash;
	int rc;

	if (e->area == STORE_BLOBS) {
		char alg[16], sub[8], s[DIGEST_STR_MAX + 8];
		const char *a = rest, *b, *c;
		struct digest d;

		/* <alg>/<2 hex>/<hex> names a blob; anything else is a stray. */
		if ((b = strchr(a, '/')) != NULL && (c = strchr(b + 1, '/')) != NULL &&
		    (size_t)(b - a) < sizeof(alg) && (size_t)(c - b - 1) < sizeof(sub) &&
		    strchr(c + 1, '/') == NULL) {
			memcpy(alg, a, (size_t)(b - a));
			alg[b - a] = '\0';
			memcpy(sub, b + 1, (size_t)(c - b - 1));
			sub[c - b - 1] = '\0';
			if (snprintf(s, sizeof(s), "%s:%s", alg, c + 1) < (int)sizeof(s) &&
			    digest_parse(s, &d) == 0 && strcmp(d.str, s) == 0 && strlen(sub) == 2 &&
			    strncmp(sub, c + 1, 2) == 0)
				return s3s_each_emit(e, o->key, c + 1, &d, o->size, o->mtime);
		}
		slash = strrchr(rest, '/');
		return s3s_each_emit(e, o->key, slash ? slash + 1 : rest, NULL, o->size, o->mtime);
	}
	if (e->area == STORE_TRASH)
		return s3s_each_emit(e, o->key, rest, NULL, o->size, o->mtime);
	/* uploads/<id>/...: one entry per session, its newest object's time. */
	slash = strchr(rest, '/');
	if (slash == NULL || (size_t)(slash - rest) >= sizeof(e->id))
		return s3s_each_emit(e, o->key, rest, NULL, o->size, o->mtime);
	if (strlen(e->id) != (size_t)(slash - rest) || strncmp(e->id, rest, (size_t)(slash - rest)) != 0) {
		if ((rc = s3s_each_upload_flush(e)) != 0)
			return rc;
		memcpy(e->id, rest, (size_t)(slash - rest));
		e->id[slash - rest] = '\0';
		e->mtime = 0;
		e->size = 0;
	}
	if (o->mtime > e->mtime)
		e->mtime = o->mtime;
	e->size += o->size;
	return 0;
}

static int
s3s_each(struct store_be *be, enum store_area area, store_each_fn fn, void *arg)
{
	static const char *const areas[] = {"blobs/", "uploads/", "trash/"};
	struct s3s_each e = {.be = be, .area = area, .fn = fn, .arg = arg};
	char prefix[512];
	int rc;

	(void)s3s_key(be, prefix, sizeof(prefix), "%s", areas[area]);
	e.plen = strlen(prefix);
	rc = s3s_list(be, prefix, s3s_each_fn, &e);
	if (rc == 0 && area == STORE_UPLOADS)
		rc = s3s_each_upload_flush(&e);
	return rc;
}

const struct store_ops store_s3_ops = {
	.name = "s3",
	.open = s3s_open,
	.close = s3s_close,
	.root = s3s_root,
	.writable = s3s_writable,
	.free_bytes = s3s_free_bytes,
	.blob_stat = s3s_blob_stat,
	.blob_reader = s3s_blob_reader,
	.blob_put = s3s_blob_put,
	.blob_remove = s3s_blob_remove,
	.reader_read = s3s_reader_read,
	.reader_close = s3s_reader_close,
	.upload_create = s3s_upload_create,
	.upload_open = s3s_upload_open,
	.upload_reader = s3s_upload_reader,
	.spool_open = s3s_spool_open,
	.spool_write = s3s_spool_write,
	.spool_window = s3s_spool_window,
	.spool_flush = s3s_spool_flush,
	.spool_truncate = s3s_spool_truncate,
	.spool_close = s3s_spool_close,
	.upload_commit = s3s_upload_commit,
	.upload_settle = s3s_upload_settle,
	.upload_remove = s3s_upload_remove,
	.blob_file = s3s_blob_file,
	.blob_trash = s3s_blob_trash,
	.trash_restore = s3s_trash_restore,
	.trash_remove = s3s_trash_remove,
	.blob_quarantine = s3s_blob_quarantine,
	.each = s3s_each,
	.spool_checkpoint = s3s_spool_checkpoint,
	.upload_resume = s3s_upload_resume,
	.blob_redirect = s3s_blob_redirect,
	.stream_start = s3s_stream_start,
	.stream_resume = s3s_stream_resume,
	.stream_cancel = s3s_stream_cancel,
	.loop_done = s3s_loop_done,
	.spool_target = s3s_spool_target,
	.spool_attach = s3s_spool_attach,
	.spool_flush_start = s3s_spool_flush_start,
	.spool_open_start = s3s_spool_open_start,
	.spool_hash = s3s_spool_hash,
	.blob_stat_start = s3s_blob_stat_start,
	.blob_read_start = s3s_blob_read_start,
	.stat_remote = 1,
};
