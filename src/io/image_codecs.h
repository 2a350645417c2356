/* image_codecs.h — private to src/io: the PNG and JPEG decoders behind ms_image_decode
 * and the PNG encoder behind ms_png_write_*. Limits arrive already resolved (no zeros, except
 * max_bytes: 0 is no budget). */
#ifndef MS_IMAGE_CODECS_H
#define MS_IMAGE_CODECS_H
#include "io/image.h"

/* Errors carry no file name; ms_image_decode adds it. */
medsam_status ms_img_decode_png(const uint8_t *buf, size_t len, const ms_image_limits *lim, ms_image *out,
                                medsam_error *err);
medsam_status ms_img_decode_jpeg(const uint8_t *buf, size_t len, const ms_image_limits *lim, ms_image *out,
                                medsam_error *err);
medsam_status ms_img_decode_bmp(const uint8_t *buf, size_t len, const ms_image_limits *lim, ms_image *out,
                                medsam_error *err);
/* The PNG of 8-bit pixels (h, w, channels 1 or 3) in memory: *out malloc'd, *out_len bytes. */
medsam_status ms_png_encode8(const uint8_t *pix, int w, int h, int channels, uint8_t **out, size_t *out_len,
                             medsam_error *err);
/* channels 1 (grey) or 3 (RGB), 8-bit; errors name `path`. */
medsam_status ms_img_write_png8(const char *path, const uint8_t *pix, int w, int h, int channels, medsam_error *err);

#endif
