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

#include "addr.h"
#include "config.h"
#include "log.h"

enum config_type {
	CT_STRING, CT_OPTSTR, CT_INT, CT_SIZE, CT_DURATION, CT_LOGLEVEL, CT_BOOL, CT_LISTEN,
	CT_ANON, CT_ACCESSLOG, CT_OPTLISTEN, CT_UNTAGGED, CT_LIST, CT_BACKEND, CT_METABACKEND
};


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
	{"server", "access_log", CT_ACCESSLOG, F(access_log), "text", 0, 0,
	    "One line per request on stderr: off, text or json."},
	{"server", "metrics_listen", CT_OPTLISTEN, F(metrics_listen), "", 0, 0,
	    "Separate HOST:PORT for /metrics, /healthz and /readyz; empty = the main listener."},
	{"server", "shutdown_timeout", CT_DURATION, F(shutdown_timeout), "30s", 0, 3600,
	    "On SIGTERM, how long requests in flight may take before they are cut."},
	{"server", "read_only", CT_BOOL, F(read_only), "false", 0, 1,
	    "Maintenance: pushes, deletes and uploads get 405 UNSUPPORTED; pulls go on (also on "
	    "SIGHUP)."},
	{"storage", "backend", CT_BACKEND, F(storage_backend), "filesystem", 0, 0,
	    "Blob backend: filesystem keeps blobs as files under root; s3 keeps them in the bucket "
	    "[s3] names (root then holds only local state: meta.db, the token key)."},
	{"storage", "root", CT_STRING, F(root), "./var", 0, 0,
	    "Directory for blobs, uploads and meta.db; created on start."},
	{"storage", "sync", CT_BOOL, F(sync), "true", 0, 1,
	    "fsync blobs and directories before acknowledging a push."},
	{"storage", "direct_io", CT_BOOL, F(direct_io), "true", 0, 1,
	    "With sync on, write upload spools with O_DIRECT (past the page cache)."},
	{"storage", "upload_expiry", CT_DURATION, F(upload_expiry), "24h", 1, 365 * 86400,
	    "Upload sessions idle this long are removed, with their spool files (under 1m: tests only)."},
	{"storage", "sparse", CT_BOOL, F(sparse), "false", 0, 1,
	    "Accept manifests whose blobs or index children are not in the repository (partial "
	    "mirrors); fetching what is missing answers 404."},
	{"storage", "auto_mount", CT_BOOL, F(auto_mount), "true", 0, 1,
	    "Mount without from= takes the blob from any repository the client may pull."},
	{"s3", "endpoint", CT_OPTSTR, F(s3_endpoint), "", 0, 0,
	    "With [storage] backend = s3: the S3 service, http(s)://HOST[:PORT] (radosgw, MinIO, "
	    "https://s3.REGION.amazonaws.com)."},
	{"s3", "bucket", CT_OPTSTR, F(s3_bucket), "", 0, 0,
	    "The bucket blobs live in (it must exist)."},
	{"s3", "region", CT_STRING, F(s3_region), "us-east-1", 0, 0,
	    "Region named in request signatures (AWS SigV4)."},
	{"s3", "prefix", CT_OPTSTR, F(s3_prefix), "", 0, 0,
	    "Key prefix inside the bucket (e.g. registry/); empty = keys start with blobs/."},
	{"s3", "path_style", CT_BOOL, F(s3_path_style), "true", 0, 1,
	    "Address the bucket as ENDPOINT/BUCKET/KEY; false = virtual host BUCKET.HOST/KEY."},
	{"s3", "access_key", CT_OPTSTR, F(s3_access_key), "", 0, 0,
	    "Access key id; empty = the environment's AWS_ACCESS_KEY_ID."},
	{"s3", "secret_key", CT_OPTSTR, F(s3_secret_key), "", 0, 0,
	    "Secret access key; better secret_key_file.  Empty = secret_key_file, else the "
	    "environment's AWS_SECRET_ACCESS_KEY."},
	{"s3", "secret_key_file", CT_OPTSTR, F(s3_secret_key_file), "", 0, 0,
	    "File holding the secret access key (its first line)."},
	{"s3", "redirect", CT_BOOL, F(s3_redirect), "false", 0, 1,
	    "Blob GETs answer 307 to a presigned URL valid for 5 minutes instead of streaming "
	    "the bytes through the registry."},
	{"s3", "part_size", CT_SIZE, F(s3_part_size), "16M", 5LL << 20, 1LL << 30,
	    "Size of the parts of an upload's multipart upload; each upload being received holds "
	    "up to this much in memory."},
	{"metadata", "backend", CT_METABACKEND, F(meta_backend), "sqlite", 0, 0,
	    "Metadata store: sqlite (root/meta.db) or postgres (the database url names, shared by "
	    "several nodes).  Changing it takes effect at the next start; the data does not move."},
	{"metadata", "url", CT_OPTSTR, F(meta_url), "", 0, 0,
	    "With backend = postgres: a libpq connection string or URI "
	    "(postgresql://USER@HOST:PORT/DB); empty = libpq's defaults (PGHOST, PGDATABASE...).  "
	    "Give the password by PGPASSWORD, ~/.pgpass or passfile=, not here."},
	{"limits", "max_manifest_size", CT_SIZE, F(max_manifest_size), "4M", 1024, 1LL << 30,
	    "Largest manifest body accepted."},
	{"limits", "max_body_memory", CT_SIZE, F(max_body_memory), "64M", 64 * 1024, 1LL << 40,
	    "Memory for request bodies held whole (manifest pushes), all clients together; a "
	    "push past it gets 429.  Keep it at least max_manifest_size."},
	{"limits", "chunk_min_length", CT_SIZE, F(chunk_min_length), "0", 0, 1LL << 30,
	    "Advertised in OCI-Chunk-Min-Length on upload start (0: none)."},
	{"limits", "max_blob_size", CT_SIZE, F(max_blob_size), "0", 0, 1LL << 50,
	    "Largest blob accepted; 0 = unlimited."},
	{"limits", "max_uploads", CT_INT, F(max_uploads), "1024", 1, 1000000,
	    "Upload requests receiving a body at once, in all (429 past it)."},
	{"limits", "max_uploads_per_client", CT_INT, F(max_uploads_per_client), "64", 1, 1000000,
	    "Upload requests receiving a body at once from one client address."},
	{"limits", "max_sessions_per_client", CT_INT, F(max_sessions_per_client), "256", 1, 1000000,
	    "Upload sessions open at once from one client address (429 past it)."},
	{"limits", "max_sessions_per_user", CT_INT, F(max_sessions_per_user), "1024", 1, 1000000,
	    "Upload sessions open at once for one authenticated user (429 past it)."},
	{"cache", "manifest_cache_size", CT_SIZE, F(manifest_cache_size), "16M", 0, 1LL << 34,
	    "Memory for manifests served from RAM (split between workers); 0 = off."},
	{"cache", "max_size", CT_SIZE, F(cache_max_size), "0", 0, 1LL << 50,
	    "Bytes of pull-through cached content ([proxy]) kept; past it the least recently "
	    "pulled cached blobs and manifests are evicted; 0 = no limit."},
	{"gc", "interval", CT_DURATION, F(gc_interval), "0", 0, 365 * 86400,
	    "Run garbage collection in the daemon this often; 0 = off (use `ociregd gc`)."},
	{"gc", "untagged", CT_UNTAGGED, F(gc_untagged), "keep", 0, 0,
	    "Manifests no tag, index or live subject keeps: keep, or delete after untagged_grace."},
	{"gc", "untagged_grace", CT_DURATION, F(gc_untagged_grace), "24h", 0, 3650 * 86400,
	    "Age below which an untagged manifest is kept even with untagged = delete."},
	{"gc", "grace", CT_DURATION, F(gc_grace), "1h", 0, 3650 * 86400,
	    "Age below which an unreferenced blob is kept (a manifest may be about to use it)."},
	{"auth", "users", CT_OPTSTR, F(auth_users), "", 0, 0,
	    "Users file (name:hash lines, Argon2id or bcrypt); setting it turns authentication on."},
	{"auth", "anonymous", CT_ANON, F(auth_anonymous), "none", 0, 0,
	    "What clients without credentials may do: none or pull."},
	{"auth", "token_key", CT_OPTSTR, F(auth_token_key), "", 0, 0,
	    "Ed25519 token signing key file; empty = <root>/token.key, generated on first start."},
	{"auth", "token_ttl", CT_DURATION, F(auth_token_ttl), "5m", 60, 86400,
	    "Lifetime of issued bearer tokens."},
	{"auth", "service", CT_STRING, F(auth_service), "ociregd", 0, 0,
	    "Service name in tokens (aud) and in WWW-Authenticate."},
	{"auth", "realm", CT_OPTSTR, F(auth_realm), "", 0, 0,
	    "Token endpoint URL announced to clients; empty = <scheme>://<Host>/token."},
	{"auth", "max_failures", CT_INT, F(auth_max_failures), "10", 1, 1000000,
	    "Failed logins per client address per failure_window before 429."},
	{"auth", "failure_window", CT_DURATION, F(auth_failure_window), "1m", 1, 86400,
	    "Window for max_failures."},
	{"tls", "certificate", CT_OPTSTR, F(tls_certificate), "", 0, 0,
	    "PEM certificate chain; setting it (with key) makes the listener speak TLS 1.2+."},
	{"tls", "key", CT_OPTSTR, F(tls_key), "", 0, 0,
	    "PEM private key of the certificate."},
	{"ui", "enabled", CT_BOOL, F(ui_enabled), "true", 0, 1,
	    "Serve the web page that browses the registry under /ui/ (and redirect / there)."},
};

