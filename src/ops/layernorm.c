/* layernorm.c — LayerNorm forward. */
#include <math.h>

#include "ops/ops.h"

// ref: torch.nn.functional.layer_norm; segment_anything/modeling/common.py:LayerNorm2d.forward
void layernorm_forward(float *out, const float *in, const float *weight, const float *bias, long N, int C, float eps,
                       int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && N > 64)
    for (long n = 0; n < N; n++) {
        const float *x = in + n * C;  // (C)
        float *y = out + n * C;       // (C)
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += x[c];
        double mean = sum / C;
        double var = 0.0;
        for (int c = 0; c < C; c++) {
            double d = x[c] - mean;
            var += d * d;
        }
        var /= C;
        float rstd = (float)(1.0 / sqrt(var + eps));
        float m = (float)mean;
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * rstd * weight[c] + bias[c];
    }
}
