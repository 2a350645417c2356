/* tinyvit.h — LiteMedSAM's TinyViT image encoder (the MS_ENC_TINYVIT kind).
 *
 * ref: bowang-lab/MedSAM, branch LiteMedSAM: tiny_vit_sam.py:TinyViT.forward_features,
 *      built by CVPR24_LiteMedSAM_infer.py:322-341 (img 256, dims 64,128,160,320,
 *      depths 2,2,6,2, heads -,4,5,10, windows -,7,14,7, mlp 4, MBConv expand 4, local conv 3)
 *
 *   patch embed: Conv2d_BN 1x1 (3 -> C0/2), GELU, Conv2d_BN 1x1 (-> C0)    at 256x256
 *   stage 0:     MBConv x depth: 1x1 expand, GELU, depthwise 3x3, GELU, 1x1, + x, GELU
 *   PatchMerging (after stages 0..2): 1x1, GELU, depthwise 3x3 stride 2 (1 when the output
 *                width is 320, 448 or 576), GELU, 1x1                 256 -> 128 -> 64 -> 64
 *   stages 1..3: TinyViTBlock x depth: x + proj(window attention(LayerNorm(x))) with windows
 *                zero-padded at the bottom/right (padded tokens attend and are attended to),
 *                a learned bias per head and (|dy|, |dx|) offset; depthwise 3x3 Conv2d_BN
 *                (no residual); x + fc2(GELU(fc1(LayerNorm(x))))
 *   neck:        as SAM's: 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d -> (256, 64, 64)
 *
 * Every Conv2d_BN (BatchNorm in eval mode, running statistics) is folded into
 * one convolution with bias at load time (ms_tinyvit_prepare), in a buffer of
 * its own: the parameter table keeps the official tensors (c.weight,
 * bn.{weight,bias,running_mean,running_var}; num_batches_tracked is an ignored
 * extra). Activations are channels-last (H*W, C); all 1x1 convolutions and
 * linears run on the packed GEMM, depthwise convolutions and attention on
 * plain loops over channels; threads split rows / windows, so results do not
 * depend on the thread count.
 */
#ifndef MS_TINYVIT_H
#define MS_TINYVIT_H
#include <stddef.h>

#include "medsam.h"
#include "model/config.h"
#include "model/params.h"
#include "model/trace.h"
#include "ops/gemm.h"
#include "ops/gemm_bf16.h"

typedef struct {                 /* ref: tiny_vit_sam.py:Conv2d_BN (official tensors) */
    float *w;                    // c.weight (Co, Ci/groups, k, k), no bias
    float *bn_w, *bn_b;          // bn.weight, bn.bias (Co)
    float *bn_mean, *bn_var;     // bn.running_mean, bn.running_var (Co)
} ms_conv_bn_w;

typedef struct {                 /* ref: tiny_vit_sam.py:TinyViTBlock */
    float *attn_biases;          // attn.attention_biases (heads, ws*ws), offset (|dy|, |dx|) at |dy|*ws + |dx|
    float *norm_w, *norm_b;      // attn.norm (C)
    float *qkv_w, *qkv_b;        // (3C, C), (3C): per token and head [q (hd) | k (hd) | v (hd)]
    float *proj_w, *proj_b;      // (C, C), (C)
    float *mlp_norm_w, *mlp_norm_b; // mlp.norm (C)
    float *fc1_w, *fc1_b;        // (M, C), (M)
    float *fc2_w, *fc2_b;        // (C, M), (C)
    ms_conv_bn_w local_conv;     // depthwise (C, 1, 3, 3)
} ms_tv_block_w;

typedef struct {                 /* ref: tiny_vit_sam.py:TinyViT: named views of the official tensors */
    ms_conv_bn_w stem[2];        // patch_embed.seq.0 (C0/2, 3, 1, 1), seq.2 (C0, C0/2, 1, 1)
    ms_conv_bn_w mbconv[MS_TV_MAX_BLOCKS][3]; // layers.0.blocks.k.conv1 (4C0, C0), conv2 depthwise, conv3 (C0, 4C0)
    ms_tv_block_w blocks[MS_TV_STAGES][MS_TV_MAX_BLOCKS]; // layers.1..3 (index 0 unused)
    ms_conv_bn_w merge[MS_TV_STAGES - 1][3]; // layers.i.downsample.conv1 (Co, Ci), conv2 depthwise, conv3 (Co, Co)
    float *neck_conv1_w;         // (O, C3, 1, 1), no bias
    float *neck_ln1_w, *neck_ln1_b; // (O)
    float *neck_conv2_w;         // (O, O, 3, 3), no bias, padding 1
    float *neck_ln2_w, *neck_ln2_b; // (O)
} ms_tinyvit_w;

typedef struct {                 /* a Conv2d_BN with BatchNorm folded in */
    float *w;                    // dense 1x1: (Co, Ci); depthwise: (k*k, C), tap-major for channels-last loops
    float *b;                    // (Co)
} ms_tv_conv;

typedef struct {                 /* one TinyViTBlock's linears, packed once for the gemm (op(B) = W^T) */
    gemm_packed_b *qkv, *proj, *fc1, *fc2;
} ms_tv_block_packed;

