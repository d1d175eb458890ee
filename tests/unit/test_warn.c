/* test_warn.c — the warning stage (engine/warn.c, DESIGN.md §7) end to end:
 * messages are scored by fz_scan_stream exactly as `fanzha scan --warn`
 * scores them (JSON Lines in a file, verdict lines read back), with the
 * real rule pack (rules/, with rules/warnings.yaml), on the embedded store
 * in a temporary state directory, and the warnings are read back from the
 * outbox.
 *
 * Messages are taken from tests/data/corpus/zh-scam.jsonl (their ids are
 * noted), so that what warns is what the pack blocks. With the pack's
 * policy (no `warnings:` section): warn at the block score (8), reported
 * senders at 3 distinct reporters, 3 warnings a day, guardians for critical
 * categories, local time UTC+8, no quiet hours.
 *
 * Also: the quiet-hours arithmetic (fz_warn_due, fz_warn_local_day) and the
 * errors of policy.yaml's `warnings:` section, with their positions. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "fanzha/outbox.h"
#include "fanzha/resident.h"
#include "fanzha/scan.h"
#include "warn.h"

#define SECRET "test_warn secret"

/* Residents and their families. */
#define RES "+8613800138000"
#define RES_DOMESTIC "138 0013 8000"
#define GUARDIAN "+8613900139000"
#define OTHER "13700137000"             /* not registered */

/* zs-0103: police impersonation, 安全账户 (impersonate_authority, critical). */
static const char k_police[] =
    "您好，我是xx分局的民警，您的身份证被犯罪团伙使用，为证明您的清白，请将资金转到国家指定的安全账户，调查结束后返还。";
/* zs-0120 and a variant of it with other digits (the same template). */
static const char k_police2[] = "【市公安局】您的银行账户被用于电信诈骗收款，现需冻结，如非本人所为请在今天17点前联系刑警"
                                "队李队长：+85260411024";
static const char k_police2_variant[] = "【市公安局】您的银行账户被用于电信诈骗收款，现需冻结，如非本人所为请在今天15"
                                        "点前联系刑警队李队长：+85260419876";
/* zs-0020: task_rebate (high: the resident only). */
static const char k_task[] =
    "您好，您的任务账户已完成前两单，第三单为组合任务，需一次性完成3单共计12600元，完成后立即返还本金加佣金3780元。";
/* zs-0026: etc_toll (high); zs-0009: prize (medium). */
static const char k_etc[] = "尊敬的车主：您的ETC设备未按规定完成激活，将于今日24时起无法正常扣费，请访问 etc-jh.cn 激活。";
static const char k_prize[] = "您好，您的手机号码被系统抽中，获得价值2999元的奖品，领奖需缴纳个人所得税，请联系客服。";
/* zh-0002: ham. */
static const char k_ham[] = "哥们，明天打球不？下午三点体育馆";
static const char k_bland[] = "晚上一起吃饭吗？我在老地方等你";

static fz_engine_slot *g_slot;
static double g_half_life;

static struct {
    char dir[256];
    fz_store *store;
    fz_outbox *outbox;
    cJSON *out[32];         /* the verdicts of the last scan */
    size_t n_out;
    fz_scan_stats st;
    int64_t t0, t1;         /* the wall clock around the last scan */
} T;

/* --- helpers ------------------------------------------------------------------------------------ */

static void free_out(void)
{
    for (size_t i = 0; i < T.n_out; i++)
        cJSON_Delete(T.out[i]);
    T.n_out = 0;
}

