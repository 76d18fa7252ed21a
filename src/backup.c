/* SPDX-License-Identifier: ISC
 * backup.c — `ociregd backup DEST`: a consistent copy of a registry while
 * its daemon serves, in a new directory that a daemon can take as its
 * [storage] root (restore is pointing one there).
 *
 * The order is what makes the copy consistent without stopping anyone.
 * The metadata is copied first, as one snapshot, by its backend (SQLite's
 * online backup API: meta_backup).  The blobs to copy are then listed from
 * that COPY, not from the live database: every row the copy holds was
 * committed after its blob file was in place (the store's durability
 * order), and blob files are immutable and only ever removed after their
 * rows are unreferenced, so each file the copy names is still there to be
 * linked or copied.  The exception is a blob that garbage collection or
 * the cache's eviction removed between the snapshot and its turn: its row
 * is gone from the live database too, so the copy drops it, and any
 * manifest of the copy that named it (the collector would have removed
 * those as well).  Pushes that land after the snapshot are simply not in
 * the backup.
 *
 * Upload sessions are dropped from the copy and the spool directory is
 * not copied: a client resuming an upload against a restored registry is
 * told the session is unknown and starts the blob again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "config.h"
#include "daemon.h"
#include "digest.h"
#include "errors.h"
#include "gc.h"
#include "log.h"
#include "meta.h"
#include "store.h"

/* A growing list of strings, each one or two NUL-terminated parts. */
struct backup_list {
	char **item;
	size_t n, cap;
};

struct backup {
	struct meta *live, *copy;
	struct store *src, *dst;
	uint64_t blobs, bytes, linked, copied;
	uint64_t manifests, tags, uploads;
	uint64_t gone, gone_manifests;	/* collected since the snapshot */
	uint64_t missing, errors;
	struct backup_list ids;		/* upload sessions in the copy */
	struct backup_list dropped;	/* digests collected since the snapshot */
	struct backup_list doomed;	/* "repo\0digest" manifests naming them */
};

static int
backup_list_add(struct backup_list *l, const char *a, const char *b)
{
	size_t na = strlen(a) + 1, nb = b != NULL ? strlen(b) + 1 : 0;
	char *p;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **item = realloc(l->item, cap * sizeof(*item));

		if (item == NULL)
			return -1;
		l->item = item;
		l->cap = cap;
	}
	if ((p = malloc(na + nb)) == NULL)
		return -1;
	memcpy(p, a, na);
	if (nb > 0)
		memcpy(p + na, b, nb);
	l->item[l->n++] = p;
	return 0;
}

static int
backup_list_has(const struct backup_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->item[i], s) == 0)
			return 1;
	return 0;
}

static void
backup_list_free(struct backup_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->item[i]);
	free(l->item);
	*l = (struct backup_list){0};
}

/* fsync a directory: 0 or -1 (said on stderr with the path). */
static int
backup_fsync_dir(const char *path)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "backup: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((rc = fsync(fd)) != 0)
		fprintf(stderr, "backup: fsync %s: %s\n", path, strerror(errno));
	close(fd);
	return rc;
}

/* Make dest a new, empty directory whose entry is durable, and its
 * absolute path in out: 0, BACKUP_EXIT_CANTCREAT or EXIT_STORAGE. */
static int
backup_dest_prepare(const char *dest, char *out)
{
	char parent[PATH_MAX];
	struct dirent *e;
	DIR *dir;
	size_t n;
	int made = 0;

	if (mkdir(dest, 0755) == 0) {
		made = 1;
	} else if (errno != EEXIST) {
		fprintf(stderr, "backup: mkdir %s: %s\n", dest, strerror(errno));
		return BACKUP_EXIT_CANTCREAT;
	}
	if (!made) {
		/* A backup never mixes with older files: refuse anything but
		 * an empty directory (a mount point made ready for it). */
		if ((dir = opendir(dest)) == NULL) {
			fprintf(stderr, "backup: opendir %s: %s\n", dest, strerror(errno));
			return BACKUP_EXIT_CANTCREAT;
		}
		while ((e = readdir(dir)) != NULL)
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				break;
		closedir(dir);
		if (e != NULL) {
			fprintf(stderr, "backup: %s: exists and is not empty (a backup goes into a new "
			    "or empty directory)\n", dest);
			return BACKUP_EXIT_CANTCREAT;
		}
	}
	if (realpath(dest, out) == NULL) {
		fprintf(stderr, "backup: realpath %s: %s\n", dest, strerror(errno));
		return EXIT_STORAGE;
	}
	/* The new directory's own entry, in its parent. */
	n = strlen(out);
	memcpy(parent, out, n + 1);
	while (n > 1 && parent[n - 1] != '/')
		n--;
	parent[n > 1 ? n - 1 : 1] = '\0';
	if (made && backup_fsync_dir(parent) != 0)
		return EXIT_STORAGE;
	return 0;
}

