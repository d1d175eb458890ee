/* scan.c — scoring a stream in order, on one thread or many, with hot
 * reload between blocks.
 *
 * How it works. The reader fills blocks of about 256 KiB of whole records
 * (it finds record boundaries with memchr; for CSV it follows quotes, since a
 * quoted field may hold newlines) and describes each record: offset, length,
 * line number. A record longer than the limit is not buffered: its bytes are
 * skipped up to the next line and it is described as "too long", so that it
 * becomes an error record in its place. Blank lines are not records.
 *
 * Blocks live in a ring. Worker threads take filled blocks in sequence order,
 * acquire the current engine from the slot (one reference per block, so a
 * reload never disturbs a block in flight), and write verdicts and error
 * records into the block's own buffers. The writer emits blocks strictly in
 * sequence order, so output order is input order whatever the thread count.
 * With one thread the same three steps run inline, with no locking. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_internal.h"
#include "fanzha/scan.h"
#include "scorer.h"

#define BLOCK_TARGET (256u * 1024)
#define READ_CHUNK (256u * 1024)
#define DEFAULT_MAX_RECORD (1u << 20)

/* --- the engine slot ----------------------------------------------------------------- */

struct fz_engine_slot {
    pthread_mutex_t mu;
    fz_engine *engine;
};

fz_engine_slot *fz_engine_slot_new(fz_engine *e)
{
    fz_engine_slot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->engine = e;
    return s;
}