static void open_all(void)
{
    snprintf(T.dir, sizeof T.dir, "/tmp/fanzha-warn-XXXXXX");
    if (!mkdtemp(T.dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    fz_store_options o = {NULL, SECRET, 0, 0, T.dir};
    fz_error err;
    if (fz_store_open(&o, &T.store, &err))
        fail_msg("fz_store_open: %s", err.message);
    if (fz_outbox_open(T.store, &T.outbox, &err))
        fail_msg("fz_outbox_open: %s", err.message);
}

static void put(const fz_resident *r)
{
    fz_error err;
    if (fz_resident_put(T.store, r, &err))
        fail_msg("fz_resident_put: %s", err.message);
}

/* A resident: 王阿姨 at RES, Chinese, with GUARDIAN (when guardian is set). */
static fz_resident resident(int guardian)
{
    fz_resident r;
    memset(&r, 0, sizeof r);
    snprintf(r.number, sizeof r.number, RES);
    snprintf(r.name, sizeof r.name, "王阿姨");
    snprintf(r.language, sizeof r.language, "zh");
    snprintf(r.channel, sizeof r.channel, "sms");
    if (guardian) {
        snprintf(r.guardians[0], sizeof r.guardians[0], GUARDIAN);
        r.n_guardians = 1;
    }
    return r;
}

typedef struct tmsg {
    const char *from, *to, *text;
} tmsg;

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Scan msgs as a JSON Lines stream with the outbox (or without: outbox 0);
 * the verdicts go to T.out, the stats to T.st. */
static void scan_with(const tmsg *msgs, size_t n, int outbox)
{
    free_out();
    char in_path[300], out_path[300];
    snprintf(in_path, sizeof in_path, "%s/in.jsonl", T.dir);
    snprintf(out_path, sizeof out_path, "%s/out.jsonl", T.dir);
    int in = open(in_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(in >= 0);
    for (size_t i = 0; i < n; i++) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "id", (double)(i + 1));
        if (msgs[i].from)
            cJSON_AddStringToObject(j, "from", msgs[i].from);
        if (msgs[i].to)
            cJSON_AddStringToObject(j, "to", msgs[i].to);
        cJSON_AddStringToObject(j, "text", msgs[i].text);
        char *line = cJSON_PrintUnformatted(j);
        write_all(in, line, strlen(line));
        write_all(in, "\n", 1);
        free(line);
        cJSON_Delete(j);
    }
    assert_int_equal(lseek(in, 0, SEEK_SET), 0);
    int out = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(out >= 0);
    fz_scan_options o;
    memset(&o, 0, sizeof o);
    o.format = FZ_FORMAT_JSONL;
    o.threads = 1;
    o.in_fd = in;
    o.out_fd = out;
    o.err_fd = out;
    o.store = T.store;
    o.outbox = outbox ? T.outbox : NULL;
    fz_error err;
    T.t0 = (int64_t)time(NULL);
    int rc = fz_scan_stream(g_slot, &o, &T.st, &err);
    T.t1 = (int64_t)time(NULL);
    close(in);
    close(out);
    if (rc)
        fail_msg("fz_scan_stream: %s", err.message);
    FILE *f = fopen(out_path, "r");
    assert_non_null(f);
    char line[16384];
    while (fgets(line, sizeof line, f)) {
        assert_true(T.n_out < 32);
        cJSON *j = cJSON_Parse(line);
        if (!j)
            fail_msg("not JSON: %s", line);
        T.out[T.n_out++] = j;
    }
    fclose(f);
    assert_int_equal(T.n_out, n);
    assert_int_equal(T.st.verdicts, n);
}

static void scan(const tmsg *msgs, size_t n)
{
    scan_with(msgs, n, 1);
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("no number '%s'", k);
    return v->valuedouble;
}

/* The "warning" of verdict i, checked to be well formed; NULL when none. */
static const cJSON *warning_of(size_t i)
{
    const cJSON *w = get(T.out[i], "warning");
    if (!w)
        return NULL;
    assert_true(cJSON_IsObject(w));
    assert_non_null(str(w, "status"));
    const char *id = str(w, "id");
    assert_non_null(id);
    assert_int_equal(strlen(id), 32);
    assert_true(cJSON_IsNumber(get(w, "due")));
    assert_true(cJSON_IsNumber(get(w, "guardians")));
    return w;
}

static const cJSON *expect_warning(size_t i, const char *status, int guardians)
{
    const cJSON *w = warning_of(i);
    if (!w) {
        char *s = cJSON_PrintUnformatted(T.out[i]);
        fail_msg("verdict %zu has no warning: %s", i, s);
    }
    if (strcmp(str(w, "status"), status) != 0 || (int)num(w, "guardians") != guardians) {
        char *s = cJSON_PrintUnformatted(T.out[i]);
        fail_msg("verdict %zu: expected warning %s with %d guardians: %s", i, status, guardians, s);
    }
    return w;
}

static void expect_no_warning(size_t i)
{
    if (warning_of(i)) {
        char *s = cJSON_PrintUnformatted(T.out[i]);
        fail_msg("verdict %zu warns: %s", i, s);
    }
}

static void expect_category(size_t i, const char *category, const char *action)
{
    const char *c = str(T.out[i], "category");
    const char *a = str(T.out[i], "action");
    if (!c || strcmp(c, category) != 0 || !a || strcmp(a, action) != 0) {
        char *s = cJSON_PrintUnformatted(T.out[i]);
        fail_msg("verdict %zu: expected %s / %s: %s", i, category, action, s);
    }
}

/* The warnings of a box, copied. */
typedef struct listing {
    fz_warning w[16];
    size_t n;
} listing;

static int add_listed(void *ud, const fz_warning *w)
{
    listing *l = ud;
    assert_true(l->n < 16);
    l->w[l->n++] = *w;
    return 0;
}

static listing *box(fz_box b)
{
    static listing l;
    memset(&l, 0, sizeof l);
    fz_error err;
    if (fz_outbox_list(T.outbox, b, add_listed, &l, &err))
        fail_msg("fz_outbox_list: %s", err.message);
    return &l;
}

static const fz_warning *by_role(const listing *l, const char *role, const char *to)
{
    const fz_warning *found = NULL;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->w[i].role, role) == 0 && strcmp(l->w[i].to, to) == 0) {
            if (found)
                fail_msg("two %s warnings to %s", role, to);
            found = &l->w[i];
        }
    return found;
}

