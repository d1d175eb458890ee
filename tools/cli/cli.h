/* cli.h — what the fanzha subcommands share: option parsing helpers,
 * loading an engine with its diagnostics printed, and error reporting. */
#ifndef FZ_CLI_H
#define FZ_CLI_H

#include <stdio.h>

#include "fanzha/fanzha.h"

typedef int (*fz_cmd_fn)(int argc, char **argv);

int cmd_scan(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_campaigns(int argc, char **argv);
int cmd_resident(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Exit codes: 0 success, 1 the job found a problem (rule errors, failed
 * examples), 2 usage errors, 3 runtime failures (I/O, memory). */
enum { EXIT_USAGE = 2, EXIT_RUNTIME = 3 };

/* 1 when argv[*i] is the option name (or --name=value); *value gets its
 * value (the next argument, which is consumed). Reports a missing value. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);
int cli_flag(char **argv, int i, const char *name);
/* Parse a non-negative integer option value, or print an error. */
int cli_uint(const char *name, const char *s, unsigned long *out);

/* The default database cache directory ($FANZHA_CACHE, else
 * $XDG_CACHE_HOME/fanzha, else ~/.cache/fanzha), or NULL. */
const char *cli_default_cache(void);

/* Build an engine; print its diagnostics at or above `level` to stderr. */
int cli_load_engine(const char *rules_dir, const char *cache_dir, fz_diag_level level, fz_engine **out);

/* Block SIGHUP, SIGTERM and SIGINT in the calling thread and every thread
 * it starts afterwards (call it first); a long-running command then takes
 * them one at a time with cli_next_signal. */
void cli_block_signals(void);
/* Wait for the next of those signals; returns it. */
int cli_next_signal(void);

void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where state lives, from the options every stateful command shares:
 * --redis URL, --state-dir DIR, --config FILE. Each wins over its
 * environment variable ($FANZHA_REDIS, $FANZHA_STATE_DIR, $FANZHA_CONFIG),
 * which wins over the configuration file; the state directory defaults to
 * $XDG_STATE_HOME/fanzha or ~/.local/state/fanzha. */
typedef struct cli_state {
    const char *redis, *state_dir, *config_path;
    fz_config *config;
} cli_state;

/* 1 when argv[*i] was one of the state options (consumed), else 0. */
int cli_state_opt(int argc, char **argv, int *i, cli_state *s);
/* Read the configuration file (if any) and open the store. 0, or prints why
 * not and returns the exit code: EXIT_USAGE for a mistake in the
 * configuration file, EXIT_RUNTIME when it cannot be read or the store
 * cannot be opened. */
int cli_state_open(const char *cmd, cli_state *s, fz_store **out);
/* The gateway of the configuration file, or NULL after printing why there is none. */
const fz_gateway_options *cli_state_gateway(const char *cmd, const cli_state *s);
void cli_state_free(cli_state *s);
/* The stream bus's Redis URL: bus if given, else the state's Redis (--redis,
 * $FANZHA_REDIS, the configuration file). 0, or prints why there is none and
 * returns the exit code (cmd_stream.c). */
int cli_bus_url(const char *cmd, cli_state *s, const char *bus, const char **url);
/* The help lines of the state options. */
#define CLI_STATE_HELP                                                                                             \
    "  --redis URL         shared state in Redis: redis://[:password@]host[:port][/db]\n"                          \
    "                      (default: $FANZHA_REDIS, else the config file's, else embedded)\n"                      \
    "  --state-dir DIR     the embedded store's directory: residents, reports, the warning\n"                      \
    "                      spool (default: $FANZHA_STATE_DIR, else ~/.local/state/fanzha)\n"                       \
    "  --config FILE       configuration file: redis, state_dir, gateway (default: $FANZHA_CONFIG)\n"

/* The store: Redis when url (or $FANZHA_REDIS) is set, else embedded
 * without a state directory (for measurements). */
int cli_open_store(const char *cmd, const char *url, fz_store **out);
/* Print why `cmd` needs Redis and return 0 when no URL is set (neither url
 * nor $FANZHA_REDIS); 1 when one is. */
int cli_require_redis(const char *cmd, const char *url, const char *what);
/* The Redis URL to use ($FANZHA_REDIS when url is NULL), or NULL. */
const char *cli_redis_url(const char *url);
/* Read reports (JSON Lines) from path ("-": stdin) into the store, in
 * batches. Prints errors for unreadable lines; 0 or a negative code. */
int cli_ingest_reports(const char *cmd, fz_store *s, const char *path, double half_life_days, size_t *ok,
                       size_t *bad);

#endif
