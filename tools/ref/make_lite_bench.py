"""Inputs of `make bench`'s LiteMedSAM part, all written by the official code:

    /usr/bin/python3 tools/ref/make_lite_bench.py OUT_DIR [--image retina.jpg] [--box x0,y0,x1,y1]
                                                  [--slices 80] [--zbox 10,69]

OUT_DIR (generated, never committed; ~60 MB):
  lite.pth          a full-size LiteMedSAM (CVPR24_LiteMedSAM_infer.py's TinyViT, prompt encoder and
                    mask decoder, built by lite_ref.py from tiny_vit_sam.py + segment_anything), random
                    weights with randomised BatchNorm statistics and attention biases
                    (lite_ref.randomize_, seed 2024): the state_dict as torch.save writes it
  encoder.onnx      torch.onnx.export of the same model's image_encoder (opset 13, constant folding:
                    BatchNorm folded by the exporter), input "image" (1,3,256,256) -> "embedding"
  input.f32         (1,3,256,256) float32, raw: the lite pipeline's encoder input of the 2-D image
  embedding.f32     (1,256,64,64) float32, raw: the official image_encoder(input) (to check ORT's output)
  2D_bench.npz      CVPR24 2-D case: imgs (H,W,3) uint8 = the image (RGB), boxes (1,4) = the box
  3D_bench.npz      CVPR24 3-D case: imgs (D,512,512) uint8 (a bright ellipsoid over a ramp), spacing,
                    boxes (1,6) [x0,y0,z0,x1,y1,z1] with z0..z1 = --zbox (60 slices by default)
  work.txt          the official model's multiply-accumulates, counted with forward hooks (below)

The count: forward hooks on every nn.Conv2d (out.numel() * in/groups * kh * kw) and nn.Linear
(out.numel() * in_features), and on every tiny_vit_sam.Attention (q @ k^T and attn @ v:
B * heads * N * N * (key_dim + d)), summed over one forward of image_encoder at 256x256. These
are the operations the official model runs (windowed blocks pad to whole windows first, so
their qkv/proj run on padded tokens too). LayerNorm, softmax, GELU, BatchNorm (folded) and adds
are not counted.
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lite_ref  # noqa: E402  (extracts the official modules, timm stand-in)
import tiny_vit_sam  # noqa: E402
import make_lite_e2e_fixtures as e2e  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def script_namespace(model_path, pred_dir, config="lite"):
    """CVPR24_LiteMedSAM_infer.py's functions and MedSAM_Lite class (taken from its source with
    ast, as make_lite_e2e_fixtures.py does; the script parses arguments and loads its checkpoint at
    import time), in a namespace holding what its module would: medsam_lite_model (model_path,
    built by the official modules at `config` size), device cpu, pred_save_dir, save_overlay False."""
    import ast
    import subprocess
    from os.path import basename, join

    import cv2
    import torch.nn.functional as F
    from torch import nn
    path = join(lite_ref.REF_DIR, e2e.SCRIPT)
    if not os.path.exists(path):
        arch = subprocess.run(["git", "-C", lite_ref.MIRROR, "archive", "LiteMedSAM", e2e.SCRIPT], check=True,
                              stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", lite_ref.REF_DIR], input=arch, check=True)
    tree = ast.parse(open(path).read(), path)
    keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in e2e.NAMES]
    assert {n.name for n in keep} == set(e2e.NAMES), "the official script changed"
    ns = {"np": np, "torch": torch, "nn": nn, "F": F, "cv2": cv2, "join": join, "basename": basename,
          "device": torch.device("cpu"), "pred_save_dir": pred_dir, "save_overlay": False}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    parts = lite_ref.build_lite(config)
    model = ns["MedSAM_Lite"](image_encoder=parts.image_encoder, mask_decoder=parts.mask_decoder,
                              prompt_encoder=parts.prompt_encoder)
    model.load_state_dict(torch.load(model_path, map_location="cpu"))
    model.eval()
    ns["medsam_lite_model"] = model
    return ns


def count_macs(encoder, x):
    total = {"conv": 0, "linear": 0, "attention": 0}
    hooks = []

    def conv(m, inp, out):
        total["conv"] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, inp, out):
        total["linear"] += out.numel() * m.in_features

    def attention(m, inp, out):
        B, N, _ = inp[0].shape
        total["attention"] += B * m.num_heads * N * N * (m.key_dim + m.d)

    for mod in encoder.modules():
        if isinstance(mod, torch.nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv))
        elif isinstance(mod, torch.nn.Linear):
            hooks.append(mod.register_forward_hook(linear))
        elif isinstance(mod, tiny_vit_sam.Attention):
            hooks.append(mod.register_forward_hook(attention))
    with torch.no_grad():
        encoder(x)
    for h in hooks:
        h.remove()
    return total


def volume(d, h, w):
    """A grey CT-like volume: a bright ellipsoid that grows and shrinks along z over a ramp (uint8)."""
    z, y, x = np.mgrid[0:d, 0:h, 0:w].astype(np.float32)
    r = 0.3 * (1 - ((z - d / 2) / (d / 1.6)) ** 2)
    blob = ((y / h - 0.5) ** 2 + (x / w - 0.45) ** 2) < r ** 2
    v = 30 + 60 * x / w + 140 * blob + 10 * np.sin(y / 5.0)
    return np.clip(v, 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--image", default=os.path.join(ROOT, "tests", "fixtures", "images", "retina.jpg"))
    ap.add_argument("--box", default="300,300,1100,1100")
    ap.add_argument("--slices", type=int, default=80)
    ap.add_argument("--zbox", default="10,69")
    ap.add_argument("--seed", type=int, default=2024)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(2)
    model = lite_ref.randomize_(lite_ref.build_lite("lite"), seed=a.seed)
    torch.save(model.state_dict(), os.path.join(a.out, "lite.pth"))

    from PIL import Image
    img = np.asarray(Image.open(a.image).convert("RGB"))
    box = np.array([[int(v) for v in a.box.split(",")]], np.int64)
    np.savez_compressed(os.path.join(a.out, "2D_bench.npz"), imgs=img, boxes=box)
    z0, z1 = (int(v) for v in a.zbox.split(","))
    vol = volume(a.slices, 512, 512)
    np.savez_compressed(os.path.join(a.out, "3D_bench.npz"), imgs=vol, spacing=np.array([0.8, 0.8, 2.5]),
                        boxes=np.array([[150, 140, z0, 330, 370, z1]], np.int64))

    # the encoder input exactly as the official script makes it (lines 386-390)
    ns = script_namespace(os.path.join(a.out, "lite.pth"), a.out)
    img256 = ns["resize_longest_side"](img, 256)
    norm = (img256 - img256.min()) / np.clip(img256.max() - img256.min(), a_min=1e-8, a_max=None)
    x = torch.tensor(ns["pad_image"](norm, 256)).float().permute(2, 0, 1).unsqueeze(0).contiguous()
    enc = model.image_encoder
    with torch.no_grad():
        emb = enc(x)
    x.numpy().astype("<f4").tofile(os.path.join(a.out, "input.f32"))
    emb.numpy().astype("<f4").tofile(os.path.join(a.out, "embedding.f32"))
    work = count_macs(enc, x)
    with open(os.path.join(a.out, "work.txt"), "w") as f:
        for k, v in work.items():
            f.write(f"official_gmac_{k} {v * 1e-9:.4f}\n")
        f.write(f"official_gmac {sum(work.values()) * 1e-9:.4f}\n")
    torch.onnx.export(enc, x, os.path.join(a.out, "encoder.onnx"), input_names=["image"],
                      output_names=["embedding"], opset_version=13, do_constant_folding=True)
    print(f"official LiteMedSAM image encoder: {sum(work.values()) * 1e-9:.2f} GMAC per 256x256 image "
          f"(conv {work['conv'] * 1e-9:.2f}, linear {work['linear'] * 1e-9:.2f}, "
          f"attention {work['attention'] * 1e-9:.2f}); wrote {a.out}")


if __name__ == "__main__":
    main()
