/* linear.c — torch.nn.Linear forward on top of the packed GEMM. */
#include "ops/gemm.h"
#include "ops/ops.h"

// ref: torch.nn.functional.linear: out = in @ weight^T + bias
void linear_forward(float *out, const float *in, int ldi, const float *weight, const float *bias, long N, int I, int O,
                    int nthreads) {
    gemm_f32_bias(0, 1, (int)N, O, I, 1.0f, in, ldi, weight, I, 0.0f, out, O, bias, nthreads);
}
