/* SPDX-License-Identifier: ISC
 * config.c — the INI configuration.  One table of keys drives parsing
 * (inih calls config_handler for every key), validation with bounds, the
 * error messages "FILE:LINE: section.key: reason", and the example file.
 *
 * Debian's inih is built without line numbers in the handler, so we feed it
 * through ini_parse_stream with a reader that counts lines: the handler runs
 * right after the reader returned the line it is handling.
 */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"

enum config_type { CT_STRING, CT_INT, CT_SIZE, CT_DURATION, CT_LOGLEVEL, CT_BOOL, CT_LISTEN };

struct config_key {
	const char *section;
	const char *key;
	enum config_type type;
	size_t off;
	size_t size;		/* CT_STRING / CT_LISTEN: buffer size */
	const char *def;
	long long min, max;
	const char *doc;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static const struct config_key config_keys[] = {
	{"server", "listen", CT_LISTEN, F(listen), "127.0.0.1:5000", 0, 0,
	    "Address to listen on: HOST:PORT or [IPV6]:PORT."},
	{"server", "log_level", CT_LOGLEVEL, F(log_level), "info", 0, 0,
	    "debug, info, warn or error."},
	{"server", "workers", CT_INT, F(workers), "0", 0, 256,
	    "Worker threads, each with its own event loop; 0 = one per CPU."},
	{"server", "header_timeout", CT_DURATION, F(header_timeout), "30s", 1, 3600,
	    "Time a client has to send a request's headers."},
	{"server", "read_timeout", CT_DURATION, F(read_timeout), "120s", 1, 86400,
	    "Silence after which a connection is dropped (idle or mid-body)."},
	{"server", "max_connections", CT_INT, F(max_connections), "4096", 1, 1000000,
	    "Open connections per worker."},
	{"storage", "root", CT_STRING, F(root), "./var", 0, 0,
	    "Directory for blobs, uploads and meta.db; created on start."},
	{"storage", "sync", CT_BOOL, F(sync), "true", 0, 1,
	    "fsync blobs and directories before acknowledging a push."},
	{"limits", "max_manifest_size", CT_SIZE, F(max_manifest_size), "4M", 1024, 1LL << 30,
	    "Largest manifest body accepted."},
	{"limits", "chunk_min_length", CT_SIZE, F(chunk_min_length), "0", 0, 1LL << 30,
	    "Advertised in OCI-Chunk-Min-Length on upload start (0: none)."},
	{"limits", "max_blob_size", CT_SIZE, F(max_blob_size), "0", 0, 1LL << 50,
	    "Largest blob accepted; 0 = unlimited."},
	{"cache", "manifest_cache_size", CT_SIZE, F(manifest_cache_size), "16M", 0, 1LL << 34,
	    "Memory for manifests served from RAM (split between workers); 0 = off."},
};

#undef F

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

struct config_parse {
	struct config *cfg;
	const char *name;
	int line;
	int failed;
	char *err;
	size_t errcap;
	unsigned char seen[NKEYS];
	/* string source for config_load_string */
	const char *text;
};

static void
config_fail(struct config_parse *p, const char *section, const char *key, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (p->failed++)
		return;	/* report the first error only */
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (key != NULL)
		snprintf(p->err, p->errcap, "%s:%d: %s.%s: %s", p->name, p->line, section, key, why);
	else
		snprintf(p->err, p->errcap, "%s:%d: %s", p->name, p->line, why);
}

/* Parse "123", "4k", "4M", "4MiB", "50G", "1T" (binary multiples). */
static int
config_parse_size(const char *v, long long *out)
{
	char *end;
	long long n, mul = 1;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || n < 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1LL << 10; end++; break;
	case 'm': case 'M': mul = 1LL << 20; end++; break;
	case 'g': case 'G': mul = 1LL << 30; end++; break;
	case 't': case 'T': mul = 1LL << 40; end++; break;
	default: return -1;
	}
	if (mul > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	if (*end != '\0' || (mul > 1 && n > LLONG_MAX / mul))
		return -1;
	*out = n * mul;
	return 0;
}

/* Parse "90", "90s", "10m", "24h", "7d" into seconds. */
static int
config_parse_duration(const char *v, long long *out)
{
	char *end;
	long long n, mul = 1;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || n < 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 's': end++; break;
	case 'm': mul = 60; end++; break;
	case 'h': mul = 3600; end++; break;
	case 'd': mul = 86400; end++; break;
	default: return -1;
	}
	if (*end != '\0' || n > LLONG_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

static int
config_set(struct config_parse *p, const struct config_key *k, const char *v)
{
	char *field = (char *)p->cfg + k->off;
	long long n;
	char *end;
	enum log_level lv;

	switch (k->type) {
	case CT_LISTEN:
		if (!server_listen_valid(v)) {
			config_fail(p, k->section, k->key, "'%s' is not HOST:PORT or [IPV6]:PORT", v);
			return -1;
		}
		/* FALLTHROUGH */
	case CT_STRING:
		if (v[0] == '\0' || strlen(v) >= k->size) {
			config_fail(p, k->section, k->key, "empty or longer than %zu bytes", k->size - 1);
			return -1;
		}
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case CT_LOGLEVEL:
		if (log_level_parse(v, &lv) != 0) {
			config_fail(p, k->section, k->key, "'%s' is not one of debug, info, warn, error", v);
			return -1;
		}
		*(int *)field = (int)lv;
		return 0;
	case CT_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0 ||
		    strcmp(v, "1") == 0)
			*(int *)field = 1;
		else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0 ||
		    strcmp(v, "0") == 0)
			*(int *)field = 0;
		else {
			config_fail(p, k->section, k->key, "'%s' is not a boolean (true/false)", v);
			return -1;
		}
		return 0;
	case CT_INT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0') {
			config_fail(p, k->section, k->key, "'%s' is not an integer", v);
			return -1;
		}
		break;
	case CT_SIZE:
		if (config_parse_size(v, &n) != 0) {
			config_fail(p, k->section, k->key, "'%s' is not a size (e.g. 512k, 4M, 2G)", v);
			return -1;
		}
		break;
	case CT_DURATION:
		if (config_parse_duration(v, &n) != 0) {
			config_fail(p, k->section, k->key, "'%s' is not a duration (e.g. 30s, 10m, 24h)", v);
			return -1;
		}
		break;
	default:
		return -1;
	}
	if (n < k->min || n > k->max) {
		config_fail(p, k->section, k->key, "%lld is out of range [%lld, %lld]", n, k->min, k->max);
		return -1;
	}
	if (k->type == CT_SIZE)
		*(long long *)field = n;
	else
		*(int *)field = (int)n;
	return 0;
}

