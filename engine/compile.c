/* compile.c — from the rule model to one Hyperscan block-mode database,
 * with PCRE2 where Hyperscan cannot go.
 *
 * How it works. Every literal string and every pattern becomes a Hyperscan
 * expression whose id is its rule's index, compiled with SINGLEMATCH (one
 * report per rule per message is all scoring needs) and CASELESS; UTF-8 mode
 * only for patterns whose meaning depends on it (fz_pattern_needs_utf8). A
 * few trigger expressions tell extraction which entity kinds are worth
 * looking for. When Hyperscan rejects a pattern, the compile is retried with
 * that pattern in PREFILTER mode (Hyperscan finds candidates, PCRE2 confirms);
 * when even that fails, the rule runs on PCRE2 alone. Both cases are reported
 * as warnings so that `fanzha rules check` can name the slow rules.
 *
 * Every literal and pattern rule also gets a PCRE2 program, used to confirm
 * prefilter hits and to find evidence spans for the rules that fired; it is
 * JIT-compiled on first use (match.c). Combinations and rules with `not` are
 * ordered so that each is evaluated after everything it refers to. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"
#include <xxhash.h>

#include "dbcache.h"
#include "hsplan.h"

/* Entity triggers: cheap Hyperscan expressions that gate PCRE2 extraction. */
static const char *const k_triggers[FZ_TRIG_COUNT] = {
    [FZ_TRIG_URL] = "(?:https?://|www\\.|[a-z0-9-]\\.[a-z]{2})",
    [FZ_TRIG_DIGITS] = "(?:\\d{3}[- ]?\\d{2}|\\+\\d{2})",
    [FZ_TRIG_HANDLE] = "(?:qq|扣扣|企鹅|微信|薇信|威信|v信|vx|wx|wechat|telegram|whatsapp|飞机号|v\\s?[:：])",
    [FZ_TRIG_AMOUNT] = "(?:\\d\\s?(?:元|万|块|千|百|rmb|usd|美元)|[¥$€£]|人民币|rmb)",
};

/* Bump when the way patterns become expressions changes (hsplan.c, the
 * expansion, flags): cached databases from before must not be used. */
#define COMPILER_REVISION 6

const char *fz_compile_signature(void)
{
    static char sig[40];
    if (!sig[0]) {
        XXH64_state_t *st = XXH64_createState();
        if (!st)
            return "unknown";
        XXH64_reset(st, COMPILER_REVISION);
        for (int t = 0; t < FZ_TRIG_COUNT; t++)
            XXH64_update(st, k_triggers[t], strlen(k_triggers[t]) + 1);
        snprintf(sig, sizeof sig, "%d-%016llx", COMPILER_REVISION, (unsigned long long)XXH64_digest(st));
        XXH64_freeState(st);
    }
    return sig;
}

int fz_pattern_needs_utf8(const char *p)
{
    int in_class = 0, prev_multibyte = 0;
    for (const unsigned char *s = (const unsigned char *)p; *s; s++) {
        unsigned char c = *s;
        if (c >= 0x80) {
            if (in_class)
                return 1;
            /* Skip the rest of the character; remember it for quantifiers. */
            while ((s[1] & 0xC0) == 0x80)
                s++;
            prev_multibyte = 1;
            continue;
        }
        if (c == '\\' && s[1]) {
            s++;
            if (strchr("SWDHVhvNXRpPC", *s))
                return 1;
            if (*s == 'x' && s[1] == '{')
                return 1;
            prev_multibyte = 0;
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = 0;
            continue;
        }
        if (c == '[') {
            if (s[1] == '^')
                return 1;
            in_class = 1;
            if (s[1] == ']')
                s++;
            prev_multibyte = 0;
            continue;
        }
        if (c == '.')
            return 1;
        if ((c == '?' || c == '*' || c == '+' || c == '{') && prev_multibyte)
            return 1;
        prev_multibyte = 0;
    }
    return 0;
}

/* Escape a literal for Hyperscan and PCRE2: every ASCII character that is
 * not a letter or digit gets a backslash, control characters a \x escape. */
static int escape_literal(fz_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        if (*p >= 0x80 || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            tmp[0] = (char)*p;
            tmp[1] = '\0';
        } else if (*p < 0x20 || *p == 0x7F) {
            snprintf(tmp, sizeof tmp, "\\x%02x", *p);
        } else {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            tmp[2] = '\0';
        }
        if (fz_buf_puts(b, tmp))
            return -1;
    }
    return 0;
}

