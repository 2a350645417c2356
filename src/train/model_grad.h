/* model_grad.h — loss and gradients of one MedSAM training step.
 *
 * ref: train_one_gpu.py:MedSAM.forward and the training loop:
 *   image_embedding = image_encoder(image)                       (B, 256, 64, 64)
 *   with torch.no_grad(): sparse, dense = prompt_encoder(points=None, boxes=box[:, None, :], masks=None)
 *   low_res_masks, _ = mask_decoder(image_embedding, get_dense_pe(), sparse, dense, multimask_output=False)
 *   pred = F.interpolate(low_res_masks, (S, S), mode="bilinear", align_corners=False)
 *   loss = DiceLoss(sigmoid, squared_pred, mean)(pred, gt) + BCEWithLogitsLoss(mean)(pred, gt)
 *
 * Which parameters get a gradient (ms_param_gets_grad): the image encoder and
 * the mask decoder, except mask_decoder.iou_prediction_head.* (not in the loss
 * graph: PyTorch leaves its .grad None, so AdamW skips it: no update, no weight
 * decay). mask_tokens rows 1..T-1 get real gradients (they attend with token 0);
 * output_hypernetworks_mlps.1..T-1 get exact zeros (their masks are sliced away).
 * The prompt encoder is frozen.
 *
 * The batch is processed one image at a time (the loss is a mean of per-image
 * terms: dice per plane, BCE with equal pixel counts), so activation memory is
 * that of one image whatever B: ViT-B at 1024 about 2.8 GB.
 */
#ifndef MS_TRAIN_MODEL_GRAD_H
#define MS_TRAIN_MODEL_GRAD_H
#include <stddef.h>

#include "medsam.h"
#include "model/config.h"
#include "model/params.h"

typedef struct ms_grad_ctx ms_grad_ctx;

/* Activation memory sized once from (config, batch); nthreads used by every kernel.
 * NULL with err filled on an unsupported configuration or out of memory. */
ms_grad_ctx *ms_grad_ctx_new(const ms_config *c, int batch, int nthreads, medsam_error *err);
void ms_grad_ctx_free(ms_grad_ctx *ctx);
size_t ms_grad_ctx_bytes(const ms_grad_ctx *ctx);

/* 1 when the official training computes a gradient for p (see above). */
int ms_param_gets_grad(const ms_param *p);

/* images: (B, 3, S, S) CHW in [0, 1]; boxes: (B, 4) x0, y0, x1, y1 in the S-pixel frame
 * (float, as box_torch); gt: (B, S, S) 0/1. B <= the ctx's batch.
 * grads: table->total floats laid out like the parameters, ACCUMULATED into (the
 * caller zeroes); entries of parameters without a gradient are left untouched.
 * loss_out[3] = total, dice, bce (may be NULL). */
medsam_status ms_model_loss_grad(ms_grad_ctx *ctx, const ms_config *c, const ms_weights *w, float *grads,
                                 const float *images, const float *boxes, const float *gt, int B, double loss_out[3],
                                 medsam_error *err);

#endif
