#!/bin/sh
# `medsam segment` on clinical DICOM: compressed lossless twins give the mask of
# their uncompressed original; a one-slice DICOM takes -b like a 2-D image (PNG
# output included); DICOM SEG output (-o OUT.dcm, --dicom-seg) passes dciodvfy
# (dicom3tools) without errors, and its frames equal the NIfTI labels of the same
# run (checked with pydicom + nibabel when Debian's python3 has them); bad input
# gives one line and writes nothing.
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth
D=tests/fixtures/dicom
P=${MS_PYDICOM_DATA:-/usr/lib/python3/dist-packages/pydicom/data/test_files}

# one-slice DICOM: -b without --slice, PNG out (issue 10)
if $B segment -m $M -i $D/mr_single.dcm -b 2,3,10,11 -o "$T/one.png" 2>"$T/err" &&
    [ "$(head -c 8 "$T/one.png" | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ]; then
    ok "one-slice DICOM: -b to PNG"
else
    bad "one-slice DICOM -b: $(cat "$T/err")"
fi
# the same as --slice 0
$B segment -m $M -i $D/mr_single.dcm --slice 0 -b 2,3,10,11 -o "$T/one0.png" 2>/dev/null
cmp -s "$T/one.png" "$T/one0.png" && ok "-b on one slice = --slice 0 -b" || bad "-b on one slice differs from --slice 0"
expect "-b on a real volume still needs --slice" "needs --slice Z" $B segment -m $M -i $D/ct_series -b 2,2,10,10 -o "$T/out.png"

# lossless twins: identical masks (PNG bytes) from MR_small.dcm and its compressed copies
if [ -e "$P/MR_small.dcm" ]; then
    $B segment -m $M -i "$P/MR_small.dcm" -b 10,12,50,52 -o "$T/mr.png" 2>"$T/err" || bad "MR_small: $(cat "$T/err")"
    for f in MR_small_RLE.dcm MR_small_jp2klossless.dcm MR_small_jpeg_ls_lossless.dcm; do
        if $B segment -m $M -i "$P/$f" -b 10,12,50,52 -o "$T/twin.png" 2>"$T/err" && cmp -s "$T/mr.png" "$T/twin.png"; then
            ok "$f: mask identical to MR_small.dcm's"
        else
            bad "$f: $(cat "$T/err")"
        fi
    done
    # JPEG lossless (process 14 SV1): MR_small's twin (committed, made by tools/ref/jpeg_lossless_encode.py, GDCM-checked)
    if $B segment -m $M -i $D/codecs/MR_small_jpeg_lossless.dcm -b 10,12,50,52 -o "$T/twin.png" 2>"$T/err" && cmp -s "$T/mr.png" "$T/twin.png"; then
        ok "MR_small_jpeg_lossless.dcm: mask identical to MR_small.dcm's"
    else
        bad "MR_small_jpeg_lossless.dcm: $(cat "$T/err")"
    fi
    # a one-slice colour DICOM is segmented as the 2-D RGB image it holds: the same mask as its pixels saved as PNG
    if /usr/bin/python3 -c "import pydicom, PIL" 2>/dev/null &&
        /usr/bin/python3 -c "import sys, pydicom, PIL.Image; PIL.Image.fromarray(pydicom.dcmread(sys.argv[1]).pixel_array).save(sys.argv[2])" \
            "$P/SC_rgb_rle.dcm" "$T/sc_rgb.png" 2>/dev/null; then
        $B segment -m $M -i "$T/sc_rgb.png" -b 10,10,80,80 -o "$T/rgb_png.png" 2>/dev/null
        $B segment -m $M -i "$P/SC_rgb_rle.dcm" -b 10,10,80,80 -o "$T/rgb_dcm.png" --overlay "$T/rgb_ov.png" 2>"$T/err"
        if cmp -s "$T/rgb_png.png" "$T/rgb_dcm.png" && [ -s "$T/rgb_ov.png" ]; then ok "RGB DICOM with -b = its pixels as a PNG image (overlay written)"
        else bad "RGB DICOM vs PNG: $(cat "$T/err")"; fi
        $B segment -m $M -i "$P/SC_rgb_rle.dcm" -b 10,10,80,80 -b 50,50,90,90 -o "$T/rgb_seg.dcm" 2>"$T/err" &&
            ok "RGB DICOM: two boxes to SEG" || bad "RGB DICOM SEG: $(cat "$T/err")"
        segs_extra="rgb_seg"
    fi
    # CT_small.dcm and its copy compressed by GDCM's own JPEG lossless encoder (committed)
    $B segment -m $M -i "$P/CT_small.dcm" -b 20,20,100,90 -o "$T/ct1.png" 2>/dev/null
    if $B segment -m $M -i $D/codecs/CT_small_gdcm_jpeg_lossless.dcm -b 20,20,100,90 -o "$T/ct2.png" 2>"$T/err" &&
        cmp -s "$T/ct1.png" "$T/ct2.png"; then
        ok "CT_small_gdcm_jpeg_lossless.dcm (GDCM's encoder): mask identical to CT_small.dcm's"
    else
        bad "CT_small JPEG lossless twin: $(cat "$T/err")"
    fi
    # RGB: SC_rgb_jpeg_gdcm.dcm (JPEG lossless SV1) and SC_rgb_gdcm_KY.dcm (JPEG 2000) against SC_rgb_rle.dcm, whose
    # pixels pydicom's own RLE handler gives (Debian's pydicom has no uncompressed SC_rgb.dcm)
    $B segment -m $M -i "$P/SC_rgb_rle.dcm" -b 10,10,80,80 -o "$T/rgb.png" 2>"$T/err" || bad "SC_rgb_rle: $(cat "$T/err")"
    for f in SC_rgb_jpeg_gdcm.dcm SC_rgb_gdcm_KY.dcm; do
        if $B segment -m $M -i "$P/$f" -b 10,10,80,80 -o "$T/rgbj.png" 2>"$T/err" && cmp -s "$T/rgb.png" "$T/rgbj.png"; then
            ok "$f (RGB): mask identical to SC_rgb_rle.dcm's"
        else
            bad "$f RGB twin: $(cat "$T/err")"
        fi
    done
else
    echo "skip: pydicom test files not found ($P)"
fi

# DICOM SEG beside NIfTI, same run
if $B segment -m $M -i $D/ct_series -B 2,2,0,18,20,3 -B 5,5,1,10,10,2 -o "$T/ct.nii" --dicom-seg "$T/ct_seg.dcm" 2>"$T/err" &&
    [ -s "$T/ct.nii" ] && [ -s "$T/ct_seg.dcm" ]; then
    ok "CT series: NIfTI and DICOM SEG written"
else
    bad "CT series SEG: $(cat "$T/err")"
fi
$B segment -m $M -i $D/be_multiframe.dcm -B 1,1,0,5,4,2 -o "$T/mf.nii" --dicom-seg "$T/mf_seg.dcm" 2>"$T/err" &&
    $B segment -m $M -i $D/be_multiframe.dcm -B 1,1,0,5,4,2 -o "$T/mf_only.dcm" 2>>"$T/err" && ok "multi-frame source: --dicom-seg and -o .dcm" ||
    bad "multi-frame SEG: $(cat "$T/err")"
$B segment -m $M -i $D/mr_single.dcm -b 2,3,10,11 -o "$T/one_seg.dcm" 2>"$T/err" && ok "one slice: -b to SEG" ||
    bad "one-slice SEG: $(cat "$T/err")"
segs="ct_seg mf_seg one_seg ${segs_extra:-}"
if [ -e "$P/CT_small.dcm" ]; then  # a source with a frame of reference: plane position / orientation in the SEG
    $B segment -m $M -i "$P/CT_small.dcm" -b 20,20,100,90 -b 60,60,120,120 -o "$T/geo.nii" --dicom-seg "$T/geo_seg.dcm" 2>"$T/err" &&
        ok "CT_small.dcm (frame of reference): two boxes to SEG" || bad "CT_small SEG: $(cat "$T/err")"
    segs="$segs geo_seg"
fi
if command -v dciodvfy >/dev/null 2>&1; then
    for f in $segs; do
        dciodvfy "$T/$f.dcm" >"$T/v.txt" 2>&1
        if [ ! -s "$T/$f.dcm" ]; then bad "dciodvfy $f.dcm: not written"
        elif grep -q '^Error' "$T/v.txt"; then bad "dciodvfy $f.dcm: $(grep '^Error' "$T/v.txt" | head -3)"
        else ok "dciodvfy $f.dcm: no errors ($(grep -c '^Warning' "$T/v.txt") warning(s))"; fi
    done
else
    echo "skip: dciodvfy not installed (Debian dicom3tools)"
fi
# pydicom reads the SEG; its frames, placed by their source image references, equal the NIfTI labels
cat >"$T/seg_vs_nii.py" <<'PY'
import glob, os, sys
import nibabel, numpy as np, pydicom
seg = pydicom.dcmread(sys.argv[1])
lab = np.asarray(nibabel.load(sys.argv[2]).dataobj)          # (x, y, z)
src = []
for p in (glob.glob(sys.argv[3] + "/*") if os.path.isdir(sys.argv[3]) else [sys.argv[3]]):
    try:
        s = pydicom.dcmread(p)
    except pydicom.errors.InvalidDicomError:
        continue
    if "PixelData" in s:
        src.append(s)
iop = src[0].get("ImageOrientationPatient")
if iop is None:  # enhanced multi-frame: the shared functional groups
    iop = src[0].SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
iop = np.array(iop, float)
n = np.cross(iop[:3], iop[3:])
src.sort(key=lambda s: float(n @ np.array(s.get("ImagePositionPatient", [0, 0, 0]), float)))
z_of = {s.SOPInstanceUID: z for z, s in enumerate(src)}
multi = int(getattr(src[0], "NumberOfFrames", 1) or 1) > 1
if multi:  # one enhanced multi-frame source: frames sorted along the normal by their plane positions
    pf = src[0].PerFrameFunctionalGroupsSequence
    pos = [float(n @ np.array(fg.PlanePositionSequence[0].ImagePositionPatient, float)) for fg in pf]
    z_of_frame = {f + 1: z for z, f in enumerate(np.argsort(pos, kind="stable"))}
frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), seg.Rows, seg.Columns)
rec = np.zeros(lab.shape[::-1], np.int64)                     # (z, y, x)
for f, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
    s = fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber
    ref = fg.DerivationImageSequence[0].SourceImageSequence[0]
    assert ref.ReferencedSOPInstanceUID in z_of
    z = z_of_frame[int(ref.ReferencedFrameNumber)] if multi else z_of[ref.ReferencedSOPInstanceUID]
    if "PlanePositionSequence" in fg and not multi:  # with a frame of reference in the source
        assert np.allclose([float(x) for x in fg.PlanePositionSequence[0].ImagePositionPatient],
                           [float(x) for x in src[z].ImagePositionPatient])
    rec[z][frames[f] > 0] = s
