/* metrics.h — segmentation metrics exactly as MedSAM reports them:
 *   DSC, surface distances, NSD (surface Dice at a tolerance), average surface
 *   distance and robust Hausdorff, following utils/SurfaceDice.py, and the
 *   challenge aggregation of LiteMedSAM:evaluation/compute_metrics.py.
 *
 * Spacing is given per array axis (spacing[a] is the voxel size along axis a of the
 * (n0, n1, n2) volume); 2-D masks are (H, W, 1) volumes, which is how the challenge
 * script evaluates them (with spacing 1,1,1).
 *
 * Empty-mask conventions (those of SurfaceDice.py, NumPy arithmetic):
 *   both empty  DSC NaN, NSD NaN (0/0), ASD NaN/NaN, HD +inf
 *   gt empty    DSC 0, NSD 0, ASD gt->pred NaN, pred->gt +inf, HD +inf
 *   pred empty  DSC 0, NSD 0, ASD gt->pred +inf, pred->gt NaN, HD +inf */
#ifndef MS_METRICS_H
#define MS_METRICS_H
#include <stdint.h>
#include "medsam.h"
#include "metrics/surface.h"

/* NumPy's float64 np.sum (pairwise summation, 8-way unrolled blocks of 128). */
double ms_np_sum(const double *a, int64_t n);

/* ref: utils/SurfaceDice.py:compute_dice_coefficient — 2|A∩B| / (|A|+|B|), NaN when
 * both are empty. */
double ms_dice_from_counts(int64_t n_gt, int64_t n_pred, int64_t n_inter);
double ms_dice(const ms_mask_view *gt, const ms_mask_view *pred, const int64_t shape[3], int threads);

/* The output of compute_surface_distances: for each surfel of one mask its distance
 * to the other mask's surface and its area, sorted by (distance, area). */
typedef struct {
    int64_t n_gt, n_pred;
    double *dist_gt_to_pred, *area_gt;   /* (n_gt) */
    double *dist_pred_to_gt, *area_pred; /* (n_pred) */
} ms_surface_distances;

/* ref: utils/SurfaceDice.py:compute_surface_distances. `stats` may be NULL (then the
 * masks are scanned here) or the result of ms_mask_scan on the same masks. */
medsam_status ms_surface_distances_compute(const ms_mask_view *gt, const ms_mask_view *pred, const int64_t shape[3],
                                           const double spacing[3], int threads, const ms_mask_stats *stats,
                                           ms_surface_distances *out, medsam_error *err);
void ms_surface_distances_free(ms_surface_distances *sd);

/* ref: utils/SurfaceDice.py:compute_surface_dice_at_tolerance */
double ms_surface_dice(const ms_surface_distances *sd, double tolerance);
/* ref: utils/SurfaceDice.py:compute_surface_overlap_at_tolerance */
void ms_surface_overlap(const ms_surface_distances *sd, double tolerance, double *gt, double *pred);
/* ref: utils/SurfaceDice.py:compute_average_surface_distance */
void ms_average_surface_distance(const ms_surface_distances *sd, double *gt_to_pred, double *pred_to_gt);
/* ref: utils/SurfaceDice.py:compute_robust_hausdorff (percent = 95 for HD95) */
double ms_robust_hausdorff(const ms_surface_distances *sd, double percent);

typedef struct {
    double spacing[3]; /* per array axis */
    double tolerance;  /* NSD tolerance, same unit as spacing (MedSAM: 2.0) */
    double percent;    /* robust Hausdorff percentile (95) */
    int surface;       /* 0: DSC and volumes only */
    int threads;
} ms_metrics_opts;

typedef struct {
    double dsc, nsd, asd_gt_to_pred, asd_pred_to_gt, hd;
    int64_t vol_gt, vol_pred, vol_inter;   /* voxels */
    int64_t surfels_gt, surfels_pred;
} ms_metrics_result;

/* Default options: spacing 1,1,1, tolerance 2, percent 95, surface on, 1 thread. */
void ms_metrics_opts_default(ms_metrics_opts *o);

/* Everything for one pair of masks (NaN for the surface fields when !surface). */
medsam_status ms_metrics_compute(const ms_mask_view *gt, const ms_mask_view *pred, const int64_t shape[3],
                                 const ms_metrics_opts *opts, ms_metrics_result *out, medsam_error *err);

/* Largest value of a label volume of n voxels. */
uint32_t ms_label_max(const void *data, ms_label_type type, int64_t n);

/* ref: LiteMedSAM:evaluation/compute_metrics.py:compute_metrics — labels 1..max(gt),
 * DSC = mean over labels of the per-label DSC (NaN when a label is absent from both,
 * as np.mean propagates it; NaN when gt has no label at all); NSD = mean over the
 * labels of the surface Dice at `tolerance`, computed only when that mean DSC > 0.2,
 * else 0. For a 2-D case pass shape (H, W, 1) and spacing 1,1,1 (what the script
 * does); for a 3-D case the npz spacing as stored. out->nlabels gets max(gt);
 * label_dsc / label_nsd (may be NULL) receive the per-label values of the first
 * label_cap labels (NSD NaN where it was not computed). */
typedef struct {
    double dsc, nsd;
    int nsd_computed; /* mean DSC > 0.2 */
    uint32_t nlabels;
} ms_challenge_result;

medsam_status ms_metrics_challenge(const void *gt, ms_label_type gt_type, const void *pred, ms_label_type pred_type,
                                   const int64_t shape[3], const double spacing[3], double tolerance, int threads,
                                   ms_challenge_result *out, double *label_dsc, double *label_nsd,
                                   uint32_t label_cap, medsam_error *err);

#endif
