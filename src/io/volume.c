/* volume.c — ms_volume helpers: sample types, allocation, nibabel-exact
 * scaling to float and the qform / sform / base affines. */
#include "io/volume.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const struct {
    ms_voxel_type t;
    int size, chan;
    const char *name;
} VOXEL_TYPES[] = {
    {MS_VOX_UINT8, 1, 1, "uint8"},     {MS_VOX_INT16, 2, 1, "int16"},     {MS_VOX_INT32, 4, 1, "int32"},
    {MS_VOX_FLOAT32, 4, 1, "float32"}, {MS_VOX_FLOAT64, 8, 1, "float64"}, {MS_VOX_RGB24, 1, 3, "RGB24"},
    {MS_VOX_INT8, 1, 1, "int8"},       {MS_VOX_UINT16, 2, 1, "uint16"},   {MS_VOX_UINT32, 4, 1, "uint32"},
    {MS_VOX_INT64, 8, 1, "int64"},     {MS_VOX_UINT64, 8, 1, "uint64"},   {MS_VOX_RGBA32, 1, 4, "RGBA32"},
};
#define N_VOXEL_TYPES (sizeof VOXEL_TYPES / sizeof VOXEL_TYPES[0])

int ms_voxel_type_size(ms_voxel_type t) {
    for (size_t i = 0; i < N_VOXEL_TYPES; i++)
        if (VOXEL_TYPES[i].t == t) return VOXEL_TYPES[i].size;
    return 0;
}

int ms_voxel_type_channels(ms_voxel_type t) {
    for (size_t i = 0; i < N_VOXEL_TYPES; i++)
        if (VOXEL_TYPES[i].t == t) return VOXEL_TYPES[i].chan;
    return 0;
}

const char *ms_voxel_type_name(ms_voxel_type t) {
    for (size_t i = 0; i < N_VOXEL_TYPES; i++)
        if (VOXEL_TYPES[i].t == t) return VOXEL_TYPES[i].name;
    return "unknown";
}

int64_t ms_volume_voxels(const ms_volume *v) { return (int64_t)v->nx * v->ny * v->nz * v->nt; }
int64_t ms_volume_samples(const ms_volume *v) { return ms_volume_voxels(v) * v->nchan; }

void ms_volume_init(ms_volume *v) {
    memset(v, 0, sizeof *v);
    v->ndim = 3;
    v->nx = v->ny = v->nz = v->nt = 1;
    v->nchan = 1;
    v->datatype = MS_VOX_UINT8;
    for (int i = 0; i < 8; i++) v->pixdim[i] = 1.0;
    v->scl_slope = 1.0;
    ms_volume_base_affine(v, v->affine);
}

void ms_volume_free(ms_volume *v) {
    if (!v) return;
    free(v->data);
    ms_volume_init(v);
}

medsam_status ms_volume_alloc(ms_volume *v, int nx, int ny, int nz, int nt, ms_voxel_type t, medsam_error *err) {
    int size = ms_voxel_type_size(t);
    if (!size) return ms_error(err, MEDSAM_ERR_ARG, "unknown voxel type %d", (int)t);
    if (nx < 1 || ny < 1 || nz < 1 || nt < 1)
        return ms_error(err, MEDSAM_ERR_ARG, "bad volume size %dx%dx%dx%d", nx, ny, nz, nt);
    int64_t voxels = (int64_t)nx * ny;
    if (voxels > MS_VOLUME_MAX_VOXELS / nz || voxels * nz > MS_VOLUME_MAX_VOXELS / nt)
        return ms_error(err, MEDSAM_ERR_NOMEM, "volume %dx%dx%dx%d has more than 2^31-1 voxels", nx, ny, nz, nt);
    voxels *= (int64_t)nz * nt;
    size_t bytes = (size_t)voxels * (size_t)ms_voxel_type_channels(t) * (size_t)size;
    void *data = calloc(bytes, 1);
    if (!data) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %zu bytes for a volume", bytes);
    free(v->data);
    v->data = data;
    v->nx = nx, v->ny = ny, v->nz = nz, v->nt = nt;
    v->datatype = t;
    v->nchan = ms_voxel_type_channels(t);
    return MEDSAM_OK;
}

