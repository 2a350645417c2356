/* dicom_parse.c — DICOM data-element parser for one file image in memory,
 * and the pixel decoder for one frame. Transfer syntaxes, the file probe and
 * deflated data sets are in dicom_syntax.c.
 *
 * Every length is checked against the bytes left before it is used; nested
 * sequences and items are tracked with a fixed stack (no recursion), their
 * ends checked against their parents'. Only the values medsam.c needs are
 * kept (see ms_dicom_file); everything else is stepped over. */
#include "io/dicom.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/dicom_codec.h"
#include "io/dicom_syntax.h"

#define TAG(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))
#define UNDEF_LEN 0xFFFFFFFFu
#define NO_END SIZE_MAX

#define T_TRANSFER_SYNTAX TAG(0x0002, 0x0010)
#define T_IMAGE_TYPE TAG(0x0008, 0x0008)
#define T_MODALITY TAG(0x0008, 0x0060)
#define T_SLICE_THICKNESS TAG(0x0018, 0x0050)
#define T_SPACING_BETWEEN TAG(0x0018, 0x0088)
#define T_PATIENT_POSITION TAG(0x0018, 0x5100)
#define T_SERIES_UID TAG(0x0020, 0x000E)
#define T_SOP_CLASS TAG(0x0008, 0x0016)
#define T_SOP_INSTANCE TAG(0x0008, 0x0018)
#define T_EXT_OFFSETS TAG(0x7FE0, 0x0001)
#define T_INSTANCE_NUMBER TAG(0x0020, 0x0013)
#define T_IPP TAG(0x0020, 0x0032)
#define T_IOP TAG(0x0020, 0x0037)
#define T_SAMPLES TAG(0x0028, 0x0002)
#define T_PHOTOMETRIC TAG(0x0028, 0x0004)
#define T_PLANAR TAG(0x0028, 0x0006)
#define T_NFRAMES TAG(0x0028, 0x0008)
#define T_ROWS TAG(0x0028, 0x0010)
#define T_COLUMNS TAG(0x0028, 0x0011)
#define T_PIXEL_SPACING TAG(0x0028, 0x0030)
#define T_BITS_ALLOCATED TAG(0x0028, 0x0100)
#define T_BITS_STORED TAG(0x0028, 0x0101)
#define T_HIGH_BIT TAG(0x0028, 0x0102)
#define T_PIXEL_REP TAG(0x0028, 0x0103)
#define T_WINDOW_CENTER TAG(0x0028, 0x1050)
#define T_WINDOW_WIDTH TAG(0x0028, 0x1051)
#define T_RESCALE_INTERCEPT TAG(0x0028, 0x1052)
#define T_RESCALE_SLOPE TAG(0x0028, 0x1053)
#define T_GRID_OFFSETS TAG(0x3004, 0x000C)
#define T_SHARED_GROUPS TAG(0x5200, 0x9229)
#define T_PERFRAME_GROUPS TAG(0x5200, 0x9230)
#define T_FLOAT_PIXEL_DATA TAG(0x7FE0, 0x0008)
#define T_DOUBLE_PIXEL_DATA TAG(0x7FE0, 0x0009)
#define T_PIXEL_DATA TAG(0x7FE0, 0x0010)
#define T_ITEM TAG(0xFFFE, 0xE000)
#define T_ITEM_END TAG(0xFFFE, 0xE00D)
#define T_SEQ_END TAG(0xFFFE, 0xE0DD)

/* ---- small readers ---- */

/* Copies a text value without padding (spaces, NULs); anything that is not
 * printable ASCII becomes '?', so that it can go into a one-line message. */
static void get_text(char *dst, size_t cap, const uint8_t *v, size_t n) {
    while (n && (v[n - 1] == ' ' || v[n - 1] == 0)) n--;
    while (n && v[0] == ' ') v++, n--;
    if (n > cap - 1) n = cap - 1;
    for (size_t i = 0; i < n; i++) dst[i] = v[i] >= 32 && v[i] < 127 ? (char)v[i] : '?';
    dst[n] = 0;
}

/* One decimal number (DS/IS text) without locale: exact for up to 15-16
 * significant digits and |exponent| <= 22 (Clinger's fast path), long double
 * otherwise. Returns 0 on success. */
static int parse_decimal(const char *s, size_t n, double *out) {
    size_t i = 0;
    int neg = 0, digits = 0, exp10 = 0;
    uint64_t m = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (m < 100000000000000000ull) m = m * 10 + (uint64_t)(s[i] - '0');
        else if (exp10 < 100000) exp10++; /* digits past 17: only the magnitude counts */
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (m < 100000000000000000ull) m = m * 10 + (uint64_t)(s[i] - '0'), exp10--;
    }
    if (!digits) return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, e = 0, ed = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed++)
            if (e < 10000) e = e * 10 + (s[i] - '0');
        if (!ed) return -1;
        exp10 += eneg ? -e : e;
    }
    if (i != n) return -1;
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    double v;
    if (m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22)
        v = exp10 < 0 ? (double)m / p10[-exp10] : (double)m * p10[exp10];
    else if (m == 0)
        v = 0;
    else
        v = (double)((long double)m * powl(10.0L, (long double)exp10));
    *out = neg ? -v : v;
    return 0;
}

/* Backslash-separated numbers (DS or IS): the first `max` go to out, *count
 * says how many there are. Empty text gives *count 0. Returns -1 when a
 * value is not a finite number. */
