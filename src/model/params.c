/* params.c — one walk over the architecture, in PyTorch state_dict order,
 * that both lists the parameters and binds the named views. */
#include "model/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/encoder_kind.h"

struct ms_param_walker {
    ms_param *items; /* NULL while counting */
    int count;
    size_t total;
    float *base;     /* NULL when only building the table */
    int trainable;   /* applies to the parameters registered next */
    void *enc_views; /* the encoder kind's named views to bind, or NULL */
};
typedef ms_param_walker walker;

static void vreg(walker *W, float **slot, int ndim, const int64_t dims[4], const char *fmt, va_list ap) {
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (size_t)dims[i];
    if (W->items) {
        ms_param *p = &W->items[W->count];
        vsnprintf(p->name, sizeof p->name, fmt, ap);
        p->ndim = ndim;
        memcpy(p->shape, dims, 4 * sizeof *dims);
        p->offset = W->total;
        p->numel = numel;
        p->trainable = W->trainable;
    }
    if (W->base && slot) *slot = W->base + W->total;
    W->count++;
    W->total += numel;
}

/* Registers one tensor; binds *slot to its place in the buffer when binding. */
static void reg(walker *W, float **slot, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...) {
    int64_t dims[4] = {d0, d1, d2, d3};
    va_list ap;
    va_start(ap, fmt);
    vreg(W, slot, ndim, dims, fmt, ap);
    va_end(ap);
}

void ms_param_reg(ms_param_walker *W, float **slot, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                  const char *fmt, ...) {
    int64_t dims[4] = {d0, d1, d2, d3};
    va_list ap;
    va_start(ap, fmt);
    vreg(W, slot, ndim, dims, fmt, ap);
    va_end(ap);
}

void ms_param_set_trainable(ms_param_walker *W, int trainable) { W->trainable = trainable; }

static void reg_attn(walker *W, ms_attn_w *a, int D, int I, const char *prefix) {
    ms_attn_w dummy;
    if (!a) a = &dummy;
    reg(W, &a->q_w, 2, I, D, 0, 0, "%s.q_proj.weight", prefix);
    reg(W, &a->q_b, 1, I, 0, 0, 0, "%s.q_proj.bias", prefix);
    reg(W, &a->k_w, 2, I, D, 0, 0, "%s.k_proj.weight", prefix);
    reg(W, &a->k_b, 1, I, 0, 0, 0, "%s.k_proj.bias", prefix);
    reg(W, &a->v_w, 2, I, D, 0, 0, "%s.v_proj.weight", prefix);
    reg(W, &a->v_b, 1, I, 0, 0, 0, "%s.v_proj.bias", prefix);
    reg(W, &a->out_w, 2, D, I, 0, 0, "%s.out_proj.weight", prefix);
    reg(W, &a->out_b, 1, D, 0, 0, 0, "%s.out_proj.bias", prefix);
}

