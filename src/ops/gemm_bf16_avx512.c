/* gemm_bf16_avx512.c — the x86 bf16 kernels (see gemm_bf16.h): the native
 * AVX512_BF16 micro-kernel (vdpbf16ps) and an AVX-512F emulation of it that
 * widens bf16 to fp32 and adds the odd then the even product with FMAs (the
 * products are exact, so an FMA rounds exactly as the instruction's add).
 * Compiled with target attributes; chosen at run time. */
#include "ops/gemm_bf16_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR GEMM_BF16_MR
#define NR GEMM_BF16_NR
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define TBF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* gemm_bf16_from_f32 on 16 lanes (same integer arithmetic). */
T512 static inline __m256i bf16_cvt16(__m512i u) {
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 tiny = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(r, tiny, _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x8000)));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
    return _mm512_cvtepi32_epi16(r);
}

T512 static void bf16_convert_avx512(const float *in, uint16_t *out, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i), bf16_cvt16(_mm512_castps_si512(_mm512_loadu_ps(in + i))));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(out + i, m, bf16_cvt16(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, in + i))));
    }
}

/* ref: Intel SDM VDPBF16PS -- the instruction itself. */
TBF16 static void bf16_ukernel_native(int kp, const uint16_t *a, const uint16_t *b, float *c, long ldc, int first) {
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
            acc[i][h] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16 * h);
    for (int p = 0; p < kp; p++) {
        const uint16_t *ap = a + (long)p * MR * 2, *bp = b + (long)p * NR * 2;
        const __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)bp);
        const __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(bp + 32));
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32(gemm_bf16_pair(ap + 2 * i));
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) _mm512_storeu_ps(c + i * ldc + 16 * h, acc[i][h]);
}

/* The same sums without the instruction: odd k = high half, even k = low half. */
T512 static void bf16_ukernel_emu(int kp, const uint16_t *a, const uint16_t *b, float *c, long ldc, int first) {
    __m512 acc[MR][2];
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
            acc[i][h] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16 * h);
    for (int p = 0; p < kp; p++) {
        const uint16_t *ap = a + (long)p * MR * 2, *bp = b + (long)p * NR * 2;
        const __m512i b0 = _mm512_load_si512((const void *)bp), b1 = _mm512_load_si512((const void *)(bp + 32));
        const __m512 b0o = _mm512_castsi512_ps(_mm512_and_si512(b0, hi)), b0e = _mm512_castsi512_ps(_mm512_slli_epi32(b0, 16));
        const __m512 b1o = _mm512_castsi512_ps(_mm512_and_si512(b1, hi)), b1e = _mm512_castsi512_ps(_mm512_slli_epi32(b1, 16));
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const int32_t w = gemm_bf16_pair(ap + 2 * i);
            const __m512 ao = _mm512_castsi512_ps(_mm512_set1_epi32((int32_t)((uint32_t)w & 0xffff0000u)));
            const __m512 ae = _mm512_castsi512_ps(_mm512_set1_epi32((int32_t)((uint32_t)w << 16)));
            acc[i][0] = _mm512_fmadd_ps(ae, b0e, _mm512_fmadd_ps(ao, b0o, acc[i][0]));
            acc[i][1] = _mm512_fmadd_ps(ae, b1e, _mm512_fmadd_ps(ao, b1o, acc[i][1]));
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) _mm512_storeu_ps(c + i * ldc + 16 * h, acc[i][h]);
}

static const gemm_bf16_kernel NATIVE = {bf16_ukernel_native, bf16_convert_avx512};
static const gemm_bf16_kernel EMU = {bf16_ukernel_emu, bf16_convert_avx512};

static int bf16_have_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}

const gemm_bf16_kernel *gemm_bf16_kernel_native(void) {
    return bf16_have_avx512() && __builtin_cpu_supports("avx512bf16") ? &NATIVE : NULL;
}

const gemm_bf16_kernel *gemm_bf16_kernel_emu_avx512(void) { return bf16_have_avx512() ? &EMU : NULL; }

#endif
