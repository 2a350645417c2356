#!/usr/bin/python3
"""Makes the fixtures of tests/test_weights_layouts.c and tests/test_safetensors.c
from the CI tiny model (tests/fixtures/tiny/model.pth):

  tests/fixtures/weights/tiny_hf.safetensors  the tiny model renamed to the transformers
                                              SamModel layout, as save_pretrained writes it
                                              (the tied prompt_encoder.shared_embedding
                                              copy left out)
  tests/fixtures/weights/hf_names.txt         "official_name hf_name" for every tensor
  tests/fixtures/weights/dtypes.safetensors   F32 F16 BF16 F64 I64 I32 U8 BOOL tensors and metadata
  tests/fixtures/weights/dtypes_f32.npy       the same tensors converted to float32 by torch,
                                              concatenated in name order
  tests/fixtures/weights/slim/                a SlimSAM-shaped model (head dim 14, MLP 116 =
                                              4.14 x 28 as SlimSAM-77's 696 = 4.14 x 168, decoder
                                              with 4 heads) built from the OFFICIAL modules
                                              ($SAM_REF_DIR) with random weights, in the HF layout
                                              with its config.json, plus the official outputs:
                                              embedding.npy (image_encoder on hash_input),
                                              logits.npy and iou.npy (box 4,5,25,20 through
                                              prompt_encoder + mask_decoder, multimask_output=False)

    SAM_REF_DIR=/tmp/MedSAM /usr/bin/python3 tools/ref/make_weights_fixtures.py [--all DIR]

--check-c FILE reads a safetensors file written by `medsam convert` (official or HF
layout) with the few lines of read_safetensors below and checks every tensor against
tests/fixtures/tiny/model.pth (renamed when the file is in the HF layout), bit for bit:
    build/medsam convert tests/fixtures/tiny/model.pth /tmp/hf.safetensors --layout hf
    /usr/bin/python3 tools/ref/make_weights_fixtures.py --check-c /tmp/hf.safetensors

--all DIR also writes DIR/tiny_sam.safetensors (official names) and DIR/tiny_hf.bin
(torch.save of the renamed state dict with both tied names, as convert_sam_to_hf.py's
SamModel.state_dict() holds them) for a one-off check by hand:
    for f in DIR/*; do build/medsam info -m $f; done

The renaming follows transformers' models/sam/convert_sam_to_hf.py (replace_keys:
KEYS_TO_MODIFY_MAPPING applied in order as substring replacements, then the
output_hypernetworks_mlps layers.0/1/2 -> proj_in/layers.0/proj_out, then
shared_image_embedding.positional_embedding copied from the prompt encoder's).
Debian packages neither `transformers` nor `safetensors`, so the safetensors
files are written here by hand (the format: 8-byte little-endian header length,
JSON header padded with spaces to 8 bytes, raw little-endian data).
"""
import argparse
import collections
import json
import os
import re
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")

