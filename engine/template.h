/* template.h — the template of a message: what stays the same across the
 * variants of one campaign (see template.c). */
#ifndef FZ_TEMPLATE_H
#define FZ_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "fanzha/buf.h"

/* Write the masked form of normalized text into `masked` (cleared first),
 * and the 128-bit hash of it and of `salt` (what else the verdict depends
 * on) as 32 hex digits into out. 0 or FZ_ENOMEM. */
int fz_template(const char *text, size_t len, const void *salt, size_t salt_len, fz_buf *masked, char out[33]);

#endif
