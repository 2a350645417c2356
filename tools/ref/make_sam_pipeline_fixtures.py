"""Fixtures for tests/test_sam_pipeline.c: segment_anything's own SamPredictor
(set_image + predict) on the tiny CI model, and Sam.postprocess_masks on its own.

    SAM_REF_DIR=/path/to/segment-anything /usr/bin/python3 tools/ref/make_sam_pipeline_fixtures.py
        # -> tests/fixtures/sam_pipeline/
    SAM_REF_DIR=... /usr/bin/python3 tools/ref/make_sam_pipeline_fixtures.py --model M.pth --image I --out DIR
        # one image, the same prompt cases, on any checkpoint (e.g. a random ViT-B from `medsam init`)

SAM_REF_DIR must hold facebookresearch/segment-anything (predictor.py, utils/transforms.py;
MedSAM's vendored copy differs in apply_coords: it keeps the coordinates' dtype). Needs
Debian's python3-torch and python3-torchvision (ResizeLongestSide.apply_image calls
torchvision's resize on a PIL image).

Writes, per image <img> (tests/fixtures/images/<img>.png):
  <img>.npz: hashes int64 [FNV-1a 64 of apply_image's (newh, neww, 3) uint8 output, of the
    float32 bytes of the (1, 3, S, S) tensor that enters the image encoder (after
    Sam.preprocess)]; features (C, G, G) float32 (the image embedding);
    per case <c>: lowres (M, L, L) float32, iou (M), masks_hash int64 [FNV-1a 64 of predict's
    (M, H, W) masks as uint8, M * H * W, pixels on].
  prompts.txt: one line per case: "<c> multimask <0|1> box x0,y0,x1,y1|- points x,y,l;...|- mask <c2>|-"
    (mask: the highest-IoU low-res logits of case c2 are the mask input, as SAM's refinement loop).
postprocess.npz: Sam.postprocess_masks on random logits for several geometries (C = 1 and 3):
  pp<i>_in (C, L, L), pp<i>_out (C, H, W), pp<i>_geom int64 [C, L, S, newh, neww, H, W].
"""
import argparse
import os
import sys
import types

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402  (imports segment_anything from $SAM_REF_DIR)
from segment_anything.modeling import Sam  # noqa: E402
from segment_anything.predictor import SamPredictor  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for v in b:
        h ^= v
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h - (1 << 64) if h >> 63 else h


def cases_for(W, H):
    """Prompt cases in pixel coordinates of a W x H image (fractions of the size)."""
    def px(fx, fy):
        return [round(fx * W, 1), round(fy * H, 1)]
    return [
        ("box", dict(box=px(0.2, 0.25) + px(0.7, 0.8), points=None, multimask=False)),
        ("point", dict(box=None, points=[px(0.5, 0.5) + [1]], multimask=True)),
        ("points", dict(box=None, points=[px(0.3, 0.4) + [1], px(0.6, 0.55) + [1], px(0.9, 0.1) + [0]],
                        multimask=False)),
        ("pointsbox", dict(box=px(0.1, 0.15) + px(0.8, 0.9), points=[px(0.45, 0.5) + [1], px(0.2, 0.8) + [0]],
                           multimask=True)),
        ("refine", dict(box=None, points=[px(0.5, 0.5) + [1], px(0.35, 0.6) + [0]], multimask=False,
                        mask="point")),
        ("boxmulti", dict(box=[0, 0, W, H], points=None, multimask=True)),
    ]


