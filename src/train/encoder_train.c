/* encoder_train.c — ViT image encoder, training forward + backward (see encoder_train.h). */
#include "train/encoder_train.h"

#include <string.h>

#include "ops/attention.h"
#include "ops/backward.h"
#include "ops/conv.h"
#include "ops/ops.h"
#include "ops/vecmath.h"

/* Query tiles of global blocks: the training forward (which keeps each score row's
 * log-sum-exp for the backward), and the backward's query and key tiles. */
#define ENCT_FWD_TILE_GLOBAL 128
#define ENCT_BWD_TILE_GLOBAL 256

static int enct_windowed(const ms_config *c, int blk) { return !c->is_global[blk] && c->window_size > 0; }
static size_t enct_r16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Attention geometry of block blk: groups, side, rows R. */
static void enct_geom(const ms_config *c, int Hp, int blk, int *ngroups, int *side, long *R) {
    if (enct_windowed(c, blk)) {
        *side = c->window_size;
        *ngroups = (Hp / c->window_size) * (Hp / c->window_size);
        *R = (long)Hp * Hp;
    } else {
        *side = c->grid;
        *ngroups = 1;
        *R = (long)c->grid * c->grid;
    }
}

static int enct_tile(int T, int global_tile) { return T <= 256 ? T : global_tile; }

/* Carves (or, with buf NULL, only counts) the buffer. Returns floats, 0 if unsupported. */
static size_t enct_layout(ms_enc_train *e, const ms_config *c, int nthreads, float *buf) {
    if (c->img_size <= 0 || c->patch_size <= 0 || c->img_size % c->patch_size ||
        c->grid != c->img_size / c->patch_size || c->embed_dim <= 0 || c->num_heads <= 0 || c->head_dim * c->num_heads != c->embed_dim || c->depth < 1 ||
        c->depth > MS_MAX_DEPTH || c->mlp_dim <= 0 || c->out_chans <= 0 || c->window_size < 0)
        return 0;
    if (nthreads < 1) nthreads = 1;
    const long G = c->grid, C = c->embed_dim, M = c->mlp_dim, O = c->out_chans, N = G * G;
    int Hp = (int)G;
    for (int b = 0; b < c->depth; b++)
        if (enct_windowed(c, b)) Hp = (int)((G + c->window_size - 1) / c->window_size * c->window_size);
    const long Npad = (long)Hp * Hp > N ? (long)Hp * Hp : N;
    const long CO = C > O ? C : O;
    size_t fwd_s = 0, bwd_s = 0;
    for (int b = 0; b < c->depth; b++) {
        int ng, side;
        long R;
        enct_geom(c, Hp, b, &ng, &side, &R);
        /* windows: the inference forward (one tile per window); global: the training forward */
        size_t f = enct_windowed(c, b) ? vit_attention_scratch_floats(side, side, side * side) * (size_t)nthreads
                                       : vit_attention_forward_train_scratch_floats(side, side, ENCT_FWD_TILE_GLOBAL,
                                                                                    nthreads);
        size_t k = vit_attention_backward_scratch_floats(ng, side, side, c->num_heads,
                                                         enct_tile(side * side, ENCT_BWD_TILE_GLOBAL), nthreads);
        if (f > fwd_s) fwd_s = f;
        if (k > bwd_s) bwd_s = k;
    }
    size_t col = conv_patchify_col_floats(c->in_chans, c->img_size, c->img_size, c->patch_size);
    size_t col3 = conv3x3_col_floats((int)O, (int)G, (int)G);
    if (col3 > col) col = col3;
    size_t off = 0;
#define ENCT_TAKE(ptr, n)                               \
    do {                                                \
        if (buf) (ptr) = buf + off;                     \
        off += enct_r16((size_t)(n));                   \
    } while (0)
    ms_enc_train tmp;
    ms_enc_train *p = e ? e : &tmp;
    for (int b = 0; b < c->depth; b++) {
        int ng, side;
        long R;
        enct_geom(c, Hp, b, &ng, &side, &R);
        ms_enc_block_cache *k = &p->blk[b];
        ENCT_TAKE(k->x_in, N * C);
        ENCT_TAKE(k->mean1, N);
        ENCT_TAKE(k->rstd1, N);
        ENCT_TAKE(k->lnw, N * C);
        ENCT_TAKE(k->qkv, R * 3 * C);
        ENCT_TAKE(k->att, R * C);
        ENCT_TAKE(k->lse, enct_windowed(c, b) ? 0 : (long)c->num_heads * R);
        if (enct_windowed(c, b)) k->lse = NULL;
        ENCT_TAKE(k->x_mid, N * C);
        ENCT_TAKE(k->mean2, N);
        ENCT_TAKE(k->rstd2, N);
        ENCT_TAKE(k->ln2, N * C);
        ENCT_TAKE(k->h_pre, N * M);
        ENCT_TAKE(k->h_act, N * M);
    }
    ENCT_TAKE(p->x_final, N * C);
    ENCT_TAKE(p->neck_a, N * O);
    ENCT_TAKE(p->neck_m1, N);
    ENCT_TAKE(p->neck_r1, N);
    ENCT_TAKE(p->neck_a1, N * O);
    ENCT_TAKE(p->neck_b, N * O);
    ENCT_TAKE(p->neck_m2, N);
    ENCT_TAKE(p->neck_r2, N);
    ENCT_TAKE(p->emb, N * O);
    ENCT_TAKE(p->dx, N * C);
    ENCT_TAKE(p->dA, Npad * CO);
    ENCT_TAKE(p->dB, Npad * CO);
    ENCT_TAKE(p->dqkv, Npad * 3 * C);
    ENCT_TAKE(p->dH1, N * M);
    ENCT_TAKE(p->dH2, N * (M > 3 * C ? M : 3 * C));
    ENCT_TAKE(p->col, col);
    ENCT_TAKE(p->attn_fwd, fwd_s);
    ENCT_TAKE(p->attn_bwd, bwd_s);
#undef ENCT_TAKE
    p->N = N;
    p->Hp = Hp;
    p->nthreads = nthreads;
    return off;
}