medsam_status ms_volume_create_like(ms_volume *out, const ms_volume *ref, ms_voxel_type t, int nt,
                                    medsam_error *err) {
    ms_volume_init(out);
    medsam_status st = ms_volume_alloc(out, ref->nx, ref->ny, ref->nz, nt, t, err);
    if (st) return st;
    out->ndim = nt > 1 ? 4 : (ref->ndim < 3 ? ref->ndim : 3);
    memcpy(out->pixdim, ref->pixdim, sizeof out->pixdim);
    out->scl_slope = 1.0;
    out->scl_inter = 0.0;
    out->qform_code = ref->qform_code;
    out->sform_code = ref->sform_code;
    out->quatern_b = ref->quatern_b, out->quatern_c = ref->quatern_c, out->quatern_d = ref->quatern_d;
    out->qoffset_x = ref->qoffset_x, out->qoffset_y = ref->qoffset_y, out->qoffset_z = ref->qoffset_z;
    memcpy(out->srow, ref->srow, sizeof out->srow);
    memcpy(out->affine, ref->affine, sizeof out->affine);
    out->xyzt_units = ref->xyzt_units;
    out->dim_info = ref->dim_info;
    out->slice_code = ref->slice_code;
    out->slice_start = ref->slice_start, out->slice_end = ref->slice_end;
    out->slice_duration = ref->slice_duration;
    out->toffset = ref->toffset;
    return MEDSAM_OK;
}

/* ref: nibabel/nifti1.py:Nifti1Header.get_slope_inter (slope 0 or non-finite: None) and
 * nibabel/volumeutils.py:apply_read_scaling ((1, 0) returns the raw array). */
int ms_volume_has_scaling(const ms_volume *v) {
    if (v->nchan != 1) return 0;
    if (v->scl_slope == 0 || !isfinite(v->scl_slope)) return 0;
    return !(v->scl_slope == 1.0 && v->scl_inter == 0.0);
}

static double raw_sample(const ms_volume *v, int64_t i) {
    switch (v->datatype) {
    case MS_VOX_UINT8: case MS_VOX_RGB24: case MS_VOX_RGBA32: return ((const uint8_t *)v->data)[i];
    case MS_VOX_INT8: return ((const int8_t *)v->data)[i];
    case MS_VOX_INT16: return ((const int16_t *)v->data)[i];
    case MS_VOX_UINT16: return ((const uint16_t *)v->data)[i];
    case MS_VOX_INT32: return ((const int32_t *)v->data)[i];
    case MS_VOX_UINT32: return ((const uint32_t *)v->data)[i];
    case MS_VOX_INT64: return (double)((const int64_t *)v->data)[i];
    case MS_VOX_UINT64: return (double)((const uint64_t *)v->data)[i];
    case MS_VOX_FLOAT32: return ((const float *)v->data)[i];
    case MS_VOX_FLOAT64: return ((const double *)v->data)[i];
    }
    return 0;
}

static medsam_status check_scaling(const ms_volume *v, int *scale, medsam_error *err) {
    if (!ms_voxel_type_size(v->datatype)) return ms_error(err, MEDSAM_ERR_ARG, "unknown voxel type %d", v->datatype);
    if (!v->data && ms_volume_samples(v) > 0) return ms_error(err, MEDSAM_ERR_ARG, "volume has no data");
    *scale = ms_volume_has_scaling(v);
    if (*scale && !isfinite(v->scl_inter))
        return ms_error(err, MEDSAM_ERR_FORMAT, "valid scl_slope %g but invalid scl_inter %g", v->scl_slope,
                        v->scl_inter);
    return MEDSAM_OK;
}

/* ref: nibabel/volumeutils.py:apply_read_scaling — multiply only if slope != 1, add only if inter != 0. */
static double scaled(const ms_volume *v, int64_t i, int scale) {
    double x = raw_sample(v, i);
    if (scale) {
        if (v->scl_slope != 1.0) x *= v->scl_slope;
        if (v->scl_inter != 0.0) x += v->scl_inter;
    }
    return x;
}

medsam_status ms_volume_to_f64(const ms_volume *v, double **out, medsam_error *err) {
    int scale;
    medsam_status st = check_scaling(v, &scale, err);
    if (st) return st;
    int64_t n = ms_volume_samples(v);
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %lld doubles", (long long)n);
    for (int64_t i = 0; i < n; i++) d[i] = scaled(v, i, scale);
    *out = d;
    return MEDSAM_OK;
}

