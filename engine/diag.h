/* diag.h — collecting errors and warnings about a rule pack.
 *
 * Loading and compiling a pack report every problem they find (not only the
 * first), each with file:line:col and the rule it concerns. The first error
 * is also kept as the fz_error that fz_engine_new returns. */
#ifndef FZ_DIAG_H
#define FZ_DIAG_H

#include "fanzha/engine.h"
#include "fanzha/error.h"

typedef struct fz_diags {
    fz_diag_fn fn;
    void *ud;
    int errors;
    int warnings;
    fz_error first;     /* the first error, formatted */
} fz_diags;

void fz_diags_init(fz_diags *d, fz_diag_fn fn, void *ud);
void fz_diag_emit(fz_diags *d, fz_diag_level level, const char *file, int line, int col,
                  const char *rule, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

#endif
