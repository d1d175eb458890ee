/* stream_internal.h — what stream.c (keys, push, status, dead letters) and
 * stream_worker.c (the consumer loop) share: the bus handle and its
 * connections. */
#ifndef FZ_STREAM_INTERNAL_H
#define FZ_STREAM_INTERNAL_H

#include <hiredis/hiredis.h>

#include "fanzha/stream.h"
#include "store.h"

/* Per command. A worker's blocking read waits at most FZ_STREAM_MAX_BLOCK_MS,
 * so the timeout must be longer; a hung Redis delays a worker this much. */
#define FZ_STREAM_TIMEOUT_MS 4000
#define FZ_STREAM_MAX_BLOCK_MS 3000
#define FZ_STREAM_KEY_PARTITIONS "fz:in:partitions"

struct fz_stream {
    fz_store *bus;          /* a Redis store used only for its connection pool and backoff */
};

/* A connection, or NULL while Redis is unreachable (attempts back off from
 * 50 ms to 2 s). Give it back with broken = 1 after a failed command. */
static inline redisContext *fz_stream_take(fz_stream *s)
{
    return fz_store_redis_take(s->bus);
}

static inline void fz_stream_give(fz_stream *s, redisContext *c, int broken)
{
    fz_store_redis_give(s->bus, c, broken);
}

/* Read the partition count on c, recording `want` first with SET NX when
 * want > 0. *n = 0 when none is recorded. 0, or FZ_EIO (*broken set when
 * the connection failed). */
int fz_stream_partitions_on(redisContext *c, unsigned want, unsigned *n, int *broken);

/* An integer reply's value, or a bulk string's as a number; 0 otherwise. */
long long fz_reply_int(const redisReply *r);

/* 1 when r is an error reply starting with prefix ("NOGROUP"). */
int fz_reply_error_is(const redisReply *r, const char *prefix);

#endif
