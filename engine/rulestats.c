/* rulestats.c — measuring a rule pack against labelled corpora: per-rule
 * hits (on scams and on genuine messages), recall and false positives.
 *
 * Each corpus line is scored by the whole engine, as traffic is. The label
 * is read separately with cJSON (the engine carries unknown fields as raw
 * JSON and does not look at them). A message is flagged when its action is
 * not allow; recall is flagged scams over scams, the false-positive rate
 * flagged genuine messages over genuine ones. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "corpus.h"
#include "engine_internal.h"

int fz_corpus_stats_init(const fz_engine *e, fz_corpus_stats *st)
{
    memset(st, 0, sizeof *st);
    st->n_rules = e->rs->n_rules;
    st->rules = calloc(st->n_rules ? st->n_rules : 1, sizeof *st->rules);
    return st->rules ? 0 : FZ_ENOMEM;
}

void fz_corpus_stats_free(fz_corpus_stats *st)
{
    free(st->rules);
    st->rules = NULL;
}

/* 1 scam, 0 ham, -1 unlabelled. */
static int label_of(const char *line, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(line, len);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(root, "label");
    int label = -1;
    if (cJSON_IsString(l))
        label = strcmp(l->valuestring, "scam") == 0 ? 1 : strcmp(l->valuestring, "ham") == 0 ? 0 : -1;
    cJSON_Delete(root);
    return label;
}

static void count(const fz_engine *e, const fz_verdict *v, int label, fz_corpus_stats *st)
{
    fz_action a = fz_verdict_action(v);
    st->messages++;
    if (label == 1) {
        st->scam++;
        st->flagged_scam += a != FZ_ALLOW;
        st->blocked_scam += a == FZ_BLOCK;
    } else if (label == 0) {
        st->ham++;
        st->flagged_ham += a != FZ_ALLOW;
        st->blocked_ham += a == FZ_BLOCK;
    } else {
        st->unlabelled++;
    }
    for (size_t r = 0; r < st->n_rules; r++)
        if (fz_bit_test(v->fired, (uint32_t)r)) {
            st->rules[r].hits++;
            st->rules[r].hits_scam += label == 1;
            st->rules[r].hits_ham += label == 0;
        }
    (void)e;
}

int fz_corpus_stats_add(const fz_engine *e, const char *jsonl, size_t len, fz_corpus_stats *st)
{
    fz_reader *r = fz_reader_new();
    fz_verdict *v = fz_verdict_new();
    fz_worker *w = NULL;
    int rc = !r || !v || fz_worker_new(&w, NULL) ? FZ_ENOMEM : 0;
    const char *p = jsonl, *end = jsonl + len;
    while (!rc && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        fz_message m;
        if (l == 0) {
            /* blank line */
        } else if (fz_reader_parse_json(r, p, l, &m, NULL) || fz_engine_scan(e, w, &m, v)) {
            st->errors++;
        } else {
            int label = label_of(p, l);
            count(e, v, label, st);
            if (st->mistake && label >= 0 && (fz_verdict_action(v) != FZ_ALLOW) != (label == 1))
                st->mistake(st->mistake_ud, p, l, v, label);
        }
        p = nl ? nl + 1 : end;
    }
    fz_worker_free(w);
    fz_verdict_free(v);
    fz_reader_free(r);
    return rc;
}

/* --- cost profile ------------------------------------------------------------------ */

static int no_op(unsigned id, unsigned long long f, unsigned long long to, unsigned fl, void *ud)
{
    (void)id, (void)f, (void)to, (void)fl, (void)ud;
    return 0;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ns per KB of text for scanning every text with db, over at least 20 ms. */
static double cost_of(const hs_database_t *db, const fz_corpus *t)
{
    hs_scratch_t *s = NULL;
    if (hs_alloc_scratch(db, &s) != HS_SUCCESS)
        return -1;
    size_t bytes = 0;
    double t0 = seconds(), el;
    do {
        for (size_t i = 0; i < t->n; i++)
            hs_scan(db, t->norm[i], (unsigned)t->norm_len[i], 0, s, no_op, NULL);
        bytes += t->norm_bytes;
    } while ((el = seconds() - t0) < 0.02);
    hs_free_scratch(s);
    return bytes ? el * 1e9 / ((double)bytes / 1024.0) : -1;
}

int fz_rules_profile(const fz_engine *e, const char *jsonl, size_t len, double *ns_per_kb, double *whole)
{
    fz_corpus t;
    int rc = fz_corpus_load(&t, jsonl, len);
    if (!rc && t.n == 0)
        rc = FZ_EINVAL;
    if (!rc) {
        *whole = cost_of(e->db, &t);
        for (uint32_t r = 0; r < e->rs->n_rules; r++) {
            hs_database_t *db = NULL;
            if (e->rs->rules[r].kind == FZ_RK_COMBO)
                ns_per_kb[r] = 0;
            else if (fz_compile_rule_db(e, r, &db))
                ns_per_kb[r] = -1;
            else
                ns_per_kb[r] = cost_of(db, &t);
            hs_free_database(db);
        }
    }
    fz_corpus_free(&t);
    return rc;
}
