/* SPDX-License-Identifier: ISC
 * store.c — filesystem blob backend.  Content-addressed and immutable: a
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

#define SPOOL_WARM_MAX (64 << 20)	/* see store_upload_commit */

struct store {
	char root[PATH_MAX];
	int sync;
	int direct;			/* spools written with O_DIRECT when possible */
	/* One bit per prefix directory blobs/<alg>/<2 hex> whose entry this
	 * store has made durable (fsync of blobs/<alg> after it existed);
	 * set only after that fsync succeeded, read and set atomically by
	 * every worker.  Prefix directories are never removed, so a bit never
	 * goes stale.  See store_prefix_dir. */
	uint64_t prefix_durable[2][256 / 64];
};

static int
store_mkdir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

static int
store_fsync_path(const char *path)
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
store_fsync_parent(const char *path)
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
		return store_fsync_path(".");
	while (n > 1 && dir[n - 1] == '/')
		n--;
	dir[n] = '\0';
	return store_fsync_path(dir);
}

/* fsync a file; warm: also start reading it back into the page cache if
 * it is at most SPOOL_WARM_MAX bytes (see store_upload_commit). */
static int
store_fsync_file(const char *path, int warm)
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
store_fail(const char *what, const char *path)
{
	int err = errno;

	log_error("store: %s %s: %s", what, path, strerror(err));
	return -(int)errors_from_errno(err);
}

struct store *
store_open(const char *root, int sync)
{
	struct store *s;
	char path[PATH_MAX + 32];
	int created_root = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (strlen(root) >= sizeof(s->root) - 64) {
		log_error("store: root path too long");
		free(s);
		return NULL;
	}
	snprintf(s->root, sizeof(s->root), "%s", root);
	s->sync = sync;
	if (mkdir(s->root, 0755) == 0)
		created_root = 1;
	else if (errno != EEXIST) {
		store_fail("mkdir", s->root);
		goto fail;
	}
	static const char *const dirs[] = {"blobs", "blobs/sha256", "blobs/sha512", "uploads"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->root, dirs[i]);
		if (store_mkdir(path) != 0) {
			store_fail("mkdir", path);
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
		if (store_fsync_path(path) != 0) {
			store_fail("fsync", path);
			goto fail;
		}
	}
	if (store_fsync_parent(s->root) != 0) {
		if (created_root) {
			store_fail("fsync the parent of", s->root);
			goto fail;
		}
		log_debug("store: fsync the parent of %s: %s", s->root, strerror(errno));
	}
	return s;
fail:
	free(s);
	return NULL;
}

void
store_close(struct store *s)
{
	free(s);
}

void
store_set_direct(struct store *s, int on)
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

const char *
store_root(const struct store *s)
{
	return s->root;
}

static void
store_blob_path(const struct store *s, const struct digest *d, char *out, size_t cap)
{
	snprintf(out, cap, "%s/blobs/%s/%.2s/%s", s->root, digest_alg_name(d->alg), digest_hex(d), digest_hex(d));
}

static void
store_upload_path(const struct store *s, const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/uploads/%s", s->root, id);
}

int
store_writable(struct store *s)
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