static fz_outbox_depth depth(void)
{
    fz_outbox_depth d;
    fz_error err;
    if (fz_outbox_depth_get(T.outbox, &d, &err))
        fail_msg("depth: %s", err.message);
    return d;
}

/* A warning's text may name no number but 96110 and 110. */
static void expect_safe_digits(const char *text)
{
    for (const char *p = text; *p;) {
        if (*p < '0' || *p > '9') {
            p++;
            continue;
        }
        size_t n = strspn(p, "0123456789");
        if (!((n == 5 && strncmp(p, "96110", 5) == 0) || (n == 3 && strncmp(p, "110", 3) == 0)))
            fail_msg("the warning names digits '%.*s': %s", (int)n, p, text);
        p += n;
    }
}

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

static void report(const char *number, const char *reporter, int64_t ts)
{
    fz_report r = {number, reporter, "sms", ts};
    size_t bad = 99;
    fz_error err;
    if (fz_store_report(T.store, &r, 1, g_half_life, &bad, &err))
        fail_msg("fz_store_report: %s", err.message);
    assert_int_equal(bad, 0);
}

/* --- fixtures ------------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    fz_engine *e = tu_engine("rules");
    g_half_life = fz_engine_half_life_days(e);
    g_slot = fz_engine_slot_new(e);
    return g_slot ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    fz_engine_slot_free(g_slot);
    tu_cleanup();
    return 0;
}

/* Dedup keys and daily counts are per local (UTC+8) day: keep a test from
 * straddling local midnight. */
static void away_from_local_midnight(void)
{
    int64_t now = (int64_t)time(NULL);
    int left = (int)(86400 - (now + 8 * 3600) % 86400);
    if (left < 15)
        sleep((unsigned)left + 1);
}

static int test_setup(void **state)
{
    (void)state;
    away_from_local_midnight();
    open_all();
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    free_out();
    fz_outbox_close(T.outbox);
    fz_store_close(T.store);
    T.outbox = NULL;
    T.store = NULL;
    if (T.dir[0]) {
        tu_rmtree(T.dir);
        T.dir[0] = '\0';
    }
    return 0;
}

/* --- 1. who is warned --------------------------------------------------------------------------- */

/* A critical scam to a registered resident: one warning to them and one
 * to their guardian, in their language, with the advice and no other
 * number; the verdict says so. */
