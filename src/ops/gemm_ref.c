/* gemm_ref.c — the plain reference: one double-precision dot product per
 * element, no blocking, no threads. Tests hold the fast paths to it. */
#include "ops/gemm.h"

#include <stddef.h>

void gemm_f32_bias_ref(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double sum = 0.0;
            if (alpha != 0.0f)  // BLAS: alpha == 0 reads neither A nor B
                for (int p = 0; p < K; p++) {
                    double a = trans_a ? A[(long)p * lda + i] : A[(long)i * lda + p];
                    double b = trans_b ? B[(long)j * ldb + p] : B[(long)p * ldb + j];
                    sum += a * b;
                }
            double v = (double)alpha * sum;
            if (beta != 0.0f) v += (double)beta * C[(long)i * ldc + j];  // beta == 0 ignores C (even NaN)
            if (bias) v += bias[j];
            C[(long)i * ldc + j] = (float)v;
        }
    }
}

void gemm_f32_ref(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_f32_bias_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}
