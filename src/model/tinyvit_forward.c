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
#include "ops/attn_small.h"
#include "ops/conv.h"
#include "ops/dwconv.h"
#include "ops/gemm.h"
#include "ops/vecmath.h"

/* Attention, MLP tiles and MBConv bands run on at most this many threads (per-thread
 * scratch slots, touched only by threads that run). */
#define TV_MAX_THREADS 64
/* Tokens per tile of the token-wise block steps (tv_token_tiles: LayerNorm + qkv, proj + residual,
 * the MLP on (96, hidden) per thread). */
#define TV_TOKEN_ROWS 96
/* Output pixels per band of the neck's 3x3 conv (8 GEMM row tiles of 6; 48 x 9 x 256 floats of
 * im2col = 432 KB for LiteMedSAM, inside a 512 KB L2). */
#define TV_NECK_PIXELS 48
/* A block's attention runs window by window (tv_attention_windows) when there are at least
 * this many windows per thread; with fewer, whole-image steps share the work more evenly. */
#define TV_WINDOWS_PER_THREAD 4

#ifdef _OPENMP
static int tv_thread(void) { return omp_get_thread_num(); }
#else
static int tv_thread(void) { return 0; }
#endif

typedef struct {
    int res[MS_TV_STAGES];
    size_t x, a, b, pad, scratch, per_thread, total;  // offsets / sizes in floats
} tv_plan;

static size_t r16(size_t n) { return (n + 15) & ~(size_t)15; }
static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

