/* mha_backward.c — decoder multi-head attention (transformer.py:Attention)
 * forward with cache, and backward (see backward.h). */
#include <math.h>
#include <string.h>

#include "ops/backward.h"
#include "ops/gemm.h"
#include "ops/ops.h"

size_t mha_cache_floats(int Nq, int Nk, int I, int heads) {
    return (size_t)Nq * I * 2 + (size_t)Nk * I * 2 + (size_t)heads * Nq * Nk;
}

size_t mha_backward_scratch_floats(int Nq, int Nk, int I) {
    return (size_t)Nq * I * 2 + (size_t)Nk * I * 2 + (size_t)Nq * Nk;
}

// ref: transformer.py:Attention.forward (the same operations as mha_forward, kept in the cache)
void mha_forward_train(float *out, float *cache, const float *q_in, const float *k_in, const float *v_in,
                       const mha_weights *w, int Nq, int Nk, int D, int I, int heads, int nthreads) {
    const int hd = I / heads;
    float *q = cache;                 // (Nq, I)
    float *k = q + (size_t)Nq * I;    // (Nk, I)
    float *v = k + (size_t)Nk * I;    // (Nk, I)
    float *o = v + (size_t)Nk * I;    // (Nq, I)
    float *p = o + (size_t)Nq * I;    // (heads, Nq, Nk)
    // ref: q = self.q_proj(q); k = self.k_proj(k); v = self.v_proj(v)
    linear_forward(q, q_in, D, w->q_w, w->q_b, Nq, D, I, nthreads);
    linear_forward(k, k_in, D, w->k_w, w->k_b, Nk, D, I, nthreads);
    linear_forward(v, v_in, D, w->v_w, w->v_b, Nk, D, I, nthreads);
    // ref: attn = q @ k.permute(0, 1, 3, 2) / math.sqrt(c_per_head); torch.softmax(attn, dim=-1); out = attn @ v
    const float scale = (float)(1.0 / sqrt((double)hd));
    for (int h = 0; h < heads; h++) {
        float *ph = p + (size_t)h * Nq * Nk;  // (Nq, Nk)
        gemm_f32(0, 1, Nq, Nk, hd, scale, q + h * hd, I, k + h * hd, I, 0.0f, ph, Nk, nthreads);
        softmax_rows_forward(ph, Nq, Nk);
        gemm_f32(0, 0, Nq, hd, Nk, 1.0f, ph, Nk, v + h * hd, I, 0.0f, o + h * hd, I, nthreads);
    }
    // ref: out = self._recombine_heads(out); out = self.out_proj(out)
    linear_forward(out, o, I, w->out_w, w->out_b, Nq, I, D, nthreads);
}

void mha_backward(float *dq_in, float *dk_in, float *dv_in, const mha_grads *dw, const float *dout,
                  const float *cache, const float *q_in, const float *k_in, const float *v_in, const mha_weights *w,
                  int Nq, int Nk, int D, int I, int heads, float *scratch, int nthreads) {
    const int hd = I / heads;
    const mha_grads none = {0};
    if (!dw) dw = &none;
    const float *q = cache;               // (Nq, I)
    const float *k = q + (size_t)Nq * I;  // (Nk, I)
    const float *v = k + (size_t)Nk * I;  // (Nk, I)
    const float *o = v + (size_t)Nk * I;  // (Nq, I)
    const float *p = o + (size_t)Nq * I;  // (heads, Nq, Nk)
    float *dO = scratch;                  // (Nq, I) gradient of o; then of q
    float *dk = dO + (size_t)Nq * I;      // (Nk, I)
    float *dv = dk + (size_t)Nk * I;      // (Nk, I)
    float *dq = dv + (size_t)Nk * I;      // (Nq, I)
    float *dS = dq + (size_t)Nq * I;      // (Nq, Nk)
    memset(dO, 0, mha_backward_scratch_floats(Nq, Nk, I) * sizeof(float));

    // ref: out_proj
    linear_backward(dO, dw->out_w, dw->out_b, dout, o, I, w->out_w, Nq, I, D, nthreads);
    const float scale = (float)(1.0 / sqrt((double)hd));
    for (int h = 0; h < heads; h++) {
        const float *ph = p + (size_t)h * Nq * Nk;  // (Nq, Nk)
        // dv_h = P^T dO_h; dP = dO_h v_h^T
        gemm_f32(1, 0, Nk, hd, Nq, 1.0f, ph, Nk, dO + h * hd, I, 0.0f, dv + h * hd, I, nthreads);
        gemm_f32(0, 1, Nq, Nk, hd, 1.0f, dO + h * hd, I, v + h * hd, I, 0.0f, dS, Nk, nthreads);
        // softmax backward: dS = P * (dP - sum_j P dP)
        for (int i = 0; i < Nq; i++) {
            const float *pr = ph + (size_t)i * Nk;  // (Nk)
            float *ds = dS + (size_t)i * Nk;        // (Nk)
            double dot = 0.0;
            for (int j = 0; j < Nk; j++) dot += (double)pr[j] * ds[j];
            const float di = (float)dot;
            for (int j = 0; j < Nk; j++) ds[j] = pr[j] * (ds[j] - di);
        }
        // dq_h = scale dS k_h; dk_h = scale dS^T q_h
        gemm_f32(0, 0, Nq, hd, Nk, scale, dS, Nk, k + h * hd, I, 0.0f, dq + h * hd, I, nthreads);
        gemm_f32(1, 0, Nk, hd, Nq, scale, dS, Nk, q + h * hd, I, 0.0f, dk + h * hd, I, nthreads);
    }
    // ref: q_proj, k_proj, v_proj
    linear_backward(dq_in, dw->q_w, dw->q_b, dq, q_in, D, w->q_w, Nq, D, I, nthreads);
    linear_backward(dk_in, dw->k_w, dw->k_b, dk, k_in, D, w->k_w, Nk, D, I, nthreads);
    linear_backward(dv_in, dw->v_w, dw->v_b, dv, v_in, D, w->v_w, Nk, D, I, nthreads);
}