size_t ms_enc_train_floats(const ms_config *c, int nthreads) { return enct_layout(NULL, c, nthreads, NULL); }

int ms_enc_train_carve(ms_enc_train *e, const ms_config *c, int nthreads, float *buf) {
    memset(e, 0, sizeof *e);
    return enct_layout(e, c, nthreads, buf) ? 0 : -1;
}

/* Row of the window-major (Hp*Hp, .) layout that holds grid token (y, x)
 * (image_encoder.py:window_partition order: (wy, wx, iy, ix)). */
static long enct_win_row(int y, int x, int Hp, int ws) {
    const int nw = Hp / ws;
    return ((long)(y / ws) * nw + x / ws) * ws * ws + (long)(y % ws) * ws + x % ws;
}

/* ref: image_encoder.py:window_partition applied to the qkv linear's output: a
 * padded token is a zero row, so its qkv is the bias.
 * dst: (Hp*Hp, W) window-major; src: (G*G, W); pad: (W) the row of padded tokens */
static void enct_scatter_windows(float *dst, const float *src, const float *pad, int G, int Hp, int ws, int W,
                                 int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int y = 0; y < Hp; y++)
        for (int x = 0; x < Hp; x++) {
            const float *s = (y < G && x < G) ? src + ((long)y * G + x) * W : pad;  // (W)
            memcpy(dst + enct_win_row(y, x, Hp, ws) * W, s, sizeof(float) * (size_t)W);
        }
}

/* ref: image_encoder.py:window_unpartition + crop: dst (G*G, W) = the real rows of src (Hp*Hp, W). */
static void enct_gather_windows(float *dst, const float *src, int G, int Hp, int ws, int W, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++)
            memcpy(dst + ((long)y * G + x) * W, src + enct_win_row(y, x, Hp, ws) * W, sizeof(float) * (size_t)W);
}

