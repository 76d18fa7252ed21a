/* SPDX-License-Identifier: ISC
 * proxy.c — the pull-through cache (issue 6): [proxy "NAME"] sections put
 * an upstream registry behind /v2/<prefix>/..., behind containerd's
 * ?ns=<host>, or (the one `mirror` section) behind every repository that is
 * not local, as docker's registry-mirrors and containerd's hosts.toml
 * address a mirror.
 *
 * What is fetched enters the normal metadata under the name the client used,
 * marked as cached, so catalog, gc and fsck see it.  Manifests by digest are
 * fetched once, verified and kept; manifests by tag are revalidated with a
 * HEAD (which Docker Hub does not count as a pull) once tag_ttl has passed,
 * fetched again only when the digest changed, and served stale when the
 * upstream is down.  A missing blob is written to a spool file and hashed
 * while it arrives, and each client is sent the spool's new bytes as they
 * land (all but the last byte, which goes out only once the digest
 * matched: a client of bad bytes sees a short body).  Concurrent requests
 * for the same content share one upstream transfer (struct proxy_fetch in a
 * process-wide table); a client leaving does not stop it.  Upstream
 * authentication is Docker's token protocol (distribution
 * docs/spec/auth/token.md: anonymous or with Basic credentials, tokens
 * cached per section and scope until they expire) or plain Basic.
 *
 * This file is the cache's logic: the shared fetches and their waiters,
 * the handlers, and the router's hooks.  The [proxy] sections are
 * proxy_conf.c's, the upstream HTTP client (and libcurl) upstream.c's;
 * each worker's client hangs off its struct worker.  Like the other
 * handlers it does SQLite and small disk writes on the worker thread; the
 * fsync and rename of a fetched blob run on the pool.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "handlers.h"
#include "log.h"
#include "meta.h"
#include "metrics.h"
#include "oci.h"
#include "pool.h"
#include "proxy.h"
#include "range.h"
#include "server.h"
#include "store.h"
#include "upstream.h"
#include "worker.h"

#define PROXY_LIST_BODY_MAX (4u << 20)	/* tags list, referrers index */
#define PROXY_TAGS_MAX 100000		/* tags merged into one listing */
#define PROXY_TAGS_PAGE_MAX 10000L	/* as tags.c */
#define PROXY_KEY_MAX (2 + REFERENCE_NAME_MAX + 1 + DIGEST_STR_MAX + 1)
#define PROXY_STREAM_HIGH (4u << 20)	/* queued to one client at most */
#define PROXY_SLICE (1u << 20)

/* Each worker's proxy state (w->proxy), made on its first proxy request. */
struct proxy_worker {
	struct upstream *up;		/* its upstream client, made on first use */
	struct proxy_conf *conf;	/* a reference: the sections of the config it last
					 * served a proxy request under */
};

static pthread_mutex_t proxy_mu = PTHREAD_MUTEX_INITIALIZER;	/* fetches, waiters */

/* w's proxy state, made on first use (on w's own thread); NULL out of
 * memory. */
static struct proxy_worker *
proxy_worker_get(struct worker *w)
{
	if (w->proxy == NULL)
		w->proxy = calloc(1, sizeof(*w->proxy));
	return w->proxy;
}

/* ------------------------------------------------------------ configuration */

int
proxy_config_check(const struct config *cfg, char *err, size_t cap)
{
	struct proxy_conf *pc;

	char why[256];
	size_t n;

	if (proxy_conf_parse(cfg, &pc, err, cap) != 0)
		return -1;
	n = pc->n;
	proxy_conf_free(pc);
	/* Without libcurl a [proxy] section cannot work: say so at start. */
	if (n > 0 && upstream_load(why, sizeof(why)) != 0) {
		snprintf(err, cap, "%s: [proxy] sections need libcurl: %s", cfg->path, why);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ upstream requests */

/* A new upstream request on w's client (made on first use, on w's own
 * thread); see upstream_xfer_new.  NULL on failure. */
static struct upstream_xfer *
proxy_xfer_for(struct worker *w, struct proxy_section *sec, const char *repo, const char *what,
    const char *ref, const char *query)
{
	struct proxy_worker *pw;

	if ((pw = proxy_worker_get(w)) == NULL)
		return NULL;
	if (pw->up == NULL && (pw->up = upstream_new(w->base)) == NULL)
		return NULL;
	return upstream_xfer_new(pw->up, sec, repo, what, ref, query);
}

/* ------------------------------------------------------------ shared fetches */

enum proxy_state { PF_RUNNING = 0, PF_OK, PF_FAIL };

struct proxy_waiter;

/* One upstream fetch of a manifest or blob that every request for it
 * waits on.  Fields under "shared" are read and written under proxy_mu;
 * the rest belong to the owner (the worker that started it). */
struct proxy_fetch {
	char key[PROXY_KEY_MAX];
	int blob;
	/* shared */
	int refs;			/* the owner's, and one per waiter */
	enum proxy_state state;
	enum reg_error err;
	char detail[300];
	int headers_ok, has_total;
	uint64_t total, have;		/* blob: announced size, bytes in the spool */
	int rfd;			/* blob: the spool, read side (-1 none) */
	struct proxy_waiter *waiters;
	struct proxy_fetch *next;	/* proxy_fetches while running */
	/* the owner's */
	struct worker *w;
	/* the first request's config: what the fetch needs of it (the
	 * config may go with that request), and its sections (held) */
	long long max_manifest_size, max_blob_size, cache_max_size;
	struct proxy_conf *conf;
	struct proxy_section *sec;
	char upstream[REFERENCE_NAME_MAX + 1];
	char local[REFERENCE_NAME_MAX + 1];
	char ref[DIGEST_STR_MAX > REFERENCE_TAG_MAX + 1 ? DIGEST_STR_MAX : REFERENCE_TAG_MAX + 1];
	int ref_is_digest;
	struct digest want;		/* blob, or manifest by digest */
	int have_local;			/* manifest by tag: a cached copy exists */
	char local_digest[DIGEST_STR_MAX];
	char expect[DIGEST_STR_MAX];	/* the digest a HEAD announced */
	char upload_id[REFERENCE_UUID_LEN + 1];
	int wfd;
	struct hasher *h;
	int too_big;
	int commit_rc;
};

/* A request waiting on a fetch, on its own worker. */
struct proxy_waiter {
	struct proxy_fetch *f;
	struct request *req;
	struct worker *w;
	int want;			/* wake me when bytes arrive */
	int wakes;			/* callbacks scheduled, not run yet */
	int dead;			/* finished; the last callback frees it */
	int begun, range;
	uint64_t sent;
	char local[REFERENCE_NAME_MAX + 1];
	struct proxy_waiter *next;	/* the fetch's waiters */
	struct proxy_waiter *all_next, *all_prev;	/* proxy_waiters, until freed */
};

static struct proxy_fetch *proxy_fetches;
static struct proxy_waiter *proxy_waiters;

static void
proxy_waiter_free_locked(struct proxy_waiter *wt)
{
	if (wt->all_prev != NULL)
		wt->all_prev->all_next = wt->all_next;
	else
		proxy_waiters = wt->all_next;
	if (wt->all_next != NULL)
		wt->all_next->all_prev = wt->all_prev;
	free(wt);
}

static void proxy_waiter_step(struct proxy_waiter *wt);

static void
proxy_waiter_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_waiter *wt = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&proxy_mu);
	wt->wakes--;
	if (wt->dead) {
		if (wt->wakes == 0)
			proxy_waiter_free_locked(wt);
		pthread_mutex_unlock(&proxy_mu);
		return;
	}
	pthread_mutex_unlock(&proxy_mu);
	proxy_waiter_step(wt);
}

