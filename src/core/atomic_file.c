#define _POSIX_C_SOURCE 200809L
#include "core/atomic_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

medsam_status ms_atomic_open(ms_atomic_file *af, const char *path, medsam_error *err) {
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path)
        return ms_error(err, MEDSAM_ERR_ARG, "%.64s...: output path too long", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp_path, sizeof af->tmp_path, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp)
        return ms_error(err, MEDSAM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    return MEDSAM_OK;
}

medsam_status ms_atomic_commit(ms_atomic_file *af, medsam_error *err) {
    int bad = ferror(af->fp) != 0;
    if (fflush(af->fp) != 0) bad = 1;
    if (!bad && fsync(fileno(af->fp)) != 0 && errno != EINVAL) bad = 1;
    int saved = errno;
    if (fclose(af->fp) != 0) bad = 1;
    af->fp = NULL;
    if (bad) {
        remove(af->tmp_path);
        return ms_error(err, MEDSAM_ERR_IO, "%s: write failed: %s", af->path, strerror(saved));
    }
    if (rename(af->tmp_path, af->path) != 0) {
        saved = errno;
        remove(af->tmp_path);
        return ms_error(err, MEDSAM_ERR_IO, "%s: cannot rename into place: %s", af->path,
                        strerror(saved));
    }
    return MEDSAM_OK;
}

void ms_atomic_abort(ms_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    if (af->tmp_path[0]) remove(af->tmp_path);
}
