/* ops.h — elementwise and row-wise kernels shared by every model part.
 *
 * Conventions (as in llm.c): arguments are outputs, then inputs, then weights,
 * then sizes; every tensor is a plain row-major float array with its shape in a
 * comment. `out` may alias `in` where noted. Backward kernels (training) take
 * dout and ACCUMULATE (+=) into the gradients, which the caller zeroes first.
 * `nthreads` partitions rows among OpenMP threads; each output element is
 * written by exactly one thread, so results do not depend on the thread count.
 */
#ifndef MS_OPS_H
#define MS_OPS_H

/* LayerNorm over the last dim. ref: torch.nn.LayerNorm, common.py:LayerNorm2d
 * (LayerNorm2d on channels-last data is the same computation).
 * out, in: (N, C); weight, bias: (C). out may alias in. */
void layernorm_forward(float *out, const float *in, const float *weight, const float *bias, long N, int C, float eps,
                       int nthreads);

/* y = x W^T + b (torch.nn.Linear). out: (N, O); in: (N, I) with row stride ldi (>= I);
 * weight: (O, I); bias: (O) or NULL. out must not alias in. */
void linear_forward(float *out, const float *in, int ldi, const float *weight, const float *bias, long N, int I, int O,
                    int nthreads);

/* In place, exact-erf GELU (torch.nn.GELU default). x: (n) */
void gelu_forward(float *x, long n, int nthreads);
/* In place ReLU. x: (n) */
void relu_forward(float *x, long n, int nthreads);
/* In place logistic sigmoid. x: (n) */
void sigmoid_forward(float *x, long n);

/* In place softmax over rows. x: (N, C) */
void softmax_rows_forward(float *x, long N, int C);

#endif
