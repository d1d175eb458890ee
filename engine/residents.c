/* residents.c — the registry of residents to warn, kept in the state store.
 *
 * How it works. A resident is stored under fz:res:<number hash> (the same
 * keyed hash the engine computes for a message's recipient, so a lookup
 * needs no clear number) as a sealed JSON record: nobody reading the store
 * learns a name or a number. The field <number hash> of the hash
 * fz:res:index lists who is registered, for `fanzha resident list`. Both are
 * written in one batch, so one round trip with Redis, one transaction with
 * the embedded store's file.
 *
 * Numbers are accepted as people write them (138 1234 5678, +86-138…,
 * 0086…, 010-6552 9999) and kept in E.164 form. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "fanzha/resident.h"
#include "json_out.h"
#include "residents.h"
#include "store.h"

#define INDEX_KEY "fz:res:index"

int fz_number_e164(const char *number, char out[24])
{
    fz_number n;
    if (!number || fz_number_canon(number, strlen(number), &n) || n.len < 5 || n.len > 18)
        return FZ_EINVAL;
    const char *cc = n.international ? "+" : "+86", *digits = n.digits;
    if (!n.international && digits[0] == '0')
        digits++;                       /* the trunk 0 is not dialled from abroad */
    size_t l = strlen(cc);
    memcpy(out, cc, l);
    memcpy(out + l, digits, strlen(digits) + 1);
    return 0;
}

void fz_number_mask(const char *e164, char out[24])
{
    size_t n = strlen(e164), keep_head = n >= 12 ? 6 : n >= 8 ? 3 : 0, keep_tail = n >= 8 ? 4 : 2;
    if (n <= keep_tail)
        keep_tail = 0;
    size_t k = 0;
    for (size_t i = 0; i < n && k < 23; i++)
        out[k++] = i < keep_head || i >= n - keep_tail ? e164[i] : '*';
    out[k] = '\0';
}

static int parse_hhmm(const char *s, int *minutes)
{
    int h, m, used = 0;
    if (sscanf(s, "%2d:%2d%n", &h, &m, &used) != 2 || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m))
        return -1;
    *minutes = h * 60 + m;
    return used;
}

int fz_quiet_parse(const char *s, int *start, int *end)
{
    int a = parse_hhmm(s, start);
    if (a < 0 || s[a] != '-')
        return FZ_EINVAL;
    int b = parse_hhmm(s + a + 1, end);
    return b < 0 || s[a + 1 + b] ? FZ_EINVAL : 0;
}

/* A number a warning can reach: in China, a mobile or a landline with its
 * area code (9 digits or more after +86; short service numbers like 95588
 * receive nothing); elsewhere at least 7 digits. */
static int reachable(const char *e164)
{
    size_t n = strlen(e164) - 1;
    return strncmp(e164, "+86", 3) == 0 ? n - 2 >= 9 : n >= 7;
}

static int number_field(const char *in, char out[24])
{
    return fz_number_e164(in, out) == 0 && reachable(out) ? 0 : -1;
}

/* --- JSON ---------------------------------------------------------------------------- */

static int copy_string(const cJSON *o, const char *key, char *out, size_t cap, fz_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return fz_error_set(err, FZ_EPARSE, "'%s' must be a string", key);
    if (strlen(v->valuestring) >= cap)
        return fz_error_set(err, FZ_EPARSE, "'%s' is too long (at most %zu bytes)", key, cap - 1);
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static int parse_guardians(const cJSON *o, fz_resident *r, fz_error *err)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "guardians");
    if (!g || cJSON_IsNull(g))
        return 0;
    if (!cJSON_IsArray(g))
        return fz_error_set(err, FZ_EPARSE, "'guardians' must be a list of numbers");
    const cJSON *it;
    cJSON_ArrayForEach(it, g)
    {
        if (r->n_guardians == FZ_MAX_GUARDIANS)
            return fz_error_set(err, FZ_EPARSE, "at most %d guardians", FZ_MAX_GUARDIANS);
        if (!cJSON_IsString(it) || number_field(it->valuestring, r->guardians[r->n_guardians]))
            return fz_error_set(err, FZ_EPARSE, "guardian %zu is not a phone number", r->n_guardians + 1);
        r->n_guardians++;
    }
    return 0;
}

