/* report.c — reading one reported-number record (DESIGN.md §4.4):
 * {"number":"+8617012345678","reporter":"r-9","kind":"sms","ts":"2026-11-22T08:00:00+08:00"}
 * Only "number" is required; ts is ISO 8601 (with Z or an offset) or Unix
 * seconds; a record without ts is dated when it is recorded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "engine_internal.h"
#include "fanzha/store.h"
#include "json_out.h"

/* ISO 8601 date-time to Unix seconds; -1 when it is not one. */
static int64_t parse_iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &used) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = s + used;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    int64_t t = (int64_t)timegm(&tm), offset = 0;
    if (*p == '+' || *p == '-') {
        int h = 0, m = 0;
        if (sscanf(p + 1, "%2d:%2d", &h, &m) < 1 && sscanf(p + 1, "%2d%2d", &h, &m) < 1)
            return -1;
        offset = (h * 3600 + m * 60) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != '\0') {
        return -1;
    }
    return t - offset;
}

int fz_report_parse(const char *line, size_t len, fz_report *out, fz_buf *strings, fz_error *err)
{
    memset(out, 0, sizeof *out);
    fz_buf_clear(strings);
    cJSON *root = cJSON_ParseWithLength(line, len);
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = fz_error_set(err, FZ_EPARSE, "a report must be a JSON object");
        goto done;
    }
    /* cJSON reads \uZZZZ as U+0000, cutting the string short (fuzzing). */
    if (fz_json_bad_u_escape_at(line, len, NULL) < len) {
        rc = fz_error_set(err, FZ_EPARSE, "invalid JSON: bad \\u escape");
        goto done;
    }
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(root, "number");
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(root, "reporter");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
    if (!cJSON_IsString(num) || !*num->valuestring) {
        rc = fz_error_set(err, FZ_EPARSE, "missing field 'number'");
        goto done;
    }
    fz_number canon;
    if (fz_number_canon(num->valuestring, strlen(num->valuestring), &canon)) {
        rc = fz_error_set(err, FZ_EPARSE, "field 'number' is not a phone number");
        goto done;
    }
    /* Casting a double outside int64_t's range is undefined (fuzzing found
     * "ts":17953344001795334400); a number gets the range the ISO form has,
     * 1970 up to the end of 9999. */
    if (cJSON_IsNumber(ts) && !(ts->valuedouble >= 0 && ts->valuedouble < 253402300800.0)) {
        rc = fz_error_set(err, FZ_EPARSE, "field 'ts' is not a Unix time from 1970 to 9999");
        goto done;
    }
    if (cJSON_IsNumber(ts))
        out->ts = (int64_t)ts->valuedouble;
    else if (cJSON_IsString(ts) && (out->ts = parse_iso8601(ts->valuestring)) < 0) {
        rc = fz_error_set(err, FZ_EPARSE, "field 'ts' is not an ISO 8601 time");
        goto done;
    }
    /* The strings outlive the cJSON tree: copy them, NUL-separated. */
    const char *parts[3] = {num->valuestring, cJSON_IsString(who) ? who->valuestring : "",
                            cJSON_IsString(kind) ? kind->valuestring : ""};
    size_t offs[3];
    for (int i = 0; i < 3; i++) {
        offs[i] = strings->len;
        if (fz_buf_append(strings, parts[i], strlen(parts[i]) + 1)) {
            rc = fz_error_set(err, FZ_ENOMEM, "out of memory");
            goto done;
        }
    }
    out->number = strings->data + offs[0];
    out->reporter = strings->data + offs[1];
    out->kind = strings->data + offs[2];
done:
    cJSON_Delete(root);
    return rc;
}

/* --- many reports at once ---------------------------------------------------------------- */

enum { INGEST_BATCH = 1000 };

typedef struct ingest {
    fz_report reports[INGEST_BATCH];
    fz_buf strings[INGEST_BATCH];
    size_t n;
} ingest;

static int ingest_flush(fz_store *s, ingest *in, double half_life_days, size_t *ok, size_t *bad, fz_error *err)
{
    size_t unusable = 0;
    int rc = in->n ? fz_store_report(s, in->reports, in->n, half_life_days, &unusable, err) : 0;
    if (rc == 0) {
        *ok += in->n - unusable;
        *bad += unusable;
    }
    in->n = 0;
    return rc;
}

int fz_reports_ingest(fz_store *s, const char *data, size_t len, uint64_t first_line, double half_life_days,
                      void (*bad_line)(void *ud, uint64_t line, const char *why), void *ud, size_t *ok,
                      size_t *bad, fz_error *err)
{
    ingest *in = calloc(1, sizeof *in);
    if (!in)
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    *ok = *bad = 0;
    int rc = 0;
    uint64_t line = first_line;
    for (size_t at = 0; at < len && !rc; line++) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - data) : len, n = end - at;
        const char *p = data + at;
        at = end + 1;
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0)
            continue;
        fz_error perr;
        if (fz_report_parse(p, n, &in->reports[in->n], &in->strings[in->n], &perr)) {
            (*bad)++;
            if (bad_line)
                bad_line(ud, line, perr.message);
            continue;
        }
        if (++in->n == INGEST_BATCH)
            rc = ingest_flush(s, in, half_life_days, ok, bad, err);
    }
    if (!rc)
        rc = ingest_flush(s, in, half_life_days, ok, bad, err);
    for (size_t i = 0; i < INGEST_BATCH; i++)
        fz_buf_free(&in->strings[i]);
    free(in);
    return rc;
}
