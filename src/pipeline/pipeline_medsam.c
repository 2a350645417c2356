/* pipeline_medsam.c — MedSAM_Inference.py's pipeline as a pipeline table
 * (preprocess.c, postprocess.c and segment3d.c hold the arithmetic). */
#include "pipeline/pipeline.h"

#include "pipeline/postprocess.h"
#include "pipeline/preprocess.h"
#include "pipeline/segment3d.h"

static medsam_status medsam_check(const ms_config *c, medsam_error *err) {
    (void)c, (void)err;
    return MEDSAM_OK;
}

static void medsam_geometry(const ms_config *c, int w, int h, ms_pipe_geom *g) {
    *g = (ms_pipe_geom){w, h, c->img_size, c->img_size, c->img_size};
}

// ref: MedSAM_Inference.py:114-130 (3 channels, skimage resize to S x S, uint8, min-max)
static medsam_status medsam_preprocess(const ms_config *c, const ms_image *img, int nthreads, float *out_hwc,
                                       medsam_error *err) {
    ms_preprocess_opts opts = {.target = c->img_size, .threads = nthreads};
    return ms_preprocess_medsam(out_hwc, NULL, img, &opts, err);
}

// ref: MedSAM_Inference.py:main: box_1024 = box_np / np.array([W, H, W, H]) * 1024 (float64), then torch.float
static void medsam_box_in(const ms_pipe_geom *g, const medsam_box *b, float out[4]) {
    out[0] = (float)((double)b->x0 / g->w * g->size);
    out[1] = (float)((double)b->y0 / g->h * g->size);
    out[2] = (float)((double)b->x1 / g->w * g->size);
    out[3] = (float)((double)b->y1 / g->h * g->size);
}

static void medsam_point(const ms_pipe_geom *g, float x, float y, float out[2]) {
    out[0] = (float)((double)x / g->w * g->size);
    out[1] = (float)((double)y / g->h * g->size);
}

// ref: MedSAM_Inference.py:medsam_inference (sigmoid, F.interpolate to (H, W), > 0.5)
static void medsam_label_rows(const ms_pipe_geom *g, const float *logits, int L, int y0, int y1, uint8_t label,
                              uint8_t *labels) {
    ms_postprocess_label_rows(logits, L, L, g->h, g->w, y0, y1, label, labels);
}

static void medsam_prob(const ms_pipe_geom *g, const float *logits, int L, float *prob) {
    ms_postprocess_prob(logits, L, L, g->h, g->w, prob);
}

// 3-D: the mask's bounding box at full resolution grown by the margin (segment3d.h)
static int medsam_box3d_next(const ms_pipe_geom *g, const uint8_t *mask, int label, double margin, float out[4]) {
    (void)label;
    medsam_box b;
    if (!ms_seg3d_mask_box(mask, g->w, g->h, margin > 0 ? margin : ms_seg3d_default_margin(g->w, g->h), &b)) return 0;
    medsam_box_in(g, &b, out);
    return 1;
}

const ms_pipeline_ops ms_pipeline_medsam = {
    .kind = MEDSAM_PIPELINE_MEDSAM,
    .name = "medsam",
    .check = medsam_check,
    .geometry = medsam_geometry,
    .preprocess = medsam_preprocess,
    .box_to_input = medsam_box_in,
    .point_to_input = medsam_point,
    .label_rows = medsam_label_rows,
    .prob = medsam_prob,
    .box3d_first = medsam_box_in,
    .box3d_next = medsam_box3d_next,
};