/* The same products converted once to bf16 (`--precision bf16`, ms_tinyvit_set_bf16):
 * every dense 1x1 convolution and linear except the 3-channel stem conv, and the neck's
 * 3x3 conv (its im2col GEMM); the depthwise convolutions and attention (q k^T, softmax,
 * attn v) stay fp32. */
typedef struct {
    gemm_bf16_b *qkv, *proj, *fc1, *fc2;
} ms_tv_block_bf16;
typedef struct {
    gemm_bf16_path path;                               // the kernel every product runs on
    gemm_bf16_b *stem1;
    gemm_bf16_b *mbconv[MS_TV_MAX_BLOCKS][2];
    gemm_bf16_b *merge[MS_TV_STAGES - 1][2];
    ms_tv_block_bf16 blocks[MS_TV_STAGES][MS_TV_MAX_BLOCKS];
    gemm_bf16_b *neck1, *neck2;                        // neck.0 (1x1), neck.2 (3x3 as (O, 9*O))
} ms_tinyvit_bf16;

/* What ms_tinyvit_encode reads: the views plus the folded convolutions and the
 * expanded attention bias tables (one allocation, `folded`), and every dense
 * 1x1 convolution and linear packed for the gemm (bit-identical to unpacked). */
typedef struct {
    ms_tinyvit_w v;
    float *folded;
    ms_tv_conv stem[2];
    ms_tv_conv mbconv[MS_TV_MAX_BLOCKS][3];
    ms_tv_conv merge[MS_TV_STAGES - 1][3];
    ms_tv_conv local[MS_TV_STAGES][MS_TV_MAX_BLOCKS];
    float *bias_table[MS_TV_STAGES][MS_TV_MAX_BLOCKS]; // (heads, T, T), T = ws*ws: attention_biases[:, idxs]
    gemm_packed_b *stem1;                              // folded patch_embed.seq.2
    gemm_packed_b *mbconv_pk[MS_TV_MAX_BLOCKS][2];     // folded conv1, conv3
    gemm_packed_b *merge_pk[MS_TV_STAGES - 1][2];      // folded conv1, conv3
    ms_tv_block_packed blocks[MS_TV_STAGES][MS_TV_MAX_BLOCKS];
    gemm_packed_b *neck1, *neck2;                      // neck.0, neck.2 (3x3 as (O, 9*O), im2col's K order)
    ms_tinyvit_bf16 *bf16;                             // NULL: fp32 (the default)
} ms_tinyvit_state;

/* ---- the encoder-kind operations (model/encoder_kind.h) ---- */
int ms_tinyvit_detect(ms_shape_lookup lookup, void *ctx);
medsam_status ms_tinyvit_infer(ms_shape_lookup lookup, void *ctx, ms_config *c, medsam_error *err);
void ms_tinyvit_walk(const ms_config *c, ms_param_walker *W, void *views); // views: ms_tinyvit_w * or NULL
medsam_status ms_tinyvit_prepare(const ms_config *c, float *params, ms_weights *w, void **state, medsam_error *err);
void ms_tinyvit_release(void *state);
/* Every dense 1x1 convolution and linear of the encoder, one list for both precisions: calls
 * fn(ctx, its fp32 packed slot in s, its bf16 slot in h (NULL when h is NULL), W (out, in), in, out).
 * The neck's 3x3 conv is in it as the product of its im2col rows: W (O, 9*O), in = 9*O. */
typedef void (*ms_tv_linear_fn)(void *ctx, gemm_packed_b **f32, gemm_bf16_b **bf16, const float *w, int in, int out);
void ms_tinyvit_each_linear(const ms_config *c, ms_tinyvit_state *s, ms_tinyvit_bf16 *h, ms_tv_linear_fn fn,
                            void *ctx);
/* on = 1: converts the linears to bf16 for `path` (GEMM_BF16_AUTO: the best this CPU
 * has), which encode then uses; on = 0: back to fp32 (frees them). */
medsam_status ms_tinyvit_set_bf16(const ms_config *c, void *state, int on, gemm_bf16_path path, medsam_error *err);
void ms_tinyvit_describe(const ms_config *c, char *buf, int len);
void ms_tinyvit_info(const ms_config *c, medsam_model_info *info);

/* Input resolution of each stage for c->img_size (stage 0 = img_size; the
 * PatchMerging strides of c->tv), as the official code computes them. Returns
 * the final side (the embedding grid), or -1 when it is not the official
 * layout (stage i at img/2^i, stage 3 at img/4), which the official
 * TinyViTBlocks reject too. */
int ms_tinyvit_resolutions(const ms_config *c, int res[MS_TV_STAGES]);

/* Workspace floats for one image at c->img_size (0: c cannot run). */
size_t ms_tinyvit_workspace_floats(const ms_config *c);

/* state: from ms_tinyvit_prepare (a ms_tinyvit_state); image (3, S, S) CHW with
 * S = c->img_size (any size with ms_tinyvit_resolutions(c) == c->grid: the
 * weights do not depend on it); embedding (out_chans, grid, grid) NCHW.
 * trace (may be NULL) gets, channels-last (H, W, C):
 *   "patch_embed", "layer0.block.K", "layerI.downsample", "layerI.block.K" (I >= 1),
 * and "neck" = the embedding (NCHW). */
medsam_status ms_tinyvit_encode(const ms_config *c, const void *state, const float *image, float *embedding,
                                float *workspace, int nthreads, ms_trace_fn trace, void *trace_ctx, medsam_error *err);

#endif
