/* outbox_spool.c — the outbox in the state file: the embedded store's
 * outbox, and the Redis outbox's fallback while Redis cannot be reached.
 *
 * How it works. One table holds every warning (box 0: queued, ready once
 * due_ms has passed; box 2: dead), with a lease: a claim sets lease_ms in
 * the future, and a warning whose lease has run out (its deliverer died) is
 * claimable again. Queueing runs the dedup key (table once) and the
 * recipient's daily counter (table counts) in the same transaction as the
 * insert, so a decision is never half recorded. Expired dedup keys and
 * counters are reused in place and swept now and then. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox_internal.h"
#include "statefile.h"

typedef struct spool {
    fz_statefile *sf;
    int64_t next_sweep_ms;
} spool;

static int sql_fail(spool *sp, fz_error *err)
{
    sqlite3 *db = fz_statefile_db(sp->sf, 0, NULL);
    return fz_error_set(err, FZ_EIO, "%s: %s", fz_statefile_path(sp->sf), db ? sqlite3_errmsg(db) : "cannot open");
}

static sqlite3_stmt *stmt(spool *sp, const char *sql, fz_error *err)
{
    if (!fz_statefile_db(sp->sf, 1, err))
        return NULL;
    return fz_statefile_stmt(sp->sf, sql, err);
}

/* Run a statement to completion; the number of rows it changed, or -1. */
static int run(spool *sp, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? sqlite3_changes(fz_statefile_db(sp->sf, 0, NULL)) : -1;
}

/* --- queueing --------------------------------------------------------------------------- */

/* 1 when key was not live (and now is), 0 when it was, -1 on failure. */
static int once_take(spool *sp, const char *key, int64_t expires, int64_t now, fz_error *err)
{
    sqlite3_stmt *st = stmt(sp,
                            "INSERT INTO once(key, expires) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE"
                            " SET expires = ?2 WHERE once.expires <= ?3",
                            err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, expires);
    sqlite3_bind_int64(st, 3, now);
    return run(sp, st);
}

/* The counter after adding one, or -1. */
static int64_t count_add(spool *sp, const char *key, int64_t expires, int64_t now, fz_error *err)
{
    sqlite3_stmt *st = stmt(sp,
                            "INSERT INTO counts(key, n, expires) VALUES(?1, 1, ?2) ON CONFLICT(key) DO UPDATE"
                            " SET n = CASE WHEN counts.expires <= ?3 THEN 1 ELSE counts.n + 1 END,"
                            " expires = CASE WHEN counts.expires <= ?3 THEN ?2 ELSE counts.expires END"
                            " RETURNING n",
                            err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, expires);
    sqlite3_bind_int64(st, 3, now);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    while (sqlite3_step(st) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    return n;
}

static int insert(spool *sp, const char *id, int64_t due_ms, const fz_buf *blob, fz_error *err)
{
    sqlite3_stmt *st = stmt(sp, "INSERT INTO outbox(id, box, due_ms, w) VALUES(?, 0, ?, ?) ON CONFLICT(id) DO NOTHING",
                            err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, due_ms);
    sqlite3_bind_blob(st, 3, blob->data, (int)blob->len, SQLITE_STATIC);
    return run(sp, st) < 0 ? -1 : 0;
}

static void sweep(spool *sp, int64_t now_ms)
{
    if (now_ms < sp->next_sweep_ms)
        return;
    sp->next_sweep_ms = now_ms + 3600 * 1000;
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM once WHERE expires <= %lld; DELETE FROM counts WHERE expires <= %lld;",
             (long long)(now_ms / 1000), (long long)(now_ms / 1000));
    fz_statefile_exec(sp->sf, sql, NULL);
}

static int queue_one(spool *sp, const fz_warn_request *r, const fz_buf *blob, int64_t now_ms, fz_queue_result *res,
                     fz_error *err)
{
    int64_t now = now_ms / 1000;
    if (r->once_key[0]) {
        int fresh = once_take(sp, r->once_key, now + r->once_ttl, now, err);
        if (fresh < 0)
            return -1;
        if (!fresh) {
            *res = FZ_DUPLICATE;
            return 0;
        }
    }
    if (r->count_key[0]) {
        int64_t n = count_add(sp, r->count_key, now + r->count_ttl, now, err);
        if (n < 0)
            return -1;
        if (n > r->limit) {
            *res = FZ_LIMITED;
            return 0;
        }
    }
    *res = FZ_QUEUED;
    return insert(sp, r->w.id, r->w.due * 1000 > now_ms ? r->w.due * 1000 : now_ms, blob, err);
}

