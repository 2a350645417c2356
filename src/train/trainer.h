/* trainer.h — the training loop of train_one_gpu.py: epochs over a shuffled
 * dataset, AdamW on image_encoder + mask_decoder parameters, Dice + BCE loss,
 * latest.pth every epoch (and every save_every steps), best.pth on the best
 * validation loss (the epoch's training loss when there is no validation split,
 * as the official script does), RUNDIR/log.csv, and exact resume.
 *
 * The model enters only through ms_train_hooks (the real backward in the CLI, a
 * stub in the tests). Gradients of each step pass through one `allreduce` hook
 * between the backward and the optimizer step: identity (NULL) for a single
 * process; a data-parallel driver passes a function that averages grads (and the
 * loss) over processes, e.g. MPI_Allreduce(MPI_IN_PLACE, grads, n, MPI_FLOAT,
 * MPI_SUM) then a scale by 1/world — every process then takes the same step.
 *
 * Randomness: one Python-`random` generator seeded with `seed` draws, per epoch,
 * the sample order (random.shuffle) and then per sample the label and the box
 * jitter (dataset.h); validation uses its own generator re-seeded each epoch with
 * seed + 1 and tight boxes (bbox shift 0), so validation sees the same samples
 * every epoch. The generator state and the epoch's order are saved in every
 * checkpoint, so a resumed run continues exactly as an uninterrupted one. */
#ifndef MS_TRAIN_TRAINER_H
#define MS_TRAIN_TRAINER_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"
#include "model/params.h"
#include "train/dataset.h"

typedef struct ms_train_report {
    int is_validation;                 /* 0: a training step; 1: end-of-epoch validation */
    int64_t epoch, epochs;             /* 0-based current epoch, total */
    int64_t step_in_epoch, steps_per_epoch; /* 1-based step just done */
    int64_t global_step, total_steps;
    double loss[3];                    /* step: batch loss; validation: mean loss */
    double val_dsc;                    /* validation only */
    double samples_per_s, eta_s;
} ms_train_report;

typedef struct {
    void *ctx;
    /* grads (table total) += d loss / d params for the batch; loss = {total, dice, bce}.
     * images (B, 3, S, S), boxes (B, 4) x0 y0 x1 y1 in pixels, gt (B, S, S) 0/1. */
    medsam_status (*loss_grad)(void *ctx, const float *params, float *grads, const float *images, const float *boxes,
                               const float *gt, int B, double loss[3], medsam_error *err);
    /* One validation sample: loss {total, dice, bce} and DSC of the thresholded prediction. */
    medsam_status (*evaluate)(void *ctx, const float *params, const float *image, const float box[4], const float *gt,
                              double loss[3], double *dsc, medsam_error *err);
    /* Whether the optimizer updates this parameter (ms_param_gets_grad); NULL: every
     * image_encoder / mask_decoder parameter. */
    int (*gets_grad)(const ms_param *p);
    /* Data-parallel hook: reduce grads (n floats) and loss (3) over processes; NULL = identity. */
    medsam_status (*allreduce)(void *ctx, float *grads, size_t n, double loss[3], medsam_error *err);
    void *allreduce_ctx;
    /* Progress report after each step and each validation (may be NULL). */
    void (*progress)(void *ctx, const struct ms_train_report *r);
    void *progress_ctx;
} ms_train_hooks;


typedef struct {
    const char *out_dir;     /* RUNDIR (created if missing) */
    const char *resume;      /* checkpoint to resume from, or NULL */
    int epochs;              /* total epochs (a resumed run stops at the same total) */
    int batch;
    double lr, weight_decay;
    int bbox_shift;
    int64_t seed;
    double val_fraction;
    int save_every;          /* also write latest.pth every N steps (0: epochs only) */
    int nthreads;
    const volatile sig_atomic_t *stop; /* set by a signal handler: finish the step, save, return */
} ms_train_options;

/* Trains params (table->total floats) in place. Returns MEDSAM_OK when all epochs
 * are done; MEDSAM_ERR_IO with "interrupted" in the message when *stop was set
 * (latest.pth written first); another code with a one-line message on failure. */
medsam_status ms_train_run(const ms_train_options *o, const ms_param_table *table, float *params,
                           const ms_dataset *ds, const ms_train_hooks *h, medsam_error *err);

#endif
