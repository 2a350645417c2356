/* vecmath.c — GELU, softmax, LayerNorm, add: AVX2+FMA paths chosen at run time
 * (function-level target attributes, no -march flag) and scalar fallbacks. */
#include "ops/vecmath.h"

#include <math.h>

/* exp(y) = 2^n * exp(r), y = n ln2 + r, |r| <= ln2 / 2 (Cody-Waite split of ln2),
 * exp(r) by its degree-7 Taylor polynomial (truncation < 6e-9 relative). */
#define VM_LOG2E 1.44269504088896341f
#define VM_LN2_HI 0.693359375f
#define VM_LN2_LO -2.12194440e-4f
#define VM_EXP_LO -87.0f /* 2^-125.5: stays a normal float */
#define VM_EXP_HI 88.0f
#define VM_INV_SQRT_2PI 0.3989422804014327f

/* Abramowitz & Stegun 7.1.26: erf(a) = 1 - t (p1 + t (p2 + ... + t p5)) exp(-a^2), t = 1 / (1 + p a) */
#define VM_AS_P 0.3275911f
#define VM_AS_1 0.254829592f
#define VM_AS_2 -0.284496736f
#define VM_AS_3 1.421413741f
#define VM_AS_4 -1.453152027f
#define VM_AS_5 1.061405429f

/* erf(z) to about 1 ulp, from two polynomials fitted (minimax, float coefficients,
 * highest degree first) for this file:
 *   |z| < 1:      erf(z) = z + z R(z^2),       R(s) ~ erf(z)/z - 1
 *   1 <= t <= 4:  erf(t) = 1 - exp(Q(t)),      Q(t) ~ log(erfc(t)); t = min(|z|, 4),
 *                 beyond 4 erfc < 2^-26 and erf rounds to 1. */
#define VM_ERF_SPLIT 1.0f
#define VM_ERF_TMAX 4.0f
#define VM_ERF_R_LIST(F)                                                                                         \
    F(7.889178960e-05f) F(-8.020860841e-04f) F(5.189537536e-03f) F(-2.685444616e-02f) F(1.128360033e-01f)     \
    F(-3.761262596e-01f) F(1.283791661e-01f)
#define VM_ERF_Q_LIST(F)                                                                                         \
    F(-2.168677202e-05f) F(4.413354036e-04f) F(-4.204556812e-03f) F(2.520824224e-02f) F(-1.084185541e-01f)    \
    F(-6.332198977e-01f) F(-1.129578471e+00f) F(1.880373748e-04f)
#define VM_SCALAR(v) v,
static const float vm_erf_r[7] = {VM_ERF_R_LIST(VM_SCALAR)};
static const float vm_erf_q[8] = {VM_ERF_Q_LIST(VM_SCALAR)};

static inline float exp_scalar(float y) {
    y = y < VM_EXP_LO ? VM_EXP_LO : (y > VM_EXP_HI ? VM_EXP_HI : y);
    const float n = nearbyintf(y * VM_LOG2E);
    const float r = (y - n * VM_LN2_HI) - n * VM_LN2_LO;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return ldexpf(p, (int)n);
}

static inline float gelu_scalar(float x) {
    const float z = x * (float)M_SQRT1_2, a = fabsf(z);
    const float t = 1.0f / (1.0f + VM_AS_P * a);
    float poly = VM_AS_5;
    poly = poly * t + VM_AS_4;
    poly = poly * t + VM_AS_3;
    poly = poly * t + VM_AS_2;
    poly = poly * t + VM_AS_1;
    float e = 1.0f - t * poly * exp_scalar(-a * a);
    e = z < 0 ? -e : e;
    return 0.5f * x * (1.0f + e);
}

/* GELU'(x) = Phi(x) + x phi(x), with libm's erff and expf (the scalar tails and fallback). */
static inline float gelu_grad_scalar(float x) {
    return 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)) + x * (expf(-0.5f * x * x) * VM_INV_SQRT_2PI);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VM_AVX2 __attribute__((target("avx2,fma")))

