/* ruleset.c — reading a rule pack from YAML into the rule model, with
 * validation that names file:line:col and the rule.
 *
 * How it works. The pack's files are gathered (from a directory, recursively,
 * or from the copy embedded at build time), sorted by path and hashed. Files
 * at the top of the pack are special (numbers.yaml, policy.yaml, domains.yaml;
 * warnings.yaml belongs to the warning stage); every other *.yaml is a
 * category file. Each file is parsed with libyaml into a document and walked;
 * every problem is reported, not just the first. Once all files are read,
 * references from combinations are resolved to signal numbers and checked for
 * unknown ids and cycles. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <xxhash.h>

#include "fanzha/normalize.h"
#include "patcost.h"
#include "ruleset.h"
#include "signals.h"
#include "ydoc.h"

#define MAX_RULE_FILE (4u << 20)    /* a bigger rule file is a mistake, not a pack */
#define MAX_PACK_FILES 4096

struct fz_embedded_file { const char *name; const char *data; size_t len; };
extern const struct fz_embedded_file fz_embedded_rules[];

const char *fz_severity_name(int sev)
{
    static const char *names[] = {"low", "medium", "high", "critical"};
    return sev >= 0 && sev <= FZ_SEV_CRITICAL ? names[sev] : "unknown";
}

/* --- gathering files ------------------------------------------------------------ */

typedef struct {
    fz_source_file *files;
    size_t n, cap;
    char **owned;           /* buffers read from disk */
} file_list;

static int list_push(file_list *l, const char *name, const char *data, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        fz_source_file *f = realloc(l->files, cap * sizeof *f);
        if (!f)
            return -1;
        l->files = f;
        l->cap = cap;
    }
    l->files[l->n++] = (fz_source_file){name, data, len};
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int read_file(const char *path, char **out, size_t *len, fz_diags *diags)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (size_t)st.st_size > MAX_RULE_FILE) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, path, 0, 0, NULL, "file is %lld bytes; rule files are limited to %u",
                     (long long)st.st_size, MAX_RULE_FILE);
        fclose(f);
        return -1;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 >= cap) {
            if (cap > MAX_RULE_FILE) break;
            char *b = realloc(buf, cap * 2);
            if (!b) { free(buf); buf = NULL; break; }
            buf = b;
            cap *= 2;
        }
    }
    int bad = !buf || ferror(f) || n > MAX_RULE_FILE;
    fclose(f);
    if (bad) {
        free(buf);
        fz_diag_emit(diags, FZ_DIAG_ERROR, path, 0, 0, NULL, "cannot read the file (or it is too large)");
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int walk_dir(fz_arena *a, file_list *l, const char *path, fz_diags *diags, int depth)
{
    DIR *dir = opendir(path);
    if (!dir) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, path, 0, 0, NULL, "cannot open the rules directory: %s", strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char child[PATH_MAX];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat st;
        if (stat(child, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 4) {
            rc |= walk_dir(a, l, child, diags, depth + 1);
        } else if (S_ISREG(st.st_mode) && ends_with(e->d_name, ".yaml")) {
            char *data;
            size_t len;
            if (l->n >= MAX_PACK_FILES || read_file(child, &data, &len, diags)) {
                rc = -1;
                continue;
            }
            char **owned = realloc(l->owned, (l->n + 1) * sizeof *owned);
            if (!owned) { free(data); rc = -1; continue; }
            l->owned = owned;
            l->owned[l->n] = data;
            if (list_push(l, fz_arena_strdup(a, child), data, len)) {
                free(data);
                rc = -1;
            }
        }
    }
    closedir(dir);
    return rc;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(((const fz_source_file *)x)->name, ((const fz_source_file *)y)->name);
}

/* --- category files --------------------------------------------------------------- */

typedef struct loader {
    fz_ruleset *rs;
    fz_diags *diags;
    fz_norm *norm;
    size_t cap_rules, cap_cats;
} loader;

static const char *const k_category_keys[] = {"category", "title", "severity", "description", "rules", NULL};
static const char *const k_rule_keys[] = {"id", "literal", "word", "pattern", "all", "any", "min", "not",
                                          "score", "description", "examples", NULL};

static int valid_id(const char *s, int need_dot)
{
    int dots = 0, seg = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (seg == 0) return 0;
            dots++;
            seg = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_') {
            seg++;
        } else {
            return 0;
        }
    }
    return seg > 0 && (!need_dot || dots > 0);
}

