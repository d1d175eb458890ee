/* testutil.h — shared helpers for the cmocka unit tests. */
#ifndef FZ_TESTUTIL_H
#define FZ_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>

#include <sys/types.h>

#include "fanzha/fanzha.h"

/* Path of a file under the source tree (tests run from there anyway). */
const char *tu_path(const char *rel);

/* An engine built from a rule pack directory (relative to the source tree);
 * fails the test if it does not build. */
fz_engine *tu_engine(const char *rules_dir);

/* Collected diagnostics of a pack that is expected to fail. */
typedef struct tu_diags {
    char lines[64][1200];
    int n;
    int errors;
} tu_diags;

/* Build an engine from rules_dir expecting it to fail; returns the code. */
int tu_engine_fails(const char *rules_dir, tu_diags *out);
/* Build an engine from rules_dir collecting every diagnostic (warnings
 * too); returns fz_engine_new's code and the engine (NULL on failure). */
int tu_engine_collect(const char *rules_dir, tu_diags *out, fz_engine **e);
/* 1 when some collected diagnostic contains all of the given substrings. */
int tu_diags_have(const tu_diags *d, const char *a, const char *b);

/* Write files into a fresh temporary pack directory: pairs of (relative
 * path, content), NULL-terminated. Returns the directory (static storage). */
const char *tu_pack(const char *first_path, ...);

/* An engine from an absolute directory (a tu_pack result, say); fails the
 * test if it does not build. */
fz_engine *tu_engine_dir(const char *dir);

/* The hit of rule_id in v; 1 when found (out filled), 0 when the rule did
 * not produce a hit. */
int tu_hit(const fz_verdict *v, const char *rule_id, fz_hit *out);

/* Scan text (and optional sender) and return the verdict as a JSON line
 * (static storage, valid until the next call). */
const char *tu_scan_json(fz_engine *e, const char *text, const char *from);

/* Scan a text (and optional sender) with a shared worker and verdict. */
fz_verdict *tu_scan(fz_engine *e, const char *text, const char *from);

/* The verdict as a JSON line (static storage). */
const char *tu_json(fz_verdict *v, const char *text, const char *from);

void tu_cleanup(void);

/* --- a private Redis ------------------------------------------------------------------
 *
 * tu_redis_start() runs a real redis-server (from $PATH, or $REDIS_SERVER)
 * bound to 127.0.0.1 on a free port (found by binding port 0; a clash with
 * another process is retried on a new port), with no persistence (--save ''
 * --appendonly no) in a temporary --dir, and waits until it answers PING.
 * The server dies with the test process (PR_SET_PDEATHSIG), and
 * tu_redis_stop() also runs at exit, so a failing test leaves nothing
 * behind. One server at a time. */

/* Start the server; returns its URL, "redis://127.0.0.1:PORT" (static
 * storage). Fails the test when no server comes up. */
const char *tu_redis_start(void);
/* Stop it (SIGTERM, then wait) and remove its directory; no-op when none runs. */
void tu_redis_stop(void);
/* SIGKILL, as a crash would; the port is kept for tu_redis_restart. */
void tu_redis_kill(void);
/* A fresh (empty) server on the same port as the last one. */
const char *tu_redis_restart(void);
/* The URL and port of the last server started (NULL / 0 before any). */
const char *tu_redis_url(void);
int tu_redis_port(void);
/* A new hiredis connection to the server (free with redisFree); fails the test if none. */
struct redisContext *tu_redis_connect(void);
/* Empty every database of the server. */
void tu_redis_flush(void);
/* A loopback port that nothing listens on (free when this returns). */
int tu_free_port(void);

/* Start argv[0] (looked up in PATH) with stdin from /dev/null and stdout and
 * stderr appended to logpath, in dir (NULL: here); the child dies with the
 * test process, whatever kills it. The child's pid. */
pid_t tu_spawn(const char *logpath, const char *dir, char *const *argv);
/* Remove a directory and everything in it (a message if that fails);
 * 0 when it is gone. */
int tu_rmtree(const char *dir);

#endif
