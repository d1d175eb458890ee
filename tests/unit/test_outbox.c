/* test_outbox.c — the durable outbox of warnings (fanzha/outbox.h): queueing
 * with its checks, the schedule, delivery through a real HTTP gateway, dead
 * letters and replay, purge, outages of the gateway and of Redis, a dead
 * deliverer's leases, restarts, and a changed secret.
 *
 * Every behaviour that both backends share runs twice: on the embedded store
 * (the SQLite spool in a temporary state directory) and on a real
 * redis-server started on a free loopback port (tests/unit/testutil.c),
 * also with a temporary state directory so that its spool fallback exists.
 * Warnings are delivered to tests/gateway/receiver.py (tests/unit/httputil.c),
 * which counts what it accepted per Idempotency-Key: "exactly once" below
 * means accepted == n and duplicates == 0 at the receiver.
 *
 * Each test gets a fresh state directory, a flushed Redis and its own
 * receiver; the teardown closes and removes whatever a failing test left. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "httputil.h"

#include "fanzha/outbox.h"
#include "fanzha/resident.h"

#define SECRET "test_outbox secret"
#define OTHER_SECRET "test_outbox another secret"

typedef struct backend {
    const char *name;
    int redis;
} backend;

static backend k_embedded = {"embedded", 0};
static backend k_redis = {"redis", 1};

/* What a test holds; the teardown releases it, also after a failure. */
static struct {
    char dir[256];              /* the state directory ("" if none) */
    fz_store *store;
    fz_outbox *outbox;
    fz_gateway *gw;
    hu_server *recv;
    int hole;                   /* a listening socket that never answers, or -1 */
    pid_t child;
} T = {.hole = -1};

static unsigned g_salt;         /* makes ids differ from test to test */

/* --- helpers --------------------------------------------------------------------------------- */

static int64_t wall_ms(void)
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

static void sleep_until_ms(int64_t when)
{
    int64_t now = wall_ms();
    if (when > now)
        sleep_ms((int)(when - now));
}

static const char *new_dir(void)
{
    snprintf(T.dir, sizeof T.dir, "/tmp/fanzha-outbox-XXXXXX");
    if (!mkdtemp(T.dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    return T.dir;
}

static fz_store *open_store_as(const backend *b, const char *dir, const char *secret)
{
    fz_store_options o = {b->redis ? tu_redis_url() : NULL, secret, 0, 0, dir};
    fz_error err;
    fz_store *s = NULL;
    if (fz_store_open(&o, &s, &err))
        fail_msg("fz_store_open(%s): %s", b->name, err.message);
    return s;
}

/* The test's store and outbox (secret: SECRET unless given). */
static fz_outbox *open_all(const backend *b, const char *secret)
{
    T.store = open_store_as(b, T.dir[0] ? T.dir : NULL, secret ? secret : SECRET);
    fz_error err;
    if (fz_outbox_open(T.store, &T.outbox, &err))
        fail_msg("fz_outbox_open(%s): %s", b->name, err.message);
    return T.outbox;
}

static void close_all(void)
{
    fz_outbox_close(T.outbox);
    fz_store_close(T.store);
    T.outbox = NULL;
    T.store = NULL;
}

/* A fresh state directory (and an empty Redis) with its store and outbox. */
static fz_outbox *fresh(const backend *b)
{
    if (b->redis)
        tu_redis_flush();
    new_dir();
    return open_all(b, NULL);
}

/* Ids are 32 hex digits, as warn.c makes them. */
static void mkid(char out[33], unsigned k)
{
    snprintf(out, 33, "%08x%08x%016llx", g_salt, k, 0x5eedfeedULL);
}

/* A warning request: to +86139000000<k>, text naming k; no checks unless set. */
static fz_warn_request req(unsigned k, const char *once, const char *count, int limit, int64_t due)
{
    fz_warn_request r;
    memset(&r, 0, sizeof r);
    mkid(r.w.id, k);
    snprintf(r.w.to, sizeof r.w.to, "+86139%08u", k);
    snprintf(r.w.role, sizeof r.w.role, "resident");
    snprintf(r.w.language, sizeof r.w.language, "zh");
    snprintf(r.w.channel, sizeof r.w.channel, "sms");
    snprintf(r.w.category, sizeof r.w.category, "impersonate_authority");
    snprintf(r.w.text, sizeof r.w.text, "您好，第%u条提醒：不要转账，拨打96110。", k);
    r.w.created = wall_ms() / 1000;
    r.w.due = due;
    if (once)
        snprintf(r.once_key, sizeof r.once_key, "%s", once);
    if (count)
        snprintf(r.count_key, sizeof r.count_key, "%s", count);
    r.limit = limit;
    r.once_ttl = r.count_ttl = 3600;
    return r;
}

static void queue(fz_outbox *o, const fz_warn_request *r, size_t n, fz_queue_result *res)
{
    fz_error err;
    if (fz_outbox_queue(o, r, n, res, &err))
        fail_msg("fz_outbox_queue: %s", err.message);
}

/* Queue n plain warnings k = first..first+n-1 (due now), each must be QUEUED. */
static void queue_n(fz_outbox *o, unsigned first, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fz_warn_request r = req(first + (unsigned)i, NULL, NULL, 0, 0);
        fz_queue_result res = FZ_QUEUE_FAILED;
        queue(o, &r, 1, &res);
        assert_int_equal(res, FZ_QUEUED);
    }
}

static fz_outbox_depth depth(fz_outbox *o)
{
    fz_outbox_depth d;
    fz_error err;
    if (fz_outbox_depth_get(o, &d, &err))
        fail_msg("fz_outbox_depth_get: %s", err.message);
    return d;
}

#define expect_depth(o, r, s, d)                                                                                      \
    do {                                                                                                              \
        fz_outbox_depth got_ = depth(o);                                                                              \
        if (got_.ready != (r) || got_.scheduled != (s) || got_.dead != (d))                                          \
            fail_msg("depth: ready %llu scheduled %llu dead %llu, expected %d %d %d", (unsigned long long)got_.ready, \
                     (unsigned long long)got_.scheduled, (unsigned long long)got_.dead, (int)(r), (int)(s), (int)(d)); \
    } while (0)

/* The warnings of a box, copied. */
typedef struct listing {
    fz_warning w[64];
    size_t n;
} listing;

static int add_listed(void *ud, const fz_warning *w)
{
    listing *l = ud;
    assert_true(l->n < 64);
    l->w[l->n++] = *w;
    return 0;
}

static listing *list_box(fz_outbox *o, fz_box box)
{
    static listing l;
    memset(&l, 0, sizeof l);
    fz_error err;
    if (fz_outbox_list(o, box, add_listed, &l, &err))
        fail_msg("fz_outbox_list(%d): %s", (int)box, err.message);
    return &l;
}

static const fz_warning *find_listed(const listing *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->w[i].id, id) == 0)
            return &l->w[i];
    return NULL;
}

