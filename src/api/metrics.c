/* metrics.c — public entry point for DSC / NSD / surface distances of one label
 * between two label maps (the numbers `medsam eval` prints for that label). */
#include <math.h>

#include "core/error.h"
#include "medsam.h"
#include "metrics/metrics.h"

medsam_status medsam_eval_label(const void *pred, int pred_bytes, const void *gt, int gt_bytes,
                                const long long shape[3], const double spacing[3], double tolerance,
                                unsigned label, int nthreads, medsam_metrics *out, medsam_error *err) {
    if (!pred || !gt || !shape || !spacing || !out)
        return ms_error(err, MEDSAM_ERR_ARG, "eval: pred, gt, shape, spacing and out must not be NULL");
    if ((pred_bytes != 1 && pred_bytes != 2) || (gt_bytes != 1 && gt_bytes != 2))
        return ms_error(err, MEDSAM_ERR_ARG, "eval: label maps must have 1 or 2 bytes per voxel, got %d and %d",
                        pred_bytes, gt_bytes);
    if (label > 65535) return ms_error(err, MEDSAM_ERR_ARG, "eval: label %u is over 65535", label);
    int64_t sh[3];
    for (int a = 0; a < 3; a++) {
        if (shape[a] < 1 || shape[a] > (1LL << 31))
            return ms_error(err, MEDSAM_ERR_SHAPE, "eval: shape (%lld, %lld, %lld) has an axis outside 1..2^31",
                            shape[0], shape[1], shape[2]);
        if (!(spacing[a] > 0) || isinf(spacing[a]))
            return ms_error(err, MEDSAM_ERR_ARG, "eval: spacing[%d] is %g, needs a positive finite number", a,
                            spacing[a]);
        sh[a] = shape[a];
    }
    if (sh[0] * sh[1] > (1LL << 40) / sh[2]) return ms_error(err, MEDSAM_ERR_NOMEM, "eval: label maps too large");
    if (!(tolerance >= 0) || isinf(tolerance))
        return ms_error(err, MEDSAM_ERR_ARG, "eval: tolerance is %g, needs a finite number >= 0", tolerance);
    ms_metrics_opts mo;
    ms_metrics_opts_default(&mo);
    for (int a = 0; a < 3; a++) mo.spacing[a] = spacing[a];
    mo.tolerance = tolerance;
    mo.threads = nthreads > 0 ? nthreads : 1;
    const uint32_t want = label ? label : MS_MASK_NONZERO;
    ms_mask_view g = {gt, gt_bytes == 1 ? MS_LABELS_U8 : MS_LABELS_U16, want};
    ms_mask_view p = {pred, pred_bytes == 1 ? MS_LABELS_U8 : MS_LABELS_U16, want};
    ms_metrics_result m;
    medsam_status st = ms_metrics_compute(&g, &p, sh, &mo, &m, err);
    if (st) return st;
    out->dsc = m.dsc, out->nsd = m.nsd, out->asd_gt_to_pred = m.asd_gt_to_pred, out->asd_pred_to_gt = m.asd_pred_to_gt;
    out->hd95 = m.hd, out->vol_gt = m.vol_gt, out->vol_pred = m.vol_pred;
    return MEDSAM_OK;
}
