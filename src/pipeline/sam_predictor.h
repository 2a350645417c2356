/* sam_predictor.h — segment_anything's SamPredictor pipeline, operation for
 * operation (the arithmetic behind the "sam" pipeline of pipeline_sam.c).
 *
 * ref: segment_anything/predictor.py:SamPredictor.set_image / predict / predict_torch,
 *      segment_anything/utils/transforms.py:ResizeLongestSide,
 *      segment_anything/modeling/sam.py:Sam.preprocess / Sam.postprocess_masks
 *
 * Preprocessing (set_image):
 *   (newh, neww) = get_preprocess_shape(H, W, S): scale = S / max(H, W) (double),
 *                  newh = int(H * scale + 0.5), neww = int(W * scale + 0.5);
 *   apply_image  = np.array(torchvision resize(to_pil_image(img), (newh, neww))): Pillow's
 *                  bilinear resize of the uint8 RGB image (pipeline/resize_pil.h);
 *   Sam.preprocess: x = (x - pixel_mean) / pixel_std in float32, mean (123.675, 116.28,
 *                  103.53), std (58.395, 57.12, 57.375), then F.pad with zeros on the
 *                  right and bottom to S x S.
 * Prompts (predict): apply_coords: x * (neww / W), y * (newh / H) in float64, then
 *   torch.float; boxes the same per corner.
 * Postprocessing (predict_torch -> Sam.postprocess_masks, threshold mask_threshold = 0.0):
 *   F.interpolate(low_res (1, C, L, L), (S, S), bilinear, align_corners=False),
 *   crop [..., :newh, :neww], F.interpolate(..., (H, W), bilinear, align_corners=False), > 0.
 *   Torch 1.13 takes one of two CPU kernels for each interpolate, and they round differently:
 *   - "channels last" (the input is channels-last contiguous, which a (1, 1, h, w) tensor with
 *     plain strides is): weights w_ab = ly_a * lx_b (float), the sum of the four products in
 *     double, rounded to float (pipeline/postprocess.h);
 *   - "generic" (anything else: 3 masks, or the cropped view of one mask narrower than S):
 *     per row t = fmaf(v0, lx0, v1 * lx1), then fmaf(t_row0, ly0, t_row1 * ly1) in float
 *     (the compiler fuses a*b + c*d of Interpolate<.., 2>::eval into one FMA).
 *   Source positions are shared: scale = (float)in / out, src = scale * (dst + 0.5) - 0.5
 *   in double, clamped at 0, i0 = (int)src, l1 = (float)(src - i0), l0 = 1 - l1.
 *   So one mask (multimask_output=False) goes through the channels-last kernel to S x S and
 *   then the channels-last kernel again only when neww == S (the crop keeps whole rows),
 *   else the generic one; three masks (multimask_output=True) take the generic kernel twice. */
#ifndef MS_SAM_PREDICTOR_H
#define MS_SAM_PREDICTOR_H
#include <stdint.h>

#include "io/image.h"
#include "medsam.h"

// ref: transforms.py:ResizeLongestSide.get_preprocess_shape
void ms_sam_preprocess_shape(int h, int w, int target, int *newh, int *neww);

/* The uint8 RGB image SamPredictor.set_image receives for a decoded file: 8-bit grey
 * (and grey+alpha) repeated to 3 channels, alpha dropped, 16-bit colour reduced to its
 * high byte (Pillow's reading); 16-bit grey and float images are refused (SamPredictor
 * takes uint8). rgb: (h, w, 3), newly allocated. */
medsam_status ms_sam_rgb_input(const ms_image *img, uint8_t **rgb, medsam_error *err);

/* The encoder input of set_image + Sam.preprocess. out_hwc: (S, S, 3) float32;
 * resized (may be NULL): (newh, neww, 3) uint8, apply_image's output. */
medsam_status ms_sam_preprocess(const ms_image *img, int S, int nthreads, float *out_hwc, uint8_t *resized,
                                medsam_error *err);

/* One point (x, y) of the original w x h image in the model frame: apply_coords. */
void ms_sam_apply_coords(int w, int h, int S, double x, double y, float out[2]);

/* Which kernel each of postprocess_masks' two interpolations takes (see above). */
typedef struct {
    int generic_up;   /* stage 1, L -> S: 1 with several masks */
    int generic_down; /* stage 2, crop -> H x W: 1 with several masks, or when neww < S */
} ms_sam_kernels;
ms_sam_kernels ms_sam_postprocess_kernels(int nmasks, int S, int neww);

/* Rows [y0, y1) of postprocess_masks for one mask's logits (L, L): the upscaled logits
 * into out (H, W) (when out is not NULL; only those rows written), and/or labels (H, W)
 * raised to `label` where the logit is > 0 (when labels is not NULL). Allocates its
 * row buffers; without memory it computes pixel by pixel (same bits, slower). */
void ms_sam_postprocess_rows(const float *logits, int L, int S, int newh, int neww, int H, int W, ms_sam_kernels k,
                             int y0, int y1, float *out, uint8_t label, uint8_t *labels);

#endif
