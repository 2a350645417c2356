/* model_internal.h — what a medsam_model and medsam_embedding hold. */
#ifndef MS_MODEL_INTERNAL_H
#define MS_MODEL_INTERNAL_H
#include "medsam.h"
#include "model/config.h"
#include "model/encoder_kind.h"
#include "model/params.h"

struct medsam_model {
    ms_config cfg;
    ms_param_table table;
    float *params;      // (table.total) every parameter, in table order
    ms_weights w;       // named views into params
    float *dense_pe;    // (D, G, G) prompt_encoder.get_dense_pe(), computed once at load
    float *no_mask;     // (D, G, G) dense embedding without a mask prompt
    int extra_tensors;  // checkpoint tensors that are not model parameters (ignored)
    const ms_encoder_ops *enc_ops; // the image encoder's kind (cfg.encoder), chosen at load
    void *enc_state;    // what enc_ops->encode reads (ViT: &w.enc; TinyViT: folded weights), from enc_ops->prepare
};

struct medsam_embedding {
    int channels, size; // (channels, size, size)
    float *data;
};

#endif
