/* postprocess_lite.c — crop, torch bilinear, sigmoid, > 0.5 (see postprocess_lite.h). */
#include "pipeline/postprocess_lite.h"

#include <math.h>
#include <stdlib.h>

#include "pipeline/postprocess.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* only the explicit fmaf calls fuse */
#endif

typedef struct {
    long i0, i1;
    float l0, l1;
} tap;

// ref: ATen/native/UpSample.h:compute_source_index_and_lambda (align_corners=False)
static tap source_tap(float scale, long dst, long in, long out) {
    tap t;
    if (in == out) {
        t.i0 = t.i1 = dst, t.l0 = 1.0f, t.l1 = 0.0f;
        return t;
    }
    double src = (double)scale * ((double)dst + 0.5) - 0.5;
    if (src < 0) src = 0;
    t.i0 = (long)src < in - 1 ? (long)src : in - 1;
    t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
    double l1 = src - (double)t.i0;
    t.l1 = (float)(l1 < 0 ? 0 : l1 > 1 ? 1 : l1);
    t.l0 = 1.0f - t.l1;
    return t;
}

void ms_lite_upsample_rows(const float *logits, int L, int nh, int nw, int h, int w, int y0, int y1, float *out) {
    const float sy = (float)nh / (float)h, sx = (float)nw / (float)w;
    tap *tx = malloc((size_t)w * sizeof *tx);
    const int generic = nw < L; // the crop is not contiguous: upsample_generic_Nd_kernel_impl
    for (long x = 0; tx && x < w; x++) tx[x] = source_tap(sx, x, nw, w);
    for (long y = y0; y < y1; y++) {
        const tap ty = source_tap(sy, y, nh, h);
        const float *r0 = logits + ty.i0 * L, *r1 = logits + ty.i1 * L; // rows of the (L, L) logits
        float *o = out + (y - y0) * (long)w;
        for (long x = 0; x < w; x++) {
            const tap t = tx ? tx[x] : source_tap(sx, x, nw, w);
            const float v00 = r0[t.i0], v01 = r0[t.i1], v10 = r1[t.i0], v11 = r1[t.i1];
            if (generic) {
                // ref: UpSampleKernel.cpp:Interpolate<2, float, int64_t, 2>::eval (t0 * w0 + t1 * w1, fused)
                const float a = fmaf(v00, t.l0, v01 * t.l1), b = fmaf(v10, t.l0, v11 * t.l1);
                o[x] = fmaf(a, ty.l0, b * ty.l1);
            } else {
                // ref: UpSampleKernel.cpp:cpu_upsample_linear_channels_last (float weights, double sum)
                const float w00 = ty.l0 * t.l0, w01 = ty.l0 * t.l1, w10 = ty.l1 * t.l0, w11 = ty.l1 * t.l1;
                double acc = (double)w00 * v00 + (double)w01 * v01;
                acc += (double)w10 * v10;
                acc += (double)w11 * v11;
                o[x] = (float)acc;
            }
        }
    }
    free(tx);
}

/* ms_sigmoid_torch(v) > 0.5f, computed only where it can differ from v > 0: a logit
 * v <= 0 (or NaN) gives exp(-v) >= 1, so a probability <= 0.5; v > 1e-4 gives at most
 * 1 / (1.9999 + 1) -> 0.500025, far above 0.5 in float; in between (where float
 * rounding can make sigmoid(v) exactly 0.5) the torch formula decides. Same masks. */
static int lite_above_half(float v) {
    if (v > 1e-4f) return 1;
    return v > 0.0f && ms_sigmoid_torch(v) > 0.5f;
}

/* Rows [y0, y1) in bands of up to 64 rows through a row buffer (one row when memory is short). */
void ms_lite_label_rows(const float *logits, int L, int nh, int nw, int h, int w, int y0, int y1, uint8_t label,
                        uint8_t *labels) {
    if (y0 < 0) y0 = 0;
    if (y1 > h) y1 = h;
    if (y0 >= y1) return;
    int band = 64;
    float *v = malloc((size_t)band * w * sizeof(float)); // (band, w)
    if (!v) band = 1, v = malloc((size_t)w * sizeof(float));
    if (!v) return; // no memory for one row: labels stay as they are
    for (int b0 = y0; b0 < y1; b0 += band) {
        const int b1 = b0 + band < y1 ? b0 + band : y1;
        ms_lite_upsample_rows(logits, L, nh, nw, h, w, b0, b1, v);
        for (long y = b0; y < b1; y++)
            for (long x = 0; x < w; x++) {
                uint8_t *p = labels + y * (long)w + x;
                if (lite_above_half(v[(y - b0) * (long)w + x]) && *p < label) *p = label;
            }
    }
    free(v);
}

void ms_lite_prob(const float *logits, int L, int nh, int nw, int h, int w, float *prob) {
    ms_lite_upsample_rows(logits, L, nh, nw, h, w, 0, h, prob);
    for (long p = 0; p < (long)h * w; p++) prob[p] = ms_sigmoid_torch(prob[p]);
}
