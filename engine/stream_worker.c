/* stream_worker.c — the stream worker (fz_stream_work): one consumer of the
 * group that reads the input partitions, scores what it reads and writes
 * verdicts; any number of them, on any number of machines.
 *
 * The loop. XREADGROUP takes up to `batch` new entries over all its
 * partitions (BLOCK: it waits for the first). The batch is scored in one go
 * by the scorer (scorer.c: with a store, two round trips for the whole
 * batch, then warnings queued), and committed: for each partition one
 * MULTI that XADDs every verdict (or error record) to fz:verdicts:{pK} and
 * XACKs the inputs, all partitions pipelined in one round trip. A crash
 * before EXEC leaves the entries pending and nothing written; after it,
 * everything is written and acknowledged together. So nothing is lost, and
 * a message gets a second verdict only when a worker that was thought dead
 * (silent longer than the claim idle time) commits after another claimed it.
 *
 * Warnings are queued by the scorer BEFORE the MULTI, not inside it: the
 * outbox keys live in another Cluster slot ({out}), so they cannot share a
 * transaction with the partition's keys. That is safe because queueing is
 * an atomic, idempotent Lua script keyed by a dedup key (recipient, scam,
 * day), and the warning's id is a keyed hash of that key: when a crash
 * makes another worker score the batch again, the replay finds the dedup
 * key and cannot warn twice.
 *
 * Dead workers. At start and every claim interval, XAUTOCLAIM takes, on
 * each partition, entries that have been pending longer than the claim idle
 * time (their consumer died or hangs), a batch at a time, following the
 * cursor until the partition is done. XPENDING (extended form, for this
 * consumer) then gives each claimed entry's delivery count: an entry
 * delivered more than max_deliveries times is a poison message and goes to
 * fz:in:dead:{pK} (XADD of its fields plus src, deliveries and reason, and
 * XACK, in one MULTI) instead of being scored again; the others are scored
 * like new ones. Entries deleted while pending are dropped by XAUTOCLAIM
 * itself (Redis 7; acknowledged here on older servers).
 *
 * Trimming. After each claim pass a Lua script trims every input partition
 * with XTRIM MINID, below the lowest id any consumer group still needs: its
 * oldest pending entry, or, when nothing is pending, just above its
 * last-delivered id. It runs as a script so that no worker can take an
 * entry between the check and the trim; it never trims by length, which
 * could drop entries nobody has acknowledged. The same script forgets the
 * group's consumers that hold nothing and have been silent for an hour
 * (workers that exited; their names would pile up). Verdict streams, whose
 * consumer is downstream, are capped with XADD MAXLEN ~ out_maxlen.
 *
 * Redis down. A failed command drops the connection; the loop waits (50 ms
 * doubling to 2 s), reconnects and goes on, logging once per outage. A
 * batch whose commit failed on a broken connection is committed again once
 * Redis is back (not scored again). The group is recreated when Redis
 * lost it (NOGROUP: restarted without its data).
 *
 * Memory. A batch's records point into the hiredis replies, which are kept
 * until the batch is committed; the record, output and argument arrays and
 * the commit (formatted here in the Redis protocol, handed to hiredis in one
 * piece) are reused from batch to batch. hiredis still allocates the reply
 * objects of a read, a few per entry. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scorer.h"
#include "stream_internal.h"

#define DEFAULT_BATCH 512
#define DEFAULT_BLOCK_MS 1000
#define DEFAULT_CLAIM_INTERVAL_MS 5000
#define DEFAULT_CLAIM_IDLE_MS 30000
#define DEFAULT_MAX_DELIVERIES 5
#define DEFAULT_OUT_MAXLEN 1000000
#define DEFAULT_MAX_RECORD (1u << 20)
#define DEFAULT_STATS_MS 10000
#define DEFAULT_FORGET_MS 3600000

/* Trim KEYS[1] below the lowest id any group still needs, then forget the
 * consumers of group ARGV[1] that hold nothing and have been silent for
 * more than ARGV[2] ms (workers that exited or died and were claimed
 * from; a live worker reads at least every few seconds, and one forgotten
 * while it holds nothing loses nothing: its next read recreates it). One
 * script, so that no worker can take an entry between a check and the
 * trim or the deletion. Fields of XINFO come as name, value pairs. */
static const char k_trim_lua[] =
    "local function fields(a) local f = {} for i = 1, #a, 2 do f[a[i]] = a[i + 1] end return f end "
    "local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1]) "
    "if not ok or #groups == 0 then return 0 end "
    "local best_ms, best_seq "
    "for _, g in ipairs(groups) do "
    "  local f = fields(g) "
    "  local id, bump = f['last-delivered-id'], 1 "
    "  if f['pending'] > 0 then id = redis.call('XPENDING', KEYS[1], f['name'])[2]; bump = 0 end "
    "  local ms, seq = string.match(id, '^(%d+)-(%d+)$') "
    "  ms = tonumber(ms); seq = tonumber(seq) + bump "
    "  if not best_ms or ms < best_ms or (ms == best_ms and seq < best_seq) then best_ms = ms; best_seq = seq end "
    "end "
    "local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-%d', best_ms, best_seq)) "
    "if tonumber(ARGV[2]) > 0 then "
    "  local okc, cons = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1]) "
    "  for _, c in ipairs(okc and cons or {}) do "
    "    local f = fields(c) "
    "    if f['pending'] == 0 and f['idle'] > tonumber(ARGV[2]) then "
    "      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name']) end "
    "  end "
    "end "
    "return trimmed";

