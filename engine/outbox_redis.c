/* outbox_redis.c — the outbox in Redis, shared by every fanzha process and
 * machine that points at that Redis.
 *
 * Keys (one hash tag, {out}, so that the scripts' keys share a Cluster slot):
 *   fz:{out}            stream of ready warnings (fields id, w), read by the
 *                       consumer group "deliver"
 *   fz:{out}:sched      sorted set of warnings due later (quiet hours,
 *                       retries), score = due time in ms, member = id + w
 *   fz:{out}:dead       stream of dead letters (fields id, w)
 *   fz:{out}:once:<k>   dedup keys;  fz:{out}:n:<k>  daily counters
 *
 * How it works. Queueing is one Lua script per warning (dedup SET NX, INCR
 * of the counter, then XADD or ZADD), pipelined: one round trip for a
 * batch. Delivery first moves due members of the schedule to the stream (a
 * script), then claims: XAUTOCLAIM takes back entries whose deliverer has
 * been silent longer than the lease (it died), XREADGROUP takes new ones.
 * Settling is one MULTI: XACK and XDEL, plus ZADD to the schedule for a
 * retry or XADD to the dead letters. A deliverer that dies between sending
 * and settling leaves its entries pending; they come back by XAUTOCLAIM and
 * are sent again with the same Idempotency-Key. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outbox_internal.h"
#include "store.h"

#define K_STREAM "fz:{out}"
#define K_SCHED "fz:{out}:sched"
#define K_DEAD "fz:{out}:dead"
#define GROUP "deliver"

static const char k_queue_lua[] =
    "if KEYS[1] ~= '' and not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 1 end "
    "if KEYS[2] ~= '' then "
    "  local n = redis.call('INCR', KEYS[2]) "
    "  if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end "
    "  if n > tonumber(ARGV[2]) then return 2 end "
    "end "
    "if tonumber(ARGV[4]) > tonumber(ARGV[5]) then "
    "  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[6] .. ARGV[7]) "
    "else redis.call('XADD', KEYS[3], '*', 'id', ARGV[6], 'w', ARGV[7]) end "
    "return 0";

static const char k_promote_lua[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2]) "
    "for _, m in ipairs(due) do "
    "  redis.call('XADD', KEYS[2], '*', 'id', string.sub(m, 1, 32), 'w', string.sub(m, 33)) "
    "  redis.call('ZREM', KEYS[1], m) "
    "end "
    "return #due";

typedef struct rob {
    fz_store *s;
    char consumer[96];
    int group_ready;
} rob;

static int failed(fz_error *err, const char *what)
{
    return fz_error_set(err, FZ_EIO, "Redis: %s failed", what);
}

/* Read n replies; 0 when all came and none is an error. */
static int replies(redisContext *c, int n, int *broken)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            *broken = 1;
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR)
            rc = -1;
        freeReplyObject(r);
    }
    return rc;
}

static int ensure_group(rob *o, redisContext *c)
{
    if (o->group_ready)
        return 0;
    redisReply *r = redisCommand(c, "XGROUP CREATE " K_STREAM " " GROUP " 0 MKSTREAM");
    int ok = r && (r->type != REDIS_REPLY_ERROR || strstr(r->str, "BUSYGROUP"));
    freeReplyObject(r);
    o->group_ready = ok;
    return ok ? 0 : -1;
}

/* --- queueing ------------------------------------------------------------------------------ */

