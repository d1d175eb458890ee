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
/* Copy raw JSON text as it is, except that invalid UTF-8 becomes U+FFFD. */
int fz_json_raw(fz_buf *o, const char *s, size_t n);

#endif
