/* normalize_internal.h — normalizer helpers shared with other engine stages. */
#ifndef FZ_NORMALIZE_INTERNAL_H
#define FZ_NORMALIZE_INTERNAL_H

#include <stdint.h>

/* Build the per-code-point tables (once per process). 0 or FZ_ENOMEM. */
int fz_normalize_init(void);
/* 1 for Han ideographs (and 〇). */
int fz_is_han(uint32_t cp);
/* 0-9 for Chinese digit numerals (一, 壹, 两, 幺, 〇 ...), else -1. */
int fz_cnum_value(uint32_t cp);

#endif
