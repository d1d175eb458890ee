/* batch.h — scoring a batch of messages with shared state (see batch.c). */
#ifndef FZ_BATCH_H
#define FZ_BATCH_H

#include <stddef.h>

#include "fanzha/engine.h"
#include "fanzha/store.h"

typedef struct fz_batch fz_batch;

fz_batch *fz_batch_new(void);
void fz_batch_free(fz_batch *b);
/* Forget the messages of the last batch (memory is kept for the next). */
void fz_batch_clear(fz_batch *b);
/* Add a message (its fields are copied). 0 or FZ_ENOMEM. */
int fz_batch_add(fz_batch *b, const fz_message *m);
size_t fz_batch_count(const fz_batch *b);
/* Score every message; with a store (may be NULL), the state lookups of the
 * whole batch take two round trips. Failing state is not an error: the
 * messages are scored without it and counted as degraded. Returns 0, or a
 * negative code when scoring itself fails. */
int fz_batch_score(fz_batch *b, const fz_engine *e, fz_worker *w, fz_store *s);
const fz_message *fz_batch_message(const fz_batch *b, size_t i);
/* 1 when message i was scored (0: its text could not be processed). */
int fz_batch_ok(const fz_batch *b, size_t i);
fz_verdict *fz_batch_verdict(fz_batch *b, size_t i);

#endif
