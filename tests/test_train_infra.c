/* test_train_infra.c — training infrastructure: Python-compatible random
 * generator, box jitter and AdamW against CPython / torch 1.13 fixtures
 * (tools/ref/make_train_fixtures.py), checkpoint round trip, resume equal to an
 * uninterrupted run (with a stub loss defined here), refused resume files. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/npy.h"
#include "core/pyrandom.h"
#include "test.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/trainer.h"
#include "weights/pth.h"

#define FIX "tests/fixtures/train/"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* Next line starting with `tag`; returns pointer after the tag, advances *cur. */
static char *next_line(char **cur, const char *tag) {
    char *p = *cur;
    while (p && *p) {
        char *eol = strchr(p, '\n');
        if (eol) *eol = 0;
        char *line = p;
        p = eol ? eol + 1 : NULL;
        if (strncmp(line, tag, strlen(tag)) == 0) { *cur = p; return line + strlen(tag); }
    }
    *cur = p;
    return NULL;
}

static void test_pyrandom(void) {
    char *txt = slurp(FIX "pyrandom.txt"), *cur = txt;
    CHECK(txt != NULL, "missing %spyrandom.txt", FIX);
    if (!txt) return;
    const int kbits[7] = {32, 1, 7, 31, 32, 64, 5};
    int seeds = 0;
    char *s;
    while ((s = next_line(&cur, "seed "))) {
        int64_t seed = strtoll(s, NULL, 10);
        pyrandom r;
        pyrandom_seed(&r, seed);
        char *l = next_line(&cur, "bits "), *e;
        int bad = 0;
        for (int i = 0; i < 7; i++) {
            uint64_t ref = strtoull(l, &e, 10);
            l = e;
            uint64_t got = pyrandom_getrandbits(&r, kbits[i]);
            if (got != ref) bad++;
        }
        l = next_line(&cur, "randint ");
        for (int i = 0; i < 10; i++) {
            int64_t ref = strtoll(l, &e, 10);
            l = e;
            int64_t got = i < 8 ? pyrandom_randint(&r, 0, 20) : i == 8 ? pyrandom_randint(&r, 0, 0)
                                                                        : pyrandom_randint(&r, 3, 1000);
            if (got != ref) bad++;
        }
        const int seq[5] = {1, 4, 5, 9, 11};
        l = next_line(&cur, "choice ");
        for (int i = 0; i < 6; i++) {
            long ref = strtol(l, &e, 10);
            l = e;
            if (seq[pyrandom_below(&r, 5)] != ref) bad++;
        }
        int x[10];
        for (int i = 0; i < 10; i++) x[i] = i;
        pyrandom_shuffle(&r, x, 10);
        l = next_line(&cur, "shuffle ");
        for (int i = 0; i < 10; i++) {
            long ref = strtol(l, &e, 10);
            l = e;
            if (x[i] != ref) bad++;
        }
        CHECK(bad == 0, "pyrandom seed %lld: %d values differ from CPython", (long long)seed, bad);
        seeds++;
    }
    CHECK(seeds == 4, "pyrandom fixture: %d seeds read", seeds);
    /* state round trip */
    pyrandom a, b;
    pyrandom_seed(&a, 9);
    for (int i = 0; i < 700; i++) pyrandom_u32(&a);
    int64_t st[PYRANDOM_N + 1];
    pyrandom_get_state(&a, st);
    CHECK(pyrandom_set_state(&b, st) == 0, "set_state");
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= pyrandom_u32(&a) == pyrandom_u32(&b);
    CHECK(same, "pyrandom state round trip continues identically");
    st[PYRANDOM_N] = 9999;
    CHECK(pyrandom_set_state(&b, st) == -1, "out-of-range index refused");
    free(txt);
}

