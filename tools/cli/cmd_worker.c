/* cmd_worker.c — `fanzha worker`: one consumer of the bus (fanzha/stream.h):
 * reads the input partitions with its consumer group, writes a verdict per
 * entry, warns residents, claims what dead workers left behind.
 *
 * This file parses options, opens the engine, the state store, the outbox
 * and the bus, and runs fz_stream_work. Signals are taken by one thread
 * with sigwait (blocked everywhere else): SIGTERM/SIGINT ask the loop to
 * stop after committing the batch in flight (exit 0); SIGHUP rebuilds the
 * engine from the same rules and swaps it in (a broken pack is refused and
 * the running one stays). A stats line goes to stderr every interval and at
 * exit; log lines never carry a number from a message. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fanzha/stream.h"

static const char k_help[] =
    "usage: fanzha worker [OPTIONS]\n\n"
    "Consume the bus (Redis Streams: input partitions fz:in:{p0}..., fed by\n"
    "`fanzha stream push` or any producer) as one consumer of a group: score each\n"
    "entry, write its verdict (or error record) to fz:verdicts:{pK} and acknowledge\n"
    "it in one transaction, and queue warnings for registered residents. Run as many\n"
    "workers as you like, on as many machines: entries left pending by a worker that\n"
    "died are claimed by the others; an entry delivered more than --max-deliveries\n"
    "times goes to the dead letters (fz:in:dead:{pK}; see fanzha stream dead).\n\n"
    "options:\n"
    "  --rules DIR           rule pack directory (default: $FANZHA_RULES, else the built-in pack)\n"
    "  --cache DIR           compiled-database cache (default ~/.cache/fanzha); --no-cache to skip\n"
    CLI_STATE_HELP
    "  --bus URL             the Redis holding the streams (default: the state's Redis)\n"
    "  --group NAME          consumer group (default fanzha)\n"
    "  --consumer NAME       this worker's name in the group (default HOSTNAME-PID)\n"
    "  --partitions LIST     read only these partitions, e.g. 0,2-3 (default: all)\n"
    "  --batch N             entries per read, over all partitions (default 512)\n"
    "  --block MS            wait this long for new entries per read (default 1000, at most 3000)\n"
    "  --claim-interval MS   look for entries left by dead workers this often (default 5000)\n"
    "  --claim-idle MS       an entry pending this long was left by a dead worker (default 30000)\n"
    "  --max-deliveries N    an entry delivered more often is a dead letter (default 5)\n"
    "  --out-maxlen N        keep each verdict stream at about N entries (default 1000000;\n"
    "                        0: never trim them)\n"
    "  --max-record BYTES    longer records become error records (default 1048576)\n"
    "  --forget-consumers-after MS\n"
    "                        drop consumers of the group that hold nothing and were silent this\n"
    "                        long: workers that exited (default 3600000; 0: never)\n"
    "  --no-warn             queue no warnings (default: warn when the pack has warnings.yaml)\n"
    "  --drain               exit once nothing is left to read and nothing is pending\n"
    "  --stats-interval S    a stats line every S seconds (default 10)\n"
    "  -q, --quiet           no stats lines (Redis outages are still reported)\n\n"
    "SIGTERM or SIGINT: commit the batch in flight, then exit 0. SIGHUP: reload the\n"
    "rules. While Redis is unreachable the worker waits and reconnects; nothing is lost.\n";

typedef struct worker_ctx {
    const char *rules, *cache;
    fz_engine_slot *slot;
    atomic_int stop, done;
    int quiet;
    fz_stream_worker_stats last;    /* at the previous stats line */
} worker_ctx;

/* --- signals ------------------------------------------------------------------------------------ */

static void reload(worker_ctx *c)
{
    fz_engine *e;
    if (cli_load_engine(c->rules, c->cache, FZ_DIAG_ERROR, &e) == 0) {
        fprintf(stderr, "fanzha worker: reloaded rules %s\n", fz_engine_rules_version(e));
        fz_engine_slot_swap(c->slot, e);
    } else {
        fprintf(stderr, "fanzha worker: reload refused; the running rules stay\n");
    }
}

static void *signal_main(void *ud)
{
    worker_ctx *c = ud;
    for (;;) {
        int sig = cli_next_signal();
        if (atomic_load(&c->done))
            break;
        if (sig == SIGHUP) {
            reload(c);
        } else if (!atomic_exchange(&c->stop, 1)) {
            fprintf(stderr, "fanzha worker: stopping after the batch in flight\n");
        }
    }
    return NULL;
}

static int should_stop(void *ud)
{
    worker_ctx *c = ud;
    return atomic_load(&c->stop);
}

/* --- output ------------------------------------------------------------------------------------- */

