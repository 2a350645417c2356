/* config.h — the architecture of a SAM/MedSAM model, inferred from a
 * checkpoint's tensor shapes (so ViT-B/L/H and small test configs all load). */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H
#include <stdint.h>
#include "medsam.h"

#define MS_MAX_DEPTH 64        /* encoder blocks */
#define MS_MAX_DEC_DEPTH 8     /* two-way transformer layers */
#define MS_MAX_MASK_TOKENS 8   /* 1 + num_multimask_outputs */
#define MS_MAX_HEAD_DEPTH 8    /* IoU head layers */

typedef struct {
    /* ref: segment_anything/modeling/image_encoder.py:ImageEncoderViT.__init__ */
    int img_size;        /* 1024 */
    int patch_size;      /* 16 */
    int in_chans;        /* 3 */
    int grid;            /* img_size / patch_size = 64 */
    int embed_dim;       /* 768 (B), 1024 (L), 1280 (H) */
    int depth;           /* 12 / 24 / 32 */
    int num_heads;       /* 12 / 16 / 16 */
    int head_dim;        /* embed_dim / num_heads = 64 */
    int mlp_dim;         /* 4 * embed_dim */
    int window_size;     /* 14 */
    int is_global[MS_MAX_DEPTH]; /* 1 for global-attention blocks (2,5,8,11 in ViT-B) */
    int out_chans;       /* neck output = prompt embed dim = 256 */
    float ln_eps;        /* 1e-6 in the encoder */
    /* ref: prompt_encoder.py:PromptEncoder.__init__ */
    int prompt_dim;      /* 256 */
    int mask_in_chans;   /* 16 */
    /* ref: mask_decoder.py:MaskDecoder, transformer.py:TwoWayTransformer */
    int dec_depth;       /* 2 */
    int dec_heads;       /* 8: not stored in a checkpoint; SAM always uses 8 */
    int dec_mlp_dim;     /* 2048 */
    int dec_attn_down;   /* 2: cross-attention internal dim = prompt_dim / 2 */
    int num_mask_tokens; /* 4 = 1 + 3 multimask outputs */
    int iou_head_depth;  /* 3 */
    int iou_hidden;      /* 256 */
    float dec_ln_eps;    /* 1e-5: nn.LayerNorm in the two-way transformer */
    float ln2d_eps;      /* 1e-6: LayerNorm2d (neck, mask_downscaling, output_upscaling) */
} ms_config;

/* Callback that reports the shape of a named tensor in a checkpoint:
 * returns its rank (0..8) and fills shape, or -1 when the name is absent. */
typedef int (*ms_shape_lookup)(void *ctx, const char *name, int64_t shape[8]);

medsam_status ms_config_infer(ms_shape_lookup lookup, void *ctx, ms_config *cfg, medsam_error *err);

/* Known configurations, for `medsam init` and tests: "vit_b", "vit_l", "vit_h", "tiny". */
medsam_status ms_config_preset(const char *name, ms_config *cfg, medsam_error *err);

/* One-line human description, e.g. "ViT embed 768, depth 12, heads 12, ...". */
void ms_config_describe(const ms_config *cfg, char *buf, int len);

#endif
