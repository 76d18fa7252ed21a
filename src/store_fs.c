/* SPDX-License-Identifier: ISC
 * store_fs.c — the filesystem blob backend (store_backend.h), and the
 * O_DIRECT upload spool with its writer threads.  Content-addressed and immutable: a
 * blob file is written once, under a temporary name in the same filesystem,
 * and becomes visible by rename(2) only after its digest was checked.  The
 * order is the one Redis uses for its dumps: write, fsync the file, rename,
 * fsync the directory.  Rename uses RENAME_NOREPLACE so an existing blob is
 * never rewritten: a second push of the same content just drops its spool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"
#include "store.h"
#include "store_backend.h"

#define SPOOL_WARM_MAX (64 << 20)	/* see fs_upload_commit */

struct store_be {
	char root[PATH_MAX];
	int sync;
	int direct;			/* spools written with O_DIRECT when possible */
	/* One bit per prefix directory blobs/<alg>/<2 hex> whose entry this
	 * store has made durable (fsync of blobs/<alg> after it existed);
	 * set only after that fsync succeeded, read and set atomically by
	 * every worker.  Prefix directories are never removed, so a bit never
	 * goes stale.  See fs_prefix_dir. */
	uint64_t prefix_durable[2][256 / 64];
	struct fs_pool *pool;		/* the spool writer threads */
};

static struct fs_pool *fs_pool_new(void);
static int fs_pool_free(struct fs_pool *pool);

static int
fs_mkdir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

static int
fs_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* fsync the directory that holds path's last component: what makes the
 * entry itself durable (POSIX: fsync of a file covers its data, not the
 * name a directory gives it). */
static int
fs_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(dir))
		return errno = ENAMETOOLONG, -1;
	memcpy(dir, path, n + 1);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	while (n > 0 && dir[n - 1] != '/')
		n--;
	if (n == 0)
		return fs_fsync_path(".");
	while (n > 1 && dir[n - 1] == '/')
		n--;
	dir[n] = '\0';
	return fs_fsync_path(dir);
}

/* fsync a file; warm: also start reading it back into the page cache if
 * it is at most SPOOL_WARM_MAX bytes (see fs_upload_commit). */
static int
fs_fsync_file(const char *path, int warm)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc;

	if (fd < 0)
		return -1;
	if (warm && fstat(fd, &st) == 0 && st.st_size <= SPOOL_WARM_MAX)
		(void)posix_fadvise(fd, 0, st.st_size, POSIX_FADV_WILLNEED);
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Log once at the boundary and turn errno into an error. */
static int
fs_fail(const char *what, const char *path)
{
	int err = errno;

	log_error("store: %s %s: %s", what, path, strerror(err));
	return -(int)errors_from_errno(err);
}

static struct store_be *
fs_open(const struct config *cfg, const char *root, int sync)
{
	struct store_be *s;
	char path[PATH_MAX + 32];
	int created_root = 0;

	(void)cfg;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (strlen(root) >= sizeof(s->root) - 64) {
		log_error("store: root path too long");
		free(s);
		return NULL;
	}
	snprintf(s->root, sizeof(s->root), "%s", root);
	s->sync = sync;
	if ((s->pool = fs_pool_new()) == NULL)
		goto fail;
	if (mkdir(s->root, 0755) == 0)
		created_root = 1;
	else if (errno != EEXIST) {
		fs_fail("mkdir", s->root);
		goto fail;
	}
	static const char *const dirs[] = {"blobs", "blobs/sha256", "blobs/sha512", "uploads"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->root, dirs[i]);
		if (fs_mkdir(path) != 0) {
			fs_fail("mkdir", path);
			goto fail;
		}
	}
	if (!sync)
		return s;
	/* Every directory on the path of a blob must be durable before the
	 * first blob is acknowledged: a file system that keeps only what was
	 * fsynced loses a fresh root's whole tree otherwise (the blobs'
	 * own fsyncs do not cover their ancestors' entries).  The entries are
	 * fsynced whether or not this process created them: one that exists
	 * may have been created by a process that died before its fsync.
	 * Only the root's parent is ours to require just when we made the
	 * root; an existing root's entry there is best effort (the parent may
	 * not be readable to us). */
	static const char *const parents[] = {"blobs", ""};
	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->root, parents[i]);
		if (fs_fsync_path(path) != 0) {
			fs_fail("fsync", path);
			goto fail;
		}
	}
	if (fs_fsync_parent(s->root) != 0) {
		if (created_root) {
			fs_fail("fsync the parent of", s->root);
			goto fail;
		}
		log_debug("store: fsync the parent of %s: %s", s->root, strerror(errno));
	}
	return s;
fail:
	fs_pool_free(s->pool);
	free(s);
	return NULL;
}

static void
fs_close(struct store_be *s)
{
	/* The state stays allocated if a writer thread would not stop: a
	 * leak then, rather than a thread writing into freed memory. */
	if (fs_pool_free(s->pool) == 0)
		free(s);
}

static void
fs_set_direct(struct store_be *s, int on)
{
	char path[PATH_MAX + 64];
	int fd;

	s->direct = 0;
	if (!on)
		return;
	/* Decided once, here: a filesystem without O_DIRECT (tmpfs before
	 * 6.6) refuses the open with EINVAL. */
	snprintf(path, sizeof(path), "%s/uploads/.direct-probe", s->root);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600)) < 0) {
		if (errno == EINVAL)
			log_info("store: %s: no direct I/O on this filesystem; writing through the "
			    "page cache", s->root);
		else
			log_warn("store: open %s with O_DIRECT: %s", path, strerror(errno));
		return;
	}
	close(fd);
	unlink(path);
	s->direct = 1;
}

