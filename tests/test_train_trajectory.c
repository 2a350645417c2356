/* test_train_trajectory.c — 10 steps of `medsam train` against the official training
 * loop in PyTorch (tools/ref/make_train_trajectory.py): the tiny fixture model
 * (tests/fixtures/tiny/model.pth), 4 samples of 128 x 128 with several labels each,
 * batch 2, 5 epochs, AdamW lr 1e-3, weight decay 0.01, bbox shift 0, seed 2023.
 *
 * The C side is the library's training path exactly as `medsam train` runs it:
 * ms_dataset_open on npy files written here, ms_train_run (shuffle, label choice,
 * boxes, AdamW, checkpoints, log.csv) with a loss_grad hook that calls
 * ms_model_loss_grad, the same one-line binding as cli/cmd_train.c.
 *
 * Checks and tolerances:
 * - every step draws the same samples, labels (mask == gts == label, exactly) and
 *   boxes (exactly) as the Python run, and the images are bit-identical;
 * - every step's loss (total, dice, bce) within 1e-4 relative of torch float32
 *   (the tolerance; the worst is printed, with the distance to the float64 run);
 * - weight change D = final - initial, per tensor: the set of tensors that moved
 *   equals torch's; relative error of ||D|| and the relative L2 error of 16 +-1
 *   projections of D (an estimate of the tensor's relative L2 error) <= 1e-4; 16
 *   sampled elements within 1e-3 of the tensor's rms change; the whole model's
 *   relative L2 error of D (from the projections) is printed. Exception: the 7
 *   attention key biases of the mask decoder, whose gradient is rounding noise on
 *   both sides (zero_grad_exact): their change beyond weight decay must stay under
 *   10% of 10 AdamW steps (C every element, torch the sampled ones);
 * - the same digest of the torch float64 run is printed for scale (not checked);
 * - log.csv of the run holds the 10 step losses (%.9g) within 1e-7 relative. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/model_internal.h"
#include "core/npy.h"
#include "test.h"
#include "train/dataset.h"
#include "train/model_grad.h"
#include "train/trainer.h"

#define FIX "tests/fixtures/trajectory/"
#define NSAMP 4
#define BATCH 2
#define EPOCHS 5
#define STEPS (EPOCHS * NSAMP / BATCH)
#define KPROJ 16
#define MSAMP 16
#define SCOLS 10  /* steps.npy columns */
#define LOSS_RTOL 1e-4
#define WTOL 1e-4 /* per-tensor relative error of the weight change (measured worst 2.8e-5) */
#define ETOL 1e-3 /* sampled elements: |dC - dT| / rms(dT) of the tensor (measured worst 1.3e-4) */
#define LR 1e-3
#define WD 0.01

/* same arithmetic as make_train_trajectory.py:traj_hash */
static uint32_t traj_hash(uint64_t i, uint64_t seed) {
    const uint64_t m = 0xFFFFFFFFull;
    uint64_t x = (i * 2654435761ull + seed * 40503ull) & m;
    x ^= x >> 15;
    x = (x * 2246822519ull) & m;
    x ^= x >> 13;
    x = (x * 3266489917ull) & m;
    x ^= x >> 16;
    return (uint32_t)x;
}

typedef struct {
    medsam_model *model;
    ms_grad_ctx *gctx;
    const uint8_t *gts;  // (NSAMP, S, S) label maps
    const float *imgs;   // (NSAMP, S, S, 3) the images written to the data folder
    const double *steps; // (STEPS, SCOLS) reference rows
    const double *boxes; // (STEPS, BATCH, 4) reference boxes
    int S, step;         /* step: loss_grad calls so far */
    int bad_data;        /* steps whose images / masks / boxes differ from the Python run */
    double loss[STEPS][3];
} traj_run;

