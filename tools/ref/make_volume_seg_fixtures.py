"""Fixtures for the volume side of medsam.c: intensity normalisation
(src/pipeline/intensity.c) and 3-D box segmentation with slice propagation
(src/pipeline/segment3d.c, src/api/volume.c, cli/cmd_volume.c, cli/cmd_npz.c).

    /usr/bin/python3 tools/ref/make_volume_seg_fixtures.py             # (re)write the fixtures
    /usr/bin/python3 tools/ref/make_volume_seg_fixtures.py --check DIR # check files the C test wrote

Intensity (tests/fixtures/volume/intensity/): pre_CT_MR.py's two branches
(lines 97-118) written out with NumPy on small arrays of several dtypes:
  <case>.npz: x (input), soft / lung / brain / bone / custom (CT windows, uint8),
              mr (percentiles, uint8), mr_lohi (float64: the two np.percentile values);
  generated.txt: large arrays defined by an integer hash both sides can compute
              (so that they need not be stored): percentiles and CRC-32 of outputs;
  scaled_int16.nii.gz: an int16 NIfTI with scl_slope / scl_inter (values as
              nibabel's get_fdata, float64), with its expected outputs in scaled_int16.npz.

Segmentation (tests/fixtures/volume/): small phantoms and the reference result of
the LiteMedSAM 3-D loop (CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_3D) run on
MedSAM's 2-D pipeline (MedSAM_Inference.py: resize to the model's img_size with
order 3 + anti-aliasing, uint8, min-max; box scaled by img_size/[W,H,W,H];
sigmoid, bilinear to H x W, > 0.5) with the official modules loading the tiny
CI model (tests/fixtures/tiny/model.pth, img_size 128):
  middle slice int((z1 - z0)/2 + z0) with the box, then up to z1 and down to z0,
  each next box = bounding box of the previous slice's mask (inclusive indices)
  grown by 3 * max(H, W) / 256 pixels, clamped to [0, W] x [0, H], as float32;
  the 3-D box's x/y when the previous mask is empty; segs[temp > 0] = idx.
  ct_phantom.nii.gz   int16 HU phantom, qform (code 1) + sform (code 2), soft window
  ct_expected.npz     norm (D,H,W) uint8 after the window, labels (D,H,W) uint8,
                      boxes (N,6), min_margin: smallest |p - 0.5| over all decoded pixels
  ct_labels.nii       the labels as an uncompressed NIfTI (for the CLI test: its data
                      bytes after the 352-byte header)
  mr_phantom.nii.gz / mr_expected.npz  float32 phantom, percentile normalisation
  case3d.npz / case3d_expected.npz     CVPR24 3-D case: imgs (D,H,W) uint8, spacing, boxes (N,6)
  case2d.npz / case2d_expected.npz     CVPR24 2-D case: imgs (H,W,3) uint8, boxes (N,4);
                                       segs from MedSAM_Inference.py's pipeline per box
  nonpositive.npz                      int16 imgs (2,3,4) <= 0 (percentiles impossible)
"""
import os
import sys
import zlib

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from skimage import transform

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "volume")
INT_OUT = os.path.join(OUT, "intensity")
MODEL = os.path.join(ROOT, "tests", "fixtures", "tiny", "model.pth")

NEAR = 1e-5  # probabilities closer than this to 0.5 may flip under fp32 reordering (recorded as `near`)
WINDOWS = {"soft": (40, 400), "lung": (-600, 1500), "brain": (40, 80), "bone": (400, 1800), "custom": (55.5, 333.3)}


# ---- intensity: pre_CT_MR.py's branches ----------------------------------

def ct_window(image_data, level, width):
    # ref: pre_CT_MR.py:97-106
    lower_bound = level - width / 2
    upper_bound = level + width / 2
    image_data_pre = np.clip(image_data, lower_bound, upper_bound)
    with np.errstate(invalid="ignore"):
        image_data_pre = ((image_data_pre - np.min(image_data_pre))
                          / (np.max(image_data_pre) - np.min(image_data_pre)) * 255.0)
        return np.uint8(image_data_pre), lower_bound, upper_bound


def mr_percentile(image_data):
    # ref: pre_CT_MR.py:107-116
    lower_bound, upper_bound = np.percentile(image_data[image_data > 0], 0.5), np.percentile(
        image_data[image_data > 0], 99.5)
    image_data_pre = np.clip(image_data, lower_bound, upper_bound)
    with np.errstate(invalid="ignore"):
        image_data_pre = ((image_data_pre - np.min(image_data_pre))
                          / (np.max(image_data_pre) - np.min(image_data_pre)) * 255.0)
        image_data_pre[image_data == 0] = 0
        return np.uint8(image_data_pre), lower_bound, upper_bound


