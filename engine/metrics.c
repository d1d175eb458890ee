/* metrics.c — counting what the service does and rendering it for
 * Prometheus (metrics.h).
 *
 * How it works. Counters are relaxed atomics bumped where things happen;
 * histograms keep one counter per bucket (not cumulative, so an
 * observation touches one bucket) and are summed into the cumulative form
 * at scrape time. Values that live elsewhere (store counters, outbox depth,
 * the rules in use) are read by the caller at scrape time and passed in a
 * view, so the scrape shows the truth of that moment. Names follow the
 * Prometheus conventions: _total for counters, base units (seconds), an
 * _info series for the rules version. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

static const double k_bounds[FZ_LATENCY_BUCKETS - 1] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   1.0};

static const unsigned k_codes[FZ_CODE_SLOTS] = {200, 201, 409, 400, 401, 403, 404, 405, 413, 422, 500, 503};

static const char *const k_endpoints[FZ_EP_COUNT] = {"check",   "check_batch", "reports", "residents", "campaigns",
                                                     "reload",  "healthz",     "readyz",  "metrics",   "other"};

static const char *const k_actions[3] = {"allow", "suspect", "block"};
static const char *const k_warnings[5] = {"queued", "spooled", "duplicate", "limited", "failed"};
static const char *const k_deliveries[3] = {"delivered", "retried", "dead"};

#define ADD(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)
#define GET(x) atomic_load_explicit(&(x), memory_order_relaxed)

const char *fz_endpoint_name(fz_endpoint ep)
{
    return ep < FZ_EP_COUNT ? k_endpoints[ep] : "other";
}

void fz_metrics_init(fz_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->started = (int64_t)time(NULL);
}

void fz_histogram_observe(fz_histogram *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    size_t i = 0;
    while (i < FZ_LATENCY_BUCKETS - 1 && s > k_bounds[i])
        i++;
    ADD(h->buckets[i], 1);
    ADD(h->count, 1);
    ADD(h->sum_ns, ns);
}

static size_t code_slot(unsigned code)
{
    for (size_t i = 0; i < FZ_CODE_SLOTS; i++)
        if (k_codes[i] == code)
            return i;
    return 10; /* an unexpected code counts as 500 */
}

void fz_metrics_request(fz_metrics *m, fz_endpoint ep, unsigned code, uint64_t ns)
{
    if (ep >= FZ_EP_COUNT)
        ep = FZ_EP_OTHER;
    ADD(m->requests[ep][code_slot(code)], 1);
    fz_histogram_observe(&m->request_seconds[ep], ns);
}

void fz_metrics_add_scan(fz_metrics *m, const fz_scan_stats *st)
{
    for (int i = 0; i < 3; i++)
        if (st->by_action[i])
            ADD(m->messages[i], st->by_action[i]);
    if (st->errors)
        ADD(m->record_errors, st->errors);
    const uint64_t w[5] = {st->warnings_queued - st->warnings_spooled, st->warnings_spooled,
                           st->warnings_duplicate, st->warnings_limited, st->warnings_failed};
    for (int i = 0; i < 5; i++)
        if (w[i])
            ADD(m->warnings[i], w[i]);
}

/* --- rendering ---------------------------------------------------------------------------- */

static int head(fz_buf *o, const char *name, const char *type, const char *help)
{
    char line[512];
    snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    return fz_buf_puts(o, line);
}

static int sample(fz_buf *o, const char *name, const char *labels, double v)
{
    char line[512];
    if (labels && *labels)
        snprintf(line, sizeof line, "%s{%s} %.17g\n", name, labels, v);
    else
        snprintf(line, sizeof line, "%s %.17g\n", name, v);
    return fz_buf_puts(o, line);
}

static int labelled(fz_buf *o, const char *name, const char *key, const char *const *values,
                    const atomic_uint_fast64_t *counts, size_t n)
{
    char labels[128];
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        snprintf(labels, sizeof labels, "%s=\"%s\"", key, values[i]);
        rc = sample(o, name, labels, (double)GET(counts[i]));
    }
    return rc;
}

