/* image_png.c — PNG decoding from memory and 8-bit PNG writing with libpng.
 * libpng reports errors by longjmp; each entry point keeps everything that changes after
 * setjmp in a heap-allocated context, so nothing is left indeterminate on the error path,
 * and warnings are swallowed (the library never prints). */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/budget.h"
#include "core/error.h"
#include "io/image_codecs.h"

typedef struct {
    char msg[256];       /* libpng's error text */
    const uint8_t *buf;  /* the whole file */
    size_t len, pos;
    uint8_t *pixels;     /* (height, rowbytes) decoded rows */
    png_bytep *rows;     /* (height,) row pointers into pixels */
} png_dec_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
    char *dst = png_get_error_ptr(png);
    snprintf(dst, 256, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png, (void)msg;
}

static void png_read_mem(png_structp png, png_bytep data, size_t n) {
    png_dec_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos) png_error(png, "truncated file");
    memcpy(data, c->buf + c->pos, n);
    c->pos += n;
}

medsam_status ms_img_decode_png(const uint8_t *buf, size_t len, const ms_image_limits *lim, ms_image *out,
                                medsam_error *err) {
    const int max_side = lim->max_side;
    const long long max_pixels = lim->max_pixels;
    // refuse oversized images from the IHDR chunk (always first) before libpng allocates anything
    if (len >= 26 && memcmp(buf + 12, "IHDR", 4) == 0) {
        long long w = ((long long)buf[16] << 24) | (buf[17] << 16) | (buf[18] << 8) | buf[19];
        long long h = ((long long)buf[20] << 24) | (buf[21] << 16) | (buf[22] << 8) | buf[23];
        if (w > max_side || h > max_side || w * h > max_pixels)
            return ms_error(err, MEDSAM_ERR_NOMEM, "PNG: image %lldx%lld is over the size limit (%d per side, %lld pixels)",
                            w, h, max_side, max_pixels);
        // decoded size as the IHDR promises it (a palette counts 3 samples, at least what it expands to)
        int type = buf[25], ch = type == 0 ? 1 : type == 4 ? 2 : type == 6 ? 4 : 3;
        char what[64];
        snprintf(what, sizeof what, "PNG %lldx%lldx%d", w, h, ch);
        medsam_status st = ms_budget_check((uint64_t)lim->max_bytes, (uint64_t)(w * h * ch * (buf[24] == 16 ? 2 : 1)),
                                           what, err);
        if (st) return st;
    }
    png_dec_ctx *c = calloc(1, sizeof *c);
    if (!c) return ms_error(err, MEDSAM_ERR_NOMEM, "PNG: out of memory");
    c->buf = buf;
    c->len = len;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c->msg, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        free(c);
        return ms_error(err, MEDSAM_ERR_NOMEM, "PNG: cannot create the decoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        medsam_status st = ms_error(err, MEDSAM_ERR_FORMAT, "PNG: %s", c->msg);
        png_destroy_read_struct(&png, &info, NULL);
        free(c->rows);
        free(c->pixels);
        free(c);
        return st;
    }
    png_set_user_limits(png, (png_uint_32)max_side, (png_uint_32)max_side);
    png_set_chunk_malloc_max(png, 8u << 20);  // compressed text / ICC chunks inflate to at most 8 MiB
    png_set_read_fn(png, c, png_read_mem);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if ((long long)width * (long long)height > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        free(c);
        return ms_error(err, MEDSAM_ERR_NOMEM, "PNG: image %ux%u is over the size limit (%lld pixels)",
                        (unsigned)width, (unsigned)height, max_pixels);
    }
    // ref: PIL's PNG modes as skimage.io.imread sees them: palette -> RGB (RGBA with tRNS: libpng's
    // palette expansion includes it), low-bit grey -> 8 bit by bit replication
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    int depth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) ||
        rowbytes != (size_t)width * (size_t)channels * (size_t)(depth / 8))
        png_error(png, "unexpected pixel layout after expansion");
    char what[64];
    snprintf(what, sizeof what, "PNG %ux%ux%d", (unsigned)width, (unsigned)height, channels);
    if (ms_budget_check((uint64_t)lim->max_bytes, (uint64_t)rowbytes * height, what, err)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(c);
        return MEDSAM_ERR_NOMEM;
    }
    // libpng inflates row by row into these rows and stops at the last one: never more than the IHDR says
    c->pixels = malloc(rowbytes * height);
    c->rows = malloc(sizeof(png_bytep) * height);
    if (!c->pixels || !c->rows) png_error(png, "out of memory for the pixels");
    for (png_uint_32 y = 0; y < height; y++) c->rows[y] = c->pixels + (size_t)y * rowbytes;
    png_read_image(png, c->rows);
    png_destroy_read_struct(&png, &info, NULL);

    memset(out, 0, sizeof *out);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->bit_depth = depth;
    out->format = MS_IMAGE_PNG;
    if (depth == 8) {
        out->u8 = c->pixels;
        c->pixels = NULL;
    } else {
        size_t n = (size_t)width * height * channels;
        uint16_t *u16 = (uint16_t *)(void *)c->pixels;  // in place: malloc's alignment fits uint16_t
        for (size_t i = 0; i < n; i++)  // PNG stores 16-bit samples big-endian
            u16[i] = (uint16_t)((c->pixels[2 * i] << 8) | c->pixels[2 * i + 1]);
        out->u16 = u16;
        c->pixels = NULL;
    }
    free(c->rows);
    free(c->pixels);
    free(c);
    return MEDSAM_OK;
}

