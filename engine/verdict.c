/* verdict.c — the verdict object, and its JSON Lines form (DESIGN.md §4.2).
 *
 * A verdict is reset and refilled for every message; its arrays grow to the
 * largest message seen and are then reused. The JSON writer appends to a
 * caller's buffer: the message's id and unknown fields are copied as the raw
 * JSON they were, evidence is cut from the original text (and repaired to
 * valid UTF-8 if it was not), numbers are formatted without printf on the
 * common paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "json_out.h"

fz_verdict *fz_verdict_new(void)
{
    fz_verdict *v = calloc(1, sizeof *v);
    if (v) {
        v->category = -1;
        v->sender_class = -1;
        v->callback_class = -1;
    }
    return v;
}

void fz_verdict_free(fz_verdict *v)
{
    if (!v)
        return;
    free(v->hits);
    free(v->fired);
    fz_buf_free(&v->pool);
    free(v);
}

int fz_verdict_reset(fz_verdict *v, const fz_engine *e)
{
    v->engine = e;
    v->action = FZ_ALLOW;
    v->score = 0;
    v->category = -1;
    v->n_hits = 0;
    v->n_ents = 0;
    fz_buf_clear(&v->pool);
    v->sender_class = -1;
    v->sender_score = 0;
    v->callback_class = -1;
    v->callback_score = 0;
    v->entity_kinds = 0;
    v->cache = 0;
    v->has_reports = 0;
    v->sender_reports = v->callback_reports = 0;
    v->state_score = 0;
    v->template_hash[0] = '\0';
    v->campaign_recipients = 0;
    v->warn = 0;
    v->warn_guardians = 0;
    if (v->fired_cap < e->n_words) {
        uint64_t *f = realloc(v->fired, e->n_words * sizeof *f);
        if (!f)
            return FZ_ENOMEM;
        v->fired = f;
        v->fired_cap = e->n_words;
    }
    return 0;
}

int fz_verdict_add_hit(fz_verdict *v, uint32_t rule, int has_span, size_t start, size_t end)
{
    if (v->n_hits == v->cap_hits) {
        size_t cap = v->cap_hits ? v->cap_hits * 2 : 16;
        fz_vhit *h = realloc(v->hits, cap * sizeof *h);
        if (!h)
            return FZ_ENOMEM;
        v->hits = h;
        v->cap_hits = cap;
    }
    v->hits[v->n_hits++] = (fz_vhit){rule, has_span, (uint32_t)start, (uint32_t)end};
    return 0;
}

int fz_verdict_add_entity(fz_verdict *v, int kind, const char *s, size_t n, double amount)
{
    if (v->n_ents >= FZ_MAX_ENTITIES)
        return 0;                       /* enough evidence; the rest is noise */
    for (size_t i = 0; i < v->n_ents; i++)
        if (v->ents[i].kind == kind && v->ents[i].len == n && memcmp(v->pool.data + v->ents[i].off, s, n) == 0)
            return 0;                   /* each value once */
    size_t off = v->pool.len;
    if (fz_buf_append(&v->pool, s, n))
        return FZ_ENOMEM;
    v->ents[v->n_ents++] = (fz_entity){kind, (uint32_t)off, (uint32_t)n, amount};
    return 0;
}

/* --- accessors ----------------------------------------------------------------------- */

const char *fz_action_name(fz_action a)
{
    switch (a) {
    case FZ_ALLOW: return "allow";
    case FZ_SUSPECT: return "suspect";
    case FZ_BLOCK: return "block";
    }
    return "unknown";
}

fz_action fz_verdict_action(const fz_verdict *v) { return v->action; }
double fz_verdict_score(const fz_verdict *v) { return v->score; }
size_t fz_verdict_hit_count(const fz_verdict *v) { return v->n_hits; }

const char *fz_verdict_category(const fz_verdict *v)
{
    return v->category >= 0 ? v->engine->rs->categories[v->category].id : NULL;
}

int fz_verdict_hit(const fz_verdict *v, size_t i, fz_hit *out)
{
    if (i >= v->n_hits)
        return FZ_EINVAL;
    const fz_rule *r = &v->engine->rs->rules[v->hits[i].rule];
    out->rule = r->id;
    out->category = v->engine->rs->categories[r->category].id;
    out->score = r->score;
    out->has_span = v->hits[i].has_span;
    out->start = v->hits[i].start;
    out->end = v->hits[i].end;
    return 0;
}