static int parse_numbers(const uint8_t *v, size_t n, double *out, int max, int *count) {
    *count = 0;
    size_t start = 0;
    int only_padding = 1;
    for (size_t i = 0; i < n; i++)
        if (v[i] != ' ' && v[i] != 0) only_padding = 0;
    if (only_padding) return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && v[i] != '\\') continue;
        size_t a = start, b = i;
        while (a < b && (v[a] == ' ' || v[a] == 0)) a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == 0)) b--;
        double d;
        if (parse_decimal((const char *)v + a, b - a, &d) || !isfinite(d)) return -1;
        if (*count < max) out[*count] = d;
        (*count)++;
        start = i + 1;
    }
    return 0;
}

/* Raw text value (padding removed, at most cap-1 bytes, NULs dropped). */
static void get_raw(char *dst, size_t cap, const uint8_t *v, size_t n) {
    while (n && (v[n - 1] == ' ' || v[n - 1] == 0)) n--;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        if (v[i]) dst[k++] = (char)v[i];
    dst[k] = 0;
}

/* ---- parse state ---- */

enum { H_IPP = 1, H_IOP = 2, H_PS = 4, H_THICK = 8, H_SBS = 16, H_SLOPE = 32, H_INTER = 64, H_WC = 128, H_WW = 256 };

typedef struct {
    double ipp[3], iop[6], ps[2], thick, sbs, slope, inter, wc, ww;
    unsigned has;
} dcm_vals;

typedef struct {
    uint32_t tag;      /* SQ tag, or T_ITEM */
    size_t end;        /* NO_END: undefined length (closed by a delimiter) */
    size_t limit;      /* contents end by here: own end, else the parent's limit */
    int count;         /* SQ: items seen so far; item: its index */
    int implicit, big; /* encoding of the contents */
    int fragments;     /* encapsulated data: items are raw fragments */
} dcm_level;

typedef struct {
    ms_dicom_file *f;
    const uint8_t *b;
    size_t len;
    dcm_vals top, shared, frame0; /* frame0: per-frame values other than position/rescale, first seen */
    int have_high_bit, have_bits_stored, have_spp;
    dcm_level stack[MS_DICOM_MAX_DEPTH];
    int depth;
    const uint8_t *eot;           /* Extended Offset Table value, or NULL */
    size_t eot_len;
} dcm_parser;

static const char *tag_name(uint32_t tag) {
    switch (tag) {
    case T_TRANSFER_SYNTAX: return "Transfer Syntax UID";
    case T_SLICE_THICKNESS: return "Slice Thickness";
    case T_SPACING_BETWEEN: return "Spacing Between Slices";
    case T_INSTANCE_NUMBER: return "Instance Number";
    case T_IPP: return "Image Position (Patient)";
    case T_IOP: return "Image Orientation (Patient)";
    case T_SAMPLES: return "Samples per Pixel";
    case T_PLANAR: return "Planar Configuration";
    case T_NFRAMES: return "Number of Frames";
    case T_ROWS: return "Rows";
    case T_COLUMNS: return "Columns";
    case T_PIXEL_SPACING: return "Pixel Spacing";
    case T_BITS_ALLOCATED: return "Bits Allocated";
    case T_BITS_STORED: return "Bits Stored";
    case T_HIGH_BIT: return "High Bit";
    case T_PIXEL_REP: return "Pixel Representation";
    case T_WINDOW_CENTER: return "Window Center";
    case T_WINDOW_WIDTH: return "Window Width";
    case T_RESCALE_INTERCEPT: return "Rescale Intercept";
    case T_RESCALE_SLOPE: return "Rescale Slope";
    case T_GRID_OFFSETS: return "Grid Frame Offset Vector";
    case T_PIXEL_DATA: return "Pixel Data";
    }
    return "element";
}

static medsam_status bad_value(uint32_t tag, const uint8_t *v, size_t n, const char *what, medsam_error *err) {
    char text[40];
    get_text(text, sizeof text, v, n);
    return ms_error(err, MEDSAM_ERR_FORMAT, "%s (%04X,%04X) '%s' %s", tag_name(tag), tag >> 16, tag & 0xFFFF, text,
                    what);
}

/* An unsigned integer held as US/UL/SS/SL binary (by the VR, or by `binary`
 * for implicit VR / UN) or as IS/DS text. */
static medsam_status get_int(uint32_t tag, const uint8_t *vr, int binary, int big, const uint8_t *v, size_t n,
                             int *out, medsam_error *err) {
    if (vr && (vr_is(vr, "IS") || vr_is(vr, "DS") || vr_is(vr, "CS") || vr_is(vr, "LO"))) binary = 0;
    else if (vr && (vr_is(vr, "US") || vr_is(vr, "SS") || vr_is(vr, "UL") || vr_is(vr, "SL"))) binary = 1;
    if (binary) {
        int four = vr && (vr_is(vr, "UL") || vr_is(vr, "SL"));
        if (n < (size_t)(four ? 4 : 2)) return bad_value(tag, v, 0, "is shorter than its VR", err);
        *out = four ? (int)(rd32(v, big) & 0x7FFFFFFF) : (int)rd16(v, big);
        return MEDSAM_OK;
    }
    double d[1];
    int count;
    if (parse_numbers(v, n, d, 1, &count) || count < 1 || d[0] != floor(d[0]) || fabs(d[0]) > 2147483647.0)
        return bad_value(tag, v, n, "is not an integer", err);
    *out = (int)d[0];
    return MEDSAM_OK;
}

static medsam_status get_numbers(uint32_t tag, const uint8_t *v, size_t n, double *out, int want, int *count,
                                 medsam_error *err) {
    if (parse_numbers(v, n, out, want, count)) return bad_value(tag, v, n, "is not a list of numbers", err);
    return MEDSAM_OK;
}

