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

int fz_json_str(fz_buf *o, const char *s, size_t n)
{
    /* Worst case: every byte becomes \u00XX (6) or U+FFFD (3). */
    if (fz_buf_reserve(o, n * 6 + 2))
        return FZ_ENOMEM;
    char *w = o->data + o->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    *w++ = '"';
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            *w++ = (char)c;
            p++;
        } else if (c >= 0x80) {
            int len;
            uint32_t cp = fz_utf8_decode(p, end, &len);
            if (cp == 0xFFFD && !fz_utf8_is_real_fffd(p, len))
                w += fz_utf8_encode(0xFFFD, w);
            else
                memcpy(w, p, (size_t)len), w += len;
            p += len;
        } else {
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
        return fz_buf_append(o, "0", 1);
    double cents = x * 100;
    double r = nearbyint(cents);
    if (fabs(cents - r) < 1e-6 && fabs(r) < 1e15) {
        long long c = (long long)r;
        int rc = 0;
        if (c < 0) {
            rc = fz_buf_append(o, "-", 1);
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