static void test_severe_scam_warns_resident_and_guardian(void **state)
{
    (void)state;
    fz_resident r = resident(1);
    put(&r);
    const tmsg m[] = {{"17068348668", RES_DOMESTIC, k_police}};
    scan(m, 1);
    expect_category(0, "impersonate_authority", "block");
    const cJSON *w = expect_warning(0, "queued", 1);
    double due = num(w, "due");
    assert_true(due >= (double)T.t0 && due <= (double)T.t1);
    assert_int_equal(T.st.warnings_queued, 2);
    assert_int_equal(T.st.warnings_duplicate + T.st.warnings_limited + T.st.warnings_failed, 0);

    fz_outbox_depth d = depth();
    assert_int_equal(d.ready, 2);
    assert_int_equal(d.scheduled + d.dead, 0);
    listing *l = box(FZ_BOX_READY);
    assert_int_equal(l->n, 2);
    const fz_warning *res = by_role(l, "resident", RES);
    const fz_warning *gua = by_role(l, "guardian", GUARDIAN);
    assert_non_null(res);
    assert_non_null(gua);
    assert_string_equal(res->id, str(w, "id"));
    assert_string_not_equal(gua->id, res->id);
    for (int k = 0; k < 2; k++) {
        const fz_warning *x = k ? gua : res;
        assert_string_equal(x->category, "impersonate_authority");
        assert_string_equal(x->language, "zh");
        assert_string_equal(x->channel, "sms");
        assert_int_equal(x->attempts, 0);
        assert_true(x->created >= T.t0 && x->created <= T.t1);
        assert_non_null(strstr(x->text, "96110"));
        assert_false(is_ascii(x->text));        /* Chinese */
        expect_safe_digits(x->text);
        /* nothing of the scam's own words or numbers */
        assert_null(strstr(x->text, "分局"));
    }
    assert_non_null(strstr(res->text, "王阿姨"));   /* addressed by name */
    assert_non_null(strstr(gua->text, "王阿姨"));   /* names whom it reached */
    assert_string_not_equal(res->text, gua->text);
}

/* The same template again (other digits) the same day: a duplicate, for
 * the resident and the guardian alike. */
static void test_same_template_is_duplicate(void **state)
{
    (void)state;
    fz_resident r = resident(1);
    put(&r);
    const tmsg first[] = {{"17068348668", RES, k_police2}};
    scan(first, 1);
    expect_category(0, "impersonate_authority", "block");
    const cJSON *w = expect_warning(0, "queued", 1);
    char id[33];
    snprintf(id, sizeof id, "%s", str(w, "id"));

    const tmsg again[] = {{"17068340000", RES, k_police2_variant}};
    scan(again, 1);
    expect_category(0, "impersonate_authority", "block");
    w = expect_warning(0, "duplicate", 0);
    assert_string_equal(str(w, "id"), id);     /* the same decision names the same warning */
    assert_int_equal(T.st.warnings_duplicate, 2);
    assert_int_equal(T.st.warnings_queued, 0);
    assert_int_equal(depth().ready, 2);

    /* Another template still warns. */
    const tmsg other[] = {{NULL, RES, k_police}};
    scan(other, 1);
    expect_warning(0, "queued", 1);
    assert_int_equal(depth().ready, 4);
}

/* A scam of a category below the guardian severity: the resident only. */
static void test_non_severe_resident_only(void **state)
{
    (void)state;
    fz_resident r = resident(1);
    put(&r);
    const tmsg m[] = {{"15640922557", RES, k_task}};
    scan(m, 1);
    expect_category(0, "task_rebate", "block");
    expect_warning(0, "queued", 0);
    assert_int_equal(T.st.warnings_queued, 1);
    listing *l = box(FZ_BOX_READY);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->w[0].role, "resident");
    assert_string_equal(l->w[0].to, RES);
    assert_string_equal(l->w[0].category, "task_rebate");
    expect_safe_digits(l->w[0].text);
    assert_null(by_role(l, "guardian", GUARDIAN));
}

