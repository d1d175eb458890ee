/* fanzha/outbox.h — the durable outbox of warnings and its delivery.
 *
 * Every warning is written to the outbox before anything is sent: a Redis
 * stream when the store is Redis, a spool in the state directory's SQLite
 * file with the embedded store (and as the fallback while Redis cannot be
 * reached, so a Redis outage loses no warning). Queueing is atomic with its
 * checks: a warning is queued only if its dedup key is new and its
 * recipient's daily count is under the limit, all in one step (a Lua script
 * in Redis, a transaction in SQLite), so a crash cannot queue half a
 * decision. A warning due later (quiet hours, retries) waits in a schedule
 * and is moved to the queue when due.
 *
 * Delivery claims due warnings (claimed warnings are leased: if the
 * deliverer dies, they are claimed again when the lease runs out), sends
 * them through a gateway (gateway.h) and settles each: delivered (removed),
 * retry at a time, or dead (kept in the dead letters for an operator, who
 * can replay them). At least once, never lost: a crash between sending and
 * settling sends again, with the same Idempotency-Key. */
#ifndef FANZHA_OUTBOX_H
#define FANZHA_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "buf.h"
#include "gateway.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_outbox fz_outbox;

/* The outbox of a store: its Redis streams, or the spool in the embedded
 * store's state directory. With Redis, the spool in the store's state
 * directory (when it has one) takes warnings while Redis is down. */
int fz_outbox_open(fz_store *s, fz_outbox **out, fz_error *err);
void fz_outbox_close(fz_outbox *o);

/* A warning to queue, with the checks that decide whether it goes. */
typedef struct fz_warn_request {
    fz_warning w;               /* id, to, role, language, channel, category, text, created, due */
    char once_key[96];          /* dedup: queued at most once per this key ... */
    int64_t once_ttl;           /* ... within this many seconds */
    char count_key[96];         /* the recipient's counter for the day */
    int limit;                  /* queued at most this many per count_key */
    int64_t count_ttl;
} fz_warn_request;

typedef enum fz_queue_result {
    FZ_QUEUED = 0,              /* in the outbox (due now or later) */
    FZ_DUPLICATE = 1,           /* its dedup key was seen: not queued */
    FZ_LIMITED = 2,             /* the recipient's daily limit is reached: not queued */
    FZ_SPOOLED = 3,             /* Redis failed: queued in the local spool instead */
    FZ_QUEUE_FAILED = 4         /* neither Redis nor the spool took it */
} fz_queue_result;

/* A warning as one JSON object (no newline) in out: every field, the
 * recipient masked (+86138****5678) when mask_numbers, and "body" when body
 * is given. The form warnings are kept in, and what `outbox list` prints.
 * 0 or FZ_ENOMEM. */
int fz_warning_json(const fz_warning *w, int mask_numbers, const char *body, fz_buf *out);

/* Queue a batch (one round trip with Redis); results[i] for each. 0, or a
 * negative code when nothing could be queued at all. */
int fz_outbox_queue(fz_outbox *o, const fz_warn_request *r, size_t n, fz_queue_result *results, fz_error *err);

typedef enum fz_box {
    FZ_BOX_READY = 0,           /* due now, waiting for delivery (or leased) */
    FZ_BOX_SCHEDULED = 1,       /* due later: quiet hours, or waiting for a retry */
    FZ_BOX_DEAD = 2             /* dead letters */
} fz_box;

typedef struct fz_outbox_depth {
    uint64_t ready, scheduled, dead;
    uint64_t spooled;           /* with Redis: warnings waiting in the local spool */
} fz_outbox_depth;

int fz_outbox_depth_get(fz_outbox *o, fz_outbox_depth *out, fz_error *err);

/* The warnings of a box, oldest first; fn returning non-zero stops. */
int fz_outbox_list(fz_outbox *o, fz_box box, int (*fn)(void *ud, const fz_warning *w), void *ud, fz_error *err);

/* Move dead letters back to the queue with their attempts reset: the ones
 * whose id is in ids, or all with n_ids == 0. *moved counts them. */
int fz_outbox_replay(fz_outbox *o, const char *const *ids, size_t n_ids, size_t *moved, fz_error *err);
/* Delete the warnings of a box: the ones in ids, or all with n_ids == 0. */
int fz_outbox_purge(fz_outbox *o, fz_box box, const char *const *ids, size_t n_ids, size_t *removed, fz_error *err);

typedef struct fz_deliver_options {
    int follow;                 /* keep running (until should_stop); else stop when nothing is due */
    int lease_ms;               /* a claim's lease (default 60000; > the gateway timeout) */
    int idle_poll_ms;           /* follow: how often to look for new warnings when idle (default 200) */
    int (*should_stop)(void *ud);
    void *should_stop_ud;
    /* Called once per attempt, after it is settled. */
    void (*on_attempt)(void *ud, const fz_warning *w, const fz_delivery *d);
    void *on_attempt_ud;
} fz_deliver_options;

typedef struct fz_deliver_stats {
    uint64_t attempts, delivered, retried, dead;
    uint64_t store_errors;      /* settles or claims that failed (the lease brings them back) */
    char last_store_error[160]; /* why the last of them failed */
    double seconds;
} fz_deliver_stats;

/* Deliver what is due through g. 0, or a negative code on a failure that
 * stops delivery (the store failing is not one: it is retried). */
int fz_outbox_deliver(fz_outbox *o, fz_gateway *g, const fz_deliver_options *opt, fz_deliver_stats *st,
                      fz_error *err);

#ifdef __cplusplus
}
#endif
#endif
