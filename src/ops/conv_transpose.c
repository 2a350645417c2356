/* conv_transpose.c — ConvTranspose2d kernel 2 stride 2 (see conv_transpose.h). */
#include "ops/conv_transpose.h"

// ref: torch.nn.ConvTranspose2d(kernel_size=2, stride=2): no overlap between output blocks
void conv_transpose2x2_forward(float *out, const float *in, const float *weight, const float *bias, int Cin, int Cout,
                               int H, int W, int nthreads) {
    const long HW = (long)H * W, OW = 2L * W;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int o = 0; o < Cout; o++) {
        float *oc = out + (long)o * 4 * HW;  // (2H, 2W)
        const float b = bias ? bias[o] : 0.0f;
        for (long p = 0; p < 4 * HW; p++) oc[p] = b;
        for (int c = 0; c < Cin; c++) {
            const float *ic = in + (long)c * HW;                 // (H, W)
            const float *k = weight + ((long)c * Cout + o) * 4;  // (2, 2)
            for (int i = 0; i < H; i++)
                for (int a = 0; a < 2; a++) {
                    float *orow = oc + (2L * i + a) * OW;  // (2W)
                    const float k0 = k[a * 2], k1 = k[a * 2 + 1];
                    for (int j = 0; j < W; j++) {
                        orow[2 * j] += ic[(long)i * W + j] * k0;
                        orow[2 * j + 1] += ic[(long)i * W + j] * k1;
                    }
                }
        }
    }
}

void conv_transpose2x2_pack(float *wpacked, float *bpacked, const float *weight, const float *bias, int Cin,
                            int Cout) {
    for (int c = 0; c < Cin; c++)
        for (int o = 0; o < Cout; o++)
            for (int k = 0; k < 4; k++) wpacked[(long)c * 4 * Cout + k * Cout + o] = weight[((long)c * Cout + o) * 4 + k];
    for (int k = 0; k < 4; k++)
        for (int o = 0; o < Cout; o++) bpacked[k * Cout + o] = bias ? bias[o] : 0.0f;
}
