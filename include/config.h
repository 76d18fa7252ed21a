/* config.h — the INI configuration, driven by one declarative key table.
 *
 * The table (config.c) gives each key its section, type, default, bounds and
 * documentation; parsing, validation, `check-config` and the example file
 * all come from it.  A loaded config is immutable. */
#ifndef OCIREGD_CONFIG_H
#define OCIREGD_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PATH "/etc/ociregd/ociregd.ini"

/* A named section such as [access "team/x"] or [group "admins"]: kept as
 * key/value pairs with their line numbers, interpreted (and validated) by
 * the module that owns the kind. */
#define CONFIG_SECTION_KEYS 16
struct config_kv {
	char key[32];
	char value[1024];
	int line;
};

struct config_section {
	char kind[16];
	char name[256];
	int line;
	struct config_kv kv[CONFIG_SECTION_KEYS];
	int nkv;
};

/* [metadata] backend: which implementation of the metadata store (meta.h)
 * a struct meta talks to. */
enum config_meta_backend { CONFIG_META_SQLITE = 0, CONFIG_META_POSTGRES = 1 };

/* [gc] untagged: what happens to manifests no tag points at. */
enum config_untagged { CONFIG_UNTAGGED_KEEP = 0, CONFIG_UNTAGGED_DELETE = 1 };

/* Room for the plain keys' line numbers (config.c checks its table fits). */
#define CONFIG_KEYS_MAX 128

struct config {
	char path[PATH_MAX];
	/* With named sections: this load's number, unique in the process,
	 * what caches of state parsed from them key on (a freed config's
	 * address comes back).  0 without. */
	unsigned long serial;
	/* The line that set each plain key (config.c's table order), 0 for a
	 * default: start-up errors found after loading (a users file, a TLS
	 * key, a port in use) still point at the line to edit. */
	unsigned short key_lines[CONFIG_KEYS_MAX];
	/* [server] */
	char listen[256];
	int log_level;			/* enum log_level */
	int workers;			/* 0 in the file: one per CPU */
	int header_timeout;		/* seconds to receive a request's headers */
	int read_timeout;		/* seconds of silence before a connection drops */
	int max_connections;		/* per worker */
	int access_log;			/* 0 off, 1 text, 2 json */
	char metrics_listen[256];	/* "" = /metrics on the main listener */
	int shutdown_timeout;		/* seconds requests in flight may take at stop */
	int read_only;			/* maintenance: refuse writes on /v2/ (router) */
	/* [storage] */
	char storage_backend[32];	/* blob backend: "filesystem" or "s3" */
	char root[PATH_MAX];
	int sync;			/* fsync blobs and directories before 2xx */
	int direct_io;			/* O_DIRECT spool writes when sync */
	int upload_expiry;		/* seconds an idle upload session lives */
	int sparse;			/* accept manifests whose references are absent */
	int auto_mount;			/* mount without from= looks in other repositories */
	/* [s3]: the bucket of [storage] backend = s3 */
	char s3_endpoint[512];
	char s3_bucket[64];
	char s3_region[64];
	char s3_prefix[256];
	int s3_path_style;
	char s3_access_key[256];
	char s3_secret_key[256];
	char s3_secret_key_file[PATH_MAX];
	int s3_redirect;		/* blob GET: 307 to a presigned URL */
	long long s3_part_size;		/* bytes per multipart part */
	/* [metadata] */
	int meta_backend;		/* enum config_meta_backend */
	char meta_url[1024];		/* postgres: libpq connection string or URI */
	/* [limits] */
	long long max_manifest_size;
	long long max_body_memory;	/* bytes of bodies buffered whole, in all */
	long long chunk_min_length;
	long long max_blob_size;	/* 0: unlimited */
	int max_uploads;		/* upload bodies being received at once */
	int max_uploads_per_client;	/* the same per client address */
	int max_sessions_per_client;	/* open upload sessions per client address */
	int max_sessions_per_user;	/* open upload sessions per authenticated user */
	/* [cache] */
	long long manifest_cache_size;	/* bytes of manifests kept in memory */
	long long cache_max_size;	/* bytes of pull-through cached content; 0: no cap */
	/* [gc] */
	int gc_interval;		/* seconds between background runs; 0: off */
	int gc_untagged;		/* enum config_untagged */
	int gc_untagged_grace;		/* seconds an untagged manifest is kept anyway */
	int gc_grace;			/* seconds an unreferenced blob is kept anyway */
	/* [auth]: on when users is set */
	char auth_users[PATH_MAX];
	int auth_anonymous;		/* 0: none, 1: pull */
	char auth_token_key[PATH_MAX];	/* "" = <root>/token.key */
	int auth_token_ttl;		/* seconds */
	char auth_service[128];
	char auth_realm[512];		/* "" = <scheme>://<Host>/token */
	int auth_max_failures;		/* per client address per window */
	int auth_failure_window;	/* seconds */
	/* [tls]: on when certificate is set */
	char tls_certificate[PATH_MAX];
	char tls_key[PATH_MAX];
	/* [ui] */
	int ui_enabled;			/* serve the web page under /ui/ */
	/* named sections, in file order (malloc'd; config_free) */
	struct config_section *sections;
	size_t nsections;
};

/* The value of key in a named section, or NULL. */
const char *config_section_get(const struct config_section *s, const char *key);
/* Line of key in a named section (the section's line if absent). */
int config_section_line(const struct config_section *s, const char *key);
/* The value syntaxes of the key table, for named sections' keys:
 * durations "90", "90s", "10m", "24h", "7d" in seconds, and booleans
 * true/yes/on/1, false/no/off/0.  0, or -1 (*out untouched). */
int config_parse_duration(const char *v, long long *out);
int config_parse_bool(const char *v, int *out);
/* Where a plain key comes from, as messages begin: "FILE:LINE: section.key"
 * or, when the file leaves it at its default, "FILE: section.key".  Writes
 * into out (cap bytes) and returns it. */
const char *config_key_where(const struct config *cfg, const char *section, const char *key,
    char *out, size_t cap);
/* Release what config_load allocated (not cfg itself). */
void config_free(struct config *cfg);

/* Fill cfg with every key's default. */
void config_defaults(struct config *cfg);

/* Load path over the defaults.  On error returns -1 and writes
 * "FILE:LINE: section.key: reason" (or "FILE: reason") into err. */
int config_load(const char *path, struct config *cfg, char *err, size_t errcap);

/* Load from a string (tests, fuzzing); name is used in messages. */
int config_load_string(const char *name, const char *text, struct config *cfg,
    char *err, size_t errcap);

/* Write the documented example configuration (every key, commented with its
 * default and range) to f. */
void config_write_example(FILE *f);

#endif
