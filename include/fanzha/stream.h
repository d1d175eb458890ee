/* fanzha/stream.h — the message bus: Redis Streams, partitioned by
 * recipient, fed by producers (`fanzha stream push`) and drained by any
 * number of workers on any number of machines (one consumer group).
 *
 * Keys (the hash tag {pK} puts a partition's keys in one Cluster slot, so
 * that a worker's MULTI for partition K touches one slot):
 *   fz:in:partitions     the partition count N (set once, with SET NX)
 *   fz:in:{pK}           input partition K, 0 <= K < N; an entry's field
 *                        m holds one JSON record (or c one CSV record) and
 *                        n, optionally, its line number in the pushed file
 *   fz:verdicts:{pK}     one entry per input entry: src = the input entry's
 *                        id, then v = the verdict line or e = the error record
 *   fz:in:dead:{pK}      dead letters: the input entry's fields, then src,
 *                        deliveries and reason
 * A message goes to partition XXH3-64(recipient's canonical digits) mod N
 * (+86 138..., 0086 138... and 138... are one recipient), so one
 * recipient's messages stay in order on one partition; a record without a
 * readable recipient goes by the hash of its bytes (a worker turns a record
 * it cannot read into an error record: nothing is dropped). Producers other
 * than `fanzha stream push` may partition as they like: workers read every
 * partition they are given, whatever is in it.
 *
 * Delivery is at least once: a worker writes a batch's verdicts and
 * acknowledges its input in one MULTI per partition, so a crash before it
 * loses nothing (the entries stay pending and another worker claims them)
 * and a crash can at worst produce a verdict twice (both carry the same src). */
#ifndef FANZHA_STREAM_H
#define FANZHA_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "message.h"
#include "scan.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FZ_STREAM_DEFAULT_PARTITIONS 4
#define FZ_STREAM_MAX_PARTITIONS 1024
#define FZ_STREAM_DEFAULT_GROUP "fanzha"

/* A connection pool to the bus's Redis (reconnecting with backoff). */
typedef struct fz_stream fz_stream;

/* url: redis://[[user]:password@]host[:port][/db]. Fails only on a bad URL
 * or no memory: Redis may come up later. */
int fz_stream_open(const char *url, fz_stream **out, fz_error *err);
void fz_stream_close(fz_stream *s);
/* The URL without its password. */
const char *fz_stream_describe(const fz_stream *s);

/* The name of partition p's input ("in"), verdict ("verdicts") or dead
 * letter ("dead") stream, in out (48 bytes are enough). */
void fz_stream_key(char *out, size_t cap, const char *kind, unsigned p);

/* The recorded partition count; 0 when none is recorded. */
int fz_stream_partitions(fz_stream *s, unsigned *n, fz_error *err);
/* Record n partitions unless a count is recorded; *recorded gets the count
 * in force. FZ_EINVAL when a different count was recorded (changing it
 * would move recipients between partitions). */
int fz_stream_set_partitions(fz_stream *s, unsigned n, unsigned *recorded, fz_error *err);

/* --- feeding the bus ------------------------------------------------------------------------- */

typedef struct fz_stream_push_options {
    unsigned partitions;        /* 0: the recorded count, else 4 */
    fz_format format;
    size_t max_record;          /* longer records are refused (reported); 0 = 1 MiB */
    size_t batch;               /* XADDs per round trip; 0 = 1000 */
    /* Called for each refused record, with its line and why. */
    void (*refused)(void *ud, uint64_t line, const char *why);
    void *ud;
} fz_stream_push_options;

typedef struct fz_stream_push_stats {
    uint64_t pushed, refused;
    unsigned partitions;
    uint64_t per_partition[FZ_STREAM_MAX_PARTITIONS];
    double seconds;
} fz_stream_push_stats;

/* Push every record readable from fd (JSON Lines, or CSV records that may
 * span lines inside quotes; blank lines and a CSV header are skipped), in
 * pipelined batches. 0, or FZ_EIO when reading or Redis fails (what was
 * pushed before stays pushed; st says how much), FZ_EINVAL for a partition
 * count that contradicts the recorded one. */
int fz_stream_push_fd(fz_stream *s, int fd, const fz_stream_push_options *o, fz_stream_push_stats *st,
                      fz_error *err);

/* --- what the bus holds -------------------------------------------------------------------- */

typedef struct fz_partition_status {
    unsigned partition;
    uint64_t length;            /* entries in the input stream (trimmed below what is still needed) */
    int has_group;              /* the group exists on this partition */
    int64_t lag;                /* entries not yet delivered to the group; -1 when Redis cannot tell */
    uint64_t pending;           /* delivered, not yet acknowledged */
    uint64_t consumers;
    uint64_t dead;              /* dead letters */
    uint64_t out_length;        /* entries in the verdict stream */
} fz_partition_status;

