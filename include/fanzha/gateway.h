/* fanzha/gateway.h — delivering warnings to an HTTP notification gateway.
 *
 * A gateway is an SMS platform, an app push service or a voice line that
 * accepts one warning per HTTP request. fanzha targets any of them by
 * configuration alone: a URL, headers (a token taken from the environment,
 * never written in a file) and a JSON body template whose {{placeholders}}
 * are filled from the warning.
 *
 * Requests run concurrently on the libcurl multi interface: the caller
 * submits warnings while fewer than `concurrency` are in flight and polls for
 * the outcomes. The gateway owns the retry policy: each outcome says
 * delivered, retry at a given time (exponential backoff with full jitter, or
 * the server's Retry-After on 429/503), or dead (a permanent refusal, or the
 * last allowed attempt failed). Every attempt of a warning carries the same
 * Idempotency-Key (the warning id), so a gateway can drop a duplicate when a
 * crash between sending and acknowledging makes fanzha send again.
 *
 * TLS peer and host verification are always on; a private gateway's CA can
 * be added, verification cannot be switched off. Plain http:// is accepted
 * only for a loopback host. Redirects are not followed. Errors name the
 * status or the transport failure, never a phone number or a response body. */
#ifndef FANZHA_GATEWAY_H
#define FANZHA_GATEWAY_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One warning, as queued in the outbox and sent to the gateway. */
typedef struct fz_warning {
    char id[33];            /* 32 hex digits; the Idempotency-Key */
    char to[24];            /* recipient, E.164 ("+8613812345678") */
    char role[12];          /* "resident" or "guardian" */
    char language[8];       /* "zh", "en" */
    char channel[16];       /* the resident's channel ("sms", "app", "voice"), for the gateway */
    char category[48];      /* the scam category, or "reported" for a reported sender */
    char text[768];         /* the warning itself, UTF-8 */
    int64_t created;        /* Unix seconds */
    int64_t due;            /* Unix seconds: not to be sent before */
    int attempts;           /* delivery attempts made so far */
    char last_error[160];   /* why the last attempt failed ("" if none) */
} fz_warning;

typedef struct fz_gateway fz_gateway;

typedef struct fz_gateway_options {
    const char *url;                /* https://host/path (http:// only to a loopback host) */
    const char *method;             /* "POST" (default) or "PUT" */
    const char *const *headers;     /* "Name: value"; ${VAR} in a value is read from the environment */
    size_t n_headers;
    const char *body;               /* JSON template; NULL: a default body with every field */
    const char *ca_file;            /* extra CA bundle for a private gateway; NULL: the system's */
    long timeout_ms;                /* whole request (default 10000) */
    long connect_timeout_ms;        /* default 3000 */
    int concurrency;                /* requests in flight (default 16) */
    int max_attempts;               /* attempts before a warning is dead (default 12: with the default backoff,
                                     * about 12 minutes of failures on average) */
    long backoff_base_ms;           /* first retry delay bound (default 2000) */
    long backoff_max_ms;            /* cap on a retry delay (default 300000) */
    long retry_after_max_s;         /* cap on an honoured Retry-After (default 3600) */
} fz_gateway_options;

/* Check the options (URL scheme, placeholders, environment variables of the
 * headers, CA file) and prepare the transfer machinery. The options' strings
 * are copied. */
int fz_gateway_open(const fz_gateway_options *o, fz_gateway **out, fz_error *err);
void fz_gateway_close(fz_gateway *g);

typedef enum fz_delivery_result {
    FZ_DELIVERED = 0,       /* 2xx (or 409: the gateway already has this key) */
    FZ_RETRY = 1,           /* transient failure: try again at retry_at_ms */
    FZ_DEAD = 2             /* permanent refusal, or attempts exhausted: dead letter */
} fz_delivery_result;

typedef struct fz_delivery {
    fz_delivery_result result;
    int http_status;        /* 0 when no response came (timeout, reset, refused, TLS) */
    int64_t retry_at_ms;    /* FZ_RETRY: Unix milliseconds of the next attempt */
    double ms;              /* how long the attempt took */
    char error[160];        /* "" when delivered; else what went wrong */
} fz_delivery;

/* The outcome of one attempt, with the caller's tag and the warning as
 * submitted (its attempts field not yet counting this attempt). */
typedef void (*fz_delivery_fn)(void *ud, void *tag, const fz_warning *w, const fz_delivery *d);

/* Start one attempt at delivering w (copied). 0; FZ_EAGAIN when
 * `concurrency` attempts are already in flight; FZ_ENOMEM. */
int fz_gateway_submit(fz_gateway *g, const fz_warning *w, void *tag);
/* Drive the transfers for at most timeout_ms (returning as soon as one
 * completes), calling done for each completed attempt. Returns the number
 * still in flight, or a negative code. */
int fz_gateway_poll(fz_gateway *g, int timeout_ms, fz_delivery_fn done, void *ud);
size_t fz_gateway_in_flight(const fz_gateway *g);
/* How many more attempts fz_gateway_submit accepts now. */
size_t fz_gateway_room(const fz_gateway *g);

/* The body the gateway would receive for w (NUL-terminated, in out, which
 * must hold cap bytes). 0, or FZ_ETOOBIG. For `fanzha outbox list --body`
 * and tests. */
int fz_gateway_render_body(const fz_gateway *g, const fz_warning *w, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
