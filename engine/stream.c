/* stream.c — the bus's keys, feeding it, and what it holds (fanzha/stream.h);
 * the consumer loop is in stream_worker.c.
 *
 * Partitions. A record's partition is XXH3-64 of its recipient's canonical
 * digits (numbers.c: +86 138..., 0086 138... and 138... are one recipient)
 * mod N; a recipient that is not a number goes by its digits, a record
 * without one (or that cannot be read) by the hash of its bytes. N is kept
 * in Redis (fz:in:partitions), written once with SET NX, so that every
 * producer and worker agrees on it; a producer that asks for another N is
 * refused rather than silently moving recipients between partitions.
 *
 * Pushing reads records (JSON Lines; CSV records may span lines inside
 * quotes, which quote parity tells), appends one XADD per record to the
 * pipeline and reads the replies every `batch` records: one round trip per
 * batch, never one per message. When the input pauses (a live feed piped
 * in), what is pipelined goes at once instead of waiting for a full batch.
 * Input streams are never trimmed here: only workers trim them, below what
 * their group still needs.
 *
 * The bus handle is a Redis store (store_redis.c) used for its connection
 * pool, URL parsing, authentication and reconnect backoff, with a longer
 * command timeout than scoring state uses, since workers block on reads. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "engine_internal.h"
#include "stream_internal.h"

#define DEFAULT_MAX_RECORD (1u << 20)
#define DEFAULT_PUSH_BATCH 1000

/* --- the handle and keys ------------------------------------------------------------------------ */

int fz_stream_open(const char *url, fz_stream **out, fz_error *err)
{
    *out = NULL;
    if (!url || strncmp(url, "redis://", 8) != 0)
        return fz_error_set(err, FZ_EINVAL, "the bus is Redis: a redis:// URL is needed");
    fz_stream *s = calloc(1, sizeof *s);
    if (!s)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    fz_store_options o = {url, NULL, FZ_STREAM_TIMEOUT_MS, 0, NULL};
    int rc = fz_store_open(&o, &s->bus, err);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void fz_stream_close(fz_stream *s)
{
    if (!s)
        return;
    fz_store_close(s->bus);
    free(s);
}

const char *fz_stream_describe(const fz_stream *s)
{
    return fz_store_describe(s->bus);
}

void fz_stream_key(char *out, size_t cap, const char *kind, unsigned p)
{
    if (strcmp(kind, "dead") == 0)
        snprintf(out, cap, "fz:in:dead:{p%u}", p);
    else
        snprintf(out, cap, "fz:%s:{p%u}", kind, p);
}

long long fz_reply_int(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return strtoll(r->str, NULL, 10);
    return 0;
}

int fz_reply_error_is(const redisReply *r, const char *prefix)
{
    return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, prefix, strlen(prefix)) == 0;
}

static int unreachable(fz_stream *s, fz_error *err)
{
    return fz_error_set(err, FZ_EIO, "Redis is not reachable (%s)", fz_stream_describe(s));
}

/* --- the partition count ----------------------------------------------------------------------- */

int fz_stream_partitions_on(redisContext *c, unsigned want, unsigned *n, int *broken)
{
    *n = 0;
    if (want) {
        redisReply *r = redisCommand(c, "SET " FZ_STREAM_KEY_PARTITIONS " %u NX", want);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        *broken = !r;
        freeReplyObject(r);
        if (!ok)
            return FZ_EIO;
    }
    redisReply *r = redisCommand(c, "GET " FZ_STREAM_KEY_PARTITIONS);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        *broken = !r;
        freeReplyObject(r);
        return FZ_EIO;
    }
    long long v = r->type == REDIS_REPLY_STRING ? fz_reply_int(r) : 0;
    freeReplyObject(r);
    *n = v > 0 && v <= FZ_STREAM_MAX_PARTITIONS ? (unsigned)v : 0;
    return 0;
}

static int partitions(fz_stream *s, unsigned want, unsigned *n, fz_error *err)
{
    redisContext *c = fz_stream_take(s);
    if (!c)
        return unreachable(s, err);
    int broken = 0;
    int rc = fz_stream_partitions_on(c, want, n, &broken);
    fz_stream_give(s, c, broken);
    if (rc)
        return fz_error_set(err, FZ_EIO, "Redis: reading " FZ_STREAM_KEY_PARTITIONS " failed");
    return 0;
}

