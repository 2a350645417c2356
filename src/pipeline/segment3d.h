/* segment3d.h — box-prompted 3-D segmentation by slice propagation, the
 * protocol of LiteMedSAM's CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_3D, with
 * each slice encoded once for all boxes.
 *
 * Per box (x0, y0, x1, y1, z0, z1), as LiteMedSAM:
 *   mid = z0 + (z1 - z0) / 2                      (int((z_max - z_min)/2 + z_min))
 *   slice mid: the 2-D box (x0, y0, x1, y1);
 *   up,   z = mid+1 .. z1:  box from this box's mask on z - 1;
 *   down, z = mid-1 .. z0:  box from this box's mask on z + 1;
 *   "box from a mask": the mask's bounding box (inclusive pixel indices x_min,
 *   y_min, x_max, y_max, as get_bbox256) grown by `margin` on every side and
 *   clamped to [0, nx] x [0, ny]; an empty mask gives the box's own 2-D box.
 * LiteMedSAM takes the bounding box of the mask resized to its 256-pixel
 * longest side and adds 3 there; here the mask is used at full resolution and
 * the default margin is those 3 pixels mapped back: 3 * max(nx, ny) / 256
 * (6 px for a 512 x 512 slice), in x and y alike (LiteMedSAM's 256 image keeps
 * the aspect ratio, so its margin is isotropic in the slice too).
 *
 * Scheduling (results are the same as box by box, only the order differs):
 * the chains of one box depend only on that box's own previous slice, so two
 * sweeps cover everything:
 *   A, z descending from max(mid) to min(z0): the middle slices, then the down chains;
 *   B, z ascending from min(mid + 1) to max(z1): the up chains.
 * Each slice is encoded once per sweep and shared by every box active on it;
 * a slice that both sweeps need keeps its embedding from A to B in a cache of
 * at most `max_cached` embeddings (beyond that it is encoded again in B: same
 * numbers, more time).
 *
 * The encoder and decoder are callbacks, so the propagation can be tested with
 * a deterministic fake; src/api/volume.c plugs in the model. Labels: box k
 * (1-based) writes k; a voxel gets the largest k whose mask covers it (later
 * box wins, as segs[segs_3d_temp > 0] = idx in box order). */
#ifndef MS_SEGMENT3D_H
#define MS_SEGMENT3D_H
#include <stdint.h>

#include "medsam.h"

typedef struct {
    /* Encodes slice z into an embedding handle (released with `release`). */
    medsam_status (*encode)(void *ctx, int z, void **emb, medsam_error *err);
    void (*release)(void *ctx, void *emb);
    /* Segments one 2-D box on slice z: mask (ny, nx), non-zero = inside. */
    medsam_status (*decode)(void *ctx, const void *emb, int z, const medsam_box *box, uint8_t *mask,
                            medsam_error *err);
    void *ctx;
    /* The per-slice box rule, optional (both NULL: the rule described above, boxes
     * in slice pixels). With them, the boxes handed to decode are whatever frame
     * these produce (a pipeline's model frame, src/api/volume.c):
     * first_box: box i's box on its middle slice, also the fallback of an empty mask;
     * next_box:  the next slice's box from box i's mask (ny, nx) on the previous
     *            slice (label = i + 1); returns 0 when there is none (fallback). */
    void (*first_box)(void *ctx, int i, const medsam_box3d *b, medsam_box *out);
    int (*next_box)(void *ctx, int i, const uint8_t *mask, medsam_box *out);
} ms_seg3d_backend;

typedef struct {
    double margin;                /* <= 0: ms_seg3d_default_margin */
    int max_cached;               /* embeddings kept from sweep A for sweep B; < 0: no limit */
    medsam_progress_fn progress;  /* may be NULL; non-zero return cancels */
    void *progress_user;
} ms_seg3d_opts;

typedef struct {
    int encodes;      /* encoder calls */
    int cache_hits;   /* sweep-B slices served from the cache */
    int decodes;      /* decoder calls */
    int total;        /* slices the progress callback counts (= encodes when not cancelled) */
} ms_seg3d_stats;

/* 3 * max(nx, ny) / 256. */
double ms_seg3d_default_margin(int nx, int ny);

/* The middle slice of a box: z0 + (z1 - z0) / 2. */
int ms_seg3d_mid_slice(const medsam_box3d *b);

/* Bounding box of mask (ny, nx) grown by margin and clamped; returns 0 (and
 * leaves *out alone) when the mask is empty. */
int ms_seg3d_mask_box(const uint8_t *mask, int nx, int ny, double margin, medsam_box *out);

/* Checks boxes against an nx x ny x nz volume: finite, x0 < x1, y0 < y1,
 * z0 <= z1, inside [0,nx] x [0,ny] x [0,nz-1]; a one-line message naming the box. */
medsam_status ms_seg3d_check_boxes(const medsam_box3d *boxes, int n, int nx, int ny, int nz, medsam_error *err);

/* Runs the propagation. labels (nz, ny, nx), label_bytes 1 (uint8) or 2
 * (uint16), zeroed here first. stats may be NULL. */
medsam_status ms_segment3d(const ms_seg3d_backend *be, int nx, int ny, int nz, const medsam_box3d *boxes, int n,
                           const ms_seg3d_opts *opts, void *labels, int label_bytes, ms_seg3d_stats *stats,
                           medsam_error *err);

#endif