VM_AVX2 static inline __m256 exp_avx2(__m256 y) {
    y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(VM_EXP_LO)), _mm256_set1_ps(VM_EXP_HI));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(VM_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VM_LN2_HI), y);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VM_LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

VM_AVX2 static void gelu_avx2(float *x, long n) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 z = _mm256_mul_ps(v, _mm256_set1_ps((float)M_SQRT1_2));
        const __m256 a = _mm256_andnot_ps(sign, z);
        const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(VM_AS_P), a, one));
        __m256 poly = _mm256_set1_ps(VM_AS_5);
        poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(VM_AS_4));
        poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(VM_AS_3));
        poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(VM_AS_2));
        poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(VM_AS_1));
        const __m256 e = exp_avx2(_mm256_xor_ps(_mm256_mul_ps(a, a), sign));
        __m256 erf = _mm256_fnmadd_ps(_mm256_mul_ps(t, poly), e, one);
        erf = _mm256_or_ps(erf, _mm256_and_ps(z, sign));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erf)));
    }
    for (; i < n; i++) x[i] = gelu_scalar(x[i]);
}

/* erf(z), about 1 ulp (see vm_erf_r / vm_erf_q); NaN gives NaN, +-inf +-1. */
VM_AVX2 static inline __m256 erf_avx2(__m256 z) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 a = _mm256_andnot_ps(sign, z);
    const __m256 s = _mm256_mul_ps(a, a);
    __m256 r = _mm256_set1_ps(vm_erf_r[0]);
    for (int i = 1; i < 7; i++) r = _mm256_fmadd_ps(r, s, _mm256_set1_ps(vm_erf_r[i]));
    const __m256 small = _mm256_fmadd_ps(a, r, a);  // |z| < 1
    const __m256 t = _mm256_min_ps(_mm256_max_ps(a, _mm256_set1_ps(VM_ERF_SPLIT)), _mm256_set1_ps(VM_ERF_TMAX));
    __m256 q = _mm256_set1_ps(vm_erf_q[0]);
    for (int i = 1; i < 8; i++) q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(vm_erf_q[i]));
    const __m256 large = _mm256_sub_ps(_mm256_set1_ps(1.0f), exp_avx2(q));  // |z| >= 1
    const __m256 e = _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(VM_ERF_SPLIT), _CMP_LT_OQ));
    return _mm256_or_ps(_mm256_and_ps(z, sign), _mm256_or_ps(e, _mm256_and_ps(a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q))));
}

/* The constants of erf2_avx2 and gelu_erf_avx2 as whole vectors in memory: each operation takes its
 * constant as a memory operand (a load-port access) instead of a vbroadcastss per use, which the
 * compiler otherwise repeats in every iteration (sixteen registers hold the two chains, not the
 * constants too) and which takes a slot of the FP pipes the arithmetic needs. */
#define VM_R8(v) {v, v, v, v, v, v, v, v}
#define VM_R8_ITEM(v) VM_R8(v),
typedef struct {
    float q[8][8], r[7][8], ex[8][8];  // vm_erf_q, vm_erf_r, exp's Taylor coefficients 1/5040 .. 1
    float sign[8], split[8], tmax[8], log2e[8], ln2_hi[8], ln2_lo[8], one[8], half[8], rsqrt2[8];
    int32_t bias127[8];
} vm_erf_consts;
static const vm_erf_consts vm_k __attribute__((aligned(32))) = {
    {VM_ERF_Q_LIST(VM_R8_ITEM)},
    {VM_ERF_R_LIST(VM_R8_ITEM)},
    {VM_R8(1.0f / 5040), VM_R8(1.0f / 720), VM_R8(1.0f / 120), VM_R8(1.0f / 24), VM_R8(1.0f / 6), VM_R8(0.5f),
     VM_R8(1.0f), VM_R8(1.0f)},
    VM_R8(-0.0f), VM_R8(VM_ERF_SPLIT), VM_R8(VM_ERF_TMAX), VM_R8(VM_LOG2E), VM_R8(VM_LN2_HI), VM_R8(VM_LN2_LO),
    VM_R8(1.0f), VM_R8(0.5f), VM_R8((float)M_SQRT1_2), VM_R8(127)};
