/* cmd_train.c — `medsam train`: fine-tune MedSAM (train_one_gpu.py) on npy data, or on
 * NIfTI / npz volumes and images preprocessed on the fly (train/dataset_volume.h).
 * The loop, checkpoints and data live in src/train/ (trainer.h); this file binds
 * the real model (ms_model_loss_grad for training steps, the inference API for
 * validation), parses options, prints progress and turns SIGINT/SIGTERM into a
 * clean stop (finish the step, write latest.pth, exit 130). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "cli.h"
#include "core/error.h"
#include "pipeline/postprocess.h"
#include "train/dataset.h"
#include "train/loss.h"
#include "train/model_grad.h"
#include "train/trainer.h"
#include "train_dist.h"

static volatile sig_atomic_t train_stop; /* the CLI process's one signal flag */

static void on_signal(int sig) {
    (void)sig;
    train_stop = 1;
}

static void train_usage(void) {
    puts("usage: medsam train --data DIR (--init CHECKPOINT.pth | --resume RUNDIR/latest.pth) --out RUNDIR\n"
         "                    [--epochs N] [--batch B] [--lr 1e-4] [--weight-decay 0.01] [--bbox-shift 20]\n"
         "                    [--seed S] [--val-fraction F] [--save-every N] [--threads N] [--mpi]\n"
         "                    [--window soft|lung|brain|bone|L,W | --mr] [--min-voxels-3d N] [--min-pixels-2d N]\n"
         "                    [--box-zoom K]\n"
         "\n"
         "Fine-tunes the image encoder and mask decoder as train_one_gpu.py does (AdamW,\n"
         "Dice + BCE loss, prompt encoder frozen). Data (DIR), one of:\n"
         "  MedSAM's npy layout: DIR/imgs/NAME.npy (S,S,3) floats in [0,1] and DIR/gts/NAME.npy\n"
         "    (S,S) label maps, S = the model's image size;\n"
         "  NIfTI pairs: DIR/imgs/NAME.nii.gz (or NAME_0000.nii.gz) and DIR/gts/NAME.nii.gz (.nii too);\n"
         "  npz files DIR/NAME.npz with imgs and gts: (H,W[,3]) uint8 images with (H,W) labels, or\n"
         "    (D,H,W) volumes with (D,H,W) labels (MedSAM / CVPR24 layout).\n"
         "Volumes give one sample per slice that holds a label, preprocessed as `medsam segment`\n"
         "does: whole-volume intensities (--window / --mr, as for segmenting), the slice resized\n"
         "to S (order 3, uint8, min-max), labels resized by nearest neighbour; objects under\n"
         "--min-voxels-3d voxels (default 1000) and, per slice, --min-pixels-2d pixels (default\n"
         "100) are removed first, as MedSAM's pre_CT_MR.py does (0: keep all).\n"
         "Each sample trains one label chosen at random, with its box enlarged by random\n"
         "0..bbox-shift pixels per side.\n"
         "\n"
         "  --data DIR          training data (imgs/ and gts/, or NAME.npz files)\n"
         "  --init FILE.pth     starting weights (e.g. medsam_vit_b.pth or sam_vit_b_01ec64.pth)\n"
         "  --resume FILE.pth   continue a run from its latest.pth (model, optimizer, epoch,\n"
         "                      step and random state: the result equals an uninterrupted run)\n"
         "  --out RUNDIR        writes latest.pth (each epoch), best.pth, log.csv\n"
         "  --epochs N          total epochs (default 1)\n"
         "  --batch B           images per step (default 2)\n"
         "  --lr X              AdamW learning rate (default 1e-4); with --resume, given: the rate from\n"
         "                      here on (a step schedule), absent: the checkpoint's\n"
         "  --weight-decay X    AdamW weight decay (default 0.01)\n"
         "  --bbox-shift N      box jitter in pixels (default 20; 0 = tight boxes)\n"
         "  --seed S            random seed (default 2023)\n"
         "  --val-fraction F    fraction held out for validation (default 0: best.pth on train loss)\n"
         "  --save-every N      also write latest.pth every N steps\n"
         "  --threads N         worker threads (default: all CPUs)\n"
         "  --window SPEC       CT volumes: clip to a window (soft L40/W400, lung, brain, bone or L,W)\n"
         "  --mr                volumes: 0.5/99.5 percentiles of the voxels > 0 (default for all but\n"
         "                      uint8 volumes, which are used as they are)\n"
         "  --min-voxels-3d N   drop 3-D label objects under N voxels (default 1000)\n"
         "  --min-pixels-2d N   then drop per-slice objects under N pixels (default 100)\n"
         "  --box-zoom K        npz / NIfTI data: cut a sample whose box is small to the square of side\n"
         "                      K x the box's longer side around it (at least 32 px), as `medsam segment\n"
         "                      --box-zoom K` does; the box is drawn and jittered at the slice's size\n"
         "                      (default 0: off, MedSAM's training)\n"
         "  --mpi               data parallel over MPI (builds made with `make MPI=1`; implied when\n"
         "                      started by mpirun): each of P processes trains B of every global\n"
         "                      batch of B x P samples, the same run as one process with --batch B x P");
}

