/* test_backward.c — the backward kernels of src/ops/backward.h and the loss of
 * src/train/loss.h against PyTorch autograd (the .npz files of tests/fixtures/backward,
 * written by tools/ref/make_backward_fixtures.py from the official modules; the
 * reference gradients are float64 autograd on the float32 inputs), and results
 * bit-identical for any thread count. Finite differences: test_backward_fd.c.
 *
 * Tolerance for every gradient tensor: relative L2 error <= 1e-5 and every
 * element within 1e-5 * max|ref| + 1e-4 * |ref|. The bilinear backward must equal
 * torch's float32 result bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npz.h"
#include "ops/attention.h"
#include "ops/backward.h"
#include "ops/conv.h"
#include "ops/conv_transpose.h"
#include "ops/mha.h"
#include "ops/ops.h"
#include "test.h"
#include "train/loss.h"

#define FIX_DIR "tests/fixtures/backward"
#define REL_L2 1e-5

static ms_npz *fix_open(const char *name) {
    char path[256];
    snprintf(path, sizeof path, FIX_DIR "/%s.npz", name);
    ms_npz *z = NULL;
    medsam_error err;
    if (ms_npz_open(path, &z, &err) != MEDSAM_OK) {
        printf("FAIL cannot open %s: %s\n", path, err.message);
        exit(1);
    }
    return z;
}

/* Member `name` as a new float array; its element count in *n (if n). */
static float *fix_get(ms_npz *z, const char *name, long *n) {
    ms_npy a;
    medsam_error err;
    float *f = NULL;
    if (ms_npz_get(z, name, &a, &err) != MEDSAM_OK || ms_npy_to_f32(&a, &f, &err) != MEDSAM_OK) {
        printf("FAIL fixture member %s: %s\n", name, err.message);
        exit(1);
    }
    if (n) *n = (long)a.count;
    ms_npy_free(&a);
    return f;
}

