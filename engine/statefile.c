/* statefile.c — the state directory's SQLite file, state.db: what the
 * embedded store keeps across restarts (residents, reported numbers) and the
 * spool of warnings.
 *
 * How it works. The file is opened on first use, and created (with its
 * directory, mode 0700: it holds sealed personal data and keyed hashes)
 * only when something is first written, so that a plain `fanzha scan` leaves
 * no trace. It runs in WAL mode with a busy timeout, so that several fanzha
 * processes on one machine (a scan, `fanzha resident add`, a deliverer) can
 * share it: SQLite serializes their transactions. Within a process one
 * connection is shared under a mutex, and prepared statements are cached by
 * their SQL text. The schema is created idempotently; user_version records
 * its revision for future migrations. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "statefile.h"

#define SCHEMA_REVISION 1
#define MAX_STMTS 48

static const char k_schema[] =
    /* durable keys of the embedded store (strings, and hashes by field) */
    "CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL, expires INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS kh(key BLOB NOT NULL, field BLOB NOT NULL, value BLOB NOT NULL,"
    " expires INTEGER NOT NULL, PRIMARY KEY(key, field)) WITHOUT ROWID;"
    /* the warning spool: box 0 queued (ready when due_ms has passed), 2 dead */
    "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    " box INTEGER NOT NULL, due_ms INTEGER NOT NULL, lease_ms INTEGER NOT NULL DEFAULT 0, w BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(box, due_ms);"
    "CREATE TABLE IF NOT EXISTS once(key TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS counts(key TEXT PRIMARY KEY, n INTEGER NOT NULL, expires INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    /* the directory's own secret (when no FANZHA_HASH_KEY is given) */
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;";

struct fz_statefile {
    char dir[1024];
    char path[1100];
    pthread_mutex_t mu;
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } stmts[MAX_STMTS];
    int n_stmts;
    long long data_version;
    unsigned char secret[32];   /* fz_statefile_secret: kept in meta when the file is created */
    int secret_pending;
};

int fz_statefile_new(const char *dir, fz_statefile **out, fz_error *err)
{
    *out = NULL;
    if (!dir || !*dir || strlen(dir) >= 1024)
        return fz_error_set(err, FZ_EINVAL, "bad state directory");
    fz_statefile *sf = calloc(1, sizeof *sf);
    if (!sf)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    snprintf(sf->dir, sizeof sf->dir, "%s", dir);
    snprintf(sf->path, sizeof sf->path, "%s/state.db", dir);
    pthread_mutex_init(&sf->mu, NULL);
    sf->data_version = -1;
    *out = sf;
    return 0;
}

void fz_statefile_free(fz_statefile *sf)
{
    if (!sf)
        return;
    for (int i = 0; i < sf->n_stmts; i++)
        sqlite3_finalize(sf->stmts[i].st);
    sqlite3_close(sf->db);
    pthread_mutex_destroy(&sf->mu);
    sodium_memzero(sf->secret, sizeof sf->secret);
    free(sf);
}

const char *fz_statefile_path(const fz_statefile *sf)
{
    return sf->path;
}

void fz_statefile_lock(fz_statefile *sf)
{
    pthread_mutex_lock(&sf->mu);
}

void fz_statefile_unlock(fz_statefile *sf)
{
    pthread_mutex_unlock(&sf->mu);
}

/* mkdir -p, private. */
static int make_dirs(const char *dir)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) && errno != EEXIST ? -1 : 0;
}

