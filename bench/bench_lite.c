/* bench_lite.c — speed of the LiteMedSAM TinyViT encoder (256x256 input): FMA
 * peak, whole encoder (median of reps) and, from the trace hook, each stage,
 * with the multiply-accumulates medsam.c performs and the fraction of the
 * FMA peak. Needs no checkpoint: without -m it builds the full-size LiteMedSAM
 * configuration (CVPR24_LiteMedSAM_infer.py) with random weights in memory
 * (the encoder's speed does not depend on the values); -m LITE.pth times a
 * real checkpoint instead (e.g. one from tools/ref/check_lite_encoder.py).
 *
 *   make bench-lite      (or by hand:)
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_lite.c build/libmedsam.a \
 *      -lpng -ljpeg -lz -lm -o build/bench/bench_lite
 *   build/bench/bench_lite [-m LITE.pth] [--threads 1,2] [--reps 5] [--bf16 0]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "model/tinyvit.h"

#include "bench_util.h"
#include "bench_peak.h"

#define MAX_THREADS 8
#define MAX_REPS 15

/* ---- work, in multiply-accumulates, as tinyvit_forward.c performs it ---- */

typedef struct {
    double stage[24]; /* per traced stage, in trace order */
    char name[24][32];
    int n;
    double total;
    double official; /* the official model's operations: qkv/proj on the padded windows too */
} lite_work;

static void add(lite_work *w, const char *name, double macs) {
    snprintf(w->name[w->n], sizeof w->name[0], "%s", name);
    w->stage[w->n++] = macs;
    w->total += macs;
}

/* Attention runs on zero-padded windows (all rows), qkv/proj/MLP on the real tokens. */
static void count(const ms_config *c, lite_work *w) {
    const ms_tinyvit_config *t = &c->tv;
    int res[MS_TV_STAGES];
    ms_tinyvit_resolutions(c, res);
    memset(w, 0, sizeof *w);
    const double N0 = (double)res[0] * res[0];
    add(w, "patch_embed", N0 * (3.0 * t->stem_mid + (double)t->stem_mid * t->dims[0]));
    for (int k = 0; k < t->depths[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "layer0.block.%d", k);
        add(w, name, N0 * (2.0 * t->dims[0] * t->mbconv_hidden + 9.0 * t->mbconv_hidden));
    }
    for (int i = 0; i < MS_TV_STAGES; i++) {
        const double N = (double)res[i] * res[i], C = t->dims[i];
        if (i > 0)
            for (int k = 0; k < t->depths[i]; k++) {
                const int ws = t->windows[i], nw = (res[i] + ws - 1) / ws;
                const double T = (double)ws * ws, windows = (double)nw * nw;
                char name[32];
                snprintf(name, sizeof name, "layer%d.block.%d", i, k);
                add(w, name, N * (4.0 * C * C + 2.0 * C * t->mlp_hidden[i] + 9.0 * C) + windows * 2.0 * T * T * C);
                w->official += (windows * T - N) * 4.0 * C * C;
            }
        if (i + 1 < MS_TV_STAGES) {
            const double Co = t->dims[i + 1], No = (double)res[i + 1] * res[i + 1];
            char name[32];
            snprintf(name, sizeof name, "layer%d.downsample", i);
            add(w, name, N * C * Co + No * (9.0 * Co + Co * Co));
        }
    }
    const double NG = (double)c->grid * c->grid, O = c->out_chans;
    add(w, "neck", NG * (t->dims[3] * O + 9.0 * O * O));
    w->official += w->total;
}

/* ---- a full-size LiteMedSAM with random weights, in memory ---- */