typedef struct {
    char msg[256];
    uint8_t *buf; // (cap) the PNG so far
    size_t len, cap;
    int oom;
} png_enc_ctx;

static void png_mem_write(png_structp png, png_bytep data, png_size_t n) {
    png_enc_ctx *c = png_get_io_ptr(png);
    if (c->oom) return;
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 1 << 16;
        while (cap < c->len + n) cap *= 2;
        uint8_t *nb = realloc(c->buf, cap);
        if (!nb) {
            c->oom = 1;
            return;
        }
        c->buf = nb, c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
}

static void png_mem_flush(png_structp png) { (void)png; }

medsam_status ms_png_encode8(const uint8_t *pix, int w, int h, int channels, uint8_t **out, size_t *out_len,
                             medsam_error *err) {
    *out = NULL, *out_len = 0;
    if (w < 1 || h < 1 || w > MS_IMAGE_MAX_SIDE || h > MS_IMAGE_MAX_SIDE || (channels != 1 && channels != 3))
        return ms_error(err, MEDSAM_ERR_ARG, "cannot write a %dx%d PNG with %d channels", w, h, channels);
    png_enc_ctx *c = calloc(1, sizeof *c);
    if (!c) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c->msg, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        free(c);
        return ms_error(err, MEDSAM_ERR_NOMEM, "cannot create the PNG encoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        medsam_status st = ms_error(err, MEDSAM_ERR_IO, "PNG encoding failed: %s", c->msg);
        png_destroy_write_struct(&png, &info);
        free(c->buf);
        free(c);
        return st;
    }
    png_set_write_fn(png, c, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (channels == 1) { /* masks and label maps: long runs of one value; row filters buy nothing and cost
                          * most of the time (libpng tries all five per row); level 1: 4x faster than the
                          * default 6 on a 1411x1411 mask, the file about twice as big (13 KB instead of 6) */
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
        png_set_compression_level(png, 1);
    }
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, pix + (size_t)y * (size_t)w * (size_t)channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    medsam_status st = MEDSAM_OK;
    if (c->oom) {
        free(c->buf);
        st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for a %dx%d PNG", w, h);
    } else {
        *out = c->buf, *out_len = c->len;
    }
    free(c);
    return st;
}

medsam_status ms_img_write_png8(const char *path, const uint8_t *pix, int w, int h, int channels, medsam_error *err) {
    uint8_t *png;
    size_t len;
    medsam_status st = ms_png_encode8(pix, w, h, channels, &png, &len, err);
    if (st) {
        ms_error_prefix(err, path);
        return st;
    }
    ms_atomic_file af;
    st = ms_atomic_open(&af, path, err);
    if (!st && fwrite(png, 1, len, af.fp) != len) {
        ms_atomic_abort(&af);
        st = ms_error(err, MEDSAM_ERR_IO, "%s: write failed", path);
    } else if (!st) {
        st = ms_atomic_commit(&af, err);
    }
    free(png);
    return st;
}
