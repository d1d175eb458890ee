/* extract.c — entities in the normalized text, with PCRE2: URLs and bare
 * domains (look-alikes flagged), phone numbers, bank-card-like numbers,
 * QQ / WeChat / messenger handles and amounts of money. Also reads
 * rules/domains.yaml, the brands whose names in a host give a look-alike away.
 *
 * How it works. The matcher's Hyperscan scan already told us which kinds can
 * be present (a trigger expression per kind: a dot before letters, a run of
 * digits, a contact word, a currency). PCRE2 decides what an entity is, but
 * scanning a whole message with an unanchored pattern costs PCRE2 hundreds of
 * nanoseconds, so one pass over the bytes finds where an entity can start —
 * the first digit of each digit run, each currency sign, each URL-like token
 * with a dot — and an anchored PCRE2 program is tried there only. One
 * anchored program tells a card from a phone number from an amount by which
 * group matched. Contact handles start with fixed words, so their pattern is
 * scanned directly.
 *
 * Each entity goes into the verdict (numbers as digits, amounts in units)
 * and sets its entity.* signal, which rules can combine with. A host is a
 * look-alike when the normalizer swapped a letter for a digit inside it
 * (l0086), when its top-level domain is a typo (.con), when it is punycode,
 * or when it names a brand but is not one of that brand's own domains
 * (10086-jf.cn, icbc-vip.top). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "ydoc.h"

static const char *const k_tlds =
    "cn|com|net|org|gov|edu|top|xyz|vip|cc|info|biz|club|site|online|shop|icu|link|win|ltd|co|me|io|"
    "tk|ml|ga|cf|gq|pw|buzz|work|live|store|tech|fun|space|website|ink|kim|wang|xin|im|hk|tw|mo|us|uk|"
    "app|dev|ws|la|so|to|ly|gl|gd|mobi|pro|asia|one|red|ren|fit|bid|loan|men|date|run|cyou|sbs|cfd|"
    "bond|lol|rest|autos|beauty|hair|skin|quest|help|click|page|ai|gg|cx|nu|ru|su|de|fr|jp|kr|in|au|ca|eu|"
    "finance|money|exchange|trade|markets|market|capital|fund|bank|credit|cash|gold|bet|casino|games|game|"
    "group|team|company|business|digital|network|systems|services|support|center|global|world|today|news|"
    "email|deals|sale|investments|tel|name|cloud|host|download|stream|review|cam|best|cool|net\\.au|co\\.uk|com\\.au";

/* --- domains.yaml ------------------------------------------------------------------ */

int fz_domains_parse(fz_ruleset *rs, fz_ydoc *d)
{
    static const char *const top[] = {"brands", "typo_tlds", NULL};
    static const char *const bkeys[] = {"name", "tokens", "official", NULL};
    yaml_node_t *root = fz_ydoc_root(d);
    int bad = fz_ydoc_check_keys(d, root, top, NULL, "domains.yaml");
    yaml_node_t *brands = fz_ydoc_get(d, root, "brands"), *typos = fz_ydoc_get(d, root, "typo_tlds");
    if (typos && fz_ydoc_strings(d, typos, NULL, "typo_tlds", (char ***)&rs->typo_tlds, NULL, &rs->n_typo_tlds))
        bad++;
    /* They are spliced into the URL pattern: letters and digits only, so a
     * rule file cannot slip regex syntax (or a runaway pattern) in. */
    for (size_t i = 0; i < rs->n_typo_tlds; i++) {
        const char *t = rs->typo_tlds[i];
        size_t n = strlen(t);
        if (n == 0 || n > 24 || strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789") != n) {
            fz_ydoc_error(d, typos, NULL, "typo_tlds: '%.40s' is not a top-level domain (a-z, 0-9, at most 24)", t);
            bad++;
        }
    }
    if (!brands)
        return bad;
    if (!fz_ynode_is(brands, YAML_SEQUENCE_NODE)) {
        fz_ydoc_error(d, brands, NULL, "'brands' must be a list");
        return bad + 1;
    }
    size_t k = (size_t)(brands->data.sequence.items.top - brands->data.sequence.items.start);
    rs->brands = calloc(k ? k : 1, sizeof *rs->brands);
    if (!rs->brands)
        return bad + 1;
    for (size_t i = 0; i < k; i++) {
        yaml_node_t *b = fz_ydoc_node(d, brands->data.sequence.items.start[i]), *v;
        fz_brand *br = &rs->brands[rs->n_brands];
        memset(br, 0, sizeof *br);
        if (fz_ydoc_check_keys(d, b, bkeys, NULL, "a brand")) {
            bad++;
            continue;
        }
        char *name = NULL;
        int e = 0;
        if (!(v = fz_ydoc_get(d, b, "name")) || fz_ydoc_string(d, v, NULL, "name", &name))
            e++;
        if (!(v = fz_ydoc_get(d, b, "tokens")) ||
            fz_ydoc_strings(d, v, NULL, "tokens", (char ***)&br->tokens, NULL, &br->n_tokens))
            e++;
        if (!(v = fz_ydoc_get(d, b, "official")) ||
            fz_ydoc_strings(d, v, NULL, "official", (char ***)&br->official, NULL, &br->n_official))
            e++;
        if (e) {
            fz_ydoc_error(d, b, NULL, "a brand needs 'name', 'tokens' and 'official'");
            bad++;
            continue;
        }
        br->name = name;
        rs->n_brands++;
    }
    return bad;
}

