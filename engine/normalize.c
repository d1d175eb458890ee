/* normalize.c — canonical text for matching, with a map back to the original.
 *
 * How it works. A per-code-point table for the Basic Multilingual Plane is
 * built once per process from utf8proc (NFKC, case folding, mark stripping),
 * OpenCC's traditional->simplified pairs (generated at build time into
 * t2s_table.c) and a small look-alike table. Each entry says whether the code
 * point stays the SAME, is DROPped (format, control and private-use
 * characters) or MAPs to a short sequence, and gives its class (Han, Chinese
 * numeral, separator, digit, letter).
 *
 * Three rules depend on context rather than on one code point: separators are
 * removed only between two Han characters; Chinese numerals become digits only
 * in runs of four or more; l/i/o become 1/1/0 only inside mostly-digit tokens.
 *
 * The fast path reads the text once, checking a bitmap (8 KiB, cache-resident)
 * and the context rules; when nothing would change, the text is used as it is
 * with an identity offset map. Most genuine traffic takes it. Otherwise the
 * slow path decodes into an array of characters (each remembering its
 * original byte span), applies the context rules in three passes, and encodes
 * the result, writing the offset map byte by byte. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "fanzha/error.h"
#include "fanzha/normalize.h"
#include "normalize_internal.h"
#include "utf8.h"

/* --- the generated traditional -> simplified table -------------------------- */
extern const uint32_t fz_t2s_table[][2];
extern const size_t fz_t2s_count;

enum { K_SAME = 0, K_MAP = 1, K_DROP = 2 };
enum { C_OTHER = 0, C_HAN, C_CNUM, C_SEP, C_DIGIT, C_ALPHA };

#define IS_HAN(c) ((c) == C_HAN || (c) == C_CNUM)

/* Table entry: kind in bits 0-1, output length in bits 2-5, pool index above. */
static uint32_t g_entry[0x10000];
static uint8_t g_class[0x10000];
static uint64_t g_work[0x10000 / 64];    /* bit set: kind != SAME */
static uint32_t *g_pool;
static size_t g_pool_len;
static int g_table_ok;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static const struct { uint32_t from, to; } k_lookalikes[] = {
    {0x6B40, 0x6B3E},   /* 歀 -> 款 */
    {0x66F0, 0x65E5},   /* 曰 -> 日 */
    {0x56D7, 0x53E3},   /* 囗 -> 口 */
    {0x4E28, '|'},      /* 丨 used as a separator: 银丨行 */
    {0x5E10, 0x8D26},   /* 帐 -> 账: OpenCC maps 帳 to 帐, rules write 账户 */
};

/* Full-width and CJK punctuation that Chinese text writes natively: kept. */
static int keep_as_written(uint32_t cp)
{
    switch (cp) {
    case 0xFF01: case 0xFF02: case 0xFF07: case 0xFF08: case 0xFF09: case 0xFF0C:
    case 0xFF1A: case 0xFF1B: case 0xFF1F: case 0xFF3B: case 0xFF3D: case 0xFF5B:
    case 0xFF5D: case 0x2026: case 0x2014: case 0x3001: case 0x3002:
        return 1;
    default:
        return 0;
    }
}

int fz_cnum_value(uint32_t cp)
{
    switch (cp) {
    case 0x3007: case 0x96F6: return 0;             /* 〇 零 */
    case 0x4E00: case 0x58F9: case 0x5E7A: return 1; /* 一 壹 幺 */
    case 0x4E8C: case 0x8D30: case 0x4E24: return 2; /* 二 贰 两 */
    case 0x4E09: case 0x53C1: return 3;             /* 三 叁 */
    case 0x56DB: case 0x8086: return 4;             /* 四 肆 */
    case 0x4E94: case 0x4F0D: return 5;             /* 五 伍 */
    case 0x516D: case 0x9646: return 6;             /* 六 陆 */
    case 0x4E03: case 0x67D2: return 7;             /* 七 柒 */
    case 0x516B: case 0x634C: return 8;             /* 八 捌 */
    case 0x4E5D: case 0x7396: return 9;             /* 九 玖 */
    default: return -1;
    }
}

int fz_is_han(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F) || cp == 0x3007;
}

