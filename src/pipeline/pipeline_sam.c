/* pipeline_sam.c — segment_anything's SamPredictor pipeline as a pipeline table
 * (sam_predictor.c and resize_pil.c hold the arithmetic):
 *   ResizeLongestSide to img_size with Pillow's bilinear resize, (x - pixel_mean) /
 *   pixel_std, zero pad; points and boxes * (new / old); logits upscaled to img_size,
 *   cropped to the resized extent, resized to the image, > 0.
 * The 3-D protocol (not part of SamPredictor) uses medsam's box rule: the previous
 * slice's mask box at full resolution grown by the margin, mapped like any box. */
#include "pipeline/pipeline.h"

#include "pipeline/sam_predictor.h"
#include "pipeline/segment3d.h"

static medsam_status sam_check(const ms_config *c, medsam_error *err) {
    (void)c, (void)err;
    return MEDSAM_OK;
}

// ref: transforms.py:ResizeLongestSide.get_preprocess_shape
static void sam_geometry(const ms_config *c, int w, int h, ms_pipe_geom *g) {
    *g = (ms_pipe_geom){w, h, c->img_size, 0, 0};
    ms_sam_preprocess_shape(h, w, c->img_size, &g->new_h, &g->new_w);
}

// ref: predictor.py:SamPredictor.set_image + sam.py:Sam.preprocess
static medsam_status sam_preprocess(const ms_config *c, const ms_image *img, int nthreads, float *out_hwc,
                                    medsam_error *err) {
    return ms_sam_preprocess(img, c->img_size, nthreads, out_hwc, NULL, err);
}

// ref: transforms.py:ResizeLongestSide.apply_boxes (apply_coords on both corners)
static void sam_box(const ms_pipe_geom *g, const medsam_box *b, float out[4]) {
    ms_sam_apply_coords(g->w, g->h, g->size, b->x0, b->y0, out);
    ms_sam_apply_coords(g->w, g->h, g->size, b->x1, b->y1, out + 2);
}

// ref: transforms.py:ResizeLongestSide.apply_coords
static void sam_point(const ms_pipe_geom *g, float x, float y, float out[2]) {
    ms_sam_apply_coords(g->w, g->h, g->size, x, y, out);
}

// ref: sam.py:Sam.postprocess_masks + predictor.py:predict_torch (masks > 0.0), one of nmasks masks
static void sam_label_rows_of(const ms_pipe_geom *g, const float *logits, int L, int nmasks, int y0, int y1,
                              uint8_t label, uint8_t *labels) {
    ms_sam_postprocess_rows(logits, L, g->size, g->new_h, g->new_w, g->h, g->w,
                            ms_sam_postprocess_kernels(nmasks, g->size, g->new_w), y0, y1, NULL, label, labels);
}

static void sam_label_rows(const ms_pipe_geom *g, const float *logits, int L, int y0, int y1, uint8_t label,
                           uint8_t *labels) {
    sam_label_rows_of(g, logits, L, 1, y0, y1, label, labels);
}

/* The upscaled logits that postprocess_masks thresholds at 0 (SAM has no sigmoid). */
static void sam_prob(const ms_pipe_geom *g, const float *logits, int L, float *prob) {
    ms_sam_postprocess_rows(logits, L, g->size, g->new_h, g->new_w, g->h, g->w,
                            ms_sam_postprocess_kernels(1, g->size, g->new_w), 0, g->h, prob, 0, NULL);
}

static int sam_box3d_next(const ms_pipe_geom *g, const uint8_t *mask, int label, double margin, float out[4]) {
    (void)label;
    medsam_box b;
    if (!ms_seg3d_mask_box(mask, g->w, g->h, margin > 0 ? margin : ms_seg3d_default_margin(g->w, g->h), &b)) return 0;
    sam_box(g, &b, out);
    return 1;
}

const ms_pipeline_ops ms_pipeline_sam = {
    .kind = MEDSAM_PIPELINE_SAM,
    .name = "sam",
    .check = sam_check,
    .geometry = sam_geometry,
    .preprocess = sam_preprocess,
    .box_to_input = sam_box,
    .point_to_input = sam_point,
    .label_rows = sam_label_rows,
    .label_rows_of = sam_label_rows_of,
    .prob = sam_prob,
    .box3d_first = sam_box,
    .box3d_next = sam_box3d_next,
};
