/* store.h — the state interface behind fanzha/store.h: a batch of primitive
 * operations that a backend executes in one go (Redis: one pipelined round
 * trip; embedded: one pass under a lock).
 *
 * Callers build an array of fz_op, call fz_store_exec, and read results
 * from the same array; result strings live in the caller's arena. Keys are
 * built by the functions below so that every part of fanzha names things
 * the same way (DESIGN.md §6). */
#ifndef FZ_STORE_INTERNAL_H
#define FZ_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "arena.h"
#include "fanzha/message.h"
#include "fanzha/store.h"

typedef enum fz_op_type {
    FZ_OP_GET,              /* key -> value, or not found */
    FZ_OP_SETEX,            /* key = value, expiring after ttl seconds */
    FZ_OP_SETNX,            /* key = value unless it exists, expiring after ttl */
    FZ_OP_HGETALL,          /* key -> field/value pairs */
    FZ_OP_HSET,             /* key.field = value; the key expires after ttl */
    FZ_OP_HSET_MAX,         /* key.field = value unless it holds a larger number; expires after ttl */
    FZ_OP_PFADD_COUNT,      /* add value (or members) to the key's distinct set; -> its size; expires after ttl */
    FZ_OP_ZADD_GT,          /* key: member's score = max(score, current); expires after ttl */
    FZ_OP_ZTOP,             /* key -> the n members with the highest scores, with their scores */
    FZ_OP_DEL,              /* remove key; integer = 1 if it existed */
    FZ_OP_HDEL              /* remove key.field; integer = 1 if it existed */
} fz_op_type;

typedef struct fz_op {
    fz_op_type type;
    fz_str key, field, value;
    int64_t ttl;
    double score;
    int64_t n;
    const fz_str *members;  /* PFADD_COUNT: several members at once (else value) */
    size_t n_members;
    /* results */
    int found;              /* GET */
    fz_str result;          /* GET */
    fz_str *pairs;          /* HGETALL, ZTOP: field, value, field, value ... */
    size_t n_pairs;
    int64_t integer;        /* PFADD_COUNT, DEL, HDEL */
} fz_op;

typedef struct fz_store_backend {
    /* Execute every op; 0, or FZ_EIO when the store failed (no result is
     * then trusted). Results are allocated in `results`. */
    int (*exec)(fz_store *s, fz_op *ops, size_t n, fz_arena *results);
    void (*close)(fz_store *s);
} fz_store_backend;

struct fz_statefile;

struct fz_store {
    const fz_store_backend *be;
    void *impl;
    struct fz_statefile *sf;    /* the state directory's file, or NULL */
    unsigned char hash_key[32];
    unsigned char seal_key[32]; /* for records that must be read back (residents, warnings) */
    char desc[256];
    atomic_ullong round_trips, errors, reconnects, cache_hits, cache_misses, degraded;
};

int fz_store_exec(fz_store *s, fz_op *ops, size_t n, fz_arena *results);

/* Backends. */
int fz_store_mem_open(fz_store *s, size_t max_entries, fz_error *err);
/* The embedded store's table size in slots (for tests: it must follow the
 * entries kept, not every key ever written). */
size_t fz_store_mem_slots(fz_store *s);
int fz_store_redis_open(fz_store *s, const char *url, double timeout_ms, fz_error *err);

/* A phone number's keyed hash (32 hex digits), from its canonical digits;
 * -1 when the text is not a number. */
int fz_store_number_hash(const fz_store *s, const char *number, size_t n, char out[33]);
/* Any other identifier's keyed hash (reporters, recipients). */
void fz_store_id_hash(const fz_store *s, const char *id, size_t n, char out[33]);

/* Seal (encrypt and authenticate) n bytes into out (replacing its
 * content): nonce, then ciphertext. 0 or FZ_ENOMEM. */
int fz_store_seal(const fz_store *s, const void *plain, size_t n, struct fz_buf *out);
/* Open a sealed record into out (NUL-terminated). 0, or FZ_EPARSE when it
 * was not sealed with this store's secret or was altered. */
int fz_store_unseal(const fz_store *s, const void *sealed, size_t n, struct fz_buf *out);

/* Redis only: a pooled connection for commands outside the op set (the
 * outbox's streams and scripts); NULL when the store is embedded or Redis
 * is down (reconnects back off). Give it back with broken = 1 after a
 * failed command, so that it is dropped and Redis counted as down. */
struct redisContext;
struct redisContext *fz_store_redis_take(fz_store *s);
void fz_store_redis_give(fz_store *s, struct redisContext *c, int broken);
int fz_store_is_redis(const fz_store *s);

/* Keys the embedded store keeps in its state file (residents, reports). */
int fz_store_key_durable(const fz_str *key);

/* Decayed count of distinct reporters from HGETALL pairs (reporter -> ts). */
double fz_reputation(const fz_str *pairs, size_t n_pairs, int64_t now, double half_life_days, size_t *reporters,
                     int64_t *last);

#endif