def all_outputs(x):
    out = {"x": x}
    for name, (lv, wd) in WINDOWS.items():
        out[name] = ct_window(x, lv, wd)[0]
    if (x > 0).any():
        u, lo, hi = mr_percentile(x)
        out["mr"] = u
        out["mr_lohi"] = np.array([lo, hi], np.float64)
    return out


def hash_u32(n, seed):
    """(i * 2654435761 + seed * 40503) mod 2^32 for i < n: the same integers in C."""
    i = np.arange(n, dtype=np.uint64)
    return (i * np.uint64(2654435761) + np.uint64(seed * 40503)) % np.uint64(1 << 32)


def generated(kind, n):
    """Large arrays both sides compute (see tests/test_intensity.c:generated)."""
    h = hash_u32(n, {"f32": 1, "f64": 2, "i16": 3, "u16": 4}[kind]).astype(np.float64) / 2.0 ** 32  # in [0, 1)
    if kind == "f32":    # MR-like: a quarter zeros, a few negatives, long tail
        v = np.where(h < 0.25, 0.0, (h - 0.27) * 4000.0 + (h > 0.99) * 50000.0)
        return v.astype(np.float32)
    if kind == "f64":
        return (h * 3000.0 - 1200.0) * 1.0000001
    if kind == "i16":   # CT-like HU
        return np.floor(h * 3500.0 - 1100.0).astype(np.int16)
    return np.floor(h * 65535.0 * h).astype(np.uint16)