/* Per-frame array, allocated on first use once Number of Frames is known to
 * fit the file (nframes frames of rows x columns x samples x bits). */
static medsam_status frames_get(dcm_parser *p, medsam_error *err) {
    ms_dicom_file *f = p->f;
    if (f->frames) return MEDSAM_OK;
    double bits = (double)(f->rows > 0 ? f->rows : 1) * (f->columns > 0 ? f->columns : 1) *
                  (f->samples_per_pixel > 0 ? f->samples_per_pixel : 1) * (f->bits_allocated > 0 ? f->bits_allocated : 1);
    if (f->codec) bits = 64; /* compressed: each frame takes at least one 8-byte item header */
    if ((double)f->nframes * bits > 8.0 * (double)p->len)
        return ms_error(err, MEDSAM_ERR_FORMAT, "Number of Frames %d does not fit in a file of %zu bytes", f->nframes,
                        p->len);
    f->frames = calloc((size_t)f->nframes, sizeof *f->frames);
    if (!f->frames) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for %d frames", f->nframes);
    return MEDSAM_OK;
}

/* Geometry and scaling values, at the top level or in a functional group. */
static medsam_status take_geometry(dcm_vals *d, uint32_t tag, const uint8_t *v, size_t n, medsam_error *err) {
    double x[6];
    int c = 0;
    medsam_status st = MEDSAM_OK;
    switch (tag) {
    case T_IPP:
        if ((st = get_numbers(tag, v, n, x, 3, &c, err)) == MEDSAM_OK && c >= 3)
            memcpy(d->ipp, x, 3 * sizeof *x), d->has |= H_IPP;
        break;
    case T_IOP:
        if ((st = get_numbers(tag, v, n, x, 6, &c, err)) == MEDSAM_OK && c >= 6)
            memcpy(d->iop, x, 6 * sizeof *x), d->has |= H_IOP;
        break;
    case T_PIXEL_SPACING:
        if ((st = get_numbers(tag, v, n, x, 2, &c, err)) == MEDSAM_OK && c >= 2)
            memcpy(d->ps, x, 2 * sizeof *x), d->has |= H_PS;
        break;
    case T_SLICE_THICKNESS:
        if ((st = get_numbers(tag, v, n, x, 1, &c, err)) == MEDSAM_OK && c >= 1) d->thick = x[0], d->has |= H_THICK;
        break;
    case T_SPACING_BETWEEN:
        if ((st = get_numbers(tag, v, n, x, 1, &c, err)) == MEDSAM_OK && c >= 1) d->sbs = x[0], d->has |= H_SBS;
        break;
    case T_RESCALE_SLOPE:
        if ((st = get_numbers(tag, v, n, x, 1, &c, err)) == MEDSAM_OK && c >= 1) d->slope = x[0], d->has |= H_SLOPE;
        break;
    case T_RESCALE_INTERCEPT:
        if ((st = get_numbers(tag, v, n, x, 1, &c, err)) == MEDSAM_OK && c >= 1) d->inter = x[0], d->has |= H_INTER;
        break;
    case T_WINDOW_CENTER:
        if ((st = get_numbers(tag, v, n, x, 1, &c, err)) == MEDSAM_OK && c >= 1) d->wc = x[0], d->has |= H_WC;
        break;
    case T_WINDOW_WIDTH:
        if ((st = get_numbers(tag, v, n, x, 1, &c, err)) == MEDSAM_OK && c >= 1) d->ww = x[0], d->has |= H_WW;
        break;
    }
    return st;
}

/* A value inside Per-frame Functional Groups item `frame`. */
static medsam_status take_frame_value(dcm_parser *p, int frame, uint32_t tag, const uint8_t *v, size_t n,
                                      medsam_error *err) {
    ms_dicom_file *f = p->f;
    if (frame >= f->nframes) return MEDSAM_OK; /* more items than frames: ignored */
    if (tag == TAG(0x0062, 0x000B) && n >= 2) { /* Referenced Segment Number (SEG) */
        medsam_status st = frames_get(p, err);
        if (st == MEDSAM_OK) f->frames[frame].segment = (int)rd16(v, f->big_endian);
        return st;
    }
    dcm_vals d = {0};
    medsam_status st = take_geometry(&d, tag, v, n, err);
    if (st != MEDSAM_OK || !d.has) return st;
    if ((st = frames_get(p, err)) != MEDSAM_OK) return st;
    ms_dicom_frame *fr = &f->frames[frame];
    if (d.has & H_IPP) memcpy(fr->ipp, d.ipp, sizeof d.ipp), fr->has_ipp = 1;
    if (d.has & H_SLOPE) fr->slope = d.slope, fr->has_rescale |= 1;
    if (d.has & H_INTER) fr->inter = d.inter, fr->has_rescale |= 2;
    dcm_vals *z = &p->frame0;
    if (d.has & H_IOP) {
        if (!(z->has & H_IOP)) memcpy(z->iop, d.iop, sizeof d.iop), z->has |= H_IOP;
        for (int i = 0; i < 6; i++)
            if (fabs(z->iop[i] - d.iop[i]) > 1e-4) f->frames_vary = 1;
    }
    if (d.has & H_PS) {
        if (!(z->has & H_PS)) memcpy(z->ps, d.ps, sizeof d.ps), z->has |= H_PS;
        for (int i = 0; i < 2; i++)
            if (fabs(z->ps[i] - d.ps[i]) > 1e-4 * fabs(z->ps[i])) f->frames_vary = 1;
    }
    unsigned first = d.has & ~z->has & (H_THICK | H_SBS | H_WC | H_WW);
    if (first & H_THICK) z->thick = d.thick;
    if (first & H_SBS) z->sbs = d.sbs;
    if (first & H_WC) z->wc = d.wc;
    if (first & H_WW) z->ww = d.ww;
    z->has |= first;
    return MEDSAM_OK;
}

