/* fanzha/error.h — error codes and the error record every fallible call fills.
 *
 * Calls return 0 on success or a negative FZ_E* code; when the caller passes
 * an fz_error, it also receives a human-readable message (for rule files it
 * has the form "file:line:col: rule 'id': what is wrong"). */
#ifndef FANZHA_ERROR_H
#define FANZHA_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FZ_OK = 0,
    FZ_EINVAL = -1,     /* invalid argument */
    FZ_ENOMEM = -2,     /* out of memory */
    FZ_EIO = -3,        /* reading or writing a file failed */
    FZ_ERULES = -4,     /* the rule pack is invalid */
    FZ_EPARSE = -5,     /* an input record cannot be read */
    FZ_ETOOBIG = -6,    /* an input exceeds a configured limit */
    FZ_EHS = -7,        /* Hyperscan failed */
    FZ_EPLATFORM = -8,  /* this CPU cannot run Hyperscan */
    FZ_ENOENT = -9,     /* not found */
    FZ_EAGAIN = -10     /* busy: try again later (all slots in use) */
};

typedef struct fz_error {
    int code;
    char message[1024];
} fz_error;

/* A short, static description of a code. */
const char *fz_strerror(int code);

/* Fill err (which may be NULL) with code and a printf-style message;
 * returns code so that callers can write `return fz_error_set(...)`. */
int fz_error_set(fz_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
