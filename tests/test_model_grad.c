/* test_model_grad.c — MedSAM's training-step loss and gradients (train/model_grad.h)
 * against PyTorch autograd on the tiny fixture model (tools/ref/make_grad_fixtures.py:
 * batch 2, 128 x 128 hash images, boxes, noisy rectangle masks).
 *
 * Checks and tolerances:
 * - loss total, dice, bce: relative error <= 1e-6;
 * - the set of parameters with a gradient equals PyTorch's (.grad not None);
 *   parameters without one keep an all-zero gradient buffer;
 * - per tensor: L2 norm relative error <= 1e-4 and the relative L2 error of 16
 *   random +-1 projections (an estimate of the whole tensor's relative L2 error)
 *   <= 1e-4; tensors whose PyTorch gradient is exactly zero must be exactly zero;
 *   16 sampled elements within 1e-5 * ||g|| + 1e-3 |ref|; tensors whose gradient is
 *   zero in exact arithmetic (attention k_proj biases: PyTorch norm ~1e-11) must
 *   have a norm < 1e-9 (no relative check on rounding noise);
 * - optional MS_GRAD_FULL=<grads_full.npy from make_grad_fixtures.py --full>: every
 *   element, relative L2 per tensor <= 1e-4 (prints the worst);
 * - central finite differences (h = 1e-2 on a float forward) on the largest-gradient
 *   element of 8 tensors: |fd - grad| <= 1e-6 + 1e-2 |grad|;
 * - gradients bit-identical for 1 and 3 threads; accumulation: a second call on a
 *   non-zero buffer gives 2x the gradient (relative L2 <= 1e-6, as the additions
 *   are re-associated).
 * Optional MS_GRAD_VITB_DIR=<dir from tools/ref/check_vit_b_grads.py>: ViT-B, batch 1
 * at 1024, every gradient (rel L2 <= 1e-4 per tensor), time and activation memory.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/npy.h"
#include "model/config.h"
#include "model/params.h"
#include "test.h"
#include "train/model_grad.h"

#define FIX "tests/fixtures/grad/"
#define KPROJ 16
#define MSAMP 16
#define B 2
/* Attention k_proj biases have a zero gradient in exact arithmetic (softmax is
 * invariant to a per-row shift); both sides hold rounding noise of ~1e-11. */
#define ZERO_NORM 1e-9

/* same arithmetic as make_grad_fixtures.py:grad_hash */
static uint32_t grad_hash(uint64_t i, uint64_t seed) {
    const uint64_t m = 0xFFFFFFFFull;
    uint64_t x = (i * 2654435761ull + seed * 40503ull) & m;
    x ^= x >> 15;
    x = (x * 2246822519ull) & m;
    x ^= x >> 13;
    x = (x * 3266489917ull) & m;
    x ^= x >> 16;
    return (uint32_t)x;
}

