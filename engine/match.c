/* match.c — one Hyperscan scan per message, then what Hyperscan leaves to us:
 * confirming prefilter candidates, running PCRE2-only rules, evaluating
 * combinations, and finding evidence spans.
 *
 * How it works. The scan callback only sets bits: a rule's bit, a prefilter
 * candidate's bit, or an entity trigger. Candidates are confirmed with the
 * rule's PCRE2 program. Combinations (and rules with `not`) are evaluated in
 * dependency order from the bit set — not with HS_FLAG_COMBINATION, whose
 * cost is paid on every scan. Evidence spans come from PCRE2 afterwards, and
 * only for rules that fired, which keeps SOM tracking off the hot path. */
#include <string.h>

#include "engine_internal.h"
#include "hsplan.h"

typedef struct {
    uint64_t *bits, *cand, *pieces;
    uint32_t *ends, *piece_ends;
    uint32_t n_rules;
    uint32_t *triggers;
    const fz_bounded *bounded;
    const unsigned char *text;
    size_t len;
} scan_ctx;

static inline int is_word(const unsigned char *t, size_t len, size_t i, int before)
{
    /* the character before position i (before = 1) or at it */
    if (before ? i == 0 : i >= len)
        return 0;
    unsigned char c = t[before ? i - 1 : i];
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A literal that stands for its target only at a word boundary (\b). */
static void on_bounded(scan_ctx *c, const fz_bounded *b, unsigned long long to)
{
    size_t end = (size_t)to, start = end - b->len;
    if ((b->bounds & FZ_BOUND_START) && is_word(c->text, c->len, start, 1) == is_word(c->text, c->len, start, 0))
        return;
    if ((b->bounds & FZ_BOUND_END) && is_word(c->text, c->len, end, 1) == is_word(c->text, c->len, end, 0))
        return;
    if (b->target >= FZ_ID_PIECE_BASE) {
        uint32_t p = b->target - FZ_ID_PIECE_BASE;
        if (!fz_bit_test(c->pieces, p)) {
            fz_bit_set(c->pieces, p);
            c->piece_ends[p] = (uint32_t)end;
        }
    } else if (!fz_bit_test(c->bits, b->target)) {
        fz_bit_set(c->bits, b->target);
        c->ends[b->target] = (uint32_t)end;
    }
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ud)
{
    (void)from;
    (void)flags;
    scan_ctx *c = ud;
    if (id < c->n_rules) {
        fz_bit_set(c->bits, id);
        c->ends[id] = (uint32_t)to;
    }
    else if (id >= FZ_ID_PREFILTER_BASE)
        fz_bit_set(c->cand, id - FZ_ID_PREFILTER_BASE);
    else if (id >= FZ_ID_PIECE_BASE) {
        fz_bit_set(c->pieces, id - FZ_ID_PIECE_BASE);
        c->piece_ends[id - FZ_ID_PIECE_BASE] = (uint32_t)to;
    } else if (id >= FZ_ID_BOUNDED_BASE)
        on_bounded(c, &c->bounded[id - FZ_ID_BOUNDED_BASE], to);
    else
        *c->triggers |= 1u << (id - c->n_rules);
    return 0;
}

int fz_crule_jit(const fz_engine *e, uint32_t rule)
{
    fz_crule *c = &e->crules[rule];
    if (atomic_load_explicit(&c->jitted, memory_order_acquire))
        return 0;
    /* Nobody matches with a program before it is JIT-compiled, so the
     * compile never races with a match on another thread. */
    pthread_mutex_lock((pthread_mutex_t *)&e->jit_lock);
    if (!atomic_load_explicit(&c->jitted, memory_order_relaxed)) {
        int rc = pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE);
        atomic_store_explicit(&c->jitted, rc == 0 ? 1 : 2, memory_order_release);
    }
    pthread_mutex_unlock((pthread_mutex_t *)&e->jit_lock);
    return 0;
}

/* First match of the rule's PCRE2 program at or after byte `from`. */
void fz_gapped_jit(const fz_engine *e, fz_gapped *g)
{
    if (atomic_load_explicit(&g->jitted, memory_order_acquire))
        return;
    pthread_mutex_lock((pthread_mutex_t *)&e->jit_lock);
    if (!atomic_load_explicit(&g->jitted, memory_order_relaxed)) {
        int rc = pcre2_jit_compile(g->re, PCRE2_JIT_COMPLETE);
        atomic_store_explicit(&g->jitted, rc == 0 ? 1 : 2, memory_order_release);
    }
    pthread_mutex_unlock((pthread_mutex_t *)&e->jit_lock);
}

