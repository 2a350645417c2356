/* tinyvit_forward.c — LiteMedSAM's TinyViT forward pass (see tinyvit.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"
#include "model/tinyvit.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/vecmath.h"

/* Attention runs on at most this many threads (per-thread scratch slots). */
#define TV_MAX_THREADS 64

typedef struct {
    int res[MS_TV_STAGES];
    size_t x, a, b, col, pad, scratch, per_thread, total;  // offsets / sizes in floats
} tv_plan;

static size_t r16(size_t n) { return (n + 15) & ~(size_t)15; }
static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

static int tv_plan_make(const ms_config *c, tv_plan *p) {
    const ms_tinyvit_config *t = &c->tv;
    memset(p, 0, sizeof *p);
    if (c->encoder != MS_ENC_TINYVIT || c->in_chans != 3 || c->out_chans <= 0 || t->stem_mid <= 0 ||
        t->mbconv_hidden <= 0 || t->local_conv < 1 || t->local_conv % 2 == 0)
        return -1;
    for (int i = 0; i < MS_TV_STAGES; i++) {
        if (t->dims[i] <= 0 || t->depths[i] < 0 || t->depths[i] > MS_TV_MAX_BLOCKS) return -1;
        if (i > 0 && t->depths[i] > 0 &&
            (t->heads[i] <= 0 || t->dims[i] % t->heads[i] || t->windows[i] <= 0 || t->mlp_hidden[i] <= 0))
            return -1;
    }
    const int G = ms_tinyvit_resolutions(c, p->res);
    if (G <= 0 || G != c->grid) return -1;
    const size_t N0 = (size_t)p->res[0] * p->res[0], O = (size_t)c->out_chans, NG = (size_t)G * G;
    size_t x = zmax(N0 * t->dims[0], NG * O), tmp = zmax(N0 * t->stem_mid, N0 * t->mbconv_hidden), per = 0, pad = 0;
    tmp = zmax(tmp, NG * O);
    for (int i = 0; i < MS_TV_STAGES; i++) {
        const size_t N = (size_t)p->res[i] * p->res[i], C = (size_t)t->dims[i];
        x = zmax(x, N * C);
        tmp = zmax(tmp, N * C);
        if (i + 1 < MS_TV_STAGES) tmp = zmax(tmp, N * t->dims[i + 1]);  // PatchMerging conv1 at the input side
        if (i > 0 && t->depths[i] > 0) {
            const size_t T = (size_t)t->windows[i] * t->windows[i], hd = C / t->heads[i];
            tmp = zmax(tmp, zmax(N * 3 * C, N * t->mlp_hidden[i]));
            per = zmax(per, 3 * T * hd + T + hd);  // q, k^T, v of one (window, head), one score row, one output row
            pad = zmax(pad, 4 * C);                 // LayerNorm(0) row and its qkv
        }
    }
    size_t off = 0;
    p->x = off, off += r16(x);
    p->a = off, off += r16(tmp);
    p->b = off, off += r16(tmp);
    p->col = off, off += r16(conv3x3_col_floats((int)O, G, G));
    p->pad = off, off += r16(pad + 16);
    p->per_thread = r16(per + 16);
    p->scratch = off, off += p->per_thread * TV_MAX_THREADS;
    p->total = off;
    return 0;
}

size_t ms_tinyvit_workspace_floats(const ms_config *c) {
    tv_plan p;
    return tv_plan_make(c, &p) ? 0 : p.total;
}

/* ---- row kernels, threads over contiguous row blocks ---- */

/* ref: torch.nn.LayerNorm / LayerNorm2d. out, in: (N, C); out may alias in. */
static void tv_layernorm(float *out, const float *in, const float *w, const float *b, long N, int C, float eps, int nt) {
    const long step = 64;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && N > step)
    for (long r0 = 0; r0 < N; r0 += step)
        vec_layernorm_f64_forward(out + r0 * C, in + r0 * C, w, b, N - r0 < step ? N - r0 : step, C, eps);
}

