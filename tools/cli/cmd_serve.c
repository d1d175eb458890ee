/* cmd_serve.c — `fanzha serve`: the HTTP scoring API (fanzha/serve.h).
 *
 * Reads options, the configuration file's serve section and the tokens,
 * opens the store, the outbox and the gateway, starts the server and waits
 * for signals: SIGHUP reloads the rules (a broken pack is refused, the
 * running one stays), SIGTERM or SIGINT drains the requests in flight and
 * exits 0. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha serve [OPTIONS]\n\n"
    "Answer scoring requests over HTTP: POST /v1/check, /v1/check/batch (NDJSON),\n"
    "/v1/reports; PUT|GET|DELETE /v1/residents/{number}; GET /v1/campaigns;\n"
    "POST /v1/rules/reload; GET /healthz, /readyz, /metrics. Every request but\n"
    "/healthz and /readyz needs \"Authorization: Bearer TOKEN\"; residents and\n"
    "reload need an admin token. See README, \"Running in production\".\n\n"
    "options:\n"
    "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0: any free one)\n"
    "  --threads N         request threads (default: one per core)\n"
    "  --tokens FILE       API tokens: lines 'TOKEN' (client) or 'admin TOKEN'; also\n"
    "                      $FANZHA_API_TOKENS and $FANZHA_ADMIN_TOKENS (comma-separated)\n"
    "  --rules DIR         rule pack directory (default: $FANZHA_RULES, else the built-in pack)\n"
    "  --cache DIR         compiled-database cache (default ~/.cache/fanzha); --no-cache to skip\n"
    CLI_STATE_HELP
    "  --no-warn           do not warn residents (default: warn when the pack has warnings.yaml)\n"
    "  --no-deliver        queue warnings but leave delivery to `fanzha outbox deliver --follow`\n"
    "  --max-body BYTES    largest body of /v1/check and residents (default 65536)\n"
    "  --max-batch-body BYTES  largest body of /v1/check/batch and /v1/reports (default 32 MiB)\n"
    "  --max-connections N connections at once (default 1024)\n"
    "  --drain-timeout S   on SIGTERM, wait this long for requests in flight (default 30)\n"
    "  --port-file FILE    write the port listened on to FILE once listening\n"
    "  -q, --quiet         no startup and shutdown lines\n\n"
    "The configuration file's serve: section sets the same (options win).\n";

typedef struct serve_args {
    const char *rules, *cache, *tokens_file, *port_file;
    cli_state state;
    fz_serve_settings set;
    int no_warn, no_deliver, quiet;
} serve_args;

static int size_opt(const char *name, const char *v, size_t *out)
{
    unsigned long n;
    if (cli_uint(name, v, &n) || n == 0)
        return -1;
    *out = n;
    return 0;
}

/* 1: consumed; 0: not a serve option; -1: a bad value. */
static int serve_opt(int argc, char **argv, int *i, serve_args *a)
{
    const char *v;
    unsigned long n;
    if (cli_opt(argc, argv, i, "--listen", &v))
        a->set.listen = v;
    else if (cli_opt(argc, argv, i, "--threads", &v))
        return cli_uint("--threads", v, &n) || n > 1024 ? -1 : (a->set.threads = (int)n, 1);
    else if (cli_opt(argc, argv, i, "--tokens", &v))
        a->tokens_file = v;
    else if (cli_opt(argc, argv, i, "--max-body", &v))
        return size_opt("--max-body", v, &a->set.max_body) ? -1 : 1;
    else if (cli_opt(argc, argv, i, "--max-batch-body", &v))
        return size_opt("--max-batch-body", v, &a->set.max_batch_body) ? -1 : 1;
    else if (cli_opt(argc, argv, i, "--max-connections", &v))
        return cli_uint("--max-connections", v, &n) || !n ? -1 : (a->set.max_connections = (unsigned)n, 1);
    else if (cli_opt(argc, argv, i, "--drain-timeout", &v))
        return cli_uint("--drain-timeout", v, &n) ? -1 : (a->set.drain_timeout_s = (unsigned)n, 1);
    else if (cli_opt(argc, argv, i, "--port-file", &v))
        a->port_file = v;
    else
        return 0;
    return 1;
}

