/* bench.c — the measurement harness behind `fanzha bench` (fanzha/bench.h).
 *
 * How it works. The corpus (given, or generated from templates) is parsed
 * and normalized once up front. Then, on the same messages:
 *   - each stage alone on one thread (parse, normalize, Hyperscan match,
 *     the whole fz_engine_scan, JSON emission), in ns per message;
 *   - bare hs_scan over the normalized texts with the engine's database and
 *     an empty callback, on N threads;
 *   - a PCRE2-JIT loop running every literal and pattern rule over each
 *     normalized text, on N threads, for a bounded time;
 *   - the real stream: the corpus repeated into a memory file, scored by
 *     fz_scan_stream with N threads, verdicts to /dev/null.
 * Messages per second and ratios are what `fanzha bench` prints. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "corpus.h"
#include "engine_internal.h"
#include "fanzha/bench.h"
#include "fanzha/scan.h"

/* --- corpus generation ---------------------------------------------------------------- */

typedef struct {
    const char *text;
    int sender;             /* 0 bank/service, 1 ordinary mobile, 2 virtual operator, 3 bulk port, 4 international */
} tmpl;

/* {D} a digit, {P} a mobile number, {A} an amount, {U} a short link. */
static const tmpl k_templates[] = {
    {"【公安局】您涉嫌一起洗钱案件，请立即将资金转入安全账户配合调查，切勿告知他人，联系警官{P}", 2},
    {"您好，这里是市检察院，您名下银行卡涉嫌违法，需进行资金清查，请下载会议软件屏幕共享", 4},
    {"【京东】您购买的商品存在质量问题，我们将为您办理退款理赔{A}元，请添加客服微信kf{D}{D}{D}{D}{D}{D}", 1},
    {"兼职刷单，日结{A}元，动动手指点赞关注即可赚佣金，详情加QQ{D}{D}{D}{D}{D}{D}{D}{D}", 2},
    {"【ETC服务】您的ETC认证已失效，将影响正常通行，请点击{U}重新认证", 3},
    {"尊敬的用户，您的积分即将清零，可兑换现金{A}元，请登录{U}及时领取", 4},
    {"您的医保卡已被停用，电子社保卡审核未通过，请联系{P}办理，逾期将冻结", 2},
    {"导师带你炒股，内幕消息稳赚不赔，高回报每日收益{D}%，进群领取直播课名额", 1},
    {"无抵押无担保，低息秒批，额度最高{A}元，黑户可贷，详询{P}", 2},
    {"您的学生贷款影响征信，需注销校园贷账户并清空额度，请配合操作", 1},
    {"我是你们王总，换号了，明天来我办公室，现在急用钱帮我垫付{A}元", 1},
    {"【12123】您有一条违章未处理，请点击{U}缴纳罚款，逾期将扣分", 3},
    {"您的网银U盾已过期，请登录{U}完成实名补录，否则账户将被冻结", 4},
    {"老年人免费体检，赠送保健品，养老公寓预付{A}元享床位，名额有限", 1},
    {"【东方航空】您的航班{D}{D}{D}{D}因故取消，改签可获补偿{A}元，请致电{P}", 2},
    {"【中国银行】您尾号{D}{D}{D}{D}的账户{D}{D}月{D}{D}日支出{A}元，余额{A}元。", 0},
    {"【支付宝】验证码{D}{D}{D}{D}{D}{D}，您正在登录，切勿告知他人。", 0},
    {"【顺丰速运】您的快件已到达小区驿站，取件码{D}-{D}-{D}{D}{D}{D}，请及时领取。", 3},
    {"【中国联通】尊敬的客户，您本月流量已使用80%，如需加装流量包请回复KT，退订回T", 0},
    {"【淘宝】您申请的退款{A}元已原路退回，请注意查收。", 0},
    {"妈，我晚上加班，不回来吃饭了，你们先吃", 1},
    {"明天上午十点开会，请准时参加，记得带上周报", 1},
    {"【国家反诈中心】提醒您：公检法机关不会要求转账到安全账户，如遇可疑情况请拨打96110", 0},
    {"【社保局】您的养老保险本月已到账{A}元，请注意查收，如有疑问请咨询12333。", 0},
    {"【中国移动】您本月话费账单{A}元，已从账户自动扣除，感谢使用。", 0},
    {"宝贝，今天幼儿园组织春游，请家长准备好水和零食，下午四点接回", 1},
    {"【建设银行】您的信用卡本期账单{A}元，最后还款日{D}{D}月{D}{D}日，请按时还款。", 0},
    {"小区物业通知：本周六上午停水检修，请各位业主提前储水，给您带来不便敬请谅解", 3},
    {"【美团】您的外卖订单已送达，祝您用餐愉快。如有问题请联系客服", 3},
    {"您好，我是快递员，您的包裹放在门卫室了，下班记得取", 1},
};

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7FFF;
}