static void test_jitter(void) {
    ms_npy g = {0};
    medsam_error err = {0};
    CHECK(ms_npy_read(FIX "jitter_gt.npy", &g, &err) == MEDSAM_OK, "%s", err.message);
    char *txt = slurp(FIX "jitter.txt"), *cur = txt;
    if (!txt || g.ndim != 2) { free(txt); ms_npy_free(&g); CHECK(0, "jitter fixture missing"); return; }
    int H = (int)g.shape[0], W = (int)g.shape[1];
    int32_t *lab = malloc(sizeof *lab * (size_t)H * W);
    for (long i = 0; i < (long)H * W; i++) lab[i] = ((uint8_t *)g.data)[i];
    char *l = next_line(&cur, "seed ");
    int seed = atoi(l), shift = atoi(strstr(l, "shift ") + 6);
    pyrandom r;
    pyrandom_seed(&r, seed);
    int bad = 0, rows = 0;
    float *mask = malloc(sizeof *mask * (size_t)H * W);
    while (cur && *cur) {
        int ref[5];
        if (sscanf(cur, "%d %d %d %d %d", &ref[0], &ref[1], &ref[2], &ref[3], &ref[4]) != 5) break;
        next_line(&cur, "");
        int32_t label;
        float box[4];
        if (ms_dataset_pick_box(lab, H, W, shift, &r, &label, box, mask, &err) != MEDSAM_OK) { bad++; break; }
        if (label != ref[0] || box[0] != ref[1] || box[1] != ref[2] || box[2] != ref[3] || box[3] != ref[4]) {
            printf("row %d: got %d %g %g %g %g ref %d %d %d %d %d\n", rows, label, box[0], box[1], box[2], box[3],
                   ref[0], ref[1], ref[2], ref[3], ref[4]);
            bad++;
        }
        long on = 0;
        for (long i = 0; i < (long)H * W; i++) on += mask[i] != ((lab[i] == label) ? 1.0f : 0.0f);
        bad += on != 0;
        rows++;
    }
    CHECK(rows == 12 && bad == 0, "box jitter vs official formula (Python random, seed %d): %d rows, %d differ", seed,
          rows, bad);
    /* shift 0: the tight box */
    pyrandom_seed(&r, 1);
    int32_t label;
    float box[4];
    ms_dataset_pick_box(lab, H, W, 0, &r, &label, box, NULL, &err);
    CHECK(label == 2 ? (box[0] == 30 && box[1] == 3 && box[2] == 45 && box[3] == 9)
          : label == 5 ? (box[0] == 1 && box[1] == 20 && box[2] == 8 && box[3] == 38)
                       : (box[0] == 12 && box[1] == 12 && box[2] == 39 && box[3] == 16),
          "bbox_shift 0 gives the tight box (label %d: %g %g %g %g)", label, box[0], box[1], box[2], box[3]);
    /* background only: refused with a message */
    int32_t zeros[4] = {0, 0, 0, 0};
    CHECK(ms_dataset_pick_box(zeros, 2, 2, 5, &r, &label, box, NULL, &err) != MEDSAM_OK &&
              strstr(err.message, "no foreground") != NULL,
          "all-background label map refused: %s", err.message);
    free(mask);
    free(lab);
    free(txt);
    ms_npy_free(&g);
}

static void read_floats(char *l, float *dst, int n) {
    char *e;
    for (int i = 0; i < n; i++) { dst[i] = strtof(l, &e); l = e; }
}

static void test_adamw(void) {
    char *txt = slurp(FIX "adamw.txt"), *cur = txt;
    CHECK(txt != NULL, "missing adamw.txt");
    if (!txt) return;
    int np, steps;
    double lr, wd;
    char *l = next_line(&cur, "nparams ");
    sscanf(l, "%d steps %d lr %lf wd %lf", &np, &steps, &lr, &wd);
    ms_adamw_segment seg[8];
    size_t total = 0;
    float params[64], ref[64];
    for (int i = 0; i < np; i++) {
        l = next_line(&cur, "init ");
        int n = (int)strtol(l, &l, 10);
        seg[i].offset = total;
        seg[i].numel = (size_t)n;
        seg[i].has_grad = i != 2; /* the fixture's parameter 2 never has a gradient */
        read_floats(l, params + total, n);
        total += (size_t)n;
    }
    medsam_error err = {0};
    ms_adamw_hparams hp = ms_adamw_defaults(lr, wd);
    ms_adamw *opt = ms_adamw_new(&hp, seg, np, total, &err);
    CHECK(opt != NULL, "%s", err.message);
    if (!opt) { free(txt); return; }
    float grads[64] = {0};
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < np; i++) {
            l = next_line(&cur, "grad ");
            if (strncmp(l, "none", 4) != 0) read_floats(l, grads + seg[i].offset, (int)seg[i].numel);
        }
        ms_adamw_step(opt, params, grads, 2);
    }
    float m_ref[64] = {0}, v_ref[64] = {0};
    int state_ok = 1;
    for (int i = 0; i < np; i++) {
        read_floats(next_line(&cur, "final "), ref + seg[i].offset, (int)seg[i].numel);
        l = next_line(&cur, "state ");
        if (strncmp(l, "none", 4) == 0) {
            state_ok &= !opt->seg[i].has_state;
            memcpy(m_ref + seg[i].offset, opt->exp_avg + seg[i].offset, seg[i].numel * sizeof(float));
            memcpy(v_ref + seg[i].offset, opt->exp_avg_sq + seg[i].offset, seg[i].numel * sizeof(float));
            continue;
        }
        float step = strtof(l, &l);
        state_ok &= opt->seg[i].has_state && opt->seg[i].step == step;
        read_floats(l, m_ref + seg[i].offset, (int)seg[i].numel);
        for (size_t k = 0; k < seg[i].numel; k++) strtof(l, &l);
        read_floats(l, v_ref + seg[i].offset, (int)seg[i].numel);
    }
    CHECK(state_ok, "AdamW step counts / stateless parameter match torch");
    t_close("adamw params after 6 steps vs torch", params, ref, (long)total, 1e-7, 1e-7, 1e-7);
    t_close("adamw exp_avg vs torch", opt->exp_avg, m_ref, (long)total, 1e-8, 1e-6, 1e-7);
    t_close("adamw exp_avg_sq vs torch", opt->exp_avg_sq, v_ref, (long)total, 1e-10, 1e-6, 1e-7);
    ms_adamw_free(opt);
    free(txt);
}


