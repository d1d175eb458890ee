/* test_state.c — shared state (DESIGN.md §6): the verdict cache, reported
 * numbers and their decay, reputation and campaigns in verdicts, privacy of
 * what is stored, and scoring on when Redis is down or restarts.
 *
 * Every behaviour that both backends share runs twice: on the embedded store
 * (fz_store_open with no URL) and on a real redis-server that this test
 * starts on a free loopback port (tests/unit/testutil.c) and stops at the
 * end. Messages are scored the way fanzha scan scores them, a batch at a
 * time (engine/batch.c), and compared with the stateless verdict of
 * fz_engine_scan. Rule pack: tests/data/rules-state (campaigns at 3
 * recipients, reputation 2 a reporter capped at 5, half-life 30 days).
 *
 * Tests marked "Was a bug" reproduce bugs this suite found; they stay as
 * regression tests. */
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "batch.h"
#include "engine_internal.h"
#include "store.h"

#define PACK "tests/data/rules-state"
#define HASH_KEY "test_state hashing key"
#define DAY 86400.0

typedef struct backend {
    const char *name;
    int redis;
} backend;

static backend k_embedded = {"embedded", 0};
static backend k_redis = {"redis", 1};

static fz_engine *g_engine;     /* rules-state */
static double g_half_life;      /* its reputation.half_life_days */
static fz_worker *g_w;
static fz_verdict *g_v;         /* stateless verdicts */
static fz_batch *g_batch;
static fz_store *g_store, *g_store2;    /* closed by the teardown, also after a failure */

/* --- helpers -------------------------------------------------------------------------------- */

typedef struct tmsg {
    const char *id;         /* JSON value: "1" */
    const char *from, *to, *text;
} tmsg;

#define MAX_MSGS 32
#define JSON_CAP 4096
static char g_json[MAX_MSGS][JSON_CAP];     /* the verdicts of the last batch */
static char g_plain[JSON_CAP];              /* the last stateless verdict */

static fz_str str_of(const char *s)
{
    return s ? (fz_str){s, strlen(s)} : (fz_str){NULL, 0};
}

static fz_message mk(const tmsg *t)
{
    fz_message m;
    memset(&m, 0, sizeof m);
    m.id_json = str_of(t->id);
    m.from = str_of(t->from);
    m.to = str_of(t->to);
    m.text = str_of(t->text);
    return m;
}

static fz_store *open_store_url(const char *url, const char *hash_key, fz_store **slot)
{
    fz_store_options o = {url, hash_key ? hash_key : HASH_KEY, 0, 0};
    fz_error err;
    int rc = fz_store_open(&o, slot, &err);
    if (rc)
        fail_msg("fz_store_open(%s): %s", url ? url : "embedded", err.message);
    return *slot;
}

/* The backend's store, empty. */
static fz_store *open_store(const backend *b)
{
    if (b->redis)
        tu_redis_flush();
    return open_store_url(b->redis ? tu_redis_url() : NULL, NULL, &g_store);
}

static void copy_json(char *dst, const fz_buf *b)
{
    assert_true(b->len < JSON_CAP);
    memcpy(dst, b->data, b->len + 1);
}

/* Score msgs as one batch (as fanzha scan scores a block) on store s (NULL:
 * no state) with engine e; the JSON lines go to g_json. */
static fz_batch *score_with(fz_engine *e, fz_store *s, const tmsg *msgs, size_t n)
{
    assert_true(n <= MAX_MSGS);
    if (!g_batch)
        assert_non_null(g_batch = fz_batch_new());
    fz_batch_clear(g_batch);
    for (size_t i = 0; i < n; i++) {
        fz_message m = mk(&msgs[i]);
        assert_int_equal(fz_batch_add(g_batch, &m), 0);
    }
    assert_int_equal(fz_batch_score(g_batch, e, g_w, s), 0);
    assert_int_equal(fz_batch_count(g_batch), n);
    for (size_t i = 0; i < n; i++) {
        assert_true(fz_batch_ok(g_batch, i));
        fz_buf b = FZ_BUF_INIT;
        assert_int_equal(fz_verdict_write_json(fz_batch_verdict(g_batch, i), fz_batch_message(g_batch, i), &b), 0);
        copy_json(g_json[i], &b);
        fz_buf_free(&b);
    }
    return g_batch;
}

static fz_batch *score(fz_store *s, const tmsg *msgs, size_t n)
{
    return score_with(g_engine, s, msgs, n);
}

/* The verdict of fz_engine_scan, as JSON (g_plain). */
static const char *stateless_with(fz_engine *e, const tmsg *t)
{
    fz_message m = mk(t);
    assert_int_equal(fz_engine_scan(e, g_w, &m, g_v), 0);
    fz_buf b = FZ_BUF_INIT;
    assert_int_equal(fz_verdict_write_json(g_v, &m, &b), 0);
    copy_json(g_plain, &b);
    fz_buf_free(&b);
    return g_plain;
}

static const char *stateless(const tmsg *t)
{
    return stateless_with(g_engine, t);
}

/* Remove the "cache" member from a verdict line; returns 2 for a hit, 1 for
 * a miss, 0 when there was none. */
static int strip_cache(char *json)
{
    static const char *const forms[] = {",\"cache\":\"miss\"", ",\"cache\":\"hit\""};
    for (int k = 0; k < 2; k++) {
        char *p = strstr(json, forms[k]);
        if (p) {
            size_t l = strlen(forms[k]);
            memmove(p, p + l, strlen(p + l) + 1);
            assert_null(strstr(json, ",\"cache\":"));
            return k + 1;
        }
    }
    return 0;
}

/* g_json[i] is a hit (2) or a miss (1), and otherwise the stateless verdict. */
static void expect_cached(size_t i, const tmsg *t, int how)
{
    char line[JSON_CAP];
    memcpy(line, g_json[i], JSON_CAP);
    int got = strip_cache(line);
    if (got != how)
        fail_msg("message %zu: expected a cache %s, got: %s", i, how == 2 ? "hit" : "miss", g_json[i]);
    const char *plain = stateless(t);
    if (strcmp(line, plain) != 0)
        fail_msg("message %zu: the verdict differs from the stateless one\n  got:  %s  want: %s", i, g_json[i], plain);
}

static cJSON *parse(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        fail_msg("not JSON: %s", json);
    return j;
}