static int tv_plan_make(const ms_config *c, tv_plan *p) {
    const ms_tinyvit_config *t = &c->tv;
    memset(p, 0, sizeof *p);
    if (c->encoder != MS_ENC_TINYVIT || c->in_chans != 3 || c->out_chans <= 0 || t->stem_mid <= 0 ||
        (t->depths[0] > 0 && t->mbconv_hidden <= 0) || t->local_conv < 1 || t->local_conv % 2 == 0 ||
        t->local_conv > DWCONV_MAX_K)
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
    size_t x = zmax(N0 * t->dims[0], NG * O), tmp = N0 * t->stem_mid, per = 0, pad = 0;
    tmp = zmax(tmp, NG * O);
    for (int i = 0; i < MS_TV_STAGES; i++) {
        const size_t N = (size_t)p->res[i] * p->res[i], C = (size_t)t->dims[i];
        x = zmax(x, N * C);
        tmp = zmax(tmp, N * C);
        if (i + 1 < MS_TV_STAGES) {  // PatchMerging: conv1 rows in a per-thread ring, its depthwise output in b
            const size_t No = (size_t)p->res[i + 1] * p->res[i + 1], Co = (size_t)t->dims[i + 1];
            tmp = zmax(tmp, No * Co);
            per = zmax(per, 3 * (size_t)p->res[i] * Co);
        }
        if (i > 0 && t->depths[i] > 0) {
            const size_t T = (size_t)t->windows[i] * t->windows[i], hd = C / t->heads[i];
            tmp = zmax(tmp, N * 3 * C);
            per = zmax(per, 3 * T * hd + T * T + T * hd + attn_small_scratch_floats((int)T, (int)hd));  // [q|k|v], scores, output, k^T
            per = zmax(per, 8 * T * C + T * T + attn_small_scratch_floats((int)T, (int)hd));  // tv_attention_windows
            per = zmax(per, (size_t)TV_TOKEN_ROWS * (C + t->mlp_hidden[i]));  // one token tile (tv_token_tiles)
            pad = zmax(pad, 4 * C);                 // LayerNorm(0) row and its qkv
        }
    }
    if (t->depths[0] > 0) per = zmax(per, 4 * (size_t)p->res[0] * t->mbconv_hidden);  // MBConv: 3 hidden rows + 1
    per = zmax(per, (size_t)TV_NECK_PIXELS * 9 * O);  // the neck's 3x3 conv: one band's im2col
    size_t off = 0;
    p->x = off, off += r16(x);
    p->a = off, off += r16(tmp);
    p->b = off, off += r16(tmp);
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

/* The bf16 copy of linear `field` when the state runs in bf16, else NULL. */
#define TV_BF16(s, field) ((s)->bf16 ? (s)->bf16->field : NULL)

/* C (M, N) = A (M, K) op(W) + bias: on the bf16 weights h when given, else the fp32 packed w.
 * Every dense 1x1 convolution and linear of the encoder goes through here. */
static void tv_mm(const ms_tinyvit_state *s, const gemm_packed_b *w, const gemm_bf16_b *h, int M, const float *A,
                  int lda, float *C, int ldc, const float *bias, int nt) {
    if (h) gemm_bf16_packed(s->bf16->path, M, A, lda, h, C, ldc, bias, nt);
    else gemm_f32_packed(0, M, 1.0f, A, lda, w, 0.0f, C, ldc, bias, nt);
}

/* Dense 1x1 Conv2d_BN (folded; weight packed as (Ci, Co)) on channels-last rows = a Linear.
 * out: (N, Co); in: (N, Ci) */
static void tv_conv1x1(const ms_tinyvit_state *s, float *out, const float *in, const gemm_packed_b *w,
                       const gemm_bf16_b *h, const float *bias, long N, int nt) {
    tv_mm(s, w, h, (int)N, in, gemm_packed_b_rows(w), out, gemm_packed_b_cols(w), bias, nt);
}

/* The neck's 3x3 conv (padding 1, no bias) as im2col + GEMM in bands of TV_NECK_PIXELS output
 * pixels, each thread taking whole bands: the band's im2col (conv3x3_im2col, in the thread's
 * scratch) stays in its L2 while the product (the weight packed once at load, read in place)
 * consumes it. The GEMM chunks K alone, so a band gives the bits of the whole-image call.
 * ref: tiny_vit_sam.py TinyViT.neck[2]. out: (H*W, Cout); in: (H*W, Cin) */
static void tv_conv3x3_bands(const ms_tinyvit_state *s, float *out, const float *in, int H, int W, int Cin, int Cout,
                             float *scratch, size_t per_thread, int nthreads) {
    const long N = (long)H * W, bands = (N + TV_NECK_PIXELS - 1) / TV_NECK_PIXELS;
    const int K = Cin * 9, nt = nthreads < TV_MAX_THREADS ? nthreads : TV_MAX_THREADS;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (long band = 0; band < bands; band++) {
        float *col = scratch + (size_t)tv_thread() * per_thread;  // (TV_NECK_PIXELS, K)
        const long p0 = band * TV_NECK_PIXELS, p1 = p0 + TV_NECK_PIXELS < N ? p0 + TV_NECK_PIXELS : N;
        conv3x3_im2col(col, in, H, W, Cin, p0, p1);
        tv_mm(s, s->neck2, TV_BF16(s, neck2), (int)(p1 - p0), col, K, out + p0 * Cout, Cout, NULL, 1);
    }
}

/* The three input rows a 3x3 depthwise conv reads for output row yo (stride 1 or 2, zero
 * padding): input row r = yo*stride - 1 + ky through the 1x1 conv (w / h, bias) + GELU, kept in a
 * ring of 3 (W, Co) slots, row r in slot r % 3 (`have` says which row each slot holds), so
 * consecutive output rows compute each input row once; rows[ky] = NULL in the padding.
 * x: (H*W, Ci) */
static void tv_ring_rows(const ms_tinyvit_state *s, const gemm_packed_b *w, const gemm_bf16_b *h, const float *bias,
                         const float *x, int H, int W, int Ci, int Co, int yo, int stride, float *ring, int have[3],
                         const float *rows[3]) {
    for (int ky = 0; ky < 3; ky++) {
        const int r = yo * stride - 1 + ky;
        rows[ky] = NULL;
        if (r < 0 || r >= H) continue;
        float *slot = ring + (size_t)(r % 3) * W * Co;
        if (have[r % 3] != r) {
            tv_mm(s, w, h, W, x + (size_t)r * W * Ci, Ci, slot, Co, bias, 1);
            vec_gelu_erf_forward(slot, (long)W * Co);
            have[r % 3] = r;
        }
        rows[ky] = slot;
    }
}

/* ref: tiny_vit_sam.py:MBConv.forward -- y = act3(conv3(act2(conv2(act1(conv1(x))))) + x),
 * streamed by image rows: each thread takes a band of output rows and keeps the three
 * hidden rows (conv1 + GELU) its depthwise 3x3 reads in a ring, so the (S*S, Hd) hidden
 * activations stay in cache. Every row gets the same arithmetic whatever the bands.
 * y, x: (S*S, C), distinct; scratch: per-thread slots of 4*S*Hd floats. */
static void tv_mbconv(const ms_tinyvit_state *s, int k, float *y, const float *x, int S, int C, int Hd, float *scratch,
                      size_t per_thread, int nthreads) {
    const ms_tv_conv *c1 = &s->mbconv[k][0], *c2 = &s->mbconv[k][1], *c3 = &s->mbconv[k][2];
    const gemm_packed_b *p1 = s->mbconv_pk[k][0], *p3 = s->mbconv_pk[k][1];
    const gemm_bf16_b *h1 = TV_BF16(s, mbconv[k][0]), *h3 = TV_BF16(s, mbconv[k][1]);
    int nb = nthreads < TV_MAX_THREADS ? nthreads : TV_MAX_THREADS;
    if (nb > S) nb = S;
#pragma omp parallel for num_threads(nb) schedule(static, 1) if (nb > 1)
    for (int band = 0; band < nb; band++) {
        float *ring = scratch + (size_t)tv_thread() * per_thread;  // 3 x (S, Hd): row r in slot r % 3
        float *hid = ring + (size_t)3 * S * Hd;                     // (S, Hd)
        int have[3] = {-1, -1, -1};
        for (int yy = S * band / nb; yy < S * (band + 1) / nb; yy++) {
            const float *rows[3];
            tv_ring_rows(s, p1, h1, c1->b, x, S, S, C, Hd, yy, 1, ring, have, rows);  // conv1 + act1
            dwconv_row(hid, rows, c2->w, c2->b, S, Hd, 3, 1, 1);  // conv2 + act2
            float *yr = y + (size_t)yy * S * C;
            tv_mm(s, p3, h3, S, hid, Hd, yr, C, c3->b, 1);  // conv3
            vec_add(yr, yr, x + (size_t)yy * S * C, (long)S * C);               // x += shortcut
            vec_gelu_erf_forward(yr, (long)S * C);                              // act3
        }
    }
}

/* Depthwise k x k Conv2d_BN (folded), zero padding k/2, optional GELU.
 * ref: torch.nn.Conv2d(groups=C) + BatchNorm2d (eval). out: (Ho*Wo, C); in: (H*W, C) */
static void tv_dwconv(float *out, const float *in, const ms_tv_conv *cv, int H, int W, int C, int k, int stride,
                      int gelu, int nt) {
    dwconv_forward(out, in, cv->w, cv->b, H, W, C, k, stride, gelu, nt);
}

/* ref: tiny_vit_sam.py:TinyViTBlock.forward (window partition with zero padding) + Attention.forward
 * on each window: softmax(q k^T * scale + ab) v per head, for the real tokens.
 * out:     (H*W, C), every element written (head h in columns h*hd ..)
 * qkv:     (H*W, 3C) the qkv linear of the real tokens, per token and head [q | k | v] (hd each)
 * pad_qkv: (3C) the qkv of a padded token (the linear of LayerNorm(0) = its bias row)
 * ab:      (heads, T, T) attention_biases[:, attention_bias_idxs], T = ws*ws */
static void tv_window_attention(float *out, const float *qkv, const float *pad_qkv, const float *ab, int H, int W,
                                int C, int heads, int ws, float *scratch, size_t per_thread, int nthreads) {
    const int hd = C / heads, T = ws * ws, nwh = (H + ws - 1) / ws, nww = (W + ws - 1) / ws, ld = 3 * hd;
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
        float *g = scratch + (size_t)me * per_thread;  // (T, 3hd) this head's [q | k | v] of the window's tokens
        float *sc = g + (size_t)T * ld;                // (T, T) scores, then probabilities
        float *o = sc + (size_t)T * T;                 // (T, hd)
        float *kt = o + (size_t)T * hd;                // attn_small_scores' k^T
        const int win = (int)(it / heads), h = (int)(it % heads), wy = win / nww, wx = win % nww;
        for (int j = 0; j < T; j++) {  // window partition; padded tokens get pad_qkv
            const int y = wy * ws + j / ws, x = wx * ws + j % ws;
            const float *src = y < H && x < W ? qkv + ((size_t)y * W + x) * 3 * C : pad_qkv;
            memcpy(g + (size_t)j * ld, src + (size_t)h * ld, sizeof(float) * ld);
        }
        // (q @ k.transpose(-2, -1)) * self.scale + self.ab
        attn_small_scores(sc, g, g + hd, ld, T, hd, scale, kt);
        vit_softmax_rows_bias(sc, ab + (size_t)h * T * T, T, T, 0);  // (+ self.ab).softmax(dim=-1)
        attn_small_av(o, hd, sc, g + 2 * hd, ld, T, hd);            // attn @ v
        for (int i = 0; i < T; i++) {  // window reverse + crop: real tokens only
            const int y = wy * ws + i / ws, x = wx * ws + i % ws;
            if (y < H && x < W) memcpy(out + ((size_t)y * W + x) * C + (size_t)h * hd, o + (size_t)i * hd, sizeof(float) * hd);
        }
    }
}

