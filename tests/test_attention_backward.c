/* test_attention_backward.c — the tiled ViT attention backward (ops/backward.h):
 * vit_attention_backward_cached (D from the forward output) and the portable row
 * kernels, beside test_backward.c's checks of vit_attention_backward.
 *
 * Checks and tolerances:
 * - PyTorch autograd fixtures (tests/fixtures/backward/vit_attn_{global,window}.npz,
 *   tools/ref/make_backward_fixtures.py): dqkv, drel_pos_h, drel_pos_w of the cached
 *   and the portable paths, tiles T, 6 and 1: relative L2 <= 1e-5 and every element
 *   within 1e-5 max|ref| + 1e-4 |ref| (test_backward.c's tolerance);
 * - ViT-like shapes (14x14 windows, a 24x24 global grid with 64-row tiles, hd 64: the
 *   vector paths' full vectors, masked tails and segments that span key rows) against
 *   a plain double-precision backward written here: relative L2 <= 2e-6, every
 *   element within 1e-5 max|ref| + 1e-4 |ref|;
 * - vit_attention_forward_train's output against the fixture's (tolerance above) and
 *   vit_attention_forward's (relative L2 <= 1e-6, elements within 1e-6 max + 1e-5 |ref|);
 *   the backward with its lse and output (paths "+lse") at the tolerances above;
 * - cached = uncached to relative L2 <= 1e-6;
 * - bit-identical results for 1 and 3 threads (forward_train, backward); a second call on the result gives
 *   twice the gradient within relative L2 1e-7 (the additions are re-associated). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npz.h"
#include "ops/attention.h"
#include "ops/backward.h"
#include "test.h"

#define FIX_DIR "tests/fixtures/backward"

static float *zeros(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static double max_abs(const float *x, long n) {
    double m = 0;
    for (long i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static float *fix_get(ms_npz *z, const char *name) {
    ms_npy a;
    medsam_error err;
    float *f = NULL;
    if (ms_npz_get(z, name, &a, &err) != MEDSAM_OK || ms_npy_to_f32(&a, &f, &err) != MEDSAM_OK) {
        printf("FAIL fixture member %s: %s\n", name, err.message);
        exit(1);
    }
    ms_npy_free(&a);
    return f;
}

static void close_to(const char *what, const float *got, const float *ref, long n, double rel_l2) {
    t_close(what, got, ref, n, 1e-5 * max_abs(ref, n), 1e-4, rel_l2);
}

/* Which backward: 0 cached, 1 portable with out, 2 portable without out, 3 uncached,
 * 4 cached with out and lse from vit_attention_forward_train, 5 the same portable. */
typedef struct {
    const float *out, *out_t, *lse;  // vit_attention_forward's out; forward_train's out and lse
} fwd_caches;

static void run_bwd(int path, float *dqkv, float *drh, float *drw, const float *dout, const fwd_caches *fc,
                    const float *qkv, const float *rh, const float *rw, int G, int sh, int sw, int heads, int hd,
                    int tile, int nt) {
    float *s = zeros((long)vit_attention_backward_scratch_floats(G, sh, sw, heads, tile, nt));
    const float *out = fc->out;
    if (path == 0)
        vit_attention_backward_cached(dqkv, drh, drw, dout, out, NULL, qkv, rh, rw, G, sh, sw, heads, hd, tile, s, nt);
    else if (path == 4)
        vit_attention_backward_cached(dqkv, drh, drw, dout, fc->out_t, fc->lse, qkv, rh, rw, G, sh, sw, heads, hd,
                                      tile, s, nt);
    else if (path == 5)
        vit_attention_backward_portable(dqkv, drh, drw, dout, fc->out_t, fc->lse, qkv, rh, rw, G, sh, sw, heads, hd,
                                        tile, s, nt);
    else if (path == 3)
        vit_attention_backward(dqkv, drh, drw, dout, qkv, rh, rw, G, sh, sw, heads, hd, tile, s, nt);
    else
        vit_attention_backward_portable(dqkv, drh, drw, dout, path == 1 ? out : NULL, NULL, qkv, rh, rw, G, sh, sw,
                                        heads, hd, tile, s, nt);
    free(s);
}

