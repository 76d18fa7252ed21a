/* SPDX-License-Identifier: ISC
 * upload.c — blob uploads (distribution-spec end-4a/b, end-5, end-6, end-11,
 * end-13 and the upload status GET): sessions, chunks (with Content-Range or
 * as one chunked-transfer stream, which is what docker sends), monolithic
 * POST, the closing PUT, cancel, and cross-repository mount.
 *
 * Bytes go from the socket to the spool file and through an incremental
 * hash in one pass.  Session state lives in SQLite (repository, size) and on
 * disk (the spool), so a session survives a restart and any worker can
 * serve any request of it.  The process keeps the hash state in memory
 * keyed by session and offset (upload_live); if a request arrives where
 * that state is missing (after a restart, on another node) it comes from
 * what the store saved with the bytes (store_spool_checkpoint: the S3
 * backend, whose parts cannot be read back), else the spool is re-read
 * once to rebuild it.  That state goes with its session: when the
 * session completes, is cancelled or found gone, and when it has been idle
 * past [storage] upload_expiry (the expiry thread, which also removes such
 * sessions' rows and spools even with [gc] interval = 0).
 *
 * A session hashes with the algorithm the client named at POST
 * (?digest-algorithm=, distribution-spec end-4c; kept in the session row so
 * a restart re-hashes the spool the same way), sha256 if it named none.  A
 * session that named one takes only a closing digest of that algorithm; one
 * that named none may close with another (the spool is then read again).
 *
 * Open sessions are capped per client address and per authenticated user
 * ([limits] max_sessions_per_client / max_sessions_per_user), counted from
 * the session rows, so the cap holds across restarts and workers.
 *
 * Ordering (nothing acknowledged is lost, nothing unverified is visible):
 * chunk bytes are written, then the session size is updated; only then 202.
 * The size is flushed with them where the store made them durable (an
 * object store's parts); a local spool is fsynced only at PUT, and its size
 * is written but not flushed (meta_upload_set_size: a killed process loses
 * nothing, a power loss may take the session back to an earlier size).
 * At PUT the digest is compared, the spool is fsynced and renamed into the
 * blob store, and only then the blob row is written and the session dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "gc.h"
#include "handlers.h"
#include "log.h"
#include "meta.h"
#include "pool.h"
#include "range.h"
#include "server.h"
#include "store.h"
#include "upload.h"
#include "worker.h"

/* ---- live hash state, shared by the worker threads ---- */

/* A status request waiting for a session's size to settle. */
struct upload_waiter {
	struct request *req;
	struct upload_waiter *next;
};

struct upload_live {
	char id[REFERENCE_UUID_LEN + 1];
	struct hasher *h;
	uint64_t offset;		/* bytes the hasher has seen */
	int busy;			/* a request is writing this session */
	/* A request whose client left is still recording what it wrote
	 * (an object store's last part and state): the session's size is
	 * not known until it releases the session; status requests wait. */
	int settling;
	struct upload_waiter *waiters;
	int64_t touched;		/* last claim or release (unix seconds) */
	struct upload_live *next;
};

static pthread_mutex_t upload_mu = PTHREAD_MUTEX_INITIALIZER;
static struct upload_live *upload_lives;
static size_t upload_nlives;

size_t
upload_live_count(void)
{
	size_t n;

	pthread_mutex_lock(&upload_mu);
	n = upload_nlives;
	pthread_mutex_unlock(&upload_mu);
	return n;
}

static void
upload_nop(void *arg)
{
	(void)arg;
}

static void
upload_status_wake(void *arg)
{
	upload_status(arg);
}

/* Status requests that waited for a session (taken out of its entry
 * under upload_mu): each asks again on its own worker's loop, which the
 * pool's done callback reaches from any thread. */
static void
upload_wake_waiters(struct upload_waiter *w)
{
	while (w != NULL) {
		struct upload_waiter *next = w->next;	/* w is in the request's arena */
		struct request *req = w->req;

		if (pool_submit(req->w->pool, req->w->base, upload_nop, upload_status_wake, req) != 0)
			log_warn("upload: cannot wake a status request (stopping?)");
		w = next;
	}
}

/* Drop the hash state of a session that is gone (no row), unless a
 * request holds it: that request releases it itself. */
static void
upload_forget(const char *id)
{
	struct upload_live **pp, *l;

	pthread_mutex_lock(&upload_mu);
	for (pp = &upload_lives; (l = *pp) != NULL; pp = &l->next)
		if (strcmp(l->id, id) == 0)
			break;
	if (l != NULL && !l->busy) {
		*pp = l->next;
		upload_nlives--;
		hasher_free(l->h);
		free(l);
	}
	pthread_mutex_unlock(&upload_mu);
}

/* Take the session for writing.  *h is the cached hasher if it matches
 * `size`, else NULL.  -ERR_RANGE_INVALID if another request holds it. */
static int
upload_claim(const char *id, uint64_t size, struct hasher **h)
{
	struct upload_live *l;
	int rc = 0;

	*h = NULL;
	pthread_mutex_lock(&upload_mu);
	for (l = upload_lives; l != NULL; l = l->next)
		if (strcmp(l->id, id) == 0)
			break;
	if (l == NULL) {
		if ((l = calloc(1, sizeof(*l))) == NULL) {
			rc = -ERR_INTERNAL;
			goto out;
		}
		memcpy(l->id, id, sizeof(l->id));
		l->next = upload_lives;
		upload_lives = l;
		upload_nlives++;
	} else if (l->busy) {
		rc = -ERR_RANGE_INVALID;
		goto out;
	}
	l->busy = 1;
	l->touched = (int64_t)time(NULL);
	if (l->h != NULL && l->offset == size)
		*h = l->h;
	else
		hasher_free(l->h);
	l->h = NULL;
out:
	pthread_mutex_unlock(&upload_mu);
	return rc;
}

/* Give the session back with the hasher that has seen `offset` bytes (or
 * NULL to forget it); gone != 0 removes the session entirely. */
static void
upload_release(const char *id, struct hasher *h, uint64_t offset, int gone)
{
	struct upload_live **pp, *l;
	struct upload_waiter *waiters = NULL;

	pthread_mutex_lock(&upload_mu);
	for (pp = &upload_lives; (l = *pp) != NULL; pp = &l->next)
		if (strcmp(l->id, id) == 0)
			break;
	if (l != NULL) {
		waiters = l->waiters;
		l->waiters = NULL;
		l->settling = 0;
	}
	if (l != NULL && gone) {
		*pp = l->next;
		upload_nlives--;
		hasher_free(l->h);
		free(l);
		l = NULL;
	} else if (l != NULL) {
		/* h == NULL forgets the hash state: the next request
		 * rebuilds it from the spool. */
		hasher_free(l->h);
		l->h = h;
		l->offset = offset;
		l->busy = 0;
		l->touched = (int64_t)time(NULL);
		h = NULL;
	}
	pthread_mutex_unlock(&upload_mu);
	hasher_free(h);
	upload_wake_waiters(waiters);
}