typedef struct part {
    unsigned index;
    char in[48], out[48], dead[48];
    char cursor[48];            /* XAUTOCLAIM's cursor; "" when this claim pass is done here */
} part;

typedef struct entry {
    size_t part;                /* index into wk.parts */
    const redisReply *id;
    const redisReply *fields;
    long long deliveries;       /* claimed entries: their delivery count (0: unknown) */
    fz_format format;
} entry;

typedef struct wk {
    fz_stream *s;
    fz_engine_slot *slot;
    fz_stream_worker_options o;
    fz_stream_worker_stats *st;
    fz_error *err;
    redisContext *c;
    int down, backoff_ms, ready, claiming;
    part *parts;
    size_t n_parts;
    char consumer[160];
    char count[24], block[24], maxlen[24], idle[24], forget[24];
    const char **rargv;         /* the XREADGROUP command, built once */
    size_t *rlens;
    int rargc;
    /* the batch */
    entry *ents;
    fz_scorer_rec *recs;
    fz_scored *where;
    size_t n, cap;
    redisReply **replies;
    size_t n_replies, cap_replies;
    fz_buf out;                 /* verdict lines and error records */
    fz_buf cmd;                 /* the commit, in the Redis protocol */
    fz_scorer *scorer;
    fz_scan_stats bsc;
    /* XACK and dead-letter arguments */
    const char **argv;
    size_t *lens, cap_argv;
    struct timespec t0;
    int64_t next_claim, next_stats;
} wk;

/* --- small things ------------------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void say(wk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(wk *w, const char *fmt, ...)
{
    if (!w->o.log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->o.log(w->o.ud, msg);
}

static int stopping(const wk *w)
{
    return w->o.should_stop && w->o.should_stop(w->o.ud);
}

static int oom(wk *w)
{
    return fz_error_set(w->err, FZ_ENOMEM, "out of memory");
}

static int grow_argv(wk *w, size_t n)
{
    if (n <= w->cap_argv)
        return 0;
    size_t cap = n * 2;
    const char **a = realloc(w->argv, cap * sizeof *a);
    if (a)
        w->argv = a;
    size_t *l = a ? realloc(w->lens, cap * sizeof *l) : NULL;
    if (l)
        w->lens = l;
    if (!a || !l)
        return oom(w);
    w->cap_argv = cap;
    return 0;
}

static int keep_reply(wk *w, redisReply *r)
{
    if (w->n_replies == w->cap_replies) {
        size_t cap = w->cap_replies ? w->cap_replies * 2 : 16;
        redisReply **p = realloc(w->replies, cap * sizeof *p);
        if (!p) {
            freeReplyObject(r);
            return oom(w);
        }
        w->replies = p;
        w->cap_replies = cap;
    }
    w->replies[w->n_replies++] = r;
    return 0;
}

/* Forget the batch and free the replies it pointed into. */
static void release_batch(wk *w)
{
    for (size_t i = 0; i < w->n_replies; i++)
        freeReplyObject(w->replies[i]);
    w->n_replies = 0;
    w->n = 0;
}

/* --- the connection ---------------------------------------------------------------------------- */

static void went_down(wk *w, const char *why)
{
    if (w->down)
        return;
    w->down = 1;
    w->st->outages++;
    say(w, "Redis is unreachable (%s%s%s); waiting for it, nothing is lost", fz_stream_describe(w->s),
        why ? ": " : "", why ? why : "");
}

static redisContext *conn(wk *w)
{
    if (w->c)
        return w->c;
    w->c = fz_stream_take(w->s);
    if (!w->c) {
        went_down(w, NULL);
        return NULL;
    }
    if (w->down)
        say(w, "Redis is reachable again (%s)", fz_stream_describe(w->s));
    w->down = 0;
    return w->c;
}

/* A command failed: drop the connection (a reply error on it is treated
 * as an outage too: LOADING, MASTERDOWN...). Returns FZ_EIO. */
static int io_fail(wk *w, const redisReply *r)
{
    if (w->c)
        fz_stream_give(w->s, w->c, 1);
    w->c = NULL;
    went_down(w, r && r->type == REDIS_REPLY_ERROR ? r->str : NULL);
    return FZ_EIO;
}

