/* dicom_seg_write.c — DICOM Segmentation IOD (PS3.3 A.51) from a label volume
 * and its DICOM source; see dicom_seg_write.h.
 * ref: PS3.3 C.8.20 (Segmentation Series / Image modules), C.7.6.16
 * (Multi-frame Functional Groups), C.7.6.17 (Multi-frame Dimension), C.12.2
 * (Common Instance Reference); highdicom's Segmentation for the choice of
 * dimensions (ReferencedSegmentNumber, ImagePositionPatient). */
#define _POSIX_C_SOURCE 200809L
#include "io/dicom_seg_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "io/dicom.h"
#include "io/dicom_write.h"

#define SEG_SOP_CLASS "1.2.840.10008.5.1.4.1.1.66.4"
#define T(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))

static int label_at(const void *labels, int label_bytes, size_t i) {
    return label_bytes == 1 ? ((const uint8_t *)labels)[i] : ((const uint16_t *)labels)[i];
}

/* Patient, study, equipment, series, frame of reference, SOP common. */
static void header_modules(dw_ds *d, const ms_dicom_refs *r, const char *series_uid, const char *sop_uid,
                           int geometry) {
    const ms_dicom_ids *id = &r->ids;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char date[16], tod[16];
    strftime(date, sizeof date, "%Y%m%d", &tm);
    strftime(tod, sizeof tod, "%H%M%S", &tm);
    if (id->charset[0]) dw_text(d, T(0x0008, 0x0005), "CS", id->charset);
    dw_text(d, T(0x0008, 0x0008), "CS", "DERIVED\\PRIMARY");
    dw_text(d, T(0x0008, 0x0012), "DA", date);
    dw_text(d, T(0x0008, 0x0013), "TM", tod);
    dw_text(d, T(0x0008, 0x0016), "UI", SEG_SOP_CLASS);
    dw_text(d, T(0x0008, 0x0018), "UI", sop_uid);
    dw_text(d, T(0x0008, 0x0020), "DA", id->study_date);
    dw_text(d, T(0x0008, 0x0023), "DA", date);
    dw_text(d, T(0x0008, 0x0030), "TM", id->study_time);
    dw_text(d, T(0x0008, 0x0033), "TM", tod);
    dw_text(d, T(0x0008, 0x0050), "SH", id->accession);
    dw_text(d, T(0x0008, 0x0060), "CS", "SEG");
    dw_text(d, T(0x0008, 0x0070), "LO", "medsam.c");
    dw_text(d, T(0x0008, 0x0090), "PN", id->referring);
    dw_text(d, T(0x0008, 0x103E), "LO", "MedSAM segmentation");
    dw_text(d, T(0x0008, 0x1090), "LO", "medsam.c");
    dw_text(d, T(0x0010, 0x0010), "PN", id->patient_name);
    dw_text(d, T(0x0010, 0x0020), "LO", id->patient_id);
    dw_text(d, T(0x0010, 0x0030), "DA", id->birth_date);
    dw_text(d, T(0x0010, 0x0040), "CS", id->sex);
    if (id->body_part[0]) dw_text(d, T(0x0018, 0x0015), "CS", id->body_part);
    dw_text(d, T(0x0018, 0x1000), "LO", "1");
    dw_text(d, T(0x0018, 0x1020), "LO", DW_IMPLEMENTATION_VERSION);
    dw_text(d, T(0x0020, 0x000D), "UI", id->study_uid);
    dw_text(d, T(0x0020, 0x000E), "UI", series_uid);
    dw_text(d, T(0x0020, 0x0010), "SH", id->study_id);
    dw_text(d, T(0x0020, 0x0011), "IS", "9001");
    dw_text(d, T(0x0020, 0x0013), "IS", "1");
    dw_text(d, T(0x0020, 0x0020), "CS", ""); /* Patient Orientation: type 2C in General Image, empty */
    if (geometry) {
        dw_text(d, T(0x0020, 0x0052), "UI", id->for_uid);
        dw_text(d, T(0x0020, 0x1040), "LO", id->position_ref);
    }
    if (id->laterality[0]) dw_text(d, T(0x0020, 0x0060), "CS", id->laterality);
    dw_text(d, T(0x0070, 0x0080), "CS", "MEDSAM");
    dw_text(d, T(0x0070, 0x0081), "LO", "MedSAM segmentation");
    dw_text(d, T(0x0070, 0x0084), "PN", "");
}