static int spool_queue(void *impl, const fz_warn_request *r, const fz_buf *sealed, size_t n, int64_t now_ms,
                       fz_queue_result *res, fz_error *err)
{
    spool *sp = impl;
    fz_statefile_lock(sp->sf);
    int rc = fz_statefile_db(sp->sf, 1, err) ? fz_statefile_exec(sp->sf, "BEGIN IMMEDIATE", err) : FZ_EIO;
    for (size_t i = 0; !rc && i < n; i++)
        if (queue_one(sp, &r[i], &sealed[i], now_ms, &res[i], err))
            rc = sql_fail(sp, err);
    if (!rc)
        rc = fz_statefile_exec(sp->sf, "COMMIT", err);
    else
        fz_statefile_exec(sp->sf, "ROLLBACK", NULL);
    if (!rc)
        sweep(sp, now_ms);
    fz_statefile_unlock(sp->sf);
    return rc;
}

/* --- delivery ----------------------------------------------------------------------------- */

static int emit_rows(sqlite3_stmt *st, fz_blob_fn fn, void *ud)
{
    int rc, stop = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (stop)
            continue;                       /* drain: RETURNING rows must all be stepped */
        fz_blob b = {.due_ms = sqlite3_column_int64(st, 2)};
        snprintf(b.handle, sizeof b.handle, "%lld", (long long)sqlite3_column_int64(st, 0));
        snprintf(b.id, sizeof b.id, "%s", (const char *)sqlite3_column_text(st, 1));
        b.data = sqlite3_column_blob(st, 3);
        b.len = (size_t)sqlite3_column_bytes(st, 3);
        stop = fn(ud, &b);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int spool_claim(void *impl, size_t max, int64_t now_ms, int lease_ms, fz_blob_fn fn, void *ud, fz_error *err)
{
    spool *sp = impl;
    fz_statefile_lock(sp->sf);
    if (!fz_statefile_db(sp->sf, 0, NULL)) {
        fz_statefile_unlock(sp->sf);
        return 0;                           /* no file: nothing was ever spooled */
    }
    sqlite3_stmt *st = stmt(sp,
                            "UPDATE outbox SET lease_ms = ?1 WHERE seq IN (SELECT seq FROM outbox WHERE box = 0"
                            " AND due_ms <= ?2 AND lease_ms <= ?2 ORDER BY due_ms, seq LIMIT ?3)"
                            " RETURNING seq, id, due_ms, w",
                            err);
    int rc = st ? 0 : FZ_EIO;
    if (st) {
        sqlite3_bind_int64(st, 1, now_ms + lease_ms);
        sqlite3_bind_int64(st, 2, now_ms);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
        if (emit_rows(st, fn, ud))
            rc = sql_fail(sp, err);
    }
    fz_statefile_unlock(sp->sf);
    return rc;
}

static int spool_settle(void *impl, const char *handle, const char *id, fz_settle how, int64_t due_ms,
                        const fz_buf *blob, fz_error *err)
{
    spool *sp = impl;
    (void)id;
    static const char *const sql[] = {
        "DELETE FROM outbox WHERE seq = ?1",
        "UPDATE outbox SET due_ms = ?2, lease_ms = 0, w = ?3 WHERE seq = ?1",
        "UPDATE outbox SET box = 2, lease_ms = 0, w = ?3 WHERE seq = ?1"};
    fz_statefile_lock(sp->sf);
    sqlite3_stmt *st = stmt(sp, sql[how], err);
    int rc = st ? 0 : FZ_EIO;
    if (st) {
        sqlite3_bind_int64(st, 1, strtoll(handle, NULL, 10));
        if (how != FZ_SETTLE_DELIVERED) {
            sqlite3_bind_int64(st, 2, due_ms);
            sqlite3_bind_blob(st, 3, blob->data, (int)blob->len, SQLITE_STATIC);
        }
        if (run(sp, st) < 0)
            rc = sql_fail(sp, err);
    }
    fz_statefile_unlock(sp->sf);
    return rc;
}

/* --- operators ---------------------------------------------------------------------------- */

static int spool_depth(void *impl, int64_t now_ms, fz_outbox_depth *out, fz_error *err)
{
    spool *sp = impl;
    memset(out, 0, sizeof *out);
    fz_statefile_lock(sp->sf);
    int rc = 0;
    if (fz_statefile_db(sp->sf, 0, NULL)) {
        sqlite3_stmt *st = stmt(sp,
                                "SELECT coalesce(sum(box = 0 AND due_ms <= ?1), 0), coalesce(sum(box = 0 AND"
                                " due_ms > ?1), 0), coalesce(sum(box = 2), 0) FROM outbox",
                                err);
        if (st) {
            sqlite3_bind_int64(st, 1, now_ms);
            if (sqlite3_step(st) == SQLITE_ROW) {
                out->ready = (uint64_t)sqlite3_column_int64(st, 0);
                out->scheduled = (uint64_t)sqlite3_column_int64(st, 1);
                out->dead = (uint64_t)sqlite3_column_int64(st, 2);
            } else {
                rc = sql_fail(sp, err);
            }
            sqlite3_reset(st);
        } else {
            rc = FZ_EIO;
        }
    }
    fz_statefile_unlock(sp->sf);
    return rc;
}

static int spool_list(void *impl, fz_box box, int64_t now_ms, fz_blob_fn fn, void *ud, fz_error *err)
{
    spool *sp = impl;
    static const char *const sql[] = {
        "SELECT seq, id, due_ms, w FROM outbox WHERE box = 0 AND due_ms <= ?1 ORDER BY seq",
        "SELECT seq, id, due_ms, w FROM outbox WHERE box = 0 AND due_ms > ?1 ORDER BY due_ms, seq",
        "SELECT seq, id, due_ms, w FROM outbox WHERE box = 2 AND ?1 = ?1 ORDER BY seq"};
    fz_statefile_lock(sp->sf);
    int rc = 0;
    if (fz_statefile_db(sp->sf, 0, NULL)) {
        sqlite3_stmt *st = stmt(sp, sql[box], err);
        if (!st)
            rc = FZ_EIO;
        else {
            sqlite3_bind_int64(st, 1, now_ms);
            if (emit_rows(st, fn, ud))
                rc = sql_fail(sp, err);
        }
    }
    fz_statefile_unlock(sp->sf);
    return rc;
}

static int spool_revive(void *impl, const char *handle, const char *id, const fz_buf *blob, int64_t now_ms,
                        fz_error *err)
{
    spool *sp = impl;
    (void)id;
    fz_statefile_lock(sp->sf);
    sqlite3_stmt *st = stmt(sp, "UPDATE outbox SET box = 0, due_ms = ?2, lease_ms = 0, w = ?3 WHERE seq = ?1"
                                " AND box = 2", err);
    int rc = st ? 0 : FZ_EIO;
    if (st) {
        sqlite3_bind_int64(st, 1, strtoll(handle, NULL, 10));
        sqlite3_bind_int64(st, 2, now_ms);
        sqlite3_bind_blob(st, 3, blob->data, (int)blob->len, SQLITE_STATIC);
        if (run(sp, st) < 0)
            rc = sql_fail(sp, err);
    }
    fz_statefile_unlock(sp->sf);
    return rc;
}

static int spool_remove(void *impl, fz_box box, const char *handle, fz_error *err)
{
    spool *sp = impl;
    fz_statefile_lock(sp->sf);
    sqlite3_stmt *st = stmt(sp, "DELETE FROM outbox WHERE seq = ?1 AND box = ?2", err);
    int rc = st ? 0 : FZ_EIO;
    if (st) {
        sqlite3_bind_int64(st, 1, strtoll(handle, NULL, 10));
        sqlite3_bind_int(st, 2, box == FZ_BOX_DEAD ? 2 : 0);
        if (run(sp, st) < 0)
            rc = sql_fail(sp, err);
    }
    fz_statefile_unlock(sp->sf);
    return rc;
}

static void spool_close(void *impl)
{
    free(impl);
}

static const fz_outbox_be k_spool = {spool_queue, spool_claim, spool_settle, spool_depth,
                                     spool_list,  spool_revive, spool_remove, spool_close};

int fz_spool_open(fz_statefile *sf, const fz_outbox_be **be, void **impl, fz_error *err)
{
    spool *sp = calloc(1, sizeof *sp);
    if (!sp)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    sp->sf = sf;
    *be = &k_spool;
    *impl = sp;
    return 0;
}
