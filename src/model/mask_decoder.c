/* mask_decoder.c — MaskDecoder forward: per-image preparation, the prompt
 * tokens, the two-way transformer (twoway_transformer.c), the tiled
 * upscaling + hypernetwork masks, and the IoU head. See mask_decoder.h. */
#include "model/mask_decoder.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/twoway_transformer.h"
#include "ops/conv_transpose.h"
#include "ops/gemm.h"
#include "ops/ops.h"
#include "ops/vecmath.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- per-image preparation ---- */

/* One Linear weight W (out, in) as the gemm B op(B) = W^T (in, out), packed at
 * *p (64-byte aligned) when p is not NULL; returns the floats it takes. */
static size_t pack_linear(float **p, const gemm_packed_b **dst, const float *W, int in, int out, int nthreads) {
    const size_t bytes = gemm_pack_b_into_bytes(in, out), floats = (bytes + 63) / 64 * 16;
    if (p) {
        *dst = gemm_pack_b_into(*p, bytes, 1, in, out, W, in, nthreads);
        *p += floats;
    }
    return floats;
}

/* Packs every token-side weight listed in ms_dec_packed at base (64-byte
 * aligned), or with base NULL only counts; returns the floats used. */
static size_t pack_decoder_weights(const ms_config *c, const ms_mask_decoder_w *w, float *base, ms_dec_packed *pk,
                                   int nthreads) {
    const int D = c->prompt_dim, I = D / c->dec_attn_down, F = c->dec_mlp_dim, T = c->num_mask_tokens;
    const int H = c->iou_hidden, O2 = D / 8, depth = c->iou_head_depth;
    float *cur = base, **p = base ? &cur : NULL;
    size_t n = 0;
    ms_dec_packed dummy;
    if (!pk) pk = &dummy;
    memset(pk, 0, sizeof *pk);
#define PK_W(expr) (w ? (expr) : NULL) /* counting (w NULL) reads no weight */
    for (int l = 0; l < c->dec_depth; l++) {
        ms_dec_layer_packed *q = &pk->layers[l];
        n += pack_linear(p, &q->t2i_q, PK_W(w->layers[l].cross_t2i.q_w), D, I, nthreads);
        n += pack_linear(p, &q->t2i_out, PK_W(w->layers[l].cross_t2i.out_w), I, D, nthreads);
        n += pack_linear(p, &q->i2t_k, PK_W(w->layers[l].cross_i2t.k_w), D, I, nthreads);
        n += pack_linear(p, &q->i2t_v, PK_W(w->layers[l].cross_i2t.v_w), D, I, nthreads);
        n += pack_linear(p, &q->lin1, PK_W(w->layers[l].mlp_lin1_w), D, F, nthreads);
        n += pack_linear(p, &q->lin2, PK_W(w->layers[l].mlp_lin2_w), F, D, nthreads);
    }
    n += pack_linear(p, &pk->final_q, PK_W(w->final_attn.q_w), D, I, nthreads);
    n += pack_linear(p, &pk->final_out, PK_W(w->final_attn.out_w), I, D, nthreads);
    for (int t = 0; t < T; t++)
        for (int l = 0; l < 3; l++)
            n += pack_linear(p, &pk->hyper[t][l], PK_W(w->hyper_w[t][l]), D, l == 2 ? O2 : D, nthreads);
    for (int l = 0; l < depth; l++)
        n += pack_linear(p, &pk->iou[l], PK_W(w->iou_w[l]), l == 0 ? D : H, l == depth - 1 ? T : H, nthreads);
#undef PK_W
    return n;
}

size_t ms_mask_decoder_image_floats(const ms_config *c, int precompute) {
    return ms_mask_decoder_static_floats(c) + ms_mask_decoder_image_floats_shared(c, precompute);
}

size_t ms_mask_decoder_static_floats(const ms_config *c) {
    const size_t N = (size_t)c->grid * c->grid, D = c->prompt_dim;
    return N * D + 16 + pack_decoder_weights(c, NULL, NULL, NULL, 1);
}

