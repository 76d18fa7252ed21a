/* upload.h — what upload.c offers besides its request handlers
 * (handlers.h): the daemon's expiry of idle upload sessions, and a count
 * of the in-memory hash states for tests.
 *
 * Sessions idle longer than [storage] upload_expiry are removed (row, then
 * spool, by gc.c's upload step) on a thread of their own every
 * min(upload_expiry / 4, 10 min), whether or not [gc] interval runs the
 * whole collection; sessions a request is writing to are marked used first,
 * so a long PATCH is never expired under its writer. */
#ifndef OCIREGD_UPLOAD_H
#define OCIREGD_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct meta;
struct store;
struct upload_sweeper;

/* One expiry pass as of `now` (unix seconds) through connection m: keep
 * the sessions in use, remove the idle ones, drop their hash states.
 * Blocks on SQLite and disk I/O (never call it on an event loop).  0 or a
 * negated reg_error (logged). */
int upload_expire(const struct config *cfg, struct meta *m, struct store *s, int64_t now);

/* Start the expiry thread (its own metadata connection).  NULL with
 * *failed set if it could not start (logged).  cfg and s must outlive it;
 * like the collector it keeps the upload_expiry it started with. */
struct upload_sweeper *upload_sweeper_start(const struct config *cfg, struct store *s, int *failed);
/* Wake the thread, join it, free it.  NULL is a no-op. */
void upload_sweeper_stop(struct upload_sweeper *u);

/* Sessions whose hash state this process keeps in memory (tests). */
size_t upload_live_count(void);

#endif
