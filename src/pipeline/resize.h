/* resize.h — skimage.transform.resize (scikit-image 0.19.3 on SciPy 1.10),
 * reproduced operation for operation in double precision.
 *
 * What skimage.transform.resize(image, (oh, ow), order, mode='reflect',
 * clip=True, preserve_range=True, anti_aliasing=aa) does, and so what this does:
 *   1. the input is converted to float64 (order > 0);
 *   2. lo/hi = min/max of that input (for the final clip);
 *   3. if aa: scipy.ndimage.gaussian_filter with sigma_axis = max(0, (in/out - 1) / 2)
 *      per axis (0 on the channel axis), truncate 4.0, i.e. a kernel of radius
 *      int(4 * sigma + 0.5) with weights exp(-0.5 x^2 / sigma^2) / sum; an axis with
 *      sigma <= 1e-15 (not downsampled) is skipped; boundary: ndimage 'mirror'
 *      (d c b | a b c d | c b a, the edge sample not repeated);
 *   4. scipy.ndimage.zoom(..., order, mode='mirror', grid_mode=True): for order > 1
 *      a B-spline prefilter (pole sqrt(3)-2 for order 3, exact mirror initialisation)
 *      along EVERY axis including the channel axis, then for each output index k the
 *      input coordinate ((k + 0.5) * (in/out)) - 0.5, mirrored into [0, in-1], and the
 *      tensor-product B-spline sum over all axes (channel axis included, where it
 *      reproduces the input channel up to rounding);
 *   5. clip to [lo, hi].
 * The sum is accumulated in SciPy's order (row tap, then column tap, then channel
 * tap, each term ((f * w_row) * w_col) * w_chan), so results are bit-exact with SciPy.
 * One platform dependence remains in the official pipeline itself: the Gaussian weights
 * come from np.exp, which on AVX-512 x86-64 CPUs is Intel SVML's exp (up to ~1 ulp off)
 * and elsewhere the C library's exp. A 1-ulp weight change moves flat image regions
 * across an integer and flips their uint8 truncation (about 1% of pixels for a 2048 ->
 * 1024 image with large flat areas), so both are available (ms_resize_exp).
 *
 * Array layout: C order, (h, w, c) with the channel axis last; c == 0 means a
 * plain 2-D (h, w) array (SciPy then has rank 2, which rounds differently from a
 * (h, w, 1) array). The output keeps the channel count. */
#ifndef MS_RESIZE_H
#define MS_RESIZE_H
#include "medsam.h"

typedef enum {
    MS_EXP_NUMPY_AVX512 = 0, /* NumPy >= 1.22 on AVX-512 (SKX) x86-64: SVML exp (default) */
    MS_EXP_LIBM = 1,         /* NumPy elsewhere (no AVX-512, ARM): the C library's exp */
} ms_resize_exp;

typedef struct {
    int order;         /* spline order: 0 (nearest), 1 (linear) or 3 (cubic B-spline) */
    int anti_aliasing; /* nonzero: Gaussian smoothing of downsampled axes (order 1 or 3 only) */
    int clip;          /* nonzero: clip the result to the input's [min, max] */
    int threads;       /* OpenMP threads; <= 0 uses the OpenMP default */
    ms_resize_exp exp_kind; /* which np.exp the Gaussian weights reproduce */
    int plain;              /* nonzero: the plain one-pixel-at-a-time interpolation kernel (tests) */
    int src_grey;           /* ms_resize_skimage_rows only: the source gives one value per pixel that stands
                               for all c channels (grey replicated to RGB); computed once, same bits */
} ms_resize_opts;

/* Resizes `in` (h, w[, c]) to `out` (oh, ow[, c]). Sizes must be >= 1 and each side
 * <= 65536 pixels. Returns MEDSAM_ERR_ARG for bad sizes/order, MEDSAM_ERR_NOMEM when
 * the work buffers cannot be allocated. `in` and `out` must not overlap. */
medsam_status ms_resize_skimage(double *out, const double *in, int h, int w, int c, int oh, int ow,
                                const ms_resize_opts *opts, medsam_error *err);

/* A source of input rows for ms_resize_skimage_rows: fills row (w[, c]) float64 values
 * of input row y (0 <= y < h). Called from several threads at once, rows in any order,
 * a row possibly more than once; it must give the same values every time. */
typedef void (*ms_resize_row_fn)(void *ctx, long y, double *row);

/* The same resize as ms_resize_skimage, same bits, with the input given row by row and
 * the intermediates kept in bands of about sqrt(h) rows (resize_stream.c): working memory
 * O((sqrt(h) + r) * w * c) float64 values, r the anti-aliasing kernel radius, not O(h * w * c).
 * The input must hold no -0.0 (integer samples never do); one that does gets
 * MEDSAM_ERR_UNSUPPORTED (then use ms_resize_skimage). */
medsam_status ms_resize_skimage_rows(double *out, ms_resize_row_fn src, void *ctx, int h, int w, int c, int oh, int ow,
                                     const ms_resize_opts *opts, medsam_error *err);

/* The Gaussian kernel of scipy.ndimage.gaussian_filter1d(sigma, truncate=4.0):
 * returns the radius r = int(4 sigma + 0.5) and, when `weights` is not NULL, fills
 * weights[0..2r] (x = -r..r). Exposed for tests. */
int ms_resize_gaussian_kernel(double *weights, double sigma, ms_resize_exp exp_kind);

#endif
