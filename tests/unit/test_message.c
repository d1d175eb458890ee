/* test_message.c — reading one record: JSON objects (known fields, unknown
 * fields carried raw, ids, every way a line can be wrong) and CSV records
 * (RFC 4180 quoting, the header, wrong field counts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static fz_reader *g_r;
static fz_message g_m;
static fz_error g_err;

static int parse_n(const char *line, size_t len)
{
    memset(&g_err, 0, sizeof g_err);
    return fz_reader_parse_json(g_r, line, len, &g_m, &g_err);
}

static int parse(const char *line)
{
    return parse_n(line, strlen(line));
}

static int parse_csv(const char *rec)
{
    memset(&g_err, 0, sizeof g_err);
    return fz_reader_parse_csv(g_r, rec, strlen(rec), &g_m, &g_err);
}

static void str_is(fz_str s, const char *expect)
{
    if (s.len != strlen(expect) || (s.len && memcmp(s.ptr, expect, s.len) != 0))
        fail_msg("got '%.*s' (%zu bytes), expected '%s'", (int)s.len, s.ptr ? s.ptr : "", s.len, expect);
}

static void err_is(const char *expect)
{
    if (strcmp(g_err.message, expect) != 0)
        fail_msg("error '%s', expected '%s'", g_err.message, expect);
}

/* --- JSON ------------------------------------------------------------------------------ */

static void known_fields(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":\"m-1\",\"from\":\"+8617012345678\",\"to\":\"13812345678\","
                           "\"text\":\"【公安局】您涉嫌洗钱\",\"ts\":\"2026-11-22T08:00:00+08:00\"}"), 0);
    str_is(g_m.id_json, "\"m-1\"");
    str_is(g_m.from, "+8617012345678");
    str_is(g_m.to, "13812345678");
    str_is(g_m.text, "【公安局】您涉嫌洗钱");
    str_is(g_m.ts, "2026-11-22T08:00:00+08:00");
    str_is(g_m.extra_json, "");
    /* Only text is required. */
    assert_int_equal(parse("{\"text\":\"hi\"}"), 0);
    str_is(g_m.id_json, "");
    str_is(g_m.from, "");
    str_is(g_m.text, "hi");
    /* Escapes are decoded. */
    assert_int_equal(parse("{\"text\":\"a\\\"b\\\\c\\n\\u4e2d\\ud83d\\ude00\"}"), 0);
    str_is(g_m.text, "a\"b\\c\n中😀");
}

static void id_as_number_or_string(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":17,\"text\":\"x\"}"), 0);
    str_is(g_m.id_json, "17");
    assert_int_equal(parse("{\"id\":\"17\",\"text\":\"x\"}"), 0);
    str_is(g_m.id_json, "\"17\"");
    assert_int_equal(parse("{\"id\":12345678901234567890,\"text\":\"x\"}"), 0);
    str_is(g_m.id_json, "12345678901234567890");
    assert_int_equal(parse("{\"text\":\"x\", \"id\" : \"a b\" }"), 0);
    str_is(g_m.id_json, "\"a b\"");
    /* Numbers for from/to are kept as written (no float rounding). */
    assert_int_equal(parse("{\"text\":\"x\",\"from\":13812345678}"), 0);
    str_is(g_m.from, "13812345678");
}

static void unknown_fields_carried_raw(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":1,\"text\":\"hi\",\"seq\":12345678901234567890,"
                           "\"meta\":{\"a\":[1,{\"b\":null}],\"s\":\"}\"},\"ok\":true}"), 0);
    str_is(g_m.extra_json, "\"seq\":12345678901234567890,\"meta\":{\"a\":[1,{\"b\":null}],\"s\":\"}\"},\"ok\":true");
    /* Through the verdict, untouched: the big integer stays exact. */
    fz_engine *e = tu_engine("tests/data/rules-unit");
    fz_verdict *v = fz_verdict_new();
    fz_worker *w;
    assert_int_equal(fz_worker_new(&w, NULL), 0);
    assert_int_equal(fz_engine_scan(e, w, &g_m, v), 0);
    fz_buf out = FZ_BUF_INIT;
    assert_int_equal(fz_verdict_write_json(v, &g_m, &out), 0);
    assert_non_null(strstr(out.data, "{\"id\":1,\"action\":\"allow\""));
    assert_non_null(strstr(out.data, ",\"seq\":12345678901234567890,\"meta\":{\"a\":[1,{\"b\":null}],\"s\":\"}\"},"
                                     "\"ok\":true}\n"));
    fz_buf_free(&out);
    fz_worker_free(w);
    fz_verdict_free(v);
    fz_engine_release(e);
    /* Whitespace inside a value is kept; around members it goes. */
    assert_int_equal(parse("{ \"text\" : \"x\" , \"k\" : [ 1 , 2 ] , \"n\" : -0.5e3 }"), 0);
    str_is(g_m.extra_json, "\"k\" : [ 1 , 2 ],\"n\" : -0.5e3");
}

