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

tests/fixtures/lite/steps.txt — the script's steps one by one, on generated inputs:
  "pre w h cn kind seed crc32": the encoder input of MedSAM_infer_npz_2D lines 384-390
      (3-D: a grey slice repeated to 3 channels first, lines 446-463): resize_longest_side,
      min-max, pad_image, torch.tensor(...).float(); CRC-32 of the (256, 256, 3) float32 bytes;
  "box w h x0 y0 x1 y1 a b c d": resize_box_to_256(np.array([x0, y0, x1, y1]), (h, w)) = a b c d;
  "post w h seed crc_logits crc_prob crc_mask": MedSAM_Lite.postprocess_masks (crop to
      resize_longest_side's (newh, neww), bilinear to (h, w)) of generated (1, 1, 256, 256)
      logits (gen_logits), then torch.sigmoid and > 0.5 (medsam_inference lines 315-318);
      crc_prob covers the first h*w - (h*w) % 32 probabilities (torch's vectorised part);
  "bbox w h label x0 y0 x1 y1" (or "... none"): the 3-D rule of lines 505-511 on a mask
      (gen_image kind 3): resize_longest_side, np.max > 0, pad_image, get_bbox256.
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


def gen_logits(seed, L=256):
    """(L, L) float32 logits from the hash: (h % 20001 - 10000) / 1000, plus a smooth bump."""
    y, x = np.meshgrid(np.arange(L, dtype=np.int64), np.arange(L, dtype=np.int64), indexing="ij")
    noise = ((hash32(x, y, 0, seed) % 20001).astype(np.int64) - 10000).astype(np.float64) / 1000.0
    bump = (((x - 100) ** 2 + (y - 90) ** 2) < 60 * 60).astype(np.float64) * 8.0 - 4.0
    return (noise + bump).astype(np.float32)


def step_cases(fn):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    lines = []
    for (w, h, cn, kind) in [(90, 70, 3, 0), (512, 512, 3, 2), (307, 201, 3, 0), (150, 97, 3, 2), (64, 50, 1, 0),
                             (301, 60, 1, 2), (120, 90, 1, 1), (256, 256, 3, 0), (7, 300, 3, 0), (1000, 37, 1, 2)]:
        seed = (w + h + kind) % 89
        img = gen_image(w, h, cn, kind, seed)
        img_3c = np.repeat(img[:, :, None], 3, axis=-1) if cn == 1 else img
        img_256 = fn["resize_longest_side"](img_3c, 256)
        img_256_norm = (img_256 - img_256.min()) / np.clip(img_256.max() - img_256.min(), a_min=1e-8, a_max=None)
        x = torch.tensor(fn["pad_image"](img_256_norm, 256)).float().numpy()
        lines.append(f"pre {w} {h} {cn} {kind} {seed} {zlib.crc32(np.ascontiguousarray(x).tobytes())}")
    for (w, h, box) in [(90, 70, [20, 18, 62, 52]), (512, 384, [50, 60, 300, 400]), (307, 201, [30, 40, 150, 170]),
                        (150, 97, [10, 10, 90, 80]), (301, 60, [100, 10, 250, 50]), (1000, 37, [1, 2, 999, 37]),
                        (7, 300, [0, 0, 7, 300]), (333, 333, [1, 1, 332, 332])]:
        b = fn["resize_box_to_256"](np.array(box, dtype=np.int64), original_size=(h, w))
        lines.append(f"box {w} {h} {' '.join(map(str, box))} {' '.join(str(int(v)) for v in b)}")
    for (w, h, seed) in [(90, 70, 1), (307, 201, 2), (201, 307, 3), (150, 97, 4), (512, 512, 5), (384, 512, 6),
                         (97, 150, 7), (301, 60, 8), (64, 64, 9), (1000, 37, 10)]:
        low = torch.from_numpy(gen_logits(seed))[None, None]
        neww, newh = longest_side_size(w, h, 256)
        # ref: MedSAM_Lite.postprocess_masks (lines 175-182) and medsam_inference (lines 315-318)
        up = F.interpolate(low[..., :newh, :neww], size=(h, w), mode="bilinear", align_corners=False)
        prob = torch.sigmoid(up)
        mask = (prob.squeeze().numpy() > 0.5).astype(np.uint8)
        # torch's sigmoid takes libm's expf for the last numel % 32 elements (AVX-512; % 16 with AVX2) of
        # each thread's range (one range here: one thread): the C side is held to the vectorised part
        vec = prob.numpy().ravel()[: h * w - (h * w) % 32]
        crcs = [zlib.crc32(np.ascontiguousarray(a).tobytes()) for a in (up.squeeze().numpy(), vec, mask)]
        lines.append(f"post {w} {h} {seed} {crcs[0]} {crcs[1]} {crcs[2]}")
    for (w, h, label) in [(90, 70, 1), (90, 70, 2), (64, 50, 1), (512, 512, 1), (301, 60, 3), (60, 301, 1),
                          (1000, 37, 1), (1000, 37, 2), (7, 5, 1), (40, 300, 255), (120, 90, 1), (3, 500, 1)]:
        m = gen_image(w, h, 1, 3, label)
        pre = fn["resize_longest_side"](m)
        if np.max(pre) > 0:
            b = fn["get_bbox256"](fn["pad_image"](pre))
            lines.append(f"bbox {w} {h} {label} {' '.join(str(int(v)) for v in b)}")
        else:
            lines.append(f"bbox {w} {h} {label} none")
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
    lines = step_cases(fn)
    with open(os.path.join(OUT, "steps.txt"), "w") as f:
        f.write("# pre / box / post / bbox lines (tools/ref/make_lite_pipeline_fixtures.py)\n")
        f.write("\n".join(lines) + "\n")
    print(f"steps.txt: {len(lines)} cases")


if __name__ == "__main__":
    main()
