/* warnings.c — the words residents read: rules/warnings.yaml, what a
 * warning may never say, and rendering one for a resident or guardian.
 *
 * A template is chosen by language, role (the resident, or a guardian) and
 * the scam's category, falling back to the language's default for the
 * role. It names the kind of scam ({kind}, from the `kinds` table), whom it
 * speaks to ({name}) and, for guardians, whom the scam reached ({resident}).
 *
 * A warning must be something a 75-year-old can trust at a glance, and a
 * scammer must not be able to imitate it. So every template, rendered with
 * a sample name and the longest kind, is checked after normalization (the
 * same canonical text the scam rules see): no link or domain, no number of
 * three digits or more except 96110 and 110, no instruction to reply, call
 * back, click or scan unless it is negated ("不要回复" is advice; "回复1"
 * is what scammers write), and short: one SMS (70 Chinese or 160 Latin
 * characters) draws a warning, two draw an error. Names from the registry
 * are reduced to letters before they are put in, so no record can smuggle a
 * link or a number into a warning either. */
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "engine_internal.h"
#include "normalize_internal.h"
#include "utf8.h"
#include "warnings.h"
#include "ydoc.h"

static const char *const k_lang[FZ_LANG_COUNT] = {"zh", "en"};
static const char *const k_role[FZ_ROLE_COUNT] = {"resident", "guardian"};

int fz_lang_index(const char *s)
{
    for (int i = 0; i < FZ_LANG_COUNT; i++)
        if (s && strcmp(s, k_lang[i]) == 0)
            return i;
    return -1;
}

const char *fz_role_name(int role)
{
    return k_role[role];
}

/* --- reading warnings.yaml ------------------------------------------------------------ */

static fz_pos pos_of(fz_ydoc *d, const yaml_node_t *n)
{
    return (fz_pos){d->file, fz_ynode_line(n), fz_ynode_col(n)};
}

static int parse_kinds(fz_ruleset *rs, fz_ydoc *d, yaml_node_t *kinds)
{
    static const char *const langs[] = {"zh", "en", NULL};
    int bad = fz_ydoc_check_keys(d, kinds, langs, NULL, "kinds");
    for (int l = 0; l < FZ_LANG_COUNT; l++) {
        yaml_node_t *m = fz_ydoc_get(d, kinds, k_lang[l]);
        if (!m)
            continue;
        if (!fz_ynode_is(m, YAML_MAPPING_NODE)) {
            fz_ydoc_error(d, m, NULL, "kinds.%s maps categories to what residents call them", k_lang[l]);
            bad++;
            continue;
        }
        size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
        fz_kind *k = fz_arena_alloc(&rs->arena, (n + 1) * sizeof *k);
        if (!k)
            return bad + 1;
        rs->warnings.kinds[l] = k;
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
            char *key, *name;
            if (fz_ydoc_string(d, fz_ydoc_node(d, p->key), NULL, "category", &key) ||
                fz_ydoc_string(d, fz_ydoc_node(d, p->value), NULL, "kind", &name)) {
                bad++;
                continue;
            }
            k[rs->warnings.n_kinds[l]++] = (fz_kind){key, name};
        }
    }
    return bad;
}

static int parse_names(fz_ruleset *rs, fz_ydoc *d, yaml_node_t *names)
{
    static const char *const langs[] = {"zh", "en", NULL};
    int bad = fz_ydoc_check_keys(d, names, langs, NULL, "names");
    for (int l = 0; l < FZ_LANG_COUNT; l++) {
        yaml_node_t *v = fz_ydoc_get(d, names, k_lang[l]);
        char *s;
        if (v && fz_ydoc_string(d, v, NULL, "names", &s) == 0)
            rs->warnings.anonymous[l] = s;
        else if (v)
            bad++;
    }
    return bad;
}

