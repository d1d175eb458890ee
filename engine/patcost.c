/* patcost.c — how large a regular expression becomes once compiled: an
 * estimate, used to refuse at check time the patterns that would make
 * Hyperscan's compiler run for minutes or exhaust memory at load.
 *
 * How it works. Hyperscan (like any automaton compiler) expands a bounded
 * repeat into copies of what it repeats: `.{0,40}` is forty positions, and
 * `(.{0,40}x){1,300}` is some twelve thousand. The cost of a pattern is the
 * number of positions after that expansion: a character, a class or a dot
 * is one; a sequence or an alternation is the sum of its parts; a bounded
 * repeat multiplies what it repeats by its upper bound (an unbounded one,
 * `*`, `+`, `{m,}`, by its lower bound plus one: it compiles to a loop).
 * The walk is a small recursive descent over the pattern text; PCRE2 has
 * already said the pattern is valid, so the walk only needs to be right
 * about structure, not to diagnose syntax. */
#include <stdlib.h>
#include <string.h>

#include "patcost.h"

#define SATURATE 1e15
#define MAX_DEPTH 200

typedef struct walk {
    const char *p;
    int depth;
} walk;

static double alternation(walk *w);

static double sat(double x)
{
    return x > SATURATE ? SATURATE : x;
}

/* Skip past a character class: `[...]`, with `]` first, escapes and
 * POSIX names (`[:alpha:]`) inside. */
static void skip_class(walk *w)
{
    w->p++;
    if (*w->p == '^')
        w->p++;
    if (*w->p == ']')
        w->p++;
    while (*w->p && *w->p != ']') {
        if (*w->p == '\\' && w->p[1])
            w->p += 2;
        else if (w->p[0] == '[' && w->p[1] == ':' && strstr(w->p + 2, ":]"))
            w->p = strstr(w->p + 2, ":]") + 2;
        else
            w->p++;
    }
    if (*w->p)
        w->p++;
}

static void skip_escape(walk *w)
{
    w->p++;                             /* the backslash */
    if (!*w->p)
        return;
    char c = *w->p++;
    if ((c == 'x' || c == 'p' || c == 'P' || c == 'o' || c == 'g' || c == 'k') && *w->p == '{') {
        const char *end = strchr(w->p, '}');
        w->p = end ? end + 1 : w->p + strlen(w->p);
    } else if (c == 'Q') {
        const char *end = strstr(w->p, "\\E");
        w->p = end ? end + 2 : w->p + strlen(w->p);
    }
}

/* After "(?": the kind of group, (?:  (?=  (?!  (?>  (?|  (?<=  (?<!
 * (?<name>  (?P<name>  (?'name'  or options (?i)  (?i: . */
static void skip_group_kind(walk *w)
{
    w->p++;
    char c = *w->p;
    if (c == ':' || c == '=' || c == '!' || c == '>' || c == '|') {
        w->p++;
    } else if (c == '<' && (w->p[1] == '=' || w->p[1] == '!')) {
        w->p += 2;
    } else if (c == '<' || c == '\'' || (c == 'P' && w->p[1] == '<')) {
        const char *close = strpbrk(w->p + 1, ">'");
        w->p = close ? close + 1 : w->p + strlen(w->p);
    } else {
        while (*w->p && *w->p != ':' && *w->p != ')')
            w->p++;
        if (*w->p == ':')
            w->p++;
    }
}

/* One atom; its cost (0 for assertions and options, which take no position). */
static double atom(walk *w)
{
    unsigned char c = (unsigned char)*w->p;
    if (c == '(') {
        w->p++;
        if (w->depth++ > MAX_DEPTH)
            return SATURATE;
        if (*w->p == '?' && w->p[1] == '#') {         /* a comment */
            const char *end = strchr(w->p, ')');
            w->p = end ? end + 1 : w->p + strlen(w->p);
            w->depth--;
            return 0;
        }
        if (*w->p == '?')
            skip_group_kind(w);
        double x = alternation(w);
        if (*w->p == ')')
            w->p++;
        w->depth--;
        return x;
    }
    if (c == '[') {
        skip_class(w);
        return 1;
    }
    if (c == '\\') {
        skip_escape(w);
        return 1;
    }
    if (c == '^' || c == '$') {
        w->p++;
        return 0;
    }
    w->p++;
    while ((*w->p & 0xC0) == 0x80)                     /* the rest of a UTF-8 character */
        w->p++;
    return 1;
}

/* The quantifier after an atom, as the factor its cost is multiplied by. */
static double quantifier(walk *w)
{
    double f = 1;
    if (*w->p == '*' || *w->p == '+' || *w->p == '?') {
        w->p++;
    } else if (*w->p == '{' && w->p[1] >= '0' && w->p[1] <= '9') {
        char *end;
        double lo = strtod(w->p + 1, &end), hi = lo;
        int unbounded = 0;
        if (*end == ',') {
            if (end[1] == '}')
                unbounded = 1;
            else
                hi = strtod(end + 1, &end);
        }
        const char *close = strchr(w->p, '}');
        if (!close)                                    /* a literal brace */
            return 1;
        w->p = close + 1;
        f = unbounded ? lo + 1 : hi;
        if (f < 1)
            f = 1;
    } else {
        return 1;
    }
    if (*w->p == '?' || *w->p == '+')                  /* lazy or possessive */
        w->p++;
    return f;
}

static double sequence(walk *w)
{
    double sum = 0;
    while (*w->p && *w->p != '|' && *w->p != ')') {
        double a = atom(w);
        sum = sat(sum + sat(a * quantifier(w)));
    }
    return sum;
}

static double alternation(walk *w)
{
    double sum = sequence(w);
    while (*w->p == '|') {
        w->p++;
        sum = sat(sum + sequence(w));
    }
    return sum;
}

double fz_pattern_cost(const char *pattern)
{
    walk w = {pattern, 0};
    double total = 0;
    while (*w.p) {
        total = sat(total + alternation(&w));
        if (*w.p == ')')                               /* unbalanced: PCRE2 would have refused it */
            w.p++;
    }
    return total;
}