/* A number at path a[.b] in a verdict line; NAN when absent. */
static double jnum(const char *json, const char *a, const char *b)
{
    cJSON *root = parse(json);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    if (x && b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    double v = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    cJSON_Delete(root);
    return v;
}

static int jhas(const char *json, const char *a, const char *b)
{
    cJSON *root = parse(json);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    if (x && b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    cJSON_Delete(root);
    return x != NULL;
}

static const char *jstr(const char *json, const char *a, const char *b, char *out, size_t cap)
{
    cJSON *root = parse(json);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    if (x && b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    snprintf(out, cap, "%s", cJSON_IsString(x) ? x->valuestring : "");
    cJSON_Delete(root);
    return out;
}

#define assert_near(a, b, tol)                                                                                        \
    do {                                                                                                              \
        double a_ = (a), b_ = (b);                                                                                    \
        if (!(fabs(a_ - b_) <= (tol)))                                                                                \
            fail_msg("%s = %.9g, expected %.9g (± %g)", #a, a_, b_, (double)(tol));                                    \
    } while (0)

static void report(fz_store *s, const char *number, const char *reporter, int64_t ts)
{
    fz_report r = {number, reporter, "sms", ts};
    size_t bad = 99;
    fz_error err;
    int rc = fz_store_report(s, &r, 1, g_half_life, &bad, &err);
    if (rc)
        fail_msg("fz_store_report: %s", err.message);
    assert_int_equal(bad, 0);
}

static fz_standing lookup(fz_store *s, const char *number)
{
    fz_standing st;
    fz_error err;
    int rc = fz_store_lookup(s, number, g_half_life, &st, &err);
    if (rc)
        fail_msg("fz_store_lookup(%s): %s", number, err.message);
    return st;
}

static fz_store_stats stats(const fz_store *s)
{
    fz_store_stats st;
    fz_store_get_stats(s, &st);
    return st;
}

/* Campaign counters are per clock hour: keep a test from straddling one. */
static void away_from_hour_boundary(void)
{
    time_t now = time(NULL);
    int left = (int)(3600 - now % 3600);
    if (left < 15)
        sleep((unsigned)left + 1);
}

/* --- fixtures -------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    g_engine = tu_engine(PACK);
    g_half_life = fz_engine_half_life_days(g_engine);
    if (fz_worker_new(&g_w, NULL) || !(g_v = fz_verdict_new()))
        return -1;
    tu_redis_start();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_redis_stop();
    fz_batch_free(g_batch);
    fz_verdict_free(g_v);
    fz_worker_free(g_w);
    fz_engine_release(g_engine);
    tu_cleanup();
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    fz_store_close(g_store);
    fz_store_close(g_store2);
    g_store = g_store2 = NULL;
    return 0;
}

/* --- messages ----------------------------------------------------------------------------------- */

static const tmsg k_mix[] = {
    {"1", "17001234567", "13800000001", "公安局通知：您涉嫌洗钱，请将资金转入安全账户"},
    {"2", NULL, NULL, "【反诈中心】温馨提醒：公安局不会要求转账"},
    {"3", "+2395588", "13800000002", "ETC认证失效 http://etc-x.cn/a9 请致电13812345678 处理"},
    {"4", NULL, NULL, "请將資金轉入安全帳戶"},
    {"5", "95588", NULL, "【中国移动】您的积分即将清零，请拨打4001234567兑换礼品"},
    {"6", NULL, NULL, "hello world"},
    {"7", "HSBC", NULL, "您的快递已到，取件码5-1-2207"},
};
#define N_MIX (sizeof k_mix / sizeof *k_mix)

/* --- 1. the verdict cache ------------------------------------------------------------------------- */

/* Scored twice: all misses, then all hits; every verdict is the stateless
 * one apart from "cache"; the store counts them. */
static void test_cache_second_time_hits(void **state)
{
    fz_store *s = open_store(*state);
    score(s, k_mix, N_MIX);
    for (size_t i = 0; i < N_MIX; i++)
        expect_cached(i, &k_mix[i], 1);
    fz_store_stats st = stats(s);
    assert_int_equal(st.cache_misses, N_MIX);
    assert_int_equal(st.cache_hits, 0);
    score(s, k_mix, N_MIX);
    for (size_t i = 0; i < N_MIX; i++)
        expect_cached(i, &k_mix[i], 2);
    st = stats(s);
    assert_int_equal(st.cache_hits, N_MIX);
    assert_int_equal(st.cache_misses, N_MIX);
    assert_int_equal(st.degraded, 0);
    assert_int_equal(st.errors, 0);
    /* Two round trips per batch (no campaign crossed): never one per message. */
    assert_int_equal(st.round_trips, 4);
    /* Without a store: the stateless verdict, and no "cache" member. */
    score(NULL, k_mix, N_MIX);
    for (size_t i = 0; i < N_MIX; i++)
        assert_string_equal(g_json[i], stateless(&k_mix[i]));
}

/* Variants of one template (another link, another number) share the
 * template but are scored afresh; a message whose normalized text is the
 * same (full-width digits, traditional characters) is a hit. */
static void test_cache_variants(void **state)
{
    fz_store *s = open_store(*state);
    const tmsg base[] = {
        {"1", NULL, NULL, "ETC认证失效 http://etc-x.cn/a9 请致电13812345678 处理"},
        {"2", NULL, NULL, "請將資金轉入安全帳戶"},
    };
    const tmsg variants[] = {
        {"3", NULL, NULL, "ETC认证失效 http://etc-y.cn/b7 请致电13812345678 处理"},  /* another link */
        {"4", NULL, NULL, "ETC认证失效 http://etc-x.cn/a9 请致电13987654321 处理"},  /* another number */
        {"5", NULL, NULL, "ＥＴＣ认证失效 http://etc-x.cn/a9 请致电１３８１２３４５６７８ 处理"}, /* same normalized */
        {"6", NULL, NULL, "请将资金转入安全账户"},                                  /* simplified: same normalized */
        {"7", NULL, NULL, "ETC认证失效 http://etc-x.cn/a9 请致电13812345678 处理"},  /* the same */
    };
    fz_batch *b = score(s, base, 2);
    char tmpl[33];
    memcpy(tmpl, fz_batch_verdict(b, 0)->template_hash, 33);
    assert_int_equal(strlen(tmpl), 32);
    b = score(s, variants, 5);
    /* The link and number variants are the same template... */
    assert_string_equal(fz_batch_verdict(b, 0)->template_hash, tmpl);
    assert_string_equal(fz_batch_verdict(b, 1)->template_hash, tmpl);
    /* ...but not cache hits. */
    expect_cached(0, &variants[0], 1);
    expect_cached(1, &variants[1], 1);
    expect_cached(2, &variants[2], 2);
    expect_cached(3, &variants[3], 2);
    expect_cached(4, &variants[4], 2);
    /* Another sender class is another template (rules see the class). */
    const tmsg spoofed = {"8", "+2310086", NULL, base[0].text};
    b = score(s, &spoofed, 1);
    assert_string_not_equal(fz_batch_verdict(b, 0)->template_hash, tmpl);
    expect_cached(0, &spoofed, 1);
}

/* Repeats inside one batch: the first is scored, the others hit. */
static void test_cache_repeats_in_batch(void **state)
{
    fz_store *s = open_store(*state);
    const tmsg msgs[] = {
        {"1", "17001234567", "13800000001", "公安局通知：您涉嫌洗钱，请将资金转入安全账户"},
        {"2", NULL, NULL, "hello world"},
        {"3", "17001234567", "13800000002", "公安局通知：您涉嫌洗钱，请将资金转入安全账户"},
        {"4", "17009999999", NULL, "公安局通知：您涉嫌洗钱，请将资金转入安全账户"},
        {"5", NULL, NULL, "hello world"},
        {"6", NULL, NULL, "hello world!"},
    };
    score(s, msgs, 6);
    expect_cached(0, &msgs[0], 1);
    expect_cached(1, &msgs[1], 1);
    expect_cached(2, &msgs[2], 2);
    expect_cached(3, &msgs[3], 2);     /* another sender of the same class */
    expect_cached(4, &msgs[4], 2);
    expect_cached(5, &msgs[5], 1);
    fz_store_stats st = stats(s);
    assert_int_equal(st.cache_hits, 3);
    assert_int_equal(st.cache_misses, 3);
}

/* The cache is keyed by the rules version: another pack does not reuse
 * the verdicts of this one. */
static void test_cache_rules_version(void **state)
{
    fz_store *s = open_store(*state);
    fz_engine *other = tu_engine("tests/data/rules-unit");
    const tmsg m = {"1", NULL, NULL, "公安局通知：您涉嫌洗钱"};
    score(s, &m, 1);
    assert_non_null(strstr(g_json[0], "\"cache\":\"miss\""));
    score_with(other, s, &m, 1);
    char line[JSON_CAP];
    memcpy(line, g_json[0], JSON_CAP);
    int how = strip_cache(line);
    assert_string_equal(line, stateless_with(other, &m));
    fz_engine_release(other);
    assert_int_equal(how, 1);
    score(s, &m, 1);
    assert_non_null(strstr(g_json[0], "\"cache\":\"hit\""));
}

/* Cached verdicts expire after cache.ttl_seconds (here a pack with 1 s),
 * on both backends (one test, so that both share the wait). */
static void test_cache_ttl(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml",
                              "version: \"state-ttl\"\nactions: {suspect: 4, block: 8}\ncache: {ttl_seconds: 1}\n", NULL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -r '%s/zh' '%s/en' '%s/numbers.yaml' '%s' 2>/dev/null", tu_path(PACK), tu_path(PACK),
             tu_path(PACK), dir);
    assert_int_equal(system(cmd), 0);
    fz_engine *e = tu_engine_dir(dir);
    fz_store *emb = open_store_url(NULL, NULL, &g_store);
    tu_redis_flush();
    fz_store *red = open_store_url(tu_redis_url(), NULL, &g_store2);
    const tmsg m = {"1", NULL, NULL, "公安局通知：您涉嫌洗钱"};
    fz_store *both[] = {emb, red};
    int how[2][3];
    for (int k = 0; k < 2; k++) {
        score_with(e, both[k], &m, 1);
        how[k][0] = strip_cache(g_json[0]);
        score_with(e, both[k], &m, 1);
        how[k][1] = strip_cache(g_json[0]);
    }
    usleep(2100 * 1000);
    for (int k = 0; k < 2; k++) {
        score_with(e, both[k], &m, 1);
        how[k][2] = strip_cache(g_json[0]);
    }
    fz_engine_release(e);
    for (int k = 0; k < 2; k++) {
        if (how[k][0] != 1 || how[k][1] != 2 || how[k][2] != 1)
            fail_msg("%s: cache %d, %d, then after the TTL %d (1 miss, 2 hit)", k ? "redis" : "embedded", how[k][0],
                     how[k][1], how[k][2]);
    }
}

/* The embedded store is bounded (max_entries): the oldest entries go, the
 * newest stay, and scoring is not disturbed. */
static void test_embedded_bounded(void **state)
{
    (void)state;
    fz_store_options o = {NULL, HASH_KEY, 0, 16};
    fz_error err;
    assert_int_equal(fz_store_open(&o, &g_store, &err), 0);
    char texts[400][64];
    tmsg m[20];
    for (int i = 0; i < 400; i++)
        snprintf(texts[i], sizeof texts[i], "公安局通知：您涉嫌洗钱 %d", i);
    for (int b = 0; b < 20; b++) {
        for (int i = 0; i < 20; i++)
            m[i] = (tmsg){"1", "17001234567", NULL, texts[b * 20 + i]};
        score(g_store, m, 20);
        for (int i = 0; i < 20; i++)
            expect_cached((size_t)i, &m[i], 1);
    }
    m[0] = (tmsg){"1", "17001234567", NULL, texts[399]};
    score(g_store, m, 1);
    expect_cached(0, &m[0], 2);         /* the newest is there */
    m[0].text = texts[0];
    score(g_store, m, 1);
    expect_cached(0, &m[0], 1);         /* the oldest went */
}

/* Was a bug (fixed): evicted entries left tombstones and the table only
 * ever doubled, so its size followed every key ever written (a server fed
 * distinct texts grew to 1.9 GB in 10 minutes). It follows the entries kept. */
static void test_embedded_table_follows_entries_kept(void **state)
{
    (void)state;
    fz_store_options o = {NULL, HASH_KEY, 0, 1000};
    fz_error err;
    assert_int_equal(fz_store_open(&o, &g_store, &err), 0);
    char key[64];
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(key, sizeof key, "fz:v:test:%d", i);
        fz_op op = {.type = FZ_OP_SETEX, .key = {key, (size_t)n}, .value = {"v", 1}, .ttl = 3600};
        fz_arena a;
        fz_arena_init(&a, 256);
        assert_int_equal(fz_store_exec(g_store, &op, 1, &a), 0);
        fz_arena_free(&a);
    }
    assert_true(fz_store_mem_slots(g_store) <= 8192);
}

/* Was a bug (fixed): a cache hit finds each rule's evidence again with memmem, i.e. at the
 * first place where the same text occurs, which need not be a match: with
 * a whole-word literal (word: true) 'ups' in "groups of ups parcels", the
 * stateless verdict says "at":[10,13] and the cached one "at":[3,6] (inside
 * "groups"). The same holds for \b and look-around in patterns, which the
 * shipped pack uses a lot. Repro:
 *   printf '{"text":"groups of ups"}\n{"text":"groups of ups"}\n' |
 *     fanzha scan --rules tests/data/rules-state      # 2nd verdict: "at":[3,6] */
static void test_cache_hit_evidence_is_the_match(void **state)
{
    fz_store *s = open_store(*state);
    const tmsg m = {"1", NULL, NULL, "groups of ups parcels"};
    score(s, &m, 1);
    expect_cached(0, &m, 1);
    score(s, &m, 1);
    expect_cached(0, &m, 2);
}

/* --- 2. reported numbers ------------------------------------------------------------------------------ */

static void test_report_distinct_reporters(void **state)
{
    fz_store *s = open_store(*state);
    int64_t now = (int64_t)time(NULL);
    const char *n = "17001234567";
    fz_standing st = lookup(s, n);
    assert_int_equal(st.reporters, 0);
    assert_near(st.reputation, 0, 0);
    assert_int_equal(st.last_report, 0);
    /* The same reporter twice (in two calls and twice in one) counts once. */
    report(s, n, "r-1", 0);
    report(s, n, "r-1", 0);
    fz_report twice[] = {{n, "r-1", "sms", now}, {n, "r-1", "call", now}};
    size_t bad;
    assert_int_equal(fz_store_report(s, twice, 2, g_half_life, &bad, NULL), 0);
    st = lookup(s, n);
    assert_int_equal(st.reporters, 1);
    assert_near(st.reputation, 1, 0.001);
    assert_true(st.last_report >= now - 1 && st.last_report <= now + 5);
    /* Two reporters count two. */
    report(s, n, "r-2", 0);
    st = lookup(s, n);
    assert_int_equal(st.reporters, 2);
    assert_near(st.reputation, 2, 0.001);
    /* Another number is untouched. */
    assert_int_equal(lookup(s, "17001234568").reporters, 0);
}

static void test_report_decay(void **state)
{
    fz_store *s = open_store(*state);
    assert_near(g_half_life, 30, 0);
    int64_t now = (int64_t)time(NULL);
    /* Ten half-lives ago: 2^-10 < 0.002, but still on record. */
    report(s, "13800000010", "r-1", now - (int64_t)(10 * g_half_life * DAY));
    fz_standing st = lookup(s, "13800000010");
    assert_int_equal(st.reporters, 1);
    assert_true(st.reputation > 0 && st.reputation < 0.002);
    assert_near(st.reputation, exp2(-10), 0.0001);
    /* One half-life ago: 0.5. */
    report(s, "13800000011", "r-1", now - (int64_t)(g_half_life * DAY));
    st = lookup(s, "13800000011");
    assert_near(st.reputation, 0.5, 0.001);
    assert_int_equal(st.last_report, now - (int64_t)(g_half_life * DAY));
    /* The half-life given is honoured: the same report weighs 2^-0.5 with a
     * half-life twice as long, 0.25 with one half as long. */
    fz_error err;
    assert_int_equal(fz_store_lookup(s, "13800000011", 2 * g_half_life, &st, &err), 0);
    assert_near(st.reputation, M_SQRT1_2, 0.001);
    assert_int_equal(fz_store_lookup(s, "13800000011", g_half_life / 2, &st, &err), 0);
    assert_near(st.reputation, 0.25, 0.001);
    /* A fresh and an old reporter: 1 + 0.5. */
    report(s, "13800000011", "r-2", 0);
    st = lookup(s, "13800000011");
    assert_int_equal(st.reporters, 2);
    assert_near(st.reputation, 1.5, 0.001);
    /* ISO 8601 timestamps as fanzha report reads them. */
    fz_report r;
    fz_buf strings = FZ_BUF_INIT;
    char line[256];
    time_t old = (time_t)(now - (int64_t)(g_half_life * DAY));
    char iso[40];
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S+08:00", gmtime(&(time_t){old + 8 * 3600}));
    snprintf(line, sizeof line, "{\"number\":\"13800000012\",\"reporter\":\"r-9\",\"ts\":\"%s\"}", iso);
    int rc = fz_report_parse(line, strlen(line), &r, &strings, &err);
    size_t bad = 0;
    if (!rc)
        rc = fz_store_report(s, &r, 1, g_half_life, &bad, &err);
    fz_buf_free(&strings);
    assert_int_equal(rc, 0);
    assert_near(lookup(s, "13800000012").reputation, 0.5, 0.001);
}

/* Was a bug (fixed): a reporter's weight is taken from the LAST report recorded, not the
 * latest by date: a backfilled older report (feeds are not sorted) replaces
 * a fresh one, and the number's reputation drops from 1 to 0.001.
 * Repro (Redis at $U):
 *   echo '{"number":"13800000013","reporter":"r-1"}' | fanzha report --redis $U
 *   echo '{"number":"13800000013","reporter":"r-1","ts":"2020-01-01T00:00:00Z"}' | fanzha report --redis $U
 *   fanzha report --redis $U --lookup 13800000013    # "reputation":0.000 (expected ~1) */
static void test_report_older_does_not_replace_newer(void **state)
{
    fz_store *s = open_store(*state);
    int64_t now = (int64_t)time(NULL);
    report(s, "13800000013", "r-1", now);
    report(s, "13800000013", "r-1", now - (int64_t)(10 * g_half_life * DAY));
    fz_standing st = lookup(s, "13800000013");
    assert_int_equal(st.reporters, 1);
    assert_near(st.reputation, 1, 0.001);
    assert_true(st.last_report >= now);
}

static void test_report_bad_numbers(void **state)
{
    fz_store *s = open_store(*state);
    fz_report r[] = {
        {"13800000020", "r-1", "sms", 0},
        {"not a number", "r-1", "sms", 0},
        {NULL, "r-1", "sms", 0},
        {"", "r-1", "sms", 0},
        {"138abc00000", "r-1", "sms", 0},
        {"+86 138 0000 0021", "r-2", "sms", 0},
    };
    size_t bad = 0;
    fz_error err;
    assert_int_equal(fz_store_report(s, r, 6, g_half_life, &bad, &err), 0);
    assert_int_equal(bad, 4);
    assert_int_equal(lookup(s, "13800000020").reporters, 1);
    assert_int_equal(lookup(s, "13800000021").reporters, 1);
    fz_standing st;
    assert_int_not_equal(fz_store_lookup(s, "not a number", g_half_life, &st, &err), 0);
    assert_non_null(strstr(err.message, "not a phone number"));
    /* fz_report_parse refuses what fz_store_report could not use. */
    fz_buf strings = FZ_BUF_INIT;
    fz_report one;
    const char *lines[] = {"{\"number\":\"abc\"}", "{\"reporter\":\"r\"}", "{\"number\":13800000020}", "[1]",
                           "{\"number\":\"13800000020\",\"ts\":\"yesterday\"}"};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        assert_int_equal(fz_report_parse(lines[i], strlen(lines[i]), &one, &strings, &err), FZ_EPARSE);
    fz_buf_free(&strings);
}

/* One number however it is written: +86 / 0086 / 86 prefixes, spaces,
 * dashes and parentheses. */
static void test_report_number_forms(void **state)
{
    fz_store *s = open_store(*state);
    const char *forms[] = {"13800138000", "+86 138 0013 8000", "8613800138000", "0086 13800138000",
                           "138-0013-8000", "(138) 0013 8000", "+8613800138000"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        char who[16];
        snprintf(who, sizeof who, "r-%zu", i);
        report(s, forms[i], who, 0);
    }
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++)
        assert_int_equal(lookup(s, forms[i]).reporters, sizeof forms / sizeof *forms);
    /* An international number is not the domestic number with the same digits. */
    report(s, "+85291234567", "r-1", 0);
    assert_int_equal(lookup(s, "+852 9123 4567").reporters, 1);
    assert_int_equal(lookup(s, "85291234567").reporters, 0);
}

/* Was a bug (fixed): a landline written with +86 loses its trunk 0: "+86 10 6552 9999"
 * canonicalizes to 1065529999 and "010 6552 9999" to 01065529999 (engine/
 * numbers.c strips "86" after "+" whatever follows), so reports of one
 * Beijing number written both ways are two numbers with one reporter each.
 * Repro (Redis at $U):
 *   echo '{"number":"+86 10 6552 9999","reporter":"a"}' | fanzha report --redis $U
 *   echo '{"number":"010 6552 9999","reporter":"b"}' | fanzha report --redis $U
 *   fanzha report --redis $U --lookup 010-65529999     # "reporters":1, expected 2 */
static void test_report_landline_forms(void **state)
{
    fz_store *s = open_store(*state);
    report(s, "+86 10 6552 9999", "r-1", 0);
    report(s, "010-6552-9999", "r-2", 0);
    report(s, "0086 10 65529999", "r-3", 0);
    assert_int_equal(lookup(s, "01065529999").reporters, 3);
}

/* --- 3. reputation in verdicts ------------------------------------------------------------------------- */

static void test_reputation_in_verdicts(void **state)
{
    fz_store *s = open_store(*state);
    /* sender once reported, sender reported by four (capped), a callback
     * number reported by two (written differently) */
    report(s, "17001234567", "r-1", 0);
    for (int i = 0; i < 4; i++) {
        char who[16];
        snprintf(who, sizeof who, "r-%d", i);
        report(s, "17009998888", who, 0);
    }
    report(s, "+86 139 1234 5678", "r-1", 0);
    report(s, "139-1234-5678", "r-2", 0);
    const tmsg msgs[] = {
        {"1", "17001234567", NULL, "您的快递已到，取件码5-1-2207"},
        {"2", "17009998888", NULL, "您的快递已到，取件码5-1-2207"},
        {"3", "13500000000", NULL, "您的积分即将清零，请致电13912345678兑换"},
        {"4", "17009998888", NULL, "您的积分即将清零，请致电13912345678兑换"},
        {"5", "13500000000", NULL, "您的快递已到，取件码5-1-2207"},
    };
    const double sender_add[] = {2, 5, 0, 5, 0}, callback_add[] = {0, 0, 4, 4, 0};
    for (int round = 0; round < 2; round++) {       /* scored, then from the cache: the same */
        score(s, msgs, 5);
        for (size_t i = 0; i < 5; i++) {
            const char *j = g_json[i];
            const char *plain = stateless(&msgs[i]);
            double base = jnum(plain, "score", NULL);
            if (!(fabs(jnum(j, "score", NULL) - (base + sender_add[i] + callback_add[i])) < 0.01))
                fail_msg("message %zu (round %d): score %g, stateless %g, expected +%g: %s", i, round,
                         jnum(j, "score", NULL), base, sender_add[i] + callback_add[i], j);
            if (round)
                assert_non_null(strstr(j, "\"cache\":\"hit\""));
            double sr = jnum(j, "sender", "reports"), cr = jnum(j, "callback", "reports");
            if (sender_add[i] > 0)
                assert_near(sr, sender_add[i] == 2 ? 1 : 4, 0.01);
            else
                assert_true(isnan(sr));
            if (callback_add[i] > 0)
                assert_near(cr, 2, 0.01);
            else
                assert_true(isnan(cr));
            /* the sender's class stays beside its reports */
            if (msgs[i].from[0] == '1' && msgs[i].from[2] == '0') {
                char cls[32];
                assert_string_equal(jstr(j, "sender", "class", cls, sizeof cls), "virtual_operator");
            }
            /* the action follows the new score */
            double sc = jnum(j, "score", NULL);
            char act[16];
            jstr(j, "action", NULL, act, sizeof act);
            assert_string_equal(act, sc >= 8 ? "block" : sc >= 4 ? "suspect" : "allow");
        }
    }
}

/* --- 4. campaigns ------------------------------------------------------------------------------------ */

/* One campaign: the template with another callback number each time, to
 * A, B, (no recipient), B again, (no recipient), C, D. */
static const tmsg k_camp[] = {
    {"1", NULL, "13600000001", "【中国移动】您的积分即将清零，请拨打4001234567兑换礼品"},
    {"2", NULL, "13600000002", "【中国移动】您的积分即将清零，请拨打4001234568兑换礼品"},
    {"3", NULL, NULL, "【中国移动】您的积分即将清零，请拨打4001234569兑换礼品"},
    {"4", NULL, "13600000002", "【中国移动】您的积分即将清零，请拨打4001234570兑换礼品"},
    {"5", NULL, NULL, "【中国移动】您的积分即将清零，请拨打4001234571兑换礼品"},
    {"6", NULL, "13600000003", "【中国移动】您的积分即将清零，请拨打4001234572兑换礼品"},
    {"7", NULL, "13600000004", "【中国移动】您的积分即将清零，请拨打4001234573兑换礼品"},
};

/* Verdict i of the last batch (message msg of k_camp): a campaign of
 * `count` recipients with the campaign score added, or (count 0) none.
 * Read from the verdict itself: the JSON of a campaign is broken (see
 * test_campaign_verdict_json). */
static void expect_campaign(size_t i, const tmsg *msg, uint64_t count, const char *tmpl)
{
    const fz_verdict *v = fz_batch_verdict(g_batch, i);
    fz_message m = mk(msg);
    assert_int_equal(fz_engine_scan(g_engine, g_w, &m, g_v), 0);
    double base = fz_verdict_score(g_v);
    if (v->campaign_recipients != count)
        fail_msg("message %s: campaign of %llu recipients, expected %llu", msg->id,
                 (unsigned long long)v->campaign_recipients, (unsigned long long)count);
    assert_string_equal(v->template_hash, tmpl);
    assert_near(fz_verdict_score(v), base + (count ? 2.5 : 0), 0.001);
}

static void expect_listed(fz_store *s, const char *tmpl, uint64_t recipients)
{
    fz_campaign c[8];
    size_t n = 8;
    fz_error err;
    assert_int_equal(fz_store_campaigns(s, c, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].template_hash, tmpl);
    if (c[0].recipients != recipients)
        fail_msg("campaign listed with %llu recipients, expected %llu", (unsigned long long)c[0].recipients,
                 (unsigned long long)recipients);
    /* the sample: the masked text, with no digit of any number in it */
    assert_non_null(strstr(c[0].sample, "积分即将清零"));
    for (const char *p = c[0].sample; *p; p++)
        if (*p >= '0' && *p <= '9')
            fail_msg("digits in the campaign sample: %s", c[0].sample);
}

static const char *template_of(const tmsg *m, char out[33])
{
    /* without a store no template is computed: ask a throwaway embedded store */
    fz_store *tmp = NULL;
    open_store_url(NULL, NULL, &tmp);
    fz_batch *b = score(tmp, m, 1);
    memcpy(out, fz_batch_verdict(b, 0)->template_hash, 33);
    fz_store_close(tmp);
    assert_int_equal(strlen(out), 32);
    return out;
}

/* A message at a time, as a slow stream: the third distinct recipient makes
 * the campaign; a repeated recipient and messages without one do not count. */
static void test_campaign_threshold(void **state)
{
    static const uint64_t count[] = {0, 0, 0, 0, 0, 3, 4};
    away_from_hour_boundary();
    char tmpl[33];
    template_of(&k_camp[0], tmpl);
    fz_store *s = open_store(*state);
    for (size_t i = 0; i < 7; i++) {
        score(s, &k_camp[i], 1);
        expect_campaign(0, &k_camp[i], count[i], tmpl);     /* one template for all */
    }
    expect_listed(s, tmpl, 4);
    /* A message of the campaign without a recipient is not counted. */
    score(s, &k_camp[2], 1);
    expect_listed(s, tmpl, 4);
    /* Other messages are not campaigns, and are not listed. */
    const tmsg other = {"8", NULL, "13600000009", "hello world"};
    score(s, &other, 1);
    assert_int_equal(fz_batch_verdict(g_batch, 0)->campaign_recipients, 0);
    expect_listed(s, tmpl, 4);
}

/* Within one batch, every message with a recipient sees the count after the
 * whole batch (engine/batch.c: "the order of its messages does not matter");
 * messages without a recipient are not counted. */
static void test_campaign_threshold_batches(void **state)
{
    away_from_hour_boundary();
    char tmpl[33];
    template_of(&k_camp[0], tmpl);
    fz_store *s = open_store(*state);
    score(s, k_camp, 2);                        /* A, B: 2, no campaign */
    expect_campaign(0, &k_camp[0], 0, tmpl);
    expect_campaign(1, &k_camp[1], 0, tmpl);
    fz_campaign c[2];
    size_t n = 2;
    assert_int_equal(fz_store_campaigns(s, c, &n, NULL), 0);
    assert_int_equal(n, 0);
    score(s, k_camp + 2, 3);                    /* none, B again, none: still 2 */
    for (size_t i = 0; i < 3; i++)
        expect_campaign(i, &k_camp[2 + i], 0, tmpl);
    score(s, k_camp + 2, 5);                    /* none, B, none, C, D: 4 */
    static const uint64_t count[] = {0, 4, 0, 4, 4};
    for (size_t i = 0; i < 5; i++)
        expect_campaign(i, &k_camp[2 + i], count[i], tmpl);
    expect_listed(s, tmpl, 4);
}

static void test_campaign_one_batch(void **state)
{
    static const uint64_t count[] = {4, 4, 0, 4, 0, 4, 4};
    away_from_hour_boundary();
    char tmpl[33];
    template_of(&k_camp[0], tmpl);
    fz_store *s = open_store(*state);
    score(s, k_camp, 7);
    for (size_t i = 0; i < 7; i++)
        expect_campaign(i, &k_camp[i], count[i], tmpl);
    expect_listed(s, tmpl, 4);
    /* the next batch goes on counting */
    tmsg e = k_camp[0];
    e.to = "13600000005";
    score(s, &e, 1);
    expect_campaign(0, &e, 5, tmpl);
    expect_listed(s, tmpl, 5);
}

/* Was a bug (fixed): a campaign verdict is not valid JSON: engine/verdict.c appends
 * ",\"recipients_1h\":" with length 19 where the text is 18 bytes long,
 * which writes its terminating NUL into the line:
 *   ..."recipients_1h":\0 4}...   (fanzha scan output | cat -A shows ^@)
 * Repro: four lines of one template to four recipients,
 *   for i in 1 2 3 4; do echo "{\"to\":\"1360000000$i\",\"text\":\"您的积分即将清零，请拨打400123456$i\"}"; done |
 *     fanzha scan --rules tests/data/rules-state | jq .     # parse error */
static void test_campaign_verdict_json(void **state)
{
    fz_store *s = open_store(*state);
    score(s, k_camp, 7);
    const fz_verdict *v = fz_batch_verdict(g_batch, 0);
    assert_true(v->campaign_recipients > 0);
    fz_buf b = FZ_BUF_INIT;
    assert_int_equal(fz_verdict_write_json(v, fz_batch_message(g_batch, 0), &b), 0);
    size_t len = b.len, clen = strlen(b.data);
    char line[JSON_CAP];
    copy_json(line, &b);
    fz_buf_free(&b);
    if (clen != len)
        fail_msg("a NUL byte at %zu of the %zu-byte verdict: %s", clen, len, line);
    cJSON *j = parse(line);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "campaign");
    const cJSON *r = c ? cJSON_GetObjectItemCaseSensitive(c, "recipients_1h") : NULL;
    int ok = cJSON_IsNumber(r) && r->valuedouble == 4;
    cJSON_Delete(j);
    assert_true(ok);
}

