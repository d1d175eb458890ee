/* hsplan.c — how a rule's pattern is handed to Hyperscan.
 *
 * Why. Hyperscan is slow on patterns written naturally for Chinese text:
 * UTF-8 mode (needed for [账帐] or 的? to mean whole characters) and bounded
 * gaps (安全.{0,4}账户) turn cheap literal matching into automata that run
 * over every byte. Measured on the shipped pack, UTF-8 mode and gaps made up
 * about two thirds of the scan cost.
 *
 * How. The pattern is rewritten for Hyperscan only; PCRE2 keeps the pattern
 * as written and stays the judge of what matches:
 *   - a class of whole characters becomes an alternation ([账帐] ->
 *     (?:账|帐)) and a quantified character becomes a group (的? -> (?:的)?),
 *     which mean exactly the same in byte mode;
 *   - the pattern is cut into its top-level branches (A|B|C);
 *   - a branch with top-level gaps (.{m,n}, \S{m,n}, [^...]{m,n}, .*, .+) is
 *     cut at them into pieces. Hyperscan looks for each piece on its own; a
 *     branch is a candidate when all its pieces were seen, and PCRE2 then
 *     confirms the whole pattern. Pieces that could match nothing are left
 *     out (a candidate is then found more often, never less).
 * A branch without gaps stays one expression, exact as written.
 * fz_pattern_needs_utf8 then decides each expression's mode.
 *
 * Last, an expression that can only match a finite, small set of strings
 * ((冻结|停用)(您|你)的?(账户|银行卡) is 16 strings) is expanded into that set
 * (fz_hs_expand). Hyperscan matches a set of literals an order of magnitude
 * faster than the equivalent alternation on Chinese text (measured on the
 * shipped pack: 1313 of 1544 expressions expand, and literal matching of
 * them costs a fifth of the automata they replace). */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "hsplan.h"

/* Length of the quantifier at p ({m}, {m,}, {m,n}, ?, *, + and a lazy or
 * possessive suffix), or 0 when p does not start one. */
static size_t quantifier_len(const char *p)
{
    size_t n = 0;
    if (*p == '?' || *p == '*' || *p == '+') {
        n = 1;
    } else if (*p == '{') {
        const char *q = p + 1;
        if (*q < '0' || *q > '9')
            return 0;
        while (*q >= '0' && *q <= '9')
            q++;
        if (*q == ',')
            for (q++; *q >= '0' && *q <= '9'; q++)
                ;
        if (*q != '}')
            return 0;
        n = (size_t)(q - p) + 1;
    } else {
        return 0;
    }
    if (p[n] == '?' || p[n] == '+')
        n++;
    return n;
}

/* Length of the escape at p (p[0] == '\\'). */
static size_t escape_len(const char *p)
{
    if (!p[1])
        return 1;
    if ((p[1] == 'x' || p[1] == 'p' || p[1] == 'P' || p[1] == 'N' || p[1] == 'o') && p[2] == '{') {
        const char *q = strchr(p + 3, '}');
        return q ? (size_t)(q - p) + 1 : strlen(p);
    }
    if (p[1] == 'x') {
        size_t n = 2;
        while (n < 4 && strchr("0123456789abcdefABCDEF", p[n]) && p[n])
            n++;
        return n;
    }
    if (p[1] == 'c' && p[2])
        return 3;
    size_t len = 2;
    while ((unsigned char)p[len] >= 0x80 && ((unsigned char)p[len] & 0xC0) == 0x80)
        len++;              /* an escaped multibyte character */
    return len;
}

static size_t utf8_len(const char *p)
{
    unsigned char c = (unsigned char)*p;
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    for (size_t i = 1; i < n; i++)
        if (!p[i])
            return i;
    return n;
}

/* Length of the class at p (p[0] == '['), with its closing bracket. */
static size_t class_len(const char *p)
{
    const char *q = p + 1;
    if (*q == '^')
        q++;
    if (*q == ']')
        q++;
    while (*q && *q != ']') {
        if (*q == '\\' && q[1])
            q += escape_len(q);
        else if (*q == '[' && q[1] == ':') {
            const char *e = strstr(q + 2, ":]");
            q = e ? e + 2 : q + 1;
        } else
            q += utf8_len(q);
    }
    return *q ? (size_t)(q - p) + 1 : (size_t)(q - p);
}