/* A value at the top level of the data set. */
static medsam_status take_top_value(dcm_parser *p, uint32_t tag, const uint8_t *vr, int big, const uint8_t *v, size_t n,
                                    medsam_error *err) {
    ms_dicom_file *f = p->f;
    medsam_status st = MEDSAM_OK;
    int x = 0;
    switch (tag) {
    case T_MODALITY: get_text(f->modality, sizeof f->modality, v, n); break;
    case T_IMAGE_TYPE: /* Siemens mosaics tile many slices in one image: refused, not read as one slice */
        for (size_t i = 0; i + 6 <= n; i++)
            if (!memcmp(v + i, "MOSAIC", 6) && (i == 0 || v[i - 1] == '\\') &&
                (i + 6 == n || v[i + 6] == '\\' || v[i + 6] == ' ' || v[i + 6] == 0))
                return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                                "Siemens mosaic image (Image Type MOSAIC) is not supported; convert the series with "
                                "dcm2niix first");
        break;
    case T_PHOTOMETRIC: get_text(f->photometric, sizeof f->photometric, v, n); break;
    case T_PATIENT_POSITION: get_text(f->patient_position, sizeof f->patient_position, v, n); break;
    case T_SERIES_UID: get_text(f->series_uid, sizeof f->series_uid, v, n); break;
    case T_SOP_CLASS: get_text(f->sop_class_uid, sizeof f->sop_class_uid, v, n); break;
    case T_SOP_INSTANCE: get_text(f->sop_instance_uid, sizeof f->sop_instance_uid, v, n); break;
    case T_EXT_OFFSETS: p->eot = v, p->eot_len = n; break;
    case TAG(0x0008, 0x0005): get_raw(f->ids.charset, sizeof f->ids.charset, v, n); break;
    case TAG(0x0010, 0x0010): get_raw(f->ids.patient_name, sizeof f->ids.patient_name, v, n); break;
    case TAG(0x0010, 0x0020): get_raw(f->ids.patient_id, sizeof f->ids.patient_id, v, n); break;
    case TAG(0x0010, 0x0030): get_raw(f->ids.birth_date, sizeof f->ids.birth_date, v, n); break;
    case TAG(0x0010, 0x0040): get_raw(f->ids.sex, sizeof f->ids.sex, v, n); break;
    case TAG(0x0020, 0x000D): get_raw(f->ids.study_uid, sizeof f->ids.study_uid, v, n); break;
    case TAG(0x0008, 0x0020): get_raw(f->ids.study_date, sizeof f->ids.study_date, v, n); break;
    case TAG(0x0008, 0x0030): get_raw(f->ids.study_time, sizeof f->ids.study_time, v, n); break;
    case TAG(0x0008, 0x0090): get_raw(f->ids.referring, sizeof f->ids.referring, v, n); break;
    case TAG(0x0020, 0x0010): get_raw(f->ids.study_id, sizeof f->ids.study_id, v, n); break;
    case TAG(0x0008, 0x0050): get_raw(f->ids.accession, sizeof f->ids.accession, v, n); break;
    case TAG(0x0020, 0x0052): get_raw(f->ids.for_uid, sizeof f->ids.for_uid, v, n); break;
    case TAG(0x0020, 0x1040): get_raw(f->ids.position_ref, sizeof f->ids.position_ref, v, n); break;
    case TAG(0x0018, 0x0015): get_raw(f->ids.body_part, sizeof f->ids.body_part, v, n); break;
    case TAG(0x0020, 0x0060): get_raw(f->ids.laterality, sizeof f->ids.laterality, v, n); break;
    case T_INSTANCE_NUMBER:
        if (n && get_int(tag, vr, 0, big, v, n, &x, NULL) == MEDSAM_OK) f->instance_number = x, f->has_instance_number = 1;
        break; /* an unreadable Instance Number only loses a sort key */
    case T_SAMPLES: st = get_int(tag, vr, 1, big, v, n, &f->samples_per_pixel, err), p->have_spp = 1; break;
    case T_PLANAR: st = get_int(tag, vr, 1, big, v, n, &f->planar_configuration, err); break;
    case T_ROWS: st = get_int(tag, vr, 1, big, v, n, &f->rows, err); break;
    case T_COLUMNS: st = get_int(tag, vr, 1, big, v, n, &f->columns, err); break;
    case T_BITS_ALLOCATED: st = get_int(tag, vr, 1, big, v, n, &f->bits_allocated, err); break;
    case T_BITS_STORED: st = get_int(tag, vr, 1, big, v, n, &f->bits_stored, err), p->have_bits_stored = 1; break;
    case T_HIGH_BIT: st = get_int(tag, vr, 1, big, v, n, &f->high_bit, err), p->have_high_bit = 1; break;
    case T_PIXEL_REP: st = get_int(tag, vr, 1, big, v, n, &f->pixel_representation, err); break;
    case T_NFRAMES:
        if (!n) break;
        if ((st = get_int(tag, vr, 0, big, v, n, &x, err)) != MEDSAM_OK) break;
        if (x < 1 || x > MS_DICOM_MAX_FRAMES)
            return ms_error(err, MEDSAM_ERR_FORMAT, "Number of Frames %d is outside 1..%d", x, MS_DICOM_MAX_FRAMES);
        if (f->frames) return ms_error(err, MEDSAM_ERR_FORMAT, "Number of Frames (0028,0008) after per-frame values");
        f->nframes = x;
        break;
    case T_GRID_OFFSETS: {
        if (f->nframes < 2 || !n) break;
        if ((st = frames_get(p, err)) != MEDSAM_OK) break;
        double *off = malloc((size_t)f->nframes * sizeof *off);
        if (!off) return ms_error(err, MEDSAM_ERR_NOMEM, "out of memory for Grid Frame Offset Vector");
        int c = 0;
        st = get_numbers(tag, v, n, off, f->nframes, &c, err);
        if (st == MEDSAM_OK && c == f->nframes)
            for (int k = 0; k < c; k++) f->frames[k].grid_offset = off[k], f->frames[k].has_grid_offset = 1;
        free(off);
        break;
    }
    default: st = take_geometry(&p->top, tag, v, n, err); break;
    }
    return st;
}

