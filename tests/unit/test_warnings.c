/* test_warnings.c — rules/warnings.yaml: the real pack's warnings load
 * cleanly and render the right words for residents and guardians, and the
 * checker refuses every template a scammer could imitate (links, domains,
 * callback numbers, things to reply to or click, walls of text) with an
 * error at the template's file:line:col, while plain advice ("不要回复",
 * "do not click", 96110, 110) passes.
 *
 * The checker cases use a small pack in a temporary directory (tu_pack):
 * a policy, one category "test", and a warnings.yaml whose first eleven
 * lines are fixed (BASE below) and whose template under test starts on
 * line 12; its text value is on line 15 (or 14 without categories), column 11. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "diag.h"
#include "ruleset.h"
#include "warnings.h"

static const char k_policy[] = "version: \"w-1\"\nactions:\n  suspect: 4\n  block: 8\n";
static const char k_category[] = "category: test\ntitle: T\nseverity: low\nrules:\n"
                                 "  - id: zh.t.one\n    literal: '测试诈骗短信'\n    score: 1\n";

/* warnings.yaml, lines 1-11: a default template for every language x role. */
#define BASE                                                                                      \
    "names:\n"                                                                          /*  1 */ \
    "  zh: 您好\n"                                                                      /*  2 */ \
    "  en: Hello\n"                                                                     /*  3 */ \
    "kinds:\n"                                                                          /*  4 */ \
    "  zh: {default: 诈骗, test: 测试诈骗, reported: 诈骗号码}\n"                       /*  5 */ \
    "  en: {default: scam, test: test scam, reported: scammer}\n"                       /*  6 */ \
    "templates:\n"                                                                      /*  7 */ \
    "  - {language: zh, to: resident, text: \"{name}，这是{kind}短信，不要转账，可打96110。\"}\n" \
    "  - {language: zh, to: guardian, text: \"{name}，您的家人{resident}收到{kind}短信，可打96110。\"}\n" \
    "  - {language: en, to: resident, text: \"{name}, this is a {kind} message. Do not pay. Call 96110.\"}\n" \
    "  - {language: en, to: guardian, text: \"{name}, {resident} got a {kind} message. Call 96110.\"}\n"

/* --- collecting every diagnostic ------------------------------------------------------ */

typedef struct diags {
    char lines[256][1200];
    int n, errors, warnings;
} diags;

static void collect(void *ud, const fz_diag *d)
{
    diags *c = ud;
    if (d->level == FZ_DIAG_ERROR)
        c->errors++;
    else if (d->level == FZ_DIAG_WARNING)
        c->warnings++;
    if (c->n < 256)
        fz_diag_format(d, c->lines[c->n++], sizeof c->lines[0]);
}

static diags g_d;

/* Load a pack directory, collecting into g_d. */
static fz_ruleset *load(const char *dir)
{
    memset(&g_d, 0, sizeof g_d);
    fz_diags d;
    fz_diags_init(&d, collect, &g_d);
    return fz_ruleset_load(dir, &d);
}

static void dump(void)
{
    for (int i = 0; i < g_d.n; i++)
        fprintf(stderr, "  diag: %s\n", g_d.lines[i]);
}

/* Diagnostics that mention warnings.yaml. */
static int about_warnings(void)
{
    int n = 0;
    for (int i = 0; i < g_d.n; i++)
        n += strstr(g_d.lines[i], "warnings.yaml") != NULL;
    return n;
}

/* A pack whose warnings.yaml is BASE followed by more. */
static const char *wpack(const char *more)
{
    static char yaml[8192];
    snprintf(yaml, sizeof yaml, "%s%s", BASE, more);
    return tu_pack("policy.yaml", k_policy, "zh/t.yaml", k_category, "warnings.yaml", yaml, NULL);
}

/* A pack with BASE and one more template (line 12): language, role, and
 * text; with category test when cat is set (the text is then on line 15). */
static const char *one(const char *lang, const char *to, int cat, const char *text)
{
    char more[4096];
    snprintf(more, sizeof more, "  - language: %s\n    to: %s\n%s    text: \"%s\"\n", lang, to,
             cat ? "    categories: [test]\n" : "", text);
    return wpack(more);
}

/* The pack does not load, and some error starts with
 * "<dir>/warnings.yaml:<line>:<col>: " and contains msg. */
