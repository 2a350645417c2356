/* zoom.c — the box zoom window, see zoom.h. */
#include "pipeline/zoom.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int ms_box_zoom_window(const float box[4], int W, int H, double factor, ms_zoom_window *win) {
    win->x0 = win->y0 = 0;
    win->w = W;
    win->h = H;
    if (!(factor > 0) || W < 1 || H < 1) return 0;
    for (int i = 0; i < 4; i++)
        if (!isfinite(box[i])) return 0; /* refused later by the box checks; no window from it */
    const double bw = (double)box[2] - box[0], bh = (double)box[3] - box[1];
    double want = factor * (bw > bh ? bw : bh);
    if (!(want >= MS_BOX_ZOOM_MIN_SIDE)) want = MS_BOX_ZOOM_MIN_SIDE; /* also NaN */
    const int lim = W < H ? W : H;
    if (want >= lim) return 0;
    const int side = (int)ceil(want);
    if (side >= lim) return 0;
    const double cx = 0.5 * ((double)box[0] + box[2]), cy = 0.5 * ((double)box[1] + box[3]);
    int x0 = (int)floor(cx - 0.5 * side), y0 = (int)floor(cy - 0.5 * side);
    if (x0 > W - side) x0 = W - side;
    if (y0 > H - side) y0 = H - side;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    win->x0 = x0;
    win->y0 = y0;
    win->w = win->h = side;
    return 1;
}

void ms_zoom_crop(const void *image, int W, int channels, int bytes_per_sample, const ms_zoom_window *win, void *out) {
    const size_t px = (size_t)channels * bytes_per_sample, row = (size_t)win->w * px;
    const uint8_t *src = image;
    uint8_t *dst = out;
    for (int y = 0; y < win->h; y++)
        memcpy(dst + (size_t)y * row, src + ((size_t)(win->y0 + y) * W + win->x0) * px, row);
}
