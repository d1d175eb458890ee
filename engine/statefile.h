/* statefile.h — the state directory's SQLite file (see statefile.c). */
#ifndef FZ_STATEFILE_H
#define FZ_STATEFILE_H

#include <sqlite3.h>

#include "fanzha/error.h"

typedef struct fz_statefile fz_statefile;

/* A state file at dir/state.db; nothing is read or created yet. */
int fz_statefile_new(const char *dir, fz_statefile **out, fz_error *err);
void fz_statefile_free(fz_statefile *sf);
const char *fz_statefile_path(const fz_statefile *sf);

/* Take the file for a unit of work (one thread at a time per process; other
 * processes are kept out by SQLite's own locking while a transaction runs). */
void fz_statefile_lock(fz_statefile *sf);
void fz_statefile_unlock(fz_statefile *sf);

/* The connection (with the lock held): opening the file, and with create
 * making the directory and the file, on first use. NULL when the file does
 * not exist and create is 0 (err untouched), or when it cannot be opened
 * (err says why). */
sqlite3 *fz_statefile_db(fz_statefile *sf, int create, fz_error *err);

/* Run a statement without results (with the lock held); 0 or FZ_EIO. */
int fz_statefile_exec(fz_statefile *sf, const char *sql, fz_error *err);

/* A cached prepared statement (reset, bindings cleared), or NULL with err. */
sqlite3_stmt *fz_statefile_stmt(fz_statefile *sf, const char *sql, fz_error *err);

/* The directory's own secret, for a store given no FANZHA_HASH_KEY: read
 * from the file, or made at random and stored when the file is created, so
 * that every process using the directory hashes and seals alike and no
 * two directories share a key. 0, or FZ_EIO when the file cannot be read. */
int fz_statefile_secret(fz_statefile *sf, unsigned char out[32], fz_error *err);

/* 1 when another connection (another process) changed the file since the
 * last call, or on the first call with the file open. */
int fz_statefile_changed(fz_statefile *sf);

#endif
