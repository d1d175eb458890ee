/* serve.c — the HTTP server (fanzha/serve.h): libmicrohttpd's thread pool,
 * the life of a request, routing, limits, reload, drain and the in-process
 * deliverer. The endpoints themselves are in serve_api.c.
 *
 * How a request goes. libmicrohttpd calls the handler several times per
 * request: once when the headers are in, then once per piece of body, then
 * a last time with nothing. On the first call the request is routed (404,
 * 405), refused while draining (503), authenticated (401, 403) and its
 * declared length checked against the endpoint's limit (413) — a refusal
 * then is answered before any body is read. The body is gathered up to the
 * limit (a chunked upload that runs over is discarded and answered 413);
 * the last call runs the endpoint and queues its reply. Each pool thread
 * scores with its own scorer (a thread-specific value), so requests never
 * share scoring state. Nothing in a log line names a path, a number or a
 * token: endpoints are logged by name. */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "json_out.h"
#include "serve_internal.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_MAX_BODY (64u * 1024)
#define DEFAULT_MAX_BATCH (32u * 1024 * 1024)
#define DEFAULT_MAX_RECORD (1u << 20)
#define DISCARD_FACTOR 4    /* a chunked upload this many times over its limit is cut off */

uint64_t fz_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void fz_server_log(fz_server *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (s->o.log)
        s->o.log(s->o.log_ud, line);
    else
        fprintf(stderr, "fanzha serve: %s\n", line);
}

void fz_reply_error(fz_reply *r, unsigned code, const char *msg)
{
    r->code = code;
    fz_buf_clear(&r->body);
    if (fz_buf_lit(&r->body, "{\"error\":") || fz_json_str(&r->body, msg, strlen(msg)) || fz_buf_lit(&r->body, "}\n"))
        r->code = 500;
}

static void free_scorer(void *p)
{
    fz_scorer_free(p);
}

fz_scorer *fz_server_scorer(fz_server *s)
{
    fz_scorer *sc = pthread_getspecific(s->scorer_key);
    if (!sc && (sc = fz_scorer_new()) && pthread_setspecific(s->scorer_key, sc)) {
        fz_scorer_free(sc);
        sc = NULL;
    }
    return sc;
}

/* --- routing ------------------------------------------------------------------------------ */

typedef struct route {
    const char *path;
    int prefix;                 /* path is a prefix followed by one segment */
    fz_endpoint ep;
    unsigned methods;           /* bit per fz_method */
    const char *allow;
    fz_role role;               /* the least role it needs */
    int batch_limit;            /* 1: max_batch_body, else max_body */
} route;

#define M(x) (1u << (x))

static const route k_routes[] = {
    {"/v1/check", 0, FZ_EP_CHECK, M(FZ_POST), "POST", FZ_ROLE_CLIENT, 0},
    {"/v1/check/batch", 0, FZ_EP_BATCH, M(FZ_POST), "POST", FZ_ROLE_CLIENT, 1},
    {"/v1/reports", 0, FZ_EP_REPORTS, M(FZ_POST), "POST", FZ_ROLE_CLIENT, 1},
    {"/v1/residents/", 1, FZ_EP_RESIDENTS, M(FZ_GET) | M(FZ_PUT) | M(FZ_DELETE), "GET, PUT, DELETE", FZ_ROLE_ADMIN, 0},
    {"/v1/campaigns", 0, FZ_EP_CAMPAIGNS, M(FZ_GET), "GET", FZ_ROLE_CLIENT, 0},
    {"/v1/rules/reload", 0, FZ_EP_RELOAD, M(FZ_POST), "POST", FZ_ROLE_ADMIN, 0},
    {"/healthz", 0, FZ_EP_HEALTHZ, M(FZ_GET), "GET", FZ_ROLE_NONE, 0},
    {"/readyz", 0, FZ_EP_READYZ, M(FZ_GET), "GET", FZ_ROLE_NONE, 0},
    {"/metrics", 0, FZ_EP_METRICS, M(FZ_GET), "GET", FZ_ROLE_CLIENT, 0},
};

static fz_method method_of(const char *m)
{
    static const char *const names[] = {"GET", "PUT", "POST", "DELETE"};
    for (int i = 0; i < 4; i++)
        if (strcmp(m, names[i]) == 0)
            return (fz_method)i;
    if (strcmp(m, "HEAD") == 0)
        return FZ_GET;
    return FZ_OTHER_METHOD;
}

