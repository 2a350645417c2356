/* gemm_generic.c — portable C micro-kernel and packers (any CPU). The packers
 * are also the reference for the AVX2 ones: both must write the same bytes. */
#include "ops/gemm_internal.h"

/* ---- packers ---- */

static void gemm_pack_a_generic(int trans_a, const float *A, long lda, int mc, int kc, float *buf) {
    for (int r = 0; r < mc; r += GEMM_MR) {
        float *panel = buf + (long)r * kc;  // (kc, MR)
        int rows = mc - r < GEMM_MR ? mc - r : GEMM_MR;
        for (int p = 0; p < kc; p++) {
            for (int i = 0; i < rows; i++)
                panel[p * GEMM_MR + i] = trans_a ? A[(long)p * lda + r + i] : A[(long)(r + i) * lda + p];
            for (int i = rows; i < GEMM_MR; i++) panel[p * GEMM_MR + i] = 0.0f;
        }
    }
}

static void gemm_pack_b_generic(int trans_b, const float *B, long ldb, int kc, int nc, float *buf,
                                long panel_stride) {
    for (int q = 0; q < nc; q += GEMM_NR) {
        float *panel = buf + (long)(q / GEMM_NR) * panel_stride;  // (kc, NR)
        int cols = nc - q < GEMM_NR ? nc - q : GEMM_NR;
        for (int p = 0; p < kc; p++) {
            for (int j = 0; j < cols; j++)
                panel[(long)p * GEMM_NR + j] = trans_b ? B[(long)(q + j) * ldb + p] : B[(long)p * ldb + q + j];
            for (int j = cols; j < GEMM_NR; j++) panel[(long)p * GEMM_NR + j] = 0.0f;
        }
    }
}

/* ---- micro-kernel ---- */

static void gemm_ukernel_generic(int kc, const float *a, const float *b, float *c, long ldc, int mr, int nr,
                                 const gemm_update *u) {
    float acc[GEMM_MR][GEMM_NR] = {{0}};
    for (int p = 0; p < kc; p++) {
        const float *ap = a + p * GEMM_MR, *bp = b + (long)p * GEMM_NR;
        for (int i = 0; i < GEMM_MR; i++) {
            float ai = ap[i];
            for (int j = 0; j < GEMM_NR; j++) acc[i][j] += ai * bp[j];
        }
    }
    for (int i = 0; i < mr; i++) {
        float *crow = c + (long)i * ldc;
        for (int j = 0; j < nr; j++) {
            float t;
            if (u->first) {
                t = u->beta == 0.0f ? 0.0f : u->beta * crow[j];
                if (u->bias) t += u->bias[j];
            } else {
                t = crow[j];
            }
            crow[j] = u->alpha * acc[i][j] + t;
        }
    }
}

static const gemm_kernel gemm_generic_kernel = {gemm_ukernel_generic, gemm_pack_a_generic, gemm_pack_b_generic,
                                                GEMM_MR, GEMM_NR, "generic 6x16", NULL};

const gemm_kernel *gemm_kernel_generic(void) { return &gemm_generic_kernel; }
