/* store_mem.c — the embedded state backend: the default, needing no server.
 *
 * How it works. One open-addressing hash table of string keys under a mutex
 * (a batch takes the lock once). An entry is a string, a small hash (field ->
 * value), a set of 64-bit member hashes (for distinct counts: exact up to
 * 65,536 members, which is far beyond any campaign threshold), or a small
 * sorted set; each has an expiry. Expired entries are dropped when touched.
 * Memory is bounded: at max_entries, inserting a key evicts the entry closest
 * to expiring among a sample of 16 slots (Redis approximates LRU the same
 * way).
 *
 * With a state directory, the durable keys (residents, reported numbers)
 * are also written through to the state file and loaded from it at start
 * (store_file.c); they are pinned: never evicted. Another process sharing
 * the directory (`fanzha resident add` beside a running scan) is noticed
 * within a second: its change makes the durable keys load again. The rest
 * (verdict cache, campaign counters) lives as long as the process: share it
 * across processes and machines with Redis. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "fanzha/error.h"
#include "statefile.h"
#include "store.h"
#include "store_file.h"

#define SET_CAP 65536
#define EVICT_SAMPLE 16

enum { E_EMPTY = 0, E_TOMB, E_STRING, E_HASH, E_SET, E_ZSET };

typedef struct pair {
    char *a, *b;            /* field/value, or member/score text */
    size_t al, bl;
    double score;           /* zset */
} pair;

typedef struct entry {
    int kind;
    int pinned;             /* durable: kept in the state file, never evicted */
    char *key;
    size_t klen;
    uint64_t h;
    int64_t expires;        /* Unix seconds; 0: never */
    char *value;            /* E_STRING */
    size_t vlen;
    pair *pairs;            /* E_HASH, E_ZSET */
    size_t n_pairs, cap_pairs;
    uint64_t *members;      /* E_SET: open addressing, 0 = empty */
    size_t n_members, cap_members;
} entry;

typedef struct mem {
    pthread_mutex_t mu;
    entry *slots;
    size_t cap, used, live, max_entries;
    uint64_t rng;
    fz_statefile *sf;       /* or NULL: nothing is durable */
    int64_t next_check;     /* when to look for other processes' changes (Unix seconds) */
} mem;

static void entry_clear(entry *e)
{
    free(e->key);
    free(e->value);
    for (size_t i = 0; i < e->n_pairs; i++) {
        free(e->pairs[i].a);
        free(e->pairs[i].b);
    }
    free(e->pairs);
    free(e->members);
    memset(e, 0, sizeof *e);
}

static int live(const entry *e, int64_t now)
{
    return e->kind >= E_STRING && (e->expires == 0 || e->expires > now);
}

static entry *find(mem *m, const fz_str *key, uint64_t h, int64_t now)
{
    for (size_t i = h & (m->cap - 1), probes = 0; probes < m->cap; i = (i + 1) & (m->cap - 1), probes++) {
        entry *e = &m->slots[i];
        if (e->kind == E_EMPTY)
            return NULL;
        if (e->kind >= E_STRING && e->h == h && e->klen == key->len && memcmp(e->key, key->ptr, key->len) == 0) {
            if (live(e, now))
                return e;
            entry_clear(e);             /* expired: gone */
            e->kind = E_TOMB;
            m->live--;
            return NULL;
        }
    }
    return NULL;
}

/* Rebuild the table without its tombstones: twice as large when it is
 * mostly live entries, else at the same size. Expired and evicted entries
 * leave tombstones; a table that only ever doubled would grow with every
 * key it has seen, not with the entries it keeps (a soak with distinct
 * texts took a server with the default cap to 1.9 GB in 10 minutes). */
static int rehash(mem *m)
{
    size_t ncap = !m->cap ? 1024 : (m->live + 1) * 4 <= m->cap ? m->cap : m->cap * 2;
    entry *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        entry *e = &m->slots[i];
        if (e->kind < E_STRING)
            continue;
        size_t j = e->h & (ncap - 1);
        while (ns[j].kind != E_EMPTY)
            j = (j + 1) & (ncap - 1);
        ns[j] = *e;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->live;
    return 0;
}

/* Drop the entry closest to expiring among a few random slots. */
static void evict_one(mem *m, int64_t now)
{
    entry *victim = NULL;
    for (int k = 0; k < EVICT_SAMPLE * 4 && m->cap; k++) {
        m->rng = m->rng * 6364136223846793005ull + 1442695040888963407ull;
        entry *e = &m->slots[(m->rng >> 33) & (m->cap - 1)];
        if (e->kind < E_STRING || e->pinned)
            continue;
        if (!live(e, now)) {
            victim = e;
            break;
        }
        if (!victim || (e->expires && (!victim->expires || e->expires < victim->expires)))
            victim = e;
        if (k >= EVICT_SAMPLE && victim)
            break;
    }
    if (victim) {
        entry_clear(victim);
        victim->kind = E_TOMB;
        m->live--;
    }
}

