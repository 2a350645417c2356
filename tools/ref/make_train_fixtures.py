#!/usr/bin/env python3
"""Fixtures for tests/test_train_infra.c (run with /usr/bin/python3, torch 1.13).

  pyrandom.txt   Python `random` outputs (seed -> getrandbits / randint / choice / shuffle)
  jitter.txt     box jitter of MedSAM's NpyDataset.__getitem__ formula, same seed
  adamw.txt      torch.optim.AdamW over several steps on small tensors

Values are written as text (repr of floats = exact round trip)."""
import os
import random
import sys

import numpy as np
import torch

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


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        check_checkpoint(sys.argv[2])
        sys.exit(0)
    os.makedirs(OUT, exist_ok=True)
    write_pyrandom(os.path.join(OUT, "pyrandom.txt"))
    write_jitter(os.path.join(OUT, "jitter.txt"))
    write_adamw(os.path.join(OUT, "adamw.txt"))
