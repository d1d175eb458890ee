/* test_match.c — matching: literals and patterns on each of the three paths
 * (Hyperscan, Hyperscan prefilter + PCRE2, PCRE2 alone), every kind of
 * combination, signals, case-insensitivity, patterns that must work on whole
 * characters, and evidence spans in the original text.
 *
 * Packs: tests/data/rules-unit (fixed) and tests/data/rules-match (one rule
 * per feature, see zh/match.yaml), plus a few written on the fly. */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"
#include "testutil.h"

static fz_engine *g_unit, *g_match;

static int fired(fz_engine *e, const char *text, const char *from, const char *rule)
{
    return fz_verdict_fired(tu_scan(e, text, from), rule);
}

static fz_rule_path path_of(fz_engine *e, const char *rule)
{
    long i = fz_engine_rule_index(e, rule);
    assert_true(i >= 0);
    fz_rule_info ri;
    assert_int_equal(fz_engine_rule(e, (size_t)i, &ri), 0);
    return ri.path;
}

/* The evidence of rule in text: fails unless the rule has a span; returns
 * it as [*s, *e) of the original text. */
static void evidence(fz_engine *e, const char *text, const char *rule, size_t *s, size_t *t)
{
    fz_verdict *v = tu_scan(e, text, NULL);
    fz_hit h;
    if (!tu_hit(v, rule, &h))
        fail_msg("rule %s did not fire on '%s'", rule, text);
    assert_true(h.has_span);
    assert_true(h.start <= h.end && h.end <= strlen(text));
    *s = h.start;
    *t = h.end;
}

static void assert_evidence(fz_engine *e, const char *text, const char *rule, const char *expect)
{
    size_t s, t;
    evidence(e, text, rule, &s, &t);
    if (t - s != strlen(expect) || memcmp(text + s, expect, t - s) != 0)
        fail_msg("evidence of %s in '%s' is '%.*s' [%zu,%zu), expected '%s'", rule, text, (int)(t - s), text + s,
                 s, t, expect);
}

/* --- literals and patterns ----------------------------------------------------- */

static void literal_rule(void **state)
{
    (void)state;
    assert_true(fired(g_match, "恭喜！中奖通知请查收", NULL, "zh.m.literal"));
    assert_false(fired(g_match, "恭喜中奖", NULL, "zh.m.literal"));
    assert_int_equal(path_of(g_match, "zh.m.literal"), FZ_PATH_HYPERSCAN);
    assert_evidence(g_match, "恭喜！中奖通知请查收", "zh.m.literal", "中奖通知");
    /* Either literal of the list. */
    assert_true(fired(g_match, "Your Prize Claim is ready", NULL, "zh.m.literal"));
    /* rules-unit: a literal list. */
    assert_true(fired(g_unit, "这里是检察院", NULL, "zh.authority.police"));
    assert_true(fired(g_unit, "民警提醒", NULL, "zh.authority.police"));
    assert_false(fired(g_unit, "公安", NULL, "zh.authority.police"));
}

static void literal_written_obfuscated_in_pack(void **state)
{
    (void)state;
    /* Literals are normalized when the pack loads: a literal written in
     * traditional characters with a separator matches the plain text. */
    const char *dir = tu_pack("policy.yaml", "version: x\nactions: {suspect: 4, block: 8}\n",
                              "zh/t.yaml", "category: t\ntitle: T\nseverity: low\nrules:\n"
                                           "  - id: zh.t.lit\n    literal: '銀|行卡'\n    score: 1\n", NULL);
    fz_engine *e = tu_engine_dir(dir);
    assert_true(fired(e, "您的银行卡已冻结", NULL, "zh.t.lit"));
    assert_true(fired(e, "您的銀行卡已冻结", NULL, "zh.t.lit"));
    fz_engine_release(e);
}

static void regex_rule(void **state)
{
    (void)state;
    assert_true(fired(g_match, "您的验证码123456，请勿泄露", NULL, "zh.m.regex"));
    assert_false(fired(g_match, "您的验证码12345，请勿泄露", NULL, "zh.m.regex"));
    assert_int_equal(path_of(g_match, "zh.m.regex"), FZ_PATH_HYPERSCAN);
    assert_evidence(g_match, "您的验证码123456，请勿泄露", "zh.m.regex", "验证码123456");
    /* rules-unit: an alternation. */
    assert_true(fired(g_unit, "把钱转到国家监管账户", NULL, "zh.authority.safe_account"));
    assert_false(fired(g_unit, "您的账户安全等级已提升", NULL, "zh.authority.safe_account"));
}

