/* attention.h — ViT multi-head self-attention core with decomposed relative
 * position terms (SAM image encoder), for windowed and global blocks alike.
 *
 * ref: segment_anything/modeling/image_encoder.py:Attention.forward,
 *      add_decomposed_rel_pos, get_rel_pos
 *
 * The caller runs the qkv and proj linears; this computes, for each of `ngroups`
 * independent token groups (a window, or the whole grid for a global block),
 * each a (sh, sw) grid of T = sh*sw tokens, and each head h:
 *
 *     S = (q * scale) k^T                       (T, T), scale = hd^-0.5
 *     S[i, kh*sw+kw] += q_i . Rh[qh(i) - kh + sh-1] + q_i . Rw[qw(i) - kw + sw-1]
 *                                               (q UNSCALED here, as in the official code)
 *     out = softmax_rows(S) v                   (T, hd), computed as
 *           (exp(S - rowmax) v) * (1 / rowsum)
 *
 * Queries are processed in tiles of `tile_q` rows: only a (tile_q, T) block of
 * scores exists at any time per thread (never (heads, T, T)). OpenMP threads
 * take (group, head, query tile) items; every output element is written by one
 * item, and each item's arithmetic does not depend on the thread count, so the
 * result is bit-identical for any nthreads.
 *
 * The relative tables must have exactly 2*sh-1 / 2*sw-1 rows (the official
 * get_rel_pos interpolates otherwise; SAM checkpoints never need it).
 */
#ifndef MS_OPS_ATTENTION_H
#define MS_OPS_ATTENTION_H
#include <stddef.h>

/* Floats of scratch ONE thread needs for (T = sh*sw, tile_q). */
size_t vit_attention_scratch_floats(int sh, int sw, int tile_q);

/* out:   (ngroups, T, heads*hd)  head h writes columns h*hd .. h*hd+hd-1 (torch's
 *        (attn @ v).permute(...).reshape(B, H, W, heads*hd) layout)
 * qkv:   (ngroups, T, 3*heads*hd) the qkv linear output: per token [q | k | v],
 *        each (heads, hd) (torch's reshape(B, HW, 3, heads, hd))
 * rel_pos_h: (2*sh-1, hd); rel_pos_w: (2*sw-1, hd)
 * scratch: nthreads * vit_attention_scratch_floats(sh, sw, tile_q) floats */
void vit_attention_forward(float *out, const float *qkv, const float *rel_pos_h, const float *rel_pos_w, int ngroups,
                           int sh, int sw, int heads, int hd, int tile_q, float *scratch, int nthreads);

/* Same, on the portable (non-AVX2) row kernel whatever the CPU; for tests.
 * Agrees with vit_attention_forward to rounding. */
void vit_attention_forward_portable(float *out, const float *qkv, const float *rel_pos_h, const float *rel_pos_w,
                                    int ngroups, int sh, int sw, int heads, int hd, int tile_q, float *scratch,
                                    int nthreads);

/* Windowed attention (image_encoder.py Block with window_size > 0) straight on
 * the unpadded (G, G) token grid: the grid is cut into ws x ws windows after
 * padding it at the bottom/right to a multiple of ws, as window_partition does;
 * a padded token is a zero input row of the qkv linear, so its q/k/v are the
 * linear's bias. Each window attends within itself exactly as
 * vit_attention_forward does on the partitioned windows (the same bits), and
 * only the outputs of real tokens are written (window_unpartition's crop).
 * out:      (G*G, heads*hd), every element written
 * qkv:      (G*G, 3*heads*hd) the qkv linear on the real tokens
 * qkv_bias: (3*heads*hd) the qkv linear's bias (the rows of padded tokens)
 * rel_pos_h, rel_pos_w: (2*ws-1, hd)
 * scratch:  nthreads * vit_window_attention_scratch_floats(ws, hd) floats
 * Work items are (window, head) pairs; results do not depend on nthreads. */
size_t vit_window_attention_scratch_floats(int ws, int hd);
void vit_window_attention_forward(float *out, const float *qkv, const float *qkv_bias, int G, int ws,
                                  const float *rel_pos_h, const float *rel_pos_w, int heads, int hd, float *scratch,
                                  int nthreads);
/* Same on the portable row kernel (for tests). */
void vit_window_attention_forward_portable(float *out, const float *qkv, const float *qkv_bias, int G, int ws,
                                           const float *rel_pos_h, const float *rel_pos_w, int heads, int hd,
                                           float *scratch, int nthreads);

/* Softmax of one row in place, on the exp + sum kernel the attention uses:
 * max, exp (AVX2: Cephes polynomial, ~1 ulp; inputs more than 87.3 below the
 * max give ~1e-38, not 0; portable: expf), sum, scale by 1/sum.
 * path 0: the best for this CPU (AVX-512 or AVX2 when present; the two give
 * the same bits), 1: portable, 2: AVX2 even where AVX-512 exists (for tests). row: (n), n >= 1 */
void vit_softmax_row(float *row, int n, int path);

/* rows[i][j] += bias[i][j], then vit_softmax_row on each row, with the same bits
 * (the add and the max are exact elementwise, the exp + sum is the same kernel);
 * the kernel is picked once and the add, max and scale passes are vectorised.
 * rows, bias: (nrows, n), n >= 1. ref: tiny_vit_sam.py:Attention.forward
 * ((q @ k^T) * scale + ab).softmax(dim=-1) */
void vit_softmax_rows_bias(float *rows, const float *bias, int nrows, int n, int path);

/* Plain, obviously-correct version of the same computation (whole (T, T) score
 * matrix per group and head, double accumulation, explicit Rh/Rw gathers as in
 * get_rel_pos); single-threaded, allocates. For tests only. Returns 0, or -1
 * when it cannot allocate. */
int vit_attention_ref(float *out, const float *qkv, const float *rel_pos_h, const float *rel_pos_w, int ngroups,
                      int sh, int sw, int heads, int hd);

#endif
