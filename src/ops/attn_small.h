/* attn_small.h — the two products of one small attention window and head
 * (TinyViT's 49- and 196-token windows), with the bits of the gemm_f32 calls
 * they replace but without the general GEMM's per-call packing and partial
 * 12x32 tiles, which cost more than the products themselves at these sizes.
 *
 * ref: tiny_vit_sam.py:Attention.forward -- (q @ k.transpose(-2, -1)) * self.scale, attn @ v
 *
 * Each element is one accumulator, acc = 0 then acc = fma(a_p, b_p, acc) for p in
 * order, as every gemm_f32 kernel computes it for K <= 256 (one K chunk), then
 * scale * acc rounded once (S) or acc itself (O): the same bits as
 *     gemm_f32(0, 1, T, T, hd, scale, q, ld, k, ld, 0, S, T, 1)   and
 *     gemm_f32(0, 0, T, hd, T, 1, P, T, v, ld, 0, O, ldo, 1).
 * The AVX-512 path needs hd a multiple of 32, the AVX2 path hd a multiple of 16
 * and T >= 16; other shapes (and other CPUs) call gemm_f32 itself.
 * Single-threaded (callers run one window per thread).
 */
#ifndef MS_OPS_ATTN_SMALL_H
#define MS_OPS_ATTN_SMALL_H

#include <stddef.h>

/* Floats of scratch attn_small_scores needs (K transposed and padded). */
size_t attn_small_scratch_floats(int T, int hd);

/* S (T, T) = scale * q k^T.  q, k: (T, hd), row stride ld; scratch: attn_small_scratch_floats. */
void attn_small_scores(float *S, const float *q, const float *k, int ld, int T, int hd, float scale, float *scratch);

/* O (T, hd), row stride ldo, = P v.  P: (T, T) contiguous; v: (T, hd), row stride ld. */
void attn_small_av(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd);

/* The same on the AVX2 kernels at most, whatever the CPU has beyond them (for tests). */
void attn_small_scores_avx2(float *S, const float *q, const float *k, int ld, int T, int hd, float scale,
                            float *scratch);
void attn_small_av_avx2(float *O, int ldo, const float *P, const float *v, int ld, int T, int hd);

#endif
