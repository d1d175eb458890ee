/* message.c — reading one input record (a JSON object, or a CSV line
 * id,from,to,text) into an fz_message.
 *
 * How it works. JSON is parsed and validated by cJSON. Its allocations go to
 * a per-thread arena (cJSON's hooks consult a thread-local pointer) that is
 * reset, not freed, before the next record, so parsing allocates nothing in
 * steady state and nothing needs cJSON_Delete. cJSON keeps members in input
 * order, so a second pass over the raw text (safe: it is valid JSON by then)
 * finds each member's raw span; unknown members are copied from those spans
 * into the verdict untouched (a 19-digit sequence number stays 19 digits).
 * Two repairs happen here: raw NUL bytes in a line are dropped, and a text
 * containing the escape \u0000 is decoded without it (cJSON strings end at
 * a NUL). CSV follows RFC 4180: quoted fields may hold commas, doubled quotes
 * and newlines. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "fanzha/buf.h"
#include "fanzha/message.h"
#include "json_out.h"

struct fz_reader {
    fz_arena arena;     /* cJSON nodes of the current record */
    fz_buf extra;       /* unknown members, raw */
    fz_buf line;        /* the record with NUL bytes removed, when it had some */
    fz_buf fields;      /* decoded CSV fields, and repaired strings */
    fz_buf id;          /* a string id, as JSON */
};

/* --- cJSON allocation through the thread's arena ------------------------------------ */

static _Thread_local fz_arena *tl_arena;
static pthread_once_t g_hooks_once = PTHREAD_ONCE_INIT;

static void *arena_malloc(size_t n)
{
    return tl_arena ? fz_arena_alloc(tl_arena, n) : malloc(n);
}

static void arena_free(void *p)
{
    /* Arena memory is released by resetting the arena. */
    if (!tl_arena || !fz_arena_owns(tl_arena, p))
        free(p);
}

static void install_hooks(void)
{
    cJSON_Hooks h = {arena_malloc, arena_free};
    cJSON_InitHooks(&h);
}

fz_reader *fz_reader_new(void)
{
    pthread_once(&g_hooks_once, install_hooks);
    fz_reader *r = calloc(1, sizeof *r);
    if (r)
        fz_arena_init(&r->arena, 64 * 1024);
    return r;
}

void fz_reader_free(fz_reader *r)
{
    if (!r)
        return;
    fz_arena_free(&r->arena);
    fz_buf_free(&r->extra);
    fz_buf_free(&r->line);
    fz_buf_free(&r->fields);
    fz_buf_free(&r->id);
    free(r);
}

/* --- raw spans of a valid JSON object's members ------------------------------------------- */

/* Whitespace as cJSON reads it: every byte up to 0x20, not only the four
 * JSON allows. The spans must start and end where cJSON's members do, or
 * a line like {"id":\v"m-1",...} (found by fuzzing) gets the \v as its id
 * and every later member's span is out of step. The verdict writer turns
 * such bytes into spaces (fz_json_raw). */
static int is_ws(char c)
{
    return (unsigned char)c <= 0x20;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p < end ? p + 1 : end;
}

static const char *skip_value(const char *p, const char *end)
{
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') depth--;
            p++;
            if (depth == 0)
                break;
        }
        return p;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p))
        p++;
    return p;
}

typedef struct { const char *key, *value, *end; } raw_member;

