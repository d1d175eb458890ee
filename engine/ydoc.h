/* ydoc.h — reading YAML documents with positions, for the rule-pack loaders.
 *
 * Wraps libyaml's document API: load a whole file, walk mappings and
 * sequences, read typed scalars, and report mistakes (unknown or duplicate
 * keys, wrong types) at the line and column where they are written. */
#ifndef FZ_YDOC_H
#define FZ_YDOC_H

#include <stddef.h>
#include <yaml.h>

#include "arena.h"
#include "diag.h"

typedef struct fz_ydoc {
    yaml_document_t doc;
    const char *file;
    int loaded;
    fz_diags *diags;
    fz_arena *arena;        /* where strings read from the document are copied */
} fz_ydoc;

/* Parse data as one YAML document. 0, or -1 after reporting the syntax error. */
int fz_ydoc_load(fz_ydoc *d, const char *file, const char *data, size_t len, fz_diags *diags, fz_arena *arena);
void fz_ydoc_free(fz_ydoc *d);

yaml_node_t *fz_ydoc_root(fz_ydoc *d);
yaml_node_t *fz_ydoc_node(fz_ydoc *d, int index);
int fz_ynode_line(const yaml_node_t *n);
int fz_ynode_col(const yaml_node_t *n);
int fz_ynode_is(const yaml_node_t *n, yaml_node_type_t t);

/* Report an error at node n (rule may be NULL). */
void fz_ydoc_error(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fz_ydoc_warn(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Check that map is a mapping whose keys are all in allowed (NULL-terminated)
 * and appear once. Reports each offence; returns the number of them. */
int fz_ydoc_check_keys(fz_ydoc *d, const yaml_node_t *map, const char *const *allowed, const char *rule, const char *what);
/* The value node of key in map, or NULL. */
yaml_node_t *fz_ydoc_get(fz_ydoc *d, const yaml_node_t *map, const char *key);

/* Typed reads: each returns 0, or -1 after reporting what is wrong. */
int fz_ydoc_string(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *what, char **out);
int fz_ydoc_number(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *what, double *out);
int fz_ydoc_bool(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *what, int *out);
/* A scalar or a sequence of scalars, as a list of strings; nodes (optional)
 * receives the node of each item, for positions. */
int fz_ydoc_strings(fz_ydoc *d, const yaml_node_t *n, const char *rule, const char *what,
                    char ***out, yaml_node_t ***nodes, size_t *count);

#endif
