/* fuzz_report.c — libFuzzer target for the report record parser,
 * fz_report_parse (fanzha/store.h): one input is one line of
 * `fanzha report` or `scan --reports`.
 *
 * Checks: a parsed report has a non-empty number and NUL-terminated
 * strings that live in the caller's buffer; an error has a message. */
#include <stdint.h>
#include <string.h>

#include "fanzha/buf.h"
#include "fanzha/store.h"
#include "fuzzutil.h"

static fz_buf g_strings = FZ_BUF_INIT;

static void check_string(const char *s)
{
    FU_CHECK(s != NULL);
    FU_CHECK(s >= g_strings.data && s < g_strings.data + g_strings.len);
    fu_touch(s, strlen(s) + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_report r;
    fz_error err = {0};
    if (fz_report_parse((const char *)data, size, &r, &g_strings, &err) == 0) {
        check_string(r.number);
        check_string(r.reporter);
        check_string(r.kind);
        FU_CHECK(r.number[0] != '\0');
    } else {
        FU_CHECK(err.code != 0 && err.message[0] != '\0');
    }
    return 0;
}