/* Common Instance Reference: every source instance once. */
static void references(dw_ds *d, const ms_dicom_refs *r) {
    dw_ds *series = dw_item(d, T(0x0008, 0x1115));
    dw_text(series, T(0x0020, 0x000E), "UI", r->series_uid);
    for (int k = 0; k < r->nslices; k++) {
        int seen = 0;
        for (int q = 0; q < k && !seen; q++) seen = !strcmp(r->slices[q].sop_instance_uid, r->slices[k].sop_instance_uid);
        if (seen) continue;
        dw_ds *it = dw_item(series, T(0x0008, 0x114A));
        dw_text(it, T(0x0008, 0x1150), "UI", r->slices[k].sop_class_uid);
        dw_text(it, T(0x0008, 0x1155), "UI", r->slices[k].sop_instance_uid);
    }
}

static void segments(dw_ds *d, const ms_seg_opts *o) {
    for (int s = 1; s <= o->nsegments; s++) {
        dw_ds *it = dw_item(d, T(0x0062, 0x0002));
        char label[64];
        if (o->labels && o->labels[s - 1]) snprintf(label, sizeof label, "%.63s", o->labels[s - 1]);
        else snprintf(label, sizeof label, "box %d", s);
        dw_code(it, T(0x0062, 0x0003), "85756007", "SCT", "Tissue");
        dw_us(it, T(0x0062, 0x0004), (uint16_t)s);
        dw_text(it, T(0x0062, 0x0005), "LO", label);
        dw_text(it, T(0x0062, 0x0008), "CS", "AUTOMATIC");
        dw_text(it, T(0x0062, 0x0009), "LO", o->algorithm && o->algorithm[0] ? o->algorithm : "medsam.c");
        dw_code(it, T(0x0062, 0x000F), "85756007", "SCT", "Tissue");
    }
}

/* Dimensions: the segment, then the position (or the in-stack position without geometry). */
static void dimensions(dw_ds *d, const char *org_uid, int geometry) {
    dw_text(dw_item(d, T(0x0020, 0x9221)), T(0x0020, 0x9164), "UI", org_uid);
    dw_ds *a = dw_item(d, T(0x0020, 0x9222));
    dw_text(a, T(0x0020, 0x9164), "UI", org_uid);
    dw_at(a, T(0x0020, 0x9165), T(0x0062, 0x000B));
    dw_at(a, T(0x0020, 0x9167), T(0x0062, 0x000A));
    dw_text(a, T(0x0020, 0x9421), "LO", "ReferencedSegmentNumber");
    dw_ds *b = dw_item(d, T(0x0020, 0x9222));
    dw_text(b, T(0x0020, 0x9164), "UI", org_uid);
    dw_at(b, T(0x0020, 0x9165), geometry ? T(0x0020, 0x0032) : T(0x0020, 0x9057));
    dw_at(b, T(0x0020, 0x9167), geometry ? T(0x0020, 0x9113) : T(0x0020, 0x9111));
    dw_text(b, T(0x0020, 0x9421), "LO", geometry ? "ImagePositionPatient" : "InStackPositionNumber");
}