static float *zeros(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static double max_abs(const float *x, long n) {
    double m = 0;
    for (long i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* got vs the fixture member `name` (the reference gradient) at the stated tolerance. */
static void expect(ms_npz *z, const char *what, const char *name, const float *got) {
    long n;
    float *ref = fix_get(z, name, &n);
    t_close(what, got, ref, n, 1e-5 * max_abs(ref, n), 1e-4, REL_L2);
    free(ref);
}

/* ---- linear, layernorm, activations ------------------------------------------ */

static void test_linear(void) {
    ms_npz *z = fix_open("linear");
    const int N = 5, I = 7, O = 6;
    float *x = fix_get(z, "x", NULL), *w = fix_get(z, "w", NULL), *dout = fix_get(z, "dout", NULL);
    float *dx = zeros(N * I), *dw = zeros(O * I), *db = zeros(O);
    linear_backward(dx, dw, db, dout, x, I, w, N, I, O, 1);
    expect(z, "linear dx", "dx", dx);
    expect(z, "linear dw", "dw", dw);
    expect(z, "linear db", "db", db);
    free(x), free(w), free(dout), free(dx), free(dw), free(db);
    ms_npz_close(z);
}

static void layernorm_case(const char *name, long N, int C) {
    ms_npz *z = fix_open(name);
    float *x = fix_get(z, "x", NULL), *w = fix_get(z, "w", NULL), *b = fix_get(z, "b", NULL);
    float *dout = fix_get(z, "dout", NULL);
    float *y = zeros(N * C), *y_inf = zeros(N * C), *mean = zeros(N), *rstd = zeros(N);
    float *dx = zeros(N * C), *dw = zeros(C), *db = zeros(C);
    char what[64];
    layernorm_forward_train(y, mean, rstd, x, w, b, N, C, 1e-6f, 1);
    layernorm_forward(y_inf, x, w, b, N, C, 1e-6f, 1);
    snprintf(what, sizeof what, "%s forward_train = forward", name);
    t_close(what, y, y_inf, N * C, 1e-6, 1e-6, 1e-7);
    layernorm_backward(dx, dw, db, dout, mean, rstd, x, w, N, C, 1);
    snprintf(what, sizeof what, "%s dx", name), expect(z, what, "dx", dx);
    snprintf(what, sizeof what, "%s dweight", name), expect(z, what, "dw", dw);
    snprintf(what, sizeof what, "%s dbias", name), expect(z, what, "db", db);
    free(x), free(w), free(b), free(dout), free(y), free(y_inf), free(mean), free(rstd), free(dx), free(dw), free(db);
    ms_npz_close(z);
}

static void test_activations(void) {
    ms_npz *z = fix_open("activations");
    long n;
    float *x = fix_get(z, "x", &n), *dout = fix_get(z, "dout", NULL);
    float *y = zeros(n), *y_inf = zeros(n), *dg = zeros(n), *dr = zeros(n);
    gelu_forward_train(y, x, n, 1);
    memcpy(y_inf, x, (size_t)n * sizeof(float));
    gelu_forward(y_inf, n, 1);
    t_close("gelu forward_train = forward", y, y_inf, n, 1e-7, 1e-6, 1e-7);
    gelu_backward(dg, dout, x, n, 1);
    expect(z, "gelu dx", "dgelu", dg);
    memcpy(y, x, (size_t)n * sizeof(float));
    relu_forward(y, n, 1);
    relu_backward(dr, dout, y, n, 1);
    expect(z, "relu dx", "drelu", dr);
    free(x), free(dout), free(y), free(y_inf), free(dg), free(dr);
    ms_npz_close(z);
}

/* ---- ViT attention ----------------------------------------------------------- */

static void vit_core_case(const char *name, int ngroups, int sh, int sw, int heads, int hd) {
    ms_npz *z = fix_open(name);
    const int T = sh * sw, C = heads * hd, Lh = 2 * sh - 1, Lw = 2 * sw - 1;
    float *qkv = fix_get(z, "qkv", NULL), *rh = fix_get(z, "rel_pos_h", NULL), *rw = fix_get(z, "rel_pos_w", NULL);
    float *dout = fix_get(z, "dout", NULL), *out_ref = fix_get(z, "out", NULL);
    float *out = zeros((long)ngroups * T * C);
    float *fs = zeros((long)2 * vit_attention_scratch_floats(sh, sw, T));
    vit_attention_forward(out, qkv, rh, rw, ngroups, sh, sw, heads, hd, T, fs, 2);
    char what[96];
    snprintf(what, sizeof what, "%s forward (sanity)", name);
    t_close(what, out, out_ref, (long)ngroups * T * C, 1e-5, 1e-4, 1e-5);
    /* one tile per group, then query/key tiles of 6 and of 1 rows */
    const int tiles[3] = {T, 6, 1};
    for (int t = 0; t < 3; t++) {
        float *dqkv = zeros((long)ngroups * T * 3 * C), *drh = zeros(Lh * hd), *drw = zeros(Lw * hd);
        float *s = zeros((long)vit_attention_backward_scratch_floats(ngroups, sh, sw, heads, tiles[t], 2));
        vit_attention_backward(dqkv, drh, drw, dout, qkv, rh, rw, ngroups, sh, sw, heads, hd, tiles[t], s, 2);
        snprintf(what, sizeof what, "%s tile %d dqkv", name, tiles[t]), expect(z, what, "dqkv", dqkv);
        snprintf(what, sizeof what, "%s tile %d drel_pos_h", name, tiles[t]), expect(z, what, "drel_pos_h", drh);
        snprintf(what, sizeof what, "%s tile %d drel_pos_w", name, tiles[t]), expect(z, what, "drel_pos_w", drw);
        free(dqkv), free(drh), free(drw), free(s);
    }
    free(qkv), free(rh), free(rw), free(dout), free(out_ref), free(out), free(fs);
    ms_npz_close(z);
}

/* Window partition as image_encoder.py:window_partition (test-local forward). */
static void window_partition(float *dst, const float *src, int G, int Hp, int ws, int C) {
    const int nw = Hp / ws;
    for (long r = 0; r < (long)Hp * Hp; r++) {
        const int win = (int)(r / (ws * ws)), in = (int)(r % (ws * ws));
        const int y = win / nw * ws + in / ws, x = win % nw * ws + in % ws;
        for (int c = 0; c < C; c++) dst[r * C + c] = (y < G && x < G) ? src[((long)y * G + x) * C + c] : 0.0f;
    }
}

static void window_unpartition(float *dst, const float *win, int G, int Hp, int ws, int C) {
    const int nw = Hp / ws;
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++) {
            const long r = ((long)(y / ws) * nw + x / ws) * ws * ws + (y % ws) * ws + x % ws;
            memcpy(dst + ((long)y * G + x) * C, win + r * C, (size_t)C * sizeof(float));
        }
}

/* Block.forward's windowed attention path: partition (pad 5 -> 6), qkv, attention,
 * proj, unpartition; backward through all of it, the padded tokens included. */
static void test_vit_block_window(void) {
    ms_npz *z = fix_open("vit_block_window");
    const int G = 5, ws = 3, Hp = 6, heads = 2, hd = 4, C = heads * hd, T = ws * ws, nwin = 4, L = 2 * ws - 1;
    const long R = (long)Hp * Hp;
    float *x = fix_get(z, "x", NULL), *dout = fix_get(z, "dout", NULL);
    float *qw = fix_get(z, "qkv_weight", NULL), *qb = fix_get(z, "qkv_bias", NULL);
    float *pw = fix_get(z, "proj_weight", NULL), *pb = fix_get(z, "proj_bias", NULL);
    float *rh = fix_get(z, "rel_pos_h", NULL), *rw = fix_get(z, "rel_pos_w", NULL);
    float *xw = zeros(R * C), *qkv = zeros(R * 3 * C), *att = zeros(R * C), *yw = zeros(R * C);
    float *fs = zeros((long)vit_attention_scratch_floats(ws, ws, T));
    window_partition(xw, x, G, Hp, ws, C);
    linear_forward(qkv, xw, C, qw, qb, R, C, 3 * C, 1);
    vit_attention_forward(att, qkv, rh, rw, nwin, ws, ws, heads, hd, T, fs, 1);
    linear_forward(yw, att, C, pw, pb, R, C, C, 1);

    float *dyw = zeros(R * C), *datt = zeros(R * C), *dqkv = zeros(R * 3 * C), *dxw = zeros(R * C);
    float *dx = zeros(G * G * C);
    float *dqw = zeros(3 * C * C), *dqb = zeros(3 * C), *dpw = zeros(C * C), *dpb = zeros(C), *drh = zeros(L * hd),
          *drw = zeros(L * hd);
    float *s = zeros((long)vit_attention_backward_scratch_floats(nwin, ws, ws, heads, T, 1));
    vit_window_unpartition_backward(dyw, dout, G, Hp, ws, C, 1);
    linear_backward(datt, dpw, dpb, dyw, att, C, pw, R, C, C, 1);
    vit_attention_backward(dqkv, drh, drw, datt, qkv, rh, rw, nwin, ws, ws, heads, hd, T, s, 1);
    linear_backward(dxw, dqw, dqb, dqkv, xw, C, qw, R, C, 3 * C, 1);
    vit_window_partition_backward(dx, dxw, G, Hp, ws, C, 1);
    expect(z, "vit block (windows, padded) dx", "dx", dx);
    expect(z, "vit block dqkv.weight", "dqkv_weight", dqw);
    expect(z, "vit block dqkv.bias (padded tokens)", "dqkv_bias", dqb);
    expect(z, "vit block dproj.weight", "dproj_weight", dpw);
    expect(z, "vit block dproj.bias", "dproj_bias", dpb);
    expect(z, "vit block drel_pos_h", "drel_pos_h", drh);
    expect(z, "vit block drel_pos_w", "drel_pos_w", drw);
    /* the round trip drops exactly the padded rows */
    float *back = zeros(G * G * C);
    window_unpartition(back, xw, G, Hp, ws, C);
    CHECK(memcmp(back, x, sizeof(float) * G * G * C) == 0, "window partition/unpartition round trip");
    free(back);
    free(x), free(dout), free(qw), free(qb), free(pw), free(pb), free(rh), free(rw), free(xw), free(qkv), free(att);
    free(yw), free(fs), free(dyw), free(datt), free(dqkv), free(dxw), free(dx), free(dqw), free(dqb), free(dpw);
    free(dpb), free(drh), free(drw), free(s);
    ms_npz_close(z);
}

/* ---- decoder attention --------------------------------------------------------- */

static void mha_case(const char *name, int Nq, int Nk, int D, int heads, int I, int self_attn) {
    ms_npz *z = fix_open(name);
    static const char *pn[8] = {"q_proj_weight", "q_proj_bias", "k_proj_weight", "k_proj_bias",
                                "v_proj_weight", "v_proj_bias", "out_proj_weight", "out_proj_bias"};
    float *p[8], *dp[8];
    long pnum[8];
    for (int i = 0; i < 8; i++) p[i] = fix_get(z, pn[i], &pnum[i]), dp[i] = zeros(pnum[i]);
    mha_weights w = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]};
    mha_grads dw = {dp[0], dp[1], dp[2], dp[3], dp[4], dp[5], dp[6], dp[7]};
    float *q = fix_get(z, "q", NULL);
    float *k = self_attn ? q : fix_get(z, "k", NULL), *v = self_attn ? q : fix_get(z, "v", NULL);
    float *dout = fix_get(z, "dout", NULL);
    float *out = zeros((long)Nq * D), *out_inf = zeros((long)Nq * D);
    float *cache = zeros((long)mha_cache_floats(Nq, Nk, I, heads));
    float *fs = zeros((long)mha_scratch_floats(Nq, Nk, I, heads));
    float *s = zeros((long)mha_backward_scratch_floats(Nq, Nk, I));
    float *dq = zeros((long)Nq * D);
    float *dk = self_attn ? dq : zeros((long)Nk * D), *dv = self_attn ? dq : zeros((long)Nk * D);
    char what[96];
    mha_forward_train(out, cache, q, k, v, &w, Nq, Nk, D, I, heads, 1);
    mha_forward(out_inf, q, k, v, &w, Nq, Nk, D, I, heads, fs, 1);
    snprintf(what, sizeof what, "%s forward_train = forward", name);
    t_close(what, out, out_inf, (long)Nq * D, 0, 0, 0);
    mha_backward(dq, dk, dv, &dw, dout, cache, q, k, v, &w, Nq, Nk, D, I, heads, s, 1);
    snprintf(what, sizeof what, "%s dq%s", name, self_attn ? " (q = k = v)" : ""), expect(z, what, "dq", dq);
    if (!self_attn) {
        snprintf(what, sizeof what, "%s dk", name), expect(z, what, "dk", dk);
        snprintf(what, sizeof what, "%s dv", name), expect(z, what, "dv", dv);
    }
    for (int i = 0; i < 8; i++) {
        char ref_name[40];
        snprintf(ref_name, sizeof ref_name, "d%s", pn[i]);
        snprintf(what, sizeof what, "%s %s", name, ref_name);
        if (i == 3) {
            /* k_proj.bias: zero in exact arithmetic (softmax ignores a per-row constant);
             * float rounding leaves ~1e-6 next to other gradients of ~10: atol 2e-5 */
            long n;
            float *ref = fix_get(z, ref_name, &n);
            t_close(what, dp[i], ref, n, 2e-5, 0, 1e30);
            free(ref);
        } else {
            expect(z, what, ref_name, dp[i]);
        }
    }
    for (int i = 0; i < 8; i++) free(p[i]), free(dp[i]);
    if (!self_attn) free(k), free(v), free(dk), free(dv);
    free(q), free(dout), free(out), free(out_inf), free(cache), free(fs), free(s), free(dq);
    ms_npz_close(z);
}

