"""Full-size check of the C training step (train/model_grad.h) against PyTorch autograd:
a random-initialised official ViT-B SAM (sam_ref.randomize_, fixed seed), batch 1 at 1024,
train_one_gpu.py's forward and loss (make_grad_fixtures.loss_and_grads, hash inputs scaled
from the tiny test's).

    /usr/bin/python3 tools/ref/check_vit_b_grads.py [OUT_DIR] [--seed N] [--threads N]

writes to OUT_DIR (default /tmp/medsam_vit_b_grads; ~1 GB, never commit it):
    params.npy      every state_dict tensor, flattened and concatenated (= the C table's buffer)
    loss.npy        (3) float64 total, dice, bce
    grads_full.npy  every gradient in the same layout, float32 (zeros where .grad is None)
Then run the C side (prints loss, time, activation memory, worst per-tensor rel L2):
    make build/tests/test_model_grad && MS_GRAD_VITB_DIR=OUT_DIR ./build/tests/test_model_grad
PyTorch needs ~10 GB and a few minutes on 2 cores (the official code keeps the
(12, 4096, 4096) global attention maps for backward).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402
from make_grad_fixtures import loss_and_grads  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="/tmp/medsam_vit_b_grads")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    sam = sam_ref.randomize_(sam_ref.build_sam("vit_b"), seed=a.seed)
    sd = sam.state_dict(keep_vars=True)
    np.save(os.path.join(a.out, "params.npy"),
            np.concatenate([p.detach().flatten().numpy() for p in sd.values()]).astype(np.float32))
    t0 = time.time()
    loss, dice, bce = loss_and_grads(sam, 1)
    dt = time.time() - t0
    np.save(os.path.join(a.out, "loss.npy"), np.array([loss.item(), dice.item(), bce.item()], np.float64))
    np.save(os.path.join(a.out, "grads_full.npy"), np.concatenate(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).detach().flatten().numpy() for p in sd.values()]
    ).astype(np.float32))
    print("loss %.9g dice %.9g bce %.9g; PyTorch forward+backward %.1f s on %d threads"
          % (loss.item(), dice.item(), bce.item(), dt, a.threads))


if __name__ == "__main__":
    main()
