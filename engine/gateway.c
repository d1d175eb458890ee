/* gateway.c — delivering warnings to an HTTP notification gateway (see
 * fanzha/gateway.h).
 *
 * How it works. fz_gateway_open checks everything that can be checked
 * before the first request: the URL (http or https, plain http only to a
 * loopback host), the method, the body template (compiled into literal
 * pieces and placeholders, and rendered once with a sample warning to prove
 * that it gives JSON), the headers (${VAR} expanded from the environment
 * now, so a missing token fails at start-up rather than on every warning)
 * and the CA file. It then prepares `concurrency` slots, each with its own
 * libcurl easy handle whose options are set once.
 *
 * A submit takes a free slot, renders the body and the header list of this
 * attempt into it and adds its easy handle to the multi handle. The multi
 * handle owns the connection cache, so connections (and TLS sessions) to
 * the gateway stay open from one attempt to the next: a handshake per
 * warning would cost more than the request. fz_gateway_poll runs
 * curl_multi_perform / curl_multi_poll until an attempt completes or the
 * time is up, classifies every completed attempt, frees its slot and calls
 * back.
 *
 * Classification (one attempt): 2xx and 409 delivered; 408, 425, 429 and
 * 5xx transient, like every transport failure (timeout, refused, reset,
 * DNS, TLS); any other status permanent (dead at once). A transient failure
 * is retried after the server's Retry-After (429 and 503, capped) or a
 * delay drawn uniformly from [0, min(max, base * 2^(attempt-1))] ("full
 * jitter": clients that failed together do not retry together), unless it
 * was the last allowed attempt. Error texts name a status or a transport
 * failure; response bodies are discarded unread, a Retry-After is given as
 * the wait made of it (never quoted), and the warning's fields (a phone
 * number among them) never go into an error.
 *
 * A gateway is used by one thread at a time; any number of gateways may run
 * in parallel. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fanzha/buf.h"
#include "fanzha/fanzha.h"
#include "fanzha/gateway.h"
#include "json_out.h"

#define MAX_CONCURRENCY 1024

/* The placeholders a body template may use, in the order of k_fields. */
enum field { F_ID, F_TO, F_TEXT, F_ROLE, F_LANGUAGE, F_CHANNEL, F_CATEGORY, F_CREATED, F_ATTEMPT, N_FIELDS, F_LITERAL };
static const char *const k_fields[N_FIELDS] = {"id",      "to",       "text",    "role",   "language",
                                               "channel", "category", "created", "attempt"};

/* Every field, for a NULL body option. */
static const char k_default_body[] =
    "{\"id\":\"{{id}}\",\"to\":\"{{to}}\",\"role\":\"{{role}}\",\"language\":\"{{language}}\","
    "\"channel\":\"{{channel}}\",\"category\":\"{{category}}\",\"text\":\"{{text}}\","
    "\"created\":\"{{created}}\",\"attempt\":{{attempt}}}";

/* A piece of the body template: literal text of the template, or a field. */
typedef struct piece {
    int field;              /* enum field */
    size_t off, len;        /* F_LITERAL: the text in fz_gateway.body */
} piece;

/* One attempt in flight, or a free place for one. */
typedef struct slot {
    CURL *easy;                     /* options set once, at open */
    int busy;
    fz_warning w;                   /* as submitted */
    void *tag;
    fz_buf body;                    /* this attempt's body (curl reads it in place) */
    struct curl_slist *headers;     /* this attempt's headers */
    double started_ms;
    char retry_after[64];           /* the last response's Retry-After value, "" if none */
    char errbuf[CURL_ERROR_SIZE];
} slot;

struct fz_gateway {
    char *url, *ca_file, *body;
    int put;                        /* PUT rather than POST */
    int body_is_json;               /* Content-Type says JSON: the template is checked */
    long timeout_ms, connect_timeout_ms;
    int concurrency, max_attempts;
    long backoff_base_ms, backoff_max_ms, retry_after_max_s;
    piece *pieces;
    size_t n_pieces;
    char **header_lines;            /* configured (expanded) and ours, but not Idempotency-Key */
    size_t n_header_lines;
    char user_agent[64];
    CURLM *multi;
    slot *slots;
    slot **free_slots;              /* a stack */
    size_t n_free;
};

/* --- process-wide set-up ---------------------------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_global_ok;

/* curl_global_init is not thread-safe in every libcurl build, so it runs
 * once; libsodium supplies the jitter. */
