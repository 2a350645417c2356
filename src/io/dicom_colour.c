/* dicom_colour.c — photometric steps after decoding: YCbCr (YBR_FULL,
 * YBR_FULL_422) to RGB as pydicom's convert_color_space does it, the
 * sub-sampled native YBR_FULL_422 layout, and MONOCHROME1 inversion.
 *
 * MONOCHROME1 rule: a stored value v becomes (min + max) - v where [min, max]
 * is the range Bits Stored and Pixel Representation allow ([0, 2^bits - 1]
 * unsigned, [-2^(bits-1), 2^(bits-1) - 1] signed). The rescale applied after
 * it then gives, for a positive slope, (lo + hi) - (slope v + intercept) with
 * [lo, hi] the rescaled stored range: the image as a viewer shows it (minimum
 * stored value white), in the same units and range. */
#include <stdint.h>
#include <string.h>

#include "io/dicom_codec.h"

int dcm_colour_supported(const char *pi, int codec) {
    if (!strcmp(pi, "RGB") || !strcmp(pi, "YBR_FULL")) return 1;
    if (!strcmp(pi, "YBR_FULL_422")) return codec == DCM_CODEC_NONE || codec == DCM_CODEC_JPEG || codec == DCM_CODEC_RLE;
    if (!strcmp(pi, "YBR_RCT") || !strcmp(pi, "YBR_ICT")) return codec == DCM_CODEC_J2K;
    return 0;
}

// ref: pydicom 2.3 pixel_data_handlers/util.py _convert_YBR_FULL_to_RGB (float32 matmul, +0.5, floor, clip)
void dcm_ybr_to_rgb(uint8_t *p, size_t npix) {
    const float g_cb = (float)(-0.114 * 1.772 / 0.587), g_cr = (float)(-0.299 * 1.402 / 0.587);
    const float r_cr = 1.402f, b_cb = 1.772f;
    for (size_t i = 0; i < npix; i++, p += 3) {
        float y = (float)p[0], cb = (float)p[1] - 128.0f, cr = (float)p[2] - 128.0f;
        float c[3] = {y + cb * 0.0f + cr * r_cr, y + cb * g_cb + cr * g_cr, y + cb * b_cb + cr * 0.0f};
        for (int k = 0; k < 3; k++) {
            float v = c[k] + 0.5f;
            int q = (int)v;
            if ((float)q > v) q--; /* floor */
            p[k] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
        }
    }
}

void dcm_expand_ybr422(const uint8_t *src, int rows, int columns, uint8_t *ycc) {
    const size_t npix = (size_t)rows * (size_t)columns;
    for (size_t i = 0; i < npix; i += 2, src += 4) {
        ycc[3 * i] = src[0], ycc[3 * i + 1] = src[2], ycc[3 * i + 2] = src[3];
        if (i + 1 < npix) ycc[3 * i + 3] = src[1], ycc[3 * i + 4] = src[2], ycc[3 * i + 5] = src[3];
    }
}

void dcm_invert_monochrome1(void *samples, size_t n, int bits_allocated, int bits_stored, int is_signed) {
    /* unsigned: max - v; signed: (-2^(b-1) + 2^(b-1) - 1) - v = -1 - v */
    const uint32_t maxu = bits_stored >= 32 ? 0xFFFFFFFFu : (1u << bits_stored) - 1;
    if (bits_allocated <= 8) {
        uint8_t *p = samples;
        for (size_t i = 0; i < n; i++) p[i] = is_signed ? (uint8_t)(-1 - (int8_t)p[i]) : (uint8_t)(maxu - p[i]);
    } else if (bits_allocated == 16) {
        uint16_t *p = samples;
        for (size_t i = 0; i < n; i++) p[i] = is_signed ? (uint16_t)(-1 - (int16_t)p[i]) : (uint16_t)(maxu - p[i]);
    } else {
        uint32_t *p = samples;
        for (size_t i = 0; i < n; i++) p[i] = is_signed ? ~p[i] : maxu - p[i];
    }
}