/* The session's writer lost its client and records its bytes in the
 * background: status requests wait for it (upload_status). */
static void
upload_settling(const char *id)
{
	struct upload_live *l;

	pthread_mutex_lock(&upload_mu);
	for (l = upload_lives; l != NULL; l = l->next)
		if (strcmp(l->id, id) == 0) {
			l->settling = 1;
			break;
		}
	pthread_mutex_unlock(&upload_mu);
}

/* 1 if req now waits for session id to settle (deferred; answered again
 * through upload_status_wake), else 0. */
static int
upload_wait_settled(struct request *req, const char *id)
{
	struct upload_waiter *w;
	struct upload_live *l;
	int waiting = 0;

	if ((w = arena_alloc(req->arena, sizeof(*w))) == NULL)
		return 0;
	pthread_mutex_lock(&upload_mu);
	for (l = upload_lives; l != NULL; l = l->next)
		if (strcmp(l->id, id) == 0)
			break;
	if (l != NULL && l->settling) {
		w->req = req;
		w->next = l->waiters;
		l->waiters = w;
		waiting = 1;
	}
	pthread_mutex_unlock(&upload_mu);
	if (waiting)
		req_defer(req);
	return waiting;
}

/* ---- limits on concurrent uploads ([limits] max_uploads and
 * max_uploads_per_client): requests that are receiving a body ---- */

#define UPLOAD_CLIENT_SLOTS 4096

static int upload_active;
static struct {
	char ip[64];
	int n;
} upload_clients[UPLOAD_CLIENT_SLOTS];

/* The client's address without the port ("[v6]" kept bracketed). */
static size_t
upload_client_ip(const char *peer, char *ip, size_t cap)
{
	const char *colon = strrchr(peer, ':');
	size_t n = colon != NULL ? (size_t)(colon - peer) : strlen(peer);

	if (n >= cap)
		n = cap - 1;
	memcpy(ip, peer, n);
	ip[n] = '\0';
	return n;
}

static unsigned
upload_client_slot(const char *peer, char *ip, size_t cap)
{
	size_t n = upload_client_ip(peer, ip, cap);
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)ip[i]) * 16777619u;
	return h % UPLOAD_CLIENT_SLOTS;
}

/* 0, or -ERR_TOOMANYREQUESTS.  A slot whose hash another address holds is
 * shared: the limit then errs on the strict side for both. */
int
upload_slot_take(struct request *req)
{
	const struct config *cfg = req->cfg;
	char ip[64];
	unsigned k = upload_client_slot(req->peer ? req->peer : "-", ip, sizeof(ip));
	int rc = 0;

	pthread_mutex_lock(&upload_mu);
	if (upload_clients[k].n > 0 && strcmp(upload_clients[k].ip, ip) != 0 &&
	    upload_clients[k].n >= cfg->max_uploads_per_client)
		rc = -ERR_TOOMANYREQUESTS;
	else if (upload_active >= cfg->max_uploads ||
	    (strcmp(upload_clients[k].ip, ip) == 0 && upload_clients[k].n >= cfg->max_uploads_per_client))
		rc = -ERR_TOOMANYREQUESTS;
	if (rc == 0) {
		if (upload_clients[k].n == 0)
			snprintf(upload_clients[k].ip, sizeof(upload_clients[k].ip), "%s", ip);
		upload_clients[k].n++;
		upload_active++;
	}
	pthread_mutex_unlock(&upload_mu);
	if (rc != 0)
		log_warn("upload limit reached for %s (%d in all)", ip, upload_active);
	return rc;
}

void
upload_slot_put(struct request *req)
{
	char ip[64];
	unsigned k = upload_client_slot(req->peer ? req->peer : "-", ip, sizeof(ip));

	pthread_mutex_lock(&upload_mu);
	if (upload_clients[k].n > 0)
		upload_clients[k].n--;
	if (upload_active > 0)
		upload_active--;
	pthread_mutex_unlock(&upload_mu);
}

/* ---- the state of one request that writes to a session ---- */

struct upload_ctx {
	char id[REFERENCE_UUID_LEN + 1];
	struct store_spool *sp;		/* the spool being appended to */
	struct hasher *h;
	uint64_t start;			/* session size before this request */
	uint64_t written;		/* bytes of this request written */
	uint64_t expect;		/* Content-Range length, or UINT64_MAX */
	int failed;			/* an error was answered mid-body */
	int finish;			/* PUT: commit at the end */
	int monolithic;			/* POST ?digest=: no session row survives */
	int kept;			/* the store made this chunk durable (its
					 * checkpoint): so must the size be */
	struct digest want;		/* PUT / monolithic: the digest to match */
	struct request *req;		/* for the pool's done callback */
	int slot;			/* holds an upload slot */
	enum digest_alg alg;		/* what the session hashes with */
	int opening;			/* the store loads the session's state */
	int abandoned;			/* ... and the client went meanwhile */
	int ended;			/* answered before the body: done */
	int deferred;			/* answered from a store callback */
	int rc;				/* the pool job's outcome */
	struct meta *m;			/* the writer job's connection */
};

void
handler_write(struct request *req, struct meta **m, void (*work)(void *), void (*done)(void *),
    void *arg)
{
	req_defer(req);
	if (req->w->writer != NULL) {
		*m = req->w->wmeta;
		if (pool_submit(req->w->writer, req->w->base, work, done, arg) == 0)
			return;
	}
	/* No writer to take it: here, on the loop's own connection. */
	*m = req->w->meta;
	work(arg);
	done(arg);
}

/* A spool removed on the shared pool (upload_remove_bg). */
struct upload_drop {
	struct store *s;
	char id[REFERENCE_UUID_LEN + 1];
};

static void
upload_drop_work(void *arg)
{
	struct upload_drop *d = arg;

	/* A failure is logged by the store; what is left, gc's sweep of
	 * uploads/ takes once it is older than [gc] upload_expiry. */
	(void)store_upload_remove(d->s, d->id);
	free(d);
}

static void
upload_drop_done(void *arg)
{
	/* Nothing: the work freed the job already (at shutdown pool_free
	 * still runs queued work but may drop this callback). */
	(void)arg;
}

