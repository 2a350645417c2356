/* bench_encoder.c — end-to-end speed of medsam.c on one real image: FMA peak,
 * image encoder (whole, per block from the trace hook, per operation), decoder
 * per box, and the `medsam embed` / `medsam segment` processes (wall time,
 * peak RSS). Run by bench/run.sh (`make bench`), which builds it with the
 * library's flags:
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_encoder.c \
 *      build/libmedsam.a -lpng -ljpeg -lz -lm -o build/bench/bench_encoder
 * Usage:
 *   bench_encoder -m MODEL.pth -i IMAGE [-b x0,y0,x1,y1] [--threads 1,2] [--reps 3]
 *                 [--medsam build/medsam] [--results FILE] [--decoder-only 1]
 * --decoder-only 1 encodes the image once (on the largest thread count) and
 * times only the decoder rows (1 box: 3*reps runs, 10 boxes: reps runs).
 * Prints tables to stdout; --results also writes "key value" lines (seconds,
 * GFLOP/s, MB) that bench/run.sh sets beside bench/pytorch_bench.py's. */
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>

#include "api/model_internal.h"
#include "core/rng.h"
#include "model/image_encoder.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include "ops/ops.h"

extern char **environ;

#define BENCH_MAX_THREADS 8
#define BENCH_MAX_REPS 15

#include "bench_util.h"
#include "bench_peak.h"

/* ---- work of the encoder, in multiply-accumulates (MAC) ---- */

typedef struct {
    double patch, qkv, attn, proj, mlp, neck; /* whole image */
    double win[4], glob[4];                   /* one block: qkv, attn, proj, mlp */
    int n_win, n_glob;
    int Hp;                                   /* padded grid of windowed blocks */
    double nominal;                           /* with windowed qkv/proj on the padded grid */
} bench_work;

/* The work medsam.c performs. Windowed blocks run attention on the zero-padded
 * Hp x Hp grid of windows (70x70 for ViT-B) but qkv and proj on the real
 * tokens only (a padded token's qkv is the bias); `nominal` is the official
 * model's count, qkv and proj on the padded grid too (486.0 GMAC for ViT-B at
 * 1024). Attention counts q.k^T, p.v and the decomposed rel-pos dots. */
static void bench_count_work(const ms_config *c, bench_work *w) {
    memset(w, 0, sizeof *w);
    const double G = c->grid, N = G * G, C = c->embed_dim, M = c->mlp_dim, O = c->out_chans, hd = c->head_dim;
    const double H = c->num_heads;
    const int ws = c->window_size > 0 ? c->window_size : c->grid;
    w->Hp = (c->grid + ws - 1) / ws * ws;
    const double Np = (double)w->Hp * w->Hp, T = (double)ws * ws, nwin = Np / T;
    w->win[0] = N * C * 3 * C;
    w->win[1] = nwin * H * (2 * T * T * hd + T * (2.0 * ws) * hd);
    w->win[2] = N * C * C;
    w->win[3] = 2 * N * C * M;
    w->glob[0] = N * C * 3 * C;
    w->glob[1] = H * (2 * N * N * hd + N * (2 * G) * hd);
    w->glob[2] = N * C * C;
    w->glob[3] = 2 * N * C * M;
    for (int b = 0; b < c->depth; b++) {
        const int g = c->is_global[b] || c->window_size == 0;
        const double *s = g ? w->glob : w->win;
        g ? w->n_glob++ : w->n_win++;
        w->qkv += s[0], w->attn += s[1], w->proj += s[2], w->mlp += s[3];
    }
    w->patch = N * C * c->in_chans * c->patch_size * c->patch_size;
    w->neck = N * C * O + N * O * O * 9;
    w->nominal = w->patch + w->qkv + w->attn + w->proj + w->mlp + w->neck + w->n_win * (Np - N) * 4 * C * C;
}

static double bench_work_total(const bench_work *w) { return w->patch + w->qkv + w->attn + w->proj + w->mlp + w->neck; }

/* ---- whole encoder with trace timestamps ---- */

typedef struct {
    double t0;
    double stamp[MS_MAX_DEPTH + 2]; /* patch_embed, block.0 .. block.depth-1, neck */
    int n;
} bench_trace;