static void expect_error_at(const char *dir, int line, int col, const char *msg)
{
    fz_ruleset *rs = load(dir);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/warnings.yaml:%d:%d: ", dir, line, col);
    int found = 0;
    for (int i = 0; i < g_d.n; i++)
        if (strncmp(g_d.lines[i], prefix, strlen(prefix)) == 0 && strstr(g_d.lines[i], msg) &&
            !strstr(g_d.lines[i], "warning: "))
            found = 1;
    if (rs || !found) {
        dump();
        fz_ruleset_free(rs);
        fail_msg("expected the error '%s...%s'%s", prefix, msg, rs ? " (the pack loaded)" : "");
    }
    assert_true(g_d.errors > 0);
}

/* The template on line 12 (text on line 15: category test) is refused. */
static void refuse(const char *lang, const char *text, const char *msg)
{
    expect_error_at(one(lang, "resident", 1, text), 15, 11, msg);
}

/* The pack loads with no diagnostic at all about warnings.yaml. */
static fz_ruleset *expect_clean(const char *dir)
{
    fz_ruleset *rs = load(dir);
    if (!rs || about_warnings()) {
        dump();
        fz_ruleset_free(rs);
        fail_msg("expected %s to load with no diagnostic about warnings.yaml", dir);
    }
    return rs;
}

static void accept(const char *lang, const char *text)
{
    fz_ruleset_free(expect_clean(one(lang, "resident", 1, text)));
}

/* The pack loads, with a warning (not an error) at line:col containing msg. */
static fz_ruleset *expect_warning_at(const char *dir, int line, int col, const char *msg)
{
    fz_ruleset *rs = load(dir);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/warnings.yaml:%d:%d: warning: ", dir, line, col);
    int found = 0;
    for (int i = 0; i < g_d.n; i++)
        if (strncmp(g_d.lines[i], prefix, strlen(prefix)) == 0 && strstr(g_d.lines[i], msg))
            found = 1;
    if (!rs || !found) {
        dump();
        fz_ruleset_free(rs);
        fail_msg("expected the warning '%s...%s'", prefix, msg);
    }
    return rs;
}

/* --- the real pack --------------------------------------------------------------------- */

static fz_ruleset *g_real;

static int real_setup(void **state)
{
    (void)state;
    g_real = load(tu_path("rules"));
    return g_real ? 0 : -1;
}

static int real_teardown(void **state)
{
    (void)state;
    fz_ruleset_free(g_real);
    g_real = NULL;
    return 0;
}

static void real_pack_has_clean_warnings(void **state)
{
    (void)state;
    fz_ruleset *rs = load(tu_path("rules"));
    if (!rs || about_warnings()) {
        dump();
        fz_ruleset_free(rs);
        fail_msg("rules/warnings.yaml: expected no diagnostics");
    }
    assert_true(rs->warnings.present);
    assert_true(rs->warnings.n_templates >= 4);
    fz_ruleset_free(rs);
}

/* Every category of the pack, and "reported", has its own name in both
 * languages: no warning falls back to the bare word "scam". */
static void real_pack_names_every_category(void **state)
{
    (void)state;
    const fz_warnings *w = &g_real->warnings;
    for (int l = 0; l < FZ_LANG_COUNT; l++)
        for (size_t i = 0; i <= g_real->n_categories; i++) {
            const char *id = i < g_real->n_categories ? g_real->categories[i].id : "reported";
            int found = 0;
            for (size_t k = 0; k < w->n_kinds[l]; k++)
                found |= strcmp(w->kinds[l][k].category, id) == 0;
            if (!found)
                fail_msg("kinds.%s has no name for '%s'", l == FZ_LANG_ZH ? "zh" : "en", id);
        }
}

static char g_out[1024];

static const char *render(int lang, int role, const char *category, const char *name, const char *resident)
{
    int rc = fz_warning_render(g_real, lang, role, category, name, resident, g_out, sizeof g_out);
    if (rc)
        fail_msg("render %d/%d/%s: %d", lang, role, category ? category : "(null)", rc);
    return g_out;
}

static void assert_contains(const char *s, const char *part)
{
    if (!strstr(s, part))
        fail_msg("'%s' does not contain '%s'", s, part);
}

static void assert_lacks(const char *s, const char *part)
{
    if (strstr(s, part))
        fail_msg("'%s' contains '%s'", s, part);
}

