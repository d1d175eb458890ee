/* fuzz_normalize.c — libFuzzer target for the normalizer, fz_normalize
 * (fanzha/normalize.h), on arbitrary bytes as message text.
 *
 * Checks the guarantees of docs/RULES.md §3 that hold for any input: the
 * result is valid UTF-8 without NUL bytes; unchanged text is the input
 * itself; every normalized span maps back inside the original text, in
 * order; and normalizing the result again changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fanzha/normalize.h"
#include "fuzzutil.h"

static fz_norm *g_norm, *g_again;

/* Every normalized byte, and a few wider spans, map back into [0, size). */
static void check_spans(const fz_norm *n, size_t out_len, size_t size)
{
    size_t prev_start = 0;
    for (size_t i = 0; i < out_len; i++) {
        size_t os, oe;
        fz_norm_span(n, i, i + 1, &os, &oe);
        FU_CHECK(os <= oe && oe <= size);
        FU_CHECK(os >= prev_start);     /* output order follows input order */
        prev_start = os;
    }
    if (out_len) {
        size_t os, oe;
        fz_norm_span(n, 0, out_len, &os, &oe);
        FU_CHECK(os <= oe && oe <= size);
        (void)fz_norm_swapped_in(n, 0, out_len);
        (void)fz_norm_swapped_in(n, out_len / 2, out_len);
    }
}

/* Guarantee 8: normalizing normalized text changes nothing. */
static void check_idempotent(const char *text, size_t len)
{
    FU_CHECK(fz_normalize(g_again, text, len) == 0);
    size_t len2;
    const char *again = fz_norm_text(g_again, &len2);
    if (!fz_norm_unchanged(g_again))
        FU_CHECK(len2 == len && memcmp(again, text, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_norm && (!(g_norm = fz_norm_new()) || !(g_again = fz_norm_new())))
        abort();
    const char *in = (const char *)data;
    FU_CHECK(fz_normalize(g_norm, in, size) == 0);
    size_t len;
    const char *out = fz_norm_text(g_norm, &len);
    fu_touch(out, len);
    FU_CHECK(fu_utf8_valid(out, len));
    FU_CHECK(memchr(out, '\0', len) == NULL);
    if (fz_norm_unchanged(g_norm))
        FU_CHECK(out == in && len == size);
    check_spans(g_norm, len, size);
    check_idempotent(out, len);
    return 0;
}
