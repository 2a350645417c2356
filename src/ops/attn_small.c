/* attn_small.c — one small attention window's products (see attn_small.h). */
#include "ops/attn_small.h"

#include "ops/gemm.h"

#define ATTN_SMALL_MAX_T 256 /* gemm_f32's K chunk: up to here one accumulator runs over all of K */

static int attn_small_pad64(int n) { return (n + 63) / 64 * 64; }

size_t attn_small_scratch_floats(int T, int hd) { return (size_t)hd * attn_small_pad64(T) + 16; }

#if defined(__x86_64__) || defined(__i386__)
#include "ops/gemm_x86.h"
#define AS_AVX2 __attribute__((target("avx2,fma")))
#define AS_AVX512 __attribute__((target("avx512f,avx2,fma")))

/* 2: AVX-512, 1: AVX2 + FMA, 0: neither */
static int attn_small_cpu(void) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    return __builtin_cpu_supports("avx512f") ? 2 : 1;
}

/* kt (hd, Tp) = k^T, zero past T: 8x8 transposes (hd a multiple of 8), the last tokens one by one. */
AS_AVX2 static void as_transpose_k(float *kt, const float *k, int ld, int T, int hd, int Tp) {
    const int T8 = T / 8 * 8;
    for (int j = 0; j < T8; j += 8)
        for (int d = 0; d < hd; d += 8) gemm_avx2_transpose8_load(k + (size_t)j * ld + d, ld, kt + (size_t)d * Tp + j, Tp);
    for (int d = 0; d < hd; d++) {
        float *row = kt + (size_t)d * Tp;
        for (int j = T8; j < T; j++) row[j] = k[(size_t)j * ld + d];
        for (int j = T; j < Tp; j++) row[j] = 0.0f;
    }
}

/* ---- AVX2: 6 x 16 tiles (the GEMM's), twelve named accumulators. T >= 16: a last row or
 * column tile that would run past T starts earlier instead and writes some elements a second
 * time with the same bits, so no masked or partial tiles are needed. ---- */

/* S rows [i, i+6) x 16 columns from c0 (see as_scores_rows4). */
#define AS2_S(r)                                                                                     \
    a = _mm256_broadcast_ss(q + (size_t)(i + r) * ld + d);                                           \
    s##r##0 = _mm256_fmadd_ps(a, b0, s##r##0), s##r##1 = _mm256_fmadd_ps(a, b1, s##r##1)