/* ---- convolutions -------------------------------------------------------------- */

static void test_convs(void) {
    {  // patch embed: (3, 8, 12) -> (2*3, 6), P = 4
        ms_npz *z = fix_open("patch_embed");
        float *x = fix_get(z, "x", NULL), *dout = fix_get(z, "dout", NULL);
        float *dw = zeros(6 * 3 * 16), *db = zeros(6), *col = zeros((long)conv_patchify_col_floats(3, 8, 12, 4));
        conv_patchify_backward(dw, db, dout, x, 3, 8, 12, 6, 4, col, 1);
        expect(z, "patch_embed dweight", "dw", dw);
        expect(z, "patch_embed dbias", "db", db);
        free(x), free(dout), free(dw), free(db), free(col);
        ms_npz_close(z);
    }
    {  // 1x1, no bias: (3*4, 5) -> (3*4, 6)
        ms_npz *z = fix_open("conv1x1");
        float *x = fix_get(z, "x", NULL), *w = fix_get(z, "w", NULL), *dout = fix_get(z, "dout", NULL);
        float *dx = zeros(12 * 5), *dw = zeros(30);
        conv1x1_backward(dx, dw, NULL, dout, x, w, 12, 5, 6, 1);
        expect(z, "conv1x1 dx", "dx", dx);
        expect(z, "conv1x1 dweight", "dw", dw);
        free(x), free(w), free(dout), free(dx), free(dw);
        ms_npz_close(z);
    }
    {  // 3x3 pad 1: (4*6, 5) -> (4*6, 6)
        ms_npz *z = fix_open("conv3x3");
        float *x = fix_get(z, "x", NULL), *w = fix_get(z, "w", NULL), *dout = fix_get(z, "dout", NULL);
        float *dx = zeros(24 * 5), *dw = zeros(6 * 5 * 9), *db = zeros(6);
        float *col = zeros((long)conv3x3_col_floats(5, 4, 6));
        conv3x3_backward(dx, dw, db, dout, x, w, 4, 6, 5, 6, col, 1);
        expect(z, "conv3x3 dx", "dx", dx);
        expect(z, "conv3x3 dweight", "dw", dw);
        expect(z, "conv3x3 dbias", "db", db);
        free(x), free(w), free(dout), free(dx), free(dw), free(db), free(col);
        ms_npz_close(z);
    }
    {  // ConvTranspose2d 6 -> 4, k = s = 2, on (6, 3, 5): channels-first and packed channels-last
        ms_npz *z = fix_open("conv_transpose");
        const int Cin = 6, Cout = 4, H = 3, W = 5, P = H * W;
        float *x = fix_get(z, "x", NULL), *w = fix_get(z, "w", NULL), *b = fix_get(z, "b", NULL);
        float *dout = fix_get(z, "dout", NULL);
        float *dx = zeros(Cin * P), *dw = zeros(Cin * Cout * 4), *db = zeros(Cout);
        conv_transpose2x2_backward(dx, dw, db, dout, x, w, Cin, Cout, H, W, 1);
        expect(z, "conv_transpose dx", "dx", dx);
        expect(z, "conv_transpose dweight", "dw", dw);
        expect(z, "conv_transpose dbias", "db", db);
        /* packed form: X (P, Cin) channels-last, dY (P, 4*Cout) in block order */
        float *xcl = zeros(P * Cin), *dycl = zeros(P * 4 * Cout), *wp = zeros(Cin * 4 * Cout), *bp = zeros(4 * Cout);
        float *dxcl = zeros(P * Cin), *dx2 = zeros(Cin * P), *dw2 = zeros(Cin * Cout * 4), *db2 = zeros(Cout);
        float *dwp = zeros(Cin * 4 * Cout);
        for (int c = 0; c < Cin; c++)
            for (int p = 0; p < P; p++) xcl[p * Cin + c] = x[c * P + p];
        for (int o = 0; o < Cout; o++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                    for (int k = 0; k < 4; k++)
                        dycl[(i * W + j) * 4 * Cout + k * Cout + o] =
                            dout[(o * 2 * H + 2 * i + k / 2) * 2 * W + 2 * j + k % 2];
        conv_transpose2x2_pack(wp, bp, w, b, Cin, Cout);
        conv_transpose2x2_packed_backward(dxcl, dw2, db2, dycl, xcl, wp, P, Cin, Cout, dwp, 1);
        for (int c = 0; c < Cin; c++)
            for (int p = 0; p < P; p++) dx2[c * P + p] = dxcl[p * Cin + c];
        expect(z, "conv_transpose packed dx", "dx", dx2);
        expect(z, "conv_transpose packed dweight", "dw", dw2);
        expect(z, "conv_transpose packed dbias", "db", db2);
        free(xcl), free(dycl), free(wp), free(bp), free(dxcl), free(dx2), free(dw2), free(db2), free(dwp);
        free(x), free(w), free(b), free(dout), free(dx), free(dw), free(db);
        ms_npz_close(z);
    }
}

/* ---- upsample (bit-exact) and loss --------------------------------------------- */

static void upsample_expect_exact(const char *what, const float *got, const float *ref, long n) {
    long diff = 0, worst_i = 0;
    double worst = 0;
    for (long i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float)) != 0) {
            diff++;
            if (fabs((double)got[i] - ref[i]) >= worst) worst = fabs((double)got[i] - ref[i]), worst_i = i;
        }
    CHECK(diff == 0, "%s: %ld of %ld differ from torch (worst %.3g at %ld)", what, diff, n, worst, worst_i);
    if (!diff) printf("ok   %-40s n=%ld bit-identical to torch\n", what, n);
}