# same order as convert_sam_to_hf.py: each is a plain substring replacement
KEYS_TO_MODIFY = [
    ("iou_prediction_head.layers.0", "iou_prediction_head.proj_in"),
    ("iou_prediction_head.layers.1", "iou_prediction_head.layers.0"),
    ("iou_prediction_head.layers.2", "iou_prediction_head.proj_out"),
    ("mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"),
    ("mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"),
    ("mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"),
    ("mask_downscaling.0", "mask_embed.conv1"),
    ("mask_downscaling.1", "mask_embed.layer_norm1"),
    ("mask_downscaling.3", "mask_embed.conv2"),
    ("mask_downscaling.4", "mask_embed.layer_norm2"),
    ("mask_downscaling.6", "mask_embed.conv3"),
    ("point_embeddings", "point_embed"),
    ("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
    ("image_encoder", "vision_encoder"),
    ("neck.0", "neck.conv1"),
    ("neck.1", "neck.layer_norm1"),
    ("neck.2", "neck.conv2"),
    ("neck.3", "neck.layer_norm2"),
    ("patch_embed.proj", "patch_embed.projection"),
    (".norm", ".layer_norm"),
    ("blocks", "layers"),
]
HYPER = re.compile(r".*.output_hypernetworks_mlps.(\d+).layers.(\d+).*")


def hf_name(key):
    for old, new in KEYS_TO_MODIFY:
        if old in key:
            key = key.replace(old, new)
    m = HYPER.match(key)
    if m:
        layer = int(m.group(2))
        key = key.replace(f"layers.{layer}", {0: "proj_in", 1: "layers.0", 2: "proj_out"}[layer])
    return key


def to_hf(sd):
    out = collections.OrderedDict()
    names = []
    for k, v in sd.items():
        if k in ("pixel_mean", "pixel_std"):
            continue
        out[hf_name(k)] = v
        names.append((k, hf_name(k)))
    out["shared_image_embedding.positional_embedding"] = out["prompt_encoder.shared_embedding.positional_embedding"]
    return out, names


def write_safetensors(path, tensors, metadata):
    """tensors: name -> torch tensor; data laid out by (itemsize desc, name) like the reference writer."""
    order = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for n in order:
        t = tensors[n].contiguous()
        b = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        dt = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
              torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}[t.dtype]
        header[n] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def dtype_tensors():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(2, 3, 4, generator=g, dtype=torch.float64) * 3
    t = collections.OrderedDict()
    t["a.f32"] = base.float()
    t["b.f16"] = base.half()
    t["c.bf16"] = base.bfloat16()
    t["d.f64"] = base[0]
    t["e.i64"] = (base * 100).long()
    t["f.i32"] = (base[1] * 10).int()
    t["g.u8"] = (base.abs() * 20).to(torch.uint8)[0, 0]
    t["h.bool"] = base[0, 0] > 0
    t["i.f16_special"] = torch.tensor([65504.0, -0.0, 6e-8, 1e-5, float("inf")], dtype=torch.float16)
    t["j.scalar"] = torch.tensor(2.5)
    t["k.empty"] = torch.zeros(0, 3)
    return t


SLIM = dict(img=32, patch=8, dim=28, depth=2, heads=2, mlp=116, glob=[1], win=3, out=32, mask_in=16,
            dec_depth=2, dec_mlp=40, dec_heads=4, iou_hidden=16)


def build_slim(c):
    """sam_ref.build_sam with an MLP width that is not 4 x dim (ImageEncoderViT takes mlp_ratio)."""
    import sam_ref
    from functools import partial
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    grid = c["img"] // c["patch"]
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=c["depth"], embed_dim=c["dim"], img_size=c["img"], mlp_ratio=c["mlp"] / c["dim"],
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=c["heads"], patch_size=c["patch"],
            qkv_bias=True, use_rel_pos=True, global_attn_indexes=c["glob"], window_size=c["win"], out_chans=c["out"]),
        prompt_encoder=PromptEncoder(embed_dim=c["out"], image_embedding_size=(grid, grid),
                                     input_image_size=(c["img"], c["img"]), mask_in_chans=c["mask_in"]),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=c["dec_depth"], embedding_dim=c["out"], mlp_dim=c["dec_mlp"],
                                          num_heads=c["dec_heads"]),
            transformer_dim=c["out"], iou_head_depth=3, iou_head_hidden_dim=c["iou_hidden"]),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])
    assert sam.image_encoder.blocks[0].mlp.lin1.out_features == c["mlp"]
    return sam_ref.randomize_(sam.eval(), seed=77)