int fz_stream_partitions(fz_stream *s, unsigned *n, fz_error *err)
{
    return partitions(s, 0, n, err);
}

int fz_stream_set_partitions(fz_stream *s, unsigned n, unsigned *recorded, fz_error *err)
{
    if (n == 0 || n > FZ_STREAM_MAX_PARTITIONS)
        return fz_error_set(err, FZ_EINVAL, "the partition count is between 1 and %d", FZ_STREAM_MAX_PARTITIONS);
    int rc = partitions(s, n, recorded, err);
    if (rc)
        return rc;
    if (*recorded == 0)
        return fz_error_set(err, FZ_EIO, FZ_STREAM_KEY_PARTITIONS " holds something that is not a count");
    if (*recorded != n)
        return fz_error_set(err, FZ_EINVAL,
                            "the bus has %u partitions (" FZ_STREAM_KEY_PARTITIONS "), not %u: changing the count "
                            "would move recipients between partitions",
                            *recorded, n);
    return 0;
}

/* --- which partition ----------------------------------------------------------------------------- */

static uint64_t recipient_hash(const fz_message *m, const char *rec, size_t len)
{
    fz_number num;
    if (m && m->to.len && fz_number_canon(m->to.ptr, m->to.len, &num) == 0)
        return XXH3_64bits(num.digits, num.len);
    char d[64];
    size_t k = 0;
    for (size_t i = 0; m && i < m->to.len && k < sizeof d; i++)
        if (m->to.ptr[i] >= '0' && m->to.ptr[i] <= '9')
            d[k++] = m->to.ptr[i];
    return k ? XXH3_64bits(d, k) : XXH3_64bits(rec, len);
}

static unsigned partition_of(fz_reader *r, fz_format f, const char *rec, size_t len, unsigned n)
{
    fz_message m;
    fz_error err;
    int rc = f == FZ_FORMAT_CSV ? fz_reader_parse_csv(r, rec, len, &m, &err)
                                : fz_reader_parse_json(r, rec, len, &m, &err);
    return (unsigned)(recipient_hash(rc == 0 ? &m : NULL, rec, len) % n);
}

/* --- pushing ------------------------------------------------------------------------------------ */

typedef struct pusher {
    fz_stream *s;
    const fz_stream_push_options *o;
    fz_stream_push_stats *st;
    redisContext *c;
    fz_reader *reader;
    char (*keys)[48];
    unsigned *queued_part;      /* the partition of each XADD in the pipeline */
    size_t queued, batch;
    int broken;
    fz_error *err;
} pusher;

/* Read the replies of the pipeline. */
static int flush(pusher *p)
{
    int rc = 0;
    for (size_t i = 0; i < p->queued; i++) {
        redisReply *r = NULL;
        if (redisGetReply(p->c, (void **)&r) != REDIS_OK || !r) {
            p->broken = 1;
            p->queued = 0;
            return fz_error_set(p->err, FZ_EIO, "Redis: the connection failed while pushing (%s)",
                                fz_stream_describe(p->s));
        }
        if (r->type == REDIS_REPLY_ERROR && !rc)
            rc = fz_error_set(p->err, FZ_EIO, "Redis refused an entry: %s", r->str);
        else if (r->type != REDIS_REPLY_ERROR) {
            p->st->pushed++;
            p->st->per_partition[p->queued_part[i]]++;
        }
        freeReplyObject(r);
    }
    p->queued = 0;
    return rc;
}

