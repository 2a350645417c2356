/* dicom_codec_j2k.c — JPEG 2000 (lossless and lossy, J2K codestream or JP2
 * file) frames through OpenJPEG (Debian libopenjp2) from a memory stream. The
 * header is read first and checked against the data set — image and component
 * sizes, sub-sampling, component count, precision — so that a header claiming
 * a huge image is refused before OpenJPEG allocates the decoded planes (which
 * are then at most rows x columns x samples int32). OpenJPEG applies the
 * inverse RCT/ICT itself. Its messages are kept (last error) for ours.
 * ref: pydicom 2.3 pixel_data_handlers/pillow_handler.py (JPEG 2000 path). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openjpeg.h>

#include "core/error.h"
#include "io/dicom_codec.h"

typedef struct {
    const uint8_t *p;
    size_t n, at;
    char msg[160];
} j2k_src;

static OPJ_SIZE_T j2k_read(void *buf, OPJ_SIZE_T want, void *user) {
    j2k_src *s = user;
    size_t left = s->n - s->at;
    if (!left) return (OPJ_SIZE_T)-1;
    if (want > left) want = left;
    memcpy(buf, s->p + s->at, want);
    s->at += want;
    return want;
}

static OPJ_OFF_T j2k_skip(OPJ_OFF_T by, void *user) {
    j2k_src *s = user;
    if (by < 0) {
        if ((size_t)(-by) > s->at) by = -(OPJ_OFF_T)s->at;
    } else if ((size_t)by > s->n - s->at) {
        by = (OPJ_OFF_T)(s->n - s->at);
    }
    s->at = (size_t)((OPJ_OFF_T)s->at + by);
    return by;
}

static OPJ_BOOL j2k_seek(OPJ_OFF_T to, void *user) {
    j2k_src *s = user;
    if (to < 0 || (size_t)to > s->n) return OPJ_FALSE;
    s->at = (size_t)to;
    return OPJ_TRUE;
}

static void j2k_keep(const char *msg, void *user) {
    j2k_src *s = user;
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    s->msg[strcspn(s->msg, "\n")] = 0;
}

static void j2k_quiet(const char *msg, void *user) { (void)msg, (void)user; }

medsam_status dcm_decode_j2k(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst, medsam_error *err) {
    int jp2 = n >= 12 && !memcmp(src, "\0\0\0\x0CjP  \r\n\x87\n", 12);
    if (!jp2 && !(n >= 4 && src[0] == 0xFF && src[1] == 0x4F && src[2] == 0xFF && src[3] == 0x51))
        return ms_error(err, MEDSAM_ERR_FORMAT, "not a JPEG 2000 codestream (no SOC/SIZ marker, no JP2 signature)");
    j2k_src s = {src, n, 0, ""};
    opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_stream_t *stream = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_image_t *img = NULL;
    medsam_status st = MEDSAM_OK;
    if (!codec || !stream) {
        st = ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
        goto done;
    }
    opj_set_error_handler(codec, j2k_keep, &s);
    opj_set_warning_handler(codec, j2k_quiet, &s);
    opj_set_info_handler(codec, j2k_quiet, &s);
    opj_stream_set_user_data(stream, &s, NULL);
    opj_stream_set_user_data_length(stream, (OPJ_UINT64)n);
    opj_stream_set_read_function(stream, j2k_read);
    opj_stream_set_skip_function(stream, j2k_skip);
    opj_stream_set_seek_function(stream, j2k_seek);
    opj_dparameters_t par;
    opj_set_default_decoder_parameters(&par);
    if (!opj_setup_decoder(codec, &par) || !opj_read_header(stream, codec, &img)) {
        st = ms_error(err, MEDSAM_ERR_FORMAT, "header: %s", s.msg[0] ? s.msg : "unreadable");
        goto done;
    }
    const int bytes = spec->bits_allocated / 8;
    int ok = (int)img->numcomps == spec->samples && img->x1 > img->x0 && img->y1 > img->y0 &&
             img->x1 - img->x0 == (OPJ_UINT32)spec->columns && img->y1 - img->y0 == (OPJ_UINT32)spec->rows;
    for (OPJ_UINT32 c = 0; ok && c < img->numcomps; c++) {
        const opj_image_comp_t *cp = &img->comps[c];
        ok = cp->dx == 1 && cp->dy == 1 && cp->prec >= 1 && (int)cp->prec <= spec->bits_allocated && bytes >= 1;
    }
    if (!ok) {
        st = ms_error(err, MEDSAM_ERR_FORMAT,
                      "header says %ux%u with %u component(s) (precision %u), the data set %dx%d x %d of %d bits",
                      img->x1 - img->x0, img->y1 - img->y0, img->numcomps, img->numcomps ? img->comps[0].prec : 0,
                      spec->columns, spec->rows, spec->samples, spec->bits_allocated);
        goto done;
    }
    if (!opj_decode(codec, stream, img) || !opj_end_decompress(codec, stream)) {
        st = ms_error(err, MEDSAM_ERR_FORMAT, "%s", s.msg[0] ? s.msg : "decoding failed");
        goto done;
    }
    const size_t npix = (size_t)spec->rows * (size_t)spec->columns, spp = (size_t)spec->samples;
    for (size_t c = 0; c < spp; c++) {
        const OPJ_INT32 *p = img->comps[c].data;
        if (!p || img->comps[c].w != (OPJ_UINT32)spec->columns || img->comps[c].h != (OPJ_UINT32)spec->rows) {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "component %zu was not decoded at full size", c + 1);
            goto done;
        }
        if (bytes == 1)
            for (size_t i = 0; i < npix; i++) ((uint8_t *)dst)[i * spp + c] = (uint8_t)p[i];
        else if (bytes == 2)
            for (size_t i = 0; i < npix; i++) ((uint16_t *)dst)[i * spp + c] = (uint16_t)p[i];
        else
            for (size_t i = 0; i < npix; i++) ((uint32_t *)dst)[i * spp + c] = (uint32_t)p[i];
    }
done:
    if (img) opj_image_destroy(img);
    if (stream) opj_stream_destroy(stream);
    if (codec) opj_destroy_codec(codec);
    return st;
}
