/* SPDX-License-Identifier: ISC
 * s3.c — the S3 protocol client of the S3 blob backend: AWS Signature
 * Version 4 (header and query-string/presigned forms, computed here with
 * digest.c's HMAC-SHA256), path-style and virtual-host URLs, the little XML
 * S3 answers with, and requests carried by libcurl: blocking on a reused
 * per-thread easy handle, or asynchronously on a worker's event loop (curl
 * multi driven by libevent, as upstream.c does for registries).
 *
 * Signing follows "Authenticating Requests (AWS Signature Version 4)" of
 * the Amazon S3 API reference: canonical request (method, URI-encoded path,
 * sorted encoded query, lowercase sorted headers, signed header names,
 * payload hash) -> string to sign ("AWS4-HMAC-SHA256", date, scope, hash
 * of the canonical request) -> signature under the key derived from the
 * secret by HMAC over date, region, "s3", "aws4_request".
 */
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "curl_dl.h"
#include "digest.h"
#include "errors.h"
#include "log.h"
#include "s3.h"

#define S3_UNSIGNED "UNSIGNED-PAYLOAD"
#define S3_TRIES 5		/* attempts of one request */
#define S3_BACKOFF_MS 100	/* first pause, doubled each try ... */
#define S3_BACKOFF_MAX_MS 1000	/* ... up to this: about 2.5 s in all */

struct s3 {
	struct s3_conf c;
	char scheme[8];			/* http / https */
	char hostport[300];		/* endpoint's host[:port] */
	char host[400];			/* the Host the requests name */
	char base[512];			/* scheme://host */
	char path0[80];			/* "/bucket" (path style) or "" */
};

/* ------------------------------------------------------------ signing */

int
s3_uri_encode(const char *in, int keep_slash, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
		int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		    (keep_slash && *p == '/');

		if (n + (keep ? 1 : 3) >= cap)
			return -1;
		if (keep) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	if (n >= cap)
		return -1;
	out[n] = '\0';
	return 0;
}

static int
s3_hmac(const unsigned char *key, size_t keylen, const char *msg, unsigned char out[32])
{
	return digest_hmac_sha256(key, keylen, msg, strlen(msg), out);
}

int
s3_sign(const char *secret, const char *region, const char *amzdate, const char *method,
    const char *uri, const char *query, const char *headers, const char *signed_headers,
    const char *payload_hash, char sig[65])
{
	char *creq = NULL, sts[512], k0[300], date[9], hash[65];
	unsigned char raw[32], k[32];
	size_t n;
	int rc = -1;

	n = strlen(method) + strlen(uri) + strlen(query) + strlen(headers) +
	    strlen(signed_headers) + strlen(payload_hash) + 16;
	if ((creq = malloc(n)) == NULL)
		return -1;
	snprintf(creq, n, "%s\n%s\n%s\n%s\n%s\n%s", method, uri, query, headers, signed_headers,
	    payload_hash);
	if (digest_sha256_raw(creq, strlen(creq), raw) != 0)
		goto out;
	digest_hex_encode(raw, 32, hash);
	memcpy(date, amzdate, 8);
	date[8] = '\0';
	if (snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", amzdate,
	    date, region, hash) >= (int)sizeof(sts) ||
	    snprintf(k0, sizeof(k0), "AWS4%s", secret) >= (int)sizeof(k0))
		goto out;
	if (s3_hmac((unsigned char *)k0, strlen(k0), date, k) != 0 ||
	    s3_hmac(k, 32, region, k) != 0 || s3_hmac(k, 32, "s3", k) != 0 ||
	    s3_hmac(k, 32, "aws4_request", k) != 0 || s3_hmac(k, 32, sts, raw) != 0)
		goto out;
	digest_hex_encode(raw, 32, sig);
	rc = 0;
out:
	explicit_bzero(k0, sizeof(k0));
	explicit_bzero(k, sizeof(k));
	free(creq);
	return rc;
}