static void prefilter_confirmed_pattern(void **state)
{
    (void)state;
    /* A back-reference: Hyperscan finds candidates, PCRE2 confirms. */
    assert_int_equal(path_of(g_match, "zh.m.backref"), FZ_PATH_PREFILTER);
    assert_int_equal(path_of(g_unit, "zh.authority.backref"), FZ_PATH_PREFILTER);
    assert_true(fired(g_match, "请配合核查核查", NULL, "zh.m.backref"));
    assert_evidence(g_match, "请配合核查核查", "zh.m.backref", "核查核查");
    /* The prefilter alone would accept this (it ignores the back-reference);
     * the confirmation must reject it. */
    assert_false(fired(g_match, "核查", NULL, "zh.m.backref"));
    assert_false(fired(g_match, "核查一下再核查", NULL, "zh.m.backref"));
    assert_true(fired(g_unit, "核查核查", NULL, "zh.authority.backref"));
    assert_false(fired(g_unit, "核查", NULL, "zh.authority.backref"));
}

static void pcre2_only_pattern(void **state)
{
    (void)state;
    /* A subroutine call '(?1)' is refused by this Hyperscan even in prefilter
     * mode ("Subpattern reference unsupported"); so are (?R), \K, \R, (*SKIP)
     * and callouts. The rule runs on PCRE2 alone and still matches. */
    assert_int_equal(path_of(g_match, "zh.m.subroutine"), FZ_PATH_PCRE2);
    assert_true(fired(g_match, "请把钱转入安全账户安全", NULL, "zh.m.subroutine"));
    assert_false(fired(g_match, "请把钱转入安全账户", NULL, "zh.m.subroutine"));
    assert_evidence(g_match, "请把钱转入安全账户安全", "zh.m.subroutine", "安全账户安全");
    /* It is matched against the normalized text like every rule. */
    assert_true(fired(g_match, "请转入安|全|账|户|安|全", NULL, "zh.m.subroutine"));
    assert_evidence(g_match, "请转入安|全|账|户|安|全", "zh.m.subroutine", "安|全|账|户|安|全");
}

static void rule_kinds_and_paths(void **state)
{
    (void)state;
    fz_rule_info ri;
    assert_int_equal(fz_engine_rule(g_match, (size_t)fz_engine_rule_index(g_match, "zh.m.literal"), &ri), 0);
    assert_int_equal(ri.kind, FZ_RULE_LITERAL);
    assert_int_equal(fz_engine_rule(g_match, (size_t)fz_engine_rule_index(g_match, "zh.m.regex"), &ri), 0);
    assert_int_equal(ri.kind, FZ_RULE_PATTERN);
    assert_int_equal(fz_engine_rule(g_match, (size_t)fz_engine_rule_index(g_match, "zh.m.all"), &ri), 0);
    assert_int_equal(ri.kind, FZ_RULE_COMBINATION);
    assert_int_equal(ri.path, FZ_PATH_NONE);
    /* 'not' on a pattern keeps it on Hyperscan. */
    assert_int_equal(path_of(g_match, "zh.m.pattern_not"), FZ_PATH_HYPERSCAN);
}

static void case_insensitive_ascii(void **state)
{
    (void)state;
    assert_true(fired(g_match, "您的Apple ID已锁定", NULL, "zh.m.caseless"));
    assert_true(fired(g_match, "您的APPLE ID已锁定", NULL, "zh.m.caseless"));
    assert_true(fired(g_match, "您的appleid已锁定", NULL, "zh.m.caseless"));
    assert_evidence(g_match, "您的APPLE ID已锁定", "zh.m.caseless", "APPLE ID");
    /* Literals too, and a literal written in upper case matches lower case. */
    assert_true(fired(g_match, "PRIZE CLAIM", NULL, "zh.m.literal"));
    assert_true(fired(g_match, "prize claim", NULL, "zh.m.literal"));
    assert_true(fired(g_unit, "etc认证已过期", NULL, "zh.ham.etc"));
    assert_true(fired(g_unit, "Etc认证已过期", NULL, "zh.ham.etc"));
    /* Full-width letters are folded first. */
    assert_true(fired(g_unit, "ＥＴＣ认证已过期", NULL, "zh.ham.etc"));
    assert_evidence(g_unit, "您的ＥＴＣ认证已过期", "zh.ham.etc", "ＥＴＣ认证");
}

/* --- patterns that must work on characters, not bytes ------------------------------- */

