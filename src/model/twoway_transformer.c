/* twoway_transformer.c — TwoWayTransformer forward, token-major, with the
 * token<->image attentions re-associated (see mask_decoder.h). */
#include "model/twoway_transformer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/gemm.h"
#include "ops/mha.h"
#include "ops/ops.h"
#include "ops/vecmath.h"

size_t ms_twoway_ws_floats(const ms_config *c, int Nt) {
    const size_t D = c->prompt_dim, I = D / c->dec_attn_down, F = c->dec_mlp_dim, h = c->dec_heads;
    const size_t N = (size_t)c->grid * c->grid, wide = F > D ? F : D;
    return 3 * Nt * D + Nt * wide + mha_scratch_floats(Nt, Nt, (int)D, (int)h) + 3 * Nt * I + 2 * h * Nt * D +
           h * Nt + h * Nt * N + 2 * N * D;
}

float *ms_twoway_ws_carve(ms_twoway_ws *ws, const ms_config *c, int Nt, float *p) {
    const size_t D = c->prompt_dim, I = D / c->dec_attn_down, F = c->dec_mlp_dim, h = c->dec_heads;
    const size_t N = (size_t)c->grid * c->grid, wide = F > D ? F : D;
    ws->tok0 = p, p += Nt * D;
    ws->q = p, p += Nt * D;
    ws->qpe = p, p += Nt * D;
    ws->tmp = p, p += Nt * wide;
    ws->mha = p, p += mha_scratch_floats(Nt, Nt, (int)D, (int)h);
    ws->Qt = p, p += Nt * I;
    ws->Vt = p, p += Nt * I;
    ws->Ot = p, p += Nt * I;
    ws->Xa = p, p += h * Nt * D;
    ws->Xb = p, p += h * Nt * D;
    ws->cvec = p, p += h * Nt;
    ws->S = p, p += h * Nt * N;
    ws->keys = p, p += N * D;
    ws->kpe = p, p += N * D;
    return p;
}

static mha_weights mha_of(const ms_attn_w *a) {
    mha_weights m = {a->q_w, a->q_b, a->k_w, a->k_b, a->v_w, a->v_b, a->out_w, a->out_b};
    return m;
}

/* out (rows, o) = x W^T + b, a Linear on the prompt tokens; pW: W packed (NULL: W read as it is,
 * see gemm.c's small-M route, on up to nthreads threads when the product is large enough). */
static void linear_tok(float *out, const float *x, int ldx, const float *W, const float *b, int rows, int in, int o,
                       const gemm_packed_b *pW, int nthreads) {
    if (pW)
        gemm_f32_packed(0, rows, 1.0f, x, ldx, pW, 0.0f, out, o, b, 1);
    else
        linear_forward(out, x, ldx, W, b, rows, in, o, nthreads);
}

/* Token -> image attention, written to out (Nt, D).
 * xq: (Nt, D) queries + query_pe; xk: (N, D) keys + key_pe; xv: (N, D) keys.
 * k_pre, v_pre: (N, I) precomputed k_proj(xk), v_proj(xv), or NULL.
 * ref: transformer.py:Attention.forward (q = tokens, k = v = image) */
