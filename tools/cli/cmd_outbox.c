/* cmd_outbox.c — `fanzha outbox`: what operators do with the warnings that
 * wait for the gateway: see them, deliver them, replay dead letters,
 * purge. Delivery stops on SIGINT/SIGTERM after the attempts in flight are
 * settled, so a stopped deliverer leaves nothing half done. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha outbox [status] [STATE OPTIONS]\n"
    "       fanzha outbox list [--box ready|scheduled|dead] [--show-numbers] [--body]\n"
    "       fanzha outbox deliver [--follow] [-q] --config FILE\n"
    "       fanzha outbox replay [ID...]\n"
    "       fanzha outbox purge --box ready|scheduled|dead (ID... | --all)\n\n"
    "Warnings for residents (queued by `fanzha scan --warn`) wait in the outbox\n"
    "until they are delivered to the notification gateway: in Redis when one is\n"
    "given, else in the state directory (and there too while Redis is down).\n\n"
    "  status              how many are ready, scheduled (quiet hours, retries), dead\n"
    "  list                the warnings of a box as JSON Lines (default: ready)\n"
    "  deliver             send what is due through the gateway of the configuration\n"
    "                      file, retrying failures with backoff; stops when nothing is\n"
    "                      due, or with --follow keeps going until SIGINT/SIGTERM\n"
    "  replay              move dead letters (all, or these ids) back to the queue\n"
    "  purge               delete warnings from a box (these ids, or --all)\n\n"
    "  --box B             ready, scheduled or dead\n"
    "  --show-numbers      list: numbers in clear (default: masked)\n"
    "  --body              list: add the request body the gateway would receive\n"
    "  --follow            deliver: keep delivering as warnings arrive\n"
    "  -q, --quiet         deliver: no line per failed attempt\n\n"
    "state options:\n" CLI_STATE_HELP;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int should_stop(void *ud)
{
    (void)ud;
    return g_stop;
}

typedef struct args {
    const char *verb;
    const char **ids;
    size_t n_ids;
    int box, follow, quiet, show_numbers, body, all;
    cli_state state;
} args;

static int parse_box(const char *v, int *box)
{
    static const char *const names[] = {"ready", "scheduled", "dead"};
    for (int i = 0; i < 3; i++)
        if (strcmp(v, names[i]) == 0) {
            *box = i;
            return 0;
        }
    cli_error("outbox", "--box is ready, scheduled or dead, not '%s'", v);
    return -1;
}

static int parse_args(int argc, char **argv, args *a)
{
    a->box = -1;
    a->ids = calloc((size_t)argc, sizeof *a->ids);
    if (!a->ids)
        return EXIT_RUNTIME;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return 1;
        } else if (cli_state_opt(argc, argv, &i, &a->state)) {
            continue;
        } else if (cli_opt(argc, argv, &i, "--box", &v)) {
            if (parse_box(v, &a->box))
                return EXIT_USAGE;
        } else if (cli_flag(argv, i, "--follow")) {
            a->follow = 1;
        } else if (cli_flag(argv, i, "-q") || cli_flag(argv, i, "--quiet")) {
            a->quiet = 1;
        } else if (cli_flag(argv, i, "--show-numbers")) {
            a->show_numbers = 1;
        } else if (cli_flag(argv, i, "--body")) {
            a->body = 1;
        } else if (cli_flag(argv, i, "--all")) {
            a->all = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("outbox", "unknown option '%s' (see fanzha outbox --help)", argv[i]);
            return EXIT_USAGE;
        } else if (!a->verb) {
            a->verb = argv[i];
        } else {
            a->ids[a->n_ids++] = argv[i];
        }
    }
    return 0;
}

/* --- status and list ------------------------------------------------------------------- */

static int do_status(fz_outbox *o, fz_store *s)
{
    fz_outbox_depth d;
    fz_error err;
    if (fz_outbox_depth_get(o, &d, &err)) {
        cli_error("outbox", "%s", err.message);
        return EXIT_RUNTIME;
    }
    printf("{\"ready\":%llu,\"scheduled\":%llu,\"dead\":%llu,\"spooled\":%llu,\"store\":\"%s\"}\n",
           (unsigned long long)d.ready, (unsigned long long)d.scheduled, (unsigned long long)d.dead,
           (unsigned long long)d.spooled, fz_store_describe(s));
    return 0;
}

typedef struct lister {
    const args *a;
    fz_gateway *g;          /* for --body */
    size_t n;
} lister;

static int print_warning(void *ud, const fz_warning *w)
{
    lister *l = ud;
    char body[4096];
    /* The body shows the recipient as the gateway gets it: masked too,
     * unless --show-numbers. */
    fz_warning shown = *w;
    if (!l->a->show_numbers)
        fz_number_mask(w->to, shown.to);
    int has_body = l->g && fz_gateway_render_body(l->g, &shown, body, sizeof body) == 0;
    fz_buf json = FZ_BUF_INIT;
    if (fz_warning_json(w, !l->a->show_numbers, has_body ? body : NULL, &json) == 0)
        printf("%.*s\n", (int)json.len, json.data);
    fz_buf_free(&json);
    l->n++;
    return 0;
}

