"""LiteMedSAM fixtures for tests/test_tinyvit.c (and a tiny checkpoint for the
LiteMedSAM pipeline's tests), from the official modules (lite_ref.py: TinyViT of
bowang-lab/MedSAM's LiteMedSAM branch, the segment_anything prompt encoder and
mask decoder, wrapped as CVPR24_LiteMedSAM_infer.py's MedSAM_Lite).

    /usr/bin/python3 tools/ref/make_lite_fixtures.py [OUT_DIR]   (default tests/fixtures/lite)

writes
    model.pth          torch.save(MedSAM_Lite.state_dict()) of the "small" config (lite_ref.CONFIGS),
                       random weights, BatchNorm running statistics and attention biases included
    stage/NAME.npy     the encoder stage by stage on a 64x64 input (hash_input(3, 64, 64)), channels-last
                       (H, W, C): patch_embed, layer0.block.K, layer0.downsample, layer1.block.K, ...,
                       and neck (O, 16, 16) NCHW. The weights do not depend on the input size; 64x64
                       keeps the dumps small (forward_features views its result as 64x64, so this run
                       chains the official submodules itself, exactly as forward_features does).
    embedding.npy      (O, 64, 64) image_encoder(hash_input(3, 256, 256)), the LiteMedSAM size
    box.npy            (4,) a box in 256x256 input coordinates
    logits.npy         (1, 256, 256) low-resolution logits, multimask_output=False (the LiteMedSAM call)
    iou.npy            (1,)
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lite_ref  # noqa: E402
from make_encoder_fixtures import hash_input  # noqa: E402


def nhwc(t):
    """(1, C, H, W) or (1, L, C) tokens with L = H*W -> contiguous float32 (H, W, C)."""
    a = t[0].detach().numpy().astype(np.float32)
    if a.ndim == 3:
        return np.ascontiguousarray(a.transpose(1, 2, 0))
    g = int(round(a.shape[0] ** 0.5))
    return np.ascontiguousarray(a.reshape(g, g, a.shape[1]))


def stages(enc, x):
    """Runs TinyViT.forward_features module by module, keeping every stage."""
    out = {}
    x = enc.patch_embed(x)
    out["patch_embed"] = nhwc(x)
    for i, layer in enumerate(enc.layers):
        for k, blk in enumerate(layer.blocks):
            x = blk(x)
            out[f"layer{i}.block.{k}"] = nhwc(x)
        if layer.downsample is not None:
            x = layer.downsample(x)
            out[f"layer{i}.downsample"] = nhwc(x)
    B, L, C = x.shape
    g = int(round(L ** 0.5))
    x = x.view(B, g, g, C).permute(0, 3, 1, 2)  # forward_features: x.view(B, 64, 64, C) at 256
    out["neck"] = enc.neck(x)[0].detach().numpy().astype(np.float32)
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../tests/fixtures/lite")
    os.makedirs(os.path.join(out, "stage"), exist_ok=True)
    torch.set_num_threads(1)
    model = lite_ref.randomize_(lite_ref.build_lite("small"), seed=2024)
    sd = model.state_dict()
    torch.save(sd, os.path.join(out, "model.pth"))

    with torch.no_grad():
        # stage by stage at 64x64: the same weights in a TinyViT built for img_size 64
        enc64 = lite_ref.build_encoder(lite_ref.CONFIGS["small"], img_size=64)
        enc64.load_state_dict({k[len("image_encoder."):]: v for k, v in sd.items() if k.startswith("image_encoder.")})
        enc64.eval()
        for name, a in stages(enc64, torch.from_numpy(hash_input(3, 64, 64))[None]).items():
            np.save(os.path.join(out, "stage", name + ".npy"), a)
            print(f"{name:22s} {tuple(a.shape)} rms {float(np.sqrt((a.astype(np.float64) ** 2).mean())):.4f}")

        # the LiteMedSAM size, through the official forward and the decoder path of
        # CVPR24_LiteMedSAM_infer.py:medsam_inference
        emb = model.image_encoder(torch.from_numpy(hash_input(3, 256, 256))[None])
        np.save(os.path.join(out, "embedding.npy"), emb[0].numpy().astype(np.float32))
        box = np.array([37.0, 52.0, 181.0, 203.0], dtype=np.float32)
        np.save(os.path.join(out, "box.npy"), box)
        sparse, dense = model.prompt_encoder(points=None, boxes=torch.from_numpy(box)[None, None], masks=None)
        for multi, suffix in ((False, ""),):
            logits, iou = model.mask_decoder(image_embeddings=emb, image_pe=model.prompt_encoder.get_dense_pe(),
                                             sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                             multimask_output=multi)
            np.save(os.path.join(out, f"logits{suffix}.npy"), logits[0].numpy().astype(np.float32))
            np.save(os.path.join(out, f"iou{suffix}.npy"), iou[0].numpy().astype(np.float32))
            print(f"logits{suffix} {tuple(logits.shape)} iou {iou[0].numpy()}")
    print(f"{len(sd)} tensors, {sum(v.numel() for v in sd.values())} values -> {out}")


if __name__ == "__main__":
    main()