static int parse_severity(fz_ydoc *d, yaml_node_t *n, int *out)
{
    char *s;
    if (fz_ydoc_string(d, n, NULL, "severity", &s))
        return -1;
    for (int i = 0; i <= FZ_SEV_CRITICAL; i++)
        if (strcmp(s, fz_severity_name(i)) == 0) {
            *out = i;
            return 0;
        }
    fz_ydoc_error(d, n, NULL, "severity must be low, medium, high or critical, not '%s'", s);
    return -1;
}

static fz_pos pos_of(fz_ydoc *d, const yaml_node_t *n)
{
    return (fz_pos){d->file, fz_ynode_line(n), fz_ynode_col(n)};
}

static uint32_t find_or_add_category(loader *L, fz_ydoc *d, yaml_node_t *root, yaml_node_t *catnode)
{
    fz_ruleset *rs = L->rs;
    char *id = NULL, *title = NULL, *desc = NULL;
    int sev = FZ_SEV_MEDIUM;
    int bad = fz_ydoc_string(d, catnode, NULL, "category", &id);
    if (!bad && !valid_id(id, 0)) {
        fz_ydoc_error(d, catnode, NULL, "category id '%s' must be lowercase letters, digits and '_'", id);
        bad = 1;
    }
    yaml_node_t *t = fz_ydoc_get(d, root, "title"), *s = fz_ydoc_get(d, root, "severity");
    yaml_node_t *ds = fz_ydoc_get(d, root, "description");
    if (!t)
        fz_ydoc_error(d, root, NULL, "category file needs a 'title'");
    else
        fz_ydoc_string(d, t, NULL, "title", &title);
    if (!s)
        fz_ydoc_error(d, root, NULL, "category file needs a 'severity'");
    else
        parse_severity(d, s, &sev);
    if (ds)
        fz_ydoc_string(d, ds, NULL, "description", &desc);
    if (bad)
        return UINT32_MAX;
    for (size_t i = 0; i < rs->n_categories; i++) {
        fz_category *c = &rs->categories[i];
        if (strcmp(c->id, id) != 0)
            continue;
        if (s && c->severity != sev)
            fz_ydoc_error(d, s, NULL, "category '%s' has severity %s here but %s at %s:%d:%d", id,
                          fz_severity_name(sev), fz_severity_name(c->severity), c->pos.file, c->pos.line, c->pos.col);
        return (uint32_t)i;
    }
    if (rs->n_categories == L->cap_cats) {
        size_t cap = L->cap_cats ? L->cap_cats * 2 : 32;
        fz_category *c = realloc(rs->categories, cap * sizeof *c);
        if (!c)
            return UINT32_MAX;
        rs->categories = c;
        L->cap_cats = cap;
    }
    rs->categories[rs->n_categories] = (fz_category){id, title ? title : id, desc, sev, pos_of(d, catnode)};
    return (uint32_t)rs->n_categories++;
}

static int parse_refs(fz_ydoc *d, yaml_node_t *n, const char *rule, const char *what, fz_ref **out, size_t *count)
{
    char **names;
    yaml_node_t **nodes;
    if (fz_ydoc_strings(d, n, rule, what, &names, &nodes, count))
        return -1;
    if (*count == 0) {
        fz_ydoc_error(d, n, rule, "'%s' needs at least one rule id", what);
        return -1;
    }
    fz_ref *refs = fz_arena_alloc(d->arena, *count * sizeof *refs);
    if (!refs)
        return -1;
    for (size_t i = 0; i < *count; i++)
        refs[i] = (fz_ref){names[i], pos_of(d, nodes[i]), UINT32_MAX};
    *out = refs;
    return 0;
}