void
upload_remove_bg(struct worker *w, const char *id)
{
	struct upload_drop *d;

	/* A local spool goes with one unlink: at once. */
	if (store_stat_cheap(w->store) || strlen(id) >= sizeof(d->id) ||
	    (d = calloc(1, sizeof(*d))) == NULL) {
		(void)store_upload_remove(w->store, id);
		return;
	}
	d->s = w->store;
	memcpy(d->id, id, strlen(id) + 1);
	if (w->pool == NULL ||
	    pool_submit(w->pool, w->base, upload_drop_work, upload_drop_done, d) != 0) {
		free(d);
		(void)store_upload_remove(w->store, id);
	}
}

static void
upload_location(struct request *req, const char *id, uint64_t size)
{
	req_add_header(req, "Location", "/v2/%s/blobs/uploads/%s", req->m.name, id);
	req_add_header(req, "Docker-Upload-UUID", "%s", id);
	req_add_header(req, "Range", "0-%llu", (unsigned long long)(size > 0 ? size - 1 : 0));
}

/* Hash what the spool already holds (state lost to a restart). */
static int
upload_rehash(struct request *req, const char *id, uint64_t size, struct hasher *h)
{
	static const size_t bufsize = 1 << 20;
	struct store_reader r;
	char *buf;
	uint64_t off = 0;
	size_t n;
	int rc;

	if ((rc = store_upload_reader(req->w->store, id, &r)) != 0)
		return rc;
	if ((buf = malloc(bufsize)) == NULL) {
		store_reader_close(&r);
		return -ERR_INTERNAL;
	}
	while (off < size) {
		size_t want = size - off < bufsize ? (size_t)(size - off) : bufsize;

		if ((rc = store_reader_read(&r, off, buf, want, &n)) != 0 || n == 0) {
			log_error("upload %s: re-reading spool at %llu: %s", id,
			    (unsigned long long)off, rc != 0 ? errors_message((enum reg_error)-rc) :
			    "short file");
			rc = -ERR_BLOB_UPLOAD_INVALID;
			break;
		}
		hasher_update(h, buf, n);
		off += (uint64_t)n;
	}
	free(buf);
	store_reader_close(&r);
	return rc;
}

static int
upload_body(struct request *req, const char *data, size_t len)
{
	struct upload_ctx *u = req->ctx;
	const struct config *cfg = req->cfg;
	int rc;

	if (cfg->max_blob_size > 0 && u->start + u->written + len > (uint64_t)cfg->max_blob_size) {
		u->failed = 1;
		return -ERR_TOO_LARGE;
	}
	if (u->expect != UINT64_MAX && u->written + len > u->expect) {
		u->failed = 1;
		return -ERR_SIZE_INVALID;
	}
	/* Hashed first: bytes received in the spool's window belong to the
	 * spool once written (a backend may send or move them). */
	hasher_update(u->h, data, len);
	if ((rc = store_spool_write(u->sp, data, len)) == STORE_SPOOL_FULL) {
		/* Taken, but the store's parts in flight are at their bound:
		 * read nothing more until one ends (upload_wake). */
		req_body_pause(req);
	} else if (rc != 0) {
		u->failed = 1;
		return rc;
	}
	u->written += len;
	return 0;
}

static void
upload_wake(void *arg)
{
	req_body_resume(arg);
}

static char *
upload_body_buf(struct request *req, size_t *cap)
{
	struct upload_ctx *u = req->ctx;

	return u->sp != NULL ? store_spool_window(u->sp, cap) : NULL;
}

static void upload_done(struct request *req);

/* Stream the request's body into u's spool (received in place if it can). */
static void
upload_stream(struct request *req, struct upload_ctx *u)
{
	req_stream_body(req, upload_body, upload_done, u);
	req_stream_body_buffer(req, upload_body_buf);
}

static void
upload_ctx_close(struct upload_ctx *u)
{
	store_spool_close(u->sp);
	u->sp = NULL;
}

/* Check the finished session against u->want (hashing again if the client
 * chose another algorithm than the chunks were hashed with). */
static int
upload_verify(struct request *req, struct upload_ctx *u, uint64_t size)
{
	struct digest got;
	int rc;

	if (hasher_alg(u->h) != u->want.alg) {
		/* Chunks were hashed as sha256; the client asked for another
		 * algorithm at PUT.  Rare: hash the spool again. */
		hasher_free(u->h);
		if ((u->h = hasher_new(u->want.alg)) == NULL)
			return -ERR_INTERNAL;
		if ((rc = upload_rehash(req, u->id, size, u->h)) != 0)
			return rc;
	}
	if (hasher_final(u->h, &got) != 0)
		return -ERR_INTERNAL;
	if (strcmp(got.str, u->want.str) != 0) {
		log_info("upload %s: digest mismatch: client said %s, content is %s", u->id,
		    u->want.str, got.str);
		return -ERR_DIGEST_INVALID;
	}
	return 0;
}

/* The end of a PUT or monolithic POST whose blob is settled (rc 0) or
 * failed: drop the session, answer. */
static void
upload_finish_end(struct request *req, struct upload_ctx *u, int rc)
{
	int gone = 0;

	if (rc == 0 || rc == -ERR_DIGEST_INVALID || rc == -ERR_BLOB_UPLOAD_UNKNOWN ||
	    u->monolithic) {
		/* Done or hopeless (the bytes can never match, or the session
		 * expired under us): drop the session so nothing unverified
		 * lingers. */
		if (rc != 0) {
			upload_remove_bg(req->w, u->id);
			meta_upload_delete(req->w->meta, u->id);
		}
		gone = 1;
	}
	hasher_free(u->h);
	u->h = NULL;
	upload_release(u->id, NULL, 0, gone);
	if (rc != 0) {
		req_error(req, (enum reg_error)-rc, rc == -ERR_DIGEST_INVALID ? u->want.str : NULL);
		return;
	}
	req_add_header(req, "Location", "/v2/%s/blobs/%s", req->m.name, u->want.str);
	req_add_header(req, "Docker-Content-Digest", "%s", u->want.str);
	req_respond(req, 201, NULL, NULL, 0);
}

/* The settle after the row (an object store: a HEAD or two and the
 * session's objects removed, a round trip each) runs on the pool, as the
 * commit does. */
static void
upload_settle_work(void *arg)
{
	struct upload_ctx *u = arg;

	u->rc = store_upload_settle(u->req->w->store, u->id, &u->want);
}

