/* resize_internal.h — private to src/pipeline: the pieces of resize.c that the banded
 * resize (resize_stream.c) runs on rows instead of whole arrays. Each does exactly the
 * arithmetic of the whole-image path, so both give the same bits. */
#ifndef MS_RESIZE_INTERNAL_H
#define MS_RESIZE_INTERNAL_H

#include "pipeline/resize.h"

#define RS_SPLINE_POLE -0.267949192431122706472553658494127633 /* order 3: z = sqrt(3) - 2 */

/* ndimage 'mirror' of an integer index into [0, n). */
long ms_rs_mirror_index(long i, long n);

/* Gaussian along one axis of src (outer, n, inner) into dst (distinct buffers). */
void ms_rs_gaussian_axis(double *dst, const double *src, long outer, long n, long inner, const double *weights,
                         int radius, int threads);

/* The order-3 spline prefilter of lines base[k*inner + i], k < n, i in [i0, i1), in place;
 * z_n_1 = pow(RS_SPLINE_POLE, n - 1). */
void ms_rs_spline_lines(double *base, long n, long inner, long i0, long i1, double z_n_1);
/* ms_rs_spline_lines along the channels of each of npix pixels of c (>= 2) interleaved
 * channels: the channel axis's prefilter of one image row, the same operations per value. */
void ms_rs_spline_pixels(double *row, long npix, long c, double z_n_1);

/* Per-axis zoom taps: idx, wt (on, order + 1). */
void ms_rs_zoom_taps(long *idx, double *wt, long n, long on, int order);

/* One output row o (ow, c) from the `taps` input rows rows[a] (w, c) with row weights vy;
 * ix, wx: column taps; ic, wc: channel taps (c > 0); g, t: (max(c, 1), 8) scratch.
 * plain: the one-pixel-at-a-time kernel (same bits). */
void ms_rs_zoom_row(double *o, const double *const *rows, long c, long ow, int taps, const double *vy, const long *ix,
                    const double *wx, const long *ic, const double *wc, int plain, double *g, double *t);

/* Options resolved (defaults, thread count) and checked, and the anti-aliasing sigmas (y, x). */
typedef struct {
    int order, aa, clip, threads;
    ms_resize_exp exp_kind;
    double sigma[2];
} ms_rs_setup;
medsam_status ms_rs_setup_opts(ms_rs_setup *p, const ms_resize_opts *opts, int h, int w, int c, int oh, int ow,
                               medsam_error *err);

#endif
