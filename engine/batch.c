/* batch.c — scoring a batch of messages against shared state, with two
 * round trips to the store per batch, never one per message.
 *
 * How it works.
 *   Pass A, each message: normalize, extract, classify its numbers, and
 *     compute its template key: the masked text, the sender's class and the
 *     kinds of entity present (everything a verdict depends on besides the
 *     words that the mask hides). One GET per message goes into batch 1.
 *   Batch 1: the verdict cache.
 *   Pass B, each message: a cache hit rebuilds the verdict from the fired
 *     rules of the entry (evidence is found again in this message); a miss
 *     is scored in full and its entry queued (SETEX). Both queue the state
 *     lookups: the sender's and each callback number's reports (HGETALL of
 *     the keyed hash), and the campaign counter of the template for this
 *     hour (PFADD of the recipient's hash, PFCOUNT).
 *   Batch 2: the cache stores and the state lookups.
 *   Pass C, each message: reputation and campaign scores are added and the
 *     action decided again. Templates that crossed the campaign threshold are
 *     recorded in the hour's campaign index (a third, small batch, only when
 *     there is one).
 * When the store fails, the batch is scored without state (as a message
 * with no store would be) and every message in it is counted as degraded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "batch.h"
#include "engine_internal.h"
#include "store.h"
#include "template.h"

#define MAX_CALLBACKS 4

typedef struct slot {
    int ok;                 /* prepared and scored */
    size_t get_op;          /* cache GET in batch 1 */
    long sender_op;         /* HGETALL in batch 2, or -1 */
    long callback_op[MAX_CALLBACKS];
    long camp_op;           /* PFADD_COUNT in batch 2, or -1 */
} slot;

/* Templates scored in full in this batch: a repeat reuses the entry. */
typedef struct seen {
    const char *key;        /* the cache key, or NULL */
    size_t set_op;          /* the SETEX op holding its entry */
} seen;

/* Ops by key within a batch: one lookup per distinct key, however many
 * messages share it (a campaign's repeats, its callback number). */
typedef struct keyed {
    const char *key;
    size_t len;
    size_t op;
} keyed;

typedef struct camp_ref {
    const char *template_hash;
    fz_str member;
    size_t msg;
} camp_ref;

struct fz_batch {
    seen *seen;
    size_t seen_cap;
    keyed *keys;
    size_t keys_cap;
    camp_ref *camps;
    size_t n_camps, camps_cap;
    fz_arena arena;         /* message copies and keys; reset per batch */
    fz_arena results;       /* store results; reset per batch */
    fz_message *msgs;
    fz_verdict **verdicts;
    slot *slots;
    size_t n, cap, n_verdicts;
    fz_op *ops;
    size_t n_ops, cap_ops;
    fz_buf masked, entry;
};

fz_batch *fz_batch_new(void)
{
    fz_batch *b = calloc(1, sizeof *b);
    if (b) {
        fz_arena_init(&b->arena, 256 * 1024);
        fz_arena_init(&b->results, 256 * 1024);
    }
    return b;
}

void fz_batch_free(fz_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_verdicts; i++)
        fz_verdict_free(b->verdicts[i]);
    free(b->verdicts);
    free(b->msgs);
    free(b->slots);
    free(b->ops);
    free(b->seen);
    free(b->keys);
    free(b->camps);
    fz_buf_free(&b->masked);
    fz_buf_free(&b->entry);
    fz_arena_free(&b->arena);
    fz_arena_free(&b->results);
    free(b);
}

void fz_batch_clear(fz_batch *b)
{
    b->n = 0;
    b->n_ops = 0;
    fz_arena_reset(&b->arena);
    fz_arena_reset(&b->results);
}

size_t fz_batch_count(const fz_batch *b) { return b->n; }
const fz_message *fz_batch_message(const fz_batch *b, size_t i) { return &b->msgs[i]; }
fz_verdict *fz_batch_verdict(fz_batch *b, size_t i) { return b->verdicts[i]; }
int fz_batch_ok(const fz_batch *b, size_t i) { return b->slots[i].ok; }

static int copy_str(fz_arena *a, fz_str *s)
{
    if (!s->len) {
        s->ptr = "";
        return 0;
    }
    char *p = fz_arena_strndup(a, s->ptr, s->len);
    if (!p)
        return FZ_ENOMEM;
    s->ptr = p;
    return 0;
}

