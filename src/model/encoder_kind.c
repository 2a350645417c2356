/* encoder_kind.c — the table of image encoder kinds (see encoder_kind.h). */
#include "model/encoder_kind.h"

#include "model/image_encoder.h"
#include "model/tinyvit.h"

/* ---- SAM / MedSAM ViT: the existing code, unchanged ---- */

static int vit_detect(ms_shape_lookup lookup, void *ctx) {
    int64_t s[8];
    return lookup(ctx, "image_encoder.pos_embed", s) >= 0;
}

static medsam_status vit_prepare(const ms_config *c, float *params, ms_weights *w, void **state, medsam_error *err) {
    (void)c, (void)params, (void)err;
    *state = &w->enc;  // the views into the parameter buffer are all the ViT needs
    return MEDSAM_OK;
}

static void vit_release(void *state) { (void)state; }

static medsam_status vit_encode(const ms_config *c, const void *state, const float *image, float *embedding,
                                float *workspace, int nthreads, ms_trace_fn trace, void *trace_ctx,
                                medsam_error *err) {
    return ms_image_encoder_forward(c, state, image, embedding, workspace, nthreads, trace, trace_ctx, err);
}

static void vit_info(const ms_config *c, medsam_model_info *info) {
    info->img_size = c->img_size;
    info->embed_dim = c->embed_dim;
    info->depth = c->depth;
    info->num_heads = c->num_heads;
    info->window_size = c->window_size;
    info->patch_size = c->patch_size;
}

/* ---- LiteMedSAM TinyViT ---- */

static medsam_status tinyvit_set_bf16(const ms_config *c, void *state, int on, medsam_error *err) {
    return ms_tinyvit_set_bf16(c, state, on, GEMM_BF16_AUTO, err);
}

static const ms_encoder_ops KINDS[] = {
    {MS_ENC_VIT, "vit", "SAM ViT", vit_detect, ms_vit_config_infer, ms_vit_walk_encoder, vit_prepare, vit_release,
     ms_image_encoder_workspace_floats, vit_encode, ms_vit_config_describe, vit_info, 1, NULL},
    {MS_ENC_TINYVIT, "tinyvit", "LiteMedSAM (TinyViT)", ms_tinyvit_detect, ms_tinyvit_infer, ms_tinyvit_walk,
     ms_tinyvit_prepare, ms_tinyvit_release, ms_tinyvit_workspace_floats, ms_tinyvit_encode, ms_tinyvit_describe,
     ms_tinyvit_info, 0, tinyvit_set_bf16},
};

const ms_encoder_ops *ms_encoder_ops_of(ms_encoder_kind kind) {
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (KINDS[i].kind == kind) return &KINDS[i];
    return &KINDS[0];
}

const ms_encoder_ops *ms_encoder_ops_detect(ms_shape_lookup lookup, void *ctx) {
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (KINDS[i].detect(lookup, ctx)) return &KINDS[i];
    return &KINDS[0];
}
