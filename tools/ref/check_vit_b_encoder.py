"""Full-size parity data for the C image encoder: a random-initialised official
ViT-B SAM (sam_ref.randomize_, fixed seed) and its image embedding.

    /usr/bin/python3 tools/ref/check_vit_b_encoder.py [OUT_DIR] [--no-flat] [--seed N]

writes to OUT_DIR (default /tmp/medsam_vit_b; ~1 GB free needed, never commit it):
    model.pth       torch.save(state_dict) of the whole Sam (375 MB, SAM key names)
    params.npy      every state_dict tensor flattened and concatenated in order
                    (= the C parameter table's buffer; skip with --no-flat)
    input.npy       (3, 1024, 1024) float32 in [0,1]: make_encoder_fixtures.hash_input
    embedding.npy   (256, 64, 64) float32, official image_encoder(input)

Then compare the C encoder (build by hand, it is not part of `make test`):
    make build/libmedsam.a && cc -std=c11 -D_DEFAULT_SOURCE -O2 -fopenmp -Iinclude -Isrc -Itests \\
        tests/parity_vit_b.c build/libmedsam.a -o build/parity_vit_b -lpng -ljpeg -lz -lm
    ./build/parity_vit_b /tmp/medsam_vit_b 2      # directory, threads; target relL2 < 1e-5
Takes ~30-60 s of PyTorch time on 2 cores and ~3 GB of memory (the (12,4096,4096) global
attention maps of the official code).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402
from make_encoder_fixtures import hash_input  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="/tmp/medsam_vit_b")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--no-flat", action="store_true", help="do not write params.npy")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(a.threads)

    sam = sam_ref.randomize_(sam_ref.build_sam("vit_b"), seed=a.seed)
    sd = sam.state_dict()
    torch.save(sd, os.path.join(a.out, "model.pth"))
    if not a.no_flat:
        flat = np.concatenate([v.detach().numpy().astype(np.float32).ravel() for v in sd.values()])
        np.save(os.path.join(a.out, "params.npy"), flat)
        print(f"{len(sd)} tensors, {flat.size} floats")
        del flat

    x = hash_input(3, 1024, 1024)
    np.save(os.path.join(a.out, "input.npy"), x)
    enc = sam.image_encoder.eval()
    with torch.no_grad():
        t0 = time.time()
        emb = enc(torch.from_numpy(x)[None])[0].numpy().astype(np.float32)
        dt = time.time() - t0
    np.save(os.path.join(a.out, "embedding.npy"), emb)
    print(f"official encoder: {dt:.1f} s with {a.threads} threads; embedding {emb.shape} "
          f"rms {float(np.sqrt((emb.astype(np.float64) ** 2).mean())):.4f} -> {a.out}")


if __name__ == "__main__":
    main()
