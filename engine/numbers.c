/* numbers.c — phone number classes: reading rules/numbers.yaml,
 * canonicalizing numbers as senders write them, and classifying them.
 *
 * How it works. A number is first reduced to digits: separators go, a +86 or
 * 0086 country code is dropped (the number is domestic; an area code gets its
 * trunk 0 back), as is a bare 86 before a mobile, and any other + or 00
 * prefix marks it international, keeping the country code. Classification then walks the classes in file order and
 * returns the first whose every given condition (international, exact
 * numbers, prefixes, suffixes, lengths) holds. Domestic numbers on the allow
 * list come first and get no risk: an international number never does, which
 * is how a spoofed +2395588 is told from the bank's own 95588.
 *
 * A sender that is not a number at all is a name ("HSBC", "RoyalMail") or an
 * e-mail address (iMessage); classes of kind name or email match those,
 * optionally only the listed names. */
#include <string.h>

#include "engine_internal.h"
#include "ydoc.h"

int fz_number_canon(const char *s, size_t n, fz_number *out)
{
    char d[32];
    size_t k = 0;
    int plus = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (k >= sizeof d - 1)
                return -1;
            d[k++] = c;
        } else if (c == '+' && k == 0 && !plus) {
            plus = 1;
        } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
            return -1;
        }
    }
    if (k == 0)
        return -1;
    const char *p = d;
    int intl = 0;
    if (plus) {
        intl = 1;
    } else if (k > 2 && p[0] == '0' && p[1] == '0') {
        intl = 1;
        p += 2;
        k -= 2;
    }
    int trunk = 0;
    if (intl && k > 2 && p[0] == '8' && p[1] == '6') {
        intl = 0;                           /* +86 / 0086: China itself */
        p += 2;
        k -= 2;
        /* A number with an area code, written internationally, drops its
         * trunk 0 (+86 10 6552 9999 is 010 6552 9999; +86 21 96110 is
         * 021 96110): put it back. Mobiles (1 + 10 digits), 400/800 numbers
         * and short national service numbers (95588, 10086: six digits at
         * most) have none. */
        int mobile = k == 11 && p[0] == '1', hotline = k == 10 && (p[0] == '4' || p[0] == '8') && p[1] == '0' &&
                                                         p[2] == '0';
        trunk = k >= 7 && k <= 11 && p[0] != '0' && !mobile && !hotline;
    } else if (!intl && k == 13 && p[0] == '8' && p[1] == '6' && p[2] == '1') {
        p += 2;                             /* 8613812345678 */
        k -= 2;
    }
    if (k == 0 || k + (size_t)trunk >= sizeof out->digits)
        return -1;
    if (trunk)
        out->digits[0] = '0';
    memcpy(out->digits + trunk, p, k);
    k += (size_t)trunk;
    out->digits[k] = '\0';
    out->len = k;
    out->international = intl;
    return 0;
}

/* Entries are short digit strings; their length is stored in the byte
 * before each (see digits_only), so matching needs no strlen. */
static size_t entry_len(const char *s)
{
    return (size_t)(unsigned char)s[-1];
}

static int in_list(const char *digits, size_t len, const char **list, size_t n, int mode)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = entry_len(list[i]);
        if (l > len)
            continue;
        if (mode == 0 && l == len && memcmp(digits, list[i], l) == 0) return 1;       /* exact */
        if (mode == 1 && memcmp(digits, list[i], l) == 0) return 1;                   /* prefix */
        if (mode == 2 && memcmp(digits + len - l, list[i], l) == 0) return 1;         /* suffix */
    }
    return 0;
}

static int class_matches(const fz_numclass *c, const fz_number *num)
{
    if (c->international >= 0 && c->international != num->international)
        return 0;
    if (c->n_numbers && !in_list(num->digits, num->len, c->numbers, c->n_numbers, 0))
        return 0;
    if (c->n_prefixes && !in_list(num->digits, num->len, c->prefixes, c->n_prefixes, 1))
        return 0;
    if (c->n_suffixes && !in_list(num->digits, num->len, c->suffixes, c->n_suffixes, 2))
        return 0;
    if (c->n_lengths) {
        int ok = 0;
        for (size_t i = 0; i < c->n_lengths; i++)
            ok |= (size_t)c->lengths[i] == num->len;
        if (!ok)
            return 0;
    }
    return 1;
}