/* Sleep for the backoff, in slices, so that a stop request is seen. */
static void backoff(wk *w)
{
    for (int slept = 0; slept < w->backoff_ms && !stopping(w); slept += 50)
        usleep(50 * 1000);
    w->backoff_ms = w->backoff_ms < 1000 ? w->backoff_ms * 2 : 2000;
}

/* --- setting up ------------------------------------------------------------------------------------ */

/* Create the group on every partition (from the start of the stream);
 * BUSYGROUP means it exists. */
static int create_groups(wk *w)
{
    for (size_t i = 0; i < w->n_parts; i++)
        redisAppendCommand(w->c, "XGROUP CREATE %s %s 0 MKSTREAM", w->parts[i].in, w->o.group);
    int rc = 0;
    for (size_t i = 0; i < w->n_parts; i++) {
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK || !r)
            return io_fail(w, NULL);
        if (r->type == REDIS_REPLY_ERROR && !fz_reply_error_is(r, "BUSYGROUP") && !rc)
            rc = fz_error_set(w->err, FZ_EINVAL, "Redis refused to create the group on %s: %s", w->parts[i].in,
                              r->str);
        freeReplyObject(r);
    }
    return rc;
}

static int build_parts(wk *w, unsigned total)
{
    size_t n = w->o.only ? w->o.n_only : total;
    w->parts = calloc(n ? n : 1, sizeof *w->parts);
    if (!w->parts)
        return oom(w);
    for (size_t i = 0; i < n; i++) {
        unsigned p = w->o.only ? w->o.only[i] : (unsigned)i;
        if (p >= total)
            return fz_error_set(w->err, FZ_EINVAL, "partition %u does not exist: the bus has %u (0 to %u)", p,
                                total, total - 1);
        part *q = &w->parts[i];
        q->index = p;
        fz_stream_key(q->in, sizeof q->in, "in", p);
        fz_stream_key(q->out, sizeof q->out, "verdicts", p);
        fz_stream_key(q->dead, sizeof q->dead, "dead", p);
    }
    w->n_parts = n;
    return n ? 0 : fz_error_set(w->err, FZ_EINVAL, "no partition to read");
}

/* XREADGROUP GROUP g c COUNT k BLOCK ms STREAMS key... >...; COUNT is per
 * stream, so the batch is shared out between the partitions. */
static int build_read(wk *w)
{
    size_t k = (w->o.batch + w->n_parts - 1) / w->n_parts;
    snprintf(w->count, sizeof w->count, "%zu", k ? k : 1);
    snprintf(w->block, sizeof w->block, "%d", w->o.block_ms);
    size_t argc = 9 + 2 * w->n_parts;
    w->rargv = calloc(argc, sizeof *w->rargv);
    w->rlens = calloc(argc, sizeof *w->rlens);
    if (!w->rargv || !w->rlens)
        return oom(w);
    const char *head[] = {"XREADGROUP", "GROUP", w->o.group, w->consumer, "COUNT", w->count, "BLOCK", w->block,
                          "STREAMS"};
    for (size_t i = 0; i < 9; i++)
        w->rargv[i] = head[i];
    for (size_t i = 0; i < w->n_parts; i++) {
        w->rargv[9 + i] = w->parts[i].in;
        w->rargv[9 + w->n_parts + i] = ">";
    }
    for (size_t i = 0; i < argc; i++)
        w->rlens[i] = strlen(w->rargv[i]);
    w->rargc = (int)argc;
    return 0;
}

/* Once connected: the partition count (recording the default when none
 * is), the partitions to read, the groups. */
static int setup(wk *w)
{
    unsigned total = 0;
    int broken = 0;
    if (fz_stream_partitions_on(w->c, 0, &total, &broken) ||
        (!total && fz_stream_partitions_on(w->c, FZ_STREAM_DEFAULT_PARTITIONS, &total, &broken)))
        return io_fail(w, NULL);
    if (!total)
        return fz_error_set(w->err, FZ_EINVAL, FZ_STREAM_KEY_PARTITIONS " holds something that is not a count");
    int rc = w->parts ? 0 : build_parts(w, total);
    if (!rc && !w->rargv)
        rc = build_read(w);
    if (!rc)
        rc = create_groups(w);
    w->ready = rc == 0;
    return rc;
}

/* An error reply: NOGROUP means Redis lost the group (restarted without
 * its data, or flushed): make it again. Anything else is an outage. */
static int on_error_reply(wk *w, const redisReply *r)
{
    if (fz_reply_error_is(r, "NOGROUP")) {
        say(w, "the consumer group was gone (Redis restarted without its data?): created it again");
        return create_groups(w);
    }
    return io_fail(w, r);
}

/* --- the batch --------------------------------------------------------------------------------- */

