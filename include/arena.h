/* arena.h — per-request bump allocator.  Everything a request allocates from
 * its arena is released at once by arena_free when the request ends. */
#ifndef OCIREGD_ARENA_H
#define OCIREGD_ARENA_H

#include <stddef.h>

struct arena;

/* New arena; NULL on allocation failure. */
struct arena *arena_new(void);
/* Release the arena and everything allocated from it. NULL is a no-op. */
void arena_free(struct arena *a);
/* Zeroed memory, 16-byte aligned; NULL on failure or past the arena's ceiling
 * (ARENA_MAX bytes in all: per-request memory is bounded). */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ARENA_MAX (8u << 20)

#endif
