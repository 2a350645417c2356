/* eval_load.c — label maps for `medsam eval` from PNG, .npy, .npz and NIfTI files. */
#include "eval_load.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/npy.h"
#include "io/image.h"
#include "io/nifti.h"
#include "io/npz.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int eval_is_label_file(const char *name) {
    return ends_with(name, ".png") || ends_with(name, ".PNG") || ends_with(name, ".npy") || ends_with(name, ".npz") ||
           ends_with(name, ".nii") || ends_with(name, ".nii.gz");
}

void eval_labels_free(eval_labels *l) {
    if (!l) return;
    free(l->data);
    memset(l, 0, sizeof *l);
}

static void set_shape(eval_labels *out, int ndim, int64_t a, int64_t b, int64_t c) {
    out->ndim = ndim;
    out->shape[0] = a, out->shape[1] = b, out->shape[2] = ndim == 2 ? 1 : c;
    if (ndim == 2) snprintf(out->shape_text, sizeof out->shape_text, "(%lld, %lld)", (long long)a, (long long)b);
    else snprintf(out->shape_text, sizeof out->shape_text, "(%lld, %lld, %lld)", (long long)a, (long long)b,
                  (long long)c);
}

static void *alloc_n(int64_t n, size_t size) {
    if (n < 1) n = 1;
    if ((uint64_t)n > (uint64_t)(INT64_MAX / 4) / size) return NULL;
    return malloc((size_t)n * size);
}

/* s[0..n) (any numeric type) -> out as uint8 when hi <= 255, else uint16; negatives -> 0. */
#define STORE_LABELS()                                                                             \
    do {                                                                                           \
        if (hi <= 255) {                                                                           \
            uint8_t *d = alloc_n(n, 1);                                                            \
            if (!d) return -1;                                                                     \
            for (int64_t i = 0; i < n; i++) d[i] = s[i] > 0 ? (uint8_t)s[i] : 0;                   \
            out->data = d, out->type = MS_LABELS_U8;                                               \
        } else {                                                                                   \
            uint16_t *d = alloc_n(n, sizeof(uint16_t));                                            \
            if (!d) return -1;                                                                     \
            for (int64_t i = 0; i < n; i++) d[i] = s[i] > 0 ? (uint16_t)s[i] : 0;                  \
            out->data = d, out->type = MS_LABELS_U16;                                              \
        }                                                                                          \
        return 1;                                                                                  \
    } while (0)

/* Integer samples -> labels; 0 when the max exceeds 65535. */
#define CONVERT_INT(T)                                                                             \
    do {                                                                                           \
        const T *s = src;                                                                          \
        int64_t hi = 0;                                                                            \
        for (int64_t i = 0; i < n; i++)                                                            \
            if ((int64_t)s[i] > hi) hi = (int64_t)s[i];                                            \
        if (hi > 65535) return 0;                                                                  \
        STORE_LABELS();                                                                            \
    } while (0)

/* Whole-number floats -> labels; 0 when a value is not a whole number in range. */
#define CONVERT_FLOAT(T)                                                                           \
    do {                                                                                           \
        const T *s = src;                                                                          \
        double hi = 0;                                                                             \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double v = (double)s[i];                                                               \
            if (!(v == floor(v)) || v > 65535) return 0;                                           \
            if (v > hi) hi = v;                                                                    \
        }                                                                                          \
        STORE_LABELS();                                                                            \
    } while (0)

enum { K_U8, K_I8, K_U16, K_I16, K_U32, K_I32, K_U64, K_I64, K_F32, K_F64 };

/* 1 ok, 0 values out of range / not whole numbers, -1 out of memory. */
static int convert(const void *src, int kind, int64_t n, eval_labels *out) {
    switch (kind) {
    case K_U8: CONVERT_INT(uint8_t);
    case K_I8: CONVERT_INT(int8_t);
    case K_U16: CONVERT_INT(uint16_t);
    case K_I16: CONVERT_INT(int16_t);
    case K_U32: CONVERT_INT(uint32_t);
    case K_I32: CONVERT_INT(int32_t);
    case K_U64: {
        const uint64_t *s = src;
        for (int64_t i = 0; i < n; i++)
            if (s[i] > 65535) return 0;
        CONVERT_INT(uint64_t);
    }
    case K_I64: CONVERT_INT(int64_t);
    case K_F32: CONVERT_FLOAT(float);
    case K_F64: CONVERT_FLOAT(double);
    }
    return 0;
}

