/* outbox.c — the durable outbox of warnings (fanzha/outbox.h): sealing
 * warnings, choosing where they wait, and the delivery loop.
 *
 * Where warnings wait. With Redis, in Redis (outbox_redis.c), shared by
 * every process; while Redis cannot be reached, a warning is spooled to the
 * state directory's SQLite file instead (outbox_spool.c), and the deliverer
 * drains that spool first, so an outage of the store delays nothing and
 * loses nothing. With the embedded store, the spool is the outbox.
 *
 * What a backend holds. A warning is a small JSON object sealed with the
 * store's secret (fz_store_seal): the numbers and the text of a warning are
 * personal, and a copy of Redis or of the state file must reveal nobody.
 * Backends see the sealed bytes, the warning id and its due time only.
 *
 * Delivery. The loop claims due warnings while the gateway has room
 * (leased, so that a dead deliverer's claims come back), submits them, and
 * settles each outcome: delivered (gone), retry (back in the schedule with
 * its attempts counted and the gateway's retry time), dead (dead letters).
 * A failing store is counted and retried after a pause; what it failed to
 * settle comes back when its lease runs out and is sent again under the
 * same Idempotency-Key. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fanzha/resident.h"
#include "outbox_internal.h"
#include "store.h"

#define STORE_PAUSE_MS 1000     /* after a store failure, claims wait this long */
#define CLAIM_MAX 256           /* warnings claimed per round trip at most */

typedef struct place {
    const fz_outbox_be *be;
    void *impl;
} place;

/* places[0]: Redis or the spool; places[1]: the spool behind Redis, if any. */
struct fz_outbox {
    fz_store *store;
    place places[2];
    size_t n_places;
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) && errno == EINTR)
        ;
}

/* --- opening --------------------------------------------------------------------------- */

int fz_outbox_open(fz_store *s, fz_outbox **out, fz_error *err)
{
    *out = NULL;
    if (!fz_store_is_redis(s) && !s->sf)
        return fz_error_set(err, FZ_EINVAL,
                            "the outbox needs a state directory (embedded store) or Redis: warnings must "
                            "survive a restart");
    fz_outbox *o = calloc(1, sizeof *o);
    if (!o)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    o->store = s;
    int rc = 0;
    if (fz_store_is_redis(s))
        rc = fz_outbox_redis_open(s, &o->places[o->n_places].be, &o->places[o->n_places].impl, err);
    if (!rc && fz_store_is_redis(s))
        o->n_places++;
    if (!rc && s->sf && !(rc = fz_spool_open(s->sf, &o->places[o->n_places].be, &o->places[o->n_places].impl, err)))
        o->n_places++;
    if (rc) {
        fz_outbox_close(o);
        return rc;
    }
    *out = o;
    return 0;
}

void fz_outbox_close(fz_outbox *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_places; i++)
        o->places[i].be->close(o->places[i].impl);
    free(o);
}

/* The spool behind Redis, or NULL. */
static place *fallback(fz_outbox *o)
{
    return o->n_places > 1 ? &o->places[1] : NULL;
}

/* --- sealing --------------------------------------------------------------------------- */

int fz_warning_json(const fz_warning *w, int mask_numbers, const char *body, fz_buf *out)
{
    char to[24];
    if (mask_numbers)
        fz_number_mask(w->to, to);
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return FZ_ENOMEM;
    cJSON_AddStringToObject(j, "id", w->id);
    cJSON_AddStringToObject(j, "to", mask_numbers ? to : w->to);
    cJSON_AddStringToObject(j, "role", w->role);
    cJSON_AddStringToObject(j, "language", w->language);
    cJSON_AddStringToObject(j, "channel", w->channel);
    cJSON_AddStringToObject(j, "category", w->category);
    cJSON_AddStringToObject(j, "text", w->text);
    cJSON_AddNumberToObject(j, "created", (double)w->created);
    cJSON_AddNumberToObject(j, "due", (double)w->due);
    cJSON_AddNumberToObject(j, "attempts", w->attempts);
    cJSON_AddStringToObject(j, "last_error", w->last_error);
    if (body)
        cJSON_AddStringToObject(j, "body", body);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    fz_buf_clear(out);
    int rc = text ? fz_buf_puts(out, text) : FZ_ENOMEM;
    free(text);
    return rc ? FZ_ENOMEM : 0;
}

