/* dicom_codec_rle.c — DICOM RLE Lossless (PS3.5 G): a 64-byte header (segment
 * count, 15 offsets), one PackBits segment per byte plane, most significant
 * byte first, sample by sample. Every segment must fill rows x columns bytes;
 * bytes past that are ignored (as pydicom does), a short segment is refused.
 * ref: pydicom 2.3 pixel_data_handlers/rle_handler.py (_rle_decode_frame). */
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "io/dicom_codec.h"
#include "io/dicom_syntax.h"

/* PackBits: header byte h; 0..127: h+1 literal bytes; 129..255: the next byte
 * 257-h times; 128: nothing. Writes byte i of the plane to out[i * stride]. */
static int unpack_segment(const uint8_t *s, size_t n, uint8_t *out, size_t npix, size_t stride) {
    size_t i = 0, at = 0;
    while (at < n && i < npix) {
        uint8_t h = s[at++];
        if (h < 128) {
            size_t cnt = (size_t)h + 1;
            if (cnt > n - at) cnt = n - at;      /* literal run cut by the segment's end */
            if (cnt > npix - i) cnt = npix - i;  /* past the plane: ignored */
            for (size_t k = 0; k < cnt; k++) out[(i + k) * stride] = s[at + k];
            at += (size_t)h + 1, i += cnt;
        } else if (h > 128) {
            if (at >= n) break;
            size_t cnt = 257 - (size_t)h;
            if (cnt > npix - i) cnt = npix - i;
            for (size_t k = 0; k < cnt; k++) out[(i + k) * stride] = s[at];
            at++, i += cnt;
        }
    }
    return i == npix ? 0 : -1;
}

medsam_status dcm_decode_rle(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst, medsam_error *err) {
    if (n < 64) return ms_error(err, MEDSAM_ERR_FORMAT, "RLE header needs 64 bytes, the frame has %zu", n);
    const int bytes = spec->bits_allocated / 8;
    if (spec->bits_allocated % 8 || bytes < 1 || bytes > 4)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "RLE with Bits Allocated %d", spec->bits_allocated);
    const uint32_t nseg = rd32(src, 0);
    const uint32_t want = (uint32_t)(bytes * spec->samples);
    if (nseg != want)
        return ms_error(err, MEDSAM_ERR_FORMAT, "RLE header has %u segments, %d samples x %d bytes need %u", nseg,
                        spec->samples, bytes, want);
    uint32_t off[16];
    for (uint32_t k = 0; k < nseg; k++) off[k] = rd32(src + 4 + 4 * k, 0);
    off[nseg] = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
    const size_t npix = (size_t)spec->rows * (size_t)spec->columns;
    const size_t stride = (size_t)bytes * (size_t)spec->samples; /* bytes between a pixel and the next */
    uint8_t *out = dst;
    for (uint32_t k = 0; k < nseg; k++) {
        if (off[k] < 64 || off[k] > n || off[k + 1] > n || off[k + 1] < off[k])
            return ms_error(err, MEDSAM_ERR_FORMAT, "RLE segment %u offset %u outside 64..%zu or out of order", k + 1, off[k], n);
        const int sample = (int)(k / (uint32_t)bytes), byte_msb = (int)(k % (uint32_t)bytes);
        /* the sample in host byte order: on little endian the most significant byte goes last */
        const uint16_t one = 1;
        uint8_t little;
        memcpy(&little, &one, 1);
        const int b = little ? bytes - 1 - byte_msb : byte_msb;
        uint8_t *plane = out + (size_t)sample * (size_t)bytes + (size_t)b;
        if (unpack_segment(src + off[k], off[k + 1] - off[k], plane, npix, stride))
            return ms_error(err, MEDSAM_ERR_FORMAT, "RLE segment %u decodes to fewer than %zu bytes", k + 1, npix);
    }
    return MEDSAM_OK;
}
