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

/* Copy the UTF-8 character at p to *w, invalid bytes as U+FFFD; returns
 * the byte after it. */
static const unsigned char *copy_utf8(const unsigned char *p, const unsigned char *end, char **w)
{
    int len;
    uint32_t cp = fz_utf8_decode(p, end, &len);
    if (cp == 0xFFFD && !fz_utf8_is_real_fffd(p, len)) {
        *w += fz_utf8_encode(0xFFFD, *w);
    } else {
        memcpy(*w, p, (size_t)len);
        *w += len;
    }
    return p + len;
}

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
            p = copy_utf8(p, end, &w);
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

/* Raw JSON is what cJSON accepted, and cJSON is lenient where RFC 8259 is
 * not: it takes any byte up to 0x20 as whitespace, raw control characters
 * inside strings, and numbers such as 01, 1. and -.5. Copied as they were
 * (fuzzing found each), they made verdict lines that strict parsers reject,
 * or split one verdict over two lines. So the copy is made strict, and
 * nothing else changes: digits stay as written (a 19-digit id stays exact),
 * spaces and tabs stay where they were. */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Copy the number at p[0..] (cJSON accepted it) as a JSON number: no
 * leading zeros, a 0 before a bare decimal point, no point without digits
 * after it. Returns the bytes read. */
static size_t raw_number(char **wp, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *s = p;
    char *w = *wp;
    if (p < end && *p == '-')
        *w++ = (char)*p++;
    while (end - p >= 2 && p[0] == '0' && is_digit(p[1]))
        p++;
    if (!(p < end && is_digit(*p)))
        *w++ = '0';
    while (p < end && is_digit(*p))
        *w++ = (char)*p++;
    if (p < end && *p == '.') {
        p++;
        if (p < end && is_digit(*p))
            *w++ = '.';
        while (p < end && is_digit(*p))
            *w++ = (char)*p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *w++ = (char)*p++;
        while (p < end && (*p == '+' || *p == '-' || is_digit(*p)))
            *w++ = (char)*p++;
    }
    *wp = w;
    return (size_t)(p - s);
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

size_t fz_json_bad_u_escape_at(const char *s, size_t n, int *nul)
{
    const char *end = s + n;
    if (nul)
        *nul = 0;
    for (const char *p = memchr(s, '\\', n); p && p + 1 < end; p = memchr(p, '\\', (size_t)(end - p))) {
        if (p[1] == 'u') {
            for (int i = 2; i < 6; i++)
                if (p + i >= end || !is_hex((unsigned char)p[i]))
                    return (size_t)(p - s);
            if (nul && memcmp(p + 2, "0000", 4) == 0)
                *nul = 1;
        }
        p += 2;     /* the escaped character, whatever it is: after \\, a u is no escape */
        if (p >= end)
            break;
    }
    return n;
}

size_t fz_json_lax_at(const char *s, size_t n)
{
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (in_string) {
            if (c < 0x20)
                return i;
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            return i;
        } else if (c == '-' || is_digit(c)) {
            size_t j = i + (c == '-');
            if (j >= n || !is_digit((unsigned char)s[j]) || (s[j] == '0' && j + 1 < n && is_digit((unsigned char)s[j + 1])))
                return i;
            while (j < n && is_digit((unsigned char)s[j]))
                j++;
            if (j < n && s[j] == '.' && !(j + 1 < n && is_digit((unsigned char)s[j + 1])))
                return i;
            while (j < n && (is_digit((unsigned char)s[j]) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                             s[j] == '+' || s[j] == '-'))
                j++;
            i = j - 1;
        }
    }
    return n;
}

int fz_json_raw(fz_buf *o, const char *s, size_t n)
{
    /* Worst case: a control character inside a string becomes \u00XX (6);
     * a number can grow by one byte (-.5 -> -0.5). */
    if (fz_buf_reserve(o, n * 6 + 1))
        return FZ_ENOMEM;
    char *w = o->data + o->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    int in_string = 0;
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x80) {
            p = copy_utf8(p, end, &w);
        } else if (in_string && c < 0x20) {
            *w++ = '\\'; *w++ = 'u'; *w++ = '0'; *w++ = '0';
            *w++ = k_hex[c >> 4]; *w++ = k_hex[c & 15];
            p++;
        } else if (in_string && c == '\\' && end - p >= 2 && p[1] < 0x80) {
            *w++ = (char)*p++;      /* an escape: the next byte is not a quote that ends the string */
            *w++ = (char)*p++;
        } else if (!in_string && (c == '-' || is_digit(c))) {
            p += raw_number(&w, p, end);
        } else {
            if (c == '"')
                in_string = !in_string;
            *w++ = !in_string && c < 0x20 && c != '\t' ? ' ' : (char)c;
            p++;
        }
    }
    o->len = (size_t)(w - o->data);
    o->data[o->len] = '\0';
    return 0;
}