medsam_status ms_volume_to_f32(const ms_volume *v, float **out, medsam_error *err) {
    int scale;
    medsam_status st = check_scaling(v, &scale, err);
    if (st) return st;
    int64_t n = ms_volume_samples(v);
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f) return ms_error(err, MEDSAM_ERR_NOMEM, "cannot allocate %lld floats", (long long)n);
    for (int64_t i = 0; i < n; i++) f[i] = (float)scaled(v, i, scale);
    *out = f;
    return MEDSAM_OK;
}

static void identity4(double A[4][4]) {
    memset(A, 0, 16 * sizeof(double));
    for (int i = 0; i < 4; i++) A[i][i] = 1.0;
}

/* ref: nibabel/nifti1.py:Nifti1Header.get_sform */
void ms_volume_sform(const ms_volume *v, double A[4][4]) {
    identity4(A);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) A[r][c] = v->srow[r][c];
}

/* ref: nibabel/nifti1.py:Nifti1Header.get_qform, quaternions.py:fillpositive and quat2mat.
 * fillpositive computes in np.longdouble (MAX_FLOAT), so this does too. */
medsam_status ms_volume_qform(const ms_volume *v, double A[4][4], medsam_error *err) {
    long double b = v->quatern_b, c = v->quatern_c, d = v->quatern_d;
    /* Nifti1Header.quaternion_threshold = -eps(float32) * 3; Nifti2Header: -eps(float64) * 3 */
    double w2_thresh = v->nifti_version == 2 ? -3 * 2.220446049250313e-16 : -3 * 1.1920928955078125e-07;
    long double w2 = 1.0L - (b * b + c * c + d * d), w;
    if (w2 < 0) {
        if (w2 < w2_thresh)
            return ms_error(err, MEDSAM_ERR_FORMAT, "qform quaternion (b, c, d) = (%g, %g, %g) has norm > 1",
                            v->quatern_b, v->quatern_c, v->quatern_d);
        w = 0;
    } else {
        w = sqrtl(w2);
    }
    long double R[3][3];
    long double nq = w * w + b * b + c * c + d * d;
    if (nq < 2.220446049250313e-16) {
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) R[i][j] = i == j;
    } else {
        long double s = 2.0L / nq;
        long double X = b * s, Y = c * s, Z = d * s;
        long double wX = w * X, wY = w * Y, wZ = w * Z;
        long double xX = b * X, xY = b * Y, xZ = b * Z;
        long double yY = c * Y, yZ = c * Z, zZ = d * Z;
        R[0][0] = 1.0L - (yY + zZ), R[0][1] = xY - wZ, R[0][2] = xZ + wY;
        R[1][0] = xY + wZ, R[1][1] = 1.0L - (xX + zZ), R[1][2] = yZ - wX;
        R[2][0] = xZ - wY, R[2][1] = yZ + wX, R[2][2] = 1.0L - (xX + yY);
    }
    /* vox = pixdim[1:4]; vox[-1] *= qfac; M = R @ diag(vox) (numpy's dot loop) */
    long double vox[3] = {v->pixdim[1], v->pixdim[2], v->pixdim[3] * (v->pixdim[0] < 0 ? -1.0 : 1.0)};
    identity4(A);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            long double m = 0;
            for (int k = 0; k < 3; k++) m += R[i][k] * (k == j ? vox[j] : 0.0L);
            A[i][j] = (double)m;
        }
    }
    A[0][3] = v->qoffset_x, A[1][3] = v->qoffset_y, A[2][3] = v->qoffset_z;
    return MEDSAM_OK;
}

/* ref: nibabel/analyze.py:AnalyzeHeader.get_base_affine -> volumeutils.py:shape_zoom_affine (x_flip) */
void ms_volume_base_affine(const ms_volume *v, double A[4][4]) {
    int shape[3] = {v->nx, v->ny, v->nz};
    identity4(A);
    for (int i = 0; i < 3; i++) {
        double zoom = i < v->ndim ? v->pixdim[i + 1] : 1.0;
        double n = i < v->ndim ? shape[i] : 1.0;
        if (i == 0) zoom = -zoom;
        double origin = (n - 1) / 2.0;
        A[i][i] = zoom;
        A[i][3] = -origin * zoom;
    }
}

/* ref: nibabel/nifti1.py:Nifti1Header.get_best_affine */
medsam_status ms_volume_update_affine(ms_volume *v, medsam_error *err) {
    if (v->sform_code != 0) {
        ms_volume_sform(v, v->affine);
        return MEDSAM_OK;
    }
    if (v->qform_code != 0) return ms_volume_qform(v, v->affine, err);
    ms_volume_base_affine(v, v->affine);
    return MEDSAM_OK;
}
