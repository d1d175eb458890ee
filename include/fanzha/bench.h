/* fanzha/bench.h — the measurement harness behind `fanzha bench`.
 *
 * One run, same messages, several paths: the whole `scan` stream (reader,
 * parse, normalize, match, extract, score, JSON out, ordered writer), each
 * stage alone, bare hs_scan over the normalized texts with the engine's own
 * database, and a PCRE2-JIT loop over the same rules. Benchmarks report;
 * tests never assert times. */
#ifndef FANZHA_BENCH_H
#define FANZHA_BENCH_H

#include <stddef.h>
#include "buf.h"
#include "engine.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_bench_options {
    int threads;            /* for the stream and the Hyperscan / PCRE2 loops */
    size_t messages;        /* messages to push through the stream (corpus repeated) */
    double pcre_seconds;    /* time budget of the (slow) PCRE2 loop */
    fz_store *store;        /* state for the stream (NULL: none) */
} fz_bench_options;

typedef struct fz_bench_result {
    size_t corpus_messages;
    double avg_text_bytes;
    int threads;
    /* messages per second, all threads together */
    double stream_mps;      /* fz_scan_stream: memory file in, /dev/null out */
    double hs_mps;          /* bare hs_scan over normalized texts */
    double pcre_mps;        /* PCRE2 JIT, every literal and pattern rule, per message */
    /* nanoseconds per message on one thread, stage by stage */
    double parse_ns, normalize_ns, match_ns, scan_ns, emit_ns;
    size_t rules_scanned_by_pcre;
    double cache_hit_rate;  /* with a store: hits / (hits + misses) in the stream */
    uint64_t degraded;      /* with a store: messages scored without state */
} fz_bench_result;

/* Generate n SMS-like JSON lines (scams and genuine notices from templates
 * with random fills), deterministic for a seed. A fraction `repeat` of them
 * repeat an earlier text exactly, to another recipient (as bulk campaigns
 * do); the others are variants. */
int fz_bench_generate(size_t n, unsigned seed, double repeat, fz_buf *out);

/* Measure on a JSON Lines corpus. 0 or a negative code (err says why). */
int fz_bench_run(fz_engine *e, const char *jsonl, size_t len, const fz_bench_options *o,
                 fz_bench_result *r, fz_error *err);

#ifdef __cplusplus
}
#endif
#endif
