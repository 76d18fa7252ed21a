/* SPDX-License-Identifier: ISC
 * auth.c — authentication and authorization: the users file (Argon2id via
 * libsodium, bcrypt via libcrypt so `htpasswd -B` files work), [group] and
 * [access] sections, Docker's token protocol (GET /token issues Ed25519 JWTs,
 * see token.c; distribution/distribution docs/spec/auth/token.md) and
 * Basic credentials directly on /v2/ requests.
 *
 * Security notes: an unknown user costs the same as a wrong password (we
 * verify against a dummy hash of the same kind); failed logins are counted
 * per client address and answered 429 past [auth] max_failures; passwords
 * and tokens never reach a log line.  Verified Basic credentials are cached
 * for a minute by their SHA-256 so a client sending Basic on every request
 * does not pay an Argon2 hash each time.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "route.h"
#include "server.h"
#include "uri.h"
#include "worker.h"

#define AUTH_USER_MAX 128
#define AUTH_HASH_MAX 256
#define AUTH_LIST_MAX 1024
#define AUTH_FAIL_SLOTS 1024
#define AUTH_CRED_SLOTS 256
#define AUTH_CRED_TTL 60
#define AUTH_CRED_FP 12

struct auth_user {
	char name[AUTH_USER_MAX];
	char hash[AUTH_HASH_MAX];
	/* Fingerprint of hash, carried in the tokens issued to this user
	 * (claim "ocv"): a new password is a new hash (a new salt, even for
	 * the same password), so tokens issued before it stop verifying.
	 * The same on every node that reads the same users file. */
	char cred[2 * AUTH_CRED_FP + 1];
};

struct auth_group {
	char name[64];
	char members[AUTH_LIST_MAX];
};

enum { AUTH_L_PULL, AUTH_L_PUSH, AUTH_L_DELETE, AUTH_NLISTS };

struct auth_rule {
	char pattern[256];
	char lists[AUTH_NLISTS][AUTH_LIST_MAX];
	int literal;			/* non-wildcard characters: specificity */
	int wild;
};

struct auth_fail {
	char ip[64];
	long long start;
	int count;
};

struct auth_cred {
	unsigned char key[crypto_hash_sha256_BYTES];
	char user[AUTH_USER_MAX];
	long long expires;
};

struct auth {
	int enabled;
	int anonymous;
	int tls;
	int ttl;
	int max_failures, window;
	char service[128];
	char realm[512];
	struct auth_user *users;
	size_t nusers;
	struct auth_group *groups;
	size_t ngroups;
	struct auth_rule *rules;
	size_t nrules;
	char dummy_hash[AUTH_HASH_MAX];
	struct token_key *key;
	pthread_mutex_t mu;
	struct auth_fail fails[AUTH_FAIL_SLOTS];
	struct auth_cred creds[AUTH_CRED_SLOTS];
};

/* Who a request is, once auth_request let it through. */
struct auth_ident {
	int authenticated;
	char user[AUTH_USER_MAX];
};

