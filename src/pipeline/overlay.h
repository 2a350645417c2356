/* overlay.h — a picture of a segmentation: the image in grey or colour, each
 * label alpha-blended in its own colour, and the prompt boxes outlined in the
 * same colour.
 *
 * Colours: label k (1-based) and box k take palette entry (k - 1) mod 12 of a
 * fixed palette (ms_overlay_color). Blending: out = (img * (256 - a) + col * a
 * + 128) >> 8 per channel with a = 128 (alpha 0.5, as LiteMedSAM's show_mask).
 * Box outlines are `thickness` pixels wide, drawn inside the box: columns
 * floor(x0) .. floor(x0) + t - 1 and ceil(x1) - t .. ceil(x1) - 1 (rows alike),
 * clamped to the image; thickness <= 0 picks max(1, max(w, h) / 256). */
#ifndef MS_OVERLAY_H
#define MS_OVERLAY_H
#include <stdint.h>

#include "medsam.h"

/* Colour of label / box k (1-based) as RGB. */
void ms_overlay_color(int k, uint8_t rgb[3]);

/* rgb (h, w, 3) := image, with labels and boxes drawn on it.
 *   image:  (h, w, channels) uint8, channels 1 (grey) or 3 (RGB)
 *   labels: (h, w), label_bytes 1 or 2; may be NULL
 *   boxes:  n boxes in pixel coordinates; box i gets colour i + 1; may be NULL */
void ms_overlay_render(uint8_t *rgb, const uint8_t *image, int w, int h, int channels, const void *labels,
                       int label_bytes, const medsam_box *boxes, int n, int thickness);

#endif
