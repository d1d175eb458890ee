/* arena.c — bump allocator with reusable chunks (see arena.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct fz_arena_chunk {
    fz_arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void fz_arena_init(fz_arena *a, size_t chunk_size)
{
    a->head = a->first = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
}

void fz_arena_free(fz_arena *a)
{
    fz_arena_chunk *c = a->first;
    while (c) {
        fz_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = a->first = NULL;
}

void fz_arena_reset(fz_arena *a)
{
    for (fz_arena_chunk *c = a->first; c; c = c->next)
        c->used = 0;
    a->head = a->first;
}

void *fz_arena_alloc(fz_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    /* Walk forward through chunks kept from before a reset. */
    while (a->head && a->head->used + size > a->head->size && a->head->next)
        a->head = a->head->next;
    if (!a->head || a->head->used + size > a->head->size) {
        size_t csize = size > a->chunk_size ? size : a->chunk_size;
        fz_arena_chunk *c = malloc(sizeof *c + csize);
        if (!c)
            return NULL;
        c->size = csize;
        c->used = 0;
        c->next = NULL;
        if (a->head) {
            /* Insert after head so that chunks after it stay reachable. */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            a->first = c;
        }
        a->head = c;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += size;
    return p;
}

char *fz_arena_strndup(fz_arena *a, const char *s, size_t n)
{
    char *p = fz_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *fz_arena_strdup(fz_arena *a, const char *s)
{
    return fz_arena_strndup(a, s, strlen(s));
}

int fz_arena_owns(const fz_arena *a, const void *p)
{
    uintptr_t x = (uintptr_t)p;
    for (const fz_arena_chunk *c = a->first; c; c = c->next)
        if (x >= (uintptr_t)c->data && x < (uintptr_t)c->data + c->size)
            return 1;
    return 0;
}
