/* conv.c — patch-embed, 1x1 and 3x3 convolutions as im2col + GEMM (see conv.h). */
#include "ops/conv.h"

#include <string.h>

#include "ops/ops.h"

size_t conv_patchify_col_floats(int Cin, int H, int W, int P) {
    return (size_t)(H / P) * (W / P) * Cin * P * P;
}

// ref: image_encoder.py:PatchEmbed.forward -- x = self.proj(x); x = x.permute(0, 2, 3, 1)
void conv_patchify_forward(float *out, const float *in, const float *weight, const float *bias, int Cin, int H, int W,
                           int Cout, int P, float *col, int nthreads) {
    const int Gh = H / P, Gw = W / P, K = Cin * P * P;
    /* col row t = patch (gy, gx), ordered (c, ky, kx) like a row of weight */
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int gy = 0; gy < Gh; gy++)
        for (int gx = 0; gx < Gw; gx++) {
            float *dst = col + ((size_t)gy * Gw + gx) * K;  // (Cin, P, P)
            for (int c = 0; c < Cin; c++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(dst + ((size_t)c * P + ky) * P, in + ((size_t)c * H + gy * P + ky) * W + (size_t)gx * P,
                           (size_t)P * sizeof(float));
        }
    linear_forward(out, col, K, weight, bias, (long)Gh * Gw, K, Cout, nthreads);
}

// ref: torch.nn.Conv2d(kernel_size=1) on channels-last data (image_encoder.py neck.0)
void conv1x1_forward(float *out, const float *in, const float *weight, const float *bias, long N, int Cin, int Cout,
                     int nthreads) {
    linear_forward(out, in, Cin, weight, bias, N, Cin, Cout, nthreads);
}

size_t conv3x3_col_floats(int Cin, int H, int W) { return (size_t)H * W * Cin * 9; }

// ref: torch.nn.Conv2d(kernel_size=3, padding=1) (image_encoder.py neck.2)
void conv3x3_forward(float *out, const float *in, const float *weight, const float *bias, int H, int W, int Cin,
                     int Cout, float *col, int nthreads) {
    const int K = Cin * 9;
    /* col row (y, x), ordered (c, ky, kx) like a row of weight; zeros outside the image */
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float *dst = col + ((size_t)y * W + x) * K;  // (Cin, 3, 3)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    const int sy = y + ky - 1, sx = x + kx - 1, o = ky * 3 + kx;
                    if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
                        for (int c = 0; c < Cin; c++) dst[(size_t)c * 9 + o] = 0.0f;
                    } else {
                        const float *src = in + ((size_t)sy * W + sx) * Cin;  // (Cin)
                        for (int c = 0; c < Cin; c++) dst[(size_t)c * 9 + o] = src[c];
                    }
                }
        }
    linear_forward(out, col, K, weight, bias, (long)H * W, K, Cout, nthreads);
}

void conv2d_ref(float *out, const float *in, const float *weight, const float *bias, int Cin, int H, int W, int Cout,
                int K, int stride, int pad) {
    const int Ho = (H + 2 * pad - K) / stride + 1, Wo = (W + 2 * pad - K) / stride + 1;
    for (int o = 0; o < Cout; o++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                double acc = bias ? bias[o] : 0.0;
                for (int c = 0; c < Cin; c++)
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++) {
                            const int sy = y * stride + ky - pad, sx = x * stride + kx - pad;
                            if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
                            acc += (double)weight[(((size_t)o * Cin + c) * K + ky) * K + kx] *
                                   in[((size_t)c * H + sy) * W + sx];
                        }
                out[((size_t)o * Ho + y) * Wo + x] = (float)acc;
            }
}
