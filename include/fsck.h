/* fsck.h — integrity check of the storage (`ociregd fsck`): every blob file
 * re-hashed and its size checked against its row, rows without files,
 * files without rows, and manifests whose blobs or children are missing
 * from their repository.  With repair, corrupt blobs (content that does
 * not hash to their name) and rows whose file is missing are dropped, the
 * corrupt files moved to <root>/quarantine/, so clients get 404 instead of
 * wrong bytes.
 *
 * Blocks on disk I/O for as long as reading every blob takes. */
#ifndef OCIREGD_FSCK_H
#define OCIREGD_FSCK_H

#include <stdint.h>
#include <stdio.h>

struct config;
struct meta;
struct store;

struct fsck_options {
	int repair;
	FILE *out;			/* one line per problem, and the summary */
	int progress;			/* a \r progress line on out (a terminal) */
};

struct fsck_stats {
	uint64_t blobs, bytes;		/* blob rows checked and bytes hashed */
	uint64_t corrupt;		/* content does not hash to the name */
	uint64_t missing;		/* a row without its file */
	uint64_t size;			/* file size differs from the row */
	uint64_t strays;		/* files under blobs/ without a row */
	uint64_t manifests;		/* references missing from a repository */
	uint64_t repaired;
	uint64_t errors;		/* I/O errors other than the above */
};

/* Check everything, printing each problem with its digest and path to
 * opt->out.  0 when the check ran to its end (problems are counted in
 * *st), or a negated reg_error if it could not. */
int fsck_run(const struct config *cfg, struct meta *m, struct store *s,
    const struct fsck_options *opt, struct fsck_stats *st);

/* `ociregd fsck [--repair]` on cfg's storage, output on stdout (progress
 * on a terminal): 0 clean, 1 problems found (even if repaired), -1 the
 * check could not be completed (storage errors, logged). */
int fsck_command(const struct config *cfg, int repair);

/* Problems found (repaired or not). */
uint64_t fsck_problems(const struct fsck_stats *st);

/* Print the one-line summary to f. */
void fsck_summary(FILE *f, const struct fsck_stats *st, int repair, double seconds);

#endif
