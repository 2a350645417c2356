/* bench_gemm.c — GFLOP/s of gemm_f32 on the ViT-B encoder, attention and
 * decoder shapes, with 1 and 2 threads, against OpenBLAS's cblas_sgemm in the
 * same run and against a measured FMA peak.
 *
 * Build (from the repository root, after `make build/libmedsam.a`):
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_gemm.c \
 *      build/libmedsam.a -lopenblas -lm -o build/bench_gemm
 * (without OpenBLAS: add -DBENCH_NO_OPENBLAS and drop -lopenblas).
 * Run:  ./build/bench_gemm [reps=3] [name-filter]     e.g. ./build/bench_gemm 5 qkv
 * Prints, per shape and thread count, the median (and best) GFLOP/s over
 * `reps` timed runs after one warm-up run; "%pk" is relative to the FMA loop's
 * peak measured with as many threads. Takes about half a minute with reps=3.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef BENCH_NO_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "bench_util.h"

#include "bench_peak.h"

typedef struct {
    const char *name;
    int ta, tb, M, N, K;
    int attention; /* attention tiles: 1 thread per call; "2 thr" = two calls side by side */
} shape;

static const shape SHAPES[] = {
    {"qkv      4096x2304x768", 0, 1, 4096, 2304, 768, 0},
    {"qkv      4900x2304x768", 0, 1, 4900, 2304, 768, 0},
    {"proj     4096x768x768", 0, 1, 4096, 768, 768, 0},
    {"lin1     4096x3072x768", 0, 1, 4096, 3072, 768, 0},
    {"lin2     4096x768x3072", 0, 1, 4096, 768, 3072, 0},
    {"q.k^T    256x4096x64", 0, 1, 256, 4096, 64, 1},
    {"q.k^T    64x4096x64", 0, 1, 64, 4096, 64, 1},
    {"p.v      256x64x4096", 0, 0, 256, 64, 4096, 1},
    {"p.v      64x64x4096", 0, 0, 64, 64, 4096, 1},
    {"win q.kT 196x196x64", 0, 1, 196, 196, 64, 1},
    {"win p.v  196x64x196", 0, 0, 196, 64, 196, 1},
    {"decoder  7x256x256", 0, 1, 7, 256, 256, 0},
};

typedef enum { IMPL_OURS, IMPL_PACKED, IMPL_OPENBLAS } impl;

typedef struct {
    const float *A, *B;
    float *C;
    const gemm_packed_b *pb;
} operands;

static void bench_call(impl which, const shape *s, const operands *o, int nthreads) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    switch (which) {
    case IMPL_OURS:
        gemm_f32(s->ta, s->tb, s->M, s->N, s->K, 1.0f, o->A, lda, o->B, ldb, 0.0f, o->C, s->N, nthreads);
        break;
    case IMPL_PACKED:
        gemm_f32_packed(s->ta, s->M, 1.0f, o->A, lda, o->pb, 0.0f, o->C, s->N, NULL, nthreads);
        break;
    case IMPL_OPENBLAS:
#ifndef BENCH_NO_OPENBLAS
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->M, s->N,
                    s->K, 1.0f, o->A, lda, o->B, ldb, 0.0f, o->C, s->N);
#endif
        break;
    }
}

/* Median and best GFLOP/s over reps timed runs (after one warm-up). Each run
 * repeats the call enough times to last ~20 ms. Attention shapes with two
 * threads run two independent single-threaded calls side by side. */
static void bench_measure(impl which, const shape *s, const operands ops[2], int nthreads, int reps, double *median,
                          double *best) {
    const double flop = 2.0 * s->M * s->N * s->K;
    const int side_by_side = s->attention && nthreads > 1 && which != IMPL_OPENBLAS;
    double t = bench_now();
    bench_call(which, s, &ops[0], nthreads);
    t = bench_now() - t;
    int inner = t > 0.02 ? 1 : (int)(0.02 / (t > 1e-7 ? t : 1e-7)) + 1;
    double g[64];
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        if (side_by_side) {
#pragma omp parallel num_threads(2)
            {
#ifdef _OPENMP
                int me = omp_get_thread_num();
#else
                int me = 0;
#endif
                for (int i = 0; i < inner; i++) bench_call(which, s, &ops[me & 1], 1);
            }
        } else {
            for (int i = 0; i < inner; i++) bench_call(which, s, &ops[0], nthreads);
        }
        double dt = bench_now() - t0;
        g[r] = flop * inner * (side_by_side ? 2 : 1) / dt * 1e-9;
    }
    *median = bench_median(g, reps);
    *best = g[0];
    for (int r = 1; r < reps; r++) *best = g[r] > *best ? g[r] : *best;
}

static float *bench_alloc(long n) {
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) & ~63L));
    if (!p) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    for (long i = 0; i < n; i++) p[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
    return p;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    const char *filter = argc > 2 ? argv[2] : NULL;
    if (reps < 1) reps = 1;
    double peak[3] = {0, bench_fma_peak(1), bench_fma_peak(2)};
    printf("kernel: %s; FMA peak (%d-bit vectors) %.1f GFLOP/s (1 thread), %.1f (2 threads)\n", gemm_kernel_name(),
           bench_fma_width(), peak[1], peak[2]);
    printf("median (best) GFLOP/s of %d runs; %%pk = median / peak with the same thread count\n", reps);
    printf("attention rows, 2 thr: two independent 1-thread calls side by side (how attention uses gemm)\n");
    printf("%-24s %3s | %15s %5s | %15s %5s | %15s %5s\n", "shape MxNxK", "thr", "gemm_f32", "%pk", "packed B",
           "%pk", "OpenBLAS", "%pk");
    long amax = 0, bmax = 0, cmax = 0;
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
        const shape *s = &SHAPES[i];
        if ((long)s->M * s->K > amax) amax = (long)s->M * s->K;
        if ((long)s->K * s->N > bmax) bmax = (long)s->K * s->N;
        if ((long)s->M * s->N > cmax) cmax = (long)s->M * s->N;
    }
    operands ops[2];
    for (int k = 0; k < 2; k++) {
        ops[k].A = bench_alloc(amax);
        ops[k].B = bench_alloc(bmax);
        ops[k].C = bench_alloc(cmax);
    }
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
        const shape *s = &SHAPES[i];
        if (filter && !strstr(s->name, filter)) continue;
        gemm_packed_b *pb = gemm_pack_b(s->tb, s->K, s->N, ops[0].B, s->tb ? s->K : s->N);
        ops[0].pb = ops[1].pb = pb;
        for (int nt = 1; nt <= 2; nt++) {
            double med[3] = {0}, best[3] = {0};
            bench_measure(IMPL_OURS, s, ops, nt, reps, &med[0], &best[0]);
            if (pb) bench_measure(IMPL_PACKED, s, ops, nt, reps, &med[1], &best[1]);
#ifndef BENCH_NO_OPENBLAS
            openblas_set_num_threads(nt);
            bench_measure(IMPL_OPENBLAS, s, ops, nt, reps, &med[2], &best[2]);
#endif
            printf("%-24s %3d |", s->name, nt);
            for (int k = 0; k < 3; k++)
                printf(" %6.1f (%6.1f) %4.0f%% |", med[k], best[k], peak[nt] > 0 ? 100 * med[k] / peak[nt] : 0.0);
            printf("\n");
            fflush(stdout);
        }
        gemm_packed_b_free(pb);
    }
    for (int k = 0; k < 2; k++) free((void *)ops[k].A), free((void *)ops[k].B), free(ops[k].C);
    return 0;
}
