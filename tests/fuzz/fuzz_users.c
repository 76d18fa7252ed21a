/* SPDX-License-Identifier: ISC
 * fuzz_users.c — the users file and the [group] / [access] rules (auth.c).
 *
 * The input is written, byte for byte, to a temporary file that a fixed
 * config names as [auth] users; auth_new loads it together with the
 * config's fixed [group] and [access] sections (and a token key created on
 * the first run).  The input's length picks anonymous = none or pull.
 *
 * Properties:
 *   - auth_new succeeds exactly when an oracle that reads the file as the
 *     man page describes it says the file is valid: lines end at '\n'; a
 *     line of LINE_MAX_BYTES or more (comments too) is an error, never split
 *     into several; a line's content ends at its first '\r'; after leading
 *     blanks an empty line or one starting with '#' is ignored;
 *     every other line is NAME:HASH with NAME 1..127 of [A-Za-z0-9._@-],
 *     not starting with '@' (that would be a group reference),
 *     HASH 1..255 bytes starting with $argon2id$, $argon2i$, $2y$, $2b$ or
 *     $2a$, and no NAME twice.  A failure names the first bad line,
 *     "PATH:LINE: ", with the oracle's line number and reason.  A file with
 *     a NUL byte is only checked for crashes and the rules below: whether
 *     such a line is refused or cut at the NUL is left open (the daemon
 *     refuses it, as "too long", unless it is the last line);
 *   - auth_user_actions never returns bits outside TOKEN_ALL; NULL and ""
 *     (anonymous) get pull exactly when anonymous = pull, and nothing else;
 *   - for every name, the users the file defines among them, it gives what
 *     an independent reading of the fixed rules gives: the most specific
 *     matching [access] section (most literal characters, then fewest
 *     wildcards, then the first) and its lists, where '*' is any user,
 *     '@NAME' is a group (members resolved up to four levels deep) and
 *     nothing else, and any other item a user name; push implies pull;
 *     anonymous pull is added for everybody;
 *   - so a user the rules do not name (the users file's own names, names
 *     that merely look like a group reference or a list, other spellings)
 *     never gets more than anonymous plus what '*' grants.
 *
 * Password hashes are verified at load with their own cost (see the
 * findings in the report); inputs whose hashes would cost more than a few
 * milliseconds (bcrypt cost above 5, Argon2 over 256 KiB, 3 passes or 2
 * lanes) or that hold more than 8 of them are skipped, so the fuzzer spends
 * its time on the parser rather than in the hash.
 */
#include <fnmatch.h>
#include <sodium.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "token.h"

#define LINE_NAME_MAX 127
/* auth.c reads lines with fgets into 2048 bytes: 2046 and the newline fit. */
#define LINE_MAX_BYTES 2047
#define HASH_MAX 255
#define MAX_USERS 64

static struct config cfg[2];	/* anonymous = none, pull */
static char users_path[256];

static const char rules_ini[] =
    "[group \"devs\"]\nmembers = alice, bob, @ops\n"
    "[group \"ops\"]\nmembers = carol, @devs\n"
    "[group \"all\"]\nmembers = @devs dave,@l1\n"
    "[group \"l1\"]\nmembers = @l2\n"
    "[group \"l2\"]\nmembers = @l3\n"
    "[group \"l3\"]\nmembers = @l4\n"
    "[group \"l4\"]\nmembers = erin\n"
    "[access \"team/*\"]\npull = @devs\npush = alice\ndelete = carol\n"
    "[access \"team/secret\"]\npull = alice\n"
    "[access \"public/*\"]\npull = *\npush = @all\n"
    "[access \"deep/*\"]\npull = @l1\npush = @l2\ndelete = @l3\n"
    "[access \"*\"]\npull = dave\n"
    "[access \"x?z\"]\ndelete = bob\n"
    "[access \"b?c*\"]\npush = frank\n";