int
store_blob_stat(struct store *s, const struct digest *d, uint64_t *size)
{
	char path[PATH_MAX + 256];
	struct stat st;

	store_blob_path(s, d, path, sizeof(path));
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UNKNOWN;
		return store_fail("stat", path);
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int
store_blob_open(struct store *s, const struct digest *d, int *fd, uint64_t *size)
{
	char path[PATH_MAX + 256];
	struct stat st;

	store_blob_path(s, d, path, sizeof(path));
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UNKNOWN;
		return store_fail("open", path);
	}
	if (fstat(*fd, &st) != 0) {
		int rc = store_fail("fstat", path);

		close(*fd);
		return rc;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static unsigned
store_hexval(char c)
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
store_prefix_dir(struct store *s, const struct digest *d, char *dir, size_t cap)
{
	const char *hex = digest_hex(d);
	unsigned x = store_hexval(hex[0]) << 4 | store_hexval(hex[1]);
	uint64_t *word = &s->prefix_durable[d->alg == DIGEST_SHA512][x / 64];
	uint64_t bit = (uint64_t)1 << (x % 64);

	snprintf(dir, cap, "%s/blobs/%s/%.2s", s->root, digest_alg_name(d->alg), hex);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return store_fail("mkdir", dir);
	if (!s->sync || (__atomic_load_n(word, __ATOMIC_ACQUIRE) & bit) != 0)
		return 0;
	if (store_fsync_parent(dir) != 0)
		return store_fail("fsync the parent of", dir);
	__atomic_fetch_or(word, bit, __ATOMIC_RELEASE);
	return 0;
}

/* Rename a finished spool file into its content address.  If the blob is
 * already there the spool is left in place when keep is set (the caller
 * settles it after recording the blob, see store_upload_settle), else
 * removed. */
static int
store_install(struct store *s, const char *tmp, const struct digest *d, int keep, int warm)
{
	char path[PATH_MAX + 256], dir[PATH_MAX + 256];
	int rc;

	if (s->sync && store_fsync_file(tmp, warm) != 0)
		return store_fail("fsync", tmp);
	if ((rc = store_prefix_dir(s, d, dir, sizeof(dir))) != 0)
		return rc;
	store_blob_path(s, d, path, sizeof(path));
	/* An upload's spool is hard-linked, not renamed: until the row is
	 * committed and store_upload_settle drops the spool, a crash or a
	 * failed commit leaves the session whole, so the client's retried PUT
	 * finds its bytes.  Either way an existing blob is never replaced. */
	if ((keep ? link(tmp, path) : renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE)) != 0) {
		if (errno != EEXIST)
			return store_fail(keep ? "link" : "rename", path);
		/* Same content is already there: immutable, keep it. */
		if (!keep)
			unlink(tmp);
		/* But its name may not be durable yet: the worker that put it
		 * there may be between its link and its fsync, and we are about
		 * to acknowledge it too. */
		if (s->sync && store_fsync_path(dir) != 0)
			return store_fail("fsync", dir);
		return 0;
	}
	if (s->sync && store_fsync_path(dir) != 0)
		return store_fail("fsync", dir);
	return 0;
}

static int
store_write_all(int fd, const void *data, size_t len)
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

int
store_blob_put(struct store *s, const struct digest *d, const void *data, size_t len)
{
	char tmp[PATH_MAX + 64];
	unsigned char r[8];
	uint64_t size;
	int fd, rc;

	if (store_blob_stat(s, d, &size) == 0)
		return 0;
	randombytes_buf(r, sizeof(r));
	snprintf(tmp, sizeof(tmp), "%s/uploads/put-%02x%02x%02x%02x%02x%02x%02x%02x", s->root,
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return store_fail("create", tmp);
	if (store_write_all(fd, data, len) != 0) {
		rc = store_fail("write", tmp);
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (close(fd) != 0) {
		rc = store_fail("close", tmp);
		unlink(tmp);
		return rc;
	}
	if ((rc = store_install(s, tmp, d, 0, 0)) != 0)
		unlink(tmp);
	return rc;
}

int
store_blob_read(struct store *s, const struct digest *d, size_t max, char **buf, size_t *len)
{
	uint64_t size;
	size_t off = 0;
	int fd, rc;

	*buf = NULL;
	if ((rc = store_blob_open(s, d, &fd, &size)) != 0)
		return rc;
	if (size > max) {
		close(fd);
		return -ERR_TOO_LARGE;
	}
	if ((*buf = malloc(size + 1)) == NULL) {
		close(fd);
		return -ERR_INTERNAL;
	}
	while (off < size) {
		ssize_t n = read(fd, *buf + off, size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? store_fail("read", digest_hex(d)) : -ERR_INTERNAL;
			free(*buf);
			*buf = NULL;
			close(fd);
			return rc;
		}
		off += (size_t)n;
	}
	close(fd);
	(*buf)[size] = '\0';
	*len = size;
	return 0;
}

int
store_blob_delete(struct store *s, const struct digest *d)
{
	char path[PATH_MAX + 256];

	store_blob_path(s, d, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		return store_fail("unlink", path);
	return 0;
}

int
store_upload_create(struct store *s, const char *id)
{
	char path[PATH_MAX + 64];
	int fd;

	store_upload_path(s, id, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return store_fail("create", path);
	close(fd);
	return 0;
}

int
store_upload_open(struct store *s, const char *id, uint64_t size, int *fd)
{
	char path[PATH_MAX + 64];
	struct stat st;

	store_upload_path(s, id, path, sizeof(path));
	if ((*fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UPLOAD_UNKNOWN;
		return store_fail("open", path);
	}
	if (fstat(*fd, &st) != 0) {
		int rc = store_fail("fstat", path);

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
		int rc = store_fail("truncate", path);

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
	struct store_spool *sp;
	const char *p;
	size_t len;
	uint64_t off;
	int busy;			/* queued or being written */
	int rc;
};

struct store_spool {
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

static pthread_mutex_t spool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spool_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t spool_done = PTHREAD_COND_INITIALIZER;
static struct spool_io *spool_head, *spool_tail;
static int spool_started;		/* threads running; -1: could not start */

/* One released set of SPOOL_BUF buffers stays mapped for the next upload:
 * a 16 MiB PATCH spent ~1 ms mapping, populating and unmapping 3 MiB (a
 * chunked push is a row of them).  A spool thread unmaps it once it has
 * been idle for 2 s, so an idle daemon gives the memory back. */
static char *spool_cached;		/* under spool_mu */
static time_t spool_cached_at;

/* Under spool_mu, on a spool thread. */
static void
spool_reap_locked(void)
{
	char *p = spool_cached;

	if (p == NULL || time(NULL) - spool_cached_at < 2)
		return;
	spool_cached = NULL;
	pthread_mutex_unlock(&spool_mu);
	munmap(p, SPOOL_NBUF * SPOOL_BUF);
	pthread_mutex_lock(&spool_mu);
}

static int
spool_pwrite(struct store_spool *sp, int fd, const char *p, size_t len, uint64_t off)
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
	(void)arg;
	pthread_mutex_lock(&spool_mu);
	for (;;) {
		struct spool_io *io;

		while ((io = spool_head) == NULL) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			if (pthread_cond_timedwait(&spool_work, &spool_mu, &until) == ETIMEDOUT)
				spool_reap_locked();
		}
		if ((spool_head = io->next) == NULL)
			spool_tail = NULL;
		pthread_mutex_unlock(&spool_mu);
		io->rc = spool_pwrite(io->sp, io->sp->dfd, io->p, io->len, io->off);
		pthread_mutex_lock(&spool_mu);
		io->busy = 0;
		pthread_cond_broadcast(&spool_done);
	}
	return NULL;
}

/* Under spool_mu: start the threads once; 0 if they run. */
static int
spool_start(void)
{
	pthread_attr_t attr;
	pthread_t t;

	if (spool_started != 0)
		return spool_started > 0 ? 0 : -1;
	spool_started = -1;
	if (pthread_attr_init(&attr) != 0)
		return -1;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int i = 0; i < SPOOL_THREADS; i++) {
		if (pthread_create(&t, &attr, spool_thread, NULL) != 0) {
			if (i == 0) {
				pthread_attr_destroy(&attr);
				return -1;
			}
			break;
		}
		spool_started = 1;
	}
	pthread_attr_destroy(&attr);
	return 0;
}

/* Wait for the background write of buf[i]; the spool's outcome (sticky). */
static int
spool_wait_one(struct store_spool *sp, int i)
{
	pthread_mutex_lock(&spool_mu);
	while (sp->io[i].busy)
		pthread_cond_wait(&spool_done, &spool_mu);
	pthread_mutex_unlock(&spool_mu);
	if (sp->io[i].rc != 0 && sp->err == 0)
		sp->err = sp->io[i].rc;
	sp->io[i].rc = 0;
	return sp->err;
}

/* Wait for every background write of the spool; its outcome (sticky). */
static int
spool_wait(struct store_spool *sp)
{
	for (int i = 0; i < SPOOL_NBUF; i++)
		(void)spool_wait_one(sp, i);
	return sp->err;
}

/* buf[cur] is full: write it in the background (or here, without threads)
 * and continue in the next buffer once its own write is done. */
static int
spool_submit(struct store_spool *sp)
{
	struct spool_io *io = &sp->io[sp->cur];
	int rc, queued = 0;

	*io = (struct spool_io){.sp = sp, .p = sp->buf[sp->cur], .len = sp->bufsz,
	    .off = sp->pos, .busy = 1};
	pthread_mutex_lock(&spool_mu);
	if (spool_start() == 0) {
		if (spool_tail != NULL)
			spool_tail->next = io;
		else
			spool_head = io;
		spool_tail = io;
		pthread_cond_signal(&spool_work);
		queued = 1;
	}
	pthread_mutex_unlock(&spool_mu);
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

static size_t spool_mem;		/* staging bytes in use, under spool_mu */
static int spool_big;			/* uploads staging in SPOOL_BUF buffers */

/* The size of each of the SPOOL_NBUF buffers a new upload may stage in,
 * or 0 (write through the page cache). */
static size_t
spool_mem_take(void)
{
	size_t sz = 0;

	pthread_mutex_lock(&spool_mu);
	if (spool_big < SPOOL_BIG_MAX && spool_mem + SPOOL_NBUF * SPOOL_BUF <= SPOOL_MEM_MAX) {
		sz = SPOOL_BUF;
		spool_big++;
	} else if (spool_mem + SPOOL_NBUF * SPOOL_BUF_SMALL <= SPOOL_MEM_MAX)
		sz = SPOOL_BUF_SMALL;
	spool_mem += SPOOL_NBUF * sz;
	pthread_mutex_unlock(&spool_mu);
	return sz;
}

static void
spool_mem_put(size_t sz)
{
	pthread_mutex_lock(&spool_mu);
	spool_mem -= SPOOL_NBUF * sz;
	if (sz == SPOOL_BUF)
		spool_big--;
	pthread_mutex_unlock(&spool_mu);
}

/* A set of SPOOL_NBUF buffers of bufsz bytes, populated; NULL on failure. */
static char *
spool_map(size_t bufsz)
{
	char *p = NULL;

	if (bufsz == SPOOL_BUF) {
		pthread_mutex_lock(&spool_mu);
		p = spool_cached;
		spool_cached = NULL;
		pthread_mutex_unlock(&spool_mu);
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
spool_unmap(char *p, size_t bufsz)
{
	if (bufsz == SPOOL_BUF) {
		pthread_mutex_lock(&spool_mu);
		/* Kept only where a spool thread will reap it. */
		if (spool_cached == NULL && spool_started > 0) {
			spool_cached = p;
			spool_cached_at = time(NULL);
			p = NULL;
		}
		pthread_mutex_unlock(&spool_mu);
	}
	if (p != NULL)
		munmap(p, SPOOL_NBUF * bufsz);
}

int
store_spool_open(struct store *s, const char *id, uint64_t size, uint64_t expect,
    struct store_spool **out)
{
	struct store_spool *sp;
	char path[PATH_MAX + 64];
	int rc;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return -ERR_INTERNAL;
	sp->dfd = -1;
	sp->pos = size;
	snprintf(sp->id, sizeof(sp->id), "%s", id);
	if ((rc = store_upload_open(s, id, size, &sp->fd)) != 0) {
		free(sp);
		return rc;
	}
	/* A small body (a config blob, a short chunk) is not worth a buffer
	 * and a second descriptor: plain writes.  Buffers are populated at
	 * once (one call instead of a fault per page; 16 MiB PATCHes of a
	 * 512 MiB upload took 0.70-0.89 s instead of 0.79-1.10 s). */
	if (s->direct && expect >= SPOOL_BUF_SMALL && (sp->bufsz = spool_mem_take()) > 0) {
		store_upload_path(s, id, path, sizeof(path));
		if ((sp->mem = spool_map(sp->bufsz)) != NULL &&
		    (sp->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC)) < 0)
			log_warn("store: open %s with O_DIRECT: %s", path, strerror(errno));
		if (sp->dfd < 0) {
			if (sp->mem != NULL)
				spool_unmap(sp->mem, sp->bufsz);
			sp->mem = NULL;
			spool_mem_put(sp->bufsz);
			sp->bufsz = 0;
		} else {
			for (int i = 0; i < SPOOL_NBUF; i++)
				sp->buf[i] = sp->mem + (size_t)i * sp->bufsz;
		}
	}
	*out = sp;
	return 0;
}

int
store_spool_write(struct store_spool *sp, const void *data, size_t len)
{
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

char *
store_spool_window(struct store_spool *sp, size_t *cap)
{
	/* Not in the head (written plainly) nor after a failure. */
	if (sp->dfd < 0 || sp->err != 0 || (sp->len == 0 && sp->pos % SPOOL_ALIGN != 0)) {
		*cap = 0;
		return NULL;
	}
	*cap = sp->bufsz - sp->len;
	return sp->buf[sp->cur] + sp->len;
}

int
store_spool_flush(struct store_spool *sp)
{
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

int
store_spool_truncate(struct store_spool *sp, uint64_t size)
{
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

void
store_spool_close(struct store_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->dfd >= 0) {
		(void)spool_wait(sp);	/* the thread may still read buf */
		close(sp->dfd);
	}
	if (sp->fd >= 0)
		close(sp->fd);
	if (sp->mem != NULL) {
		spool_unmap(sp->mem, sp->bufsz);
		spool_mem_put(sp->bufsz);
	}
	free(sp);
}

int
store_upload_open_read(struct store *s, const char *id, int *fd)
{
	char path[PATH_MAX + 64];

	store_upload_path(s, id, path, sizeof(path));
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UPLOAD_UNKNOWN;
		return store_fail("open", path);
	}
	return 0;
}

int
store_upload_commit(struct store *s, const char *id, const struct digest *d)
{
	char path[PATH_MAX + 64];

	store_upload_path(s, id, path, sizeof(path));
	/* Direct writes left the bytes out of the page cache; a layer is
	 * usually pulled soon after it is pushed (CI: push, then deploy), and
	 * a cold read ran at 782 MB/s here against 5.8 GB/s cached (a skopeo
	 * pull of 8 x 32 MiB right after its push: 1.06-1.19 s against 0.77-0.80
	 * s from Distribution, whose writes stay cached).  So blobs up to
	 * SPOOL_WARM_MAX are read back in the background as they are synced;
	 * bigger ones stay cold. */
	return store_install(s, path, d, 1, s->direct);
}

int
store_upload_settle(struct store *s, const char *id, const struct digest *d)
{
	char path[PATH_MAX + 64];
	uint64_t size;
	int rc = 0;

	store_upload_path(s, id, path, sizeof(path));
	/* Garbage collection may have taken the existing copy between our
	 * rename attempt and the metadata commit: then ours goes in. */
	if (store_blob_stat(s, d, &size) == -ERR_BLOB_UNKNOWN && access(path, F_OK) == 0) {
		log_warn("store: %s vanished while being pushed again; installing the new copy", d->str);
		rc = store_install(s, path, d, 0, 0);
	}
	if (unlink(path) != 0 && errno != ENOENT && rc == 0)
		rc = store_fail("unlink", path);
	return rc;
}

int
store_upload_remove(struct store *s, const char *id)
{
	char path[PATH_MAX + 64];

	store_upload_path(s, id, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		return store_fail("unlink", path);
	return 0;
}

/* ---- garbage collection and fsck ----
 *
 * A blob file leaves in two steps: rename into <root>/trash/ (under a name
 * unique to the call, so two collections never share one), then either
 * unlink, or rename back if its row reappeared meanwhile.  A pusher that
 * finds the blob gone installs its own copy (store_upload_settle,
 * store_blob_put), so restoring never overwrites: RENAME_NOREPLACE, and an
 * existing file wins. */

void
store_blob_file(const struct store *s, const struct digest *d, char *out, size_t cap)
{
	store_blob_path(s, d, out, cap);
}

static void
store_area_path(const struct store *s, const char *area, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s/%s", s->root, area, name);
}

/* Move a file into <root>/<area>/ under name (creating the directory). */
static int
store_move_aside(struct store *s, const char *from, const char *area, const char *name)
{
	char dir[PATH_MAX + 32], to[PATH_MAX + 512];

	snprintf(dir, sizeof(dir), "%s/%s", s->root, area);
	if (store_mkdir(dir) != 0)
		return store_fail("mkdir", dir);
	store_area_path(s, area, name, to, sizeof(to));
	if (rename(from, to) != 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UNKNOWN;
		return store_fail("rename", from);
	}
	return 0;
}

int
store_blob_trash(struct store *s, const struct digest *d, char *name, size_t cap, uint64_t *size)
{
	static unsigned long counter;
	char path[PATH_MAX + 256];
	struct stat st;

	store_blob_path(s, d, path, sizeof(path));
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return -ERR_BLOB_UNKNOWN;
		return store_fail("stat", path);
	}
	*size = (uint64_t)st.st_size;
	snprintf(name, cap, "%s-%s.%ld.%lu", digest_alg_name(d->alg), digest_hex(d), (long)getpid(),
	    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	return store_move_aside(s, path, "trash", name);
}

int
store_trash_restore(struct store *s, const char *name, const struct digest *d)
{
	char from[PATH_MAX + 512], path[PATH_MAX + 256], dir[PATH_MAX + 256];

	int rc;

	store_area_path(s, "trash", name, from, sizeof(from));
	if ((rc = store_prefix_dir(s, d, dir, sizeof(dir))) != 0)
		return rc;
	store_blob_path(s, d, path, sizeof(path));
	if (renameat2(AT_FDCWD, from, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
		if (errno != EEXIST)
			return store_fail("rename", from);
		/* A pusher installed the same content again: keep theirs. */
		unlink(from);
		return 0;
	}
	if (s->sync && store_fsync_path(dir) != 0)
		return store_fail("fsync", dir);
	return 0;
}

int
store_trash_remove(struct store *s, const char *name)
{
	char path[PATH_MAX + 512];

	store_area_path(s, "trash", name, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		return store_fail("unlink", path);
	return 0;
}

int
store_blob_quarantine(struct store *s, const struct digest *d, char *dest, size_t cap)
{
	char path[PATH_MAX + 256], name[DIGEST_STR_MAX + 32];
	int rc = 0;

	store_blob_path(s, d, path, sizeof(path));
	/* Keep every copy that was ever quarantined: a second corrupt copy
	 * of the same digest gets a suffix. */
	for (int i = 0; i < 1000; i++) {
		struct stat st;

		if (i == 0)
			snprintf(name, sizeof(name), "%s-%s", digest_alg_name(d->alg), digest_hex(d));
		else
			snprintf(name, sizeof(name), "%s-%s.%d", digest_alg_name(d->alg), digest_hex(d), i);
		store_area_path(s, "quarantine", name, dest, cap);
		if (lstat(dest, &st) != 0 && errno == ENOENT) {
			rc = store_move_aside(s, path, "quarantine", name);
			return rc;
		}
	}
	log_error("store: quarantine: too many copies of %s", d->str);
	return -ERR_INTERNAL;
}

/* Parse blobs/<alg>/<2 hex>/<hex> back into a digest. */
static int
store_path_digest(const char *alg, const char *sub, const char *name, struct digest *d)
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
store_each_file(const char *path, const char *name, const struct digest *d, store_each_fn fn,
    void *arg)
{
	struct store_file f;
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : store_fail("lstat", path);
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
store_walk(const char *dir, int depth, const char **names, int level, store_each_fn fn, void *arg)
{
	struct dirent *e;
	DIR *dp;
	int rc = 0;

	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : store_fail("opendir", dir);
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
			rc = store_walk(path, depth, names, level + 1, fn, arg);
			continue;
		}
		if (depth == 2 && level == 2 && store_path_digest(names[0], names[1], names[2], &d) == 0)
			rc = store_each_file(path, e->d_name, &d, fn, arg);
		else
			rc = store_each_file(path, e->d_name, NULL, fn, arg);
	}
	if (rc == 0 && errno != 0)
		rc = store_fail("readdir", dir);
	closedir(dp);
	return rc;
}

int
store_each(struct store *s, enum store_area area, store_each_fn fn, void *arg)
{
	static const char *const areas[] = {"blobs", "uploads", "trash"};
	const char *names[3] = {"", "", ""};
	char dir[PATH_MAX + 32];

	snprintf(dir, sizeof(dir), "%s/%s", s->root, areas[area]);
	return store_walk(dir, area == STORE_BLOBS ? 2 : 0, names, 0, fn, arg);
}

int
store_free_bytes(struct store *s, uint64_t *avail, uint64_t *size)
{
	struct statvfs v;

	if (statvfs(s->root, &v) != 0)
		return store_fail("statvfs", s->root);
	/* f_bavail, not f_bfree: what the daemon (not root) may still write. */
	*avail = (uint64_t)v.f_bavail * v.f_frsize;
	*size = (uint64_t)v.f_blocks * v.f_frsize;
	return 0;
}