static int add_entry(wk *w, size_t pi, const redisReply *e, long long deliveries)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        entry *a = realloc(w->ents, cap * sizeof *a);
        if (a)
            w->ents = a;
        fz_scorer_rec *r = a ? realloc(w->recs, cap * sizeof *r) : NULL;
        if (r)
            w->recs = r;
        fz_scored *s = r ? realloc(w->where, cap * sizeof *s) : NULL;
        if (s)
            w->where = s;
        if (!s)
            return oom(w);
        w->cap = cap;
    }
    w->ents[w->n++] = (entry){pi, e->element[0], e->element[1], deliveries, FZ_FORMAT_JSONL};
    return 0;
}

/* An entry of an XREADGROUP / XAUTOCLAIM reply: [id, [field, value...]]. */
static int is_entry(const redisReply *e)
{
    return e && e->type == REDIS_REPLY_ARRAY && e->elements == 2 && e->element[0]->type == REDIS_REPLY_STRING &&
           e->element[1]->type == REDIS_REPLY_ARRAY;
}

/* The record of entry e: field m (JSON) or c (CSV), and n (line). */
static void describe(wk *w, entry *e, fz_scorer_rec *r)
{
    *r = (fz_scorer_rec){NULL, 0, 0, NULL};
    const redisReply *f = e->fields;
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
        const redisReply *name = f->element[k], *v = f->element[k + 1];
        if (name->len != 1 || v->type != REDIS_REPLY_STRING)
            continue;
        if (name->str[0] == 'm' || name->str[0] == 'c') {
            r->data = v->str;
            r->len = v->len;
            e->format = name->str[0] == 'c' ? FZ_FORMAT_CSV : FZ_FORMAT_JSONL;
        } else if (name->str[0] == 'n') {
            r->line = strtoull(v->str, NULL, 10);
        }
    }
    if (!r->data)
        r->error = "the stream entry has no field m (a JSON record) or c (a CSV record)";
    else if (r->len > w->o.max_record)
        r->error = "record too long (see --max-record)";
}

/* Score the batch: runs of records of one format, each in one go. */
static int score(wk *w)
{
    fz_buf_clear(&w->out);
    memset(&w->bsc, 0, sizeof w->bsc);
    for (size_t i = 0; i < w->n; i++)
        describe(w, &w->ents[i], &w->recs[i]);
    fz_engine *e = fz_engine_slot_acquire(w->slot);
    int rc = 0;
    for (size_t i = 0, j; i < w->n && !rc; i = j) {
        for (j = i + 1; j < w->n && w->ents[j].format == w->ents[i].format; j++)
            ;
        fz_scorer_job job = {e, w->ents[i].format, w->o.store, w->o.outbox, &w->out, &w->out, w->where + i};
        rc = fz_scorer_run(w->scorer, &job, w->recs + i, j - i, &w->bsc);
    }
    fz_engine_release(e);
    w->st->warnings_queued += w->bsc.warnings_queued;
    w->st->warnings_duplicate += w->bsc.warnings_duplicate;
    w->st->warnings_limited += w->bsc.warnings_limited;
    w->st->warnings_failed += w->bsc.warnings_failed;
    return rc ? fz_error_set(w->err, rc, "scoring failed: %s", fz_strerror(rc)) : 0;
}

/* The end of the run of entries of one partition starting at i. */
static size_t run_end(const wk *w, size_t i)
{
    size_t j = i + 1;
    while (j < w->n && w->ents[j].part == w->ents[i].part)
        j++;
    return j;
}

/* Append one command to b in the Redis protocol. The commit is formatted
 * here, into a buffer reused from batch to batch, and handed to hiredis in
 * one piece: no allocation per message. */
static int resp(fz_buf *b, size_t argc, const char *const *argv, const size_t *lens)
{
    char head[32];
    int rc = fz_buf_append(b, head, (size_t)snprintf(head, sizeof head, "*%zu\r\n", argc));
    for (size_t i = 0; i < argc && !rc; i++)
        rc = fz_buf_append(b, head, (size_t)snprintf(head, sizeof head, "$%zu\r\n", lens[i])) ||
             fz_buf_append(b, argv[i], lens[i]) || fz_buf_lit(b, "\r\n");
    return rc ? FZ_ENOMEM : 0;
}

/* MULTI, XADD each verdict, XACK them all, EXEC: for entries [i, j). */
static int format_commit(wk *w, size_t i, size_t j)
{
    const part *p = &w->parts[w->ents[i].part];
    int trim = w->o.out_maxlen > 0, rc = fz_buf_lit(&w->cmd, "*1\r\n$5\r\nMULTI\r\n");
    for (size_t k = i; k < j && !rc; k++) {
        const fz_scored *s = &w->where[k];
        const char *argv[] = {"XADD", p->out, "MAXLEN", "~", w->maxlen, "*", "src", w->ents[k].id->str,
                              s->is_error ? "e" : "v", w->out.data + s->off};
        size_t lens[] = {4, strlen(p->out), 6, 1, strlen(w->maxlen), 1, 3, w->ents[k].id->len, 1, s->len - 1};
        if (!trim) {
            memmove(argv + 2, argv + 5, 5 * sizeof *argv);
            memmove(lens + 2, lens + 5, 5 * sizeof *lens);
        }
        rc = resp(&w->cmd, trim ? 10 : 7, argv, lens);
    }
    if (rc || grow_argv(w, 3 + (j - i)))
        return FZ_ENOMEM;
    w->argv[0] = "XACK", w->lens[0] = 4;
    w->argv[1] = p->in, w->lens[1] = strlen(p->in);
    w->argv[2] = w->o.group, w->lens[2] = strlen(w->o.group);
    for (size_t k = i; k < j; k++)
        w->argv[3 + k - i] = w->ents[k].id->str, w->lens[3 + k - i] = w->ents[k].id->len;
    rc = resp(&w->cmd, 3 + j - i, w->argv, w->lens);
    return rc || fz_buf_lit(&w->cmd, "*1\r\n$4\r\nEXEC\r\n") ? FZ_ENOMEM : 0;
}

