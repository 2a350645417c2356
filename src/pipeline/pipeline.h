/* pipeline.h — the pipeline seam: one ops table per pipeline kind (medsam,
 * sam, lite) saying how pixels become the encoder input, how prompts map to
 * the model's input frame, how low-resolution logits become a mask of the
 * original size, and the 3-D protocol's per-slice box rule.
 *
 * A model carries one table, chosen once (medsam_model_set_pipeline, default
 * from the encoder kind); src/api/segment.c, src/api/volume.c and the CLI call
 * through it. Adding a pipeline = one new pipeline_<name>.c defining its table
 * and one line in ms_pipeline_get.
 *
 *   pipeline_medsam.c  MedSAM_Inference.py (skimage resize to S x S, box / [W,H,W,H] * S,
 *                      sigmoid -> bilinear -> > 0.5); 3-D: full-resolution mask box + margin
 *   pipeline_sam.c     segment_anything SamPredictor (Pillow bilinear to the longest side, mean/std, pad,
 *                      coords * new/old, logits -> img_size -> crop -> image size, > 0); 3-D: as medsam
 *   pipeline_lite.c    CVPR24_LiteMedSAM_infer.py (INTER_AREA longest side, pad, int boxes,
 *                      crop -> bilinear -> sigmoid -> > 0.5); 3-D: get_bbox256 on the resized mask */
#ifndef MS_PIPELINE_H
#define MS_PIPELINE_H
#include <stdint.h>

#include "io/image.h"
#include "medsam.h"
#include "model/config.h"

/* Where a w x h image sits in the model's S x S input. */
typedef struct {
    int w, h;         /* original image: w columns, h rows */
    int size;         /* model input side S (cfg.img_size) */
    int new_w, new_h; /* the image's extent in the input after the resize (S x S for medsam) */
} ms_pipe_geom;

typedef struct ms_pipeline_ops ms_pipeline_ops;
struct ms_pipeline_ops {
    medsam_pipeline kind;
    const char *name; /* "medsam", "sam", "lite" */
    /* Can this pipeline run a model of configuration c? One line naming the pipeline when not. */
    medsam_status (*check)(const ms_config *c, medsam_error *err);
    /* Geometry of a w x h image for this model. */
    void (*geometry)(const ms_config *c, int w, int h, ms_pipe_geom *g);
    /* img (any of ms_image's kinds) -> out_hwc (S, S, 3), the encoder input. */
    medsam_status (*preprocess)(const ms_config *c, const ms_image *img, int nthreads, float *out_hwc,
                                medsam_error *err);
    /* Box in original pixel coordinates -> model frame, out = (x0, y0, x1, y1). */
    void (*box_to_input)(const ms_pipe_geom *g, const medsam_box *b, float out[4]);
    /* Point in original pixel coordinates -> model frame, out = (x, y). */
    void (*point_to_input)(const ms_pipe_geom *g, float x, float y, float out[2]);
    /* labels (g->h, g->w), rows [y0, y1) only: raised to `label` where the mask
     * of one box's low-resolution logits (L, L) is on; other pixels untouched. */
    void (*label_rows)(const ms_pipe_geom *g, const float *logits, int L, int y0, int y1, uint8_t label,
                       uint8_t *labels);
    /* The same for one of nmasks masks decoded together (multimask output), for pipelines
     * whose postprocessing depends on the batch (sam: torch picks another bilinear kernel
     * for 3 masks); NULL: label_rows. */
    void (*label_rows_of)(const ms_pipe_geom *g, const float *logits, int L, int nmasks, int y0, int y1,
                          uint8_t label, uint8_t *labels);
    /* prob (g->h, g->w): the probability the mask thresholds (for checks and dumps). */
    void (*prob)(const ms_pipe_geom *g, const float *logits, int L, float *prob);
    /* 3-D: a chain's box on its middle slice, and its fallback, in the model frame. */
    void (*box3d_first)(const ms_pipe_geom *g, const medsam_box *b, float out[4]);
    /* 3-D: the next slice's box in the model frame from the previous slice's mask
     * (g->h, g->w) (non-zero = inside) of the box with label `label` (1-based);
     * margin as medsam_volume_opts gives it (<= 0: the pipeline's default).
     * Returns 0 when the mask gives no box (the caller then uses box3d_first). */
    int (*box3d_next)(const ms_pipe_geom *g, const uint8_t *mask, int label, double margin, float out[4]);
};

/* The table of a kind (MEDSAM / SAM / LITE); NULL for AUTO or an unknown value. */
const ms_pipeline_ops *ms_pipeline_get(medsam_pipeline kind);

/* The model's own pipeline: ViT encoder -> medsam, TinyViT -> lite. */
medsam_pipeline ms_pipeline_default(const ms_config *c);

/* The tables, one per file. */
extern const ms_pipeline_ops ms_pipeline_medsam;
extern const ms_pipeline_ops ms_pipeline_sam;
extern const ms_pipeline_ops ms_pipeline_lite;

#endif
