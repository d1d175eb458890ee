/* store_redis.c — the Redis state backend (hiredis).
 *
 * How it works. A batch of operations becomes one pipeline: every command
 * is appended (binary-safe), then every reply read; one round trip per
 * batch. Connections come from a small pool, so concurrent workers each use
 * their own (a hiredis context is not thread-safe). A failed round trip
 * drops its connection; while Redis is down, batches fail at once rather
 * than wait (the caller scores without state) and a reconnect is attempted
 * after a backoff that doubles from 50 ms to 2 s. Connect and command
 * timeouts are the configured round-trip timeout, so a hung Redis delays a
 * batch by at most that.
 *
 * Commands: GET; SET .. EX / NX; HGETALL; HSET + EXPIRE; a small Lua script
 * for "set unless the field holds a larger number" (a report's date: a
 * backfilled old report must not replace a newer one); PFADD + PFCOUNT +
 * EXPIRE; ZADD GT + EXPIRE (Redis >= 6.2); ZREVRANGE .. WITHSCORES; DEL;
 * HDEL. */

static const char k_hset_max[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if (not cur) or tonumber(cur) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end "
    "if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end "
    "return 1";
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fanzha/error.h"
#include "store.h"

#define POOL_MAX 16

typedef struct rds {
    char host[256];
    int port;
    char user[128], password[256];
    int db;
    double timeout_ms;
    pthread_mutex_t mu;
    redisContext *pool[POOL_MAX];
    int n_pool;
    int down;                   /* the last attempt failed */
    int64_t next_attempt_ms;
    int backoff_ms;
} rds;

static int redis_exec(fz_store *s, fz_op *ops, size_t n, fz_arena *results);
static void redis_close(fz_store *s);
static const fz_store_backend k_redis = {redis_exec, redis_close};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* redis://[[user]:password@]host[:port][/db] */
static int parse_url(rds *r, const char *url, fz_error *err)
{
    if (strncmp(url, "redis://", 8) != 0)
        return fz_error_set(err, FZ_EINVAL, "a Redis URL starts with redis:// (got '%s')", url);
    const char *p = url + 8, *at = strrchr(p, '@');
    r->port = 6379;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            snprintf(r->user, sizeof r->user, "%.*s", (int)(colon - p), p);
            snprintf(r->password, sizeof r->password, "%.*s", (int)(at - colon - 1), colon + 1);
        } else {
            snprintf(r->password, sizeof r->password, "%.*s", (int)(at - p), p);
        }
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof r->host)
        return fz_error_set(err, FZ_EINVAL, "no host in the Redis URL");
    memcpy(r->host, p, hl);
    r->host[hl] = '\0';
    p += hl;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (port <= 0 || port > 65535)
            return fz_error_set(err, FZ_EINVAL, "bad port in the Redis URL");
        r->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1])
        r->db = atoi(p + 1);
    return 0;
}