size_t ms_mask_decoder_image_floats_shared(const ms_config *c, int precompute) {
    const size_t N = (size_t)c->grid * c->grid, D = c->prompt_dim, I = D / c->dec_attn_down;
    return N * D + (precompute ? 3 * N * I + N * D : 0);
}

/* dst (N, D) = (a + b)^T for a, b (D, N); b may be NULL. */
static void to_token_major(float *dst, const float *a, const float *b, int D, long N, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int t = 0; t < nthreads; t++) {
        const long n0 = (N * t / nthreads) & ~7L, n1 = t == nthreads - 1 ? N : (N * (t + 1) / nthreads) & ~7L;
        vec_transpose_add(dst, a, b, D, N, n0, n1);
    }
}

void ms_mask_decoder_prepare_static(const ms_config *c, const ms_mask_decoder_w *w, const float *image_pe,
                                    float *buf, ms_dec_static *st, int nthreads) {
    const int D = c->prompt_dim;
    const long N = (long)c->grid * c->grid;
    float *pos = buf; // (N, D)
    // ref: transformer.py:TwoWayTransformer.forward (image_pe.flatten(2).permute(0, 2, 1))
    to_token_major(pos, image_pe, NULL, D, N, nthreads);
    memset(st, 0, sizeof *st);
    st->pos = pos;
    // token-side weights, 64-byte aligned after pos (16 floats of slack reserved), packed on nthreads threads
    float *wbase = (float *)(((uintptr_t)(pos + N * D) + 63) & ~(uintptr_t)63);
    pack_decoder_weights(c, w, wbase, &st->packed, nthreads);
}

void ms_mask_decoder_prepare_shared(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_static *st,
                                    const float *image_emb, const float *dense, int precompute, float *buf,
                                    ms_dec_image *img, int nthreads) {
    const int D = c->prompt_dim, I = D / c->dec_attn_down;
    const long N = (long)c->grid * c->grid;
    float *src = buf; // (N, D)
    // ref: mask_decoder.py:MaskDecoder.predict_masks (src = image_embeddings + dense_prompt_embeddings),
    //      transformer.py:TwoWayTransformer.forward (flatten(2).permute(0, 2, 1))
    to_token_major(src, image_emb, dense, D, N, nthreads);
    memset(img, 0, sizeof *img);
    img->src = src;
    img->pos = st->pos;
    img->packed = st->packed;
    if (precompute && c->dec_depth > 0) {
        const float *pos = st->pos;
        float *k0 = src + N * D;                   // (N, I)
        float *v0 = k0 + N * I, *q0 = v0 + N * I;  // (N, I) each
        float *srcpos = q0 + N * I;                // (N, D)
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
        for (long r = 0; r < N; r++) vec_add(srcpos + r * D, src + r * D, pos + r * D, D);
        const ms_twoway_layer_w *L = &w->layers[0];
        linear_forward(k0, srcpos, D, L->cross_t2i.k_w, L->cross_t2i.k_b, N, D, I, nthreads);
        linear_forward(v0, src, D, L->cross_t2i.v_w, L->cross_t2i.v_b, N, D, I, nthreads);
        linear_forward(q0, srcpos, D, L->cross_i2t.q_w, L->cross_i2t.q_b, N, D, I, nthreads);
        img->k0 = k0, img->v0 = v0, img->q0 = q0;
        img->precomputed = 1;
    }
}

void ms_mask_decoder_prepare(const ms_config *c, const ms_mask_decoder_w *w, const float *image_emb,
                             const float *image_pe, const float *dense, int precompute, float *buf,
                             ms_dec_image *img, int nthreads) {
    // the per-model part first (pos, then the packed weights 64-byte aligned in its slack), then the image's
    ms_dec_static st;
    const size_t nst = ms_mask_decoder_static_floats(c);
    ms_mask_decoder_prepare_static(c, w, image_pe, buf, &st, nthreads);
    ms_mask_decoder_prepare_shared(c, w, &st, image_emb, dense, precompute, buf + nst, img, nthreads);
}

