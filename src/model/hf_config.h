/* hf_config.h — what a transformers `config.json` beside an HF-layout weights
 * file adds to the shapes: the mask decoder's head count (not visible in any
 * tensor shape), checked against what the shapes say for the rest. */
#ifndef MS_MODEL_HF_CONFIG_H
#define MS_MODEL_HF_CONFIG_H
#include "medsam.h"
#include "model/config.h"

/* Reads config.json from the folder of `weights_path` when there is one
 * (none: MEDSAM_OK, cfg unchanged). Uses mask_decoder_config.num_attention_heads;
 * refuses a model_type other than "sam" and a vision_config / mask_decoder_config
 * (hidden_size, num_attention_heads, mlp_dim, num_hidden_layers) that
 * contradicts the tensors. Errors name the config file. */
medsam_status ms_hf_config_apply(const char *weights_path, ms_config *cfg, medsam_error *err);

#endif