static uint32_t t2s_once(uint32_t cp)
{
    size_t lo = 0, hi = fz_t2s_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fz_t2s_table[mid][0] == cp)
            return fz_t2s_table[mid][1];
        if (fz_t2s_table[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < sizeof k_lookalikes / sizeof k_lookalikes[0]; i++)
        if (k_lookalikes[i].from == cp)
            return k_lookalikes[i].to;
    return cp;
}

/* Follow chains to the end: 帳 -> 帐 (OpenCC) -> 账 (variant), 薴 -> 苧 -> 苎. */
static uint32_t t2s(uint32_t cp)
{
    for (int i = 0; i < 4; i++) {
        uint32_t next = t2s_once(cp);
        if (next == cp)
            break;
        cp = next;
    }
    return cp;
}

static int ascii_class(uint32_t c)
{
    if (c >= '0' && c <= '9') return C_DIGIT;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return C_ALPHA;
    if (strchr(" \t\n\r\v\f|/\\*.-_~+=#^`", (int)c) && c != 0) return C_SEP;
    return C_OTHER;
}

/* Class of a code point as it appears in normalized text. */
static int classify(uint32_t cp)
{
    if (cp < 0x80)
        return ascii_class(cp);
    if (fz_is_han(cp))
        return fz_cnum_value(cp) >= 0 ? C_CNUM : C_HAN;
    if (cp == 0x00B7 || cp == 0x2022 || cp == 0x30FB)
        return C_SEP;
    if (cp == 0xFFFD)
        return C_OTHER;                 /* a repaired byte stays visible */
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_SO: case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_ZS:
        return keep_as_written(cp) ? C_OTHER : C_SEP;
    default:
        return C_OTHER;
    }
}

static int is_enclosed_numeral(uint32_t cp)
{
    return (cp >= 0x2460 && cp <= 0x24FF) || (cp >= 0x2776 && cp <= 0x2793) ||
           (cp >= 0x3220 && cp <= 0x3229) || (cp >= 0x3280 && cp <= 0x3289) ||
           (cp >= 0x1F100 && cp <= 0x1F10C);
}

/* Circled numerals without a compatibility decomposition (❶ ➀ ➊ ⓫ ⓵ ⓿):
 * their value, written in digits. */
static int dingbat_numeral(uint32_t cp, uint32_t *out, int cap)
{
    int v;
    if (cp >= 0x2776 && cp <= 0x277F) v = (int)(cp - 0x2776) + 1;
    else if (cp >= 0x2780 && cp <= 0x2789) v = (int)(cp - 0x2780) + 1;
    else if (cp >= 0x278A && cp <= 0x2793) v = (int)(cp - 0x278A) + 1;
    else if (cp >= 0x24EB && cp <= 0x24F4) v = (int)(cp - 0x24EB) + 11;
    else if (cp >= 0x24F5 && cp <= 0x24FE) v = (int)(cp - 0x24F5) + 1;
    else if (cp == 0x24FF || cp == 0x24EA) v = 0;
    else { out[0] = cp; return 1; }
    if (v >= 10 && cap >= 2) {
        out[0] = '0' + (uint32_t)(v / 10);
        out[1] = '0' + (uint32_t)(v % 10);
        return 2;
    }
    out[0] = '0' + (uint32_t)v;
    return 1;
}

/* NFKC with marks stripped. No case folding: matching is case-insensitive,
 * and a text keeps the case its sender wrote (ＥＴＣ -> ETC). */
static const utf8proc_option_t k_fold = UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
                                        UTF8PROC_STRIPMARK | UTF8PROC_IGNORE;

/* NFKC + strip marks of one code point, then the enclosed-numeral,
 * traditional->simplified and look-alike rules. Returns the output length. */
