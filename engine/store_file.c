/* store_file.c — the durable part of the embedded store: its keys that must
 * survive a restart (residents, reported numbers; see fz_store_key_durable)
 * written through to the state file, and read back at start.
 *
 * How it works. The embedded store keeps every key in memory and answers
 * from there; after a batch changes durable keys, their new state (a
 * string, or one field of a hash, with its expiry) is written to state.db in
 * one transaction. At start, and whenever another process has changed the
 * file, the durable keys are loaded again. The file mirrors memory rather
 * than re-running the operations, so the two cannot disagree about what a
 * "set if larger" kept. */
#include <string.h>

#include "statefile.h"
#include "store_file.h"

static void bind_blob(sqlite3_stmt *st, int i, const char *p, size_t n)
{
    sqlite3_bind_blob(st, i, n ? p : "", (int)n, SQLITE_STATIC);
}

static int step_done(fz_statefile *sf, sqlite3_stmt *st, fz_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    return fz_error_set(err, FZ_EIO, "%s: %s", fz_statefile_path(sf), sqlite3_errstr(rc));
}

int fz_file_begin(fz_statefile *sf, fz_error *err)
{
    if (!fz_statefile_db(sf, 1, err))
        return FZ_EIO;
    return fz_statefile_exec(sf, "BEGIN IMMEDIATE", err);
}

int fz_file_commit(fz_statefile *sf, int ok, fz_error *err)
{
    if (ok)
        return fz_statefile_exec(sf, "COMMIT", err);
    fz_statefile_exec(sf, "ROLLBACK", NULL);
    return 0;
}

int fz_file_put_string(fz_statefile *sf, const fz_str *key, const char *value, size_t n, int64_t expires,
                       fz_error *err)
{
    sqlite3_stmt *st = fz_statefile_stmt(sf, "INSERT OR REPLACE INTO kv(key, value, expires) VALUES(?, ?, ?)", err);
    if (!st)
        return FZ_EIO;
    bind_blob(st, 1, key->ptr, key->len);
    bind_blob(st, 2, value, n);
    sqlite3_bind_int64(st, 3, expires);
    return step_done(sf, st, err);
}

int fz_file_put_field(fz_statefile *sf, const fz_str *key, const char *field, size_t fl, const char *value,
                      size_t vl, int64_t expires, fz_error *err)
{
    sqlite3_stmt *st = fz_statefile_stmt(
        sf, "INSERT OR REPLACE INTO kh(key, field, value, expires) VALUES(?, ?, ?, ?)", err);
    if (!st)
        return FZ_EIO;
    bind_blob(st, 1, key->ptr, key->len);
    bind_blob(st, 2, field, fl);
    bind_blob(st, 3, value, vl);
    sqlite3_bind_int64(st, 4, expires);
    if (step_done(sf, st, err))
        return FZ_EIO;
    /* A hash expires as a whole: every field takes the key's new expiry. */
    st = fz_statefile_stmt(sf, "UPDATE kh SET expires = ? WHERE key = ?", err);
    if (!st)
        return FZ_EIO;
    sqlite3_bind_int64(st, 1, expires);
    bind_blob(st, 2, key->ptr, key->len);
    return step_done(sf, st, err);
}

int fz_file_del(fz_statefile *sf, const fz_str *key, fz_error *err)
{
    static const char *const sql[] = {"DELETE FROM kv WHERE key = ?", "DELETE FROM kh WHERE key = ?"};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = fz_statefile_stmt(sf, sql[i], err);
        if (!st)
            return FZ_EIO;
        bind_blob(st, 1, key->ptr, key->len);
        if (step_done(sf, st, err))
            return FZ_EIO;
    }
    return 0;
}

int fz_file_del_field(fz_statefile *sf, const fz_str *key, const char *field, size_t fl, fz_error *err)
{
    sqlite3_stmt *st = fz_statefile_stmt(sf, "DELETE FROM kh WHERE key = ? AND field = ?", err);
    if (!st)
        return FZ_EIO;
    bind_blob(st, 1, key->ptr, key->len);
    bind_blob(st, 2, field, fl);
    return step_done(sf, st, err);
}

static fz_str column(sqlite3_stmt *st, int i)
{
    const char *p = sqlite3_column_blob(st, i);
    return (fz_str){p ? p : "", (size_t)sqlite3_column_bytes(st, i)};
}

int fz_file_load(fz_statefile *sf, int64_t now, fz_file_load_fn fn, void *ud, fz_error *err)
{
    fz_error e = {0};
    if (!fz_statefile_db(sf, 0, &e)) {
        if (!e.code)
            return 0;                               /* no file yet: nothing to load */
        return fz_error_set(err, e.code, "%s", e.message);
    }
    static const char *const sql[] = {
        "SELECT key, NULL, value, expires FROM kv WHERE expires = 0 OR expires > ?",
        "SELECT key, field, value, expires FROM kh WHERE expires = 0 OR expires > ?"};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = fz_statefile_stmt(sf, sql[i], err);
        if (!st)
            return FZ_EIO;
        sqlite3_bind_int64(st, 1, now);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            fz_str key = column(st, 0), field = column(st, 1), value = column(st, 2);
            if (fn(ud, &key, i ? &field : NULL, &value, sqlite3_column_int64(st, 3))) {
                sqlite3_reset(st);
                return FZ_ENOMEM;
            }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return fz_error_set(err, FZ_EIO, "%s: %s", fz_statefile_path(sf), sqlite3_errstr(rc));
    }
    return 0;
}
