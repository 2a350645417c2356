/* image_encoder.h — the SAM/MedSAM ViT image encoder forward pass.
 *
 * ref: segment_anything/modeling/image_encoder.py:ImageEncoderViT.forward
 *
 *   patch embed (conv P x P stride P + bias) -> (G, G, C) + pos_embed
 *   depth x Block: x = x + proj(attn(norm1(x)))   (windowed: zero-pad the grid at
 *                  bottom/right to a multiple of window_size, attend within each
 *                  window, padded tokens included; global: the whole grid)
 *                  qkv and proj run on the real tokens only: a padded token's
 *                  qkv is the linear's bias and its outputs are cropped away.
 *                  x = x + lin2(gelu(lin1(norm2(x))))
 *   neck: 1x1 conv (no bias) -> LayerNorm2d -> 3x3 conv pad 1 (no bias) -> LayerNorm2d
 *
 * Activations are channels-last (tokens, C). All memory comes from one caller
 * workspace sized by ms_image_encoder_workspace_floats; attention scores are
 * computed in tiles (never a (heads, N, N) buffer). Results do not depend on
 * nthreads (every kernel used partitions outputs between threads).
 */
#ifndef MS_IMAGE_ENCODER_H
#define MS_IMAGE_ENCODER_H
#include <stddef.h>

#include "medsam.h"
#include "model/config.h"
#include "model/params.h"
#include "model/trace.h"
#include "ops/gemm_bf16.h"

/* Query rows per attention tile in global blocks (scores tile: (48, G*G) per thread,
 * 768 KB for ViT-B: it stays in a 1 MB L2; a multiple of the gemm's 6-row micro-tile). */
#define MS_ENC_GLOBAL_TILE_Q 48
/* The workspace holds attention scratch and MLP tiles for this many threads;
 * attention and the MLP run on min(nthreads, MS_ENC_MAX_ATTN_THREADS) threads,
 * everything else on nthreads. Only the slots of threads that run are ever
 * touched, so a small machine pays address space, not memory, for the rest. */
#define MS_ENC_MAX_ATTN_THREADS 64
/* Token rows per MLP tile: lin1 -> GELU -> lin2 on (96, mlp_dim) hidden
 * activations per thread (1.2 MB for ViT-B, in L2/L3 instead of DRAM). */
#define MS_ENC_MLP_TILE_ROWS 96

/* One block's MLP (lin1 -> exact GELU -> lin2) as the encoder runs it: both
 * weights packed once into work, then MS_ENC_MLP_TILE_ROWS-row tiles per
 * thread. out, in: (N, C), distinct; work: ms_vit_mlp_workspace_floats(c)
 * floats (0: bad configuration). ref: common.py:MLPBlock.forward */
size_t ms_vit_mlp_workspace_floats(const ms_config *c);
void ms_vit_mlp_forward(const ms_config *c, const ms_vit_block_w *bw, float *out, const float *in, long N, float *work,
                        int nthreads);

/* The bf16 weights of the encoder's big linear layers (qkv, proj, lin1, lin2
 * of every block), converted once (ms_vit_bf16_make, image_encoder_bf16.c)
 * and read-only afterwards. `path` is the bf16 GEMM path every call takes. */
typedef struct {
    gemm_bf16_b *qkv, *proj, *lin1, *lin2;
} ms_vit_block_bf16;
typedef struct {
    int depth;
    gemm_bf16_path path;
    ms_vit_block_bf16 blocks[MS_MAX_DEPTH];
} ms_vit_bf16;
/* NULL (and *err set) when memory runs out. */
ms_vit_bf16 *ms_vit_bf16_make(const ms_config *c, const ms_image_encoder_w *w, gemm_bf16_path path, medsam_error *err);
void ms_vit_bf16_free(ms_vit_bf16 *lp);

/* Floats of activation workspace for one image, any thread count (ViT-B: 46.4 M
 * floats = 186 MB of address space, most of it per-thread attention scratch and
 * MLP tiles for 64 threads; 2 threads touch about 90 MB of it).
 * Returns 0 for a configuration ms_image_encoder_forward cannot run. */
size_t ms_image_encoder_workspace_floats(const ms_config *c);

/* image:     (3, img_size, img_size) CHW, already normalised as the caller wants
 *            (MedSAM: min-max to [0,1], no mean/std)
 * embedding: (out_chans, grid, grid) NCHW, as the official forward returns it
 * workspace: at least ms_image_encoder_workspace_floats(c) floats (contents ignored)
 * trace:     optional (may be NULL); called with
 *              "patch_embed" (G, G, C) after adding pos_embed,
 *              "block.N"     (G, G, C) output of block N,
 *              "neck"        (out_chans, G, G) = embedding.
 * Errors: MEDSAM_ERR_ARG for a NULL pointer or a configuration this code cannot run. */
medsam_status ms_image_encoder_forward(const ms_config *c, const ms_image_encoder_w *w, const float *image,
                                       float *embedding, float *workspace, int nthreads, ms_trace_fn trace,
                                       void *trace_ctx, medsam_error *err);

/* The same forward with qkv, proj and the MLP's lin1/lin2 as bf16 GEMMs on
 * lp's weights (activations rounded to bf16 per packed block, fp32
 * accumulation); everything else (LayerNorm, attention, GELU, patch embed,
 * neck) stays fp32. lp == NULL is ms_image_encoder_forward. Results do not
 * depend on nthreads, nor on the bf16 path (see ops/gemm_bf16.h). */
medsam_status ms_image_encoder_forward_bf16(const ms_config *c, const ms_image_encoder_w *w, const ms_vit_bf16 *lp,
                                            const float *image, float *embedding, float *workspace, int nthreads,
                                            ms_trace_fn trace, void *trace_ctx, medsam_error *err);

#endif
