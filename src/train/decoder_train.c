/* decoder_train.c — mask decoder, training forward + backward (see decoder_train.h). */
#include "train/decoder_train.h"

#include <string.h>

#include "ops/backward.h"
#include "ops/conv_transpose.h"
#include "ops/mha.h"
#include "ops/ops.h"
#include "ops/vecmath.h"

static size_t dect_r16(size_t n) { return (n + 15) & ~(size_t)15; }

static size_t dect_layout(ms_dec_train *d, const ms_config *c, int Ns, float *buf) {
    const int D = c->prompt_dim, G = c->grid, T = c->num_mask_tokens, h = c->dec_heads, F = c->dec_mlp_dim;
    if (D <= 0 || D % 8 || c->dec_attn_down <= 0 || D % c->dec_attn_down || h <= 0 || T < 1 || Ns < 0 ||
        c->dec_depth < 1 || c->dec_depth > MS_MAX_DEC_DEPTH || (D / c->dec_attn_down) % h || D % h)
        return 0;
    const int I = D / c->dec_attn_down, Nt = 1 + T + Ns, O1 = D / 4, O2 = D / 8;
    const long N = (long)G * G;
    ms_dec_train tmp;
    ms_dec_train *p = d ? d : &tmp;
    size_t off = 0;
#define DECT_TAKE(ptr, n)                 \
    do {                                  \
        if (buf) (ptr) = buf + off;       \
        off += dect_r16((size_t)(n));     \
    } while (0)
    DECT_TAKE(p->tok, Nt * D);
    DECT_TAKE(p->src, N * D);
    for (int l = 0; l < c->dec_depth; l++) {
        ms_dec_layer_cache *L = &p->L[l];
        DECT_TAKE(L->q_in, Nt * D);
        DECT_TAKE(L->keys_in, N * D);
        DECT_TAKE(L->qp0, Nt * D);
        DECT_TAKE(L->sa_cache, mha_cache_floats(Nt, Nt, D, h));
        DECT_TAKE(L->q1_pre, Nt * D);
        DECT_TAKE(L->m1, Nt);
        DECT_TAKE(L->r1, Nt);
        DECT_TAKE(L->q1, Nt * D);
        DECT_TAKE(L->qp1, Nt * D);
        DECT_TAKE(L->kp, N * D);
        DECT_TAKE(L->t2i_cache, mha_cache_floats(Nt, (int)N, I, h));
        DECT_TAKE(L->q2_pre, Nt * D);
        DECT_TAKE(L->m2, Nt);
        DECT_TAKE(L->r2, Nt);
        DECT_TAKE(L->q2, Nt * D);
        DECT_TAKE(L->hid, (long)Nt * F);
        DECT_TAKE(L->q3_pre, Nt * D);
        DECT_TAKE(L->m3, Nt);
        DECT_TAKE(L->r3, Nt);
        DECT_TAKE(L->q3, Nt * D);
        DECT_TAKE(L->qp3, Nt * D);
        DECT_TAKE(L->i2t_cache, mha_cache_floats((int)N, Nt, I, h));
        DECT_TAKE(L->keys_pre, N * D);
        DECT_TAKE(L->m4, N);
        DECT_TAKE(L->r4, N);
    }
    DECT_TAKE(p->qf_in, Nt * D);
    DECT_TAKE(p->keys_f, N * D);
    DECT_TAKE(p->qpf, Nt * D);
    DECT_TAKE(p->kpf, N * D);
    DECT_TAKE(p->fin_cache, mha_cache_floats(Nt, (int)N, I, h));
    DECT_TAKE(p->qf_pre, Nt * D);
    DECT_TAKE(p->mf, Nt);
    DECT_TAKE(p->rf, Nt);
    DECT_TAKE(p->qf, Nt * D);
    DECT_TAKE(p->keys_cf, N * D);
    DECT_TAKE(p->up1_cl, 4 * N * O1);
    DECT_TAKE(p->up1_m, 4 * N);
    DECT_TAKE(p->up1_r, 4 * N);
    DECT_TAKE(p->up1_ln, 4 * N * O1);
    DECT_TAKE(p->up1_act, 4 * N * O1);
    DECT_TAKE(p->up2_pre, 16 * N * O2);
    DECT_TAKE(p->up2, 16 * N * O2);
    DECT_TAKE(p->h1, D);
    DECT_TAKE(p->h2, D);
    DECT_TAKE(p->hyper0, O2);
    DECT_TAKE(p->mask, 16 * N);
    DECT_TAKE(p->dtok, Nt * D);
    DECT_TAKE(p->dq, Nt * D);
    DECT_TAKE(p->dqa, Nt * D);
    DECT_TAKE(p->dqb, Nt * D);
    DECT_TAKE(p->dqc, Nt * D);
    DECT_TAKE(p->dkeys, N * D);
    DECT_TAKE(p->dkeys2, N * D);
    DECT_TAKE(p->dkp, N * D);
    DECT_TAKE(p->dhid, (long)Nt * F);
    DECT_TAKE(p->dhid2, (long)Nt * F);
    long up = 16 * N * O2;
    if (N * D > up) up = N * D;
    if (4 * N * O1 > up) up = 4 * N * O1;
    DECT_TAKE(p->dup_a, up);
    DECT_TAKE(p->dup_b, up);
    size_t ms = mha_backward_scratch_floats(Nt, Nt, D), m2 = mha_backward_scratch_floats(Nt, (int)N, I),
           m3 = mha_backward_scratch_floats((int)N, Nt, I);
    if (m2 > ms) ms = m2;
    if (m3 > ms) ms = m3;
    DECT_TAKE(p->mha_scratch, ms);
    DECT_TAKE(p->dh, 3 * D);
#undef DECT_TAKE
    p->Nt = Nt;
    p->Ns = Ns;
    p->N = N;
    return off;
}