int fz_batch_add(fz_batch *b, const fz_message *m)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        fz_message *nm = realloc(b->msgs, cap * sizeof *nm);
        if (nm)
            b->msgs = nm;
        slot *ns = realloc(b->slots, cap * sizeof *ns);
        if (ns)
            b->slots = ns;
        fz_verdict **nv = realloc(b->verdicts, cap * sizeof *nv);
        if (nv)
            b->verdicts = nv;
        if (!nm || !ns || !nv)
            return FZ_ENOMEM;
        b->cap = cap;
    }
    while (b->n_verdicts <= b->n) {
        if (!(b->verdicts[b->n_verdicts] = fz_verdict_new()))
            return FZ_ENOMEM;
        b->n_verdicts++;
    }
    fz_message c = *m;
    if (copy_str(&b->arena, &c.id_json) || copy_str(&b->arena, &c.from) || copy_str(&b->arena, &c.to) ||
        copy_str(&b->arena, &c.text) || copy_str(&b->arena, &c.ts) || copy_str(&b->arena, &c.extra_json))
        return FZ_ENOMEM;
    b->msgs[b->n++] = c;
    return 0;
}

static fz_op *new_op(fz_batch *b)
{
    if (b->n_ops == b->cap_ops) {
        size_t cap = b->cap_ops ? b->cap_ops * 2 : 4096;
        fz_op *no = realloc(b->ops, cap * sizeof *no);
        if (!no)
            return NULL;
        b->ops = no;
        b->cap_ops = cap;
    }
    fz_op *op = &b->ops[b->n_ops++];
    memset(op, 0, sizeof *op);
    return op;
}

static int keys_reset(fz_batch *b, size_t expected)
{
    size_t need = 64;
    while (need < expected * 2)
        need *= 2;
    if (b->keys_cap < need) {
        keyed *nk = realloc(b->keys, need * sizeof *nk);
        if (!nk)
            return FZ_ENOMEM;
        b->keys = nk;
        b->keys_cap = need;
    }
    memset(b->keys, 0, b->keys_cap * sizeof *b->keys);
    return 0;
}

/* The slot for key: empty (key == NULL) when the key is new. */
static keyed *keys_slot(fz_batch *b, const char *key, size_t len)
{
    size_t mask = b->keys_cap - 1;
    for (size_t i = XXH3_64bits(key, len) & mask;; i = (i + 1) & mask)
        if (!b->keys[i].key || (b->keys[i].len == len && memcmp(b->keys[i].key, key, len) == 0))
            return &b->keys[i];
}

static fz_str arena_printf(fz_arena *a, const char *fmt, const char *x, const char *y)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, fmt, x, y);
    char *p = n > 0 ? fz_arena_strndup(a, buf, (size_t)n) : NULL;
    return (fz_str){p ? p : "", p ? (size_t)n : 0};
}

/* Pass A: prepare every message and queue its cache lookup. */
static int pass_prepare(fz_batch *b, const fz_engine *e, fz_worker *w, int with_store)
{
    if (with_store && keys_reset(b, b->n))
        return FZ_ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        slot *sl = &b->slots[i];
        fz_verdict *v = b->verdicts[i];
        memset(sl, 0, sizeof *sl);
        int rc = fz_scan_prepare(e, w, &b->msgs[i], v);
        if (rc == FZ_ENOMEM)
            return rc;
        sl->ok = rc == 0;
        if (!sl->ok || !with_store)
            continue;
        size_t len;
        const char *text = fz_norm_text(w->norm, &len);
        int32_t salt[2] = {(int32_t)v->sender_class, (int32_t)v->entity_kinds};
        if (fz_template(text, len, salt, sizeof salt, &b->masked, v->template_hash))
            return FZ_ENOMEM;
        fz_op *op = new_op(b);
        if (!op)
            return FZ_ENOMEM;
        /* The key: the template (shared by a campaign's variants), then the
         * exact text: a verdict is reused only for the same normalized text,
         * since rules see what the template masks (see fz_cache_entry). */
        char exact[24];
        snprintf(exact, sizeof exact, "%016llx", (unsigned long long)XXH3_64bits(text, len));
        char prefix[160];
        snprintf(prefix, sizeof prefix, "fz:v:{%s}:", e->version);
        char tail[64];
        snprintf(tail, sizeof tail, "%s:%s", v->template_hash, exact);
        op->type = FZ_OP_GET;
        op->key = arena_printf(&b->arena, "%s%s", prefix, tail);
        keyed *k = keys_slot(b, op->key.ptr, op->key.len);
        if (k->key) {
            b->n_ops--;                 /* the same key as an earlier message */
            sl->get_op = k->op;
        } else {
            sl->get_op = b->n_ops - 1;
            *k = (keyed){op->key.ptr, op->key.len, sl->get_op};
        }
    }
    return 0;
}