/* ---- element walk ---- */

static medsam_status truncated(uint32_t tag, size_t need, size_t left, medsam_error *err) {
    return ms_error(err, MEDSAM_ERR_FORMAT, "truncated: %s (%04X,%04X) needs %zu bytes, %zu left", tag_name(tag),
                    tag >> 16, tag & 0xFFFF, need, left);
}

/* Opens a sequence or item level ending at `end` (NO_END: closed by a
 * delimiter); its contents are bounded by its own end and its parents'. */
static medsam_status push(dcm_parser *p, uint32_t tag, size_t end, int count, int implicit, int big, int fragments,
                          medsam_error *err) {
    if (p->depth == MS_DICOM_MAX_DEPTH)
        return ms_error(err, MEDSAM_ERR_FORMAT, "sequences nested deeper than %d levels", MS_DICOM_MAX_DEPTH);
    size_t parent_limit = p->depth ? p->stack[p->depth - 1].limit : p->len;
    if (end != NO_END && end > parent_limit)
        return ms_error(err, MEDSAM_ERR_FORMAT, "(%04X,%04X): length runs past the end of its enclosing item",
                        tag >> 16, tag & 0xFFFF);
    p->stack[p->depth++] = (dcm_level){tag, end, end == NO_END ? parent_limit : end, count, implicit, big, fragments};
    return MEDSAM_OK;
}

/* Where a value lands: 0 top level, 1 shared functional groups, 2 per-frame
 * item *frame, -1 ignored. Functional group values sit at depth 4:
 * SQ(5200,9229|9230) > item > SQ(group macro) > item > element. */
static int value_place(const dcm_parser *p, int *frame) {
    if (p->depth == 0) return 0;
    if (p->depth != 4 || p->stack[1].tag != T_ITEM || p->stack[3].tag != T_ITEM) return -1;
    if (p->stack[0].tag == T_SHARED_GROUPS) return 1;
    if (p->stack[0].tag == T_PERFRAME_GROUPS) return *frame = p->stack[1].count, 2;
    return -1;
}

/* Reads the element header at *pos in the level's encoding. */
static medsam_status read_header(const dcm_parser *p, size_t *pos, size_t limit, int imp, int be, uint32_t *tag,
                                 const uint8_t **vr, uint32_t *vlen, medsam_error *err) {
    const uint8_t *b = p->b;
    size_t at = *pos, hdr = 8;
    if (limit - at < 8) {
        if (limit < p->len) return ms_error(err, MEDSAM_ERR_FORMAT, "an element header crosses the end of its item at byte %zu", at);
        return ms_error(err, MEDSAM_ERR_FORMAT, "truncated: %zu stray bytes at the end", limit - at);
    }
    *tag = rd16(b + at, be) << 16 | rd16(b + at + 2, be);
    *vr = NULL;
    if ((*tag >> 16) == 0xFFFE || imp) {
        *vlen = rd32(b + at + 4, be);
    } else {
        int long_len;
        *vr = b + at + 4;
        if (!vr_known(*vr, &long_len))
            return ms_error(err, MEDSAM_ERR_FORMAT, "(%04X,%04X) at byte %zu: invalid VR 0x%02X 0x%02X", *tag >> 16,
                            *tag & 0xFFFF, at, (*vr)[0], (*vr)[1]);
        if (long_len) {
            if (limit - at < 12) return truncated(*tag, 12, limit - at, err);
            *vlen = rd32(b + at + 8, be), hdr = 12;
        } else {
            *vlen = rd16(b + at + 6, be);
        }
    }
    *pos = at + hdr;
    return MEDSAM_OK;
}

