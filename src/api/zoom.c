/* zoom.c — medsam_segment_pixels: preprocess, encode and decode in one call, with the
 * model's box zoom (pipeline/zoom.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "core/error.h"
#include "pipeline/zoom.h"

/* Encodes pixels (h, w, channels) through the model's pipeline. */
static medsam_status encode_pixels(const medsam_model *m, const void *pixels, int w, int h, int channels, int bit_depth,
                                   int nthreads, medsam_embedding **emb, medsam_error *err) {
    const size_t S = (size_t)m->cfg.img_size;
    float *x = malloc(S * S * 3 * sizeof(float)); // (S, S, 3)
    if (!x) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate the encoder input");
    medsam_status st = medsam_model_preprocess(m, pixels, w, h, channels, bit_depth, nthreads, x, err);
    if (!st) st = medsam_encode(m, x, nthreads, emb, err);
    free(x);
    return st;
}

medsam_status medsam_segment_pixels(const medsam_model *m, const void *pixels, int W, int H, int C, int bit_depth,
                                    const medsam_box *boxes, int n, int nthreads, uint8_t *mask, int *encodes,
                                    medsam_error *err) {
    if (encodes) *encodes = 0;
    if (!m || !pixels || !boxes || !mask) return ms_error(err, MEDSAM_ERR_ARG, "missing argument");
    if (W <= 0 || H <= 0) return ms_error(err, MEDSAM_ERR_ARG, "image size %dx%d is invalid", W, H);
    if (bit_depth != 8 && bit_depth != 16 && bit_depth != 32)
        return ms_error(err, MEDSAM_ERR_ARG, "bit depth %d: 8, 16 or 32 expected", bit_depth);
    if (n < 1 || n > 255) return ms_error(err, MEDSAM_ERR_ARG, "%d boxes: 1 to 255 expected", n);
    medsam_status st = ms_check_boxes(boxes, n, W, H, err); /* before anything is encoded */
    if (st) return st;
    int nzoom = 0;
    ms_zoom_window *win = malloc((size_t)n * sizeof *win); // (n)
    if (!win) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const float b[4] = {boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1};
        nzoom += ms_box_zoom_window(b, W, H, m->box_zoom, &win[i]);
    }
    medsam_embedding *whole = NULL;
    if (nzoom == 0) { /* the plain pipeline, one call for all boxes (the exact official results) */
        free(win);
        st = encode_pixels(m, pixels, W, H, C, bit_depth, nthreads, &whole, err);
        if (!st && encodes) *encodes = 1;
        if (!st) st = medsam_decode_boxes(m, whole, W, H, boxes, n, nthreads, NULL, NULL, mask, err);
        medsam_embedding_free(whole);
        return st;
    }
    const size_t bps = (size_t)bit_depth / 8;
    uint8_t *one = malloc((size_t)W * H); // (H, W) the mask of one box (windows are smaller)
    void *crop = malloc((size_t)W * H * C * bps);
    if (!one || !crop) st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    if (!st) memset(mask, 0, (size_t)W * H);
    for (int i = 0; i < n && !st; i++) {
        const ms_zoom_window *w = &win[i];
        const int zoom = w->w < W || w->h < H;
        medsam_embedding *emb = NULL;
        if (zoom) {
            ms_zoom_crop(pixels, W, C, (int)bps, w, crop);
            st = encode_pixels(m, crop, w->w, w->h, C, bit_depth, nthreads, &emb, err);
            if (!st && encodes) ++*encodes;
        } else if (!whole) {
            st = encode_pixels(m, pixels, W, H, C, bit_depth, nthreads, &whole, err);
            if (!st && encodes) ++*encodes;
        }
        const medsam_box b = {boxes[i].x0 - w->x0, boxes[i].y0 - w->y0, boxes[i].x1 - w->x0, boxes[i].y1 - w->y0};
        if (!st) st = medsam_decode_boxes(m, zoom ? emb : whole, w->w, w->h, &b, 1, nthreads, NULL, NULL, one, err);
        if (!st)
            for (int y = 0; y < w->h; y++)
                for (int x = 0; x < w->w; x++)
                    if (one[(size_t)y * w->w + x]) mask[(size_t)(w->y0 + y) * W + w->x0 + x] = (uint8_t)(i + 1);
        medsam_embedding_free(emb);
    }
    medsam_embedding_free(whole);
    free(one);
    free(crop);
    free(win);
    return st;
}
