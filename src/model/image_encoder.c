/* image_encoder.c — SAM/MedSAM ViT image encoder forward (see image_encoder.h). */
#include "model/image_encoder.h"

#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/ops.h"
#include "ops/vecmath.h"

/* Where each activation lives in the workspace (offsets in floats). */
typedef struct {
    long N;           /* tokens, G*G */
    size_t per_thread;/* attention scratch per thread */
    size_t x, a, b, big, scratch, total;
} enc_plan;

static size_t enc_round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* p rounded up to a 64-byte boundary (the workspace may come from malloc). */
static float *enc_align64(float *p) { return (float *)(((unsigned long)(size_t)p + 63) & ~63UL); }

static int enc_is_windowed(const ms_config *c, int blk) { return !c->is_global[blk] && c->window_size > 0; }

/* Query tile for global attention over T tokens: all of them when they are few. */
static int enc_attn_tile(int T) { return T <= 256 ? T : MS_ENC_GLOBAL_TILE_Q; }

static int enc_plan_make(const ms_config *c, enc_plan *p) {
    if (c->img_size <= 0 || c->patch_size <= 0 || c->img_size % c->patch_size || c->grid != c->img_size / c->patch_size ||
        c->in_chans <= 0 || c->embed_dim <= 0 || c->num_heads <= 0 || c->head_dim * c->num_heads != c->embed_dim ||
        c->depth < 1 || c->depth > MS_MAX_DEPTH || c->mlp_dim <= 0 || c->out_chans <= 0 || c->window_size < 0)
        return -1;
    const long G = c->grid, C = c->embed_dim, O = c->out_chans;
    memset(p, 0, sizeof *p);
    p->N = G * G;
    p->per_thread = 0;
    for (int blk = 0; blk < c->depth; blk++) {
        size_t s = enc_is_windowed(c, blk) ? vit_window_attention_scratch_floats(c->window_size, c->head_dim)
                                           : vit_attention_scratch_floats((int)G, (int)G, enc_attn_tile((int)(G * G)));
        if (s > p->per_thread) p->per_thread = s;
    }
    size_t big = (size_t)p->N * 3 * C;
    const size_t mlp = ms_vit_mlp_workspace_floats(c);
    if (!mlp) return -1;
    size_t need[3] = {mlp,
                      conv_patchify_col_floats(c->in_chans, c->img_size, c->img_size, c->patch_size),
                      conv3x3_col_floats((int)O, (int)G, (int)G)};
    for (int i = 0; i < 3; i++) big = need[i] > big ? need[i] : big;
    size_t off = 0;
    p->x = off, off += enc_round16((size_t)p->N * (C > O ? C : O));
    p->a = off, off += enc_round16((size_t)p->N * (C > O ? C : O));
    p->b = off, off += enc_round16((size_t)p->N * (C > O ? C : O));
    p->big = off, off += enc_round16(big);
    p->scratch = off, off += enc_round16(p->per_thread) * MS_ENC_MAX_ATTN_THREADS;
    p->per_thread = enc_round16(p->per_thread);
    p->total = off;
    return 0;
}

size_t ms_image_encoder_workspace_floats(const ms_config *c) {
    enc_plan p;
    return enc_plan_make(c, &p) ? 0 : p.total;
}

/* ref: torch.nn.LayerNorm / LayerNorm2d (layernorm_forward's arithmetic, vectorised),
 * rows split between threads. out, in: (N, C); out may alias in. */
static void enc_layernorm(float *out, const float *in, const float *weight, const float *bias, long N, int C,
                          float eps, int nthreads) {
    const long step = 64;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && N > step)
    for (long r0 = 0; r0 < N; r0 += step)
        vec_layernorm_f64_forward(out + r0 * C, in + r0 * C, weight, bias, N - r0 < step ? N - r0 : step, C, eps);
}