static void test_upsample(void) {
    ms_npz *z = fix_open("upsample");
    static const struct { const char *name; int n, ih, iw, oh, ow; } cs[] = {
        {"up", 2, 5, 4, 13, 11}, {"odd", 1, 7, 5, 19, 13}, {"down", 1, 9, 11, 4, 6}, {"same", 1, 6, 6, 6, 13}};
    for (int c = 0; c < 4; c++) {
        char nm[32], what[64];
        snprintf(nm, sizeof nm, "%s_dout", cs[c].name);
        float *dout = fix_get(z, nm, NULL);
        snprintf(nm, sizeof nm, "%s_dx", cs[c].name);
        float *ref = fix_get(z, nm, NULL);
        const long n = (long)cs[c].n * cs[c].ih * cs[c].iw;
        float *dx = zeros(n);
        upsample_bilinear_backward(dx, dout, cs[c].n, cs[c].ih, cs[c].iw, cs[c].oh, cs[c].ow, 2);
        snprintf(what, sizeof what, "upsample backward %s %dx%d->%dx%d", cs[c].name, cs[c].ih, cs[c].iw, cs[c].oh,
                 cs[c].ow);
        upsample_expect_exact(what, dx, ref, n);
        free(dout), free(ref), free(dx);
    }
    /* 64 -> 256 (MedSAM's 256 -> 1024 ratio) with the script's hashed upstream gradient */
    float *dout = zeros(256 * 256), *dx = zeros(64 * 64), *ref = fix_get(z, "x4_dx", NULL);
    for (long i = 0; i < 256 * 256; i++) {
        const unsigned long long k = ((unsigned long long)i * 2654435761ULL) % 4294967296ULL;
        dout[i] = (float)(((double)(k % 2001) - 1000.0) / 1000.0);
    }
    upsample_bilinear_backward(dx, dout, 1, 64, 64, 256, 256, 2);
    upsample_expect_exact("upsample backward x4 64x64->256x256", dx, ref, 64 * 64);
    free(dout), free(dx), free(ref);
    ms_npz_close(z);
}

