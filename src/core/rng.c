/* rng.c — PyTorch-compatible mt19937 generator and its float samplers (see rng.h).
 *
 * Reproducing PyTorch's bits needs each float operation rounded exactly as in
 * its binary: PyTorch's AVX2 kernels are compiled with -mfma and GCC fuses
 * `a * b + c` there, so those places are written as fmaf() here, and every other
 * product and sum is its own statement (never contracted: ISO C mode in GCC,
 * one operation per expression for clang). Checked bit for bit against torch
 * 1.13.1 on 100,000+ samples (tests/test_init.c). */
#include "core/rng.h"

#include <math.h>
#include <string.h>

/* ---- mt19937 (Matsumoto & Nishimura), 32-bit ---- */

enum { MT_M = 397 };
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

void ms_rng_seed(ms_rng *rng, uint64_t seed) {
    memset(rng, 0, sizeof *rng);
    rng->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (uint32_t i = 1; i < MS_RNG_MT_N; i++) {
        uint32_t prev = rng->state[i - 1];
        rng->state[i] = 1812433253u * (prev ^ (prev >> 30)) + i;
    }
    rng->next = MS_RNG_MT_N; /* regenerate before the first draw */
}

/* Refills all 624 state words (the "twist"). */
static void mt_twist(uint32_t *mt) {
    for (int k = 0; k < MS_RNG_MT_N; k++) {
        uint32_t y = (mt[k] & MT_UPPER) | (mt[(k + 1) % MS_RNG_MT_N] & MT_LOWER);
        mt[k] = mt[(k + MT_M) % MS_RNG_MT_N] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    }
}

