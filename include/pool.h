/* pool.h — a small thread pool for blocking work (fsync, rename) that must
 * not stall a worker's event loop.  A job's work function runs on a pool
 * thread; its done function then runs on the submitting worker's event
 * loop thread (through event_base_once, thread-safe since the server turns
 * libevent's pthread locking on). */
#ifndef OCIREGD_POOL_H
#define OCIREGD_POOL_H

struct event_base;
struct pool;

/* Start n threads.  NULL on failure. */
struct pool *pool_new(int n);
/* Run work(arg) on a pool thread, then done(arg) on base's loop.  0 or -1
 * (then nothing runs and the caller still owns arg). */
int pool_submit(struct pool *p, struct event_base *base, void (*work)(void *),
    void (*done)(void *), void *arg);
/* Finish queued jobs and join the threads.  Done callbacks that have not
 * run by then are dropped with their event base. */
void pool_free(struct pool *p);

#endif