static int auth_errf(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
auth_errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

static long long
auth_now(void)
{
	return (long long)time(NULL);
}

/* ---- hashes ---- */

int
auth_hash_verify(const char *hash, const char *password)
{
	if (strncmp(hash, "$argon2id$", 10) == 0 || strncmp(hash, "$argon2i$", 9) == 0)
		return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
	if (strncmp(hash, "$2y$", 4) == 0 || strncmp(hash, "$2b$", 4) == 0 ||
	    strncmp(hash, "$2a$", 4) == 0) {
		struct crypt_data *cd = calloc(1, sizeof(*cd));
		const char *out;
		int ok = 0;

		if (cd == NULL)
			return 0;
		out = crypt_r(password, hash, cd);
		if (out != NULL && out[0] != '*' && strlen(out) == strlen(hash))
			ok = sodium_memcmp(out, hash, strlen(hash)) == 0;
		free(cd);
		return ok;
	}
	return -1;
}

/* Whether a stored hash is one we can check at a sane cost, judged from
 * its text alone (hashing at load would cost ~60 ms per user, at start and
 * at every reload).  Costs are bounded: bcrypt 4..16, Argon2 t <= 16 and
 * m <= 1 GiB, p <= 16. */
static int
auth_hash_format_ok(const char *h)
{
	unsigned long m = 0, t = 0, par = 0;
	const char *mp;
	char *end;

	if (strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2a$", 4) == 0) {
		unsigned long cost = strtoul(h + 4, &end, 10);

		if (end != h + 6 || *end != '$' || cost < 4 || cost > 16 || strlen(end + 1) != 53)
			return 0;
		return strspn(end + 1, "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 53;
	}
	if (strncmp(h, "$argon2id$", 10) != 0 && strncmp(h, "$argon2i$", 9) != 0)
		return 0;
	if ((mp = strstr(h, "$m=")) == NULL || sscanf(mp, "$m=%lu,t=%lu,p=%lu$", &m, &t, &par) != 3)
		return 0;
	if (m == 0 || m > 1048576 || t == 0 || t > 16 || par == 0 || par > 16)
		return 0;
	/* libsodium parses the rest (salt, hash) without hashing. */
	return crypto_pwhash_str_needs_rehash(h, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != -1;
}

int
auth_hash_new(const char *password, char *out, size_t cap)
{
	if (cap < crypto_pwhash_STRBYTES)
		return -1;
	return crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

/* ---- loading ---- */

static int
auth_user_name_valid(const char *s, size_t n)
{
	/* '@' may not lead: "@name" in an access list means a group. */
	if (n == 0 || n >= AUTH_USER_MAX || s[0] == '@')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-' || c == '@'))
			return 0;
	}
	return 1;
}

static void
auth_cred_fingerprint(struct auth_user *u)
{
	unsigned char fp[AUTH_CRED_FP];

	crypto_generichash(fp, sizeof(fp), (const unsigned char *)u->hash, strlen(u->hash),
	    (const unsigned char *)"ociregd-cred", 12);
	sodium_bin2hex(u->cred, sizeof(u->cred), fp, sizeof(fp));
}

static int
auth_load_users(struct auth *a, const struct config *cfg, char *err, size_t cap)
{
	const char *path = cfg->auth_users;
	char line[2048], where[PATH_MAX + 64];
	FILE *f;
	int lineno = 0;

	if ((f = fopen(path, "r")) == NULL) {
		int e = errno;

		/* The config line names the file; the hint says how to make
		 * it, or how to let the daemon's user read it. */
		config_key_where(cfg, "auth", "users", where, sizeof(where));
		if (e == ENOENT)
			return auth_errf(err, cap, "%s: %s: %s (create it with `ociregd passwd -c %s USER`)",
			    where, path, strerror(e), cfg->path);
		return auth_errf(err, cap, "%s: %s: %s (%s)", where, path, strerror(e),
		    e == EACCES ? "make it readable by the daemon's user, e.g. chgrp ociregd FILE; "
		    "chmod 0640 FILE" : "check the path");
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *colon;
		struct auth_user *u;
		size_t n;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fclose(f);
			return auth_errf(err, cap, "%s:%d: line longer than %zu bytes", path, lineno,
			    sizeof(line) - 2);
		}
		line[strcspn(line, "\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if ((colon = strchr(p, ':')) == NULL || !auth_user_name_valid(p, (size_t)(colon - p))) {
			fclose(f);
			return auth_errf(err, cap, "%s:%d: expected name:hash", path, lineno);
		}
		n = strlen(colon + 1);
		if (n == 0 || n >= AUTH_HASH_MAX || !auth_hash_format_ok(colon + 1)) {
			fclose(f);
			return auth_errf(err, cap, "%s:%d: unsupported password hash (use Argon2id from "
			    "'ociregd passwd' or bcrypt from 'htpasswd -B')", path, lineno);
		}
		for (size_t i = 0; i < a->nusers; i++) {
			if (strncmp(a->users[i].name, p, (size_t)(colon - p)) == 0 &&
			    a->users[i].name[colon - p] == '\0') {
				fclose(f);
				return auth_errf(err, cap, "%s:%d: user listed twice", path, lineno);
			}
		}
		if ((u = realloc(a->users, (a->nusers + 1) * sizeof(*u))) == NULL) {
			fclose(f);
			return auth_errf(err, cap, "out of memory");
		}
		a->users = u;
		u = &a->users[a->nusers++];
		memset(u, 0, sizeof(*u));
		memcpy(u->name, p, (size_t)(colon - p));
		memcpy(u->hash, colon + 1, n);
		auth_cred_fingerprint(u);
	}
	fclose(f);
	return 0;
}

/* Call fn on each item of a "a, b, @g" list; stop when it returns non-zero. */
static int
auth_list_each(const char *list, int (*fn)(void *, const char *), void *arg)
{
	char item[AUTH_USER_MAX + 2];
	const char *p = list;

	while (*p != '\0') {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if (n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			if (fn(arg, item) != 0)
				return 1;
		}
		p += n;
	}
	return 0;
}

struct auth_check_ctx {
	const struct auth *a;
	char *err;
	size_t cap;
	const char *where;
	int line;
	const char *cfgpath;
};

static const struct auth_group *
auth_group_find(const struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->ngroups; i++)
		if (strcmp(a->groups[i].name, name) == 0)
			return &a->groups[i];
	return NULL;
}

static int
auth_check_item(void *arg, const char *item)
{
	struct auth_check_ctx *c = arg;

	if (item[0] == '@' && auth_group_find(c->a, item + 1) == NULL) {
		auth_errf(c->err, c->cap, "%s:%d: %s: unknown group %s (define it with [group \"%s\"] "
		    "members = ...)", c->cfgpath, c->line, c->where, item, item + 1);
		return 1;
	}
	if (item[0] != '@' && strcmp(item, "*") != 0 && !auth_user_name_valid(item, strlen(item))) {
		auth_errf(c->err, c->cap, "%s:%d: %s: '%s' is not a user name (letters, digits, "
		    "'.', '_', '-', '@'; @NAME for a group, * for any user)", c->cfgpath, c->line,
		    c->where, item);
		return 1;
	}
	return 0;
}

static int
auth_load_sections(struct auth *a, const struct config *cfg, char *err, size_t cap)
{
	static const char *const lists[AUTH_NLISTS] = {"pull", "push", "delete"};

	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct config_section *s = &cfg->sections[i];
		struct auth_group *g;

		if (strcmp(s->kind, "group") != 0)
			continue;
		if ((g = realloc(a->groups, (a->ngroups + 1) * sizeof(*g))) == NULL)
			return auth_errf(err, cap, "out of memory");
		a->groups = g;
		g = &a->groups[a->ngroups++];
		memset(g, 0, sizeof(*g));
		if (strlen(s->name) >= sizeof(g->name))
			return auth_errf(err, cap, "%s:%d: group \"%s\": name longer than %zu bytes",
			    cfg->path, s->line, s->name, sizeof(g->name) - 1);
		memcpy(g->name, s->name, strlen(s->name) + 1);
		snprintf(g->members, sizeof(g->members), "%s",
		    config_section_get(s, "members") ? config_section_get(s, "members") : "");
	}
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct config_section *s = &cfg->sections[i];
		struct auth_rule *r;

		if (strcmp(s->kind, "access") != 0)
			continue;
		if ((r = realloc(a->rules, (a->nrules + 1) * sizeof(*r))) == NULL)
			return auth_errf(err, cap, "out of memory");
		a->rules = r;
		r = &a->rules[a->nrules++];
		memset(r, 0, sizeof(*r));
		snprintf(r->pattern, sizeof(r->pattern), "%s", s->name);
		for (const char *p = r->pattern; *p != '\0'; p++) {
			if (*p == '*' || *p == '?' || *p == '[')
				r->wild++;
			else
				r->literal++;
		}
		for (int l = 0; l < AUTH_NLISTS; l++) {
			const char *v = config_section_get(s, lists[l]);
			char where[300];
			struct auth_check_ctx c = {a, err, cap, where, config_section_line(s, lists[l]),
			    cfg->path};

			if (v == NULL)
				continue;
			snprintf(where, sizeof(where), "access \"%s\".%s", s->name, lists[l]);
			if (auth_list_each(v, auth_check_item, &c) != 0)
				return -1;
			snprintf(r->lists[l], sizeof(r->lists[l]), "%s", v);
		}
	}
	return 0;
}

