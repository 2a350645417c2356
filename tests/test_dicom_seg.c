/* test_dicom_seg.c — DICOM SEG writer (src/io/dicom_seg_write.c) round trips:
 * labels written as SEG and as NIfTI (the CLI's two outputs) for DICOM
 * sources — a series without a frame of reference (tests/fixtures/dicom/
 * ct_series), an enhanced multi-frame file (be_multiframe.dcm), and pydicom's
 * CT_small.dcm (frame of reference: plane positions) when present — read back
 * with the DICOM reader: attributes, 1-bit frames, Referenced Segment Number
 * and plane position per frame, reassembled into a label volume that must
 * equal the NIfTI labels exactly. Plus the writer's pieces: UID form, DS width,
 * bad arguments leaving nothing behind. dciodvfy and pydicom check the same
 * files in tests/cli_dicom.sh. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/dicom.h"
#include "io/dicom_seg_write.h"
#include "io/dicom_write.h"
#include "io/nifti.h"
#include "test.h"

static char g_tmp[256];

/* Finds the text value of a top-level element (explicit VR LE file we wrote). */
static int find_text(const uint8_t *b, size_t n, uint32_t tag, char *out, size_t cap) {
    for (size_t i = 132; i + 8 <= n; i++) {
        uint32_t t = (uint32_t)(b[i] | b[i + 1] << 8) << 16 | (uint32_t)(b[i + 2] | b[i + 3] << 8);
        if (t != tag || b[i + 4] < 'A' || b[i + 4] > 'Z') continue;
        size_t len = (size_t)(b[i + 6] | b[i + 7] << 8);
        if (i + 8 + len > n) return 0;
        size_t k = len < cap - 1 ? len : cap - 1;
        memcpy(out, b + i + 8, k);
        while (k && (out[k - 1] == ' ' || out[k - 1] == 0)) k--;
        out[k] = 0;
        return 1;
    }
    return 0;
}

static void round_trip(const char *name, const char *source, int nseg) {
    ms_volume src;
    medsam_error err;
    if (ms_dicom_read(source, &src, NULL, &err) != MEDSAM_OK) {
        printf("skip: %s (%s)\n", name, err.message);
        return;
    }
    const int nx = src.nx, ny = src.ny, nz = src.nz;
    const size_t plane = (size_t)nx * ny, nvox = plane * nz;
    uint8_t *lab = calloc(nvox, 1);
    for (int z = 0; z < nz; z++) /* segment 1 a block on every slice, segment 2 a diagonal on some, segment 3 empty */
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                uint8_t l = 0;
                if (x >= 1 && x < nx / 2 && y >= 1 && y < ny / 2) l = 1;
                if (z % 2 == 0 && abs(x - y) < 2 && x > nx / 2) l = 2;
                lab[(size_t)z * plane + (size_t)y * nx + x] = l;
            }
    char seg_path[512], nii_path[512];
    snprintf(seg_path, sizeof seg_path, "%s/%s_seg.dcm", g_tmp, name);
    snprintf(nii_path, sizeof nii_path, "%s/%s.nii", g_tmp, name);
    ms_seg_opts o = {"medsam.c model.pth", nseg, NULL};
    medsam_status st = ms_dicom_seg_write(seg_path, source, lab, 1, nx, ny, nz, &o, &err);
    CHECK(st == MEDSAM_OK, "%s: SEG: %s", name, err.message);
    /* the NIfTI labels of the same run, as the CLI writes them */
    medsam_volume *mv = NULL;
    st = medsam_volume_read(source, &mv, &err);
    if (st == MEDSAM_OK) st = medsam_volume_write_labels(nii_path, mv, lab, 1, &err);
    medsam_volume_free(mv);
    CHECK(st == MEDSAM_OK, "%s: NIfTI: %s", name, err.message);
    ms_volume nii;
    st = ms_nifti_read(nii_path, &nii, &err);
    CHECK(st == MEDSAM_OK, "%s: NIfTI back: %s", name, err.message);
    size_t len;
    uint8_t *b = t_slurp(seg_path, &len);
    ms_dicom_file f;
    st = b ? ms_dicom_parse(b, len, &f, &err) : MEDSAM_ERR_IO;
    CHECK(st == MEDSAM_OK, "%s: SEG back: %s", name, err.message);
    ms_dicom_refs r;
    medsam_status rs = ms_dicom_read_refs(source, &r, &err);
    CHECK(rs == MEDSAM_OK, "%s: refs: %s", name, err.message);
    if (st == MEDSAM_OK && rs == MEDSAM_OK && nii.data) {
        char v[128];
        CHECK(!strcmp(f.sop_class_uid, "1.2.840.10008.5.1.4.1.1.66.4") && !strcmp(f.modality, "SEG") &&
                  f.bits_allocated == 1 && f.rows == ny && f.columns == nx && !strcmp(f.transfer_syntax, "1.2.840.10008.1.2.1"),
              "%s: SEG attributes", name);
        CHECK(!strncmp(f.sop_instance_uid, "2.25.", 5) && strlen(f.sop_instance_uid) <= 64 &&
                  strspn(f.sop_instance_uid + 5, "0123456789") == strlen(f.sop_instance_uid + 5),
              "%s: SOP Instance UID '%s' is not 2.25.<decimal>", name, f.sop_instance_uid);
        CHECK(find_text(b, len, 0x00620001, v, sizeof v) && !strcmp(v, "BINARY"), "%s: Segmentation Type", name);
        CHECK(find_text(b, len, 0x00620009, v, sizeof v) && !strcmp(v, "medsam.c model.pth"), "%s: algorithm name", name);
        CHECK(find_text(b, len, 0x00620008, v, sizeof v) && !strcmp(v, "AUTOMATIC"), "%s: algorithm type", name);
        CHECK(find_text(b, len, 0x00200010, v, sizeof v) || !r.ids.study_id[0], "%s: Study ID", name);
        CHECK(find_text(b, len, 0x0020000D, v, sizeof v) && (!r.ids.study_uid[0] || !strcmp(v, r.ids.study_uid)),
              "%s: Study Instance UID not copied", name);
        /* frames back into a label volume */
        uint8_t *rec = calloc(nvox, 1), *frame = malloc(plane);
        int bad = 0, segs_seen[4] = {0};
        for (int k = 0; k < f.nframes; k++) {
            int s = f.frames ? f.frames[k].segment : 0;
            if (s < 1 || s > nseg) {
                bad++;
                continue;
            }
            segs_seen[s] = 1;
            /* slice: the source slice at this plane position, else the frame order (2-D, no geometry) */
            int z = -1;
            if (f.frames[k].has_ipp) {
                for (int q = 0; q < nz; q++)
                    if (fabs(r.slices[q].ipp[0] - f.frames[k].ipp[0]) < 1e-3 && fabs(r.slices[q].ipp[1] - f.frames[k].ipp[1]) < 1e-3 &&
                        fabs(r.slices[q].ipp[2] - f.frames[k].ipp[2]) < 1e-3)
                        z = q;
            } else {
                z = -2;
            }
            if (z == -2) { /* no plane position: In-Stack Position Number is the 1-based slice (checked by pydicom) */
                int before = 0;
                for (int q = 0; q < k; q++) before += f.frames[q].segment == s;
                /* frames hold only slices with the segment: find the before-th such slice */
                for (int q = 0, c = 0; q < nz && z < 0; q++) {
                    int any = 0;
                    for (size_t i = 0; i < plane; i++) any |= lab[(size_t)q * plane + i] == s;
                    if (any && c++ == before) z = q;
                }
                if (z < 0) z = 0; /* the empty segment's one frame */
            }
            if (z < 0 || ms_dicom_decode_frame(&f, k, frame, &err) != MEDSAM_OK) {
                bad++;
                continue;
            }
            for (size_t i = 0; i < plane; i++)
                if (frame[i]) rec[(size_t)z * plane + i] = (uint8_t)s;
        }
        CHECK(!bad, "%s: %d frames without a segment or slice", name, bad);
        CHECK(segs_seen[1] && segs_seen[2] && (nseg < 3 || segs_seen[3]), "%s: every segment has a frame", name);
        CHECK(!memcmp(rec, nii.data, nvox) && !memcmp(rec, lab, nvox), "%s: SEG frames differ from the NIfTI labels", name);
        printf("ok   %s: SEG of %d frames = NIfTI labels (%dx%dx%d, %d segments)\n", name, f.nframes, nx, ny, nz, nseg);
        free(rec);
        free(frame);
    }
    if (st == MEDSAM_OK) ms_dicom_file_free(&f);
    if (rs == MEDSAM_OK) ms_dicom_refs_free(&r);
    ms_volume_free(&nii);
    free(b);
    free(lab);
    ms_volume_free(&src);
}

