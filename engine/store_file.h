/* store_file.h — the embedded store's durable keys in the state file (see
 * store_file.c). Every call but fz_file_load runs inside fz_file_begin /
 * fz_file_commit, with the state file locked by the caller. */
#ifndef FZ_STORE_FILE_H
#define FZ_STORE_FILE_H

#include <stdint.h>

#include "fanzha/message.h"
#include "statefile.h"

int fz_file_begin(fz_statefile *sf, fz_error *err);
/* Commit (ok) or roll back. */
int fz_file_commit(fz_statefile *sf, int ok, fz_error *err);

int fz_file_put_string(fz_statefile *sf, const fz_str *key, const char *value, size_t n, int64_t expires,
                       fz_error *err);
int fz_file_put_field(fz_statefile *sf, const fz_str *key, const char *field, size_t fl, const char *value,
                      size_t vl, int64_t expires, fz_error *err);
int fz_file_del(fz_statefile *sf, const fz_str *key, fz_error *err);
int fz_file_del_field(fz_statefile *sf, const fz_str *key, const char *field, size_t fl, fz_error *err);

/* Called for each live durable string (field NULL) or hash field. */
typedef int (*fz_file_load_fn)(void *ud, const fz_str *key, const fz_str *field, const fz_str *value,
                               int64_t expires);
/* Read every live durable key (none when the file does not exist yet). */
int fz_file_load(fz_statefile *sf, int64_t now, fz_file_load_fn fn, void *ud, fz_error *err);

#endif