/* The steps of a TinyViTBlock that run token by token, in tiles of TV_TOKEN_ROWS tokens per thread
 * (tv_token_tiles): a tile's intermediate rows stay in cache between its operations instead of
 * whole (N, C) passes through memory. Row by row the operations of whole-image calls: the same bits. */
typedef enum {
    TV_NORM_QKV,       // ref: Attention.forward -- qkv = self.qkv(self.norm(x)); out (N, 3C), in = x (N, C)
    TV_PROJ_RESIDUAL,  // ref: Attention.forward -- self.proj(x); TinyViTBlock.forward -- x = res_x + x;
                       //      out = x (N, C) updated, in = the attention output (N, C)
    TV_MLP,            // ref: TinyViTBlock.forward -- x = x + self.mlp(x); Mlp.forward -- fc2(act(fc1(norm(x))));
                       //      out (N, C) = in + mlp(in), distinct from in
} tv_token_step;

/* Tokens [r0, r0 + rows) of one step; buf: (TV_TOKEN_ROWS, C + M) floats of the thread's scratch. */
static void tv_token_tile(const ms_tinyvit_state *s, int i, int k, tv_token_step step, float eps, float *out,
                          const float *in, long r0, long rows, int C, int M, float *buf) {
    const ms_tv_block_w *w = &s->v.blocks[i][k];
    const ms_tv_block_packed *pk = &s->blocks[i][k];
    float *rows_c = buf, *hid = buf + (size_t)TV_TOKEN_ROWS * C;  // (R, C): normalised or projected rows; (R, M)
    switch (step) {
    case TV_NORM_QKV:
        vec_layernorm_f64_forward(rows_c, in + r0 * C, w->norm_w, w->norm_b, rows, C, eps);
        tv_mm(s, pk->qkv, TV_BF16(s, blocks[i][k].qkv), (int)rows, rows_c, C, out + r0 * 3 * C, 3 * C, w->qkv_b, 1);
        break;
    case TV_PROJ_RESIDUAL:
        tv_mm(s, pk->proj, TV_BF16(s, blocks[i][k].proj), (int)rows, in + r0 * C, C, rows_c, C, w->proj_b, 1);
        vec_add(out + r0 * C, out + r0 * C, rows_c, rows * C);
        break;
    case TV_MLP:
        vec_layernorm_f64_forward(rows_c, in + r0 * C, w->mlp_norm_w, w->mlp_norm_b, rows, C, eps);
        tv_mm(s, pk->fc1, TV_BF16(s, blocks[i][k].fc1), (int)rows, rows_c, C, hid, M, w->fc1_b, 1);
        vec_gelu_erf_forward(hid, rows * M);
        tv_mm(s, pk->fc2, TV_BF16(s, blocks[i][k].fc2), (int)rows, hid, M, out + r0 * C, C, w->fc2_b, 1);
        vec_add(out + r0 * C, in + r0 * C, out + r0 * C, rows * C);
        break;
    }
}

