/* resize_stream.c — ms_resize_skimage_rows: skimage's resize (resize.c) computed in bands
 * of rows, so that the float64 intermediates never exist for the whole image.
 *
 * The whole-image path runs, in this order: Gaussian along rows (axis 0), Gaussian along
 * columns (axis 1), the spline prefilter along axis 0, along axis 1 and along the channel
 * axis, then the zoom. Everything but the axis-0 prefilter works within one input row (or
 * a window of 2r + 1 rows for the axis-0 Gaussian), so it is recomputed per band. The
 * axis-0 prefilter is a recursion down each whole column and back up:
 *   causal:     C[0] = (gain G[0] + z^(n-1) gain G[n-1] + sum_k z^k (gain G[k] + z^(n-1) gain G[n-1-k])) / (1 - z^(2n-2))
 *               C[k] = gain G[k] + z C[k-1]
 *   anticausal: A[n-1] = ((z C[n-2] + C[n-1]) z) / (z^2 - 1),  A[k] = z (A[k+1] - C[k])
 * It is done exactly, in three passes over the bands:
 *   1. C[0]: once n - 1 is past ~570, pow(z, n - 1) is exactly +-0 and so is z^k for k past
 *      ~570: those terms add +-0 and change nothing (C[0] is never -0 when no G is -0,
 *      which is checked), so only the first rows are read;
 *   2. the causal recursion top to bottom, keeping C of the last row of every band;
 *   3. bands bottom to top: the band's C again from the row kept above it, then the
 *      anticausal recursion from the row carried up from the band below; each finished
 *      band is filtered along axis 1 and the channels and the output rows whose taps it
 *      (with the band below) holds are interpolated.
 * Every value goes through the same operations in the same order as in resize.c, so the
 * two give the same bits (tests/test_preprocess.c compares them). Shorter images (n - 1
 * below ~570, where z^(n-1) is not 0) are one band: the whole-image recursion on it.
 * Working memory: (2 + n / B) rows for the bands and the kept rows plus B + 2r rows of input
 * window, B = sqrt(n) rows (at least 16), each row w * c float64 values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/resize.h"
#include "pipeline/resize_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ST_COLS 256 /* columns per task in the recursions */

typedef struct {
    ms_resize_row_fn src;
    void *ctx;
    long h, w, c, cc;      /* cc = max(c, 1) */
    long sc, len;          /* channels through the passes (1 for a grey source), len = w * sc values per row */
    long olen;             /* w * cc values per finished row */
    int grey;              /* the source gives one value per pixel for all c channels */
    int threads, plain, order;
    const double *k0, *k1; /* Gaussian weights per axis, NULL when that axis is not smoothed */
    int r0, r1;
    int gain_in_band; /* multiply band rows by the axis-0 spline gain (the multi-band recursion) */
    double *win;      /* (B + 2 r0, len) input rows of a band and its Gaussian margin */
    double *scratch;  /* (threads, len) axis-0 Gaussian rows */
} st_ctx;