void fz_engine_slot_free(fz_engine_slot *s)
{
    if (!s)
        return;
    fz_engine_release(s->engine);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

fz_engine *fz_engine_slot_acquire(fz_engine_slot *s)
{
    pthread_mutex_lock(&s->mu);
    fz_engine *e = fz_engine_retain(s->engine);
    pthread_mutex_unlock(&s->mu);
    return e;
}

void fz_engine_slot_swap(fz_engine_slot *s, fz_engine *e)
{
    pthread_mutex_lock(&s->mu);
    fz_engine *old = s->engine;
    s->engine = e;
    pthread_mutex_unlock(&s->mu);
    fz_engine_release(old);
}

/* --- blocks ------------------------------------------------------------------------------- */

enum { REC_OK = 0, REC_TOO_LONG = 1 };

typedef struct rec {
    size_t off, len;
    uint64_t line;
    int kind;
} rec;

enum { B_FREE = 0, B_FILLED, B_WORKING, B_DONE };

typedef struct block {
    fz_buf in;
    rec *recs;
    size_t n_recs, cap_recs;
    uint64_t seq;
    fz_buf out, err;
    fz_scan_stats st;
    uint64_t engine_serial;
    int state;
    int rc;
} block;

typedef struct thread_ctx {
    fz_scorer *scorer;
    fz_scorer_rec *recs;    /* the block's records, described for the scorer */
    size_t cap_recs;
    char too_long[96];
} thread_ctx;

typedef struct runner {
    const fz_scan_options *o;
    fz_engine_slot *slot;
    size_t max_record;
    /* reader state */
    fz_buf carry;           /* the partial record left over from the last block */
    uint64_t next_line;     /* line number of the first record in carry */
    int csv_state;          /* CSV: where the scan of the record in carry stopped */
    size_t carry_scanned;   /* bytes of carry already searched for a boundary */
    uint64_t carry_inner;   /* CSV: newlines inside quotes in those bytes */
    int skipping;           /* discarding the rest of a too-long record */
    int header_checked;
    int input_done;         /* the reader saw the end of the input (reader only) */
    int closed;             /* no more blocks will be filled (under mu) */
    /* ring */
    block *ring;
    size_t n_ring;
    uint64_t seq_filled, seq_taken, seq_written;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int failed;
    fz_error err;
    /* totals */
    fz_scan_stats total;
    uint64_t last_serial;
    struct timespec t0, last_progress;
} runner;

static double since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static int push_rec(block *b, rec r)
{
    if (b->n_recs == b->cap_recs) {
        size_t cap = b->cap_recs ? b->cap_recs * 2 : 1024;
        rec *p = realloc(b->recs, cap * sizeof *p);
        if (!p)
            return FZ_ENOMEM;
        b->recs = p;
        b->cap_recs = cap;
    }
    b->recs[b->n_recs++] = r;
    return 0;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* CSV quoting, as fz_reader_parse_csv reads it: a quote opens a field only
 * at the field's start; inside, "" is a quote and a lone " closes it. */
enum { CSV_START = 0, CSV_UNQUOTED, CSV_QUOTED, CSV_QUOTE_SEEN };

/* Find the end of the record starting at s[0]: the offset of its
 * terminating newline, or -1 if it is not complete yet. *from is where to
 * resume searching (bytes before it were already searched); *state is the
 * CSV state there. Counts newlines inside quoted CSV fields in *inner. */
static long record_end(const runner *r, const char *s, size_t n, size_t *from, int *state, uint64_t *inner)
{
    if (r->o->format != FZ_FORMAT_CSV) {
        const char *nl = memchr(s + *from, '\n', n - *from);
        if (nl)
            return nl - s;
        *from = n;
        return -1;
    }
    int st = *state;
    for (size_t i = *from; i < n; i++) {
        char c = s[i];
        switch (st) {
        case CSV_START:
            st = c == '"' ? CSV_QUOTED : c == ',' ? CSV_START : CSV_UNQUOTED;
            break;
        case CSV_UNQUOTED:
            if (c == ',')
                st = CSV_START;
            break;
        case CSV_QUOTED:
            if (c == '"')
                st = CSV_QUOTE_SEEN;
            else if (c == '\n')
                (*inner)++;
            continue;
        case CSV_QUOTE_SEEN:
            st = c == '"' ? CSV_QUOTED : c == ',' ? CSV_START : CSV_UNQUOTED;
            break;
        }
        if (c == '\n') {
            *state = CSV_START;
            return (long)i;
        }
    }
    *state = st;
    *from = n;
    return -1;
}

/* Move complete records from carry into block b; keep the rest in carry. */
static int take_records(runner *r, block *b, int at_eof)
{
    size_t pos = 0;
    int rc = 0;
    while (pos < r->carry.len && !rc) {
        const char *s = r->carry.data + pos;
        size_t n = r->carry.len - pos;
        uint64_t inner = r->carry_inner;
        size_t from = r->carry_scanned;
        int quotes = r->csv_state;
        long end = record_end(r, s, n, &from, &quotes, &inner);
        if (r->skipping) {
            /* The rest of a too-long record: drop it up to its end. */
            pos += end >= 0 ? (size_t)end + 1 : n;
            r->carry_scanned = 0;
            r->carry_inner = end >= 0 ? 0 : inner;
            r->csv_state = end >= 0 ? CSV_START : quotes;
            if (end >= 0) {
                r->skipping = 0;
                r->next_line += 1 + inner;
            }
            continue;
        }
        if (end < 0 && !at_eof) {
            if (n > r->max_record) {
                /* Too long: describe it, drop what we have, skip the rest. */
                rc = push_rec(b, (rec){0, 0, r->next_line, REC_TOO_LONG});
                r->skipping = 1;
                r->carry_inner = inner;
                r->csv_state = quotes;
                r->carry_scanned = 0;
                pos += n;
                continue;
            }
            r->carry_scanned = from;
            r->carry_inner = inner;
            r->csv_state = quotes;
            break;
        }
        size_t len = end >= 0 ? (size_t)end : n;
        uint64_t line = r->next_line;
        r->next_line += 1 + inner;
        r->carry_scanned = 0;
        r->carry_inner = 0;
        r->csv_state = CSV_START;
        pos += end >= 0 ? len + 1 : len;
        if (len > r->max_record) {
            rc = push_rec(b, (rec){0, 0, line, REC_TOO_LONG});
            continue;
        }
        if (is_blank(s, len))
            continue;
        if (r->o->format == FZ_FORMAT_CSV && !r->header_checked) {
            r->header_checked = 1;
            if (fz_csv_is_header(s, len))
                continue;
        }
        r->header_checked = 1;
        size_t off = b->in.len;
        rc = fz_buf_append(&b->in, s, len) || push_rec(b, (rec){off, len, line, REC_OK}) ? FZ_ENOMEM : 0;
    }
    if (pos) {
        memmove(r->carry.data, r->carry.data + pos, r->carry.len - pos);
        r->carry.len -= pos;
        if (r->carry_scanned > r->carry.len)
            r->carry_scanned = r->carry.len;
    }
    return rc;
}

/* Fill b with about BLOCK_TARGET bytes of whole records. Returns 0, or a
 * negative code when reading fails. Sets r->input_done at the end of the input. */
static int fill_block(runner *r, block *b)
{
    fz_buf_clear(&b->in);
    b->n_recs = 0;
    memset(&b->st, 0, sizeof b->st);
    int short_read = 0;
    for (;;) {
        int rc = take_records(r, b, r->input_done);
        if (rc)
            return rc;
        if (r->input_done || b->in.len >= BLOCK_TARGET || b->n_recs >= 4096)
            return 0;
        /* A read that returned less than asked means the writer of a pipe
         * has paused: score what we have now rather than wait for a full
         * block, so a live stream gets its verdicts without delay. */
        if (short_read && b->n_recs > 0)
            return 0;
        if (r->o->should_stop && r->o->should_stop(r->o->should_stop_ud)) {
            r->input_done = 1;
            return 0;
        }
        if (fz_buf_reserve(&r->carry, READ_CHUNK))
            return FZ_ENOMEM;
        ssize_t got = read(r->o->in_fd, r->carry.data + r->carry.len, READ_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return fz_error_set(&r->err, FZ_EIO, "reading the input: %s", strerror(errno));
        if (got == 0) {
            r->input_done = 1;
            continue;
        }
        b->st.bytes += (uint64_t)got;
        r->carry.len += (size_t)got;
        short_read = (size_t)got < READ_CHUNK;
    }
}

/* The block's records as the scorer takes them (a too-long record arrives
 * as its error). */
static int describe_records(runner *r, thread_ctx *t, block *b)
{
    if (t->cap_recs < b->n_recs) {
        fz_scorer_rec *p = realloc(t->recs, b->n_recs * sizeof *p);
        if (!p)
            return FZ_ENOMEM;
        t->recs = p;
        t->cap_recs = b->n_recs;
    }
    snprintf(t->too_long, sizeof t->too_long, "record too long: more than %zu bytes (see --max-record)",
             r->max_record);
    for (size_t i = 0; i < b->n_recs; i++) {
        const rec *rc_ = &b->recs[i];
        t->recs[i] = (fz_scorer_rec){b->in.data + rc_->off, rc_->len, rc_->line,
                                     rc_->kind == REC_TOO_LONG ? t->too_long : NULL};
    }
    return 0;
}

static int process_block(runner *r, thread_ctx *t, block *b)
{
    fz_buf_clear(&b->out);
    fz_buf_clear(&b->err);
    int rc = describe_records(r, t, b);
    if (rc)
        return rc;
    fz_engine *e = fz_engine_slot_acquire(r->slot);
    b->engine_serial = e->serial;
    fz_scorer_job job = {e, r->o->format, r->o->store, r->o->outbox, &b->out, &b->err, NULL};
    rc = fz_scorer_run(t->scorer, &job, t->recs, b->n_recs, &b->st);
    fz_engine_release(e);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void add_stats(fz_scan_stats *a, const fz_scan_stats *b)
{
    a->read += b->read;
    a->verdicts += b->verdicts;
    a->errors += b->errors;
    for (int i = 0; i < 3; i++)
        a->by_action[i] += b->by_action[i];
    a->bytes += b->bytes;
    a->warnings_queued += b->warnings_queued;
    a->warnings_spooled += b->warnings_spooled;
    a->warnings_duplicate += b->warnings_duplicate;
    a->warnings_limited += b->warnings_limited;
    a->warnings_failed += b->warnings_failed;
}

static int write_block(runner *r, block *b)
{
    if (b->out.len && write_all(r->o->out_fd, b->out.data, b->out.len))
        return fz_error_set(&r->err, FZ_EIO, "writing verdicts: %s", strerror(errno));
    if (b->err.len && write_all(r->o->err_fd, b->err.data, b->err.len))
        return fz_error_set(&r->err, FZ_EIO, "writing error records: %s", strerror(errno));
    add_stats(&r->total, &b->st);
    if (b->n_recs && r->last_serial && b->engine_serial != r->last_serial)
        r->total.reloads++;
    if (b->n_recs)
        r->last_serial = b->engine_serial;
    if (r->o->progress && since(&r->last_progress) >= 0.5) {
        clock_gettime(CLOCK_MONOTONIC, &r->last_progress);
        r->total.seconds = since(&r->t0);
        r->o->progress(r->o->progress_ud, &r->total);
    }
    return 0;
}

/* --- thread-per-core mode --------------------------------------------------------------------- */

static int ctx_init(thread_ctx *t)
{
    memset(t, 0, sizeof *t);
    t->scorer = fz_scorer_new();
    return t->scorer ? 0 : FZ_ENOMEM;
}

static void ctx_free(thread_ctx *t)
{
    fz_scorer_free(t->scorer);
    free(t->recs);
}

static void *worker_main(void *arg)
{
    runner *r = arg;
    thread_ctx t;
    int init = ctx_init(&t);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->failed && r->seq_taken == r->seq_filled && !r->closed)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->failed || r->seq_taken == r->seq_filled)
            break;
        block *b = &r->ring[r->seq_taken % r->n_ring];
        r->seq_taken++;
        b->state = B_WORKING;
        pthread_mutex_unlock(&r->mu);
        int rc = init ? init : process_block(r, &t, b);
        pthread_mutex_lock(&r->mu);
        b->rc = rc;
        b->state = B_DONE;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    ctx_free(&t);
    return NULL;
}

static void *writer_main(void *arg)
{
    runner *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        block *b = &r->ring[r->seq_written % r->n_ring];
        while (!r->failed && !(r->seq_written < r->seq_filled && b->state == B_DONE) &&
               !(r->closed && r->seq_written == r->seq_filled))
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->failed || (r->closed && r->seq_written == r->seq_filled))
            break;
        pthread_mutex_unlock(&r->mu);
        int rc = b->rc ? fz_error_set(&r->err, b->rc, "scoring failed: %s", fz_strerror(b->rc)) : write_block(r, b);
        pthread_mutex_lock(&r->mu);
        if (rc)
            r->failed = rc;
        b->state = B_FREE;
        r->seq_written++;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int run_threaded(runner *r, int threads)
{
    r->n_ring = (size_t)threads * 2 + 2;
    r->ring = calloc(r->n_ring, sizeof *r->ring);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    pthread_t writer;
    if (!r->ring || !tids) {
        free(tids);
        return FZ_ENOMEM;
    }
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, worker_main, r))
            break;
    int writer_ok = pthread_create(&writer, NULL, writer_main, r) == 0;
    int rc = started && writer_ok ? 0 : FZ_ENOMEM;
    pthread_mutex_lock(&r->mu);
    if (rc)
        r->failed = rc;
    int done = 0;
    while (!r->failed && !done) {
        block *b = &r->ring[r->seq_filled % r->n_ring];
        while (!r->failed && b->state != B_FREE)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->failed)
            break;
        pthread_mutex_unlock(&r->mu);
        int frc = fill_block(r, b);
        pthread_mutex_lock(&r->mu);
        if (frc) {
            r->failed = frc;
            break;
        }
        b->seq = r->seq_filled;
        b->state = B_FILLED;
        r->seq_filled++;
        done = r->input_done;
        pthread_cond_broadcast(&r->cv);
    }
    r->closed = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (writer_ok)
        pthread_join(writer, NULL);
    for (size_t i = 0; i < r->n_ring; i++) {
        fz_buf_free(&r->ring[i].in);
        fz_buf_free(&r->ring[i].out);
        fz_buf_free(&r->ring[i].err);
        free(r->ring[i].recs);
    }
    free(r->ring);
    free(tids);
    return r->failed;
}

