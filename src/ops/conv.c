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

/* One pixel's im2col row: dst[c*9 + o] = taps[o][c] (a NULL tap is zero padding). */
static void conv3x3_col_pixel(float *dst, const float *const taps[9], int Cin) {
    for (int o = 0; o < 9; o++) {
        const float *src = taps[o];  // (Cin) or NULL
        if (!src)
            for (int c = 0; c < Cin; c++) dst[(size_t)c * 9 + o] = 0.0f;
        else
            for (int c = 0; c < Cin; c++) dst[(size_t)c * 9 + o] = src[c];
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include "ops/gemm_x86.h"

/* The same, eight channels at a time (Cin a multiple of 8): taps 0..7 of channels c..c+7
 * are an 8x8 transpose, written as eight runs of 8 floats at dst + (c+j)*9; tap 8 lane by lane. */
GEMM_AVX2 static void conv3x3_col_pixel_avx2(float *dst, const float *const taps[9], int Cin) {
    for (int c = 0; c < Cin; c += 8) {
        __m256 v[8];
        for (int o = 0; o < 8; o++) v[o] = taps[o] ? _mm256_loadu_ps(taps[o] + c) : _mm256_setzero_ps();
        _Alignas(32) float last[8];
        _mm256_store_ps(last, taps[8] ? _mm256_loadu_ps(taps[8] + c) : _mm256_setzero_ps());
        gemm_avx2_transpose8(v);
        float *d = dst + (size_t)c * 9;
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(d + j * 9, v[j]), d[j * 9 + 8] = last[j];
    }
}

static int conv3x3_col_avx2_ok(int Cin) {
    return Cin % 8 == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define conv3x3_col_pixel_avx2(dst, taps, Cin) conv3x3_col_pixel(dst, taps, Cin)
static int conv3x3_col_avx2_ok(int Cin) { (void)Cin; return 0; }
#endif

void conv3x3_im2col(float *col, const float *in, int H, int W, int Cin, long p0, long p1) {
    const int fast = conv3x3_col_avx2_ok(Cin);
    for (long p = p0; p < p1; p++) {
        const int y = (int)(p / W), x = (int)(p % W);
        const float *taps[9];
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                const int sy = y + ky - 1, sx = x + kx - 1;
                taps[ky * 3 + kx] = sy < 0 || sy >= H || sx < 0 || sx >= W ? NULL : in + ((size_t)sy * W + sx) * Cin;
            }
        float *dst = col + (size_t)(p - p0) * Cin * 9;  // (Cin, 3, 3)
        if (fast)
            conv3x3_col_pixel_avx2(dst, taps, Cin);
        else
            conv3x3_col_pixel(dst, taps, Cin);
    }
}

// ref: torch.nn.Conv2d(kernel_size=3, padding=1) (image_encoder.py neck.2)
void conv3x3_forward(float *out, const float *in, const float *weight, const float *bias, int H, int W, int Cin,
                     int Cout, float *col, int nthreads) {
    const int K = Cin * 9;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int y = 0; y < H; y++) conv3x3_im2col(col + (size_t)y * W * K, in, H, W, Cin, (long)y * W, (long)(y + 1) * W);
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