typedef struct {
    medsam_model *model;
    ms_grad_ctx *gctx;
    int nthreads;
} train_cli_model;

static medsam_status cli_loss_grad(void *ctx, const float *params, float *grads, const float *images,
                                   const float *boxes, const float *gt, int B, double loss[3], medsam_error *err) {
    (void)params; /* the model's weight views point into the same buffer */
    train_cli_model *m = ctx;
    return ms_model_loss_grad(m->gctx, &m->model->cfg, &m->model->w, grads, images, boxes, gt, B, loss, err);
}

/* Validation forward: the inference path (encode + decode), logits upsampled to
 * S as MedSAM.forward does, Dice + BCE loss and DSC of logits > 0. */
static medsam_status cli_evaluate(void *ctx, const float *params, const float *image, const float box[4],
                                  const float *gt, double loss[3], double *dsc, medsam_error *err) {
    (void)params;
    train_cli_model *m = ctx;
    const int S = m->model->cfg.img_size, L = 4 * m->model->cfg.grid;
    const size_t plane = (size_t)S * S;
    float *hwc = malloc(plane * 3 * sizeof *hwc), *low = malloc((size_t)L * L * sizeof *low);
    float *up = malloc(plane * sizeof *up);
    medsam_embedding *emb = NULL;
    medsam_status s = MEDSAM_OK;
    if (!hwc || !low || !up) s = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    if (!s) {
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++) hwc[p * 3 + c] = image[c * plane + p];
        s = medsam_encode(m->model, hwc, m->nthreads, &emb, err);
    }
    medsam_box b = {box[0], box[1], box[2], box[3]};
    if (!s) s = medsam_decode_boxes(m->model, emb, S, S, &b, 1, m->nthreads, low, NULL, NULL, err);
    if (!s) {
        ms_upsample_bilinear_f32(low, L, L, S, S, up);
        loss_dice_bce_stats st;
        loss_dice_bce_forward(loss, &st, up, gt, 1, (long)plane);
        double inter = 0, sp = 0, sg = 0;
        for (size_t i = 0; i < plane; i++) {
            int p = up[i] > 0.0f;
            inter += p && gt[i] > 0.5f;
            sp += p;
            sg += gt[i] > 0.5f;
        }
        *dsc = sp + sg > 0 ? 2.0 * inter / (sp + sg) : 1.0;
    }
    medsam_embedding_free(emb);
    free(hwc);
    free(low);
    free(up);
    return s;
}

