/* conv_transpose_backward.c — ConvTranspose2d kernel 2 stride 2 backward, for
 * the channels-first and the channels-last packed forms (see backward.h). */
#include "ops/backward.h"
#include "ops/gemm.h"

// ref: torch.nn.ConvTranspose2d(kernel_size=2, stride=2) (mask_decoder.py output_upscaling):
//   out[o][2i+a][2j+b] = bias[o] + sum_c in[c][i][j] * weight[c][o][a][b]
void conv_transpose2x2_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                const float *weight, int Cin, int Cout, int H, int W, int nthreads) {
    const long HW = (long)H * W, OW = 2L * W;
    if (dinp || dweight) {
        /* one item per input channel c: owns dinp[c] and dweight[c] */
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
        for (int c = 0; c < Cin; c++) {
            const float *ic = inp + (long)c * HW;  // (H, W)
            for (int o = 0; o < Cout; o++) {
                const float *oc = dout + (long)o * 4 * HW;  // (2H, 2W)
                const float *k = weight + ((long)c * Cout + o) * 4;  // (2, 2)
                double gw[4] = {0, 0, 0, 0};
                for (int i = 0; i < H; i++)
                    for (int a = 0; a < 2; a++) {
                        const float *orow = oc + (2L * i + a) * OW;  // (2W)
                        for (int j = 0; j < W; j++) {
                            const float g0 = orow[2 * j], g1 = orow[2 * j + 1];
                            if (dinp) dinp[(long)c * HW + (long)i * W + j] += g0 * k[a * 2] + g1 * k[a * 2 + 1];
                            gw[a * 2] += (double)g0 * ic[(long)i * W + j];
                            gw[a * 2 + 1] += (double)g1 * ic[(long)i * W + j];
                        }
                    }
                if (dweight)
                    for (int t = 0; t < 4; t++) dweight[((long)c * Cout + o) * 4 + t] += (float)gw[t];
            }
        }
    }
    if (dbias) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
        for (int o = 0; o < Cout; o++) {
            const float *oc = dout + (long)o * 4 * HW;  // (2H, 2W)
            double acc = 0.0;
            for (long t = 0; t < 4 * HW; t++) acc += oc[t];
            dbias[o] += (float)acc;
        }
    }
}

// ref: as above, on Y (P, 4*Cout) = X (P, Cin) wpacked + bpacked (conv_transpose2x2_pack)
void conv_transpose2x2_packed_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                       const float *inp, const float *wpacked, long P, int Cin, int Cout,
                                       float *dwpacked, int nthreads) {
    const int O4 = 4 * Cout;
    if (P <= 0) return;
    // dX += dY wpacked^T
    if (dinp) gemm_f32(0, 1, (int)P, Cin, O4, 1.0f, dout, O4, wpacked, O4, 1.0f, dinp, Cin, nthreads);
    if (dweight) {
        // dwpacked = X^T dY, then dweight[c][o][k] += dwpacked[c][k*Cout + o]
        gemm_f32(1, 0, Cin, O4, (int)P, 1.0f, inp, Cin, dout, O4, 0.0f, dwpacked, O4, nthreads);
        for (int c = 0; c < Cin; c++)
            for (int o = 0; o < Cout; o++)
                for (int k = 0; k < 4; k++)
                    dweight[((long)c * Cout + o) * 4 + k] += dwpacked[(long)c * O4 + k * Cout + o];
    }
    if (dbias) {
        /* dbias[o] += sum over pixels and the 4 block positions, in that order; threads own blocks of 64 channels */
        const int nblk = (Cout + 63) / 64;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1 && nblk > 1)
        for (int blk = 0; blk < nblk; blk++) {
            const int o0 = blk * 64, no = Cout - o0 < 64 ? Cout - o0 : 64;
            double acc[64] = {0};
            for (long p = 0; p < P; p++)
                for (int k = 0; k < 4; k++) {
                    const float *row = dout + p * O4 + k * Cout + o0;  // (no)
                    for (int j = 0; j < no; j++) acc[j] += row[j];
                }
            for (int j = 0; j < no; j++) dbias[o0 + j] += (float)acc[j];
        }
    }
}
