/* test_train_shard.c — data-parallel training (trainer.h, world > 1) without MPI:
 * W trainers run in W threads of this process and exchange gradients through an
 * in-memory allreduce (sum in rank order, the same values on every rank), with a
 * stub model whose per-sample loss depends on the image, the box and the mask.
 * Checked: ms_dataset_draw makes exactly the draws of ms_dataset_load; 2 ranks of
 * batch 1 end with bit-identical weights, optimizer state, generator and log
 * equal to one process with batch 2 (the stub's per-sample grads scale by powers
 * of two, so no rounding differs); 3 ranks of batch 2 over 7 samples (short last
 * batch, a rank without samples) equal one process of batch 6 within 1e-6; only
 * rank 0 writes; a stop flag raised on rank 1 alone stops every rank after the
 * same step, and resuming all ranks from rank 0's latest.pth ends where an
 * uninterrupted run does. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/npy.h"
#include "test.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/trainer.h"

#define SH_S 16   /* image size */
#define SH_P 10   /* parameters */
#define SH_MAXW 4 /* ranks at most */

/* parameters: an "image_encoder" block of 6, a frozen "prompt_encoder" one of 1,
 * a "mask_decoder" block of 3 */
static const ms_param sh_items[3] = {
    {"image_encoder.w", 2, {2, 3}, 0, 6, 1},
    {"prompt_encoder.frozen", 1, {1}, 6, 1, 0},
    {"mask_decoder.v", 1, {3}, 7, 3, 1},
};
static const ms_param_table sh_table = {(ms_param *)sh_items, 3, SH_P};

static int sh_gets_grad(const ms_param *p) { return strncmp(p->name, "prompt_encoder", 14) != 0; }

/* per-sample target of each parameter: mixes the image mean, the box and the mask area */
static void sh_target(const float *img, const float *box, const float *gt, double tg[SH_P]) {
    double m = 0, a = 0;
    for (int i = 0; i < 3 * SH_S * SH_S; i++) m += img[i] * (1 + i % 5);
    for (int i = 0; i < SH_S * SH_S; i++) a += gt[i] * (1 + i % 3);
    for (int i = 0; i < SH_P; i++) tg[i] = m / (3 * SH_S * SH_S) * (i % 4) - box[i % 4] / SH_S + a / (SH_S * SH_S) * (i % 3);
}

/* loss = mean over the B samples of sum_i 0.5 (p_i - t_i)^2 + 0.1 p_i^3 (a cubic term:
 * the gradient is not linear in the target mean) */
static medsam_status sh_loss_grad(void *ctx, const float *params, float *grads, const float *images,
                                  const float *boxes, const float *gt, int B, double loss[3], medsam_error *err) {
    (void)ctx, (void)err;
    double l = 0;
    for (int b = 0; b < B; b++) {
        double tg[SH_P];
        sh_target(images + (size_t)b * 3 * SH_S * SH_S, boxes + 4 * b, gt + (size_t)b * SH_S * SH_S, tg);
        for (int i = 0; i < SH_P; i++) {
            if (i == 6) continue; /* frozen */
            double d = params[i] - tg[i];
            l += (0.5 * d * d + 0.1 * params[i] * params[i] * params[i]) / B;
            grads[i] += (float)((d + 0.3 * params[i] * params[i]) / B);
        }
    }
    loss[0] = l, loss[1] = 0.75 * l, loss[2] = 0.25 * l;
    return MEDSAM_OK;
}

static medsam_status sh_evaluate(void *ctx, const float *params, const float *image, const float box[4],
                                 const float *gt, double loss[3], double *dsc, medsam_error *err) {
    float g[SH_P] = {0};
    medsam_status s = sh_loss_grad(ctx, params, g, image, box, gt, 1, loss, err);
    *dsc = 1.0 / (1.0 + loss[0]);
    return s;
}

/* ---- the in-memory "communicator": W threads, a barrier, sums in rank order ---- */
typedef struct {
    pthread_barrier_t bar;
    int world;
    float *grads[SH_MAXW];
    double loss[SH_MAXW][3];
    int stop[SH_MAXW];
} sh_comm;