static int seal(const fz_store *s, const fz_warning *w, fz_buf *out)
{
    fz_buf json = FZ_BUF_INIT;
    int rc = fz_warning_json(w, 0, NULL, &json);
    if (!rc)
        rc = fz_store_seal(s, json.data, json.len, out);
    fz_buf_free(&json);
    return rc;
}

static void take_string(const cJSON *j, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int64_t take_number(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* A blob back into a warning; FZ_EPARSE when it cannot be opened (another
 * secret, or altered): then only its id is known. */
static int unseal(const fz_store *s, const fz_blob *b, fz_warning *w)
{
    memset(w, 0, sizeof *w);
    snprintf(w->id, sizeof w->id, "%s", b->id);
    w->due = b->due_ms / 1000;
    fz_buf plain = FZ_BUF_INIT;
    int rc = fz_store_unseal(s, b->data, b->len, &plain);
    cJSON *j = rc ? NULL : cJSON_ParseWithLength(plain.data, plain.len);
    fz_buf_free(&plain);
    if (!j) {
        snprintf(w->last_error, sizeof w->last_error, "unreadable: sealed with another secret, or altered");
        return FZ_EPARSE;
    }
    take_string(j, "to", w->to, sizeof w->to);
    take_string(j, "role", w->role, sizeof w->role);
    take_string(j, "language", w->language, sizeof w->language);
    take_string(j, "channel", w->channel, sizeof w->channel);
    take_string(j, "category", w->category, sizeof w->category);
    take_string(j, "text", w->text, sizeof w->text);
    take_string(j, "last_error", w->last_error, sizeof w->last_error);
    w->created = take_number(j, "created");
    w->attempts = (int)take_number(j, "attempts");
    cJSON_Delete(j);
    return 0;
}

/* --- queueing -------------------------------------------------------------------------- */

/* The requests whose result is QUEUE_FAILED go to the spool. */
static void spool_failed(fz_outbox *o, const fz_warn_request *r, const fz_buf *sealed, size_t n, int64_t now,
                         fz_queue_result *res)
{
    place *p = fallback(o);
    for (size_t i = 0; p && i < n; i++) {
        if (res[i] != FZ_QUEUE_FAILED)
            continue;
        fz_queue_result one;
        if (p->be->queue(p->impl, &r[i], &sealed[i], 1, now, &one, NULL) == 0)
            res[i] = one == FZ_QUEUED ? FZ_SPOOLED : one;
    }
}

int fz_outbox_queue(fz_outbox *o, const fz_warn_request *r, size_t n, fz_queue_result *results, fz_error *err)
{
    if (n == 0)
        return 0;
    fz_buf *sealed = calloc(n, sizeof *sealed);
    if (!sealed)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = seal(o->store, &r[i].w, &sealed[i]);
    if (rc) {
        fz_error_set(err, rc, "out of memory");
    } else {
        int64_t now = now_ms();
        place *p = &o->places[0];
        for (size_t i = 0; i < n; i++)
            results[i] = FZ_QUEUE_FAILED;
        fz_error first = {0, ""};
        if (p->be->queue(p->impl, r, sealed, n, now, results, &first))
            for (size_t i = 0; i < n; i++)
                results[i] = FZ_QUEUE_FAILED;   /* a failed round trip trusts no result */
        spool_failed(o, r, sealed, n, now, results);
        size_t failed = 0;
        for (size_t i = 0; i < n; i++)
            failed += results[i] == FZ_QUEUE_FAILED;
        if (failed == n)
            rc = fz_error_set(err, first.code ? first.code : FZ_EIO, "no warning could be queued: %s",
                              first.message[0] ? first.message : "the spool failed");
    }
    for (size_t i = 0; i < n; i++)
        fz_buf_free(&sealed[i]);
    free(sealed);
    return rc;
}

/* --- operators ------------------------------------------------------------------------- */

int fz_outbox_depth_get(fz_outbox *o, fz_outbox_depth *out, fz_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t now = now_ms();
    int rc = o->places[0].be->depth(o->places[0].impl, now, out, err);
    place *p = fallback(o);
    fz_outbox_depth spooled;
    if (!rc && p && (rc = p->be->depth(p->impl, now, &spooled, err)) == 0)
        out->spooled = spooled.ready + spooled.scheduled + spooled.dead;
    return rc;
}

/* A listed warning, with where it is, for the operators' commands. */
typedef struct listed {
    place *p;
    fz_blob b;              /* data copied */
} listed;

typedef struct collector {
    place *p;
    listed *items;
    size_t n, cap;
    const char *const *ids;
    size_t n_ids;
    int failed;
} collector;

static int wanted(const collector *c, const char *id)
{
    if (c->n_ids == 0)
        return 1;
    for (size_t i = 0; i < c->n_ids; i++)
        if (strcmp(c->ids[i], id) == 0)
            return 1;
    return 0;
}

static int collect(void *ud, const fz_blob *b)
{
    collector *c = ud;
    if (!wanted(c, b->id))
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        listed *l = realloc(c->items, cap * sizeof *l);
        if (!l) {
            c->failed = 1;
            return 1;
        }
        c->items = l;
        c->cap = cap;
    }
    listed *it = &c->items[c->n];
    it->p = c->p;
    it->b = *b;
    char *copy = malloc(b->len ? b->len : 1);
    if (!copy) {
        c->failed = 1;
        return 1;
    }
    memcpy(copy, b->data, b->len);
    it->b.data = copy;
    c->n++;
    return 0;
}

static void collector_free(collector *c)
{
    for (size_t i = 0; i < c->n; i++)
        free((void *)c->items[i].b.data);
    free(c->items);
}

/* Every warning of a box (of the ids, when given) in every place, copied,
 * so that the caller may change the box while going through them. */
static int collect_box(fz_outbox *o, fz_box box, const char *const *ids, size_t n_ids, collector *c, fz_error *err)
{
    memset(c, 0, sizeof *c);
    c->ids = ids;
    c->n_ids = n_ids;
    int64_t now = now_ms();
    for (size_t i = 0; i < o->n_places; i++) {
        c->p = &o->places[i];
        int rc = c->p->be->list(c->p->impl, box, now, collect, c, err);
        if (rc)
            return rc;
        if (c->failed)
            return fz_error_set(err, FZ_ENOMEM, "out of memory");
    }
    return 0;
}

int fz_outbox_list(fz_outbox *o, fz_box box, int (*fn)(void *ud, const fz_warning *w), void *ud, fz_error *err)
{
    collector c;
    int rc = collect_box(o, box, NULL, 0, &c, err);
    for (size_t i = 0; !rc && i < c.n; i++) {
        fz_warning w;
        unseal(o->store, &c.items[i].b, &w);
        if (fn(ud, &w))
            break;
    }
    collector_free(&c);
    return rc;
}

int fz_outbox_replay(fz_outbox *o, const char *const *ids, size_t n_ids, size_t *moved, fz_error *err)
{
    *moved = 0;
    collector c;
    int rc = collect_box(o, FZ_BOX_DEAD, ids, n_ids, &c, err);
    fz_buf blob = FZ_BUF_INIT;
    int64_t now = now_ms();
    for (size_t i = 0; !rc && i < c.n; i++) {
        listed *it = &c.items[i];
        fz_warning w;
        if (unseal(o->store, &it->b, &w))
            continue;                       /* unreadable: replaying it would only kill it again */
        w.attempts = 0;
        w.last_error[0] = '\0';
        w.due = now / 1000;
        if ((rc = seal(o->store, &w, &blob)))
            fz_error_set(err, rc, "out of memory");
        else if (!(rc = it->p->be->revive(it->p->impl, it->b.handle, it->b.id, &blob, now, err)))
            (*moved)++;
    }
    fz_buf_free(&blob);
    collector_free(&c);
    return rc;
}

int fz_outbox_purge(fz_outbox *o, fz_box box, const char *const *ids, size_t n_ids, size_t *removed, fz_error *err)
{
    *removed = 0;
    collector c;
    int rc = collect_box(o, box, ids, n_ids, &c, err);
    for (size_t i = 0; !rc && i < c.n; i++) {
        listed *it = &c.items[i];
        if (!(rc = it->p->be->remove(it->p->impl, box, it->b.handle, err)))
            (*removed)++;
    }
    collector_free(&c);
    return rc;
}

/* --- delivery -------------------------------------------------------------------------- */

/* A claimed warning while its attempt is in flight: the gateway's tag. */
typedef struct claim {
    place *p;
    char handle[48];
    int unreadable;
    struct claim *next_free;
    /* unreadable: buried after the claim call (the backend is busy in it) */
    char id[33];
    fz_buf sealed;
    struct claim *next_bury;
} claim;

typedef struct deliverer {
    fz_outbox *o;
    fz_gateway *g;
    const fz_deliver_options *opt;
    fz_deliver_stats *st;
    claim *claims;
    claim *free_claims;
    place *claiming;
    size_t claimed;             /* in the current claim call */
    claim *to_bury;             /* unreadable claims of the current claim call */
    int64_t store_pause_until;
    fz_buf blob;
} deliverer;

static void count_store_error(deliverer *d, const fz_error *err)
{
    d->st->store_errors++;
    snprintf(d->st->last_store_error, sizeof d->st->last_store_error, "%.159s", err->message);
    d->store_pause_until = now_ms() + STORE_PAUSE_MS;
}

static void settle(deliverer *d, claim *c, const fz_warning *w, fz_settle how, int64_t due_ms)
{
    fz_buf *blob = NULL;
    fz_error err = {0, "out of memory"};
    if (how != FZ_SETTLE_DELIVERED) {
        if (seal(d->o->store, w, &d->blob)) {
            count_store_error(d, &err);     /* the lease brings it back */
            return;
        }
        blob = &d->blob;
    }
    if (c->p->be->settle(c->p->impl, c->handle, w->id, how, due_ms, blob, &err))
        count_store_error(d, &err);
}

static void release(deliverer *d, claim *c)
{
    c->next_free = d->free_claims;
    d->free_claims = c;
}

/* The outcome of one attempt. */
static void on_done(void *ud, void *tag, const fz_warning *sent, const fz_delivery *dv)
{
    deliverer *d = ud;
    claim *c = tag;
    fz_warning w = *sent;
    w.attempts++;
    snprintf(w.last_error, sizeof w.last_error, "%s", dv->error);
    d->st->attempts++;
    if (dv->result == FZ_DELIVERED) {
        d->st->delivered++;
        settle(d, c, &w, FZ_SETTLE_DELIVERED, 0);
    } else if (dv->result == FZ_RETRY) {
        d->st->retried++;
        w.due = dv->retry_at_ms / 1000;
        settle(d, c, &w, FZ_SETTLE_RETRY, dv->retry_at_ms);
    } else {
        d->st->dead++;
        settle(d, c, &w, FZ_SETTLE_DEAD, 0);
    }
    if (d->opt->on_attempt)
        d->opt->on_attempt(d->opt->on_attempt_ud, &w, dv);
    release(d, c);
}

/* A warning that cannot be opened goes straight to the dead letters as it
 * is: an operator decides (the secret was changed?). */
static void bury_unreadable(deliverer *d, claim *c)
{
    fz_error err = {0, ""};
    if (c->p->be->settle(c->p->impl, c->handle, c->id, FZ_SETTLE_DEAD, 0, &c->sealed, &err))
        count_store_error(d, &err);
    d->st->dead++;
    release(d, c);
}

static int on_claimed(void *ud, const fz_blob *b)
{
    deliverer *d = ud;
    claim *c = d->free_claims;
    if (!c)
        return 1;                           /* cannot happen: claims are bounded by the room */
    d->free_claims = c->next_free;
    c->p = d->claiming;
    snprintf(c->handle, sizeof c->handle, "%s", b->handle);
    d->claimed++;
    fz_warning w;
    if (unseal(d->o->store, b, &w)) {
        /* Not settled here: the backend is in the middle of its claim (the
         * spool holds its lock, Redis its connection). */
        snprintf(c->id, sizeof c->id, "%s", b->id);
        fz_buf_clear(&c->sealed);
        if (fz_buf_append(&c->sealed, b->data, b->len)) {
            release(d, c);                  /* the lease brings it back */
            return 0;
        }
        c->next_bury = d->to_bury;
        d->to_bury = c;
        return 0;
    }
    if (fz_gateway_submit(d->g, &w, c) != 0)
        release(d, c);                      /* no room after all: the lease brings it back */
    return 0;
}

/* Claim what is due while the gateway has room: the spool first (it holds
 * what could not reach Redis, the oldest), then Redis. How many. */
static size_t claim_due(deliverer *d)
{
    size_t total = 0;
    int64_t now = now_ms();
    if (now < d->store_pause_until)
        return 0;
    for (size_t k = d->o->n_places; k-- > 0;) {
        size_t room = fz_gateway_room(d->g);
        if (room == 0)
            break;
        d->claiming = &d->o->places[k];
        d->claimed = 0;
        fz_error err = {0, ""};
        if (d->claiming->be->claim(d->claiming->impl, room < CLAIM_MAX ? room : CLAIM_MAX, now, d->opt->lease_ms,
                                   on_claimed, d, &err))
            count_store_error(d, &err);
        while (d->to_bury) {
            claim *c = d->to_bury;
            d->to_bury = c->next_bury;
            bury_unreadable(d, c);
        }
        total += d->claimed;
    }
    return total;
}

static int stopping(const deliverer *d)
{
    return d->opt->should_stop && d->opt->should_stop(d->opt->should_stop_ud);
}

static int run(deliverer *d, fz_error *err)
{
    for (;;) {
        int stop = stopping(d);
        size_t got = stop ? 0 : claim_due(d);
        size_t busy = fz_gateway_in_flight(d->g);
        if (busy == 0 && got == 0) {
            if (stop || !d->opt->follow)
                return 0;
            sleep_ms(d->opt->idle_poll_ms);
            continue;
        }
        int rc = fz_gateway_poll(d->g, fz_gateway_room(d->g) ? 20 : 200, on_done, d);
        if (rc < 0)
            return fz_error_set(err, rc, "the HTTP machinery failed: %s", fz_strerror(rc));
    }
}

int fz_outbox_deliver(fz_outbox *o, fz_gateway *g, const fz_deliver_options *opt, fz_deliver_stats *st, fz_error *err)
{
    fz_deliver_options dflt = {0};
    fz_deliver_options use = opt ? *opt : dflt;
    if (use.lease_ms <= 0)
        use.lease_ms = 60000;
    if (use.idle_poll_ms <= 0)
        use.idle_poll_ms = 200;
    memset(st, 0, sizeof *st);
    deliverer d = {.o = o, .g = g, .opt = &use, .st = st, .blob = FZ_BUF_INIT};
    size_t n = fz_gateway_room(g) + fz_gateway_in_flight(g);
    d.claims = calloc(n ? n : 1, sizeof *d.claims);
    if (!d.claims)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        release(&d, &d.claims[i]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = run(&d, err);
    /* Whatever is still in flight (an HTTP failure) comes back by its lease. */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fz_buf_free(&d.blob);
    for (size_t i = 0; i < n; i++)
        fz_buf_free(&d.claims[i].sealed);
    free(d.claims);
    return rc;
}
