/* activation.c — GELU, ReLU, sigmoid, softmax forward. */
#include <math.h>

#include "ops/ops.h"

// ref: torch.nn.GELU(approximate='none'): 0.5 * x * (1 + erf(x / sqrt(2)))
void gelu_forward(float *x, long n, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && n > 65536)
    for (long i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

void relu_forward(float *x, long n, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && n > 65536)
    for (long i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void sigmoid_forward(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

// ref: torch.softmax(dim=-1): subtract the row max, exponentiate, divide by the sum
void softmax_rows_forward(float *x, long N, int C) {
    for (long r = 0; r < N; r++) {
        float *row = x + r * C;  // (C)
        float mx = row[0];
        for (int c = 1; c < C; c++) mx = row[c] > mx ? row[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++) {
            row[c] = expf(row[c] - mx);
            sum += row[c];
        }
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++) row[c] *= inv;
    }
}
