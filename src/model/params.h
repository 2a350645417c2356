/* params.h — the one parameter table of a model: official PyTorch key, shape,
 * offset into one float buffer, and whether the official training updates it.
 * Loader, saver, optimiser and tests all walk this table; the weight structs
 * below are named views into the same buffer. Order = PyTorch state_dict order. */
#ifndef MS_PARAMS_H
#define MS_PARAMS_H
#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

typedef struct {
    char name[96];     /* e.g. "image_encoder.blocks.3.attn.qkv.weight" */
    int ndim;
    int64_t shape[4];
    size_t offset;     /* in floats, from the start of the parameter buffer */
    size_t numel;
    int trainable;     /* 1: image encoder + mask decoder; 0: prompt encoder (frozen in train_one_gpu.py) */
} ms_param;

typedef struct {
    ms_param *items;   /* (count) */
    int count;
    size_t total;      /* floats in the whole buffer */
} ms_param_table;

/* ---- named views (all pointers into the one buffer) ---- */

typedef struct {                 /* ref: image_encoder.py:Block */
    float *norm1_w, *norm1_b;    // (C), (C)
    float *rel_pos_h, *rel_pos_w;// (2*S-1, hd), S = window_size (local) or grid (global)
    float *qkv_w, *qkv_b;        // (3C, C), (3C)
    float *proj_w, *proj_b;      // (C, C), (C)
    float *norm2_w, *norm2_b;    // (C), (C)
    float *lin1_w, *lin1_b;      // (M, C), (M)
    float *lin2_w, *lin2_b;      // (C, M), (C)
} ms_vit_block_w;

typedef struct {                 /* ref: image_encoder.py:ImageEncoderViT */
    float *pos_embed;            // (1, G, G, C)
    float *patch_w, *patch_b;    // (C, 3, P, P), (C)
    ms_vit_block_w blocks[MS_MAX_DEPTH];
    float *neck_conv1_w;         // (O, C, 1, 1), no bias
    float *neck_ln1_w, *neck_ln1_b; // (O), (O)
    float *neck_conv2_w;         // (O, O, 3, 3), no bias, padding 1
    float *neck_ln2_w, *neck_ln2_b; // (O), (O)
} ms_image_encoder_w;

typedef struct {                 /* ref: prompt_encoder.py:PromptEncoder */
    float *pe_gaussian;          // (2, D/2)  positional_encoding_gaussian_matrix
    float *point_embed[4];       // 4 x (1, D): negative point, positive point, box top-left, box bottom-right
    float *not_a_point_embed;    // (1, D)
    float *mask_conv1_w, *mask_conv1_b; // (mc/4, 1, 2, 2), (mc/4)   mask_downscaling.0
    float *mask_ln1_w, *mask_ln1_b;     // (mc/4)                    mask_downscaling.1
    float *mask_conv2_w, *mask_conv2_b; // (mc, mc/4, 2, 2), (mc)    mask_downscaling.3
    float *mask_ln2_w, *mask_ln2_b;     // (mc)                      mask_downscaling.4
    float *mask_conv3_w, *mask_conv3_b; // (D, mc, 1, 1), (D)        mask_downscaling.6
    float *no_mask_embed;        // (1, D)
} ms_prompt_encoder_w;

typedef struct {                 /* ref: transformer.py:Attention; I = D / downsample */
    float *q_w, *q_b;            // (I, D), (I)
    float *k_w, *k_b;            // (I, D), (I)
    float *v_w, *v_b;            // (I, D), (I)
    float *out_w, *out_b;        // (D, I), (D)
} ms_attn_w;

typedef struct {                 /* ref: transformer.py:TwoWayAttentionBlock */
    ms_attn_w self_attn;         // I = D
    float *norm1_w, *norm1_b;    // (D)
    ms_attn_w cross_t2i;         // cross_attn_token_to_image, I = D/2
    float *norm2_w, *norm2_b;    // (D)
    float *mlp_lin1_w, *mlp_lin1_b; // (F, D), (F)   ReLU MLP
    float *mlp_lin2_w, *mlp_lin2_b; // (D, F), (D)
    float *norm3_w, *norm3_b;    // (D)
    float *norm4_w, *norm4_b;    // (D)
    ms_attn_w cross_i2t;         // cross_attn_image_to_token, I = D/2
} ms_twoway_layer_w;

typedef struct {                 /* ref: mask_decoder.py:MaskDecoder */
    ms_twoway_layer_w layers[MS_MAX_DEC_DEPTH];
    ms_attn_w final_attn;        // final_attn_token_to_image, I = D/2
    float *norm_final_w, *norm_final_b; // (D)
    float *iou_token;            // (1, D)
    float *mask_tokens;          // (T, D)
    float *up_conv1_w, *up_conv1_b; // ConvTranspose2d (D, D/4, 2, 2), (D/4)   output_upscaling.0
    float *up_ln_w, *up_ln_b;       // (D/4)                                   output_upscaling.1 (LayerNorm2d)
    float *up_conv2_w, *up_conv2_b; // ConvTranspose2d (D/4, D/8, 2, 2), (D/8) output_upscaling.3
    float *hyper_w[MS_MAX_MASK_TOKENS][3]; // (D, D), (D, D), (D/8, D)  output_hypernetworks_mlps.t.layers.l
    float *hyper_b[MS_MAX_MASK_TOKENS][3]; // (D), (D), (D/8)
    float *iou_w[MS_MAX_HEAD_DEPTH];       // (H, D), (H, H)..., (T, H)  iou_prediction_head.layers.l
    float *iou_b[MS_MAX_HEAD_DEPTH];       // (H)..., (T)
} ms_mask_decoder_w;

typedef struct {
    ms_image_encoder_w enc;      // MS_ENC_VIT only (other encoder kinds keep their own views)
    ms_prompt_encoder_w pe;
    ms_mask_decoder_w dec;
} ms_weights;

/* Registration of the tensors, for the encoder kinds' walks (model/encoder_kind.h):
 * one tensor of rank ndim (dims d0..d3, unused ones 0) named by printf(fmt, ...),
 * in state_dict order; *slot is pointed at its place when binding (slot may be NULL). */
typedef struct ms_param_walker ms_param_walker;
void ms_param_reg(ms_param_walker *W, float **slot, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                  const char *fmt, ...);
/* Whether the official training updates the tensors registered next. */
void ms_param_set_trainable(ms_param_walker *W, int trainable);
/* The ViT encoder's part of the walk; views: ms_image_encoder_w * or NULL. */
void ms_vit_walk_encoder(const ms_config *cfg, ms_param_walker *W, void *views);

/* Builds the table for `cfg`. Free with ms_param_table_free. */
int ms_param_table_build(const ms_config *cfg, ms_param_table *table);
void ms_param_table_free(ms_param_table *table);
/* Points every field of `w` into `buffer` (table->total floats) following the table
 * (w->enc only for MS_ENC_VIT; other kinds bind their own views below). */
void ms_weights_bind(const ms_config *cfg, float *buffer, ms_weights *w);
/* Points the encoder kind's own view struct (e.g. ms_tinyvit_w) into `buffer`. */
void ms_weights_bind_encoder(const ms_config *cfg, float *buffer, void *views);
/* Linear search is fine for a one-time lookup; returns NULL when absent. */
const ms_param *ms_param_find(const ms_param_table *table, const char *name);

#endif