/* --- the expression list --------------------------------------------------------- */

typedef struct {
    char **exprs;
    unsigned *flags, *ids;
    uint32_t *rule;         /* owning rule, or UINT32_MAX for triggers */
    size_t n, cap;
} expr_list;

static int expr_push(expr_list *l, char *expr, unsigned flags, unsigned id, uint32_t rule)
{
    if (!expr)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **e = realloc(l->exprs, cap * sizeof *e);
        if (e) l->exprs = e;
        unsigned *f = realloc(l->flags, cap * sizeof *f);
        if (f) l->flags = f;
        unsigned *i = realloc(l->ids, cap * sizeof *i);
        if (i) l->ids = i;
        uint32_t *r = realloc(l->rule, cap * sizeof *r);
        if (r) l->rule = r;
        if (!e || !f || !i || !r) {
            free(expr);
            return -1;
        }
        l->cap = cap;
    }
    l->exprs[l->n] = expr;
    l->flags[l->n] = flags;
    l->ids[l->n] = id;
    l->rule[l->n] = rule;
    l->n++;
    return 0;
}

static void expr_free(expr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->exprs[i]);
    free(l->exprs);
    free(l->flags);
    free(l->ids);
    free(l->rule);
}

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A literal as a regex; with `word`, \b on each side that is a word
 * character (so "ups" no longer matches in "groups"). */
static int literal_regex(fz_buf *b, const char *lit, int word)
{
    size_t n = strlen(lit);
    int lb = word && n && is_word_byte((unsigned char)lit[0]);
    int rb = word && n && is_word_byte((unsigned char)lit[n - 1]);
    return (lb && fz_buf_puts(b, "\\b")) || escape_literal(b, lit) || (rb && fz_buf_puts(b, "\\b"));
}

static char *literal_expr(const char *lit)
{
    fz_buf b = FZ_BUF_INIT;
    if (escape_literal(&b, lit)) {
        fz_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static unsigned pattern_flags(const char *pattern)
{
    return HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS | HS_FLAG_DOTALL |
           (fz_pattern_needs_utf8(pattern) ? HS_FLAG_UTF8 : 0);
}

/* 1 when Hyperscan accepts the piece and it cannot match an empty string
 * (such a piece says nothing about whether the branch is present). */
static int useful_piece(const char *piece)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *err = NULL;
    int ok = hs_expression_info(piece, pattern_flags(piece) & ~HS_FLAG_SINGLEMATCH, &info, &err) == HS_SUCCESS &&
             info->min_width > 0;
    free(info);
    hs_free_compile_error(err);
    return ok;
}

static uint32_t width_of(const char *pattern)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *err = NULL;
    uint32_t w = UINT32_MAX;
    if (hs_expression_info(pattern, pattern_flags(pattern) & ~HS_FLAG_SINGLEMATCH, &info, &err) == HS_SUCCESS &&
        info->max_width != UINT_MAX)
        w = info->max_width;
    free(info);
    hs_free_compile_error(err);
    return w;
}

/* A gapped branch: its pieces are numbered first .. first + n - 1; PCRE2
 * confirms it with the branch alone, as written (the pattern's bytes
 * src_start .. src_start + src_len); the program is compiled later, for
 * fresh and cached databases alike. */
static int push_gapped(fz_engine *e, uint32_t rule, uint32_t first, uint32_t n, size_t src_start, size_t src_len)
{
    if (e->n_gapped == e->cap_gapped) {
        size_t cap = e->cap_gapped ? e->cap_gapped * 2 : 64;
        fz_gapped *g = realloc(e->gapped, cap * sizeof *g);
        if (!g)
            return -1;
        e->gapped = g;
        e->cap_gapped = cap;
    }
    char *branch = strndup(e->rs->rules[rule].pattern + src_start, src_len);
    if (!branch)
        return -1;
    uint32_t width = width_of(branch);
    free(branch);
    fz_gapped *g = &e->gapped[e->n_gapped++];
    memset(g, 0, sizeof *g);
    *g = (fz_gapped){.rule = rule, .first_piece = first, .n_pieces = n, .max_width = width,
                     .src_start = (uint32_t)src_start, .src_len = (uint32_t)src_len};
    return 0;
}

