/* volume_read.h — read a volume whatever its format: NIfTI (.nii / .nii.gz,
 * through ms_nifti_read), DICOM (a file or a series folder, through
 * ms_dicom_read when src/io/dicom.h is part of the build) or a MedSAM / CVPR24
 * .npz holding `imgs` (D, H, W) and optionally `spacing`.
 *
 * The format comes from the content, not the name: a folder or a file with
 * "DICM" at byte 128 (or one ms_dicom_is_dicom accepts) is DICOM; a zip is
 * .npz; a NIfTI-1/2 header (sizeof_hdr 348/540 and its magic, plain or
 * gzip-compressed) is NIfTI. PNG, JPEG and .npy are none of these.
 *
 * npz volumes: imgs (D, H, W) becomes nx = W, ny = H, nz = D (the same memory
 * order: slice z is imgs[z], rows y, columns x). `spacing` (3 positive values)
 * is taken in pre_CT_MR.py's order, SimpleITK's GetSpacing() = (x, y, z), and
 * becomes pixdim[1..3]; there is no orientation, so qform/sform codes are 0. */
#ifndef MS_IO_VOLUME_READ_H
#define MS_IO_VOLUME_READ_H

#include "io/npz.h"
#include "io/volume.h"
#include "medsam.h"

typedef enum {
    MS_VOLFMT_NONE = 0, /* not a volume (e.g. PNG, JPEG, .npy) or unreadable */
    MS_VOLFMT_NIFTI,
    MS_VOLFMT_NPZ,
    MS_VOLFMT_DICOM,
} ms_volume_format;

typedef struct {
    ms_volume_format format;
    char modality[17];    /* DICOM Modality (e.g. "CT", "MR"), "" for NIfTI / npz */
    int has_window;       /* DICOM WindowCenter / WindowWidth present */
    double window_center, window_width;
} ms_volume_meta;

/* Whether this build reads DICOM (src/io/dicom.h present at compile time). */
int ms_volume_dicom_available(void);

/* The format of `path` from its content; MS_VOLFMT_NONE when it is none of the
 * three or cannot be opened (the reader then says why). */
ms_volume_format ms_volume_sniff(const char *path);

/* Reads a NIfTI, DICOM or npz volume; `meta` may be NULL. On failure `out` is
 * empty and the one-line message names the file. */
medsam_status ms_volume_read_any(const char *path, ms_volume *out, ms_volume_meta *meta, medsam_error *err);
/* The same under a memory budget for the decoded voxels (core/budget.h; 0: none). */
medsam_status ms_volume_read_any_budget(const char *path, uint64_t max_bytes, ms_volume *out, ms_volume_meta *meta,
                                        medsam_error *err);

/* imgs (D, H, W) (+ optional spacing) of an open npz as a volume; `name` prefixes errors. */
medsam_status ms_volume_from_npz(const ms_npz *npz, const char *name, ms_volume *out, medsam_error *err);

#endif
