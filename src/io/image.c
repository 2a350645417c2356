/* image.c — format detection, file reading, .npy images, and the public entry points of
 * image.h; the codecs live in image_png.c and image_jpeg.c. */
#include "io/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/budget.h"
#include "core/error.h"
#include "core/npy.h"
#include "io/image_codecs.h"

#define IMG_MAX_FILE_BYTES (1ULL << 33) /* 8 GiB: far above any image within the pixel limit */

void ms_image_free(ms_image *img) {
    if (!img) return;
    free(img->u8);
    free(img->u16);
    free(img->f32);
    memset(img, 0, sizeof *img);
}

double ms_image_sample(const ms_image *img, int y, int x, int c) {
    size_t i = ((size_t)y * (size_t)img->width + (size_t)x) * (size_t)img->channels + (size_t)c;
    if (img->bit_depth == 8) return img->u8[i];
    if (img->bit_depth == 16) return img->u16[i];
    return img->f32[i];
}

/* .npy arrays as images: uint8/uint16 (H, W[, C]) and float32/float64 (H, W, C), C in 1..4. */
static medsam_status img_decode_npy(const uint8_t *buf, size_t len, int max_side, long long max_pixels,
                                    uint64_t max_bytes, ms_image *out, medsam_error *err) {
    ms_npy a;
    medsam_status st = ms_npy_parse_budget(buf, len, max_bytes, &a, err);
    if (st) return st;
    int is_float = a.dtype == MS_NPY_F32 || a.dtype == MS_NPY_F64;
    if (!(a.dtype == MS_NPY_U8 || a.dtype == MS_NPY_U16 || is_float)) {
        ms_npy_free(&a);
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, ".npy image: dtype must be uint8, uint16, float32 or float64");
    }
    int64_t c = a.ndim == 3 ? a.shape[2] : 1;
    if (!(a.ndim == 2 || a.ndim == 3) || c < 1 || c > 4 || a.shape[0] < 1 || a.shape[1] < 1) {
        ms_npy_free(&a);
        return ms_error(err, MEDSAM_ERR_SHAPE, ".npy image: expected shape (H, W) or (H, W, C) with C in 1..4, got %d dims",
                        a.ndim);
    }
    if (a.shape[0] > max_side || a.shape[1] > max_side || a.shape[0] * a.shape[1] > max_pixels) {
        long long h = a.shape[0], w = a.shape[1];
        ms_npy_free(&a);
        return ms_error(err, MEDSAM_ERR_NOMEM, "image %lldx%lld is over the size limit (%d per side, %lld pixels)", w,
                        h, max_side, max_pixels);
    }
    memset(out, 0, sizeof *out);
    out->height = (int)a.shape[0];
    out->width = (int)a.shape[1];
    out->channels = (int)c;
    out->format = MS_IMAGE_NPY;
    if (a.dtype == MS_NPY_U8) {
        out->bit_depth = 8;
        out->u8 = a.data;
    } else if (a.dtype == MS_NPY_U16) {
        out->bit_depth = 16;
        out->u16 = a.data;
    } else {
        float *f = NULL;
        st = ms_npy_to_f32(&a, &f, err);
        ms_npy_free(&a);
        if (st) return st;
        out->bit_depth = 32;
        out->f32 = f;
        return MEDSAM_OK;
    }
    a.data = NULL;  // ownership moved to `out`
    ms_npy_free(&a);
    return MEDSAM_OK;
}

medsam_status ms_image_decode(const uint8_t *buf, size_t len, const char *name, const ms_image_limits *limits,
                              ms_image *out, medsam_error *err) {
    memset(out, 0, sizeof *out);
    int max_side = limits && limits->max_side > 0 ? limits->max_side : MS_IMAGE_MAX_SIDE;
    long long max_pixels = limits && limits->max_pixels > 0 ? limits->max_pixels : MS_IMAGE_MAX_PIXELS;
    if (max_side > MS_IMAGE_MAX_SIDE) max_side = MS_IMAGE_MAX_SIDE;
    if (max_pixels > MS_IMAGE_MAX_PIXELS) max_pixels = MS_IMAGE_MAX_PIXELS;
    ms_image_limits lim = {max_side, max_pixels, limits && limits->max_bytes > 0 ? limits->max_bytes : 0};
    medsam_status st;
    if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0) {
        st = ms_img_decode_png(buf, len, &lim, out, err);
    } else if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) {
        st = ms_img_decode_jpeg(buf, len, &lim, out, err);
    } else if (len >= 2 && buf[0] == 'B' && buf[1] == 'M') {
        st = ms_img_decode_bmp(buf, len, &lim, out, err);
    } else if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0) {
        st = img_decode_npy(buf, len, max_side, max_pixels, (uint64_t)lim.max_bytes, out, err);
    } else {
        st = ms_error(err, MEDSAM_ERR_FORMAT, "not a PNG, JPEG, BMP or .npy file (unknown signature)");
    }
    if (st) {
        ms_image_free(out);
        if (name) ms_error_prefix(err, name);
        // keep the message on one line even when it quotes bytes from the file
        for (char *p = err ? err->message : NULL; p && *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    }
    return st;
}

medsam_status ms_image_read(const char *path, ms_image *out, medsam_error *err) {
    return ms_image_read_limits(path, NULL, out, err);
}

medsam_status ms_image_read_limits(const char *path, const ms_image_limits *limits, ms_image *out, medsam_error *err) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return ms_error(err, MEDSAM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t max_bytes = limits && limits->max_bytes > 0 ? (uint64_t)limits->max_bytes : 0;
    if (max_bytes && fseek(fp, 0, SEEK_END) == 0) {  // the file is held whole while it is decoded
        long size = ftell(fp);
        rewind(fp);
        if (size > 0 && (uint64_t)size > max_bytes) {
            char a[32], b[32];
            ms_budget_format(a, sizeof a, (uint64_t)size);
            ms_budget_format(b, sizeof b, max_bytes);
            fclose(fp);
            return ms_error(err, MEDSAM_ERR_NOMEM, "%s: file size %s is over the memory budget of %s (--max-memory)",
                            path, a, b);
        }
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    medsam_status st = buf ? MEDSAM_OK : ms_error(err, MEDSAM_ERR_NOMEM, "%s: cannot allocate a read buffer", path);
    while (!st) {
        if (len == cap) {
            uint8_t *nb = cap < IMG_MAX_FILE_BYTES ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                st = ms_error(err, MEDSAM_ERR_NOMEM, "%s: cannot read a file of more than %zu bytes", path, cap);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) {
            if (ferror(fp)) st = ms_error(err, MEDSAM_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    fclose(fp);
    if (!st) st = ms_image_decode(buf, len, path, limits, out, err);
    free(buf);
    return st;
}

medsam_status ms_png_write_gray8(const char *path, const uint8_t *pix, int w, int h, medsam_error *err) {
    return ms_img_write_png8(path, pix, w, h, 1, err);
}

medsam_status ms_png_encode_gray8(const uint8_t *pix, int w, int h, uint8_t **out, size_t *len, medsam_error *err) {
    return ms_png_encode8(pix, w, h, 1, out, len, err);
}

medsam_status ms_png_write_rgb8(const char *path, const uint8_t *pix, int w, int h, medsam_error *err) {
    return ms_img_write_png8(path, pix, w, h, 3, err);
}