static int parse_fields(const cJSON *o, fz_resident *r, fz_error *err)
{
    char number[64] = "", quiet[32] = "";
    if (copy_string(o, "number", number, sizeof number, err) || copy_string(o, "name", r->name, sizeof r->name, err) ||
        copy_string(o, "language", r->language, sizeof r->language, err) ||
        copy_string(o, "channel", r->channel, sizeof r->channel, err) ||
        copy_string(o, "quiet", quiet, sizeof quiet, err) || parse_guardians(o, r, err))
        return FZ_EPARSE;
    if (!number[0])
        return fz_error_set(err, FZ_EPARSE, "missing field 'number'");
    if (number_field(number, r->number))
        return fz_error_set(err, FZ_EPARSE, "'number' is not a phone number a warning can reach "
                                            "(a mobile, or a landline with its area code)");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(o, "daily_limit");
    if (limit && !cJSON_IsNull(limit)) {
        if (!cJSON_IsNumber(limit) || limit->valuedouble < 0 || limit->valuedouble > 1000)
            return fz_error_set(err, FZ_EPARSE, "'daily_limit' must be a number from 0 to 1000");
        r->daily_limit = (int)limit->valuedouble;
    }
    if (quiet[0] && fz_quiet_parse(quiet, &r->quiet_start, &r->quiet_end))
        return fz_error_set(err, FZ_EPARSE, "'quiet' must look like 22:00-07:00");
    if (!r->language[0])
        strcpy(r->language, "zh");
    if (strcmp(r->language, "zh") != 0 && strcmp(r->language, "en") != 0)
        return fz_error_set(err, FZ_EPARSE, "'language' must be zh or en");
    if (!r->channel[0])
        strcpy(r->channel, "sms");
    return 0;
}

int fz_resident_parse(const char *json, size_t len, fz_resident *out, fz_error *err)
{
    memset(out, 0, sizeof *out);
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return fz_error_set(err, FZ_EPARSE, "not a JSON object");
    }
    /* cJSON reads \uZZZZ as U+0000, which would cut a name or a number short. */
    if (fz_json_bad_u_escape_at(json, len, NULL) < len) {
        cJSON_Delete(o);
        return fz_error_set(err, FZ_EPARSE, "invalid JSON: bad \\u escape");
    }
    int rc = parse_fields(o, out, err);
    cJSON_Delete(o);
    return rc;
}

int fz_resident_json(const fz_resident *r, int mask_numbers, char *out, size_t cap)
{
    cJSON *o = cJSON_CreateObject();
    char num[24];
    if (mask_numbers)
        fz_number_mask(r->number, num);
    cJSON_AddStringToObject(o, "number", mask_numbers ? num : r->number);
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "language", r->language);
    cJSON *g = cJSON_AddArrayToObject(o, "guardians");
    for (size_t i = 0; g && i < r->n_guardians; i++) {
        if (mask_numbers)
            fz_number_mask(r->guardians[i], num);
        cJSON_AddItemToArray(g, cJSON_CreateString(mask_numbers ? num : r->guardians[i]));
    }
    cJSON_AddStringToObject(o, "channel", r->channel);
    if (r->daily_limit)
        cJSON_AddNumberToObject(o, "daily_limit", r->daily_limit);
    if (r->quiet_start != r->quiet_end) {
        char q[48];
        snprintf(q, sizeof q, "%02d:%02d-%02d:%02d", r->quiet_start / 60, r->quiet_start % 60, r->quiet_end / 60,
                 r->quiet_end % 60);
        cJSON_AddStringToObject(o, "quiet", q);
    }
    int ok = o && cJSON_PrintPreallocated(o, out, (int)cap, 0);
    cJSON_Delete(o);
    return ok ? 0 : FZ_ETOOBIG;
}

/* --- the store ------------------------------------------------------------------------- */

static int key_of(fz_store *s, const char *number, char hash[33], char key[48], fz_error *err)
{
    if (fz_store_number_hash(s, number, strlen(number), hash))
        return fz_error_set(err, FZ_EINVAL, "not a phone number");
    snprintf(key, 48, "fz:res:%s", hash);
    return 0;
}

int fz_resident_key(fz_store *s, const char *number, char key[48])
{
    char hash[33];
    return key_of(s, number, hash, key, NULL);
}

static int store_failed(fz_store *s, int rc, fz_error *err)
{
    return fz_error_set(err, rc, "the store failed (%s)", fz_store_describe(s));
}

int fz_resident_put(fz_store *s, const fz_resident *r, fz_error *err)
{
    char hash[33], key[48], json[2048];
    if (key_of(s, r->number, hash, key, err))
        return FZ_EINVAL;
    if (fz_resident_json(r, 0, json, sizeof json))
        return fz_error_set(err, FZ_ETOOBIG, "the resident's record is too large");
    fz_buf sealed = FZ_BUF_INIT;
    if (fz_store_seal(s, json, strlen(json), &sealed))
        return fz_error_set(err, FZ_ENOMEM, "out of memory");
    fz_op ops[2] = {
        {.type = FZ_OP_SETEX, .key = {key, strlen(key)}, .value = {sealed.data, sealed.len}},
        {.type = FZ_OP_HSET, .key = {INDEX_KEY, sizeof INDEX_KEY - 1}, .field = {hash, 32}, .value = {"1", 1}},
    };
    fz_arena a;
    fz_arena_init(&a, 4096);
    int rc = fz_store_exec(s, ops, 2, &a);
    fz_arena_free(&a);
    fz_buf_free(&sealed);
    return rc ? store_failed(s, rc, err) : 0;
}