static void bench_trace_fn(void *ctx, const char *stage, const float *data, long n) {
    (void)stage, (void)data, (void)n;
    bench_trace *t = ctx;
    if (t->n < MS_MAX_DEPTH + 2) t->stamp[t->n++] = bench_now() - t->t0;
}

typedef struct {
    double seconds;
    double patch, win_block, glob_block, neck; /* per-image totals from the median run */
} bench_enc_result;

static int bench_encoder(const medsam_model *m, const float *chw, float *emb, float *work, int nthreads, int reps,
                         bench_enc_result *out) {
    const ms_config *c = &m->cfg;
    bench_trace tr[BENCH_MAX_REPS];
    double secs[BENCH_MAX_REPS];
    medsam_error err;
    for (int r = 0; r < reps; r++) {
        memset(&tr[r], 0, sizeof tr[r]);
        tr[r].t0 = bench_now();
        if (ms_image_encoder_forward(c, &m->w.enc, chw, emb, work, nthreads, bench_trace_fn, &tr[r], &err)) {
            fprintf(stderr, "bench: encoder failed: %s\n", err.message);
            return -1;
        }
        secs[r] = bench_now() - tr[r].t0;
    }
    out->seconds = bench_median(secs, reps);
    int med = 0;
    for (int r = 0; r < reps; r++)
        if (secs[r] == out->seconds) med = r;
    const bench_trace *t = &tr[med];
    out->patch = t->stamp[0];
    out->win_block = out->glob_block = 0;
    for (int b = 0; b < c->depth; b++) {
        double d = t->stamp[b + 1] - t->stamp[b];
        if (c->is_global[b] || c->window_size == 0) out->glob_block += d;
        else out->win_block += d;
    }
    out->neck = out->seconds - t->stamp[c->depth];
    return 0;
}

/* ---- one windowed and one global block, operation by operation ---- */

typedef struct { double ln, qkv, attn, proj, mlp; } bench_ops; /* seconds for one block */

/* Runs block `blk`'s operations, the calls image_encoder.c makes, on random
 * activations of the right shapes. x, y: (N, C); big: (N, 3C) and the MLP workspace. */
static void bench_block_ops(const ms_config *c, const ms_vit_block_w *bw, int windowed, int nthreads, int reps,
                            float *x, float *y, float *big, float *scratch, bench_ops *o) {
    const int G = c->grid, C = c->embed_dim, H = c->num_heads, hd = c->head_dim;
    const long N = (long)G * G;
    const int attn_threads = nthreads < MS_ENC_MAX_ATTN_THREADS ? nthreads : MS_ENC_MAX_ATTN_THREADS;
    double t[5][BENCH_MAX_REPS];
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        layernorm_forward(y, x, bw->norm1_w, bw->norm1_b, N, C, c->ln_eps, nthreads);  // y: (N, C)
        layernorm_forward(y, x, bw->norm2_w, bw->norm2_b, N, C, c->ln_eps, nthreads);
        double t1 = bench_now();
        linear_forward(big, x, C, bw->qkv_w, bw->qkv_b, N, C, 3 * C, nthreads);  // big: (N, 3C)
        double t2 = bench_now();
        if (windowed)
            vit_window_attention_forward(y, big, bw->qkv_b, G, c->window_size, bw->rel_pos_h, bw->rel_pos_w, H, hd,
                                         scratch, attn_threads);  // y: (N, C)
        else
            vit_attention_forward(y, big, bw->rel_pos_h, bw->rel_pos_w, 1, G, G, H, hd,
                                  N <= 256 ? (int)N : MS_ENC_GLOBAL_TILE_Q, scratch, attn_threads);  // y: (N, C)
        double t3 = bench_now();
        linear_forward(x, y, C, bw->proj_w, bw->proj_b, N, C, C, nthreads);       // x: (N, C)
        double t4 = bench_now();
        ms_vit_mlp_forward(c, bw, y, x, N, big, nthreads);                         // y: (N, C)
        double t5 = bench_now();
        t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3, t[4][r] = t5 - t4;
    }
    o->ln = bench_median(t[0], reps), o->qkv = bench_median(t[1], reps), o->attn = bench_median(t[2], reps);
    o->proj = bench_median(t[3], reps), o->mlp = bench_median(t[4], reps);
}