static void many_members(void **state)
{
    (void)state;
    /* More members than the reader's fixed array of 64 spans (an earlier
     * version lost the id, dropped unknown fields and cut a text at \u0000
     * from the 65th member on). */
    char line[4096];
    size_t n = (size_t)snprintf(line, sizeof line, "{");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "\"k%d\":%d,", i, i);
    snprintf(line + n, sizeof line - n, "\"id\":\"late\",\"seq\":7,\"text\":\"a\\u0000b\"}");
    assert_int_equal(parse(line), 0);
    str_is(g_m.id_json, "\"late\"");
    str_is(g_m.text, "ab");
    assert_non_null(strstr(g_m.extra_json.ptr, "\"k69\":69,\"seq\":7"));
}

static void missing_text(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":1,\"from\":\"95588\"}"), FZ_EPARSE);
    err_is("missing field 'text'");
    assert_int_equal(g_err.code, FZ_EPARSE);
    assert_int_equal(parse("{}"), FZ_EPARSE);
    err_is("missing field 'text'");
}

static void empty_text(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"text\":\"\"}"), FZ_EPARSE);
    err_is("field 'text' is empty");
}

static void text_not_a_string(void **state)
{
    (void)state;
    const char *bad[] = {"{\"text\":5}", "{\"text\":null}", "{\"text\":[\"a\"]}", "{\"text\":{\"a\":1}}",
                         "{\"text\":true}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i]), FZ_EPARSE);
        err_is("field 'text' must be a string");
    }
    assert_int_equal(parse("{\"text\":\"x\",\"from\":true}"), FZ_EPARSE);
    err_is("field 'from' must be a string");
}

static void not_an_object(void **state)
{
    (void)state;
    assert_int_equal(parse("[1,2]"), FZ_EPARSE);
    err_is("a record must be a JSON object");
    assert_int_equal(parse("\"text\""), FZ_EPARSE);
    err_is("a record must be a JSON object");
}

static void invalid_json_with_byte_position(void **state)
{
    (void)state;
    /* byte:   0         1
     *         0123456789012 */
    assert_int_equal(parse("{\"text\":\"a\",}"), FZ_EPARSE);
    err_is("invalid JSON: unexpected '}' at byte 12");
    assert_int_equal(parse("{\"text\" \"a\"}"), FZ_EPARSE);
    err_is("invalid JSON: unexpected '\"' at byte 8");
    /* A line cut short: cJSON reports where the unfinished value starts. */
    assert_int_equal(parse("{\"text\":\"a\""), FZ_EPARSE);
    assert_int_equal(strncmp(g_err.message, "invalid JSON: ", 14), 0);
    assert_non_null(strstr(g_err.message, " at byte "));
    assert_int_equal(parse(""), FZ_EPARSE);
    err_is("invalid JSON: unexpected end of line at byte 0");
    assert_int_equal(parse("{\"text\":\xff}"), FZ_EPARSE);
    err_is("invalid JSON: unexpected byte 0xff at byte 8");
    assert_int_equal(parse("{\"text\":tru}"), FZ_EPARSE);
    err_is("invalid JSON: unexpected 't' at byte 8");
}

static void trailing_garbage_is_an_error(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"text\":\"a\"}{\"text\":\"b\"}"), FZ_EPARSE);
    assert_int_equal(parse("{\"text\":\"ok\"} x"), FZ_EPARSE);
}

static void utf8_bom_before_the_object(void **state)
{
    (void)state;
    assert_int_equal(parse("\xef\xbb\xbf{\"id\":1,\"text\":\"hi\",\"seq\":5}"), 0);
    str_is(g_m.text, "hi");
    str_is(g_m.id_json, "1");
    str_is(g_m.extra_json, "\"seq\":5");
}

static void surrounding_whitespace_is_fine(void **state)
{
    (void)state;
    assert_int_equal(parse("  {\"text\":\"ok\"}  \r"), 0);
    str_is(g_m.text, "ok");
}