int fz_verdict_fired(const fz_verdict *v, const char *rule_id)
{
    if (!v->engine)
        return 0;
    long s = fz_signal_lookup(v->engine->rs, rule_id);
    return s >= 0 && fz_bit_test(v->fired, (uint32_t)s);
}

const char *fz_verdict_sender_class(const fz_verdict *v)
{
    const fz_ruleset *rs = v->engine ? v->engine->rs : NULL;
    if (!rs || v->sender_class < 0)
        return NULL;
    return (size_t)v->sender_class < rs->n_classes ? rs->classes[v->sender_class].name : "allowlisted";
}

/* --- JSON ------------------------------------------------------------------------------- */

static const char *const k_entity_keys[FZ_ENT_COUNT] = {
    [FZ_ENT_URL] = "urls", [FZ_ENT_LOOKALIKE] = "lookalike_domains", [FZ_ENT_PHONE] = "phones",
    [FZ_ENT_CARD] = "cards", [FZ_ENT_HANDLE] = "handles", [FZ_ENT_AMOUNT] = "amounts",
};

static int write_hits(const fz_verdict *v, const fz_message *m, fz_buf *o)
{
    const fz_ruleset *rs = v->engine->rs;
    int rc = fz_buf_lit(o, ",\"hits\":[");
    for (size_t i = 0; i < v->n_hits && !rc; i++) {
        const fz_vhit *h = &v->hits[i];
        const fz_rule *r = &rs->rules[h->rule];
        const fz_crule *c = &v->engine->crules[h->rule];
        rc = fz_buf_append(o, i ? ",{\"rule\":" : "{\"rule\":", i ? 9 : 8) ||
             fz_buf_append(o, c->id_json, c->id_json_len) ||
             fz_buf_lit(o, ",\"score\":") || fz_json_num(o, r->score);
        if (!rc && h->has_span && h->end <= m->text.len) {
            rc = fz_buf_lit(o, ",\"evidence\":") ||
                 fz_json_str(o, m->text.ptr + h->start, h->end - h->start) ||
                 fz_buf_lit(o, ",\"at\":[") || fz_json_uint(o, h->start) ||
                 fz_buf_lit(o, ",") || fz_json_uint(o, h->end) || fz_buf_lit(o, "]");
        } else if (!rc && r->kind == FZ_RK_COMBO) {
            /* A combination points at what it combined, in the order written. */
            rc = fz_buf_lit(o, ",\"because\":[");
            const fz_ref *lists[2] = {r->all, r->any};
            size_t counts[2] = {r->n_all, r->n_any};
            int first = 1;
            for (int l = 0; l < 2 && !rc; l++)
                for (size_t k = 0; k < counts[l] && !rc; k++) {
                    if (!fz_bit_test(v->fired, lists[l][k].signal))
                        continue;
                    uint32_t sig = lists[l][k].signal;
                    rc = (!first && fz_buf_lit(o, ",")) ||
                         (sig < rs->n_rules ? fz_buf_append(o, v->engine->crules[sig].id_json,
                                                            v->engine->crules[sig].id_json_len)
                                            : fz_json_str(o, lists[l][k].name, strlen(lists[l][k].name)));
                    first = 0;
                }
            rc = rc || fz_buf_lit(o, "]");
        }
        rc = rc || fz_buf_lit(o, "}");
    }
    return rc || fz_buf_lit(o, "]");
}

static int write_entities(const fz_verdict *v, fz_buf *o)
{
    if (v->n_ents == 0)
        return 0;
    int rc = fz_buf_lit(o, ",\"entities\":{");
    int first_kind = 1;
    for (int k = 0; k < FZ_ENT_COUNT && !rc; k++) {
        int first = 1;
        for (size_t i = 0; i < v->n_ents && !rc; i++) {
            const fz_entity *en = &v->ents[i];
            if (en->kind != k)
                continue;
            if (first) {
                rc = (!first_kind && fz_buf_lit(o, ",")) || fz_json_str(o, k_entity_keys[k], strlen(k_entity_keys[k])) ||
                     fz_buf_lit(o, ":[");
                first_kind = 0;
            } else {
                rc = fz_buf_lit(o, ",");
            }
            first = 0;
            if (rc)
                break;
            rc = k == FZ_ENT_AMOUNT ? fz_json_num(o, en->amount) : fz_json_str(o, v->pool.data + en->off, en->len);
        }
        if (!first)
            rc = rc || fz_buf_lit(o, "]");
    }
    return rc || fz_buf_lit(o, "}");
}

