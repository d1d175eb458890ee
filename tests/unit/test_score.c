/* test_score.c — from fired rules and number classes to a score, a category
 * and an action: thresholds at their boundaries, negative scores, the
 * category with the largest share, sender and callback number classes, the
 * allow list, and number canonicalization.
 *
 * Pack: tests/data/rules-score (suspect 4, block 8; literal rules whose
 * scores add up exactly to the thresholds), and tests/data/rules-unit. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"
#include "testutil.h"

static fz_engine *g_s, *g_unit;

static void expect(fz_engine *e, const char *text, const char *from, double score, fz_action action,
                   const char *category)
{
    fz_verdict *v = tu_scan(e, text, from);
    if (fabs(fz_verdict_score(v) - score) > 1e-9 || fz_verdict_action(v) != action)
        fail_msg("'%s' from %s: score %g action %s, expected %g %s", text, from ? from : "-", fz_verdict_score(v),
                 fz_action_name(fz_verdict_action(v)), score, fz_action_name(action));
    const char *c = fz_verdict_category(v);
    if (category == NULL ? c != NULL : (c == NULL || strcmp(c, category) != 0))
        fail_msg("'%s': category %s, expected %s", text, c ? c : "null", category ? category : "null");
}

static void json_has(fz_engine *e, const char *text, const char *from, const char *part)
{
    const char *j = tu_scan_json(e, text, from);
    if (!strstr(j, part))
        fail_msg("verdict for '%s' lacks %s:\n  %s", text, part, j);
}

static void json_lacks(fz_engine *e, const char *text, const char *from, const char *part)
{
    const char *j = tu_scan_json(e, text, from);
    if (strstr(j, part))
        fail_msg("verdict for '%s' has %s:\n  %s", text, part, j);
}

/* --- thresholds --------------------------------------------------------------------- */

static void nothing_fires(void **state)
{
    (void)state;
    expect(g_s, "今天天气不错", NULL, 0, FZ_ALLOW, NULL);
    json_has(g_s, "今天天气不错", NULL, "\"action\":\"allow\",\"score\":0,\"category\":null,\"hits\":[]");
}

static void action_thresholds_at_the_boundaries(void **state)
{
    (void)state;
    expect(g_s, "香蕉", NULL, 0.5, FZ_ALLOW, "alpha");
    expect(g_s, "橘子", NULL, 3.5, FZ_ALLOW, "alpha");
    expect(g_s, "橘子香蕉", NULL, 4, FZ_SUSPECT, "alpha");         /* exactly suspect */
    expect(g_s, "苹果", NULL, 4, FZ_SUSPECT, "alpha");
    expect(g_s, "苹果橘子", NULL, 7.5, FZ_SUSPECT, "alpha");       /* just below block */
    expect(g_s, "苹果橘子香蕉", NULL, 8, FZ_BLOCK, "alpha");       /* exactly block */
    expect(g_s, "苹果葡萄", NULL, 9, FZ_BLOCK, "beta");
    json_has(g_s, "橘子香蕉", NULL, "\"action\":\"suspect\",\"score\":4,");
    json_has(g_s, "苹果橘子", NULL, "\"action\":\"suspect\",\"score\":7.5,");
    json_has(g_s, "苹果橘子香蕉", NULL, "\"action\":\"block\",\"score\":8,");
}

static void rules_unit_thresholds(void **state)
{
    (void)state;
    expect(g_unit, "公安局通知：您涉嫌洗钱", NULL, 10, FZ_BLOCK, "impersonate_authority");
    expect(g_unit, "请将资金转入安全账户", NULL, 8, FZ_BLOCK, "impersonate_authority");
    expect(g_unit, "您涉嫌洗钱", NULL, 2, FZ_ALLOW, "impersonate_authority");
}

static void negative_scores(void **state)
{
    (void)state;
    /* A genuine-notice rule lowers the score and can change the action. */
    expect(g_s, "苹果橘子香蕉官方提醒", NULL, 5, FZ_SUSPECT, "alpha");
    expect(g_s, "香蕉官方提醒", NULL, -2.5, FZ_ALLOW, "alpha");
    json_has(g_s, "香蕉官方提醒", NULL, "\"score\":-2.5,");
    /* Only negative rules: no category. */
    expect(g_s, "官方提醒", NULL, -3, FZ_ALLOW, NULL);
    json_has(g_s, "官方提醒", NULL, "\"score\":-3,\"category\":null,");
    /* rules-unit: the official warning cancels the authority rules. */
    expect(g_unit, "【反诈中心】温馨提醒", NULL, -4, FZ_ALLOW, NULL);
    expect(g_unit, "反诈中心提醒：公安局不会要求保密", NULL, -4 + 1 + 0.5, FZ_ALLOW, "impersonate_authority");
}

