/* testutil.c — shared helpers for the cmocka unit tests (see testutil.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "testutil.h"

static fz_worker *g_worker;
static fz_verdict *g_verdict;
static char g_tmpdirs[64][256];
static int g_ntmp;

const char *tu_path(const char *rel)
{
    static char buf[4][4096];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 4096, "%s/%s", FZ_SOURCE_DIR, rel);
    return b;
}

fz_engine *tu_engine(const char *rules_dir)
{
    fz_engine_config cfg = {tu_path(rules_dir), NULL, NULL, NULL};
    fz_engine *e = NULL;
    fz_error err;
    int rc = fz_engine_new(&cfg, &e, &err);
    if (rc)
        fail_msg("engine from %s: %s", rules_dir, err.message);
    return e;
}

fz_engine *tu_engine_dir(const char *dir)
{
    fz_engine_config cfg = {dir, NULL, NULL, NULL};
    fz_engine *e = NULL;
    fz_error err;
    int rc = fz_engine_new(&cfg, &e, &err);
    if (rc)
        fail_msg("engine from %s: %s", dir, err.message);
    return e;
}

int tu_hit(const fz_verdict *v, const char *rule_id, fz_hit *out)
{
    size_t n = fz_verdict_hit_count(v);
    for (size_t i = 0; i < n; i++) {
        fz_hit h;
        assert_int_equal(fz_verdict_hit(v, i, &h), 0);
        if (strcmp(h.rule, rule_id) == 0) {
            if (out)
                *out = h;
            return 1;
        }
    }
    return 0;
}

static void collect(void *ud, const fz_diag *d)
{
    tu_diags *c = ud;
    if (d->level == FZ_DIAG_ERROR)
        c->errors++;
    if (c->n < 64)
        fz_diag_format(d, c->lines[c->n++], sizeof c->lines[0]);
}

int tu_engine_fails(const char *rules_dir, tu_diags *out)
{
    memset(out, 0, sizeof *out);
    fz_engine_config cfg = {rules_dir, NULL, collect, out};
    fz_engine *e = NULL;
    fz_error err;
    int rc = fz_engine_new(&cfg, &e, &err);
    if (rc == 0) {
        fz_engine_release(e);
        fail_msg("pack %s was expected to fail", rules_dir);
    }
    return rc;
}

int tu_engine_collect(const char *rules_dir, tu_diags *out, fz_engine **e)
{
    memset(out, 0, sizeof *out);
    fz_engine_config cfg = {rules_dir, NULL, collect, out};
    fz_error err;
    *e = NULL;
    return fz_engine_new(&cfg, e, &err);
}

int tu_diags_have(const tu_diags *d, const char *a, const char *b)
{
    for (int i = 0; i < d->n; i++)
        if (strstr(d->lines[i], a) && (!b || strstr(d->lines[i], b)))
            return 1;
    for (int i = 0; i < d->n; i++)
        fprintf(stderr, "  diag: %s\n", d->lines[i]);
    return 0;
}

static void write_file(const char *dir, const char *rel, const char *content)
{
    char path[512], sub[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(sub, sizeof sub, "%s", path);
    char *slash = strrchr(sub, '/');
    if (slash) {
        *slash = '\0';
        mkdir(sub, 0755);
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

const char *tu_pack(const char *first_path, ...)
{
    assert_true(g_ntmp < 64);
    char *dir = g_tmpdirs[g_ntmp++];
    snprintf(dir, 256, "/tmp/fanzha-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    va_list ap;
    va_start(ap, first_path);
    for (const char *p = first_path; p; p = va_arg(ap, const char *))
        write_file(dir, p, va_arg(ap, const char *));
    va_end(ap);
    return dir;
}

fz_verdict *tu_scan(fz_engine *e, const char *text, const char *from)
{
    if (!g_worker)
        assert_int_equal(fz_worker_new(&g_worker, NULL), 0);
    if (!g_verdict)
        assert_non_null(g_verdict = fz_verdict_new());
    fz_message m;
    memset(&m, 0, sizeof m);
    m.text.ptr = text;
    m.text.len = strlen(text);
    if (from) {
        m.from.ptr = from;
        m.from.len = strlen(from);
    }
    assert_int_equal(fz_engine_scan(e, g_worker, &m, g_verdict), 0);
    return g_verdict;
}

const char *tu_json(fz_verdict *v, const char *text, const char *from)
{
    static fz_buf out = FZ_BUF_INIT;
    fz_buf_clear(&out);
    fz_message m;
    memset(&m, 0, sizeof m);
    m.text.ptr = text;
    m.text.len = strlen(text);
    if (from) {
        m.from.ptr = from;
        m.from.len = strlen(from);
    }
    assert_int_equal(fz_verdict_write_json(v, &m, &out), 0);
    return out.data;
}

const char *tu_scan_json(fz_engine *e, const char *text, const char *from)
{
    return tu_json(tu_scan(e, text, from), text, from);
}

void tu_cleanup(void)
{
    fz_worker_free(g_worker);
    fz_verdict_free(g_verdict);
    g_worker = NULL;
    g_verdict = NULL;
    for (int i = 0; i < g_ntmp; i++)
        tu_rmtree(g_tmpdirs[i]);
    g_ntmp = 0;
}

/* --- a private Redis (see testutil.h) ------------------------------------------------------ */

