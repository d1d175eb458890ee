/* main.c — the fanzha command: dispatch to a subcommand, and the overview
 * that `fanzha --help` prints. Each subcommand lives in its own file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    fz_cmd_fn fn;
    const char *summary;
} k_commands[] = {
    {"scan", cmd_scan, "score a stream of messages (JSON Lines or CSV) into verdicts"},
    {"rules", cmd_rules, "check, test and measure a rule pack (rules check|test)"},
    {"report", cmd_report, "record reported numbers, or look up a number's standing"},
    {"resident", cmd_resident, "register the residents to warn (add|remove|list|import)"},
    {"outbox", cmd_outbox, "the warnings waiting for the gateway (list|deliver|replay|purge)"},
    {"campaigns", cmd_campaigns, "list this hour's scam campaigns (templates sent to many recipients)"},
    {"serve", cmd_serve, "answer scoring requests over HTTP (the API carriers integrate with)"},
    {"worker", cmd_worker, "consume the Redis Streams bus: verdicts for every entry, any number of workers"},
    {"stream", cmd_stream, "feed the bus and see its partitions (stream push|status|dead)"},
    {"bench", cmd_bench, "measure throughput: end to end, bare Hyperscan, PCRE2 alone"},
};

static void usage(FILE *f)
{
    fprintf(f, "fanzha %s — telecom-scam SMS filter and anti-fraud alert engine\n\n"
               "usage: fanzha COMMAND [OPTIONS] [ARGS]\n\ncommands:\n", fz_version());
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        fprintf(f, "  %-8s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(f, "\n`fanzha COMMAND --help` explains each command.\n"
               "Without --rules, the rule pack built into this binary is used (or $FANZHA_RULES).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("fanzha %s\n", fz_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (strcmp(argv[1], k_commands[i].name) == 0)
            return k_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "fanzha: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