static void
s3_amzdate(time_t now, char out[17])
{
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* The canonical URI of key (NULL: the bucket) into out. */
static int
s3_canon_uri(const struct s3 *s, const char *key, char *out, size_t cap)
{
	char enc[2048];
	int n;

	if (key == NULL) {
		n = snprintf(out, cap, "%s/", s->path0);
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	if (s3_uri_encode(key, 1, enc, sizeof(enc)) != 0)
		return -1;
	n = snprintf(out, cap, "%s/%s", s->path0, enc);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
s3_param_cmp(const void *a, const void *b)
{
	return strcmp(((const struct s3_param *)a)->name, ((const struct s3_param *)b)->name);
}

/* The canonical (sorted, encoded) query of q into out; also the URL's. */
static int
s3_canon_query(const struct s3_param *q, size_t n, char *out, size_t cap)
{
	struct s3_param sorted[16];
	char name[256], value[2048];
	size_t len = 0;

	if (n > sizeof(sorted) / sizeof(sorted[0]))
		return -1;
	if (n > 0) {
		memcpy(sorted, q, n * sizeof(*q));
		qsort(sorted, n, sizeof(*q), s3_param_cmp);
	}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w;

		if (s3_uri_encode(sorted[i].name, 0, name, sizeof(name)) != 0 ||
		    s3_uri_encode(sorted[i].value, 0, value, sizeof(value)) != 0)
			return -1;
		w = snprintf(out + len, cap - len, "%s%s=%s", i > 0 ? "&" : "", name, value);
		if (w < 0 || (size_t)w >= cap - len)
			return -1;
		len += (size_t)w;
	}
	return 0;
}

int
s3_presign(struct s3 *s, const char *key, int expires, time_t now, char *out, size_t cap)
{
	char amzdate[17], cred[512], exp[16], uri[2200], query[4096], headers[512], sig[65];
	struct s3_param q[5];
	int n;

	s3_amzdate(now, amzdate);
	snprintf(cred, sizeof(cred), "%s/%.8s/%s/s3/aws4_request", s->c.access_key, amzdate,
	    s->c.region);
	snprintf(exp, sizeof(exp), "%d", expires);
	q[0] = (struct s3_param){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
	q[1] = (struct s3_param){"X-Amz-Credential", cred};
	q[2] = (struct s3_param){"X-Amz-Date", amzdate};
	q[3] = (struct s3_param){"X-Amz-Expires", exp};
	q[4] = (struct s3_param){"X-Amz-SignedHeaders", "host"};
	if (s3_canon_uri(s, key, uri, sizeof(uri)) != 0 ||
	    s3_canon_query(q, 5, query, sizeof(query)) != 0)
		return -1;
	snprintf(headers, sizeof(headers), "host:%s\n", s->host);
	if (s3_sign(s->c.secret_key, s->c.region, amzdate, "GET", uri, query, headers, "host",
	    S3_UNSIGNED, sig) != 0)
		return -1;
	n = snprintf(out, cap, "%s%s?%s&X-Amz-Signature=%s", s->base, uri, query, sig);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ------------------------------------------------------------ XML */

int
s3_xml_get(const char *xml, const char *tag, char *out, size_t cap, const char **next)
{
	char open[80], close[80];
	const char *a, *b;
	size_t n = 0;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if (xml == NULL || (a = strstr(xml, open)) == NULL)
		return -1;
	a += strlen(open);
	if ((b = strstr(a, close)) == NULL)
		return -1;
	while (a < b) {
		static const struct {
			const char *ent;
			char c;
		} ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'},
		    {"&apos;", '\''}, {"&#34;", '"'}, {"&#39;", '\''}};
		char c = *a;
		size_t step = 1;

		if (c == '&') {
			for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				size_t l = strlen(ents[i].ent);

				if ((size_t)(b - a) >= l && strncmp(a, ents[i].ent, l) == 0) {
					c = ents[i].c;
					step = l;
					break;
				}
			}
		}
		if (n + 1 >= cap)
			return -1;
		out[n++] = c;
		a += step;
	}
	out[n] = '\0';
	if (next != NULL)
		*next = b + strlen(close);
	return 0;
}

/* ------------------------------------------------------------ the client */

struct s3 *
s3_new(const struct s3_conf *c, char *err, size_t cap)
{
	const char *p;
	struct s3 *s;
	size_t n;

	if (curl_dl_load(err, cap) != 0)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	s->c = *c;
	if (strncmp(c->endpoint, "http://", 7) == 0) {
		memcpy(s->scheme, "http", 5);
		p = c->endpoint + 7;
	} else if (strncmp(c->endpoint, "https://", 8) == 0) {
		memcpy(s->scheme, "https", 6);
		p = c->endpoint + 8;
	} else {
		snprintf(err, cap, "endpoint '%s' is not an http:// or https:// URL", c->endpoint);
		free(s);
		return NULL;
	}
	n = strcspn(p, "/");
	if (n == 0 || n >= sizeof(s->hostport) || (p[n] == '/' && p[n + 1] != '\0')) {
		snprintf(err, cap, "endpoint '%s' must be scheme://host[:port] without a path",
		    c->endpoint);
		free(s);
		return NULL;
	}
	memcpy(s->hostport, p, n);
	s->hostport[n] = '\0';
	if (c->path_style) {
		snprintf(s->host, sizeof(s->host), "%s", s->hostport);
		snprintf(s->path0, sizeof(s->path0), "/%s", c->bucket);
	} else {
		snprintf(s->host, sizeof(s->host), "%s.%s", c->bucket, s->hostport);
	}
	snprintf(s->base, sizeof(s->base), "%s://%s", s->scheme, s->host);
	return s;
}

void
s3_free(struct s3 *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s->c.secret_key, sizeof(s->c.secret_key));
	free(s);
}

void
s3_call_free(struct s3_call *c)
{
	free(c->resp);
	c->resp = NULL;
	c->resp_len = 0;
}

/* A request's URL and signed headers. */
struct s3_prep {
	char url[4700];
	struct curl_slist *hdrs;
};

/* Sign c now and build its URL and header list (curl's). */
static int
s3_prepare(struct s3 *s, const struct s3_call *c, struct s3_prep *p)
{
	char amzdate[17], uri[2200], query[2400], headers[3000], signed_h[200], sig[65];
	char line[3200], src[2200];
	int n;

	p->hdrs = NULL;
	s3_amzdate(time(NULL), amzdate);
	if (s3_canon_uri(s, c->key, uri, sizeof(uri)) != 0 ||
	    s3_canon_query(c->query, c->nquery, query, sizeof(query)) != 0)
		return -1;
	src[0] = '\0';
	if (c->copy_source != NULL &&
	    (snprintf(src, sizeof(src), "/%s/", s->c.bucket) >= (int)sizeof(src) ||
	    s3_uri_encode(c->copy_source, 1, src + strlen(src), sizeof(src) - strlen(src)) != 0))
		return -1;
	/* Lowercase names in sorted order: host, range, x-amz-*. */
	n = snprintf(headers, sizeof(headers), "host:%s\n%s%s%s"
	    "x-amz-content-sha256:" S3_UNSIGNED "\n%s%s%s%s%s%sx-amz-date:%s\n", s->host,
	    c->range ? "range:" : "", c->range ? c->range : "", c->range ? "\n" : "",
	    c->copy_source ? "x-amz-copy-source:" : "", src, c->copy_source ? "\n" : "",
	    c->copy_range ? "x-amz-copy-source-range:" : "", c->copy_range ? c->copy_range : "",
	    c->copy_range ? "\n" : "", amzdate);
	if (n < 0 || (size_t)n >= sizeof(headers))
		return -1;
	snprintf(signed_h, sizeof(signed_h), "host;%sx-amz-content-sha256;%s%sx-amz-date",
	    c->range ? "range;" : "", c->copy_source ? "x-amz-copy-source;" : "",
	    c->copy_range ? "x-amz-copy-source-range;" : "");
	if (s3_sign(s->c.secret_key, s->c.region, amzdate, c->method, uri, query, headers,
	    signed_h, S3_UNSIGNED, sig) != 0)
		return -1;
	n = snprintf(p->url, sizeof(p->url), "%s%s%s%s", s->base, uri, query[0] ? "?" : "", query);
	if (n < 0 || (size_t)n >= (int)sizeof(p->url))
		return -1;
#define H(...) (snprintf(line, sizeof(line), __VA_ARGS__), \
	(p->hdrs = curl_slist_append(p->hdrs, line)) != NULL)
	if (!H("Host: %s", s->host) || !H("x-amz-content-sha256: " S3_UNSIGNED) ||
	    !H("x-amz-date: %s", amzdate) ||
	    !H("Authorization: AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/s3/aws4_request, "
	    "SignedHeaders=%s, Signature=%s", s->c.access_key, amzdate, s->c.region, signed_h, sig) ||
	    (c->range != NULL && !H("Range: %s", c->range)) ||
	    (c->copy_source != NULL && !H("x-amz-copy-source: %s", src)) ||
	    (c->copy_range != NULL && !H("x-amz-copy-source-range: %s", c->copy_range)) ||
	    !H("Expect:") || !H("Content-Type:") || !H("Accept:")) {
		curl_slist_free_all(p->hdrs);
		p->hdrs = NULL;
		return -1;
	}
#undef H
	return 0;
}

