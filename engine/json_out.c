/* json_out.c — JSON output primitives (see json_out.h).
 *
 * Strings are copied in runs: only quote, backslash, control characters and
 * bytes of invalid UTF-8 interrupt a run. Numbers with at most two decimals
 * (every score a rule pack writes) are formatted by hand, because snprintf
 * costs more than the rest of a verdict. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fanzha/error.h"
#include "json_out.h"
#include "utf8.h"

static const char k_hex[] = "0123456789abcdef";

/* 1 for ASCII bytes that go into a JSON string as they are. */
static const unsigned char k_plain[128] = {
    ['!'] = 1, [' '] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
    ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, [':'] = 1, [';'] = 1,
    ['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,
    ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1, [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['{'] = 1,
    ['|'] = 1, ['}'] = 1, ['~'] = 1, [0x7F] = 1,
};

int fz_json_str(fz_buf *o, const char *s, size_t n)
{
    /* Worst case: every byte becomes \u00XX (6) or U+FFFD (3). */
    if (fz_buf_reserve(o, n * 6 + 2))
        return FZ_ENOMEM;
    char *w = o->data + o->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    *w++ = '"';
    while (p < end) {
        /* A run of plain ASCII and well-formed 3-byte characters (Chinese)
         * is copied as it is. */
        const unsigned char *run = p;
        for (;;) {
            if (p < end && *p < 0x80 && k_plain[*p]) {
                p++;
            } else if (end - p >= 3 && (p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
                       (p[0] != 0xE0 || p[1] >= 0xA0) && (p[0] != 0xED || p[1] < 0xA0)) {
                p += 3;
            } else {
                break;
            }
        }
        if (p > run) {
            memcpy(w, run, (size_t)(p - run));
            w += p - run;
            continue;
        }
        unsigned char c = *p;
        if (c >= 0x80) {
            int len;
            uint32_t cp = fz_utf8_decode(p, end, &len);
            if (cp == 0xFFFD && !fz_utf8_is_real_fffd(p, len))
                w += fz_utf8_encode(0xFFFD, w);
            else
                memcpy(w, p, (size_t)len), w += len;
            p += len;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '\n': *w++ = 'n'; break;
        case '\r': *w++ = 'r'; break;
        case '\t': *w++ = 't'; break;
        default:
            *w++ = 'u'; *w++ = '0'; *w++ = '0';
            *w++ = k_hex[c >> 4]; *w++ = k_hex[c & 15];
        }
        p++;
    }
    *w++ = '"';
    o->len = (size_t)(w - o->data);
    o->data[o->len] = '\0';
    return 0;
}

int fz_json_uint(fz_buf *o, uint64_t x)
{
    char tmp[24];
    int i = 24;
    do {
        tmp[--i] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    return fz_buf_append(o, tmp + i, (size_t)(24 - i));
}

int fz_json_num(fz_buf *o, double x)
{
    if (!isfinite(x))
        return fz_buf_lit(o, "0");
    double cents = x * 100;
    double r = nearbyint(cents);
    if (fabs(cents - r) < 1e-6 && fabs(r) < 1e15) {
        long long c = (long long)r;
        int rc = 0;
        if (c < 0) {
            rc = fz_buf_lit(o, "-");
            c = -c;
        }
        rc = rc || fz_json_uint(o, (uint64_t)(c / 100));
        int frac = (int)(c % 100);
        if (!rc && frac) {
            char f[3] = {'.', (char)('0' + frac / 10), (char)('0' + frac % 10)};
            rc = fz_buf_append(o, f, frac % 10 ? 3 : 2);
        }
        return rc;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.10g", x);
    return fz_buf_append(o, tmp, (size_t)n);
}

int fz_json_raw(fz_buf *o, const char *s, size_t n)
{
    if (fz_buf_reserve(o, n * 3))
        return FZ_ENOMEM;
    char *w = o->data + o->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            *w++ = (char)*p++;
            continue;
        }
        int len;
        uint32_t cp = fz_utf8_decode(p, end, &len);
        if (cp == 0xFFFD && !fz_utf8_is_real_fffd(p, len))
            w += fz_utf8_encode(0xFFFD, w);
        else
            memcpy(w, p, (size_t)len), w += len;
        p += len;
    }
    o->len = (size_t)(w - o->data);
    o->data[o->len] = '\0';
    return 0;
}
