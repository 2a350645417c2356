/* torch_bilinear.c — torch 1.13's two bilinear CPU kernels (see torch_bilinear.h). */
#include "pipeline/torch_bilinear.h"

#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* fused multiply-adds only where torch has them (fmaf below) */
#endif

ms_torch_tap ms_torch_tap_at(int in, int out, int d) {
    if (in == out) return (ms_torch_tap){d, d, 1.0f, 0.0f};
    const float scale = (float)in / (float)out;
    double src = (double)scale * ((double)d + 0.5) - 0.5;
    if (src < 0) src = 0;
    ms_torch_tap t;
    t.i0 = (int)src < in - 1 ? (int)src : in - 1;
    t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
    const double l1 = src - (double)t.i0;
    t.l1 = (float)(l1 < 0 ? 0 : l1 > 1 ? 1 : l1);
    t.l0 = 1.0f - t.l1;
    return t;
}

float ms_torch_bilerp(int generic, float a0, float a1, float b0, float b1, ms_torch_tap ty, ms_torch_tap tx) {
    if (generic) { // ref: UpSampleKernel.cpp:Interpolate<2, float, int64_t, 2>::eval (t0 * w0 + t1 * w1, fused)
        const float ra = fmaf(a0, tx.l0, a1 * tx.l1), rb = fmaf(b0, tx.l0, b1 * tx.l1);
        return fmaf(ra, ty.l0, rb * ty.l1);
    }
    // ref: UpSampleKernel.cpp:cpu_upsample_linear_channels_last (float weights, double sum)
    const float w00 = ty.l0 * tx.l0, w01 = ty.l0 * tx.l1, w10 = ty.l1 * tx.l0, w11 = ty.l1 * tx.l1;
    double acc = (double)w00 * a0 + (double)w01 * a1;
    acc += (double)w10 * b0;
    acc += (double)w11 * b1;
    return (float)acc;
}
