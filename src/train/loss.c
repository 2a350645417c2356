/* loss.c — Dice (monai, sigmoid, squared_pred) + BCE-with-logits loss (see loss.h). */
#include "train/loss.h"

#include <math.h>

#define LOSS_SMOOTH 1e-5  // monai DiceLoss defaults smooth_nr = smooth_dr = 1e-5

static double loss_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

// ref: train_one_gpu.py:main -- seg_loss(medsam_pred, gt2D) + ce_loss(medsam_pred, gt2D.float())
void loss_dice_bce_forward(double loss[3], loss_dice_bce_stats *stats, const float *logits, const float *target,
                           int B, long HW) {
    double dice = 0.0, bce = 0.0;
    for (int b = 0; b < B; b++) {
        const float *x = logits + (long)b * HW;  // (HW)
        const float *g = target + (long)b * HW;  // (HW)
        loss_dice_bce_stats s = {0, 0, 0, 0};
        for (long i = 0; i < HW; i++) {
            const double xi = x[i], gi = g[i], p = loss_sigmoid(xi);
            // ref: monai DiceLoss.forward -- intersection, ground_o, pred_o (squared_pred)
            s.inter += p * gi;
            s.pred_sq += p * p;
            s.gt_sq += gi * gi;
            // ref: torch binary_cross_entropy_with_logits: (1 - g) x + log(1 + exp(-x)), stable form
            s.bce_sum += (xi > 0 ? xi : 0.0) - xi * gi + log1p(exp(-fabs(xi)));
        }
        stats[b] = s;
        // ref: monai DiceLoss.forward -- f = 1 - (2 * intersection + smooth_nr) / (denominator + smooth_dr)
        dice += 1.0 - (2.0 * s.inter + LOSS_SMOOTH) / (s.gt_sq + s.pred_sq + LOSS_SMOOTH);
        bce += s.bce_sum;
    }
    loss[1] = B > 0 ? dice / B : 0.0;                       // reduction="mean" over (batch, channel)
    loss[2] = B > 0 && HW > 0 ? bce / ((double)B * HW) : 0.0;  // BCEWithLogitsLoss(reduction="mean")
    loss[0] = loss[1] + loss[2];
}

/* d dice_b / d p_i = -(2 g_i Den - Num 2 p_i) / Den^2 with Num = 2I + s, Den = Gs + Ps + s;
 * d p / d x = p (1 - p); d bce / d x_i = (p_i - g_i) / (B HW). */
void loss_dice_bce_backward(float *dlogits, const loss_dice_bce_stats *stats, const float *logits,
                            const float *target, float dloss, int B, long HW, int nthreads) {
    if (B <= 0 || HW <= 0) return;
    const double wd = (double)dloss / B, wb = (double)dloss / ((double)B * HW);
    for (int b = 0; b < B; b++) {
        const loss_dice_bce_stats s = stats[b];
        const double num = 2.0 * s.inter + LOSS_SMOOTH, den = s.gt_sq + s.pred_sq + LOSS_SMOOTH;
        const double cg = -2.0 / den * wd, cp = 2.0 * num / (den * den) * wd;
        const float *x = logits + (long)b * HW;  // (HW)
        const float *g = target + (long)b * HW;  // (HW)
        float *dx = dlogits + (long)b * HW;      // (HW)
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && HW > 65536)
        for (long i = 0; i < HW; i++) {
            const double p = loss_sigmoid(x[i]);
            const double ddice_dp = cg * g[i] + cp * p;
            dx[i] += (float)(ddice_dp * p * (1.0 - p) + wb * (p - g[i]));
        }
    }
}
