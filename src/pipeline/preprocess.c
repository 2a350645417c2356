/* preprocess.c — MedSAM_Inference.py preprocessing (see preprocess.h). */
#include "pipeline/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* results must not depend on fused multiply-adds; GCC in ISO C mode does not fuse */
#endif

// ref: MedSAM_Inference.py:114-118 (imread + 3 channels), utils/pre_grey_rgb.py:49-50 (16-bit rescale)
medsam_status ms_preprocess_rgb_input(double **out, const ms_image *img, ms_u16_policy u16, medsam_error *err) {
    *out = NULL;
    if (img->bit_depth != 8 && img->bit_depth != 16)
        return ms_error(err, MEDSAM_ERR_ARG, "preprocess: a float image is already preprocessed, not an input");
    if (img->channels < 1 || img->channels > 4 || img->width < 1 || img->height < 1)
        return ms_error(err, MEDSAM_ERR_SHAPE, "preprocess: bad image shape %dx%dx%d", img->width, img->height,
                        img->channels);
    size_t n = (size_t)img->width * (size_t)img->height;
    double *rgb = malloc(n * 3 * sizeof(double));  // (H, W, 3)
    if (!rgb) return ms_error(err, MEDSAM_ERR_NOMEM, "preprocess: cannot allocate %zux3 values", n);
    int ch = img->channels;
    int colour = ch >= 3;  // grey and grey+alpha replicate sample 0; RGB(A) keeps 3
    if (img->bit_depth == 8) {
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) rgb[i * 3 + k] = img->u8[i * ch + (colour ? k : 0)];
    } else if (ch == 1) {
        // imread keeps 16-bit grey as uint16
        uint16_t lo = 65535, hi = 0;
        for (size_t i = 0; i < n; i++) {
            uint16_t v = img->u16[i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        int rescale = u16 == MS_U16_RESCALE && hi > 255;
        double span = (double)(uint16_t)(hi - lo);
        for (size_t i = 0; i < n; i++) {
            double v = img->u16[i];
            // ref: pre_grey_rgb.py: np.uint8((img - img.min()) / (img.max() - img.min()) * 255.0)
            if (rescale) v = (double)(uint8_t)((double)(uint16_t)(img->u16[i] - lo) / span * 255.0);
            rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = v;
        }
    } else {
        // Pillow reduces 16-bit colour / grey+alpha PNGs to 8 bits by the high byte
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) rgb[i * 3 + k] = img->u16[i * ch + (colour ? k : 0)] >> 8;
    }
    *out = rgb;
    return MEDSAM_OK;
}

/* Rows of img_3c as float64 (w, 3), the values ms_preprocess_rgb_input gives, for the banded resize. */
typedef struct {
    const ms_image *img;
    int rescale;       /* 16-bit grey min-max scaled to uint8 */
    uint16_t lo;       /* its minimum */
    double span;       /* (uint16)(max - min) */
} pp_rows;

/* Row y: (w, 3) values, or (w) for grey (and grey+alpha) images, whose three channels are equal. */
static void pp_row(void *ctx, long y, double *row) {
    const pp_rows *r = ctx;
    const ms_image *img = r->img;
    const long w = img->width, ch = img->channels;
    const int nk = ch >= 3 ? 3 : 1;  // grey and grey+alpha: sample 0 stands for all three
    const size_t base = (size_t)y * (size_t)w * (size_t)ch;
    if (img->bit_depth == 8) {
        const uint8_t *p = img->u8 + base;
        for (long x = 0; x < w; x++)
            for (int k = 0; k < nk; k++) row[x * nk + k] = p[x * ch + k];
    } else if (ch == 1) {
        const uint16_t *p = img->u16 + base;
        for (long x = 0; x < w; x++) {
            double v = p[x];
            if (r->rescale) v = (double)(uint8_t)((double)(uint16_t)(p[x] - r->lo) / r->span * 255.0);
            row[x] = v;
        }
    } else {
        const uint16_t *p = img->u16 + base;
        for (long x = 0; x < w; x++)
            for (int k = 0; k < nk; k++) row[x * nk + k] = p[x * ch + k] >> 8;
    }
}

/* The resize of img_3c to (T, T, 3), from the image's own samples in bands of rows
 * (resize_stream.c) or, with whole_image, through the whole float64 img_3c as before. */