/* Named sections: [KIND "NAME"], any number of each.  Their values stay in
 * the config as strings (struct config_section) for the owning module
 * (auth.c: group, access; proxy: proxy; gc.c: retention) to interpret, but
 * every key is declared here with its type, default and range like the
 * plain keys: the loader checks the value against it (FILE:LINE:
 * kind "NAME".key: reason) and print-config and the man page describe it.
 * A default of NULL means "not set" (the key has no default). */
static const struct {
	const char *kind;
	const char *name;		/* what NAME is: "NAME" or "GLOB" */
	const char *doc;
} config_named[] = {
	{"group", "NAME", "a named set of users, used as @NAME in [access]"},
	{"access", "GLOB", "who may pull, push and delete in the repositories matching GLOB"},
	{"proxy", "NAME", "a pull-through cache of an upstream registry"},
	{"retention", "GLOB", "which tags garbage collection keeps in the repositories matching GLOB"},
};

static const struct config_key config_named_keys[] = {
	{"group", "members", CT_LIST, 0, 0, "", 0, 0,
	    "Members: user names and @groups, comma-separated."},
	{"access", "pull", CT_LIST, 0, 0, "", 0, 0,
	    "Who may pull: users, @groups, * (any authenticated user)."},
	{"access", "push", CT_LIST, 0, 0, "", 0, 0,
	    "Who may push (and therefore pull)."},
	{"access", "delete", CT_LIST, 0, 0, "", 0, 0,
	    "Who may delete manifests, tags and blobs."},
	{"proxy", "url", CT_STRING, 0, 0, NULL, 0, 0,
	    "The upstream registry's base URL (required), e.g. https://registry-1.docker.io."},
	{"proxy", "username", CT_OPTSTR, 0, 0, "", 0, 0,
	    "User name for the upstream; empty = anonymous."},
	{"proxy", "password", CT_OPTSTR, 0, 0, "", 0, 0,
	    "Password for username."},
	{"proxy", "password_file", CT_OPTSTR, 0, 0, "", 0, 0,
	    "File holding the password, instead of password."},
	{"proxy", "prefix", CT_OPTSTR, 0, 0, "", 0, 0,
	    "Repositories under this prefix map to the upstream without it."},
	{"proxy", "tag_ttl", CT_DURATION, 0, 0, "10m", 0, 365 * 86400,
	    "How long a manifest fetched by tag is served before it is revalidated upstream."},
	{"proxy", "mirror", CT_BOOL, 0, 0, "false", 0, 1,
	    "The section for repositories that are not local and match no prefix."},
	{"proxy", "push", CT_BOOL, 0, 0, "false", 0, 1,
	    "Let clients push to cached repositories."},
	{"proxy", "tls_verify", CT_BOOL, 0, 0, "true", 0, 1,
	    "Verify the upstream's TLS certificate."},
	{"proxy", "ca_file", CT_OPTSTR, 0, 0, "", 0, 0,
	    "PEM file of the CAs that sign the upstream's certificate, instead of the system's; "
	    "empty = SSL_CERT_FILE if set, else the system's."},
	{"proxy", "client_certificate", CT_OPTSTR, 0, 0, "", 0, 0,
	    "PEM client certificate for upstreams that require mutual TLS (with client_key)."},
	{"proxy", "client_key", CT_OPTSTR, 0, 0, "", 0, 0,
	    "PEM private key of client_certificate, unencrypted."},
	{"retention", "keep_last", CT_INT, 0, 0, NULL, 0, 1000000,
	    "Keep this many tags, the most recently pushed."},
	{"retention", "keep_tags", CT_LIST, 0, 0, NULL, 0, 0,
	    "Keep the tags matching any of these patterns, e.g. latest, v*."},
	{"retention", "keep_days", CT_INT, 0, 0, NULL, 0, 36500,
	    "Keep the tags pushed within this many days."},
};

