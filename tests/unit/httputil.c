/* httputil.c — real HTTP servers on loopback for the tests (see httputil.h).
 *
 * A server is a child process started with fork/exec in its own temporary
 * directory (stdout and stderr go to server.log there, shown when it fails
 * to start). receiver.py binds port 0 itself and writes the port to a file,
 * which we wait for; webhook takes a port, so it gets a free one and, should
 * another process take the port first, a new one. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "httputil.h"
#include "testutil.h"

#define MAX_SERVERS 8

struct hu_server {
    pid_t pid;
    int port;
    int tls;
    int webhook;
    char dir[256];
    char path[64];          /* the delivery endpoint */
};

static hu_server g_servers[MAX_SERVERS];
static hu_tls g_tls[4];
static int g_n_tls;
static int g_atexit_done;

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void stop_all(void)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        if (g_servers[i].dir[0])
            hu_server_stop(&g_servers[i]);
    for (int i = 0; i < g_n_tls; i++)
        tu_rmtree(g_tls[i].dir);
    g_n_tls = 0;
}

static void at_exit_once(void)
{
    if (!g_atexit_done) {
        atexit(stop_all);
        g_atexit_done = 1;
    }
}

static hu_server *new_server(void)
{
    at_exit_once();
    for (int i = 0; i < MAX_SERVERS; i++) {
        hu_server *s = &g_servers[i];
        if (!s->dir[0]) {
            memset(s, 0, sizeof *s);
            snprintf(s->dir, sizeof s->dir, "/tmp/fanzha-http-XXXXXX");
            assert_non_null(mkdtemp(s->dir));
            return s;
        }
    }
    fail_msg("more than %d test HTTP servers at once", MAX_SERVERS);
    return NULL;
}

static const char *in_dir(const hu_server *s, const char *name)
{
    static char buf[4][320];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 320, "%s/%s", s->dir, name);
    return b;
}

/* Run argv in the server's directory; the child dies with us. */
static pid_t spawn(const hu_server *s, char *const *argv)
{
    char logpath[320];
    snprintf(logpath, sizeof logpath, "%s/server.log", s->dir);
    return tu_spawn(logpath, s->dir, argv);
}