#define VM_K(field) _mm256_load_ps(vm_k.field)

/* exp_avx2 on two vectors already inside [VM_EXP_LO, VM_EXP_HI] (its clamp is the identity there),
 * each operation of one beside the same operation of the other (same bits per lane). */
VM_AVX2 static inline void exp2_inrange_avx2(__m256 *y0, __m256 *y1) {
    const __m256 n0 = _mm256_round_ps(_mm256_mul_ps(*y0, VM_K(log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 n1 = _mm256_round_ps(_mm256_mul_ps(*y1, VM_K(log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r0 = _mm256_fnmadd_ps(n0, VM_K(ln2_hi), *y0), r1 = _mm256_fnmadd_ps(n1, VM_K(ln2_hi), *y1);
    r0 = _mm256_fnmadd_ps(n0, VM_K(ln2_lo), r0), r1 = _mm256_fnmadd_ps(n1, VM_K(ln2_lo), r1);
    __m256 p0 = VM_K(ex[0]), p1 = p0;
#pragma GCC unroll 8
    for (int k = 1; k < 8; k++) p0 = _mm256_fmadd_ps(p0, r0, VM_K(ex[k])), p1 = _mm256_fmadd_ps(p1, r1, VM_K(ex[k]));
    const __m256i b127 = _mm256_load_si256((const __m256i *)vm_k.bias127);
    const __m256i e0 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n0), b127), 23);
    const __m256i e1 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n1), b127), 23);
    *y0 = _mm256_mul_ps(p0, _mm256_castsi256_ps(e0)), *y1 = _mm256_mul_ps(p1, _mm256_castsi256_ps(e1));
}

/* erf_avx2 on two vectors, interleaved: one vector's chain of dependent operations (two
 * polynomials and an exp) has ~100 cycles of latency for ~15 of throughput, more than the
 * core's scheduler can overlap from consecutive iterations; side by side the two chains keep
 * it busy. The same operations per lane, so the same bits; the exp's clamp is left out as in
 * erf_avx512_nonan: t = min(max(|z|, 1), 4) is finite even for NaN, so |Q(t)| < 35. */
VM_AVX2 static inline void erf2_avx2(__m256 z0, __m256 z1, __m256 *out0, __m256 *out1) {
    const __m256 a0 = _mm256_andnot_ps(VM_K(sign), z0), a1 = _mm256_andnot_ps(VM_K(sign), z1);
    const __m256 s0 = _mm256_mul_ps(a0, a0), s1 = _mm256_mul_ps(a1, a1);
    const __m256 t0 = _mm256_min_ps(_mm256_max_ps(a0, VM_K(split)), VM_K(tmax));
    const __m256 t1 = _mm256_min_ps(_mm256_max_ps(a1, VM_K(split)), VM_K(tmax));
    __m256 r0 = VM_K(r[0]), r1 = r0, q0 = VM_K(q[0]), q1 = q0;
#pragma GCC unroll 8
    for (int i = 1; i < 8; i++) {
        q0 = _mm256_fmadd_ps(q0, t0, VM_K(q[i])), q1 = _mm256_fmadd_ps(q1, t1, VM_K(q[i]));
        if (i < 7) r0 = _mm256_fmadd_ps(r0, s0, VM_K(r[i])), r1 = _mm256_fmadd_ps(r1, s1, VM_K(r[i]));
    }
    exp2_inrange_avx2(&q0, &q1);
    const __m256 small0 = _mm256_fmadd_ps(a0, r0, a0), small1 = _mm256_fmadd_ps(a1, r1, a1);  // |z| < 1
    const __m256 large0 = _mm256_sub_ps(VM_K(one), q0), large1 = _mm256_sub_ps(VM_K(one), q1);  // |z| >= 1
    const __m256 e0 = _mm256_blendv_ps(large0, small0, _mm256_cmp_ps(a0, VM_K(split), _CMP_LT_OQ));
    const __m256 e1 = _mm256_blendv_ps(large1, small1, _mm256_cmp_ps(a1, VM_K(split), _CMP_LT_OQ));
    *out0 = _mm256_or_ps(_mm256_and_ps(z0, VM_K(sign)), _mm256_or_ps(e0, _mm256_and_ps(a0, _mm256_cmp_ps(a0, a0, _CMP_UNORD_Q))));
    *out1 = _mm256_or_ps(_mm256_and_ps(z1, VM_K(sign)), _mm256_or_ps(e1, _mm256_and_ps(a1, _mm256_cmp_ps(a1, a1, _CMP_UNORD_Q))));
}

