/* backup.h — `ociregd backup`: a consistent copy of a serving registry
 * (metadata first, then the blobs that copy names) in a new directory that
 * a daemon can use as its [storage] root. */
#ifndef OCIREGD_BACKUP_H
#define OCIREGD_BACKUP_H

struct config;

/* sysexits.h's EX_CANTCREAT, beside daemon.h's statuses: the destination
 * exists and is not an empty directory, or cannot be made. */
#define BACKUP_EXIT_CANTCREAT 73

/* Back cfg's registry up into dest, which must not exist or be an empty
 * directory, while a daemon may be serving it: the metadata through its
 * backend's online copy (one snapshot), upload sessions dropped from the
 * copy, then every blob the copy records, hard-linked from the live store
 * where dest is on the same file system and copied otherwise, each durable
 * before the summary is printed on stdout.  Returns an exit status: 0,
 * BACKUP_EXIT_CANTCREAT, or EXIT_STORAGE (daemon.h) when the copy could
 * not be completed (logged; what was written stays in dest for a look). */
int backup_command(const struct config *cfg, const char *dest);

#endif