/* --- inline mode ------------------------------------------------------------------------------- */

static int run_inline(runner *r)
{
    thread_ctx t;
    block b;
    memset(&b, 0, sizeof b);
    int rc = ctx_init(&t);
    while (!rc && !r->input_done) {
        rc = fill_block(r, &b);
        if (!rc)
            rc = process_block(r, &t, &b);
        if (!rc)
            rc = write_block(r, &b);
    }
    if (rc && !r->err.message[0])
        fz_error_set(&r->err, rc, "%s", fz_strerror(rc));
    ctx_free(&t);
    fz_buf_free(&b.in);
    fz_buf_free(&b.out);
    fz_buf_free(&b.err);
    free(b.recs);
    return rc;
}

int fz_scan_stream(fz_engine_slot *slot, const fz_scan_options *o, fz_scan_stats *st, fz_error *err)
{
    runner r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.slot = slot;
    r.max_record = o->max_record ? o->max_record : DEFAULT_MAX_RECORD;
    r.next_line = 1;
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    clock_gettime(CLOCK_MONOTONIC, &r.t0);
    r.last_progress = r.t0;
    int rc = o->threads > 1 ? run_threaded(&r, o->threads) : run_inline(&r);
    r.total.seconds = since(&r.t0);
    if (o->progress)
        o->progress(o->progress_ud, &r.total);
    if (st)
        *st = r.total;
    if (rc && err)
        *err = r.err.message[0] ? r.err : (fz_error){rc, ""};
    if (rc && err && !err->message[0])
        fz_error_set(err, rc, "%s", fz_strerror(rc));
    fz_buf_free(&r.carry);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return rc;
}
