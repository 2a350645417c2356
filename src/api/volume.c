/* volume.c — public 3-D entry points: read a volume, normalise its
 * intensities, segment 3-D boxes by slice propagation, write label volumes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "core/budget.h"
#include "core/error.h"
#include "io/nifti.h"
#include "io/volume_read.h"
#include "medsam.h"
#include "pipeline/intensity.h"
#include "pipeline/segment3d.h"

struct medsam_volume {
    ms_volume v;
    ms_volume_meta meta;
};

medsam_status medsam_volume_read(const char *path, medsam_volume **out, medsam_error *err) {
    return medsam_volume_read_budget(path, NULL, out, err);
}

medsam_status medsam_volume_read_budget(const char *path, const medsam_budget *budget, medsam_volume **out,
                                        medsam_error *err) {
    *out = NULL;
    medsam_volume *vol = calloc(1, sizeof *vol);
    if (!vol) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate a volume");
    medsam_status st = ms_volume_read_any_budget(path, ms_budget_resolve(budget), &vol->v, &vol->meta, err);
    if (!st && vol->v.nchan != 1)
        st = ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s: %s volume: only single-channel volumes can be segmented", path,
                      ms_voxel_type_name(vol->v.datatype));
    else if (!st && vol->v.nt != 1)
        st = ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s: 4-D volume with %d volumes: extract one 3-D volume first",
                      path, vol->v.nt);
    if (st) {
        ms_volume_free(&vol->v);
        free(vol);
        return st;
    }
    *out = vol;
    return MEDSAM_OK;
}

void medsam_volume_free(medsam_volume *vol) {
    if (!vol) return;
    ms_volume_free(&vol->v);
    free(vol);
}

const void *medsam_volume_samples(const medsam_volume *vol, double *slope, double *inter) {
    const ms_volume *v = &vol->v;
    const int scaled = ms_volume_has_scaling(v);
    if (slope) *slope = scaled ? v->scl_slope : 1.0;
    if (inter) *inter = scaled ? v->scl_inter : 0.0;
    return v->data;
}

void medsam_volume_get_info(const medsam_volume *vol, medsam_volume_info *info) {
    memset(info, 0, sizeof *info);
    const ms_volume *v = &vol->v;
    info->nx = v->nx, info->ny = v->ny, info->nz = v->nz;
    for (int i = 0; i < 3; i++) info->spacing[i] = v->pixdim[1 + i];
    memcpy(info->affine, v->affine, sizeof info->affine);
    info->format = vol->meta.format == MS_VOLFMT_DICOM ? "dicom" : vol->meta.format == MS_VOLFMT_NPZ ? "npz" : "nifti";
    info->dtype = ms_voxel_type_name(v->datatype);
    info->scaled = ms_volume_has_scaling(v);
    memcpy(info->modality, vol->meta.modality, sizeof info->modality);
    info->has_window = vol->meta.has_window;
    info->window_center = vol->meta.window_center;
    info->window_width = vol->meta.window_width;
}

medsam_status medsam_intensity_parse(const char *spec, medsam_intensity *out, medsam_error *err) {
    memset(out, 0, sizeof *out);
    if (!strcmp(spec, "dicom")) {
        out->mode = MEDSAM_INTENSITY_DICOM_WINDOW;
        return MEDSAM_OK;
    }
    out->mode = MEDSAM_INTENSITY_WINDOW;
    return ms_window_parse(spec, &out->level, &out->width, err);
}

medsam_status medsam_volume_normalize(const medsam_volume *vol, const medsam_intensity *how, uint8_t *out,
                                      medsam_intensity_applied *applied, medsam_error *err) {
    const ms_volume *v = &vol->v;
    if (!v->data) return ms_error(err, MEDSAM_ERR_ARG, "the volume's voxels were released (medsam_volume_release_voxels)");
    medsam_intensity h = {MEDSAM_INTENSITY_AUTO, 0, 0};
    if (how) h = *how;
    const int plain_u8 = v->datatype == MS_VOX_UINT8 && !ms_volume_has_scaling(v);
    if (h.mode == MEDSAM_INTENSITY_AUTO) {
        if (vol->meta.format == MS_VOLFMT_DICOM && !strcmp(vol->meta.modality, "CT"))
            h = (medsam_intensity){MEDSAM_INTENSITY_WINDOW, 40, 400}; /* soft tissue, pre_CT_MR.py's default */
        else if (plain_u8) h.mode = MEDSAM_INTENSITY_AS_IS;
        else h.mode = MEDSAM_INTENSITY_PERCENTILE;
    }
    if (h.mode == MEDSAM_INTENSITY_DICOM_WINDOW) {
        if (vol->meta.format != MS_VOLFMT_DICOM || !vol->meta.has_window)
            return ms_error(err, MEDSAM_ERR_ARG, "--window dicom: the volume has no DICOM WindowCenter/WindowWidth");
        h = (medsam_intensity){MEDSAM_INTENSITY_WINDOW, vol->meta.window_center, vol->meta.window_width};
    }
    medsam_intensity_applied a = {h.mode, 0, 0};
    medsam_status st = MEDSAM_OK;
    ms_samples s;
    if (h.mode == MEDSAM_INTENSITY_AS_IS) {
        if (!plain_u8)
            return ms_error(err, MEDSAM_ERR_ARG, "a %s%s volume cannot be used as it is: choose a window or percentiles",
                            ms_volume_has_scaling(v) ? "scaled " : "", ms_voxel_type_name(v->datatype));
        memcpy(out, v->data, (size_t)ms_volume_voxels(v));
    } else if ((st = ms_samples_of_volume(&s, v, err))) {
        return st;
    } else if (h.mode == MEDSAM_INTENSITY_WINDOW) {
        st = ms_intensity_window(&s, h.level, h.width, out, err);
        a.lo = h.level - h.width / 2, a.hi = h.level + h.width / 2;
    } else if (h.mode == MEDSAM_INTENSITY_PERCENTILE) {
        st = ms_intensity_percentile(&s, out, &a.lo, &a.hi, err);
    } else {
        st = ms_error(err, MEDSAM_ERR_ARG, "unknown intensity mode %d", (int)h.mode);
    }
    if (!st && applied) *applied = a;
    return st;
}

