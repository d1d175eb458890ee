/* fanzha/rules.h — the rule maintainer's view of a compiled pack: its rules,
 * and their examples run as regression tests. */
#ifndef FANZHA_RULES_H
#define FANZHA_RULES_H

#include <stddef.h>
#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fz_rule_kind {
    FZ_RULE_LITERAL = 0,
    FZ_RULE_PATTERN = 1,
    FZ_RULE_COMBINATION = 2
} fz_rule_kind;

typedef enum fz_rule_path {
    FZ_PATH_HYPERSCAN = 0,  /* fast path */
    FZ_PATH_PREFILTER = 1,  /* Hyperscan prefilter, confirmed with PCRE2 */
    FZ_PATH_PCRE2 = 2,      /* PCRE2 alone, on every message */
    FZ_PATH_NONE = 3        /* combinations: evaluated from other rules */
} fz_rule_path;

typedef struct fz_rule_info {
    const char *id;
    const char *category;
    const char *description;   /* may be NULL */
    const char *file;
    int line, col;
    fz_rule_kind kind;
    fz_rule_path path;
    double score;
    size_t n_match_examples, n_no_match_examples;
} fz_rule_info;

/* Rule i (0 <= i < fz_engine_rule_count) or FZ_EINVAL. */
int fz_engine_rule(const fz_engine *e, size_t i, fz_rule_info *out);
/* Index of a rule id, or -1. */
long fz_engine_rule_index(const fz_engine *e, const char *id);

typedef struct fz_example_failure {
    const char *rule;
    const char *file;
    int line, col;          /* where the example is written */
    int expected_match;     /* 1: a match example that did not fire; 0: a no_match that did */
    const char *text;
    const char *normalized;
    const char *fired;      /* comma-separated ids of the rules that did fire */
} fz_example_failure;

typedef void (*fz_example_fn)(void *ud, const fz_example_failure *f);

/* Run every example of every rule through the whole engine. Reports each
 * failure to cb; returns 0 and fills the counts (or a negative code when
 * scanning itself fails). */
int fz_rules_test(const fz_engine *e, fz_example_fn cb, void *ud, size_t *passed, size_t *failed);

/* Measuring a pack against corpora. Each record may carry "label":
 * "scam" or "ham"; a message counts as flagged when its action is not allow. */
typedef struct fz_rule_stat {
    size_t hits, hits_scam, hits_ham;
} fz_rule_stat;

typedef struct fz_corpus_stats {
    size_t messages, errors;
    size_t scam, ham, unlabelled;
    size_t flagged_scam, flagged_ham;   /* suspect or block */
    size_t blocked_scam, blocked_ham;
    size_t n_rules;
    fz_rule_stat *rules;                /* indexed like fz_engine_rule */
    /* Optional: called for each labelled message the pack gets wrong (a
     * scam allowed, or a genuine message flagged), with its JSON line. */
    void (*mistake)(void *ud, const char *line, size_t len, const fz_verdict *v, int is_scam);
    void *mistake_ud;
} fz_corpus_stats;

/* Start empty statistics for e (fz_corpus_stats_free releases them); set
 * the mistake callback after this call. */
int fz_corpus_stats_init(const fz_engine *e, fz_corpus_stats *st);
void fz_corpus_stats_free(fz_corpus_stats *st);
/* Score every JSON line of a corpus and add it to st. */
int fz_corpus_stats_add(const fz_engine *e, const char *jsonl, size_t len, fz_corpus_stats *st);

/* Matching cost of each rule alone: its Hyperscan expressions compiled on
 * their own and scanned over the corpus's normalized texts. Costs do not
 * add up exactly inside the shared database, but the expensive rules stand
 * out. ns_per_kb[i] is filled for every rule (0 for combinations, -1 when
 * the rule could not be compiled alone); *whole gets the cost of the whole
 * database on the same texts. */
int fz_rules_profile(const fz_engine *e, const char *jsonl, size_t len, double *ns_per_kb, double *whole);

#ifdef __cplusplus
}
#endif
#endif
