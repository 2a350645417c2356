/* gemm_avx512.c — AVX-512 micro-kernel (12x32: twenty-four zmm accumulators)
 * and its packers. Each element of C gets exactly the fused multiply-adds of
 * the AVX2 kernel (one accumulator, p in order, the same update), so the two
 * kernels give the same bits; the wider tile only doubles the work per
 * instruction on CPUs with full-width 512-bit FMA units (Zen 5, Intel server
 * cores). Compiled with function-level target attributes; gemm_kernel_avx512()
 * checks the CPU at run time. */
#include "ops/gemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ops/gemm_x86.h"

#define GEMM_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define MR5 12 /* micro-tile rows */
#define NR5 32 /* micro-tile columns (two 16-float vectors) */

/* Lanes < n set (n clamped to 0..16). */
static inline __mmask16 gemm_avx512_mask(int n) {
    return n <= 0 ? (__mmask16)0 : n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* ---- packers ---- */

/* out[p*MR5 + i] = src[i*ld + p] for i < 4, p < 8 (4x4 transposes of two column halves). */
GEMM_AVX512 static inline void gemm_avx512_pack_4x8(const float *src, long ld, float *out) {
    for (int half = 0; half < 8; half += 4) {
        __m128 r0 = _mm_loadu_ps(src + half), r1 = _mm_loadu_ps(src + ld + half);
        __m128 r2 = _mm_loadu_ps(src + 2 * ld + half), r3 = _mm_loadu_ps(src + 3 * ld + half);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(out + (half + 0) * MR5, r0);
        _mm_storeu_ps(out + (half + 1) * MR5, r1);
        _mm_storeu_ps(out + (half + 2) * MR5, r2);
        _mm_storeu_ps(out + (half + 3) * MR5, r3);
    }
}

/* op(A)(i, p) -> panel r at buf + r*kc, holding op(A)(r + i, p) at [p*MR5 + i]; rows past mc are zero. */
GEMM_AVX512 static void gemm_pack_a_avx512(int trans_a, const float *A, long lda, int mc, int kc, float *buf) {
    if (trans_a) {  // op(A)(i, p) = A[p*lda + i]: MR5 contiguous floats per p, read row by row of A
        for (int p = 0; p < kc; p++) {
            const float *src = A + (long)p * lda;
            float *dst = buf + p * MR5;
            for (int r = 0; r < mc; r += MR5) {
                const int rows = mc - r < MR5 ? mc - r : MR5;
                const __m512 v = _mm512_maskz_loadu_ps(gemm_avx512_mask(rows), src + r);
                _mm512_mask_storeu_ps(dst + (long)r * kc, (__mmask16)0x0FFF, v);
            }
        }
        return;
    }
    for (int r = 0; r < mc; r += MR5) {  // op(A)(i, p) = A[i*lda + p]: transpose (rows, 8) blocks
        float *panel = buf + (long)r * kc;  // (kc, MR5)
        const int rows = mc - r < MR5 ? mc - r : MR5;
        const float *r0 = A + (long)r * lda;
        if (rows == MR5) {
            int p = 0;
            for (; p + 8 <= kc; p += 8) {
                gemm_avx2_transpose8_load(r0 + p, lda, panel + p * MR5, MR5);               // rows 0..7
                gemm_avx512_pack_4x8(r0 + 8 * lda + p, lda, panel + p * MR5 + 8);          // rows 8..11
            }
            for (; p < kc; p++)
                for (int i = 0; i < MR5; i++) panel[p * MR5 + i] = r0[(long)i * lda + p];
        } else {
            for (int p = 0; p < kc; p++)
                for (int i = 0; i < MR5; i++) panel[p * MR5 + i] = i < rows ? r0[(long)i * lda + p] : 0.0f;
        }
    }
}

/* op(B)(p, j) -> panel q at buf + q*panel_stride, holding op(B)(p, q*NR5 + j) at [p*NR5 + j]. */
GEMM_AVX512 static void gemm_pack_b_avx512(int trans_b, const float *B, long ldb, int kc, int nc, float *buf,
                                           long panel_stride) {
    for (int q = 0; q < nc; q += NR5) {
        float *panel = buf + (long)(q / NR5) * panel_stride;  // (kc, NR5)
        const int cols = nc - q < NR5 ? nc - q : NR5;
        if (!trans_b) {  // NR5 contiguous floats per p
            const float *src = B + q;
            const __mmask16 m0 = gemm_avx512_mask(cols), m1 = gemm_avx512_mask(cols - 16);
            for (int p = 0; p < kc; p++, src += ldb) {
                _mm512_storeu_ps(panel + (long)p * NR5, _mm512_maskz_loadu_ps(m0, src));
                _mm512_storeu_ps(panel + (long)p * NR5 + 16, _mm512_maskz_loadu_ps(m1, src + 16));
            }
            continue;
        }
        // op(B)(p, j) = B[j*ldb + p]: 8 (p) x 8 (j) transposes, four per panel row block
        int p = 0;
        for (; p + 8 <= kc; p += 8) {
            for (int h = 0; h < NR5; h += 8) {
                if (h + 8 <= cols) {
                    gemm_avx2_transpose8_load(B + (long)(q + h) * ldb + p, ldb, panel + (long)p * NR5 + h, NR5);
                    continue;
                }
                __m256 v[8];
                for (int i = 0; i < 8; i++)
                    v[i] = h + i < cols ? _mm256_loadu_ps(B + (long)(q + h + i) * ldb + p) : _mm256_setzero_ps();
                gemm_avx2_transpose8(v);
                for (int k = 0; k < 8; k++) _mm256_storeu_ps(panel + (long)(p + k) * NR5 + h, v[k]);
            }
        }
        for (; p < kc; p++)
            for (int j = 0; j < NR5; j++) panel[(long)p * NR5 + j] = j < cols ? B[(long)(q + j) * ldb + p] : 0.0f;
    }
}

/* ---- micro-kernel ---- */

/* One row of the tile update, as gemm_avx2_update_row does it (same fused
 * operations per element); m0/m1 select the columns that exist. */
GEMM_AVX512 static inline void gemm_avx512_update_row(float *row, __m512 x0, __m512 x1, const gemm_update *u,
                                                      const float *bias, __mmask16 m0, __mmask16 m1) {
    const __m512 va = _mm512_set1_ps(u->alpha);
    __m512 y0, y1;
    if (!u->first) {
        y0 = _mm512_maskz_loadu_ps(m0, row), y1 = _mm512_maskz_loadu_ps(m1, row + 16);
    } else {
        y0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
        y1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
        if (u->beta != 0.0f) {
            const __m512 vb = _mm512_set1_ps(u->beta);
            y0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), y0);
            y1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), y1);
        }
    }
    _mm512_mask_storeu_ps(row, m0, _mm512_fmadd_ps(va, x0, y0));
    _mm512_mask_storeu_ps(row + 16, m1, _mm512_fmadd_ps(va, x1, y1));
}