/* ---- decoder ---- */

/* Median milliseconds per box of medsam_decode_boxes(n boxes, 512x512 output, mask). */
static double bench_decoder(const medsam_model *m, const medsam_embedding *e, int n, int nthreads, int reps) {
    medsam_box boxes[10];
    for (int k = 0; k < n && k < 10; k++)
        boxes[k] = (medsam_box){(float)(40 + 17 * k), (float)(60 + 11 * k), (float)(300 + 13 * k), (float)(330 + 9 * k)};
    uint8_t *mask = malloc(512 * 512); // (512, 512) labels
    double t[BENCH_MAX_REPS];
    medsam_error err;
    double res = -1;
    if (reps > BENCH_MAX_REPS) reps = BENCH_MAX_REPS;
    if (!mask) goto done;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = bench_now();
        if (medsam_decode_boxes(m, e, 512, 512, boxes, n, nthreads, NULL, NULL, mask, &err)) {
            fprintf(stderr, "bench: decoder failed: %s\n", err.message);
            goto done;
        }
        if (r >= 0) t[r] = (bench_now() - t0) * 1e3 / n;
    }
    res = bench_median(t, reps);
done:
    free(mask);
    return res;
}

/* ---- child processes: wall time and peak RSS ---- */

static int bench_process(char *const argv[], double *wall, double *rss_mb) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    double t0 = bench_now();
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "bench: cannot run %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench: %s %s failed\n", argv[0], argv[1]);
        return -1;
    }
    *wall = bench_now() - t0;
    *rss_mb = (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
    return 0;
}

/* ---- main ---- */

typedef struct {
    const char *model, *image, *medsam, *results, *box;
    int threads[BENCH_MAX_THREADS], nthreads, reps, decoder_only;
} bench_opts;

static int bench_parse(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->threads[0] = 1, o->threads[1] = 2, o->nthreads = 2, o->reps = 3;
    o->box = "300,300,1100,1100";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "-m")) o->model = v;
        else if (!strcmp(a, "-i")) o->image = v;
        else if (!strcmp(a, "-b")) o->box = v;
        else if (!strcmp(a, "--medsam")) o->medsam = v;
        else if (!strcmp(a, "--results")) o->results = v;
        else if (!strcmp(a, "--reps")) o->reps = atoi(v);
        else if (!strcmp(a, "--decoder-only")) o->decoder_only = atoi(v);
        else if (!strcmp(a, "--threads")) {
            o->nthreads = 0;
            for (const char *p = v; *p && o->nthreads < BENCH_MAX_THREADS;) {
                o->threads[o->nthreads++] = (int)strtol(p, (char **)&p, 10);
                if (*p == ',') p++;
                else if (*p) return -1;
            }
        } else return -1;
    }
    if (argc % 2 == 0 || !o->model || !o->image || o->reps < 1 || o->reps > BENCH_MAX_REPS || o->nthreads < 1) return -1;
    for (int k = 0; k < o->nthreads; k++)
        if (o->threads[k] < 1) return -1;
    return 0;
}

