/* scorer.c — scoring a block of records into output lines (scorer.h).
 *
 * How it works. Without a store, each record is parsed, scored and written
 * at once (nothing is shared, so there is nothing to batch). With a store,
 * the block is parsed first (a record that cannot be read keeps its error
 * message in the scorer's error buffer), scored as one batch (batch.c: two
 * round trips for the whole block), its warnings queued (warn.c), and only
 * then written, record by record in input order, so that a caller who wants
 * one stream (the HTTP batch endpoint) gets lines in the order it sent them.
 * Everything is reused from block to block: after the first blocks, scoring
 * allocates nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "json_out.h"
#include "scorer.h"
#include "warn.h"

/* What pass one found out about a record. */
typedef struct rec_state {
    long msg;               /* its index in the batch, or -1 */
    size_t err_off;         /* else its error message in s->errmsgs */
} rec_state;

struct fz_scorer {
    fz_worker *worker;
    fz_reader *reader;
    fz_verdict *verdict;
    fz_batch *batch;
    rec_state *states;
    size_t cap_states;
    fz_buf errmsgs;         /* NUL-separated error messages of this block */
};

fz_scorer *fz_scorer_new(void)
{
    fz_scorer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->reader = fz_reader_new();
    s->verdict = fz_verdict_new();
    s->batch = fz_batch_new();
    if (fz_worker_new(&s->worker, NULL) || !s->reader || !s->verdict || !s->batch) {
        fz_scorer_free(s);
        return NULL;
    }
    return s;
}

void fz_scorer_free(fz_scorer *s)
{
    if (!s)
        return;
    fz_worker_free(s->worker);
    fz_reader_free(s->reader);
    fz_verdict_free(s->verdict);
    fz_batch_free(s->batch);
    free(s->states);
    fz_buf_free(&s->errmsgs);
    free(s);
}

int fz_error_record(fz_buf *o, uint64_t line, const char *msg)
{
    return fz_buf_lit(o, "{\"line\":") || fz_json_uint(o, line) || fz_buf_lit(o, ",\"error\":") ||
                   fz_json_str(o, msg, strlen(msg)) || fz_buf_lit(o, "}\n")
               ? FZ_ENOMEM
               : 0;
}

static int parse(fz_scorer *s, fz_format format, const fz_scorer_rec *r, fz_message *m, fz_error *err)
{
    return format == FZ_FORMAT_CSV ? fz_reader_parse_csv(s->reader, r->data, r->len, m, err)
                                   : fz_reader_parse_json(s->reader, r->data, r->len, m, err);
}

static int emit_error(const fz_scorer_job *job, size_t i, uint64_t line, const char *msg, fz_scan_stats *st)
{
    size_t off = job->err->len;
    if (fz_error_record(job->err, line, msg))
        return FZ_ENOMEM;
    st->errors++;
    if (job->where)
        job->where[i] = (fz_scored){off, job->err->len - off, 1};
    return 0;
}

static int emit_verdict(const fz_scorer_job *job, size_t i, const fz_verdict *v, const fz_message *m,
                        fz_scan_stats *st)
{
    size_t off = job->out->len;
    int rc = fz_verdict_write_json(v, m, job->out);
    if (rc)
        return rc;
    st->verdicts++;
    st->by_action[fz_verdict_action(v)]++;
    if (job->where)
        job->where[i] = (fz_scored){off, job->out->len - off, 0};
    return 0;
}

/* No store: each record on its own, written as soon as it is scored. */
static int run_alone(fz_scorer *s, const fz_scorer_job *job, const fz_scorer_rec *recs, size_t n,
                     fz_scan_stats *st)
{
    for (size_t i = 0; i < n; i++) {
        const fz_scorer_rec *r = &recs[i];
        st->read++;
        if (r->error) {
            if (emit_error(job, i, r->line, r->error, st))
                return FZ_ENOMEM;
            continue;
        }
        fz_error err = {0, ""};
        fz_message m;
        int rc = parse(s, job->format, r, &m, &err);
        if (rc == 0)
            rc = fz_engine_scan(job->engine, s->worker, &m, s->verdict);
        if (rc == 0)
            rc = emit_verdict(job, i, s->verdict, &m, st);
        if (rc == FZ_ENOMEM)
            return rc;
        if (rc && emit_error(job, i, r->line, err.message[0] ? err.message : fz_strerror(rc), st))
            return FZ_ENOMEM;
    }
    return 0;
}

static int keep_error(fz_scorer *s, rec_state *rs, const char *msg)
{
    rs->msg = -1;
    rs->err_off = s->errmsgs.len;
    return fz_buf_append(&s->errmsgs, msg, strlen(msg) + 1);
}

/* With a store, pass one: parse every record into the batch. */
static int parse_block(fz_scorer *s, const fz_scorer_job *job, const fz_scorer_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const fz_scorer_rec *r = &recs[i];
        rec_state *rs = &s->states[i];
        if (r->error) {
            if (keep_error(s, rs, r->error))
                return FZ_ENOMEM;
            continue;
        }
        fz_error err = {0, ""};
        fz_message m;
        int rc = parse(s, job->format, r, &m, &err);
        if (rc == FZ_ENOMEM)
            return rc;
        if (rc) {
            if (keep_error(s, rs, err.message[0] ? err.message : fz_strerror(rc)))
                return FZ_ENOMEM;
            continue;
        }
        rs->msg = (long)fz_batch_count(s->batch);
        if (fz_batch_add(s->batch, &m))
            return FZ_ENOMEM;
    }
    return 0;
}

/* Last pass: one line per record, in input order. */
static int write_block(fz_scorer *s, const fz_scorer_job *job, const fz_scorer_rec *recs, size_t n,
                       fz_scan_stats *st)
{
    for (size_t i = 0; i < n; i++) {
        const rec_state *rs = &s->states[i];
        int rc;
        if (rs->msg < 0)
            rc = emit_error(job, i, recs[i].line, s->errmsgs.data + rs->err_off, st);
        else if (!fz_batch_ok(s->batch, (size_t)rs->msg))
            rc = emit_error(job, i, recs[i].line, "the text could not be processed", st);
        else
            rc = emit_verdict(job, i, fz_batch_verdict(s->batch, (size_t)rs->msg),
                              fz_batch_message(s->batch, (size_t)rs->msg), st);
        if (rc)
            return rc;
    }
    return 0;
}

static int run_batched(fz_scorer *s, const fz_scorer_job *job, const fz_scorer_rec *recs, size_t n,
                       fz_scan_stats *st)
{
    if (s->cap_states < n) {
        rec_state *p = realloc(s->states, n * sizeof *p);
        if (!p)
            return FZ_ENOMEM;
        s->states = p;
        s->cap_states = n;
    }
    fz_batch_clear(s->batch);
    fz_buf_clear(&s->errmsgs);
    st->read += n;
    int rc = parse_block(s, job, recs, n);
    if (!rc)
        rc = fz_batch_score(s->batch, job->engine, s->worker, job->store);
    if (!rc && job->outbox)
        fz_warn_batch(job->outbox, job->store, job->engine, s->batch, (int64_t)time(NULL), st);
    return rc ? rc : write_block(s, job, recs, n, st);
}

int fz_scorer_run(fz_scorer *s, const fz_scorer_job *job, const fz_scorer_rec *recs, size_t n, fz_scan_stats *st)
{
    if (n == 0)
        return 0;
    return job->store ? run_batched(s, job, recs, n, st) : run_alone(s, job, recs, n, st);
}
