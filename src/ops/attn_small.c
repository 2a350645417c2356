/* attn_small.c — one small attention window's products (see attn_small.h). */
#include "ops/attn_small.h"

#include "ops/gemm.h"

#define ATTN_SMALL_MAX_T 256 /* gemm_f32's K chunk: up to here one accumulator runs over all of K */

static int attn_small_pad16(int n) { return (n + 15) / 16 * 16; }

size_t attn_small_scratch_floats(int T, int hd) { return (size_t)hd * attn_small_pad16(T) + 16; }

#if defined(__x86_64__) || defined(__i386__)
#include "ops/gemm_x86.h"
#define AS_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define AS_INLINE static inline __attribute__((always_inline))

static int attn_small_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static inline __mmask16 as_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }

/* S rows [i, i+R) x column vectors [v0, v0+V): acc = sum_d q[i+r][d] * kt[d][col] in order of d,
 * then S = fma(scale, acc, 0) (gemm's update with beta 0 and no bias), the last vector masked
 * to the row's T columns. kt: (hd, Tp) */
AS_AVX512 AS_INLINE void as_scores_block(float *S, const float *q, int ld, const float *kt, int Tp, int T, int hd,
                                         float scale, int i, int v0, const int R, const int V) {
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < V; c++) acc[r][c] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d++) {
        __m512 b[4];
        for (int c = 0; c < V; c++) b[c] = _mm512_loadu_ps(kt + (size_t)d * Tp + 16 * (v0 + c));
        for (int r = 0; r < R; r++) {
            const __m512 a = _mm512_set1_ps(q[(size_t)(i + r) * ld + d]);
            for (int c = 0; c < V; c++) acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    const __m512 vs = _mm512_set1_ps(scale), zero = _mm512_setzero_ps();
    for (int r = 0; r < R; r++)
        for (int c = 0; c < V; c++) {
            const int col = 16 * (v0 + c);
            _mm512_mask_storeu_ps(S + (size_t)(i + r) * T + col, as_mask(T - col), _mm512_fmadd_ps(vs, acc[r][c], zero));
        }
}

AS_AVX512 static void as_scores_avx512(float *S, const float *q, const float *k, int ld, int T, int hd, float scale,
                                       float *kt) {
    const int Tp = attn_small_pad16(T), nv = Tp / 16;
    // kt (hd, Tp) = k^T, zero past T: 8x8 transposes (hd is a multiple of 16), the last tokens one by one
    const int T8 = T / 8 * 8;
    for (int j = 0; j < T8; j += 8)
        for (int d = 0; d < hd; d += 8) gemm_avx2_transpose8_load(k + (size_t)j * ld + d, ld, kt + (size_t)d * Tp + j, Tp);
    for (int d = 0; d < hd; d++) {
        float *row = kt + (size_t)d * Tp;
        for (int j = T8; j < T; j++) row[j] = k[(size_t)j * ld + d];
        for (int j = T; j < Tp; j++) row[j] = 0.0f;
    }
    for (int v0 = 0; v0 < nv; v0 += 4) {
        const int V = nv - v0 < 4 ? nv - v0 : 4;
        int i = 0;
        for (; i + 4 <= T; i += 4) {
            switch (V) {
            case 4: as_scores_block(S, q, ld, kt, Tp, T, hd, scale, i, v0, 4, 4); break;
            case 3: as_scores_block(S, q, ld, kt, Tp, T, hd, scale, i, v0, 4, 3); break;
            case 2: as_scores_block(S, q, ld, kt, Tp, T, hd, scale, i, v0, 4, 2); break;
            default: as_scores_block(S, q, ld, kt, Tp, T, hd, scale, i, v0, 4, 1); break;
            }
        }
        for (; i < T; i++) {
            switch (V) {
            case 4: as_scores_block(S, q, ld, kt, Tp, T, hd, scale, i, v0, 1, 4); break;
            case 3: as_scores_block(S, q, ld, kt, Tp, T, hd, scale, i, v0, 1, 3); break;
            case 2: as_scores_block(S, q, ld, kt, Tp, T, hd, scale, i, v0, 1, 2); break;
            default: as_scores_block(S, q, ld, kt, Tp, T, hd, scale, i, v0, 1, 1); break;
            }
        }
    }
}

/* O rows [i, i+R) x column vectors [v0, v0+V): acc = sum_j P[i+r][j] * v[j][col] in order of j,
 * then O = fma(1, acc, 0) (gemm's update). */
AS_AVX512 AS_INLINE void as_av_block(float *O, int ldo, const float *P, const float *v, int ld, int T, int i, int v0,
                                     const int R, const int V) {
    __m512 acc[8][2];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < V; c++) acc[r][c] = _mm512_setzero_ps();
    for (int j = 0; j < T; j++) {
        __m512 b[2];
        for (int c = 0; c < V; c++) b[c] = _mm512_loadu_ps(v + (size_t)j * ld + 16 * (v0 + c));
        for (int r = 0; r < R; r++) {
            const __m512 a = _mm512_set1_ps(P[(size_t)(i + r) * T + j]);
            for (int c = 0; c < V; c++) acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (int r = 0; r < R; r++)
        for (int c = 0; c < V; c++)
            _mm512_storeu_ps(O + (size_t)(i + r) * ldo + 16 * (v0 + c), _mm512_fmadd_ps(one, acc[r][c], zero));
}

AS_AVX512 static void as_av_avx512(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd) {
    const int nv = hd / 16;
    for (int v0 = 0; v0 < nv; v0 += 2) {
        const int V = nv - v0 < 2 ? 1 : 2;
        int i = 0;
        for (; i + 8 <= T; i += 8) {
            if (V == 2) as_av_block(O, ldo, P, v, ld, T, i, v0, 8, 2);
            else as_av_block(O, ldo, P, v, ld, T, i, v0, 8, 1);
        }
        for (; i < T; i++) {
            if (V == 2) as_av_block(O, ldo, P, v, ld, T, i, v0, 1, 2);
            else as_av_block(O, ldo, P, v, ld, T, i, v0, 1, 1);
        }
    }
}
#else
static int attn_small_avx512(void) { return 0; }
#define as_scores_avx512(S, q, k, ld, T, hd, scale, kt) ((void)0)
#define as_av_avx512(O, ldo, P, v, ld, T, hd) ((void)0)
#endif

static int attn_small_fast(int T, int hd) { return T >= 1 && T <= ATTN_SMALL_MAX_T && hd % 16 == 0 && hd > 0 && attn_small_avx512(); }

// ref: tiny_vit_sam.py:Attention.forward -- (q @ k.transpose(-2, -1)) * self.scale
void attn_small_scores(float *S, const float *q, const float *k, int ld, int T, int hd, float scale, float *scratch) {
    if (attn_small_fast(T, hd))
        as_scores_avx512(S, q, k, ld, T, hd, scale, scratch);
    else
        gemm_f32(0, 1, T, T, hd, scale, q, ld, k, ld, 0.0f, S, T, 1);
}

// ref: tiny_vit_sam.py:Attention.forward -- attn @ v
void attn_small_av(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd) {
    if (attn_small_fast(T, hd))
        as_av_avx512(O, ldo, P, v, ld, T, hd);
    else
        gemm_f32(0, 0, T, hd, T, 1.0f, P, T, v, ld, 0.0f, O, ldo, 1);
}