/* The loss_grad hook: checks the batch against the Python run, then the library's step. */
static medsam_status traj_loss_grad(void *ctx, const float *params, float *grads, const float *images,
                                    const float *boxes, const float *gt, int B, double loss[3], medsam_error *err) {
    (void)params; /* the model's weight views point into the trained buffer */
    traj_run *r = ctx;
    const int S = r->S;
    const size_t plane = (size_t)S * S;
    if (r->step < STEPS && B == BATCH) {
        const double *row = r->steps + (size_t)r->step * SCOLS;
        for (int b = 0; b < B; b++) {
            const int idx = (int)row[6 + 2 * b], label = (int)row[7 + 2 * b];
            const uint8_t *g = r->gts + (size_t)idx * plane;        // (S, S)
            const float *im = r->imgs + (size_t)idx * plane * 3;    // (S, S, 3)
            long diff = 0;
            for (size_t p = 0; p < plane; p++) {
                diff += gt[b * plane + p] != (g[p] == label ? 1.0f : 0.0f);
                for (int c = 0; c < 3; c++) diff += images[(b * 3 + c) * plane + p] != im[p * 3 + c];
            }
            for (int k = 0; k < 4; k++) diff += boxes[4 * b + k] != (float)r->boxes[((size_t)r->step * BATCH + b) * 4 + k];
            if (diff) {
                printf("  step %d sample %d: %ld values differ from Python's sample %d label %d (box %g %g %g %g)\n",
                       r->step + 1, b, diff, idx, label, boxes[4 * b], boxes[4 * b + 1], boxes[4 * b + 2],
                       boxes[4 * b + 3]);
                r->bad_data++;
            }
        }
    } else {
        r->bad_data++;
    }
    r->step++;
    return ms_model_loss_grad(r->gctx, &r->model->cfg, &r->model->w, grads, images, boxes, gt, B, loss, err);
}

static void traj_progress(void *ctx, const ms_train_report *rep) {
    traj_run *r = ctx;
    const int64_t t = rep->global_step - 1;
    if (!rep->is_validation && t >= 0 && t < STEPS)
        for (int k = 0; k < 3; k++) r->loss[t][k] = rep->loss[k];
}

static int read_f64(const char *path, ms_npy *a, long count) {
    medsam_error err = {0};
    if (ms_npy_read(path, a, &err) != MEDSAM_OK) { CHECK(0, "%s", err.message); return 1; }
    if (a->dtype != MS_NPY_F64 || a->count != count) {
        CHECK(0, "%s: expected %ld float64 values, got %lld", path, count, (long long)a->count);
        ms_npy_free(a);
        return 1;
    }
    return 0;
}

/* DIR/imgs/caseN.npy (S, S, 3) float32 and DIR/gts/caseN.npy (S, S) uint8, images from traj_hash. */
static int write_data(const char *dir, const uint8_t *gts, float *imgs, int S) {
    char p[1024];
    snprintf(p, sizeof p, "%s/imgs", dir);
    if (mkdir(p, 0777)) return 1;
    snprintf(p, sizeof p, "%s/gts", dir);
    if (mkdir(p, 0777)) return 1;
    const size_t plane = (size_t)S * S;
    for (int n = 0; n < NSAMP; n++) {
        const uint8_t *g = gts + n * plane;
        float *im = imgs + n * plane * 3; // (S, S, 3)
        for (int c = 0; c < 3; c++)
            for (size_t q = 0; q < plane; q++) {
                const double noise = (double)(traj_hash(((uint64_t)n * 3 + c) * plane + q, 7) >> 8) / 16777216.0;
                im[q * 3 + c] = (float)(noise * 0.5 + 0.0625 * g[q]);
            }
        medsam_error err = {0};
        const int64_t si[3] = {S, S, 3}, sg[2] = {S, S};
        snprintf(p, sizeof p, "%s/imgs/case%d.npy", dir, n);
        if (ms_npy_write(p, MS_NPY_F32, 3, si, im, &err)) return 1;
        snprintf(p, sizeof p, "%s/gts/case%d.npy", dir, n);
        if (ms_npy_write(p, MS_NPY_U8, 2, sg, g, &err)) return 1;
    }
    return 0;
}

