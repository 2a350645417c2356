/* backward.h — backward kernels (training), each paired with a forward kernel of
 * ops.h, attention.h, mha.h, conv.h, conv_transpose.h or postprocess.h.
 *
 * Conventions (as in llm.c):
 * - Arguments: gradient outputs (d*), then caches, then inputs, then weights,
 *   then sizes; every tensor is a plain row-major float array, shape in a comment.
 * - Every backward ACCUMULATES (+=) into its gradient outputs; the caller zeroes
 *   them once per step (zero_grad). So a tensor used twice (a residual, q = k = v
 *   in self-attention) simply receives both contributions.
 * - A gradient pointer marked "or NULL" may be NULL: that gradient is not
 *   computed (frozen weight, or an input that needs none).
 * - Gradient outputs must not alias dout or any input.
 * - nthreads partitions the OUTPUTS: each gradient element is written by one
 *   thread with a fixed sequence of operations, no float atomics, so results are
 *   bit-identical for any nthreads. nthreads <= 1 opens no parallel region.
 * - Forwards that must keep something for the backward have a *_forward_train
 *   variant here; it computes the same output as the inference forward.
 */
#ifndef MS_OPS_BACKWARD_H
#define MS_OPS_BACKWARD_H
#include <stddef.h>

#include "ops/mha.h"

/* ---- Linear: out = inp W^T + b (linear_forward) ----------------------------
 * dinp:    (N, I) row stride ldi, or NULL   dweight: (O, I) or NULL   dbias: (O) or NULL
 * dout:    (N, O)                          inp:     (N, I) row stride ldi (>= I)
 * weight:  (O, I) */
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, int ldi,
                     const float *weight, long N, int I, int O, int nthreads);

/* dbias (O) += the column sums of dout (N, O), each summed in double and added
 * with one rounding (what linear_backward does for its bias). */
void linear_bias_backward(float *dbias, const float *dout, long N, int O, int nthreads);

/* ---- LayerNorm over the last dim (layernorm_forward); also LayerNorm2d on
 * channels-last data (common.py:LayerNorm2d is the same computation). ---------
 * forward_train: as layernorm_forward, and keeps mean, rstd: (N) each.
 * out, in: (N, C); weight, bias: (C). out must not alias in (in is needed later). */
void layernorm_forward_train(float *out, float *mean, float *rstd, const float *in, const float *weight,
                             const float *bias, long N, int C, float eps, int nthreads);
/* dinp: (N, C) or NULL; dweight, dbias: (C) or NULL; dout, in: (N, C);
 * mean, rstd: (N) from layernorm_forward_train; weight: (C). */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *mean,
                        const float *rstd, const float *in, const float *weight, long N, int C, int nthreads);

/* ---- Activations -------------------------------------------------------------
 * GELU, exact erf form (torch.nn.GELU()): forward_train writes out = gelu(in)
 * out of place, so `in` stays as the cache. out, in: (n) */
void gelu_forward_train(float *out, const float *in, long n, int nthreads);
/* dinp += dout * gelu'(in). dinp, dout, in: (n) */
void gelu_backward(float *dinp, const float *dout, const float *in, long n, int nthreads);
/* ReLU from its OUTPUT (so relu_forward may stay in place): dinp += dout where
 * out > 0 (torch's threshold_backward: gradient 0 at x = 0). dinp, dout, out: (n) */
void relu_backward(float *dinp, const float *dout, const float *out, long n, int nthreads);

/* ---- ViT attention with decomposed relative positions (vit_attention_forward)
 * No score cache: per (group, head) work item, one thread recomputes the scores
 * tile by tile from qkv (never a whole (heads, T, T) block): a pass over query
 * tiles for each query's log-sum-exp and D_i = sum_j P_ij dP_ij, then a pass over
 * (key tile, query tile) blocks with five GEMMs each (S, dP, dV, dK, dQ); the
 * relative-position gradients are GEMMs over the dS sums. With one tile per group
 * (windows) the second pass reuses the first's P. Exponentials: AVX-512 Cephes
 * polynomial (~1 ulp) when the CPU has it, else libm expf.
 * d rel_pos is reduced at the end per head, heads in order; results do not depend
 * on nthreads. Key tiles have tile_q rows, like query tiles.
 * dqkv:       (ngroups, T, 3*heads*hd), T = sh*sw, laid out like qkv ([q | k | v])
 * drel_pos_h: (2*sh-1, hd) or NULL;  drel_pos_w: (2*sw-1, hd) or NULL
 * dout:       (ngroups, T, heads*hd)  gradient of vit_attention_forward's out
 * qkv, rel_pos_h, rel_pos_w: as given to vit_attention_forward
 * scratch:    vit_attention_backward_scratch_floats(...) floats
 *             (ViT-B global block, tile 256, 2 threads: about 76 MB) */
