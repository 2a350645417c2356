/* prompt.c — medsam_decode_prompt: points, a box and a mask input in one prompt
 * set, one or three masks, through the model's pipeline (SamPredictor.predict). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "core/error.h"
#include "model/mask_decoder.h"
#include "model/prompt_encoder.h"

/* One line naming what is wrong with the prompt, or MEDSAM_OK. */
static medsam_status check_prompt(const medsam_prompt *p, int W, int H, int L, medsam_error *err) {
    if (!p) return ms_error(err, MEDSAM_ERR_ARG, "no prompt given");
    if (p->n_points < 0 || p->n_points > MEDSAM_MAX_POINTS)
        return ms_error(err, MEDSAM_ERR_ARG, "%d points: between 0 and %d", p->n_points, MEDSAM_MAX_POINTS);
    if (p->n_points > 0 && (!p->points || !p->labels))
        return ms_error(err, MEDSAM_ERR_ARG, "%d points but no coordinates or labels", p->n_points);
    if (p->n_points == 0 && !p->has_box && !p->mask_input)
        return ms_error(err, MEDSAM_ERR_ARG, "empty prompt: give a point, a box or a mask input");
    for (int i = 0; i < p->n_points; i++) {
        const float x = p->points[2 * i], y = p->points[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) return ms_error(err, MEDSAM_ERR_ARG, "point %d has a non-finite coordinate", i + 1);
        if (x < 0 || y < 0 || x > W || y > H)
            return ms_error(err, MEDSAM_ERR_ARG, "point %d (%g,%g) lies outside the %dx%d image", i + 1, x, y, W, H);
        if (p->labels[i] != 0 && p->labels[i] != 1)
            return ms_error(err, MEDSAM_ERR_ARG, "point %d has label %d: 1 (foreground) or 0 (background)", i + 1,
                            p->labels[i]);
    }
    if (p->has_box) {
        const medsam_box *b = &p->box;
        if (!isfinite(b->x0) || !isfinite(b->y0) || !isfinite(b->x1) || !isfinite(b->y1))
            return ms_error(err, MEDSAM_ERR_ARG, "the box has a non-finite coordinate");
        if (!(b->x1 > b->x0) || !(b->y1 > b->y0))
            return ms_error(err, MEDSAM_ERR_ARG, "box (%g,%g,%g,%g): needs x0 < x1 and y0 < y1", b->x0, b->y0, b->x1,
                            b->y1);
        if (b->x0 < 0 || b->y0 < 0 || b->x1 > W || b->y1 > H)
            return ms_error(err, MEDSAM_ERR_ARG, "box (%g,%g,%g,%g) lies outside the %dx%d image", b->x0, b->y0, b->x1,
                            b->y1, W, H);
    }
    if (p->mask_input)
        for (long i = 0; i < (long)L * L; i++)
            if (!isfinite(p->mask_input[i]))
                return ms_error(err, MEDSAM_ERR_NUMERIC, "mask input holds a non-finite value at index %ld", i);
    return MEDSAM_OK;
}

// ref: predictor.py:SamPredictor.predict -> predict_torch (prompt encoder, mask decoder, postprocess)
medsam_status medsam_decode_prompt(const medsam_model *m, const medsam_embedding *emb, int W, int H,
                                   const medsam_prompt *p, int multimask, int nthreads, float *logits, float *iou,
                                   uint8_t *mask, medsam_error *err) {
    const ms_config *c = &m->cfg;
    if (nthreads < 1) nthreads = 1;
    if (W <= 0 || H <= 0) return ms_error(err, MEDSAM_ERR_ARG, "image size %dx%d is invalid", W, H);
    const int D = c->prompt_dim, G = c->grid, L = 4 * G;
    medsam_status st = check_prompt(p, W, H, L, err);
    if (st) return st;
    const int nm = multimask ? c->num_mask_tokens - 1 : 1, Np = p->n_points;
    const int Ns = ms_prompt_num_sparse(Np, p->has_box);
    ms_pipe_geom g;
    m->pipe->geometry(c, W, H, &g);
    float pts[2 * MEDSAM_MAX_POINTS], box[4]; // in the model's frame
    int labels[MEDSAM_MAX_POINTS];
    for (int i = 0; i < Np; i++) {
        m->pipe->point_to_input(&g, p->points[2 * i], p->points[2 * i + 1], pts + 2 * i);
        labels[i] = p->labels[i];
    }
    if (p->has_box) m->pipe->box_to_input(&g, &p->box, box);

    const size_t plane = (size_t)L * L;
    const size_t n_sparse = (size_t)(Ns > 0 ? Ns : 1) * D, n_dense = p->mask_input ? (size_t)D * G * G : 0;
    const size_t n_scratch = p->mask_input ? ms_prompt_dense_scratch_floats(c) : 0;
    const size_t n_work = ms_mask_decoder_workspace_floats(c, Ns, nthreads);
    const size_t n_low = (size_t)nm * plane;
    float *block = malloc((n_sparse + n_dense + n_scratch + n_work + n_low + (size_t)nm) * sizeof(float));
    if (!block) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate decoder memory");
    float *sparse = block;              // (Ns, D)
    float *dense = sparse + n_sparse;   // (D, G, G) when a mask is given
    float *scratch = dense + n_dense;   // ms_prompt_dense_scratch_floats
    float *work = scratch + n_scratch;  // ms_mask_decoder_workspace_floats
    float *low = work + n_work;         // (nm, L, L)
    float *iou_all = low + n_low;       // (nm)
    int got = 0;
    // ref: prompt_encoder.py:PromptEncoder.forward (points padded when there is no box)
    ms_prompt_encode(c, &m->w.pe, Np ? pts : NULL, Np ? labels : NULL, Np, p->has_box ? box : NULL, sparse, &got);
    if (p->mask_input) ms_prompt_dense_embed(c, &m->w.pe, p->mask_input, dense, scratch, nthreads);
    st = ms_mask_decoder_forward(c, &m->w.dec, emb->data, m->dense_pe, sparse, got, p->mask_input ? dense : m->no_mask,
                                 multimask != 0, low, iou_all, work, nthreads, NULL, NULL, err);
    if (!st) {
        if (logits) memcpy(logits, low, n_low * sizeof(float));
        if (iou) memcpy(iou, iou_all, (size_t)nm * sizeof(float));
    }
    if (!st && mask) {
        int best = 0;
        for (int k = 1; k < nm; k++)
            if (iou_all[k] > iou_all[best]) best = k;
        memset(mask, 0, (size_t)W * H);
        const float *lb = low + (size_t)best * plane;
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int t = 0; t < nthreads; t++) {
            const int y0 = (int)((long)H * t / nthreads), y1 = (int)((long)H * (t + 1) / nthreads);
            if (m->pipe->label_rows_of) m->pipe->label_rows_of(&g, lb, L, nm, y0, y1, 1, mask);
            else m->pipe->label_rows(&g, lb, L, y0, y1, 1, mask);
        }
    }
    free(block);
    return st;
}
