/* postprocess_lite.c — crop, torch bilinear, sigmoid, > 0.5 (see postprocess_lite.h). */
#include "pipeline/postprocess_lite.h"

#include <math.h>
#include <stdlib.h>

#include "pipeline/postprocess.h"
#include "pipeline/torch_bilinear.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* only the explicit fmaf calls fuse */
#endif

void ms_lite_upsample_rows(const float *logits, int L, int nh, int nw, int h, int w, int y0, int y1, float *out) {
    ms_torch_tap *tx = malloc((size_t)w * sizeof *tx);
    const int generic = nw < L; // the crop is not contiguous: upsample_generic_Nd_kernel_impl
    for (int x = 0; tx && x < w; x++) tx[x] = ms_torch_tap_at(nw, w, x);
    for (long y = y0; y < y1; y++) {
        const ms_torch_tap ty = ms_torch_tap_at(nh, h, (int)y);
        const float *r0 = logits + (long)ty.i0 * L, *r1 = logits + (long)ty.i1 * L; // rows of the (L, L) logits
        float *o = out + (y - y0) * (long)w;
        for (int x = 0; x < w; x++) {
            const ms_torch_tap t = tx ? tx[x] : ms_torch_tap_at(nw, w, x);
            o[x] = ms_torch_bilerp(generic, r0[t.i0], r0[t.i1], r1[t.i0], r1[t.i1], ty, t);
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