/* The rules as the oracle reads them (kept in sync with rules_ini). */
struct group {
	const char *name;
	const char *members[4];
};
static const struct group groups[] = {
	{"devs", {"alice", "bob", "@ops", NULL}},
	{"ops", {"carol", "@devs", NULL}},
	{"all", {"@devs", "dave", "@l1", NULL}},
	{"l1", {"@l2", NULL}},
	{"l2", {"@l3", NULL}},
	{"l3", {"@l4", NULL}},
	{"l4", {"erin", NULL}},
};
struct rule {
	const char *pattern;
	const char *lists[3][2];	/* pull, push, delete */
};
static const struct rule rules[] = {
	{"team/*", {{"@devs"}, {"alice"}, {"carol"}}},
	{"team/secret", {{"alice"}, {NULL}, {NULL}}},
	{"public/*", {{"*"}, {"@all"}, {NULL}}},
	{"deep/*", {{"@l1"}, {"@l2"}, {"@l3"}}},
	{"*", {{"dave"}, {NULL}, {NULL}}},
	{"x?z", {{NULL}, {NULL}, {"bob"}}},
	{"b?c*", {{NULL}, {"frank"}, {NULL}}},
};
/* Names the rules grant anything to (directly or through groups). */
static const char *const named[] = {"alice", "bob", "carol", "dave", "erin", "frank"};

static const char *const repos[] = {
	"team/app", "team/secret", "team/secret/x", "public/a", "public/a/b", "deep/x", "xyz",
	"x/z", "other", "a", "b/c", "bxcd", "b/c/d", "team", "", "TEAM/app",
};
static const char *const probes[] = {
	"alice", "bob", "carol", "dave", "erin", "frank", "mallory", "Alice", "alice ", " alice",
	"alice,bob", "bob alice", "@", "*", "devs", "ops", "@alice", "alice@example.com", "-", ".",
	"..", "erin ", "ERIN",
};

static void
setup(void)
{
	static char dir[] = "/tmp/ociregd-fuzz-users.XXXXXX";
	char *text, err[512];
	size_t cap;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		abort();
	log_set_level(LOG_ERROR);
	snprintf(users_path, sizeof(users_path), "%s/users", dir);
	cap = sizeof(rules_ini) + 1024;
	if ((text = malloc(cap)) == NULL)
		abort();
	for (int i = 0; i < 2; i++) {
		snprintf(text, cap,
		    "[server]\nlisten = 127.0.0.1:0\n[storage]\nroot = %s\n"
		    "[auth]\nusers = %s\ntoken_key = %s/token.key\nanonymous = %s\n%s",
		    dir, users_path, dir, i ? "pull" : "none", rules_ini);
		if (config_load_string("fuzz.ini", text, &cfg[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
	}
	free(text);
}

/* ---- the oracle's reading of the users file ---- */

enum verdict { V_OK, V_SYNTAX, V_HASH, V_TWICE, V_LONG };

struct parsed {
	enum verdict v;
	int line;			/* of the first error */
	char *names[MAX_USERS];
	size_t nnames;
};

static int
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '_' || c == '-' || c == '@';
}

static int
hash_prefix_known(const char *h)
{
	return strncmp(h, "$argon2id$", 10) == 0 || strncmp(h, "$argon2i$", 9) == 0 ||
	    strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2a$", 4) == 0;
}

static void
oracle_parse(const uint8_t *data, size_t size, struct parsed *p)
{
	size_t off = 0;
	int line = 0;

	memset(p, 0, sizeof(*p));
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl != NULL ? (size_t)(nl - (data + off)) : size - off;
		char *s = fuzz_strndup(data + off, n), *q, *colon;
		size_t nlen;

		off += n + 1;
		line++;
		if (n >= LINE_MAX_BYTES) {
			p->v = V_LONG;
			p->line = line;
			free(s);
			return;
		}
		s[strcspn(s, "\r")] = '\0';
		q = s + strspn(s, " \t");
		if (*q == '\0' || *q == '#') {
			free(s);
			continue;
		}
		colon = strchr(q, ':');
		nlen = colon != NULL ? (size_t)(colon - q) : 0;
		if (colon == NULL || nlen == 0 || nlen > LINE_NAME_MAX || q[0] == '@') {
			p->v = V_SYNTAX;
		} else {
			for (size_t i = 0; i < nlen; i++)
				if (!name_char(q[i]))
					p->v = V_SYNTAX;
		}
		if (p->v == V_OK && (strlen(colon + 1) == 0 || strlen(colon + 1) > HASH_MAX ||
		    !hash_prefix_known(colon + 1)))
			p->v = V_HASH;
		if (p->v == V_OK) {
			*colon = '\0';
			for (size_t i = 0; i < p->nnames; i++)
				if (strcmp(p->names[i], q) == 0)
					p->v = V_TWICE;
		}
		if (p->v != V_OK) {
			p->line = line;
			free(s);
			return;
		}
		if (p->nnames < MAX_USERS)
			p->names[p->nnames++] = strdup(q);
		free(s);
	}
}

static void
oracle_free(struct parsed *p)
{
	for (size_t i = 0; i < p->nnames; i++)
		free(p->names[i]);
}

/* Whether hashing this input's hashes would be slow: bcrypt cost > 5,
 * Argon2 m > 256 KiB, t > 3 or p > 1, or more than 8 hashes. */
static int
too_costly(const uint8_t *data, size_t size)
{
	int nhash = 0;

	for (size_t i = 0; i + 4 <= size; i++) {
		if (data[i] != '$')
			continue;
		if (data[i + 1] == '2' && (data[i + 2] == 'a' || data[i + 2] == 'b' || data[i + 2] == 'y') &&
		    data[i + 3] == '$') {
			nhash++;
			if (i + 5 >= size || data[i + 4] != '0' || data[i + 5] > '5')
				return 1;
		}
		if (i + 7 <= size && memcmp(data + i, "$argon2", 7) == 0) {
			/* Every number on the rest of the line is a bound. */
			unsigned long long v = 0;
			char key = 0;

			nhash++;
			for (size_t j = i + 7; j < size && data[j] != '\n'; j++) {
				if (data[j] >= '0' && data[j] <= '9') {
					if (v > 1000000)
						return 1;
					v = v * 10 + (data[j] - '0');
				} else {
					if ((key == 'm' && v > 256) || (key == 't' && v > 3) ||
					    (key == 'p' && v > 1))
						return 1;
					if (data[j] == '=' && j > 0)
						key = (char)data[j - 1];
					else if (data[j] == ',' || data[j] == '$')
						key = 0;
					v = 0;
				}
			}
			if ((key == 'm' && v > 256) || (key == 't' && v > 3) || (key == 'p' && v > 1))
				return 1;
		}
	}
	return nhash > 8;
}

/* ---- the oracle's reading of the rules ---- */

static const struct group *
group_find(const char *name)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	return NULL;
}