/* gelu_forward's formula, 0.5 x (1 + erf(x / sqrt 2)), operation for operation,
 * with erf_avx2 in place of erff; two vectors at a time through erf2_avx2. */
VM_AVX2 static void gelu_erf_avx2(float *x, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        __m256 e0, e1;
        erf2_avx2(_mm256_mul_ps(v0, VM_K(rsqrt2)), _mm256_mul_ps(v1, VM_K(rsqrt2)), &e0, &e1);
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(VM_K(half), v0), _mm256_add_ps(VM_K(one), e0)));
        _mm256_storeu_ps(x + i + 8, _mm256_mul_ps(_mm256_mul_ps(VM_K(half), v1), _mm256_add_ps(VM_K(one), e1)));
    }
    const __m256 c = _mm256_set1_ps((float)M_SQRT1_2), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 e = erf_avx2(_mm256_mul_ps(v, c));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
    }
    for (; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

/* ---- AVX-512: exp, erf and GELU 16 lanes at a time with the AVX2 operations
 * per lane (blends and NaN masks as mask registers), so the same bits. ---- */
#define VM_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

/* exp_avx2's operations for y already inside [VM_EXP_LO, VM_EXP_HI], where its clamp is the
 * identity; p * 2^n by scalef (exact here, as the multiply by the built power of two is). */
VM_AVX512 static inline __m512 exp_avx512_inrange(__m512 y) {
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(VM_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(VM_LN2_HI), y);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(VM_LN2_LO), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* erf_avx2 without its NaN handling (a NaN lane gets a finite value): t = min(max(|z|, 1), 4)
 * is finite even for NaN (max returns its second operand then), so q, a polynomial of t with
 * |q| < 35 from its coefficients, needs no clamp before exp. */
VM_AVX512 static inline __m512 erf_avx512_nonan(__m512 z) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512 a = _mm512_andnot_ps(sign, z);
    const __m512 s = _mm512_mul_ps(a, a);
    __m512 r = _mm512_set1_ps(vm_erf_r[0]);
    for (int i = 1; i < 7; i++) r = _mm512_fmadd_ps(r, s, _mm512_set1_ps(vm_erf_r[i]));
    const __m512 small = _mm512_fmadd_ps(a, r, a);  // |z| < 1
    const __m512 t = _mm512_min_ps(_mm512_max_ps(a, _mm512_set1_ps(VM_ERF_SPLIT)), _mm512_set1_ps(VM_ERF_TMAX));
    __m512 q = _mm512_set1_ps(vm_erf_q[0]);
    for (int i = 1; i < 8; i++) q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(vm_erf_q[i]));
    const __m512 large = _mm512_sub_ps(_mm512_set1_ps(1.0f), exp_avx512_inrange(q));  // |z| >= 1
    const __m512 e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(VM_ERF_SPLIT), _CMP_LT_OQ), large, small);
    return _mm512_or_ps(_mm512_and_ps(z, sign), e);
}

/* erf_avx2 16 lanes at a time: erf_avx512_nonan with the NaN lanes' bits or-ed in. */
VM_AVX512 static inline __m512 erf_avx512(__m512 z) {
    const __m512 a = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), z);
    const __m512 nan = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
    return _mm512_or_ps(erf_avx512_nonan(z), nan);
}

/* gelu_erf_avx2, 16 lanes at a time; the remainder through gelu_erf_avx2. */
VM_AVX512 static void gelu_erf_avx512(float *x, long n) {
    const __m512 c = _mm512_set1_ps((float)M_SQRT1_2), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i), z = _mm512_mul_ps(v, c);
        // NaN lanes (rare) take erf_avx512's NaN handling; the rest skip it
        const __m512 e = _mm512_cmp_ps_mask(z, z, _CMP_UNORD_Q) ? erf_avx512(z) : erf_avx512_nonan(z);
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, e)));
    }
    gelu_erf_avx2(x + i, n - i);
}

