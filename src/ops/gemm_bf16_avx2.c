/* gemm_bf16_avx2.c — the bf16 GEMM's emulation for CPUs with AVX2 + FMA but no
 * AVX-512 (AMD Zen 2/3, most desktop and laptop Intel parts): bf16 widened to
 * fp32 by shifts and masks, the odd then the even product added with FMAs, as
 * bf16_ukernel_emu in gemm_bf16_avx512.c does, so the same bits. Without it
 * `--precision bf16` on such a CPU ran the portable C loop, ~6x slower than fp32;
 * this runs at about the fp32 GEMM's speed (it cannot be faster: the CPU has no
 * bf16 dot product). Compiled with target attributes; chosen at run time. */
#include "ops/gemm_bf16_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR GEMM_BF16_MR
#define NR GEMM_BF16_NR
#define T2 __attribute__((target("avx2,fma")))

/* gemm_bf16_from_f32 on 8 lanes (same integer arithmetic); the 8 results in the low 128 bits. */
T2 static inline __m128i bf16_cvt8(__m256i u) {
    const __m256i top = _mm256_srli_epi32(u, 16);
    const __m256i lsb = _mm256_and_si256(top, _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i tiny = _mm256_cmpeq_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7f800000)), _mm256_setzero_si256());
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_and_si256(top, _mm256_set1_epi32(0x8000)), tiny);
    r = _mm256_blendv_epi8(r, _mm256_or_si256(top, _mm256_set1_epi32(0x40)), nan);
    // every lane is 0..0xffff: pack without saturating, then take 128-bit lanes 0 and 2 of the 64-bit quarters
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08));
}

T2 static void bf16_convert_avx2(const float *in, uint16_t *out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(out + i), bf16_cvt8(_mm256_castps_si256(_mm256_loadu_ps(in + i))));
    for (; i < n; i++) out[i] = gemm_bf16_from_f32(in[i]);
}

/* Rows i0..i0+3 of the pair's A word: odd k (high half) and even k (low half) as fp32, then
 * both products added to columns j0..j0+15 (the odd first). */
#define BF16_ROW(r)                                                                                  \
    w = _mm256_set1_epi32(gemm_bf16_pair(ap + 2 * (r)));                                                  \
    ao = _mm256_castsi256_ps(_mm256_and_si256(w, hi)), ae = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)); \
    c##r##0 = _mm256_fmadd_ps(ae, b0e, _mm256_fmadd_ps(ao, b0o, c##r##0));                            \
    c##r##1 = _mm256_fmadd_ps(ae, b1e, _mm256_fmadd_ps(ao, b1o, c##r##1))
#define BF16_LOAD(r)                                                                                 \
    c##r##0 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + (long)(i0 + r) * ldc + j0),           \
    c##r##1 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + (long)(i0 + r) * ldc + j0 + 8)
#define BF16_STORE(r)                                                                                \
    _mm256_storeu_ps(c + (long)(i0 + r) * ldc + j0, c##r##0), _mm256_storeu_ps(c + (long)(i0 + r) * ldc + j0 + 8, c##r##1)

/* ref: Intel SDM VDPBF16PS -- per lane: acc += odd pair product, then += even. The MR x NR
 * tile in 4 x 16 pieces (eight accumulators, the four widened B vectors and the A pair fit in
 * the sixteen ymm registers). */
T2 static void bf16_ukernel_avx2(int kp, const uint16_t *a, const uint16_t *b, float *c, long ldc, int first) {
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    for (int i0 = 0; i0 < MR; i0 += 4)
        for (int j0 = 0; j0 < NR; j0 += 16) {
            __m256 c00, c01, c10, c11, c20, c21, c30, c31;
            BF16_LOAD(0);
            BF16_LOAD(1);
            BF16_LOAD(2);
            BF16_LOAD(3);
            for (int p = 0; p < kp; p++) {
                const uint16_t *ap = a + (long)p * MR * 2 + i0 * 2, *bp = b + (long)p * NR * 2 + j0 * 2;
                const __m256i b0 = _mm256_loadu_si256((const __m256i *)bp), b1 = _mm256_loadu_si256((const __m256i *)(bp + 16));
                const __m256 b0o = _mm256_castsi256_ps(_mm256_and_si256(b0, hi)), b0e = _mm256_castsi256_ps(_mm256_slli_epi32(b0, 16));
                const __m256 b1o = _mm256_castsi256_ps(_mm256_and_si256(b1, hi)), b1e = _mm256_castsi256_ps(_mm256_slli_epi32(b1, 16));
                __m256i w;
                __m256 ao, ae;
                BF16_ROW(0);
                BF16_ROW(1);
                BF16_ROW(2);
                BF16_ROW(3);
            }
            BF16_STORE(0);
            BF16_STORE(1);
            BF16_STORE(2);
            BF16_STORE(3);
        }
}

static const gemm_bf16_kernel EMU_AVX2 = {bf16_ukernel_avx2, bf16_convert_avx2};

const gemm_bf16_kernel *gemm_bf16_kernel_emu_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &EMU_AVX2 : NULL;
}

#endif