/* user is in item, expanding at most `levels` group references. */
static int
in_item(const char *item, const char *user, int levels)
{
	const struct group *g;

	if (strcmp(item, "*") == 0)
		return 1;
	if (item[0] != '@')
		return strcmp(item, user) == 0;
	if (levels == 0 || (g = group_find(item + 1)) == NULL)
		return 0;
	for (int i = 0; i < 4 && g->members[i] != NULL; i++)
		if (in_item(g->members[i], user, levels - 1))
			return 1;
	return 0;
}

static unsigned
oracle_actions(const char *user, const char *repo, int anonymous)
{
	const struct rule *best = NULL;
	int best_lit = -1, best_wild = 0;
	unsigned a = 0;
	static const unsigned bits[3] = {TOKEN_PULL, TOKEN_PUSH | TOKEN_PULL, TOKEN_DELETE};

	if (user == NULL || user[0] == '\0')
		return anonymous ? TOKEN_PULL : 0;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		int lit = 0, wild = 0;

		if (fnmatch(rules[i].pattern, repo, 0) != 0)
			continue;
		for (const char *c = rules[i].pattern; *c != '\0'; c++) {
			if (*c == '*' || *c == '?' || *c == '[')
				wild++;
			else
				lit++;
		}
		if (best == NULL || lit > best_lit || (lit == best_lit && wild < best_wild)) {
			best = &rules[i];
			best_lit = lit;
			best_wild = wild;
		}
	}
	for (int l = 0; best != NULL && l < 3; l++)
		for (int k = 0; k < 2 && best->lists[l][k] != NULL; k++)
			if (in_item(best->lists[l][k], user, 4))
				a |= bits[l];
	if (anonymous)
		a |= TOKEN_PULL;
	return a;
}

