/* surface.c — mask views, joint bounding box, neighbour codes and surfel areas. */
#include "metrics/surface.h"

#include <math.h>
#include <string.h>

#include "metrics/surfel_normals.h"

#define PAR_MIN (1 << 16) /* volumes smaller than this are scanned on one thread */

/* Writes 0/1 for n voxels of the view starting at linear index `start`. */
static void mask_row(const ms_mask_view *m, int64_t start, int64_t n, uint8_t *out) {
    const uint32_t label = m->label;
    if (m->type == MS_LABELS_U8) {
        const uint8_t *p = (const uint8_t *)m->data + start;
        if (label == MS_MASK_NONZERO)
            for (int64_t k = 0; k < n; k++) out[k] = p[k] != 0;
        else if (label > 255)
            memset(out, 0, (size_t)n);
        else
            for (int64_t k = 0; k < n; k++) out[k] = p[k] == (uint8_t)label;
    } else {
        const uint16_t *p = (const uint16_t *)m->data + start;
        if (label == MS_MASK_NONZERO)
            for (int64_t k = 0; k < n; k++) out[k] = p[k] != 0;
        else if (label > 65535)
            memset(out, 0, (size_t)n);
        else
            for (int64_t k = 0; k < n; k++) out[k] = p[k] == (uint16_t)label;
    }
}

void ms_mask_scan(const ms_mask_view *gt, const ms_mask_view *pred, const int64_t shape[3], int threads,
                  ms_mask_stats *out) {
    const int64_t n0 = shape[0], n1 = shape[1], n2 = shape[2];
    int64_t ng = 0, np_ = 0, ni = 0;
    int64_t lo0 = INT64_MAX, lo1 = INT64_MAX, lo2 = INT64_MAX, hi0 = -1, hi1 = -1, hi2 = -1;
    if (threads < 1 || n0 * n1 * n2 < PAR_MIN) threads = 1;
#pragma omp parallel num_threads(threads) reduction(+ : ng, np_, ni) reduction(min : lo0, lo1, lo2) \
    reduction(max : hi0, hi1, hi2)
    {
        uint8_t rg[4096], rp[4096];
#pragma omp for schedule(static) collapse(2)
        for (int64_t i = 0; i < n0; i++) {
            for (int64_t j = 0; j < n1; j++) {
                int64_t row_lo = INT64_MAX, row_hi = -1;
                for (int64_t k0 = 0; k0 < n2; k0 += 4096) {
                    int64_t len = n2 - k0 < 4096 ? n2 - k0 : 4096;
                    int64_t start = (i * n1 + j) * n2 + k0;
                    mask_row(gt, start, len, rg);
                    mask_row(pred, start, len, rp);
                    int64_t cg = 0, cp = 0, ci = 0;
                    for (int64_t k = 0; k < len; k++) cg += rg[k], cp += rp[k], ci += rg[k] & rp[k];
                    ng += cg, np_ += cp, ni += ci;
                    if (cg + cp == 0) continue;
                    for (int64_t k = 0; k < len; k++)
                        if (rg[k] | rp[k]) {
                            if (k0 + k < row_lo) row_lo = k0 + k;
                            break;
                        }
                    for (int64_t k = len - 1; k >= 0; k--)
                        if (rg[k] | rp[k]) {
                            if (k0 + k > row_hi) row_hi = k0 + k;
                            break;
                        }
                }
                if (row_hi < 0) continue;
                if (i < lo0) lo0 = i;
                if (i > hi0) hi0 = i;
                if (j < lo1) lo1 = j;
                if (j > hi1) hi1 = j;
                if (row_lo < lo2) lo2 = row_lo;
                if (row_hi > hi2) hi2 = row_hi;
            }
        }
    }
    memset(out, 0, sizeof *out);
    out->n_gt = ng, out->n_pred = np_, out->n_inter = ni;
    out->empty = hi0 < 0;
    if (!out->empty) {
        out->lo[0] = lo0, out->lo[1] = lo1, out->lo[2] = lo2;
        out->hi[0] = hi0, out->hi[1] = hi1, out->hi[2] = hi2;
    }
}

/* ref: utils/SurfaceDice.py:compute_surface_distances (neighbour_code_to_surface_area) */
void ms_surfel_area_table(const double spacing[3], double area[256]) {
    for (int code = 0; code < 256; code++) {
        double sum = 0;
        for (int t = 0; t < ms_surfel_ntri[code]; t++) {
            const unsigned char *e = ms_surfel_normals8[code][t];
            double nx = (double)e[0] * 0.125 * spacing[1] * spacing[2];
            double ny = (double)e[1] * 0.125 * spacing[0] * spacing[2];
            double nz = (double)e[2] * 0.125 * spacing[0] * spacing[1];
            sum += sqrt(nx * nx + ny * ny + nz * nz);
        }
        area[code] = sum;
    }
}

void ms_surfel_lut(uint8_t lut[256]) {
    for (int c = 0; c < 256; c++) lut[c] = c != 0 && c != 255;
}

/* ref: utils/SurfaceDice.py:compute_surface_distances (crop, pad, correlate) */
void ms_surface_codes(const ms_mask_view *mask, const int64_t shape[3], const int64_t lo[3], const int64_t hi[3],
                      int threads, uint8_t *pad, uint8_t *codes) {
    const int64_t c0 = hi[0] - lo[0] + 1, c1 = hi[1] - lo[1] + 1, c2 = hi[2] - lo[2] + 1;
    const int64_t p1 = c1 + 2, p2 = c2 + 2;          /* pad: (c0+2, c1+2, c2+2) */
    const int64_t m0 = c0 + 1, m1 = c1 + 1, m2 = c2 + 1; /* codes: (c0+1, c1+1, c2+1) */
    if (threads < 1 || m0 * m1 * m2 < PAR_MIN) threads = 1;
    memset(pad, 0, (size_t)((c0 + 2) * p1 * p2));
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2)
    for (int64_t i = 0; i < c0; i++)
        for (int64_t j = 0; j < c1; j++)
            mask_row(mask, ((lo[0] + i) * shape[1] + lo[1] + j) * shape[2] + lo[2], c2,
                     pad + ((i + 1) * p1 + j + 1) * p2 + 1);
    /* code(i,j,k) reads pad[i+a, j+b, k+c]: crop index (i-1+a, j-1+b, k-1+c) */
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2)
    for (int64_t i = 0; i < m0; i++) {
        for (int64_t j = 0; j < m1; j++) {
            const uint8_t *r00 = pad + (i * p1 + j) * p2, *r01 = r00 + p2;
            const uint8_t *r10 = r00 + p1 * p2, *r11 = r10 + p2;
            uint8_t *out = codes + (i * m1 + j) * m2;
            for (int64_t k = 0; k < m2; k++) {
                out[k] = (uint8_t)(r00[k] << 7 | r00[k + 1] << 6 | r01[k] << 5 | r01[k + 1] << 4 | r10[k] << 3 |
                                   r10[k + 1] << 2 | r11[k] << 1 | r11[k + 1]);
            }
        }
    }
}