size_t ms_mask_decoder_image_floats_unpacked(const ms_config *c, int precompute) {
    return (size_t)c->grid * c->grid * c->prompt_dim + ms_mask_decoder_image_floats_shared(c, precompute);
}

void ms_mask_decoder_prepare_unpacked(const ms_config *c, const ms_mask_decoder_w *w, const float *image_emb,
                                      const float *image_pe, const float *dense, int precompute, float *buf,
                                      ms_dec_image *img, int nthreads) {
    const int D = c->prompt_dim;
    const long N = (long)c->grid * c->grid;
    ms_dec_static st;
    memset(&st, 0, sizeof st);  // no packed weights: every token-side product packs its own panels
    to_token_major(buf, image_pe, NULL, D, N, nthreads);
    st.pos = buf;
    ms_mask_decoder_prepare_shared(c, w, &st, image_emb, dense, precompute, buf + N * D, img, nthreads);
}

/* ---- workspace ---- */

/* Upscaling works on one row of G image tokens at a time, per thread. */
static size_t tile_floats(const ms_config *c) {
    const size_t G = c->grid, O1 = c->prompt_dim / 4, O2 = c->prompt_dim / 8, T = c->num_mask_tokens;
    return G * 4 * O1 + G * 16 * O2 + T * 16 * G;
}

static size_t head_floats(const ms_config *c) {
    const size_t D = c->prompt_dim, H = c->iou_hidden, T = c->num_mask_tokens, O2 = D / 8;
    const size_t wide = D > H ? D : H;
    return 2 * wide + T * O2 + T + T * O2;  // hidden x2, hyper_in (T, O2), iou_all (T), selected hyper rows
}

static size_t upscale_weight_floats(const ms_config *c) {
    const size_t D = c->prompt_dim, O1 = D / 4, O2 = D / 8;
    return D * 4 * O1 + 4 * O1 + O1 * 4 * O2 + 4 * O2;
}

size_t ms_mask_decoder_run_workspace_floats(const ms_config *c, int max_sparse, int nthreads) {
    const int Nt = 1 + c->num_mask_tokens + (max_sparse > 0 ? max_sparse : 0);
    if (nthreads < 1) nthreads = 1;
    return ms_twoway_ws_floats(c, Nt) + head_floats(c) + upscale_weight_floats(c) + (size_t)nthreads * tile_floats(c);
}

size_t ms_mask_decoder_workspace_floats(const ms_config *c, int max_sparse, int nthreads) {
    return ms_mask_decoder_image_floats(c, 0) + ms_mask_decoder_run_workspace_floats(c, max_sparse, nthreads);
}

size_t ms_mask_decoder_batch_workspace_floats(const ms_config *c, int Ns, int B, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    const size_t all = ms_mask_decoder_run_workspace_floats(c, Ns, nthreads);
    if (B <= 1) return all;  // one prompt set: one run on all the threads (ms_mask_decoder_run_batch)
    const size_t one = ms_mask_decoder_run_workspace_floats(c, Ns, 1);
    const size_t nt = (size_t)(B < nthreads ? B : nthreads);  // else one run per thread
    return one * nt > all ? one * nt : all;
}

/* ---- heads ---- */

