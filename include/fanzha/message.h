/* fanzha/message.h — one input record, read from JSON or CSV.
 *
 * A message is a set of views (pointer + length) into memory owned by the
 * fz_reader that parsed it; they stay valid until that reader parses the next
 * record. Only `text` is required. Fields the engine does not know are kept as
 * raw JSON ("key":value pairs, comma-separated) so that the verdict carries
 * them untouched. */
#ifndef FANZHA_MESSAGE_H
#define FANZHA_MESSAGE_H

#include <stddef.h>
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_str {
    const char *ptr;
    size_t len;
} fz_str;

typedef struct fz_message {
    fz_str id_json;     /* the id as a JSON value ("m-1" with quotes, or 17); empty if absent */
    fz_str from;        /* sender number as given; empty if absent */
    fz_str to;          /* recipient number as given; empty if absent */
    fz_str text;        /* message text, UTF-8 as given (may be invalid: the normalizer repairs it) */
    fz_str ts;          /* timestamp as given; empty if absent */
    fz_str extra_json;  /* unknown members, raw: "k":v,"k2":v2 ; empty if none */
} fz_message;

typedef enum fz_format {
    FZ_FORMAT_JSONL = 0,
    FZ_FORMAT_CSV = 1   /* id,from,to,text (RFC 4180 quoting); an exact header line is skipped */
} fz_format;

/* A per-thread parser: it owns the memory the parsed messages point into. */
typedef struct fz_reader fz_reader;

fz_reader *fz_reader_new(void);
void fz_reader_free(fz_reader *r);

/* Parse one JSON object (one line, without its newline). Returns 0, or
 * FZ_EPARSE with err->message saying what is wrong ("invalid JSON at byte 42",
 * "missing field 'text'"). */
int fz_reader_parse_json(fz_reader *r, const char *line, size_t len, fz_message *m, fz_error *err);

/* Parse one CSV record (which may span lines inside quotes). Same contract. */
int fz_reader_parse_csv(fz_reader *r, const char *rec, size_t len, fz_message *m, fz_error *err);

/* 1 when rec is the CSV header line "id,from,to,text". */
int fz_csv_is_header(const char *rec, size_t len);

#ifdef __cplusplus
}
#endif
#endif
