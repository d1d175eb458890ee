/* cmd_stream.c — `fanzha stream`: feed the bus (push), see what it holds
 * (status), and handle its dead letters (dead list|replay). The bus is the
 * Redis of --redis / $FANZHA_REDIS / the configuration file; the work is
 * done by the library (fanzha/stream.h), this file parses and prints.
 * Also cli_bus_url, which `fanzha worker` shares. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fanzha/stream.h"

static const char k_help[] =
    "usage: fanzha stream push [--partitions N] [--format jsonl|csv] [--max-record BYTES] [FILE|-]\n"
    "       fanzha stream status [--group NAME] [--json]\n"
    "       fanzha stream dead list [--partition K] [--max N]\n"
    "       fanzha stream dead replay [--partition K] [ID...]\n\n"
    "The bus is Redis Streams: input partitions fz:in:{p0}..., by recipient, read by\n"
    "`fanzha worker`s (consumer group \"fanzha\"), verdicts in fz:verdicts:{pK}, dead\n"
    "letters (messages no worker could finish) in fz:in:dead:{pK}.\n\n"
    "  push                add every record of FILE (or stdin) to its partition, in\n"
    "                      pipelined batches; prints how many went to each partition.\n"
    "                      Records that cannot be read go in too: workers turn them\n"
    "                      into error records. Records longer than --max-record\n"
    "                      (default 1048576) are refused, with an error record on stderr.\n"
    "  status              per partition: entries held, not yet delivered, pending\n"
    "                      (delivered, not acknowledged), consumers, dead letters, verdicts\n"
    "  dead list           the dead letters, one JSON object a line\n"
    "  dead replay         put dead letters (all, or these ids) back on their partition\n\n"
    "  --partitions N      push: the partition count, recorded in Redis (fz:in:partitions)\n"
    "                      by the first push (default 4); another count is refused\n"
    "  --format jsonl|csv  push: input format (default: csv for *.csv files, else jsonl)\n"
    "  --group NAME        status: the workers' consumer group (default fanzha)\n"
    "  --json              status: one JSON object, for machines\n"
    "  --partition K       dead: only partition K\n"
    "  --max N             dead list: at most N\n\n"
    "  --redis URL         the bus: redis://[:password@]host[:port][/db] (default: $FANZHA_REDIS,\n"
    "                      else the configuration file's)\n"
    "  --config FILE       configuration file (default: $FANZHA_CONFIG)\n";

int cli_bus_url(const char *cmd, cli_state *s, const char *bus, const char **url)
{
    if (bus && *bus) {
        *url = bus;
        return 0;
    }
    const char *path = s->config_path ? s->config_path : getenv("FANZHA_CONFIG");
    fz_error err;
    int crc;
    if (path && *path && !s->config && (crc = fz_config_load(path, &s->config, &err))) {
        cli_error(cmd, "%s", err.message);
        return crc == FZ_EPARSE ? EXIT_USAGE : EXIT_RUNTIME;
    }
    const char *env = getenv("FANZHA_REDIS");
    const char *r = s->redis ? s->redis : env && *env ? env : fz_config_redis(s->config);
    if (!r || !*r) {
        cli_error(cmd, "the stream bus is Redis: give --redis URL (or set FANZHA_REDIS)");
        return EXIT_USAGE;
    }
    *url = r;
    return 0;
}

typedef struct args {
    const char *verb, *dead_verb, *input, *group;
    const char **ids;
    size_t n_ids;
    unsigned long partitions, max;
    long partition;
    int format, json;
    size_t max_record;
    cli_state state;
} args;

/* --- push --------------------------------------------------------------------------------------- */

static void refused(void *ud, uint64_t line, const char *why)
{
    (void)ud;
    fprintf(stderr, "{\"line\":%llu,\"error\":\"%s\"}\n", (unsigned long long)line, why);
}

