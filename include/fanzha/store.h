/* fanzha/store.h — shared state: the verdict cache, reported numbers and
 * campaign counters, in Redis or in an embedded in-process store.
 *
 * The embedded store is the default and needs no server; given a state
 * directory it keeps what must survive a restart (residents, reported
 * numbers, the warning spool) in a SQLite file there, and processes on one
 * machine share it. With a redis:// URL the same state is shared by every
 * process and machine that points at that Redis. Numbers are only ever stored as keyed hashes. Lookups are
 * batched: a stream is scored a block at a time with two round trips per
 * block, never one per message. When Redis cannot be reached, scoring goes on
 * without state (each such message is counted as degraded) and the store
 * reconnects with backoff. */
#ifndef FANZHA_STORE_H
#define FANZHA_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_store fz_store;

typedef struct fz_store_options {
    const char *url;            /* NULL or "": embedded; redis://[:password@]host[:port][/db] */
    const char *hash_key;       /* secret for hashing numbers; NULL: $FANZHA_HASH_KEY, else a built-in key */
    double timeout_ms;          /* per round trip to Redis (default 200) */
    size_t max_entries;         /* embedded: entries kept before the oldest go (default 250,000:
                                 * about 300 MB at most; durable ones are never evicted) */
    const char *dir;            /* state directory (created when first written), or NULL. The embedded
                                 * store keeps what must survive a restart there (residents, reports,
                                 * the warning spool, in state.db); with Redis it holds the spool of
                                 * warnings that could not reach Redis. NULL: memory only, no spool. */
} fz_store_options;

int fz_store_open(const fz_store_options *o, fz_store **out, fz_error *err);
void fz_store_close(fz_store *s);
/* "embedded" or the Redis URL without its password. */
const char *fz_store_describe(const fz_store *s);

typedef struct fz_store_stats {
    uint64_t round_trips;
    uint64_t errors;            /* round trips that failed (Redis down, timeout) */
    uint64_t reconnects;
    uint64_t cache_hits, cache_misses;
    uint64_t degraded;          /* messages scored without state because the store failed */
} fz_store_stats;

void fz_store_get_stats(const fz_store *s, fz_store_stats *out);

/* A report of a number (DESIGN.md §4.4). ts is Unix seconds (0: now). */
typedef struct fz_report {
    const char *number;
    const char *reporter;
    const char *kind;           /* "sms", "call", ...; informational */
    int64_t ts;
} fz_report;

/* Read one report record (JSON). Its strings are kept in `strings`, which
 * must outlive the report. 0, or FZ_EPARSE with err saying why. */
struct fz_buf;
int fz_report_parse(const char *line, size_t len, fz_report *out, struct fz_buf *strings, fz_error *err);

/* Record reports (batched: one round trip for all of them). 0, or a negative
 * code when the store fails; *bad counts reports without a usable number. */
int fz_store_report(fz_store *s, const fz_report *r, size_t n, double half_life_days, size_t *bad, fz_error *err);

/* Read reports (JSON Lines, blank lines skipped) from data and record them,
 * 1,000 to a round trip. An unreadable line is passed to bad_line (1-based
 * line numbers counted from first_line) and counted in *bad, as is a report
 * without a usable number; *ok counts those recorded. 0, or a negative code
 * when the store fails (what was recorded before stays recorded). */
int fz_reports_ingest(fz_store *s, const char *data, size_t len, uint64_t first_line, double half_life_days,
                      void (*bad_line)(void *ud, uint64_t line, const char *why), void *ud, size_t *ok,
                      size_t *bad, fz_error *err);

typedef struct fz_standing {
    double reputation;          /* decayed count of distinct reporters */
    size_t reporters;           /* distinct reporters on record */
    int64_t last_report;        /* Unix seconds, 0 if none */
} fz_standing;

/* A number's standing now. */
int fz_store_lookup(fz_store *s, const char *number, double half_life_days, fz_standing *out, fz_error *err);

typedef struct fz_campaign {
    char template_hash[33];
    uint64_t recipients;        /* distinct recipients this hour */
    char sample[512];           /* the template's masked text */
} fz_campaign;

/* The live campaigns (this hour), largest first; *n in: capacity, out: count. */
int fz_store_campaigns(fz_store *s, fz_campaign *out, size_t *n, fz_error *err);

#ifdef __cplusplus
}
#endif
#endif
