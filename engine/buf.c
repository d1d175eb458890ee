/* buf.c — growable byte buffers (see fanzha/buf.h). */
#include <stdlib.h>
#include <string.h>

#include "fanzha/buf.h"
#include "fanzha/error.h"

void fz_buf_free(fz_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int fz_buf_reserve(fz_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return FZ_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fz_buf_append(fz_buf *b, const void *data, size_t len)
{
    if (fz_buf_reserve(b, len))
        return FZ_ENOMEM;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int fz_buf_puts(fz_buf *b, const char *s)
{
    return fz_buf_append(b, s, strlen(s));
}