/* Attention key biases of the mask decoder: their gradient is zero in exact arithmetic
 * (a bias shared by all keys shifts every logit of a query equally, and softmax ignores
 * that), so both sides hold rounding noise of ~1e-11, which AdamW turns into steps of about
 * lr * 1e-11 / eps. Their change is checked against pure weight decay instead. */
static int zero_grad_exact(const char *name) {
    const size_t n = strlen(name);
    return n > 11 && strcmp(name + n - 11, "k_proj.bias") == 0;
}

/* init * (1 - lr * wd)^STEPS, rounded in float at every step as torch's param.mul_ does. */
static float decay_only(float p) {
    const float dec = (float)(1.0 - LR * WD);
    for (int i = 0; i < STEPS; i++) p *= dec;
    return p;
}

/* Per-tensor comparison of the weight change with a digest (make_train_trajectory.py:digest);
 * tol 0: report only. */
static void check_weights(const ms_param_table *tab, const float *init, const float *final, const char *path,
                          const char *what, double tol) {
    const int cols = 2 + KPROJ + MSAMP;
    ms_npy a;
    if (read_f64(path, &a, (long)tab->count * cols)) return;
    const double *rows = a.data;
    FILE *names = fopen(FIX "names.txt", "r");
    CHECK(names != NULL, "cannot open " FIX "names.txt");
    char line[256];
    int misnamed = 0;
    double worst_proj = 0, worst_norm = 0, sum_dn = 0, sum_rn = 0, worst_elem = 0, worst_noise = 0;
    const char *wp = "", *wn = "";
    int moved = 0, bad = 0, nzero = 0;
    for (int k = 0; k < tab->count; k++) {
        const ms_param *p = &tab->items[k];
        const double *r = rows + (size_t)k * cols;
        if (names && fgets(line, sizeof line, names)) {
            line[strcspn(line, "\n")] = 0;
            misnamed += strcmp(line, p->name) != 0;
        }
        double norm = 0, proj[KPROJ] = {0};
        int changed = 0;
        for (size_t j = 0; j < p->numel; j++) {
            const double d = (double)final[p->offset + j] - init[p->offset + j];
            changed |= d != 0;
            norm += d * d;
            for (int q = 0; q < KPROJ; q++) proj[q] += (traj_hash(j * KPROJ + q, 1000 + (uint64_t)k) >> 31) ? -d : d;
        }
        norm = sqrt(norm);
        if (changed != (r[0] != 0)) {
            bad++;
            printf("  %s: %s (torch: %s)\n", p->name, changed ? "moved" : "unchanged", r[0] != 0 ? "moved" : "unchanged");
            continue;
        }
        if (!changed) continue;
        moved++;
        if (zero_grad_exact(p->name)) { /* |change - weight decay| of C (every element) and torch (samples) */
            nzero++;
            for (size_t j = 0; j < p->numel; j++)
                worst_noise = fmax(worst_noise, fabs((double)final[p->offset + j] - decay_only(init[p->offset + j])));
            for (int m = 0; m < MSAMP; m++) {
                const size_t j = traj_hash((uint64_t)m, 5000 + (uint64_t)k) % p->numel;
                const double dd = (double)decay_only(init[p->offset + j]) - init[p->offset + j];
                worst_noise = fmax(worst_noise, fabs(r[2 + KPROJ + m] - dd));
            }
            continue;
        }
        double dn = 0, rn = 0, en = 0;
        for (int q = 0; q < KPROJ; q++) dn += (proj[q] - r[2 + q]) * (proj[q] - r[2 + q]), rn += r[2 + q] * r[2 + q];
        for (int m = 0; m < MSAMP; m++) {
            const size_t j = traj_hash((uint64_t)m, 5000 + (uint64_t)k) % p->numel;
            const double d = (double)final[p->offset + j] - init[p->offset + j];
            en = fmax(en, fabs(d - r[2 + KPROJ + m]) / r[1] * sqrt((double)p->numel));
        }
        const double prel = sqrt(dn / rn), nrel = fabs(norm - r[1]) / r[1];
        sum_dn += dn, sum_rn += rn;
        if (prel > worst_proj) worst_proj = prel, wp = p->name;
        if (nrel > worst_norm) worst_norm = nrel, wn = p->name;
        worst_elem = fmax(worst_elem, en);
        if (tol > 0 && (prel > tol || nrel > tol || en > ETOL)) {
            bad++;
            printf("  %s: weight change projection rel L2 %.2e, norm rel %.2e (> %.0e), sampled elements %.2e (> %.0e)\n",
                   p->name, prel, nrel, tol, en, ETOL);
        }
    }
    ms_npy_free(&a);
    if (names) fclose(names);
    CHECK(misnamed == 0, "%d tensors of " FIX "names.txt differ from the parameter table", misnamed);
    printf("  weight change vs %s: %d tensors moved; worst tensor: projection rel L2 %.2e (%s), norm rel %.2e "
           "(%s); sampled elements: worst |dC - dT| / rms(dT) %.2e; whole model rel L2 %.2e (projections)\n",
           what, moved - nzero, worst_proj, wp, worst_norm, wn, worst_elem, sqrt(sum_dn / sum_rn));
    printf("  %d attention key biases (zero gradient in exact arithmetic): largest change beyond weight decay "
           "%.2e (C and torch; an AdamW step is ~%.0e)\n", nzero, worst_noise, LR);
    if (tol > 0) {
        CHECK(bad == 0, "weight change vs %s: %d tensors beyond %.0e", what, bad, tol);
        CHECK(nzero == 7 && worst_noise <= 0.1 * LR * STEPS,
              "%d key biases, change beyond weight decay %.2e (> 10%% of %d AdamW steps)", nzero, worst_noise, STEPS);
    }
}