static int rob_queue(void *impl, const fz_warn_request *r, const fz_buf *sealed, size_t n, int64_t now_ms,
                     fz_queue_result *res, fz_error *err)
{
    rob *o = impl;
    redisContext *c = fz_store_redis_take(o->s);
    if (!c)
        return fz_error_set(err, FZ_EIO, "Redis is not reachable (%s)", fz_store_describe(o->s));
    int broken = 0;
    for (size_t i = 0; i < n; i++) {
        char once[128] = "", count[128] = "", a1[24], a2[24], a3[24], a4[24], a5[24];
        if (r[i].once_key[0])
            snprintf(once, sizeof once, "fz:{out}:once:%s", r[i].once_key);
        if (r[i].count_key[0])
            snprintf(count, sizeof count, "fz:{out}:n:%s", r[i].count_key);
        int64_t due = r[i].w.due * 1000 > now_ms ? r[i].w.due * 1000 : now_ms;
        snprintf(a1, sizeof a1, "%lld", (long long)(r[i].once_ttl > 0 ? r[i].once_ttl : 1));
        snprintf(a2, sizeof a2, "%d", r[i].limit);
        snprintf(a3, sizeof a3, "%lld", (long long)(r[i].count_ttl > 0 ? r[i].count_ttl : 1));
        snprintf(a4, sizeof a4, "%lld", (long long)due);
        snprintf(a5, sizeof a5, "%lld", (long long)now_ms);
        const char *argv[] = {"EVAL", k_queue_lua, "4", once, count, K_STREAM, K_SCHED, a1, a2, a3, a4, a5,
                              r[i].w.id, sealed[i].data};
        size_t lens[] = {4, sizeof k_queue_lua - 1, 1, strlen(once), strlen(count), sizeof K_STREAM - 1,
                         sizeof K_SCHED - 1, strlen(a1), strlen(a2), strlen(a3), strlen(a4), strlen(a5), 32,
                         sealed[i].len};
        if (redisAppendCommandArgv(c, 14, argv, lens) != REDIS_OK)
            broken = 1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !broken; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep) {
            broken = 1;
            break;
        }
        if (rep->type == REDIS_REPLY_INTEGER)
            res[i] = rep->integer == 1 ? FZ_DUPLICATE : rep->integer == 2 ? FZ_LIMITED : FZ_QUEUED;
        else
            rc = FZ_EIO;
        freeReplyObject(rep);
    }
    fz_store_redis_give(o->s, c, broken);
    return broken || rc ? failed(err, "queueing warnings") : 0;
}

/* --- delivery -------------------------------------------------------------------------------- */

/* Entries of an XRANGE / XREADGROUP / XAUTOCLAIM reply: [id, [field, value, ...]]. */
static int emit_entries(const redisReply *entries, int64_t due_ms, fz_blob_fn fn, void *ud)
{
    for (size_t i = 0; entries && entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;                       /* an entry deleted while pending */
        fz_blob b = {.due_ms = due_ms};
        snprintf(b.handle, sizeof b.handle, "%s", e->element[0]->str);
        const redisReply *f = e->element[1];
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (strcmp(f->element[k]->str, "id") == 0)
                snprintf(b.id, sizeof b.id, "%s", f->element[k + 1]->str);
            else if (strcmp(f->element[k]->str, "w") == 0)
                b.data = f->element[k + 1]->str, b.len = f->element[k + 1]->len;
        }
        if (b.data && fn(ud, &b))
            return 1;
    }
    return 0;
}