/* --- the gateway ------------------------------------------------------------------------------ */

static hu_server *receiver(const char *const *args)
{
    T.recv = hu_receiver_start(args);
    return T.recv;
}

static fz_gateway *gateway_to(const char *url, int max_attempts, long timeout_ms, long backoff_ms)
{
    fz_gateway_close(T.gw);
    T.gw = NULL;
    fz_gateway_options o;
    memset(&o, 0, sizeof o);
    o.url = url;
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = 1000;
    o.concurrency = 4;
    o.max_attempts = max_attempts;
    o.backoff_base_ms = backoff_ms;
    o.backoff_max_ms = 2 * backoff_ms;
    o.retry_after_max_s = 5;
    fz_error err;
    if (fz_gateway_open(&o, &T.gw, &err))
        fail_msg("fz_gateway_open(%s): %s", url, err.message);
    return T.gw;
}

static fz_gateway *gateway(int max_attempts)
{
    return gateway_to(hu_server_url(T.recv), max_attempts, 5000, 20);
}

/* Stop conditions of a follow-mode delivery, counted by on_attempt. */
typedef struct watch {
    int64_t deadline_ms;
    uint64_t delivered, dead, attempts;
    uint64_t want_delivered, want_dead;     /* stop when reached (0: not a condition) */
    int64_t switch_at_ms;                   /* when set: put the receiver back to ok then */
    int switched;
} watch;

static void watch_attempt(void *ud, const fz_warning *w, const fz_delivery *d)
{
    watch *x = ud;
    (void)w;
    x->attempts++;
    x->delivered += d->result == FZ_DELIVERED;
    x->dead += d->result == FZ_DEAD;
}

static int watch_stop(void *ud)
{
    watch *x = ud;
    int64_t now = wall_ms();
    if (x->switch_at_ms && !x->switched && now >= x->switch_at_ms) {
        hu_receiver_control(T.recv, "{\"mode\":\"ok\",\"retry_after\":null}");
        x->switched = 1;
    }
    if (now >= x->deadline_ms)
        return 1;
    if (x->want_delivered && x->delivered >= x->want_delivered)
        return 1;
    if (x->want_dead && x->dead >= x->want_dead)
        return 1;
    return 0;
}

/* Deliver what is due now, once (not following). */
static fz_deliver_stats deliver_once(fz_outbox *o, fz_gateway *g)
{
    fz_deliver_options opt;
    memset(&opt, 0, sizeof opt);
    opt.lease_ms = 10000;
    fz_deliver_stats st;
    fz_error err;
    if (fz_outbox_deliver(o, g, &opt, &st, &err))
        fail_msg("fz_outbox_deliver: %s", err.message);
    return st;
}

/* Deliver in follow mode until x says stop. */
static fz_deliver_stats deliver_follow(fz_outbox *o, fz_gateway *g, watch *x)
{
    fz_deliver_options opt;
    memset(&opt, 0, sizeof opt);
    opt.follow = 1;
    opt.lease_ms = 10000;
    opt.idle_poll_ms = 20;
    opt.should_stop = watch_stop;
    opt.should_stop_ud = x;
    opt.on_attempt = watch_attempt;
    opt.on_attempt_ud = x;
    fz_deliver_stats st;
    fz_error err;
    if (fz_outbox_deliver(o, g, &opt, &st, &err))
        fail_msg("fz_outbox_deliver: %s", err.message);
    if (wall_ms() >= x->deadline_ms)
        fail_msg("delivery did not finish in time: delivered %llu dead %llu attempts %llu",
                 (unsigned long long)x->delivered, (unsigned long long)x->dead, (unsigned long long)x->attempts);
    return st;
}

#define expect_receiver(s, req_, acc_, dup_)                                                                          \
    do {                                                                                                              \
        hu_stats h_ = hu_receiver_stats(s);                                                                           \
        if (h_.requests != (req_) || h_.accepted != (acc_) || h_.duplicates != (dup_))                               \
            fail_msg("receiver: requests %ld accepted %ld duplicates %ld, expected %ld %ld %ld", h_.requests,          \
                     h_.accepted, h_.duplicates, (long)(req_), (long)(acc_), (long)(dup_));                            \
    } while (0)

