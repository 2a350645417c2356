/* atomic_file.h — write outputs through "<path>.tmp.<pid>" + rename, so a
 * failed or interrupted write never leaves a partial file at `path`. */
#ifndef MS_ATOMIC_FILE_H
#define MS_ATOMIC_FILE_H
#include <stdio.h>
#include "medsam.h"

typedef struct {
    FILE *fp;
    char path[4096];
    char tmp_path[4120];
} ms_atomic_file;

medsam_status ms_atomic_open(ms_atomic_file *af, const char *path, medsam_error *err);
/* Flushes, fsyncs and renames onto the final path; removes the temp on failure. */
medsam_status ms_atomic_commit(ms_atomic_file *af, medsam_error *err);
/* Closes and removes the temp file; the final path is untouched. */
void ms_atomic_abort(ms_atomic_file *af);

#endif