uint32_t ms_rng_u32(ms_rng *rng) {
    if (rng->next >= MS_RNG_MT_N) {
        mt_twist(rng->state);
        rng->next = 0;
    }
    uint32_t y = rng->state[rng->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t ms_rng_u64(ms_rng *rng) {
    uint64_t hi = ms_rng_u32(rng);
    uint64_t lo = ms_rng_u32(rng);
    return (hi << 32) | lo;
}

/* ---- uniform ---- */

/* [0,1) float from one draw: the low 24 bits times 2^-24 (exact). */
static float unit_f32(ms_rng *rng) {
    return (float)(ms_rng_u32(rng) & 0xffffffu) * 0x1p-24f;
}

/* [0,1) double from two draws: the low 53 bits of random64 times 2^-53. */
static double unit_f64(ms_rng *rng) {
    return (double)(ms_rng_u64(rng) & ((UINT64_C(1) << 53) - 1)) * 0x1p-53;
}

/* ref: ATen TransformationHelper.h uniform_real, cpu/DistributionTemplates.h uniform_kernel */
void ms_rng_uniform(ms_rng *rng, float *dst, size_t n, double from, double to) {
    const float lo = (float)from, hi = (float)to;
    for (size_t i = 0; i < n; i++) {
        float x = unit_f32(rng);
        float range = hi - lo;
        dst[i] = fmaf(x, range, lo);
    }
}

/* ---- Cephes single-precision log and sin/cos, as in ATen's avx_mathfun.h ---- */

static float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float ms_rng_logf(float x) {
    const float one = 1.0f;
    const int invalid = x <= 0.0f;                           /* ordered compare: NaN is not "invalid" here */
    const float min_norm = bits_to_f32(0x00800000u);
    x = x > min_norm ? x : min_norm;                         /* max_ps(x, min_norm): flush denormals */
    int32_t expo = (int32_t)(f32_to_bits(x) >> 23);
    x = bits_to_f32((f32_to_bits(x) & ~0x7f800000u) | f32_to_bits(0.5f)); /* mantissa in [0.5, 1) */
    expo -= 0x7f;
    float e = (float)expo;
    e = e + one;
    /* if x < sqrt(1/2): e -= 1, x = 2x - 1; else x = x - 1 */
    const int below = x < (float)0.707106781186547524;
    const float tmp0 = below ? x : 0.0f;
    x = x - one;
    e = e - (below ? one : 0.0f);
    x = x + tmp0;
    const float z = x * x;
    static const double P[9] = {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                                -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1};
    float y = (float)P[0];
    for (int k = 1; k < 9; k++) y = fmaf(y, x, (float)P[k]);
    y = y * x;
    const float eq1 = e * (float)-2.12194440e-4;
    y = fmaf(y, z, eq1);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    x = fmaf(e, (float)0.693359375, x);
    return invalid ? bits_to_f32(0xffffffffu) : x;
}

void ms_rng_sincosf(float x, float *s, float *c) {
    uint32_t sign_sin = f32_to_bits(x) & 0x80000000u;
    x = bits_to_f32(f32_to_bits(x) & 0x7fffffffu);
    float y = x * (float)1.27323954473516; /* 4/pi */
    int32_t j = (int32_t)y;                /* truncation */
    j = (j + 1) & ~1;
    y = (float)j;
    const uint32_t swap_sign_sin = ((uint32_t)j & 4u) << 29;
    const int sin_poly = (j & 2) == 0;     /* 1: sine from the sin polynomial */
    /* extended-precision range reduction: x = ((x - y*DP1) - y*DP2) - y*DP3 */
    x = fmaf(y, (float)-0.78515625, x);
    x = fmaf(y, (float)-2.4187564849853515625e-4, x);
    x = fmaf(y, (float)-3.77489497744594108e-8, x);
    const uint32_t sign_cos = (~(uint32_t)(j - 2) & 4u) << 29;
    sign_sin ^= swap_sign_sin;
    const float z = x * x;
    /* cosine polynomial on [0, pi/4] */
    float yc = fmaf((float)2.443315711809948E-005, z, (float)-1.388731625493765E-003);
    yc = fmaf(yc, z, (float)4.166664568298827E-002);
    yc = yc * z;
    const float half_z = z * 0.5f;
    yc = fmaf(yc, z, -half_z);
    yc = yc + 1.0f;
    /* sine polynomial on [0, pi/4] */
    float ys = fmaf((float)-1.9515295891E-4, z, (float)8.3321608736E-3);
    ys = fmaf(ys, z, (float)-1.6666654611E-1);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    /* pick the polynomial for each output (masked subtract/add, as the vector code does) */
    const float ysin2 = sin_poly ? ys : 0.0f;
    const float ysin1 = sin_poly ? 0.0f : yc;
    ys = ys - ysin2;
    yc = yc - ysin1;
    const float sv = ysin1 + ysin2;
    const float cv = yc + ys;
    *s = bits_to_f32(f32_to_bits(sv) ^ sign_sin);
    *c = bits_to_f32(f32_to_bits(cv) ^ sign_cos);
}

/* ---- normal ---- */

/* Box-Muller on 16 uniforms in place: j pairs with j + 8.
 * ref: ATen cpu/DistributionTemplates.h normal_fill_16_AVX2 */
static void normal_block16(float *data, float mean, float std) {
    const float two_pi = (float)(2.0f * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        const float u1 = 1.0f - data[j];
        const float u2 = data[j + 8];
        const float lg = ms_rng_logf(u1);
        const float radius = sqrtf(-2.0f * lg);
        const float theta = two_pi * u2;
        float s, c;
        ms_rng_sincosf(theta, &s, &c);
        const float n1 = radius * c;
        const float n2 = radius * s;
        data[j] = fmaf(n1, std, mean);
        data[j + 8] = fmaf(n2, std, mean);
    }
}

/* One double-precision Box-Muller sample (the second is cached).
 * ref: ATen core/DistributionsHelper.h normal_distribution<double> */
static double normal_f64(ms_rng *rng, double mean, double std) {
    double ret;
    if (rng->has_normal) {
        rng->has_normal = 0;
        ret = rng->cached_normal;
    } else {
        const double u1 = unit_f64(rng);
        const double u2 = unit_f64(rng);
        const double r = sqrt(-2.0 * log(1.0 - u2));
        const double theta = 2.0 * 3.14159265358979323846 * u1;
        rng->cached_normal = r * sin(theta);
        rng->has_normal = 1;
        ret = r * cos(theta);
    }
    return fma(ret, std, mean);
}

/* ref: ATen cpu/DistributionTemplates.h normal_kernel, normal_fill_AVX2 */
void ms_rng_normal(ms_rng *rng, float *dst, size_t n, double mean, double std) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) dst[i] = (float)normal_f64(rng, mean, std);
        return;
    }
    const float m = (float)mean, s = (float)std;
    for (size_t i = 0; i < n; i++) dst[i] = unit_f32(rng);
    for (size_t i = 0; i + 16 <= n; i += 16) normal_block16(dst + i, m, s);
    if (n % 16 != 0) { /* the last 16 values are drawn and transformed again */
        float *tail = dst + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = unit_f32(rng);
        normal_block16(tail, m, s);
    }
}