/* Every rendered warning in the real pack: placeholders filled, the
 * hotline named. */
static void assert_rendered(const char *s)
{
    assert_lacks(s, "{");
    assert_lacks(s, "}");
    assert_contains(s, "96110");
}

static void render_zh_resident(void **state)
{
    (void)state;
    const char *s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, "impersonate_authority", "王阿姨", NULL);
    assert_rendered(s);
    assert_true(strncmp(s, "王阿姨，", strlen("王阿姨，")) == 0);
    assert_contains(s, "冒充公检法");
    assert_contains(s, "安全账户");     /* the authority template, not the default */
    s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, "task_rebate", "王阿姨", NULL);
    assert_rendered(s);
    assert_contains(s, "刷单返利");
    assert_contains(s, "不要转账");
}

static void render_en_resident(void **state)
{
    (void)state;
    const char *s = render(FZ_LANG_EN, FZ_ROLE_RESIDENT, "fake_investment", "Alice", NULL);
    assert_rendered(s);
    assert_true(strncmp(s, "Alice, ", 7) == 0);
    assert_contains(s, "fake investment");
    assert_contains(s, "sure profits");
}

/* A category without its own template gets the default of its language and
 * role, with its own kind; an unknown or absent category the default kind. */
static void category_falls_back_to_default(void **state)
{
    (void)state;
    char dflt[1024];
    snprintf(dflt, sizeof dflt, "%s", render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, "prize", "王阿姨", NULL));
    assert_rendered(dflt);
    assert_contains(dflt, "虚假中奖");
    assert_lacks(dflt, "安全账户");
    const char *s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, "no_such_category", "王阿姨", NULL);
    assert_contains(s, "可能是诈骗。");
    s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, NULL, "王阿姨", NULL);
    assert_contains(s, "可能是诈骗。");
    s = render(FZ_LANG_EN, FZ_ROLE_RESIDENT, "prize", "Alice", NULL);
    assert_contains(s, "(fake prize)");
    s = render(FZ_LANG_EN, FZ_ROLE_GUARDIAN, NULL, "", "Bob");
    assert_contains(s, "(scam)");
}

static void reported_sender_has_its_own_words(void **state)
{
    (void)state;
    const char *s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, "reported", "王阿姨", NULL);
    assert_rendered(s);
    assert_contains(s, "举报");
    s = render(FZ_LANG_EN, FZ_ROLE_GUARDIAN, "reported", "", "Bob");
    assert_rendered(s);
    assert_contains(s, "reported");
    assert_contains(s, "Bob");
}

/* Guardians: {resident} is whom the scam reached; {name} is the guardian,
 * or names.<lang> when the registry has no name for them. */
static void guardian_names_the_resident(void **state)
{
    (void)state;
    const char *s = render(FZ_LANG_ZH, FZ_ROLE_GUARDIAN, "elderly_care", "", "李大爷");
    assert_rendered(s);
    assert_true(strncmp(s, "您好，", strlen("您好，")) == 0);
    assert_contains(s, "您的家人李大爷");
    assert_contains(s, "养老诈骗");
    s = render(FZ_LANG_EN, FZ_ROLE_GUARDIAN, "impersonate_authority", "Carol", "Bob");
    assert_rendered(s);
    assert_true(strncmp(s, "Carol, ", 7) == 0);
    assert_contains(s, "your family member Bob ");
    assert_contains(s, "fake police");
    /* no resident name: the sentence still reads, with no double space */
    s = render(FZ_LANG_EN, FZ_ROLE_GUARDIAN, NULL, NULL, NULL);
    assert_true(strncmp(s, "Hello, ", 7) == 0);
    assert_contains(s, "your family member got");
    assert_lacks(s, "  ");
    s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, NULL, NULL, NULL);
    assert_true(strncmp(s, "您好，", strlen("您好，")) == 0);
}

/* A name from the registry is reduced to letters (and spaces), at most 12:
 * no digits, links or punctuation reach the reader through it. */