static void global_setup(void)
{
    g_global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK && sodium_init() >= 0;
}

static double mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* --- options ---------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A zero option takes its default; a negative one is an error. */
static int settle_long(long v, long dflt, const char *name, long *out, fz_error *err)
{
    if (v < 0)
        return fz_error_set(err, FZ_EINVAL, "gateway option %s must not be negative (got %ld)", name, v);
    *out = v ? v : dflt;
    return 0;
}

static int settle_numbers(const fz_gateway_options *o, fz_gateway *g, fz_error *err)
{
    long concurrency = 0, attempts = 0;
    int rc = settle_long(o->timeout_ms, 10000, "timeout_ms", &g->timeout_ms, err);
    if (!rc)
        rc = settle_long(o->connect_timeout_ms, 3000, "connect_timeout_ms", &g->connect_timeout_ms, err);
    if (!rc)
        rc = settle_long(o->concurrency, 16, "concurrency", &concurrency, err);
    if (!rc)
        rc = settle_long(o->max_attempts, 12, "max_attempts", &attempts, err);
    if (!rc)
        rc = settle_long(o->backoff_base_ms, 2000, "backoff_base_ms", &g->backoff_base_ms, err);
    if (!rc)
        rc = settle_long(o->backoff_max_ms, 300000, "backoff_max_ms", &g->backoff_max_ms, err);
    if (!rc)
        rc = settle_long(o->retry_after_max_s, 3600, "retry_after_max_s", &g->retry_after_max_s, err);
    if (rc)
        return rc;
    if (concurrency > MAX_CONCURRENCY)
        return fz_error_set(err, FZ_EINVAL, "gateway concurrency %ld is more than %d", concurrency, MAX_CONCURRENCY);
    g->concurrency = (int)concurrency;
    g->max_attempts = attempts > 1000000 ? 1000000 : (int)attempts;
    /* Doubling stops at the cap, so a huge cap is the only overflow risk. */
    if (g->backoff_max_ms > 86400000L * 365)
        return fz_error_set(err, FZ_EINVAL, "gateway backoff_max_ms is more than a year");
    return 0;
}

static int settle_method(const char *method, fz_gateway *g, fz_error *err)
{
    if (!method || strcasecmp(method, "POST") == 0)
        return 0;
    if (strcasecmp(method, "PUT") == 0) {
        g->put = 1;
        return 0;
    }
    return fz_error_set(err, FZ_EINVAL, "gateway method must be POST or PUT (got '%.20s')", method);
}

/* --- the URL ---------------------------------------------------------------------------------- */

/* localhost (which libcurl resolves to loopback itself, never through DNS),
 * 127.0.0.0/8 or [::1]. */
static int is_loopback(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    unsigned char addr[16];
    if (host[0] == '[') {
        char inner[64];
        size_t n = strcspn(host + 1, "]%");
        if (n >= sizeof inner)
            return 0;
        memcpy(inner, host + 1, n);
        inner[n] = '\0';
        return inet_pton(AF_INET6, inner, addr) == 1 && memcmp(addr, &in6addr_loopback, 16) == 0;
    }
    return inet_pton(AF_INET, host, addr) == 1 && addr[0] == 127;
}