static int open_gateway(args *a, fz_gateway **g)
{
    const fz_gateway_options *go = cli_state_gateway("outbox", &a->state);
    fz_error err;
    if (!go)
        return EXIT_USAGE;
    if (fz_gateway_open(go, g, &err)) {
        cli_error("outbox", "gateway: %s", err.message);
        return EXIT_USAGE;
    }
    return 0;
}

static int do_list(fz_outbox *o, args *a)
{
    lister l = {a, NULL, 0};
    if (a->body && open_gateway(a, &l.g))
        return EXIT_USAGE;
    fz_error err;
    int rc = fz_outbox_list(o, a->box < 0 ? FZ_BOX_READY : (fz_box)a->box, print_warning, &l, &err);
    fz_gateway_close(l.g);
    if (rc) {
        cli_error("outbox", "%s", err.message);
        return EXIT_RUNTIME;
    }
    fprintf(stderr, "fanzha outbox: %zu warnings\n", l.n);
    return 0;
}

/* --- deliver --------------------------------------------------------------------------- */

static void on_attempt(void *ud, const fz_warning *w, const fz_delivery *d)
{
    const args *a = ud;
    if (a->quiet || d->result == FZ_DELIVERED)
        return;
    char to[24];
    fz_number_mask(w->to, to);
    fprintf(stderr, "fanzha outbox: %s to %s, attempt %d: %s%s\n", w->id, to, w->attempts, d->error,
            d->result == FZ_DEAD ? " (dead letter)" : "");
}

static int do_deliver(fz_outbox *o, args *a)
{
    fz_gateway *g;
    int rc = open_gateway(a, &g);
    if (rc)
        return rc;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fz_deliver_options opt = {.follow = a->follow, .should_stop = should_stop, .on_attempt = on_attempt,
                              .on_attempt_ud = a};
    fz_deliver_stats st;
    fz_error err;
    rc = fz_outbox_deliver(o, g, &opt, &st, &err);
    fz_gateway_close(g);
    fprintf(stderr,
            "fanzha outbox: %llu attempts: %llu delivered, %llu to retry, %llu dead; %llu store errors; "
            "%.3f s, %.0f warnings/s\n",
            (unsigned long long)st.attempts, (unsigned long long)st.delivered, (unsigned long long)st.retried,
            (unsigned long long)st.dead, (unsigned long long)st.store_errors, st.seconds,
            st.seconds > 0 ? (double)st.delivered / st.seconds : 0.0);
    if (st.store_errors)
        fprintf(stderr, "fanzha outbox: the last store error: %s\n", st.last_store_error);
    if (rc) {
        cli_error("outbox", "%s", err.message);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* --- replay and purge ------------------------------------------------------------------- */

static int do_replay_or_purge(fz_outbox *o, const args *a, int purge)
{
    if (purge && a->box < 0) {
        cli_error("outbox", "purge needs --box ready|scheduled|dead");
        return EXIT_USAGE;
    }
    if (purge && !a->all && a->n_ids == 0) {
        cli_error("outbox", "purge needs the ids to delete, or --all");
        return EXIT_USAGE;
    }
    size_t n = 0;
    fz_error err;
    int rc = purge ? fz_outbox_purge(o, (fz_box)a->box, a->ids, a->n_ids, &n, &err)
                   : fz_outbox_replay(o, a->ids, a->n_ids, &n, &err);
    if (rc) {
        cli_error("outbox", "%s", err.message);
        return EXIT_RUNTIME;
    }
    fprintf(stderr, "fanzha outbox: %zu warnings %s\n", n, purge ? "deleted" : "back in the queue");
    return a->n_ids && n < a->n_ids ? 1 : 0;
}

int cmd_outbox(int argc, char **argv)
{
    args a = {0};
    int rc = parse_args(argc, argv, &a);
    fz_store *s = NULL;
    fz_outbox *o = NULL;
    fz_error err;
    const char *verb = a.verb ? a.verb : "status";
    static const char *const verbs[] = {"status", "list", "deliver", "replay", "purge", NULL};
    int known = 0;
    for (int i = 0; verbs[i]; i++)
        known |= strcmp(verb, verbs[i]) == 0;
    if (rc) {
        rc = rc == 1 ? 0 : rc;
    } else if (!known) {
        cli_error("outbox", "unknown action '%s': status, list, deliver, replay or purge", verb);
        rc = EXIT_USAGE;
    } else if (a.n_ids && strcmp(verb, "replay") && strcmp(verb, "purge")) {
        cli_error("outbox", "unexpected argument '%s'", a.ids[0]);
        rc = EXIT_USAGE;
    } else if ((rc = cli_state_open("outbox", &a.state, &s)) != 0) {
        /* rc: EXIT_USAGE (the configuration file) or EXIT_RUNTIME */
    } else if (fz_outbox_open(s, &o, &err)) {
        cli_error("outbox", "%s", err.message);
        rc = EXIT_RUNTIME;
    } else if (strcmp(verb, "status") == 0) {
        rc = do_status(o, s);
    } else if (strcmp(verb, "list") == 0) {
        rc = do_list(o, &a);
    } else if (strcmp(verb, "deliver") == 0) {
        rc = do_deliver(o, &a);
    } else {
        rc = do_replay_or_purge(o, &a, strcmp(verb, "purge") == 0);
    }
    fz_outbox_close(o);
    fz_store_close(s);
    cli_state_free(&a.state);
    free(a.ids);
    return rc;
}