static void cli_progress(void *ctx, const ms_train_report *r) {
    (void)ctx;
    if (r->is_validation) {
        fprintf(stderr, "epoch %lld/%lld validation: loss %.5f (dice %.5f, bce %.5f), DSC %.4f\n",
                (long long)r->epoch + 1, (long long)r->epochs, r->loss[0], r->loss[1], r->loss[2], r->val_dsc);
        return;
    }
    long eta = (long)(r->eta_s + 0.5);
    fprintf(stderr, "epoch %lld/%lld step %lld/%lld (%lld/%lld): loss %.5f (dice %.5f, bce %.5f), %.2f samples/s, ETA %ld:%02ld:%02ld\n",
            (long long)r->epoch + 1, (long long)r->epochs, (long long)r->step_in_epoch, (long long)r->steps_per_epoch,
            (long long)r->global_step, (long long)r->total_steps, r->loss[0], r->loss[1], r->loss[2], r->samples_per_s,
            eta / 3600, eta / 60 % 60, eta % 60);
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_real(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cmd_train(int argc, char **argv) {
    const char *data = NULL, *init = NULL, *window = NULL;
    int mpi_flag = 0, mr = 0;
    ms_dataset_opts dopt = ms_dataset_default_opts();
    ms_train_options o = {.epochs = 1, .batch = 2, .lr = 1e-4, .weight_decay = 0.01, .bbox_shift = 20, .seed = 2023,
                          .nthreads = cli_default_threads(), .stop = &train_stop};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            train_usage();
            return 0;
        }
        if (!strcmp(a, "--mpi")) {
            mpi_flag = 1;
            continue;
        }
        if (!strcmp(a, "--mr")) {
            mr = 1;
            continue;
        }
        static const char *const known[] = {"--data", "--init", "--out", "--resume", "--epochs", "--batch", "--lr",
                                            "--weight-decay", "--bbox-shift", "--seed", "--val-fraction",
                                            "--save-every", "--threads", "--window", "--min-voxels-3d",
                                            "--min-pixels-2d", "--box-zoom"};
        int k = -1;
        for (int j = 0; j < (int)(sizeof known / sizeof known[0]); j++)
            if (!strcmp(a, known[j])) k = j;
        if (k < 0) return cli_failf("unknown option '%s' (see -h)", a);
        if (!v) return cli_failf("option '%s' needs a value", a);
        i++;
        long n = 0;
        int ok = 1;
        switch (k) {
        case 0: data = v; break;
        case 1: init = v; break;
        case 2: o.out_dir = v; break;
        case 3: o.resume = v; break;
        case 4: ok = parse_int(v, 1, 1000000, &n), o.epochs = (int)n; break;
        case 5: ok = parse_int(v, 1, 4096, &n), o.batch = (int)n; break;
        case 6: ok = parse_real(v, 0, 10, &o.lr), o.lr_on_resume = 1; break;
        case 7: ok = parse_real(v, 0, 10, &o.weight_decay); break;
        case 8: ok = parse_int(v, 0, 100000, &n), o.bbox_shift = (int)n; break;
        case 9: ok = parse_int(v, 0, 0x7fffffffL, &n), o.seed = n; break;
        case 10: ok = parse_real(v, 0, 0.9, &o.val_fraction); break;
        case 11: ok = parse_int(v, 0, 0x7fffffffL, &n), o.save_every = (int)n; break;
        case 12: ok = (o.nthreads = cli_threads(v)) > 0; break;
        case 13: window = v; break;
        case 14: ok = parse_int(v, 0, 0x7fffffffL, &n), dopt.min_voxels_3d = n; break;
        case 15: ok = parse_int(v, 0, 0x7fffffffL, &n), dopt.min_pixels_2d = n; break;
        case 16: ok = parse_real(v, 0, 100, &dopt.box_zoom); break;
        }
        if (!ok) return cli_failf("bad value '%s' for %s (see -h)", v, a);
    }
    if (!data) return cli_failf("missing --data DIR (see -h)");
    if (!o.out_dir) return cli_failf("missing --out RUNDIR (see -h)");
    if (!init && !o.resume) return cli_failf("missing --init CHECKPOINT.pth or --resume RUNDIR/latest.pth (see -h)");
    if (window && mr) return cli_failf("--window and --mr exclude each other");
    if (mr) dopt.intensity.mode = MEDSAM_INTENSITY_PERCENTILE;
    if (window) {
        medsam_error perr;
        if (medsam_intensity_parse(window, &dopt.intensity, &perr)) return cli_failf("--window: %s", perr.message);
    }
    dopt.nthreads = o.nthreads;

    cli_dist d; /* data parallel: rank, processes, allreduce hook (one process without MPI) */
    int rc = cli_dist_start(mpi_flag, &d);
    if (rc) return rc;
    medsam_error err;
    train_cli_model m = {NULL, NULL, o.nthreads};
    /* the architecture comes from --init, or from the resumed checkpoint's "model" */
    if (medsam_model_load(init ? init : o.resume, &m.model, &err)) return cli_dist_fail(&d, &err);
    if (!m.model->enc_ops->trainable) { /* before the data are scanned */
        ms_error(&err, MEDSAM_ERR_UNSUPPORTED, "%s: %s checkpoint: training is implemented for the SAM ViT family only",
                 init ? init : o.resume, m.model->enc_ops->family);
        medsam_model_free(m.model);
        return cli_dist_fail(&d, &err);
    }
    ms_dataset ds;
    if (ms_dataset_open_opts(data, m.model->cfg.img_size, &dopt, &ds, &err)) {
        medsam_model_free(m.model);
        return cli_dist_fail(&d, &err);
    }
    m.gctx = ms_grad_ctx_new(&m.model->cfg, o.batch, o.nthreads, &err);
    if (!m.gctx) {
        ms_dataset_free(&ds);
        medsam_model_free(m.model);
        return cli_dist_fail(&d, &err);
    }
    ms_train_hooks h = {.ctx = &m, .loss_grad = cli_loss_grad, .evaluate = cli_evaluate,
                        .gets_grad = ms_param_gets_grad, .progress = cli_progress};
    if ((rc = cli_dist_setup(&d, &o, &h, m.model->params, m.model->table.total, &ds, &dopt))) {
        ms_grad_ctx_free(m.gctx);
        ms_dataset_free(&ds);
        medsam_model_free(m.model);
        return rc;
    }
    if (d.rank == 0 && d.world > 1)
        fprintf(stderr, "medsam train: %d processes x batch %d = global batch %d\n", d.world, o.batch,
                d.world * o.batch);
    if (d.rank == 0 && ds.layout != MS_DATA_NPY) {
        fprintf(stderr, "medsam train: %s data: %d slices with labels from %d files",
                ds.layout == MS_DATA_NIFTI ? "NIfTI" : "npz", ds.count, ds.files);
        if (ds.files_skipped) fprintf(stderr, " (%d more skipped: no object large enough)", ds.files_skipped);
        fputc('\n', stderr);
    }
    if (d.rank == 0)
        fprintf(stderr, "medsam train: %d samples of %dx%d in %s, batch %d, %d epochs, %d threads\n", ds.count,
                ds.size, ds.size, data, o.batch, o.epochs, o.nthreads);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (d.world > 1) sigaction(SIGUSR1, &sa, NULL); /* mpirun forwards SIGUSR1 to every process */
    medsam_status s = ms_train_run(&o, &m.model->table, m.model->params, &ds, &h, &err);
    ms_grad_ctx_free(m.gctx);
    ms_dataset_free(&ds);
    medsam_model_free(m.model);
    /* several processes stop together, also those that got no signal */
    int stopped = s && (train_stop || (d.world > 1 && strstr(err.message, "interrupted")));
    if (s && !stopped) return cli_dist_fail(&d, &err);
    cli_dist_end(&d);
    if (stopped) {
        if (d.rank == 0) fprintf(stderr, "medsam: %s\n", err.message);
        return 130;
    }
    if (d.rank == 0) fprintf(stderr, "medsam train: done, %s/latest.pth\n", o.out_dir);
    return 0;
}
