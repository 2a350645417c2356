/* activation_backward.c — GELU (exact erf) and ReLU backward (see backward.h). */
#include <math.h>

#include "ops/backward.h"

// ref: torch.nn.GELU(approximate='none'): 0.5 * x * (1 + erf(x / sqrt(2))), as gelu_forward
void gelu_forward_train(float *out, const float *in, long n, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && n > 65536)
    for (long i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * (float)M_SQRT1_2));
}

// d/dx [x Phi(x)] = Phi(x) + x phi(x), Phi(x) = (1 + erf(x/sqrt2)) / 2, phi(x) = exp(-x^2/2) / sqrt(2 pi)
// (torch's GeluBackward: 0.5 * (1 + erf(x / sqrt2)) + x * exp(-0.5 x^2) / sqrt(2 pi))
void gelu_backward(float *dinp, const float *dout, const float *in, long n, int nthreads) {
    const float inv_sqrt_2pi = 0.3989422804014327f;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && n > 65536)
    for (long i = 0; i < n; i++) {
        const float x = in[i];
        const float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        const float pdf = expf(-0.5f * x * x) * inv_sqrt_2pi;
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

// ref: torch.nn.ReLU backward (threshold_backward on the result: 0 where out <= 0)
void relu_backward(float *dinp, const float *dout, const float *out, long n, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && n > 65536)
    for (long i = 0; i < n; i++)
        if (out[i] > 0.0f) dinp[i] += dout[i];
}
