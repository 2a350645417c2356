/* dicom.h — DICOM images in: one file (single- or multi-frame) or a folder
 * holding one series, read into an ms_volume with NIfTI-style geometry.
 *
 * Files: Part 10 (128-byte preamble + "DICM", group 0002 in explicit VR little
 * endian) or a bare data set without preamble (found by its first element).
 * Transfer syntaxes: Implicit VR LE (1.2.840.10008.1.2), Explicit VR LE
 * (...1.2.1), Deflated Explicit VR LE (...1.2.1.99) and Explicit VR BE
 * (...1.2.2); encapsulated RLE, JPEG baseline/extended 8-bit, JPEG lossless
 * (process 14), JPEG-LS and JPEG 2000 through dicom_codec.h. Other compressed
 * syntaxes (12-bit JPEG, HTJ2K, multi-component J2K, video) give
 * MEDSAM_ERR_UNSUPPORTED with a message naming the syntax. Sequences
 * (defined or undefined lengths, UN with undefined length = implicit VR) are
 * walked with an explicit stack (no recursion) up to MS_DICOM_MAX_DEPTH;
 * values inside them are ignored except the enhanced multi-frame functional
 * groups (Shared / Per-frame: plane position and orientation, pixel
 * measures, pixel value transformation, frame VOI LUT).
 *
 * Pixels: Bits Allocated 1 (unpacked to 0/1 uint8), 8, 16, 32, signed or
 * unsigned (Pixel Representation); the Bits Stored bits end at High Bit
 * (usually Bits Stored - 1; others are shifted down), the bits above are
 * masked (unsigned) or replaced by the sign bit (signed). Samples per Pixel 1
 * (MONOCHROME2 and PALETTE COLOR as stored; MONOCHROME1 inverted within the
 * stored range, dicom_colour.c) or 3 (RGB, YBR_FULL, YBR_FULL_422 -> RGB as
 * pydicom's convert_color_space; YBR_RCT/ICT in JPEG 2000), 8 bits, planar
 * configuration 0 or 1 (-> RGB24).
 *
 * Volume layout: x = column (fastest), y = row, z = slice, as the pixel data
 * is stored. Slices are sorted along the slice normal n = row cosine x
 * column cosine (Image Orientation (Patient)) by the projection of Image
 * Position (Patient) on n. The affine maps voxel (i, j, k) to RAS+ world mm
 * (DICOM's LPS with x and y negated, as nibabel and dcm2niix):
 *     column i: row cosine * column spacing (Pixel Spacing[1])
 *     column j: column cosine * row spacing (Pixel Spacing[0])
 *     column k: (IPP_last - IPP_first) / (N - 1)   (DICOM PS3.3 C.7.6.2.1.1);
 *               one slice: n * (Spacing Between Slices, else Slice Thickness, else 1)
 *     offset:   IPP of the first sorted slice
 * stored as sform (code 1, scanner) and as the nearest qform (code 1, as
 * nibabel's set_qform: polar decomposition, pixdim = column norms). Without
 * orientation/position on every slice the slices are ordered by Instance
 * Number (then file name, frame), codes are 0, pixdim holds the spacings.
 *
 * Not handled: Siemens mosaics (refused), Modality LUT Sequence (ignored),
 * PALETTE COLOR is kept as stored indices (meta.photometric says so),
 * YBR_PARTIAL and other colour spaces (refused), 16/32-bit colour (refused).
 *
 * Rescale Slope/Intercept go to the volume's scl_slope/scl_inter, so that
 * ms_volume_to_f32 gives modality units (e.g. Hounsfield). When they differ
 * between slices the volume is float32 holding raw * slope + intercept per
 * slice, with no scaling left (meta.rescale_varies = 1).
 *
 * Nothing is printed; errors are one line naming the file. No global state. */
#ifndef MS_IO_DICOM_H
#define MS_IO_DICOM_H
#include <stddef.h>
#include <stdint.h>

#include "io/volume.h"
#include "medsam.h"

#define MS_DICOM_MAX_DEPTH 32          /* nested sequence/item levels */
#define MS_DICOM_MAX_FRAMES (1 << 20)  /* Number of Frames per file */
#define MS_DICOM_MAX_SLICES (1 << 20)  /* slices in one volume */
#define MS_DICOM_MAX_FILES (1 << 20)   /* entries in a folder */