static void
upload_settle_done(void *arg)
{
	struct upload_ctx *u = arg;

	upload_finish_end(u->req, u, u->rc);
}

/* The blob's rows: the session's row goes, the blob and its link come. */
static void
upload_finish_work(void *arg)
{
	struct upload_ctx *u = arg;

	u->rc = meta_upload_finish(u->m, u->id, u->req->m.name, u->want.str,
	    u->start + u->written);
}

static void upload_finish_row(struct request *req, struct upload_ctx *u, int rc);

static void
upload_finish_done(void *arg)
{
	struct upload_ctx *u = arg;

	upload_finish_row(u->req, u, u->rc);
}

/* End of a PUT or monolithic POST, with rc the outcome so far: the rows on
 * the writer, then the settle on the pool. */
static void
upload_finish(struct request *req, struct upload_ctx *u, int rc)
{
	if (rc != 0) {
		upload_finish_end(req, u, rc);
		return;
	}
	u->req = req;
	handler_write(req, &u->m, upload_finish_work, upload_finish_done, u);
}

static void
upload_finish_row(struct request *req, struct upload_ctx *u, int rc)
{
	if (rc == 0) {
		u->req = req;
		req_defer(req);
		if (pool_submit(req->w->pool, req->w->base, upload_settle_work, upload_settle_done,
		    u) == 0)
			return;
		/* No thread to spare: do it here. */
		rc = store_upload_settle(req->w->store, u->id, &u->want);
	}
	upload_finish_end(req, u, rc);
}

/* The fsync and rename of a verified spool run on the pool: a 1 GiB fsync
 * takes most of a second and would stall every connection of this worker. */
static void
upload_commit_work(void *arg)
{
	struct upload_ctx *u = arg;

	u->rc = store_upload_commit_size(u->req->w->store, u->id, &u->want, u->start + u->written);
}

static void
upload_commit_done(void *arg)
{
	struct upload_ctx *u = arg;

	upload_finish(u->req, u, u->rc);
}

/* Blobs up to this size are committed, recorded and settled in one job on
 * the worker's writer; larger ones commit on the pool (a long fsync there
 * holds up no other push's rows), then record on the writer. */
#define UPLOAD_ONE_JOB_MAX (4 << 20)

static void
upload_whole_work(void *arg)
{
	struct upload_ctx *u = arg;

	upload_commit_work(u);
	if (u->rc == 0)
		upload_finish_work(u);
	if (u->rc == 0)
		upload_settle_work(u);
}

static void
upload_whole_done(void *arg)
{
	struct upload_ctx *u = arg;

	upload_finish_end(u->req, u, u->rc);
}

static void upload_flushed(struct request *req, int flush_rc);

static void
upload_flush_done(void *arg, int rc)
{
	struct request *req = arg;

	upload_flushed(req, rc);
}

static void
upload_done(struct request *req)
{
	struct upload_ctx *u = req->ctx;
	int rc, flush_rc = 0;

	if (u->ended)
		return;
	if (u->opening) {
		/* Gone before the spool opened: upload_open_ready ends it. */
		u->abandoned = 1;
		u->deferred = 1;
		req_defer(req);
		return;
	}

	/* Where the session's size will be recorded (a PATCH, a cut-off PUT),
	 * the hash state goes with the bytes for whoever resumes it. */
	if (u->sp != NULL && !u->failed && !u->monolithic && (!u->finish || req->aborted)) {
		if ((rc = store_spool_checkpoint(u->sp, u->h)) == 0) {
			u->kept = 1;
		} else if (rc != -ERR_UNSUPPORTED) {
			flush_rc = rc;
			u->failed = 1;
		}
	}
	if (u->sp != NULL && !u->failed) {
		/* An object store's last parts and state go on the loop: the
		 * answer waits for them, this worker's other requests not. */
		if ((flush_rc = store_spool_flush_start(u->sp, upload_flush_done, req)) ==
		    STORE_PENDING) {
			u->deferred = 1;
			req_defer(req);
			/* Nobody waits for this answer; someone may ask the
			 * session's size before it is known. */
			if (req->aborted)
				upload_settling(u->id);
			return;
		}
	}
	upload_flushed(req, flush_rc);
}

/* A PATCH's chunk is in: record the session's new size (on the writer). */
static void
upload_size_work(void *arg)
{
	struct upload_ctx *u = arg;

	u->rc = meta_upload_set_size(u->m, u->id, u->start + u->written, u->kept);
}

static void
upload_size_done(void *arg)
{
	struct upload_ctx *u = arg;
	struct request *req = u->req;
	uint64_t size = u->start + u->written;

	if (u->rc != 0) {
		hasher_free(u->h);
		u->h = NULL;
		/* The row went (expired while the chunk arrived): its spool
		 * and hash state go too. */
		if (u->rc == -ERR_BLOB_UPLOAD_UNKNOWN)
			upload_remove_bg(req->w, u->id);
		upload_release(u->id, NULL, 0, u->rc == -ERR_BLOB_UPLOAD_UNKNOWN);
		req_error(req, (enum reg_error)-u->rc, NULL);
		return;
	}
	upload_release(u->id, u->h, size, 0);
	u->h = NULL;
	upload_location(req, u->id, size);
	req_respond(req, 202, NULL, NULL, 0);
}

/* A request's body ended (or the connection did) and what it staged was
 * flushed with flush_rc: record the session's size, answer or commit. */
