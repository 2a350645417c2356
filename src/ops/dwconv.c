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

/* 3x3 kernels, channels a multiple of 16: output pixels [ox0, ox1), all of whose taps lie
 * inside the row (no column padding), four at a time, so that four independent
 * accumulation chains (and the next channel block's) are in flight instead of one; the
 * four pixels' inputs are neighbours, in L1 together. Each element gets dw_pixel_avx512's
 * operations in its order (row-major taps, rows in the padding skipped, then + bias): the
 * same bits. out: (Wo, C); rows[ky]: (W, C) or NULL */
DW_AVX512 static void dw_interior3_avx512(float *out, const float *const *rows, const float *w, const float *b, int W,
                                          int C, int stride, int ox0, int ox1) {
    const size_t step = (size_t)stride * C;  // floats from one output pixel's first tap to the next one's
    int ox = ox0;
    for (; ox + 4 <= ox1; ox += 4)
        for (int c0 = 0; c0 < C; c0 += 16) {
            __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky]) continue;
                const float *q = rows[ky] + (size_t)(ox * stride - 1) * C + c0;  // the first tap of pixel ox
                for (int kx = 0; kx < 3; kx++, q += C) {
                    const __m512 wt = _mm512_loadu_ps(w + (size_t)(ky * 3 + kx) * C + c0);
                    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(q), wt, acc0);
                    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + step), wt, acc1);
                    acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 2 * step), wt, acc2);
                    acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 3 * step), wt, acc3);
                }
            }
            const __m512 bv = _mm512_loadu_ps(b + c0);
            float *o = out + (size_t)ox * C + c0;
            _mm512_storeu_ps(o, _mm512_add_ps(acc0, bv));
            _mm512_storeu_ps(o + C, _mm512_add_ps(acc1, bv));
            _mm512_storeu_ps(o + 2 * (size_t)C, _mm512_add_ps(acc2, bv));
            _mm512_storeu_ps(o + 3 * (size_t)C, _mm512_add_ps(acc3, bv));
        }
    for (; ox < ox1; ox++) dw_pixel_avx512(out + (size_t)ox * C, rows, w, b, W, C, 3, ox * stride - 1);
}

/* dw_interior3_avx512 for AVX2 (C a multiple of 16): four pixels by sixteen channels, eight
 * accumulation chains; each element gets dw_chunk8's operations in its order, so the same bits. */
#define DW3_TAP(acc, q, wt) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q), wt, acc)
DW_AVX2 static void dw_interior3_avx2(float *out, const float *const *rows, const float *w, const float *b, int W,
                                      int C, int stride, int ox0, int ox1) {
    const size_t step = (size_t)stride * C;
    int ox = ox0;
    for (; ox + 4 <= ox1; ox += 4)
        for (int c0 = 0; c0 < C; c0 += 16) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int ky = 0; ky < 3; ky++) {
                if (!rows[ky]) continue;
                const float *q = rows[ky] + (size_t)(ox * stride - 1) * C + c0;
                for (int kx = 0; kx < 3; kx++, q += C) {
                    const float *wp = w + (size_t)(ky * 3 + kx) * C + c0;
                    const __m256 wa = _mm256_loadu_ps(wp), wb = _mm256_loadu_ps(wp + 8);
                    DW3_TAP(a0, q, wa), DW3_TAP(b0, q + 8, wb);
                    DW3_TAP(a1, q + step, wa), DW3_TAP(b1, q + step + 8, wb);
                    DW3_TAP(a2, q + 2 * step, wa), DW3_TAP(b2, q + 2 * step + 8, wb);
                    DW3_TAP(a3, q + 3 * step, wa), DW3_TAP(b3, q + 3 * step + 8, wb);
                }
            }
            const __m256 ba = _mm256_loadu_ps(b + c0), bb = _mm256_loadu_ps(b + c0 + 8);
            float *o = out + (size_t)ox * C + c0;
            _mm256_storeu_ps(o, _mm256_add_ps(a0, ba)), _mm256_storeu_ps(o + 8, _mm256_add_ps(b0, bb));
            o += C;
            _mm256_storeu_ps(o, _mm256_add_ps(a1, ba)), _mm256_storeu_ps(o + 8, _mm256_add_ps(b1, bb));
            o += C;
            _mm256_storeu_ps(o, _mm256_add_ps(a2, ba)), _mm256_storeu_ps(o + 8, _mm256_add_ps(b2, bb));
            o += C;
            _mm256_storeu_ps(o, _mm256_add_ps(a3, ba)), _mm256_storeu_ps(o + 8, _mm256_add_ps(b3, bb));
        }
    for (; ox < ox1; ox++) dw_pixel_avx2(out + (size_t)ox * C, rows, w, b, W, C, 3, ox * stride - 1);
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

/* One output row (see dwconv_row). path: 0 portable, 1 AVX2, 2 AVX-512; interior: 1 lets a 3x3
 * kernel take the interior pixels four at a time (0: one at a time, the tests' reference). */
static void dw_row(float *out, const float *const *rows, const float *weight, const float *bias, int W, int C, int k,
                   int stride, int gelu, int path, int interior) {
    const int pad = k / 2, Wo = (W + 2 * pad - k) / stride + 1;
    int in0 = 0, in1 = 0;  // output pixels [in0, in1) handled by the 3x3 interior kernel (none by default)
#if defined(__x86_64__) || defined(__i386__)
    if (interior && path >= 1 && k == 3 && C % 16 == 0) {
        in0 = 1;                     // ox * stride - 1 >= 0
        in1 = (W - 2) / stride + 1;  // ox * stride + 1 <= W - 1
        if (in1 > Wo) in1 = Wo;
        if (in1 > in0) {
            if (path == 2)
                dw_interior3_avx512(out, rows, weight, bias, W, C, stride, in0, in1);
            else
                dw_interior3_avx2(out, rows, weight, bias, W, C, stride, in0, in1);
        }
    }
#endif
    for (int ox = 0; ox < Wo; ox++) {
        if (ox >= in0 && ox < in1) continue;  // done above
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
    dw_row(out, rows, weight, bias, W, C, k, stride, gelu, dw_path(), 1);
}

static void dw_run(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                   int stride, int gelu, int nthreads, int path, int interior) {
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
        dw_row(out + (size_t)oy * Wo * C, rows, weight, bias, W, C, k, stride, gelu, path, interior);
    }
}

void dwconv_forward(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                    int stride, int gelu, int nthreads) {
    dw_run(out, in, weight, bias, H, W, C, k, stride, gelu, nthreads, dw_path(), 1);
}

void dwconv_forward_avx2(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C, int k,
                         int stride, int gelu, int nthreads) {
    dw_run(out, in, weight, bias, H, W, C, k, stride, gelu, nthreads, dw_path() >= 1 ? 1 : 0, 0);
}

void dwconv_forward_avx2_interior(float *out, const float *in, const float *weight, const float *bias, int H, int W,
                                  int C, int k, int stride, int gelu, int nthreads) {
    dw_run(out, in, weight, bias, H, W, C, k, stride, gelu, nthreads, dw_path() >= 1 ? 1 : 0, 1);
}

void dwconv_forward_portable(float *out, const float *in, const float *weight, const float *bias, int H, int W, int C,
                             int k, int stride, int gelu, int nthreads) {
    dw_run(out, in, weight, bias, H, W, C, k, stride, gelu, nthreads, 0, 0);
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
