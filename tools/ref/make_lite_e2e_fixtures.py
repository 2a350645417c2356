"""End-to-end fixtures of LiteMedSAM's pipeline: CVPR24_LiteMedSAM_infer.py's own
MedSAM_infer_npz_2D / MedSAM_infer_npz_3D (and the helpers they call, run as they are)
on the tiny LiteMedSAM checkpoint tests/fixtures/lite/model.pth, built with the
official modules (lite_ref.py: tiny_vit_sam.TinyViT, segment_anything's prompt encoder
and mask decoder, the script's own MedSAM_Lite class).

    /usr/bin/python3 tools/ref/make_lite_e2e_fixtures.py

The script parses arguments and loads a checkpoint at import time, so its functions
and the MedSAM_Lite class are taken from its source (ast: definitions only) and run in
a namespace that holds what its module would: medsam_lite_model (our checkpoint),
device cpu, pred_save_dir (a scratch folder), save_overlay False. medsam_inference is
wrapped to keep the probability map of every call (postprocess_masks + sigmoid, as
the function computes it), to find the pixels whose probability lies within 1e-6
of 0.5 (where float rounding may flip the mask).

writes tests/fixtures/lite/e2e/
  <case>.npz           the CVPR24 input (imgs + boxes [+ spacing]); case2d / case3d are
                       tests/fixtures/volume's (not copied), the others made here
  <case>_expected.npz  segs: the official script's output; near: 1 where some call's
                       probability was within 1e-6 of 0.5 (3-D: on that slice);
                       margin: the smallest |p - 0.5| of all calls (float64)
"""
import ast
import os
import subprocess
import sys
import tempfile
from os.path import basename, join

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lite_ref  # noqa: E402  (extracts tiny_vit_sam.py + segment_anything, timm stand-in)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

ROOT = os.path.abspath(join(HERE, "..", ".."))
OUT = join(ROOT, "tests", "fixtures", "lite", "e2e")
SCRIPT = "CVPR24_LiteMedSAM_infer.py"
NAMES = ["resize_longest_side", "pad_image", "get_bbox256", "resize_box_to_256", "medsam_inference",
         "MedSAM_infer_npz_2D", "MedSAM_infer_npz_3D", "MedSAM_Lite"]


def official_namespace(model_path, pred_dir):
    path = join(lite_ref.REF_DIR, SCRIPT)
    if not os.path.exists(path):
        arch = subprocess.run(["git", "-C", lite_ref.MIRROR, "archive", "LiteMedSAM", SCRIPT], check=True,
                              stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", lite_ref.REF_DIR], input=arch, check=True)
    tree = ast.parse(open(path).read(), path)
    keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in NAMES]
    assert {n.name for n in keep} == set(NAMES), "the official script changed"
    ns = {"np": np, "torch": torch, "nn": nn, "F": F, "cv2": cv2, "join": join, "basename": basename,
          "device": torch.device("cpu"), "pred_save_dir": pred_dir, "save_overlay": False}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    parts = lite_ref.build_lite("small")
    model = ns["MedSAM_Lite"](image_encoder=parts.image_encoder, mask_decoder=parts.mask_decoder,
                              prompt_encoder=parts.prompt_encoder)
    model.load_state_dict(torch.load(model_path, map_location="cpu"))
    model.eval()
    ns["medsam_lite_model"] = model
    calls = []
    inference = ns["medsam_inference"]

    def recorded(medsam_model, img_embed, box_256, new_size, original_size):
        seg, iou = inference(medsam_model, img_embed, box_256, new_size, original_size)
        with torch.no_grad():  # the probability medsam_inference thresholds (lines 300-317)
            box_torch = torch.as_tensor(box_256[None, None, ...], dtype=torch.float)
            sp, de = medsam_model.prompt_encoder(points=None, boxes=box_torch, masks=None)
            low, _ = medsam_model.mask_decoder(image_embeddings=img_embed,
                                               image_pe=medsam_model.prompt_encoder.get_dense_pe(),
                                               sparse_prompt_embeddings=sp, dense_prompt_embeddings=de,
                                               multimask_output=False)
            prob = torch.sigmoid(medsam_model.postprocess_masks(low, new_size, original_size)).squeeze().numpy()
        assert np.array_equal(seg, (prob > 0.5).astype(np.uint8))
        calls.append((np.asarray(box_256).ravel().tolist(), prob))
        return seg, iou

    ns["medsam_inference"] = recorded
    return ns, calls


