/* warn.c — the warning stage: from scored messages to warnings in the
 * outbox, under the `warnings:` policy of rules/policy.yaml.
 *
 * A message warns when it is addressed to a registered resident and either
 * scores at least `warnings.score` (default: the block threshold), or comes
 * from a number (or names a callback number) that `warnings.reputation`
 * distinct reporters or more have reported. The warning goes to the
 * resident, and also to their guardians when the scam's category is at
 * least `warnings.guardian_severity` (default critical: fake police and
 * safe accounts, fake investment, scams on pensioners).
 *
 * Never a flood. Each recipient hears about one template (or one reported
 * sender) once per local day: the dedup key is (role, recipient, resident,
 * template, day), checked atomically where the warning is queued. Each
 * recipient gets at most `daily_limit` warnings per local day (the
 * resident's own limit, or the policy's). A warning that falls in quiet
 * hours is due when they end: delayed, never dropped. Warning ids are keyed
 * hashes of the dedup key, so the same decision made twice (a replayed
 * stream) names the same warning and the gateway's Idempotency-Key holds.
 *
 * This runs after scoring, only for the few messages that qualify; the
 * registry lookups of a batch are one round trip, the queueing one more. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "fanzha/resident.h"
#include "residents.h"
#include "store.h"
#include "warn.h"
#include "warnings.h"
#include "ydoc.h"

#define DAY 86400
#define KEY_TTL (2 * DAY)   /* dedup keys and counters outlive their local day */

/* --- policy.yaml: warnings ------------------------------------------------------------- */

/* "+8", "+08", "+08:00", "-05:30": nothing more (a typo must not pass). */
static int parse_offset(const char *s, int *out)
{
    const char *p = s + 1;
    int h = 0, m = 0, n = 0;
    if ((s[0] != '+' && s[0] != '-') || !isdigit((unsigned char)p[0]))
        return -1;
    while (n < 2 && isdigit((unsigned char)p[n]))
        h = h * 10 + (p[n++] - '0');
    p += n;
    if (*p == ':') {
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
            return -1;
        m = (p[1] - '0') * 10 + (p[2] - '0');
        p += 3;
    }
    if (*p || h > 14 || m > 59)
        return -1;
    *out = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
}

