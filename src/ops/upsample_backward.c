/* upsample_backward.c — backward of the bilinear resize with align_corners=False
 * (ms_upsample_bilinear_f32; F.interpolate(mode="bilinear")), see backward.h. */
#include <math.h>

#include "ops/backward.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF  // only the explicit fmaf below is fused
#endif

/* One axis of torch 1.13's compute_source_index_and_lambda (UpSample.h) for float:
 * scale = (float)in / (float)out; src = scale * (dst + 0.5) - 0.5 in double (its
 * accscalar_t), clamped at 0; i0 = (int)src, i1 = i0 + (i0 < in-1);
 * l1 = (float)(src - i0), l0 = 1 - l1 (float). Equal sizes copy (i0 = i1 = dst,
 * l0 = 1, l1 = 0). */
typedef struct {
    int i0, i1;
    float l0, l1;
} upb_tap;

static upb_tap upb_source(float scale, int dst, int in, int out) {
    upb_tap t;
    if (in == out) {
        t.i0 = t.i1 = dst;
        t.l0 = 1.0f, t.l1 = 0.0f;
        return t;
    }
    double src = (double)scale * (dst + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    t.i0 = (int)src;
    t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
    t.l1 = (float)(src - t.i0);
    t.l0 = 1.0f - t.l1;
    return t;
}

/* torch (UpSampleMoreKernel.cpp, upsample_bilinear2d_backward) adds, for each
 * output pixel in raster order, w = h0*w0 (float) times g to (i0, j0), then h0*w1
 * to (i0, j1), h1*w0 to (i1, j0), h1*w1 to (i1, j1); its AVX2 build contracts
 * acc += w * g into one fused multiply-add, hence fmaf (exact on any CPU).
 * Restricted to the taps that land in input row r, the same loop gives every
 * element of row r its additions in the same order, so rows are independent
 * work items with torch's exact sums. */
static void upb_row(float *drow, const float *dplane, int r, int ih, int iw, int oh, int ow, float hs, float ws) {
    for (int y = 0; y < oh; y++) {
        const upb_tap ty = upb_source(hs, y, ih, oh);
        if (ty.i0 != r && ty.i1 != r) continue;
        const float *g = dplane + (long)y * ow;  // (ow)
        for (int x = 0; x < ow; x++) {
            const upb_tap tx = upb_source(ws, x, iw, ow);
            const float v = g[x];
            if (ty.i0 == r) {
                drow[tx.i0] = fmaf(v, ty.l0 * tx.l0, drow[tx.i0]);  // i00
                drow[tx.i1] = fmaf(v, ty.l0 * tx.l1, drow[tx.i1]);  // i01
            }
            if (ty.i1 == r) {
                drow[tx.i0] = fmaf(v, ty.l1 * tx.l0, drow[tx.i0]);  // i10
                drow[tx.i1] = fmaf(v, ty.l1 * tx.l1, drow[tx.i1]);  // i11
            }
        }
    }
}

// ref: torch.nn.functional.interpolate(mode="bilinear", align_corners=False) backward
//      (train_one_gpu.py: MedSAM.forward upsamples the low-res logits to 1024 before the loss)
void upsample_bilinear_backward(float *dinp, const float *dout, int nplanes, int ih, int iw, int oh, int ow,
                                int nthreads) {
    const float hs = (float)ih / (float)oh, ws = (float)iw / (float)ow;
    const long items = (long)nplanes * ih;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 4) if (nthreads > 1 && items > 1)
    for (long it = 0; it < items; it++) {
        const long pl = it / ih;
        const int r = (int)(it % ih);
        upb_row(dinp + (pl * ih + r) * iw, dout + pl * oh * ow, r, ih, iw, oh, ow, hs, ws);
    }
}