static int fold_one(uint32_t cp, uint32_t *out, int cap)
{
    utf8proc_int32_t buf[32];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 32, k_fold, &last);
    if (n < 0 || n > 32)
        return -1;
    n = utf8proc_normalize_utf32(buf, n, k_fold);
    if (n < 0)
        return -1;
    if (n == 1 && (uint32_t)buf[0] == cp && is_enclosed_numeral(cp))
        return dingbat_numeral(cp, out, cap);
    int k = 0;
    for (utf8proc_ssize_t i = 0; i < n && k < cap; i++) {
        uint32_t c = (uint32_t)buf[i];
        if (is_enclosed_numeral(cp) && (c == '(' || c == ')' || c == '.' || c == ',' || c == ' '))
            continue;
        if (is_enclosed_numeral(cp) && fz_cnum_value(c) >= 0) {
            out[k++] = '0' + (uint32_t)fz_cnum_value(c);
            continue;
        }
        if (is_enclosed_numeral(cp) && c == 0x5341 && k + 1 < cap) {   /* ㈩ 十 -> 10 */
            out[k++] = '1';
            out[k++] = '0';
            continue;
        }
        out[k++] = t2s(c);
    }
    return k;
}

static int drops(uint32_t cp)
{
    if (cp == 0)
        return 1;
    if (cp < 0x80)
        return (cp < 0x20 && !strchr("\t\n\r\v\f", (int)cp)) || cp == 0x7F;
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 1;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO;
}

static int pool_push(const uint32_t *cps, int n, uint32_t *index)
{
    static size_t cap;
    if (g_pool_len + (size_t)n > cap) {
        size_t ncap = cap ? cap * 2 : 16384;
        uint32_t *p = realloc(g_pool, ncap * sizeof *p);
        if (!p)
            return -1;
        g_pool = p;
        cap = ncap;
    }
    *index = (uint32_t)g_pool_len;
    memcpy(g_pool + g_pool_len, cps, (size_t)n * sizeof *cps);
    g_pool_len += (size_t)n;
    return 0;
}

/* Expand cp through the table until only SAME code points remain. */
static int expand(uint32_t cp, uint32_t *out, int cap, int depth)
{
    if (cp >= 0x10000 || depth > 4) {
        out[0] = cp;
        return 1;
    }
    uint32_t e = g_entry[cp];
    int kind = (int)(e & 3);
    if (kind == K_DROP)
        return 0;
    if (kind == K_SAME) {
        out[0] = cp;
        return 1;
    }
    int n = (int)((e >> 2) & 15), k = 0;
    for (int i = 0; i < n && k < cap; i++) {
        uint32_t sub[15];
        int m = expand(g_pool[(e >> 6) + (uint32_t)i], sub, 15, depth + 1);
        for (int j = 0; j < m && k < cap; j++)
            out[k++] = sub[j];
    }
    return k;
}

/* Make the table idempotent: an output that is itself mapped (a chain, or a
 * compatibility form whose result OpenCC simplifies) is replaced by where
 * the chain ends, so that normalizing normalized text changes nothing. */
static int resolve_chains(void)
{
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        uint32_t e = g_entry[cp];
        if ((e & 3) != K_MAP)
            continue;
        uint32_t out[15], index = 0;
        int n = expand(cp, out, 15, 0);
        if (n == 0) {
            g_entry[cp] = K_DROP;
            continue;
        }
        if (pool_push(out, n, &index))
            return -1;
        g_entry[cp] = (uint32_t)K_MAP | ((uint32_t)n << 2) | (index << 6);
    }
    return 0;
}

static void build_tables(void)
{
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        uint32_t out[15];
        int kind = K_SAME, n = 0;
        uint32_t index = 0;
        if (drops(cp)) {
            kind = K_DROP;
        } else if (cp >= 0x80 && !keep_as_written(cp)) {
            n = fold_one(cp, out, 15);
            if (n == 0)
                kind = K_DROP;
            else if (n > 0 && !(n == 1 && out[0] == cp)) {
                kind = K_MAP;
                if (pool_push(out, n, &index))
                    return;
            }
        }
        g_entry[cp] = (uint32_t)kind | ((uint32_t)(kind == K_MAP ? n : 0) << 2) | (index << 6);
        g_class[cp] = (uint8_t)(kind == K_SAME ? classify(cp) : C_OTHER);
        if (kind != K_SAME)
            g_work[cp >> 6] |= (uint64_t)1 << (cp & 63);
    }
    g_table_ok = resolve_chains() == 0;
}

int fz_normalize_init(void)
{
    pthread_once(&g_once, build_tables);
    return g_table_ok ? 0 : FZ_ENOMEM;
}

