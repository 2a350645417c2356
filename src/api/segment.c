/* segment.c — encode an image, decode box prompts through the model's pipeline (pipeline/pipeline.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "api/model_internal.h"
#include "core/big_alloc.h"
#include "core/error.h"
#include "core/finite.h"
#include "model/image_encoder.h"
#include "model/mask_decoder.h"
#include "model/prompt_encoder.h"

static medsam_status embedding_alloc(const medsam_model *m, medsam_embedding **out, medsam_error *err) {
    medsam_embedding *e = calloc(1, sizeof *e);
    if (!e) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate an embedding");
    e->channels = m->cfg.out_chans;
    e->size = m->cfg.grid;
    const size_t bytes = (size_t)e->channels * e->size * e->size * sizeof(float);
    e->data = malloc(bytes);
    if (!e->data) {
        free(e);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate an embedding");
    }
    ms_prefault(e->data, bytes);  // written whole by the encoder
    *out = e;
    return MEDSAM_OK;
}

medsam_status ms_encode_scratch_init(const medsam_model *m, ms_encode_scratch *s, medsam_error *err) {
    const size_t plane = (size_t)m->cfg.img_size * m->cfg.img_size;
    s->chw = ms_big_alloc(plane * 3 * sizeof(float));
    s->work_floats = m->enc_ops->workspace_floats(&m->cfg);
    s->work = ms_big_alloc(s->work_floats * sizeof(float));
    if (s->chw && s->work) return MEDSAM_OK;
    ms_encode_scratch_free(s);
    return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate encoder memory");
}

void ms_encode_scratch_free(ms_encode_scratch *s) {
    free(s->chw);
    free(s->work);
    s->chw = s->work = NULL;
}

// ref: MedSAM_Inference.py: image_embedding = medsam_model.image_encoder(img_1024_tensor)
medsam_status ms_encode_with(const medsam_model *m, const float *input_hwc, int nthreads, ms_encode_scratch *scratch,
                             medsam_embedding **out, medsam_error *err) {
    *out = NULL;
    const ms_config *c = &m->cfg;
    const long S = c->img_size, plane = S * S;
    if (nthreads < 1) nthreads = 1;
    long bad = plane * 3;  // first non-finite index, found by rows of 3S values on nthreads threads
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(min : bad) if (nthreads > 1)
    for (long r = 0; r < S; r++) {
        const long k = ms_first_nonfinite(input_hwc + r * 3 * S, (size_t)(3 * S));
        if (k >= 0 && r * 3 * S + k < bad) bad = r * 3 * S + k;
    }
    if (bad < plane * 3)
        return ms_error(err, MEDSAM_ERR_NUMERIC, "encoder input holds a non-finite value at index %ld", bad);
    ms_encode_scratch own = {NULL, NULL, 0};
    ms_encode_scratch *sc = scratch ? scratch : &own;
    medsam_status st = scratch ? MEDSAM_OK : ms_encode_scratch_init(m, &own, err);
    medsam_embedding *e = NULL;
    if (!st) st = embedding_alloc(m, &e, err);
    if (!st) {
        float *chw = sc->chw;  // (3, S, S)
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
        for (long y = 0; y < S; y++)
            for (long p = y * S; p < (y + 1) * S; p++)
                for (int ch = 0; ch < 3; ch++) chw[ch * plane + p] = input_hwc[p * 3 + ch];
        st = m->bf16 ? ms_image_encoder_forward_bf16(c, &m->w.enc, m->bf16, chw, e->data, sc->work, nthreads, NULL,
                                                     NULL, err)
                     : m->enc_ops->encode(c, m->enc_state, chw, e->data, sc->work, nthreads, NULL, NULL, err);
    }
    if (!scratch) ms_encode_scratch_free(&own);
    if (st) {
        medsam_embedding_free(e);
        return st;
    }
    *out = e;
    return MEDSAM_OK;
}

medsam_status medsam_encode(const medsam_model *m, const float *input_hwc, int nthreads, medsam_embedding **out,
                            medsam_error *err) {
    return ms_encode_with(m, input_hwc, nthreads, NULL, out, err);
}

medsam_status medsam_embedding_from_data(const medsam_model *m, const float *data, long count, medsam_embedding **out,
                                         medsam_error *err) {
    *out = NULL;
    long want = (long)m->cfg.out_chans * m->cfg.grid * m->cfg.grid;
    if (count != want)
        return ms_error(err, MEDSAM_ERR_SHAPE, "embedding has %ld values, the model expects (%d,%d,%d) = %ld", count,
                        m->cfg.out_chans, m->cfg.grid, m->cfg.grid, want);
    const long bad = ms_first_nonfinite(data, (size_t)count);
    if (bad >= 0) return ms_error(err, MEDSAM_ERR_NUMERIC, "embedding holds a non-finite value at index %ld", bad);
    medsam_embedding *e;
    medsam_status st = embedding_alloc(m, &e, err);
    if (st) return st;
    memcpy(e->data, data, (size_t)count * sizeof(float));
    *out = e;
    return MEDSAM_OK;
}

const float *medsam_embedding_data(const medsam_embedding *e, long *count) {
    if (count) *count = (long)e->channels * e->size * e->size;
    return e->data;
}

void medsam_embedding_free(medsam_embedding *e) {
    if (!e) return;
    free(e->data);
    free(e);
}

/* mask (H, W) = label of the last box whose postprocessed mask covers the pixel,
 * 0 where none does, i.e. the largest such label. With fewer boxes than threads,
 * boxes go in order, each split into row bands over the threads; otherwise boxes
 * are postprocessed on nthreads threads, thread t raising the labels of its own
 * plane (thread 0: mask), and the planes are merged by max. The postprocessing
 * per box is the pipeline's (medsam: MedSAM_Inference.py:medsam_inference,
 * sigmoid, resize, > 0.5). low: (n, L, L) logits; extra: (nt - 1, H, W) scratch. */
