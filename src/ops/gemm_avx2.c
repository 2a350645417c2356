/* gemm_avx2.c — AVX2+FMA micro-kernel (6x16, twelve ymm accumulators) and
 * vectorised packers. Compiled with function-level target attributes so the
 * library needs no -march flag; gemm_kernel_avx2() checks the CPU at run time.
 * The packers write exactly the bytes of the generic ones (gemm_generic.c). */
#include "ops/gemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include "ops/gemm_x86.h"

/* Packs rows 0..5 x columns 0..7 of a row-major block (stride ld) as
 * out[p*6 + i]: 4x4 in-lane transposes for rows 0-3, pairs for rows 4-5. */
GEMM_AVX2 static inline void gemm_avx2_pack_6x8(const float *src, long ld, float *out) {
    const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld), r2 = _mm256_loadu_ps(src + 2 * ld);
    const __m256 r3 = _mm256_loadu_ps(src + 3 * ld), r4 = _mm256_loadu_ps(src + 4 * ld), r5 = _mm256_loadu_ps(src + 5 * ld);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 o0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));  // rows 0-3 at p0 | p4
    const __m256 o1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));  // p1 | p5
    const __m256 o2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));  // p2 | p6
    const __m256 o3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));  // p3 | p7
    const __m256 u0 = _mm256_unpacklo_ps(r4, r5);  // rows 4-5 at p0, p1 | p4, p5
    const __m256 u1 = _mm256_unpackhi_ps(r4, r5);  // p2, p3 | p6, p7
    const __m128 u0l = _mm256_castps256_ps128(u0), u1l = _mm256_castps256_ps128(u1);
    const __m128 u0h = _mm256_extractf128_ps(u0, 1), u1h = _mm256_extractf128_ps(u1, 1);
    _mm_storeu_ps(out + 0, _mm256_castps256_ps128(o0)), _mm_storel_pi((__m64 *)(out + 4), u0l);
    _mm_storeu_ps(out + 6, _mm256_castps256_ps128(o1)), _mm_storeh_pi((__m64 *)(out + 10), u0l);
    _mm_storeu_ps(out + 12, _mm256_castps256_ps128(o2)), _mm_storel_pi((__m64 *)(out + 16), u1l);
    _mm_storeu_ps(out + 18, _mm256_castps256_ps128(o3)), _mm_storeh_pi((__m64 *)(out + 22), u1l);
    _mm_storeu_ps(out + 24, _mm256_extractf128_ps(o0, 1)), _mm_storel_pi((__m64 *)(out + 28), u0h);
    _mm_storeu_ps(out + 30, _mm256_extractf128_ps(o1, 1)), _mm_storeh_pi((__m64 *)(out + 34), u0h);
    _mm_storeu_ps(out + 36, _mm256_extractf128_ps(o2, 1)), _mm_storel_pi((__m64 *)(out + 40), u1h);
    _mm_storeu_ps(out + 42, _mm256_extractf128_ps(o3, 1)), _mm_storeh_pi((__m64 *)(out + 46), u1h);
}

/* ---- packers ---- */

/* trans_a: op(A)(i, p) = A[p*lda + i], MR contiguous floats per p and panel.
 * Walks A row by row (p outer) so that each row is read once, whatever lda
 * (panel-by-panel reads of a power-of-two lda thrash L1). Each 8-float store
 * spills 2 floats into position p+1 of the same panel, rewritten at p+1; the
 * last position gets exact 6-float stores. */
GEMM_AVX2 static void gemm_pack_a_avx2_t(const float *A, long lda, int mc, int kc, float *buf) {
    const int rows_last = mc - (mc - 1) / GEMM_MR * GEMM_MR;  // rows in the last panel
    const int r_last = mc - rows_last;
    const __m256i m_last = gemm_avx2_mask(rows_last);
    for (int p = 0; p < kc; p++) {
        const float *src = A + (long)p * lda;
        float *dst = buf + p * GEMM_MR;
        if (p + 1 < kc) {
            int r = 0;
            for (; r + 8 <= mc; r += GEMM_MR) _mm256_storeu_ps(dst + (long)r * kc, _mm256_loadu_ps(src + r));
            for (; r < mc; r += GEMM_MR) {
                const __m256i m = r == r_last ? m_last : gemm_avx2_mask(GEMM_MR);
                _mm256_storeu_ps(dst + (long)r * kc, _mm256_maskload_ps(src + r, m));
            }
        } else {
            for (int r = 0; r < mc; r += GEMM_MR) {
                _Alignas(32) float v[8];
                const __m256i m = r == r_last ? m_last : gemm_avx2_mask(GEMM_MR);
                _mm256_store_ps(v, _mm256_maskload_ps(src + r, m));
                for (int i = 0; i < GEMM_MR; i++) dst[(long)r * kc + i] = v[i];
            }
        }
    }
}