/* --- the context rules, shared by both paths ---------------------------------- */

/* Tracks an ASCII alphanumeric token: does it qualify for l/i/o -> 1/1/0? */
typedef struct { int digits, iol, other; } token_stats;

static inline int is_iol(uint32_t c)
{
    return c == 'l' || c == 'L' || c == 'i' || c == 'I' || c == 'o' || c == 'O';
}

static inline void token_add(token_stats *t, int cls, uint32_t c)
{
    if (cls == C_DIGIT) t->digits++;
    else if (is_iol(c)) t->iol++;
    else t->other++;
}

static inline int token_swaps(const token_stats *t)
{
    return t->iol > 0 && t->other == 0 && t->digits >= 3 && t->digits > t->iol;
}

#define CNUM_RUN_MIN 4

/* --- fast path ----------------------------------------------------------------- */

/* 1 when normalization would leave the text exactly as it is. */
static int needs_no_change(const unsigned char *s, size_t n)
{
    const unsigned char *end = s + n;
    int prev_han = 0, sep_after_han = 0;
    int run = 0, run_cnum = 0;
    token_stats tok = {0, 0, 0};
    while (s < end) {
        uint32_t cp;
        int len;
        if (*s < 0x80) {
            cp = *s;
            len = 1;
        } else {
            cp = fz_utf8_decode(s, end, &len);
            if (cp == 0xFFFD && !fz_utf8_is_real_fffd(s, len))
                return 0;                        /* invalid UTF-8 */
            if (cp >= 0x10000)
                return 0;
        }
        s += len;
        if (g_work[cp >> 6] & ((uint64_t)1 << (cp & 63)))
            return 0;
        int cls = g_class[cp];
        if (cls == C_SEP) {
            if (prev_han)
                sep_after_han = 1;
            run = run_cnum = 0;
            if (token_swaps(&tok)) return 0;
            tok = (token_stats){0, 0, 0};
            continue;
        }
        if (sep_after_han && IS_HAN(cls))
            return 0;
        sep_after_han = 0;
        prev_han = IS_HAN(cls);
        if (cls == C_DIGIT || cls == C_CNUM) {
            run++;
            run_cnum += cls == C_CNUM;
            if (run >= CNUM_RUN_MIN && run_cnum)
                return 0;
        } else {
            run = run_cnum = 0;
        }
        if (cls == C_DIGIT || cls == C_ALPHA) {
            token_add(&tok, cls, cp);
        } else {
            if (token_swaps(&tok)) return 0;
            tok = (token_stats){0, 0, 0};
        }
    }
    return !token_swaps(&tok);
}

/* --- slow path ----------------------------------------------------------------- */

typedef struct {
    uint32_t cp;
    uint32_t src, src_end;  /* original byte span of the character this came from */
    uint8_t cls;
    uint8_t swapped;
} nchar;

struct fz_norm {
    const char *text;       /* the normalized text: input itself or out.data */
    size_t len;
    size_t orig_len;
    int unchanged;
    char *out;
    size_t out_cap;
    uint32_t *map_start, *map_end;
    nchar *chars;
    size_t chars_cap;
    uint8_t *swapped;       /* per output byte: a look-alike letter became a digit here */
    int any_swap;
};

fz_norm *fz_norm_new(void)
{
    if (fz_normalize_init())
        return NULL;
    return calloc(1, sizeof(fz_norm));
}

void fz_norm_free(fz_norm *n)
{
    if (!n)
        return;
    free(n->out);
    free(n->map_start);
    free(n->map_end);
    free(n->swapped);
    free(n->chars);
    free(n);
}

static int grow_chars(fz_norm *n, size_t need)
{
    if (need <= n->chars_cap)
        return 0;
    size_t cap = n->chars_cap ? n->chars_cap : 256;
    while (cap < need)
        cap *= 2;
    nchar *p = realloc(n->chars, cap * sizeof *p);
    if (!p)
        return FZ_ENOMEM;
    n->chars = p;
    n->chars_cap = cap;
    return 0;
}

