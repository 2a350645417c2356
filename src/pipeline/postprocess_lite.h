/* postprocess_lite.h — LiteMedSAM's mask postprocessing, as torch 1.13 computes it.
 *
 * ref: CVPR24_LiteMedSAM_infer.py:MedSAM_Lite.postprocess_masks + medsam_inference (lines 174-318):
 *   masks = low_res_logits[..., :newh, :neww]                        # crop: a strided VIEW
 *   masks = F.interpolate(masks, (H, W), mode="bilinear", align_corners=False)
 *   medsam_seg = (torch.sigmoid(masks) > 0.5)
 * The logits are resized first and the sigmoid taken afterwards (MedSAM_Inference.py does
 * the opposite). Which CPU kernel F.interpolate takes depends on the crop:
 *  - neww == L (the crop keeps whole rows): the view is contiguous, so also "channels
 *    last" for one channel, and torch takes cpu_upsample_linear_channels_last: weights
 *    w_ab = l_a(row) * l_b(col) in float, sum ((w00 v00 + w01 v01) + w10 v10) + w11 v11
 *    in double (as postprocess.h);
 *  - neww < L: the view is contiguous in no memory format and torch takes
 *    upsample_generic_Nd_kernel_impl (Interpolate<2, float>), compiled for AVX2 / AVX-512
 *    with fused multiply-adds: a = fma(v00, lx0, v01 * lx1), b = fma(v10, lx0, v11 * lx1),
 *    out = fma(a, ly0, b * ly1), all float.
 * Taps and weights as postprocess.h (source index in double, clamped at 0, l1 float).
 * Both reproduce torch 1.13 (Debian, AVX2 / AVX-512 kernels) bit for bit. The sigmoid is
 * ms_sigmoid_torch (torch's vectorised kernel; torch uses libm's expf for the last
 * numel % 16 (AVX2) or % 32 (AVX-512) elements of each thread's range, which can move a
 * probability by an ulp). */
#ifndef MS_POSTPROCESS_LITE_H
#define MS_POSTPROCESS_LITE_H
#include <stdint.h>

/* out (y1 - y0, w): rows [y0, y1) of F.interpolate(logits[:nh, :nw], (h, w)), logits (L, L). */
void ms_lite_upsample_rows(const float *logits, int L, int nh, int nw, int h, int w, int y0, int y1, float *out);

/* labels (h, w), rows [y0, y1): raised to `label` where sigmoid(upsampled logit) > 0.5. */
void ms_lite_label_rows(const float *logits, int L, int nh, int nw, int h, int w, int y0, int y1, uint8_t label,
                        uint8_t *labels);

/* prob (h, w) = sigmoid(upsampled logits). */
void ms_lite_prob(const float *logits, int L, int nh, int nw, int h, int w, float *prob);

#endif
