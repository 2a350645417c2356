/* loss.h — MedSAM's training loss on mask logits, forward and backward.
 *
 * ref: train_one_gpu.py (lines 284-286, 333):
 *   seg_loss = monai.losses.DiceLoss(sigmoid=True, squared_pred=True, reduction="mean")
 *   ce_loss  = nn.BCEWithLogitsLoss(reduction="mean")
 *   loss = seg_loss(medsam_pred, gt2D) + ce_loss(medsam_pred, gt2D.float())
 * with medsam_pred the logits (B, 1, 1024, 1024) and gt2D the binary masks.
 *
 * monai DiceLoss with those settings (monai 1.1/1.2; also what later versions
 * compute for these options), per plane b (a (batch, channel) pair; the spatial
 * dims are reduced, batch=False):
 *   p = sigmoid(x), I = sum(p*g), Ps = sum(p^2), Gs = sum(g^2)
 *   dice_b = 1 - (2 I + 1e-5) / (Gs + Ps + 1e-5);   dice = mean_b dice_b
 * BCEWithLogits: mean over all B*HW elements of max(x,0) - x*g + log(1 + exp(-|x|)).
 * Statistics and sums are accumulated in double.
 */
#ifndef MS_TRAIN_LOSS_H
#define MS_TRAIN_LOSS_H

/* Per-plane sums kept by the forward for the backward. */
typedef struct {
    double inter;     // sum p * g
    double pred_sq;   // sum p^2
    double gt_sq;     // sum g^2
    double bce_sum;   // sum of the per-element BCE terms
} loss_dice_bce_stats;

/* loss: {total, dice, bce} (total = dice + bce); stats: (B) per plane;
 * logits, target: (B, HW). Single-threaded (a few ms for 2 x 1024^2). */
void loss_dice_bce_forward(double loss[3], loss_dice_bce_stats *stats, const float *logits, const float *target,
                           int B, long HW);

/* dlogits (B, HW) += dloss * d(total)/d(logits), from the forward's stats. */
void loss_dice_bce_backward(float *dlogits, const loss_dice_bce_stats *stats, const float *logits,
                            const float *target, float dloss, int B, long HW, int nthreads);

#endif