/* ---- a stub model for the training loop: a quadratic loss whose target depends
 * on the batch (image mean, box, mask), so order, jitter and labels all matter ---- */
static ms_param stub_items[4] = {
    {"image_encoder.a", 2, {4, 3}, 0, 12, 1},
    {"prompt_encoder.frozen", 1, {3}, 12, 3, 0},
    {"mask_decoder.b", 1, {5}, 15, 5, 1},
    {"mask_decoder.iou_prediction_head.c", 1, {2}, 20, 2, 1},
};
static const ms_param_table stub_table = {stub_items, 4, 22};
#define STUB_S 16

static int stub_gets_grad(const ms_param *p) { return strstr(p->name, "iou_prediction_head") == NULL; }

static void stub_targets(const float *image, const float *box, const float *gt, float *tg /* (22) */) {
    double im = 0, g = 0;
    for (int i = 0; i < 3 * STUB_S * STUB_S; i++) im += image[i];
    for (int i = 0; i < STUB_S * STUB_S; i++) g += gt[i];
    for (int i = 0; i < 22; i++)
        tg[i] = (float)(im / (3 * STUB_S * STUB_S) * (i % 3) + box[i % 4] / STUB_S - g / (STUB_S * STUB_S) * (i % 5));
}

static medsam_status stub_loss_grad(void *ctx, const float *params, float *grads, const float *images,
                                    const float *boxes, const float *gt, int B, double loss[3], medsam_error *err) {
    (void)ctx, (void)err;
    loss[0] = loss[1] = loss[2] = 0;
    for (int b = 0; b < B; b++) {
        float tg[22];
        stub_targets(images + (size_t)b * 3 * STUB_S * STUB_S, boxes + 4 * b, gt + (size_t)b * STUB_S * STUB_S, tg);
        for (int i = 0; i < 22; i++) {
            if (i >= 12 && i < 15) continue; /* prompt encoder: no gradient */
            if (i >= 20) continue;           /* IoU head: not in the loss */
            double d = params[i] - tg[i];
            loss[0] += 0.5 * d * d / B;
            grads[i] += (float)(d / B);
        }
    }
    loss[1] = loss[0];
    return MEDSAM_OK;
}

static medsam_status stub_evaluate(void *ctx, const float *params, const float *image, const float box[4],
                                   const float *gt, double loss[3], double *dsc, medsam_error *err) {
    float g[22] = {0};
    stub_loss_grad(ctx, params, g, image, box, gt, 1, loss, err);
    *dsc = 1.0 / (1.0 + loss[0]);
    return MEDSAM_OK;
}

typedef struct { volatile sig_atomic_t *stop; int64_t stop_at; int reports; } stub_progress;

static void stub_on_progress(void *ctx, const ms_train_report *r) {
    stub_progress *sp = ctx;
    sp->reports++;
    if (!r->is_validation && sp->stop && r->global_step == sp->stop_at) *sp->stop = 1;
}

