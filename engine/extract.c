/* extract.c — entities in the normalized text, with PCRE2: URLs and bare
 * domains (look-alikes flagged), phone numbers, bank-card-like numbers,
 * QQ / WeChat / messenger handles and amounts of money. Also reads
 * rules/domains.yaml, the brands whose names in a host give a look-alike away.
 *
 * How it works. The matcher's Hyperscan scan already told us which kinds can
 * be present (a trigger expression per kind: a dot before letters, a run of
 * digits, a contact word, a currency); only those kinds' PCRE2 programs run.
 * Each found entity goes into the verdict (its value canonical: digits only
 * for numbers, the amount in units) and sets its entity.* signal, which rules
 * can combine with. A host is a look-alike when the normalizer swapped a
 * letter for a digit inside it (l0086), when its top-level domain is a typo
 * (.con), when it is punycode, or when it names a brand but is not one of
 * that brand's own domains (10086-jf.cn, icbc-vip.top). */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "ydoc.h"

static const char *const k_tlds =
    "cn|com|net|org|gov|edu|top|xyz|vip|cc|info|biz|club|site|online|shop|icu|link|win|ltd|co|me|io|"
    "tk|ml|ga|cf|gq|pw|buzz|work|live|store|tech|fun|space|website|ink|kim|wang|xin|im|hk|tw|mo|us|uk|"
    "app|dev|ws|la|so|to|ly|gl|gd|mobi|pro|asia|one|red|ren|fit|bid|loan|men|date|run|cyou|sbs|cfd|"
    "bond|lol|rest|autos|beauty|hair|skin|quest|help|click|page|ai|gg|cx|nu|ru|su|de|fr|jp|kr|in|au|ca|eu|net\\.cn|com\\.cn";

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

static pcre2_code *compile_one(const char *pattern, fz_diags *diags)
{
    int errcode;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_CASELESS,
                                   &errcode, &off, NULL);
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

int fz_extractor_build(fz_extractor *x, const fz_ruleset *rs, fz_diags *diags)
{
    fz_buf tlds = FZ_BUF_INIT, url = FZ_BUF_INIT;
    int rc = fz_buf_puts(&tlds, k_tlds);
    for (size_t i = 0; i < rs->n_typo_tlds && !rc; i++)
        rc = fz_buf_puts(&tlds, "|") || fz_buf_puts(&tlds, rs->typo_tlds[i]);
    /* With a scheme or www., any host; without, only hosts ending in a known
     * (or typo) top-level domain, so that "3.5元" or "e.g" are not URLs. */
    rc = rc || fz_buf_puts(&url, "(?:https?://|www\\.)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\\.[a-z0-9-]+)*"
                                 "(?::\\d{1,5})?(?:[/?#][a-z0-9._~%!$&'()*+,;=:@/?#-]*)?"
                                 "|(?<![a-z0-9@._-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+(?:") ||
         fz_buf_puts(&url, tlds.data) ||
         fz_buf_puts(&url, ")(?![a-z0-9-])(?::\\d{1,5})?(?:[/?#][a-z0-9._~%!$&'()*+,;=:@/?#-]*)?");
    if (rc) {
        fz_buf_free(&tlds);
        fz_buf_free(&url);
        return FZ_ENOMEM;
    }
    x->url = compile_one(url.data, diags);
    fz_buf_free(&tlds);
    fz_buf_free(&url);
    x->phone = compile_one(
        "(?<![\\w+])(?:(?:\\+|00)86[- ]?)?1[3-9]\\d(?:[- ]?\\d){8}(?!\\d)"       /* mobile */
        "|(?<![\\w+])0[1-9]\\d{1,2}[- ]?\\d{7,8}(?!\\d)"                          /* landline */
        "|(?<![\\w+])[48]00[- ]?\\d{3}[- ]?\\d{4}(?!\\d)"                         /* 400 / 800 */
        "|(?<![\\w+])(?:95|96|10|12)\\d{3}(?![\\w.,]|元|万|块|千|百|%)"            /* service numbers */
        "|(?:\\+|(?<![\\w+])00)[1-9]\\d{6,14}(?!\\d)", diags);                    /* international */
    x->card = compile_one("(?<!\\d)\\d{4}(?:[ -]?\\d{4}){3}(?:\\d{1,3})?(?!\\d)", diags);
    x->handle = compile_one(
        "(?:qq|扣扣|企鹅)(?:号|号码)?[:：\\s]{0,3}([1-9]\\d{4,11})(?!\\d)"
        "|(?:微信|薇信|威信|v信|vx|wx|wechat)(?:号)?[:：\\s]{0,3}([a-z][a-z0-9_-]{5,19}|1[3-9]\\d{9})(?![a-z0-9_-])"
        "|(telegram|whatsapp|飞机号)[:：\\s@]{0,3}@?([a-z0-9_+]{5,32})", diags);
    x->amount = compile_one(
        "(?:[¥$€£]|rmb|人民币)\\s?(\\d+(?:,\\d{3})*(?:\\.\\d+)?)\\s?(万|千)?"
        "|(?<![\\d.])(\\d+(?:,\\d{3})*(?:\\.\\d+)?)\\s?(万元|万|千元|元|块|rmb|美元|usd)", diags);
    return x->url && x->phone && x->card && x->handle && x->amount ? 0 : FZ_ERULES;
}

