/* utf8.h — strict UTF-8 decoding and encoding, shared by the normalizer and
 * the JSON writer.
 *
 * Overlong forms, surrogates and values above U+10FFFF are invalid; an
 * invalid sequence consumes one byte and decodes as U+FFFD, so a repaired
 * text has one replacement character per bad byte. */
#ifndef FZ_UTF8_H
#define FZ_UTF8_H

#include <stdint.h>

static inline uint32_t fz_utf8_decode(const unsigned char *s, const unsigned char *end, int *len)
{
    unsigned c = s[0];
    *len = 1;
    if (c < 0x80) return c;
    if (c < 0xC2 || c > 0xF4) return 0xFFFD;
    if (c < 0xE0) {
        if (end - s < 2 || (s[1] & 0xC0) != 0x80) return 0xFFFD;
        *len = 2;
        return ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (c < 0xF0) {
        if (end - s < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0xFFFD;
        uint32_t cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
        *len = 3;
        return cp;
    }
    if (end - s < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
        return 0xFFFD;
    uint32_t cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
                  ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    if (cp < 0x10000 || cp > 0x10FFFF) return 0xFFFD;
    *len = 4;
    return cp;
}

/* 1 when the decode at s produced a real U+FFFD rather than a repair. */
static inline int fz_utf8_is_real_fffd(const unsigned char *s, int len)
{
    return len == 3 && s[0] == 0xEF && s[1] == 0xBF && s[2] == 0xBD;
}

static inline int fz_utf8_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif
