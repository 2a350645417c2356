/* bench_bf16.c — `--precision bf16` speed beside fp32, in one process so that
 * both see the same machine load: measured dot-product peaks (fp32 FMA,
 * vdpbf16ps, AMX tdpbf16ps; one thread), one ViT-B-sized GEMM on every bf16
 * path, and the whole encoder, fp32 and bf16 alternated rep by rep (best and
 * median of each, and their ratio).
 * Usage: bench_bf16 -m MODEL.pth -i IMAGE [--threads N] [--reps R] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_peak.h"
#include "bench_util.h"
#include "medsam.h"
#include "ops/gemm.h"
#include "ops/gemm_bf16.h"

#if defined(__x86_64__)
#define DP(a) a = _mm512_dpbf16_ps(a, x, y)
__attribute__((target("avx512f,avx512bf16"), noinline)) static float bench_dpbf16_loop(long iters) {
    __m512 a0 = _mm512_set1_ps(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
           a10 = a0, a11 = a0;
    const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x33803380);
    for (long it = 0; it < iters; it++) {
        DP(a0), DP(a1), DP(a2), DP(a3), DP(a4), DP(a5), DP(a6), DP(a7), DP(a8), DP(a9), DP(a10), DP(a11);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

/* GFLOP/s of one thread running vdpbf16ps (32 multiply-adds per instruction), best of 5. */
static double bench_dpbf16_peak(void) {
    if (!gemm_bf16_path_supported(GEMM_BF16_NATIVE)) return 0;
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        const long iters = 2000000;
        double t = bench_now();
        sink += bench_dpbf16_loop(iters);
        t = bench_now() - t;
        const double g = (double)iters * 12 * 64 / t * 1e-9;
        if (g > best) best = g;
    }
    return best;
}

/* GFLOP/s of one thread running tdpbf16ps on four independent 16x16 C tiles, best of 5. */
static double bench_amx_peak(void) {
    if (!gemm_bf16_path_supported(GEMM_BF16_AMX)) return 0;
    struct { unsigned char palette, start, res[14]; unsigned short colsb[16]; unsigned char rows[16]; }
    __attribute__((aligned(64))) cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    static unsigned short buf[16 * 32] __attribute__((aligned(64)));
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    __asm__ volatile("tilezero %%tmm0\n tilezero %%tmm1\n tilezero %%tmm2\n tilezero %%tmm3" ::: "memory");
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm4\n tileloadd (%0,%1,1), %%tmm5\n tileloadd (%0,%1,1), %%tmm6\n"
                     " tileloadd (%0,%1,1), %%tmm7" ::"r"(buf), "r"(64L) : "memory");
    double best = 0;
    for (int r = 0; r < 5; r++) {
        const long iters = 200000;
        double t = bench_now();
        for (long i = 0; i < iters; i++)
            __asm__ volatile("tdpbf16ps %%tmm6, %%tmm4, %%tmm0\n tdpbf16ps %%tmm7, %%tmm4, %%tmm1\n"
                             " tdpbf16ps %%tmm6, %%tmm5, %%tmm2\n tdpbf16ps %%tmm7, %%tmm5, %%tmm3" ::: "memory");
        t = bench_now() - t;
        const double g = (double)iters * 4 * 16 * 16 * 32 * 2 / t * 1e-9;
        if (g > best) best = g;
    }
    __asm__ volatile("tilerelease" ::: "memory");
    return best;
}
#else
static double bench_dpbf16_peak(void) { return 0; }
static double bench_amx_peak(void) { return 0; }
#endif

static void bench_gemm_paths(void) {
    const int M = 1024, N = 3072, K = 768;  // ViT-B lin1 on 1024 tokens
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C = malloc(sizeof(float) * M * N);
    for (long i = 0; i < (long)M * K; i++) A[i] = (float)(i % 13) * 0.01f;
    for (long i = 0; i < (long)N * K; i++) B[i] = (float)(i % 7) * 0.01f;
    gemm_packed_b *pf = gemm_pack_b(1, K, N, B, K);
    gemm_bf16_b *pb = gemm_bf16_pack_b(1, K, N, B, K);
    const double flop = 2.0 * M * N * K;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = bench_now();
        gemm_f32_packed(0, M, 1.0f, A, K, pf, 0.0f, C, N, NULL, 1);
        t = bench_now() - t;
        best = t < best ? t : best;
    }
    printf("GEMM %dx%dx%d, 1 thread: fp32 %-28s %7.1f GFLOP/s\n", M, N, K, gemm_kernel_name(), flop / best * 1e-9);
    const gemm_bf16_path paths[] = {GEMM_BF16_AMX, GEMM_BF16_NATIVE, GEMM_BF16_EMU_AVX512, GEMM_BF16_EMU_AVX2,
                                    GEMM_BF16_PORTABLE};
    for (int p = 0; p < 4; p++) {
        if (!gemm_bf16_path_supported(paths[p])) continue;
        best = 1e30;
        for (int r = 0; r < (paths[p] == GEMM_BF16_PORTABLE ? 1 : 3); r++) {
            double t = bench_now();
            gemm_bf16_packed(paths[p], M, A, K, pb, C, N, NULL, 1);
            t = bench_now() - t;
            best = t < best ? t : best;
        }
        printf("GEMM %dx%dx%d, 1 thread: bf16 %-28s %7.1f GFLOP/s\n", M, N, K, gemm_bf16_path_name(paths[p]),
               flop / best * 1e-9);
    }
    gemm_packed_b_free(pf);
    gemm_bf16_b_free(pb);
    free(A), free(B), free(C);
}

int main(int argc, char **argv) {
    const char *model = NULL, *image = NULL;
    int threads = 2, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) model = argv[i + 1];
        else if (!strcmp(argv[i], "-i")) image = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    if (threads < 1) threads = 1;
    if (reps < 1 || reps > 50) reps = 3;
    printf("peak, 1 thread: fp32 FMA %.1f GFLOP/s, vdpbf16ps %.1f GFLOP/s, AMX tdpbf16ps %.1f GFLOP/s\n",
           bench_fma_peak_width(1, 512), bench_dpbf16_peak(), bench_amx_peak());
    bench_gemm_paths();
    if (!model || !image) {
        fprintf(stderr, "bench_bf16: no -m MODEL -i IMAGE: encoder skipped\n");
        return 0;
    }
    medsam_error err;
    medsam_model *m32 = NULL, *mbf = NULL;
    float *x = NULL;
    int W, H;
    if (medsam_model_load(model, &m32, &err) || medsam_model_load(model, &mbf, &err) ||
        medsam_model_set_precision(mbf, MEDSAM_PRECISION_BF16, &err) ||
        medsam_model_prepare_input(m32, image, threads, &x, &W, &H, &err)) {
        fprintf(stderr, "bench_bf16: %s\n", err.message);
        return 1;
    }
    double t32[50], tbf[50];
    for (int r = 0; r < reps; r++)
        for (int p = 0; p < 2; p++) {
            medsam_embedding *e = NULL;
            double t = bench_now();
            if (medsam_encode(p ? mbf : m32, x, threads, &e, &err)) {
                fprintf(stderr, "bench_bf16: %s\n", err.message);
                return 1;
            }
            (p ? tbf : t32)[r] = bench_now() - t;
            medsam_embedding_free(e);
        }
    double b32 = t32[0], bbf = tbf[0];
    for (int r = 1; r < reps; r++) b32 = t32[r] < b32 ? t32[r] : b32, bbf = tbf[r] < bbf ? tbf[r] : bbf;
    const double med32 = bench_median(t32, reps), medbf = bench_median(tbf, reps);
    printf("encoder, %d threads, %d reps alternated: fp32 best %.3f s median %.3f s; bf16 (%s) best %.3f s median %.3f "
           "s; speed-up best %.2fx median %.2fx\n",
           threads, reps, b32, med32, medsam_bf16_kernel(), bbf, medbf, b32 / bbf, med32 / medbf);
    free(x);
    medsam_model_free(m32);
    medsam_model_free(mbf);
    return 0;
}
