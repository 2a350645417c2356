/* encoder_kind.h — the image encoder families behind one seam.
 *
 * A checkpoint's encoder kind is recognised once, at load, from its tensor
 * names (ms_encoder_ops_detect) and kept in ms_config.encoder; everything that
 * differs between kinds goes through this table. The prompt encoder and mask
 * decoder are shared: every kind yields an (out_chans, grid, grid) embedding
 * and sets img_size, the prompt encoder's input_image_size.
 *
 *   kind            tensors                                   files
 *   MS_ENC_VIT      image_encoder.blocks.N.*, pos_embed       image_encoder.c, config.c, params.c
 *   MS_ENC_TINYVIT  image_encoder.patch_embed.seq.*, layers.* tinyvit.c, tinyvit_forward.c
 *
 * Adding a family = one ms_encoder_ops in encoder_kind.c plus its own files.
 */
#ifndef MS_ENCODER_KIND_H
#define MS_ENCODER_KIND_H
#include <stddef.h>

#include "medsam.h"
#include "model/config.h"
#include "model/params.h"
#include "model/trace.h"

typedef struct {
    ms_encoder_kind kind;
    const char *name;   /* "vit", "tinyvit" (medsam_model_info.encoder) */
    const char *family; /* "SAM ViT", "LiteMedSAM (TinyViT)" */
    /* 1 when the checkpoint's tensor names are this kind's. */
    int (*detect)(ms_shape_lookup lookup, void *ctx);
    /* The encoder's part of the configuration, from tensor shapes: sets img_size,
     * grid, in_chans, out_chans and the kind's own fields. */
    medsam_status (*infer)(ms_shape_lookup lookup, void *ctx, ms_config *c, medsam_error *err);
    /* Registers the encoder's tensors in state_dict order (views: the kind's
     * named-view struct to bind, or NULL). */
    void (*walk)(const ms_config *c, ms_param_walker *W, void *views);
    /* After every tensor is loaded into params (table order) and w is bound:
     * builds what encode reads (*state; e.g. folded BatchNorm, bias tables). */
    medsam_status (*prepare)(const ms_config *c, float *params, ms_weights *w, void **state, medsam_error *err);
    void (*release)(void *state); /* frees *state of prepare (may be NULL) */
    /* Floats of workspace encode needs for c (0: c is not runnable). */
    size_t (*workspace_floats)(const ms_config *c);
    /* image: (3, img_size, img_size) CHW; embedding: (out_chans, grid, grid).
     * trace (may be NULL) receives the kind's stages. Results do not depend on nthreads. */
    medsam_status (*encode)(const ms_config *c, const void *state, const float *image, float *embedding,
                            float *workspace, int nthreads, ms_trace_fn trace, void *trace_ctx, medsam_error *err);
    /* The "image encoder: ..." line of `medsam info`. */
    void (*describe)(const ms_config *c, char *buf, int len);
    /* The encoder fields of medsam_model_info (img_size, embed_dim, depth, ...). */
    void (*info)(const ms_config *c, medsam_model_info *info);
    /* 1 when `medsam train` can fine-tune this kind. */
    int trainable;
    /* `--precision bf16` inside the kind's state (on = 1: convert, 0: back to fp32), or
     * NULL. The ViT keeps its bf16 weights beside the model instead (medsam_model.bf16,
     * read by ms_image_encoder_forward_bf16), so its entry is NULL. */
    medsam_status (*set_bf16)(const ms_config *c, void *state, int on, medsam_error *err);
} ms_encoder_ops;

/* The operations of a kind (ViT for an unknown value). */
const ms_encoder_ops *ms_encoder_ops_of(ms_encoder_kind kind);
/* The kind whose detect() accepts the checkpoint; ViT when none does (its
 * infer then names the missing tensor). */
const ms_encoder_ops *ms_encoder_ops_detect(ms_shape_lookup lookup, void *ctx);

#endif