// ref: mask_decoder.py:MLP.forward (ReLU between layers, none after the last)
static void mlp_forward(float *out, const float *x, float *const *W, float *const *b,
                        const gemm_packed_b *const *pW,  // (depth) packed W[l] or NULL
                        int depth, int in_dim, int hidden, int out_dim, float *h0, float *h1) {
    const float *cur = x;
    int cur_dim = in_dim;
    for (int l = 0; l < depth; l++) {
        const int od = l == depth - 1 ? out_dim : hidden;
        float *dst = l == depth - 1 ? out : (l % 2 == 0 ? h0 : h1);
        if (pW[l])
            gemm_f32_packed(0, 1, 1.0f, cur, cur_dim, pW[l], 0.0f, dst, od, b[l], 1);
        else
            linear_forward(dst, cur, cur_dim, W[l], b[l], 1, cur_dim, od, 1);
        if (l < depth - 1) relu_forward(dst, od, 1);
        cur = dst, cur_dim = od;
    }
}

/* ---- upscaling + masks, one row of image tokens at a time ---- */

typedef struct {
    const float *W1, *b1;  // (D, 4*O1), (4*O1) packed output_upscaling.0
    const float *W2, *b2;  // (O1, 4*O2), (4*O2) packed output_upscaling.3
    gemm_packed_b *pW1;    // pre-packed W1 or NULL (then W1 is packed per call)
} upscale_weights;

/* Fills uw with the upscaling weights in gemm layout, in buf
 * (upscale_weight_floats), and pre-packs W1; upscale_weights_free releases. */
static void upscale_weights_make(upscale_weights *uw, const ms_config *c, const ms_mask_decoder_w *w, float *buf) {
    const int D = c->prompt_dim, O1 = D / 4, O2 = D / 8;
    float *W1 = buf;                     // (D, 4*O1)
    float *b1 = W1 + (long)D * 4 * O1;   // (4*O1)
    float *W2 = b1 + 4 * O1;             // (O1, 4*O2)
    float *b2 = W2 + (long)O1 * 4 * O2;  // (4*O2)
    conv_transpose2x2_pack(W1, b1, w->up_conv1_w, w->up_conv1_b, D, O1);
    conv_transpose2x2_pack(W2, b2, w->up_conv2_w, w->up_conv2_b, O1, O2);
    uw->W1 = W1, uw->b1 = b1, uw->W2 = W2, uw->b2 = b2;
    uw->pW1 = gemm_pack_b(0, D, 4 * O1, W1, 4 * O1);
}

static void upscale_weights_free(upscale_weights *uw) { gemm_packed_b_free(uw->pW1); }

/* out (n) = Zt^T h: out[p] = sum over o of Zt[o][p] * h[o], o in order with one
 * fused multiply-add each, as the gemm micro-kernels accumulate a dot product
 * (bit-identical to gemm_f32(0, 1, 1, n, O2, 1, h, O2, Zt^T, ...) on the FMA paths).
 * Zt: (O2, ld) with the n values of a row contiguous. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static int hyper_dot_avx2(const float *Zt, long ld, const float *h, int O2, int n,
                                                             float *out) {
    int p = 0;
    for (; p + 16 <= n; p += 16) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (int o = 0; o < O2; o++) {
            const __m256 hb = _mm256_set1_ps(h[o]);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(Zt + o * ld + p), hb, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(Zt + o * ld + p + 8), hb, a1);
        }
        _mm256_storeu_ps(out + p, a0);
        _mm256_storeu_ps(out + p + 8, a1);
    }
    return p;
}
#define HYPER_DOT_AVX2 1
#endif

static void hyper_dot(const float *Zt, long ld, const float *h, int O2, int n, float *out) {
    int p = 0;
#ifdef HYPER_DOT_AVX2
    if (vec_has_avx2()) p = hyper_dot_avx2(Zt, ld, h, O2, n, out);
#endif
    for (; p < n; p++) {
        float acc = 0.0f;
        for (int o = 0; o < O2; o++) acc = fmaf(Zt[o * ld + p], h[o], acc);
        out[p] = acc;
    }
}

/* Row i of the G x G token grid -> rows 4i..4i+3 of the (4G, 4G) outputs.
 * keys_row: (G, D); hyper: (nm, O2); masks: (nm, 4G, 4G); up: (O2, 4G, 4G) or NULL. */
