/* test_backward_fd.c — every backward of src/ops/backward.h and the loss of
 * src/train/loss.h against central finite differences, on tiny odd shapes.
 *
 * The reference: L = sum(out * R) for a fixed random R (the dout given to the
 * backward), evaluated by plain DOUBLE-precision forwards written here from the
 * official formulas, and differentiated numerically, dL/dx ~ (L(x+h) - L(x-h)) / 2h
 * with h = 1e-5 * max(1, |x|) (truncation ~1e-10, rounding ~1e-11 relative), for
 * every element of every input. The inputs are float values, so the C kernels
 * (float) and the reference see the same numbers.
 * Tolerance for each gradient tensor: relative L2 <= 1e-5 and every element
 * within 1e-5 * max|ref| + 1e-4 * |ref|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/backward.h"
#include "ops/conv.h"
#include "ops/conv_transpose.h"
#include "ops/mha.h"
#include "ops/ops.h"
#include "test.h"
#include "train/loss.h"

/* ---- helpers ----------------------------------------------------------------- */

static unsigned long long fd_state = 0x9E3779B97F4A7C15ULL;

/* Uniform float in [-scale, scale] (xorshift64*). */
static float fd_rand(float scale) {
    fd_state ^= fd_state >> 12, fd_state ^= fd_state << 25, fd_state ^= fd_state >> 27;
    const unsigned long long r = fd_state * 2685821657736338717ULL;
    return scale * (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *frand(long n, float scale) {
    float *x = malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = fd_rand(scale);
    return x;
}

static float *fzeros(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static double *dcopy(const float *x, long n) {
    double *d = malloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++) d[i] = x[i];
    return d;
}

typedef double (*fd_loss)(const void *ctx);

/* Central differences of loss(ctx) w.r.t. x[0..n) (x is one of ctx's tensors),
 * compared with the kernel's gradient `got`. */
static void fd_check(const char *what, const float *got, double *x, long n, fd_loss loss, const void *ctx) {
    float *ref = malloc((size_t)n * sizeof(float));
    double mx = 0;
    for (long i = 0; i < n; i++) {
        const double x0 = x[i], h = 1e-5 * (fabs(x0) > 1 ? fabs(x0) : 1);
        const double xp = x0 + h, xm = x0 - h;
        x[i] = xp;
        const double lp = loss(ctx);
        x[i] = xm;
        const double lm = loss(ctx);
        x[i] = x0;
        ref[i] = (float)((lp - lm) / (xp - xm));
        mx = fabs(ref[i]) > mx ? fabs(ref[i]) : mx;
    }
    t_close(what, got, ref, n, 1e-5 * mx, 1e-4, 1e-5);
    free(ref);
}

static double dot(const double *a, const double *b, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---- linear (strided input) ----------------------------------------------------- */

typedef struct {
    double *x, *w, *b, *R;  // (N, ldi), (O, I), (O), (N, O)
    int N, I, O, ldi;
} lin_ctx;

static double lin_loss(const void *p) {
    const lin_ctx *c = p;
    double L = 0;
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->O; o++) {
            double y = c->b[o];
            for (int i = 0; i < c->I; i++) y += c->x[n * c->ldi + i] * c->w[o * c->I + i];
            L += y * c->R[n * c->O + o];
        }
    return L;
}

static void test_linear(void) {
    const int N = 4, I = 5, O = 3, ldi = 7;
    float *x = frand(N * ldi, 1), *w = frand(O * I, 1), *b = frand(O, 1), *R = frand(N * O, 1);
    float *dx = fzeros(N * ldi), *dw = fzeros(O * I), *db = fzeros(O);
    linear_backward(dx, dw, db, R, x, ldi, w, N, I, O, 1);
    lin_ctx c = {dcopy(x, N * ldi), dcopy(w, O * I), dcopy(b, O), dcopy(R, N * O), N, I, O, ldi};
    fd_check("fd linear dx (row stride 7 > 5)", dx, c.x, N * ldi, lin_loss, &c);
    fd_check("fd linear dweight", dw, c.w, O * I, lin_loss, &c);
    fd_check("fd linear dbias", db, c.b, O, lin_loss, &c);
    free(x), free(w), free(b), free(R), free(dx), free(dw), free(db), free(c.x), free(c.w), free(c.b), free(c.R);
}

/* ---- layernorm ------------------------------------------------------------------- */

typedef struct {
    double *x, *w, *b, *R;  // (N, C), (C), (C), (N, C)
    int N, C;
    double eps;
} ln_ctx;

static double ln_loss(const void *p) {
    const ln_ctx *c = p;
    double L = 0;
    for (int n = 0; n < c->N; n++) {
        const double *x = c->x + n * c->C;
        double m = 0, v = 0;
        for (int k = 0; k < c->C; k++) m += x[k];
        m /= c->C;
        for (int k = 0; k < c->C; k++) v += (x[k] - m) * (x[k] - m);
        v /= c->C;
        for (int k = 0; k < c->C; k++) L += ((x[k] - m) / sqrt(v + c->eps) * c->w[k] + c->b[k]) * c->R[n * c->C + k];
    }
    return L;
}

static void test_layernorm(void) {
    const int N = 3, C = 7;
    float *x = frand(N * C, 2), *w = frand(C, 1), *b = frand(C, 1), *R = frand(N * C, 1);
    float *y = fzeros(N * C), *mean = fzeros(N), *rstd = fzeros(N);
    float *dx = fzeros(N * C), *dw = fzeros(C), *db = fzeros(C);
    layernorm_forward_train(y, mean, rstd, x, w, b, N, C, 1e-5f, 1);
    layernorm_backward(dx, dw, db, R, mean, rstd, x, w, N, C, 1);
    ln_ctx c = {dcopy(x, N * C), dcopy(w, C), dcopy(b, C), dcopy(R, N * C), N, C, (double)1e-5f};
    fd_check("fd layernorm dx", dx, c.x, N * C, ln_loss, &c);
    fd_check("fd layernorm dweight", dw, c.w, C, ln_loss, &c);
    fd_check("fd layernorm dbias", db, c.b, C, ln_loss, &c);
    free(x), free(w), free(b), free(R), free(y), free(mean), free(rstd), free(dx), free(dw), free(db);
    free(c.x), free(c.w), free(c.b), free(c.R);
}

/* ---- activations ------------------------------------------------------------------ */

typedef struct {
    double *x, *R;
    long n;
    int relu;
} act_ctx;

static double act_loss(const void *p) {
    const act_ctx *c = p;
    double L = 0;
    for (long i = 0; i < c->n; i++) {
        const double x = c->x[i];
        const double y = c->relu ? (x > 0 ? x : 0) : 0.5 * x * (1 + erf(x / sqrt(2.0)));
        L += y * c->R[i];
    }
    return L;
}

static void test_activations(void) {
    const long n = 40;
    float *x = frand(n, 5), *R = frand(n, 1), *y = fzeros(n), *dg = fzeros(n), *dr = fzeros(n);
    for (long i = 0; i < n; i++)
        if (fabsf(x[i]) < 1e-3f) x[i] = 0.5f;  // keep the ReLU kink out of reach of h
    gelu_backward(dg, R, x, n, 1);
    memcpy(y, x, (size_t)n * sizeof(float));
    relu_forward(y, n, 1);
    relu_backward(dr, R, y, n, 1);
    act_ctx c = {dcopy(x, n), dcopy(R, n), n, 0};
    fd_check("fd gelu dx", dg, c.x, n, act_loss, &c);
    c.relu = 1;
    fd_check("fd relu dx", dr, c.x, n, act_loss, &c);
    free(x), free(R), free(y), free(dg), free(dr), free(c.x), free(c.R);
}

/* ---- ViT attention with decomposed relative positions ---------------------------- */

typedef struct {
    double *qkv, *rh, *rw, *R;  // (G, T, 3C), (2sh-1, hd), (2sw-1, hd), (G, T, C)
    int G, sh, sw, heads, hd;
} vit_ctx;

// ref: image_encoder.py:Attention.forward + add_decomposed_rel_pos, in double
static double vit_loss(const void *p) {
    const vit_ctx *c = p;
    const int T = c->sh * c->sw, C = c->heads * c->hd, ld = 3 * C, hd = c->hd;
    const double scale = 1.0 / sqrt((double)hd);
    double L = 0, S[64];
    for (int g = 0; g < c->G; g++)
        for (int h = 0; h < c->heads; h++)
            for (int i = 0; i < T; i++) {
                const double *q = c->qkv + ((long)g * T + i) * ld + h * hd;
                const int qh = i / c->sw, qw = i % c->sw;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    const double *k = c->qkv + ((long)g * T + j) * ld + C + h * hd;
                    const int kh = j / c->sw, kw = j % c->sw;
                    const double *Rh = c->rh + (qh - kh + c->sh - 1) * hd, *Rw = c->rw + (qw - kw + c->sw - 1) * hd;
                    S[j] = scale * dot(q, k, hd) + dot(q, Rh, hd) + dot(q, Rw, hd);
                    mx = S[j] > mx ? S[j] : mx;
                }
                for (int j = 0; j < T; j++) sum += (S[j] = exp(S[j] - mx));
                for (int d = 0; d < hd; d++) {
                    double o = 0;
                    for (int j = 0; j < T; j++) o += S[j] / sum * c->qkv[((long)g * T + j) * ld + 2 * C + h * hd + d];
                    L += o * c->R[((long)g * T + i) * C + h * hd + d];
                }
            }
    return L;
}

static void test_vit_attention(void) {
    const int G = 2, sh = 3, sw = 4, heads = 2, hd = 3, T = sh * sw, C = heads * hd, Lh = 2 * sh - 1, Lw = 2 * sw - 1;
    float *qkv = frand((long)G * T * 3 * C, 1.5f), *rh = frand(Lh * hd, 1), *rw = frand(Lw * hd, 1);
    float *R = frand((long)G * T * C, 1);
    vit_ctx c = {dcopy(qkv, (long)G * T * 3 * C), dcopy(rh, Lh * hd), dcopy(rw, Lw * hd), dcopy(R, (long)G * T * C),
                 G, sh, sw, heads, hd};
    const int tiles[2] = {T, 5};  // one tile per group; query/key tiles of 5 rows (the last one partial)
    for (int t = 0; t < 2; t++) {
        float *dqkv = fzeros((long)G * T * 3 * C), *drh = fzeros(Lh * hd), *drw = fzeros(Lw * hd);
        float *s = fzeros((long)vit_attention_backward_scratch_floats(G, sh, sw, heads, tiles[t], 1));
        vit_attention_backward(dqkv, drh, drw, R, qkv, rh, rw, G, sh, sw, heads, hd, tiles[t], s, 1);
        char what[64];
        snprintf(what, sizeof what, "fd vit attention tile %d dqkv", tiles[t]);
        fd_check(what, dqkv, c.qkv, (long)G * T * 3 * C, vit_loss, &c);
        snprintf(what, sizeof what, "fd vit attention tile %d drel_pos_h", tiles[t]);
        fd_check(what, drh, c.rh, Lh * hd, vit_loss, &c);
        snprintf(what, sizeof what, "fd vit attention tile %d drel_pos_w", tiles[t]);
        fd_check(what, drw, c.rw, Lw * hd, vit_loss, &c);
        free(dqkv), free(drh), free(drw), free(s);
    }
    free(qkv), free(rh), free(rw), free(R), free(c.qkv), free(c.rh), free(c.rw), free(c.R);
}

/* ---- decoder attention --------------------------------------------------------------- */

typedef struct {
    double *qi, *ki, *vi, *p[8], *R;  // q_in (Nq, D), k_in/v_in (Nk, D); q,k,v,out weights/biases; R (Nq, D)
    int Nq, Nk, D, I, heads;
} mha_ctx;

static void dlinear(double *y, const double *x, const double *w, const double *b, int N, int In, int Out) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < Out; o++) y[n * Out + o] = b[o] + dot(x + n * In, w + o * In, In);
}