static void test_writer_pieces(void) {
    char u[65], w[65];
    medsam_error err;
    CHECK(dw_new_uid(u, &err) == MEDSAM_OK && dw_new_uid(w, &err) == MEDSAM_OK && strcmp(u, w) && !strncmp(u, "2.25.", 5) &&
              strlen(u) <= 44 && u[5] != '0',
          "UIDs: '%s' '%s'", u, w);
    /* labels of the wrong size, or a non-DICOM source: refused, nothing written */
    char out[512];
    snprintf(out, sizeof out, "%s/bad_seg.dcm", g_tmp);
    uint8_t lab[16] = {0};
    ms_seg_opts o = {"x", 1, NULL};
    medsam_status st = ms_dicom_seg_write(out, "tests/fixtures/dicom/ct_series", lab, 1, 4, 4, 1, &o, &err);
    CHECK(st != MEDSAM_OK && strstr(err.message, "labels are 4x4x1") && access(out, F_OK) != 0, "size mismatch: %s",
          err.message);
    st = ms_dicom_seg_write(out, "tests/fixtures/volume/ct_phantom.nii.gz", lab, 1, 4, 4, 1, &o, &err);
    CHECK(st != MEDSAM_OK && access(out, F_OK) != 0, "non-DICOM source accepted");
    o.nsegments = 0;
    st = ms_dicom_seg_write(out, "tests/fixtures/dicom/mr_single.dcm", lab, 1, 4, 4, 1, &o, &err);
    CHECK(st == MEDSAM_ERR_ARG && access(out, F_OK) != 0, "0 segments accepted");
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/medsam_test_seg.%d", (int)getpid());
    mkdir(g_tmp, 0700);
    test_writer_pieces();
    round_trip("ct_series", "tests/fixtures/dicom/ct_series", 3);
    round_trip("be_multiframe", "tests/fixtures/dicom/be_multiframe.dcm", 3);
    round_trip("mr_single", "tests/fixtures/dicom/mr_single.dcm", 2);
    const char *pd = getenv("MS_PYDICOM_DATA") ? getenv("MS_PYDICOM_DATA") : "/usr/lib/python3/dist-packages/pydicom/data/test_files";
    char ct[512];
    snprintf(ct, sizeof ct, "%s/CT_small.dcm", pd);
    if (access(ct, F_OK) == 0) round_trip("CT_small", ct, 2);
    else printf("skip: %s not found\n", ct);
    t_rmtree(g_tmp);
    return t_summary();
}