/* Wake one waiter on its worker's loop (proxy_mu held).  Scheduling under
 * the lock is safe: libevent runs callbacks without its base lock held. */
static void
proxy_wake_locked(struct proxy_waiter *wt)
{
	struct timeval now = {0, 0};

	wt->want = 0;
	if (event_base_once(wt->w->base, -1, EV_TIMEOUT, proxy_waiter_cb, wt, &now) == 0)
		wt->wakes++;
	else
		log_error("proxy: cannot wake a waiting request");
}

static void
proxy_wake_all_locked(struct proxy_fetch *f, int only_wanting)
{
	for (struct proxy_waiter *wt = f->waiters; wt != NULL; wt = wt->next)
		if (!only_wanting || wt->want)
			proxy_wake_locked(wt);
}

static void
proxy_fetch_free(struct proxy_fetch *f)
{
	if (f->rfd >= 0)
		close(f->rfd);
	if (f->wfd >= 0)
		close(f->wfd);
	hasher_free(f->h);
	proxy_conf_unref(f->conf);
	free(f);
}

static void
proxy_fetch_unref_locked(struct proxy_fetch *f, struct proxy_fetch **gone)
{
	if (--f->refs == 0)
		*gone = f;
}

/* The fetch is over: record the outcome, take it out of the table (later
 * requests find the metadata instead), wake everyone, drop the owner's
 * reference.  Waiters on other workers may free f at once: the owner must
 * not touch it afterwards. */
static void
proxy_fetch_finish(struct proxy_fetch *f, enum proxy_state state, enum reg_error err,
    const char *detail)
{
	struct proxy_fetch **pp, *gone = NULL;

	pthread_mutex_lock(&proxy_mu);
	f->state = state;
	f->err = err;
	snprintf(f->detail, sizeof(f->detail), "%s", detail != NULL ? detail : "");
	for (pp = &proxy_fetches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	proxy_wake_all_locked(f, 0);
	proxy_fetch_unref_locked(f, &gone);
	pthread_mutex_unlock(&proxy_mu);
	if (gone != NULL)
		proxy_fetch_free(gone);
}

/* Join the fetch for key, creating it if none runs (*created = 1: the
 * caller owns it and must start it).  The request is deferred and answered
 * by the waiter.  NULL on allocation failure (nothing done). */
static struct proxy_waiter *
proxy_join(struct request *req, const char *key, int blob, const char *local, int *created)
{
	struct proxy_waiter *wt;
	struct proxy_fetch *f;

	*created = 0;
	if ((wt = calloc(1, sizeof(*wt))) == NULL)
		return NULL;
	wt->req = req;
	wt->w = req->w;
	snprintf(wt->local, sizeof(wt->local), "%s", local);
	wt->range = req->method == METHOD_GET && req_header(req, "Range") != NULL;
	pthread_mutex_lock(&proxy_mu);
	for (f = proxy_fetches; f != NULL; f = f->next)
		if (strcmp(f->key, key) == 0)
			break;
	if (f == NULL) {
		if ((f = calloc(1, sizeof(*f))) == NULL) {
			pthread_mutex_unlock(&proxy_mu);
			free(wt);
			return NULL;
		}
		snprintf(f->key, sizeof(f->key), "%s", key);
		f->blob = blob;
		f->refs = 1;
		f->rfd = f->wfd = -1;
		f->w = req->w;
		f->max_manifest_size = req->cfg->max_manifest_size;
		f->max_blob_size = req->cfg->max_blob_size;
		f->cache_max_size = req->cfg->cache_max_size;
		f->next = proxy_fetches;
		proxy_fetches = f;
		*created = 1;
	}
	f->refs++;
	wt->f = f;
	wt->next = f->waiters;
	f->waiters = wt;
	wt->all_next = proxy_waiters;
	if (proxy_waiters != NULL)
		proxy_waiters->all_prev = wt;
	proxy_waiters = wt;
	/* A first look on the next loop turn: the fetch may be past its
	 * headers already. */
	proxy_wake_locked(wt);
	pthread_mutex_unlock(&proxy_mu);
	req->ctx = wt;
	req_defer(req);
	return wt;
}

/* The waiter is done with its request: leave the fetch. */
static void
proxy_waiter_done(struct proxy_waiter *wt)
{
	struct proxy_fetch *f = wt->f, *gone = NULL;
	struct proxy_waiter **pp;

	pthread_mutex_lock(&proxy_mu);
	for (pp = &f->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == wt) {
			*pp = wt->next;
			break;
		}
	}
	proxy_fetch_unref_locked(f, &gone);
	if (wt->wakes > 0)
		wt->dead = 1;
	else
		proxy_waiter_free_locked(wt);
	pthread_mutex_unlock(&proxy_mu);
	if (gone != NULL)
		proxy_fetch_free(gone);
}

/* ------------------------------------------------------------ serving from the cache */

/* Serve through the local handlers.  The router resolved req->m.name to
 * the stored name before authorizing it; it is never renamed here. */
static void
proxy_serve_local(struct request *req)
{
	if (req->m.kind == ROUTE_MANIFEST)
		manifest_get(req);
	else
		blob_get(req);
}

static void
proxy_waiter_drain(struct request *req)
{
	proxy_waiter_step(req->ctx);
}

/* Advance a waiting request: answer it when the fetch is over, or (blobs)
 * send what has arrived.  Runs on the waiter's worker. */