/* Was a bug (fixed): recipients are hashed as written, not as numbers: "13600000001",
 * "+86 136 0000 0001" and "8613600000001" are three recipients of a
 * campaign (reports, on the other hand, are canonicalized: see
 * test_report_number_forms). Repro: three messages of one template to those
 * three "to": the verdicts say "recipients_1h":3 (a campaign). */
static void test_campaign_recipient_forms(void **state)
{
    away_from_hour_boundary();
    fz_store *s = open_store(*state);
    tmsg m[] = {k_camp[0], k_camp[1], k_camp[3]};
    m[0].to = "13600000001";
    m[1].to = "+86 136 0000 0001";
    m[2].to = "8613600000001";
    score(s, m, 3);
    for (size_t i = 0; i < 3; i++)
        if (fz_batch_verdict(g_batch, i)->campaign_recipients)
            fail_msg("one recipient written three ways counted as %llu",
                     (unsigned long long)fz_batch_verdict(g_batch, i)->campaign_recipients);
}

/* --- 5. Redis only: shared between processes, key layout, privacy -------------------------------------- */

/* Two stores on one Redis are two processes sharing state. */
static void test_redis_shared(void **state)
{
    (void)state;
    away_from_hour_boundary();
    fz_store *a = open_store(&k_redis);
    fz_store *b = open_store_url(tu_redis_url(), NULL, &g_store2);
    score(a, k_mix, N_MIX);
    score(b, k_mix, N_MIX);
    for (size_t i = 0; i < N_MIX; i++)
        expect_cached(i, &k_mix[i], 2);
    report(a, "17001234567", "r-1", 0);
    assert_int_equal(lookup(b, "+86 170 0123 4567").reporters, 1);
    /* campaign recipients add up across processes */
    score(a, &k_camp[0], 1);
    score(b, &k_camp[1], 1);
    score(a, &k_camp[5], 1);
    assert_int_equal(fz_batch_verdict(g_batch, 0)->campaign_recipients, 3);
    /* Another hashing key sees none of it: numbers are keyed hashes. */
    fz_store *other = NULL;
    open_store_url(tu_redis_url(), "another key", &other);
    fz_standing st;
    int rc = fz_store_lookup(other, "17001234567", g_half_life, &st, NULL);
    fz_store_close(other);
    assert_int_equal(rc, 0);
    assert_int_equal(st.reporters, 0);
}