/* The sockets this thread opened for S3 requests (its blocking handle's
 * and its worker loop's), recorded as curl opens and closes them: curl
 * 7.88 does not tell a transfer's socket while it runs
 * (CURLINFO_ACTIVESOCKET is -1 then).  Past S3_QA_FDS, sockets go
 * unrecorded and only miss the quick ACK. */
#define S3_QA_FDS 8
static _Thread_local curl_socket_t s3_qa_fd[S3_QA_FDS] = {
	CURL_SOCKET_BAD, CURL_SOCKET_BAD, CURL_SOCKET_BAD, CURL_SOCKET_BAD,
	CURL_SOCKET_BAD, CURL_SOCKET_BAD, CURL_SOCKET_BAD, CURL_SOCKET_BAD,
};

static int
s3_sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	(void)arg;
	(void)purpose;
	for (int i = 0; i < S3_QA_FDS; i++)
		if (s3_qa_fd[i] == CURL_SOCKET_BAD) {
			s3_qa_fd[i] = fd;
			break;
		}
	return CURL_SOCKOPT_OK;
}

static int
s3_closesocket_cb(void *arg, curl_socket_t fd)
{
	(void)arg;
	for (int i = 0; i < S3_QA_FDS; i++)
		if (s3_qa_fd[i] == fd)
			s3_qa_fd[i] = CURL_SOCKET_BAD;
	return close(fd);
}