static int rob_claim(void *impl, size_t max, int64_t now_ms, int lease_ms, fz_blob_fn fn, void *ud, fz_error *err)
{
    rob *o = impl;
    redisContext *c = fz_store_redis_take(o->s);
    if (!c)
        return fz_error_set(err, FZ_EIO, "Redis is not reachable (%s)", fz_store_describe(o->s));
    int broken = ensure_group(o, c) != 0;
    char now[24], count[24], idle[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(count, sizeof count, "%zu", max);
    snprintf(idle, sizeof idle, "%d", lease_ms);
    redisReply *moved = broken ? NULL
                               : redisCommand(c, "EVAL %s 2 %s %s %s %s", k_promote_lua, K_SCHED, K_STREAM, now,
                                              "1000");
    freeReplyObject(moved);
    redisReply *stale = broken ? NULL
                               : redisCommand(c, "XAUTOCLAIM %s %s %s %s 0-0 COUNT %s", K_STREAM, GROUP,
                                              o->consumer, idle, count);
    if (stale && stale->type == REDIS_REPLY_ERROR && strstr(stale->str, "NOGROUP")) {
        /* The group is gone (Redis restarted empty, or was flushed): make it again. */
        freeReplyObject(stale);
        o->group_ready = 0;
        broken = ensure_group(o, c) != 0;
        stale = broken ? NULL
                       : redisCommand(c, "XAUTOCLAIM %s %s %s %s 0-0 COUNT %s", K_STREAM, GROUP, o->consumer, idle,
                                      count);
    }
    int stop = 0;
    if (stale && stale->type == REDIS_REPLY_ARRAY && stale->elements >= 2)
        stop = emit_entries(stale->element[1], now_ms, fn, ud);
    size_t reclaimed = stale && stale->type == REDIS_REPLY_ARRAY && stale->elements >= 2
                           ? stale->element[1]->elements
                           : 0;
    freeReplyObject(stale);
    redisReply *fresh = NULL;
    if (!broken && !stop && reclaimed < max) {
        snprintf(count, sizeof count, "%zu", max - reclaimed);
        fresh = redisCommand(c, "XREADGROUP GROUP %s %s COUNT %s STREAMS %s >", GROUP, o->consumer, count, K_STREAM);
        /* [[stream, entries]] or nil when nothing is new */
        if (fresh && fresh->type == REDIS_REPLY_ARRAY && fresh->elements == 1)
            emit_entries(fresh->element[0]->element[1], now_ms, fn, ud);
    }
    if (!moved || !stale || (!fresh && !stop && reclaimed < max))
        broken = 1;
    freeReplyObject(fresh);
    fz_store_redis_give(o->s, c, broken);
    return broken ? failed(err, "claiming warnings") : 0;
}

static int rob_settle(void *impl, const char *handle, const char *id, fz_settle how, int64_t due_ms,
                      const fz_buf *blob, fz_error *err)
{
    rob *o = impl;
    redisContext *c = fz_store_redis_take(o->s);
    if (!c)
        return fz_error_set(err, FZ_EIO, "Redis is not reachable (%s)", fz_store_describe(o->s));
    int n = 4, broken = 0;
    redisAppendCommand(c, "MULTI");
    if (how == FZ_SETTLE_RETRY) {
        char due[24];
        snprintf(due, sizeof due, "%lld", (long long)due_ms);
        /* the member is the id then the sealed warning */
        fz_buf m = FZ_BUF_INIT;
        if (fz_buf_append(&m, id, 32) || fz_buf_append(&m, blob->data, blob->len))
            broken = 1;
        redisAppendCommand(c, "ZADD %s %s %b", K_SCHED, due, m.data, m.len);
        fz_buf_free(&m);
        n++;
    } else if (how == FZ_SETTLE_DEAD) {
        redisAppendCommand(c, "XADD %s * id %s w %b", K_DEAD, id, blob->data, blob->len);
        n++;
    }
    redisAppendCommand(c, "XACK %s %s %s", K_STREAM, GROUP, handle);
    redisAppendCommand(c, "XDEL %s %s", K_STREAM, handle);
    redisAppendCommand(c, "EXEC");
    int rc = broken || replies(c, n, &broken) ? -1 : 0;
    fz_store_redis_give(o->s, c, broken);
    return rc ? failed(err, "settling a warning") : 0;
}

/* --- operators ------------------------------------------------------------------------------- */

static int rob_depth(void *impl, int64_t now_ms, fz_outbox_depth *out, fz_error *err)
{
    rob *o = impl;
    memset(out, 0, sizeof *out);
    redisContext *c = fz_store_redis_take(o->s);
    if (!c)
        return fz_error_set(err, FZ_EIO, "Redis is not reachable (%s)", fz_store_describe(o->s));
    /* Members of the schedule that are due count as ready (as in the spool),
     * whether or not a deliverer has moved them to the stream yet. */
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    uint64_t due = 0;
    redisAppendCommand(c, "XLEN %s", K_STREAM);
    redisAppendCommand(c, "ZCOUNT %s -inf %s", K_SCHED, now);
    redisAppendCommand(c, "ZCOUNT %s (%s +inf", K_SCHED, now);
    redisAppendCommand(c, "XLEN %s", K_DEAD);
    uint64_t *dst[] = {&out->ready, &due, &out->scheduled, &out->dead};
    int broken = 0;
    for (int i = 0; i < 4 && !broken; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            broken = 1;
        else if (r->type == REDIS_REPLY_INTEGER)
            *dst[i] = (uint64_t)r->integer;
        freeReplyObject(r);
    }
    out->ready += due;
    fz_store_redis_give(o->s, c, broken);
    return broken ? failed(err, "reading the outbox's depth") : 0;
}

static int list_stream(redisContext *c, const char *key, fz_blob_fn fn, void *ud, int *broken)
{
    char from[48] = "-";
    for (;;) {
        redisReply *r = redisCommand(c, "XRANGE %s %s + COUNT 500", key, from);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            *broken = !r;
            freeReplyObject(r);
            return -1;
        }
        size_t got = r->elements;
        int stop = emit_entries(r, 0, fn, ud);
        if (got)
            snprintf(from, sizeof from, "(%s", r->element[got - 1]->element[0]->str);
        freeReplyObject(r);
        if (stop || got < 500)
            return 0;
    }
}

/* Members of the schedule due at most at `now` (due), or later (!due). */
static int list_sched(redisContext *c, int due, int64_t now_ms, fz_blob_fn fn, void *ud, int *broken)
{
    char now[24];
    snprintf(now, sizeof now, due ? "%lld" : "(%lld", (long long)now_ms);
    redisReply *r = due ? redisCommand(c, "ZRANGEBYSCORE %s -inf %s WITHSCORES", K_SCHED, now)
                        : redisCommand(c, "ZRANGEBYSCORE %s %s +inf WITHSCORES", K_SCHED, now);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        *broken = !r;
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *m = r->element[i];
        if (m->len <= 32)
            continue;
        fz_blob b = {.due_ms = strtoll(r->element[i + 1]->str, NULL, 10), .data = m->str + 32, .len = m->len - 32};
        snprintf(b.id, sizeof b.id, "%.32s", m->str);
        snprintf(b.handle, sizeof b.handle, "%.32s", m->str);
        if (fn(ud, &b))
            break;
    }
    freeReplyObject(r);
    return 0;
}