static int push_one(pusher *p, const char *rec, size_t len, uint64_t line)
{
    if (len > p->o->max_record) {
        p->st->refused++;
        if (p->o->refused) {
            char why[96];
            snprintf(why, sizeof why, "record too long: more than %zu bytes (see --max-record)", p->o->max_record);
            p->o->refused(p->o->ud, line, why);
        }
        return 0;
    }
    unsigned part = partition_of(p->reader, p->o->format, rec, len, p->st->partitions);
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)line);
    const char *argv[] = {"XADD", p->keys[part], "*", p->o->format == FZ_FORMAT_CSV ? "c" : "m", rec, "n", num};
    size_t lens[] = {4, strlen(p->keys[part]), 1, 1, len, 1, strlen(num)};
    if (redisAppendCommandArgv(p->c, 7, argv, lens) != REDIS_OK) {
        p->broken = 1;
        return fz_error_set(p->err, FZ_ENOMEM, "out of memory");
    }
    p->queued_part[p->queued++] = part;
    return p->queued == p->batch ? flush(p) : 0;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

static size_t count_quotes(const char *s, size_t n)
{
    size_t q = 0;
    for (const char *e = s + n; (s = memchr(s, '"', (size_t)(e - s))) != NULL; s++)
        q++;
    return q;
}

/* Push one complete record (without its newline): blank lines and a CSV
 * header are not records. */
static int emit(pusher *p, const char *rec, size_t len, uint64_t line, int *header_checked)
{
    while (len && rec[len - 1] == '\r')
        len--;
    if (is_blank(rec, len))
        return 0;
    int header = p->o->format == FZ_FORMAT_CSV && !*header_checked && fz_csv_is_header(rec, len);
    *header_checked = 1;
    return header ? 0 : push_one(p, rec, len, line);
}

/* Input that would make read() wait: a producer piping a live feed has
 * paused, so what is in the pipeline goes now rather than when the batch
 * is full. */
static int input_idle(int fd)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    return poll(&pfd, 1, 0) == 0;
}

/* Where the reader is in its buffer. A record is a line or, for CSV, as
 * many lines as it takes to close every quote (quote parity). */
typedef struct splitter {
    fz_buf b;
    size_t start, scan;         /* the record being read starts at start; b is searched up to scan */
    int odd;                    /* CSV: an odd number of quotes since start */
    int skipping;               /* the record is too long: dropped up to its end */
    int header_checked;
    uint64_t line, rec_line;    /* line number at scan, and at start */
} splitter;

/* Push every complete record in the buffer; keep the partial one. */
static int split(pusher *p, splitter *sp)
{
    int rc = 0, csv = p->o->format == FZ_FORMAT_CSV;
    while (!rc) {
        char *nl = memchr(sp->b.data + sp->scan, '\n', sp->b.len - sp->scan);
        size_t end = nl ? (size_t)(nl - sp->b.data) : sp->b.len;
        if (csv)
            sp->odd ^= (int)(count_quotes(sp->b.data + sp->scan, end - sp->scan) & 1);
        sp->scan = nl ? end + 1 : end;
        if (!nl)
            break;
        sp->line++;
        if (csv && sp->odd)
            continue;                       /* a newline inside a quoted field */
        if (!sp->skipping)
            rc = emit(p, sp->b.data + sp->start, end - sp->start, sp->rec_line, &sp->header_checked);
        sp->skipping = 0;
        sp->start = sp->scan;
        sp->rec_line = sp->line;
    }
    if (!rc && !sp->skipping && sp->b.len - sp->start > p->o->max_record) {
        rc = push_one(p, sp->b.data + sp->start, sp->b.len - sp->start, sp->rec_line);     /* refused */
        sp->skipping = 1;
    }
    if (sp->skipping)
        sp->b.len = sp->scan = sp->start;   /* keep nothing of it */
    memmove(sp->b.data, sp->b.data + sp->start, sp->b.len - sp->start);
    sp->b.len -= sp->start;
    sp->scan -= sp->start;
    sp->start = 0;
    return rc;
}

