/* resize_area.h — OpenCV 4.6's cv2.resize(img, (dw, dh), interpolation=cv2.INTER_AREA)
 * on uint8 images, bit for bit (as Debian's python3-opencv 4.6 computes it on x86-64).
 *
 * ref: opencv 4.6 modules/imgproc/src/resize.cpp: cv::resize, cv::hal::resize,
 * resizeAreaFast_, ResizeAreaFastVec, computeResizeAreaTab, ResizeArea_Invoker,
 * resizeGeneric_ with HResizeLinear / VResizeLinear (fixed point, 11-bit weights).
 *
 *   inv_scale = (double)dw / sw, scale = 1. / inv_scale (per axis, double);
 *   same size                      -> copy;
 *   both scales >= 1, both within DBL_EPSILON of an integer (iscale = cvRound(scale))
 *                                  -> "fast area": the mean of each iscale_x x iscale_y
 *                                     block; for 2 x 2 with 1, 3 or 4 channels
 *                                     (a + b + c + d + 2) >> 2, otherwise
 *                                     cvRound(sum * (1.f / area)) (half to even);
 *   both scales >= 1, otherwise    -> exact area weights: per axis the source cells
 *                                     [d * scale, (d + 1) * scale) with float weights
 *                                     (partial cells > 1e-3 of a pixel), rows summed into
 *                                     float buffers in table order, cvRound + saturate;
 *   any scale < 1 (upscaling)      -> OpenCV's bilinear with "area" coefficients:
 *                                     s = floor(d * scale), f = (d + 1) - (s + 1) / scale,
 *                                     f <= 0 ? 0 : f - floor(f), weights (1 - f, f) as
 *                                     saturate_cast<short>(w * 2048), edges clamped,
 *                                     horizontal int sums, vertical
 *                                     (r0 * b0 + r1 * b1 + 2^21) >> 22.
 * Rounding (cvRound) is round-half-to-even, as SSE2's cvtss2si. */
#ifndef MS_RESIZE_AREA_H
#define MS_RESIZE_AREA_H
#include <stdint.h>

#include "medsam.h"

/* out (dh, dw, cn) = INTER_AREA resize of in (sh, sw, cn); cn 1..4, sizes >= 1.
 * The exact-area path (fractional downscaling) splits the destination rows over up
 * to nthreads threads, as OpenCV's parallel_for_ does: the same bits for any count. */
medsam_status ms_resize_area_u8(const uint8_t *in, int sw, int sh, int cn, uint8_t *out, int dw, int dh,
                                int nthreads, medsam_error *err);

/* CVPR24_LiteMedSAM_infer.py:resize_longest_side: the size (dw, dh) of a (sw, sh)
 * image whose longest side becomes `target`: scale = target * 1.0 / max(sh, sw),
 * int(side * scale + 0.5). */
void ms_resize_longest_side_size(int sw, int sh, int target, int *dw, int *dh);

#endif