static int pick(fz_ydoc *d, yaml_node_t *n, const char *what, const char *const *choices, int count, int *out)
{
    char *s;
    if (!n) {
        fz_ydoc_error(d, n, NULL, "a template needs '%s'", what);
        return -1;
    }
    if (fz_ydoc_string(d, n, NULL, what, &s))
        return -1;
    for (int i = 0; i < count; i++)
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    fz_ydoc_error(d, n, NULL, "%s must be %s or %s, not '%s'", what, choices[0], choices[1], s);
    return -1;
}

static int parse_template(fz_ydoc *d, yaml_node_t *t, fz_wtemplate *out)
{
    static const char *const keys[] = {"language", "to", "categories", "text", NULL};
    if (fz_ydoc_check_keys(d, t, keys, NULL, "template"))
        return -1;
    memset(out, 0, sizeof *out);
    out->pos = pos_of(d, t);
    yaml_node_t *text = fz_ydoc_get(d, t, "text"), *cats = fz_ydoc_get(d, t, "categories");
    if (pick(d, fz_ydoc_get(d, t, "language"), "language", k_lang, FZ_LANG_COUNT, &out->language) ||
        pick(d, fz_ydoc_get(d, t, "to"), "to", k_role, FZ_ROLE_COUNT, &out->role))
        return -1;
    if (!text) {
        fz_ydoc_error(d, t, NULL, "a template needs 'text'");
        return -1;
    }
    char *s;
    if (fz_ydoc_string(d, text, NULL, "text", &s))
        return -1;
    out->text = s;
    out->pos = pos_of(d, text);
    if (cats && fz_ydoc_strings(d, cats, NULL, "categories", (char ***)&out->categories, NULL, &out->n_categories))
        return -1;
    return 0;
}

int fz_warnings_parse(fz_ruleset *rs, fz_ydoc *d)
{
    static const char *const top[] = {"names", "kinds", "templates", NULL};
    yaml_node_t *root = fz_ydoc_root(d);
    int bad = fz_ydoc_check_keys(d, root, top, NULL, "warnings.yaml");
    fz_warnings *w = &rs->warnings;
    w->present = 1;
    w->pos = pos_of(d, root);
    yaml_node_t *kinds = fz_ydoc_get(d, root, "kinds"), *names = fz_ydoc_get(d, root, "names");
    yaml_node_t *tpls = fz_ydoc_get(d, root, "templates");
    if (kinds)
        bad += parse_kinds(rs, d, kinds);
    if (names)
        bad += parse_names(rs, d, names);
    if (!tpls || !fz_ynode_is(tpls, YAML_SEQUENCE_NODE)) {
        fz_ydoc_error(d, tpls ? tpls : root, NULL, "warnings.yaml needs 'templates', a list");
        return bad + 1;
    }
    size_t n = (size_t)(tpls->data.sequence.items.top - tpls->data.sequence.items.start);
    w->templates = fz_arena_alloc(&rs->arena, (n + 1) * sizeof *w->templates);
    if (!w->templates)
        return bad + 1;
    for (yaml_node_item_t *it = tpls->data.sequence.items.start; it < tpls->data.sequence.items.top; it++) {
        if (parse_template(d, fz_ydoc_node(d, *it), &w->templates[w->n_templates]))
            bad++;
        else
            w->n_templates++;
    }
    return bad;
}

/* --- choosing and rendering ---------------------------------------------------------- */

static const fz_wtemplate *choose(const fz_warnings *w, int lang, int role, const char *category)
{
    const fz_wtemplate *fallback = NULL;
    for (size_t i = 0; i < w->n_templates; i++) {
        const fz_wtemplate *t = &w->templates[i];
        if (t->language != lang || t->role != role)
            continue;
        if (t->n_categories == 0 && !fallback)
            fallback = t;
        for (size_t c = 0; category && c < t->n_categories; c++)
            if (strcmp(t->categories[c], category) == 0)
                return t;
    }
    return fallback;
}

