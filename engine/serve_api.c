/* serve_api.c — the endpoints of the HTTP server (fanzha/serve.h lists
 * them). Each turns a received request into a reply; serve.c did the
 * routing, the auth and the limits before.
 *
 * How scoring goes. /v1/check scores its one message with the thread's
 * scorer (state lookups and warnings included) and answers the verdict
 * line scan would write. /v1/check/batch answers as it scores: the reply
 * is pulled by libmicrohttpd, and each pull scores the next block of lines
 * (up to 1,000 records: two round trips to the store per block), so a
 * large batch never holds all its verdicts in memory and the first ones
 * leave while the rest are scored. Each block takes the engine in the slot
 * at that moment: a reload during a batch is picked up at the next block
 * and fails nothing. A store that fails answers 503 with Retry-After where
 * the request is about state (reports, residents, campaigns); scoring goes
 * on without state, as everywhere. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanzha/resident.h"
#include "json_out.h"
#include "serve_internal.h"

#define BLOCK_RECORDS 1000
#define BLOCK_BYTES (256u * 1024)
#define STATE_RETRY_S 5

static void reply_json(fz_reply *r, unsigned code, const char *json)
{
    r->code = code;
    fz_buf_clear(&r->body);
    if (fz_buf_puts(&r->body, json) || fz_buf_lit(&r->body, "\n"))
        fz_reply_error(r, 500, "out of memory");
}

static void state_down(fz_reply *r, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "the state store cannot be reached (%s); try again", what);
    fz_reply_error(r, 503, msg);
    r->retry_after = STATE_RETRY_S;
}


/* --- /v1/check ---------------------------------------------------------------------------- */

void fz_api_check(fz_server *s, fz_request *q, fz_reply *r)
{
    size_t n = q->body.len;
    while (n && (q->body.data[n - 1] == '\n' || q->body.data[n - 1] == '\r' || q->body.data[n - 1] == ' '))
        n--;
    if (n == 0) {
        fz_reply_error(r, 400, "the body is empty: one message as a JSON object is expected");
        return;
    }
    fz_scorer *sc = fz_server_scorer(s);
    if (!sc) {
        fz_reply_error(r, 500, "out of memory");
        return;
    }
    fz_scorer_rec rec = {q->body.data, n, 1, NULL};
    fz_scored where;
    fz_scan_stats st = {0};
    fz_engine *e = fz_engine_slot_acquire(s->o.slot);
    fz_scorer_job job = {e, FZ_FORMAT_JSONL, s->o.store, s->o.outbox, &r->body, &r->body, &where};
    uint64_t t0 = fz_now_ns();
    int rc = fz_scorer_run(sc, &job, &rec, 1, &st);
    fz_histogram_observe(&s->metrics.check_seconds, fz_now_ns() - t0);
    fz_engine_release(e);
    fz_metrics_add_scan(&s->metrics, &st);
    if (rc)
        fz_reply_error(r, 500, fz_strerror(rc));
    else
        r->code = where.is_error ? 400 : 200;
}

/* --- /v1/check/batch ------------------------------------------------------------------------ */

struct fz_batch_stream {
    fz_server *server;
    fz_buf in;                  /* the request body */
    size_t at;                  /* the next byte of it to read */
    uint64_t line;              /* the line number at `at` */
    fz_buf out;                 /* scored, not yet sent */
    size_t sent;
    fz_scorer_rec *recs;
    char too_long[96];
};

