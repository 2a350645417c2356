/* image.h — 2-D images in and out: PNG (libpng) and JPEG (libjpeg) decoding, .npy
 * arrays as images, PNG writing of 8-bit grey and RGB.
 *
 * Reading keeps the samples as the file stores them, so nothing is lost before the
 * pipeline decides what the official code would have seen (see pipeline/preprocess.h):
 *   PNG  grey / grey+alpha / RGB / RGBA at 8 or 16 bits; 1-, 2- and 4-bit grey are
 *        expanded to 8 bits by bit replication (v * 255 / (2^bits - 1), as PIL does);
 *        palettes are expanded to RGB, or RGBA when a tRNS chunk gives transparency
 *        (as Pillow does; grey and RGB tRNS chunks are ignored);
 *        gamma, sBIT, ICC and other colour chunks are ignored (as PIL does).
 *   JPEG 8-bit grey or colour; YCbCr is converted to RGB by libjpeg with its default
 *        (islow IDCT, fancy upsampling), which is what PIL uses. CMYK/YCCK is refused.
 *        EXIF orientation is not applied (neither does skimage.io.imread).
 *   BMP  uncompressed 1/4/8-bit palette, 16/24/32-bit and bit-field bitmaps, values as
 *        Pillow reads them (grey-ramp palettes as grey, others as RGB); RLE is refused.
 *   .npy uint8 or uint16 arrays (H, W) or (H, W, C) with C in 1..4 are images like the
 *        above; float32/float64 arrays (H, W, C) are kept as float (bit_depth 32): a
 *        (1024, 1024, 3) float array in [0, 1] is an already preprocessed image.
 * The format is detected from the first bytes, not from the file name.
 * Truncated or corrupt files give MEDSAM_ERR_FORMAT with a one-line message that
 * starts with the file name; nothing is printed and nothing exits. */
#ifndef MS_IMAGE_H
#define MS_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#include "medsam.h"

#define MS_IMAGE_MAX_SIDE 65536
#define MS_IMAGE_MAX_PIXELS (1LL << 30)

typedef enum { MS_IMAGE_PNG = 1, MS_IMAGE_JPEG = 2, MS_IMAGE_NPY = 3, MS_IMAGE_BMP = 4 } ms_image_format;

typedef struct {
    int width, height;
    int channels;  /* 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
    int bit_depth; /* 8: samples in u8; 16: samples in u16; 32: samples in f32 */
    ms_image_format format;
    uint8_t *u8;   /* (height, width, channels) when bit_depth == 8, else NULL */
    uint16_t *u16; /* (height, width, channels) when bit_depth == 16, else NULL */
    float *f32;    /* (height, width, channels) when bit_depth == 32, else NULL */
} ms_image;

/* Size limits for decoding; a zero field means the default (MS_IMAGE_MAX_SIDE per side,
 * MS_IMAGE_MAX_PIXELS in all). Larger images are refused with MEDSAM_ERR_NOMEM. */
typedef struct {
    int max_side;
    long long max_pixels;
    long long max_bytes; /* memory budget for the decoded samples (core/budget.h); 0: none */
} ms_image_limits;

/* Reads a PNG, JPEG or .npy file. On success the caller frees `out` with ms_image_free. */
medsam_status ms_image_read(const char *path, ms_image *out, medsam_error *err);
/* The same with limits (NULL: defaults, no budget); the file itself must fit max_bytes too. */
medsam_status ms_image_read_limits(const char *path, const ms_image_limits *limits, ms_image *out, medsam_error *err);

/* Decodes an image held in memory; `name` (may be NULL) prefixes error messages and
 * `limits` may be NULL for the defaults. */
medsam_status ms_image_decode(const uint8_t *buf, size_t len, const char *name, const ms_image_limits *limits,
                              ms_image *out, medsam_error *err);

void ms_image_free(ms_image *img);

/* Value of sample (y, x, c) as a double, whatever the storage. */
double ms_image_sample(const ms_image *img, int y, int x, int c);

/* Write 8-bit PNGs atomically (temp file + rename). pix: (h, w) grey or (h, w, 3) RGB. */
medsam_status ms_png_write_gray8(const char *path, const uint8_t *pix, int w, int h, medsam_error *err);
medsam_status ms_png_write_rgb8(const char *path, const uint8_t *pix, int w, int h, medsam_error *err);
/* The same PNG as ms_png_write_gray8 writes, in memory (*out malloc'd, *len bytes). */
medsam_status ms_png_encode_gray8(const uint8_t *pix, int w, int h, uint8_t **out, size_t *len, medsam_error *err);

#endif