/* The head of a response has arrived: acknowledge it at once.  radosgw
 * (beast) writes a response's head and body separately with Nagle on, so
 * on a reused connection the body waits for the ACK of the head, which
 * Linux delays by ~40 ms: every small GET took 44 ms instead of 2.
 * TCP_QUICKACK sends a pending ACK now; it is not sticky, hence once per
 * response, on the sockets of this thread (idle ones ignore it). */
static void
s3_quickack(void)
{
	int one = 1;

	for (int i = 0; i < S3_QA_FDS; i++)
		if (s3_qa_fd[i] != CURL_SOCKET_BAD)
			(void)setsockopt(s3_qa_fd[i], IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* ---- the blocking path ---- */

struct s3_io {
	struct s3_call *c;
	size_t sent;			/* of c->body */
	size_t resp_cap;
	int overflow;
};

static size_t
s3_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct s3_io *io = arg;
	struct s3_call *c = io->c;
	size_t n = size * nmemb;

	if (c->sink != NULL && c->status / 100 == 2) {
		if (n > c->sink_cap - c->sink_len) {
			io->overflow = 1;
			return 0;
		}
		memcpy(c->sink + c->sink_len, ptr, n);
		c->sink_len += n;
		return n;
	}
	if (c->resp_len + n + 1 > (c->resp_max ? c->resp_max : S3_RESP_MAX)) {
		io->overflow = 1;
		return 0;
	}
	if (c->resp_len + n + 1 > io->resp_cap) {
		size_t cap = io->resp_cap ? io->resp_cap : 4096;
		char *r;

		while (cap < c->resp_len + n + 1)
			cap *= 2;
		if ((r = realloc(c->resp, cap)) == NULL)
			return 0;
		c->resp = r;
		io->resp_cap = cap;
	}
	memcpy(c->resp + c->resp_len, ptr, n);
	c->resp_len += n;
	c->resp[c->resp_len] = '\0';
	return n;
}

static size_t
s3_read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct s3_io *io = arg;
	size_t n = size * nmemb, left = io->c->body_len - io->sent;

	if (n > left)
		n = left;
	if (n == 0)
		return 0;
	memcpy(buf, (const char *)io->c->body + io->sent, n);
	io->sent += n;
	return n;
}

/* Header lines: the status (to route the body) and the few we read. */
static size_t
s3_header_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct s3_io *io = arg;
	struct s3_call *c = io->c;
	size_t n = size * nmemb, l;
	char line[256];

	l = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
	memcpy(line, buf, l);
	line[l] = '\0';
	while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == '\n'))
		line[--l] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = strchr(line, ' ');
		char *end;
		long st;

		s3_quickack();
		if (sp != NULL) {
			st = strtol(sp + 1, &end, 10);
			if (end != sp + 1)
				c->status = st;
		}
		c->etag[0] = '\0';
		c->length = 0;
	} else if (strncasecmp(line, "etag:", 5) == 0) {
		const char *v = line + 5;

		size_t vl;

		while (*v == ' ')
			v++;
		vl = strlen(v) < sizeof(c->etag) - 1 ? strlen(v) : sizeof(c->etag) - 1;
		memcpy(c->etag, v, vl);
		c->etag[vl] = '\0';
	} else if (strncasecmp(line, "content-length:", 15) == 0) {
		char *end;
		unsigned long long v = strtoull(line + 15, &end, 10);

		if (end != line + 15)
			c->length = v;
	} else if (strncasecmp(line, "last-modified:", 14) == 0) {
		struct tm tm;

		memset(&tm, 0, sizeof(tm));
		if (strptime(line + 14, " %a, %d %b %Y %H:%M:%S GMT", &tm) != NULL)
			c->mtime = (int64_t)timegm(&tm);
	}
	return n;
}

static pthread_key_t s3_easy_key;
static pthread_once_t s3_easy_once = PTHREAD_ONCE_INIT;

