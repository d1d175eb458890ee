/* cmd_campaigns.c — `fanzha campaigns`: the scam templates sent to many
 * distinct recipients this hour, largest first. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha campaigns [--redis URL] [--top N] [--json]\n\n"
    "List this hour's campaigns: message templates (text with numbers and links\n"
    "masked) that reached at least campaign.recipients_per_hour distinct recipients\n"
    "(rules/policy.yaml), with the count and a sample of the masked text. Campaign\n"
    "counters live in Redis (--redis URL or $FANZHA_REDIS); a scan on the embedded\n"
    "store reports its campaigns in its own summary.\n";

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

int cmd_campaigns(int argc, char **argv)
{
    const char *redis = NULL, *v;
    unsigned long top = 20;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "--redis", &v)) {
            redis = v;
        } else if (cli_opt(argc, argv, &i, "--top", &v)) {
            if (cli_uint("--top", v, &top) || top == 0 || top > 1000)
                return EXIT_USAGE;
        } else if (cli_flag(argv, i, "--json")) {
            json = 1;
        } else {
            cli_error("campaigns", "unknown argument '%s' (see fanzha campaigns --help)", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!cli_require_redis("campaigns", redis, "campaign counters"))
        return EXIT_USAGE;
    fz_store *s;
    if (cli_open_store("campaigns", redis, &s))
        return EXIT_RUNTIME;
    fz_campaign *c = calloc(top, sizeof *c);
    size_t n = top;
    fz_error err;
    int rc = c ? fz_store_campaigns(s, c, &n, &err) : FZ_ENOMEM;
    if (rc) {
        cli_error("campaigns", "%s", c ? err.message : "out of memory");
    } else if (json) {
        for (size_t i = 0; i < n; i++) {
            printf("{\"template\":\"%s\",\"recipients_1h\":%llu,\"sample\":", c[i].template_hash,
                   (unsigned long long)c[i].recipients);
            print_json_string(c[i].sample);
            printf("}\n");
        }
    } else {
        printf("%-34s %12s  %s\n", "template", "recipients", "sample (masked)");
        for (size_t i = 0; i < n; i++)
            printf("%-34s %12llu  %s\n", c[i].template_hash, (unsigned long long)c[i].recipients, c[i].sample);
        if (!n)
            printf("(no campaign this hour)\n");
    }
    free(c);
    fz_store_close(s);
    return rc ? EXIT_RUNTIME : 0;
}
