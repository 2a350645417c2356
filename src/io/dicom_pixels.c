/* dicom_pixels.c — one frame of DICOM pixel data into host samples: native
 * data (bit-packed 1 bit, 8/16/32 bits in either byte order, High Bit / Bits
 * Stored applied, RGB planes interleaved; the frame's bounds were checked by
 * ms_dicom_parse) or encapsulated data through its codec (dicom_encap.c);
 * then the photometric steps (dicom_colour.c): YCbCr to RGB, MONOCHROME1
 * inverted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/dicom.h"
#include "io/dicom_codec.h"
#include "io/dicom_syntax.h"

ms_voxel_type ms_dicom_file_voxel_type(const ms_dicom_file *f) {
    int s = f->pixel_representation == 1 && f->bits_allocated > 1;
    if (f->samples_per_pixel == 3) return MS_VOX_RGB24;
    if (f->bits_allocated <= 8) return s ? MS_VOX_INT8 : MS_VOX_UINT8;
    if (f->bits_allocated == 16) return s ? MS_VOX_INT16 : MS_VOX_UINT16;
    return s ? MS_VOX_INT32 : MS_VOX_UINT32;
}

/* Keeps the low `bits` bits; signed: the bit above is copied upwards. */
static uint32_t fix_bits(uint32_t raw, int bits, int is_signed) {
    if (bits >= 32) return raw;
    uint32_t mask = (1u << bits) - 1;
    raw &= mask;
    if (is_signed && (raw >> (bits - 1) & 1)) raw |= ~mask;
    return raw;
}

static medsam_status decode_native(const ms_dicom_file *f, int frame, void *dst, medsam_error *err);

/* Compressed frame: codec samples, then Bits Stored masking / sign extension. */
static medsam_status decode_encapsulated(const ms_dicom_file *f, int frame, void *dst, medsam_error *err) {
    if (!f->encap) return ms_error(err, MEDSAM_ERR_FORMAT, "encapsulated Pixel Data was not indexed");
    const dcm_frame_spec spec = {f->rows, f->columns, f->samples_per_pixel, f->bits_allocated, f->bits_stored,
                                 f->pixel_representation == 1, !strncmp(f->photometric, "YBR_FULL", 8)};
    if (f->bits_allocated == 1) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "compressed 1-bit pixel data");
    medsam_status st = dcm_decode_compressed(f->pixel_data, f->encap, frame, (dcm_codec)f->codec, &spec, dst, err);
    if (st != MEDSAM_OK) return st;
    const size_t n = (size_t)f->rows * (size_t)f->columns * (size_t)f->samples_per_pixel;
    const int bs = f->bits_stored, sgn = f->pixel_representation == 1;
    if (f->bits_allocated == 8) {
        uint8_t *d = dst;
        if (bs < 8) for (size_t i = 0; i < n; i++) d[i] = (uint8_t)fix_bits(d[i], bs, sgn);
    } else if (f->bits_allocated == 16) {
        uint16_t *d = dst;
        if (bs < 16) for (size_t i = 0; i < n; i++) d[i] = (uint16_t)fix_bits(d[i], bs, sgn);
    } else {
        uint32_t *d = dst;
        if (bs < 32) for (size_t i = 0; i < n; i++) d[i] = fix_bits(d[i], bs, sgn);
    }
    return MEDSAM_OK;
}