static long queue_reports(fz_batch *b, const fz_store *s, const char *number, size_t n)
{
    char h[33], key[48];
    if (fz_store_number_hash(s, number, n, h))
        return -1;
    int kl = snprintf(key, sizeof key, "fz:num:%s", h);
    keyed *k = keys_slot(b, key, (size_t)kl);
    if (k->key)
        return (long)k->op;
    fz_op *op = new_op(b);
    if (!op)
        return -2;
    op->type = FZ_OP_HGETALL;
    op->key = arena_printf(&b->arena, "%s%s", key, "");
    *k = (keyed){op->key.ptr, op->key.len, b->n_ops - 1};
    return (long)(b->n_ops - 1);
}

static int by_template(const void *x, const void *y)
{
    return strcmp(((const camp_ref *)x)->template_hash, ((const camp_ref *)y)->template_hash);
}

/* One PFADD per template with all its recipients of this batch. A message
 * then sees the count after the whole batch is added: within a batch, the
 * order of its messages does not matter. */
static int queue_campaigns(fz_batch *b, const char *hour)
{
    if (!b->n_camps)
        return 0;
    qsort(b->camps, b->n_camps, sizeof *b->camps, by_template);
    for (size_t i = 0; i < b->n_camps;) {
        size_t j = i;
        while (j < b->n_camps && strcmp(b->camps[j].template_hash, b->camps[i].template_hash) == 0)
            j++;
        fz_str *members = fz_arena_alloc(&b->arena, (j - i) * sizeof *members);
        fz_op *op = members ? new_op(b) : NULL;
        if (!op)
            return FZ_ENOMEM;
        for (size_t k = i; k < j; k++)
            members[k - i] = b->camps[k].member;
        op->type = FZ_OP_PFADD_COUNT;
        op->key = arena_printf(&b->arena, "fz:camp:%s:%s", b->camps[i].template_hash, hour);
        op->members = members;
        op->n_members = j - i;
        op->ttl = 7200;
        for (size_t k = i; k < j; k++)
            b->slots[b->camps[k].msg].camp_op = (long)(b->n_ops - 1);
        i = j;
    }
    return 0;
}

static seen *seen_slot(fz_batch *b, const fz_str *key)
{
    size_t mask = b->seen_cap - 1;
    for (size_t i = XXH3_64bits(key->ptr, key->len) & mask;; i = (i + 1) & mask)
        if (!b->seen[i].key || strcmp(b->seen[i].key, key->ptr) == 0)
            return &b->seen[i];
}

/* Pass B: score (from the cache, from an earlier message of this batch
 * with the same template, or in full) and queue the state lookups. */
