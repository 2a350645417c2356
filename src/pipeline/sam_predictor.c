/* sam_predictor.c — SamPredictor's pre- and postprocessing (see sam_predictor.h). */
#include "pipeline/sam_predictor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/resize_pil.h"
#include "pipeline/torch_bilinear.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* fused multiply-adds only where torch has them (fmaf below) */
#endif

void ms_sam_preprocess_shape(int h, int w, int target, int *newh, int *neww) {
    const double scale = target * 1.0 / (h > w ? h : w);
    *newh = (int)(h * scale + 0.5);
    *neww = (int)(w * scale + 0.5);
}

medsam_status ms_sam_rgb_input(const ms_image *img, uint8_t **rgb, medsam_error *err) {
    *rgb = NULL;
    if (img->bit_depth == 32)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                        "pipeline 'sam' takes 8-bit images (SamPredictor.set_image wants uint8), not float arrays");
    if (img->bit_depth == 16 && img->channels == 1)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                        "pipeline 'sam' takes 8-bit images (SamPredictor.set_image wants uint8), not 16-bit grey");
    if (img->channels < 1 || img->channels > 4 || img->width < 1 || img->height < 1)
        return ms_error(err, MEDSAM_ERR_SHAPE, "bad image shape %dx%dx%d", img->width, img->height, img->channels);
    const size_t n = (size_t)img->width * img->height;
    const int ch = img->channels, colour = ch >= 3;
    uint8_t *out = malloc(n * 3); // (h, w, 3)
    if (!out) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate a %dx%d image", img->width, img->height);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            const size_t s = i * ch + (colour ? k : 0);
            out[i * 3 + k] = img->bit_depth == 8 ? img->u8[s] : (uint8_t)(img->u16[s] >> 8);
        }
    *rgb = out;
    return MEDSAM_OK;
}

// ref: predictor.py:SamPredictor.set_image -> transforms.py:apply_image -> sam.py:Sam.preprocess
medsam_status ms_sam_preprocess(const ms_image *img, int S, int nthreads, float *out_hwc, uint8_t *resized,
                                medsam_error *err) {
    int newh, neww;
    ms_sam_preprocess_shape(img->height, img->width, S, &newh, &neww);
    if (newh < 1 || neww < 1)
        return ms_error(err, MEDSAM_ERR_ARG, "a %dx%d image resizes to nothing at side %d", img->width, img->height, S);
    uint8_t *rgb = NULL;
    medsam_status st = ms_sam_rgb_input(img, &rgb, err);
    if (st) return st;
    uint8_t *r = resized ? resized : malloc((size_t)newh * neww * 3); // (newh, neww, 3)
    if (!r) st = ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate a %dx%d image", neww, newh);
    // torchvision resize(to_pil_image(image), (newh, neww)): Pillow BILINEAR (a copy at the same size)
    if (!st) st = ms_resize_pil_bilinear(rgb, img->height, img->width, 3, newh, neww, r, nthreads, err);
    free(rgb);
    if (!st) {
        // (x - pixel_mean) / pixel_std on the uint8 tensor promoted to float32, then F.pad(0, padw, 0, padh)
        static const float mean[3] = {123.675f, 116.28f, 103.53f}, std[3] = {58.395f, 57.12f, 57.375f};
#pragma omp parallel for num_threads(nthreads > 0 ? nthreads : 1) schedule(static)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int k = 0; k < 3; k++) {
                    float *o = out_hwc + ((size_t)y * S + x) * 3 + k;
                    *o = y < newh && x < neww ? ((float)r[((size_t)y * neww + x) * 3 + k] - mean[k]) / std[k] : 0.0f;
                }
    }
    if (r != resized) free(r);
    return st;
}

// ref: transforms.py:ResizeLongestSide.apply_coords (float64), predictor.py:predict (torch.float)
void ms_sam_apply_coords(int w, int h, int S, double x, double y, float out[2]) {
    int newh, neww;
    ms_sam_preprocess_shape(h, w, S, &newh, &neww);
    out[0] = (float)(x * ((double)neww / w));
    out[1] = (float)(y * ((double)newh / h));
}

ms_sam_kernels ms_sam_postprocess_kernels(int nmasks, int S, int neww) {
    ms_sam_kernels k = {nmasks > 1, nmasks > 1 || neww != S};
    return k;
}

/* ---- bilinear, align_corners=False, torch 1.13's two CPU kernels ---------- */

static void sam_taps(int in, int out, ms_torch_tap *t) {
    for (int d = 0; d < out; d++) t[d] = ms_torch_tap_at(in, out, d);
}