static const char *kind_name(const fz_warnings *w, int lang, const char *category)
{
    const char *dflt = lang == FZ_LANG_ZH ? "诈骗" : "scam";
    for (size_t i = 0; i < w->n_kinds[lang]; i++) {
        if (category && strcmp(w->kinds[lang][i].category, category) == 0)
            return w->kinds[lang][i].name;
        if (strcmp(w->kinds[lang][i].category, "default") == 0)
            dflt = w->kinds[lang][i].name;
    }
    return dflt;
}

#define NAME_MAX_LETTERS 12

/* Letters (any script), spaces and the middle dot, at most 12 of them: a
 * name cannot carry a link or a number into a warning. Chinese numerals are
 * letters to Unicode, but three or more in a row (spaces between them
 * included) read as a number, and the normalizer turns such runs into
 * digits: they are dropped (张三 keeps its 三, 张伟九五五八八 becomes 张伟). */
static void sanitize_name(const char *in, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)(in ? in : ""), *end = p + strlen((const char *)p);
    uint32_t cps[4 * NAME_MAX_LETTERS];
    size_t n = 0;
    while (p < end && n < sizeof cps / sizeof *cps) {
        int len;
        uint32_t cp = fz_utf8_decode(p, end, &len);
        p += len;
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        int letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        if (!letter && cp != ' ' && cp != 0xB7)
            continue;
        if (cp == ' ' && (n == 0 || cps[n - 1] == ' '))
            continue;
        cps[n++] = cp;
    }
    for (size_t i = 0; i < n;) {
        if (fz_cnum_value(cps[i]) < 0) {
            i++;
            continue;
        }
        size_t j = i, numerals = 0;
        for (; j < n && (fz_cnum_value(cps[j]) >= 0 || cps[j] == ' '); j++)
            numerals += cps[j] != ' ';
        if (numerals >= 3)
            for (size_t m = i; m < j; m++)
                cps[m] = ' ';
        i = j;
    }
    size_t k = 0, count = 0;
    for (size_t i = 0; i < n && count < NAME_MAX_LETTERS && k + 5 <= cap; i++) {
        if (cps[i] == ' ' && (k == 0 || out[k - 1] == ' '))
            continue;
        k += (size_t)fz_utf8_encode(cps[i], out + k);
        count++;
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

/* Append s, collapsing runs of spaces into one; *full when it did not fit. */
static size_t put(char *out, size_t k, size_t cap, const char *s, size_t len, int *full)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ' && (k == 0 || out[k - 1] == ' '))
            continue;
        if (k + 1 >= cap) {
            *full = 1;
            break;
        }
        out[k++] = s[i];
    }
    out[k] = '\0';
    return k;
}

int fz_warning_render(const fz_ruleset *rs, int lang, int role, const char *category, const char *name,
                      const char *resident_name, char *out, size_t cap)
{
    const fz_warnings *w = &rs->warnings;
    if (cap)
        out[0] = '\0';
    if (lang < 0 || lang >= FZ_LANG_COUNT || role < 0 || role >= FZ_ROLE_COUNT)
        return FZ_ENOENT;
    const fz_wtemplate *t = choose(w, lang, role, category);
    if (!t)
        return FZ_ENOENT;
    if (cap < 2)
        return FZ_ETOOBIG;
    char clean_name[64], clean_resident[64];
    sanitize_name(name, clean_name, sizeof clean_name);
    sanitize_name(resident_name, clean_resident, sizeof clean_resident);
    const char *anon = w->anonymous[lang] ? w->anonymous[lang] : "";
    size_t k = 0;
    int full = 0;
    const char *p = t->text;
    while (*p && !full) {
        const char *v = NULL;
        size_t skip = 0;
        if (strncmp(p, "{name}", 6) == 0)
            v = clean_name[0] ? clean_name : anon, skip = 6;
        else if (strncmp(p, "{kind}", 6) == 0)
            v = kind_name(w, lang, category), skip = 6;
        else if (strncmp(p, "{resident}", 10) == 0)
            v = clean_resident, skip = 10;
        if (v) {
            k = put(out, k, cap, v, strlen(v), &full);
            p += skip;
        } else {
            k = put(out, k, cap, p++, 1, &full);
        }
    }
    /* never half a warning (nor half a character) */
    if (full) {
        out[0] = '\0';
        return FZ_ETOOBIG;
    }
    while (k && out[k - 1] == ' ')
        out[--k] = '\0';
    return 0;
}