/* A label value: escape \, " and newlines (rules sources are paths). */
static void label_value(char *out, size_t cap, const char *s)
{
    size_t j = 0;
    for (; s && *s && j + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            out[j++] = '\\';
            out[j++] = *s;
        } else if (*s == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = *s;
        }
    }
    out[j] = '\0';
}

static int histogram(fz_buf *o, const char *name, const char *extra, const fz_histogram *h)
{
    char labels[160], series[160];
    uint64_t cum = 0;
    int rc = 0;
    snprintf(series, sizeof series, "%s_bucket", name);
    for (size_t i = 0; i < FZ_LATENCY_BUCKETS && !rc; i++) {
        cum += GET(h->buckets[i]);
        char le[32];
        if (i < FZ_LATENCY_BUCKETS - 1)
            snprintf(le, sizeof le, "%g", k_bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(labels, sizeof labels, "%s%sle=\"%s\"", extra ? extra : "", extra ? "," : "", le);
        rc = sample(o, series, labels, (double)cum);
    }
    snprintf(series, sizeof series, "%s_sum", name);
    rc = rc || sample(o, series, extra, (double)GET(h->sum_ns) / 1e9);
    snprintf(series, sizeof series, "%s_count", name);
    return rc || sample(o, series, extra, (double)GET(h->count));
}

static int render_requests(const fz_metrics *m, fz_buf *o)
{
    char labels[128];
    int rc = head(o, "fanzha_http_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
    for (size_t ep = 0; ep < FZ_EP_COUNT && !rc; ep++)
        for (size_t c = 0; c < FZ_CODE_SLOTS && !rc; c++) {
            uint64_t n = GET(m->requests[ep][c]);
            if (!n)
                continue;
            snprintf(labels, sizeof labels, "endpoint=\"%s\",code=\"%u\"", k_endpoints[ep], k_codes[c]);
            rc = sample(o, "fanzha_http_requests_total", labels, (double)n);
        }
    rc = rc || head(o, "fanzha_http_request_duration_seconds", "histogram",
                    "Time from a request's headers to its reply, by endpoint (a batch: to its first block).");
    for (size_t ep = 0; ep < FZ_EP_COUNT && !rc; ep++) {
        if (!GET(m->request_seconds[ep].count))
            continue;
        snprintf(labels, sizeof labels, "endpoint=\"%s\"", k_endpoints[ep]);
        rc = histogram(o, "fanzha_http_request_duration_seconds", labels, &m->request_seconds[ep]);
    }
    return rc || head(o, "fanzha_http_in_flight_requests", "gauge", "Requests being answered now.") ||
           sample(o, "fanzha_http_in_flight_requests", NULL, (double)GET(m->in_flight)) ||
           head(o, "fanzha_http_auth_failures_total", "counter", "Requests refused for a missing or wrong token.") ||
           sample(o, "fanzha_http_auth_failures_total", NULL, (double)GET(m->auth_failures)) ||
           head(o, "fanzha_http_too_large_total", "counter", "Requests refused because the body was too large.") ||
           sample(o, "fanzha_http_too_large_total", NULL, (double)GET(m->rejected_too_large));
}

static int render_scoring(const fz_metrics *m, fz_buf *o)
{
    return head(o, "fanzha_messages_total", "counter", "Messages scored, by the action decided.") ||
           labelled(o, "fanzha_messages_total", "action", k_actions, m->messages, 3) ||
           head(o, "fanzha_record_errors_total", "counter", "Records answered with an error record (unreadable).") ||
           sample(o, "fanzha_record_errors_total", NULL, (double)GET(m->record_errors)) ||
           head(o, "fanzha_scoring_duration_seconds", "histogram",
                "Time to score one message of /v1/check, state lookups and warnings included.") ||
           histogram(o, "fanzha_scoring_duration_seconds", NULL, &m->check_seconds) ||
           head(o, "fanzha_warnings_total", "counter", "Warnings to residents and guardians, by what became of them.") ||
           labelled(o, "fanzha_warnings_total", "result", k_warnings, m->warnings, 5) ||
           head(o, "fanzha_deliveries_total", "counter", "Delivery attempts of warnings by this process, by result.") ||
           labelled(o, "fanzha_deliveries_total", "result", k_deliveries, m->deliveries, 3) ||
           head(o, "fanzha_rule_reloads_total", "counter", "Rule reloads, by result (a refused pack leaves the running one).") ||
           sample(o, "fanzha_rule_reloads_total", "result=\"ok\"", (double)GET(m->reloads_ok)) ||
           sample(o, "fanzha_rule_reloads_total", "result=\"refused\"", (double)GET(m->reloads_refused));
}

static int render_view(const fz_metrics *m, const fz_metrics_view *v, fz_buf *o)
{
    char labels[1024], ver[128], src[768];
    label_value(ver, sizeof ver, v->rules_version);
    label_value(src, sizeof src, v->rules_source);
    snprintf(labels, sizeof labels, "version=\"%s\",source=\"%s\"", ver, src);
    int rc = head(o, "fanzha_rules_info", "gauge", "The rule pack in use (value 1).") ||
             sample(o, "fanzha_rules_info", labels, 1) ||
             head(o, "fanzha_rules", "gauge", "Rules in the pack in use.") ||
             sample(o, "fanzha_rules", NULL, (double)v->rules) ||
             head(o, "fanzha_ready", "gauge", "1 when the service takes traffic, 0 while it drains.") ||
             sample(o, "fanzha_ready", NULL, v->ready) ||
             head(o, "fanzha_start_time_seconds", "gauge", "When the process started, Unix seconds.") ||
             sample(o, "fanzha_start_time_seconds", NULL, (double)m->started);
    if (!rc && v->store) {
        const fz_store_stats *s = v->store;
        snprintf(labels, sizeof labels, "store=\"%s\"", v->store_kind ? v->store_kind : "embedded");
        rc = head(o, "fanzha_cache_requests_total", "counter", "Verdict cache lookups, by result.") ||
             sample(o, "fanzha_cache_requests_total", "result=\"hit\"", (double)s->cache_hits) ||
             sample(o, "fanzha_cache_requests_total", "result=\"miss\"", (double)s->cache_misses) ||
             head(o, "fanzha_state_round_trips_total", "counter", "Round trips to the state store.") ||
             sample(o, "fanzha_state_round_trips_total", labels, (double)s->round_trips) ||
             head(o, "fanzha_state_errors_total", "counter", "Round trips to the state store that failed.") ||
             sample(o, "fanzha_state_errors_total", labels, (double)s->errors) ||
             head(o, "fanzha_state_reconnects_total", "counter", "Reconnections to the state store.") ||
             sample(o, "fanzha_state_reconnects_total", labels, (double)s->reconnects) ||
             head(o, "fanzha_state_degraded_messages_total", "counter",
                  "Messages scored without state because the store failed.") ||
             sample(o, "fanzha_state_degraded_messages_total", labels, (double)s->degraded);
    }
    if (!rc && v->outbox_configured) {
        const fz_outbox_depth *d = v->outbox;
        rc = head(o, "fanzha_outbox_up", "gauge", "1 when the outbox could be read at this scrape.") ||
             sample(o, "fanzha_outbox_up", NULL, d ? 1 : 0);
        if (!rc && d)
            rc = head(o, "fanzha_outbox_warnings", "gauge", "Warnings waiting in the outbox, by box.") ||
                 sample(o, "fanzha_outbox_warnings", "box=\"ready\"", (double)d->ready) ||
                 sample(o, "fanzha_outbox_warnings", "box=\"scheduled\"", (double)d->scheduled) ||
                 sample(o, "fanzha_outbox_warnings", "box=\"dead\"", (double)d->dead) ||
                 sample(o, "fanzha_outbox_warnings", "box=\"spooled\"", (double)d->spooled);
    }
    return rc;
}

int fz_metrics_render(const fz_metrics *m, const fz_metrics_view *v, fz_buf *out)
{
    int rc = render_requests(m, out) || render_scoring(m, out) || render_view(m, v, out);
    return rc ? FZ_ENOMEM : 0;
}
