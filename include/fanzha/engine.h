/* fanzha/engine.h — the compiled rule pack, and the per-thread context that
 * scores messages with it.
 *
 * An fz_engine is immutable once built (rules, number classes, policy,
 * Hyperscan database) and is shared by any number of threads. Everything a
 * scan writes lives in an fz_worker, one per thread. Hot reload builds a new
 * engine and swaps the pointer (see fz_engine_slot in scan.h); engines are
 * reference-counted so in-flight scans finish on the old one. */
#ifndef FANZHA_ENGINE_H
#define FANZHA_ENGINE_H

#include <stddef.h>
#include "error.h"
#include "message.h"
#include "verdict.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_engine fz_engine;
typedef struct fz_worker fz_worker;

typedef enum fz_diag_level {
    FZ_DIAG_ERROR = 0,
    FZ_DIAG_WARNING = 1,
    FZ_DIAG_NOTE = 2
} fz_diag_level;

/* One diagnostic about the rule pack. file/rule may be NULL, line/col 0. */
typedef struct fz_diag {
    fz_diag_level level;
    const char *file;
    int line, col;
    const char *rule;
    const char *message;
} fz_diag;

typedef void (*fz_diag_fn)(void *ud, const fz_diag *d);

/* "file:line:col: rule 'id': message" for errors, with "warning: " or
 * "note: " after the position for the others (unknown parts left out). */
void fz_diag_format(const fz_diag *d, char *out, size_t cap);

typedef struct fz_engine_config {
    const char *rules_dir;  /* NULL: $FANZHA_RULES if set, else the embedded pack */
    const char *cache_dir;  /* where compiled databases are cached; NULL: no cache */
    fz_diag_fn diag;        /* optional: receives every error and warning */
    void *diag_ud;
} fz_engine_config;

/* Load, validate and compile a rule pack. On error, err names the first
 * problem as "file:line:col: rule 'id': what is wrong"; with cfg->diag set,
 * every problem is reported there as well. */
int fz_engine_new(const fz_engine_config *cfg, fz_engine **out, fz_error *err);
fz_engine *fz_engine_retain(fz_engine *e);
/* Drop a reference; the last one frees the engine. */
void fz_engine_release(fz_engine *e);

const char *fz_engine_rules_version(const fz_engine *e);
/* "embedded" or the directory the pack was read from. */
const char *fz_engine_rules_source(const fz_engine *e);
size_t fz_engine_rule_count(const fz_engine *e);
/* Time spent building the Hyperscan database (or loading it from the cache),
 * and building the whole engine (reading the pack included), in ms. */
double fz_engine_compile_ms(const fz_engine *e);
double fz_engine_load_ms(const fz_engine *e);
/* The policy's reputation half-life, in days. */
double fz_engine_half_life_days(const fz_engine *e);
/* 1 when the pack has warnings.yaml: it can warn residents. */
int fz_engine_has_warnings(const fz_engine *e);
/* 1 when the compiled database came from the cache. */
int fz_engine_from_cache(const fz_engine *e);

int fz_worker_new(fz_worker **out, fz_error *err);
void fz_worker_free(fz_worker *w);

/* Score one message. Allocates nothing once the worker and verdict have seen
 * a message as long as this one. 0, or FZ_ENOMEM / FZ_EHS. */
int fz_engine_scan(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v);

/* Convenience: score a bare text (no sender). */
int fz_engine_scan_text(const fz_engine *e, fz_worker *w, const char *text, size_t len, fz_verdict *v);

#ifdef __cplusplus
}
#endif
#endif