size_t vit_attention_backward_scratch_floats(int ngroups, int sh, int sw, int heads, int tile_q, int nthreads);
void vit_attention_backward(float *dqkv, float *drel_pos_h, float *drel_pos_w, const float *dout, const float *qkv,
                            const float *rel_pos_h, const float *rel_pos_w, int ngroups, int sh, int sw, int heads,
                            int hd, int tile_q, float *scratch, int nthreads);
/* Training forward: vit_attention_forward's output (to rounding: same formula,
 * (exp(S - max) V) / sum, on this file's tiles and exp) and the log-sum-exp of
 * every score row, lse (ngroups, heads, T), for the backward. Work items are
 * (group, head, query tile); results do not depend on nthreads.
 * out: (ngroups, T, heads*hd); scratch: vit_attention_forward_train_scratch_floats. */
size_t vit_attention_forward_train_scratch_floats(int sh, int sw, int tile_q, int nthreads);
void vit_attention_forward_train(float *out, float *lse, const float *qkv, const float *rel_pos_h,
                                 const float *rel_pos_w, int ngroups, int sh, int sw, int heads, int hd, int tile_q,
                                 float *scratch, int nthreads);
/* Same as vit_attention_backward, with caches of the forward: out (ngroups, T,
 * heads*hd) its output, so that D_i = dO_i . O_i (one T x T x hd GEMM less per
 * (group, head)); lse (ngroups, heads, T) from vit_attention_forward_train, or
 * NULL: with it, tiled groups skip the first pass's scores and exponentials (one
 * more GEMM less). Agrees with vit_attention_backward to rounding. */
void vit_attention_backward_cached(float *dqkv, float *drel_pos_h, float *drel_pos_w, const float *dout,
                                   const float *out, const float *lse, const float *qkv, const float *rel_pos_h,
                                   const float *rel_pos_w, int ngroups, int sh, int sw, int heads, int hd, int tile_q,
                                   float *scratch, int nthreads);
/* Same (out and lse may be NULL; lse is used only with out) on the portable row
 * kernels whatever the CPU; for tests. */
void vit_attention_backward_portable(float *dqkv, float *drel_pos_h, float *drel_pos_w, const float *dout,
                                     const float *out, const float *lse, const float *qkv, const float *rel_pos_h,
                                     const float *rel_pos_w, int ngroups, int sh, int sw, int heads, int hd,
                                     int tile_q, float *scratch, int nthreads);

/* Windows of the image encoder (image_encoder.py:window_partition pads the (G, G)
 * grid with zeros at the bottom/right to (Hp, Hp), Hp a multiple of ws, and
 * orders tokens (wy, wx, iy, ix)). Padded tokens are real tokens of the
 * attention (their qkv is the linear's bias, they are keys and values of their
 * window), so their rows of dqkv are non-zero and reach the qkv bias gradient.
 * window_partition_backward: dsrc (G*G, C) += dwin at the unpadded positions;
 *   dwin: (Hp*Hp, C) window-major.
 * window_unpartition_backward: dwin (Hp*Hp, C) += dx at the unpadded positions
 *   (padded rows receive nothing); dx: (G*G, C). */
void vit_window_partition_backward(float *dsrc, const float *dwin, int G, int Hp, int ws, int C, int nthreads);
void vit_window_unpartition_backward(float *dwin, const float *dx, int G, int Hp, int ws, int C, int nthreads);

/* ---- Decoder attention with q/k/v/out projections (mha_forward) ------------
 * forward_train computes what mha_forward computes and keeps, in `cache`
 * (mha_cache_floats floats), the projections and the attention weights:
 *   q (Nq, I) | k (Nk, I) | v (Nk, I) | o (Nq, I) heads concatenated | p (heads, Nq, Nk) */
typedef struct {
    float *q_w, *q_b;      // (I, D), (I)   each may be NULL (frozen)
    float *k_w, *k_b;      // (I, D), (I)
    float *v_w, *v_b;      // (I, D), (I)
    float *out_w, *out_b;  // (D, I), (D)
} mha_grads;

