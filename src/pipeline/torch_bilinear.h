/* torch_bilinear.h — torch 1.13's CPU bilinear interpolation (align_corners=False),
 * shared by the pipelines that reproduce F.interpolate on logits (lite, sam).
 * torch picks one of two kernels, which round differently: the channels-last
 * kernel (float weights, double sum) for contiguous inputs, and the generic
 * N-d kernel (t0 * w0 + t1 * w1 contracted to fused multiply-adds) for strided
 * views such as a crop narrower than its rows. */
#ifndef MS_TORCH_BILINEAR_H
#define MS_TORCH_BILINEAR_H

typedef struct {
    int i0, i1;    /* the two source indices */
    float l0, l1;  /* their weights */
} ms_torch_tap;

/* Output index d of an in -> out resize: its source taps.
 * ref: ATen/native/UpSample.h:compute_source_index_and_lambda (align_corners=False, scale in/out) */
ms_torch_tap ms_torch_tap_at(int in, int out, int d);

/* One output value from the four neighbours: a0, a1 on source row ty.i0 (columns tx.i0,
 * tx.i1), b0, b1 on row ty.i1. generic: the N-d kernel's rounding, else channels-last. */
float ms_torch_bilerp(int generic, float a0, float a1, float b0, float b1, ms_torch_tap ty, ms_torch_tap tx);

#endif