static int st_thread(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int st_is_neg_zero(double v) { return v == 0 && signbit(v); }

/* The symmetric Gaussian sum of values i0..i1-1: d[i] = x[i] c[0], then d[i] += (x[i - j step]
 * + x[i + j step]) c[-j] for j = r..1 (ni_filters.c's order), every tap in range. A chunk of
 * values stays in registers across the taps (the value-by-value order is unchanged, so the
 * same bits as a pass over the row per tap, without rereading and rewriting d per tap). */
#define ST_CHUNK 32
static void st_sym_taps(double *d, const double *x, long i0, long i1, long step, const double *c, int r) {
    for (long a = i0; a < i1; a += ST_CHUNK) {
        const long n = i1 - a < ST_CHUNK ? i1 - a : ST_CHUNK;
        double acc[ST_CHUNK];
        for (long k = 0; k < n; k++) acc[k] = x[a + k] * c[0];
        for (long j = r; j >= 1; j--) {
            const double *lo = x + a - j * step, *hi = x + a + j * step, wj = c[-j];
            for (long k = 0; k < n; k++) acc[k] += (lo[k] + hi[k]) * wj;
        }
        memcpy(d + a, acc, sizeof(double) * n);
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
/* st_sym_taps with 16 values in four AVX vectors: the same multiplies and adds per value
 * (no fused multiply-add), so the same bits; the tail through st_sym_taps. */
__attribute__((target("avx"))) static void st_sym_taps_avx(double *d, const double *x, long i0, long i1, long step,
                                                           const double *c, int r) {
    long a = i0;
    for (; a + 16 <= i1; a += 16) {
        const __m256d c0 = _mm256_set1_pd(c[0]);
        __m256d s0 = _mm256_mul_pd(_mm256_loadu_pd(x + a), c0), s1 = _mm256_mul_pd(_mm256_loadu_pd(x + a + 4), c0);
        __m256d s2 = _mm256_mul_pd(_mm256_loadu_pd(x + a + 8), c0), s3 = _mm256_mul_pd(_mm256_loadu_pd(x + a + 12), c0);
        for (long j = r; j >= 1; j--) {
            const double *lo = x + a - j * step, *hi = x + a + j * step;
            const __m256d wj = _mm256_set1_pd(c[-j]);
            s0 = _mm256_add_pd(s0, _mm256_mul_pd(_mm256_add_pd(_mm256_loadu_pd(lo), _mm256_loadu_pd(hi)), wj));
            s1 = _mm256_add_pd(s1, _mm256_mul_pd(_mm256_add_pd(_mm256_loadu_pd(lo + 4), _mm256_loadu_pd(hi + 4)), wj));
            s2 = _mm256_add_pd(s2, _mm256_mul_pd(_mm256_add_pd(_mm256_loadu_pd(lo + 8), _mm256_loadu_pd(hi + 8)), wj));
            s3 = _mm256_add_pd(s3, _mm256_mul_pd(_mm256_add_pd(_mm256_loadu_pd(lo + 12), _mm256_loadu_pd(hi + 12)), wj));
        }
        _mm256_storeu_pd(d + a, s0), _mm256_storeu_pd(d + a + 4, s1);
        _mm256_storeu_pd(d + a + 8, s2), _mm256_storeu_pd(d + a + 12, s3);
    }
    st_sym_taps(d, x, a, i1, step, c, r);
}

static void st_sym(double *d, const double *x, long i0, long i1, long step, const double *c, int r) {
    if (__builtin_cpu_supports("avx")) st_sym_taps_avx(d, x, i0, i1, step, c, r);
    else st_sym_taps(d, x, i0, i1, step, c, r);
}
#else
static void st_sym(double *d, const double *x, long i0, long i1, long step, const double *c, int r) {
    st_sym_taps(d, x, i0, i1, step, c, r);
}
#endif

/* The Gaussian along one row (w, sc) into d: ms_rs_gaussian_axis(d, s, 1, w, sc, ...) with the
 * same operations per value (d = s[x] w0, then d += (s[x-j] + s[x+j]) wj for j = r..1): the
 * pixels whose taps all stay inside the row through st_sym, only the edges mirrored. */
static void st_gauss_row(double *d, const double *s, long w, long sc, const double *weights, int r) {
    const double *center = weights + r;
    const long in_lo = r < w ? r : w, in_hi = w - r > in_lo ? w - r : in_lo;  // pixels [in_lo, in_hi): no mirror
    st_sym(d, s, in_lo * sc, in_hi * sc, sc, center, r);
    for (long x = 0; x < w; x++) {
        if (x == in_lo) x = in_hi;
        if (x >= w) break;
        for (long k = 0; k < sc; k++) d[x * sc + k] = s[x * sc + k] * center[0];
        for (long j = r; j >= 1; j--) {
            const double wj = center[-j];
            const double *a = s + ms_rs_mirror_index(x - j, w) * sc, *b = s + ms_rs_mirror_index(x + j, w) * sc;
            for (long k = 0; k < sc; k++) d[x * sc + k] += (a[k] + b[k]) * wj;
        }
    }
}

/* dst (b1 - b0, len): rows b0..b1-1 after the Gaussian (and the gain when gain_in_band).
 * ref: ni_filters.c:NI_Correlate1D (see resize.c:ms_rs_gaussian_axis), one row at a time. */
static void st_band(const st_ctx *s, double *dst, long b0, long b1) {
    const long len = s->len, r0 = s->k0 ? s->r0 : 0, nwin = b1 - b0 + 2 * r0;
    const double gain = 1.0 * ((1.0 - RS_SPLINE_POLE) * (1.0 - 1.0 / RS_SPLINE_POLE));
#pragma omp parallel num_threads(s->threads) if (s->threads != 1)
    {
#pragma omp for schedule(static)
        for (long t = 0; t < nwin; t++) s->src(s->ctx, ms_rs_mirror_index(b0 - r0 + t, s->h), s->win + t * len);
#pragma omp for schedule(static)
        for (long y = b0; y < b1; y++) {
            double *d = dst + (y - b0) * len;
            double *g0 = s->k1 ? s->scratch + (long)st_thread() * len : d;
            const double *xr = s->win + (y - b0 + r0) * len;
            if (s->k0) {
                st_sym(g0, xr, 0, len, len, s->k0 + r0, (int)r0);  // the window holds every tap's row
            } else {
                memcpy(g0, xr, sizeof(double) * len);
            }
            if (s->k1) st_gauss_row(d, g0, s->w, s->sc, s->k1, s->r1);
            if (s->gain_in_band)
                for (long i = 0; i < len; i++) d[i] *= gain;
        }
    }
}

/* The prefilter along axis 1 (order 3), then a grey band's values copied to every channel
 * into `out` (otherwise out is band), then the prefilter along the channels (order 3).
 * Until the channel filter every channel goes through the same operations on the same
 * values, so computing one and copying it gives the same bits as computing all. */
static void st_finish_rows(const st_ctx *s, double *band, double *out, long rows) {
    const double z_w = pow(RS_SPLINE_POLE, (double)(s->w - 1)), z_c = pow(RS_SPLINE_POLE, (double)(s->c - 1));
    const int spline = s->order > 1;
#pragma omp parallel for schedule(static) num_threads(s->threads) if (s->threads != 1)
    for (long y = 0; y < rows; y++) {
        double *row = band + y * s->len, *o = out + y * s->olen;
        if (spline && s->w > 1) ms_rs_spline_lines(row, s->w, s->sc, 0, s->sc, z_w);
        if (s->grey)
            for (long x = 0; x < s->w; x++)
                for (long k = 0; k < s->cc; k++) o[x * s->cc + k] = row[x];
        if (spline && s->c > 1) ms_rs_spline_pixels(o, s->w, s->c, z_c);
    }
}

/* C rows of a band in place: row k = gain G[k] + z C[k-1], C[-1] given by `above` (NULL for
 * the first band, whose row 0 is replaced by c0). ref: ni_splines.c:apply_filter, causal loop. */
static void st_causal(const st_ctx *s, double *band, long rows, const double *above, const double *c0) {
    const double z = RS_SPLINE_POLE;
    const long len = s->len;
#pragma omp parallel for schedule(static) num_threads(s->threads) if (s->threads != 1)
    for (long i0 = 0; i0 < len; i0 += ST_COLS) {
        long i1 = i0 + ST_COLS < len ? i0 + ST_COLS : len;
        long k = 0;
        if (!above) {
            memcpy(band + i0, c0 + i0, sizeof(double) * (i1 - i0));
            k = 1;
        }
        for (; k < rows; k++) {
            double *ck = band + k * len;
            const double *cp = k ? ck - len : above;
            for (long i = i0; i < i1; i++) ck[i] += z * cp[i];
        }
    }
}

/* A rows of a band in place from its C rows. Last band: A[n-1] from C[n-1] and C[n-2]
 * (`above` when the band is one row); else the row below is `below` (A[b1]).
 * ref: ni_splines.c:apply_filter, anticausal initialisation and loop. */
static void st_anticausal(const st_ctx *s, double *band, long rows, const double *above, const double *below) {
    const double z = RS_SPLINE_POLE;
    const long len = s->len;
#pragma omp parallel for schedule(static) num_threads(s->threads) if (s->threads != 1)
    for (long i0 = 0; i0 < len; i0 += ST_COLS) {
        long i1 = i0 + ST_COLS < len ? i0 + ST_COLS : len;
        double *cl = band + (rows - 1) * len;
        if (!below) {
            const double *cp = rows > 1 ? cl - len : above;
            for (long i = i0; i < i1; i++) cl[i] = (z * cp[i] + cl[i]) * z / (z * z - 1);
        } else {
            for (long i = i0; i < i1; i++) cl[i] = z * (below[i] - cl[i]);
        }
        for (long k = rows - 2; k >= 0; k--) {
            double *ck = band + k * len;
            const double *cn = ck + len;
            for (long i = i0; i < i1; i++) ck[i] = z * (cn[i] - ck[i]);
        }
    }
}

typedef struct {
    long *iy, *ix, *ic;
    double *wy, *wx, *wc;
    int taps;
    long oh, ow;
    char *done; /* (oh) output rows written */
    long *todo; /* (oh) rows to write now */
} st_zoom;

/* Writes every output row not yet written whose taps lie in rows [b0, b1) (`band`) and
 * [b1, b1 + nbelow) (`below`). Returns -1 when a row needs a row no longer held (a bug). */
static int st_zoom_rows(const st_ctx *s, st_zoom *z, double *out, const double *band, long b0, long b1,
                        const double *below, long nbelow) {
    long n = 0;
    for (long oy = 0; oy < z->oh; oy++) {
        if (z->done[oy]) continue;
        long lo = z->iy[oy * z->taps], hi = lo;
        for (int a = 1; a < z->taps; a++) {
            long r = z->iy[oy * z->taps + a];
            lo = r < lo ? r : lo;
            hi = r > hi ? r : hi;
        }
        if (lo < b0) continue;
        if (hi >= b1 + nbelow) return -1;
        z->done[oy] = 1;
        z->todo[n++] = oy;
    }
    int failed = 0;
    const long len = s->olen;
#pragma omp parallel num_threads(s->threads) if (s->threads != 1 && n > 1)
    {
        double *g = calloc((size_t)s->cc * 8, sizeof(double)), *t = malloc(sizeof(double) * s->cc * 8);
        if (!g || !t) {
#pragma omp atomic write
            failed = 1;
        } else {
#pragma omp for schedule(static)
            for (long j = 0; j < n; j++) {
                long oy = z->todo[j];
                const double *rows[4];
                for (int a = 0; a < z->taps; a++) {
                    long r = z->iy[oy * z->taps + a];
                    rows[a] = r < b1 ? band + (r - b0) * len : below + (r - b1) * len;
                }
                ms_rs_zoom_row(out + oy * z->ow * s->cc, rows, s->c, z->ow, z->taps, z->wy + oy * z->taps, z->ix,
                               z->wx, z->ic, z->wc, s->plain, g, t);
            }
        }
        free(g);
        free(t);
    }
    return failed ? -2 : 0;
}

/* C[0] of every column when pow(z, n - 1) is 0 (pass 1), into c0 (len). Returns -1 when a
 * -0 makes the shortened sum differ from the whole one. */
static int st_first_row(const st_ctx *s, double *band, long B, double z_n_1, double *c0) {
    const double z = RS_SPLINE_POLE;
    const long n = s->h, len = s->len;
    double zk[1200]; /* z^k until it underflows to +-0 (k < ~1080 even through subnormals) */
    long kend = 0;   /* last k with z^k != 0 that the sum reaches */
    double zz = z;
    for (long k = 1; k <= n - 2 && zz != 0 && k < 1200; k++) {
        zk[k] = zz;
        kend = k;
        zz *= z;
    }
    if (zz != 0 && kend < n - 2) return -1;
    int bad = 0;
    for (long b0 = 0; b0 <= kend; b0 += B) {
        long b1 = b0 + B <= kend + 1 ? b0 + B : kend + 1;
        st_band(s, band, b0, b1);
#pragma omp parallel for schedule(static) num_threads(s->threads) if (s->threads != 1) reduction(| : bad)
        for (long i0 = 0; i0 < len; i0 += ST_COLS) {
            long i1 = i0 + ST_COLS < len ? i0 + ST_COLS : len;
            for (long k = b0; k < b1; k++) {
                const double *g = band + (k - b0) * len;
                for (long i = i0; i < i1; i++) {
                    bad |= st_is_neg_zero(g[i]);
                    if (k == 0) c0[i] = g[i];  // + pow(z, n-1) G[n-1], which is +-0
                    else c0[i] += zk[k] * g[i];  // (G[k] + pow(z, n-1) G[n-1-k]) is G[k]
                }
            }
        }
    }
    const double denom = 1 - z_n_1 * z_n_1;
    for (long i = 0; i < len; i++) {
        bad |= st_is_neg_zero(c0[i]); /* -0 + (+-0 terms skipped) could differ */
        c0[i] /= denom;
    }
    return bad ? -1 : 0;
}

// ref: skimage/transform/_warps.py:resize (0.19.3), as ms_resize_skimage, in bands of rows
medsam_status ms_resize_skimage_rows(double *out, ms_resize_row_fn src, void *ctx, int h, int w, int c, int oh, int ow,
                                     const ms_resize_opts *opts, medsam_error *err) {
    ms_rs_setup p;
    medsam_status st0 = ms_rs_setup_opts(&p, opts, h, w, c, oh, ow, err);
    if (st0) return st0;
    const int order = p.order, clip = p.clip, threads = p.threads;
    const ms_resize_exp exp_kind = p.exp_kind;
    long chk_y = lround((double)h * (1.0 / ((double)h / (double)oh)));
    long chk_x = lround((double)w * (1.0 / ((double)w / (double)ow)));
    if (chk_y != oh || chk_x != ow)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "resize: %dx%d -> %dx%d: scipy would round the shape to %ldx%ld",
                        h, w, oh, ow, chk_y, chk_x);

    st_ctx s = {.src = src, .ctx = ctx, .h = h, .w = w, .c = c, .cc = c > 0 ? c : 1, .threads = threads,
                .plain = opts ? opts->plain : 0, .order = order, .grey = opts && opts->src_grey && c > 1};
    s.sc = s.grey ? 1 : s.cc;
    s.len = s.w * s.sc;
    s.olen = s.w * s.cc;
    double sigma[2] = {p.sigma[0], p.sigma[1]};
    const int spline0 = order > 1 && h > 1;
    const double z_h = pow(RS_SPLINE_POLE, (double)(h - 1));
    const int multi = spline0 && z_h == 0; /* else one band, or independent bands when !spline0 */
    long B = (long)ceil(sqrt((double)h));
    B = B < 16 ? 16 : B;
    if (spline0 && !multi) B = h;
    if (B > h) B = h;
    const long nbands = (h + B - 1) / B;
    s.r0 = sigma[0] > 1e-15 ? ms_resize_gaussian_kernel(NULL, sigma[0], exp_kind) : 0;
    s.r1 = sigma[1] > 1e-15 ? ms_resize_gaussian_kernel(NULL, sigma[1], exp_kind) : 0;
    s.gain_in_band = multi;

    st_zoom z = {.taps = order + 1, .oh = oh, .ow = ow};
    double *k0 = sigma[0] > 1e-15 ? malloc(sizeof(double) * (2 * (size_t)s.r0 + 1)) : NULL;
    double *k1 = sigma[1] > 1e-15 ? malloc(sizeof(double) * (2 * (size_t)s.r1 + 1)) : NULL;
    size_t L = (size_t)s.len;
    double *cur = malloc(sizeof(double) * L * B), *below = malloc(sizeof(double) * L * B);
    double *fcur = s.grey ? malloc(sizeof(double) * s.olen * B) : cur;   /* finished rows (all channels) */
    double *fbelow = s.grey ? malloc(sizeof(double) * s.olen * B) : below;
    double *keep = multi ? malloc(sizeof(double) * L * (nbands + 2)) : NULL; /* C of each band's last row, C[0], carry */
    s.win = malloc(sizeof(double) * L * (B + 2 * (size_t)s.r0));
    s.scratch = malloc(sizeof(double) * L * threads);
    z.iy = malloc(sizeof(long) * z.taps * oh), z.ix = malloc(sizeof(long) * z.taps * ow);
    z.ic = malloc(sizeof(long) * z.taps * s.cc);
    z.wy = malloc(sizeof(double) * z.taps * oh), z.wx = malloc(sizeof(double) * z.taps * ow);
    z.wc = malloc(sizeof(double) * z.taps * s.cc);
    z.done = calloc(oh, 1), z.todo = malloc(sizeof(long) * oh);
    medsam_status st = MEDSAM_OK;
    if ((sigma[0] > 1e-15 && !k0) || (sigma[1] > 1e-15 && !k1) || !cur || !below || !fcur || !fbelow ||
        (multi && !keep) || !s.win ||
        !s.scratch || !z.iy || !z.ix || !z.ic || !z.wy || !z.wx || !z.wc || !z.done || !z.todo) {
        st = ms_error(err, MEDSAM_ERR_NOMEM, "resize: cannot allocate the bands of %ld rows of %ld values", B, s.len);
        goto done;
    }
    if (k0) ms_resize_gaussian_kernel(k0, sigma[0], exp_kind);
    if (k1) ms_resize_gaussian_kernel(k1, sigma[1], exp_kind);
    s.k0 = k0, s.k1 = k1;
    ms_rs_zoom_taps(z.iy, z.wy, h, oh, order);
    ms_rs_zoom_taps(z.ix, z.wx, w, ow, order);
    if (c > 0) ms_rs_zoom_taps(z.ic, z.wc, c, c, order);

    // ref: _warps.py:resize "img_bounds": min/max of the input, rows in order (as the whole-image scan)
    double lo = NAN, hi = NAN;
    for (long y = 0; y < h; y++) {
        src(ctx, y, cur);
        for (long i = 0; i < s.len; i++) {
            double v = cur[i];
            if (v != v) continue;
            if (lo != lo || v < lo) lo = v;
            if (hi != hi || v > hi) hi = v;
        }
    }

    double *c0 = multi ? keep + L * nbands : NULL, *carry = multi ? keep + L * (nbands + 1) : NULL;
    if (multi) {
        // pass 1: C[0]; pass 2: causal recursion, keeping C of each band's last row
        if (st_first_row(&s, cur, B, z_h, c0)) {
            st = ms_error(err, MEDSAM_ERR_UNSUPPORTED, "resize: the banded path does not take -0 values");
            goto done;
        }
        for (long b = 0; b < nbands; b++) {
            long b0 = b * B, b1 = b0 + B < h ? b0 + B : h;
            st_band(&s, cur, b0, b1);
            st_causal(&s, cur, b1 - b0, b ? keep + L * (b - 1) : NULL, c0);
            memcpy(keep + L * b, cur + L * (b1 - 1 - b0), sizeof(double) * L);
        }
    }
    // bands bottom to top: finish the prefilter, then interpolate the output rows they hold
    long nbelow = 0;
    for (long b = nbands - 1; b >= 0; b--) {
        long b0 = b * B, b1 = b0 + B < h ? b0 + B : h, rows = b1 - b0;
        st_band(&s, cur, b0, b1);
        if (multi) {
            const double *above = b ? keep + L * (b - 1) : NULL;
            st_causal(&s, cur, rows, above, c0);
            st_anticausal(&s, cur, rows, above, b == nbands - 1 ? NULL : carry);
            memcpy(carry, cur, sizeof(double) * L);
        } else if (spline0) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads != 1)
            for (long i0 = 0; i0 < s.len; i0 += ST_COLS)
                ms_rs_spline_lines(cur, h, s.len, i0, i0 + ST_COLS < s.len ? i0 + ST_COLS : s.len, z_h);
        }
        st_finish_rows(&s, cur, fcur, rows);
        int rc = st_zoom_rows(&s, &z, out, fcur, b0, b1, fbelow, nbelow);
        if (rc) {
            st = rc == -1 ? ms_error(err, MEDSAM_ERR_ARG, "resize: band %ld misses rows (internal error)", b)
                          : ms_error(err, MEDSAM_ERR_NOMEM, "resize: cannot allocate interpolation scratch");
            goto done;
        }
        double *sw = fbelow;
        fbelow = fcur, fcur = sw;
        if (!s.grey) below = fbelow, cur = fcur;  /* the same buffers */
        nbelow = rows;
    }
    // ref: _warps.py:_clip_warp_output — np.clip(out, min, max) (NaN passes through)
    if (clip && lo == lo) {
        size_t n_out = (size_t)oh * (size_t)ow * (size_t)s.cc;
        for (size_t i = 0; i < n_out; i++) {
            double v = out[i];
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            out[i] = v;
        }
    }
done:
    if (s.grey) free(fcur), free(fbelow);
    free(k0), free(k1), free(cur), free(below), free(keep), free(s.win), free(s.scratch);
    free(z.iy), free(z.ix), free(z.ic), free(z.wy), free(z.wx), free(z.wc), free(z.done), free(z.todo);
    return st;
}