static int parse_args(int argc, char **argv, serve_args *a)
{
    const char *v;
    a->cache = cli_default_cache();
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return 0;
        } else if ((r = serve_opt(argc, argv, &i, a)) != 0) {
            if (r < 0)
                return EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--rules", &v)) {
            a->rules = v;
        } else if (cli_opt(argc, argv, &i, "--cache", &v)) {
            a->cache = v;
        } else if (cli_flag(argv, i, "--no-cache")) {
            a->cache = NULL;
        } else if (cli_state_opt(argc, argv, &i, &a->state)) {
            continue;
        } else if (cli_flag(argv, i, "--no-warn")) {
            a->no_warn = 1;
        } else if (cli_flag(argv, i, "--no-deliver")) {
            a->no_deliver = 1;
        } else if (cli_flag(argv, i, "-q") || cli_flag(argv, i, "--quiet")) {
            a->quiet = 1;
        } else {
            cli_error("serve", "unknown option '%s' (see fanzha serve --help)", argv[i]);
            return EXIT_USAGE;
        }
    }
    return -1;
}

/* Options win over the file's serve section, field by field. */
static void merge_settings(serve_args *a)
{
    const fz_serve_settings *f = fz_config_serve(a->state.config);
    fz_serve_settings *s = &a->set;
    if (!s->listen)
        s->listen = f->listen;
    if (!s->threads)
        s->threads = f->threads;
    if (!s->max_connections)
        s->max_connections = f->max_connections;
    if (!s->max_body)
        s->max_body = f->max_body;
    if (!s->max_batch_body)
        s->max_batch_body = f->max_batch_body;
    if (!s->drain_timeout_s)
        s->drain_timeout_s = f->drain_timeout_s;
    s->connection_timeout_s = f->connection_timeout_s;
    s->max_record = f->max_record;
    s->metrics_public = f->metrics_public;
    if (!a->tokens_file)
        a->tokens_file = f->tokens_file;
    if (fz_config_serve_switch(a->state.config, "warn") == 0)
        a->no_warn = 1;
    if (fz_config_serve_switch(a->state.config, "deliver") == 0)
        a->no_deliver = 1;
}

typedef struct tokens {
    char **client, **admin;
    size_t n_client, n_admin;
} tokens;

static int load_tokens(const serve_args *a, tokens *t)
{
    fz_error err;
    struct stat st;
    if (a->tokens_file && stat(a->tokens_file, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "fanzha serve: warning: %s can be read by others (chmod 600 it)\n", a->tokens_file);
    int rc = a->tokens_file ? fz_tokens_load(a->tokens_file, &t->client, &t->n_client, &t->admin, &t->n_admin, &err) : 0;
    if (!rc)
        rc = fz_tokens_split(getenv("FANZHA_API_TOKENS"), &t->client, &t->n_client, &err);
    if (!rc)
        rc = fz_tokens_split(getenv("FANZHA_ADMIN_TOKENS"), &t->admin, &t->n_admin, &err);
    if (rc)
        cli_error("serve", "%s", err.message);
    return rc;
}

typedef struct running {
    fz_store *store;
    fz_outbox *outbox;
    fz_gateway *gateway;
    fz_engine_slot *slot;
} running;

/* The outbox and the gateway, unless told otherwise. No gateway in the
 * configuration: warnings are queued for another deliverer. */
static int open_warnings(const serve_args *a, fz_engine *e, running *r)
{
    fz_error err;
    if (a->no_warn || !fz_engine_has_warnings(e))
        return 0;
    if (fz_outbox_open(r->store, &r->outbox, &err)) {
        cli_error("serve", "outbox: %s", err.message);
        return -1;
    }
    const fz_gateway_options *go = fz_config_gateway(a->state.config);
    if (a->no_deliver || !go) {
        if (!a->quiet && !a->no_deliver)
            fprintf(stderr, "fanzha serve: no gateway configured: warnings are queued for `fanzha outbox deliver`\n");
        return 0;
    }
    if (fz_gateway_open(go, &r->gateway, &err)) {
        cli_error("serve", "gateway: %s", err.message);
        return -1;
    }
    return 0;
}

static int write_port(const char *path, int port)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    return fclose(f);
}