static int parse_example_list(fz_ydoc *d, yaml_node_t *list, const char *rule, int expect,
                              fz_example *out, size_t *k)
{
    if (!fz_ynode_is(list, YAML_SEQUENCE_NODE)) {
        fz_ydoc_error(d, list, rule, "examples.%s must be a list", expect ? "match" : "no_match");
        return -1;
    }
    static const char *const keys[] = {"text", "from", NULL};
    int rc = 0;
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        yaml_node_t *item = fz_ydoc_node(d, *it);
        fz_example *ex = &out[(*k)++];
        *ex = (fz_example){NULL, NULL, expect, pos_of(d, item)};
        char *text = NULL, *from = NULL;
        if (fz_ynode_is(item, YAML_MAPPING_NODE)) {
            if (fz_ydoc_check_keys(d, item, keys, rule, "an example")) { rc = -1; continue; }
            yaml_node_t *t = fz_ydoc_get(d, item, "text"), *f = fz_ydoc_get(d, item, "from");
            if (!t) { fz_ydoc_error(d, item, rule, "an example needs 'text'"); rc = -1; continue; }
            if (fz_ydoc_string(d, t, rule, "example text", &text)) rc = -1;
            if (f && fz_ydoc_string(d, f, rule, "example sender", &from)) rc = -1;
        } else if (fz_ydoc_string(d, item, rule, "an example", &text)) {
            rc = -1;
        }
        ex->text = text ? text : "";
        ex->from = from;
    }
    return rc;
}

static int parse_examples(fz_ydoc *d, yaml_node_t *n, fz_rule *r)
{
    static const char *const keys[] = {"match", "no_match", NULL};
    if (fz_ydoc_check_keys(d, n, keys, r->id, "examples"))
        return -1;
    yaml_node_t *m = fz_ydoc_get(d, n, "match"), *nm = fz_ydoc_get(d, n, "no_match");
    size_t total = 0;
    if (fz_ynode_is(m, YAML_SEQUENCE_NODE))
        total += (size_t)(m->data.sequence.items.top - m->data.sequence.items.start);
    if (fz_ynode_is(nm, YAML_SEQUENCE_NODE))
        total += (size_t)(nm->data.sequence.items.top - nm->data.sequence.items.start);
    r->examples = fz_arena_alloc(d->arena, (total ? total : 1) * sizeof *r->examples);
    if (!r->examples)
        return -1;
    size_t k = 0;
    int rc = 0;
    if (m && parse_example_list(d, m, r->id, 1, r->examples, &k)) rc = -1;
    if (nm && parse_example_list(d, nm, r->id, 0, r->examples, &k)) rc = -1;
    r->n_examples = k;
    return rc;
}

static int parse_literals(loader *L, fz_ydoc *d, yaml_node_t *n, fz_rule *r)
{
    char **raw;
    yaml_node_t **nodes;
    size_t k;
    if (fz_ydoc_strings(d, n, r->id, "literal", &raw, &nodes, &k))
        return -1;
    if (k == 0) {
        fz_ydoc_error(d, n, r->id, "'literal' needs at least one string");
        return -1;
    }
    const char **lits = fz_arena_alloc(d->arena, k * sizeof *lits);
    if (!lits)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        size_t len;
        if (fz_normalize(L->norm, raw[i], strlen(raw[i])))
            return -1;
        const char *t = fz_norm_text(L->norm, &len);
        lits[i] = fz_arena_strndup(d->arena, t, len);
        if (len == 0) {
            fz_ydoc_error(d, nodes[i], r->id, "literal is empty after normalization");
            rc = -1;
        }
    }
    r->literals = lits;
    r->n_literals = k;
    return rc;
}