static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	int section_known = 0;

	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(config_keys[i].section, section) != 0)
			continue;
		section_known = 1;
		if (strcmp(config_keys[i].key, name) != 0)
			continue;
		if (p->seen[i]++) {
			config_fail(p, section, name, "set twice");
			return 1;
		}
		config_set(p, &config_keys[i], value);
		return 1;
	}
	if (!section_known)
		config_fail(p, NULL, NULL, "unknown section [%s]", section[0] ? section : "(none)");
	else
		config_fail(p, section, name, "unknown key");
	/* Return 1: we report our own errors with better wording. */
	return 1;
}

static char *
config_reader_file(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	FILE *f = (FILE *)p->text;
	char *r = fgets(str, num, f);

	if (r != NULL && (strchr(str, '\n') != NULL || feof(f)))
		p->line++;
	return r;
}

static char *
config_reader_string(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	const char *nl;
	size_t n;

	if (*p->text == '\0')
		return NULL;
	nl = strchr(p->text, '\n');
	n = nl != NULL ? (size_t)(nl - p->text) + 1 : strlen(p->text);
	if (n > (size_t)num - 1)
		n = (size_t)num - 1;
	memcpy(str, p->text, n);
	str[n] = '\0';
	p->text += n;
	if (n > 0 && (str[n - 1] == '\n' || *p->text == '\0'))
		p->line++;
	return str;
}

/* inih's own syntax errors (a line that is neither a section, a key nor a
 * comment, or a line too long) come back as a line number. */
static int
config_finish(struct config_parse *p, int rc)
{
	if (rc > 0 && !p->failed) {
		p->line = rc;
		config_fail(p, NULL, NULL, "syntax error (expected [section], key = value, or # comment)");
	}
	return p->failed ? -1 : 0;
}

static void
config_globals(void)
{
	/* Python-style continuation lines would make "key = a\n  b" silently
	 * mean something else; refuse them.  Long lines (paths) are fine. */
	ini_allow_multiline = false;
	ini_max_line = 4096;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errcap)
{
	struct config_parse p = {.cfg = cfg, .name = path, .err = err, .errcap = errcap};
	FILE *f;
	int rc;

	config_defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	config_globals();
	p.text = (const char *)f;
	rc = ini_parse_stream(config_reader_file, &p, config_handler, &p);
	fclose(f);
	return config_finish(&p, rc);
}

int
config_load_string(const char *name, const char *text, struct config *cfg,
    char *err, size_t errcap)
{
	struct config_parse p = {.cfg = cfg, .name = name, .err = err, .errcap = errcap,
	    .text = text};
	int rc;

	config_defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);
	config_globals();
	rc = ini_parse_stream(config_reader_string, &p, config_handler, &p);
	return config_finish(&p, rc);
}

void
config_defaults(struct config *cfg)
{
	struct config_parse p = {.cfg = cfg, .name = "(defaults)"};
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	p.err = err;
	p.errcap = sizeof(err);
	for (size_t i = 0; i < NKEYS; i++)
		config_set(&p, &config_keys[i], config_keys[i].def);
}

static const char *
config_type_name(enum config_type t)
{
	switch (t) {
	case CT_STRING: return "string";
	case CT_INT: return "integer";
	case CT_SIZE: return "size";
	case CT_DURATION: return "duration";
	case CT_LOGLEVEL: return "level";
	case CT_BOOL: return "boolean";
	case CT_LISTEN: return "address";
	}
	return "?";
}

void
config_write_example(FILE *f)
{
	const char *section = "";

	fprintf(f, "# ociregd.ini — every key with its default; see ociregd.ini(5).\n");
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(f, "\n[%s]\n", section);
		}
		fprintf(f, "# %s (%s", k->doc, config_type_name(k->type));
		if (k->type == CT_INT || k->type == CT_SIZE || k->type == CT_DURATION)
			fprintf(f, ", %lld to %lld", k->min, k->max);
		fprintf(f, ")\n%s = %s\n", k->key, k->def);
	}
}