/* ---- the model as the propagation's encoder / decoder ------------------- */

typedef struct {
    const medsam_model *m;
    const uint8_t *vol; // (nz, ny, nx)
    int nx, ny, nthreads;
    double margin;      // medsam_volume_opts.margin as given (<= 0: the pipeline's default)
    ms_pipe_geom g;     // every slice's geometry in the model's pipeline
    float *input;       // (size, size, 3) encoder input of the current slice
    ms_encode_scratch scratch; // the encoder's memory, reused slice after slice
} model_backend;

// the pipeline's preprocessing of slice z (grey, 1 channel), then the encoder
static medsam_status be_encode(void *ctx, int z, void **emb, medsam_error *err) {
    model_backend *b = ctx;
    const uint8_t *slice = b->vol + (size_t)z * b->nx * b->ny;
    medsam_status st = medsam_model_preprocess(b->m, slice, b->nx, b->ny, 1, 8, b->nthreads, b->input, err);
    if (st) return st;
    return ms_encode_with(b->m, b->input, b->nthreads, &b->scratch, (medsam_embedding **)emb, err);
}

static void be_release(void *ctx, void *emb) { medsam_embedding_free(emb); }

/* One box per call, so that a box's mask never depends on which other boxes
 * share the slice (several boxes in one decoder call take a re-associated path).
 * box: in the model's frame (be_first_box / be_next_box). */
static medsam_status be_decode(void *ctx, const void *emb, int z, const medsam_box *box, uint8_t *mask,
                               medsam_error *err) {
    (void)z;
    model_backend *b = ctx;
    const float in[4] = {box->x0, box->y0, box->x1, box->y1};
    // the encoder's workspace is idle while a slice decodes: the decoder's scratch lives there
    return ms_decode_input_boxes_in(b->m, emb, &b->g, in, 1, b->nthreads, NULL, NULL, mask, b->scratch.work,
                                    b->scratch.work_floats, err);
}

// the pipeline's 3-D box rule (pipeline.h: box3d_first / box3d_next)
static void be_first_box(void *ctx, int i, const medsam_box3d *b3, medsam_box *out) {
    (void)i;
    model_backend *b = ctx;
    const medsam_box own = {b3->x0, b3->y0, b3->x1, b3->y1};
    float v[4];
    b->m->pipe->box3d_first(&b->g, &own, v);
    *out = (medsam_box){v[0], v[1], v[2], v[3]};
}

static int be_next_box(void *ctx, int i, const uint8_t *mask, medsam_box *out) {
    model_backend *b = ctx;
    float v[4];
    if (!b->m->pipe->box3d_next(&b->g, mask, i + 1, b->margin, v)) return 0;
    *out = (medsam_box){v[0], v[1], v[2], v[3]};
    return 1;
}

static medsam_status backend_init(model_backend *b, const medsam_model *m, const uint8_t *vol, int nx, int ny,
                                  int nthreads, double margin, medsam_error *err) {
    *b = (model_backend){m, vol, nx, ny, nthreads < 1 ? 1 : nthreads, margin, {0}, NULL, {NULL, NULL, 0}};
    m->pipe->geometry(&m->cfg, nx, ny, &b->g);
    b->input = malloc((size_t)m->cfg.img_size * m->cfg.img_size * 3 * sizeof(float));
    if (!b->input) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate the encoder input");
    medsam_status st = ms_encode_scratch_init(m, &b->scratch, err);
    if (st) free(b->input), b->input = NULL;
    return st;
}

static void backend_free(model_backend *b) {
    free(b->input);
    ms_encode_scratch_free(&b->scratch);
}

