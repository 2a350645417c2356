/* layernorm_backward.c — LayerNorm (and channels-last LayerNorm2d) forward with
 * cache, and backward (see backward.h). */
#include <math.h>

#include "ops/backward.h"

// ref: torch.nn.functional.layer_norm; segment_anything/modeling/common.py:LayerNorm2d.forward
// Same arithmetic as layernorm_forward (double statistics, float normalisation).
void layernorm_forward_train(float *out, float *mean, float *rstd, const float *in, const float *weight,
                             const float *bias, long N, int C, float eps, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && N > 64)
    for (long n = 0; n < N; n++) {
        const float *x = in + n * C;  // (C)
        float *y = out + n * C;       // (C)
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += x[c];
        const double mu = sum / C;
        double var = 0.0;
        for (int c = 0; c < C; c++) {
            const double d = x[c] - mu;
            var += d * d;
        }
        var /= C;
        const float r = (float)(1.0 / sqrt(var + eps)), m = (float)mu;
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * weight[c] + bias[c];
        mean[n] = m;
        rstd[n] = r;
    }
}

/* dweight += sum_n dout * xhat, dbias += sum_n dout; threads own blocks of 64
 * channels and sum the rows in order (double). */
static void layernorm_param_grads(float *dweight, float *dbias, const float *dout, const float *mean,
                                  const float *rstd, const float *in, long N, int C, int nthreads) {
    const int nblk = (C + 63) / 64;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && nblk > 1 && N * C > 32768)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * 64, nc = C - c0 < 64 ? C - c0 : 64;
        double aw[64] = {0}, ab[64] = {0};
        for (long n = 0; n < N; n++) {
            const float *x = in + n * C + c0;    // (nc)
            const float *g = dout + n * C + c0;  // (nc)
            const float m = mean[n], r = rstd[n];
            for (int j = 0; j < nc; j++) {
                aw[j] += (double)g[j] * ((x[j] - m) * r);
                ab[j] += g[j];
            }
        }
        for (int j = 0; j < nc; j++) {
            if (dweight) dweight[c0 + j] += (float)aw[j];
            if (dbias) dbias[c0 + j] += (float)ab[j];
        }
    }
}

// ref: the autograd of torch.nn.functional.layer_norm:
//   xhat = (x - mean) * rstd, g = dout * weight,
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *mean,
                        const float *rstd, const float *in, const float *weight, long N, int C, int nthreads) {
    if (N <= 0) return;
    if (dweight || dbias) layernorm_param_grads(dweight, dbias, dout, mean, rstd, in, N, C, nthreads);
    if (!dinp) return;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && N > 64)
    for (long n = 0; n < N; n++) {
        const float *x = in + n * C;    // (C)
        const float *g = dout + n * C;  // (C)
        float *dx = dinp + n * C;       // (C)
        const float m = mean[n], r = rstd[n];
        double sg = 0.0, sgx = 0.0;
        for (int c = 0; c < C; c++) {
            const double gw = (double)g[c] * weight[c];
            sg += gw;
            sgx += gw * ((x[c] - m) * r);
        }
        const double mg = sg / C, mgx = sgx / C;
        for (int c = 0; c < C; c++) {
            const double xhat = (x[c] - m) * r;
            dx[c] += (float)(r * ((double)g[c] * weight[c] - mg - xhat * mgx));
        }
    }
}