static void
proxy_waiter_step(struct proxy_waiter *wt)
{
	struct proxy_fetch *f = wt->f;
	struct request *req = wt->req;
	enum proxy_state state;
	enum reg_error err;
	char detail[300], local[REFERENCE_NAME_MAX + 1];
	uint64_t total, have, limit;
	int headers_ok, has_total, rfd;

again:
	pthread_mutex_lock(&proxy_mu);
	state = f->state;
	err = f->err;
	memcpy(detail, f->detail, sizeof(detail));
	headers_ok = f->headers_ok;
	has_total = f->has_total;
	total = f->total;
	have = f->have;
	rfd = f->rfd;
	pthread_mutex_unlock(&proxy_mu);
	memcpy(local, wt->local, sizeof(local));

	if (state == PF_FAIL) {
		proxy_waiter_done(wt);
		if (req->streaming)
			req_stream_end(req, 0);	/* part of the body is out: close */
		else
			req_error(req, err, detail[0] != '\0' ? detail : NULL);
		return;
	}
	if (!wt->begun) {
		if (state == PF_OK) {
			proxy_waiter_done(wt);
			proxy_serve_local(req);
			return;
		}
		/* Still running: a manifest, a Range request or a blob of
		 * unknown length waits for the end; others start streaming
		 * once the upstream announced the length. */
		if (!f->blob || wt->range || !headers_ok || !has_total)
			return;
		if (req->conn == NULL) {
			/* The client left before anything was sent. */
			proxy_waiter_done(wt);
			req_stream_end(req, 0);
			return;
		}
		req_add_header(req, "Docker-Content-Digest", "%s", req->m.digest.str);
		req_add_header(req, "Etag", "\"%s\"", req->m.digest.str);
		wt->begun = 1;
		if (req->method == METHOD_HEAD) {
			proxy_waiter_done(wt);
			req_stream_begin(req, 200, "application/octet-stream", total);	/* ends it */
			return;
		}
		req_stream_begin(req, 200, "application/octet-stream", total);
		req_stream_on_drain(req, proxy_waiter_drain);
	}
	/* The last byte waits for the digest check: a client of bad bytes
	 * then sees a short body, never a complete wrong one. */
	limit = state == PF_OK ? total : (have < total ? have : (total > 0 ? total - 1 : 0));
	while (wt->sent < limit && req_stream_pending(req) < PROXY_STREAM_HIGH) {
		uint64_t n = limit - wt->sent < PROXY_SLICE ? limit - wt->sent : PROXY_SLICE;

		if (req_stream_file(req, rfd, wt->sent, n) != 0) {
			proxy_waiter_done(wt);
			req_stream_end(req, 0);	/* the client is gone */
			return;
		}
		wt->sent += n;
	}
	if (state == PF_OK && wt->sent == total) {
		proxy_waiter_done(wt);
		req_stream_end(req, 1);
		return;
	}
	if (wt->sent < limit)
		return;		/* the drain callback continues */
	/* Caught up: ask to be woken by the next bytes, unless they came
	 * while we were sending. */
	pthread_mutex_lock(&proxy_mu);
	if (f->state == state && f->have == have) {
		wt->want = 1;
		pthread_mutex_unlock(&proxy_mu);
		return;
	}
	pthread_mutex_unlock(&proxy_mu);
	goto again;
}

/* ------------------------------------------------------------ eviction */

/* One eviction at a time in the process: set when one is started, cleared
 * when it ends. */
static int proxy_evicting;

/* Keep cached content under [cache] max_size (max): drop the least recently
 * pulled cached blobs and manifests that nothing local holds, with the
 * metadata connection m (the thread's own). */
static void
proxy_evict_with(struct worker *w, struct meta *m, long long max)
{
	char dg[META_PROXY_DIGEST_MAX];
	uint64_t bytes, size;
	unsigned evicted = 0;

	if (meta_proxy_cached_bytes(m, &bytes) != 0)
		goto out;
	for (int i = 0; bytes > (uint64_t)max && i < 100000; i++) {
		struct digest d;
		int exists = 1;

		if (meta_proxy_evict_next(m, dg, &size) != 0)
			break;
		if (meta_proxy_evict(m, dg) != 0) {
			if (meta_proxy_cached_bytes(m, &bytes) != 0)
				break;
			continue;
		}
		/* Rows first, then the file.  XXX a fetch of the same digest
		 * that commits between the two loses its file (as with gc);
		 * the check below narrows that window, fsck repairs it. */
		if (digest_parse(dg, &d) == 0 && meta_gc_blob_exists(m, dg, &exists) == 0 &&
		    !exists)
			store_blob_delete(w->store, &d);
		bytes = bytes > size ? bytes - size : 0;
		evicted++;
		log_info("proxy: evicted %s (%llu bytes) from the cache", dg, (unsigned long long)size);
	}
	if (evicted > 0)
		log_info("proxy: cache at %llu bytes (max_size %lld) after evicting %u item%s",
		    (unsigned long long)bytes, max, evicted, evicted == 1 ? "" : "s");
out:
	__atomic_store_n(&proxy_evicting, 0, __ATOMIC_RELEASE);
}

/* An eviction on the worker's writer. */
struct proxy_evict_job {
	struct worker *w;
	long long max;
};

static void
proxy_evict_work(void *arg)
{
	struct proxy_evict_job *j = arg;

	proxy_evict_with(j->w, j->w->wmeta, j->max);
	free(j);
}

static void
proxy_evict_done(void *arg)
{
	/* Nothing: the work freed the job (at shutdown pool_free still runs
	 * queued work but may drop this callback). */
	(void)arg;
}

/* Evict down to max, off the loop where the worker has a writer: a cache
 * far over max_size (lowered by a reload, or one large fetch) drops up to
 * 100,000 items, each a commit and a file's unlink (an object store's
 * DELETE), and the worker's other requests go on meanwhile.  Inline, on the
 * loop's connection, without one. */
static void
proxy_evict(struct worker *w, long long max)
{
	struct proxy_evict_job *j;

	if (max <= 0 || __atomic_exchange_n(&proxy_evicting, 1, __ATOMIC_ACQUIRE))
		return;
	if (w->writer != NULL && (j = calloc(1, sizeof(*j))) != NULL) {
		j->w = w;
		j->max = max;
		if (pool_submit(w->writer, w->base, proxy_evict_work, proxy_evict_done, j) == 0)
			return;
		free(j);
	}
	proxy_evict_with(w, w->meta, max);
}

/* ------------------------------------------------------------ manifests */

/* Verify and store a manifest fetched for f (owner's thread): bytes, the
 * cached rows, the manifest with its references (not checked: blobs come
 * when they are pulled) and the tag.  0 or a negated error. */