static void write_stub_dataset(const char *dir, int n) {
    char p[700];
    snprintf(p, sizeof p, "%s/imgs", dir);
    mkdir(dir, 0777);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/gts", dir);
    mkdir(p, 0777);
    medsam_error err;
    for (int k = 0; k < n; k++) {
        float img[STUB_S * STUB_S * 3];
        uint8_t gt[STUB_S * STUB_S] = {0};
        for (int i = 0; i < STUB_S * STUB_S * 3; i++) img[i] = (float)((i * 7 + k * 13) % 97) / 96.0f;
        for (int y = 2 + k % 3; y < 9 + k % 4; y++)
            for (int x = 1 + k % 5; x < 12; x++) gt[y * STUB_S + x] = 1;
        for (int y = 11; y < 15; y++)
            for (int x = 3; x < 7 + k % 6; x++) gt[y * STUB_S + x] = (uint8_t)(3 + k % 2);
        int64_t si[3] = {STUB_S, STUB_S, 3}, sg[2] = {STUB_S, STUB_S};
        snprintf(p, sizeof p, "%s/imgs/case%02d.npy", dir, k);
        ms_npy_write(p, MS_NPY_F32, 3, si, img, &err);
        snprintf(p, sizeof p, "%s/gts/case%02d.npy", dir, k);
        ms_npy_write(p, MS_NPY_U8, 2, sg, gt, &err);
    }
    snprintf(p, sizeof p, "%s/gts/unpaired.npy", dir); /* no image: ignored */
    int64_t sg[2] = {STUB_S, STUB_S};
    uint8_t z[STUB_S * STUB_S] = {1};
    ms_npy_write(p, MS_NPY_U8, 2, sg, z, &err);
}

static void stub_init(float *params) {
    for (int i = 0; i < 22; i++) params[i] = 0.1f * (float)((i * 5) % 7) - 0.3f;
}

static int stub_batch = 2;
static int64_t stub_seed = 7;

static medsam_status run_stub(const char *data, const char *out, const char *resume, int64_t stop_at, int save_every,
                              float *params, medsam_error *err) {
    ms_dataset ds;
    medsam_status s = ms_dataset_open(data, STUB_S, &ds, err);
    if (s) return s;
    volatile sig_atomic_t stop = 0;
    stub_progress sp = {stop_at > 0 ? &stop : NULL, stop_at, 0};
    ms_train_hooks h = {.loss_grad = stub_loss_grad, .evaluate = stub_evaluate, .gets_grad = stub_gets_grad,
                        .progress = stub_on_progress, .progress_ctx = &sp};
    ms_train_options o = {.out_dir = out, .resume = resume, .epochs = 3, .batch = stub_batch, .lr = 1e-2,
                          .weight_decay = 0.01, .bbox_shift = 3, .seed = stub_seed, .val_fraction = 0.25,
                          .save_every = save_every, .nthreads = 2, .stop = &stop};
    s = ms_train_run(&o, &stub_table, params, &ds, &h, err);
    ms_dataset_free(&ds);
    return s;
}

static int files_equal_params(const char *a, const char *b) {
    float pa[22], pb[22];
    medsam_error err;
    ms_train_progress ga, gb;
    ms_adamw_segment seg[3] = {{0, 12, 1, 0, 0}, {15, 5, 1, 0, 0}, {20, 2, 0, 0, 0}};
    ms_adamw_hparams hp = ms_adamw_defaults(1, 0);
    ms_adamw *oa = ms_adamw_new(&hp, seg, 3, 22, &err), *ob = ms_adamw_new(&hp, seg, 3, 22, &err);
    int idx[4], n = ms_ckpt_optimizer_params(&stub_table, idx);
    int ok = n == 3 && ms_ckpt_load(a, &stub_table, pa, oa, idx, &ga, &err) == MEDSAM_OK &&
             ms_ckpt_load(b, &stub_table, pb, ob, idx, &gb, &err) == MEDSAM_OK;
    if (ok) {
        ok = memcmp(pa, pb, sizeof pa) == 0 && memcmp(oa->exp_avg, ob->exp_avg, 22 * sizeof(float)) == 0 &&
             memcmp(oa->exp_avg_sq, ob->exp_avg_sq, 22 * sizeof(float)) == 0 && ga.epoch == gb.epoch &&
             ga.global_step == gb.global_step && ga.best_val == gb.best_val && oa->seg[0].step == ob->seg[0].step &&
             memcmp(ga.rng.state, gb.rng.state, sizeof ga.rng.state) == 0 && ga.rng.index == gb.rng.index;
        ms_train_progress_free(&ga);
        ms_train_progress_free(&gb);
    } else {
        printf("load: %s\n", err.message);
    }
    ms_adamw_free(oa);
    ms_adamw_free(ob);
    return ok;
}

