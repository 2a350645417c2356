/* volume_read.c — format dispatch for volumes: NIfTI, DICOM, npz. */
#include "io/volume_read.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/error.h"
#include "io/nifti.h"

/* DICOM plugs in when its reader is part of the tree. */
#if defined(__has_include)
#if __has_include("io/dicom.h")
#include "io/dicom.h"
#define MS_HAVE_DICOM 1
#endif
#endif
#ifndef MS_HAVE_DICOM
#define MS_HAVE_DICOM 0
#endif

int ms_volume_dicom_available(void) { return MS_HAVE_DICOM; }

static uint32_t rd32(const unsigned char *p, int swap) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return swap ? (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24) : v;
}

/* NIfTI-1 (348, "n+1\0" at 344) or NIfTI-2 (540, "n+2\0" at 4), either byte order. */
static int looks_nifti(const unsigned char *h, int len) {
    for (int swap = 0; swap < 2; swap++) {
        uint32_t size = len >= 4 ? rd32(h, swap) : 0;
        if (size == 348 && len >= 348 && !memcmp(h + 344, "n+1", 4)) return 1;
        if (size == 540 && len >= 12 && !memcmp(h + 4, "n+2", 4)) return 1;
    }
    return 0;
}

ms_volume_format ms_volume_sniff(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return MS_VOLFMT_NONE;
    if (S_ISDIR(sb.st_mode)) return MS_VOLFMT_DICOM; /* a series folder */
    unsigned char raw[132];
    FILE *fp = fopen(path, "rb");
    if (!fp) return MS_VOLFMT_NONE;
    size_t n = fread(raw, 1, sizeof raw, fp);
    fclose(fp);
    if (n >= 4 && !memcmp(raw, "PK\3\4", 4)) return MS_VOLFMT_NPZ;
    if (n >= 132 && !memcmp(raw + 128, "DICM", 4)) return MS_VOLFMT_DICOM;
    /* gzread reads plain files as they are and inflates gzip ones. */
    gzFile gz = gzopen(path, "rb");
    if (gz) {
        unsigned char h[352];
        int got = gzread(gz, h, sizeof h);
        gzclose(gz);
        if (got > 0 && looks_nifti(h, got)) return MS_VOLFMT_NIFTI;
    }
#if MS_HAVE_DICOM
    if (ms_dicom_is_dicom(path)) return MS_VOLFMT_DICOM;
#endif
    return MS_VOLFMT_NONE;
}

static const struct {
    ms_npy_dtype npy;
    ms_voxel_type vox;
} NPY_TO_VOX[] = {
    {MS_NPY_F32, MS_VOX_FLOAT32}, {MS_NPY_F64, MS_VOX_FLOAT64}, {MS_NPY_U8, MS_VOX_UINT8},
    {MS_NPY_I16, MS_VOX_INT16},   {MS_NPY_U16, MS_VOX_UINT16},  {MS_NPY_I32, MS_VOX_INT32},
    {MS_NPY_I64, MS_VOX_INT64},   {MS_NPY_BOOL, MS_VOX_UINT8},  {MS_NPY_U32, MS_VOX_UINT32},
};