static medsam_status pp_resize(double *resized, const ms_image *img, int target, const ms_preprocess_opts *opts,
                               medsam_error *err) {
    // ref: MedSAM_Inference.py:121-123 transform.resize(order=3, preserve_range=True, anti_aliasing=True)
    ms_resize_opts ro = {.order = 3, .anti_aliasing = 1, .clip = 1, .threads = opts ? opts->threads : 0,
                         .exp_kind = opts ? opts->exp_kind : MS_EXP_NUMPY_AVX512};
    ms_u16_policy u16 = opts ? opts->u16 : MS_U16_OFFICIAL;
    if (opts && opts->whole_image) {
        double *rgb = NULL;
        medsam_status st = ms_preprocess_rgb_input(&rgb, img, u16, err);
        if (st) return st;
        st = ms_resize_skimage(resized, rgb, img->height, img->width, 3, target, target, &ro, err);
        free(rgb);
        return st;
    }
    if (img->channels < 1 || img->channels > 4 || img->width < 1 || img->height < 1)
        return ms_error(err, MEDSAM_ERR_SHAPE, "preprocess: bad image shape %dx%dx%d", img->width, img->height,
                        img->channels);
    pp_rows r = {.img = img};
    if (img->bit_depth == 16 && img->channels == 1) {
        size_t n = (size_t)img->width * (size_t)img->height;
        uint16_t lo = 65535, hi = 0;
        for (size_t i = 0; i < n; i++) {
            uint16_t v = img->u16[i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        r.rescale = u16 == MS_U16_RESCALE && hi > 255;
        r.lo = lo;
        r.span = (double)(uint16_t)(hi - lo);
    }
    ro.src_grey = img->channels < 3;
    return ms_resize_skimage_rows(resized, pp_row, &r, img->height, img->width, 3, target, target, &ro, err);
}

/* A float image given as already preprocessed: (T, T, 3) with values in [0, 1]. */
static medsam_status pp_take_float(float *out_hwc, uint8_t *out_u8, const ms_image *img, int target,
                                   medsam_error *err) {
    if (img->height != target || img->width != target || img->channels != 3)
        return ms_error(err, MEDSAM_ERR_SHAPE,
                        "a float image is taken as preprocessed and must be (%d, %d, 3), got (%d, %d, %d)", target,
                        target, img->height, img->width, img->channels);
    size_t n = (size_t)target * target * 3;
    for (size_t i = 0; i < n; i++) {
        float v = img->f32[i];
        if (!(v >= 0.0f && v <= 1.0f))
            return ms_error(err, MEDSAM_ERR_NUMERIC,
                            "a preprocessed float image must hold values in [0, 1]; element %zu is %g", i, (double)v);
    }
    memcpy(out_hwc, img->f32, n * sizeof(float));
    if (out_u8)
        for (size_t i = 0; i < n; i++) out_u8[i] = (uint8_t)lrintf(img->f32[i] * 255.0f);
    return MEDSAM_OK;
}

medsam_status ms_preprocess_medsam(float *out_hwc, uint8_t *out_u8, const ms_image *img, const ms_preprocess_opts *opts,
                                   medsam_error *err) {
    int target = opts && opts->target > 0 ? opts->target : 1024;
    if (target > MS_IMAGE_MAX_SIDE) return ms_error(err, MEDSAM_ERR_ARG, "preprocess: target %d too large", target);
    if (img->bit_depth == 32) return pp_take_float(out_hwc, out_u8, img, target, err);

    if (img->bit_depth != 8 && img->bit_depth != 16)
        return ms_error(err, MEDSAM_ERR_ARG, "preprocess: a float image is already preprocessed, not an input");
    size_t n = (size_t)target * target * 3;
    double *resized = malloc(n * sizeof(double));  // (T, T, 3)
    uint8_t *q = out_u8 ? out_u8 : malloc(n);       // (T, T, 3)
    if (!resized || !q) {
        free(resized);
        if (q != out_u8) free(q);
        return ms_error(err, MEDSAM_ERR_NOMEM, "preprocess: cannot allocate the %dx%d buffers", target, target);
    }
    medsam_status st = pp_resize(resized, img, target, opts, err);
    if (st) {
        free(resized);
        if (q != out_u8) free(q);
        return st;
    }
    // .astype(np.uint8): truncation toward zero, then the low 8 bits (x86-64 NumPy)
    uint8_t lo = 255, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double v = resized[i];
        long long t = v == v && fabs(v) < 9.2e18 ? (long long)v : 0;
        uint8_t u = (uint8_t)(t & 0xFF);
        q[i] = u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    free(resized);
    // ref: MedSAM_Inference.py:124-126 (x - min) / clip(max - min, 1e-8, None), float64 -> float32
    double span = hi > lo ? (double)(hi - lo) : 1e-8;
    for (size_t i = 0; i < n; i++) out_hwc[i] = (float)((double)(uint8_t)(q[i] - lo) / span);
    if (q != out_u8) free(q);
    return MEDSAM_OK;
}

void ms_preprocess_hwc_to_chw(float *out_chw, const float *in_hwc, int h, int w, int c) {
    size_t plane = (size_t)h * (size_t)w;
    for (size_t p = 0; p < plane; p++)
        for (int k = 0; k < c; k++) out_chw[(size_t)k * plane + p] = in_hwc[p * (size_t)c + (size_t)k];
}