void ms_enc_train_forward(ms_enc_train *e, const ms_config *c, const ms_image_encoder_w *w, const float *image,
                          int nthreads) {
    const int G = c->grid, C = c->embed_dim, M = c->mlp_dim, O = c->out_chans, H = c->num_heads, hd = c->head_dim;
    const long N = e->N;
    if (nthreads > e->nthreads) nthreads = e->nthreads;
    // ref: ImageEncoderViT.forward -- x = self.patch_embed(x); x = x + self.pos_embed
    float *x = e->blk[0].x_in;  // (N, C)
    conv_patchify_forward(x, image, w->patch_w, w->patch_b, c->in_chans, c->img_size, c->img_size, C, c->patch_size,
                          e->col, nthreads);
    vec_add_threads(x, x, w->pos_embed, N * C, nthreads);
    for (int b = 0; b < c->depth; b++) {
        ms_enc_block_cache *k = &e->blk[b];
        const ms_vit_block_w *bw = &w->blocks[b];
        float *x_out = b + 1 < c->depth ? e->blk[b + 1].x_in : e->x_final;  // (N, C)
        int ng, side;
        long R;
        enct_geom(c, e->Hp, b, &ng, &side, &R);
        const int win = enct_windowed(c, b), ws = c->window_size;
        // ref: Block.forward -- x = self.norm1(x); Attention.forward -- qkv
        layernorm_forward_train(k->lnw, k->mean1, k->rstd1, k->x_in, bw->norm1_w, bw->norm1_b, N, C, c->ln_eps,
                                nthreads);
        if (win) {  // ref: window_partition -- the linear on the N real tokens, padded ones get the bias
            linear_forward(e->dqkv, k->lnw, C, bw->qkv_w, bw->qkv_b, N, C, 3 * C, nthreads);  // (N, 3C)
            enct_scatter_windows(k->qkv, e->dqkv, bw->qkv_b, G, e->Hp, ws, 3 * C, nthreads);
        } else {
            linear_forward(k->qkv, k->lnw, C, bw->qkv_w, bw->qkv_b, N, C, 3 * C, nthreads);
        }
        // ref: Attention.forward -- attention with rel-pos, proj
        if (win)
            vit_attention_forward(k->att, k->qkv, bw->rel_pos_h, bw->rel_pos_w, ng, side, side, H, hd, side * side,
                                  e->attn_fwd, nthreads);
        else
            vit_attention_forward_train(k->att, k->lse, k->qkv, bw->rel_pos_h, bw->rel_pos_w, ng, side, side, H, hd,
                                        ENCT_FWD_TILE_GLOBAL, e->attn_fwd, nthreads);
        const float *att = k->att;  // (N, C) real tokens
        if (win) {  // ref: window_unpartition + crop, before proj (proj is per token)
            enct_gather_windows(e->dB, k->att, G, e->Hp, ws, C, nthreads);
            att = e->dB;
        }
        linear_forward(e->dA, att, C, bw->proj_w, bw->proj_b, N, C, C, nthreads);  // dA: (N, C)
        // ref: Block.forward -- x = shortcut + x
        vec_add_threads(k->x_mid, k->x_in, e->dA, N * C, nthreads);
        // ref: Block.forward -- x = x + self.mlp(self.norm2(x)); common.py:MLPBlock
        layernorm_forward_train(k->ln2, k->mean2, k->rstd2, k->x_mid, bw->norm2_w, bw->norm2_b, N, C, c->ln_eps,
                                nthreads);
        linear_forward(k->h_pre, k->ln2, C, bw->lin1_w, bw->lin1_b, N, C, M, nthreads);
        gelu_forward_train(k->h_act, k->h_pre, N * M, nthreads);
        linear_forward(e->dA, k->h_act, M, bw->lin2_w, bw->lin2_b, N, M, C, nthreads);
        vec_add_threads(x_out, k->x_mid, e->dA, N * C, nthreads);
    }
    // ref: ImageEncoderViT.forward -- self.neck(x.permute(0, 3, 1, 2)), channels-last
    conv1x1_forward(e->neck_a, e->x_final, w->neck_conv1_w, NULL, N, C, O, nthreads);
    layernorm_forward_train(e->neck_a1, e->neck_m1, e->neck_r1, e->neck_a, w->neck_ln1_w, w->neck_ln1_b, N, O,
                            c->ln2d_eps, nthreads);
    conv3x3_forward(e->neck_b, e->neck_a1, w->neck_conv2_w, NULL, G, G, O, O, e->col, nthreads);
    layernorm_forward_train(e->emb, e->neck_m2, e->neck_r2, e->neck_b, w->neck_ln2_w, w->neck_ln2_b, N, O,
                            c->ln2d_eps, nthreads);
}

static void enct_zero(float *p, long n) { memset(p, 0, sizeof(float) * (size_t)n); }