/* nb images of S x S (S a multiple of 128: the rectangles and boxes are scaled by S / 128) */
static void make_inputs(float *img, float *boxes, float *gt, int S, int nb) {
    static const int rects[2][4] = {{24, 88, 32, 100}, {44, 116, 14, 66}};
    static const float bx[2][4] = {{20.0f, 28.5f, 91.25f, 104.0f}, {40.5f, 10.25f, 120.0f, 70.75f}};
    const long SS = (long)S * S;
    const int f = S / 128;
    for (long i = 0; i < nb * 3 * SS; i++) img[i] = (float)((double)(grad_hash((uint64_t)i, 1) >> 8) / 16777216.0);
    for (int b = 0; b < nb; b++) {
        for (int k = 0; k < 4; k++) boxes[4 * b + k] = bx[b][k] * (float)f;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                const long i = b * SS + (long)y * S + x;
                float v = (x >= f * rects[b][0] && x < f * rects[b][1] && y >= f * rects[b][2] && y < f * rects[b][3])
                              ? 1.0f
                              : 0.0f;
                if ((double)(grad_hash((uint64_t)i, 2) >> 8) / 16777216.0 < 0.1) v = 1.0f - v;
                gt[i] = v;
            }
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int read_f64(const char *path, ms_npy *a, long want) {
    medsam_error err = {0};
    if (ms_npy_read(path, a, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return -1;
    }
    if (a->dtype != MS_NPY_F64 || (want >= 0 && a->count != want)) {
        CHECK(0, "%s: dtype/count %lld (want %ld f64)", path, (long long)a->count, want);
        ms_npy_free(a);
        return -1;
    }
    return 0;
}

typedef struct {
    ms_config c;
    ms_param_table tab;
    ms_npy pn;
    ms_weights w;
    float *img, *boxes, *gt;
} fixture;

static double run_step(fixture *f, ms_grad_ctx *ctx, float *grads, double loss[3]) {
    medsam_error err = {0};
    const double t0 = now_s();
    medsam_status st = ms_model_loss_grad(ctx, &f->c, &f->w, grads, f->img, f->boxes, f->gt, B, loss, &err);
    CHECK(st == MEDSAM_OK, "ms_model_loss_grad: %s", err.message);
    return now_s() - t0;
}

static void check_against_torch(fixture *f, const float *grads, const double loss[3]) {
    ms_npy ln, gn;
    if (read_f64(FIX "loss.npy", &ln, 3)) return;
    const double *lr = ln.data;
    const char *what[3] = {"total", "dice", "bce"};
    for (int k = 0; k < 3; k++) {
        const double rel = fabs(loss[k] - lr[k]) / fabs(lr[k]);
        printf("  loss %-5s %.9f (torch %.9f) rel err %.2e\n", what[k], loss[k], lr[k], rel);
        CHECK(rel <= 1e-6, "loss %s: %.9g vs torch %.9g (rel %.2e)", what[k], loss[k], lr[k], rel);
    }
    ms_npy_free(&ln);
    const int cols = 2 + KPROJ + MSAMP;
    if (read_f64(FIX "grads.npy", &gn, (long)f->tab.count * cols)) return;
    const double *rows = gn.data;
    FILE *names = fopen(FIX "names.txt", "r");
    CHECK(names != NULL, "cannot open " FIX "names.txt");
    char line[256];
    double worst_proj = 0, worst_norm = 0;
    const char *worst_name = "";
    int ngrad = 0, nzero = 0;
    for (int k = 0; k < f->tab.count; k++) {
        const ms_param *p = &f->tab.items[k];
        const double *r = rows + (size_t)k * cols;
        const float *g = grads + p->offset;
        if (names && fgets(line, sizeof line, names)) {
            line[strcspn(line, "\n")] = 0;
            CHECK(strcmp(line, p->name) == 0, "tensor %d: fixture name %s, table name %s", k, line, p->name);
        }
        const int has = r[0] != 0.0;
        CHECK(has == ms_param_gets_grad(p), "%s: torch has_grad %d, ms_param_gets_grad %d", p->name, has,
              ms_param_gets_grad(p));
        double norm = 0, proj[KPROJ] = {0};
        for (size_t j = 0; j < p->numel; j++) {
            norm += (double)g[j] * g[j];
            for (int q = 0; q < KPROJ; q++)
                proj[q] += (grad_hash(j * KPROJ + q, 1000 + (uint64_t)k) >> 31) ? -(double)g[j] : (double)g[j];
        }
        norm = sqrt(norm);
        if (!has || r[1] == 0.0) {
            CHECK(norm == 0.0, "%s: gradient should be exactly zero, norm %.3e", p->name, norm);
            continue;
        }
        if (r[1] < ZERO_NORM) {  // mathematically zero (k_proj biases): rounding noise on both sides
            CHECK(norm < ZERO_NORM, "%s: gradient should be zero up to rounding, norm %.3e", p->name, norm);
            nzero++;
            continue;
        }
        ngrad++;
        double dn = 0, rn = 0;
        for (int q = 0; q < KPROJ; q++) {
            dn += (proj[q] - r[2 + q]) * (proj[q] - r[2 + q]);
            rn += r[2 + q] * r[2 + q];
        }
        const double prel = sqrt(dn / rn), nrel = fabs(norm - r[1]) / r[1];
        if (prel > worst_proj) worst_proj = prel, worst_name = p->name;
        if (nrel > worst_norm) worst_norm = nrel;
        CHECK(prel <= 1e-4 && nrel <= 1e-4, "%s: projection rel L2 %.2e, norm rel %.2e (norm %.4e vs %.4e)", p->name,
              prel, nrel, norm, r[1]);
        for (int m = 0; m < MSAMP; m++) {
            const size_t j = grad_hash((uint64_t)m, 5000 + (uint64_t)k) % p->numel;
            const double ref = r[2 + KPROJ + m];
            CHECK(fabs(g[j] - ref) <= 1e-5 * r[1] + 1e-3 * fabs(ref), "%s[%zu]: %.8g vs torch %.8g", p->name, j,
                  g[j], ref);
        }
    }
    if (names) fclose(names);
    printf("  %d tensors zero up to rounding (< %.0e)\n", nzero, ZERO_NORM);
    printf("  %d tensors with non-zero gradients: worst projection rel L2 %.2e (%s), worst norm rel %.2e\n", ngrad,
           worst_proj, worst_name, worst_norm);
    ms_npy_free(&gn);
}

static void check_full(fixture *f, const float *grads) {
    const char *path = getenv("MS_GRAD_FULL");
    if (!path || !*path) return;
    ms_npy a;
    medsam_error err = {0};
    float *ref = NULL;
    if (ms_npy_read(path, &a, &err) != MEDSAM_OK || ms_npy_to_f32(&a, &ref, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return;
    }
    CHECK((size_t)a.count == f->tab.total, "%s: %lld values, table %zu", path, (long long)a.count, f->tab.total);
    double worst = 0;
    const char *wn = "";
    for (int k = 0; k < f->tab.count && (size_t)a.count == f->tab.total; k++) {
        const ms_param *p = &f->tab.items[k];
        double d = 0, n = 0;
        for (size_t j = 0; j < p->numel; j++) {
            const double e = (double)grads[p->offset + j] - ref[p->offset + j];
            d += e * e;
            n += (double)ref[p->offset + j] * ref[p->offset + j];
        }
        if (n < ZERO_NORM * ZERO_NORM) continue;  // zero (up to rounding): checked in check_against_torch
        const double rel = sqrt(d / n);
        if (rel > worst) worst = rel, wn = p->name;
        CHECK(rel <= 1e-4, "full: %s rel L2 %.3e", p->name, rel);
    }
    printf("  full gradients: worst per-tensor rel L2 %.3e (%s)\n", worst, wn);
    free(ref);
    ms_npy_free(&a);
}

static double loss_at(fixture *f, ms_grad_ctx *ctx, float *scratch) {
    double l[3];
    memset(scratch, 0, sizeof(float) * f->tab.total);
    run_step(f, ctx, scratch, l);
    return l[0];
}

static void check_fd(fixture *f, ms_grad_ctx *ctx, const float *grads) {
    static const char *tensors[] = {
        "image_encoder.patch_embed.proj.weight", "image_encoder.blocks.1.attn.qkv.weight",
        "image_encoder.blocks.0.attn.rel_pos_h", "image_encoder.neck.3.bias",
        "mask_decoder.transformer.layers.0.self_attn.q_proj.weight", "mask_decoder.mask_tokens.weight",
        "mask_decoder.output_upscaling.0.weight", "mask_decoder.output_hypernetworks_mlps.0.layers.2.bias"};
    float *scratch = malloc(sizeof(float) * f->tab.total);
    float *params = f->pn.data;
    for (size_t t = 0; t < sizeof tensors / sizeof *tensors; t++) {
        const ms_param *p = ms_param_find(&f->tab, tensors[t]);
        CHECK(p != NULL, "no tensor %s", tensors[t]);
        if (!p) continue;
        size_t j = 0;  // the element with the largest |gradient|
        for (size_t i = 1; i < p->numel; i++)
            if (fabsf(grads[p->offset + i]) > fabsf(grads[p->offset + j])) j = i;
        const float h = 1e-2f, old = params[p->offset + j];
        params[p->offset + j] = old + h;
        const double lp = loss_at(f, ctx, scratch);
        params[p->offset + j] = old - h;
        const double lm = loss_at(f, ctx, scratch);
        params[p->offset + j] = old;
        const double fd = (lp - lm) / (2.0 * h), gv = grads[p->offset + j];
        printf("  fd %s[%zu]: fd %.6e grad %.6e\n", tensors[t], j, fd, gv);
        CHECK(fabs(fd - gv) <= 1e-6 + 1e-2 * fabs(gv), "finite difference %s[%zu]: %.6e vs grad %.6e", tensors[t], j,
              fd, gv);
    }
    free(scratch);
}

/* Optional full-size check (tools/ref/check_vit_b_grads.py): MS_GRAD_VITB_DIR=<dir>,
 * MS_GRAD_THREADS (default 2). Batch 1 at 1024; prints time and memory. */
static void check_vitb(void) {
    const char *dir = getenv("MS_GRAD_VITB_DIR");
    if (!dir || !*dir) return;
    const char *th = getenv("MS_GRAD_THREADS");
    const int nthreads = th && atoi(th) > 0 ? atoi(th) : 2;
    fixture f;
    medsam_error err = {0};
    char path[1024];
    CHECK(ms_config_preset("vit_b", &f.c, &err) == MEDSAM_OK, "%s", err.message);
    CHECK(ms_param_table_build(&f.c, &f.tab) == 0, "param table");
    snprintf(path, sizeof path, "%s/params.npy", dir);
    if (ms_npy_read(path, &f.pn, &err) != MEDSAM_OK || f.pn.dtype != MS_NPY_F32 ||
        (size_t)f.pn.count != f.tab.total) {
        CHECK(0, "%s: %s", path, err.message);
        return;
    }
    ms_weights_bind(&f.c, f.pn.data, &f.w);
    const int S = f.c.img_size;
    f.img = malloc(sizeof(float) * 3 * S * S);
    f.boxes = malloc(sizeof(float) * 4);
    f.gt = malloc(sizeof(float) * S * S);
    make_inputs(f.img, f.boxes, f.gt, S, 1);
    ms_grad_ctx *ctx = ms_grad_ctx_new(&f.c, 1, nthreads, &err);
    CHECK(ctx != NULL, "%s", err.message);
    if (!ctx) return;
    float *g = calloc(f.tab.total, sizeof(float));
    double loss[3];
    medsam_error e2 = {0};
    const double t0 = now_s();
    CHECK(ms_model_loss_grad(ctx, &f.c, &f.w, g, f.img, f.boxes, f.gt, 1, loss, &e2) == MEDSAM_OK, "%s",
          e2.message);
    printf("  ViT-B step (batch 1, 1024 px, %d threads): %.1f s; activations %.0f MB\n", nthreads, now_s() - t0,
           ms_grad_ctx_bytes(ctx) / 1048576.0);
    ms_npy ln, gr;
    snprintf(path, sizeof path, "%s/loss.npy", dir);
    if (!read_f64(path, &ln, 3)) {
        const double *lr = ln.data;
        printf("  ViT-B loss %.9f (torch %.9f) dice %.9f (%.9f) bce %.9f (%.9f)\n", loss[0], lr[0], loss[1], lr[1],
               loss[2], lr[2]);
        CHECK(fabs(loss[0] - lr[0]) <= 1e-5 * fabs(lr[0]), "ViT-B loss %.9g vs %.9g", loss[0], lr[0]);
        ms_npy_free(&ln);
    }
    snprintf(path, sizeof path, "%s/grads_full.npy", dir);
    if (ms_npy_read(path, &gr, &err) == MEDSAM_OK && gr.dtype == MS_NPY_F32 && (size_t)gr.count == f.tab.total) {
        const float *ref = gr.data;
        double worst = 0;
        const char *wn = "";
        for (int k = 0; k < f.tab.count; k++) {
            const ms_param *p = &f.tab.items[k];
            double d = 0, n = 0, m = 0;
            for (size_t j = 0; j < p->numel; j++) {
                const double a = g[p->offset + j], r = ref[p->offset + j];
                d += (a - r) * (a - r), n += r * r, m += a * a;
            }
            const size_t L = strlen(p->name);
            if (n == 0) {  // no gradient (frozen, IoU head) or exactly zero (hypernetworks 1..)
                CHECK(m == 0, "ViT-B %s: torch gradient zero, C norm %.3e", p->name, sqrt(m));
                continue;
            }
            if (L > 11 && strcmp(p->name + L - 11, "k_proj.bias") == 0) {
                printf("  ViT-B %s: zero in exact arithmetic, norms %.2e (C) %.2e (torch)\n", p->name, sqrt(m),
                       sqrt(n));
                continue;
            }
            const double rel = sqrt(d / n);
            if (rel > worst) worst = rel, wn = p->name;
            if (rel > 1e-5) printf("  ViT-B %s: rel L2 %.3e (norm %.3e)\n", p->name, rel, sqrt(n));
            CHECK(rel <= 1e-4, "ViT-B %s: rel L2 %.3e", p->name, rel);
        }
        printf("  ViT-B gradients: worst per-tensor rel L2 %.3e (%s)\n", worst, wn);
        ms_npy_free(&gr);
    } else {
        CHECK(0, "%s: %s", path, err.message);
    }
    ms_grad_ctx_free(ctx);
    free(g), free(f.img), free(f.boxes), free(f.gt);
    ms_npy_free(&f.pn);
    ms_param_table_free(&f.tab);
}

int main(void) {
    fixture f;
    medsam_error err = {0};
    CHECK(ms_config_preset("tiny", &f.c, &err) == MEDSAM_OK, "%s", err.message);
    CHECK(ms_param_table_build(&f.c, &f.tab) == 0, "param table");
    if (ms_npy_read("tests/fixtures/tiny/params.npy", &f.pn, &err) != MEDSAM_OK) {
        CHECK(0, "%s", err.message);
        return t_summary();
    }
    CHECK(f.pn.dtype == MS_NPY_F32 && (size_t)f.pn.count == f.tab.total, "params.npy size");
    if ((size_t)f.pn.count != f.tab.total) return t_summary();
    ms_weights_bind(&f.c, f.pn.data, &f.w);
    const int S = f.c.img_size;
    f.img = malloc(sizeof(float) * B * 3 * S * S);
    f.boxes = malloc(sizeof(float) * B * 4);
    f.gt = malloc(sizeof(float) * B * S * S);
    make_inputs(f.img, f.boxes, f.gt, S, B);

    ms_grad_ctx *ctx1 = ms_grad_ctx_new(&f.c, B, 1, &err);
    ms_grad_ctx *ctx3 = ms_grad_ctx_new(&f.c, B, 3, &err);
    CHECK(ctx1 && ctx3, "ms_grad_ctx_new: %s", err.message);
    if (!ctx1 || !ctx3) return t_summary();
    const size_t T = f.tab.total;
    float *g1 = calloc(T, sizeof(float)), *g3 = calloc(T, sizeof(float));
    double loss[3], loss3[3];
    const double t1 = run_step(&f, ctx1, g1, loss);
    const double t3 = run_step(&f, ctx3, g3, loss3);
    printf("  tiny step (batch 2, 128 px): %.1f ms on 1 thread, %.1f ms on 3; activations %.1f MB\n", 1e3 * t1,
           1e3 * t3, ms_grad_ctx_bytes(ctx1) / 1048576.0);
    CHECK(memcmp(g1, g3, sizeof(float) * T) == 0 && memcmp(loss, loss3, sizeof loss) == 0,
          "gradients differ between 1 and 3 threads");
    check_against_torch(&f, g1, loss);
    check_full(&f, g1);
    // accumulation: a second call adds the same gradients again
    float *g2 = malloc(sizeof(float) * T);
    memcpy(g2, g1, sizeof(float) * T);
    run_step(&f, ctx1, g2, loss3);
    double dacc = 0, nacc = 0;
    for (size_t i = 0; i < T; i++) {
        dacc += ((double)g2[i] - 2.0 * g1[i]) * ((double)g2[i] - 2.0 * g1[i]);
        nacc += 4.0 * g1[i] * g1[i];
    }
    CHECK(sqrt(dacc / nacc) <= 1e-6, "accumulation: rel L2 %.3e from twice the gradient", sqrt(dacc / nacc));
    check_fd(&f, ctx1, g1);
    // argument errors
    CHECK(ms_model_loss_grad(ctx1, &f.c, &f.w, g2, f.img, f.boxes, f.gt, B + 1, NULL, &err) == MEDSAM_ERR_ARG,
          "batch over the ctx's size accepted");
    ms_grad_ctx_free(ctx1);
    ms_grad_ctx_free(ctx3);
    free(g1), free(g2), free(g3);
    free(f.img), free(f.boxes), free(f.gt);
    ms_npy_free(&f.pn);
    ms_param_table_free(&f.tab);
    check_vitb();
    return t_summary();
}
