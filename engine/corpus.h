/* corpus.h — a JSON Lines corpus in memory, each record's text normalized
 * once: what the measuring tools (bench.c, rulestats.c) work on. */
#ifndef FZ_CORPUS_H
#define FZ_CORPUS_H

#include <stddef.h>

typedef struct fz_corpus {
    const char **lines;     /* the records (into the caller's buffer) */
    size_t *lens;
    char **norm;            /* normalized texts */
    size_t *norm_len;
    size_t n;
    double text_bytes;      /* sum of the original texts' lengths */
    size_t norm_bytes;      /* sum of the normalized texts' lengths */
} fz_corpus;

/* Read every record that parses; the others are skipped. 0 or FZ_ENOMEM. */
int fz_corpus_load(fz_corpus *c, const char *jsonl, size_t len);
void fz_corpus_free(fz_corpus *c);

#endif