static medsam_model *random_lite(void) {
    medsam_model *m = calloc(1, sizeof *m);
    medsam_error err;
    ms_config *c = &m->cfg;
    if (ms_config_preset("vit_b", c, &err)) return NULL;  // the decoder fields (LiteMedSAM's = SAM's)
    c->encoder = MS_ENC_TINYVIT;
    ms_tinyvit_config *t = &c->tv;
    const int dims[4] = {64, 128, 160, 320}, depths[4] = {2, 2, 6, 2}, heads[4] = {0, 4, 5, 10}, wins[4] = {0, 7, 14, 7};
    for (int i = 0; i < 4; i++) {
        t->dims[i] = dims[i], t->depths[i] = depths[i], t->heads[i] = heads[i], t->windows[i] = wins[i];
        t->mlp_hidden[i] = i ? 4 * dims[i] : 0;
    }
    t->stride[0] = t->stride[1] = 2, t->stride[2] = 1;
    t->mbconv_hidden = 256, t->stem_mid = 32, t->local_conv = 3, t->bn_eps = 1e-5f, t->ln_eps = 1e-5f;
    c->img_size = 256;
    c->grid = ms_tinyvit_resolutions(c, t->res);
    c->out_chans = 256;
    if (ms_param_table_build(c, &m->table)) return NULL;
    m->params = malloc(m->table.total * sizeof(float));
    uint64_t s = 12345;
    for (int i = 0; i < m->table.count; i++) {
        const ms_param *p = &m->table.items[i];
        const int var = strstr(p->name, "running_var") != NULL;
        const double scale = p->ndim >= 2 ? 1.0 / sqrt((double)(p->numel / p->shape[0])) : 0.1;
        for (size_t k = 0; k < p->numel; k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            const double u = (double)(s >> 11) / 9007199254740992.0;  // [0, 1)
            m->params[p->offset + k] = (float)(var ? 0.5 + u : (2 * u - 1) * scale);
        }
    }
    ms_weights_bind(c, m->params, &m->w);
    m->enc_ops = ms_encoder_ops_of(c->encoder);
    if (m->enc_ops->prepare(c, m->params, &m->w, &m->enc_state, &err)) return NULL;
    return m;
}

/* ---- timing ---- */

