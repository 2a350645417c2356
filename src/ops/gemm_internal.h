/* gemm_internal.h — pieces shared by the gemm driver (gemm.c) and its
 * kernels (gemm_generic.c, gemm_avx2.c, gemm_avx512.c); tests may use it to
 * reach paths the public API picks automatically (the small-buffer fallback,
 * each kernel with pre-packed B).
 *
 * Each kernel has its own micro-tile (MR rows, NR columns: 6x16 for the
 * generic and AVX2 kernels, 12x32 for AVX-512). Every kernel computes each
 * element of C with the same sequence of fused multiply-adds (one accumulator,
 * p in order, the same K chunks), so the AVX2 and AVX-512 kernels give the
 * same bits; the tile shape only changes which elements run side by side.
 *
 * Packed layouts (what the micro-kernel reads), MR and NR being the kernel's:
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

#define GEMM_MR 6   /* micro-tile rows of the generic and AVX2 kernels */
#define GEMM_NR 16  /* micro-tile columns of those (two 8-float vectors) */
#define GEMM_MR_MAX 12 /* largest MR / NR of any kernel (AVX-512: 12x32) */
#define GEMM_NR_MAX 32

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
/* The same sums as gemm_ukernel_fn for a full MR-row tile read straight from a
 * row-major A (op(A) = A, no packing): row i of the tile is a + i*lda, p = 0..kc-1.
 * Same operations in the same order per element, so the same bits. */
typedef void (*gemm_ukernel_direct_fn)(int kc, const float *a, long lda,  // (MR, kc) rows of A
                                       const float *b,                    // (kc, NR) packed
                                       float *c, long ldc, int nr, const gemm_update *u);
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
    int mr, nr; /* micro-tile; mr divides GEMM_MC, nr divides GEMM_NC */
    const char *name;
    gemm_ukernel_direct_fn ukernel_direct; /* or NULL: A is always packed */
} gemm_kernel;

const gemm_kernel *gemm_kernel_generic(void);
/* The AVX2+FMA kernel when this CPU (and OS) supports it, else NULL. */
const gemm_kernel *gemm_kernel_avx2(void);
/* The AVX-512 kernel (AVX512F/VL) when supported, else NULL. */
const gemm_kernel *gemm_kernel_avx512(void);
/* The kernel the public functions use: AVX-512, else AVX2, else generic. */
const gemm_kernel *gemm_kernel_best(void);

struct gemm_packed_b {
    int K, N;
    const gemm_kernel *kern; /* whose layout (NR) data has */
    int owned;               /* 0: lives in caller memory (gemm_pack_b_into), never freed */
    float *data;             /* (ceil(N/NR), K, NR), 64-byte aligned */
};

/* gemm_pack_b in `kern`'s layout (tests use it to pair any kernel with a pre-packed B). */
gemm_packed_b *gemm_pack_b_with(const gemm_kernel *kern, int trans_b, int K, int N, const float *B, int ldb);

/* One multiply, as the driver sees it. B is used when pb is NULL; pb must
 * have been packed for the kernel the call runs on. */
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
