/* resize.c — skimage.transform.resize (0.19.3 / SciPy 1.10 ndimage), see resize.h.
 *
 * Every array here is viewed, for one axis at a time, as (outer, n, inner): `n`
 * samples along the axis, `inner` contiguous values per sample. A pass over an
 * axis runs the same scalar recurrence for all `inner` lines side by side, which
 * keeps memory access contiguous without changing any line's arithmetic. */
#include "pipeline/resize.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/resize_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF  /* GCC in ISO C mode does not contract by default */
#endif

#define RS_MAX_SIDE 65536
#define RS_BLOCK 256    /* inner values per task in the spline prefilter */

/* ref: scipy ndimage ni_interpolation.c:map_coordinate, mode 'mirror' (d c b | a b c d | c b a),
 * for a real coordinate; period 2n-2, the edge sample is not repeated. */
static double rs_mirror_coord(double x, long n) {
    if (x < 0) {
        if (n <= 1) return 0;
        long period = 2 * n - 2;
        x = (double)(period * (long)(-x / (double)period)) + x;
        return x <= (double)(1 - n) ? x + (double)period : -x;
    }
    if (x > (double)(n - 1)) {
        if (n <= 1) return 0;
        long period = 2 * n - 2;
        x -= (double)(period * (long)(x / (double)period));
        if (x >= (double)n) x = (double)period - x;
    }
    return x;
}

