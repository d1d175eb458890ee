/* corpus.c — loading a JSON Lines corpus for the measuring tools (see
 * corpus.h): records that parse are kept, with their text normalized once,
 * so that a measurement times only what it means to. */
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "fanzha/error.h"
#include "fanzha/message.h"
#include "fanzha/normalize.h"

void fz_corpus_free(fz_corpus *c)
{
    for (size_t i = 0; c->norm && i < c->n; i++)
        free(c->norm[i]);
    free(c->lines);
    free(c->lens);
    free(c->norm);
    free(c->norm_len);
    memset(c, 0, sizeof *c);
}

int fz_corpus_load(fz_corpus *c, const char *jsonl, size_t len)
{
    memset(c, 0, sizeof *c);
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += jsonl[i] == '\n';
    c->lines = calloc(cap, sizeof *c->lines);
    c->lens = calloc(cap, sizeof *c->lens);
    c->norm = calloc(cap, sizeof *c->norm);
    c->norm_len = calloc(cap, sizeof *c->norm_len);
    fz_reader *r = fz_reader_new();
    fz_norm *nm = fz_norm_new();
    int rc = !c->lines || !c->lens || !c->norm || !c->norm_len || !r || !nm ? FZ_ENOMEM : 0;
    for (const char *p = jsonl, *end = jsonl + len; !rc && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        fz_message m;
        size_t tl;
        if (l && fz_reader_parse_json(r, p, l, &m, NULL) == 0 && fz_normalize(nm, m.text.ptr, m.text.len) == 0) {
            const char *t = fz_norm_text(nm, &tl);
            if (!(c->norm[c->n] = malloc(tl + 1))) {
                rc = FZ_ENOMEM;
                break;
            }
            memcpy(c->norm[c->n], t, tl);
            c->norm[c->n][tl] = '\0';
            c->norm_len[c->n] = tl;
            c->lines[c->n] = p;
            c->lens[c->n] = l;
            c->text_bytes += (double)m.text.len;
            c->norm_bytes += tl;
            c->n++;
        }
        p = nl ? nl + 1 : end;
    }
    fz_reader_free(r);
    fz_norm_free(nm);
    return rc;
}