/* What a DICOM read found, besides the voxels. */
typedef struct {
    char modality[17];          /* (0008,0060), e.g. "CT" */
    char photometric[17];       /* (0028,0004), e.g. "MONOCHROME2" */
    char patient_position[17];  /* (0018,5100), e.g. "HFS" */
    char series_uid[65];        /* (0020,000E) */
    char transfer_syntax[65];   /* of the first sorted slice's file */
    double window_center, window_width; /* first values of (0028,1050/1051) */
    int has_window;
    double rescale_slope, rescale_intercept; /* first sorted slice's (1, 0 when absent) */
    int has_rescale;
    int rescale_varies;         /* slopes/intercepts differ between slices: float32 volume */
    int nslices;                /* slices stacked along z (files x frames) */
    int nfiles;                 /* image files used */
    int nskipped;               /* folder entries skipped: not DICOM, or DICOM without pixel data */
    int rows, columns, samples_per_pixel, bits_allocated, bits_stored, pixel_representation;
    int has_geometry;           /* orientation + position known for every slice */
    double pixel_spacing[2];    /* (row spacing, column spacing) mm as in the tag; 1 1 when absent */
    double slice_spacing;       /* mean distance between slices along the normal (mm) */
    int uneven_spacing;         /* some gap differs from the mean by more than 1% */
    double max_spacing_deviation; /* largest |gap - mean| / mean */
    int sheared;                /* slice k axis not along the normal (e.g. gantry tilt): sform is sheared */
} ms_dicom_meta;

/* Reads a DICOM file, or a folder holding one series (every regular file in
 * it, with or without .dcm; files that are not DICOM, and DICOM files
 * without pixel data and without Rows/Columns, are skipped). A folder with
 * several Series Instance UIDs is refused. `meta` may be NULL. On failure
 * `out` is left empty (ms_volume_init) and `meta` zeroed. */
medsam_status ms_dicom_read(const char *path, ms_volume *out, ms_dicom_meta *meta, medsam_error *err);
/* The same under a memory budget for the volume and each deflated data set (core/budget.h; 0: none). */
medsam_status ms_dicom_read_budget(const char *path, uint64_t max_bytes, ms_volume *out, ms_dicom_meta *meta,
                                   medsam_error *err);

/* Same from memory: one complete file image; `name` is used in messages
 * (NULL: "<memory>"). */
medsam_status ms_dicom_read_mem(const void *buf, size_t len, const char *name, ms_volume *out,
                                ms_dicom_meta *meta, medsam_error *err);

/* Several file images held in memory, assembled as the files of a folder
 * (non-DICOM entries skipped). names may be NULL. */
medsam_status ms_dicom_read_mem_series(int n, const void *const *bufs, const size_t *lens, const char *const *names,
                                       ms_volume *out, ms_dicom_meta *meta, medsam_error *err);

/* 1 when the file starts with the 128-byte preamble and "DICM", or (no
 * preamble) with a plausible group 0002/0008 data element; 0 otherwise
 * (also when it cannot be read). Reads at most 132 bytes. */
int ms_dicom_is_dicom(const char *path);
/* Same test on the first `len` bytes of a file image. */
int ms_dicom_is_dicom_mem(const void *buf, size_t len);

/* ---- one parsed file (used by the series reader; public for tests) ---- */

/* Patient / study / frame-of-reference attributes of a source file, copied
 * into derived objects (DICOM SEG). Raw value bytes (in the source's Specific
 * Character Set), padding removed; empty when absent. */
typedef struct {
    char charset[65];           /* (0008,0005) */
    char patient_name[200], patient_id[65], birth_date[17], sex[17];   /* (0010,0010/0020/0030/0040) */
    char study_uid[65], study_date[17], study_time[27], referring[200]; /* (0020,000D), (0008,0020/0030/0090) */
    char study_id[17], accession[17];                                  /* (0020,0010), (0008,0050) */
    char for_uid[65], position_ref[65];                                /* (0020,0052), (0020,1040) */
    char body_part[17], laterality[17];                                /* (0018,0015), (0020,0060) */
} ms_dicom_ids;

/* Per-frame values from the Per-frame Functional Groups Sequence, or from
 * the Grid Frame Offset Vector (RT Dose). */