/* Every request the receiver logged carried an Idempotency-Key that is the
 * id of one of the warnings ks[0..n), and each of those came. */
static void expect_key_set(const hu_server *s, const unsigned *ks, size_t n)
{
    cJSON *log = hu_receiver_log(s);
    int seen[64] = {0};
    assert_true(n <= 64);
    const cJSON *line;
    cJSON_ArrayForEach(line, log)
    {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(line, "headers");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(h, "Idempotency-Key");
        if (!cJSON_IsString(key))
            fail_msg("a request without Idempotency-Key");
        int found = 0;
        for (size_t i = 0; i < n && !found; i++) {
            char id[33];
            mkid(id, ks[i]);
            if (strcmp(id, key->valuestring) == 0)
                found = 1, seen[i] = 1;
        }
        if (!found)
            fail_msg("unexpected Idempotency-Key %s", key->valuestring);
    }
    cJSON_Delete(log);
    for (size_t i = 0; i < n; i++)
        if (!seen[i])
            fail_msg("warning %u never reached the receiver", ks[i]);
}

/* The same for the warnings first..first+n-1. */
static void expect_keys(const hu_server *s, unsigned first, size_t n)
{
    unsigned ks[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        ks[i] = first + (unsigned)i;
    expect_key_set(s, ks, n);
}

/* --- fixtures --------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    g_salt = (unsigned)getpid();
    tu_redis_start();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_redis_stop();
    tu_cleanup();
    return 0;
}

/* A test that kills Redis restarts it; should it fail before, the next
 * Redis test does. */
static int g_redis_down;

static void redis_kill(void)
{
    g_redis_down = 1;
    tu_redis_kill();
}

static void redis_restart(void)
{
    tu_redis_restart();
    g_redis_down = 0;
}

static int test_setup(void **state)
{
    g_salt += 0x100;
    const backend *b = *state;
    if (b && b->redis && g_redis_down)
        redis_restart();
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    if (T.child > 0) {
        kill(T.child, SIGKILL);
        waitpid(T.child, NULL, 0);
        T.child = 0;
    }
    if (T.hole >= 0)
        close(T.hole);
    T.hole = -1;
    close_all();
    fz_gateway_close(T.gw);
    T.gw = NULL;
    hu_server_stop(T.recv);
    T.recv = NULL;
    if (T.dir[0]) {
        tu_rmtree(T.dir);
        T.dir[0] = '\0';
    }
    return 0;
}

/* --- 1. queueing -------------------------------------------------------------------------------- */

/* The dedup key and the daily counter, checked where the warning is
 * queued: in one batch and across batches. */
static void test_queue_dedup_and_limit(void **state)
{
    fz_outbox *o = fresh(*state);
    fz_warn_request r[5] = {
        req(1, "once-a", "count-x", 2, 0),
        req(2, "once-a", "count-x", 2, 0),     /* same dedup key: DUPLICATE, not counted */
        req(3, "once-b", "count-x", 2, 0),     /* second of count-x */
        req(4, "once-c", "count-x", 2, 0),     /* third: LIMITED */
        req(5, "once-d", "count-y", 2, 0),     /* another recipient's counter */
    };
    fz_queue_result res[5] = {FZ_QUEUE_FAILED, FZ_QUEUE_FAILED, FZ_QUEUE_FAILED, FZ_QUEUE_FAILED, FZ_QUEUE_FAILED};
    queue(o, r, 5, res);
    assert_int_equal(res[0], FZ_QUEUED);
    assert_int_equal(res[1], FZ_DUPLICATE);
    assert_int_equal(res[2], FZ_QUEUED);
    assert_int_equal(res[3], FZ_LIMITED);
    assert_int_equal(res[4], FZ_QUEUED);
    expect_depth(o, 3, 0, 0);

    /* A later batch: the same keys still hold. */
    fz_warn_request again[3] = {req(6, "once-a", NULL, 0, 0), req(7, "once-e", "count-x", 2, 0),
                                req(8, NULL, NULL, 0, 0)};
    fz_queue_result res2[3];
    queue(o, again, 3, res2);
    assert_int_equal(res2[0], FZ_DUPLICATE);
    assert_int_equal(res2[1], FZ_LIMITED);
    assert_int_equal(res2[2], FZ_QUEUED);     /* no checks asked: queued */
    expect_depth(o, 4, 0, 0);

    /* What was queued is what is listed, every field intact through the seal. */
    listing *l = list_box(o, FZ_BOX_READY);
    assert_int_equal(l->n, 4);
    unsigned queued[] = {1, 3, 5, 8};
    for (size_t i = 0; i < 4; i++) {
        fz_warn_request want = req(queued[i], NULL, NULL, 0, 0);
        const fz_warning *w = find_listed(l, want.w.id);
        if (!w)
            fail_msg("warning %u not listed", queued[i]);
        assert_string_equal(w->to, want.w.to);
        assert_string_equal(w->text, want.w.text);
        assert_string_equal(w->role, "resident");
        assert_string_equal(w->language, "zh");
        assert_string_equal(w->channel, "sms");
        assert_string_equal(w->category, "impersonate_authority");
        assert_int_equal(w->attempts, 0);
        assert_string_equal(w->last_error, "");
    }
    assert_null(find_listed(l, again[0].w.id));
    assert_null(find_listed(l, r[3].w.id));
    assert_int_equal(list_box(o, FZ_BOX_SCHEDULED)->n, 0);
    assert_int_equal(list_box(o, FZ_BOX_DEAD)->n, 0);
}

/* A warning due later waits in the schedule: not claimed before it is due,
 * ready (and delivered) once it is. */
static void test_scheduled(void **state)
{
    fz_outbox *o = fresh(*state);
    receiver(NULL);
    fz_gateway *g = gateway(3);
    int64_t due = wall_ms() / 1000 + 1;
    fz_warn_request r[2] = {req(1, "sched", NULL, 0, due), req(2, "sched2", NULL, 0, due)};
    fz_queue_result res[2];
    queue(o, r, 2, res);
    assert_int_equal(res[0], FZ_QUEUED);
    assert_int_equal(res[1], FZ_QUEUED);
    expect_depth(o, 0, 2, 0);
    listing *l = list_box(o, FZ_BOX_SCHEDULED);
    assert_int_equal(l->n, 2);
    const fz_warning *w = find_listed(l, r[0].w.id);
    assert_non_null(w);
    assert_int_equal(w->due, due);
    assert_string_equal(w->text, r[0].w.text);
    assert_int_equal(list_box(o, FZ_BOX_READY)->n, 0);

    if (wall_ms() < due * 1000 - 100) {
        fz_deliver_stats st = deliver_once(o, g);
        assert_int_equal(st.attempts, 0);
        expect_receiver(T.recv, 0, 0, 0);
        expect_depth(o, 0, 2, 0);
    }

    sleep_until_ms(due * 1000 + 150);
    /* Due now: counted and listed as ready before any deliverer looks... */
    expect_depth(o, 2, 0, 0);
    l = list_box(o, FZ_BOX_READY);
    assert_int_equal(l->n, 2);
    assert_non_null(find_listed(l, r[0].w.id));
    assert_non_null(find_listed(l, r[1].w.id));
    assert_int_equal(list_box(o, FZ_BOX_SCHEDULED)->n, 0);
    /* ... and an operator can purge one of them from there. */
    const char *ids[] = {r[1].w.id};
    size_t removed = 0;
    fz_error err;
    if (fz_outbox_purge(o, FZ_BOX_READY, ids, 1, &removed, &err))
        fail_msg("purge: %s", err.message);
    assert_int_equal(removed, 1);
    expect_depth(o, 1, 0, 0);

    fz_deliver_stats st = deliver_once(o, g);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.delivered, 1);
    expect_receiver(T.recv, 1, 1, 0);
    expect_keys(T.recv, 1, 1);
    expect_depth(o, 0, 0, 0);
}

