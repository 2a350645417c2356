/* config.c — infer the architecture from tensor shapes. */
#include "model/config.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/encoder_kind.h"

static void set_defaults(ms_config *c) {
    memset(c, 0, sizeof *c);
    c->in_chans = 3;
    c->ln_eps = 1e-6f;
    c->dec_heads = 8;
    c->dec_ln_eps = 1e-5f;
    c->ln2d_eps = 1e-6f;
}

/* Looks a tensor up and checks its rank; fills shape. */
static medsam_status need(ms_shape_lookup lookup, void *ctx, const char *name, int rank, int64_t shape[8],
                          medsam_error *err) {
    int r = lookup(ctx, name, shape);
    if (r < 0) return ms_error(err, MEDSAM_ERR_SHAPE, "missing tensor '%s' (not a SAM/MedSAM checkpoint?)", name);
    if (r != rank) return ms_error(err, MEDSAM_ERR_SHAPE, "tensor '%s' has rank %d, expected %d", name, r, rank);
    return MEDSAM_OK;
}

static int count_indexed(ms_shape_lookup lookup, void *ctx, const char *fmt, int max) {
    int64_t s[8];
    char name[160];
    int n = 0;
    while (n < max) {
        snprintf(name, sizeof name, fmt, n);
        if (lookup(ctx, name, s) < 0) break;
        n++;
    }
    return n;
}

medsam_status ms_vit_config_infer(ms_shape_lookup lookup, void *ctx, ms_config *c, medsam_error *err) {
    int64_t s[8];
    char name[160];
    medsam_status st;
    c->encoder = MS_ENC_VIT;

    /* ref: image_encoder.py:ImageEncoderViT.__init__ */
    if ((st = need(lookup, ctx, "image_encoder.patch_embed.proj.weight", 4, s, err))) return st;
    c->embed_dim = (int)s[0];
    c->in_chans = (int)s[1];
    c->patch_size = (int)s[2];
    if (s[2] != s[3] || s[1] != 3)
        return ms_error(err, MEDSAM_ERR_SHAPE, "patch_embed.proj.weight has shape (%lld,%lld,%lld,%lld); expected (C,3,P,P)",
                        (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3]);
    if ((st = need(lookup, ctx, "image_encoder.pos_embed", 4, s, err))) return st;
    if (s[1] != s[2] || s[3] != c->embed_dim)
        return ms_error(err, MEDSAM_ERR_SHAPE, "pos_embed has shape (1,%lld,%lld,%lld); expected (1,G,G,%d)",
                        (long long)s[1], (long long)s[2], (long long)s[3], c->embed_dim);
    c->grid = (int)s[1];
    c->img_size = c->grid * c->patch_size;

    c->depth = count_indexed(lookup, ctx, "image_encoder.blocks.%d.norm1.weight", MS_MAX_DEPTH + 1);
    if (c->depth == 0) return ms_error(err, MEDSAM_ERR_SHAPE, "checkpoint has no image_encoder.blocks");
    if (c->depth > MS_MAX_DEPTH) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "more than %d encoder blocks", MS_MAX_DEPTH);
    c->window_size = 0;
    for (int b = 0; b < c->depth; b++) {
        snprintf(name, sizeof name, "image_encoder.blocks.%d.attn.rel_pos_h", b);
        if ((st = need(lookup, ctx, name, 2, s, err))) return st;
        int size = (int)(s[0] + 1) / 2; /* rel_pos length = 2*size - 1 */
        if (s[0] % 2 == 0 || s[1] <= 0 || c->embed_dim % s[1] != 0)
            return ms_error(err, MEDSAM_ERR_SHAPE, "%s has shape (%lld,%lld); expected (2*S-1, head_dim)", name,
                            (long long)s[0], (long long)s[1]);
        if (b == 0) c->head_dim = (int)s[1];
        else if (s[1] != c->head_dim)
            return ms_error(err, MEDSAM_ERR_SHAPE, "%s: head_dim %lld differs from block 0's %d", name, (long long)s[1], c->head_dim);
        if (size == c->grid) {
            c->is_global[b] = 1;
        } else {
            if (c->window_size && c->window_size != size)
                return ms_error(err, MEDSAM_ERR_SHAPE, "%s: window size %d differs from %d", name, size, c->window_size);
            c->window_size = size;
        }
    }
    if (c->window_size == 0) c->window_size = c->grid; /* all blocks global */
    c->num_heads = c->embed_dim / c->head_dim;
    if ((st = need(lookup, ctx, "image_encoder.blocks.0.mlp.lin1.weight", 2, s, err))) return st;
    c->mlp_dim = (int)s[0];
    if ((st = need(lookup, ctx, "image_encoder.neck.0.weight", 4, s, err))) return st;
    c->out_chans = (int)s[0];
    return MEDSAM_OK;
}