static void dot_counts_characters(void **state)
{
    (void)state;
    /* .{0,3} is up to three characters (nine bytes of CJK), not three bytes. */
    assert_true(fired(g_match, "转账保证金", NULL, "zh.m.dots"));
    assert_true(fired(g_match, "转账到我保证金", NULL, "zh.m.dots"));
    assert_true(fired(g_match, "转账到我的保证金", NULL, "zh.m.dots"));
    assert_false(fired(g_match, "转账到我的卡保证金", NULL, "zh.m.dots"));
    assert_evidence(g_match, "请转账到我的保证金账户", "zh.m.dots", "转账到我的保证金");
    /* rules-unit: '反诈中心.{0,6}提醒'. */
    assert_true(fired(g_unit, "【反诈中心】温馨提醒", NULL, "zh.ham.official_warning"));
    assert_false(fired(g_unit, "反诈中心今天下午三点会提醒", NULL, "zh.ham.official_warning"));
}

static void class_with_cjk(void **state)
{
    (void)state;
    assert_true(fired(g_match, "安全卡号", NULL, "zh.m.class"));
    assert_true(fired(g_match, "保全卡号", NULL, "zh.m.class"));
    /* 三 is E4 B8 89 and 安 is E5 AE 89: a byte class [安保] would accept
     * the last byte of 三. A character class must not. */
    assert_false(fired(g_match, "三全卡号", NULL, "zh.m.class"));
    assert_false(fired(g_match, "完全卡号", NULL, "zh.m.class"));
    /* Negated class: [^，。]{2} is two characters. */
    assert_true(fired(g_match, "退款点击链接", NULL, "zh.m.negclass"));
    assert_false(fired(g_match, "退款请点击链接", NULL, "zh.m.negclass"));
    assert_false(fired(g_match, "退款，击链接", NULL, "zh.m.negclass"));
    assert_evidence(g_match, "申请退款点击链接", "zh.m.negclass", "退款点击链接");
}

static void quantifier_after_cjk_character(void **state)
{
    (void)state;
    /* 哈{3} repeats the character, not its last byte. */
    assert_true(fired(g_match, "哈哈哈", NULL, "zh.m.quant"));
    assert_false(fired(g_match, "哈哈", NULL, "zh.m.quant"));
    assert_evidence(g_match, "笑哈哈哈哈", "zh.m.quant", "哈哈哈");
}

