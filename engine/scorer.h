/* scorer.h — scoring a block of records into output lines, in input order:
 * the step that `scan`, the HTTP server and the stream worker share.
 *
 * A scorer is one thread's context (reader, worker, verdict, batch). Given
 * records (JSON Lines or CSV, each without its newline), it writes one line
 * per record: the verdict, or an error record {"line":N,"error":"..."}.
 * With a store the whole block is scored as one batch (two round trips);
 * with an outbox the warnings of the block are queued as well. */
#ifndef FZ_SCORER_H
#define FZ_SCORER_H

#include <stddef.h>
#include <stdint.h>

#include "fanzha/buf.h"
#include "fanzha/engine.h"
#include "fanzha/message.h"
#include "fanzha/outbox.h"
#include "fanzha/scan.h"
#include "fanzha/store.h"

typedef struct fz_scorer fz_scorer;

/* One record to score. */
typedef struct fz_scorer_rec {
    const char *data;
    size_t len;
    uint64_t line;          /* named in its error record */
    const char *error;      /* non-NULL: the caller already knows it is unreadable (too long ...) */
} fz_scorer_rec;

/* Where a record's output line went: out or err, [off, off + len), the
 * newline included. */
typedef struct fz_scored {
    size_t off, len;
    int is_error;
} fz_scored;

typedef struct fz_scorer_job {
    const fz_engine *engine;
    fz_format format;
    fz_store *store;        /* NULL: each message on its own */
    fz_outbox *outbox;      /* with a store: queue warnings here, or NULL */
    fz_buf *out;            /* verdict lines are appended here */
    fz_buf *err;            /* error records here (may be out: one stream in input order) */
    fz_scored *where;       /* optional: n entries, filled */
} fz_scorer_job;

fz_scorer *fz_scorer_new(void);
void fz_scorer_free(fz_scorer *s);

/* Score n records. Adds read, verdicts, errors, by_action and the warning
 * counts to st (not zeroed). 0, or FZ_ENOMEM / FZ_EHS when scoring itself
 * failed (records are never a reason to fail). */
int fz_scorer_run(fz_scorer *s, const fz_scorer_job *job, const fz_scorer_rec *recs, size_t n, fz_scan_stats *st);

#endif