static medsam_status convert_or_fail(const char *path, const void *src, int kind, int64_t n, eval_labels *out,
                                     medsam_error *err) {
    int r = convert(src, kind, n, out);
    if (r < 0) return ms_error(err, MEDSAM_ERR_NOMEM, "%s: out of memory for %lld labels", path, (long long)n);
    if (r == 0)
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED,
                        "%s: labels must be whole numbers up to 65535 (found a value that is not)", path);
    return MEDSAM_OK;
}

static medsam_status from_npy(const char *path, const char *what, const ms_npy *a, eval_labels *out,
                              medsam_error *err) {
    if (a->ndim != 2 && a->ndim != 3)
        return ms_error(err, MEDSAM_ERR_SHAPE, "%s: %s must be a 2-D or 3-D label map, got %d dimensions", path, what,
                        a->ndim);
    set_shape(out, a->ndim, a->shape[0], a->shape[1], a->ndim == 3 ? a->shape[2] : 1);
    int kind;
    switch (a->dtype) {
    case MS_NPY_U8: case MS_NPY_BOOL: kind = K_U8; break;
    case MS_NPY_U16: kind = K_U16; break;
    case MS_NPY_I16: kind = K_I16; break;
    case MS_NPY_I32: kind = K_I32; break;
    case MS_NPY_U32: kind = K_U32; break;
    case MS_NPY_I64: kind = K_I64; break;
    case MS_NPY_F32: kind = K_F32; break;
    default: kind = K_F64; break;
    }
    return convert_or_fail(path, a->data, kind, a->count, out, err);
}

static medsam_status load_png(const char *path, eval_labels *out, medsam_error *err) {
    ms_image img;
    medsam_status st = ms_image_read(path, &img, err);
    if (st) return st;
    if (img.channels != 1) {
        ms_image_free(&img);
        return ms_error(err, MEDSAM_ERR_SHAPE, "%s: a label map must have one grey channel, this image has %d", path,
                        img.channels);
    }
    set_shape(out, 2, img.height, img.width, 1);
    if (img.bit_depth == 8) out->data = img.u8, img.u8 = NULL, out->type = MS_LABELS_U8;
    else if (img.bit_depth == 16) out->data = img.u16, img.u16 = NULL, out->type = MS_LABELS_U16;
    else st = convert_or_fail(path, img.f32, K_F32, (int64_t)img.width * img.height, out, err);
    ms_image_free(&img);
    return st;
}

static medsam_status load_npz(const char *path, const char *key, int want_spacing, eval_labels *out,
                              medsam_error *err) {
    ms_npz *z;
    medsam_status st = ms_npz_open(path, &z, err);
    if (st) return st;
    if (!ms_npz_has(z, key)) {
        char members[256] = "";
        for (int i = 0; i < ms_npz_count(z); i++) {
            size_t l = strlen(members);
            snprintf(members + l, sizeof members - l, "%s%s", i ? ", " : "", ms_npz_name(z, i));
        }
        ms_npz_close(z);
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s: no array '%s' (members: %s)", path, key, members);
    }
    ms_npy a;
    st = ms_npz_get(z, key, &a, err);
    if (!st) {
        st = from_npy(path, key, &a, out, err);
        ms_npy_free(&a);
    }
    if (!st && want_spacing && out->ndim == 3 && ms_npz_has(z, "spacing")) {
        st = ms_npz_get(z, "spacing", &a, err);
        if (!st) {
            double *v = out->spacing;
            int ok = a.count == 3;
            for (int k = 0; ok && k < 3; k++) {
                switch (a.dtype) {
                case MS_NPY_F64: v[k] = ((const double *)a.data)[k]; break;
                case MS_NPY_F32: v[k] = ((const float *)a.data)[k]; break;
                case MS_NPY_I64: v[k] = (double)((const int64_t *)a.data)[k]; break;
                case MS_NPY_I32: v[k] = ((const int32_t *)a.data)[k]; break;
                default: ok = 0; break;
                }
                ok &= v[k] > 0 && !isinf(v[k]);
            }
            ms_npy_free(&a);
            if (!ok) st = ms_error(err, MEDSAM_ERR_FORMAT, "%s: 'spacing' must hold 3 positive numbers", path);
            else out->spacing_kind = EVAL_SPACING_NPZ;
        }
    }
    ms_npz_close(z);
    if (st) eval_labels_free(out);
    return st;
}

