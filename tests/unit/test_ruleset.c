/* test_ruleset.c — loading a rule pack: every kind of mistake a rule
 * maintainer can make is reported as file:line:col: rule 'id': what is
 * wrong, at the exact place it is written; good packs load however their
 * directory is named.
 *
 * Each fixture is a small pack written to a temporary directory (tu_pack).
 * Line and column numbers in the expectations are counted in the fixture
 * text, 1-based; the comments next to the lines give the numbers. */
#include <stdio.h>
#include <string.h>

#include "patcost.h"
#include "testutil.h"

static const char k_policy[] = "version: \"rs-7\"\nactions:\n  suspect: 4\n  block: 8\n";

/* Lines 1-4 of every category fixture; rules start on line 5. */
#define HEAD "category: test\ntitle: T\nseverity: low\nrules:\n"

/* A pack with a valid policy and one category file zh/t.yaml. */
static const char *pack(const char *category_file)
{
    return tu_pack("policy.yaml", k_policy, "zh/t.yaml", category_file, NULL);
}

/* "<dir>/<file>:<line>:<col>: rule '<id>': " (or without the rule part). */
static const char *where(const char *dir, const char *file, int line, int col, const char *rule)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    if (rule)
        snprintf(b, 1024, "%s/%s:%d:%d: rule '%s': ", dir, file, line, col, rule);
    else
        snprintf(b, 1024, "%s/%s:%d:%d: ", dir, file, line, col);
    return b;
}

/* The pack fails with FZ_ERULES, and some diagnostic starts with the
 * position prefix and contains msg. */
static void expect_error(const char *dir, const char *prefix, const char *msg)
{
    tu_diags d;
    assert_int_equal(tu_engine_fails(dir, &d), FZ_ERULES);
    assert_true(d.errors > 0);
    int found = 0;
    for (int i = 0; i < d.n; i++)
        if (strncmp(d.lines[i], prefix, strlen(prefix)) == 0 && strstr(d.lines[i], msg))
            found = 1;
    if (!found) {
        for (int i = 0; i < d.n; i++)
            fprintf(stderr, "  diag: %s\n", d.lines[i]);
        fail_msg("no diagnostic '%s...%s'", prefix, msg);
    }
}

static void duplicate_id(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.one\n"        /* 5 */
                           "    literal: 'a'\n"        /* 6 */
                           "    score: 1\n"            /* 7 */
                           "  - id: zh.t.one\n"        /* 8: the id value at column 9 */
                           "    literal: 'b'\n"
                           "    score: 1\n");
    char msg[1024];
    snprintf(msg, sizeof msg, "duplicate id (first defined at %s/zh/t.yaml:5:5)", dir);
    expect_error(dir, where(dir, "zh/t.yaml", 8, 9, "zh.t.one"), msg);
}

static void duplicate_id_across_files(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml", k_policy,
                              "zh/a.yaml", HEAD "  - id: zh.t.one\n    literal: 'a'\n    score: 1\n",
                              "zh/b.yaml", HEAD "  - id: zh.t.two\n    literal: 'b'\n    score: 1\n"
                                               "  - id: zh.t.one\n    literal: 'c'\n    score: 1\n",
                              NULL);
    char msg[1024];
    snprintf(msg, sizeof msg, "duplicate id (first defined at %s/zh/a.yaml:5:5)", dir);
    expect_error(dir, where(dir, "zh/b.yaml", 8, 9, "zh.t.one"), msg);
}

static void unknown_key(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.one\n"        /* 5 */
                           "    literal: 'a'\n"        /* 6 */
                           "    scroe: 1\n"            /* 7: the key at column 5 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 7, 5, "zh.t.one"), "unknown key 'scroe' in a rule");
}

static void unknown_key_in_category_file(void **state)
{
    (void)state;
    const char *dir = pack("category: test\n"
                           "title: T\n"
                           "severity: low\n"
                           "severty: high\n"           /* 4 */
                           "rules:\n"
                           "  - id: zh.t.one\n    literal: 'a'\n    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 4, 1, NULL), "unknown key 'severty' in a category file");
}