static void push_summary(const fz_stream_push_stats *st)
{
    fprintf(stderr, "fanzha stream push: pushed %llu (", (unsigned long long)st->pushed);
    for (unsigned p = 0; p < st->partitions; p++)
        fprintf(stderr, "%sp%u %llu", p ? ", " : "", p, (unsigned long long)st->per_partition[p]);
    fprintf(stderr, "), refused %llu, in %.3f s, %.0f msg/s\n", (unsigned long long)st->refused, st->seconds,
            st->seconds > 0 ? (double)st->pushed / st->seconds : 0.0);
}

static int do_push(fz_stream *s, args *a)
{
    int fd = STDIN_FILENO;
    if (a->input && strcmp(a->input, "-") != 0 && (fd = open(a->input, O_RDONLY | O_CLOEXEC)) < 0) {
        cli_error("stream push", "cannot open %s: %s", a->input, strerror(errno));
        return EXIT_RUNTIME;
    }
    if (a->format < 0) {
        size_t l = a->input ? strlen(a->input) : 0;
        a->format = l > 4 && strcmp(a->input + l - 4, ".csv") == 0 ? FZ_FORMAT_CSV : FZ_FORMAT_JSONL;
    }
    fz_stream_push_options o = {(unsigned)a->partitions, (fz_format)a->format, a->max_record, 0, refused, NULL};
    fz_stream_push_stats *st = malloc(sizeof *st);
    fz_error err;
    int rc = st ? fz_stream_push_fd(s, fd, &o, st, &err) : FZ_ENOMEM;
    if (st && st->partitions)
        push_summary(st);
    if (rc)
        cli_error("stream push", "%s", st ? err.message : "out of memory");
    int code = rc == FZ_EINVAL ? EXIT_USAGE : rc ? EXIT_RUNTIME : st->refused ? 1 : 0;
    free(st);
    if (fd != STDIN_FILENO)
        close(fd);
    return code;
}

/* --- status ------------------------------------------------------------------------------------- */

static void add_total(fz_partition_status *t, const fz_partition_status *p)
{
    t->length += p->length;
    t->lag = t->lag < 0 || p->lag < 0 ? -1 : t->lag + p->lag;
    t->pending += p->pending;
    t->dead += p->dead;
    t->out_length += p->out_length;
    if (p->consumers > t->consumers)
        t->consumers = p->consumers;    /* workers usually read every partition */
}

static cJSON *status_json(const fz_partition_status *p, int with_index)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (with_index)
        cJSON_AddNumberToObject(o, "partition", p->partition);
    cJSON_AddNumberToObject(o, "length", (double)p->length);
    if (p->lag >= 0)
        cJSON_AddNumberToObject(o, "undelivered", (double)p->lag);
    else
        cJSON_AddNullToObject(o, "undelivered");
    cJSON_AddNumberToObject(o, "pending", (double)p->pending);
    cJSON_AddNumberToObject(o, "consumers", (double)p->consumers);
    cJSON_AddNumberToObject(o, "dead", (double)p->dead);
    cJSON_AddNumberToObject(o, "verdicts", (double)p->out_length);
    if (with_index)
        cJSON_AddBoolToObject(o, "group", p->has_group);
    return o;
}

static int print_json(const fz_stream *s, const char *group, const fz_partition_status *ps, unsigned n,
                      const fz_partition_status *total)
{
    cJSON *root = cJSON_CreateObject(), *parts = cJSON_CreateArray();
    if (!root || !parts) {
        cJSON_Delete(root);
        cJSON_Delete(parts);
        return EXIT_RUNTIME;
    }
    cJSON_AddStringToObject(root, "bus", fz_stream_describe(s));
    cJSON_AddStringToObject(root, "group", group);
    cJSON_AddNumberToObject(root, "partitions", n);
    for (unsigned p = 0; p < n; p++)
        cJSON_AddItemToArray(parts, status_json(&ps[p], 1));
    cJSON_AddItemToObject(root, "by_partition", parts);
    cJSON_AddItemToObject(root, "total", status_json(total, 0));
    char *text = cJSON_PrintUnformatted(root);
    if (text)
        printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
    return text ? 0 : EXIT_RUNTIME;
}