typedef struct {
    sh_comm *comm;
    int rank;
    /* the run of this rank */
    const ms_dataset *ds;
    const char *out, *resume;
    int batch, epochs, save_every;
    int64_t stop_at; /* raise this rank's stop flag after this global step (0: never) */
    float params[SH_P];
    float grad1[SH_P]; /* the reduced gradient of the first step (AdamW hides a wrong scale in the weights) */
    int steps_seen;
    volatile sig_atomic_t stop;
    medsam_status status;
    medsam_error err;
} sh_rank;

static medsam_status sh_allreduce(void *ctx, float *grads, size_t n, double loss[3], int *stop, medsam_error *err) {
    sh_rank *r = ctx;
    sh_comm *c = r->comm;
    if (!c) { /* a single process: identity, the first gradient kept */
        if (r->steps_seen++ == 0) memcpy(r->grad1, grads, sizeof r->grad1);
        return MEDSAM_OK;
    }
    c->grads[r->rank] = grads;
    memcpy(c->loss[r->rank], loss, sizeof c->loss[0]);
    c->stop[r->rank] = *stop;
    pthread_barrier_wait(&c->bar);
    float sum[SH_P];
    double ls[3] = {0, 0, 0};
    int any = 0;
    for (size_t i = 0; i < n && i < SH_P; i++) {
        float v = c->grads[0][i];
        for (int k = 1; k < c->world; k++) v += c->grads[k][i];
        sum[i] = v;
    }
    for (int k = 0; k < c->world; k++) {
        for (int j = 0; j < 3; j++) ls[j] += c->loss[k][j];
        any |= c->stop[k];
    }
    pthread_barrier_wait(&c->bar); /* every rank has read every buffer */
    if (n != SH_P) return ms_error(err, MEDSAM_ERR_ARG, "allreduce: %zu values", n);
    memcpy(grads, sum, sizeof sum);
    if (r->steps_seen++ == 0) memcpy(r->grad1, grads, sizeof r->grad1);
    memcpy(loss, ls, sizeof ls);
    *stop = any;
    return MEDSAM_OK;
}

static void sh_progress(void *ctx, const ms_train_report *r) {
    sh_rank *k = ctx;
    if (!r->is_validation && k->stop_at > 0 && r->global_step == k->stop_at) k->stop = 1;
}

static void sh_init(float *p) {
    for (int i = 0; i < SH_P; i++) p[i] = 0.05f * (float)((i * 3) % 7) - 0.1f;
}

static void *sh_run(void *arg) {
    sh_rank *r = arg;
    int world = r->comm ? r->comm->world : 1;
    ms_train_hooks h = {.ctx = r, .loss_grad = sh_loss_grad, .evaluate = sh_evaluate, .gets_grad = sh_gets_grad,
                        .allreduce = sh_allreduce, .allreduce_ctx = r, .progress = sh_progress,
                        .progress_ctx = r};
    ms_train_options o = {.out_dir = r->out, .resume = r->resume, .epochs = r->epochs, .batch = r->batch, .lr = 5e-2,
                          .weight_decay = 0.01, .bbox_shift = 3, .seed = 11, .val_fraction = 0.25,
                          .save_every = r->save_every, .nthreads = 1, .stop = &r->stop, .rank = r->rank, .world = world};
    r->status = ms_train_run(&o, &sh_table, r->params, r->ds, &h, &r->err);
    return NULL;
}

/* Runs `world` ranks (world 1: in this thread, with an identity allreduce); rank k writes to out[k]. */
static void sh_launch(int world, sh_rank *rk, const ms_dataset *ds, char out[][600], const char *resume, int batch,
                      int epochs, int64_t stop_at_rank1) {
    static const sh_rank zero;
    sh_comm comm;
    memset(&comm, 0, sizeof comm);
    comm.world = world;
    if (world > 1) pthread_barrier_init(&comm.bar, NULL, (unsigned)world);
    pthread_t th[SH_MAXW];
    for (int k = 0; k < world; k++) {
        rk[k] = zero;
        rk[k].comm = world > 1 ? &comm : NULL;
        rk[k].rank = k, rk[k].ds = ds, rk[k].out = out[k], rk[k].resume = resume;
        rk[k].batch = batch, rk[k].epochs = epochs;
        rk[k].stop_at = k == 1 ? stop_at_rank1 : 0;
        sh_init(rk[k].params);
    }
    if (world == 1) {
        sh_run(&rk[0]);
        return;
    }
    for (int k = 0; k < world; k++) pthread_create(&th[k], NULL, sh_run, &rk[k]);
    for (int k = 0; k < world; k++) pthread_join(th[k], NULL);
    pthread_barrier_destroy(&comm.bar);
}

