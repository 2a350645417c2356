/* trainer.h — the training loop of train_one_gpu.py: epochs over a shuffled
 * dataset, AdamW on image_encoder + mask_decoder parameters, Dice + BCE loss,
 * latest.pth every epoch (and every save_every steps), best.pth on the best
 * validation loss (the epoch's training loss when there is no validation split,
 * as the official script does), RUNDIR/log.csv, and exact resume.
 *
 * The model enters only through ms_train_hooks (the real backward in the CLI, a
 * stub in the tests). Gradients of each step pass through one `allreduce` hook
 * between the backward and the optimizer step: identity (NULL) for a single
 * process.
 *
 * Data parallel (options world > 1, one ms_train_run per process, rank 0..world-1):
 * a step takes a global batch of batch * world samples, in the order and with the
 * label and box-jitter draws of a single process run with --batch batch * world.
 * Every process draws for the whole global batch (ms_dataset_draw for the samples
 * of the others, which reads only their label maps) and trains on its own
 * contiguous part: samples [rank * nb / world, (rank + 1) * nb / world) of the nb
 * in the step (a short last batch gives some processes fewer, or none). Its grads
 * and loss are scaled by (its samples) / nb, then the allreduce hook SUMS them
 * over processes, so every process holds the gradient of the global batch's mean
 * loss and takes the same AdamW step. The hook also ORs the stop flags (each read
 * just before the exchange), so all processes stop after the same step: the step
 * during which the first flag was raised. Only rank 0 creates the run folder,
 * validates and writes checkpoints and log.csv; every process resumes from the
 * same checkpoint file. Equal to the single-process run up to fp32 summation order.
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
    /* Data-parallel hook (world > 1): sum grads (n floats) and loss (3) over processes in
     * place, the same values on every process; *stop: in, this process's stop flag; out,
     * 1 when any process has it set. NULL: identity (a single process). */
    medsam_status (*allreduce)(void *ctx, float *grads, size_t n, double loss[3], int *stop, medsam_error *err);
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
    int lr_on_resume;        /* 1: a resumed run trains at `lr` (a step schedule); 0: at the checkpoint's lr */
    int bbox_shift;
    int64_t seed;
    double val_fraction;
    int save_every;          /* also write latest.pth every N steps (0: epochs only) */
    int nthreads;
    const volatile sig_atomic_t *stop; /* set by a signal handler: finish the step, save, return */
    int rank, world;         /* data parallel: this process and the number of processes (world 0 or 1:
                                a single process; world > 1 needs the allreduce hook) */
} ms_train_options;

/* Trains params (table->total floats) in place. Returns MEDSAM_OK when all epochs
 * are done; MEDSAM_ERR_IO with "interrupted" in the message when *stop was set
 * (latest.pth written first); another code with a one-line message on failure. */
medsam_status ms_train_run(const ms_train_options *o, const ms_param_table *table, float *params,
                           const ms_dataset *ds, const ms_train_hooks *h, medsam_error *err);

#endif