static int vec_has_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
}

VM_AVX2 static void erf_avx2_array(float *y, const float *z, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, erf_avx2(_mm256_loadu_ps(z + i)));
    for (; i < n; i++) y[i] = erff(z[i]);
}

/* dinp += dout * (Phi(x) + x phi(x)): gelu_backward's formula with erf_avx2
 * and exp_avx2 in place of erff and expf. */
VM_AVX2 static void gelu_backward_avx2(float *dinp, const float *dout, const float *in, long n) {
    const __m256 c = _mm256_set1_ps((float)M_SQRT1_2), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 mhalf = _mm256_set1_ps(-0.5f), inv_sqrt_2pi = _mm256_set1_ps(VM_INV_SQRT_2PI);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(in + i);
        const __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, erf_avx2(_mm256_mul_ps(x, c))));
        const __m256 pdf = _mm256_mul_ps(exp_avx2(_mm256_mul_ps(_mm256_mul_ps(mhalf, x), x)), inv_sqrt_2pi);
        const __m256 d = _mm256_mul_ps(_mm256_loadu_ps(dout + i), _mm256_fmadd_ps(x, pdf, cdf));
        _mm256_storeu_ps(dinp + i, _mm256_add_ps(_mm256_loadu_ps(dinp + i), d));
    }
    for (; i < n; i++) {
        dinp[i] += dout[i] * gelu_grad_scalar(in[i]);
    }
}

VM_AVX2 static inline float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

VM_AVX2 static inline float hmax_avx2(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

VM_AVX2 static void softmax_row_avx2(float *row, int C) {
    int c = 0;
    float mx = row[0];
    if (C >= 8) {
        __m256 m = _mm256_loadu_ps(row);
        for (c = 8; c + 8 <= C; c += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(row + c));
        mx = hmax_avx2(m);
    }
    for (; c < C; c++) mx = row[c] > mx ? row[c] : mx;
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    double sum = 0.0;
    for (c = 0; c + 8 <= C; c += 8) {
        const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(row + c), vmx));
        _mm256_storeu_ps(row + c, e);
        acc = _mm256_add_ps(acc, e);
    }
    for (; c < C; c++) {
        row[c] = exp_scalar(row[c] - mx);
        sum += row[c];
    }
    sum += hsum_avx2(acc);
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (c = 0; c + 8 <= C; c += 8) _mm256_storeu_ps(row + c, _mm256_mul_ps(_mm256_loadu_ps(row + c), inv));
    for (; c < C; c++) row[c] *= (float)(1.0 / sum);
}

/* Rows shorter than a vector (the image->token groups of Nt): one exp pass over
 * the whole block after subtracting each row's max. */
VM_AVX2 static void softmax_short_rows_avx2(float *x, long R, int C) {
    for (long r = 0; r < R; r++) {
        float *row = x + r * C, mx = row[0];
        for (int c = 1; c < C; c++) mx = row[c] > mx ? row[c] : mx;
        for (int c = 0; c < C; c++) row[c] -= mx;
    }
    const long n = R * C;
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp_avx2(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = exp_scalar(x[i]);
    for (long r = 0; r < R; r++) {
        float *row = x + r * C;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += row[c];
        const float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++) row[c] *= inv;
    }
}

