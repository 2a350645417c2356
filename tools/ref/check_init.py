"""Checks a `medsam init` checkpoint against the official modules:

  1. torch.load reads it and load_state_dict(strict=True) accepts it on the
     official model of the same architecture;
  2. its keys, order, shapes and dtypes equal sam.state_dict()'s;
  3. its values equal, bit for bit, those of the official model built right
     after torch.manual_seed(SEED) (PyTorch's default init; see src/model/init.h).

    /usr/bin/python3 tools/ref/check_init.py FILE.pth ARCH SEED

Prints one line per mismatching tensor (at most 20) and a summary; exits 1 on
any difference. SAM_REF_DIR selects the official checkout (default /work/ref/MedSAM).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402


def main():
    path, arch, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.manual_seed(seed)
    ref = sam_ref.build_sam(arch).state_dict()
    got = torch.load(path, map_location="cpu")
    problems = []
    if list(got.keys()) != list(ref.keys()):
        problems.append(f"key order differs: {len(got)} keys vs {len(ref)} in the official state_dict")
    n_equal = n_values = 0
    worst = 0.0
    for k, r in ref.items():
        g = got.get(k)
        if g is None:
            problems.append(f"{k}: missing")
            continue
        if g.shape != r.shape or g.dtype != r.dtype:
            problems.append(f"{k}: {tuple(g.shape)} {g.dtype}, expected {tuple(r.shape)} {r.dtype}")
            continue
        n_values += r.numel()
        eq = (g.view(torch.int32) == r.view(torch.int32))
        n_equal += int(eq.sum())
        if not bool(eq.all()):
            d = float((g - r).abs().max())
            worst = max(worst, d)
            problems.append(f"{k}: {int((~eq).sum())} of {r.numel()} values differ (max |diff| {d:.3g})")
    sam = sam_ref.build_sam(arch)
    sam.load_state_dict(got, strict=True)  # raises on any missing/unexpected key or shape
    for line in problems[:20]:
        print(line)
    print(f"{path}: {arch} seed {seed}: {len(got)} tensors, {n_values} values, "
          f"{n_equal} bit-identical to torch.manual_seed({seed}) + official build"
          f"{'' if not problems else f'; {len(problems)} problems, max |diff| {worst:.3g}'}; load_state_dict OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