/* Row i of the tile: broadcast op(A)(i, p), one FMA per 16 columns. */
#define GEMM_AVX512_ROW(i, r) \
    ai = _mm512_set1_ps(a[(r) * rs]), c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0), c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1)

/* The 12x32 tile, op(A)(i, p) at a[i*rs + p*cs]: a packed panel (rs = 1, cs = MR5) or, for
 * gemm_ukernel_direct, a row-major A read in place (rs = lda, cs = 1; no copy into a panel, which
 * costs as much as the product when N is a few panels wide, e.g. TinyViT's 1x1 convs). The same
 * broadcasts and FMAs in the same order either way, so the same bits. */
GEMM_AVX512 static inline __attribute__((always_inline)) void gemm_avx512_tile(int kc, const float *restrict a, long rs,
                                                                              long cs, const float *restrict b,
                                                                              float *c, long ldc, int mr, int nr,
                                                                              const gemm_update *u) {
    for (int i = 0; i < mr; i++) _mm_prefetch((const char *)(c + (long)i * ldc), _MM_HINT_T0);
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 cA0 = _mm512_setzero_ps(), cA1 = _mm512_setzero_ps(), cB0 = _mm512_setzero_ps(), cB1 = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 ai;
        GEMM_AVX512_ROW(0, 0);
        GEMM_AVX512_ROW(1, 1);
        GEMM_AVX512_ROW(2, 2);
        GEMM_AVX512_ROW(3, 3);
        GEMM_AVX512_ROW(4, 4);
        GEMM_AVX512_ROW(5, 5);
        GEMM_AVX512_ROW(6, 6);
        GEMM_AVX512_ROW(7, 7);
        GEMM_AVX512_ROW(8, 8);
        GEMM_AVX512_ROW(9, 9);
        GEMM_AVX512_ROW(A, 10);
        GEMM_AVX512_ROW(B, 11);
        a += cs;
        b += NR5;
    }
    const __mmask16 m0 = gemm_avx512_mask(nr), m1 = gemm_avx512_mask(nr - 16);
    const float *bias = u->first ? u->bias : NULL;
    const __m512 acc[MR5][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                                {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {cA0, cA1}, {cB0, cB1}};
    for (int i = 0; i < mr; i++) gemm_avx512_update_row(c + (long)i * ldc, acc[i][0], acc[i][1], u, bias, m0, m1);
}

GEMM_AVX512 static void gemm_ukernel_avx512(int kc, const float *restrict a, const float *restrict b, float *c,
                                            long ldc, int mr, int nr, const gemm_update *u) {
    gemm_avx512_tile(kc, a, 1, MR5, b, c, ldc, mr, nr, u);
}

GEMM_AVX512 static void gemm_ukernel_direct_avx512(int kc, const float *restrict a, long lda, const float *restrict b,
                                                   float *c, long ldc, int nr, const gemm_update *u) {
    gemm_avx512_tile(kc, a, lda, 1, b, c, ldc, MR5, nr, u);
}

static const gemm_kernel gemm_avx512_kernel = {gemm_ukernel_avx512, gemm_pack_a_avx512, gemm_pack_b_avx512, MR5, NR5,
                                               "avx512 12x32", gemm_ukernel_direct_avx512};

const gemm_kernel *gemm_kernel_avx512(void) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return &gemm_avx512_kernel;
    return NULL;
}

#else /* not x86 */

const gemm_kernel *gemm_kernel_avx512(void) { return NULL; }

#endif
