/* engine.c — building an engine from a rule pack, per-thread workers, and
 * fz_engine_scan: the pipeline for one message.
 *
 *   normalize -> match (Hyperscan, + PCRE2 confirmations) -> number classes
 *   -> extract (only the entity kinds Hyperscan saw a trigger for)
 *   -> combinations -> evidence for the rules that fired -> score
 *
 * An engine is immutable after fz_engine_new and reference-counted, so a hot
 * reload can swap engines while scans finish on the old one. A worker holds
 * everything a scan writes; it follows whichever engine it is handed,
 * re-cloning its Hyperscan scratch when the engine changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "engine_internal.h"
#include "json_out.h"
#include "normalize_internal.h"

static atomic_ullong g_serial;

const char *fz_version(void)
{
    return FZ_VERSION;
}

static void engine_free(fz_engine *e)
{
    if (!e)
        return;
    if (e->category_json)
        for (size_t i = 0; i < e->rs->n_categories; i++)
            free(e->category_json[i]);
    free(e->category_json);
    if (e->rs)
        fz_compile_free(e);
    fz_extractor_free(&e->ex);
    pthread_mutex_destroy(&e->jit_lock);
    fz_ruleset_free(e->rs);
    free(e->cache_dir);
    free(e);
}

/* Names that every verdict writes are escaped once, here. */
static int prepare_json(fz_engine *e)
{
    fz_buf b = FZ_BUF_INIT;
    fz_ruleset *rs = e->rs;
    for (size_t r = 0; r < rs->n_rules; r++) {
        fz_buf_clear(&b);
        if (fz_json_str(&b, rs->rules[r].id, strlen(rs->rules[r].id)))
            goto fail;
        e->crules[r].id_json = fz_arena_strndup(&rs->arena, b.data, b.len);
        e->crules[r].id_json_len = b.len;
        if (!e->crules[r].id_json)
            goto fail;
    }
    e->category_json = calloc(rs->n_categories ? rs->n_categories : 1, sizeof *e->category_json);
    for (size_t c = 0; e->category_json && c < rs->n_categories; c++) {
        fz_buf_clear(&b);
        if (fz_json_str(&b, rs->categories[c].id, strlen(rs->categories[c].id)) ||
            !(e->category_json[c] = strdup(b.data)))
            goto fail;
    }
    fz_buf_clear(&b);
    if (!e->category_json || fz_json_str(&b, e->version, strlen(e->version)))
        goto fail;
    snprintf(e->version_json, sizeof e->version_json, ",\"rules_version\":%s", b.data);
    fz_buf_free(&b);
    return 0;
fail:
    fz_buf_free(&b);
    return FZ_ENOMEM;
}

int fz_engine_new(const fz_engine_config *cfg, fz_engine **out, fz_error *err)
{
    fz_engine_config none = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!cfg)
        cfg = &none;
    *out = NULL;
    if (fz_normalize_init())
        return fz_error_set(err, FZ_ENOMEM, "out of memory building the normalizer tables");
    fz_diags diags;
    fz_diags_init(&diags, cfg->diag, cfg->diag_ud);
    const char *dir = cfg->rules_dir;
    if (!dir) {
        const char *env = getenv("FANZHA_RULES");
        dir = env && *env ? env : NULL;
    }
    fz_engine *e = calloc(1, sizeof *e);
    if (!e)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    pthread_mutex_init(&e->jit_lock, NULL);
    atomic_init(&e->refs, 1);
    e->serial = atomic_fetch_add(&g_serial, 1) + 1;
    if (cfg->cache_dir && !(e->cache_dir = strdup(cfg->cache_dir))) {
        engine_free(e);
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    }
    e->rs = fz_ruleset_load(dir, &diags);
    int rc = e->rs ? 0 : FZ_ERULES;
    if (!rc)
        rc = fz_extractor_build(&e->ex, e->rs, &diags);
    if (!rc)
        rc = fz_compile(e, &diags);
    if (rc || diags.errors) {
        rc = rc ? rc : FZ_ERULES;
        if (diags.errors && err)
            *err = diags.first;
        else
            fz_error_set(err, rc, "%s", fz_strerror(rc));
        if (err)
            err->code = rc;
        engine_free(e);
        return rc;
    }
    snprintf(e->version, sizeof e->version, "%s+%.8s", e->rs->policy.version, e->rs->hash);
    if (prepare_json(e)) {
        engine_free(e);
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    e->load_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    *out = e;
    return 0;
}