static int check_pattern(fz_ydoc *d, yaml_node_t *n, fz_rule *r)
{
    int errcode;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)r->pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_CASELESS, &errcode, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        fz_ydoc_error(d, n, r->id, "invalid pattern: %s (at offset %zu of the pattern)", (char *)msg, (size_t)off);
        return -1;
    }
    double cost = fz_pattern_cost(r->pattern);
    if (cost > FZ_MAX_PATTERN_COST) {
        pcre2_code_free(re);
        fz_ydoc_error(d, n, r->id,
                      "pattern too large: it compiles to about %.0f positions, bounded repeats expanded (at most "
                      "%.0f; more would take Hyperscan minutes to compile); use smaller bounds, a 'literal' list "
                      "for words, or split it into rules joined by a combination",
                      cost, FZ_MAX_PATTERN_COST);
        return -1;
    }
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int empty = md && pcre2_match(re, (PCRE2_SPTR) "", 0, 0, 0, md, NULL) >= 0;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (empty) {
        fz_ydoc_error(d, n, r->id, "pattern matches the empty string, so it would fire on every message");
        return -1;
    }
    return 0;
}

/* A pattern written with characters the normalizer changes can never match
 * them (a traditional character, a full-width letter): warn. */
static void warn_unnormalized(loader *L, fz_ydoc *d, yaml_node_t *n, fz_rule *r)
{
    const unsigned char *p = (const unsigned char *)r->pattern;
    while (*p) {
        int len = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
        if (*p >= 0x80 && !fz_normalize(L->norm, (const char *)p, (size_t)len) && !fz_norm_unchanged(L->norm)) {
            size_t nl;
            const char *t = fz_norm_text(L->norm, &nl);
            fz_ydoc_warn(d, n, r->id, "pattern contains '%.*s', which the normalizer turns into '%.*s': "
                         "write it as '%.*s'", len, (const char *)p, (int)nl, t, (int)nl, t);
            return;
        }
        for (int i = 0; i < len && *p; i++)
            p++;
    }
}

static fz_rule *new_rule(loader *L)
{
    fz_ruleset *rs = L->rs;
    if (rs->n_rules == L->cap_rules) {
        size_t cap = L->cap_rules ? L->cap_rules * 2 : 256;
        fz_rule *r = realloc(rs->rules, cap * sizeof *r);
        if (!r)
            return NULL;
        rs->rules = r;
        L->cap_rules = cap;
    }
    fz_rule *r = &rs->rules[rs->n_rules++];
    memset(r, 0, sizeof *r);
    return r;
}