VM_AVX2 static void layernorm_avx2(float *out, const float *in, const float *weight, const float *bias, long N,
                                   int C, float eps) {
    for (long r = 0; r < N; r++) {
        const float *x = in + r * C;
        float *y = out + r * C;
        __m256 acc = _mm256_setzero_ps();
        int c = 0;
        for (; c + 8 <= C; c += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + c));
        float s = hsum_avx2(acc);
        for (; c < C; c++) s += x[c];
        const float mean = s / C;
        const __m256 vm = _mm256_set1_ps(mean);
        acc = _mm256_setzero_ps();
        for (c = 0; c + 8 <= C; c += 8) {
            const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + c), vm);
            acc = _mm256_fmadd_ps(d, d, acc);
        }
        float v = hsum_avx2(acc);
        for (; c < C; c++) v += (x[c] - mean) * (x[c] - mean);
        const float rstd = 1.0f / sqrtf(v / C + eps);
        const __m256 vr = _mm256_set1_ps(rstd);
        for (c = 0; c + 8 <= C; c += 8) {
            const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vr);
            _mm256_storeu_ps(y + c, _mm256_fmadd_ps(d, _mm256_loadu_ps(weight + c), _mm256_loadu_ps(bias + c)));
        }
        for (; c < C; c++) y[c] = (x[c] - mean) * rstd * weight[c] + bias[c];
    }
}

VM_AVX2 static inline double hsum_pd_avx2(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* layernorm_forward's arithmetic (double sums, two passes; float output formula
 * ((x - mean) rstd) w + b), with the sums taken 8 lanes wide. */
VM_AVX2 static void layernorm_f64_avx2(float *out, const float *in, const float *weight, const float *bias, long N,
                                       int C, float eps) {
    for (long r = 0; r < N; r++) {
        const float *x = in + r * C;  // (C)
        float *y = out + r * C;       // (C)
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        int c = 0;
        for (; c + 8 <= C; c += 8) {
            const __m256 v = _mm256_loadu_ps(x + c);
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        }
        double sum = hsum_pd_avx2(_mm256_add_pd(s0, s1));
        for (; c < C; c++) sum += x[c];
        const double mean = sum / C;
        const __m256d vmd = _mm256_set1_pd(mean);
        s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        for (c = 0; c + 8 <= C; c += 8) {
            const __m256 v = _mm256_loadu_ps(x + c);
            const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vmd);
            const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vmd);
            s0 = _mm256_add_pd(s0, _mm256_mul_pd(d0, d0));
            s1 = _mm256_add_pd(s1, _mm256_mul_pd(d1, d1));
        }
        double var = hsum_pd_avx2(_mm256_add_pd(s0, s1));
        for (; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
        var /= C;
        const float rstd = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        const __m256 vm = _mm256_set1_ps(m), vr = _mm256_set1_ps(rstd);
        for (c = 0; c + 8 <= C; c += 8) {
            const __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vr),
                                           _mm256_loadu_ps(weight + c));
            _mm256_storeu_ps(y + c, _mm256_add_ps(t, _mm256_loadu_ps(bias + c)));
        }
        for (; c < C; c++) y[c] = (x[c] - m) * rstd * weight[c] + bias[c];
    }
}

VM_AVX2 static void add_avx2(float *dst, const float *a, const float *b, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) dst[i] = a[i] + b[i];
}

/* Columns c0 .. c0+7 of x (R, C): max, exp and sum down the rows. */
VM_AVX2 static void softmax_cols8_avx2(float *x, long R, int C, int c0) {
    __m256 mx = _mm256_loadu_ps(x + c0);
    for (long r = 1; r < R; r++) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + r * C + c0));
    __m256d s_lo = _mm256_setzero_pd(), s_hi = _mm256_setzero_pd();
    for (long r0 = 0; r0 < R; r0 += 64) {
        const long r1 = r0 + 64 < R ? r0 + 64 : R;
        __m256 part = _mm256_setzero_ps();
        for (long r = r0; r < r1; r++) {
            const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + r * C + c0), mx));
            _mm256_storeu_ps(x + r * C + c0, e);
            part = _mm256_add_ps(part, e);
        }
        s_lo = _mm256_add_pd(s_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(part)));
        s_hi = _mm256_add_pd(s_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(part, 1)));
    }
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256 inv = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(_mm256_div_pd(one, s_lo))),
                                            _mm256_cvtpd_ps(_mm256_div_pd(one, s_hi)), 1);
    for (long r = 0; r < R; r++) _mm256_storeu_ps(x + r * C + c0, _mm256_mul_ps(_mm256_loadu_ps(x + r * C + c0), inv));
}

