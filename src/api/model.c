/* model.c — medsam_model: load a checkpoint (.pth, pytorch_model.bin, .safetensors; official or
 * transformers layout, see weights/tensor_source.h) through the parameter table. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "core/big_alloc.h"
#include "core/error.h"
#include "core/finite.h"
#include "model/image_encoder.h"
#include "model/prompt_encoder.h"
#include "model/hf_config.h"
#include "pipeline/zoom.h"
#include "weights/tensor_source.h"

static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape) {
    int n = snprintf(buf, len, "(");
    for (int i = 0; i < ndim && n < (int)len; i++) n += snprintf(buf + n, len - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (n < (int)len) snprintf(buf + n, len - n, ")");
}

/* Reads tensor i of the table into its place and checks its values. */
static medsam_status load_one(medsam_model *m, ms_tensor_source *f, int i, medsam_error *err) {
    const ms_param *p = &m->table.items[i];
    // its pages mapped in one call (on this thread, beside the other threads' tensors), not one fault each
    ms_prefault(m->params + p->offset, (size_t)p->numel * sizeof(float));
    medsam_status st = ms_source_read_f32(f, ms_source_find(f, p->name), m->params + p->offset, err);
    if (st) return st;
    long k = ms_first_nonfinite(m->params + p->offset, p->numel);
    if (k >= 0) return ms_error(err, MEDSAM_ERR_NUMERIC, "tensor '%s' holds a non-finite value at index %ld", p->name, k);
    return MEDSAM_OK;
}

/* Checks name and shape of every parameter of the table, then reads them all
 * (tensors spread over OpenMP threads; ms_source_read_f32 is thread-safe). On errors
 * the one of the first tensor in table order is reported, whatever the threads. */
static medsam_status load_params(medsam_model *m, ms_tensor_source *f, medsam_error *err) {
    for (int i = 0; i < m->table.count; i++) {
        const ms_param *p = &m->table.items[i];
        const ms_source_tensor *t = ms_source_find(f, p->name);
        if (!t) return ms_error(err, MEDSAM_ERR_SHAPE, "missing tensor '%s'", p->name);
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        if (!same) {
            char want[64], got[64];
            shape_text(want, sizeof want, p->ndim, p->shape);
            shape_text(got, sizeof got, t->ndim, t->shape);
            return ms_error(err, MEDSAM_ERR_SHAPE, "tensor '%s': expected shape %s, got %s", t->file_name, want, got);
        }
    }
    const int n = m->table.count;
    int first_bad = n;
    medsam_status first_st = MEDSAM_OK;
    medsam_error first_err = {0};
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        medsam_error e = {0};
        medsam_status st = load_one(m, f, i, &e);
        if (st) {
#pragma omp critical(ms_load_params)
            if (i < first_bad) first_bad = i, first_st = st, first_err = e;
        }
    }
    if (first_st) {
        if (err) *err = first_err;
        return first_st;
    }
    m->extra_tensors = ms_source_count(f) - m->table.count;
    return MEDSAM_OK;
}

/* The box zoom the file asks for: safetensors metadata "medsam.box_zoom" = a number in (0, 100], or absent. */
static medsam_status read_box_zoom(medsam_model *m, const ms_tensor_source *f, medsam_error *err) {
    const char *v = ms_source_metadata(f, MS_BOX_ZOOM_METADATA);
    if (!v) return MEDSAM_OK;
    char *end = NULL;
    double k = strtod(v, &end);
    if (end == v || *end || !(k > 0 && k <= 100))
        return ms_error(err, MEDSAM_ERR_FORMAT, "metadata %s is \"%.40s\": a number in (0, 100] expected",
                        MS_BOX_ZOOM_METADATA, v);
    m->box_zoom = k;
    return MEDSAM_OK;
}

