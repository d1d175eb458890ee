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

/* Letters (any script), spaces and the middle dot, at most 12 of them: a
 * name cannot carry a link or a number into a warning. */
static void sanitize_name(const char *in, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)(in ? in : ""), *end = p + strlen((const char *)p);
    size_t k = 0, count = 0;
    while (p < end && count < 12) {
        int len;
        uint32_t cp = fz_utf8_decode(p, end, &len);
        p += len;
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        int letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        if (!letter && cp != ' ' && cp != 0xB7)
            continue;
        if (cp == ' ' && (k == 0 || out[k - 1] == ' '))
            continue;
        if (k + 4 >= cap)
            break;
        k += (size_t)fz_utf8_encode(cp, out + k);
        count++;
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

/* Append s, collapsing runs of spaces into one. */
static size_t put(char *out, size_t k, size_t cap, const char *s)
{
    for (; *s && k + 1 < cap; s++) {
        if (*s == ' ' && (k == 0 || out[k - 1] == ' '))
            continue;
        out[k++] = *s;
    }
    out[k] = '\0';
    return k;
}

int fz_warning_render(const fz_ruleset *rs, int lang, int role, const char *category, const char *name,
                      const char *resident_name, char *out, size_t cap)
{
    const fz_warnings *w = &rs->warnings;
    const fz_wtemplate *t = choose(w, lang, role, category);
    if (!t || cap < 2)
        return FZ_ENOENT;
    char clean_name[64], clean_resident[64];
    sanitize_name(name, clean_name, sizeof clean_name);
    sanitize_name(resident_name, clean_resident, sizeof clean_resident);
    const char *anon = w->anonymous[lang] ? w->anonymous[lang] : "";
    size_t k = 0;
    out[0] = '\0';
    const char *p = t->text;
    while (*p && k + 1 < cap) {
        const char *v = NULL;
        size_t skip = 0;
        if (strncmp(p, "{name}", 6) == 0)
            v = clean_name[0] ? clean_name : anon, skip = 6;
        else if (strncmp(p, "{kind}", 6) == 0)
            v = kind_name(w, lang, category), skip = 6;
        else if (strncmp(p, "{resident}", 10) == 0)
            v = clean_resident, skip = 10;
        if (v) {
            k = put(out, k, cap, v);
            p += skip;
        } else {
            char one[2] = {*p++, '\0'};
            k = put(out, k, cap, one);
        }
    }
    if (*p)
        return FZ_ETOOBIG;
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

/* Digit runs (a single space or dash may separate digits) of three or more:
 * only the anti-fraud hotline and the police may be named. */
static void check_numbers(checker *c, const fz_wtemplate *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (s[i] < '0' || s[i] > '9') {
            i++;
            continue;
        }
        char digits[32];
        size_t k = 0;
        while (i < n && ((s[i] >= '0' && s[i] <= '9') ||
                         ((s[i] == ' ' || s[i] == '-') && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9'))) {
            if (s[i] >= '0' && s[i] <= '9' && k + 1 < sizeof digits)
                digits[k++] = s[i];
            i++;
        }
        digits[k] = '\0';
        if (k >= 3 && strcmp(digits, "110") != 0 && strcmp(digits, "96110") != 0)
            complain(c, FZ_DIAG_ERROR, t, "names a number other than 96110 or 110: ", digits);
    }
}

/* An instruction to act on the message is allowed only as a prohibition. */
static int negated_before(const char *s, size_t at)
{
    static const char *const negations[] = {"不要", "别", "勿", "不", "don't", "do not", "never", "not", "no "};
    size_t from = at > 16 ? at - 16 : 0;
    for (size_t i = 0; i < sizeof negations / sizeof *negations; i++) {
        size_t l = strlen(negations[i]);
        for (size_t j = from; j + l <= at; j++)
            if (strncasecmp(s + j, negations[i], l) == 0)
                return 1;
    }
    return 0;
}

static void check_instructions(checker *c, const fz_wtemplate *t, const char *s, size_t n)
{
    static const char *const acts[] = {"回复", "回电", "回拨", "点击", "点开", "扫码", "reply",
                                       "call back", "text back", "click", "tap", "scan"};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        size_t l = strlen(acts[i]);
        for (size_t j = 0; j + l <= n; j++)
            if (strncasecmp(s + j, acts[i], l) == 0 && !negated_before(s, j)) {
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

static const char *longest_kind(const fz_warnings *w, int lang)
{
    const char *best = kind_name(w, lang, NULL);
    for (size_t i = 0; i < w->n_kinds[lang]; i++)
        if (strlen(w->kinds[lang][i].name) > strlen(best))
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
    /* a scheme, www., or a host name ending in a top-level domain */
    c.link = pcre2_compile((PCRE2_SPTR) "(?i)[a-z][a-z0-9+.-]*://|www\\.|\\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
                                        "\\.[a-z]{2,63}\\b",
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