static void
upload_flushed(struct request *req, int flush_rc)
{
	struct upload_ctx *u = req->ctx;
	uint64_t size = u->start + u->written;
	int rc;

	if (flush_rc != 0)
		u->failed = 1;	/* the staged bytes did not make it (disk full) */
	/* A closing PUT whose client left while its bytes were being
	 * flushed: no checkpoint was taken (upload_done saw a whole body), so
	 * where the store resumes only from checkpoints the bytes past the
	 * session's size cannot be kept: back to it, as for a refused chunk. */
	if (req->aborted && u->finish && !u->monolithic && !u->kept && !u->failed &&
	    store_keeps_checkpoints(req->w->store))
		u->failed = 1;
	if (u->sp != NULL && !u->monolithic && (u->failed ||
	    (u->expect != UINT64_MAX && u->written != u->expect && !req->aborted))) {
		/* A chunk we refused must not keep its bytes (a full disk stays
		 * full otherwise): back to the size the session records. */
		store_spool_truncate(u->sp, u->start);
	}
	upload_ctx_close(u);
	if (u->slot) {
		upload_slot_put(req);
		u->slot = 0;
	}
	if (req->aborted || u->failed) {
		/* Keep what was written and hashed: the client can ask where
		 * the session stands and resume from there. */
		if (!u->failed && !u->monolithic && meta_upload_set_size(req->w->meta, u->id, size, u->kept) == 0) {
			upload_release(u->id, u->h, size, 0);
		} else if (u->monolithic) {
			upload_remove_bg(req->w, u->id);
			meta_upload_delete(req->w->meta, u->id);
			upload_release(u->id, u->h, 0, 1);
		} else {
			/* The spool may hold bytes past the recorded size;
			 * they are cut off at the next write. */
			hasher_free(u->h);
			upload_release(u->id, NULL, 0, 0);
		}
		u->h = NULL;
		/* A failed body was answered when it failed; a failed flush
		 * is answered here, and so is a deferred request whose client
		 * left (which only frees it). */
		if ((flush_rc != 0 && !req->aborted) || (req->aborted && u->deferred))
			req_error(req, flush_rc != 0 ? (enum reg_error)-flush_rc :
			    ERR_BLOB_UPLOAD_INVALID, NULL);
		return;
	}
	if (u->expect != UINT64_MAX && u->written != u->expect) {
		hasher_free(u->h);
		upload_release(u->id, NULL, 0, 0);
		u->h = NULL;
		req_error(req, ERR_SIZE_INVALID, "body shorter than Content-Range");
		return;
	}
	if (!u->finish) {
		/* The session keeps its claim until the size is committed. */
		u->req = req;
		handler_write(req, &u->m, upload_size_work, upload_size_done, u);
		return;
	}
	if ((rc = upload_verify(req, u, size)) != 0) {
		upload_finish(req, u, rc);
		return;
	}
	u->req = req;
	if (size <= UPLOAD_ONE_JOB_MAX) {
		/* A small blob: the commit, the rows and the settle in one job
		 * on the writer.  Each job is a round trip between threads
		 * (~0.1 ms here): a small image's pushes are mostly that. */
		handler_write(req, &u->m, upload_whole_work, upload_whole_done, u);
		return;
	}
	req_defer(req);
	if (pool_submit(req->w->pool, req->w->base, upload_commit_work, upload_commit_done, u) != 0) {
		/* No thread to spare: do it here. */
		upload_commit_work(u);
		upload_commit_done(u);
	}
}

/* Undo upload_begin_write: the hasher, the claim, the slot, the spool. */
static void
upload_unbegin(struct request *req, struct upload_ctx *u)
{
	hasher_free(u->h);
	u->h = NULL;
	upload_ctx_close(u);
	upload_release(u->id, NULL, 0, 0);
	if (u->slot) {
		upload_slot_put(req);
		u->slot = 0;
	}
}

/* The spool is open (rc 0) or could not be: make sure the hasher has seen
 * exactly the session's bytes, then the spool takes the body.  0, or the
 * error (everything undone). */
static int
upload_opened(struct request *req, struct upload_ctx *u, int rc)
{
	if (rc != 0)
		goto fail;
	if (u->h != NULL && hasher_alg(u->h) != u->alg) {
		hasher_free(u->h);
		u->h = NULL;
	}
	if (u->h == NULL && u->start > 0) {
		/* The state saved with the bytes (an object store keeps it:
		 * its parts cannot be read back; the spool loaded it), else
		 * read the spool again. */
		rc = store_spool_hash(u->sp, &u->h);
		if (rc == 0 && hasher_alg(u->h) != u->alg) {
			hasher_free(u->h);
			u->h = NULL;
		} else if (rc != 0 && rc != -ERR_UNSUPPORTED) {
			goto fail;
		}
	}
	if (u->h == NULL) {
		if ((u->h = hasher_new(u->alg)) == NULL) {
			rc = -ERR_INTERNAL;
			goto fail;
		}
		if (u->start > 0 && (rc = upload_rehash(req, u->id, u->start, u->h)) != 0)
			goto fail;
	}
	store_spool_attach(u->sp, req->w->base, upload_wake, req);
	/* The whole blob, its digest known (and hashed that way). */
	if (u->finish && u->start == 0 && u->want.alg == u->alg)
		store_spool_target(u->sp, &u->want);
	return 0;
fail:
	upload_unbegin(req, u);
	return rc;
}

/* Answer a request whose write could not begin. */
static void
upload_refuse(struct request *req, struct upload_ctx *u, int rc)
{
	if (u->monolithic) {
		/* Its session was made for this request alone. */
		upload_remove_bg(req->w, u->id);
		meta_upload_delete(req->w->meta, u->id);
	}
	if (rc == -ERR_RANGE_INVALID)
		upload_location(req, u->id, u->start);
	req_error(req, (enum reg_error)-rc, NULL);
}

/* An object store loaded the session's state for the spool: go on, or
 * answer the error (the body, paused so far, is then dropped). */
static void
upload_open_ready(void *arg, int rc)
{
	struct request *req = arg;
	struct upload_ctx *u = req->ctx;

	u->opening = 0;
	if (u->abandoned) {
		/* The client went while the state loaded (upload_done ran):
		 * nothing was written; answering frees the request. */
		upload_unbegin(req, u);
		if (u->monolithic) {
			upload_remove_bg(req->w, u->id);
			meta_upload_delete(req->w->meta, u->id);
		}
		req_error(req, ERR_BLOB_UPLOAD_INVALID, NULL);
		return;
	}
	if ((rc = upload_opened(req, u, rc)) != 0) {
		u->ended = 1;		/* upload_done has nothing left to do */
		upload_refuse(req, u, rc);
		return;
	}
	req_body_resume(req);
}

/* Begin writing to session id at `size` for this request: claim it, open
 * the spool, make sure the hasher has seen exactly `size` bytes; then
 * stream the body into it.  0 (the answer comes at the body's end, or
 * from upload_open_ready when the store loads the session's state first:
 * the body waits meanwhile), or an error for the caller to answer with
 * upload_refuse. */
static int
upload_begin_write(struct request *req, struct upload_ctx *u, const char *id, uint64_t size,
    enum digest_alg alg)
{
	int rc;

	memcpy(u->id, id, sizeof(u->id));
	u->sp = NULL;
	u->start = size;
	u->alg = alg;
	u->expect = UINT64_MAX;
	if ((rc = upload_slot_take(req)) != 0)
		return rc;
	u->slot = 1;
	if ((rc = upload_claim(id, size, &u->h)) != 0) {
		upload_slot_put(req);
		u->slot = 0;
		return rc;
	}
	req->ctx = u;
	rc = store_spool_open_start(req->w->store, req->w->base, id, size,
	    req->has_length && !req->chunked ? req->content_length : UINT64_MAX,
	    upload_open_ready, req, &u->sp);
	if (rc == STORE_PENDING) {
		u->opening = 1;
		req_body_pause(req);
	} else if ((rc = upload_opened(req, u, rc)) != 0) {
		return rc;
	}
	upload_stream(req, u);
	return 0;
}