static void upscale_row(const ms_config *c, const ms_mask_decoder_w *w, const upscale_weights *uw, int i,
                        const float *keys_row, const float *hyper, int nm, float *masks, float *up, float *tile) {
    const int G = c->grid, D = c->prompt_dim, O1 = D / 4, O2 = D / 8, S = 4 * G, P = 4 * G;
    float *Y = tile;                   // (G, 4*O1) = (P, O1): pixel rows p = (j, k1)
    float *Zt = Y + (long)G * 4 * O1;  // (4*O2, P): rows (k2, o), columns p = (j, k1)
    float *M = Zt + (long)G * 16 * O2; // (P) one mask at one k2
    // ref: output_upscaling.0 ConvTranspose2d(D, D/4, 2, 2) -> .1 LayerNorm2d -> .2 GELU
    if (uw->pW1)
        gemm_f32_packed(0, G, 1.0f, keys_row, D, uw->pW1, 0.0f, Y, 4 * O1, uw->b1, 1);
    else
        gemm_f32_bias(0, 0, G, 4 * O1, D, 1.0f, keys_row, D, uw->W1, 4 * O1, 0.0f, Y, 4 * O1, uw->b1, 1);
    vec_layernorm_forward(Y, Y, w->up_ln_w, w->up_ln_b, 4L * G, O1, c->ln2d_eps);
    vec_gelu_forward(Y, 4L * G * O1);
    // ref: output_upscaling.3 ConvTranspose2d(D/4, D/8, 2, 2) -> .4 GELU, computed transposed
    // (Zt = W2^T Y^T, then + b2 per row: the same sums and roundings as Y W2 + b2)
    gemm_f32(1, 1, 4 * O2, P, O1, 1.0f, uw->W2, 4 * O2, Y, O1, 0.0f, Zt, P, 1);
    for (int r = 0; r < 4 * O2; r++) {
        float *row = Zt + (long)r * P;  // (P)
        const float b = uw->b2[r];
        for (int p = 0; p < P; p++) row[p] += b;
    }
    vec_gelu_forward(Zt, 16L * G * O2);
    // ref: masks = hyper_in @ upscaled_embedding.view(b, c, h * w)
    for (int k2 = 0; k2 < 4; k2++) {
        const float *Zk = Zt + (long)k2 * O2 * P;  // (O2, P)
        for (int m = 0; m < nm; m++) {
            hyper_dot(Zk, P, hyper + (long)m * O2, O2, P, M);
            float *dst = masks + (long)m * S * S;
            for (int p = 0; p < P; p++) {
                const int j = p / 4, k1 = p % 4;
                dst[(long)(4 * i + 2 * (k1 >> 1) + (k2 >> 1)) * S + 4 * j + 2 * (k1 & 1) + (k2 & 1)] = M[p];
            }
        }
        if (up)
            for (int o = 0; o < O2; o++)
                for (int p = 0; p < P; p++) {
                    const int j = p / 4, k1 = p % 4;
                    up[(long)o * S * S + (long)(4 * i + 2 * (k1 >> 1) + (k2 >> 1)) * S + 4 * j + 2 * (k1 & 1) +
                       (k2 & 1)] = Zk[(long)o * P + p];
                }
    }
}

/* ---- one prompt set ---- */

/* Offset in floats of the upscaling weights in a run workspace for Nt tokens. */
static size_t upscale_weights_offset(const ms_config *c, int Nt) { return ms_twoway_ws_floats(c, Nt) + head_floats(c); }

/* ms_mask_decoder_run with the upscaling weights of `shared` (prepared once for
 * many prompts), or, when NULL, prepared in the workspace here. */
