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

/* Expand an expression that can match only a finite set of strings (at
 * most `limit` of them) into that set: 0, or -1 when it cannot be expanded
 * (a class like \d, an assertion, an unbounded or large repeat, too many
 * strings). The caller frees each string and both arrays. */
int fz_hs_expand(const char *expr, size_t limit, char ***strings, size_t **lens, size_t *n);

/* 0 or FZ_ENOMEM. */
int fz_hs_plan_pattern(const char *pattern, fz_hs_plan *plan);
void fz_hs_plan_free(fz_hs_plan *plan);

#endif