/* ref: torch.nn.GELU() (exact erf), in place. x: (n) */
static void tv_gelu(float *x, long n, int nt) {
    const long step = 16384;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n > step)
    for (long i = 0; i < n; i += step) vec_gelu_erf_forward(x + i, n - i < step ? n - i : step);
}

/* Dense 1x1 Conv2d_BN (folded) on channels-last rows = a Linear. out: (N, Co); in: (N, Ci) */
static void tv_conv1x1(float *out, const float *in, const ms_tv_conv *cv, long N, int Ci, int Co, int nt) {
    gemm_f32_bias(0, 1, (int)N, Co, Ci, 1.0f, in, Ci, cv->w, Ci, 0.0f, out, Co, cv->b, nt);
}

/* Depthwise k x k Conv2d_BN (folded), zero padding k/2, channels-last, optional GELU.
 * ref: torch.nn.Conv2d(groups=C) + BatchNorm2d (eval)
 * out: (Ho*Wo, C); in: (H*W, C); cv->w: (k*k, C) tap-major; cv->b: (C) */
static void tv_dwconv(float *out, const float *in, const ms_tv_conv *cv, int H, int W, int C, int k, int stride,
                      int gelu, int nt) {
    const int pad = k / 2, Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && Ho > 1)
    for (int oy = 0; oy < Ho; oy++) {
        float *orow = out + (size_t)oy * Wo * C;
        for (int ox = 0; ox < Wo; ox++) {
            float *o = orow + (size_t)ox * C;
            for (int ch = 0; ch < C; ch++) o[ch] = 0.0f;
            for (int ky = 0; ky < k; ky++) {
                const int iy = oy * stride + ky - pad;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < k; kx++) {
                    const int ix = ox * stride + kx - pad;
                    if (ix < 0 || ix >= W) continue;
                    const float *ip = in + ((size_t)iy * W + ix) * C, *wp = cv->w + (size_t)(ky * k + kx) * C;
                    for (int ch = 0; ch < C; ch++) o[ch] += ip[ch] * wp[ch];
                }
            }
            for (int ch = 0; ch < C; ch++) o[ch] += cv->b[ch];
        }
        if (gelu) vec_gelu_erf_forward(orow, (long)Wo * C);
    }
}

/* ref: tiny_vit_sam.py:TinyViTBlock.forward (window partition with zero padding) + Attention.forward
 * on each window: softmax(q k^T * scale + ab) v per head, for the real tokens.
 * out:     (H*W, C), every element written (head h in columns h*hd ..)
 * qkv:     (H*W, 3C) the qkv linear of the real tokens, per token and head [q | k | v] (hd each)
 * pad_qkv: (3C) the qkv of a padded token (the linear of LayerNorm(0) = its bias row)
 * ab:      (heads, T, T) attention_biases[:, attention_bias_idxs], T = ws*ws */