static void parse_rule(loader *L, fz_ydoc *d, yaml_node_t *n, uint32_t category)
{
    char *id = NULL;
    yaml_node_t *idn = fz_ydoc_get(d, n, "id");
    if (!fz_ynode_is(n, YAML_MAPPING_NODE)) {
        fz_ydoc_error(d, n, NULL, "each rule must be a mapping with an 'id'");
        return;
    }
    if (!idn) {
        fz_ydoc_error(d, n, NULL, "rule without an 'id'");
        return;
    }
    if (fz_ydoc_string(d, idn, NULL, "id", &id))
        return;
    if (!valid_id(id, 1)) {
        fz_ydoc_error(d, idn, id, "id must be dot-separated lowercase words (like zh.authority.safe_account)");
        return;
    }
    for (size_t i = 0; i < L->rs->n_rules; i++)
        if (strcmp(L->rs->rules[i].id, id) == 0) {
            const fz_pos *p = &L->rs->rules[i].pos;
            fz_ydoc_error(d, idn, id, "duplicate id (first defined at %s:%d:%d)", p->file, p->line, p->col);
            return;
        }
    fz_ydoc_check_keys(d, n, k_rule_keys, id, "a rule");
    fz_rule *r = new_rule(L);
    if (!r)
        return;
    r->id = id;
    r->category = category;
    r->pos = pos_of(d, n);
    r->min = 1;

    yaml_node_t *lit = fz_ydoc_get(d, n, "literal"), *pat = fz_ydoc_get(d, n, "pattern");
    yaml_node_t *all = fz_ydoc_get(d, n, "all"), *any = fz_ydoc_get(d, n, "any");
    yaml_node_t *not_ = fz_ydoc_get(d, n, "not"), *min = fz_ydoc_get(d, n, "min");
    yaml_node_t *score = fz_ydoc_get(d, n, "score"), *desc = fz_ydoc_get(d, n, "description");
    yaml_node_t *ex = fz_ydoc_get(d, n, "examples");
    yaml_node_t *word = fz_ydoc_get(d, n, "word");
    if (word) {
        if (!lit)
            fz_ydoc_error(d, word, id, "'word' only applies to 'literal' rules");
        else
            fz_ydoc_bool(d, word, id, "word", &r->word);
    }
    int kinds = !!lit + !!pat + !!(all || any);
    if (kinds != 1)
        fz_ydoc_error(d, n, id, kinds ? "a rule is exactly one of literal, pattern or a combination (all/any)"
                                      : "a rule needs 'literal', 'pattern', or 'all'/'any'");
    if (lit) {
        r->kind = FZ_RK_LITERAL;
        parse_literals(L, d, lit, r);
    } else if (pat) {
        r->kind = FZ_RK_PATTERN;
        r->pattern_pos = pos_of(d, pat);
        char *p;
        if (fz_ydoc_string(d, pat, id, "pattern", &p) == 0) {
            r->pattern = p;
            if (check_pattern(d, pat, r) == 0)
                warn_unnormalized(L, d, pat, r);
        }
    } else {
        r->kind = FZ_RK_COMBO;
    }
    if (all) parse_refs(d, all, id, "all", &r->all, &r->n_all);
    if (any) parse_refs(d, any, id, "any", &r->any, &r->n_any);
    if (not_) parse_refs(d, not_, id, "not", &r->not_, &r->n_not);
    if (min) {
        double m;
        if (!any)
            fz_ydoc_error(d, min, id, "'min' only makes sense with 'any'");
        else if (fz_ydoc_number(d, min, id, "min", &m) == 0) {
            if (m < 1 || m > (double)r->n_any || m != (double)(int)m)
                fz_ydoc_error(d, min, id, "min must be a whole number from 1 to %zu (the size of 'any')", r->n_any);
            else
                r->min = (int)m;
        }
    }
    if (!score)
        fz_ydoc_error(d, n, id, "rule needs a 'score'");
    else
        fz_ydoc_number(d, score, id, "score", &r->score);
    if (desc) {
        char *s;
        if (fz_ydoc_string(d, desc, id, "description", &s) == 0)
            r->description = s;
    }
    if (ex)
        parse_examples(d, ex, r);
}

static void parse_category_file(loader *L, fz_ydoc *d)
{
    yaml_node_t *root = fz_ydoc_root(d);
    if (fz_ydoc_check_keys(d, root, k_category_keys, NULL, "a category file") && !fz_ynode_is(root, YAML_MAPPING_NODE))
        return;
    yaml_node_t *cat = fz_ydoc_get(d, root, "category"), *rules = fz_ydoc_get(d, root, "rules");
    if (!cat) {
        fz_ydoc_error(d, root, NULL, "category file needs a 'category'");
        return;
    }
    uint32_t ci = find_or_add_category(L, d, root, cat);
    if (!rules) {
        fz_ydoc_error(d, root, NULL, "category file needs 'rules'");
        return;
    }
    if (!fz_ynode_is(rules, YAML_SEQUENCE_NODE)) {
        fz_ydoc_error(d, rules, NULL, "'rules' must be a list");
        return;
    }
    if (ci == UINT32_MAX)
        return;
    for (yaml_node_item_t *it = rules->data.sequence.items.start; it < rules->data.sequence.items.top; it++)
        parse_rule(L, d, fz_ydoc_node(d, *it), ci);
}