/* vit_attention_forward_train: out_t (G, T, C) and lse (G, heads, T). */
static void run_fwd_train(float *out_t, float *lse, const float *qkv, const float *rh, const float *rw, int G, int sh,
                          int sw, int heads, int hd, int tile, int nt) {
    float *s = zeros((long)vit_attention_forward_train_scratch_floats(sh, sw, tile, nt));
    vit_attention_forward_train(out_t, lse, qkv, rh, rw, G, sh, sw, heads, hd, tile, s, nt);
    free(s);
}

static void fixture_case(const char *name, int G, int sh, int sw, int heads, int hd) {
    char path[256], what[128];
    snprintf(path, sizeof path, FIX_DIR "/%s.npz", name);
    ms_npz *z = NULL;
    medsam_error err;
    if (ms_npz_open(path, &z, &err) != MEDSAM_OK) {
        CHECK(0, "cannot open %s: %s", path, err.message);
        return;
    }
    const int T = sh * sw, C = heads * hd, Lh = 2 * sh - 1, Lw = 2 * sw - 1;
    float *qkv = fix_get(z, "qkv"), *rh = fix_get(z, "rel_pos_h"), *rw = fix_get(z, "rel_pos_w");
    float *dout = fix_get(z, "dout"), *ref_dqkv = fix_get(z, "dqkv");
    float *ref_drh = fix_get(z, "drel_pos_h"), *ref_drw = fix_get(z, "drel_pos_w");
    float *out = zeros((long)G * T * C), *fs = zeros((long)vit_attention_scratch_floats(sh, sw, T));
    float *out_ref = fix_get(z, "out"), *out_t = zeros((long)G * T * C), *lse = zeros((long)G * heads * T);
    vit_attention_forward(out, qkv, rh, rw, G, sh, sw, heads, hd, T, fs, 1);
    const int tiles[3] = {T, 6, 1};
    static const char *paths[6] = {"cached", "portable", "portable no-out", "uncached", "cached+lse", "portable+lse"};
    for (int p = 0; p < 6; p++)
        for (int t = 0; t < 3; t++) {
            if (p == 3) continue;  // test_backward.c
            float *dqkv = zeros((long)G * T * 3 * C), *drh = zeros(Lh * hd), *drw = zeros(Lw * hd);
            run_fwd_train(out_t, lse, qkv, rh, rw, G, sh, sw, heads, hd, tiles[t], 2);
            if (p == 4) {
                snprintf(what, sizeof what, "%s forward_train tile %d out", name, tiles[t]);
                close_to(what, out_t, out_ref, (long)G * T * C, 1e-5);
            }
            const fwd_caches fc = {out, out_t, lse};
            run_bwd(p, dqkv, drh, drw, dout, &fc, qkv, rh, rw, G, sh, sw, heads, hd, tiles[t], 2);
            snprintf(what, sizeof what, "%s %s tile %d dqkv", name, paths[p], tiles[t]);
            close_to(what, dqkv, ref_dqkv, (long)G * T * 3 * C, 1e-5);
            snprintf(what, sizeof what, "%s %s tile %d drel_pos_h", name, paths[p], tiles[t]);
            close_to(what, drh, ref_drh, Lh * hd, 1e-5);
            snprintf(what, sizeof what, "%s %s tile %d drel_pos_w", name, paths[p], tiles[t]);
            close_to(what, drw, ref_drw, Lw * hd, 1e-5);
            free(dqkv), free(drh), free(drw);
        }
    free(qkv), free(rh), free(rw), free(dout), free(ref_dqkv), free(ref_drh), free(ref_drw), free(out), free(fs);
    free(out_ref), free(out_t), free(lse);
    ms_npz_close(z);
}

/* ---- plain double-precision reference -------------------------------------- */

/* The whole (T, T) score matrix per (group, head), in double; accumulates (+=).
 * dqkv: (G, T, 3C); drh: (Lh, hd); drw: (Lw, hd) */