static int
proxy_manifest_store(struct proxy_fetch *f, const char *body, size_t len, const char *ctype,
    char *detail, size_t cap)
{
	struct worker *w = f->w;
	struct oci_manifest om;
	struct meta_manifest mf;
	struct meta_ref *refs;
	struct digest got, expect;
	const char *tag = f->ref_is_digest ? NULL : f->ref;
	char why[512];
	int has_expect, rc;

	if (f->ref_is_digest) {
		expect = f->want;
		has_expect = 1;
	} else {
		has_expect = f->expect[0] != '\0' && digest_parse(f->expect, &expect) == 0;
	}
	if (digest_buffer(has_expect ? expect.alg : DIGEST_SHA256, body, len, &got) != 0)
		return -ERR_INTERNAL;
	if (has_expect && strcmp(got.str, expect.str) != 0) {
		snprintf(detail, cap, "upstream %s sent a manifest that does not match %s", f->sec->name,
		    expect.str);
		log_warn("proxy %s: %s/manifests/%s: content is %s, not %s; not cached", f->sec->name,
		    f->upstream, f->ref, got.str, expect.str);
		return -ERR_UNAVAILABLE;
	}
	if ((rc = oci_manifest_parse(body, len, ctype[0] != '\0' ? ctype : NULL, &om, why,
	    sizeof(why))) != 0) {
		snprintf(detail, cap, "upstream %.100s: %.250s", f->sec->name, why);
		log_warn("proxy %s: %s/manifests/%s: %s; not cached", f->sec->name, f->upstream, f->ref, why);
		return rc;
	}
	if ((rc = manifest_rows(&om, got.str, len, 1, &mf, &refs)) != 0) {
		oci_manifest_free(&om);
		return rc;
	}
	/* Bytes, then the cached rows (so the manifest's own link is
	 * cached before meta_manifest_put adds it), then the manifest and
	 * tag; the bytes again in case gc took them meanwhile. */
	if ((rc = store_blob_put(w->store, &got, body, len)) == 0 &&
	    (rc = meta_proxy_link(w->meta, f->local, f->sec->name, got.str, len)) == 0 &&
	    (rc = meta_manifest_put(w->meta, f->local, &mf, refs, om.nrefs, tag)) == 0 &&
	    (rc = store_blob_put(w->store, &got, body, len)) == 0 && tag != NULL)
		rc = meta_proxy_tag_set_checked(w->meta, f->local, tag, (int64_t)time(NULL));
	free(refs);
	oci_manifest_free(&om);
	if (rc == 0)
		log_info("proxy %s: cached %s/manifests/%s (%s) as %s", f->sec->name, f->upstream, f->ref,
		    got.str, f->local);
	return rc;
}

static void proxy_manifest_get_done(struct upstream_xfer *x);

static int
proxy_manifest_request(struct proxy_fetch *f, int head, const char *ref)
{
	struct upstream_xfer *x;

	if ((x = proxy_xfer_for(f->w, f->sec, f->upstream, "manifests", ref, NULL)) == NULL)
		return -1;
	x->head = head;
	x->accept = UPSTREAM_ACCEPT_MANIFESTS;
	x->max = (size_t)f->max_manifest_size;
	x->arg = f;
	x->done = proxy_manifest_get_done;
	upstream_xfer_run(x);
	return 0;
}

/* The upstream cannot confirm a cached tag: serve what we have. */
static void
proxy_manifest_stale(struct proxy_fetch *f, const char *why)
{
	meta_proxy_touch(f->w->meta, f->local_digest);
	log_warn("proxy %s: %s:%s: %s; serving the cached copy (stale)", f->sec->name, f->local, f->ref,
	    why);
	proxy_fetch_finish(f, PF_OK, ERR_NONE, NULL);
}

static void
proxy_manifest_head_done(struct upstream_xfer *x)
{
	struct proxy_fetch *f = x->arg;
	struct digest d;
	char why[600];

	if (x->ok && x->status == 200) {
		if (strcmp(x->dcd, f->local_digest) == 0) {
			/* Unchanged: confirmed without a pull. */
			meta_proxy_tag_set_checked(f->w->meta, f->local, f->ref, (int64_t)time(NULL));
			meta_proxy_touch(f->w->meta, f->local_digest);
			proxy_fetch_finish(f, PF_OK, ERR_NONE, NULL);
			return;
		}
		/* Moved (or no digest announced): fetch it, by digest if we
		 * know it, and check the bytes against it. */
		if (digest_parse(x->dcd, &d) == 0) {
			snprintf(f->expect, sizeof(f->expect), "%s", d.str);
			log_info("proxy %s: %s:%s moved upstream to %s", f->sec->name, f->local, f->ref, d.str);
		}
		if (proxy_manifest_request(f, 0, f->expect[0] != '\0' ? f->expect : f->ref) != 0)
			proxy_manifest_stale(f, "cannot start the upstream request");
		return;
	}
	if (x->ok && x->status == 404) {
		/* Gone upstream: keep serving the cached copy, but do not
		 * ask again before tag_ttl. */
		meta_proxy_tag_set_checked(f->w->meta, f->local, f->ref, (int64_t)time(NULL));
		proxy_manifest_stale(f, "the tag is not upstream (404)");
		return;
	}
	upstream_xfer_error(x, ERR_MANIFEST_UNKNOWN, why, sizeof(why));
	proxy_manifest_stale(f, why);
}

static void
proxy_manifest_get_done(struct upstream_xfer *x)
{
	struct proxy_fetch *f = x->arg;
	enum reg_error e;
	char detail[600];
	int rc;

	if (x->head) {
		proxy_manifest_head_done(x);
		return;
	}
	if (x->ok && x->status == 200 && !x->too_big) {
		rc = proxy_manifest_store(f, x->body != NULL ? x->body : "", x->len, x->ctype, detail,
		    sizeof(detail));
		if (rc == 0) {
			struct worker *w = f->w;
			long long max = f->cache_max_size;

			proxy_fetch_finish(f, PF_OK, ERR_NONE, NULL);	/* f may be gone */
			proxy_evict(w, max);
			return;
		}
		if (f->have_local) {
			proxy_manifest_stale(f, detail);
			return;
		}
		/* An invalid upstream manifest is the upstream's fault. */
		proxy_fetch_finish(f, PF_FAIL, rc == -ERR_NO_SPACE || rc == -ERR_INTERNAL ?
		    (enum reg_error)-rc : ERR_UNAVAILABLE, detail);
		return;
	}
	e = upstream_xfer_error(x, ERR_MANIFEST_UNKNOWN, detail, sizeof(detail));
	if (f->have_local) {
		proxy_manifest_stale(f, detail);
		return;
	}
	if (!x->ok || x->status != 404)
		log_warn("proxy %s: GET %s: %s", f->sec->name, x->url, detail);
	proxy_fetch_finish(f, PF_FAIL, e, detail);
}