size_t ms_dec_train_floats(const ms_config *c, int Ns) { return dect_layout(NULL, c, Ns, NULL); }

int ms_dec_train_carve(ms_dec_train *d, const ms_config *c, int Ns, float *buf) {
    memset(d, 0, sizeof *d);
    return dect_layout(d, c, Ns, buf) ? 0 : -1;
}

static mha_weights dect_mha(const ms_attn_w *a) {
    mha_weights m = {a->q_w, a->q_b, a->k_w, a->k_b, a->v_w, a->v_b, a->out_w, a->out_b};
    return m;
}
static mha_grads dect_mha_grads(ms_attn_w *a) {
    mha_grads m = {a->q_w, a->q_b, a->k_w, a->k_b, a->v_w, a->v_b, a->out_w, a->out_b};
    return m;
}
static void dect_zero(float *p, long n) { memset(p, 0, sizeof(float) * (size_t)n); }
/* (rows, cols) -> (cols, rows) */
static void dect_transpose(float *dst, const float *src, long rows, long cols) {
    for (long r = 0; r < rows; r++)
        for (long k = 0; k < cols; k++) dst[k * rows + r] = src[r * cols + k];
}

void ms_dec_train_forward(ms_dec_train *d, const ms_config *c, const ms_mask_decoder_w *w, const float *emb,
                          const float *dense, const float *pos, const float *sparse, int nthreads) {
    const int D = c->prompt_dim, G = c->grid, T = c->num_mask_tokens, h = c->dec_heads, F = c->dec_mlp_dim;
    const int I = D / c->dec_attn_down, Nt = d->Nt, O1 = D / 4, O2 = D / 8;
    const long N = d->N, SS = 16 * N;
    const float eps = c->dec_ln_eps;
    d->pos = pos;
    // ref: mask_decoder.py:MaskDecoder.predict_masks -- tokens, src = image_embeddings + dense
    memcpy(d->tok, w->iou_token, sizeof(float) * D);
    memcpy(d->tok + D, w->mask_tokens, sizeof(float) * T * D);
    if (d->Ns) memcpy(d->tok + (1 + T) * D, sparse, sizeof(float) * d->Ns * D);
    vec_add(d->src, emb, dense, N * D);
    // ref: transformer.py:TwoWayTransformer.forward
    const float *q = d->tok, *keys = d->src;
    for (int l = 0; l < c->dec_depth; l++) {
        ms_dec_layer_cache *L = &d->L[l];
        const ms_twoway_layer_w *lw = &w->layers[l];
        mha_weights sa = dect_mha(&lw->self_attn), t2i = dect_mha(&lw->cross_t2i), i2t = dect_mha(&lw->cross_i2t);
        memcpy(L->q_in, q, sizeof(float) * Nt * D);
        memcpy(L->keys_in, keys, sizeof(float) * N * D);
        // ref: TwoWayAttentionBlock.forward -- self attention (skip_first_layer_pe at layer 0)
        if (l == 0) {
            mha_forward_train(L->q1_pre, L->sa_cache, L->q_in, L->q_in, L->q_in, &sa, Nt, Nt, D, D, h, nthreads);
        } else {
            vec_add(L->qp0, L->q_in, d->tok, (long)Nt * D);
            mha_forward_train(L->q1_pre, L->sa_cache, L->qp0, L->qp0, L->q_in, &sa, Nt, Nt, D, D, h, nthreads);
            vec_add(L->q1_pre, L->q1_pre, L->q_in, (long)Nt * D);
        }
        layernorm_forward_train(L->q1, L->m1, L->r1, L->q1_pre, lw->norm1_w, lw->norm1_b, Nt, D, eps, 1);
        // ref: cross attention tokens -> image
        vec_add(L->qp1, L->q1, d->tok, (long)Nt * D);
        vec_add(L->kp, L->keys_in, pos, N * D);
        mha_forward_train(L->q2_pre, L->t2i_cache, L->qp1, L->kp, L->keys_in, &t2i, Nt, (int)N, D, I, h, nthreads);
        vec_add(L->q2_pre, L->q2_pre, L->q1, (long)Nt * D);
        layernorm_forward_train(L->q2, L->m2, L->r2, L->q2_pre, lw->norm2_w, lw->norm2_b, Nt, D, eps, 1);
        // ref: MLP block (ReLU)
        linear_forward(L->hid, L->q2, D, lw->mlp_lin1_w, lw->mlp_lin1_b, Nt, D, F, nthreads);
        relu_forward(L->hid, (long)Nt * F, 1);
        linear_forward(L->q3_pre, L->hid, F, lw->mlp_lin2_w, lw->mlp_lin2_b, Nt, F, D, nthreads);
        vec_add(L->q3_pre, L->q3_pre, L->q2, (long)Nt * D);
        layernorm_forward_train(L->q3, L->m3, L->r3, L->q3_pre, lw->norm3_w, lw->norm3_b, Nt, D, eps, 1);
        // ref: cross attention image -> tokens
        vec_add(L->qp3, L->q3, d->tok, (long)Nt * D);
        mha_forward_train(L->keys_pre, L->i2t_cache, L->kp, L->qp3, L->q3, &i2t, (int)N, Nt, D, I, h, nthreads);
        vec_add(L->keys_pre, L->keys_pre, L->keys_in, N * D);
        float *keys_out = l + 1 < c->dec_depth ? d->L[l + 1].keys_in : d->keys_f;
        layernorm_forward_train(keys_out, L->m4, L->r4, L->keys_pre, lw->norm4_w, lw->norm4_b, N, D, eps, nthreads);
        q = L->q3;
        keys = keys_out;
    }
    // ref: TwoWayTransformer.forward -- final attention token -> image, norm_final_attn
    mha_weights fin = dect_mha(&w->final_attn);
    memcpy(d->qf_in, q, sizeof(float) * Nt * D);
    vec_add(d->qpf, d->qf_in, d->tok, (long)Nt * D);
    vec_add(d->kpf, d->keys_f, pos, N * D);
    mha_forward_train(d->qf_pre, d->fin_cache, d->qpf, d->kpf, d->keys_f, &fin, Nt, (int)N, D, I, h, nthreads);
    vec_add(d->qf_pre, d->qf_pre, d->qf_in, (long)Nt * D);
    layernorm_forward_train(d->qf, d->mf, d->rf, d->qf_pre, w->norm_final_w, w->norm_final_b, Nt, D, eps, 1);
    // ref: MaskDecoder.predict_masks -- output_upscaling: ConvT, LayerNorm2d, GELU, ConvT, GELU
    dect_transpose(d->keys_cf, d->keys_f, N, D);
    conv_transpose2x2_forward(d->dup_a, d->keys_cf, w->up_conv1_w, w->up_conv1_b, D, O1, G, G, nthreads);
    dect_transpose(d->up1_cl, d->dup_a, O1, 4 * N);
    layernorm_forward_train(d->up1_ln, d->up1_m, d->up1_r, d->up1_cl, w->up_ln_w, w->up_ln_b, 4 * N, O1, c->ln2d_eps,
                            nthreads);
    gelu_forward_train(d->dup_a, d->up1_ln, 4 * N * O1, nthreads);
    dect_transpose(d->up1_act, d->dup_a, 4 * N, O1);
    conv_transpose2x2_forward(d->up2_pre, d->up1_act, w->up_conv2_w, w->up_conv2_b, O1, O2, 2 * G, 2 * G, nthreads);
    gelu_forward_train(d->up2, d->up2_pre, SS * O2, nthreads);
    // ref: output_hypernetworks_mlps[0](hs[:, 1, :]) (MLP, ReLU between layers); masks 1.. are not in the loss
    linear_forward(d->h1, d->qf + D, D, w->hyper_w[0][0], w->hyper_b[0][0], 1, D, D, 1);
    relu_forward(d->h1, D, 1);
    linear_forward(d->h2, d->h1, D, w->hyper_w[0][1], w->hyper_b[0][1], 1, D, D, 1);
    relu_forward(d->h2, D, 1);
    linear_forward(d->hyper0, d->h2, D, w->hyper_w[0][2], w->hyper_b[0][2], 1, D, O2, 1);
    // ref: masks = (hyper_in @ upscaled_embedding.view(b, c, h * w)), mask 0
    for (long p = 0; p < SS; p++) {
        float acc = 0.0f;
        for (int o = 0; o < O2; o++) acc += d->hyper0[o] * d->up2[o * SS + p];
        d->mask[p] = acc;
    }
}

