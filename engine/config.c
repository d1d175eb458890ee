/* config.c — reading the operator's configuration file (fanzha/config.h).
 *
 * The file is read with the rule packs' YAML reader (ydoc.c), so a mistake
 * is reported the same way: file:line:col and what is wrong. Every string
 * is copied into the config's arena and lives as long as it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "diag.h"
#include "fanzha/config.h"
#include "ydoc.h"

struct fz_config {
    fz_arena arena;
    char *redis, *state_dir;
    int has_gateway;
    fz_gateway_options gateway;
    fz_serve_settings serve;
    int serve_warn, serve_deliver;      /* -1: not set */
};

static int read_file(const char *path, char **data, size_t *len, fz_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fz_error_set(err, FZ_EIO, "cannot read %s", path);
    enum { MAX = 1 << 20 };
    char *buf = malloc(MAX + 1);
    size_t n = buf ? fread(buf, 1, MAX + 1, f) : 0;
    int failed = buf && ferror(f);
    fclose(f);
    if (!buf)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    if (failed || n > MAX) {
        free(buf);
        return fz_error_set(err, failed ? FZ_EIO : FZ_ETOOBIG, failed ? "cannot read %s" : "%s is larger than 1 MiB",
                            path);
    }
    *data = buf;
    *len = n;
    return 0;
}

/* An optional integer >= 0 of section.key into *out (left alone when absent). */
static int section_int(fz_ydoc *d, yaml_node_t *map, const char *section, const char *key, long *out)
{
    yaml_node_t *v = fz_ydoc_get(d, map, key);
    double x;
    if (!v)
        return 0;
    char what[64];
    snprintf(what, sizeof what, "%s.%s", section, key);
    if (fz_ydoc_number(d, v, NULL, what, &x))
        return 1;
    if (x < 0 || x > 1e12 || x != (double)(long)x) {
        fz_ydoc_error(d, v, NULL, "%s must be a whole number >= 0", what);
        return 1;
    }
    *out = (long)x;
    return 0;
}

static int int_key(fz_ydoc *d, yaml_node_t *map, const char *key, long *out)
{
    return section_int(d, map, "gateway", key, out);
}

static int string_key(fz_ydoc *d, yaml_node_t *map, const char *key, const char **out)
{
    yaml_node_t *v = fz_ydoc_get(d, map, key);
    char *s;
    if (!v)
        return 0;
    if (fz_ydoc_string(d, v, NULL, key, &s))
        return 1;
    *out = s;
    return 0;
}

static int parse_gateway(fz_config *c, fz_ydoc *d, yaml_node_t *g)
{
    static const char *const keys[] = {"url",        "method",      "headers",       "body",
                                       "ca_file",    "timeout_ms",  "connect_timeout_ms",
                                       "concurrency", "max_attempts", "backoff_base_ms",
                                       "backoff_max_ms", "retry_after_max_s", NULL};
    fz_gateway_options *o = &c->gateway;
    int bad = fz_ydoc_check_keys(d, g, keys, NULL, "gateway");
    long concurrency = 0, attempts = 0;
    bad += string_key(d, g, "url", &o->url) + string_key(d, g, "method", &o->method) +
           string_key(d, g, "body", &o->body) + string_key(d, g, "ca_file", &o->ca_file);
    bad += int_key(d, g, "timeout_ms", &o->timeout_ms) + int_key(d, g, "connect_timeout_ms", &o->connect_timeout_ms) +
           int_key(d, g, "concurrency", &concurrency) + int_key(d, g, "max_attempts", &attempts) +
           int_key(d, g, "backoff_base_ms", &o->backoff_base_ms) + int_key(d, g, "backoff_max_ms", &o->backoff_max_ms) +
           int_key(d, g, "retry_after_max_s", &o->retry_after_max_s);
    o->concurrency = concurrency > 100000 ? 100000 : (int)concurrency;
    o->max_attempts = attempts > 1000000 ? 1000000 : (int)attempts;
    yaml_node_t *h = fz_ydoc_get(d, g, "headers");
    if (h && fz_ydoc_strings(d, h, NULL, "gateway.headers", (char ***)&o->headers, NULL, &o->n_headers))
        bad++;
    if (!o->url) {
        fz_ydoc_error(d, g, NULL, "gateway needs a 'url'");
        bad++;
    }
    c->has_gateway = 1;
    return bad;
}

static int bool_key(fz_ydoc *d, yaml_node_t *map, const char *key, int *out)
{
    yaml_node_t *v = fz_ydoc_get(d, map, key);
    char what[64];
    snprintf(what, sizeof what, "serve.%s", key);
    return v ? fz_ydoc_bool(d, v, NULL, what, out) != 0 : 0;
}