/* Item and delimiter tags (group FFFE). */
static medsam_status take_item_tag(dcm_parser *p, uint32_t tag, uint32_t vlen, size_t *pos, int imp, int be,
                                   medsam_error *err) {
    dcm_level *lv = p->depth ? &p->stack[p->depth - 1] : NULL;
    size_t at = *pos - 8, left = (lv ? lv->limit : p->len) - *pos;
    if (tag == T_ITEM) {
        if (!lv || lv->tag == T_ITEM)
            return ms_error(err, MEDSAM_ERR_FORMAT, "item tag (FFFE,E000) outside a sequence at byte %zu", at);
        int index = lv->count++;
        if (vlen != UNDEF_LEN && vlen > left) return truncated(tag, vlen, left, err);
        if (lv->fragments) { /* encapsulated fragments: raw bytes */
            if (vlen == UNDEF_LEN) return ms_error(err, MEDSAM_ERR_FORMAT, "fragment of undefined length at byte %zu", at);
            *pos += vlen;
            return MEDSAM_OK;
        }
        return push(p, T_ITEM, vlen == UNDEF_LEN ? NO_END : *pos + vlen, index, imp, be, 0, err);
    }
    if (tag == T_ITEM_END || tag == T_SEQ_END) {
        int want_item = tag == T_ITEM_END;
        if (!lv) return MEDSAM_OK; /* a stray delimiter at the top level: skipped, as other readers do */
        if (lv->end != NO_END || (lv->tag == T_ITEM) != want_item)
            return ms_error(err, MEDSAM_ERR_FORMAT, "unexpected %s delimiter at byte %zu", want_item ? "item" : "sequence",
                            at);
        p->depth--;
        return MEDSAM_OK;
    }
    return ms_error(err, MEDSAM_ERR_FORMAT, "unknown item tag (FFFE,%04X) at byte %zu", tag & 0xFFFF, at);
}

/* Walks the data set from `pos` in the given encoding. Stops after the top
 * level Pixel Data element (trailing padding is not read). */
static medsam_status walk(dcm_parser *p, size_t pos, int implicit, int big, medsam_error *err) {
    for (;;) {
        while (p->depth && p->stack[p->depth - 1].end != NO_END && pos >= p->stack[p->depth - 1].end) {
            if (pos > p->stack[p->depth - 1].end)
                return ms_error(err, MEDSAM_ERR_FORMAT, "an element runs past the end of its item at byte %zu", pos);
            p->depth--;
        }
        const dcm_level *lv = p->depth ? &p->stack[p->depth - 1] : NULL;
        int imp = lv ? lv->implicit : implicit, be = lv ? lv->big : big;
        size_t limit = lv ? lv->limit : p->len;
        if (pos == p->len) {
            if (p->depth)
                return ms_error(err, MEDSAM_ERR_FORMAT, "truncated: the file ends inside a sequence (%d open)", p->depth);
            return MEDSAM_OK;
        }
        if (!p->depth && p->len - pos < 8 && p->f->has_pixel_data) return MEDSAM_OK;
        uint32_t tag = 0, vlen = 0;
        const uint8_t *vr = NULL;
        size_t at = pos;
        medsam_status st = read_header(p, &pos, limit, imp, be, &tag, &vr, &vlen, err);
        if (st != MEDSAM_OK) return st;
        size_t left = limit - pos;
        if ((tag >> 16) == 0xFFFE) {
            if ((st = take_item_tag(p, tag, vlen, &pos, imp, be, err)) != MEDSAM_OK) return st;
            continue;
        }
        if (lv && lv->tag != T_ITEM)
            return ms_error(err, MEDSAM_ERR_FORMAT, "(%04X,%04X) inside a sequence but outside an item at byte %zu",
                            tag >> 16, tag & 0xFFFF, at);
        int is_sq = vr ? vr_is(vr, "SQ") : vlen == UNDEF_LEN && tag != T_PIXEL_DATA;
        int un_sq = vr && vr_is(vr, "UN") && vlen == UNDEF_LEN; /* PS3.5 6.2.2: implicit VR LE inside */
        if (is_sq || un_sq) {
            if (vlen != UNDEF_LEN && vlen > left) return truncated(tag, vlen, left, err);
            st = push(p, tag, vlen == UNDEF_LEN ? NO_END : pos + vlen, 0, un_sq ? 1 : imp, un_sq ? 0 : be, 0, err);
            if (st != MEDSAM_OK) return st;
            continue;
        }
        if (vlen == UNDEF_LEN) {
            if (p->depth) { /* encapsulated data in an item (e.g. an icon): fragments skipped */
                if ((st = push(p, tag, NO_END, 0, imp, be, 1, err)) != MEDSAM_OK) return st;
                continue;
            }
            if (tag == T_PIXEL_DATA && p->f->codec) { /* encapsulated: indexed after the walk */
                ms_dicom_file *f = p->f;
                f->has_pixel_data = 1, f->pixel_data = p->b + pos, f->pixel_length = p->len - pos;
                return MEDSAM_OK;
            }
            if (tag == T_PIXEL_DATA)
                return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                                "encapsulated (compressed) Pixel Data in transfer syntax %s is not supported",
                                p->f->transfer_syntax[0] ? p->f->transfer_syntax : "(none given)");
            return ms_error(err, MEDSAM_ERR_FORMAT, "(%04X,%04X) has an undefined length but is not a sequence",
                            tag >> 16, tag & 0xFFFF);
        }
        if (vlen > left) return truncated(tag, vlen, left, err);
        const uint8_t *v = p->b + pos;
        int frame = 0, place = value_place(p, &frame);
        if (place == 0) {
            if (tag == T_PIXEL_DATA && p->f->codec)
                return ms_error(err, MEDSAM_ERR_FORMAT, "Pixel Data is not encapsulated in compressed transfer syntax %s",
                                p->f->transfer_syntax);
            if (tag == T_PIXEL_DATA) {
                ms_dicom_file *f = p->f;
                f->has_pixel_data = 1, f->pixel_data = v, f->pixel_length = vlen;
                f->pixel_words_swapped = be && vr && vr_is(vr, "OW");
                return MEDSAM_OK;
            }
            if (tag == T_FLOAT_PIXEL_DATA || tag == T_DOUBLE_PIXEL_DATA)
                return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s Pixel Data (7FE0,%04X) is not supported",
                                tag == T_FLOAT_PIXEL_DATA ? "Float" : "Double Float", tag & 0xFFFF);
            if (vlen) st = take_top_value(p, tag, vr, be, v, vlen, err);
        } else if (place == 1) {
            st = take_geometry(&p->shared, tag, v, vlen, err);
        } else if (place == 2) {
            st = take_frame_value(p, frame, tag, v, vlen, err);
        }
        if (st != MEDSAM_OK) return st;
        pos += vlen;
    }
}

