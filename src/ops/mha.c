/* mha.c — plain multi-head attention (see mha.h). */
#include "ops/mha.h"

#include <math.h>

#include "ops/gemm.h"
#include "ops/ops.h"

size_t mha_scratch_floats(int Nq, int Nk, int I, int heads) {
    return (size_t)Nq * I * 2 + (size_t)Nk * I * 2 + (size_t)heads * Nq * Nk;
}

// ref: transformer.py:Attention.forward
void mha_forward(float *out, const float *q_in, const float *k_in, const float *v_in, const mha_weights *w, int Nq,
                 int Nk, int D, int I, int heads, float *scratch, int nthreads) {
    const int hd = I / heads;
    float *q = scratch;                     // (Nq, I)
    float *k = q + (size_t)Nq * I;          // (Nk, I)
    float *v = k + (size_t)Nk * I;          // (Nk, I)
    float *o = v + (size_t)Nk * I;          // (Nq, I)
    float *s = o + (size_t)Nq * I;          // (heads, Nq, Nk)
    linear_forward(q, q_in, D, w->q_w, w->q_b, Nq, D, I, nthreads);
    linear_forward(k, k_in, D, w->k_w, w->k_b, Nk, D, I, nthreads);
    linear_forward(v, v_in, D, w->v_w, w->v_b, Nk, D, I, nthreads);
    // ref: attn = q @ k^T / sqrt(c_per_head); softmax(dim=-1); out = attn @ v
    const float scale = (float)(1.0 / sqrt((double)hd));
    for (int h = 0; h < heads; h++) {
        float *sh = s + (size_t)h * Nq * Nk;  // (Nq, Nk)
        gemm_f32(0, 1, Nq, Nk, hd, scale, q + h * hd, I, k + h * hd, I, 0.0f, sh, Nk, nthreads);
        softmax_rows_forward(sh, Nq, Nk);
        gemm_f32(0, 0, Nq, hd, Nk, 1.0f, sh, Nk, v + h * hd, I, 0.0f, o + h * hd, I, nthreads);
    }
    // ref: _recombine_heads (heads are already interleaved in o's columns), out_proj
    linear_forward(out, o, I, w->out_w, w->out_b, Nq, I, D, nthreads);
}