/* --- references and cycles ---------------------------------------------------------- */

static void resolve_refs(fz_ruleset *rs, fz_diags *diags, const fz_rule *r, fz_ref *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        long s = fz_signal_lookup(rs, refs[i].name);
        if (s < 0)
            fz_diag_emit(diags, FZ_DIAG_ERROR, refs[i].pos.file, refs[i].pos.line, refs[i].pos.col, r->id,
                         "refers to unknown rule or signal '%s'", refs[i].name);
        else if ((size_t)s == (size_t)(r - rs->rules))
            fz_diag_emit(diags, FZ_DIAG_ERROR, refs[i].pos.file, refs[i].pos.line, refs[i].pos.col, r->id,
                         "refers to itself");
        else
            refs[i].signal = (uint32_t)s;
    }
}

/* Depth-first search over rule-to-rule references; state 0 new, 1 on the
 * current path, 2 done. Reports the first cycle found through each rule. */
static int find_cycle(fz_ruleset *rs, fz_diags *diags, size_t i, unsigned char *state, size_t *path, size_t depth)
{
    if (state[i] == 2)
        return 0;
    if (state[i] == 1) {
        char chain[512] = "";
        size_t start = depth;
        while (start > 0 && path[start - 1] != i)
            start--;
        for (size_t k = start ? start - 1 : 0; k < depth; k++)
            snprintf(chain + strlen(chain), sizeof chain - strlen(chain), "%s -> ", rs->rules[path[k]].id);
        snprintf(chain + strlen(chain), sizeof chain - strlen(chain), "%s", rs->rules[i].id);
        const fz_rule *r = &rs->rules[i];
        fz_diag_emit(diags, FZ_DIAG_ERROR, r->pos.file, r->pos.line, r->pos.col, r->id,
                     "combinations form a cycle: %s", chain);
        return 1;
    }
    state[i] = 1;
    path[depth] = i;
    const fz_rule *r = &rs->rules[i];
    const fz_ref *lists[3] = {r->all, r->any, r->not_};
    size_t counts[3] = {r->n_all, r->n_any, r->n_not};
    int found = 0;
    for (int l = 0; l < 3 && !found; l++)
        for (size_t k = 0; k < counts[l] && !found; k++)
            if (lists[l][k].signal < rs->n_rules)
                found = find_cycle(rs, diags, lists[l][k].signal, state, path, depth + 1);
    state[i] = 2;
    return found;
}

/* --- lint: rules that are valid but probably not what was meant -------------------- */

static int too_short(const char *s, size_t n)
{
    /* one Chinese character (3 bytes) or at most two ASCII characters */
    return (n == 3 && (unsigned char)s[0] >= 0xE3) || (n <= 2 && n > 0 && (unsigned char)s[0] < 0x80);
}

static void lint_literals(fz_ruleset *rs, fz_diags *diags, const fz_rule *r)
{
    for (size_t i = 0; i < r->n_literals; i++) {
        const char *a = r->literals[i];
        if (too_short(a, strlen(a)))
            fz_diag_emit(diags, FZ_DIAG_WARNING, r->pos.file, r->pos.line, r->pos.col, r->id,
                         "too broad: the literal '%s' is so short that it matches far too many messages", a);
        for (size_t j = 0; j < r->n_literals; j++)
            if (i != j && strstr(a, r->literals[j]) && (strcmp(a, r->literals[j]) != 0 || j < i)) {
                fz_diag_emit(diags, FZ_DIAG_WARNING, r->pos.file, r->pos.line, r->pos.col, r->id,
                             "the literal '%s' is shadowed by '%s' in the same rule: it can never make a difference",
                             a, r->literals[j]);
                break;
            }
    }
    (void)rs;
}