static void print_row(const char *name, const fz_partition_status *p)
{
    char lag[24] = "?";
    if (p->lag >= 0)
        snprintf(lag, sizeof lag, "%lld", (long long)p->lag);
    printf("%-10s %10llu %12s %9llu %10llu %8llu %10llu\n", name, (unsigned long long)p->length, lag,
           (unsigned long long)p->pending, (unsigned long long)p->consumers, (unsigned long long)p->dead,
           (unsigned long long)p->out_length);
}

static int do_status(fz_stream *s, const args *a)
{
    fz_partition_status *ps = calloc(FZ_STREAM_MAX_PARTITIONS, sizeof *ps);
    unsigned n = 0;
    fz_error err;
    const char *group = a->group ? a->group : FZ_STREAM_DEFAULT_GROUP;
    int rc = ps ? fz_stream_status(s, group, ps, &n, &err) : FZ_ENOMEM;
    if (rc) {
        cli_error("stream status", "%s", ps ? err.message : "out of memory");
        free(ps);
        return EXIT_RUNTIME;
    }
    fz_partition_status total = {0};
    for (unsigned p = 0; p < n; p++)
        add_total(&total, &ps[p]);
    int code = 0;
    if (a->json) {
        code = print_json(s, group, ps, n, &total);
    } else if (n == 0) {
        printf("bus %s: nothing pushed yet (no partition count recorded)\n", fz_stream_describe(s));
    } else {
        printf("bus %s, %u partitions, group %s\n", fz_stream_describe(s), n, group);
        printf("%-10s %10s %12s %9s %10s %8s %10s\n", "partition", "length", "undelivered", "pending", "consumers",
               "dead", "verdicts");
        for (unsigned p = 0; p < n; p++) {
            char name[16];
            snprintf(name, sizeof name, "p%u", p);
            print_row(name, &ps[p]);
        }
        print_row("total", &total);
    }
    free(ps);
    return code;
}

/* --- dead letters -------------------------------------------------------------------------------- */

static int print_letter(void *ud, const fz_dead_letter *d)
{
    (void)ud;
    cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateObject();
    if (!o || !f) {
        cJSON_Delete(o);
        cJSON_Delete(f);
        return 1;
    }
    cJSON_AddNumberToObject(o, "partition", d->partition);
    cJSON_AddStringToObject(o, "id", d->id);
    for (size_t k = 0; k + 1 < d->n_fields; k += 2)
        cJSON_AddStringToObject(f, d->fields[k], d->fields[k + 1]);
    cJSON_AddItemToObject(o, "fields", f);
    char *text = cJSON_PrintUnformatted(o);
    if (text)
        printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
    return 0;
}

static int do_dead(fz_stream *s, const args *a)
{
    fz_error err;
    int rc;
    if (strcmp(a->dead_verb, "list") == 0) {
        rc = fz_stream_dead_list(s, (int)a->partition, a->max, print_letter, NULL, &err);
    } else {
        uint64_t n = 0;
        rc = fz_stream_dead_replay(s, (int)a->partition, a->ids, a->n_ids, &n, &err);
        fprintf(stderr, "fanzha stream dead replay: %llu replayed\n", (unsigned long long)n);
    }
    if (rc)
        cli_error("stream dead", "%s", err.message);
    return rc == FZ_EINVAL ? EXIT_USAGE : rc ? EXIT_RUNTIME : 0;
}

/* --- arguments ------------------------------------------------------------------------------------ */

