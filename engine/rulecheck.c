/* rulecheck.c — the rule maintainer's view of an engine: rule metadata and
 * running every rule's examples through the whole pipeline.
 *
 * Examples are real messages (obfuscation included), so they are scanned
 * exactly as traffic is: normalizer, Hyperscan, confirmations, combinations.
 * A match example passes when its rule fired; a no_match example when it did
 * not. A failure reports the normalized text and every rule that did fire,
 * which is what a maintainer needs to see why. */
#include <string.h>

#include "engine_internal.h"

int fz_engine_rule(const fz_engine *e, size_t i, fz_rule_info *out)
{
    if (i >= e->rs->n_rules)
        return FZ_EINVAL;
    const fz_rule *r = &e->rs->rules[i];
    size_t match = 0;
    for (size_t k = 0; k < r->n_examples; k++)
        match += (size_t)r->examples[k].expect_match;
    *out = (fz_rule_info){
        .id = r->id,
        .category = e->rs->categories[r->category].id,
        .description = r->description,
        .file = r->pos.file,
        .line = r->pos.line,
        .col = r->pos.col,
        .kind = r->kind == FZ_RK_LITERAL ? FZ_RULE_LITERAL : r->kind == FZ_RK_PATTERN ? FZ_RULE_PATTERN
                                                                                     : FZ_RULE_COMBINATION,
        .path = e->crules[i].path,
        .score = r->score,
        .n_match_examples = match,
        .n_no_match_examples = r->n_examples - match,
    };
    return 0;
}

long fz_engine_rule_index(const fz_engine *e, const char *id)
{
    long s = fz_signal_lookup(e->rs, id);
    return s >= 0 && (size_t)s < e->rs->n_rules ? s : -1;
}

static void fired_list(const fz_engine *e, const fz_verdict *v, fz_buf *out)
{
    fz_buf_clear(out);
    char tmp[128];
    for (uint32_t s = 0; s < e->n_signals; s++)
        if (fz_bit_test(v->fired, s)) {
            if (out->len)
                fz_buf_puts(out, ",");
            fz_buf_puts(out, fz_signal_name(e->rs, s, tmp, sizeof tmp));
        }
    if (!out->len)
        fz_buf_puts(out, "(none)");
}

int fz_rules_test(const fz_engine *e, fz_example_fn cb, void *ud, size_t *passed, size_t *failed)
{
    fz_worker *w;
    fz_verdict *v = fz_verdict_new();
    fz_buf fired = FZ_BUF_INIT;
    int rc = fz_worker_new(&w, NULL);
    if (rc || !v) {
        fz_verdict_free(v);
        return FZ_ENOMEM;
    }
    *passed = *failed = 0;
    for (size_t i = 0; i < e->rs->n_rules && !rc; i++) {
        const fz_rule *r = &e->rs->rules[i];
        for (size_t k = 0; k < r->n_examples && !rc; k++) {
            const fz_example *ex = &r->examples[k];
            fz_message m;
            memset(&m, 0, sizeof m);
            m.text = (fz_str){ex->text, strlen(ex->text)};
            if (ex->from)
                m.from = (fz_str){ex->from, strlen(ex->from)};
            if ((rc = fz_engine_scan(e, w, &m, v)))
                break;
            int fired_it = fz_bit_test(v->fired, (uint32_t)i);
            if (fired_it == ex->expect_match) {
                (*passed)++;
                continue;
            }
            (*failed)++;
            if (!cb)
                continue;
            fired_list(e, v, &fired);
            fz_buf norm = FZ_BUF_INIT;
            size_t nl;
            const char *nt = fz_norm_text(w->norm, &nl);
            fz_buf_append(&norm, nt, nl);
            fz_example_failure f = {r->id, ex->pos.file, ex->pos.line, ex->pos.col, ex->expect_match,
                                    ex->text, norm.data ? norm.data : "", fired.data};
            cb(ud, &f);
            fz_buf_free(&norm);
        }
    }
    fz_buf_free(&fired);
    fz_verdict_free(v);
    fz_worker_free(w);
    return rc;
}
