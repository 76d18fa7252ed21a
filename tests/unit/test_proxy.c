/* SPDX-License-Identifier: ISC
 * test_proxy.c — the pull-through cache's pure parts: WWW-Authenticate
 * challenges (Docker Hub's, Basic, quoting and escapes, several challenges
 * in one value, malformed and overlong values), the [proxy] sections
 * (defaults, trailing slash, host extraction, password_file, every
 * "FILE:LINE: proxy "NAME".key: reason" error), and routing by prefix
 * (longest wins, whole components only) and by containerd's ?ns= host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "proxy.h"

#define NAME "test.ini"

/* ---- challenges ---- */

static void
test_challenge_docker_hub(void **state)
{
	struct proxy_challenge c;

	(void)state;
	assert_int_equal(proxy_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
	    "service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\"", &c), 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/alpine:pull");
	assert_string_equal(c.error, "");
}

static void
test_challenge_forms(void **state)
{
	struct proxy_challenge c;

	(void)state;
	/* Basic, any case, without parameters or with a realm. */
	assert_int_equal(proxy_challenge_parse("Basic realm=\"e2e\"", &c), 0);
	assert_string_equal(c.scheme, "basic");
	assert_string_equal(c.realm, "e2e");
	assert_int_equal(proxy_challenge_parse("  BASIC", &c), 0);
	assert_string_equal(c.scheme, "basic");
	assert_string_equal(c.realm, "");
	/* Unquoted values, spaces around '=' and ',', key case, unknown
	 * parameters ignored, error="insufficient_scope". */
	assert_int_equal(proxy_challenge_parse("bearer Realm = http://h:5000/token , SERVICE=svc,"
	    "foo=\"bar\",scope=\"repository:a/b:pull,push\",error=\"insufficient_scope\"", &c), 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "http://h:5000/token");
	assert_string_equal(c.service, "svc");
	assert_string_equal(c.scope, "repository:a/b:pull,push");
	assert_string_equal(c.error, "insufficient_scope");
	/* Escapes inside quotes; a comma inside quotes is not a separator. */
	assert_int_equal(proxy_challenge_parse("Bearer realm=\"a\\\"b,c\\\\d\",service=\"s\"", &c), 0);
	assert_string_equal(c.realm, "a\"b,c\\d");
	assert_string_equal(c.service, "s");
	/* Two challenges in one value: the first one's parameters only. */
	assert_int_equal(proxy_challenge_parse("Bearer realm=\"https://a/token\",service=\"x\", "
	    "Basic realm=\"other\"", &c), 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://a/token");
	assert_string_equal(c.service, "x");
	/* Several scopes, space-separated inside the quotes. */
	assert_int_equal(proxy_challenge_parse("Bearer scope=\"repository:a:pull repository:b:pull\"", &c), 0);
	assert_string_equal(c.scope, "repository:a:pull repository:b:pull");
}

static void
test_challenge_malformed(void **state)
{
	struct proxy_challenge c;
	char *big;

	(void)state;
	assert_int_equal(proxy_challenge_parse("", &c), -1);
	assert_int_equal(proxy_challenge_parse("   ", &c), -1);
	assert_int_equal(proxy_challenge_parse("=realm", &c), -1);
	assert_int_equal(proxy_challenge_parse("Bearer realm=\"unterminated", &c), -1);
	assert_int_equal(proxy_challenge_parse("Bearer =\"x\"", &c), -1);
	assert_int_equal(proxy_challenge_parse("Averyveryverylongscheme realm=x", &c), -1);
	/* A realm longer than the field is refused, not cut short. */
	big = malloc(3000);
	assert_non_null(big);
	memcpy(big, "Bearer realm=\"", 14);
	memset(big + 14, 'a', 2000);
	memcpy(big + 2014, "\"", 2);
	assert_int_equal(proxy_challenge_parse(big, &c), -1);
	free(big);
}

/* ---- sections ---- */

static struct proxy_conf *
conf_ok(const char *text, struct config *cfg)
{
	struct proxy_conf *pc;
	char err[512] = "";

	if (config_load_string(NAME, text, cfg, err, sizeof(err)) != 0)
		fail_msg("config should load: %s", err);
	if (proxy_conf_parse(cfg, &pc, err, sizeof(err)) != 0)
		fail_msg("proxy sections should parse: %s\n--- text ---\n%s", err, text);
	return pc;
}

static void
conf_fails(const char *text, const char *want)
{
	struct proxy_conf *pc = NULL;
	struct config cfg;
	char err[512] = "";

	if (config_load_string(NAME, text, &cfg, err, sizeof(err)) != 0) {
		/* A mistyped value (the key table's types) stops the load
		 * itself, under the same FILE:LINE: section.key: prefix. */
		const char *p = strstr(want, ": "), *q = p != NULL ? strstr(p + 2, ": ") : NULL;

		assert_non_null(q);
		if (strncmp(err, want, (size_t)(q - want) + 2) != 0)
			fail_msg("got \"%s\", want the prefix of \"%s\"", err, want);
		return;
	}
	assert_int_equal(proxy_conf_parse(&cfg, &pc, err, sizeof(err)), -1);
	assert_null(pc);
	assert_string_equal(err, want);
	assert_int_equal(proxy_config_check(&cfg, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	config_free(&cfg);
}

static void
test_sections(void **state)
{
	struct config cfg;
	struct proxy_conf *pc;

	(void)state;
	pc = conf_ok("[proxy \"hub\"]\nurl = https://Registry-1.Docker.io/\nprefix = dockerhub\n"
	    "[proxy \"local\"]\nurl = http://127.0.0.1:5000/sub/path//\nmirror = yes\npush = true\n"
	    "tls_verify = off\ntag_ttl = 2s\nusername = u\npassword = p\n"
	    "[proxy \"empty\"]\nurl = https://q.example\nprefix =\nusername =\n", &cfg);
	assert_int_equal(pc->n, 3);
	assert_string_equal(pc->sections[0].name, "hub");
	assert_string_equal(pc->sections[0].url, "https://Registry-1.Docker.io");
	assert_string_equal(pc->sections[0].host, "registry-1.docker.io");
	assert_string_equal(pc->sections[0].prefix, "dockerhub");
	assert_int_equal(pc->sections[0].tag_ttl, 600);
	assert_int_equal(pc->sections[0].mirror, 0);
	assert_int_equal(pc->sections[0].push, 0);
	assert_int_equal(pc->sections[0].tls_verify, 1);
	assert_string_equal(pc->sections[0].username, "");
	assert_string_equal(pc->sections[1].url, "http://127.0.0.1:5000/sub/path");
	assert_string_equal(pc->sections[1].host, "127.0.0.1:5000");
	assert_int_equal(pc->sections[1].tag_ttl, 2);
	assert_int_equal(pc->sections[1].mirror, 1);
	assert_int_equal(pc->sections[1].push, 1);
	assert_int_equal(pc->sections[1].tls_verify, 0);
	assert_string_equal(pc->sections[1].username, "u");
	assert_string_equal(pc->sections[1].password, "p");
	assert_ptr_equal(pc->mirror, &pc->sections[1]);
	/* Empty values are the documented defaults. */
	assert_string_equal(pc->sections[2].prefix, "");
	assert_string_equal(pc->sections[2].username, "");
	proxy_conf_free(pc);
	config_free(&cfg);
	/* No [proxy] section: an empty set. */
	pc = conf_ok("[server]\nworkers = 1\n", &cfg);
	assert_int_equal(pc->n, 0);
	assert_null(pc->mirror);
	proxy_conf_free(pc);
	config_free(&cfg);
}

static void
test_password_file(void **state)
{
	char path[] = "/tmp/test_proxy.XXXXXX", text[512];
	struct config cfg;
	struct proxy_conf *pc;
	FILE *f;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs("s3cret\r\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "[proxy \"a\"]\nurl = https://a.example\nusername = bob\n"
	    "password_file = %s\n", path);
	pc = conf_ok(text, &cfg);
	assert_string_equal(pc->sections[0].password, "s3cret");
	proxy_conf_free(pc);
	config_free(&cfg);
	/* An empty file is an error. */
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	{
		char want[600];

		snprintf(want, sizeof(want), "test.ini:4: proxy \"a\".password_file: %s is empty", path);
		conf_fails(text, want);
	}
	unlink(path);
}

static void
test_section_errors(void **state)
{
	(void)state;
	conf_fails("[proxy \"a\"]\nprefix = x\n",
	    "test.ini:2: proxy \"a\".url: required (e.g. https://registry-1.docker.io)");
	conf_fails("[proxy \"a\"]\nurl = ftp://x\n",
	    "test.ini:2: proxy \"a\".url: 'ftp://x' does not start with https:// or http://");
	conf_fails("[proxy \"a\"]\nurl = https://\n", "test.ini:2: proxy \"a\".url: 'https://' has no host");
	conf_fails("[proxy \"a\"]\nurl = https://u:p@h\n",
	    "test.ini:2: proxy \"a\".url: must not carry credentials (set username and password)");
	conf_fails("[proxy \"a\"]\nurl = https://h/?x=1\n",
	    "test.ini:2: proxy \"a\".url: must be a plain URL without query, at most 1023 bytes");
	conf_fails("[proxy \"a\"]\nurl = https://h\npassword = p\n", "test.ini:3: proxy \"a\".password: needs username");
	conf_fails("[proxy \"a\"]\nurl = https://h\nusername = u\n",
	    "test.ini:3: proxy \"a\".username: needs password or password_file");
	conf_fails("[proxy \"a\"]\nurl = https://h\nusername = u\npassword = p\npassword_file = /f\n",
	    "test.ini:5: proxy \"a\".password_file: set password or password_file, not both");
	conf_fails("[proxy \"a\"]\nurl = https://h\nusername = u\npassword_file = /nonexistent/pw\n",
	    "test.ini:4: proxy \"a\".password_file: /nonexistent/pw: No such file or directory");
	conf_fails("[proxy \"a\"]\nurl = https://h\nprefix = Docker/Hub\n",
	    "test.ini:3: proxy \"a\".prefix: 'Docker/Hub' is not a repository name prefix (e.g. dockerhub)");
	conf_fails("[proxy \"a\"]\nurl = https://h\ntag_ttl = soon\n",
	    "test.ini:3: proxy \"a\".tag_ttl: 'soon' is not a duration up to 365d (e.g. 30s, 10m, 24h)");
	conf_fails("[proxy \"a\"]\nurl = https://h\ntag_ttl = 400d\n",
	    "test.ini:3: proxy \"a\".tag_ttl: '400d' is not a duration up to 365d (e.g. 30s, 10m, 24h)");
	conf_fails("[proxy \"a\"]\nurl = https://h\nmirror = maybe\n",
	    "test.ini:3: proxy \"a\".mirror: 'maybe' is not a boolean (true/false)");
	conf_fails("[proxy \"a\"]\nurl = https://h\ntls_verify = 2\n",
	    "test.ini:3: proxy \"a\".tls_verify: '2' is not a boolean (true/false)");
	conf_fails("[proxy \"a\"]\nurl = https://h\nmirror = true\n[proxy \"b\"]\nurl = https://i\nmirror = on\n",
	    "test.ini:6: proxy \"b\".mirror: [proxy \"a\"] is the mirror already");
	conf_fails("[proxy \"a\"]\nurl = https://h\nprefix = hub\n[proxy \"b\"]\nurl = https://i\nprefix = hub\n",
	    "test.ini:6: proxy \"b\".prefix: 'hub' is also the prefix of [proxy \"a\"]");
}

/* ---- routing ---- */

static void
test_route_prefix(void **state)
{
	struct config cfg;
	struct proxy_conf *pc;
	const char *rest = NULL;

	(void)state;
	pc = conf_ok("[proxy \"hub\"]\nurl = https://registry-1.docker.io\nprefix = dockerhub\n"
	    "[proxy \"deep\"]\nurl = https://deep.example\nprefix = dockerhub/deep\n"
	    "[proxy \"m\"]\nurl = https://m.example\nmirror = true\n", &cfg);
	assert_ptr_equal(proxy_route_prefix(pc, "dockerhub/library/alpine", &rest), &pc->sections[0]);
	assert_string_equal(rest, "library/alpine");
	assert_ptr_equal(proxy_route_prefix(pc, "dockerhub/x", &rest), &pc->sections[0]);
	assert_string_equal(rest, "x");
	/* The longest prefix wins. */
	assert_ptr_equal(proxy_route_prefix(pc, "dockerhub/deep/app", &rest), &pc->sections[1]);
	assert_string_equal(rest, "app");
	/* Whole components only; the prefix alone is no repository. */
	assert_null(proxy_route_prefix(pc, "dockerhubx/library/alpine", &rest));
	assert_null(proxy_route_prefix(pc, "dockerhub", &rest));
	assert_null(proxy_route_prefix(pc, "library/alpine", &rest));
	/* A section without prefix (the mirror) matches nothing here. */
	assert_null(proxy_route_prefix(pc, "m/x", &rest));
	proxy_conf_free(pc);
	config_free(&cfg);
}

static void
test_route_ns(void **state)
{
	struct config cfg;
	struct proxy_conf *pc;

	(void)state;
	pc = conf_ok("[proxy \"local\"]\nurl = http://127.0.0.1:5000\nprefix = l\n"
	    "[proxy \"quay\"]\nurl = https://Quay.io/\n"
	    "[proxy \"quay2\"]\nurl = https://quay.io/v2mirror\n"
	    "[proxy \"hub\"]\nurl = https://registry-1.docker.io\n", &cfg);
	assert_ptr_equal(proxy_route_ns(pc, "127.0.0.1:5000"), &pc->sections[0]);
	assert_null(proxy_route_ns(pc, "127.0.0.1"));
	assert_null(proxy_route_ns(pc, "127.0.0.1:5001"));
	/* Case-insensitive; the first section in file order. */
	assert_ptr_equal(proxy_route_ns(pc, "QUAY.IO"), &pc->sections[1]);
	/* containerd's name for Docker Hub. */
	assert_ptr_equal(proxy_route_ns(pc, "docker.io"), &pc->sections[3]);
	assert_ptr_equal(proxy_route_ns(pc, "registry-1.docker.io"), &pc->sections[3]);
	assert_null(proxy_route_ns(pc, "ghcr.io"));
	assert_null(proxy_route_ns(pc, ""));
	proxy_conf_free(pc);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_docker_hub),
		cmocka_unit_test(test_challenge_forms),
		cmocka_unit_test(test_challenge_malformed),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_route_prefix),
		cmocka_unit_test(test_route_ns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
