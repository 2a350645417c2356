/* dicom_codec_jpeg.c — JPEG baseline (process 1) and extended (process 2/4)
 * frames through libjpeg(-turbo), from memory. 8-bit samples only: Debian's
 * libjpeg-turbo 2.1 is built without 12-bit support, so 12-bit frames are
 * refused with that reason. YBR photometric data are kept in YCbCr (libjpeg's
 * colour conversion off, as pydicom's Pillow handler does with draft('YCbCr'));
 * dicom_pixels.c converts them to RGB as pydicom's convert_color_space.
 * Errors longjmp back with libjpeg's message; warnings are ignored except a
 * premature end of data; scans are capped.
 * ref: pydicom 2.3 pixel_data_handlers/pillow_handler.py (get_pixeldata). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "core/error.h"
#include "io/dicom_codec.h"

#define DJ_MAX_SCANS 500

typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg sees a jpeg_error_mgr */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} dj_error;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    dj_error jerr;
    struct jpeg_progress_mgr progress;
    int created;
} dj_ctx;

static void dj_error_exit(j_common_ptr cinfo) {
    dj_error *e = (dj_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void dj_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        dj_error *e = (dj_error *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "truncated (premature end of JPEG data)");
        longjmp(e->jump, 1);
    }
}

static void dj_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void dj_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (cinfo->is_decompressor && d->input_scan_number > DJ_MAX_SCANS) {
        dj_error *e = (dj_error *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans", DJ_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

/* 12-bit (or other) precision from the SOF marker, before libjpeg refuses it
 * with a less helpful message; 0 when no SOF is found. */
static int sof_precision(const uint8_t *s, size_t n) {
    for (size_t i = 0; i + 4 < n; i++)
        if (s[i] == 0xFF && s[i + 1] >= 0xC0 && s[i + 1] <= 0xCF && s[i + 1] != 0xC4 && s[i + 1] != 0xC8 &&
            s[i + 1] != 0xCC)
            return s[i + 4];
    return 0;
}

medsam_status dcm_decode_jpeg(const uint8_t *src, size_t n, const dcm_frame_spec *spec, void *dst, medsam_error *err) {
    int prec = sof_precision(src, n);
    if (prec > 8)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                        "%d-bit JPEG (extended, process 4) is not supported: Debian's libjpeg-turbo 2.1 decodes 8-bit "
                        "JPEG only; convert the series with gdcmconv --raw first",
                        prec);
    if (spec->bits_allocated != 8)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "8-bit JPEG with Bits Allocated %d is not supported (8 only)",
                        spec->bits_allocated);
    dj_ctx *c = calloc(1, sizeof *c);
    if (!c) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory");
    c->cinfo.err = jpeg_std_error(&c->jerr.pub);
    c->jerr.pub.error_exit = dj_error_exit;
    c->jerr.pub.emit_message = dj_emit_message;
    c->jerr.pub.output_message = dj_output_message;
    if (setjmp(c->jerr.jump)) {
        medsam_status st = ms_error(err, MEDSAM_ERR_FORMAT, "%s", c->jerr.msg);
        if (c->created) jpeg_destroy_decompress(&c->cinfo);
        free(c);
        return st;
    }
    jpeg_create_decompress(&c->cinfo);
    c->created = 1;
    c->progress.progress_monitor = dj_progress;
    c->cinfo.progress = &c->progress;
    jpeg_mem_src(&c->cinfo, src, (unsigned long)n);
    jpeg_read_header(&c->cinfo, TRUE);
    j_decompress_ptr d = &c->cinfo;
    if ((int)d->image_width != spec->columns || (int)d->image_height != spec->rows || d->num_components != spec->samples) {
        medsam_status st = ms_error(err, MEDSAM_ERR_FORMAT, "codestream is %ux%u with %d component(s), the data set says %dx%d x %d",
                                    d->image_width, d->image_height, d->num_components, spec->columns, spec->rows,
                                    spec->samples);
        jpeg_destroy_decompress(d);
        free(c);
        return st;
    }
    if (spec->samples == 1) {
        d->out_color_space = JCS_GRAYSCALE;
    } else if (spec->ybr) {
        if (d->jpeg_color_space == JCS_YCbCr) d->out_color_space = JCS_YCbCr;
        else d->out_color_space = JCS_RGB;
    } else {
        /* Photometric RGB: without an Adobe APP14 marker the components are
         * taken as RGB, not transformed (pydicom's Pillow handler does the same) */
        if (!d->saw_Adobe_marker) d->jpeg_color_space = JCS_RGB;
        d->out_color_space = JCS_RGB;
    }
    jpeg_start_decompress(d);
    if ((int)d->output_components != spec->samples)
        ERREXIT(d, JERR_BAD_IN_COLORSPACE);
    const size_t row_bytes = (size_t)spec->columns * (size_t)spec->samples;
    uint8_t *out = dst;
    while (d->output_scanline < d->output_height) {
        JSAMPROW row = out + (size_t)d->output_scanline * row_bytes;
        if (jpeg_read_scanlines(d, &row, 1) != 1) ERREXIT(d, JERR_INPUT_EOF);
    }
    jpeg_finish_decompress(d);
    jpeg_destroy_decompress(d);
    free(c);
    return MEDSAM_OK;
}