/* "sender" / "callback": the number's class and risk, and (with a store)
 * its decayed count of distinct reporters. */
static int write_number(fz_buf *o, const char *key, const fz_ruleset *rs, long cls, double risk, int has_reports,
                        double reports)
{
    int rc = fz_buf_lit(o, ",\"") || fz_buf_puts(o, key) || fz_buf_lit(o, "\":{");
    if (!rc && cls >= 0) {
        const char *name = (size_t)cls < rs->n_classes ? rs->classes[cls].name : "allowlisted";
        rc = fz_buf_lit(o, "\"class\":") || fz_json_str(o, name, strlen(name)) ||
             fz_buf_lit(o, ",\"risk\":") || fz_json_num(o, risk);
    }
    if (!rc && has_reports)
        rc = (cls >= 0 && fz_buf_lit(o, ",")) || fz_buf_lit(o, "\"reports\":") ||
             fz_json_num(o, nearbyint(reports * 100) / 100);     /* a decayed count: two decimals say it */
    return rc || fz_buf_lit(o, "}");
}

/* "warning":{"status":"queued","id":…,"due":…,"guardians":N}: what the
 * warning stage did for the resident this message reached. */
static int write_warning(const fz_verdict *v, fz_buf *o)
{
    static const char *const status[] = {"queued", "duplicate", "limited", "spooled", "failed"};
    int s = v->warn - 1;
    return fz_buf_lit(o, ",\"warning\":{\"status\":\"") || fz_buf_puts(o, status[s >= 0 && s <= 4 ? s : 4]) ||
           fz_buf_lit(o, "\",\"id\":\"") || fz_buf_append(o, v->warn_id, 32) || fz_buf_lit(o, "\",\"due\":") ||
           fz_json_uint(o, (uint64_t)v->warn_due) || fz_buf_lit(o, ",\"guardians\":") ||
           fz_json_uint(o, (uint64_t)v->warn_guardians) || fz_buf_lit(o, "}");
}

int fz_verdict_write_json(const fz_verdict *v, const fz_message *m, fz_buf *o)
{
    const fz_engine *e = v->engine;
    const char *action = fz_action_name(v->action);
    const char *cat = fz_verdict_category(v);
    int rc = fz_buf_lit(o, "{");
    if (!rc && m->id_json.len)
        rc = fz_buf_lit(o, "\"id\":") || fz_json_raw(o, m->id_json.ptr, m->id_json.len) ||
             fz_buf_lit(o, ",");
    rc = rc || fz_buf_lit(o, "\"action\":\"") || fz_buf_puts(o, action) ||
         fz_buf_lit(o, "\",\"score\":") || fz_json_num(o, v->score) ||
         fz_buf_lit(o, ",\"category\":") ||
         (cat ? fz_buf_puts(o, e->category_json[v->category]) : fz_buf_lit(o, "null"));
    rc = rc || write_hits(v, m, o) || write_entities(v, o);
    int sender_reports = v->has_reports && v->sender_reports >= 0.01;
    int callback_reports = v->has_reports && v->callback_reports >= 0.01;
    if (!rc && (v->sender_class >= 0 || sender_reports))
        rc = write_number(o, "sender", e->rs, v->sender_class, v->sender_score, sender_reports, v->sender_reports);
    if (!rc && ((v->callback_class >= 0 && v->callback_score != 0) || callback_reports))
        rc = write_number(o, "callback", e->rs, v->callback_score != 0 ? v->callback_class : -1, v->callback_score,
                          callback_reports, v->callback_reports);
    if (!rc && v->campaign_recipients)
        rc = fz_buf_lit(o, ",\"campaign\":{\"template\":\"") || fz_buf_append(o, v->template_hash, 32) ||
             fz_buf_lit(o, "\",\"recipients_1h\":") || fz_json_uint(o, v->campaign_recipients) ||
             fz_buf_lit(o, "}");
    if (!rc && v->warn)
        rc = write_warning(v, o);
    if (!rc && v->cache)
        rc = fz_buf_puts(o, v->cache == 2 ? ",\"cache\":\"hit\"" : ",\"cache\":\"miss\"");
    rc = rc || fz_buf_puts(o, e->version_json);
    if (!rc && m->extra_json.len)
        rc = fz_buf_lit(o, ",") || fz_json_raw(o, m->extra_json.ptr, m->extra_json.len);
    return rc || fz_buf_lit(o, "}\n") ? FZ_ENOMEM : 0;
}
