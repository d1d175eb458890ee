/* cmd_rules.c — `fanzha rules check|test`: the rule maintainer's tools.
 *
 * check  compiles the pack and prints every error and warning with its
 *        file:line:col; exits 1 on any error.
 * test   runs every rule's examples through the whole engine and shows,
 *        for each failure, the normalized text and the rules that fired. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha rules check [DIR]\n"
    "       fanzha rules test [DIR]\n\n"
    "DIR is a rule pack directory (default: ./rules).\n\n"
    "  check   compile every file; errors as file:line:col: rule 'id': what is wrong,\n"
    "          warnings for rules on the slow path and for patterns that cannot match;\n"
    "          exit status 1 when there is any error\n"
    "  test    run every rule's examples (match / no_match) through the whole engine;\n"
    "          exit status 1 when any example fails\n";

static const char *default_dir(const char *dir)
{
    struct stat st;
    if (dir)
        return dir;
    if (stat("rules", &st) == 0 && S_ISDIR(st.st_mode))
        return "rules";
    return NULL;            /* the built-in pack */
}

static int rules_check(const char *dir)
{
    fz_engine *e;
    /* No cache: check must compile for real, to report every slow path. */
    if (cli_load_engine(dir, NULL, FZ_DIAG_WARNING, &e)) {
        fprintf(stderr, "fanzha rules check: the pack has errors\n");
        return 1;
    }
    size_t n = fz_engine_rule_count(e), slow = 0, combos = 0;
    for (size_t i = 0; i < n; i++) {
        fz_rule_info ri;
        fz_engine_rule(e, i, &ri);
        slow += ri.path == FZ_PATH_PREFILTER || ri.path == FZ_PATH_PCRE2;
        combos += ri.kind == FZ_RULE_COMBINATION;
    }
    printf("ok: %zu rules (%zu combinations, %zu on the slow path) from %s, version %s, compiled in %.0f ms\n",
           n, combos, slow, fz_engine_rules_source(e), fz_engine_rules_version(e), fz_engine_compile_ms(e));
    fz_engine_release(e);
    return 0;
}

static void show_failure(void *ud, const fz_example_failure *f)
{
    (void)ud;
    printf("%s:%d:%d: rule '%s': %s\n    text:       %s\n    normalized: %s\n    fired:      %s\n",
           f->file, f->line, f->col, f->rule,
           f->expected_match ? "match example did not fire" : "no_match example fired",
           f->text, f->normalized, f->fired);
}

static int rules_test(const char *dir)
{
    fz_engine *e;
    if (cli_load_engine(dir, cli_default_cache(), FZ_DIAG_ERROR, &e))
        return 1;
    size_t passed, failed;
    int rc = fz_rules_test(e, show_failure, NULL, &passed, &failed);
    if (rc) {
        cli_error("rules test", "%s", fz_strerror(rc));
        fz_engine_release(e);
        return EXIT_RUNTIME;
    }
    printf("%zu examples: %zu passed, %zu failed\n", passed + failed, passed, failed);
    fz_engine_release(e);
    return failed ? 1 : 0;
}

int cmd_rules(int argc, char **argv)
{
    if (argc < 2 || cli_flag(argv, 1, "--help") || cli_flag(argv, 1, "-h")) {
        fputs(k_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *dir = argc > 2 ? argv[2] : NULL;
    if (argc > 3) {
        cli_error("rules", "too many arguments (see fanzha rules --help)");
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "check") == 0)
        return rules_check(default_dir(dir));
    if (strcmp(argv[1], "test") == 0)
        return rules_test(default_dir(dir));
    cli_error("rules", "unknown subcommand '%s' (check or test)", argv[1]);
    return EXIT_USAGE;
}
