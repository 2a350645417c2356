"""Runs the official MedSAM_Inference.py pipeline (same calls, same order) with the
official model code on a checkpoint, and writes what medsam.c must reproduce:

    <out>/input.npy    float32 (S,S,3) encoder input after resize/uint8/min-max
    <out>/embedding.npy float32 (1,256,G,G)
    <out>/logits.npy   float32 (N,1,4G,4G) low-resolution logits, one per box
    <out>/mask.png     uint8 labels: 255 for one box, k for the k-th box

Usage (Debian python3 with python3-torch and python3-skimage):
    /usr/bin/python3 tools/ref/medsam_reference.py --checkpoint model.pth --arch vit_b \
        --image img.png --box 95,255,190,350 [--box ...] --out DIR

The checkpoint is loaded with torch.load + load_state_dict into the official
modules (tools/ref/sam_ref.py builds them for any configuration); images are
read with skimage.io.imread exactly as MedSAM_Inference.py does. RGBA inputs
have their alpha dropped (the official script would crash on them).
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from skimage import io, transform

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--checkpoint", required=True)
p.add_argument("--arch", default="vit_b")
p.add_argument("--image", required=True)
p.add_argument("--box", action="append", required=True)
p.add_argument("--out", required=True)
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
torch.set_num_threads(int(os.environ.get("REF_THREADS", "2")))

model = sam_ref.build_sam(a.arch)
sd = torch.load(a.checkpoint, map_location="cpu")
model.load_state_dict(sd)
model.eval()
S = model.image_encoder.img_size

# ref: MedSAM_Inference.py:114-130
img_np = io.imread(a.image)
if len(img_np.shape) == 2:
    img_3c = np.repeat(img_np[:, :, None], 3, axis=-1)
else:
    img_3c = img_np[:, :, :3]
H, W, _ = img_3c.shape
img_1024 = transform.resize(img_3c, (S, S), order=3, preserve_range=True, anti_aliasing=True).astype(np.uint8)
img_1024 = (img_1024 - img_1024.min()) / np.clip(img_1024.max() - img_1024.min(), a_min=1e-8, a_max=None)
img_1024_tensor = torch.tensor(img_1024).float().permute(2, 0, 1).unsqueeze(0)
np.save(os.path.join(a.out, "input.npy"), img_1024_tensor[0].permute(1, 2, 0).numpy())

with torch.no_grad():
    image_embedding = model.image_encoder(img_1024_tensor)
np.save(os.path.join(a.out, "embedding.npy"), image_embedding.numpy())

labels = np.zeros((H, W), np.uint8)
logits_all = []
for k, b in enumerate(a.box):
    box_np = np.array([[int(x) for x in b.split(",")]])
    box_1024 = box_np / np.array([W, H, W, H]) * S
    # ref: MedSAM_Inference.py:medsam_inference
    with torch.no_grad():
        box_torch = torch.as_tensor(box_1024, dtype=torch.float)[:, None, :]
        sparse, dense = model.prompt_encoder(points=None, boxes=box_torch, masks=None)
        low_res_logits, _ = model.mask_decoder(
            image_embeddings=image_embedding, image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False)
        pred = F.interpolate(torch.sigmoid(low_res_logits), size=(H, W), mode="bilinear", align_corners=False)
    seg = (pred.squeeze().numpy() > 0.5)
    labels[seg] = k + 1
    logits_all.append(low_res_logits.numpy())
if len(a.box) == 1:
    labels = labels * 255
np.save(os.path.join(a.out, "logits.npy"), np.concatenate(logits_all, 0).astype(np.float32))
io.imsave(os.path.join(a.out, "mask.png"), labels, check_contrast=False)
print(f"{a.image}: {W}x{H}, {len(a.box)} box(es), mask pixels {int((labels > 0).sum())} -> {a.out}")