long fz_number_classify(const fz_ruleset *rs, const fz_number *num)
{
    if (!num->international && in_list(num->digits, num->len, rs->allow_numbers, rs->n_allow, 0))
        return (long)rs->n_classes;
    for (size_t i = 0; i < rs->n_classes; i++)
        if (rs->classes[i].kind == FZ_SENDER_NUMBER && class_matches(&rs->classes[i], num))
            return (long)i;
    return -1;
}

long fz_sender_classify(const fz_ruleset *rs, const char *s, size_t n)
{
    fz_number num;
    if (fz_number_canon(s, n, &num) == 0)
        return fz_number_classify(rs, &num);
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (!n)
        return -1;
    int kind = memchr(s, '@', n) ? FZ_SENDER_EMAIL : FZ_SENDER_NAME;
    for (size_t i = 0; i < rs->n_classes; i++) {
        const fz_numclass *c = &rs->classes[i];
        if (c->kind != kind)
            continue;
        if (!c->n_names)
            return (long)i;
        for (size_t k = 0; k < c->n_names; k++)
            if (strlen(c->names[k]) == n && strncasecmp(c->names[k], s, n) == 0)
                return (long)i;
    }
    return -1;
}

/* --- numbers.yaml --------------------------------------------------------------- */

/* Check that every entry is digits, and store each entry again with its
 * length in the byte before it (for in_list). */
static int digits_only(fz_ydoc *d, yaml_node_t **nodes, const char **list, size_t n, const char *cls)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = list[i];
        size_t l = strlen(s);
        int ok = l > 0 && l < 255;
        for (; *s; s++)
            ok &= *s >= '0' && *s <= '9';
        if (!ok) {
            fz_ydoc_error(d, nodes[i], NULL, "class '%s': '%s' must be 1 to 254 digits", cls, list[i]);
            bad++;
            continue;
        }
        char *copy = fz_arena_alloc(d->arena, l + 2);
        if (!copy)
            return bad + 1;
        copy[0] = (char)l;
        memcpy(copy + 1, list[i], l + 1);
        list[i] = copy + 1;
    }
    return bad;
}