// ref: LiteMedSAM CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_3D (imgs (D, H, W), spacing)
medsam_status ms_volume_from_npz(const ms_npz *npz, const char *name, ms_volume *out, medsam_error *err) {
    ms_volume_init(out);
    if (!ms_npz_has(npz, "imgs")) return ms_error(err, MEDSAM_ERR_FORMAT, "%s: no array 'imgs'", name);
    ms_npy a;
    medsam_status st = ms_npz_get(npz, "imgs", &a, err);
    if (st) return st;
    if (a.ndim != 3 || a.shape[0] < 1 || a.shape[1] < 1 || a.shape[2] < 1) {
        st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: imgs has %d dimensions, a volume needs (D,H,W)", name, a.ndim);
    } else if (a.shape[2] == 3 && a.dtype == MS_NPY_U8 && a.shape[0] > 3) {
        st = ms_error(err, MEDSAM_ERR_SHAPE,
                      "%s: imgs (%lld,%lld,3) is a 2-D RGB image, not a (D,H,W) volume (use --npz for CVPR24 cases)",
                      name, (long long)a.shape[0], (long long)a.shape[1]);
    } else if (a.shape[0] > 32767 || a.shape[1] > 32767 || a.shape[2] > 32767) {
        st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: imgs (%lld,%lld,%lld) is too large", name, (long long)a.shape[0],
                      (long long)a.shape[1], (long long)a.shape[2]);
    }
    ms_voxel_type t = MS_VOX_UINT8;
    int found = 0;
    for (size_t i = 0; i < sizeof NPY_TO_VOX / sizeof NPY_TO_VOX[0]; i++)
        if (NPY_TO_VOX[i].npy == a.dtype) t = NPY_TO_VOX[i].vox, found = 1;
    if (!st && !found) st = ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s: imgs has an unsupported dtype", name);
    if (st) {
        ms_npy_free(&a);
        return st;
    }
    /* The npy data is (D, H, W) in C order: already NIfTI's x-fastest layout. */
    out->nx = (int)a.shape[2], out->ny = (int)a.shape[1], out->nz = (int)a.shape[0], out->nt = 1;
    out->ndim = 3;
    out->datatype = t;
    out->nchan = 1;
    out->data = a.data;
    a.data = NULL;
    if (ms_npz_has(npz, "spacing")) {
        ms_npy sp;
        double *f = NULL;
        st = ms_npz_get(npz, "spacing", &sp, err);
        if (!st && (sp.count != 3 || sp.dtype == MS_NPY_BOOL))
            st = ms_error(err, MEDSAM_ERR_SHAPE, "%s: spacing has %lld values, expected 3", name, (long long)sp.count);
        float *sf = NULL;
        if (!st) st = ms_npy_to_f32(&sp, &sf, err);
        if (!st && sp.dtype == MS_NPY_F64) f = (double *)sp.data; /* keep float64 spacing exact */
        for (int i = 0; i < 3 && !st; i++) {
            double v = f ? f[i] : sf[i];
            if (!isfinite(v) || !(v > 0)) st = ms_error(err, MEDSAM_ERR_FORMAT, "%s: spacing[%d] = %g is not > 0", name, i, v);
            else out->pixdim[1 + i] = v;
        }
        free(sf);
        ms_npy_free(&sp);
        if (st) {
            ms_volume_free(out);
            return st;
        }
    }
    out->xyzt_units = 2; /* NIFTI_UNITS_MM: MedSAM's spacing is in mm */
    return ms_volume_update_affine(out, err);
}

static medsam_status read_npz(const char *path, uint64_t max_bytes, ms_volume *out, medsam_error *err) {
    ms_npz *npz;
    medsam_status st = ms_npz_open_budget(path, max_bytes, &npz, err);
    if (st) return st;
    st = ms_volume_from_npz(npz, path, out, err);
    ms_npz_close(npz);
    return st;
}

medsam_status ms_volume_read_any(const char *path, ms_volume *out, ms_volume_meta *meta, medsam_error *err) {
    return ms_volume_read_any_budget(path, 0, out, meta, err);
}

medsam_status ms_volume_read_any_budget(const char *path, uint64_t max_bytes, ms_volume *out, ms_volume_meta *meta,
                                        medsam_error *err) {
    ms_volume_meta m;
    memset(&m, 0, sizeof m);
    ms_volume_init(out);
    struct stat sb;
    if (stat(path, &sb) != 0) return ms_error(err, MEDSAM_ERR_IO, "%s: cannot open (no such file or folder)", path);
    m.format = ms_volume_sniff(path);
    medsam_status st;
    switch (m.format) {
    case MS_VOLFMT_NIFTI: st = ms_nifti_read_budget(path, max_bytes, out, err); break;
    case MS_VOLFMT_NPZ: st = read_npz(path, max_bytes, out, err); break;
    case MS_VOLFMT_DICOM: {
#if MS_HAVE_DICOM
        ms_dicom_meta dm;
        memset(&dm, 0, sizeof dm);
        st = ms_dicom_read_budget(path, max_bytes, out, &dm, err);
        if (!st) {
            memcpy(m.modality, dm.modality, sizeof m.modality);
            m.modality[sizeof m.modality - 1] = 0;
            m.has_window = dm.has_window;
            m.window_center = dm.window_center;
            m.window_width = dm.window_width;
        }
#else
        st = ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s: DICOM support not built (no src/io/dicom.h in this build)", path);
#endif
        break;
    }
    default:
        st = ms_error(err, MEDSAM_ERR_FORMAT, "%s: not a volume (expected NIfTI .nii/.nii.gz, DICOM or .npz)", path);
    }
    if (st) {
        ms_volume_free(out);
        return st;
    }
    if (meta) *meta = m;
    return MEDSAM_OK;
}