GEMM_AVX2 static void gemm_pack_a_avx2(int trans_a, const float *A, long lda, int mc, int kc, float *buf) {
    if (trans_a) {
        gemm_pack_a_avx2_t(A, lda, mc, kc, buf);
        return;
    }
    for (int r = 0; r < mc; r += GEMM_MR) {
        float *panel = buf + (long)r * kc;  // (kc, MR)
        const int rows = mc - r < GEMM_MR ? mc - r : GEMM_MR;
        if (rows == GEMM_MR) {  // op(A)(i, p) = A[i*lda + p]: transpose 8 (p) x 6 (i) blocks
            const float *r0 = A + (long)r * lda;
            int p = 0;
            for (; p + 8 <= kc; p += 8) gemm_avx2_pack_6x8(r0 + p, lda, panel + p * GEMM_MR);
            for (; p < kc; p++)
                for (int i = 0; i < GEMM_MR; i++) panel[p * GEMM_MR + i] = r0[(long)i * lda + p];
        } else {
            for (int p = 0; p < kc; p++)
                for (int i = 0; i < GEMM_MR; i++)
                    panel[p * GEMM_MR + i] = i < rows ? A[(long)(r + i) * lda + p] : 0.0f;
        }
    }
}

GEMM_AVX2 static void gemm_pack_b_avx2(int trans_b, const float *B, long ldb, int kc, int nc, float *buf,
                                       long panel_stride) {
    for (int q = 0; q < nc; q += GEMM_NR) {
        float *panel = buf + (long)(q / GEMM_NR) * panel_stride;  // (kc, NR)
        const int cols = nc - q < GEMM_NR ? nc - q : GEMM_NR;
        if (!trans_b) {  // op(B)(p, j) = B[p*ldb + j]: NR contiguous floats per p
            const float *src = B + q;
            if (cols == GEMM_NR) {
                for (int p = 0; p < kc; p++, src += ldb) {
                    _mm256_storeu_ps(panel + (long)p * GEMM_NR, _mm256_loadu_ps(src));
                    _mm256_storeu_ps(panel + (long)p * GEMM_NR + 8, _mm256_loadu_ps(src + 8));
                }
            } else {
                const __m256i m0 = gemm_avx2_mask(cols), m1 = gemm_avx2_mask(cols - 8);
                for (int p = 0; p < kc; p++, src += ldb) {
                    _mm256_storeu_ps(panel + (long)p * GEMM_NR, _mm256_maskload_ps(src, m0));
                    _mm256_storeu_ps(panel + (long)p * GEMM_NR + 8, _mm256_maskload_ps(src + 8, m1));
                }
            }
        } else {  // op(B)(p, j) = B[j*ldb + p]: transpose 8 (p) x 8 (j) blocks, two per panel
            int p = 0;
            for (; p + 8 <= kc; p += 8) {
                for (int h = 0; h < GEMM_NR; h += 8) {
                    if (h + 8 <= cols) {
                        gemm_avx2_transpose8_load(B + (long)(q + h) * ldb + p, ldb, panel + (long)p * GEMM_NR + h,
                                                  GEMM_NR);
                        continue;
                    }
                    __m256 v[8];
                    for (int i = 0; i < 8; i++)
                        v[i] = h + i < cols ? _mm256_loadu_ps(B + (long)(q + h + i) * ldb + p) : _mm256_setzero_ps();
                    gemm_avx2_transpose8(v);
                    for (int k = 0; k < 8; k++) _mm256_storeu_ps(panel + (long)(p + k) * GEMM_NR + h, v[k]);
                }
            }
            for (; p < kc; p++)
                for (int j = 0; j < GEMM_NR; j++)
                    panel[(long)p * GEMM_NR + j] = j < cols ? B[(long)(q + j) * ldb + p] : 0.0f;
        }
    }
}

/* ---- micro-kernel ---- */

/* One row of the tile update (see gemm_update); full and edge tiles both go
 * through it so that every element sees the same instructions. */
GEMM_AVX2 static inline void gemm_avx2_update_row(float *row, __m256 x0, __m256 x1, const gemm_update *u,
                                                  const float *bias) {
    const __m256 va = _mm256_set1_ps(u->alpha);
    __m256 y0, y1;
    if (!u->first) {
        y0 = _mm256_loadu_ps(row), y1 = _mm256_loadu_ps(row + 8);
    } else {
        y0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
        y1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
        if (u->beta != 0.0f) {
            const __m256 vb = _mm256_set1_ps(u->beta);
            y0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), y0);
            y1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), y1);
        }
    }
    _mm256_storeu_ps(row, _mm256_fmadd_ps(va, x0, y0));
    _mm256_storeu_ps(row + 8, _mm256_fmadd_ps(va, x1, y1));
}

