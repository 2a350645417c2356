/* resize_pil.c — Pillow's bilinear resize of 8-bit images, bit for bit (see resize_pil.h). */
#include "pipeline/resize_pil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* Pillow's coefficients are plain double arithmetic, no fused multiply-adds */
#endif

#define PIL_PRECISION_BITS (32 - 8 - 2)

typedef struct {
    int ksize;    // coefficients per output sample
    int *bounds;  // (out, 2) first source index, number of source samples
    int32_t *kk;  // (out, ksize) fixed-point weights
} pil_coeffs;

// ref: Resample.c:bilinear_filter
static double pil_bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

// ref: Resample.c:clip8 (the lookup table covers -640..639, i.e. a clamp to 0..255)
static uint8_t pil_clip8(int32_t in) {
    int32_t v = in >> PIL_PRECISION_BITS; // arithmetic shift, as Pillow's int on x86-64
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void pil_coeffs_free(pil_coeffs *c) {
    free(c->bounds);
    free(c->kk);
}

/* ref: Resample.c:precompute_coeffs (box [0, in_size], BILINEAR: support 1.0)
 *      and normalize_coeffs_8bpc. Returns 0 on allocation failure. */
static int pil_coeffs_make(int in_size, int out_size, pil_coeffs *c) {
    const float in0 = 0.0f, in1 = (float)in_size;
    double scale, filterscale;
    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0) filterscale = 1.0;
    const double support = 1.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    c->kk = malloc((size_t)out_size * c->ksize * sizeof(int32_t));
    double *k = malloc((size_t)c->ksize * sizeof(double));
    if (!c->bounds || !c->kk || !k) {
        free(k);
        pil_coeffs_free(c);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        const double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        const double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = pil_bilinear_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < c->ksize; x++) k[x] = 0;
        int32_t *kq = c->kk + (size_t)xx * c->ksize;
        for (x = 0; x < c->ksize; x++)
            kq[x] = k[x] < 0 ? (int32_t)(-0.5 + k[x] * (1 << PIL_PRECISION_BITS))
                             : (int32_t)(0.5 + k[x] * (1 << PIL_PRECISION_BITS));
        c->bounds[xx * 2 + 0] = xmin;
        c->bounds[xx * 2 + 1] = xmax;
    }
    free(k);
    return 1;
}

/* ref: Resample.c:ImagingResampleHorizontal_8bpc. out (rows, ow, ch) from source rows
 * [row0, row0 + rows) of in (ih, iw, ch). */
static void pil_horizontal(const uint8_t *in, int iw, int ch, int row0, int rows, const pil_coeffs *cx, int ow,
                           uint8_t *out, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int yy = 0; yy < rows; yy++) {
        const uint8_t *src = in + (size_t)(row0 + yy) * iw * ch;
        uint8_t *dst = out + (size_t)yy * ow * ch;
        for (int xx = 0; xx < ow; xx++) {
            const int xmin = cx->bounds[xx * 2], xmax = cx->bounds[xx * 2 + 1];
            const int32_t *k = cx->kk + (size_t)xx * cx->ksize;
            for (int b = 0; b < ch; b++) {
                int32_t ss = 1 << (PIL_PRECISION_BITS - 1);
                for (int x = 0; x < xmax; x++) ss += (int32_t)src[(size_t)(x + xmin) * ch + b] * k[x];
                dst[(size_t)xx * ch + b] = pil_clip8(ss);
            }
        }
    }
}

/* ref: Resample.c:ImagingResampleVertical_8bpc. out (oh, w, ch) from in (*, w, ch),
 * bounds relative to in's first row. */
static void pil_vertical(const uint8_t *in, int w, int ch, const pil_coeffs *cy, int oh, uint8_t *out, int nthreads) {
    const size_t row = (size_t)w * ch;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
    for (int yy = 0; yy < oh; yy++) {
        const int ymin = cy->bounds[yy * 2], ymax = cy->bounds[yy * 2 + 1];
        const int32_t *k = cy->kk + (size_t)yy * cy->ksize;
        uint8_t *dst = out + (size_t)yy * row;
        for (size_t i = 0; i < row; i++) {
            int32_t ss = 1 << (PIL_PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++) ss += (int32_t)in[(size_t)(y + ymin) * row + i] * k[y];
            dst[i] = pil_clip8(ss);
        }
    }
}

// ref: Resample.c:ImagingResampleInner (two passes, horizontal first)
medsam_status ms_resize_pil_bilinear(const uint8_t *in, int ih, int iw, int ch, int oh, int ow, uint8_t *out,
                                     int nthreads, medsam_error *err) {
    if (ch != 1 && ch != 3) return ms_error(err, MEDSAM_ERR_ARG, "PIL resize: %d channels (1 or 3 supported)", ch);
    if (ih < 1 || iw < 1 || oh < 1 || ow < 1 || ih > 65536 || iw > 65536 || oh > 65536 || ow > 65536)
        return ms_error(err, MEDSAM_ERR_ARG, "PIL resize: sizes %dx%d -> %dx%d out of range", iw, ih, ow, oh);
    if (nthreads < 1) nthreads = 1;
    const int need_h = ow != iw, need_v = oh != ih;
    if (!need_h && !need_v) {
        memcpy(out, in, (size_t)ih * iw * ch);
        return MEDSAM_OK;
    }
    pil_coeffs cy = {0}, cx = {0};
    if (!pil_coeffs_make(ih, oh, &cy)) return ms_error(err, MEDSAM_ERR_NOMEM, "PIL resize: cannot allocate");
    // first and one-past-last source rows the vertical pass reads
    const int ybox_first = cy.bounds[0], ybox_last = cy.bounds[oh * 2 - 2] + cy.bounds[oh * 2 - 1];
    medsam_status st = MEDSAM_OK;
    if (!need_h) {
        pil_vertical(in, iw, ch, &cy, oh, out, nthreads);
    } else if (!pil_coeffs_make(iw, ow, &cx)) {
        st = ms_error(err, MEDSAM_ERR_NOMEM, "PIL resize: cannot allocate");
    } else if (!need_v) {
        pil_horizontal(in, iw, ch, 0, ih, &cx, ow, out, nthreads);
    } else {
        const int rows = ybox_last - ybox_first;
        uint8_t *tmp = malloc((size_t)rows * ow * ch); // (rows, ow, ch)
        if (!tmp) {
            st = ms_error(err, MEDSAM_ERR_NOMEM, "PIL resize: cannot allocate %dx%d", ow, rows);
        } else {
            for (int i = 0; i < oh; i++) cy.bounds[i * 2] -= ybox_first;
            pil_horizontal(in, iw, ch, ybox_first, rows, &cx, ow, tmp, nthreads);
            pil_vertical(tmp, ow, ch, &cy, oh, out, nthreads);
            free(tmp);
        }
    }
    pil_coeffs_free(&cx);
    pil_coeffs_free(&cy);
    return st;
}