/* Rewrite a class of whole characters as an alternation, when that is exact:
 * not negated, no range with a multibyte end. Otherwise copy it. */
static int put_class(fz_buf *out, const char *p, size_t n)
{
    int has_multi = 0;
    for (size_t i = 0; i < n; i++)
        has_multi |= (unsigned char)p[i] >= 0x80;
    if (!has_multi || p[1] == '^')
        return fz_buf_append(out, p, n);
    fz_buf ascii = FZ_BUF_INIT, multi = FZ_BUF_INIT;
    int exact = 1, rc = 0;
    const char *q = p + 1, *end = p + n - 1;
    while (q < end && !rc) {
        size_t l = *q == '\\' ? escape_len(q) : (*q == '[' && q[1] == ':') ? (size_t)(strstr(q, ":]") + 2 - q)
                                                                          : utf8_len(q);
        if (q + l < end && q[l] == '-' && q + l + 1 < end) {
            /* a range: exact only between ASCII ends */
            size_t l2 = q[l + 1] == '\\' ? escape_len(q + l + 1) : utf8_len(q + l + 1);
            if ((unsigned char)*q >= 0x80 || (unsigned char)q[l + 1] >= 0x80)
                exact = 0;
            rc = fz_buf_append(&ascii, q, l + 1 + l2);
            q += l + 1 + l2;
            continue;
        }
        if ((unsigned char)*q >= 0x80)
            rc = fz_buf_append(&multi, "|", multi.len ? 1 : 0) || fz_buf_append(&multi, q, l);
        else
            rc = fz_buf_append(&ascii, q, l);
        q += l;
    }
    if (!rc && exact) {
        rc = fz_buf_lit(out, "(?:");
        if (!rc && ascii.len)
            rc = fz_buf_lit(out, "[") || fz_buf_append(out, ascii.data, ascii.len) ||
                 fz_buf_lit(out, "]|");
        rc = rc || fz_buf_append(out, multi.data, multi.len) || fz_buf_lit(out, ")");
    } else if (!rc) {
        rc = fz_buf_append(out, p, n);
    }
    fz_buf_free(&ascii);
    fz_buf_free(&multi);
    return rc;
}

/* 1 when the atom at p (of length n) is a wildcard that, quantified, is a
 * gap between the literal parts of a branch. */
static int is_wildcard(const char *p, size_t n)
{
    if (n == 1 && *p == '.')
        return 1;
    if (n == 2 && p[0] == '\\' && strchr("SWDN", p[1]))
        return 1;
    return p[0] == '[' && p[1] == '^';
}

static int plan_push_piece(fz_hs_branch *b, fz_buf *piece)
{
    if (piece->len == 0)
        return 0;
    char **pieces = realloc(b->pieces, (b->n_pieces + 1) * sizeof *pieces);
    if (!pieces)
        return FZ_ENOMEM;
    b->pieces = pieces;
    b->pieces[b->n_pieces++] = piece->data;
    *piece = (fz_buf)FZ_BUF_INIT;
    return 0;
}

static int plan_push_branch(fz_hs_plan *plan, fz_hs_branch *b)
{
    fz_hs_branch *bs = realloc(plan->branches, (plan->n + 1) * sizeof *bs);
    if (!bs)
        return FZ_ENOMEM;
    plan->branches = bs;
    plan->branches[plan->n++] = *b;
    memset(b, 0, sizeof *b);
    return 0;
}

