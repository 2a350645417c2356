/* bench_peak.h — the machine's FMA peak, measured: independent fp32 FMA chains
 * (12 per thread, more than latency x throughput needs), best of 5 short runs,
 * GFLOP/s summed over nthreads concurrent loops. bench_fma_peak() uses the
 * widest vectors the CPU has (512-bit with AVX-512F, else 256-bit with AVX2+FMA),
 * which is what "% of peak" in our tables is relative to; bench_fma_peak_width()
 * forces one width (256 or 512). Shared by bench_encoder.c and bench_gemm.c. */
#ifndef MS_BENCH_PEAK_H
#define MS_BENCH_PEAK_H

#include "bench_util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Twelve chains x = x*m + c of vector type T (set1 S, fma F). */
#define BENCH_FMA_CHAINS(T, S, F)                                                                            \
    const T m = S(0.99999f), c = S(1e-7f);                                                                   \
    T a0 = S(0), a1 = S(1), a2 = S(2), a3 = S(3), a4 = S(4), a5 = S(5), a6 = S(6), a7 = S(7), a8 = S(8);      \
    T a9 = S(9), a10 = S(10), a11 = S(11);                                                                   \
    for (long it = 0; it < iters; it++) {                                                                    \
        a0 = F(a0, m, c), a1 = F(a1, m, c), a2 = F(a2, m, c), a3 = F(a3, m, c), a4 = F(a4, m, c);            \
        a5 = F(a5, m, c), a6 = F(a6, m, c), a7 = F(a7, m, c), a8 = F(a8, m, c), a9 = F(a9, m, c);            \
        a10 = F(a10, m, c), a11 = F(a11, m, c);                                                              \
    }

__attribute__((target("avx2,fma"), noinline)) static float bench_fma_loop256(long iters) {
    BENCH_FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps)
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"), noinline)) static float bench_fma_loop512(long iters) {
    BENCH_FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps)
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

static double bench_fma_peak_width(int nthreads, int width) {
    if (width == 512 && !__builtin_cpu_supports("avx512f")) return 0;
    if (width == 256 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    const long iters = width == 512 ? 5000000 : 10000000;
    const int lanes = width / 32;
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t = bench_now();
#pragma omp parallel num_threads(nthreads)
        {
            float v = width == 512 ? bench_fma_loop512(iters) : bench_fma_loop256(iters);
#pragma omp atomic
            sink += v;
        }
        t = bench_now() - t;
        double g = (double)iters * 12 * lanes * 2 * nthreads / t * 1e-9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}

static int bench_fma_width(void) {
    if (__builtin_cpu_supports("avx512f")) return 512;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 256 : 0;
}
#else
static double bench_fma_peak_width(int nthreads, int width) { (void)nthreads, (void)width; return 0; }
static int bench_fma_width(void) { return 0; }
#endif

static double bench_fma_peak(int nthreads) { return bench_fma_peak_width(nthreads, bench_fma_width()); }

/* A peak reading taken again later in the run (after the workload) keeps the larger value:
 * on a VM whose second vCPU stalls for a moment, all five probes of one reading can see half
 * the real 2-thread peak (seen on the Zen 3 VM: 99 GFLOP/s, then 185 a second later), which
 * would make "% of peak" read twice what it is. */
static double bench_fma_peak_again(double earlier, int nthreads, int width) {
    const double now = bench_fma_peak_width(nthreads, width);
    return now > earlier ? now : earlier;
}

#endif
