/* cmd_npz.c — `medsam segment --npz CASE.npz -o OUT.npz`: the CVPR24
 * "MedSAM on laptop" case format.
 *
 * ref: LiteMedSAM CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_2D / _3D
 *   2-D: imgs (H, W, 3) uint8, boxes (N, 4) [x_min, y_min, x_max, y_max];
 *   3-D: imgs (D, H, W), boxes (N, 6) [x_min, y_min, z_min, x_max, y_max, z_max];
 *   output: segs with box index i (1-based) as label, later boxes over earlier
 *   ones, uint8 (uint16 past 255 boxes), written with savez_compressed.
 * 2-D cases go through the model's pipeline (medsam_model_preprocess,
 * medsam_decode_boxes: MedSAM_Inference.py's, or CVPR24_LiteMedSAM_infer.py's
 * with --pipeline lite / a LiteMedSAM model), 3-D cases through the volume path
 * (cli_run_volume) with its intensity rules (uint8 imgs are used as they are). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_volume.h"
#include "core/npy.h"
#include "io/npz.h"

static int segment_2d(const vol_opts *o, const ms_npy *imgs, const float *boxes, int n) {
    medsam_error err;
    const int H = (int)imgs->shape[0], W = (int)imgs->shape[1], C = imgs->ndim == 3 ? (int)imgs->shape[2] : 1;
    if (imgs->dtype != MS_NPY_U8 || (C != 1 && C != 3))
        return cli_failf("%s: 2-D imgs must be uint8 (H,W) or (H,W,3)", o->npz);
    if (n > 255) return cli_failf("%s: %d boxes: a 2-D case takes at most 255", o->npz, n);
    medsam_box *b = malloc((size_t)n * sizeof *b);
    uint8_t *segs = malloc((size_t)W * H);
    medsam_model *m = NULL;
    int rc = (!b || !segs) ? cli_failf("out of memory") : 0;
    for (int i = 0; i < n && !rc; i++) {
        const float *v = boxes + 4 * i;
        b[i] = (medsam_box){v[0], v[1], v[2], v[3]};
        if (!(v[2] > v[0]) || !(v[3] > v[1]) || v[0] < 0 || v[1] < 0 || v[2] > W || v[3] > H)
            rc = cli_failf("%s: box %d (%g,%g,%g,%g) must satisfy 0 <= x0 < x1 <= %d, 0 <= y0 < y1 <= %d", o->npz, i + 1,
                           v[0], v[1], v[2], v[3], W, H);
    }
    if (!rc && cli_model_open(o->keep, o->model, o->pipeline, o->precision, o->verbose, &m)) rc = 1;
    double t0 = cli_now();
    int encodes = 0;
    if (!rc) cli_set_box_zoom(m, o->box_zoom);
    /* without box zoom: the model's pipeline, one encode, all boxes decoded together */
    if (!rc && medsam_segment_pixels(m, imgs->data, W, H, C, 8, b, n, o->threads, segs, &encodes, &err))
        rc = cli_fail(&err);
    if (!rc && o->verbose)
        fprintf(stderr, "2-D case %dx%d, %d box(es), %d encode(s) (box zoom %g): %.3f s\n", W, H, n, encodes,
                medsam_model_get_box_zoom(m), cli_now() - t0);
    if (!rc) {
        ms_npy a = {MS_NPY_U8, 2, {H, W}, (int64_t)W * H, segs};
        const char *name = "segs";
        if (ms_npz_write(o->output, &name, &a, 1, 1, &err)) rc = cli_fail(&err);
    }
    if (!rc && o->overlay) {
        rc = cli_write_overlay(o->overlay, imgs->data, W, H, C, segs, 1, b, n);
        if (rc) remove(o->output);
    }
    free(b);
    free(segs);
    cli_model_close(o->keep, m);
    return rc;
}

int cli_segment_npz(const vol_opts *o) {
    if (cli_output_kind(o->output) != OUT_NPZ) {
        fprintf(stderr, "medsam: --npz writes an .npz (segs): -o %s\n", o->output);
        return 2;
    }
    medsam_error err;
    ms_npz *z;
    if (ms_npz_open_budget(o->npz, o->budget.max_bytes > 0 ? (uint64_t)o->budget.max_bytes
                                                                    : (uint64_t)medsam_memory_default(),
                           &z, &err))
        return cli_fail(&err);
    ms_npy imgs = {0}, boxes = {0};
    float *bf = NULL;
    int rc = 0;
    if (!ms_npz_has(z, "imgs") || !ms_npz_has(z, "boxes"))
        rc = cli_failf("%s: a CVPR24 case holds the arrays 'imgs' and 'boxes'", o->npz);
    if (!rc && (ms_npz_get(z, "boxes", &boxes, &err) || ms_npy_to_f32(&boxes, &bf, &err))) rc = cli_fail(&err);
    const int cols = (!rc && boxes.ndim == 2) ? (int)boxes.shape[1] : 0;
    const long long nb = (!rc && boxes.ndim == 2) ? (long long)boxes.shape[0] : 0;
    if (!rc && (boxes.ndim != 2 || (cols != 4 && cols != 6) || nb < 1 || nb > 65535))
        rc = cli_failf("%s: boxes must be (N,4) for 2-D or (N,6) for 3-D with 1 <= N <= 65535", o->npz);
    for (long long i = 0; i < nb * cols && !rc; i++)
        if (!isfinite(bf[i])) rc = cli_failf("%s: boxes hold a non-finite value", o->npz);
    if (!rc && cols == 4) {
        if (ms_npz_get(z, "imgs", &imgs, &err)) rc = cli_fail(&err);
        else if (imgs.ndim != 2 && imgs.ndim != 3) rc = cli_failf("%s: 2-D imgs must be (H,W) or (H,W,3)", o->npz);
        else if (imgs.shape[0] < 1 || imgs.shape[1] < 1 || imgs.shape[0] > 65536 || imgs.shape[1] > 65536)
            rc = cli_failf("%s: imgs has a bad size", o->npz);
        else rc = segment_2d(o, &imgs, bf, (int)nb);
    } else if (!rc) {
        vol_opts v = *o;
        v.input = o->npz;
        v.n3 = (int)nb;
        v.boxes3 = malloc((size_t)nb * sizeof *v.boxes3);
        if (!v.boxes3) rc = cli_failf("out of memory");
        for (long long i = 0; i < nb && !rc; i++) {
            const float *b = bf + 6 * i;
            if (b[2] != floorf(b[2]) || b[5] != floorf(b[5]) || fabsf(b[2]) > 1e9f || fabsf(b[5]) > 1e9f)
                rc = cli_failf("%s: box %lld: z_min and z_max must be slice indices, got %g and %g", o->npz, i + 1, b[2],
                               b[5]);
            else v.boxes3[i] = (medsam_box3d){b[0], b[1], b[3], b[4], (int)b[2], (int)b[5]};
        }
        if (!rc) rc = cli_run_volume(&v);
        free(v.boxes3);
    }
    free(bf);
    ms_npy_free(&imgs);
    ms_npy_free(&boxes);
    ms_npz_close(z);
    return rc;
}