static int rob_list(void *impl, fz_box box, int64_t now_ms, fz_blob_fn fn, void *ud, fz_error *err)
{
    rob *o = impl;
    redisContext *c = fz_store_redis_take(o->s);
    if (!c)
        return fz_error_set(err, FZ_EIO, "Redis is not reachable (%s)", fz_store_describe(o->s));
    int broken = 0, rc;
    if (box == FZ_BOX_SCHEDULED)
        rc = list_sched(c, 0, now_ms, fn, ud, &broken);
    else
        rc = list_stream(c, box == FZ_BOX_DEAD ? K_DEAD : K_STREAM, fn, ud, &broken);
    if (!rc && box == FZ_BOX_READY)
        rc = list_sched(c, 1, now_ms, fn, ud, &broken);    /* due, not yet moved to the stream */
    fz_store_redis_give(o->s, c, broken);
    return rc ? failed(err, "listing the outbox") : 0;
}

static int rob_revive(void *impl, const char *handle, const char *id, const fz_buf *blob, int64_t now_ms,
                      fz_error *err)
{
    rob *o = impl;
    (void)now_ms;
    redisContext *c = fz_store_redis_take(o->s);
    if (!c)
        return fz_error_set(err, FZ_EIO, "Redis is not reachable (%s)", fz_store_describe(o->s));
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "XADD %s * id %s w %b", K_STREAM, id, blob->data, blob->len);
    redisAppendCommand(c, "XDEL %s %s", K_DEAD, handle);
    redisAppendCommand(c, "EXEC");
    int broken = 0, rc = replies(c, 4, &broken);
    fz_store_redis_give(o->s, c, broken);
    return rc ? failed(err, "replaying a dead letter") : 0;
}

/* Remove a member of the schedule by its id (the handle): the member is the
 * id followed by the sealed warning, so find it first. */
static int remove_sched(redisContext *c, const char *id, int *broken)
{
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", K_SCHED);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        *broken = !r;
        freeReplyObject(r);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < r->elements && !rc; i++) {
        const redisReply *m = r->element[i];
        if (m->len > 32 && memcmp(m->str, id, 32) == 0) {
            redisReply *z = redisCommand(c, "ZREM %s %b", K_SCHED, m->str, m->len);
            rc = z && z->type == REDIS_REPLY_INTEGER ? 0 : -1;
            *broken = !z;
            freeReplyObject(z);
        }
    }
    freeReplyObject(r);
    return rc;
}

static int rob_remove(void *impl, fz_box box, const char *handle, fz_error *err)
{
    rob *o = impl;
    redisContext *c = fz_store_redis_take(o->s);
    if (!c)
        return fz_error_set(err, FZ_EIO, "Redis is not reachable (%s)", fz_store_describe(o->s));
    int broken = 0, rc;
    if (box == FZ_BOX_SCHEDULED || (box == FZ_BOX_READY && !strchr(handle, '-'))) {
        /* a ready one that is still in the schedule (due, not yet moved) is named by its id */
        rc = remove_sched(c, handle, &broken);
    } else {
        /* a ready entry may be pending in the group: acknowledge it too */
        redisAppendCommand(c, "XDEL %s %s", box == FZ_BOX_DEAD ? K_DEAD : K_STREAM, handle);
        redisAppendCommand(c, "XACK %s %s %s", K_STREAM, GROUP, handle);
        rc = replies(c, 2, &broken);
        if (rc && box == FZ_BOX_DEAD)
            rc = 0;                         /* no group on the dead letters: XACK may fail */
    }
    fz_store_redis_give(o->s, c, broken);
    return rc ? failed(err, "removing a warning") : 0;
}

static void rob_close(void *impl)
{
    free(impl);
}

static const fz_outbox_be k_redis_outbox = {rob_queue, rob_claim, rob_settle, rob_depth,
                                            rob_list,  rob_revive, rob_remove, rob_close};

int fz_outbox_redis_open(fz_store *s, const fz_outbox_be **be, void **impl, fz_error *err)
{
    rob *o = calloc(1, sizeof *o);
    if (!o)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    o->s = s;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(o->consumer, sizeof o->consumer, "%s-%d", host, (int)getpid());
    *be = &k_redis_outbox;
    *impl = o;
    return 0;
}