/* --- 2. delivery -------------------------------------------------------------------------------- */

/* Each warning reaches the gateway exactly once, under its id. */
static void test_deliver_exactly_once(void **state)
{
    fz_outbox *o = fresh(*state);
    receiver(NULL);
    fz_gateway *g = gateway(3);
    enum { N = 20 };
    queue_n(o, 1, N);
    expect_depth(o, N, 0, 0);
    fz_deliver_stats st = deliver_once(o, g);
    assert_int_equal(st.attempts, N);
    assert_int_equal(st.delivered, N);
    assert_int_equal(st.retried + st.dead + st.store_errors, 0);
    expect_receiver(T.recv, N, N, 0);
    expect_keys(T.recv, 1, N);
    expect_depth(o, 0, 0, 0);
    assert_int_equal(list_box(o, FZ_BOX_READY)->n, 0);
    /* Nothing is left to send: a second run sends nothing. */
    st = deliver_once(o, g);
    assert_int_equal(st.attempts, 0);
    expect_receiver(T.recv, N, N, 0);
}

/* The gateway fails every attempt: after max_attempts the warnings are
 * dead letters with their attempts and last error; a replay puts them back
 * (all, or by id) with attempts reset, and they are then delivered. */
static void test_dead_letters_and_replay(void **state)
{
    fz_outbox *o = fresh(*state);
    const char *args[] = {"--mode", "500", NULL};
    receiver(args);
    fz_gateway *g = gateway(3);
    enum { N = 5 };
    queue_n(o, 1, N);
    watch x = {.deadline_ms = wall_ms() + 10000, .want_dead = N};
    fz_deliver_stats st = deliver_follow(o, g, &x);
    assert_int_equal(st.dead, N);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.attempts, 3 * N);
    assert_int_equal(st.retried, 2 * N);
    expect_receiver(T.recv, 3 * N, 0, 0);
    expect_depth(o, 0, 0, N);
    listing *l = list_box(o, FZ_BOX_DEAD);
    assert_int_equal(l->n, N);
    for (size_t i = 0; i < l->n; i++) {
        assert_int_equal(l->w[i].attempts, 3);
        if (!strstr(l->w[i].last_error, "500") || !strstr(l->w[i].last_error, "gave up after 3"))
            fail_msg("last_error: %s", l->w[i].last_error);
        assert_string_equal(l->w[i].role, "resident");
        assert_true(strncmp(l->w[i].to, "+86139", 6) == 0);
    }

    /* Dead letters are not delivered again by themselves. */
    hu_receiver_control(T.recv, "{\"mode\":\"ok\",\"reset_stats\":true}");
    st = deliver_once(o, g);
    assert_int_equal(st.attempts, 0);
    expect_receiver(T.recv, 0, 0, 0);

    /* Replay one by id. */
    char id[33];
    mkid(id, 2);
    const char *ids[] = {id, "00000000000000000000000000000000"};
    size_t moved = 99;
    fz_error err;
    if (fz_outbox_replay(o, ids, 2, &moved, &err))
        fail_msg("replay: %s", err.message);
    assert_int_equal(moved, 1);
    expect_depth(o, 1, 0, N - 1);
    l = list_box(o, FZ_BOX_READY);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->w[0].id, id);
    assert_int_equal(l->w[0].attempts, 0);
    assert_string_equal(l->w[0].last_error, "");
    /* ... and the rest. */
    if (fz_outbox_replay(o, NULL, 0, &moved, &err))
        fail_msg("replay: %s", err.message);
    assert_int_equal(moved, N - 1);
    expect_depth(o, N, 0, 0);

    st = deliver_once(o, g);
    assert_int_equal(st.delivered, N);
    assert_int_equal(st.attempts, N);
    expect_receiver(T.recv, N, N, 0);
    expect_keys(T.recv, 1, N);
    expect_depth(o, 0, 0, 0);
}

