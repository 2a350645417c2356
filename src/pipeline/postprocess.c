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

float ms_sigmoid_torch(float x) { return pp_sigmoid(x); }

/* ---- vectorised paths (same operations per element as the scalar code) ---- */

/* Output modes of one bilinear row. */
enum { PP_PROB, PP_MASK, PP_LABEL };

/* Row of the output: e00/e01 = the upper source row at the column taps i0/i1,
 * e10/e11 = the lower one (each (ow)); lx0/lx1 (ow) column weights; ly0/ly1 the
 * row weights. Writes out[x] (PP_PROB), out8[x] = v > 0.5 (PP_MASK), or raises
 * out8[x] to label where v > 0.5 (PP_LABEL), for x in [x0, ow). */
static void pp_row_scalar(const float *e00, const float *e01, const float *e10, const float *e11, const float *lx0,
                          const float *lx1, float ly0, float ly1, long x0, long ow, int mode, uint8_t label,
                          float *out, uint8_t *out8) {
    for (long x = x0; x < ow; x++) {
        float w00 = ly0 * lx0[x], w01 = ly0 * lx1[x], w10 = ly1 * lx0[x], w11 = ly1 * lx1[x];
        double acc = (double)w00 * e00[x] + (double)w01 * e01[x];
        acc += (double)w10 * e10[x];
        acc += (double)w11 * e11[x];
        const float v = (float)acc;
        if (mode == PP_PROB) out[x] = v;
        else if (mode == PP_MASK) out8[x] = v > 0.5f;
        else if (v > 0.5f && label > out8[x]) out8[x] = label;
    }
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define PP_HAVE_X86 1

static int pp_has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

/* (double)w * e for 4 lanes of w and e. */
__attribute__((target("avx2"))) static inline __m256d pp_prod4(__m128 w, __m128 e) {
    return _mm256_mul_pd(_mm256_cvtps_pd(w), _mm256_cvtps_pd(e));
}

/* pp_row_scalar for x in [0, ow - ow % 8): 8 columns a step, sums in double
 * with separate multiplies and adds (no FMA), as the scalar code. Returns the
 * first column not done. */
__attribute__((target("avx2"))) static long pp_row_avx2(const float *e00, const float *e01, const float *e10,
                                                         const float *e11, const float *lx0, const float *lx1,
                                                         float ly0, float ly1, long ow, int mode, uint8_t label,
                                                         float *out, uint8_t *out8) {
    const __m256 vy0 = _mm256_set1_ps(ly0), vy1 = _mm256_set1_ps(ly1), half = _mm256_set1_ps(0.5f);
    long x = 0;
    for (; x + 8 <= ow; x += 8) {
        const __m256 a0 = _mm256_loadu_ps(lx0 + x), a1 = _mm256_loadu_ps(lx1 + x);
        const __m256 w00 = _mm256_mul_ps(vy0, a0), w01 = _mm256_mul_ps(vy0, a1);
        const __m256 w10 = _mm256_mul_ps(vy1, a0), w11 = _mm256_mul_ps(vy1, a1);
        const __m256 v00 = _mm256_loadu_ps(e00 + x), v01 = _mm256_loadu_ps(e01 + x);
        const __m256 v10 = _mm256_loadu_ps(e10 + x), v11 = _mm256_loadu_ps(e11 + x);
        __m128 r[2];
        for (int h = 0; h < 2; h++) {
#define PP_HALF(v) (h ? _mm256_extractf128_ps(v, 1) : _mm256_castps256_ps128(v))
            __m256d acc = _mm256_add_pd(pp_prod4(PP_HALF(w00), PP_HALF(v00)), pp_prod4(PP_HALF(w01), PP_HALF(v01)));
            acc = _mm256_add_pd(acc, pp_prod4(PP_HALF(w10), PP_HALF(v10)));
            acc = _mm256_add_pd(acc, pp_prod4(PP_HALF(w11), PP_HALF(v11)));
#undef PP_HALF
            r[h] = _mm256_cvtpd_ps(acc);
        }
        const __m256 v = _mm256_insertf128_ps(_mm256_castps128_ps256(r[0]), r[1], 1);
        if (mode == PP_PROB) {
            _mm256_storeu_ps(out + x, v);
            continue;
        }
        const int bits = _mm256_movemask_ps(_mm256_cmp_ps(v, half, _CMP_GT_OQ));
        if (mode == PP_MASK) {
            for (int j = 0; j < 8; j++) out8[x + j] = (uint8_t)((bits >> j) & 1);
        } else if (bits) {
            for (int j = 0; j < 8; j++)
                if (((bits >> j) & 1) && label > out8[x + j]) out8[x + j] = label;
        }
    }
    return x;
}

/* out[i] = pp_sigmoid(x[i]) for i in [0, n - n % 8), the same operations lane by
 * lane (fused multiply-adds where pp_expf_torch calls fmaf). Returns the first i
 * not done. */
__attribute__((target("avx2,fma"))) static long pp_sigmoid_avx2(const float *x, long n, float *out) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 r_ln2 = _mm256_set1_ps(1.442695040888963407359924681001892137426645954152985934135449406931f);
    const __m256 nl2u = _mm256_set1_ps(-0.693145751953125f), nl2l = _mm256_set1_ps(-1.428606765330187045e-06f);
    const __m256 lo = _mm256_set1_ps(-104.0f), hi = _mm256_set1_ps(100.0f), inf = _mm256_set1_ps(INFINITY);
    const __m256i bias = _mm256_set1_epi32(127);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 d = _mm256_sub_ps(zero, _mm256_loadu_ps(x + i));
        const __m256i q = _mm256_cvtps_epi32(
            _mm256_round_ps(_mm256_mul_ps(d, r_ln2), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m256 qf = _mm256_cvtepi32_ps(q);
        __m256 s = _mm256_fmadd_ps(qf, nl2u, d);
        s = _mm256_fmadd_ps(qf, nl2l, s);
        __m256 u = _mm256_set1_ps(0.000198527617612853646278381f);
        u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.00139304355252534151077271f));
        u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.00833336077630519866943359f));
        u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.0416664853692054748535156f));
        u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.166666671633720397949219f));
        u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.5f));
        u = _mm256_add_ps(one, _mm256_fmadd_ps(_mm256_mul_ps(s, s), u, s));
        const __m256i qa = _mm256_srai_epi32(q, 1), qb = _mm256_sub_epi32(q, qa);
        const __m256 pa = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(qa, bias), 23));
        const __m256 pb = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(qb, bias), 23));
        __m256 e = _mm256_mul_ps(_mm256_mul_ps(u, pa), pb);
        e = _mm256_blendv_ps(e, zero, _mm256_cmp_ps(d, lo, _CMP_LT_OQ));
        e = _mm256_blendv_ps(e, inf, _mm256_cmp_ps(d, hi, _CMP_GT_OQ));
        e = _mm256_blendv_ps(e, d, _mm256_cmp_ps(d, d, _CMP_UNORD_Q));
        _mm256_storeu_ps(out + i, _mm256_div_ps(one, _mm256_add_ps(e, one)));
    }
    return i;
}
#endif

