/* gemm_bf16.h — reduced-precision matrix multiply for constant weights:
 * bf16 operands, fp32 accumulation (the `--precision bf16` encoder path).
 *
 *     C(M,N) = A(M,K) * B(K,N) [+ bias[n]]     (row-major, C overwritten)
 *
 * B (the weights) is converted once by gemm_bf16_pack_b; A (activations) is
 * converted block by block inside the call. fp32 -> bf16 is round to nearest
 * even with subnormals flushed to zero (what the AVX512_BF16 conversion
 * instructions do); NaN stays NaN.
 *
 * Arithmetic, the same on every path: with a(k), b(k) the bf16 values widened
 * to fp32 (exact), each element is
 *     acc = 0;  for each k pair (k0 = 2p, k1 = 2p+1; a missing k1 reads 0):
 *               acc = acc + a(k1)*b(k1);  acc = acc + a(k0)*b(k0)
 *     C = acc [+ bias]
 * with every product exact in fp32 and every sum rounded to nearest even:
 * exactly what one `vdpbf16ps` does per 32-bit lane (Intel SDM: odd element
 * first, then even). The native path is that instruction; the emulated paths
 * widen bf16 to fp32 and add the products in the same order, so all paths
 * give the same bits except where a partial sum falls below 2^-126 (the
 * instruction flushes such a sum to zero, the emulation keeps the subnormal).
 * Results do not depend on nthreads (threads split C, never K).
 *
 * Paths (chosen at run time, none needs a -march flag at build time):
 *   GEMM_BF16_AMX         AMX-BF16 tdpbf16ps on 32x32 tiles (Linux, after
 *                         arch_prctl grants the tile state). Its pairs are
 *                         summed even k first (the instruction's order), so
 *                         its last bits differ from the three paths below.
 *   GEMM_BF16_NATIVE      AVX512_BF16 vdpbf16ps micro-kernel (12x32)
 *   GEMM_BF16_EMU_AVX512  AVX-512F emulation (bf16 widened, two FMAs per pair)
 *   GEMM_BF16_EMU_AVX2    the same on AVX2 + FMA (CPUs without AVX-512; about
 *                         the fp32 GEMM's speed)
 *   GEMM_BF16_PORTABLE    portable C emulation (any CPU; slow)
 * GEMM_BF16_AUTO picks the first one the CPU supports.
 */
#ifndef MS_OPS_GEMM_BF16_H
#define MS_OPS_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    GEMM_BF16_AUTO = 0,
    GEMM_BF16_NATIVE,
    GEMM_BF16_EMU_AVX512,
    GEMM_BF16_PORTABLE,
    GEMM_BF16_AMX,
    GEMM_BF16_EMU_AVX2, /* the emulation on AVX2 + FMA (CPUs without AVX-512) */
} gemm_bf16_path;

/* The path AUTO resolves to on this CPU. */
gemm_bf16_path gemm_bf16_best_path(void);
/* 1 when this CPU (and OS) can run `path`. */
int gemm_bf16_path_supported(gemm_bf16_path path);
/* "amx-bf16 (tdpbf16ps tiles)", "avx512bf16 (native vdpbf16ps)", "avx512f (emulated)", "portable C (emulated)". */
const char *gemm_bf16_path_name(gemm_bf16_path path);

/* fp32 -> bf16 bits: round to nearest even, subnormals to signed zero, NaN kept quiet. */
uint16_t gemm_bf16_from_f32(float x);
float gemm_bf16_to_f32(uint16_t h);

/* op(B) (K, N) converted to bf16 in the kernels' panel layout; read-only
 * afterwards (may be shared by concurrent calls). B is (K, ldb>=N) when
 * trans_b == 0, (N, ldb>=K) otherwise (a PyTorch Linear weight (out, in) is
 * trans_b = 1). NULL when K or N < 1 or the allocation fails. */
typedef struct gemm_bf16_b gemm_bf16_b;
gemm_bf16_b *gemm_bf16_pack_b(int trans_b, int K, int N, const float *B, int ldb);
void gemm_bf16_b_free(gemm_bf16_b *pb);
int gemm_bf16_b_rows(const gemm_bf16_b *pb); /* K */
int gemm_bf16_b_cols(const gemm_bf16_b *pb); /* N */
size_t gemm_bf16_b_bytes(const gemm_bf16_b *pb);

/* C = A * B [+ bias] on `path` (AUTO: the best; a path the CPU lacks runs
 * the best one instead). Threading as gemm_f32 (nthreads <= 1 opens no
 * parallel region). Cannot fail: if its packing buffers cannot be allocated
 * it uses small stack buffers (same bits). */
void gemm_bf16_packed(gemm_bf16_path path, int M, const float *A, int lda,  // (M, K)
                      const gemm_bf16_b *pb, float *C, int ldc,              // (M, N)
                      const float *bias,                                     // (N) or NULL
                      int nthreads);

#endif