static int grow_out(fz_norm *n, size_t need)
{
    if (need <= n->out_cap)
        return 0;
    size_t cap = n->out_cap ? n->out_cap : 1024;
    while (cap < need)
        cap *= 2;
    char *o = realloc(n->out, cap);
    if (!o)
        return FZ_ENOMEM;
    n->out = o;
    uint32_t *a = realloc(n->map_start, cap * sizeof *a);
    if (!a)
        return FZ_ENOMEM;
    n->map_start = a;
    uint32_t *b = realloc(n->map_end, cap * sizeof *b);
    if (!b)
        return FZ_ENOMEM;
    n->map_end = b;
    uint8_t *sw = realloc(n->swapped, cap);
    if (!sw)
        return FZ_ENOMEM;
    n->swapped = sw;
    n->out_cap = cap;
    return 0;
}

/* Code points beyond the BMP: rare (emoji, rare Han); folded by utf8proc. */
static int fold_astral(uint32_t cp, uint32_t *out, int *cls)
{
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    if (cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CC)
        return 0;
    if (fz_is_han(cp)) {
        out[0] = t2s(cp);
        *cls = C_HAN;
        return 1;
    }
    if (cat == UTF8PROC_CATEGORY_SO || cat == UTF8PROC_CATEGORY_SM || cat == UTF8PROC_CATEGORY_SK) {
        out[0] = cp;                    /* emoji: a separator, kept unless between Han */
        *cls = C_SEP;
        return 1;
    }
    int k = fold_one(cp, out, 15);
    if (k < 0) {
        out[0] = cp;
        k = 1;
    }
    *cls = -1;                          /* classify each output */
    return k;
}

/* Pass A: decode and fold each character into n->chars. */
static int decode_all(fz_norm *n, const unsigned char *s, size_t len, size_t *count)
{
    const unsigned char *p = s, *end = s + len;
    size_t k = 0;
    if (grow_chars(n, len + 16))
        return FZ_ENOMEM;
    while (p < end) {
        int l;
        uint32_t cp = fz_utf8_decode(p, end, &l);
        uint32_t src = (uint32_t)(p - s), src_end = src + (uint32_t)l;
        uint32_t outs[15];
        int nout, cls = -1;
        p += l;
        if (cp < 0x10000) {
            uint32_t e = g_entry[cp];
            int kind = (int)(e & 3);
            if (kind == K_DROP)
                continue;
            if (kind == K_SAME) {
                outs[0] = cp;
                nout = 1;
                cls = g_class[cp];
            } else {
                nout = (int)((e >> 2) & 15);
                memcpy(outs, g_pool + (e >> 6), (size_t)nout * sizeof *outs);
            }
        } else {
            nout = fold_astral(cp, outs, &cls);
        }
        if (grow_chars(n, k + (size_t)nout + (size_t)(end - p) + 1))
            return FZ_ENOMEM;
        for (int i = 0; i < nout; i++) {
            nchar *c = &n->chars[k++];
            c->cp = outs[i];
            c->src = src;
            c->src_end = src_end;
            c->cls = (uint8_t)(cls >= 0 ? cls : (outs[i] < 0x10000 ? g_class[outs[i]] : classify(outs[i])));
            c->swapped = 0;
        }
    }
    *count = k;
    return 0;
}

/* Pass B1: drop runs of separators standing between two Han characters. */
static size_t drop_separators(nchar *a, size_t n)
{
    size_t w = 0, i = 0;
    while (i < n) {
        if (a[i].cls != C_SEP) {
            a[w++] = a[i++];
            continue;
        }
        size_t j = i;
        while (j < n && a[j].cls == C_SEP)
            j++;
        int between_han = w > 0 && IS_HAN(a[w - 1].cls) && j < n && IS_HAN(a[j].cls);
        if (!between_han)
            while (i < j)
                a[w++] = a[i++];
        i = j;
    }
    return w;
}