/* Same mirror for an integer index (used for taps and Gaussian neighbours). */
long ms_rs_mirror_index(long i, long n) {
    if (n <= 1) return 0;
    long period = 2 * n - 2;
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

/* ref: numpy add.reduce on float64 (pairwise summation, blocks of 128, 8 accumulators). */
static double rs_pairwise_sum(const double *a, long n) {
    if (n < 8) {
        double s = 0.0;
        for (long i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        long i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    long n2 = n / 2;
    n2 -= n2 % 8;
    return rs_pairwise_sum(a, n2) + rs_pairwise_sum(a + n2, n - n2);
}

/* exp() as NumPy >= 1.22 computes it for float64 arrays on AVX-512 (SKX) x86-64 CPUs,
 * where np.exp dispatches to Intel SVML's __svml_exp8 ("la" variant). Re-derived from the
 * algorithm: N = x*log2(e) rounded toward zero to 1/16, j = 16*frac(N), r = x - N*ln2
 * (two fused steps), exp(r)-1 by a degree-6 polynomial, result 2^floor(N) * 2^(j/16) * exp(r).
 * It differs from a correctly rounded exp by up to ~1 ulp, which is enough to move a
 * Gaussian weight and, in flat image regions, the uint8 truncation of a resized pixel.
 * Outside |x| < 707.7 (never reached by Gaussian kernels) libm exp is used. */
static double rs_exp_numpy_avx512(double x) {
    static const double two_j16[16] = {  // round(2^(j/16)), j = 0..15
        0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
        0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
        0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
        0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0};
    const double log2e = 0x1.71547652b82fep+0, shifter = 0x1.8000000003ff0p+48;
    const double ln2_hi = 0x1.62e42fefa39efp-1, ln2_lo = 0x1.abc9e3b39803fp-56;
    const double c2 = 0x1.0000000002622p-1, c3 = 0x1.5555554b508a2p-3, c4 = 0x1.555564bb4f5f0p-5,
                 c5 = 0x1.1106603d97c00p-7, c6 = 0x1.72eb5ef0d213dp-10;
    if (!(fabs(x) < 0x1.61da04cbafe44p+9)) return exp(x);
    // t = x*log2e + shifter rounded toward zero (t > 0): round to nearest, then step down
    // one ulp (2^-4 in [2^48, 2^49)) when that rounded up past the exact value.
    double t = fma(x, log2e, shifter);
    if (fma(x, log2e, shifter - t) < 0) t -= 0x1p-4;
    double n = t - shifter;  // x*log2(e) truncated to 4 fractional bits, exact
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    double th = two_j16[bits & 15];
    double r = fma(-n, ln2_hi, x);
    r = fma(-n, ln2_lo, r);
    double r2 = r * r, r3 = r2 * r;
    double p56 = fma(c6, r, c5), p34 = fma(c4, r, c3), p12 = fma(r2, c2, r);
    double p36 = fma(r2, p56, p34);
    double p16 = fma(r3, p36, p12);
    return ldexp(fma(th, p16, th), (int)floor(n));
}

// ref: scipy/ndimage/_filters.py:gaussian_filter1d + _gaussian_kernel1d (order 0, truncate 4.0)
int ms_resize_gaussian_kernel(double *weights, double sigma, ms_resize_exp exp_kind) {
    int radius = (int)(4.0 * sigma + 0.5);
    if (!weights) return radius;
    double a = -0.5 / (sigma * sigma);  // numpy: -0.5 / sigma2 * x**2
    for (int k = 0; k <= 2 * radius; k++) {
        long x = k - radius;
        double arg = a * (double)(x * x);
        weights[k] = exp_kind == MS_EXP_LIBM ? exp(arg) : rs_exp_numpy_avx512(arg);
    }
    double sum = rs_pairwise_sum(weights, 2L * radius + 1);
    for (int k = 0; k <= 2 * radius; k++) weights[k] /= sum;
    return radius;
}

/* ref: ni_filters.c:NI_Correlate1D, symmetric-kernel branch, mode 'mirror'.
 * out = x[y]*w[0] + sum_{j=r..1} (x[y-j] + x[y+j]) * w[j], in that order.
 * src, dst: (outer, n, inner), distinct buffers. */
void ms_rs_gaussian_axis(double *dst, const double *src, long outer, long n, long inner,
                             const double *weights, int radius, int threads) {
    const double *center = weights + radius;
    long rows = outer * n;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads != 1)
    for (long t = 0; t < rows; t++) {
        long o = t / n, y = t % n;
        const double *line = src + o * n * inner;
        double *d = dst + t * inner;
        const double *s0 = line + y * inner;
        for (long i = 0; i < inner; i++) d[i] = s0[i] * center[0];
        for (int j = radius; j >= 1; j--) {
            const double *lo = line + ms_rs_mirror_index(y - j, n) * inner;
            const double *hi = line + ms_rs_mirror_index(y + j, n) * inner;
            double wj = center[-j];
            for (long i = 0; i < inner; i++) d[i] += (lo[i] + hi[i]) * wj;
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RS_HAVE_AVX 1
/* The first m (2..4) doubles at p as the low lanes of a vector, and back: plain loads and
 * stores of 2 + 1 or 4 values (AMD's masked stores are microcoded and slow). */
__attribute__((target("avx"))) static inline __m256d rs_ld(const double *p, int m) {
    if (m == 4) return _mm256_loadu_pd(p);
    const __m128d lo = _mm_loadu_pd(p);
    return _mm256_insertf128_pd(_mm256_castpd128_pd256(lo), m == 3 ? _mm_load_sd(p + 2) : _mm_setzero_pd(), 1);
}
__attribute__((target("avx"))) static inline void rs_st(double *p, int m, __m256d v) {
    if (m == 4) {
        _mm256_storeu_pd(p, v);
        return;
    }
    _mm_storeu_pd(p, _mm256_castpd256_pd128(v));
    if (m == 3) _mm_store_sd(p + 2, _mm256_extractf128_pd(v, 1));
}

/* spline_lines_plain for 2..4 interleaved lines (a row's colour channels) as the lanes of one
 * AVX vector, each recursion's running value kept in a register instead of going through
 * memory; every value sees the same operations in the same order. n >= 2. */
__attribute__((target("avx"))) static void spline_lines_avx(double *base, long n, long inner, int m, double z_n_1) {
    const double z = RS_SPLINE_POLE;
    const double gain = 1.0 * ((1.0 - z) * (1.0 - 1.0 / z));
    const __m256d vz = _mm256_set1_pd(z), vzn = _mm256_set1_pd(z_n_1);
#define RS_LD(k) rs_ld(base + (k) * inner, m)
#define RS_ST(k, v) rs_st(base + (k) * inner, m, (v))
    for (long k = 0; k < n; k++) RS_ST(k, _mm256_mul_pd(RS_LD(k), _mm256_set1_pd(gain)));
    // causal initialisation, mirror boundary: exact sum over the whole line
    __m256d c0 = _mm256_add_pd(RS_LD(0), _mm256_mul_pd(vzn, RS_LD(n - 1)));
    double z_k = z;
    for (long k = 1; k < n - 1; k++) {
        c0 = _mm256_add_pd(c0, _mm256_mul_pd(_mm256_set1_pd(z_k), _mm256_add_pd(RS_LD(k), _mm256_mul_pd(vzn, RS_LD(n - 1 - k)))));
        z_k *= z;
    }
    c0 = _mm256_div_pd(c0, _mm256_set1_pd(1 - z_n_1 * z_n_1));
    RS_ST(0, c0);
    __m256d prev = c0;
    for (long k = 1; k < n; k++) {
        prev = _mm256_add_pd(RS_LD(k), _mm256_mul_pd(vz, prev));
        RS_ST(k, prev);
    }
    // anticausal initialisation and backward pass
    __m256d next = _mm256_div_pd(_mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(vz, RS_LD(n - 2)), prev), vz),
                                 _mm256_set1_pd(z * z - 1));
    RS_ST(n - 1, next);
    for (long k = n - 2; k >= 0; k--) {
        next = _mm256_mul_pd(vz, _mm256_sub_pd(next, RS_LD(k)));
        RS_ST(k, next);
    }
#undef RS_LD
#undef RS_ST
}
#else
#define RS_HAVE_AVX 0
#endif

/* spline_lines_plain for one line (a grey row, a pixel's channels), its running values in
 * registers. n >= 2. */
static inline void spline_line_one(double *base, long n, long inner, double z_n_1) {
    const double z = RS_SPLINE_POLE;
    const double gain = 1.0 * ((1.0 - z) * (1.0 - 1.0 / z));
    for (long k = 0; k < n; k++) base[k * inner] *= gain;
    double c0 = base[0] + z_n_1 * base[(n - 1) * inner];
    double z_k = z;
    for (long k = 1; k < n - 1; k++) {
        c0 += z_k * (base[k * inner] + z_n_1 * base[(n - 1 - k) * inner]);
        z_k *= z;
    }
    c0 /= 1 - z_n_1 * z_n_1;
    base[0] = c0;
    double prev = c0;
    for (long k = 1; k < n; k++) base[k * inner] = prev = base[k * inner] + z * prev;
    double next = (z * base[(n - 2) * inner] + prev) * z / (z * z - 1);
    base[(n - 1) * inner] = next;
    for (long k = n - 2; k >= 0; k--) base[k * inner] = next = z * (next - base[k * inner]);
}

/* ref: ni_splines.c:apply_filter with _init_causal_mirror/_init_anticausal_mirror, one pole
 * z = RS_SPLINE_POLE, applied to lines[i] = base[k*inner + i], i in [i0, i1);
 * z_n_1 = pow(z, n - 1), computed once per axis by the caller. */
static void spline_lines_plain(double *base, long n, long inner, long i0, long i1, double z_n_1) {
    const double z = RS_SPLINE_POLE;
    const double gain = 1.0 * ((1.0 - z) * (1.0 - 1.0 / z));
    for (long k = 0; k < n; k++)
        for (long i = i0; i < i1; i++) base[k * inner + i] *= gain;
    double *c0 = base, *cl = base + (n - 1) * inner;
    // causal initialisation, mirror boundary: exact sum over the whole line
    for (long i = i0; i < i1; i++) c0[i] = c0[i] + z_n_1 * cl[i];
    double z_k = z;
    for (long k = 1; k < n - 1; k++) {
        const double *ck = base + k * inner, *cm = base + (n - 1 - k) * inner;
        for (long i = i0; i < i1; i++) c0[i] += z_k * (ck[i] + z_n_1 * cm[i]);
        z_k *= z;
    }
    const double denom = 1 - z_n_1 * z_n_1;
    for (long i = i0; i < i1; i++) c0[i] /= denom;
    for (long k = 1; k < n; k++) {
        double *ck = base + k * inner;
        const double *cp = ck - inner;
        for (long i = i0; i < i1; i++) ck[i] += z * cp[i];
    }
    // anticausal initialisation and backward pass
    const double *cp = cl - inner;
    for (long i = i0; i < i1; i++) cl[i] = (z * cp[i] + cl[i]) * z / (z * z - 1);
    for (long k = n - 2; k >= 0; k--) {
        double *ck = base + k * inner;
        const double *cn = ck + inner;
        for (long i = i0; i < i1; i++) ck[i] = z * (cn[i] - ck[i]);
    }
}

void ms_rs_spline_pixels(double *row, long npix, long c, double z_n_1) {
    if (c < 2) return;
    for (long x = 0; x < npix; x++) spline_line_one(row + x * c, c, 1, z_n_1);
}

void ms_rs_spline_lines(double *base, long n, long inner, long i0, long i1, double z_n_1) {
    if (n >= 2 && i1 - i0 == 1) {
        spline_line_one(base + i0, n, inner, z_n_1);
        return;
    }
#if RS_HAVE_AVX
    if (n >= 2 && i1 - i0 >= 2 && i1 - i0 <= 4 && __builtin_cpu_supports("avx")) {
        spline_lines_avx(base + i0, n, inner, (int)(i1 - i0), z_n_1);
        return;
    }
#endif
    spline_lines_plain(base, n, inner, i0, i1, z_n_1);
}

// ref: scipy/ndimage/_interpolation.py:spline_filter1d (order 3, mode 'mirror'), in place
static void rs_spline_axis(double *data, long outer, long n, long inner, int threads) {
    if (n <= 1) return;  // ni_interpolation.c:NI_SplineFilter1D skips lines of length 1
    long blocks = (inner + RS_BLOCK - 1) / RS_BLOCK;
    long tasks = outer * blocks;
    const double z_n_1 = pow(RS_SPLINE_POLE, (double)(n - 1));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads != 1)
    for (long t = 0; t < tasks; t++) {
        long o = t / blocks, b = t % blocks;
        long i0 = b * RS_BLOCK, i1 = i0 + RS_BLOCK < inner ? i0 + RS_BLOCK : inner;
        ms_rs_spline_lines(data + o * n * inner, n, inner, i0, i1, z_n_1);
    }
}

/* ref: ni_splines.c:get_spline_interpolation_weights (orders 1 and 3; order 0 takes weight 1). */
static void rs_spline_weights(double *w, double x, int order) {
    if (order == 0) {
        w[0] = 1.0;
        return;
    }
    x -= floor(x);  // odd orders
    if (order == 1) {
        w[0] = 1.0 - x;
    } else {
        double y = x, z = 1.0 - x;
        w[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
        w[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
        w[0] = z * z * z / 6.0;
    }
    w[order] = 1.0;
    for (int i = 0; i < order; i++) w[order] -= w[i];
}

/* Per-axis taps of ndimage.zoom(grid_mode=True, mode='mirror'): for each output index k,
 * idx[k*taps + j] (input index, mirrored) and wt[k*taps + j].
 * ref: ni_interpolation.c:NI_ZoomShift (coordinate and offset tables). */
void ms_rs_zoom_taps(long *idx, double *wt, long n, long on, int order) {
    int taps = order + 1;
    double zoom = (double)n / (double)on;
    for (long k = 0; k < on; k++) {
        double cc = (double)k;
        cc += 0.5;
        cc *= zoom;
        cc -= 0.5;
        cc = rs_mirror_coord(cc, n);
        long start = (order & 1) ? (long)floor(cc) - order / 2 : (long)floor(cc + 0.5) - order / 2;
        for (int j = 0; j < taps; j++) idx[k * taps + j] = ms_rs_mirror_index(start + j, n);
        rs_spline_weights(wt + k * taps, cc, order);
    }
}

/* The tensor-product interpolation, terms summed in SciPy's order (row tap outermost,
 * channel tap innermost), each term ((f * w_row) * w_col) * w_chan.
 * ref: ni_interpolation.c:NI_ZoomShift (the filter_size loop).
 * This plain kernel does one output pixel at a time; rs_zoom_block_row below does the
 * same arithmetic for RS_COLS pixels side by side and is the one normally used. */
static void rs_zoom_pixel_row(double *o, const double *const *rows, long c, long ow, int taps, const double *vy,
                              const long *ix, const double *wx, const long *ic, const double *wc, double *g, double *t) {
    long cc = c > 0 ? c : 1;
    for (long ox = 0; ox < ow; ox++, o += cc) {
        const long *rx = ix + ox * taps;
        const double *vx = wx + ox * taps;
        for (long k = 0; k < cc; k++) t[k] = 0.0;
        for (int a = 0; a < taps; a++) {
            for (int b = 0; b < taps; b++) {
                const double *f = rows[a] + rx[b] * cc;
                if (c == 0) {
                    t[0] += f[0] * vy[a] * vx[b];
                    continue;
                }
                for (long ch = 0; ch < c; ch++) g[ch] = f[ch] * vy[a] * vx[b];
                for (long k = 0; k < c; k++)
                    for (int e = 0; e < taps; e++) t[k] += g[ic[k * taps + e]] * wc[k * taps + e];
            }
        }
        for (long k = 0; k < cc; k++) o[k] = t[k];
    }
}

#define RS_COLS 8 /* output pixels interpolated side by side */

/* tk (RS_COLS) += g rows ic[e] (RS_COLS each) * wc[e], e < taps: one output channel's sums. */
static inline void rs_channel_sum(double *tk, const double *g, int taps, const long *ic, const double *wc) {
    for (int e = 0; e < taps; e++) {
        const double *ge = g + ic[e] * RS_COLS;
        double we = wc[e];
        for (int j = 0; j < RS_COLS; j++) tk[j] += ge[j] * we;
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* rs_channel_sum on AVX vectors (RS_COLS = 8: two per channel): the same multiply, then add,
 * per value, so the same bits. */
__attribute__((target("avx"))) static inline void rs_channel_sum_avx(double *tk, const double *g, int taps,
                                                                     const long *ic, const double *wc) {
    __m256d t0 = _mm256_loadu_pd(tk), t1 = _mm256_loadu_pd(tk + 4);
    for (int e = 0; e < taps; e++) {
        const double *ge = g + ic[e] * RS_COLS;
        const __m256d we = _mm256_set1_pd(wc[e]);
        t0 = _mm256_add_pd(t0, _mm256_mul_pd(_mm256_loadu_pd(ge), we));
        t1 = _mm256_add_pd(t1, _mm256_mul_pd(_mm256_loadu_pd(ge + 4), we));
    }
    _mm256_storeu_pd(tk, t0), _mm256_storeu_pd(tk + 4, t1);
}
#endif

typedef void (*rs_channel_sum_fn)(double *tk, const double *g, int taps, const long *ic, const double *wc);

/* Same sums as rs_zoom_pixel_row, RS_COLS output columns at a time so that independent
 * accumulators hide the addition latency; per pixel the operation order is unchanged.
 * sum: the channel sums (rs_channel_sum or its AVX form; inlined into each caller below).
 * g: (c, RS_COLS), t: (c, RS_COLS) scratch. */
static inline void rs_zoom_block_row_with(rs_channel_sum_fn sum, double *o, const double *const *rows, long c, long ow, int taps,
                                          const double *vy, const long *ix, const double *wx, const long *ic,
                                          const double *wc, double *g, double *t) {
    long cc = c > 0 ? c : 1;
    for (long ox0 = 0; ox0 < ow; ox0 += RS_COLS) {
        int nb = ow - ox0 < RS_COLS ? (int)(ow - ox0) : RS_COLS;
        for (long i = 0; i < cc * RS_COLS; i++) t[i] = 0.0;
        for (int a = 0; a < taps; a++) {
            const double *row = rows[a];
            double wa = vy[a];
            for (int b = 0; b < taps; b++) {
                if (c == 0) {
                    for (int j = 0; j < nb; j++) {
                        long ox = ox0 + j;
                        t[j] += row[ix[ox * taps + b]] * wa * wx[ox * taps + b];
                    }
                    continue;
                }
                for (int j = 0; j < nb; j++) {
                    long ox = ox0 + j;
                    const double *f = row + ix[ox * taps + b] * c;
                    double wb = wx[ox * taps + b];
                    for (long ch = 0; ch < c; ch++) g[ch * RS_COLS + j] = f[ch] * wa * wb;
                }
                for (long k = 0; k < c; k++) sum(t + k * RS_COLS, g, taps, ic + k * taps, wc + k * taps);
            }
        }
        for (int j = 0; j < nb; j++)
            for (long k = 0; k < cc; k++) o[(ox0 + j) * cc + k] = t[k * RS_COLS + j];
    }
}

static void rs_zoom_block_row(double *o, const double *const *rows, long c, long ow, int taps, const double *vy,
                              const long *ix, const double *wx, const long *ic, const double *wc, double *g, double *t) {
    rs_zoom_block_row_with(rs_channel_sum, o, rows, c, ow, taps, vy, ix, wx, ic, wc, g, t);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx"))) static void rs_zoom_block_row_avx(double *o, const double *const *rows, long c, long ow,
                                                                  int taps, const double *vy, const long *ix,
                                                                  const double *wx, const long *ic, const double *wc,
                                                                  double *g, double *t) {
    rs_zoom_block_row_with(rs_channel_sum_avx, o, rows, c, ow, taps, vy, ix, wx, ic, wc, g, t);
}
#endif

void ms_rs_zoom_row(double *o, const double *const *rows, long c, long ow, int taps, const double *vy, const long *ix,
                    const double *wx, const long *ic, const double *wc, int plain, double *g, double *t) {
    if (plain) rs_zoom_pixel_row(o, rows, c, ow, taps, vy, ix, wx, ic, wc, g, t);
#if defined(__x86_64__) || defined(__i386__)
    else if (c > 0 && RS_COLS == 8 && __builtin_cpu_supports("avx"))
        rs_zoom_block_row_avx(o, rows, c, ow, taps, vy, ix, wx, ic, wc, g, t);
#endif
    else rs_zoom_block_row(o, rows, c, ow, taps, vy, ix, wx, ic, wc, g, t);
}

/* src: (h, w, c) or (h, w) when c == 0; dst: (oh, ow, c) or (oh, ow). */
static int rs_zoom(double *dst, const double *src, long h, long w, long c, long oh, long ow, int order, int plain,
                   int threads) {
    int taps = order + 1;
    long cc = c > 0 ? c : 1;
    long *iy = malloc(sizeof(long) * taps * oh), *ix = malloc(sizeof(long) * taps * ow);
    long *ic = malloc(sizeof(long) * taps * cc);
    double *wy = malloc(sizeof(double) * taps * oh), *wx = malloc(sizeof(double) * taps * ow);
    double *wc = malloc(sizeof(double) * taps * cc);
    int ok = iy && ix && ic && wy && wx && wc;
    if (ok) {
        ms_rs_zoom_taps(iy, wy, h, oh, order);
        ms_rs_zoom_taps(ix, wx, w, ow, order);
        if (c > 0) ms_rs_zoom_taps(ic, wc, c, c, order);
    }
    int failed = !ok;
#pragma omp parallel num_threads(threads) if (threads != 1 && ok)
    {
        double *g = ok ? calloc((size_t)cc * RS_COLS, sizeof(double)) : NULL;  // (c, RS_COLS) weighted samples
        double *t = ok ? malloc(sizeof(double) * cc * RS_COLS) : NULL;  // (c, RS_COLS) accumulators
        if (!g || !t) {
#pragma omp atomic write
            failed = 1;
        } else {
#pragma omp for schedule(static)
            for (long oy = 0; oy < oh; oy++) {
                const double *rows[4];  // the input rows of this output row's taps
                for (int a = 0; a < taps; a++) rows[a] = src + iy[oy * taps + a] * w * cc;
                ms_rs_zoom_row(dst + oy * ow * cc, rows, c, ow, taps, wy + oy * taps, ix, wx, ic, wc, plain, g, t);
            }
        }
        free(g);
        free(t);
    }
    free(iy), free(ix), free(ic), free(wy), free(wx), free(wc);
    return failed ? -1 : 0;
}

/* The options, checks and anti-aliasing sigmas both resizes (whole image, bands of rows) share. */
medsam_status ms_rs_setup_opts(ms_rs_setup *p, const ms_resize_opts *opts, int h, int w, int c, int oh, int ow,
                               medsam_error *err) {
    p->order = opts ? opts->order : 1;
    p->aa = opts ? opts->anti_aliasing : 0;
    p->clip = opts ? opts->clip : 1;
    p->exp_kind = opts ? opts->exp_kind : MS_EXP_NUMPY_AVX512;
    p->threads = opts && opts->threads > 0 ? opts->threads : 0;
#ifdef _OPENMP
    if (p->threads <= 0) p->threads = omp_get_max_threads();
#else
    p->threads = 1;
#endif
    if (h < 1 || w < 1 || oh < 1 || ow < 1 || c < 0 || h > RS_MAX_SIDE || w > RS_MAX_SIDE ||
        oh > RS_MAX_SIDE || ow > RS_MAX_SIDE || c > RS_MAX_SIDE)
        return ms_error(err, MEDSAM_ERR_ARG, "resize: bad size %dx%dx%d -> %dx%d", h, w, c, oh, ow);
    if (p->order != 0 && p->order != 1 && p->order != 3)
        return ms_error(err, MEDSAM_ERR_ARG, "resize: spline order %d not supported (0, 1 or 3)", p->order);
    if (p->order == 0 && p->aa)
        return ms_error(err, MEDSAM_ERR_ARG,
                        "resize: anti-aliasing with order 0 is not supported (skimage filters in the input dtype)");
    // anti-aliasing sigma per axis: max(0, (in/out - 1) / 2); the channel axis has factor 1
    p->sigma[0] = p->sigma[1] = 0;
    if (p->aa) {
        double fy = (double)h / (double)oh, fx = (double)w / (double)ow;
        p->sigma[0] = (fy - 1) / 2 > 0 ? (fy - 1) / 2 : 0;
        p->sigma[1] = (fx - 1) / 2 > 0 ? (fx - 1) / 2 : 0;
    }
    return MEDSAM_OK;
}

// ref: skimage/transform/_warps.py:resize (0.19.3) with mode='reflect', preserve_range=True
medsam_status ms_resize_skimage(double *out, const double *in, int h, int w, int c, int oh, int ow,
                                const ms_resize_opts *opts, medsam_error *err) {
    ms_rs_setup p;
    medsam_status st0 = ms_rs_setup_opts(&p, opts, h, w, c, oh, ow, err);
    if (st0) return st0;
    const int order = p.order, clip = p.clip, threads = p.threads;
    const ms_resize_exp exp_kind = p.exp_kind;
    long cc = c > 0 ? c : 1;
    size_t n_in = (size_t)h * (size_t)w * (size_t)cc;

    // ref: _warps.py:resize "img_bounds" — min/max of the float64 input (NaN-aware)
    double lo = NAN, hi = NAN;
    for (size_t i = 0; i < n_in; i++) {
        double v = in[i];
        if (v != v) continue;
        if (lo != lo || v < lo) lo = v;
        if (hi != hi || v > hi) hi = v;
    }

    // anti-aliasing sigma per axis: max(0, (in/out - 1) / 2); the channel axis has factor 1
    double sigma[2] = {p.sigma[0], p.sigma[1]};
    int need_gauss = sigma[0] > 1e-15 || sigma[1] > 1e-15;
    double *work = NULL, *tmp = NULL, *kern = NULL;
    const double *zsrc = in;
    if (need_gauss || order > 1) {
        work = malloc(n_in * sizeof(double));
        if (!work) return ms_error(err, MEDSAM_ERR_NOMEM, "resize: cannot allocate %zu values", n_in);
        memcpy(work, in, n_in * sizeof(double));
        zsrc = work;
    }
    if (need_gauss) {
        tmp = malloc(n_in * sizeof(double));
        int rmax = ms_resize_gaussian_kernel(NULL, sigma[0] > sigma[1] ? sigma[0] : sigma[1], exp_kind);
        kern = malloc(sizeof(double) * (2 * (size_t)rmax + 1));
        if (!tmp || !kern) {
            free(work), free(tmp), free(kern);
            return ms_error(err, MEDSAM_ERR_NOMEM, "resize: cannot allocate %zu values", n_in);
        }
        // ref: scipy/ndimage/_filters.py:gaussian_filter — axes with sigma <= 1e-15 are skipped
        for (int axis = 0; axis < 2; axis++) {
            if (!(sigma[axis] > 1e-15)) continue;
            int r = ms_resize_gaussian_kernel(kern, sigma[axis], exp_kind);
            if (axis == 0) ms_rs_gaussian_axis(tmp, work, 1, h, (long)w * cc, kern, r, threads);
            else ms_rs_gaussian_axis(tmp, work, h, w, cc, kern, r, threads);
            double *sw = work;
            work = tmp, tmp = sw;
        }
        zsrc = work;
        free(tmp), free(kern);
    }
    // ref: _interpolation.py:zoom -> spline_filter(order, mode='mirror') over every axis
    if (order > 1) {
        rs_spline_axis(work, 1, h, (long)w * cc, threads);
        rs_spline_axis(work, h, w, cc, threads);
        if (c > 0) rs_spline_axis(work, (long)h * w, c, 1, threads);
    }
    // ref: _interpolation.py:zoom output_shape = round(in * (1 / (in / out))) must be `out`
    long chk_y = lround((double)h * (1.0 / ((double)h / (double)oh)));
    long chk_x = lround((double)w * (1.0 / ((double)w / (double)ow)));
    if (chk_y != oh || chk_x != ow) {
        free(work);
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "resize: %dx%d -> %dx%d: scipy would round the shape to %ldx%ld",
                        h, w, oh, ow, chk_y, chk_x);
    }
    int rc = rs_zoom(out, zsrc, h, w, c, oh, ow, order, opts ? opts->plain : 0, threads);
    free(work);
    if (rc) return ms_error(err, MEDSAM_ERR_NOMEM, "resize: cannot allocate interpolation tables");
    // ref: _warps.py:_clip_warp_output — np.clip(out, min, max) (NaN passes through)
    if (clip && lo == lo) {
        size_t n_out = (size_t)oh * (size_t)ow * (size_t)cc;
        for (size_t i = 0; i < n_out; i++) {
            double v = out[i];
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            out[i] = v;
        }
    }
    return MEDSAM_OK;
}
