/* linear_backward.c — torch.nn.Linear backward (see backward.h). */
#include "ops/backward.h"
#include "ops/gemm.h"

/* Column sums of a (N, O) matrix added to dbias (O). Threads take blocks of 64
 * columns; each column is summed over the rows in order, in double. */
void linear_bias_backward(float *dbias, const float *dout, long N, int O, int nthreads) {
    const int nblk = (O + 63) / 64;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && nblk > 1 && N * O > 32768)
    for (int blk = 0; blk < nblk; blk++) {
        const int o0 = blk * 64, no = O - o0 < 64 ? O - o0 : 64;
        double acc[64] = {0};
        for (long n = 0; n < N; n++) {
            const float *row = dout + n * O + o0;  // (no)
            for (int j = 0; j < no; j++) acc[j] += row[j];
        }
        for (int j = 0; j < no; j++) dbias[o0 + j] += (float)acc[j];
    }
}

// ref: torch.nn.functional.linear backward: dinp = dout W, dW = dout^T inp, db = sum_rows(dout)
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, int ldi,
                     const float *weight, long N, int I, int O, int nthreads) {
    if (N <= 0) return;
    if (dinp) gemm_f32(0, 0, (int)N, I, O, 1.0f, dout, O, weight, I, 1.0f, dinp, ldi, nthreads);
    if (dweight) gemm_f32(1, 0, O, I, (int)N, 1.0f, dout, O, inp, ldi, 1.0f, dweight, I, nthreads);
    if (dbias) linear_bias_backward(dbias, dout, N, O, nthreads);
}