static redisReply *cmd(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    if (!r)
        fail_msg("redis: %s", c->errstr);
    return r;
}

/* Every key in Redis, with its type and TTL, through SCAN. */
typedef struct rkey {
    char name[256];
    char type[16];
    long long ttl;
} rkey;

static size_t all_keys(redisContext *c, rkey *out, size_t cap)
{
    size_t n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = cmd(c, "SCAN %s COUNT 1000", cursor);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 2);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            assert_true(n < cap);
            snprintf(out[n].name, sizeof out[n].name, "%s", r->element[1]->element[i]->str);
            n++;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    for (size_t i = 0; i < n; i++) {
        redisReply *t = cmd(c, "TYPE %s", out[i].name);
        snprintf(out[i].type, sizeof out[i].type, "%s", t->str);
        freeReplyObject(t);
        t = cmd(c, "TTL %s", out[i].name);
        out[i].ttl = t->integer;
        freeReplyObject(t);
    }
    return n;
}

/* The keys follow DESIGN.md §6 and all expire. */
static void test_redis_keys_and_ttls(void **state)
{
    (void)state;
    away_from_hour_boundary();
    fz_store *s = open_store(&k_redis);
    report(s, "17001234567", "r-1", 0);
    score(s, k_mix, N_MIX);
    score(s, k_camp, 7);
    redisContext *c = tu_redis_connect();
    rkey keys[256];
    size_t n = all_keys(c, keys, 256);
    redisFree(c);
    char vprefix[160], hour[32];
    snprintf(vprefix, sizeof vprefix, "fz:v:{%s}:", fz_engine_rules_version(g_engine));
    snprintf(hour, sizeof hour, ":%lld", (long long)(time(NULL) / 3600));
    size_t nv = 0, nnum = 0, ncamp = 0, nidx = 0, ntmpl = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i].name;
        if (keys[i].ttl <= 0)
            fail_msg("key %s does not expire (TTL %lld)", k, keys[i].ttl);
        if (strncmp(k, vprefix, strlen(vprefix)) == 0) {
            nv++;
            assert_string_equal(keys[i].type, "string");
            assert_true(keys[i].ttl <= 600 && keys[i].ttl > 590);   /* cache.ttl_seconds */
        } else if (strncmp(k, "fz:num:", 7) == 0) {
            nnum++;
            assert_int_equal(strlen(k), 7 + 32);
            assert_string_equal(keys[i].type, "hash");
            assert_true(keys[i].ttl > 10 * g_half_life * DAY - 60);   /* ten half-lives */
        } else if (strncmp(k, "fz:camp:", 8) == 0) {
            ncamp++;
            assert_int_equal(strlen(k), 8 + 32 + strlen(hour));
            assert_string_equal(k + 8 + 32, hour);
            assert_string_equal(keys[i].type, "string");            /* a HyperLogLog */
            assert_true(keys[i].ttl <= 7200);
        } else if (strncmp(k, "fz:camps:", 9) == 0) {
            nidx++;
            assert_string_equal(k + 8, hour);
            assert_string_equal(keys[i].type, "zset");
        } else if (strncmp(k, "fz:tmpl:", 8) == 0) {
            ntmpl++;
            assert_string_equal(keys[i].type, "string");
        } else {
            fail_msg("unexpected key %s", k);
        }
    }
    assert_int_equal(nv, N_MIX + 7);    /* every distinct text of both batches */
    assert_int_equal(nnum, 1);
    assert_int_equal(ncamp, 3);         /* the two of k_mix with a recipient, and k_camp's */
    assert_int_equal(nidx, 1);
    assert_int_equal(ntmpl, 1);
}