static void test_loss(void) {
    ms_npz *z = fix_open("loss");
    const int B = 3;
    const long HW = 120;
    float *x = fix_get(z, "logits", NULL), *g = fix_get(z, "target", NULL), *vals = fix_get(z, "values", NULL);
    float *dx = zeros(B * HW);
    loss_dice_bce_stats st[3];
    double loss[3];
    loss_dice_bce_forward(loss, st, x, g, B, HW);
    float got[3] = {(float)loss[0], (float)loss[1], (float)loss[2]};
    t_close("loss {total, dice, bce}", got, vals, 3, 0, 1e-6, 1e-7);
    loss_dice_bce_backward(dx, st, x, g, 1.0f, B, HW, 1);
    expect(z, "loss dlogits (dice + bce)", "dlogits", dx);
    free(x), free(g), free(vals), free(dx);
    ms_npz_close(z);
}


/* ---- thread-count independence and accumulation --------------------------------
 * Each case runs a backward on shapes big enough to open the parallel regions
 * (rows, column blocks, tiles, windows) into one concatenated gradient buffer;
 * the results with 1, 2 and 3 threads must be bit-identical, and a run into a
 * buffer pre-filled with 1 must give 1 + the fresh result (+= semantics). */

static unsigned long long thr_state = 12345;