/* The status of every partition (out needs FZ_STREAM_MAX_PARTITIONS
 * entries, or at least the partition count); *n gets the count (0 when none
 * is recorded). */
int fz_stream_status(fz_stream *s, const char *group, fz_partition_status *out, unsigned *n, fz_error *err);

/* One dead letter: its id, and its fields as given (field, value, ...). */
typedef struct fz_dead_letter {
    unsigned partition;
    const char *id;
    size_t n_fields;            /* 2 x the pairs */
    const char *const *fields;
    const size_t *lens;
} fz_dead_letter;

/* Call fn for the dead letters of partition p (or of every partition when
 * p < 0), oldest first, at most max in all (0: no limit); fn returning
 * non-zero stops. */
int fz_stream_dead_list(fz_stream *s, int p, size_t max, int (*fn)(void *ud, const fz_dead_letter *d), void *ud,
                        fz_error *err);

/* Put dead letters back on their input partition (their original fields,
 * as a new entry) and delete them from the dead letters, each in one MULTI:
 * those of partition p (every partition when p < 0) whose id is in ids, or
 * all of them when n_ids is 0. *replayed counts them. */
int fz_stream_dead_replay(fz_stream *s, int p, const char *const *ids, size_t n_ids, uint64_t *replayed,
                          fz_error *err);

/* --- workers --------------------------------------------------------------------------------- */

typedef struct fz_stream_worker_stats {
    uint64_t read;              /* entries taken: new and claimed, not counting dead letters */
    uint64_t verdicts, errors;  /* written to the verdict streams */
    uint64_t by_action[3];
    uint64_t claimed;           /* entries taken from a silent consumer (XAUTOCLAIM) */
    uint64_t dead;              /* entries moved to the dead letters */
    uint64_t batches;
    uint64_t outages;           /* times Redis became unreachable */
    uint64_t warnings_queued, warnings_duplicate, warnings_limited, warnings_failed;
    double seconds;
} fz_stream_worker_stats;

typedef struct fz_stream_worker_options {
    const char *group;          /* consumer group; NULL: "fanzha" */
    const char *consumer;       /* this worker's name; NULL: hostname-pid */
    const unsigned *only;       /* read only these partitions; NULL: every partition */
    size_t n_only;
    size_t batch;               /* entries per read (over all partitions); 0 = 512 */
    int block_ms;               /* wait this long for new entries; 0 = 1000 */
    int claim_interval_ms;      /* look for silent consumers' entries this often; 0 = 5000 */
    int claim_idle_ms;          /* an entry pending this long was left by a dead worker; 0 = 30000 */
    unsigned max_deliveries;    /* an entry delivered more often is a dead letter; 0 = 5 */
    long long out_maxlen;       /* verdict streams kept at about this length; 0 = 1,000,000; < 0: never trimmed */
    size_t max_record;          /* longer records become error records; 0 = 1 MiB */
    int drain;                  /* return once no entry is left to read and none is pending */
    int stats_interval_ms;      /* call stats this often; 0 = 10000 */
    long long forget_idle_ms;   /* forget consumers that hold nothing and were silent this long;
                                 * 0 = one hour; < 0: never */
    fz_store *store;            /* shared state for scoring (verdict cache, reports, campaigns), or NULL */
    struct fz_outbox *outbox;   /* with a store: queue warnings for residents here, or NULL */
    /* Everything below is optional. log gets one line, without a newline,
     * about the bus (Redis unreachable, back, a group recreated); stats the
     * running totals (final: at the end); should_stop is asked between
     * batches: non-zero finishes the batch in flight and returns. */
    void (*log)(void *ud, const char *msg);
    void (*stats)(void *ud, const fz_stream_worker_stats *st, int final);
    int (*should_stop)(void *ud);
    void *ud;
} fz_stream_worker_options;

/* Consume the partitions until should_stop (or, with drain, until nothing
 * is left), scoring with the slot's current engine at each batch. Redis
 * being unreachable is not an error: the worker waits and reconnects. 0, or
 * FZ_EINVAL for a bad option (a partition out of range), FZ_ENOMEM, FZ_EHS. */
int fz_stream_work(fz_stream *s, fz_engine_slot *slot, const fz_stream_worker_options *o,
                   fz_stream_worker_stats *st, fz_error *err);

#ifdef __cplusplus
}
#endif
#endif
