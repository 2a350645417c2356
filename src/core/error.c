#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *medsam_status_name(medsam_status s) {
    switch (s) {
    case MEDSAM_OK: return "ok";
    case MEDSAM_ERR_IO: return "i/o error";
    case MEDSAM_ERR_FORMAT: return "format error";
    case MEDSAM_ERR_UNSAFE: return "unsafe content";
    case MEDSAM_ERR_SHAPE: return "shape error";
    case MEDSAM_ERR_ARG: return "bad argument";
    case MEDSAM_ERR_NOMEM: return "out of memory";
    case MEDSAM_ERR_UNSUPPORTED: return "unsupported";
    case MEDSAM_ERR_NUMERIC: return "numeric error";
    case MEDSAM_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

medsam_status ms_error(medsam_error *err, medsam_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        /* messages are one printable line, whatever names a file put into them */
        for (char *c = err->message; *c; c++)
            if ((unsigned char)*c < 32 || *c == 127) *c = '?';
    }
    return code;
}

void ms_error_prefix(medsam_error *err, const char *prefix) {
    if (!err || !prefix) return;
    char tmp[sizeof err->message];
    memcpy(tmp, err->message, sizeof tmp);
    size_t n = strlen(prefix);
    if (n > sizeof err->message - 3) n = sizeof err->message - 3;
    memcpy(err->message, prefix, n);
    memcpy(err->message + n, ": ", 2);
    size_t rest = sizeof err->message - n - 3;
    strncpy(err->message + n + 2, tmp, rest);
    err->message[sizeof err->message - 1] = 0;
}