/* Read one transaction's replies (MULTI, `queued` commands, EXEC). 0, FZ_EIO
 * (connection), FZ_EAGAIN (Redis refused it: nothing was applied), or 1
 * when the group was missing (the verdicts went in; the acknowledgements
 * had nothing to apply to). The first error Redis gave goes to why. */
static int read_transaction(wk *w, size_t queued, char *why, size_t cap)
{
    int rc = 0;
    for (size_t k = 0; k < queued + 2; k++) {
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK || !r)
            return FZ_EIO;
        const redisReply *bad = r->type == REDIS_REPLY_ERROR ? r : NULL;
        if (k == queued + 1) {
            if (r->type != REDIS_REPLY_ARRAY)
                rc = FZ_EAGAIN;
            for (size_t e = 0; r->type == REDIS_REPLY_ARRAY && e < r->elements; e++) {
                if (fz_reply_error_is(r->element[e], "NOGROUP"))
                    rc = 1;
                else if (r->element[e]->type == REDIS_REPLY_ERROR)
                    bad = r->element[e];
            }
        }
        if (bad && !why[0])
            snprintf(why, cap, "%s", bad->str);
        freeReplyObject(r);
    }
    return rc;
}

/* Write the batch's verdicts and acknowledge its entries: one MULTI per
 * partition, all pipelined. */
static int commit_once(wk *w, char *why, size_t cap)
{
    fz_buf_clear(&w->cmd);
    for (size_t i = 0, j; i < w->n; i = j) {
        j = run_end(w, i);
        if (format_commit(w, i, j))
            return FZ_ENOMEM;
    }
    if (redisAppendFormattedCommand(w->c, w->cmd.data, w->cmd.len) != REDIS_OK)
        return FZ_ENOMEM;
    int rc = 0, lost_group = 0;
    for (size_t i = 0, j; i < w->n; i = j) {
        j = run_end(w, i);
        int r = read_transaction(w, j - i + 1, why, cap);
        if (r == FZ_EIO)
            return FZ_EIO;
        lost_group |= r == 1;
        if (r < 0 && !rc)
            rc = r;
    }
    if (lost_group) {
        say(w, "the consumer group was gone (Redis restarted without its data?): created it again");
        int g = create_groups(w);
        if (g)
            return g;
    }
    return rc;
}

static void count_committed(wk *w)
{
    w->st->read += w->bsc.read;
    w->st->verdicts += w->bsc.verdicts;
    w->st->errors += w->bsc.errors;
    for (int a = 0; a < 3; a++)
        w->st->by_action[a] += w->bsc.by_action[a];
    w->st->batches++;
    w->backoff_ms = 50;
}

/* Commit, again after reconnecting when the connection broke (the batch is
 * not scored again); a stop request during an outage gives up, leaving the
 * entries pending for whoever claims them. */
static int commit(wk *w)
{
    for (;;) {
        char why[256] = "";
        int rc = commit_once(w, why, sizeof why);
        if (rc == 0 && why[0])
            say(w, "Redis refused part of a batch's commit (%s)", why);
        if (rc == 0) {
            count_committed(w);
            return 0;
        }
        if (rc == FZ_EAGAIN) {
            say(w, "Redis refused a batch's verdicts (%s); its entries stay pending and will be claimed again",
                why[0] ? why : "transaction aborted");
            return 0;
        }
        if (rc != FZ_EIO)
            return rc;
        io_fail(w, NULL);
        while (!stopping(w) && !conn(w))
            backoff(w);
        if (!w->c)
            return FZ_EIO;
    }
}

/* Score and commit the batch, then forget it. */
static int process(wk *w)
{
    int rc = w->n ? score(w) : 0;
    if (!rc && w->n)
        rc = commit(w);
    release_batch(w);
    return rc;
}

/* --- reading new entries ----------------------------------------------------------------------- */

static long part_of_key(const wk *w, const redisReply *key)
{
    for (size_t i = 0; i < w->n_parts; i++)
        if (key->type == REDIS_REPLY_STRING && strcmp(key->str, w->parts[i].in) == 0)
            return (long)i;
    return -1;
}