static const char *
fs_root(const struct store_be *s)
{
	return s->root;
}

static void
fs_blob_path(const struct store_be *s, const struct digest *d, char *out, size_t cap)
{
	snprintf(out, cap, "%s/blobs/%s/%.2s/%s", s->root, digest_alg_name(d->alg), digest_hex(d), digest_hex(d));
}

static void
fs_upload_path(const struct store_be *s, const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/uploads/%s", s->root, id);
}

static int
fs_free_bytes(struct store_be *s, uint64_t *avail, uint64_t *size)
{
	struct statvfs v;

	if (statvfs(s->root, &v) != 0)
		return fs_fail("statvfs", s->root);
	/* f_bavail, not f_bfree: what the daemon (not root) may still write. */
	*avail = (uint64_t)v.f_bavail * v.f_frsize;
	*size = (uint64_t)v.f_blocks * v.f_frsize;
	return 0;
}

static int
fs_writable(struct store_be *s)
{
	char path[PATH_MAX + 64];
	unsigned char r[8];
	int fd;

	randombytes_buf(r, sizeof(r));
	snprintf(path, sizeof(path), "%s/uploads/ready-%02x%02x%02x%02x%02x%02x%02x%02x", s->root,
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return -(int)errors_from_errno(errno);
	close(fd);
	unlink(path);
	return 0;
}

static int
fs_blob_stat(struct store_be *s, const struct digest *d, uint64_t *size)
{
	char path[PATH_MAX + 256];
	struct stat st;

	fs_blob_path(s, d, path, sizeof(path));
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UNKNOWN;
		return fs_fail("stat", path);
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Open path read-only into r: its size from fstat, the descriptor for
 * sendfile.  unknown: the error a missing file is. */
static int
fs_reader_open(const char *path, int unknown, struct store_reader *r)
{
	struct stat st;

	if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return unknown;
		return fs_fail("open", path);
	}
	if (fstat(r->fd, &st) != 0) {
		int rc = fs_fail("fstat", path);

		close(r->fd);
		r->fd = -1;
		return rc;
	}
	r->size = (uint64_t)st.st_size;
	return 0;
}

static int
fs_blob_reader(struct store_be *s, const struct digest *d, struct store_reader *r)
{
	char path[PATH_MAX + 256];

	fs_blob_path(s, d, path, sizeof(path));
	return fs_reader_open(path, -ERR_BLOB_UNKNOWN, r);
}

static int
fs_reader_read(struct store_reader *r, uint64_t off, void *buf, size_t cap, size_t *got)
{
	ssize_t n;

	if (r->fd < 0)		/* handed over with store_reader_take_fd */
		return -ERR_INTERNAL;
	while ((n = pread(r->fd, buf, cap, (off_t)off)) < 0 && errno == EINTR)
		;
	if (n < 0) {
		log_error("store: read at %llu: %s", (unsigned long long)off, strerror(errno));
		return -(int)errors_from_errno(errno);
	}
	*got = (size_t)n;
	return 0;
}

static void
fs_reader_close(struct store_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static unsigned
fs_hexval(char c)
{
	return c >= 'a' ? (unsigned)(c - 'a' + 10) : (unsigned)(c - '0');
}

/* Create (if need be) blob d's prefix directory blobs/<alg>/<2 hex>, its
 * path written to dir, and with sync make its entry durable before any
 * blob in it is acknowledged.  mkdir's EEXIST proves only that someone
 * made the directory: another worker between its mkdir and its fsync of
 * blobs/<alg>, or a process that died before that fsync.  So blobs/<alg>
 * is fsynced unless this store recorded having done it for this prefix:
 * one directory fsync per prefix and process, none after. */
static int
fs_prefix_dir(struct store_be *s, const struct digest *d, char *dir, size_t cap)
{
	const char *hex = digest_hex(d);
	unsigned x = fs_hexval(hex[0]) << 4 | fs_hexval(hex[1]);
	uint64_t *word = &s->prefix_durable[d->alg == DIGEST_SHA512][x / 64];
	uint64_t bit = (uint64_t)1 << (x % 64);

	snprintf(dir, cap, "%s/blobs/%s/%.2s", s->root, digest_alg_name(d->alg), hex);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return fs_fail("mkdir", dir);
	if (!s->sync || (__atomic_load_n(word, __ATOMIC_ACQUIRE) & bit) != 0)
		return 0;
	if (fs_fsync_parent(dir) != 0)
		return fs_fail("fsync the parent of", dir);
	__atomic_fetch_or(word, bit, __ATOMIC_RELEASE);
	return 0;
}

/* Rename a finished spool file into its content address.  If the blob is
 * already there the spool is left in place when keep is set (the caller
 * settles it after recording the blob, see fs_upload_settle), else
 * removed. */
static int
fs_install(struct store_be *s, const char *tmp, const struct digest *d, int keep, int warm)
{
	char path[PATH_MAX + 256], dir[PATH_MAX + 256];
	int rc;

	if (s->sync && fs_fsync_file(tmp, warm) != 0)
		return fs_fail("fsync", tmp);
	if ((rc = fs_prefix_dir(s, d, dir, sizeof(dir))) != 0)
		return rc;
	fs_blob_path(s, d, path, sizeof(path));
	/* An upload's spool is hard-linked, not renamed: until the row is
	 * committed and fs_upload_settle drops the spool, a crash or a
	 * failed commit leaves the session whole, so the client's retried PUT
	 * finds its bytes.  Either way an existing blob is never replaced. */
	if ((keep ? link(tmp, path) : renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE)) != 0) {
		if (errno != EEXIST)
			return fs_fail(keep ? "link" : "rename", path);
		/* Same content is already there: immutable, keep it. */
		if (!keep)
			unlink(tmp);
		/* But its name may not be durable yet: the worker that put it
		 * there may be between its link and its fsync, and we are about
		 * to acknowledge it too. */
		if (s->sync && fs_fsync_path(dir) != 0)
			return fs_fail("fsync", dir);
		return 0;
	}
	if (s->sync && fs_fsync_path(dir) != 0)
		return fs_fail("fsync", dir);
	return 0;
}

static int
fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
fs_blob_put(struct store_be *s, const struct digest *d, const void *data, size_t len)
{
	char tmp[PATH_MAX + 64];
	unsigned char r[8];
	uint64_t size;
	int fd, rc;

	if (fs_blob_stat(s, d, &size) == 0)
		return 0;
	randombytes_buf(r, sizeof(r));
	snprintf(tmp, sizeof(tmp), "%s/uploads/put-%02x%02x%02x%02x%02x%02x%02x%02x", s->root,
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return fs_fail("create", tmp);
	if (fs_write_all(fd, data, len) != 0) {
		rc = fs_fail("write", tmp);
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (close(fd) != 0) {
		rc = fs_fail("close", tmp);
		unlink(tmp);
		return rc;
	}
	if ((rc = fs_install(s, tmp, d, 0, 0)) != 0)
		unlink(tmp);
	return rc;
}

static int
fs_blob_delete(struct store_be *s, const struct digest *d)
{
	char path[PATH_MAX + 256];

	fs_blob_path(s, d, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		return fs_fail("unlink", path);
	return 0;
}

static int
fs_upload_create(struct store_be *s, const char *id)
{
	char path[PATH_MAX + 64];
	int fd;

	fs_upload_path(s, id, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return fs_fail("create", path);
	close(fd);
	return 0;
}

static int
fs_upload_open(struct store_be *s, const char *id, uint64_t size, int *fd)
{
	char path[PATH_MAX + 64];
	struct stat st;

	fs_upload_path(s, id, path, sizeof(path));
	if ((*fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UPLOAD_UNKNOWN;
		return fs_fail("open", path);
	}
	if (fstat(*fd, &st) != 0) {
		int rc = fs_fail("fstat", path);

		close(*fd);
		return rc;
	}
	if ((uint64_t)st.st_size < size) {
		/* The file lost bytes the metadata says it had (a crash
		 * without sync): refuse rather than append after a hole. */
		log_error("store: upload %s is shorter (%lld) than recorded (%llu)", id,
		    (long long)st.st_size, (unsigned long long)size);
		close(*fd);
		return -ERR_BLOB_UPLOAD_INVALID;
	}
	if (((uint64_t)st.st_size > size && ftruncate(*fd, (off_t)size) != 0) ||
	    lseek(*fd, (off_t)size, SEEK_SET) < 0) {
		int rc = fs_fail("truncate", path);

		close(*fd);
		return rc;
	}
	return 0;
}

/* ---- the spool writer ----
 *
 * With sync on, every pushed byte has to reach the disk before the 201.  On
 * the machines we measured, writing through the page cache and fsyncing at
 * the end runs at a fifth of what the device takes with O_DIRECT (scripts/
 * bench: dd+fsync 285 MiB/s, dd oflag=direct 1.4 GB/s): the kernel's
 * writeback, not the disk, is the limit.  So an upload's bytes are staged in
 * a ring of three aligned buffers (1 MiB, or 256 KiB for a second upload at
 * once; see SPOOL_MEM_MAX), each written with O_DIRECT in whole
 * blocks by a spool thread while the worker fills and hashes the next one
 * (with two buffers the worker waited 0.16-0.19 s per GiB for the disk,
 * with three 0.03 s: 1 GiB pushes 900-943 -> 948-1000 MiB/s); the
 * unaligned head (up to the next block after a chunk that ended mid-block)
 * and tail (the last partial block of a request) go through the page cache,
 * and the fsync at commit makes both durable together with the device's
 * write cache (InnoDB's innodb_flush_method = O_DIRECT works the same way).
 * A filesystem without O_DIRECT (tmpfs before 6.6) gets plain writes.
 */

#define SPOOL_ALIGN 4096u
#define SPOOL_BUF (1u << 20)
#define SPOOL_NBUF 3
#define SPOOL_BUF_SMALL (256u * 1024)
/* Staging memory of all uploads together: one upload at a time stages in
 * 1 MiB buffers (20% faster than 512 KiB here; 2 MiB was no faster),
 * another in 256 KiB ones, and past the budget an upload is written
 * through the page cache: memory stays bounded (4 MiB) whatever the number
 * of uploads. */
#define SPOOL_MEM_MAX (4u << 20)
#define SPOOL_BIG_MAX 1
#define SPOOL_THREADS 2

/* One direct write handed to the spool threads, so the worker fills and
 * hashes the next buffer while the device takes this one (a worker waits
 * only when the disk is a whole ring behind). */
struct spool_io {
	struct spool_io *next;
	struct fs_spool *sp;
	const char *p;
	size_t len;
	uint64_t off;
	int busy;			/* queued or being written */
	int rc;
};

struct fs_spool {
	struct store_spool base;	/* first: store.c's view */
	struct fs_pool *pool;		/* the store's writer threads */
	int fd;				/* plain descriptor: head, tail, fallback */
	int dfd;			/* O_DIRECT descriptor or -1 */
	uint64_t pos;			/* file offset of buf[cur][0] / of the next byte */
	size_t len;			/* bytes staged in buf[cur] */
	char *mem;			/* SPOOL_NBUF * bufsz bytes, page aligned */
	size_t bufsz;			/* of each buffer, or 0 */
	char *buf[SPOOL_NBUF];
	int cur;
	int err;			/* a failed background write, sticky */
	struct spool_io io[SPOOL_NBUF];	/* the write of each buffer */
	char id[64];
};

/* A store's spool writer threads and staging memory.  Per store, so that
 * store_close can stop and join the threads and give back the memory. */
struct fs_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* a write was queued, or stop */
	pthread_cond_t done;		/* a write finished */
	struct spool_io *head, *tail;
	int started;			/* threads running; -1: could not start */
	int stop;			/* store_close: finish the queue and exit */
	pthread_t threads[SPOOL_THREADS];
	int nthreads;
	/* One released set of SPOOL_BUF buffers stays mapped for the next
	 * upload: a 16 MiB PATCH spent ~1 ms mapping, populating and
	 * unmapping 3 MiB (a chunked push is a row of them).  A spool thread
	 * unmaps it once it has been idle for 2 s, so an idle daemon gives
	 * the memory back. */
	char *cached;
	time_t cached_at;
	size_t mem;			/* staging bytes in use */
	int big;			/* uploads staging in SPOOL_BUF buffers */
};

/* Under pool->mu, on a spool thread. */
static void
spool_reap_locked(struct fs_pool *pool)
{
	char *p = pool->cached;

	if (p == NULL || time(NULL) - pool->cached_at < 2)
		return;
	pool->cached = NULL;
	pthread_mutex_unlock(&pool->mu);
	munmap(p, SPOOL_NBUF * SPOOL_BUF);
	pthread_mutex_lock(&pool->mu);
}

static int
spool_pwrite(struct fs_spool *sp, int fd, const char *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("store: upload %s: write at %llu: %s", sp->id,
			    (unsigned long long)off, strerror(errno));
			return -(int)errors_from_errno(errno);
		}
		if (n == 0) {
			log_error("store: upload %s: write at %llu made no progress", sp->id,
			    (unsigned long long)off);
			return -ERR_INTERNAL;
		}
		/* A short direct write leaves an unaligned rest: plain. */
		fd = sp->fd;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void *
spool_thread(void *arg)
{
	struct fs_pool *pool = arg;

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		struct spool_io *io;

		while ((io = pool->head) == NULL) {
			struct timespec until;

			if (pool->stop) {
				pthread_mutex_unlock(&pool->mu);
				return NULL;
			}

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			if (pthread_cond_timedwait(&pool->work, &pool->mu, &until) == ETIMEDOUT)
				spool_reap_locked(pool);
		}
		if ((pool->head = io->next) == NULL)
			pool->tail = NULL;
		pthread_mutex_unlock(&pool->mu);
		io->rc = spool_pwrite(io->sp, io->sp->dfd, io->p, io->len, io->off);
		pthread_mutex_lock(&pool->mu);
		io->busy = 0;
		pthread_cond_broadcast(&pool->done);
	}
	return NULL;
}

/* Under pool->mu: start the threads once; 0 if they run. */
static int
spool_start(struct fs_pool *pool)
{
	pthread_attr_t attr;

	if (pool->started != 0)
		return pool->started > 0 ? 0 : -1;
	pool->started = -1;
	if (pthread_attr_init(&attr) != 0)
		return -1;
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int i = 0; i < SPOOL_THREADS; i++) {
		if (pthread_create(&pool->threads[i], &attr, spool_thread, pool) != 0) {
			if (i == 0) {
				pthread_attr_destroy(&attr);
				return -1;
			}
			break;
		}
		pool->started = 1;
		pool->nthreads++;
	}
	pthread_attr_destroy(&attr);
	return 0;
}

/* Wait for the background write of buf[i]; the spool's outcome (sticky). */
static int
spool_wait_one(struct fs_spool *sp, int i)
{
	struct fs_pool *pool = sp->pool;

	pthread_mutex_lock(&pool->mu);
	while (sp->io[i].busy)
		pthread_cond_wait(&pool->done, &pool->mu);
	pthread_mutex_unlock(&pool->mu);
	if (sp->io[i].rc != 0 && sp->err == 0)
		sp->err = sp->io[i].rc;
	sp->io[i].rc = 0;
	return sp->err;
}

/* Wait for every background write of the spool; its outcome (sticky). */
static int
spool_wait(struct fs_spool *sp)
{
	for (int i = 0; i < SPOOL_NBUF; i++)
		(void)spool_wait_one(sp, i);
	return sp->err;
}

/* buf[cur] is full: write it in the background (or here, without threads)
 * and continue in the next buffer once its own write is done. */
static int
spool_submit(struct fs_spool *sp)
{
	struct spool_io *io = &sp->io[sp->cur];
	struct fs_pool *pool = sp->pool;
	int rc, queued = 0;

	*io = (struct spool_io){.sp = sp, .p = sp->buf[sp->cur], .len = sp->bufsz,
	    .off = sp->pos, .busy = 1};
	pthread_mutex_lock(&pool->mu);
	if (spool_start(pool) == 0) {
		if (pool->tail != NULL)
			pool->tail->next = io;
		else
			pool->head = io;
		pool->tail = io;
		pthread_cond_signal(&pool->work);
		queued = 1;
	}
	pthread_mutex_unlock(&pool->mu);
	if (!queued) {
		io->busy = 0;
		if ((rc = spool_pwrite(sp, sp->dfd, sp->buf[sp->cur], sp->bufsz, sp->pos)) != 0)
			return sp->err = rc;
	}
	sp->pos += sp->bufsz;
	sp->len = 0;
	sp->cur = (sp->cur + 1) % SPOOL_NBUF;
	return spool_wait_one(sp, sp->cur);
}


/* The size of each of the SPOOL_NBUF buffers a new upload may stage in,
 * or 0 (write through the page cache). */
static size_t
spool_mem_take(struct fs_pool *pool)
{
	size_t sz = 0;

	pthread_mutex_lock(&pool->mu);
	if (pool->big < SPOOL_BIG_MAX && pool->mem + SPOOL_NBUF * SPOOL_BUF <= SPOOL_MEM_MAX) {
		sz = SPOOL_BUF;
		pool->big++;
	} else if (pool->mem + SPOOL_NBUF * SPOOL_BUF_SMALL <= SPOOL_MEM_MAX)
		sz = SPOOL_BUF_SMALL;
	pool->mem += SPOOL_NBUF * sz;
	pthread_mutex_unlock(&pool->mu);
	return sz;
}

static void
spool_mem_put(struct fs_pool *pool, size_t sz)
{
	pthread_mutex_lock(&pool->mu);
	pool->mem -= SPOOL_NBUF * sz;
	if (sz == SPOOL_BUF)
		pool->big--;
	pthread_mutex_unlock(&pool->mu);
}

/* A set of SPOOL_NBUF buffers of bufsz bytes, populated; NULL on failure. */
static char *
spool_map(struct fs_pool *pool, size_t bufsz)
{
	char *p = NULL;

	if (bufsz == SPOOL_BUF) {
		pthread_mutex_lock(&pool->mu);
		p = pool->cached;
		pool->cached = NULL;
		pthread_mutex_unlock(&pool->mu);
	}
	if (p == NULL) {
		p = mmap(NULL, SPOOL_NBUF * bufsz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
	}
	return p;
}

static void
spool_unmap(struct fs_pool *pool, char *p, size_t bufsz)
{
	if (bufsz == SPOOL_BUF) {
		pthread_mutex_lock(&pool->mu);
		/* Kept only where a spool thread will reap it. */
		if (pool->cached == NULL && pool->started > 0 && !pool->stop) {
			pool->cached = p;
			pool->cached_at = time(NULL);
			p = NULL;
		}
		pthread_mutex_unlock(&pool->mu);
	}
	if (p != NULL)
		munmap(p, SPOOL_NBUF * bufsz);
}

static struct fs_pool *
fs_pool_new(void)
{
	struct fs_pool *pool;

	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		return NULL;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->done, NULL);
	return pool;
}

/* Stop the writer threads once the queue is empty and join them, waiting
 * at most 30 s in all: a write the device holds up longer leaves its
 * thread running and the pool allocated (-1).  Every spool is closed by
 * now, so the queue is empty unless such a write is still in flight. */
static int
fs_pool_free(struct fs_pool *pool)
{
	struct timespec until;
	int stuck = 0;

	if (pool == NULL)
		return 0;
	pthread_mutex_lock(&pool->mu);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->mu);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	for (int i = 0; i < pool->nthreads; i++) {
		int rc = pthread_timedjoin_np(pool->threads[i], NULL, &until);

		if (rc != 0) {
			log_error("store: a spool writer thread did not stop: %s", strerror(rc));
			pthread_detach(pool->threads[i]);
			stuck = 1;
		}
	}
	if (stuck)
		return -1;
	if (pool->cached != NULL)
		munmap(pool->cached, SPOOL_NBUF * SPOOL_BUF);
	pthread_cond_destroy(&pool->done);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->mu);
	free(pool);
	return 0;
}

static int
fs_spool_open(struct store_be *s, const char *id, uint64_t size, uint64_t expect,
    struct store_spool **out)
{
	struct fs_spool *sp;
	char path[PATH_MAX + 64];
	int rc;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return -ERR_INTERNAL;
	sp->base.ops = &store_fs_ops;
	sp->pool = s->pool;
	sp->dfd = -1;
	sp->pos = size;
	snprintf(sp->id, sizeof(sp->id), "%s", id);
	if ((rc = fs_upload_open(s, id, size, &sp->fd)) != 0) {
		free(sp);
		return rc;
	}
	/* A small body (a config blob, a short chunk) is not worth a buffer
	 * and a second descriptor: plain writes.  Buffers are populated at
	 * once (one call instead of a fault per page; 16 MiB PATCHes of a
	 * 512 MiB upload took 0.70-0.89 s instead of 0.79-1.10 s). */
	if (s->direct && expect >= SPOOL_BUF_SMALL && (sp->bufsz = spool_mem_take(s->pool)) > 0) {
		fs_upload_path(s, id, path, sizeof(path));
		if ((sp->mem = spool_map(s->pool, sp->bufsz)) != NULL &&
		    (sp->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC)) < 0)
			log_warn("store: open %s with O_DIRECT: %s", path, strerror(errno));
		if (sp->dfd < 0) {
			if (sp->mem != NULL)
				spool_unmap(sp->pool, sp->mem, sp->bufsz);
			sp->mem = NULL;
			spool_mem_put(sp->pool, sp->bufsz);
			sp->bufsz = 0;
		} else {
			for (int i = 0; i < SPOOL_NBUF; i++)
				sp->buf[i] = sp->mem + (size_t)i * sp->bufsz;
		}
	}
	*out = &sp->base;
	return 0;
}

