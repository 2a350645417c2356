#!/usr/bin/python3
"""tools/default_model/make_eval_cases.py SRC_DIR OUT_DIR [--jitter PX] [--seed S]

One evaluation case per labelled object of every npz in SRC_DIR (imgs (H,W[,3]) uint8, gts (H,W)):
OUT_DIR/NAME_lK.npz holds imgs, gts = (gts == K) as uint8 0/1 and boxes (1,4) = the object's
bounding box [x_min, y_min, x_max, y_max] (inclusive, MedSAM's convention) with each side moved
outwards by a fixed random 0..PX pixels (numpy default_rng(seed), drawn in file-name then label
order, clipped to the image), so the model (`medsam segment --npz`) and the baseline
(`medsam baseline --npz`) see the same boxes. OUT_DIR/manifest.csv: case,source,label,kind,
contrast,modality from SRC_DIR/cases.csv where it exists (medsam synth), else blanks."""
import csv
import os
import sys

import numpy as np


def main():
    args = sys.argv[1:]
    jitter, seed = 5, 0
    if "--jitter" in args:
        i = args.index("--jitter"); jitter = int(args[i + 1]); del args[i:i + 2]
    if "--seed" in args:
        i = args.index("--seed"); seed = int(args[i + 1]); del args[i:i + 2]
    src, out = args
    os.makedirs(out, exist_ok=True)
    info = {}
    if os.path.exists(os.path.join(src, "cases.csv")):
        with open(os.path.join(src, "cases.csv")) as f:
            for row in csv.DictReader(f):
                kinds = row["kind:contrast"].split(";")
                info[row["name"]] = (row["modality"], [k.split(":") for k in kinds])
    rng = np.random.default_rng(seed)
    rows = []
    for fn in sorted(os.listdir(src)):
        if not fn.endswith(".npz"):
            continue
        name = fn[:-4]
        z = np.load(os.path.join(src, fn))
        imgs, gts = z["imgs"], z["gts"]
        H, W = gts.shape
        modality, kinds = info.get(name, ("", []))
        for k in sorted(int(v) for v in np.unique(gts) if v != 0):
            ys, xs = np.nonzero(gts == k)
            d = rng.integers(0, jitter + 1, size=4)
            box = [max(0, xs.min() - d[0]), max(0, ys.min() - d[1]), min(W - 1, xs.max() + d[2]),
                   min(H - 1, ys.max() + d[3])]
            case = f"{name}_l{k}"
            np.savez_compressed(os.path.join(out, case + ".npz"), imgs=imgs, gts=(gts == k).astype(np.uint8),
                                boxes=np.array([box], np.int64))
            kind, contrast = kinds[k - 1] if k - 1 < len(kinds) else ("", "")
            rows.append([case, name, k, kind, contrast, modality])
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "source", "label", "kind", "contrast", "modality"])
        w.writerows(rows)
    print(f"{out}: {len(rows)} cases (jitter 0..{jitter} px, seed {seed})")


main()
