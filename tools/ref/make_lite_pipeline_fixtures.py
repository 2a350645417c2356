"""Fixtures for LiteMedSAM's pipeline (src/pipeline/resize_area.c, src/pipeline/pipeline_lite.c).

    /usr/bin/python3 tools/ref/make_lite_pipeline_fixtures.py

Run with Debian's /usr/bin/python3: python3-opencv 4.6 (cv2.resize INTER_AREA), NumPy,
torch 1.13. Functions of the official script are used as they are: the script
(bowang-lab/MedSAM branch LiteMedSAM, CVPR24_LiteMedSAM_infer.py) parses arguments and
loads a checkpoint at import, so its helper functions are taken from its source text
(ast: the function definitions only) and executed on their own; pass the folder
holding it with --ref DIR (default /tmp/lite-pipe/ref, made by
`git -C /work/.mirror/bowang-lab+MedSAM/repo archive LiteMedSAM | tar -x -C DIR`).

tests/fixtures/lite/resize_area.txt — cv2.resize(img, (dw, dh), interpolation=cv2.INTER_AREA)
  on uint8 images (1 and 3 channels) that both sides generate from an integer hash
  (gen_image below, mirrored in tests/test_resize_area.c), one line per case:
  "sw sh cn kind seed dw dh crc32" with crc32 = zlib.crc32 of the output bytes.
  kinds: 0 noise 0..255, 1 noise 0..2 (many rounding ties), 2 smooth ramp,
  3 label mask (ellipse of value `seed`, the previous-slice masks of the 3-D protocol).
  Sizes: resize_longest_side's (256 and 64 targets) for many odd and even sizes
  (integer 2x2 / 3x3 / 4x4 fast paths, fractional area weights, upscaling, mixed
  up/down), plus arbitrary target sizes.
"""
import argparse
import ast
import os
import zlib

import cv2
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "lite")


def official_functions(ref_dir, names):
    """The named top-level functions of CVPR24_LiteMedSAM_infer.py, executed alone."""
    path = os.path.join(ref_dir, "CVPR24_LiteMedSAM_infer.py")
    tree = ast.parse(open(path).read(), path)
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    missing = set(names) - {n.name for n in keep}
    if missing:
        raise SystemExit(f"{path}: no function {sorted(missing)}")
    import torch
    import torch.nn.functional as F
    ns = {"np": np, "cv2": cv2, "torch": torch, "F": F}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    return ns


def hash32(x, y, c, seed):
    """Integer hash of pixel coordinates (uint32 arithmetic, wrapping)."""
    with np.errstate(over="ignore"):
        u = (x.astype(np.uint32) * np.uint32(0x9E3779B1) + y.astype(np.uint32) * np.uint32(0x85EBCA77)
             + np.uint32(c) * np.uint32(0xC2B2AE3D) + np.uint32(seed) * np.uint32(0x27D4EB2F))
        u ^= u >> np.uint32(15)
        u *= np.uint32(0x2C1B3C6D)
        u ^= u >> np.uint32(12)
        u *= np.uint32(0x297A2D39)
        u ^= u >> np.uint32(15)
    return u


def gen_image(w, h, cn, kind, seed):
    """(h, w) for cn == 1, else (h, w, cn), uint8."""
    y, x = np.meshgrid(np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64), indexing="ij")
    planes = []
    for c in range(cn):
        if kind == 0:
            v = hash32(x, y, c, seed) & 255
        elif kind == 1:
            v = hash32(x, y, c, seed) % 3
        elif kind == 2:
            v = ((3 * y + 5 * x) // 4 + 40 * c + seed) % 256
        else:
            cx, cy, ax, ay = (2 * w) // 5, (11 * h) // 20, (3 * w) // 10 + 1, h // 4 + 1
            inside = (x - cx) ** 2 * ay * ay + (y - cy) ** 2 * ax * ax <= ax * ax * ay * ay
            v = np.where(inside, seed, 0)
        planes.append(v.astype(np.uint8))
    return planes[0] if cn == 1 else np.stack(planes, -1)


def longest_side_size(w, h, target):
    """(neww, newh) as CVPR24_LiteMedSAM_infer.py:resize_longest_side computes them (lines 96-99)."""
    scale = target * 1.0 / max(h, w)
    return int(w * scale + 0.5), int(h * scale + 0.5)


def resize_area_cases(fn):
    sizes = [(512, 512), (1024, 1024), (768, 768), (512, 384), (513, 511), (300, 200), (1000, 37), (640, 480),
             (257, 256), (255, 100), (100, 100), (200, 1), (1, 300), (7, 5), (256, 256), (2048, 100), (260, 90),
             (999, 998), (333, 777), (40, 30), (128, 64), (129, 65), (511, 257), (1, 1), (3, 2), (600, 13),
             (37, 100), (101, 200), (99, 13), (5, 250), (512, 300), (512, 301), (1536, 1024), (90, 70), (64, 50)]
    extra = {(37, 100): [(75, 203), (38, 101)], (101, 200): [(50, 600), (303, 100)], (90, 70): [(91, 71), (45, 35)],
             (300, 200): [(150, 100), (100, 50), (77, 33)], (64, 50): [(129, 103)]}
    cases = []
    for (w, h) in sizes:
        targets = [longest_side_size(w, h, t) for t in (256, 64)]  # resize_longest_side's size arithmetic
        targets = [t for t in targets if min(t) > 0] + extra.get((w, h), [])
        for cn in (1, 3):
            for kind in (0, 1, 2):
                seed = (w * 7 + h * 3 + cn + kind) % 97
                for (dw, dh) in targets:
                    cases.append((w, h, cn, kind, seed, dw, dh))
        for label in (1, 2, 7, 255):
            for (dw, dh) in targets:
                cases.append((w, h, 1, 3, label, dw, dh))
    lines = []
    for (w, h, cn, kind, seed, dw, dh) in cases:
        img = gen_image(w, h, cn, kind, seed)
        out = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_AREA)
        if (dw, dh) == fn["resize_longest_side"](img, 256).shape[1::-1]:
            assert np.array_equal(out, fn["resize_longest_side"](img, 256))
        lines.append(f"{w} {h} {cn} {kind} {seed} {dw} {dh} {zlib.crc32(np.ascontiguousarray(out).tobytes())}")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="/tmp/lite-pipe/ref")
    args = ap.parse_args()
    assert cv2.__version__.startswith("4.6"), f"cv2 {cv2.__version__}: the fixtures are OpenCV 4.6's"
    fn = official_functions(args.ref, ["resize_longest_side", "pad_image", "get_bbox256", "resize_box_to_256"])
    os.makedirs(OUT, exist_ok=True)
    lines = resize_area_cases(fn)
    with open(os.path.join(OUT, "resize_area.txt"), "w") as f:
        f.write("# sw sh cn kind seed dw dh crc32 (tools/ref/make_lite_pipeline_fixtures.py)\n")
        f.write("\n".join(lines) + "\n")
    print(f"resize_area.txt: {len(lines)} cases")


if __name__ == "__main__":
    main()
