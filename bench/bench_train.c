/* bench_train.c — speed of one MedSAM training step (forward + backward +
 * AdamW), batch 1, on a checkpoint made by `medsam init`, and where the time
 * goes. Run by bench/train.sh, which builds it with the library's flags:
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_train.c \
 *      build/libmedsam.a -lpng -ljpeg -lz -lm -o build/bench/bench_train
 * Usage:
 *   bench_train -m MODEL.pth [--threads 2] [--reps 3] [--warmup 1] [--phases] [--attn]
 *               [--attn-tile 256] [--attn-tile-fwd 128]
 *               [--results FILE]
 * Default: per thread count, `warmup` untimed steps then `reps` timed steps;
 * prints each step, the median, the loss, and the process's peak RSS.
 * --phases: also times the encoder's training forward and backward alone (the
 *   rest of a step is the decoder, the loss and AdamW, timed separately).
 * --attn:   also times the ViT attention forward and backward alone, as a training
 *   step runs them, for one global block (1 x 64x64 tokens; --attn-tile-fwd N,
 *   --attn-tile N: forward / backward tiles, default 128 / 256) and one windowed
 *   block (25 x 14x14).
 * The input is synthetic and the same as bench/pytorch_train_bench.py's:
 *   image[c][y][x] = ((7x + 13y + 29c) mod 256) / 255, ground truth the
 *   rectangle x in [S*300/1024, S*700/1024), y in [S*350/1024, S*650/1024),
 *   box (S/1024) * (280, 330, 720, 670).
 * Timing hooks live here only; the library has none. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "api/model_internal.h"
#include "ops/attention.h"
#include "ops/backward.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/encoder_train.h"
#include "train/model_grad.h"

#define BT_MAX_REPS 15
#define BT_MAX_THREADS 8

#include "bench_util.h"

static double bt_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;  // Linux: KiB
}

/* The synthetic sample (see the header). img: (3, S, S); gt: (S, S); box: (4) */
static void bt_make_input(float *img, float *gt, float *box, int S) {
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                img[((size_t)c * S + y) * S + x] = (float)((7 * x + 13 * y + 29 * c) % 256) / 255.0f;
    const int x0 = S * 300 / 1024, x1 = S * 700 / 1024, y0 = S * 350 / 1024, y1 = S * 650 / 1024;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) gt[(size_t)y * S + x] = (x >= x0 && x < x1 && y >= y0 && y < y1) ? 1.0f : 0.0f;
    const float f = (float)S / 1024.0f;
    box[0] = 280 * f, box[1] = 330 * f, box[2] = 720 * f, box[3] = 670 * f;
}

/* Pseudo-random values in [-a, a) (xorshift; deterministic). x: (n) */
static void bt_fill(float *x, size_t n, float a, unsigned seed) {
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        x[i] = a * ((float)(s >> 8) / 8388608.0f - 1.0f);
    }
}

/* Full steps on nt threads: returns the median, fills times. */
static int bt_steps(medsam_model *m, int nt, int warmup, int reps, const float *img, const float *gt,
                    const float *box, double *times, double *adamw_med, FILE *res) {
    medsam_error err;
    const ms_param_table *t = &m->table;
    ms_grad_ctx *ctx = ms_grad_ctx_new(&m->cfg, 1, nt, &err);
    float *grads = calloc(t->total, sizeof(float));
    int *idx = malloc((size_t)t->count * sizeof *idx);
    ms_adamw_segment *seg = malloc((size_t)t->count * sizeof *seg);
    if (!ctx || !grads || !idx || !seg) {
        fprintf(stderr, "bench_train: %s\n", ctx ? "out of memory" : err.message);
        return -1;
    }
    const int nseg = ms_ckpt_optimizer_params(t, idx);
    for (int i = 0; i < nseg; i++) {
        const ms_param *p = &t->items[idx[i]];
        seg[i] = (ms_adamw_segment){.offset = p->offset, .numel = p->numel, .has_grad = ms_param_gets_grad(p)};
    }
    ms_adamw_hparams hp = ms_adamw_defaults(1e-4, 0.01);
    ms_adamw *opt = ms_adamw_new(&hp, seg, nseg, t->total, &err);
    if (!opt) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        return -1;
    }
    double ta[BT_MAX_REPS];
    for (int r = 0; r < warmup + reps; r++) {
        double loss[3];
        const double t0 = bench_now();
        memset(grads, 0, t->total * sizeof(float));
        if (ms_model_loss_grad(ctx, &m->cfg, &m->w, grads, img, box, gt, 1, loss, &err)) {
            fprintf(stderr, "bench_train: %s\n", err.message);
            return -1;
        }
        const double t1 = bench_now();
        ms_adamw_step(opt, m->params, grads, nt);
        const double t2 = bench_now();
        printf("  threads %d %s %d: step %.3f s (loss+grad %.3f s, AdamW %.3f s), loss %.6f\n", nt,
               r < warmup ? "warm-up" : "step", r < warmup ? r + 1 : r - warmup + 1, t2 - t0, t1 - t0, t2 - t1,
               loss[0]);
        fflush(stdout);
        if (r >= warmup) times[r - warmup] = t2 - t0, ta[r - warmup] = t2 - t1;
    }
    *adamw_med = bench_median(ta, reps);
    if (res) fprintf(res, "c_step_s_%dt %.3f\nc_adamw_s_%dt %.4f\n", nt, bench_median(times, reps), nt, *adamw_med);
    ms_adamw_free(opt);
    free(seg);
    free(idx);
    free(grads);
    ms_grad_ctx_free(ctx);
    return 0;
}