/* Open a sealed record into r. */
int fz_resident_open(fz_store *s, const fz_str *sealed, fz_resident *r, fz_error *err)
{
    fz_buf json = FZ_BUF_INIT;
    int rc = fz_store_unseal(s, sealed->ptr, sealed->len, &json);
    if (rc == 0)
        rc = fz_resident_parse(json.data, json.len, r, err);
    else
        fz_error_set(err, rc, "a resident record cannot be opened: was FANZHA_HASH_KEY changed?");
    fz_buf_free(&json);
    return rc;
}

int fz_resident_get(fz_store *s, const char *number, fz_resident *out, fz_error *err)
{
    char hash[33], key[48];
    if (key_of(s, number, hash, key, err))
        return FZ_EINVAL;
    fz_op op = {.type = FZ_OP_GET, .key = {key, strlen(key)}};
    fz_arena a;
    fz_arena_init(&a, 4096);
    int rc = fz_store_exec(s, &op, 1, &a);
    if (rc)
        store_failed(s, rc, err);
    else if (!op.found)
        rc = fz_error_set(err, FZ_ENOENT, "not registered");
    else
        rc = fz_resident_open(s, &op.result, out, err);
    fz_arena_free(&a);
    return rc;
}

int fz_resident_remove(fz_store *s, const char *number, fz_error *err)
{
    char hash[33], key[48];
    if (key_of(s, number, hash, key, err))
        return FZ_EINVAL;
    fz_op ops[2] = {
        {.type = FZ_OP_DEL, .key = {key, strlen(key)}},
        {.type = FZ_OP_HDEL, .key = {INDEX_KEY, sizeof INDEX_KEY - 1}, .field = {hash, 32}},
    };
    fz_arena a;
    fz_arena_init(&a, 1024);
    int rc = fz_store_exec(s, ops, 2, &a);
    fz_arena_free(&a);
    if (rc)
        return store_failed(s, rc, err);
    return ops[0].integer ? 0 : fz_error_set(err, FZ_ENOENT, "not registered");
}

/* Read the records of index fields [from, to) in one batch and call fn. */
static int list_some(fz_store *s, const fz_str *fields, size_t n, int (*fn)(void *, const fz_resident *), void *ud,
                     int *stop, fz_error *err)
{
    fz_arena a;
    fz_arena_init(&a, 64 * 1024);
    fz_op *ops = fz_arena_alloc(&a, n * sizeof *ops);
    int rc = ops ? 0 : FZ_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        char *key = fz_arena_alloc(&a, 48);
        if (!key) {
            rc = FZ_ENOMEM;
            break;
        }
        snprintf(key, 48, "fz:res:%.*s", (int)fields[i].len, fields[i].ptr);
        ops[i] = (fz_op){.type = FZ_OP_GET, .key = {key, strlen(key)}};
    }
    if (!rc && (rc = fz_store_exec(s, ops, n, &a)))
        store_failed(s, rc, err);
    for (size_t i = 0; !rc && !*stop && i < n; i++) {
        fz_resident r;
        if (!ops[i].found)
            continue;                   /* removed meanwhile */
        if ((rc = fz_resident_open(s, &ops[i].result, &r, err)))
            break;
        *stop = fn(ud, &r);
    }
    fz_arena_free(&a);
    return rc;
}

int fz_resident_list(fz_store *s, int (*fn)(void *ud, const fz_resident *r), void *ud, fz_error *err)
{
    fz_arena a;
    fz_arena_init(&a, 64 * 1024);
    fz_op idx = {.type = FZ_OP_HGETALL, .key = {INDEX_KEY, sizeof INDEX_KEY - 1}};
    int rc = fz_store_exec(s, &idx, 1, &a), stop = 0;
    if (rc) {
        fz_arena_free(&a);
        return store_failed(s, rc, err);
    }
    /* pairs: field, value, field, value ...: take every other one. */
    enum { CHUNK = 512 };
    fz_str fields[CHUNK];
    size_t k = 0;
    for (size_t i = 0; !rc && !stop && i + 1 < idx.n_pairs; i += 2) {
        fields[k++] = idx.pairs[i];
        if (k == CHUNK || i + 3 >= idx.n_pairs) {
            rc = list_some(s, fields, k, fn, ud, &stop, err);
            k = 0;
        }
    }
    fz_arena_free(&a);
    return rc;
}