void ms_vit_walk_encoder(const ms_config *c, ms_param_walker *W, void *views) {
    const int C = c->embed_dim, G = c->grid, P = c->patch_size, M = c->mlp_dim, O = c->out_chans;
    ms_image_encoder_w *enc = views;
#define S(field) (enc ? &enc->field : NULL)
    /* ref: image_encoder.py:ImageEncoderViT (pos_embed is a direct parameter, so it comes first) */
    W->trainable = 1;
    reg(W, S(pos_embed), 4, 1, G, G, C, "image_encoder.pos_embed");
    reg(W, S(patch_w), 4, C, c->in_chans, P, P, "image_encoder.patch_embed.proj.weight");
    reg(W, S(patch_b), 1, C, 0, 0, 0, "image_encoder.patch_embed.proj.bias");
    for (int b = 0; b < c->depth; b++) {
        const int R = 2 * (c->is_global[b] ? G : c->window_size) - 1, hd = c->head_dim;
        const char *pre = "image_encoder.blocks";
        reg(W, S(blocks[b].norm1_w), 1, C, 0, 0, 0, "%s.%d.norm1.weight", pre, b);
        reg(W, S(blocks[b].norm1_b), 1, C, 0, 0, 0, "%s.%d.norm1.bias", pre, b);
        reg(W, S(blocks[b].rel_pos_h), 2, R, hd, 0, 0, "%s.%d.attn.rel_pos_h", pre, b);
        reg(W, S(blocks[b].rel_pos_w), 2, R, hd, 0, 0, "%s.%d.attn.rel_pos_w", pre, b);
        reg(W, S(blocks[b].qkv_w), 2, 3 * C, C, 0, 0, "%s.%d.attn.qkv.weight", pre, b);
        reg(W, S(blocks[b].qkv_b), 1, 3 * C, 0, 0, 0, "%s.%d.attn.qkv.bias", pre, b);
        reg(W, S(blocks[b].proj_w), 2, C, C, 0, 0, "%s.%d.attn.proj.weight", pre, b);
        reg(W, S(blocks[b].proj_b), 1, C, 0, 0, 0, "%s.%d.attn.proj.bias", pre, b);
        reg(W, S(blocks[b].norm2_w), 1, C, 0, 0, 0, "%s.%d.norm2.weight", pre, b);
        reg(W, S(blocks[b].norm2_b), 1, C, 0, 0, 0, "%s.%d.norm2.bias", pre, b);
        reg(W, S(blocks[b].lin1_w), 2, M, C, 0, 0, "%s.%d.mlp.lin1.weight", pre, b);
        reg(W, S(blocks[b].lin1_b), 1, M, 0, 0, 0, "%s.%d.mlp.lin1.bias", pre, b);
        reg(W, S(blocks[b].lin2_w), 2, C, M, 0, 0, "%s.%d.mlp.lin2.weight", pre, b);
        reg(W, S(blocks[b].lin2_b), 1, C, 0, 0, 0, "%s.%d.mlp.lin2.bias", pre, b);
    }
    reg(W, S(neck_conv1_w), 4, O, C, 1, 1, "image_encoder.neck.0.weight");
    reg(W, S(neck_ln1_w), 1, O, 0, 0, 0, "image_encoder.neck.1.weight");
    reg(W, S(neck_ln1_b), 1, O, 0, 0, 0, "image_encoder.neck.1.bias");
    reg(W, S(neck_conv2_w), 4, O, O, 3, 3, "image_encoder.neck.2.weight");
    reg(W, S(neck_ln2_w), 1, O, 0, 0, 0, "image_encoder.neck.3.weight");
    reg(W, S(neck_ln2_b), 1, O, 0, 0, 0, "image_encoder.neck.3.bias");
#undef S
}

