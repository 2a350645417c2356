/* metrics.c — DSC, surface distances, NSD, ASD, robust Hausdorff and the challenge
 * aggregation, with NumPy's order of floating-point operations where it matters
 * (pairwise sums, sequential cumsum, (distance, area) sort order). */
#include "metrics/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/edt.h"

/* NumPy's DOUBLE_pairwise_sum (numpy/core/src/umath/loops_utils.h.src), applied to
 * a[i] (prod == NULL) or a[i] * prod[i]. */
static double pairwise(const double *a, const double *prod, int64_t n) {
#define PW_AT(i) (prod ? a[i] * prod[i] : a[i])
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++) res += PW_AT(i);
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = PW_AT(j);
        int64_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += PW_AT(i + j);
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += PW_AT(i);
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, prod, n2) + pairwise(a + n2, prod ? prod + n2 : NULL, n - n2);
#undef PW_AT
}

double ms_np_sum(const double *a, int64_t n) { return pairwise(a, NULL, n); }

/* ref: utils/SurfaceDice.py:compute_dice_coefficient */
double ms_dice_from_counts(int64_t n_gt, int64_t n_pred, int64_t n_inter) {
    int64_t volume_sum = n_gt + n_pred;
    if (volume_sum == 0) return NAN;
    return (double)(2 * n_inter) / (double)volume_sum;
}

double ms_dice(const ms_mask_view *gt, const ms_mask_view *pred, const int64_t shape[3], int threads) {
    ms_mask_stats st;
    ms_mask_scan(gt, pred, shape, threads, &st);
    return ms_dice_from_counts(st.n_gt, st.n_pred, st.n_inter);
}

/* ---- sorting surfels by (distance, area) ---------------------------------- */

typedef struct {
    uint64_t dbits; /* bits of a non-negative double: ordered like the value */
    uint32_t rank;  /* rank of the code's area among the distinct table areas */
    uint32_t code;
} surfel_rec;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* rank[code]: index of area[code] among the distinct values of the table, ascending,
 * so ordering by rank is ordering by area. */
static void area_ranks(const double area[256], uint32_t rank[256]) {
    double sorted[256];
    memcpy(sorted, area, sizeof sorted);
    qsort(sorted, 256, sizeof(double), cmp_double);
    for (int c = 0; c < 256; c++) {
        uint32_t r = 0;
        for (int i = 1; i < 256 && sorted[i] <= area[c]; i++)
            if (sorted[i] != sorted[i - 1]) r++;
        rank[c] = r;
    }
}

/* One stable LSD counting pass on byte `shift/8` of the key picked by `which`. */
static void radix_pass(surfel_rec *src, surfel_rec *dst, int64_t n, int which, int shift) {
    int64_t count[257] = {0};
    for (int64_t i = 0; i < n; i++) {
        uint64_t key = which ? src[i].dbits : src[i].rank;
        count[((key >> shift) & 0xff) + 1]++;
    }
    for (int b = 0; b < 256; b++) count[b + 1] += count[b];
    for (int64_t i = 0; i < n; i++) {
        uint64_t key = which ? src[i].dbits : src[i].rank;
        dst[count[(key >> shift) & 0xff]++] = src[i];
    }
}

/* Sorts (dist[i], code[i]) by distance, then area (Python's sorted(zip(d, a))), and
 * writes the sorted distances and areas. Distances are >= 0 or +inf. */
static int sort_surfels(const double *dist, const uint8_t *codes, int64_t n, const double area[256],
                        double *dist_out, double *area_out) {
    if (n == 0) return 1;
    uint32_t rank[256];
    area_ranks(area, rank);
    surfel_rec *a = malloc(sizeof(surfel_rec) * n), *b = malloc(sizeof(surfel_rec) * n);
    if (!a || !b) {
        free(a), free(b);
        return 0;
    }
    uint64_t all_or = 0, all_and = ~(uint64_t)0;
    for (int64_t i = 0; i < n; i++) {
        double d = dist[i] + 0.0; /* -0.0 -> +0.0 */
        memcpy(&a[i].dbits, &d, sizeof d);
        a[i].code = codes[i];
        a[i].rank = rank[codes[i]];
        all_or |= a[i].dbits, all_and &= a[i].dbits;
    }
    radix_pass(a, b, n, 0, 0); /* least significant key first: the area rank */
    surfel_rec *src = b, *dst = a;
    for (int shift = 0; shift < 64; shift += 8) {
        if ((((all_or ^ all_and) >> shift) & 0xff) == 0) continue; /* byte equal everywhere */
        radix_pass(src, dst, n, 1, shift);
        surfel_rec *t = src;
        src = dst, dst = t;
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy(&dist_out[i], &src[i].dbits, sizeof(double));
        area_out[i] = area[src[i].code];
    }
    free(a), free(b);
    return 1;
}