/* The URL is never printed whole: its query string may hold a token. */
static int check_url(const char *url, fz_error *err)
{
    if (!url || !*url)
        return fz_error_set(err, FZ_EINVAL, "no gateway URL");
    CURLU *u = curl_url();
    if (!u)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    char *scheme = NULL, *host = NULL;
    int rc = 0;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (!uc)
        uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (!uc)
        uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (uc)
        rc = fz_error_set(err, FZ_EINVAL, "the gateway URL cannot be read: %s", curl_url_strerror(uc));
    else if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
        rc = fz_error_set(err, FZ_EINVAL, "the gateway URL must start with https:// (got %.16s://)", scheme);
    else if (strcmp(scheme, "http") == 0 && !is_loopback(host))
        rc = fz_error_set(err, FZ_EINVAL,
                          "plain http:// is allowed only to a loopback host; use https:// for gateway host %.100s",
                          host);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int check_ca_file(const char *path, fz_error *err)
{
    if (!path)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return fz_error_set(err, FZ_EINVAL, "cannot read the gateway CA file %s: %s", path, strerror(errno));
    fclose(f);
    return 0;
}

/* --- the body template ------------------------------------------------------------------------ */

static int add_piece(fz_gateway *g, int field, size_t off, size_t len)
{
    piece *p = realloc(g->pieces, (g->n_pieces + 1) * sizeof *p);
    if (!p)
        return FZ_ENOMEM;
    g->pieces = p;
    p[g->n_pieces++] = (piece){field, off, len};
    return 0;
}

static int field_named(const char *name, size_t len)
{
    for (int f = 0; f < N_FIELDS; f++)
        if (strlen(k_fields[f]) == len && memcmp(k_fields[f], name, len) == 0)
            return f;
    return -1;
}

/* Split the template into literal pieces and {{placeholders}} (spaces
 * inside the braces allowed). */
static int compile_body(fz_gateway *g, fz_error *err)
{
    const char *t = g->body, *p = t;
    for (;;) {
        const char *open = strstr(p, "{{");
        size_t lit = open ? (size_t)(open - p) : strlen(p);
        if (lit && add_piece(g, F_LITERAL, (size_t)(p - t), lit))
            return fz_error_set(err, FZ_ENOMEM, "out of memory");
        if (!open)
            return 0;
        const char *close = strstr(open + 2, "}}");
        if (!close)
            return fz_error_set(err, FZ_EINVAL, "gateway body template: '{{' at byte %zu is not closed by '}}'",
                                (size_t)(open - t));
        const char *name = open + 2, *end = close;
        while (name < end && *name == ' ')
            name++;
        while (end > name && end[-1] == ' ')
            end--;
        int f = field_named(name, (size_t)(end - name));
        if (f < 0)
            return fz_error_set(err, FZ_EINVAL,
                                "gateway body template: unknown placeholder {{%.*s}} (known: id, to, text, role, "
                                "language, channel, category, created, attempt)",
                                (int)(end - name > 40 ? 40 : end - name), name);
        if (add_piece(g, f, 0, 0))
            return fz_error_set(err, FZ_ENOMEM, "out of memory");
        p = close + 2;
    }
}

/* A JSON-escaped string without its quotes: the template author writes the
 * quotes ("to":"{{to}}"). One escaper for all of fanzha's JSON. */
static int put_escaped(fz_buf *o, const char *s, size_t max)
{
    size_t at = o->len;
    if (fz_json_str(o, s, strnlen(s, max)))
        return FZ_ENOMEM;
    memmove(o->data + at, o->data + at + 1, o->len - at - 2);
    o->len -= 2;
    o->data[o->len] = '\0';
    return 0;
}

#define PUT_FIELD(o, w, member) put_escaped((o), (w)->member, sizeof (w)->member)

static int put_field(fz_buf *o, const fz_warning *w, int field)
{
    char tmp[32];
    struct tm tm;
    time_t created = (time_t)w->created;
    switch (field) {
    case F_ID: return PUT_FIELD(o, w, id);
    case F_TO: return PUT_FIELD(o, w, to);
    case F_TEXT: return PUT_FIELD(o, w, text);
    case F_ROLE: return PUT_FIELD(o, w, role);
    case F_LANGUAGE: return PUT_FIELD(o, w, language);
    case F_CHANNEL: return PUT_FIELD(o, w, channel);
    case F_CATEGORY: return PUT_FIELD(o, w, category);
    case F_CREATED:
        if (!gmtime_r(&created, &tm) || !strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%SZ", &tm))
            tmp[0] = '\0';
        return fz_buf_puts(o, tmp);
    case F_ATTEMPT:
        snprintf(tmp, sizeof tmp, "%d", w->attempts + 1);
        return fz_buf_puts(o, tmp);
    }
    return 0;
}

static int render(const fz_gateway *g, const fz_warning *w, fz_buf *out)
{
    fz_buf_clear(out);
    if (fz_buf_reserve(out, 0))     /* an empty template still gives "" */
        return FZ_ENOMEM;
    for (size_t i = 0; i < g->n_pieces; i++) {
        const piece *p = &g->pieces[i];
        int rc = p->field == F_LITERAL ? fz_buf_append(out, g->body + p->off, p->len) : put_field(out, w, p->field);
        if (rc)
            return FZ_ENOMEM;
    }
    return 0;
}

/* A template that does not give JSON would make every warning dead with a
 * 400; better to say so at start-up. The sample is made up: no real data
 * can leak through the error. */
static int check_body_is_json(const fz_gateway *g, fz_error *err)
{
    fz_warning w;
    memset(&w, 0, sizeof w);
    strcpy(w.id, "0123456789abcdef0123456789abcdef");
    strcpy(w.to, "+0000000000");
    strcpy(w.role, "resident");
    strcpy(w.language, "en");
    strcpy(w.channel, "sms");
    strcpy(w.category, "sample");
    strcpy(w.text, "a \"sample\"\nwarning \\ text");
    w.created = 1795334400;
    fz_buf b = FZ_BUF_INIT;
    if (render(g, &w, &b)) {
        fz_buf_free(&b);
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    }
    /* The whole of it: '{"a":1} and more' is not JSON either. cJSON checks
     * for the terminating NUL within the length given, hence len + 1. */
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(b.data, b.len + 1, &end, 1);
    /* cJSON is lenient where gateways are not (a raw line break inside a
     * string, 01, -.5: found by fuzzing); those are refused too. */
    size_t lax = j ? fz_json_lax_at(b.data, b.len) : b.len;
    int rc = 0;
    if (!j || lax < b.len) {
        size_t at = j ? lax : end && end >= b.data ? (size_t)(end - b.data) : 0;
        rc = fz_error_set(err, FZ_EINVAL,
                          "gateway body template is not JSON once its placeholders are filled (near '%.30s'); "
                          "write quotes around string placeholders: \"to\":\"{{to}}\"",
                          b.data + (at > 10 ? at - 10 : 0));
    }
    cJSON_Delete(j);
    fz_buf_free(&b);
    return rc;
}

/* --- headers ---------------------------------------------------------------------------------- */

/* RFC 9110 token characters. */
static int is_token(const char *s, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(strchr("!#$%&'*+-.^_`|~", s[i]) && s[i]) && !(s[i] >= '0' && s[i] <= '9') &&
            !(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z'))
            return 0;
    return 1;
}

/* Append value to o with each ${VAR} replaced by the variable's value.
 * Errors name the header and the variable, never a value. */
static int expand_value(fz_buf *o, const char *name, const char *v, fz_error *err)
{
    while (*v) {
        const char *dollar = strstr(v, "${");
        size_t lit = dollar ? (size_t)(dollar - v) : strlen(v);
        if (fz_buf_append(o, v, lit))
            return fz_error_set(err, FZ_ENOMEM, "out of memory");
        if (!dollar)
            break;
        const char *close = strchr(dollar + 2, '}');
        size_t vl = close ? (size_t)(close - dollar - 2) : 0;
        char var[128];
        if (!close || !vl || vl >= sizeof var || !is_token(dollar + 2, vl))
            return fz_error_set(err, FZ_EINVAL, "gateway header %s: '${' must be followed by a variable name and '}'",
                                name);
        memcpy(var, dollar + 2, vl);
        var[vl] = '\0';
        const char *val = getenv(var);
        if (!val)
            return fz_error_set(err, FZ_EINVAL, "gateway header %s: environment variable %s is not set", name, var);
        if (!*val)
            return fz_error_set(err, FZ_EINVAL, "gateway header %s: environment variable %s is empty", name, var);
        if (strpbrk(val, "\r\n"))
            return fz_error_set(err, FZ_EINVAL, "gateway header %s: environment variable %s holds a line break",
                                name, var);
        if (fz_buf_puts(o, val))
            return fz_error_set(err, FZ_ENOMEM, "out of memory");
        v = close + 1;
    }
    return 0;
}

static int add_header_line(fz_gateway *g, char *line)
{
    char **l = realloc(g->header_lines, (g->n_header_lines + 1) * sizeof *l);
    if (!l)
        return FZ_ENOMEM;
    g->header_lines = l;
    l[g->n_header_lines++] = line;
    return 0;
}

/* Header number `index` (1-based), "Name: value" → the line sent, in
 * `out` (the caller's to free). */
static int expand_header(const char *line, size_t index, char **out, fz_error *err)
{
    const char *colon = strchr(line, ':');
    size_t nl = colon ? (size_t)(colon - line) : 0;
    if (!colon || !is_token(line, nl))
        return fz_error_set(err, FZ_EINVAL, "gateway header %zu is not 'Name: value'", index);
    char name[80];
    snprintf(name, sizeof name, "%.*s", (int)(nl < 60 ? nl : 60), line);
    if (strcasecmp(name, "Idempotency-Key") == 0)
        return fz_error_set(err, FZ_EINVAL, "gateway header Idempotency-Key is set by fanzha (the warning id)");
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strpbrk(v, "\r\n"))
        return fz_error_set(err, FZ_EINVAL, "gateway header %s holds a line break", name);
    fz_buf b = FZ_BUF_INIT;
    int rc = fz_buf_append(&b, line, nl) || fz_buf_lit(&b, ": ") ? fz_error_set(err, FZ_ENOMEM, "out of memory")
                                                                   : expand_value(&b, name, v, err);
    if (rc) {
        sodium_memzero(b.data, b.cap);      /* it may hold part of a secret */
        fz_buf_free(&b);
        return rc;
    }
    *out = b.data;
    return 0;
}

/* The configured headers, then ours: Content-Type unless configured, and an
 * empty Expect (libcurl would otherwise wait for a "100 Continue" before
 * sending a body over 1 KiB, a round trip lost per warning). A configured
 * Content-Type that is not JSON turns off the JSON check of the body. */
static int prepare_headers(fz_gateway *g, const fz_gateway_options *o, fz_error *err)
{
    int have_content_type = 0;
    g->body_is_json = 1;
    for (size_t i = 0; i < o->n_headers; i++) {
        if (!o->headers[i])
            return fz_error_set(err, FZ_EINVAL, "gateway header %zu is NULL", i + 1);
        char *line = NULL;
        int rc = expand_header(o->headers[i], i + 1, &line, err);
        if (rc)
            return rc;
        if (strncasecmp(line, "Content-Type:", 13) == 0) {
            have_content_type = 1;
            g->body_is_json = strcasestr(line, "json") != NULL;
        }
        if (add_header_line(g, line)) {
            free(line);
            return fz_error_set(err, FZ_ENOMEM, "out of memory");
        }
    }
    const char *ours[] = {have_content_type ? NULL : "Content-Type: application/json", "Expect:"};
    for (size_t i = 0; i < 2; i++) {
        char *line = ours[i] ? strdup(ours[i]) : NULL;
        if (ours[i] && (!line || add_header_line(g, line))) {
            free(line);
            return fz_error_set(err, FZ_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* --- transfers -------------------------------------------------------------------------------- */

/* Response bodies are not needed: the status says it all. */
static size_t discard_body(char *data, size_t size, size_t n, void *ud)
{
    (void)data, (void)ud;
    return size * n;
}

/* Keep the Retry-After of the final response (a new status line, after a
 * 100 Continue say, forgets the previous one). */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    slot *s = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        s->retry_after[0] = '\0';
    } else if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        const char *v = data + 12, *end = data + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        size_t vl = (size_t)(end - v) < sizeof s->retry_after ? (size_t)(end - v) : sizeof s->retry_after - 1;
        memcpy(s->retry_after, v, vl);
        s->retry_after[vl] = '\0';
    }
    return len;
}

/* The options that every attempt of the slot shares. */
static int setup_easy(fz_gateway *g, slot *s, fz_error *err)
{
    CURL *e = s->easy = curl_easy_init();
    if (!e)
        return fz_error_set(err, FZ_ENOMEM, "out of memory (curl_easy_init)");
    CURLcode c = CURLE_OK;
    /* Stop at the first option refused. */
#define SET(opt, val) (c = c != CURLE_OK ? c : curl_easy_setopt(e, opt, val))
    SET(CURLOPT_URL, g->url);
    SET(CURLOPT_PRIVATE, s);
    SET(CURLOPT_NOSIGNAL, 1L);              /* no SIGALRM for DNS timeouts: we are a library in a threaded program */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);        /* a redirect is a permanent failure, never followed */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (g->ca_file)
        SET(CURLOPT_CAINFO, g->ca_file);
    SET(CURLOPT_TIMEOUT_MS, g->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, g->connect_timeout_ms);
    SET(CURLOPT_POST, 1L);
    if (g->put)
        SET(CURLOPT_CUSTOMREQUEST, "PUT");
    SET(CURLOPT_USERAGENT, g->user_agent);
    SET(CURLOPT_WRITEFUNCTION, discard_body);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, s);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
#undef SET
    if (c != CURLE_OK)
        return fz_error_set(err, FZ_EINVAL, "libcurl refused a gateway option: %s", curl_easy_strerror(c));
    return 0;
}

static int setup_slots(fz_gateway *g, fz_error *err)
{
    g->slots = calloc((size_t)g->concurrency, sizeof *g->slots);
    g->free_slots = calloc((size_t)g->concurrency, sizeof *g->free_slots);
    g->multi = curl_multi_init();
    if (!g->slots || !g->free_slots || !g->multi)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    /* Keep one idle connection per slot, so that a burst reuses them all. */
    curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, (long)g->concurrency);
    for (int i = g->concurrency - 1; i >= 0; i--) {
        int rc = setup_easy(g, &g->slots[i], err);
        if (rc)
            return rc;
        g->free_slots[g->n_free++] = &g->slots[i];
    }
    return 0;
}

