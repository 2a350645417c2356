#!/bin/sh
# The last part of `make bench` (run by bench/run.sh): one `medsam embed -v` per model
# architecture medsam.c runs, on the same image with the default threads (all CPUs), for the
# README's table of supported models. Random weights (the time does not depend on them):
# `medsam init --arch vit_b|vit_l|vit_h --seed 0` (made once in $BUILD/bench/), and the
# LiteMedSAM written by tools/ref/make_lite_bench.py (bench/lite.sh). One run each, so
# these are single measurements (the ViT-B and LiteMedSAM medians are in the tables above).
# BENCH_MODELS_ARCHS: the ViT sizes (default vit_b,vit_l; add vit_h for ViT-H, ~35 s more).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
IMG=${BENCH_IMAGE:-tests/fixtures/images/retina.jpg}
OUT=$BUILD/bench
R=$OUT/results_models.txt
: >"$R"
echo
echo "######## models: one \`medsam embed -v\` each ($IMG, $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
one() { # one NAME MODEL
    "$BUILD/medsam" embed -m "$2" -i "$IMG" -o "$OUT/models_emb.npy" -v 2>"$OUT/models_$1.log" >/dev/null
    enc=$(sed -n 's/^encoder: \([0-9.]*\) s.*/\1/p' "$OUT/models_$1.log")
    load=$(sed -n 's/^load: \([0-9.]*\) s.*/\1/p' "$OUT/models_$1.log")
    printf "  %-10s encoder %8.3f s   (load %.3f s)\n" "$1" "$enc" "$load"
    echo "model_encoder_s_$1 $enc" >>"$R"
    echo "model_load_s_$1 $load" >>"$R"
}
for a in $(echo "${BENCH_MODELS_ARCHS:-vit_b,vit_l}" | tr , ' '); do
    [ -s "$OUT/${a}_seed0.pth" ] || "$BUILD/medsam" init --arch "$a" --seed 0 -o "$OUT/${a}_seed0.pth" >/dev/null
    one "$a" "$OUT/${a}_seed0.pth"
done
[ -s "$OUT/lite/lite.pth" ] && one lite "$OUT/lite/lite.pth"
rm -f "$OUT/models_emb.npy"