static void duplicate_key(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.one\n"        /* 5 */
                           "    literal: 'a'\n"        /* 6 */
                           "    score: 1\n"            /* 7 */
                           "    score: 2\n");          /* 8 */
    expect_error(dir, where(dir, "zh/t.yaml", 8, 5, "zh.t.one"), "key 'score' appears twice in a rule");
}

static void bad_regex(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.re\n"         /* 5 */
                           "    pattern: '(安全'\n"     /* 6: the quote at column 14 */
                           "    score: 1\n");
    /* PCRE2 stops at the end of the pattern, byte 7 ("(" + two 3-byte characters). */
    expect_error(dir, where(dir, "zh/t.yaml", 6, 14, "zh.t.re"),
                 "invalid pattern: missing closing parenthesis (at offset 7 of the pattern)");
}

static void pattern_matching_empty_string(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.ok\n"         /* 5 */
                           "    pattern: '安全'\n"      /* 6 */
                           "    score: 1\n"            /* 7 */
                           "  - id: zh.t.empty\n"      /* 8 */
                           "    pattern: '(安全)?'\n"   /* 9: column 14 */
                           "    score: 1\n"            /* 10 */
                           "  - id: zh.t.star\n"       /* 11 */
                           "    pattern: \"a*\"\n"     /* 12: column 14 */
                           "    score: 1\n");
    const char *msg = "pattern matches the empty string, so it would fire on every message";
    expect_error(dir, where(dir, "zh/t.yaml", 9, 14, "zh.t.empty"), msg);
    expect_error(dir, where(dir, "zh/t.yaml", 12, 14, "zh.t.star"), msg);
}

/* A pattern whose bounded repeats expand past what Hyperscan compiles in
 * reasonable time is refused with its reason, before any compile starts
 * (this one took Hyperscan 68 s and 360 MB, then fell to the slow path). */
static void pattern_too_large(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.ok\n"                                    /* 5 */
                           "    pattern: '(网银|u盾).{0,10}(失效|过期)'\n"        /* 6 */
                           "    score: 1\n"                                       /* 7 */
                           "  - id: zh.t.huge\n"                                  /* 8 */
                           "    pattern: '(a|b)(.{0,40}(x|y).{0,40}(z|w)){1,300}q'\n" /* 9: column 14 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 9, 14, "zh.t.huge"),
                 "pattern too large: it compiles to about 25203 positions");
}

static void pattern_cost_estimates(void **state)
{
    (void)state;
    assert_true(fz_pattern_cost("abc") == 3);
    assert_true(fz_pattern_cost("安全账户") == 4);                  /* characters, not bytes */
    assert_true(fz_pattern_cost("a.{0,40}b") == 42);
    assert_true(fz_pattern_cost("(ab){3}") == 6);
    assert_true(fz_pattern_cost("(ab|cd)+x*") == 5);                /* loops are not expanded */
    assert_true(fz_pattern_cost("[a-z]{2,8}\\d") == 9);
    assert_true(fz_pattern_cost("(?:x(?=y)){10}") == 20);
    assert_true(fz_pattern_cost("\\x{4e00}{0,5}") == 5);
    assert_true(fz_pattern_cost("((a{100}){100}){100}") >= 1e6);
}

static void typo_tlds_are_plain_names(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml", k_policy, "zh/t.yaml",
                              HEAD "  - id: zh.t.ok\n    literal: ['安全账户']\n    score: 1\n",
                              "domains.yaml", "typo_tlds: ['con', 'c(o|m)*']\n", NULL);
    expect_error(dir, where(dir, "domains.yaml", 1, 12, NULL), "typo_tlds: 'c(o|m)*' is not a top-level domain");
}