/* Where ms_vit_mlp_forward keeps things in its workspace (floats): packed
 * lin1^T, packed lin2^T (each with room to align its start to 64 bytes), then
 * MS_ENC_MAX_ATTN_THREADS hidden tiles of (MS_ENC_MLP_TILE_ROWS, M). */
typedef struct {
    size_t w1, w2, tiles, total;
} enc_mlp_layout;

static int enc_mlp_layout_make(const ms_config *c, enc_mlp_layout *l) {
    const int C = c->embed_dim, M = c->mlp_dim;
    const size_t b1 = gemm_pack_b_into_bytes(C, M), b2 = gemm_pack_b_into_bytes(M, C);
    if (C <= 0 || M <= 0 || !b1 || !b2) return -1;
    l->w1 = 0;
    l->w2 = enc_round16(b1 / sizeof(float) + 16);
    l->tiles = l->w2 + enc_round16(b2 / sizeof(float) + 16);
    l->total = l->tiles + (size_t)MS_ENC_MAX_ATTN_THREADS * MS_ENC_MLP_TILE_ROWS * M;
    return 0;
}

size_t ms_vit_mlp_workspace_floats(const ms_config *c) {
    enc_mlp_layout l;
    return enc_mlp_layout_make(c, &l) ? 0 : l.total;
}

/* ref: common.py:MLPBlock.forward -- lin2(act(lin1(x))), in row tiles: each
 * thread runs lin1, GELU and lin2 on MS_ENC_MLP_TILE_ROWS tokens with
 * single-threaded GEMMs on weights packed once, so the (tile, M) hidden
 * activations stay in cache. Every output element sees the same arithmetic as
 * one whole-matrix GEMM (tiling splits rows only). */
static void enc_mlp_forward(const ms_config *c, const ms_vit_block_w *bw, const ms_vit_bf16 *lp,
                            const ms_vit_block_bf16 *lb, float *out, const float *in, long N, float *work, int nthreads) {
    const int C = c->embed_dim, M = c->mlp_dim;
    const long R = MS_ENC_MLP_TILE_ROWS;
    enc_mlp_layout l;
    const int laid_out = enc_mlp_layout_make(c, &l) == 0;
    gemm_packed_b *w1 = NULL, *w2 = NULL;
    if (laid_out && !lb) {
        float *m1 = enc_align64(work + l.w1), *m2 = enc_align64(work + l.w2);
        w1 = gemm_pack_b_into(m1, (size_t)(work + l.w2 - m1) * sizeof(float), 1, C, M, bw->lin1_w, C,
                              nthreads);  // lin1_w^T: (C, M)
        w2 = gemm_pack_b_into(m2, (size_t)(work + l.tiles - m2) * sizeof(float), 1, M, C, bw->lin2_w, M,
                              nthreads);  // lin2_w^T: (M, C)
    }
    const int nt = nthreads < MS_ENC_MAX_ATTN_THREADS ? nthreads : MS_ENC_MAX_ATTN_THREADS;
    const long ntiles = (N + R - 1) / R;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (long t = 0; t < ntiles; t++) {
#ifdef _OPENMP
        const int me = omp_get_thread_num();
#else
        const int me = 0;
#endif
        const long r0 = t * R, rows = N - r0 < R ? N - r0 : R;
        float *hidden = work + l.tiles + (size_t)me * R * M;  // (rows, M)
        if (lb) {  // bf16: weights converted at load
            gemm_bf16_packed(lp->path, (int)rows, in + r0 * C, C, lb->lin1, hidden, M, bw->lin1_b, 1);
            vec_gelu_erf_forward(hidden, rows * M);
            gemm_bf16_packed(lp->path, (int)rows, hidden, M, lb->lin2, out + r0 * C, C, bw->lin2_b, 1);
        } else if (w1 && w2) {
            gemm_f32_packed(0, (int)rows, 1.0f, in + r0 * C, C, w1, 0.0f, hidden, M, bw->lin1_b, 1);
            vec_gelu_erf_forward(hidden, rows * M);
            gemm_f32_packed(0, (int)rows, 1.0f, hidden, M, w2, 0.0f, out + r0 * C, C, bw->lin2_b, 1);
        } else {  // not reached with a workspace of ms_vit_mlp_workspace_floats; same arithmetic, packing per call
            linear_forward(hidden, in + r0 * C, C, bw->lin1_w, bw->lin1_b, rows, C, M, 1);
            vec_gelu_erf_forward(hidden, rows * M);
            linear_forward(out + r0 * C, hidden, M, bw->lin2_w, bw->lin2_b, rows, M, C, 1);
        }
    }
}