/* Purge: by id or all, per box; other boxes are untouched. */
static void test_purge(void **state)
{
    fz_outbox *o = fresh(*state);
    const char *args[] = {"--mode", "400", NULL};     /* a permanent refusal: dead at once */
    receiver(args);
    fz_gateway *g = gateway(3);
    queue_n(o, 1, 2);
    fz_deliver_stats st = deliver_once(o, g);
    assert_int_equal(st.dead, 2);
    queue_n(o, 3, 3);
    fz_warn_request later = req(6, NULL, NULL, 0, wall_ms() / 1000 + 3600);
    fz_queue_result res;
    queue(o, &later, 1, &res);
    assert_int_equal(res, FZ_QUEUED);
    expect_depth(o, 3, 1, 2);

    size_t removed = 99;
    fz_error err;
    char id[33];
    mkid(id, 4);
    const char *one[] = {id};
    if (fz_outbox_purge(o, FZ_BOX_READY, one, 1, &removed, &err))
        fail_msg("purge: %s", err.message);
    assert_int_equal(removed, 1);
    expect_depth(o, 2, 1, 2);
    assert_null(find_listed(list_box(o, FZ_BOX_READY), id));

    /* An id of another box is not removed from this one. */
    mkid(id, 6);
    if (fz_outbox_purge(o, FZ_BOX_DEAD, one, 1, &removed, &err))
        fail_msg("purge: %s", err.message);
    assert_int_equal(removed, 0);
    expect_depth(o, 2, 1, 2);

    if (fz_outbox_purge(o, FZ_BOX_SCHEDULED, NULL, 0, &removed, &err))
        fail_msg("purge: %s", err.message);
    assert_int_equal(removed, 1);
    expect_depth(o, 2, 0, 2);
    if (fz_outbox_purge(o, FZ_BOX_DEAD, NULL, 0, &removed, &err))
        fail_msg("purge: %s", err.message);
    assert_int_equal(removed, 2);
    expect_depth(o, 2, 0, 0);
    if (fz_outbox_purge(o, FZ_BOX_READY, NULL, 0, &removed, &err))
        fail_msg("purge: %s", err.message);
    assert_int_equal(removed, 2);
    expect_depth(o, 0, 0, 0);

    /* Purged is gone: nothing is sent. */
    hu_receiver_control(T.recv, "{\"mode\":\"ok\",\"reset_stats\":true}");
    st = deliver_once(o, g);
    assert_int_equal(st.attempts, 0);
    expect_receiver(T.recv, 0, 0, 0);
}

/* The gateway is down (nothing listens), then answers 503 with
 * Retry-After, then comes back while a follow-mode deliverer runs: every
 * warning is delivered exactly once, none is lost. */
static void test_gateway_outage(void **state)
{
    fz_outbox *o = fresh(*state);
    enum { N = 10 };
    queue_n(o, 1, N);

    /* Down: connection refused, each attempt becomes a retry (due within
     * a second, full jitter). */
    char down[64];
    snprintf(down, sizeof down, "http://127.0.0.1:%d/notify", tu_free_port());
    fz_deliver_stats st = deliver_once(o, gateway_to(down, 10, 2000, 1000));
    assert_true(st.attempts >= N);             /* (a retry due at once may be tried again) */
    assert_int_equal(st.retried, st.attempts);
    assert_int_equal(st.delivered + st.dead, 0);
    fz_outbox_depth d = depth(o);
    assert_int_equal(d.ready + d.scheduled, N);
    assert_int_equal(d.dead, 0);

    /* Up but overloaded for a second, then well. */
    const char *args[] = {"--mode", "503", "--retry-after", "1", NULL};
    receiver(args);
    fz_gateway *g = gateway(10);
    /* Back to ok once every retry of the outage has been due (and met the 503). */
    watch x = {.deadline_ms = wall_ms() + 15000, .want_delivered = N, .switch_at_ms = wall_ms() + 1300};
    st = deliver_follow(o, g, &x);
    assert_true(x.switched);
    assert_int_equal(st.delivered, N);
    assert_int_equal(st.dead, 0);
    assert_true(st.retried >= N);           /* every one met the 503 first */
    hu_stats h = hu_receiver_stats(T.recv);
    assert_int_equal(h.accepted, N);
    assert_int_equal(h.duplicates, 0);
    assert_int_equal(h.keys, N);
    assert_true(h.requests >= 2 * N);
    expect_keys(T.recv, 1, N);
    expect_depth(o, 0, 0, 0);
}

/* --- 3. a dead deliverer ------------------------------------------------------------------------ */

#define LEASE_MS 1500

/* A loopback port that accepts connections (the kernel completes them) and
 * never answers: a deliverer sending there waits as long as its timeout. */
