"""Writes the fixtures of tests/test_init.c (src/core/rng.c, src/model/init.c),
made by PyTorch itself:

  rng_torch.npy        float32: a fixed sequence of uniform_/normal_ calls after
                       torch.manual_seed (the recipe is SEQUENCE below; the C test
                       replays it and compares bits);
  {arch}_seed{S}_sums.npy  int64, one per state_dict tensor: the checksum
                       sum_i bits_i * (2i + 1) mod 2^64 over the tensor's float32
                       bit patterns, of the official model built right after
                       torch.manual_seed(S).

    /usr/bin/python3 tools/ref/make_init_fixtures.py [OUT_DIR]
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402

# (op, n, a, b): "seed" sets torch.manual_seed(n); "uniform" is uniform_(a, b); "normal" is normal_(a, b).
# Covers: float uniforms with a Linear-like bound; normal_ over >= 16 values with a
# tail that is not a multiple of 16; the < 16 double path and its cached sample;
# a seed above 2^32 (only its low 32 bits count).
SEQUENCE = [
    ("seed", 0, 0, 0),
    ("uniform", 1000, -0.036084391824351615, 0.036084391824351615),
    ("uniform", 100, -3.0, 5.0),
    ("normal", 4099, 0.0, 1.0),
    ("normal", 37, 0.3, 0.7),
    ("normal", 5, 0.0, 1.0),
    ("normal", 3, 0.3, 0.7),
    ("normal", 16, 0.0, 1.0),
    ("seed", 123456789012345, 0, 0),
    ("normal", 7, 0.0, 1.0),
    ("uniform", 10, 0.0, 1.0),
]

MODELS = [("tiny", 0), ("tiny", 7), ("vit_b", 0)]


def checksum(t):
    w = t.detach().contiguous().view(torch.int32).numpy().view(np.uint32).ravel().astype(np.uint64)
    k = 2 * np.arange(w.size, dtype=np.uint64) + np.uint64(1)
    return (w * k).sum(dtype=np.uint64)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../tests/fixtures/init")
    os.makedirs(out, exist_ok=True)
    vals = []
    for op, n, a, b in SEQUENCE:
        if op == "seed":
            torch.manual_seed(n)
        elif op == "uniform":
            vals.append(torch.empty(n).uniform_(a, b))
        else:
            vals.append(torch.empty(n).normal_(a, b))
    seq = torch.cat(vals).numpy().astype(np.float32)
    np.save(os.path.join(out, "rng_torch.npy"), seq)
    print(f"rng_torch.npy: {seq.size} values")
    for arch, seed in MODELS:
        torch.manual_seed(seed)
        sd = sam_ref.build_sam(arch).state_dict()
        sums = np.array([checksum(v) for v in sd.values()], dtype=np.uint64).view(np.int64)
        name = f"{arch}_seed{seed}_sums.npy"
        np.save(os.path.join(out, name), sums)
        print(f"{name}: {sums.size} tensors")


if __name__ == "__main__":
    main()
