/* cmd_volume.h — `medsam segment` on volumes (NIfTI, DICOM, npz) and on
 * CVPR24 "MedSAM on laptop" npz cases (cmd_volume.c, cmd_npz.c), and the
 * helpers they share with the 2-D command. */
#ifndef MS_CLI_CMD_VOLUME_H
#define MS_CLI_CMD_VOLUME_H
#include <stdint.h>

#include "cli.h"
#include "medsam.h"

/* 1 when `medsam segment argv...` is a volume or --npz invocation: a volume
 * option (-B, --slice, --window, --mr, --npz, --margin, --cache-mb) is given,
 * or -i names a volume (by content, a .nii/.nii.gz/.npz/.dcm name, or a folder). */
int cli_segment_is_volume(int argc, char **argv);

/* The volume part of `medsam segment -h`. */
void cli_segment_volume_help(void);

/* `medsam segment` for volumes and --npz cases; returns the exit code. */
int cmd_segment_volume(int argc, char **argv, cli_models *keep);

/* Writes an overlay PNG: image (h, w, channels 1 or 3) uint8, labels (h, w)
 * (label_bytes 1 or 2, may be NULL), n boxes (box i in label i+1's colour; a
 * box with a non-finite coordinate is not drawn). Returns 0, or prints the
 * error and returns 1. */
int cli_write_overlay(const char *path, const uint8_t *image, int w, int h, int channels, const void *labels,
                      int label_bytes, const medsam_box *boxes, int n);

/* Overlay of a 2-D result on the image file it came from (PNG/JPEG/.npy):
 * alpha dropped, 16-bit and float images min-max scaled to 8 bits for display. */
int cli_overlay_image_file(const char *path, const char *image_path, const uint8_t *labels, int w, int h,
                           const medsam_box *boxes, int n);

/* ---- shared by cmd_volume.c and cmd_npz.c ---- */

typedef struct {
    const char *model, *input, *npz, *output, *overlay, *window, *pipeline;
    const char *precision;  /* --precision fp32|bf16, or NULL */
    const char *dicom_seg;  /* --dicom-seg OUT.dcm (or -o OUT.dcm): DICOM SEG of the labels */
    medsam_box3d *boxes3; /* -B, owned */
    int n3;
    medsam_box boxes2[255]; /* -b (with --slice) */
    int n2;
    int slice, has_slice, mr, progress, threads, verbose, help;
    double margin;        /* 0: default */
    double box_zoom;      /* --box-zoom K (2-D npz cases and single-frame images); -1: the model file's own */
    long long cache_mb;   /* -1: default */
    medsam_budget budget; /* --max-memory; 0: the default */
    cli_models *keep;     /* models kept across batch rows, or NULL */
} vol_opts;

typedef enum { OUT_BAD = 0, OUT_NIFTI, OUT_NPZ, OUT_PNG, OUT_DICOM_SEG } out_kind;
out_kind cli_output_kind(const char *path);

/* Intensity choice from --window / --mr (AUTO when neither); prints errors. */
int cli_intensity(const vol_opts *o, medsam_intensity *how);

/* Progress line on stderr and SIGINT handling around a long computation. */
typedef struct {
    int on, tty, printed;
    double t0;
} cli_progress;
void cli_progress_begin(cli_progress *p, int requested); /* installs the SIGINT handler */
int cli_progress_cb(void *user, int done, int total);    /* medsam_progress_fn */
void cli_progress_end(cli_progress *p);                  /* restores SIGINT */
int cli_interrupted(void);

/* -i VOLUME with -B boxes or --slice: read, normalise, segment, write. */
int cli_run_volume(const vol_opts *o);

/* Writes the labels (nz, ny, nx) of DICOM input `source` as a DICOM SEG with
 * one segment per box (cmd_seg.c). Returns 0, or prints the error and returns 1. */
int cli_write_dicom_seg(const char *path, const char *source, const char *model, const void *labels, int label_bytes,
                        int nx, int ny, int nz, int nsegments);

/* -b boxes on a one-slice colour DICOM, as a 2-D RGB image (cmd_dicom2d.c).
 * Returns -1 when the input is not one (the volume path goes on), else the exit code. */
int cli_segment_dicom_rgb(const vol_opts *o);

/* The CVPR24 npz mode (--npz CASE.npz -o OUT.npz). */
int cli_segment_npz(const vol_opts *o);

double cli_now(void);

#endif