/* Narrow edge tile (nr < NR): the update runs on a full 6x16 scratch copy of C. */
GEMM_AVX2 __attribute__((noinline)) static void gemm_avx2_update_edge(const float *acc, float *c, long ldc, int mr,
                                                                      int nr, const gemm_update *u) {
    _Alignas(32) float tile[GEMM_MR * GEMM_NR];  // (MR, NR)
    _Alignas(32) float bias_tile[GEMM_NR];
    const float *bias = NULL;
    for (int i = 0; i < GEMM_MR * GEMM_NR; i++) tile[i] = 0.0f;
    if (!(u->first && u->beta == 0.0f))
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) tile[i * GEMM_NR + j] = c[(long)i * ldc + j];
    if (u->first && u->bias) {
        for (int j = 0; j < GEMM_NR; j++) bias_tile[j] = j < nr ? u->bias[j] : 0.0f;
        bias = bias_tile;
    }
    for (int i = 0; i < GEMM_MR; i++)
        gemm_avx2_update_row(tile + i * GEMM_NR, _mm256_load_ps(acc + i * GEMM_NR),
                             _mm256_load_ps(acc + i * GEMM_NR + 8), u, bias);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) c[(long)i * ldc + j] = tile[i * GEMM_NR + j];
}

/* Row i of the tile: broadcast op(A)(i, p), one FMA per 8 columns. */
#define GEMM_AVX2_ROW(i) \
    ai = _mm256_broadcast_ss(a + (i) * rs), c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0), c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1)

/* The 6x16 tile, op(A)(i, p) at a[i*rs + p*cs]: a packed panel (rs = 1, cs = MR) or, for
 * gemm_ukernel_direct, a row-major A read in place (rs = lda, cs = 1: no copy into a panel,
 * which on narrow products costs a good part of the product). The same broadcasts and FMAs
 * in the same order either way, so the same bits. */
GEMM_AVX2 static inline __attribute__((always_inline)) void gemm_avx2_tile(int kc, const float *restrict a, long rs,
                                                                          long cs, const float *restrict b, float *c,
                                                                          long ldc, int mr, int nr,
                                                                          const gemm_update *u) {
    for (int i = 0; i < mr; i++) _mm_prefetch((const char *)(c + (long)i * ldc), _MM_HINT_T0);
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
           c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
           c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
           c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 ai;
        GEMM_AVX2_ROW(0);
        GEMM_AVX2_ROW(1);
        GEMM_AVX2_ROW(2);
        GEMM_AVX2_ROW(3);
        GEMM_AVX2_ROW(4);
        GEMM_AVX2_ROW(5);
        a += cs;
        b += GEMM_NR;
    }
    if (nr == GEMM_NR) {  // full-width rows (mr may be short): update C in place
        const float *bias = u->first ? u->bias : NULL;
        gemm_avx2_update_row(c, c00, c01, u, bias);
        if (mr > 1) gemm_avx2_update_row(c + ldc, c10, c11, u, bias);
        if (mr > 2) gemm_avx2_update_row(c + 2 * ldc, c20, c21, u, bias);
        if (mr > 3) gemm_avx2_update_row(c + 3 * ldc, c30, c31, u, bias);
        if (mr > 4) gemm_avx2_update_row(c + 4 * ldc, c40, c41, u, bias);
        if (mr > 5) gemm_avx2_update_row(c + 5 * ldc, c50, c51, u, bias);
    } else {
        _Alignas(32) float acc[GEMM_MR * GEMM_NR];  // (MR, NR)
        _mm256_store_ps(acc + 0, c00), _mm256_store_ps(acc + 8, c01);
        _mm256_store_ps(acc + 16, c10), _mm256_store_ps(acc + 24, c11);
        _mm256_store_ps(acc + 32, c20), _mm256_store_ps(acc + 40, c21);
        _mm256_store_ps(acc + 48, c30), _mm256_store_ps(acc + 56, c31);
        _mm256_store_ps(acc + 64, c40), _mm256_store_ps(acc + 72, c41);
        _mm256_store_ps(acc + 80, c50), _mm256_store_ps(acc + 88, c51);
        gemm_avx2_update_edge(acc, c, ldc, mr, nr, u);
    }
}

GEMM_AVX2 static void gemm_ukernel_avx2(int kc, const float *restrict a, const float *restrict b, float *c, long ldc,
                                        int mr, int nr, const gemm_update *u) {
    gemm_avx2_tile(kc, a, 1, GEMM_MR, b, c, ldc, mr, nr, u);
}

GEMM_AVX2 static void gemm_ukernel_direct_avx2(int kc, const float *restrict a, long lda, const float *restrict b,
                                               float *c, long ldc, int nr, const gemm_update *u) {
    gemm_avx2_tile(kc, a, lda, 1, b, c, ldc, GEMM_MR, nr, u);
}

static const gemm_kernel gemm_avx2_kernel = {gemm_ukernel_avx2, gemm_pack_a_avx2, gemm_pack_b_avx2,
                                             GEMM_MR, GEMM_NR, "avx2-fma 6x16", gemm_ukernel_direct_avx2};

const gemm_kernel *gemm_kernel_avx2(void) {
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &gemm_avx2_kernel;
    return NULL;
}

#else /* not x86: the generic kernel only */

const gemm_kernel *gemm_kernel_avx2(void) { return NULL; }

#endif