/* ---- surface distances ------------------------------------------------------ */

void ms_surface_distances_free(ms_surface_distances *sd) {
    if (!sd) return;
    free(sd->dist_gt_to_pred), free(sd->area_gt), free(sd->dist_pred_to_gt), free(sd->area_pred);
    memset(sd, 0, sizeof *sd);
}

static void gather_codes(const uint8_t *codes, const uint8_t lut[256], int64_t n, uint8_t *out) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (lut[codes[i]]) out[m++] = codes[i];
}

/* ref: utils/SurfaceDice.py:compute_surface_distances */
medsam_status ms_surface_distances_compute(const ms_mask_view *gt, const ms_mask_view *pred, const int64_t shape[3],
                                           const double spacing[3], int threads, const ms_mask_stats *stats,
                                           ms_surface_distances *out, medsam_error *err) {
    memset(out, 0, sizeof *out);
    for (int a = 0; a < 3; a++)
        if (!(spacing[a] > 0) || isinf(spacing[a]))
            return ms_error(err, MEDSAM_ERR_ARG, "spacing %g on axis %d: must be finite and > 0", spacing[a], a);
    ms_mask_stats local;
    if (!stats) {
        ms_mask_scan(gt, pred, shape, threads, &local);
        stats = &local;
    }
    if (stats->empty) return MEDSAM_OK; /* no surfels on either side */
    int64_t crop[3], grid[3];
    for (int a = 0; a < 3; a++) {
        crop[a] = stats->hi[a] - stats->lo[a] + 1;
        grid[a] = crop[a] + 1; /* zero pad on the high side */
        if (grid[a] > MS_EDT_MAX_SIDE)
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                            "surface distances: the masks span %lld voxels on axis %d (at most %d supported)",
                            (long long)crop[a], a, MS_EDT_MAX_SIDE - 1);
    }
    const int64_t ngrid = grid[0] * grid[1] * grid[2];
    medsam_status st = MEDSAM_OK;
    uint8_t *pad = malloc((size_t)((crop[0] + 2) * (crop[1] + 2) * (crop[2] + 2)));
    uint8_t *codes_gt = malloc((size_t)ngrid), *codes_pred = malloc((size_t)ngrid);
    uint8_t *sc_gt = NULL, *sc_pred = NULL;
    double *d_gt = NULL, *d_pred = NULL;
    if (!pad || !codes_gt || !codes_pred) goto nomem;
    ms_surface_codes(gt, shape, stats->lo, stats->hi, threads, pad, codes_gt);
    ms_surface_codes(pred, shape, stats->lo, stats->hi, threads, pad, codes_pred);
    free(pad);
    pad = NULL;

    uint8_t lut[256];
    double area[256];
    ms_surfel_lut(lut);
    ms_surfel_area_table(spacing, area);
    const int64_t n_gt = ms_edt_count(codes_gt, lut, ngrid), n_pred = ms_edt_count(codes_pred, lut, ngrid);
    d_gt = malloc(sizeof(double) * (n_gt ? n_gt : 1));
    d_pred = malloc(sizeof(double) * (n_pred ? n_pred : 1));
    sc_gt = malloc((size_t)(n_gt ? n_gt : 1));
    sc_pred = malloc((size_t)(n_pred ? n_pred : 1));
    if (!d_gt || !d_pred || !sc_gt || !sc_pred) goto nomem;
    /* distances of the gt surfels to the pred surface (np.Inf when pred has none) */
    if (n_gt && n_pred) {
        st = ms_edt_at(codes_pred, lut, grid, spacing, codes_gt, lut, threads, d_gt, err);
        if (!st) st = ms_edt_at(codes_gt, lut, grid, spacing, codes_pred, lut, threads, d_pred, err);
        if (st) goto done;
    } else {
        for (int64_t i = 0; i < n_gt; i++) d_gt[i] = INFINITY;
        for (int64_t i = 0; i < n_pred; i++) d_pred[i] = INFINITY;
    }
    gather_codes(codes_gt, lut, ngrid, sc_gt);
    gather_codes(codes_pred, lut, ngrid, sc_pred);
    free(codes_gt), free(codes_pred);
    codes_gt = codes_pred = NULL;

    out->n_gt = n_gt, out->n_pred = n_pred;
    out->dist_gt_to_pred = malloc(sizeof(double) * (n_gt ? n_gt : 1));
    out->area_gt = malloc(sizeof(double) * (n_gt ? n_gt : 1));
    out->dist_pred_to_gt = malloc(sizeof(double) * (n_pred ? n_pred : 1));
    out->area_pred = malloc(sizeof(double) * (n_pred ? n_pred : 1));
    if (!out->dist_gt_to_pred || !out->area_gt || !out->dist_pred_to_gt || !out->area_pred) goto nomem;
    if (!sort_surfels(d_gt, sc_gt, n_gt, area, out->dist_gt_to_pred, out->area_gt) ||
        !sort_surfels(d_pred, sc_pred, n_pred, area, out->dist_pred_to_gt, out->area_pred))
        goto nomem;
    goto done;
