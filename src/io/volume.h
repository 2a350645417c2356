/* volume.h — a medical volume in memory: voxels in their original type, with
 * the NIfTI geometry that places them in the world.
 *
 * Voxels are stored as NIfTI stores them, x fastest: sample c of voxel
 * (x, y, z, t) is at index (((t * nz + z) * ny + y) * nx + x) * nchan + c, in
 * the host's byte order. RGB24 / RGBA32 volumes have 3 / 4 uint8 samples per
 * voxel; every other type has one.
 *
 * Geometry follows nibabel (5.0) exactly, including the fixes it applies to a
 * header when loading it: pixdim[0] (qfac) not +-1 becomes 1; pixdim[1..3]
 * of 0 become 1 and negative ones their absolute value; qform/sform codes
 * outside 0..5 become 0. `affine` is nibabel's get_best_affine(): the sform if
 * sform_code != 0, else the qform if qform_code != 0, else the base affine
 * from the shape and the voxel sizes (x flipped). */
#ifndef MS_IO_VOLUME_H
#define MS_IO_VOLUME_H
#include <stdint.h>

#include "medsam.h"

/* Sample types; the values are the NIfTI datatype codes. */
typedef enum {
    MS_VOX_UINT8 = 2,
    MS_VOX_INT16 = 4,
    MS_VOX_INT32 = 8,
    MS_VOX_FLOAT32 = 16,
    MS_VOX_FLOAT64 = 64,
    MS_VOX_RGB24 = 128, /* 3 uint8 samples per voxel */
    MS_VOX_INT8 = 256,
    MS_VOX_UINT16 = 512,
    MS_VOX_UINT32 = 768,
    MS_VOX_INT64 = 1024,
    MS_VOX_UINT64 = 1280,
    MS_VOX_RGBA32 = 2304, /* 4 uint8 samples per voxel */
} ms_voxel_type;

#define MS_VOLUME_MAX_VOXELS ((int64_t)INT32_MAX) /* nx*ny*nz*nt limit (2^31 - 1) */

typedef struct {
    int ndim;               /* 1..4: NIfTI dim[0] (5+ is refused unless dims 5.. are all 1) */
    int nx, ny, nz, nt;     /* sizes, >= 1; dims past ndim are 1 */
    int nchan;              /* samples per voxel: 3 (RGB24), 4 (RGBA32), else 1 */
    ms_voxel_type datatype; /* type of the stored samples */
    void *data;             /* (nt, nz, ny, nx, nchan) samples of datatype, owned */

    double pixdim[8];          /* [0] qfac (+-1), [1..3] voxel size x, y, z, [4] time step */
    double scl_slope, scl_inter; /* value = raw * slope + inter; slope 0 or non-finite: no scaling */
    int qform_code, sform_code;
    double quatern_b, quatern_c, quatern_d;
    double qoffset_x, qoffset_y, qoffset_z;
    double srow[3][4];         /* sform rows x, y, z */
    double affine[4][4];       /* voxel (i, j, k, 1) -> world (x, y, z, 1): get_best_affine */
    int xyzt_units;            /* NIfTI units code (space | time) */

    /* other NIfTI header fields, kept so that a rewrite preserves them */
    int intent_code;
    double intent_p1, intent_p2, intent_p3;
    char intent_name[17];
    int dim_info, slice_code;
    int64_t slice_start, slice_end;
    double slice_duration, toffset, cal_min, cal_max;
    char descrip[81];
    char aux_file[25];
    int nifti_version; /* 1 or 2 when read from a NIfTI file, 0 otherwise */
} ms_volume;

/* Bytes per sample (1 for RGB24/RGBA32), 0 for a type that is not listed. */
int ms_voxel_type_size(ms_voxel_type t);
/* Samples per voxel (3, 4 or 1); 0 for an unknown type. */
int ms_voxel_type_channels(ms_voxel_type t);
/* "uint8", "int16", ...; "unknown" for others. */
const char *ms_voxel_type_name(ms_voxel_type t);

/* Voxels (nx*ny*nz*nt) and samples (voxels * nchan). */
int64_t ms_volume_voxels(const ms_volume *v);
int64_t ms_volume_samples(const ms_volume *v);

/* Empty volume with identity geometry: ndim 3, pixdim 1, codes 0. */
void ms_volume_init(ms_volume *v);
/* Frees the data and resets the struct. */
void ms_volume_free(ms_volume *v);

/* Allocates zeroed data for nx*ny*nz*nt voxels of `t` and sets the sizes;
 * the geometry fields are left as they are. */
medsam_status ms_volume_alloc(ms_volume *v, int nx, int ny, int nz, int nt, ms_voxel_type t, medsam_error *err);

/* A new volume for results on the grid of `ref` (e.g. a label map for an
 * image): same nx, ny, nz and geometry (pixdim, qform/sform and codes,
 * quaternion, affine, xyzt_units, dim_info and slice timing), `nt` volumes
 * of type `t`, data zeroed, no scaling (slope 1, inter 0), no intent, empty
 * descrip. Written with ms_nifti_write it overlays `ref` exactly. */
medsam_status ms_volume_create_like(ms_volume *out, const ms_volume *ref, ms_voxel_type t, int nt,
                                    medsam_error *err);

/* Whether scl_slope/scl_inter change values (nibabel: slope 0 or non-finite
 * means none; slope 1 with inter 0 is none too). RGB data is never scaled. */
int ms_volume_has_scaling(const ms_volume *v);

/* Scaled values as nibabel's get_fdata() computes them: raw * slope + inter
 * in double (each step skipped when slope is 1 / inter is 0). to_f32 rounds
 * those doubles to float. Newly allocated, ms_volume_samples(v) values in the
 * data's order. Fails when the slope is valid but the intercept is not finite. */
medsam_status ms_volume_to_f64(const ms_volume *v, double **out, medsam_error *err);
medsam_status ms_volume_to_f32(const ms_volume *v, float **out, medsam_error *err);

/* nibabel's get_sform(), get_qform() and get_base_affine() from the
 * header fields (whatever the codes); get_qform fails when b^2+c^2+d^2
 * exceeds 1 by more than 3 float32 epsilons (nibabel raises there too). */
void ms_volume_sform(const ms_volume *v, double A[4][4]);
medsam_status ms_volume_qform(const ms_volume *v, double A[4][4], medsam_error *err);
void ms_volume_base_affine(const ms_volume *v, double A[4][4]);
/* get_best_affine(): stores the result in v->affine. */
medsam_status ms_volume_update_affine(ms_volume *v, medsam_error *err);

#endif
