/* test_extract.c — entity extraction, checked through the verdict's JSON
 * "entities" object: URLs and bare domains (with look-alike flags), phone
 * numbers, bank cards, messenger handles and amounts of money.
 *
 * Pack: tests/data/rules-unit (its domains.yaml names the brands 10086 /
 * chinamobile and icbc, and the typo TLDs .con and .cm). */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static fz_engine *g_e;

/* The "entities" object of the verdict for text, e.g.
 * {"urls":["x.cn"],"phones":["13812345678"]}, or "" when there is none. */
static const char *ents(const char *text)
{
    static char out[4096];
    const char *j = tu_scan_json(g_e, text, NULL);
    const char *p = strstr(j, "\"entities\":{");
    out[0] = '\0';
    if (!p)
        return out;
    p += strlen("\"entities\":");
    int depth = 0, in_str = 0;
    const char *q = p;
    for (; *q; q++) {
        if (in_str) {
            if (*q == '\\')
                q++;
            else if (*q == '"')
                in_str = 0;
        } else if (*q == '"') {
            in_str = 1;
        } else if (*q == '{') {
            depth++;
        } else if (*q == '}' && --depth == 0) {
            break;
        }
    }
    assert_int_equal(*q, '}');
    size_t n = (size_t)(q - p) + 1;
    assert_true(n < sizeof out);
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

#define ENTS(text, expect)                                                            \
    do {                                                                              \
        const char *got_ = ents(text);                                                \
        if (strcmp(got_, expect) != 0)                                                \
            fail_msg("entities of '%s':\n  got      %s\n  expected %s", text, got_, expect); \
    } while (0)

/* --- URLs ------------------------------------------------------------------------ */

static void url_with_scheme(void **state)
{
    (void)state;
    ENTS("访问 http://x.cn/a 了解", "{\"urls\":[\"http://x.cn/a\"]}");
    ENTS("点击https://www.abc.com/login?id=1。", "{\"urls\":[\"https://www.abc.com/login?id=1\"]}");
    ENTS("HTTP://ABC.COM/X", "{\"urls\":[\"HTTP://ABC.COM/X\"]}");
    ENTS("见 http://1.2.3.4:8080/p 处理", "{\"urls\":[\"http://1.2.3.4:8080/p\"]}");
    /* Trailing sentence punctuation is not part of the URL. */
    ENTS("详见 http://abc.com/x).", "{\"urls\":[\"http://abc.com/x\"]}");
}

static void url_without_scheme(void **state)
{
    (void)state;
    ENTS("登录www.abc.xyz查看", "{\"urls\":[\"www.abc.xyz\"]}");
    ENTS("请于今日登录 etc-gx.cn/v2 重新认证", "{\"urls\":[\"etc-gx.cn/v2\"]}");
    ENTS("访问x.cn/a", "{\"urls\":[\"x.cn/a\"]}");
    ENTS("详见 abc.com.", "{\"urls\":[\"abc.com\"]}");
    ENTS("官网 icbc.com.cn", "{\"urls\":[\"icbc.com.cn\"]}");
    ENTS("see https://a.cn and b.top", "{\"urls\":[\"https://a.cn\",\"b.top\"]}");
}

static void not_urls(void **state)
{
    (void)state;
    ENTS("价格3.5元", "{\"amounts\":[3.5]}");      /* an amount, not a domain */
    ENTS("e.g. ok", "");
    ENTS("see file.py now", "");                   /* not a known TLD */
    ENTS("版本 v2.0 已发布", "");
    ENTS("邮箱 abc@qq.com", "");                    /* an e-mail address is not a link */
}

static void lookalike_domains(void **state)
{
    (void)state;
    /* A letter standing for a digit (the normalizer's swap). */
    ENTS("访问l0086.cn", "{\"urls\":[\"10086.cn\"],\"lookalike_domains\":[\"10086.cn\"]}");
    /* A brand token outside the brand's own domains, and a typo TLD. */
    ENTS("登录10086jf.con", "{\"urls\":[\"10086jf.con\"],\"lookalike_domains\":[\"10086jf.con\"]}");
    ENTS("登录 icbc-vip.top", "{\"urls\":[\"icbc-vip.top\"],\"lookalike_domains\":[\"icbc-vip.top\"]}");
    ENTS("见 http://10086.cn.evil.top/x",
         "{\"urls\":[\"http://10086.cn.evil.top/x\"],\"lookalike_domains\":[\"10086.cn.evil.top\"]}");
    ENTS("见 chinamobile.com.cm", "{\"urls\":[\"chinamobile.com.cm\"],\"lookalike_domains\":[\"chinamobile.com.cm\"]}");
    /* Punycode. */
    ENTS("访问 xn--fiqs8s.com", "{\"urls\":[\"xn--fiqs8s.com\"],\"lookalike_domains\":[\"xn--fiqs8s.com\"]}");
    ENTS("访问 http://www.xn--fiqs8s.cn/",
         "{\"urls\":[\"http://www.xn--fiqs8s.cn/\"],\"lookalike_domains\":[\"www.xn--fiqs8s.cn\"]}");
    /* The brands' own domains (and their sub-domains) are not look-alikes. */
    ENTS("官网 icbc.com.cn", "{\"urls\":[\"icbc.com.cn\"]}");
    ENTS("登录 www.10086.cn", "{\"urls\":[\"www.10086.cn\"]}");
    ENTS("见 http://wap.10086.cn/x", "{\"urls\":[\"http://wap.10086.cn/x\"]}");
    ENTS("见 HTTP://WWW.ICBC.COM.CN", "{\"urls\":[\"HTTP://WWW.ICBC.COM.CN\"]}");
    /* And the signal. */
    assert_true(fz_verdict_fired(tu_scan(g_e, "登录10086jf.con", NULL), "entity.lookalike_domain"));
    assert_false(fz_verdict_fired(tu_scan(g_e, "登录 www.10086.cn", NULL), "entity.lookalike_domain"));
}

static void lookalike_after_many_swapped_tokens(void **state)
{
    (void)state;
    char text[512] = "";
    for (int i = 0; i < 33; i++)
        strcat(text, "l000 ");
    strcat(text, "访问l0086.cn");
    assert_non_null(strstr(ents(text), "\"lookalike_domains\":[\"10086.cn\"]"));
}

/* --- phones ------------------------------------------------------------------------ */

static void mobile_numbers(void **state)
{
    (void)state;
    const char *one = "{\"phones\":[\"13812345678\"]}";
    ENTS("请致电13812345678", one);
    ENTS("请致电+8613812345678", one);
    ENTS("请致电+86 138 1234 5678", one);
    ENTS("请致电0086 138 1234 5678", one);
    ENTS("请致电0086-13812345678", one);
    ENTS("致电138-1234-5678", one);
    ENTS("致电 138 1234 5678 咨询", one);
    ENTS("致电１３８１２３４５６７８", one);               /* full-width digits */
    ENTS("致电幺三八一二三四五六七八", one);                /* spelled out */
    ENTS("致电13812345678或13912345678",
         "{\"phones\":[\"13812345678\",\"13912345678\"]}");
    ENTS("致电13812345678，再拨13812345678", one);         /* each value once */
}

static void landline_and_service_numbers(void **state)
{
    (void)state;
    ENTS("致电010-12345678", "{\"phones\":[\"01012345678\"]}");
    ENTS("致电0755 1234567", "{\"phones\":[\"07551234567\"]}");
    ENTS("致电400-123-4567", "{\"phones\":[\"4001234567\"]}");
    ENTS("致电4001234567", "{\"phones\":[\"4001234567\"]}");
    ENTS("致电800 123 4567", "{\"phones\":[\"8001234567\"]}");
    ENTS("请致电95588。", "{\"phones\":[\"95588\"]}");
    ENTS("致电10086", "{\"phones\":[\"10086\"]}");
    ENTS("致电96110", "{\"phones\":[\"96110\"]}");
}

static void international_numbers(void **state)
{
    (void)state;
    ENTS("致电+447911123456", "{\"phones\":[\"+447911123456\"]}");
    ENTS("致电00447911123456", "{\"phones\":[\"+447911123456\"]}");
    ENTS("来电+2395588", "{\"phones\":[\"+2395588\"]}");
}

static void international_numbers_with_separators(void **state)
{
    (void)state;
    /* Written the usual way, with spaces, as a Chinese mobile can be. */
    ENTS("致电+44 7911 123456", "{\"phones\":[\"+447911123456\"]}");
    ENTS("致电0044 7911 123456", "{\"phones\":[\"+447911123456\"]}");
}

static void phones_written_other_ways(void **state)
{
    (void)state;
    ENTS("致电4000-765-230", "{\"phones\":[\"4000765230\"]}");
    ENTS("call +1 (646) 580-3321 now", "{\"phones\":[\"+16465803321\"]}");
    ENTS("ring 0800 046 1977 today", "{\"phones\":[\"08000461977\"]}");
    ENTS("ring 02 8006 7713 today", "{\"phones\":[\"0280067713\"]}");
}

static void handles_written_other_ways(void **state)
{
    (void)state;
    ENTS("加微信 yb_kf 咨询", "{\"handles\":[\"wechat:yb_kf\"]}");
    ENTS("加V：abc123", "{\"handles\":[\"wechat:abc123\"]}");
    ENTS("QQ：1583 2260 97", "{\"handles\":[\"qq:1583226097\"]}");
}

static void codes_and_ids_are_not_phones(void **state)
{
    (void)state;
    ENTS("您的验证码123456，请勿泄露", "");
    ENTS("验证码：654321", "");
    ENTS("您尾号3307的卡", "");
    ENTS("订单号20231122123456已发货", "");
    ENTS("时间10:14", "");
    ENTS("号码138123456789有误", "");                   /* 12 digits */
    ENTS("退款95588元", "{\"amounts\":[95588]}");        /* an amount, not a service number */
    ENTS("增长10086%", "");
}

/* --- cards ----------------------------------------------------------------------------- */

static void bank_cards(void **state)
{
    (void)state;
    ENTS("卡号6222 0212 3456 7890", "{\"cards\":[\"6222021234567890\"]}");
    ENTS("卡号6222-0212-3456-7890", "{\"cards\":[\"6222021234567890\"]}");
    ENTS("卡号6222021234567890", "{\"cards\":[\"6222021234567890\"]}");
    ENTS("卡号62220212345678901", "{\"cards\":[\"62220212345678901\"]}");
    ENTS("卡号6222021234567890123", "{\"cards\":[\"6222021234567890123\"]}");
    ENTS("卡号６２２２０２１２３４５６７８９０", "{\"cards\":[\"6222021234567890\"]}");
    /* Too short, too long. */
    ENTS("编号622202123456789", "");
    ENTS("编号62220212345678901234", "");
    assert_true(fz_verdict_fired(tu_scan(g_e, "卡号6222 0212 3456 7890", NULL), "entity.card"));
}

/* --- handles ------------------------------------------------------------------------------- */

static void messenger_handles(void **state)
{
    (void)state;
    ENTS("加qq123456", "{\"handles\":[\"qq:123456\"]}");
    ENTS("加QQ：12345678", "{\"handles\":[\"qq:12345678\"]}");
    ENTS("加扣扣 1234567", "{\"handles\":[\"qq:1234567\"]}");
    ENTS("加微信abc_123", "{\"handles\":[\"wechat:abc_123\"]}");
    ENTS("vx: abc_123", "{\"handles\":[\"wechat:abc_123\"]}");
    ENTS("加V信：kefu_888", "{\"handles\":[\"wechat:kefu_888\"]}");
    ENTS("telegram @scam_king", "{\"handles\":[\"telegram:scam_king\"]}");
    ENTS("飞机号abcde1", "{\"handles\":[\"telegram:abcde1\"]}");
    /* A WeChat id may be a mobile number (glued to "wx" it is not also
     * taken for a phone: the phone pattern wants no letter before it). */
    ENTS("加wx13812345678", "{\"handles\":[\"wechat:13812345678\"]}");
    ENTS("加wx 13812345678", "{\"phones\":[\"13812345678\"],\"handles\":[\"wechat:13812345678\"]}");
    /* Not handles. */
    ENTS("qq音乐", "");
    ENTS("加微信", "");
    ENTS("加qq0123", "");
    assert_true(fz_verdict_fired(tu_scan(g_e, "加qq123456", NULL), "entity.handle"));
}

/* --- amounts --------------------------------------------------------------------------------- */

static void amounts_of_money(void **state)
{
    (void)state;
    ENTS("请转5000元", "{\"amounts\":[5000]}");
    ENTS("保证金2万", "{\"amounts\":[20000]}");
    ENTS("仅需¥300", "{\"amounts\":[300]}");
    ENTS("贷款1.5万元", "{\"amounts\":[15000]}");
    ENTS("收费￥1,500", "{\"amounts\":[1500]}");
    /* Full-width digits and comma (the normalizer keeps "，"): was read as 860. */
    ENTS("个税退税１，８６０元待领取", "{\"amounts\":[1860]}");
    ENTS("收费￥12，345.50", "{\"amounts\":[12345.5]}");
    ENTS("第1，共860元", "{\"amounts\":[860]}");    /* a clause comma, not thousands */
    ENTS("返利12000块", "{\"amounts\":[12000]}");
    ENTS("人民币200", "{\"amounts\":[200]}");
    ENTS("共 3.5 元", "{\"amounts\":[3.5]}");
    ENTS("转５０００元", "{\"amounts\":[5000]}");
    ENTS("先转5000元，再转2万", "{\"amounts\":[5000,20000]}");
    assert_true(fz_verdict_fired(tu_scan(g_e, "请转5000元", NULL), "entity.amount"));
    ENTS("第5名", "");
}

static void amount_with_rmb_prefix(void **state)
{
    (void)state;
    ENTS("转账RMB 200", "{\"amounts\":[200]}");
    ENTS("转账rmb200", "{\"amounts\":[200]}");
}

static void everything_in_one_message(void **state)
{
    (void)state;
    ENTS("【通知】您的卡6222 0212 3456 7890被冻结，请登录 icbc-vip.top 或加qq123456，"
         "致电13812345678，缴纳5000元",
         "{\"urls\":[\"icbc-vip.top\"],\"lookalike_domains\":[\"icbc-vip.top\"],\"phones\":[\"13812345678\"],"
         "\"cards\":[\"6222021234567890\"],\"handles\":[\"qq:123456\"],\"amounts\":[5000]}");
}

static int setup(void **state)
{
    (void)state;
    g_e = tu_engine("tests/data/rules-unit");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_cleanup();
    fz_engine_release(g_e);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_with_scheme),
        cmocka_unit_test(url_without_scheme),
        cmocka_unit_test(not_urls),
        cmocka_unit_test(lookalike_domains),
        cmocka_unit_test(lookalike_after_many_swapped_tokens),
        cmocka_unit_test(mobile_numbers),
        cmocka_unit_test(landline_and_service_numbers),
        cmocka_unit_test(international_numbers),
        cmocka_unit_test(international_numbers_with_separators),
        cmocka_unit_test(codes_and_ids_are_not_phones),
        cmocka_unit_test(phones_written_other_ways),
        cmocka_unit_test(handles_written_other_ways),
        cmocka_unit_test(bank_cards),
        cmocka_unit_test(messenger_handles),
        cmocka_unit_test(amounts_of_money),
        cmocka_unit_test(amount_with_rmb_prefix),
        cmocka_unit_test(everything_in_one_message),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