static void nul_escape_inside_text(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"text\":\"a\\u0000b\\u0000c\"}"), 0);
    str_is(g_m.text, "abc");
    /* Only NUL: nothing is left, so the text is empty. */
    assert_int_equal(parse("{\"text\":\"\\u0000\"}"), FZ_EPARSE);
    err_is("field 'text' is empty");
    /* An escaped backslash followed by u0000 is not a NUL escape. */
    assert_int_equal(parse("{\"text\":\"a\\\\u0000b\"}"), 0);
    str_is(g_m.text, "a\\u0000b");
}

static void nul_escape_inside_other_fields(void **state)
{
    (void)state;
    /* cJSON strings end at a NUL: every field is decoded without \u0000,
     * so "95588\u0000123" can never pass for the allowlisted 95588. */
    assert_int_equal(parse("{\"text\":\"t\",\"from\":\"955\\u000088\"}"), 0);
    str_is(g_m.from, "95588");
    assert_int_equal(parse("{\"text\":\"t\",\"from\":\"95588\\u0000123\",\"to\":\"1\\u00002\"}"), 0);
    str_is(g_m.from, "95588123");
    str_is(g_m.to, "12");
}

static void raw_nul_bytes(void **state)
{
    (void)state;
    static const char line[] = "{\"te\0xt\":\"a\0b\",\0\"id\":1}";
    assert_int_equal(parse_n(line, sizeof line - 1), 0);
    str_is(g_m.text, "ab");
    str_is(g_m.id_json, "1");
    static const char only[] = "\0\0\0";
    assert_int_equal(parse_n(only, sizeof only - 1), FZ_EPARSE);
}

static void invalid_utf8_in_text_is_kept_for_the_normalizer(void **state)
{
    (void)state;
    /* cJSON does not validate UTF-8; the normalizer repairs it later. */
    assert_int_equal(parse("{\"text\":\"a\xff" "b\"}"), 0);
    str_is(g_m.text, "a\xff" "b");
}

static void deeply_nested_json_is_an_error(void **state)
{
    (void)state;
    const size_t n = 100000;
    char *line = malloc(n + 1);
    assert_non_null(line);
    memset(line, '[', n);
    line[n] = '\0';
    assert_int_equal(parse_n(line, n), FZ_EPARSE);
    assert_non_null(strstr(g_err.message, "invalid JSON"));
    memset(line, '{', n);
    assert_int_equal(parse_n(line, n), FZ_EPARSE);
    /* Nested inside an unknown field. */
    size_t k = (size_t)sprintf(line, "{\"text\":\"x\",\"deep\":");
    memset(line + k, '[', 50000);
    line[k + 50000] = '\0';
    assert_int_equal(parse(line), FZ_EPARSE);
    free(line);
    /* A reasonable depth is fine. */
    char ok[256];
    size_t m = (size_t)sprintf(ok, "{\"text\":\"x\",\"d\":");
    for (int i = 0; i < 50; i++) ok[m++] = '[';
    for (int i = 0; i < 50; i++) ok[m++] = ']';
    ok[m++] = '}';
    ok[m] = '\0';
    assert_int_equal(parse(ok), 0);
}

static void reader_reuse_does_not_leak_fields(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":1,\"text\":\"a\",\"from\":\"95588\",\"x\":1}"), 0);
    assert_int_equal(parse("{\"text\":\"b\"}"), 0);
    str_is(g_m.id_json, "");
    str_is(g_m.from, "");
    str_is(g_m.extra_json, "");
    str_is(g_m.text, "b");
}

/* --- CSV --------------------------------------------------------------------------------- */

static void csv_plain_record(void **state)
{
    (void)state;
    assert_int_equal(parse_csv("m1,95588,13812345678,您好"), 0);
    str_is(g_m.id_json, "\"m1\"");
    str_is(g_m.from, "95588");
    str_is(g_m.to, "13812345678");
    str_is(g_m.text, "您好");
    /* Empty optional fields. */
    assert_int_equal(parse_csv(",,,x"), 0);
    str_is(g_m.id_json, "");
    str_is(g_m.from, "");
    str_is(g_m.text, "x");
    /* CRLF line ending. */
    assert_int_equal(parse_csv("m6,1,2,text\r\n"), 0);
    str_is(g_m.text, "text");
}

