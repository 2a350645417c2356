#!/usr/bin/python3
"""Writes tests/fixtures/traindata/: tiny NIfTI and npz training data for
tests/cli_train_data.sh (medsam train on volumes, src/train/dataset_volume.h).

  nifti/imgs/ct1.nii.gz      int16 CT-like volume 48x40x5 (x, y, z), HU ramps + noise
  nifti/gts/ct1.nii.gz       uint8 labels: organ 1 on z 1..3 (3 x 300 voxels), organ 2 on
                             z 2..3 (2 x 504 voxels; on its own under 1000 voxels but joined
                             with nothing: removed by the 1000-voxel rule), a 12-voxel speck
                             (label 3) on z 4 (removed)
  nifti/imgs/ct2_0000.nii.gz nnU-Net image name; 44x36x4 float32 with scl_slope 2
  nifti/gts/ct2.nii.gz       organ 1 on z 0..3 (4 x 300 voxels), label 4 on z 3
                             (a 9-voxel speck: removed)
  npz/2D_a.npz               imgs (40, 48, 3) uint8, gts (40, 48) labels 1 and 2
  npz/3D_b.npz               imgs (5, 40, 48) uint8, gts (5, 40, 48): organ 7 on z 1..2
                             (2 x 600 voxels)
With pre_CT_MR.py's thresholds (1000 voxels in 3-D, 100 pixels per slice) the NIfTI
folder gives 3 + 4 = 7 slices and the npz folder 1 + 2 = 3 samples.

Run: /usr/bin/python3 tools/ref/make_traindata_fixtures.py [OUTDIR]
"""
import os
import sys

import nibabel as nib
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/traindata"
rng = np.random.RandomState(7)


def save_nii(path, arr_zyx, dtype, slope=None):
    """arr (z, y, x) -> NIfTI (x, y, z) as NIfTI stores it."""
    img = nib.Nifti1Image(np.ascontiguousarray(arr_zyx.transpose(2, 1, 0)).astype(dtype), np.diag([0.8, 0.8, 2.5, 1]))
    if slope is not None:
        img.header.set_slope_inter(slope, 0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nib.save(img, path)


def ct(nz, ny, nx):
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    v = -900 + 40 * x + 15 * y + 30 * z + rng.randint(-40, 40, size=x.shape)
    return v.astype(np.int16)


# ct1: 48 x 40 x 5
g = np.zeros((5, 40, 48), np.uint8)
g[1:4, 5:20, 4:24] = 1     # 15 x 20 = 300 per slice, 900 voxels... plus below
g[1:4, 20:25, 4:24] = 1    # -> 20 x 20 = 400 per slice, 1200 voxels
g[2:4, 22:36, 28:46] = 2   # 14 x 18 = 252 per slice, 504 voxels: < 1000, removed
g[4, 30:33, 10:14] = 3     # 12 voxels, removed
save_nii(f"{out}/nifti/imgs/ct1.nii.gz", ct(5, 40, 48), np.int16)
save_nii(f"{out}/nifti/gts/ct1.nii.gz", g, np.uint8)

# ct2: 44 x 36 x 4, float32 scaled by 2 (values stored halved)
g = np.zeros((4, 36, 44), np.uint8)
g[0:4, 8:23, 10:30] = 1    # 300 per slice, 1200 voxels
g[3, 30:33, 35:38] = 4     # 9 voxels, removed
save_nii(f"{out}/nifti/imgs/ct2_0000.nii.gz", ct(4, 36, 44).astype(np.float32) / 2, np.float32, slope=2.0)
save_nii(f"{out}/nifti/gts/ct2.nii.gz", g, np.uint8)

os.makedirs(f"{out}/npz", exist_ok=True)
img = rng.randint(0, 256, size=(40, 48, 3)).astype(np.uint8)
img[10:30, 12:36] //= 3
gts = np.zeros((40, 48), np.uint8)
gts[10:30, 12:36] = 1
gts[2:8, 2:10] = 2
np.savez_compressed(f"{out}/npz/2D_a.npz", imgs=img, gts=gts)

vol = rng.randint(0, 200, size=(5, 40, 48)).astype(np.uint8)
vol[1:3, 5:25, 10:40] += 50
gts = np.zeros((5, 40, 48), np.uint8)
gts[1:3, 5:25, 10:40] = 7  # 600 per slice
np.savez_compressed(f"{out}/npz/3D_b.npz", imgs=vol, gts=gts, spacing=np.array([0.8, 0.8, 2.5]))
print("wrote", out)