static int put_sender(fz_buf *b, int kind, unsigned *seed)
{
    static const char *const service[] = {"95588", "95533", "10086", "10010", "12333", "95566"};
    char tmp[32];
    switch (kind) {
    case 0: return fz_buf_puts(b, service[next_rand(seed) % 6]);
    case 2: snprintf(tmp, sizeof tmp, "170%u%07u", next_rand(seed) % 10, next_rand(seed) * 7u % 10000000u); break;
    case 3: snprintf(tmp, sizeof tmp, "10690%08u", next_rand(seed) * 13u % 100000000u); break;
    case 4: snprintf(tmp, sizeof tmp, "+852%08u", next_rand(seed) * 11u % 100000000u); break;
    default: snprintf(tmp, sizeof tmp, "13%u%08u", 5 + next_rand(seed) % 5, next_rand(seed) * 17u % 100000000u);
    }
    return fz_buf_puts(b, tmp);
}

static int fill_template(fz_buf *b, const char *t, unsigned *seed)
{
    char tmp[48];
    int rc = 0;
    while (*t && !rc) {
        if (t[0] == '{' && t[2] == '}') {
            switch (t[1]) {
            case 'D': snprintf(tmp, sizeof tmp, "%u", next_rand(seed) % 10); break;
            case 'P': snprintf(tmp, sizeof tmp, "1%u%u%08u", 3 + next_rand(seed) % 7, next_rand(seed) % 10,
                               next_rand(seed) * 19u % 100000000u); break;
            case 'A': snprintf(tmp, sizeof tmp, "%u", 100 + next_rand(seed) * 7u % 50000u); break;
            case 'U': snprintf(tmp, sizeof tmp, "http://x%u.cn/%c%u", next_rand(seed) % 1000,
                               'a' + (char)(next_rand(seed) % 26), next_rand(seed) % 100); break;
            default: tmp[0] = '\0';
            }
            rc = fz_buf_puts(b, tmp);
            t += 3;
        } else {
            rc = fz_buf_append(b, t++, 1);
        }
    }
    return rc;
}

int fz_bench_generate(size_t n, unsigned seed, double repeat, fz_buf *out)
{
    size_t nt = sizeof k_templates / sizeof k_templates[0];
    enum { POOL = 256 };
    fz_buf pool[POOL];
    memset(pool, 0, sizeof pool);
    size_t pooled = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char head[64], to[32];
        snprintf(head, sizeof head, "{\"id\":\"b-%zu\",\"from\":\"", i + 1);
        snprintf(to, sizeof to, "\",\"to\":\"138%08u", next_rand(&seed) * 31u % 100000000u);
        int again = pooled && (double)next_rand(&seed) / 32768.0 < repeat;
        if (again) {
            /* an earlier message again, sender and text, to someone else */
            const fz_buf *p = &pool[next_rand(&seed) % (pooled < POOL ? pooled : POOL)];
            const char *tail = strstr(p->data, "\",\"text\":\"");
            rc = fz_buf_puts(out, head) || fz_buf_append(out, p->data, (size_t)(tail - p->data)) ||
                 fz_buf_puts(out, to) || fz_buf_puts(out, tail);
            continue;
        }
        const tmpl *t = &k_templates[next_rand(&seed) % nt];
        fz_buf *slot = &pool[pooled++ % POOL];
        fz_buf_clear(slot);
        rc = put_sender(slot, t->sender, &seed) || fz_buf_puts(slot, "\",\"text\":\"") ||
             fill_template(slot, t->text, &seed) || fz_buf_puts(slot, "\"}\n");
        const char *tail = rc ? NULL : strstr(slot->data, "\",\"text\":\"");
        rc = rc || fz_buf_puts(out, head) || fz_buf_append(out, slot->data, (size_t)(tail - slot->data)) ||
             fz_buf_puts(out, to) || fz_buf_puts(out, tail);
    }
    for (size_t i = 0; i < POOL; i++)
        fz_buf_free(&pool[i]);
    return rc ? FZ_ENOMEM : 0;
}

