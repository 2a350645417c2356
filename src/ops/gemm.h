/* gemm.h — single-precision matrix multiply (BLIS-style packed SGEMM).
 *
 * All matrices are row-major; lda/ldb/ldc are the row strides of the matrices
 * *as stored*. op(X) is X (trans = 0) or X^T (trans != 0):
 *
 *     C(M,N) = alpha * op(A)(M,K) * op(B)(K,N) + beta * C  [+ bias[n] per column]
 *
 * so A is stored (M, lda>=K) when trans_a == 0 and (K, lda>=M) otherwise, and
 * B is stored (K, ldb>=N) when trans_b == 0 and (N, ldb>=K) otherwise. A PyTorch
 * Linear y = x W^T + b with W (out, in) is
 *     gemm_f32_bias(0, 1, rows, out, in, 1, x, in, W, in, 0, y, out, b, nthreads).
 *
 * Semantics (as BLAS): beta == 0 ignores C's old content (NaN/Inf included);
 * alpha == 0 or K == 0 does not read A or B. Elements of C outside (M, N)
 * are never touched.
 *
 * Determinism: every element of C is computed by one thread with the same
 * sequence of floating-point operations whatever `nthreads` is (threads split
 * C into disjoint blocks; the K dimension is never split between threads), so
 * results are bit-identical for any nthreads, and between gemm_f32_bias and
 * gemm_f32_packed. The AVX-512 and AVX2 paths give the same bits as each other
 * (same fused multiply-adds per element); the generic path differs from them
 * in the last bits (it does not fuse).
 *
 * Threading: nthreads > 1 opens `#pragma omp parallel num_threads(nthreads)`
 * (fewer threads on small problems); nthreads <= 1 opens no parallel region,
 * so gemm may be called from inside the caller's own parallel loops.
 *
 * Memory: each call allocates its packing buffers (about 3.5 MB per thread at
 * most). If that allocation fails it falls back to small stack buffers and the
 * same arithmetic (slower, same bits), so these functions cannot fail.
 *
 * Paths, chosen at run time (the build itself needs no -march flag): the
 * AVX-512 micro-kernel (12x32) when the CPU has AVX512F/VL, else the AVX2+FMA
 * one (6x16), else a portable C kernel.
 */
#ifndef MS_OPS_GEMM_H
#define MS_OPS_GEMM_H

#include <stddef.h>

/* C = alpha * op(A) * op(B) + beta * C. */
void gemm_f32(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda,  // op(A): (M, K)
              const float *B, int ldb,  // op(B): (K, N)
              float beta, float *C, int ldc,  // (M, N)
              int nthreads);

/* Same, then adds bias[n] to every row of C; bias (N) may be NULL. */
void gemm_f32_bias(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc,
                   const float *bias,  // (N) or NULL
                   int nthreads);

/* Same as gemm_f32, always on the portable C kernel (for tests and for
 * comparing paths; results differ from gemm_f32 by rounding only). */
void gemm_f32_generic(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, int nthreads);

/* Plain triple loop with double accumulation, single-threaded; the reference
 * that tests hold the fast paths to. Same semantics as gemm_f32 / _bias. */
void gemm_f32_ref(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
void gemm_f32_bias_ref(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, const float *bias);

/* ---- pre-packed B (constant weights, or attention K/V reused over tiles) ----
 * gemm_pack_b copies op(B) (K, N) once into the kernel's panel layout; the
 * object is read-only afterwards and may be shared by concurrent calls.
 * Returns NULL when K or N is negative or the allocation fails. */
typedef struct gemm_packed_b gemm_packed_b;

gemm_packed_b *gemm_pack_b(int trans_b, int K, int N, const float *B, int ldb);  // op(B): (K, N)
void gemm_packed_b_free(gemm_packed_b *pb);
int gemm_packed_b_rows(const gemm_packed_b *pb);  // K
int gemm_packed_b_cols(const gemm_packed_b *pb);  // N
/* Bytes held by a packed B of op(B) (K, N); lets callers budget memory. */
long gemm_packed_b_bytes(int K, int N);

/* The same object built inside caller memory (no allocation), the panels
 * packed by nthreads threads (bits independent of nthreads). mem must be
 * 64-byte aligned and hold gemm_pack_b_into_bytes(K, N) bytes; returns NULL
 * otherwise. The object lives in mem: gemm_packed_b_free ignores it. */
size_t gemm_pack_b_into_bytes(int K, int N);
gemm_packed_b *gemm_pack_b_into(void *mem, size_t mem_bytes, int trans_b, int K, int N,
                                const float *B, int ldb,  // op(B): (K, N)
                                int nthreads);

/* C = alpha * op(A) * B + beta * C [+ bias], with B pre-packed; M from the
 * caller, K and N from pb. Bit-identical to gemm_f32_bias on the same data. */
void gemm_f32_packed(int trans_a, int M, float alpha, const float *A, int lda,  // op(A): (M, K)
                     const gemm_packed_b *pb, float beta, float *C, int ldc,  // (M, N)
                     const float *bias,  // (N) or NULL
                     int nthreads);

/* Name of the kernel gemm_f32 uses on this CPU, e.g. "avx512 12x32". */
const char *gemm_kernel_name(void);

#endif