static struct {
    pid_t pid;              /* 0: not running */
    int port;
    char dir[256];          /* its --dir, removed by tu_redis_stop */
    char url[64];
    int atexit_done;
} g_redis;

int tu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        fail_msg("cannot bind a loopback port: %s", strerror(errno));
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

pid_t tu_spawn(const char *logpath, const char *dir, char *const *argv)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_RDONLY);
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (null >= 0)
            dup2(null, 0);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        if (dir && chdir(dir) != 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int tu_rmtree(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}

static pid_t redis_spawn(int port)
{
    char portbuf[16], logpath[300];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    snprintf(logpath, sizeof logpath, "%s/redis.log", g_redis.dir);
    const char *server = getenv("REDIS_SERVER");
    if (!server || !*server)
        server = "redis-server";
    char *const argv[] = {(char *)server, "--port", portbuf, "--bind", "127.0.0.1", "--save", "", "--appendonly",
                          "no", "--dir", g_redis.dir, "--daemonize", "no", "--protected-mode", "yes", NULL};
    return tu_spawn(logpath, NULL, argv);
}

/* 1 when the log of the server says its port was taken. */
static int redis_log_says_clash(void)
{
    char path[300], buf[8192];
    snprintf(path, sizeof path, "%s/redis.log", g_redis.dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, "Address already in use") != NULL || strstr(buf, "Could not create server TCP") != NULL;
}

/* 1 when the server on `port` answers PING and is process `pid` (not some
 * other server that holds the port). */
static int redis_ping(int port, pid_t pid)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
        if (ok) {
            char want[48];
            snprintf(want, sizeof want, "process_id:%d\r\n", (int)pid);
            r = redisCommand(c, "INFO server");
            ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, want) != NULL;
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return ok;
}

/* Start on `port` and wait for PING: 0, 1 on a port clash, -1 otherwise. */
static int redis_try(int port)
{
    pid_t pid = redis_spawn(port);
    for (int i = 0; i < 500; i++) {         /* up to 10 s */
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return redis_log_says_clash() ? 1 : -1;
        if (redis_ping(port, pid)) {
            g_redis.pid = pid;
            g_redis.port = port;
            snprintf(g_redis.url, sizeof g_redis.url, "redis://127.0.0.1:%d", port);
            return 0;
        }
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void redis_at_exit(void)
{
    tu_redis_stop();
}

static const char *redis_log_tail(void)
{
    static char buf[2048];
    char path[300];
    snprintf(path, sizeof path, "%s/redis.log", g_redis.dir);
    FILE *f = fopen(path, "r");
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

const char *tu_redis_start(void)
{
    assert_int_equal(g_redis.pid, 0);
    if (!g_redis.atexit_done) {
        atexit(redis_at_exit);
        g_redis.atexit_done = 1;
    }
    snprintf(g_redis.dir, sizeof g_redis.dir, "/tmp/fanzha-redis-XXXXXX");
    assert_non_null(mkdtemp(g_redis.dir));
    for (int attempt = 0; attempt < 8; attempt++) {
        int rc = redis_try(tu_free_port());
        if (rc == 0)
            return g_redis.url;
        if (rc < 0)
            break;
    }
    fail_msg("redis-server did not start (is it installed? tools/setup installs it): %s", redis_log_tail());
    return NULL;
}

const char *tu_redis_restart(void)
{
    assert_true(g_redis.port > 0);
    assert_int_equal(g_redis.pid, 0);
    for (int attempt = 0; attempt < 50; attempt++) {    /* the port may take a moment to free */
        int rc = redis_try(g_redis.port);
        if (rc == 0)
            return g_redis.url;
        if (rc < 0)
            break;
        sleep_ms(100);
    }
    fail_msg("redis-server did not restart on port %d: %s", g_redis.port, redis_log_tail());
    return NULL;
}

void tu_redis_kill(void)
{
    if (!g_redis.pid)
        return;
    kill(g_redis.pid, SIGKILL);
    waitpid(g_redis.pid, NULL, 0);
    g_redis.pid = 0;
}

void tu_redis_stop(void)
{
    if (g_redis.pid) {
        kill(g_redis.pid, SIGTERM);
        int done = 0;
        for (int i = 0; i < 250 && !done; i++) {       /* up to 5 s, then SIGKILL */
            done = waitpid(g_redis.pid, NULL, WNOHANG) == g_redis.pid;
            if (!done)
                sleep_ms(20);
        }
        if (!done) {
            kill(g_redis.pid, SIGKILL);
            waitpid(g_redis.pid, NULL, 0);
        }
        g_redis.pid = 0;
    }
    if (g_redis.dir[0]) {
        tu_rmtree(g_redis.dir);
        g_redis.dir[0] = '\0';
    }
}

const char *tu_redis_url(void)
{
    return g_redis.port ? g_redis.url : NULL;
}

int tu_redis_port(void)
{
    return g_redis.port;
}

redisContext *tu_redis_connect(void)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g_redis.port, tv);
    if (!c || c->err) {
        const char *why = c ? c->errstr : "out of memory";
        char msg[256];
        snprintf(msg, sizeof msg, "%s", why);
        redisFree(c);
        fail_msg("cannot connect to the test Redis on port %d: %s", g_redis.port, msg);
    }
    return c;
}

void tu_redis_flush(void)
{
    redisContext *c = tu_redis_connect();
    redisReply *r = redisCommand(c, "FLUSHALL");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    redisFree(c);
    assert_true(ok);
}