nomem:
    st = ms_error(err, MEDSAM_ERR_NOMEM, "surface distances: out of memory for a %lldx%lldx%lld crop",
                  (long long)crop[0], (long long)crop[1], (long long)crop[2]);
done:
    free(pad), free(codes_gt), free(codes_pred), free(sc_gt), free(sc_pred), free(d_gt), free(d_pred);
    if (st) ms_surface_distances_free(out);
    return st;
}

/* ---- metrics on surface distances ----------------------------------------- */

/* Elements of a distance list sorted ascending with d <= tol (a prefix). */
static int64_t count_within(const double *d, int64_t n, double tol) {
    int64_t m = 0;
    while (m < n && d[m] <= tol) m++;
    return m;
}

/* ref: utils/SurfaceDice.py:compute_surface_dice_at_tolerance */
double ms_surface_dice(const ms_surface_distances *sd, double tolerance) {
    double overlap_gt = ms_np_sum(sd->area_gt, count_within(sd->dist_gt_to_pred, sd->n_gt, tolerance));
    double overlap_pred = ms_np_sum(sd->area_pred, count_within(sd->dist_pred_to_gt, sd->n_pred, tolerance));
    return (overlap_gt + overlap_pred) / (ms_np_sum(sd->area_gt, sd->n_gt) + ms_np_sum(sd->area_pred, sd->n_pred));
}

/* ref: utils/SurfaceDice.py:compute_surface_overlap_at_tolerance */
void ms_surface_overlap(const ms_surface_distances *sd, double tolerance, double *gt, double *pred) {
    *gt = ms_np_sum(sd->area_gt, count_within(sd->dist_gt_to_pred, sd->n_gt, tolerance)) /
          ms_np_sum(sd->area_gt, sd->n_gt);
    *pred = ms_np_sum(sd->area_pred, count_within(sd->dist_pred_to_gt, sd->n_pred, tolerance)) /
            ms_np_sum(sd->area_pred, sd->n_pred);
}

/* ref: utils/SurfaceDice.py:compute_average_surface_distance */
void ms_average_surface_distance(const ms_surface_distances *sd, double *gt_to_pred, double *pred_to_gt) {
    *gt_to_pred = pairwise(sd->dist_gt_to_pred, sd->area_gt, sd->n_gt) / ms_np_sum(sd->area_gt, sd->n_gt);
    *pred_to_gt = pairwise(sd->dist_pred_to_gt, sd->area_pred, sd->n_pred) / ms_np_sum(sd->area_pred, sd->n_pred);
}

/* distances[min(searchsorted(cumsum(areas) / sum(areas), percent / 100), n - 1)] */
static double percentile_distance(const double *d, const double *a, int64_t n, double percent) {
    if (n == 0) return INFINITY;
    const double total = ms_np_sum(a, n), target = percent / 100.0;
    double cum = 0;
    int64_t idx = 0;
    for (; idx < n; idx++) {
        cum = idx ? cum + a[idx] : a[0];
        if (cum / total >= target) break;
    }
    return d[idx < n - 1 ? idx : n - 1];
}

/* ref: utils/SurfaceDice.py:compute_robust_hausdorff */
double ms_robust_hausdorff(const ms_surface_distances *sd, double percent) {
    double gt = percentile_distance(sd->dist_gt_to_pred, sd->area_gt, sd->n_gt, percent);
    double pred = percentile_distance(sd->dist_pred_to_gt, sd->area_pred, sd->n_pred, percent);
    return pred > gt ? pred : gt; /* Python max(gt, pred) */
}

/* ---- one pair of masks, and the challenge aggregation -------------------- */

void ms_metrics_opts_default(ms_metrics_opts *o) {
    memset(o, 0, sizeof *o);
    o->spacing[0] = o->spacing[1] = o->spacing[2] = 1.0;
    o->tolerance = 2.0;
    o->percent = 95.0;
    o->surface = 1;
    o->threads = 1;
}