static void
s3_easy_destroy(void *e)
{
	curl_easy_cleanup(e);
}

static void
s3_easy_key_init(void)
{
	if (pthread_key_create(&s3_easy_key, s3_easy_destroy) != 0)
		log_error("s3: cannot create the per-thread handle key");
}

/* This thread's easy handle, reset for a new request: its connection to
 * the endpoint stays open between requests. */
static CURL *
s3_easy(void)
{
	CURL *e;

	pthread_once(&s3_easy_once, s3_easy_key_init);
	if ((e = pthread_getspecific(s3_easy_key)) != NULL) {
		curl_easy_reset(e);
		return e;
	}
	if ((e = curl_easy_init()) == NULL)
		return NULL;
	if (pthread_setspecific(s3_easy_key, e) != 0) {
		curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

/* Options every request of ours has. */
static void
s3_easy_common(CURL *e, const struct s3_prep *p)
{
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	/* A stalled transfer (under 1 KiB/s for 30 s) is a broken one. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
}

static int
s3_retryable(CURLcode cc, long status)
{
	if (cc != CURLE_OK)
		return cc == CURLE_COULDNT_CONNECT || cc == CURLE_SEND_ERROR ||
		    cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
		    cc == CURLE_PARTIAL_FILE || cc == CURLE_OPERATION_TIMEDOUT;
	return status == 500 || status == 502 || status == 503 || status == 504;
}

static int
s3_error_of(long status)
{
	switch (status) {
	case 404: return -ERR_BLOB_UNKNOWN;
	case 403: return -ERR_DENIED;
	case 500: case 502: case 503: case 504: return -ERR_UNAVAILABLE;
	default: return -ERR_INTERNAL;
	}
}

/* Begin a try of c on e: answers of an earlier try cleared, c signed
 * now (its date is part of the signature), e's options set.  0, or
 * -ERR_INTERNAL (logged); p->hdrs is the caller's to free after the try. */
static int
s3_try_setup(struct s3 *s, CURL *e, struct s3_call *c, struct s3_io *io, struct s3_prep *p)
{
	c->status = 0;
	c->sink_len = 0;
	c->code[0] = '\0';
	c->etag[0] = '\0';
	c->mtime = 0;
	s3_call_free(c);
	memset(io, 0, sizeof(*io));
	io->c = c;
	p->hdrs = NULL;
	if (s3_prepare(s, c, p) != 0) {
		log_error("s3: %s %s: request too long to sign", c->method,
		    c->key ? c->key : "(bucket)");
		return -ERR_INTERNAL;
	}
	s3_easy_common(e, p);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s3_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, io);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s3_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, io);
	curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, s3_sockopt_cb);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, s3_closesocket_cb);
	if (strcmp(c->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(c->method, "PUT") == 0) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, s3_read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, io);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->body_len);
	} else if (strcmp(c->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body ? (const char *)c->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
	} else if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
	}
	return 0;
}

/* At log_level = debug, each request's time as curl saw it: a slow store
 * shows in which phase. */
static void
s3_try_log(CURL *e, const struct s3_call *c)
{
	double pre = 0, first = 0, total = 0;

	if (log_get_level() > LOG_DEBUG)
		return;
	curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME, &pre);
	curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME, &first);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &total);
	log_debug("s3: %s %s: %ld in %.1f ms (sent after %.1f, first byte %.1f)", c->method,
	    c->key ? c->key : "(bucket)", c->status, total * 1e3, pre * 1e3, first * 1e3);
}

/* The end of try number `attempt` of c, which ended with cc: 0 for a 2xx
 * answer; 1 to try again after *delay ms (*delay then doubled for the
 * next, up to its cap); else the error s3_do returns (logged unless
 * c->quiet; a 404 never is).  The one place of the retry rules, for the
 * blocking and the asynchronous path alike. */
static int
s3_try_end(struct s3_call *c, CURLcode cc, const struct s3_io *io, int attempt, long *delay)
{
	int rc;

	if (io->overflow) {
		log_error("s3: %s %s: answer larger than expected", c->method,
		    c->key ? c->key : "(bucket)");
		return -ERR_INTERNAL;
	}
	if (cc == CURLE_OK && c->status / 100 == 2)
		return 0;
	if (c->resp != NULL)
		(void)s3_xml_get(c->resp, "Code", c->code, sizeof(c->code), NULL);
	if (attempt < S3_TRIES && s3_retryable(cc, c->status) &&
	    !(cc == CURLE_COULDNT_CONNECT && attempt >= 2)) {
		log_debug("s3: %s %s: %s; trying again in %ld ms", c->method,
		    c->key ? c->key : "(bucket)", cc != CURLE_OK ? curl_easy_strerror(cc) :
		    c->code[0] ? c->code : "server error", *delay);
		return 1;
	}
	if (cc != CURLE_OK) {
		if (!c->quiet)
			log_error("s3: %s %s: %s", c->method, c->key ? c->key : "(bucket)",
			    curl_easy_strerror(cc));
		return -ERR_UNAVAILABLE;
	}
	rc = s3_error_of(c->status);
	if (c->status != 404 && !c->quiet)
		log_error("s3: %s %s: HTTP %ld %s", c->method, c->key ? c->key : "(bucket)", c->status,
		    c->code[0] ? c->code : "");
	return rc;
}