/* XREADGROUP: [[key, [entry...]]...], or nil after BLOCK without news. */
static int read_new(wk *w, size_t *got)
{
    *got = 0;
    redisReply *r = redisCommandArgv(w->c, w->rargc, w->rargv, w->rlens);
    if (!r)
        return io_fail(w, NULL);
    if (r->type == REDIS_REPLY_ERROR) {
        int rc = on_error_reply(w, r);
        freeReplyObject(r);
        return rc;
    }
    int rc = keep_reply(w, r);
    for (size_t s = 0; !rc && r->type == REDIS_REPLY_ARRAY && s < r->elements; s++) {
        const redisReply *sr = r->element[s];
        long p = sr->type == REDIS_REPLY_ARRAY && sr->elements == 2 ? part_of_key(w, sr->element[0]) : -1;
        for (size_t e = 0; p >= 0 && !rc && e < sr->element[1]->elements; e++)
            if (is_entry(sr->element[1]->element[e]))
                rc = add_entry(w, (size_t)p, sr->element[1]->element[e], 0);
    }
    *got = w->n;
    if (rc) {
        release_batch(w);
        return rc;
    }
    w->backoff_ms = 50;
    return process(w);
}

/* --- claiming from dead workers ------------------------------------------------------------------- */

/* XAUTOCLAIM reply: [cursor, [entry...], [deleted id...]]. Older servers
 * give [id, nil] for an entry deleted while pending: acknowledged here. */
static int take_claimed(wk *w, size_t p, redisReply *r, int *acks)
{
    part *q = &w->parts[p];
    const redisReply *next = r->element[0], *ents = r->element[1];
    int more = next->type == REDIS_REPLY_STRING && strcmp(next->str, "0-0") != 0;
    snprintf(q->cursor, sizeof q->cursor, "%s", more ? next->str : "");
    int rc = keep_reply(w, r);
    for (size_t e = 0; !rc && ents->type == REDIS_REPLY_ARRAY && e < ents->elements; e++) {
        const redisReply *x = ents->element[e];
        if (is_entry(x)) {
            rc = add_entry(w, p, x, 0);
        } else if (x->type == REDIS_REPLY_ARRAY && x->elements == 2 && x->element[0]->type == REDIS_REPLY_STRING) {
            redisAppendCommand(w->c, "XACK %s %s %b", q->in, w->o.group, x->element[0]->str, x->element[0]->len);
            (*acks)++;
        }
    }
    return rc;
}

static int claim_entries(wk *w, int *acks)
{
    size_t asked = 0;
    for (size_t i = 0; i < w->n_parts; i++)
        if (w->parts[i].cursor[0]) {
            redisAppendCommand(w->c, "XAUTOCLAIM %s %s %s %s %s COUNT %s", w->parts[i].in, w->o.group, w->consumer,
                               w->idle, w->parts[i].cursor, w->count);
            asked++;
        }
    int rc = 0, nogroup = 0;
    for (size_t i = 0; i < w->n_parts && asked; i++) {
        if (!w->parts[i].cursor[0])
            continue;
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK || !r)
            return io_fail(w, NULL);
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && !rc)
            rc = take_claimed(w, i, r, acks);
        else {
            nogroup |= fz_reply_error_is(r, "NOGROUP");
            w->parts[i].cursor[0] = '\0';
            freeReplyObject(r);
        }
    }
    if (!rc && nogroup) {
        say(w, "the consumer group was gone (Redis restarted without its data?): created it again");
        rc = create_groups(w);
    }
    return rc;
}

/* Fill in the delivery counts of the claimed entries of partition run
 * [i, j) from an XPENDING reply: [[id, consumer, idle, deliveries]...],
 * both in id order. */
static void set_deliveries(wk *w, size_t i, size_t j, const redisReply *r)
{
    size_t at = 0;
    for (size_t k = i; k < j && r->type == REDIS_REPLY_ARRAY; k++) {
        for (size_t x = at; x < r->elements; x++) {
            const redisReply *pe = r->element[x];
            if (pe->type == REDIS_REPLY_ARRAY && pe->elements == 4 &&
                strcmp(pe->element[0]->str, w->ents[k].id->str) == 0) {
                w->ents[k].deliveries = pe->element[3]->integer;
                at = x + 1;
                break;
            }
        }
    }
}

static int delivery_counts(wk *w)
{
    for (size_t i = 0, j; i < w->n; i = j) {
        j = run_end(w, i);
        char count[24];
        snprintf(count, sizeof count, "%zu", j - i + 64);   /* hiredis formats no %zu */
        redisAppendCommand(w->c, "XPENDING %s %s %s %s %s %s", w->parts[w->ents[i].part].in, w->o.group,
                           w->ents[i].id->str, w->ents[j - 1].id->str, count, w->consumer);
    }
    for (size_t i = 0, j; i < w->n; i = j) {
        j = run_end(w, i);
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK || !r)
            return io_fail(w, NULL);
        set_deliveries(w, i, j, r);
        freeReplyObject(r);
    }
    return 0;
}