static int pass_score(fz_batch *b, const fz_engine *e, fz_worker *w, fz_store *s, int have_cache)
{
    const fz_ruleset *rs = e->rs;
    char hour[24];
    snprintf(hour, sizeof hour, "%lld", (long long)(time(NULL) / 3600));
    size_t need = 16;
    while (need < b->n * 2)
        need *= 2;
    if (s && b->seen_cap < need) {
        seen *ns = realloc(b->seen, need * sizeof *ns);
        if (!ns)
            return FZ_ENOMEM;
        b->seen = ns;
        b->seen_cap = need;
    }
    if (s)
        memset(b->seen, 0, b->seen_cap * sizeof *b->seen);
    b->n_camps = 0;
    if (s && keys_reset(b, b->n * (MAX_CALLBACKS + 1)))
        return FZ_ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        slot *sl = &b->slots[i];
        fz_verdict *v = b->verdicts[i];
        const fz_message *m = &b->msgs[i];
        sl->sender_op = sl->camp_op = -1;
        for (int k = 0; k < MAX_CALLBACKS; k++)
            sl->callback_op[k] = -1;
        if (!sl->ok)
            continue;
        const fz_op *get = s && have_cache ? &b->ops[sl->get_op] : NULL;
        seen *dup = s ? seen_slot(b, &b->ops[sl->get_op].key) : NULL;
        const fz_str *entry = get && get->found ? &get->result : dup && dup->key ? &b->ops[dup->set_op].value : NULL;
        /* A hit needs the same normalized text (see fz_cache_entry); a
         * variant of the template is scored afresh and refreshes the entry. */
        int rc = entry ? fz_scan_cached(e, w, m, v, entry->ptr, entry->len) : -1;
        if (rc == FZ_ENOMEM)
            return rc;
        if (rc == 0) {
            v->cache = 2;
            atomic_fetch_add(&s->cache_hits, 1);
        } else {
            if ((rc = fz_scan_content(e, w, m, v)))
                return rc;
            if (!s)
                continue;
            v->cache = 1;
            atomic_fetch_add(&s->cache_misses, 1);
            fz_op *set = new_op(b);
            if (!set || fz_cache_entry(e, w, v, &b->entry))
                return FZ_ENOMEM;
            set->type = FZ_OP_SETEX;
            set->key = b->ops[sl->get_op].key;
            char *val = fz_arena_strndup(&b->arena, b->entry.data ? b->entry.data : "", b->entry.len);
            if (!val)
                return FZ_ENOMEM;
            set->value = (fz_str){val, b->entry.len};
            set->ttl = (int64_t)rs->policy.cache_ttl;
            if (dup) {
                dup->key = b->ops[sl->get_op].key.ptr;
                dup->set_op = b->n_ops - 1;
            }
        }
        if (!s)
            continue;
        if (m->from.len && (sl->sender_op = queue_reports(b, s, m->from.ptr, m->from.len)) == -2)
            return FZ_ENOMEM;
        int k = 0;
        for (size_t en = 0; en < v->n_ents && k < MAX_CALLBACKS; en++)
            if (v->ents[en].kind == FZ_ENT_PHONE) {
                long op = queue_reports(b, s, v->pool.data + v->ents[en].off, v->ents[en].len);
                if (op == -2)
                    return FZ_ENOMEM;
                sl->callback_op[k++] = op;
            }
        if (m->to.len) {
            /* the recipient as a number when it is one: +86 136..., 136... */
            char rh[33];
            if (fz_store_number_hash(s, m->to.ptr, m->to.len, rh))
                fz_store_id_hash(s, m->to.ptr, m->to.len, rh);
            char *member = fz_arena_strdup(&b->arena, rh);
            if (!member)
                return FZ_ENOMEM;
            if (b->n_camps == b->camps_cap) {
                size_t cap = b->camps_cap ? b->camps_cap * 2 : 1024;
                camp_ref *nc = realloc(b->camps, cap * sizeof *nc);
                if (!nc)
                    return FZ_ENOMEM;
                b->camps = nc;
                b->camps_cap = cap;
            }
            b->camps[b->n_camps++] = (camp_ref){v->template_hash, {member, 32}, i};
        }
    }
    return s ? queue_campaigns(b, hour) : 0;
}

static double reports_of(const fz_batch *b, long op, double half_life, int64_t now)
{
    if (op < 0)
        return 0;
    const fz_op *o = &b->ops[op];
    return fz_reputation(o->pairs, o->n_pairs, now, half_life, NULL, NULL);
}

static double capped(double reports, const fz_policy *p)
{
    double s = reports * p->per_reporter;
    return s > p->reputation_max ? p->reputation_max : s;
}

/* Pass C: reputation and campaign change the score; campaign templates are
 * recorded in the hour's index. */
