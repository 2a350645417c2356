/* conv.h — the 2-D convolutions of the SAM image encoder, as im2col + GEMM.
 *
 * Weights keep PyTorch's nn.Conv2d layout (Cout, Cin, kh, kw). Activations are
 * channels-last (H*W, C) except the patch-embed input, which is the image in
 * CHW as the official code receives it. Each output element is computed by one
 * thread with a fixed operation order, so results do not depend on nthreads.
 */
#ifndef MS_OPS_CONV_H
#define MS_OPS_CONV_H
#include <stddef.h>

/* Non-overlapping P x P patches (kernel = stride = P, no padding), i.e. the ViT
 * patch embedding. ref: image_encoder.py:PatchEmbed.forward (proj, then permute to B H W C)
 * out: (H/P * W/P, Cout) channels-last; in: (Cin, H, W); weight: (Cout, Cin, P, P);
 * bias: (Cout) or NULL; col: conv_patchify_col_floats(...) floats of scratch.
 * H and W must be multiples of P. */
size_t conv_patchify_col_floats(int Cin, int H, int W, int P);
void conv_patchify_forward(float *out, const float *in, const float *weight, const float *bias, int Cin, int H, int W,
                           int Cout, int P, float *col, int nthreads);

/* 1x1 convolution on channels-last data (= a Linear over channels).
 * out: (N, Cout); in: (N, Cin); weight: (Cout, Cin, 1, 1); bias: (Cout) or NULL. */
void conv1x1_forward(float *out, const float *in, const float *weight, const float *bias, long N, int Cin, int Cout,
                     int nthreads);

/* 3x3 convolution, stride 1, zero padding 1, channels-last.
 * out: (H*W, Cout); in: (H*W, Cin); weight: (Cout, Cin, 3, 3); bias: (Cout) or NULL;
 * col: conv3x3_col_floats(...) floats of scratch. */
size_t conv3x3_col_floats(int Cin, int H, int W);
void conv3x3_forward(float *out, const float *in, const float *weight, const float *bias, int H, int W, int Cin,
                     int Cout, float *col, int nthreads);

/* The im2col rows of conv3x3_forward for output pixels [p0, p1) (pixel p = (p / W, p % W)):
 * col row p - p0 holds (Cin, 3, 3), zeros where a tap falls outside the image.
 * col: ((p1 - p0), Cin * 9); in: (H*W, Cin) */
void conv3x3_im2col(float *col, const float *in, int H, int W, int Cin, long p0, long p1);

/* Plain direct convolution (any kernel, stride, zero padding), NCHW in and out,
 * double accumulation, single-threaded: the reference the tests hold the fast
 * paths to. ref: torch.nn.functional.conv2d (groups=1, dilation=1)
 * out: (Cout, Ho, Wo), Ho = (H + 2*pad - K)/stride + 1; in: (Cin, H, W);
 * weight: (Cout, Cin, K, K); bias: (Cout) or NULL. */
void conv2d_ref(float *out, const float *in, const float *weight, const float *bias, int Cin, int H, int W, int Cout,
                int K, int stride, int pad);

#endif
