/* cmd_report.c — `fanzha report`: record reported numbers (from police or
 * 12321-style feeds) in the shared store, or show a number's standing. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha report [STATE OPTIONS] [FILE|-]\n"
    "       fanzha report --lookup NUMBER [STATE OPTIONS] [--rules DIR]\n\n"
    "Record reports, one JSON object a line:\n"
    "  {\"number\":\"+8617012345678\",\"reporter\":\"r-9\",\"kind\":\"sms\",\"ts\":\"2026-11-22T08:00:00+08:00\"}\n"
    "Only number is required; ts is ISO 8601 or Unix seconds (default: now). A\n"
    "number's reputation is the count of DISTINCT reporters, each weighted by the\n"
    "age of their latest report (half-life from rules/policy.yaml): the same\n"
    "reporter twice counts once, and old reports fade. Numbers and reporters are\n"
    "stored as keyed hashes ($FANZHA_HASH_KEY), never in clear.\n\n"
    "Reports live in Redis (--redis URL or $FANZHA_REDIS), shared by every scan\n"
    "and service; without Redis, in the state directory, where every scan on this\n"
    "machine finds them.\n\n"
    "state options:\n" CLI_STATE_HELP;

int cmd_report(int argc, char **argv)
{
    const char *rules = NULL, *lookup = NULL, *input = NULL, *v;
    cli_state state = {0};
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_state_opt(argc, argv, &i, &state)) {
            continue;
        } else if (cli_opt(argc, argv, &i, "--rules", &v)) {
            rules = v;
        } else if (cli_opt(argc, argv, &i, "--lookup", &v)) {
            lookup = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("report", "unknown option '%s' (see fanzha report --help)", argv[i]);
            return EXIT_USAGE;
        } else {
            input = argv[i];
        }
    }
    fz_engine *e;
    if (cli_load_engine(rules, cli_default_cache(), FZ_DIAG_ERROR, &e))
        return 1;
    double half_life = fz_engine_half_life_days(e);
    fz_engine_release(e);
    fz_store *s;
    if (cli_state_open("report", &state, &s)) {
        cli_state_free(&state);
        return EXIT_RUNTIME;
    }
    int rc = 0;
    if (lookup) {
        fz_standing st;
        fz_error err;
        if ((rc = fz_store_lookup(s, lookup, half_life, &st, &err))) {
            cli_error("report", "%s", err.message);
        } else {
            char when[64] = "never";
            if (st.last_report) {
                time_t t = (time_t)st.last_report;
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
            }
            printf("{\"reputation\":%.3f,\"reporters\":%zu,\"last_report\":\"%s\",\"half_life_days\":%g}\n",
                   st.reputation, st.reporters, when, half_life);
        }
    } else {
        size_t ok, bad;
        rc = cli_ingest_reports("report", s, input ? input : "-", half_life, &ok, &bad);
        fprintf(stderr, "fanzha report: %zu recorded, %zu unreadable (%s)\n", ok, bad, fz_store_describe(s));
    }
    fz_store_close(s);
    cli_state_free(&state);
    return rc ? EXIT_RUNTIME : 0;
}