/* 1 when `needle` (digits) is in s in clear: among the digits of a run of
 * digits and the separators people write numbers with. */
static int has_digits_in_clear(const char *s, size_t n, const char *needle)
{
    char run[4096];
    size_t k = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : '\0';
        if (c >= '0' && c <= '9') {
            if (k < sizeof run - 1)
                run[k++] = c;
        } else if (i < n && k > 0 && (c == ' ' || c == '-' || c == '(' || c == ')' || c == '.' || c == '+')) {
            continue;
        } else {
            run[k] = '\0';
            if (k && strstr(run, needle))
                return 1;
            k = 0;
        }
    }
    return 0;
}

/* The phone numbers in the state: whole (canonical digits) and their last 8 digits. */
static const char *const k_numbers[] = {
    "17001234567", "13800000001", "13800000002", "13812345678", "4001234567", "13600000001", "13600000002",
    "13600000003", "13600000004", "13912345678", "17009998888", "15012345678", "2395588",
};

/* Where a number shows in clear in Redis (a key, or a value), or NULL. */
static const char *find_numbers_in_redis(char *where, size_t cap)
{
    redisContext *c = tu_redis_connect();
    static rkey keys[512];
    size_t n = all_keys(c, keys, 512);
    const char *found = NULL;
    for (size_t i = 0; i < n && !found; i++) {
        const char *k = keys[i].name;
        redisReply *r = NULL;
        if (strcmp(keys[i].type, "string") == 0)
            r = cmd(c, "GET %s", k);
        else if (strcmp(keys[i].type, "hash") == 0)
            r = cmd(c, "HGETALL %s", k);
        else if (strcmp(keys[i].type, "zset") == 0)
            r = cmd(c, "ZRANGE %s 0 -1 WITHSCORES", k);
        else
            fail_msg("unexpected type %s of %s", keys[i].type, k);
        /* the key, then every string of the value */
        const redisReply *parts[1024];
        size_t np = 0;
        if (r->type == REDIS_REPLY_ARRAY)
            for (size_t e = 0; e < r->elements && np < 1024; e++)
                parts[np++] = r->element[e];
        else
            parts[np++] = r;
        for (size_t num = 0; num < sizeof k_numbers / sizeof *k_numbers && !found; num++) {
            const char *whole = k_numbers[num];
            size_t wl = strlen(whole);
            const char *last8 = wl > 8 ? whole + wl - 8 : whole;
            if (has_digits_in_clear(k, strlen(k), last8)) {
                snprintf(where, cap, "key %s holds %s", k, whole);
                found = whole;
            }
            for (size_t p = 0; p < np && !found; p++)
                if (parts[p]->type == REDIS_REPLY_STRING && has_digits_in_clear(parts[p]->str, parts[p]->len, last8)) {
                    snprintf(where, cap, "the value of %s holds %s: %.*s", k, whole, (int)parts[p]->len,
                             parts[p]->str);
                    found = whole;
                }
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return found;
}

/* No phone number, nor its last 8 digits, in any key or value. */
static void test_redis_privacy(void **state)
{
    (void)state;
    away_from_hour_boundary();
    fz_store *s = open_store(&k_redis);
    /* reports in every form */
    fz_report r[] = {
        {"17001234567", "13800000001", "sms", 0},   /* a reporter that is a phone number, too */
        {"+86 139 1234 5678", "r-2", "call", 0},
        {"150-1234-5678", "r-3", "sms", 0},
        {"17009998888", "r-4", "sms", 0},
    };
    size_t bad;
    assert_int_equal(fz_store_report(s, r, 4, g_half_life, &bad, NULL), 0);
    assert_int_equal(bad, 0);
    /* scans: senders, recipients, callback numbers in the text, campaigns */
    score(s, k_mix, N_MIX);
    score(s, k_mix, N_MIX);
    score(s, k_camp, 7);
    assert_true(fz_batch_verdict(g_batch, 0)->campaign_recipients > 0);     /* the state was used */
    const tmsg more[] = {
        {"1", "17009998888", "13600000001", "您的积分即将清零，请致电13912345678兑换"},
        {"2", "15012345678", "13600000002", "您的积分即将清零，请致电 139 1234 5678 兑换"},
        {"3", "+86 150 1234 5678", "13600000003", "您的积分即将清零，请致电幺三九一二三四五六七八兑换"},
    };
    score(s, more, 3);
    assert_true(jhas(g_json[0], "callback", "reports"));
    char where[1024];
    if (find_numbers_in_redis(where, sizeof where))
        fail_msg("a phone number in clear in Redis: %s", where);
    /* the checker itself finds a number when there is one */
    redisContext *c = tu_redis_connect();
    freeReplyObject(cmd(c, "SET fz:probe %s", "call 139-1234-5678"));
    redisFree(c);
    assert_non_null(find_numbers_in_redis(where, sizeof where));
}

/* Was a bug (fixed): the verdict cache stores each rule's evidence in clear, and a rule's
 * evidence can be a phone number: the shipped pack's en.prize.premium_rate
 * ('\b09\d{2} ?\d{3} ?\d{3,4}\b', rules/en/prize.yaml) stores "0906 170 1461"
 * in fz:v:{...} (DESIGN.md §6 / fanzha/store.h: "Numbers are only ever stored
 * as keyed hashes"). Repro:
 *   echo '{"text":"WINNER! Call 0906 170 1461 to claim"}' > m.jsonl
 *   fanzha scan --redis $U --rules tests/data/rules-state m.jsonl
 *   redis-cli -u $U --scan --pattern 'fz:v:*' | xargs -n1 redis-cli -u $U GET
 *     -> "T...|...:13:0906 170 1461;..." */
static void test_redis_privacy_rule_evidence(void **state)
{
    (void)state;
    fz_store *s = open_store(&k_redis);
    const tmsg m = {"1", NULL, NULL, "WINNER! Call 0906 170 1461 to claim your prize"};
    score(s, &m, 1);
    assert_non_null(strstr(g_json[0], "\"phones\":[\"09061701461\"]"));
    char where[1024];
    redisContext *c = tu_redis_connect();
    rkey keys[64];
    size_t n = all_keys(c, keys, 64);
    for (size_t i = 0; i < n; i++) {
        redisReply *r = cmd(c, "GET %s", keys[i].name);
        if (r->type == REDIS_REPLY_STRING && has_digits_in_clear(r->str, r->len, "61701461")) {
            snprintf(where, sizeof where, "%s = %.*s", keys[i].name, (int)r->len, r->str);
            freeReplyObject(r);
            redisFree(c);
            fail_msg("the number 0906 170 1461 in clear in Redis: %s", where);
        }
        freeReplyObject(r);
    }
    redisFree(c);
}

static int g_password_set;

static redisReply *must(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof why, "%s", r ? r->str : c->errstr);
        freeReplyObject(r);
        fail_msg("redis %s: %s", fmt, why);
    }
    return r;
}

