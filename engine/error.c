/* error.c — error codes, their descriptions, and filling an fz_error. */
#include <stdarg.h>
#include <stdio.h>

#include "fanzha/error.h"

const char *fz_strerror(int code)
{
    switch (code) {
    case FZ_OK: return "success";
    case FZ_EINVAL: return "invalid argument";
    case FZ_ENOMEM: return "out of memory";
    case FZ_EIO: return "input/output error";
    case FZ_ERULES: return "invalid rule pack";
    case FZ_EPARSE: return "unreadable record";
    case FZ_ETOOBIG: return "input exceeds a limit";
    case FZ_EHS: return "Hyperscan error";
    case FZ_EPLATFORM: return "CPU not supported by Hyperscan";
    case FZ_ENOENT: return "not found";
    case FZ_EAGAIN: return "busy, try again";
    default: return "unknown error";
    }
}

int fz_error_set(fz_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}