static void log_line(void *ud, const char *msg)
{
    (void)ud;
    fprintf(stderr, "fanzha worker: %s\n", msg);
}

static void stats_line(void *ud, const fz_stream_worker_stats *st, int final)
{
    worker_ctx *c = ud;
    double secs = final ? st->seconds : st->seconds - c->last.seconds;
    uint64_t n = final ? st->read : st->read - c->last.read;
    c->last = *st;
    if (c->quiet)
        return;
    fprintf(stderr,
            "fanzha worker: %sread %llu, verdicts %llu, errors %llu, dead-lettered %llu, claimed %llu; "
            "warnings queued %llu; %.0f msg/s%s\n",
            final ? "done: " : "", (unsigned long long)st->read, (unsigned long long)st->verdicts,
            (unsigned long long)st->errors, (unsigned long long)st->dead, (unsigned long long)st->claimed,
            (unsigned long long)st->warnings_queued, secs > 0 ? (double)n / secs : 0.0,
            st->outages ? "; Redis was unreachable at times" : "");
}

/* --- options ------------------------------------------------------------------------------------- */

typedef struct args {
    const char *bus, *group, *consumer;
    unsigned *only;
    size_t n_only;
    int no_warn;
    fz_stream_worker_options o;
    cli_state state;
} args;

/* "0,2-3" into a list of partitions. */
static int parse_partitions(const char *s, args *a)
{
    a->only = calloc(FZ_STREAM_MAX_PARTITIONS, sizeof *a->only);
    if (!a->only)
        return EXIT_RUNTIME;
    while (*s) {
        char *end;
        unsigned long lo = strtoul(s, &end, 10), hi = lo;
        if (end == s)
            goto bad;
        if (*end == '-') {
            const char *h = end + 1;
            hi = strtoul(h, &end, 10);
            if (end == h || hi < lo)
                goto bad;
        }
        for (unsigned long p = lo; p <= hi; p++) {
            if (p >= FZ_STREAM_MAX_PARTITIONS || a->n_only >= FZ_STREAM_MAX_PARTITIONS)
                goto bad;
            a->only[a->n_only++] = (unsigned)p;
        }
        if (*end != ',' && *end != '\0')
            goto bad;
        s = *end ? end + 1 : end;
    }
    if (a->n_only)
        return 0;
bad:
    cli_error("worker", "--partitions takes a list like 0,2-3");
    return EXIT_USAGE;
}

static int int_opt(const char *name, const char *v, unsigned long max, unsigned long *out)
{
    if (cli_uint(name, v, out))
        return EXIT_USAGE;
    if (*out > max) {
        cli_error("worker", "%s is at most %lu", name, max);
        return EXIT_USAGE;
    }
    return 0;
}

static int parse_tuning(int argc, char **argv, int *i, args *a, int *matched)
{
    const char *v;
    unsigned long n = 0;
    int rc = 0;
    *matched = 1;
    if (cli_opt(argc, argv, i, "--batch", &v)) {
        if (!(rc = int_opt("--batch", v, 100000, &n)))
            a->o.batch = n ? n : 1;
    } else if (cli_opt(argc, argv, i, "--block", &v)) {
        if (!(rc = int_opt("--block", v, 3000, &n)))
            a->o.block_ms = n ? (int)n : 1;
    } else if (cli_opt(argc, argv, i, "--claim-interval", &v)) {
        if (!(rc = int_opt("--claim-interval", v, 86400000, &n)))
            a->o.claim_interval_ms = n ? (int)n : 1;
    } else if (cli_opt(argc, argv, i, "--claim-idle", &v)) {
        if (!(rc = int_opt("--claim-idle", v, 86400000, &n)))
            a->o.claim_idle_ms = n ? (int)n : 1;
    } else if (cli_opt(argc, argv, i, "--max-deliveries", &v)) {
        if (!(rc = int_opt("--max-deliveries", v, 1000000, &n)))
            a->o.max_deliveries = n ? (unsigned)n : 1;
    } else if (cli_opt(argc, argv, i, "--out-maxlen", &v)) {
        if (!(rc = int_opt("--out-maxlen", v, 1000000000000UL, &n)))
            a->o.out_maxlen = n ? (long long)n : -1;
    } else if (cli_opt(argc, argv, i, "--max-record", &v)) {
        if (!(rc = int_opt("--max-record", v, 1UL << 30, &n)))
            a->o.max_record = n ? n : 1;
    } else if (cli_opt(argc, argv, i, "--forget-consumers-after", &v)) {
        if (!(rc = int_opt("--forget-consumers-after", v, 1000000000000UL, &n)))
            a->o.forget_idle_ms = n ? (long long)n : -1;
    } else if (cli_opt(argc, argv, i, "--stats-interval", &v)) {
        if (!(rc = int_opt("--stats-interval", v, 86400, &n)))
            a->o.stats_interval_ms = n ? (int)n * 1000 : 1000;
    } else {
        *matched = 0;
    }
    return rc;
}

