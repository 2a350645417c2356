"""Full-size parity data for the C TinyViT encoder: a random-initialised official
LiteMedSAM (lite_ref.CONFIGS["lite"]: CVPR24_LiteMedSAM_infer.py's TinyViT, prompt
encoder and mask decoder; BatchNorm statistics and attention biases randomised),
every encoder stage on a 256x256 input, and box -> logits.

    /usr/bin/python3 tools/ref/check_lite_encoder.py [OUT_DIR] [--seed N]

writes to OUT_DIR (default /tmp/medsam_lite; ~60 MB, never commit it):
    model.pth        torch.save(MedSAM_Lite.state_dict()) (the official key names)
    input.npy        (3, 256, 256) float32 in [0,1]: make_encoder_fixtures.hash_input
    stage/NAME.npy   each stage, channels-last (H, W, C) (make_lite_fixtures.stages)
    embedding.npy    (256, 64, 64) official image_encoder(input)
    box.npy, logits.npy (1, 256, 256), iou.npy: the LiteMedSAM decoder call on that embedding

Then (not part of `make test`):
    make build/libmedsam.a && cc -std=c11 -D_DEFAULT_SOURCE -O2 -fopenmp -Iinclude -Isrc -Itests \\
        tests/parity_lite.c build/libmedsam.a -o build/parity_lite -lpng -ljpeg -lz -lm
    ./build/parity_lite /tmp/medsam_lite [threads]       # target relL2 < 1e-5 per stage
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lite_ref  # noqa: E402
from make_encoder_fixtures import hash_input  # noqa: E402
from make_lite_fixtures import stages  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="/tmp/medsam_lite")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "stage"), exist_ok=True)
    torch.set_num_threads(a.threads)
    model = lite_ref.randomize_(lite_ref.build_lite("lite"), seed=a.seed)
    sd = model.state_dict()
    torch.save(sd, os.path.join(a.out, "model.pth"))
    n_enc = sum(p.numel() for p in model.image_encoder.parameters())
    print(f"{len(sd)} tensors; image encoder {n_enc} parameters")
    x = hash_input(3, 256, 256)
    np.save(os.path.join(a.out, "input.npy"), x)
    with torch.no_grad():
        for name, arr in stages(model.image_encoder, torch.from_numpy(x)[None]).items():
            np.save(os.path.join(a.out, "stage", name + ".npy"), arr)
        t0 = time.time()
        emb = model.image_encoder(torch.from_numpy(x)[None])
        dt = time.time() - t0
        np.save(os.path.join(a.out, "embedding.npy"), emb[0].numpy().astype(np.float32))
        box = np.array([37.0, 52.0, 181.0, 203.0], dtype=np.float32)
        np.save(os.path.join(a.out, "box.npy"), box)
        sparse, dense = model.prompt_encoder(points=None, boxes=torch.from_numpy(box)[None, None], masks=None)
        logits, iou = model.mask_decoder(image_embeddings=emb, image_pe=model.prompt_encoder.get_dense_pe(),
                                         sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                         multimask_output=False)
        np.save(os.path.join(a.out, "logits.npy"), logits[0].numpy().astype(np.float32))
        np.save(os.path.join(a.out, "iou.npy"), iou[0].numpy().astype(np.float32))
    print(f"official encoder: {dt:.2f} s with {a.threads} threads; embedding {tuple(emb.shape[1:])} -> {a.out}")


if __name__ == "__main__":
    main()