static const char *black_hole(void)
{
    T.hole = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(T.hole >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(T.hole, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(T.hole, 64), 0);
    assert_int_equal(getsockname(T.hole, (struct sockaddr *)&a, &len), 0);
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/notify", ntohs(a.sin_port));
    return url;
}

typedef struct child_signal {
    int fd;
    int calls;
} child_signal;

/* The deliverer's loop asks should_stop before each round: on the second
 * call its first claim is done and the requests are in flight. */
static int child_should_stop(void *ud)
{
    child_signal *c = ud;
    if (++c->calls == 2 && write(c->fd, "c", 1) != 1)
        _exit(4);
    return 0;
}

/* In a child process (its own store and connections, as another fanzha
 * process): deliver to the black hole until killed. */
static void child_deliverer(const backend *b, const char *hole, int fd)
{
    fz_store_options so = {b->redis ? tu_redis_url() : NULL, SECRET, 0, 0, T.dir};
    fz_store *s;
    fz_outbox *o;
    fz_gateway *g;
    fz_error err;
    fz_gateway_options go;
    memset(&go, 0, sizeof go);
    go.url = hole;
    go.timeout_ms = 60000;
    go.concurrency = 16;
    if (fz_store_open(&so, &s, &err) || fz_outbox_open(s, &o, &err) || fz_gateway_open(&go, &g, &err))
        _exit(2);
    child_signal c = {fd, 0};
    fz_deliver_options opt;
    memset(&opt, 0, sizeof opt);
    opt.follow = 1;
    opt.lease_ms = LEASE_MS;
    opt.should_stop = child_should_stop;
    opt.should_stop_ud = &c;
    fz_deliver_stats st;
    fz_outbox_deliver(o, g, &opt, &st, &err);
    _exit(3);
}

/* A deliverer dies with warnings claimed and in flight: they stay leased
 * (no other deliverer sends them) until the lease runs out, then another
 * deliverer claims and delivers each exactly once. */
static void test_lease_reclaim(void **state)
{
    const backend *b = *state;
    fresh(b);
    enum { N = 6 };
    queue_n(T.outbox, 1, N);
    close_all();                            /* the child opens its own */
    const char *hole = black_hole();
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    T.child = fork();
    assert_true(T.child >= 0);
    if (T.child == 0) {
        close(p[0]);
        child_deliverer(b, hole, p[1]);
    }
    close(p[1]);
    char c = 0;
    ssize_t got = read(p[0], &c, 1);
    close(p[0]);
    if (got != 1)
        fail_msg("the child deliverer did not start");
    int64_t claimed_at = wall_ms();
    kill(T.child, SIGKILL);                 /* a crash: nothing settled */
    waitpid(T.child, NULL, 0);
    T.child = 0;

    fz_outbox *o = open_all(b, NULL);
    receiver(NULL);
    fz_gateway *g = gateway(3);
    expect_depth(o, N, 0, 0);               /* leased warnings are still in the outbox */
    fz_deliver_options opt;
    memset(&opt, 0, sizeof opt);
    opt.lease_ms = LEASE_MS;
    fz_deliver_stats st;
    fz_error err;
    if (fz_outbox_deliver(o, g, &opt, &st, &err))
        fail_msg("deliver: %s", err.message);
    if (wall_ms() - claimed_at < LEASE_MS - 200) {
        /* Still leased by the dead deliverer: not claimed again yet. */
        assert_int_equal(st.attempts, 0);
        expect_receiver(T.recv, 0, 0, 0);
    }

    sleep_until_ms(claimed_at + LEASE_MS + 300);
    if (fz_outbox_deliver(o, g, &opt, &st, &err))
        fail_msg("deliver: %s", err.message);
    hu_stats h = hu_receiver_stats(T.recv);
    assert_int_equal(h.accepted, N);
    assert_int_equal(h.duplicates, 0);
    assert_int_equal(h.requests, N);
    expect_keys(T.recv, 1, N);
    expect_depth(o, 0, 0, 0);
}

/* --- 4. Redis outages ------------------------------------------------------------------------- */

/* Wait until the store reaches Redis again (reconnects back off up to 2 s). */
static void wait_redis_back(fz_outbox *o)
{
    fz_outbox_depth d;
    for (int i = 0; i < 100; i++) {
        if (fz_outbox_depth_get(o, &d, NULL) == 0)
            return;
        sleep_ms(50);
    }
    fail_msg("the store did not reconnect to Redis");
}

/* Redis dies: warnings go to the spool in the state directory (SPOOLED,
 * with the spool's own checks); the deliverer drains the spool while Redis
 * is still down; what is spooled survives a restart of the process and is
 * delivered once Redis is back, together with what is queued in the new
 * Redis. */
static void test_redis_outage_spools(void **state)
{
    const backend *b = *state;
    fz_outbox *o = fresh(b);
    receiver(NULL);
    fz_gateway *g = gateway(3);
    /* Before the outage: one warning through Redis, so the deliverer has
     * set up its consumer group. */
    queue_n(o, 1, 1);
    fz_deliver_stats st = deliver_once(o, g);
    assert_int_equal(st.delivered, 1);

    redis_kill();
    fz_warn_request r[3] = {req(2, "o2", "c", 5, 0), req(3, "o3", "c", 5, 0), req(4, "o2", "c", 5, 0)};
    fz_queue_result res[3];
    queue(o, r, 3, res);
    assert_int_equal(res[0], FZ_SPOOLED);
    assert_int_equal(res[1], FZ_SPOOLED);
    assert_int_equal(res[2], FZ_DUPLICATE);     /* the spool checks too */
    /* Delivery goes on from the spool while Redis is down. */
    st = deliver_once(o, g);
    assert_int_equal(st.delivered, 2);
    assert_true(st.store_errors >= 1);          /* Redis could not be claimed from */
    expect_receiver(T.recv, 3, 3, 0);

    fz_warn_request r5 = req(5, NULL, NULL, 0, 0);
    queue(o, &r5, 1, res);
    assert_int_equal(res[0], FZ_SPOOLED);
    close_all();                                /* a restart of the process meanwhile */
    o = open_all(b, NULL);
    redis_restart();
    wait_redis_back(o);
    fz_outbox_depth d = depth(o);
    assert_int_equal(d.spooled, 1);
    assert_int_equal(d.ready + d.scheduled + d.dead, 0);    /* the new Redis is empty */
    listing *l = list_box(o, FZ_BOX_READY);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->w[0].id, r5.w.id);
    assert_string_equal(l->w[0].to, r5.w.to);

    /* Redis is back: new warnings go there again. */
    fz_warn_request more[2] = {req(6, NULL, NULL, 0, 0), req(7, NULL, NULL, 0, 0)};
    queue(o, more, 2, res);
    assert_int_equal(res[0], FZ_QUEUED);
    assert_int_equal(res[1], FZ_QUEUED);
    d = depth(o);
    assert_int_equal(d.ready, 2);
    assert_int_equal(d.spooled, 1);

    st = deliver_once(o, g);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.store_errors, 0);
    expect_receiver(T.recv, 6, 6, 0);
    const unsigned ks[] = {1, 2, 3, 5, 6, 7};
    expect_key_set(T.recv, ks, 6);
    d = depth(o);
    assert_int_equal(d.ready + d.scheduled + d.dead + d.spooled, 0);
}

