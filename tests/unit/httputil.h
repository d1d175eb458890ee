/* httputil.h — real HTTP servers on loopback for the tests of warning
 * delivery (tests/unit/test_gateway.c): no mocks.
 *
 * - The fault-injecting receiver, tests/gateway/receiver.py (python3 from
 *   $PATH, or $PYTHON): status codes, Retry-After, hangs, resets, failing
 *   the first attempts of each key, HTTPS; idempotency tracking and
 *   counters; a JSON line per request in its log.
 * - Debian's webhook (from $PATH, or $WEBHOOK) as a well-behaved gateway,
 *   with the hook of tests/gateway/webhook-hooks.json.in: every request's
 *   Idempotency-Key, raw body and headers are appended to a record file by
 *   tests/gateway/record.sh.
 *
 * Each server runs in its own temporary directory on a free 127.0.0.1 port,
 * dies with the test process (PR_SET_PDEATHSIG), and is stopped and its
 * directory removed by hu_server_stop or at exit, so a failing test leaves
 * nothing behind. Every helper fails the test when something does not work. */
#ifndef FZ_HTTPUTIL_H
#define FZ_HTTPUTIL_H

#include <stddef.h>

typedef struct hu_server hu_server;

/* receiver.py with extra command-line arguments (NULL-terminated list, or
 * NULL), e.g. {"--mode", "503", "--retry-after", "2", NULL}. */
hu_server *hu_receiver_start(const char *const *args);
/* The same serving HTTPS with the given certificate chain and key. */
hu_server *hu_receiver_start_tls(const char *cert, const char *key, const char *const *args);
/* webhook serving the recording hook. */
hu_server *hu_webhook_start(void);
/* Stop (SIGTERM, then SIGKILL), wait, remove its directory; NULL is a no-op. */
void hu_server_stop(hu_server *s);

int hu_server_port(const hu_server *s);
/* The URL of a delivery endpoint: the receiver takes any path; webhook's
 * recording hook is /hooks/record. "http(s)://127.0.0.1:PORT/…" (static
 * storage). */
const char *hu_server_url(const hu_server *s);

/* --- receiver.py at run time ------------------------------------------------------------------ */

/* POST /_control with a JSON object, e.g. "{\"mode\":\"hang\",\"hang_ms\":800}". */
void hu_receiver_control(const hu_server *s, const char *json);
/* Mode "ok", no Retry-After, no Location, no fail_first, hang 1000 ms, counters zeroed. */
void hu_receiver_reset(const hu_server *s);

typedef struct hu_stats {
    long requests;      /* delivery requests received */
    long accepted;      /* distinct keys answered 2xx */
    long duplicates;    /* requests with an already accepted key */
    long keys;          /* distinct keys seen */
} hu_stats;
hu_stats hu_receiver_stats(const hu_server *s);

/* The receiver's log since it started: one parsed JSON object (cJSON *) per
 * request, as a cJSON array (the caller's to cJSON_Delete). */
struct cJSON *hu_receiver_log(const hu_server *s);

/* --- webhook's records ------------------------------------------------------------------------ */

typedef struct hu_record {
    char key[80];           /* the Idempotency-Key header ("" if none) */
    char *body;             /* the raw body, NUL-terminated */
    size_t body_len;
    struct cJSON *headers;  /* the request headers, names canonical ("Idempotency-Key") */
} hu_record;

/* Every request webhook recorded so far, in arrival order; *n their count.
 * Free with hu_records_free. */
hu_record *hu_webhook_records(const hu_server *s, size_t *n);
void hu_records_free(hu_record *r, size_t n);

/* --- TLS material ----------------------------------------------------------------------------- */

/* A fresh CA and a server certificate for IP 127.0.0.1 (subjectAltName)
 * signed by it, made with the openssl command in a temporary directory that
 * is removed at exit. */
typedef struct hu_tls {
    char dir[256];
    char ca[300];           /* the CA certificate (PEM): what a client must trust */
    char cert[300];         /* the server certificate */
    char key[300];          /* its private key */
} hu_tls;
const hu_tls *hu_tls_make(void);

/* --- plain HTTP, for the controls ------------------------------------------------------------- */

/* A blocking request with libcurl (body NULL: GET); the status, or fails
 * the test when no response comes. The response body, if resp is given,
 * NUL-terminated (truncated to cap). */
long hu_http(const char *method, const char *url, const char *body, char *resp, size_t cap);

#endif