/* One token step over all N tokens, the tiles shared among the threads (weights packed once). */
static void tv_token_tiles(const ms_tinyvit_state *s, int i, int k, tv_token_step step, float eps, float *out,
                           const float *in, long N, int C, int M, float *scratch, size_t per_thread, int nthreads) {
    const long R = TV_TOKEN_ROWS, tiles = (N + R - 1) / R;
    const int nt = nthreads < TV_MAX_THREADS ? nthreads : TV_MAX_THREADS;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (long tl = 0; tl < tiles; tl++) {
        const long r0 = tl * R, rows = N - r0 < R ? N - r0 : R;
        tv_token_tile(s, i, k, step, eps, out, in, r0, rows, C, M, scratch + (size_t)tv_thread() * per_thread);
    }
}

/* ref: TinyViTBlock.forward -- x = res_x + proj(Attention(norm(x))) per window, one window at a
 * time per thread: its real tokens' LayerNorm and qkv (padded tokens take pad_qkv, as in
 * tv_window_attention), each head's softmax(q k^T * scale + ab) v, the projection of the real
 * tokens and the residual, all on the window's few rows in cache. The operations of
 * TV_NORM_QKV + tv_window_attention + TV_PROJ_RESIDUAL, element for element: the same bits.
 * x: (H*W, C) updated; pad_qkv: (3C) */