/* Fill spans for up to max members of the object at text; returns how many. */
static size_t raw_members(const char *text, size_t len, raw_member *out, size_t max)
{
    const char *p = skip_ws(text, text + len), *end = text + len;
    size_t n = 0;
    if (p >= end || *p != '{')
        return 0;
    p = skip_ws(p + 1, end);
    while (p < end && *p == '"' && n < max) {
        const char *key = p;
        p = skip_ws(skip_string(p, end), end);
        if (p >= end || *p != ':')
            break;
        p = skip_ws(p + 1, end);
        const char *value = p;
        p = skip_value(p, end);
        out[n++] = (raw_member){key, value, p};
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    return n;
}

/* --- JSON records ------------------------------------------------------------------------- */

/* Decode a raw JSON string that contains \u0000, dropping those escapes. */
static int decode_without_nul(fz_reader *r, const char *raw, size_t n, fz_str *out)
{
    fz_buf *b = &r->fields;
    fz_buf_clear(b);
    for (size_t i = 0; i < n; i++) {
        if (raw[i] == '\\' && i + 5 < n && raw[i + 1] == 'u' && memcmp(raw + i + 2, "0000", 4) == 0) {
            i += 5;
            continue;
        }
        size_t take = raw[i] == '\\' && i + 1 < n ? 2 : 1;
        if (fz_buf_append(b, raw + i, take))
            return FZ_ENOMEM;
        i += take - 1;
    }
    tl_arena = &r->arena;
    cJSON *s = cJSON_ParseWithLength(b->data, b->len);
    tl_arena = NULL;
    if (!cJSON_IsString(s))
        return FZ_EPARSE;
    out->ptr = s->valuestring;
    out->len = strlen(s->valuestring);
    return 0;
}

/* A string field is decoded by cJSON; a number is taken as written
 * (13812345678 stays exact). A text with \u0000 in it is decoded again
 * without those escapes, since cJSON strings end at the first NUL. */
static int field_value(fz_reader *r, const cJSON *item, const raw_member *raw, int nul_escape,
                       const char *name, fz_str *out, fz_error *err)
{
    if (cJSON_IsString(item)) {
        if (nul_escape && raw)
            return decode_without_nul(r, raw->value, (size_t)(raw->end - raw->value), out)
                       ? fz_error_set(err, FZ_EPARSE, "field '%s' cannot be decoded", name) : 0;
        out->ptr = item->valuestring;
        out->len = strlen(item->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(item) && raw) {
        out->ptr = raw->value;
        out->len = (size_t)(raw->end - raw->value);
        return 0;
    }
    if (cJSON_IsNull(item))
        return 0;
    return fz_error_set(err, FZ_EPARSE, "field '%s' must be a string", name);
}

static int is_known(const char *k)
{
    return strcmp(k, "id") == 0 || strcmp(k, "text") == 0 || strcmp(k, "from") == 0 || strcmp(k, "to") == 0 ||
           strcmp(k, "ts") == 0;
}

/* Raw spans are needed for unknown members, for values that are not
 * strings, and to decode a text holding \u0000; most records need none. */
static int needs_raw(const cJSON *root, int nul_escape)
{
    if (nul_escape)
        return 1;
    for (const cJSON *it = root->child; it; it = it->next)
        if (!cJSON_IsString(it) || !is_known(it->string))
            return 1;
    return 0;
}

static int add_extra(fz_reader *r, const raw_member *raw)
{
    if (r->extra.len && fz_buf_lit(&r->extra, ","))
        return FZ_ENOMEM;
    return fz_buf_append(&r->extra, raw->key, (size_t)(raw->end - raw->key));
}

static const char *strip_nuls(fz_reader *r, const char *line, size_t *len)
{
    if (!memchr(line, '\0', *len))
        return line;
    fz_buf_clear(&r->line);
    for (size_t i = 0; i < *len; i++)
        if (line[i] && fz_buf_append(&r->line, line + i, 1))
            return NULL;
    *len = r->line.len;
    return r->line.data ? r->line.data : "";
}

/* A UTF-8 byte-order mark (as some Windows tools write) is not content. */
static const char *skip_bom(const char *s, size_t *len)
{
    if (*len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        *len -= 3;
        return s + 3;
    }
    return s;
}

int fz_reader_parse_json(fz_reader *r, const char *line, size_t len, fz_message *m, fz_error *err)
{
    memset(m, 0, sizeof *m);
    fz_arena_reset(&r->arena);
    fz_buf_clear(&r->extra);
    line = strip_nuls(r, skip_bom(line, &len), &len);
    if (!line)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    const char *stop = NULL;
    tl_arena = &r->arena;
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, &stop, 0);
    tl_arena = NULL;
    if (!root) {
        size_t at = stop && stop >= line && stop <= line + len ? (size_t)(stop - line) : 0;
        if (at >= len)
            return fz_error_set(err, FZ_EPARSE, "invalid JSON: unexpected end of line at byte %zu", at);
        unsigned char c = (unsigned char)line[at];
        return c >= 0x20 && c < 0x7F
                   ? fz_error_set(err, FZ_EPARSE, "invalid JSON: unexpected '%c' at byte %zu", c, at)
                   : fz_error_set(err, FZ_EPARSE, "invalid JSON: unexpected byte 0x%02x at byte %zu", c, at);
    }
    if (!cJSON_IsObject(root))
        return fz_error_set(err, FZ_EPARSE, "a record must be a JSON object");
    /* One record a line: anything after the object is a mistake, not a
     * second record to drop silently. */
    const char *after = skip_ws(stop, line + len);
    if (after < line + len)
        return fz_error_set(err, FZ_EPARSE, "invalid JSON: unexpected data after the object at byte %zu",
                            (size_t)(after - line));
    /* cJSON reads \uZZZZ as U+0000, which would end the string there (found
     * by fuzzing: "95588\uZZZZ123" passed for the allowlisted 95588). */
    int nul_escape;
    size_t bad_escape = fz_json_bad_u_escape_at(line, len, &nul_escape);
    if (bad_escape < len)
        return fz_error_set(err, FZ_EPARSE, "invalid JSON: bad \\u escape at byte %zu", bad_escape);
    raw_member local[64], *raws = local;
    size_t members = (size_t)cJSON_GetArraySize(root), nraw = 0;
    if (members > 64 && !(raws = fz_arena_alloc(&r->arena, members * sizeof *raws)))
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    if (needs_raw(root, nul_escape))
        nraw = raw_members(line, len, raws, members);
    size_t i = 0;
    int rc = 0, have_text = 0;
    for (cJSON *it = root->child; it && !rc; it = it->next, i++) {
        const raw_member *raw = i < nraw ? &raws[i] : NULL;
        const char *k = it->string;
        if (strcmp(k, "id") == 0) {
            if (raw) {
                m->id_json.ptr = raw->value;
                m->id_json.len = (size_t)(raw->end - raw->value);
            } else if (cJSON_IsString(it)) {
                fz_buf_clear(&r->id);
                if (fz_json_str(&r->id, it->valuestring, strlen(it->valuestring)))
                    rc = fz_error_set(err, FZ_ENOMEM, "out of memory");
                m->id_json.ptr = r->id.data;
                m->id_json.len = r->id.len;
            }
        } else if (strcmp(k, "text") == 0) {
            if (!cJSON_IsString(it))
                rc = fz_error_set(err, FZ_EPARSE, "field 'text' must be a string");
            else
                rc = field_value(r, it, raw, nul_escape, "text", &m->text, err), have_text = 1;
        } else if (strcmp(k, "from") == 0) {
            rc = field_value(r, it, raw, nul_escape, "from", &m->from, err);
        } else if (strcmp(k, "to") == 0) {
            rc = field_value(r, it, raw, nul_escape, "to", &m->to, err);
        } else if (strcmp(k, "ts") == 0) {
            rc = field_value(r, it, raw, nul_escape, "ts", &m->ts, err);
        } else if (raw && add_extra(r, raw)) {
            rc = fz_error_set(err, FZ_ENOMEM, "out of memory");
        }
    }
    if (rc)
        return rc;
    if (!have_text)
        return fz_error_set(err, FZ_EPARSE, "missing field 'text'");
    if (m->text.len == 0)
        return fz_error_set(err, FZ_EPARSE, "field 'text' is empty");
    m->extra_json.ptr = r->extra.data;
    m->extra_json.len = r->extra.len;
    return 0;
}

/* --- CSV records ------------------------------------------------------------------------ */

int fz_csv_is_header(const char *rec, size_t len)
{
    rec = skip_bom(rec, &len);
    while (len && (rec[len - 1] == '\r' || rec[len - 1] == '\n'))
        len--;
    return len == 15 && strncasecmp(rec, "id,from,to,text", 15) == 0;
}

/* Split an RFC 4180 record into fields, decoded into r->fields; starts[]
 * and lens[] index into it. Returns the field count, or -1 for an
 * unterminated quote. */
static int csv_split(fz_reader *r, const char *rec, size_t len, size_t *starts, size_t *lens, int max)
{
    fz_buf *b = &r->fields;
    fz_buf_clear(b);
    while (len && (rec[len - 1] == '\r' || rec[len - 1] == '\n'))
        len--;
    int n = 0;
    size_t i = 0;
    for (;;) {
        size_t start = b->len;
        if (i < len && rec[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return -1;
                if (rec[i] == '"') {
                    if (i + 1 < len && rec[i + 1] == '"') {
                        if (fz_buf_lit(b, "\"")) return -2;
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (fz_buf_append(b, rec + i, 1)) return -2;
                i++;
            }
            while (i < len && rec[i] != ',')    /* junk after a closing quote: keep it */
                if (fz_buf_append(b, rec + i++, 1)) return -2;
        } else {
            size_t j = i;
            while (j < len && rec[j] != ',')
                j++;
            if (fz_buf_append(b, rec + i, j - i)) return -2;
            i = j;
        }
        if (n < max) {
            starts[n] = start;
            lens[n] = b->len - start;
        }
        n++;
        if (i >= len)
            break;
        i++;                                    /* the comma */
    }
    return n;
}

int fz_reader_parse_csv(fz_reader *r, const char *rec, size_t len, fz_message *m, fz_error *err)
{
    memset(m, 0, sizeof *m);
    fz_buf_clear(&r->extra);
    rec = strip_nuls(r, skip_bom(rec, &len), &len);
    if (!rec)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    size_t starts[4], lens[4];
    int n = csv_split(r, rec, len, starts, lens, 4);
    if (n == -1)
        return fz_error_set(err, FZ_EPARSE, "invalid CSV: unterminated quoted field");
    if (n < 0)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    if (n != 4)
        return fz_error_set(err, FZ_EPARSE, "invalid CSV: expected 4 fields (id,from,to,text), got %d", n);
    if (lens[3] == 0)
        return fz_error_set(err, FZ_EPARSE, "field 'text' is empty");
    /* The id becomes a JSON string; it goes in r->extra, which CSV leaves free. */
    if (lens[0] && fz_json_str(&r->extra, r->fields.data + starts[0], lens[0]))
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    const char *f = r->fields.data;
    m->id_json = (fz_str){r->extra.data, r->extra.len};
    m->from = (fz_str){f + starts[1], lens[1]};
    m->to = (fz_str){f + starts[2], lens[2]};
    m->text = (fz_str){f + starts[3], lens[3]};
    return 0;
}