static int parse_option(int argc, char **argv, int *i, args *a)
{
    const char *v;
    unsigned long n;
    if (cli_opt(argc, argv, i, "--partitions", &v)) {
        if (cli_uint("--partitions", v, &a->partitions) || a->partitions == 0 ||
            a->partitions > FZ_STREAM_MAX_PARTITIONS) {
            cli_error("stream", "--partitions is between 1 and %d", FZ_STREAM_MAX_PARTITIONS);
            return EXIT_USAGE;
        }
    } else if (cli_opt(argc, argv, i, "--format", &v)) {
        if (strcmp(v, "jsonl") && strcmp(v, "csv")) {
            cli_error("stream", "--format is jsonl or csv, not '%s'", v);
            return EXIT_USAGE;
        }
        a->format = strcmp(v, "csv") == 0 ? FZ_FORMAT_CSV : FZ_FORMAT_JSONL;
    } else if (cli_opt(argc, argv, i, "--max-record", &v)) {
        if (cli_uint("--max-record", v, &n) || n == 0)
            return EXIT_USAGE;
        a->max_record = n;
    } else if (cli_opt(argc, argv, i, "--group", &v)) {
        a->group = v;
    } else if (cli_opt(argc, argv, i, "--partition", &v)) {
        if (cli_uint("--partition", v, &n) || n >= FZ_STREAM_MAX_PARTITIONS)
            return EXIT_USAGE;
        a->partition = (long)n;
    } else if (cli_opt(argc, argv, i, "--max", &v)) {
        if (cli_uint("--max", v, &a->max))
            return EXIT_USAGE;
    } else if (cli_flag(argv, *i, "--json")) {
        a->json = 1;
    } else if (!cli_state_opt(argc, argv, i, &a->state)) {
        cli_error("stream", "unknown option '%s' (see fanzha stream --help)", argv[*i]);
        return EXIT_USAGE;
    }
    return 0;
}

static int parse_word(char *word, args *a, char **ids)
{
    if (!a->verb) {
        a->verb = word;
    } else if (strcmp(a->verb, "dead") == 0 && !a->dead_verb) {
        a->dead_verb = word;
    } else if (strcmp(a->verb, "push") == 0 && !a->input) {
        a->input = word;
    } else if (a->dead_verb && strcmp(a->dead_verb, "replay") == 0) {
        ids[a->n_ids++] = word;
    } else {
        cli_error("stream", "unexpected argument '%s' (see fanzha stream --help)", word);
        return EXIT_USAGE;
    }
    return 0;
}

static int parse(int argc, char **argv, args *a, char **ids)
{
    for (int i = 1; i < argc; i++) {
        int rc;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return -1;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            rc = parse_option(argc, argv, &i, a);
        else
            rc = parse_word(argv[i], a, ids);
        if (rc)
            return rc;
    }
    int known = a->verb && (strcmp(a->verb, "push") == 0 || strcmp(a->verb, "status") == 0 ||
                            (strcmp(a->verb, "dead") == 0 && a->dead_verb &&
                             (strcmp(a->dead_verb, "list") == 0 || strcmp(a->dead_verb, "replay") == 0)));
    if (!known) {
        fputs(k_help, stderr);
        return EXIT_USAGE;
    }
    return 0;
}

int cmd_stream(int argc, char **argv)
{
    args a = {0};
    a.format = -1;
    a.partition = -1;
    char **ids = calloc((size_t)argc, sizeof *ids);
    if (!ids)
        return EXIT_RUNTIME;
    a.ids = (const char **)ids;
    int rc = parse(argc, argv, &a, ids);
    const char *url = NULL;
    if (rc == 0)
        rc = cli_bus_url("stream", &a.state, NULL, &url);
    fz_stream *s = NULL;
    fz_error err;
    if (rc == 0 && fz_stream_open(url, &s, &err)) {
        cli_error("stream", "%s", err.message);
        rc = EXIT_USAGE;
    }
    if (rc == 0)
        rc = strcmp(a.verb, "push") == 0 ? do_push(s, &a) : strcmp(a.verb, "status") == 0 ? do_status(s, &a)
                                                                                            : do_dead(s, &a);
    fz_stream_close(s);
    cli_state_free(&a.state);
    free(ids);
    return rc < 0 ? 0 : rc;
}