int fz_gapped_add(fz_engine *e, const fz_gapped *g)
{
    if (e->n_gapped == e->cap_gapped) {
        size_t cap = e->cap_gapped ? e->cap_gapped * 2 : 64;
        fz_gapped *ng = realloc(e->gapped, cap * sizeof *ng);
        if (!ng)
            return -1;
        e->gapped = ng;
        e->cap_gapped = cap;
    }
    fz_gapped *dst = &e->gapped[e->n_gapped++];
    memset(dst, 0, sizeof *dst);
    *dst = (fz_gapped){.rule = g->rule, .first_piece = g->first_piece, .n_pieces = g->n_pieces,
                       .max_width = g->max_width, .src_start = g->src_start, .src_len = g->src_len};
    return 0;
}

/* PCRE2 programs for the gapped branches, and the piece -> branch map. */
static int finish_gapped(fz_engine *e, fz_diags *diags)
{
    size_t cap = e->n_pieces ? e->n_pieces : 1;
    free(e->piece_branch);
    if (!(e->piece_branch = calloc(cap, sizeof *e->piece_branch)))
        return FZ_ENOMEM;
    e->cap_piece_branch = cap;
    for (size_t i = 0; i < e->n_gapped; i++) {
        fz_gapped *g = &e->gapped[i];
        const fz_rule *r = &e->rs->rules[g->rule];
        if (g->first_piece + g->n_pieces > e->n_pieces || g->src_start + g->src_len > strlen(r->pattern))
            return FZ_EINVAL;
        for (uint32_t k = g->first_piece; k < g->first_piece + g->n_pieces; k++)
            e->piece_branch[k] = (uint32_t)i;
        int errcode;
        PCRE2_SIZE off;
        g->re = pcre2_compile((PCRE2_SPTR)(r->pattern + g->src_start), g->src_len,
                              PCRE2_UTF | PCRE2_CASELESS | PCRE2_DOTALL, &errcode, &off, NULL);
        if (!g->re) {
            fz_diag_emit(diags, FZ_DIAG_ERROR, r->pos.file, r->pos.line, r->pos.col, r->id,
                         "a branch of this pattern does not compile on its own");
            return FZ_ERULES;
        }
    }
    return 0;
}

static void free_gapped(fz_engine *e)
{
    for (size_t i = 0; i < e->n_gapped; i++)
        pcre2_code_free(e->gapped[i].re);
    e->n_gapped = 0;
    e->n_pieces = 0;
}

#define EXPAND_LIMIT 256

/* The id under which literals of length `len` report `target` after their
 * word boundaries are checked (one id per target, length and boundaries). */
static int bounded_id(fz_engine *e, uint32_t target, size_t len, int bounds, unsigned *id)
{
    for (size_t i = 0; i < e->n_bounded; i++)
        if (e->bounded[i].target == target && e->bounded[i].len == len && (int)e->bounded[i].bounds == bounds) {
            *id = FZ_ID_BOUNDED_BASE + (unsigned)i;
            return 0;
        }
    if (e->n_bounded == e->cap_bounded) {
        size_t cap = e->cap_bounded ? e->cap_bounded * 2 : 64;
        fz_bounded *b = realloc(e->bounded, cap * sizeof *b);
        if (!b)
            return -1;
        e->bounded = b;
        e->cap_bounded = cap;
    }
    e->bounded[e->n_bounded] = (fz_bounded){target, (uint32_t)len, (uint32_t)bounds};
    *id = FZ_ID_BOUNDED_BASE + (unsigned)e->n_bounded++;
    return 0;
}

/* One expression of a plan: as literals when it matches a finite set of
 * strings (cheap for Hyperscan), else as the rewritten regex. Literals that
 * need a word boundary report through a bounded id and are checked in the
 * match callback; they cannot be SINGLEMATCH, since a later occurrence may
 * pass the check where the first did not. */
static int push_planned(fz_engine *e, expr_list *l, const char *expr, unsigned id, uint32_t rule)
{
    char **strs;
    size_t *lens, n;
    int bounds;
    if (fz_hs_expand(expr, EXPAND_LIMIT, &strs, &lens, &n, &bounds))
        return expr_push(l, strdup(expr), pattern_flags(expr), id, rule);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned lit_id = id, flags = HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS;
        if (bounds) {
            rc = rc || bounded_id(e, id, lens[i], bounds, &lit_id);
            flags = HS_FLAG_CASELESS;
        }
        if (!rc)
            rc = expr_push(l, literal_expr(strs[i]), flags, lit_id, rule);
        free(strs[i]);
    }
    free(strs);
    free(lens);
    return rc;
}