static medsam_status load_nifti(const char *path, eval_labels *out, medsam_error *err) {
    ms_volume v;
    medsam_status st = ms_nifti_read(path, &v, err);
    if (st) return st;
    if (v.nt != 1 || v.nchan != 1) {
        ms_volume_free(&v);
        return ms_error(err, MEDSAM_ERR_SHAPE, "%s: a label map must be one 3-D volume (nt %d, %d channels)", path,
                        v.nt, v.nchan);
    }
    set_shape(out, 3, v.nz, v.ny, v.nx); /* x fastest on disk: C order (z, y, x) */
    out->spacing[0] = v.pixdim[3], out->spacing[1] = v.pixdim[2], out->spacing[2] = v.pixdim[1];
    out->spacing_kind = EVAL_SPACING_NIFTI;
    const int64_t n = ms_volume_voxels(&v);
    if (ms_volume_has_scaling(&v)) { /* labels seen through scl_slope/inter, as nibabel's get_fdata */
        double *f;
        st = ms_volume_to_f64(&v, &f, err);
        if (!st) {
            st = convert_or_fail(path, f, K_F64, n, out, err);
            free(f);
        }
    } else {
        int kind = -1;
        switch (v.datatype) {
        case MS_VOX_UINT8: kind = K_U8; break;
        case MS_VOX_INT8: kind = K_I8; break;
        case MS_VOX_UINT16: kind = K_U16; break;
        case MS_VOX_INT16: kind = K_I16; break;
        case MS_VOX_UINT32: kind = K_U32; break;
        case MS_VOX_INT32: kind = K_I32; break;
        case MS_VOX_UINT64: kind = K_U64; break;
        case MS_VOX_INT64: kind = K_I64; break;
        case MS_VOX_FLOAT32: kind = K_F32; break;
        case MS_VOX_FLOAT64: kind = K_F64; break;
        default: break;
        }
        if (kind < 0) st = ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s: %s voxels cannot be labels", path,
                                    ms_voxel_type_name(v.datatype));
        else st = convert_or_fail(path, v.data, kind, n, out, err);
    }
    ms_volume_free(&v);
    return st;
}

medsam_status eval_load_labels(const char *path, const char *npz_key, int want_spacing, eval_labels *out,
                               medsam_error *err) {
    memset(out, 0, sizeof *out);
    unsigned char magic[8] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return ms_error(err, MEDSAM_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    size_t got = fread(magic, 1, sizeof magic, fp);
    fclose(fp);
    medsam_status st;
    if (got >= 4 && !memcmp(magic, "\x89PNG", 4)) {
        st = load_png(path, out, err);
    } else if (got >= 6 && !memcmp(magic, "\x93NUMPY", 6)) {
        ms_npy a;
        st = ms_npy_read(path, &a, err);
        if (!st) {
            st = from_npy(path, "the array", &a, out, err);
            ms_npy_free(&a);
        }
    } else if (got >= 4 && !memcmp(magic, "PK\x03\x04", 4)) {
        st = load_npz(path, npz_key, want_spacing, out, err);
    } else if (got >= 2 && magic[0] == 0xFF && magic[1] == 0xD8) {
        return ms_error(err, MEDSAM_ERR_UNSUPPORTED, "%s: JPEG is lossy and cannot hold a label map (use PNG)", path);
    } else if ((got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) || ends_with(path, ".nii") ||
               (got >= 4 && (!memcmp(magic, "\x5c\x01\0\0", 4) || !memcmp(magic, "\0\0\x01\x5c", 4) ||
                             !memcmp(magic, "\x1c\x02\0\0", 4) || !memcmp(magic, "\0\0\x02\x1c", 4)))) {
        st = load_nifti(path, out, err);
    } else {
        return ms_error(err, MEDSAM_ERR_FORMAT, "%s: not a PNG, .npy, .npz or NIfTI file", path);
    }
    if (st) eval_labels_free(out);
    return st;
}