static void reference_to_unknown_id(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"                      /* 5 */
                           "    literal: 'a'\n"                    /* 6 */
                           "    score: 1\n"                        /* 7 */
                           "  - id: zh.t.combo\n"                  /* 8 */
                           "    all: [zh.t.a, zh.t.nope]\n"        /* 9: zh.t.nope at column 19 */
                           "    score: 1\n"                        /* 10 */
                           "  - id: zh.t.sig\n"                    /* 11 */
                           "    any:\n"                            /* 12 */
                           "      - entity.url\n"                  /* 13 */
                           "      - entity.bogus\n"                /* 14: column 9 */
                           "    not: [sender.nobody]\n"            /* 15: column 11 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 9, 19, "zh.t.combo"), "refers to unknown rule or signal 'zh.t.nope'");
    expect_error(dir, where(dir, "zh/t.yaml", 14, 9, "zh.t.sig"), "refers to unknown rule or signal 'entity.bogus'");
    expect_error(dir, where(dir, "zh/t.yaml", 15, 11, "zh.t.sig"), "refers to unknown rule or signal 'sender.nobody'");
}

static void reference_to_itself(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"                      /* 5 */
                           "    literal: 'a'\n"                    /* 6 */
                           "    not: [zh.t.a]\n"                   /* 7: column 11 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 7, 11, "zh.t.a"), "refers to itself");
}

static void cycle_in_combinations(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"                      /* 5 */
                           "    literal: 'a'\n"                    /* 6 */
                           "    score: 1\n"                        /* 7 */
                           "  - id: zh.t.x\n"                      /* 8: the rule at column 5 */
                           "    all: [zh.t.a, zh.t.y]\n"           /* 9 */
                           "    score: 1\n"                        /* 10 */
                           "  - id: zh.t.y\n"                      /* 11 */
                           "    any: [zh.t.x]\n"                   /* 12 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 8, 5, "zh.t.x"),
                 "combinations form a cycle: zh.t.x -> zh.t.y -> zh.t.x");
}

static void cycle_through_not(void **state)
{
    (void)state;
    /* A pattern rule with 'not' is evaluated after what it names: a loop
     * through 'not' is a cycle too. */
    const char *dir = pack(HEAD
                           "  - id: zh.t.p\n"                      /* 5 */
                           "    pattern: '安全'\n"                  /* 6 */
                           "    not: [zh.t.c]\n"                   /* 7 */
                           "    score: 1\n"                        /* 8 */
                           "  - id: zh.t.c\n"                      /* 9 */
                           "    all: [zh.t.p]\n"                   /* 10 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 5, 5, "zh.t.p"), "combinations form a cycle: zh.t.p -> zh.t.c -> zh.t.p");
}

static void missing_score(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"          /* 5: the rule at column 5 */
                           "    literal: 'a'\n");
    expect_error(dir, where(dir, "zh/t.yaml", 5, 5, "zh.t.a"), "rule needs a 'score'");
}

static void non_numeric_score(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"          /* 5 */
                           "    literal: 'a'\n"        /* 6 */
                           "    score: high\n"         /* 7: column 12 */
                           "  - id: zh.t.b\n"          /* 8 */
                           "    literal: 'b'\n"        /* 9 */
                           "    score: '8'\n"          /* 10: a string, not a number; column 12 */
                           "  - id: zh.t.c\n"          /* 11 */
                           "    literal: 'c'\n"        /* 12 */
                           "    score: [1]\n"          /* 13: column 12 */
                           "  - id: zh.t.d\n"          /* 14 */
                           "    literal: 'd'\n"        /* 15 */
                           "    score: 8 points\n");   /* 16: column 12 */
    expect_error(dir, where(dir, "zh/t.yaml", 7, 12, "zh.t.a"), "score must be a number, not 'high'");
    expect_error(dir, where(dir, "zh/t.yaml", 10, 12, "zh.t.b"), "score must be a number, not '8'");
    expect_error(dir, where(dir, "zh/t.yaml", 13, 12, "zh.t.c"), "score must be a number, not '(a list or mapping)'");
    expect_error(dir, where(dir, "zh/t.yaml", 16, 12, "zh.t.d"), "score must be a number, not '8 points'");
}

