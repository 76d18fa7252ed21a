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

struct config {
	char path[PATH_MAX];
	/* [server] */
	char listen[256];
	int log_level;			/* enum log_level */
	int workers;			/* 0 in the file: one per CPU */
	int header_timeout;		/* seconds to receive a request's headers */
	int read_timeout;		/* seconds of silence before a connection drops */
	int max_connections;		/* per worker */
	/* [storage] */
	char root[PATH_MAX];
	int sync;			/* fsync blobs and directories before 2xx */
	/* [limits] */
	long long max_manifest_size;
	long long chunk_min_length;
	long long max_blob_size;	/* 0: unlimited */
	/* [cache] */
	long long manifest_cache_size;	/* bytes of manifests kept in memory */
};

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