static long
s3_backoff_next(long delay)
{
	return delay * 2 > S3_BACKOFF_MAX_MS ? S3_BACKOFF_MAX_MS : delay * 2;
}

int
s3_do(struct s3 *s, struct s3_call *c)
{
	struct s3_prep p;
	struct s3_io io;
	CURLcode cc;
	long delay = S3_BACKOFF_MS;
	CURL *e;
	int rc;

	for (int attempt = 1;; attempt++) {
		if ((e = s3_easy()) == NULL)
			return -ERR_INTERNAL;
		if (s3_try_setup(s, e, c, &io, &p) != 0)
			return -ERR_INTERNAL;
		cc = curl_easy_perform(e);
		curl_slist_free_all(p.hdrs);
		if (cc == CURLE_OK)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
		s3_try_log(e, c);
		if ((rc = s3_try_end(c, cc, &io, attempt, &delay)) <= 0)
			return rc;
		usleep((useconds_t)delay * 1000);
		delay = s3_backoff_next(delay);
	}
}

/* ------------------------------------------------------------ asynchronous GET */

/* Each transfer on a loop starts with this: the loop's completion finds
 * its end through the easy handle's CURLOPT_PRIVATE. */
struct s3_xfer {
	void (*finish)(struct s3_xfer *x, CURLcode cc);
};

struct s3_loop {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct s3_async *calls;		/* s3_call_start's, running or waiting */
	int closing;			/* s3_loop_free: no new call */
};

struct s3_get {
	struct s3_xfer x;		/* first */
	struct s3_loop *l;
	CURL *easy;
	struct event *poll;		/* while paused: is the reader still there? */
	struct s3_prep p;
	char range[64];
	struct s3_get_cb cb;
	long status;
	int paused;
	uint64_t got, want;
	char err[512];			/* an error answer's body (bounded) */
	size_t errlen;
};

static void
s3_get_free(struct s3_get *g)
{
	if (g->poll != NULL)
		event_free(g->poll);
	if (g->easy != NULL) {
		curl_multi_remove_handle(g->l->multi, g->easy);
		curl_easy_cleanup(g->easy);
	}
	curl_slist_free_all(g->p.hdrs);
	free(g);
}

static void
s3_get_finish(struct s3_xfer *x, CURLcode cc)
{
	struct s3_get *g = (struct s3_get *)(void *)x;
	int rc = 0;

	if (cc != CURLE_OK) {
		if (cc != CURLE_WRITE_ERROR || g->status / 100 == 2)
			log_error("s3: GET %s: %s", g->p.url, curl_easy_strerror(cc));
		rc = -ERR_UNAVAILABLE;
	} else if (g->status / 100 != 2) {
		char code[64] = "";

		g->err[g->errlen] = '\0';
		(void)s3_xml_get(g->err, "Code", code, sizeof(code), NULL);
		log_error("s3: GET %s: HTTP %ld %s", g->p.url, g->status, code);
		rc = s3_error_of(g->status);
	} else if (g->got != g->want) {
		rc = -ERR_INTERNAL;
	}
	g->cb.done(g->cb.arg, rc);
	s3_get_free(g);
}

static void
s3_loop_check(struct s3_loop *l)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(l->multi, &left)) != NULL) {
		char *priv = NULL;
		struct s3_xfer *x;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if ((x = (struct s3_xfer *)(void *)priv) != NULL)
			x->finish(x, msg->data.result);
	}
}

static void
s3_loop_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct s3_loop *l = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(l->multi, fd, flags, &running);
	s3_loop_check(l);
}

static void
s3_loop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct s3_loop *l = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	s3_loop_check(l);
}

static int
s3_loop_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct s3_loop *l = userp;
	struct event *ev = socketp;
	short kind;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(l->multi, s, NULL);
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (ev == NULL) {
		if ((ev = event_new(l->base, s, kind, s3_loop_event_cb, l)) == NULL)
			return -1;
		curl_multi_assign(l->multi, s, ev);
	} else {
		event_del(ev);
		event_assign(ev, l->base, s, kind, s3_loop_event_cb, l);
	}
	return event_add(ev, NULL);
}