static float *thr_rand(long n) {
    float *x = malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) {
        thr_state = thr_state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(thr_state >> 40) / 8388608.0 - 1.0);
    }
    return x;
}

typedef struct {
    const float *a[12];  // inputs of the case
    long nout;           // floats of the gradient buffer
} thr_ctx;

typedef void (*thr_fn)(const thr_ctx *c, float *g, int nthreads);

static void thr_check(const char *what, thr_fn f, const thr_ctx *c) {
    const long n = c->nout;
    float *g1 = zeros(n), *g2 = zeros(n), *g3 = zeros(n), *acc = zeros(n);
    f(c, g1, 1), f(c, g2, 2), f(c, g3, 3);
    for (long i = 0; i < n; i++) acc[i] = 1.0f;
    f(c, acc, 3);
    for (long i = 0; i < n; i++) acc[i] -= 1.0f;
    CHECK(memcmp(g1, g2, (size_t)n * sizeof(float)) == 0 && memcmp(g1, g3, (size_t)n * sizeof(float)) == 0,
          "%s: results differ between 1, 2 and 3 threads", what);
    CHECK(max_abs(g1, n) > 0, "%s: all-zero gradient", what);
    char name[96];
    snprintf(name, sizeof name, "%s accumulates (+=)", what);
    t_close(name, acc, g1, n, 1e-5 * max_abs(g1, n), 1e-4, 1e-5);
    free(g1), free(g2), free(g3), free(acc);
}

enum { TL_N = 300, TL_I = 70, TL_O = 130 };
static void thr_linear(const thr_ctx *c, float *g, int nt) {
    linear_backward(g, g + TL_N * TL_I, g + TL_N * TL_I + TL_O * TL_I, c->a[0], c->a[1], TL_I, c->a[2], TL_N, TL_I,
                    TL_O, nt);
}

enum { TN_N = 200, TN_C = 200 };
static void thr_layernorm(const thr_ctx *c, float *g, int nt) {
    layernorm_backward(g, g + TN_N * TN_C, g + TN_N * TN_C + TN_C, c->a[0], c->a[3], c->a[4], c->a[1], c->a[2], TN_N,
                       TN_C, nt);
}

enum { TA_N = 70000 };
static void thr_act(const thr_ctx *c, float *g, int nt) {
    gelu_backward(g, c->a[0], c->a[1], TA_N, nt);
    relu_backward(g + TA_N, c->a[0], c->a[1], TA_N, nt);
}

/* attention: a[0] dout, a[1] qkv, a[2] rel_h, a[3] rel_w; sizes in a thr_attn */
typedef struct {
    int G, sh, sw, heads, hd, tile;
} thr_attn;
static const thr_attn thr_attn_cases[2] = {{6, 4, 4, 3, 8, 16}, {1, 6, 7, 2, 8, 8}};
static int thr_attn_pick;
static void thr_attention(const thr_ctx *c, float *g, int nt) {
    const thr_attn *s = &thr_attn_cases[thr_attn_pick];
    const int T = s->sh * s->sw, C = s->heads * s->hd;
    float *scr = zeros((long)vit_attention_backward_scratch_floats(s->G, s->sh, s->sw, s->heads, s->tile, nt));
    float *dqkv = g, *drh = g + (long)s->G * T * 3 * C, *drw = drh + (2 * s->sh - 1) * s->hd;
    vit_attention_backward(dqkv, drh, drw, c->a[0], c->a[1], c->a[2], c->a[3], s->G, s->sh, s->sw, s->heads, s->hd,
                           s->tile, scr, nt);
    free(scr);
}