static void walk(const ms_config *c, walker *W, ms_weights *w) {
    const int D = c->prompt_dim, mc = c->mask_in_chans, T = c->num_mask_tokens, H = c->iou_hidden;
    const int I = D / c->dec_attn_down, F = c->dec_mlp_dim;
#define S(field) (w ? &w->field : NULL)

    /* the image encoder first, as in the state_dict (its kind registers its own tensors) */
    ms_encoder_ops_of(c->encoder)->walk(c, W, W->base ? W->enc_views : NULL);


    /* ref: prompt_encoder.py:PromptEncoder (frozen in the official training) */
    W->trainable = 0;
    reg(W, S(pe.pe_gaussian), 2, 2, D / 2, 0, 0, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    for (int i = 0; i < 4; i++) reg(W, S(pe.point_embed[i]), 2, 1, D, 0, 0, "prompt_encoder.point_embeddings.%d.weight", i);
    reg(W, S(pe.not_a_point_embed), 2, 1, D, 0, 0, "prompt_encoder.not_a_point_embed.weight");
    reg(W, S(pe.mask_conv1_w), 4, mc / 4, 1, 2, 2, "prompt_encoder.mask_downscaling.0.weight");
    reg(W, S(pe.mask_conv1_b), 1, mc / 4, 0, 0, 0, "prompt_encoder.mask_downscaling.0.bias");
    reg(W, S(pe.mask_ln1_w), 1, mc / 4, 0, 0, 0, "prompt_encoder.mask_downscaling.1.weight");
    reg(W, S(pe.mask_ln1_b), 1, mc / 4, 0, 0, 0, "prompt_encoder.mask_downscaling.1.bias");
    reg(W, S(pe.mask_conv2_w), 4, mc, mc / 4, 2, 2, "prompt_encoder.mask_downscaling.3.weight");
    reg(W, S(pe.mask_conv2_b), 1, mc, 0, 0, 0, "prompt_encoder.mask_downscaling.3.bias");
    reg(W, S(pe.mask_ln2_w), 1, mc, 0, 0, 0, "prompt_encoder.mask_downscaling.4.weight");
    reg(W, S(pe.mask_ln2_b), 1, mc, 0, 0, 0, "prompt_encoder.mask_downscaling.4.bias");
    reg(W, S(pe.mask_conv3_w), 4, D, mc, 1, 1, "prompt_encoder.mask_downscaling.6.weight");
    reg(W, S(pe.mask_conv3_b), 1, D, 0, 0, 0, "prompt_encoder.mask_downscaling.6.bias");
    reg(W, S(pe.no_mask_embed), 2, 1, D, 0, 0, "prompt_encoder.no_mask_embed.weight");

    /* ref: mask_decoder.py:MaskDecoder, transformer.py:TwoWayTransformer */
    W->trainable = 1;
    char pre[96];
    for (int l = 0; l < c->dec_depth; l++) {
        const char *L = "mask_decoder.transformer.layers";
        snprintf(pre, sizeof pre, "%s.%d.self_attn", L, l);
        reg_attn(W, S(dec.layers[l].self_attn), D, D, pre);
        reg(W, S(dec.layers[l].norm1_w), 1, D, 0, 0, 0, "%s.%d.norm1.weight", L, l);
        reg(W, S(dec.layers[l].norm1_b), 1, D, 0, 0, 0, "%s.%d.norm1.bias", L, l);
        snprintf(pre, sizeof pre, "%s.%d.cross_attn_token_to_image", L, l);
        reg_attn(W, S(dec.layers[l].cross_t2i), D, I, pre);
        reg(W, S(dec.layers[l].norm2_w), 1, D, 0, 0, 0, "%s.%d.norm2.weight", L, l);
        reg(W, S(dec.layers[l].norm2_b), 1, D, 0, 0, 0, "%s.%d.norm2.bias", L, l);
        reg(W, S(dec.layers[l].mlp_lin1_w), 2, F, D, 0, 0, "%s.%d.mlp.lin1.weight", L, l);
        reg(W, S(dec.layers[l].mlp_lin1_b), 1, F, 0, 0, 0, "%s.%d.mlp.lin1.bias", L, l);
        reg(W, S(dec.layers[l].mlp_lin2_w), 2, D, F, 0, 0, "%s.%d.mlp.lin2.weight", L, l);
        reg(W, S(dec.layers[l].mlp_lin2_b), 1, D, 0, 0, 0, "%s.%d.mlp.lin2.bias", L, l);
        reg(W, S(dec.layers[l].norm3_w), 1, D, 0, 0, 0, "%s.%d.norm3.weight", L, l);
        reg(W, S(dec.layers[l].norm3_b), 1, D, 0, 0, 0, "%s.%d.norm3.bias", L, l);
        reg(W, S(dec.layers[l].norm4_w), 1, D, 0, 0, 0, "%s.%d.norm4.weight", L, l);
        reg(W, S(dec.layers[l].norm4_b), 1, D, 0, 0, 0, "%s.%d.norm4.bias", L, l);
        snprintf(pre, sizeof pre, "%s.%d.cross_attn_image_to_token", L, l);
        reg_attn(W, S(dec.layers[l].cross_i2t), D, I, pre);
    }
    reg_attn(W, S(dec.final_attn), D, I, "mask_decoder.transformer.final_attn_token_to_image");
    reg(W, S(dec.norm_final_w), 1, D, 0, 0, 0, "mask_decoder.transformer.norm_final_attn.weight");
    reg(W, S(dec.norm_final_b), 1, D, 0, 0, 0, "mask_decoder.transformer.norm_final_attn.bias");
    reg(W, S(dec.iou_token), 2, 1, D, 0, 0, "mask_decoder.iou_token.weight");
    reg(W, S(dec.mask_tokens), 2, T, D, 0, 0, "mask_decoder.mask_tokens.weight");
    reg(W, S(dec.up_conv1_w), 4, D, D / 4, 2, 2, "mask_decoder.output_upscaling.0.weight");
    reg(W, S(dec.up_conv1_b), 1, D / 4, 0, 0, 0, "mask_decoder.output_upscaling.0.bias");
    reg(W, S(dec.up_ln_w), 1, D / 4, 0, 0, 0, "mask_decoder.output_upscaling.1.weight");
    reg(W, S(dec.up_ln_b), 1, D / 4, 0, 0, 0, "mask_decoder.output_upscaling.1.bias");
    reg(W, S(dec.up_conv2_w), 4, D / 4, D / 8, 2, 2, "mask_decoder.output_upscaling.3.weight");
    reg(W, S(dec.up_conv2_b), 1, D / 8, 0, 0, 0, "mask_decoder.output_upscaling.3.bias");
    for (int t = 0; t < T; t++) {
        const char *Hp = "mask_decoder.output_hypernetworks_mlps";
        reg(W, S(dec.hyper_w[t][0]), 2, D, D, 0, 0, "%s.%d.layers.0.weight", Hp, t);
        reg(W, S(dec.hyper_b[t][0]), 1, D, 0, 0, 0, "%s.%d.layers.0.bias", Hp, t);
        reg(W, S(dec.hyper_w[t][1]), 2, D, D, 0, 0, "%s.%d.layers.1.weight", Hp, t);
        reg(W, S(dec.hyper_b[t][1]), 1, D, 0, 0, 0, "%s.%d.layers.1.bias", Hp, t);
        reg(W, S(dec.hyper_w[t][2]), 2, D / 8, D, 0, 0, "%s.%d.layers.2.weight", Hp, t);
        reg(W, S(dec.hyper_b[t][2]), 1, D / 8, 0, 0, 0, "%s.%d.layers.2.bias", Hp, t);
    }
    for (int l = 0; l < c->iou_head_depth; l++) {
        int in = l == 0 ? D : H, out = l == c->iou_head_depth - 1 ? T : H;
        reg(W, S(dec.iou_w[l]), 2, out, in, 0, 0, "mask_decoder.iou_prediction_head.layers.%d.weight", l);
        reg(W, S(dec.iou_b[l]), 1, out, 0, 0, 0, "mask_decoder.iou_prediction_head.layers.%d.bias", l);
    }
#undef S
}

int ms_param_table_build(const ms_config *cfg, ms_param_table *table) {
    walker W = {0};
    walk(cfg, &W, NULL); /* count */
    memset(table, 0, sizeof *table);
    table->items = calloc((size_t)W.count, sizeof(ms_param));
    if (!table->items) return -1;
    walker F = {.items = table->items};
    walk(cfg, &F, NULL);
    table->count = F.count;
    table->total = F.total;
    return 0;
}

void ms_param_table_free(ms_param_table *table) {
    free(table->items);
    memset(table, 0, sizeof *table);
}

void ms_weights_bind(const ms_config *cfg, float *buffer, ms_weights *w) {
    memset(w, 0, sizeof *w);
    walker W = {.base = buffer, .enc_views = cfg->encoder == MS_ENC_VIT ? &w->enc : NULL};
    walk(cfg, &W, w);
}

void ms_weights_bind_encoder(const ms_config *cfg, float *buffer, void *views) {
    walker W = {.base = buffer, .enc_views = views};
    walk(cfg, &W, NULL);
}

const ms_param *ms_param_find(const ms_param_table *t, const char *name) {
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->items[i].name, name) == 0) return &t->items[i];
    return NULL;
}