def make_intensity():
    os.makedirs(INT_OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    cases = {
        "ct_int16": rng.integers(-1100, 2500, 3000).astype(np.int16),
        "mr_float32": np.concatenate([np.zeros(500), rng.lognormal(5.5, 0.8, 2400),
                                      -rng.random(100) * 3]).astype(np.float32)[rng.permutation(3000)],
        "mr_float64": np.concatenate([np.zeros(300), rng.normal(400, 150, 1700)]).astype(np.float64),
        "uint8": rng.integers(0, 256, 2000).astype(np.uint8),
        "uint16": (rng.random(2000) ** 3 * 60000).astype(np.uint16),
        "int32": rng.integers(-200000, 900000, 2000).astype(np.int32),
        "ties_int16": np.repeat(np.array([0, 5, 5, 7, 300, 300, 301], np.int16), 3),
        "one_positive": np.array([0, -3, 17, 0, -1], np.int16),
        "constant": np.full(50, 123.25, np.float32),
        "float32_fine": (1000.0 + rng.random(997).astype(np.float32) * np.float32(1e-3)).astype(np.float32),
    }
    for name, x in cases.items():
        np.savez_compressed(os.path.join(INT_OUT, name + ".npz"), **all_outputs(x))
    # generated large arrays: percentiles and CRC-32 of every output
    lines = []
    for kind, n in (("f32", 300001), ("f64", 200000), ("i16", 250000), ("u16", 100003)):
        x = generated(kind, n)
        o = all_outputs(x)
        crcs = " ".join(f"{k}={zlib.crc32(o[k].tobytes()) & 0xffffffff:08x}" for k in list(WINDOWS) + ["mr"])
        lines.append(f"{kind} {n} {o['mr_lohi'][0]:.17g} {o['mr_lohi'][1]:.17g} {crcs}")
    with open(os.path.join(INT_OUT, "generated.txt"), "w") as f:
        f.write("# kind n percentile_0.5 percentile_99.5 crc32 of the uint8 outputs\n" + "\n".join(lines) + "\n")
    # a scaled NIfTI: the script sees nibabel's get_fdata() (float64)
    raw = rng.integers(-200, 3000, (9, 7, 5)).astype(np.int16)
    img = nib.Nifti1Image(raw, np.diag([1.5, 1.5, 3.0, 1.0]))
    img.header.set_slope_inter(0.5, -1024.0)
    nib.save(img, os.path.join(INT_OUT, "scaled_int16.nii.gz"))
    vals = nib.load(os.path.join(INT_OUT, "scaled_int16.nii.gz")).get_fdata()
    o = all_outputs(np.ascontiguousarray(vals.transpose(2, 1, 0)).ravel())  # NIfTI order: x fastest
    del o["x"]
    np.savez_compressed(os.path.join(INT_OUT, "scaled_int16.npz"), **o)
    print("intensity fixtures ->", INT_OUT)


# ---- segmentation ---------------------------------------------------------

class Ref:
    """The official modules on the tiny model, MedSAM_Inference.py's 2-D steps."""

    def __init__(self):
        import sam_ref
        torch.set_num_threads(int(os.environ.get("REF_THREADS", "2")))
        self.model = sam_ref.build_sam("tiny")
        self.model.load_state_dict(torch.load(MODEL, map_location="cpu"))
        self.model.eval()
        self.S = self.model.image_encoder.img_size
        self.min_margin = 1.0
        self.near = None  # (D, H, W) uint8: 1 where some decode on that slice had |p - 0.5| < NEAR

    @torch.no_grad()
    def encode(self, img):  # img: (H, W) or (H, W, 3) uint8
        # ref: MedSAM_Inference.py:114-130
        img_3c = np.repeat(img[:, :, None], 3, axis=-1) if img.ndim == 2 else img
        S = self.S
        img_s = transform.resize(img_3c, (S, S), order=3, preserve_range=True, anti_aliasing=True).astype(np.uint8)
        img_s = (img_s - img_s.min()) / np.clip(img_s.max() - img_s.min(), a_min=1e-8, a_max=None)
        t = torch.tensor(img_s).float().permute(2, 0, 1).unsqueeze(0)
        return self.model.image_encoder(t)

    @torch.no_grad()
    def decode(self, emb, box, H, W, z=0):  # box: float32 (4,) in pixel coordinates
        # ref: MedSAM_Inference.py:134 and medsam_inference (44-71)
        box_np = np.asarray(box, np.float32)[None, :]
        box_s = box_np / np.array([W, H, W, H]) * self.S
        box_torch = torch.as_tensor(box_s, dtype=torch.float)[:, None, :]
        sparse, dense = self.model.prompt_encoder(points=None, boxes=box_torch, masks=None)
        low, _ = self.model.mask_decoder(image_embeddings=emb, image_pe=self.model.prompt_encoder.get_dense_pe(),
                                         sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                         multimask_output=False)
        prob = F.interpolate(torch.sigmoid(low), size=(H, W), mode="bilinear", align_corners=False)
        prob = prob.squeeze().numpy().reshape(H, W)
        self.min_margin = min(self.min_margin, float(np.abs(prob - 0.5).min()))
        if self.near is not None:
            self.near[z] |= (np.abs(prob - 0.5) < NEAR).astype(np.uint8)
        return (prob > 0.5).astype(np.uint8)

    def mask_box(self, mask, H, W):
        # ref: CVPR24_LiteMedSAM_infer.py:get_bbox256, at full resolution with the margin mapped back
        ys, xs = np.where(mask > 0)
        m = 3.0 * max(W, H) / 256.0
        return np.array([max(0.0, xs.min() - m), max(0.0, ys.min() - m),
                         min(float(W), xs.max() + m), min(float(H), ys.max() + m)], np.float32)

    def segment_3d(self, vol, boxes):
        """vol (D, H, W) uint8; boxes rows [x0, y0, z0, x1, y1, z1]."""
        # ref: CVPR24_LiteMedSAM_infer.py:MedSAM_infer_npz_3D (embeddings cached per slice: same numbers)
        D, H, W = vol.shape
        embs = {}

        def emb(z):
            if z not in embs:
                embs[z] = self.encode(vol[z])
            return embs[z]

        segs = np.zeros(vol.shape, np.uint8)
        self.near = np.zeros(vol.shape, np.uint8)
        for idx, b in enumerate(boxes, start=1):
            x_min, y_min, z_min, x_max, y_max, z_max = [float(v) for v in b]
            z_min, z_max = int(z_min), int(z_max)
            box2d = np.array([x_min, y_min, x_max, y_max], np.float32)
            temp = np.zeros(vol.shape, np.uint8)
            z_middle = int((z_max - z_min) / 2 + z_min)
            for z in range(z_middle, min(z_max + 1, D)):
                if z == z_middle:
                    box = box2d
                else:
                    prev = temp[z - 1]
                    box = self.mask_box(prev, H, W) if prev.max() > 0 else box2d
                temp[z, self.decode(emb(z), box, H, W, z) > 0] = idx
            for z in range(z_middle - 1, max(-1, z_min - 1), -1):
                prev = temp[z + 1]
                box = self.mask_box(prev, H, W) if prev.max() > 0 else box2d
                temp[z, self.decode(emb(z), box, H, W, z) > 0] = idx
            segs[temp > 0] = idx
        return segs, len(embs)


def ct_phantom():
    nx, ny, nz = 72, 60, 14
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    hu = np.full((nz, ny, nx), -1000.0)
    hu[((x - 36) / 30.0) ** 2 + ((y - 30) / 24.0) ** 2 <= 1] = 40
    hu[((x - 20) / 8.0) ** 2 + ((y - 18) / 6.0) ** 2 <= 1] = -800
    hu[((x - 30) / 12.0) ** 2 + ((y - 28) / 9.0) ** 2 + ((z - 6.5) / 5.5) ** 2 <= 1] = 95
    hu[((x - 48) / 8.0) ** 2 + ((y - 34) / 7.0) ** 2 + ((z - 9.0) / 4.0) ** 2 <= 1] = -60
    ring = ((x - 36) ** 2 + (y - 49) ** 2)
    hu[(ring >= 9) & (ring <= 25)] = 900
    hu += ((x * 7 + y * 13 + z * 5) % 11) - 5
    return hu.astype(np.int16)  # (z, y, x)


def mr_phantom():
    nx, ny, nz = 48, 40, 7
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    v = np.zeros((nz, ny, nx), np.float64)
    body = ((x - 24) / 20.0) ** 2 + ((y - 20) / 16.0) ** 2 <= 1
    v[body] = 420.0 + 3.1 * x[body] - 1.7 * y[body] + 11.0 * z[body]
    v[((x - 18) / 7.0) ** 2 + ((y - 17) / 6.0) ** 2 + ((z - 3) / 3.0) ** 2 <= 1] = 810.5
    v[(x == 30) & (y == 24)] = 3000.0     # bright outliers above the 99.5th percentile
    v[body & ((x + y + z) % 17 == 0)] = -4.25  # a few negatives (clipped to the 0.5th percentile)
    return v.astype(np.float32)


def save_nifti(path, data_zyx, affine_q, affine_s, pixdim):
    img = nib.Nifti1Image(np.ascontiguousarray(data_zyx.transpose(2, 1, 0)), affine_s)
    img.header.set_qform(affine_q, code=1)
    img.header.set_sform(affine_s, code=2)
    img.header.set_zooms(pixdim)
    img.header["xyzt_units"] = 10  # mm, s
    nib.save(img, path)


def rot(ax, deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    r = np.eye(3)
    i, j = [(1, 2), (0, 2), (0, 1)][ax]
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def make_segmentation():
    os.makedirs(OUT, exist_ok=True)
    ref = Ref()
    # CT phantom, qform and sform, soft-tissue window
    hu = ct_phantom()
    zooms = (0.8, 0.9, 2.5)
    aq = np.eye(4)
    aq[:3, :3] = rot(2, 20) @ rot(0, -10) @ np.diag(zooms)
    aq[:3, 3] = [-31.5, 12.25, -40.0]
    a_s = aq.copy()
    a_s[:3, 3] += [0.5, -0.25, 1.0]
    path = os.path.join(OUT, "ct_phantom.nii.gz")
    save_nifti(path, hu, aq, a_s, zooms)
    img = nib.load(path)
    data = np.asanyarray(img.dataobj).transpose(2, 1, 0)  # (z, y, x), int16 as stored
    assert data.dtype == np.int16 and img.dataobj.slope == 1 and img.dataobj.inter == 0
    norm = ct_window(data, 40, 400)[0]
    boxes = np.array([[17, 18, 1, 43, 38, 12], [39, 26, 4, 57, 42, 13]], np.int64)
    labels, nenc = ref.segment_3d(norm, boxes)
    np.savez_compressed(os.path.join(OUT, "ct_expected.npz"), norm=norm, labels=labels, boxes=boxes, near=ref.near,
                        min_margin=np.float64(ref.min_margin))
    lab = nib.Nifti1Image(np.ascontiguousarray(labels.transpose(2, 1, 0)), img.affine)
    nib.save(lab, os.path.join(OUT, "ct_labels.nii"))
    report("ct", labels, boxes, nenc, ref)

    # MR phantom (float32, sform only), percentiles
    ref.min_margin = 1.0
    mr = mr_phantom()
    a = np.diag([1.1, 1.1, 4.0, 1.0])
    a[:3, 3] = [-26.0, -22.0, 10.0]
    img = nib.Nifti1Image(np.ascontiguousarray(mr.transpose(2, 1, 0)), a)
    img.header.set_sform(a, code=4)
    img.header.set_qform(None, code=0)
    path = os.path.join(OUT, "mr_phantom.nii.gz")
    nib.save(img, path)
    data = np.asanyarray(nib.load(path).dataobj).transpose(2, 1, 0)
    assert data.dtype == np.float32
    norm, lo, hi = mr_percentile(data)
    boxes = np.array([[8, 6, 1, 30, 28, 5]], np.int64)
    labels, nenc = ref.segment_3d(norm, boxes)
    np.savez_compressed(os.path.join(OUT, "mr_expected.npz"), norm=norm, labels=labels, boxes=boxes, near=ref.near,
                        lohi=np.array([lo, hi]), min_margin=np.float64(ref.min_margin))
    report("mr", labels, boxes, nenc, ref)

    # CVPR24 3-D case
    ref.min_margin = 1.0
    D, H, W = 8, 50, 64
    z, y, x = np.meshgrid(np.arange(D), np.arange(H), np.arange(W), indexing="ij")
    imgs = (60 + 40 * (((x - 25) / 14.0) ** 2 + ((y - 22) / 11.0) ** 2 + ((z - 4) / 3.5) ** 2 <= 1)
            + 90 * (((x - 47) / 7.0) ** 2 + ((y - 30) / 9.0) ** 2 <= 1) + (x * 3 + y * 5) % 9).astype(np.uint8)
    boxes = np.array([[10, 10, 1, 40, 34, 7], [38, 19, 0, 56, 41, 5]], np.int64)
    np.savez_compressed(os.path.join(OUT, "case3d.npz"), imgs=imgs, spacing=np.array([0.7, 0.7, 3.0]), boxes=boxes)
    segs, nenc = ref.segment_3d(imgs, boxes)
    np.savez_compressed(os.path.join(OUT, "case3d_expected.npz"), segs=segs, near=ref.near,
                        min_margin=np.float64(ref.min_margin))
    report("case3d", segs, boxes, nenc, ref)

    # CVPR24 2-D case: MedSAM_Inference.py per box, later boxes over earlier ones
    ref.min_margin = 1.0
    H, W = 70, 90
    y, x = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    rgb = np.stack([(x * 2 + 40) % 256, (y * 3 + 10) % 256,
                    120 + 100 * (((x - 40) / 18.0) ** 2 + ((y - 35) / 14.0) ** 2 <= 1)], -1).astype(np.uint8)
    boxes = np.array([[20, 18, 62, 52], [50, 10, 85, 40]], np.int64)
    np.savez_compressed(os.path.join(OUT, "case2d.npz"), imgs=rgb, boxes=boxes)
    emb = ref.encode(rgb)
    segs = np.zeros((H, W), np.uint8)
    ref.near = np.zeros((1, H, W), np.uint8)
    for idx, b in enumerate(boxes, start=1):
        segs[ref.decode(emb, b.astype(np.float32), H, W) > 0] = idx
    np.savez_compressed(os.path.join(OUT, "case2d_expected.npz"), segs=segs, near=ref.near[0], min_margin=np.float64(ref.min_margin))
    report("case2d", segs[None], boxes, 1, ref)

    # a volume without voxels > 0: percentile normalisation is refused
    np.savez_compressed(os.path.join(OUT, "nonpositive.npz"), imgs=-np.arange(24, dtype=np.int16).reshape(2, 3, 4))


def report(name, labels, boxes, nenc, ref):
    counts = [int((labels == k).sum()) for k in range(1, len(boxes) + 1)]
    per_slice = [int((labels[z] > 0).sum()) for z in range(labels.shape[0])]
    print(f"{name}: {nenc} slices encoded, voxels per label {counts}, per slice {per_slice}, "
          f"smallest |p - 0.5| = {ref.min_margin:.3g}, voxels within {NEAR:g} of 0.5: {int(ref.near.sum())}")


# ---- --check: files the C test wrote ---------------------------------------

def check(d):
    ok = True
    src = nib.load(os.path.join(OUT, "ct_phantom.nii.gz"))
    exp = np.load(os.path.join(OUT, "ct_expected.npz"))
    for name in ("ct_mask.nii.gz", "ct_mask.nii"):
        p = os.path.join(d, name)
        if not os.path.exists(p):
            print("missing", p)
            ok = False
            continue
        m = nib.load(p)
        same = (m.shape == src.shape and np.array_equal(m.affine, src.affine)
                and np.array_equal(m.header.get_qform(), src.header.get_qform())
                and np.array_equal(m.header.get_sform(), src.header.get_sform())
                and int(m.header["qform_code"]) == int(src.header["qform_code"])
                and int(m.header["sform_code"]) == int(src.header["sform_code"])
                and np.array_equal(m.header.get_zooms(), src.header.get_zooms())
                and np.array_equal(np.asanyarray(m.dataobj).transpose(2, 1, 0), exp["labels"]))
        print("ok  " if same else "FAIL", p)
        ok &= same
    return ok


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(0 if check(sys.argv[2]) else 1)
    make_intensity()
    make_segmentation()