static void sh_write_dataset(const char *dir, int n) {
    char p[700];
    mkdir(dir, 0777);
    snprintf(p, sizeof p, "%s/imgs", dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/gts", dir);
    mkdir(p, 0777);
    medsam_error err;
    for (int k = 0; k < n; k++) {
        float img[SH_S * SH_S * 3];
        uint8_t gt[SH_S * SH_S] = {0};
        for (int i = 0; i < SH_S * SH_S * 3; i++) img[i] = (float)((i * 11 + k * 29) % 101) / 100.0f;
        for (int y = 1 + k % 4; y < 8 + k % 3; y++) /* labels 2, 5 and (odd k) 7 */
            for (int x = 2; x < 10 + k % 5; x++) gt[y * SH_S + x] = 2;
        for (int y = 10; y < 14 + k % 2; y++)
            for (int x = 1 + k % 3; x < 6; x++) gt[y * SH_S + x] = 5;
        if (k % 2)
            for (int x = 8; x < 15; x++) gt[12 * SH_S + x] = 7;
        int64_t si[3] = {SH_S, SH_S, 3}, sg[2] = {SH_S, SH_S};
        snprintf(p, sizeof p, "%s/imgs/s%02d.npy", dir, k);
        CHECK(ms_npy_write(p, MS_NPY_F32, 3, si, img, &err) == MEDSAM_OK, "write %s", p);
        snprintf(p, sizeof p, "%s/gts/s%02d.npy", dir, k);
        CHECK(ms_npy_write(p, MS_NPY_U8, 2, sg, gt, &err) == MEDSAM_OK, "write %s", p);
    }
}

static char *sh_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = calloc(1 << 16, 1);
    if (s && fread(s, 1, (1 << 16) - 1, f) == 0) s[0] = 0;
    fclose(f);
    return s;
}

static int sh_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* the training generator and step counters of a checkpoint */
static int sh_ckpt(const char *path, float *params, ms_train_progress *g) {
    medsam_error err;
    memset(g, 0, sizeof *g);
    if (ms_ckpt_load(path, &sh_table, params, NULL, NULL, g, &err)) {
        printf("load %s: %s\n", path, err.message);
        return 0;
    }
    return 1;
}

static void test_draw_equals_load(const ms_dataset *ds) {
    pyrandom a, b;
    pyrandom_seed(&a, 5);
    pyrandom_seed(&b, 5);
    float img[3 * SH_S * SH_S], gt[SH_S * SH_S];
    medsam_error err;
    int same = 1;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < ds->count; i++) {
            float ba[4], bb[4];
            same &= ms_dataset_load(ds, i, 4, &a, img, gt, ba, &err) == MEDSAM_OK;
            same &= ms_dataset_draw(ds, i, 4, &b, bb, &err) == MEDSAM_OK;
            same &= memcmp(ba, bb, sizeof ba) == 0 && memcmp(a.state, b.state, sizeof a.state) == 0 && a.index == b.index;
        }
    CHECK(same, "ms_dataset_draw: same boxes and generator state as ms_dataset_load over 3 x %d samples", ds->count);
}