/* The expressions of a planned pattern rule (hsplan.c): its exact branches
 * report the rule itself; the pieces of its gapped branches report pieces.
 * Returns 1 when the plan is unusable (a gapped branch with no useful piece
 * could never be found), so the rule is compiled whole instead. */
static int plan_rule(fz_engine *e, expr_list *l, uint32_t r)
{
    fz_hs_plan plan;
    if (fz_hs_plan_pattern(e->rs->rules[r].pattern, &plan))
        return -1;
    int rc = 0;
    size_t mark_n = l->n, mark_g = e->n_gapped, mark_p = e->n_pieces, mark_b = e->n_bounded;
    for (size_t b = 0; b < plan.n && !rc; b++) {
        const fz_hs_branch *br = &plan.branches[b];
        if (!br->gapped) {
            if (br->n_pieces == 1)
                rc = push_planned(e, l, br->pieces[0], r, r);
            else
                rc = 1;         /* an empty branch: the pattern can match nothing */
            continue;
        }
        uint32_t first = (uint32_t)e->n_pieces, kept = 0;
        for (size_t k = 0; k < br->n_pieces && !rc; k++) {
            if (!useful_piece(br->pieces[k]))
                continue;
            rc = push_planned(e, l, br->pieces[k], FZ_ID_PIECE_BASE + (unsigned)e->n_pieces, r);
            e->n_pieces++;
            kept++;
        }
        if (!rc)
            rc = kept ? push_gapped(e, r, first, kept, br->src_start, br->src_len) : 1;
    }
    fz_hs_plan_free(&plan);
    if (rc) {
        /* Undo this rule's part: it goes in whole. */
        while (l->n > mark_n)
            free(l->exprs[--l->n]);
        while (e->n_gapped > mark_g)
            pcre2_code_free(e->gapped[--e->n_gapped].re);
        e->n_pieces = mark_p;
        e->n_bounded = mark_b;
    }
    return rc;
}

/* All expressions of the database. Also (re)builds the engine's list of
 * gapped branches, whose piece numbers the database refers to. */
static int build_exprs(fz_engine *e, expr_list *l)
{
    const fz_ruleset *rs = e->rs;
    const unsigned base = HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS;
    free_gapped(e);
    e->n_bounded = 0;
    for (uint32_t r = 0; r < rs->n_rules; r++) {
        const fz_rule *rule = &rs->rules[r];
        fz_crule *c = &e->crules[r];
        if (rule->kind == FZ_RK_LITERAL) {
            for (size_t i = 0; i < rule->n_literals; i++) {
                if (!rule->word) {
                    if (expr_push(l, literal_expr(rule->literals[i]), base, r, r))
                        return -1;
                    continue;
                }
                fz_buf b = FZ_BUF_INIT;
                int bad = literal_regex(&b, rule->literals[i], 1) || push_planned(e, l, b.data, r, r);
                fz_buf_free(&b);
                if (bad)
                    return -1;
            }
        } else if (rule->kind == FZ_RK_PATTERN && c->path != FZ_PATH_PCRE2) {
            if (c->planned && c->path == FZ_PATH_HYPERSCAN) {
                int prc = plan_rule(e, l, r);
                if (prc < 0)
                    return -1;
                if (prc == 0)
                    continue;
                c->planned = 0;
            }
            unsigned flags = pattern_flags(rule->pattern);
            unsigned id = r;
            if (c->path == FZ_PATH_PREFILTER) {
                flags |= HS_FLAG_PREFILTER;
                id = FZ_ID_PREFILTER_BASE + r;
            }
            if (expr_push(l, strdup(rule->pattern), flags, id, r))
                return -1;
        }
    }
    for (int t = 0; t < FZ_TRIG_COUNT; t++)
        if (expr_push(l, strdup(k_triggers[t]), pattern_flags(k_triggers[t]), (unsigned)(rs->n_rules + (size_t)t),
                      UINT32_MAX))
            return -1;
    return 0;
}