static void category_is_largest_positive_share(void **state)
{
    (void)state;
    /* alpha 4 + 0.5 = 4.5 from two rules, beta 5 from one: beta. */
    expect(g_s, "苹果香蕉葡萄", NULL, 9.5, FZ_BLOCK, "beta");
    /* alpha 4 + 3.5 = 7.5 against beta's single strongest rule (5): alpha. */
    expect(g_s, "苹果橘子葡萄", NULL, 12.5, FZ_BLOCK, "alpha");
    /* Negative rules do not count against their category's share: alpha's
     * positive share is still 7.5 although its rules sum to -2.5. */
    expect(g_s, "苹果橘子葡萄退订", NULL, 2.5, FZ_ALLOW, "alpha");
    /* beta alone. */
    expect(g_s, "葡萄西瓜", NULL, 7, FZ_SUSPECT, "beta");
    json_has(g_s, "葡萄西瓜", NULL, "\"category\":\"beta\"");
}

static void hits_strongest_first(void **state)
{
    (void)state;
    fz_verdict *v = tu_scan(g_s, "香蕉橘子苹果退订", NULL);
    assert_int_equal(fz_verdict_hit_count(v), 4);
    const char *order[] = {"zh.a.four", "zh.a.three_half", "zh.a.half", "zh.a.minus_ten"};
    for (size_t i = 0; i < 4; i++) {
        fz_hit h;
        assert_int_equal(fz_verdict_hit(v, i, &h), 0);
        assert_string_equal(h.rule, order[i]);
        assert_string_equal(h.category, "alpha");
    }
    fz_hit h;
    assert_int_equal(fz_verdict_hit(v, 4, &h), FZ_EINVAL);
}

/* --- number classes ---------------------------------------------------------------------- */

static void sender_class_score_added(void **state)
{
    (void)state;
    expect(g_s, "香蕉", "17012345678", 2, FZ_ALLOW, "alpha");
    expect(g_s, "橘子香蕉", "17012345678", 5.5, FZ_SUSPECT, "alpha");
    expect(g_s, "苹果橘子", "+86 170 1234 5678", 9, FZ_BLOCK, "alpha");
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_s, "香蕉", "17012345678")), "virtual");
    json_has(g_s, "香蕉", "17012345678", "\"sender\":{\"class\":\"virtual\",\"risk\":1.5}");
    /* A number class alone has no category. */
    expect(g_s, "您好", "17012345678", 1.5, FZ_ALLOW, NULL);
    /* First matching class in file order: 165 is premium, not mobile. */
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_s, "您好", "16512345678")), "premium");
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_s, "您好", "13812345678")), "mobile");
    json_has(g_s, "您好", "13812345678", "\"sender\":{\"class\":\"mobile\",\"risk\":0}");
    /* No class, no sender object. */
    assert_null(fz_verdict_sender_class(tu_scan(g_s, "您好", "01012345678")));
    json_lacks(g_s, "您好", "01012345678", "\"sender\"");
    json_has(g_s, "您好", "not a number", "\"sender\":{\"class\":\"other_name\"");
    json_lacks(g_unit, "您好", "not a number", "\"sender\"");      /* a pack without name classes */
    json_lacks(g_s, "您好", NULL, "\"sender\"");
}

static void callback_score(void **state)
{
    (void)state;
    expect(g_s, "请回电17012345678", NULL, 1, FZ_ALLOW, NULL);
    json_has(g_s, "请回电17012345678", NULL, "\"callback\":{\"class\":\"virtual\",\"risk\":1}");
    /* The largest callback class counts, not the sum. */
    expect(g_s, "请回电17012345678或16512345678", NULL, 2.5, FZ_ALLOW, NULL);
    json_has(g_s, "请回电17012345678或16512345678", NULL, "\"callback\":{\"class\":\"premium\",\"risk\":2.5}");
    /* Sender and callback add up, with the rules. */
    expect(g_s, "请回电16512345678", "17012345678", 4, FZ_SUSPECT, NULL);
    expect(g_s, "橘子，回电16512345678", "17012345678", 7.5, FZ_SUSPECT, "alpha");
    /* Classes without callback_score add nothing; no callback object. */
    expect(g_s, "请回电13812345678", NULL, 0, FZ_ALLOW, NULL);
    json_lacks(g_s, "请回电13812345678", NULL, "\"callback\"");
    /* rules-unit: a virtual-operator number in the text. */
    expect(g_unit, "请回电17012345678", NULL, 1, FZ_ALLOW, NULL);
}