int fz_statefile_exec(fz_statefile *sf, const char *sql, fz_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(sf->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fz_error_set(err, FZ_EIO, "%s: %s", sf->path, msg ? msg : sqlite3_errmsg(sf->db));
    sqlite3_free(msg);
    return FZ_EIO;
}

/* Store the pending secret (unless another process stored one first: then
 * that one is read back, and this process's differs until it restarts, a
 * race of two first writers that only costs a few lookups). */
static int keep_secret(fz_statefile *sf)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(sf->db, "INSERT OR IGNORE INTO meta(k, v) VALUES('secret', ?1)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, sf->secret, sizeof sf->secret, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    if (!rc)
        sf->secret_pending = 0;
    return rc;
}

/* The stored secret into out: 1, or 0 when there is none. */
static int read_secret(fz_statefile *sf, unsigned char out[32])
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(sf->db, "SELECT v FROM meta WHERE k = 'secret'", -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
        memcpy(out, sqlite3_column_blob(st, 0), 32);
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

int fz_statefile_secret(fz_statefile *sf, unsigned char out[32], fz_error *err)
{
    fz_statefile_lock(sf);
    fz_error e2 = {0, ""};
    sqlite3 *db = fz_statefile_db(sf, 0, &e2);
    int rc = 0;
    if (!db && e2.code) {
        rc = fz_error_set(err, e2.code, "%s", e2.message);
    } else if (!db || !read_secret(sf, out)) {
        randombytes_buf(sf->secret, sizeof sf->secret);
        sf->secret_pending = 1;
        /* stored now (or another process's, read back) */
        if (db && keep_secret(sf) == 0)
            read_secret(sf, sf->secret);
        memcpy(out, sf->secret, 32);
    }
    fz_statefile_unlock(sf);
    return rc;
}

static int setup(fz_statefile *sf, fz_error *err)
{
    sqlite3_busy_timeout(sf->db, 5000);
    if (fz_statefile_exec(sf, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err) ||
        fz_statefile_exec(sf, k_schema, err))
        return FZ_EIO;
    if (sf->secret_pending && keep_secret(sf))
        return fz_error_set(err, FZ_EIO, "%s: cannot store the directory's secret", sf->path);
    /* Written only when it changes: every write takes the file's write lock. */
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(sf->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version == SCHEMA_REVISION)
        return 0;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", SCHEMA_REVISION);
    return fz_statefile_exec(sf, pragma, err);
}

sqlite3 *fz_statefile_db(fz_statefile *sf, int create, fz_error *err)
{
    if (sf->db)
        return sf->db;
    struct stat st;
    if (!create && stat(sf->path, &st) != 0)
        return NULL;
    if (create && make_dirs(sf->dir)) {
        fz_error_set(err, FZ_EIO, "cannot create the state directory %s: %s", sf->dir, strerror(errno));
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    mode_t old = umask(077);
    int rc = sqlite3_open_v2(sf->path, &sf->db, flags, NULL);
    umask(old);
    if (rc != SQLITE_OK || setup(sf, err)) {
        if (rc != SQLITE_OK)
            fz_error_set(err, FZ_EIO, "cannot open %s: %s", sf->path, sf->db ? sqlite3_errmsg(sf->db) : "out of memory");
        sqlite3_close(sf->db);
        sf->db = NULL;
        return NULL;
    }
    return sf->db;
}

sqlite3_stmt *fz_statefile_stmt(fz_statefile *sf, const char *sql, fz_error *err)
{
    for (int i = 0; i < sf->n_stmts; i++) {
        if (sf->stmts[i].sql == sql || strcmp(sf->stmts[i].sql, sql) == 0) {
            sqlite3_reset(sf->stmts[i].st);
            sqlite3_clear_bindings(sf->stmts[i].st);
            return sf->stmts[i].st;
        }
    }
    /* Every statement of fanzha is a literal, so the cache stays small. */
    if (sf->n_stmts == MAX_STMTS) {
        fz_error_set(err, FZ_ENOMEM, "%s: too many distinct statements", sf->path);
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(sf->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fz_error_set(err, FZ_EIO, "%s: %s", sf->path, sqlite3_errmsg(sf->db));
        return NULL;
    }
    sf->stmts[sf->n_stmts].sql = sql;
    sf->stmts[sf->n_stmts++].st = st;
    return st;
}

int fz_statefile_changed(fz_statefile *sf)
{
    if (!sf->db)
        return 0;
    sqlite3_stmt *st = fz_statefile_stmt(sf, "PRAGMA data_version", NULL);
    long long v = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : sf->data_version;
    if (st)
        sqlite3_reset(st);          /* a statement left stepping holds its read snapshot: later writes fail BUSY */
    int changed = v != sf->data_version;
    sf->data_version = v;
    return changed;
}