/* 8 x 8 block: dst[n * D + d] = a[d * N + n] (+ b[d * N + n]) for 8 d and 8 n. */
VM_AVX2 static void transpose8_avx2(float *dst, const float *a, const float *b, int D, long N) {
    __m256 r[8];
    for (int k = 0; k < 8; k++) {
        r[k] = _mm256_loadu_ps(a + k * N);
        if (b) r[k] = _mm256_add_ps(r[k], _mm256_loadu_ps(b + k * N));
    }
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * D, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * D, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * D, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * D, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * D, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * D, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * D, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * D, _mm256_permute2f128_ps(s3, s7, 0x31));
}

int vec_has_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
int vec_has_avx2(void) { return 0; }
#define gelu_avx2(x, n) ((void)0)
#define gelu_erf_avx2(x, n) ((void)0)
#define gelu_backward_avx2(d, g, x, n) ((void)0)
#define gelu_erf_avx512(x, n) ((void)0)
static int vec_has_avx512(void) { return 0; }
#define erf_avx2_array(y, z, n) ((void)0)
#define softmax_row_avx2(x, c) ((void)0)
#define softmax_short_rows_avx2(x, r, c) ((void)0)
#define layernorm_avx2(o, i, w, b, n, c, e) ((void)0)
#define layernorm_f64_avx2(o, i, w, b, n, c, e) ((void)0)
#define add_avx2(d, a, b, n) ((void)0)
#define softmax_cols8_avx2(x, r, c, c0) ((void)0)
#define transpose8_avx2(d, a, b, D, N) ((void)0)
#endif

void vec_gelu_forward_generic(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = gelu_scalar(x[i]);
}

void vec_gelu_forward(float *x, long n) {
    if (vec_has_avx2())
        gelu_avx2(x, n);
    else
        vec_gelu_forward_generic(x, n);
}

// ref: torch.nn.GELU(approximate='none'): 0.5 * x * (1 + erf(x / sqrt(2)))
void vec_gelu_erf_forward(float *x, long n) {
    if (vec_has_avx512()) {
        gelu_erf_avx512(x, n);
        return;
    }
    if (vec_has_avx2()) {
        gelu_erf_avx2(x, n);
        return;
    }
    for (long i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

// ref: torch's GeluBackward (approximate='none'): dout * (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))
void vec_gelu_backward(float *dinp, const float *dout, const float *in, long n) {
    if (vec_has_avx2()) {
        gelu_backward_avx2(dinp, dout, in, n);
        return;
    }
    for (long i = 0; i < n; i++) {
        dinp[i] += dout[i] * gelu_grad_scalar(in[i]);
    }
}

void vec_erf(float *y, const float *z, long n) {
    if (vec_has_avx2()) {
        erf_avx2_array(y, z, n);
        return;
    }
    for (long i = 0; i < n; i++) y[i] = erff(z[i]);
}

// ref: torch.softmax(dim=-1)
void vec_softmax_rows_forward(float *x, long R, int C) {
    if (!vec_has_avx2())
        vec_softmax_rows_forward_generic(x, R, C);
    else if (C >= 16)
        for (long r = 0; r < R; r++) softmax_row_avx2(x + r * C, C);
    else
        softmax_short_rows_avx2(x, R, C);
}

void vec_softmax_rows_forward_generic(float *x, long R, int C) {
    for (long r = 0; r < R; r++) {
        float *row = x + r * C, mx = row[0];
        for (int c = 1; c < C; c++) mx = row[c] > mx ? row[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++) {
            row[c] = exp_scalar(row[c] - mx);
            sum += row[c];
        }
        const float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++) row[c] *= inv;
    }
}

// ref: torch.nn.functional.layer_norm
void vec_layernorm_forward(float *out, const float *in, const float *weight, const float *bias, long N, int C,
                           float eps) {
    if (vec_has_avx2())
        layernorm_avx2(out, in, weight, bias, N, C, eps);
    else
        vec_layernorm_forward_generic(out, in, weight, bias, N, C, eps);
}

// ref: torch.nn.functional.layer_norm
void vec_layernorm_f64_forward(float *out, const float *in, const float *weight, const float *bias, long N, int C,
                               float eps) {
    if (vec_has_avx2()) {
        layernorm_f64_avx2(out, in, weight, bias, N, C, eps);
        return;
    }
    for (long r = 0; r < N; r++) {
        const float *x = in + r * C;  // (C)
        float *y = out + r * C;       // (C)
        double sum = 0.0, var = 0.0;
        for (int c = 0; c < C; c++) sum += x[c];
        const double mean = sum / C;
        for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
        var /= C;
        const float rstd = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * rstd * weight[c] + bias[c];
    }
}

void vec_layernorm_forward_generic(float *out, const float *in, const float *weight, const float *bias, long N, int C,
                                   float eps) {
    for (long r = 0; r < N; r++) {
        const float *x = in + r * C;
        float *y = out + r * C;
        float s = 0.0f, v = 0.0f;
        for (int c = 0; c < C; c++) s += x[c];
        const float mean = s / C;
        for (int c = 0; c < C; c++) v += (x[c] - mean) * (x[c] - mean);
        const float rstd = 1.0f / sqrtf(v / C + eps);
        for (int c = 0; c < C; c++) y[c] = (x[c] - mean) * rstd * weight[c] + bias[c];
    }
}

void vec_add(float *dst, const float *a, const float *b, long n) {
    if (vec_has_avx2()) {
        add_avx2(dst, a, b, n);
        return;
    }
    for (long i = 0; i < n; i++) dst[i] = a[i] + b[i];
}

void vec_add_threads(float *dst, const float *a, const float *b, long n, int nthreads) {
    if (nthreads < 2 || n < 65536) {
        vec_add(dst, a, b, n);
        return;
    }
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int t = 0; t < nthreads; t++) {
        const long i0 = n * t / nthreads, i1 = n * (t + 1) / nthreads;
        vec_add(dst + i0, a + i0, b + i0, i1 - i0);
    }
}