#define NNAMED_KEYS (sizeof(config_named_keys) / sizeof(config_named_keys[0]))

#undef F

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))
/* inih's section buffer (INI_MAX_SECTION, 50 with its NUL in Debian's build). */
#define CONFIG_SECTION_HEADER_MAX 49
_Static_assert(NKEYS <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX in config.h");

struct config_parse {
	struct config *cfg;
	const char *name;
	int line;
	int failed;
	char *err;
	size_t errcap;
	unsigned char seen[NKEYS];
	char named_current[300];	/* the named section being read */
	int fail_line;			/* line of the first error reported */
	int too_long;			/* a line past ini_max_line */
	int read_error;			/* errno of a failed read */
	int named_open;
	/* string source for config_load_string */
	const char *text;
};

static void config_fail(struct config_parse *p, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

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
	p->fail_line = p->line;
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

int
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

int
config_parse_bool(const char *v, int *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0 ||
	    strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0 ||
	    strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* Check v against key k's type and range; section is the section as the
 * file writes it (plain or [kind "NAME"]).  Booleans and numbers are
 * returned in *out; other types are the caller's (config_set) or the owning
 * module's (named sections) to interpret.  0 or -1 (reported). */
static int
config_check(struct config_parse *p, const struct config_key *k, const char *section, const char *v,
    long long *out)
{
	long long n = 0;
	char *end;
	int b;

	switch (k->type) {
	case CT_BOOL:
		if (config_parse_bool(v, &b) != 0) {
			config_fail(p, section, k->key, "'%s' is not a boolean (true/false)", v);
			return -1;
		}
		*out = b;
		return 0;
	case CT_INT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0') {
			config_fail(p, section, k->key, "'%s' is not an integer", v);
			return -1;
		}
		break;
	case CT_SIZE:
		if (config_parse_size(v, &n) != 0) {
			config_fail(p, section, k->key, "'%s' is not a size (e.g. 512k, 4M, 2G)", v);
			return -1;
		}
		break;
	case CT_DURATION:
		if (config_parse_duration(v, &n) != 0) {
			config_fail(p, section, k->key, "'%s' is not a duration (e.g. 30s, 10m, 24h)", v);
			return -1;
		}
		break;
	default:
		return 0;
	}
	if (n < k->min || n > k->max) {
		config_fail(p, section, k->key, "%lld is out of range [%lld, %lld]", n, k->min, k->max);
		return -1;
	}
	*out = n;
	return 0;
}

/* The backends each section's `backend` key may name, '|'-separated. */
static const char *
config_backend_names(const char *section)
{
	if (strcmp(section, "storage") == 0)
		return "filesystem|s3";
	return "";
}

/* The words of the list-valued types, in their enums' order
 * (access_log: 0 off, 1 text, 2 json; anonymous: 0 none, 1 pull;
 * enum config_untagged; enum config_meta_backend). */
static const char *const *
config_enum_names(enum config_type t)
{
	static const char *const access_log[] = {"off", "text", "json", NULL};
	static const char *const anon[] = {"none", "pull", NULL};
	static const char *const untagged[] = {
		[CONFIG_UNTAGGED_KEEP] = "keep", [CONFIG_UNTAGGED_DELETE] = "delete", NULL
	};
	static const char *const meta_backends[] = {
		[CONFIG_META_SQLITE] = "sqlite", [CONFIG_META_POSTGRES] = "postgres", NULL
	};
	static const char *const none[] = {NULL};

	switch (t) {
	case CT_ACCESSLOG: return access_log;
	case CT_ANON: return anon;
	case CT_UNTAGGED: return untagged;
	case CT_METABACKEND: return meta_backends;
	default: return none;
	}
}

/* Whether v is exactly one of section's backend names. */
static int
config_backend_ok(const char *section, const char *v)
{
	const char *p = config_backend_names(section);
	size_t n = strlen(v);

	while (n > 0 && *p != '\0') {
		size_t len = strcspn(p, "|");

		if (len == n && strncmp(p, v, n) == 0)
			return 1;
		p += len + (p[len] == '|');
	}
	return 0;
}

static int
config_set(struct config_parse *p, const struct config_key *k, const char *v)
{
	char *field = (char *)p->cfg + k->off;
	long long n;
	enum log_level lv;

	switch (k->type) {
	case CT_OPTLISTEN:
		if (v[0] == '\0') {
			*field = '\0';
			return 0;
		}
		/* FALLTHROUGH */
	case CT_LISTEN:
		if (!addr_valid(v)) {
			config_fail(p, k->section, k->key, "'%s' is not HOST:PORT or [IPV6]:PORT", v);
			return -1;
		}
		/* FALLTHROUGH */
	case CT_OPTSTR:
	case CT_STRING:
		if ((k->type == CT_STRING && v[0] == '\0') || strlen(v) >= k->size) {
			config_fail(p, k->section, k->key, "empty or longer than %zu bytes", k->size - 1);
			return -1;
		}
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case CT_BACKEND:
		/* The backends this build has, by section: the config stays a
		 * leaf (it does not ask store.c or meta.c), and the store and
		 * metadata modules refuse a name they do not know at open. */
		if (!config_backend_ok(k->section, v) || strlen(v) >= k->size) {
			config_fail(p, k->section, k->key, "'%s' is not one of %s", v,
			    config_backend_names(k->section));
			return -1;
		}
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case CT_ACCESSLOG:
	case CT_ANON:
	case CT_UNTAGGED:
	case CT_METABACKEND: {
		/* A word from a fixed list; its index is the stored value (the
		 * lists follow their enums' order). */
		const char *const *names = config_enum_names(k->type);
		char list[128] = "";
		size_t len = 0;

		for (size_t i = 0; names[i] != NULL; i++) {
			if (strcmp(v, names[i]) == 0) {
				*(int *)field = (int)i;
				return 0;
			}
			if (len < sizeof(list))
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
				    i > 0 ? ", " : "", names[i]);
		}
		config_fail(p, k->section, k->key, "'%s' is not one of %s", v, list);
		return -1;
	}
	case CT_LOGLEVEL:
		if (log_level_parse(v, &lv) != 0) {
			config_fail(p, k->section, k->key, "'%s' is not one of debug, info, warn, error", v);
			return -1;
		}
		*(int *)field = (int)lv;
		return 0;
	case CT_BOOL:
	case CT_INT:
	case CT_SIZE:
	case CT_DURATION:
		if (config_check(p, k, k->section, v, &n) != 0)
			return -1;
		break;
	default:
		return -1;
	}
	if (k->type == CT_SIZE)
		*(long long *)field = n;
	else
		*(int *)field = (int)n;
	return 0;
}

/* [KIND "NAME"]: a new section when the section string changes. */
static int
config_named_handler(struct config_parse *p, const char *section, const char *name,
    const char *value)
{
	struct config *cfg = p->cfg;
	struct config_section *cs;
	const char *q1 = strchr(section, '"'), *q2 = strrchr(section, '"');
	size_t klen, nlen, k;
	long long num;
	int kind = -1;

	klen = (size_t)(q1 - section);
	while (klen > 0 && section[klen - 1] == ' ')
		klen--;
	for (size_t i = 0; i < sizeof(config_named) / sizeof(config_named[0]); i++)
		if (strlen(config_named[i].kind) == klen && strncmp(section, config_named[i].kind, klen) == 0)
			kind = (int)i;
	if (kind < 0 || q2 == q1 || q2[1] != '\0' || q2 == q1 + 1) {
		config_fail(p, NULL, NULL, "unknown section [%s] (named sections: group, access, proxy, retention, "
		    "written [kind \"name\"])", section);
		return 1;
	}
	nlen = (size_t)(q2 - q1 - 1);
	cs = cfg->nsections ? &cfg->sections[cfg->nsections - 1] : NULL;
	if (cs == NULL || p->named_open == 0 || strcmp(p->named_current, section) != 0) {
		/* (named_open is cleared at every [header] line.) */
		/* A new section (the same name twice is an error). */
		for (size_t i = 0; i < cfg->nsections; i++) {
			if (strcmp(cfg->sections[i].kind, config_named[kind].kind) == 0 &&
			    strlen(cfg->sections[i].name) == nlen &&
			    strncmp(cfg->sections[i].name, q1 + 1, nlen) == 0) {
				config_fail(p, NULL, NULL, "section [%s] appears twice", section);
				return 1;
			}
		}
		if (nlen >= sizeof(cs->name)) {
			config_fail(p, NULL, NULL, "section name too long");
			return 1;
		}
		cs = realloc(cfg->sections, (cfg->nsections + 1) * sizeof(*cs));
		if (cs == NULL) {
			config_fail(p, NULL, NULL, "out of memory");
			return 1;
		}
		cfg->sections = cs;
		cs = &cfg->sections[cfg->nsections++];
		memset(cs, 0, sizeof(*cs));
		snprintf(cs->kind, sizeof(cs->kind), "%s", config_named[kind].kind);
		memcpy(cs->name, q1 + 1, nlen);
		cs->line = p->line;
		snprintf(p->named_current, sizeof(p->named_current), "%s", section);
		p->named_open = 1;
	}
	for (k = 0; k < NNAMED_KEYS; k++)
		if (strcmp(config_named_keys[k].section, config_named[kind].kind) == 0 &&
		    strcmp(config_named_keys[k].key, name) == 0)
			break;
	if (k == NNAMED_KEYS) {
		config_fail(p, section, name, "unknown key");
		return 1;
	}
	if (config_section_get(cs, name) != NULL) {
		config_fail(p, section, name, "set twice");
		return 1;
	}
	if (cs->nkv == CONFIG_SECTION_KEYS || strlen(value) >= sizeof(cs->kv[0].value)) {
		config_fail(p, section, name, "value too long");
		return 1;
	}
	/* Typed like a plain key, though kept as text: an empty value is the
	 * documented default ("not set") for the owning module. */
	if (value[0] != '\0' && config_check(p, &config_named_keys[k], section, value, &num) != 0)
		return 1;
	snprintf(cs->kv[cs->nkv].key, sizeof(cs->kv[0].key), "%s", name);
	memcpy(cs->kv[cs->nkv].value, value, strlen(value) + 1);
	cs->kv[cs->nkv].line = p->line;
	cs->nkv++;
	return 1;
}

const char *
config_section_get(const struct config_section *s, const char *key)
{
	for (int i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

int
config_section_line(const struct config_section *s, const char *key)
{
	for (int i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].line;
	return s->line;
}

const char *
config_key_where(const struct config *cfg, const char *section, const char *key, char *out,
    size_t cap)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(config_keys[i].section, section) != 0 || strcmp(config_keys[i].key, key) != 0)
			continue;
		if (cfg->key_lines[i] != 0) {
			snprintf(out, cap, "%s:%u: %s.%s", cfg->path, (unsigned)cfg->key_lines[i], section, key);
			return out;
		}
		break;
	}
	snprintf(out, cap, "%s: %s.%s", cfg->path, section, key);
	return out;
}