medsam_status ms_metrics_compute(const ms_mask_view *gt, const ms_mask_view *pred, const int64_t shape[3],
                                 const ms_metrics_opts *opts, ms_metrics_result *out, medsam_error *err) {
    ms_mask_stats st;
    ms_mask_scan(gt, pred, shape, opts->threads, &st);
    memset(out, 0, sizeof *out);
    out->vol_gt = st.n_gt, out->vol_pred = st.n_pred, out->vol_inter = st.n_inter;
    out->dsc = ms_dice_from_counts(st.n_gt, st.n_pred, st.n_inter);
    out->nsd = out->asd_gt_to_pred = out->asd_pred_to_gt = out->hd = NAN;
    if (!opts->surface) return MEDSAM_OK;
    ms_surface_distances sd;
    medsam_status s = ms_surface_distances_compute(gt, pred, shape, opts->spacing, opts->threads, &st, &sd, err);
    if (s) return s;
    out->surfels_gt = sd.n_gt, out->surfels_pred = sd.n_pred;
    out->nsd = ms_surface_dice(&sd, opts->tolerance);
    ms_average_surface_distance(&sd, &out->asd_gt_to_pred, &out->asd_pred_to_gt);
    out->hd = ms_robust_hausdorff(&sd, opts->percent);
    ms_surface_distances_free(&sd);
    return MEDSAM_OK;
}

uint32_t ms_label_max(const void *data, ms_label_type type, int64_t n) {
    uint32_t m = 0;
    if (type == MS_LABELS_U8) {
        const uint8_t *p = data;
        uint8_t v = 0;
        for (int64_t i = 0; i < n; i++) v = p[i] > v ? p[i] : v;
        m = v;
    } else {
        const uint16_t *p = data;
        uint16_t v = 0;
        for (int64_t i = 0; i < n; i++) v = p[i] > v ? p[i] : v;
        m = v;
    }
    return m;
}

/* ref: LiteMedSAM:evaluation/compute_metrics.py:compute_multi_class_dsc,
 *      compute_multi_class_nsd, compute_metrics */
medsam_status ms_metrics_challenge(const void *gt, ms_label_type gt_type, const void *pred, ms_label_type pred_type,
                                   const int64_t shape[3], const double spacing[3], double tolerance, int threads,
                                   ms_challenge_result *out, double *label_dsc, double *label_nsd,
                                   uint32_t label_cap, medsam_error *err) {
    memset(out, 0, sizeof *out);
    const int64_t n = shape[0] * shape[1] * shape[2];
    const uint32_t nl = ms_label_max(gt, gt_type, n);
    out->nlabels = nl;
    double *dsc = malloc(sizeof(double) * (nl ? nl : 1)), *nsd = malloc(sizeof(double) * (nl ? nl : 1));
    if (!dsc || !nsd) {
        free(dsc), free(nsd);
        return ms_error(err, MEDSAM_ERR_NOMEM, "challenge metrics: out of memory for %u labels", nl);
    }
    ms_mask_stats *stats = malloc(sizeof(ms_mask_stats) * (nl ? nl : 1));
    if (!stats) {
        free(dsc), free(nsd);
        return ms_error(err, MEDSAM_ERR_NOMEM, "challenge metrics: out of memory for %u labels", nl);
    }
    for (uint32_t l = 1; l <= nl; l++) {
        ms_mask_view g = {gt, gt_type, l}, p = {pred, pred_type, l};
        ms_mask_scan(&g, &p, shape, threads, &stats[l - 1]);
        dsc[l - 1] = ms_dice_from_counts(stats[l - 1].n_gt, stats[l - 1].n_pred, stats[l - 1].n_inter);
        nsd[l - 1] = NAN;
    }
    /* np.mean: pairwise sum / count; NaN for no labels (np.mean([])) */
    out->dsc = nl ? ms_np_sum(dsc, nl) / (double)nl : NAN;
    medsam_status st = MEDSAM_OK;
    if (out->dsc > 0.2) { /* "only compute nsd when dice > 0.2" */
        for (uint32_t l = 1; l <= nl && !st; l++) {
            ms_mask_view g = {gt, gt_type, l}, p = {pred, pred_type, l};
            ms_surface_distances sd;
            st = ms_surface_distances_compute(&g, &p, shape, spacing, threads, &stats[l - 1], &sd, err);
            if (st) break;
            nsd[l - 1] = ms_surface_dice(&sd, tolerance);
            ms_surface_distances_free(&sd);
        }
        out->nsd = ms_np_sum(nsd, nl) / (double)nl;
        out->nsd_computed = 1;
    } else {
        out->nsd = 0.0;
    }
    for (uint32_t l = 0; l < nl && l < label_cap; l++) {
        if (label_dsc) label_dsc[l] = dsc[l];
        if (label_nsd) label_nsd[l] = nsd[l];
    }
    free(dsc), free(nsd), free(stats);
    return st;
}