void fz_extractor_free(fz_extractor *x)
{
    pcre2_code_free(x->url);
    pcre2_code_free(x->phone);
    pcre2_code_free(x->card);
    pcre2_code_free(x->handle);
    pcre2_code_free(x->amount);
}

/* --- extraction ------------------------------------------------------------------------------ */

typedef int (*found_fn)(const fz_engine *e, fz_worker *w, const char *text, PCRE2_SIZE *ov, int groups, fz_verdict *v);

/* Run re over the text and call found for each match. */
static int each_match(const fz_engine *e, fz_worker *w, pcre2_code *re, const char *text, size_t len,
                      pcre2_match_data *md, found_fn found, fz_verdict *v)
{
    size_t off = 0;
    while (off < len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0)
            return 0;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        int err = found(e, w, text, ov, rc, v);
        if (err)
            return err;
        off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    return 0;
}

static int host_ends_with(const char *host, size_t hl, const char *dom)
{
    size_t dl = strlen(dom);
    if (dl > hl)
        return 0;
    if (memcmp(host + hl - dl, dom, dl) != 0)
        return 0;
    return dl == hl || host[hl - dl - 1] == '.';
}

static int contains(const char *hay, size_t hl, const char *needle)
{
    size_t nl = strlen(needle);
    return nl && memmem(hay, hl, needle, nl) != NULL;
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
    for (size_t b = 0; b < rs->n_brands; b++) {
        const fz_brand *br = &rs->brands[b];
        int named = 0;
        for (size_t t = 0; t < br->n_tokens && !named; t++)
            named = contains(host, hl, br->tokens[t]);
        if (!named)
            continue;
        int own = 0;
        for (size_t o = 0; o < br->n_official && !own; o++)
            own = host_ends_with(host, hl, br->official[o]);
        if (!own)
            return 1;
    }
    return 0;
}

static int found_url(const fz_engine *e, fz_worker *w, const char *text, PCRE2_SIZE *ov, int groups, fz_verdict *v)
{
    (void)groups;
    const char *s = text + ov[0];
    size_t n = ov[1] - ov[0];
    /* Trailing punctuation belongs to the sentence, not the URL. */
    while (n > 0 && strchr(".,;:!?)'", s[n - 1]))
        n--;
    if (fz_verdict_add_entity(v, FZ_ENT_URL, s, n, 0))
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
    if (is_lookalike(e, w, host, hl, ov[0] + h)) {
        if (fz_verdict_add_entity(v, FZ_ENT_LOOKALIKE, host, hl, 0))
            return FZ_ENOMEM;
        fz_bit_set(w->bits, fz_signal_entity(e->rs, FZ_ENT_LOOKALIKE));
    }
    return 0;
}

static int found_phone(const fz_engine *e, fz_worker *w, const char *text, PCRE2_SIZE *ov, int groups, fz_verdict *v)
{
    (void)e;
    (void)w;
    (void)groups;
    fz_number num;
    if (fz_number_canon(text + ov[0], ov[1] - ov[0], &num))
        return 0;
    char out[32];
    size_t k = 0;
    if (num.international)
        out[k++] = '+';
    memcpy(out + k, num.digits, num.len);
    return fz_verdict_add_entity(v, FZ_ENT_PHONE, out, k + num.len, 0) ? FZ_ENOMEM : 0;
}

static int found_card(const fz_engine *e, fz_worker *w, const char *text, PCRE2_SIZE *ov, int groups, fz_verdict *v)
{
    (void)e;
    (void)w;
    (void)groups;
    char out[32];
    size_t k = 0;
    for (size_t i = ov[0]; i < ov[1] && k < sizeof out; i++)
        if (text[i] >= '0' && text[i] <= '9')
            out[k++] = text[i];
    return fz_verdict_add_entity(v, FZ_ENT_CARD, out, k, 0) ? FZ_ENOMEM : 0;
}