int fz_gateway_open(const fz_gateway_options *o, fz_gateway **out, fz_error *err)
{
    *out = NULL;
    pthread_once(&g_once, global_setup);
    if (!g_global_ok)
        return fz_error_set(err, FZ_EINVAL, "libcurl or libsodium cannot be initialized");
    if (!o)
        return fz_error_set(err, FZ_EINVAL, "no gateway options");
    if (o->n_headers && !o->headers)
        return fz_error_set(err, FZ_EINVAL, "gateway n_headers without headers");
    fz_gateway *g = calloc(1, sizeof *g);
    if (!g)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    snprintf(g->user_agent, sizeof g->user_agent, "fanzha/%s", fz_version());
    int rc = check_url(o->url, err);
    if (!rc)
        rc = settle_method(o->method, g, err);
    if (!rc)
        rc = settle_numbers(o, g, err);
    if (!rc)
        rc = check_ca_file(o->ca_file, err);
    if (!rc) {
        g->url = strdup(o->url);
        g->body = strdup(o->body ? o->body : k_default_body);
        g->ca_file = dup_or_null(o->ca_file);
        if (!g->url || !g->body || (o->ca_file && !g->ca_file))
            rc = fz_error_set(err, FZ_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = compile_body(g, err);
    if (!rc)
        rc = prepare_headers(g, o, err);
    if (!rc && g->body_is_json)
        rc = check_body_is_json(g, err);
    if (!rc)
        rc = setup_slots(g, err);
    if (rc) {
        fz_gateway_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

void fz_gateway_close(fz_gateway *g)
{
    if (!g)
        return;
    /* Attempts still in flight are abandoned without a callback: their
     * warnings are still in the caller's outbox, unacknowledged. */
    for (int i = 0; g->slots && i < g->concurrency; i++) {
        slot *s = &g->slots[i];
        if (s->busy)
            curl_multi_remove_handle(g->multi, s->easy);
        if (s->easy)
            curl_easy_cleanup(s->easy);
        curl_slist_free_all(s->headers);
        fz_buf_free(&s->body);
    }
    if (g->multi)
        curl_multi_cleanup(g->multi);
    for (size_t i = 0; i < g->n_header_lines; i++) {
        sodium_memzero(g->header_lines[i], strlen(g->header_lines[i]));    /* tokens */
        free(g->header_lines[i]);
    }
    free(g->header_lines);
    free(g->slots);
    free(g->free_slots);
    free(g->pieces);
    free(g->url);
    free(g->ca_file);
    free(g->body);
    free(g);
}

/* --- attempts --------------------------------------------------------------------------------- */

/* The id becomes a header value: only token characters, so that nothing
 * can be smuggled into the request. */
static int valid_key(const char *id, size_t max)
{
    size_t n = strnlen(id, max);
    return n > 0 && n < max && is_token(id, n);
}

/* This attempt's body and headers, set on the slot's easy handle. */
static int prepare_attempt(fz_gateway *g, slot *s)
{
    if (render(g, &s->w, &s->body))
        return FZ_ENOMEM;
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    char key[64];
    snprintf(key, sizeof key, "Idempotency-Key: %s", s->w.id);
    for (size_t i = 0; i <= g->n_header_lines; i++) {
        struct curl_slist *l = curl_slist_append(s->headers, i < g->n_header_lines ? g->header_lines[i] : key);
        if (!l)
            return FZ_ENOMEM;
        s->headers = l;
    }
    /* POSTFIELDS is not copied: the slot's buffer lives until the attempt ends. */
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body.data);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body.len);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    s->retry_after[0] = '\0';
    s->errbuf[0] = '\0';
    return 0;
}

int fz_gateway_submit(fz_gateway *g, const fz_warning *w, void *tag)
{
    if (!g->n_free)
        return FZ_EAGAIN;
    if (!valid_key(w->id, sizeof w->id))
        return FZ_EINVAL;
    slot *s = g->free_slots[g->n_free - 1];
    s->w = *w;
    s->tag = tag;
    int rc = prepare_attempt(g, s);
    if (!rc && curl_multi_add_handle(g->multi, s->easy) != CURLM_OK)
        rc = FZ_ENOMEM;
    if (rc)
        return rc;
    s->started_ms = mono_ms();
    s->busy = 1;
    g->n_free--;
    return 0;
}

size_t fz_gateway_in_flight(const fz_gateway *g)
{
    return (size_t)g->concurrency - g->n_free;
}

size_t fz_gateway_room(const fz_gateway *g)
{
    return g->n_free;
}

int fz_gateway_render_body(const fz_gateway *g, const fz_warning *w, char *out, size_t cap)
{
    fz_buf b = FZ_BUF_INIT;
    int rc = render(g, w, &b);
    if (!rc && b.len >= cap)
        rc = FZ_ETOOBIG;
    if (!rc)
        memcpy(out, b.data, b.len + 1);
    fz_buf_free(&b);
    return rc;
}

/* --- outcomes --------------------------------------------------------------------------------- */

typedef enum verdict { V_DELIVERED, V_TRANSIENT, V_PERMANENT } verdict;

static verdict judge_status(long status)
{
    if (status >= 200 && status < 300)
        return V_DELIVERED;
    /* 409 Conflict: the gateway already holds a request with this
     * Idempotency-Key, i.e. an earlier attempt got through. */
    if (status == 409)
        return V_DELIVERED;
    if (status == 408 || status == 425 || status == 429 || (status >= 500 && status < 600))
        return V_TRANSIENT;
    /* Any other 4xx (and 3xx, never followed): the request itself is wrong,
     * and sending it again will not make it right. */
    return V_PERMANENT;
}

/* Milliseconds to wait by a Retry-After value (delta-seconds or an
 * HTTP-date), capped; -1 when there is none or it cannot be read. */
static int64_t retry_after_ms(const char *v, long cap_s)
{
    if (!*v)
        return -1;
    int64_t secs;
    if (strspn(v, "0123456789") == strlen(v)) {
        secs = strlen(v) > 9 ? cap_s : strtoll(v, NULL, 10);
    } else {
        time_t at = curl_getdate(v, NULL);
        if (at == -1)
            return -1;
        secs = (int64_t)at - (int64_t)time(NULL);
    }
    if (secs < 0)
        secs = 0;
    return (secs > cap_s ? cap_s : secs) * 1000;
}

/* Full jitter: uniform in [0, min(max, base * 2^(attempt-1))]. */
static int64_t backoff_ms(const fz_gateway *g, int attempt)
{
    int64_t bound = g->backoff_base_ms;
    for (int i = 1; i < attempt && bound < g->backoff_max_ms; i++)
        bound *= 2;
    if (bound > g->backoff_max_ms)
        bound = g->backoff_max_ms;
    if (bound >= UINT32_MAX)
        bound = UINT32_MAX - 1;
    return randombytes_uniform((uint32_t)bound + 1);
}

/* The server's Retry-After value is not quoted: it is the server's text,
 * like a body, and could hold anything. wait_ms is what was made of it. */
static void describe_status(long status, const char *retry_after, int64_t wait_ms, char *out, size_t cap)
{
    verdict v = judge_status(status);
    if (v == V_TRANSIENT && *retry_after && (status == 429 || status == 503) && wait_ms >= 0)
        snprintf(out, cap, "HTTP %ld (Retry-After %lld s)", status, (long long)(wait_ms / 1000));
    else if (v == V_TRANSIENT && *retry_after && (status == 429 || status == 503))
        snprintf(out, cap, "HTTP %ld (Retry-After not understood)", status);
    else if (v == V_TRANSIENT)
        snprintf(out, cap, "HTTP %ld", status);
    else if (status >= 300 && status < 400)
        snprintf(out, cap, "HTTP %ld: a redirect, not followed; check the gateway URL", status);
    else if (v == V_PERMANENT)
        snprintf(out, cap, "HTTP %ld: the gateway refused the request; not retried", status);
    else
        out[0] = '\0';
}

/* What went wrong below HTTP. libcurl's error buffer names the failure and
 * at most the host; it never holds the request or the response body. */
static void describe_transport(const fz_gateway *g, slot *s, CURLcode cc, double ms, char *out, size_t cap)
{
    long os_errno = 0;
    curl_easy_getinfo(s->easy, CURLINFO_OS_ERRNO, &os_errno);
    size_t n = strlen(s->errbuf);
    while (n && (s->errbuf[n - 1] == '\n' || s->errbuf[n - 1] == '\r'))
        s->errbuf[--n] = '\0';
    const char *detail = n ? s->errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        if (ms + 1 >= (double)g->timeout_ms)
            snprintf(out, cap, "timeout after %ld ms", g->timeout_ms);
        else
            snprintf(out, cap, "connect timeout after %ld ms", g->connect_timeout_ms);
        break;
    case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED)
            snprintf(out, cap, "connection refused");
        else
            snprintf(out, cap, "cannot connect: %.120s", detail);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, cap, "cannot resolve the gateway host");
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        if (os_errno == ECONNRESET)
            snprintf(out, cap, "connection reset");
        else
            snprintf(out, cap, "connection failed: %.120s", detail);
        break;
    case CURLE_GOT_NOTHING:
        snprintf(out, cap, "connection closed without a response");
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
        snprintf(out, cap, "TLS: %.140s", detail);
        break;
    default:
        snprintf(out, cap, "%.150s", detail);
    }
}

