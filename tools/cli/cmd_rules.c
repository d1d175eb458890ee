/* cmd_rules.c — `fanzha rules check|test`: the rule maintainer's tools.
 *
 * check  compiles the pack and prints every error and warning with its
 *        file:line:col; exits 1 on any error.
 * test   runs every rule's examples through the whole engine and shows,
 *        for each failure, the normalized text and the rules that fired. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha rules check [DIR] [--ham CORPUS.jsonl...]\n"
    "       fanzha rules test [DIR]\n"
    "       fanzha rules stats [DIR] CORPUS.jsonl... [--json] [--mistakes] [--cost]\n\n"
    "DIR is a rule pack directory (default: ./rules).\n\n"
    "  check   compile every file; errors as file:line:col: rule 'id': what is wrong,\n"
    "          warnings for rules on the slow path, patterns that cannot match, literals\n"
    "          too short to mean anything, shadowed or duplicate literals and patterns,\n"
    "          combinations that can never fire, and (with --ham) rules that fire on\n"
    "          more than half of a corpus of genuine messages; exit status 1 on errors\n"
    "  test    run every rule's examples (match / no_match) through the whole engine;\n"
    "          exit status 1 when any example fails\n"
    "  stats   score corpora: hits per rule; with labelled corpora (\"label\":\"scam\"|\"ham\")\n"
    "          also each rule's precision, recall on scams, the false-positive rate and\n"
    "          the rules that never fire; --json for machines, --mistakes to list the\n"
    "          scams allowed and the genuine messages flagged, --cost for each rule's\n"
    "          matching cost alone (ns per KB of text), most expensive first\n";

static const char *default_dir(const char *dir)
{
    struct stat st;
    if (dir)
        return dir;
    if (stat("rules", &st) == 0 && S_ISDIR(st.st_mode))
        return "rules";
    return NULL;            /* the built-in pack */
}

static int read_whole(const char *path, fz_buf *out);

/* Rules firing on most genuine messages say nothing: warn about them. */
static void check_broad(fz_engine *e, char **ham, int n_ham)
{
    fz_corpus_stats st;
    if (fz_corpus_stats_init(e, &st))
        return;
    for (int i = 0; i < n_ham; i++) {
        fz_buf data = FZ_BUF_INIT;
        if (read_whole(ham[i], &data) == 0)
            fz_corpus_stats_add(e, data.data ? data.data : "", data.len, &st);
        fz_buf_free(&data);
    }
    for (size_t r = 0; r < st.n_rules && st.messages; r++)
        if (st.rules[r].hits * 2 > st.messages) {
            fz_rule_info ri;
            fz_engine_rule(e, r, &ri);
            fprintf(stderr, "%s:%d:%d: warning: rule '%s': too broad: fires on %zu of %zu genuine messages\n", ri.file,
                    ri.line, ri.col, ri.id, st.rules[r].hits, st.messages);
        }
    fz_corpus_stats_free(&st);
}

static int rules_check(const char *dir, char **ham, int n_ham)
{
    fz_engine *e;
    /* No cache: check must compile for real, to report every slow path. */
    if (cli_load_engine(dir, NULL, FZ_DIAG_WARNING, &e)) {
        fprintf(stderr, "fanzha rules check: the pack has errors\n");
        return 1;
    }
    if (n_ham)
        check_broad(e, ham, n_ham);
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

static int read_whole(const char *path, fz_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("rules stats", "cannot open %s", path);
        return -1;
    }
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = fz_buf_append(out, chunk, n);
    fclose(f);
    return rc;
}

static void show_mistake(void *ud, const char *line, size_t len, const fz_verdict *v, int is_scam)
{
    (void)ud;
    printf("%s %-7s %5.1f %s  %.*s\n", is_scam ? "MISSED" : "FALSE+", fz_action_name(fz_verdict_action(v)),
           fz_verdict_score(v), fz_verdict_category(v) ? fz_verdict_category(v) : "-", (int)len, line);
}

