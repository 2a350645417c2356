/* dataset.h — MedSAM's training data (train_one_gpu.py:NpyDataset): DIR/gts/NAME.npy
 * label maps (S, S) of integers paired with DIR/imgs/NAME.npy images (S, S, 3) in
 * [0, 1] (float32 or float64), S = the model's img_size (1024 for MedSAM).
 * Also NIfTI image/label volume pairs and MedSAM / CVPR24 npz files (imgs + gts),
 * cut into slices and preprocessed on the fly as inference does: dataset_volume.h.
 *
 * One sample, with Python's `random` generator (core/pyrandom.h) in the official order:
 *   label_ids = np.unique(gt)[1:];  label = random.choice(label_ids)   (the smallest
 *   value, normally 0, is dropped); mask = gt == label; tight box of the mask, then
 *   x_min = max(0, x_min - randint(0, shift)); x_max = min(W, x_max + randint(0, shift));
 *   y_min = max(0, y_min - randint(0, shift)); y_max = min(H, y_max + randint(0, shift)).
 * shift 0 keeps the tight box (randint(0, 0) still draws, as Python does).
 * Differences from the official loader: gts/ is read one level deep (not
 * recursively) and the epoch order comes from random.shuffle on the same
 * generator (torch's DataLoader uses torch's generator). */
#ifndef MS_TRAIN_DATASET_H
#define MS_TRAIN_DATASET_H
#include <stdint.h>

#include "core/pyrandom.h"
#include "medsam.h"

typedef enum {
    MS_DATA_NPY = 0, /* DIR/imgs/NAME.npy + DIR/gts/NAME.npy, already preprocessed */
    MS_DATA_NIFTI,   /* DIR/imgs/NAME.nii[.gz] + DIR/gts/NAME.nii[.gz] volumes */
    MS_DATA_NPZ,     /* DIR/NAME.npz with imgs + gts */
} ms_data_layout;

typedef struct ms_voldata ms_voldata; /* NIfTI / npz: pairs, sample -> (pair, slice), the cached pair */

typedef struct {
    char *dir;    /* DIR */
    char **names; // (count) npy: file names present in both gts/ and imgs/, sorted by strcmp;
                  //         NIfTI / npz: one per sample, "NAME:z" (z the 0-based slice) or "NAME" (2-D npz)
    int count;    /* samples */
    int size;     /* S */
    ms_data_layout layout;
    int files;         /* NIfTI / npz: pairs that gave samples (npy: count) */
    int files_skipped; /* NIfTI / npz: pairs whose labels all fell to the dust removal */
    ms_voldata *vol;   /* NIfTI / npz only (dataset_volume.h); NULL for npy */
} ms_dataset;

/* How NIfTI / npz data is prepared (the npy layout ignores this). */
typedef struct {
    medsam_intensity intensity; /* whole-volume intensities, as `medsam segment` (medsam_volume_normalize):
                                   AUTO (mode 0): uint8 as it is, anything else the MR percentiles */
    int64_t min_voxels_3d;      /* 3-D objects under this many voxels are removed (pre_CT_MR.py: 1000); <= 1: off */
    int64_t min_pixels_2d;      /* then, per slice, objects under this many pixels (pre_CT_MR.py: 100); <= 1: off */
    int nthreads;               /* threads for the resizes (results do not depend on it) */
    double box_zoom;            /* > 0: a sample whose (jittered) box is small is cut to the box-zoom window
                                   (pipeline/zoom.h) of factor box_zoom, as inference with --box-zoom does */
} ms_dataset_opts;

/* intensity AUTO, 1000, 100 (pre_CT_MR.py's thresholds), 1 thread. */
ms_dataset_opts ms_dataset_default_opts(void);

/* Opens DIR: the npy layout when DIR/gts/ and DIR/imgs/ share NAME.npy files, else
 * NIfTI pairs, else DIR/NAME.npz files (dataset_volume.h). `o` NULL: the defaults. */
medsam_status ms_dataset_open_opts(const char *dir, int size, const ms_dataset_opts *o, ms_dataset *ds,
                                   medsam_error *err);
/* ms_dataset_open_opts with the defaults. */
medsam_status ms_dataset_open(const char *dir, int size, ms_dataset *ds, medsam_error *err);
void ms_dataset_free(ms_dataset *ds);

/* The official label choice and box jitter on a label map labels (H, W).
 * label: the chosen value; box: x_min, y_min, x_max, y_max (pixels, as floats);
 * mask (H, W) = 1 where labels == label, may be NULL. Fails when no label is left. */
medsam_status ms_dataset_pick_box(const int32_t *labels, int H, int W, int bbox_shift, pyrandom *rng, int32_t *label,
                                  float box[4], float *mask, medsam_error *err);

/* Sample `index`: image (3, S, S) CHW, gt (S, S) binary mask, box (4). */
medsam_status ms_dataset_load(const ms_dataset *ds, int index, int bbox_shift, pyrandom *rng, float *image, float *gt,
                              float box[4], medsam_error *err);

/* The generator draws of ms_dataset_load(index) (label choice, box jitter) without
 * reading the image: reads only the label map. A data-parallel process calls it for
 * the samples of the global batch that other processes train on, so that every
 * process's generator stays that of a single process running the whole batch. */
medsam_status ms_dataset_draw(const ms_dataset *ds, int index, int bbox_shift, pyrandom *rng, float box[4],
                              medsam_error *err);

/* Deterministic split of [0, n): round(fraction * n) validation indices (at most
 * n - 1), chosen by random.shuffle with Python's random.seed(seed); both lists sorted. */
void ms_dataset_split(int n, double val_fraction, int64_t seed, int *train_idx, int *ntrain, int *val_idx, int *nval);

#endif