// ref: transformer.py:Attention.forward, in double
static double mha_loss(const void *p) {
    const mha_ctx *c = p;
    const int hd = c->I / c->heads;
    double q[64], k[64], v[64], o[64], y[64], S[16];
    dlinear(q, c->qi, c->p[0], c->p[1], c->Nq, c->D, c->I);
    dlinear(k, c->ki, c->p[2], c->p[3], c->Nk, c->D, c->I);
    dlinear(v, c->vi, c->p[4], c->p[5], c->Nk, c->D, c->I);
    for (int h = 0; h < c->heads; h++)
        for (int i = 0; i < c->Nq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < c->Nk; j++) {
                S[j] = dot(q + i * c->I + h * hd, k + j * c->I + h * hd, hd) / sqrt((double)hd);
                mx = S[j] > mx ? S[j] : mx;
            }
            for (int j = 0; j < c->Nk; j++) sum += (S[j] = exp(S[j] - mx));
            for (int d = 0; d < hd; d++) {
                double acc = 0;
                for (int j = 0; j < c->Nk; j++) acc += S[j] / sum * v[j * c->I + h * hd + d];
                o[i * c->I + h * hd + d] = acc;
            }
        }
    dlinear(y, o, c->p[6], c->p[7], c->Nq, c->I, c->D);
    return dot(y, c->R, (long)c->Nq * c->D);
}

