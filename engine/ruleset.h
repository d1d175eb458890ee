/* ruleset.h — the rule pack as data: categories, rules, number classes,
 * brands for look-alike domains and the policy, as read from rules/.
 *
 * A ruleset is produced by fz_ruleset_load (ruleset.c), which reads and
 * validates every file; the engine (engine.c) compiles it. All strings and
 * lists live in the ruleset's arena. */
#ifndef FZ_RULESET_H
#define FZ_RULESET_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"

typedef struct fz_pos {
    const char *file;
    int line, col;
} fz_pos;

enum { FZ_SEV_LOW = 0, FZ_SEV_MEDIUM, FZ_SEV_HIGH, FZ_SEV_CRITICAL };

typedef struct fz_category {
    const char *id;
    const char *title;
    const char *description;
    int severity;
    fz_pos pos;
} fz_category;

typedef struct fz_example {
    const char *text;
    const char *from;       /* NULL unless the example names a sender */
    int expect_match;
    fz_pos pos;
} fz_example;

typedef enum { FZ_RK_LITERAL, FZ_RK_PATTERN, FZ_RK_COMBO } fz_rk;

/* A reference from a combination to a rule or signal, resolved to a signal
 * index (see signal numbering in engine_internal.h). */
typedef struct fz_ref {
    const char *name;
    fz_pos pos;
    uint32_t signal;
} fz_ref;

typedef struct fz_rule {
    const char *id;
    uint32_t category;
    fz_rk kind;
    const char **literals;  /* normalized */
    size_t n_literals;
    int word;               /* literals match only as whole words (ASCII word boundaries) */
    const char *pattern;
    fz_pos pattern_pos;
    fz_ref *all, *any, *not_;
    size_t n_all, n_any, n_not;
    int min;                /* with any */
    double score;
    const char *description;
    fz_example *examples;
    size_t n_examples;
    fz_pos pos;
} fz_rule;

enum { FZ_SENDER_NUMBER = 0, FZ_SENDER_NAME, FZ_SENDER_EMAIL };

typedef struct fz_numclass {
    const char *name;
    const char *description;
    int kind;               /* FZ_SENDER_*: what the class matches */
    const char **names;     /* kind name or email: exact matches, any case (none: any) */
    size_t n_names;
    int international;      /* -1: any, 0: domestic only, 1: international only */
    const char **prefixes, **suffixes, **numbers;
    size_t n_prefixes, n_suffixes, n_numbers;
    int *lengths;
    size_t n_lengths;
    double score;
    double callback_score;
    fz_pos pos;
} fz_numclass;

typedef struct fz_brand {
    const char *name;
    const char **tokens;    /* strings that, inside a host name, name the brand */
    const char **official;  /* its genuine registrable domains */
    size_t n_tokens, n_official;
} fz_brand;

/* Warnings to residents (warn.c, warnings.c). */
enum { FZ_LANG_ZH = 0, FZ_LANG_EN, FZ_LANG_COUNT };
enum { FZ_ROLE_RESIDENT = 0, FZ_ROLE_GUARDIAN, FZ_ROLE_COUNT };

typedef struct fz_wtemplate {
    int language, role;
    const char **categories;    /* none: the default of its language and role */
    size_t n_categories;
    const char *text;
    fz_pos pos;
} fz_wtemplate;

typedef struct fz_kind {
    const char *category;       /* a category id, or "reported", or "default" */
    const char *name;           /* how residents call it: 冒充公检法 */
} fz_kind;

typedef struct fz_warnings {
    int present;                /* the pack has warnings.yaml */
    fz_wtemplate *templates;
    size_t n_templates;
    fz_kind *kinds[FZ_LANG_COUNT];
    size_t n_kinds[FZ_LANG_COUNT];
    const char *anonymous[FZ_LANG_COUNT];   /* {name} of a resident without one */
    fz_pos pos;
} fz_warnings;

typedef struct fz_warn_policy {
    double score;               /* warn at this score (default: the block threshold) */
    double reputation;          /* or when a sender's decayed reporters reach this (0: never) */
    int daily_limit;            /* warnings per recipient per local day */
    int guardian_severity;      /* categories this severe warn the guardians too */
    int utc_offset_min;         /* local time, for days and quiet hours */
    int quiet_start, quiet_end; /* minutes after local midnight; equal: no quiet hours */
} fz_warn_policy;

typedef struct fz_policy {
    const char *version;
    double suspect;
    double block;
    double half_life_days;      /* reputation: a report's weight halves in this time */
    double per_reporter;        /* reputation: score per unit of decayed reporter count */
    double reputation_max;      /* reputation: score cap per number */
    double campaign_recipients; /* distinct recipients within the hour that make a campaign */
    double campaign_score;      /* added to every message of a campaign */
    double cache_ttl;           /* seconds a cached verdict lives */
    fz_warn_policy warn;
} fz_policy;

typedef struct fz_source_file {
    const char *name;       /* as shown in diagnostics */
    const char *data;
    size_t len;
} fz_source_file;

typedef struct fz_ruleset {
    fz_arena arena;
    fz_category *categories;
    size_t n_categories;
    fz_rule *rules;
    size_t n_rules;
    fz_numclass *classes;
    size_t n_classes;
    const char **allow_numbers;
    size_t n_allow;
    fz_brand *brands;
    size_t n_brands;
    const char **typo_tlds;
    size_t n_typo_tlds;
    fz_policy policy;
    fz_warnings warnings;
    const char *source;     /* "embedded" or the directory */
    char hash[33];          /* hex XXH3-128 of every file's name and content */
    fz_source_file *files;  /* kept for the warning stage and for tools */
    size_t n_files;
} fz_ruleset;

/* Read and validate a pack from dir (NULL: the embedded pack). Every problem
 * goes to diags; returns NULL when there was any error. */
fz_ruleset *fz_ruleset_load(const char *dir, fz_diags *diags);
void fz_ruleset_free(fz_ruleset *rs);

/* Parsers for the special files, in the files that own those stages. Each
 * reports problems to diags and returns the number of errors. */
struct fz_ydoc;
int fz_numbers_parse(fz_ruleset *rs, struct fz_ydoc *d);
int fz_policy_parse(fz_ruleset *rs, struct fz_ydoc *d);
int fz_domains_parse(fz_ruleset *rs, struct fz_ydoc *d);
int fz_warnings_parse(fz_ruleset *rs, struct fz_ydoc *d);
/* The warning section of policy.yaml (node may be NULL: the defaults). */
int fz_warn_policy_parse(fz_ruleset *rs, struct fz_ydoc *d, void *node);
/* After every file is read: templates against categories, and what a
 * template must never say. */
void fz_warnings_check(fz_ruleset *rs, fz_diags *diags);

const char *fz_severity_name(int sev);

#endif
