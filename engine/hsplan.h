/* hsplan.h — rewriting a pattern for Hyperscan (see hsplan.c). */
#ifndef FZ_HSPLAN_H
#define FZ_HSPLAN_H

#include <stddef.h>

typedef struct fz_hs_branch {
    char **pieces;      /* rewritten for byte mode; one piece when not gapped */
    size_t n_pieces;
    int gapped;         /* 1: all pieces must be seen, then PCRE2 confirms */
    size_t src_start;   /* the branch as written: pattern[src_start .. src_start + src_len) */
    size_t src_len;
} fz_hs_branch;

typedef struct fz_hs_plan {
    fz_hs_branch *branches;
    size_t n;
} fz_hs_plan;

enum { FZ_BOUND_START = 1, FZ_BOUND_END = 2 };

/* Expand an expression that can match only a finite set of strings (at
 * most `limit` of them) into that set: 0, or -1 when it cannot be expanded
 * (a class like \d, an assertion inside, an unbounded or large repeat, too
 * many strings). A \b at the very start or end is taken off and reported in
 * *bounds (FZ_BOUND_*): the caller must check the word boundary there. The
 * caller frees each string and both arrays. */
int fz_hs_expand(const char *expr, size_t limit, char ***strings, size_t **lens, size_t *n, int *bounds);

/* 0 or FZ_ENOMEM. */
int fz_hs_plan_pattern(const char *pattern, fz_hs_plan *plan);
void fz_hs_plan_free(fz_hs_plan *plan);

#endif