static int push_records(pusher *p, int fd)
{
    splitter sp = {FZ_BUF_INIT, 0, 0, 0, 0, 0, 1, 1};
    int rc = 0;
    for (;;) {
        if (p->queued && input_idle(fd) && (rc = flush(p)))
            break;
        if (fz_buf_reserve(&sp.b, 64 * 1024)) {
            rc = fz_error_set(p->err, FZ_ENOMEM, "out of memory");
            break;
        }
        ssize_t got = read(fd, sp.b.data + sp.b.len, 64 * 1024);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            rc = fz_error_set(p->err, FZ_EIO, "reading the input: %s", strerror(errno));
        if (got <= 0)
            break;
        sp.b.len += (size_t)got;
        if ((rc = split(p, &sp)))
            break;
    }
    /* The last record may lack its newline (or close its quote). */
    if (!rc && !sp.skipping && sp.b.len)
        rc = emit(p, sp.b.data, sp.b.len, sp.rec_line, &sp.header_checked);
    if (!rc && p->queued)
        rc = flush(p);
    fz_buf_free(&sp.b);
    return rc;
}

static double since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static int pusher_init(pusher *p, fz_stream *s, const fz_stream_push_options *o, fz_stream_push_stats *st,
                       fz_error *err)
{
    unsigned n = o->partitions;
    int rc = n ? fz_stream_set_partitions(s, n, &st->partitions, err) : fz_stream_partitions(s, &st->partitions, err);
    if (!rc && !st->partitions)
        rc = fz_stream_set_partitions(s, FZ_STREAM_DEFAULT_PARTITIONS, &st->partitions, err);
    if (rc)
        return rc;
    p->keys = calloc(st->partitions, sizeof *p->keys);
    p->queued_part = calloc(p->batch, sizeof *p->queued_part);
    p->reader = fz_reader_new();
    if (!p->keys || !p->queued_part || !p->reader)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    for (unsigned i = 0; i < st->partitions; i++)
        fz_stream_key(p->keys[i], sizeof p->keys[i], "in", i);
    p->c = fz_stream_take(s);
    return p->c ? 0 : unreachable(s, err);
}

int fz_stream_push_fd(fz_stream *s, int fd, const fz_stream_push_options *opt, fz_stream_push_stats *st,
                      fz_error *err)
{
    fz_stream_push_options o = *opt;
    if (!o.max_record)
        o.max_record = DEFAULT_MAX_RECORD;
    memset(st, 0, sizeof *st);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pusher p = {s, &o, st, NULL, NULL, NULL, NULL, 0, o.batch ? o.batch : DEFAULT_PUSH_BATCH, 0, err};
    int rc = pusher_init(&p, s, &o, st, err);
    if (!rc)
        rc = push_records(&p, fd);
    if (p.c)
        fz_stream_give(s, p.c, p.broken || p.queued);
    fz_reader_free(p.reader);
    free(p.keys);
    free(p.queued_part);
    st->seconds = since(&t0);
    return rc;
}

/* --- status -------------------------------------------------------------------------------------- */

/* The fields of our group in an XINFO GROUPS reply (RESP2: each group is
 * a flat array of name, value pairs). */
static void read_group(const redisReply *groups, const char *group, fz_partition_status *ps)
{
    ps->lag = (int64_t)ps->length;
    for (size_t g = 0; groups->type == REDIS_REPLY_ARRAY && g < groups->elements; g++) {
        const redisReply *a = groups->element[g];
        if (a->type != REDIS_REPLY_ARRAY)
            continue;
        int mine = 0;
        for (size_t k = 0; k + 1 < a->elements; k += 2)
            if (strcmp(a->element[k]->str, "name") == 0 && a->element[k + 1]->str &&
                strcmp(a->element[k + 1]->str, group) == 0)
                mine = 1;
        if (!mine)
            continue;
        ps->has_group = 1;
        for (size_t k = 0; k + 1 < a->elements; k += 2) {
            const char *f = a->element[k]->str;
            const redisReply *v = a->element[k + 1];
            if (strcmp(f, "consumers") == 0)
                ps->consumers = (uint64_t)fz_reply_int(v);
            else if (strcmp(f, "pending") == 0)
                ps->pending = (uint64_t)fz_reply_int(v);
            else if (strcmp(f, "lag") == 0)
                ps->lag = v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
        }
    }
}

