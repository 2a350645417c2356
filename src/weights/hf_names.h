/* hf_names.h — tensor names of the Hugging Face transformers `SamModel`
 * layout (vision_encoder.layers.N..., prompt_encoder.mask_embed...,
 * mask_decoder.upscale_conv1...) mapped to and from the official
 * segment-anything names (image_encoder.blocks.N..., ...), so that one
 * parameter table (model/params.h) serves both.
 *
 * ref: transformers models/sam/convert_sam_to_hf.py (KEYS_TO_MODIFY_MAPPING,
 * replace_keys) and modeling_sam.py (SamFeedForward: proj_in, layers[k],
 * proj_out; SamModel.shared_image_embedding, tied to
 * prompt_encoder.shared_embedding). The MLP heads are renamed
 * layers.0 -> proj_in, layers.k -> layers.(k-1), layers.(L-1) -> proj_out, so
 * the mapping needs the number of middle layers of each head (ms_hf_heads).
 * Both prompt-encoder names of the positional matrix map to the one official
 * name; the SAM -> HF direction gives shared_image_embedding.positional_embedding
 * (what save_pretrained keeps). pixel_mean / pixel_std have no HF name. */
#ifndef MS_WEIGHTS_HF_NAMES_H
#define MS_WEIGHTS_HF_NAMES_H
#include <stddef.h>

typedef struct {
    int hyper_mid; /* middle layers of output_hypernetworks_mlps.t (1 in SAM) */
    int iou_mid;   /* middle layers of iou_prediction_head (iou_head_depth - 2) */
} ms_hf_heads;

/* 1 when the name exists only in the HF layout (vision_encoder.*, shared_image_embedding.*, ...). */
int ms_hf_name_is_hf(const char *name);
/* Records what a name says about the heads' depths (`hf`: 1 for an HF name, 0 for an official one). */
void ms_hf_heads_observe(ms_hf_heads *h, const char *name, int hf);
/* Renames; return 1 and fill out (NUL-terminated) when a rule applies, 0 when
 * the name has no counterpart, -1 when out is too small. */
int ms_hf_to_sam(const char *hf, const ms_hf_heads *h, char *out, size_t cap);
int ms_sam_to_hf(const char *sam, const ms_hf_heads *h, char *out, size_t cap);

#endif
