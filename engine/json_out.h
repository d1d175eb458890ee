/* json_out.h — appending JSON values to a buffer: strings (escaped, with
 * invalid UTF-8 repaired), numbers, and raw JSON copied from input. */
#ifndef FZ_JSON_OUT_H
#define FZ_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "fanzha/buf.h"

/* Each returns 0 or FZ_ENOMEM. */
int fz_json_str(fz_buf *o, const char *s, size_t n);
int fz_json_num(fz_buf *o, double x);
int fz_json_uint(fz_buf *o, uint64_t x);
/* Copy raw JSON text (as cJSON accepted it) as it is, except that it is made
 * strict JSON on one line: invalid UTF-8 becomes U+FFFD, control characters
 * are escaped inside strings and become spaces outside them (tabs stay),
 * and numbers lose leading zeros and bare decimal points (01 -> 1,
 * -.5 -> -0.5, 1. -> 1). */
int fz_json_raw(fz_buf *o, const char *s, size_t n);
/* For JSON that cJSON accepted: the offset where it departs from RFC 8259
 * (a raw control character inside a string, one outside strings that is
 * not JSON whitespace, a number such as 01, -.5 or 1.), or n when it does
 * not. */
size_t fz_json_lax_at(const char *s, size_t n);
/* The offset of the first \u escape in s that is not followed by four hex
 * digits, or n. cJSON decodes such an escape as U+0000, which ends the
 * string it is in (its parse_hex4 returns 0 for a bad digit): a line with
 * one must be refused before its strings are used. Backslashes are taken
 * to be inside strings (run it on JSON that cJSON accepted). With nul,
 * *nul says whether a \u0000 escape was seen on the way (the same pass). */
size_t fz_json_bad_u_escape_at(const char *s, size_t n, int *nul);

#endif
