/* postprocess.h — MedSAM_Inference.py's mask postprocessing.
 *
 * ref: MedSAM_Inference.py:medsam_inference (lines 62-71):
 *   low_res_pred = torch.sigmoid(low_res_logits)                       # (1, 1, 256, 256)
 *   low_res_pred = F.interpolate(low_res_pred, size=(H, W), mode="bilinear", align_corners=False)
 *   medsam_seg = (low_res_pred > 0.5).astype(np.uint8)
 * Sigmoid comes FIRST, then the resize straight from 256 to the original H x W.
 *
 * Bilinear, align_corners=False, as PyTorch 1.13 computes it on the CPU for a
 * (1, 1, h, w) float tensor (which is also "channels last", so it takes that kernel):
 *   scale   = (float)in / (float)out                      (float)
 *   src     = scale * (dst + 0.5) - 0.5, clamped at 0     (double)
 *   i0      = (int)src, i1 = i0 + (i0 < in - 1),  l1 = (float)(src - i0), l0 = 1 - l1 (float)
 *   (an axis whose size does not change copies: i1 = i0, l0 = 1, l1 = 0)
 *   w_ab    = l_a(row) * l_b(col)                         (float products)
 *   out     = (float)(((w00*v00 + w01*v01) + w10*v10) + w11*v11)   (double sums)
 * This reproduces torch 1.13's output bit for bit. The sigmoid is torch's vectorised one,
 * 1 / (exp(0 - x) + 1) with SLEEF's expf_u10 (fused multiply-adds, via fmaf), which
 * differs from a correctly rounded expf by an ulp in about 1 value in 6; with it the
 * probabilities are bit-identical to torch's as well (torch falls back to libm expf only
 * for a tensor tail shorter than one vector, never for 256 x 256 logits). */
#ifndef MS_POSTPROCESS_H
#define MS_POSTPROCESS_H
#include <stdint.h>

/* Argument order follows the call sites: inputs, sizes, then the output. */

/* torch.sigmoid of one float as the vectorised CPU kernel computes it (see above). */
float ms_sigmoid_torch(float x);

/* in (ih, iw) -> out (oh, ow), PyTorch bilinear with align_corners=False. Sizes >= 1. */
void ms_upsample_bilinear_f32(const float *in, int ih, int iw, int oh, int ow, float *out);

/* prob_out (out_h, out_w) = bilinear(sigmoid(logits)); logits (lh, lw), normally (256, 256).
 * The sigmoid is taken once per logit into one temporary allocation (per tap,
 * allocation-free, if that fails); AVX2 paths with the same operations per
 * element, so results are bit-identical on every path. */
void ms_postprocess_prob(const float *logits, int lh, int lw, int out_h, int out_w, float *prob_out);

/* mask_out (out_h, out_w): 1 where bilinear(sigmoid(logits)) > 0.5, else 0. */
void ms_postprocess_mask(const float *logits, int lh, int lw, int out_h, int out_w, uint8_t *mask_out);

/* labels (out_h, out_w): set to `label` where the mask of ms_postprocess_mask is 1
 * and labels holds a smaller value; other pixels untouched (label maps of many boxes). */
void ms_postprocess_label(const float *logits, int lh, int lw, int out_h, int out_w, uint8_t label,
                          uint8_t *labels);

/* The same for output rows [y0, y1) only (clamped to the image); labels is the
 * whole (out_h, out_w) plane. Lets threads share one box by row bands. */
void ms_postprocess_label_rows(const float *logits, int lh, int lw, int out_h, int out_w, int y0, int y1,
                               uint8_t label, uint8_t *labels);

#endif