static void
proxy_manifest(struct request *req, struct proxy_conf *conf, struct proxy_section *sec,
    const char *upstream, const char *local)
{
	struct proxy_waiter *wt;
	struct proxy_fetch *f;
	struct meta_manifest mf;
	char key[PROXY_KEY_MAX];
	int64_t checked = 0;
	int rc, created, have_local = 0;

	if (req->m.ref_is_digest) {
		rc = meta_manifest_get(req->w->meta, local, req->m.digest.str, &mf);
	} else {
		/* XXX with push = true a tag pushed here is revalidated too,
		 * and the upstream's tag of the same name replaces it. */
		rc = meta_tag_get(req->w->meta, local, req->m.ref, &mf);
		have_local = rc == 0;
		if (rc == 0 && meta_proxy_tag_checked(req->w->meta, local, req->m.ref, &checked) == 0 &&
		    (int64_t)time(NULL) - checked >= sec->tag_ttl)
			rc = -ERR_MANIFEST_UNKNOWN;	/* stale: ask upstream */
	}
	if (rc == 0) {
		__atomic_add_fetch(&req->w->metrics->proxy_hits, 1, __ATOMIC_RELAXED);
		meta_proxy_touch(req->w->meta, mf.digest);
		proxy_serve_local(req);
		return;
	}
	if (rc != -ERR_MANIFEST_UNKNOWN && rc != -ERR_NAME_UNKNOWN) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	__atomic_add_fetch(&req->w->metrics->proxy_misses, 1, __ATOMIC_RELAXED);
	snprintf(key, sizeof(key), "m %s %s", local, req->m.ref);
	if ((wt = proxy_join(req, key, 0, local, &created)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (!created)
		return;
	f = wt->f;
	f->conf = proxy_conf_ref(conf);
	f->sec = sec;
	snprintf(f->upstream, sizeof(f->upstream), "%s", upstream);
	snprintf(f->local, sizeof(f->local), "%s", local);
	snprintf(f->ref, sizeof(f->ref), "%s", req->m.ref);
	f->ref_is_digest = req->m.ref_is_digest;
	f->want = req->m.digest;
	if (have_local) {
		f->have_local = 1;
		snprintf(f->local_digest, sizeof(f->local_digest), "%.*s", (int)sizeof(f->local_digest) - 1,
		    mf.digest);
	}
	if (proxy_manifest_request(f, f->have_local, f->ref) != 0) {
		if (f->have_local)
			proxy_manifest_stale(f, "cannot start the upstream request");
		else
			proxy_fetch_finish(f, PF_FAIL, ERR_INTERNAL, "cannot start the upstream request");
	}
}

/* ------------------------------------------------------------ blobs */

/* Nothing of a failed blob fetch stays: no spool, no session row. */
static void
proxy_blob_fail(struct proxy_fetch *f, enum reg_error e, const char *detail)
{
	if (f->wfd >= 0) {
		close(f->wfd);
		f->wfd = -1;
	}
	if (f->upload_id[0] != '\0') {
		upload_remove_bg(f->w, f->upload_id);
		meta_upload_delete(f->w->meta, f->upload_id);
	}
	proxy_fetch_finish(f, PF_FAIL, e, detail);
}

static void
proxy_blob_headers(struct upstream_xfer *x)
{
	struct proxy_fetch *f = x->arg;
	long long max = f->max_blob_size;

	if (x->has_clen && max > 0 && x->clen > (uint64_t)max) {
		f->too_big = 1;	/* the sink refuses the body */
		return;
	}
	pthread_mutex_lock(&proxy_mu);
	f->headers_ok = 1;
	f->has_total = x->has_clen;
	f->total = x->clen;
	proxy_wake_all_locked(f, 0);
	pthread_mutex_unlock(&proxy_mu);
}

static int
proxy_blob_sink(struct upstream_xfer *x, const char *data, size_t len)
{
	struct proxy_fetch *f = x->arg;
	const char *p = data;
	size_t left = len;
	int over;

	if (f->too_big || f->wfd < 0)
		return -1;
	while (left > 0) {
		ssize_t n = write(f->wfd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("proxy %s: writing spool %s: %s", f->sec->name, f->upload_id, strerror(errno));
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	hasher_update(f->h, data, len);
	pthread_mutex_lock(&proxy_mu);
	f->have += len;
	over = f->has_total && f->have > f->total;
	proxy_wake_all_locked(f, 1);
	pthread_mutex_unlock(&proxy_mu);
	return over ? -1 : 0;
}

/* On the pool: fsync and rename the verified spool into the store. */
static void
proxy_blob_commit_work(void *arg)
{
	struct proxy_fetch *f = arg;

	f->commit_rc = store_upload_commit(f->w->store, f->upload_id, &f->want);
}

static void
proxy_blob_commit_done(void *arg)
{
	struct proxy_fetch *f = arg;
	struct worker *w = f->w;
	long long max = f->cache_max_size;
	int rc = f->commit_rc;

	if (rc == 0)
		rc = meta_proxy_blob_finish(w->meta, f->upload_id, f->local, f->sec->name, f->want.str,
		    f->have);
	if (rc == 0)
		rc = store_upload_settle(w->store, f->upload_id, &f->want);
	if (rc != 0) {
		proxy_blob_fail(f, (enum reg_error)-rc, "storing the fetched blob failed");
		return;
	}
	log_info("proxy %s: cached %s/blobs/%s (%llu bytes) as %s", f->sec->name, f->upstream,
	    f->want.str, (unsigned long long)f->have, f->local);
	proxy_fetch_finish(f, PF_OK, ERR_NONE, NULL);	/* f may be gone */
	proxy_evict(w, max);
}

static void
proxy_blob_done(struct upstream_xfer *x)
{
	struct proxy_fetch *f = x->arg;
	struct digest got;
	char detail[600];
	enum reg_error e;

	if (x->ok && x->status == 200 && !f->too_big &&
	    (!f->has_total || f->have == f->total)) {
		close(f->wfd);
		f->wfd = -1;
		if (hasher_final(f->h, &got) != 0) {
			proxy_blob_fail(f, ERR_INTERNAL, NULL);
			return;
		}
		if (strcmp(got.str, f->want.str) != 0) {
			log_warn("proxy %s: %s/blobs/%s: upstream sent %llu bytes hashing to %s; not cached",
			    f->sec->name, f->upstream, f->want.str, (unsigned long long)f->have, got.str);
			proxy_blob_fail(f, ERR_UNAVAILABLE, "the upstream sent content that does not match "
			    "the digest");
			return;
		}
		if (pool_submit(f->w->pool, f->w->base, proxy_blob_commit_work, proxy_blob_commit_done, f) != 0) {
			proxy_blob_commit_work(f);
			proxy_blob_commit_done(f);
		}
		return;
	}
	if (f->too_big) {
		proxy_blob_fail(f, ERR_TOO_LARGE, "the blob is larger than [limits] max_blob_size");
		return;
	}
	e = upstream_xfer_error(x, ERR_BLOB_UNKNOWN, detail, sizeof(detail));
	if (x->ok && x->status == 200)
		snprintf(detail, sizeof(detail), "upstream %s: %llu of %llu bytes, then the transfer ended",
		    x->sec->name, (unsigned long long)f->have, (unsigned long long)f->total);
	if (!x->ok || x->status != 404)
		log_warn("proxy %s: GET %s: %s; nothing cached", f->sec->name, x->url, detail);
	proxy_blob_fail(f, e, detail);
}

static void
proxy_blob_start(struct proxy_fetch *f)
{
	struct worker *w = f->w;
	struct upstream_xfer *x;
	int rc, rfd = -1;

	reference_uuid_new(f->upload_id);
	/* The spool is an upload session, so an interrupted fetch is
	 * expired like any abandoned upload. */
	if ((rc = store_upload_create(w->store, f->upload_id)) != 0 ||
	    (rc = meta_upload_create(w->meta, f->upload_id, f->local)) != 0 ||
	    (rc = store_upload_open(w->store, f->upload_id, 0, &f->wfd)) != 0 ||
	    (rc = store_upload_open_read(w->store, f->upload_id, &rfd)) != 0) {
		proxy_blob_fail(f, (enum reg_error)-rc, NULL);
		return;
	}
	/* rfd is shared: the fetch is published already, and waiters on
	 * other workers read it under proxy_mu (proxy_waiter_step). */
	pthread_mutex_lock(&proxy_mu);
	f->rfd = rfd;
	pthread_mutex_unlock(&proxy_mu);
	if ((f->h = hasher_new(f->want.alg)) == NULL ||
	    (x = proxy_xfer_for(w, f->sec, f->upstream, "blobs", f->want.str, NULL)) == NULL) {
		proxy_blob_fail(f, ERR_INTERNAL, "cannot start the upstream request");
		return;
	}
	x->sink = proxy_blob_sink;
	x->on_headers = proxy_blob_headers;
	x->done = proxy_blob_done;
	x->arg = f;
	upstream_xfer_run(x);
}

/* A blob this repository does not hold: fetched from the upstream (the
 * request joins the fetch). */
static void
proxy_blob_fetch(struct request *req, struct proxy_conf *conf, struct proxy_section *sec,
    const char *upstream, const char *local)
{
	struct proxy_waiter *wt;
	struct proxy_fetch *f;
	char key[PROXY_KEY_MAX];
	int created;

	/* A miss, GET or HEAD: the blob is fetched (a HEAD is answered
	 * once the upstream announced the length, and warms the cache).
	 * XXX a blob the store holds for another repository, that no cached
	 * manifest of this one lists, is fetched again rather than checked
	 * with an upstream HEAD; a transfer that breaks is not resumed with
	 * a Range request. */
	__atomic_add_fetch(&req->w->metrics->proxy_misses, 1, __ATOMIC_RELAXED);
	snprintf(key, sizeof(key), "b %s %s", local, req->m.digest.str);
	if ((wt = proxy_join(req, key, 1, local, &created)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	if (!created)
		return;
	f = wt->f;
	f->conf = proxy_conf_ref(conf);
	f->sec = sec;
	snprintf(f->upstream, sizeof(f->upstream), "%s", upstream);
	snprintf(f->local, sizeof(f->local), "%s", local);
	snprintf(f->ref, sizeof(f->ref), "%s", req->m.digest.str);
	f->ref_is_digest = 1;
	f->want = req->m.digest;
	proxy_blob_start(f);
}

/* Link a blob the store holds (for another repository) into local,
 * which a cached manifest says has it upstream: 0 (then serve it). */
static int
proxy_blob_link(struct request *req, struct proxy_section *sec, const char *local,
    uint64_t size)
{
	if (meta_proxy_link(req->w->meta, local, sec->name, req->m.digest.str, size) != 0)
		return -1;
	__atomic_add_fetch(&req->w->metrics->proxy_hits, 1, __ATOMIC_RELAXED);
	return 0;
}

/* A blob GET waiting on the store's stat (an object store's HEAD, a
 * transfer of the loop) to know whether it can link rather than fetch. */
struct proxy_blob_stat {
	struct request *req;
	struct proxy_conf *conf;	/* held until the stat ends */
	struct proxy_section *sec;
	char upstream[REFERENCE_NAME_MAX + 1];
	char local[REFERENCE_NAME_MAX + 1];
};

static void
proxy_blob_stated(void *arg, int rc, uint64_t size)
{
	struct proxy_blob_stat *st = arg;
	struct request *req = st->req;

	if (req->aborted)
		req_error(req, ERR_UNAVAILABLE, NULL);	/* into the void: frees it */
	else if (rc == 0 && proxy_blob_link(req, st->sec, st->local, size) == 0)
		proxy_serve_local(req);
	else
		proxy_blob_fetch(req, st->conf, st->sec, st->upstream, st->local);
	proxy_conf_unref(st->conf);
}

static void
proxy_blob(struct request *req, struct proxy_conf *conf, struct proxy_section *sec,
    const char *upstream, const char *local)
{
	struct proxy_blob_stat *st;
	uint64_t size;
	int rc;

	if ((rc = meta_blob_get(req->w->meta, local, req->m.digest.str, &size)) == 0) {
		__atomic_add_fetch(&req->w->metrics->proxy_hits, 1, __ATOMIC_RELAXED);
		meta_proxy_touch(req->w->meta, req->m.digest.str);
		proxy_serve_local(req);
		return;
	}
	if (rc != -ERR_BLOB_UNKNOWN) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	/* Already in the store for another repository, and a manifest this
	 * repository got from the upstream lists it (so the upstream has it
	 * there): link it instead of fetching it again.  The listing first:
	 * it is local, and the store's stat may be a round trip. */
	if (meta_proxy_ref_known(req->w->meta, local, req->m.digest.str) != 0) {
		proxy_blob_fetch(req, conf, sec, upstream, local);
		return;
	}
	if ((st = arena_alloc(req->arena, sizeof(*st))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	st->req = req;
	st->conf = proxy_conf_ref(conf);
	st->sec = sec;
	snprintf(st->upstream, sizeof(st->upstream), "%s", upstream);
	snprintf(st->local, sizeof(st->local), "%s", local);
	rc = store_blob_stat_start(req->w->store, req->w->base, &req->m.digest, &size,
	    proxy_blob_stated, st);
	if (rc == STORE_PENDING) {
		req_defer(req);
		return;
	}
	proxy_blob_stated(st, rc, size);
}

/* ------------------------------------------------------------ tags and referrers */

/* A listing that merges the upstream's answer with the cache. */
struct proxy_list {
	struct request *req;
	char local[REFERENCE_NAME_MAX + 1];
	long n;				/* -1: not given */
	char last[REFERENCE_TAG_MAX + 8];
	char filter[256];		/* referrers: artifactType, "" none */
	char **items;
	size_t nitems, cap;
	int failed;
	struct proxy_conf *conf;	/* held: the section's, until done */
};

static int
proxy_list_add(void *arg, const char *item)
{
	struct proxy_list *l = arg;
	char **grown;

	if (!reference_tag_valid(item))
		return 0;
	if (l->nitems == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		if (l->nitems >= PROXY_TAGS_MAX ||
		    (grown = realloc(l->items, cap * sizeof(*grown))) == NULL) {
			l->failed = 1;
			return 1;
		}
		l->items = grown;
		l->cap = cap;
	}
	if ((l->items[l->nitems] = strdup(item)) == NULL) {
		l->failed = 1;
		return 1;
	}
	l->nitems++;
	return 0;
}

static int
proxy_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
proxy_tags_done(struct upstream_xfer *x)
{
	struct proxy_list *l = x->arg;
	struct request *req = l->req;
	struct oci_doc *doc = NULL;
	char detail[600], *json;
	long n = l->n < 0 ? PROXY_TAGS_PAGE_MAX : l->n, count = 0;
	int more = 0, upstream_ok, rc;
	const char *prev = NULL;

	upstream_ok = x->ok && x->status == 200 && x->body != NULL &&
	    oci_list_parse(x->body, x->len, "tags", proxy_list_add, l) == 0;
	if (x->ok && x->status == 200 && x->body == NULL)
		upstream_ok = 1;	/* an empty body: no tags */
	rc = meta_tag_list(req->w->meta, l->local, "", PROXY_TAGS_MAX, proxy_list_add, l, &more);
	if (!upstream_ok) {
		enum reg_error e = upstream_xfer_error(x, ERR_NAME_UNKNOWN, detail, sizeof(detail));

		log_warn("proxy %s: GET %s: %s; listing the cached tags only", x->sec->name, x->url, detail);
		if (rc != 0) {
			req_error(req, rc == -ERR_NAME_UNKNOWN ? e : (enum reg_error)-rc, detail);
			goto out;
		}
	}
	if (l->failed || (rc != 0 && rc != -ERR_NAME_UNKNOWN)) {
		req_error(req, ERR_INTERNAL, NULL);
		goto out;
	}
	if (l->nitems > 0)
		qsort(l->items, l->nitems, sizeof(*l->items), proxy_strcmp);
	if ((doc = oci_list_new(req->m.url_name, "tags")) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		goto out;
	}
	more = 0;
	for (size_t i = 0; i < l->nitems; i++) {
		if ((prev != NULL && strcmp(prev, l->items[i]) == 0) || strcmp(l->items[i], l->last) <= 0)
			continue;
		if (count == n) {
			more = 1;
			break;
		}
		if (oci_list_add(doc, l->items[i]) != 0) {
			oci_doc_free(doc);
			req_error(req, ERR_INTERNAL, NULL);
			goto out;
		}
		prev = l->items[i];
		count++;
	}
	if ((json = oci_doc_render(doc)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		goto out;
	}
	if (more && n > 0 && prev != NULL)
		req_add_header(req, "Link", "</v2/%s/tags/list?n=%ld&last=%s>; rel=\"next\"",
		    req->m.url_name, n, prev);
	req_respond(req, 200, "application/json", json, strlen(json));
	free(json);
out:
	/* l is not the request's: the answer may have freed the request. */
	for (size_t i = 0; i < l->nitems; i++)
		free(l->items[i]);
	free(l->items);
	proxy_conf_unref(l->conf);
	free(l);
}

static void
proxy_tags(struct request *req, struct proxy_conf *conf, struct proxy_section *sec,
    const char *upstream, const char *local)
{
	struct proxy_list *l;
	struct upstream_xfer *x;
	char nbuf[32];
	uint64_t v;
	int rc;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	l->req = req;
	l->n = -1;
	snprintf(l->local, sizeof(l->local), "%s", local);
	if ((rc = req_query(req, "n", nbuf, sizeof(nbuf))) < 0 ||
	    (rc == 1 && range_parse_u64(nbuf, nbuf + strlen(nbuf), &v) != 0) ||
	    req_query(req, "last", l->last, sizeof(l->last)) < 0) {
		free(l);
		req_error(req, ERR_PAGINATION, NULL);
		return;
	}
	if (rc == 1)
		l->n = v > (uint64_t)PROXY_TAGS_PAGE_MAX ? PROXY_TAGS_PAGE_MAX : (long)v;
	/* XXX only the upstream's first page: its Link is not followed. */
	if ((x = proxy_xfer_for(req->w, sec, upstream, "tags/list", NULL, NULL)) == NULL) {
		free(l);
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	x->max = PROXY_LIST_BODY_MAX;
	x->arg = l;
	x->done = proxy_tags_done;
	l->conf = proxy_conf_ref(conf);
	req_defer(req);
	upstream_xfer_run(x);
}

static void
proxy_referrers_answer(struct upstream_xfer *x)
{
	struct proxy_list *l = x->arg;
	struct request *req = l->req;
	const char *at = l->filter[0] != '\0' ? l->filter : NULL;
	struct oci_doc *doc;
	int rc;

	/* XXX every local referrer, in one answer (no Link): the upstream's
	 * index is merged in whole. */
	if ((rc = referrers_collect(req->w, l->local, req->m.digest.str, at, "", 1L << 30, NULL,
	    &doc)) != 0) {
		req_error(req, (enum reg_error)-rc, NULL);
		return;
	}
	/* Referrers never answer 404: an upstream without the API (or
	 * down) leaves the cached ones. */
	if (x->ok && x->status == 200 && x->body != NULL &&
	    oci_referrers_merge(doc, x->body, x->len, at) != 0)
		log_warn("proxy %s: GET %s: not a referrers index", x->sec->name, x->url);
	referrers_respond(req, doc, at, NULL, 0);
}

static void
proxy_referrers_done(struct upstream_xfer *x)
{
	struct proxy_list *l = x->arg;
	struct proxy_conf *conf = l->conf;	/* l is the request's: gone with the answer */

	proxy_referrers_answer(x);
	proxy_conf_unref(conf);
}

static void
proxy_referrers(struct request *req, struct proxy_conf *conf, struct proxy_section *sec,
    const char *upstream, const char *local)
{
	struct proxy_list *l;
	struct upstream_xfer *x;
	char *q = NULL, *esc = NULL;
	int rc;

	if ((l = arena_alloc(req->arena, sizeof(*l))) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	l->req = req;
	snprintf(l->local, sizeof(l->local), "%s", local);
	if ((rc = req_query(req, "artifactType", l->filter, sizeof(l->filter))) < 0) {
		req_error(req, ERR_UNSUPPORTED, "malformed artifactType filter");
		return;
	}
	if (rc != 1)
		l->filter[0] = '\0';
	if (l->filter[0] != '\0' && ((esc = upstream_escape(l->filter)) == NULL ||
	    (q = arena_printf(req->arena, "artifactType=%s", esc)) == NULL)) {
		free(esc);
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	free(esc);
	if ((x = proxy_xfer_for(req->w, sec, upstream, "referrers", req->m.digest.str, q)) == NULL) {
		req_error(req, ERR_INTERNAL, NULL);
		return;
	}
	x->accept = UPSTREAM_ACCEPT_INDEX;
	x->max = PROXY_LIST_BODY_MAX;
	x->arg = l;
	x->done = proxy_referrers_done;
	l->conf = proxy_conf_ref(conf);
	req_defer(req);
	upstream_xfer_run(x);
}

/* ------------------------------------------------------------ the router's hooks */

/* The sections of cfg, or NULL if none: held by w until it serves a
 * request under another config, so a section stays valid from the resolve
 * gate to the handler (one call of the router) without a reference per
 * request.  Whatever outlives the request takes its own. */
static struct proxy_conf *
proxy_worker_conf(struct worker *w, const struct config *cfg)
{
	struct proxy_worker *pw;
	struct proxy_conf *pc;

	if ((pw = proxy_worker_get(w)) == NULL)
		return NULL;
	if (pw->conf == NULL || pw->conf->serial != cfg->serial) {
		pc = proxy_conf_get(cfg);	/* NULL: no [proxy] section */
		proxy_conf_unref(pw->conf);
		if ((pw->conf = pc) == NULL)
			return NULL;
	}
	return pw->conf->n > 0 ? pw->conf : NULL;
}

static int
proxy_route_kind(enum route_kind kind)
{
	switch (kind) {
	case ROUTE_BLOB:
	case ROUTE_MANIFEST:
	case ROUTE_TAGS:
	case ROUTE_REFERRERS:
	case ROUTE_UPLOAD_START:
	case ROUTE_UPLOAD:
		return 1;
	default:
		return 0;
	}
}

int
proxy_resolve(struct request *req, int write, struct proxy_target *t)
{
	char ns[256], owner[META_PROXY_NAME_MAX];
	const char *name = req->m.url_name, *rest;
	struct proxy_conf *pc;
	int has_ns, local = 0, rc;

	t->conf = NULL;
	t->sec = NULL;
	snprintf(t->upstream, sizeof(t->upstream), "%s", name);
	snprintf(t->local, sizeof(t->local), "%s", name);
	if (!proxy_route_kind(req->m.kind) || (pc = proxy_worker_conf(req->w, req->cfg)) == NULL)
		return 0;
	t->conf = pc;
	has_ns = req_query(req, "ns", ns, sizeof(ns)) == 1 && ns[0] != '\0';
	if (has_ns && (t->sec = (struct proxy_section *)proxy_route_ns(pc, ns)) != NULL) {
		/* Under the section's prefix, if it has one, so two
		 * upstreams' library/alpine do not meet. */
		if ((size_t)snprintf(t->local, sizeof(t->local), "%s%s%s", t->sec->prefix,
		    t->sec->prefix[0] != '\0' ? "/" : "", name) >= sizeof(t->local)) {
			t->sec = NULL;
			return -ERR_NAME_INVALID;
		}
		return 1;
	}
	if ((t->sec = (struct proxy_section *)proxy_route_prefix(pc, name, &rest)) != NULL) {
		snprintf(t->upstream, sizeof(t->upstream), "%s", rest);
		return 1;
	}
	if (has_ns || pc->mirror == NULL)
		return 0;
	rc = meta_proxy_repo(req->w->meta, name, owner, &local);
	if (rc != 0 && rc != -ERR_NAME_UNKNOWN)
		return rc;
	if (local)
		return 0;
	/* A push to a repository nobody has is a new local one. */
	if (write && (rc != 0 || owner[0] == '\0'))
		return 0;
	t->sec = pc->mirror;
	for (size_t i = 0; rc == 0 && owner[0] != '\0' && i < pc->n; i++)
		if (strcmp(pc->sections[i].name, owner) == 0 && pc->sections[i].prefix[0] == '\0')
			t->sec = &pc->sections[i];
	return 1;
}

int
proxy_handle(struct request *req, const struct proxy_target *t)
{
	int write = (req->method != METHOD_GET && req->method != METHOD_HEAD) ||
	    req->m.kind == ROUTE_UPLOAD || req->m.kind == ROUTE_UPLOAD_START;

	if (t->sec == NULL || !proxy_route_kind(req->m.kind))
		return 0;
	if (write) {
		if (t->sec->push)
			return 0;
		req_error(req, auth_enabled(req->w->auth) ? ERR_DENIED : ERR_METHOD,
		    "this repository is a read-only pull-through cache");
		return 1;
	}
	switch (req->m.kind) {
	case ROUTE_MANIFEST:
		proxy_manifest(req, t->conf, t->sec, t->upstream, t->local);
		break;
	case ROUTE_BLOB:
		proxy_blob(req, t->conf, t->sec, t->upstream, t->local);
		break;
	case ROUTE_TAGS:
		proxy_tags(req, t->conf, t->sec, t->upstream, t->local);
		break;
	default:
		proxy_referrers(req, t->conf, t->sec, t->upstream, t->local);
		break;
	}
	return 1;
}

/* ------------------------------------------------------------ shutdown */

void
proxy_worker_free(struct worker *w)
{
	struct proxy_worker *pw = w->proxy;

	/* Nothing makes new upstream requests for w from now on. */
	if (pw != NULL)
		upstream_close(pw->up);
	/* This worker's waiting requests: the loops have stopped, so the
	 * wake-ups scheduled on its base will never run.  Free the finished
	 * waiters, answer (and thereby free) the others. */
	for (;;) {
		struct proxy_waiter *wt, *live = NULL;
		struct request *req;

		pthread_mutex_lock(&proxy_mu);
		for (wt = proxy_waiters; wt != NULL;) {
			struct proxy_waiter *next = wt->all_next;

			if (wt->w == w && wt->dead)
				proxy_waiter_free_locked(wt);
			else if (wt->w == w && live == NULL)
				live = wt;
			wt = next;
		}
		if (live != NULL)
			live->wakes = 0;
		pthread_mutex_unlock(&proxy_mu);
		if (live == NULL)
			break;
		req = live->req;
		proxy_waiter_done(live);
		if (req->streaming)
			req_stream_end(req, 0);
		else
			req_error(req, ERR_UNAVAILABLE, "shutting down");
	}
	if (pw == NULL)
		return;
	/* Abort its transfers: their owners fail their fetches. */
	upstream_free(pw->up);
	proxy_conf_unref(pw->conf);
	w->proxy = NULL;
	free(pw);
}