static void registry_name_is_reduced_to_letters(void **state)
{
    (void)state;
    const char *s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, NULL, "王阿姨 95588，www.ab.cn!", NULL);
    assert_true(strncmp(s, "王阿姨 wwwabcn，", strlen("王阿姨 wwwabcn，")) == 0);
    assert_lacks(s, "95588");
    assert_lacks(s, "abc.cn");
    s = render(FZ_LANG_EN, FZ_ROLE_RESIDENT, NULL, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", NULL);
    assert_true(strncmp(s, "ABCDEFGHIJKL, ", 14) == 0);
    s = render(FZ_LANG_EN, FZ_ROLE_GUARDIAN, NULL, "  <b>Carol</b> ", "Bob (+86 138-0000-0000)");
    assert_true(strncmp(s, "bCarolb, ", 9) == 0);
    assert_contains(s, "member Bob got");
    /* a name of nothing but digits and punctuation: the anonymous address */
    s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, NULL, "13800000000.", NULL);
    assert_true(strncmp(s, "您好，", strlen("您好，")) == 0);
}

/* Chinese numerals are letters to Unicode, but a run of them is a number
 * to a reader (and to the normalizer): it cannot come in through a name. */
static void registry_name_cannot_spell_a_number(void **state)
{
    (void)state;
    const char *s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, NULL, "张伟九五五八八", NULL);
    assert_true(strncmp(s, "张伟，", strlen("张伟，")) == 0);
    s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, NULL, "张伟 九 五 五", NULL);
    assert_true(strncmp(s, "张伟，", strlen("张伟，")) == 0);
    s = render(FZ_LANG_ZH, FZ_ROLE_RESIDENT, NULL, "王二小", NULL);
    assert_true(strncmp(s, "王二小，", strlen("王二小，")) == 0);
}

static void unknown_language_or_role_is_an_error(void **state)
{
    (void)state;
    assert_int_equal(fz_lang_index("fr"), -1);
    assert_int_equal(fz_lang_index(NULL), -1);
    assert_int_equal(fz_lang_index("zh"), FZ_LANG_ZH);
    assert_int_equal(fz_lang_index("en"), FZ_LANG_EN);
    strcpy(g_out, "unchanged");
    assert_int_equal(fz_warning_render(g_real, fz_lang_index("fr"), FZ_ROLE_RESIDENT, NULL, "A", NULL, g_out,
                                       sizeof g_out),
                     FZ_ENOENT);
    assert_int_equal(fz_warning_render(g_real, FZ_LANG_COUNT, FZ_ROLE_RESIDENT, NULL, "A", NULL, g_out, sizeof g_out),
                     FZ_ENOENT);
    assert_int_equal(fz_warning_render(g_real, FZ_LANG_ZH, FZ_ROLE_COUNT, NULL, "A", NULL, g_out, sizeof g_out),
                     FZ_ENOENT);
}