static int
s3_loop_timer_set(CURLM *multi, long ms, void *userp)
{
	struct s3_loop *l = userp;
	struct timeval tv;

	(void)multi;
	if (ms < 0)
		return evtimer_del(l->timer);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(l->timer, &tv);
}

/* ------------------------------------------------------------ asynchronous calls */

struct s3_async {
	struct s3_xfer x;		/* first */
	struct s3 *s;
	struct s3_loop *l;
	struct s3_call *c;		/* the caller's */
	CURL *easy;			/* reused by every try */
	struct s3_prep p;
	struct s3_io io;
	struct event *timer;		/* the backoff before the next try */
	int attempt;
	long delay;
	int added;			/* easy is in l->multi */
	s3_call_done_fn done;
	void *arg;
	struct s3_async *prev, *next;	/* l->calls */
};

static void
s3_async_free(struct s3_async *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else if (a->l->calls == a)
		a->l->calls = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	if (a->added)
		curl_multi_remove_handle(a->l->multi, a->easy);
	if (a->easy != NULL)
		curl_easy_cleanup(a->easy);
	if (a->timer != NULL)
		event_free(a->timer);
	curl_slist_free_all(a->p.hdrs);
	free(a);
}

/* Free a, then tell its caller (who may start the next call from done). */
static void
s3_async_end(struct s3_async *a, int rc)
{
	s3_call_done_fn done = a->done;
	void *arg = a->arg;

	s3_async_free(a);
	done(arg, rc);
}

/* The next try of a's call: 0 (on the loop), or an error. */
static int
s3_async_try(struct s3_async *a)
{
	a->attempt++;
	curl_slist_free_all(a->p.hdrs);
	a->p.hdrs = NULL;
	curl_easy_reset(a->easy);
	if (s3_try_setup(a->s, a->easy, a->c, &a->io, &a->p) != 0)
		return -ERR_INTERNAL;
	curl_easy_setopt(a->easy, CURLOPT_PRIVATE, (char *)a);
	if (curl_multi_add_handle(a->l->multi, a->easy) != CURLM_OK)
		return -ERR_INTERNAL;
	a->added = 1;
	return 0;
}

static void
s3_async_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct s3_async *a = arg;
	int rc;

	(void)fd;
	(void)what;
	if ((rc = s3_async_try(a)) != 0)
		s3_async_end(a, rc);
}

static void
s3_async_finish(struct s3_xfer *x, CURLcode cc)
{
	struct s3_async *a = (struct s3_async *)(void *)x;
	int rc;

	curl_multi_remove_handle(a->l->multi, a->easy);
	a->added = 0;
	if (cc == CURLE_OK)
		curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &a->c->status);
	s3_try_log(a->easy, a->c);
	if ((rc = s3_try_end(a->c, cc, &a->io, a->attempt, &a->delay)) == 1) {
		/* The backoff is a timer on the loop: nothing sleeps. */
		struct timeval tv = {a->delay / 1000, (a->delay % 1000) * 1000};

		a->delay = s3_backoff_next(a->delay);
		if (evtimer_add(a->timer, &tv) == 0)
			return;
		rc = -ERR_INTERNAL;
	}
	s3_async_end(a, rc);
}

int
s3_call_start(struct s3 *s, struct s3_loop *l, struct s3_call *c, s3_call_done_fn done,
    void *arg, struct s3_async **out)
{
	struct s3_async *a;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (l->closing)
		return -ERR_UNAVAILABLE;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ERR_INTERNAL;
	*a = (struct s3_async){.x.finish = s3_async_finish, .s = s, .l = l, .c = c,
	    .delay = S3_BACKOFF_MS, .done = done, .arg = arg};
	if ((a->next = l->calls) != NULL)
		l->calls->prev = a;
	l->calls = a;
	if ((a->easy = curl_easy_init()) == NULL ||
	    (a->timer = evtimer_new(l->base, s3_async_retry_cb, a)) == NULL) {
		s3_async_free(a);
		return -ERR_INTERNAL;
	}
	if ((rc = s3_async_try(a)) != 0) {
		s3_async_free(a);
		return rc;
	}
	if (out != NULL)
		*out = a;
	return 0;
}

void
s3_call_cancel(struct s3_async *a)
{
	if (a != NULL)
		s3_async_free(a);
}