/* --- compiling the extractors ---------------------------------------------------------- */

static pcre2_code *compile_one(const char *pattern, uint32_t flags, fz_diags *diags)
{
    int errcode;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_CASELESS | flags, &errcode, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        fz_diag_emit(diags, FZ_DIAG_ERROR, "domains.yaml", 0, 0, NULL,
                     "entity pattern does not compile (%s at offset %zu)", (char *)msg, (size_t)off);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* Digit entities, tried at the first digit of a run (or the '+' before it).
 * Group 1: a bank-card-like number; group 2: a phone number; group 3 + 4:
 * an amount and its unit. Order matters: the longest reading first. */
static const char k_digits[] =
    "(?<![\\w.])(\\d{4}(?:[ -]?\\d{4}){3}(?:\\d{1,3})?)(?!\\d)"
    "|(?<![\\w+])((?:(?:\\+|00)?86[- ]?)?1[3-9]\\d(?:[- ]?\\d){8}(?!\\d)"
    "|0[1-9]\\d{1,2}[- ]?\\d{7,8}(?!\\d)"
    "|0[1-9]\\d{0,3}[- ]\\d{3,4}[- ]\\d{3,4}(?!\\d)"               /* grouped: 0800 046 1977, 02 8006 7713 */
    "|[48]00\\d?[- ]?\\d{3}[- ]?\\d{3,4}(?!\\d)"
    "|(?:95|96|10|12)\\d{3}(?![\\w.,]|元|万|块|千|百|%)"
    "|(?:\\+|00)[1-9](?:[- ()]{0,2}\\d){6,14}(?!\\d))"
    "|(?<![\\d.])(\\d+(?:[,，]\\d{3})*(?:\\.\\d+)?)\\s?(万元|万|千元|元|块|rmb|美元|usd)";

/* Amounts written after a currency sign, tried at the sign. */
static const char k_money[] = "(?:[¥$€£]|rmb|人民币)\\s?(\\d+(?:[,，]\\d{3})*(?:\\.\\d+)?)\\s?(万|千)?";

static const char k_handle[] =
    "(?:qq|扣扣|企鹅)(?:号|号码)?[:：\\s]{0,3}([1-9](?:[ -]?\\d){4,11})(?!\\d)"
    "|(?:微信|薇信|威信|v信|vx|wx|wechat|(?<![a-z])v(?=\\s?[:：]))(?:号)?[:：\\s]{0,3}"
    "([a-z][a-z0-9_-]{3,19}|1[3-9]\\d{9})(?![a-z0-9_-])"
    "|(telegram|whatsapp|飞机号)[:：\\s@]{0,3}@?([a-z0-9_+]{5,32})";

int fz_extractor_build(fz_extractor *x, const fz_ruleset *rs, fz_diags *diags)
{
    fz_buf url = FZ_BUF_INIT;
    /* With a scheme or www., any host; without, only hosts ending in a known
     * (or typo) top-level domain, so that "3.5元" or "e.g" are not URLs. */
    int rc = fz_buf_puts(&url, "(?<![a-z0-9@._-])(?:(?:https?://|www\\.)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\\.[a-z0-9-]+)*"
                               "|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+(?:") ||
             fz_buf_puts(&url, k_tlds);
    for (size_t i = 0; i < rs->n_typo_tlds && !rc; i++)
        rc = fz_buf_puts(&url, "|") || fz_buf_puts(&url, rs->typo_tlds[i]);
    rc = rc || fz_buf_puts(&url, ")(?![a-z0-9-]))(?::\\d{1,5})?(?:[/?#][a-z0-9._~%!$&'()*+,;=:@/?#-]*)?");
    if (rc) {
        fz_buf_free(&url);
        return FZ_ENOMEM;
    }
    x->url = compile_one(url.data, PCRE2_ANCHORED, diags);
    fz_buf_free(&url);
    /* Every brand token in one alternation: a host is searched once. */
    fz_buf tokens = FZ_BUF_INIT;
    for (size_t b = 0; b < rs->n_brands; b++)
        for (size_t t = 0; t < rs->brands[b].n_tokens; t++) {
            if (tokens.len && fz_buf_lit(&tokens, "|"))
                return FZ_ENOMEM;
            for (const char *c = rs->brands[b].tokens[t]; *c; c++)
                if ((!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                       (unsigned char)*c >= 0x80) && fz_buf_lit(&tokens, "\\")) ||
                    fz_buf_append(&tokens, c, 1))
                    return FZ_ENOMEM;
        }
    if (tokens.len)
        x->brands = compile_one(tokens.data, 0, diags);
    fz_buf_free(&tokens);
    x->digits = compile_one(k_digits, PCRE2_ANCHORED, diags);
    x->money = compile_one(k_money, PCRE2_ANCHORED, diags);
    x->handle = compile_one(k_handle, 0, diags);
    return x->url && x->digits && x->money && x->handle && (x->brands || rs->n_brands == 0) ? 0 : FZ_ERULES;
}