static void classify(const fz_gateway *g, slot *s, CURLcode cc, fz_delivery *d)
{
    memset(d, 0, sizeof *d);
    d->ms = mono_ms() - s->started_ms;
    int attempt = s->w.attempts + 1;
    int64_t wait_ms = -1;           /* the server's Retry-After, when honoured */
    verdict v = V_TRANSIENT;
    if (cc != CURLE_OK) {
        describe_transport(g, s, cc, d->ms, d->error, sizeof d->error);
    } else {
        long status = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        d->http_status = (int)status;
        v = judge_status(status);
        if (status == 429 || status == 503)
            wait_ms = retry_after_ms(s->retry_after, g->retry_after_max_s);
        describe_status(status, s->retry_after, wait_ms, d->error, sizeof d->error);
    }
    if (v == V_DELIVERED) {
        d->result = FZ_DELIVERED;
    } else if (v == V_PERMANENT) {
        d->result = FZ_DEAD;
    } else if (attempt >= g->max_attempts) {
        size_t n = strlen(d->error);
        snprintf(d->error + n, sizeof d->error - n, "; gave up after %d attempt%s", attempt, attempt == 1 ? "" : "s");
        d->result = FZ_DEAD;
    } else {
        d->result = FZ_RETRY;
        d->retry_at_ms = wall_ms() + (wait_ms >= 0 ? wait_ms : backoff_ms(g, attempt));
    }
}