void ms_vit_mlp_forward(const ms_config *c, const ms_vit_block_w *bw, float *out, const float *in, long N, float *work,
                        int nthreads) {
    enc_mlp_forward(c, bw, NULL, NULL, out, in, N, work, nthreads);
}

/* y (rows, out) = x (rows, in) W^T + b: fp32 linear_forward, or the bf16 GEMM on lw when lp is set. */
static void enc_linear(const ms_vit_bf16 *lp, const gemm_bf16_b *lw, float *y, const float *x, const float *W,
                       const float *bias, long rows, int in, int out, int nthreads) {
    if (lp)
        gemm_bf16_packed(lp->path, (int)rows, x, in, lw, y, out, bias, nthreads);
    else
        linear_forward(y, x, in, W, bias, rows, in, out, nthreads);
}

/* One transformer block, in place on x. ref: image_encoder.py:Block.forward */
static void enc_block(const ms_config *c, const ms_vit_block_w *bw, const ms_vit_bf16 *lp, int blk, const enc_plan *p,
                      float *x, float *a, float *b, float *big, float *scratch, int nthreads) {
    const int G = c->grid, C = c->embed_dim, H = c->num_heads, hd = c->head_dim;
    const int attn_threads = nthreads < MS_ENC_MAX_ATTN_THREADS ? nthreads : MS_ENC_MAX_ATTN_THREADS;
    const long N = p->N;
    // ref: Block.forward -- shortcut = x; x = self.norm1(x)
    enc_layernorm(b, x, bw->norm1_w, bw->norm1_b, N, C, c->ln_eps, nthreads);  // b: (N, C)
    // ref: Attention.forward -- qkv = self.qkv(x), on the real tokens only (a padded token's qkv is the bias)
    const ms_vit_block_bf16 *lb = lp ? &lp->blocks[blk] : NULL;
    enc_linear(lp, lb ? lb->qkv : NULL, big, b, bw->qkv_w, bw->qkv_b, N, C, 3 * C, nthreads);  // big: (N, 3C)
    if (enc_is_windowed(c, blk))
        // ref: Block.forward -- window_partition (zero padding), self.attn, window_unpartition (crop)
        vit_window_attention_forward(a, big, bw->qkv_b, G, c->window_size, bw->rel_pos_h, bw->rel_pos_w, H, hd,
                                     scratch, attn_threads);  // a: (N, C)
    else
        vit_attention_forward(a, big, bw->rel_pos_h, bw->rel_pos_w, 1, G, G, H, hd, enc_attn_tile(G * G), scratch,
                              attn_threads);  // a: (N, C)
    // ref: Attention.forward -- x = self.proj(x); Block.forward -- x = shortcut + x
    enc_linear(lp, lb ? lb->proj : NULL, b, a, bw->proj_w, bw->proj_b, N, C, C, nthreads);  // b: (N, C)
    vec_add_threads(x, x, b, N * C, nthreads);
    // ref: Block.forward -- x = x + self.mlp(self.norm2(x)); common.py:MLPBlock.forward
    enc_layernorm(a, x, bw->norm2_w, bw->norm2_b, N, C, c->ln_eps, nthreads);  // a: (N, C)
    enc_mlp_forward(c, bw, lp, lb, b, a, N, big, nthreads);                       // b: (N, C)
    vec_add_threads(x, x, b, N * C, nthreads);
}

