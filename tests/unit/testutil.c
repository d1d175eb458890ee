/* testutil.c — shared helpers for the cmocka unit tests (see testutil.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static fz_worker *g_worker;
static fz_verdict *g_verdict;
static char g_tmpdirs[64][256];
static int g_ntmp;

const char *tu_path(const char *rel)
{
    static char buf[4][4096];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 4096, "%s/%s", FZ_SOURCE_DIR, rel);
    return b;
}

fz_engine *tu_engine(const char *rules_dir)
{
    fz_engine_config cfg = {tu_path(rules_dir), NULL, NULL, NULL};
    fz_engine *e = NULL;
    fz_error err;
    int rc = fz_engine_new(&cfg, &e, &err);
    if (rc)
        fail_msg("engine from %s: %s", rules_dir, err.message);
    return e;
}

fz_engine *tu_engine_dir(const char *dir)
{
    fz_engine_config cfg = {dir, NULL, NULL, NULL};
    fz_engine *e = NULL;
    fz_error err;
    int rc = fz_engine_new(&cfg, &e, &err);
    if (rc)
        fail_msg("engine from %s: %s", dir, err.message);
    return e;
}

int tu_hit(const fz_verdict *v, const char *rule_id, fz_hit *out)
{
    size_t n = fz_verdict_hit_count(v);
    for (size_t i = 0; i < n; i++) {
        fz_hit h;
        assert_int_equal(fz_verdict_hit(v, i, &h), 0);
        if (strcmp(h.rule, rule_id) == 0) {
            if (out)
                *out = h;
            return 1;
        }
    }
    return 0;
}

static void collect(void *ud, const fz_diag *d)
{
    tu_diags *c = ud;
    if (d->level == FZ_DIAG_ERROR)
        c->errors++;
    if (c->n < 64)
        fz_diag_format(d, c->lines[c->n++], sizeof c->lines[0]);
}

int tu_engine_fails(const char *rules_dir, tu_diags *out)
{
    memset(out, 0, sizeof *out);
    fz_engine_config cfg = {rules_dir, NULL, collect, out};
    fz_engine *e = NULL;
    fz_error err;
    int rc = fz_engine_new(&cfg, &e, &err);
    if (rc == 0) {
        fz_engine_release(e);
        fail_msg("pack %s was expected to fail", rules_dir);
    }
    return rc;
}

int tu_engine_collect(const char *rules_dir, tu_diags *out, fz_engine **e)
{
    memset(out, 0, sizeof *out);
    fz_engine_config cfg = {rules_dir, NULL, collect, out};
    fz_error err;
    *e = NULL;
    return fz_engine_new(&cfg, e, &err);
}

int tu_diags_have(const tu_diags *d, const char *a, const char *b)
{
    for (int i = 0; i < d->n; i++)
        if (strstr(d->lines[i], a) && (!b || strstr(d->lines[i], b)))
            return 1;
    for (int i = 0; i < d->n; i++)
        fprintf(stderr, "  diag: %s\n", d->lines[i]);
    return 0;
}

static void write_file(const char *dir, const char *rel, const char *content)
{
    char path[512], sub[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(sub, sizeof sub, "%s", path);
    char *slash = strrchr(sub, '/');
    if (slash) {
        *slash = '\0';
        mkdir(sub, 0755);
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

const char *tu_pack(const char *first_path, ...)
{
    assert_true(g_ntmp < 64);
    char *dir = g_tmpdirs[g_ntmp++];
    snprintf(dir, 256, "/tmp/fanzha-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    va_list ap;
    va_start(ap, first_path);
    for (const char *p = first_path; p; p = va_arg(ap, const char *))
        write_file(dir, p, va_arg(ap, const char *));
    va_end(ap);
    return dir;
}

fz_verdict *tu_scan(fz_engine *e, const char *text, const char *from)
{
    if (!g_worker)
        assert_int_equal(fz_worker_new(&g_worker, NULL), 0);
    if (!g_verdict)
        assert_non_null(g_verdict = fz_verdict_new());
    fz_message m;
    memset(&m, 0, sizeof m);
    m.text.ptr = text;
    m.text.len = strlen(text);
    if (from) {
        m.from.ptr = from;
        m.from.len = strlen(from);
    }
    assert_int_equal(fz_engine_scan(e, g_worker, &m, g_verdict), 0);
    return g_verdict;
}

const char *tu_json(fz_verdict *v, const char *text, const char *from)
{
    static fz_buf out = FZ_BUF_INIT;
    fz_buf_clear(&out);
    fz_message m;
    memset(&m, 0, sizeof m);
    m.text.ptr = text;
    m.text.len = strlen(text);
    if (from) {
        m.from.ptr = from;
        m.from.len = strlen(from);
    }
    assert_int_equal(fz_verdict_write_json(v, &m, &out), 0);
    return out.data;
}

const char *tu_scan_json(fz_engine *e, const char *text, const char *from)
{
    return tu_json(tu_scan(e, text, from), text, from);
}

void tu_cleanup(void)
{
    fz_worker_free(g_worker);
    fz_verdict_free(g_verdict);
    g_worker = NULL;
    g_verdict = NULL;
    for (int i = 0; i < g_ntmp; i++) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdirs[i]);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", g_tmpdirs[i]);
    }
    g_ntmp = 0;
}
