/* dwconv.h — depthwise 2-D convolution on channels-last data (TinyViT's
 * Conv2d(groups=C) layers with BatchNorm folded into weight and bias).
 *
 * ref: torch.nn.functional.conv2d(x, w, b, stride, padding=k//2, groups=C)
 *
 * Each output element is acc = sum over the k*k taps in row-major tap order
 * (ky, kx), skipping taps in the zero padding, then acc + bias; the AVX-512 and
 * AVX2 paths fuse each multiply-add (the same bits as each other), the
 * portable path rounds the product first (agrees to rounding). Threads split
 * output rows, so results do not depend on nthreads.
 */
#ifndef MS_OPS_DWCONV_H
#define MS_OPS_DWCONV_H

#define DWCONV_MAX_K 7 /* largest kernel side */

/* out:    (Ho*Wo, C), Ho = (H + 2*(k/2) - k)/stride + 1 (same for Wo)
 * in:     (H*W, C)
 * weight: (k*k, C) tap-major (the PyTorch (C, 1, k, k) weight transposed)
 * bias:   (C)
 * k:      odd, at most DWCONV_MAX_K (nothing is written otherwise)
 * gelu:   1 applies the exact-erf GELU (vec_gelu_erf_forward) to each output row */
void dwconv_forward(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                    int stride, int gelu, int nthreads);

/* One output row from its k input rows: rows[ky] is the input row (W, C) that
 * tap row ky reads, or NULL where it falls in the zero padding; out: (Wo, C).
 * The arithmetic of dwconv_forward (same bits). */
void dwconv_row(float *out, const float *const *rows, const float *weight, const float *bias, int W, int C, int k,
                int stride, int gelu);

/* Same on the AVX2 path, one output pixel at a time, where the CPU has AVX2 + FMA, else the
 * portable one (for tests: every faster path, the four-pixel 3x3 kernels included, gives
 * its bits). */
void dwconv_forward_avx2(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                         int stride, int gelu, int nthreads);

/* Same on the AVX2 path with its four-pixel 3x3 kernel (for tests on AVX-512 CPUs too). */
void dwconv_forward_avx2_interior(float *out, const float *in, const float *weight, const float *bias, int H, int W,
                                  int C, int k, int stride, int gelu, int nthreads);

/* Same on the portable path whatever the CPU (for tests). */
void dwconv_forward_portable(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C,
                             int k, int stride, int gelu, int nthreads);

/* Plain direct convolution, NCHW in and out, double accumulation: the reference.
 * out: (C, Ho, Wo); in: (C, H, W); weight: (C, 1, k, k) (PyTorch layout); bias: (C) or NULL */
void dwconv_ref(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                int stride);

#endif
