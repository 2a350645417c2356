/* activation_backward.c — GELU (exact erf) and ReLU backward (see backward.h). */
#include <math.h>
#include <string.h>

#include "ops/backward.h"
#include "ops/vecmath.h"

/* Elements per thread chunk of the vectorised kernels. */
#define ACT_CHUNK 65536L

// ref: torch.nn.GELU(approximate='none'): 0.5 * x * (1 + erf(x / sqrt(2))), the inference encoder's
// vec_gelu_erf_forward (so training and inference see the same activations)
void gelu_forward_train(float *out, const float *in, long n, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && n > ACT_CHUNK)
    for (long i0 = 0; i0 < n; i0 += ACT_CHUNK) {
        const long len = n - i0 < ACT_CHUNK ? n - i0 : ACT_CHUNK;
        if (out != in) memcpy(out + i0, in + i0, sizeof(float) * (size_t)len);
        vec_gelu_erf_forward(out + i0, len);
    }
}

// d/dx [x Phi(x)] = Phi(x) + x phi(x), Phi(x) = (1 + erf(x/sqrt2)) / 2, phi(x) = exp(-x^2/2) / sqrt(2 pi)
// (torch's GeluBackward: 0.5 * (1 + erf(x / sqrt2)) + x * exp(-0.5 x^2) / sqrt(2 pi))
void gelu_backward(float *dinp, const float *dout, const float *in, long n, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && n > ACT_CHUNK)
    for (long i0 = 0; i0 < n; i0 += ACT_CHUNK)
        vec_gelu_backward(dinp + i0, dout + i0, in + i0, n - i0 < ACT_CHUNK ? n - i0 : ACT_CHUNK);
}

// ref: torch.nn.ReLU backward (threshold_backward on the result: 0 where out <= 0)
void relu_backward(float *dinp, const float *dout, const float *out, long n, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && n > 65536)
    for (long i = 0; i < n; i++)
        if (out[i] > 0.0f) dinp[i] += dout[i];
}
