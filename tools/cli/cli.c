/* cli.c — helpers shared by the subcommands (see cli.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "fanzha: option %s needs a value\n", name);
        exit(EXIT_USAGE);
    }
    *value = argv[++*i];
    return 1;
}

int cli_flag(char **argv, int i, const char *name)
{
    return strcmp(argv[i], name) == 0;
}

int cli_uint(const char *name, const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "fanzha: %s expects a whole number, not '%s'\n", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

const char *cli_default_cache(void)
{
    static char path[4096];
    const char *env = getenv("FANZHA_CACHE");
    if (env)
        return *env ? env : NULL;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/fanzha", xdg);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.cache/fanzha", home);
    else
        return NULL;
    return path;
}

typedef struct {
    fz_diag_level level;
    int errors_printed;
} diag_ctx;

/* Errors print as "file:line:col: rule 'id': what"; warnings and notes say
 * what they are after the position, as compilers do. */
static void print_diag(void *ud, const fz_diag *d)
{
    diag_ctx *c = ud;
    if (d->level > c->level)
        return;
    char line[1200];
    c->errors_printed += d->level == FZ_DIAG_ERROR;
    fz_diag_format(d, line, sizeof line);
    fprintf(stderr, "%s\n", line);
}

int cli_load_engine(const char *rules_dir, const char *cache_dir, fz_diag_level level, fz_engine **out)
{
    diag_ctx ctx = {level, 0};
    fz_engine_config cfg = {rules_dir, cache_dir, print_diag, &ctx};
    fz_error err;
    int rc = fz_engine_new(&cfg, out, &err);
    if (rc && ctx.errors_printed == 0)
        fprintf(stderr, "fanzha: %s\n", err.message);
    return rc;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fanzha %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void service_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

void cli_block_signals(void)
{
    sigset_t set;
    service_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int cli_next_signal(void)
{
    sigset_t set;
    service_signals(&set);
    int sig;
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}

const char *cli_redis_url(const char *url)
{
    if (url)
        return *url ? url : NULL;
    const char *env = getenv("FANZHA_REDIS");
    return env && *env ? env : NULL;
}

int cli_require_redis(const char *cmd, const char *url, const char *what)
{
    if (cli_redis_url(url))
        return 1;
    cli_error(cmd, "%s are kept in Redis: give --redis URL or set FANZHA_REDIS", what);
    return 0;
}

int cli_open_store(const char *cmd, const char *url, fz_store **out)
{
    fz_store_options o = {cli_redis_url(url), NULL, 0, 0};
    fz_error err;
    int rc = fz_store_open(&o, out, &err);
    if (rc)
        cli_error(cmd, "%s", err.message);
    return rc;
}

int cli_state_opt(int argc, char **argv, int *i, cli_state *s)
{
    const char *v;
    if (cli_opt(argc, argv, i, "--redis", &v))
        s->redis = v;
    else if (cli_opt(argc, argv, i, "--state-dir", &v))
        s->state_dir = v;
    else if (cli_opt(argc, argv, i, "--config", &v))
        s->config_path = v;
    else
        return 0;
    return 1;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static const char *default_state_dir(void)
{
    static char path[4096];
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/fanzha", xdg);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.local/state/fanzha", home);
    else
        return NULL;
    return path;
}

int cli_state_open(const char *cmd, cli_state *s, fz_store **out)
{
    fz_error err;
    const char *path = s->config_path ? s->config_path : env_or("FANZHA_CONFIG", NULL);
    int crc;
    if (path && !s->config && (crc = fz_config_load(path, &s->config, &err))) {
        cli_error(cmd, "%s", err.message);
        /* A mistake in the file is the operator's, as a bad option is: exit 2;
         * a file that cannot be read is an I/O failure: exit 3. */
        return crc == FZ_EPARSE ? EXIT_USAGE : EXIT_RUNTIME;
    }
    const char *redis = s->redis ? s->redis : env_or("FANZHA_REDIS", fz_config_redis(s->config));
    const char *dir = s->state_dir ? s->state_dir
                                   : env_or("FANZHA_STATE_DIR", fz_config_state_dir(s->config) ? fz_config_state_dir(s->config)
                                                                                                 : default_state_dir());
    fz_store_options o = {redis && *redis ? redis : NULL, NULL, 0, 0};
    o.dir = dir;
    int rc = fz_store_open(&o, out, &err);
    if (rc) {
        cli_error(cmd, "%s", err.message);
        return EXIT_RUNTIME;
    }
    return 0;
}

const fz_gateway_options *cli_state_gateway(const char *cmd, const cli_state *s)
{
    const fz_gateway_options *g = fz_config_gateway(s->config);
    if (!g)
        cli_error(cmd, "no gateway configured: give --config FILE (or set FANZHA_CONFIG) with a 'gateway:' "
                       "section (see README, \"Warning residents\")");
    return g;
}

void cli_state_free(cli_state *s)
{
    fz_config_free(s->config);
    s->config = NULL;
}

static void print_bad_report(void *ud, uint64_t line, const char *why)
{
    (void)ud;
    fz_buf o = {0};
    if (fz_error_record(&o, line, why) == 0)
        fputs(o.data, stderr);
    fz_buf_free(&o);
}

/* The library records a buffer of lines; feed it 1,000 lines at a time. */
int cli_ingest_reports(const char *cmd, fz_store *s, const char *path, double half_life_days, size_t *ok,
                       size_t *bad)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        cli_error(cmd, "cannot open %s: %s", path, strerror(errno));
        return FZ_EIO;
    }
    fz_buf chunk = {0};
    char *line = NULL;
    size_t cap = 0, lines = 0;
    uint64_t first = 1;
    ssize_t len;
    int rc = 0, at_end = 0;
    *ok = *bad = 0;
    while (!rc && !at_end) {
        at_end = (len = getline(&line, &cap, f)) < 0;
        if (!at_end && (rc = fz_buf_append(&chunk, line, (size_t)len)))
            break;
        if (!at_end && ++lines < 1000)
            continue;
        size_t k = 0, b = 0;
        fz_error err;
        rc = fz_reports_ingest(s, chunk.data, chunk.len, first, half_life_days, print_bad_report, NULL, &k, &b, &err);
        if (rc)
            cli_error(cmd, "%s", err.message);
        *ok += k;
        *bad += b;
        first += lines;
        lines = 0;
        fz_buf_clear(&chunk);
    }
    fz_buf_free(&chunk);
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}
