/* torch_bilinear.h — torch 1.13's CPU bilinear interpolation (align_corners=False),
 * shared by the pipelines that reproduce F.interpolate on logits (lite, sam).
 * torch picks one of two kernels, which round differently: the channels-last
 * kernel (float weights, double sum) for contiguous inputs, and the generic
 * N-d kernel (t0 * w0 + t1 * w1 contracted to fused multiply-adds) for strided
 * views such as a crop narrower than its rows. */
#ifndef MS_TORCH_BILINEAR_H
#define MS_TORCH_BILINEAR_H
#include <math.h>

typedef struct {
    int i0, i1;    /* the two source indices */
    float l0, l1;  /* their weights */
} ms_torch_tap;

/* Output index d of an in -> out resize: its source taps.
 * ref: ATen/native/UpSample.h:compute_source_index_and_lambda (align_corners=False, scale in/out) */
ms_torch_tap ms_torch_tap_at(int in, int out, int d);

/* One output value from the four neighbours: a0, a1 on source row ty.i0 (columns tx.i0,
 * tx.i1), b0, b1 on row ty.i1. generic: the N-d kernel's rounding, else channels-last.
 * Inline: called per output pixel (2 million for a 1411 x 1411 mask). */
static inline float ms_torch_bilerp(int generic, float a0, float a1, float b0, float b1, ms_torch_tap ty,
                                    ms_torch_tap tx) {
#if defined(__clang__)
#pragma clang fp contract(off) /* fused multiply-adds only where torch has them (fmaf below) */
#endif
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

#endif