/* The route of url, with a residents number copied into q; NULL: 404. */
static const route *find_route(const char *url, fz_request *q)
{
    for (size_t i = 0; i < sizeof k_routes / sizeof *k_routes; i++) {
        const route *rt = &k_routes[i];
        size_t n = strlen(rt->path);
        if (!rt->prefix ? strcmp(url, rt->path) == 0 : strncmp(url, rt->path, n) == 0) {
            if (!rt->prefix)
                return rt;
            const char *seg = url + n;
            if (!*seg || strchr(seg, '/') || strlen(seg) >= sizeof q->number)
                return NULL;
            snprintf(q->number, sizeof q->number, "%s", seg);
            return rt;
        }
    }
    return NULL;
}

/* --- replies ---------------------------------------------------------------------------- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    long n = fz_batch_stream_read(cls, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void stream_free(void *cls)
{
    fz_batch_stream_free(cls);
}

static enum MHD_Result send_reply(fz_server *s, struct MHD_Connection *c, fz_request *q, fz_reply *r)
{
    struct MHD_Response *resp;
    if (r->stream)
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, r->stream, stream_free);
    else
        resp = MHD_create_response_from_buffer(r->body.len, r->body.data, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (r->stream)
            fz_batch_stream_free(r->stream);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", v);
    }
    if (r->code == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"fanzha\"");
    if (r->allow)
        MHD_add_response_header(resp, "Allow", r->allow);
    if (atomic_load(&s->draining))
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ok = MHD_queue_response(c, r->code, resp);
    MHD_destroy_response(resp);
    q->answered = 1;
    /* Streamed replies are counted when they end (their status is known now). */
    fz_metrics_request(&s->metrics, q->ep, r->code, fz_now_ns() - q->t0_ns);
    if (r->code >= 500 && r->code != 503)
        fz_server_log(s, "%s: answered %u", fz_endpoint_name(q->ep), r->code);
    return ok;
}

static enum MHD_Result refuse(fz_server *s, struct MHD_Connection *c, fz_request *q, unsigned code, const char *msg)
{
    fz_reply r = {0};
    fz_reply_error(&r, code, msg);
    if (code == 503)
        r.retry_after = 5;
    enum MHD_Result ok = send_reply(s, c, q, &r);
    fz_buf_free(&r.body);
    return ok;
}

/* --- the first call: route, drain, auth, declared length ----------------------------------- */

static enum MHD_Result first_call(fz_server *s, struct MHD_Connection *c, const char *url, const char *method,
                                  fz_request *q)
{
    q->method = method_of(method);
    const route *rt = find_route(url, q);
    if (!rt) {
        q->ep = FZ_EP_OTHER;
        return refuse(s, c, q, 404, "no such endpoint");
    }
    q->ep = rt->ep;
    const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    q->limit_arg = limit ? (unsigned)strtoul(limit, NULL, 10) : 0;
    if (q->method == FZ_OTHER_METHOD || !(rt->methods & M(q->method))) {
        fz_reply r = {0};
        fz_reply_error(&r, 405, "method not allowed");
        r.allow = rt->allow;
        enum MHD_Result ok = send_reply(s, c, q, &r);
        fz_buf_free(&r.body);
        return ok;
    }
    if (atomic_load(&s->draining) && rt->ep != FZ_EP_HEALTHZ && rt->ep != FZ_EP_READYZ)
        return refuse(s, c, q, 503, "shutting down");
    fz_role need = rt->role;
    if (rt->ep == FZ_EP_METRICS && s->o.settings.metrics_public)
        need = FZ_ROLE_NONE;
    if (need != FZ_ROLE_NONE) {
        fz_role role = fz_auth_check(&s->auth, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
        if (role == FZ_ROLE_NONE) {
            atomic_fetch_add(&s->metrics.auth_failures, 1);
            return refuse(s, c, q, 401, "a valid bearer token is required");
        }
        if (role < need)
            return refuse(s, c, q, 403, "this endpoint needs an admin token");
    }
    q->limit = rt->batch_limit ? s->o.settings.max_batch_body : s->o.settings.max_body;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > q->limit) {
        atomic_fetch_add(&s->metrics.rejected_too_large, 1);
        return refuse(s, c, q, 413, "the body is larger than this endpoint takes");
    }
    return MHD_YES;
}