static void bench_row(const char *name, double mac, const double *secs, const double *peak, int nt) {
    printf("  %-24s %7.2f", name, mac * 1e-9);
    for (int k = 0; k < nt; k++) {
        double g = secs[k] > 0 && mac > 0 ? 2 * mac / secs[k] * 1e-9 : 0;
        if (mac > 0) printf(" | %9.4f %7.1f %5.1f%%", secs[k], g, peak[k] > 0 ? 100 * g / peak[k] : 0);
        else printf(" | %9.4f %7s %6s", secs[k], "-", "-");
    }
    printf("\n");
}

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse(argc, argv, &o)) {
        fprintf(stderr, "usage: bench_encoder -m MODEL.pth -i IMAGE [-b x0,y0,x1,y1] [--threads 1,2] [--reps 3] "
                        "[--medsam build/medsam] [--results FILE] [--decoder-only 1]\n");
        return 2;
    }
    FILE *res = o.results ? fopen(o.results, "w") : NULL;
    /* processes first, while this process is small: Linux carries the RSS high-water mark of
     * the spawning process's memory into a child's ru_maxrss at exec */
    double proc_wall[2] = {-1, -1}, proc_rss[2] = {-1, -1};
    if (o.medsam && !o.decoder_only) {
        char emb_out[] = "build/bench/embed_out.npy", mask_out[] = "build/bench/segment_out.png";
        char *embed_argv[] = {(char *)o.medsam, "embed", "-m", (char *)o.model, "-i", (char *)o.image, "-o", emb_out, NULL};
        char *seg_argv[] = {(char *)o.medsam, "segment", "-m", (char *)o.model, "-i", (char *)o.image, "-b",
                            (char *)o.box, "-o", mask_out, NULL};
        if (bench_process(embed_argv, &proc_wall[0], &proc_rss[0])) proc_wall[0] = -1;
        if (bench_process(seg_argv, &proc_wall[1], &proc_rss[1])) proc_wall[1] = -1;
        remove(emb_out);
        remove(mask_out);
    }
    medsam_error err;
    medsam_model *m;
    if (medsam_model_load(o.model, &m, &err)) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 1;
    }
    const ms_config *c = &m->cfg;
    const int S = c->img_size, nt = o.nthreads;
    float *hwc = NULL;
    int W, H;
    if (medsam_prepare_input(o.image, S, o.threads[nt - 1], &hwc, &W, &H, &err)) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 1;
    }
    float *chw = malloc((size_t)3 * S * S * sizeof(float));  // (3, S, S)
    float *emb = malloc((size_t)c->out_chans * c->grid * c->grid * sizeof(float)); // (O, G, G)
    float *work = malloc(ms_image_encoder_workspace_floats(c) * sizeof(float));
    if (!chw || !emb || !work) return 1;
    for (long p = 0; p < (long)S * S; p++)
        for (int ch = 0; ch < 3; ch++) chw[(long)ch * S * S + p] = hwc[p * 3 + ch];

    if (o.decoder_only) {
        medsam_status st = ms_image_encoder_forward(c, &m->w.enc, chw, emb, work, o.threads[nt - 1], NULL, NULL, &err);
        if (st) {
            fprintf(stderr, "bench: %s\n", err.message);
            return 1;
        }
        goto decoder;
    }
    bench_work wk;
    bench_count_work(c, &wk);
    double peak[BENCH_MAX_THREADS], peak256[BENCH_MAX_THREADS];
    printf("== FMA peak (%d-bit fp32 FMA chains, the widest this CPU has; best of 5; read again after the encoder runs,\n"
           "   the larger reading used), GEMM kernel %s\n", bench_fma_width(), gemm_kernel_name());
    for (int k = 0; k < nt; k++) {
        peak[k] = bench_fma_peak(o.threads[k]);
        peak256[k] = bench_fma_width() > 256 ? bench_fma_peak_width(o.threads[k], 256) : peak[k];
        printf("  %d thread%s: %7.1f GFLOP/s   (256-bit AVX2 chains: %.1f)\n", o.threads[k], o.threads[k] > 1 ? "s" : "",
               peak[k], peak256[k]);
    }
    printf("== model %s: embed %d, depth %d, img %d; image %s (%dx%d)\n", o.model, c->embed_dim, c->depth, S, o.image,
           W, H);
    printf("== encoder work performed: %.1f GMAC = %.3f TFLOP per image (window attention on the padded %dx%d grid,\n"
           "   qkv/proj on the real tokens; the official model's count, qkv/proj padded too: %.1f GMAC)\n",
           bench_work_total(&wk) * 1e-9, 2 * bench_work_total(&wk) * 1e-12, wk.Hp, wk.Hp, wk.nominal * 1e-9);

    /* whole encoder */
    bench_enc_result er[BENCH_MAX_THREADS];
    printf("== encoder, ms_image_encoder_forward, median of %d (seconds per image)\n", o.reps);
    for (int k = 0; k < nt; k++) {
        if (bench_encoder(m, chw, emb, work, o.threads[k], o.reps, &er[k])) return 1;
        double g = 2 * bench_work_total(&wk) / er[k].seconds * 1e-9;
        peak[k] = bench_fma_peak_again(peak[k], o.threads[k], bench_fma_width());
        peak256[k] = bench_fma_width() > 256 ? bench_fma_peak_again(peak256[k], o.threads[k], 256) : peak[k];
        if (res)
            fprintf(res, "peak_width %d\npeak_gflops_%d %.2f\npeak256_gflops_%d %.2f\n", bench_fma_width(), o.threads[k],
                    peak[k], o.threads[k], peak256[k]);
        printf("  %d thread%s: %9.4f s  %7.1f GFLOP/s  %5.1f%% of peak (%.1f GFLOP/s, the larger reading)\n", o.threads[k],
               o.threads[k] > 1 ? "s" : "", er[k].seconds, g, peak[k] > 0 ? 100 * g / peak[k] : 0, peak[k]);
        if (res) fprintf(res, "encoder_s_%d %.4f\nencoder_gflops_%d %.2f\n", o.threads[k], er[k].seconds, o.threads[k], g);
        fflush(stdout);
    }

    /* per stage: blocks from the trace of the median run, operations from one block of each kind */
    printf("== encoder stages: GMAC per image | per thread count: seconds per image, GFLOP/s, %% of peak\n");
    printf("  %-24s %7s", "stage", "GMAC");
    for (int k = 0; k < nt; k++) {
        char h[16];
        snprintf(h, sizeof h, "s @%dthr", o.threads[k]);
        printf(" | %9s %7s %6s", h, "GFLOP/s", "%peak");
    }
    printf("\n");
    double col[BENCH_MAX_THREADS];
    const double nwin = wk.n_win, nglob = wk.n_glob;