static void clear_password(void)
{
    if (!g_password_set)
        return;
    redisContext *c = tu_redis_connect();
    freeReplyObject(redisCommand(c, "AUTH %s", "s3cret"));
    freeReplyObject(redisCommand(c, "CONFIG SET requirepass %s", ""));
    redisFree(c);
    g_password_set = 0;
}

static int password_teardown(void **state)
{
    clear_password();
    return test_teardown(state);
}

/* A Redis with a password: the URL's password (and user) is used and never
 * shown; without it, or with a wrong one, the store fails and says so. */
static void test_redis_password(void **state)
{
    (void)state;
    tu_redis_flush();
    redisContext *c = tu_redis_connect();
    freeReplyObject(must(c, "CONFIG SET requirepass %s", "s3cret"));
    g_password_set = 1;
    redisFree(c);
    char url[128];
    const char *forms[] = {"redis://:s3cret@127.0.0.1:%d", "redis://default:s3cret@127.0.0.1:%d"};
    for (int k = 0; k < 2; k++) {
        snprintf(url, sizeof url, forms[k], tu_redis_port());
        fz_store *s = open_store_url(url, NULL, &g_store);
        assert_null(strstr(fz_store_describe(s), "s3cret"));
        report(s, "13800000099", k ? "r-2" : "r-1", 0);
        assert_int_equal(lookup(s, "13800000099").reporters, (size_t)k + 1);
        score(s, k_mix, N_MIX);
        for (size_t i = 0; i < N_MIX; i++)
            expect_cached(i, &k_mix[i], k ? 2 : 1);
        fz_store_close(s);
        g_store = NULL;
    }
    const char *bad[] = {"redis://127.0.0.1:%d", "redis://:wrong@127.0.0.1:%d"};
    for (int k = 0; k < 2; k++) {
        snprintf(url, sizeof url, bad[k], tu_redis_port());
        fz_store *s = open_store_url(url, NULL, &g_store);
        fz_standing st;
        fz_error err;
        assert_int_not_equal(fz_store_lookup(s, "13800000099", g_half_life, &st, &err), 0);
        assert_null(strstr(err.message, "wrong"));
        score(s, k_mix, N_MIX);
        for (size_t i = 0; i < N_MIX; i++)
            assert_string_equal(g_json[i], stateless(&k_mix[i]));
        assert_int_equal(stats(s).degraded, N_MIX);
        fz_store_close(s);
        g_store = NULL;
    }
    clear_password();
}

