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