/* Look a session up and check it belongs to this repository.  *named is
 * set if the session was opened with a digest algorithm (then *alg is it),
 * else *alg is sha256; both may be NULL. */
static int
upload_lookup(struct request *req, uint64_t *size, enum digest_alg *alg, int *named)
{
	char repo[REFERENCE_NAME_MAX + 1], name[META_UPLOAD_ALG_MAX + 1];
	enum digest_alg a = DIGEST_SHA256;
	int rc;

	if ((rc = meta_upload_get_alg(req->w->meta, req->m.ref, repo, size, name)) != 0) {
		/* Expired or collected meanwhile: no hash state outlives its
		 * row. */
		if (rc == -ERR_BLOB_UPLOAD_UNKNOWN)
			upload_forget(req->m.ref);
		return rc;
	}
	if (strcmp(repo, req->m.name) != 0)
		return -ERR_BLOB_UPLOAD_UNKNOWN;
	if (name[0] != '\0' && digest_alg_parse(name, &a) != 0) {
		/* Only upload_start writes the column, from the same list. */
		log_error("upload %s: session row names unknown digest algorithm '%s'", req->m.ref,
		    name);
		return -ERR_INTERNAL;
	}
	if (alg != NULL)
		*alg = a;
	if (named != NULL)
		*named = name[0] != '\0';
	return 0;
}