static int
backup_count(void *arg, const struct meta_gc_row *row)
{
	(void)row;
	++*(uint64_t *)arg;
	return 0;
}

static int
backup_upload_id(void *arg, const struct meta_gc_row *row)
{
	return backup_list_add(arg, row->digest, NULL) == 0 ? 0 : -ERR_INTERNAL;
}

/* Sessions in the copy have no spool there: drop them. */
static int
backup_drop_uploads(struct backup *b)
{
	int rc, removed;

	if ((rc = meta_gc_uploads(b->copy, INT64_MAX, backup_upload_id, &b->ids)) != 0)
		return rc;
	for (size_t i = 0; i < b->ids.n; i++) {
		if ((rc = meta_gc_upload_delete(b->copy, b->ids.item[i], INT64_MAX, &removed)) != 0)
			return rc;
		b->uploads += removed != 0;
	}
	return 0;
}

/* One blob row of the copy: link or copy its file into the backup. */
static int
backup_blob(void *arg, const struct meta_gc_row *row)
{
	struct backup *b = arg;
	struct digest d;
	int rc, linked, exists;

	if (digest_parse(row->digest, &d) != 0) {
		fprintf(stderr, "backup: %s: not a digest, in the metadata\n", row->digest);
		b->errors++;
		return 0;
	}
	for (int tries = 0;; tries++) {
		rc = store_blob_export(b->src, &d, b->dst, &linked);
		if (rc != -ERR_BLOB_UNKNOWN || tries == 20)
			break;
		/* The collector moves a file to trash/ before it deletes the
		 * row, and back if the row turned out to be needed: give it
		 * a second to settle. */
		usleep(50 * 1000);
	}
	if (rc == 0) {
		b->blobs++;
		b->bytes += row->size;
		if (linked)
			b->linked++;
		else
			b->copied++;
		return 0;
	}
	if (rc != -ERR_BLOB_UNKNOWN) {
		char path[PATH_MAX + 256];

		store_blob_file(b->src, &d, path, sizeof(path));
		fprintf(stderr, "backup: %s: cannot put it into the backup (%s)\n", path,
		    errors_message((enum reg_error)-rc));
		b->errors++;
		/* A full or failing destination fails every blob after. */
		return rc;
	}
	if ((rc = meta_gc_blob_exists(b->live, row->digest, &exists)) != 0)
		return rc;
	if (exists) {
		char path[PATH_MAX + 256];

		store_blob_file(b->src, &d, path, sizeof(path));
		fprintf(stderr, "backup: %s: recorded but missing (see ociregd fsck)\n", path);
		b->missing++;
		return 0;
	}
	return backup_list_add(&b->dropped, row->digest, NULL) == 0 ? 0 : -ERR_INTERNAL;
}

static int
backup_ref(void *arg, const struct meta_gc_row *row)
{
	struct backup *b = arg;

	if (!backup_list_has(&b->dropped, row->aux))
		return 0;
	return backup_list_add(&b->doomed, row->repo, row->digest) == 0 ? 0 : -ERR_INTERNAL;
}

/* Blobs collected since the snapshot: out of the copy, with every
 * manifest that names one (by its layers, config, children or its own
 * bytes), so that no row of the backup points at a missing file. */
static int
backup_drop_gone(struct backup *b)
{
	int rc, links;

	if (b->dropped.n == 0)
		return 0;
	if ((rc = meta_fsck_refs(b->copy, backup_ref, b)) != 0)
		return rc;
	for (size_t i = 0; i < b->doomed.n; i++) {
		const char *repo = b->doomed.item[i], *digest = repo + strlen(repo) + 1;

		rc = meta_manifest_delete(b->copy, repo, digest);
		if (rc == 0)
			b->gone_manifests++;
		else if (rc != -ERR_MANIFEST_UNKNOWN && rc != -ERR_NAME_UNKNOWN)
			return rc;
	}
	for (size_t i = 0; i < b->dropped.n; i++) {
		if ((rc = meta_fsck_drop_blob(b->copy, b->dropped.item[i], &links)) != 0)
			return rc;
		b->gone++;
	}
	return 0;
}

