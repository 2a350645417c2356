/* conv_transpose.h — ConvTranspose2d with kernel 2, stride 2, no padding (the
 * mask decoder's output_upscaling). Each input pixel writes its own 2x2 output
 * block, so the op is a per-pixel matrix product.
 * ref: torch.nn.ConvTranspose2d(Cin, Cout, kernel_size=2, stride=2) */
#ifndef MS_OPS_CONV_TRANSPOSE_H
#define MS_OPS_CONV_TRANSPOSE_H

/* Plain channels-first version:
 * out[o][2i+a][2j+b] = bias[o] + sum_c in[c][i][j] * weight[c][o][a][b].
 * out: (Cout, 2H, 2W); in: (Cin, H, W); weight: (Cin, Cout, 2, 2); bias: (Cout) or NULL. */
void conv_transpose2x2_forward(float *out, const float *in, const float *weight, const float *bias, int Cin, int Cout,
                               int H, int W, int nthreads);

/* Repacks the weight for the channels-last gemm form
 *     Y (P, 4*Cout) = X (P, Cin) @ wpacked (Cin, 4*Cout) + bpacked,
 * where row p of Y holds the 2x2 output block of pixel p as 4 groups of Cout
 * channels in the order k = 2a + b:  wpacked[c][k*Cout + o] = weight[c][o][a][b],
 * bpacked[k*Cout + o] = bias[o] (zeros when bias is NULL).
 * wpacked: (Cin, 4*Cout); bpacked: (4*Cout); weight: (Cin, Cout, 2, 2). */
void conv_transpose2x2_pack(float *wpacked, float *bpacked, const float *weight, const float *bias, int Cin, int Cout);

#endif