/* LayerNorm backward into a fresh gradient: dst = 0, then accumulate. */
static void dect_ln_back(float *dst, float *gw, float *gb, const float *dout, const float *m, const float *r,
                         const float *in, const float *w, long rows, int D, int nthreads) {
    dect_zero(dst, rows * D);
    layernorm_backward(dst, gw, gb, dout, m, r, in, w, rows, D, nthreads);
}

void ms_dec_train_backward(ms_dec_train *d, const ms_config *c, const ms_mask_decoder_w *w, ms_mask_decoder_w *g,
                           const float *dmask, float *demb, int nthreads) {
    const int D = c->prompt_dim, G = c->grid, T = c->num_mask_tokens, h = c->dec_heads, F = c->dec_mlp_dim;
    const int I = D / c->dec_attn_down, Nt = d->Nt, O1 = D / 4, O2 = D / 8;
    const long N = d->N, SS = 16 * N;
    float *dq = d->dq, *dkeys = d->dkeys;  // (Nt, D), (N, D): gradients of the current queries / keys
    // ref: masks = hyper_in @ upscaled (mask 0 only)
    float *dhyper = d->dh + 2 * D;  // (O2)
    float *dup2 = d->dup_a;         // (O2, SS)
    for (int o = 0; o < O2; o++) {
        double acc = 0.0;
        const float *u = d->up2 + o * SS;
        float *du = dup2 + o * SS;
        for (long p = 0; p < SS; p++) {
            acc += (double)u[p] * dmask[p];
            du[p] = d->hyper0[o] * dmask[p];
        }
        dhyper[o] = (float)acc;
    }
    // ref: output_hypernetworks_mlps[0] backward
    dect_zero(dq, (long)Nt * D);
    float *dh2 = d->dh, *dh1 = d->dh + D;  // (D) each
    dect_zero(dh2, D);
    linear_backward(dh2, g->hyper_w[0][2], g->hyper_b[0][2], dhyper, d->h2, D, w->hyper_w[0][2], 1, D, O2, 1);
    dect_zero(dh1, D);
    relu_backward(dh1, dh2, d->h2, D, 1);
    dect_zero(dh2, D);
    linear_backward(dh2, g->hyper_w[0][1], g->hyper_b[0][1], dh1, d->h1, D, w->hyper_w[0][1], 1, D, D, 1);
    dect_zero(dh1, D);
    relu_backward(dh1, dh2, d->h1, D, 1);
    linear_backward(dq + D, g->hyper_w[0][0], g->hyper_b[0][0], dh1, d->qf + D, D, w->hyper_w[0][0], 1, D, D, 1);
    // ref: output_upscaling backward
    dect_zero(d->dup_b, SS * O2);
    gelu_backward(d->dup_b, dup2, d->up2_pre, SS * O2, nthreads);  // dup_b: d up2_pre
    dect_zero(d->dup_a, 4 * N * O1);
    conv_transpose2x2_backward(d->dup_a, g->up_conv2_w, g->up_conv2_b, d->dup_b, d->up1_act, w->up_conv2_w, O1, O2,
                               2 * G, 2 * G, nthreads);  // dup_a: d up1_act (O1, 4N)
    dect_transpose(d->dup_b, d->dup_a, O1, 4 * N);       // dup_b: (4N, O1)
    dect_zero(d->dup_a, 4 * N * O1);
    gelu_backward(d->dup_a, d->dup_b, d->up1_ln, 4 * N * O1, nthreads);  // dup_a: d up1_ln
    dect_ln_back(d->dup_b, g->up_ln_w, g->up_ln_b, d->dup_a, d->up1_m, d->up1_r, d->up1_cl, w->up_ln_w, 4 * N, O1,
                 nthreads);                                               // dup_b: d up1 (4N, O1)
    dect_transpose(d->dup_a, d->dup_b, 4 * N, O1);                        // dup_a: (O1, 4N)
    dect_zero(d->dup_b, N * D);
    conv_transpose2x2_backward(d->dup_b, g->up_conv1_w, g->up_conv1_b, d->dup_a, d->keys_cf, w->up_conv1_w, D, O1, G,
                               G, nthreads);  // dup_b: (D, N)
    dect_transpose(dkeys, d->dup_b, D, N);

    // ref: final attention + norm_final_attn backward
    dect_zero(d->dtok, (long)Nt * D);
    mha_weights fin = dect_mha(&w->final_attn);
    mha_grads gfin = dect_mha_grads(&g->final_attn);
    dect_ln_back(d->dqa, g->norm_final_w, g->norm_final_b, dq, d->mf, d->rf, d->qf_pre, w->norm_final_w, Nt, D, 1);
    memcpy(dq, d->dqa, sizeof(float) * Nt * D);
    dect_zero(d->dqb, (long)Nt * D);
    dect_zero(d->dkp, N * D);
    mha_backward(d->dqb, d->dkp, dkeys, &gfin, d->dqa, d->fin_cache, d->qpf, d->kpf, d->keys_f, &fin, Nt, (int)N, D, I,
                 h, d->mha_scratch, nthreads);
    vec_add(dq, dq, d->dqb, (long)Nt * D);
    vec_add(d->dtok, d->dtok, d->dqb, (long)Nt * D);
    vec_add(dkeys, dkeys, d->dkp, N * D);

    for (int l = c->dec_depth - 1; l >= 0; l--) {
        ms_dec_layer_cache *L = &d->L[l];
        const ms_twoway_layer_w *lw = &w->layers[l];
        ms_twoway_layer_w *lg = &g->layers[l];
        mha_weights sa = dect_mha(&lw->self_attn), t2i = dect_mha(&lw->cross_t2i), i2t = dect_mha(&lw->cross_i2t);
        mha_grads gsa = dect_mha_grads(&lg->self_attn), gt2i = dect_mha_grads(&lg->cross_t2i),
                  gi2t = dect_mha_grads(&lg->cross_i2t);
        // norm4 and image -> token attention: keys_pre = keys_in + i2t(kp, qp3, q3)
        float *dkin = d->dkeys2;  // (N, D) gradient of keys_in
        dect_ln_back(dkin, lg->norm4_w, lg->norm4_b, dkeys, L->m4, L->r4, L->keys_pre, lw->norm4_w, N, D, nthreads);
        dect_zero(d->dkp, N * D);
        dect_zero(d->dqb, (long)Nt * D);
        mha_backward(d->dkp, d->dqb, dq, &gi2t, dkin, L->i2t_cache, L->kp, L->qp3, L->q3, &i2t, (int)N, Nt, D, I, h,
                     d->mha_scratch, nthreads);
        vec_add(dq, dq, d->dqb, (long)Nt * D);
        vec_add(d->dtok, d->dtok, d->dqb, (long)Nt * D);
        // norm3 and the MLP: q3_pre = q2 + mlp(q2)
        dect_ln_back(d->dqa, lg->norm3_w, lg->norm3_b, dq, L->m3, L->r3, L->q3_pre, lw->norm3_w, Nt, D, 1);
        dect_zero(d->dhid, (long)Nt * F);
        linear_backward(d->dhid, lg->mlp_lin2_w, lg->mlp_lin2_b, d->dqa, L->hid, F, lw->mlp_lin2_w, Nt, F, D, nthreads);
        dect_zero(d->dhid2, (long)Nt * F);
        relu_backward(d->dhid2, d->dhid, L->hid, (long)Nt * F, 1);
        linear_backward(d->dqa, lg->mlp_lin1_w, lg->mlp_lin1_b, d->dhid2, L->q2, D, lw->mlp_lin1_w, Nt, D, F, nthreads);
        // norm2 and token -> image attention: q2_pre = q1 + t2i(qp1, kp, keys_in)
        dect_ln_back(dq, lg->norm2_w, lg->norm2_b, d->dqa, L->m2, L->r2, L->q2_pre, lw->norm2_w, Nt, D, 1);
        dect_zero(d->dqb, (long)Nt * D);
        memcpy(d->dqa, dq, sizeof(float) * Nt * D);  // dqa: d q1 (residual part)
        mha_backward(d->dqb, d->dkp, dkin, &gt2i, dq, L->t2i_cache, L->qp1, L->kp, L->keys_in, &t2i, Nt, (int)N, D, I,
                     h, d->mha_scratch, nthreads);
        vec_add(d->dqa, d->dqa, d->dqb, (long)Nt * D);
        vec_add(d->dtok, d->dtok, d->dqb, (long)Nt * D);
        vec_add(dkin, dkin, d->dkp, N * D);  // kp = keys_in + pos (pos frozen)
        // norm1 and self attention
        dect_ln_back(d->dqc, lg->norm1_w, lg->norm1_b, d->dqa, L->m1, L->r1, L->q1_pre, lw->norm1_w, Nt, D, 1);
        if (l == 0) {
            dect_zero(dq, (long)Nt * D);
            mha_backward(dq, dq, dq, &gsa, d->dqc, L->sa_cache, L->q_in, L->q_in, L->q_in, &sa, Nt, Nt, D, D, h,
                         d->mha_scratch, nthreads);
        } else {
            memcpy(dq, d->dqc, sizeof(float) * Nt * D);
            dect_zero(d->dqb, (long)Nt * D);
            mha_backward(d->dqb, d->dqb, dq, &gsa, d->dqc, L->sa_cache, L->qp0, L->qp0, L->q_in, &sa, Nt, Nt, D, D, h,
                         d->mha_scratch, nthreads);
            vec_add(dq, dq, d->dqb, (long)Nt * D);
            vec_add(d->dtok, d->dtok, d->dqb, (long)Nt * D);
        }
        memcpy(dkeys, dkin, sizeof(float) * N * D);
    }
    // layer 0's queries are the tokens; keys are src = emb + dense
    vec_add(d->dtok, d->dtok, dq, (long)Nt * D);
    vec_add(g->iou_token, g->iou_token, d->dtok, D);
    vec_add(g->mask_tokens, g->mask_tokens, d->dtok + D, (long)T * D);
    vec_add(demb, demb, dkeys, N * D);
}