static void tv_attention_windows(const ms_tinyvit_state *s, int i, int k, float eps, float *x, const float *pad_qkv,
                                 int H, int W, int C, int heads, int ws, float *scratch, size_t per_thread,
                                 int nthreads) {
    const ms_tv_block_w *w = &s->v.blocks[i][k];
    const ms_tv_block_packed *pk = &s->blocks[i][k];
    const gemm_bf16_b *hq = TV_BF16(s, blocks[i][k].qkv), *hp = TV_BF16(s, blocks[i][k].proj);
    const float *ab = s->bias_table[i][k];  // (heads, T, T)
    const int hd = C / heads, T = ws * ws, C3 = 3 * C, nww = (W + ws - 1) / ws;
    const long wins = (long)((H + ws - 1) / ws) * nww;
    const float scale = (float)pow((double)hd, -0.5);  // Attention.scale = key_dim ** -0.5
    const int nt = nthreads < TV_MAX_THREADS ? nthreads : TV_MAX_THREADS;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (long win = 0; win < wins; win++) {
        float *qw = scratch + (size_t)tv_thread() * per_thread;  // (T, 3C) the window's tokens, per head [q | k | v]
        float *cq = qw + (size_t)T * C3;                         // (T, 3C) an edge window's product, compact
        float *ln = cq + (size_t)T * C3;                         // (T, C) normalised real tokens, then projected
        float *ow = ln + (size_t)T * C;                          // (T, C) attention output, head h at h*hd
        float *sc = ow + (size_t)T * C;                          // (T, T) scores, then probabilities
        float *kt = sc + (size_t)T * T;                          // attn_small_scores' k^T
        const int y0 = (int)(win / nww) * ws, x0 = (int)(win % nww) * ws;
        const int hr = H - y0 < ws ? H - y0 : ws, wr = W - x0 < ws ? W - x0 : ws, R = hr * wr, full = R == T;
        // ref: Attention.forward -- x = self.norm(x); qkv = self.qkv(x): the real tokens, row by row of the window
        for (int dy = 0; dy < hr; dy++)
            vec_layernorm_f64_forward(ln + (size_t)dy * wr * C, x + ((size_t)(y0 + dy) * W + x0) * C, w->norm_w,
                                      w->norm_b, wr, C, eps);
        tv_mm(s, pk->qkv, hq, R, ln, C, full ? qw : cq, C3, w->qkv_b, 1);
        if (!full)  // window partition with zero padding: padded tokens get pad_qkv
            for (int j = 0; j < T; j++) {
                const int dy = j / ws, dx = j % ws;
                memcpy(qw + (size_t)j * C3, dy < hr && dx < wr ? cq + ((size_t)dy * wr + dx) * C3 : pad_qkv,
                       sizeof(float) * C3);
            }
        for (int h = 0; h < heads; h++) {  // (q @ k^T) * scale + ab, softmax, @ v
            const float *g = qw + (size_t)h * 3 * hd;
            attn_small_scores(sc, g, g + hd, C3, T, hd, scale, kt);
            vit_softmax_rows_bias(sc, ab + (size_t)h * T * T, T, T, 0);
            attn_small_av(ow + (size_t)h * hd, C, sc, g + 2 * hd, C3, T, hd);
        }
        const float *o = ow;  // window reverse + crop: the real tokens' rows
        if (!full) {
            for (int dy = 0; dy < hr; dy++)
                memcpy(cq + (size_t)dy * wr * C, ow + (size_t)dy * ws * C, sizeof(float) * wr * C);
            o = cq;
        }
        // ref: Attention.forward -- x = self.proj(x); TinyViTBlock.forward -- x = res_x + x
        tv_mm(s, pk->proj, hp, R, o, C, ln, C, w->proj_b, 1);
        for (int dy = 0; dy < hr; dy++) {
            float *xr = x + ((size_t)(y0 + dy) * W + x0) * C;
            vec_add(xr, xr, ln + (size_t)dy * wr * C, (long)wr * C);
        }
    }
}

