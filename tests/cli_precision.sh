#!/bin/sh
# --precision fp32|bf16 on `medsam embed` / `segment` (tiny fixture ViT): bad
# values are usage errors (exit 2, nothing written), -v and `medsam info` name
# the bf16 kernel, fp32 stays the default (same bytes with and without the
# flag), a bf16 embedding differs from fp32 but only slightly, LiteMedSAM runs bf16 too.
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth
IMG=tests/fixtures/images/cell.png

"$B" embed -m $M -i $IMG -o "$T/out.npy" --precision int8 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "fp32 or bf16, got 'int8'" "$T/err" && [ ! -e "$T/out.npy" ]; then ok "unknown precision: exit 2"
else bad "unknown precision: rc=$rc $(cat "$T/err")"; fi
"$B" segment -m $M -i $IMG -b 10,10,100,100 -o "$T/out.png" --precision 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && [ ! -e "$T/out.png" ]; then ok "--precision without a value: exit 2"; else bad "no value: rc=$rc"; fi

"$B" info -m $M >"$T/info" && grep -q "^precision: fp32 (default; --precision bf16 runs the encoder's linears on " "$T/info" \
    && ok "info names the bf16 kernel: $(grep ^precision "$T/info")" || bad "info: $(cat "$T/info")"

"$B" embed -m $M -i $IMG -o "$T/e_default.npy" -t 1 2>/dev/null
"$B" embed -m $M -i $IMG -o "$T/e_fp32.npy" --precision fp32 -t 2 -v 2>"$T/v32"
cmp -s "$T/e_default.npy" "$T/e_fp32.npy" && grep -q "^precision: fp32" "$T/v32" && ok "fp32 is the default, bit-identical" \
    || bad "fp32 default: $(cat "$T/v32")"
"$B" embed -m $M -i $IMG -o "$T/e_bf16.npy" --precision bf16 -v 2>"$T/vbf"; rc=$?
if [ $rc -eq 0 ] && grep -Eq "^precision: bf16 encoder linears on (amx-bf16|avx512bf16|avx512f|avx2-fma|portable C)" "$T/vbf"; then
    ok "-v says which bf16 path ran: $(grep ^precision "$T/vbf")"
else bad "bf16 embed: rc=$rc $(cat "$T/vbf")"; fi
if cmp -s "$T/e_fp32.npy" "$T/e_bf16.npy"; then bad "bf16 embedding is identical to fp32 (bf16 did not run)"
else ok "bf16 embedding differs from fp32"; fi

"$B" segment -m $M -i $IMG -b 30,30,200,200 -o "$T/m32.png" 2>/dev/null
"$B" segment -m $M -i $IMG -b 30,30,200,200 -o "$T/mbf.png" --precision bf16 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ -s "$T/mbf.png" ] && ok "segment --precision bf16 writes a mask" || bad "segment bf16: rc=$rc $(cat "$T/err")"

V=tests/fixtures/volume
"$B" segment -m $M -i $V/ct_phantom.nii.gz -B 17,18,1,43,38,12 -o "$T/v32.nii.gz" -t 2 2>/dev/null
"$B" segment -m $M -i $V/ct_phantom.nii.gz -B 17,18,1,43,38,12 -o "$T/vbf.nii.gz" -t 2 --precision bf16 -v 2>"$T/err"; rc=$?
if [ $rc -eq 0 ] && [ -s "$T/vbf.nii.gz" ] && grep -q "^precision: bf16" "$T/err"; then ok "volume segment --precision bf16"
else bad "volume bf16: rc=$rc $(tail -2 "$T/err")"; fi
"$B" segment -m $M --npz $V/case3d.npz -o "$T/nbf.npz" -t 2 --precision bf16 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ -s "$T/nbf.npz" ] && ok "--npz --precision bf16" || bad "npz bf16: rc=$rc $(tail -2 "$T/err")"
"$B" segment -m $M -i $V/ct_phantom.nii.gz -B 17,18,1,43,38,12 -o "$T/out.nii.gz" --precision fp16 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ ! -e "$T/out.nii.gz" ] && ok "volume: unknown precision exit 2" || bad "volume fp16: rc=$rc"

# LiteMedSAM (TinyViT): bf16 runs too, near fp32 and not equal to it
"$B" embed -m tests/fixtures/lite/model.pth -i $IMG -o "$T/l32.npy" 2>"$T/err" &&
    "$B" embed -m tests/fixtures/lite/model.pth -i $IMG -o "$T/lbf.npy" --precision bf16 -v 2>"$T/vl"; rc=$?
if [ $rc -eq 0 ] && grep -q "^precision: bf16 encoder linears on" "$T/vl" && ! cmp -s "$T/l32.npy" "$T/lbf.npy"; then
    ok "LiteMedSAM --precision bf16 runs ($(grep ^precision "$T/vl" | cut -c1-60)...)"
else bad "LiteMedSAM bf16: rc=$rc $(cat "$T/err" "$T/vl" 2>/dev/null | tail -2)"; fi
summary