struct auth *
auth_new(const struct config *cfg, char *err, size_t errcap)
{
	struct auth *a = calloc(1, sizeof(*a));
	char keypath[PATH_MAX + 16], pw[33], why[PATH_MAX + 128], where[PATH_MAX + 64];
	unsigned char rnd[16];

	if (a == NULL) {
		auth_errf(err, errcap, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->tls = cfg->tls_certificate[0] != '\0';
	if (cfg->auth_users[0] == '\0')
		return a;
	a->enabled = 1;
	a->anonymous = cfg->auth_anonymous;
	a->ttl = cfg->auth_token_ttl;
	a->max_failures = cfg->auth_max_failures;
	a->window = cfg->auth_failure_window;
	snprintf(a->service, sizeof(a->service), "%s", cfg->auth_service);
	snprintf(a->realm, sizeof(a->realm), "%s", cfg->auth_realm);
	if (auth_load_users(a, cfg, err, errcap) != 0 ||
	    auth_load_sections(a, cfg, err, errcap) != 0)
		goto fail;
	if (cfg->auth_token_key[0] != '\0')
		snprintf(keypath, sizeof(keypath), "%s", cfg->auth_token_key);
	else
		snprintf(keypath, sizeof(keypath), "%s/token.key", cfg->root);
	if ((a->key = token_key_load(keypath, why, sizeof(why))) == NULL) {
		auth_errf(err, errcap, "%s: %s (%s)", config_key_where(cfg, "auth", "token_key", where,
		    sizeof(where)), why, cfg->auth_token_key[0] != '\0' ? "point it at a file of 64 hex "
		    "digits, or at a path that does not exist yet to have one made" : "the default is "
		    "<root>/token.key: [storage] root must be writable by the daemon");
		goto fail;
	}
	/* Unknown users are checked against a hash of the same kind as the
	 * first real one, so both failures take the same time. */
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(pw, sizeof(pw), rnd, sizeof(rnd));
	if (a->nusers > 0)
		snprintf(a->dummy_hash, sizeof(a->dummy_hash), "%s", a->users[0].hash);
	else if (auth_hash_new(pw, a->dummy_hash, sizeof(a->dummy_hash)) != 0) {
		auth_errf(err, errcap, "cannot hash");
		goto fail;
	}
	return a;
fail:
	auth_free(a);
	return NULL;
}

/* Who an access list or group names that the users file does not: a
 * typo there silently grants nothing, so it is worth a warning, while
 * an unknown @group is an error (auth_check_item). */
static const struct auth_user *auth_user_find(const struct auth *a, const char *name);

struct auth_warn_ctx {
	const struct auth *a;
	const struct config *cfg;
	const char *where;
	int line;
	void (*fn)(void *, const char *);
	void *arg;
	int n;
};

static int
auth_warn_item(void *arg, const char *item)
{
	struct auth_warn_ctx *c = arg;
	char msg[3 * PATH_MAX + 1024];

	if (item[0] == '@' || strcmp(item, "*") == 0 || auth_user_find(c->a, item) != NULL)
		return 0;
	snprintf(msg, sizeof(msg), "%s:%d: %s: user '%s' is not in the users file %s (a typo? add "
	    "it with `ociregd passwd -c %s %s`)", c->cfg->path, c->line, c->where, item,
	    c->cfg->auth_users, c->cfg->path, item);
	c->fn(c->arg, msg);
	c->n++;
	return 0;
}

int
auth_warnings(const struct auth *a, const struct config *cfg, void (*fn)(void *, const char *),
    void *arg)
{
	static const char *const keys[] = {"members", "pull", "push", "delete"};
	struct auth_warn_ctx c = {a, cfg, NULL, 0, fn, arg, 0};

	if (a == NULL || !a->enabled)
		return 0;
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct config_section *s = &cfg->sections[i];
		int group = strcmp(s->kind, "group") == 0;
		char where[300];

		if (!group && strcmp(s->kind, "access") != 0)
			continue;
		for (size_t k = group ? 0 : 1; k < (group ? 1 : 4); k++) {
			const char *v = config_section_get(s, keys[k]);

			if (v == NULL)
				continue;
			snprintf(where, sizeof(where), "%s \"%s\".%s", s->kind, s->name, keys[k]);
			c.where = where;
			c.line = config_section_line(s, keys[k]);
			auth_list_each(v, auth_warn_item, &c);
		}
	}
	return c.n;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	token_key_free(a->key);
	free(a->users);
	free(a->groups);
	free(a->rules);
	pthread_mutex_destroy(&a->mu);
	sodium_memzero(a->creds, sizeof(a->creds));
	free(a);
}

int
auth_enabled(const struct auth *a)
{
	return a != NULL && a->enabled;
}

/* ---- permissions ---- */

struct auth_member_ctx {
	const struct auth *a;
	const char *user;
	int found;
	int depth;
};

static int
auth_member_item(void *arg, const char *item)
{
	struct auth_member_ctx *c = arg;

	if (strcmp(item, "*") == 0 || strcmp(item, c->user) == 0) {
		c->found = 1;
	} else if (item[0] == '@' && c->depth < 4) {
		const struct auth_group *g = auth_group_find(c->a, item + 1);

		if (g != NULL) {
			c->depth++;
			auth_list_each(g->members, auth_member_item, c);
			c->depth--;
		}
	}
	return c->found;
}

static int
auth_in_list(const struct auth *a, const char *list, const char *user)
{
	struct auth_member_ctx c = {a, user, 0, 0};

	auth_list_each(list, auth_member_item, &c);
	return c.found;
}

unsigned
auth_user_actions(const struct auth *a, const char *user, const char *repo)
{
	const struct auth_rule *best = NULL;
	unsigned actions = 0;

	if (!a->enabled)
		return TOKEN_ALL;
	if (user == NULL || user[0] == '\0')
		return a->anonymous ? TOKEN_PULL : 0;
	/* The most specific matching pattern wins: most literal characters,
	 * then fewest wildcards. */
	for (size_t i = 0; i < a->nrules; i++) {
		const struct auth_rule *r = &a->rules[i];

		if (fnmatch(r->pattern, repo, 0) != 0)
			continue;
		if (best == NULL || r->literal > best->literal ||
		    (r->literal == best->literal && r->wild < best->wild))
			best = r;
	}
	if (best != NULL) {
		if (auth_in_list(a, best->lists[AUTH_L_PULL], user))
			actions |= TOKEN_PULL;
		if (auth_in_list(a, best->lists[AUTH_L_PUSH], user))
			actions |= TOKEN_PUSH | TOKEN_PULL;
		if (auth_in_list(a, best->lists[AUTH_L_DELETE], user))
			actions |= TOKEN_DELETE;
	}
	if (a->anonymous)
		actions |= TOKEN_PULL;
	return actions;
}

/* ---- failures and the credential cache ---- */

static void
auth_peer_ip(const struct request *req, char *out, size_t cap)
{
	const char *p = req->peer ? req->peer : "-";
	size_t n = strlen(p);
	const char *colon = strrchr(p, ':');

	if (colon != NULL && (p[0] != '[' || colon > strchr(p, ']')))
		n = (size_t)(colon - p);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static struct auth_fail *
auth_fail_slot(struct auth *a, const char *ip)
{
	uint32_t h = 2166136261u;

	for (const char *p = ip; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &a->fails[h % AUTH_FAIL_SLOTS];
}

/* Seconds until ip may try again (0: not limited). */
static long long
auth_limited(struct auth *a, const char *ip)
{
	struct auth_fail *f;
	long long wait = 0, now = auth_now();

	pthread_mutex_lock(&a->mu);
	f = auth_fail_slot(a, ip);
	if (strcmp(f->ip, ip) == 0 && now - f->start < a->window && f->count >= a->max_failures)
		wait = f->start + a->window - now;
	pthread_mutex_unlock(&a->mu);
	return wait;
}

static void
auth_too_many(struct request *req, long long wait)
{
	req_add_header(req, "Retry-After", "%lld", wait > 0 ? wait : 1);
	req_error(req, ERR_TOOMANYREQUESTS, "too many failed logins");
}

static void
auth_record_failure(struct auth *a, const char *ip)
{
	struct auth_fail *f;
	long long now = auth_now();

	pthread_mutex_lock(&a->mu);
	f = auth_fail_slot(a, ip);
	if (strcmp(f->ip, ip) != 0 || now - f->start >= a->window) {
		snprintf(f->ip, sizeof(f->ip), "%s", ip);
		f->start = now;
		f->count = 0;
	}
	f->count++;
	pthread_mutex_unlock(&a->mu);
}

static const struct auth_user *
auth_user_find(const struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->nusers; i++)
		if (strcmp(a->users[i].name, name) == 0)
			return &a->users[i];
	return NULL;
}

/* Check user/password, through the cache.  1 if valid. */
static int
auth_check_password(struct auth *a, const char *user, const char *password)
{
	unsigned char key[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	const struct auth_user *u;
	struct auth_cred *c;
	long long now = auth_now();
	int ok;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)user, strlen(user) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)password, strlen(password));
	crypto_hash_sha256_final(&st, key);
	pthread_mutex_lock(&a->mu);
	c = &a->creds[key[0] % AUTH_CRED_SLOTS];
	ok = c->expires > now && sodium_memcmp(c->key, key, sizeof(key)) == 0 &&
	    strcmp(c->user, user) == 0;
	pthread_mutex_unlock(&a->mu);
	if (ok)
		return 1;
	u = auth_user_find(a, user);
	/* Same work whether or not the user exists. */
	ok = auth_hash_verify(u != NULL ? u->hash : a->dummy_hash, password) == 1 && u != NULL;
	if (ok) {
		pthread_mutex_lock(&a->mu);
		memcpy(c->key, key, sizeof(key));
		snprintf(c->user, sizeof(c->user), "%s", user);
		c->expires = now + AUTH_CRED_TTL;
		pthread_mutex_unlock(&a->mu);
	}
	sodium_memzero(key, sizeof(key));
	return ok;
}

