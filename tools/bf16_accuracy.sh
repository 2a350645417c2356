#!/bin/sh
# bf16_accuracy.sh — measures `--precision bf16` against fp32 on real images:
# embedding relative L2 and mask IoU (two boxes per image), for each model
# given (default: a random ViT-B from `medsam init --arch vit_b --seed 0` and
# the tiny fixture model). Images: tests/fixtures/images/* plus the middle
# axial slice of tests/fixtures/volume/ct_phantom.nii.gz (window [-160, 240] HU).
# Usage: BUILD=build sh tools/bf16_accuracy.sh [MODEL.pth ...]   (Debian python3 with numpy, nibabel, PIL)
# Prints one row per (model, image, box) and the worst figures last.
set -e
B=${BUILD:-build}/medsam
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ $# -eq 0 ]; then
    "$B" init --arch vit_b --seed 0 -o "$T/vit_b_seed0.pth" >/dev/null
    set -- "$T/vit_b_seed0.pth" tests/fixtures/tiny/model.pth
fi
$PY - "$T/ct_slice.png" <<'PYEOF'
import sys, numpy as np, nibabel as nib
from PIL import Image
v = np.asarray(nib.load("tests/fixtures/volume/ct_phantom.nii.gz").dataobj, dtype=np.float64)
s = v[:, :, v.shape[2] // 2].T
s = np.clip((s + 160.0) / 400.0, 0, 1) * 255.0
Image.fromarray(s.astype(np.uint8)).save(sys.argv[1])
PYEOF
echo "model,image,box,embedding_rel_l2,mask_iou,fp32_pixels"
for model in "$@"; do
    for img in tests/fixtures/images/*.png tests/fixtures/images/*.jpg "$T/ct_slice.png"; do
        name=$(basename "$img")
        for p in fp32 bf16; do "$B" embed -m "$model" -i "$img" -o "$T/e_$p.npy" --precision $p -t 2 2>/dev/null; done
        wh=$($PY -c "from PIL import Image; im = Image.open('$img'); print(im.size[0], im.size[1])")
        set -- $wh
        W=$1 H=$2
        box1="$((W / 4)),$((H / 4)),$((3 * W / 4)),$((3 * H / 4))"
        box2="$((W / 10)),$((H / 2)),$((6 * W / 10)),$((9 * H / 10))"
        n=0
        for box in $box1 $box2; do
            n=$((n + 1))
            for p in fp32 bf16; do
                "$B" segment -m "$model" -i "$img" -b "$box" --embedding "$T/e_$p.npy" -o "$T/m_$p.png" -t 2 2>/dev/null
            done
            $PY - "$T" "$(basename "$model")" "$name" "$n" <<'PYEOF'
import sys, numpy as np
from PIL import Image
t, model, name, box = sys.argv[1:5]
a, b = np.load(t + "/e_fp32.npy").astype(np.float64), np.load(t + "/e_bf16.npy").astype(np.float64)
rel = np.linalg.norm(b - a) / np.linalg.norm(a)
m32, mbf = np.asarray(Image.open(t + "/m_fp32.png")) > 0, np.asarray(Image.open(t + "/m_bf16.png")) > 0
u = np.logical_or(m32, mbf).sum()
iou = np.logical_and(m32, mbf).sum() / u if u else 1.0
print(f"{model},{name},{box},{rel:.3e},{iou:.5f},{int(m32.sum())}")
PYEOF
        done
    done
done | tee "$T/rows.csv"
$PY - "$T/rows.csv" <<'PYEOF'
import sys, csv
rows = list(csv.reader(open(sys.argv[1])))
w = max(rows, key=lambda r: float(r[3])); i = min(rows, key=lambda r: float(r[4]))
print(f"worst embedding relative L2: {float(w[3]):.3e} ({w[0]}, {w[1]}); worst mask IoU: {float(i[4]):.5f} ({i[0]}, {i[1]}, box {i[2]})")
PYEOF