static void ref_backward(float *dqkv, float *drh, float *drw, const float *dout, const float *qkv, const float *rh,
                         const float *rw, int G, int sh, int sw, int heads, int hd) {
    const int T = sh * sw, C = heads * hd, ld = 3 * C;
    const double scale = 1.0 / sqrt((double)hd);
    double *P = malloc(sizeof(double) * T * T), *dS = malloc(sizeof(double) * T * T);
    double *acc_h = calloc((size_t)(2 * sh - 1) * hd, sizeof(double)), *acc_w = calloc((size_t)(2 * sw - 1) * hd, sizeof(double));
    for (int g = 0; g < G; g++)
        for (int h = 0; h < heads; h++) {
            const float *q = qkv + (size_t)g * T * ld + h * hd, *k = q + C, *v = q + 2 * C;  // row stride ld
            const float *dO = dout + (size_t)g * T * C + h * hd;                           // row stride C
            float *dq = dqkv + (size_t)g * T * ld + h * hd, *dk = dq + C, *dv = dq + 2 * C;
            for (int i = 0; i < T; i++) {
                const int qh = i / sw, qw = i % sw;
                double mx = -INFINITY, sum = 0, Di = 0;
                for (int j = 0; j < T; j++) {
                    const int kh = j / sw, kw = j % sw;
                    double s = 0, a = 0, b = 0;
                    for (int c = 0; c < hd; c++) {
                        const double qc = q[(size_t)i * ld + c];
                        s += qc * k[(size_t)j * ld + c];
                        a += qc * rh[(size_t)(qh - kh + sh - 1) * hd + c];
                        b += qc * rw[(size_t)(qw - kw + sw - 1) * hd + c];
                    }
                    P[(size_t)i * T + j] = scale * s + a + b;
                    mx = P[(size_t)i * T + j] > mx ? P[(size_t)i * T + j] : mx;
                }
                for (int j = 0; j < T; j++) sum += (P[(size_t)i * T + j] = exp(P[(size_t)i * T + j] - mx));
                for (int j = 0; j < T; j++) {
                    P[(size_t)i * T + j] /= sum;
                    double dp = 0;
                    for (int c = 0; c < hd; c++) dp += (double)dO[(size_t)i * C + c] * v[(size_t)j * ld + c];
                    dS[(size_t)i * T + j] = dp;
                    Di += P[(size_t)i * T + j] * dp;
                }
                for (int j = 0; j < T; j++) dS[(size_t)i * T + j] = P[(size_t)i * T + j] * (dS[(size_t)i * T + j] - Di);
            }
            for (int i = 0; i < T; i++) {
                const int qh = i / sw, qw = i % sw;
                for (int c = 0; c < hd; c++) {
                    double aq = 0, ak = 0, av = 0;
                    for (int j = 0; j < T; j++) {
                        aq += dS[(size_t)i * T + j] * (scale * k[(size_t)j * ld + c]);
                        ak += dS[(size_t)j * T + i] * (scale * q[(size_t)j * ld + c]);
                        av += P[(size_t)j * T + i] * dO[(size_t)j * C + c];
                    }
                    for (int j = 0; j < T; j++) {
                        const int kh = j / sw, kw = j % sw;
                        aq += dS[(size_t)i * T + j] * (rh[(size_t)(qh - kh + sh - 1) * hd + c] +
                                                       rw[(size_t)(qw - kw + sw - 1) * hd + c]);
                    }
                    dq[(size_t)i * ld + c] += (float)aq;
                    dk[(size_t)i * ld + c] += (float)ak;
                    dv[(size_t)i * ld + c] += (float)av;
                }
                for (int j = 0; j < T; j++) {
                    const int kh = j / sw, kw = j % sw;
                    const double d = dS[(size_t)i * T + j];
                    for (int c = 0; c < hd; c++) {
                        acc_h[(size_t)(qh - kh + sh - 1) * hd + c] += d * q[(size_t)i * ld + c];
                        acc_w[(size_t)(qw - kw + sw - 1) * hd + c] += d * q[(size_t)i * ld + c];
                    }
                }
            }
        }
    for (int r = 0; r < (2 * sh - 1) * hd; r++) drh[r] += (float)acc_h[r];
    for (int r = 0; r < (2 * sw - 1) * hd; r++) drw[r] += (float)acc_w[r];
    free(P), free(dS), free(acc_h), free(acc_w);
}

static void fill(float *x, long n, float a, unsigned seed) {
    unsigned s = seed * 2654435761u + 1u;
    for (long i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        x[i] = a * ((float)(s >> 8) / 8388608.0f - 1.0f);
    }
}

