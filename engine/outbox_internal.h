/* outbox_internal.h — what the outbox (outbox.c) asks of a place that holds
 * warnings: the SQLite spool (outbox_spool.c) or Redis (outbox_redis.c).
 *
 * Backends hold opaque sealed blobs with their warning id and due time;
 * outbox.c seals and opens them, so a backend never sees a number. A claimed
 * or listed warning is named by a handle that only its backend understands
 * (a stream entry id, a spool row). */
#ifndef FZ_OUTBOX_INTERNAL_H
#define FZ_OUTBOX_INTERNAL_H

#include <stdint.h>

#include "fanzha/buf.h"
#include "fanzha/outbox.h"

typedef struct fz_blob {
    char id[33];
    char handle[48];
    int64_t due_ms;
    const char *data;       /* sealed warning */
    size_t len;
} fz_blob;

typedef enum fz_settle { FZ_SETTLE_DELIVERED = 0, FZ_SETTLE_RETRY, FZ_SETTLE_DEAD } fz_settle;

/* Called for each blob listed or claimed; non-zero stops. */
typedef int (*fz_blob_fn)(void *ud, const fz_blob *b);

typedef struct fz_outbox_be {
    /* Queue each request whose checks pass (sealed[i] is its warning). */
    int (*queue)(void *impl, const fz_warn_request *r, const fz_buf *sealed, size_t n, int64_t now_ms,
                 fz_queue_result *res, fz_error *err);
    /* Lease up to max due warnings for lease_ms. */
    int (*claim)(void *impl, size_t max, int64_t now_ms, int lease_ms, fz_blob_fn fn, void *ud, fz_error *err);
    /* A claimed warning: delivered (gone), due again at due_ms, or dead
     * (blob: the warning with its attempts counted; NULL when delivered). */
    int (*settle)(void *impl, const char *handle, const char *id, fz_settle how, int64_t due_ms, const fz_buf *blob,
                  fz_error *err);
    int (*depth)(void *impl, int64_t now_ms, fz_outbox_depth *out, fz_error *err);
    int (*list)(void *impl, fz_box box, int64_t now_ms, fz_blob_fn fn, void *ud, fz_error *err);
    /* Move a dead letter back to the queue with a new blob. */
    int (*revive)(void *impl, const char *handle, const char *id, const fz_buf *blob, int64_t now_ms, fz_error *err);
    /* Delete one warning of a box. */
    int (*remove)(void *impl, fz_box box, const char *handle, fz_error *err);
    void (*close)(void *impl);
} fz_outbox_be;

struct fz_store;
struct fz_statefile;

int fz_spool_open(struct fz_statefile *sf, const fz_outbox_be **be, void **impl, fz_error *err);
int fz_outbox_redis_open(struct fz_store *s, const fz_outbox_be **be, void **impl, fz_error *err);

#endif