static void test_mha(void) {
    const int Nq = 3, Nk = 5, D = 6, I = 4, heads = 2;
    const long psz[8] = {I * D, I, I * D, I, I * D, I, D * I, D};
    static const char *pname[8] = {"q_w", "q_b", "k_w", "k_b", "v_w", "v_b", "out_w", "out_b"};
    float *qi = frand(Nq * D, 1), *ki = frand(Nk * D, 1), *vi = frand(Nk * D, 1), *R = frand(Nq * D, 1), *p[8], *dp[8];
    for (int i = 0; i < 8; i++) p[i] = frand(psz[i], 0.8f), dp[i] = fzeros(psz[i]);
    mha_weights w = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]};
    mha_grads dw = {dp[0], dp[1], dp[2], dp[3], dp[4], dp[5], dp[6], dp[7]};
    float *out = fzeros(Nq * D), *cache = fzeros((long)mha_cache_floats(Nq, Nk, I, heads));
    float *s = fzeros((long)mha_backward_scratch_floats(Nq, Nk, I));
    float *dq = fzeros(Nq * D), *dk = fzeros(Nk * D), *dv = fzeros(Nk * D);
    mha_forward_train(out, cache, qi, ki, vi, &w, Nq, Nk, D, I, heads, 1);
    mha_backward(dq, dk, dv, &dw, R, cache, qi, ki, vi, &w, Nq, Nk, D, I, heads, s, 1);
    mha_ctx c = {dcopy(qi, Nq * D), dcopy(ki, Nk * D), dcopy(vi, Nk * D), {0}, dcopy(R, Nq * D), Nq, Nk, D, I, heads};
    for (int i = 0; i < 8; i++) c.p[i] = dcopy(p[i], psz[i]);
    fd_check("fd mha dq_in", dq, c.qi, Nq * D, mha_loss, &c);
    fd_check("fd mha dk_in", dk, c.ki, Nk * D, mha_loss, &c);
    fd_check("fd mha dv_in", dv, c.vi, Nk * D, mha_loss, &c);
    for (int i = 0; i < 8; i++) {
        char what[64];
        snprintf(what, sizeof what, "fd mha d%s", pname[i]);
        if (i == 3) {  // k bias: exactly zero (softmax ignores a per-row constant); FD gives ~1e-11
            float zero[4] = {0, 0, 0, 0};
            t_close(what, dp[i], zero, I, 1e-6, 0, 1e30);
        } else {
            fd_check(what, dp[i], c.p[i], psz[i], mha_loss, &c);
        }
    }
    for (int i = 0; i < 8; i++) free(p[i]), free(dp[i]), free(c.p[i]);
    free(qi), free(ki), free(vi), free(R), free(out), free(cache), free(s), free(dq), free(dk), free(dv);
    free(c.qi), free(c.ki), free(c.vi), free(c.R);
}