/* The resident's own daily limit: the third warning of the day is limited. */
static void test_daily_limit(void **state)
{
    (void)state;
    fz_resident r = resident(0);
    r.daily_limit = 2;
    put(&r);
    const tmsg m[] = {{NULL, RES, k_etc}, {NULL, RES, k_prize}, {NULL, RES, k_task}};
    scan(m, 3);
    expect_category(0, "etc_toll", "block");
    expect_category(1, "prize", "block");
    expect_category(2, "task_rebate", "block");
    expect_warning(0, "queued", 0);
    expect_warning(1, "queued", 0);
    expect_warning(2, "limited", 0);
    assert_int_equal(T.st.warnings_queued, 2);
    assert_int_equal(T.st.warnings_limited, 1);
    assert_int_equal(depth().ready, 2);
    /* ... and stays limited in a later scan the same day. */
    const tmsg more[] = {{NULL, RES, k_police}};
    scan(more, 1);
    expect_warning(0, "limited", 0);
    assert_int_equal(depth().ready, 2);
}

/* Without the policy's own limit set, the policy's (3) holds. */
static void test_policy_daily_limit(void **state)
{
    (void)state;
    fz_resident r = resident(0);
    put(&r);
    const tmsg m[] = {{NULL, RES, k_etc}, {NULL, RES, k_prize}, {NULL, RES, k_task}, {NULL, RES, k_police}};
    scan(m, 4);
    expect_warning(0, "queued", 0);
    expect_warning(1, "queued", 0);
    expect_warning(2, "queued", 0);
    expect_warning(3, "limited", 0);
}

/* Who is not registered is not warned; ham warns nobody; without an
 * outbox nobody is warned. */
static void test_no_warning(void **state)
{
    (void)state;
    fz_resident r = resident(1);
    put(&r);
    const tmsg m[] = {
        {"17068348668", RES, k_police},     /* warns */
        {"17068348668", OTHER, k_police},   /* the same scam to someone unregistered */
        {"15139212872", RES, k_ham},        /* ham to the resident */
        {"17068348668", NULL, k_police},    /* no recipient */
        {"17068348668", "not a number", k_task},
    };
    scan(m, 5);
    expect_warning(0, "queued", 1);
    expect_category(1, "impersonate_authority", "block");
    expect_no_warning(1);
    assert_string_equal(str(T.out[2], "action"), "allow");
    expect_no_warning(2);
    expect_no_warning(3);
    expect_no_warning(4);
    assert_int_equal(T.st.warnings_queued, 2);
    assert_int_equal(depth().ready, 2);

    /* Scanned without the outbox: the verdict says nothing of warnings. */
    const tmsg m2[] = {{NULL, RES, k_task}};
    scan_with(m2, 1, 0);
    expect_category(0, "task_rebate", "block");
    expect_no_warning(0);
    assert_int_equal(T.st.warnings_queued, 0);
    assert_int_equal(depth().ready, 2);
}

/* An English-speaking resident gets English words, whatever the scam's. */
static void test_english_resident(void **state)
{
    (void)state;
    fz_resident r = resident(1);
    snprintf(r.name, sizeof r.name, "Mrs Wang");
    snprintf(r.language, sizeof r.language, "en");
    put(&r);
    const tmsg m[] = {{NULL, RES, k_police}};
    scan(m, 1);
    expect_warning(0, "queued", 1);
    listing *l = box(FZ_BOX_READY);
    const fz_warning *res = by_role(l, "resident", RES);
    const fz_warning *gua = by_role(l, "guardian", GUARDIAN);
    assert_non_null(res);
    assert_non_null(gua);
    for (int k = 0; k < 2; k++) {
        const fz_warning *x = k ? gua : res;
        assert_string_equal(x->language, "en");
        if (!is_ascii(x->text) || !strstr(x->text, "96110") || !strstr(x->text, "Mrs Wang"))
            fail_msg("not the English warning: %s", x->text);
        expect_safe_digits(x->text);
    }
}

/* A resident's quiet hours hold the warning until they end (scheduled);
 * the guardian (no quiet hours of their own, none in the policy) is
 * warned now. */