static void pass_state(fz_batch *b, const fz_engine *e, fz_worker *w, fz_store *s)
{
    const fz_policy *p = &e->rs->policy;
    int64_t now = (int64_t)time(NULL);
    char hour[24];
    snprintf(hour, sizeof hour, "%lld", (long long)(now / 3600));
    size_t index_from = b->n_ops;
    for (size_t i = 0; i < b->n; i++) {
        slot *sl = &b->slots[i];
        fz_verdict *v = b->verdicts[i];
        if (!sl->ok)
            continue;
        v->has_reports = 1;
        v->sender_reports = reports_of(b, sl->sender_op, p->half_life_days, now);
        for (int k = 0; k < MAX_CALLBACKS; k++) {
            double r = reports_of(b, sl->callback_op[k], p->half_life_days, now);
            if (r > v->callback_reports)
                v->callback_reports = r;
        }
        v->state_score = capped(v->sender_reports, p) + capped(v->callback_reports, p);
        if (sl->camp_op >= 0 && b->ops[sl->camp_op].integer >= (int64_t)p->campaign_recipients &&
            p->campaign_recipients > 0) {
            v->campaign_recipients = (uint64_t)b->ops[sl->camp_op].integer;
            v->state_score += p->campaign_score;
            /* once per template and batch: the index and a sample text */
            int indexed = 0;
            for (size_t k = index_from; k < b->n_ops && !indexed; k += 2)
                indexed = strstr(b->ops[k].value.ptr, v->template_hash) != NULL;
            fz_op *z = indexed ? NULL : new_op(b);
            fz_op *t = z ? new_op(b) : NULL;
            if (z && t) {
                z->type = FZ_OP_ZADD_GT;
                z->key = arena_printf(&b->arena, "fz:camps:%s%s", hour, "");
                z->value = arena_printf(&b->arena, "%s%s", v->template_hash, "");
                z->score = (double)v->campaign_recipients;
                z->ttl = 7200;
                t->type = FZ_OP_SETNX;
                t->key = arena_printf(&b->arena, "fz:tmpl:%s%s", v->template_hash, "");
                /* the sample is the masked text: no number, no link in it */
                fz_normalize(w->norm, b->msgs[i].text.ptr, b->msgs[i].text.len);
                size_t len;
                const char *text = fz_norm_text(w->norm, &len);
                char hash[33];
                fz_template(text, len, "", 0, &b->masked, hash);
                size_t ml = b->masked.len < 480 ? b->masked.len : 480;
                while (ml > 0 && ml < b->masked.len && ((unsigned char)b->masked.data[ml] & 0xC0) == 0x80)
                    ml--;
                char *sample = fz_arena_strndup(&b->arena, b->masked.data, ml);
                t->value = (fz_str){sample ? sample : "", sample ? ml : 0};
                t->ttl = 7200;
            }
        }
        fz_score(e, w, v);
    }
    if (b->n_ops > index_from && fz_store_exec(s, b->ops + index_from, b->n_ops - index_from, &b->results))
        return;     /* the index is a convenience: the verdicts stand */
}

static void score_without_state(fz_batch *b, const fz_engine *e, fz_worker *w, fz_store *s)
{
    for (size_t i = 0; i < b->n; i++) {
        fz_verdict *v = b->verdicts[i];
        if (!b->slots[i].ok)
            continue;
        v->cache = 0;
        v->has_reports = 0;
        v->state_score = 0;
        v->campaign_recipients = 0;
        fz_score(e, w, v);
        if (s)
            atomic_fetch_add(&s->degraded, 1);
    }
}

int fz_batch_score(fz_batch *b, const fz_engine *e, fz_worker *w, fz_store *s)
{
    fz_arena_reset(&b->results);
    b->n_ops = 0;
    /* A block of unreadable records leaves nothing to score: no round trip
     * (and no arithmetic on the ops array, which is not allocated yet; found
     * by fuzzing the HTTP server with one malformed message). */
    if (b->n == 0)
        return 0;
    int rc = pass_prepare(b, e, w, s != NULL);
    if (rc)
        return rc;
    int have_cache = s && fz_store_exec(s, b->ops, b->n_ops, &b->results) == 0;
    size_t b2 = b->n_ops;
    if ((rc = pass_score(b, e, w, have_cache ? s : NULL, have_cache)))
        return rc;
    if (!have_cache || fz_store_exec(s, b->ops + b2, b->n_ops - b2, &b->results)) {
        score_without_state(b, e, w, s);
        return 0;
    }
    pass_state(b, e, w, s);
    return 0;
}