static entry *create(mem *m, const fz_str *key, uint64_t h, int kind, int64_t now)
{
    if (m->live >= m->max_entries)
        evict_one(m, now);
    if ((m->used + 1) * 2 > m->cap && rehash(m))
        return NULL;
    size_t i = h & (m->cap - 1);
    while (m->slots[i].kind >= E_STRING)
        i = (i + 1) & (m->cap - 1);
    entry *e = &m->slots[i];
    if (e->kind == E_EMPTY)
        m->used++;
    memset(e, 0, sizeof *e);
    if (!(e->key = malloc(key->len + 1)))
        return NULL;
    memcpy(e->key, key->ptr, key->len);
    e->key[key->len] = '\0';
    e->klen = key->len;
    e->h = h;
    e->kind = kind;
    m->live++;
    return e;
}

static entry *get_or_create(mem *m, const fz_str *key, int kind, int64_t now)
{
    uint64_t h = XXH3_64bits(key->ptr, key->len);
    entry *e = find(m, key, h, now);
    if (e && e->kind != kind) {
        entry_clear(e);
        e->kind = E_TOMB;
        m->live--;
        e = NULL;
    }
    return e ? e : create(m, key, h, kind, now);
}

static char *dup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int copy_out(fz_arena *a, const char *s, size_t n, fz_str *out)
{
    char *p = fz_arena_strndup(a, s, n);
    if (!p)
        return -1;
    *out = (fz_str){p, n};
    return 0;
}

static int set_add(entry *e, uint64_t member)
{
    if (member == 0)
        member = 1;
    if ((e->n_members + 1) * 2 > e->cap_members) {
        if (e->n_members >= SET_CAP)
            return 0;                   /* full: the count saturates */
        size_t ncap = e->cap_members ? e->cap_members * 2 : 64;
        uint64_t *nm = calloc(ncap, sizeof *nm);
        if (!nm)
            return -1;
        for (size_t i = 0; i < e->cap_members; i++)
            if (e->members[i]) {
                size_t j = e->members[i] & (ncap - 1);
                while (nm[j])
                    j = (j + 1) & (ncap - 1);
                nm[j] = e->members[i];
            }
        free(e->members);
        e->members = nm;
        e->cap_members = ncap;
    }
    size_t j = member & (e->cap_members - 1);
    while (e->members[j] && e->members[j] != member)
        j = (j + 1) & (e->cap_members - 1);
    if (!e->members[j]) {
        e->members[j] = member;
        e->n_members++;
    }
    return 0;
}

static pair *pair_find(entry *e, const fz_str *a)
{
    for (size_t i = 0; i < e->n_pairs; i++)
        if (e->pairs[i].al == a->len && memcmp(e->pairs[i].a, a->ptr, a->len) == 0)
            return &e->pairs[i];
    return NULL;
}

static pair *pair_add(entry *e, const fz_str *a)
{
    pair *p = pair_find(e, a);
    if (p)
        return p;
    if (e->n_pairs == e->cap_pairs) {
        size_t ncap = e->cap_pairs ? e->cap_pairs * 2 : 8;
        pair *np = realloc(e->pairs, ncap * sizeof *np);
        if (!np)
            return NULL;
        e->pairs = np;
        e->cap_pairs = ncap;
    }
    p = &e->pairs[e->n_pairs];
    memset(p, 0, sizeof *p);
    if (!(p->a = dup(a->ptr, a->len)))
        return NULL;
    p->al = a->len;
    e->n_pairs++;
    return p;
}

static int by_score_desc(const void *x, const void *y)
{
    double a = ((const pair *)x)->score, b = ((const pair *)y)->score;
    return (a < b) - (a > b);
}

