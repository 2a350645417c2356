"""Reference dumps for the prompt encoder and mask decoder tests, from the
official PyTorch modules (imported from $SAM_REF_DIR, default /work/ref/MedSAM).

    /usr/bin/python3 tools/ref/make_decoder_fixtures.py            # tests/fixtures/decoder/ (tiny model)
    /usr/bin/python3 tools/ref/make_decoder_fixtures.py --vitb DIR  # ViT-B-size decoder check (large, not committed)

Tiny mode loads tests/fixtures/tiny/model.pth and writes, as float32 .npy:
  image_emb (D,G,G), dense_pe (D,G,G)
  per case <name>_*: the prompt inputs, sparse (Ns,D), dense (D,G,G) where a mask
  is given, masks_single (1,4G,4G), iou_single (1), masks_multi (T-1,4G,4G), iou_multi (T-1);
  the "box" case also dumps every decoder stage (forward hooks): tokens, layer<l>_queries
  (Nt,D), layer<l>_keys (N,D), final_queries (Nt,D), upscaled (D/8,4G,4G), dense (no mask).
--vitb mode writes DIR/tail_params.npy (prompt_encoder.* and mask_decoder.* parameters in
state_dict order, i.e. the tail of the full table), image_emb (256,64,64), box (4),
masks_single, iou_single, and prints PyTorch's decoder time.
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))


def save(out, name, t):
    a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(a.astype(np.float32)))


def decode(sam, emb, points, labels, box, mask, multimask, hooks=None):
    pe = sam.prompt_encoder
    pts = None
    if points is not None:
        pts = (torch.tensor(points, dtype=torch.float32)[None], torch.tensor(labels, dtype=torch.int)[None])
    bx = None if box is None else torch.tensor(box, dtype=torch.float32)[None, None]
    mk = None if mask is None else torch.tensor(mask, dtype=torch.float32)[None, None]
    sparse, dense = pe(points=pts, boxes=bx, masks=mk)
    masks, iou = sam.mask_decoder(image_embeddings=emb, image_pe=pe.get_dense_pe(),
                                  sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                  multimask_output=multimask)
    return sparse[0], dense[0], masks[0], iou[0]


def tiny(out):
    os.makedirs(out, exist_ok=True)
    sam = sam_ref.build_sam("tiny")
    sam.load_state_dict(torch.load(os.path.join(ROOT, "tests/fixtures/tiny/model.pth")))
    D = sam.prompt_encoder.embed_dim
    G = sam.prompt_encoder.image_embedding_size[0]
    g = torch.Generator().manual_seed(7)
    emb = torch.randn((1, D, G, G), generator=g)
    save(out, "image_emb", emb[0])
    save(out, "dense_pe", sam.prompt_encoder.get_dense_pe()[0])
    S = 4 * G
    mask_in = (torch.randn((S, S), generator=g) * 3.0).numpy()
    cases = {
        "box": dict(points=None, labels=None, box=[20.3, 30.7, 90.2, 100.9], mask=None),
        "points": dict(points=[[10.5, 20.25], [100.0, 64.0], [50.0, 70.0]], labels=[1, 0, -1], box=None, mask=None),
        "pointsbox": dict(points=[[40.0, 44.5], [70.25, 12.0]], labels=[0, 1], box=[5.0, 9.5, 120.0, 111.0],
                          mask=None),
        "mask": dict(points=None, labels=None, box=[30.0, 20.0, 77.7, 99.1], mask=mask_in),
    }
    stages = {}

    def hook(name):
        def f(mod, inp, outp):
            stages[name] = outp
        return f

    dec = sam.mask_decoder
    hs = [layer.register_forward_hook(hook(f"layer{i}")) for i, layer in enumerate(dec.transformer.layers)]
    hs.append(dec.transformer.register_forward_hook(hook("transformer")))
    hs.append(dec.output_upscaling.register_forward_hook(hook("upscaled")))
    with torch.no_grad():
        for name, cs in cases.items():
            if cs["points"] is not None:
                save(out, f"{name}_points", np.array(cs["points"]))
                save(out, f"{name}_labels", np.array(cs["labels"]))
            if cs["box"] is not None:
                save(out, f"{name}_box", np.array(cs["box"]))
            if cs["mask"] is not None:
                save(out, f"{name}_mask_in", cs["mask"])
            for multi in (False, True):
                stages.clear()
                sparse, dense, masks, iou = decode(sam, emb, cs["points"], cs["labels"], cs["box"], cs["mask"], multi)
                tag = "multi" if multi else "single"
                save(out, f"{name}_masks_{tag}", masks)
                save(out, f"{name}_iou_{tag}", iou)
            save(out, f"{name}_sparse", sparse)
            if cs["mask"] is not None or name == "box":
                save(out, f"{name}_dense", dense)
            if name == "box":  # every stage, from the last (multimask) run; stages do not depend on it
                for i in range(len(dec.transformer.layers)):
                    save(out, f"box_layer{i}_queries", stages[f"layer{i}"][0][0])
                    save(out, f"box_layer{i}_keys", stages[f"layer{i}"][1][0])
                save(out, "box_final_queries", stages["transformer"][0][0])
                save(out, "box_upscaled", stages["upscaled"][0])
    for h in hs:
        h.remove()
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {len(os.listdir(out))} files, {total} bytes -> {out}")


def vitb(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    sam = sam_ref.randomize_(sam_ref.build_sam("vit_b"), seed=3)
    sd = sam.state_dict()
    keys = list(sd.keys())
    first = keys.index("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")
    assert all(k.startswith(("prompt_encoder.", "mask_decoder.")) for k in keys[first:])
    tail = np.concatenate([sd[k].numpy().astype(np.float32).ravel() for k in keys[first:]])
    np.save(os.path.join(out, "tail_params.npy"), tail)
    g = torch.Generator().manual_seed(11)
    emb = torch.randn((1, 256, 64, 64), generator=g)
    box = [95.0 * 1024 / 400, 255.0 * 1024 / 400, 190.0 * 1024 / 400, 350.0 * 1024 / 400]
    save(out, "image_emb", emb[0])
    save(out, "box", np.array(box))
    with torch.no_grad():
        decode(sam, emb, None, None, box, None, False)  # warm-up
        t0 = time.perf_counter()
        sparse, dense, masks, iou = decode(sam, emb, None, None, box, None, False)
        t1 = time.perf_counter()
    save(out, "masks_single", masks)
    save(out, "iou_single", iou)
    print(f"tail {tail.size} floats; PyTorch prompt encoder + decoder, 2 threads: {1000 * (t1 - t0):.1f} ms -> {out}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--vitb":
        vitb(sys.argv[2])
    else:
        tiny(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/fixtures/decoder"))