/* MULTI, XADD the entry's fields + src, deliveries, reason to the dead
 * letters, XACK, EXEC. */
static int append_dead(wk *w, const entry *e)
{
    const part *p = &w->parts[e->part];
    size_t nf = e->fields->elements & ~(size_t)1;
    if (grow_argv(w, 3 + nf + 6))
        return FZ_ENOMEM;
    /* hiredis copies the arguments into its output buffer at once */
    char deliveries[24], reason[96];
    snprintf(deliveries, sizeof deliveries, "%lld", e->deliveries);
    snprintf(reason, sizeof reason, "delivered %lld times (more than %u) without being acknowledged", e->deliveries,
             w->o.max_deliveries);
    size_t a = 0;
#define PUT(s, l) (w->argv[a] = (s), w->lens[a++] = (l))
    PUT("XADD", 4);
    PUT(p->dead, strlen(p->dead));
    PUT("*", 1);
    for (size_t k = 0; k < nf; k++)
        PUT(e->fields->element[k]->str, e->fields->element[k]->len);
    PUT("src", 3);
    PUT(e->id->str, e->id->len);
    PUT("deliveries", 10);
    PUT(deliveries, strlen(deliveries));
    PUT("reason", 6);
    PUT(reason, strlen(reason));
#undef PUT
    redisAppendCommand(w->c, "MULTI");
    redisAppendCommandArgv(w->c, (int)a, w->argv, w->lens);
    redisAppendCommand(w->c, "XACK %s %s %b", p->in, w->o.group, e->id->str, e->id->len);
    redisAppendCommand(w->c, "EXEC");
    return 0;
}

/* Move entries delivered too often to the dead letters; keep the rest in
 * the batch. */
static int bury(wk *w)
{
    size_t dead = 0, kept = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->ents[i].deliveries > (long long)w->o.max_deliveries) {
            if (append_dead(w, &w->ents[i]))
                return FZ_ENOMEM;
            dead++;
        } else {
            w->ents[kept++] = w->ents[i];
        }
    }
    char why[256] = "";
    for (size_t d = 0; d < dead; d++) {
        int r = read_transaction(w, 2, why, sizeof why);
        if (r == FZ_EIO)
            return io_fail(w, NULL);
        if (r == 0)
            w->st->dead++;
    }
    if (why[0])
        say(w, "Redis refused a dead letter (%s); it stays pending", why);
    w->n = kept;
    return 0;
}

static int read_acks(wk *w, int acks)
{
    for (int i = 0; i < acks; i++) {
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK || !r)
            return io_fail(w, NULL);
        freeReplyObject(r);
    }
    return 0;
}

/* Trim every partition below what the groups still need (k_trim_lua). */
static int trim(wk *w)
{
    for (size_t i = 0; i < w->n_parts; i++)
        redisAppendCommand(w->c, "EVAL %s 1 %s %s %s", k_trim_lua, w->parts[i].in, w->o.group, w->forget);
    for (size_t i = 0; i < w->n_parts; i++) {
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK || !r)
            return io_fail(w, NULL);
        if (r->type == REDIS_REPLY_ERROR && i == 0)
            say(w, "trimming the input failed: %s", r->str);
        freeReplyObject(r);
    }
    return 0;
}

/* One step of a claim pass: a batch from every partition whose cursor is
 * not done; at the end of the pass, trim. */
static int claim_step(wk *w)
{
    if (!w->claiming) {
        for (size_t i = 0; i < w->n_parts; i++)
            snprintf(w->parts[i].cursor, sizeof w->parts[i].cursor, "0-0");
        w->claiming = 1;
    }
    int acks = 0;
    int rc = claim_entries(w, &acks);
    if (!rc)
        rc = read_acks(w, acks);
    size_t claimed = w->n;
    if (!rc && w->n)
        rc = delivery_counts(w);
    if (!rc && w->n)
        rc = bury(w);
    if (!rc) {
        w->st->claimed += claimed;
        rc = process(w);
    }
    release_batch(w);
    if (rc)
        return rc;
    int done = 1;
    for (size_t i = 0; i < w->n_parts; i++)
        done &= !w->parts[i].cursor[0];
    if (!done)
        return 0;
    w->claiming = 0;
    w->next_claim = now_ms() + w->o.claim_interval_ms;
    return trim(w);
}

/* --- draining ------------------------------------------------------------------------------------- */

/* 1 in *idle when no entry is pending in the group on our partitions. */
static int drained(wk *w, int *idle)
{
    *idle = 1;
    for (size_t i = 0; i < w->n_parts; i++)
        redisAppendCommand(w->c, "XPENDING %s %s", w->parts[i].in, w->o.group);
    for (size_t i = 0; i < w->n_parts; i++) {
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK || !r)
            return io_fail(w, NULL);
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || fz_reply_int(r->element[0]) != 0)
            *idle = 0;
        freeReplyObject(r);
    }
    return 0;
}

