/* cache.h — a bounded LRU of small immutable blobs (manifests) keyed by
 * digest.  Content-addressed data never changes, so there is nothing to
 * invalidate: an entry is only ever evicted for room.  One cache per worker
 * thread; not thread-safe. */
#ifndef OCIREGD_CACHE_H
#define OCIREGD_CACHE_H

#include <stddef.h>

struct cache;

/* A cache of at most max_bytes of data; items larger than max_item are not
 * kept.  NULL on allocation failure. */
struct cache *cache_new(size_t max_bytes, size_t max_item);
void cache_free(struct cache *c);

/* Look digest up; on a hit sets data and len (owned by the cache, valid until
 * the next cache_put on this cache) and returns 1; 0 on a miss. */
int cache_get(struct cache *c, const char *digest, const char **data, size_t *len);
/* Insert (copying data); evicts least recently used entries for room. */
void cache_put(struct cache *c, const char *digest, const void *data, size_t len);
/* Entries and bytes held. */
size_t cache_count(const struct cache *c);
size_t cache_bytes(const struct cache *c);

#endif