fz_engine *fz_engine_retain(fz_engine *e)
{
    if (e)
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void fz_engine_release(fz_engine *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        engine_free(e);
}

const char *fz_engine_rules_version(const fz_engine *e) { return e->version; }
const char *fz_engine_rules_source(const fz_engine *e) { return e->rs->source; }
size_t fz_engine_rule_count(const fz_engine *e) { return e->rs->n_rules; }
double fz_engine_compile_ms(const fz_engine *e) { return e->compile_ms; }
double fz_engine_load_ms(const fz_engine *e) { return e->load_ms; }
double fz_engine_half_life_days(const fz_engine *e) { return e->rs->policy.half_life_days; }
int fz_engine_has_warnings(const fz_engine *e) { return e->rs->warnings.present; }
int fz_engine_from_cache(const fz_engine *e) { return e->from_cache; }

/* --- workers ---------------------------------------------------------------------------- */

int fz_worker_new(fz_worker **out, fz_error *err)
{
    fz_worker *w = calloc(1, sizeof *w);
    if (w) {
        w->norm = fz_norm_new();
        w->md = pcre2_match_data_create(1, NULL);
        w->md_ex = pcre2_match_data_create(8, NULL);
    }
    if (!w || !w->norm || !w->md || !w->md_ex) {
        fz_worker_free(w);
        *out = NULL;
        return fz_error_set(err, FZ_ENOMEM, "out of memory creating a worker");
    }
    *out = w;
    return 0;
}

void fz_worker_free(fz_worker *w)
{
    if (!w)
        return;
    fz_norm_free(w->norm);
    hs_free_scratch(w->scratch);
    pcre2_match_data_free(w->md);
    pcre2_match_data_free(w->md_ex);
    free(w->bits);
    free(w->cand);
    free(w->ends);
    free(w->span_start);
    free(w->span_gen);
    free(w->pending);
    free(w->pieces);
    free(w->piece_ends);
    free(w->branches);
    free(w);
}

/* Make w ready for e: scratch cloned from e's prototype, bit sets sized. */
static int worker_prepare(fz_worker *w, const fz_engine *e)
{
    if (w->scratch_serial == e->serial)
        return 0;
    hs_free_scratch(w->scratch);
    w->scratch = NULL;
    w->scratch_serial = 0;
    if (hs_clone_scratch(e->proto, &w->scratch) != HS_SUCCESS)
        return FZ_ENOMEM;
    if (w->words_cap < e->n_words) {
        uint64_t *b = realloc(w->bits, e->n_words * sizeof *b);
        if (b) w->bits = b;
        uint64_t *c = realloc(w->cand, e->n_words * sizeof *c);
        if (c) w->cand = c;
        if (!b || !c)
            return FZ_ENOMEM;
        w->words_cap = e->n_words;
    }
    size_t pw = (e->n_eval + 63) / 64 + 1;
    if (w->pending_cap < pw) {
        uint64_t *p = realloc(w->pending, pw * sizeof *p);
        if (!p)
            return FZ_ENOMEM;
        w->pending = p;
        w->pending_cap = pw;
    }
    size_t piece_words = (e->n_pieces + 63) / 64 + 1;
    if (w->pieces_cap < piece_words) {
        uint64_t *p = realloc(w->pieces, piece_words * sizeof *p);
        if (p)
            w->pieces = p;
        uint32_t *pe = realloc(w->piece_ends, piece_words * 64 * sizeof *pe);
        if (pe)
            w->piece_ends = pe;
        if (!p || !pe)
            return FZ_ENOMEM;
        w->pieces_cap = piece_words;
    }
    size_t branch_words = (e->n_gapped + 63) / 64 + 1;
    if (w->branches_cap < branch_words) {
        uint64_t *br = realloc(w->branches, branch_words * sizeof *br);
        if (!br)
            return FZ_ENOMEM;
        w->branches = br;
        w->branches_cap = branch_words;
    }
    if (w->ends_cap < e->rs->n_rules + 1) {
        size_t n = e->rs->n_rules + 1;
        uint32_t *a = realloc(w->ends, n * sizeof *a);
        if (a)
            w->ends = a;
        uint32_t *b = realloc(w->span_start, n * sizeof *b);
        if (b)
            w->span_start = b;
        uint32_t *c = realloc(w->span_gen, n * sizeof *c);
        if (c) {
            w->span_gen = c;
            memset(c, 0, n * sizeof *c);
            w->gen = 0;
        }
        if (!a || !b || !c)
            return FZ_ENOMEM;
        w->ends_cap = n;
    }
    w->scratch_serial = e->serial;
    return 0;
}

/* --- the pipeline ----------------------------------------------------------------------------- */

static void classify_sender(const fz_engine *e, const fz_message *m, fz_verdict *v)
{
    if (!m->from.len)
        return;
    long c = fz_sender_classify(e->rs, m->from.ptr, m->from.len);
    if (c < 0)
        return;
    v->sender_class = c;
    v->sender_score = (size_t)c < e->rs->n_classes ? e->rs->classes[c].score : 0;
}

/* The riskiest class among the phone numbers written in the text. */
static void classify_callbacks(const fz_engine *e, fz_verdict *v)
{
    for (size_t i = 0; i < v->n_ents; i++) {
        const fz_entity *en = &v->ents[i];
        fz_number num;
        if (en->kind != FZ_ENT_PHONE || fz_number_canon(v->pool.data + en->off, en->len, &num))
            continue;
        long c = fz_number_classify(e->rs, &num);
        if (c < 0 || (size_t)c >= e->rs->n_classes)
            continue;
        double s = e->rs->classes[c].callback_score;
        if (s > v->callback_score) {
            v->callback_score = s;
            v->callback_class = c;
        }
    }
}

/* The signals the verdict already knows (entities, sender class) go into the
 * bit set, where combinations read them. */
static void apply_signals(const fz_engine *e, fz_worker *w, const fz_verdict *v)
{
    for (int k = 0; k < FZ_ENT_COUNT; k++)
        if (v->entity_kinds & (1u << k))
            fz_bit_set(w->bits, fz_signal_entity(e->rs, k));
    if (v->sender_class >= 0)
        fz_bit_set(w->bits, fz_signal_sender(e->rs, (size_t)v->sender_class));
}

static void sort_hits(const fz_engine *e, fz_verdict *v)
{
    /* Strongest evidence first; insertion sort, since hits are few. */
    const fz_rule *rules = e->rs->rules;
    for (size_t i = 1; i < v->n_hits; i++) {
        fz_vhit h = v->hits[i];
        size_t j = i;
        while (j > 0 && rules[v->hits[j - 1].rule].score < rules[h.rule].score) {
            v->hits[j] = v->hits[j - 1];
            j--;
        }
        v->hits[j] = h;
    }
}

static int collect_hits(const fz_engine *e, fz_worker *w, fz_verdict *v, const char *text, size_t len)
{
    size_t n_rules = e->rs->n_rules;
    for (size_t word = 0; word * 64 < n_rules; word++) {
        uint64_t bits = w->bits[word];
        while (bits) {
            uint32_t r = (uint32_t)(word * 64 + (size_t)__builtin_ctzll(bits));
            bits &= bits - 1;
            if (r >= n_rules)
                break;
            /* A rule with score 0 is a building block: it shows up by name
             * in the "because" of the combination it feeds, not as a hit. */
            if (e->rs->rules[r].score == 0)
                continue;
            size_t s, t, os = 0, ot = 0;
            int span = fz_match_evidence(e, w, r, text, len, &s, &t);
            if (span)
                fz_norm_span(w->norm, s, t, &os, &ot);
            if (fz_verdict_add_hit(v, r, span, os, ot))
                return FZ_ENOMEM;
        }
    }
    sort_hits(e, v);
    return 0;
}

static int finish(const fz_engine *e, fz_worker *w, fz_verdict *v, const char *text, size_t len)
{
    fz_match_combine(e, w);
    int rc = collect_hits(e, w, v, text, len);
    if (rc)
        return rc;
    fz_score(e, w, v);
    memcpy(v->fired, w->bits, e->n_words * sizeof *w->bits);
    return 0;
}

static int begin(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v, int reset)
{
    int rc = worker_prepare(w, e);
    if (!rc && reset)
        rc = fz_verdict_reset(v, e);
    if (!rc)
        rc = fz_normalize(w->norm, m->text.ptr ? m->text.ptr : "", m->text.len);
    return rc;
}

/* Entities (the kinds w->triggers allows) and the classes of the sender
 * and of the numbers found. */
static int entities_and_numbers(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v,
                                const char *text, size_t len)
{
    classify_sender(e, m, v);
    int rc = fz_extract(e, w, text, len, v);
    if (!rc)
        classify_callbacks(e, v);
    return rc;
}

int fz_engine_scan(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v)
{
    int rc = begin(e, w, m, v, 1);
    if (rc)
        return rc;
    size_t len;
    const char *text = fz_norm_text(w->norm, &len);
    if ((rc = fz_match(e, w, text, len)) || (rc = entities_and_numbers(e, w, m, v, text, len)))
        return rc;
    apply_signals(e, w, v);
    return finish(e, w, v, text, len);
}

int fz_engine_scan_text(const fz_engine *e, fz_worker *w, const char *text, size_t len, fz_verdict *v)
{
    fz_message m;
    memset(&m, 0, sizeof m);
    m.text.ptr = text;
    m.text.len = len;
    return fz_engine_scan(e, w, &m, v);
}

/* --- stages for batch scoring ------------------------------------------------------ */

int fz_scan_prepare(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v)
{
    int rc = begin(e, w, m, v, 1);
    if (rc)
        return rc;
    size_t len;
    const char *text = fz_norm_text(w->norm, &len);
    /* The same triggers as the full scan's, from the trigger-only database:
     * extraction finds exactly what fz_engine_scan finds. */
    if ((rc = fz_match_triggers(e, w, text, len)))
        return rc;
    return entities_and_numbers(e, w, m, v, text, len);
}

int fz_scan_content(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v)
{
    int rc = begin(e, w, m, v, 0);
    if (rc)
        return rc;
    size_t len;
    const char *text = fz_norm_text(w->norm, &len);
    if ((rc = fz_match(e, w, text, len)))
        return rc;
    apply_signals(e, w, v);
    return finish(e, w, v, text, len);
}

/* Cache entry: "T<hash of the normalized text>|" then the fired rules'
 * indices, comma-separated (the key holds the rules version, so indices are
 * stable). No text of the message is kept: evidence is found again, by each
 * rule's own PCRE2 program, in the message that hits. An entry is reused only
 * for the same normalized text: rules see the links and numbers that the
 * template masks (a risky top-level domain, a callback number's prefix, a
 * gap's length), so a variant is scored afresh. */
static void text_tag(const char *text, size_t len, char out[20])
{
    snprintf(out, 20, "T%016llx|", (unsigned long long)XXH3_64bits(text, len));
}

size_t fz_format_uint(char *out, uint64_t x)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    memcpy(out, tmp + i, sizeof tmp - i);
    return sizeof tmp - i;
}

