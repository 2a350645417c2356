/* dicom_codec_jpegls.c — JPEG-LS lossless and near-lossless frames through
 * CharLS's C API (Debian libcharls): the header is read and checked against the
 * data set (size, components, precision) before the destination size is asked
 * for; CharLS writes samples of 1 byte (precision <= 8) or 2 bytes, and
 * planar data when the interleave mode is "none" (re-interleaved here).
 * ref: pydicom 2.3 pixel_data_handlers/jpeg_ls_handler.py (jpeg_ls.decode). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <charls/charls.h>

#include "core/error.h"
#include "io/dicom_codec.h"

medsam_status dcm_decode_jpegls(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst, medsam_error *err) {
    charls_jpegls_decoder *d = charls_jpegls_decoder_create();
    if (!d) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    charls_frame_info fi;
    charls_interleave_mode ilv = CHARLS_INTERLEAVE_MODE_NONE;
    charls_jpegls_errc e = charls_jpegls_decoder_set_source_buffer(d, src, n);
    if (!e) e = charls_jpegls_decoder_read_header(d);
    if (!e) e = charls_jpegls_decoder_get_frame_info(d, &fi);
    if (!e) e = charls_jpegls_decoder_get_interleave_mode(d, &ilv);
    if (e) {
        medsam_status st = ms_error(err, MEDSAM_ERR_FORMAT, "%s", charls_get_error_message(e));
        charls_jpegls_decoder_destroy(d);
        return st;
    }
    const int bytes = spec->bits_allocated / 8;
    const int want_bytes = fi.bits_per_sample <= 8 ? 1 : 2;
    if ((int)fi.width != spec->columns || (int)fi.height != spec->rows || fi.component_count != spec->samples ||
        fi.bits_per_sample < 2 || fi.bits_per_sample > 16 || want_bytes != bytes) {
        charls_jpegls_decoder_destroy(d);
        return ms_error(err, MEDSAM_ERR_FORMAT,
                        "codestream is %ux%u, %d component(s) of %d bits; the data set says %dx%d, %d x %d bits allocated",
                        fi.width, fi.height, fi.component_count, fi.bits_per_sample, spec->columns, spec->rows,
                        spec->samples, spec->bits_allocated);
    }
    const size_t npix = (size_t)spec->rows * (size_t)spec->columns, total = npix * (size_t)spec->samples * (size_t)bytes;
    size_t need = 0;
    e = charls_jpegls_decoder_get_destination_size(d, 0, &need);
    uint8_t *planar = NULL;
    int replan = spec->samples > 1 && ilv == CHARLS_INTERLEAVE_MODE_NONE;
    if (!e && need != total) {
        charls_jpegls_decoder_destroy(d);
        return ms_error(err, MEDSAM_ERR_FORMAT, "CharLS wants %zu bytes for a frame of %zu", need, total);
    }
    if (!e && replan && !(planar = malloc(total))) {
        charls_jpegls_decoder_destroy(d);
        return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    }
    if (!e) e = charls_jpegls_decoder_decode_to_buffer(d, replan ? planar : dst, total, 0);
    charls_jpegls_decoder_destroy(d);
    if (e) {
        free(planar);
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s", charls_get_error_message(e));
    }
    if (replan) {
        uint8_t *out = dst;
        const size_t spp = (size_t)spec->samples, b = (size_t)bytes;
        for (size_t c = 0; c < spp; c++)
            for (size_t i = 0; i < npix; i++) memcpy(out + (i * spp + c) * b, planar + (c * npix + i) * b, b);
        free(planar);
    }
    return MEDSAM_OK;
}