void
config_free(struct config *cfg)
{
	free(cfg->sections);
	cfg->sections = NULL;
	cfg->nsections = 0;
}

static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	int section_known = 0;

	if (strchr(section, '"') != NULL)
		return config_named_handler(p, section, name, value);
	p->named_open = 0;
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
		if (config_set(p, &config_keys[i], value) == 0)
			p->cfg->key_lines[i] = (unsigned short)(p->line > 65535 ? 65535 : p->line);
		return 1;
	}
	if (!section_known)
		config_fail(p, NULL, NULL, "unknown section [%s]", section[0] ? section : "(none)");
	else
		config_fail(p, section, name, "unknown key");
	/* Return 1: we report our own errors with better wording. */
	return 1;
}

/* Section headers, seen by the readers: inih (as Debian builds it) calls
 * the handler only for keys, so an empty or unknown [section] would pass
 * unnoticed, and a named section repeated right after itself would merge. */
static void
config_note_line(struct config_parse *p, const char *line)
{
	const char *q, *end;
	char name[300];
	size_t n;
	int known = 0;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != '[' || (end = strchr(line, ']')) == NULL)
		return;
	n = (size_t)(end - line - 1);
	if (n > CONFIG_SECTION_HEADER_MAX) {
		/* inih keeps only the first 49 bytes of a section header and
		 * says nothing: [access "a/long/glob"] would silently become
		 * a rule for another pattern. */
		config_fail(p, NULL, NULL, "section header longer than %d characters",
		    CONFIG_SECTION_HEADER_MAX);
		return;
	}
	memcpy(name, line + 1, n);
	name[n] = '\0';
	p->named_open = 0;	/* the next key starts a new section */
	if ((q = strchr(name, '"')) != NULL) {
		size_t kl = (size_t)(q - name);

		while (kl > 0 && name[kl - 1] == ' ')
			kl--;
		/* As print-config writes it back (kind "NAME"): that form must
		 * load again, so it is the one held to the limit. */
		if (kl + 1 + (n - (size_t)(q - name)) > CONFIG_SECTION_HEADER_MAX) {
			config_fail(p, NULL, NULL, "section header longer than %d characters",
			    CONFIG_SECTION_HEADER_MAX);
			return;
		}
		for (size_t i = 0; i < sizeof(config_named) / sizeof(config_named[0]); i++)
			if (strlen(config_named[i].kind) == kl && strncmp(name, config_named[i].kind, kl) == 0)
				known = 1;
	} else {
		for (size_t i = 0; i < NKEYS; i++)
			if (strcmp(config_keys[i].section, name) == 0)
				known = 1;
	}
	if (!known)
		config_fail(p, NULL, NULL, "unknown section [%s]", name);
}