/* redis://host:port/DB keeps the state in that database. */
static void test_redis_db(void **state)
{
    (void)state;
    tu_redis_flush();
    char url[96];
    snprintf(url, sizeof url, "%s/3", tu_redis_url());
    fz_store *s = open_store_url(url, NULL, &g_store);
    report(s, "17001234567", "r-1", 0);
    score(s, k_mix, N_MIX);
    redisContext *c = tu_redis_connect();
    redisReply *r = must(c, "DBSIZE%s", "");
    long long db0 = r->integer;
    freeReplyObject(r);
    freeReplyObject(must(c, "SELECT %s", "3"));
    r = must(c, "DBSIZE%s", "");
    long long db3 = r->integer;
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(db0, 0);
    assert_true(db3 >= (long long)N_MIX + 1);
    assert_int_equal(lookup(s, "17001234567").reporters, 1);
}

/* --- 6. Redis down ------------------------------------------------------------------------------------ */

/* A Redis that is not running: every message is scored, as without state,
 * and counted as degraded; reports and lookups fail and say so. */
static void test_redis_not_running(void **state)
{
    (void)state;
    char url[96];
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d", tu_free_port());
    fz_store *s = open_store_url(url, NULL, &g_store);
    assert_null(strstr(fz_store_describe(s), "s3cret"));
    assert_non_null(strstr(fz_store_describe(s), "127.0.0.1"));
    for (int round = 1; round <= 3; round++) {
        score(s, k_mix, N_MIX);
        for (size_t i = 0; i < N_MIX; i++)
            assert_string_equal(g_json[i], stateless(&k_mix[i]));     /* no "cache", no reports */
        fz_store_stats st = stats(s);
        assert_int_equal(st.degraded, round * N_MIX);
        assert_true(st.errors >= (uint64_t)round);
        assert_int_equal(st.errors, st.round_trips);
        assert_int_equal(st.cache_hits + st.cache_misses, 0);
        assert_int_equal(st.reconnects, 0);
    }
    size_t bad;
    fz_error err;
    fz_report r = {"17001234567", "r-1", "sms", 0};
    assert_int_not_equal(fz_store_report(s, &r, 1, g_half_life, &bad, &err), 0);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    assert_null(strstr(err.message, "s3cret"));
    fz_standing st;
    assert_int_not_equal(fz_store_lookup(s, "17001234567", g_half_life, &st, &err), 0);
    fz_campaign c[2];
    size_t n = 2;
    assert_int_not_equal(fz_store_campaigns(s, c, &n, &err), 0);
}

