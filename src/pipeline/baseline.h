/* baseline.h — the classical box-prompted baseline the default model's card
 * compares against: Otsu's threshold of the grey values inside the box, the
 * largest connected component of the object side, holes filled. */
#ifndef MS_BASELINE_H
#define MS_BASELINE_H
#include <stdint.h>

#include "medsam.h"

/* Otsu's threshold of a 256-bin histogram: the t maximising the between-class
 * variance of {v <= t} and {v > t} (the first such t on ties, as skimage's
 * threshold_otsu picks the first maximum); -1 when fewer than two values occur. */
int ms_otsu_threshold(const long hist[256]);

/* Segments one box of a grey image:
 *   grey (H, W) uint8; box pixels x0 <= x < x1, y0 <= y < y1 (0 <= x0 < x1 <= W, same for y);
 *   mask (H, W): pixels of the object set to `label`, other pixels untouched.
 * The object is the Otsu class nearer the box's centre (the smaller mean squared distance
 * to it, in units of the half-width and half-height; the bright class on a tie), then its
 * largest 4-connected component, then every pixel
 * of the box that cannot reach the box border through non-object pixels (4-connected:
 * holes) is added. A box of one grey value gives nothing. */
medsam_status ms_baseline_box(const uint8_t *grey, int W, int H, int x0, int y0, int x1, int y1, uint8_t label,
                              uint8_t *mask, medsam_error *err);

#endif
