/* fuzz_scan.c — libFuzzer target for scoring a message end to end:
 * normalizer, Hyperscan and PCRE2 matching, entity extraction, number
 * classes, combinations, score and the verdict's JSON form, with the
 * embedded rule pack (built once, before the first input).
 *
 * Each input is scored twice over: as a bare text (fz_engine_scan_text) and,
 * when it reads as a JSON record, as a message with sender and unknown fields
 * (fz_engine_scan); then the bare text once more. Checks: the verdict is
 * one line, valid UTF-8 and strict JSON (RFC 8259, whatever cJSON let
 * through on the way in); every evidence span lies inside the text; the
 * score is finite; the same text gets the same verdict after the worker has
 * scored another message in between. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanzha/engine.h"
#include "fanzha/message.h"
#include "fanzha/verdict.h"
#include "fuzzutil.h"

static fz_engine *g_engine;
static fz_worker *g_worker;
static fz_verdict *g_verdict;
static fz_reader *g_reader;
static fz_buf g_first = FZ_BUF_INIT, g_out = FZ_BUF_INIT;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    unsetenv("FANZHA_RULES");   /* the embedded pack, whatever the caller's environment */
    fz_engine_config cfg = {0};
    fz_error err = {0};
    if (fz_engine_new(&cfg, &g_engine, &err) || fz_worker_new(&g_worker, &err)) {
        fprintf(stderr, "fuzz_scan: cannot build the engine: %s\n", err.message);
        abort();
    }
    g_verdict = fz_verdict_new();
    g_reader = fz_reader_new();
    if (!g_verdict || !g_reader)
        abort();
    return 0;
}

static void check_verdict(const fz_verdict *v, const fz_message *m, fz_buf *out)
{
    FU_CHECK(isfinite(fz_verdict_score(v)));
    size_t n = fz_verdict_hit_count(v);
    for (size_t i = 0; i < n; i++) {
        fz_hit h;
        FU_CHECK(fz_verdict_hit(v, i, &h) == 0);
        FU_CHECK(h.rule != NULL && h.category != NULL && isfinite(h.score));
        if (h.has_span)
            FU_CHECK(h.start <= h.end && h.end <= m->text.len);
    }
    fz_buf_clear(out);
    FU_CHECK(fz_verdict_write_json(v, m, out) == 0);
    FU_CHECK(out->len > 0 && out->data[out->len - 1] == '\n');
    FU_CHECK(memchr(out->data, '\n', out->len - 1) == NULL);     /* one line per verdict */
    FU_CHECK(fu_utf8_valid(out->data, out->len));
    FU_CHECK(fu_json_valid(out->data, out->len));
}

static void scan_text(const char *text, size_t len, fz_buf *out)
{
    fz_message m = {.text = {text, len}};
    FU_CHECK(fz_engine_scan_text(g_engine, g_worker, text, len, g_verdict) == 0);
    check_verdict(g_verdict, &m, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    scan_text(in, size, &g_first);

    fz_message m;
    fz_error err = {0};
    if (fz_reader_parse_json(g_reader, in, size, &m, &err) == 0) {
        FU_CHECK(fz_engine_scan(g_engine, g_worker, &m, g_verdict) == 0);
        check_verdict(g_verdict, &m, &g_out);
    }

    scan_text(in, size, &g_out);
    FU_CHECK(g_out.len == g_first.len && memcmp(g_out.data, g_first.data, g_out.len) == 0);
    return 0;
}
