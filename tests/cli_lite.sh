#!/bin/sh
# LiteMedSAM checkpoints at the command line: `medsam info` names the family and the
# pipeline, `medsam embed` of a preprocessed (256,256,3) .npy writes the (1, C, 64, 64)
# TinyViT embedding (the same bytes for any thread count) and an image file goes
# through LiteMedSAM's preprocessing; `medsam segment` reproduces the official
# CVPR24_LiteMedSAM_infer.py's segs on CVPR24 npz cases (tools/ref/make_lite_e2e_fixtures.py;
# Dice per label from `medsam eval`); --pipeline chooses and refuses as documented;
# `medsam train` and bad choices give one line, a non-zero exit and no output.
. tests/lib_cli.sh
M=tests/fixtures/lite/model.pth
IMG=tests/fixtures/images/camera.png

out=$($B info -m "$M" 2>&1)
if echo "$out" | grep -q "^image encoder: LiteMedSAM (TinyViT img 256, 1x1 patch embed, dims \[16,32,48,320\]" &&
   echo "$out" | grep -q "grid 64x64" && echo "$out" | grep -q "parameters: 284394 in 300 tensors (plus ignored extra tensors)" &&
   echo "$out" | grep -q "^pipeline: lite"
then ok "info: $(echo "$out" | head -1 | cut -c1-90)..."; else bad "info: $out"; fi

# a (256,256,3) float32 input: 0, 0.25, 0.5, 1 repeated
printf '\000\000\000\000\000\000\200\076\000\000\000\077\000\000\200\077' >"$T/p"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do cat "$T/p" "$T/p" >"$T/q" && mv "$T/q" "$T/p"; done
{ npy_header '<f4' '(256, 256, 3)'; cat "$T/p" "$T/p" "$T/p"; } >"$T/x.npy"
if $B embed -m "$M" -i "$T/x.npy" -o "$T/e1.npy" --threads 1 2>"$T/err" && $B embed -m "$M" -i "$T/x.npy" -o "$T/e2.npy" --threads 2 2>>"$T/err" &&
   head -c 128 "$T/e1.npy" | grep -q "'shape': (1, 32, 64, 64)"
then ok "embed writes (1, 32, 64, 64)"; else bad "embed: $(cat "$T/err")"; fi
if cmp -s "$T/e1.npy" "$T/e2.npy"; then ok "embed: 1 and 2 threads, same bytes"; else bad "embed: 1 and 2 threads differ"; fi

if $B embed -m "$M" -i "$IMG" -o "$T/ei.npy" 2>"$T/err" && head -c 128 "$T/ei.npy" | grep -q "'shape': (1, 32, 64, 64)"
then ok "embed of an image file (lite preprocessing)"; else bad "embed of an image file: $(cat "$T/err")"; fi

L=tests/fixtures/lite/model.pth
E=tests/fixtures/lite/e2e

# min DSC over the labels of an `medsam eval --json` file (1 when it has none)
min_dsc() { grep -o '"dsc": [0-9.e-]*' "$1" | awk '{ if (!n++ || $2 < m) m = $2 } END { print n ? m : 1 }'; }

for c in lite2d_odd 3D_lite_wide; do
    if $B segment -m $L --npz $E/$c.npz -o "$T/$c.npz" -t 2 2>"$T/err" &&
        $B eval --pred "$T/$c.npz" --gt $E/${c}_expected.npz --gt-key segs --json "$T/$c.json" -q 2>>"$T/err"; then
        d=$(min_dsc "$T/$c.json")
        if awk -v d="$d" 'BEGIN { exit !(d >= 0.999) }'; then ok "--npz $c: min Dice $d vs the official script"
        else bad "--npz $c: min Dice $d"; fi
    else
        bad "--npz $c: $(cat "$T/err")"
    fi
done

# thread count: the same bytes
if $B segment -m $L --npz $E/lite2d_up.npz -o "$T/up1.npz" -t 1 2>/dev/null &&
    $B segment -m $L --npz $E/lite2d_up.npz -o "$T/up3.npz" -t 3 2>/dev/null && cmp -s "$T/up1.npz" "$T/up3.npz"; then
    ok "--npz 2-D: 1 and 3 threads, same bytes"
else
    bad "--npz 2-D: 1 and 3 threads differ"
fi

# the same 2-D case with the pipeline named: the same file
if $B segment -m $L --npz $E/lite2d_odd.npz -o "$T/named.npz" --pipeline lite -t 2 2>/dev/null &&
    cmp -s "$T/named.npz" "$T/lite2d_odd.npz"; then ok "--pipeline lite = the default for a TinyViT model"
else bad "--pipeline lite differs from the default"; fi

# an image file through the lite pipeline, and through medsam's on the same model
if $B segment -m $L -i tests/fixtures/images/camera.png -b 100,80,400,420 -o "$T/cam.png" -t 2 2>"$T/err" &&
    $B segment -m $L -i tests/fixtures/images/camera.png -b 100,80,400,420 -o "$T/cam_m.png" --pipeline medsam -t 2 \
        2>>"$T/err" && [ -s "$T/cam.png" ] && [ -s "$T/cam_m.png" ]; then
    ok "image file: lite and medsam pipelines both run"
else
    bad "image file: $(cat "$T/err")"
fi

expect "unknown pipeline" "wants medsam, sam, lite" $B segment -m $L --npz $E/lite2d_odd.npz -o "$T/out.npz" --pipeline foo
if $B segment -m $L --npz $E/lite2d_odd.npz -o "$T/sam.npz" --pipeline sam -t 2 2>"$T/err" && [ -s "$T/sam.npz" ]; then
    ok "--pipeline sam runs a TinyViT model (SamPredictor takes any Sam)"
else bad "--pipeline sam on a TinyViT model: $(cat "$T/err")"; fi
expect "lite on a ViT at 128" "pipeline 'lite'" $B segment -m tests/fixtures/tiny/model.pth \
    -i tests/fixtures/images/camera.png -b 100,80,400,420 -o "$T/out.png" --pipeline lite
mkdir -p "$T/data/imgs" "$T/data/gts"
expect "train refuses TinyViT" "LiteMedSAM (TinyViT) checkpoint: training is implemented for the SAM ViT family only" \
    $B train --data "$T/data" --init "$M" --out "$T/out_run"
summary