enum { TM_Q = 40, TM_K = 70, TM_D = 32, TM_I = 16, TM_H = 4 };
static void thr_mha(const thr_ctx *c, float *g, int nt) {
    const float *p = c->a[4];  // all 8 weights, concatenated
    const long wi = TM_I * TM_D, bi = TM_I;  // one projection weight, one bias
    mha_weights w = {p,          p + wi,         p + wi + bi,         p + 2 * wi + bi,
                     p + 2 * (wi + bi), p + 3 * wi + 2 * bi, p + 3 * (wi + bi), p + 4 * wi + 3 * bi};
    float *d = g + TM_Q * TM_D + 2 * TM_K * TM_D;  // weight grads, same layout as p
    mha_grads dw = {d, d + (w.q_b - p), d + (w.k_w - p), d + (w.k_b - p), d + (w.v_w - p), d + (w.v_b - p),
                    d + (w.out_w - p), d + (w.out_b - p)};
    float *cache = zeros((long)mha_cache_floats(TM_Q, TM_K, TM_I, TM_H)), *out = zeros(TM_Q * TM_D);
    float *scr = zeros((long)mha_backward_scratch_floats(TM_Q, TM_K, TM_I));
    mha_forward_train(out, cache, c->a[1], c->a[2], c->a[3], &w, TM_Q, TM_K, TM_D, TM_I, TM_H, nt);
    mha_backward(g, g + TM_Q * TM_D, g + TM_Q * TM_D + TM_K * TM_D, &dw, c->a[0], cache, c->a[1], c->a[2], c->a[3], &w,
                 TM_Q, TM_K, TM_D, TM_I, TM_H, scr, nt);
    free(cache), free(out), free(scr);
}

enum { TC_H = 12, TC_W = 10, TC_CI = 8, TC_CO = 12, TP_CI = 3, TP_H = 32, TP_W = 24, TP_P = 4, TP_CO = 20 };
static void thr_conv(const thr_ctx *c, float *g, int nt) {
    float *col = zeros((long)conv3x3_col_floats(TC_CI, TC_H, TC_W));
    float *dx = g, *dw = dx + TC_H * TC_W * TC_CI, *db = dw + TC_CO * TC_CI * 9;
    conv3x3_backward(dx, dw, db, c->a[0], c->a[1], c->a[2], TC_H, TC_W, TC_CI, TC_CO, col, nt);
    free(col);
    col = zeros((long)conv_patchify_col_floats(TP_CI, TP_H, TP_W, TP_P));
    float *pw = db + TC_CO, *pb = pw + TP_CO * TP_CI * TP_P * TP_P;
    conv_patchify_backward(pw, pb, c->a[3], c->a[4], TP_CI, TP_H, TP_W, TP_CO, TP_P, col, nt);
    free(col);
}

enum { TT_CI = 8, TT_CO = 70, TT_H = 5, TT_W = 7 };
static void thr_convt(const thr_ctx *c, float *g, int nt) {
    const long P = TT_H * TT_W;
    float *dx = g, *dw = dx + TT_CI * P, *db = dw + TT_CI * TT_CO * 4;
    conv_transpose2x2_backward(dx, dw, db, c->a[0], c->a[1], c->a[2], TT_CI, TT_CO, TT_H, TT_W, nt);
    float *dx2 = db + TT_CO, *dw2 = dx2 + TT_CI * P, *db2 = dw2 + TT_CI * TT_CO * 4, *dwp = zeros(TT_CI * 4 * TT_CO);
    conv_transpose2x2_packed_backward(dx2, dw2, db2, c->a[3], c->a[1], c->a[4], P, TT_CI, TT_CO, dwp, nt);
    free(dwp);
}

enum { TU_N = 2, TU_I = 16, TU_O = 64, TL_B = 2, TL_HW = 70000 };
static void thr_upsample_loss(const thr_ctx *c, float *g, int nt) {
    upsample_bilinear_backward(g, c->a[0], TU_N, TU_I, TU_I, TU_O, TU_O, nt);
    loss_dice_bce_stats st[TL_B];
    double v[3];
    loss_dice_bce_forward(v, st, c->a[1], c->a[2], TL_B, TL_HW);
    loss_dice_bce_backward(g + TU_N * TU_I * TU_I, st, c->a[1], c->a[2], 1.0f, TL_B, TL_HW, nt);
}