static void test_quiet_hours_delay(void **state)
{
    (void)state;
    int64_t now = (int64_t)time(NULL);
    int minute = (int)(((now + 8 * 3600) % 86400) / 60);   /* local (UTC+8) minute of the day */
    fz_resident r = resident(1);
    r.quiet_start = (minute + 1440 - 10) % 1440;
    r.quiet_end = (minute + 10) % 1440;
    put(&r);
    const tmsg m[] = {{NULL, RES, k_police}};
    scan(m, 1);
    const cJSON *w = expect_warning(0, "queued", 1);
    double due = num(w, "due");
    int64_t want = fz_warn_due(T.t0, 8 * 60, r.quiet_start, r.quiet_end);
    assert_true(due > (double)T.t1);
    assert_true(due <= (double)(T.t0 + 11 * 60));
    assert_true(due == (double)want || due == (double)fz_warn_due(T.t1, 8 * 60, r.quiet_start, r.quiet_end));
    fz_outbox_depth d = depth();
    assert_int_equal(d.scheduled, 1);
    assert_int_equal(d.ready, 1);
    listing *l = box(FZ_BOX_SCHEDULED);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->w[0].role, "resident");
    assert_string_equal(l->w[0].id, str(w, "id"));
    assert_int_equal(l->w[0].due, (int64_t)due);
    l = box(FZ_BOX_READY);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->w[0].role, "guardian");
}

/* A bland message from a sender that 3 people reported (a minute ago):
 * it warns as "reported", once per sender whatever the text. */
static void test_reported_sender(void **state)
{
    (void)state;
    fz_resident r = resident(1);
    put(&r);
    const char *sender = "13912345678";
    int64_t ts = (int64_t)time(NULL) - 60;
    report(sender, "reporter-a", ts);
    report(sender, "reporter-b", ts);
    report(sender, "reporter-c", ts);
    report(sender, "reporter-c", ts);       /* the same reporter again counts once */
    const tmsg m[] = {{sender, RES, k_bland}, {"13912340000", RES, k_bland}};
    scan(m, 2);
    assert_true(num(T.out[0], "score") < 8);    /* not a scam by its words */
    const cJSON *w = expect_warning(0, "queued", 0);   /* high, not critical: no guardian */
    (void)w;
    expect_no_warning(1);                   /* the same text from another sender */
    listing *l = box(FZ_BOX_READY);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->w[0].category, "reported");
    assert_string_equal(l->w[0].role, "resident");
    expect_safe_digits(l->w[0].text);
    assert_null(strstr(l->w[0].text, "13912345678"));

    /* Another text from the same sender: the same reported sender, a duplicate. */
    const tmsg m2[] = {{sender, RES, k_ham}};
    scan(m2, 1);
    expect_warning(0, "duplicate", 0);
}

/* Many reporters: the reputation alone reaches the block score, and the
 * warning still says why (a reported sender), not a generic scam. */
static void test_much_reported_sender(void **state)
{
    (void)state;
    fz_resident r = resident(0);
    put(&r);
    const char *sender = "13912345678";
    const char *who[] = {"r1", "r2", "r3", "r4", "r5", "r6"};
    for (int i = 0; i < 6; i++)
        report(sender, who[i], 0);
    const tmsg m[] = {{sender, RES, k_bland}, {sender, RES, k_ham}};
    scan(m, 2);
    expect_warning(0, "queued", 0);
    expect_warning(1, "duplicate", 0);      /* one reported sender, one warning a day */
    listing *l = box(FZ_BOX_READY);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->w[0].category, "reported");
}

/* Two residents in one batch, each warned once, in their own words; and
 * the warning stage's lookups do not depend on how the number is written. */
static void test_two_residents_one_batch(void **state)
{
    (void)state;
    fz_resident a = resident(0);
    fz_resident b = resident(0);
    snprintf(b.number, sizeof b.number, "+8613600136000");
    snprintf(b.name, sizeof b.name, "Uncle Li");
    snprintf(b.language, sizeof b.language, "en");
    put(&a);
    put(&b);
    const tmsg m[] = {{NULL, "+86 138-0013-8000", k_task}, {NULL, "0086 136 0013 6000", k_task}};
    scan(m, 2);
    expect_warning(0, "queued", 0);
    expect_warning(1, "queued", 0);
    assert_string_not_equal(str(warning_of(0), "id"), str(warning_of(1), "id"));
    listing *l = box(FZ_BOX_READY);
    assert_int_equal(l->n, 2);
    const fz_warning *wa = by_role(l, "resident", RES);
    const fz_warning *wb = by_role(l, "resident", "+8613600136000");
    assert_non_null(wa);
    assert_non_null(wb);
    assert_false(is_ascii(wa->text));
    assert_true(is_ascii(wb->text));
    assert_non_null(strstr(wb->text, "Uncle Li"));
}

