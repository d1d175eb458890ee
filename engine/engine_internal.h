/* engine_internal.h — the compiled engine, the per-thread worker and the
 * verdict, as the pipeline stages see them.
 *
 * Stage files and what they own:
 *   compile.c   rule model -> Hyperscan database (+ PCRE2 fallbacks)
 *   match.c     one hs_scan per message -> bit set of raw hits, then
 *               confirmation, combinations, evidence spans
 *   extract.c   entities (URLs, phones, cards, handles, amounts)
 *   numbers.c   number classes of the sender and of callback numbers
 *   score.c     policy, score, category, action
 *   verdict.c   the verdict object and its JSON form
 *   engine.c    building an engine, workers, and fz_engine_scan (the pipeline) */
#ifndef FZ_ENGINE_INTERNAL_H
#define FZ_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <hs/hs.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "fanzha/buf.h"
#include "fanzha/engine.h"
#include "fanzha/normalize.h"
#include "fanzha/rules.h"
#include "fanzha/verdict.h"
#include "ruleset.h"
#include "signals.h"

/* Hyperscan match ids: rules use their index; entity triggers follow the
 * rules; prefiltered patterns report on a separate range so that a raw hit
 * is never mistaken for a confirmed one. */
#define FZ_ID_PREFILTER_BASE (1u << 30)
#define FZ_ID_PIECE_BASE (1u << 29)
#define FZ_ID_BOUNDED_BASE (1u << 28)

/* Entity kinds worth extracting, as reported by their Hyperscan triggers. */
enum { FZ_TRIG_URL = 0, FZ_TRIG_DIGITS, FZ_TRIG_HANDLE, FZ_TRIG_AMOUNT, FZ_TRIG_COUNT };

