/* resize_pil.h — Pillow's Image.resize(size, Image.BILINEAR) of 8-bit images,
 * reproduced bit for bit (Pillow 9.4, src/libImaging/Resample.c).
 *
 * This is what SAM's ResizeLongestSide.apply_image does:
 *   np.array(torchvision.transforms.functional.resize(to_pil_image(image), (newh, neww)))
 * which (torchvision 0.14, PIL input) returns the image unchanged when the size is
 * the same and otherwise calls img.resize((neww, newh), BILINEAR) (no reducing_gap).
 *
 * Pillow's arithmetic, per axis (precompute_coeffs, in double):
 *   scale = in / out; filterscale = max(scale, 1); support = 1.0 * filterscale
 *   (the triangle widens when shrinking: anti-aliasing);
 *   for output index i: center = (i + 0.5) * scale,
 *     xmin = max(0, (int)(center - support + 0.5)), xmax = min(in, (int)(center + support + 0.5)),
 *     w_j = tri((j - center + 0.5) / filterscale) for j in [xmin, xmax), tri(x) = max(0, 1 - |x|),
 *     normalised by their sum (when non-zero);
 *   then fixed point (normalize_coeffs_8bpc): k = (int)(w * 2^22 + 0.5) (w >= 0 here);
 *   out = clip8((2^21 + sum_j v_j * k_j) >> 22) in int32.
 * Two passes: horizontal first (only when the width changes) into an 8-bit temporary
 * holding the source rows the vertical pass needs, then vertical (only when the height
 * changes). Each pass rounds to uint8. Channels are resampled independently with the
 * same coefficients, so an (h, w, 3) RGB image and its (h, w) grey planes give the same
 * numbers as Pillow's "RGB" and "L" modes. (Pillow premultiplies alpha for "LA"/"RGBA";
 * those are not handled here.) */
#ifndef MS_RESIZE_PIL_H
#define MS_RESIZE_PIL_H
#include <stdint.h>

#include "medsam.h"

/* out (oh, ow, ch) = Pillow bilinear resize of in (ih, iw, ch); ch 1 (mode "L") or 3
 * ("RGB"); sides 1..65536. in and out must not overlap. OpenMP over output rows
 * (nthreads <= 0: 1); the result does not depend on the thread count. */
medsam_status ms_resize_pil_bilinear(const uint8_t *in, int ih, int iw, int ch, int oh, int ow, uint8_t *out,
                                     int nthreads, medsam_error *err);

#endif