int fz_compile_rule_db(const fz_engine *e, uint32_t rule, hs_database_t **db)
{
    expr_list l = {0};
    const fz_rule *r = &e->rs->rules[rule];
    const unsigned base = HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS;
    int rc = 0;
    if (r->kind == FZ_RK_LITERAL) {
        for (size_t i = 0; i < r->n_literals && !rc; i++)
            rc = expr_push(&l, literal_expr(r->literals[i]), base, 0, rule);
    } else if (r->kind == FZ_RK_PATTERN) {
        unsigned flags = pattern_flags(r->pattern);
        if (e->crules[rule].path == FZ_PATH_PREFILTER)
            flags |= HS_FLAG_PREFILTER;
        rc = e->crules[rule].path == FZ_PATH_PCRE2 ? -1 : expr_push(&l, strdup(r->pattern), flags, 0, rule);
    }
    hs_compile_error_t *err = NULL;
    if (!rc && l.n)
        rc = hs_compile_multi((const char *const *)l.exprs, l.flags, l.ids, (unsigned)l.n, HS_MODE_BLOCK, NULL, db,
                              &err) == HS_SUCCESS ? 0 : -1;
    else
        rc = -1;
    hs_free_compile_error(err);
    expr_free(&l);
    return rc;
}

/* Compile, demoting each pattern Hyperscan rejects one step (to prefilter,
 * then to PCRE2 alone) and retrying, until the database builds. */
static int compile_hs(fz_engine *e, fz_diags *diags)
{
    const fz_ruleset *rs = e->rs;
    for (;;) {
        expr_list l = {0};
        if (build_exprs(e, &l)) {
            expr_free(&l);
            fz_diag_emit(diags, FZ_DIAG_ERROR, NULL, 0, 0, NULL, "out of memory building expressions");
            return FZ_ENOMEM;
        }
        hs_compile_error_t *err = NULL;
        hs_error_t rc = hs_compile_multi((const char *const *)l.exprs, l.flags, l.ids, (unsigned)l.n,
                                         HS_MODE_BLOCK, NULL, &e->db, &err);
        if (rc == HS_SUCCESS) {
            expr_free(&l);
            return 0;
        }
        int idx = err ? err->expression : -1;
        uint32_t r = idx >= 0 && (size_t)idx < l.n ? l.rule[idx] : UINT32_MAX;
        char msg[256];
        snprintf(msg, sizeof msg, "%s", err && err->message ? err->message : "unknown Hyperscan error");
        hs_free_compile_error(err);
        expr_free(&l);
        if (r == UINT32_MAX || rs->rules[r].kind != FZ_RK_PATTERN) {
            const fz_rule *rule = r == UINT32_MAX ? NULL : &rs->rules[r];
            fz_diag_emit(diags, FZ_DIAG_ERROR, rule ? rule->pos.file : NULL, rule ? rule->pos.line : 0,
                         rule ? rule->pos.col : 0, rule ? rule->id : NULL, "Hyperscan cannot compile: %s", msg);
            return FZ_EHS;
        }
        const fz_rule *rule = &rs->rules[r];
        fz_crule *c = &e->crules[r];
        if (c->planned) {
            c->planned = 0;         /* first, try the pattern as written */
            continue;
        }
        c->path = c->path == FZ_PATH_HYPERSCAN ? FZ_PATH_PREFILTER : FZ_PATH_PCRE2;
        fz_diag_emit(diags, FZ_DIAG_WARNING, rule->pattern_pos.file, rule->pattern_pos.line, rule->pattern_pos.col,
                     rule->id, "slow path: %s (Hyperscan: %s)",
                     c->path == FZ_PATH_PREFILTER ? "Hyperscan prefilter, confirmed by PCRE2"
                                                  : "PCRE2 alone, on every message", msg);
    }
}

/* --- PCRE2 programs and evaluation order ---------------------------------------------- */

static pcre2_code *pcre_for_rule(const fz_rule *r)
{
    fz_buf b = FZ_BUF_INIT;
    if (r->kind == FZ_RK_PATTERN) {
        if (fz_buf_puts(&b, r->pattern))
            return NULL;
    } else {
        for (size_t i = 0; i < r->n_literals; i++)
            if ((i && fz_buf_puts(&b, "|")) || literal_regex(&b, r->literals[i], r->word)) {
                fz_buf_free(&b);
                return NULL;
            }
    }
    int errcode;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)b.data, b.len, PCRE2_UTF | PCRE2_CASELESS | PCRE2_DOTALL,
                                   &errcode, &off, NULL);
    fz_buf_free(&b);
    return re;
}

