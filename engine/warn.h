/* warn.h — the warning stage: which scored messages warn whom (warn.c). */
#ifndef FZ_WARN_H
#define FZ_WARN_H

#include <stdint.h>

#include "batch.h"
#include "fanzha/outbox.h"
#include "fanzha/scan.h"

/* Decide and queue the warnings of a scored batch: messages addressed to a
 * registered resident that score at the warn threshold, or come from a
 * number reported by enough people. The residents of the whole batch are
 * looked up in one round trip and the warnings queued in one more. Each
 * verdict records what happened to its warning; counts go to st. now is
 * Unix seconds. A failing store or outbox is counted, never fatal. */
void fz_warn_batch(fz_outbox *o, fz_store *s, const fz_engine *e, fz_batch *b, int64_t now, fz_scan_stats *st);

/* The pieces of the decision, for tests and tools: the local day number
 * and the end of the quiet window that holds now (now itself if none). */
int64_t fz_warn_local_day(int64_t now, int utc_offset_min);
int64_t fz_warn_due(int64_t now, int utc_offset_min, int quiet_start, int quiet_end);

#endif