static int parse_severity_name(const char *s, int *out)
{
    for (int i = FZ_SEV_LOW; i <= FZ_SEV_CRITICAL; i++)
        if (strcmp(s, fz_severity_name(i)) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

static int warn_number(fz_ydoc *d, yaml_node_t *sec, const char *key, double *out)
{
    yaml_node_t *v = fz_ydoc_get(d, sec, key);
    char what[48];
    snprintf(what, sizeof what, "warnings.%s", key);
    if (!v)
        return 0;
    if (fz_ydoc_number(d, v, NULL, what, out))
        return 1;
    if (*out < 0) {
        fz_ydoc_error(d, v, NULL, "%s must not be negative", what);
        return 1;
    }
    return 0;
}

/* A string key checked by a parser: its error message on failure. */
static int warn_string(fz_ydoc *d, yaml_node_t *sec, const char *key, int (*parse)(const char *, int *), int *out,
                       int *out2, const char *expect)
{
    yaml_node_t *v = fz_ydoc_get(d, sec, key);
    char *s;
    if (!v)
        return 0;
    if (fz_ydoc_string(d, v, NULL, key, &s))
        return 1;
    int rc = out2 ? fz_quiet_parse(s, out, out2) : parse(s, out);
    if (rc) {
        fz_ydoc_error(d, v, NULL, "warnings.%s must be %s, not '%s'", key, expect, s);
        return 1;
    }
    return 0;
}

int fz_warn_policy_parse(fz_ruleset *rs, fz_ydoc *d, void *node)
{
    static const char *const keys[] = {"score",      "reputation", "daily_limit", "guardian_severity",
                                       "utc_offset", "quiet_hours", NULL};
    fz_warn_policy *w = &rs->policy.warn;
    *w = (fz_warn_policy){rs->policy.block, 3, 3, FZ_SEV_CRITICAL, 8 * 60, 0, 0};
    yaml_node_t *sec = node;
    if (!sec)
        return 0;
    int bad = fz_ydoc_check_keys(d, sec, keys, NULL, "warnings");
    double limit = w->daily_limit;
    bad += warn_number(d, sec, "score", &w->score);
    bad += warn_number(d, sec, "reputation", &w->reputation);
    bad += warn_number(d, sec, "daily_limit", &limit);
    w->daily_limit = (int)limit;
    bad += warn_string(d, sec, "guardian_severity", parse_severity_name, &w->guardian_severity, NULL,
                       "low, medium, high or critical");
    bad += warn_string(d, sec, "utc_offset", parse_offset, &w->utc_offset_min, NULL, "like +08:00");
    bad += warn_string(d, sec, "quiet_hours", NULL, &w->quiet_start, &w->quiet_end, "like 22:00-07:00");
    if (!bad && w->score <= 0) {
        fz_ydoc_error(d, fz_ydoc_get(d, sec, "score"), NULL, "warnings.score must be positive");
        bad++;
    }
    return bad;
}

/* --- time ------------------------------------------------------------------------------ */

static int64_t local_seconds(int64_t now, int utc_offset_min)
{
    return now + (int64_t)utc_offset_min * 60;
}

int64_t fz_warn_local_day(int64_t now, int utc_offset_min)
{
    int64_t t = local_seconds(now, utc_offset_min);
    return t >= 0 ? t / DAY : (t - DAY + 1) / DAY;
}

int64_t fz_warn_due(int64_t now, int utc_offset_min, int quiet_start, int quiet_end)
{
    if (quiet_start == quiet_end)
        return now;
    int64_t t = local_seconds(now, utc_offset_min);
    int64_t into_day = t - fz_warn_local_day(now, utc_offset_min) * DAY;
    int minute = (int)(into_day / 60);
    int quiet = quiet_start < quiet_end ? minute >= quiet_start && minute < quiet_end
                                        : minute >= quiet_start || minute < quiet_end;
    if (!quiet)
        return now;
    int64_t end = (int64_t)quiet_end * 60;
    int64_t wait = end > into_day ? end - into_day : end + DAY - into_day;
    return now + wait;
}

/* --- choosing ---------------------------------------------------------------------------- */

/* Why a message warns: its category id, "reported", or NULL (it does not). */
static const char *reason(const fz_engine *e, const fz_verdict *v)
{
    const fz_warn_policy *p = &e->rs->policy.warn;
    if (p->score <= 0)
        return NULL;                        /* no policy read (cannot happen with a loaded pack) */
    double reports = v->sender_reports > v->callback_reports ? v->sender_reports : v->callback_reports;
    /* The decayed count as the verdict shows it (two decimals): 3 reporters
     * of a minute ago are 3, not 2.99995. */
    int reported = p->reputation > 0 && v->has_reports && nearbyint(reports * 100) / 100 >= p->reputation;
    if (v->score >= p->score && v->category >= 0)
        return e->rs->categories[v->category].id;
    if (reported)
        return "reported";      /* also when the reputation alone reaches the score: say why */
    return v->score >= p->score ? "generic" : NULL;
}

static int severity_of(const fz_engine *e, const char *category)
{
    for (size_t i = 0; i < e->rs->n_categories; i++)
        if (strcmp(e->rs->categories[i].id, category) == 0)
            return e->rs->categories[i].severity;
    return FZ_SEV_HIGH;                     /* "reported": many people said it is a scam */
}

/* What the dedup key says the scam is: its template, or the reported
 * number (so one reported caller with changing texts warns once). */
static void scam_identity(const fz_verdict *v, const fz_message *m, const char *why, char *out, size_t cap)
{
    if (strcmp(why, "reported") == 0)
        snprintf(out, cap, "rep:%.*s", (int)m->from.len, m->from.ptr);
    else if (v->template_hash[0])
        snprintf(out, cap, "tpl:%s", v->template_hash);
    else
        snprintf(out, cap, "cat:%s", why);     /* scored without the store: no template hash */
}

/* One message about to warn: its resident and what it is about. */
typedef struct candidate {
    size_t msg;
    const char *why;
    char number[24];
    char key[48];
} candidate;

typedef struct stage {
    fz_store *s;
    const fz_engine *e;
    fz_batch *b;
    int64_t now;
    fz_warn_request *reqs;
    size_t *req_msg;            /* the message of each request */
    size_t n_reqs, cap_reqs;
} stage;

static fz_warn_request *next_request(stage *g, size_t msg)
{
    if (g->n_reqs == g->cap_reqs) {
        size_t cap = g->cap_reqs ? g->cap_reqs * 2 : 16;
        fz_warn_request *r = realloc(g->reqs, cap * sizeof *r);
        size_t *m = r ? realloc(g->req_msg, cap * sizeof *m) : NULL;
        if (r)
            g->reqs = r;
        if (!m)
            return NULL;
        g->req_msg = m;
        g->cap_reqs = cap;
    }
    g->req_msg[g->n_reqs] = msg;
    fz_warn_request *r = &g->reqs[g->n_reqs++];
    memset(r, 0, sizeof *r);
    return r;
}

/* Fill one request for recipient `to` about the scam that reached res. */
static int build(stage *g, const candidate *c, const fz_resident *res, int role, const char *to, const char *scam)
{
    const fz_warn_policy *p = &g->e->rs->policy.warn;
    int lang = fz_lang_index(res->language);
    if (lang < 0)
        lang = FZ_LANG_ZH;
    fz_warn_request *r = next_request(g, c->msg);
    if (!r)
        return FZ_ENOMEM;
    fz_warning *w = &r->w;
    if (fz_warning_render(g->e->rs, lang, role, c->why, role == FZ_ROLE_RESIDENT ? res->name : "", res->name,
                          w->text, sizeof w->text)) {
        g->n_reqs--;
        return FZ_ENOENT;
    }
    int64_t day = fz_warn_local_day(g->now, p->utc_offset_min);
    char once[256], hash[33];
    snprintf(once, sizeof once, "%s|%s|%s|%s|%lld", fz_role_name(role), to, res->number, scam, (long long)day);
    fz_store_id_hash(g->s, once, strlen(once), hash);
    snprintf(r->once_key, sizeof r->once_key, "%s", hash);
    char id_src[300];
    snprintf(id_src, sizeof id_src, "warning|%s", once);
    fz_store_id_hash(g->s, id_src, strlen(id_src), w->id);
    fz_store_id_hash(g->s, to, strlen(to), hash);
    snprintf(r->count_key, sizeof r->count_key, "%s:%lld", hash, (long long)day);
    r->once_ttl = r->count_ttl = KEY_TTL;
    r->limit = role == FZ_ROLE_RESIDENT && res->daily_limit > 0 ? res->daily_limit : p->daily_limit;
    int own_quiet = role == FZ_ROLE_RESIDENT && res->quiet_start != res->quiet_end;
    w->due = fz_warn_due(g->now, p->utc_offset_min, own_quiet ? res->quiet_start : p->quiet_start,
                         own_quiet ? res->quiet_end : p->quiet_end);
    w->created = g->now;
    snprintf(w->to, sizeof w->to, "%s", to);
    snprintf(w->role, sizeof w->role, "%s", fz_role_name(role));
    snprintf(w->language, sizeof w->language, "%s", lang == FZ_LANG_EN ? "en" : "zh");
    snprintf(w->channel, sizeof w->channel, "%s", res->channel[0] ? res->channel : "sms");
    snprintf(w->category, sizeof w->category, "%s", c->why);
    return 0;
}

static void plan(stage *g, const candidate *c, const fz_resident *res)
{
    const fz_verdict *v = fz_batch_verdict(g->b, c->msg);
    const fz_message *m = fz_batch_message(g->b, c->msg);
    char scam[128];
    scam_identity(v, m, c->why, scam, sizeof scam);
    if (build(g, c, res, FZ_ROLE_RESIDENT, res->number, scam))
        return;
    if (severity_of(g->e, c->why) < g->e->rs->policy.warn.guardian_severity)
        return;
    for (size_t i = 0; i < res->n_guardians; i++)
        build(g, c, res, FZ_ROLE_GUARDIAN, res->guardians[i], scam);
}

/* --- recording the outcome -------------------------------------------------------------- */

static void count(fz_scan_stats *st, fz_queue_result r)
{
    switch (r) {
    case FZ_QUEUED: st->warnings_queued++; break;
    case FZ_SPOOLED: st->warnings_queued++; st->warnings_spooled++; break;
    case FZ_DUPLICATE: st->warnings_duplicate++; break;
    case FZ_LIMITED: st->warnings_limited++; break;
    default: st->warnings_failed++; break;
    }
}

static void record(stage *g, const fz_queue_result *res, fz_scan_stats *st)
{
    for (size_t i = 0; i < g->n_reqs; i++) {
        fz_verdict *v = fz_batch_verdict(g->b, g->req_msg[i]);
        const fz_warning *w = &g->reqs[i].w;
        count(st, res[i]);
        if (strcmp(w->role, "guardian") == 0) {
            v->warn_guardians += res[i] == FZ_QUEUED || res[i] == FZ_SPOOLED;
            continue;
        }
        v->warn = (int)res[i] + 1;
        memcpy(v->warn_id, w->id, sizeof v->warn_id);
        v->warn_due = w->due;
    }
}

/* --- the stage ---------------------------------------------------------------------------- */

static size_t find_candidates(stage *g, candidate *out)
{
    size_t n = 0;
    for (size_t i = 0; i < fz_batch_count(g->b); i++) {
        if (!fz_batch_ok(g->b, i))
            continue;
        const fz_message *m = fz_batch_message(g->b, i);
        const fz_verdict *v = fz_batch_verdict(g->b, i);
        const char *why = m->to.len && m->to.len < 40 ? reason(g->e, v) : NULL;
        if (!why)
            continue;
        char to[40];
        memcpy(to, m->to.ptr, m->to.len);
        to[m->to.len] = '\0';
        candidate *c = &out[n];
        if (fz_number_e164(to, c->number) || fz_resident_key(g->s, c->number, c->key))
            continue;
        c->msg = i;
        c->why = why;
        n++;
    }
    return n;
}

/* Look the candidates' residents up (one round trip) and plan their
 * warnings. */
static void look_up(stage *g, candidate *c, size_t n, fz_scan_stats *st)
{
    fz_op *ops = calloc(n, sizeof *ops);
    if (!ops) {
        st->warnings_failed += n;
        return;
    }
    for (size_t i = 0; i < n; i++)
        ops[i] = (fz_op){.type = FZ_OP_GET, .key = {c[i].key, strlen(c[i].key)}};
    fz_arena a;
    fz_arena_init(&a, 4096);
    if (fz_store_exec(g->s, ops, n, &a)) {
        st->warnings_failed += n;       /* the registry cannot be read: counted, see the note in DESIGN */
    } else {
        for (size_t i = 0; i < n; i++) {
            fz_resident res;
            if (ops[i].found && fz_resident_open(g->s, &ops[i].result, &res, NULL) == 0)
                plan(g, &c[i], &res);
        }
    }
    fz_arena_free(&a);
    free(ops);
}

/* How many messages of the batch may warn (most batches: none, and then
 * the stage allocates nothing). */
static size_t qualifying(const fz_engine *e, fz_batch *b)
{
    size_t n = 0;
    for (size_t i = 0; i < fz_batch_count(b); i++)
        n += fz_batch_ok(b, i) && fz_batch_message(b, i)->to.len && reason(e, fz_batch_verdict(b, i));
    return n;
}

void fz_warn_batch(fz_outbox *o, fz_store *s, const fz_engine *e, fz_batch *b, int64_t now, fz_scan_stats *st)
{
    if (!e->rs->warnings.present)
        return;
    size_t n = qualifying(e, b);
    if (n == 0)
        return;
    candidate *c = malloc(n * sizeof *c);
    if (!c)
        return;
    stage g = {.s = s, .e = e, .b = b, .now = now};
    size_t found = find_candidates(&g, c);
    if (found)
        look_up(&g, c, found, st);
    free(c);
    if (g.n_reqs) {
        fz_queue_result *res = malloc(g.n_reqs * sizeof *res);
        if (res && fz_outbox_queue(o, g.reqs, g.n_reqs, res, NULL) == 0)
            record(&g, res, st);
        else
            st->warnings_failed += g.n_reqs;
        free(res);
    }
    free(g.reqs);
    free(g.req_msg);
}