/* The next block of records from the body (blank lines skipped). */
static size_t next_block(struct fz_batch_stream *b)
{
    size_t n = 0, bytes = 0;
    size_t max_record = b->server->o.settings.max_record;
    while (b->at < b->in.len && n < BLOCK_RECORDS && bytes < BLOCK_BYTES) {
        const char *p = b->in.data + b->at;
        const char *nl = memchr(p, '\n', b->in.len - b->at);
        size_t len = nl ? (size_t)(nl - p) : b->in.len - b->at;
        b->at += len + (nl != NULL);
        uint64_t line = b->line++;
        size_t t = len;
        while (t && (p[t - 1] == '\r' || p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == 0)
            continue;
        b->recs[n++] = (fz_scorer_rec){p, t, line, t > max_record ? b->too_long : NULL};
        bytes += t;
    }
    return n;
}

static int score_block(struct fz_batch_stream *b)
{
    fz_server *s = b->server;
    size_t n = next_block(b);
    if (n == 0)
        return 0;
    fz_scorer *sc = fz_server_scorer(s);
    if (!sc)
        return FZ_ENOMEM;
    fz_scan_stats st = {0};
    fz_engine *e = fz_engine_slot_acquire(s->o.slot);
    fz_scorer_job job = {e, FZ_FORMAT_JSONL, s->o.store, s->o.outbox, &b->out, &b->out, NULL};
    int rc = fz_scorer_run(sc, &job, b->recs, n, &st);
    fz_engine_release(e);
    fz_metrics_add_scan(&s->metrics, &st);
    return rc;
}

long fz_batch_stream_read(struct fz_batch_stream *b, char *buf, size_t max)
{
    if (b->sent == b->out.len) {
        fz_buf_clear(&b->out);
        b->sent = 0;
        while (b->out.len == 0 && b->at < b->in.len)
            if (score_block(b)) {
                fz_server_log(b->server, "check_batch: scoring failed; the reply is cut short");
                return -1;
            }
        if (b->out.len == 0)
            return 0;
    }
    size_t n = b->out.len - b->sent < max ? b->out.len - b->sent : max;
    memcpy(buf, b->out.data + b->sent, n);
    b->sent += n;
    return (long)n;
}

void fz_batch_stream_free(struct fz_batch_stream *b)
{
    if (!b)
        return;
    fz_buf_free(&b->in);
    fz_buf_free(&b->out);
    free(b->recs);
    free(b);
}

void fz_api_batch(fz_server *s, fz_request *q, fz_reply *r)
{
    struct fz_batch_stream *b = calloc(1, sizeof *b);
    if (!b || !(b->recs = calloc(BLOCK_RECORDS, sizeof *b->recs))) {
        free(b);
        fz_reply_error(r, 500, "out of memory");
        return;
    }
    b->server = s;
    b->in = q->body;            /* the stream owns the body from now on */
    memset(&q->body, 0, sizeof q->body);
    b->line = 1;
    snprintf(b->too_long, sizeof b->too_long, "record too long: more than %zu bytes", s->o.settings.max_record);
    r->code = 200;
    r->content_type = "application/x-ndjson";
    r->stream = b;
}

/* --- /v1/reports ----------------------------------------------------------------------------- */

typedef struct report_errors {
    fz_buf json;                /* [{"line":..,"error":..},...] */
    size_t shown;
} report_errors;

static void bad_report(void *ud, uint64_t line, const char *why)
{
    report_errors *re = ud;
    if (re->shown >= 10)
        return;
    int rc = fz_buf_puts(&re->json, re->shown ? ",{\"line\":" : "{\"line\":") || fz_json_uint(&re->json, line) ||
             fz_buf_lit(&re->json, ",\"error\":") || fz_json_str(&re->json, why, strlen(why)) ||
             fz_buf_lit(&re->json, "}");
    re->shown += rc == 0;
}

void fz_api_reports(fz_server *s, fz_request *q, fz_reply *r)
{
    fz_engine *e = fz_engine_slot_acquire(s->o.slot);
    double half_life = fz_engine_half_life_days(e);
    fz_engine_release(e);
    report_errors re = {{0}, 0};
    size_t ok = 0, bad = 0;
    fz_error err;
    int rc = fz_reports_ingest(s->o.store, q->body.data ? q->body.data : "", q->body.len, 1, half_life, bad_report,
                               &re, &ok, &bad, &err);
    if (rc == FZ_EIO) {
        state_down(r, "reports");
    } else if (rc) {
        fz_reply_error(r, 500, err.message);
    } else if (ok + bad == 0) {
        fz_reply_error(r, 400, "no reports in the body: JSON Lines of {\"number\":...} are expected");
    } else {
        char head[128];
        snprintf(head, sizeof head, "{\"recorded\":%zu,\"unreadable\":%zu,\"errors\":[", ok, bad);
        r->code = ok ? 200 : 400;
        if (fz_buf_puts(&r->body, head) || fz_buf_append(&r->body, re.json.data, re.json.len) ||
            fz_buf_lit(&r->body, "]}\n"))
            fz_reply_error(r, 500, "out of memory");
    }
    fz_buf_free(&re.json);
}

/* --- /v1/residents/{number} -------------------------------------------------------------------- */

/* The body with the path's number put in (or checked against it). */
static int resident_from_body(const fz_request *q, const char *e164, fz_resident *res, char *why, size_t cap)
{
    cJSON *root = cJSON_ParseWithLength(q->body.data ? q->body.data : "", q->body.len);
    /* Checked on the body as sent: cJSON would read \uZZZZ as U+0000 and
     * print the record back cut short. */
    if (root && fz_json_bad_u_escape_at(q->body.data, q->body.len, NULL) < q->body.len) {
        cJSON_Delete(root);
        snprintf(why, cap, "invalid JSON: bad \\u escape");
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(why, cap, "the body must be a JSON object (name, language, guardians, channel, daily_limit, quiet)");
        return -1;
    }
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(root, "number");
    char given[24];
    if (num && (!cJSON_IsString(num) || fz_number_e164(num->valuestring, given) || strcmp(given, e164) != 0)) {
        cJSON_Delete(root);
        snprintf(why, cap, "the body's number is not the number of the path");
        return -1;
    }
    if (!num)
        cJSON_AddStringToObject(root, "number", e164);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    fz_error err;
    int rc = text ? fz_resident_parse(text, strlen(text), res, &err) : FZ_ENOMEM;
    if (rc)
        snprintf(why, cap, "%s", text ? err.message : "out of memory");
    free(text);
    return rc;
}

static void resident_put(fz_server *s, fz_request *q, const char *e164, fz_reply *r)
{
    fz_resident res;
    char why[1100], json[2048];
    if (resident_from_body(q, e164, &res, why, sizeof why)) {
        fz_reply_error(r, 400, why);
        return;
    }
    fz_error err;
    int rc = fz_resident_put(s->o.store, &res, &err);
    if (rc == FZ_EIO)
        state_down(r, "residents");
    else if (rc)
        fz_reply_error(r, 400, err.message);
    else if (fz_resident_json(&res, 1, json, sizeof json) == 0)
        reply_json(r, 200, json);
    else
        fz_reply_error(r, 500, "the record is too large to show");
}

void fz_api_residents(fz_server *s, fz_request *q, fz_reply *r)
{
    char e164[24], json[2048];
    if (fz_number_e164(q->number, e164)) {
        fz_reply_error(r, 400, "the path does not end in a phone number (+8613812345678)");
        return;
    }
    if (q->method == FZ_PUT) {
        resident_put(s, q, e164, r);
        return;
    }
    fz_resident res;
    fz_error err;
    int rc = q->method == FZ_GET ? fz_resident_get(s->o.store, e164, &res, &err)
                                 : fz_resident_remove(s->o.store, e164, &err);
    if (rc == FZ_ENOENT)
        fz_reply_error(r, 404, "no resident with this number");
    else if (rc == FZ_EIO)
        state_down(r, "residents");
    else if (rc)
        fz_reply_error(r, 500, err.message);
    else if (q->method == FZ_DELETE)
        reply_json(r, 200, "{\"removed\":true}");
    else if (fz_resident_json(&res, 0, json, sizeof json) == 0)
        reply_json(r, 200, json);     /* an admin who names the number reads the record in clear */
    else
        fz_reply_error(r, 500, "the record is too large to show");
}

/* --- /v1/campaigns ------------------------------------------------------------------------------- */

void fz_api_campaigns(fz_server *s, fz_request *q, fz_reply *r)
{
    size_t n = q->limit_arg ? q->limit_arg : 20;
    if (n > 100)
        n = 100;
    fz_campaign *c = calloc(n, sizeof *c);
    fz_error err;
    int rc = c ? fz_store_campaigns(s->o.store, c, &n, &err) : FZ_ENOMEM;
    if (rc == FZ_EIO) {
        state_down(r, "campaigns");
    } else if (rc) {
        fz_reply_error(r, 500, fz_strerror(rc));
    } else {
        r->code = 200;
        int bad = fz_buf_lit(&r->body, "{\"campaigns\":[");
        for (size_t i = 0; i < n && !bad; i++)
            bad = fz_buf_puts(&r->body, i ? ",{\"template\":\"" : "{\"template\":\"") ||
                  fz_buf_puts(&r->body, c[i].template_hash) || fz_buf_lit(&r->body, "\",\"recipients\":") ||
                  fz_json_uint(&r->body, c[i].recipients) || fz_buf_lit(&r->body, ",\"sample\":") ||
                  fz_json_str(&r->body, c[i].sample, strlen(c[i].sample)) || fz_buf_lit(&r->body, "}");
        if (bad || fz_buf_lit(&r->body, "]}\n"))
            fz_reply_error(r, 500, "out of memory");
    }
    free(c);
}

/* --- /v1/rules/reload ---------------------------------------------------------------------------- */

static int engine_summary(fz_server *s, fz_buf *o, const char *lead)
{
    fz_engine *e = fz_engine_slot_acquire(s->o.slot);
    const char *v = fz_engine_rules_version(e);
    int rc = fz_buf_puts(o, lead) || fz_buf_lit(o, "\"rules_version\":") || fz_json_str(o, v, strlen(v)) ||
             fz_buf_lit(o, ",\"rules\":") || fz_json_uint(o, fz_engine_rule_count(e)) ||
             fz_buf_lit(o, ",\"load_ms\":") || fz_json_num(o, fz_engine_load_ms(e));
    fz_engine_release(e);
    return rc;
}

void fz_api_reload_reply(fz_server *s, int rc, const fz_error *err, fz_reply *r)
{
    if (rc == 0) {
        r->code = 200;
        if (engine_summary(s, &r->body, "{\"reloaded\":true,") || fz_buf_lit(&r->body, "}\n"))
            fz_reply_error(r, 500, "out of memory");
        return;
    }
    r->code = 422;
    if (fz_buf_lit(&r->body, "{\"reloaded\":false,\"error\":") ||
        fz_json_str(&r->body, err->message, strlen(err->message)) || engine_summary(s, &r->body, ",\"running\":{") ||
        fz_buf_lit(&r->body, "}}\n"))
        fz_reply_error(r, 500, "out of memory");
}

/* --- /healthz, /readyz, /metrics -------------------------------------------------------------------- */

void fz_api_health(fz_server *s, fz_request *q, fz_reply *r)
{
    if (q->ep == FZ_EP_HEALTHZ) {
        reply_json(r, 200, "{\"status\":\"ok\"}");
        return;
    }
    if (atomic_load(&s->draining)) {
        reply_json(r, 503, "{\"ready\":false,\"reason\":\"draining\"}");
        r->retry_after = 5;
        return;
    }
    r->code = 200;
    if (engine_summary(s, &r->body, "{\"ready\":true,") || fz_buf_lit(&r->body, "}\n"))
        fz_reply_error(r, 500, "out of memory");
}

void fz_api_metrics(fz_server *s, fz_request *q, fz_reply *r)
{
    (void)q;
    fz_engine *e = fz_engine_slot_acquire(s->o.slot);
    fz_store_stats ss;
    fz_store_get_stats(s->o.store, &ss);
    fz_outbox_depth depth;
    int have_depth = s->o.outbox && fz_outbox_depth_get(s->o.outbox, &depth, NULL) == 0;
    fz_metrics_view v = {fz_engine_rules_version(e),
                         fz_engine_rules_source(e),
                         fz_engine_rule_count(e),
                         &ss,
                         strncmp(fz_store_describe(s->o.store), "redis", 5) == 0 ? "redis" : "embedded",
                         have_depth ? &depth : NULL,
                         s->o.outbox != NULL,
                         !atomic_load(&s->draining)};
    r->code = fz_metrics_render(&s->metrics, &v, &r->body) ? 500 : 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    fz_engine_release(e);
}