static int same_literals(const fz_rule *a, const fz_rule *b)
{
    if (a->n_literals != b->n_literals)
        return 0;
    for (size_t i = 0; i < a->n_literals; i++) {
        int found = 0;
        for (size_t j = 0; j < b->n_literals && !found; j++)
            found = strcmp(a->literals[i], b->literals[j]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static void lint_pack(fz_ruleset *rs, fz_diags *diags)
{
    for (size_t i = 0; i < rs->n_rules; i++) {
        const fz_rule *r = &rs->rules[i];
        if (r->kind == FZ_RK_LITERAL)
            lint_literals(rs, diags, r);
        if (r->kind == FZ_RK_PATTERN && too_short(r->pattern, strlen(r->pattern)))
            fz_diag_emit(diags, FZ_DIAG_WARNING, r->pattern_pos.file, r->pattern_pos.line, r->pattern_pos.col, r->id,
                         "too broad: the pattern '%s' matches a single character", r->pattern);
        for (size_t j = 0; j < i; j++) {
            const fz_rule *o = &rs->rules[j];
            int dup = (r->kind == FZ_RK_PATTERN && o->kind == FZ_RK_PATTERN && strcmp(r->pattern, o->pattern) == 0) ||
                      (r->kind == FZ_RK_LITERAL && o->kind == FZ_RK_LITERAL && same_literals(r, o));
            if (dup) {
                fz_diag_emit(diags, FZ_DIAG_WARNING, r->pos.file, r->pos.line, r->pos.col, r->id,
                             "matches exactly what rule '%s' (%s:%d:%d) matches: merge them or use a combination",
                             o->id, o->pos.file, o->pos.line, o->pos.col);
                break;
            }
        }
    }
}

static void check_combinations(fz_ruleset *rs, fz_diags *diags)
{
    for (size_t i = 0; i < rs->n_rules; i++) {
        fz_rule *r = &rs->rules[i];
        resolve_refs(rs, diags, r, r->all, r->n_all);
        resolve_refs(rs, diags, r, r->any, r->n_any);
        resolve_refs(rs, diags, r, r->not_, r->n_not);
        for (size_t a = 0; a < r->n_all; a++)
            for (size_t b = 0; b < r->n_not; b++)
                if (r->all[a].signal == r->not_[b].signal && r->all[a].signal != UINT32_MAX)
                    fz_diag_emit(diags, FZ_DIAG_WARNING, r->pos.file, r->pos.line, r->pos.col, r->id,
                                 "can never fire: '%s' is in both 'all' and 'not'", r->all[a].name);
    }
    if (diags->errors)
        return;
    unsigned char *state = calloc(rs->n_rules + 1, 1);
    size_t *path = calloc(rs->n_rules + 1, sizeof *path);
    for (size_t i = 0; state && path && i < rs->n_rules; i++)
        find_cycle(rs, diags, i, state, path, 0);
    free(state);
    free(path);
}

/* --- the pack ------------------------------------------------------------------------ */

static const char *relative_name(const char *name, const char *root)
{
    size_t n = strlen(root);
    if (strncmp(name, root, n) == 0 && name[n] == '/')
        return name + n + 1;
    return name;
}

static void hash_files(fz_ruleset *rs, const char *root)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return;
    XXH3_128bits_reset(st);
    for (size_t i = 0; i < rs->n_files; i++) {
        const char *rel = relative_name(rs->files[i].name, root);
        XXH3_128bits_update(st, rel, strlen(rel) + 1);
        XXH3_128bits_update(st, rs->files[i].data, rs->files[i].len);
    }
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    snprintf(rs->hash, sizeof rs->hash, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static void parse_file(loader *L, const fz_source_file *f, const char *root)
{
    fz_ydoc d;
    const char *rel = relative_name(f->name, root);
    if (fz_ydoc_load(&d, f->name, f->data, f->len, L->diags, &L->rs->arena) == 0) {
        if (strcmp(rel, "warnings.yaml") == 0)
            fz_warnings_parse(L->rs, &d);
        else if (strcmp(rel, "numbers.yaml") == 0)
            fz_numbers_parse(L->rs, &d);
        else if (strcmp(rel, "policy.yaml") == 0)
            fz_policy_parse(L->rs, &d);
        else if (strcmp(rel, "domains.yaml") == 0)
            fz_domains_parse(L->rs, &d);
        else if (strchr(rel, '/'))
            parse_category_file(L, &d);
        else
            fz_diag_emit(L->diags, FZ_DIAG_WARNING, f->name, 0, 0, NULL,
                         "ignored: category files belong in a sub-directory such as zh/ or en/");
    }
    fz_ydoc_free(&d);
}

static int gather(fz_ruleset *rs, const char *dir, file_list *fl, fz_diags *diags)
{
    if (!dir) {
        for (const struct fz_embedded_file *e = fz_embedded_rules; e->name; e++)
            if (list_push(fl, e->name, e->data, e->len))
                return -1;
        rs->source = "embedded";
        return 0;
    }
    rs->source = fz_arena_strdup(&rs->arena, dir);
    if (walk_dir(&rs->arena, fl, dir, diags, 0))
        return -1;
    return 0;
}

fz_ruleset *fz_ruleset_load(const char *dir, fz_diags *diags)
{
    fz_ruleset *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    fz_arena_init(&rs->arena, 256 * 1024);
    if (dir) {
        /* "rules/" and "rules" name the same pack (and the same file names). */
        char *trimmed = fz_arena_strdup(&rs->arena, dir);
        size_t n = trimmed ? strlen(trimmed) : 0;
        while (n > 1 && trimmed[n - 1] == '/')
            trimmed[--n] = '\0';
        dir = trimmed;
    }
    file_list fl = {0};
    loader L = {rs, diags, fz_norm_new(), 0, 0};
    int gathered = L.norm ? gather(rs, dir, &fl, diags) : -1;
    const char *root = dir ? dir : "rules";
    if (gathered == 0) {
        if (fl.n)   /* an empty pack has no array: qsort(NULL, 0) is undefined (fuzz_rules) */
            qsort(fl.files, fl.n, sizeof *fl.files, by_name);
        rs->files = fl.files;
        rs->n_files = fl.n;
        hash_files(rs, root);
        for (size_t i = 0; i < fl.n; i++)
            parse_file(&L, &fl.files[i], root);
        if (fl.n == 0)
            fz_diag_emit(diags, FZ_DIAG_ERROR, root, 0, 0, NULL, "no rule files (*.yaml) found");
        else if (!rs->policy.version)
            fz_diag_emit(diags, FZ_DIAG_ERROR, root, 0, 0, NULL, "policy.yaml is missing");
        if (!diags->errors)
            check_combinations(rs, diags);
        if (!diags->errors)
            fz_warnings_check(rs, diags);
        if (!diags->errors)
            lint_pack(rs, diags);
    }
    /* File contents read from disk stay alive with the ruleset: they are
     * copied into the arena so that the pack can be re-read by other stages. */
    for (size_t i = 0; i < fl.n; i++) {
        if (dir) {
            char *copy = fz_arena_strndup(&rs->arena, fl.files[i].data, fl.files[i].len);
            fl.files[i].data = copy ? copy : "";
        }
    }
    if (fl.owned) {
        for (size_t i = 0; i < fl.n; i++)
            free(fl.owned[i]);
        free(fl.owned);
    }
    fz_norm_free(L.norm);
    if (gathered || diags->errors) {
        if (!rs->files)
            free(fl.files);
        fz_ruleset_free(rs);
        return NULL;
    }
    return rs;
}

void fz_ruleset_free(fz_ruleset *rs)
{
    if (!rs)
        return;
    free(rs->categories);
    free(rs->rules);
    free(rs->classes);
    free(rs->brands);
    free(rs->files);
    fz_arena_free(&rs->arena);
    free(rs);
}