static size_t characters(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Every warning the real pack can send, for every category, "reported" and
 * none, in both languages and roles, with long real-world names (four
 * Chinese characters, twelve letters), fits one SMS and names the hotline. */
static void every_warning_fits_one_sms(void **state)
{
    (void)state;
    for (int l = 0; l < FZ_LANG_COUNT; l++)
        for (int r = 0; r < FZ_ROLE_COUNT; r++)
            for (size_t i = 0; i <= g_real->n_categories + 1; i++) {
                const char *cat = i < g_real->n_categories ? g_real->categories[i].id
                                  : i == g_real->n_categories ? "reported" : NULL;
                const char *name = l == FZ_LANG_ZH ? "欧阳建国" : "Christophers";
                const char *res = l == FZ_LANG_ZH ? "司马光明" : "Maximilianus";
                const char *s = render(l, r, cat, name, res);
                assert_rendered(s);
                size_t n = characters(s), one = l == FZ_LANG_ZH ? 70 : 160;
                if (n > one)
                    fail_msg("%zu characters (one SMS: %zu): %s", n, one, s);
                assert_true(strncmp(s, name, strlen(name)) == 0);
                if (r == FZ_ROLE_GUARDIAN)
                    assert_contains(s, res);
            }
}

/* A buffer too small is an error, never a warning cut off mid-sentence. */
static void small_buffer_is_an_error_not_a_truncation(void **state)
{
    (void)state;
    char full[1024], small[64];
    assert_int_equal(
        fz_warning_render(g_real, FZ_LANG_ZH, FZ_ROLE_RESIDENT, "prize", "王阿姨", NULL, full, sizeof full), 0);
    size_t n = strlen(full);
    for (size_t cap = 2; cap <= n && cap <= sizeof small; cap++)
        assert_int_equal(fz_warning_render(g_real, FZ_LANG_ZH, FZ_ROLE_RESIDENT, "prize", "王阿姨", NULL, small, cap),
                         FZ_ETOOBIG);
    char exact[1024];
    assert_int_equal(
        fz_warning_render(g_real, FZ_LANG_ZH, FZ_ROLE_RESIDENT, "prize", "王阿姨", NULL, exact, n + 1), 0);
    assert_string_equal(exact, full);
    assert_int_equal(
        fz_warning_render(g_real, FZ_LANG_ZH, FZ_ROLE_RESIDENT, "prize", "王阿姨", NULL, exact, n), FZ_ETOOBIG);
}

/* A template that ends in a placeholder: a value that does not fit is an
 * error too, not a warning cut short (or cut inside a character). */
static void placeholder_cut_short_is_an_error(void **state)
{
    (void)state;
    fz_ruleset *rs = expect_clean(one("zh", "resident", 1, "{name}，可打96110，这是{kind}"));
    char full[256], cut[256];
    assert_int_equal(fz_warning_render(rs, FZ_LANG_ZH, FZ_ROLE_RESIDENT, "test", "王阿姨", NULL, full, sizeof full), 0);
    size_t n = strlen(full);
    assert_true(n > strlen("测试诈骗") && strcmp(full + n - strlen("测试诈骗"), "测试诈骗") == 0);
    for (size_t cap = n - strlen("测试诈骗"); cap <= n; cap++) {
        strcpy(cut, "unchanged");
        assert_int_equal(fz_warning_render(rs, FZ_LANG_ZH, FZ_ROLE_RESIDENT, "test", "王阿姨", NULL, cut, cap),
                         FZ_ETOOBIG);
        assert_string_equal(cut, "");
    }
    assert_int_equal(fz_warning_render(rs, FZ_LANG_ZH, FZ_ROLE_RESIDENT, "test", "王阿姨", NULL, cut, n + 1), 0);
    assert_string_equal(cut, full);
    fz_ruleset_free(rs);
}

/* --- the checker: what it refuses ------------------------------------------------------- */

static void refuses_url(void **state)
{
    (void)state;
    refuse("zh", "{name}，这是{kind}，详情见https://fz-help.cn/a，可打96110。", "contains a link or a domain: https://");
    refuse("en", "{name}, a {kind}. See http://help.example/x or call 96110.", "contains a link or a domain: http://");
    refuse("en", "{name}, a {kind}. See www.help and call 96110.", "contains a link or a domain: www.");
}

static void refuses_bare_domain(void **state)
{
    (void)state;
    refuse("zh", "{name}，这是{kind}，请上abc.cn核实，可打96110。", "contains a link or a domain: abc.cn");
    refuse("en", "{name}, a {kind}. Check Fanzha-Help.COM or call 96110.", "contains a link or a domain: Fanzha-Help.COM");
    /* full-width letters and dot fold to a domain */
    refuse("zh", "{name}，这是{kind}，请上ａｂｃ．ｃｎ核实，可打96110。", "contains a link or a domain: abc.cn");
}

static void refuses_domain_with_chinese_label(void **state)
{
    (void)state;
    refuse("zh", "{name}，这是{kind}，网址：反诈中心.cn，可打96110。", "contains a link or a domain: 反诈中心.cn");
}

static void refuses_callback_number(void **state)
{
    (void)state;
    refuse("zh", "{name}，这是{kind}，请致电95588或96110核实。", "names a number other than 96110 or 110: 95588");
    refuse("zh", "{name}，这是{kind}，可打400-123-4567或96110。", "names a number other than 96110 or 110: 4001234567");
    refuse("en", "{name}, a {kind}. Call 400 123 4567 or 96110.", "names a number other than 96110 or 110: 4001234567");
    refuse("zh", "{name}，这是{kind}，可打010-96110。", "names a number other than 96110 or 110: 01096110");
}

/* Full-width digits and a spelled-out run are numbers too (the checker
 * reads the normalized text, as the scam rules do). */
static void refuses_number_after_normalization(void **state)
{
    (void)state;
    refuse("zh", "{name}，这是{kind}，请致电９５５８８核实，可打96110。", "names a number other than 96110 or 110: 95588");
    refuse("zh", "{name}，这是{kind}，请致电九五五八八核实，可打96110。", "names a number other than 96110 or 110: 95588");
    refuse("zh", "{name}，这是{kind}，请致电⑨⑤⑤⑧⑧核实，可打96110。", "names a number other than 96110 or 110: 95588");
}

/* Digits split by dots or slashes into short groups still form a number. */
static void refuses_number_split_into_groups(void **state)
{
    (void)state;
    refuse("zh", "{name}，这是{kind}，请致电95.58.8核实，可打96110。", "names a number other than 96110 or 110: 95588");
    refuse("en", "{name}, a {kind}. Call 95/58/8 or 96110.", "names a number other than 96110 or 110: 95588");
    refuse("en", "{name}, a {kind}. Call (40) 01-23 or 96110.", "names a number other than 96110 or 110: 400123");
}

static void refuses_instructions_to_act(void **state)
{
    (void)state;
    const char *msg = "asks the reader to act on it (only as a prohibition, like 不要回复, may a warning say): ";
    char want[256];
    snprintf(want, sizeof want, "%s回复", msg);
    refuse("zh", "{name}，这是{kind}，回复1退订，可打96110。", want);
    snprintf(want, sizeof want, "%s点击", msg);
    refuse("zh", "{name}，这是{kind}，请点击查看，可打96110。", want);
    snprintf(want, sizeof want, "%s扫码", msg);
    refuse("zh", "{name}，这是{kind}，扫码核实，可打96110。", want);
    snprintf(want, sizeof want, "%sreply", msg);
    refuse("en", "{name}, this is a {kind}. Reply YES to stop. Call 96110.", want);
    snprintf(want, sizeof want, "%sclick", msg);
    refuse("en", "{name}, this is a {kind}. Click to check. Call 96110.", want);
    snprintf(want, sizeof want, "%scall back", msg);
    refuse("en", "{name}, this is a {kind}. Please call back today, or call 96110.", want);
}

/* A negation counts only in the same clause, right before the act: "not
 * sure? click", "别担心，点击", "不放心就回复" are instructions. */
static void negation_must_govern_the_act(void **state)
{
    (void)state;
    refuse("en", "{name}, a {kind}. Not sure? Click here. Call 96110.", "on it (only as a prohibition, like 不要回复, may a warning say): click");
    refuse("en", "{name}, a {kind}. Do not worry, reply YES. Call 96110.", "may a warning say): reply");
    refuse("en", "{name}, a {kind}. Another click helps. Call 96110.", "may a warning say): click");
    refuse("zh", "{name}，这是{kind}，别担心，点击查看，可打96110。", "may a warning say): 点击");
    refuse("zh", "{name}，这是{kind}，不放心就回复1，可打96110。", "may a warning say): 回复");
}

static void refuses_too_long(void **state)
{
    (void)state;
    char text[2048];
    /* 3 (王阿姨, the sample name) + 1 + 4 (测试诈骗, the longest kind) + 9 + 140 + 3 = 160 characters */
    snprintf(text, sizeof text, "{name}，{kind}，可打96110。");
    for (int i = 0; i < 35; i++)
        strcat(text, "不要转账");
    strcat(text, "谢谢。");
    refuse("zh", text, "is too long for an elderly reader: ");
    strcpy(text, "{name}, a {kind}. Call 96110.");
    for (int i = 0; i < 30; i++)
        strcat(text, " Hang up now.");
    refuse("en", text, "is too long for an elderly reader: ");
}

/* One SMS is the aim: up to two draws a warning, not an error. */
static void two_sms_is_a_warning(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof text, "{name}，{kind}，可打96110。");
    for (int i = 0; i < 15; i++)
        strcat(text, "不要转账");
    fz_ruleset_free(expect_warning_at(one("zh", "resident", 1, text), 15, 11, "will arrive as two SMS: "));
}