static void tv_window_attention(float *out, const float *qkv, const float *pad_qkv, const float *ab, int H, int W,
                                int C, int heads, int ws, float *scratch, size_t per_thread, int nthreads) {
    const int hd = C / heads, T = ws * ws, nwh = (H + ws - 1) / ws, nww = (W + ws - 1) / ws;
    const float scale = (float)pow((double)hd, -0.5);  // Attention.scale = key_dim ** -0.5
    const long items = (long)nwh * nww * heads;
    const int nt = nthreads < TV_MAX_THREADS ? nthreads : TV_MAX_THREADS;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (long it = 0; it < items; it++) {
#ifdef _OPENMP
        const int me = omp_get_thread_num();
#else
        const int me = 0;
#endif
        float *q = scratch + (size_t)me * per_thread;  // (T, hd)
        float *kt = q + (size_t)T * hd;                // (hd, T)
        float *v = kt + (size_t)T * hd;                // (T, hd)
        float *s = v + (size_t)T * hd;                 // (T)
        float *o = s + T;                              // (hd)
        const int win = (int)(it / heads), h = (int)(it % heads), wy = win / nww, wx = win % nww;
        for (int j = 0; j < T; j++) {
            const int y = wy * ws + j / ws, x = wx * ws + j % ws;
            const float *src = (y < H && x < W ? qkv + ((size_t)y * W + x) * 3 * C : pad_qkv) + (size_t)h * 3 * hd;
            memcpy(q + (size_t)j * hd, src, sizeof(float) * hd);
            for (int d = 0; d < hd; d++) kt[(size_t)d * T + j] = src[hd + d];
            memcpy(v + (size_t)j * hd, src + 2 * hd, sizeof(float) * hd);
        }
        const float *abh = ab + (size_t)h * T * T;
        for (int i = 0; i < T; i++) {
            const int y = wy * ws + i / ws, x = wx * ws + i % ws;
            if (y >= H || x >= W) continue;  // a padded query's output is cropped away
            for (int j = 0; j < T; j++) s[j] = 0.0f;
            for (int d = 0; d < hd; d++) {
                const float qd = q[(size_t)i * hd + d], *kr = kt + (size_t)d * T;
                for (int j = 0; j < T; j++) s[j] += qd * kr[j];
            }
            const float *abr = abh + (size_t)i * T;
            for (int j = 0; j < T; j++) s[j] = s[j] * scale + abr[j];  // (q @ k^T) * scale + ab
            vit_softmax_row(s, T, 0);
            for (int d = 0; d < hd; d++) o[d] = 0.0f;
            for (int j = 0; j < T; j++) {
                const float pj = s[j], *vr = v + (size_t)j * hd;
                for (int d = 0; d < hd; d++) o[d] += pj * vr[d];
            }
            memcpy(out + ((size_t)y * W + x) * C + (size_t)h * hd, o, sizeof(float) * hd);
        }
    }
}

/* One TinyViTBlock in place on x (N = H*W tokens of width C); a, b: scratch of the plan's size.
 * ref: tiny_vit_sam.py:TinyViTBlock.forward */
static void tv_block(const ms_config *c, const ms_tinyvit_state *s, int i, int k, const tv_plan *p, float *x, float *a,
                     float *b, float *pad, float *scratch, int nt) {
    const ms_tinyvit_config *t = &c->tv;
    const ms_tv_block_w *w = &s->v.blocks[i][k];
    const int H = p->res[i], C = t->dims[i], M = t->mlp_hidden[i];
    const long N = (long)H * H;
    // ref: Attention.forward -- x = self.norm(x); qkv = self.qkv(x) (real tokens)
    tv_layernorm(a, x, w->norm_w, w->norm_b, N, C, t->ln_eps, nt);                    // a: (N, C)
    gemm_f32_bias(0, 1, (int)N, 3 * C, C, 1.0f, a, C, w->qkv_w, C, 0.0f, b, 3 * C, w->qkv_b, nt);  // b: (N, 3C)
    // a padded token is a zero row: LayerNorm gives its bias, then the qkv linear
    float *ln0 = pad, *pad_qkv = pad + C;
    const float zero_row_mean = 0.0f;
    for (int ch = 0; ch < C; ch++) ln0[ch] = zero_row_mean;
    tv_layernorm(ln0, ln0, w->norm_w, w->norm_b, 1, C, t->ln_eps, 1);
    gemm_f32_bias(0, 1, 1, 3 * C, C, 1.0f, ln0, C, w->qkv_w, C, 0.0f, pad_qkv, 3 * C, w->qkv_b, 1);
    tv_window_attention(a, b, pad_qkv, s->bias_table[i][k], H, H, C, t->heads[i], t->windows[i], scratch,
                        p->per_thread, nt);                                            // a: (N, C)
    // ref: Attention.forward -- x = self.proj(x); TinyViTBlock.forward -- x = res_x + x
    gemm_f32_bias(0, 1, (int)N, C, C, 1.0f, a, C, w->proj_w, C, 0.0f, b, C, w->proj_b, nt);
    vec_add_threads(x, x, b, N * C, nt);
    // ref: TinyViTBlock.forward -- x = self.local_conv(x) (depthwise Conv2d_BN, no residual)
    tv_dwconv(a, x, &s->local[i][k], H, H, C, t->local_conv, 1, 0, nt);               // a: (N, C), the stream
    // ref: x = x + self.mlp(x); Mlp.forward -- fc2(act(fc1(norm(x))))
    tv_layernorm(x, a, w->mlp_norm_w, w->mlp_norm_b, N, C, t->ln_eps, nt);             // x: (N, C)
    gemm_f32_bias(0, 1, (int)N, M, C, 1.0f, x, C, w->fc1_w, C, 0.0f, b, M, w->fc1_b, nt);  // b: (N, M)
    tv_gelu(b, N * M, nt);
    gemm_f32_bias(0, 1, (int)N, C, M, 1.0f, b, M, w->fc2_w, M, 0.0f, x, C, w->fc2_b, nt);  // x: (N, C)
    vec_add_threads(x, x, a, N * C, nt);
}

