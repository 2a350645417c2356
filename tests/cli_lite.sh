#!/bin/sh
# LiteMedSAM checkpoints at the command line: `medsam info` names the family,
# `medsam embed` writes the (1, C, 64, 64) TinyViT embedding (the same bytes
# for any thread count), and `medsam train` refuses with one line.
. tests/lib_cli.sh
M=tests/fixtures/lite/model.pth
IMG=tests/fixtures/images/camera.png

out=$($B info -m "$M" 2>&1)
if echo "$out" | grep -q "^image encoder: LiteMedSAM (TinyViT img 256, 1x1 patch embed, dims \[16,32,48,320\]" &&
   echo "$out" | grep -q "grid 64x64" && echo "$out" | grep -q "parameters: 284394 in 300 tensors (plus ignored extra tensors)"
then ok "info: $(echo "$out" | head -1 | cut -c1-90)..."; else bad "info: $out"; fi

if $B embed -m "$M" -i "$IMG" -o "$T/e1.npy" --threads 1 2>"$T/err" && $B embed -m "$M" -i "$IMG" -o "$T/e2.npy" --threads 2 2>>"$T/err" &&
   head -c 128 "$T/e1.npy" | grep -q "'shape': (1, 32, 64, 64)"
then ok "embed writes (1, 32, 64, 64)"; else bad "embed: $(cat "$T/err")"; fi
if cmp -s "$T/e1.npy" "$T/e2.npy"; then ok "embed: 1 and 2 threads, same bytes"; else bad "embed: 1 and 2 threads differ"; fi

mkdir -p "$T/data/imgs" "$T/data/gts"
expect "train refuses TinyViT" "LiteMedSAM (TinyViT) checkpoint: training is implemented for the SAM ViT family only" \
    $B train --data "$T/data" --init "$M" --out "$T/out_run"
summary
