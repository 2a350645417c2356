/* error.h — status + message plumbing shared by every module. */
#ifndef MS_ERROR_H
#define MS_ERROR_H
#include "medsam.h"

/* Fills `err` (may be NULL) with `code` and a printf-style message; returns code. */
medsam_status ms_error(medsam_error *err, medsam_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (used to add a file name). */
void ms_error_prefix(medsam_error *err, const char *prefix);

#endif