void fz_extractor_free(fz_extractor *x)
{
    pcre2_code_free(x->url);
    pcre2_code_free(x->digits);
    pcre2_code_free(x->money);
    pcre2_code_free(x->handle);
    pcre2_code_free(x->brands);
}

/* --- look-alike hosts ------------------------------------------------------------------------------ */

static int host_ends_with(const char *host, size_t hl, const char *dom)
{
    size_t dl = strlen(dom);
    if (dl > hl)
        return 0;
    if (memcmp(host + hl - dl, dom, dl) != 0)
        return 0;
    return dl == hl || host[hl - dl - 1] == '.';
}

/* The brand whose token was found at [s, s + n), or NULL. */
static const fz_brand *brand_of(const fz_ruleset *rs, const char *s, size_t n)
{
    for (size_t b = 0; b < rs->n_brands; b++)
        for (size_t t = 0; t < rs->brands[b].n_tokens; t++)
            if (strlen(rs->brands[b].tokens[t]) == n && strncasecmp(rs->brands[b].tokens[t], s, n) == 0)
                return &rs->brands[b];
    return NULL;
}

static int is_lookalike(const fz_engine *e, const fz_worker *w, const char *host, size_t hl, size_t host_off)
{
    const fz_ruleset *rs = e->rs;
    if (fz_norm_swapped_in(w->norm, host_off, host_off + hl))
        return 1;
    if (hl >= 4 && (memcmp(host, "xn--", 4) == 0 || memmem(host, hl, ".xn--", 5)))
        return 1;
    const char *dot = memrchr(host, '.', hl);
    if (dot) {
        size_t tl = hl - (size_t)(dot + 1 - host);
        for (size_t i = 0; i < rs->n_typo_tlds; i++)
            if (strlen(rs->typo_tlds[i]) == tl && memcmp(dot + 1, rs->typo_tlds[i], tl) == 0)
                return 1;
    }
    /* A host that names a brand outside the brand's own domains. */
    for (size_t off = 0; e->ex.brands && off < hl;) {
        if (pcre2_match(e->ex.brands, (PCRE2_SPTR)host, hl, off, PCRE2_NO_UTF_CHECK, w->md, NULL) < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
        const fz_brand *br = brand_of(rs, host + ov[0], ov[1] - ov[0]);
        int own = 0;
        for (size_t o = 0; br && o < br->n_official && !own; o++)
            own = host_ends_with(host, hl, br->official[o]);
        if (br && !own)
            return 1;
        off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    return 0;
}

/* --- what an anchored match found ------------------------------------------------------------------- */

typedef struct {
    const fz_engine *e;
    fz_worker *w;
    fz_verdict *v;
    const char *text;
    size_t len;
    uint32_t found;         /* entity kinds seen, as bits */
} ex_ctx;

static int add(ex_ctx *c, int kind, const char *s, size_t n, double amount)
{
    c->found |= 1u << kind;
    return fz_verdict_add_entity(c->v, kind, s, n, amount);
}

static int found_url(ex_ctx *c, size_t start, size_t end)
{
    const char *s = c->text + start;
    size_t n = end - start;
    while (n > 0 && strchr(".,;:!?)'", s[n - 1]))     /* the sentence's, not the URL's */
        n--;
    if (add(c, FZ_ENT_URL, s, n, 0))
        return FZ_ENOMEM;
    size_t h = 0;
    if (n > 8 && strncasecmp(s, "https://", 8) == 0) h = 8;
    else if (n > 7 && strncasecmp(s, "http://", 7) == 0) h = 7;
    size_t he = h;
    while (he < n && s[he] != '/' && s[he] != ':' && s[he] != '?' && s[he] != '#')
        he++;
    char host[256];
    size_t hl = he - h < sizeof host ? he - h : sizeof host - 1;
    for (size_t i = 0; i < hl; i++)
        host[i] = (char)((s[h + i] >= 'A' && s[h + i] <= 'Z') ? s[h + i] + 32 : s[h + i]);
    if (is_lookalike(c->e, c->w, host, hl, start + h))
        return add(c, FZ_ENT_LOOKALIKE, host, hl, 0) ? FZ_ENOMEM : 0;
    return 0;
}

static int found_phone(ex_ctx *c, const char *s, size_t n)
{
    fz_number num;
    if (fz_number_canon(s, n, &num))
        return 0;
    char out[32];
    size_t k = 0;
    if (num.international)
        out[k++] = '+';
    memcpy(out + k, num.digits, num.len);
    return add(c, FZ_ENT_PHONE, out, k + num.len, 0) ? FZ_ENOMEM : 0;
}

static int found_card(ex_ctx *c, const char *s, size_t n)
{
    char out[32];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof out; i++)
        if (s[i] >= '0' && s[i] <= '9')
            out[k++] = s[i];
    return add(c, FZ_ENT_CARD, out, k, 0) ? FZ_ENOMEM : 0;
}

/* "12,345.67" -> 12345.67, without strtod's locale machinery. */
static double parse_decimal(const char *s, size_t n)
{
    double v = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (s[i] - '0');
            if (scale)
                scale *= 10;
        } else if (s[i] == '.' && !scale) {
            scale = 1;
        }
    }
    return scale ? v / scale : v;
}