static void csv_quoting(void **state)
{
    (void)state;
    assert_int_equal(parse_csv("m2,1,2,\"a, b \"\"q\"\" c\""), 0);
    str_is(g_m.text, "a, b \"q\" c");
    assert_int_equal(parse_csv("m3,1,2,\"line1\nline2, and more\""), 0);
    str_is(g_m.text, "line1\nline2, and more");
    assert_int_equal(parse_csv("\"m,8\",\"+86 138\",2,t"), 0);
    str_is(g_m.id_json, "\"m,8\"");
    str_is(g_m.from, "+86 138");
    /* An id with a quote becomes a valid JSON string. */
    assert_int_equal(parse_csv("\"a\"\"b\",1,2,t"), 0);
    str_is(g_m.id_json, "\"a\\\"b\"");
    assert_int_equal(parse_csv("m,1,2,\"\""), FZ_EPARSE);
    err_is("field 'text' is empty");
}

static void csv_header_detection(void **state)
{
    (void)state;
    assert_true(fz_csv_is_header("id,from,to,text", 15));
    assert_true(fz_csv_is_header("id,from,to,text\r\n", 17));
    assert_true(fz_csv_is_header("ID,From,To,Text", 15));
    assert_false(fz_csv_is_header("id,from,to,text,extra", 21));
    assert_false(fz_csv_is_header("m1,1,2,id", 9));
    assert_false(fz_csv_is_header(" id,from,to,text", 16));
    assert_false(fz_csv_is_header("", 0));
}

static void csv_header_after_utf8_bom(void **state)
{
    (void)state;
    assert_true(fz_csv_is_header("\xef\xbb\xbfid,from,to,text", 18));
}

static void csv_wrong_field_count(void **state)
{
    (void)state;
    assert_int_equal(parse_csv("a,b,c"), FZ_EPARSE);
    err_is("invalid CSV: expected 4 fields (id,from,to,text), got 3");
    assert_int_equal(parse_csv("a,b,c,d,e"), FZ_EPARSE);
    err_is("invalid CSV: expected 4 fields (id,from,to,text), got 5");
    assert_int_equal(parse_csv("just text"), FZ_EPARSE);
    err_is("invalid CSV: expected 4 fields (id,from,to,text), got 1");
    /* A comma inside quotes does not count. */
    assert_int_equal(parse_csv("a,b,c,\"d,e\""), 0);
    str_is(g_m.text, "d,e");
}

static void csv_unterminated_quote(void **state)
{
    (void)state;
    assert_int_equal(parse_csv("m4,1,2,\"unterminated"), FZ_EPARSE);
    err_is("invalid CSV: unterminated quoted field");
    assert_int_equal(parse_csv("m4,1,2,\"a\"\""), FZ_EPARSE);
    err_is("invalid CSV: unterminated quoted field");
}

static void csv_raw_nul_bytes(void **state)
{
    (void)state;
    static const char rec[] = "m\0" "1,1,2,a\0b";
    memset(&g_err, 0, sizeof g_err);
    assert_int_equal(fz_reader_parse_csv(g_r, rec, sizeof rec - 1, &g_m, &g_err), 0);
    str_is(g_m.id_json, "\"m1\"");
    str_is(g_m.text, "ab");
}

static int setup(void **state)
{
    (void)state;
    g_r = fz_reader_new();
    return g_r ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fz_reader_free(g_r);
    tu_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_fields),
        cmocka_unit_test(id_as_number_or_string),
        cmocka_unit_test(unknown_fields_carried_raw),
        cmocka_unit_test(many_members),
        cmocka_unit_test(missing_text),
        cmocka_unit_test(empty_text),
        cmocka_unit_test(text_not_a_string),
        cmocka_unit_test(not_an_object),
        cmocka_unit_test(invalid_json_with_byte_position),
        cmocka_unit_test(trailing_garbage_is_an_error),
        cmocka_unit_test(utf8_bom_before_the_object),
        cmocka_unit_test(surrounding_whitespace_is_fine),
        cmocka_unit_test(nul_escape_inside_text),
        cmocka_unit_test(nul_escape_inside_other_fields),
        cmocka_unit_test(raw_nul_bytes),
        cmocka_unit_test(invalid_utf8_in_text_is_kept_for_the_normalizer),
        cmocka_unit_test(deeply_nested_json_is_an_error),
        cmocka_unit_test(reader_reuse_does_not_leak_fields),
        cmocka_unit_test(csv_plain_record),
        cmocka_unit_test(csv_quoting),
        cmocka_unit_test(csv_header_detection),
        cmocka_unit_test(csv_header_after_utf8_bom),
        cmocka_unit_test(csv_wrong_field_count),
        cmocka_unit_test(csv_unterminated_quote),
        cmocka_unit_test(csv_raw_nul_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
