/* dicom_seg_write.h — a label volume as a DICOM Segmentation object (SEG,
 * 1.2.840.10008.5.1.4.1.1.66.4), BINARY: one segment per label 1..n, one
 * 1-bit frame per (segment, slice) where the segment has pixels (a segment
 * with none gets one empty frame, so that every segment is referenced),
 * segment-major then slice order. It references the source series it was
 * computed from (the same file or folder, re-read with ms_dicom_read_refs so
 * slice k is the volume's z = k): Common Instance Reference, per-frame
 * Derivation Image / Source Image (SOP class, instance, frame number),
 * Plane Position, Segment Identification, Frame Content with Dimension Index
 * Values (segment, slice), shared Plane Orientation and Pixel Measures; patient
 * and study attributes and the frame of reference copied from the source (a
 * source without a Study Instance UID gets a new one); new UIDs (series,
 * instance, dimension organisation) under 2.25 (dicom_write.h). Without a
 * frame of reference, orientation and a position on every slice, the
 * geometry is left out and the second dimension is In-Stack Position Number.
 * Checked with dciodvfy (dicom3tools). */
#ifndef MS_IO_DICOM_SEG_WRITE_H
#define MS_IO_DICOM_SEG_WRITE_H
#include "medsam.h"

typedef struct {
    const char *algorithm;        /* Segment Algorithm Name, e.g. "medsam.c medsam_vit_b" */
    int nsegments;                /* labels 1..nsegments */
    const char *const *labels;    /* Segment Label per segment, or NULL ("box k") */
} ms_seg_opts;

/* labels: (nz, ny, nx) label_bytes 1 or 2 per voxel, x fastest, z in the
 * order ms_dicom_read gives for `source`. Nothing is written on failure. */
medsam_status ms_dicom_seg_write(const char *path, const char *source, const void *labels, int label_bytes, int nx,
                                 int ny, int nz, const ms_seg_opts *o, medsam_error *err);

#endif