/* Pass B2: runs of Chinese numerals (and digits) of length >= 4 become digits. */
static int convert_numeral_runs(nchar *a, size_t n)
{
    size_t i = 0;
    int changed = 0;
    while (i < n) {
        if (a[i].cls != C_DIGIT && a[i].cls != C_CNUM) {
            i++;
            continue;
        }
        size_t j = i;
        int cnum = 0;
        while (j < n && (a[j].cls == C_DIGIT || a[j].cls == C_CNUM))
            cnum += a[j++].cls == C_CNUM;
        if (cnum && j - i >= CNUM_RUN_MIN)
            for (size_t k = i; k < j; k++)
                if (a[k].cls == C_CNUM) {
                    a[k].cp = '0' + (uint32_t)fz_cnum_value(a[k].cp);
                    a[k].cls = C_DIGIT;
                    changed = 1;
                }
        i = j;
    }
    return changed;
}

/* Pass B3: l/i/o inside mostly-digit tokens become digits (l0086 -> 10086). */
static int swap_digit_lookalikes(nchar *a, size_t n)
{
    size_t i = 0;
    int changed = 0;
    while (i < n) {
        if (a[i].cls != C_DIGIT && a[i].cls != C_ALPHA) {
            i++;
            continue;
        }
        size_t j = i;
        token_stats t = {0, 0, 0};
        while (j < n && (a[j].cls == C_DIGIT || a[j].cls == C_ALPHA)) {
            token_add(&t, a[j].cls, a[j].cp);
            j++;
        }
        if (token_swaps(&t))
            for (size_t k = i; k < j; k++)
                if (a[k].cls == C_ALPHA) {
                    a[k].cp = (a[k].cp == 'o' || a[k].cp == 'O') ? '0' : '1';
                    a[k].cls = C_DIGIT;
                    a[k].swapped = 1;
                    changed = 1;
                }
        i = j;
    }
    return changed;
}

/* Pass C: encode, with the offset map. */
static int emit(fz_norm *n, size_t count)
{
    if (grow_out(n, count * 4 + 1))
        return FZ_ENOMEM;
    size_t o = 0;
    n->any_swap = 0;
    for (size_t i = 0; i < count; i++) {
        const nchar *c = &n->chars[i];
        int l = fz_utf8_encode(c->cp, n->out + o);
        n->any_swap |= c->swapped;
        for (int b = 0; b < l; b++) {
            n->map_start[o + (size_t)b] = c->src;
            n->map_end[o + (size_t)b] = c->src_end;
            n->swapped[o + (size_t)b] = c->swapped;
        }
        o += (size_t)l;
    }
    n->out[o] = '\0';
    n->text = n->out;
    n->len = o;
    return 0;
}

int fz_normalize(fz_norm *n, const char *text, size_t len)
{
    if (len >= UINT32_MAX / 8)
        return FZ_ETOOBIG;
    n->orig_len = len;
    n->any_swap = 0;
    if (needs_no_change((const unsigned char *)text, len)) {
        n->text = text;
        n->len = len;
        n->unchanged = 1;
        return 0;
    }
    n->unchanged = 0;
    size_t count;
    int rc = decode_all(n, (const unsigned char *)text, len, &count);
    if (rc)
        return rc;
    count = drop_separators(n->chars, count);
    /* Each rule can enable the other (l一二三四 -> l1234 -> 11234), so they
     * run until neither changes anything: normalizing twice changes nothing. */
    int changed;
    do {
        changed = convert_numeral_runs(n->chars, count);
        changed |= swap_digit_lookalikes(n->chars, count);
    } while (changed);
    return emit(n, count);
}

const char *fz_norm_text(const fz_norm *n, size_t *len)
{
    if (len)
        *len = n->len;
    return n->text;
}

int fz_norm_unchanged(const fz_norm *n)
{
    return n->unchanged;
}

void fz_norm_span(const fz_norm *n, size_t start, size_t end, size_t *ostart, size_t *oend)
{
    if (n->unchanged) {
        *ostart = start;
        *oend = end;
        return;
    }
    if (start >= n->len) {
        *ostart = *oend = n->orig_len;
        return;
    }
    if (end > n->len)
        end = n->len;
    *ostart = n->map_start[start];
    *oend = end > start ? n->map_end[end - 1] : *ostart;
}

int fz_norm_swapped_in(const fz_norm *n, size_t start, size_t end)
{
    if (!n->any_swap)
        return 0;
    for (size_t i = start; i < end && i < n->len; i++)
        if (n->swapped[i])
            return 1;
    return 0;
}