static double min_of(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

typedef struct {
    double last, t[24];
    int n;
} stage_clock;

static void on_stage(void *ctx, const char *stage, const float *data, long n) {
    (void)stage, (void)data, (void)n;
    stage_clock *sc = ctx;
    const double now = bench_now();
    if (sc->n < 24) sc->t[sc->n++] = now - sc->last;
    sc->last = bench_now();
}

int main(int argc, char **argv) {
    const char *model = NULL, *threads = "1,2", *results = NULL;
    int reps = 5, with_bf16 = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = argv[i + 1];
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--results")) results = argv[i + 1];
        else if (!strcmp(argv[i], "--bf16")) with_bf16 = atoi(argv[i + 1]);
    }
    FILE *rf = results ? fopen(results, "w") : NULL;
    if (results && !rf) return fprintf(stderr, "%s: cannot write\n", results), 1;
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    medsam_model *m = NULL;
    medsam_error err;
    if (model) {
        if (medsam_model_load(model, &m, &err)) return fprintf(stderr, "%s\n", err.message), 1;
    } else if (!(m = random_lite())) {
        return fprintf(stderr, "cannot build the random LiteMedSAM\n"), 1;
    }
    if (m->cfg.encoder != MS_ENC_TINYVIT) return fprintf(stderr, "%s: not a TinyViT checkpoint\n", model), 1;
    const ms_config *c = &m->cfg;
    char desc[1024];
    m->enc_ops->describe(c, desc, sizeof desc);
    printf("%s\n%s (gemm: %s)\n", model ? model : "random full-size LiteMedSAM", desc, gemm_kernel_name());
    lite_work w;
    count(c, &w);
    printf("work: %.2f GMAC = %.2f GFLOP per 256x256 image performed by medsam.c (the official model's operations,\n"
           "      qkv/proj on the padded windows too: %.2f GMAC)\n", w.total * 1e-9, 2 * w.total * 1e-9,
           w.official * 1e-9);
    if (rf) fprintf(rf, "lite_gmac %.4f\nlite_gmac_official %.4f\n", w.total * 1e-9, w.official * 1e-9);

    const long S = c->img_size, ne = (long)c->out_chans * c->grid * c->grid;
    float *img = malloc(sizeof(float) * 3 * S * S), *emb = malloc(sizeof(float) * ne);
    float *work = malloc(sizeof(float) * ms_tinyvit_workspace_floats(c));
    for (long i = 0; i < 3 * S * S; i++) img[i] = (float)((i * 2654435761u) % 1000) / 999.0f;
    for (const char *p = threads; *p;) {
        const int nt = atoi(p);
        if (nt >= 1 && nt <= MAX_THREADS) {
            double peak = bench_fma_peak(nt);
            double t[MAX_REPS], st[24][MAX_REPS];
            stage_clock sc = {0};
            ms_tinyvit_encode(c, m->enc_state, img, emb, work, nt, NULL, NULL, &err);  // warm-up
            for (int r = 0; r < reps; r++) {
                const double t0 = bench_now();
                ms_tinyvit_encode(c, m->enc_state, img, emb, work, nt, NULL, NULL, &err);
                t[r] = bench_now() - t0;
            }
            for (int r = 0; r < reps; r++) {  // per stage (the hook itself costs nothing measurable)
                sc.n = 0, sc.last = bench_now();
                ms_tinyvit_encode(c, m->enc_state, img, emb, work, nt, on_stage, &sc, &err);
                for (int k = 0; k < sc.n; k++) st[k][r] = sc.t[k];
            }
            const double med = bench_median(t, reps), gf = 2 * w.total / med * 1e-9;
            peak = bench_fma_peak_again(peak, nt, bench_fma_width());  // the larger of two readings
            double peak256 = bench_fma_width() == 256 ? peak : bench_fma_peak_width(nt, 256);
            printf("\n%d thread(s): FMA peak %.1f GFLOP/s (%d-bit, the widest here; 256-bit: %.1f); encoder %.3f s (median "
                   "of %d) = %.1f GFLOP/s, %.0f %% of peak\n", nt, peak, bench_fma_width(), peak256, med, reps, gf,
                   peak > 0 ? 100 * gf / peak : 0);
            if (rf)
                fprintf(rf, "peak_width %d\npeak_gflops_%d %.1f\npeak256_gflops_%d %.1f\nlite_encoder_s_%d %.4f\n"
                        "lite_encoder_min_s_%d %.4f\nlite_gflops_%d %.1f\nlite_pct_peak_%d %.1f\n", bench_fma_width(), nt,
                        peak, nt, peak256, nt, med, nt,
                        min_of(t, reps), nt, gf, nt, peak > 0 ? 100 * gf / peak : 0);
            for (int k = 0; k < sc.n && k < w.n; k++) {
                const double ms = bench_median(st[k], reps), g = 2 * w.stage[k] / ms * 1e-9;
                printf("  %-20s %8.1f ms %8.2f GMAC %7.1f GFLOP/s %4.0f %%\n", w.name[k], ms * 1e3, w.stage[k] * 1e-9,
                       g, peak > 0 ? 100 * g / peak : 0);
            }
            /* --precision bf16 beside fp32, alternated rep by rep (a loaded machine slows both alike) */
            if (with_bf16 && !ms_tinyvit_set_bf16(c, m->enc_state, 1, GEMM_BF16_AUTO, &err)) {
                double t32[MAX_REPS], t16[MAX_REPS];
                const ms_tinyvit_bf16 *h = ((ms_tinyvit_state *)m->enc_state)->bf16;
                ms_tinyvit_encode(c, m->enc_state, img, emb, work, nt, NULL, NULL, &err);  // warm-up (AMX tiles)
                for (int r = 0; r < reps; r++) {
                    ((ms_tinyvit_state *)m->enc_state)->bf16 = NULL;
                    double t0 = bench_now();
                    ms_tinyvit_encode(c, m->enc_state, img, emb, work, nt, NULL, NULL, &err);
                    t32[r] = bench_now() - t0;
                    ((ms_tinyvit_state *)m->enc_state)->bf16 = (ms_tinyvit_bf16 *)h;
                    t0 = bench_now();
                    ms_tinyvit_encode(c, m->enc_state, img, emb, work, nt, NULL, NULL, &err);
                    t16[r] = bench_now() - t0;
                }
                const double m32 = bench_median(t32, reps), m16 = bench_median(t16, reps);
                printf("  --precision bf16 (%s), alternated with fp32: %.3f s vs %.3f s = %.2fx\n",
                       gemm_bf16_path_name(h->path), m16, m32, m16 > 0 ? m32 / m16 : 0);
                if (rf) fprintf(rf, "lite_bf16_s_%d %.4f\nlite_bf16_fp32_s_%d %.4f\n", nt, m16, nt, m32);
                ms_tinyvit_set_bf16(c, m->enc_state, 0, GEMM_BF16_AUTO, &err);
            }
        }
        while (*p && *p != ',') p++;
        if (*p == ',') p++;
    }
    if (rf) fclose(rf);
    free(img), free(emb), free(work);
    medsam_model_free(m);
    return 0;
}