#define AS2_S_STORE(r)                                                                               \
    _mm256_storeu_ps(S + (size_t)(i + r) * T + c0, _mm256_fmadd_ps(vs, s##r##0, zero)),              \
        _mm256_storeu_ps(S + (size_t)(i + r) * T + c0 + 8, _mm256_fmadd_ps(vs, s##r##1, zero))

AS_AVX2 static void as2_scores_rows6(float *S, const float *q, int ld, const float *kt, int Tp, int T, int hd,
                                     float scale, int i, int c0) {
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
    __m256 s40 = s00, s41 = s00, s50 = s00, s51 = s00, a;
    for (int d = 0; d < hd; d++) {
        const float *k = kt + (size_t)d * Tp + c0;
        const __m256 b0 = _mm256_loadu_ps(k), b1 = _mm256_loadu_ps(k + 8);
        AS2_S(0);
        AS2_S(1);
        AS2_S(2);
        AS2_S(3);
        AS2_S(4);
        AS2_S(5);
    }
    const __m256 vs = _mm256_set1_ps(scale), zero = _mm256_setzero_ps();
    AS2_S_STORE(0);
    AS2_S_STORE(1);
    AS2_S_STORE(2);
    AS2_S_STORE(3);
    AS2_S_STORE(4);
    AS2_S_STORE(5);
}

AS_AVX2 static void as_scores_avx2(float *S, const float *q, const float *k, int ld, int T, int hd, float scale,
                                   float *kt) {
    const int Tp = attn_small_pad64(T);
    as_transpose_k(kt, k, ld, T, hd, Tp);
    for (int c = 0; c < T; c += 16)
        for (int i = 0; i < T; i += 6)
            as2_scores_rows6(S, q, ld, kt, Tp, T, hd, scale, i + 6 <= T ? i : T - 6, c + 16 <= T ? c : T - 16);
}

/* O rows [i, i+6) x 16 columns from c0 (see as_av_rows8). */
#define AS2_A(r)                                                                                     \
    a = _mm256_broadcast_ss(P + (size_t)(i + r) * T + j);                                            \
    o##r##0 = _mm256_fmadd_ps(a, b0, o##r##0), o##r##1 = _mm256_fmadd_ps(a, b1, o##r##1)
#define AS2_A_STORE(r)                                                                                   \
    _mm256_storeu_ps(O + (size_t)(i + r) * ldo + c0, _mm256_fmadd_ps(one, o##r##0, zero)),              \
        _mm256_storeu_ps(O + (size_t)(i + r) * ldo + c0 + 8, _mm256_fmadd_ps(one, o##r##1, zero))

AS_AVX2 static void as2_av_rows6(float *O, int ldo, const float *P, const float *v, int ld, int T, int i, int c0) {
    __m256 o00 = _mm256_setzero_ps(), o01 = o00, o10 = o00, o11 = o00, o20 = o00, o21 = o00, o30 = o00, o31 = o00;
    __m256 o40 = o00, o41 = o00, o50 = o00, o51 = o00, a;
    for (int j = 0; j < T; j++) {
        const __m256 b0 = _mm256_loadu_ps(v + (size_t)j * ld + c0), b1 = _mm256_loadu_ps(v + (size_t)j * ld + c0 + 8);
        AS2_A(0);
        AS2_A(1);
        AS2_A(2);
        AS2_A(3);
        AS2_A(4);
        AS2_A(5);
    }
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    AS2_A_STORE(0);
    AS2_A_STORE(1);
    AS2_A_STORE(2);
    AS2_A_STORE(3);
    AS2_A_STORE(4);
    AS2_A_STORE(5);
}

AS_AVX2 static void as_av_avx2(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd) {
    for (int c0 = 0; c0 < hd; c0 += 16)
        for (int i = 0; i < T; i += 6) as2_av_rows6(O, ldo, P, v, ld, T, i + 6 <= T ? i : T - 6, c0);
}

/* ---- AVX-512 ---- */

static inline __mmask16 as_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u); }

/* S rows [i, i+4) x 64 columns from c0: acc = sum_d q[i+r][d] * kt[d][col] in order of d, then
 * S = fma(scale, acc, 0) (gemm's update with beta 0 and no bias); columns past T are not
 * stored. Sixteen named accumulators, so that they stay in registers. kt: (hd, Tp), Tp a
 * multiple of 64. */
#define AS_S4(r)                                                                                     \
    a = _mm512_set1_ps(q[(size_t)(i + r) * ld + d]);                                                 \
    s##r##0 = _mm512_fmadd_ps(a, b0, s##r##0), s##r##1 = _mm512_fmadd_ps(a, b1, s##r##1);           \
    s##r##2 = _mm512_fmadd_ps(a, b2, s##r##2), s##r##3 = _mm512_fmadd_ps(a, b3, s##r##3)
#define AS_S4_STORE(r)                                                                               \
    do {                                                                                             \
        float *row = S + (size_t)(i + r) * T + c0;                                                   \
        _mm512_mask_storeu_ps(row, as_mask(T - c0), _mm512_fmadd_ps(vs, s##r##0, zero));             \
        _mm512_mask_storeu_ps(row + 16, as_mask(T - c0 - 16), _mm512_fmadd_ps(vs, s##r##1, zero));   \
        _mm512_mask_storeu_ps(row + 32, as_mask(T - c0 - 32), _mm512_fmadd_ps(vs, s##r##2, zero));   \
        _mm512_mask_storeu_ps(row + 48, as_mask(T - c0 - 48), _mm512_fmadd_ps(vs, s##r##3, zero));   \
    } while (0)

AS_AVX512 static void as_scores_rows4(float *S, const float *q, int ld, const float *kt, int Tp, int T, int hd,
                                      float scale, int i, int c0) {
    __m512 s00 = _mm512_setzero_ps(), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    __m512 s20 = s00, s21 = s00, s22 = s00, s23 = s00, s30 = s00, s31 = s00, s32 = s00, s33 = s00, a;
    for (int d = 0; d < hd; d++) {
        const float *k = kt + (size_t)d * Tp + c0;
        const __m512 b0 = _mm512_loadu_ps(k), b1 = _mm512_loadu_ps(k + 16), b2 = _mm512_loadu_ps(k + 32),
                     b3 = _mm512_loadu_ps(k + 48);
        AS_S4(0);
        AS_S4(1);
        AS_S4(2);
        AS_S4(3);
    }
    const __m512 vs = _mm512_set1_ps(scale), zero = _mm512_setzero_ps();
    AS_S4_STORE(0);
    AS_S4_STORE(1);
    AS_S4_STORE(2);
    AS_S4_STORE(3);
}

/* The same for the one row i. */
AS_AVX512 static void as_scores_row1(float *S, const float *q, int ld, const float *kt, int Tp, int T, int hd,
                                     float scale, int i, int c0) {
    __m512 s00 = _mm512_setzero_ps(), s01 = s00, s02 = s00, s03 = s00, a;
    for (int d = 0; d < hd; d++) {
        const float *k = kt + (size_t)d * Tp + c0;
        const __m512 b0 = _mm512_loadu_ps(k), b1 = _mm512_loadu_ps(k + 16), b2 = _mm512_loadu_ps(k + 32),
                     b3 = _mm512_loadu_ps(k + 48);
        AS_S4(0);
    }
    const __m512 vs = _mm512_set1_ps(scale), zero = _mm512_setzero_ps();
    AS_S4_STORE(0);
}

AS_AVX512 static void as_scores_avx512(float *S, const float *q, const float *k, int ld, int T, int hd, float scale,
                                       float *kt) {
    const int Tp = attn_small_pad64(T);
    as_transpose_k(kt, k, ld, T, hd, Tp);
    for (int c0 = 0; c0 < T; c0 += 64) {
        int i = 0;
        for (; i + 4 <= T; i += 4) as_scores_rows4(S, q, ld, kt, Tp, T, hd, scale, i, c0);
        for (; i < T; i++) as_scores_row1(S, q, ld, kt, Tp, T, hd, scale, i, c0);
    }
}

/* O rows [i, i+8) x 32 columns from c0: acc = sum_j P[i+r][j] * v[j][col] in order of j, then
 * O = fma(1, acc, 0) (gemm's update). Sixteen named accumulators. */
#define AS_A8(r)                                                                                     \
    a = _mm512_set1_ps(P[(size_t)(i + r) * T + j]);                                                 \
    o##r##0 = _mm512_fmadd_ps(a, b0, o##r##0), o##r##1 = _mm512_fmadd_ps(a, b1, o##r##1)
#define AS_A8_STORE(r)                                                                                   \
    _mm512_storeu_ps(O + (size_t)(i + r) * ldo + c0, _mm512_fmadd_ps(one, o##r##0, zero)),              \
        _mm512_storeu_ps(O + (size_t)(i + r) * ldo + c0 + 16, _mm512_fmadd_ps(one, o##r##1, zero))

AS_AVX512 static void as_av_rows8(float *O, int ldo, const float *P, const float *v, int ld, int T, int i, int c0) {
    __m512 o00 = _mm512_setzero_ps(), o01 = o00, o10 = o00, o11 = o00, o20 = o00, o21 = o00, o30 = o00, o31 = o00;
    __m512 o40 = o00, o41 = o00, o50 = o00, o51 = o00, o60 = o00, o61 = o00, o70 = o00, o71 = o00, a;
    for (int j = 0; j < T; j++) {
        const __m512 b0 = _mm512_loadu_ps(v + (size_t)j * ld + c0), b1 = _mm512_loadu_ps(v + (size_t)j * ld + c0 + 16);
        AS_A8(0);
        AS_A8(1);
        AS_A8(2);
        AS_A8(3);
        AS_A8(4);
        AS_A8(5);
        AS_A8(6);
        AS_A8(7);
    }
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    AS_A8_STORE(0);
    AS_A8_STORE(1);
    AS_A8_STORE(2);
    AS_A8_STORE(3);
    AS_A8_STORE(4);
    AS_A8_STORE(5);
    AS_A8_STORE(6);
    AS_A8_STORE(7);
}

AS_AVX512 static void as_av_row1(float *O, int ldo, const float *P, const float *v, int ld, int T, int i, int c0) {
    __m512 o00 = _mm512_setzero_ps(), o01 = o00, a;
    for (int j = 0; j < T; j++) {
        const __m512 b0 = _mm512_loadu_ps(v + (size_t)j * ld + c0), b1 = _mm512_loadu_ps(v + (size_t)j * ld + c0 + 16);
        AS_A8(0);
    }
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    AS_A8_STORE(0);
}

AS_AVX512 static void as_av_avx512(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd) {
    for (int c0 = 0; c0 < hd; c0 += 32) {
        int i = 0;
        for (; i + 8 <= T; i += 8) as_av_rows8(O, ldo, P, v, ld, T, i, c0);
        for (; i < T; i++) as_av_row1(O, ldo, P, v, ld, T, i, c0);
    }
}
#else
static int attn_small_cpu(void) { return 0; }
#define as_scores_avx512(S, q, k, ld, T, hd, scale, kt) ((void)0)
#define as_av_avx512(O, ldo, P, v, ld, T, hd) ((void)0)
#define as_scores_avx2(S, q, k, ld, T, hd, scale, kt) ((void)0)
#define as_av_avx2(O, ldo, P, v, ld, T, hd) ((void)0)
#endif

/* The kernels that may run this shape: 2 AVX-512, 1 AVX2, 0 none (gemm_f32). max_path caps the choice (tests). */
static int attn_small_path(int T, int hd, int max_path) {
    int path = attn_small_cpu();
    if (path > max_path) path = max_path;
    if (T < 1 || T > ATTN_SMALL_MAX_T || hd <= 0) return 0;
    if (path == 2 && hd % 32 == 0) return 2;
    if (path >= 1 && hd % 16 == 0 && T >= 16) return 1;
    return 0;
}

static void scores_with(float *S, const float *q, const float *k, int ld, int T, int hd, float scale, float *scratch,
                        int max_path) {
    switch (attn_small_path(T, hd, max_path)) {
    case 2: as_scores_avx512(S, q, k, ld, T, hd, scale, scratch); break;
    case 1: as_scores_avx2(S, q, k, ld, T, hd, scale, scratch); break;
    default: gemm_f32(0, 1, T, T, hd, scale, q, ld, k, ld, 0.0f, S, T, 1);
    }
}

static void av_with(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd, int max_path) {
    switch (attn_small_path(T, hd, max_path)) {
    case 2: as_av_avx512(O, ldo, P, v, ld, T, hd); break;
    case 1: as_av_avx2(O, ldo, P, v, ld, T, hd); break;
    default: gemm_f32(0, 0, T, hd, T, 1.0f, P, T, v, ld, 0.0f, O, ldo, 1);
    }
}

// ref: tiny_vit_sam.py:Attention.forward -- (q @ k.transpose(-2, -1)) * self.scale
void attn_small_scores(float *S, const float *q, const float *k, int ld, int T, int hd, float scale, float *scratch) {
    scores_with(S, q, k, ld, T, hd, scale, scratch, 2);
}

// ref: tiny_vit_sam.py:Attention.forward -- attn @ v
void attn_small_av(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd) {
    av_with(O, ldo, P, v, ld, T, hd, 2);
}

void attn_small_scores_avx2(float *S, const float *q, const float *k, int ld, int T, int hd, float scale,
                            float *scratch) {
    scores_with(S, q, k, ld, T, hd, scale, scratch, 1);
}

void attn_small_av_avx2(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd) {
    av_with(O, ldo, P, v, ld, T, hd, 1);
}