int fz_cache_entry(const fz_engine *e, const fz_worker *w, const fz_verdict *v, fz_buf *out)
{
    fz_buf_clear(out);
    size_t len;
    const char *text = fz_norm_text(w->norm, &len);
    char tag[20];
    text_tag(text, len, tag);
    if (fz_buf_append(out, tag, 18))
        return FZ_ENOMEM;
    for (size_t word = 0; word * 64 < e->rs->n_rules; word++)
        for (uint64_t bits = v->fired[word]; bits; bits &= bits - 1) {
            uint32_t r = (uint32_t)(word * 64 + (size_t)__builtin_ctzll(bits));
            if (r >= e->rs->n_rules)
                break;
            char num[24];
            size_t n = fz_format_uint(num, r);
            num[n++] = ',';
            if (fz_buf_append(out, num, n))
                return FZ_ENOMEM;
        }
    return 0;
}

int fz_scan_cached(const fz_engine *e, fz_worker *w, const fz_message *m, fz_verdict *v, const char *entry,
                   size_t elen)
{
    int rc = begin(e, w, m, v, 0);
    if (rc)
        return rc;
    size_t len;
    const char *text = fz_norm_text(w->norm, &len);
    char tag[20];
    text_tag(text, len, tag);
    if (elen < 18 || memcmp(entry, tag, 18) != 0)
        return FZ_ENOENT;               /* a variant: the caller scores it afresh */
    fz_worker_next(e, w);
    memset(w->bits, 0, e->n_words * sizeof *w->bits);
    /* The fired rules; their evidence is searched for afresh below. */
    const char *p = entry + 18, *end = entry + elen;
    while (p < end) {
        char *q;
        unsigned long r = strtoul(p, &q, 10);
        if (q == p || q >= end || *q != ',' || r >= e->rs->n_rules)
            return FZ_EPARSE;
        fz_bit_set(w->bits, (uint32_t)r);
        w->ends[r] = UINT32_MAX;
        p = q + 1;
    }
    apply_signals(e, w, v);
    int r2 = collect_hits(e, w, v, text, len);
    if (r2)
        return r2;
    fz_score(e, w, v);
    memcpy(v->fired, w->bits, e->n_words * sizeof *w->bits);
    return 0;
}