/* Scratch of pp_resample for an (ih, iw) -> (oh, ow) resize, in floats. */
static size_t pp_scratch_floats(int ih, int iw, int ow) {
    (void)ih, (void)iw;
    return 6 * (size_t)ow + 2 * (size_t)ow * sizeof(long) / sizeof(float) + 2;
}

/* Expanded source row: e0[x] = row[i0[x]], e1[x] = row[i1[x]]. */
static void pp_expand(const float *row, const long *i0, const long *i1, long ow, float *e0, float *e1) {
    for (long x = 0; x < ow; x++) e0[x] = row[i0[x]], e1[x] = row[i1[x]];
}

/* Bilinear resize of already-activated samples in (ih, iw) to (oh, ow), in the
 * given mode (out: (oh, ow) floats for PP_PROB, out8: (oh, ow) bytes otherwise).
 * Taps, weights and sums as pp_bilinear's reference formula (see postprocess.h).
 * ref: ATen/native/cpu/UpSampleKernel.cpp:cpu_upsample_linear_channels_last — a (1, 1, h, w)
 * tensor counts as channels-last: weights are float products, the sum is taken in double.
 * Only output rows [y0, y1) are written. scratch: pp_scratch_floats(ih, iw, ow). */
static void pp_resample(const float *in, int ih, int iw, int oh, int ow, long y0, long y1, int mode, uint8_t label,
                        float *out, uint8_t *out8, float *scratch) {
    float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;
    // (ow) column taps, at the first 8-byte boundary of scratch (callers may hand out float offsets;
    // pp_scratch_floats keeps 2 floats of room for this)
    long *i0 = (long *)(((uintptr_t)scratch + 7) & ~(uintptr_t)7), *i1 = i0 + ow;
    float *lx0 = (float *)(i1 + ow), *lx1 = lx0 + ow;     // (ow) column weights
    float *ex[2][2] = {{lx1 + ow, lx1 + 2 * ow}, {lx1 + 3 * ow, lx1 + 4 * ow}}; // 2 slots x (e0, e1), (ow) each
    long slot_row[2] = {-1, -1};
    for (long x = 0; x < ow; x++) {
        pp_tap t = pp_source_tap(sx, x, iw, ow);
        i0[x] = t.i0, i1[x] = t.i1, lx0[x] = t.l0, lx1[x] = t.l1;
    }
#ifdef PP_HAVE_X86
    const int avx2 = pp_has_avx2();
#endif
    for (long y = y0; y < y1; y++) {
        pp_tap ty = pp_source_tap(sy, y, ih, oh);
        float *e[2][2];
        long need[2] = {ty.i0, ty.i1};
        for (int k = 0; k < 2; k++) {  // a row already expanded stays in its slot
            int s = slot_row[0] == need[k] ? 0 : slot_row[1] == need[k] ? 1 : -1;
            if (s < 0) {  // expand into the slot that does not hold the other row needed
                s = slot_row[0] == need[1 - k] ? 1 : 0;
                pp_expand(in + need[k] * iw, i0, i1, ow, ex[s][0], ex[s][1]);
                slot_row[s] = need[k];
            }
            e[k][0] = ex[s][0], e[k][1] = ex[s][1];
        }
        long x0 = 0;
        float *orow = mode == PP_PROB ? out + y * ow : NULL;
        uint8_t *orow8 = mode == PP_PROB ? NULL : out8 + y * ow;
#ifdef PP_HAVE_X86
        if (avx2) x0 = pp_row_avx2(e[0][0], e[0][1], e[1][0], e[1][1], lx0, lx1, ty.l0, ty.l1, ow, mode, label, orow, orow8);
#endif
        pp_row_scalar(e[0][0], e[0][1], e[1][0], e[1][1], lx0, lx1, ty.l0, ty.l1, x0, ow, mode, label, orow, orow8);
    }
}