medsam_status medsam_model_load(const char *path, medsam_model **out, medsam_error *err) {
    *out = NULL;
    ms_tensor_source *f = NULL;
    medsam_status st = ms_source_open(path, &f, err);
    if (st) return st; /* ms_source_open names the file */
    medsam_model *m = calloc(1, sizeof *m);
    if (!m) {
        ms_source_close(f);
        return ms_error(err, MEDSAM_ERR_NOMEM, "%s: cannot allocate the model", path);
    }
    st = ms_config_infer(ms_source_shape, f, &m->cfg, err);
    if (!st && ms_source_layout(f) == MS_LAYOUT_HF) st = ms_hf_config_apply(ms_source_path(f), &m->cfg, err);
    if (!st && ms_param_table_build(&m->cfg, &m->table) != 0) st = ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate");
    if (!st) {
        size_t bytes = (m->table.total * sizeof(float) + 63) / 64 * 64;
        m->params = aligned_alloc(64, bytes); /* not ms_big_alloc: measured slower, see core/big_alloc.h */
        if (!m->params) st = ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %zu bytes of parameters", bytes);
    }
    if (!st) st = load_params(m, f, err);
    if (!st) st = read_box_zoom(m, f, err);
    ms_source_close(f);
    if (!st) {
        ms_weights_bind(&m->cfg, m->params, &m->w);
        m->enc_ops = ms_encoder_ops_of(m->cfg.encoder);
        st = m->enc_ops->prepare(&m->cfg, m->params, &m->w, &m->enc_state, err);  // e.g. TinyViT folds BatchNorm
    }
    if (!st) {
        const ms_config *c = &m->cfg;
        size_t plane = (size_t)c->prompt_dim * c->grid * c->grid;
        m->dense_pe = malloc(plane * sizeof(float));
        m->no_mask = malloc(plane * sizeof(float));
        if (!m->dense_pe || !m->no_mask) {
            st = ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate");
        } else {
            ms_prefault(m->dense_pe, plane * sizeof(float)), ms_prefault(m->no_mask, plane * sizeof(float));
            ms_prompt_dense_pe(c, &m->w.pe, m->dense_pe);
            ms_prompt_dense_embed(c, &m->w.pe, NULL, m->no_mask, NULL, 1);
        }
    }
    if (!st) st = medsam_model_set_pipeline(m, MEDSAM_PIPELINE_AUTO, err);
    if (st) {
        if (!strstr(err ? err->message : "", path)) ms_error_prefix(err, path);
        medsam_model_free(m);
        return st;
    }
    *out = m;
    return MEDSAM_OK;
}

medsam_status medsam_model_keep_decoder_input(medsam_model *m, int nthreads, medsam_error *err) {
    if (!m) return ms_error(err, MEDSAM_ERR_ARG, "no model");
    if (nthreads < 1) nthreads = 1;
    if (m->dec_static_buf) return MEDSAM_OK;
    float *buf = malloc(ms_mask_decoder_static_floats(&m->cfg) * sizeof(float));
    if (!buf) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate the decoder's packed weights");
    ms_prefault(buf, ms_mask_decoder_static_floats(&m->cfg) * sizeof(float));
    ms_mask_decoder_prepare_static(&m->cfg, &m->w.dec, m->dense_pe, buf, &m->dec_static, nthreads);
    m->dec_static_buf = buf;
    return MEDSAM_OK;
}

void medsam_model_free(medsam_model *m) {
    if (!m) return;
    if (m->enc_ops) m->enc_ops->release(m->enc_state);
    ms_vit_bf16_free(m->bf16);
    free(m->params);
    free(m->dense_pe);
    free(m->no_mask);
    free(m->dec_static_buf);
    ms_param_table_free(&m->table);
    free(m);
}

medsam_status medsam_model_set_pipeline(medsam_model *m, medsam_pipeline p, medsam_error *err) {
    if (p == MEDSAM_PIPELINE_AUTO) p = ms_pipeline_default(&m->cfg);
    const ms_pipeline_ops *ops = ms_pipeline_get(p);
    if (!ops) return ms_error(err, MEDSAM_ERR_ARG, "unknown pipeline %d", (int)p);
    medsam_status st = ops->check(&m->cfg, err);
    if (st) return st;
    m->pipe = ops;
    return MEDSAM_OK;
}

medsam_pipeline medsam_model_get_pipeline(const medsam_model *m) { return m->pipe->kind; }

double medsam_model_get_box_zoom(const medsam_model *m) { return m->box_zoom; }

medsam_status medsam_model_set_box_zoom(medsam_model *m, double factor, medsam_error *err) {
    if (!(factor >= 0 && factor <= 100)) return ms_error(err, MEDSAM_ERR_ARG, "box zoom %g: 0 (off) to 100 expected", factor);
    m->box_zoom = factor;
    return MEDSAM_OK;
}

void medsam_model_get_info(const medsam_model *m, medsam_model_info *info) {
    const ms_config *c = &m->cfg;
    memset(info, 0, sizeof *info);
    m->enc_ops->info(c, info);  // img_size, embed_dim, depth, num_heads, window_size, patch_size
    info->encoder = m->enc_ops->name;
    info->family = m->enc_ops->family;
    info->emb_channels = c->out_chans;
    info->emb_size = c->grid;
    info->mask_size = 4 * c->grid;
    info->num_params = (long long)m->table.total;
}

void medsam_model_describe(const medsam_model *m, char *buf, int len) {
    char cfg[1024];
    ms_config_describe(&m->cfg, cfg, sizeof cfg);
    snprintf(buf, len, "%s\nparameters: %zu in %d tensors%s", cfg, m->table.total, m->table.count,
             m->extra_tensors > 0 ? " (plus ignored extra tensors)" : "");
}