static void test_trainer(void) {
    char tmp[] = "/tmp/test_train_infraXXXXXX";
    if (!mkdtemp(tmp)) { CHECK(0, "mkdtemp"); return; }
    char data[600], runA[600], runB[600], path[700], path2[700];
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(runA, sizeof runA, "%s/runA", tmp);
    snprintf(runB, sizeof runB, "%s/runB", tmp);
    write_stub_dataset(data, 7);
    medsam_error err = {0};
    ms_dataset ds;
    CHECK(ms_dataset_open(data, STUB_S, &ds, &err) == MEDSAM_OK && ds.count == 7 &&
              strcmp(ds.names[0], "case00.npy") == 0,
          "dataset: 7 pairs, unpaired gt ignored (%d) %s", ds.count, err.message);
    ms_dataset_free(&ds);
    int tr[7], va[7], nt, nv;
    ms_dataset_split(7, 0.25, 7, tr, &nt, va, &nv);
    CHECK(nt == 5 && nv == 2, "split 7 x 0.25 -> 5 + 2 (%d + %d)", nt, nv);

    /* uninterrupted: 3 epochs of ceil(5/2) = 3 steps */
    float pa[22], pb[22], p0[22];
    stub_init(pa);
    stub_init(p0);
    CHECK(run_stub(data, runA, NULL, 0, 0, pa, &err) == MEDSAM_OK, "run A: %s", err.message);
    CHECK(memcmp(pa, p0, 12 * sizeof(float)) != 0, "trained parameters moved");
    CHECK(memcmp(pa + 12, p0 + 12, 3 * sizeof(float)) == 0 && memcmp(pa + 20, p0 + 20, 2 * sizeof(float)) == 0,
          "prompt encoder and IoU head untouched (no gradient -> no decay either)");
    /* interrupted after step 4 (mid epoch 1), then resumed to the end */
    stub_init(pb);
    medsam_status s = run_stub(data, runB, NULL, 4, 0, pb, &err);
    CHECK(s != MEDSAM_OK && strstr(err.message, "interrupted") != NULL, "stop flag -> interrupted: %s", err.message);
    snprintf(path, sizeof path, "%s/latest.pth", runB);
    float pr[22];
    stub_init(pr);
    CHECK(run_stub(data, runB, path, 0, 0, pr, &err) == MEDSAM_OK, "resume: %s", err.message);
    CHECK(memcmp(pa, pr, sizeof pa) == 0, "resumed run ends bit-identical to the uninterrupted one");
    snprintf(path2, sizeof path2, "%s/latest.pth", runA);
    CHECK(files_equal_params(path, path2), "latest.pth of both runs: same params, moments, steps, generator");
    snprintf(path, sizeof path, "%s/log.csv", runB);
    snprintf(path2, sizeof path2, "%s/log.csv", runA);
    char *la = slurp(path2), *lb = slurp(path);
    CHECK(la && lb && strcmp(la, lb) == 0, "log.csv of the resumed run equals the uninterrupted one");
    CHECK(la && strstr(la, "val,2,,9,") != NULL, "log.csv has the epoch-2 validation line");
    free(la);
    free(lb);
    snprintf(path, sizeof path, "%s/best.pth", runA);
    CHECK(access(path, F_OK) == 0, "best.pth written");

    /* --save-every: interrupted run whose last save came from save_every */
    /* corrupted / mismatched resume files */
    snprintf(path, sizeof path, "%s/corrupt.pth", tmp);
    snprintf(path2, sizeof path2, "%s/latest.pth", runA);
    char *raw = NULL;
    FILE *f = fopen(path2, "rb");
    long n = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        raw = malloc((size_t)n);
        if (fread(raw, 1, (size_t)n, f) != (size_t)n) n = 0;
        fclose(f);
    }
    f = fopen(path, "wb");
    if (f && raw) { fwrite(raw, 1, (size_t)n / 2, f); fclose(f); }
    free(raw);
    float pc[22];
    stub_init(pc);
    s = run_stub(data, runB, path, 0, 0, pc, &err);
    CHECK(s != MEDSAM_OK && strchr(err.message, '\n') == NULL && strstr(err.message, "corrupt.pth") != NULL,
          "truncated resume file refused in one line: %s", err.message);
    /* another architecture: a's shape differs */
    stub_items[0].shape[1] = 4;
    s = run_stub(data, runB, path2, 0, 0, pc, &err);
    stub_items[0].shape[1] = 3;
    CHECK(s != MEDSAM_OK && strstr(err.message, "image_encoder.a") && strstr(err.message, "expected shape (4,4)"),
          "mismatched architecture refused: %s", err.message);
    /* a checkpoint without "medsam_train" (as the official script writes): resume starts at
     * epoch + 1 with the generator seeded by seed + epoch + 1; from epoch -1 that is a fresh run */
    {
        ms_adamw_segment seg[3] = {{0, 12, 1, 0, 0}, {15, 5, 1, 0, 0}, {20, 2, 0, 0, 0}};
        ms_adamw_hparams hp = ms_adamw_defaults(1e-2, 0.01);
        ms_adamw *fresh = ms_adamw_new(&hp, seg, 3, 22, &err);
        int idx[4];
        ms_ckpt_optimizer_params(&stub_table, idx);
        float p_init[22];
        stub_init(p_init);
        snprintf(path, sizeof path, "%s/official_like.pth", tmp);
        CHECK(fresh && ms_ckpt_save(path, &stub_table, p_init, fresh, idx, NULL, &err) == MEDSAM_OK, "save: %s",
              err.message);
        ms_adamw_free(fresh);
        char runE[600];
        snprintf(runE, sizeof runE, "%s/runE", tmp);
        stub_init(pc);
        CHECK(run_stub(data, runE, path, 0, 0, pc, &err) == MEDSAM_OK && memcmp(pc, pa, sizeof pa) == 0,
              "resume from a checkpoint without training state at epoch -1 = fresh run %s", err.message);
    }
    /* mid-epoch checkpoint resumed with another batch size or seed */
    char runD[600];
    snprintf(runD, sizeof runD, "%s/runD", tmp);
    stub_init(pc);
    run_stub(data, runD, NULL, 4, 0, pc, &err);
    snprintf(path, sizeof path, "%s/latest.pth", runD);
    stub_batch = 3;
    s = run_stub(data, runD, path, 0, 0, pc, &err);
    stub_batch = 2;
    CHECK(s != MEDSAM_OK && strstr(err.message, "--batch 2, resumed with --batch 3"), "other batch refused: %s",
          err.message);
    stub_seed = 8;
    s = run_stub(data, runD, path, 0, 0, pc, &err);
    stub_seed = 7;
    CHECK(s != MEDSAM_OK && strstr(err.message, "--seed"), "other seed refused: %s", err.message);
    /* model-only file (no optimizer) refused for resume */
    snprintf(path, sizeof path, "%s/model_only.pth", tmp);
    CHECK(ms_ckpt_save(path, &stub_table, pa, NULL, NULL, NULL, &err) == MEDSAM_OK, "model-only save");
    s = run_stub(data, runB, path, 0, 0, pc, &err);
    CHECK(s != MEDSAM_OK && strstr(err.message, "no AdamW optimizer state"), "model-only resume refused: %s",
          err.message);
    /* save-every: the checkpoint at step 2 equals run A's state at step 2 (run to 2 steps, stop) */
    char runC[600];
    snprintf(runC, sizeof runC, "%s/runC", tmp);
    stub_init(pc);
    s = run_stub(data, runC, NULL, 5, 2, pc, &err);
    snprintf(path, sizeof path, "%s/latest.pth", runC);
    pth_file *pf = NULL;
    CHECK(s != MEDSAM_OK && pth_open(path, &pf, &err) == MEDSAM_OK, "save-every run: %s", err.message);
    if (pf) {
        int64_t gs = 0;
        pth_value_as_int(pth_dict_get(pth_dict_get(pth_root(pf), "medsam_train"), "global_step"), &gs);
        CHECK(gs == 5, "interrupted at step 5 -> latest.pth at step 5 (got %lld)", (long long)gs);
        pth_close(pf);
    }
    const char *keep = getenv("TRAIN_INFRA_KEEP");
    if (keep) printf("run folder kept: %s\n", tmp);
    else {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) printf("could not remove %s\n", tmp);
    }
}

int main(void) {
    test_pyrandom();
    test_jitter();
    test_adamw();
    test_trainer();
    return t_summary();
}