static void decode_labels(const ms_pipeline_ops *pipe, const ms_pipe_geom *g, const float *low, int L, int n,
                          int nthreads, uint8_t *extra, uint8_t *mask) {
    const int W = g->w, H = g->h;
    const size_t npix = (size_t)W * H;
    const int nt = nthreads < n ? nthreads : n;
    memset(mask, 0, npix);
    if (nt < nthreads) {  // fewer boxes than threads: each box by row bands, boxes in order
        for (int i = 0; i < n; i++) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
            for (int t = 0; t < nthreads; t++)
                pipe->label_rows(g, low + (size_t)i * L * L, L, (int)((long)H * t / nthreads),
                                 (int)((long)H * (t + 1) / nthreads), (uint8_t)(i + 1), mask);
        }
        return;
    }
    if (nt > 1) memset(extra, 0, npix * (size_t)(nt - 1));
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
    for (int i = 0; i < n; i++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        uint8_t *lab = t ? extra + npix * (size_t)(t - 1) : mask;  // (H, W)
        pipe->label_rows(g, low + (size_t)i * L * L, L, 0, H, (uint8_t)(i + 1), lab);
    }
    for (int t = 1; t < nt; t++) {
        const uint8_t *lab = extra + npix * (size_t)(t - 1);
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && npix > 65536)
        for (long p = 0; p < (long)npix; p++)
            if (lab[p] > mask[p]) mask[p] = lab[p];
    }
}

/* Floats rounded up to whole 64-byte lines. */
static size_t lines16(size_t floats) { return (floats + 15) & ~(size_t)15; }

// ref: MedSAM_Inference.py:medsam_inference (through the model's pipeline)
medsam_status medsam_decode_boxes(const medsam_model *m, const medsam_embedding *emb, int W, int H,
                                  const medsam_box *boxes, int n, int nthreads, float *logits, float *iou,
                                  uint8_t *mask, medsam_error *err) {
    if (W <= 0 || H <= 0) return ms_error(err, MEDSAM_ERR_ARG, "image size %dx%d is invalid", W, H);
    if (n < 1) return ms_error(err, MEDSAM_ERR_ARG, "no box given");
    if (n > 255 && mask) return ms_error(err, MEDSAM_ERR_ARG, "%d boxes: a uint8 label mask holds at most 255", n);
    medsam_status st = ms_check_boxes(boxes, n, W, H, err);
    if (st) return st;
    ms_pipe_geom g;
    m->pipe->geometry(&m->cfg, W, H, &g);
    float *in = malloc((size_t)n * 4 * sizeof(float)); // (n, 4) boxes in the model's frame
    if (!in) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %d boxes", n);
    for (int i = 0; i < n; i++) m->pipe->box_to_input(&g, &boxes[i], in + 4 * i);
    st = ms_decode_input_boxes(m, emb, &g, in, n, nthreads, logits, iou, mask, err);
    free(in);
    return st;
}

medsam_status ms_check_boxes(const medsam_box *boxes, int n, int W, int H, medsam_error *err) {
    for (int i = 0; i < n; i++) {
        const medsam_box *b = &boxes[i];
        if (!isfinite(b->x0) || !isfinite(b->y0) || !isfinite(b->x1) || !isfinite(b->y1))
            return ms_error(err, MEDSAM_ERR_ARG, "box %d has a non-finite coordinate", i + 1);
        if (!(b->x1 > b->x0) || !(b->y1 > b->y0))
            return ms_error(err, MEDSAM_ERR_ARG, "box %d (%g,%g,%g,%g): needs x0 < x1 and y0 < y1", i + 1, b->x0, b->y0,
                            b->x1, b->y1);
        if (b->x0 < 0 || b->y0 < 0 || b->x1 > W || b->y1 > H)
            return ms_error(err, MEDSAM_ERR_ARG, "box %d (%g,%g,%g,%g) lies outside the %dx%d image", i + 1, b->x0, b->y0,
                            b->x1, b->y1, W, H);
    }
    return MEDSAM_OK;
}

medsam_status ms_decode_input_boxes(const medsam_model *m, const medsam_embedding *emb, const ms_pipe_geom *g,
                                    const float *in, int n, int nthreads, float *logits, float *iou, uint8_t *mask,
                                    medsam_error *err) {
    return ms_decode_input_boxes_in(m, emb, g, in, n, nthreads, logits, iou, mask, NULL, 0, err);
}