/* ---- convolutions ------------------------------------------------------------------------ */

typedef struct {
    double *x, *w, *b, *R;  // x (Cin, H, W) CHW; w (Cout, Cin, K, K); b (Cout) or NULL; R (Ho*Wo, Cout) channels-last
    int Cin, H, W, Cout, K, stride, pad;
} conv_ctx;

// ref: torch.nn.functional.conv2d (groups 1, dilation 1), in double; output taken channels-last
static double conv_loss(const void *p) {
    const conv_ctx *c = p;
    const int Ho = (c->H + 2 * c->pad - c->K) / c->stride + 1, Wo = (c->W + 2 * c->pad - c->K) / c->stride + 1;
    double L = 0;
    for (int o = 0; o < c->Cout; o++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                double acc = c->b ? c->b[o] : 0;
                for (int ci = 0; ci < c->Cin; ci++)
                    for (int ky = 0; ky < c->K; ky++)
                        for (int kx = 0; kx < c->K; kx++) {
                            const int sy = y * c->stride + ky - c->pad, sx = x * c->stride + kx - c->pad;
                            if (sy < 0 || sy >= c->H || sx < 0 || sx >= c->W) continue;
                            acc += c->w[((o * c->Cin + ci) * c->K + ky) * c->K + kx] *
                                   c->x[(ci * c->H + sy) * c->W + sx];
                        }
                L += acc * c->R[(y * Wo + x) * c->Cout + o];
            }
    return L;
}