static int parse_class(fz_ruleset *rs, fz_ydoc *d, yaml_node_t *n, fz_numclass *c)
{
    static const char *const keys[] = {"class", "description", "kind", "names", "international", "prefixes",
                                       "suffixes", "numbers", "lengths", "score", "callback_score", NULL};
    int bad = fz_ydoc_check_keys(d, n, keys, NULL, "a number class");
    if (!fz_ynode_is(n, YAML_MAPPING_NODE))
        return bad;
    memset(c, 0, sizeof *c);
    c->international = -1;
    c->pos = (fz_pos){d->file, fz_ynode_line(n), fz_ynode_col(n)};
    yaml_node_t *v = fz_ydoc_get(d, n, "class");
    char *name = NULL;
    if (!v || fz_ydoc_string(d, v, NULL, "class", &name)) {
        if (!v) fz_ydoc_error(d, n, NULL, "a number class needs 'class' (its name)");
        return bad + 1;
    }
    c->name = name;
    for (size_t i = 0; i < rs->n_classes; i++)
        if (strcmp(rs->classes[i].name, name) == 0) {
            fz_ydoc_error(d, v, NULL, "number class '%s' is defined twice", name);
            bad++;
        }
    if (strcmp(name, "allowlisted") == 0) {
        fz_ydoc_error(d, v, NULL, "'allowlisted' is reserved for the allow list");
        bad++;
    }
    char *desc;
    if ((v = fz_ydoc_get(d, n, "description")) && fz_ydoc_string(d, v, NULL, "description", &desc) == 0)
        c->description = desc;
    if ((v = fz_ydoc_get(d, n, "kind"))) {
        char *k;
        if (fz_ydoc_string(d, v, NULL, "kind", &k) == 0) {
            if (strcmp(k, "number") == 0) c->kind = FZ_SENDER_NUMBER;
            else if (strcmp(k, "name") == 0) c->kind = FZ_SENDER_NAME;
            else if (strcmp(k, "email") == 0) c->kind = FZ_SENDER_EMAIL;
            else {
                fz_ydoc_error(d, v, NULL, "class '%s': kind must be number, name or email, not '%s'", name, k);
                bad++;
            }
        } else {
            bad++;
        }
    }
    if ((v = fz_ydoc_get(d, n, "names"))) {
        if (c->kind == FZ_SENDER_NUMBER) {
            fz_ydoc_error(d, v, NULL, "class '%s': names are for kind name or email", name);
            bad++;
        } else if (fz_ydoc_strings(d, v, NULL, "names", (char ***)&c->names, NULL, &c->n_names)) {
            bad++;
        }
    }
    if ((v = fz_ydoc_get(d, n, "international")))
        bad += fz_ydoc_bool(d, v, name, "international", &c->international) != 0;
    const char *keys3[3] = {"prefixes", "suffixes", "numbers"};
    const char ***lists[3] = {&c->prefixes, &c->suffixes, &c->numbers};
    size_t *counts[3] = {&c->n_prefixes, &c->n_suffixes, &c->n_numbers};
    for (int k = 0; k < 3; k++) {
        yaml_node_t **nodes;
        if (!(v = fz_ydoc_get(d, n, keys3[k])))
            continue;
        if (fz_ydoc_strings(d, v, NULL, keys3[k], (char ***)lists[k], &nodes, counts[k]))
            bad++;
        else
            bad += digits_only(d, nodes, *lists[k], *counts[k], name);
    }
    if ((v = fz_ydoc_get(d, n, "lengths"))) {
        char **ls;
        yaml_node_t **nodes;
        size_t nl;
        if (fz_ydoc_strings(d, v, NULL, "lengths", &ls, &nodes, &nl) == 0) {
            c->lengths = fz_arena_alloc(&rs->arena, (nl ? nl : 1) * sizeof *c->lengths);
            for (size_t i = 0; c->lengths && i < nl; i++) {
                double x;
                if (fz_ydoc_number(d, nodes[i], NULL, "a length", &x) || x < 1 || x > 20 || x != (int)x) {
                    bad++;
                    continue;
                }
                c->lengths[c->n_lengths++] = (int)x;
            }
        } else {
            bad++;
        }
    }
    if (!(v = fz_ydoc_get(d, n, "score"))) {
        fz_ydoc_error(d, n, NULL, "number class '%s' needs a 'score'", name);
        bad++;
    } else {
        bad += fz_ydoc_number(d, v, NULL, "score", &c->score) != 0;
    }
    if ((v = fz_ydoc_get(d, n, "callback_score")))
        bad += fz_ydoc_number(d, v, NULL, "callback_score", &c->callback_score) != 0;
    for (size_t i = 0; c->international == 1 && i < c->n_prefixes; i++)
        if (strncmp(c->prefixes[i], "86", 2) == 0)
            fz_ydoc_warn(d, n, NULL, "class '%s' can never match prefix '%s': +86 and 0086 numbers are "
                         "domestic (the 86 is removed before classes are matched)", name, c->prefixes[i]);
    return bad;
}

int fz_numbers_parse(fz_ruleset *rs, fz_ydoc *d)
{
    static const char *const top[] = {"classes", "allow", NULL};
    static const char *const allow_keys[] = {"numbers", "description", NULL};
    yaml_node_t *root = fz_ydoc_root(d);
    int bad = fz_ydoc_check_keys(d, root, top, NULL, "numbers.yaml");
    yaml_node_t *classes = fz_ydoc_get(d, root, "classes"), *allow = fz_ydoc_get(d, root, "allow");
    if (classes && !fz_ynode_is(classes, YAML_SEQUENCE_NODE)) {
        fz_ydoc_error(d, classes, NULL, "'classes' must be a list");
        bad++;
    } else if (classes) {
        size_t k = (size_t)(classes->data.sequence.items.top - classes->data.sequence.items.start);
        rs->classes = calloc(k ? k : 1, sizeof *rs->classes);
        if (!rs->classes)
            return bad + 1;
        for (size_t i = 0; i < k; i++) {
            int e = parse_class(rs, d, fz_ydoc_node(d, classes->data.sequence.items.start[i]),
                                &rs->classes[rs->n_classes]);
            if (e == 0)
                rs->n_classes++;
            bad += e;
        }
    }
    if (allow) {
        yaml_node_t *nums = fz_ydoc_get(d, allow, "numbers"), **nodes;
        bad += fz_ydoc_check_keys(d, allow, allow_keys, NULL, "the allow list");
        if (nums && fz_ydoc_strings(d, nums, NULL, "allow.numbers", (char ***)&rs->allow_numbers, &nodes, &rs->n_allow) == 0)
            bad += digits_only(d, nodes, rs->allow_numbers, rs->n_allow, "allow");
    }
    return bad;
}
