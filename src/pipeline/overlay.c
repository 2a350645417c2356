/* overlay.c — labels and boxes drawn over an image. */
#include "pipeline/overlay.h"

#include <math.h>

/* Twelve well-separated colours (label 1 first). */
static const uint8_t PALETTE[12][3] = {
    {255, 64, 64},  {64, 200, 64},  {64, 128, 255}, {255, 200, 0},  {200, 64, 255}, {0, 210, 210},
    {255, 128, 0},  {160, 255, 96}, {255, 96, 192}, {128, 96, 64},  {160, 160, 255}, {255, 255, 160},
};

void ms_overlay_color(int k, uint8_t rgb[3]) {
    int i = k < 1 ? 0 : (k - 1) % 12;
    rgb[0] = PALETTE[i][0], rgb[1] = PALETTE[i][1], rgb[2] = PALETTE[i][2];
}

static uint8_t blend(uint8_t v, uint8_t c) { return (uint8_t)((v * (256 - 128) + c * 128 + 128) >> 8); }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void fill_rect(uint8_t *rgb, int w, int h, int x0, int y0, int x1, int y1, const uint8_t c[3]) {
    x0 = clampi(x0, 0, w), x1 = clampi(x1, 0, w), y0 = clampi(y0, 0, h), y1 = clampi(y1, 0, h);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = c[0], p[1] = c[1], p[2] = c[2];
        }
}

void ms_overlay_render(uint8_t *rgb, const uint8_t *image, int w, int h, int channels, const void *labels,
                       int label_bytes, const medsam_box *boxes, int n, int thickness) {
    const size_t plane = (size_t)w * h;
    for (size_t p = 0; p < plane; p++) {
        int k = !labels ? 0 : label_bytes == 2 ? ((const uint16_t *)labels)[p] : ((const uint8_t *)labels)[p];
        uint8_t px[3];
        for (int c = 0; c < 3; c++) px[c] = channels == 1 ? image[p] : image[p * 3 + c];
        if (k) {
            uint8_t col[3];
            ms_overlay_color(k, col);
            for (int c = 0; c < 3; c++) px[c] = blend(px[c], col[c]);
        }
        rgb[p * 3] = px[0], rgb[p * 3 + 1] = px[1], rgb[p * 3 + 2] = px[2];
    }
    if (thickness <= 0) thickness = (w > h ? w : h) / 256 > 1 ? (w > h ? w : h) / 256 : 1;
    for (int i = 0; boxes && i < n; i++) {
        const medsam_box *b = &boxes[i];
        if (!isfinite(b->x0) || !isfinite(b->y0) || !isfinite(b->x1) || !isfinite(b->y1)) continue;
        const float W = (float)w + 1, H = (float)h + 1; /* clamp before converting to int */
        int x0 = (int)floorf(fminf(fmaxf(b->x0, -1), W)), y0 = (int)floorf(fminf(fmaxf(b->y0, -1), H));
        int x1 = (int)ceilf(fminf(fmaxf(b->x1, -1), W)), y1 = (int)ceilf(fminf(fmaxf(b->y1, -1), H));
        if (x1 <= x0 || y1 <= y0) continue;
        uint8_t col[3];
        ms_overlay_color(i + 1, col);
        fill_rect(rgb, w, h, x0, y0, x1, y0 + thickness, col); /* top */
        fill_rect(rgb, w, h, x0, y1 - thickness, x1, y1, col); /* bottom */
        fill_rect(rgb, w, h, x0, y0, x0 + thickness, y1, col); /* left */
        fill_rect(rgb, w, h, x1 - thickness, y0, x1, y1, col); /* right */
    }
}
