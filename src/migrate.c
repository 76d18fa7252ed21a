/* SPDX-License-Identifier: ISC
 * migrate.c — `ociregd migrate-metadata`: moves a registry from the SQLite
 * metadata backend to PostgreSQL (issue 16, scale-out), so that several
 * nodes can share it.  Both ends are opened through the metadata interface
 * (meta_open with two configurations, the second a copy of the first with
 * [metadata] backend = postgres and url = --to), and the rows go table by
 * table through meta_export and meta_import_row: this file touches neither
 * sqlite3 nor libpq.  The blobs stay where they are: the PostgreSQL nodes
 * use the same [storage] root.
 *
 * The copy is one transaction on the target: an error or an interruption
 * leaves it as it was.  The source is read from one snapshot; writes the
 * daemon makes after it are not copied, so the daemon should be stopped
 * (or read_only) while this runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "errors.h"
#include "meta.h"
#include "migrate.h"

struct migrate {
	struct meta *dst;
	uint64_t rows[16];		/* per meta_tables entry */
	int failed;			/* the import's error, not the export's */
};

static int
migrate_row(void *arg, size_t table, const char *const *vals)
{
	struct migrate *mg = arg;
	int rc;

	if ((rc = meta_import_row(mg->dst, table, vals)) != 0) {
		mg->failed = 1;
		return rc;
	}
	if (table < sizeof(mg->rows) / sizeof(mg->rows[0]))
		mg->rows[table]++;
	return 0;
}

int
migrate_command(const struct config *cfg, const char *url, int force)
{
	struct migrate mg;
	struct config *dcfg = NULL;
	struct meta *src = NULL;
	int rc, nonempty = 0, ret = EXIT_STORAGE, began = 0;

	memset(&mg, 0, sizeof(mg));
	if (cfg->meta_backend != CONFIG_META_SQLITE) {
		fprintf(stderr, "migrate-metadata: %s: [metadata] backend is not sqlite; "
		    "the metadata is already in a server database\n", cfg->path);
		return 1;
	}
	if (strlen(url) >= sizeof(cfg->meta_url)) {
		fprintf(stderr, "migrate-metadata: --to: URL too long\n");
		return EXIT_USAGE;
	}
	/* The target: the same configuration but for the metadata.  A
	 * shallow copy: only its scalar fields are changed, and it is not
	 * passed to config_free. */
	if ((dcfg = malloc(sizeof(*dcfg))) == NULL) {
		fprintf(stderr, "migrate-metadata: out of memory\n");
		return EXIT_STORAGE;
	}
	*dcfg = *cfg;
	dcfg->meta_backend = CONFIG_META_POSTGRES;
	snprintf(dcfg->meta_url, sizeof(dcfg->meta_url), "%s", url);
	if ((src = meta_open(cfg)) == NULL) {
		fprintf(stderr, "migrate-metadata: cannot open the SQLite metadata under %s\n", cfg->root);
		goto out;
	}
	if ((mg.dst = meta_open(dcfg)) == NULL) {
		fprintf(stderr, "migrate-metadata: cannot open the PostgreSQL database (see the log above)\n");
		goto out;
	}
	if (meta_schema_version(src) != meta_schema_version(mg.dst)) {
		fprintf(stderr, "migrate-metadata: schema versions differ (source %d, target %d)\n",
		    meta_schema_version(src), meta_schema_version(mg.dst));
		goto out;
	}
	if ((rc = meta_import_begin(mg.dst, force, &nonempty)) != 0) {
		fprintf(stderr, "migrate-metadata: target: %s\n", errors_message((enum reg_error)-rc));
		goto out;
	}
	if (nonempty) {
		fprintf(stderr, "migrate-metadata: the target database already holds registry metadata; "
		    "--force replaces it\n");
		ret = 1;
		goto out;
	}
	began = 1;
	if ((rc = meta_export(src, migrate_row, &mg)) != 0) {
		fprintf(stderr, "migrate-metadata: %s failed: %s\n", mg.failed ? "writing the target" :
		    "reading the source", errors_message((enum reg_error)-rc));
		goto out;
	}
	began = 0;
	if ((rc = meta_import_end(mg.dst, 1)) != 0) {
		fprintf(stderr, "migrate-metadata: commit failed: %s\n",
		    errors_message((enum reg_error)-rc));
		goto out;
	}
	printf("migrate-metadata: copied");
	for (size_t t = 0; t < meta_ntables && t < sizeof(mg.rows) / sizeof(mg.rows[0]); t++)
		printf("%s %s %llu", t ? "," : "", meta_tables[t].name, (unsigned long long)mg.rows[t]);
	printf("%s\n", force ? " (the target's earlier contents replaced)" : "");
	ret = EXIT_OK;
out:
	if (began)
		meta_import_end(mg.dst, 0);
	meta_close(mg.dst);
	meta_close(src);
	free(dcfg);
	return ret;
}
