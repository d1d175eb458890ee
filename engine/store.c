/* store.c — the state interface: opening a backend by URL, keyed hashing
 * of numbers and identifiers, reputation arithmetic, and the operations that
 * tools call directly (reports, a number's standing, live campaigns).
 *
 * Numbers never reach a store in clear: the canonical digits are hashed with
 * SipHash-2-4 in its 128-bit form (libsodium's crypto_shorthash_siphashx24:
 * a keyed hash built for short inputs, a few dozen nanoseconds a number),
 * keyed by a secret that every process sharing a store must share
 * ($FANZHA_HASH_KEY, itself reduced to a key with BLAKE2b). Reputation is the decayed count of distinct
 * reporters: each reporter counts once, with weight 2^-(age / half-life) of
 * its latest report, so an old report fades and one angry reporter cannot
 * condemn a number. */
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"
#include "statefile.h"
#include "store.h"

static pthread_once_t g_sodium_once = PTHREAD_ONCE_INIT;
static int g_sodium_ok;

static void sodium_setup(void)
{
    g_sodium_ok = sodium_init() >= 0;
}

/* Two keys from one secret: one for hashing (numbers as keys), one for
 * sealing (records read back). Knowing one tells nothing of the other. */
static void set_keys(fz_store *s, const void *secret, size_t len)
{
    unsigned char master[32];
    crypto_generichash(master, sizeof master, secret, len, NULL, 0);
    memcpy(s->hash_key, master, sizeof s->hash_key);
    crypto_generichash(s->seal_key, sizeof s->seal_key, (const unsigned char *)"fanzha seal", 11, master,
                       sizeof master);
    sodium_memzero(master, sizeof master);
}

/* The secret: the one given; else, for an embedded store with a state
 * directory, the directory's own (random, kept in state.db); else a
 * built-in one, which only an in-memory store or a test should rely on
 * (every process sharing a Redis must be given the same FANZHA_HASH_KEY). */
static int choose_keys(fz_store *s, const fz_store_options *o, const char *key, fz_error *err)
{
    static const char builtin[] = "fanzha built-in number-hashing key: set FANZHA_HASH_KEY in production";
    if (key) {
        set_keys(s, key, strlen(key));
        return 0;
    }
    if (!s->sf || (o->url && *o->url)) {
        set_keys(s, builtin, sizeof builtin - 1);
        return 0;
    }
    unsigned char own[32];
    int rc = fz_statefile_secret(s->sf, own, err);
    if (!rc)
        set_keys(s, own, sizeof own);
    sodium_memzero(own, sizeof own);
    return rc;
}

