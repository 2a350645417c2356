"""Reference gradients of MedSAM's training step (train_one_gpu.py) for test_model_grad.c.

    /usr/bin/python3 tools/ref/make_grad_fixtures.py              # tests/fixtures/grad/ (tiny model)
    /usr/bin/python3 tools/ref/make_grad_fixtures.py --full DIR   # also DIR/grads_full.npy (every gradient, not committed)

The official modules (sam_ref.py, from $SAM_REF_DIR) are loaded with tests/fixtures/tiny/model.pth.
MedSAM.forward as in train_one_gpu.py: image_encoder(image) -> prompt_encoder(boxes[:, None, :]) under
no_grad -> mask_decoder(multimask_output=False) -> F.interpolate(low_res, (S, S), bilinear,
align_corners=False); loss = DiceLoss(sigmoid, squared_pred, mean) + BCEWithLogits(mean). monai is
not installed, so DiceLoss is written out: per (b, c) plane p = sigmoid(x),
1 - (2 sum(p g) + 1e-5) / (sum(g^2) + sum(p^2) + 1e-5), then the mean.

Inputs are not stored: they come from an integer hash that test_model_grad.c computes identically
(grad_hash below): images (B=2, 3, S, S) = (h >> 8) / 2^24, gt a rectangle per sample with 10% of
its pixels flipped by the hash, float boxes.

Stored (all float64, rows in parameter-table = state_dict order, names in names.txt):
  loss.npy  (3)  total, dice, bce
  grads.npy (ntensors, 2 + K + M): [has_grad (0: .grad is None), L2 norm, K=16 projections on
            +-1 vectors from the hash (sign of element j, projection r: hash(j*K + r, 1000 + k)),
            M=16 elements at indices hash(m, 5000 + k) % numel]
The projections estimate the relative L2 error of a whole tensor (Johnson-Lindenstrauss) without
storing it: the full gradients (1.4 MB) would be over the fixture budget. --full writes them all.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
K, M = 16, 16
M32 = np.uint64(0xFFFFFFFF)


def grad_hash(i, seed):
    """uint32 mix of (index, seed); same arithmetic as grad_hash in test_model_grad.c."""
    x = (np.asarray(i, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(seed) * np.uint64(40503)) & M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(2246822519)) & M32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(3266489917)) & M32
    x ^= x >> np.uint64(16)
    return x


# In a 128-pixel frame; scaled by S / 128 (an integer) for other sizes (check_vit_b_grads.py).
RECTS = [(24, 88, 32, 100), (44, 116, 14, 66)]           # x0, x1, y0, y1 (integers, exclusive ends)
BOXES = [(20.0, 28.5, 91.25, 104.0), (40.5, 10.25, 120.0, 70.75)]


def make_inputs(B, S):
    n = np.arange(B * 3 * S * S)
    img = ((grad_hash(n, 1) >> np.uint64(8)).astype(np.float64) / 16777216.0).astype(np.float32)
    img = img.reshape(B, 3, S, S)
    gt = np.zeros((B, S, S), np.float32)
    flip = ((grad_hash(np.arange(B * S * S), 2) >> np.uint64(8)).astype(np.float64) / 16777216.0 < 0.1)
    flip = flip.reshape(B, S, S)
    f = S // 128
    for b in range(B):
        x0, x1, y0, y1 = (v * f for v in RECTS[b])
        gt[b, y0:y1, x0:x1] = 1.0
        gt[b] = np.where(flip[b], 1.0 - gt[b], gt[b])
    return img, np.array(BOXES[:B], np.float32) * np.float32(f), gt


def dice_loss(x, g):
    p = torch.sigmoid(x)
    red = list(range(2, x.dim()))
    inter = (p * g).sum(red)
    den = (g * g).sum(red) + (p * p).sum(red)
    return (1.0 - (2.0 * inter + 1e-5) / (den + 1e-5)).mean()


def loss_and_grads(sam, B):
    """train_one_gpu.py's forward and loss on make_inputs(B, S); fills .grad. Returns (loss, dice, bce)."""
    S = sam.image_encoder.img_size
    img, boxes, gt = make_inputs(B, S)
    image, gt2D = torch.from_numpy(img), torch.from_numpy(gt)[:, None]
    for p in sam.prompt_encoder.parameters():
        p.requires_grad_(False)
    sam.train()
    # ref: train_one_gpu.py:MedSAM.forward
    image_embedding = sam.image_encoder(image)
    with torch.no_grad():
        box_torch = torch.as_tensor(boxes, dtype=torch.float32)[:, None, :]
        sparse, dense = sam.prompt_encoder(points=None, boxes=box_torch, masks=None)
    low_res, _ = sam.mask_decoder(image_embeddings=image_embedding, image_pe=sam.prompt_encoder.get_dense_pe(),
                                  sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                  multimask_output=False)
    pred = F.interpolate(low_res, size=(S, S), mode="bilinear", align_corners=False)
    dice = dice_loss(pred, gt2D)
    bce = F.binary_cross_entropy_with_logits(pred, gt2D, reduction="mean")
    loss = dice + bce
    loss.backward()
    return loss, dice, bce


def main():
    full = sys.argv[sys.argv.index("--full") + 1] if "--full" in sys.argv else None
    sam = sam_ref.build_sam("tiny")
    sam.load_state_dict(torch.load(os.path.join(ROOT, "tests/fixtures/tiny/model.pth")))
    loss, dice, bce = loss_and_grads(sam, 2)
    out = os.path.join(ROOT, "tests/fixtures/grad")
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "loss.npy"), np.array([loss.item(), dice.item(), bce.item()], np.float64))
    names, rows, flat = [], [], []
    for k, (name, p) in enumerate(sam.state_dict(keep_vars=True).items()):
        names.append(name)
        g = p.grad
        has = g is not None
        gv = g.detach().double().flatten().numpy() if has else np.zeros(p.numel())
        flat.append(gv.astype(np.float32))
        j = np.arange(gv.size)
        proj = []
        for r in range(K):
            sgn = np.where(grad_hash(j * K + r, 1000 + k) >> np.uint64(31), -1.0, 1.0)
            proj.append(float(np.dot(sgn, gv)))
        idx = (grad_hash(np.arange(M), 5000 + k) % np.uint64(gv.size)).astype(np.int64)
        rows.append([1.0 if has else 0.0, float(np.linalg.norm(gv))] + proj + list(gv[idx]))
    np.save(os.path.join(out, "grads.npy"), np.array(rows, np.float64))
    with open(os.path.join(out, "names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    if full:
        os.makedirs(full, exist_ok=True)
        np.save(os.path.join(full, "grads_full.npy"), np.concatenate(flat))
    print("loss %.9g dice %.9g bce %.9g, %d tensors" % (loss.item(), dice.item(), bce.item(), len(names)))


if __name__ == "__main__":
    main()