static int found_handle(const fz_engine *e, fz_worker *w, const char *text, PCRE2_SIZE *ov, int groups, fz_verdict *v)
{
    (void)e;
    (void)w;
    char out[96];
    int n = 0;
    if (groups > 1 && ov[2] != PCRE2_UNSET)
        n = snprintf(out, sizeof out, "qq:%.*s", (int)(ov[3] - ov[2]), text + ov[2]);
    else if (groups > 2 && ov[4] != PCRE2_UNSET)
        n = snprintf(out, sizeof out, "wechat:%.*s", (int)(ov[5] - ov[4]), text + ov[4]);
    else if (groups > 4 && ov[6] != PCRE2_UNSET && ov[8] != PCRE2_UNSET) {
        /* 飞机号 ("plane number") is how Chinese scams name Telegram. */
        const char *app = (text[ov[6]] == 'w' || text[ov[6]] == 'W') ? "whatsapp" : "telegram";
        n = snprintf(out, sizeof out, "%s:%.*s", app, (int)(ov[9] - ov[8]), text + ov[8]);
    }
    if (n <= 0)
        return 0;
    return fz_verdict_add_entity(v, FZ_ENT_HANDLE, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1, 0)
               ? FZ_ENOMEM : 0;
}

static double parse_amount(const char *s, size_t n)
{
    char buf[48];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof buf - 1; i++)
        if (s[i] != ',')
            buf[k++] = s[i];
    buf[k] = '\0';
    return strtod(buf, NULL);
}

static int found_amount(const fz_engine *e, fz_worker *w, const char *text, PCRE2_SIZE *ov, int groups, fz_verdict *v)
{
    (void)e;
    (void)w;
    double value;
    const char *unit = NULL;
    size_t ul = 0;
    if (groups > 1 && ov[2] != PCRE2_UNSET) {
        value = parse_amount(text + ov[2], ov[3] - ov[2]);
        if (groups > 2 && ov[4] != PCRE2_UNSET) {
            unit = text + ov[4];
            ul = ov[5] - ov[4];
        }
    } else if (groups > 3 && ov[6] != PCRE2_UNSET) {
        value = parse_amount(text + ov[6], ov[7] - ov[6]);
        if (groups > 4 && ov[8] != PCRE2_UNSET) {
            unit = text + ov[8];
            ul = ov[9] - ov[8];
        }
    } else {
        return 0;
    }
    if (unit && ul >= 3 && memcmp(unit, "万", 3) == 0)
        value *= 10000;
    else if (unit && ul >= 3 && memcmp(unit, "千", 3) == 0)
        value *= 1000;
    return fz_verdict_add_entity(v, FZ_ENT_AMOUNT, text + ov[0], ov[1] - ov[0], value) ? FZ_ENOMEM : 0;
}

static int extract_kind(const fz_engine *e, fz_worker *w, pcre2_code *re, found_fn fn, int kind,
                        const char *text, size_t len, fz_verdict *v, pcre2_match_data *md)
{
    size_t before = v->n_ents;
    int rc = each_match(e, w, re, text, len, md, fn, v);
    for (size_t i = before; i < v->n_ents; i++)
        if (v->ents[i].kind == kind) {
            fz_bit_set(w->bits, fz_signal_entity(e->rs, kind));
            break;
        }
    return rc;
}

int fz_extract(const fz_engine *e, fz_worker *w, const char *text, size_t len, fz_verdict *v)
{
    const fz_extractor *x = &e->ex;
    pcre2_match_data *md = w->md_ex;
    int rc = 0;
    if (w->triggers & (1u << FZ_TRIG_URL))
        rc = extract_kind(e, w, x->url, found_url, FZ_ENT_URL, text, len, v, md);
    if (!rc && (w->triggers & (1u << FZ_TRIG_DIGITS))) {
        rc = extract_kind(e, w, x->card, found_card, FZ_ENT_CARD, text, len, v, md);
        if (!rc)
            rc = extract_kind(e, w, x->phone, found_phone, FZ_ENT_PHONE, text, len, v, md);
    }
    if (!rc && (w->triggers & (1u << FZ_TRIG_HANDLE)))
        rc = extract_kind(e, w, x->handle, found_handle, FZ_ENT_HANDLE, text, len, v, md);
    if (!rc && (w->triggers & (1u << FZ_TRIG_AMOUNT)))
        rc = extract_kind(e, w, x->amount, found_amount, FZ_ENT_AMOUNT, text, len, v, md);
    return rc;
}
