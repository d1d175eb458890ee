/* fanzha/serve.h — the HTTP scoring API (`fanzha serve`).
 *
 * One process answers carriers' requests on a libmicrohttpd thread pool
 * (epoll), one scoring context per thread:
 *
 *   POST   /v1/check              one message (JSON) -> its verdict (JSON)
 *   POST   /v1/check/batch        messages (NDJSON) -> verdicts (NDJSON, streamed, in order)
 *   POST   /v1/reports            reported numbers (JSON or NDJSON)
 *   PUT    /v1/residents/{number} register or replace a resident   (admin)
 *   GET    /v1/residents/{number} read a resident                   (admin)
 *   DELETE /v1/residents/{number} remove a resident                 (admin)
 *   GET    /v1/campaigns          the live campaigns of this hour
 *   POST   /v1/rules/reload       rebuild the engine from its rules (admin)
 *   GET    /healthz, /readyz      liveness, readiness (no token)
 *   GET    /metrics               Prometheus text format
 *
 * Every other request needs "Authorization: Bearer <token>"; tokens are
 * compared in constant time. Errors are JSON ({"error":"..."}) with the
 * status code that says what happened: 400 unreadable, 401 no or wrong
 * token, 403 not an admin token, 404, 405, 409 a reload already running,
 * 413 body too large, 422 a rule
 * pack refused on reload, 503 (with Retry-After) draining or state down. */
#ifndef FANZHA_SERVE_H
#define FANZHA_SERVE_H

#include <stddef.h>
#include "engine.h"
#include "error.h"
#include "gateway.h"
#include "outbox.h"
#include "scan.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_server fz_server;

/* Settings an operator chooses (the `serve:` section of the config file). */
typedef struct fz_serve_settings {
    const char *listen;             /* "127.0.0.1:8080" (default), "0.0.0.0:8080", "[::1]:8080"; port 0: any */
    int threads;                    /* 0: one per core */
    unsigned max_connections;       /* default 1024 */
    unsigned connection_timeout_s;  /* idle connections are closed after this (default 30) */
    size_t max_body;                /* bytes: /v1/check, residents (default 65536) */
    size_t max_batch_body;          /* bytes: /v1/check/batch, /v1/reports (default 32 MiB) */
    size_t max_record;              /* bytes of one NDJSON line (default 1 MiB) */
    const char *tokens_file;        /* lines "TOKEN" (client) or "admin TOKEN"; '#' comments */
    unsigned drain_timeout_s;       /* on shutdown, wait this long for requests in flight (default 30) */
    int metrics_public;             /* 1: /metrics without a token */
} fz_serve_settings;

typedef struct fz_serve_options {
    fz_serve_settings settings;
    /* Client tokens (check, batch, reports, campaigns, metrics) and admin
     * tokens (everything); at least one token is required. Copied. */
    const char *const *tokens;
    size_t n_tokens;
    const char *const *admin_tokens;
    size_t n_admin_tokens;
    fz_engine_slot *slot;           /* the engine to score with; reload swaps it */
    fz_engine_config engine;        /* how to rebuild it on reload (rules_dir, cache_dir) */
    fz_store *store;                /* required: reports, residents and campaigns live here */
    fz_outbox *outbox;              /* NULL: warn nobody */
    fz_gateway *gateway;            /* with an outbox: deliver from this process; NULL: another does */
    /* Log lines (never a number, a text or a token): NULL = stderr. */
    void (*log)(void *ud, const char *line);
    void *log_ud;
} fz_serve_options;

/* Read tokens from a file (see fz_serve_settings.tokens_file): *tokens and
 * *admin get arrays of strings (free with fz_tokens_free). Tokens shorter
 * than 16 characters are refused. 0, or a code with err naming file:line. */
int fz_tokens_load(const char *path, char ***tokens, size_t *n_tokens, char ***admin, size_t *n_admin, fz_error *err);
/* Split a list ("a,b c") into *out; appended to what is there. 0 or a code. */
int fz_tokens_split(const char *list, char ***out, size_t *n, fz_error *err);
void fz_tokens_free(char **tokens, size_t n);

/* Bind and start answering. 0, or a code with err saying why (address in
 * use, no tokens ...). */
int fz_server_start(const fz_serve_options *o, fz_server **out, fz_error *err);
/* The port bound (useful with port 0). */
int fz_server_port(const fz_server *s);
/* Rebuild the engine and swap it in, as POST /v1/rules/reload does (which
 * runs it on a thread of its own, never a request thread). 0, or
 * a code with err naming the first problem (the running rules stay). */
int fz_server_reload(fz_server *s, fz_error *err);
/* Stop taking new connections, answer 503 on /readyz, and wait until the
 * requests in flight are answered (at most drain_timeout_s). */
void fz_server_drain(fz_server *s);
/* Stop everything (delivery included) and free the server. */
void fz_server_stop(fz_server *s);
/* Totals since the start: messages by action, errors, warnings. */
void fz_server_stats(const fz_server *s, fz_scan_stats *out);

#ifdef __cplusplus
}
#endif
#endif