assert seg.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
assert np.array_equal(rec, np.transpose(lab, (2, 1, 0))), "frames differ from the NIfTI labels"
print("frames", len(frames), "labels", np.bincount(lab.ravel()).tolist())
PY
if /usr/bin/python3 -c "import pydicom, nibabel, numpy" 2>/dev/null; then
    for c in "ct $D/ct_series" "mf $D/be_multiframe.dcm" "geo $P/CT_small.dcm"; do
        set -- $c
        [ -e "$T/$1.nii" ] || continue
        if /usr/bin/python3 "$T/seg_vs_nii.py" "$T/$1_seg.dcm" "$T/$1.nii" "$2" >"$T/py.txt" 2>&1; then
            ok "pydicom reads $1_seg.dcm; frames equal the NIfTI labels ($(cat "$T/py.txt"))"
        else
            bad "$1 SEG vs NIfTI: $(tail -2 "$T/py.txt")"
        fi
    done
else
    echo "skip: SEG vs NIfTI through pydicom (Debian python3-pydicom / python3-nibabel not found)"
fi

# bad input: SEG from a non-DICOM input, a bad --dicom-seg name, a compressed syntax still refused
expect "SEG needs a DICOM input" "DICOM SEG needs a DICOM input" \
    $B segment -m $M -i tests/fixtures/volume/ct_phantom.nii.gz -B 17,18,1,43,38,12 -o "$T/out.dcm"
expect "SEG from a PNG image" "DICOM SEG needs a DICOM input" \
    $B segment -m $M -i tests/fixtures/images/camera.png -b 100,80,400,420 -o "$T/out.dcm"
[ -e "$P/SC_rgb_rle.dcm" ] && expect "RGB DICOM to NIfTI refused" "a colour DICOM image gives a .png mask or a .dcm" \
    $B segment -m $M -i "$P/SC_rgb_rle.dcm" -b 10,10,80,80 -o "$T/out.nii"
expect "--dicom-seg name" "ends in .dcm" $B segment -m $M -i $D/ct_series -B 2,2,0,18,20,3 -o "$T/out.nii" --dicom-seg "$T/out.seg"
if [ -e "$P/JPEG-lossy.dcm" ]; then
    expect "12-bit JPEG refused with the reason" "12-bit JPEG" $B segment -m $M -i "$P/JPEG-lossy.dcm" -b 1,1,50,50 -o "$T/out.png"
fi
summary
