/* cmd_dicom2d.c — a one-slice colour DICOM (secondary capture, ultrasound,
 * endoscopy, dermatology photo: RGB or YBR converted to RGB) segmented with
 * -b boxes as the 2-D image it is: MedSAM_Inference.py's 2-D pipeline on its
 * RGB pixels (medsam_preprocess_pixels, as for a PNG), mask to .png or DICOM
 * SEG (.dcm / --dicom-seg), --overlay on the image. Grey one-slice DICOMs go
 * through the volume path (intensity normalisation, then the same 2-D steps). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_volume.h"
#include "io/dicom.h"
#include "io/image.h"

int cli_segment_dicom_rgb(const vol_opts *o) {
    ms_volume v;
    medsam_error err;
    if (ms_dicom_read(o->input, &v, NULL, &err) != MEDSAM_OK) return -1; /* the volume path reports it */
    if (v.nz != 1 || v.nchan != 3 || v.datatype != MS_VOX_RGB24) {
        ms_volume_free(&v);
        return -1;
    }
    const int W = v.nx, H = v.ny, n = o->n2;
    const out_kind kind = cli_output_kind(o->output);
    const char *seg_path = kind == OUT_DICOM_SEG ? o->output : o->dicom_seg;
    int rc = 0;
    if (kind != OUT_PNG && kind != OUT_DICOM_SEG)
        rc = cli_failf("-o %s: a colour DICOM image gives a .png mask or a .dcm DICOM SEG", o->output), rc = 2;
    else if (o->dicom_seg && cli_output_kind(o->dicom_seg) != OUT_DICOM_SEG)
        rc = cli_failf("--dicom-seg %s: the SEG file name ends in .dcm", o->dicom_seg), rc = 2;
    for (int i = 0; i < n && !rc; i++) {
        medsam_box b = o->boxes2[i];
        if (!(b.x1 > b.x0) || !(b.y1 > b.y0) || b.x0 < 0 || b.y0 < 0 || b.x1 > W || b.y1 > H)
            rc = cli_failf("%s: box %d (%g,%g,%g,%g) is empty or outside the %dx%d image", o->input, i + 1, b.x0, b.y0,
                           b.x1, b.y1, W, H);
    }
    medsam_model *m = NULL;
    uint8_t *mask = NULL, *png = NULL;
    if (!rc && cli_model_open(o->keep, o->model, o->pipeline, o->precision, o->verbose, &m)) rc = 1;
    if (!rc) {
        cli_set_box_zoom(m, o->box_zoom);
        mask = malloc((size_t)W * H);
        png = malloc((size_t)W * H);
        if (!mask || !png) rc = cli_failf("%s: out of memory", o->input);
        /* the model's pipeline (box zoom included), as for an image file */
        else if (medsam_segment_pixels(m, v.data, W, H, 3, 8, o->boxes2, n, o->threads, mask, NULL, &err))
            rc = cli_failf("%s: %s", o->input, err.message);
    }
    if (!rc && kind == OUT_PNG) {
        for (size_t p = 0; p < (size_t)W * H; p++) png[p] = n == 1 && mask[p] ? 255 : mask[p];
        if (ms_png_write_gray8(o->output, png, W, H, &err)) rc = cli_fail(&err);
    }
    if (!rc && seg_path) {
        rc = cli_write_dicom_seg(seg_path, o->input, o->model, mask, 1, W, H, 1, n);
        if (rc && kind != OUT_DICOM_SEG) remove(o->output);
    }
    if (!rc && o->overlay && (rc = cli_write_overlay(o->overlay, v.data, W, H, 3, mask, 1, o->boxes2, n))) {
        remove(o->output);
        if (seg_path) remove(seg_path);
    }
    free(mask);
    free(png);
    cli_model_close(o->keep, m);
    ms_volume_free(&v);
    return rc;
}
