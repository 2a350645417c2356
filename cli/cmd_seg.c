/* cmd_seg.c — `medsam segment ... -o OUT.dcm` / `--dicom-seg OUT.dcm`: the
 * labels of a DICOM input as a DICOM Segmentation object (src/io/dicom_seg_write.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_volume.h"
#include "io/dicom_seg_write.h"

int cli_write_dicom_seg(const char *path, const char *source, const char *model, const void *labels, int label_bytes,
                        int nx, int ny, int nz, int nsegments) {
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    char algo[64];
    snprintf(algo, sizeof algo, "medsam.c %.50s", base);
    ms_seg_opts so = {algo, nsegments, NULL};
    medsam_error err;
    if (ms_dicom_seg_write(path, source, labels, label_bytes, nx, ny, nz, &so, &err)) return cli_fail(&err);
    return 0;
}
