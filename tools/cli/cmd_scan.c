/* cmd_scan.c — `fanzha scan`: score a stream into verdicts, in order.
 *
 * Reads JSON Lines (or CSV) from a file or stdin, writes one verdict a line
 * to stdout (or -o FILE) and error records to stderr (or --errors FILE),
 * then prints a summary. SIGHUP rebuilds the engine from the same rules and
 * swaps it in without stopping (a broken pack is refused; the old one stays). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha scan [OPTIONS] [FILE|-]\n\n"
    "Score messages and write one verdict per input record, in input order.\n"
    "Input: JSON Lines ({\"id\",\"from\",\"to\",\"text\",...}; only text is required) or\n"
    "CSV (id,from,to,text). A record that cannot be read becomes an error record\n"
    "{\"line\":N,\"error\":\"...\"}; at the end, read = verdicts + errors.\n\n"
    "options:\n"
    "  --rules DIR         rule pack directory (default: $FANZHA_RULES, else the built-in pack)\n"
    "  --threads N|auto    worker threads (default 1; auto = one per core); order is kept\n"
    "  --format jsonl|csv  input format (default: csv for *.csv files, else jsonl)\n"
    "  -o, --output FILE   write verdicts to FILE instead of stdout\n"
    "  --errors FILE       write error records to FILE instead of stderr\n"
    "  --max-record BYTES  longer records become error records (default 1048576)\n"
    "  --cache DIR         compiled-database cache (default ~/.cache/fanzha); --no-cache to skip\n"
    CLI_STATE_HELP
    "  --state none        score every message on its own: no verdict cache, reports, campaigns\n"
    "  --warn              warn registered residents (fanzha resident): queue warnings in the\n"
    "                      outbox for `fanzha outbox deliver`; verdicts then say \"warning\":{...}\n"
    "  --reports FILE      record these reported numbers (JSON Lines) before scanning\n"
    "  -q, --quiet         no summary and no progress line\n\n"
    "SIGHUP reloads the rules from the same place; a broken pack is refused and\n"
    "the running one stays. With state, verdicts say \"cache\":\"hit\"|\"miss\" and carry\n"
    "the reports of the sender and callback numbers and the campaign they belong to;\n"
    "when Redis is unreachable, scoring goes on without state (counted as degraded).\n";

typedef struct {
    const char *rules, *cache;
    fz_store *store;
    fz_outbox *outbox;
    cli_state state;
    fz_engine_slot *slot;
    volatile sig_atomic_t stop;
    off_t input_size;
    int progress_shown;
} scan_ctx;

static void progress(void *ud, const fz_scan_stats *st)
{
    scan_ctx *c = ud;
    if (c->input_size <= 0)
        return;
    double pct = 100.0 * (double)st->bytes / (double)c->input_size;
    fprintf(stderr, "\r  %5.1f%%  %llu records  %.0f msg/s ", pct > 100 ? 100 : pct,
            (unsigned long long)st->read, st->seconds > 0 ? (double)st->read / st->seconds : 0);
    c->progress_shown = 1;
}

/* The reload thread waits for SIGHUP (blocked in every other thread). */
static void *reload_main(void *ud)
{
    scan_ctx *c = ud;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0 || c->stop)
            break;
        fz_engine *e;
        if (cli_load_engine(c->rules, c->cache, FZ_DIAG_ERROR, &e) == 0) {
            fprintf(stderr, "fanzha scan: reloaded rules %s\n", fz_engine_rules_version(e));
            fz_engine_slot_swap(c->slot, e);
        } else {
            fprintf(stderr, "fanzha scan: reload refused; the running rules stay\n");
        }
    }
    return NULL;
}

static int open_output(const char *path, int dflt)
{
    if (!path)
        return dflt;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        cli_error("scan", "cannot open %s: %s", path, strerror(errno));
    return fd;
}

