/* model_internal.h — what a medsam_model and medsam_embedding hold. */
#ifndef MS_MODEL_INTERNAL_H
#define MS_MODEL_INTERNAL_H
#include "medsam.h"
#include "model/config.h"
#include "model/encoder_kind.h"
#include "model/mask_decoder.h"
#include "model/params.h"
#include "pipeline/pipeline.h"

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
    const ms_pipeline_ops *pipe; // the pipeline, chosen once (medsam_model_set_pipeline)
    medsam_precision precision;  // the encoder's (medsam_model_set_precision)
    double box_zoom;    // pipeline/zoom.h factor, 0 = off: the file's "medsam.box_zoom", medsam_model_set_box_zoom
    void *bf16;         // ms_vit_bf16 of the ViT encoder when precision is BF16, else NULL
    float *dec_static_buf;     // (ms_mask_decoder_static_floats) what dec_static points into, or NULL
    ms_dec_static dec_static;  // the decoder's per-model input, when kept (medsam_model_keep_decoder_input)
};

struct medsam_embedding {
    int channels, size; // (channels, size, size)
    float *data;
};

/* Scratch that medsam_encode allocates per call, kept by a caller that encodes many images
 * (3-D propagation: one encode per slice) so that each encode reuses the same mapped memory. */
typedef struct {
    float *chw;  // (3, S, S) the encoder input, channels first
    float *work; // the encoder kind's workspace
    size_t work_floats;
} ms_encode_scratch;
medsam_status ms_encode_scratch_init(const medsam_model *m, ms_encode_scratch *s, medsam_error *err);
void ms_encode_scratch_free(ms_encode_scratch *s);
/* medsam_encode on the given scratch (NULL: allocated for this call). */
medsam_status ms_encode_with(const medsam_model *m, const float *input_hwc, int nthreads, ms_encode_scratch *scratch,
                             medsam_embedding **out, medsam_error *err);

/* medsam_decode_boxes' checks of n boxes on a W x H image: finite, non-empty, inside; the first bad one named. */
medsam_status ms_check_boxes(const medsam_box *boxes, int n, int W, int H, medsam_error *err);

/* medsam_decode_boxes on boxes already in the model's frame: in (n, 4) as the
 * pipeline's box_to_input gives them, g the image's geometry. Outputs as
 * medsam_decode_boxes (mask (g->h, g->w) through the model's pipeline). */
medsam_status ms_decode_input_boxes(const medsam_model *m, const medsam_embedding *emb, const ms_pipe_geom *g,
                                    const float *in, int n, int nthreads, float *logits, float *iou, uint8_t *mask,
                                    medsam_error *err);
/* The same, its scratch taken from mem (mem_floats floats the caller does not use meanwhile)
 * when that is large enough, else allocated as above; the same results either way. */
medsam_status ms_decode_input_boxes_in(const medsam_model *m, const medsam_embedding *emb, const ms_pipe_geom *g,
                                       const float *in, int n, int nthreads, float *logits, float *iou, uint8_t *mask,
                                       float *mem, size_t mem_floats, medsam_error *err);

#endif
