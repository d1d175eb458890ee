/* arena.h — bump allocation for things that die together.
 *
 * A rule pack's strings and lists live in one arena and are freed at once
 * with the engine; a thread's per-record scratch (parsed JSON) lives in an
 * arena that is reset, not freed, after each record, so that steady-state
 * parsing allocates nothing. */
#ifndef FZ_ARENA_H
#define FZ_ARENA_H

#include <stddef.h>

typedef struct fz_arena_chunk fz_arena_chunk;

typedef struct fz_arena {
    fz_arena_chunk *head;       /* chunk being filled */
    fz_arena_chunk *first;      /* all chunks, oldest first */
    size_t chunk_size;
} fz_arena;

void fz_arena_init(fz_arena *a, size_t chunk_size);
void fz_arena_free(fz_arena *a);
/* Forget every allocation but keep the memory for reuse. */
void fz_arena_reset(fz_arena *a);
/* 16-byte aligned; NULL when out of memory. */
void *fz_arena_alloc(fz_arena *a, size_t size);
char *fz_arena_strndup(fz_arena *a, const char *s, size_t n);
char *fz_arena_strdup(fz_arena *a, const char *s);
/* 1 when p was handed out by this arena (for allocators that must tell). */
int fz_arena_owns(const fz_arena *a, const void *p);

#endif
