"""Builds the official LiteMedSAM modules (bowang-lab/MedSAM, branch LiteMedSAM:
tiny_vit_sam.py + segment_anything.modeling, assembled as
CVPR24_LiteMedSAM_infer.py:322-361 does) for reference dumps.

The official code is never copied into this repository: it is extracted from the
local mirror of bowang-lab/MedSAM into a scratch directory ($LITE_REF_DIR, default
/tmp/medsam_lite_ref) on first use:

    git -C $MEDSAM_MIRROR archive LiteMedSAM tiny_vit_sam.py segment_anything | tar -x -C $LITE_REF_DIR

tiny_vit_sam.py imports three helpers from `timm` (not in Debian); timm_standin/
provides them (our own few lines) and is put on sys.path. Run with Debian's python3.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MIRROR = os.environ.get("MEDSAM_MIRROR", "/work/.mirror/bowang-lab+MedSAM/repo")
REF_DIR = os.environ.get("LITE_REF_DIR", "/tmp/medsam_lite_ref")


def _extract():
    if os.path.exists(os.path.join(REF_DIR, "tiny_vit_sam.py")):
        return
    os.makedirs(REF_DIR, exist_ok=True)
    arch = subprocess.run(["git", "-C", MIRROR, "archive", "LiteMedSAM", "tiny_vit_sam.py", "segment_anything"],
                          check=True, stdout=subprocess.PIPE).stdout
    subprocess.run(["tar", "-x", "-C", REF_DIR], input=arch, check=True)


_extract()
sys.path.insert(0, os.path.join(HERE, "timm_standin"))
sys.path.insert(0, REF_DIR)

import torch  # noqa: E402
from torch import nn  # noqa: E402
import tiny_vit_sam  # noqa: E402
from tiny_vit_sam import TinyViT  # noqa: E402
from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer  # noqa: E402

# LiteMedSAM as CVPR24_LiteMedSAM_infer.py:322-361 builds it; "small" is the CI fixture:
# same code and structure, small widths and depths. The last width must stay 320 (PatchMerging
# keeps stride 1 only for out_dim 320/448/576, and forward_features views the result as 64x64),
# so stage 3 has no blocks there (one block at width 320 alone would be 4.9 MB); neck and
# decoder width 32 instead of 256 (TinyViT hard-codes 256 in its neck: replaced after
# construction by the same modules at width 32).
CONFIGS = {
    "lite": dict(dims=[64, 128, 160, 320], depths=[2, 2, 6, 2], heads=[2, 4, 5, 10], windows=[7, 7, 14, 7],
                 out=256, mask_in=16, dec_depth=2, dec_mlp=2048, iou_hidden=256),
    "small": dict(dims=[16, 32, 48, 320], depths=[2, 2, 2, 0], heads=[1, 2, 3, 10], windows=[7, 7, 14, 7],
                  out=32, mask_in=8, dec_depth=2, dec_mlp=64, iou_hidden=32),
}


class MedSAM_Lite(nn.Module):
    """The wrapper of CVPR24_LiteMedSAM_infer.py (same attribute names, so the same keys)."""

    def __init__(self, image_encoder, mask_decoder, prompt_encoder):
        super().__init__()
        self.image_encoder = image_encoder
        self.mask_decoder = mask_decoder
        self.prompt_encoder = prompt_encoder


def build_encoder(c, img_size=256):
    enc = TinyViT(img_size=img_size, in_chans=3, embed_dims=c["dims"], depths=c["depths"], num_heads=c["heads"],
                  window_sizes=c["windows"], mlp_ratio=4., drop_rate=0., drop_path_rate=0.0, use_checkpoint=False,
                  mbconv_expand_ratio=4.0, local_conv_size=3, layer_lr_decay=0.8)
    if c["out"] != 256:
        o = c["out"]
        enc.neck = nn.Sequential(nn.Conv2d(c["dims"][-1], o, kernel_size=1, bias=False), tiny_vit_sam.LayerNorm2d(o),
                                 nn.Conv2d(o, o, kernel_size=3, padding=1, bias=False), tiny_vit_sam.LayerNorm2d(o))
    return enc


def build_lite(name="lite", img_size=256):
    c = CONFIGS[name]
    grid = 64 * img_size // 256
    model = MedSAM_Lite(
        image_encoder=build_encoder(c, img_size),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=c["dec_depth"], embedding_dim=c["out"], mlp_dim=c["dec_mlp"],
                                          num_heads=8),
            transformer_dim=c["out"], iou_head_depth=3, iou_head_hidden_dim=c["iou_hidden"]),
        prompt_encoder=PromptEncoder(embed_dim=c["out"], image_embedding_size=(grid, grid),
                                     input_image_size=(img_size, img_size), mask_in_chans=c["mask_in"]),
    )
    model.eval()
    return model


def randomize_(model, seed=0):
    """Random weights everywhere, BatchNorm running statistics and attention biases
    included, so every path (BN folding, bias tables) is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and "attention_biases" not in name and "embed" not in name:
                fan_in = p[0].numel()
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) / fan_in ** 0.5)
            elif name.endswith("weight") and p.dim() == 1:  # LayerNorm / BatchNorm scales
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif "attention_biases" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g) if p.dim() < 2 else torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("num_batches_tracked"):
                b.fill_(1234)
        pe = model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix
        pe.copy_(torch.randn(pe.shape, generator=g))
    model.eval()  # Attention.train(False) refreshes its cached bias table `ab`
    return model