/* --- 2. quiet hours and local days ------------------------------------------------------------------ */

#define H 3600
#define DAY0 1699920000LL      /* 2023-11-14 00:00 UTC */

/* now such that the local time (offset minutes) is hh:mm on DAY0's date. */
static int64_t at_local(int hh, int mm, int offset_min)
{
    return DAY0 + hh * H + mm * 60 - (int64_t)offset_min * 60;
}

static void test_warn_due(void **state)
{
    (void)state;
    const int off = 8 * 60;
    /* No quiet hours: now. */
    assert_int_equal(fz_warn_due(at_local(23, 30, off), off, 0, 0), at_local(23, 30, off));
    assert_int_equal(fz_warn_due(at_local(3, 0, off), off, 600, 600), at_local(3, 0, off));
    /* 22:00-07:00, across midnight. */
    int qs = 22 * 60, qe = 7 * 60;
    assert_int_equal(fz_warn_due(at_local(12, 0, off), off, qs, qe), at_local(12, 0, off));
    assert_int_equal(fz_warn_due(at_local(21, 59, off), off, qs, qe), at_local(21, 59, off));
    assert_int_equal(fz_warn_due(at_local(22, 0, off), off, qs, qe), at_local(22, 0, off) + 9 * H);
    assert_int_equal(fz_warn_due(at_local(23, 30, off), off, qs, qe), at_local(23, 30, off) + 7 * H + 30 * 60);
    assert_int_equal(fz_warn_due(at_local(3, 0, off), off, qs, qe), at_local(3, 0, off) + 4 * H);
    assert_int_equal(fz_warn_due(at_local(6, 59, off), off, qs, qe), at_local(6, 59, off) + 60);
    assert_int_equal(fz_warn_due(at_local(7, 0, off), off, qs, qe), at_local(7, 0, off));
    /* Seconds count: 23:30:45 waits 7 h 29 min 15 s. */
    assert_int_equal(fz_warn_due(at_local(23, 30, off) + 45, off, qs, qe), at_local(23, 30, off) + 7 * H + 30 * 60);
    /* Within one day: 12:00-14:00. */
    assert_int_equal(fz_warn_due(at_local(11, 59, off), off, 720, 840), at_local(11, 59, off));
    assert_int_equal(fz_warn_due(at_local(13, 0, off), off, 720, 840), at_local(13, 0, off) + H);
    assert_int_equal(fz_warn_due(at_local(14, 0, off), off, 720, 840), at_local(14, 0, off));
    /* The offset decides what "local" is: 23:30 UTC is 07:30 at +08:00
     * (not quiet) and 18:30 at -05:00 (not quiet), 01:30 at +02:00 (quiet). */
    int64_t t = DAY0 + 23 * H + 30 * 60;
    assert_int_equal(fz_warn_due(t, 8 * 60, qs, qe), t);
    assert_int_equal(fz_warn_due(t, -5 * 60, qs, qe), t);
    assert_int_equal(fz_warn_due(t, 2 * 60, qs, qe), t + 5 * H + 30 * 60);
    assert_int_equal(fz_warn_due(t, 0, qs, qe), t + 7 * H + 30 * 60);
    /* Half-hour offsets (+05:30): 23:30 UTC is 05:00 local. */
    assert_int_equal(fz_warn_due(t, 330, qs, qe), t + 2 * H);
}

static void test_warn_local_day(void **state)
{
    (void)state;
    int64_t d0 = DAY0 / 86400;
    assert_int_equal(fz_warn_local_day(DAY0, 0), d0);
    assert_int_equal(fz_warn_local_day(DAY0 - 1, 0), d0 - 1);
    /* 16:00 UTC is the next day at +08:00, the same day at -05:00. */
    assert_int_equal(fz_warn_local_day(DAY0 + 16 * H, 8 * 60), d0 + 1);
    assert_int_equal(fz_warn_local_day(DAY0 + 15 * H + 59 * 60, 8 * 60), d0);
    assert_int_equal(fz_warn_local_day(DAY0 + 16 * H, -5 * 60), d0);
    assert_int_equal(fz_warn_local_day(DAY0 + 2 * H, -5 * 60), d0 - 1);
    /* Before the epoch: floor, not truncation. */
    assert_int_equal(fz_warn_local_day(-1, 0), -1);
    assert_int_equal(fz_warn_local_day(-86400, 0), -1);
    assert_int_equal(fz_warn_local_day(-86401, 0), -2);
}

