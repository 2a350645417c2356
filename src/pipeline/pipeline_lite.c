/* pipeline_lite.c — LiteMedSAM's pipeline, CVPR24_LiteMedSAM_infer.py step for step
 * (bowang-lab/MedSAM branch LiteMedSAM), for any model whose low-resolution mask has
 * the input's side (S = img_size = 4 * grid: 256 for LiteMedSAM).
 *
 *   preprocess  img_3c (grey repeated to 3 channels, alpha dropped; 8-bit only; a float
 *               (S, S, 3) array in [0, 1] is taken as already preprocessed)
 *               -> resize_longest_side(img_3c, S): cv2.resize INTER_AREA to
 *                  (int(W * s + 0.5), int(H * s + 0.5)), s = S / max(H, W)   (lines 91-102)
 *               -> (x - min) / clip(max - min, 1e-8, None) in float64, AFTER the resize
 *               -> zero pad bottom / right to S x S (pad_image), float32     (lines 384-390)
 *   boxes       resize_box_to_256: int(v * (S / max(H, W))), truncation      (lines 261-283)
 *   masks       crop the logits to (newh, neww), bilinear to (H, W), sigmoid, > 0.5
 *               (postprocess_lite.h; lines 156-184, 315-318)
 *   3-D         middle slice with the 2-D box; each next slice's box: the previous
 *               slice's mask holding the box index (uint8), resize_longest_side (INTER_AREA),
 *               pad, get_bbox256: inclusive min / max of the pixels > 0, -3 / +3, clamped to
 *               [0, S] (the padded frame); an empty resized mask -> the middle box again
 *               (lines 229-259, 467-476, 505-511). */
#include "pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/postprocess_lite.h"
#include "pipeline/resize_area.h"

static medsam_status lite_check(const ms_config *c, medsam_error *err) {
    if (c->img_size != 4 * c->grid)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                        "pipeline 'lite' needs a model whose mask size equals its input size (LiteMedSAM: 256), this "
                        "model takes %d with %d masks: use --pipeline medsam",
                        c->img_size, 4 * c->grid);
    return MEDSAM_OK;
}

static void lite_geometry(const ms_config *c, int w, int h, ms_pipe_geom *g) {
    *g = (ms_pipe_geom){w, h, c->img_size, 0, 0};
    ms_resize_longest_side_size(w, h, c->img_size, &g->new_w, &g->new_h);
}

// ref: CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_2D lines 384-390 (and the 3-D loop's 453-463)
static medsam_status lite_preprocess(const ms_config *c, const ms_image *img, int nthreads, float *out_hwc,
                                     medsam_error *err) {
    const int S = c->img_size;
    if (img->bit_depth == 32) { // a float (S, S, 3) array in [0, 1]: already preprocessed (as the medsam pipeline)
        if (img->width != S || img->height != S || img->channels != 3)
            return ms_error(err, MEDSAM_ERR_SHAPE,
                            "a float image is taken as preprocessed and must be (%d, %d, 3), got (%d, %d, %d)", S, S,
                            img->height, img->width, img->channels);
        for (size_t i = 0; i < (size_t)S * S * 3; i++)
            if (!(img->f32[i] >= 0.0f && img->f32[i] <= 1.0f))
                return ms_error(err, MEDSAM_ERR_NUMERIC,
                                "a preprocessed float image must hold values in [0, 1]; element %zu is %g", i,
                                (double)img->f32[i]);
        memcpy(out_hwc, img->f32, (size_t)S * S * 3 * sizeof(float));
        return MEDSAM_OK;
    }
    if (img->bit_depth != 8)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                        "pipeline 'lite': 16-bit images are not supported (CVPR24_LiteMedSAM_infer.py takes uint8)");
    ms_pipe_geom g;
    lite_geometry(c, img->width, img->height, &g);
    if (g.new_w < 1 || g.new_h < 1)
        return ms_error(err, MEDSAM_ERR_ARG, "pipeline 'lite': a %dx%d image resizes to %dx%d (OpenCV refuses it)",
                        img->width, img->height, g.new_w, g.new_h);
    const int ch = img->channels, colour = ch >= 3, cn = colour ? 3 : 1;
    const size_t n = (size_t)img->width * img->height;
    // grey (+alpha) stays one channel: the repeated channels resize alike (resize_area.c is per channel);
    // an alpha channel is dropped into a copy, RGB and grey are resized where they are
    uint8_t *copy = ch != cn ? malloc(n * cn) : NULL, *res = malloc((size_t)g.new_w * g.new_h * cn);
    const uint8_t *src = ch != cn ? copy : img->u8;
    medsam_status st = (!src || !res) ? ms_error(err, MEDSAM_ERR_NOMEM, "pipeline 'lite': cannot allocate") : MEDSAM_OK;
    if (!st) {
        if (copy)
            for (size_t i = 0; i < n; i++)
                for (int k = 0; k < cn; k++) copy[i * cn + k] = img->u8[i * ch + k];
        // ref: resize_longest_side: cv2.resize(image, (neww, newh), interpolation=cv2.INTER_AREA)
        st = ms_resize_area_u8(src, img->width, img->height, cn, res, g.new_w, g.new_h, nthreads, err);
    }
    if (!st) {
        // ref: (img_256 - img_256.min()) / np.clip(img_256.max() - img_256.min(), a_min=1e-8, a_max=None)
        const size_t m = (size_t)g.new_w * g.new_h * cn;
        uint8_t lo = 255, hi = 0;
        for (size_t i = 0; i < m; i++) {
            lo = res[i] < lo ? res[i] : lo;
            hi = res[i] > hi ? res[i] : hi;
        }
        const double span = hi > lo ? (double)(hi - lo) : 1e-8;
        // ref: pad_image (zeros bottom / right), torch.tensor(...).float()
        memset(out_hwc, 0, (size_t)S * S * 3 * sizeof(float));
        for (int y = 0; y < g.new_h; y++)
            for (int x = 0; x < g.new_w; x++)
                for (int k = 0; k < 3; k++) {
                    const uint8_t v = res[((size_t)y * g.new_w + x) * cn + (cn == 3 ? k : 0)];
                    out_hwc[((size_t)y * S + x) * 3 + k] = (float)((double)(uint8_t)(v - lo) / span);
                }
    }
    free(copy);
    free(res);
    return st;
}

