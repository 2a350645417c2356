/* mask_decoder_ref.c — the mask decoder written as literally as the PyTorch
 * code: plain multi-head attention everywhere, channels-first upscaling. Slow
 * and allocating; it exists so the fast path (mask_decoder.c) can be held to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/mask_decoder.h"
#include "ops/conv_transpose.h"
#include "ops/mha.h"
#include "ops/ops.h"

static mha_weights ref_mha_of(const ms_attn_w *a) {
    mha_weights m = {a->q_w, a->q_b, a->k_w, a->k_b, a->v_w, a->v_b, a->out_w, a->out_b};
    return m;
}

static void ref_add(float *dst, const float *a, const float *b, long n) {
    for (long i = 0; i < n; i++) dst[i] = a[i] + b[i];
}

// ref: common.py:LayerNorm2d.forward on channels-first x (C, P), in place
static void ref_layernorm2d(float *x, int C, long P, const float *weight, const float *bias, float eps) {
    for (long p = 0; p < P; p++) {
        double mean = 0.0, var = 0.0;
        for (int k = 0; k < C; k++) mean += x[k * P + p];
        mean /= C;
        for (int k = 0; k < C; k++) var += (x[k * P + p] - mean) * (x[k * P + p] - mean);
        var /= C;
        for (int k = 0; k < C; k++)
            x[k * P + p] = (float)((x[k * P + p] - mean) / sqrt(var + eps)) * weight[k] + bias[k];
    }
}

// ref: mask_decoder.py:MLP.forward
static void ref_mlp(float *out, const float *x, float *const *W, float *const *b, int depth, int in_dim, int hidden,
                    int out_dim) {
    float a[1024], t[1024];
    memcpy(a, x, sizeof(float) * in_dim);
    int dim = in_dim;
    for (int l = 0; l < depth; l++) {
        const int od = l == depth - 1 ? out_dim : hidden;
        linear_forward(t, a, dim, W[l], b[l], 1, dim, od, 1);
        if (l < depth - 1) relu_forward(t, od, 1);
        memcpy(a, t, sizeof(float) * od);
        dim = od;
    }
    memcpy(out, a, sizeof(float) * out_dim);
}

medsam_status ms_mask_decoder_forward_ref(const ms_config *c, const ms_mask_decoder_w *w, const float *image_emb,
                                          const float *image_pe, const float *sparse, int Ns, const float *dense,
                                          int multimask_output, float *masks, float *iou, int nthreads,
                                          ms_trace_fn trace, void *trace_ctx, medsam_error *err) {
    const int D = c->prompt_dim, G = c->grid, T = c->num_mask_tokens, I = D / c->dec_attn_down;
    const int F = c->dec_mlp_dim, h = c->dec_heads, O1 = D / 4, O2 = D / 8, S = 4 * G;
    const long N = (long)G * G, SS = (long)S * S;
    const int Nt = 1 + T + Ns;
    const float eps = c->dec_ln_eps;
    if (Ns < 0 || D > 1024 || c->iou_hidden > 1024 || (multimask_output && T < 2))
        return ms_error(err, MEDSAM_ERR_ARG, "mask decoder (ref): unsupported sizes");
    size_t mha_n = mha_scratch_floats(Nt, (int)N, I, h);
    size_t m2 = mha_scratch_floats((int)N, Nt, I, h), m3 = mha_scratch_floats(Nt, Nt, D, h);
    if (m2 > mha_n) mha_n = m2;
    if (m3 > mha_n) mha_n = m3;
    const size_t total = (size_t)Nt * D * 4 + (size_t)Nt * F + (size_t)N * D * 5 + mha_n + (size_t)O1 * 4 * N +
                         (size_t)O2 * SS + (size_t)T * O2 + (size_t)T * SS + T;
    float *buf = malloc(sizeof(float) * total);
    if (!buf) return ms_error(err, MEDSAM_ERR_NOMEM, "mask decoder (ref): out of memory");
    float *tok = buf, *q = tok + Nt * D, *qp = q + Nt * D, *qo = qp + Nt * D, *hid = qo + Nt * D;  // (Nt, .)
    float *src = hid + (long)Nt * F, *pos = src + N * D, *keys = pos + N * D, *kp = keys + N * D;     // (N, D)
    float *ko = kp + N * D;                                                                           // (N, D)
    float *scr = ko + N * D, *up1 = scr + mha_n, *up2 = up1 + (long)O1 * 4 * N;  // (O1,2G,2G), (O2,4G,4G)
    float *hyper = up2 + (long)O2 * SS, *mall = hyper + T * O2, *iou_all = mall + T * SS;
    char stage[64];

    // ref: mask_decoder.py:MaskDecoder.predict_masks
    memcpy(tok, w->iou_token, sizeof(float) * D);
    memcpy(tok + D, w->mask_tokens, sizeof(float) * T * D);
    if (Ns) memcpy(tok + (1 + T) * D, sparse, sizeof(float) * Ns * D);
    ms_trace(trace, trace_ctx, "dec.tokens", tok, (long)Nt * D);
    for (long n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            src[n * D + d] = image_emb[d * N + n] + dense[d * N + n];
            pos[n * D + d] = image_pe[d * N + n];
        }
    // ref: transformer.py:TwoWayTransformer.forward
    memcpy(q, tok, sizeof(float) * Nt * D);
    memcpy(keys, src, sizeof(float) * N * D);
    for (int l = 0; l < c->dec_depth; l++) {
        const ms_twoway_layer_w *L = &w->layers[l];
        mha_weights sa = ref_mha_of(&L->self_attn), t2i = ref_mha_of(&L->cross_t2i), i2t = ref_mha_of(&L->cross_i2t);
        // ref: transformer.py:TwoWayAttentionBlock.forward
        if (l == 0) {
            mha_forward(qo, q, q, q, &sa, Nt, Nt, D, D, h, scr, nthreads);
            memcpy(q, qo, sizeof(float) * Nt * D);
        } else {
            ref_add(qp, q, tok, (long)Nt * D);
            mha_forward(qo, qp, qp, q, &sa, Nt, Nt, D, D, h, scr, nthreads);
            ref_add(q, q, qo, (long)Nt * D);
        }
        layernorm_forward(q, q, L->norm1_w, L->norm1_b, Nt, D, eps, 1);
        ref_add(qp, q, tok, (long)Nt * D);
        ref_add(kp, keys, pos, N * D);
        mha_forward(qo, qp, kp, keys, &t2i, Nt, (int)N, D, I, h, scr, nthreads);
        ref_add(q, q, qo, (long)Nt * D);
        layernorm_forward(q, q, L->norm2_w, L->norm2_b, Nt, D, eps, 1);
        linear_forward(hid, q, D, L->mlp_lin1_w, L->mlp_lin1_b, Nt, D, F, 1);
        relu_forward(hid, (long)Nt * F, 1);
        linear_forward(qo, hid, F, L->mlp_lin2_w, L->mlp_lin2_b, Nt, F, D, 1);
        ref_add(q, q, qo, (long)Nt * D);
        layernorm_forward(q, q, L->norm3_w, L->norm3_b, Nt, D, eps, 1);
        ref_add(qp, q, tok, (long)Nt * D);
        ref_add(kp, keys, pos, N * D);
        mha_forward(ko, kp, qp, q, &i2t, (int)N, Nt, D, I, h, scr, nthreads);
        ref_add(keys, keys, ko, N * D);
        layernorm_forward(keys, keys, L->norm4_w, L->norm4_b, N, D, eps, nthreads);
        snprintf(stage, sizeof stage, "dec.layer%d.queries", l);
        ms_trace(trace, trace_ctx, stage, q, (long)Nt * D);
        snprintf(stage, sizeof stage, "dec.layer%d.keys", l);
        ms_trace(trace, trace_ctx, stage, keys, N * D);
    }
    mha_weights fin = ref_mha_of(&w->final_attn);
    ref_add(qp, q, tok, (long)Nt * D);
    ref_add(kp, keys, pos, N * D);
    mha_forward(qo, qp, kp, keys, &fin, Nt, (int)N, D, I, h, scr, nthreads);
    ref_add(q, q, qo, (long)Nt * D);
    layernorm_forward(q, q, w->norm_final_w, w->norm_final_b, Nt, D, eps, 1);
    ms_trace(trace, trace_ctx, "dec.final_queries", q, (long)Nt * D);

    // ref: src.transpose(1, 2).view(b, c, h, w); output_upscaling
    for (long n = 0; n < N; n++)
        for (int d = 0; d < D; d++) kp[d * N + n] = keys[n * D + d];  // (D, G, G)
    conv_transpose2x2_forward(up1, kp, w->up_conv1_w, w->up_conv1_b, D, O1, G, G, nthreads);
    ref_layernorm2d(up1, O1, 4 * N, w->up_ln_w, w->up_ln_b, c->ln2d_eps);
    gelu_forward(up1, (long)O1 * 4 * N, 1);
    conv_transpose2x2_forward(up2, up1, w->up_conv2_w, w->up_conv2_b, O1, O2, 2 * G, 2 * G, nthreads);
    gelu_forward(up2, (long)O2 * SS, 1);
    ms_trace(trace, trace_ctx, "dec.upscaled", up2, (long)O2 * SS);
    for (int t = 0; t < T; t++) ref_mlp(hyper + t * O2, q + (1 + t) * D, w->hyper_w[t], w->hyper_b[t], 3, D, D, O2);
    ms_trace(trace, trace_ctx, "dec.hyper_in", hyper, (long)T * O2);
    for (int t = 0; t < T; t++)
        for (long p = 0; p < SS; p++) {
            float acc = 0.0f;
            for (int o = 0; o < O2; o++) acc += hyper[t * O2 + o] * up2[o * SS + p];
            mall[t * SS + p] = acc;
        }
    ref_mlp(iou_all, q, w->iou_w, w->iou_b, c->iou_head_depth, D, c->iou_hidden, T);
    ms_trace(trace, trace_ctx, "dec.iou_all", iou_all, T);
    // ref: mask_decoder.py:MaskDecoder.forward (mask_slice)
    const int first = multimask_output ? 1 : 0, nm = multimask_output ? T - 1 : 1;
    memcpy(masks, mall + first * SS, sizeof(float) * nm * SS);
    memcpy(iou, iou_all + first, sizeof(float) * nm);
    free(buf);
    return MEDSAM_OK;
}