int fz_hs_plan_pattern(const char *pattern, fz_hs_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    fz_hs_branch br = {0};
    fz_buf piece = FZ_BUF_INIT;
    int depth = 0, rc = 0, gaps = 0;
    const char *p = pattern, *branch_start = pattern;
    while (*p && !rc) {
        size_t n;
        if (*p == '\\') {
            n = escape_len(p);
        } else if (*p == '[') {
            n = class_len(p);
        } else {
            n = utf8_len(p);
        }
        size_t q = quantifier_len(p + n);
        if (depth == 0 && *p == '|') {
            br.gapped = gaps;
            br.src_start = (size_t)(branch_start - pattern);
            br.src_len = (size_t)(p - branch_start);
            rc = plan_push_piece(&br, &piece) || plan_push_branch(plan, &br);
            gaps = 0;
            branch_start = ++p;
            continue;
        }
        if (depth == 0 && q && is_wildcard(p, n) && !(q == 1 && p[n] == '?')) {
            /* a gap: it ends the piece before it */
            gaps = 1;
            rc = plan_push_piece(&br, &piece);
            p += n + q;
            continue;
        }
        if (*p == '(')
            depth++;
        else if (*p == ')' && depth > 0)
            depth--;
        if (*p == '[')
            rc = put_class(&piece, p, n);
        else if ((unsigned char)*p >= 0x80 && q)
            rc = fz_buf_lit(&piece, "(?:") || fz_buf_append(&piece, p, n) || fz_buf_lit(&piece, ")");
        else
            rc = fz_buf_append(&piece, p, n);
        p += n;
    }
    br.gapped = gaps;
    br.src_start = (size_t)(branch_start - pattern);
    br.src_len = (size_t)(p - branch_start);
    if (!rc)
        rc = plan_push_piece(&br, &piece) || plan_push_branch(plan, &br);
    fz_buf_free(&piece);
    if (rc)
        fz_hs_plan_free(plan);
    return rc ? FZ_ENOMEM : 0;
}

void fz_hs_plan_free(fz_hs_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        for (size_t k = 0; k < plan->branches[i].n_pieces; k++)
            free(plan->branches[i].pieces[k]);
        free(plan->branches[i].pieces);
    }
    free(plan->branches);
    memset(plan, 0, sizeof *plan);
}

/* --- expanding a finite expression into its strings ---------------------------------- */

typedef struct strset {
    char **s;
    size_t *len;
    size_t n;
} strset;

static void set_free(strset *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->s[i]);
    free(a->s);
    free(a->len);
    memset(a, 0, sizeof *a);
}

static int set_add(strset *a, const char *s, size_t n, size_t limit)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->len[i] == n && memcmp(a->s[i], s, n) == 0)
            return 0;
    if (a->n >= limit)
        return -1;
    char **ns = realloc(a->s, (a->n + 1) * sizeof *ns);
    if (ns)
        a->s = ns;
    size_t *nl = realloc(a->len, (a->n + 1) * sizeof *nl);
    if (nl)
        a->len = nl;
    char *copy = malloc(n + 1);
    if (!ns || !nl || !copy) {
        free(copy);
        return -1;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    a->s[a->n] = copy;
    a->len[a->n++] = n;
    return 0;
}

/* out = every x + y, x in a, y in b. */
static int set_product(const strset *a, const strset *b, strset *out, size_t limit)
{
    memset(out, 0, sizeof *out);
    if (a->n * b->n > limit)
        return -1;
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++) {
            char buf[512];
            if (a->len[i] + b->len[j] > sizeof buf)
                return -1;
            memcpy(buf, a->s[i], a->len[i]);
            memcpy(buf + a->len[i], b->s[j], b->len[j]);
            if (set_add(out, buf, a->len[i] + b->len[j], limit))
                return -1;
        }
    return 0;
}

typedef struct {
    const char *p;
    size_t limit;
} expander;

static int ex_alt(expander *x, strset *out);

/* One atom: a character, an escaped punctuation character, a small class
 * of ASCII characters, or a group. Anything else cannot be expanded. */
