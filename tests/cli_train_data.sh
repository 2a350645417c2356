#!/bin/sh
# `medsam train` on NIfTI pairs and npz files (tests/fixtures/traindata/, made by
# tools/ref/make_traindata_fixtures.py; train/dataset_volume.h) with the tiny model:
# the slices kept (pre_CT_MR.py's dust thresholds, or none), 2 training steps on each
# layout, --window / --mr change the images, runs are deterministic, latest.pth loads
# in `medsam segment`, and bad data or options give one line on stderr naming the
# file. The sample images themselves are checked bit for bit in test_train_data.
. tests/lib_cli.sh
D=tests/fixtures/traindata


# run NAME RUNDIR ARGS...: a training run on the tiny model; stderr in RUNDIR.err
run() {
    name=$1; dir=$2; shift 2
    if $B train --init "$T/init.pth" --out "$dir" --threads 2 --seed 7 "$@" 2>"$dir.err"; then return 0; fi
    bad "$name: $(tail -n 3 "$dir.err")"
    return 1
}
steps() { grep -c '^step,' "$1/log.csv" 2>/dev/null; }
loss1() { grep '^step,' "$1/log.csv" | head -n 1 | cut -d, -f5; }

$B init --arch tiny --seed 1 -o "$T/init.pth" >/dev/null 2>&1 || bad "init"

# NIfTI, CT window: ct1 keeps z 1..3 (organ 2, 504 voxels, and a 12-voxel speck fall under
# 1000 voxels), ct2 (image ct2_0000.nii.gz) z 0..3: 7 slices; batch 4 = 2 steps
if run "NIfTI --window soft" "$T/n1" --data "$D/nifti" --window soft --batch 4; then
    if grep -q 'NIfTI data: 7 slices with labels from 2 files' "$T/n1.err" && [ "$(steps "$T/n1")" -eq 2 ] &&
        awk -v l="$(loss1 "$T/n1")" 'BEGIN { exit !(l > 0 && l < 10) }'
    then ok "NIfTI: 7 slices, 2 steps, first loss $(loss1 "$T/n1")"
    else bad "NIfTI run: $(cat "$T/n1.err"; cat "$T/n1/log.csv")"; fi
fi
# the same run again: the same log (losses to 9 digits) and the same checkpoint bytes
if run "NIfTI again" "$T/n2" --data "$D/nifti" --window soft --batch 4; then
    if cmp -s "$T/n1/log.csv" "$T/n2/log.csv" && cmp -s "$T/n1/latest.pth" "$T/n2/latest.pth"
    then ok "NIfTI: a second run gives the same log.csv and latest.pth"
    else bad "NIfTI: runs differ"; fi
fi
# MR percentiles instead of the CT window: other images, so another loss
if run "NIfTI --mr" "$T/n3" --data "$D/nifti" --mr --batch 4; then
    if [ "$(steps "$T/n3")" -eq 2 ] && [ "$(loss1 "$T/n3")" != "$(loss1 "$T/n1")" ]
    then ok "NIfTI --mr: loss $(loss1 "$T/n3") (window: $(loss1 "$T/n1"))"
    else bad "--mr made no difference: $(loss1 "$T/n3")"; fi
fi
# no dust removal: ct1 z 4 (the speck) joins: 8 slices
if run "NIfTI no dust" "$T/n4" --data "$D/nifti" --window 40,400 --batch 4 --min-voxels-3d 0 --min-pixels-2d 0; then
    if grep -q 'NIfTI data: 8 slices with labels from 2 files' "$T/n4.err" && [ "$(steps "$T/n4")" -eq 2 ]
    then ok "NIfTI, dust removal off: 8 slices"; else bad "no dust: $(head -n 2 "$T/n4.err")"; fi
fi

# npz: 2D_a (one image, labels 1 and 2) + 3D_b (organ 7 on 2 slices): 3 samples, batch 2 = 2 steps
if run "npz" "$T/z1" --data "$D/npz" --batch 2; then
    if grep -q 'npz data: 3 slices with labels from 2 files' "$T/z1.err" && [ "$(steps "$T/z1")" -eq 2 ]
    then ok "npz: 3 samples, 2 steps, first loss $(loss1 "$T/z1")"; else bad "npz run: $(cat "$T/z1.err")"; fi
    if $B segment -m "$T/z1/latest.pth" -i tests/fixtures/images/camera.png -b 10,10,200,200 -o "$T/mask.png" -t 1 \
        >/dev/null 2>&1 && [ -s "$T/mask.png" ]
    then ok "segment loads the npz run's latest.pth"; else bad "segment with latest.pth failed"; fi
fi
# validation split over slices, 2 epochs: best.pth and a val line per epoch
if run "NIfTI with validation" "$T/z2" --data "$D/nifti" --window soft --batch 2 --epochs 2 --val-fraction 0.3; then
    if [ -s "$T/z2/best.pth" ] && [ "$(grep -c '^val,' "$T/z2/log.csv")" -eq 2 ]
    then ok "NIfTI with --val-fraction 0.3: validation each epoch"; else bad "validation: $(cat "$T/z2/log.csv")"; fi
fi

# errors
expect_train "bad window" "--window" $B train --data "$D/nifti" --init "$T/init.pth" --out "$T/o" --window nope
expect_train "window and mr" "exclude each other" $B train --data "$D/nifti" --init "$T/init.pth" --out "$T/o" --window soft --mr
expect_train "bad dust value" "bad value '-1' for --min-voxels-3d" $B train --data "$D/nifti" --init "$T/init.pth" --out "$T/o" --min-voxels-3d -1
expect_train "everything dusted" "no slice keeps a label" $B train --data "$D/nifti" --init "$T/init.pth" --out "$T/o" --window soft --min-voxels-3d 100000
mkdir -p "$T/mis/imgs" "$T/mis/gts"
cp "$D/nifti/imgs/ct1.nii.gz" "$T/mis/imgs/x.nii.gz"; cp "$D/nifti/gts/ct2.nii.gz" "$T/mis/gts/x.nii.gz"
expect_train "image/label shapes differ" "mis/imgs/x.nii.gz: image is 48x40x5 (x,y,z), labels" $B train --data "$T/mis" --init "$T/init.pth" --out "$T/o" --window soft
mkdir -p "$T/broken/imgs" "$T/broken/gts"
cp "$D/nifti/imgs/ct1.nii.gz" "$T/broken/imgs/y.nii.gz"; head -c 100 "$D/nifti/gts/ct1.nii.gz" >"$T/broken/gts/y.nii.gz"
expect_train "truncated labels" "broken/gts/y.nii.gz" $B train --data "$T/broken" --init "$T/init.pth" --out "$T/o" --window soft
mkdir -p "$T/zbad"
cp "$D/npz/3D_b.npz" "$T/zbad/ok.npz"; head -c 3000 "$D/npz/2D_a.npz" >"$T/zbad/cut.npz"
expect_train "truncated npz" "zbad/cut.npz" $B train --data "$T/zbad" --init "$T/init.pth" --out "$T/o"
expect_train "--window dicom on NIfTI" "ct1.nii.gz: --window dicom: the volume has no DICOM" $B train --data "$D/nifti" --init "$T/init.pth" --out "$T/o" --window dicom

summary