static void attn_token_to_image(float *out, const float *xq, const float *xk, const float *xv, const float *k_pre,
                                const float *v_pre, const ms_attn_w *a, const gemm_packed_b *pq,
                                const gemm_packed_b *pout, const ms_config *c, int Nt, ms_twoway_ws *ws,
                                int nthreads) {
    const int D = c->prompt_dim, I = D / c->dec_attn_down, heads = c->dec_heads, hd = I / heads;
    const int N = c->grid * c->grid, hN = heads * Nt;
    const float scale = (float)(1.0 / sqrt((double)hd));
    float *S = ws->S;  // (N, heads*Nt), image-major: column h*Nt + t is head h, token t
    linear_tok(ws->Qt, xq, D, a->q_w, a->q_b, Nt, D, I, pq, nthreads);  // (Nt, I)
    if (k_pre) {
        // scores_h = q_h k_h^T / sqrt(hd) with the prompt-independent k
        for (int h = 0; h < heads; h++)
            gemm_f32(0, 1, N, Nt, hd, scale, k_pre + h * hd, I, ws->Qt + h * hd, I, 0.0f, S + h * Nt, hN, nthreads);
    } else {
        // Xa_h (Nt, D) = q_h Wk_h / sqrt(hd);  scores^T = xk Xa^T  (q_h . bk_h is softmax-invariant)
        for (int h = 0; h < heads; h++)
            gemm_f32(0, 0, Nt, D, hd, scale, ws->Qt + h * hd, I, a->k_w + (long)h * hd * D, D, 0.0f,
                     ws->Xa + (long)h * Nt * D, D, 1);
        gemm_f32(0, 1, N, hN, D, 1.0f, xk, D, ws->Xa, D, 0.0f, S, hN, nthreads);
    }
    // ref: torch.softmax(attn, dim=-1): over the N image tokens, i.e. down S's columns
    const int ngroups = (hN + 7) / 8;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int g = 0; g < ngroups; g++) vec_softmax_cols_forward(S, N, hN, g * 8, g * 8 + 8 < hN ? g * 8 + 8 : hN);
    if (v_pre) {
        for (int h = 0; h < heads; h++)
            gemm_f32(1, 0, Nt, hd, N, 1.0f, S + h * Nt, hN, v_pre + h * hd, I, 0.0f, ws->Ot + h * hd, I, nthreads);
    } else {
        // Xb (heads*Nt, D) = P xv;  o_h = Xb_h Wv_h^T + bv_h  (softmax rows sum to 1)
        // threads take column blocks of Xb, so each packs only its part of xv (a split
        // along the hN rows would have every thread pack all of xv); same bits
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
        for (int t = 0; t < nthreads; t++) {
            const int c0 = (int)((long)D * t / nthreads) & ~15;
            const int c1 = t == nthreads - 1 ? D : (int)((long)D * (t + 1) / nthreads) & ~15;
            if (c1 > c0) gemm_f32(1, 0, hN, c1 - c0, N, 1.0f, S, hN, xv + c0, D, 0.0f, ws->Xb + c0, D, 1);
        }
        for (int h = 0; h < heads; h++)
            gemm_f32_bias(0, 1, Nt, hd, D, 1.0f, ws->Xb + (long)h * Nt * D, D, a->v_w + (long)h * hd * D, D, 0.0f,
                          ws->Ot + h * hd, I, a->v_b + h * hd, 1);
    }
    // ref: _recombine_heads + out_proj
    linear_tok(out, ws->Ot, I, a->out_w, a->out_b, Nt, I, D, pout, nthreads);
}

/* Image -> token attention without out_proj's bias: acc (N, D) = P Xb, to be
 * added to the keys with the bias by finish_keys.
 * xq: (N, D) keys + key_pe; q_pre: (N, I) precomputed q_proj(xq) or NULL;
 * xk: (Nt, D) queries + query_pe; xv: (Nt, D) queries.
 * ref: transformer.py:Attention.forward (q = image, k = v = tokens) */
static void attn_image_to_token(float *acc, const float *xq, const float *q_pre, const float *xk,
                                const float *xv, const ms_attn_w *a, const gemm_packed_b *pk,
                                const gemm_packed_b *pv, const ms_config *c, int Nt, ms_twoway_ws *ws,
                                int nthreads) {
    const int D = c->prompt_dim, I = D / c->dec_attn_down, heads = c->dec_heads, hd = I / heads;
    const int N = c->grid * c->grid, hN = heads * Nt;
    const float scale = (float)(1.0 / sqrt((double)hd));
    float *S = ws->S;  // (N, heads*Nt): column h*Nt + t is head h, token t
    float *K = ws->Qt; // (Nt, I)
    linear_tok(K, xk, D, a->k_w, a->k_b, Nt, D, I, pk, nthreads);
    linear_tok(ws->Vt, xv, D, a->v_w, a->v_b, Nt, D, I, pv, nthreads);
    if (q_pre) {
        for (int h = 0; h < heads; h++)
            gemm_f32(0, 1, N, Nt, hd, scale, q_pre + h * hd, I, K + h * hd, I, 0.0f, S + h * Nt, hN, nthreads);
    } else {
        // Xa_h (Nt, D) = k_h Wq_h / sqrt(hd);  cvec_h = k_h bq_h / sqrt(hd);  scores = xq Xa^T + cvec
        for (int h = 0; h < heads; h++) {
            gemm_f32(0, 0, Nt, D, hd, scale, K + h * hd, I, a->q_w + (long)h * hd * D, D, 0.0f,
                     ws->Xa + (long)h * Nt * D, D, 1);
            for (int t = 0; t < Nt; t++) {
                float acc = 0.0f;
                for (int j = 0; j < hd; j++) acc += K[t * I + h * hd + j] * a->q_b[h * hd + j];
                ws->cvec[h * Nt + t] = acc * scale;
            }
        }
        gemm_f32_bias(0, 1, N, hN, D, 1.0f, xq, D, ws->Xa, D, 0.0f, S, hN, ws->cvec, nthreads);
    }
    // ref: torch.softmax(attn, dim=-1): per image token and head, over the Nt tokens
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int n = 0; n < N; n += 16)
        vec_softmax_rows_forward(S + (long)n * hN, (long)heads * (N - n < 16 ? N - n : 16), Nt);
    // Xb_h (Nt, D) = v_h Wout[:, h]^T;  acc = P Xb (keys + bout added by finish_keys)
    for (int h = 0; h < heads; h++)
        gemm_f32(0, 1, Nt, D, hd, 1.0f, ws->Vt + h * hd, I, a->out_w + h * hd, I, 0.0f, ws->Xb + (long)h * Nt * D,
                 D, 1);
    gemm_f32(0, 0, N, D, hN, 1.0f, S, hN, ws->Xb, D, 0.0f, acc, D, nthreads);
}