/* Decode "Basic base64(user:pass)".  0 or -1. */
static int
auth_parse_basic(const char *hdr, char *user, size_t ucap, char *pass, size_t pcap)
{
	unsigned char buf[AUTH_USER_MAX + 1024 + 2];
	size_t len;
	char *colon;

	while (*hdr == ' ')
		hdr++;
	if (sodium_base642bin(buf, sizeof(buf) - 1, hdr, strlen(hdr), " ", &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL || (colon = strchr((char *)buf, ':')) == NULL)
		return -1;
	*colon = '\0';
	if (strlen((char *)buf) >= ucap || strlen(colon + 1) >= pcap)
		return -1;
	memcpy(user, buf, strlen((char *)buf) + 1);
	memcpy(pass, colon + 1, strlen(colon + 1) + 1);
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

/* ---- challenges ---- */

static void
auth_realm(const struct auth *a, const struct request *req, char *out, size_t cap)
{
	const char *host = req_header(req, "Host");

	if (a->realm[0] != '\0') {
		snprintf(out, cap, "%s", a->realm);
		return;
	}
	/* The Host header is the client's: keep only what a host[:port]
	 * may contain so it cannot break the header. */
	if (host == NULL || host[0] == '\0' || strspn(host,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(host))
		host = "localhost";
	snprintf(out, cap, "%s://%s/token", a->tls ? "https" : "http", host);
}

static void
auth_challenge(struct auth *a, struct request *req, const char *repo, unsigned need,
    const char *error)
{
	char realm[600], acts[64];

	auth_realm(a, req, realm, sizeof(realm));
	if (repo != NULL && need != 0) {
		token_actions_str(need & TOKEN_PUSH ? need | TOKEN_PULL : need, acts, sizeof(acts));
		req_add_header(req, "WWW-Authenticate",
		    "Bearer realm=\"%s\",service=\"%s\",scope=\"repository:%s:%s\"%s%s%s", realm,
		    a->service, repo, acts, error ? ",error=\"" : "", error ? error : "", error ? "\"" : "");
	} else if (req->m.kind == ROUTE_CATALOG) {
		req_add_header(req, "WWW-Authenticate",
		    "Bearer realm=\"%s\",service=\"%s\",scope=\"registry:catalog:*\"", realm, a->service);
	} else {
		req_add_header(req, "WWW-Authenticate", "Bearer realm=\"%s\",service=\"%s\"", realm,
		    a->service);
	}
	req_error(req, ERR_UNAUTHORIZED, NULL);
}

static unsigned
auth_token_grants(const struct token_claims *c, const char *repo)
{
	unsigned g = 0;

	for (size_t i = 0; i < c->naccess; i++)
		if (strcmp(c->access[i].type, "repository") == 0 && strcmp(c->access[i].name, repo) == 0)
			g |= c->access[i].actions;
	return g;
}

/* A failed login names the user tried, escaped (log_escape): the name is
 * the client's, and the log's reader must see it without it forging a
 * line or a field.  user is "" when the credentials did not parse. */
static void
auth_log_failure(const char *ip, const char *how, const char *user, char *esc, size_t cap)
{
	if (user[0] == '\0')
		log_info("auth: %s: failed %s login (malformed credentials)", ip, how);
	else
		log_info("auth: %s: failed %s login as \"%s\"", ip, how, log_escape(esc, cap, user));
}

int
auth_request(struct auth *a, struct request *req, const char *scope, const char *repo,
    unsigned need)
{
	const char *hdr = req_header(req, "Authorization");
	struct auth_ident *id;
	char ip[64];

	if (!a->enabled)
		return 0;
	if ((id = arena_alloc(req->arena, sizeof(*id))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return -1;
	}
	req->auth_ident = id;
	auth_peer_ip(req, ip, sizeof(ip));
	if (hdr != NULL && strncasecmp(hdr, "Bearer ", 7) == 0) {
		struct token_claims *c = arena_alloc(req->arena, sizeof(*c));
		char why[128];
		unsigned granted;

		if (c == NULL) {
			req_error(req, ERR_INTERNAL, NULL);
			return -1;
		}
		if (token_verify(a->key, hdr + 7, a->service, auth_now(), c, why, sizeof(why)) != 0) {
			log_info("auth: %s: bearer token refused: %s", ip, why);
			auth_challenge(a, req, scope, need, "invalid_token");
			return -1;
		}
		if (c->sub[0] != '\0') {
			/* The daemon checks its own tokens against the users
			 * file as it is now: a removed user, or a password
			 * changed since the token was issued, ends it. */
			const struct auth_user *u = auth_user_find(a, c->sub);

			if (u == NULL || strcmp(u->cred, c->cred) != 0) {
				log_info("auth: %s: bearer token of %s refused: %s", ip, c->sub,
				    u == NULL ? "no such user any more" : "password changed since issue");
				auth_challenge(a, req, scope, need, "invalid_token");
				return -1;
			}
		}
		id->authenticated = c->sub[0] != '\0';
		snprintf(id->user, sizeof(id->user), "%s", c->sub);
		req->user = id->user;
		if (repo == NULL)
			return 0;
		granted = auth_token_grants(c, scope);
		if ((need & ~granted) != 0) {
			/* The token lacks the scope.  If the user could have
			 * it, ask the client for a better token; if not, it is
			 * a denial. */
			if (id->authenticated && (need & ~auth_user_actions(a, id->user, scope)) != 0) {
				req_error(req, ERR_DENIED, scope);
				return -1;
			}
			auth_challenge(a, req, scope, need, "insufficient_scope");
			return -1;
		}
		/* The scope names what the client asked for; the rules
		 * decide what it may do on the repository actually served
		 * (a ?ns= or mirror request names one and serves another),
		 * and as they are now, not as they were at issue. */
		if ((need & ~auth_user_actions(a, id->authenticated ? id->user : NULL, repo)) != 0) {
			req_error(req, ERR_DENIED, repo);
			return -1;
		}
		return 0;
	}
	if (hdr != NULL && strncasecmp(hdr, "Basic ", 6) == 0) {
		char user[AUTH_USER_MAX] = "", pass[1024], esc[4 * AUTH_USER_MAX];
		long long wait;

		if ((wait = auth_limited(a, ip)) > 0) {
			auth_too_many(req, wait);
			return -1;
		}
		if (auth_parse_basic(hdr + 6, user, sizeof(user), pass, sizeof(pass)) != 0 ||
		    !auth_check_password(a, user, pass)) {
			sodium_memzero(pass, sizeof(pass));
			auth_record_failure(a, ip);
			auth_log_failure(ip, "Basic", user, esc, sizeof(esc));
			auth_challenge(a, req, scope, need, NULL);
			return -1;
		}
		sodium_memzero(pass, sizeof(pass));
		id->authenticated = 1;
		snprintf(id->user, sizeof(id->user), "%s", user);
		req->user = id->user;
		if (repo == NULL || (need & ~auth_user_actions(a, user, repo)) == 0)
			return 0;
		req_error(req, ERR_DENIED, repo);
		return -1;
	}
	/* No credentials.  /v2/ still challenges even when anonymous pull is
	 * on: clients (skopeo, docker) learn there that the registry speaks
	 * the token protocol, and fetch an anonymous token for pulls or log
	 * in for pushes; a 200 there makes them push without credentials. */
	if (req->m.kind != ROUTE_BASE && (repo == NULL ? a->anonymous :
	    (need & ~auth_user_actions(a, NULL, repo)) == 0))
		return 0;
	auth_challenge(a, req, scope, need, NULL);
	return -1;
}

unsigned
auth_request_actions(const struct auth *a, const struct request *req, const char *repo)
{
	const struct auth_ident *id = req->auth_ident;

	if (!a->enabled)
		return TOKEN_ALL;
	return auth_user_actions(a, id != NULL && id->authenticated ? id->user : NULL, repo);
}

/* ---- the token endpoint ---- */

static void
auth_rfc3339(long long t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Add the scopes of one (decoded) scope parameter, space-separated. */
static void
auth_add_scopes(struct auth *a, const char *user, const char *param, struct token_claims *c)
{
	char one[512];
	const char *p = param;

	while (*p != '\0') {
		struct token_access ta;
		size_t n;

		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n == 0)
			break;
		if (n < sizeof(one) && c->naccess < TOKEN_MAX_ACCESS) {
			memcpy(one, p, n);
			one[n] = '\0';
			if (token_scope_parse(one, &ta) == 0) {
				/* The grant is the intersection of what was
				 * asked and what is allowed; partial is fine. */
				if (strcmp(ta.type, "repository") == 0 && reference_name_valid(ta.name))
					ta.actions &= auth_user_actions(a, user, ta.name);
				else if (strcmp(ta.type, "registry") == 0 && strcmp(ta.name, "catalog") == 0)
					ta.actions = user != NULL ? TOKEN_ALL : (a->anonymous ? TOKEN_ALL : 0);
				else
					ta.actions = 0;
				c->access[c->naccess++] = ta;
			}
		}
		p += n;
	}
}

void
auth_token_handler(struct request *req)
{
	struct auth *a = req->w->auth;
	const char *hdr = req_header(req, "Authorization");
	struct token_claims *c;
	char user[AUTH_USER_MAX] = "", pass[1024], ip[64], issued[32], *jwt, *body;
	char esc[4 * AUTH_USER_MAX];
	const char *q;
	long long now = auth_now(), wait;
	size_t blen;

	if (a == NULL || !a->enabled) {
		req_error(req, ERR_NOT_FOUND, "authentication is not configured");
		return;
	}
	if ((c = arena_alloc(req->arena, sizeof(*c))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	auth_peer_ip(req, ip, sizeof(ip));
	if (hdr != NULL && strncasecmp(hdr, "Basic ", 6) == 0) {
		if ((wait = auth_limited(a, ip)) > 0) {
			auth_too_many(req, wait);
			return;
		}
		if (auth_parse_basic(hdr + 6, user, sizeof(user), pass, sizeof(pass)) != 0 ||
		    !auth_check_password(a, user, pass)) {
			sodium_memzero(pass, sizeof(pass));
			auth_record_failure(a, ip);
			auth_log_failure(ip, "token", user, esc, sizeof(esc));
			auth_challenge(a, req, NULL, 0, NULL);
			return;
		}
		sodium_memzero(pass, sizeof(pass));
	} else if (!a->anonymous) {
		/* Anonymous tokens are still issued (with no grants) so
		 * clients that probe /v2/ first behave; they can do nothing. */
	}
	snprintf(c->sub, sizeof(c->sub), "%s", user);
	if (user[0] != '\0') {
		const struct auth_user *u = auth_user_find(a, user);

		if (u != NULL)
			snprintf(c->cred, sizeof(c->cred), "%s", u->cred);
	}
	snprintf(c->aud, sizeof(c->aud), "%s", a->service);
	c->iat = now;
	c->nbf = now - 5;
	c->exp = now + a->ttl;
	/* Every scope= parameter, in order. */
	for (q = req->query; q != NULL && *q != '\0';) {
		size_t n = strcspn(q, "&");

		if (n > 6 && strncmp(q, "scope=", 6) == 0) {
			char dec[2048];

			if (uri_decode(q + 6, n - 6, dec, sizeof(dec)) == 0)
				auth_add_scopes(a, user[0] ? user : NULL, dec, c);
		}
		q += n;
		if (*q == '&')
			q++;
	}
	if ((jwt = token_sign(a->key, c, "ociregd")) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	auth_rfc3339(now, issued, sizeof(issued));
	blen = 2 * strlen(jwt) + 128;
	if ((body = arena_alloc(req->arena, blen)) == NULL) {
		free(jwt);
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	snprintf(body, blen, "{\"token\":\"%s\",\"access_token\":\"%s\",\"expires_in\":%d,\"issued_at\":\"%s\"}",
	    jwt, jwt, a->ttl, issued);
	free(jwt);
	req_add_header(req, "Cache-Control", "no-store");
	req_respond(req, 200, "application/json", body, strlen(body));
}

/* ---- ociregd passwd ---- */

static int
auth_read_password(char *out, size_t cap)
{
	struct termios old, noecho;
	int tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fprintf(stderr, "Password: ");
		if (tcgetattr(STDIN_FILENO, &old) != 0)
			return -1;
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	if (fgets(out, (int)cap, stdin) == NULL)
		out[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strcspn(out, "\r\n");
	if (out[n] == '\0' && n == cap - 1 && !feof(stdin)) {
		/* Longer than we take: refuse rather than cut it. */
		sodium_memzero(out, cap);
		return -2;
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

int
auth_passwd_command(const struct config *cfg, const char *user)
{
	char pass[1024], hash[crypto_pwhash_STRBYTES], tmp[PATH_MAX + 8], line[2048];
	FILE *in, *out;
	int fd, replaced = 0;

	if (cfg->auth_users[0] == '\0') {
		fprintf(stderr, "%s: auth.users: not set (passwd writes the users file it names: add "
		    "users = FILE to [auth])\n", cfg->path);
		return 78;
	}
	if (!auth_user_name_valid(user, strlen(user))) {
		fprintf(stderr, "ociregd passwd: '%s' is not a valid user name\n", user);
		return 64;
	}
	switch (auth_read_password(pass, sizeof(pass))) {
	case 0:
		break;
	case -2:
		fprintf(stderr, "ociregd passwd: password longer than %zu characters\n", sizeof(pass) - 2);
		return 64;
	default:
		fprintf(stderr, "ociregd passwd: empty password\n");
		return 64;
	}
	if (auth_hash_new(pass, hash, sizeof(hash)) != 0) {
		sodium_memzero(pass, sizeof(pass));
		fprintf(stderr, "ociregd passwd: hashing failed (out of memory?)\n");
		return 70;
	}
	sodium_memzero(pass, sizeof(pass));
	snprintf(tmp, sizeof(tmp), "%s.tmp", cfg->auth_users);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    (out = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "ociregd passwd: %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 73;
	}
	/* Copy the file, replacing the user's line; the new file replaces
	 * the old by rename, so a reader never sees half of it.  It keeps the
	 * old file's mode and owner (e.g. 0640 root:ociregd for the unit). */
	if ((in = fopen(cfg->auth_users, "r")) != NULL) {
		struct stat st;

		if (fstat(fileno(in), &st) == 0) {
			if (fchown(fileno(out), st.st_uid, st.st_gid) != 0)
				log_warn("passwd: cannot keep the owner of %s", cfg->auth_users);
			fchmod(fileno(out), st.st_mode & 07777);
		}
		while (fgets(line, sizeof(line), in) != NULL) {
			size_t ul = strlen(user);

			if (strncmp(line, user, ul) == 0 && line[ul] == ':') {
				fprintf(out, "%s:%s\n", user, hash);
				replaced = 1;
			} else {
				fputs(line, out);
				/* A last line without its newline stays a line. */
				if (line[strlen(line) - 1] != '\n')
					fputc('\n', out);
			}
		}
		fclose(in);
	}
	if (!replaced)
		fprintf(out, "%s:%s\n", user, hash);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0 || fclose(out) != 0 ||
	    rename(tmp, cfg->auth_users) != 0) {
		fprintf(stderr, "ociregd passwd: writing %s: %s\n", cfg->auth_users, strerror(errno));
		unlink(tmp);
		return 73;
	}
	printf("%s %s in %s\n", replaced ? "changed" : "added", user, cfg->auth_users);
	return 0;
}
