/* warnings.h — rendering warnings from rules/warnings.yaml (warnings.c). */
#ifndef FZ_WARNINGS_H
#define FZ_WARNINGS_H

#include <stddef.h>

#include "ruleset.h"

/* FZ_LANG_* of "zh" / "en", or -1. */
int fz_lang_index(const char *s);
const char *fz_role_name(int role);

/* The warning for a resident (role FZ_ROLE_RESIDENT, name = theirs) or a
 * guardian (name = the guardian's, empty; resident_name = whom the scam
 * reached), about category (a category id, "reported", or NULL), in lang.
 * 0; FZ_ENOENT when the pack has no template for it; FZ_ETOOBIG. */
int fz_warning_render(const fz_ruleset *rs, int lang, int role, const char *category, const char *name,
                      const char *resident_name, char *out, size_t cap);

#endif
