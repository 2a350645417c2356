/* gemm_internal.h — pieces shared by the gemm driver (gemm.c) and its
 * kernels (gemm_generic.c, gemm_avx2.c); tests may use it to reach paths the
 * public API picks automatically (the small-buffer fallback, the generic
 * kernel with pre-packed B).
 *
 * Packed layouts (what the micro-kernel reads):
 *   A block (mc, kc) -> ceil(mc/MR) panels, panel r at buf + r*kc*MR, holding
 *       op(A)(r*MR + i, p) at [p*MR + i]; rows past mc are zero.
 *   B block (kc, nc) -> ceil(nc/NR) panels, panel q at buf + q*panel_stride,
 *       holding op(B)(p, q*NR + j) at [p*NR + j]; columns past nc are zero.
 * A pre-packed B is one B block over all of K with panel_stride = K*NR, so a
 * K chunk [pc, pc+kc) of panel q starts at data + q*K*NR + pc*NR.
 */
#ifndef MS_OPS_GEMM_INTERNAL_H
#define MS_OPS_GEMM_INTERNAL_H

#include "ops/gemm.h"

#define GEMM_MR 6   /* micro-tile rows */
#define GEMM_NR 16  /* micro-tile columns (two 8-float vectors) */

/* How a micro-kernel writes its tile. With acc = sum over the chunk:
 *   first chunk: C = alpha*acc + t,  t = (beta == 0 ? 0 : beta*C) + bias[j]
 *   later:       C = alpha*acc + C                                         */
typedef struct {
    float alpha, beta;
    const float *bias; /* (nr) bias of this tile's columns, or NULL */
    int first;         /* 1 for the first K chunk */
} gemm_update;

/* acc(i, j) = sum_{p<kc} a[p*MR + i] * b[p*NR + j], summed in order of p with
 * one accumulator per element; then updates C(i, j) for i < mr, j < nr only. */
typedef void (*gemm_ukernel_fn)(int kc, const float *a,  // (kc, MR) packed
                                const float *b,          // (kc, NR) packed
                                float *c, long ldc,      // (mr, nr) tile of C
                                int mr, int nr, const gemm_update *u);
/* Packs op(A)(0:mc, 0:kc); A points at op(A)(0, 0) of the block. */
typedef void (*gemm_pack_a_fn)(int trans_a, const float *A, long lda, int mc, int kc,
                               float *buf);  // (ceil(mc/MR), kc, MR)
/* Packs op(B)(0:kc, 0:nc); B points at op(B)(0, 0) of the block. */
typedef void (*gemm_pack_b_fn)(int trans_b, const float *B, long ldb, int kc, int nc, float *buf,
                               long panel_stride);  // (ceil(nc/NR), panel_stride)

typedef struct {
    gemm_ukernel_fn ukernel;
    gemm_pack_a_fn pack_a;
    gemm_pack_b_fn pack_b;
    const char *name;
} gemm_kernel;

const gemm_kernel *gemm_kernel_generic(void);
/* The AVX2+FMA kernel when this CPU (and OS) supports it, else NULL. */
const gemm_kernel *gemm_kernel_avx2(void);

struct gemm_packed_b {
    int K, N;
    float *data; /* (ceil(N/NR), K, NR), 64-byte aligned */
};

/* One multiply, as the driver sees it. B is used when pb is NULL. */
typedef struct {
    int trans_a, trans_b, M, N, K;
    float alpha, beta;
    const float *A; /* op(A): (M, K) */
    long lda;
    const float *B; /* op(B): (K, N) */
    long ldb;
    const gemm_packed_b *pb;
    float *C; /* (M, N) */
    long ldc;
    const float *bias; /* (N) or NULL */
} gemm_call;

/* Runs one call on `kern`. small_buffers != 0 forces the allocation-free
 * fallback (stack buffers, tiny blocks); results are the same bits. */
void gemm_run(const gemm_call *call, const gemm_kernel *kern, int nthreads, int small_buffers);

#endif