static int
fs_spool_write(struct store_spool *base, const void *data, size_t len)
{
	struct fs_spool *sp = (struct fs_spool *)base;
	const char *p = data;
	int rc;

	if (sp->dfd < 0) {
		if ((rc = spool_pwrite(sp, sp->fd, p, len, sp->pos)) == 0)
			sp->pos += len;
		return rc;
	}
	if (sp->err != 0)
		return sp->err;
	while (len > 0) {
		size_t n;

		if (sp->len == 0 && sp->pos % SPOOL_ALIGN != 0) {
			/* Head: up to the next block boundary, plain. */
			n = SPOOL_ALIGN - (size_t)(sp->pos % SPOOL_ALIGN);
			n = n < len ? n : len;
			if ((rc = spool_pwrite(sp, sp->fd, p, n, sp->pos)) != 0)
				return sp->err = rc;
			sp->pos += n;
		} else {
			n = sp->bufsz - sp->len;
			n = n < len ? n : len;
			if (p != sp->buf[sp->cur] + sp->len)	/* not received in place */
				memmove(sp->buf[sp->cur] + sp->len, p, n);
			sp->len += n;
			if (sp->len == sp->bufsz && (rc = spool_submit(sp)) != 0)
				return rc;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static char *
fs_spool_window(struct store_spool *base, size_t *cap)
{
	struct fs_spool *sp = (struct fs_spool *)base;
	/* Not in the head (written plainly) nor after a failure. */
	if (sp->dfd < 0 || sp->err != 0 || (sp->len == 0 && sp->pos % SPOOL_ALIGN != 0)) {
		*cap = 0;
		return NULL;
	}
	*cap = sp->bufsz - sp->len;
	return sp->buf[sp->cur] + sp->len;
}

static int
fs_spool_flush(struct store_spool *base)
{
	struct fs_spool *sp = (struct fs_spool *)base;
	size_t whole = sp->len & ~(size_t)(SPOOL_ALIGN - 1);
	const char *b;
	int rc;

	if (sp->dfd < 0)
		return 0;
	if ((rc = spool_wait(sp)) != 0 || sp->len == 0)
		return rc;
	b = sp->buf[sp->cur];
	if (whole > 0 && (rc = spool_pwrite(sp, sp->dfd, b, whole, sp->pos)) != 0)
		return sp->err = rc;
	if (sp->len > whole &&
	    (rc = spool_pwrite(sp, sp->fd, b + whole, sp->len - whole, sp->pos + whole)) != 0)
		return sp->err = rc;
	sp->pos += sp->len;
	sp->len = 0;
	return 0;
}

static int
fs_spool_truncate(struct store_spool *base, uint64_t size)
{
	struct fs_spool *sp = (struct fs_spool *)base;
	if (sp->dfd >= 0)
		(void)spool_wait(sp);
	sp->len = 0;
	sp->pos = size;
	if (ftruncate(sp->fd, (off_t)size) != 0) {
		log_warn("store: upload %s: truncate: %s", sp->id, strerror(errno));
		return -(int)errors_from_errno(errno);
	}
	return 0;
}

static void
fs_spool_close(struct store_spool *base)
{
	struct fs_spool *sp = (struct fs_spool *)base;
	if (sp == NULL)
		return;
	if (sp->dfd >= 0) {
		(void)spool_wait(sp);	/* the thread may still read buf */
		close(sp->dfd);
	}
	if (sp->fd >= 0)
		close(sp->fd);
	if (sp->mem != NULL) {
		spool_unmap(sp->pool, sp->mem, sp->bufsz);
		spool_mem_put(sp->pool, sp->bufsz);
	}
	free(sp);
}

static int
fs_upload_reader(struct store_be *s, const char *id, struct store_reader *r)
{
	char path[PATH_MAX + 64];

	fs_upload_path(s, id, path, sizeof(path));
	return fs_reader_open(path, -ERR_BLOB_UPLOAD_UNKNOWN, r);
}

static int
fs_upload_commit(struct store_be *s, const char *id, const struct digest *d, uint64_t size)
{
	char path[PATH_MAX + 64];

	/* The spool is the bytes that were hashed: nothing to compare. */
	(void)size;

	fs_upload_path(s, id, path, sizeof(path));
	/* Direct writes left the bytes out of the page cache; a layer is
	 * usually pulled soon after it is pushed (CI: push, then deploy), and
	 * a cold read ran at 782 MB/s here against 5.8 GB/s cached (a skopeo
	 * pull of 8 x 32 MiB right after its push: 1.06-1.19 s against 0.77-0.80
	 * s from Distribution, whose writes stay cached).  So blobs up to
	 * SPOOL_WARM_MAX are read back in the background as they are synced;
	 * bigger ones stay cold. */
	return fs_install(s, path, d, 1, s->direct);
}

static int
fs_upload_settle(struct store_be *s, const char *id, const struct digest *d)
{
	char path[PATH_MAX + 64];
	uint64_t size;
	int rc = 0;

	fs_upload_path(s, id, path, sizeof(path));
	/* Garbage collection may have taken the existing copy between our
	 * rename attempt and the metadata commit: then ours goes in. */
	if (fs_blob_stat(s, d, &size) == -ERR_BLOB_UNKNOWN && access(path, F_OK) == 0) {
		log_warn("store: %s vanished while being pushed again; installing the new copy", d->str);
		rc = fs_install(s, path, d, 0, 0);
	}
	if (unlink(path) != 0 && errno != ENOENT && rc == 0)
		rc = fs_fail("unlink", path);
	return rc;
}

static int
fs_upload_remove(struct store_be *s, const char *id)
{
	char path[PATH_MAX + 64];

	fs_upload_path(s, id, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		return fs_fail("unlink", path);
	return 0;
}

/* ---- garbage collection and fsck ----
 *
 * A blob file leaves in two steps: rename into <root>/trash/ (under a name
 * unique to the call, so two collections never share one), then either
 * unlink, or rename back if its row reappeared meanwhile.  A pusher that
 * finds the blob gone installs its own copy (fs_upload_settle,
 * fs_blob_put), so restoring never overwrites: RENAME_NOREPLACE, and an
 * existing file wins. */

static void
fs_blob_file(const struct store_be *s, const struct digest *d, char *out, size_t cap)
{
	fs_blob_path(s, d, out, cap);
}

static void
fs_area_path(const struct store_be *s, const char *area, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s/%s", s->root, area, name);
}

/* Move a file into <root>/<area>/ under name (creating the directory). */
static int
fs_move_aside(struct store_be *s, const char *from, const char *area, const char *name)
{
	char dir[PATH_MAX + 32], to[PATH_MAX + 512];

	snprintf(dir, sizeof(dir), "%s/%s", s->root, area);
	if (fs_mkdir(dir) != 0)
		return fs_fail("mkdir", dir);
	fs_area_path(s, area, name, to, sizeof(to));
	if (rename(from, to) != 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UNKNOWN;
		return fs_fail("rename", from);
	}
	return 0;
}

static int
fs_blob_trash(struct store_be *s, const struct digest *d, char *name, size_t cap, uint64_t *size)
{
	static unsigned long counter;
	char path[PATH_MAX + 256];
	struct stat st;

	fs_blob_path(s, d, path, sizeof(path));
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UNKNOWN;
		return fs_fail("stat", path);
	}
	*size = (uint64_t)st.st_size;
	snprintf(name, cap, "%s-%s.%ld.%lu", digest_alg_name(d->alg), digest_hex(d), (long)getpid(),
	    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	return fs_move_aside(s, path, "trash", name);
}

static int
fs_trash_restore(struct store_be *s, const char *name, const struct digest *d)
{
	char from[PATH_MAX + 512], path[PATH_MAX + 256], dir[PATH_MAX + 256];

	int rc;

	fs_area_path(s, "trash", name, from, sizeof(from));
	if ((rc = fs_prefix_dir(s, d, dir, sizeof(dir))) != 0)
		return rc;
	fs_blob_path(s, d, path, sizeof(path));
	if (renameat2(AT_FDCWD, from, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
		if (errno != EEXIST)
			return fs_fail("rename", from);
		/* A pusher installed the same content again: keep theirs. */
		unlink(from);
		return 0;
	}
	if (s->sync && fs_fsync_path(dir) != 0)
		return fs_fail("fsync", dir);
	return 0;
}

static int
fs_trash_remove(struct store_be *s, const char *name)
{
	char path[PATH_MAX + 512];

	fs_area_path(s, "trash", name, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		return fs_fail("unlink", path);
	return 0;
}

static int
fs_blob_quarantine(struct store_be *s, const struct digest *d, char *dest, size_t cap)
{
	char path[PATH_MAX + 256], name[DIGEST_STR_MAX + 32];
	int rc = 0;

	fs_blob_path(s, d, path, sizeof(path));
	/* Keep every copy that was ever quarantined: a second corrupt copy
	 * of the same digest gets a suffix. */
	for (int i = 0; i < 1000; i++) {
		struct stat st;

		if (i == 0)
			snprintf(name, sizeof(name), "%s-%s", digest_alg_name(d->alg), digest_hex(d));
		else
			snprintf(name, sizeof(name), "%s-%s.%d", digest_alg_name(d->alg), digest_hex(d), i);
		fs_area_path(s, "quarantine", name, dest, cap);
		if (lstat(dest, &st) != 0 && errno == ENOENT) {
			rc = fs_move_aside(s, path, "quarantine", name);
			return rc;
		}
	}
	log_error("store: quarantine: too many copies of %s", d->str);
	return -ERR_INTERNAL;
}

/* Parse blobs/<alg>/<2 hex>/<hex> back into a digest. */
static int
fs_path_digest(const char *alg, const char *sub, const char *name, struct digest *d)
{
	char s[DIGEST_STR_MAX + 8];
	size_t na = strlen(alg), nn = strlen(name);

	if (na + 1 + nn >= sizeof(s))
		return -1;
	memcpy(s, alg, na);
	s[na] = ':';
	memcpy(s + na + 1, name, nn + 1);
	if (digest_parse(s, d) != 0 || strcmp(d->str, s) != 0 || strlen(sub) != 2 ||
	    strncmp(sub, name, 2) != 0)
		return -1;
	return 0;
}

static int
fs_each_file(const char *path, const char *name, const struct digest *d, store_each_fn fn,
    void *arg)
{
	struct store_file f;
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : fs_fail("lstat", path);
	memset(&f, 0, sizeof(f));
	f.path = path;
	f.name = name;
	f.digest = d;
	f.regular = S_ISREG(st.st_mode);
	f.size = (uint64_t)st.st_size;
	f.mtime = (int64_t)st.st_mtime;
	f.ctime = (int64_t)st.st_ctime;
	return fn(arg, &f);
}

/* Every entry of dir (not . and ..), recursing `depth` more levels into
 * subdirectories; names[] collects the path components below the area. */
static int
fs_walk(const char *dir, int depth, const char **names, int level, store_each_fn fn, void *arg)
{
	struct dirent *e;
	DIR *dp;
	int rc = 0;

	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : fs_fail("opendir", dir);
	while (rc == 0 && (errno = 0, e = readdir(dp)) != NULL) {
		char path[PATH_MAX + 512];
		struct digest d;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		names[level] = e->d_name;
		if (level < depth && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			rc = fs_walk(path, depth, names, level + 1, fn, arg);
			continue;
		}
		if (depth == 2 && level == 2 && fs_path_digest(names[0], names[1], names[2], &d) == 0)
			rc = fs_each_file(path, e->d_name, &d, fn, arg);
		else
			rc = fs_each_file(path, e->d_name, NULL, fn, arg);
	}
	if (rc == 0 && errno != 0)
		rc = fs_fail("readdir", dir);
	closedir(dp);
	return rc;
}

static int
fs_each(struct store_be *s, enum store_area area, store_each_fn fn, void *arg)
{
	static const char *const areas[] = {"blobs", "uploads", "trash"};
	const char *names[3] = {"", "", ""};
	char dir[PATH_MAX + 32];

	snprintf(dir, sizeof(dir), "%s/%s", s->root, areas[area]);
	return fs_walk(dir, area == STORE_BLOBS ? 2 : 0, names, 0, fn, arg);
}

/* ---- backups (issue 20) ---- */

/* Copy src's bytes into the new file out: copy_file_range (no trip
 * through user space, and a reflink where the file system shares
 * extents), else read and write.  0 or -1 with errno. */
static int
fs_copy_fd(int in, int out)
{
	static const size_t chunk = 1 << 20;
	uint64_t done = 0;
	char *buf;
	ssize_t n;

	for (;;) {
		n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		/* Not between these two files (an older kernel across file
		 * systems, a file system without it): only safe to switch
		 * before anything was written. */
		if (done == 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
		    errno == EOPNOTSUPP))
			break;
		return -1;
	}
	if ((buf = malloc(chunk)) == NULL)
		return -1;
	for (;;) {
		if ((n = read(in, buf, chunk)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n == 0 || fs_write_all(out, buf, (size_t)n) != 0)
			break;
	}
	free(buf);
	return n == 0 ? 0 : -1;
}

static int
fs_blob_export(struct store_be *s, const struct digest *d, struct store_be *dest, int *linked)
{
	char src[PATH_MAX + 256], dst[PATH_MAX + 256], dir[PATH_MAX + 256], tmp[PATH_MAX + 64];
	unsigned char r[8];
	int in, out, rc;

	*linked = 0;
	fs_blob_path(s, d, src, sizeof(src));
	fs_blob_path(dest, d, dst, sizeof(dst));
	if ((rc = fs_prefix_dir(dest, d, dir, sizeof(dir))) != 0)
		return rc;
	if (link(src, dst) == 0) {
		*linked = 1;
		if (dest->sync && fs_fsync_path(dir) != 0)
			return fs_fail("fsync", dir);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno == ENOENT)		/* dir exists: it is the source that is gone */
		return -ERR_BLOB_UNKNOWN;
	/* Another file system: EXDEV.  Or hard links refused: a source file
	 * owned by another user under fs.protected_hardlinks (EPERM), too
	 * many links (EMLINK), none at all (EOPNOTSUPP).  Copy instead. */
	if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EOPNOTSUPP)
		return fs_fail("link", dst);
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UNKNOWN;
		return fs_fail("open", src);
	}
	randombytes_buf(r, sizeof(r));
	snprintf(tmp, sizeof(tmp), "%s/uploads/backup-%02x%02x%02x%02x%02x%02x%02x%02x", dest->root,
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
		rc = fs_fail("create", tmp);
		close(in);
		return rc;
	}
	if (fs_copy_fd(in, out) != 0) {
		rc = fs_fail("copy into", tmp);
		close(in);
		close(out);
		unlink(tmp);
		return rc;
	}
	close(in);
	if (close(out) != 0) {
		rc = fs_fail("close", tmp);
		unlink(tmp);
		return rc;
	}
	/* The same way in as a pushed blob: fsync, rename, fsync the
	 * directory (as dest's sync says). */
	if ((rc = fs_install(dest, tmp, d, 0, 0)) != 0)
		unlink(tmp);
	return rc;
}

const struct store_ops store_fs_ops = {
	.name = "filesystem",
	.open = fs_open,
	.close = fs_close,
	.set_direct = fs_set_direct,
	.root = fs_root,
	.writable = fs_writable,
	.free_bytes = fs_free_bytes,
	.blob_stat = fs_blob_stat,
	.blob_reader = fs_blob_reader,
	.blob_put = fs_blob_put,
	.blob_remove = fs_blob_delete,
	.reader_read = fs_reader_read,
	.reader_close = fs_reader_close,
	.upload_create = fs_upload_create,
	.upload_open = fs_upload_open,
	.upload_reader = fs_upload_reader,
	.spool_open = fs_spool_open,
	.spool_write = fs_spool_write,
	.spool_window = fs_spool_window,
	.spool_flush = fs_spool_flush,
	.spool_truncate = fs_spool_truncate,
	.spool_close = fs_spool_close,
	.upload_commit = fs_upload_commit,
	.upload_settle = fs_upload_settle,
	.upload_remove = fs_upload_remove,
	.blob_file = fs_blob_file,
	.blob_trash = fs_blob_trash,
	.trash_restore = fs_trash_restore,
	.trash_remove = fs_trash_remove,
	.blob_quarantine = fs_blob_quarantine,
	.each = fs_each,
	.blob_export = fs_blob_export,
};
