#!/usr/bin/python3
"""Reference fixtures for tests/test_image.c and tests/test_preprocess.c.

Runs the official MedSAM preprocessing (MedSAM_Inference.py lines 114-130: skimage.io.imread,
np.repeat to 3 channels, skimage.transform.resize(order=3, preserve_range=True,
anti_aliasing=True).astype(np.uint8), min-max) and postprocessing (torch.sigmoid,
F.interpolate(bilinear, align_corners=False), > 0.5) with Debian's scikit-image 0.19.3,
SciPy 1.10, NumPy 1.24 and torch 1.13, and stores small inputs and expected outputs in
tests/fixtures/preprocess/. Run with /usr/bin/python3 from the repository root:

    /usr/bin/python3 tools/ref/make_preprocess_fixtures.py

Large synthetic inputs (integer formulas, recomputed by the C test) are kept only as
per-row CRC32s of the expected 1024 output plus every 16th pixel. SAM_REF_DIR (default
/work/ref/MedSAM) locates assets/img_demo.png, of which only per-row CRC32s are kept.

NumPy's exp on AVX-512 (SKX) CPUs is Intel SVML's; the fixtures record which exp this
machine used (kernels.npy lets the C test check its emulation directly).
"""
import io as pyio
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image
from scipy.ndimage._filters import _gaussian_kernel1d
from skimage import io, transform

OUT = "tests/fixtures/preprocess"
SAM_REF_DIR = os.environ.get("SAM_REF_DIR", "/work/ref/MedSAM")