static void order_derived(fz_engine *e, uint32_t r, unsigned char *state)
{
    if (state[r])
        return;
    state[r] = 1;
    const fz_rule *rule = &e->rs->rules[r];
    const fz_ref *lists[3] = {rule->all, rule->any, rule->not_};
    size_t counts[3] = {rule->n_all, rule->n_any, rule->n_not};
    for (int l = 0; l < 3; l++)
        for (size_t k = 0; k < counts[l]; k++)
            if (lists[l][k].signal < e->rs->n_rules)
                order_derived(e, lists[l][k].signal, state);
    if (e->crules[r].derived)
        e->eval_order[e->n_eval++] = r;
}

/* Longest match of a rule, in bytes: it bounds where evidence can start
 * before the end offset Hyperscan reported. */
static uint32_t rule_max_width(const fz_rule *r)
{
    if (r->kind == FZ_RK_LITERAL) {
        size_t w = 0;
        for (size_t i = 0; i < r->n_literals; i++)
            if (strlen(r->literals[i]) > w)
                w = strlen(r->literals[i]);
        return (uint32_t)w;
    }
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *err = NULL;
    unsigned flags = HS_FLAG_CASELESS | HS_FLAG_DOTALL | (fz_pattern_needs_utf8(r->pattern) ? HS_FLAG_UTF8 : 0);
    uint32_t w = UINT32_MAX;
    if (hs_expression_info(r->pattern, flags, &info, &err) == HS_SUCCESS && info->max_width != UINT_MAX)
        w = info->max_width;
    free(info);
    hs_free_compile_error(err);
    return w;
}

/* For each signal, the derived rules it can make fire: the combinations
 * that list it under all/any, and a rule with `not` for its own hit. A
 * message only evaluates the derived rules some fired signal points at. */
static int build_dependents(fz_engine *e)
{
    const fz_ruleset *rs = e->rs;
    size_t ns = fz_signal_count(rs), total = 0;
    e->dep_start = calloc(ns + 1, sizeof *e->dep_start);
    if (!e->dep_start)
        return FZ_ENOMEM;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t *fill = pass ? calloc(ns + 1, sizeof *fill) : NULL;
        if (pass && !fill)
            return FZ_ENOMEM;
        for (size_t k = 0; k < e->n_eval; k++) {
            uint32_t r = e->eval_order[k];
            const fz_rule *rule = &rs->rules[r];
            const fz_ref *lists[2] = {rule->all, rule->any};
            size_t counts[2] = {rule->n_all, rule->n_any};
            for (int l = 0; l < 2; l++)
                for (size_t i = 0; i < counts[l]; i++) {
                    uint32_t s = lists[l][i].signal;
                    if (pass)
                        e->dep_list[e->dep_start[s] + fill[s]++] = (uint32_t)k;
                    else
                        e->dep_start[s + 1]++, total++;
                }
            if (rule->kind != FZ_RK_COMBO) {
                if (pass)
                    e->dep_list[e->dep_start[r] + fill[r]++] = (uint32_t)k;
                else
                    e->dep_start[r + 1]++, total++;
            }
        }
        if (!pass) {
            for (size_t s = 0; s < ns; s++)
                e->dep_start[s + 1] += e->dep_start[s];
            if (!(e->dep_list = calloc(total ? total : 1, sizeof *e->dep_list)))
                return FZ_ENOMEM;
        }
        free(fill);
    }
    return 0;
}

static int prepare_rules(fz_engine *e, fz_diags *diags)
{
    const fz_ruleset *rs = e->rs;
    size_t n = rs->n_rules;
    e->crules = calloc(n ? n : 1, sizeof *e->crules);
    e->eval_order = calloc(n ? n : 1, sizeof *e->eval_order);
    e->pcre_only = calloc(n ? n : 1, sizeof *e->pcre_only);
    e->prefiltered = calloc(n ? n : 1, sizeof *e->prefiltered);
    unsigned char *state = calloc(n ? n : 1, 1);
    if (!e->crules || !e->eval_order || !e->pcre_only || !e->prefiltered || !state) {
        free(state);
        return FZ_ENOMEM;
    }
    for (size_t r = 0; r < n; r++) {
        const fz_rule *rule = &rs->rules[r];
        fz_crule *c = &e->crules[r];
        c->derived = rule->kind == FZ_RK_COMBO || rule->n_not > 0;
        c->path = rule->kind == FZ_RK_COMBO ? FZ_PATH_NONE : FZ_PATH_HYPERSCAN;
        c->planned = rule->kind == FZ_RK_PATTERN;
        if (rule->kind != FZ_RK_COMBO && !(c->re = pcre_for_rule(rule))) {
            fz_diag_emit(diags, FZ_DIAG_ERROR, rule->pos.file, rule->pos.line, rule->pos.col, rule->id,
                         "PCRE2 cannot compile this rule");
            free(state);
            return FZ_ERULES;
        }
    }
    for (uint32_t r = 0; r < n; r++)
        order_derived(e, r, state);
    free(state);
    for (size_t k = 0; k < e->n_eval; k++)
        e->crules[e->eval_order[k]].eval_pos = (uint32_t)k;
    return build_dependents(e);
}