/* Wait for signals: SIGHUP reloads; SIGTERM/SIGINT return. */
static void wait_signals(fz_server *srv, int quiet)
{
    for (;;) {
        int sig = cli_next_signal();
        if (sig != SIGHUP)
            break;
        fz_error err;
        fz_server_reload(srv, &err);
    }
    if (!quiet)
        fprintf(stderr, "fanzha serve: shutting down: draining requests in flight\n");
}

static int serve(serve_args *a, running *r, const tokens *t)
{
    fz_serve_options o = {0};
    o.settings = a->set;
    o.tokens = (const char *const *)t->client;
    o.n_tokens = t->n_client;
    o.admin_tokens = (const char *const *)t->admin;
    o.n_admin_tokens = t->n_admin;
    o.slot = r->slot;
    o.engine.rules_dir = a->rules;
    o.engine.cache_dir = a->cache;
    o.store = r->store;
    o.outbox = r->outbox;
    o.gateway = r->gateway;
    fz_server *srv;
    fz_error err;
    if (fz_server_start(&o, &srv, &err)) {
        cli_error("serve", "%s", err.message);
        return EXIT_RUNTIME;
    }
    if (a->port_file && write_port(a->port_file, fz_server_port(srv)))
        cli_error("serve", "cannot write %s: %s", a->port_file, strerror(errno));
    if (!a->quiet)
        fprintf(stderr, "fanzha serve: listening on port %d (%s state, warnings %s)\n", fz_server_port(srv),
                fz_store_describe(r->store), !r->outbox ? "off" : r->gateway ? "queued and delivered" : "queued");
    wait_signals(srv, a->quiet);
    fz_server_drain(srv);
    fz_scan_stats st;
    fz_server_stats(srv, &st);
    fz_server_stop(srv);
    if (!a->quiet)
        fprintf(stderr, "fanzha serve: stopped; scored %llu (allow %llu, suspect %llu, block %llu), errors %llu, "
                        "warnings queued %llu\n",
                (unsigned long long)st.verdicts, (unsigned long long)st.by_action[FZ_ALLOW],
                (unsigned long long)st.by_action[FZ_SUSPECT], (unsigned long long)st.by_action[FZ_BLOCK],
                (unsigned long long)st.errors, (unsigned long long)st.warnings_queued);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    serve_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    /* Signals are taken by sigwait in the main thread only: block them
     * before any thread starts. */
    cli_block_signals();
    signal(SIGPIPE, SIG_IGN);

    running r = {0};
    tokens t = {0};
    fz_engine *e = NULL;
    if ((rc = cli_state_open("serve", &a.state, &r.store)))
        goto done;
    merge_settings(&a);
    rc = EXIT_RUNTIME;
    if (load_tokens(&a, &t) || cli_load_engine(a.rules, a.cache, FZ_DIAG_ERROR, &e) || open_warnings(&a, e, &r))
        goto done;
    if (!(r.slot = fz_engine_slot_new(e)))
        goto done;
    e = NULL;
    rc = serve(&a, &r, &t);
done:
    fz_engine_release(e);
    fz_engine_slot_free(r.slot);
    fz_gateway_close(r.gateway);
    fz_outbox_close(r.outbox);
    fz_store_close(r.store);
    cli_state_free(&a.state);
    fz_tokens_free(t.client, t.n_client);
    fz_tokens_free(t.admin, t.n_admin);
    return rc;
}