medsam_status ms_config_infer(ms_shape_lookup lookup, void *ctx, ms_config *c, medsam_error *err) {
    set_defaults(c);
    int64_t s[8];
    medsam_status st;
    /* the image encoder, by kind (recognised from its tensor names) */
    const ms_encoder_ops *ops = ms_encoder_ops_detect(lookup, ctx);
    if ((st = ops->infer(lookup, ctx, c, err))) return st;
    c->encoder = ops->kind;

    /* ref: prompt_encoder.py:PromptEncoder.__init__ */
    if ((st = need(lookup, ctx, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 2, s, err))) return st;
    c->prompt_dim = (int)s[1] * 2;
    if (c->prompt_dim != c->out_chans)
        return ms_error(err, MEDSAM_ERR_SHAPE, "prompt embedding dim %d differs from the encoder's output channels %d",
                        c->prompt_dim, c->out_chans);
    if ((st = need(lookup, ctx, "prompt_encoder.mask_downscaling.3.weight", 4, s, err))) return st;
    c->mask_in_chans = (int)s[0];

    /* ref: mask_decoder.py:MaskDecoder.__init__, transformer.py:TwoWayTransformer.__init__ */
    c->dec_depth = count_indexed(lookup, ctx, "mask_decoder.transformer.layers.%d.norm1.weight", MS_MAX_DEC_DEPTH + 1);
    if (c->dec_depth == 0 || c->dec_depth > MS_MAX_DEC_DEPTH)
        return ms_error(err, MEDSAM_ERR_SHAPE, "mask decoder has %d transformer layers (expected 1..%d)", c->dec_depth,
                        MS_MAX_DEC_DEPTH);
    if ((st = need(lookup, ctx, "mask_decoder.transformer.layers.0.mlp.lin1.weight", 2, s, err))) return st;
    c->dec_mlp_dim = (int)s[0];
    if ((st = need(lookup, ctx, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight", 2, s, err)))
        return st;
    if (s[0] <= 0 || c->prompt_dim % s[0] != 0)
        return ms_error(err, MEDSAM_ERR_SHAPE, "cross-attention q_proj has %lld outputs, not a divisor of %d",
                        (long long)s[0], c->prompt_dim);
    c->dec_attn_down = c->prompt_dim / (int)s[0];
    if ((st = need(lookup, ctx, "mask_decoder.mask_tokens.weight", 2, s, err))) return st;
    c->num_mask_tokens = (int)s[0];
    if (c->num_mask_tokens < 1 || c->num_mask_tokens > MS_MAX_MASK_TOKENS)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%d mask tokens (expected 1..%d)", c->num_mask_tokens, MS_MAX_MASK_TOKENS);
    c->iou_head_depth = count_indexed(lookup, ctx, "mask_decoder.iou_prediction_head.layers.%d.weight", MS_MAX_HEAD_DEPTH + 1);
    if (c->iou_head_depth < 2 || c->iou_head_depth > MS_MAX_HEAD_DEPTH)
        return ms_error(err, MEDSAM_ERR_SHAPE, "IoU head has %d layers (expected 2..%d)", c->iou_head_depth, MS_MAX_HEAD_DEPTH);
    if ((st = need(lookup, ctx, "mask_decoder.iou_prediction_head.layers.0.weight", 2, s, err))) return st;
    c->iou_hidden = (int)s[0];
    if (c->prompt_dim % 8 != 0 || (c->prompt_dim / c->dec_attn_down) % c->dec_heads != 0 || c->prompt_dim % c->dec_heads != 0)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "decoder dim %d is not divisible by 8 heads", c->prompt_dim);
    return MEDSAM_OK;
}

medsam_status ms_config_preset(const char *name, ms_config *c, medsam_error *err) {
    set_defaults(c);
    static const struct { const char *name; int dim, depth, heads, g[4], ng, img, win, out, dec_mlp, iou_hidden; } P[] = {
        {"vit_b", 768, 12, 12, {2, 5, 8, 11}, 4, 1024, 14, 256, 2048, 256},
        {"vit_l", 1024, 24, 16, {5, 11, 17, 23}, 4, 1024, 14, 256, 2048, 256},
        {"vit_h", 1280, 32, 16, {7, 15, 23, 31}, 4, 1024, 14, 256, 2048, 256},
        /* the CI fixture config (tools/ref/sam_ref.py "tiny"): 8x8 tokens, windows of 3 */
        {"tiny", 48, 4, 3, {1, 3}, 2, 128, 3, 64, 96, 40},
    };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        if (strcmp(P[i].name, name) != 0) continue;
        c->img_size = P[i].img;
        c->patch_size = 16;
        c->grid = c->img_size / c->patch_size;
        c->embed_dim = P[i].dim;
        c->depth = P[i].depth;
        c->num_heads = P[i].heads;
        c->head_dim = P[i].dim / P[i].heads;
        c->mlp_dim = 4 * P[i].dim;
        c->window_size = P[i].win;
        for (int k = 0; k < P[i].ng; k++) c->is_global[P[i].g[k]] = 1;
        c->out_chans = c->prompt_dim = P[i].out;
        c->mask_in_chans = 16;
        c->dec_depth = 2;
        c->dec_mlp_dim = P[i].dec_mlp;
        c->dec_attn_down = 2;
        c->num_mask_tokens = 4;
        c->iou_head_depth = 3;
        c->iou_hidden = P[i].iou_hidden;
        return MEDSAM_OK;
    }
    return ms_error(err, MEDSAM_ERR_ARG, "unknown architecture '%s' (known: vit_b, vit_l, vit_h, tiny)", name);
}

void ms_vit_config_describe(const ms_config *c, char *buf, int len) {
    char glob[256] = "";
    int n = 0;
    for (int b = 0; b < c->depth && n < (int)sizeof glob - 8; b++)
        if (c->is_global[b]) n += snprintf(glob + n, sizeof glob - n, n ? ",%d" : "%d", b);
    snprintf(buf, len,
             "image encoder: ViT img %d, patch %d, grid %dx%d, embed %d, depth %d, heads %d (head dim %d), mlp %d, "
             "window %d, global blocks [%s], neck %d",
             c->img_size, c->patch_size, c->grid, c->grid, c->embed_dim, c->depth, c->num_heads, c->head_dim, c->mlp_dim,
             c->window_size, glob, c->out_chans);
}

void ms_config_describe(const ms_config *c, char *buf, int len) {
    char enc[768];
    ms_encoder_ops_of(c->encoder)->describe(c, enc, sizeof enc);
    snprintf(buf, len,
             "%s\n"
             "prompt encoder: dim %d, mask_in_chans %d\n"
             "mask decoder: two-way transformer depth %d, heads %d, mlp %d, attention downsample %d, mask tokens %d, "
             "IoU head depth %d hidden %d",
             enc, c->prompt_dim, c->mask_in_chans, c->dec_depth, c->dec_heads, c->dec_mlp_dim, c->dec_attn_down,
             c->num_mask_tokens, c->iou_head_depth, c->iou_hidden);
}
