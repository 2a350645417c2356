#!/bin/sh
# `medsam segment` with SAM's prompts (-p, --multimask, --scores, --mask-input) and the
# sam pipeline on the tiny model: outputs and their shapes, the refinement loop, the
# same prompt through the API (test_sam_pipeline) and through the CLI, and bad input
# (one line naming the argument or file, non-zero exit, nothing written).
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth
IMG=tests/fixtures/images/chelsea.png

# npy_f32_file PATH SHAPE BYTES: a float32 .npy of SHAPE whose data are BYTES bytes of 0xFF (NaN)
npy_nan_file() {
    { npy_header '<f4' "$2"; head -c "$3" /dev/zero | tr '\0' '\377'; } >"$1"
}

# one click, three masks, IoU scores, all logits
if $B segment -m "$M" -i "$IMG" --pipeline sam -p 225.5,150 --multimask --scores "$T/s.json" --logits "$T/l3.npy" \
    -o "$T/m3.png" 2>"$T/err"; then ok "point + --multimask"; else bad "point + --multimask: $(cat "$T/err")"; fi
if grep -q '"iou": \[[-0-9.e]*, [-0-9.e]*, [-0-9.e]*\], "best": [012]}' "$T/s.json"; then ok "--scores: $(cat "$T/s.json")"
else bad "--scores: $(cat "$T/s.json")"; fi
if head -c 128 "$T/l3.npy" | grep -q "'shape': (1, 3, 32, 32)"; then ok "--logits with --multimask: (1,3,32,32)"
else bad "--logits with --multimask: $(head -c 128 "$T/l3.npy")"; fi

# refinement loop: one mask's logits back in as --mask-input, with a background click
if $B segment -m "$M" -i "$IMG" --pipeline sam -p 225.5,150 -p 157.8,180,0 --logits "$T/l1.npy" -o "$T/m1.png" &&
    $B segment -m "$M" -i "$IMG" --pipeline sam -p 225.5,150 -p 157.8,180,0 --mask-input "$T/l1.npy" -o "$T/m2.png"; then
    ok "refinement loop (--logits -> --mask-input)"
else bad "refinement loop"; fi
# the (256,256)-style 2-D form of the same logits gives the same mask
{ npy_header '<f4' '(32, 32)'; tail -c 4096 "$T/l1.npy"; } >"$T/l1_2d.npy"
$B segment -m "$M" -i "$IMG" --pipeline sam -p 225.5,150 -p 157.8,180,0 --mask-input "$T/l1_2d.npy" -o "$T/m2b.png"
if cmp -s "$T/m2.png" "$T/m2b.png"; then ok "mask input (L,L) = (1,1,L,L)"; else bad "mask input (L,L) differs"; fi

# points + a box, mask only from the mask input, points under the medsam pipeline, --embedding reuse
$B embed -m "$M" -i "$IMG" --pipeline sam -o "$T/emb.npy"
if $B segment -m "$M" -i "$IMG" --pipeline sam -p 203,150 -p 90.2,240,0 -b 45.1,45,360.8,270 --multimask -o "$T/a.png" &&
    $B segment -m "$M" -i "$IMG" --pipeline sam -p 203,150 -p 90.2,240,0 -b 45.1,45,360.8,270 --multimask \
        --embedding "$T/emb.npy" -o "$T/b.png" && cmp -s "$T/a.png" "$T/b.png"; then ok "points + box, --embedding reuse"
else bad "points + box / --embedding"; fi
if $B segment -m "$M" -i "$IMG" --pipeline sam --mask-input "$T/l1.npy" -o "$T/c.png" 2>"$T/err"; then ok "mask input alone"
else bad "mask input alone: $(cat "$T/err")"; fi
if $B segment -m "$M" -i "$IMG" -p 100,100 -p 300,200,0 --overlay "$T/ov.png" -o "$T/d.png" 2>"$T/err" && [ -s "$T/ov.png" ]
then ok "points under the medsam pipeline, --overlay"; else bad "medsam points: $(cat "$T/err")"; fi

# a lone box gives the same mask through the box path (medsam_decode_boxes) and the prompt path
$B segment -m "$M" -i "$IMG" --pipeline sam -b 90.2,75,315.7,240 -o "$T/bx1.png"
$B segment -m "$M" -i "$IMG" --pipeline sam -b 90.2,75,315.7,240 --scores "$T/bx.json" -o "$T/bx2.png"
if cmp -s "$T/bx1.png" "$T/bx2.png"; then ok "box path = prompt path"; else bad "box path and prompt path differ"; fi
# volumes and CVPR24 npz cases run through the sam pipeline too
if $B segment -m "$M" --npz tests/fixtures/volume/case3d.npz --pipeline sam -o "$T/c3.npz" 2>"$T/err" && [ -s "$T/c3.npz" ]
then ok "--npz 3-D with --pipeline sam"; else bad "--npz 3-D with --pipeline sam: $(cat "$T/err")"; fi

# bad input
npy_header '<f8' '(32, 32)' >"$T/f64.npy"; head -c 8192 /dev/zero >>"$T/f64.npy"
npy_nan_file "$T/nan.npy" '(1, 1, 32, 32)' 4096
npy_nan_file "$T/short.npy" '(10, 32)' 1280
P="$B segment -m $M -i $IMG --pipeline sam --logits $T/out_l.npy --scores $T/out_s.json -o $T/out.png"
expect "point outside the image" "-p 500,150,1: point 1 lies outside the 451x300" $P -p 500,150
expect "negative point" "lies outside" $P -p 10,-1
expect "label 2" "label 2, expected 1 (foreground) or 0 (background)" $P -p 50,150,2
expect "label -1" "label -1" $P -p 50,150,-1
expect "malformed point" "-p '50' is not x,y" $P -p 50
expect "point with junk" "is not x,y" $P -p 50,60x
expect "two boxes with points" "at most one -b" $P -p 50,150 -b 1,1,30,30 -b 2,2,40,40
expect "mask input of 3 masks" "--mask-input $T/l3.npy: expected float32 low-resolution logits (1,1,32,32) or (32,32), got float32 (1,3,32,32)" $P -p 50,150 --mask-input "$T/l3.npy"
expect "mask input float64" "got float64 (32,32)" $P -p 50,150 --mask-input "$T/f64.npy"
expect "mask input NaN" "nan.npy: holds a non-finite value at index 0" $P -p 50,150 --mask-input "$T/nan.npy"
expect "mask input wrong size" "got float32 (10,32)" $P -p 50,150 --mask-input "$T/short.npy"
expect "mask input missing" "--mask-input $T/none.npy" $P -p 50,150 --mask-input "$T/none.npy"
expect "no prompt" "missing -b x0,y0,x1,y1 or -p x,y" $P --multimask
expect "unknown pipeline" "--pipeline wants" $P -p 50,150 --pipeline sammy
expect "sam on 16-bit grey" "pipeline 'sam' takes 8-bit images" $B segment -m "$M" -i tests/fixtures/preprocess/grey16_40x33.png --pipeline sam -p 5,5 -o "$T/out.png"
if $B segment -m "$M" -i tests/fixtures/preprocess/rgb16_20x24.png --pipeline sam -p 5,5 -o "$T/e.png"; then
    ok "sam on 16-bit RGB (Pillow's high byte)"; else bad "sam on 16-bit RGB"; fi
summary