static void test_two_ranks_equal_batch2(const char *tmp, const ms_dataset *ds) {
    char out[SH_MAXW][600];
    sh_rank one[1], two[2];
    snprintf(out[0], sizeof out[0], "%s/single", tmp);
    sh_launch(1, one, ds, out, NULL, 2, 3, 0);
    CHECK(one[0].status == MEDSAM_OK, "single process: %s", one[0].err.message);
    snprintf(out[0], sizeof out[0], "%s/dp0", tmp);
    snprintf(out[1], sizeof out[1], "%s/dp1", tmp);
    sh_launch(2, two, ds, out, NULL, 1, 3, 0);
    CHECK(two[0].status == MEDSAM_OK && two[1].status == MEDSAM_OK, "2 ranks: %s / %s", two[0].err.message,
          two[1].err.message);
    CHECK(memcmp(two[0].params, two[1].params, sizeof two[0].params) == 0, "2 ranks hold the same weights");
    CHECK(memcmp(two[1].grad1, one[0].grad1, sizeof one[0].grad1) == 0 && one[0].grad1[0] != 0,
          "first-step gradient of 2 ranks = 1 process's, bit for bit (%.9g vs %.9g)", two[1].grad1[0], one[0].grad1[0]);
    CHECK(memcmp(two[0].params, one[0].params, sizeof one[0].params) == 0,
          "2 ranks x batch 1 = 1 process x batch 2, bit for bit (%.9g vs %.9g)", two[0].params[0], one[0].params[0]);
    float ps[SH_P], pd[SH_P];
    ms_train_progress gs, gd;
    char p1[700], p2[700];
    snprintf(p1, sizeof p1, "%s/single/latest.pth", tmp);
    snprintf(p2, sizeof p2, "%s/dp0/latest.pth", tmp);
    if (sh_ckpt(p1, ps, &gs) && sh_ckpt(p2, pd, &gd)) {
        CHECK(memcmp(ps, pd, sizeof ps) == 0 && gs.global_step == gd.global_step && gs.batch == gd.batch &&
                  memcmp(gs.rng.state, gd.rng.state, sizeof gs.rng.state) == 0 && gs.rng.index == gd.rng.index,
              "rank 0's latest.pth = the single process's (weights, step %lld, batch %lld, generator)",
              (long long)gd.global_step, (long long)gd.batch);
        ms_train_progress_free(&gs);
        ms_train_progress_free(&gd);
    } else {
        CHECK(0, "latest.pth of both runs");
    }
    CHECK(!sh_exists(out[1]), "rank 1 wrote nothing (%s absent)", out[1]);
    snprintf(p1, sizeof p1, "%s/single/log.csv", tmp);
    snprintf(p2, sizeof p2, "%s/dp0/log.csv", tmp);
    char *la = sh_slurp(p1), *lb = sh_slurp(p2);
    /* 5 training samples (7, 2 held out): 3 steps of 2 per epoch, validation on rank 0 */
    CHECK(la && lb && strstr(lb, "step,2,3,9,") && strstr(lb, "val,2,,9,"), "rank 0's log.csv: 9 steps, validation");
    CHECK(la && lb && strcmp(la, lb) == 0, "log.csv of 2 ranks = single process's");
    free(la);
    free(lb);
}

static void test_three_ranks_short_batch(const char *tmp, const ms_dataset *ds) {
    char out[SH_MAXW][600];
    sh_rank one[1], three[3];
    /* 5 training samples, global batch 6: one short step of 5 per epoch, split 1 / 2 / 2 */
    snprintf(out[0], sizeof out[0], "%s/single6", tmp);
    sh_launch(1, one, ds, out, NULL, 6, 3, 0);
    for (int k = 0; k < 3; k++) snprintf(out[k], sizeof out[k], "%s/tri%d", tmp, k);
    sh_launch(3, three, ds, out, NULL, 2, 3, 0);
    CHECK(one[0].status == MEDSAM_OK && three[0].status == MEDSAM_OK && three[1].status == MEDSAM_OK &&
              three[2].status == MEDSAM_OK, "runs: %s / %s", one[0].err.message, three[0].err.message);
    CHECK(memcmp(three[0].params, three[2].params, sizeof three[0].params) == 0, "3 ranks hold the same weights");
    t_close("3 ranks x batch 2 vs 1 x batch 6 (short batch)", three[0].params, one[0].params, SH_P, 1e-6, 1e-6, 1e-6);
    t_close("first-step gradient, 3 ranks vs 1 process", three[2].grad1, one[0].grad1, SH_P, 1e-7, 1e-6, 1e-6);
    /* batch 1 x 3 ranks: steps of 3 and 2 per epoch (rank 0 without a sample in the short one) */
    sh_rank a[1], b[3];
    snprintf(out[0], sizeof out[0], "%s/single3", tmp);
    sh_launch(1, a, ds, out, NULL, 3, 2, 0);
    for (int k = 0; k < 3; k++) snprintf(out[k], sizeof out[k], "%s/tri_b%d", tmp, k);
    sh_launch(3, b, ds, out, NULL, 1, 2, 0);
    t_close("3 ranks x batch 1 vs 1 x batch 3", b[1].params, a[0].params, SH_P, 1e-6, 1e-6, 1e-6);
}

