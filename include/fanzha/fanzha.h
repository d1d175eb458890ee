/* fanzha/fanzha.h — the whole public API of libfanzha.
 *
 * Data flows one way: a record is read (message.h), its text normalized
 * (normalize.h), entities extracted, rules matched and scored by an engine
 * (engine.h) into a verdict (verdict.h); scan.h runs that over streams. */
#ifndef FANZHA_H
#define FANZHA_H

#include "error.h"
#include "buf.h"
#include "normalize.h"
#include "message.h"
#include "verdict.h"
#include "engine.h"
#include "rules.h"
#include "scan.h"
#include "bench.h"
#include "store.h"
#include "resident.h"
#include "gateway.h"
#include "outbox.h"
#include "serve.h"
#include "stream.h"
#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Library version, "MAJOR.MINOR.PATCH". */
const char *fz_version(void);

#ifdef __cplusplus
}
#endif
#endif
