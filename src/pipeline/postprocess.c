/* postprocess.c — sigmoid, PyTorch bilinear (align_corners=False), threshold; see postprocess.h. */
#include "pipeline/postprocess.h"

#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* results must not depend on fused multiply-adds; GCC in ISO C mode does not fuse */
#endif

typedef struct {
    long i0, i1;
    float l0, l1;
} pp_tap;

// ref: ATen/native/UpSample.h:compute_source_index_and_lambda (align_corners=False)
static pp_tap pp_source_tap(float scale, long dst, long in, long out) {
    pp_tap t;
    if (in == out) {  // scale 1: plain copy
        t.i0 = t.i1 = dst;
        t.l0 = 1.0f;
        t.l1 = 0.0f;
        return t;
    }
    double src = (double)scale * ((double)dst + 0.5) - 0.5;
    if (src < 0) src = 0;
    t.i0 = (long)src;
    t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
    t.l1 = (float)(src - (double)t.i0);
    t.l0 = 1.0f - t.l1;
    return t;
}

/* 2^e as a float, for -126 <= e <= 127. */
static float pp_pow2i(int e) {
    uint32_t bits = (uint32_t)(e + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* expf as torch 1.13's vectorised CPU kernels compute it (SLEEF's expf_u10 with fused
 * multiply-adds): q = rint(d / ln2), s = d - q*ln2 in two fused steps, a degree-6
 * polynomial, then 2^q applied in two halves. Matches torch.sigmoid bit for bit where a
 * correctly rounded expf is off by one ulp in about 1 value in 6. */
static float pp_expf_torch(float d) {
    if (d != d) return d;
    if (d < -104.0f) return 0.0f;
    if (d > 100.0f) return INFINITY;
    const float r_ln2 = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    const float l2u = 0.693145751953125f, l2l = 1.428606765330187045e-06f;
    int q = (int)rintf(d * r_ln2);
    float s = fmaf((float)q, -l2u, d);
    s = fmaf((float)q, -l2l, s);
    float u = 0.000198527617612853646278381f;
    u = fmaf(u, s, 0.00139304355252534151077271f);
    u = fmaf(u, s, 0.00833336077630519866943359f);
    u = fmaf(u, s, 0.0416664853692054748535156f);
    u = fmaf(u, s, 0.166666671633720397949219f);
    u = fmaf(u, s, 0.5f);
    u = 1.0f + fmaf(s * s, u, s);
    return u * pp_pow2i(q >> 1) * pp_pow2i(q - (q >> 1));
}

// ref: torch sigmoid CPU kernel (vectorised): 1 / ((0 - x).exp() + 1)
static float pp_sigmoid(float x) {
    return 1.0f / (pp_expf_torch(0.0f - x) + 1.0f);
}

/* Shared kernel over already-activated samples: out = bilinear(in), or, with
 * mask_out, the mask bilinear(in) > 0.5. Column taps are computed once.
 * ref: ATen/native/cpu/UpSampleKernel.cpp:cpu_upsample_linear_channels_last — a (1, 1, h, w)
 * tensor counts as channels-last: weights are float products, the sum is taken in double. */
static void pp_bilinear(const float *in, int ih, int iw, int oh, int ow, float *out, uint8_t *mask_out) {
    float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;
    pp_tap stack_taps[1024];
    pp_tap *taps = ow <= 1024 ? stack_taps : malloc((size_t)ow * sizeof(pp_tap));
    if (taps)
        for (long x = 0; x < ow; x++) taps[x] = pp_source_tap(sx, x, iw, ow);
    for (long y = 0; y < oh; y++) {
        pp_tap ty = pp_source_tap(sy, y, ih, oh);
        const float *r0 = in + ty.i0 * iw, *r1 = in + ty.i1 * iw;
        for (long x = 0; x < ow; x++) {
            pp_tap tx = taps ? taps[x] : pp_source_tap(sx, x, iw, ow);
            float w00 = ty.l0 * tx.l0, w01 = ty.l0 * tx.l1, w10 = ty.l1 * tx.l0, w11 = ty.l1 * tx.l1;
            double acc = (double)w00 * r0[tx.i0] + (double)w01 * r0[tx.i1];
            acc += (double)w10 * r1[tx.i0];
            acc += (double)w11 * r1[tx.i1];
            if (mask_out) mask_out[y * ow + x] = (float)acc > 0.5f;
            else out[y * ow + x] = (float)acc;
        }
    }
    if (taps != stack_taps) free(taps);
}

/* sigmoid of every low-res logit, once (not once per output pixel). NULL when out of memory. */
static float *pp_sigmoid_all(const float *logits, long n) {
    float *p = malloc((size_t)n * sizeof(float));
    if (p)
        for (long i = 0; i < n; i++) p[i] = pp_sigmoid(logits[i]);
    return p;
}

void ms_upsample_bilinear_f32(const float *in, int ih, int iw, int oh, int ow, float *out) {
    pp_bilinear(in, ih, iw, oh, ow, out, NULL);
}

/* Per-pixel fallback when the sigmoid buffer cannot be allocated. */
static void pp_postprocess_slow(const float *logits, int lh, int lw, int out_h, int out_w, float *prob_out,
                                uint8_t *mask_out) {
    float sy = (float)lh / (float)out_h, sx = (float)lw / (float)out_w;
    for (long y = 0; y < out_h; y++) {
        pp_tap ty = pp_source_tap(sy, y, lh, out_h);
        const float *r0 = logits + ty.i0 * lw, *r1 = logits + ty.i1 * lw;
        for (long x = 0; x < out_w; x++) {
            pp_tap tx = pp_source_tap(sx, x, lw, out_w);
            float w00 = ty.l0 * tx.l0, w01 = ty.l0 * tx.l1, w10 = ty.l1 * tx.l0, w11 = ty.l1 * tx.l1;
            double acc = (double)w00 * pp_sigmoid(r0[tx.i0]) + (double)w01 * pp_sigmoid(r0[tx.i1]);
            acc += (double)w10 * pp_sigmoid(r1[tx.i0]);
            acc += (double)w11 * pp_sigmoid(r1[tx.i1]);
            if (mask_out) mask_out[y * out_w + x] = (float)acc > 0.5f;
            else prob_out[y * out_w + x] = (float)acc;
        }
    }
}

// ref: MedSAM_Inference.py:medsam_inference — torch.sigmoid, then F.interpolate to (H, W)
void ms_postprocess_prob(const float *logits, int lh, int lw, int out_h, int out_w, float *prob_out) {
    float *p = pp_sigmoid_all(logits, (long)lh * lw);
    if (!p) return pp_postprocess_slow(logits, lh, lw, out_h, out_w, prob_out, NULL);
    pp_bilinear(p, lh, lw, out_h, out_w, prob_out, NULL);
    free(p);
}

// ref: MedSAM_Inference.py:medsam_inference — (low_res_pred > 0.5).astype(np.uint8)
void ms_postprocess_mask(const float *logits, int lh, int lw, int out_h, int out_w, uint8_t *mask_out) {
    float *p = pp_sigmoid_all(logits, (long)lh * lw);
    if (!p) return pp_postprocess_slow(logits, lh, lw, out_h, out_w, NULL, mask_out);
    pp_bilinear(p, lh, lw, out_h, out_w, NULL, mask_out);
    free(p);
}