static int parse_serve(fz_config *c, fz_ydoc *d, yaml_node_t *m)
{
    static const char *const keys[] = {"listen", "threads", "max_connections", "connection_timeout_s", "max_body",
                                       "max_batch_body", "max_record", "tokens_file", "drain_timeout_s",
                                       "metrics_public", "warn", "deliver", NULL};
    fz_serve_settings *o = &c->serve;
    long v[7] = {0};
    int bad = fz_ydoc_check_keys(d, m, keys, NULL, "serve");
    bad += string_key(d, m, "listen", &o->listen) + string_key(d, m, "tokens_file", &o->tokens_file);
    bad += section_int(d, m, "serve", "threads", &v[0]) + section_int(d, m, "serve", "max_connections", &v[1]) +
           section_int(d, m, "serve", "connection_timeout_s", &v[2]) + section_int(d, m, "serve", "max_body", &v[3]) +
           section_int(d, m, "serve", "max_batch_body", &v[4]) + section_int(d, m, "serve", "max_record", &v[5]) +
           section_int(d, m, "serve", "drain_timeout_s", &v[6]);
    bad += bool_key(d, m, "metrics_public", &o->metrics_public) + bool_key(d, m, "warn", &c->serve_warn) +
           bool_key(d, m, "deliver", &c->serve_deliver);
    o->threads = v[0] > 1024 ? 1024 : (int)v[0];
    o->max_connections = v[1] > 1000000 ? 1000000 : (unsigned)v[1];
    o->connection_timeout_s = v[2] > 86400 ? 86400 : (unsigned)v[2];
    o->max_body = (size_t)v[3];
    o->max_batch_body = (size_t)v[4];
    o->max_record = (size_t)v[5];
    o->drain_timeout_s = v[6] > 3600 ? 3600 : (unsigned)v[6];
    return bad;
}

/* Only the first error is kept (in the diags); nothing to print. */
static void keep_first(void *ud, const fz_diag *dg)
{
    (void)ud;
    (void)dg;
}

int fz_config_load(const char *path, fz_config **out, fz_error *err)
{
    static const char *const keys[] = {"redis", "state_dir", "gateway", "serve", NULL};
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(path, &data, &len, err);
    if (rc)
        return rc;
    fz_config *c = calloc(1, sizeof *c);
    if (!c) {
        free(data);
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    }
    fz_arena_init(&c->arena, 4096);
    c->serve_warn = c->serve_deliver = -1;
    fz_diags diags;
    fz_diags_init(&diags, keep_first, NULL);
    fz_ydoc d;
    int bad = fz_ydoc_load(&d, path, data, len, &diags, &c->arena) != 0;
    yaml_node_t *root = bad ? NULL : fz_ydoc_root(&d);
    if (root && !fz_ynode_is(root, YAML_MAPPING_NODE)) {
        fz_ydoc_error(&d, root, NULL, "a configuration file is a mapping (redis, state_dir, gateway, serve)");
        bad++;
    } else if (root) {
        bad += fz_ydoc_check_keys(&d, root, keys, NULL, "the configuration");
        bad += string_key(&d, root, "redis", (const char **)&c->redis);
        bad += string_key(&d, root, "state_dir", (const char **)&c->state_dir);
        yaml_node_t *g = fz_ydoc_get(&d, root, "gateway");
        if (g)
            bad += parse_gateway(c, &d, g);
        yaml_node_t *sv = fz_ydoc_get(&d, root, "serve");
        if (sv && !fz_ynode_is(sv, YAML_MAPPING_NODE)) {
            fz_ydoc_error(&d, sv, NULL, "serve is a mapping (listen, threads, tokens_file ...)");
            bad++;
        } else if (sv) {
            bad += parse_serve(c, &d, sv);
        }
    }
    fz_ydoc_free(&d);
    free(data);
    if (bad || diags.errors) {
        fz_error_set(err, FZ_EPARSE, "%s", diags.first.message[0] ? diags.first.message : "invalid configuration");
        fz_config_free(c);
        return FZ_EPARSE;
    }
    *out = c;
    return 0;
}

void fz_config_free(fz_config *c)
{
    if (!c)
        return;
    fz_arena_free(&c->arena);
    free(c);
}

const char *fz_config_redis(const fz_config *c)
{
    return c ? c->redis : NULL;
}

const char *fz_config_state_dir(const fz_config *c)
{
    return c ? c->state_dir : NULL;
}

const fz_gateway_options *fz_config_gateway(const fz_config *c)
{
    return c && c->has_gateway ? &c->gateway : NULL;
}

const fz_serve_settings *fz_config_serve(const fz_config *c)
{
    static const fz_serve_settings none;
    return c ? &c->serve : &none;
}

int fz_config_serve_switch(const fz_config *c, const char *name)
{
    if (!c)
        return -1;
    return strcmp(name, "warn") == 0 ? c->serve_warn : strcmp(name, "deliver") == 0 ? c->serve_deliver : -1;
}