struct s3_loop *
s3_loop_new(struct event_base *base)
{
	struct s3_loop *l;
	char err[256];

	if (curl_dl_load(err, sizeof(err)) != 0 || (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->base = base;
	if ((l->multi = curl_multi_init()) == NULL ||
	    (l->timer = evtimer_new(base, s3_loop_timer_cb, l)) == NULL) {
		if (l->multi != NULL)
			curl_multi_cleanup(l->multi);
		free(l);
		return NULL;
	}
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, s3_loop_socket_cb);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, s3_loop_timer_set);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	return l;
}

void
s3_loop_free(struct s3_loop *l)
{
	if (l == NULL)
		return;
	l->closing = 1;
	while (l->calls != NULL)
		s3_async_end(l->calls, -ERR_UNAVAILABLE);
	curl_multi_cleanup(l->multi);
	event_free(l->timer);
	free(l);
}

static size_t
s3_get_header_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct s3_get *g = arg;
	size_t n = size * nmemb;

	if (n > 5 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', n);
		char num[4];

		if (sp != NULL && (size_t)(sp - buf) + 4 <= n) {
			memcpy(num, sp + 1, 3);
			num[3] = '\0';
			g->status = (num[0] - '0') * 100 + (num[1] - '0') * 10 + (num[2] - '0');
		}
	}
	return n;
}

static size_t
s3_get_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct s3_get *g = arg;
	size_t n = size * nmemb;
	int r;

	if (g->status / 100 != 2) {
		size_t room = sizeof(g->err) - 1 - g->errlen;

		n = n < room ? n : room;
		memcpy(g->err + g->errlen, ptr, n);
		g->errlen += n;
		return size * nmemb;
	}
	if (n > g->want - g->got)
		return 0;
	if ((r = g->cb.data(g->cb.arg, ptr, n)) < 0)
		return 0;
	g->got += n;
	if (r > 0 && !g->paused) {
		/* The bytes are taken; stop receiving until s3_get_resume
		 * (curl allows pausing from within its callback). */
		struct timeval tv = {1, 0};

		g->paused = 1;
		curl_easy_pause(g->easy, CURLPAUSE_RECV);
		evtimer_add(g->poll, &tv);
	}
	return n;
}

/* A paused GET whose reader went away (a client that left while its
 * queue was full never drains it) ends here instead of waiting forever. */
static void
s3_get_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct s3_get *g = arg;
	struct timeval tv = {1, 0};

	(void)fd;
	(void)what;
	if (!g->paused)
		return;
	if (g->cb.alive != NULL && !g->cb.alive(g->cb.arg)) {
		g->cb.done(g->cb.arg, -ERR_UNAVAILABLE);
		s3_get_free(g);
		return;
	}
	evtimer_add(g->poll, &tv);
}

int
s3_get_start(struct s3 *s, struct s3_loop *l, const char *key, uint64_t off, uint64_t len,
    const struct s3_get_cb *cb, struct s3_get **out)
{
	struct s3_call c = {.method = "GET", .key = key};
	struct s3_get *g;

	if (len == 0 || (g = calloc(1, sizeof(*g))) == NULL)
		return -ERR_INTERNAL;
	g->x.finish = s3_get_finish;
	g->l = l;
	g->cb = *cb;
	g->want = len;
	snprintf(g->range, sizeof(g->range), "bytes=%llu-%llu", (unsigned long long)off,
	    (unsigned long long)(off + len - 1));
	c.range = g->range;
	if (s3_prepare(s, &c, &g->p) != 0 || (g->easy = curl_easy_init()) == NULL ||
	    (g->poll = evtimer_new(l->base, s3_get_poll_cb, g)) == NULL) {
		s3_get_free(g);
		return -ERR_INTERNAL;
	}
	s3_easy_common(g->easy, &g->p);
	curl_easy_setopt(g->easy, CURLOPT_PRIVATE, (char *)g);
	curl_easy_setopt(g->easy, CURLOPT_WRITEFUNCTION, s3_get_write_cb);
	curl_easy_setopt(g->easy, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(g->easy, CURLOPT_HEADERFUNCTION, s3_get_header_cb);
	curl_easy_setopt(g->easy, CURLOPT_HEADERDATA, g);
	curl_easy_setopt(g->easy, CURLOPT_BUFFERSIZE, 256L * 1024);
	if (curl_multi_add_handle(l->multi, g->easy) != CURLM_OK) {
		curl_easy_cleanup(g->easy);
		g->easy = NULL;
		s3_get_free(g);
		return -ERR_INTERNAL;
	}
	*out = g;
	return 0;
}

void
s3_get_resume(struct s3_get *g)
{
	if (!g->paused)
		return;
	g->paused = 0;
	evtimer_del(g->poll);
	curl_easy_pause(g->easy, CURLPAUSE_CONT);
}

void
s3_get_cancel(struct s3_get *g)
{
	if (g != NULL)
		s3_get_free(g);
}