static int found_amount(ex_ctx *c, size_t start, size_t end, const char *num, size_t nl, const char *unit, size_t ul)
{
    double value = parse_decimal(num, nl);
    if (unit && ul >= 3 && memcmp(unit, "万", 3) == 0)
        value *= 10000;
    else if (unit && ul >= 3 && memcmp(unit, "千", 3) == 0)
        value *= 1000;
    return add(c, FZ_ENT_AMOUNT, c->text + start, end - start, value) ? FZ_ENOMEM : 0;
}

#define GROUP(ov, g) ((ov)[2 * (g)] != PCRE2_UNSET)
#define GLEN(ov, g) ((ov)[2 * (g) + 1] - (ov)[2 * (g)])

/* Try re anchored at pos; *end receives the end of the match. */
static int try_at(ex_ctx *c, pcre2_code *re, size_t pos, PCRE2_SIZE **ov)
{
    if (pcre2_jit_match(re, (PCRE2_SPTR)c->text, c->len, pos, 0, c->w->md_ex, NULL) < 0)
        return 0;
    *ov = pcre2_get_ovector_pointer(c->w->md_ex);
    return 1;
}

/* 1 when a unit of money starts at s: 元 万 千 块 美元, rmb, usd. */
static int unit_at(const char *s, size_t left)
{
    static const char *const units[] = {"元", "万", "千", "块", "美"};
    if (left >= 3 && ((s[0] | 32) == 'r' || (s[0] | 32) == 'u'))
        return 1;
    for (size_t i = 0; left >= 3 && i < sizeof units / sizeof units[0]; i++)
        if (memcmp(s, units[i], 3) == 0)
            return 1;
    return 0;
}

