/* SPDX-License-Identifier: ISC
 * fuzz_config.c — the INI configuration (config.c).
 *
 * The input, as a C string, is loaded with config_load_string under the name
 * "fuzz.ini".  Properties:
 *   - it succeeds, or fails with a message "fuzz.ini:LINE: ..." (LINE a
 *     decimal number), as the table promises for every error, and releases
 *     what it allocated (LeakSanitizer);
 *   - the same text with a short error buffer gives the same verdict and a
 *     NUL-terminated prefix of the same message;
 *   - a loaded config is within the table's bounds: listen parses, log level
 *     is one of the four, workers 0..256, header_timeout 1..3600,
 *     read_timeout 1..86400, max_connections 1..1000000, root non-empty,
 *     sync 0/1, max_manifest_size 1K..1G, chunk_min_length 0..1G,
 *     max_blob_size 0..1P, and so on for [cache], [auth], [tls]; every
 *     string is terminated inside its array; named sections are of a known
 *     kind, named, with at most CONFIG_SECTION_KEYS distinct keys;
 *   - loading is a function of the text: written back as INI (every key
 *     this driver knows, in canonical units) it loads to the same values;
 *   - a line longer than the reader's limit is an error, never split into
 *     lines of its own (inih's behaviour when a reader hands it pieces);
 *   - otherwise comments are inert: without its comment and blank lines (all
 *     but the first line, where a BOM may sit) the text gives the same
 *     verdict and, on success, the same values.
 *
 * Keys added to the table later are not compared until listed here: the
 * comparisons are field by field, never memcmp of the whole struct.
 */
#include <ctype.h>
#include <stdarg.h>

#include "addr.h"
#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "server.h"

#define NAME "fuzz.ini"

/* config.c sets inih's ini_max_line to 4096: a line (with its newline)
 * must fit in 4095 bytes plus the NUL. */
#define LINE_MAX_BYTES 4095

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void
check_bounds(const struct config *c)
{
	FUZZ_CHECK(strcmp(c->path, NAME) == 0);
	FUZZ_CHECK(TERMINATED(c->listen));
	FUZZ_CHECK(c->listen[0] != '\0' && addr_valid(c->listen));
	FUZZ_CHECK(c->log_level >= LOG_DEBUG && c->log_level <= LOG_ERROR);
	FUZZ_CHECK(c->workers >= 0 && c->workers <= 256);
	FUZZ_CHECK(c->header_timeout >= 1 && c->header_timeout <= 3600);
	FUZZ_CHECK(c->read_timeout >= 1 && c->read_timeout <= 86400);
	FUZZ_CHECK(c->max_connections >= 1 && c->max_connections <= 1000000);
	FUZZ_CHECK(TERMINATED(c->root) && c->root[0] != '\0');
	FUZZ_CHECK(c->sync == 0 || c->sync == 1);
	FUZZ_CHECK(c->max_manifest_size >= 1024 && c->max_manifest_size <= 1LL << 30);
	FUZZ_CHECK(c->chunk_min_length >= 0 && c->chunk_min_length <= 1LL << 30);
	FUZZ_CHECK(c->max_blob_size >= 0 && c->max_blob_size <= 1LL << 50);
	FUZZ_CHECK(c->manifest_cache_size >= 0 && c->manifest_cache_size <= 1LL << 34);
	FUZZ_CHECK(TERMINATED(c->auth_users) && TERMINATED(c->auth_token_key));
	FUZZ_CHECK(c->auth_anonymous == 0 || c->auth_anonymous == 1);
	FUZZ_CHECK(c->auth_token_ttl >= 60 && c->auth_token_ttl <= 86400);
	FUZZ_CHECK(TERMINATED(c->auth_service) && c->auth_service[0] != '\0');
	FUZZ_CHECK(TERMINATED(c->auth_realm));
	FUZZ_CHECK(c->auth_max_failures >= 1 && c->auth_max_failures <= 1000000);
	FUZZ_CHECK(c->auth_failure_window >= 1 && c->auth_failure_window <= 86400);
	FUZZ_CHECK(TERMINATED(c->tls_certificate) && TERMINATED(c->tls_key));
	FUZZ_CHECK(c->nsections == 0 || c->sections != NULL);
	for (size_t i = 0; i < c->nsections; i++) {
		const struct config_section *s = &c->sections[i];

		FUZZ_CHECK(TERMINATED(s->kind) && TERMINATED(s->name));
		FUZZ_CHECK(strcmp(s->kind, "group") == 0 || strcmp(s->kind, "access") == 0 ||
		    strcmp(s->kind, "proxy") == 0 || strcmp(s->kind, "retention") == 0);
		FUZZ_CHECK(s->name[0] != '\0');
		FUZZ_CHECK(s->nkv >= 0 && s->nkv <= CONFIG_SECTION_KEYS);
		for (int k = 0; k < s->nkv; k++) {
			FUZZ_CHECK(TERMINATED(s->kv[k].key) && TERMINATED(s->kv[k].value));
			FUZZ_CHECK(config_section_get(s, s->kv[k].key) == s->kv[k].value);
		}
		/* (kind, name) pairs are unique. */
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(c->sections[j].kind, s->kind) != 0 ||
			    strcmp(c->sections[j].name, s->name) != 0);
	}
}