/* --- what a warning may never say ------------------------------------------------------- */

typedef struct checker {
    fz_ruleset *rs;
    fz_diags *diags;
    fz_norm *norm;
    pcre2_code *link;
    pcre2_match_data *md;
} checker;

static void complain(checker *c, fz_diag_level level, const fz_wtemplate *t, const char *fmt, const char *detail)
{
    char what[64];
    snprintf(what, sizeof what, "%s template (%s)", k_role[t->role], k_lang[t->language]);
    fz_diag_emit(c->diags, level, t->pos.file, t->pos.line, t->pos.col, NULL, "%s: %s%s", what, fmt, detail);
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Bytes of the character at s[i] when it is one of those that split a
 * written number into groups (400-123-4567, 95.58.8, (40) 01, 9·5·5), else 0. */
static size_t number_separator(const char *s, size_t i, size_t n)
{
    if (s[i] && strchr(" -./()_*~", s[i]))
        return 1;
    static const char *const wide[] = {"\xC2\xB7", "\xE2\x80\x93", "\xE2\x80\x94", "\xE3\x83\xBB"}; /* · – — ・ */
    for (size_t w = 0; w < sizeof wide / sizeof *wide; w++) {
        size_t l = strlen(wide[w]);
        if (i + l <= n && memcmp(s + i, wide[w], l) == 0)
            return l;
    }
    return 0;
}

static int allowed_number(const char *digits)
{
    return strcmp(digits, "110") == 0 || strcmp(digits, "96110") == 0;
}

/* Numbers of three digits or more: only the anti-fraud hotline and the
 * police may be named. Digit groups one or two separators apart are one
 * number (95.58.8 is 95588), unless what is left besides groups that are
 * themselves 96110 or 110 is under three digits ("96110/110", "96110 (24h)"). */
static void check_numbers(checker *c, const fz_wtemplate *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (!is_digit(s[i])) {
            i++;
            continue;
        }
        char digits[32], group[32];
        size_t k = 0, g = 0, other = 0;
        for (;;) {
            while (i < n && is_digit(s[i])) {
                if (k + 1 < sizeof digits)
                    digits[k++] = s[i];
                if (g + 1 < sizeof group)
                    group[g++] = s[i];
                i++;
            }
            group[g] = '\0';
            if (!allowed_number(group))
                other += g;
            g = 0;
            size_t j = i, seps = 0, l;
            while (seps < 2 && j < n && (l = number_separator(s, j, n)) > 0)
                j += l, seps++;
            if (seps == 0 || j >= n || !is_digit(s[j]))
                break;
            i = j;
        }
        digits[k] = '\0';
        if (k >= 3 && !allowed_number(digits) && other >= 3)
            complain(c, FZ_DIAG_ERROR, t, "names a number other than 96110 or 110: ", digits);
    }
}

static int is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Punctuation that ends a clause: a negation does not reach across it. */
static int clause_break(uint32_t cp)
{
    switch (cp) {
    case ',': case '.': case ';': case ':': case '!': case '?': case '"': case '\n':
    case 0xFF0C: case 0x3002: case 0xFF1B: case 0xFF1A: case 0xFF01: case 0xFF1F: /* ，。；：！？ */
    case 0x201C: case 0x201D: case 0x2026: case 0x300C: case 0x300D:            /* “”…「」 */
        return 1;
    default:
        return 0;
    }
}

/* 1 when s[j..j+l) is a whole word (for Latin negations). */
static int whole_word(const char *s, size_t n, size_t j, size_t l)
{
    return (j == 0 || !is_alpha(s[j - 1])) && (j + l >= n || !is_alpha(s[j + l]));
}