static void allow_list(void **state)
{
    (void)state;
    /* The bank's own short code: allowlisted, no risk. */
    expect(g_s, "您的验证码是", "95588", 0, FZ_ALLOW, NULL);
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_s, "您好", "95588")), "allowlisted");
    json_has(g_s, "您好", "95588", "\"sender\":{\"class\":\"allowlisted\",\"risk\":0}");
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_s, "您好", "+86 95588")), "allowlisted");
    assert_true(fz_verdict_fired(tu_scan(g_s, "您好", "95588"), "sender.allowlisted"));
    /* The same digits from abroad: a spoofed service number. */
    expect(g_s, "您的积分即将清零", "+2395588", 6, FZ_SUSPECT, NULL);
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_s, "您好", "+2395588")), "spoof");
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_s, "您好", "002395588")), "spoof");
    assert_false(fz_verdict_fired(tu_scan(g_s, "您好", "+2395588"), "sender.allowlisted"));
    /* An allowlisted number in the text is no callback risk. */
    expect(g_s, "请致电95588", NULL, 0, FZ_ALLOW, NULL);
    /* rules-unit: the pack's own examples. */
    expect(g_unit, "您的积分即将清零", "95588", 0, FZ_ALLOW, NULL);
    expect(g_unit, "您的积分即将清零", "+2395588", 7, FZ_SUSPECT, "genuine");
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_unit, "您好", "+2395588")), "service_spoof");
    assert_string_equal(fz_verdict_sender_class(tu_scan(g_unit, "您好", "+12025550123")), "international");
}

/* Senders that are not numbers: names (any case) and e-mail addresses. */
static void named_and_email_senders(void **state)
{
    (void)state;
    json_has(g_s, "hello", "hsbc", "\"sender\":{\"class\":\"bank_name\",\"risk\":0.25}");
    json_has(g_s, "hello", "Parcel-Co", "\"sender\":{\"class\":\"other_name\",\"risk\":0.75}");
    json_has(g_s, "hello", "alert@icloud.com", "\"sender\":{\"class\":\"email\",\"risk\":2}");
    json_lacks(g_s, "hello", "   ", "\"sender\"");
}

static void canon(const char *in, int rc, const char *digits, int intl)
{
    fz_number num;
    memset(&num, 0x55, sizeof num);
    int got = fz_number_canon(in, strlen(in), &num);
    if (got != rc)
        fail_msg("fz_number_canon(\"%s\") = %d, expected %d", in, got, rc);
    if (rc != 0)
        return;
    if (strcmp(num.digits, digits) != 0 || num.len != strlen(digits) || num.international != intl)
        fail_msg("fz_number_canon(\"%s\") = %s (len %zu, intl %d), expected %s intl %d", in, num.digits, num.len,
                 num.international, digits, intl);
}

static void number_canonicalization(void **state)
{
    (void)state;
    canon("13812345678", 0, "13812345678", 0);
    canon("+8613812345678", 0, "13812345678", 0);
    canon("+86 138-1234-5678", 0, "13812345678", 0);
    canon("0086 138 1234 5678", 0, "13812345678", 0);
    canon("8613812345678", 0, "13812345678", 0);
    canon("861381234567", 0, "861381234567", 0);       /* 12 digits: not a +86 mobile */
    canon("(010) 1234-5678", 0, "01012345678", 0);
    canon("95588", 0, "95588", 0);
    canon("+86 95588", 0, "95588", 0);
    canon("+2395588", 0, "2395588", 1);
    canon("002395588", 0, "2395588", 1);
    canon("0044 7911 123456", 0, "447911123456", 1);
    canon("+1 (555) 123.4567", 0, "15551234567", 1);
    canon("12345678901234567890123", 0, "12345678901234567890123", 0);    /* 23 digits fit */
    canon("", -1, NULL, 0);
    canon("abc", -1, NULL, 0);
    canon("+", -1, NULL, 0);
    canon("1+2", -1, NULL, 0);
    canon("++1", -1, NULL, 0);
    canon("138#1234", -1, NULL, 0);
    canon("123456789012345678901234", -1, NULL, 0);     /* 24 digits */
    canon("1234567890123456789012345678901234567890", -1, NULL, 0);
}

static int setup(void **state)
{
    (void)state;
    g_s = tu_engine("tests/data/rules-score");
    g_unit = tu_engine("tests/data/rules-unit");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_cleanup();
    fz_engine_release(g_s);
    fz_engine_release(g_unit);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_fires),
        cmocka_unit_test(action_thresholds_at_the_boundaries),
        cmocka_unit_test(rules_unit_thresholds),
        cmocka_unit_test(negative_scores),
        cmocka_unit_test(category_is_largest_positive_share),
        cmocka_unit_test(hits_strongest_first),
        cmocka_unit_test(sender_class_score_added),
        cmocka_unit_test(callback_score),
        cmocka_unit_test(allow_list),
        cmocka_unit_test(number_canonicalization),
        cmocka_unit_test(named_and_email_senders),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
