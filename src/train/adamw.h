/* adamw.h — torch.optim.AdamW (PyTorch 1.13, _single_tensor_adamw, amsgrad=False,
 * maximize=False) over a list of parameter segments inside one float buffer.
 *
 * Per segment with a gradient, in torch's order (float32 tensors, scalars as torch
 * rounds them to float):
 *   step += 1 (kept as a float, like torch's step tensor)
 *   p *= 1 - lr * weight_decay
 *   m = fma(g, 1 - beta1, m * beta1);  v = fma((1 - beta2) * g, g, v * beta2)  (the fused
 *   multiply-adds of torch's compiled CPU kernels; bit-identical on the fixture)
 *   bc1 = 1 - beta1^step; bc2 = 1 - beta2^step          (double)
 *   denom = sqrt(v) / sqrt(bc2) + eps
 *   p += -(lr / bc1) * m / denom
 * Segments without a gradient (torch: p.grad is None) are skipped entirely: no
 * decay, no state, no step (they have no entry in torch's state dict either).
 * Segment i is parameter index i of torch's optimizer parameter list. */
#ifndef MS_TRAIN_ADAMW_H
#define MS_TRAIN_ADAMW_H
#include <stddef.h>

#include "medsam.h"

typedef struct {
    double lr;           /* 1e-4 in train_one_gpu.py */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8 */
    double weight_decay; /* 0.01 */
} ms_adamw_hparams;

typedef struct {
    size_t offset, numel; /* in floats, into the parameter buffer */
    int has_grad;         /* 0: never updated (frozen / unused in the loss) */
    int has_state;        /* 1 once stepped (torch creates the state on the first step) */
    float step;           /* torch's state["step"] */
} ms_adamw_segment;

typedef struct {
    ms_adamw_hparams hp;
    int nseg;
    ms_adamw_segment *seg; // (nseg)
    size_t total;          /* floats of the parameter buffer */
    float *exp_avg;        // (total) first moments, zero outside stepped segments
    float *exp_avg_sq;     // (total) second moments
} ms_adamw;

/* Default hyperparameters of torch.optim.AdamW(lr=lr, weight_decay=wd). */
ms_adamw_hparams ms_adamw_defaults(double lr, double weight_decay);

/* segments: (nseg) offset/numel/has_grad; state zeroed. NULL + err on failure. */
ms_adamw *ms_adamw_new(const ms_adamw_hparams *hp, const ms_adamw_segment *segments, int nseg, size_t total,
                       medsam_error *err);
void ms_adamw_free(ms_adamw *opt);

/* One optimizer.step(): params (total) updated in place from grads (total). */
void ms_adamw_step(ms_adamw *opt, float *params, const float *grads, int nthreads);

#endif
