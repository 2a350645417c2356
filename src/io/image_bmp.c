/* image_bmp.c — Windows BMP decoding (uncompressed 1/4/8-bit palette, 16, 24 and
 * 32-bit, BI_BITFIELDS, bottom-up and top-down), with the pixel values Pillow (and
 * so skimage.io.imread) gives: a palette that is the grey ramp reads as grey, any
 * other palette as RGB; 16-bit channels scale as v * 255 / max (integer). RLE
 * compression is refused with a message. Every size is checked against the buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/budget.h"
#include "core/error.h"
#include "io/image_codecs.h"

static uint32_t rd32(const uint8_t *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Position of the lowest set bit and the width of the mask (0 for an empty mask). */
static void mask_shape(uint32_t mask, int *shift, int *bits) {
    *shift = 0;
    *bits = 0;
    if (!mask) return;
    while (!(mask & 1)) mask >>= 1, (*shift)++;
    while (mask & 1) mask >>= 1, (*bits)++;
}

static uint8_t scale_field(uint32_t px, int shift, int bits) {
    if (!bits) return 0;
    uint64_t max = (UINT64_C(1) << bits) - 1, v = ((uint64_t)px >> shift) & max; /* bits may be 32 */
    return (uint8_t)(bits == 8 ? v : v * 255 / max);
}

medsam_status ms_img_decode_bmp(const uint8_t *buf, size_t len, const ms_image_limits *lim, ms_image *out,
                                medsam_error *err) {
    const int max_side = lim->max_side;
    const long long max_pixels = lim->max_pixels;
    if (len < 26 || buf[0] != 'B' || buf[1] != 'M') return ms_error(err, MEDSAM_ERR_FORMAT, "BMP: truncated header");
    uint32_t data_off = rd32(buf + 10), hsize = rd32(buf + 14);
    int64_t w, h;
    int bpp, compression = 0, colors = 0;
    if (hsize == 12) { /* OS/2 BITMAPCOREHEADER */
        w = rd16(buf + 18), h = (int16_t)rd16(buf + 20), bpp = rd16(buf + 24);
    } else if (hsize >= 40 && 14 + (size_t)hsize <= len) {
        w = (int32_t)rd32(buf + 18), h = (int32_t)rd32(buf + 22), bpp = rd16(buf + 28);
        compression = (int)rd32(buf + 30), colors = (int)rd32(buf + 46);
    } else {
        return ms_error(err, MEDSAM_ERR_FORMAT, "BMP: truncated or unknown info header (%u bytes)", hsize);
    }
    int top_down = h < 0;
    if (top_down) h = -h;
    if (w < 1 || h < 1 || w > max_side || h > max_side || w * h > max_pixels)
        return ms_error(err, MEDSAM_ERR_FORMAT, "BMP: image size %lldx%lld is invalid or over the limit", (long long)w,
                        (long long)h);
    if (compression == 1 || compression == 2)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "BMP: RLE-compressed bitmaps are not supported; save as PNG");
    if (compression != 0 && compression != 3)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "BMP: compression type %d is not supported", compression);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "BMP: %d bits per pixel is not supported", bpp);
    /* channel masks: defaults, or BI_BITFIELDS from the header (or right after a 40-byte one) */
    uint32_t mr = 0, mg = 0, mb = 0, ma = 0;
    if (bpp == 16) mr = 0x7c00, mg = 0x03e0, mb = 0x001f;
    if (bpp == 32) mr = 0xff0000, mg = 0xff00, mb = 0xff;
    if (compression == 3) {
        if (bpp != 16 && bpp != 32) return ms_error(err, MEDSAM_ERR_FORMAT, "BMP: bit fields with %d bits per pixel", bpp);
        if (14 + 40 + 12 > len) return ms_error(err, MEDSAM_ERR_FORMAT, "BMP: truncated bit-field masks");
        mr = rd32(buf + 54), mg = rd32(buf + 58), mb = rd32(buf + 62);
        if (hsize >= 56 && 14 + 56 <= len) ma = rd32(buf + 66);
    }
    /* palette */
    uint8_t pal[256][3] = {{0}};
    int ncolors = 0;
    if (bpp <= 8) {
        int entry = hsize == 12 ? 3 : 4;
        ncolors = colors > 0 && colors <= (1 << bpp) ? colors : (1 << bpp);
        size_t pal_off = 14 + (size_t)hsize + (compression == 3 ? 12 : 0);
        if (pal_off + (size_t)ncolors * entry > len) return ms_error(err, MEDSAM_ERR_FORMAT, "BMP: truncated palette");
        for (int i = 0; i < ncolors; i++)
            for (int c = 0; c < 3; c++) pal[i][c] = buf[pal_off + (size_t)i * entry + 2 - c]; /* BGR -> RGB */
    }
    int grey = 0;
    if (bpp <= 8) { /* Pillow: a palette equal to the grey ramp (or black/white for 2 colours) is mode L */
        grey = 1;
        for (int i = 0; i < ncolors && grey; i++) {
            int v = ncolors == 2 ? (i ? 255 : 0) : i;
            grey = pal[i][0] == v && pal[i][1] == v && pal[i][2] == v;
        }
    }
    int ch = grey ? 1 : (ma ? 4 : 3);
    char what[64];
    snprintf(what, sizeof what, "BMP %lldx%lldx%d", (long long)w, (long long)h, ch);
    medsam_status bst = ms_budget_check((uint64_t)lim->max_bytes, (uint64_t)(w * h * ch), what, err);
    if (bst) return bst;
    int64_t stride = ((int64_t)bpp * w + 31) / 32 * 4;
    if (data_off > len || (uint64_t)stride * h > len - data_off)
        return ms_error(err, MEDSAM_ERR_FORMAT, "BMP: truncated pixel data (%lld bytes needed)",
                        (long long)(stride * h));
    uint8_t *pix = malloc((size_t)(w * h * ch));
    if (!pix) return ms_error(err, MEDSAM_ERR_NOMEM, "BMP: cannot allocate %lldx%lld pixels", (long long)w, (long long)h);
    int sr, br, sg, bg, sb, bb, sa, ba;
    mask_shape(mr, &sr, &br), mask_shape(mg, &sg, &bg), mask_shape(mb, &sb, &bb), mask_shape(ma, &sa, &ba);
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *row = buf + data_off + (top_down ? y : h - 1 - y) * stride;
        uint8_t *o = pix + y * w * ch;
        for (int64_t x = 0; x < w; x++, o += ch) {
            if (bpp <= 8) {
                int idx = bpp == 8 ? row[x] : (row[x * bpp / 8] >> (8 - bpp - (x * bpp % 8))) & ((1 << bpp) - 1);
                if (idx >= ncolors) idx = 0; /* out-of-palette index: Pillow reads the zero-filled entry */
                if (grey) o[0] = pal[idx][0];
                else memcpy(o, pal[idx], 3);
            } else if (bpp == 24) {
                o[0] = row[3 * x + 2], o[1] = row[3 * x + 1], o[2] = row[3 * x];
            } else {
                uint32_t px = bpp == 16 ? rd16(row + 2 * x) : rd32(row + 4 * x);
                o[0] = scale_field(px, sr, br), o[1] = scale_field(px, sg, bg), o[2] = scale_field(px, sb, bb);
                if (ch == 4) o[3] = scale_field(px, sa, ba);
            }
        }
    }
    out->width = (int)w, out->height = (int)h, out->channels = ch, out->bit_depth = 8;
    out->format = MS_IMAGE_BMP;
    out->u8 = pix;
    return MEDSAM_OK;
}