/* Encoder training forward and backward alone. */
static int bt_phases(medsam_model *m, int nt, int reps, const float *img) {
    const ms_config *c = &m->cfg;
    const size_t nf = ms_enc_train_floats(c, nt);
    float *buf = malloc(nf * sizeof(float)), *gbuf = calloc(m->table.total, sizeof(float));
    const long N = (long)c->grid * c->grid;
    float *demb = malloc((size_t)N * c->out_chans * sizeof(float));
    if (!buf || !gbuf || !demb) return -1;
    bt_fill(demb, (size_t)N * c->out_chans, 1e-4f, 7);
    ms_enc_train e;
    ms_enc_train_carve(&e, c, nt, buf);
    ms_weights g;
    ms_weights_bind(c, gbuf, &g);
    double tf[BT_MAX_REPS], tb[BT_MAX_REPS];
    for (int r = 0; r < reps; r++) {
        const double t0 = bench_now();
        ms_enc_train_forward(&e, c, &m->w.enc, img, nt);
        const double t1 = bench_now();
        ms_enc_train_backward(&e, c, &m->w.enc, &g.enc, img, demb, nt);
        const double t2 = bench_now();
        tf[r] = t1 - t0, tb[r] = t2 - t1;
    }
    printf("  threads %d: encoder training forward %.2f s, backward %.2f s (medians of %d)\n", nt, bench_median(tf, reps),
           bench_median(tb, reps), reps);
    free(demb);
    free(gbuf);
    free(buf);
    return 0;
}

/* Attention forward vs backward on ViT-B shapes, as the training step runs them:
 * windows: vit_attention_forward + vit_attention_backward_cached (out);
 * global: vit_attention_forward_train + vit_attention_backward_cached (out, lse). */
