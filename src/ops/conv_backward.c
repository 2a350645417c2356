/* conv_backward.c — backward of the patch-embed, 1x1 and 3x3 convolutions of
 * conv.h (im2col + GEMM, as the forwards; see backward.h). */
#include <string.h>

#include "ops/backward.h"
#include "ops/conv.h"
#include "ops/gemm.h"

// ref: image_encoder.py:PatchEmbed.forward -- Conv2d(kernel_size=P, stride=P); weight grad = dout^T im2col(in)
void conv_patchify_backward(float *dweight, float *dbias, const float *dout, const float *in, int Cin, int H, int W,
                            int Cout, int P, float *col, int nthreads) {
    const int Gh = H / P, Gw = W / P, K = Cin * P * P;
    if (dweight) {
        /* col row t = patch (gy, gx), ordered (c, ky, kx) like a row of weight */
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
        for (int gy = 0; gy < Gh; gy++)
            for (int gx = 0; gx < Gw; gx++) {
                float *dst = col + ((size_t)gy * Gw + gx) * K;  // (Cin, P, P)
                for (int c = 0; c < Cin; c++)
                    for (int ky = 0; ky < P; ky++)
                        memcpy(dst + ((size_t)c * P + ky) * P,
                               in + ((size_t)c * H + (size_t)gy * P + ky) * W + (size_t)gx * P,
                               (size_t)P * sizeof(float));
            }
    }
    linear_backward(NULL, dweight, dbias, dout, col, K, NULL, (long)Gh * Gw, K, Cout, nthreads);
}

// ref: torch.nn.Conv2d(kernel_size=1) on channels-last data (image_encoder.py neck.0)
void conv1x1_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                      const float *weight, long N, int Cin, int Cout, int nthreads) {
    linear_backward(dinp, dweight, dbias, dout, inp, Cin, weight, N, Cin, Cout, nthreads);
}

// ref: torch.nn.Conv2d(kernel_size=3, padding=1) (image_encoder.py neck.2):
//   dW = dout^T im2col(inp); dcol = dout W; dinp = col2im(dcol) (a gather per input pixel)
void conv3x3_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                      const float *weight, int H, int W, int Cin, int Cout, float *col, int nthreads) {
    const int K = Cin * 9;
    const long N = (long)H * W;
    if (dweight) {
        /* col row (y, x), ordered (c, ky, kx) like a row of weight; zeros outside the image */
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
        for (int y = 0; y < H; y++) conv3x3_im2col(col + (size_t)y * W * K, inp, H, W, Cin, (long)y * W, (long)(y + 1) * W);
    }
    linear_backward(NULL, dweight, dbias, dout, col, K, NULL, N, K, Cout, nthreads);
    if (!dinp) return;
    gemm_f32(0, 0, (int)N, K, Cout, 1.0f, dout, Cout, weight, K, 0.0f, col, K, nthreads);  // dcol: (H*W, Cin*9)
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int sy = 0; sy < H; sy++)
        for (int sx = 0; sx < W; sx++) {
            float *d = dinp + ((size_t)sy * W + sx) * Cin;  // (Cin)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    const int y = sy - ky + 1, x = sx - kx + 1, o = ky * 3 + kx;
                    if (y < 0 || y >= H || x < 0 || x >= W) continue;
                    const float *s = col + ((size_t)y * W + x) * K;  // (Cin, 3, 3)
                    for (int c = 0; c < Cin; c++) d[c] += s[(size_t)c * 9 + o];
                }
        }
}