medsam_status ms_image_encoder_forward(const ms_config *c, const ms_image_encoder_w *w, const float *image,
                                       float *embedding, float *workspace, int nthreads, ms_trace_fn trace,
                                       void *trace_ctx, medsam_error *err) {
    return ms_image_encoder_forward_bf16(c, w, NULL, image, embedding, workspace, nthreads, trace, trace_ctx, err);
}

medsam_status ms_image_encoder_forward_bf16(const ms_config *c, const ms_image_encoder_w *w, const ms_vit_bf16 *lp,
                                            const float *image, float *embedding, float *workspace, int nthreads,
                                            ms_trace_fn trace, void *trace_ctx, medsam_error *err) {
    if (nthreads < 1) nthreads = 1;
    enc_plan p;
    if (!c || !w || !image || !embedding || !workspace)
        return ms_error(err, MEDSAM_ERR_ARG, "image encoder: NULL argument");
    if (lp && lp->depth != c->depth)
        return ms_error(err, MEDSAM_ERR_ARG, "image encoder: bf16 weights for %d blocks, model has %d", lp->depth,
                        c->depth);
    if (enc_plan_make(c, &p))
        return ms_error(err, MEDSAM_ERR_ARG,
                        "image encoder: unsupported configuration (img %d, patch %d, grid %d, embed %d, heads %d, "
                        "head dim %d, depth %d, window %d)",
                        c->img_size, c->patch_size, c->grid, c->embed_dim, c->num_heads, c->head_dim, c->depth,
                        c->window_size);
    const int G = c->grid, C = c->embed_dim, O = c->out_chans;
    const long N = p.N;
    float *x = workspace + p.x;      // (N, C) residual stream, channels-last
    float *a = workspace + p.a;      // (Npad, C)
    float *b = workspace + p.b;      // (Npad, C)
    float *big = workspace + p.big;  // (Npad, 3C) qkv | (mlp_rows, M) | im2col
    float *scratch = workspace + p.scratch;  // (MS_ENC_MAX_ATTN_THREADS, per_thread)

    // ref: ImageEncoderViT.forward -- x = self.patch_embed(x); x = x + self.pos_embed
    conv_patchify_forward(x, image, w->patch_w, w->patch_b, c->in_chans, c->img_size, c->img_size, C, c->patch_size,
                          big, nthreads);
    vec_add_threads(x, x, w->pos_embed, N * C, nthreads);
    ms_trace(trace, trace_ctx, "patch_embed", x, N * C);

    // ref: ImageEncoderViT.forward -- for blk in self.blocks: x = blk(x)
    for (int blk = 0; blk < c->depth; blk++) {
        enc_block(c, &w->blocks[blk], lp, blk, &p, x, a, b, big, scratch, nthreads);
        if (trace) {
            char name[32];
            snprintf(name, sizeof name, "block.%d", blk);
            trace(trace_ctx, name, x, N * C);
        }
    }

    // ref: ImageEncoderViT.forward -- x = self.neck(x.permute(0, 3, 1, 2)), computed channels-last
    conv1x1_forward(a, x, w->neck_conv1_w, NULL, N, C, O, nthreads);                   // a: (N, O)
    enc_layernorm(a, a, w->neck_ln1_w, w->neck_ln1_b, N, O, c->ln2d_eps, nthreads);  // LayerNorm2d
    conv3x3_forward(b, a, w->neck_conv2_w, NULL, G, G, O, O, big, nthreads);            // b: (N, O)
    enc_layernorm(b, b, w->neck_ln2_w, w->neck_ln2_b, N, O, c->ln2d_eps, nthreads);  // LayerNorm2d
    /* (N, O) channels-last -> (O, G, G) NCHW */
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int o = 0; o < O; o++)
        for (long t = 0; t < N; t++) embedding[(long)o * N + t] = b[t * O + o];
    ms_trace(trace, trace_ctx, "neck", embedding, (long)O * N);
    return MEDSAM_OK;
}
