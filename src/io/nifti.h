/* nifti.h — NIfTI-1 / NIfTI-2 single-file volumes (.nii, .nii.gz).
 *
 * Reading: NIfTI-1 (348-byte header, magic "n+1") and NIfTI-2 (540 bytes,
 * "n+2"), either byte order (found from sizeof_hdr), plain or gzip-compressed
 * (found from the first two bytes, not the file name; concatenated gzip
 * members are read on). Sample types: see ms_voxel_type. Volumes up to 4-D;
 * a header with dim[0] >= 5 is read as 4-D when dims 5.. are all 1 and
 * refused otherwise. Header extensions are skipped (not kept). Limits: every
 * used dim >= 1, at most 2^31-1 voxels, the data section must lie inside the
 * file (for gzip: be at most 1040 times the compressed size, deflate's
 * largest ratio). vox_offset 0 means "right after the header" (as
 * nifti_clib); other offsets inside the header are refused (as nibabel).
 * Header fields are fixed on load as nibabel does (see volume.h).
 *
 * Writing: NIfTI-1 single file, little-endian, vox_offset 352, no
 * extensions, gzip when the path ends in ".gz"; written atomically. A volume
 * read from NIfTI-1 comes back bit-identical (samples, header fields,
 * affine); NIfTI-2 geometry and scaling are rounded to NIfTI-1's float32.
 *
 * Error messages are one line and name the file (ms_nifti_read*) or say
 * "<memory>" for buffers. */
#ifndef MS_IO_NIFTI_H
#define MS_IO_NIFTI_H
#include <stddef.h>
#include <stdio.h>

#include "io/volume.h"
#include "medsam.h"

/* Reads a whole volume. On failure `out` is left empty (ms_volume_init). */
medsam_status ms_nifti_read(const char *path, ms_volume *out, medsam_error *err);
/* The same under a memory budget for the voxel data (core/budget.h; 0: none), checked from
 * the header before anything is allocated or inflated. */
medsam_status ms_nifti_read_budget(const char *path, uint64_t max_bytes, ms_volume *out, medsam_error *err);
/* Reads only the header: sizes, type, geometry; out->data stays NULL. */
medsam_status ms_nifti_read_header(const char *path, ms_volume *out, medsam_error *err);
/* Reads a volume from a complete file image in memory (plain or gzip). */
medsam_status ms_nifti_read_mem(const void *buf, size_t len, ms_volume *out, medsam_error *err);

/* Writes `v` (its datatype, sizes, slope/inter and geometry) as NIfTI-1;
 * gzip-compressed when `path` ends in ".gz" (any case). Fails when a size
 * does not fit NIfTI-1's int16 dims. */
medsam_status ms_nifti_write(const char *path, const ms_volume *v, medsam_error *err);
/* Same into an open stream (gzip when `gzip` is non-zero); no atomic rename.
 * The header/data are written sequentially (no seeking). */
medsam_status ms_nifti_write_fp(FILE *fp, const ms_volume *v, int gzip, medsam_error *err);

#endif