/* ---- after the walk: resolve and check ---- */

static void resolve_values(dcm_parser *p) {
    ms_dicom_file *f = p->f;
    const dcm_vals *src[3] = {&p->top, &p->shared, &p->frame0};
    for (int s = 2; s >= 0; s--) { /* top level wins, then shared, then per-frame */
        const dcm_vals *d = src[s];
        if (d->has & H_IPP) memcpy(f->ipp, d->ipp, sizeof f->ipp), f->has_ipp = 1;
        if (d->has & H_IOP) memcpy(f->iop, d->iop, sizeof f->iop), f->has_iop = 1;
        if (d->has & H_PS) memcpy(f->pixel_spacing, d->ps, sizeof d->ps), f->has_pixel_spacing = 1;
        if (d->has & H_THICK) f->slice_thickness = d->thick, f->has_slice_thickness = 1;
        if (d->has & H_SBS) f->spacing_between_slices = d->sbs, f->has_spacing_between_slices = 1;
        if (d->has & H_SLOPE) f->rescale_slope = d->slope, f->has_rescale = 1;
        if (d->has & H_INTER) f->rescale_intercept = d->inter, f->has_rescale = 1;
        if ((d->has & (H_WC | H_WW)) == (H_WC | H_WW)) f->window_center = d->wc, f->window_width = d->ww, f->has_window = 1;
    }
    if (!f->frames) return;
    /* a frame's own position (else its Grid Frame Offset along the normal) and rescale */
    double n[3] = {0, 0, 0};
    if (f->has_iop) {
        const double *r = f->iop, *c = f->iop + 3;
        n[0] = r[1] * c[2] - r[2] * c[1], n[1] = r[2] * c[0] - r[0] * c[2], n[2] = r[0] * c[1] - r[1] * c[0];
        double nn = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        for (int i = 0; i < 3; i++) n[i] = nn > 0 ? n[i] / nn : 0;
    }
    for (int k = 0; k < f->nframes; k++) {
        ms_dicom_frame *fr = &f->frames[k];
        if (!fr->has_ipp && fr->has_grid_offset && f->has_ipp && f->has_iop) {
            for (int i = 0; i < 3; i++) fr->ipp[i] = f->ipp[i] + fr->grid_offset * n[i];
            fr->has_ipp = 1;
        }
        if (fr->has_rescale) {
            if (!(fr->has_rescale & 1)) fr->slope = f->has_rescale ? f->rescale_slope : 1;
            if (!(fr->has_rescale & 2)) fr->inter = f->has_rescale ? f->rescale_intercept : 0;
            fr->has_rescale = 1;
        }
    }
}

static medsam_status check_image(ms_dicom_file *f, medsam_error *err) {
    if (f->rows < 1 || f->columns < 1)
        return ms_error(err, MEDSAM_ERR_FORMAT, "Pixel Data without valid Rows/Columns (%d x %d)", f->rows, f->columns);
    if (f->rows > 65535 || f->columns > 65535)
        return ms_error(err, MEDSAM_ERR_FORMAT, "Rows/Columns %d x %d over 65535", f->rows, f->columns);
    int ba = f->bits_allocated, spp = f->samples_per_pixel;
    if (ba != 1 && ba != 8 && ba != 16 && ba != 32)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "Bits Allocated %d is not supported (1, 8, 16 or 32)", ba);
    if (f->bits_stored < 1 || f->bits_stored > ba)
        return ms_error(err, MEDSAM_ERR_FORMAT, "Bits Stored %d with Bits Allocated %d", f->bits_stored, ba);
    if (f->high_bit < f->bits_stored - 1 || f->high_bit >= ba)
        return ms_error(err, MEDSAM_ERR_FORMAT, "High Bit %d with Bits Stored %d and Bits Allocated %d", f->high_bit,
                        f->bits_stored, ba);
    if (f->pixel_representation != 0 && f->pixel_representation != 1)
        return ms_error(err, MEDSAM_ERR_FORMAT, "Pixel Representation %d (0 or 1)", f->pixel_representation);
    const char *pi = f->photometric;
    if (spp == 1) {
        if (pi[0] && strcmp(pi, "MONOCHROME1") && strcmp(pi, "MONOCHROME2") && strcmp(pi, "PALETTE COLOR"))
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "Photometric Interpretation %s with 1 sample per pixel", pi);
    } else if (spp == 3) {
        if (pi[0] && !dcm_colour_supported(pi, f->codec))
            return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                            "Photometric Interpretation %s is not supported with %s pixel data (RGB, YBR_FULL, "
                            "YBR_FULL_422; YBR_RCT/YBR_ICT in JPEG 2000)", pi, f->codec ? "compressed" : "uncompressed");
        if (ba != 8) return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%d-bit colour is not supported (8 bits only)", ba);
        if (f->planar_configuration != 0 && f->planar_configuration != 1)
            return ms_error(err, MEDSAM_ERR_FORMAT, "Planar Configuration %d (0 or 1)", f->planar_configuration);
    } else {
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "Samples per Pixel %d is not supported (1 or 3)", spp);
    }
    int64_t samples = (int64_t)f->rows * f->columns * spp * f->nframes;
    if (samples > MS_VOLUME_MAX_VOXELS)
        return ms_error(err, MEDSAM_ERR_NOMEM, "%d x %d x %d frames is over the %lld-sample limit", f->rows, f->columns,
                        f->nframes, (long long)MS_VOLUME_MAX_VOXELS);
    if (f->codec) return MEDSAM_OK; /* encapsulated: the fragment index checks the sizes */
    uint64_t need = ba == 1 ? ((uint64_t)samples + 7) / 8 : (uint64_t)samples * (uint64_t)(ba / 8);
    if (spp == 3 && !strcmp(pi, "YBR_FULL_422")) need = need / 3 * 2; /* Y Y Cb Cr per two pixels */
    if (f->pixel_words_swapped && ba <= 8) need += need & 1; /* whole 16-bit words */
    if (f->pixel_length < need)
        return ms_error(err, MEDSAM_ERR_FORMAT, "Pixel Data holds %zu bytes; %d frame(s) of %d x %d x %d bits need %llu",
                        f->pixel_length, f->nframes, f->rows, f->columns, ba * spp, (unsigned long long)need);
    return MEDSAM_OK;
}