medsam_status ms_dicom_decode_frame(const ms_dicom_file *f, int frame, void *dst, medsam_error *err) {
    if (!f->has_pixel_data) return ms_error(err, MEDSAM_ERR_FORMAT, "no Pixel Data (7FE0,0010)");
    if (frame < 0 || frame >= f->nframes)
        return ms_error(err, MEDSAM_ERR_ARG, "frame %d outside 0..%d", frame, f->nframes - 1);
    const size_t npix = (size_t)f->rows * (size_t)f->columns;
    medsam_status st;
    if (f->codec) {
        st = decode_encapsulated(f, frame, dst, err);
    } else if (f->samples_per_pixel == 3 && !strcmp(f->photometric, "YBR_FULL_422")) {
        /* native 4:2:2: two bytes per pixel, frames of npix * 2 bytes */
        if (f->bits_allocated != 8 || f->columns % 2)
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "native YBR_FULL_422 needs 8 bits and an even number of columns");
        dcm_expand_ybr422(f->pixel_data + (size_t)frame * npix * 2, f->rows, f->columns, dst);
        st = MEDSAM_OK;
    } else {
        st = decode_native(f, frame, dst, err);
    }
    if (st != MEDSAM_OK) return st;
    if (f->samples_per_pixel == 3 && !strncmp(f->photometric, "YBR_FULL", 8)) dcm_ybr_to_rgb(dst, npix);
    if (f->samples_per_pixel == 1 && !strcmp(f->photometric, "MONOCHROME1"))
        dcm_invert_monochrome1(dst, npix, f->bits_allocated, f->bits_allocated == 1 ? 1 : f->bits_stored,
                               f->pixel_representation == 1 && f->bits_allocated > 1);
    return MEDSAM_OK;
}

static medsam_status decode_native(const ms_dicom_file *f, int frame, void *dst, medsam_error *err) {
    if (frame < 0 || frame >= f->nframes)
        return ms_error(err, MEDSAM_ERR_ARG, "frame %d outside 0..%d", frame, f->nframes - 1);
    // dst: (rows, columns, samples) of ms_dicom_file_voxel_type(f)
    const size_t npix = (size_t)f->rows * (size_t)f->columns, spp = (size_t)f->samples_per_pixel;
    const int ba = f->bits_allocated, bs = f->bits_stored, sgn = f->pixel_representation == 1, big = f->big_endian;
    const int shift = f->high_bit - (bs - 1); /* stored bits sit at [high_bit - bs + 1, high_bit] */
    const uint8_t *src = f->pixel_data;
    /* OW in big endian: bytes swapped in 16-bit words, which moves 1- and 8-bit samples */
    const size_t swap = f->pixel_words_swapped && ba <= 8 ? 1 : 0;
    if (ba == 1) {
        uint8_t *d = dst;
        size_t bit0 = (size_t)frame * npix; /* frames follow each other bit by bit */
        for (size_t i = 0; i < npix; i++) d[i] = (uint8_t)(src[((bit0 + i) >> 3) ^ swap] >> ((bit0 + i) & 7) & 1);
        return MEDSAM_OK;
    }
    const size_t frame_samples = npix * spp;
    const size_t at = (size_t)frame * frame_samples * (size_t)(ba / 8);
    if (ba == 8) {
        uint8_t *d = dst;
        if (spp == 3 && f->planar_configuration == 1) {
            for (size_t i = 0; i < npix; i++)
                for (size_t c = 0; c < 3; c++) d[3 * i + c] = src[(at + c * npix + i) ^ swap];
        } else if (swap) {
            for (size_t i = 0; i < frame_samples; i++) d[i] = src[(at + i) ^ swap];
        } else {
            memcpy(d, src + at, frame_samples);
        }
        if (bs < 8)
            for (size_t i = 0; i < frame_samples; i++) d[i] = (uint8_t)fix_bits((uint32_t)d[i] >> shift, bs, sgn);
        return MEDSAM_OK;
    }
    src += at;
    if (ba == 16) {
        uint16_t *d = dst;
        for (size_t i = 0; i < frame_samples; i++) d[i] = (uint16_t)fix_bits(rd16(src + 2 * i, big) >> shift, bs, sgn);
    } else {
        uint32_t *d = dst;
        for (size_t i = 0; i < frame_samples; i++) d[i] = fix_bits(rd32(src + 4 * i, big) >> shift, bs, sgn);
    }
    return MEDSAM_OK;
}
