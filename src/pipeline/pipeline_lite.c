/* pipeline_lite.c — LiteMedSAM's CVPR24_LiteMedSAM_infer.py pipeline (work in progress). */
#include "pipeline/pipeline.h"

#include "core/error.h"

static medsam_status lite_check(const ms_config *c, medsam_error *err) {
    (void)c;
    return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "pipeline 'lite' (LiteMedSAM): not supported yet");
}

static void lite_geometry(const ms_config *c, int w, int h, ms_pipe_geom *g) {
    *g = (ms_pipe_geom){w, h, c->img_size, c->img_size, c->img_size};
}

static medsam_status lite_preprocess(const ms_config *c, const ms_image *img, int nthreads, float *out_hwc,
                                     medsam_error *err) {
    (void)img, (void)nthreads, (void)out_hwc;
    return lite_check(c, err);
}

static void lite_box(const ms_pipe_geom *g, const medsam_box *b, float out[4]) {
    (void)g;
    out[0] = b->x0, out[1] = b->y0, out[2] = b->x1, out[3] = b->y1;
}

static void lite_point(const ms_pipe_geom *g, float x, float y, float out[2]) {
    (void)g;
    out[0] = x, out[1] = y;
}

static void lite_label_rows(const ms_pipe_geom *g, const float *logits, int L, int y0, int y1, uint8_t label,
                            uint8_t *labels) {
    (void)g, (void)logits, (void)L, (void)y0, (void)y1, (void)label, (void)labels;
}

static void lite_prob(const ms_pipe_geom *g, const float *logits, int L, float *prob) {
    (void)logits, (void)L;
    for (long p = 0; p < (long)g->w * g->h; p++) prob[p] = 0.0f;
}

static int lite_box3d_next(const ms_pipe_geom *g, const uint8_t *mask, int label, double margin, float out[4]) {
    (void)g, (void)mask, (void)label, (void)margin, (void)out;
    return 0;
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
