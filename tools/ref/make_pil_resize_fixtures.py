"""Fixtures for tests/test_resize_pil.c: Pillow's bilinear resize of 8-bit images,
the resize inside SAM's ResizeLongestSide.apply_image.

    /usr/bin/python3 tools/ref/make_pil_resize_fixtures.py    # -> tests/fixtures/pil_resize/

Run with Debian's python3 (python3-pil 9.4, python3-torchvision 0.14). Writes
cases.npz with, per case i:
  inhash_i  int64 [FNV-1a 64 hash] of the input, (h, w) or (h, w, 3) uint8 pseudo-random
            pixels from xorshift32 (the test regenerates them and checks the hash)
  out_i  the resized image, as Image.fromarray(in).resize((ow, oh), Image.BILINEAR)
and images.npz with, per fixture image (tests/fixtures/images/*.png) and target side T,
the FNV-1a 64 hash (as int64) of np.array(torchvision resize(to_pil_image(img), (newh, neww)))
with (newh, neww) = ResizeLongestSide.get_preprocess_shape — i.e. exactly what
apply_image returns — plus the shape: name "<file>_<T>" -> int64 [newh, neww, ch, hash].
"""
import os
import sys

import numpy as np
from PIL import Image
from torchvision.transforms.functional import resize, to_pil_image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
OUT = os.path.join(ROOT, "tests/fixtures/pil_resize")

# (ih, iw, oh, ow, ch): up, down, mixed, by integer and awkward ratios, single pixels
CASES = [
    (7, 5, 13, 11, 1), (7, 5, 13, 11, 3), (16, 16, 5, 5, 1), (33, 17, 8, 40, 3),
    (1, 1, 3, 4, 1), (1, 9, 1, 3, 3), (9, 1, 4, 1, 1), (20, 30, 20, 7, 3),
    (20, 30, 9, 30, 1), (41, 23, 64, 36, 3), (100, 64, 32, 20, 1), (64, 100, 41, 64, 3),
    (37, 29, 111, 87, 1), (50, 51, 51, 50, 3), (3, 200, 2, 128, 1), (127, 3, 128, 3, 3),
    (255, 191, 64, 48, 3), (60, 90, 91, 137, 1),
]
TARGETS = [128, 1024, 256]


def xorshift_image(seed, n):
    """n bytes from xorshift32 (state = seed | 1; x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    byte = x >> 24), as tests/test_resize_pil.c generates them."""
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1
    out = np.empty(n, np.uint8)
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x >> 24
    return out


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for v in b.tobytes():
        h ^= v
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def as_int64(h):
    return h - (1 << 64) if h >> 63 else h


def get_preprocess_shape(oldh, oldw, long_side_length):
    # ref: segment_anything/utils/transforms.py:ResizeLongestSide.get_preprocess_shape
    scale = long_side_length * 1.0 / max(oldh, oldw)
    newh, neww = oldh * scale, oldw * scale
    return int(newh + 0.5), int(neww + 0.5)


def main():
    os.makedirs(OUT, exist_ok=True)
    arrays = {}
    for i, (ih, iw, oh, ow, ch) in enumerate(CASES):
        shape = (ih, iw) if ch == 1 else (ih, iw, ch)
        a = xorshift_image(i + 1, ih * iw * ch).reshape(shape)
        im = Image.fromarray(a, "L" if ch == 1 else "RGB")
        arrays[f"inhash_{i}"] = np.array([as_int64(fnv1a64(a))], np.int64)
        arrays[f"out_{i}"] = np.asarray(im.resize((ow, oh), Image.BILINEAR))
    np.savez_compressed(os.path.join(OUT, "cases.npz"), **arrays)

    hashes = {}
    for name in ["camera.png", "cell.png", "chelsea.png", "horse.png", "medsam_demo.png"]:
        img = np.asarray(Image.open(os.path.join(ROOT, "tests/fixtures/images", name)))
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, :3]  # medsam.c drops alpha
        for T in TARGETS:
            size = get_preprocess_shape(img.shape[0], img.shape[1], T)
            # ref: transforms.py:ResizeLongestSide.apply_image
            r = np.array(resize(to_pil_image(np.ascontiguousarray(img)), size))
            ch = 1 if r.ndim == 2 else r.shape[2]
            h = fnv1a64(np.ascontiguousarray(r))
            hashes[f"{name[:-4]}_{T}"] = np.array([r.shape[0], r.shape[1], ch, as_int64(h)], np.int64)
    np.savez(os.path.join(OUT, "images.npz"), **hashes)
    print("wrote", OUT, len(CASES), "cases,", len(hashes), "image hashes", file=sys.stderr)


if __name__ == "__main__":
    main()
