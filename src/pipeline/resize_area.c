/* resize_area.c — OpenCV 4.6 INTER_AREA on uint8 images (see resize_area.h). */
#include "pipeline/resize_area.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* OpenCV's baseline (SSE2) build has no fused multiply-adds */
#endif

/* saturate_cast<uchar>(float): cvRound (half to even), then clamp. */
static uint8_t sat_u8f(float v) {
    long r = lrintf(v);
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

static int cv_floor(double v) {
    int i = (int)v;
    return i - (i > v);
}

static int cv_ceil(double v) {
    int i = (int)v;
    return i + (i < v);
}

// ref: resize.cpp:resizeAreaFast_ with ResizeAreaFastVec<uchar, ResizeAreaFastVec_SIMD_8u>
static void area_fast(const uint8_t *in, int sw, int cn, uint8_t *out, int dw, int dh, int ix, int iy) {
    const int area = ix * iy;
    const float scale = 1.f / (float)area;
    const int two = ix == 2 && iy == 2 && (cn == 1 || cn == 3 || cn == 4);
    const size_t sstep = (size_t)sw * cn;
    for (int dy = 0; dy < dh; dy++) {
        const uint8_t *S = in + (size_t)dy * iy * sstep;
        uint8_t *D = out + (size_t)dy * dw * cn;
        for (int dx = 0; dx < dw; dx++)
            for (int c = 0; c < cn; c++) {
                const uint8_t *p = S + (size_t)dx * ix * cn + c;
                if (two) {  // (a + b + c + d + 2) >> 2, SIMD and scalar tail alike
                    D[dx * cn + c] = (uint8_t)((p[0] + p[cn] + p[sstep] + p[sstep + cn] + 2) >> 2);
                    continue;
                }
                int sum = 0;
                for (int y = 0; y < iy; y++)
                    for (int x = 0; x < ix; x++) sum += p[(size_t)y * sstep + (size_t)x * cn];
                D[dx * cn + c] = sat_u8f((float)sum * scale);
            }
    }
}

typedef struct {
    int di, si;
    float alpha;
} area_tab;

// ref: resize.cpp:computeResizeAreaTab — returns the number of entries (at most 2 * ssize)
static int area_table(int ssize, int dsize, int cn, double scale, area_tab *tab) {
    int k = 0;
    for (int dx = 0; dx < dsize; dx++) {
        double fsx1 = dx * scale, fsx2 = fsx1 + scale;
        double cell = scale < ssize - fsx1 ? scale : ssize - fsx1;
        int sx1 = cv_ceil(fsx1), sx2 = cv_floor(fsx2);
        sx2 = sx2 < ssize - 1 ? sx2 : ssize - 1;
        sx1 = sx1 < sx2 ? sx1 : sx2;
        if (sx1 - fsx1 > 1e-3) tab[k++] = (area_tab){dx * cn, (sx1 - 1) * cn, (float)((sx1 - fsx1) / cell)};
        for (int sx = sx1; sx < sx2; sx++) tab[k++] = (area_tab){dx * cn, sx * cn, (float)(1.0 / cell)};
        if (fsx2 - sx2 > 1e-3) {
            double part = fsx2 - sx2 < 1. ? fsx2 - sx2 : 1.;
            tab[k++] = (area_tab){dx * cn, sx2 * cn, (float)((part < cell ? part : cell) / cell)};
        }
    }
    return k;
}

/* Destination rows [dy0, dy1) of the exact-area resize from the tables: the table entries of
 * those rows, in table order; buf: 2W floats of this caller's own (buf, sum).
 * ref: resize.cpp:ResizeArea_Invoker<uchar, float>::operator() on the range [dy0, dy1) --
 * OpenCV starts each range at its first table entry (ytab_ofs), so every row gets the
 * same arithmetic whatever the ranges. */
static void area_general_rows(const uint8_t *in, int sw, int cn, uint8_t *out, int W, const area_tab *xt, int nx,
                              const area_tab *yt, int ny, int dy0, int dy1, float *buf) {
    float *sum = buf + W;  // (W) the destination row being summed
    int j = 0;
    while (j < ny && yt[j].di < dy0) j++;
    int prev_dy = dy0;
    for (int x = 0; x < W; x++) sum[x] = 0.f;
    for (; j < ny && yt[j].di < dy1; j++) {
        const float beta = yt[j].alpha;
        const int dy = yt[j].di;
        const uint8_t *S = in + (size_t)yt[j].si * sw * cn;
        for (int x = 0; x < W; x++) buf[x] = 0.f;
        for (int k = 0; k < nx; k++) {
            const float a = xt[k].alpha;
            for (int c = 0; c < cn; c++) buf[xt[k].di + c] = buf[xt[k].di + c] + (float)S[xt[k].si + c] * a;
        }
        if (dy != prev_dy) {
            uint8_t *D = out + (size_t)prev_dy * W;
            for (int x = 0; x < W; x++) {
                D[x] = sat_u8f(sum[x]);
                sum[x] = beta * buf[x];
            }
            prev_dy = dy;
        } else {
            for (int x = 0; x < W; x++) sum[x] = sum[x] + beta * buf[x];
        }
    }
    uint8_t *D = out + (size_t)prev_dy * W;
    for (int x = 0; x < W; x++) D[x] = sat_u8f(sum[x]);
}

// ref: resize.cpp:ResizeArea_Invoker<uchar, float> under parallel_for_: destination row ranges
static medsam_status area_general(const uint8_t *in, int sw, int sh, int cn, uint8_t *out, int dw, int dh,
                                  double sx, double sy, int nthreads, medsam_error *err) {
    const int W = dw * cn;
    if (nthreads > dh) nthreads = dh;
    if (nthreads < 1) nthreads = 1;
    area_tab *xt = malloc(sizeof(area_tab) * 2 * ((size_t)sw + sh));
    float *bufs = malloc(sizeof(float) * 2 * (size_t)W * nthreads);  // per range: buf (W), sum (W)
    if (!xt || !bufs) {
        free(xt), free(bufs);
        return ms_error(err, MEDSAM_ERR_NOMEM, "resize: cannot allocate the area tables");
    }
    area_tab *yt = xt + 2 * (size_t)sw;
    const int nx = area_table(sw, dw, cn, sx, xt), ny = area_table(sh, dh, 1, sy, yt);
#pragma omp parallel for num_threads(nthreads) schedule(static, 1) if (nthreads > 1)
    for (int r = 0; r < nthreads; r++)
        area_general_rows(in, sw, cn, out, W, xt, nx, yt, ny, (int)((long)dh * r / nthreads),
                          (int)((long)dh * (r + 1) / nthreads), bufs + (size_t)2 * W * r);
    free(xt), free(bufs);
    return MEDSAM_OK;
}

/* saturate_cast<short>(w * INTER_RESIZE_COEF_SCALE) */
static int coef(float w) {
    long r = lrintf(w * 2048.f);
    return (int)(r < -32768 ? -32768 : r > 32767 ? 32767 : r);
}

/* One axis of the bilinear emulation in area mode: source index and the two
 * fixed-point weights per destination index; *lo / *hi as xmin / xmax. */
static void linear_axis(int ssize, int dsize, double scale, double inv, int clamp, int *ofs, int *w0, int *w1,
                        int *hi) {
    *hi = dsize;
    for (int d = 0; d < dsize; d++) {
        int s = cv_floor(d * scale);
        float f = (float)((d + 1) - (s + 1) * inv);
        f = f <= 0 ? 0.f : f - (float)cv_floor(f);
        if (clamp) {
            if (s < 0) f = 0, s = 0;
            if (s + 1 >= ssize) {
                if (d < *hi) *hi = d;
                if (s >= ssize - 1) f = 0, s = ssize - 1;
            }
        }
        ofs[d] = s;
        w0[d] = coef(1.f - f);
        w1[d] = coef(f);
    }
}

// ref: resize.cpp:resize (area_mode coefficients) + resizeGeneric_<HResizeLinear<uchar,int,short,2048>,
//      VResizeLinear<uchar,int,short,FixedPtCast<int,uchar,22>>>
static medsam_status area_linear(const uint8_t *in, int sw, int sh, int cn, uint8_t *out, int dw, int dh,
                                 double sx, double sy, double isx, double isy, medsam_error *err) {
    const int W = dw * cn;
    int *xo = malloc(sizeof(int) * (3 * (size_t)dw + 3 * (size_t)dh + 2 * (size_t)W));
    if (!xo) return ms_error(err, MEDSAM_ERR_NOMEM, "resize: cannot allocate the row buffers");
    int *xa = xo + dw, *xb = xa + dw, *yo = xb + dw, *ya = yo + dh, *yb = ya + dh;
    int *rows[2] = {yb + dh, yb + dh + W}; // (W) horizontally resized source rows
    int xmax, ymax;
    linear_axis(sw, dw, sx, isx, 1, xo, xa, xb, &xmax);
    linear_axis(sh, dh, sy, isy, 0, yo, ya, yb, &ymax);
    int have[2] = {-1, -1};
    for (int dy = 0; dy < dh; dy++) {
        for (int k = 0; k < 2; k++) {
            int s = yo[dy] + k;
            s = s < 0 ? 0 : s >= sh ? sh - 1 : s;
            if (have[k] == s) continue;
            const uint8_t *S = in + (size_t)s * sw * cn;
            for (int dx = 0; dx < dw; dx++)
                for (int c = 0; c < cn; c++) {
                    const int p = xo[dx] * cn + c;
                    rows[k][dx * cn + c] = dx < xmax ? S[p] * xa[dx] + S[p + cn] * xb[dx] : S[p] * 2048;
                }
            have[k] = s;
        }
        uint8_t *D = out + (size_t)dy * W;
        for (int x = 0; x < W; x++) {
            int v = ((((rows[0][x] >> 4) * ya[dy]) >> 16) + (((rows[1][x] >> 4) * yb[dy]) >> 16) + 2) >> 2;
            D[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(xo);
    return MEDSAM_OK;
}

// ref: resize.cpp:cv::resize and cv::hal::resize (INTER_AREA branch)
medsam_status ms_resize_area_u8(const uint8_t *in, int sw, int sh, int cn, uint8_t *out, int dw, int dh,
                                int nthreads, medsam_error *err) {
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || cn < 1 || cn > 4)
        return ms_error(err, MEDSAM_ERR_ARG, "resize: bad sizes %dx%dx%d -> %dx%d", sw, sh, cn, dw, dh);
    if (sw == dw && sh == dh) {
        memcpy(out, in, (size_t)sw * sh * cn);
        return MEDSAM_OK;
    }
    const double isx = (double)dw / sw, isy = (double)dh / sh;
    const double sx = 1. / isx, sy = 1. / isy;
    if (sx >= 1 && sy >= 1) {
        const int ix = (int)lrint(sx), iy = (int)lrint(sy);
        if (fabs(sx - ix) < DBL_EPSILON && fabs(sy - iy) < DBL_EPSILON) {
            area_fast(in, sw, cn, out, dw, dh, ix, iy);
            return MEDSAM_OK;
        }
        return area_general(in, sw, sh, cn, out, dw, dh, sx, sy, nthreads, err);
    }
    return area_linear(in, sw, sh, cn, out, dw, dh, sx, sy, isx, isy, err);
}

// ref: CVPR24_LiteMedSAM_infer.py:resize_longest_side
void ms_resize_longest_side_size(int sw, int sh, int target, int *dw, int *dh) {
    const double scale = target * 1.0 / (sh > sw ? sh : sw);
    *dw = (int)(sw * scale + 0.5);
    *dh = (int)(sh * scale + 0.5);
}