static void bad_severity(void **state)
{
    (void)state;
    const char *dir = pack("category: test\n"
                           "title: T\n"
                           "severity: urgent\n"        /* 3: column 11 */
                           "rules:\n"
                           "  - id: zh.t.a\n    literal: 'a'\n    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 3, 11, NULL),
                 "severity must be low, medium, high or critical, not 'urgent'");
}

static void yaml_syntax_error(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"          /* 5 */
                           "    literal: 'a'\n"        /* 6 */
                           "    score: 1: 2\n");       /* 7: the second ':' at column 13 */
    expect_error(dir, where(dir, "zh/t.yaml", 7, 13, NULL),
                 "YAML syntax error: mapping values are not allowed in this context");
}

static void yaml_syntax_error_unclosed_flow(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"          /* 5 */
                           "    literal: [a, b\n"      /* 6: never closed */
                           "    score: 1\n");          /* 7: found at column 10, the ':' */
    expect_error(dir, where(dir, "zh/t.yaml", 7, 10, NULL),
                 "YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence");
}

static void min_out_of_range(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"                 /* 5 */
                           "    literal: 'a'\n"               /* 6 */
                           "    score: 1\n"                   /* 7 */
                           "  - id: zh.t.b\n"                 /* 8 */
                           "    literal: 'b'\n"               /* 9 */
                           "    score: 1\n"                   /* 10 */
                           "  - id: zh.t.three\n"             /* 11 */
                           "    any: [zh.t.a, zh.t.b]\n"      /* 12 */
                           "    min: 3\n"                     /* 13: column 10 */
                           "    score: 1\n"                   /* 14 */
                           "  - id: zh.t.zero\n"              /* 15 */
                           "    any: [zh.t.a, zh.t.b]\n"      /* 16 */
                           "    min: 0\n"                     /* 17: column 10 */
                           "    score: 1\n"                   /* 18 */
                           "  - id: zh.t.half\n"              /* 19 */
                           "    any: [zh.t.a, zh.t.b]\n"      /* 20 */
                           "    min: 1.5\n"                   /* 21: column 10 */
                           "    score: 1\n");
    const char *msg = "min must be a whole number from 1 to 2 (the size of 'any')";
    expect_error(dir, where(dir, "zh/t.yaml", 13, 10, "zh.t.three"), msg);
    expect_error(dir, where(dir, "zh/t.yaml", 17, 10, "zh.t.zero"), msg);
    expect_error(dir, where(dir, "zh/t.yaml", 21, 10, "zh.t.half"), msg);
}

static void min_without_any(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"                 /* 5 */
                           "    literal: 'a'\n"               /* 6 */
                           "    score: 1\n"                   /* 7 */
                           "  - id: zh.t.c\n"                 /* 8 */
                           "    all: [zh.t.a]\n"              /* 9 */
                           "    min: 1\n"                     /* 10: column 10 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 10, 10, "zh.t.c"), "'min' only makes sense with 'any'");
}

static void literal_and_pattern_in_one_rule(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.both\n"              /* 5: column 5 */
                           "    literal: '安全'\n"
                           "    pattern: '安全账户'\n"
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 5, 5, "zh.t.both"),
                 "a rule is exactly one of literal, pattern or a combination (all/any)");
}

static void rule_of_no_kind(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.none\n"              /* 5: column 5 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 5, 5, "zh.t.none"),
                 "a rule needs 'literal', 'pattern', or 'all'/'any'");
}

static void invalid_rule_id(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: Zh.T.Upper\n"       /* 5: column 9 */
                           "    literal: 'a'\n"
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 5, 9, "Zh.T.Upper"),
                 "id must be dot-separated lowercase words");
}

static void empty_literal(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"                       /* 5 */
                           "    literal: ['ok', '\xe2\x80\x8b']\n"  /* 6: a lone U+200B at column 21 */
                           "    score: 1\n");
    expect_error(dir, where(dir, "zh/t.yaml", 6, 21, "zh.t.a"), "literal is empty after normalization");
}

static void empty_file(void **state)
{
    (void)state;
    const char *dir = pack("");
    expect_error(dir, where(dir, "zh/t.yaml", 1, 1, NULL), "the file is empty");
}

