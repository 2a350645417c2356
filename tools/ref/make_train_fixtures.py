#!/usr/bin/env python3
"""Fixtures for tests/test_train_infra.c (run with /usr/bin/python3, torch 1.13).

  pyrandom.txt   Python `random` outputs (seed -> getrandbits / randint / choice / shuffle)
  jitter.txt     box jitter of MedSAM's NpyDataset.__getitem__ formula, same seed
  adamw.txt      torch.optim.AdamW over several steps on small tensors
Also: --check CKPT (torch.load + AdamW.load_state_dict of a `medsam train` checkpoint) and
--replay ... (the same training run in PyTorch with the official modules, compared).

Values are written as text (repr of floats = exact round trip)."""
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/train"


def write_pyrandom(path):
    lines = []
    for seed in (0, 2023, 2**40 + 12345, 4294967295):
        r = random.Random(seed)
        bits = [r.getrandbits(k) for k in (32, 1, 7, 31, 32, 64, 5)]
        ints = [r.randint(0, 20) for _ in range(8)] + [r.randint(0, 0), r.randint(3, 1000)]
        choice = [r.choice([1, 4, 5, 9, 11]) for _ in range(6)]
        seq = list(range(10))
        r.shuffle(seq)
        lines.append("seed %d" % seed)
        lines.append("bits " + " ".join(str(b) for b in bits))
        lines.append("randint " + " ".join(str(v) for v in ints))
        lines.append("choice " + " ".join(str(v) for v in choice))
        lines.append("shuffle " + " ".join(str(v) for v in seq))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_jitter(path):
    # A 40x48 (H, W) label map with labels 2, 5, 7; the official formula
    # (train_one_gpu.py NpyDataset.__getitem__) applied 12 times on one generator.
    gt = np.zeros((40, 48), np.uint8)
    gt[3:10, 30:46] = 2
    gt[20:39, 1:9] = 5
    gt[12:17, 12:40] = 7
    random.seed(77)
    rows = []
    for _ in range(12):
        label_ids = np.unique(gt)[1:]
        lab = random.choice(label_ids.tolist())
        gt2D = np.uint8(gt == lab)
        y_indices, x_indices = np.where(gt2D > 0)
        x_min, x_max = np.min(x_indices), np.max(x_indices)
        y_min, y_max = np.min(y_indices), np.max(y_indices)
        H, W = gt2D.shape
        bbox_shift = 20
        x_min = max(0, x_min - random.randint(0, bbox_shift))
        x_max = min(W, x_max + random.randint(0, bbox_shift))
        y_min = max(0, y_min - random.randint(0, bbox_shift))
        y_max = min(H, y_max + random.randint(0, bbox_shift))
        rows.append("%d %d %d %d %d" % (lab, x_min, y_min, x_max, y_max))
    np.save(os.path.join(OUT, "jitter_gt.npy"), gt)
    with open(path, "w") as f:
        f.write("seed 77 shift 20\n" + "\n".join(rows) + "\n")


def write_adamw(path):
    g = torch.Generator().manual_seed(5)
    shapes = [(3, 4), (5,), (2, 2), (6,)]
    params = [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in shapes]
    init = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)
    steps = 6
    grads = []
    for t in range(steps):
        gs = []
        for i, p in enumerate(params):
            if i == 2:  # a parameter that never gets a gradient (like the IoU head)
                p.grad = None
                gs.append(None)
                continue
            gr = torch.randn(*p.shape, generator=g) * (0.1 + t)
            p.grad = gr.clone()
            gs.append(gr)
        opt.step()
        grads.append(gs)
    sd = opt.state_dict()
    with open(path, "w") as f:
        f.write("nparams %d steps %d lr %r wd %r\n" % (len(params), steps, 1e-2, 0.01))
        for p, s in zip(init, shapes):
            f.write("init %d %s\n" % (p.numel(), " ".join(repr(float(v)) for v in p.flatten())))
        for t in range(steps):
            for i, gr in enumerate(grads[t]):
                if gr is None:
                    f.write("grad none\n")
                else:
                    f.write("grad %s\n" % " ".join(repr(float(v)) for v in gr.flatten()))
        for i, p in enumerate(params):
            f.write("final %s\n" % " ".join(repr(float(v)) for v in p.detach().flatten()))
            st = sd["state"].get(i)
            if st is None:
                f.write("state none\n")
            else:
                f.write("state %r %s %s\n" % (float(st["step"]),
                        " ".join(repr(float(v)) for v in st["exp_avg"].flatten()),
                        " ".join(repr(float(v)) for v in st["exp_avg_sq"].flatten())))


def check_checkpoint(path):
    """Loads a checkpoint written by medsam train: torch.load, the optimizer state
    into a torch AdamW over image_encoder + mask_decoder parameters (by name order)."""
    ck = torch.load(path, map_location="cpu")
    sd = ck["model"]
    names = [k for k in sd if k.startswith("image_encoder.")] + [k for k in sd if k.startswith("mask_decoder.")]
    params = [torch.nn.Parameter(sd[k].clone()) for k in names]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    opt.load_state_dict(ck["optimizer"])
    osd = opt.state_dict()
    assert isinstance(ck["epoch"], int)
    for i, st in osd["state"].items():
        assert st["exp_avg"].shape == params[i].shape, names[i]
        assert st["step"].dim() == 0 and st["step"].dtype == torch.float32
    print("ok epoch=%d tensors=%d optimizer_states=%d lr=%g" % (ck["epoch"], len(sd), len(osd["state"]),
                                                                   osd["param_groups"][0]["lr"]))