void ms_dicom_file_free(ms_dicom_file *f) {
    if (!f) return;
    free(f->frames);
    free(f->owned);
    dcm_encap_free(f->encap);
    memset(f, 0, sizeof *f);
}

medsam_status ms_dicom_parse(const void *buf, size_t len, ms_dicom_file *f, medsam_error *err) {
    return ms_dicom_parse_budget(buf, len, 0, f, err);
}

medsam_status ms_dicom_parse_budget(const void *buf, size_t len, uint64_t max_bytes, ms_dicom_file *f,
                                    medsam_error *err) {
    memset(f, 0, sizeof *f);
    f->nframes = 1, f->samples_per_pixel = 1;
    const uint8_t *b = buf;
    if (!b) len = 0;
    dcm_parser p;
    memset(&p, 0, sizeof p);
    p.f = f, p.b = b, p.len = len;
    size_t pos = 0;
    int implicit = 0, big = 0;
    medsam_status st = MEDSAM_OK;
    if (len >= 132 && !memcmp(b + 128, "DICM", 4)) pos = 132;
    else if (!ms_dicom_is_dicom_mem(b, len))
        return ms_error(err, MEDSAM_ERR_FORMAT, "not a DICOM file (no \"DICM\" at byte 128, no data element at byte 0)");
    /* file meta information: group 0002, always explicit VR little endian */
    if (len - pos >= 8 && rd16(b + pos, 0) == 0x0002) {
        while (len - pos >= 8 && rd16(b + pos, 0) == 0x0002) {
            int long_len;
            if (!vr_known(b + pos + 4, &long_len))
                return ms_error(err, MEDSAM_ERR_FORMAT, "file meta element (0002,%04X): invalid VR", rd16(b + pos + 2, 0));
            size_t hdr = long_len ? 12 : 8;
            if (len - pos < hdr) return ms_error(err, MEDSAM_ERR_FORMAT, "truncated in the file meta information");
            uint32_t vlen = long_len ? rd32(b + pos + 8, 0) : rd16(b + pos + 6, 0);
            if (vlen > len - pos - hdr) return truncated(TAG(2, rd16(b + pos + 2, 0)), vlen, len - pos - hdr, err);
            if (rd16(b + pos + 2, 0) == 0x0010) get_text(f->transfer_syntax, sizeof f->transfer_syntax, b + pos + hdr, vlen);
            pos += hdr + vlen;
        }
    }
    uint8_t *inflated = NULL;
    if (f->transfer_syntax[0]) {
        ts_kind k = dcm_classify_syntax(f->transfer_syntax, err);
        if (k == TS_REFUSED) return err ? err->code : MEDSAM_ERR_UNSUPPORTED;
        f->codec = (int)dcm_codec_of_syntax(f->transfer_syntax);
        implicit = k == TS_IMPLICIT_LE, big = k == TS_EXPLICIT_BE;
        if (k == TS_DEFLATED) {
            size_t n = 0;
            if ((st = dcm_inflate_dataset_max(b + pos, len - pos, max_bytes, &inflated, &n, err)) != MEDSAM_OK)
                return st;
            f->owned = inflated, p.b = inflated, p.len = n, pos = 0;
        }
    } else {
        dcm_guess_encoding(b + pos, len - pos, &implicit, &big);
    }
    int long_vr;
    if (!implicit && !big && p.len - pos >= 8 && !vr_known(p.b + pos + 4, &long_vr))
        implicit = 1; /* explicit VR syntax written in implicit VR (seen in the wild; pydicom reads it too) */
    f->big_endian = big;
    st = walk(&p, pos, implicit, big, err);
    if (st == MEDSAM_OK) {
        resolve_values(&p);
        if (!p.have_bits_stored) f->bits_stored = f->bits_allocated;
        if (!p.have_high_bit) f->high_bit = f->bits_stored - 1;
        if (f->bits_allocated == 1) f->pixel_representation = f->pixel_representation == 1 ? 1 : 0;
        if (f->has_pixel_data) st = check_image(f, err);
        if (st == MEDSAM_OK && f->has_pixel_data && f->codec) {
            dcm_encap *e = NULL;
            st = dcm_encap_index(f->pixel_data, f->pixel_length, f->nframes, (dcm_codec)f->codec, p.eot, p.eot_len, &e, err);
            f->encap = e;
        }
    }
    if (st != MEDSAM_OK) ms_dicom_file_free(f);
    return st;
}