static int pcre_find(const fz_engine *e, fz_worker *w, uint32_t rule, const char *text, size_t len,
                     size_t from, size_t *start, size_t *end)
{
    fz_crule_jit(e, rule);
    const fz_crule *c = &e->crules[rule];
    int rc = atomic_load_explicit(&c->jitted, memory_order_relaxed) == 1
                 ? pcre2_jit_match(c->re, (PCRE2_SPTR)text, len, from, 0, w->md, NULL)
                 : pcre2_match(c->re, (PCRE2_SPTR)text, len, from, PCRE2_NO_UTF_CHECK, w->md, NULL);
    if (rc < 0)
        return 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
    *start = ov[0];
    *end = ov[1];
    return 1;
}

void fz_worker_next(const fz_engine *e, fz_worker *w)
{
    if (++w->gen == 0) {                    /* wrapped: forget every span */
        memset(w->span_gen, 0, e->rs->n_rules * sizeof *w->span_gen);
        w->gen = 1;
    }
}

/* A rule PCRE2 confirmed: it fired, and its evidence is already known. */
static void confirmed(fz_worker *w, uint32_t rule, size_t start, size_t end)
{
    fz_bit_set(w->bits, rule);
    w->span_start[rule] = (uint32_t)start;
    w->ends[rule] = (uint32_t)end;
    w->span_gen[rule] = w->gen;
}

/* Move back to the start of the UTF-8 character holding byte `at`. */
static size_t char_start(const char *text, size_t at)
{
    while (at > 0 && ((unsigned char)text[at] & 0xC0) == 0x80)
        at--;
    return at;
}

/* Gapped branches with a piece seen are candidates; when all their pieces
 * were seen, PCRE2 decides with the branch alone. A match of the branch
 * holds an occurrence of every piece, each ending no earlier than that
 * piece's first match; so it ends no earlier than the latest of those, and
 * starts at most max_width before: the search starts there. */
static void confirm_gapped(const fz_engine *e, fz_worker *w, const char *text, size_t len)
{
    size_t bw = (e->n_gapped + 63) / 64;
    memset(w->branches, 0, bw * sizeof *w->branches);
    for (size_t word = 0; word < (e->n_pieces + 63) / 64; word++)
        for (uint64_t b = w->pieces[word]; b; b &= b - 1)
            fz_bit_set(w->branches, e->piece_branch[word * 64 + (size_t)__builtin_ctzll(b)]);
    for (size_t word = 0; word < bw; word++)
        for (uint64_t b = w->branches[word]; b; b &= b - 1) {
            fz_gapped *g = &e->gapped[word * 64 + (size_t)__builtin_ctzll(b)];
            if (fz_bit_test(w->bits, g->rule))
                continue;
            uint32_t latest = 0;
            int all = 1;
            for (uint32_t k = 0; all && k < g->n_pieces; k++) {
                all = fz_bit_test(w->pieces, g->first_piece + k);
                if (all && w->piece_ends[g->first_piece + k] > latest)
                    latest = w->piece_ends[g->first_piece + k];
            }
            if (!all)
                continue;
            size_t from = g->max_width != UINT32_MAX && latest > g->max_width ? char_start(text, latest - g->max_width)
                                                                               : 0;
            fz_gapped_jit(e, g);
            int found = atomic_load_explicit(&g->jitted, memory_order_relaxed) == 1
                            ? pcre2_jit_match(g->re, (PCRE2_SPTR)text, len, from, 0, w->md, NULL)
                            : pcre2_match(g->re, (PCRE2_SPTR)text, len, from, PCRE2_NO_UTF_CHECK, w->md, NULL);
            if (found >= 0) {
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
                confirmed(w, g->rule, ov[0], ov[1]);
            }
        }
}

static int on_trigger(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ud)
{
    (void)from, (void)to, (void)flags;
    *(uint32_t *)ud |= 1u << id;
    return 0;
}

int fz_match_triggers(const fz_engine *e, fz_worker *w, const char *text, size_t len)
{
    w->triggers = 0;
    return hs_scan(e->trig_db, text, (unsigned)len, 0, w->scratch, on_trigger, &w->triggers) == HS_SUCCESS ? 0
                                                                                                       : FZ_EHS;
}