/* The length is measured with the longest kind in characters, not bytes:
 * a 30-letter Latin kind is longer to read than a 12-character Chinese one. */
static void length_uses_the_longest_kind_in_characters(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml", k_policy, "zh/t.yaml", k_category, "warnings.yaml",
                              "names: {zh: 您好, en: Hello}\n"
                              "kinds:\n"
                              "  zh: {default: 诈骗诈骗诈骗诈骗诈骗诈骗, test: ABCDEFGHIJKLMNOPQRSTUVWXYZABCD}\n"
                              "  en: {default: scam}\n"
                              "templates:\n"
                              "  - language: zh\n" /* 6 */
                              "    to: resident\n"
                              "    text: \"{name}，这是{kind}。不要转账，不要理会，先和家人商量。拿不准打96110，被骗了打110。\"\n"
                              "  - {language: zh, to: guardian, text: \"{name}，{resident}收到{kind}，可打96110。\"}\n"
                              "  - {language: en, to: resident, text: \"{name}, a {kind}. Call 96110.\"}\n"
                              "  - {language: en, to: guardian, text: \"{name}, {resident} got a {kind}. Call 96110.\"}\n",
                              NULL);
    fz_ruleset_free(expect_warning_at(dir, 8, 11, "will arrive as two SMS: 72 characters, one SMS holds 70"));
}