def make_slim(out):
    import sys
    sys.path.insert(0, HERE)
    from make_encoder_fixtures import hash_input
    c = SLIM
    sam = build_slim(c)
    os.makedirs(out, exist_ok=True)
    hf, _ = to_hf(sam.state_dict())
    del hf["prompt_encoder.shared_embedding.positional_embedding"]
    write_safetensors(os.path.join(out, "model.safetensors"), hf, {"format": "pt"})
    config = {
        "model_type": "sam",
        "vision_config": {"hidden_size": c["dim"], "num_attention_heads": c["heads"], "mlp_dim": c["mlp"],
                          "num_hidden_layers": c["depth"], "image_size": c["img"], "patch_size": c["patch"],
                          "window_size": c["win"], "global_attn_indexes": c["glob"], "output_channels": c["out"]},
        "prompt_encoder_config": {"hidden_size": c["out"], "image_size": c["img"], "patch_size": c["patch"],
                                  "mask_input_channels": c["mask_in"]},
        "mask_decoder_config": {"hidden_size": c["out"], "num_attention_heads": c["dec_heads"], "mlp_dim": c["dec_mlp"],
                                "num_hidden_layers": c["dec_depth"], "iou_head_hidden_dim": c["iou_hidden"]},
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    x = torch.from_numpy(hash_input(3, c["img"], c["img"]))[None]
    box = torch.tensor([[4.0, 5.0, 25.0, 20.0]])
    with torch.no_grad():
        emb = sam.image_encoder(x)  # ref: MedSAM_Inference.py medsam_model.image_encoder(img_1024_tensor)
        sparse, dense = sam.prompt_encoder(points=None, boxes=box[:, None, :], masks=None)  # ref: medsam_inference
        logits, iou = sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(),
                                       sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                       multimask_output=False)
    np.save(os.path.join(out, "embedding.npy"), emb[0].numpy().astype(np.float32))
    np.save(os.path.join(out, "logits.npy"), logits[0, 0].numpy().astype(np.float32))
    np.save(os.path.join(out, "iou.npy"), iou[0].numpy().astype(np.float32))
    n = sum(v.numel() for v in hf.values())
    print(f"slim: {len(hf)} tensors, {n} values, embedding {tuple(emb.shape)}, logits {tuple(logits.shape)} -> {out}")


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    types = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    out = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=types[v["dtype"]]).reshape(v["shape"])
           for k, v in header.items()}
    return out, meta


def check_c(path, sd):
    got, meta = read_safetensors(path)
    hf = any(k.startswith("vision_encoder.") for k in got)
    want = to_hf(sd)[0] if hf else sd
    if hf:
        del want["prompt_encoder.shared_embedding.positional_embedding"]  # written once, as save_pretrained does
    assert meta.get("format") == "pt", meta
    assert set(got) == set(want), sorted(set(got) ^ set(want))
    for k, v in want.items():
        assert got[k].shape == tuple(v.shape) and got[k].tobytes() == v.numpy().tobytes(), k
    print(f"{path}: {len(got)} tensors, {'HF' if hf else 'official'} layout, bit-identical to model.pth")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", metavar="DIR")
    ap.add_argument("--check-c", metavar="FILE")
    args = ap.parse_args()
    out = os.path.join(ROOT, "tests/fixtures/weights")
    sd = torch.load(os.path.join(ROOT, "tests/fixtures/tiny/model.pth"), map_location="cpu")
    if args.check_c:
        return check_c(args.check_c, sd)
    os.makedirs(out, exist_ok=True)
    hf, names = to_hf(sd)
    saved = collections.OrderedDict((k, v) for k, v in hf.items() if k != "prompt_encoder.shared_embedding.positional_embedding")
    write_safetensors(os.path.join(out, "tiny_hf.safetensors"), saved, {"format": "pt"})
    with open(os.path.join(out, "hf_names.txt"), "w") as f:
        for k, v in names:
            f.write(f"{k} {v}\n")
    dt = dtype_tensors()
    write_safetensors(os.path.join(out, "dtypes.safetensors"), dt, {"format": "pt", "note": "medsam.c fixture \u00e9"})
    flat = np.concatenate([dt[n].to(torch.float32).numpy().ravel() for n in sorted(dt)])
    np.save(os.path.join(out, "dtypes_f32.npy"), flat.astype(np.float32))
    print(f"{len(saved)} HF tensors, {len(dt)} dtype tensors ({flat.size} values) -> {out}")
    make_slim(os.path.join(out, "slim"))
    if args.all:
        os.makedirs(args.all, exist_ok=True)
        write_safetensors(os.path.join(args.all, "tiny_sam.safetensors"), sd, {"format": "pt"})
        torch.save(hf, os.path.join(args.all, "tiny_hf.bin"))
        print(f"tiny_sam.safetensors, tiny_hf.bin -> {args.all}")


if __name__ == "__main__":
    main()
