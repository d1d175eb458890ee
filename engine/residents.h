/* residents.h — the registry's record format, for the warning stage
 * (residents.c; the public side is fanzha/resident.h). */
#ifndef FZ_RESIDENTS_H
#define FZ_RESIDENTS_H

#include "fanzha/resident.h"
#include "store.h"

/* The store key of a resident's record ("fz:res:<number hash>"); -1 when
 * number is not a phone number. */
int fz_resident_key(fz_store *s, const char *number, char key[48]);
/* Open a sealed record (err may be NULL). 0, FZ_EPARSE. */
int fz_resident_open(fz_store *s, const fz_str *sealed, fz_resident *r, fz_error *err);

#endif