int fz_match(const fz_engine *e, fz_worker *w, const char *text, size_t len)
{
    memset(w->bits, 0, e->n_words * sizeof *w->bits);
    if (e->n_prefiltered)
        memset(w->cand, 0, e->n_words * sizeof *w->cand);
    if (e->n_pieces)
        memset(w->pieces, 0, (e->n_pieces + 63) / 64 * sizeof *w->pieces);
    w->triggers = 0;
    fz_worker_next(e, w);
    scan_ctx ctx = {w->bits, w->cand, w->pieces, w->ends, w->piece_ends, (uint32_t)e->rs->n_rules, &w->triggers,
                    e->bounded, (const unsigned char *)text, len};
    if (hs_scan(e->db, text, (unsigned)len, 0, w->scratch, on_match, &ctx) != HS_SUCCESS)
        return FZ_EHS;
    size_t s, t;
    for (size_t i = 0; i < e->n_prefiltered; i++) {
        uint32_t r = e->prefiltered[i];
        if (fz_bit_test(w->cand, r) && pcre_find(e, w, r, text, len, 0, &s, &t))
            confirmed(w, r, s, t);
    }
    confirm_gapped(e, w, text, len);
    for (size_t i = 0; i < e->n_pcre_only; i++) {
        uint32_t r = e->pcre_only[i];
        if (pcre_find(e, w, r, text, len, 0, &s, &t))
            confirmed(w, r, s, t);
    }
    return 0;
}

static int any_fired(const uint64_t *bits, const fz_ref *refs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fz_bit_test(bits, refs[i].signal))
            return 1;
    return 0;
}

static int evaluate(const fz_rule *rule, uint32_t r, const uint64_t *bits)
{
    int fires;
    if (rule->kind == FZ_RK_COMBO) {
        fires = 1;
        for (size_t k = 0; fires && k < rule->n_all; k++)
            fires = fz_bit_test(bits, rule->all[k].signal);
        if (fires && rule->n_any) {
            int count = 0;
            for (size_t k = 0; k < rule->n_any && count < rule->min; k++)
                count += fz_bit_test(bits, rule->any[k].signal);
            fires = count >= rule->min;
        }
    } else {
        fires = fz_bit_test(bits, r);
    }
    return fires && !any_fired(bits, rule->not_, rule->n_not);
}

static void mark_dependents(const fz_engine *e, uint64_t *pending, uint32_t signal)
{
    for (uint32_t i = e->dep_start[signal]; i < e->dep_start[signal + 1]; i++)
        fz_bit_set(pending, e->dep_list[i]);
}

/* Evaluate the derived rules that some fired signal points at, in
 * dependency order. A rule that fires marks its own dependents, which sit
 * later in the order, so one forward sweep is enough. */
void fz_match_combine(const fz_engine *e, fz_worker *w)
{
    if (!e->n_eval)
        return;
    size_t pw = (e->n_eval + 63) / 64;
    uint64_t *pending = w->pending;
    memset(pending, 0, pw * sizeof *pending);
    for (size_t word = 0; word < e->n_words; word++)
        for (uint64_t b = w->bits[word]; b; b &= b - 1)
            mark_dependents(e, pending, (uint32_t)(word * 64 + (size_t)__builtin_ctzll(b)));
    const fz_rule *rules = e->rs->rules;
    for (size_t word = 0; word < pw; word++) {
        while (pending[word]) {
            uint32_t pos = (uint32_t)(word * 64 + (size_t)__builtin_ctzll(pending[word]));
            pending[word] &= pending[word] - 1;
            uint32_t r = e->eval_order[pos];
            if (evaluate(&rules[r], r, w->bits)) {
                if (!fz_bit_test(w->bits, r)) {
                    fz_bit_set(w->bits, r);
                    mark_dependents(e, pending, r);
                }
            } else {
                fz_bit_clear(w->bits, r);
            }
        }
    }
}

int fz_match_evidence(const fz_engine *e, fz_worker *w, uint32_t rule, const char *text, size_t len,
                      size_t *start, size_t *end)
{
    const fz_crule *c = &e->crules[rule];
    if (!c->re)
        return 0;
    if (w->span_gen[rule] == w->gen) {
        *start = w->span_start[rule];
        *end = w->ends[rule];
        return 1;
    }
    /* Hyperscan said where the first match ends; a match is at most
     * max_width long, so the search can start that far back (on a
     * character boundary). Slow-path rules search from the start. */
    size_t from = 0;
    if (c->path == FZ_PATH_HYPERSCAN && c->max_width != UINT32_MAX && w->ends[rule] <= len) {
        size_t stop = w->ends[rule];
        from = stop > c->max_width ? char_start(text, stop - c->max_width) : 0;
    }
    int found = pcre_find(e, w, rule, text, len, from, start, end) ||
                (from > 0 && pcre_find(e, w, rule, text, len, 0, start, end));
    if (found) {
        /* remembered: the verdict cache stores each rule's evidence */
        w->span_start[rule] = (uint32_t)*start;
        w->ends[rule] = (uint32_t)*end;
        w->span_gen[rule] = w->gen;
    }
    return found;
}
