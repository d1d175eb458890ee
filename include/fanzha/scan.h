/* fanzha/scan.h — scoring a whole stream (a file, stdin) in order, on
 * several threads, with hot reload.
 *
 * A reader splits the input into blocks of whole records; worker threads
 * parse and score the blocks; a writer emits verdicts in input order. A
 * record that cannot be read becomes an error record, never a crash or a
 * silent drop: at the end, read = verdicts + errors. */
#ifndef FANZHA_SCAN_H
#define FANZHA_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "engine.h"
#include "message.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A swappable reference to the current engine. Scans take the engine from
 * the slot at each block; fz_engine_slot_swap replaces it without stopping
 * them; the old engine is freed when its last block is done. */
typedef struct fz_engine_slot fz_engine_slot;

/* Takes over the caller's reference to e. */
fz_engine_slot *fz_engine_slot_new(fz_engine *e);
void fz_engine_slot_free(fz_engine_slot *s);
/* A new reference to the current engine: release it with fz_engine_release. */
fz_engine *fz_engine_slot_acquire(fz_engine_slot *s);
/* Install e (taking over the caller's reference) and drop the slot's
 * reference to the previous engine. */
void fz_engine_slot_swap(fz_engine_slot *s, fz_engine *e);

typedef struct fz_scan_stats {
    uint64_t read;          /* records read (blank lines and a CSV header are not records) */
    uint64_t verdicts;
    uint64_t errors;
    uint64_t by_action[3];  /* indexed by fz_action */
    uint64_t bytes;         /* input bytes consumed */
    uint64_t reloads;       /* engine swaps seen during the scan */
    /* With an outbox: warnings to residents and guardians (queued counts
     * spooled ones too; failed: the registry or the outbox could not be
     * reached, so the warning was not queued). */
    uint64_t warnings_queued, warnings_spooled, warnings_duplicate, warnings_limited, warnings_failed;
    double seconds;
} fz_scan_stats;

typedef struct fz_scan_options {
    fz_format format;
    int threads;            /* worker threads; 0 or 1 scores on the calling thread */
    size_t max_record;      /* longer records become error records; 0 = 1 MiB */
    int in_fd;              /* input */
    int out_fd;             /* verdicts, JSON Lines */
    int err_fd;             /* error records, JSON Lines */
    /* Called from the writer about twice a second, and once at the end. */
    void (*progress)(void *ud, const fz_scan_stats *st);
    void *progress_ud;
    /* Called between blocks; returning non-zero stops the scan early. */
    int (*should_stop)(void *ud);
    void *should_stop_ud;
    /* Shared state (verdict cache, reported numbers, campaigns), or NULL to
     * score every message on its own. */
    fz_store *store;
    /* With a store: queue warnings for registered residents here (see
     * outbox.h), or NULL to warn nobody. */
    struct fz_outbox *outbox;
} fz_scan_options;

/* Append an error record line, {"line":N,"error":"..."} and a newline, the
 * form every unreadable record takes. 0 or FZ_ENOMEM. */
int fz_error_record(fz_buf *o, uint64_t line, const char *msg);

/* Score everything readable from o->in_fd. 0, or a negative code when the
 * input or output fails (records are never a reason to fail). */
int fz_scan_stream(fz_engine_slot *slot, const fz_scan_options *o, fz_scan_stats *st, fz_error *err);

#ifdef __cplusplus
}
#endif
#endif