/* sigmoid of every low-res logit, once (not once per output pixel). */
static void pp_sigmoid_all(const float *logits, long n, float *p) {
    long i = 0;
#ifdef PP_HAVE_X86
    if (pp_has_avx2()) i = pp_sigmoid_avx2(logits, n, p);
#endif
    for (; i < n; i++) p[i] = pp_sigmoid(logits[i]);
}

/* Per-pixel fallback when the scratch cannot be allocated. */
static void pp_postprocess_slow(const float *logits, int lh, int lw, int out_h, int out_w, long y0, long y1, int mode,
                                uint8_t label, float *prob_out, uint8_t *out8) {
    float sy = (float)lh / (float)out_h, sx = (float)lw / (float)out_w;
    for (long y = y0; y < y1; y++) {
        pp_tap ty = pp_source_tap(sy, y, lh, out_h);
        const float *r0 = logits + ty.i0 * lw, *r1 = logits + ty.i1 * lw;
        for (long x = 0; x < out_w; x++) {
            pp_tap tx = pp_source_tap(sx, x, lw, out_w);
            float w00 = ty.l0 * tx.l0, w01 = ty.l0 * tx.l1, w10 = ty.l1 * tx.l0, w11 = ty.l1 * tx.l1;
            double acc = (double)w00 * pp_sigmoid(r0[tx.i0]) + (double)w01 * pp_sigmoid(r0[tx.i1]);
            acc += (double)w10 * pp_sigmoid(r1[tx.i0]);
            acc += (double)w11 * pp_sigmoid(r1[tx.i1]);
            const float v = (float)acc;
            if (mode == PP_PROB) prob_out[y * out_w + x] = v;
            else if (mode == PP_MASK) out8[y * out_w + x] = v > 0.5f;
            else if (v > 0.5f && label > out8[y * out_w + x]) out8[y * out_w + x] = label;
        }
    }
}

