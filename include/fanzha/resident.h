/* fanzha/resident.h — the registry of residents to warn.
 *
 * A resident is a person (often elderly) who asked to be warned when a scam
 * reaches them, with the guardians (family) to tell as well when the scam is
 * a severe one. The registry lives in the state store: Redis, or the
 * embedded store, which keeps it in a file under its state directory so
 * that it survives restarts without a server.
 *
 * Numbers are kept in their international form (+8613812345678). The store
 * knows a resident by the keyed hash of the number; the record itself (name,
 * numbers, guardians) is sealed (encrypted and authenticated) with a key
 * derived from the same secret, so a copy of the store reveals nobody. */
#ifndef FANZHA_RESIDENT_H
#define FANZHA_RESIDENT_H

#include <stddef.h>
#include "error.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FZ_MAX_GUARDIANS 4

typedef struct fz_resident {
    char number[24];                    /* E.164: +8613812345678 */
    char name[64];                      /* how warnings address them ("王阿姨"); may be empty */
    char language[8];                   /* "zh" (default) or "en" */
    char guardians[FZ_MAX_GUARDIANS][24];
    size_t n_guardians;
    char channel[16];                   /* passed to the gateway: "sms" (default), "app", "voice" */
    int daily_limit;                    /* warnings a day at most; 0: the policy's */
    int quiet_start, quiet_end;         /* minutes after local midnight; equal: the policy's */
} fz_resident;

/* A number as E.164 text ("+8613812345678"; a domestic landline drops its
 * trunk 0: 010 6552 9999 -> +861065529999). 0, or FZ_EINVAL. */
int fz_number_e164(const char *number, char out[24]);

/* "22:00-07:00" -> minutes (1320, 420). 0, or FZ_EINVAL. */
int fz_quiet_parse(const char *s, int *start, int *end);

/* Read a resident from a JSON object: {"number", "name", "language",
 * "guardians":[…], "channel", "daily_limit", "quiet":"22:00-07:00"}. Only
 * number is required. Numbers are checked and put in E.164 form. */
int fz_resident_parse(const char *json, size_t len, fz_resident *out, fz_error *err);
/* The resident as a JSON object (no newline), numbers in clear or masked
 * (+86138****5678). 0 or FZ_ETOOBIG. */
int fz_resident_json(const fz_resident *r, int mask_numbers, char *out, size_t cap);
/* "+86138****5678": a number for logs and listings. */
void fz_number_mask(const char *e164, char out[24]);

/* Add or replace the resident with this number. */
int fz_resident_put(fz_store *s, const fz_resident *r, fz_error *err);
/* FZ_ENOENT when the number is not registered. */
int fz_resident_get(fz_store *s, const char *number, fz_resident *out, fz_error *err);
/* FZ_ENOENT when the number was not registered. */
int fz_resident_remove(fz_store *s, const char *number, fz_error *err);
/* Every resident, in no particular order; fn returning non-zero stops. */
int fz_resident_list(fz_store *s, int (*fn)(void *ud, const fz_resident *r), void *ud, fz_error *err);

#ifdef __cplusplus
}
#endif
#endif
