#!/bin/sh
# LiteMedSAM checkpoints at the command line: `medsam info` names the family,
# `medsam embed` of a preprocessed (256,256,3) .npy writes the (1, C, 64, 64)
# TinyViT embedding (the same bytes for any thread count); what needs
# LiteMedSAM's own preprocessing (segment, embedding an image file) and
# `medsam train` are refused with one line.
. tests/lib_cli.sh
M=tests/fixtures/lite/model.pth
IMG=tests/fixtures/images/camera.png

out=$($B info -m "$M" 2>&1)
if echo "$out" | grep -q "^image encoder: LiteMedSAM (TinyViT img 256, 1x1 patch embed, dims \[16,32,48,320\]" &&
   echo "$out" | grep -q "grid 64x64" && echo "$out" | grep -q "parameters: 284394 in 300 tensors (plus ignored extra tensors)"
then ok "info: $(echo "$out" | head -1 | cut -c1-90)..."; else bad "info: $out"; fi

# a (256,256,3) float32 input: 0, 0.25, 0.5, 1 repeated
printf '\000\000\000\000\000\000\200\076\000\000\000\077\000\000\200\077' >"$T/p"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do cat "$T/p" "$T/p" >"$T/q" && mv "$T/q" "$T/p"; done
{ npy_header '<f4' '(256, 256, 3)'; cat "$T/p" "$T/p" "$T/p"; } >"$T/x.npy"
if $B embed -m "$M" -i "$T/x.npy" -o "$T/e1.npy" --threads 1 2>"$T/err" && $B embed -m "$M" -i "$T/x.npy" -o "$T/e2.npy" --threads 2 2>>"$T/err" &&
   head -c 128 "$T/e1.npy" | grep -q "'shape': (1, 32, 64, 64)"
then ok "embed writes (1, 32, 64, 64)"; else bad "embed: $(cat "$T/err")"; fi
if cmp -s "$T/e1.npy" "$T/e2.npy"; then ok "embed: 1 and 2 threads, same bytes"; else bad "embed: 1 and 2 threads differ"; fi

expect "segment refused" "LiteMedSAM (TinyViT) checkpoint: segment is not supported yet" \
    $B segment -m "$M" -i "$IMG" -b 10,10,100,100 -o "$T/out.png"
expect "embed of an image file refused" "embedding an image file is not supported yet" \
    $B embed -m "$M" -i "$IMG" -o "$T/out.npy"
expect "segment --npz refused" "segment --npz is not supported yet" \
    $B segment -m "$M" --npz tests/fixtures/volume/case2d.npz -o "$T/out.npz"
expect "3-D segment refused" "3-D segment is not supported yet" \
    $B segment -m "$M" -i tests/fixtures/volume/case3d.npz -B 10,10,1,40,34,7 -o "$T/out.npz"
mkdir -p "$T/data/imgs" "$T/data/gts"
expect "train refuses TinyViT" "LiteMedSAM (TinyViT) checkpoint: training is implemented for the SAM ViT family only" \
    $B train --data "$T/data" --init "$M" --out "$T/out_run"
summary
