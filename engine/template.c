/* template.c — a message's template: its normalized text with the parts
 * that vary between the messages of one campaign masked out, hashed.
 *
 * Masking: a run of digits becomes '#', a token of URL characters holding a
 * dot or a slash (a link, a domain) becomes '@', a token of letters and
 * digits holding a digit (an order number, a handle) becomes '#', runs of
 * whitespace become one space, and ASCII letters are lower-cased. So
 * "您的ETC于11月3日失效，点击 http://a.cn/x9 处理" and its thousand siblings
 * with other dates and links share one template: one verdict cache entry
 * and one campaign counter. */
#include <string.h>

#include <xxhash.h>

#include "fanzha/error.h"
#include "template.h"

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_urlish(unsigned char c)
{
    return is_alnum(c) || c == '.' || c == '/' || c == ':' || c == '-' || c == '_' || c == '?' || c == '=' ||
           c == '&' || c == '%' || c == '#' || c == '~';
}

int fz_template(const char *text, size_t len, const void *salt, size_t salt_len, fz_buf *masked, char out[33])
{
    fz_buf_clear(masked);
    if (fz_buf_reserve(masked, len + 1))
        return FZ_ENOMEM;
    char *w = masked->data;
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end) {
        if (is_urlish(*p) && *p != '#') {
            const unsigned char *q = p;
            int digit = 0, dot = 0, alpha = 0;
            while (q < end && is_urlish(*q)) {
                digit |= *q >= '0' && *q <= '9';
                dot |= *q == '.' || *q == '/';
                alpha |= (*q | 32) >= 'a' && (*q | 32) <= 'z';
                q++;
            }
            if (dot && alpha) {
                *w++ = '@';
            } else if (digit) {
                *w++ = '#';
            } else {
                for (; p < q; p++)
                    *w++ = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
            }
            p = q;
            continue;
        }
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
            *w++ = ' ';
            continue;
        }
        *w++ = (char)*p++;
    }
    masked->len = (size_t)(w - masked->data);
    masked->data[masked->len] = '\0';
    XXH128_hash_t h = XXH3_128bits_withSeed(masked->data, masked->len, XXH3_64bits(salt, salt_len));
    static const char hex[] = "0123456789abcdef";
    uint64_t parts[2] = {h.high64, h.low64};
    for (int i = 0; i < 32; i++)
        out[i] = hex[(parts[i / 16] >> (60 - 4 * (i % 16))) & 15];
    out[32] = '\0';
    return 0;
}
