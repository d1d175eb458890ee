/* metrics.h — the service's counters and histograms, and their rendering in
 * the Prometheus text format (metrics.c).
 *
 * Every series has a fixed, small label set chosen here (action, endpoint,
 * status code, result): never a phone number, a text or a message id, so a
 * scrape can neither leak a resident nor grow without bound. Updates are
 * relaxed atomic adds: cheap enough for the request path. */
#ifndef FZ_METRICS_H
#define FZ_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "fanzha/buf.h"
#include "fanzha/outbox.h"
#include "fanzha/scan.h"
#include "fanzha/store.h"

/* The endpoints, as labels. A path is never a label: it may hold a number. */
typedef enum fz_endpoint {
    FZ_EP_CHECK, FZ_EP_BATCH, FZ_EP_REPORTS, FZ_EP_RESIDENTS, FZ_EP_CAMPAIGNS, FZ_EP_RELOAD,
    FZ_EP_HEALTHZ, FZ_EP_READYZ, FZ_EP_METRICS, FZ_EP_OTHER, FZ_EP_COUNT
} fz_endpoint;

const char *fz_endpoint_name(fz_endpoint ep);

/* Status codes the server answers with, as label slots. */
enum { FZ_CODE_SLOTS = 12 };

#define FZ_LATENCY_BUCKETS 16

typedef struct fz_histogram {
    atomic_uint_fast64_t buckets[FZ_LATENCY_BUCKETS];   /* not cumulative: rendered cumulatively */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
} fz_histogram;

typedef struct fz_metrics {
    atomic_uint_fast64_t messages[3];                   /* by fz_action */
    atomic_uint_fast64_t record_errors;                 /* records answered with an error record */
    atomic_uint_fast64_t warnings[5];                   /* queued, spooled, duplicate, limited, failed */
    atomic_uint_fast64_t requests[FZ_EP_COUNT][FZ_CODE_SLOTS];
    fz_histogram request_seconds[FZ_EP_COUNT];
    fz_histogram check_seconds;                         /* scoring one message (/v1/check), state included */
    atomic_uint_fast64_t deliveries[3];                 /* delivered, retried, dead */
    atomic_uint_fast64_t reloads_ok, reloads_refused;
    atomic_uint_fast64_t auth_failures;
    atomic_uint_fast64_t rejected_too_large;
    atomic_int_fast64_t in_flight;
    int64_t started;                                    /* Unix seconds */
} fz_metrics;

void fz_metrics_init(fz_metrics *m);
void fz_histogram_observe(fz_histogram *h, uint64_t ns);
void fz_metrics_request(fz_metrics *m, fz_endpoint ep, unsigned code, uint64_t ns);
/* Add what a scorer counted (messages by action, error records, warnings). */
void fz_metrics_add_scan(fz_metrics *m, const fz_scan_stats *st);

/* What the scrape reads from elsewhere at the time of the scrape. */
typedef struct fz_metrics_view {
    const char *rules_version, *rules_source;
    size_t rules;
    const fz_store_stats *store;                        /* NULL: no store */
    const char *store_kind;                             /* "embedded" or "redis" */
    const fz_outbox_depth *outbox;                      /* NULL: no outbox, or it cannot be read */
    int outbox_configured;
    int ready;
} fz_metrics_view;

/* The whole exposition (text format 0.0.4). 0 or FZ_ENOMEM. */
int fz_metrics_render(const fz_metrics *m, const fz_metrics_view *v, fz_buf *out);

#endif