/* One TinyViTBlock in place on x (N = H*W tokens of width C); a, b: scratch of the plan's size.
 * ref: tiny_vit_sam.py:TinyViTBlock.forward */
static void tv_block(const ms_config *c, const ms_tinyvit_state *s, int i, int k, const tv_plan *p, float *x, float *a,
                     float *b, float *pad, float *scratch, int nt) {
    const ms_tinyvit_config *t = &c->tv;
    const ms_tv_block_w *w = &s->v.blocks[i][k];
    const ms_tv_block_packed *pk = &s->blocks[i][k];
    const int H = p->res[i], C = t->dims[i], M = t->mlp_hidden[i];
    const long N = (long)H * H;
    // a padded token is a zero row: LayerNorm gives its bias, then the qkv linear
    float *ln0 = pad, *pad_qkv = pad + C;
    for (int ch = 0; ch < C; ch++) ln0[ch] = 0.0f;
    tv_layernorm(ln0, ln0, w->norm_w, w->norm_b, 1, C, t->ln_eps, 1);
    tv_mm(s, pk->qkv, TV_BF16(s, blocks[i][k].qkv), 1, ln0, C, pad_qkv, 3 * C, w->qkv_b, 1);
    const int ws = t->windows[i], wins = ((H + ws - 1) / ws) * ((H + ws - 1) / ws);
    if (wins >= TV_WINDOWS_PER_THREAD * nt) {  // window by window, norm to residual
        tv_attention_windows(s, i, k, t->ln_eps, x, pad_qkv, H, H, C, t->heads[i], ws, scratch, p->per_thread, nt);
    } else {  // too few windows to share among the threads: each step over the whole image
        // ref: Attention.forward -- x = self.norm(x); qkv = self.qkv(x) (real tokens)
        tv_token_tiles(s, i, k, TV_NORM_QKV, t->ln_eps, b, x, N, C, M, scratch, p->per_thread, nt);  // b: (N, 3C)
        tv_window_attention(a, b, pad_qkv, s->bias_table[i][k], H, H, C, t->heads[i], ws, scratch, p->per_thread,
                            nt);  // a: (N, C)
        // ref: Attention.forward -- x = self.proj(x); TinyViTBlock.forward -- x = res_x + x
        tv_token_tiles(s, i, k, TV_PROJ_RESIDUAL, t->ln_eps, x, a, N, C, M, scratch, p->per_thread, nt);
    }
    // ref: TinyViTBlock.forward -- x = self.local_conv(x) (depthwise Conv2d_BN, no residual)
    tv_dwconv(a, x, &s->local[i][k], H, H, C, t->local_conv, 1, 0, nt);                         // a: (N, C)
    tv_token_tiles(s, i, k, TV_MLP, t->ln_eps, x, a, N, C, M, scratch, p->per_thread, nt);  // x = a + mlp(a)
}

/* ref: tiny_vit_sam.py:PatchMerging.forward -- conv1, act, conv2 (depthwise, stride), act, conv3.
 * Streamed like tv_mbconv: each thread takes a band of output rows and keeps the three
 * conv1 + GELU input rows its depthwise conv reads in a ring (row r in slot r % 3; with
 * stride 2 the next output row reuses one row and overwrites the two it no longer needs),
 * so the (H*H, Co) conv1 output is never stored whole. Same bits as whole-image calls.
 * x: (res_i^2, C_i) -> (res_{i+1}^2, C_{i+1}) in place (x holds the larger of the two);
 * b: (res_{i+1}^2, C_{i+1}) scratch; scratch: per-thread slots of 3*H*Co floats. */
