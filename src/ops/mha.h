/* mha.h — plain multi-head attention with separate q/k/v projections, an
 * optional internal dim (downsampled), and an output projection: the
 * obviously-correct version of SAM's decoder attention.
 *
 * ref: segment_anything/modeling/transformer.py:Attention.forward
 *   q = q_in Wq^T + bq; k = k_in Wk^T + bk; v = v_in Wv^T + bv   (I = internal dim)
 *   per head h (head dim I / heads): softmax(q_h k_h^T / sqrt(hd)) v_h
 *   out = concat_h(...) Wout^T + bout
 */
#ifndef MS_OPS_MHA_H
#define MS_OPS_MHA_H
#include <stddef.h>

typedef struct {
    const float *q_w, *q_b;      // (I, D), (I)
    const float *k_w, *k_b;      // (I, D), (I)
    const float *v_w, *v_b;      // (I, D), (I)
    const float *out_w, *out_b;  // (D, I), (D)
} mha_weights;

/* Floats of scratch mha_forward needs. */
size_t mha_scratch_floats(int Nq, int Nk, int I, int heads);

/* out: (Nq, D); q_in: (Nq, D); k_in, v_in: (Nk, D). out must not alias the inputs.
 * Scores for all heads are held at once (heads * Nq * Nk floats): meant for the
 * decoder's token sizes, not for image-to-image attention. */
void mha_forward(float *out, const float *q_in, const float *k_in, const float *v_in, const mha_weights *w, int Nq,
                 int Nk, int D, int I, int heads, float *scratch, int nthreads);

#endif