// ref: CVPR24_LiteMedSAM_infer.py:resize_box_to_256: new_box[i] = int(box[i] * (256 / max(original_size)))
static void lite_box(const ms_pipe_geom *g, const medsam_box *b, float out[4]) {
    const double ratio = (double)g->size / (g->w > g->h ? g->w : g->h);
    const float v[4] = {b->x0, b->y0, b->x1, b->y1};
    for (int i = 0; i < 4; i++) out[i] = (float)(long long)((double)v[i] * ratio);
}

/* Points (not in LiteMedSAM's script): the same scale, without the truncation. */
static void lite_point(const ms_pipe_geom *g, float x, float y, float out[2]) {
    const double ratio = (double)g->size / (g->w > g->h ? g->w : g->h);
    out[0] = (float)(x * ratio);
    out[1] = (float)(y * ratio);
}

static void lite_label_rows(const ms_pipe_geom *g, const float *logits, int L, int y0, int y1, uint8_t label,
                            uint8_t *labels) {
    ms_lite_label_rows(logits, L, g->new_h, g->new_w, g->h, g->w, y0, y1, label, labels);
}

static void lite_prob(const ms_pipe_geom *g, const float *logits, int L, float *prob) {
    ms_lite_prob(logits, L, g->new_h, g->new_w, g->h, g->w, prob);
}

/* get_bbox256 on the padded S x S frame: x / y extent of the pixels > 0 of m (nh, nw)
 * (the zero padding adds none), grown by `shift` and clamped to [0, S]. 0 when empty. */
static int bbox_padded(const uint8_t *m, int nw, int nh, int S, double shift, float out[4]) {
    int x0 = nw, x1 = -1, y0 = nh, y1 = -1;
    for (int y = 0; y < nh; y++)
        for (int x = 0; x < nw; x++)
            if (m[(size_t)y * nw + x]) {
                x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0, y1 = y;
            }
    if (x1 < 0) return 0;
    // ref: get_bbox256: max(0, x_min - bbox_shift), min(W, x_max + bbox_shift) with W = H = 256 (padded)
    const double a = x0 - shift, b = y0 - shift, c = x1 + shift, d = y1 + shift;
    out[0] = (float)(a > 0 ? a : 0);
    out[1] = (float)(b > 0 ? b : 0);
    out[2] = (float)(c < S ? c : S);
    out[3] = (float)(d < S ? d : S);
    return 1;
}

// ref: CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_3D lines 470-476 / 505-511
static int lite_box3d_next(const ms_pipe_geom *g, const uint8_t *mask, int label, double margin, float out[4]) {
    const size_t n = (size_t)g->w * g->h;
    uint8_t *pre = malloc(n), *small = malloc((size_t)g->new_w * g->new_h);
    int found = 0;
    if (pre && small) {
        // segs_3d_temp is uint8: the box index as a byte (numpy wraps 256 to 0)
        const uint8_t v = (uint8_t)label;
        for (size_t p = 0; p < n; p++) pre[p] = mask[p] ? v : 0;
        // pre_seg256 = resize_longest_side(pre_seg); if np.max(pre_seg256) > 0: get_bbox256(pad_image(...))
        if (!ms_resize_area_u8(pre, g->w, g->h, 1, small, g->new_w, g->new_h, 1, NULL))
            found = bbox_padded(small, g->new_w, g->new_h, g->size, margin > 0 ? margin : 3.0, out);
    }
    free(pre);
    free(small);
    return found; // (out of memory: the middle box, as an empty mask would give)
}

const ms_pipeline_ops ms_pipeline_lite = {
    .kind = MEDSAM_PIPELINE_LITE,
    .name = "lite",
    .check = lite_check,
    .geometry = lite_geometry,
    .preprocess = lite_preprocess,
    .box_to_input = lite_box,
    .point_to_input = lite_point,
    .label_rows = lite_label_rows,
    .prob = lite_prob,
    .box3d_first = lite_box,
    .box3d_next = lite_box3d_next,
};
