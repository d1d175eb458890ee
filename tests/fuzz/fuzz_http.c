/* fuzz_http.c — libFuzzer target for the HTTP server (fanzha/serve.h): the
 * request handling of `fanzha serve`, through a real loopback socket.
 *
 * How it works. The first input starts a server in this process (the
 * embedded rule pack, an embedded store with its outbox in a scratch
 * directory in memory, one request thread, port 0). Each input then becomes one
 * request on a new connection:
 *   byte 0 picks the method and the endpoint (or, for one value in eight,
 *     the whole input is sent as it is: raw bytes for libmicrohttpd's parser
 *     and our routing), and whether the token is the client's, the admin's,
 *     a wrong one or none;
 *   byte 1 says how many of the next bytes are a path segment (residents'
 *     {number}, percent-encoded), the rest is the body.
 * The reply is read to the end and checked: a status line with a code the
 * server is meant to answer with, and a JSON error body for every refusal.
 * A crash, a sanitizer report or a broken promise aborts. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fanzha/fanzha.h"
#include "fuzzutil.h"

#define CLIENT "fuzz-client-token-0123456789"
#define ADMIN "fuzz-admin-token-0123456789"

static fz_server *g_server;
static int g_port;

static void start_server(void)
{
    static const char *client[] = {CLIENT}, *admin[] = {ADMIN};
    fz_engine_config ec = {0};
    fz_engine *e;
    fz_store *st;
    fz_outbox *ob = NULL;
    fz_error err;
    char dir[512];
    unsetenv("FANZHA_RULES");
    /* Reports and residents are committed to SQLite with fsync: on a disk
     * that is a tenth of a second per input, in memory nothing. */
    if (access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    snprintf(dir, sizeof dir, "%s/state", fu_tempdir());
    fz_store_options so = {NULL, "fuzz_http key", 0, 0, dir};
    FU_CHECK(fz_engine_new(&ec, &e, &err) == 0);
    FU_CHECK(fz_store_open(&so, &st, &err) == 0);
    FU_CHECK(fz_outbox_open(st, &ob, &err) == 0);
    fz_serve_options o = {0};
    o.settings.listen = "127.0.0.1:0";
    o.settings.threads = 1;
    o.settings.connection_timeout_s = 2;
    o.settings.max_batch_body = 1 << 20;
    o.tokens = client;
    o.n_tokens = 1;
    o.admin_tokens = admin;
    o.n_admin_tokens = 1;
    o.slot = fz_engine_slot_new(e);
    o.store = st;
    o.outbox = ob;
    FU_CHECK(fz_server_start(&o, &g_server, &err) == 0);
    g_port = fz_server_port(g_server);
}

static const struct {
    const char *method, *path;
} k_requests[] = {
    {"POST", "/v1/check"},      {"POST", "/v1/check/batch"}, {"POST", "/v1/reports"},
    {"PUT", "/v1/residents/"},  {"GET", "/v1/residents/"},   {"DELETE", "/v1/residents/"},
    {"GET", "/v1/campaigns"},   {"GET", "/metrics"},         {"GET", "/readyz"},
    {"PATCH", "/v1/check"},     {"POST", "/v1/nothing"},     {"GET", "/healthz"},
};
#define N_REQUESTS (sizeof k_requests / sizeof *k_requests)

/* A raw input is often an incomplete request, which libmicrohttpd keeps
 * open (half-closed) until its idle timeout: wait for an answer briefly. */
static int connect_server(int raw)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FU_CHECK(fd >= 0);
    struct timeval tv = {raw ? 0 : 5, raw ? 50000 : 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FU_CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;     /* the server may close early (413, 401): not a failure */
        p += w;
        n -= (size_t)w;
    }
}

/* The whole reply (up to cap bytes kept); its length. */
static size_t read_reply(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char tmp[16384];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0)
            break;
        size_t k = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;
        memcpy(buf + n, tmp, k);
        n += k;
    }
    buf[n] = '\0';
    return n;
}

static void check_reply(const char *reply, size_t n, int raw)
{
    if (n == 0) {
        FU_CHECK(raw);  /* only a malformed request may get no answer (libmicrohttpd closes) */
        return;
    }
    unsigned code = 0;
    FU_CHECK(sscanf(reply, "HTTP/1.%*1[01] %3u", &code) == 1);
    static const unsigned known[] = {200, 400, 401, 403, 404, 405, 413, 414, 422, 431, 500, 501, 503, 505};
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        ok |= known[i] == code;
    FU_CHECK(ok);
    FU_CHECK(code != 500 || raw);   /* our endpoints never fail on input */
    const char *body = strstr(reply, "\r\n\r\n");
    if (!raw && code >= 400 && code != 503 && body)
        FU_CHECK(strstr(body, "\"error\"") != NULL);
}

static void build_request(const uint8_t *data, size_t size, char **req, size_t *len)
{
    size_t pick = data[0] % N_REQUESTS;
    const char *tokens[4] = {CLIENT, ADMIN, "wrong-token-0123456789", NULL};
    const char *token = tokens[(data[0] / N_REQUESTS) % 4];
    size_t seg = size > 1 ? data[1] % 24 : 0, at = size > 1 ? 2 : 1;
    if (seg > size - at)
        seg = size - at;
    char path[256];
    int p = snprintf(path, sizeof path, "%s", k_requests[pick].path);
    if (path[p - 1] == '/')
        for (size_t i = 0; i < seg; i++)
            p += snprintf(path + p, sizeof path - (size_t)p, "%%%02X", data[at + i]);
    at += seg;
    size_t body = size - at;
    char head[1024];
    int h = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: fuzz\r\n%s%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     k_requests[pick].method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", body);
    *req = malloc((size_t)h + body);
    FU_CHECK(*req != NULL);
    memcpy(*req, head, (size_t)h);
    memcpy(*req + h, data + at, body);
    *len = (size_t)h + body;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char reply[1 << 20];
    if (!g_server)
        start_server();
    if (size == 0)
        return 0;
    int raw = data[0] % 8 == 7;
    int fd = connect_server(raw);
    if (raw) {
        send_all(fd, (const char *)data + 1, size - 1);
    } else {
        char *req;
        size_t len;
        build_request(data, size, &req, &len);
        send_all(fd, req, len);
        free(req);
    }
    shutdown(fd, SHUT_WR);
    size_t n = read_reply(fd, reply, sizeof reply);
    close(fd);
    check_reply(reply, n, raw);
    return 0;
}
