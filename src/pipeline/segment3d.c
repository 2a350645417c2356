/* segment3d.c — slice propagation for 3-D boxes with shared slice embeddings. */
#include "pipeline/segment3d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

double ms_seg3d_default_margin(int nx, int ny) { return 3.0 * (nx > ny ? nx : ny) / 256.0; }

// ref: CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_3D: z_middle = int((z_max - z_min)/2 + z_min)
int ms_seg3d_mid_slice(const medsam_box3d *b) { return b->z0 + (b->z1 - b->z0) / 2; }

// ref: CVPR24_LiteMedSAM_infer.py:get_bbox256 (at full resolution, margin instead of bbox_shift=3)
int ms_seg3d_mask_box(const uint8_t *mask, int nx, int ny, double margin, medsam_box *out) {
    int xmin = nx, xmax = -1, ymin = ny, ymax = -1;
    for (int y = 0; y < ny; y++) {
        const uint8_t *row = mask + (size_t)y * nx;
        int first = -1, last = -1;
        for (int x = 0; x < nx; x++)
            if (row[x]) {
                if (first < 0) first = x;
                last = x;
            }
        if (first < 0) continue;
        if (y < ymin) ymin = y;
        ymax = y;
        if (first < xmin) xmin = first;
        if (last > xmax) xmax = last;
    }
    if (xmax < 0) return 0;
    double x0 = xmin - margin, y0 = ymin - margin, x1 = xmax + margin, y1 = ymax + margin;
    out->x0 = (float)(x0 < 0 ? 0 : x0);
    out->y0 = (float)(y0 < 0 ? 0 : y0);
    out->x1 = (float)(x1 > nx ? nx : x1);
    out->y1 = (float)(y1 > ny ? ny : y1);
    return 1;
}

medsam_status ms_seg3d_check_boxes(const medsam_box3d *boxes, int n, int nx, int ny, int nz, medsam_error *err) {
    if (n < 1) return ms_error(err, MEDSAM_ERR_ARG, "no box given");
    for (int i = 0; i < n; i++) {
        const medsam_box3d *b = &boxes[i];
        if (!isfinite(b->x0) || !isfinite(b->y0) || !isfinite(b->x1) || !isfinite(b->y1))
            return ms_error(err, MEDSAM_ERR_ARG, "box %d has a non-finite coordinate", i + 1);
        if (!(b->x1 > b->x0) || !(b->y1 > b->y0) || b->z1 < b->z0)
            return ms_error(err, MEDSAM_ERR_ARG, "box %d (%g,%g,%d,%g,%g,%d): needs x0 < x1, y0 < y1 and z0 <= z1",
                            i + 1, b->x0, b->y0, b->z0, b->x1, b->y1, b->z1);
        if (b->x0 < 0 || b->y0 < 0 || b->z0 < 0 || b->x1 > nx || b->y1 > ny || b->z1 > nz - 1)
            return ms_error(err, MEDSAM_ERR_ARG,
                            "box %d (%g,%g,%d,%g,%g,%d) lies outside the %dx%dx%d volume (x <= %d, y <= %d, z <= %d)",
                            i + 1, b->x0, b->y0, b->z0, b->x1, b->y1, b->z1, nx, ny, nz, nx, ny, nz - 1);
    }
    return MEDSAM_OK;
}

/* Which boxes act on slice z in each sweep. */
static int active_down(const medsam_box3d *b, int z) { return z >= b->z0 && z <= ms_seg3d_mid_slice(b); }
static int active_up(const medsam_box3d *b, int z) { return z > ms_seg3d_mid_slice(b) && z <= b->z1; }

typedef struct {
    medsam_box box; /* box for the next slice of this chain */
    int valid;      /* 0: fall back to the 3-D box's own x / y */
} chain;

typedef struct {
    const ms_seg3d_backend *be;
    int nx, ny;
    const medsam_box3d *boxes;
    int n;
    double margin;
    uint8_t *mask; // (ny, nx)
    void *labels;  // (nz, ny, nx)
    int label_bytes;
    ms_seg3d_stats *st;
} run_ctx;

/* Decodes box i on slice z from `from` (or its own box), merges the mask into
 * the labels and returns the box for the chain's next slice in `next`. */
static medsam_status step(run_ctx *r, const void *emb, int z, int i, const chain *from, chain *next,
                          medsam_error *err) {
    const medsam_box3d *b = &r->boxes[i];
    medsam_box box = from->box;
    if (!from->valid && r->be->first_box) r->be->first_box(r->be->ctx, i, b, &box);
    else if (!from->valid) box = (medsam_box){b->x0, b->y0, b->x1, b->y1};
    medsam_status s = r->be->decode(r->be->ctx, emb, z, &box, r->mask, err);
    if (s) return s;
    r->st->decodes++;
    const size_t plane = (size_t)r->nx * r->ny;
    if (r->label_bytes == 1) {
        uint8_t *lab = (uint8_t *)r->labels + (size_t)z * plane, k = (uint8_t)(i + 1);
        for (size_t p = 0; p < plane; p++)
            if (r->mask[p] && lab[p] < k) lab[p] = k;
    } else {
        uint16_t *lab = (uint16_t *)r->labels + (size_t)z * plane, k = (uint16_t)(i + 1);
        for (size_t p = 0; p < plane; p++)
            if (r->mask[p] && lab[p] < k) lab[p] = k;
    }
    next->valid = r->be->next_box ? r->be->next_box(r->be->ctx, i, r->mask, &next->box)
                                  : ms_seg3d_mask_box(r->mask, r->nx, r->ny, r->margin, &next->box);
    return MEDSAM_OK;
}

