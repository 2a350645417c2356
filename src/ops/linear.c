/* linear.c — torch.nn.Linear forward on top of the packed GEMM. */
#include "ops/gemm.h"
#include "ops/ops.h"

// ref: torch.nn.functional.linear: out = in @ weight^T + bias
void linear_forward(float *out, const float *in, int ldi, const float *weight, const float *bias, long N, int I, int O,
                    int nthreads) {
    float beta = 0.0f;
    if (bias) {
        for (long n = 0; n < N; n++)
            for (int o = 0; o < O; o++) out[n * O + o] = bias[o];
        beta = 1.0f;
    }
    gemm_f32(0, 1, (int)N, O, I, 1.0f, in, ldi, weight, I, beta, out, O, nthreads);
}