static int status_of(redisContext *c, unsigned n, const char *group, fz_partition_status *out, int *broken)
{
    for (unsigned p = 0; p < n; p++) {
        char in[48], dead[48], ver[48];
        fz_stream_key(in, sizeof in, "in", p);
        fz_stream_key(dead, sizeof dead, "dead", p);
        fz_stream_key(ver, sizeof ver, "verdicts", p);
        redisAppendCommand(c, "XLEN %s", in);
        redisAppendCommand(c, "XINFO GROUPS %s", in);
        redisAppendCommand(c, "XLEN %s", dead);
        redisAppendCommand(c, "XLEN %s", ver);
    }
    for (unsigned p = 0; p < n; p++) {
        fz_partition_status *ps = &out[p];
        memset(ps, 0, sizeof *ps);
        ps->partition = p;
        redisReply *r[4] = {0};
        for (int k = 0; k < 4; k++)
            if (redisGetReply(c, (void **)&r[k]) != REDIS_OK || !r[k])
                *broken = 1;
        if (!*broken) {
            ps->length = (uint64_t)fz_reply_int(r[0]);
            ps->dead = (uint64_t)fz_reply_int(r[2]);
            ps->out_length = (uint64_t)fz_reply_int(r[3]);
            read_group(r[1], group, ps);    /* an error: no stream yet, so no group */
        }
        for (int k = 0; k < 4; k++)
            freeReplyObject(r[k]);
        if (*broken)
            return FZ_EIO;
    }
    return 0;
}

int fz_stream_status(fz_stream *s, const char *group, fz_partition_status *out, unsigned *n, fz_error *err)
{
    int rc = fz_stream_partitions(s, n, err);
    if (rc || *n == 0)
        return rc;
    redisContext *c = fz_stream_take(s);
    if (!c)
        return unreachable(s, err);
    int broken = 0;
    rc = status_of(c, *n, group ? group : FZ_STREAM_DEFAULT_GROUP, out, &broken);
    fz_stream_give(s, c, broken);
    return rc ? fz_error_set(err, FZ_EIO, "Redis: reading the partitions failed") : 0;
}

/* --- dead letters ---------------------------------------------------------------------------------- */

/* A page of partition p's dead letters after `from` (exclusive; "-" at
 * first); NULL when the connection failed. */
static redisReply *dead_page(redisContext *c, unsigned p, const char *from)
{
    char key[48];
    fz_stream_key(key, sizeof key, "dead", p);
    return redisCommand(c, "XRANGE %s %s%s + COUNT 500", key, strcmp(from, "-") ? "(" : "", from);
}

/* The entry e of an XRANGE reply as a dead letter; 0 when it is not one. */
static int as_letter(const redisReply *e, unsigned p, fz_dead_letter *d, const char **argv, size_t *lens)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    const redisReply *f = e->element[1];
    size_t n = f->elements < 256 ? f->elements : 256;
    for (size_t k = 0; k < n; k++) {
        argv[k] = f->element[k]->str;
        lens[k] = f->element[k]->len;
    }
    *d = (fz_dead_letter){p, e->element[0]->str, n, argv, lens};
    return 1;
}

typedef int (*letter_fn)(void *ud, redisContext *c, const fz_dead_letter *d, int *broken);

/* Walk the dead letters of partition p (every one when p < 0). */
static int walk_dead(fz_stream *s, int p, letter_fn fn, void *ud, fz_error *err)
{
    unsigned n;
    int rc = fz_stream_partitions(s, &n, err);
    if (rc || n == 0)
        return rc;
    if (p >= (int)n)
        return fz_error_set(err, FZ_EINVAL, "there are only %u partitions", n);
    redisContext *c = fz_stream_take(s);
    if (!c)
        return unreachable(s, err);
    const char *argv[256];
    size_t lens[256];
    int broken = 0, stop = 0;
    for (unsigned q = p < 0 ? 0 : (unsigned)p; q < n && (p < 0 || q == (unsigned)p) && !stop && !rc; q++) {
        char from[48] = "-";
        for (;;) {
            redisReply *r = dead_page(c, q, from);
            if (!r || r->type != REDIS_REPLY_ARRAY) {
                broken = !r;
                rc = fz_error_set(err, FZ_EIO, "Redis: reading the dead letters failed%s%s", r ? ": " : "",
                                  r && r->type == REDIS_REPLY_ERROR ? r->str : "");
                freeReplyObject(r);
                break;
            }
            for (size_t i = 0; i < r->elements && !stop; i++) {
                fz_dead_letter d;
                if (as_letter(r->element[i], q, &d, argv, lens))
                    stop = fn(ud, c, &d, &broken);
            }
            size_t got = r->elements;
            if (got)
                snprintf(from, sizeof from, "%s", r->element[got - 1]->element[0]->str);
            freeReplyObject(r);
            if (stop || got < 500)
                break;
        }
    }
    fz_stream_give(s, c, broken);
    if (!rc && broken)
        rc = fz_error_set(err, FZ_EIO, "Redis: the connection failed (%s)", fz_stream_describe(s));
    return rc;
}