/* CHW (C, HW) -> channels-last (HW, C) */
static float *to_cl(const float *x, int C, int HW) {
    float *y = malloc((size_t)C * HW * sizeof(float));
    for (int c = 0; c < C; c++)
        for (int p = 0; p < HW; p++) y[p * C + c] = x[c * HW + p];
    return y;
}

static void test_convs(void) {
    {  // patch embed: (2, 4, 6), P = 2, Cout 3 -> (2*3, 3)
        const int Cin = 2, H = 4, W = 6, P = 2, Cout = 3, N = (H / P) * (W / P), K = Cin * P * P;
        float *x = frand(Cin * H * W, 1), *w = frand(Cout * K, 1), *b = frand(Cout, 1), *R = frand(N * Cout, 1);
        float *dw = fzeros(Cout * K), *db = fzeros(Cout), *col = fzeros((long)conv_patchify_col_floats(Cin, H, W, P));
        conv_patchify_backward(dw, db, R, x, Cin, H, W, Cout, P, col, 1);
        conv_ctx c = {dcopy(x, Cin * H * W), dcopy(w, Cout * K), dcopy(b, Cout), dcopy(R, N * Cout),
                      Cin, H, W, Cout, P, P, 0};
        fd_check("fd patch_embed dweight", dw, c.w, Cout * K, conv_loss, &c);
        fd_check("fd patch_embed dbias", db, c.b, Cout, conv_loss, &c);
        free(x), free(w), free(b), free(R), free(dw), free(db), free(col), free(c.x), free(c.w), free(c.b), free(c.R);
    }
    {  // 1x1: (3, 2, 3) -> 4 channels, with bias
        const int Cin = 3, H = 2, W = 3, Cout = 4, N = H * W;
        float *x = frand(Cin * N, 1), *w = frand(Cout * Cin, 1), *b = frand(Cout, 1), *R = frand(N * Cout, 1);
        float *xcl = to_cl(x, Cin, N), *dx = fzeros(N * Cin), *dw = fzeros(Cout * Cin), *db = fzeros(Cout);
        conv1x1_backward(dx, dw, db, R, xcl, w, N, Cin, Cout, 1);
        conv_ctx c = {dcopy(x, Cin * N), dcopy(w, Cout * Cin), dcopy(b, Cout), dcopy(R, N * Cout),
                      Cin, H, W, Cout, 1, 1, 0};
        float *dx_chw = fzeros(Cin * N);
        for (int ci = 0; ci < Cin; ci++)
            for (int p = 0; p < N; p++) dx_chw[ci * N + p] = dx[p * Cin + ci];
        fd_check("fd conv1x1 dx", dx_chw, c.x, Cin * N, conv_loss, &c);
        fd_check("fd conv1x1 dweight", dw, c.w, Cout * Cin, conv_loss, &c);
        fd_check("fd conv1x1 dbias", db, c.b, Cout, conv_loss, &c);
        free(x), free(w), free(b), free(R), free(xcl), free(dx), free(dw), free(db), free(dx_chw);
        free(c.x), free(c.w), free(c.b), free(c.R);
    }
    {  // 3x3 pad 1: (2, 3, 4) -> 3 channels, with bias
        const int Cin = 2, H = 3, W = 4, Cout = 3, N = H * W;
        float *x = frand(Cin * N, 1), *w = frand(Cout * Cin * 9, 1), *b = frand(Cout, 1), *R = frand(N * Cout, 1);
        float *xcl = to_cl(x, Cin, N), *dx = fzeros(N * Cin), *dw = fzeros(Cout * Cin * 9), *db = fzeros(Cout);
        float *col = fzeros((long)conv3x3_col_floats(Cin, H, W));
        conv3x3_backward(dx, dw, db, R, xcl, w, H, W, Cin, Cout, col, 1);
        conv_ctx c = {dcopy(x, Cin * N), dcopy(w, Cout * Cin * 9), dcopy(b, Cout), dcopy(R, N * Cout),
                      Cin, H, W, Cout, 3, 1, 1};
        float *dx_chw = fzeros(Cin * N);
        for (int ci = 0; ci < Cin; ci++)
            for (int p = 0; p < N; p++) dx_chw[ci * N + p] = dx[p * Cin + ci];
        fd_check("fd conv3x3 dx", dx_chw, c.x, Cin * N, conv_loss, &c);
        fd_check("fd conv3x3 dweight", dw, c.w, Cout * Cin * 9, conv_loss, &c);
        fd_check("fd conv3x3 dbias", db, c.b, Cout, conv_loss, &c);
        free(x), free(w), free(b), free(R), free(xcl), free(dx), free(dw), free(db), free(col), free(dx_chw);
        free(c.x), free(c.w), free(c.b), free(c.R);
    }
}