/* --- the loop ------------------------------------------------------------------------------------- */

static double since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void report(wk *w, int final)
{
    w->st->seconds = since(&w->t0);
    if (w->o.stats)
        w->o.stats(w->o.ud, w->st, final);
}

static void defaults(fz_stream_worker_options *o)
{
    o->group = o->group && *o->group ? o->group : FZ_STREAM_DEFAULT_GROUP;
    o->batch = o->batch ? o->batch : DEFAULT_BATCH;
    o->block_ms = o->block_ms > 0 ? o->block_ms : DEFAULT_BLOCK_MS;
    if (o->block_ms > FZ_STREAM_MAX_BLOCK_MS)
        o->block_ms = FZ_STREAM_MAX_BLOCK_MS;
    o->claim_interval_ms = o->claim_interval_ms > 0 ? o->claim_interval_ms : DEFAULT_CLAIM_INTERVAL_MS;
    o->claim_idle_ms = o->claim_idle_ms > 0 ? o->claim_idle_ms : DEFAULT_CLAIM_IDLE_MS;
    o->max_deliveries = o->max_deliveries ? o->max_deliveries : DEFAULT_MAX_DELIVERIES;
    o->out_maxlen = o->out_maxlen ? o->out_maxlen : DEFAULT_OUT_MAXLEN;
    o->max_record = o->max_record ? o->max_record : DEFAULT_MAX_RECORD;
    o->stats_interval_ms = o->stats_interval_ms > 0 ? o->stats_interval_ms : DEFAULT_STATS_MS;
    o->forget_idle_ms = o->forget_idle_ms ? o->forget_idle_ms : DEFAULT_FORGET_MS;
}

static int init(wk *w, fz_stream *s, fz_engine_slot *slot, const fz_stream_worker_options *o,
                fz_stream_worker_stats *st, fz_error *err)
{
    memset(w, 0, sizeof *w);
    memset(st, 0, sizeof *st);
    w->s = s, w->slot = slot, w->o = *o, w->st = st, w->err = err;
    defaults(&w->o);
    w->backoff_ms = 50;
    if (o->consumer && *o->consumer) {
        snprintf(w->consumer, sizeof w->consumer, "%s", o->consumer);
    } else {
        char host[128] = "worker";
        gethostname(host, sizeof host - 1);
        snprintf(w->consumer, sizeof w->consumer, "%s-%ld", host, (long)getpid());
    }
    snprintf(w->maxlen, sizeof w->maxlen, "%lld", w->o.out_maxlen);
    snprintf(w->idle, sizeof w->idle, "%d", w->o.claim_idle_ms);
    snprintf(w->forget, sizeof w->forget, "%lld", w->o.forget_idle_ms > 0 ? w->o.forget_idle_ms : 0);
    clock_gettime(CLOCK_MONOTONIC, &w->t0);
    w->next_stats = now_ms() + w->o.stats_interval_ms;
    w->scorer = fz_scorer_new();
    return w->scorer ? 0 : oom(w);
}

static void cleanup(wk *w)
{
    release_batch(w);
    if (w->c)
        fz_stream_give(w->s, w->c, 0);
    fz_scorer_free(w->scorer);
    fz_buf_free(&w->out);
    fz_buf_free(&w->cmd);
    free(w->ents), free(w->recs), free(w->where), free(w->replies);
    free(w->argv), free(w->lens), free(w->rargv), free(w->rlens);
    free(w->parts);
}

/* One turn: claim when due, read and process new entries. */
static int turn(wk *w, int *done)
{
    int rc = 0;
    if (!w->ready && (rc = setup(w)))
        return rc;
    if (w->claiming || now_ms() >= w->next_claim)
        rc = claim_step(w);
    size_t got = 0;
    if (!rc)
        rc = read_new(w, &got);
    if (!rc && w->o.drain && got == 0 && !w->claiming)
        rc = drained(w, done);
    return rc;
}

int fz_stream_work(fz_stream *s, fz_engine_slot *slot, const fz_stream_worker_options *o,
                   fz_stream_worker_stats *st, fz_error *err)
{
    wk w;
    int rc = init(&w, s, slot, o, st, err), done = 0;
    while (!rc && !done && !stopping(&w)) {
        if (now_ms() >= w.next_stats) {
            report(&w, 0);
            w.next_stats = now_ms() + w.o.stats_interval_ms;
        }
        if (!conn(&w)) {
            backoff(&w);
            continue;
        }
        rc = turn(&w, &done);
        if (rc == FZ_EIO) {
            rc = 0;
            backoff(&w);
        }
    }
    /* A drained bus (or a stopped worker) leaves acknowledged input behind:
     * trim it now rather than at some later worker's claim pass. */
    if (!rc && w.ready && w.c)
        trim(&w);
    report(&w, 1);
    cleanup(&w);
    return rc;
}