/* --- the corpus, parsed and normalized once (corpus.c) --------------------------------- */

typedef fz_corpus corpus;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* --- stages alone, one thread ---------------------------------------------------------------- */

enum { ST_PARSE, ST_NORMALIZE, ST_MATCH, ST_SCAN, ST_EMIT };

/* Run one stage over the corpus for at least ~0.3 s; ns per message. */
static double stage_ns(const fz_engine *e, const corpus *c, int stage)
{
    fz_reader *r = fz_reader_new();
    fz_worker *w;
    fz_verdict *v = fz_verdict_new();
    fz_buf out = FZ_BUF_INIT;
    if (!r || !v || fz_worker_new(&w, NULL)) {
        fz_reader_free(r);
        fz_verdict_free(v);
        return 0;
    }
    fz_engine_scan_text(e, w, "x", 1, v);      /* scratch and bit sets, once */
    size_t done = 0;
    double t0 = now(), t = t0;
    while (t - t0 < 0.3) {
        for (size_t i = 0; i < c->n; i++) {
            fz_message m;
            switch (stage) {
            case ST_PARSE:
                fz_reader_parse_json(r, c->lines[i], c->lens[i], &m, NULL);
                break;
            case ST_NORMALIZE:
                fz_reader_parse_json(r, c->lines[i], c->lens[i], &m, NULL);
                fz_normalize(w->norm, m.text.ptr, m.text.len);
                break;
            case ST_MATCH:
                fz_match(e, w, c->norm[i], c->norm_len[i]);
                break;
            case ST_SCAN:
            case ST_EMIT:
                fz_reader_parse_json(r, c->lines[i], c->lens[i], &m, NULL);
                fz_engine_scan(e, w, &m, v);
                if (stage == ST_EMIT) {
                    fz_buf_clear(&out);
                    fz_verdict_write_json(v, &m, &out);
                }
                break;
            }
        }
        done += c->n;
        t = now();
    }
    fz_buf_free(&out);
    fz_reader_free(r);
    fz_verdict_free(v);
    fz_worker_free(w);
    return (t - t0) * 1e9 / (double)done;
}

/* --- Hyperscan and PCRE2 loops, N threads ------------------------------------------------------ */

typedef struct {
    const fz_engine *e;
    const corpus *c;
    int pcre;
    double seconds;
    size_t done;
    double elapsed;
} loop_arg;

static int empty_cb(unsigned id, unsigned long long f, unsigned long long t, unsigned fl, void *ud)
{
    (void)id, (void)f, (void)t, (void)fl, (void)ud;
    return 0;
}

static void *loop_main(void *p)
{
    loop_arg *a = p;
    const fz_engine *e = a->e;
    hs_scratch_t *s = NULL;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (hs_clone_scratch(e->proto, &s) != HS_SUCCESS || !md)
        return NULL;
    double t0 = now(), t = t0;
    while (t - t0 < a->seconds) {
        for (size_t i = 0; i < a->c->n; i++) {
            const char *text = a->c->norm[i];
            size_t len = a->c->norm_len[i];
            if (!a->pcre) {
                hs_scan(e->db, text, (unsigned)len, 0, s, empty_cb, NULL);
                continue;
            }
            for (uint32_t r = 0; r < e->rs->n_rules; r++)
                if (e->crules[r].re)
                    pcre2_jit_match(e->crules[r].re, (PCRE2_SPTR)text, len, 0, 0, md, NULL);
        }
        a->done += a->c->n;
        t = now();
    }
    a->elapsed = t - t0;
    hs_free_scratch(s);
    pcre2_match_data_free(md);
    return NULL;
}

