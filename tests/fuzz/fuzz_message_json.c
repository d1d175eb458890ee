/* fuzz_message_json.c — libFuzzer target for the JSON record parser,
 * fz_reader_parse_json (fanzha/message.h): one input is one line.
 *
 * Besides crashes, it checks what the parser promises: a parsed record has a
 * non-empty text; every view stays inside memory ASan considers live (each
 * is read in full); unknown members, carried raw into the verdict, still
 * form a JSON object when wrapped in braces, and a raw id is one JSON value
 * (both judged by cJSON, the parser that accepted the line: that the
 * verdict writer makes them strict JSON is fuzz_scan's check); an error has
 * a message.
 * The same reader parses every input, as a worker's reader does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fanzha/message.h"
#include "fuzzutil.h"

static void touch_message(const fz_message *m)
{
    fu_touch(m->id_json.ptr, m->id_json.len);
    fu_touch(m->from.ptr, m->from.len);
    fu_touch(m->to.ptr, m->to.len);
    fu_touch(m->text.ptr, m->text.len);
    fu_touch(m->ts.ptr, m->ts.len);
    fu_touch(m->extra_json.ptr, m->extra_json.len);
}

/* One JSON value by cJSON's reading, nothing after it but whitespace. */
static int cjson_valid(const char *s, size_t n)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!v)
        return 0;
    cJSON_Delete(v);
    while (end < s + n && (unsigned char)*end <= ' ')
        end++;
    return end == s + n;
}

/* The verdict writes `{...,` extra `}`: it must stay JSON. */
static void check_extra(const fz_str *extra)
{
    if (!extra->len)
        return;
    size_t n = extra->len + 2;
    char *obj = malloc(n);
    FU_CHECK(obj != NULL);
    obj[0] = '{';
    memcpy(obj + 1, extra->ptr, extra->len);
    obj[n - 1] = '}';
    FU_CHECK(cjson_valid(obj, n));
    free(obj);
}

static void check_id(const fz_str *id)
{
    if (id->len)
        FU_CHECK(cjson_valid(id->ptr, id->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz_reader *r;
    if (!r && !(r = fz_reader_new()))
        abort();
    fz_message m;
    fz_error err = {0};
    if (fz_reader_parse_json(r, (const char *)data, size, &m, &err) == 0) {
        FU_CHECK(m.text.len > 0);
        touch_message(&m);
        check_extra(&m.extra_json);
        check_id(&m.id_json);
    } else {
        FU_CHECK(err.code != 0 && err.message[0] != '\0');
    }
    return 0;
}