typedef struct {
    double ipp[3];
    double slope, inter;
    double grid_offset;
    int segment;                /* Referenced Segment Number (DICOM SEG), 0 when absent */
    uint8_t has_ipp, has_rescale, has_grid_offset;
} ms_dicom_frame;

typedef struct {
    char transfer_syntax[65];
    int big_endian;             /* data set (and pixel data) byte order */
    char modality[17], photometric[17], patient_position[17];
    char series_uid[65];
    int rows, columns, samples_per_pixel, planar_configuration;
    int bits_allocated, bits_stored, high_bit, pixel_representation;
    int nframes;                /* Number of Frames, 1 when absent */
    int instance_number, has_instance_number;
    /* after functional-group resolution: top level, else shared, else first frame */
    double ipp[3], iop[6], pixel_spacing[2];
    int has_ipp, has_iop, has_pixel_spacing;
    double slice_thickness, spacing_between_slices;
    int has_slice_thickness, has_spacing_between_slices;
    double rescale_slope, rescale_intercept;
    int has_rescale;
    double window_center, window_width;
    int has_window;
    int frames_vary;            /* per-frame orientation or pixel spacing differ between frames */
    ms_dicom_frame *frames;     /* (nframes) or NULL: per-frame values, owned */
    int has_pixel_data;
    const uint8_t *pixel_data;  /* into the parsed buffer (or `owned`) */
    size_t pixel_length;        /* bytes available (the element's value length) */
    int pixel_words_swapped;    /* OW in big endian: 1- and 8-bit samples sit in byte-swapped words */
    void *owned;                /* inflated data set (deflate syntax), owned */
    int codec;                  /* compressed syntax (dicom_codec.h dcm_codec); 0: native pixel data */
    void *encap;                /* fragment index of encapsulated Pixel Data (dcm_encap), owned */
    char sop_class_uid[65], sop_instance_uid[65]; /* (0008,0016), (0008,0018) */
    ms_dicom_ids ids;
} ms_dicom_file;

/* Parses a complete file image. Values are checked for consistency (sizes,
 * bits, pixel data length) only when Pixel Data is present. The result
 * points into `buf` (keep it alive); free with ms_dicom_file_free. */
medsam_status ms_dicom_parse(const void *buf, size_t len, ms_dicom_file *f, medsam_error *err);
/* The same with a memory budget (core/budget.h; 0: none) for a deflated data set's inflation. */
medsam_status ms_dicom_parse_budget(const void *buf, size_t len, uint64_t max_bytes, ms_dicom_file *f,
                                    medsam_error *err);
void ms_dicom_file_free(ms_dicom_file *f);

/* Sample type of the decoded frames: UINT8/INT8 (1 or 8 bits; RGB24 for 3
 * samples), UINT16/INT16, UINT32/INT32. */
ms_voxel_type ms_dicom_file_voxel_type(const ms_dicom_file *f);
/* Decodes frame `frame` into dst: rows * columns voxels of
 * ms_dicom_file_voxel_type(f), row-major (column fastest), host byte order,
 * Bits Stored applied, RGB interleaved. */
medsam_status ms_dicom_decode_frame(const ms_dicom_file *f, int frame, void *dst, medsam_error *err);

/* ---- references for derived objects (DICOM SEG) ---- */

/* One slice of a read volume, in the volume's z order. */
typedef struct {
    char sop_class_uid[65], sop_instance_uid[65];
    int frame;                  /* 1-based frame of a multi-frame source, 0 for a single-frame file */
    double ipp[3];
    int has_ipp;
} ms_dicom_slice_ref;

typedef struct {
    ms_dicom_ids ids;           /* of the first sorted slice's file */
    char series_uid[65], modality[17];
    int rows, columns, nslices;
    ms_dicom_slice_ref *slices; /* (nslices) owned, z order of ms_dicom_read's volume */
    double iop[6], pixel_spacing[2], slice_thickness, spacing_between_slices;
    int has_iop, has_pixel_spacing, has_slice_thickness, has_spacing_between_slices;
} ms_dicom_refs;

/* Headers of the same file or folder ms_dicom_read reads, sorted the same
 * way, without decoding pixels. Free with ms_dicom_refs_free. */
medsam_status ms_dicom_read_refs(const char *path, ms_dicom_refs *refs, medsam_error *err);
void ms_dicom_refs_free(ms_dicom_refs *refs);

#endif