static void run_endpoint(fz_server *s, fz_request *q, fz_reply *r)
{
    switch (q->ep) {
    case FZ_EP_CHECK: fz_api_check(s, q, r); break;
    case FZ_EP_BATCH: fz_api_batch(s, q, r); break;
    case FZ_EP_REPORTS: fz_api_reports(s, q, r); break;
    case FZ_EP_RESIDENTS: fz_api_residents(s, q, r); break;
    case FZ_EP_CAMPAIGNS: fz_api_campaigns(s, q, r); break;
    case FZ_EP_HEALTHZ:
    case FZ_EP_READYZ: fz_api_health(s, q, r); break;
    case FZ_EP_METRICS: fz_api_metrics(s, q, r); break;
    default: fz_reply_error(r, 404, "no such endpoint"); break;
    }
}

/* --- reload off the request threads --------------------------------------------------------- */

/* Building an engine takes from tens of milliseconds (cached) to seconds:
 * long enough to starve scoring if request threads did it. The request is
 * suspended, a thread of its own builds and swaps the engine, and resumes
 * the request, which then answers. One reload at a time over HTTP. */
typedef struct fz_reload_job {
    fz_server *server;
    struct MHD_Connection *conn;
    int rc;
    fz_error err;
} fz_reload_job;

static void *reload_main(void *arg)
{
    fz_reload_job *job = arg;
    fz_server *s = job->server;
    job->rc = fz_server_reload(s, &job->err);
    /* After the resume the request may answer and free the job at once. */
    MHD_resume_connection(job->conn);
    atomic_store(&s->reload_running, 0);
    return NULL;
}

static enum MHD_Result reload_request(fz_server *s, struct MHD_Connection *c, fz_request *q)
{
    if (q->job) {                                   /* resumed: the reload is done */
        fz_reply r = {0};
        fz_api_reload_reply(s, q->job->rc, &q->job->err, &r);
        enum MHD_Result ok = send_reply(s, c, q, &r);
        fz_buf_free(&r.body);
        return ok;
    }
    if (atomic_exchange(&s->reload_running, 1))
        return refuse(s, c, q, 409, "a reload is already running; try again when it is done");
    pthread_t t;
    pthread_attr_t attr;
    q->job = calloc(1, sizeof *q->job);
    if (q->job) {
        q->job->server = s;
        q->job->conn = c;
        MHD_suspend_connection(c);
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int started = q->job && pthread_create(&t, &attr, reload_main, q->job) == 0;
    pthread_attr_destroy(&attr);
    if (started)
        return MHD_YES;
    if (q->job)
        MHD_resume_connection(c);
    free(q->job);
    q->job = NULL;
    atomic_store(&s->reload_running, 0);
    return refuse(s, c, q, 500, "cannot start a reload");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)version;
    fz_server *s = cls;
    fz_request *q = *con_cls;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        q->t0_ns = fz_now_ns();
        atomic_fetch_add(&s->metrics.in_flight, 1);
        return first_call(s, c, url, method, q);
    }
    if (q->answered) {
        *size = 0;      /* refused on the first call: the rest of the body is not wanted */
        return MHD_YES;
    }
    if (*size) {
        if (q->body.len + *size > q->limit) {
            q->discarded += *size;
            *size = 0;
            return q->discarded > q->limit * DISCARD_FACTOR ? MHD_NO : MHD_YES;
        }
        if (fz_buf_append(&q->body, data, *size))
            return MHD_NO;
        *size = 0;
        return MHD_YES;
    }
    if (q->discarded) {
        atomic_fetch_add(&s->metrics.rejected_too_large, 1);
        return refuse(s, c, q, 413, "the body is larger than this endpoint takes");
    }
    if (q->ep == FZ_EP_RELOAD)
        return reload_request(s, c, q);
    fz_reply r = {0};
    run_endpoint(s, q, &r);
    enum MHD_Result ok = send_reply(s, c, q, &r);
    fz_buf_free(&r.body);
    return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
    (void)c;
    (void)why;
    fz_server *s = cls;
    fz_request *q = *con_cls;
    if (!q)
        return;
    atomic_fetch_sub(&s->metrics.in_flight, 1);
    fz_buf_free(&q->body);
    free(q->job);
    free(q);
    *con_cls = NULL;
}

/* --- starting --------------------------------------------------------------------------- */

static void fill_defaults(fz_serve_settings *st)
{
    if (!st->listen || !*st->listen)
        st->listen = DEFAULT_LISTEN;
    if (st->threads <= 0)
        st->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (st->threads <= 0)
        st->threads = 1;
    if (!st->max_connections)
        st->max_connections = 1024;
    if (!st->connection_timeout_s)
        st->connection_timeout_s = 30;
    if (!st->max_body)
        st->max_body = DEFAULT_MAX_BODY;
    if (!st->max_batch_body)
        st->max_batch_body = DEFAULT_MAX_BATCH;
    if (!st->max_record)
        st->max_record = DEFAULT_MAX_RECORD;
    if (!st->drain_timeout_s)
        st->drain_timeout_s = 30;
}