/* The same deliverer keeps running across a Redis restart (its consumer
 * group is gone with the old server's data). */
static void test_redis_restart_same_outbox(void **state)
{
    const backend *b = *state;
    fz_outbox *o = fresh(b);
    receiver(NULL);
    fz_gateway *g = gateway(3);
    queue_n(o, 1, 2);
    fz_deliver_stats st = deliver_once(o, g);
    assert_int_equal(st.delivered, 2);
    redis_kill();
    redis_restart();
    wait_redis_back(o);
    queue_n(o, 3, 3);
    expect_depth(o, 3, 0, 0);
    st = deliver_once(o, g);
    assert_int_equal(st.delivered, 3);
    expect_receiver(T.recv, 5, 5, 0);
    expect_depth(o, 0, 0, 0);
}

/* Without a spool (no state directory) a Redis outage fails the queueing. */
static void test_redis_outage_without_spool(void **state)
{
    const backend *b = *state;
    tu_redis_flush();
    T.store = open_store_as(b, NULL, SECRET);
    fz_error err;
    if (fz_outbox_open(T.store, &T.outbox, &err))
        fail_msg("fz_outbox_open: %s", err.message);
    redis_kill();
    fz_warn_request r = req(1, NULL, NULL, 0, 0);
    fz_queue_result res = FZ_QUEUED;
    assert_true(fz_outbox_queue(T.outbox, &r, 1, &res, &err) < 0);
    assert_int_equal(res, FZ_QUEUE_FAILED);
    assert_true(strlen(err.message) > 0);
    redis_restart();
}

/* The embedded store has no outbox without a state directory. */
static void test_embedded_needs_state_dir(void **state)
{
    (void)state;
    T.store = open_store_as(&k_embedded, NULL, SECRET);
    fz_error err;
    fz_outbox *o = (fz_outbox *)1;
    assert_int_equal(fz_outbox_open(T.store, &o, &err), FZ_EINVAL);
    assert_null(o);
    assert_non_null(strstr(err.message, "state directory"));
}

/* --- 5. restarts and secrets --------------------------------------------------------------------- */

/* Warnings in every box survive closing and opening the store again. */
static void test_survives_reopen(void **state)
{
    const backend *b = *state;
    fz_outbox *o = fresh(b);
    const char *args[] = {"--mode", "400", NULL};
    receiver(args);
    queue_n(o, 1, 1);
    fz_deliver_stats st = deliver_once(o, gateway(3));
    assert_int_equal(st.dead, 1);
    queue_n(o, 2, 2);
    fz_warn_request later = req(4, "later", NULL, 0, wall_ms() / 1000 + 3600);
    fz_queue_result res;
    queue(o, &later, 1, &res);
    assert_int_equal(res, FZ_QUEUED);
    expect_depth(o, 2, 1, 1);
    close_all();

    o = open_all(b, NULL);
    expect_depth(o, 2, 1, 1);
    listing *l = list_box(o, FZ_BOX_SCHEDULED);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->w[0].to, later.w.to);
    assert_string_equal(l->w[0].text, later.w.text);
    l = list_box(o, FZ_BOX_DEAD);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->w[0].attempts, 1);
    /* The dedup key survived too. */
    fz_warn_request dup = req(9, "later", NULL, 0, 0);
    queue(o, &dup, 1, &res);
    assert_int_equal(res, FZ_DUPLICATE);

    hu_receiver_control(T.recv, "{\"mode\":\"ok\",\"reset_stats\":true}");
    st = deliver_once(o, T.gw);
    assert_int_equal(st.delivered, 2);
    expect_receiver(T.recv, 2, 2, 0);
}