def dice_bce(pred, gt):
    """monai DiceLoss(sigmoid=True, squared_pred=True, reduction="mean") + BCEWithLogitsLoss
    (the formula of src/train/loss.h; monai is not installed here)."""
    p = torch.sigmoid(pred)
    dims = tuple(range(2, pred.dim()))
    inter = (p * gt).sum(dims)
    den = (gt * gt).sum(dims) + (p * p).sum(dims)
    dice = (1.0 - (2.0 * inter + 1e-5) / (den + 1e-5)).mean()
    return dice + F.binary_cross_entropy_with_logits(pred, gt)


def replay(data, init, ckpt, epochs, batch, lr, wd, shift, seed, val_fraction):
    """Re-runs `medsam train` in PyTorch with the official modules: the same split,
    order and jitter (Python random, as src/train/trainer.h documents), the official
    box formula, MedSAM.forward, Dice + BCE and torch AdamW; then compares the
    weights with the C run's checkpoint."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from sam_ref import build_sam
    sam = build_sam("tiny")
    sd0 = torch.load(init, map_location="cpu")
    sam.load_state_dict(sd0, strict=False)
    S = sam.image_encoder.img_size
    names = sorted(os.path.basename(f) for f in os.listdir(os.path.join(data, "gts"))
                   if f.endswith(".npy") and os.path.isfile(os.path.join(data, "imgs", f)))
    n = len(names)
    nv = min(int(np.floor(val_fraction * n + 0.5)), n - 1)
    perm = list(range(n))
    if nv > 0:
        random.seed(seed)
        random.shuffle(perm)
    val = set(perm[:nv])
    train = [i for i in range(n) if i not in val]
    params = list(sam.image_encoder.parameters()) + list(sam.mask_decoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    for p in sam.prompt_encoder.parameters():
        p.requires_grad = False
    random.seed(seed)
    steps = 0
    for epoch in range(epochs):
        order = list(train)
        random.shuffle(order)
        for b0 in range(0, len(order), batch):
            imgs, gts, boxes = [], [], []
            for idx in order[b0:b0 + batch]:
                img = np.load(os.path.join(data, "imgs", names[idx]))
                gt = np.load(os.path.join(data, "gts", names[idx]))
                label_ids = np.unique(gt)[1:]
                gt2D = np.uint8(gt == random.choice(label_ids.tolist()))
                y_indices, x_indices = np.where(gt2D > 0)
                x_min, x_max = np.min(x_indices), np.max(x_indices)
                y_min, y_max = np.min(y_indices), np.max(y_indices)
                H, W = gt2D.shape
                x_min = max(0, x_min - random.randint(0, shift))
                x_max = min(W, x_max + random.randint(0, shift))
                y_min = max(0, y_min - random.randint(0, shift))
                y_max = min(H, y_max + random.randint(0, shift))
                imgs.append(torch.tensor(np.transpose(img, (2, 0, 1))).float())
                gts.append(torch.tensor(gt2D[None]).float())
                boxes.append([x_min, y_min, x_max, y_max])
            image = torch.stack(imgs)
            gt = torch.stack(gts)
            box = torch.tensor(boxes, dtype=torch.float32)[:, None, :]
            opt.zero_grad()
            emb = sam.image_encoder(image)
            with torch.no_grad():
                sparse, dense = sam.prompt_encoder(points=None, boxes=box, masks=None)
            low, _ = sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=False)
            pred = F.interpolate(low, size=(S, S), mode="bilinear", align_corners=False)
            loss = dice_bce(pred, gt)
            loss.backward()
            opt.step()
            steps += 1
    ck = torch.load(ckpt, map_location="cpu")
    got = ck["model"]
    worst_rel = 0.0
    num = den = 0.0
    for k, v in sam.state_dict().items():
        if k not in got:
            continue
        d0 = (v - sd0[k]).double()
        dc = (got[k] - sd0[k]).double()
        num += float(((dc - d0) ** 2).sum())
        den += float((d0 ** 2).sum())
    rel = (num / den) ** 0.5 if den > 0 else 0.0
    step_c = float(ck["optimizer"]["state"][0]["step"])
    ok = rel < 2e-3 and step_c == steps
    print("%s replay of %d steps: rel L2 of the weight change C vs torch %.2e (tolerance 2e-3), step %g" %
          ("ok" if ok else "FAIL", steps, rel, step_c))
    return ok


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        check_checkpoint(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) > 2 and sys.argv[1] == "--replay":
        # --replay DATA INIT CKPT EPOCHS BATCH LR WD SHIFT SEED VAL_FRACTION
        a = sys.argv[2:]
        sys.exit(0 if replay(a[0], a[1], a[2], int(a[3]), int(a[4]), float(a[5]), float(a[6]), int(a[7]),
                             int(a[8]), float(a[9])) else 1)
    os.makedirs(OUT, exist_ok=True)
    write_pyrandom(os.path.join(OUT, "pyrandom.txt"))
    write_jitter(os.path.join(OUT, "jitter.txt"))
    write_adamw(os.path.join(OUT, "adamw.txt"))
