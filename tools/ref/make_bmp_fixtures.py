"""BMP fixtures: files written by Pillow (and a few crafted by hand), with the
arrays skimage.io.imread returns for them (what MedSAM_Inference.py would see).

    /usr/bin/python3 tools/ref/make_bmp_fixtures.py
"""
import os
import struct

import numpy as np
from PIL import Image
from skimage import io

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/fixtures/bmp")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(5)


def save(name, img):
    path = os.path.join(out, name + ".bmp")
    img.save(path)
    return path


def crafted_16bit(name, w, h, top_down, bitfields565):
    """A 16-bit BMP (5-5-5 BI_RGB, or 5-6-5 BI_BITFIELDS), optionally top-down."""
    px = rng.integers(0, 65536, size=(h, w), dtype=np.uint16)
    stride = (16 * w + 31) // 32 * 4
    rows = b"".join(px[y].astype("<u2").tobytes().ljust(stride, b"\0") for y in (range(h) if top_down else range(h - 1, -1, -1)))
    masks = struct.pack("<III", 0xF800, 0x07E0, 0x001F) if bitfields565 else b""
    off = 14 + 40 + len(masks)
    hdr = struct.pack("<2sIHHI", b"BM", off + len(rows), 0, 0, off)
    info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, 16, 3 if bitfields565 else 0, len(rows), 2835, 2835, 0, 0)
    path = os.path.join(out, name + ".bmp")
    with open(path, "wb") as f:
        f.write(hdr + info + masks + rows)
    return path


paths = [
    save("rgb24_odd", Image.fromarray(rng.integers(0, 256, (13, 21, 3), dtype=np.uint8), "RGB")),
    save("grey8", Image.fromarray(rng.integers(0, 256, (17, 10), dtype=np.uint8), "L")),
    save("palette8", Image.fromarray(rng.integers(0, 256, (12, 15, 3), dtype=np.uint8), "RGB").quantize(37)),
    save("bw1", Image.fromarray(rng.integers(0, 2, (9, 19), dtype=np.uint8) * 255, "L").convert("1")),
    save("rgba32", Image.fromarray(rng.integers(0, 256, (8, 11, 4), dtype=np.uint8), "RGBA")),
    crafted_16bit("rgb555_topdown", 7, 5, True, False),
    crafted_16bit("rgb565", 6, 4, False, True),
]
for p in paths:
    a = io.imread(p)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    np.save(p[:-4] + ".expected.npy", a.astype(np.uint8))
    print(os.path.basename(p), a.shape, a.dtype)