static medsam_status decoder_run(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_image *img,
                                 const float *sparse, int Ns, int multimask_output, float *masks, float *iou,
                                 float *workspace, const upscale_weights *shared, int nthreads, ms_trace_fn trace,
                                 void *trace_ctx, medsam_error *err) {
    const int D = c->prompt_dim, T = c->num_mask_tokens, G = c->grid, O2 = D / 8, S = 4 * G;
    if (nthreads < 1) nthreads = 1;
    if (Ns < 0 || (Ns > 0 && !sparse))
        return ms_error(err, MEDSAM_ERR_ARG, "mask decoder: bad sparse prompt count %d", Ns);
    if (multimask_output && T < 2)
        return ms_error(err, MEDSAM_ERR_ARG, "mask decoder: multimask output needs >= 2 mask tokens, model has %d",
                        T);
    if (D % 8 || c->dec_heads < 1 || (D / c->dec_attn_down) % c->dec_heads)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "mask decoder: dim %d / heads %d not supported", D,
                        c->dec_heads);
    const int Nt = 1 + T + Ns;
    const int first = multimask_output ? 1 : 0, nm = multimask_output ? T - 1 : 1;

    ms_twoway_ws ws;
    float *p = ms_twoway_ws_carve(&ws, c, Nt, workspace);
    const int wide = D > c->iou_hidden ? D : c->iou_hidden;
    float *h0 = p, *h1 = h0 + wide;           // (wide) MLP hidden
    float *hyper_in = h1 + wide;              // (T, O2)
    float *iou_all = hyper_in + T * O2;       // (T)
    float *hyper_sel = iou_all + T;           // (nm, O2)
    float *wbuf = workspace + upscale_weights_offset(c, Nt);  // upscale_weight_floats
    float *tiles = wbuf + upscale_weight_floats(c);            // nthreads x tile_floats

    // ref: mask_decoder.py:MaskDecoder.predict_masks: tokens = cat(iou_token, mask_tokens, sparse)
    memcpy(ws.tok0, w->iou_token, sizeof(float) * D);
    memcpy(ws.tok0 + D, w->mask_tokens, sizeof(float) * T * D);
    if (Ns > 0) memcpy(ws.tok0 + (long)(1 + T) * D, sparse, sizeof(float) * Ns * D);
    ms_trace(trace, trace_ctx, "dec.tokens", ws.tok0, (long)Nt * D);

    ms_twoway_forward(c, w, img, Nt, &ws, nthreads, trace, trace_ctx);

    // ref: output_hypernetworks_mlps[i](mask_tokens_out[:, i, :]); iou_prediction_head(iou_token_out)
    for (int t = 0; t < T; t++)
        mlp_forward(hyper_in + t * O2, ws.q + (long)(1 + t) * D, w->hyper_w[t], w->hyper_b[t], img->packed.hyper[t],
                    3, D, D, O2, h0, h1);
    mlp_forward(iou_all, ws.q, w->iou_w, w->iou_b, img->packed.iou, c->iou_head_depth, D, c->iou_hidden, T, h0, h1);
    ms_trace(trace, trace_ctx, "dec.hyper_in", hyper_in, (long)T * O2);
    ms_trace(trace, trace_ctx, "dec.iou_all", iou_all, T);
    memcpy(hyper_sel, hyper_in + first * O2, sizeof(float) * nm * O2);

    // ref: mask_decoder.py:MaskDecoder.predict_masks (output_upscaling, hyper_in @ upscaled)
    float *up = NULL;  // (O2, 4G, 4G) only when tracing
    if (trace) {
        up = malloc(sizeof(float) * O2 * S * S);
        if (!up) return ms_error(err, MEDSAM_ERR_NOMEM, "mask decoder: no memory for the upscaled trace");
    }
    upscale_weights own;
    if (!shared) upscale_weights_make(&own, c, w, wbuf);
    const upscale_weights *uw = shared ? shared : &own;
    const size_t tf = tile_floats(c);
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int i = 0; i < G; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        upscale_row(c, w, uw, i, ws.keys + (long)i * G * D, hyper_sel, nm, masks, up, tiles + tid * tf);
    }
    if (!shared) upscale_weights_free(&own);
    if (up) {
        ms_trace(trace, trace_ctx, "dec.upscaled", up, (long)O2 * S * S);
        free(up);
    }
    // ref: mask_decoder.py:MaskDecoder.forward (mask_slice)
    for (int m = 0; m < nm; m++) iou[m] = iou_all[first + m];
    return MEDSAM_OK;
}