static int exec_one(mem *m, fz_op *op, fz_arena *a, int64_t now)
{
    int64_t expires = op->ttl > 0 ? now + op->ttl : 0;
    uint64_t h = XXH3_64bits(op->key.ptr, op->key.len);
    entry *e;
    switch (op->type) {
    case FZ_OP_GET:
        e = find(m, &op->key, h, now);
        op->found = e && e->kind == E_STRING;
        return op->found ? copy_out(a, e->value, e->vlen, &op->result) : 0;
    case FZ_OP_SETNX:
        if ((e = find(m, &op->key, h, now)))
            return 0;
        /* fall through */
    case FZ_OP_SETEX:
        if (!(e = get_or_create(m, &op->key, E_STRING, now)))
            return -1;
        free(e->value);
        if (!(e->value = dup(op->value.ptr, op->value.len)))
            return -1;
        e->vlen = op->value.len;
        e->expires = expires;
        return 0;
    case FZ_OP_HGETALL:
    case FZ_OP_ZTOP:
        e = find(m, &op->key, h, now);
        op->n_pairs = 0;
        if (!e || (e->kind != E_HASH && e->kind != E_ZSET))
            return 0;
        if (op->type == FZ_OP_ZTOP && e->n_pairs)
            qsort(e->pairs, e->n_pairs, sizeof *e->pairs, by_score_desc);
        size_t n = e->n_pairs;
        if (op->type == FZ_OP_ZTOP && op->n >= 0 && (size_t)op->n < n)
            n = (size_t)op->n;
        if (!(op->pairs = fz_arena_alloc(a, (2 * n + 1) * sizeof *op->pairs)))
            return -1;
        for (size_t i = 0; i < n; i++) {
            char score[40];
            const pair *p = &e->pairs[i];
            if (copy_out(a, p->a, p->al, &op->pairs[2 * i]))
                return -1;
            if (e->kind == E_ZSET) {
                int l = snprintf(score, sizeof score, "%.17g", p->score);
                if (copy_out(a, score, (size_t)l, &op->pairs[2 * i + 1]))
                    return -1;
            } else if (copy_out(a, p->b, p->bl, &op->pairs[2 * i + 1])) {
                return -1;
            }
        }
        op->n_pairs = 2 * n;
        return 0;
    case FZ_OP_HSET:
    case FZ_OP_HSET_MAX: {
        if (!(e = get_or_create(m, &op->key, E_HASH, now)))
            return -1;
        pair *p = pair_add(e, &op->field);
        if (!p)
            return -1;
        if (op->type == FZ_OP_HSET_MAX && p->b && strtod(p->b, NULL) >= strtod(op->value.ptr, NULL)) {
            e->expires = expires;       /* the newer report stays */
            return 0;
        }
        free(p->b);
        if (!(p->b = dup(op->value.ptr, op->value.len)))
            return -1;
        p->bl = op->value.len;
        e->expires = expires;
        return 0;
    }
    case FZ_OP_PFADD_COUNT:
        if (!(e = get_or_create(m, &op->key, E_SET, now)))
            return -1;
        for (size_t k = 0; k < (op->n_members ? op->n_members : 1); k++) {
            const fz_str *mb = op->n_members ? &op->members[k] : &op->value;
            if (set_add(e, XXH3_64bits(mb->ptr, mb->len)))
                return -1;
        }
        e->expires = expires;
        op->integer = (int64_t)e->n_members;
        return 0;
    case FZ_OP_DEL:
        e = find(m, &op->key, h, now);
        op->integer = e != NULL;
        if (e) {
            entry_clear(e);
            e->kind = E_TOMB;
            m->live--;
        }
        return 0;
    case FZ_OP_HDEL: {
        e = find(m, &op->key, h, now);
        pair *p = e && e->kind == E_HASH ? pair_find(e, &op->field) : NULL;
        op->integer = p != NULL;
        if (p) {
            free(p->a);
            free(p->b);
            *p = e->pairs[--e->n_pairs];
        }
        return 0;
    }
    case FZ_OP_ZADD_GT: {
        if (!(e = get_or_create(m, &op->key, E_ZSET, now)))
            return -1;
        int fresh = !pair_find(e, &op->value);
        pair *p = pair_add(e, &op->value);
        if (!p)
            return -1;
        if (fresh || op->score > p->score)
            p->score = op->score;
        e->expires = expires;
        return 0;
    }
    }
    return -1;
}

/* --- the durable keys ---------------------------------------------------------------- */

static int load_one(void *ud, const fz_str *key, const fz_str *field, const fz_str *value, int64_t expires)
{
    mem *m = ud;
    entry *e = get_or_create(m, key, field ? E_HASH : E_STRING, 0);
    if (!e)
        return -1;
    e->pinned = 1;
    e->expires = expires;
    if (!field) {
        free(e->value);
        e->vlen = value->len;
        return (e->value = dup(value->ptr, value->len)) ? 0 : -1;
    }
    pair *p = pair_add(e, field);
    if (!p)
        return -1;
    free(p->b);
    p->bl = value->len;
    return (p->b = dup(value->ptr, value->len)) ? 0 : -1;
}

/* Drop the durable keys held in memory and read them from the file again. */
static int reload_durable(mem *m, int64_t now, fz_error *err)
{
    for (size_t i = 0; i < m->cap; i++) {
        entry *e = &m->slots[i];
        if (e->kind >= E_STRING && e->pinned) {
            entry_clear(e);
            e->kind = E_TOMB;
            m->live--;
        }
    }
    return fz_file_load(m->sf, now, load_one, m, err);
}

