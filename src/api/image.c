/* image.c — public entry points from image files / pixel buffers to the encoder input. */
#include <stdlib.h>
#include <string.h>

#include "core/budget.h"
#include "core/error.h"
#include "io/image.h"
#include "api/model_internal.h"
#include "medsam.h"
#include "pipeline/preprocess.h"

/* Wraps caller pixels as an ms_image after checking them; bit_depth 32 (float samples,
 * as medsam_image_read gives for a float .npy) only where allow_f32. */
static medsam_status pixels_image(const void *pixels, int width, int height, int channels, int bit_depth,
                                  int allow_f32, ms_image *img, medsam_error *err) {
    if (!pixels || width < 1 || height < 1 || channels < 1 || channels > 4 ||
        (bit_depth != 8 && bit_depth != 16 && !(allow_f32 && bit_depth == 32)))
        return ms_error(err, MEDSAM_ERR_ARG, "pixels: need width, height >= 1, 1..4 channels and 8 or 16 bits%s",
                        allow_f32 ? " (or 32: float)" : "");
    if (width > MS_IMAGE_MAX_SIDE || height > MS_IMAGE_MAX_SIDE || (long long)width * height > MS_IMAGE_MAX_PIXELS)
        return ms_error(err, MEDSAM_ERR_NOMEM, "pixels: %dx%d image is over the size limit", width, height);
    *img = (ms_image){.width = width, .height = height, .channels = channels, .bit_depth = bit_depth};
    if (bit_depth == 8) img->u8 = (uint8_t *)pixels;
    else if (bit_depth == 16) img->u16 = (uint16_t *)pixels;
    else img->f32 = (float *)pixels;
    return MEDSAM_OK;
}

medsam_status medsam_preprocess_pixels(const void *pixels, int width, int height, int channels, int bit_depth, int size,
                                       int nthreads, float *out, medsam_error *err) {
    ms_image img;
    medsam_status st = pixels_image(pixels, width, height, channels, bit_depth, 0, &img, err);
    if (st) return st;
    ms_preprocess_opts opts = {.target = size, .threads = nthreads};
    return ms_preprocess_medsam(out, NULL, &img, &opts, err);
}

medsam_status medsam_model_preprocess(const medsam_model *m, const void *pixels, int width, int height, int channels,
                                      int bit_depth, int nthreads, float *out, medsam_error *err) {
    ms_image img;
    medsam_status st = pixels_image(pixels, width, height, channels, bit_depth, 1, &img, err);
    if (st) return st;
    return m->pipe->preprocess(&m->cfg, &img, nthreads, out, err);
}

/* Reads path (decoded size within `budget`; NULL: the default) and preprocesses it at side
 * `size` with medsam's preprocessing (m NULL) or m's pipeline. */
static medsam_status prepare(const medsam_model *m, const char *path, int size, int nthreads,
                             const medsam_budget *budget, float **input_hwc, int *width, int *height, medsam_error *err) {
    *input_hwc = NULL;
    ms_image img;
    ms_image_limits lim = {.max_bytes = (long long)ms_budget_resolve(budget)};
    medsam_status st = ms_image_read_limits(path, &lim, &img, err);
    if (st) return st;
    float *x = malloc((size_t)size * size * 3 * sizeof(float));
    if (!x) {
        ms_image_free(&img);
        return ms_error(err, MEDSAM_ERR_NOMEM, "%s: cannot allocate the encoder input", path);
    }
    ms_preprocess_opts opts = {.target = size, .threads = nthreads};
    st = m ? m->pipe->preprocess(&m->cfg, &img, nthreads, x, err) : ms_preprocess_medsam(x, NULL, &img, &opts, err);
    if (st) {
        if (!strstr(err ? err->message : "", path)) ms_error_prefix(err, path);
        free(x);
        ms_image_free(&img);
        return st;
    }
    *width = img.width;
    *height = img.height;
    ms_image_free(&img);
    *input_hwc = x;
    return MEDSAM_OK;
}

static medsam_status image_read(const char *path, const ms_image_limits *lim, void **pixels, int *width, int *height,
                                int *channels, int *bit_depth, medsam_error *err) {
    *pixels = NULL;
    ms_image img;
    medsam_status st = ms_image_read_limits(path, lim, &img, err);
    if (st) return st;
    *width = img.width, *height = img.height, *channels = img.channels, *bit_depth = img.bit_depth;
    /* hand over the one sample buffer the image owns */
    if (img.bit_depth == 8) *pixels = img.u8, img.u8 = NULL;
    else if (img.bit_depth == 16) *pixels = img.u16, img.u16 = NULL;
    else *pixels = img.f32, img.f32 = NULL;
    ms_image_free(&img);
    return MEDSAM_OK;
}

medsam_status medsam_image_read(const char *path, void **pixels, int *width, int *height, int *channels,
                                int *bit_depth, medsam_error *err) {
    return image_read(path, NULL, pixels, width, height, channels, bit_depth, err);
}

medsam_status medsam_image_read_budget(const char *path, const medsam_budget *budget, void **pixels, int *width,
                                       int *height, int *channels, int *bit_depth, medsam_error *err) {
    ms_image_limits lim = {.max_bytes = (long long)ms_budget_resolve(budget)};
    return image_read(path, &lim, pixels, width, height, channels, bit_depth, err);
}

medsam_status medsam_prepare_input(const char *path, int size, int nthreads, float **input_hwc, int *width, int *height,
                                   medsam_error *err) {
    return prepare(NULL, path, size, nthreads, NULL, input_hwc, width, height, err);
}

medsam_status medsam_prepare_input_budget(const char *path, int size, int nthreads, const medsam_budget *budget,
                                          float **input_hwc, int *width, int *height, medsam_error *err) {
    return prepare(NULL, path, size, nthreads, budget, input_hwc, width, height, err);
}

medsam_status medsam_model_prepare_input(const medsam_model *m, const char *path, int nthreads, float **input_hwc,
                                         int *width, int *height, medsam_error *err) {
    return prepare(m, path, m->cfg.img_size, nthreads, NULL, input_hwc, width, height, err);
}

medsam_status medsam_model_prepare_input_budget(const medsam_model *m, const char *path, int nthreads,
                                                const medsam_budget *budget, float **input_hwc, int *width,
                                                int *height, medsam_error *err) {
    return prepare(m, path, m->cfg.img_size, nthreads, budget, input_hwc, width, height, err);
}