static redisContext *connect_one(rds *r)
{
    struct timeval tv = {(time_t)(r->timeout_ms / 1000), (suseconds_t)((long)r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *rep = NULL;
    if (r->password[0])
        rep = r->user[0] ? redisCommand(c, "AUTH %s %s", r->user, r->password) : redisCommand(c, "AUTH %s", r->password);
    if (r->password[0] && (!rep || rep->type == REDIS_REPLY_ERROR)) {
        freeReplyObject(rep);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(rep);
    if (r->db) {
        rep = redisCommand(c, "SELECT %d", r->db);
        int bad = !rep || rep->type == REDIS_REPLY_ERROR;
        freeReplyObject(rep);
        if (bad) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* A connection from the pool, a new one, or NULL while backing off. */
static redisContext *take(fz_store *s, rds *r)
{
    pthread_mutex_lock(&r->mu);
    redisContext *c = r->n_pool ? r->pool[--r->n_pool] : NULL;
    int may_try = !c && (!r->down || now_ms() >= r->next_attempt_ms);
    pthread_mutex_unlock(&r->mu);
    if (c || !may_try)
        return c;
    c = connect_one(r);
    pthread_mutex_lock(&r->mu);
    if (c) {
        if (r->down)
            atomic_fetch_add(&s->reconnects, 1);
        r->down = 0;
        r->backoff_ms = 50;
    } else {
        r->down = 1;
        r->next_attempt_ms = now_ms() + r->backoff_ms;
        r->backoff_ms = r->backoff_ms < 1000 ? r->backoff_ms * 2 : 2000;
    }
    pthread_mutex_unlock(&r->mu);
    return c;
}

static void give_back(rds *r, redisContext *c, int broken)
{
    pthread_mutex_lock(&r->mu);
    if (broken) {
        r->down = 1;
        r->next_attempt_ms = now_ms() + r->backoff_ms;
    }
    if (!broken && r->n_pool < POOL_MAX) {
        r->pool[r->n_pool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    redisFree(c);
}

static int append(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    return redisAppendCommandArgv(c, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

#define ARG(s, n) argv[argc] = (s), lens[argc++] = (n)

/* PFADD key member...: the members of a batch in one command. */
static int append_pfadd(redisContext *c, const fz_op *op)
{
    size_t n = op->n_members ? op->n_members : 1;
    const char **argv = malloc((n + 2) * sizeof *argv);
    size_t *lens = malloc((n + 2) * sizeof *lens);
    int rc = -1;
    if (argv && lens) {
        argv[0] = "PFADD", lens[0] = 5;
        argv[1] = op->key.ptr, lens[1] = op->key.len;
        for (size_t k = 0; k < n; k++) {
            const fz_str *mb = op->n_members ? &op->members[k] : &op->value;
            argv[2 + k] = mb->ptr;
            lens[2 + k] = mb->len;
        }
        rc = append(c, (int)(n + 2), argv, lens);
    }
    free(argv);
    free(lens);
    return rc;
}

static int append_op(redisContext *c, const fz_op *op, int *replies)
{
    const char *argv[10];
    size_t lens[10];
    int argc = 0, rc = 0;
    char ttl[24], num[40];
    snprintf(ttl, sizeof ttl, "%lld", (long long)op->ttl);
    const char *key = op->key.ptr;
    size_t kl = op->key.len;
    switch (op->type) {
    case FZ_OP_GET:
        ARG("GET", 3); ARG(key, kl);
        *replies = 1;
        return append(c, argc, argv, lens);
    case FZ_OP_SETEX:
    case FZ_OP_SETNX:
        ARG("SET", 3); ARG(key, kl); ARG(op->value.ptr, op->value.len);
        if (op->type == FZ_OP_SETNX)
            ARG("NX", 2);
        if (op->ttl > 0) {
            ARG("EX", 2);
            ARG(ttl, strlen(ttl));
        }
        *replies = 1;
        return append(c, argc, argv, lens);
    case FZ_OP_HGETALL:
        ARG("HGETALL", 7); ARG(key, kl);
        *replies = 1;
        return append(c, argc, argv, lens);
    case FZ_OP_HSET:
        ARG("HSET", 4); ARG(key, kl); ARG(op->field.ptr, op->field.len); ARG(op->value.ptr, op->value.len);
        rc = append(c, argc, argv, lens);
        break;
    case FZ_OP_HSET_MAX:
        ARG("EVAL", 4); ARG(k_hset_max, sizeof k_hset_max - 1); ARG("1", 1); ARG(key, kl);
        ARG(op->field.ptr, op->field.len); ARG(op->value.ptr, op->value.len); ARG(ttl, strlen(ttl));
        *replies = 1;
        return append(c, argc, argv, lens);
    case FZ_OP_PFADD_COUNT:
        rc = append_pfadd(c, op);
        ARG("PFCOUNT", 7); ARG(key, kl);
        rc = rc || append(c, argc, argv, lens);
        break;
    case FZ_OP_ZADD_GT:
        snprintf(num, sizeof num, "%.17g", op->score);
        ARG("ZADD", 4); ARG(key, kl); ARG("GT", 2); ARG(num, strlen(num)); ARG(op->value.ptr, op->value.len);
        rc = append(c, argc, argv, lens);
        break;
    case FZ_OP_DEL:
        ARG("DEL", 3); ARG(key, kl);
        *replies = 1;
        return append(c, argc, argv, lens);
    case FZ_OP_HDEL:
        ARG("HDEL", 4); ARG(key, kl); ARG(op->field.ptr, op->field.len);
        *replies = 1;
        return append(c, argc, argv, lens);
    case FZ_OP_ZTOP:
        snprintf(num, sizeof num, "%lld", (long long)(op->n > 0 ? op->n - 1 : 0));
        ARG("ZREVRANGE", 9); ARG(key, kl); ARG("0", 1); ARG(num, strlen(num)); ARG("WITHSCORES", 10);
        *replies = 1;
        return append(c, argc, argv, lens);
    }
    /* The write commands end with the key's expiry. */
    argc = 0;
    ARG("EXPIRE", 6); ARG(key, kl); ARG(ttl, strlen(ttl));
    *replies = op->type == FZ_OP_PFADD_COUNT ? 3 : 2;
    return rc || (op->ttl > 0 ? append(c, argc, argv, lens) : (*replies -= 1, 0));
}

static int copy_str(fz_arena *a, const redisReply *rep, fz_str *out)
{
    char *p = fz_arena_strndup(a, rep->str ? rep->str : "", rep->len);
    if (!p)
        return -1;
    *out = (fz_str){p, rep->len};
    return 0;
}

/* Read one op's replies and fill its results. */
static int read_op(redisContext *c, fz_op *op, int replies, fz_arena *a)
{
    int rc = 0;
    for (int i = 0; i < replies; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep) {
            freeReplyObject(rep);
            return -2;                  /* the connection is gone */
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            rc = -1;
        } else if (i == 0 && op->type == FZ_OP_GET) {
            op->found = rep->type == REDIS_REPLY_STRING;
            if (op->found && copy_str(a, rep, &op->result))
                rc = -1;
        } else if (i == 0 && (op->type == FZ_OP_HGETALL || op->type == FZ_OP_ZTOP) &&
                   rep->type == REDIS_REPLY_ARRAY) {
            op->n_pairs = rep->elements;
            op->pairs = fz_arena_alloc(a, (rep->elements + 1) * sizeof *op->pairs);
            for (size_t k = 0; op->pairs && k < rep->elements; k++)
                if (copy_str(a, rep->element[k], &op->pairs[k]))
                    rc = -1;
            if (!op->pairs)
                rc = -1;
        } else if (rep->type == REDIS_REPLY_INTEGER &&
                   ((i == 1 && op->type == FZ_OP_PFADD_COUNT) || op->type == FZ_OP_DEL || op->type == FZ_OP_HDEL)) {
            op->integer = rep->integer;
        }
        freeReplyObject(rep);
    }
    return rc;
}

static int redis_exec(fz_store *s, fz_op *ops, size_t n, fz_arena *results)
{
    rds *r = s->impl;
    redisContext *c = take(s, r);
    if (!c)
        return FZ_EIO;
    int *replies = calloc(n, sizeof *replies);
    int rc = replies ? 0 : FZ_ENOMEM, broken = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (append_op(c, &ops[i], &replies[i]))
            rc = FZ_EIO, broken = 1;
    for (size_t i = 0; i < n && !broken && replies; i++) {
        int e = read_op(c, &ops[i], replies[i], results);
        if (e == -2)
            broken = 1;
        if (e && !rc)
            rc = FZ_EIO;
    }
    free(replies);
    give_back(r, c, broken);
    return rc;
}

int fz_store_is_redis(const fz_store *s)
{
    return s->be == &k_redis;
}

redisContext *fz_store_redis_take(fz_store *s)
{
    return fz_store_is_redis(s) ? take(s, s->impl) : NULL;
}

void fz_store_redis_give(fz_store *s, redisContext *c, int broken)
{
    if (c)
        give_back(s->impl, c, broken);
}

static void redis_close(fz_store *s)
{
    rds *r = s->impl;
    if (!r)
        return;
    for (int i = 0; i < r->n_pool; i++)
        redisFree(r->pool[i]);
    pthread_mutex_destroy(&r->mu);
    memset(r->password, 0, sizeof r->password);
    free(r);
}


int fz_store_redis_open(fz_store *s, const char *url, double timeout_ms, fz_error *err)
{
    rds *r = calloc(1, sizeof *r);
    if (!r)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    int rc = parse_url(r, url, err);
    if (rc) {
        free(r);
        return rc;
    }
    r->timeout_ms = timeout_ms;
    r->backoff_ms = 50;
    pthread_mutex_init(&r->mu, NULL);
    s->impl = r;
    s->be = &k_redis;
    snprintf(s->desc, sizeof s->desc, "redis://%.200s:%d/%d", r->host, r->port, r->db);
    /* Try once now, so that a wrong address is reported at start, but do not
     * fail: Redis may come up later, and scoring goes on without it. */
    redisContext *c = take(s, r);
    if (c)
        give_back(r, c, 0);
    return 0;
}
