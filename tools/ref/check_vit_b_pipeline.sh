#!/bin/sh
# Full ViT-B parity of the whole pipeline, official Python vs medsam.c, on real images.
#
#   sh tools/ref/check_vit_b_pipeline.sh [WORKDIR]        (needs Debian's python3-torch,
#                                                           python3-skimage and the official repo
#                                                           in $SAM_REF_DIR, default /work/ref/MedSAM)
# 1. writes a random-initialised official ViT-B (every parameter random, incl. pos_embed and
#    rel_pos) with torch.save(state_dict) -> WORKDIR/model.pth (375 MB);
# 2. for each image runs tools/ref/medsam_reference.py (MedSAM_Inference.py's steps with the
#    official modules) and `build/medsam embed` + `build/medsam segment --logits`;
# 3. prints the relative L2 error of the encoder input, embedding and logits, and the number of
#    mask pixels that differ (and how many official probabilities lie within 1e-6 of 0.5).
set -eu
cd "$(dirname "$0")/../.."
W=${1:-/tmp/medsam_vit_b_pipeline}
PY=/usr/bin/python3
mkdir -p "$W"
[ -f "$W/model.pth" ] || $PY -c "
import sys; sys.path.insert(0, 'tools/ref'); import sam_ref, torch
torch.save(sam_ref.randomize_(sam_ref.build_sam('vit_b'), seed=7).state_dict(), '$W/model.pth')"
make -s build/medsam
run() { # name image box...
    name=$1; img=$2; shift 2
    args=""; cargs=""
    for b in "$@"; do args="$args --box $b"; cargs="$cargs -b $b"; done
    $PY tools/ref/medsam_reference.py --checkpoint "$W/model.pth" --arch vit_b --image "$img" $args --out "$W/$name.ref" >/dev/null 2>&1
    build/medsam preprocess -i "$img" -o "$W/$name.input.npy"
    build/medsam embed -m "$W/model.pth" -i "$img" -o "$W/$name.emb.npy" --threads 2
    build/medsam segment -m "$W/model.pth" -i "$img" $cargs -o "$W/$name.mask.png" --logits "$W/$name.logits.npy" \
        --embedding "$W/$name.emb.npy" --threads 2
    $PY - "$W" "$name" <<'PYEOF'
import sys, numpy as np, torch, torch.nn.functional as F
from skimage import io
w, n = sys.argv[1], sys.argv[2]
rel = lambda a, b: float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b), 1e-30))
x, xr = np.load(f"{w}/{n}.input.npy"), np.load(f"{w}/{n}.ref/input.npy")
e, er = np.load(f"{w}/{n}.emb.npy"), np.load(f"{w}/{n}.ref/embedding.npy")
l, lr = np.load(f"{w}/{n}.logits.npy"), np.load(f"{w}/{n}.ref/logits.npy")
m, mr = io.imread(f"{w}/{n}.mask.png"), io.imread(f"{w}/{n}.ref/mask.png")
H, W = mr.shape
p = F.interpolate(torch.sigmoid(torch.from_numpy(lr)), size=(H, W), mode="bilinear", align_corners=False).numpy()
near = (np.abs(p - 0.5) <= 1e-6).any(axis=(0, 1)).sum()
print(f"{n:8s} {W}x{H}: input max|diff| {np.abs(x - xr).max():.1e}  embedding relL2 {rel(e, er):.2e}  "
      f"logits relL2 {rel(l, lr):.2e}  mask: {int((m != mr).sum())} of {m.size} px differ "
      f"({int((mr > 0).sum())} foreground, {int(near)} px within 1e-6 of 0.5)")
PYEOF
}
F=tests/fixtures/images
run camera "$F/camera.png" 100,80,400,420
run cell "$F/cell.png" 50,60,500,600
run chelsea "$F/chelsea.png" 120,40,330,280
run retina "$F/retina.jpg" 300,300,1100,1100
run demo "$F/medsam_demo.png" 95,255,190,350 250,200,400,330