def run_image(predictor, path, out_npz, prompts_txt=None):
    img = np.asarray(Image.open(path))
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, -1)
    img = np.ascontiguousarray(img[:, :, :3])
    H, W = img.shape[:2]
    captured = {}
    enc = predictor.model.image_encoder
    hook = enc.register_forward_hook(lambda m, i, o: captured.__setitem__("x", i[0].detach().clone()))
    with torch.no_grad():
        predictor.set_image(img)
    hook.remove()
    x = captured["x"].numpy().astype(np.float32)
    resized = np.ascontiguousarray(predictor.transform.apply_image(img))
    arrays = {
        "hashes": np.array([fnv1a64(resized.tobytes()), fnv1a64(np.ascontiguousarray(x).tobytes())], np.int64),
        "features": predictor.features[0].numpy().astype(np.float32),
    }
    lines = []
    best_low = {}
    for name, c in cases_for(W, H):
        kw = dict(multimask_output=c["multimask"])
        if c["box"] is not None:
            kw["box"] = np.array(c["box"], np.float64)
        if c["points"] is not None:
            kw["point_coords"] = np.array([p[:2] for p in c["points"]], np.float64)
            kw["point_labels"] = np.array([p[2] for p in c["points"]], np.int64)
        if c.get("mask"):
            kw["mask_input"] = best_low[c["mask"]][None, :, :]
        masks, iou, low = predictor.predict(**kw)
        best_low[name] = low[int(np.argmax(iou))]
        arrays[f"{name}_lowres"] = low.astype(np.float32)
        arrays[f"{name}_iou"] = iou.astype(np.float32)
        m8 = np.ascontiguousarray(masks.astype(np.uint8))
        arrays[f"{name}_masks_hash"] = np.array([fnv1a64(m8.tobytes()), m8.size, int(m8.sum())], np.int64)
        box = ",".join(f"{v:g}" for v in c["box"]) if c["box"] is not None else "-"
        pts = ";".join(f"{p[0]:g},{p[1]:g},{p[2]}" for p in c["points"]) if c["points"] is not None else "-"
        lines.append(f"{name} multimask {int(c['multimask'])} box {box} points {pts} mask {c.get('mask') or '-'}")
    np.savez_compressed(out_npz, **arrays)
    if prompts_txt:
        with open(prompts_txt, "w") as f:
            f.write("\n".join(lines) + "\n")
    return arrays


def postprocess_cases(out_npz):
    g = torch.Generator().manual_seed(5)
    # (C, L, S, H, W): portrait, landscape, square, up and down, sizes equal to S
    geoms = [(1, 8, 32, 20, 31), (3, 8, 32, 20, 31), (1, 8, 32, 40, 23), (3, 8, 32, 40, 23),
             (1, 8, 32, 32, 32), (3, 8, 32, 45, 45), (1, 8, 32, 32, 19), (1, 8, 32, 19, 32),
             (1, 8, 32, 63, 40), (3, 8, 32, 7, 35), (1, 16, 64, 50, 61), (3, 16, 64, 17, 9)]
    arrays = {}
    for i, (C, L, S, H, W) in enumerate(geoms):
        dummy = types.SimpleNamespace(image_encoder=types.SimpleNamespace(img_size=S))
        from segment_anything.utils.transforms import ResizeLongestSide
        newh, neww = ResizeLongestSide.get_preprocess_shape(H, W, S)
        low = torch.randn((1, C, L, L), generator=g) * 5
        if C == 3:  # the decoder's multimask view: masks[:, 1:, :, :] of a (1, 4, L, L) tensor
            low = torch.cat([torch.zeros((1, 1, L, L)), low], 1)[:, 1:, :, :]
        else:  # masks[:, 0:1, :, :]
            low = torch.cat([low, torch.zeros((1, 3, L, L))], 1)[:, 0:1, :, :]
        with torch.no_grad():
            out = Sam.postprocess_masks(dummy, low, (newh, neww), (H, W))
        arrays[f"pp{i}_in"] = low[0].numpy().astype(np.float32)
        arrays[f"pp{i}_out"] = out[0].numpy().astype(np.float32)
        arrays[f"pp{i}_geom"] = np.array([C, L, S, newh, neww, H, W], np.int64)
    np.savez_compressed(out_npz, **arrays)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "tests/fixtures/tiny/model.pth"))
    ap.add_argument("--arch", default="tiny")
    ap.add_argument("--image", action="append")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures/sam_pipeline"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(a.out, exist_ok=True)
    sam = sam_ref.build_sam(a.arch)
    sam.load_state_dict(torch.load(a.model))
    predictor = SamPredictor(sam)
    images = a.image or [os.path.join(ROOT, "tests/fixtures/images", n) for n in ("chelsea.png", "cell.png")]
    for i, path in enumerate(images):
        name = os.path.splitext(os.path.basename(path))[0]
        run_image(predictor, path, os.path.join(a.out, name + ".npz"),
                  os.path.join(a.out, "prompts_" + name + ".txt"))
    if a.image is None:
        postprocess_cases(os.path.join(a.out, "postprocess.npz"))
    total = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print(f"wrote {a.out}: {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