static void refuses_missing_default(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml", k_policy, "zh/t.yaml", k_category, "warnings.yaml",
                              "names: {zh: 您好, en: Hello}\n"
                              "kinds: {zh: {test: 测试诈骗}, en: {test: test scam}}\n"
                              "templates:\n"
                              "  - {language: zh, to: resident, text: \"{name}，{kind}，可打96110。\"}\n"
                              "  - {language: zh, to: guardian, text: \"{name}，{resident}收到{kind}，可打96110。\"}\n"
                              "  - {language: en, to: resident, text: \"{name}, a {kind}. Call 96110.\"}\n"
                              "  - language: en\n"
                              "    to: guardian\n"
                              "    categories: [test]\n"
                              "    text: \"{name}, {resident} got a {kind}. Call 96110.\"\n",
                              NULL);
    expect_error_at(dir, 1, 1, "warnings.yaml needs a default guardian template in en (one without 'categories')");
}

static void refuses_unknown_category(void **state)
{
    (void)state;
    expect_error_at(wpack("  - language: zh\n"
                          "    to: resident\n"
                          "    categories: [test, impersonate_polise]\n"
                          "    text: \"{name}，这是{kind}，可打96110。\"\n"),
                    15, 11, "resident template (zh): unknown category: impersonate_polise");
}

static void refuses_unknown_placeholder(void **state)
{
    (void)state;
    refuse("zh", "{name}，这是{kind}，{link}，可打96110。",
           "unknown placeholder (use {name}, {kind}, and for guardians {resident}): {link}");
    /* {resident} is for guardians only */
    expect_error_at(one("zh", "resident", 0, "{resident}，这是{kind}，可打96110。"), 14, 11,
                    "unknown placeholder (use {name}, {kind}, and for guardians {resident}): {resident}");
}

static void refuses_bad_language_or_role(void **state)
{
    (void)state;
    expect_error_at(wpack("  - language: fr\n" /* 12: the value at column 15 */
                          "    to: resident\n"
                          "    text: \"{name}, {kind}. 96110.\"\n"),
                    12, 15, "language must be zh or en, not 'fr'");
    expect_error_at(wpack("  - language: zh\n"
                          "    to: family\n" /* 13: the value at column 9 */
                          "    text: \"{name}，{kind}，可打96110。\"\n"),
                    13, 9, "to must be resident or guardian, not 'family'");
}

/* --- the checker: what it lets through -------------------------------------------------- */

static void accepts_advice(void **state)
{
    (void)state;
    accept("zh", "{name}，这是{kind}，不要回复，不要点击，请拨打96110。");
    accept("zh", "{name}，这是{kind}，请勿回拨、勿扫码，被骗请打110。");
    accept("zh", "{name}，这是{kind}，不要回复或点击，拨打96110，被骗了打110。");
    accept("en", "{name}, this is a {kind}. Do not click, do not reply. Call 96110.");
    accept("en", "{name}, this is a {kind}. Don't reply or click anything. Call 110.");
    accept("en", "{name}, this is a {kind}. Never scan codes. Call 96110 or 110.");
    accept("en", "{name}, this is a {kind}. Call 96110/110.");
    accept("en", "{name}, this is a {kind}. Call 96110 (24 hours) or 110.");
    accept("zh", "{name}，这是{kind}，请勿转账，拨打96110，被骗请拨110。");
}

/* Without 96110 or 110 a template is allowed, with a warning. */
static void missing_hotline_is_a_warning(void **state)
{
    (void)state;
    fz_ruleset_free(expect_warning_at(one("zh", "resident", 1, "{name}，这是{kind}，不要转账。"), 15, 11,
                                      "does not tell the reader to call 96110 or 110"));
}

