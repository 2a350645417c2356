/* dwconv.c — depthwise convolution, channels-last (see dwconv.h). */
#include "ops/dwconv.h"

#include <stddef.h>

#include "ops/vecmath.h"

/* One output pixel, channels [c0, C): acc = sum of taps (row-major), then + bias. */
static void dw_pixel_portable(float *o, const float *const *rows, const float *w, const float *b, int W, int C, int k,
                              int ix0, int c0) {
    for (int ch = c0; ch < C; ch++) o[ch] = 0.0f;
    for (int ky = 0; ky < k; ky++) {
        if (!rows[ky]) continue;
        for (int kx = 0; kx < k; kx++) {
            const int ix = ix0 + kx;
            if (ix < 0 || ix >= W) continue;
            const float *ip = rows[ky] + (size_t)ix * C, *wp = w + (size_t)(ky * k + kx) * C;
            for (int ch = c0; ch < C; ch++) o[ch] += ip[ch] * wp[ch];
        }
    }
    for (int ch = c0; ch < C; ch++) o[ch] += b[ch];
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DW_AVX2 __attribute__((target("avx2,fma")))
#define DW_AVX512 __attribute__((target("avx512f,avx2,fma")))

/* Channels [c0, c0 + 8) of one pixel with fused multiply-adds. */
DW_AVX2 static inline void dw_chunk8(float *o, const float *const *rows, const float *w, const float *b, int W, int C,
                                     int k, int ix0, int c0) {
    __m256 acc = _mm256_setzero_ps();
    for (int ky = 0; ky < k; ky++) {
        if (!rows[ky]) continue;
        for (int kx = 0; kx < k; kx++) {
            const int ix = ix0 + kx;
            if (ix < 0 || ix >= W) continue;
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(rows[ky] + (size_t)ix * C + c0),
                                  _mm256_loadu_ps(w + (size_t)(ky * k + kx) * C + c0), acc);
        }
    }
    _mm256_storeu_ps(o + c0, _mm256_add_ps(acc, _mm256_loadu_ps(b + c0)));
}

/* Channels [0, C - C % 8) of one pixel; returns that count. */
DW_AVX2 static int dw_pixel_avx2(float *o, const float *const *rows, const float *w, const float *b, int W, int C, int k,
                                 int ix0) {
    const int cv = C - C % 8;
    for (int c0 = 0; c0 < cv; c0 += 8) dw_chunk8(o, rows, w, b, W, C, k, ix0, c0);
    return cv;
}

/* The same, 16 channels at a time (the same fused operations per element, so the same bits). */
DW_AVX512 static int dw_pixel_avx512(float *o, const float *const *rows, const float *w, const float *b, int W, int C,
                                     int k, int ix0) {
    const int c16 = C - C % 16;
    for (int c0 = 0; c0 < c16; c0 += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (int ky = 0; ky < k; ky++) {
            if (!rows[ky]) continue;
            for (int kx = 0; kx < k; kx++) {
                const int ix = ix0 + kx;
                if (ix < 0 || ix >= W) continue;
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(rows[ky] + (size_t)ix * C + c0),
                                      _mm512_loadu_ps(w + (size_t)(ky * k + kx) * C + c0), acc);
            }
        }
        _mm512_storeu_ps(o + c0, _mm512_add_ps(acc, _mm512_loadu_ps(b + c0)));
    }
    if (C - c16 >= 8) {
        dw_chunk8(o, rows, w, b, W, C, k, ix0, c16);
        return c16 + 8;
    }
    return c16;
}

static int dw_path(void) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
}
#else
static int dw_path(void) { return 0; }
#define dw_pixel_avx2(o, rows, w, b, W, C, k, x) 0
#define dw_pixel_avx512(o, rows, w, b, W, C, k, x) 0
#endif

static void dw_row(float *out, const float *const *rows, const float *weight, const float *bias, int W, int C, int k,
                   int stride, int gelu, int path) {
    const int pad = k / 2, Wo = (W + 2 * pad - k) / stride + 1;
    for (int ox = 0; ox < Wo; ox++) {
        float *o = out + (size_t)ox * C;
        const int ix0 = ox * stride - pad;
        int done = 0;
        if (path == 2)
            done = dw_pixel_avx512(o, rows, weight, bias, W, C, k, ix0);
        else if (path == 1)
            done = dw_pixel_avx2(o, rows, weight, bias, W, C, k, ix0);
        if (done < C) dw_pixel_portable(o, rows, weight, bias, W, C, k, ix0, done);
    }
    if (gelu) vec_gelu_erf_forward(out, (long)Wo * C);
}

void dwconv_row(float *out, const float *const *rows, const float *weight, const float *bias, int W, int C, int k,
                int stride, int gelu) {
    dw_row(out, rows, weight, bias, W, C, k, stride, gelu, dw_path());
}

static void dw_run(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                   int stride, int gelu, int nthreads, int path) {
    const int pad = k / 2, Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    const int nt = nthreads < 1 ? 1 : nthreads;
    if (k > DWCONV_MAX_K) return;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && Ho > 1)
    for (int oy = 0; oy < Ho; oy++) {
        const float *rows[DWCONV_MAX_K];
        for (int ky = 0; ky < k; ky++) {
            const int iy = oy * stride - pad + ky;
            rows[ky] = iy >= 0 && iy < H ? in + (size_t)iy * W * C : NULL;
        }
        dw_row(out + (size_t)oy * Wo * C, rows, weight, bias, W, C, k, stride, gelu, path);
    }
}

void dwconv_forward(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                    int stride, int gelu, int nthreads) {
    dw_run(out, in, weight, bias, H, W, C, k, stride, gelu, nthreads, dw_path());
}

void dwconv_forward_portable(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C,
                             int k, int stride, int gelu, int nthreads) {
    dw_run(out, in, weight, bias, H, W, C, k, stride, gelu, nthreads, 0);
}

void dwconv_ref(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                int stride) {
    const int pad = k / 2, Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    for (int ch = 0; ch < C; ch++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                double acc = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                            acc += (double)in[((size_t)ch * H + iy) * W + ix] * weight[((size_t)ch * k + ky) * k + kx];
                    }
                out[((size_t)ch * Ho + oy) * Wo + ox] = (float)(acc + (bias ? bias[ch] : 0.0f));
            }
}