/* ---- ConvTranspose2d k = s = 2 ------------------------------------------------------------ */

typedef struct {
    double *x, *w, *b, *R;  // (Cin, H, W), (Cin, Cout, 2, 2), (Cout), (Cout, 2H, 2W)
    int Cin, Cout, H, W;
} ct_ctx;

// ref: torch.nn.ConvTranspose2d(kernel_size=2, stride=2), in double
static double ct_loss(const void *p) {
    const ct_ctx *c = p;
    double L = 0;
    for (int o = 0; o < c->Cout; o++)
        for (int y = 0; y < 2 * c->H; y++)
            for (int x = 0; x < 2 * c->W; x++) {
                double acc = c->b[o];
                for (int ci = 0; ci < c->Cin; ci++)
                    acc += c->x[(ci * c->H + y / 2) * c->W + x / 2] *
                           c->w[((ci * c->Cout + o) * 2 + y % 2) * 2 + x % 2];
                L += acc * c->R[(o * 2 * c->H + y) * 2 * c->W + x];
            }
    return L;
}

static void test_conv_transpose(void) {
    const int Cin = 3, Cout = 2, H = 2, W = 3, P = H * W;
    float *x = frand(Cin * P, 1), *w = frand(Cin * Cout * 4, 1), *b = frand(Cout, 1), *R = frand(Cout * 4 * P, 1);
    float *dx = fzeros(Cin * P), *dw = fzeros(Cin * Cout * 4), *db = fzeros(Cout);
    conv_transpose2x2_backward(dx, dw, db, R, x, w, Cin, Cout, H, W, 1);
    ct_ctx c = {dcopy(x, Cin * P), dcopy(w, Cin * Cout * 4), dcopy(b, Cout), dcopy(R, Cout * 4 * P), Cin, Cout, H, W};
    fd_check("fd conv_transpose dx", dx, c.x, Cin * P, ct_loss, &c);
    fd_check("fd conv_transpose dweight", dw, c.w, Cin * Cout * 4, ct_loss, &c);
    fd_check("fd conv_transpose dbias", db, c.b, Cout, ct_loss, &c);
    /* packed channels-last form on the same data */
    float *xcl = to_cl(x, Cin, P), *Rcl = fzeros(P * 4 * Cout), *wp = fzeros(Cin * 4 * Cout), *bp = fzeros(4 * Cout);
    float *dxcl = fzeros(P * Cin), *dx2 = fzeros(Cin * P), *dw2 = fzeros(Cin * Cout * 4), *db2 = fzeros(Cout);
    float *dwp = fzeros(Cin * 4 * Cout);
    for (int o = 0; o < Cout; o++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                for (int k = 0; k < 4; k++)
                    Rcl[(i * W + j) * 4 * Cout + k * Cout + o] = R[(o * 2 * H + 2 * i + k / 2) * 2 * W + 2 * j + k % 2];
    conv_transpose2x2_pack(wp, bp, w, b, Cin, Cout);
    conv_transpose2x2_packed_backward(dxcl, dw2, db2, Rcl, xcl, wp, P, Cin, Cout, dwp, 1);
    for (int ci = 0; ci < Cin; ci++)
        for (int p = 0; p < P; p++) dx2[ci * P + p] = dxcl[p * Cin + ci];
    fd_check("fd conv_transpose packed dx", dx2, c.x, Cin * P, ct_loss, &c);
    fd_check("fd conv_transpose packed dweight", dw2, c.w, Cin * Cout * 4, ct_loss, &c);
    fd_check("fd conv_transpose packed dbias", db2, c.b, Cout, ct_loss, &c);
    free(xcl), free(Rcl), free(wp), free(bp), free(dxcl), free(dx2), free(dw2), free(db2), free(dwp);
    free(x), free(w), free(b), free(R), free(dx), free(dw), free(db), free(c.x), free(c.w), free(c.b), free(c.R);
}

/* ---- bilinear resize ------------------------------------------------------------------------ */

typedef struct {
    double *x, *R;  // (n, ih, iw), (n, oh, ow)
    int n, ih, iw, oh, ow;
} up_ctx;

/* torch's source index and weights for align_corners=False (postprocess.h), in double */
static void up_axis(int dst, int in, int out, int *i0, int *i1, double *l1) {
    if (in == out) {
        *i0 = *i1 = dst, *l1 = 0;
        return;
    }
    double src = (double)((float)in / (float)out) * (dst + 0.5) - 0.5;
    if (src < 0) src = 0;
    *i0 = (int)src, *i1 = *i0 + (*i0 < in - 1), *l1 = src - *i0;
}

static double up_loss(const void *p) {
    const up_ctx *c = p;
    double L = 0;
    for (int pl = 0; pl < c->n; pl++)
        for (int y = 0; y < c->oh; y++)
            for (int x = 0; x < c->ow; x++) {
                int y0, y1, x0, x1;
                double ly, lx;
                up_axis(y, c->ih, c->oh, &y0, &y1, &ly);
                up_axis(x, c->iw, c->ow, &x0, &x1, &lx);
                const double *s = c->x + (long)pl * c->ih * c->iw;
                const double v = (1 - ly) * ((1 - lx) * s[y0 * c->iw + x0] + lx * s[y0 * c->iw + x1]) +
                                 ly * ((1 - lx) * s[y1 * c->iw + x0] + lx * s[y1 * c->iw + x1]);
                L += v * c->R[((long)pl * c->oh + y) * c->ow + x];
            }
    return L;
}

static void test_upsample(void) {
    static const int cs[3][5] = {{2, 3, 4, 7, 5}, {1, 6, 5, 4, 3}, {1, 4, 4, 4, 9}};
    for (int k = 0; k < 3; k++) {
        const int n = cs[k][0], ih = cs[k][1], iw = cs[k][2], oh = cs[k][3], ow = cs[k][4];
        float *x = frand((long)n * ih * iw, 1), *R = frand((long)n * oh * ow, 1), *dx = fzeros((long)n * ih * iw);
        upsample_bilinear_backward(dx, R, n, ih, iw, oh, ow, 1);
        up_ctx c = {dcopy(x, (long)n * ih * iw), dcopy(R, (long)n * oh * ow), n, ih, iw, oh, ow};
        char what[64];
        snprintf(what, sizeof what, "fd upsample %dx%d->%dx%d dx", ih, iw, oh, ow);
        fd_check(what, dx, c.x, (long)n * ih * iw, up_loss, &c);
        free(x), free(R), free(dx), free(c.x), free(c.R);
    }
}

/* ---- Dice + BCE loss -------------------------------------------------------------------------- */

typedef struct {
    double *x, *g;  // (B, HW) each
    int B, HW;
    double dloss;
} loss_ctx;

// ref: monai DiceLoss(sigmoid=True, squared_pred=True, reduction="mean") + BCEWithLogitsLoss(), in double
static double loss_loss(const void *p) {
    const loss_ctx *c = p;
    double dice = 0, bce = 0;
    for (int b = 0; b < c->B; b++) {
        double I = 0, Ps = 0, Gs = 0;
        for (int i = 0; i < c->HW; i++) {
            const double x = c->x[b * c->HW + i], g = c->g[b * c->HW + i], s = 1 / (1 + exp(-x));
            I += s * g, Ps += s * s, Gs += g * g;
            bce += -(g * log(s) + (1 - g) * log(1 - s));
        }
        dice += 1 - (2 * I + 1e-5) / (Gs + Ps + 1e-5);
    }
    return c->dloss * (dice / c->B + bce / ((double)c->B * c->HW));
}

static void test_loss(void) {
    const int B = 3, HW = 30;
    float *x = frand(B * HW, 4), *g = fzeros(B * HW), *dx = fzeros(B * HW);
    for (int i = 0; i < HW; i++) g[i] = (i % 7) < 3, g[HW + i] = i > 20;  // plane 2: empty target
    loss_dice_bce_stats st[3];
    double v[3];
    loss_dice_bce_forward(v, st, x, g, B, HW);
    loss_dice_bce_backward(dx, st, x, g, 0.7f, B, HW, 1);
    loss_ctx c = {dcopy(x, B * HW), dcopy(g, B * HW), B, HW, 0.7};
    fd_check("fd loss dlogits (dloss = 0.7)", dx, c.x, B * HW, loss_loss, &c);
    c.dloss = 1;
    CHECK(fabs(v[0] - loss_loss(&c)) < 1e-12, "loss forward %.17g vs double reference %.17g", v[0], loss_loss(&c));
    free(x), free(g), free(dx), free(c.x), free(c.g);
}

int main(void) {
    test_linear();
    test_layernorm();
    test_activations();
    test_vit_attention();
    test_mha();
    test_convs();
    test_conv_transpose();
    test_upsample();
    test_loss();
    return t_summary();
}