static double pct(size_t a, size_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

static int by_hits(const void *x, const void *y, void *st)
{
    const fz_corpus_stats *s = st;
    size_t a = s->rules[*(const size_t *)x].hits, b = s->rules[*(const size_t *)y].hits;
    return (a < b) - (a > b);
}

static void print_stats_text(fz_engine *e, const fz_corpus_stats *st)
{
    printf("corpus: %zu messages (%zu scam, %zu ham, %zu unlabelled), %zu unreadable\n", st->messages, st->scam,
           st->ham, st->unlabelled, st->errors);
    if (st->scam)
        printf("recall: %zu/%zu scams flagged = %.1f%% (blocked %.1f%%)\n", st->flagged_scam, st->scam,
               pct(st->flagged_scam, st->scam), pct(st->blocked_scam, st->scam));
    if (st->ham)
        printf("false positives: %zu/%zu genuine messages flagged = %.2f%% (blocked %.2f%%)\n", st->flagged_ham,
               st->ham, pct(st->flagged_ham, st->ham), pct(st->blocked_ham, st->ham));
    size_t *order = malloc(st->n_rules * sizeof *order), never = 0;
    if (!order)
        return;
    for (size_t i = 0; i < st->n_rules; i++)
        order[i] = i;
    qsort_r(order, st->n_rules, sizeof *order, by_hits, (void *)st);
    printf("\n%-40s %7s %7s %7s %9s\n", "rule", "hits", "scam", "ham", "precision");
    for (size_t k = 0; k < st->n_rules; k++) {
        const fz_rule_stat *r = &st->rules[order[k]];
        fz_rule_info ri;
        fz_engine_rule(e, order[k], &ri);
        if (!r->hits) {
            never++;
            continue;
        }
        if (r->hits_scam + r->hits_ham)
            printf("%-40s %7zu %7zu %7zu %8.1f%%\n", ri.id, r->hits, r->hits_scam, r->hits_ham,
                   pct(r->hits_scam, r->hits_scam + r->hits_ham));
        else
            printf("%-40s %7zu %7s %7s %9s\n", ri.id, r->hits, "-", "-", "-");
    }
    printf("\nnever fired (%zu):", never);
    for (size_t k = 0; k < st->n_rules; k++) {
        fz_rule_info ri;
        fz_engine_rule(e, k, &ri);
        if (!st->rules[k].hits)
            printf(" %s", ri.id);
    }
    printf("\n");
    free(order);
}

static void print_stats_json(fz_engine *e, const fz_corpus_stats *st)
{
    printf("{\"rules_version\":\"%s\",\"messages\":%zu,\"unreadable\":%zu,\"scam\":%zu,\"ham\":%zu,"
           "\"unlabelled\":%zu,\"recall\":%.4f,\"block_recall\":%.4f,\"false_positive_rate\":%.4f,"
           "\"block_false_positive_rate\":%.4f,\"rules\":[",
           fz_engine_rules_version(e), st->messages, st->errors, st->scam, st->ham, st->unlabelled,
           st->scam ? (double)st->flagged_scam / (double)st->scam : 0,
           st->scam ? (double)st->blocked_scam / (double)st->scam : 0,
           st->ham ? (double)st->flagged_ham / (double)st->ham : 0,
           st->ham ? (double)st->blocked_ham / (double)st->ham : 0);
    for (size_t k = 0; k < st->n_rules; k++) {
        fz_rule_info ri;
        fz_engine_rule(e, k, &ri);
        const fz_rule_stat *r = &st->rules[k];
        printf("%s{\"rule\":\"%s\",\"hits\":%zu,\"scam\":%zu,\"ham\":%zu}", k ? "," : "", ri.id, r->hits,
               r->hits_scam, r->hits_ham);
    }
    printf("]}\n");
}

static int by_cost(const void *x, const void *y, void *c)
{
    const double *cost = c;
    double a = cost[*(const size_t *)x], b = cost[*(const size_t *)y];
    return (a < b) - (a > b);
}

static int print_cost(fz_engine *e, int argc, char **argv, int first)
{
    fz_buf all = FZ_BUF_INIT;
    for (int i = first; i < argc; i++)
        if (argv[i][0] != '-' && read_whole(argv[i], &all))
            return EXIT_RUNTIME;
    size_t n = fz_engine_rule_count(e);
    double *cost = calloc(n ? n : 1, sizeof *cost), whole = 0;
    size_t *order = calloc(n ? n : 1, sizeof *order);
    int rc = !cost || !order ? FZ_ENOMEM : fz_rules_profile(e, all.data ? all.data : "", all.len, cost, &whole);
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        qsort_r(order, n, sizeof *order, by_cost, cost);
        printf("whole database: %.0f ns per KB of text\n\n%-40s %12s\n", whole, "rule (alone)", "ns per KB");
        for (size_t k = 0; k < n; k++) {
            fz_rule_info ri;
            fz_engine_rule(e, order[k], &ri);
            if (cost[order[k]] != 0)
                printf("%-40s %12.0f\n", ri.id, cost[order[k]]);
        }
    }
    free(cost);
    free(order);
    fz_buf_free(&all);
    return rc ? EXIT_RUNTIME : 0;
}

