/* migrate.h — `ociregd migrate-metadata`: copy the metadata from the
 * backend the configuration names (SQLite) into a PostgreSQL database. */
#ifndef OCIREGD_MIGRATE_H
#define OCIREGD_MIGRATE_H

struct config;

/* Copy every row of cfg's metadata (its [metadata] backend must be sqlite)
 * into the postgres database url names, in one transaction.  A target
 * that already holds metadata is refused unless force, which replaces it.
 * Prints a summary on stdout, errors on stderr.  Returns an exit status:
 * 0 done, 1 refused (target not empty, or not a SQLite source), 74
 * (EXIT_STORAGE) a database failed; nothing is committed unless 0.
 * Blocks for the whole copy. */
int migrate_command(const struct config *cfg, const char *url, int force);

#endif