/* Write what ops changed in durable keys to the file, as memory now has it. */
static int write_one(mem *m, const fz_op *op, int64_t now, fz_error *err)
{
    uint64_t h = XXH3_64bits(op->key.ptr, op->key.len);
    entry *e = find(m, &op->key, h, now);
    if (e)
        e->pinned = 1;
    switch (op->type) {
    case FZ_OP_SETEX:
    case FZ_OP_SETNX:
        return e ? fz_file_put_string(m->sf, &op->key, e->value, e->vlen, e->expires, err) : 0;
    case FZ_OP_HSET:
    case FZ_OP_HSET_MAX: {
        pair *p = e ? pair_find(e, &op->field) : NULL;
        return p ? fz_file_put_field(m->sf, &op->key, p->a, p->al, p->b, p->bl, e->expires, err) : 0;
    }
    case FZ_OP_DEL:
        return fz_file_del(m->sf, &op->key, err);
    case FZ_OP_HDEL:
        return fz_file_del_field(m->sf, &op->key, op->field.ptr, op->field.len, err);
    default:
        return 0;       /* reads; counters and sets are never durable */
    }
}

static int is_write(fz_op_type t)
{
    return t != FZ_OP_GET && t != FZ_OP_HGETALL && t != FZ_OP_ZTOP;
}

static int write_durable(mem *m, const fz_op *ops, size_t n, int64_t now)
{
    size_t writes = 0;
    for (size_t i = 0; i < n; i++)
        writes += is_write(ops[i].type) && fz_store_key_durable(&ops[i].key);
    if (!writes)
        return 0;
    fz_statefile_lock(m->sf);
    int rc = fz_file_begin(m->sf, NULL);
    for (size_t i = 0; i < n && !rc; i++)
        if (is_write(ops[i].type) && fz_store_key_durable(&ops[i].key))
            rc = write_one(m, &ops[i], now, NULL);
    if (fz_file_commit(m->sf, rc == 0, NULL))
        rc = FZ_EIO;
    fz_statefile_unlock(m->sf);
    return rc;
}

/* At most once a second: has another process changed the file? */
static void notice_other_writers(mem *m, int64_t now)
{
    if (now < m->next_check)
        return;
    m->next_check = now + 1;
    fz_statefile_lock(m->sf);
    int fresh = !fz_statefile_db(m->sf, 0, NULL) ? 0 : fz_statefile_changed(m->sf);
    fz_statefile_unlock(m->sf);
    if (fresh) {
        fz_statefile_lock(m->sf);
        reload_durable(m, now, NULL);
        fz_statefile_unlock(m->sf);
    }
}

static int mem_exec(fz_store *s, fz_op *ops, size_t n, fz_arena *results)
{
    mem *m = s->impl;
    int64_t now = (int64_t)time(NULL);
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    if (m->sf)
        notice_other_writers(m, now);
    for (size_t i = 0; i < n && !rc; i++)
        rc = exec_one(m, &ops[i], results, now) ? FZ_ENOMEM : 0;
    if (!rc && m->sf)
        rc = write_durable(m, ops, n, now);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void mem_close(fz_store *s)
{
    mem *m = s->impl;
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].kind >= E_STRING)
            entry_clear(&m->slots[i]);
    free(m->slots);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const fz_store_backend k_mem = {mem_exec, mem_close};

size_t fz_store_mem_slots(fz_store *s)
{
    mem *m = s->impl;
    pthread_mutex_lock(&m->mu);
    size_t cap = m->cap;
    pthread_mutex_unlock(&m->mu);
    return cap;
}

int fz_store_mem_open(fz_store *s, size_t max_entries, fz_error *err)
{
    mem *m = calloc(1, sizeof *m);
    if (!m || rehash(m)) {
        free(m);
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&m->mu, NULL);
    m->max_entries = max_entries;
    m->rng = 0x9E3779B97F4A7C15ull;
    m->sf = s->sf;
    s->impl = m;
    s->be = &k_mem;
    if (m->sf) {
        snprintf(s->desc, sizeof s->desc, "embedded (%.200s)", fz_statefile_path(m->sf));
        fz_statefile_lock(m->sf);
        int rc = fz_file_load(m->sf, (int64_t)time(NULL), load_one, m, err);
        if (!rc)
            fz_statefile_changed(m->sf);    /* the version just loaded */
        fz_statefile_unlock(m->sf);
        if (rc) {
            mem_close(s);
            s->impl = NULL;
            return rc;
        }
    } else {
        snprintf(s->desc, sizeof s->desc, "embedded");
    }
    return 0;
}