/* --- 3. policy.yaml: warnings --------------------------------------------------------------------- */

#define POLICY_HEAD "version: \"w-1\"\nactions:\n  suspect: 4\n  block: 8\nwarnings:\n" /* lines 1-5 */
#define CATEGORY "category: test\ntitle: T\nseverity: high\nrules:\n  - id: zh.t.a\n    literal: '安全账户'\n    score: 9\n"

/* The pack fails, and some diagnostic starts with dir/policy.yaml:line:col: and contains msg. */
static void expect_policy_error(const char *warnings_section, int line, int col, const char *msg)
{
    char policy[1024];
    snprintf(policy, sizeof policy, "%s%s", POLICY_HEAD, warnings_section);
    const char *dir = tu_pack("policy.yaml", policy, "zh/t.yaml", CATEGORY, NULL);
    tu_diags d;
    assert_int_equal(tu_engine_fails(dir, &d), FZ_ERULES);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/policy.yaml:%d:%d: ", dir, line, col);
    for (int i = 0; i < d.n; i++)
        if (strncmp(d.lines[i], prefix, strlen(prefix)) == 0 && strstr(d.lines[i], msg))
            return;
    for (int i = 0; i < d.n; i++)
        fprintf(stderr, "  diag: %s\n", d.lines[i]);
    fail_msg("no diagnostic '%s...%s'", prefix, msg);
}

static void test_policy_errors(void **state)
{
    (void)state;
    expect_policy_error("  score: 6\n  colour: red\n", 7, 3, "unknown key 'colour'");
    expect_policy_error("  utc_offset: \"+25:00\"\n", 6, 15, "utc_offset");
    expect_policy_error("  daily_limit: 3\n  utc_offset: UTC+8\n", 7, 15, "utc_offset");
    expect_policy_error("  utc_offset: \"+08:00 Beijing\"\n", 6, 15, "utc_offset");
    expect_policy_error("  utc_offset: \"+-3:00\"\n", 6, 15, "utc_offset");
    expect_policy_error("  quiet_hours: \"22:00\"\n", 6, 16, "quiet_hours");
    expect_policy_error("  quiet_hours: \"25:00-07:00\"\n", 6, 16, "quiet_hours");
    expect_policy_error("  quiet_hours: [22, 7]\n", 6, 16, "quiet_hours");
    expect_policy_error("  guardian_severity: severe\n", 6, 22, "guardian_severity");
    expect_policy_error("  reputation: -1\n", 6, 15, "warnings.reputation");
    expect_policy_error("  score: lots\n", 6, 10, "warnings.score");
    /* A good section loads. */
    char policy[1024];
    snprintf(policy, sizeof policy, "%s%s", POLICY_HEAD,
             "  score: 6\n  reputation: 0\n  daily_limit: 5\n  guardian_severity: high\n  utc_offset: \"-05:30\"\n"
             "  quiet_hours: \"21:30-06:45\"\n");
    fz_engine *e = tu_engine_dir(tu_pack("policy.yaml", policy, "zh/t.yaml", CATEGORY, NULL));
    fz_engine_release(e);
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T_(test_severe_scam_warns_resident_and_guardian),
        T_(test_same_template_is_duplicate),
        T_(test_non_severe_resident_only),
        T_(test_daily_limit),
        T_(test_policy_daily_limit),
        T_(test_no_warning),
        T_(test_english_resident),
        T_(test_quiet_hours_delay),
        T_(test_reported_sender),
        T_(test_much_reported_sender),
        T_(test_two_residents_one_batch),
        cmocka_unit_test(test_warn_due),
        cmocka_unit_test(test_warn_local_day),
        cmocka_unit_test(test_policy_errors),
    };
    return cmocka_run_group_tests_name("warn", tests, group_setup, group_teardown);
}