/* --- bit sets ------------------------------------------------------------------- */
static inline void fz_bit_set(uint64_t *b, uint32_t i) { b[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void fz_bit_clear(uint64_t *b, uint32_t i) { b[i >> 6] &= ~((uint64_t)1 << (i & 63)); }
static inline int fz_bit_test(const uint64_t *b, uint32_t i) { return (int)((b[i >> 6] >> (i & 63)) & 1); }

/* --- compiled rules --------------------------------------------------------------- */
typedef struct fz_crule {
    fz_rule_path path;
    int planned;            /* compiled through hsplan.c (byte mode, gaps split) */
    int derived;            /* a combination, or has 'not': evaluated after the scan */
    uint32_t eval_pos;      /* derived rules: position in eval_order */
    const char *id_json;    /* the id as a JSON string, quotes included */
    size_t id_json_len;
    uint32_t max_width;     /* longest match in bytes, UINT32_MAX if unbounded */
    pcre2_code *re;         /* evidence / confirmation; NULL for combinations */
    atomic_int jitted;      /* PCRE2 JIT is compiled lazily, on the first hit */
} fz_crule;

/* --- entity extraction ------------------------------------------------------------- */
typedef struct fz_extractor {
    pcre2_code *url;        /* anchored at a URL-like token */
    pcre2_code *digits;     /* anchored at a digit run: card | phone | amount */
    pcre2_code *money;      /* anchored at a currency sign */
    pcre2_code *handle;     /* scanned: starts with a contact word */
    pcre2_code *brands;     /* any brand token of domains.yaml, or NULL when there are none */
} fz_extractor;

typedef struct fz_entity {
    int kind;               /* enum fz_entity_kind */
    uint32_t off, len;      /* the value, in the verdict's string pool */
    double amount;          /* FZ_ENT_AMOUNT: value in units of currency */
} fz_entity;

#define FZ_MAX_ENTITIES 48

/* Literals of one length that stand for a rule or a piece only where a word
 * boundary holds at their start and/or end (from \b in the pattern). */
typedef struct fz_bounded {
    uint32_t target;        /* a rule index, or FZ_ID_PIECE_BASE + piece */
    uint32_t len;
    uint32_t bounds;        /* FZ_BOUND_START | FZ_BOUND_END */
} fz_bounded;

/* A pattern branch that Hyperscan sees as separate pieces. */
typedef struct fz_gapped {
    uint32_t rule;
    uint32_t first_piece, n_pieces;
    uint32_t max_width;     /* of the branch, in bytes; UINT32_MAX if unbounded */
    uint32_t src_start, src_len;    /* the branch in the rule's pattern */
    pcre2_code *re;         /* the branch alone, as written */
    atomic_int jitted;      /* JIT-compiled on first use, as rules are */
} fz_gapped;

/* --- the engine ------------------------------------------------------------------------ */
struct fz_engine {
    atomic_int refs;
    uint64_t serial;            /* distinguishes engines, for worker scratch */
    fz_ruleset *rs;
    hs_database_t *db;          /* NULL when no rule runs on Hyperscan */
    hs_database_t *trig_db;     /* the entity triggers alone, for batch scoring's first pass */
    hs_scratch_t *proto;        /* prototype scratch, cloned per worker */
    fz_crule *crules;
    uint32_t *eval_order;       /* derived rules, dependencies first */
    size_t n_eval;
    uint32_t *dep_start;        /* per signal: its dependents are dep_list[dep_start[s] .. dep_start[s+1]) */
    uint32_t *dep_list;         /* eval positions of the derived rules that a signal can make fire */
    uint32_t *pcre_only;        /* rules that PCRE2 must scan on every message */
    size_t n_pcre_only;
    uint32_t *prefiltered;      /* rules whose Hyperscan hits need confirming */
    size_t n_prefiltered;
    fz_gapped *gapped;          /* branches split at gaps: all pieces seen -> PCRE2 confirms */
    size_t n_gapped, cap_gapped;
    size_t n_pieces;
    uint32_t *piece_branch;     /* per piece: its gapped branch */
    size_t cap_piece_branch;
    fz_bounded *bounded;        /* Hyperscan ids FZ_ID_BOUNDED_BASE + i */
    size_t n_bounded, cap_bounded;
    size_t n_signals, n_words;
    fz_extractor ex;
    pthread_mutex_t jit_lock;
    char version[96];
    char version_json[112];     /* ,"rules_version":"..." */
    char **category_json;       /* each category id as a JSON string */
    char *cache_dir;            /* NULL: no database cache */
    double compile_ms;
    double load_ms;
    int from_cache;
};

/* --- the worker: everything a scan writes ------------------------------------------------ */
struct fz_worker {
    fz_norm *norm;
    hs_scratch_t *scratch;
    uint64_t scratch_serial;    /* engine the scratch was cloned for */
    pcre2_match_data *md;       /* one pair: rule evidence */
    pcre2_match_data *md_ex;    /* with groups: entity extraction */
    uint64_t *bits;             /* fired signals */
    uint64_t *cand;             /* prefilter candidates */
    size_t words_cap;
    uint32_t *ends;             /* per rule: end of its first Hyperscan match (valid when its bit is set) */
    uint32_t *span_start;       /* per rule: a span PCRE2 already found (see span_gen) */
    uint32_t *span_gen;         /* span_start/ends hold an exact span when span_gen[r] == gen */
    uint32_t gen;               /* counts scans */
    size_t ends_cap;
    uint64_t *pending;          /* derived rules to evaluate, by eval position */
    size_t pending_cap;
    uint64_t *pieces;           /* pieces of gapped branches seen by Hyperscan */
    uint64_t *branches;         /* gapped branches with a piece seen: the candidates */
    size_t branches_cap;
    uint32_t *piece_ends;       /* end of each piece's first match (valid when its bit is set) */
    size_t pieces_cap;
    uint32_t triggers;          /* entity kinds whose Hyperscan trigger fired */
};

/* --- the verdict ---------------------------------------------------------------------------- */
typedef struct fz_vhit {
    uint32_t rule;
    int has_span;
    uint32_t start, end;        /* original text offsets */
} fz_vhit;

struct fz_verdict {
    const fz_engine *engine;
    fz_action action;
    double score;
    long category;              /* index, or -1 */
    fz_vhit *hits;
    size_t n_hits, cap_hits;
    fz_entity ents[FZ_MAX_ENTITIES];
    size_t n_ents;
    fz_buf pool;                /* entity strings */
    long sender_class;          /* class index, n_classes for allowlisted, or -1 */
    double sender_score;
    long callback_class;        /* class of the riskiest callback number, or -1 */
    double callback_score;
    uint32_t entity_kinds;      /* bit per enum fz_entity_kind found */
    /* shared state (batch scoring with a store) */
    int cache;                  /* 0 no store, 1 miss, 2 hit */
    int has_reports;            /* sender_reports / callback_reports were looked up */
    double sender_reports, callback_reports;
    double state_score;         /* reputation and campaign, added to the rules' score */
    char template_hash[33];
    uint64_t campaign_recipients;   /* > 0 when the template is a campaign */
    /* the warning stage (warn.c) */
    int warn;                   /* 0: none; else fz_queue_result + 1 of the resident's warning */
    char warn_id[33];
    int warn_guardians;         /* guardians' warnings queued */
    int64_t warn_due;           /* Unix seconds */
    uint64_t *fired;
    size_t fired_cap;
};

/* compile.c */
int fz_compile(fz_engine *e, fz_diags *diags);
/* What, besides the pack, a compiled database depends on (for cache keys). */
const char *fz_compile_signature(void);
void fz_compile_free(fz_engine *e);
/* Append a gapped branch restored from the cache (its program is compiled
 * afterwards). 0 or -1. */
int fz_gapped_add(fz_engine *e, const fz_gapped *g);
/* A database holding one rule alone (for cost profiles). 0 or -1. */
int fz_compile_rule_db(const fz_engine *e, uint32_t rule, hs_database_t **db);
/* Set w->triggers from the trigger-only database (batch scoring). */
int fz_match_triggers(const fz_engine *e, fz_worker *w, const char *text, size_t len);
/* 1 when a pattern needs Hyperscan's UTF-8 mode to mean what it says. */
int fz_pattern_needs_utf8(const char *pattern);

/* match.c */
int fz_match(const fz_engine *e, fz_worker *w, const char *text, size_t len);
void fz_match_combine(const fz_engine *e, fz_worker *w);
int fz_match_evidence(const fz_engine *e, fz_worker *w, uint32_t rule, const char *text, size_t len,
                      size_t *start, size_t *end);
int fz_crule_jit(const fz_engine *e, uint32_t rule);
void fz_gapped_jit(const fz_engine *e, fz_gapped *g);

/* extract.c */
int fz_extractor_build(fz_extractor *x, const fz_ruleset *rs, fz_diags *diags);
void fz_extractor_free(fz_extractor *x);
/* Extract the entity kinds whose trigger fired (w->triggers) into v; the
 * kinds found go to v->entity_kinds. */
int fz_extract(const fz_engine *e, fz_worker *w, const char *text, size_t len, fz_verdict *v);

/* numbers.c */
typedef struct fz_number {
    char digits[24];
    size_t len;
    int international;
} fz_number;
/* Canonical form of a number as written; 0, or -1 when it is not a number. */
int fz_number_canon(const char *s, size_t n, fz_number *out);
/* Class index, rs->n_classes for the allow list, or -1. */
long fz_number_classify(const fz_ruleset *rs, const fz_number *num);
/* The class of a sender as written: a number, a name or an e-mail address. */
long fz_sender_classify(const fz_ruleset *rs, const char *s, size_t n);

/* score.c */
void fz_score(const fz_engine *e, fz_worker *w, fz_verdict *v);

/* engine.c: the stages of a scan, for batch scoring (batch.c).
 * prepare: normalize, extract every entity kind, classify numbers.
 * content: normalize again, match, combine, evidence, score.
 * cached:  normalize again, take the fired rules from a cache entry, find
 *          their evidence in this message, score. */
int fz_scan_prepare(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v);
int fz_scan_content(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v);
int fz_scan_cached(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v, const char *entry,
                   size_t len);
/* The cache entry of a verdict scored by fz_scan_content (w still holds its
 * normalized text). */
int fz_cache_entry(const fz_engine *e, const fz_worker *w, const fz_verdict *v, fz_buf *out);
/* Write x in decimal (no NUL); returns the length. */
size_t fz_format_uint(char *out, uint64_t x);
/* A new message for w: spans found for the previous one are forgotten. */
void fz_worker_next(const fz_engine *e, fz_worker *w);

/* verdict.c */
int fz_verdict_reset(fz_verdict *v, const fz_engine *e);
int fz_verdict_add_hit(fz_verdict *v, uint32_t rule, int has_span, size_t start, size_t end);
int fz_verdict_add_entity(fz_verdict *v, int kind, const char *s, size_t n, double amount);

#endif