typedef struct lister {
    size_t max, seen;
    int (*fn)(void *ud, const fz_dead_letter *d);
    void *ud;
} lister;

static int list_one(void *ud, redisContext *c, const fz_dead_letter *d, int *broken)
{
    (void)c, (void)broken;
    lister *l = ud;
    if (l->fn(l->ud, d))
        return 1;
    return l->max && ++l->seen >= l->max;
}

int fz_stream_dead_list(fz_stream *s, int p, size_t max, int (*fn)(void *ud, const fz_dead_letter *d), void *ud,
                        fz_error *err)
{
    lister l = {max, 0, fn, ud};
    return walk_dead(s, p, list_one, &l, err);
}

typedef struct replayer {
    const char *const *ids;
    size_t n_ids;
    uint64_t replayed;
    int rc;
    fz_error *err;
} replayer;

static int wanted(const replayer *r, const char *id)
{
    for (size_t i = 0; i < r->n_ids; i++)
        if (strcmp(r->ids[i], id) == 0)
            return 1;
    return r->n_ids == 0;
}

/* A dead letter's fields end with src, deliveries, reason (added when it
 * died): the original entry is what comes before. */
static size_t original_fields(const fz_dead_letter *d)
{
    size_t n = d->n_fields & ~(size_t)1;
    if (n >= 6 && strcmp(d->fields[n - 6], "src") == 0 && strcmp(d->fields[n - 4], "deliveries") == 0 &&
        strcmp(d->fields[n - 2], "reason") == 0)
        n -= 6;
    return n;
}

static int replay_one(void *ud, redisContext *c, const fz_dead_letter *d, int *broken)
{
    replayer *r = ud;
    if (!wanted(r, d->id))
        return 0;
    size_t n = original_fields(d);
    if (n == 0)
        return 0;
    char in[48], dead[48];
    fz_stream_key(in, sizeof in, "in", d->partition);
    fz_stream_key(dead, sizeof dead, "dead", d->partition);
    const char *argv[3 + 256];
    size_t lens[3 + 256];
    argv[0] = "XADD", lens[0] = 4;
    argv[1] = in, lens[1] = strlen(in);
    argv[2] = "*", lens[2] = 1;
    memcpy(argv + 3, d->fields, n * sizeof *argv);
    memcpy(lens + 3, d->lens, n * sizeof *lens);
    redisAppendCommand(c, "MULTI");
    redisAppendCommandArgv(c, (int)(n + 3), argv, lens);
    redisAppendCommand(c, "XDEL %s %s", dead, d->id);
    redisAppendCommand(c, "EXEC");
    int ok = 1;
    for (int k = 0; k < 4; k++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep) {
            *broken = 1;
            return 1;
        }
        if (k == 3 && (rep->type != REDIS_REPLY_ARRAY || rep->element[0]->type == REDIS_REPLY_ERROR))
            ok = 0;
        freeReplyObject(rep);
    }
    if (!ok) {
        r->rc = fz_error_set(r->err, FZ_EIO, "Redis refused to replay a dead letter");
        return 1;
    }
    r->replayed++;
    return 0;
}

int fz_stream_dead_replay(fz_stream *s, int p, const char *const *ids, size_t n_ids, uint64_t *replayed,
                          fz_error *err)
{
    replayer r = {ids, n_ids, 0, 0, err};
    int rc = walk_dead(s, p, replay_one, &r, err);
    *replayed = r.replayed;
    return rc ? rc : r.rc;
}