static int bt_attn(int nt, int reps, int tile_fwd, int tile_bwd) {
    const int heads = 12, hd = 64, C = heads * hd;
    const struct { const char *name; int ng, side, tile_f, tile_b; } cases[2] = {
        {"global 1 x 64x64", 1, 64, tile_fwd, tile_bwd},
        {"windowed 25 x 14x14", 25, 14, 196, 196},
    };
    for (int k = 0; k < 2; k++) {
        const int ng = cases[k].ng, sd = cases[k].side, T = sd * sd, L = 2 * sd - 1, global = ng == 1;
        const size_t R = (size_t)ng * T;
        float *qkv = malloc(R * 3 * C * sizeof(float)), *out = malloc(R * C * sizeof(float));
        float *dout = malloc(R * C * sizeof(float)), *dqkv = calloc(R * 3 * C, sizeof(float));
        float *rh = malloc((size_t)L * hd * sizeof(float)), *rw = malloc((size_t)L * hd * sizeof(float));
        float *drh = calloc((size_t)L * hd, sizeof(float)), *drw = calloc((size_t)L * hd, sizeof(float));
        float *lse = malloc(R * heads * sizeof(float));
        const size_t fs = global ? vit_attention_forward_train_scratch_floats(sd, sd, cases[k].tile_f, nt)
                                 : vit_attention_scratch_floats(sd, sd, cases[k].tile_f) * nt;
        const size_t bs = vit_attention_backward_scratch_floats(ng, sd, sd, heads, cases[k].tile_b, nt);
        float *sf = malloc(fs * sizeof(float)), *sb = malloc(bs * sizeof(float));
        if (!qkv || !out || !dout || !dqkv || !rh || !rw || !drh || !drw || !lse || !sf || !sb) return -1;
        bt_fill(qkv, R * 3 * C, 1.0f, 1);
        bt_fill(dout, R * C, 1.0f, 2);
        bt_fill(rh, (size_t)L * hd, 0.1f, 3);
        bt_fill(rw, (size_t)L * hd, 0.1f, 4);
        double tf[BT_MAX_REPS], tb[BT_MAX_REPS];
        for (int r = 0; r < reps; r++) {
            const double t0 = bench_now();
            if (global)
                vit_attention_forward_train(out, lse, qkv, rh, rw, ng, sd, sd, heads, hd, cases[k].tile_f, sf, nt);
            else
                vit_attention_forward(out, qkv, rh, rw, ng, sd, sd, heads, hd, cases[k].tile_f, sf, nt);
            const double t1 = bench_now();
            vit_attention_backward_cached(dqkv, drh, drw, dout, out, global ? lse : NULL, qkv, rh, rw, ng, sd, sd,
                                          heads, hd, cases[k].tile_b, sb, nt);
            const double t2 = bench_now();
            tf[r] = t1 - t0, tb[r] = t2 - t1;
        }
        const double f = bench_median(tf, reps), b = bench_median(tb, reps);
        printf("  threads %d, attention %-20s forward %.3f s, backward %.3f s (%.1fx)\n", nt, cases[k].name, f, b,
               b / f);
        free(sb), free(sf), free(lse), free(drw), free(drh), free(rw), free(rh), free(dqkv), free(dout), free(out);
        free(qkv);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *model = NULL, *results = NULL, *threads = "2";
    int reps = 3, warmup = 1, phases = 0, attn = 0, tile = 256, tile_f = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--results") && i + 1 < argc)
            results = argv[++i];
        else if (!strcmp(argv[i], "--attn-tile") && i + 1 < argc)
            tile = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--attn-tile-fwd") && i + 1 < argc)
            tile_f = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--phases"))
            phases = 1;
        else if (!strcmp(argv[i], "--attn"))
            attn = 1;
        else {
            fprintf(stderr,
                    "usage: bench_train -m MODEL.pth [--threads 2] [--reps 3] [--warmup 1] [--phases] [--attn] "
                    "[--results FILE]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > BT_MAX_REPS || warmup < 0) {
        fprintf(stderr, "bench_train: --reps must be 1..%d, --warmup >= 0\n", BT_MAX_REPS);
        return 2;
    }
    int nts[BT_MAX_THREADS], nnt = 0;
    for (const char *p = threads; *p && nnt < BT_MAX_THREADS;) {
        nts[nnt++] = atoi(p);
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    if (attn)
        for (int k = 0; k < nnt; k++)
            if (bt_attn(nts[k], reps, tile_f, tile)) return 1;
    if (!model) {
        if (attn) return 0;
        fprintf(stderr, "bench_train: -m MODEL.pth is required\n");
        return 2;
    }
    medsam_error err;
    medsam_model *m = NULL;
    if (medsam_model_load(model, &m, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        return 1;
    }
    const int S = m->cfg.img_size;
    float *img = malloc((size_t)3 * S * S * sizeof(float)), *gt = malloc((size_t)S * S * sizeof(float)), box[4];
    if (!img || !gt) return 1;
    bt_make_input(img, gt, box, S);
    if (phases)
        for (int k = 0; k < nnt; k++)
            if (bt_phases(m, nts[k], reps, img)) return 1;
    FILE *res = results ? fopen(results, "w") : NULL;
    for (int k = 0; k < nnt; k++) {
        double times[BT_MAX_REPS], adamw;
        if (k > 0) {  // every thread count starts from the checkpoint's weights
            medsam_model_free(m);
            if (medsam_model_load(model, &m, &err)) {
                fprintf(stderr, "bench_train: %s\n", err.message);
                return 1;
            }
        }
        if (bt_steps(m, nts[k], warmup, reps, img, gt, box, times, &adamw, res)) return 1;
        printf("threads %d: median step %.3f s over %d steps (AdamW %.3f s), peak RSS %.0f MB\n", nts[k],
               bench_median(times, reps), reps, adamw, bt_peak_rss_mb());
        fflush(stdout);
    }
    if (res) {
        fprintf(res, "c_peak_rss_mb %.0f\n", bt_peak_rss_mb());
        fclose(res);
    }
    free(gt);
    free(img);
    medsam_model_free(m);
    return 0;
}