medsam_status medsam_segment_volume(const medsam_model *m, const uint8_t *vol, int nx, int ny, int nz,
                                    const medsam_box3d *boxes, int n, medsam_volume_opts *opts, void *labels,
                                    int label_bytes, medsam_error *err) {
    medsam_volume_opts o = {0};
    if (opts) o = *opts;
    model_backend b;
    medsam_status st = backend_init(&b, m, vol, nx, ny, o.nthreads, o.margin, err);
    if (st) return st;
    medsam_model_info info;
    medsam_model_get_info(m, &info);
    const long long emb_bytes = (long long)info.emb_channels * info.emb_size * info.emb_size * (long long)sizeof(float);
    const long long cap = o.cache_bytes == 0 ? (1LL << 30) : o.cache_bytes < 0 ? 0 : o.cache_bytes;
    ms_seg3d_opts so = {.margin = o.margin,
                        .max_cached = (int)(cap / emb_bytes > nz ? nz : cap / emb_bytes),
                        .progress = o.progress,
                        .progress_user = o.progress_user};
    ms_seg3d_backend be = {be_encode, be_release, be_decode, &b, be_first_box, be_next_box};
    ms_seg3d_stats stats;
    st = ms_segment3d(&be, nx, ny, nz, boxes, n, &so, labels, label_bytes, &stats, err);
    backend_free(&b);
    if (opts) opts->slices_encoded = stats.encodes, opts->boxes_decoded = stats.decodes;
    return st;
}

medsam_status medsam_segment_slice(const medsam_model *m, const uint8_t *vol, int nx, int ny, int nz, int z,
                                   const medsam_box *boxes, int n, int nthreads, uint8_t *mask, medsam_error *err) {
    if (z < 0 || z >= nz) return ms_error(err, MEDSAM_ERR_ARG, "slice %d is outside the volume (0..%d)", z, nz - 1);
    if (n < 1 || n > 255) return ms_error(err, MEDSAM_ERR_ARG, "%d boxes: need 1..255", n);
    for (int i = 0; i < n; i++) {
        const medsam_box *q = &boxes[i];
        if (!isfinite(q->x0) || !isfinite(q->y0) || !isfinite(q->x1) || !isfinite(q->y1) || !(q->x1 > q->x0) ||
            !(q->y1 > q->y0) || q->x0 < 0 || q->y0 < 0 || q->x1 > nx || q->y1 > ny)
            return ms_error(err, MEDSAM_ERR_ARG, "box %d (%g,%g,%g,%g): needs 0 <= x0 < x1 <= %d, 0 <= y0 < y1 <= %d",
                            i + 1, q->x0, q->y0, q->x1, q->y1, nx, ny);
    }
    model_backend b;
    medsam_status st = backend_init(&b, m, vol, nx, ny, nthreads, 0, err);
    void *emb = NULL;
    uint8_t *one = malloc((size_t)nx * ny);
    if (!st && !one) st = ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate a slice mask");
    if (!st) st = be_encode(&b, z, &emb, err);
    if (!st) memset(mask, 0, (size_t)nx * ny);
    for (int i = 0; i < n && !st; i++) {
        medsam_box in;
        be_first_box(&b, i, &(medsam_box3d){boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1, z, z}, &in);
        st = be_decode(&b, emb, z, &in, one, err);
        for (size_t p = 0; !st && p < (size_t)nx * ny; p++)
            if (one[p]) mask[p] = (uint8_t)(i + 1);
    }
    medsam_embedding_free(emb);
    free(one);
    backend_free(&b);
    return st;
}

medsam_status medsam_volume_write_labels(const char *path, const medsam_volume *ref, const void *labels,
                                         int label_bytes, medsam_error *err) {
    if (label_bytes != 1 && label_bytes != 2) return ms_error(err, MEDSAM_ERR_ARG, "labels must be 1 or 2 bytes");
    ms_volume out;
    medsam_status st = ms_volume_create_like(&out, &ref->v, label_bytes == 1 ? MS_VOX_UINT8 : MS_VOX_UINT16, 1, err);
    if (st) return st;
    free(out.data);  // written from the caller's labels, not from a copy of them
    out.data = (void *)(uintptr_t)labels;
    st = ms_nifti_write(path, &out, err);
    out.data = NULL;
    ms_volume_free(&out);
    return st;
}

medsam_status medsam_volume_slice_values(const medsam_volume *vol, int z, float *out, medsam_error *err) {
    const ms_volume *v = &vol->v;
    if (z < 0 || z >= v->nz) return ms_error(err, MEDSAM_ERR_ARG, "slice %d is outside the volume (0..%d)", z, v->nz - 1);
    if (!v->data) return ms_error(err, MEDSAM_ERR_ARG, "the volume's voxels were released");
    ms_samples s;
    medsam_status st = ms_samples_of_volume(&s, v, err);
    if (st) return st;
    const int64_t plane = (int64_t)v->nx * v->ny, base = plane * z;
    for (int64_t i = 0; i < plane; i++) out[i] = (float)ms_samples_get(&s, base + i);
    return MEDSAM_OK;
}

void medsam_volume_release_voxels(medsam_volume *vol) {
    if (!vol) return;
    free(vol->v.data);
    vol->v.data = NULL;
}