static const char *log_tail(const hu_server *s)
{
    static char buf[2048];
    FILE *f = fopen(in_dir(s, "server.log"), "r");
    buf[0] = '\0';
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static int exited(pid_t pid)
{
    int status;
    return waitpid(pid, &status, WNOHANG) == pid;
}

/* --- receiver.py ------------------------------------------------------------------------------ */

static int read_port_file(const char *path)
{
    FILE *f = fopen(path, "r");
    int port = 0;
    if (f) {
        if (fscanf(f, "%d", &port) != 1)
            port = 0;
        fclose(f);
    }
    return port;
}

static hu_server *receiver_start(const char *cert, const char *key, const char *const *args)
{
    hu_server *s = new_server();
    const char *python = getenv("PYTHON");
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)(python && *python ? python : "python3");
    argv[n++] = (char *)tu_path("tests/gateway/receiver.py");
    argv[n++] = "--port-file";
    argv[n++] = (char *)in_dir(s, "port");
    argv[n++] = "--log";
    argv[n++] = (char *)in_dir(s, "requests.jsonl");
    if (cert) {
        argv[n++] = "--tls";
        argv[n++] = (char *)cert;
        argv[n++] = (char *)key;
    }
    for (int i = 0; args && args[i]; i++) {
        assert_true(n < 62);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    s->tls = cert != NULL;
    snprintf(s->path, sizeof s->path, "/notify");
    s->pid = spawn(s, argv);
    for (int i = 0; i < 500 && !s->port; i++) {        /* up to 10 s */
        if (exited(s->pid)) {
            s->pid = 0;
            fail_msg("receiver.py exited at start (is python3 installed?): %s", log_tail(s));
        }
        s->port = read_port_file(in_dir(s, "port"));
        if (!s->port)
            sleep_ms(20);
    }
    if (!s->port)
        fail_msg("receiver.py did not start: %s", log_tail(s));
    return s;
}

hu_server *hu_receiver_start(const char *const *args)
{
    return receiver_start(NULL, NULL, args);
}

hu_server *hu_receiver_start_tls(const char *cert, const char *key, const char *const *args)
{
    return receiver_start(cert, key, args);
}

/* --- webhook ---------------------------------------------------------------------------------- */

static int can_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* The hooks file: webhook-hooks.json.in with the paths filled in. */
static void write_hooks(const hu_server *s)
{
    FILE *in = fopen(tu_path("tests/gateway/webhook-hooks.json.in"), "r");
    assert_non_null(in);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    text[n] = '\0';
    FILE *out = fopen(in_dir(s, "hooks.json"), "w");
    assert_non_null(out);
    for (const char *p = text; *p;) {
        if (strncmp(p, "@RECORD_SH@", 11) == 0) {
            fputs(tu_path("tests/gateway/record.sh"), out);
            p += 11;
        } else if (strncmp(p, "@RECORD_FILE@", 13) == 0) {
            fputs(in_dir(s, "records"), out);
            p += 13;
        } else {
            fputc(*p++, out);
        }
    }
    fclose(out);
}

/* Start on `port` and wait until it accepts connections: 0, 1 when it
 * exited (a port clash, most likely), -1 when it never answered. */
static int webhook_try(hu_server *s, int port)
{
    const char *bin = getenv("WEBHOOK");
    char portbuf[16], hooks[320];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    snprintf(hooks, sizeof hooks, "%s", in_dir(s, "hooks.json"));
    char *argv[] = {(char *)(bin && *bin ? bin : "webhook"), "-ip", "127.0.0.1", "-port", portbuf, "-hooks", hooks,
                    "-http-methods", "POST,PUT", NULL};
    s->pid = spawn(s, argv);
    for (int i = 0; i < 500; i++) {
        if (exited(s->pid)) {
            s->pid = 0;
            return 1;
        }
        /* A connection could reach another process holding the port, but
         * then ours exits on the clash and the next round sees it. */
        if (can_connect(port) && !exited(s->pid)) {
            s->port = port;
            return 0;
        }
        sleep_ms(20);
    }
    return -1;
}

hu_server *hu_webhook_start(void)
{
    hu_server *s = new_server();
    s->webhook = 1;
    snprintf(s->path, sizeof s->path, "/hooks/record");
    write_hooks(s);
    for (int attempt = 0; attempt < 8; attempt++) {
        int rc = webhook_try(s, tu_free_port());
        if (rc == 0)
            return s;
        if (rc < 0)
            break;
    }
    fail_msg("webhook did not start (is the webhook package installed?): %s", log_tail(s));
    return NULL;
}

void hu_server_stop(hu_server *s)
{
    if (!s)
        return;
    if (s->pid) {
        kill(s->pid, SIGTERM);
        int done = 0;
        for (int i = 0; i < 250 && !done; i++) {       /* up to 5 s, then SIGKILL */
            done = waitpid(s->pid, NULL, WNOHANG) == s->pid;
            if (!done)
                sleep_ms(20);
        }
        if (!done) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        s->pid = 0;
    }
    if (s->dir[0])
        tu_rmtree(s->dir);
    memset(s, 0, sizeof *s);
}

int hu_server_port(const hu_server *s)
{
    return s->port;
}

const char *hu_server_url(const hu_server *s)
{
    static char buf[4][128];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 128, "%s://127.0.0.1:%d%s", s->tls ? "https" : "http", s->port, s->path);
    return b;
}

/* --- plain HTTP ------------------------------------------------------------------------------- */

typedef struct sink {
    char *p;
    size_t len, cap;
} sink;

static size_t to_sink(char *data, size_t size, size_t n, void *ud)
{
    sink *k = ud;
    size_t len = size * n;
    if (k->p && k->cap) {
        size_t room = k->cap - 1 - k->len;
        size_t take = len < room ? len : room;
        memcpy(k->p + k->len, data, take);
        k->len += take;
        k->p[k->len] = '\0';
    }
    return len;
}

long hu_http(const char *method, const char *url, const char *body, char *resp, size_t cap)
{
    CURL *e = curl_easy_init();
    assert_non_null(e);
    sink k = {resp, 0, cap};
    if (resp && cap)
        resp[0] = '\0';
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode c = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (c != CURLE_OK)
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(c));
    return status;
}

/* --- receiver.py at run time ------------------------------------------------------------------ */

static const char *control_url(const hu_server *s, const char *path)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", s->port, path);
    return buf;
}

void hu_receiver_control(const hu_server *s, const char *json)
{
    assert_false(s->tls);       /* the controls of an HTTPS receiver: not needed so far */
    char resp[1024];
    long status = hu_http("POST", control_url(s, "/_control"), json, resp, sizeof resp);
    if (status != 200)
        fail_msg("receiver control %s: HTTP %ld %s", json, status, resp);
}

void hu_receiver_reset(const hu_server *s)
{
    hu_receiver_control(s, "{\"mode\":\"ok\",\"retry_after\":null,\"fail_first\":0,\"hang_ms\":1000,"
                           "\"location\":null,\"reset_stats\":true}");
}

static long num_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    assert_true(cJSON_IsNumber(v));
    return (long)v->valuedouble;
}