/* An instruction to act on the message is allowed only as a prohibition:
 * a prohibiting word earlier in the same clause, close to the act ("不要回复",
 * "请勿回拨、勿扫码", "do not pay or reply"), or a bare 不 / no / not right
 * before it ("不点击", "no reply"). "Not sure? Click", "别担心，点击" and
 * "不放心就回复" are instructions. */
static int negated_before(const char *s, size_t n, size_t at)
{
    static const char *const zh[] = {"不要", "别", "勿", "不可", "不能", "不得", "不用", "不必", "无需", "无须"};
    static const char *const en[] = {"don't", "dont", "don\xE2\x80\x99t", "do not", "never", "no need to"};
    /* 别 in 特别, 识别, 区别 ... or 别人 is no prohibition */
    static const char *const not_bie[] = {"特", "识", "区", "分", "告", "级", "类", "性", "派", "辨", "鉴", "个"};
    size_t from = at > 30 ? at - 30 : 0;
    while (from < at && ((unsigned char)s[from] & 0xC0) == 0x80)
        from++;
    /* the clause: back from the act to the nearest clause break */
    size_t g = at;
    while (g > from) {
        size_t b = g - 1;
        while (b > from && ((unsigned char)s[b] & 0xC0) == 0x80)
            b--;
        int len;
        if (clause_break(fz_utf8_decode((const unsigned char *)s + b, (const unsigned char *)s + at, &len)))
            break;
        g = b;
    }
    for (size_t i = 0; i < sizeof zh / sizeof *zh; i++) {
        size_t l = strlen(zh[i]);
        for (size_t j = g; j + l <= at; j++) {
            if (memcmp(s + j, zh[i], l) != 0)
                continue;
            if (strcmp(zh[i], "别") == 0) {
                int word = memcmp(s + j + l, "人", strlen("人")) == 0;
                for (size_t b = 0; b < sizeof not_bie / sizeof *not_bie && !word; b++)
                    word = j >= g + 3 && memcmp(s + j - 3, not_bie[b], 3) == 0;
                if (word)
                    continue;
            }
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof en / sizeof *en; i++) {
        size_t l = strlen(en[i]);
        for (size_t j = g; j + l <= at; j++)
            if (strncasecmp(s + j, en[i], l) == 0 && whole_word(s, n, j, l))
                return 1;
    }
    size_t e = at;
    while (e > g && s[e - 1] == ' ')
        e--;
    if (e >= g + 3 && memcmp(s + e - 3, "不", 3) == 0)
        return 1;
    if (e >= g + 2 && strncasecmp(s + e - 2, "no", 2) == 0 && whole_word(s, n, e - 2, 2))
        return 1;
    if (e >= g + 3 && strncasecmp(s + e - 3, "not", 3) == 0 && whole_word(s, n, e - 3, 3))
        return 1;
    return 0;
}

static void check_instructions(checker *c, const fz_wtemplate *t, const char *s, size_t n)
{
    static const char *const acts[] = {"回复", "回电", "回拨", "点击", "点开", "扫码", "扫描", "扫一扫",
                                       "reply", "call back", "text back", "click", "tap", "scan"};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        size_t l = strlen(acts[i]);
        int latin = is_alpha(acts[i][0]);
        for (size_t j = 0; j + l <= n; j++)
            if (strncasecmp(s + j, acts[i], l) == 0 && !(latin && j > 0 && is_alpha(s[j - 1])) &&
                !negated_before(s, n, j)) {
                complain(c, FZ_DIAG_ERROR, t, "asks the reader to act on it (only as a prohibition, "
                                              "like 不要回复, may a warning say): ", acts[i]);
                break;
            }
    }
}

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check_length(checker *c, const fz_wtemplate *t, const char *rendered)
{
    size_t n = code_points(rendered), one = t->language == FZ_LANG_ZH ? 70 : 160;
    char detail[96];
    snprintf(detail, sizeof detail, "%zu characters, one SMS holds %zu", n, one);
    if (n > 2 * one)
        complain(c, FZ_DIAG_ERROR, t, "is too long for an elderly reader: ", detail);
    else if (n > one)
        complain(c, FZ_DIAG_WARNING, t, "will arrive as two SMS: ", detail);
}