size_t mha_cache_floats(int Nq, int Nk, int I, int heads);
/* out: (Nq, D); q_in: (Nq, D); k_in, v_in: (Nk, D) */
void mha_forward_train(float *out, float *cache, const float *q_in, const float *k_in, const float *v_in,
                       const mha_weights *w, int Nq, int Nk, int D, int I, int heads, int nthreads);
/* dq_in: (Nq, D) or NULL; dk_in, dv_in: (Nk, D) or NULL (they may point to the
 * same array, e.g. self-attention with q = k = v: contributions are added one
 * after the other); dw: weight gradients or NULL; dout: (Nq, D);
 * scratch: mha_backward_scratch_floats(...) floats. */
size_t mha_backward_scratch_floats(int Nq, int Nk, int I);
void mha_backward(float *dq_in, float *dk_in, float *dv_in, const mha_grads *dw, const float *dout,
                  const float *cache, const float *q_in, const float *k_in, const float *v_in, const mha_weights *w,
                  int Nq, int Nk, int D, int I, int heads, float *scratch, int nthreads);

/* ---- Convolutions (conv.h) --------------------------------------------------
 * Patch embedding: weight and bias gradients only (its input is the image).
 * dweight: (Cout, Cin, P, P) or NULL; dbias: (Cout) or NULL;
 * dout: (H/P * W/P, Cout) channels-last; in: (Cin, H, W);
 * col: conv_patchify_col_floats(Cin, H, W, P) floats of scratch. */
void conv_patchify_backward(float *dweight, float *dbias, const float *dout, const float *in, int Cin, int H, int W,
                            int Cout, int P, float *col, int nthreads);
/* 1x1: dinp: (N, Cin) or NULL; dweight: (Cout, Cin, 1, 1) or NULL; dbias: (Cout) or NULL;
 * dout: (N, Cout); inp: (N, Cin); weight: (Cout, Cin, 1, 1). */
void conv1x1_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                      const float *weight, long N, int Cin, int Cout, int nthreads);
/* 3x3, stride 1, zero padding 1, channels-last:
 * dinp: (H*W, Cin) or NULL; dweight: (Cout, Cin, 3, 3) or NULL; dbias: (Cout) or NULL;
 * dout: (H*W, Cout); inp: (H*W, Cin); weight: (Cout, Cin, 3, 3);
 * col: conv3x3_col_floats(Cin, H, W) floats of scratch. */
void conv3x3_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                      const float *weight, int H, int W, int Cin, int Cout, float *col, int nthreads);

/* ---- ConvTranspose2d k=2 s=2 (conv_transpose.h) ------------------------------
 * Channels-first, paired with conv_transpose2x2_forward:
 * dinp: (Cin, H, W) or NULL; dweight: (Cin, Cout, 2, 2) or NULL; dbias: (Cout) or NULL;
 * dout: (Cout, 2H, 2W); inp: (Cin, H, W); weight: (Cin, Cout, 2, 2). */
void conv_transpose2x2_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                const float *weight, int Cin, int Cout, int H, int W, int nthreads);
/* Channels-last packed form (conv_transpose2x2_pack: Y (P, 4*Cout) = X (P, Cin) wpacked + bpacked),
 * gradients returned in the official layout:
 * dinp: (P, Cin) or NULL; dweight: (Cin, Cout, 2, 2) or NULL; dbias: (Cout) or NULL;
 * dout: (P, 4*Cout), row p = the 2x2 block of pixel p as k = 2a+b groups of Cout;
 * inp: (P, Cin); wpacked: (Cin, 4*Cout); dwpacked: (Cin, 4*Cout) scratch (used when dweight). */
void conv_transpose2x2_packed_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                       const float *inp, const float *wpacked, long P, int Cin, int Cout,
                                       float *dwpacked, int nthreads);

/* ---- Bilinear resize, align_corners=False (ms_upsample_bilinear_f32) --------
 * dinp: (nplanes, ih, iw) += the adjoint of the resize applied to dout
 * (nplanes, oh, ow). Each input element receives its contributions in the
 * order torch 1.13's CPU kernel adds them (output raster order, taps 00, 01,
 * 10, 11), each as one fused multiply-add of g and the float weight lh*lw, as
 * torch's AVX2 build does; so the result equals F.interpolate(...).backward()
 * of torch 1.13 on an AVX2 CPU bit for bit. Threads split input rows. */
void upsample_bilinear_backward(float *dinp, const float *dout, int nplanes, int ih, int iw, int oh, int ow,
                                int nthreads);

#endif