#define BENCH_ROW(label, mac, expr)                                  \
    do {                                                             \
        for (int k = 0; k < nt; k++) col[k] = (expr);                \
        bench_row(label, mac, col, peak, nt);             \
    } while (0)
    BENCH_ROW("patch embed (trace)", wk.patch, er[k].patch);
    char label[64];
    snprintf(label, sizeof label, "%d windowed blk (trace)", wk.n_win);
    BENCH_ROW(label, nwin * (wk.win[0] + wk.win[1] + wk.win[2] + wk.win[3]), er[k].win_block);
    snprintf(label, sizeof label, "%d global blk (trace)", wk.n_glob);
    BENCH_ROW(label, nglob * (wk.glob[0] + wk.glob[1] + wk.glob[2] + wk.glob[3]), er[k].glob_block);
    BENCH_ROW("neck (trace)", wk.neck, er[k].neck);

    /* operations: block 0 style (windowed) and the first global block, scaled by the block counts */
    int bwin = -1, bglob = -1;
    for (int b = 0; b < c->depth; b++) {
        if ((c->is_global[b] || c->window_size == 0) && bglob < 0) bglob = b;
        if (!(c->is_global[b] || c->window_size == 0) && bwin < 0) bwin = b;
    }
    const long G = c->grid, rows = G * G;
    size_t big_n = (size_t)rows * 3 * c->embed_dim;
    if (ms_vit_mlp_workspace_floats(c) > big_n) big_n = ms_vit_mlp_workspace_floats(c);
    float *x = malloc((size_t)rows * c->embed_dim * sizeof(float));  // (N, C)
    float *y = malloc((size_t)rows * c->embed_dim * sizeof(float));  // (N, C)
    float *big = malloc(big_n * sizeof(float));                       // (N, 3C) | MLP workspace
    int max_t = 1;
    for (int k = 0; k < nt; k++) max_t = o.threads[k] > max_t ? o.threads[k] : max_t;
    const int ws = c->window_size > 0 ? c->window_size : c->grid;
    const size_t per_glob = vit_attention_scratch_floats(G, G, G * G <= 256 ? G * G : MS_ENC_GLOBAL_TILE_Q);
    const size_t per_win = vit_window_attention_scratch_floats(ws, c->head_dim);
    const size_t per = per_glob > per_win ? per_glob : per_win;
    if (max_t > MS_ENC_MAX_ATTN_THREADS) max_t = MS_ENC_MAX_ATTN_THREADS;
    float *scratch = malloc(per * (size_t)max_t * sizeof(float)); // (attention threads, per)
    if (!x || !y || !big || !scratch) return 1;
    ms_rng rng;
    ms_rng_seed(&rng, 1);
    ms_rng_normal(&rng, x, (size_t)rows * c->embed_dim, 0.0, 1.0);
    bench_ops ow[BENCH_MAX_THREADS], og[BENCH_MAX_THREADS];
    memset(ow, 0, sizeof ow), memset(og, 0, sizeof og);
    for (int k = 0; k < nt; k++) {
        if (bwin >= 0) bench_block_ops(c, &m->w.enc.blocks[bwin], 1, o.threads[k], o.reps, x, y, big, scratch, &ow[k]);
        if (bglob >= 0) bench_block_ops(c, &m->w.enc.blocks[bglob], 0, o.threads[k], o.reps, x, y, big, scratch, &og[k]);
    }
    BENCH_ROW("qkv (op)", wk.qkv, nwin * ow[k].qkv + nglob * og[k].qkv);
    BENCH_ROW("attention (op)", wk.attn, nwin * ow[k].attn + nglob * og[k].attn);
    BENCH_ROW("  windowed attention", nwin * wk.win[1], nwin * ow[k].attn);
    BENCH_ROW("  global attention", nglob * wk.glob[1], nglob * og[k].attn);
    BENCH_ROW("proj (op)", wk.proj, nwin * ow[k].proj + nglob * og[k].proj);
    BENCH_ROW("mlp lin1+gelu+lin2 (op)", wk.mlp, nwin * ow[k].mlp + nglob * og[k].mlp);
    BENCH_ROW("layernorm x2 (op)", 0, nwin * ow[k].ln + nglob * og[k].ln);
    BENCH_ROW("other (blocks - ops)", 0,
              er[k].win_block + er[k].glob_block - nwin * (ow[k].ln + ow[k].qkv + ow[k].attn + ow[k].proj + ow[k].mlp) -
                  nglob * (og[k].ln + og[k].qkv + og[k].attn + og[k].proj + og[k].mlp));