hu_stats hu_receiver_stats(const hu_server *s)
{
    assert_false(s->tls);
    char resp[4096];
    assert_int_equal(hu_http("GET", control_url(s, "/_stats"), NULL, resp, sizeof resp), 200);
    cJSON *j = cJSON_Parse(resp);
    assert_non_null(j);
    hu_stats st = {num_of(j, "requests"), num_of(j, "accepted"), num_of(j, "duplicates"), num_of(j, "keys")};
    cJSON_Delete(j);
    return st;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t n = 0, cap = 0;
    if (f) {
        for (;;) {
            if (n + 4096 + 1 > cap) {
                cap = (cap + 4096) * 2;
                text = realloc(text, cap);
                assert_non_null(text);
            }
            size_t got = fread(text + n, 1, 4096, f);
            n += got;
            if (!got)
                break;
        }
        fclose(f);
    }
    if (!text) {
        text = malloc(1);
        assert_non_null(text);
    }
    text[n] = '\0';
    if (len)
        *len = n;
    return text;
}

cJSON *hu_receiver_log(const hu_server *s)
{
    char *text = slurp(in_dir(s, "requests.jsonl"), NULL);
    cJSON *all = cJSON_CreateArray();
    assert_non_null(all);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (!j)
            fail_msg("receiver log line is not JSON: %.200s", line);
        cJSON_AddItemToArray(all, j);
    }
    free(text);
    return all;
}

/* --- webhook's records ------------------------------------------------------------------------ */

static char *unbase64(const char *b64, size_t b64_len, size_t *out_len)
{
    size_t cap = b64_len / 4 * 3 + 4;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n = 0;
    if (sodium_base642bin((unsigned char *)out, cap, b64, b64_len, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL))
        fail_msg("record.sh wrote bad base64: %.80s", b64);
    out[n] = '\0';
    *out_len = n;
    return out;
}

hu_record *hu_webhook_records(const hu_server *s, size_t *n)
{
    assert_true(s->webhook);
    char *text = slurp(in_dir(s, "records"), NULL);
    size_t cap = 16;
    hu_record *r = calloc(cap, sizeof *r);
    assert_non_null(r);
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (!tab2)
            fail_msg("bad record line: %.200s", line);
        if (*n == cap) {
            r = realloc(r, (cap *= 2) * sizeof *r);
            assert_non_null(r);
        }
        hu_record *rec = &r[(*n)++];
        memset(rec, 0, sizeof *rec);
        snprintf(rec->key, sizeof rec->key, "%.*s", (int)(tab1 - line), line);
        rec->body = unbase64(tab1 + 1, (size_t)(tab2 - tab1 - 1), &rec->body_len);
        size_t hl;
        char *headers = unbase64(tab2 + 1, strlen(tab2 + 1), &hl);
        rec->headers = cJSON_Parse(headers);
        free(headers);
        assert_non_null(rec->headers);
    }
    free(text);
    return r;
}

void hu_records_free(hu_record *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].body);
        cJSON_Delete(r[i].headers);
    }
    free(r);
}

/* --- TLS material ----------------------------------------------------------------------------- */

static void run(const char *dir, const char *cmd)
{
    char full[2048];
    snprintf(full, sizeof full, "cd '%s' && %s >>openssl.log 2>&1", dir, cmd);
    if (system(full) != 0)
        fail_msg("openssl failed (is it installed?): %s (see %s/openssl.log)", cmd, dir);
}

const hu_tls *hu_tls_make(void)
{
    at_exit_once();
    assert_true(g_n_tls < 4);
    hu_tls *t = &g_tls[g_n_tls++];
    snprintf(t->dir, sizeof t->dir, "/tmp/fanzha-tls-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    /* P-256 keys: quick to make, and any TLS stack takes them. */
    run(t->dir, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                "-keyout ca.key -out ca.pem -subj '/CN=fanzha test CA' "
                "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
    run(t->dir, "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                "-keyout server.key -out server.csr -subj '/CN=127.0.0.1'");
    /* Written here, not by a shell command: run() appends its own
     * ">>openssl.log", which would take the place of a redirection to the
     * file (the last one wins) and leave server.ext empty. */
    char ext[320];
    snprintf(ext, sizeof ext, "%s/server.ext", t->dir);
    FILE *f = fopen(ext, "w");
    assert_non_null(f);
    fputs("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
          "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n", f);
    assert_int_equal(fclose(f), 0);
    run(t->dir, "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                "-extfile server.ext -out server.pem");
    char dir[sizeof t->dir];    /* a copy: t->dir and t->ca share one object for -Wrestrict */
    memcpy(dir, t->dir, sizeof dir);
    snprintf(t->ca, sizeof t->ca, "%s/ca.pem", dir);
    snprintf(t->cert, sizeof t->cert, "%s/server.pem", dir);
    snprintf(t->key, sizeof t->key, "%s/server.key", dir);
    return t;
}