static void category_severity_disagrees_between_files(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml", k_policy,
                              "en/t.yaml", HEAD "  - id: en.t.a\n    literal: 'a'\n    score: 1\n",
                              "zh/t.yaml",
                              "category: test\n"
                              "title: T\n"
                              "severity: high\n"            /* 3: column 11 */
                              "rules:\n"
                              "  - id: zh.t.a\n    literal: 'b'\n    score: 1\n",
                              NULL);
    char msg[1024];
    snprintf(msg, sizeof msg, "category 'test' has severity high here but low at %s/en/t.yaml:1:11", dir);
    expect_error(dir, where(dir, "zh/t.yaml", 3, 11, NULL), msg);
}

static void missing_policy(void **state)
{
    (void)state;
    const char *dir = tu_pack("zh/t.yaml", HEAD "  - id: zh.t.a\n    literal: 'a'\n    score: 1\n", NULL);
    tu_diags d;
    assert_int_equal(tu_engine_fails(dir, &d), FZ_ERULES);
    char msg[512];
    snprintf(msg, sizeof msg, "%s: policy.yaml is missing", dir);
    assert_true(tu_diags_have(&d, msg, NULL));
}

static void bad_number_class_digits(void **state)
{
    (void)state;
    const char *dir = tu_pack("policy.yaml", k_policy,
                              "zh/t.yaml", HEAD "  - id: zh.t.a\n    literal: 'a'\n    score: 1\n",
                              "numbers.yaml",
                              "classes:\n"                                   /* 1 */
                              "  - class: virtual\n"                         /* 2 */
                              "    prefixes: ['170', '17a1']\n"              /* 3: '17a1' at column 23 */
                              "    score: 1\n"                               /* 4 */
                              "allow:\n"                                     /* 5 */
                              "  numbers: ['95588', '955-88']\n",            /* 6: '955-88' at column 22 */
                              NULL);
    expect_error(dir, where(dir, "numbers.yaml", 3, 23, NULL), "class 'virtual': '17a1' must be 1 to 254 digits");
    expect_error(dir, where(dir, "numbers.yaml", 6, 22, NULL), "class 'allow': '955-88' must be 1 to 254 digits");
}

static void every_error_is_reported_and_first_is_returned(void **state)
{
    (void)state;
    const char *dir = pack(HEAD
                           "  - id: zh.t.a\n"          /* 5 */
                           "    literal: 'a'\n"        /* 6 */
                           "    score: high\n"         /* 7: column 12 */
                           "  - id: zh.t.b\n"          /* 8 */
                           "    pattern: '(b'\n"       /* 9: column 14 */
                           "    score: 1\n");
    tu_diags d;
    assert_int_equal(tu_engine_fails(dir, &d), FZ_ERULES);
    assert_int_equal(d.errors, 2);
    assert_true(tu_diags_have(&d, where(dir, "zh/t.yaml", 7, 12, "zh.t.a"), "score must be a number"));
    assert_true(tu_diags_have(&d, where(dir, "zh/t.yaml", 9, 14, "zh.t.b"), "invalid pattern"));
    /* fz_engine_new's error is the first of them. */
    fz_engine_config cfg = {dir, NULL, NULL, NULL};
    fz_engine *e = NULL;
    fz_error err;
    assert_int_equal(fz_engine_new(&cfg, &e, &err), FZ_ERULES);
    assert_null(e);
    assert_int_equal(err.code, FZ_ERULES);
    assert_non_null(strstr(err.message, where(dir, "zh/t.yaml", 7, 12, "zh.t.a")));
}

static void warning_for_pattern_the_normalizer_changes(void **state)
{
    (void)state;
    /* Not an error: the pack loads, but `rules check` is told why the
     * pattern can never match. */
    const char *dir = pack(HEAD
                           "  - id: zh.t.trad\n"       /* 5 */
                           "    pattern: '銀行'\n"      /* 6: column 14 */
                           "    score: 1\n");
    tu_diags d;
    fz_engine *e;
    assert_int_equal(tu_engine_collect(dir, &d, &e), 0);
    assert_non_null(e);
    assert_int_equal(d.errors, 0);
    assert_true(tu_diags_have(&d, where(dir, "zh/t.yaml", 6, 14, NULL),
                              "warning: rule 'zh.t.trad': pattern contains '銀', which the normalizer turns into '银'"));
    fz_engine_release(e);
}

