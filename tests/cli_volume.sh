#!/bin/sh
# `medsam segment` on volumes and CVPR24 npz cases: results equal the official
# reference (tools/ref/make_volume_seg_fixtures.py) where it is comparable from
# the shell, outputs are written, progress goes to stderr only when asked (not a
# terminal here), and bad input gives one line on stderr, a non-zero exit and no
# output file.
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth
F=tests/fixtures/volume
CT=$F/ct_phantom.nii.gz
CTB="-B 17,18,1,43,38,12 -B 39,26,4,57,42,13"


# 3-D boxes on the CT phantom, soft-tissue window: the labels (data after the
# 352-byte NIfTI-1 header) are the reference's byte for byte
tail -c +353 "$F/ct_labels.nii" >"$T/ref.tail"
if $B segment -m $M -i $CT --window soft $CTB -o "$T/ct.nii" 2>"$T/err" && tail -c +353 "$T/ct.nii" | cmp -s - "$T/ref.tail"; then
    ok "CT phantom: labels equal the reference"
else
    bad "CT phantom labels: $(cat "$T/err")"
fi
[ -s "$T/err" ] && bad "stderr not empty without a terminal: $(cat "$T/err")" || ok "no progress output when stderr is not a terminal"

# .nii.gz output is gzip, and decompresses to the same file as .nii
if $B segment -m $M -i $CT --window 40,400 $CTB -o "$T/ct.nii.gz" --overlay "$T/ct_overlay.png" 2>/dev/null &&
    [ "$(head -c 2 "$T/ct.nii.gz" | od -An -tx1 | tr -d ' ')" = "1f8b" ] && gzip -dc "$T/ct.nii.gz" | cmp -s - "$T/ct.nii" &&
    [ "$(head -c 8 "$T/ct_overlay.png" | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ]; then
    ok ".nii.gz = gzip of the .nii; overlay PNG written"
else
    bad ".nii.gz output or overlay"
fi

# --progress prints slice lines (13 slices encoded for these two boxes)
$B segment -m $M -i $CT --window soft $CTB -o "$T/p.nii" --progress 2>"$T/err" >/dev/null
if grep -q "slice 13/13" "$T/err" && [ "$(grep -c 'slice' "$T/err")" -eq 13 ]; then ok "--progress: 13 slice lines"; else bad "--progress: $(cat "$T/err")"; fi

# CVPR24 3-D case: --npz gives what -i with the same boxes gives, and -i to .nii
# gives the reference labels
$B segment -m $M --npz $F/case3d.npz -o "$T/c3.npz" 2>"$T/err" || bad "--npz 3-D: $(cat "$T/err")"
$B segment -m $M -i $F/case3d.npz -B 10,10,1,40,34,7 -B 38,19,0,56,41,5 -o "$T/c3b.npz" 2>/dev/null
if cmp -s "$T/c3.npz" "$T/c3b.npz"; then ok "--npz 3-D case = -i with its boxes"; else bad "--npz 3-D differs from -i"; fi

# CVPR24 2-D case
if $B segment -m $M --npz $F/case2d.npz -o "$T/c2.npz" --overlay "$T/c2.png" 2>"$T/err" && [ -s "$T/c2.npz" ] && [ -s "$T/c2.png" ]; then
    ok "--npz 2-D case written with its overlay"
else
    bad "--npz 2-D: $(cat "$T/err")"
fi

# one slice to PNG; percentiles by default on the float32 MR phantom
if $B segment -m $M -i $F/mr_phantom.nii.gz --slice 3 -b 8,6,30,28 -o "$T/mr3.png" 2>"$T/err" &&
    [ "$(head -c 8 "$T/mr3.png" | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ]; then
    ok "--slice to PNG"
else
    bad "--slice: $(cat "$T/err")"
fi

# 2-D images keep working, with an overlay
if $B segment -m $M -i tests/fixtures/images/camera.png -b 100,80,400,420 -o "$T/cam.png" --overlay "$T/camo.png" 2>/dev/null &&
    [ -s "$T/camo.png" ]; then ok "2-D image with --overlay"; else bad "2-D --overlay"; fi

# errors
expect "box outside the volume (x)" "outside" $B segment -m $M -i $CT -B 17,18,1,80,38,12 -o "$T/out.nii.gz"
expect "box outside the volume (z)" "outside" $B segment -m $M -i $CT -B 17,18,1,43,38,14 -o "$T/out.nii.gz"
expect "negative z" "outside" $B segment -m $M -i $CT -B 17,18,-1,43,38,5 -o "$T/out.nii.gz"
expect "z1 < z0" "z0 <= z1" $B segment -m $M -i $CT -B 17,18,9,43,38,4 -o "$T/out.nii.gz"
expect "x1 <= x0" "x0 < x1" $B segment -m $M -i $CT -B 43,18,1,17,38,4 -o "$T/out.nii.gz"
expect "bad window name" "window 'soft-tissue'" $B segment -m $M -i $CT --window soft-tissue $CTB -o "$T/out.nii.gz"
expect "bad window width" "WIDTH > 0" $B segment -m $M -i $CT --window 40,-400 $CTB -o "$T/out.nii.gz"
expect "DICOM window on NIfTI" "DICOM" $B segment -m $M -i $CT --window dicom $CTB -o "$T/out.nii.gz"
expect "window and --mr" "exclude" $B segment -m $M -i $CT --window soft --mr $CTB -o "$T/out.nii.gz"
expect "malformed 3-D box" "not x0,y0,z0,x1,y1,z1" $B segment -m $M -i $CT -B 1,2,3,4,5 -o "$T/out.nii.gz"
expect "fractional slice" "not x0,y0,z0,x1,y1,z1" $B segment -m $M -i $CT -B 17,18,1.5,43,38,12 -o "$T/out.nii.gz"
expect "2-D box without --slice" "needs --slice" $B segment -m $M -i $CT -b 17,18,43,38 -o "$T/out.nii.gz"
expect "--slice without -b" "2-D boxes" $B segment -m $M -i $CT --slice 3 -o "$T/out.png"
expect "--slice past the volume" "outside the volume" $B segment -m $M -i $CT --slice 14 -b 17,18,43,38 -o "$T/out.png"
expect "PNG for a 3-D result" ".nii, .nii.gz or .npz" $B segment -m $M -i $CT $CTB -o "$T/out.png"
expect "missing volume" "no_such.nii.gz" $B segment -m $M -i "$T/no_such.nii.gz" $CTB -o "$T/out.nii.gz"
printf 'not a volume' >"$T/garbage.nii"
expect "not a volume" "garbage.nii" $B segment -m $M -i "$T/garbage.nii" $CTB -o "$T/out.nii.gz"
expect "missing model" "no_such.pth" $B segment -m "$T/no_such.pth" -i $CT $CTB -o "$T/out.nii.gz"
expect "npz without boxes" "'boxes'" $B segment -m $M --npz tests/fixtures/npz/stored.npz -o "$T/out.npz"
expect "npz to NIfTI" "writes an .npz" $B segment -m $M --npz $F/case3d.npz -o "$T/out.nii.gz"
expect "npz with -B" "no -i, -b, -B" $B segment -m $M --npz $F/case3d.npz -B 1,1,0,5,5,1 -o "$T/out.npz"
expect "unwritable output" "cannot create" $B segment -m $M -i $CT $CTB -o "$T/no/dir/out.nii.gz"
expect "unwritable overlay" "cannot create" $B segment -m $M -i $CT $CTB -o "$T/out.nii.gz" --overlay "$T/no/dir/o.png"
expect "percentiles with no voxel > 0" "> 0" $B segment -m $M -i $F/nonpositive.npz -B 0,0,0,4,3,1 -o "$T/out.nii"

# a failed run never clobbers an existing output
printf 'keep me' >"$T/keep.nii.gz"
$B segment -m $M -i $CT -B 17,18,9,43,38,4 -o "$T/keep.nii.gz" 2>/dev/null
if [ "$(cat "$T/keep.nii.gz")" = "keep me" ]; then ok "failed run keeps the old output"; else bad "old output overwritten"; fi

# Ctrl-C (sent from a background job to the foreground run): either the run had
# finished (complete output) or it stops with exit 130 and no output file -- or,
# when the signal lands after the output's atomic rename, exit 130 with the
# complete output (seen once on a slow VM); never a partial or temporary file.
# When the handler caught it, one line says so
( while [ ! -s "$T/pid" ]; do sleep 0.01; done; sleep 0.1; kill -INT "$(cat "$T/pid")" 2>/dev/null ) &
killer=$!
sh -c "echo \$\$ >'$T/pid'; exec $B segment -m $M -i $CT --window soft $CTB --cache-mb 0 -o '$T/int.nii'" 2>"$T/err"
rc=$?
wait $killer
if ! ls "$T" | grep -q 'int.nii.tmp' &&
    { { [ $rc -eq 130 ] && [ ! -e "$T/int.nii" ]; } || { { [ $rc -eq 0 ] || [ $rc -eq 130 ]; } && cmp -s "$T/int.nii" "$T/ct.nii"; }; }; then
    ok "SIGINT: exit $rc, output complete or absent $(cat "$T/err")"
else
    bad "SIGINT: exit $rc: $(cat "$T/err")"
fi

$B segment -h >"$T/help" 2>&1 && grep -q -- "--window" "$T/help" && ok "segment -h documents volumes" || bad "segment -h"
summary