static void needs_utf8_truth_table(void **state)
{
    (void)state;
    static const struct { const char *p; int want; } k[] = {
        {"安全账户", 0},
        {"(安全|监管)账户", 0},
        {"ab", 0},
        {"", 0},
        {"\\d{6}", 0},
        {"\\s+", 0},
        {"\\w+", 0},
        {"\\x41", 0},
        {"\\.", 0},
        {"[.]", 0},
        {"[a-z0-9]", 0},
        {"(哈)+", 0},             /* a group repeats whole characters anyway */
        {"银\\d+", 0},             /* the quantifier is on \d */
        {"a.b", 1},
        {"转账.{0,3}", 1},
        {"[安保]全", 1},
        {"[\\d银]", 1},
        {"[^a]", 1},
        {"哈{3}", 1},
        {"哈+", 1},
        {"哈*", 1},
        {"哈?", 1},
        {"\\D", 1},
        {"\\S", 1},
        {"\\W", 1},
        {"\\H", 1},
        {"\\V", 1},
        {"\\N", 1},
        {"\\X", 1},
        {"\\R", 1},
        {"\\C", 1},
        {"\\p{Han}", 1},
        {"\\P{Han}", 1},
        {"\\x{4e00}", 1},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (fz_pattern_needs_utf8(k[i].p) != k[i].want)
            fail_msg("fz_pattern_needs_utf8(\"%s\") = %d, expected %d", k[i].p, !k[i].want, k[i].want);
}

static void needs_utf8_horizontal_vertical_space(void **state)
{
    (void)state;
    assert_int_equal(fz_pattern_needs_utf8("\\h"), 1);
    assert_int_equal(fz_pattern_needs_utf8("\\v"), 1);
    const char *dir = tu_pack("policy.yaml", "version: x\nactions: {suspect: 4, block: 8}\n",
                              "zh/t.yaml", "category: t\ntitle: T\nseverity: low\nrules:\n"
                                           "  - id: zh.t.h\n    pattern: '\\h\\d{4}'\n    score: 1\n"
                                           "  - id: zh.t.v\n    pattern: '\\v\\d{4}'\n    score: 1\n", NULL);
    fz_engine *e = tu_engine_dir(dir);
    assert_true(fired(e, "x 1234", NULL, "zh.t.h"));
    assert_false(fired(e, "丠1234", NULL, "zh.t.h"));
    assert_false(fired(e, "丅1234", NULL, "zh.t.v"));
    fz_engine_release(e);
}

/* --- combinations ------------------------------------------------------------------ */

static void combination_all(void **state)
{
    (void)state;
    assert_true(fired(g_match, "账户冻结，需要解冻", NULL, "zh.m.all"));
    assert_false(fired(g_match, "账户冻结", NULL, "zh.m.all"));
    assert_false(fired(g_match, "需要解冻", NULL, "zh.m.all"));
    /* rules-unit */
    assert_true(fired(g_unit, "公安局通知：您涉嫌洗钱", NULL, "zh.authority.combo"));
    assert_false(fired(g_unit, "您涉嫌洗钱", NULL, "zh.authority.combo"));
    /* A combination has no span of its own: its JSON names what it combined. */
    fz_verdict *v = tu_scan(g_match, "账户冻结，需要解冻", NULL);
    fz_hit h;
    assert_true(tu_hit(v, "zh.m.all", &h));
    assert_false(h.has_span);
    const char *j = tu_json(v, "账户冻结，需要解冻", NULL);
    assert_non_null(strstr(j, "{\"rule\":\"zh.m.all\",\"score\":1,\"because\":[\"zh.m.a\",\"zh.m.b\"]}"));
}

static void combination_any_with_min(void **state)
{
    (void)state;
    assert_false(fired(g_match, "冻结", NULL, "zh.m.any2"));
    assert_false(fired(g_match, "手续费", NULL, "zh.m.any2"));
    assert_true(fired(g_match, "冻结，手续费", NULL, "zh.m.any2"));
    assert_true(fired(g_match, "解冻，手续费", NULL, "zh.m.any2"));
    assert_true(fired(g_match, "冻结，解冻，手续费", NULL, "zh.m.any2"));
    /* Default min is 1. */
    assert_true(fired(g_match, "手续费", NULL, "zh.m.any1"));
    assert_true(fired(g_match, "解冻", NULL, "zh.m.any1"));
    assert_false(fired(g_match, "冻结", NULL, "zh.m.any1"));
    /* rules-unit: min 2 of three. */
    assert_true(fired(g_unit, "公安局说要保密", NULL, "zh.authority.secret_any"));
    assert_false(fired(g_unit, "要保密", NULL, "zh.authority.secret_any"));
}

static void not_on_a_pattern_rule(void **state)
{
    (void)state;
    assert_true(fired(g_match, "请联系客服", NULL, "zh.m.pattern_not"));
    assert_false(fired(g_match, "官方认证客服", NULL, "zh.m.pattern_not"));
    /* The vetoing rule itself fired. */
    assert_true(fired(g_match, "官方认证客服", NULL, "zh.m.official"));
    /* A vetoed rule is not a hit and does not score. */
    fz_verdict *v = tu_scan(g_match, "官方认证客服", NULL);
    assert_false(tu_hit(v, "zh.m.pattern_not", NULL));
    assert_true(fz_verdict_score(v) == -1.0);
}

static void not_on_a_combination(void **state)
{
    (void)state;
    assert_true(fired(g_match, "冻结，手续费", NULL, "zh.m.combo_not"));
    assert_false(fired(g_match, "冻结，解冻，手续费", NULL, "zh.m.combo_not"));
    /* rules-unit: secret_any with not: [zh.ham.official_warning]. */
    assert_true(fired(g_unit, "公安局说要保密", NULL, "zh.authority.secret_any"));
    assert_false(fired(g_unit, "反诈中心提醒：公安局不会要求保密", NULL, "zh.authority.secret_any"));
}

static void nested_combinations(void **state)
{
    (void)state;
    /* nested = all(all(a,b), any1(b,c)). */
    assert_true(fired(g_match, "冻结，解冻", NULL, "zh.m.nested"));
    assert_false(fired(g_match, "冻结，手续费", NULL, "zh.m.nested"));
    /* A combination naming one written after it, which itself combines a
     * combination with 'not' and a signal: later = all(combo_not, phone). */
    assert_true(fired(g_match, "冻结，手续费，致电13812345678", NULL, "zh.m.later"));
    assert_true(fired(g_match, "冻结，手续费，致电13812345678", NULL, "zh.m.nested_later"));
    assert_false(fired(g_match, "冻结，解冻，手续费，致电13812345678", NULL, "zh.m.nested_later"));
    assert_false(fired(g_match, "冻结，手续费", NULL, "zh.m.nested_later"));
}

/* --- signals ---------------------------------------------------------------------- */

static void signal_entity_url(void **state)
{
    (void)state;
    assert_true(fired(g_unit, "ETC认证失效 http://etc-x.cn/a", NULL, "zh.ham.etc_link"));
    assert_true(fired(g_unit, "ETC认证失效 etc-x.cn/a", NULL, "zh.ham.etc_link"));
    assert_false(fired(g_unit, "ETC认证失效", NULL, "zh.ham.etc_link"));
    assert_true(fired(g_unit, "ETC认证失效 http://etc-x.cn/a", NULL, "entity.url"));
    assert_false(fired(g_unit, "ETC认证失效", NULL, "entity.url"));
    assert_true(fired(g_match, "手续费见 www.fee.top", NULL, "zh.m.url"));
    assert_false(fired(g_match, "手续费3.5元", NULL, "zh.m.url"));
}

static void signal_sender_class(void **state)
{
    (void)state;
    assert_true(fired(g_match, "您好", "17012345678", "zh.m.sender"));
    assert_true(fired(g_match, "您好", "+86 170-1234-5678", "zh.m.sender"));
    assert_false(fired(g_match, "您好", "13812345678", "zh.m.sender"));
    assert_false(fired(g_match, "您好", "1701234567", "zh.m.sender"));     /* 10 digits */
    assert_false(fired(g_match, "您好", NULL, "zh.m.sender"));
    assert_true(fired(g_match, "您好", "17012345678", "sender.virtual"));
    /* sender.allowlisted in 'not'. */
    assert_true(fired(g_match, "手续费", "13812345678", "zh.m.not_allowlisted"));
    assert_false(fired(g_match, "手续费", "95588", "zh.m.not_allowlisted"));
    assert_true(fired(g_match, "手续费", "+2395588", "zh.m.not_allowlisted"));
    /* rules-unit: sender.service_spoof. */
    assert_true(fired(g_unit, "您的积分即将清零", "+2395588", "zh.ham.spoofed_sender"));
    assert_false(fired(g_unit, "您的积分即将清零", "95588", "zh.ham.spoofed_sender"));
}

static void signals_do_not_score(void **state)
{
    (void)state;
    /* A URL and a phone alone: no rule, no score. */
    fz_verdict *v = tu_scan(g_unit, "见 http://x.cn 或致电13812345678", NULL);
    assert_true(fz_verdict_fired(v, "entity.url"));
    assert_true(fz_verdict_fired(v, "entity.phone"));
    assert_int_equal(fz_verdict_hit_count(v), 0);
    assert_true(fz_verdict_score(v) == 0);
}

/* --- evidence in the original text ----------------------------------------------------- */

static void evidence_points_into_original_text(void **state)
{
    (void)state;
    const char *text = "公安局通知：您涉嫌洗钱";
    fz_verdict *v = tu_scan(g_unit, text, NULL);
    fz_hit h;
    assert_true(tu_hit(v, "zh.authority.police", &h));
    assert_int_equal(h.start, 0);
    assert_int_equal(h.end, 9);
    assert_true(tu_hit(v, "zh.authority.laundering", &h));
    assert_int_equal(h.start, 21);
    assert_int_equal(h.end, 33);
    const char *j = tu_json(v, text, NULL);
    assert_non_null(strstr(j, "\"evidence\":\"涉嫌洗钱\",\"at\":[21,33]"));
    assert_non_null(strstr(j, "\"evidence\":\"公安局\",\"at\":[0,9]"));
}

static void evidence_in_obfuscated_text(void **state)
{
    (void)state;
    /* Separators: the span covers them. */
    const char *t1 = "请将资金转入安|全|账|户配合调查";
    assert_evidence(g_unit, t1, "zh.authority.safe_account", "安|全|账|户");
    size_t s, e;
    evidence(g_unit, t1, "zh.authority.safe_account", &s, &e);
    assert_int_equal(s, 18);
    assert_int_equal(e, 33);
    const char *j = tu_json(tu_scan(g_unit, t1, NULL), t1, NULL);
    assert_non_null(strstr(j, "\"evidence\":\"安|全|账|户\",\"at\":[18,33]"));
    /* Traditional characters and zero-width spaces. */
    assert_evidence(g_unit, "转到國家監管賬戶", "zh.authority.safe_account", "監管賬戶");
    assert_evidence(g_unit, "转入安\xe2\x80\x8b全\xe2\x80\x8b账户", "zh.authority.safe_account",
                    "安\xe2\x80\x8b全\xe2\x80\x8b账户");
    /* Emoji and spaces. */
    assert_evidence(g_unit, "这里是公 安 🚔 局", "zh.authority.police", "公 安 🚔 局");
    /* Full-width digits inside a pattern match. */
    assert_evidence(g_match, "验证码：验证码１２３４５６", "zh.m.regex", "验证码１２３４５６");
    /* Invalid UTF-8 before the evidence does not shift it. */
    assert_evidence(g_unit, "\xff\xfe公安局", "zh.authority.police", "公安局");
    evidence(g_unit, "\xff\xfe公安局", "zh.authority.police", &s, &e);
    assert_int_equal(s, 2);
    assert_int_equal(e, 11);
}

static void traditional_text_matches_simplified_rule(void **state)
{
    (void)state;
    assert_true(fired(g_unit, "把钱转到国家監管賬戶", NULL, "zh.authority.safe_account"));
    /* rules-unit's own example: 帐戶. */
    assert_true(fired(g_unit, "把钱转到国家监管帐戶", NULL, "zh.authority.safe_account"));
}

static void traditional_account_spelling(void **state)
{
    (void)state;
    assert_true(fired(g_unit, "把钱转到国家監管帳戶", NULL, "zh.authority.safe_account"));
}

static int setup(void **state)
{
    (void)state;
    g_unit = tu_engine("tests/data/rules-unit");
    g_match = tu_engine("tests/data/rules-match");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_cleanup();
    fz_engine_release(g_unit);
    fz_engine_release(g_match);
    return 0;
}

/* word: true — a literal only as a whole word, at ASCII word boundaries. */
static void word_literals(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml", "version: w\nactions: {suspect: 4, block: 8}\n",
                              "en/t.yaml",
                              "category: t\ntitle: T\nseverity: low\nrules:\n"
                              "  - id: en.t.ups\n    literal: [ups, 'dhl express']\n    word: true\n    score: 5\n",
                              NULL);
    fz_engine *e = tu_engine_dir(dir);
    assert_true(fz_verdict_fired(tu_scan(e, "Your UPS parcel", NULL), "en.t.ups"));
    assert_true(fz_verdict_fired(tu_scan(e, "ups", NULL), "en.t.ups"));
    assert_true(fz_verdict_fired(tu_scan(e, "DHL Express: fee", NULL), "en.t.ups"));
    assert_true(fz_verdict_fired(tu_scan(e, "包裹ups已到", NULL), "en.t.ups"));      /* CJK is not a word character */
    assert_false(fz_verdict_fired(tu_scan(e, "join our groups", NULL), "en.t.ups"));
    assert_false(fz_verdict_fired(tu_scan(e, "upside", NULL), "en.t.ups"));
    assert_false(fz_verdict_fired(tu_scan(e, "dhl expressway", NULL), "en.t.ups"));
    fz_engine_release(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(word_literals),
        cmocka_unit_test(literal_rule),
        cmocka_unit_test(literal_written_obfuscated_in_pack),
        cmocka_unit_test(regex_rule),
        cmocka_unit_test(prefilter_confirmed_pattern),
        cmocka_unit_test(pcre2_only_pattern),
        cmocka_unit_test(rule_kinds_and_paths),
        cmocka_unit_test(case_insensitive_ascii),
        cmocka_unit_test(dot_counts_characters),
        cmocka_unit_test(class_with_cjk),
        cmocka_unit_test(quantifier_after_cjk_character),
        cmocka_unit_test(needs_utf8_truth_table),
        cmocka_unit_test(needs_utf8_horizontal_vertical_space),
        cmocka_unit_test(combination_all),
        cmocka_unit_test(combination_any_with_min),
        cmocka_unit_test(not_on_a_pattern_rule),
        cmocka_unit_test(not_on_a_combination),
        cmocka_unit_test(nested_combinations),
        cmocka_unit_test(signal_entity_url),
        cmocka_unit_test(signal_sender_class),
        cmocka_unit_test(signals_do_not_score),
        cmocka_unit_test(evidence_points_into_original_text),
        cmocka_unit_test(evidence_in_obfuscated_text),
        cmocka_unit_test(traditional_text_matches_simplified_rule),
        cmocka_unit_test(traditional_account_spelling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
