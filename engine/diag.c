/* diag.c — formatting and routing rule-pack diagnostics (see diag.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

void fz_diags_init(fz_diags *d, fz_diag_fn fn, void *ud)
{
    memset(d, 0, sizeof *d);
    d->fn = fn;
    d->ud = ud;
}

void fz_diag_format(const fz_diag *dg, char *out, size_t cap)
{
    size_t n = 0;
    if (dg->file && dg->line > 0)
        n = (size_t)snprintf(out, cap, "%s:%d:%d: ", dg->file, dg->line, dg->col);
    else if (dg->file)
        n = (size_t)snprintf(out, cap, "%s: ", dg->file);
    if (n < cap && dg->level != FZ_DIAG_ERROR)
        n += (size_t)snprintf(out + n, cap - n, "%s: ", dg->level == FZ_DIAG_WARNING ? "warning" : "note");
    if (n < cap && dg->rule)
        n += (size_t)snprintf(out + n, cap - n, "rule '%s': ", dg->rule);
    if (n < cap)
        snprintf(out + n, cap - n, "%s", dg->message);
}

void fz_diag_emit(fz_diags *d, fz_diag_level level, const char *file, int line, int col,
                  const char *rule, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fz_diag dg = {level, file, line, col, rule, msg};
    if (level == FZ_DIAG_ERROR) {
        if (d->errors++ == 0) {
            d->first.code = FZ_ERULES;
            fz_diag_format(&dg, d->first.message, sizeof d->first.message);
        }
    } else if (level == FZ_DIAG_WARNING) {
        d->warnings++;
    }
    if (d->fn)
        d->fn(d->ud, &dg);
}
