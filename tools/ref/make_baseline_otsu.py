#!/usr/bin/python3
"""Fixtures for tests/test_baseline.c: 256-bin histograms of bimodal uint8 samples and the
threshold skimage.filters.threshold_otsu gives for them (skimage 0.19, Debian's python3-skimage).
Writes tests/fixtures/baseline/otsu.txt: one line per case, "THRESHOLD v:count v:count ...".
Run from the repository root: /usr/bin/python3 tools/ref/make_baseline_otsu.py"""
import numpy as np
from skimage.filters import threshold_otsu

rng = np.random.default_rng(0)
lines = []
for i, (m0, s0, m1, s1, n0, n1) in enumerate([(60, 15, 150, 25, 300, 200), (60, 15, 170, 25, 300, 200),
                                                (60, 15, 190, 25, 300, 200), (200, 10, 40, 30, 50, 900),
                                                (100, 3, 108, 3, 400, 400)]):
    a = np.concatenate([rng.normal(m0, s0, n0), rng.normal(m1, s1, n1)]).clip(0, 255).astype(np.uint8)
    h = np.bincount(a, minlength=256)
    t = threshold_otsu(a)
    lines.append(f"{int(t)} " + " ".join(f"{v}:{h[v]}" for v in np.nonzero(h)[0]))
with open("tests/fixtures/baseline/otsu.txt", "w") as f:
    f.write("\n".join(lines) + "\n")

# tests/fixtures/baseline/disks.npz: a 2-D case in the CVPR24 layout (imgs (48,64) uint8, boxes (2,4),
# gts (48,64)) with a bright disk and a dark square on a ramp; `medsam baseline --npz` finds both exactly.
y, x = np.mgrid[0:48, 0:64]
img = (20 + x // 4).astype(np.uint8)
gts = np.zeros((48, 64), np.uint8)
disk = (x - 16) ** 2 + (y - 20) ** 2 <= 64
img[disk] = 200
gts[disk] = 1
sq = (x >= 40) & (x < 52) & (y >= 28) & (y < 40)
img[sq] = 120
img[(x >= 34) & (x < 58) & (y >= 22) & (y < 46) & ~sq] = 230
gts[sq] = 2
boxes = np.array([[5, 9, 27, 31], [36, 24, 55, 43]], np.int64)  # x_min, y_min, x_max, y_max (inclusive)
np.savez_compressed("tests/fixtures/baseline/disks.npz", imgs=img, gts=gts, boxes=boxes)