/* out (R, D) = acc + (in + bout[d]), two rounded adds per element in that
 * order; out may alias in or acc. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2"))) static int residual_bias_add_avx2(float *out, const float *acc, const float *in,
                                                                  const float *bout, long R, int D) {
    if (D % 8) return 0;
    for (long r = 0; r < R; r++)
        for (int d = 0; d < D; d += 8) {
            const __m256 t = _mm256_add_ps(_mm256_loadu_ps(in + r * D + d), _mm256_loadu_ps(bout + d));
            _mm256_storeu_ps(out + r * D + d, _mm256_add_ps(_mm256_loadu_ps(acc + r * D + d), t));
        }
    return 1;
}
#else
#define residual_bias_add_avx2(out, acc, in, bout, R, D) 0
#endif

static void residual_bias_add(float *out, const float *acc, const float *in, const float *bout, long R, int D,
                              int avx2) {
    if (avx2 && residual_bias_add_avx2(out, acc, in, bout, R, D)) return;
    for (long r = 0; r < R; r++)
        for (int d = 0; d < D; d++) out[r * D + d] = acc[r * D + d] + (in[r * D + d] + bout[d]);
}

/* keys = LayerNorm(acc + (keys_in + bout)) and, when kpe is not NULL, kpe =
 * keys + pos, row block by row block while the rows are in cache. The sum
 * rounds exactly as gemm_f32_bias(..., beta = 1, C = keys_in, bias = bout)
 * would (acc + (C + bias)). acc may be kpe (each block is read before it is
 * overwritten); keys_in may be keys. keys, acc, keys_in, kpe, pos: (N, D). */
static void finish_keys(float *keys, const float *acc, const float *keys_in, const float *bout, const float *norm_w,
                        const float *norm_b, float *kpe, const float *pos, long N, int D, float eps, int nthreads) {
    const long chunk = 32;
    const int avx2 = vec_has_avx2();
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (long r0 = 0; r0 < N; r0 += chunk) {
        const long r1 = N - r0 < chunk ? N : r0 + chunk;
        residual_bias_add(keys + r0 * D, acc + r0 * D, keys_in + r0 * D, bout, r1 - r0, D, avx2);
        vec_layernorm_forward(keys + r0 * D, keys + r0 * D, norm_w, norm_b, r1 - r0, D, eps);
        if (kpe) vec_add(kpe + r0 * D, keys + r0 * D, pos + r0 * D, (r1 - r0) * D);
    }
}

