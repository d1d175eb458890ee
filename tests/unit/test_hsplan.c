/* test_hsplan.c — the Hyperscan compile plan (engine/hsplan.c): rewriting
 * for byte mode, splitting at gaps, expanding finite expressions; and the
 * proof that matters: on real messages, a rule fires through the planned
 * database exactly when PCRE2 says its pattern matches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "hsplan.h"
#include "testutil.h"

static void plan_is(const char *pattern, const char *expected)
{
    fz_hs_plan plan;
    char got[2048] = "";
    assert_int_equal(fz_hs_plan_pattern(pattern, &plan), 0);
    for (size_t b = 0; b < plan.n; b++) {
        const fz_hs_branch *br = &plan.branches[b];
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", b ? " || " : "", br->gapped ? "GAP[" : "");
        for (size_t k = 0; k < br->n_pieces; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " & " : "", br->pieces[k]);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s", br->gapped ? "]" : "");
    }
    fz_hs_plan_free(&plan);
    if (strcmp(got, expected) != 0)
        fail_msg("plan of %s:\n  got      %s\n  expected %s", pattern, got, expected);
}

static void rewrites_for_byte_mode(void **state)
{
    (void)state;
    plan_is("[账帐]户", "(?:账|帐)户");
    plan_is("的?账户", "(?:的)?账户");
    plan_is("[a-z账]x", "(?:[a-z]|账)x");
    plan_is("[^账]x", "[^账]x");                        /* negated: kept, needs UTF-8 */
    plan_is("(您|你)的?(账户)", "(您|你)(?:的)?(账户)");
}

static void splits_branches_and_gaps(void **state)
{
    (void)state;
    plan_is("a|b|c", "a || b || c");
    plan_is("安全.{0,4}账户", "GAP[安全 & 账户]");
    plan_is("(a|b).{0,4}c|d", "GAP[(a|b) & c] || d");
    plan_is("x\\S{2,9}y[^,]{1,3}z", "GAP[x & y & z]");
    plan_is("(a.{0,3}b)", "(a.{0,3}b)");                 /* not at the top: kept whole */
    plan_is("a.?b", "a.?b");                             /* an optional character is not a gap */
}

static void expands(const char *expr, size_t limit, const char *expected)
{
    char **s;
    size_t *lens, n;
    int bounds;
    char got[4096] = "";
    if (fz_hs_expand(expr, limit, &s, &lens, &n, &bounds)) {
        if (expected)
            fail_msg("%s did not expand", expr);
        return;
    }
    if (!expected)
        fail_msg("%s expanded but should not", expr);
    /* order-independent comparison: sort */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(s[i], s[j]) > 0) {
                char *t = s[i];
                s[i] = s[j];
                s[j] = t;
            }
    for (size_t i = 0; i < n; i++) {
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "", s[i]);
        free(s[i]);
    }
    free(s);
    free(lens);
    assert_string_equal(got, expected);
}

static void expands_finite_expressions(void **state)
{
    (void)state;
    expands("(冻结|停用)(您|你)(?:的)?", 256, "停用你,停用你的,停用您,停用您的,冻结你,冻结你的,冻结您,冻结您的");
    expands("a[bc]{1,2}", 256, "ab,abb,abc,ac,acb,acc");
    expands("x\\.y", 256, "x.y");
    expands("(?:a|b)?c", 256, "ac,bc,c");
    expands("\\d{4}", 256, NULL);                  /* a class: not a small finite set */
    expands("a\\bword", 256, NULL);                /* an assertion inside */
    expands("\\b(cat|dog)\\b", 256, "cat,dog");   /* at the edges: checked by the caller */
    expands("a.b", 256, NULL);
    expands("a+", 256, NULL);
    expands("a{1,9}", 256, NULL);                  /* repeats above 4 */
    expands("(a|b)(c|d)(e|f)", 4, NULL);           /* 8 strings > limit */
    expands("(a)?", 256, NULL);                    /* could match nothing */
}

/* Every literal and pattern rule of a pack, on every message of some
 * corpora: fired through Hyperscan (+ confirmations) == PCRE2 finds it. */
static void planned_database_agrees_with_pcre2(const char *pack, const char *const *corpora)
{
    fz_engine *e = tu_engine(pack);
    fz_worker *w;
    fz_reader *rd = fz_reader_new();
    fz_verdict *v = fz_verdict_new();
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    assert_int_equal(fz_worker_new(&w, NULL), 0);
    fz_engine_scan_text(e, w, "x", 1, v);           /* prepares the worker */
    size_t checked = 0, fired = 0;
    for (const char *const *c = corpora; *c; c++) {
        FILE *f = fopen(tu_path(*c), "r");
        assert_non_null(f);
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            fz_message m;
            if (fz_reader_parse_json(rd, line, strcspn(line, "\n"), &m, NULL))
                continue;
            assert_int_equal(fz_normalize(w->norm, m.text.ptr, m.text.len), 0);
            size_t len;
            const char *text = fz_norm_text(w->norm, &len);
            assert_int_equal(fz_match(e, w, text, len), 0);
            for (uint32_t r = 0; r < e->rs->n_rules; r++) {
                if (!e->crules[r].re)
                    continue;
                int hs = fz_bit_test(w->bits, r);
                int pc = pcre2_match(e->crules[r].re, (PCRE2_SPTR)text, len, 0, 0, md, NULL) >= 0;
                if (hs != pc)
                    fail_msg("rule %s: Hyperscan says %d, PCRE2 says %d, on: %.*s", e->rs->rules[r].id, hs, pc,
                             (int)len, text);
                checked++;
                fired += (size_t)pc;
            }
        }
        fclose(f);
    }
    fprintf(stderr, "  %zu rule-message pairs agree (%zu matches)\n", checked, fired);
    assert_true(fired > 100);
    pcre2_match_data_free(md);
    fz_verdict_free(v);
    fz_reader_free(rd);
    fz_worker_free(w);
    fz_engine_release(e);
}

static void shipped_pack_agrees_on_corpora(void **state)
{
    (void)state;
    static const char *const corpora[] = {"tests/data/corpus/zh-scam.jsonl", "tests/data/corpus/zh-ham.jsonl",
                                          "tests/data/corpus/en-scam.jsonl", "tests/data/corpus/en-ham.jsonl",
                                          NULL};
    planned_database_agrees_with_pcre2("rules", corpora);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rewrites_for_byte_mode),
        cmocka_unit_test(splits_branches_and_gaps),
        cmocka_unit_test(expands_finite_expressions),
        cmocka_unit_test(shipped_pack_agrees_on_corpora),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_cleanup();
    return rc;
}
