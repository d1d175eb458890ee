/* fanzha/normalize.h — canonical text for matching, with a map back to the
 * original bytes.
 *
 * fz_normalize() repairs invalid UTF-8, folds width and case (NFKC + case
 * folding), removes format characters and noise between Chinese characters,
 * maps traditional to simplified characters and look-alikes to the character
 * they imitate, and turns spelled-out digits into ASCII digits. docs/RULES.md
 * §3 lists the exact guarantees. Every byte of the result maps back to a span
 * of the original text, so evidence can be highlighted where it was written.
 *
 * An fz_norm is per thread and reused: it allocates only when a text is longer
 * than any it has seen. */
#ifndef FANZHA_NORMALIZE_H
#define FANZHA_NORMALIZE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_norm fz_norm;

fz_norm *fz_norm_new(void);
void fz_norm_free(fz_norm *n);

/* Normalize text[0..len). Returns 0 or FZ_ENOMEM. The result stays valid
 * until the next call on n (and, when the text needed no change, it points
 * into `text` itself, which must stay alive that long). */
int fz_normalize(fz_norm *n, const char *text, size_t len);

/* The normalized text (valid UTF-8) and its length. It is NUL-terminated
 * only when it was changed: unchanged text is the caller's own buffer. */
const char *fz_norm_text(const fz_norm *n, size_t *len);

/* 1 when the text needed no change (the fast path was taken). */
int fz_norm_unchanged(const fz_norm *n);

/* Map the normalized byte span [start, end) back to the original text:
 * *ostart is where the first contributing character starts, *oend where the
 * last one ends. */
void fz_norm_span(const fz_norm *n, size_t start, size_t end, size_t *ostart, size_t *oend);

/* 1 when a look-alike substitution (a letter standing for a digit, a
 * look-alike character) happened inside the normalized span [start, end). */
int fz_norm_swapped_in(const fz_norm *n, size_t start, size_t end);

#ifdef __cplusplus
}
#endif
#endif