/* Can the digit run at pos start a card, phone number or amount? Short runs
 * that are neither followed by a unit nor continued ("11月", "第3位") are
 * by far the most common, and need no PCRE2 call. */
static int digits_worth_trying(const char *t, size_t len, size_t pos, size_t *run_end)
{
    size_t j = pos;
    while (j < len && t[j] >= '0' && t[j] <= '9')
        j++;
    *run_end = j;
    if (j - pos >= 5 || (pos > 0 && t[pos - 1] == '+'))
        return 1;
    if (j >= len)
        return 0;
    if ((t[j] == ' ' || t[j] == '-' || t[j] == '.' || t[j] == ',') && j + 1 < len)
        return (t[j + 1] >= '0' && t[j + 1] <= '9') || unit_at(t + j + 1, len - j - 1);
    /* A full-width comma between thousands (１，８６０元: the normalizer
     * keeps "，", which is also Chinese punctuation). */
    if (len - j > 3 && memcmp(t + j, "，", 3) == 0)
        return t[j + 3] >= '0' && t[j + 3] <= '9';
    return unit_at(t + j, len - j);
}

/* At the first digit of a run: a card, a phone number or an amount. Returns
 * where scanning should resume. */
static size_t at_digits(ex_ctx *c, size_t pos, int *rc)
{
    PCRE2_SIZE *ov;
    size_t run_end;
    if (!digits_worth_trying(c->text, c->len, pos, &run_end))
        return run_end;
    size_t at = pos > 0 && c->text[pos - 1] == '+' ? pos - 1 : pos;
    if (!try_at(c, c->e->ex.digits, at, &ov))
        return run_end;
    const char *t = c->text;
    if (GROUP(ov, 1))
        *rc = found_card(c, t + ov[2], GLEN(ov, 1));
    else if (GROUP(ov, 2))
        *rc = found_phone(c, t + ov[4], GLEN(ov, 2));
    else if (GROUP(ov, 3))
        *rc = found_amount(c, ov[0], ov[1], t + ov[6], GLEN(ov, 3), t + ov[8], GLEN(ov, 4));
    return ov[1] > pos ? ov[1] : pos + 1;
}

/* Currency signs: ¥ $ € £, rmb, 人民币. Returns the sign's length, or 0.
 * Only called for the bytes that can start one (see k_lead). */
static size_t currency_at(const char *t, size_t len, size_t i)
{
    const unsigned char *u = (const unsigned char *)t + i;
    size_t left = len - i;
    if (u[0] == '$') return 1;
    if (left >= 2 && u[0] == 0xC2 && (u[1] == 0xA5 || u[1] == 0xA3)) return 2;
    if (left >= 3 && memcmp(u, "€", 3) == 0) return 3;
    if (left >= 9 && memcmp(u, "人民币", 9) == 0) return 9;
    if (left >= 3 && (u[0] | 32) == 'r' && (u[1] | 32) == 'm' && (u[2] | 32) == 'b') return 3;
    return 0;
}

static int is_url_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == ':' || ch == '/' || ch == '_';
}

/* A URL-like token starting at i (letters, digits, . - : / _) with a dot in it. */
static size_t url_token(const char *t, size_t len, size_t i, int *has_dot)
{
    size_t j = i;
    *has_dot = 0;
    while (j < len && is_url_char((unsigned char)t[j]))
        *has_dot |= t[j++] == '.';
    return j;
}

/* Which bytes can start something: a digit, a URL token, a currency sign. */
enum { L_DIGIT = 1, L_URL = 2, L_MONEY = 4 };
static unsigned char k_lead[256];
static pthread_once_t k_lead_once = PTHREAD_ONCE_INIT;

static void build_lead(void)
{
    for (int b = 0; b < 256; b++) {
        unsigned char l = 0;
        if (b >= '0' && b <= '9')
            l |= L_DIGIT;
        if (is_url_char((unsigned char)b) && b != '.')
            l |= L_URL;
        if (b == '$' || b == 0xC2 || b == 0xE2 || b == 0xE4 || b == 'r' || b == 'R')
            l |= L_MONEY;
        k_lead[b] = l;
    }
}

