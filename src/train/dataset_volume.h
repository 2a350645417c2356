/* dataset_volume.h — training samples cut from volumes and npz files, for
 * dataset.h (which dispatches here; use the ms_dataset_* functions).
 *
 * Layouts (DIR as given to ms_dataset_open_opts):
 *   NIfTI  DIR/gts/NAME.nii.gz (or .nii) label volumes with DIR/imgs/NAME.nii.gz, or
 *          DIR/imgs/STEM_0000.nii.gz (nnU-Net's naming, as pre_CT_MR.py's FLARE22 input);
 *   npz    DIR/NAME.npz holding `imgs` and `gts` (MedSAM / CVPR24 layout): gts (H, W)
 *          with imgs (H, W) or (H, W, 3) uint8 (2-D), or gts (D, H, W) with imgs (D, H, W) (3-D).
 * Files are taken in strcmp order of their names, slices in increasing z.
 *
 * A sample is one slice z (slice z of a volume is the (ny, nx) image of
 * include/medsam.h, = imgs[z] of an npz) that holds foreground, prepared as
 * inference prepares it (`medsam segment -i VOLUME`, src/api/volume.c):
 *   image: medsam_volume_normalize over the WHOLE volume (--window / --mr / auto,
 *          exactly the inference rules), then medsam_preprocess_pixels on the uint8
 *          slice (grey -> 3 channels, skimage resize order 3 to S, uint8, min-max to
 *          [0, 1]); 2-D npz images go straight to medsam_preprocess_pixels, as
 *          `medsam segment --npz` does;
 *   labels: integer values >= 0 (others are refused); 3-D label maps first lose objects
 *          under min_voxels_3d voxels (26-connected) and then, per slice, under
 *          min_pixels_2d pixels (8-connected) (pre_CT_MR.py:74-85, label_dust.h);
 *          the slice is resized to S x S as pre_CT_MR.py does
 *          (skimage resize order 0, no anti-aliasing: nearest neighbour), then the
 *          label choice and box of ms_dataset_pick_box.
 * Slices kept (pre_CT_MR.py:87-92, z_index = slices with gt > 0): those with a non-zero
 * label after the dust removal AND after the resize to S (a sliver that the nearest-
 * neighbour resize drops is skipped, where the official loader would fail on it). A
 * pair with no non-zero label at all is an error; a pair whose labels all fall to the
 * dust removal is skipped and counted in ds->files_skipped (pre_CT_MR.py skips it).
 *
 * ms_dataset_open_opts reads and checks every pair once (readable, single channel,
 * 3-D, image and labels of the same shape, intensities normalisable), one pair in
 * memory at a time. Afterwards only the current pair is held: its label volume
 * (int32) and, once an image is asked for, its normalised uint8 volume; a sample
 * of another pair replaces them. A dataset is therefore not to be shared between
 * threads. */
#ifndef MS_TRAIN_DATASET_VOLUME_H
#define MS_TRAIN_DATASET_VOLUME_H
#include "train/dataset.h"

/* Fills ds for DIR's NIfTI or npz layout. *found = 0 (and MEDSAM_OK, ds untouched)
 * when DIR holds neither; otherwise the result of reading it. */
medsam_status ms_voldata_open(const char *dir, int size, const ms_dataset_opts *o, ms_dataset *ds, int *found,
                              medsam_error *err);
void ms_voldata_free(ms_voldata *v);

/* ms_dataset_load / ms_dataset_draw for these layouts (image NULL: draw only). */
medsam_status ms_voldata_load(const ms_dataset *ds, int index, int bbox_shift, pyrandom *rng, float *image, float *gt,
                              float box[4], medsam_error *err);

#endif