/* Classify a completed attempt, free its slot and call back. The warning is
 * copied out first: the callback may submit again into the same slot. */
static void finish(fz_gateway *g, CURLMsg *msg, fz_delivery_fn done, void *ud)
{
    slot *s = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    CURLcode cc = msg->data.result;
    curl_multi_remove_handle(g->multi, s->easy);
    fz_delivery d;
    classify(g, s, cc, &d);
    fz_warning w = s->w;
    void *tag = s->tag;
    s->busy = 0;
    g->free_slots[g->n_free++] = s;
    if (done)
        done(ud, tag, &w, &d);
}

/* Call back for every attempt that has completed; how many there were. */
static int reap(fz_gateway *g, fz_delivery_fn done, void *ud)
{
    int n = 0, left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(g->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        finish(g, msg, done, ud);
        n++;
    }
    return n;
}

int fz_gateway_poll(fz_gateway *g, int timeout_ms, fz_delivery_fn done, void *ud)
{
    double deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    while (fz_gateway_in_flight(g)) {
        int running;
        CURLMcode mc = curl_multi_perform(g->multi, &running);
        if (mc != CURLM_OK)
            return mc == CURLM_OUT_OF_MEMORY ? FZ_ENOMEM : FZ_EIO;
        if (reap(g, done, ud))
            break;
        double left = deadline - mono_ms();
        if (left <= 0)
            break;
        mc = curl_multi_poll(g->multi, NULL, 0, left < INT_MAX - 1 ? (int)left + 1 : INT_MAX, NULL);
        if (mc != CURLM_OK)
            return mc == CURLM_OUT_OF_MEMORY ? FZ_ENOMEM : FZ_EIO;
    }
    return (int)fz_gateway_in_flight(g);
}
