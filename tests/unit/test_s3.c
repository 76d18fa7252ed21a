/* SPDX-License-Identifier: ISC
 * test_s3.c — the S3 client's pieces that need no server: AWS Signature
 * Version 4 against the examples AWS publishes in "Authenticating
 * Requests: Using the Authorization Header" and "... Query Parameters"
 * (Amazon S3 API reference; access key AKIAIOSFODNN7EXAMPLE), URI
 * encoding, URL building, and the XML of S3's answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