/* ref: tiny_vit_sam.py:PatchMerging.forward -- conv1, act, conv2 (depthwise, stride), act, conv3.
 * x: (res_i^2, C_i) -> (res_{i+1}^2, C_{i+1}) in place (x holds the larger of the two). */
static void tv_merge(const ms_config *c, const ms_tinyvit_state *s, int i, const tv_plan *p, float *x, float *a,
                     float *b, int nt) {
    const ms_tinyvit_config *t = &c->tv;
    const int H = p->res[i], Ci = t->dims[i], Co = t->dims[i + 1], Ho = p->res[i + 1];
    tv_conv1x1(a, x, &s->merge[i][0], (long)H * H, Ci, Co, nt);  // a: (H*H, Co)
    tv_gelu(a, (long)H * H * Co, nt);
    tv_dwconv(b, a, &s->merge[i][1], H, H, Co, 3, t->stride[i], 1, nt);  // b: (Ho*Ho, Co), GELU
    tv_conv1x1(x, b, &s->merge[i][2], (long)Ho * Ho, Co, Co, nt);
}

/* Reports "layerI.block.K" (k >= 0) or "layerI.downsample" (k < 0). */
static void tv_trace_stage(ms_trace_fn trace, void *ctx, const char *fmt, int i, int k, const float *x, long n) {
    if (!trace) return;
    char name[48];
    if (k >= 0)
        snprintf(name, sizeof name, "layer%d.block.%d", i, k);
    else
        snprintf(name, sizeof name, "layer%d.downsample", i);
    (void)fmt;
    trace(ctx, name, x, n);
}

