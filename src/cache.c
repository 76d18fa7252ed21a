/* SPDX-License-Identifier: ISC
 * cache.c — per-worker LRU of manifests by digest: a chained hash table for
 * lookup and a doubly linked list for recency, bounded in bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

#define CACHE_BUCKETS 4096

struct cache_entry {
	struct cache_entry *hnext;		/* bucket chain */
	struct cache_entry *prev, *next;	/* LRU, head = most recent */
	uint32_t hash;
	size_t len;
	char *digest;
	char data[];
};

struct cache {
	struct cache_entry *buckets[CACHE_BUCKETS];
	struct cache_entry *head, *tail;
	size_t bytes, count, max_bytes, max_item;
};

static uint32_t
cache_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct cache *
cache_new(size_t max_bytes, size_t max_item)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->max_bytes = max_bytes;
	c->max_item = max_item;
	return c;
}

static void
cache_unlink_lru(struct cache *c, struct cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
cache_push_front(struct cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void
cache_remove(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash % CACHE_BUCKETS];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	cache_unlink_lru(c, e);
	c->bytes -= e->len;
	c->count--;
	free(e->digest);
	free(e);
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	while (c->head != NULL)
		cache_remove(c, c->head);
	free(c);
}

static struct cache_entry *
cache_find(struct cache *c, const char *digest, uint32_t h)
{
	struct cache_entry *e;

	for (e = c->buckets[h % CACHE_BUCKETS]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->digest, digest) == 0)
			return e;
	return NULL;
}

int
cache_get(struct cache *c, const char *digest, const char **data, size_t *len)
{
	struct cache_entry *e = cache_find(c, digest, cache_hash(digest));

	if (e == NULL)
		return 0;
	if (c->head != e) {
		cache_unlink_lru(c, e);
		cache_push_front(c, e);
	}
	*data = e->data;
	*len = e->len;
	return 1;
}

void
cache_put(struct cache *c, const char *digest, const void *data, size_t len)
{
	uint32_t h = cache_hash(digest);
	struct cache_entry *e;

	if (len > c->max_item || len > c->max_bytes || cache_find(c, digest, h) != NULL)
		return;
	while (c->bytes + len > c->max_bytes && c->tail != NULL)
		cache_remove(c, c->tail);
	if ((e = malloc(sizeof(*e) + len)) == NULL)
		return;
	if ((e->digest = strdup(digest)) == NULL) {
		free(e);
		return;
	}
	e->hash = h;
	e->len = len;
	memcpy(e->data, data, len);
	e->hnext = c->buckets[h % CACHE_BUCKETS];
	c->buckets[h % CACHE_BUCKETS] = e;
	e->prev = e->next = NULL;
	cache_push_front(c, e);
	c->bytes += len;
	c->count++;
}

size_t
cache_count(const struct cache *c)
{
	return c->count;
}

size_t
cache_bytes(const struct cache *c)
{
	return c->bytes;
}