def smooth_rgb(h, w, seed):
    """A test picture that compresses well: ramps, discs and a checker texture (uint8)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 120 * x / w, 60 + 100 * y / h, 90 + 40 * ((x // 12 + y // 9) % 2)], -1)
    for _ in range(4):
        cy, cx, r = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w, rng.uniform(0.08, 0.2) * min(h, w)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] += rng.uniform(-80, 90, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def volume(d, h, w, seed):
    """A grey volume: a bright ellipsoid that grows and shrinks along z over a ramp (uint8)."""
    z, y, x = np.mgrid[0:d, 0:h, 0:w].astype(np.float64)
    r = 0.35 * (1 - ((z - d / 2) / (d / 1.6)) ** 2)
    blob = ((y / h - 0.5) ** 2 + (x / w - 0.45) ** 2) < r ** 2
    v = 30 + 60 * x / w + 140 * blob + 10 * np.sin(y / 5.0 + seed)
    return np.clip(v, 0, 255).astype(np.uint8)


def make_inputs():
    """New cases (odd sizes: fractional INTER_AREA, upscaling, 2x2 fast path, crops)."""
    cases = {}
    cases["lite2d_odd"] = dict(imgs=smooth_rgb(201, 307, 1), boxes=np.array([[30, 40, 150, 170], [120, 20, 290, 120],
                                                                             [5, 100, 300, 195]], np.int64))
    cases["lite2d_up"] = dict(imgs=smooth_rgb(97, 150, 2), boxes=np.array([[10, 10, 90, 80], [60, 30, 140, 95]],
                                                                           np.int64))
    cases["lite2d_512"] = dict(imgs=smooth_rgb(512, 384, 3), boxes=np.array([[50, 60, 300, 400]], np.int64))
    cases["3D_lite_blob"] = dict(imgs=volume(11, 90, 120, 4), spacing=np.array([0.8, 0.8, 2.5]),
                                 boxes=np.array([[30, 20, 1, 90, 70, 9], [10, 10, 3, 60, 50, 6]], np.int64))
    cases["3D_lite_wide"] = dict(imgs=volume(7, 60, 301, 5), spacing=np.array([1.0, 1.0, 3.0]),
                                 boxes=np.array([[100, 10, 0, 250, 50, 6]], np.int64))
    return cases


def run_case(ns, calls, name, path, pred_dir):
    calls.clear()
    data = np.load(path)
    three_d = data["imgs"].ndim == 3 and data["boxes"].shape[1] == 6
    (ns["MedSAM_infer_npz_3D"] if three_d else ns["MedSAM_infer_npz_2D"])(path)
    segs = np.load(join(pred_dir, basename(path)))["segs"]
    near = np.zeros(segs.shape, np.uint8)
    margin = np.inf
    if three_d:  # the order of the calls: per box, z_middle .. z_max, then z_middle - 1 .. z_min
        zs = []
        for b in data["boxes"]:
            x0, y0, z0, x1, y1, z1 = b
            mid = int((z1 - z0) / 2 + z0)
            zs += list(range(mid, min(z1 + 1, segs.shape[0]))) + list(range(mid - 1, max(-1, z0 - 1), -1))
        assert len(zs) == len(calls)
        for z, (_, prob) in zip(zs, calls):
            near[z] |= (np.abs(prob.astype(np.float64) - 0.5) < 1e-6).astype(np.uint8)
            margin = min(margin, float(np.abs(prob.astype(np.float64) - 0.5).min()))
    else:
        for _, prob in calls:
            near |= (np.abs(prob.astype(np.float64) - 0.5) < 1e-6).astype(np.uint8)
            margin = min(margin, float(np.abs(prob.astype(np.float64) - 0.5).min()))
    np.savez_compressed(join(OUT, name + "_expected.npz"), segs=segs, near=near, margin=np.float64(margin))
    labels = {int(k): int(v) for k, v in zip(*np.unique(segs, return_counts=True))}
    print(f"{name}: segs {segs.shape} labels {labels}, {len(calls)} decoder calls, near-0.5 pixels "
          f"{int(near.sum())}, min |p - 0.5| = {margin:.3g}")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as pred_dir:
        ns, calls = official_namespace(join(ROOT, "tests", "fixtures", "lite", "model.pth"), pred_dir)
        vol = join(ROOT, "tests", "fixtures", "volume")
        # the script's file naming: MedSAM_infer_npz_3D for names starting with "3D" (line 551)
        for name, arrays in make_inputs().items():
            np.savez_compressed(join(OUT, name + ".npz"), **arrays)
        cases = [("case2d", join(vol, "case2d.npz")), ("case3d", join(vol, "case3d.npz"))]
        cases += [(n, join(OUT, n + ".npz")) for n in make_inputs()]
        for name, path in cases:
            run_case(ns, calls, name, path, pred_dir)


if __name__ == "__main__":
    main()
