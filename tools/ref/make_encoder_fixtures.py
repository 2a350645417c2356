"""Stage-by-stage reference dumps of the official image encoder for tests/test_encoder.c.

Loads the tiny fixture model (tests/fixtures/tiny/model.pth) into the official
ImageEncoderViT (built by sam_ref.py from $SAM_REF_DIR), runs it on a
deterministic pseudo-random input in [0,1] and records, with forward hooks:

    patch_embed.npy   (G, G, C)   patch_embed output + pos_embed (what block 0 receives)
    block.N.npy       (G, G, C)   output of blocks[N]
    neck.npy          (O, G, G)   the embedding, NCHW as the official code returns it

The input is not stored: it is hash_input(3, img, img) below, which the C test
recomputes exactly (integer hash -> 24-bit fraction, exact in float32).

    /usr/bin/python3 tools/ref/make_encoder_fixtures.py [MODEL.pth] [OUT_DIR]
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def hash_input(c, h, w, seed=12345):
    """x[i] = (mix(i + seed) >> 8) / 2^24 for the flat CHW index i, mix = 32-bit
    xorshift-multiply hash (same as tests/test_encoder.c:enc_hash_input)."""
    i = np.arange(c * h * w, dtype=np.uint64) + np.uint64(seed)
    m = np.uint64(0xFFFFFFFF)
    x = i & m
    x = ((x ^ (x >> np.uint64(16))) * np.uint64(0x7FEB352D)) & m
    x = ((x ^ (x >> np.uint64(15))) * np.uint64(0x846CA68B)) & m
    x = x ^ (x >> np.uint64(16))
    return ((x >> np.uint64(8)).astype(np.float64) / 16777216.0).astype(np.float32).reshape(c, h, w)


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../tests/fixtures/tiny/model.pth")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "../../tests/fixtures/encoder")
    os.makedirs(out, exist_ok=True)
    sam = sam_ref.build_sam("tiny")
    sam.load_state_dict(torch.load(model, map_location="cpu"))
    enc = sam.image_encoder.eval()

    img = enc.img_size
    x = torch.from_numpy(hash_input(3, img, img))[None]
    dumps = {}

    def keep(name, add=None):
        def hook(_mod, _inp, output):
            t = output if add is None else output + add
            dumps[name] = t[0].detach().numpy().astype(np.float32).copy()
        return hook

    # ref: image_encoder.py:ImageEncoderViT.forward -- x = patch_embed(x); x = x + pos_embed
    enc.patch_embed.register_forward_hook(keep("patch_embed", enc.pos_embed))
    for i, blk in enumerate(enc.blocks):
        blk.register_forward_hook(keep(f"block.{i}"))
    with torch.no_grad():
        emb = enc(x)
    dumps["neck"] = emb[0].numpy().astype(np.float32)
    for name, arr in dumps.items():
        np.save(os.path.join(out, name + ".npy"), arr)
        print(f"{name:12s} {tuple(arr.shape)} rms {float(np.sqrt((arr.astype(np.float64) ** 2).mean())):.4f}")
    print(f"input checksum {float(x.double().sum()):.6f} -> {out}")


if __name__ == "__main__":
    main()