#undef BENCH_ROW
    printf("  (op rows: one block of each kind timed op by op on random activations, times the block counts;\n"
           "   other = residual adds and what op-by-op timing misses)\n");
    free(x), free(y), free(big), free(scratch);

decoder:;
    medsam_embedding *e;
    if (medsam_embedding_from_data(m, emb, (long)c->out_chans * c->grid * c->grid, &e, &err)) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 1;
    }
    printf("== decoder, medsam_decode_boxes on one embedding, 512x512 output with mask (ms per box, median)\n");
    for (int k = 0; k < nt; k++) {
        double one = bench_decoder(m, e, 1, o.threads[k], o.reps < 3 ? 3 : 3 * o.reps);
        double ten = bench_decoder(m, e, 10, o.threads[k], o.reps);
        printf("  %d thread%s:  1 box %8.2f ms/box   10 boxes %8.2f ms/box\n", o.threads[k], o.threads[k] > 1 ? "s" : "",
               one, ten);
        if (res) fprintf(res, "decoder_ms_1box_%d %.3f\ndecoder_ms_10box_%d %.3f\n", o.threads[k], one, o.threads[k], ten);
    }
    medsam_embedding_free(e);

    if (o.medsam && !o.decoder_only) {
        printf("== processes (default threads = all CPUs), wall time and peak RSS (run first, one each)\n");
        if (proc_wall[0] >= 0) {
            printf("  medsam embed:   %7.2f s wall, peak RSS %7.1f MB\n", proc_wall[0], proc_rss[0]);
            if (res) fprintf(res, "embed_wall_s %.3f\nembed_rss_mb %.1f\n", proc_wall[0], proc_rss[0]);
        }
        if (proc_wall[1] >= 0) {
            printf("  medsam segment: %7.2f s wall, peak RSS %7.1f MB (box %s)\n", proc_wall[1], proc_rss[1], o.box);
            if (res) fprintf(res, "segment_wall_s %.3f\nsegment_rss_mb %.1f\n", proc_wall[1], proc_rss[1]);
        }
    }
    if (res) fclose(res);
    free(hwc), free(chw), free(emb), free(work);
    medsam_model_free(m);
    return 0;
}