static int rules_stats(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, mistakes = 0, cost = 0, first_corpus = -1;
    for (int i = 2; i < argc; i++) {
        struct stat sb;
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--mistakes") == 0)
            mistakes = 1;
        else if (strcmp(argv[i], "--cost") == 0)
            cost = 1;
        else if (argv[i][0] == '-') {
            cli_error("rules stats", "unknown option '%s'", argv[i]);
            return EXIT_USAGE;
        } else if (!dir && first_corpus < 0 && stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
            dir = argv[i];
        else if (first_corpus < 0)
            first_corpus = i;
    }
    if (first_corpus < 0) {
        cli_error("rules stats", "name at least one corpus (JSON Lines)");
        return EXIT_USAGE;
    }
    fz_engine *e;
    if (cli_load_engine(default_dir(dir), cli_default_cache(), FZ_DIAG_ERROR, &e))
        return 1;
    fz_corpus_stats st;
    int rc = fz_corpus_stats_init(e, &st);
    if (mistakes) {
        st.mistake = show_mistake;
        st.mistake_ud = NULL;
    }
    for (int i = first_corpus; !rc && i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        fz_buf data = FZ_BUF_INIT;
        rc = read_whole(argv[i], &data) || fz_corpus_stats_add(e, data.data ? data.data : "", data.len, &st);
        fz_buf_free(&data);
    }
    if (!rc && cost)
        rc = print_cost(e, argc, argv, first_corpus);
    else if (!rc)
        json ? print_stats_json(e, &st) : print_stats_text(e, &st);
    fz_corpus_stats_free(&st);
    fz_engine_release(e);
    return rc ? EXIT_RUNTIME : 0;
}

int cmd_rules(int argc, char **argv)
{
    if (argc < 2 || cli_flag(argv, 1, "--help") || cli_flag(argv, 1, "-h")) {
        fputs(k_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "stats") == 0)
        return rules_stats(argc, argv);
    if (strcmp(argv[1], "check") == 0) {
        const char *dir = NULL;
        char *ham[64];
        int n_ham = 0;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--ham") == 0) {
                while (i + 1 < argc && argv[i + 1][0] != '-' && n_ham < 64)
                    ham[n_ham++] = argv[++i];
            } else if (!dir && argv[i][0] != '-') {
                dir = argv[i];
            } else {
                cli_error("rules check", "unexpected argument '%s' (see fanzha rules --help)", argv[i]);
                return EXIT_USAGE;
            }
        }
        return rules_check(default_dir(dir), ham, n_ham);
    }
    const char *dir = argc > 2 ? argv[2] : NULL;
    if (argc > 3) {
        cli_error("rules", "too many arguments (see fanzha rules --help)");
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "test") == 0)
        return rules_test(default_dir(dir));
    cli_error("rules", "unknown subcommand '%s' (check or test)", argv[1]);
    return EXIT_USAGE;
}
