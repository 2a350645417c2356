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
#define MS_TV_STAGES 4         /* TinyViT stages (LiteMedSAM: always 4) */
#define MS_TV_MAX_BLOCKS 32    /* blocks per TinyViT stage */

/* Which image encoder a checkpoint holds, recognised from its tensor names at
 * load (model/encoder_kind.h has each kind's operations). The prompt encoder
 * and mask decoder are the same for every kind. */
typedef enum {
    MS_ENC_VIT = 0,     /* SAM / MedSAM ImageEncoderViT (image_encoder.blocks.N.*) */
    MS_ENC_TINYVIT = 1, /* LiteMedSAM TinyViT (image_encoder.patch_embed.seq.*, image_encoder.layers.*) */
} ms_encoder_kind;

/* ref: LiteMedSAM:tiny_vit_sam.py:TinyViT.__init__ as CVPR24_LiteMedSAM_infer.py:322-341 builds it
 * (img 256, dims 64,128,160,320, depths 2,2,6,2, heads -,4,5,10, windows -,7,14,7); read from shapes. */
typedef struct {
    int dims[MS_TV_STAGES];    /* embed_dims */
    int depths[MS_TV_STAGES];  /* blocks per stage (stage 0: MBConv, others: TinyViTBlock) */
    int heads[MS_TV_STAGES];   /* attention heads (0 for stage 0); head dim = dims[i] / heads[i] */
    int windows[MS_TV_STAGES]; /* window sizes (0 for stage 0) */
    int res[MS_TV_STAGES];     /* input resolution of each stage at img_size (256: 256, 128, 64, 64) */
    int stride[MS_TV_STAGES - 1]; /* PatchMerging after stage i: conv2 stride (1 for out_dim 320/448/576) */
    int mlp_hidden[MS_TV_STAGES]; /* Mlp hidden width (4 * dims[i]; 0 for stage 0) */
    int mbconv_hidden;         /* MBConv hidden width (4 * dims[0]) */
    int stem_mid;              /* patch_embed width after seq.0 (dims[0] / 2) */
    int local_conv;            /* local_conv_size (3) */
    float bn_eps;              /* 1e-5: BatchNorm2d in Conv2d_BN */
    float ln_eps;              /* 1e-5: nn.LayerNorm in Attention and Mlp */
} ms_tinyvit_config;

typedef struct {
    ms_encoder_kind encoder; /* MS_ENC_VIT, or MS_ENC_TINYVIT (then only img_size, grid, in_chans,
                              * out_chans and ln2d_eps below are set, and `tv`) */
    ms_tinyvit_config tv;    /* MS_ENC_TINYVIT only */
    /* ref: segment_anything/modeling/image_encoder.py:ImageEncoderViT.__init__ */
    int img_size;        /* 1024 (LiteMedSAM: 256, also the prompt encoder's input_image_size) */
    int patch_size;      /* 16 */
    int in_chans;        /* 3 */
    int grid;            /* img_size / patch_size = 64: the embedding is (out_chans, grid, grid) */
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

/* The encoder part for a ViT checkpoint (called through the encoder kind table). */
medsam_status ms_vit_config_infer(ms_shape_lookup lookup, void *ctx, ms_config *cfg, medsam_error *err);
/* The encoder's line of ms_config_describe for ViT, "image encoder: ViT img 1024, ...". */
void ms_vit_config_describe(const ms_config *cfg, char *buf, int len);

/* Human description (encoder, prompt encoder, mask decoder lines). */
void ms_config_describe(const ms_config *cfg, char *buf, int len);

#endif
