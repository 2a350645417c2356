/* checkpoint.h — training checkpoints in train_one_gpu.py's layout, written with
 * the .pth writer (torch.load-compatible, atomic):
 *   {"model": state_dict (every table tensor, prompt encoder included),
 *    "optimizer": torch 1.13 AdamW.state_dict():
 *        {"state": {i: {"step": tensor(float), "exp_avg": T, "exp_avg_sq": T}} for the
 *                   optimizer parameters i that have been stepped,
 *         "param_groups": [{"lr", "betas": (b1, b2), "eps", "weight_decay",
 *                           "amsgrad": False, "foreach": None, "maximize": False,
 *                           "capturable": False, "params": [0 .. n-1]}]},
 *    "epoch": last completed epoch (-1 before the first; the official resume
 *             starts at epoch + 1),
 *    "medsam_train": {"format": 1, "step_in_epoch", "global_step", "best_val",
 *                     "epoch_loss_sum",
 *                     "seed", "batch", "rng": int64 (625) Python-random state,
 *                     "order": int64 (n) this epoch's sample order}}
 * The optimizer's parameter list is the official one: image_encoder parameters
 * then mask_decoder parameters, in table (= module registration) order. */
#ifndef MS_TRAIN_CHECKPOINT_H
#define MS_TRAIN_CHECKPOINT_H
#include <stdint.h>

#include "core/pyrandom.h"
#include "medsam.h"
#include "model/params.h"
#include "train/adamw.h"

typedef struct {
    int64_t epoch;         /* last completed epoch, -1 when none */
    int64_t step_in_epoch; /* batches of epoch + 1 already done (0 at an epoch boundary) */
    int64_t global_step;   /* optimizer steps so far */
    double best_val;       /* best validation loss so far (1e10 before the first) */
    double epoch_loss_sum; /* sum of the step losses of the current epoch so far */
    int64_t seed;
    int64_t batch;         /* batch size the steps were counted in */
    pyrandom rng;          /* training generator after the last completed step */
    int *order;            // (norder) sample order of the current epoch (dataset indices), owned
    int norder;
    int has_train_state;   /* 0 when loaded from a checkpoint without "medsam_train" */
} ms_train_progress;

void ms_train_progress_free(ms_train_progress *p);

/* Table indices of torch's optimizer parameter list (image_encoder.*, then
 * mask_decoder.*); idx: (table->count) at most. Returns the count. */
int ms_ckpt_optimizer_params(const ms_param_table *table, int *idx);

/* opt_param: (opt->nseg) table index of each optimizer parameter.
 * params: (table->total). opt and prog may be NULL (model-only file). */
medsam_status ms_ckpt_save(const char *path, const ms_param_table *table, const float *params, const ms_adamw *opt,
                           const int *opt_param, const ms_train_progress *prog, medsam_error *err);

/* Restores params (every table tensor, names and shapes checked: another
 * architecture is refused with the first mismatching tensor named), the optimizer
 * state and hyperparameters (when opt is not NULL; the file must then hold an
 * "optimizer" entry with one parameter per segment) and the progress. */
medsam_status ms_ckpt_load(const char *path, const ms_param_table *table, float *params, ms_adamw *opt,
                           const int *opt_param, ms_train_progress *prog, medsam_error *err);

#endif