static void shared_groups(dw_ds *d, const ms_dicom_refs *r, int geometry) {
    dw_ds *sh = dw_item(d, T(0x5200, 0x9229));
    if (r->has_pixel_spacing || geometry) {
        dw_ds *pm = dw_item(sh, T(0x0028, 0x9110));
        double ps[2] = {r->has_pixel_spacing ? r->pixel_spacing[0] : 1, r->has_pixel_spacing ? r->pixel_spacing[1] : 1};
        dw_ds_values(pm, T(0x0028, 0x0030), ps, 2);
        double thick = r->has_slice_thickness && r->slice_thickness > 0 ? r->slice_thickness
                       : r->has_spacing_between_slices && r->spacing_between_slices > 0 ? r->spacing_between_slices : 1;
        dw_ds_values(pm, T(0x0018, 0x0050), &thick, 1);
        if (r->has_spacing_between_slices && r->spacing_between_slices > 0)
            dw_ds_values(pm, T(0x0018, 0x0088), &r->spacing_between_slices, 1);
    }
    if (geometry) dw_ds_values(dw_item(sh, T(0x0020, 0x9116)), T(0x0020, 0x0037), r->iop, 6);
}

static void frame_groups(dw_ds *pf, const ms_dicom_refs *r, int seg, int z, int geometry) {
    dw_ds *it = dw_item(pf, T(0x5200, 0x9230));
    const ms_dicom_slice_ref *s = &r->slices[z];
    dw_ds *der = dw_item(it, T(0x0008, 0x9124));
    dw_code(der, T(0x0008, 0x9215), "113076", "DCM", "Segmentation");
    dw_ds *src = dw_item(der, T(0x0008, 0x2112));
    dw_text(src, T(0x0008, 0x1150), "UI", s->sop_class_uid);
    dw_text(src, T(0x0008, 0x1155), "UI", s->sop_instance_uid);
    if (s->frame) dw_is(src, T(0x0008, 0x1160), s->frame);
    dw_code(src, T(0x0040, 0xA170), "121322", "DCM", "Source image for image processing operation");
    dw_ds *fc = dw_item(it, T(0x0020, 0x9111));
    uint32_t dim[2] = {(uint32_t)seg, (uint32_t)z + 1};
    dw_ul(fc, T(0x0020, 0x9157), dim, 2);
    if (!geometry) {
        dw_text(fc, T(0x0020, 0x9056), "SH", "1");
        uint32_t p = (uint32_t)z + 1;
        dw_ul(fc, T(0x0020, 0x9057), &p, 1);
    } else {
        dw_ds_values(dw_item(it, T(0x0020, 0x9113)), T(0x0020, 0x0032), s->ipp, 3);
    }
    dw_us(dw_item(it, T(0x0062, 0x000A)), T(0x0062, 0x000B), (uint16_t)seg);
}