static void random_case(const char *name, int G, int sh, int sw, int heads, int hd, int tile) {
    const int T = sh * sw, C = heads * hd, Lh = 2 * sh - 1, Lw = 2 * sw - 1;
    const long nq = (long)G * T * 3 * C, no = (long)G * T * C;
    float *qkv = zeros(nq), *dout = zeros(no), *out = zeros(no), *rh = zeros(Lh * hd), *rw = zeros(Lw * hd);
    fill(qkv, nq, 1.5f, 11), fill(dout, no, 1.0f, 12), fill(rh, Lh * hd, 0.3f, 13), fill(rw, Lw * hd, 0.3f, 14);
    float *fs = zeros((long)vit_attention_scratch_floats(sh, sw, tile));
    vit_attention_forward(out, qkv, rh, rw, G, sh, sw, heads, hd, tile, fs, 1);
    float *out_t = zeros(no), *lse = zeros((long)G * heads * T), *out_t3 = zeros(no), *lse3 = zeros((long)G * heads * T);
    run_fwd_train(out_t, lse, qkv, rh, rw, G, sh, sw, heads, hd, tile, 1);
    run_fwd_train(out_t3, lse3, qkv, rh, rw, G, sh, sw, heads, hd, tile, 3);
    char what[128];
    snprintf(what, sizeof what, "%s forward_train out = forward", name);
    t_close(what, out_t, out, no, 1e-6 * max_abs(out, no), 1e-5, 1e-6);
    CHECK(memcmp(out_t, out_t3, sizeof(float) * (size_t)no) == 0 &&
              memcmp(lse, lse3, sizeof(float) * (size_t)G * heads * T) == 0,
          "%s forward_train: 1 and 3 threads bit-identical", name);
    const fwd_caches fc = {out, out_t, lse};
    float *r = zeros(nq + (Lh + Lw) * hd);
    ref_backward(r, r + nq, r + nq + Lh * hd, dout, qkv, rh, rw, G, sh, sw, heads, hd);
    const long n = nq + (long)(Lh + Lw) * hd;
    float *got[6], *got3 = zeros(n);
    for (int p = 0; p < 6; p++) {
        got[p] = zeros(n);
        run_bwd(p, got[p], got[p] + nq, got[p] + nq + Lh * hd, dout, &fc, qkv, rh, rw, G, sh, sw, heads, hd, tile, 1);
    }
    static const char *paths[6] = {"cached", "portable", "portable no-out", "uncached", "cached+lse", "portable+lse"};
    for (int p = 0; p < 6; p++) {
        snprintf(what, sizeof what, "%s %s dqkv vs double", name, paths[p]);
        close_to(what, got[p], r, nq, 2e-6);
        snprintf(what, sizeof what, "%s %s drel_pos vs double", name, paths[p]);
        close_to(what, got[p] + nq, r + nq, n - nq, 2e-6);
    }
    snprintf(what, sizeof what, "%s cached = uncached", name);
    t_close(what, got[0], got[3], n, 1e30, 1e30, 1e-6);
    /* 3 threads: bit-identical; then accumulate a second time */
    run_bwd(4, got3, got3 + nq, got3 + nq + Lh * hd, dout, &fc, qkv, rh, rw, G, sh, sw, heads, hd, tile, 3);
    CHECK(memcmp(got3, got[4], sizeof(float) * (size_t)n) == 0, "%s cached+lse: 1 and 3 threads bit-identical", name);
    memset(got3, 0, sizeof(float) * (size_t)n);
    run_bwd(0, got3, got3 + nq, got3 + nq + Lh * hd, dout, &fc, qkv, rh, rw, G, sh, sw, heads, hd, tile, 3);
    CHECK(memcmp(got3, got[0], sizeof(float) * (size_t)n) == 0, "%s cached: 1 and 3 threads bit-identical", name);
    run_bwd(0, got3, got3 + nq, got3 + nq + Lh * hd, dout, &fc, qkv, rh, rw, G, sh, sw, heads, hd, tile, 3);
    for (long i = 0; i < n; i++) got[0][i] *= 2.0f;
    snprintf(what, sizeof what, "%s cached accumulates (+=)", name);
    t_close(what, got3, got[0], n, 1e30, 1e30, 1e-7);
    for (int p = 0; p < 6; p++) free(got[p]);
    free(got3), free(r), free(fs), free(qkv), free(dout), free(out), free(rh), free(rw);
    free(out_t), free(lse), free(out_t3), free(lse3);
}

int main(void) {
    fixture_case("vit_attn_global", 2, 4, 5, 2, 8);
    fixture_case("vit_attn_window", 4, 3, 3, 3, 4);
    random_case("windows 3 x 14x14", 3, 14, 14, 2, 64, 196);
    random_case("global 24x24 tile 64", 1, 24, 24, 3, 64, 64);
    random_case("global 5x19 tile 7", 2, 5, 19, 2, 16, 7);
    return t_summary();
}