/* "host:port", "[v6]:port" or ":port" into an address. */
static int resolve(const char *listen, struct sockaddr_storage *ss, fz_error *err)
{
    char host[256] = "", port[16] = "";
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1] || strlen(colon + 1) >= sizeof port)
        return fz_error_set(err, FZ_EINVAL, "listen address '%s' is host:port", listen);
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof host)
        return fz_error_set(err, FZ_EINVAL, "listen address '%s': host too long", listen);
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, sizeof port, "%s", colon + 1);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
    if (rc || !ai)
        return fz_error_set(err, FZ_EINVAL, "listen address '%s': %s", listen, gai_strerror(rc));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

static void on_attempt(void *ud, const fz_warning *w, const fz_delivery *d)
{
    (void)w;
    fz_server *s = ud;
    if (d->result <= FZ_DEAD)
        atomic_fetch_add(&s->metrics.deliveries[d->result], 1);
}

static int delivery_should_stop(void *ud)
{
    return atomic_load(&((fz_server *)ud)->stop_delivery);
}

static void *deliver_main(void *ud)
{
    fz_server *s = ud;
    fz_deliver_options opt = {0};
    opt.follow = 1;
    opt.should_stop = delivery_should_stop;
    opt.should_stop_ud = s;
    opt.on_attempt = on_attempt;
    opt.on_attempt_ud = s;
    fz_deliver_stats st;
    fz_error err;
    if (fz_outbox_deliver(s->o.outbox, s->o.gateway, &opt, &st, &err))
        fz_server_log(s, "warning delivery stopped: %s", err.message);
    return NULL;
}

/* Once a second: has the state store started failing, or come back? One
 * log line per change, not per failed request. */
static void *watch_main(void *ud)
{
    fz_server *s = ud;
    fz_store_stats last;
    fz_store_get_stats(s->o.store, &last);
    int down = 0;
    while (!atomic_load(&s->stop_delivery)) {
        struct timespec t = {0, 250 * 1000000L};
        for (int i = 0; i < 4 && !atomic_load(&s->stop_delivery); i++)
            nanosleep(&t, NULL);
        fz_store_stats now;
        fz_store_get_stats(s->o.store, &now);
        if (!down && now.errors > last.errors) {
            down = 1;
            fz_server_log(s, "state store %s unreachable: scoring goes on without state (degraded)",
                          fz_store_describe(s->o.store));
        } else if (down && now.reconnects > last.reconnects && now.errors == last.errors) {
            down = 0;
            fz_server_log(s, "state store %s is back (%llu messages were scored without state)",
                          fz_store_describe(s->o.store), (unsigned long long)now.degraded);
        }
        last = now;
    }
    return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    fz_server_log(cls, "http: %s", line);
}

static int start_daemon(fz_server *s, fz_error *err)
{
    struct sockaddr_storage ss;
    int rc = resolve(s->o.settings.listen, &ss, err);
    if (rc)
        return rc;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first, so that errors about later options reach it. */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(s->o.settings.threads > 1 ? s->o.settings.threads : 0),
        MHD_OPTION_CONNECTION_LIMIT,
        s->o.settings.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, s->o.settings.connection_timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    if (!s->daemon)
        return fz_error_set(err, FZ_EIO, "cannot listen on %s (address in use, or not allowed)", s->o.settings.listen);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    return 0;
}

