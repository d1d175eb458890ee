/* test_normalize.c — the normalizer: each obfuscation it undoes, the fast
 * path, and the map back to original offsets. */
#include <string.h>

#include "testutil.h"

static fz_norm *g_norm;

static const char *norm(const char *in)
{
    static char out[4096];
    assert_int_equal(fz_normalize(g_norm, in, strlen(in)), 0);
    size_t n;
    const char *t = fz_norm_text(g_norm, &n);
    assert_true(n < sizeof out);
    memcpy(out, t, n);
    out[n] = '\0';
    return out;
}

static void separators_between_han(void **state)
{
    (void)state;
    assert_string_equal(norm("银|行"), "银行");
    assert_string_equal(norm("身/份/证"), "身份证");
    assert_string_equal(norm("现*金"), "现金");
    assert_string_equal(norm("安★全☆诚★信"), "安全诚信");
    assert_string_equal(norm("尊 敬 的 用 户"), "尊敬的用户");
    /* Not between two Han characters: kept. */
    assert_string_equal(norm("转账 5000 元"), "转账 5000 元");
    assert_string_equal(norm("a|b"), "a|b");
}

static void fast_path_leaves_plain_text(void **state)
{
    (void)state;
    const char *plain = "【中国银行】您好，APP已更新。";
    assert_int_equal(fz_normalize(g_norm, plain, strlen(plain)), 0);
    assert_true(fz_norm_unchanged(g_norm));
    size_t n;
    assert_ptr_equal(fz_norm_text(g_norm, &n), plain);
}

static int setup(void **state)
{
    (void)state;
    g_norm = fz_norm_new();
    return g_norm ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fz_norm_free(g_norm);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(separators_between_han),
        cmocka_unit_test(fast_path_leaves_plain_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