/* One pass over the bytes, trying the anchored programs where they can start. */
static int scan_candidates(ex_ctx *c, int digits, int money, int urls)
{
    const char *t = c->text;
    size_t len = c->len, url_end = 0;
    int rc = 0;
    unsigned want = (digits ? L_DIGIT : 0) | (urls ? L_URL : 0) | (money ? L_MONEY : 0);
    for (size_t i = 0; i < len && !rc && c->v->n_ents < FZ_MAX_ENTITIES;) {
        unsigned char ch = (unsigned char)t[i];
        unsigned lead = k_lead[ch] & want;
        if (!lead) {
            i++;
            continue;
        }
        if ((lead & L_URL) && i >= url_end && (i == 0 || !is_url_char((unsigned char)t[i - 1]))) {
            int dot;
            url_end = url_token(t, len, i, &dot);
            PCRE2_SIZE *ov;
            if (dot && try_at(c, c->e->ex.url, i, &ov)) {
                rc = found_url(c, ov[0], ov[1]);
                url_end = ov[1];
            }
        }
        if ((lead & L_DIGIT) && (i == 0 || t[i - 1] < '0' || t[i - 1] > '9')) {
            i = at_digits(c, i, &rc);
            continue;
        }
        size_t cl;
        if ((lead & L_MONEY) && (cl = currency_at(t, len, i)) != 0) {
            PCRE2_SIZE *ov;
            if (try_at(c, c->e->ex.money, i, &ov)) {
                rc = found_amount(c, ov[0], ov[1], t + ov[2], GLEN(ov, 1), GROUP(ov, 2) ? t + ov[4] : NULL,
                                  GROUP(ov, 2) ? GLEN(ov, 2) : 0);
                i = ov[1];
                continue;
            }
            i += cl;
            continue;
        }
        i++;
    }
    return rc;
}

static int scan_handles(ex_ctx *c)
{
    size_t off = 0;
    const char *t = c->text;
    while (off < c->len && c->v->n_ents < FZ_MAX_ENTITIES) {
        if (pcre2_jit_match(c->e->ex.handle, (PCRE2_SPTR)t, c->len, off, 0, c->w->md_ex, NULL) < 0)
            return 0;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->w->md_ex);
        char out[96];
        int n = 0;
        if (GROUP(ov, 1)) {
            char digits[32];
            size_t k = 0;
            for (size_t i = ov[2]; i < ov[3] && k < sizeof digits - 1; i++)
                if (t[i] >= '0' && t[i] <= '9')
                    digits[k++] = t[i];
            n = snprintf(out, sizeof out, "qq:%.*s", (int)k, digits);
        }
        else if (GROUP(ov, 2))
            n = snprintf(out, sizeof out, "wechat:%.*s", (int)GLEN(ov, 2), t + ov[4]);
        else if (GROUP(ov, 3) && GROUP(ov, 4))
            /* 飞机号 ("plane number") is how Chinese scams name Telegram. */
            n = snprintf(out, sizeof out, "%s:%.*s", (t[ov[6]] | 32) == 'w' ? "whatsapp" : "telegram",
                         (int)GLEN(ov, 4), t + ov[8]);
        if (n > 0 && add(c, FZ_ENT_HANDLE, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1, 0))
            return FZ_ENOMEM;
        off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    return 0;
}

int fz_extract(const fz_engine *e, fz_worker *w, const char *text, size_t len, fz_verdict *v)
{
    pthread_once(&k_lead_once, build_lead);
    ex_ctx c = {e, w, v, text, len, 0};
    uint32_t trig = w->triggers;
    int rc = 0;
    if (trig & ((1u << FZ_TRIG_URL) | (1u << FZ_TRIG_DIGITS) | (1u << FZ_TRIG_AMOUNT)))
        rc = scan_candidates(&c, (trig & ((1u << FZ_TRIG_DIGITS) | (1u << FZ_TRIG_AMOUNT))) != 0,
                             (trig & (1u << FZ_TRIG_AMOUNT)) != 0, (trig & (1u << FZ_TRIG_URL)) != 0);
    if (!rc && (trig & (1u << FZ_TRIG_HANDLE)))
        rc = scan_handles(&c);
    v->entity_kinds |= c.found;
    return rc;
}