static void dir_and_dir_with_slash_load_the_same_pack(void **state)
{
    (void)state;
    fz_engine *a = tu_engine("tests/data/rules-unit");
    fz_engine *b = tu_engine("tests/data/rules-unit/");
    fz_engine *c = tu_engine("tests/data/rules-unit//");
    assert_int_equal(fz_engine_rule_count(a), fz_engine_rule_count(b));
    assert_int_equal(fz_engine_rule_count(a), fz_engine_rule_count(c));
    assert_true(fz_engine_rule_count(a) > 0);
    assert_string_equal(fz_engine_rules_version(a), fz_engine_rules_version(b));
    assert_string_equal(fz_engine_rules_version(a), fz_engine_rules_version(c));
    assert_string_equal(fz_engine_rules_source(a), fz_engine_rules_source(b));
    /* Rules keep their file names without a doubled slash. */
    fz_rule_info ri;
    assert_int_equal(fz_engine_rule(b, 0, &ri), 0);
    assert_null(strstr(ri.file, "//"));
    fz_engine_release(a);
    fz_engine_release(b);
    fz_engine_release(c);
}

static void rules_version_contains_policy_version(void **state)
{
    (void)state;
    fz_engine *e = tu_engine("tests/data/rules-unit");
    const char *v = fz_engine_rules_version(e);
    assert_int_equal(strncmp(v, "unit-1+", 7), 0);
    assert_int_equal(strlen(v), 7 + 8);            /* "+" and 8 hex digits of the content hash */
    fz_engine_release(e);

    /* A different content gives a different hash with the same version. */
    const char *d1 = pack(HEAD "  - id: zh.t.a\n    literal: 'a'\n    score: 1\n");
    const char *d2 = pack(HEAD "  - id: zh.t.a\n    literal: 'a'\n    score: 2\n");
    fz_engine *e1 = tu_engine_dir(d1), *e2 = tu_engine_dir(d2);
    assert_int_equal(strncmp(fz_engine_rules_version(e1), "rs-7+", 5), 0);
    assert_int_equal(strncmp(fz_engine_rules_version(e2), "rs-7+", 5), 0);
    assert_string_not_equal(fz_engine_rules_version(e1), fz_engine_rules_version(e2));
    /* The same content in another directory: the same version. */
    const char *d3 = pack(HEAD "  - id: zh.t.a\n    literal: 'a'\n    score: 1\n");
    fz_engine *e3 = tu_engine_dir(d3);
    assert_string_equal(fz_engine_rules_version(e1), fz_engine_rules_version(e3));
    fz_engine_release(e1);
    fz_engine_release(e2);
    fz_engine_release(e3);
}

static void rule_positions_are_reported(void **state)
{
    (void)state;
    fz_engine *e = tu_engine("tests/data/rules-unit");
    long i = fz_engine_rule_index(e, "zh.authority.police");
    assert_true(i >= 0);
    fz_rule_info ri;
    assert_int_equal(fz_engine_rule(e, (size_t)i, &ri), 0);
    assert_string_equal(ri.id, "zh.authority.police");
    assert_string_equal(ri.category, "impersonate_authority");
    assert_non_null(strstr(ri.file, "zh/authority.yaml"));
    assert_int_equal(ri.line, 13);
    assert_int_equal(ri.col, 5);
    assert_int_equal(ri.kind, FZ_RULE_LITERAL);
    assert_int_equal(ri.n_match_examples, 1);
    assert_int_equal(ri.n_no_match_examples, 1);
    assert_int_equal(fz_engine_rule_index(e, "zh.nope"), -1);
    assert_int_equal(fz_engine_rule_index(e, "entity.url"), -1);
    assert_int_equal(fz_engine_rule(e, fz_engine_rule_count(e), &ri), FZ_EINVAL);
    fz_engine_release(e);
}

