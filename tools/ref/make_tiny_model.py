"""Writes the CI fixture model: tests/fixtures/tiny/model.pth, a random-initialised
official SAM module in the "tiny" configuration saved with torch.save(state_dict),
plus params.npy (every parameter flattened, concatenated in state_dict order).

    /usr/bin/python3 tools/ref/make_tiny_model.py [OUT_DIR]
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../tests/fixtures/tiny")
os.makedirs(out, exist_ok=True)
sam = sam_ref.randomize_(sam_ref.build_sam("tiny"), seed=1234)
sd = sam.state_dict()
torch.save(sd, os.path.join(out, "model.pth"))
flat = np.concatenate([v.detach().numpy().astype(np.float32).ravel() for v in sd.values()])
np.save(os.path.join(out, "params.npy"), flat)
print(f"{len(sd)} tensors, {flat.size} floats -> {out}")