static int report(const ms_seg3d_opts *o, int done, int total) {
    return o->progress ? o->progress(o->progress_user, done, total) : 0;
}

medsam_status ms_segment3d(const ms_seg3d_backend *be, int nx, int ny, int nz, const medsam_box3d *boxes, int n,
                           const ms_seg3d_opts *opts, void *labels, int label_bytes, ms_seg3d_stats *stats,
                           medsam_error *err) {
    ms_seg3d_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (nx < 1 || ny < 1 || nz < 1) return ms_error(err, MEDSAM_ERR_ARG, "bad volume size %dx%dx%d", nx, ny, nz);
    if (label_bytes != 1 && label_bytes != 2) return ms_error(err, MEDSAM_ERR_ARG, "labels must be 1 or 2 bytes");
    if (n > (label_bytes == 1 ? 255 : 65535))
        return ms_error(err, MEDSAM_ERR_ARG, "%d boxes do not fit %d-byte labels", n, label_bytes);
    medsam_status s = ms_seg3d_check_boxes(boxes, n, nx, ny, nz, err);
    if (s) return s;
    ms_seg3d_opts o = {0};
    if (opts) o = *opts;
    const double margin = o.margin > 0 ? o.margin : ms_seg3d_default_margin(nx, ny);

    /* Plan: which slices each sweep visits and which ones the cache carries over. */
    uint8_t *need = calloc((size_t)nz, 1); /* bit 1: sweep A, bit 2: sweep B, bit 4: cached */
    void **cache = calloc((size_t)nz, sizeof(void *));
    chain *down = calloc((size_t)n, sizeof(chain)), *up = calloc((size_t)n, sizeof(chain));
    uint8_t *mask = malloc((size_t)nx * ny);
    if (!need || !cache || !down || !up || !mask) {
        free(need), free(cache), free(down), free(up), free(mask);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate the propagation state");
    }
    int zhiA = -1, zloB = nz;
    for (int i = 0; i < n; i++) {
        int mid = ms_seg3d_mid_slice(&boxes[i]);
        for (int z = boxes[i].z0; z <= mid; z++) need[z] |= 1;
        for (int z = mid + 1; z <= boxes[i].z1; z++) need[z] |= 2;
        if (mid > zhiA) zhiA = mid;
        if (mid + 1 < zloB) zloB = mid + 1;
    }
    int total = 0, cached = 0;
    for (int z = zhiA; z >= 0; z--) /* sweep A order decides what is cached */
        if (need[z] & 1) {
            total++;
            if ((need[z] & 2) && (o.max_cached < 0 || cached < o.max_cached)) need[z] |= 4, cached++;
        }
    for (int z = zloB; z < nz; z++) total += (need[z] & 2) && !(need[z] & 4);
    stats->total = total;

    memset(labels, 0, (size_t)nx * ny * nz * label_bytes);
    run_ctx r = {be, nx, ny, boxes, n, margin, mask, labels, label_bytes, stats};
    int done = 0;
    if (report(&o, 0, total)) s = ms_error(err, MEDSAM_ERR_CANCELLED, "cancelled");

    // sweep A: middle slices, then each box's downward chain
    for (int z = zhiA; z >= 0 && !s; z--) {
        if (!(need[z] & 1)) continue;
        void *emb = NULL;
        s = be->encode(be->ctx, z, &emb, err);
        if (s) break;
        stats->encodes++;
        for (int i = 0; i < n && !s; i++) {
            if (!active_down(&boxes[i], z)) continue;
            if (z == ms_seg3d_mid_slice(&boxes[i])) {
                chain own = {.valid = 0};
                s = step(&r, emb, z, i, &own, &down[i], err);
                up[i] = down[i]; /* both chains start from the middle slice's mask */
            } else {
                s = step(&r, emb, z, i, &down[i], &down[i], err);
            }
        }
        if (need[z] & 4) cache[z] = emb;
        else be->release(be->ctx, emb);
        if (!s && report(&o, ++done, total)) s = ms_error(err, MEDSAM_ERR_CANCELLED, "cancelled");
    }
    // sweep B: each box's upward chain
    for (int z = zloB; z < nz && !s; z++) {
        if (!(need[z] & 2)) continue;
        void *emb = cache[z];
        cache[z] = NULL;
        if (emb) {
            stats->cache_hits++;
        } else {
            s = be->encode(be->ctx, z, &emb, err);
            if (s) break;
            stats->encodes++;
        }
        for (int i = 0; i < n && !s; i++)
            if (active_up(&boxes[i], z)) s = step(&r, emb, z, i, &up[i], &up[i], err);
        be->release(be->ctx, emb);
        if (!s && !(need[z] & 4) && report(&o, ++done, total)) s = ms_error(err, MEDSAM_ERR_CANCELLED, "cancelled");
    }
    for (int z = 0; z < nz; z++)
        if (cache[z]) be->release(be->ctx, cache[z]);
    free(need), free(cache), free(down), free(up), free(mask);
    return s;
}