static double loop_mps(const fz_engine *e, const corpus *c, int threads, int pcre, double seconds)
{
    loop_arg args[64];
    pthread_t tids[64];
    if (threads > 64)
        threads = 64;
    for (int i = 0; i < threads; i++) {
        args[i] = (loop_arg){e, c, pcre, seconds, 0, 0};
        if (pthread_create(&tids[i], NULL, loop_main, &args[i]))
            threads = i;
    }
    double mps = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        if (args[i].elapsed > 0)
            mps += (double)args[i].done / args[i].elapsed;
    }
    return mps;
}

/* --- the real stream ------------------------------------------------------------------------------- */

static double stream_mps(fz_engine *e, const corpus *c, const fz_bench_options *o, fz_error *err)
{
    int in = memfd_create("fanzha-bench", MFD_CLOEXEC), out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (in < 0 || out < 0) {
        fz_error_set(err, FZ_EIO, "cannot create the in-memory input");
        return 0;
    }
    size_t written = 0;
    while (written < o->messages) {
        for (size_t i = 0; i < c->n && written < o->messages; i++, written++) {
            if (write(in, c->lines[i], c->lens[i]) != (ssize_t)c->lens[i] || write(in, "\n", 1) != 1) {
                fz_error_set(err, FZ_EIO, "cannot write the in-memory input");
                close(in);
                close(out);
                return 0;
            }
        }
    }
    lseek(in, 0, SEEK_SET);
    fz_engine_slot *slot = fz_engine_slot_new(fz_engine_retain(e));
    fz_scan_options so = {FZ_FORMAT_JSONL, o->threads, 0, in, out, out, NULL, NULL, NULL, NULL, o->store};
    fz_scan_stats st;
    int rc = slot ? fz_scan_stream(slot, &so, &st, err) : FZ_ENOMEM;
    fz_engine_slot_free(slot);
    close(in);
    close(out);
    return rc || st.seconds <= 0 ? 0 : (double)st.read / st.seconds;
}

int fz_bench_run(fz_engine *e, const char *jsonl, size_t len, const fz_bench_options *o,
                 fz_bench_result *r, fz_error *err)
{
    corpus c;
    memset(r, 0, sizeof *r);
    fz_error_set(err, 0, "%s", "");
    int rc = fz_corpus_load(&c, jsonl, len);
    if (!rc && c.n == 0)
        rc = fz_error_set(err, FZ_EINVAL, "the corpus has no readable message");
    else if (rc)
        fz_error_set(err, rc, "%s", fz_strerror(rc));
    if (rc) {
        fz_corpus_free(&c);
        return rc;
    }
    int threads = o->threads > 0 ? o->threads : 1;
    r->corpus_messages = c.n;
    r->avg_text_bytes = c.text_bytes / (double)c.n;
    r->threads = threads;
    r->parse_ns = stage_ns(e, &c, ST_PARSE);
    r->normalize_ns = stage_ns(e, &c, ST_NORMALIZE) - r->parse_ns;
    r->match_ns = stage_ns(e, &c, ST_MATCH);
    r->scan_ns = stage_ns(e, &c, ST_SCAN) - r->parse_ns;
    r->emit_ns = stage_ns(e, &c, ST_EMIT) - r->scan_ns - r->parse_ns;
    r->hs_mps = loop_mps(e, &c, threads, 0, 1.0);
    for (uint32_t i = 0; i < e->rs->n_rules; i++)
        if (e->crules[i].re) {
            fz_crule_jit(e, i);
            r->rules_scanned_by_pcre++;
        }
    r->pcre_mps = loop_mps(e, &c, threads, 1, o->pcre_seconds > 0 ? o->pcre_seconds : 1.0);
    fz_store_stats before, after;
    if (o->store)
        fz_store_get_stats(o->store, &before);
    r->stream_mps = stream_mps(e, &c, o, err);
    if (o->store) {
        fz_store_get_stats(o->store, &after);
        uint64_t hits = after.cache_hits - before.cache_hits, misses = after.cache_misses - before.cache_misses;
        r->cache_hit_rate = hits + misses ? (double)hits / (double)(hits + misses) : 0;
        r->degraded = after.degraded - before.degraded;
    }
    fz_corpus_free(&c);
    return r->stream_mps > 0 ? 0 : (err && err->code ? err->code : FZ_EIO);
}