static void tv_merge(const ms_config *c, const ms_tinyvit_state *s, int i, const tv_plan *p, float *x, float *b,
                     float *scratch, int nt) {
    const ms_tinyvit_config *t = &c->tv;
    const int H = p->res[i], Ci = t->dims[i], Co = t->dims[i + 1], Ho = p->res[i + 1], stride = t->stride[i];
    const ms_tv_conv *c1 = &s->merge[i][0], *c2 = &s->merge[i][1];
    const gemm_packed_b *p1 = s->merge_pk[i][0];
    const gemm_bf16_b *h1 = TV_BF16(s, merge[i][0]);
    int nb = nt < TV_MAX_THREADS ? nt : TV_MAX_THREADS;
    if (nb > Ho) nb = Ho;
#pragma omp parallel for num_threads(nb) schedule(static, 1) if (nb > 1)
    for (int band = 0; band < nb; band++) {
        float *ring = scratch + (size_t)tv_thread() * p->per_thread;  // 3 x (H, Co)
        int have[3] = {-1, -1, -1};
        for (int yo = Ho * band / nb; yo < Ho * (band + 1) / nb; yo++) {
            const float *rows[3];
            tv_ring_rows(s, p1, h1, c1->b, x, H, H, Ci, Co, yo, stride, ring, have, rows);  // conv1 + act
            dwconv_row(b + (size_t)yo * Ho * Co, rows, c2->w, c2->b, H, Co, 3, stride, 1);  // conv2 + act
        }
    }
    tv_conv1x1(s, x, b, s->merge_pk[i][1], TV_BF16(s, merge[i][1]), s->merge[i][2].b, (long)Ho * Ho, nt);  // conv3
}

/* Reports "layerI.block.K" (k >= 0) or "layerI.downsample" (k < 0). */
static void tv_trace_stage(ms_trace_fn trace, void *ctx, int i, int k, const float *x, long n) {
    if (!trace) return;
    char name[48];
    if (k >= 0)
        snprintf(name, sizeof name, "layer%d.block.%d", i, k);
    else
        snprintf(name, sizeof name, "layer%d.downsample", i);
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
    tv_conv1x1(s, x, a, s->stem1, TV_BF16(s, stem1), s->stem[1].b, N0, nt);  // x: (N0, C0)
    ms_trace(trace, trace_ctx, "patch_embed", x, N0 * C0);

    // ref: ConvLayer.forward -- MBConv blocks, alternating between x and a
    float *cur = x, *alt = a;
    for (int k = 0; k < t->depths[0]; k++) {
        tv_mbconv(s, k, alt, cur, S, C0, Hd, workspace + p.scratch, p.per_thread, nt);
        float *tmp = cur;
        cur = alt, alt = tmp;
        tv_trace_stage(trace, trace_ctx, 0, k, cur, N0 * C0);
    }
    if (cur != x) memcpy(x, cur, sizeof(float) * (size_t)N0 * C0);
    tv_merge(c, s, 0, &p, x, b, workspace + p.scratch, nt);
    tv_trace_stage(trace, trace_ctx, 0, -1, x, (long)p.res[1] * p.res[1] * t->dims[1]);

    // ref: BasicLayer.forward -- TinyViT blocks, then PatchMerging (not after the last stage)
    for (int i = 1; i < MS_TV_STAGES; i++) {
        const long n = (long)p.res[i] * p.res[i] * t->dims[i];
        for (int k = 0; k < t->depths[i]; k++) {
            tv_block(c, s, i, k, &p, x, a, b, workspace + p.pad, workspace + p.scratch, nt);
            tv_trace_stage(trace, trace_ctx, i, k, x, n);
        }
        if (i + 1 < MS_TV_STAGES) {
            tv_merge(c, s, i, &p, x, b, workspace + p.scratch, nt);
            tv_trace_stage(trace, trace_ctx, i, -1, x,
                           (long)p.res[i + 1] * p.res[i + 1] * t->dims[i + 1]);
        }
    }

    // ref: TinyViT.forward_features -- x.view(B, 64, 64, C).permute(0, 3, 1, 2); self.neck(x), channels-last
    const int G = c->grid, O = c->out_chans;
    const long N = (long)G * G;
    const ms_tinyvit_w *v = &s->v;
    tv_conv1x1(s, a, x, s->neck1, TV_BF16(s, neck1), NULL, N, nt);                                            // a: (N, O)
    tv_layernorm(a, a, v->neck_ln1_w, v->neck_ln1_b, N, O, c->ln2d_eps, nt);             // LayerNorm2d
    tv_conv3x3_bands(s, b, a, G, G, O, O, workspace + p.scratch, p.per_thread, nt);           // b: (N, O)
    tv_layernorm(b, b, v->neck_ln2_w, v->neck_ln2_b, N, O, c->ln2d_eps, nt);             // LayerNorm2d
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int o = 0; o < O; o++)
        for (long q = 0; q < N; q++) embedding[(long)o * N + q] = b[q * O + o];
    ms_trace(trace, trace_ctx, "neck", embedding, (long)O * N);
    return MEDSAM_OK;
}
