#!/bin/sh
# Box zoom (README "Box zoom"): --box-zoom values checked (exit 2, nothing written);
# `medsam convert --box-zoom K` records it in the file, `info` reports it, a convert
# keeps it; with it a small box costs its own encode (-v), --box-zoom 0 gives the plain
# pipeline's bytes; --logits / --embedding with a zooming model are refused with a
# hint; 2-D npz cases, single-frame images and batch lists zoom the same way.
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth
IMG=tests/fixtures/images/cell.png

for v in abc -1 101 ""; do
    "$B" segment -m $M -i $IMG -b 10,10,100,100 -o "$T/bad.png" --box-zoom "$v" 2>"$T/err"; rc=$?
    if [ $rc -eq 2 ] && grep -q "box-zoom wants a factor from 0 (off) to 100, got '$v'" "$T/err" && [ ! -e "$T/bad.png" ]
    then ok "--box-zoom '$v': exit 2"; else bad "--box-zoom '$v': rc=$rc $(cat "$T/err")"; fi
done
"$B" segment --npz tests/fixtures/volume/case2d.npz -m $M -o "$T/bad.npz" --box-zoom x 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ ! -e "$T/bad.npz" ] && ok "--npz --box-zoom x: exit 2" || bad "npz bad zoom: rc=$rc"

"$B" info -m $M | grep -q "^box zoom: off" && ok "info: a .pth has no box zoom" || bad "info .pth"
"$B" convert $M "$T/z3.safetensors" --box-zoom 3 >/dev/null 2>"$T/err" \
    && "$B" info -m "$T/z3.safetensors" | grep -q "^box zoom: 3 (the file asks for it" \
    && ok "convert --box-zoom 3 records it, info reports it" || bad "convert zoom: $(cat "$T/err")"
"$B" convert "$T/z3.safetensors" "$T/z3b.safetensors" --dtype f16 >/dev/null 2>&1 \
    && "$B" info -m "$T/z3b.safetensors" | grep -q "^box zoom: 3" && ok "a convert keeps the record" || bad "convert keeps"
"$B" convert "$T/z3.safetensors" "$T/z0.safetensors" --box-zoom 0 >/dev/null 2>&1 \
    && "$B" info -m "$T/z0.safetensors" | grep -q "^box zoom: off" && ok "convert --box-zoom 0 drops it" || bad "convert 0"

# a 20 px box in a 550x660 image: window 60 px, one encode of the window only
"$B" segment -m "$T/z3.safetensors" -i $IMG -b 200,300,220,320 -o "$T/z.png" -v 2>"$T/v"; rc=$?
if [ $rc -eq 0 ] && grep -q "^box zoom 3: 1 box(es), 1 encode(s)" "$T/v" && [ -s "$T/z.png" ]; then ok "small box zoomed (-v)"
else bad "zoomed segment: rc=$rc $(cat "$T/v")"; fi
"$B" segment -m $M -i $IMG -b 200,300,220,320 -o "$T/plain.png" 2>/dev/null
"$B" segment -m "$T/z3.safetensors" -i $IMG -b 200,300,220,320 -o "$T/off.png" --box-zoom 0 2>/dev/null
cmp -s "$T/plain.png" "$T/off.png" && ok "--box-zoom 0: the plain pipeline's bytes" || bad "--box-zoom 0 differs"
"$B" segment -m $M -i $IMG -b 200,300,220,320 -o "$T/on.png" --box-zoom 3 2>/dev/null
cmp -s "$T/z.png" "$T/on.png" && ok "--box-zoom 3 on a .pth = the file's record" || bad "--box-zoom 3 on .pth differs"
# two boxes, one large (no zoom) and one small: two encodes, labels 1 and 2
"$B" segment -m "$T/z3.safetensors" -i $IMG -b 0,0,550,660 -b 200,300,220,320 -o "$T/two.png" --overlay "$T/ov.png" -v \
    2>"$T/v"; rc=$?
[ $rc -eq 0 ] && grep -q "2 box(es), 2 encode(s)" "$T/v" && [ -s "$T/ov.png" ] && ok "large + small box: 2 encodes, overlay" \
    || bad "two boxes: rc=$rc $(cat "$T/v")"
for opt in --logits --embedding; do
    "$B" segment -m "$T/z3.safetensors" -i $IMG -b 200,300,220,320 -o "$T/l.png" $opt "$T/l.npy" 2>"$T/err"; rc=$?
    if [ $rc -eq 2 ] && grep -q -e "$opt needs the whole image's embedding.*add --box-zoom 0" "$T/err" && [ ! -e "$T/l.png" ]
    then ok "$opt with a zooming model: exit 2 with the hint"; else bad "$opt: rc=$rc $(cat "$T/err")"; fi
done
"$B" segment -m "$T/z3.safetensors" -i $IMG -b 200,300,220,320 -o "$T/l.png" --logits "$T/l.npy" --box-zoom 0 2>/dev/null \
    && [ -s "$T/l.npy" ] && ok "--logits with --box-zoom 0 runs" || bad "--logits --box-zoom 0"

# 2-D npz (90x70, boxes 42 and 35 px wide): zoom 3 leaves them whole, 1.5 zooms both
"$B" segment -m "$T/z3.safetensors" --npz tests/fixtures/volume/case2d.npz -o "$T/n3.npz" -v 2>"$T/v"
grep -q "2 box(es), 1 encode(s) (box zoom 3)" "$T/v" && ok "npz: large boxes not zoomed" || bad "npz 3: $(cat "$T/v")"
"$B" segment -m $M --npz tests/fixtures/volume/case2d.npz -o "$T/n0.npz" 2>/dev/null
cmp -s "$T/n3.npz" "$T/n0.npz" && ok "npz: no zoomed box = the plain bytes" || bad "npz plain differs"
"$B" segment -m $M --npz tests/fixtures/volume/case2d.npz -o "$T/n15.npz" --box-zoom 1.5 -v 2>"$T/v"
grep -q "2 box(es), 3 encode(s)\|2 box(es), 2 encode(s) (box zoom 1.5)" "$T/v" && ok "npz --box-zoom 1.5: each box its window" \
    || bad "npz 1.5: $(cat "$T/v")"
# a batch row runs the same code: same bytes as the single run
printf 'input,boxes,output\n%s,"200,300,220,320",%s\n' "$PWD/$IMG" "$T/b.png" >"$T/list.csv"
"$B" segment -m "$T/z3.safetensors" --batch "$T/list.csv" 2>/dev/null && cmp -s "$T/b.png" "$T/z.png" \
    && ok "batch row = single run with box zoom" || bad "batch zoom differs"
summary