/* Residents survive closing and opening the store again. */
static void test_residents_survive_reopen(void **state)
{
    const backend *b = *state;
    if (b->redis)
        tu_redis_flush();
    new_dir();
    T.store = open_store_as(b, T.dir, SECRET);
    fz_resident r;
    fz_error err;
    const char *json = "{\"number\":\"138 0013 8000\",\"name\":\"王阿姨\",\"language\":\"en\",\"guardians\":"
                       "[\"13900139000\",\"+85291234567\"],\"channel\":\"app\",\"daily_limit\":2,"
                       "\"quiet\":\"22:30-07:15\"}";
    if (fz_resident_parse(json, strlen(json), &r, &err))
        fail_msg("parse: %s", err.message);
    if (fz_resident_put(T.store, &r, &err))
        fail_msg("put: %s", err.message);
    fz_resident other = {.number = "+8613700137000", .language = "zh", .channel = "sms"};
    if (fz_resident_put(T.store, &other, &err))
        fail_msg("put: %s", err.message);
    fz_store_close(T.store);

    T.store = open_store_as(b, T.dir, SECRET);
    fz_resident got;
    if (fz_resident_get(T.store, "+8613800138000", &got, &err))
        fail_msg("get after reopen: %s", err.message);
    assert_string_equal(got.number, "+8613800138000");
    assert_string_equal(got.name, "王阿姨");
    assert_string_equal(got.language, "en");
    assert_int_equal(got.n_guardians, 2);
    assert_string_equal(got.guardians[0], "+8613900139000");
    assert_string_equal(got.guardians[1], "+85291234567");
    assert_string_equal(got.channel, "app");
    assert_int_equal(got.daily_limit, 2);
    assert_int_equal(got.quiet_start, 22 * 60 + 30);
    assert_int_equal(got.quiet_end, 7 * 60 + 15);
    assert_int_equal(fz_resident_remove(T.store, "13700137000", &err), 0);
    fz_store_close(T.store);

    T.store = open_store_as(b, T.dir, SECRET);
    assert_int_equal(fz_resident_get(T.store, "13700137000", &got, &err), FZ_ENOENT);
    assert_int_equal(fz_resident_get(T.store, "13800138000", &got, &err), 0);
}

/* A store opened with another secret cannot read sealed warnings: they are
 * listed as unreadable, never sent, and go to the dead letters on delivery
 * (a replay does not revive them); with the right secret they come back.
 * Its residents cannot be found or listed either. */
static void test_other_secret(void **state)
{
    const backend *b = *state;
    fz_outbox *o = fresh(b);
    queue_n(o, 1, 2);
    fz_error err;
    fz_resident r = {.number = "+8613800138000", .name = "李伯", .language = "zh", .channel = "sms"};
    if (fz_resident_put(T.store, &r, &err))
        fail_msg("put: %s", err.message);
    close_all();

    o = open_all(b, OTHER_SECRET);
    listing *l = list_box(o, FZ_BOX_READY);
    assert_int_equal(l->n, 2);
    for (size_t i = 0; i < l->n; i++) {
        assert_string_equal(l->w[i].to, "");
        assert_string_equal(l->w[i].text, "");
        assert_non_null(strstr(l->w[i].last_error, "unreadable"));
    }
    char id1[33];
    mkid(id1, 1);
    assert_non_null(find_listed(l, id1));   /* the id is known: an operator can name it */
    receiver(NULL);
    fz_deliver_stats st = deliver_once(o, gateway(3));
    assert_int_equal(st.dead, 2);
    assert_int_equal(st.attempts, 0);
    expect_receiver(T.recv, 0, 0, 0);
    expect_depth(o, 0, 0, 2);
    size_t moved = 99;
    if (fz_outbox_replay(o, NULL, 0, &moved, &err))
        fail_msg("replay: %s", err.message);
    assert_int_equal(moved, 0);
    expect_depth(o, 0, 0, 2);
    fz_resident got;
    assert_int_equal(fz_resident_get(T.store, "+8613800138000", &got, &err), FZ_ENOENT);
    close_all();

    /* The right secret again: readable, replayable, delivered. */
    o = open_all(b, NULL);
    l = list_box(o, FZ_BOX_DEAD);
    assert_int_equal(l->n, 2);
    fz_warn_request want = req(1, NULL, NULL, 0, 0);
    const fz_warning *w = find_listed(l, want.w.id);
    assert_non_null(w);
    assert_string_equal(w->to, want.w.to);
    if (fz_outbox_replay(o, NULL, 0, &moved, &err))
        fail_msg("replay: %s", err.message);
    assert_int_equal(moved, 2);
    st = deliver_once(o, T.gw);
    assert_int_equal(st.delivered, 2);
    expect_receiver(T.recv, 2, 2, 0);
    expect_keys(T.recv, 1, 2);
    assert_int_equal(fz_resident_get(T.store, "+8613800138000", &got, &err), 0);
    assert_string_equal(got.name, "李伯");
}

#define BOTH(f)                                                                                                        \
    {#f " [embedded]", f, test_setup, test_teardown, &k_embedded}, { #f " [redis]", f, test_setup, test_teardown, &k_redis }
#define REDIS(f) {#f " [redis]", f, test_setup, test_teardown, &k_redis}
#define EMBEDDED(f) {#f " [embedded]", f, test_setup, test_teardown, &k_embedded}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_queue_dedup_and_limit),
        BOTH(test_scheduled),
        BOTH(test_deliver_exactly_once),
        BOTH(test_dead_letters_and_replay),
        BOTH(test_purge),
        BOTH(test_gateway_outage),
        BOTH(test_lease_reclaim),
        REDIS(test_redis_outage_spools),
        REDIS(test_redis_restart_same_outbox),
        REDIS(test_redis_outage_without_spool),
        EMBEDDED(test_embedded_needs_state_dir),
        BOTH(test_survives_reopen),
        BOTH(test_residents_survive_reopen),
        BOTH(test_other_secret),
    };
    return cmocka_run_group_tests_name("outbox", tests, group_setup, group_teardown);
}
