/* image_jpeg.c — JPEG decoding from memory with libjpeg(-turbo).
 * libjpeg's default error handler prints and exit()s; here errors longjmp back with the
 * formatted message, warnings are dropped except "premature end of data" (a truncated
 * file, which PIL refuses too), and a progress monitor caps the number of scans so a
 * crafted progressive file cannot take unbounded time. State that changes after setjmp
 * lives in a heap context. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "core/budget.h"
#include "core/error.h"
#include "io/image_codecs.h"

#define JPG_MAX_SCANS 500

typedef struct {
    struct jpeg_error_mgr pub; /* must be first: libjpeg sees a jpeg_error_mgr */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpg_error;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpg_error jerr;
    struct jpeg_progress_mgr progress;
    uint8_t *pixels; /* (height, width, channels) */
    int created;
} jpg_ctx;

static void jpg_error_exit(j_common_ptr cinfo) {
    jpg_error *e = (jpg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void jpg_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace messages
    cinfo->err->num_warnings++;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpg_error *e = (jpg_error *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "truncated file (premature end of JPEG data)");
        longjmp(e->jump, 1);
    }
}

static void jpg_output_message(j_common_ptr cinfo) {
    (void)cinfo;
}

static void jpg_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPG_MAX_SCANS) {
        jpg_error *e = (jpg_error *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans", JPG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

medsam_status ms_img_decode_jpeg(const uint8_t *buf, size_t len, const ms_image_limits *lim, ms_image *out,
                                 medsam_error *err) {
    const int max_side = lim->max_side;
    const long long max_pixels = lim->max_pixels;
    jpg_ctx *c = calloc(1, sizeof *c);
    if (!c) return ms_error(err, MEDSAM_ERR_NOMEM, "JPEG: out of memory");
    c->cinfo.err = jpeg_std_error(&c->jerr.pub);
    c->jerr.pub.error_exit = jpg_error_exit;
    c->jerr.pub.emit_message = jpg_emit_message;
    c->jerr.pub.output_message = jpg_output_message;
    if (setjmp(c->jerr.jump)) {
        medsam_status st;
        if (lim->max_bytes > 0 && c->jerr.pub.msg_code == JERR_NO_BACKING_STORE) {
            // libjpeg's whole-image buffers did not fit max_memory_to_use (set to the budget below)
            char b[32];
            ms_budget_format(b, sizeof b, (uint64_t)lim->max_bytes);
            st = ms_error(err, MEDSAM_ERR_NOMEM,
                          "JPEG %ux%u: the decoder's whole-image buffers (progressive or multi-scan) are over the "
                          "memory budget of %s (--max-memory)",
                          (unsigned)c->cinfo.image_width, (unsigned)c->cinfo.image_height, b);
        } else {
            st = ms_error(err, MEDSAM_ERR_FORMAT, "JPEG: %s", c->jerr.msg);
        }
        if (c->created) jpeg_destroy_decompress(&c->cinfo);
        free(c->pixels);
        free(c);
        return st;
    }
    jpeg_create_decompress(&c->cinfo);
    c->created = 1;
    c->progress.progress_monitor = jpg_progress;
    c->cinfo.progress = &c->progress;
    if (len > (unsigned long)-1) ERREXIT(&c->cinfo, JERR_INPUT_EMPTY);
    jpeg_mem_src(&c->cinfo, (const unsigned char *)buf, (unsigned long)len);
    jpeg_read_header(&c->cinfo, TRUE);

    long long w = c->cinfo.image_width, h = c->cinfo.image_height;
    if (w > max_side || h > max_side || w * h > max_pixels) {
        jpeg_destroy_decompress(&c->cinfo);
        free(c);
        return ms_error(err, MEDSAM_ERR_NOMEM, "JPEG: image %lldx%lld is over the size limit (%d per side, %lld pixels)",
                        w, h, max_side, max_pixels);
    }
    {
        // decoded size from the SOF; libjpeg's own whole-image buffers (progressive coefficients)
        // are held to the budget through max_memory_to_use (no backing store: it fails instead)
        int ch = c->cinfo.num_components == 1 ? 1 : 3;
        char what[64];
        snprintf(what, sizeof what, "JPEG %lldx%lldx%d", w, h, ch);
        if (ms_budget_check((uint64_t)lim->max_bytes, (uint64_t)(w * h * ch), what, err)) {
            jpeg_destroy_decompress(&c->cinfo);
            free(c);
            return MEDSAM_ERR_NOMEM;
        }
        if (lim->max_bytes > 0) c->cinfo.mem->max_memory_to_use = (long)lim->max_bytes;
    }
    switch (c->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: c->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: c->cinfo.out_color_space = JCS_RGB; break;
    default: {
        int space = (int)c->cinfo.jpeg_color_space;
        jpeg_destroy_decompress(&c->cinfo);
        free(c);
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "JPEG: colour space %d (CMYK/YCCK or unknown) is not supported",
                        space);
    }
    }
    jpeg_start_decompress(&c->cinfo);
    int channels = c->cinfo.output_components;
    if (channels != 1 && channels != 3) ERREXIT(&c->cinfo, JERR_BAD_J_COLORSPACE);
    size_t stride = (size_t)c->cinfo.output_width * (size_t)channels;
    c->pixels = malloc(stride * c->cinfo.output_height);
    if (!c->pixels) ERREXIT1(&c->cinfo, JERR_OUT_OF_MEMORY, 0);
    while (c->cinfo.output_scanline < c->cinfo.output_height) {
        JSAMPROW row = c->pixels + (size_t)c->cinfo.output_scanline * stride;
        jpeg_read_scanlines(&c->cinfo, &row, 1);
    }
    memset(out, 0, sizeof *out);
    out->width = (int)c->cinfo.output_width;
    out->height = (int)c->cinfo.output_height;
    out->channels = channels;
    out->bit_depth = 8;
    out->format = MS_IMAGE_JPEG;
    out->u8 = c->pixels;
    jpeg_destroy_decompress(&c->cinfo);  // no jpeg_finish_decompress: trailing bytes after the pixels don't matter
    free(c);
    return MEDSAM_OK;
}
