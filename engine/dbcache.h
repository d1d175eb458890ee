/* dbcache.h — the compiled-database cache: a Hyperscan database serialized
 * to disk, keyed by everything that could make it wrong for this process. */
#ifndef FZ_DBCACHE_H
#define FZ_DBCACHE_H

#include "engine_internal.h"

/* Load e->db (and each rule's path) from e's cache directory. 0 when it
 * loaded; non-zero when there is no cache, no usable entry, or it is stale or
 * from another CPU (which is reported as a note, then rebuilt). */
int fz_dbcache_load(fz_engine *e, fz_diags *diags);
/* Store e->db; failures are reported as warnings, never fatal. */
void fz_dbcache_store(fz_engine *e, fz_diags *diags);

#endif