// ref: transformer.py:TwoWayTransformer.forward and TwoWayAttentionBlock.forward
void ms_twoway_forward(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_image *img, int Nt,
                       ms_twoway_ws *ws, int nthreads, ms_trace_fn trace, void *trace_ctx) {
    const int D = c->prompt_dim, F = c->dec_mlp_dim, heads = c->dec_heads;
    const long N = (long)c->grid * c->grid;
    const float eps = c->dec_ln_eps;
    float *q = ws->q, *qpe = ws->qpe, *tmp = ws->tmp, *keys = ws->keys, *kpe = ws->kpe;
    const float *tok0 = ws->tok0;
    char stage[64];

    memcpy(q, tok0, sizeof(float) * Nt * D);
    // keys (N, D) are the image tokens: img->src until layer 0's image->token attention
    // writes the keys buffer; kpe (N, D) = keys + key_pe, from finish_keys after layer 0
    if (c->dec_depth == 0) memcpy(keys, img->src, sizeof(float) * N * D);
    for (int l = 0; l < c->dec_depth; l++) {
        const ms_twoway_layer_w *L = &w->layers[l];
        const int pre = l == 0 && img->precomputed;
        const float *keys_in = l == 0 ? img->src : keys;  // (N, D)
        const ms_dec_layer_packed *P = &img->packed.layers[l];  // NULLs unless precomputed
        mha_weights sa = mha_of(&L->self_attn);
        // Self attention block (skip_first_layer_pe on layer 0: no PE, no residual)
        if (l == 0) {
            mha_forward(tmp, q, q, q, &sa, Nt, Nt, D, D, heads, ws->mha, 1);
            memcpy(q, tmp, sizeof(float) * Nt * D);
        } else {
            vec_add_threads(qpe, q, tok0, (long)Nt * D, 1);
            mha_forward(tmp, qpe, qpe, q, &sa, Nt, Nt, D, D, heads, ws->mha, 1);
            vec_add_threads(q, q, tmp, (long)Nt * D, 1);
        }
        layernorm_forward(q, q, L->norm1_w, L->norm1_b, Nt, D, eps, 1);

        // Cross attention block, tokens attending to image embedding
        vec_add_threads(qpe, q, tok0, (long)Nt * D, 1);
        // layer 0: kpe = src + pos unless its projections are precomputed; later layers: set by finish_keys
        if (l == 0 && !pre) vec_add_threads(kpe, img->src, img->pos, N * D, nthreads);
        attn_token_to_image(tmp, qpe, kpe, keys_in, pre ? img->k0 : NULL, pre ? img->v0 : NULL, &L->cross_t2i,
                            P->t2i_q, P->t2i_out, c, Nt, ws, nthreads);
        vec_add_threads(q, q, tmp, (long)Nt * D, 1);
        layernorm_forward(q, q, L->norm2_w, L->norm2_b, Nt, D, eps, 1);

        // MLP block (ReLU)
        linear_tok(tmp, q, D, L->mlp_lin1_w, L->mlp_lin1_b, Nt, D, F, P->lin1, nthreads);
        relu_forward(tmp, (long)Nt * F, 1);
        if (P->lin2)
            gemm_f32_packed(0, Nt, 1.0f, tmp, F, P->lin2, 1.0f, q, D, L->mlp_lin2_b, 1);
        else
            gemm_f32_bias(0, 1, Nt, D, F, 1.0f, tmp, F, L->mlp_lin2_w, F, 1.0f, q, D, L->mlp_lin2_b, nthreads);
        layernorm_forward(q, q, L->norm3_w, L->norm3_b, Nt, D, eps, 1);

        // Cross attention block, image embedding attending to tokens (kpe is still keys + key_pe);
        // its product goes to kpe's buffer (kpe is not read after the scores), then
        // keys = norm4(keys + attn) and the next kpe, in one pass
        vec_add_threads(qpe, q, tok0, (long)Nt * D, 1);
        attn_image_to_token(kpe, kpe, pre ? img->q0 : NULL, qpe, q, &L->cross_i2t, P->i2t_k, P->i2t_v, c, Nt, ws,
                            nthreads);
        finish_keys(keys, kpe, keys_in, L->cross_i2t.out_b, L->norm4_w, L->norm4_b, kpe, img->pos, N, D, eps,
                    nthreads);

        snprintf(stage, sizeof stage, "dec.layer%d.queries", l);
        ms_trace(trace, trace_ctx, stage, q, (long)Nt * D);
        snprintf(stage, sizeof stage, "dec.layer%d.keys", l);
        ms_trace(trace, trace_ctx, stage, keys, N * D);
    }
    // Final attention layer from the points to the image
    vec_add_threads(qpe, q, tok0, (long)Nt * D, 1);
    if (c->dec_depth == 0) vec_add_threads(kpe, keys, img->pos, N * D, nthreads);  // else set by finish_keys
    attn_token_to_image(tmp, qpe, kpe, keys, NULL, NULL, &w->final_attn, img->packed.final_q, img->packed.final_out, c,
                        Nt, ws, nthreads);
    vec_add_threads(q, q, tmp, (long)Nt * D, 1);
    layernorm_forward(q, q, w->norm_final_w, w->norm_final_b, Nt, D, eps, 1);
    ms_trace(trace, trace_ctx, "dec.final_queries", q, (long)Nt * D);
}