/* log.csv's step lines against the losses reported to the progress hook. */
static void check_log(const char *path, const traj_run *r) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    char line[512];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        long long ep, st, gs;
        double l, d, b;
        if (sscanf(line, "step,%lld,%lld,%lld,%lf,%lf,%lf", &ep, &st, &gs, &l, &d, &b) != 6) continue;
        if (gs < 1 || gs > STEPS) { bad++; continue; }
        const double *ref = r->steps + (size_t)(gs - 1) * SCOLS;
        if (fabs(l - ref[0]) > LOSS_RTOL * fabs(ref[0]) || fabs(l - r->loss[gs - 1][0]) > 1e-7 * fabs(l)) bad++;
        n++;
    }
    fclose(f);
    CHECK(n == STEPS && bad == 0, "log.csv: %d step lines (want %d), %d differ", n, STEPS, bad);
    if (n == STEPS && bad == 0) printf("  log.csv: %d step losses = the reported ones (%%.9g)\n", n);
}

int main(void) {
    medsam_error err = {0};
    ms_npy gn = {0}, sn = {0}, bn = {0};
    medsam_model *model = NULL;
    if (medsam_model_load("tests/fixtures/tiny/model.pth", &model, &err)) {
        CHECK(0, "%s", err.message);
        return t_summary();
    }
    const int S = model->cfg.img_size;
    const size_t plane = (size_t)S * S;
    if (ms_npy_read(FIX "gts.npy", &gn, &err) || gn.dtype != MS_NPY_U8 || gn.count != (int64_t)(NSAMP * plane) ||
        read_f64(FIX "steps.npy", &sn, STEPS * SCOLS) || read_f64(FIX "boxes.npy", &bn, STEPS * BATCH * 4)) {
        CHECK(0, "trajectory fixtures missing or malformed: %s", err.message);
        medsam_model_free(model);
        return t_summary();
    }
    char tmp[] = "/tmp/ms_trajXXXXXX", data[64], run[64], log[128];
    float *imgs = malloc(NSAMP * plane * 3 * sizeof *imgs);
    float *init = malloc(model->table.total * sizeof *init);
    CHECK(mkdtemp(tmp) != NULL && imgs && init, "temp folder");
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(run, sizeof run, "%s/run", tmp);
    snprintf(log, sizeof log, "%s/log.csv", run);
    CHECK(mkdir(data, 0777) == 0 && write_data(data, gn.data, imgs, S) == 0, "writing the npy data to %s", data);
    memcpy(init, model->params, model->table.total * sizeof *init);

    traj_run r = {.model = model, .gts = gn.data, .imgs = imgs, .steps = sn.data, .boxes = bn.data, .S = S};
    ms_dataset ds;
    medsam_status s = ms_dataset_open(data, S, &ds, &err);
    CHECK(s == MEDSAM_OK && ds.count == NSAMP, "ms_dataset_open: %s", err.message);
    r.gctx = s ? NULL : ms_grad_ctx_new(&model->cfg, BATCH, 2, &err);
    CHECK(r.gctx != NULL, "ms_grad_ctx_new: %s", err.message);
    if (r.gctx) {
        // as `medsam train --epochs 5 --batch 2 --lr 1e-3 --weight-decay 0.01 --bbox-shift 0 --seed 2023`
        ms_train_options o = {.out_dir = run, .epochs = EPOCHS, .batch = BATCH, .lr = LR, .weight_decay = WD,
                              .bbox_shift = 0, .seed = 2023, .val_fraction = 0, .nthreads = 2};
        ms_train_hooks h = {.ctx = &r, .loss_grad = traj_loss_grad, .gets_grad = ms_param_gets_grad,
                            .progress = traj_progress, .progress_ctx = &r};
        s = ms_train_run(&o, &model->table, model->params, &ds, &h, &err);
        CHECK(s == MEDSAM_OK, "ms_train_run: %s", err.message);
        CHECK(r.step == STEPS && r.bad_data == 0,
              "%d steps (want %d); %d batches differ from the Python run in sample order, label, mask, image or box",
              r.step, STEPS, r.bad_data);
        if (!s && r.bad_data == 0) printf("  sample order, labels, masks, images and boxes = Python's at all %d steps\n",
                                          STEPS);
    }
    if (!s) {
        const double *st = sn.data;
        double worst = 0, worst64 = 0, worst_ref = 0;
        int worst_t = 0;
        const char *what[3] = {"loss", "dice", "bce"};
        for (int t = 0; t < STEPS; t++) {
            const double *row = st + (size_t)t * SCOLS;
            for (int k = 0; k < 3; k++) {
                const double rel = fabs(r.loss[t][k] - row[k]) / fabs(row[k]);
                const double rel64 = fabs(r.loss[t][k] - row[3 + k]) / fabs(row[3 + k]);
                const double tr = fabs(row[k] - row[3 + k]) / fabs(row[3 + k]);
                CHECK(rel <= LOSS_RTOL, "step %d %s: C %.9g vs torch %.9g (rel %.2e > %.0e)", t + 1, what[k],
                      r.loss[t][k], row[k], rel, LOSS_RTOL);
                if (rel > worst) worst = rel, worst_t = t;
                worst64 = fmax(worst64, rel64);
                worst_ref = fmax(worst_ref, tr);
            }
            printf("  step %2d loss C %.9f torch %.9f (rel %.1e), dice %.6f bce %.6f\n", t + 1, r.loss[t][0], row[0],
                   fabs(r.loss[t][0] - row[0]) / row[0], r.loss[t][1], r.loss[t][2]);
        }
        printf("  per-step losses (total, dice, bce): worst rel error vs torch float32 %.2e (step %d, tolerance "
               "%.0e); vs the float64 run %.2e (torch float32 vs float64: %.2e)\n",
               worst, worst_t + 1, LOSS_RTOL, worst64, worst_ref);
        check_weights(&model->table, init, model->params, FIX "weights.npy", "torch float32", WTOL);
        check_weights(&model->table, init, model->params, FIX "weights64.npy", "torch float64", 0);
        check_log(log, &r);
    }
    if (r.gctx) ms_grad_ctx_free(r.gctx);
    if (ds.names) ms_dataset_free(&ds);
    t_rmtree(tmp);
    free(imgs);
    free(init);
    ms_npy_free(&gn);
    ms_npy_free(&sn);
    ms_npy_free(&bn);
    medsam_model_free(model);
    return t_summary();
}
