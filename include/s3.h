/* s3.h — a small client of the S3 protocol (AWS Signature Version 4) for
 * the S3 blob backend (store_s3.c).
 *
 * Requests are signed here (canonical request, string to sign, signing
 * key; HMAC-SHA256 and SHA-256 from digest.c) and carried by libcurl
 * (loaded through curl_dl.c).  s3_do is blocking, on a per-thread easy
 * handle that is reused so its connection stays open, for commands
 * without an event loop; s3_call_start is the same request as a transfer
 * on a libevent loop (curl multi driven by the loop's events), and
 * s3_get_start an asynchronous GET that streams a blob to a client.
 * Bodies are sent with x-amz-content-sha256: UNSIGNED-PAYLOAD (radosgw
 * and AWS accept it; curl does not add the header by itself).  Nothing here knows blobs:
 * keys are strings, relative to the bucket. */
#ifndef OCIREGD_S3_H
#define OCIREGD_S3_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What a client needs (the [s3] section, resolved: secret read from its
 * file or the environment by the caller). */
struct s3_conf {
	char endpoint[512];		/* http(s)://host[:port] */
	char bucket[64];
	char region[64];
	int path_style;			/* endpoint/bucket/key, else bucket.host/key */
	char access_key[256];
	char secret_key[256];
};

struct s3;

/* A client for c; NULL (with the reason in err) when the endpoint is not
 * an http(s) URL or libcurl cannot be loaded.  Free with s3_free. */
struct s3 *s3_new(const struct s3_conf *c, char *err, size_t cap);
void s3_free(struct s3 *s);

struct s3_param {
	const char *name;
	const char *value;		/* "" for a bare ?uploads= */
};

/* Bodies of answers kept in memory (XML) are capped at this. */
#define S3_RESP_MAX (4u << 20)

/* One request.  The caller fills the first group and zeroes the rest. */
struct s3_call {
	const char *method;		/* GET PUT POST HEAD DELETE */
	const char *key;		/* object key; NULL: the bucket itself */
	const struct s3_param *query;
	size_t nquery;
	const char *range;		/* a Range header value, or NULL */
	const char *copy_source;	/* x-amz-copy-source key (same bucket), or NULL */
	const char *copy_range;		/* x-amz-copy-source-range, or NULL */
	const void *body;		/* PUT/POST body from memory */
	size_t body_len;
	size_t resp_max;		/* cap of resp; 0: S3_RESP_MAX */
	int quiet;			/* the caller logs a failure itself */
	char *sink;			/* a GET's body into this buffer ... */
	size_t sink_cap;		/* ... of this size (else into resp) */
	/* answers */
	long status;			/* HTTP status of the last try, 0: none */
	char *resp;			/* the body (NUL-terminated), malloc'd */
	size_t resp_len;
	size_t sink_len;		/* bytes written to sink */
	uint64_t length;		/* Content-Length of the answer */
	int64_t mtime;			/* Last-Modified (unix), 0 if absent */
	char etag[128];			/* ETag, quotes included */
	char code[64];			/* the error document's <Code>, or "" */
};

/* Carry out c, retrying throttling (503 SlowDown), 500/502/504 and broken
 * connections a few times with capped exponential backoff (at most about
 * 3 s in all).  0 for a 2xx answer; -ERR_BLOB_UNKNOWN for 404;
 * -ERR_UNAVAILABLE when the endpoint cannot be reached or keeps failing;
 * -ERR_DENIED for 403; -ERR_INTERNAL otherwise (logged with the S3 error
 * code).  Blocks the calling thread.  Release c with s3_call_free. */
int s3_do(struct s3 *s, struct s3_call *c);
void s3_call_free(struct s3_call *c);

/* A presigned GET URL for key valid for `expires` seconds from now
 * (query-string SigV4), into out.  0, or -1 if it does not fit. */
int s3_presign(struct s3 *s, const char *key, int expires, time_t now, char *out, size_t cap);

/* ---- requests on an event loop ---- */

struct event_base;
struct s3_loop;
struct s3_get;
struct s3_async;

/* The curl multi handle of one event loop (a worker's); NULL on failure.
 * Free after every s3_get on it finished; calls (s3_call_start) still
 * running then end at once with done(-ERR_UNAVAILABLE), and no new one
 * starts. */
struct s3_loop *s3_loop_new(struct event_base *base);
void s3_loop_free(struct s3_loop *l);

/* The end of an asynchronous call, on the loop's thread: rc as s3_do
 * returns it, c's answers filled in.  The call is already freed: done may
 * free c and start the next call. */
typedef void (*s3_call_done_fn)(void *arg, int rc);
/* Carry out c as s3_do does (the same signing, answers and retry rules,
 * with the backoff waited on a timer of the loop, never by sleeping) as a
 * transfer on l: 0, and done runs once, later (never from within this
 * call); or a negated reg_error, and it will not.  c (its key, query and
 * body too) stays the caller's and must live until done; the body is
 * sent from memory.  *out (may be NULL) serves s3_call_cancel until done
 * ran.  Does not block. */
int s3_call_start(struct s3 *s, struct s3_loop *l, struct s3_call *c, s3_call_done_fn done,
    void *arg, struct s3_async **out);
/* Stop a call and free it; done is not called (c's answer is then
 * whatever a try left in it: release it with s3_call_free). */
void s3_call_cancel(struct s3_async *a);

/* Callbacks of an asynchronous GET, all on the loop's thread.  data: bytes
 * of the body; return 0 to go on, 1 to pause (the client's queue is full:
 * resume with s3_get_resume), -1 to cancel.  done: once, at the end, with
 * 0 (every byte delivered) or a negated reg_error; the s3_get is freed
 * right after done returns. */
struct s3_get_cb {
	int (*data)(void *arg, const char *p, size_t len);
	void (*done)(void *arg, int rc);
	/* While paused, once a second: 0 if the reader is gone (the GET
	 * then ends with done(-ERR_UNAVAILABLE)).  May be NULL. */
	int (*alive)(void *arg);
	void *arg;
};
/* GET bytes [off, off + len) of key on loop l: 0 (the callbacks will run)
 * or a negated reg_error (they will not).  *out may be used to resume or
 * cancel until done ran. */
int s3_get_start(struct s3 *s, struct s3_loop *l, const char *key, uint64_t off, uint64_t len,
    const struct s3_get_cb *cb, struct s3_get **out);
void s3_get_resume(struct s3_get *g);
/* Stop and free g without calling done. */
void s3_get_cancel(struct s3_get *g);

/* ---- pieces, exported for the unit tests ---- */

/* RFC 3986 encoding as SigV4 wants it: unreserved characters kept, '/'
 * kept when keep_slash, everything else %XX.  0, or -1 if it does not fit. */
int s3_uri_encode(const char *in, int keep_slash, char *out, size_t cap);
/* The SigV4 signature (64 hex digits and a NUL into sig) of a canonical
 * request made of these parts, for service "s3".  amzdate: YYYYMMDDTHHMMSSZ;
 * headers: "name:value\n" lines, names lowercase, sorted. */
int s3_sign(const char *secret, const char *region, const char *amzdate, const char *method,
    const char *uri, const char *query, const char *headers, const char *signed_headers,
    const char *payload_hash, char sig[65]);
/* The text of the first <tag>...</tag> in xml (entities decoded) into out:
 * 0, or -1 if absent or longer than cap. *next (if not NULL) is set after
 * the closing tag. */
int s3_xml_get(const char *xml, const char *tag, char *out, size_t cap, const char **next);

#endif