static void test_threads(void) {
    thr_ctx c;
    float *f[12];
    memset(&c, 0, sizeof c);
#define THR_INPUTS(...)                                                      \
    do {                                                                     \
        const long sz[] = {__VA_ARGS__};                                     \
        for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) c.a[i] = f[i] = thr_rand(sz[i]); \
    } while (0)
#define THR_FREE(k) for (int i = 0; i < (k); i++) free(f[i])
    THR_INPUTS(TL_N * TL_O, TL_N * TL_I, TL_O * TL_I);
    c.nout = TL_N * TL_I + TL_O * TL_I + TL_O;
    thr_check("threads linear", thr_linear, &c);
    THR_FREE(3);

    THR_INPUTS(TN_N * TN_C, TN_N * TN_C, TN_C, TN_N, TN_N);
    for (int i = 0; i < TN_N; i++) f[4][i] = 1.0f + 0.5f * fabsf(f[4][i]);  // rstd > 0
    c.nout = TN_N * TN_C + 2 * TN_C;
    thr_check("threads layernorm", thr_layernorm, &c);
    THR_FREE(5);

    THR_INPUTS(TA_N, TA_N);
    c.nout = 2 * TA_N;
    thr_check("threads gelu+relu", thr_act, &c);
    THR_FREE(2);

    for (thr_attn_pick = 0; thr_attn_pick < 2; thr_attn_pick++) {
        const thr_attn *s = &thr_attn_cases[thr_attn_pick];
        const long T = s->sh * s->sw, C = s->heads * s->hd;
        THR_INPUTS(s->G * T * C, s->G * T * 3 * C, (2 * s->sh - 1) * s->hd, (2 * s->sw - 1) * s->hd);
        c.nout = s->G * T * 3 * C + (2 * s->sh - 1 + 2 * s->sw - 1) * s->hd;
        thr_check(thr_attn_pick ? "threads vit attention (query/key tiles)" : "threads vit attention (windows)",
                  thr_attention, &c);
        THR_FREE(4);
    }

    const long mw = 4 * TM_I * TM_D + 3 * TM_I + TM_D;
    THR_INPUTS(TM_Q * TM_D, TM_Q * TM_D, TM_K * TM_D, TM_K * TM_D, mw);
    c.nout = TM_Q * TM_D + 2 * TM_K * TM_D + mw;
    thr_check("threads mha", thr_mha, &c);
    THR_FREE(5);

    const long pn = (TP_H / TP_P) * (TP_W / TP_P);
    THR_INPUTS(TC_H * TC_W * TC_CO, TC_H * TC_W * TC_CI, TC_CO * TC_CI * 9, pn * TP_CO, TP_CI * TP_H * TP_W);
    c.nout = TC_H * TC_W * TC_CI + TC_CO * TC_CI * 9 + TC_CO + TP_CO * TP_CI * TP_P * TP_P + TP_CO;
    thr_check("threads conv3x3 + patch_embed", thr_conv, &c);
    THR_FREE(5);

    const long tp = TT_H * TT_W;
    THR_INPUTS(TT_CO * 4 * tp, TT_CI * tp, TT_CI * TT_CO * 4, tp * 4 * TT_CO, TT_CI * 4 * TT_CO);
    c.nout = 2 * (TT_CI * tp + TT_CI * TT_CO * 4 + TT_CO);
    thr_check("threads conv_transpose (both forms)", thr_convt, &c);
    THR_FREE(5);

    THR_INPUTS(TU_N * TU_O * TU_O, TL_B * TL_HW, TL_B * TL_HW);
    for (long i = 0; i < TL_B * TL_HW; i++) f[2][i] = f[2][i] > 0.3f;  // binary target
    c.nout = TU_N * TU_I * TU_I + TL_B * TL_HW;
    thr_check("threads upsample + loss", thr_upsample_loss, &c);
    THR_FREE(3);
#undef THR_INPUTS
#undef THR_FREE
}

int main(void) {
    test_linear();
    layernorm_case("layernorm", 6, 16);
    layernorm_case("layernorm2d", 24, 8);
    test_activations();
    vit_core_case("vit_attn_global", 2, 4, 5, 2, 8);
    vit_core_case("vit_attn_window", 4, 3, 3, 3, 4);
    test_vit_block_window();
    mha_case("mha_cross", 5, 7, 16, 2, 8, 0);
    mha_case("mha_self", 6, 6, 12, 3, 12, 1);
    test_convs();
    test_upsample();
    test_loss();
    test_threads();
    return t_summary();
}