static int teardown(void **state)
{
    (void)state;
    tu_cleanup();
    return 0;
}

/* Valid but probably wrong: warnings, not errors. */
static void expect_warning(const char *dir, const char *what, const char *rule)
{
    tu_diags d;
    fz_engine *e = NULL;
    assert_int_equal(tu_engine_collect(dir, &d, &e), 0);
    assert_true(tu_diags_have(&d, what, rule));
    fz_engine_release(e);
}

static void lint_single_character_literal(void **state)
{
    (void)state;
    expect_warning(pack(HEAD "  - id: zh.t.a\n    literal: ['钱', '转账']\n    score: 1\n"),
                   "too broad: the literal '钱'", "rule 'zh.t.a'");
}

static void lint_shadowed_literal(void **state)
{
    (void)state;
    expect_warning(pack(HEAD "  - id: zh.t.a\n    literal: ['兼职', '网络兼职']\n    score: 1\n"),
                   "the literal '网络兼职' is shadowed by '兼职'", "rule 'zh.t.a'");
}

static void lint_duplicate_patterns(void **state)
{
    (void)state;
    expect_warning(pack(HEAD "  - id: zh.t.a\n    pattern: '安全.{0,3}账户'\n    score: 1\n"
                             "  - id: zh.t.b\n    pattern: '安全.{0,3}账户'\n    score: 2\n"),
                   "matches exactly what rule 'zh.t.a'", "rule 'zh.t.b'");
}

static void lint_combination_that_never_fires(void **state)
{
    (void)state;
    expect_warning(pack(HEAD "  - id: zh.t.a\n    literal: '转账'\n    score: 1\n"
                             "  - id: zh.t.c\n    all: [zh.t.a]\n    not: [zh.t.a]\n    score: 1\n"),
                   "can never fire", "rule 'zh.t.c'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(duplicate_id),
        cmocka_unit_test(duplicate_id_across_files),
        cmocka_unit_test(unknown_key),
        cmocka_unit_test(unknown_key_in_category_file),
        cmocka_unit_test(duplicate_key),
        cmocka_unit_test(bad_regex),
        cmocka_unit_test(pattern_matching_empty_string),
        cmocka_unit_test(pattern_too_large),
        cmocka_unit_test(pattern_cost_estimates),
        cmocka_unit_test(typo_tlds_are_plain_names),
        cmocka_unit_test(reference_to_unknown_id),
        cmocka_unit_test(reference_to_itself),
        cmocka_unit_test(cycle_in_combinations),
        cmocka_unit_test(cycle_through_not),
        cmocka_unit_test(missing_score),
        cmocka_unit_test(non_numeric_score),
        cmocka_unit_test(bad_severity),
        cmocka_unit_test(yaml_syntax_error),
        cmocka_unit_test(yaml_syntax_error_unclosed_flow),
        cmocka_unit_test(min_out_of_range),
        cmocka_unit_test(min_without_any),
        cmocka_unit_test(lint_single_character_literal),
        cmocka_unit_test(lint_shadowed_literal),
        cmocka_unit_test(lint_duplicate_patterns),
        cmocka_unit_test(lint_combination_that_never_fires),
        cmocka_unit_test(literal_and_pattern_in_one_rule),
        cmocka_unit_test(rule_of_no_kind),
        cmocka_unit_test(invalid_rule_id),
        cmocka_unit_test(empty_literal),
        cmocka_unit_test(empty_file),
        cmocka_unit_test(category_severity_disagrees_between_files),
        cmocka_unit_test(missing_policy),
        cmocka_unit_test(bad_number_class_digits),
        cmocka_unit_test(every_error_is_reported_and_first_is_returned),
        cmocka_unit_test(warning_for_pattern_the_normalizer_changes),
        cmocka_unit_test(dir_and_dir_with_slash_load_the_same_pack),
        cmocka_unit_test(rules_version_contains_policy_version),
        cmocka_unit_test(rule_positions_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
