"""Builds official SAM/MedSAM modules (from a checkout of bowang-lab/MedSAM or
facebookresearch/segment-anything) for any configuration, for reference dumps.

The official code is imported from $SAM_REF_DIR (default /work/ref/MedSAM); it is
never copied into this repository. Run with Debian's python3 (python3-torch).
"""
import os
import sys
from functools import partial

SAM_REF_DIR = os.environ.get("SAM_REF_DIR", "/work/ref/MedSAM")
sys.path.insert(0, SAM_REF_DIR)

import torch  # noqa: E402
from segment_anything.modeling import (  # noqa: E402
    ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer)

# name -> constructor arguments. vit_b is MedSAM's; "tiny" is the CI fixture config:
# 8x8 token grid, 2 windowed + 2 global blocks, windows of 3 (8 -> 9 padding, like 64 -> 70).
CONFIGS = {
    "vit_b": dict(img=1024, patch=16, dim=768, depth=12, heads=12, glob=[2, 5, 8, 11], win=14,
                  out=256, mask_in=16, dec_depth=2, dec_mlp=2048, dec_heads=8, iou_hidden=256),
    "vit_l": dict(img=1024, patch=16, dim=1024, depth=24, heads=16, glob=[5, 11, 17, 23], win=14,
                  out=256, mask_in=16, dec_depth=2, dec_mlp=2048, dec_heads=8, iou_hidden=256),
    "vit_h": dict(img=1024, patch=16, dim=1280, depth=32, heads=16, glob=[7, 15, 23, 31], win=14,
                  out=256, mask_in=16, dec_depth=2, dec_mlp=2048, dec_heads=8, iou_hidden=256),
    "tiny": dict(img=128, patch=16, dim=48, depth=4, heads=3, glob=[1, 3], win=3,
                 out=64, mask_in=16, dec_depth=2, dec_mlp=96, dec_heads=8, iou_hidden=40),
}


def build_sam(name="vit_b", cfg=None):
    c = dict(CONFIGS[name]) if cfg is None else cfg
    grid = c["img"] // c["patch"]
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=c["depth"], embed_dim=c["dim"], img_size=c["img"], mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=c["heads"],
            patch_size=c["patch"], qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=c["glob"], window_size=c["win"], out_chans=c["out"]),
        prompt_encoder=PromptEncoder(
            embed_dim=c["out"], image_embedding_size=(grid, grid),
            input_image_size=(c["img"], c["img"]), mask_in_chans=c["mask_in"]),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=c["dec_depth"], embedding_dim=c["out"],
                                          mlp_dim=c["dec_mlp"], num_heads=c["dec_heads"]),
            transformer_dim=c["out"], iou_head_depth=3, iou_head_hidden_dim=c["iou_hidden"]),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    sam.eval()
    return sam


def randomize_(sam, seed=0, scale=None):
    """Random weights everywhere, including the zero-initialised ones (pos_embed,
    rel_pos, LayerNorm affine) so that every parameter is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if p.dim() >= 2 and "rel_pos" not in name and "pos_embed" not in name and "embed" not in name:
                fan_in = p[0].numel()
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) / fan_in ** 0.5)
            elif name.endswith("weight") and ("norm" in name or name.split(".")[-2].isdigit() and p.dim() == 1):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g) if p.dim() < 2 or "rel_pos" in name
                        else torch.randn(p.shape, generator=g) * 0.02 if "pos_embed" in name
                        else torch.randn(p.shape, generator=g))
        pe = sam.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix
        pe.copy_(torch.randn(pe.shape, generator=g))
    return sam
