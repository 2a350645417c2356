/* pipeline_sam.c — segment_anything's SamPredictor pipeline.
 *
 * NOT SUPPORTED YET: this entry refuses every model (check) so that
 * `--pipeline sam` / medsam_model_set_pipeline(MEDSAM_PIPELINE_SAM) fail with one
 * line before anything runs. To be filled in: ResizeLongestSide to img_size,
 * (x - pixel_mean) / pixel_std, zero pad, coordinates * new/old, logits
 * upscaled to img_size, cropped, resized, > 0 (segment_anything/predictor.py). */
#include "pipeline/pipeline.h"

#include "core/error.h"

static medsam_status sam_check(const ms_config *c, medsam_error *err) {
    (void)c;
    return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "pipeline 'sam' (SamPredictor): not supported yet");
}

static void sam_geometry(const ms_config *c, int w, int h, ms_pipe_geom *g) {
    *g = (ms_pipe_geom){w, h, c->img_size, c->img_size, c->img_size};
}

static medsam_status sam_preprocess(const ms_config *c, const ms_image *img, int nthreads, float *out_hwc,
                                    medsam_error *err) {
    (void)img, (void)nthreads, (void)out_hwc;
    return sam_check(c, err);
}

static void sam_box(const ms_pipe_geom *g, const medsam_box *b, float out[4]) {
    (void)g;
    out[0] = b->x0, out[1] = b->y0, out[2] = b->x1, out[3] = b->y1;
}

static void sam_point(const ms_pipe_geom *g, float x, float y, float out[2]) {
    (void)g;
    out[0] = x, out[1] = y;
}

static void sam_label_rows(const ms_pipe_geom *g, const float *logits, int L, int y0, int y1, uint8_t label,
                           uint8_t *labels) {
    (void)g, (void)logits, (void)L, (void)y0, (void)y1, (void)label, (void)labels;
}

static void sam_prob(const ms_pipe_geom *g, const float *logits, int L, float *prob) {
    (void)logits, (void)L;
    for (long p = 0; p < (long)g->w * g->h; p++) prob[p] = 0.0f;
}

static int sam_box3d_next(const ms_pipe_geom *g, const uint8_t *mask, int label, double margin, float out[4]) {
    (void)g, (void)mask, (void)label, (void)margin, (void)out;
    return 0;
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
    .prob = sam_prob,
    .box3d_first = sam_box,
    .box3d_next = sam_box3d_next,
};
