/* SPDX-License-Identifier: ISC
 * replay.c — run a fuzz target without libFuzzer.
 *
 * Linked with one tests/fuzz/fuzz_X.c by any C compiler, it calls
 * LLVMFuzzerTestOneInput once per file named on the command line (a
 * directory stands for the regular files in it, in name order), so the seed
 * corpus and saved crashes replay in ordinary CI, under ASan/UBSan if built
 * with them.  Each input is copied into a buffer of exactly its size, as
 * libFuzzer does, so over-reads are still caught.  A property failure aborts;
 * an unreadable file exits 2.
 *
 *   replay FILE|DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
replay_file(const char *path)
{
	FILE *f;
	struct stat st;
	uint8_t *buf;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	/* Exactly st_size bytes: malloc(0) may be NULL, which the targets
	 * never dereference for an empty input. */
	buf = malloc((size_t)st.st_size);
	if (buf == NULL && st.st_size > 0) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		fclose(f);
		return -1;
	}
	n = st.st_size > 0 ? fread(buf, 1, (size_t)st.st_size, f) : 0;
	if (n != (size_t)st.st_size || ferror(f)) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int
replay_name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
replay_dir_filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Returns the number of inputs run, or -1. */
static int
replay_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, ran = 0, failed = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) == 0 ? 1 : -1;
	if ((n = scandir(path, &names, replay_dir_filter, replay_name_cmp)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char sub[4096];

		if (!failed) {
			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name) >=
			    sizeof(sub) || stat(sub, &st) != 0) {
				fprintf(stderr, "replay: %s/%s: cannot stat\n", path,
				    names[i]->d_name);
				failed = 1;
			} else if (S_ISREG(st.st_mode)) {
				if (replay_file(sub) == 0)
					ran++;
				else
					failed = 1;
			}
		}
		free(names[i]);
	}
	free(names);
	return failed ? -1 : ran;
}

int
main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int n = replay_path(argv[i]);

		if (n < 0)
			return 2;
		total += n;
	}
	printf("%s: %d inputs replayed, all properties held\n", argv[0], total);
	return 0;
}