int fz_store_open(const fz_store_options *o, fz_store **out, fz_error *err)
{
    pthread_once(&g_sodium_once, sodium_setup);
    *out = NULL;
    if (!g_sodium_ok)
        return fz_error_set(err, FZ_EINVAL, "libsodium cannot be initialized");
    fz_store_options none = {0};
    if (!o)
        o = &none;
    fz_store *s = calloc(1, sizeof *s);
    if (!s)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    const char *key = o->hash_key ? o->hash_key : getenv("FANZHA_HASH_KEY");
    int rc = o->dir && *o->dir ? fz_statefile_new(o->dir, &s->sf, err) : 0;
    if (rc) {
        free(s);
        return rc;
    }
    rc = choose_keys(s, o, key && *key ? key : NULL, err);
    if (rc) {
        fz_statefile_free(s->sf);
        free(s);
        return rc;
    }
    if (o->url && *o->url)
        rc = fz_store_redis_open(s, o->url, o->timeout_ms > 0 ? o->timeout_ms : 200, err);
    else
        rc = fz_store_mem_open(s, o->max_entries ? o->max_entries : 250000, err);
    if (rc) {
        fz_statefile_free(s->sf);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void fz_store_close(fz_store *s)
{
    if (!s)
        return;
    if (s->be)
        s->be->close(s);
    fz_statefile_free(s->sf);
    sodium_memzero(s->hash_key, sizeof s->hash_key);
    sodium_memzero(s->seal_key, sizeof s->seal_key);
    free(s);
}

const char *fz_store_describe(const fz_store *s)
{
    return s->desc;
}

void fz_store_get_stats(const fz_store *s, fz_store_stats *o)
{
    o->round_trips = atomic_load(&s->round_trips);
    o->errors = atomic_load(&s->errors);
    o->reconnects = atomic_load(&s->reconnects);
    o->cache_hits = atomic_load(&s->cache_hits);
    o->cache_misses = atomic_load(&s->cache_misses);
    o->degraded = atomic_load(&s->degraded);
}

int fz_store_exec(fz_store *s, fz_op *ops, size_t n, fz_arena *results)
{
    if (n == 0)
        return 0;
    atomic_fetch_add(&s->round_trips, 1);
    int rc = s->be->exec(s, ops, n, results);
    if (rc)
        atomic_fetch_add(&s->errors, 1);
    return rc;
}

/* --- hashing ---------------------------------------------------------------------- */

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void fz_store_id_hash(const fz_store *s, const char *id, size_t n, char out[33])
{
    unsigned char h[crypto_shorthash_siphashx24_BYTES];
    crypto_shorthash_siphashx24(h, (const unsigned char *)id, n, s->hash_key);
    hex(h, sizeof h, out);
}

int fz_store_number_hash(const fz_store *s, const char *number, size_t n, char out[33])
{
    fz_number num;
    if (fz_number_canon(number, n, &num))
        return -1;
    /* "+" marks an international number: +852... and 852... are different. */
    char canon[32];
    int len = snprintf(canon, sizeof canon, "%s%s", num.international ? "+" : "", num.digits);
    fz_store_id_hash(s, canon, (size_t)len, out);
    return 0;
}

/* --- sealing ---------------------------------------------------------------------- */

int fz_store_seal(const fz_store *s, const void *plain, size_t n, fz_buf *out)
{
    fz_buf_clear(out);
    size_t total = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
    if (fz_buf_reserve(out, total))
        return FZ_ENOMEM;
    unsigned char *nonce = (unsigned char *)out->data;
    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, plain, n, nonce, s->seal_key);
    out->len = total;
    out->data[total] = '\0';
    return 0;
}

int fz_store_unseal(const fz_store *s, const void *sealed, size_t n, fz_buf *out)
{
    fz_buf_clear(out);
    const unsigned char *in = sealed;
    if (n < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return FZ_EPARSE;
    size_t plain = n - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    if (fz_buf_reserve(out, plain))
        return FZ_ENOMEM;
    if (crypto_secretbox_open_easy((unsigned char *)out->data, in + crypto_secretbox_NONCEBYTES,
                                   n - crypto_secretbox_NONCEBYTES, in, s->seal_key))
        return FZ_EPARSE;
    out->len = plain;
    out->data[plain] = '\0';
    return 0;
}

int fz_store_key_durable(const fz_str *key)
{
    static const char *const prefixes[] = {"fz:res:", "fz:num:"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t l = strlen(prefixes[i]);
        if (key->len >= l && memcmp(key->ptr, prefixes[i], l) == 0)
            return 1;
    }
    return 0;
}

/* --- reputation ---------------------------------------------------------------------- */

double fz_reputation(const fz_str *pairs, size_t n_pairs, int64_t now, double half_life_days, size_t *reporters,
                     int64_t *last)
{
    double sum = 0, half_life = half_life_days > 0 ? half_life_days * 86400.0 : 30 * 86400.0;
    size_t count = 0;
    int64_t newest = 0;
    for (size_t i = 0; i + 1 < n_pairs; i += 2) {
        char buf[32];
        size_t l = pairs[i + 1].len < sizeof buf - 1 ? pairs[i + 1].len : sizeof buf - 1;
        memcpy(buf, pairs[i + 1].ptr, l);
        buf[l] = '\0';
        int64_t ts = strtoll(buf, NULL, 10);
        double age = now > ts ? (double)(now - ts) : 0;
        sum += exp2(-age / half_life);
        count++;
        if (ts > newest)
            newest = ts;
    }
    if (reporters)
        *reporters = count;
    if (last)
        *last = newest;
    return sum;
}

/* Keep a number's reports for ten half-lives (then they weigh < 0.1%). */
static int64_t report_ttl(double half_life_days)
{
    double days = half_life_days > 0 ? half_life_days : 30;
    return (int64_t)(days * 86400.0 * 10);
}

int fz_store_report(fz_store *s, const fz_report *r, size_t n, double half_life_days, size_t *bad, fz_error *err)
{
    fz_arena a;
    fz_arena_init(&a, 64 * 1024);
    fz_op *ops = calloc(n ? n : 1, sizeof *ops);
    size_t k = 0;
    *bad = 0;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; ops && i < n; i++) {
        char nh[33], rh[33], ts[24];
        if (!r[i].number || fz_store_number_hash(s, r[i].number, strlen(r[i].number), nh)) {
            (*bad)++;
            continue;
        }
        const char *who = r[i].reporter && *r[i].reporter ? r[i].reporter : "anonymous";
        fz_store_id_hash(s, who, strlen(who), rh);
        snprintf(ts, sizeof ts, "%lld", (long long)(r[i].ts > 0 ? r[i].ts : now));
        char *key = fz_arena_alloc(&a, 48);
        if (!key)
            break;
        snprintf(key, 48, "fz:num:%s", nh);
        ops[k++] = (fz_op){.type = FZ_OP_HSET_MAX,
                           .key = {key, strlen(key)},
                           .field = {fz_arena_strdup(&a, rh), 32},
                           .value = {fz_arena_strdup(&a, ts), strlen(ts)},
                           .ttl = report_ttl(half_life_days)};
    }
    int rc = ops ? fz_store_exec(s, ops, k, &a) : FZ_ENOMEM;
    free(ops);
    fz_arena_free(&a);
    if (rc)
        return fz_error_set(err, rc, "the store failed while recording reports (%s)", fz_store_describe(s));
    return 0;
}

int fz_store_lookup(fz_store *s, const char *number, double half_life_days, fz_standing *out, fz_error *err)
{
    char nh[33], key[48];
    memset(out, 0, sizeof *out);
    if (fz_store_number_hash(s, number, strlen(number), nh))
        return fz_error_set(err, FZ_EINVAL, "'%s' is not a phone number", number);
    snprintf(key, sizeof key, "fz:num:%s", nh);
    fz_arena a;
    fz_arena_init(&a, 16 * 1024);
    fz_op op = {.type = FZ_OP_HGETALL, .key = {key, strlen(key)}};
    int rc = fz_store_exec(s, &op, 1, &a);
    if (!rc)
        out->reputation = fz_reputation(op.pairs, op.n_pairs, (int64_t)time(NULL), half_life_days, &out->reporters,
                                        &out->last_report);
    fz_arena_free(&a);
    return rc ? fz_error_set(err, rc, "the store failed (%s)", fz_store_describe(s)) : 0;
}

int fz_store_campaigns(fz_store *s, fz_campaign *out, size_t *n, fz_error *err)
{
    char key[48];
    snprintf(key, sizeof key, "fz:camps:%lld", (long long)(time(NULL) / 3600));
    fz_arena a;
    fz_arena_init(&a, 64 * 1024);
    fz_op top = {.type = FZ_OP_ZTOP, .key = {key, strlen(key)}, .n = (int64_t)*n};
    int rc = fz_store_exec(s, &top, 1, &a);
    size_t k = 0;
    fz_op *samples = rc ? NULL : calloc(top.n_pairs / 2 + 1, sizeof *samples);
    for (size_t i = 0; samples && i + 1 < top.n_pairs && k < *n; i += 2, k++) {
        fz_campaign *c = &out[k];
        memset(c, 0, sizeof *c);
        size_t l = top.pairs[i].len < 32 ? top.pairs[i].len : 32;
        memcpy(c->template_hash, top.pairs[i].ptr, l);
        char buf[32];
        size_t sl = top.pairs[i + 1].len < sizeof buf - 1 ? top.pairs[i + 1].len : sizeof buf - 1;
        memcpy(buf, top.pairs[i + 1].ptr, sl);
        buf[sl] = '\0';
        c->recipients = (uint64_t)strtod(buf, NULL);
        char *skey = fz_arena_alloc(&a, 64);
        if (!skey)
            break;
        snprintf(skey, 64, "fz:tmpl:%s", c->template_hash);
        samples[k] = (fz_op){.type = FZ_OP_GET, .key = {skey, strlen(skey)}};
    }
    if (!rc && samples && k)
        rc = fz_store_exec(s, samples, k, &a);
    for (size_t i = 0; !rc && i < k; i++)
        if (samples[i].found)
            snprintf(out[i].sample, sizeof out[i].sample, "%.*s", (int)samples[i].result.len, samples[i].result.ptr);
    free(samples);
    fz_arena_free(&a);
    if (rc)
        return fz_error_set(err, rc, "the store failed (%s)", fz_store_describe(s));
    *n = k;
    return 0;
}