/* Stage-1 value (row r, column x) of the S x S upscaled logits, taps computed on the spot. */
static float sam_stage1_at(const float *logits, int L, int S, int generic, int r, int x) {
    const ms_torch_tap ty = ms_torch_tap_at(L, S, r), tx = ms_torch_tap_at(L, S, x);
    const float *a = logits + (size_t)ty.i0 * L, *b = logits + (size_t)ty.i1 * L;
    return ms_torch_bilerp(generic, a[tx.i0], a[tx.i1], b[tx.i0], b[tx.i1], ty, tx);
}

static void sam_put(float v, size_t p, float *out, uint8_t label, uint8_t *labels) {
    if (out) out[p] = v;
    if (labels && v > 0.0f && labels[p] < label) labels[p] = label;
}

/* The same without any allocation, one output pixel at a time (when memory runs out). */
static void sam_rows_slow(const float *logits, int L, int S, int newh, int neww, int H, int W, ms_sam_kernels k,
                          int y0, int y1, float *out, uint8_t label, uint8_t *labels) {
    for (int y = y0; y < y1; y++) {
        const ms_torch_tap ty = ms_torch_tap_at(newh, H, y);
        for (int x = 0; x < W; x++) {
            const ms_torch_tap tx = ms_torch_tap_at(neww, W, x);
            const float a0 = sam_stage1_at(logits, L, S, k.generic_up, ty.i0, tx.i0);
            const float a1 = sam_stage1_at(logits, L, S, k.generic_up, ty.i0, tx.i1);
            const float b0 = sam_stage1_at(logits, L, S, k.generic_up, ty.i1, tx.i0);
            const float b1 = sam_stage1_at(logits, L, S, k.generic_up, ty.i1, tx.i1);
            sam_put(ms_torch_bilerp(k.generic_down, a0, a1, b0, b1, ty, tx), (size_t)y * W + x, out, label, labels);
        }
    }
}

// ref: sam.py:Sam.postprocess_masks (+ predictor.py:predict_torch's masks > mask_threshold)
void ms_sam_postprocess_rows(const float *logits, int L, int S, int newh, int neww, int H, int W, ms_sam_kernels k,
                             int y0, int y1, float *out, uint8_t label, uint8_t *labels) {
    if (y0 < 0) y0 = 0;
    if (y1 > H) y1 = H;
    if (y0 >= y1) return;
    int r_lo = newh, r_hi = 0; // stage-1 rows the output rows [y0, y1) read
    for (int y = y0; y < y1; y++) {
        const ms_torch_tap t = ms_torch_tap_at(newh, H, y);
        r_lo = t.i0 < r_lo ? t.i0 : r_lo;
        r_hi = t.i1 > r_hi ? t.i1 : r_hi;
    }
    ms_torch_tap *up = malloc((size_t)S * sizeof *up);                                        // (S) L -> S
    ms_torch_tap *dy = malloc((size_t)H * sizeof *dy), *dx = malloc((size_t)W * sizeof *dx); // crop -> H x W
    float *mid = malloc((size_t)(r_hi - r_lo + 1) * neww * sizeof(float));               // (rows, neww)
    if (!up || !dy || !dx || !mid) {
        free(up), free(dy), free(dx), free(mid);
        sam_rows_slow(logits, L, S, newh, neww, H, W, k, y0, y1, out, label, labels);
        return;
    }
    sam_taps(L, S, up);
    sam_taps(newh, H, dy);
    sam_taps(neww, W, dx);
    // stage 1: rows r_lo..r_hi, columns 0..neww-1 of the S x S upscaled logits (the crop)
    for (int r = r_lo; r <= r_hi; r++) {
        const ms_torch_tap ty = up[r];
        const float *a = logits + (size_t)ty.i0 * L, *b = logits + (size_t)ty.i1 * L;
        float *m = mid + (size_t)(r - r_lo) * neww;
        for (int x = 0; x < neww; x++) {
            const ms_torch_tap tx = up[x];
            m[x] = ms_torch_bilerp(k.generic_up, a[tx.i0], a[tx.i1], b[tx.i0], b[tx.i1], ty, tx);
        }
    }
    // stage 2: the crop to H x W, then > 0
    for (int y = y0; y < y1; y++) {
        const ms_torch_tap ty = dy[y];
        const float *a = mid + (size_t)(ty.i0 - r_lo) * neww, *b = mid + (size_t)(ty.i1 - r_lo) * neww;
        for (int x = 0; x < W; x++) {
            const ms_torch_tap tx = dx[x];
            sam_put(ms_torch_bilerp(k.generic_down, a[tx.i0], a[tx.i1], b[tx.i0], b[tx.i1], ty, tx), (size_t)y * W + x, out,
                    label, labels);
        }
    }
    free(up), free(dy), free(dx), free(mid);
}