int fz_server_start(const fz_serve_options *o, fz_server **out, fz_error *err)
{
    *out = NULL;
    if (!o->slot || !o->store)
        return fz_error_set(err, FZ_EINVAL, "the server needs an engine and a store");
    if (!o->n_tokens && !o->n_admin_tokens)
        return fz_error_set(err, FZ_EINVAL,
                            "no API tokens: set $FANZHA_API_TOKENS / $FANZHA_ADMIN_TOKENS or serve.tokens_file");
    fz_server *s = calloc(1, sizeof *s);
    if (!s)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    s->o = *o;
    fill_defaults(&s->o.settings);
    s->listen_fd = -1;
    s->rules_dir = o->engine.rules_dir ? strdup(o->engine.rules_dir) : NULL;
    s->cache_dir = o->engine.cache_dir ? strdup(o->engine.cache_dir) : NULL;
    fz_metrics_init(&s->metrics);
    pthread_mutex_init(&s->reload_mu, NULL);
    int rc = pthread_key_create(&s->scorer_key, free_scorer) ? FZ_ENOMEM : 0;
    if (rc || (rc = fz_auth_init(&s->auth, o->tokens, o->n_tokens, o->admin_tokens, o->n_admin_tokens))) {
        fz_error_set(err, rc, "cannot set up: %s", fz_strerror(rc));
    } else if (!(rc = start_daemon(s, err)) && o->outbox && o->gateway) {
        s->have_deliverer = pthread_create(&s->deliverer, NULL, deliver_main, s) == 0;
        if (!s->have_deliverer)
            rc = fz_error_set(err, FZ_ENOMEM, "cannot start the deliverer");
    }
    if (!rc)
        s->have_watcher = pthread_create(&s->watcher, NULL, watch_main, s) == 0;
    if (rc) {
        fz_server_stop(s);
        return rc;
    }
    *out = s;
    return 0;
}

int fz_server_port(const fz_server *s)
{
    return s->port;
}

/* --- reload, drain, stop ------------------------------------------------------------------ */

typedef struct first_error {
    char message[1024];
} first_error;

static void keep_first_error(void *ud, const fz_diag *d)
{
    first_error *fe = ud;
    if (d->level == FZ_DIAG_ERROR && !fe->message[0])
        fz_diag_format(d, fe->message, sizeof fe->message);
}

int fz_server_reload(fz_server *s, fz_error *err)
{
    first_error fe = {""};
    fz_engine_config cfg = {s->rules_dir, s->cache_dir, keep_first_error, &fe};
    fz_engine *e = NULL;
    /* One reload at a time: two at once would only race to the same result. */
    pthread_mutex_lock(&s->reload_mu);
    int rc = fz_engine_new(&cfg, &e, err);
    if (rc == 0) {
        fz_engine_slot_swap(s->o.slot, e);
        atomic_fetch_add(&s->metrics.reloads_ok, 1);
        fz_server_log(s, "reloaded rules %s (%zu rules)", fz_engine_rules_version(e), fz_engine_rule_count(e));
    } else {
        atomic_fetch_add(&s->metrics.reloads_refused, 1);
        if (fe.message[0] && err)
            fz_error_set(err, rc, "%s", fe.message);
        fz_server_log(s, "reload refused, the running rules stay: %s", err ? err->message : fz_strerror(rc));
    }
    pthread_mutex_unlock(&s->reload_mu);
    return rc;
}

void fz_server_drain(fz_server *s)
{
    if (!s || atomic_exchange(&s->draining, 1))
        return;
    if (s->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        s->listen_fd = fd == MHD_INVALID_SOCKET ? -1 : (int)fd;
    }
    uint64_t until = fz_now_ns() + (uint64_t)s->o.settings.drain_timeout_s * 1000000000u;
    while (atomic_load(&s->metrics.in_flight) > 0 && fz_now_ns() < until) {
        struct timespec t = {0, 20 * 1000000L};
        nanosleep(&t, NULL);
    }
}

void fz_server_stop(fz_server *s)
{
    if (!s)
        return;
    /* A suspended reload request must be resumed before the daemon stops:
     * let the reload finish. */
    while (atomic_load(&s->reload_running)) {
        struct timespec t = {0, 10 * 1000000L};
        nanosleep(&t, NULL);
    }
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    atomic_store(&s->stop_delivery, 1);
    if (s->have_deliverer)
        pthread_join(s->deliverer, NULL);
    if (s->have_watcher)
        pthread_join(s->watcher, NULL);
    pthread_key_delete(s->scorer_key);
    fz_auth_free(&s->auth);
    pthread_mutex_destroy(&s->reload_mu);
    free(s->rules_dir);
    free(s->cache_dir);
    free(s);
}

void fz_server_stats(const fz_server *s, fz_scan_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 3; i++) {
        out->by_action[i] = atomic_load(&s->metrics.messages[i]);
        out->verdicts += out->by_action[i];
    }
    out->errors = atomic_load(&s->metrics.record_errors);
    out->read = out->verdicts + out->errors;
    out->warnings_spooled = atomic_load(&s->metrics.warnings[1]);
    out->warnings_queued = atomic_load(&s->metrics.warnings[0]) + out->warnings_spooled;
    out->warnings_duplicate = atomic_load(&s->metrics.warnings[2]);
    out->warnings_limited = atomic_load(&s->metrics.warnings[3]);
    out->warnings_failed = atomic_load(&s->metrics.warnings[4]);
}