/* 0, -1 after --help, or an exit code. */
static int parse(int argc, char **argv, args *a, worker_ctx *c)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        int matched, rc = parse_tuning(argc, argv, &i, a, &matched);
        if (rc)
            return rc;
        if (matched)
            continue;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return -1;
        } else if (cli_opt(argc, argv, &i, "--rules", &v)) {
            c->rules = v;
        } else if (cli_opt(argc, argv, &i, "--cache", &v)) {
            c->cache = v;
        } else if (cli_flag(argv, i, "--no-cache")) {
            c->cache = NULL;
        } else if (cli_opt(argc, argv, &i, "--bus", &v)) {
            a->bus = v;
        } else if (cli_opt(argc, argv, &i, "--group", &v)) {
            a->o.group = v;
        } else if (cli_opt(argc, argv, &i, "--consumer", &v)) {
            a->o.consumer = v;
        } else if (cli_opt(argc, argv, &i, "--partitions", &v)) {
            if ((rc = parse_partitions(v, a)))
                return rc;
        } else if (cli_flag(argv, i, "--no-warn")) {
            a->no_warn = 1;
        } else if (cli_flag(argv, i, "--drain")) {
            a->o.drain = 1;
        } else if (cli_flag(argv, i, "-q") || cli_flag(argv, i, "--quiet")) {
            c->quiet = 1;
        } else if (!cli_state_opt(argc, argv, &i, &a->state)) {
            cli_error("worker", "unknown argument '%s' (see fanzha worker --help)", argv[i]);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* --- running ------------------------------------------------------------------------------------- */

typedef struct opened {
    fz_engine *engine;
    fz_store *store;
    fz_outbox *outbox;
    fz_stream *bus;
} opened;

static void close_all(opened *op)
{
    fz_outbox_close(op->outbox);
    fz_store_close(op->store);
    fz_stream_close(op->bus);
    if (op->engine)
        fz_engine_release(op->engine);
}

static int open_all(args *a, worker_ctx *c, opened *op)
{
    fz_error err;
    if (cli_load_engine(c->rules, c->cache, FZ_DIAG_ERROR, &op->engine))
        return 1;
    int rc = cli_state_open("worker", &a->state, &op->store);
    const char *url = NULL;
    if (!rc)
        rc = cli_bus_url("worker", &a->state, a->bus, &url);
    if (!rc && fz_stream_open(url, &op->bus, &err)) {
        cli_error("worker", "%s", err.message);
        rc = EXIT_USAGE;
    }
    if (!rc && !a->no_warn && fz_engine_has_warnings(op->engine) && fz_outbox_open(op->store, &op->outbox, &err)) {
        cli_error("worker", "warnings: %s (or give --no-warn)", err.message);
        rc = EXIT_RUNTIME;
    }
    return rc;
}

static int run(args *a, worker_ctx *c, opened *op)
{
    c->slot = fz_engine_slot_new(op->engine);
    if (!c->slot)
        return EXIT_RUNTIME;
    op->engine = NULL;                  /* the slot has it */
    a->o.only = a->only;
    a->o.n_only = a->n_only;
    a->o.store = op->store;
    a->o.outbox = op->outbox;
    a->o.log = log_line;
    a->o.stats = stats_line;
    a->o.should_stop = should_stop;
    a->o.ud = c;
    pthread_t sig;
    int have_sig = pthread_create(&sig, NULL, signal_main, c) == 0;
    fz_stream_worker_stats st;
    fz_error err;
    int rc = fz_stream_work(op->bus, c->slot, &a->o, &st, &err);
    if (have_sig) {
        atomic_store(&c->done, 1);
        pthread_kill(sig, SIGHUP);
        pthread_join(sig, NULL);
    }
    fz_engine_slot_free(c->slot);
    if (rc)
        cli_error("worker", "%s", err.message);
    return rc == FZ_EINVAL ? EXIT_USAGE : rc ? EXIT_RUNTIME : 0;
}

int cmd_worker(int argc, char **argv)
{
    worker_ctx c = {0};
    args a = {0};
    c.cache = cli_default_cache();
    int rc = parse(argc, argv, &a, &c);
    if (rc) {
        free(a.only);
        return rc < 0 ? 0 : rc;
    }
    /* Blocked before any thread starts, so that only the signal thread
     * takes them. */
    cli_block_signals();
    opened op = {0};
    rc = open_all(&a, &c, &op);
    if (!rc)
        rc = run(&a, &c, &op);
    close_all(&op);
    cli_state_free(&a.state);
    free(a.only);
    return rc;
}