/* Shared by PATCH and PUT: check Content-Range, start streaming. */
static void
upload_write_request(struct request *req, int finish)
{
	struct upload_ctx *u;
	const char *cr;
	uint64_t size, a, b;
	enum digest_alg alg;
	int named, rc;

	if ((rc = upload_lookup(req, &size, &alg, &named)) != 0) {
		req_error(req, (enum reg_error)-rc, req->m.ref);
		return;
	}
	if ((u = arena_alloc(req->arena, sizeof(*u))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	u->finish = finish;
	if (finish) {
		char want[DIGEST_STR_MAX + 8];

		if (req_query(req, "digest", want, sizeof(want)) != 1 ||
		    digest_parse(want, &u->want) != 0) {
			req_error(req, ERR_DIGEST_INVALID, "missing or malformed digest parameter");
			return;
		}
		/* The client said which algorithm the blob is addressed by
		 * and the chunks were hashed that way; another one at the
		 * end is a client error.  The session stays as it was: the
		 * right digest can still close it. */
		if (named && u->want.alg != alg) {
			char why[64];

			snprintf(why, sizeof(why), "this session was opened for %s digests",
			    digest_alg_name(alg));
			req_error(req, ERR_DIGEST_INVALID, why);
			return;
		}
	}
	if ((cr = req_header(req, "Content-Range")) != NULL) {
		if (range_parse_content(cr, &a, &b) != 0 || a != size) {
			upload_location(req, req->m.ref, size);
			req_error(req, ERR_RANGE_INVALID, cr);
			return;
		}
		if (req->has_length && req->content_length != b - a + 1) {
			req_error(req, ERR_SIZE_INVALID, "Content-Length does not match Content-Range");
			return;
		}
	}
	if ((rc = upload_begin_write(req, u, req->m.ref, size, alg)) != 0) {
		upload_refuse(req, u, rc);
		return;
	}
	if (cr != NULL)
		u->expect = b - a + 1;
}

void
upload_patch(struct request *req)
{
	upload_write_request(req, 0);
}

void
upload_put(struct request *req)
{
	upload_write_request(req, 1);
}

void
upload_status(struct request *req)
{
	uint64_t size;
	int rc;

	/* A write whose client left may still add to the size: answer what
	 * it will be, not what it was. */
	if (upload_wait_settled(req, req->m.ref))
		return;
	if ((rc = upload_lookup(req, &size, NULL, NULL)) != 0) {
		req_error(req, (enum reg_error)-rc, req->m.ref);
		return;
	}
	upload_location(req, req->m.ref, size);
	req_respond(req, 204, NULL, NULL, 0);
}

void
upload_cancel(struct request *req)
{
	uint64_t size;
	struct hasher *h;
	int rc;

	if ((rc = upload_lookup(req, &size, NULL, NULL)) != 0) {
		req_error(req, (enum reg_error)-rc, req->m.ref);
		return;
	}
	if ((rc = upload_claim(req->m.ref, size, &h)) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	if ((rc = meta_upload_delete(req->w->meta, req->m.ref)) == 0)
		upload_remove_bg(req->w, req->m.ref);
	upload_release(req->m.ref, h, 0, 1);
	if (rc != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	req_respond(req, 204, NULL, NULL, 0);
}

/* Link blob d, found in src with its size checked against the store, into
 * the request's repository: 1 if answered (mounted, or an error), 0 to fall
 * back to a session (the source lost it meanwhile). */
static int
upload_mount_link(struct request *req, const struct digest *d, const char *src)
{
	int rc;

	/* The link is made only if the source still holds the blob, in the
	 * same transaction: a collection cannot slip in between. */
	if ((rc = meta_blob_mount(req->w->meta, src, req->m.name, d->str)) != 0) {
		if (rc == -ERR_BLOB_UNKNOWN)
			return 0;
		req_error(req, (enum reg_error)-rc, NULL);
		return 1;
	}
	req_add_header(req, "Location", "/v2/%s/blobs/%s", req->m.name, d->str);
	req_add_header(req, "Docker-Content-Digest", "%s", d->str);
	req_respond(req, 201, NULL, NULL, 0);
	return 1;
}

/* What a POST that may mount carries on to a session with, once the
 * mount was given up: its digest-algorithm parameter, as checked. */
struct upload_post {
	struct request *req;
	char algname[META_UPLOAD_ALG_MAX + 1];
	enum digest_alg alg;
	int has_alg;
	/* a mount waiting on the store's stat (an object store's HEAD) */
	struct digest d;
	char src[REFERENCE_NAME_MAX + 1];
	uint64_t size;
};

static void upload_start_session(struct upload_post *p);

static void
upload_mount_stated(void *arg, int rc, uint64_t fsize)
{
	struct upload_post *p = arg;
	struct request *req = p->req;

	if (req->aborted) {
		/* The client went: no session is opened for nobody. */
		req_error(req, ERR_BLOB_UPLOAD_INVALID, NULL);
		return;
	}
	if (rc == 0 && fsize == p->size && upload_mount_link(req, &p->d, p->src))
		return;
	upload_start_session(p);
}

/* Try a mount: 1 if mounted (answered), 0 to fall back to a session, or
 * STORE_PENDING: the store's stat runs on the loop and
 * upload_mount_stated goes on from there (the request deferred). */
static int
upload_try_mount(struct request *req, struct upload_post *p, const struct digest *d,
    const char *from)
{
	char src[REFERENCE_NAME_MAX + 1], dig[DIGEST_STR_MAX + 8];
	uint64_t size, fsize;
	int rc;

	if (from != NULL) {
		/* Never reveal a blob the caller could not pull. */
		if (!reference_name_valid(from) ||
		    !(auth_request_actions(req->w->auth, req, from) & TOKEN_PULL))
			return 0;
		memcpy(src, from, strlen(from) + 1);	/* valid: <= NAME_MAX */
		if (meta_blob_get(req->w->meta, src, d->str, &size) != 0)
			return 0;
	} else if (!req->cfg->auto_mount) {
		/* [storage] auto_mount = false: only an explicit source
		 * mounts; the spec lets a registry answer 202 instead. */
		return 0;
	} else if (memcpy(src, req->m.name, strlen(req->m.name) + 1),
	    meta_blob_get(req->w->meta, req->m.name, d->str, &size) != 0) {
		/* No `from` (spec 1.1 automatic content discovery): a
		 * repository that holds it -- with access control, only
		 * when no permissions stand in the way (XXX: we try one
		 * candidate repository, not every one the caller can pull). */
		if (meta_blob_find_repo(req->w->meta, d->str, req->m.name, src) != 0 ||
		    !(auth_request_actions(req->w->auth, req, src) & TOKEN_PULL) ||
		    meta_blob_get(req->w->meta, src, d->str, &size) != 0)
			return 0;
	}
	/* The stat waits on the loop only for a plain mount's POST: without
	 * a body, nor a digest (a monolithic push, were the mount given up,
	 * reads its body, which must then not have been passed over). */
	if (!req->chunked && (!req->has_length || req->content_length == 0) &&
	    req_query(req, "digest", dig, sizeof(dig)) == 0) {
		p->d = *d;
		memcpy(p->src, src, sizeof(p->src));
		p->size = size;
		rc = store_blob_stat_start(req->w->store, req->w->base, d, &fsize,
		    upload_mount_stated, p);
		if (rc == STORE_PENDING) {
			req_defer(req);
			return STORE_PENDING;
		}
	} else {
		rc = store_blob_stat(req->w->store, d, &fsize);
	}
	if (rc != 0 || fsize != size)
		return 0;
	return upload_mount_link(req, d, src);
}

/* A session being opened by a POST: its spool and row are made on the writer. */
struct upload_open {
	struct request *req;
	struct meta *m;
	char id[REFERENCE_UUID_LEN + 1];
	char client[64];
	char algname[META_UPLOAD_ALG_MAX + 1];
	struct digest d;		/* monolithic: the digest to match */
	int monolithic;
	int rc;
};

static void
upload_open_work(void *arg)
{
	struct upload_open *o = arg;
	struct request *req = o->req;

	/* The store's part first (an object store: the session's first
	 * state, a round trip), here too. */
	if ((o->rc = store_upload_create(req->w->store, o->id)) == 0)
		o->rc = meta_upload_open(o->m, o->id, req->m.name, o->client,
		    req->user ? req->user : "", o->algname, req->cfg->max_sessions_per_client,
		    req->cfg->max_sessions_per_user);
	if (o->rc != 0)
		store_upload_remove(req->w->store, o->id);
}

static void
upload_open_done(void *arg)
{
	struct upload_open *o = arg;
	struct request *req = o->req;
	struct upload_ctx *u = NULL;
	int rc = o->rc;

	if (rc != 0) {
		if (rc == -ERR_TOOMANYREQUESTS) {
			log_warn("upload: %s (user %s) holds too many open upload sessions", o->client,
			    req->user ? req->user : "-");
			req_error(req, ERR_TOOMANYREQUESTS, "too many open upload sessions; finish or "
			    "cancel one first");
			return;
		}
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	if (!o->monolithic) {
		upload_location(req, o->id, 0);
		req_add_header(req, "OCI-Chunk-Min-Length", "%lld", req->cfg->chunk_min_length);
		req_respond(req, 202, NULL, NULL, 0);
		return;
	}
	/* The session was made for this request alone: gone with it. */
	if (req->aborted || (u = arena_alloc(req->arena, sizeof(*u))) == NULL) {
		upload_remove_bg(req->w, o->id);
		meta_upload_delete(req->w->meta, o->id);
		req_error(req, req->aborted ? ERR_BLOB_UPLOAD_INVALID : ERR_INTERNAL, NULL);
		return;
	}
	u->finish = 1;
	u->monolithic = 1;
	u->want = o->d;
	u->deferred = 1;	/* the request is: a client that leaves frees it */
	if ((rc = upload_begin_write(req, u, o->id, 0, o->d.alg)) != 0) {
		upload_refuse(req, u, rc);
		return;
	}
	if (!u->opening)
		req_body_resume(req);
}

/* The POST opens a session (monolithic with a digest and a body). */
static void
upload_start_session(struct upload_post *p)
{
	struct request *req = p->req;
	char dig[DIGEST_STR_MAX + 8];
	struct digest d = {0};
	struct upload_open *o;
	int has_digest;

	has_digest = req_query(req, "digest", dig, sizeof(dig));
	if (has_digest < 0 || (has_digest == 1 && digest_parse(dig, &d) != 0)) {
		req_error(req, ERR_DIGEST_INVALID, "malformed digest parameter");
		return;
	}
	if (has_digest == 1 && p->has_alg == 1 && d.alg != p->alg) {
		req_error(req, ERR_DIGEST_INVALID, "digest and digest-algorithm disagree");
		return;
	}
	if ((o = arena_alloc(req->arena, sizeof(*o))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	o->req = req;
	reference_uuid_new(o->id);
	upload_client_ip(req->peer ? req->peer : "-", o->client, sizeof(o->client));
	memcpy(o->algname, p->algname, sizeof(o->algname));
	o->d = d;
	/* Monolithic: the whole blob is this request's body, read once the
	 * session's row is in. */
	o->monolithic = has_digest == 1 && (req->has_length || req->chunked);
	if (o->monolithic)
		req_body_pause(req);
	handler_write(req, &o->m, upload_open_work, upload_open_done, o);
}

void
upload_start(struct request *req)
{
	char mount[DIGEST_STR_MAX + 8], from[REFERENCE_NAME_MAX + 8];
	struct upload_post *p;
	struct digest d = {0};
	int has_from;

	if ((p = arena_alloc(req->arena, sizeof(*p))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	p->req = req;
	p->alg = DIGEST_SHA256;
	/* Checked before anything is mounted or opened: a refused POST
	 * leaves nothing behind.  A name too long for the buffer is no
	 * algorithm we know either. */
	p->has_alg = req_query(req, "digest-algorithm", p->algname, sizeof(p->algname));
	if (p->has_alg < 0 || (p->has_alg == 1 && digest_alg_parse(p->algname, &p->alg) != 0)) {
		req_error(req, ERR_DIGEST_INVALID, "unsupported digest-algorithm (sha256 or sha512)");
		return;
	}
	if (p->has_alg != 1)
		p->algname[0] = '\0';
	if (req_query(req, "mount", mount, sizeof(mount)) == 1) {
		if (digest_parse(mount, &d) != 0) {
			req_error(req, ERR_DIGEST_INVALID, "malformed mount digest");
			return;
		}
		has_from = req_query(req, "from", from, sizeof(from));
		/* A malformed `from` mounts nothing: a plain session follows. */
		if (has_from >= 0 && upload_try_mount(req, p, &d, has_from == 1 ? from : NULL) != 0)
			return;
	}
	upload_start_session(p);
}

/* ---- expiry of idle sessions ---- */

int
upload_expire(const struct config *cfg, struct meta *m, struct store *s, int64_t now)
{
	struct upload_live **pp, *l, *dead = NULL;
	char (*busy)[REFERENCE_UUID_LEN + 1] = NULL;
	size_t nbusy = 0, cap = 0, ndead = 0;
	struct gc_stats st;
	int rc;

	/* Under the lock only memory work: take the idle hash states out
	 * (a session idle this long is expired below, and if its row
	 * survives after all the next request rebuilds the state from the
	 * spool) and note the sessions a request is writing to. */
	pthread_mutex_lock(&upload_mu);
	for (l = upload_lives; l != NULL; l = l->next)
		if (l->busy)
			cap++;
	if (cap > 0 && (busy = calloc(cap, sizeof(*busy))) == NULL)
		cap = 0;
	for (pp = &upload_lives; (l = *pp) != NULL;) {
		if (l->busy) {
			if (nbusy < cap)
				memcpy(busy[nbusy++], l->id, sizeof(busy[0]));
			pp = &l->next;
		} else if (l->touched <= now - cfg->upload_expiry) {
			*pp = l->next;
			upload_nlives--;
			l->next = dead;
			dead = l;
			ndead++;
		} else {
			pp = &l->next;
		}
	}
	pthread_mutex_unlock(&upload_mu);
	while ((l = dead) != NULL) {
		dead = l->next;
		hasher_free(l->h);
		free(l);
	}
	/* A PATCH streaming for longer than upload_expiry updates its row
	 * only at its end: mark it used now so the sweep spares it.  (One
	 * that begins after this pass had already been idle past the
	 * expiry when it arrived; it finds its row gone at the end and
	 * answers 404.) */
	for (size_t i = 0; i < nbusy; i++)
		meta_upload_touch(m, busy[i]);
	free(busy);
	if ((rc = gc_expire_uploads(cfg, m, s, now, &st)) != 0) {
		log_error("upload: expiring idle sessions: %s", errors_message((enum reg_error)-rc));
		return rc;
	}
	if (st.uploads > 0 || ndead > 0)
		log_info("upload: expired %llu idle upload session%s or spool%s; %zu hash state%s "
		    "dropped, %zu kept", (unsigned long long)st.uploads, st.uploads == 1 ? "" : "s",
		    st.uploads == 1 ? "" : "s", ndead, ndead == 1 ? "" : "s", upload_live_count());
	return 0;
}

struct upload_sweeper {
	const struct config *cfg;
	struct store *store;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;			/* under mu */
};

/* Every min(upload_expiry / 4, 10 min), at least every second: a session
 * lives at most about 1.25 times its expiry. */
static int
upload_sweep_period(const struct config *cfg)
{
	int p = cfg->upload_expiry / 4;

	if (p > 600)
		p = 600;
	return p < 1 ? 1 : p;
}

static void *
upload_sweeper_main(void *arg)
{
	struct upload_sweeper *u = arg;
	struct meta *m = NULL;
	int period = upload_sweep_period(u->cfg);

	pthread_mutex_lock(&u->mu);
	for (;;) {
		struct timespec deadline;

		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += period;
		while (!u->stop && pthread_cond_timedwait(&u->cv, &u->mu, &deadline) != ETIMEDOUT)
			;
		if (u->stop)
			break;
		pthread_mutex_unlock(&u->mu);
		if (m == NULL && (m = meta_open(u->cfg)) == NULL)
			log_error("upload: cannot open the metadata to expire sessions; trying again "
			    "in %d s", period);
		if (m != NULL)
			upload_expire(u->cfg, m, u->store, (int64_t)time(NULL));
		pthread_mutex_lock(&u->mu);
	}
	pthread_mutex_unlock(&u->mu);
	meta_close(m);
	return NULL;
}

struct upload_sweeper *
upload_sweeper_start(const struct config *cfg, struct store *s, int *failed)
{
	struct upload_sweeper *u;
	pthread_condattr_t ca;

	*failed = 0;
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		*failed = 1;
		return NULL;
	}
	u->cfg = cfg;
	u->store = s;
	pthread_mutex_init(&u->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&u->thread, NULL, upload_sweeper_main, u) != 0) {
		log_error("upload: cannot start the session expiry thread: %s", strerror(errno));
		pthread_cond_destroy(&u->cv);
		pthread_mutex_destroy(&u->mu);
		free(u);
		*failed = 1;
		return NULL;
	}
	log_debug("upload: expiring sessions idle for %d s, checking every %d s", cfg->upload_expiry,
	    upload_sweep_period(cfg));
	return u;
}

void
upload_sweeper_stop(struct upload_sweeper *u)
{
	if (u == NULL)
		return;
	pthread_mutex_lock(&u->mu);
	u->stop = 1;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	pthread_join(u->thread, NULL);
	pthread_cond_destroy(&u->cv);
	pthread_mutex_destroy(&u->mu);
	free(u);
}