void ms_upsample_bilinear_f32(const float *in, int ih, int iw, int oh, int ow, float *out) {
    float *scratch = malloc(pp_scratch_floats(ih, iw, ow) * sizeof(float));
    if (scratch) {
        pp_resample(in, ih, iw, oh, ow, 0, oh, PP_PROB, 0, out, NULL, scratch);
        free(scratch);
        return;
    }
    float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;  // no memory: taps per pixel
    for (long y = 0; y < oh; y++) {
        pp_tap ty = pp_source_tap(sy, y, ih, oh);
        for (long x = 0; x < ow; x++) {
            pp_tap tx = pp_source_tap(sx, x, iw, ow);
            const float e00 = in[ty.i0 * iw + tx.i0], e01 = in[ty.i0 * iw + tx.i1];
            const float e10 = in[ty.i1 * iw + tx.i0], e11 = in[ty.i1 * iw + tx.i1];
            pp_row_scalar(&e00, &e01, &e10, &e11, &tx.l0, &tx.l1, ty.l0, ty.l1, 0, 1, PP_PROB, 0, out + y * ow + x,
                          NULL);
        }
    }
}

/* sigmoid, bilinear, then the given output mode, for output rows [y0, y1);
 * one allocation for the sigmoid plane and the row scratch. */
static void pp_postprocess(const float *logits, int lh, int lw, int out_h, int out_w, long y0, long y1, int mode,
                           uint8_t label, float *prob_out, uint8_t *out8) {
    const size_t plane = (size_t)lh * lw, rest = pp_scratch_floats(lh, lw, out_w);
    float *p = malloc((plane + rest) * sizeof(float));
    if (!p) return pp_postprocess_slow(logits, lh, lw, out_h, out_w, y0, y1, mode, label, prob_out, out8);
    pp_sigmoid_all(logits, (long)plane, p);
    pp_resample(p, lh, lw, out_h, out_w, y0, y1, mode, label, prob_out, out8, p + plane);
    free(p);
}

// ref: MedSAM_Inference.py:medsam_inference — torch.sigmoid, then F.interpolate to (H, W)
void ms_postprocess_prob(const float *logits, int lh, int lw, int out_h, int out_w, float *prob_out) {
    pp_postprocess(logits, lh, lw, out_h, out_w, 0, out_h, PP_PROB, 0, prob_out, NULL);
}

// ref: MedSAM_Inference.py:medsam_inference — (low_res_pred > 0.5).astype(np.uint8)
void ms_postprocess_mask(const float *logits, int lh, int lw, int out_h, int out_w, uint8_t *mask_out) {
    pp_postprocess(logits, lh, lw, out_h, out_w, 0, out_h, PP_MASK, 0, NULL, mask_out);
}

void ms_postprocess_label(const float *logits, int lh, int lw, int out_h, int out_w, uint8_t label,
                          uint8_t *labels) {
    pp_postprocess(logits, lh, lw, out_h, out_w, 0, out_h, PP_LABEL, label, NULL, labels);
}

void ms_postprocess_label_rows(const float *logits, int lh, int lw, int out_h, int out_w, int y0, int y1,
                               uint8_t label, uint8_t *labels) {
    if (y0 < 0) y0 = 0;
    if (y1 > out_h) y1 = out_h;
    if (y0 < y1) pp_postprocess(logits, lh, lw, out_h, out_w, y0, y1, PP_LABEL, label, NULL, labels);
}