static void state_summary(const scan_ctx *c)
{
    if (!c->store)
        return;
    fz_store_stats ss;
    fz_store_get_stats(c->store, &ss);
    fprintf(stderr, "fanzha scan: state %s: cache %llu hits, %llu misses; %llu round trips, %llu failed, "
                    "%llu reconnects; %llu messages scored without state\n",
            fz_store_describe(c->store), (unsigned long long)ss.cache_hits, (unsigned long long)ss.cache_misses,
            (unsigned long long)ss.round_trips, (unsigned long long)ss.errors, (unsigned long long)ss.reconnects,
            (unsigned long long)ss.degraded);
    fz_campaign top[3];
    size_t n = 3;
    if (fz_store_campaigns(c->store, top, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "fanzha scan: campaign %s: %llu recipients this hour: %.80s\n", top[i].template_hash,
                    (unsigned long long)top[i].recipients, top[i].sample);
}

/* --warn needs templates in the pack and a place for the outbox. */
static int open_outbox(scan_ctx *c, const fz_engine *e)
{
    fz_error err;
    if (!fz_engine_has_warnings(e)) {
        cli_error("scan", "--warn: the rule pack has no warnings.yaml (the words residents receive)");
        return -1;
    }
    if (fz_outbox_open(c->store, &c->outbox, &err)) {
        cli_error("scan", "--warn: %s", err.message);
        return -1;
    }
    return 0;
}

static void warn_summary(const scan_ctx *c, const fz_scan_stats *st)
{
    if (!c->outbox)
        return;
    fprintf(stderr,
            "fanzha scan: warnings queued %llu (spooled %llu), duplicate %llu, over the daily limit %llu, "
            "failed %llu; deliver them with `fanzha outbox deliver`\n",
            (unsigned long long)st->warnings_queued, (unsigned long long)st->warnings_spooled,
            (unsigned long long)st->warnings_duplicate, (unsigned long long)st->warnings_limited,
            (unsigned long long)st->warnings_failed);
}

static void summary(const scan_ctx *c, const fz_scan_stats *st, fz_engine *e)
{
    if (c->progress_shown)
        fprintf(stderr, "\r%60s\r", "");
    fprintf(stderr,
            "fanzha scan: read %llu, verdicts %llu, errors %llu (allow %llu, suspect %llu, block %llu) "
            "in %.3f s, %.0f msg/s; rules %s (%s, %zu rules, loaded in %.0f ms%s)%s\n",
            (unsigned long long)st->read, (unsigned long long)st->verdicts, (unsigned long long)st->errors,
            (unsigned long long)st->by_action[FZ_ALLOW], (unsigned long long)st->by_action[FZ_SUSPECT],
            (unsigned long long)st->by_action[FZ_BLOCK], st->seconds,
            st->seconds > 0 ? (double)st->read / st->seconds : 0.0, fz_engine_rules_version(e),
            fz_engine_rules_source(e), fz_engine_rule_count(e), fz_engine_load_ms(e),
            fz_engine_from_cache(e) ? " from the cache" : "", st->reloads ? " (reloaded during the scan)" : "");
}

int cmd_scan(int argc, char **argv)
{
    scan_ctx c = {0};
    fz_scan_options o = {0};
    const char *input = NULL, *output = NULL, *errors = NULL, *reports = NULL, *v;
    int quiet = 0, threads = 1, format = -1, stateless = 0, warn = 0;
    unsigned long n;
    c.cache = cli_default_cache();
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "--rules", &v)) {
            c.rules = v;
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (strcmp(v, "auto") == 0)
                threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
            else if (cli_uint("--threads", v, &n) || n > 256)
                return EXIT_USAGE;
            else
                threads = (int)n;
        } else if (cli_opt(argc, argv, &i, "--format", &v)) {
            if (strcmp(v, "jsonl") && strcmp(v, "csv")) {
                cli_error("scan", "--format is jsonl or csv, not '%s'", v);
                return EXIT_USAGE;
            }
            format = strcmp(v, "csv") == 0 ? FZ_FORMAT_CSV : FZ_FORMAT_JSONL;
        } else if (cli_opt(argc, argv, &i, "--output", &v) || cli_opt(argc, argv, &i, "-o", &v)) {
            output = v;
        } else if (cli_opt(argc, argv, &i, "--errors", &v)) {
            errors = v;
        } else if (cli_opt(argc, argv, &i, "--max-record", &v)) {
            if (cli_uint("--max-record", v, &n) || n == 0)
                return EXIT_USAGE;
            o.max_record = n;
        } else if (cli_opt(argc, argv, &i, "--cache", &v)) {
            c.cache = v;
        } else if (cli_flag(argv, i, "--no-cache")) {
            c.cache = NULL;
        } else if (cli_state_opt(argc, argv, &i, &c.state)) {
            continue;
        } else if (cli_flag(argv, i, "--warn")) {
            warn = 1;
        } else if (cli_opt(argc, argv, &i, "--state", &v)) {
            if (strcmp(v, "none") != 0) {
                cli_error("scan", "--state takes 'none' (use --redis URL for Redis)");
                return EXIT_USAGE;
            }
            stateless = 1;
        } else if (cli_opt(argc, argv, &i, "--reports", &v)) {
            reports = v;
        } else if (cli_flag(argv, i, "-q") || cli_flag(argv, i, "--quiet")) {
            quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_error("scan", "unknown option '%s' (see fanzha scan --help)", argv[i]);
            return EXIT_USAGE;
        } else if (!input) {
            input = argv[i];
        } else {
            cli_error("scan", "only one input file, please");
            return EXIT_USAGE;
        }
    }
    if (format < 0) {
        size_t l = input ? strlen(input) : 0;
        format = l > 4 && strcmp(input + l - 4, ".csv") == 0 ? FZ_FORMAT_CSV : FZ_FORMAT_JSONL;
    }
    int in = STDIN_FILENO;
    if (input && strcmp(input, "-") != 0 && (in = open(input, O_RDONLY | O_CLOEXEC)) < 0) {
        cli_error("scan", "cannot open %s: %s", input, strerror(errno));
        return EXIT_RUNTIME;
    }
    struct stat st_in;
    if (!quiet && isatty(STDERR_FILENO) && fstat(in, &st_in) == 0 && S_ISREG(st_in.st_mode))
        c.input_size = st_in.st_size;

    /* Block SIGHUP everywhere before any thread starts; the reload thread
     * takes it with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    fz_engine *e;
    if (cli_load_engine(c.rules, c.cache, FZ_DIAG_ERROR, &e))
        return 1;
    if (stateless && (c.state.redis || reports || warn)) {
        cli_error("scan", "--state none cannot be combined with --redis, --reports or --warn");
        fz_engine_release(e);
        return EXIT_USAGE;
    }
    if (!stateless && (cli_state_open("scan", &c.state, &c.store) || (warn && open_outbox(&c, e)))) {
        fz_engine_release(e);
        fz_store_close(c.store);
        cli_state_free(&c.state);
        return EXIT_RUNTIME;
    }
    if (reports) {
        size_t ok, bad;
        /* Reports that cannot be recorded (Redis down) do not stop the scan:
         * messages are never held back for state. */
        int rrc = cli_ingest_reports("scan", c.store, reports, fz_engine_half_life_days(e), &ok, &bad);
        if (!quiet)
            fprintf(stderr, "fanzha scan: %zu reports recorded, %zu unreadable%s\n", ok, bad,
                    rrc ? "; the rest could not be recorded, scanning anyway" : "");
    }
    c.slot = fz_engine_slot_new(e);
    o.format = (fz_format)format;
    o.threads = threads;
    o.in_fd = in;
    o.out_fd = open_output(output, STDOUT_FILENO);
    o.err_fd = open_output(errors, STDERR_FILENO);
    o.progress = c.input_size > 0 ? progress : NULL;
    o.progress_ud = &c;
    o.store = c.store;
    o.outbox = c.outbox;
    if (!c.slot || o.out_fd < 0 || o.err_fd < 0) {
        if (c.slot)
            fz_engine_slot_free(c.slot);
        else
            fz_engine_release(e);
        fz_outbox_close(c.outbox);
        fz_store_close(c.store);
        cli_state_free(&c.state);
        if (in != STDIN_FILENO)
            close(in);
        return EXIT_RUNTIME;
    }
    pthread_t reloader;
    int have_reloader = pthread_create(&reloader, NULL, reload_main, &c) == 0;

    fz_scan_stats st;
    fz_error err;
    int rc = fz_scan_stream(c.slot, &o, &st, &err);

    if (have_reloader) {
        c.stop = 1;
        pthread_kill(reloader, SIGHUP);
        pthread_join(reloader, NULL);
    }
    fz_engine *shown = fz_engine_slot_acquire(c.slot);
    if (!quiet) {
        summary(&c, &st, shown);
        state_summary(&c);
        warn_summary(&c, &st);
    }
    fz_engine_release(shown);
    if (rc)
        cli_error("scan", "%s", err.message);
    fz_engine_slot_free(c.slot);
    fz_outbox_close(c.outbox);
    fz_store_close(c.store);
    cli_state_free(&c.state);
    if (in != STDIN_FILENO)
        close(in);
    return rc ? EXIT_RUNTIME : 0;
}