static char *
config_reader_file(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	FILE *f = (FILE *)p->text;
	char *r;

	if (p->too_long)
		return NULL;
	errno = 0;
	r = fgets(str, num, f);
	if (r == NULL) {
		if (ferror(f))
			p->read_error = errno ? errno : EIO;
		return NULL;
	}
	p->line++;
	if (strchr(str, '\n') == NULL && !feof(f)) {
		/* inih would parse the rest of the line as a line of its
		 * own: stop and say what happened instead. */
		p->too_long = 1;
		return NULL;
	}
	config_note_line(p, str);
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
	if (p->too_long)
		return NULL;
	if (n > (size_t)num - 1) {
		p->line++;
		p->too_long = 1;
		return NULL;
	}
	memcpy(str, p->text, n);
	str[n] = '\0';
	p->text += n;
	if (n > 0 && (str[n - 1] == '\n' || *p->text == '\0'))
		p->line++;
	config_note_line(p, str);
	return str;
}

/* inih's own syntax errors (a line that is neither a section, a key nor a
 * comment, or a line too long) come back as a line number. */
static unsigned long config_serial;

static int
config_finish(struct config_parse *p, int rc)
{
	if (p->read_error != 0) {
		p->failed = 0;
		snprintf(p->err, p->errcap, "%s: %s", p->name, strerror(p->read_error));
		p->failed = 1;
	} else if (p->too_long && (!p->failed || p->line < p->fail_line)) {
		p->failed = 0;
		config_fail(p, NULL, NULL, "line longer than %d bytes", ini_max_line - 3);
	} else if (rc > 0 && (!p->failed || rc < p->fail_line)) {
		/* inih's own syntax errors come back as the line of the first
		 * one; report whichever error came first. */
		p->failed = 0;
		p->line = rc;
		config_fail(p, NULL, NULL, "syntax error (expected [section], key = value, or # comment)");
	}
	if (p->failed) {
		config_free(p->cfg);
		return -1;
	}
	if (p->cfg->nsections > 0)
		p->cfg->serial = __atomic_add_fetch(&config_serial, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
config_globals(void)
{
	/* Python-style continuation lines would make "key = a\n  b" silently
	 * mean something else; refuse them.  Long lines (paths) are fine. */
	ini_allow_multiline = false;
	ini_max_line = 4096;
	/* "key = value  # note" as in our example files ('#' after white
	 * space; a '#' inside a value without space before it stays). */
	ini_inline_comment_prefixes = (char *)";#";
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
	case CT_OPTSTR: return "string, may be empty";
	case CT_ANON: return "none|pull";
	case CT_UNTAGGED: return "keep|delete";
	case CT_METABACKEND: return "sqlite|postgres";
	case CT_ACCESSLOG: return "off|text|json";
	case CT_BACKEND: return "backend";
	case CT_OPTLISTEN: return "address, may be empty";
	case CT_INT: return "integer";
	case CT_SIZE: return "size";
	case CT_DURATION: return "duration";
	case CT_LOGLEVEL: return "level";
	case CT_BOOL: return "boolean";
	case CT_LISTEN: return "address";
	case CT_LIST: return "list";
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
	/* Named sections: any number of each, so only shown, commented out,
	 * with every key's type, range and default. */
	fprintf(f, "\n# Named sections, any number of each (shown commented out):\n");
	for (size_t i = 0; i < sizeof(config_named) / sizeof(config_named[0]); i++) {
		fprintf(f, "\n# [%s \"%s\"]: %s\n", config_named[i].kind, config_named[i].name,
		    config_named[i].doc);
		fprintf(f, "#[%s \"%s\"]\n", config_named[i].kind, config_named[i].name);
		for (size_t j = 0; j < NNAMED_KEYS; j++) {
			const struct config_key *k = &config_named_keys[j];

			if (strcmp(k->section, config_named[i].kind) != 0)
				continue;
			fprintf(f, "# %s (%s", k->doc, config_type_name(k->type));
			if (k->type == CT_INT || k->type == CT_DURATION)
				fprintf(f, ", %lld to %lld", k->min, k->max);
			if (k->def == NULL)
				fprintf(f, "; not set by default)\n#%s =\n", k->key);
			else
				fprintf(f, ")\n#%s = %s\n", k->key, k->def);
		}
	}
}