medsam_status ms_tinyvit_encode(const ms_config *c, const void *state, const float *image, float *embedding,
                                float *workspace, int nthreads, ms_trace_fn trace, void *trace_ctx, medsam_error *err) {
    const ms_tinyvit_state *s = state;
    if (!c || !s || !image || !embedding || !workspace) return ms_error(err, MEDSAM_ERR_ARG, "TinyViT encoder: NULL argument");
    tv_plan p;
    if (tv_plan_make(c, &p))
        return ms_error(err, MEDSAM_ERR_ARG, "TinyViT encoder: unsupported configuration (img %d, grid %d, dims %d,%d,%d,%d)",
                        c->img_size, c->grid, c->tv.dims[0], c->tv.dims[1], c->tv.dims[2], c->tv.dims[3]);
    const int nt = nthreads < 1 ? 1 : nthreads;
    const ms_tinyvit_config *t = &c->tv;
    float *x = workspace + p.x, *a = workspace + p.a, *b = workspace + p.b;
    const int S = p.res[0], C0 = t->dims[0], Hd = t->mbconv_hidden;
    const long N0 = (long)S * S;

    // ref: PatchEmbed.forward -- seq: Conv2d_BN 1x1, GELU, Conv2d_BN 1x1 (the image is CHW: op(A) = image^T)
    gemm_f32_bias(1, 1, (int)N0, t->stem_mid, 3, 1.0f, image, (int)N0, s->stem[0].w, 3, 0.0f, a, t->stem_mid,
                  s->stem[0].b, nt);  // a: (N0, C0/2)
    tv_gelu(a, N0 * t->stem_mid, nt);
    tv_conv1x1(x, a, &s->stem[1], N0, t->stem_mid, C0, nt);  // x: (N0, C0)
    ms_trace(trace, trace_ctx, "patch_embed", x, N0 * C0);

    // ref: ConvLayer.forward -- MBConv blocks: x = act3(conv3(act2(conv2(act1(conv1(x))))) + x)
    for (int k = 0; k < t->depths[0]; k++) {
        tv_conv1x1(a, x, &s->mbconv[k][0], N0, C0, Hd, nt);  // a: (N0, Hd)
        tv_gelu(a, N0 * Hd, nt);
        tv_dwconv(b, a, &s->mbconv[k][1], S, S, Hd, 3, 1, 1, nt);  // b: (N0, Hd), GELU
        tv_conv1x1(a, b, &s->mbconv[k][2], N0, Hd, C0, nt);  // a: (N0, C0)
        vec_add_threads(x, a, x, N0 * C0, nt);
        tv_gelu(x, N0 * C0, nt);
        tv_trace_stage(trace, trace_ctx, "layer%d.block.%d", 0, k, x, N0 * C0);
    }
    tv_merge(c, s, 0, &p, x, a, b, nt);
    tv_trace_stage(trace, trace_ctx, "layer%d.downsample", 0, -1, x, (long)p.res[1] * p.res[1] * t->dims[1]);

    // ref: BasicLayer.forward -- TinyViT blocks, then PatchMerging (not after the last stage)
    for (int i = 1; i < MS_TV_STAGES; i++) {
        const long n = (long)p.res[i] * p.res[i] * t->dims[i];
        for (int k = 0; k < t->depths[i]; k++) {
            tv_block(c, s, i, k, &p, x, a, b, workspace + p.pad, workspace + p.scratch, nt);
            tv_trace_stage(trace, trace_ctx, "layer%d.block.%d", i, k, x, n);
        }
        if (i + 1 < MS_TV_STAGES) {
            tv_merge(c, s, i, &p, x, a, b, nt);
            tv_trace_stage(trace, trace_ctx, "layer%d.downsample", i, -1, x,
                           (long)p.res[i + 1] * p.res[i + 1] * t->dims[i + 1]);
        }
    }

    // ref: TinyViT.forward_features -- x.view(B, 64, 64, C).permute(0, 3, 1, 2); self.neck(x), channels-last
    const int G = c->grid, C3 = t->dims[MS_TV_STAGES - 1], O = c->out_chans;
    const long N = (long)G * G;
    const ms_tinyvit_w *v = &s->v;
    conv1x1_forward(a, x, v->neck_conv1_w, NULL, N, C3, O, nt);                          // a: (N, O)
    tv_layernorm(a, a, v->neck_ln1_w, v->neck_ln1_b, N, O, c->ln2d_eps, nt);             // LayerNorm2d
    conv3x3_forward(b, a, v->neck_conv2_w, NULL, G, G, O, O, workspace + p.col, nt);     // b: (N, O)
    tv_layernorm(b, b, v->neck_ln2_w, v->neck_ln2_b, N, O, c->ln2d_eps, nt);             // LayerNorm2d
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int o = 0; o < O; o++)
        for (long q = 0; q < N; q++) embedding[(long)o * N + q] = b[q * O + o];
    ms_trace(trace, trace_ctx, "neck", embedding, (long)O * N);
    return MEDSAM_OK;
}
