/* SPDX-License-Identifier: ISC
 * test_auth.c — authentication and authorization without a server:
 * password hashes (Argon2id from auth_hash_new, bcrypt $2a$/$2b$/$2y$ from
 * libcrypt and a published test vector, unknown formats), auth_new from a
 * config and a users file in a mkdtemp directory, the [access] rules of
 * auth_user_actions (the most specific glob wins: most literal characters,
 * then fewest wildcards; push implies pull; @group and *; anonymous none or
 * pull; no match is no access), and the "FILE:LINE: reason" errors for the
 * users file and the [access] lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "log.h"
#include "token.h"

#define CFGNAME "test.ini"
#define PULL TOKEN_PULL
#define PUSH TOKEN_PUSH
#define DEL TOKEN_DELETE

/* One Argon2id hash of "pw" shared by every user of the rules tests
 * (hashing costs ~0.1 s each). */
static char g_hash[256];

struct fixture {
	char dir[64];
	char users[128];
	char key[128];
	struct config cfg;
	int cfg_loaded;
	struct auth *a;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
group_setup(void **state)
{
	(void)state;
	return auth_hash_new("pw", g_hash, sizeof(g_hash));
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_auth.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->users, sizeof(f->users), "%s/users", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/token.key", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	auth_free(f->a);
	if (f->cfg_loaded)
		config_free(&f->cfg);
	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

/* A users file with one line per name in names (space-separated), all
 * with the shared hash. */
static void
write_users(struct fixture *f, const char *names)
{
	char buf[8192], name[64];
	size_t o = 0;
	const char *p = names;

	buf[0] = '\0';
	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s:%s\n", name, g_hash);
		p += n;
		p += strspn(p, " ");
	}
	write_file(f->users, buf);
}

/* Load "[storage]/[auth] header + extra" as the config; header lines are
 * counted so tests can compute the line numbers of their own lines. */
#define HEADER_LINES 6
static int
load_cfg(struct fixture *f, const char *anonymous, const char *extra, char *err, size_t cap)
{
	char text[16384];

	snprintf(text, sizeof(text),
	    "[storage]\n"
	    "root = %s\n"
	    "[auth]\n"
	    "users = %s\n"
	    "token_key = %s\n"
	    "anonymous = %s\n"
	    "%s",
	    f->dir, f->users, f->key, anonymous, extra);
	if (config_load_string(CFGNAME, text, &f->cfg, err, cap) != 0)
		return -1;
	f->cfg_loaded = 1;
	return 0;
}

/* Build f->a; must succeed. */
static void
auth_ok(struct fixture *f, const char *anonymous, const char *extra)
{
	char err[1024] = "";

	if (load_cfg(f, anonymous, extra, err, sizeof(err)) != 0)
		fail_msg("config does not load: %s\n%s", err, extra);
	f->a = auth_new(&f->cfg, err, sizeof(err));
	if (f->a == NULL)
		fail_msg("auth_new failed: %s\n%s", err, extra);
	assert_true(auth_enabled(f->a));
}

/* auth_new must fail with an error starting with want_prefix and
 * containing want_sub. */
static void
auth_fails(struct fixture *f, const char *extra, const char *want_prefix, const char *want_sub)
{
	char err[1024] = "";
	struct auth *a;

	if (load_cfg(f, "none", extra, err, sizeof(err)) != 0)
		fail_msg("config does not load: %s\n%s", err, extra);
	a = auth_new(&f->cfg, err, sizeof(err));
	if (a != NULL) {
		auth_free(a);
		fail_msg("auth_new accepted:\n%s", extra);
	}
	if (strncmp(err, want_prefix, strlen(want_prefix)) != 0 || strstr(err, want_sub) == NULL)
		fail_msg("error \"%s\"\nwant prefix \"%s\" and \"%s\"", err, want_prefix, want_sub);
	config_free(&f->cfg);
	f->cfg_loaded = 0;
}

static void
expect(const struct auth *a, const char *user, const char *repo, unsigned want)
{
	unsigned got = auth_user_actions(a, user, repo);
	char g[64], w[64];

	if (got != want)
		fail_msg("auth_user_actions(%s, %s) = {%s}, want {%s}", user ? user : "(anonymous)", repo,
		    token_actions_str(got, g, sizeof(g)), token_actions_str(want, w, sizeof(w)));
}

/* ---------------------------------------------------------------- hashes */

static void
test_hash_argon2id(void **state)
{
	char h[256], h2[256], small[16];

	(void)state;
	assert_int_equal(auth_hash_new("correct horse", h, sizeof(h)), 0);
	assert_int_equal(strncmp(h, "$argon2id$", 10), 0);
	assert_int_equal(auth_hash_verify(h, "correct horse"), 1);
	assert_int_equal(auth_hash_verify(h, "correct hors"), 0);
	assert_int_equal(auth_hash_verify(h, "correct horse "), 0);
	assert_int_equal(auth_hash_verify(h, "Correct horse"), 0);
	assert_int_equal(auth_hash_verify(h, ""), 0);
	/* Salted: the same password hashes differently, both verify. */
	assert_int_equal(auth_hash_new("correct horse", h2, sizeof(h2)), 0);
	assert_string_not_equal(h, h2);
	assert_int_equal(auth_hash_verify(h2, "correct horse"), 1);
	/* A password with a colon and non-ASCII bytes. */
	assert_int_equal(auth_hash_new("a:b:\xc3\xa9", h2, sizeof(h2)), 0);
	assert_int_equal(auth_hash_verify(h2, "a:b:\xc3\xa9"), 1);
	assert_int_equal(auth_hash_verify(h2, "a:b:"), 0);
	/* Too small an output buffer. */
	assert_int_equal(auth_hash_new("x", small, sizeof(small)), -1);
	/* A damaged Argon2id hash does not verify anything. */
	memcpy(h2, h, sizeof(h2));
	h2[strlen(h2) - 3] = h2[strlen(h2) - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(auth_hash_verify(h2, "correct horse"), 0);
}

static void
test_hash_bcrypt(void **state)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char salt[64], h[128];
	const char *out;

	(void)state;
	assert_non_null(cd);
	/* Generated here, as `htpasswd -B` would ($2b$, and $2y$). */
	assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	out = crypt_r("s3cret!", salt, cd);
	assert_non_null(out);
	assert_int_equal(strncmp(out, "$2b$04$", 7), 0);
	snprintf(h, sizeof(h), "%s", out);
	assert_int_equal(auth_hash_verify(h, "s3cret!"), 1);
	assert_int_equal(auth_hash_verify(h, "s3cret"), 0);
	assert_int_equal(auth_hash_verify(h, "S3cret!"), 0);
	assert_int_equal(auth_hash_verify(h, ""), 0);
	h[2] = 'y';	/* the same hash as htpasswd writes it */
	assert_int_equal(auth_hash_verify(h, "s3cret!"), 1);
	assert_int_equal(auth_hash_verify(h, "wrong"), 0);

	/* Published test vector (OpenBSD / John the Ripper): "U*U". */
	assert_int_equal(auth_hash_verify("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"), 1);
	assert_int_equal(auth_hash_verify("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"), 1);
	assert_int_equal(auth_hash_verify("$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"), 1);
	assert_int_equal(auth_hash_verify("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*V"), 0);
	/* Damaged bcrypt hashes verify nothing (crypt's "*0" failure token
	 * must not compare equal to anything). */
	assert_int_equal(auth_hash_verify("$2b$05$short", "U*U"), 0);
	assert_int_equal(auth_hash_verify("$2b$05$short", ""), 0);
	assert_int_equal(auth_hash_verify("$2b$", ""), 0);
	assert_int_equal(auth_hash_verify("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeX", "U*U"), 0);
	free(cd);
}

static void
test_hash_unknown(void **state)
{
	static const char *const unknown[] = {
		"",
		"plaintext",
		"pw",
		"$1$saltsalt$2vpJw2q2Ccs1o4RQvTLX0.",	/* md5crypt */
		"$5$rounds=5000$usesomesillystri$KqJWpanXZHKq2BOB43TSaYhEWsQ1Lr5QNyPCDH/Tp.6",
		"$6$saltsalt$abcdefghijklmnopqrstuvwxyz",
		"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
		"$apr1$salt$hash",
		"$argon2d$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$abc",
		"$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
		"$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D",
		"2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		if (auth_hash_verify(unknown[i], "pw") != -1)
			fail_msg("auth_hash_verify(\"%s\") should be -1 (unknown format)", unknown[i]);
		if (auth_hash_verify(unknown[i], unknown[i]) != -1)
			fail_msg("auth_hash_verify(\"%s\", itself) should be -1", unknown[i]);
	}
}

/* ---------------------------------------------------------------- rules */

static const char rules[] =
    "[group \"devs\"]\n"
    "members = alice, carol\n"
    "[access \"*\"]\n"
    "pull = dave\n"
    "[access \"team/*\"]\n"
    "pull = *\n"
    "push = @devs\n"
    "delete = alice\n"
    "[access \"team/secret/*\"]\n"
    "pull = bob\n"
    "push = carol\n"
    "[access \"team/app\"]\n"
    "push = bob\n"
    "[access \"team/a*p*\"]\n"
    "pull = frank\n"
    "[access \"team/ap*\"]\n"
    "pull = eve\n"
    "[access \"team/a*p?\"]\n"
    "pull = gina\n";

static void
test_rules(void **state)
{
	struct fixture *f = *state;

	write_users(f, "alice bob carol dave eve frank gina");
	auth_ok(f, "none", rules);

	/* "team/..." glob: pull = *, push = @devs, delete = alice. */
	expect(f->a, "alice", "team/x", PULL | PUSH | DEL);
	expect(f->a, "carol", "team/x", PULL | PUSH);
	expect(f->a, "bob", "team/x", PULL);
	expect(f->a, "dave", "team/x", PULL);
	expect(f->a, "alice", "team/x/y/z", PULL | PUSH | DEL);

	/* The team/secret glob beats the team glob: only its lists count. */
	expect(f->a, "bob", "team/secret/a", PULL);
	expect(f->a, "carol", "team/secret/a", PULL | PUSH);	/* push implies pull */
	expect(f->a, "alice", "team/secret/a", 0);
	expect(f->a, "dave", "team/secret/a", 0);

	/* The literal name beats every glob; its lists replace theirs. */
	expect(f->a, "bob", "team/app", PULL | PUSH);
	expect(f->a, "alice", "team/app", 0);
	expect(f->a, "eve", "team/app", 0);

	/* Same literal count (7): fewer wildcards wins -- team/ap* (1) over
	 * team/a*p* (2).  team/a*p? has 7 literals and 2 wildcards as well. */
	expect(f->a, "eve", "team/apx", PULL);
	expect(f->a, "frank", "team/apx", 0);
	expect(f->a, "gina", "team/apx", 0);
	expect(f->a, "alice", "team/apx", 0);
	/* Of the two-wildcard rules only team/a*p* matches team/abpzz; it
	 * beats the team glob (5 literals). */
	expect(f->a, "frank", "team/abpzz", PULL);
	expect(f->a, "gina", "team/abpzz", 0);
	expect(f->a, "eve", "team/abpzz", 0);
	expect(f->a, "bob", "team/abpzz", 0);

	/* "*" catches everything else. */
	expect(f->a, "dave", "other/x", PULL);
	expect(f->a, "dave", "library/ubuntu", PULL);
	expect(f->a, "alice", "other/x", 0);

	/* Anonymous (none): nothing anywhere. */
	expect(f->a, NULL, "team/x", 0);
	expect(f->a, "", "team/x", 0);
	expect(f->a, NULL, "other/x", 0);
	/* A user not in any list of the winning rule. */
	expect(f->a, "nobody", "team/secret/a", 0);
}

/* No "*" rule: a repository no pattern matches is closed to everyone. */
static void
test_no_match(void **state)
{
	struct fixture *f = *state;

	write_users(f, "alice bob");
	auth_ok(f, "none",
	    "[access \"team/*\"]\n"
	    "pull = *\n"
	    "push = alice\n");
	expect(f->a, "alice", "team/x", PULL | PUSH);
	expect(f->a, "bob", "team/x", PULL);
	expect(f->a, "alice", "other/x", 0);
	expect(f->a, "alice", "team", 0);	/* the team glob needs the slash */
	expect(f->a, "alice", "teamx/y", 0);
	expect(f->a, NULL, "team/x", 0);
}

/* The winner does not depend on the order of the sections. */
static void
test_rules_order(void **state)
{
	struct fixture *f = *state;

	write_users(f, "alice bob carol dave");
	auth_ok(f, "none",
	    "[access \"team/secret/*\"]\n"
	    "pull = bob\n"
	    "[access \"team/*\"]\n"
	    "pull = alice\n"
	    "[access \"*\"]\n"
	    "pull = carol\n"
	    "[access \"t?am/*\"]\n"
	    "pull = dave\n");
	expect(f->a, "bob", "team/secret/a", PULL);
	expect(f->a, "alice", "team/secret/a", 0);
	expect(f->a, "alice", "team/x", PULL);
	expect(f->a, "dave", "team/x", 0);	/* the t?am glob has fewer literals */
	expect(f->a, "dave", "tzam/x", PULL);
	expect(f->a, "carol", "team/x", 0);
	expect(f->a, "carol", "x", PULL);
}

/* push implies pull; delete does not; groups and * in every list. */
static void
test_push_implies_pull(void **state)
{
	struct fixture *f = *state;

	write_users(f, "alice bob carol");
	auth_ok(f, "none",
	    "[group \"ops\"]\n"
	    "members = bob\n"
	    "[access \"p/*\"]\n"
	    "push = alice\n"
	    "delete = @ops\n"
	    "[access \"q/*\"]\n"
	    "push = *\n"
	    "[access \"d/*\"]\n"
	    "delete = *\n"
	    "pull = @ops\n");
	expect(f->a, "alice", "p/x", PULL | PUSH);
	expect(f->a, "bob", "p/x", DEL);
	expect(f->a, "carol", "p/x", 0);
	expect(f->a, "carol", "q/x", PULL | PUSH);
	expect(f->a, "carol", "d/x", DEL);
	expect(f->a, "bob", "d/x", PULL | DEL);
	expect(f->a, NULL, "q/x", 0);	/* * is any authenticated user */
	expect(f->a, NULL, "d/x", 0);
}

/* Group membership: several groups, a user in more than one. */
static void
test_groups(void **state)
{
	struct fixture *f = *state;

	write_users(f, "alice bob carol dave");
	auth_ok(f, "none",
	    "[group \"readers\"]\n"
	    "members = bob,carol\n"
	    "[group \"writers\"]\n"
	    "members = carol  dave\n"
	    "[access \"g/*\"]\n"
	    "pull = @readers\n"
	    "push = @writers, alice\n");
	expect(f->a, "alice", "g/x", PULL | PUSH);
	expect(f->a, "bob", "g/x", PULL);
	expect(f->a, "carol", "g/x", PULL | PUSH);
	expect(f->a, "dave", "g/x", PULL | PUSH);
	/* Names are whole words: no prefix matches. */
	expect(f->a, "bo", "g/x", 0);
	expect(f->a, "carol2", "g/x", 0);
	expect(f->a, "readers", "g/x", 0);
}

/* A user whose name is spelled like a group reference ("@readers" -- '@'
 * is allowed in names for e-mail-like users) is not a member of that
 * group: either the users file refuses such a name, or the name gets
 * nothing from "@readers" in a list. */
static void
test_user_named_like_group(void **state)
{
	struct fixture *f = *state;
	char err[1024] = "";

	write_users(f, "alice @readers bob@example.com");
	assert_int_equal(load_cfg(f, "none",
	    "[group \"readers\"]\n"
	    "members = bob@example.com\n"
	    "[access \"g/*\"]\n"
	    "pull = @readers\n"
	    "push = alice\n", err, sizeof(err)), 0);
	f->a = auth_new(&f->cfg, err, sizeof(err));
	if (f->a == NULL)
		return;		/* refused the name: fine */
	expect(f->a, "bob@example.com", "g/x", PULL);
	expect(f->a, "@readers", "g/x", 0);
}

static void
test_anonymous_pull(void **state)
{
	struct fixture *f = *state;

	write_users(f, "alice bob");
	auth_ok(f, "pull",
	    "[access \"team/*\"]\n"
	    "push = alice\n"
	    "[access \"private/*\"]\n"
	    "pull = alice\n");
	expect(f->a, NULL, "team/x", PULL);
	expect(f->a, "", "team/x", PULL);
	expect(f->a, NULL, "private/x", PULL);
	expect(f->a, NULL, "unmatched/x", PULL);
	/* Signing in never gives less than anonymous has. */
	expect(f->a, "bob", "team/x", PULL);
	expect(f->a, "bob", "unmatched/x", PULL);
	expect(f->a, "alice", "team/x", PULL | PUSH);
}

/* No users: authentication off, everything allowed. */
static void
test_auth_off(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";

	assert_int_equal(config_load_string(CFGNAME, "[storage]\nroot = /nonexistent\n", &f->cfg, err,
	    sizeof(err)), 0);
	f->cfg_loaded = 1;
	f->a = auth_new(&f->cfg, err, sizeof(err));
	assert_non_null(f->a);
	assert_false(auth_enabled(f->a));
	expect(f->a, NULL, "any/thing", TOKEN_ALL);
	expect(f->a, "x", "any/thing", TOKEN_ALL);
	assert_false(auth_enabled(NULL));
}

/* The token key: created 0600 where configured, or <root>/token.key. */
static void
test_token_key_files(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char text[1024], err[256] = "", path[160];

	write_users(f, "alice");
	auth_ok(f, "none", "");
	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	auth_free(f->a);
	f->a = NULL;
	config_free(&f->cfg);
	f->cfg_loaded = 0;

	snprintf(text, sizeof(text), "[storage]\nroot = %s\n[auth]\nusers = %s\n", f->dir, f->users);
	assert_int_equal(config_load_string(CFGNAME, text, &f->cfg, err, sizeof(err)), 0);
	f->cfg_loaded = 1;
	f->a = auth_new(&f->cfg, err, sizeof(err));
	assert_non_null(f->a);
	snprintf(path, sizeof(path), "%s/token.key", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* ---------------------------------------------------------------- errors */

static void
test_users_file_errors(void **state)
{
	struct fixture *f = *state;
	char buf[4096], want[256];

	/* Comments and blank lines are skipped but counted. */
	snprintf(buf, sizeof(buf), "# users\n\nalice:%s\n   \n  # more\nbob:%s\n", g_hash, g_hash);
	write_file(f->users, buf);
	auth_ok(f, "none", "");
	expect(f->a, "alice", "x", 0);
	auth_free(f->a);
	f->a = NULL;
	config_free(&f->cfg);
	f->cfg_loaded = 0;

	/* No colon, line 3. */
	snprintf(buf, sizeof(buf), "# users\nalice:%s\nbob\n", g_hash);
	write_file(f->users, buf);
	snprintf(want, sizeof(want), "%s:3: ", f->users);
	auth_fails(f, "", want, "name:hash");

	/* An empty name. */
	snprintf(buf, sizeof(buf), ":%s\n", g_hash);
	write_file(f->users, buf);
	snprintf(want, sizeof(want), "%s:1: ", f->users);
	auth_fails(f, "", want, "");

	/* A name with a space / a slash. */
	snprintf(buf, sizeof(buf), "alice:%s\n\nal ice:%s\n", g_hash, g_hash);
	write_file(f->users, buf);
	snprintf(want, sizeof(want), "%s:3: ", f->users);
	auth_fails(f, "", want, "");
	snprintf(buf, sizeof(buf), "a/b:%s\n", g_hash);
	write_file(f->users, buf);
	snprintf(want, sizeof(want), "%s:1: ", f->users);
	auth_fails(f, "", want, "");

	/* A plaintext password, line 2. */
	snprintf(buf, sizeof(buf), "alice:%s\nbob:hunter2\n", g_hash);
	write_file(f->users, buf);
	snprintf(want, sizeof(want), "%s:2: ", f->users);
	auth_fails(f, "", want, "hash");

	/* An empty hash. */
	write_file(f->users, "alice:\n");
	snprintf(want, sizeof(want), "%s:1: ", f->users);
	auth_fails(f, "", want, "");

	/* md5crypt (htpasswd without -B). */
	write_file(f->users, "alice:$apr1$x$y\n");
	snprintf(want, sizeof(want), "%s:1: ", f->users);
	auth_fails(f, "", want, "hash");

	/* The same user twice, line 4. */
	snprintf(buf, sizeof(buf), "alice:%s\nbob:%s\n# again\nalice:%s\n", g_hash, g_hash, g_hash);
	write_file(f->users, buf);
	snprintf(want, sizeof(want), "%s:4: ", f->users);
	auth_fails(f, "", want, "twice");

	/* A bcrypt line works next to an Argon2id one. */
	snprintf(buf, sizeof(buf), "alice:%s\nbob:$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\n", g_hash);
	write_file(f->users, buf);
	auth_ok(f, "none", "[access \"*\"]\npull = bob\n");
	expect(f->a, "bob", "x", PULL);
	auth_free(f->a);
	f->a = NULL;
	config_free(&f->cfg);
	f->cfg_loaded = 0;

	/* The users file does not exist: the config line that names it, the
	 * file, and how to make it. */
	unlink(f->users);
	snprintf(want, sizeof(want), "auth.users: %s: No such file or directory (create it with "
	    "`ociregd passwd -c", f->users);
	auth_fails(f, "", "test.ini:", want);
}

static void
test_access_errors(void **state)
{
	struct fixture *f = *state;
	char want[64];

	write_users(f, "alice bob");
	/* Unknown group in push, on line HEADER_LINES + 5. */
	snprintf(want, sizeof(want), CFGNAME ":%d: ", HEADER_LINES + 5);
	auth_fails(f,
	    "[group \"devs\"]\n"
	    "members = alice\n"
	    "[access \"team/*\"]\n"
	    "pull = *\n"
	    "push = @devs, @nope\n",
	    want, "@nope");

	/* Unknown group in delete, after other sections. */
	snprintf(want, sizeof(want), CFGNAME ":%d: ", HEADER_LINES + 6);
	auth_fails(f,
	    "[access \"a/*\"]\n"
	    "pull = alice\n"
	    "\n"
	    "[access \"b/*\"]\n"
	    "# comment\n"
	    "delete = @ghosts\n",
	    want, "@ghosts");

	/* Unknown group in pull; a group defined only later still counts
	 * (groups are read first). */
	snprintf(want, sizeof(want), CFGNAME ":%d: ", HEADER_LINES + 2);
	auth_fails(f,
	    "[access \"a/*\"]\n"
	    "pull = @devz\n"
	    "[group \"devs\"]\n"
	    "members = alice\n",
	    want, "@devz");
	auth_ok(f, "none",
	    "[access \"a/*\"]\n"
	    "pull = @devs\n"
	    "[group \"devs\"]\n"
	    "members = alice\n");
	expect(f->a, "alice", "a/x", PULL);
	expect(f->a, "bob", "a/x", 0);
	auth_free(f->a);
	f->a = NULL;
	config_free(&f->cfg);
	f->cfg_loaded = 0;

	/* Something that is not a user name. */
	snprintf(want, sizeof(want), CFGNAME ":%d: ", HEADER_LINES + 2);
	auth_fails(f,
	    "[access \"a/*\"]\n"
	    "pull = alice, b/ob\n",
	    want, "b/ob");
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_argon2id),
		cmocka_unit_test(test_hash_bcrypt),
		cmocka_unit_test(test_hash_unknown),
		T(test_rules),
		T(test_no_match),
		T(test_rules_order),
		T(test_push_implies_pull),
		T(test_groups),
		T(test_user_named_like_group),
		T(test_anonymous_pull),
		T(test_auth_off),
		T(test_token_key_files),
		T(test_users_file_errors),
		T(test_access_errors),
	};
#undef T

	if (sodium_init() < 0)
		return 1;
	log_set_level((enum log_level)(LOG_ERROR + 1));
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