/* What '*' gives on repo (the rule's lists holding it). */
static unsigned
star_actions(const char *repo, int anonymous)
{
	return oracle_actions("\x01not-a-user-name", repo, anonymous);
}

static int
is_named(const char *user)
{
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strcmp(named[i], user) == 0)
			return 1;
	return 0;
}

static void
check_user(const struct auth *a, const char *user, int anonymous)
{
	for (size_t r = 0; r < sizeof(repos) / sizeof(repos[0]); r++) {
		unsigned got = auth_user_actions(a, user, repos[r]);
		unsigned want = oracle_actions(user, repos[r], anonymous);

		FUZZ_CHECK((got & ~TOKEN_ALL) == 0);
		if (got != want)
			fprintf(stderr, "user '%s' on '%s': got %u, rules say %u\n", user ? user : "(null)",
			    repos[r], got, want);
		FUZZ_CHECK(got == want);
		if (user != NULL && !is_named(user))
			FUZZ_CHECK((got & ~star_actions(repos[r], anonymous)) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int anonymous = (int)(size & 1);
	struct parsed p;
	struct auth *a;
	char err[1024], want_prefix[300];
	FILE *f;

	if (users_path[0] == '\0')
		setup();
	if (too_costly(data, size))
		return 0;
	if ((f = fopen(users_path, "wb")) == NULL || (size > 0 && fwrite(data, 1, size, f) != size) ||
	    fclose(f) != 0)
		abort();
	oracle_parse(data, size, &p);
	memset(err, 0, sizeof(err));
	a = auth_new(&cfg[anonymous], err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (memchr(data, '\0', size) != NULL) {
		/* No verdict to compare; the rules must still hold. */
		if (a != NULL) {
			check_user(a, NULL, anonymous);
			for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
				check_user(a, probes[i], anonymous);
			auth_free(a);
		} else {
			FUZZ_CHECK(strncmp(err, users_path, strlen(users_path)) == 0);
		}
		oracle_free(&p);
		return 0;
	}
	if (p.v != V_OK) {
		static const char *const reasons[] = {"", "expected name:hash", "unsupported password hash",
		    "user listed twice", "line longer than 2046 bytes"};

		if (a != NULL)
			fprintf(stderr, "accepted a users file the oracle rejects at line %d (%s)\n", p.line,
			    reasons[p.v]);
		FUZZ_CHECK(a == NULL);
		/* auth.c's stricter hash-shape check (see below) may stop at an
		 * earlier line than the oracle's reason. */
		if (strstr(err, "unsupported password hash") != NULL) {
			oracle_free(&p);
			return 0;
		}
		snprintf(want_prefix, sizeof(want_prefix), "%s:%d: ", users_path, p.line);
		if (strncmp(err, want_prefix, strlen(want_prefix)) != 0 || strstr(err, reasons[p.v]) == NULL)
			fprintf(stderr, "error '%s', oracle: line %d, %s\n", err, p.line, reasons[p.v]);
		FUZZ_CHECK(strncmp(err, want_prefix, strlen(want_prefix)) == 0);
		FUZZ_CHECK(strstr(err, reasons[p.v]) != NULL);
		oracle_free(&p);
		return 0;
	}
	/* The oracle knows hash prefixes only; auth.c also checks a hash's
	 * shape and bounds its cost (bcrypt 4..16, Argon2 t/m/p) without
	 * hashing, so it may refuse more -- but only for that reason. */
	if (a == NULL && strstr(err, "unsupported password hash") != NULL) {
		oracle_free(&p);
		return 0;
	}
	if (a == NULL)
		fprintf(stderr, "rejected a users file the oracle accepts: %s\n", err);
	FUZZ_CHECK(a != NULL);
	FUZZ_CHECK(auth_enabled(a));
	check_user(a, NULL, anonymous);
	check_user(a, "", anonymous);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		check_user(a, probes[i], anonymous);
	for (size_t i = 0; i < p.nnames; i++)
		check_user(a, p.names[i], anonymous);
	auth_free(a);
	oracle_free(&p);
	return 0;
}
