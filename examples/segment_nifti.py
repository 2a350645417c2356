"""Segment one slice of a NIfTI volume with a box, notebook style (run it cell by cell,
or as a script). Needs the medsam Python package (make install-python, or
PYTHONPATH=python MEDSAM_LIBRARY=build/libmedsam.so.0 from the source tree) and NumPy;
matplotlib is used when present, else the overlay is written as a PNG by the library.

    python3 examples/segment_nifti.py MODEL.pth CT.nii.gz Z x0,y0,x1,y1 [--window soft] [-o overlay.png]
    python3 examples/segment_nifti.py      # the repository's tiny test model and CT phantom
"""
# %% arguments
import argparse

import numpy as np

import medsam

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("model", nargs="?", default="tests/fixtures/tiny/model.pth")
ap.add_argument("volume", nargs="?", default="tests/fixtures/volume/ct_phantom.nii.gz")
ap.add_argument("z", nargs="?", type=int, default=7)
ap.add_argument("box", nargs="?", default="17,18,43,38", help="x0,y0,x1,y1 in the slice's pixels")
ap.add_argument("--window", default="soft", help="CT window (soft, lung, brain, bone, L,W) or 'mr' for percentiles")
ap.add_argument("-o", "--output", default="overlay.png")
args = ap.parse_args()
box = [float(v) for v in args.box.split(",")]

# %% read the volume; slice z is an image of ny rows and nx columns
vol = medsam.read_volume(args.volume)
print(vol, "affine:\n", vol.affine)
if args.window == "mr":
    u8 = vol.normalize(mr=True)
else:
    u8 = vol.normalize(window=args.window)      # pre_CT_MR.py's window, whole volume -> uint8
image = u8[args.z]                              # (ny, nx) uint8

# %% encode the slice once, decode the box (more boxes on the same embedding are cheap)
model = medsam.Model(args.model)
emb = model.encode(image)
labels = model.segment(emb, boxes=[box])
print("slice %d: %d pixels in the mask" % (args.z, int((labels > 0).sum())))

# the same slice through the volume path: identical (3-D box with z0 = z1 = z)
seg = model.segment_volume(u8, boxes3d=[[box[0], box[1], args.z, box[2], box[3], args.z]])
assert np.array_equal(seg[args.z], labels)

# %% show the overlay
try:
    import matplotlib
    if __name__ == "__main__":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(image, cmap="gray")
    ax.imshow(np.ma.masked_equal(labels, 0), cmap="autumn", alpha=0.5)
    ax.add_patch(plt.Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, color="lime"))
    ax.set_title("slice %d" % args.z)
    ax.axis("off")
    fig.savefig(args.output, bbox_inches="tight")
    print("overlay (matplotlib):", args.output)
except ImportError:
    # no matplotlib: blend the mask into the slice and write it with NumPy + zlib as an RGB PNG
    import struct
    import zlib
    rgb = np.repeat(image[:, :, None], 3, axis=2).astype(np.float32)
    rgb[labels > 0] = 0.5 * rgb[labels > 0] + 0.5 * np.array([255, 64, 0])
    rgb = rgb.astype(np.uint8)
    raw = b"".join(b"\0" + row.tobytes() for row in rgb)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", rgb.shape[1], rgb.shape[0], 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(args.output, "wb") as f:
        f.write(png)
    print("overlay (PNG, no matplotlib):", args.output)