/* dx (N, C): gradient w.r.t. the block output in, w.r.t. the block input out. */
static void enct_block_backward(ms_enc_train *e, const ms_config *c, int b, const ms_vit_block_w *bw,
                                ms_vit_block_w *gw, float *dx, int nthreads) {
    const int G = c->grid, C = c->embed_dim, M = c->mlp_dim, H = c->num_heads, hd = c->head_dim;
    const long N = e->N;
    const ms_enc_block_cache *k = &e->blk[b];
    int ng, side;
    long R;
    enct_geom(c, e->Hp, b, &ng, &side, &R);
    const int win = enct_windowed(c, b);
    // ref: Block.forward -- x = x + self.mlp(self.norm2(x))
    enct_zero(e->dH1, N * M);
    linear_backward(e->dH1, gw->lin2_w, gw->lin2_b, dx, k->h_act, M, bw->lin2_w, N, M, C, nthreads);
    enct_zero(e->dH2, N * M);
    gelu_backward(e->dH2, e->dH1, k->h_pre, N * M, nthreads);
    enct_zero(e->dA, N * C);
    linear_backward(e->dA, gw->lin1_w, gw->lin1_b, e->dH2, k->ln2, C, bw->lin1_w, N, C, M, nthreads);
    layernorm_backward(dx, gw->norm2_w, gw->norm2_b, e->dA, k->mean2, k->rstd2, k->x_mid, bw->norm2_w, N, C, nthreads);
    // ref: Block.forward -- x = shortcut + window_unpartition(attn(window_partition(norm1(x))))
    const int ws = c->window_size;
    const float *att = k->att;  // (N, C) real tokens' attention output
    if (win) {
        enct_gather_windows(e->dH1, k->att, G, e->Hp, ws, C, nthreads);
        att = e->dH1;
    }
    enct_zero(e->dB, N * C);
    linear_backward(e->dB, gw->proj_w, gw->proj_b, dx, att, C, bw->proj_w, N, C, C, nthreads);  // dB: (N, C)
    const float *datt = e->dB;  // (R, C)
    if (win) {  // padded tokens' outputs are cropped: no gradient
        enct_zero(e->dA, R * C);
        vit_window_unpartition_backward(e->dA, e->dB, G, e->Hp, ws, C, nthreads);
        datt = e->dA;
    }
    enct_zero(e->dqkv, R * 3 * C);
    vit_attention_backward_cached(e->dqkv, gw->rel_pos_h, gw->rel_pos_w, datt, k->att, win ? NULL : k->lse, k->qkv,
                                  bw->rel_pos_h, bw->rel_pos_w, ng, side, side, H, hd,
                                  enct_tile(side * side, ENCT_BWD_TILE_GLOBAL), e->attn_bwd, nthreads);
    const float *dqkv = e->dqkv;  // (N, 3C) real tokens
    if (win) {  // the real tokens' rows, for the weight and input gradients
        enct_gather_windows(e->dH2, e->dqkv, G, e->Hp, ws, 3 * C, nthreads);
        dqkv = e->dH2;
    }
    enct_zero(e->dB, N * C);
    linear_backward(e->dB, gw->qkv_w, win ? NULL : gw->qkv_b, dqkv, k->lnw, C, bw->qkv_w, N, C, 3 * C, nthreads);
    // windowed: the bias gradient sums every window row, real and padded tokens (a padded token's qkv is the
    // bias, its input row being zero), in one pass so that it is added with one rounding
    if (win && gw->qkv_b) linear_bias_backward(gw->qkv_b, e->dqkv, R, 3 * C, nthreads);
    const float *dln = e->dB;  // (N, C)
    layernorm_backward(dx, gw->norm1_w, gw->norm1_b, dln, k->mean1, k->rstd1, k->x_in, bw->norm1_w, N, C, nthreads);
}

void ms_enc_train_backward(ms_enc_train *e, const ms_config *c, const ms_image_encoder_w *w, ms_image_encoder_w *g,
                           const float *image, const float *demb, int nthreads) {
    const int G = c->grid, C = c->embed_dim, O = c->out_chans;
    const long N = e->N;
    if (nthreads > e->nthreads) nthreads = e->nthreads;
    // ref: ImageEncoderViT.forward -- neck backward (LayerNorm2d, conv3x3, LayerNorm2d, conv1x1)
    enct_zero(e->dA, N * O);
    layernorm_backward(e->dA, g->neck_ln2_w, g->neck_ln2_b, demb, e->neck_m2, e->neck_r2, e->neck_b, w->neck_ln2_w,
                       N, O, nthreads);
    enct_zero(e->dB, N * O);
    conv3x3_backward(e->dB, g->neck_conv2_w, NULL, e->dA, e->neck_a1, w->neck_conv2_w, G, G, O, O, e->col, nthreads);
    enct_zero(e->dA, N * O);
    layernorm_backward(e->dA, g->neck_ln1_w, g->neck_ln1_b, e->dB, e->neck_m1, e->neck_r1, e->neck_a, w->neck_ln1_w,
                       N, O, nthreads);
    float *dx = e->dx;  // (N, C) residual-stream gradient
    enct_zero(dx, N * C);
    conv1x1_backward(dx, g->neck_conv1_w, NULL, e->dA, e->x_final, w->neck_conv1_w, N, C, O, nthreads);
    for (int b = c->depth - 1; b >= 0; b--) enct_block_backward(e, c, b, &w->blocks[b], &g->blocks[b], dx, nthreads);
    // ref: ImageEncoderViT.forward -- x = patch_embed(x) + pos_embed
    vec_add_threads(g->pos_embed, g->pos_embed, dx, N * C, nthreads);
    conv_patchify_backward(g->patch_w, g->patch_b, dx, image, c->in_chans, c->img_size, c->img_size, C, c->patch_size,
                           e->col, nthreads);
}