/* Each rule's longest match, for evidence windows (cached with the database:
 * Hyperscan's expression analysis is the slowest part of a load). */
static void compute_widths(fz_engine *e)
{
    for (size_t r = 0; r < e->rs->n_rules; r++) {
        const fz_rule *rule = &e->rs->rules[r];
        e->crules[r].max_width = rule->kind == FZ_RK_COMBO ? 0 : rule_max_width(rule);
    }
}

static void list_slow_paths(fz_engine *e)
{
    for (uint32_t r = 0; r < e->rs->n_rules; r++) {
        if (e->crules[r].path == FZ_PATH_PCRE2)
            e->pcre_only[e->n_pcre_only++] = r;
        else if (e->crules[r].path == FZ_PATH_PREFILTER)
            e->prefiltered[e->n_prefiltered++] = r;
    }
}

/* The entity triggers alone: batch scoring extracts entities before it
 * knows whether the full scan is needed, and gates extraction with these. */
static int compile_triggers(fz_engine *e, fz_diags *diags)
{
    const char *exprs[FZ_TRIG_COUNT];
    unsigned flags[FZ_TRIG_COUNT], ids[FZ_TRIG_COUNT];
    for (int t = 0; t < FZ_TRIG_COUNT; t++) {
        exprs[t] = k_triggers[t];
        flags[t] = pattern_flags(k_triggers[t]);
        ids[t] = (unsigned)t;
    }
    hs_compile_error_t *err = NULL;
    if (hs_compile_multi(exprs, flags, ids, FZ_TRIG_COUNT, HS_MODE_BLOCK, NULL, &e->trig_db, &err) != HS_SUCCESS) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, NULL, 0, 0, NULL, "Hyperscan cannot compile the entity triggers: %s",
                     err && err->message ? err->message : "?");
        hs_free_compile_error(err);
        return -1;
    }
    return 0;
}

int fz_compile(fz_engine *e, fz_diags *diags)
{
    if (hs_valid_platform() != HS_SUCCESS) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, NULL, 0, 0, NULL, "this CPU cannot run Hyperscan (SSSE3 is required)");
        return FZ_EPLATFORM;
    }
    int rc = prepare_rules(e, diags);
    if (rc)
        return rc;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* A cache hit restores the database with everything the compile
     * decided: paths, widths, gapped branches, bounded literals. */
    if (fz_dbcache_load(e, diags) != 0) {
        compute_widths(e);
        rc = compile_hs(e, diags);
        if (rc)
            return rc;
        fz_dbcache_store(e, diags);
    }
    if ((rc = finish_gapped(e, diags)))
        return rc;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    e->compile_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    list_slow_paths(e);
    e->n_signals = fz_signal_count(e->rs);
    e->n_words = (e->n_signals + 63) / 64;
    if (compile_triggers(e, diags))
        return FZ_EHS;
    /* One scratch serves both databases (Hyperscan grows it to fit). */
    if (hs_alloc_scratch(e->db, &e->proto) != HS_SUCCESS || hs_alloc_scratch(e->trig_db, &e->proto) != HS_SUCCESS) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, NULL, 0, 0, NULL, "cannot allocate Hyperscan scratch");
        return FZ_ENOMEM;
    }
    return 0;
}

void fz_compile_free(fz_engine *e)
{
    if (e->crules)
        for (size_t r = 0; r < e->rs->n_rules; r++)
            pcre2_code_free(e->crules[r].re);
    free(e->crules);
    free(e->eval_order);
    free(e->dep_start);
    free(e->dep_list);
    free_gapped(e);
    free(e->gapped);
    free(e->piece_branch);
    free(e->bounded);
    free(e->pcre_only);
    free(e->prefiltered);
    hs_free_scratch(e->proto);
    hs_free_database(e->db);
    hs_free_database(e->trig_db);
}