/* Same values (line numbers aside) for every key this driver knows. */
static int
config_same(const struct config *a, const struct config *b)
{
#define SAME_S(f) (strcmp(a->f, b->f) == 0)
#define SAME_N(f) (a->f == b->f)
	if (!(SAME_S(listen) && SAME_N(log_level) && SAME_N(workers) && SAME_N(header_timeout) &&
	    SAME_N(read_timeout) && SAME_N(max_connections) && SAME_S(root) && SAME_N(sync) &&
	    SAME_N(max_manifest_size) && SAME_N(chunk_min_length) && SAME_N(max_blob_size) &&
	    SAME_N(manifest_cache_size) && SAME_S(auth_users) && SAME_N(auth_anonymous) &&
	    SAME_S(auth_token_key) && SAME_N(auth_token_ttl) && SAME_S(auth_service) &&
	    SAME_S(auth_realm) && SAME_N(auth_max_failures) && SAME_N(auth_failure_window) &&
	    SAME_S(tls_certificate) && SAME_S(tls_key) && SAME_N(nsections)))
		return 0;
#undef SAME_S
#undef SAME_N
	for (size_t i = 0; i < a->nsections; i++) {
		const struct config_section *x = &a->sections[i], *y = &b->sections[i];

		if (strcmp(x->kind, y->kind) != 0 || strcmp(x->name, y->name) != 0 ||
		    x->nkv != y->nkv)
			return 0;
		for (int k = 0; k < x->nkv; k++)
			if (strcmp(x->kv[k].key, y->kv[k].key) != 0 ||
			    strcmp(x->kv[k].value, y->kv[k].value) != 0)
				return 0;
	}
	return 1;
}

static void
check_error(const char *err)
{
	size_t n = strlen(NAME), digits;

	FUZZ_CHECK(strncmp(err, NAME ":", n + 1) == 0);
	digits = strspn(err + n + 1, "0123456789");
	FUZZ_CHECK(digits >= 1);
	FUZZ_CHECK(strncmp(err + n + 1 + digits, ": ", 2) == 0);
	FUZZ_CHECK(err[n + 1 + digits + 2] != '\0');
}

/* One "key=value" line; sets *toolong if it cannot be a line of its own. */
static void
put(FILE *f, int *toolong, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
put(FILE *f, int *toolong, const char *key, const char *fmt, ...)
{
	char value[PATH_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (strlen(key) + 1 + strlen(value) + 1 > LINE_MAX_BYTES)
		*toolong = 1;
	fprintf(f, "%s=%s\n", key, value);
}

/* The config as INI text (malloc'd), or NULL if a value is too long to be
 * written on a line of its own with its newline (it came from a last line
 * without one). */
static char *
write_back(const struct config *c)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	char *s = NULL;
	size_t len = 0;
	int toolong = 0;
	FILE *f = open_memstream(&s, &len);

	FUZZ_CHECK(f != NULL);
	fprintf(f, "[server]\n");
	put(f, &toolong, "listen", "%s", c->listen);
	put(f, &toolong, "log_level", "%s", levels[c->log_level]);
	put(f, &toolong, "workers", "%d", c->workers);
	put(f, &toolong, "header_timeout", "%ds", c->header_timeout);
	put(f, &toolong, "read_timeout", "%d", c->read_timeout);
	put(f, &toolong, "max_connections", "%d", c->max_connections);
	fprintf(f, "[storage]\n");
	put(f, &toolong, "root", "%s", c->root);
	put(f, &toolong, "sync", "%s", c->sync ? "true" : "off");
	fprintf(f, "[limits]\n");
	put(f, &toolong, "max_manifest_size", "%lld", c->max_manifest_size);
	put(f, &toolong, "chunk_min_length", "%lld", c->chunk_min_length);
	put(f, &toolong, "max_blob_size", "%lld", c->max_blob_size);
	fprintf(f, "[cache]\n");
	put(f, &toolong, "manifest_cache_size", "%lld", c->manifest_cache_size);
	fprintf(f, "[auth]\n");
	put(f, &toolong, "users", "%s", c->auth_users);
	put(f, &toolong, "anonymous", "%s", c->auth_anonymous ? "pull" : "none");
	put(f, &toolong, "token_key", "%s", c->auth_token_key);
	put(f, &toolong, "token_ttl", "%ds", c->auth_token_ttl);
	put(f, &toolong, "service", "%s", c->auth_service);
	put(f, &toolong, "realm", "%s", c->auth_realm);
	put(f, &toolong, "max_failures", "%d", c->auth_max_failures);
	put(f, &toolong, "failure_window", "%d", c->auth_failure_window);
	fprintf(f, "[tls]\n");
	put(f, &toolong, "certificate", "%s", c->tls_certificate);
	put(f, &toolong, "key", "%s", c->tls_key);
	for (size_t i = 0; i < c->nsections; i++) {
		const struct config_section *cs = &c->sections[i];

		fprintf(f, "[%s \"%s\"]\n", cs->kind, cs->name);
		for (int k = 0; k < cs->nkv; k++)
			put(f, &toolong, cs->kv[k].key, "%s", cs->kv[k].value);
	}
	FUZZ_CHECK(fclose(f) == 0 && s != NULL);
	if (toolong) {
		free(s);
		return NULL;
	}
	return s;
}

/* Whether some line of text (with its newline) exceeds LINE_MAX_BYTES. */
static int
has_long_line(const char *text)
{
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);

		if (n > LINE_MAX_BYTES)
			return 1;
		p += n;
	}
	return 0;
}

