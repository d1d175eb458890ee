/* ydoc.c — libyaml documents with positions and typed reads (see ydoc.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ydoc.h"

int fz_ydoc_load(fz_ydoc *d, const char *file, const char *data, size_t len, fz_diags *diags, fz_arena *arena)
{
    memset(d, 0, sizeof *d);
    d->file = file;
    d->diags = diags;
    d->arena = arena;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, file, 0, 0, NULL, "cannot initialize the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    int ok = yaml_parser_load(&p, &d->doc);
    if (!ok) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, file, (int)p.problem_mark.line + 1, (int)p.problem_mark.column + 1,
                     NULL, "YAML syntax error: %s%s%s", p.problem ? p.problem : "unknown problem",
                     p.context ? " " : "", p.context ? p.context : "");
        yaml_parser_delete(&p);
        return -1;
    }
    d->loaded = 1;
    yaml_document_t extra;
    if (yaml_parser_load(&p, &extra)) {
        yaml_node_t *root = yaml_document_get_root_node(&extra);
        if (root)
            fz_diag_emit(diags, FZ_DIAG_ERROR, file, (int)root->start_mark.line + 1,
                         (int)root->start_mark.column + 1, NULL, "only one YAML document per file");
        yaml_document_delete(&extra);
    }
    yaml_parser_delete(&p);
    if (!yaml_document_get_root_node(&d->doc)) {
        fz_diag_emit(diags, FZ_DIAG_ERROR, file, 1, 1, NULL, "the file is empty");
        return -1;
    }
    return 0;
}

void fz_ydoc_free(fz_ydoc *d)
{
    if (d->loaded)
        yaml_document_delete(&d->doc);
    d->loaded = 0;
}

yaml_node_t *fz_ydoc_root(fz_ydoc *d)
{
    return yaml_document_get_root_node(&d->doc);
}

yaml_node_t *fz_ydoc_node(fz_ydoc *d, int index)
{
    return yaml_document_get_node(&d->doc, index);
}

int fz_ynode_line(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }
int fz_ynode_col(const yaml_node_t *n) { return n ? (int)n->start_mark.column + 1 : 0; }
int fz_ynode_is(const yaml_node_t *n, yaml_node_type_t t) { return n && n->type == t; }

static void vreport(fz_ydoc *d, fz_diag_level lvl, const yaml_node_t *n, const char *rule, const char *fmt, va_list ap)
{
    char msg[640];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fz_diag_emit(d->diags, lvl, d->file, fz_ynode_line(n), fz_ynode_col(n), rule, "%s", msg);
}

void fz_ydoc_error(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(d, FZ_DIAG_ERROR, n, rule, fmt, ap);
    va_end(ap);
}

void fz_ydoc_warn(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(d, FZ_DIAG_WARNING, n, rule, fmt, ap);
    va_end(ap);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int fz_ydoc_check_keys(fz_ydoc *d, const yaml_node_t *map, const char *const *allowed, const char *rule, const char *what)
{
    if (!fz_ynode_is(map, YAML_MAPPING_NODE)) {
        fz_ydoc_error(d, map, rule, "%s must be a mapping", what);
        return 1;
    }
    int bad = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = fz_ydoc_node(d, p->key);
        const char *key = scalar(k);
        if (!key) {
            fz_ydoc_error(d, k, rule, "keys of %s must be plain strings", what);
            bad++;
            continue;
        }
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                known = 1;
        if (!known) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
            fz_ydoc_error(d, k, rule, "unknown key '%s' in %s (allowed: %s)", key, what, list);
            bad++;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *earlier = scalar(fz_ydoc_node(d, q->key));
            if (earlier && strcmp(earlier, key) == 0) {
                fz_ydoc_error(d, k, rule, "key '%s' appears twice in %s", key, what);
                bad++;
                break;
            }
        }
    }
    return bad;
}

yaml_node_t *fz_ydoc_get(fz_ydoc *d, const yaml_node_t *map, const char *key)
{
    if (!fz_ynode_is(map, YAML_MAPPING_NODE))
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(fz_ydoc_node(d, p->key));
        if (k && strcmp(k, key) == 0)
            return fz_ydoc_node(d, p->value);
    }
    return NULL;
}

int fz_ydoc_string(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *what, char **out)
{
    const char *s = scalar(n);
    if (!s) {
        fz_ydoc_error(d, n, rule, "%s must be a string", what);
        return -1;
    }
    *out = fz_arena_strndup(d->arena, s, n->data.scalar.length);
    return *out ? 0 : -1;
}

int fz_ydoc_number(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *what, double *out)
{
    const char *s = scalar(n);
    char *end = NULL;
    if (s) {
        errno = 0;
        *out = strtod(s, &end);
    }
    if (!s || end == s || *end != '\0' || errno || !isfinite(*out) ||
        (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)) {
        fz_ydoc_error(d, n, rule, "%s must be a number, not '%s'", what, s ? s : "(a list or mapping)");
        return -1;
    }
    return 0;
}

int fz_ydoc_bool(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *what, int *out)
{
    const char *s = scalar(n);
    if (s && strcmp(s, "true") == 0) { *out = 1; return 0; }
    if (s && strcmp(s, "false") == 0) { *out = 0; return 0; }
    fz_ydoc_error(d, n, rule, "%s must be true or false", what);
    return -1;
}

int fz_ydoc_strings(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *what,
                    char ***out, yaml_node_t ***nodes, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (nodes)
        *nodes = NULL;
    if (fz_ynode_is(n, YAML_SCALAR_NODE)) {
        char **list = fz_arena_alloc(d->arena, sizeof *list);
        yaml_node_t **nl = fz_arena_alloc(d->arena, sizeof *nl);
        if (!list || !nl || fz_ydoc_string(d, n, rule, what, &list[0]))
            return -1;
        nl[0] = (yaml_node_t *)n;
        *out = list;
        if (nodes)
            *nodes = nl;
        *count = 1;
        return 0;
    }
    if (!fz_ynode_is(n, YAML_SEQUENCE_NODE)) {
        fz_ydoc_error(d, n, rule, "%s must be a string or a list of strings", what);
        return -1;
    }
    size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    char **list = fz_arena_alloc(d->arena, (k ? k : 1) * sizeof *list);
    yaml_node_t **nl = fz_arena_alloc(d->arena, (k ? k : 1) * sizeof *nl);
    if (!list || !nl)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        yaml_node_t *item = fz_ydoc_node(d, n->data.sequence.items.start[i]);
        nl[i] = item;
        if (fz_ydoc_string(d, item, rule, what, &list[i]))
            rc = -1;
    }
    *out = list;
    if (nodes)
        *nodes = nl;
    *count = k;
    return rc;
}
