/* cmd_resident.c — `fanzha resident`: the registry of residents to warn.
 *
 * add, remove, show and list one resident at a time, or import a JSON Lines
 * file. Options are turned into the same JSON object an import line holds,
 * so both go through one parser (fz_resident_parse) and one set of checks.
 * Listings mask numbers unless --show-numbers is given. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha resident add NUMBER [--name NAME] [--language zh|en] [--guardian NUMBER]...\n"
    "                           [--channel sms|app|voice] [--daily-limit N] [--quiet 22:00-07:00]\n"
    "       fanzha resident remove NUMBER\n"
    "       fanzha resident show NUMBER\n"
    "       fanzha resident list [--show-numbers]\n"
    "       fanzha resident import [FILE|-]\n\n"
    "Residents are the people (often elderly) who asked to be warned when a scam\n"
    "reaches them. A scam addressed to a resident queues a short warning for them\n"
    "(`fanzha scan --warn`), and for their guardians (family, at most 4) when the\n"
    "scam is a severe one. Numbers are read in any usual form (138 1234 5678,\n"
    "+86 138..., 010-6552-9999) and kept in international form. add replaces a\n"
    "resident already registered with that number.\n\n"
    "  --name NAME         how warnings address them (letters only; e.g. 王阿姨)\n"
    "  --language zh|en    the language of their warnings (default zh)\n"
    "  --guardian NUMBER   a family member to warn too (repeat for more)\n"
    "  --channel C         passed to the gateway: sms (default), app, voice\n"
    "  --daily-limit N     warnings a day at most (default: rules/policy.yaml's)\n"
    "  --quiet HH:MM-HH:MM hold warnings during these hours (local time); they are\n"
    "                      delivered when the hours end, never dropped\n"
    "  --show-numbers      list: numbers in clear (default: masked, +86138****5678)\n\n"
    "import reads one JSON object a line, the fields of add:\n"
    "  {\"number\":\"13812345678\",\"name\":\"王阿姨\",\"guardians\":[\"13900001111\"],\"quiet\":\"22:00-07:00\"}\n"
    "A line that cannot be read is reported (\"line N: ...\") and skipped.\n\n"
    "The registry lives in Redis when one is given, else in the state directory.\n"
    "Records are sealed with $FANZHA_HASH_KEY: keep it the same everywhere.\n\n"
    "state options:\n" CLI_STATE_HELP;

typedef struct args {
    const char *verb, *number, *file;
    cJSON *fields;
    cJSON *guardians;
    int show_numbers;
    cli_state state;
} args;

static int add_string(args *a, const char *key, const char *v)
{
    if (!a->fields)
        a->fields = cJSON_CreateObject();
    return a->fields && cJSON_AddStringToObject(a->fields, key, v) ? 0 : -1;
}

/* Options of add; 1 when argv[*i] was one, -1 on a bad value. */
static int field_opt(int argc, char **argv, int *i, args *a)
{
    static const struct {
        const char *opt, *key;
    } strings[] = {{"--name", "name"}, {"--language", "language"}, {"--channel", "channel"}, {"--quiet", "quiet"}};
    const char *v;
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
        if (cli_opt(argc, argv, i, strings[k].opt, &v))
            return add_string(a, strings[k].key, v) ? -1 : 1;
    if (cli_opt(argc, argv, i, "--guardian", &v)) {
        if (!a->guardians)
            a->guardians = cJSON_CreateArray();
        return a->guardians && cJSON_AddItemToArray(a->guardians, cJSON_CreateString(v)) ? 1 : -1;
    }
    if (cli_opt(argc, argv, i, "--daily-limit", &v)) {
        unsigned long n;
        if (cli_uint("--daily-limit", v, &n))
            return -1;
        if (!a->fields)
            a->fields = cJSON_CreateObject();
        return a->fields && cJSON_AddNumberToObject(a->fields, "daily_limit", (double)n) ? 1 : -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, args *a)
{
    for (int i = 1; i < argc; i++) {
        int f;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return 1;
        } else if (cli_state_opt(argc, argv, &i, &a->state)) {
            continue;
        } else if ((f = field_opt(argc, argv, &i, a)) != 0) {
            if (f < 0)
                return EXIT_USAGE;
        } else if (cli_flag(argv, i, "--show-numbers")) {
            a->show_numbers = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("resident", "unknown option '%s' (see fanzha resident --help)", argv[i]);
            return EXIT_USAGE;
        } else if (!a->verb) {
            a->verb = argv[i];
        } else if (!a->number) {
            a->number = argv[i];
        } else {
            cli_error("resident", "unexpected argument '%s'", argv[i]);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* --- the verbs ------------------------------------------------------------------------- */

static int do_add(fz_store *s, args *a)
{
    if (add_string(a, "number", a->number))
        return EXIT_RUNTIME;
    if (a->guardians) {
        cJSON_AddItemToObject(a->fields, "guardians", a->guardians);
        a->guardians = NULL;
    }
    char *json = cJSON_PrintUnformatted(a->fields);
    fz_resident r;
    fz_error err;
    int rc = json ? fz_resident_parse(json, strlen(json), &r, &err) : FZ_ENOMEM;
    free(json);
    if (rc) {
        cli_error("resident", "%s", rc == FZ_ENOMEM ? "out of memory" : err.message);
        return EXIT_USAGE;
    }
    if (fz_resident_put(s, &r, &err)) {
        cli_error("resident", "%s", err.message);
        return EXIT_RUNTIME;
    }
    char masked[24];
    fz_number_mask(r.number, masked);
    fprintf(stderr, "fanzha resident: registered %s (%zu guardians) in %s\n", masked, r.n_guardians,
            fz_store_describe(s));
    return 0;
}

static int do_remove_or_show(fz_store *s, const args *a, int remove)
{
    fz_error err;
    fz_resident r;
    int rc = remove ? fz_resident_remove(s, a->number, &err) : fz_resident_get(s, a->number, &r, &err);
    if (rc) {
        /* Masked, as everywhere: the number as typed would put it in logs. */
        char e164[24], masked[24];
        if (fz_number_e164(a->number, e164) == 0) {
            fz_number_mask(e164, masked);
            cli_error("resident", "%s: %s", masked, err.message);
        } else {
            cli_error("resident", "%s", err.message);
        }
        return rc == FZ_ENOENT || rc == FZ_EINVAL ? 1 : EXIT_RUNTIME;
    }
    if (remove) {
        fprintf(stderr, "fanzha resident: removed\n");
        return 0;
    }
    char json[2048];
    if (fz_resident_json(&r, !a->show_numbers, json, sizeof json) == 0)
        printf("%s\n", json);
    return 0;
}

typedef struct lister {
    int show_numbers;
    size_t n;
} lister;

static int print_one(void *ud, const fz_resident *r)
{
    lister *l = ud;
    char json[2048];
    if (fz_resident_json(r, !l->show_numbers, json, sizeof json) == 0) {
        printf("%s\n", json);
        l->n++;
    }
    return 0;
}

static int do_list(fz_store *s, const args *a)
{
    lister l = {a->show_numbers, 0};
    fz_error err;
    if (fz_resident_list(s, print_one, &l, &err)) {
        cli_error("resident", "%s", err.message);
        return EXIT_RUNTIME;
    }
    fprintf(stderr, "fanzha resident: %zu residents\n", l.n);
    return 0;
}

static int do_import(fz_store *s, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        cli_error("resident", "cannot open %s: %s", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0, ok = 0, bad = 0;
    ssize_t n;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        fz_resident r;
        fz_error err;
        if (fz_resident_parse(line, (size_t)n, &r, &err)) {
            fprintf(stderr, "fanzha resident: %s: line %zu: %s\n", path, lineno, err.message);
            bad++;
        } else if (fz_resident_put(s, &r, &err)) {
            cli_error("resident", "line %zu: %s", lineno, err.message);
            rc = EXIT_RUNTIME;
        } else {
            ok++;
        }
    }
    free(line);
    if (f != stdin)
        fclose(f);
    fprintf(stderr, "fanzha resident: %zu registered, %zu unreadable (%s)\n", ok, bad, fz_store_describe(s));
    return rc ? rc : bad ? 1 : 0;
}

int cmd_resident(int argc, char **argv)
{
    args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc || !a.verb) {
        if (!rc)
            fputs(k_help, stderr);
        cJSON_Delete(a.fields);
        cJSON_Delete(a.guardians);
        return rc == 1 ? 0 : EXIT_USAGE;
    }
    int needs_number = strcmp(a.verb, "add") == 0 || strcmp(a.verb, "remove") == 0 || strcmp(a.verb, "show") == 0;
    int known = needs_number || strcmp(a.verb, "list") == 0 || strcmp(a.verb, "import") == 0;
    fz_store *s = NULL;
    if (!known) {
        cli_error("resident", "unknown action '%s': add, remove, show, list or import", a.verb);
        rc = EXIT_USAGE;
    } else if (needs_number && !a.number) {
        cli_error("resident", "%s needs a NUMBER", a.verb);
        rc = EXIT_USAGE;
    } else if ((a.fields || a.guardians) && strcmp(a.verb, "add") != 0) {
        cli_error("resident", "--name, --guardian and the like go with add");
        rc = EXIT_USAGE;
    } else if ((rc = cli_state_open("resident", &a.state, &s)) != 0) {
        /* rc: EXIT_USAGE (the configuration file) or EXIT_RUNTIME */
    } else if (strcmp(a.verb, "add") == 0) {
        rc = do_add(s, &a);
    } else if (strcmp(a.verb, "remove") == 0 || strcmp(a.verb, "show") == 0) {
        rc = do_remove_or_show(s, &a, strcmp(a.verb, "remove") == 0);
    } else if (strcmp(a.verb, "list") == 0) {
        rc = do_list(s, &a);
    } else {
        rc = do_import(s, a.number ? a.number : "-");
    }
    fz_store_close(s);
    cli_state_free(&a.state);
    cJSON_Delete(a.fields);
    cJSON_Delete(a.guardians);
    return rc;
}
