/* fanzha/buf.h — a growable byte buffer, reused across messages.
 *
 * Buffers grow geometrically and never shrink, so steady-state use (one
 * buffer per thread, cleared per message) allocates nothing. */
#ifndef FANZHA_BUF_H
#define FANZHA_BUF_H

#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_buf {
    char *data;     /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
} fz_buf;

#define FZ_BUF_INIT {NULL, 0, 0}

void fz_buf_free(fz_buf *b);
/* Grow so that `extra` more bytes (plus the terminating NUL) fit. */
int fz_buf_grow(fz_buf *b, size_t extra);

/* Make room for `extra` more bytes (plus the terminating NUL). 0 or FZ_ENOMEM. */
static inline int fz_buf_reserve(fz_buf *b, size_t extra)
{
    return b->len + extra < b->cap ? 0 : fz_buf_grow(b, extra);
}

/* Inline because verdict writing appends many short pieces. */
static inline int fz_buf_append(fz_buf *b, const void *data, size_t len)
{
    if (fz_buf_reserve(b, len))
        return -2;  /* FZ_ENOMEM */
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

/* Append a string literal; its length comes from the compiler, not a count. */
#define fz_buf_lit(b, lit) fz_buf_append((b), (lit), sizeof(lit) - 1)

static inline int fz_buf_puts(fz_buf *b, const char *s)
{
    return fz_buf_append(b, s, strlen(s));
}
static inline void fz_buf_clear(fz_buf *b) { b->len = 0; if (b->cap) b->data[0] = '\0'; }

#ifdef __cplusplus
}
#endif
#endif