/* The longest kind in characters (what the length limits count), not bytes. */
static const char *longest_kind(const fz_warnings *w, int lang)
{
    const char *best = kind_name(w, lang, NULL);
    for (size_t i = 0; i < w->n_kinds[lang]; i++)
        if (code_points(w->kinds[lang][i].name) > code_points(best))
            best = w->kinds[lang][i].name;
    return best;
}

static void check_content(checker *c, const fz_wtemplate *t)
{
    const fz_warnings *w = &c->rs->warnings;
    for (const char *p = strchr(t->text, '{'); p; p = strchr(p + 1, '{')) {
        if (strncmp(p, "{name}", 6) == 0 || strncmp(p, "{kind}", 6) == 0)
            continue;
        if (strncmp(p, "{resident}", 10) == 0 && t->role == FZ_ROLE_GUARDIAN)
            continue;
        char ph[32];
        snprintf(ph, sizeof ph, "%.*s", (int)strcspn(p, "}") + 1, p);
        complain(c, FZ_DIAG_ERROR, t, "unknown placeholder (use {name}, {kind}, and for guardians {resident}): ",
                 ph);
    }
    /* Render the way a real warning is rendered, with the longest kind. */
    fz_warnings probe = *w;
    fz_kind longest = {"\x01probe", longest_kind(w, t->language)};
    probe.kinds[t->language] = &longest;
    probe.n_kinds[t->language] = 1;
    fz_wtemplate only = *t;
    only.n_categories = 0;
    probe.templates = &only;
    probe.n_templates = 1;
    fz_ruleset view = *c->rs;
    view.warnings = probe;
    char rendered[2048];
    const char *sample = t->language == FZ_LANG_ZH ? "王阿姨" : "Alice";
    if (fz_warning_render(&view, t->language, t->role, "\x01probe", sample, sample, rendered, sizeof rendered)) {
        complain(c, FZ_DIAG_ERROR, t, "is too long", "");
        return;
    }
    check_length(c, t, rendered);
    size_t n;
    if (fz_normalize(c->norm, rendered, strlen(rendered)))
        return;
    const char *s = fz_norm_text(c->norm, &n);
    if (pcre2_match(c->link, (PCRE2_SPTR)s, n, 0, 0, c->md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        char found[80];
        snprintf(found, sizeof found, "%.*s", (int)(ov[1] - ov[0] < 60 ? ov[1] - ov[0] : 60), s + ov[0]);
        complain(c, FZ_DIAG_ERROR, t, "contains a link or a domain: ", found);
    }
    check_numbers(c, t, s, n);
    check_instructions(c, t, s, n);
    if (!strstr(s, "96110") && !strstr(s, "110"))
        complain(c, FZ_DIAG_WARNING, t, "does not tell the reader to call 96110 or 110", "");
}

static int category_known(const fz_ruleset *rs, const char *id)
{
    if (strcmp(id, "reported") == 0)
        return 1;
    for (size_t i = 0; i < rs->n_categories; i++)
        if (strcmp(rs->categories[i].id, id) == 0)
            return 1;
    return 0;
}

static void check_coverage(checker *c)
{
    const fz_warnings *w = &c->rs->warnings;
    for (int l = 0; l < FZ_LANG_COUNT; l++)
        for (int r = 0; r < FZ_ROLE_COUNT; r++)
            if (!choose(w, l, r, NULL))
                fz_diag_emit(c->diags, FZ_DIAG_ERROR, w->pos.file, w->pos.line, w->pos.col, NULL,
                             "warnings.yaml needs a default %s template in %s (one without 'categories')",
                             k_role[r], k_lang[l]);
    for (size_t i = 0; i < w->n_templates; i++)
        for (size_t k = 0; k < w->templates[i].n_categories; k++)
            if (!category_known(c->rs, w->templates[i].categories[k]))
                complain(c, FZ_DIAG_ERROR, &w->templates[i], "unknown category: ", w->templates[i].categories[k]);
    /* a template that is never chosen: an earlier one of its language and
     * role is the default too, or takes the same category */
    for (size_t i = 0; i < w->n_templates; i++) {
        const fz_wtemplate *t = &w->templates[i];
        for (size_t j = 0; j < i; j++) {
            const fz_wtemplate *e = &w->templates[j];
            if (e->language != t->language || e->role != t->role)
                continue;
            char detail[160];
            if (t->n_categories == 0 && e->n_categories == 0) {
                snprintf(detail, sizeof detail, "the default %s template (%s) on line %d comes first",
                         k_role[e->role], k_lang[e->language], e->pos.line);
                complain(c, FZ_DIAG_WARNING, t, "never used: ", detail);
                break;
            }
            for (size_t a = 0; a < t->n_categories; a++)
                for (size_t b = 0; b < e->n_categories; b++)
                    if (strcmp(t->categories[a], e->categories[b]) == 0) {
                        snprintf(detail, sizeof detail, "'%s': the %s template (%s) on line %d comes first",
                                 t->categories[a], k_role[e->role], k_lang[e->language], e->pos.line);
                        complain(c, FZ_DIAG_WARNING, t, "never used for ", detail);
                    }
        }
    }
    /* every category (and "reported") has its own name in each language */
    for (int l = 0; l < FZ_LANG_COUNT; l++)
        for (size_t i = 0; i <= c->rs->n_categories; i++) {
            const char *id = i < c->rs->n_categories ? c->rs->categories[i].id : "reported";
            size_t k = 0;
            while (k < w->n_kinds[l] && strcmp(w->kinds[l][k].category, id) != 0)
                k++;
            if (k == w->n_kinds[l])
                fz_diag_emit(c->diags, FZ_DIAG_WARNING, w->pos.file, w->pos.line, w->pos.col, NULL,
                             "kinds.%s has no name for category '%s' (its warnings would say '%s')", k_lang[l], id,
                             kind_name(w, l, NULL));
        }
    for (int l = 0; l < FZ_LANG_COUNT; l++)
        for (size_t k = 0; k < w->n_kinds[l]; k++) {
            const char *id = w->kinds[l][k].category;
            if (strcmp(id, "default") != 0 && !category_known(c->rs, id))
                fz_diag_emit(c->diags, FZ_DIAG_WARNING, w->pos.file, 0, 0, NULL,
                             "kinds.%s names an unknown category '%s'", k_lang[l], id);
        }
}

void fz_warnings_check(fz_ruleset *rs, fz_diags *diags)
{
    if (!rs->warnings.present)
        return;
    int code;
    PCRE2_SIZE off;
    checker c = {rs, diags, fz_norm_new(), NULL, NULL};
    /* a scheme, www., or a host name (Latin or Chinese labels) ending in a
     * top-level domain */
    c.link = pcre2_compile((PCRE2_SPTR) "(?i)[a-z][a-z0-9+.-]*://|www\\.|(?:\\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|"
                                        "\\p{Han}+)\\.[a-z]{2,63}\\b",
                           PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
    c.md = c.link ? pcre2_match_data_create_from_pattern(c.link, NULL) : NULL;
    if (c.norm && c.md) {
        check_coverage(&c);
        for (size_t i = 0; i < rs->warnings.n_templates; i++)
            check_content(&c, &rs->warnings.templates[i]);
    } else {
        fz_diag_emit(diags, FZ_DIAG_ERROR, NULL, 0, 0, NULL, "out of memory checking warnings.yaml");
    }
    pcre2_match_data_free(c.md);
    pcre2_code_free(c.link);
    fz_norm_free(c.norm);
}