static int ex_atom(expander *x, strset *out)
{
    memset(out, 0, sizeof *out);
    const char *p = x->p;
    if (*p == '(') {
        p++;
        if (p[0] == '?' && p[1] == ':')
            p += 2;
        else if (p[0] == '?')
            return -1;
        x->p = p;
        if (ex_alt(x, out) || *x->p != ')')
            return -1;
        x->p++;
        return 0;
    }
    if (*p == '[') {
        p++;
        if (*p == '^')
            return -1;
        while (*p && *p != ']') {
            if ((unsigned char)*p >= 0x80 || *p == '\\' || *p == '[')
                return -1;
            char lo = *p, hi = *p;
            if (p[1] == '-' && p[2] && p[2] != ']') {
                hi = p[2];
                p += 2;
            }
            if (hi - lo > 10)
                return -1;
            for (char c = lo; c <= hi; c++)
                if (set_add(out, &c, 1, x->limit))
                    return -1;
            p++;
        }
        if (*p != ']')
            return -1;
        x->p = p + 1;
        return 0;
    }
    if (*p == '\\') {
        char c = p[1];
        if (!c || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            return -1;             /* \d, \b, \x..: a class or an assertion */
        x->p = p + 2;
        return set_add(out, &c, 1, x->limit);
    }
    if (*p == '.' || *p == '^' || *p == '$' || *p == '|' || *p == ')' || *p == '\0' || *p == '*' ||
        *p == '+' || *p == '?' || *p == '{')
        return -1;
    size_t n = utf8_len(p);
    x->p = p + n;
    return set_add(out, p, n, x->limit);
}

/* The repeat counts of a quantifier (? or {m} or {m,n} with n <= 4). */
static int ex_quant(expander *x, int *lo, int *hi)
{
    const char *p = x->p;
    *lo = *hi = 1;
    if (*p == '?') {
        *lo = 0;
        x->p++;
    } else if (*p == '{') {
        size_t q = quantifier_len(p);
        if (!q || p[q - 1] != '}')
            return -1;
        char *end;
        *lo = (int)strtol(p + 1, &end, 10);
        *hi = *end == ',' ? (end[1] == '}' ? 99 : (int)strtol(end + 1, NULL, 10)) : *lo;
        x->p += q;
    } else if (*p == '*' || *p == '+') {
        return -1;
    }
    if (*x->p == '?' || *x->p == '+')
        return -1;                 /* lazy or possessive: not worth the trouble */
    return *hi > 4 || *lo > *hi ? -1 : 0;
}

static int ex_seq(expander *x, strset *out)
{
    memset(out, 0, sizeof *out);
    if (set_add(out, "", 0, x->limit))
        return -1;
    while (*x->p && *x->p != '|' && *x->p != ')') {
        strset atom, rep, next;
        int lo, hi;
        if (ex_atom(x, &atom) || ex_quant(x, &lo, &hi)) {
            set_free(&atom);
            return -1;
        }
        /* rep = atom repeated lo..hi times */
        memset(&rep, 0, sizeof rep);
        strset power;
        memset(&power, 0, sizeof power);
        int rc = set_add(&power, "", 0, x->limit);
        for (int k = 0; !rc && k <= hi; k++) {
            if (k >= lo)
                for (size_t i = 0; !rc && i < power.n; i++)
                    rc = set_add(&rep, power.s[i], power.len[i], x->limit);
            if (k < hi && !rc) {
                strset more = {0};
                rc = set_product(&power, &atom, &more, x->limit);
                set_free(&power);
                power = more;
            }
        }
        set_free(&power);
        set_free(&atom);
        memset(&next, 0, sizeof next);
        rc = rc || set_product(out, &rep, &next, x->limit);
        set_free(&rep);
        set_free(out);
        if (rc)
            return -1;
        *out = next;
    }
    return 0;
}

static int ex_alt(expander *x, strset *out)
{
    if (ex_seq(x, out))
        return -1;
    while (*x->p == '|') {
        x->p++;
        strset more;
        if (ex_seq(x, &more)) {
            set_free(&more);
            return -1;
        }
        for (size_t i = 0; i < more.n; i++)
            if (set_add(out, more.s[i], more.len[i], x->limit)) {
                set_free(&more);
                return -1;
            }
        set_free(&more);
    }
    return 0;
}

int fz_hs_expand(const char *expr, size_t limit, char ***strings, size_t **lens, size_t *n, int *bounds)
{
    /* \b at the very start or end is allowed: the caller checks it. */
    size_t len = strlen(expr);
    char *body = strdup(expr);
    if (!body)
        return -1;
    *bounds = 0;
    if (len >= 2 && body[0] == '\\' && body[1] == 'b') {
        memmove(body, body + 2, len - 1);
        len -= 2;
        *bounds |= FZ_BOUND_START;
    }
    if (len >= 2 && body[len - 2] == '\\' && body[len - 1] == 'b' && (len < 3 || body[len - 3] != '\\')) {
        body[len - 2] = '\0';
        *bounds |= FZ_BOUND_END;
    }
    expander x = {body, limit};
    strset out;
    int rc = ex_alt(&x, &out);
    if (!rc && *x.p != '\0')
        rc = -1;
    free(body);
    for (size_t i = 0; !rc && i < out.n; i++)
        if (out.len[i] == 0)
            rc = -1;               /* it could match nothing at all */
    if (rc) {
        set_free(&out);
        return -1;
    }
    *strings = out.s;
    *lens = out.len;
    *n = out.n;
    return 0;
}