medsam_status ms_decode_input_boxes_in(const medsam_model *m, const medsam_embedding *emb, const ms_pipe_geom *g,
                                       const float *in, int n, int nthreads, float *logits, float *iou, uint8_t *mask,
                                       float *mem, size_t mem_floats, medsam_error *err) {
    const ms_config *c = &m->cfg;
    if (nthreads < 1) nthreads = 1;
    const int W = g->w, H = g->h;
    const int D = c->prompt_dim, G = c->grid, L = 4 * G;
    const long plane = (long)L * L;
    const int Ns = ms_prompt_num_sparse(0, 1); /* box corners: 2 tokens */
    const int precompute = n >= 2;             /* layer-0 image projections shared by all boxes */
    /* Scratch in one block, or two when one would pass 32 MB (glibc's largest mmap
     * threshold): a block of the same size as one freed before comes back from the
     * heap instead of a fresh mapping that faults in 4 KB at a time (5,000 faults,
     * several ms, per one-box call otherwise). The block is a big_alloc one (2 MB
     * aligned, advised for huge pages): the first call in a process maps it in
     * 2 MB pages (29 MB on a Zen 3 VM: 3.5 ms instead of 12-16 ms). */
    const int nt_labels = n >= nthreads ? nthreads : 1; /* label planes decode_labels uses */
    const size_t npix = (size_t)W * H;
    const int kept = m->dec_static_buf != NULL; /* the per-model part computed once (medsam_model_keep_decoder_input) */
    /* one prompt, no kept input: the decoder's weights are read once either way, so they stay unpacked
     * (no 12 MB of packed copies to map and write for ViT-B's or LiteMedSAM's decoder; the same bits) */
    const int unpacked = !kept && n == 1;
    const size_t n_img = lines16(kept       ? ms_mask_decoder_image_floats_shared(c, precompute)
                                 : unpacked ? ms_mask_decoder_image_floats_unpacked(c, precompute)
                                            : ms_mask_decoder_image_floats(c, precompute));
    const size_t n_sparse = lines16((size_t)n * Ns * D), n_iou = lines16((size_t)n);
    const size_t n_work = lines16(ms_mask_decoder_batch_workspace_floats(c, Ns, n, nthreads));
    const size_t n_low = logits ? 0 : lines16((size_t)n * plane);
    const size_t n_labels = mask ? lines16((npix * (size_t)(nt_labels - 1) + 3) / 4) : 0;
    const size_t n_rest = n_sparse + n_iou + n_work + n_low + n_labels;
    const int lent = mem && mem_floats >= n_img + n_rest;  // the caller's idle memory (e.g. the encoder's workspace)
    const int split = !lent && (n_img + n_rest) * sizeof(float) > ((size_t)32 << 20);
    float *block = lent ? mem : ms_big_alloc((split ? n_rest : n_img + n_rest) * sizeof(float));
    float *img_buf = split ? malloc(n_img * sizeof(float)) : block + n_rest;  // n_img
    if (block && !lent) ms_prefault_threads(block, (split ? n_rest : n_img + n_rest) * sizeof(float), nthreads);  // all written below
    if (split && img_buf) ms_prefault_threads(img_buf, n_img * sizeof(float), nthreads);
    float *sparse = block;                              // (n, Ns, D)
    float *iou_all = sparse + n_sparse;                 // (n)
    float *work = iou_all + n_iou;                      // ms_mask_decoder_batch_workspace_floats
    float *low = logits ? logits : work + n_work;       // (n, L, L)
    uint8_t *extra = (uint8_t *)(work + n_work + n_low); // (nt - 1, H, W)
    medsam_status st = MEDSAM_OK;
    if (!block || !img_buf) st = ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate decoder memory");
    for (int i = 0; i < n && !st; i++) {
        int got = 0;
        ms_prompt_encode(c, &m->w.pe, NULL, NULL, 0, in + 4 * i, sparse + (size_t)i * Ns * D, &got);
    }
    if (!st) {
        ms_dec_image img;
        if (kept)
            ms_mask_decoder_prepare_shared(c, &m->w.dec, &m->dec_static, emb->data, m->no_mask, precompute, img_buf,
                                           &img, nthreads);
        else if (unpacked)
            ms_mask_decoder_prepare_unpacked(c, &m->w.dec, emb->data, m->dense_pe, m->no_mask, precompute, img_buf, &img,
                                             nthreads);
        else
            ms_mask_decoder_prepare(c, &m->w.dec, emb->data, m->dense_pe, m->no_mask, precompute, img_buf, &img, nthreads);
        st = ms_mask_decoder_run_batch(c, &m->w.dec, &img, sparse, Ns, n, 0, low, iou_all, work, nthreads, err);
    }
    if (!st && iou) memcpy(iou, iou_all, (size_t)n * sizeof(float));
    if (!st && mask) decode_labels(m->pipe, g, low, L, n, nthreads, extra, mask);
    if (split) free(img_buf);
    if (!lent) free(block);
    return st;
}