static void softmax_cols_impl(float *x, long R, int C, int c0, int c1, int avx) {
    int c = c0;
    if (avx)
        for (; c + 8 <= c1; c += 8) softmax_cols8_avx2(x, R, C, c);
    for (; c < c1; c++) {
        float mx = x[c];
        for (long r = 1; r < R; r++) mx = x[r * C + c] > mx ? x[r * C + c] : mx;
        double sum = 0.0;
        for (long r = 0; r < R; r++) {
            x[r * C + c] = exp_scalar(x[r * C + c] - mx);
            sum += x[r * C + c];
        }
        const float inv = (float)(1.0 / sum);
        for (long r = 0; r < R; r++) x[r * C + c] *= inv;
    }
}

void vec_softmax_cols_forward(float *x, long R, int C, int c0, int c1) {
    softmax_cols_impl(x, R, C, c0, c1, vec_has_avx2());
}

void vec_softmax_cols_forward_generic(float *x, long R, int C, int c0, int c1) {
    softmax_cols_impl(x, R, C, c0, c1, 0);
}

/* Runs of 64 tokens: each of the D source rows gives four whole cache lines to a run (8 tokens at
 * a time gave it half a line, and came back for the other half after all D rows). */
void vec_transpose_add(float *dst, const float *a, const float *b, int D, long N, long n_lo, long n_hi) {
    const int avx = vec_has_avx2();
    for (long r0 = n_lo; r0 < n_hi; r0 += 64) {
        const long r1 = n_hi - r0 < 64 ? n_hi : r0 + 64;
        for (int d0 = 0; d0 < D; d0 += 8)
            for (long n0 = r0; n0 < r1; n0 += 8) {
                if (avx && n0 + 8 <= r1 && d0 + 8 <= D) {
                    transpose8_avx2(dst + n0 * D + d0, a + (long)d0 * N + n0, b ? b + (long)d0 * N + n0 : NULL, D, N);
                    continue;
                }
                for (long n = n0; n < n0 + 8 && n < r1; n++)
                    for (int d = d0; d < d0 + 8 && d < D; d++)
                        dst[n * D + d] = b ? a[(long)d * N + n] + b[(long)d * N + n] : a[(long)d * N + n];
            }
    }
}