static void
backup_summary(const struct backup *b, const char *dest, double seconds)
{
	char size[32];

	gc_size(b->bytes, size, sizeof(size));
	printf("backup: %s: %llu manifest%s, %llu tag%s, %llu blob%s (%s, %llu bytes): %llu linked, "
	    "%llu copied; %llu upload session%s dropped", dest,
	    (unsigned long long)b->manifests, b->manifests == 1 ? "" : "s",
	    (unsigned long long)b->tags, b->tags == 1 ? "" : "s",
	    (unsigned long long)b->blobs, b->blobs == 1 ? "" : "s", size,
	    (unsigned long long)b->bytes, (unsigned long long)b->linked,
	    (unsigned long long)b->copied, (unsigned long long)b->uploads,
	    b->uploads == 1 ? "" : "s");
	if (b->gone > 0)
		printf("; %llu blob%s and %llu manifest%s collected during the backup left out",
		    (unsigned long long)b->gone, b->gone == 1 ? "" : "s",
		    (unsigned long long)b->gone_manifests, b->gone_manifests == 1 ? "" : "s");
	if (b->missing > 0)
		printf("; %llu blob%s MISSING from the source", (unsigned long long)b->missing,
		    b->missing == 1 ? "" : "s");
	if (b->errors > 0)
		printf("; %llu error%s", (unsigned long long)b->errors, b->errors == 1 ? "" : "s");
	printf("; %.1f s\n", seconds);
	fflush(stdout);
}

int
backup_command(const struct config *cfg, const char *dest)
{
	struct backup b = {0};
	struct config *dcfg = NULL;
	struct timespec t0, t1;
	char path[PATH_MAX];
	int rc, status = EXIT_STORAGE;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = backup_dest_prepare(dest, path)) != 0)
		return rc;
	/* The copy's configuration: the live one with the backup as its
	 * storage root, which is all a restored daemon changes. */
	if ((dcfg = malloc(sizeof(*dcfg))) == NULL)
		return EXIT_STORAGE;
	*dcfg = *cfg;
	snprintf(dcfg->root, sizeof(dcfg->root), "%s", path);
	if ((b.live = meta_open(cfg)) == NULL)
		goto out;
	if ((rc = meta_backup(b.live, dcfg)) != 0) {
		if (rc == -ERR_UNSUPPORTED)
			fprintf(stderr, "backup: this metadata backend is backed up with its own "
			    "tools (see ociregd(8), Backups)\n");
		goto out;
	}
	if ((b.copy = meta_open(dcfg)) == NULL)
		goto out;
	if ((rc = backup_drop_uploads(&b)) != 0)
		goto out;
	if (strcmp(cfg->storage_backend, "filesystem") != 0) {
		/* XXX: the metadata copy alone would still be worth keeping. */
		fprintf(stderr, "backup: blobs in %s are backed up with the object store's own "
		    "tools (see ociregd(8), Blobs in S3)\n", cfg->storage_backend);
		goto out;
	}
	if ((b.src = store_open_cfg(cfg, cfg->root, cfg->sync)) == NULL)
		goto out;
	/* sync on whatever the live store does: a backup is worth nothing
	 * until it is on the disk. */
	if ((b.dst = store_open_backend(cfg->storage_backend, path, 1)) == NULL)
		goto out;
	if ((rc = meta_fsck_blobs(b.copy, backup_blob, &b)) != 0)
		goto out;
	if ((rc = backup_drop_gone(&b)) != 0)
		goto out;
	if ((rc = meta_gc_manifests(b.copy, backup_count, &b.manifests)) != 0 ||
	    (rc = meta_gc_tags(b.copy, backup_count, &b.tags)) != 0)
		goto out;
	if (b.missing == 0 && b.errors == 0)
		status = EXIT_OK;
out:
	meta_close(b.copy);
	b.copy = NULL;
	/* The metadata's last changes (dropped sessions and collected
	 * blobs) went through its own fsyncs; the directory's entries for
	 * what SQLite created and removed meanwhile go with this one. */
	if (status == EXIT_OK && backup_fsync_dir(path) != 0)
		status = EXIT_STORAGE;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (b.live != NULL && b.dst != NULL)
		backup_summary(&b, path, (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (status != EXIT_OK)
		fprintf(stderr, "backup: %s: incomplete; remove it before trying again\n", path);
	store_close(b.dst);
	store_close(b.src);
	meta_close(b.live);
	backup_list_free(&b.ids);
	backup_list_free(&b.dropped);
	backup_list_free(&b.doomed);
	free(dcfg);
	return status;
}