/* A template that can never be chosen (a second default, or a category an
 * earlier template already takes) is pointed out. */
static void unreachable_template_is_a_warning(void **state)
{
    (void)state;
    fz_ruleset_free(expect_warning_at(one("zh", "resident", 0, "{name}，又一个{kind}，可打96110。"), 14, 11,
                                      "never used: the default resident template (zh) on line 8 comes first"));
    fz_ruleset_free(expect_warning_at(wpack("  - {language: en, to: resident, categories: [test], text: \"{name}, a {kind}. "
                                            "Call 96110.\"}\n" /* 12 */
                                            "  - language: en\n"
                                            "    to: resident\n"
                                            "    categories: [test]\n"
                                            "    text: \"{name}, the {kind}. Call 110.\"\n"),
                                      16, 11, "never used for 'test': the resident template (en) on line 12 comes first"));
}

/* A category with no name in kinds is pointed out (its warnings would say
 * only "scam"). */
static void category_without_a_kind_is_a_warning(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml", k_policy, "zh/t.yaml", k_category, "warnings.yaml",
                              "names: {zh: 您好, en: Hello}\n"
                              "kinds: {zh: {test: 测试诈骗, reported: 诈骗号码}, en: {reported: reported scammer}}\n"
                              "templates:\n"
                              "  - {language: zh, to: resident, text: \"{name}，{kind}，可打96110。\"}\n"
                              "  - {language: zh, to: guardian, text: \"{name}，{resident}收到{kind}，可打96110。\"}\n"
                              "  - {language: en, to: resident, text: \"{name}, a {kind}. Call 96110.\"}\n"
                              "  - {language: en, to: guardian, text: \"{name}, {resident} got a {kind}. Call 96110.\"}\n",
                              NULL);
    fz_ruleset_free(expect_warning_at(dir, 1, 1, "kinds.en has no name for category 'test'"));
}

int main(void)
{
    const struct CMUnitTest real[] = {
        cmocka_unit_test(real_pack_has_clean_warnings),
        cmocka_unit_test(real_pack_names_every_category),
        cmocka_unit_test(render_zh_resident),
        cmocka_unit_test(render_en_resident),
        cmocka_unit_test(category_falls_back_to_default),
        cmocka_unit_test(reported_sender_has_its_own_words),
        cmocka_unit_test(guardian_names_the_resident),
        cmocka_unit_test(registry_name_is_reduced_to_letters),
        cmocka_unit_test(registry_name_cannot_spell_a_number),
        cmocka_unit_test(every_warning_fits_one_sms),
        cmocka_unit_test(unknown_language_or_role_is_an_error),
        cmocka_unit_test(small_buffer_is_an_error_not_a_truncation),
    };
    const struct CMUnitTest checker[] = {
        cmocka_unit_test(placeholder_cut_short_is_an_error),
        cmocka_unit_test(refuses_url),
        cmocka_unit_test(refuses_bare_domain),
        cmocka_unit_test(refuses_domain_with_chinese_label),
        cmocka_unit_test(refuses_callback_number),
        cmocka_unit_test(refuses_number_after_normalization),
        cmocka_unit_test(refuses_number_split_into_groups),
        cmocka_unit_test(refuses_instructions_to_act),
        cmocka_unit_test(negation_must_govern_the_act),
        cmocka_unit_test(refuses_too_long),
        cmocka_unit_test(two_sms_is_a_warning),
        cmocka_unit_test(length_uses_the_longest_kind_in_characters),
        cmocka_unit_test(refuses_missing_default),
        cmocka_unit_test(refuses_unknown_category),
        cmocka_unit_test(refuses_unknown_placeholder),
        cmocka_unit_test(refuses_bad_language_or_role),
        cmocka_unit_test(accepts_advice),
        cmocka_unit_test(missing_hotline_is_a_warning),
        cmocka_unit_test(unreachable_template_is_a_warning),
        cmocka_unit_test(category_without_a_kind_is_a_warning),
    };
    int failed = cmocka_run_group_tests_name("warnings: the real pack", real, real_setup, real_teardown);
    failed += cmocka_run_group_tests_name("warnings: the checker", checker, NULL, NULL);
    tu_cleanup();
    return failed;
}