/* text minus every comment or blank line after the first, as inih
 * classifies lines: first non-space character ';', '#' or none. */
static char *
strip_comments(const char *text)
{
	char *out = malloc(strlen(text) + 1);
	const char *p = text;
	size_t o = 0;
	int first = 1;

	FUZZ_CHECK(out != NULL);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
		const char *q = p;

		while (q < p + n && isspace((unsigned char)*q))
			q++;
		if (first || !(q == p + n || *q == '#' || *q == ';')) {
			memcpy(out + o, p, n);
			o += n;
		}
		first = 0;
		p += n;
	}
	out[o] = '\0';
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	struct config *cfg = malloc(sizeof(*cfg)), *again = malloc(sizeof(*again));
	char err[1024], err2[1024], small[24];
	size_t scap = size > 0 ? (size_t)data[0] % sizeof(small) + 1 : 1;
	int rc, rc2;

	FUZZ_CHECK(cfg != NULL && again != NULL);
	memset(err, 0x5a, sizeof(err));
	rc = config_load_string(NAME, text, cfg, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		char *back;

		check_bounds(cfg);
		if ((back = write_back(cfg)) != NULL) {
			rc2 = config_load_string(NAME, back, again, err2, sizeof(err2));
			if (rc2 != 0)
				fprintf(stderr, "write-back failed: %s\n--\n%s\n--\n", err2, back);
			FUZZ_CHECK(rc2 == 0);
			FUZZ_CHECK(config_same(cfg, again));
			config_free(again);
			free(back);
		}
	} else {
		FUZZ_CHECK(TERMINATED(err));
		check_error(err);
	}

	if (has_long_line(text)) {
		/* Never parsed piecemeal. */
		FUZZ_CHECK(rc == -1);
	} else {
		char *bare = strip_comments(text);

		rc2 = config_load_string(NAME, bare, again, err2, sizeof(err2));
		if (rc2 != rc)
			fprintf(stderr, "without comments: rc %d (%s); with: rc %d (%s)\n", rc2,
			    rc2 != 0 ? err2 : "", rc, rc != 0 ? err : "");
		FUZZ_CHECK(rc2 == rc);
		if (rc == 0) {
			FUZZ_CHECK(config_same(cfg, again));
			config_free(again);
		}
		free(bare);
	}

	/* Same text, short error buffer. */
	memset(small, 0x5a, sizeof(small));
	rc2 = config_load_string(NAME, text, again, small, scap);
	FUZZ_CHECK(rc2 == rc);
	if (rc2 == 0) {
		config_free(again);
	} else {
		FUZZ_CHECK(memchr(small, '\0', scap) != NULL);
		FUZZ_CHECK(strncmp(small, err, strlen(small)) == 0);
		FUZZ_CHECK(strlen(small) == (strlen(err) < scap ? strlen(err) : scap - 1));
	}

	if (rc == 0)
		config_free(cfg);
	free(again);
	free(cfg);
	free(text);
	return 0;
}