medsam_status ms_mask_decoder_run(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_image *img,
                                  const float *sparse, int Ns, int multimask_output, float *masks, float *iou,
                                  float *workspace, int nthreads, ms_trace_fn trace, void *trace_ctx,
                                  medsam_error *err) {
    return decoder_run(c, w, img, sparse, Ns, multimask_output, masks, iou, workspace, NULL, nthreads, trace,
                       trace_ctx, err);
}

medsam_status ms_mask_decoder_forward(const ms_config *c, const ms_mask_decoder_w *w, const float *image_emb,
                                      const float *image_pe, const float *sparse, int Ns, const float *dense,
                                      int multimask_output, float *masks, float *iou, float *workspace, int nthreads,
                                      ms_trace_fn trace, void *trace_ctx, medsam_error *err) {
    ms_dec_image img;
    if (nthreads < 1) nthreads = 1;
    ms_mask_decoder_prepare(c, w, image_emb, image_pe, dense, 0, workspace, &img, nthreads);
    return ms_mask_decoder_run(c, w, &img, sparse, Ns, multimask_output, masks, iou,
                               workspace + ms_mask_decoder_image_floats(c, 0), nthreads, trace, trace_ctx, err);
}

medsam_status ms_mask_decoder_run_batch(const ms_config *c, const ms_mask_decoder_w *w, const ms_dec_image *img,
                                        const float *sparse, int Ns, int B, int multimask_output, float *masks,
                                        float *iou, float *workspace, int nthreads, medsam_error *err) {
    const int D = c->prompt_dim, S = 4 * c->grid, nm = multimask_output ? c->num_mask_tokens - 1 : 1;
    if (nthreads < 1) nthreads = 1;
    if (B < 0) return ms_error(err, MEDSAM_ERR_ARG, "mask decoder: bad batch size %d", B);
    if (B == 0) return MEDSAM_OK;
    if (Ns < 0) return ms_error(err, MEDSAM_ERR_ARG, "mask decoder: bad sparse prompt count %d", Ns);
    // upscaling weights prepared once, in the first prompt's workspace (which only reads them)
    const int Nt = 1 + c->num_mask_tokens + Ns;
    upscale_weights uw;
    upscale_weights_make(&uw, c, w, workspace + upscale_weights_offset(c, Nt));
    medsam_status result = MEDSAM_OK;
    if (B == 1 || nthreads == 1) {
        for (int b = 0; b < B && result == MEDSAM_OK; b++)
            result = decoder_run(c, w, img, sparse + (long)b * Ns * D, Ns, multimask_output,
                                 masks + (long)b * nm * S * S, iou + (long)b * nm, workspace, &uw, nthreads, NULL,
                                 NULL, err);
        upscale_weights_free(&uw);
        return result;
    }
    const size_t one = ms_mask_decoder_run_workspace_floats(c, Ns, 1);
    const int nt = B < nthreads ? B : nthreads;
    medsam_status status[nt];
    medsam_error errs[nt];
    for (int t = 0; t < nt; t++) status[t] = MEDSAM_OK;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        if (status[tid] != MEDSAM_OK) continue;
        status[tid] = decoder_run(c, w, img, sparse + (long)b * Ns * D, Ns, multimask_output,
                                  masks + (long)b * nm * S * S, iou + (long)b * nm, workspace + tid * one, &uw, 1,
                                  NULL, NULL, &errs[tid]);
    }
    upscale_weights_free(&uw);
    for (int t = 0; t < nt; t++)
        if (status[t] != MEDSAM_OK) {
            if (err) *err = errs[t];
            return status[t];
        }
    return result;
}
