/* SPDX-License-Identifier: ISC
 * test_s3.c — the S3 client's pieces that need no server: AWS Signature
 * Version 4 against the examples AWS publishes in "Authenticating
 * Requests: Using the Authorization Header" and "... Query Parameters"
 * (Amazon S3 API reference; access key AKIAIOSFODNN7EXAMPLE), URI
 * encoding, URL building, and the XML of S3's answers; and the retry
 * rules of a request, blocking and on an event loop, against a scripted
 * HTTP server on a loopback socket (a thread of this test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "errors.h"
#include "s3.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* GET Object, bytes 0-9 of examplebucket/test.txt. */
static void
test_sign_get_object(void **state)
{
	char sig[65];

	(void)state;
	assert_int_equal(s3_sign(SECRET, "us-east-1", "20130524T000000Z", "GET", "/test.txt", "",
	    "host:examplebucket.s3.amazonaws.com\n"
	    "range:bytes=0-9\n"
	    "x-amz-content-sha256:" EMPTY_SHA256 "\n"
	    "x-amz-date:20130524T000000Z\n",
	    "host;range;x-amz-content-sha256;x-amz-date", EMPTY_SHA256, sig), 0);
	assert_string_equal(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	/* One byte of the canonical request changes everything. */
	assert_int_equal(s3_sign(SECRET, "us-east-1", "20130524T000000Z", "GET", "/test.txt", "",
	    "host:examplebucket.s3.amazonaws.com\n"
	    "range:bytes=0-8\n"
	    "x-amz-content-sha256:" EMPTY_SHA256 "\n"
	    "x-amz-date:20130524T000000Z\n",
	    "host;range;x-amz-content-sha256;x-amz-date", EMPTY_SHA256, sig), 0);
	assert_string_not_equal(sig,
	    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* GET Bucket (ListObjects) with a query: ?max-keys=2&prefix=J. */
static void
test_sign_list(void **state)
{
	char sig[65];

	(void)state;
	assert_int_equal(s3_sign(SECRET, "us-east-1", "20130524T000000Z", "GET", "/",
	    "max-keys=2&prefix=J",
	    "host:examplebucket.s3.amazonaws.com\n"
	    "x-amz-content-sha256:" EMPTY_SHA256 "\n"
	    "x-amz-date:20130524T000000Z\n",
	    "host;x-amz-content-sha256;x-amz-date", EMPTY_SHA256, sig), 0);
	assert_string_equal(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* A presigned GET of examplebucket/test.txt valid for a day. */
static void
test_presign(void **state)
{
	struct s3_conf c;
	struct s3 *s;
	char err[256], url[2048];

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.endpoint, sizeof(c.endpoint), "https://s3.amazonaws.com");
	snprintf(c.bucket, sizeof(c.bucket), "examplebucket");
	snprintf(c.region, sizeof(c.region), "us-east-1");
	snprintf(c.access_key, sizeof(c.access_key), "AKIAIOSFODNN7EXAMPLE");
	snprintf(c.secret_key, sizeof(c.secret_key), SECRET);
	c.path_style = 0;
	assert_non_null(s = s3_new(&c, err, sizeof(err)));
	/* 2013-05-24T00:00:00Z */
	assert_int_equal(s3_presign(s, "test.txt", 86400, 1369353600, url, sizeof(url)), 0);
	assert_string_equal(url, "https://examplebucket.s3.amazonaws.com/test.txt"
	    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
	    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
	    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	assert_int_equal(s3_presign(s, "test.txt", 86400, 1369353600, url, 100), -1);
	s3_free(s);

	/* Path style: the bucket is the first path segment, the Host the
	 * endpoint's (with its port). */
	snprintf(c.endpoint, sizeof(c.endpoint), "http://127.0.0.1:7480");
	c.path_style = 1;
	assert_non_null(s = s3_new(&c, err, sizeof(err)));
	assert_int_equal(s3_presign(s, "blobs/sha256/ab/ab+c", 300, 1369353600, url, sizeof(url)),
	    0);
	assert_true(strncmp(url, "http://127.0.0.1:7480/examplebucket/blobs/sha256/ab/ab%2Bc?"
	    "X-Amz-Algorithm=AWS4-HMAC-SHA256&", 89) == 0);
	assert_non_null(strstr(url, "&X-Amz-Expires=300&"));
	s3_free(s);
}

static void
test_endpoint(void **state)
{
	struct s3_conf c;
	char err[256];

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.bucket, sizeof(c.bucket), "b");
	snprintf(c.endpoint, sizeof(c.endpoint), "ftp://x");
	assert_null(s3_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "http://"));
	snprintf(c.endpoint, sizeof(c.endpoint), "http://host/path");
	assert_null(s3_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "without a path"));
	snprintf(c.endpoint, sizeof(c.endpoint), "http://");
	assert_null(s3_new(&c, err, sizeof(err)));
}

static void
test_uri_encode(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(s3_uri_encode("test$file.text", 1, out, sizeof(out)), 0);
	assert_string_equal(out, "test%24file.text");
	assert_int_equal(s3_uri_encode("a/b c~_-.", 1, out, sizeof(out)), 0);
	assert_string_equal(out, "a/b%20c~_-.");
	assert_int_equal(s3_uri_encode("a/b=c&d", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "a%2Fb%3Dc%26d");
	assert_int_equal(s3_uri_encode("\xc3\xa9", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "%C3%A9");
	assert_int_equal(s3_uri_encode("abc", 0, out, 3), -1);
	assert_int_equal(s3_uri_encode("a b", 0, out, 5), -1);
	assert_int_equal(s3_uri_encode("a b", 0, out, 6), 0);
}

static void
test_xml(void **state)
{
	static const char init[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Bucket>ociregd</Bucket><Key>uploads/x/data</Key>"
	    "<UploadId>2~abc.DEF-ghi</UploadId></InitiateMultipartUploadResult>";
	static const char err[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>"
	    "<Code>SignatureDoesNotMatch</Code><Message>a &amp; b &lt;c&gt;</Message></Error>";
	static const char copy[] = "<CopyPartResult><LastModified>2026-01-01T00:00:00.000Z"
	    "</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
	    "</CopyPartResult>";
	static const char list[] = "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>"
	    "</Contents><Contents><Key>b&amp;c</Key><Size>22</Size></Contents>"
	    "<IsTruncated>true</IsTruncated><NextContinuationToken>1/x=</NextContinuationToken>"
	    "</ListBucketResult>";
	char out[128], small[4];
	const char *next;

	(void)state;
	assert_int_equal(s3_xml_get(init, "UploadId", out, sizeof(out), NULL), 0);
	assert_string_equal(out, "2~abc.DEF-ghi");
	assert_int_equal(s3_xml_get(err, "Code", out, sizeof(out), NULL), 0);
	assert_string_equal(out, "SignatureDoesNotMatch");
	assert_int_equal(s3_xml_get(err, "Message", out, sizeof(out), NULL), 0);
	assert_string_equal(out, "a & b <c>");
	assert_int_equal(s3_xml_get(copy, "ETag", out, sizeof(out), NULL), 0);
	assert_string_equal(out, "\"9b2cf535f27731c974343645a3985328\"");
	assert_int_equal(s3_xml_get(init, "Missing", out, sizeof(out), NULL), -1);
	assert_int_equal(s3_xml_get(init, "UploadId", small, sizeof(small), NULL), -1);
	assert_int_equal(s3_xml_get("<Code>unterminated", "Code", out, sizeof(out), NULL), -1);
	assert_int_equal(s3_xml_get(NULL, "Code", out, sizeof(out), NULL), -1);
	/* Walking repeated elements. */
	assert_int_equal(s3_xml_get(list, "Key", out, sizeof(out), &next), 0);
	assert_string_equal(out, "a");
	assert_int_equal(s3_xml_get(next, "Key", out, sizeof(out), &next), 0);
	assert_string_equal(out, "b&c");
	assert_int_equal(s3_xml_get(next, "Key", out, sizeof(out), &next), -1);
	assert_int_equal(s3_xml_get(list, "NextContinuationToken", out, sizeof(out), NULL), 0);
	assert_string_equal(out, "1/x=");
}


/* ---- a scripted server: one answer per request, in order ---- */

struct fake {
	int lfd, port;
	pthread_t thread;
	const int *script;		/* statuses; 0 ends it */
	int requests;			/* answered */
	size_t last_body;		/* bytes of the last request's body */
	char last_line[256];		/* its request line */
};

static void *
fake_main(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; f->script[i] != 0; i++) {
		char buf[65536], ans[512];
		const char *doc = f->script[i] == 403 ? "<Error><Code>Denied!</Code></Error>" :
		    "<Error><Code>SlowDown</Code></Error>";
		size_t len = 0, body = 0, clen = 0;
		char *eoh = NULL, *cl;
		int fd, n, st = f->script[i];

		if ((fd = accept(f->lfd, NULL, NULL)) < 0)
			break;
		while (eoh == NULL && len < sizeof(buf) - 1 &&
		    (n = (int)read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			eoh = strstr(buf, "\r\n\r\n");
		}
		if (eoh == NULL) {
			close(fd);
			break;
		}
		if ((cl = strcasestr(buf, "\r\ncontent-length:")) != NULL && cl < eoh)
			clen = strtoul(cl + 17, NULL, 10);
		body = len - (size_t)(eoh + 4 - buf);
		snprintf(f->last_line, sizeof(f->last_line), "%.*s", (int)strcspn(buf, "\r"), buf);
		while (body < clen && (n = (int)read(fd, buf, sizeof(buf))) > 0)
			body += (size_t)n;
		f->last_body = body;
		if (st == 200)
			n = snprintf(ans, sizeof(ans), "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\n"
			    "Content-Length: 0\r\nConnection: close\r\n\r\n");
		else
			n = snprintf(ans, sizeof(ans), "HTTP/1.1 %d Oops\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n%s", st, strlen(doc), doc);
		if (write(fd, ans, (size_t)n) != n)
			n = 0;
		__atomic_add_fetch(&f->requests, 1, __ATOMIC_SEQ_CST);
		close(fd);
	}
	return NULL;
}

static struct s3 *
fake_start(struct fake *f, const int *script)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	struct s3_conf c;
	char err[256];
	struct s3 *s;

	memset(f, 0, sizeof(*f));
	f->script = script;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((f->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	memset(&c, 0, sizeof(c));
	snprintf(c.endpoint, sizeof(c.endpoint), "http://127.0.0.1:%d", f->port);
	snprintf(c.bucket, sizeof(c.bucket), "bkt");
	snprintf(c.region, sizeof(c.region), "us-east-1");
	snprintf(c.access_key, sizeof(c.access_key), "AK");
	snprintf(c.secret_key, sizeof(c.secret_key), "SK");
	c.path_style = 1;
	assert_non_null(s = s3_new(&c, err, sizeof(err)));
	return s;
}

static void
fake_stop(struct fake *f, struct s3 *s)
{
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->thread, NULL);
	s3_free(s);
}

struct waiter {
	struct event_base *base;
	int rc, calls, ticks;
};

static void
waiter_done(void *arg, int rc)
{
	struct waiter *w = arg;

	w->rc = rc;
	w->calls++;
	event_base_loopbreak(w->base);
}

static void
waiter_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	((struct waiter *)arg)->ticks++;
}

/* One call on a loop, to its end: the loop turns all along (ticks). */
static int
run_call(struct s3 *s, struct s3_call *c, struct waiter *w)
{
	struct event_base *base = event_base_new();
	struct event *tick;
	struct timeval tv = {0, 20000};
	struct s3_loop *l;

	assert_non_null(base);
	memset(w, 0, sizeof(*w));
	w->base = base;
	assert_non_null(l = s3_loop_new(base));
	assert_non_null(tick = event_new(base, -1, EV_PERSIST, waiter_tick, w));
	event_add(tick, &tv);
	assert_int_equal(s3_call_start(s, l, c, waiter_done, w, NULL), 0);
	assert_int_equal(w->calls, 0);		/* never from within the start */
	event_base_dispatch(base);
	event_free(tick);
	s3_loop_free(l);
	event_base_free(base);
	assert_int_equal(w->calls, 1);
	return w->rc;
}

/* Throttling is retried with backoff on the loop's timers: the loop keeps
 * serving other events meanwhile, and the answer is the last try's. */
static void
test_call_async_retries(void **state)
{
	static const int script[] = {503, 503, 200, 0};
	static char body[100000];
	struct fake f;
	struct waiter w;
	struct s3 *s;
	struct s3_call c = {.method = "PUT", .key = "uploads/x/data", .body = body,
	    .body_len = sizeof(body)};

	(void)state;
	s = fake_start(&f, script);
	assert_int_equal(run_call(s, &c, &w), 0);
	assert_int_equal(f.requests, 3);
	assert_int_equal(c.status, 200);
	assert_string_equal(c.etag, "\"abc\"");
	assert_int_equal(f.last_body, sizeof(body));	/* the body again on each try */
	assert_string_equal(f.last_line, "PUT /bkt/uploads/x/data HTTP/1.1");
	/* 100 + 200 ms of backoff, waited on a timer: the 20 ms ticker ran. */
	assert_true(w.ticks >= 10);
	s3_call_free(&c);
	fake_stop(&f, s);
}

/* The answers that are not retried, as s3_do gives them. */
static void
test_call_async_errors(void **state)
{
	static const int denied[] = {403, 0}, missing[] = {404, 0}, blocking[] = {503, 200, 0};
	struct fake f;
	struct waiter w;
	struct s3 *s;
	struct s3_call c = {.method = "GET", .key = "k", .quiet = 1};

	(void)state;
	s = fake_start(&f, denied);
	assert_int_equal(run_call(s, &c, &w), -ERR_DENIED);
	assert_int_equal(f.requests, 1);
	assert_string_equal(c.code, "Denied!");
	s3_call_free(&c);
	fake_stop(&f, s);

	s = fake_start(&f, missing);
	assert_int_equal(run_call(s, &c, &w), -ERR_BLOB_UNKNOWN);
	assert_int_equal(f.requests, 1);
	s3_call_free(&c);
	fake_stop(&f, s);

	/* The blocking path shares the rules. */
	s = fake_start(&f, blocking);
	assert_int_equal(s3_do(s, &c), 0);
	assert_int_equal(f.requests, 2);
	assert_string_equal(c.etag, "\"abc\"");
	s3_call_free(&c);
	fake_stop(&f, s);
}

/* A loop freed while a call waits for its next try ends the call. */
static void
test_call_async_loop_free(void **state)
{
	static const int script[] = {503, 0};
	struct event_base *base;
	struct s3_loop *l;
	struct fake f;
	struct waiter w = {0};
	struct s3 *s;
	struct s3_call c = {.method = "HEAD", .key = "k", .quiet = 1};

	(void)state;
	s = fake_start(&f, script);
	assert_non_null(base = event_base_new());
	w.base = base;
	assert_non_null(l = s3_loop_new(base));
	assert_int_equal(s3_call_start(s, l, &c, waiter_done, &w, NULL), 0);
	/* Until the first answer came and the retry timer is set. */
	while (__atomic_load_n(&f.requests, __ATOMIC_SEQ_CST) < 1)
		event_base_loop(base, EVLOOP_ONCE);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(w.calls, 0);
	s3_loop_free(l);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.rc, -ERR_UNAVAILABLE);
	event_base_free(base);
	s3_call_free(&c);
	fake_stop(&f, s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_get_object),
		cmocka_unit_test(test_sign_list),
		cmocka_unit_test(test_presign),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_xml),
		cmocka_unit_test(test_call_async_retries),
		cmocka_unit_test(test_call_async_errors),
		cmocka_unit_test(test_call_async_loop_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