# ---------------------------------------------------------------- a small PNG writer
# (own code, so that 16-bit colour, grey+alpha, low bit depths, palettes and Adam7
# interlacing can all be produced exactly)
def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _pack_rows(a, bitdepth):
    h = a.shape[0]
    if bitdepth == 16:
        return a.astype(">u2").reshape(h, -1).view(np.uint8)
    if bitdepth < 8:
        per = 8 // bitdepth
        flat = a.reshape(h, -1).astype(np.uint8)
        w = flat.shape[1]
        packed = np.zeros((h, (w + per - 1) // per), np.uint8)
        for x in range(w):
            packed[:, x // per] |= (flat[:, x] << (8 - bitdepth * (x % per + 1))).astype(np.uint8)
        return packed
    return a.astype(np.uint8).reshape(h, -1)


def write_png(path, arr, bitdepth=8, ctype=None, palette=None, trns=None, interlace=False):
    a = np.asarray(arr)
    h, w = a.shape[:2]
    ch = 1 if a.ndim == 2 else a.shape[2]
    if ctype is None:
        ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    raw = b""
    if interlace:  # Adam7: seven sub-images, each filtered row by row
        passes = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]
        for y0, x0, dy, dx in passes:
            sub = a[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += b"".join(b"\x00" + r.tobytes() for r in _pack_rows(sub, bitdepth))
    else:
        raw = b"".join(b"\x00" + r.tobytes() for r in _pack_rows(a, bitdepth))
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, ctype, 0, 0, int(interlace)))
    if palette is not None:
        out += _chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    if trns is not None:
        out += _chunk(b"tRNS", bytes(trns))
    out += _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


# ---------------------------------------------------------------- the official pipeline
def official_u8(img_np, target):
    """MedSAM_Inference.py:114-123 for an array as io.imread returns it (alpha dropped)."""
    if img_np.ndim == 2:
        img_3c = np.repeat(img_np[:, :, None], 3, axis=-1)
    else:
        img_3c = img_np[:, :, :3]  # the official script crashes on 4 channels; medsam.c drops alpha
    return transform.resize(img_3c, (target, target), order=3, preserve_range=True, anti_aliasing=True).astype(np.uint8)


def rescale_u16(img):
    """utils/pre_grey_rgb.py:49-50."""
    if np.max(img) > 255.0:
        img = np.uint8((img - img.min()) / (np.max(img) - np.min(img)) * 255.0)
    return img


def synthetic(h, w, c):
    """Integer-only test image, recomputed identically by tests/test_preprocess.c."""
    y = np.arange(h, dtype=np.int64)[:, None]
    x = np.arange(w, dtype=np.int64)[None, :]
    chans = []
    for k in range(max(c, 1)):
        v = ((x * x * (k + 1) + 3 * y * y) // 97 + (x // 64) * (y // 64) * 13) % 256
        flat = ((x // 128 + y // 96) % 3) == 0
        v = np.where(flat, 77 + 40 * ((x // 128) % 3) + 10 * k, v)
        chans.append(v.astype(np.uint8))
    return chans[0] if c == 0 else np.stack(chans, axis=-1)


def row_crcs(u8):
    return np.array([zlib.crc32(np.ascontiguousarray(u8[i]).tobytes()) & 0xFFFFFFFF for i in range(u8.shape[0])],
                    np.int64)


def save(name, arr):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(arr))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)

    def structured(h, w, c, hi=256, dtype=np.uint8):
        """noise + gradient + flat blocks (flat areas are where uint8 truncation is fragile)."""
        yy, xx = np.mgrid[0:h, 0:w]
        base = (xx * (hi - 1) // max(w - 1, 1) + yy * 7) % hi
        img = np.stack([(base + rng.integers(0, hi // 8, (h, w)) + k * hi // 5) % hi for k in range(max(c, 1))], -1)
        img[h // 4:h // 2, w // 3:2 * w // 3] = rng.integers(0, hi, max(c, 1))
        img = img.astype(dtype)
        return img[:, :, 0] if c == 0 else img

    # --- input images (path, array as written, write kwargs) and the targets they are tested at
    cases = []
    g8 = structured(37, 53, 0)
    write_png(f"{OUT}/grey8_37x53.png", g8)
    cases.append(("grey8_37x53.png", 48))
    rgb8 = structured(45, 60, 3)
    write_png(f"{OUT}/rgb8_60x45.png", rgb8)
    cases.append(("rgb8_60x45.png", 80))
    rgba8 = structured(56, 40, 4)
    write_png(f"{OUT}/rgba8_40x56.png", rgba8)
    cases.append(("rgba8_40x56.png", 48))
    ga8 = structured(40, 30, 2)
    write_png(f"{OUT}/ga8_30x40.png", ga8)
    cases.append(("ga8_30x40.png", 48))
    pal_idx = rng.integers(0, 6, (30, 45))
    palette = rng.integers(0, 256, (6, 3))
    write_png(f"{OUT}/pal8_45x30.png", pal_idx, ctype=3, palette=palette, trns=[255, 0, 128])
    cases.append(("pal8_45x30.png", 48))
    g16 = structured(33, 40, 0, hi=65536, dtype=np.uint16)
    write_png(f"{OUT}/grey16_40x33.png", g16, bitdepth=16)
    cases.append(("grey16_40x33.png", 48))
    rgb16 = structured(24, 20, 3, hi=65536, dtype=np.uint16)
    write_png(f"{OUT}/rgb16_20x24.png", rgb16, bitdepth=16)
    cases.append(("rgb16_20x24.png", 48))
    g2 = rng.integers(0, 4, (19, 25))
    write_png(f"{OUT}/grey2_25x19.png", g2, bitdepth=2)
    cases.append(("grey2_25x19.png", 48))
    rgbi = structured(29, 31, 3)
    write_png(f"{OUT}/rgb8_adam7_31x29.png", rgbi, interlace=True)
    cases.append(("rgb8_adam7_31x29.png", 48))
    big = structured(110, 75, 3)  # downsampled in both directions at 48
    write_png(f"{OUT}/rgb8_75x110.png", big)
    cases.append(("rgb8_75x110.png", 48))
    jrgb = structured(48, 64, 3)
    Image.fromarray(jrgb).save(f"{OUT}/rgb_64x48.jpg", quality=90)
    cases.append(("rgb_64x48.jpg", 48))
    jg = structured(36, 40, 0)
    Image.fromarray(jg).save(f"{OUT}/grey_40x36_progressive.jpg", quality=85, progressive=True)
    cases.append(("grey_40x36_progressive.jpg", 48))

    for name, target in cases:
        img = io.imread(f"{OUT}/{name}")
        stem = os.path.splitext(name)[0]
        if name not in ("rgb8_60x45.png", "rgb8_75x110.png"):  # plain 8-bit RGB: decodes to what was written
            save(f"{stem}.decoded.npy", img)  # what skimage.io.imread returns
        save(f"{stem}.u8_{target}.npy", official_u8(img, target))
        if img.dtype == np.uint16:
            save(f"{stem}.rescale_u8_{target}.npy", official_u8(rescale_u16(img), target))
        print(f"{name}: imread {img.dtype} {img.shape} -> u8 ({target}, {target}, 3)")

    # --- resize alone: non-square outputs, orders 0/1/3, 2-D and 3-D arrays (float64 results)
    src2 = structured(23, 41, 0).astype(np.float64)
    src3 = structured(31, 17, 3).astype(np.float64)
    save("resize_src2d_23x41.npy", src2)
    save("resize_src3d_31x17x3.npy", src3)
    for name, src, shape, order, aa in [("r2d_o3_50x20", src2, (50, 20), 3, True),
                                        ("r2d_o3_9x100", src2, (9, 100), 3, True),
                                        ("r3d_o3_13x29", src3, (13, 29), 3, True),
                                        ("r3d_o3_7x5", src3, (7, 5), 3, True),
                                        ("r3d_o1_20x11", src3, (20, 11), 1, True),
                                        ("r3d_o0_20x11", src3, (20, 11), 0, False)]:
        save(f"{name}.npy", transform.resize(src, shape, order=order, preserve_range=True, anti_aliasing=aa))

    # --- Gaussian kernels as np.exp computes them on this machine
    sigmas = np.array([0.13, 0.189453125, 0.25, 0.5, 0.75, 1.0, 1.3779296875, 2.5, 3.0, 7.25, 18.5], np.float64)
    save("kernel_sigmas.npy", sigmas)
    save("kernels.npy", np.concatenate([_gaussian_kernel1d(s, 0, int(4.0 * s + 0.5))[::-1] for s in sigmas]))

    # --- large synthetic cases at 1024: per-row CRC32 of the full result + every 16th pixel
    for (h, w, c) in [(1411, 1411, 0), (2048, 1536, 3), (300, 500, 0), (1500, 900, 3)]:
        src = synthetic(h, w, c)
        u8 = official_u8(src, 1024)
        tag = f"synth_{h}x{w}x{c}"
        save(f"{tag}.rowcrc.npy", row_crcs(u8))
        save(f"{tag}.sub16.npy", u8[5::16, 5::16])
        print(f"{tag}: done")
    demo = os.path.join(SAM_REF_DIR, "assets", "img_demo.png")
    if os.path.exists(demo):
        save("img_demo.rowcrc.npy", row_crcs(official_u8(io.imread(demo), 1024)))
        print("img_demo.png: row CRCs stored")

    # --- postprocessing: torch sigmoid -> bilinear (align_corners=False) -> > 0.5
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    logits = (rng.standard_normal((40, 40)) * 4).astype(np.float32)
    logits[20:30, 10:30] = 0.0  # exactly 0.5 after sigmoid: the strict '>' matters
    save("post_logits_40x40.npy", logits)
    for (oh, ow) in [(45, 70), (37, 29), (40, 40), (23, 97)]:
        p = F.interpolate(torch.sigmoid(torch.from_numpy(logits))[None, None], size=(oh, ow), mode="bilinear",
                          align_corners=False)[0, 0].numpy()
        save(f"post_prob_{oh}x{ow}.npy", p)
    i = np.arange(256, dtype=np.int64)[:, None]
    j = np.arange(256, dtype=np.int64)[None, :]
    smooth = (((i - 128) ** 2 + (j - 100) ** 2 - 4000) / 512.0).astype(np.float32)  # exact in float32
    p = F.interpolate(torch.sigmoid(torch.from_numpy(smooth))[None, None], size=(300, 500), mode="bilinear",
                      align_corners=False)[0, 0].numpy()
    save("post_smooth_mask_300x500.npy", np.packbits((p > 0.5).astype(np.uint8)))
    save("post_smooth_prob_sub_300x500.npy", p[::7, ::7])
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"fixtures in {OUT}: {len(os.listdir(OUT))} files, {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
