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

int fz_buf_grow(fz_buf *b, size_t extra)
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