medsam_status ms_dicom_seg_write(const char *path, const char *source, const void *labels, int label_bytes, int nx,
                                 int ny, int nz, const ms_seg_opts *o, medsam_error *err) {
    if (!o || o->nsegments < 1 || o->nsegments > 65535 || (label_bytes != 1 && label_bytes != 2))
        return ms_error(err, MEDSAM_ERR_ARG, "%s: DICOM SEG needs 1..65535 segments", path);
    ms_dicom_refs r;
    medsam_status st = ms_dicom_read_refs(source, &r, err);
    if (st != MEDSAM_OK) return st;
    if (r.columns != nx || r.rows != ny || r.nslices != nz) {
        st = ms_error(err, MEDSAM_ERR_ARG, "%s: labels are %dx%dx%d, the source %s %dx%dx%d", path, nx, ny, nz, source,
                      r.columns, r.rows, r.nslices);
        ms_dicom_refs_free(&r);
        return st;
    }
    for (int k = 0; k < nz && st == MEDSAM_OK; k++)
        if (!r.slices[k].sop_instance_uid[0] || !r.slices[k].sop_class_uid[0])
            st = ms_error(err, MEDSAM_ERR_FORMAT, "%s: the source has no SOP Class/Instance UID to reference (slice %d)",
                          source, k);
    if (st == MEDSAM_OK && !r.ids.study_uid[0]) /* a source without one (not conformant): a new study */
        st = dw_new_uid(r.ids.study_uid, err);
    int geometry = r.has_iop && r.ids.for_uid[0];
    for (int k = 0; k < nz; k++) geometry &= r.slices[k].has_ipp;
    char series_uid[65], sop_uid[65], org_uid[65];
    if (st == MEDSAM_OK) st = dw_new_uid(series_uid, err);
    if (st == MEDSAM_OK) st = dw_new_uid(sop_uid, err);
    if (st == MEDSAM_OK) st = dw_new_uid(org_uid, err);
    /* frames: segment-major, slices with pixels of the segment */
    const size_t plane = (size_t)nx * (size_t)ny;
    int *fseg = NULL, *fz = NULL, nframes = 0;
    if (st == MEDSAM_OK) {
        fseg = malloc(((size_t)nz * (size_t)o->nsegments + 1) * sizeof *fseg);
        fz = malloc(((size_t)nz * (size_t)o->nsegments + 1) * sizeof *fz);
        uint8_t *has = calloc((size_t)nz * (size_t)(o->nsegments + 1), 1);
        if (!fseg || !fz || !has) st = ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path);
        for (int z = 0; z < nz && st == MEDSAM_OK; z++)
            for (size_t i = 0; i < plane; i++) {
                int l = label_at(labels, label_bytes, (size_t)z * plane + i);
                if (l > 0 && l <= o->nsegments) has[(size_t)l * (size_t)nz + (size_t)z] = 1;
            }
        for (int s = 1; s <= o->nsegments && st == MEDSAM_OK; s++) {
            int any = 0;
            for (int z = 0; z < nz; z++)
                if (has[(size_t)s * (size_t)nz + (size_t)z]) fseg[nframes] = s, fz[nframes++] = z, any = 1;
            if (!any) fseg[nframes] = s, fz[nframes++] = 0;
        }
        free(has);
    }
    dw_ds *d = st == MEDSAM_OK ? dw_new() : NULL;
    if (st == MEDSAM_OK && !d) st = ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory", path);
    uint8_t *bits = NULL;
    size_t nbytes = 0;
    if (st == MEDSAM_OK) {
        if ((double)nframes * (double)plane > 8.0 * 2147483000.0)
            st = ms_error(err, MEDSAM_ERR_NOMEM, "%s: %d frames of %dx%d is too large for one SEG", path, nframes, nx, ny);
        else {
            nbytes = ((size_t)nframes * plane + 7) / 8;
            bits = calloc(nbytes + 1, 1);
            if (!bits) st = ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory for %zu bytes of frames", path, nbytes);
        }
    }
    if (st == MEDSAM_OK) {
        header_modules(d, &r, series_uid, sop_uid, geometry);
        references(d, &r);
        segments(d, o);
        dimensions(d, org_uid, geometry);
        shared_groups(d, &r, geometry);
        for (int f = 0; f < nframes; f++) {
            frame_groups(d, &r, fseg[f], fz[f], geometry);
            size_t bit0 = (size_t)f * plane, at = (size_t)fz[f] * plane;
            for (size_t i = 0; i < plane; i++)
                if (label_at(labels, label_bytes, at + i) == fseg[f]) bits[(bit0 + i) >> 3] |= (uint8_t)(1u << ((bit0 + i) & 7));
        }
        dw_us(d, T(0x0028, 0x0002), 1);
        dw_text(d, T(0x0028, 0x0004), "CS", "MONOCHROME2");
        dw_is(d, T(0x0028, 0x0008), nframes);
        dw_us(d, T(0x0028, 0x0010), (uint16_t)ny);
        dw_us(d, T(0x0028, 0x0011), (uint16_t)nx);
        dw_us(d, T(0x0028, 0x0100), 1);
        dw_us(d, T(0x0028, 0x0101), 1);
        dw_us(d, T(0x0028, 0x0102), 0);
        dw_us(d, T(0x0028, 0x0103), 0);
        dw_text(d, T(0x0028, 0x2110), "CS", "00");
        dw_text(d, T(0x0062, 0x0001), "CS", "BINARY");
        dw_bytes(d, T(0x7FE0, 0x0010), "OB", bits, nbytes);
        st = dw_write_file(d, SEG_SOP_CLASS, sop_uid, path, err);
    }
    free(bits);
    free(fseg);
    free(fz);
    dw_free(d);
    ms_dicom_refs_free(&r);
    return st;
}