static void test_stop_and_resume(const char *tmp, const ms_dataset *ds) {
    char out[SH_MAXW][600];
    sh_rank full[2], cut[2], res[2];
    snprintf(out[0], sizeof out[0], "%s/full0", tmp);
    snprintf(out[1], sizeof out[1], "%s/full1", tmp);
    sh_launch(2, full, ds, out, NULL, 1, 3, 0);
    snprintf(out[0], sizeof out[0], "%s/cut0", tmp);
    snprintf(out[1], sizeof out[1], "%s/cut1", tmp);
    /* rank 1 alone raises its flag after step 3; the flags travel with the next step's
     * gradients, so both stop after step 4 (mid-epoch 2) */
    sh_launch(2, cut, ds, out, NULL, 1, 3, 3);
    CHECK(cut[0].status == MEDSAM_ERR_IO && cut[1].status == MEDSAM_ERR_IO &&
              strstr(cut[0].err.message, "interrupted after step 4") && strstr(cut[1].err.message, "after step 4"),
          "flag on rank 1 stops both after step 4: '%s' / '%s'", cut[0].err.message, cut[1].err.message);
    CHECK(!sh_exists(out[1]), "rank 1 wrote no checkpoint");
    char path[700];
    snprintf(path, sizeof path, "%s/cut0/latest.pth", tmp);
    snprintf(out[0], sizeof out[0], "%s/res0", tmp);
    snprintf(out[1], sizeof out[1], "%s/res1", tmp);
    sh_launch(2, res, ds, out, path, 1, 3, 0);
    CHECK(res[0].status == MEDSAM_OK && res[1].status == MEDSAM_OK, "resume: %s", res[0].err.message);
    CHECK(memcmp(res[0].params, full[0].params, sizeof res[0].params) == 0 &&
              memcmp(res[1].params, full[0].params, sizeof res[0].params) == 0,
          "2 ranks resumed from rank 0's latest.pth = uninterrupted");
    /* the same mid-epoch checkpoint resumed by one process with batch 2 (same global batch) */
    sh_rank one[1];
    snprintf(out[0], sizeof out[0], "%s/cut_single", tmp);
    sh_launch(1, one, ds, out, path, 2, 3, 0);
    CHECK(one[0].status == MEDSAM_OK && memcmp(one[0].params, full[0].params, sizeof one[0].params) == 0,
          "resumed by 1 process x batch 2 = uninterrupted 2 x 1: %s", one[0].err.message);
    /* ... and refused by 2 ranks of batch 2 (global batch 4) */
    sh_rank other[2];
    snprintf(out[0], sizeof out[0], "%s/cut_b4_0", tmp);
    snprintf(out[1], sizeof out[1], "%s/cut_b4_1", tmp);
    sh_launch(2, other, ds, out, path, 2, 3, 0);
    CHECK(other[0].status == MEDSAM_ERR_ARG && strstr(other[0].err.message, "global batch of 2") &&
              strstr(other[0].err.message, "--batch 2 x 2 processes"),
          "other global batch refused: %s", other[0].err.message);
}

int main(void) {
    char tmp[] = "/tmp/test_train_shardXXXXXX";
    if (!mkdtemp(tmp)) {
        CHECK(0, "mkdtemp");
        return t_summary();
    }
    char data[600];
    snprintf(data, sizeof data, "%s/data", tmp);
    sh_write_dataset(data, 7);
    ms_dataset ds;
    medsam_error err;
    if (ms_dataset_open(data, SH_S, &ds, &err) != MEDSAM_OK) {
        CHECK(0, "dataset: %s", err.message);
        return t_summary();
    }
    test_draw_equals_load(&ds);
    test_two_ranks_equal_batch2(tmp, &ds);
    test_three_ranks_short_batch(tmp, &ds);
    test_stop_and_resume(tmp, &ds);
    /* world > 1 without the hook */
    ms_train_hooks h = {.loss_grad = sh_loss_grad, .evaluate = sh_evaluate, .gets_grad = sh_gets_grad};
    ms_train_options o = {.out_dir = tmp, .epochs = 1, .batch = 1, .lr = 1e-2, .seed = 1, .nthreads = 1, .world = 2};
    float p[SH_P];
    sh_init(p);
    CHECK(ms_train_run(&o, &sh_table, p, &ds, &h, &err) == MEDSAM_ERR_ARG && strstr(err.message, "allreduce"),
          "2 processes without an allreduce hook refused: %s", err.message);
    ms_dataset_free(&ds);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmp);
    return t_summary();
}