/* Redis killed and restarted under a store: the batches in between are
 * scored without state, then the store reconnects and the cache works again. */
static void test_redis_restart(void **state)
{
    (void)state;
    fz_store *s = open_store(&k_redis);
    score(s, k_mix, N_MIX);
    score(s, k_mix, N_MIX);
    for (size_t i = 0; i < N_MIX; i++)
        expect_cached(i, &k_mix[i], 2);
    tu_redis_kill();
    for (int round = 0; round < 3; round++) {
        score(s, k_mix, N_MIX);
        for (size_t i = 0; i < N_MIX; i++)
            assert_string_equal(g_json[i], stateless(&k_mix[i]));
    }
    fz_store_stats st = stats(s);
    assert_int_equal(st.degraded, 3 * N_MIX);
    assert_true(st.errors >= 1);
    tu_redis_restart();
    /* the reconnect backoff is at most 2 s */
    int back = 0;
    for (int tries = 0; tries < 40 && !back; tries++) {
        usleep(100 * 1000);
        score(s, k_mix, N_MIX);
        back = strstr(g_json[0], "\"cache\":") != NULL;
    }
    assert_true(back);
    for (size_t i = 0; i < N_MIX; i++)
        expect_cached(i, &k_mix[i], 1);         /* a fresh Redis: misses */
    score(s, k_mix, N_MIX);
    for (size_t i = 0; i < N_MIX; i++)
        expect_cached(i, &k_mix[i], 2);
    st = stats(s);
    assert_true(st.reconnects >= 1);
    assert_true(st.degraded >= 3 * N_MIX);
}

#define BOTH(f)                                                                                                        \
    {#f " [embedded]", f, NULL, test_teardown, &k_embedded}, { #f " [redis]", f, NULL, test_teardown, &k_redis }
#define REDIS(f) {#f " [redis]", f, NULL, test_teardown, &k_redis}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_cache_second_time_hits),
        BOTH(test_cache_variants),
        BOTH(test_cache_repeats_in_batch),
        BOTH(test_cache_rules_version),
        {"test_cache_ttl [embedded and redis]", test_cache_ttl, NULL, test_teardown, NULL},
        {"test_embedded_bounded [embedded]", test_embedded_bounded, NULL, test_teardown, &k_embedded},
        {"test_embedded_table_follows_entries_kept [embedded]", test_embedded_table_follows_entries_kept, NULL,
         test_teardown, &k_embedded},
        BOTH(test_cache_hit_evidence_is_the_match),
        BOTH(test_report_distinct_reporters),
        BOTH(test_report_decay),
        BOTH(test_report_older_does_not_replace_newer),
        BOTH(test_report_bad_numbers),
        BOTH(test_report_number_forms),
        BOTH(test_report_landline_forms),
        BOTH(test_reputation_in_verdicts),
        BOTH(test_campaign_threshold),
        BOTH(test_campaign_threshold_batches),
        BOTH(test_campaign_one_batch),
        BOTH(test_campaign_verdict_json),
        BOTH(test_campaign_recipient_forms),
        REDIS(test_redis_shared),
        REDIS(test_redis_keys_and_ttls),
        REDIS(test_redis_privacy),
        REDIS(test_redis_privacy_rule_evidence),
        {"test_redis_password [redis]", test_redis_password, NULL, password_teardown, &k_redis},
        REDIS(test_redis_db),
        REDIS(test_redis_not_running),
        REDIS(test_redis_restart),
    };
    return cmocka_run_group_tests_name("state", tests, group_setup, group_teardown);
}
