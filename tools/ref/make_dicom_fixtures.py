#!/usr/bin/python3
"""make_dicom_fixtures.py - small DICOM fixtures for tests/test_dicom.c, and
tests/fixtures/dicom/expected.txt: what ms_dicom_read must return for each
fixture and for pydicom's own test files (read from the Debian path when it
exists; the C test skips those records when the files are absent).

Expected values come from pydicom (pixel_array, tag values) and from the
standard geometry formula, computed here independently of the C code:
  voxel (i = column, j = row, k = slice) -> LPS
      = IPP_first + i * r * PixelSpacing[1] + j * c * PixelSpacing[0] + k * step
  r, c = Image Orientation (Patient) row / column cosines, n = r x c;
  slices sorted by IPP . n; step = (IPP_last - IPP_first) / (N - 1), or
  n * (SpacingBetweenSlices | SliceThickness | 1) for one slice;
  RAS = diag(-1, -1, 1) * LPS  (nibabel / dcm2niix convention).
Checked against nibabel.nicom.dicomwrappers (single-slice affines, with its
(row, column) axis order swapped) and nibabel's set_qform (quaternion).
Bits above Bits Stored are masked (unsigned) or sign-extended (signed) here,
which pydicom 2.3's pixel_array does not do.

Usage:
  /usr/bin/python3 tools/ref/make_dicom_fixtures.py            # writes tests/fixtures/dicom
  /usr/bin/python3 tools/ref/make_dicom_fixtures.py --check DIR
      # DIR from `MS_DICOM_KEEP_DIR=DIR build/tests/test_dicom`: nibabel reads the
      # NIfTI files the test wrote from DICOM and compares them with expected.txt
"""
import io
import os
import shutil
import sys
import warnings
import zlib

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

warnings.simplefilter("ignore")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "dicom")
PYDICOM_DATA = os.environ.get("MS_PYDICOM_DATA", "/usr/lib/python3/dist-packages/pydicom/data/test_files")
NICOM_DATA = os.environ.get("MS_NICOM_DATA", "/usr/lib/python3/dist-packages/nibabel/nicom/tests/data")

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
ENH_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"

# medsam_status codes (include/medsam.h)
ERR_FORMAT, ERR_ARG, ERR_UNSUPPORTED = 2, 5, 7
VOX = {"uint8": 2, "int16": 4, "int32": 8, "float32": 16, "rgb": 128, "int8": 256, "uint16": 512, "uint32": 768}


def uid(*parts):
    return generate_uid(entropy_srcs=["medsam.c dicom fixtures"] + [str(p) for p in parts])


def new_file(sop_class, syntax, key):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid("sop", key)
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = uid("implementation")
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = syntax != EXPLICIT_BE
    ds.is_implicit_VR = syntax == IMPLICIT_LE
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    return ds


def set_image(ds, arr, bits_allocated, bits_stored, signed, spp=1, planar=0, photometric=None):
    """arr: (frames, rows, cols[, 3]) stored sample values (already holding
    any junk in the unused high bits)."""
    frames, rows, cols = arr.shape[:3]
    ds.SamplesPerPixel = spp
    ds.PhotometricInterpretation = photometric or ("RGB" if spp == 3 else "MONOCHROME2")
    if spp == 3:
        ds.PlanarConfiguration = planar
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_allocated, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if bits_allocated == 1:
        bits = arr.reshape(-1).astype(np.uint8)
        data = np.packbits(bits, bitorder="little").tobytes()
    else:
        a = arr
        if spp == 3 and planar == 1:
            a = np.moveaxis(arr, 3, 1)  # (frames, 3, rows, cols)
        dt = {8: "u1", 16: "u2", 32: "u4"}[bits_allocated]
        dt = (">" if not ds.is_little_endian else "<") + dt
        data = (a.astype(np.int64) & ((1 << bits_allocated) - 1)).astype(dt).tobytes()
    if len(data) % 2:
        data += b"\0"
    ds.PixelData = data
    ds["PixelData"].VR = "OB" if bits_allocated <= 8 else "OW"


def save(ds, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, write_like_original=False)


def undefined_seq(ds, keyword, items):
    setattr(ds, keyword, Sequence(items))
    ds[keyword].is_undefined_length = True
    for it in items:
        it.is_undefined_length_sequence_item = True


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def ds_str(x):
    """A DS value of at most 16 characters."""
    s = "%.10g" % x
    if len(s) > 16:
        s = "%.9g" % x
    return s


# ---------------------------------------------------------------------------
# fixtures


def make_ct_series(rng):
    """4 oblique CT slices, signed 12-of-16 bits with rescale, shuffled names,
    a junk high nibble in one slice, sequences of undefined length, plus two
    entries that must be skipped (text file, DICOM without pixel data)."""
    folder = os.path.join(OUT, "ct_series")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    R = rotation(0.3, -0.2, 0.5)
    r, c = R[:, 0], R[:, 1]
    iop = [float(ds_str(v)) for v in list(r) + list(c)]
    n = np.cross(iop[:3], iop[3:])
    p0 = np.array([-120.25, 33.5, 410.75])
    rows, cols = 20, 24
    names = ["IM3", "b.dcm", "a0.dcm", "IM1"]  # spatial order: k = 0..3 below
    order = [2, 0, 3, 1]                         # names[i] holds slice order[i]
    series = uid("ct series")
    for i, name in enumerate(names):
        k = order[i]
        ds = new_file(CT_STORAGE, EXPLICIT_LE, ("ct", k))
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series
        ds.StudyInstanceUID = uid("study")
        ds.InstanceNumber = 10 - k  # instance order opposite to space
        ds.PatientPosition = "FFS"
        ds.ImageOrientationPatient = [ds_str(v) for v in iop]
        pos = p0 + k * 2.5 * n
        ds.ImagePositionPatient = [ds_str(v) for v in pos]
        ds.PixelSpacing = ["0.7", "0.9"]
        ds.SliceThickness = "3.0"  # not the spacing: positions rule
        ds.RescaleSlope, ds.RescaleIntercept = "0.5", "-1024"
        ds.WindowCenter, ds.WindowWidth = ["40", "-600"], ["400", "1500"]
        ref = Dataset()
        ref.ReferencedSOPClassUID = CT_STORAGE
        ref.ReferencedSOPInstanceUID = uid("ref", k)
        inner = Dataset()
        inner.CodeValue = "X"
        undefined_seq(ref, "PurposeOfReferenceCodeSequence", [inner])
        undefined_seq(ds, "ReferencedImageSequence", [ref, Dataset()])
        vals = rng.integers(-2048, 2048, size=(1, rows, cols))
        stored = vals & 0xFFF
        stored = np.where(vals < 0, stored | 0xF000, stored)  # normal sign extension
        if k == 2:
            stored = (vals & 0xFFF) | 0xA000  # junk above Bits Stored
        set_image(ds, stored.astype(np.uint16), 16, 12, True)
        save(ds, os.path.join(folder, name))
    with open(os.path.join(folder, "README.txt"), "w") as f:
        f.write("not DICOM: skipped by the folder reader\n")
    note = new_file("1.2.840.10008.5.1.4.1.1.88.11", EXPLICIT_LE, ("sr",))
    note.Modality = "SR"
    note.SeriesInstanceUID = uid("sr series")
    save(note, os.path.join(folder, "zz_report.dcm"))


def make_mr_single(rng):
    """One sagittal MR slice, unsigned 12-of-16 bits with junk high bits,
    rows != columns, Spacing Between Slices != Slice Thickness."""
    ds = new_file(MR_STORAGE, EXPLICIT_LE, ("mr",))
    ds.Modality = "MR"
    ds.SeriesInstanceUID = uid("mr series")
    ds.InstanceNumber = 7
    ds.PatientPosition = "HFS"
    ds.ImageOrientationPatient = ["0", "1", "0", "0", "0", "-1"]
    ds.ImagePositionPatient = ["-12.5", "-80.25", "95.5"]
    ds.PixelSpacing = ["1.25", "0.75"]
    ds.SliceThickness, ds.SpacingBetweenSlices = "2.0", "3.0"
    ds.WindowCenter, ds.WindowWidth = "600", "1200"
    vals = rng.integers(0, 4096, size=(1, 12, 16))
    junk = rng.integers(0, 16, size=vals.shape) << 12
    set_image(ds, (vals | junk).astype(np.uint16), 16, 12, False)
    save(ds, os.path.join(OUT, "mr_single.dcm"))
    return ds


def make_implicit(rng):
    """Implicit VR, 8-bit, no geometry; nested undefined-length sequences and
    a private UN sequence of undefined length."""
    ds = new_file(SC_STORAGE, IMPLICIT_LE, ("implicit",))
    ds.Modality = "OT"
    ds.SeriesInstanceUID = uid("implicit series")
    ds.InstanceNumber = 1
    lvl2 = Dataset()
    lvl2.CodeMeaning = "deep"
    lvl1 = Dataset()
    undefined_seq(lvl1, "ConceptNameCodeSequence", [lvl2])
    lvl1.Rows = 999  # inside a sequence: must not count
    undefined_seq(ds, "ReferencedStudySequence", [lvl1, Dataset()])
    ds.PixelSpacing = ["0.5", "0.25"]
    vals = rng.integers(0, 256, size=(1, 5, 7))
    set_image(ds, vals.astype(np.uint8), 8, 8, False)
    save(ds, os.path.join(OUT, "implicit_u8.dcm"))


def make_high_bit(rng):
    """Bits Stored 10 ending at High Bit 13: junk below and above."""
    ds = new_file(SC_STORAGE, EXPLICIT_LE, ("highbit",))
    ds.Modality = "OT"
    ds.SeriesInstanceUID = uid("highbit series")
    vals = rng.integers(0, 1024, size=(1, 3, 4))
    stored = (vals << 4) | rng.integers(0, 16, size=vals.shape) | (rng.integers(0, 4, size=vals.shape) << 14)
    set_image(ds, stored.astype(np.uint16), 16, 10, False)
    ds.HighBit = 13
    save(ds, os.path.join(OUT, "high_bit.dcm"))


def make_be_multiframe(rng):
    """Explicit VR big endian, signed 16 bits, 3 frames stored out of spatial
    order with enhanced per-frame functional groups (positions, rescale that
    differs per frame: float32 volume)."""
    ds = new_file(ENH_MR_STORAGE, EXPLICIT_BE, ("be",))
    ds.Modality = "MR"
    ds.SeriesInstanceUID = uid("be series")
    R = rotation(-0.15, 0.1, 0.05)
    iop = [float(ds_str(v)) for v in list(R[:, 0]) + list(R[:, 1])]
    n = np.cross(iop[:3], iop[3:])
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = ["0.8", "0.6"]
    pm.SliceThickness = "1.5"
    po = Dataset()
    po.ImageOrientationPatient = [ds_str(v) for v in iop]
    shared.PixelMeasuresSequence = Sequence([pm])
    shared.PlaneOrientationSequence = Sequence([po])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    spatial = [2, 0, 1]
    rescale = [("1", "0"), ("2", "-5"), ("0.5", "100")]
    for f in range(3):
        it = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [ds_str(v) for v in np.array([10.0, -20.0, 30.0]) + spatial[f] * 1.5 * n]
        it.PlanePositionSequence = Sequence([pp])
        pv = Dataset()
        pv.RescaleSlope, pv.RescaleIntercept = rescale[f]
        pv.RescaleType = "US"
        it.PixelValueTransformationSequence = Sequence([pv])
        per.append(it)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    vals = rng.integers(-30000, 30000, size=(3, 5, 6))
    set_image(ds, vals.astype(np.int16), 16, 16, True)
    save(ds, os.path.join(OUT, "be_multiframe.dcm"))


def make_deflate_rgb(rng):
    ds = new_file(SC_STORAGE, DEFLATED, ("rgb",))
    ds.Modality = "XC"
    ds.SeriesInstanceUID = uid("rgb series")
    vals = rng.integers(0, 256, size=(1, 4, 5, 3))
    set_image(ds, vals.astype(np.uint8), 8, 8, False, spp=3, planar=1)
    save(ds, os.path.join(OUT, "deflate_rgb.dcm"))


def make_seg_1bit(rng):
    """1-bit, 3 frames of 5 x 3 (frames not byte aligned), top-level geometry:
    frames stacked along the normal by Spacing Between Slices."""
    ds = new_file(SEG_STORAGE, EXPLICIT_LE, ("seg",))
    ds.Modality = "SEG"
    ds.SeriesInstanceUID = uid("seg series")
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.ImagePositionPatient = ["-50", "-60", "-70"]
    ds.PixelSpacing = ["2", "1"]
    ds.SpacingBetweenSlices = "4"
    vals = rng.integers(0, 2, size=(3, 5, 3))
    set_image(ds, vals.astype(np.uint8), 1, 1, False)
    save(ds, os.path.join(OUT, "seg_1bit.dcm"))


def make_compressed_header():
    ds = new_file(CT_STORAGE, "1.2.840.10008.1.2.4.90", ("j2k",))
    ds.Modality = "CT"
    ds.SeriesInstanceUID = uid("j2k series")
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 4, 4, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 12])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    save(ds, os.path.join(OUT, "jpeg2000_header.dcm"))


def make_small(folder, name, series, pos, slope, rng, key, iop=("1", "0", "0", "0", "1", "0")):
    ds = new_file(CT_STORAGE, EXPLICIT_LE, key)
    ds.Modality = "CT"
    ds.SeriesInstanceUID = series
    ds.ImageOrientationPatient = list(iop)
    ds.ImagePositionPatient = ["0", "0", ds_str(pos)]
    ds.PixelSpacing = ["1", "1"]
    ds.RescaleSlope, ds.RescaleIntercept = ds_str(slope), "-10"
    set_image(ds, rng.integers(0, 200, size=(1, 4, 4)).astype(np.uint16), 16, 16, False)
    save(ds, os.path.join(folder, name))


def make_folders(rng):
    for d in ("two_series", "uneven", "tilted"):
        shutil.rmtree(os.path.join(OUT, d), ignore_errors=True)
    a, b = uid("series A"), uid("series B")
    make_small(os.path.join(OUT, "two_series"), "a1.dcm", a, 0, 1, rng, ("a", 1))
    make_small(os.path.join(OUT, "two_series"), "a2.dcm", a, 1, 1, rng, ("a", 2))
    make_small(os.path.join(OUT, "two_series"), "b1.dcm", b, 0, 1, rng, ("b", 1))
    u = uid("uneven")
    # gaps 1 and 1.5 (mean 1.25: 20% off); slopes differ: float32 volume
    make_small(os.path.join(OUT, "uneven"), "s1", u, 2.5, 2, rng, ("u", 1))
    make_small(os.path.join(OUT, "uneven"), "s2", u, 0, 1, rng, ("u", 2))
    make_small(os.path.join(OUT, "uneven"), "s3", u, 1, 1, rng, ("u", 3))
    # gantry tilt: the image plane tilted by 15 degrees, the table (positions) moving along z
    t = uid("tilted")
    tilt = ["1", "0", "0", "0", ds_str(np.cos(np.radians(15))), ds_str(-np.sin(np.radians(15)))]
    for k in range(3):
        make_small(os.path.join(OUT, "tilted"), "t%d.dcm" % k, t, 2.0 * k, 1, rng, ("t", k), iop=tilt)


def make_truncated():
    with open(os.path.join(OUT, "mr_single.dcm"), "rb") as f:
        data = f.read()
    with open(os.path.join(OUT, "truncated.dcm"), "wb") as f:
        f.write(data[:-37])


# ---------------------------------------------------------------------------
# expectations, from pydicom and the standard formula


def fix_bits(arr, ds):
    ba, bs = int(ds.BitsAllocated), int(ds.get("BitsStored", ds.BitsAllocated))
    hb = int(ds.get("HighBit", bs - 1))
    if ba == 1 or bs >= ba:
        return arr
    a = arr.astype(np.int64)
    if ds.get("PixelRepresentation", 0) == 1 and arr.dtype.kind == "i":
        a = a & ((1 << ba) - 1)  # back to the stored bit pattern
    a = (a >> (hb - bs + 1)) & ((1 << bs) - 1)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        a = np.where(a >> (bs - 1) & 1, a - (1 << bs), a)
    return a.astype(arr.dtype.newbyteorder("="))


def fg_value(ds, frame, seq, keyword):
    """A value from the per-frame functional groups, else the shared ones."""
    for groups, idx in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        if groups in ds and idx < len(ds[groups].value):
            item = ds[groups][idx]
            if seq in item and len(item[seq].value) and keyword in item[seq][0]:
                return item[seq][0][keyword].value
    return None


def frames_of(ds):
    """Per frame: (pixels, position or None, slope, inter)."""
    arr = ds.pixel_array
    nf = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1))
    arr = arr.reshape((nf, int(ds.Rows), int(ds.Columns)) + ((3,) if spp == 3 else ()))
    arr = arr.astype(arr.dtype.newbyteorder("="))
    arr = fix_bits(arr, ds)
    iop = orientation(ds)
    ipp = ds.get("ImagePositionPatient")
    offsets = ds.get("GridFrameOffsetVector")
    out = []
    for f in range(nf):
        pos = fg_value(ds, f, "PlanePositionSequence", "ImagePositionPatient")
        if pos is None and ipp is not None and iop is not None:
            n = normal(iop)
            if offsets is not None and nf > 1 and len(offsets) == nf:
                pos = np.array(list(map(float, ipp))) + float(offsets[f]) * n
            else:
                pos = np.array(list(map(float, ipp))) + f * nominal_spacing(ds) * n
        slope = fg_value(ds, f, "PixelValueTransformationSequence", "RescaleSlope")
        inter = fg_value(ds, f, "PixelValueTransformationSequence", "RescaleIntercept")
        if slope is None and inter is None:
            slope, inter = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        slope = 1.0 if slope is None or spp == 3 else float(slope)
        inter = 0.0 if inter is None or spp == 3 else float(inter)
        out.append((arr[f], None if pos is None else np.array(list(map(float, pos))), slope, inter))
    return out


def orientation(ds):
    iop = ds.get("ImageOrientationPatient")
    if iop is None:
        iop = fg_value(ds, 0, "PlaneOrientationSequence", "ImageOrientationPatient")
    return None if iop is None else np.array(list(map(float, iop)))


def pixel_spacing(ds):
    ps = ds.get("PixelSpacing")
    if ps is None:
        ps = fg_value(ds, 0, "PixelMeasuresSequence", "PixelSpacing")
    return [1.0, 1.0] if ps is None else [float(ps[0]), float(ps[1])]


def nominal_spacing(ds):
    for kw in ("SpacingBetweenSlices", "SliceThickness"):
        v = ds.get(kw)
        if v is None:
            v = fg_value(ds, 0, "PixelMeasuresSequence", kw)
        if v not in (None, "") and float(v) > 0:
            return float(v)
    return 1.0


def unit(v):
    return np.asarray(v, float) / np.linalg.norm(v)


def normal(iop):
    return unit(np.cross(unit(iop[:3]), unit(iop[3:])))


def expected_volume(datasets):
    """Stacks the frames of the given datasets (in file-name order) as the C
    reader must: returns dict with data (N, rows, cols[, 3]), affine, ..."""
    slices = []
    for i, ds in enumerate(datasets):
        inst = int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else 2**31 - 1
        for f, (px, pos, slope, inter) in enumerate(frames_of(ds)):
            slices.append(dict(px=px, pos=pos, slope=slope, inter=inter, inst=inst, img=i, frame=f, ds=ds))
    iop = orientation(datasets[0])
    geo = iop is not None and all(s["pos"] is not None for s in slices)
    if geo:
        r, c = unit(iop[:3]), unit(iop[3:])
        n = normal(iop)
        for s in slices:
            s["dist"] = float(np.dot(s["pos"], n))
        slices.sort(key=lambda s: (s["dist"], s["inst"], s["img"], s["frame"]))
    else:
        slices.sort(key=lambda s: (s["inst"], s["img"], s["frame"]))
    first = slices[0]["ds"]
    ps = pixel_spacing(first)
    N = len(slices)
    varies = any((s["slope"], s["inter"]) != (slices[0]["slope"], slices[0]["inter"]) for s in slices)
    raw = np.stack([s["px"] for s in slices])
    if varies:
        data = np.stack([(s["px"].astype(np.float64) * s["slope"] + s["inter"]).astype(np.float32) for s in slices])
    else:
        data = raw
    e = dict(data=data, varies=varies, slope=slices[0]["slope"], inter=slices[0]["inter"], geo=geo, N=N, ps=ps)
    e["rgb"] = data.ndim == 4
    e["dtype"] = "rgb" if e["rgb"] else ("float32" if varies else str(raw.dtype))
    if geo:
        if N > 1:
            step = (slices[-1]["pos"] - slices[0]["pos"]) / (N - 1)
            spacing = (slices[-1]["dist"] - slices[0]["dist"]) / (N - 1)
            gaps = np.diff([s["dist"] for s in slices])
            dev = float(np.max(np.abs(gaps - spacing)) / spacing)
        else:
            spacing = nominal_spacing(first)
            step = n * spacing
            dev = 0.0
        lps = np.eye(4)
        lps[:3, 0] = r * ps[1]
        lps[:3, 1] = c * ps[0]
        lps[:3, 2] = step
        lps[:3, 3] = slices[0]["pos"]
        e["affine"] = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
        e["spacing"], e["dev"] = spacing, dev
        side = step - np.dot(step, n) * n
        e["sheared"] = bool(np.linalg.norm(side) > 1e-3 * np.linalg.norm(step))
        e["pixdim"] = [float(np.linalg.norm(e["affine"][:3, k])) for k in range(3)]
    else:
        sp = nominal_spacing(first)
        e["spacing"], e["dev"] = sp, 0.0
        e["sheared"] = False
        e["pixdim"] = [ps[1], ps[0], sp]
        # nibabel's base affine for pixdim and shape (x flipped, centred)
        shape = (int(first.Columns), int(first.Rows), N)
        A = np.diag([-e["pixdim"][0], e["pixdim"][1], e["pixdim"][2], 1.0])
        A[:3, 3] = [(shape[0] - 1) / 2.0 * e["pixdim"][0], -(shape[1] - 1) / 2.0 * e["pixdim"][1],
                    -(shape[2] - 1) / 2.0 * e["pixdim"][2]]
        e["affine"] = A
    e["first"] = first
    return e


def nibabel_checks(e, datasets):
    """Cross-checks with nibabel: nicom single-slice affines, set_qform."""
    import nibabel as nib
    out = {}
    if e["geo"]:
        img = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), e["affine"])
        hdr = img.header
        hdr.set_qform(e["affine"], code=1)
        out["quatern"] = [float(hdr["quatern_b"]), float(hdr["quatern_c"]), float(hdr["quatern_d"]),
                          float(hdr["pixdim"][0])]
        try:
            from nibabel.nicom import dicomwrappers
            for ds in datasets:
                if int(ds.get("NumberOfFrames", 1) or 1) != 1 or "ImagePositionPatient" not in ds:
                    continue
                w = dicomwrappers.wrapper_from_data(ds)
                nib_lps = w.affine  # voxel (row, column, slice) -> LPS
                ours = np.diag([-1.0, -1.0, 1.0, 1.0]) @ e["affine"]
                assert np.allclose(nib_lps[:3, 0], ours[:3, 1], atol=1e-9), "nicom row axis"
                assert np.allclose(nib_lps[:3, 1], ours[:3, 0], atol=1e-9), "nicom column axis"
                if e["N"] == 1:
                    assert np.allclose(nib_lps[:3, 3], ours[:3, 3], atol=1e-9), "nicom offset"
                out["nicom"] = out.get("nicom", 0) + 1
        except ImportError:
            pass
    return out


def fmt(v):
    return " ".join("%.17g" % x for x in np.ravel(v))


def record(lines, where, name, e=None, status=0, contains=None, nskipped=None, nibabel=None):
    lines.append("case %s %s" % (where, name))
    if status:
        lines.append("status %d" % status)
        if contains:
            lines.append("contains %s" % contains)
        lines.append("end")
        return
    d = e["data"]
    shape = d.shape  # (N, rows, cols[, 3])
    lines.append("shape %d %d %d" % (shape[2], shape[1], shape[0]))
    lines.append("datatype %d" % VOX[e["dtype"]])
    lines.append("scl %s" % fmt([1.0, 0.0] if e["varies"] else [e["slope"], e["inter"]]))
    lines.append("codes %d" % (1 if e["geo"] else 0))
    lines.append("affine %s" % fmt(e["affine"]))
    lines.append("pixdim %s" % fmt(e["pixdim"]))
    le = d.astype(d.dtype.newbyteorder("<"))
    lines.append("crc32 %d" % zlib.crc32(le.tobytes()))
    scaled = d.astype(np.float64) * (1.0 if e["varies"] else e["slope"]) + (0.0 if e["varies"] else e["inter"])
    if e["rgb"]:
        scaled = d.astype(np.float64)
    lines.append("sum %s" % fmt([scaled.sum(), np.abs(scaled).sum()]))
    flat = scaled.reshape(-1)
    for i in sorted(set([0, 1, flat.size // 3, flat.size // 2, flat.size - 1])):
        lines.append("value %d %s" % (i, fmt([flat[i]])))
    f = e["first"]
    lines.append("meta_modality %s" % (f.get("Modality", "") or "-"))
    wc, ww = f.get("WindowCenter"), f.get("WindowWidth")
    if wc is not None and ww is not None:
        wc = wc[0] if isinstance(wc, pydicom.multival.MultiValue) else wc
        ww = ww[0] if isinstance(ww, pydicom.multival.MultiValue) else ww
        lines.append("meta_window %s" % fmt([float(wc), float(ww)]))
    else:
        lines.append("meta_window none")
    lines.append("meta_rescale %s %d" % (fmt([e["slope"], e["inter"]]), int(e["varies"])))
    lines.append("meta_slices %d %d" % (e["N"], -1 if nskipped is None else nskipped))
    lines.append("meta_spacing %s %s" % (fmt([e["spacing"], e["dev"]]), int(e["dev"] > 0.01)))
    lines.append("meta_sheared %d" % int(e["sheared"]))
    if nibabel and "quatern" in nibabel:
        lines.append("quatern %s" % fmt(nibabel["quatern"]))
    lines.append("end")


def read_all(paths):
    return [pydicom.dcmread(p, force=True) for p in paths]


# pydicom's test files: name -> expected error (code, message part) or None (read)
PYDICOM_FILES = [
    ("CT_small.dcm", None), ("MR_small.dcm", None), ("MR_small_implicit.dcm", None),
    ("MR_small_bigendian.dcm", None), ("MR_small_expb.dcm", None), ("MR_small_padded.dcm", None),
    ("ExplVR_BigEnd.dcm", None), ("SC_rgb_small_odd.dcm", None), ("SC_rgb_jpeg_dcmd.dcm", None),
    ("image_dfl.dcm", None), ("liver_1frame.dcm", None), ("liver_expb_1frame.dcm", None),
    ("rtdose.dcm", None), ("rtdose_1frame.dcm", None), ("rtdose_expb.dcm", None), ("rtdose_expb_1frame.dcm", None),
    # compressed files and YBR are decoded now: their pixels are checked by test_dicom_codecs
    # (tools/ref/make_dicom_codec_fixtures.py); 12-bit JPEG is still refused
    ("JPEG-lossy.dcm", (ERR_UNSUPPORTED, "12-bit JPEG (extended, process 4) is not supported")),
    ("MR_truncated.dcm", (ERR_FORMAT, "truncated")),
    ("badVR.dcm", (ERR_FORMAT, "Number of Frames")),
    ("rtplan.dcm", (ERR_UNSUPPORTED, "no Pixel Data")),
    ("test-SR.dcm", (ERR_UNSUPPORTED, "no Pixel Data")),
    ("waveform_ecg.dcm", (ERR_UNSUPPORTED, "no Pixel Data")),
    ("meta_missing_tsyntax.dcm", (ERR_FORMAT, "Rows/Columns")),
    ("ExplVR_LitEndNoMeta.dcm", (ERR_UNSUPPORTED, "not an image (modality RTPLAN)")),  # no preamble, LE
    ("ExplVR_BigEndNoMeta.dcm", (ERR_UNSUPPORTED, "not an image (modality RTPLAN)")),  # no preamble, BE
]

# nibabel's nicom test files (Siemens MR, decimal rescale values)
NICOM_FILES = [
    ("decimal_rescale.dcm", None),
    ("0.dcm", (ERR_UNSUPPORTED, "Siemens mosaic image (Image Type MOSAIC) is not supported")),
    ("csa_slice_norm.dcm", (ERR_UNSUPPORTED, "Image Type MOSAIC")),
]


def main():
    rng = np.random.default_rng(20240521)
    os.makedirs(OUT, exist_ok=True)
    make_ct_series(rng)
    make_mr_single(rng)
    make_implicit(rng)
    make_be_multiframe(rng)
    make_high_bit(rng)
    make_deflate_rgb(rng)
    make_seg_1bit(rng)
    make_compressed_header()
    make_folders(rng)
    make_truncated()

    lines = ["# made by tools/ref/make_dicom_fixtures.py (pydicom %s, numpy %s)" % (pydicom.__version__, np.__version__)]
    ct_dir = os.path.join(OUT, "ct_series")
    ct_files = sorted(p for p in os.listdir(ct_dir) if p not in ("README.txt", "zz_report.dcm"))
    cases = [
        ("ct_series", read_all([os.path.join(ct_dir, p) for p in ct_files]), 2),
        ("mr_single.dcm", read_all([os.path.join(OUT, "mr_single.dcm")]), None),
        ("implicit_u8.dcm", read_all([os.path.join(OUT, "implicit_u8.dcm")]), None),
        ("be_multiframe.dcm", read_all([os.path.join(OUT, "be_multiframe.dcm")]), None),
        ("deflate_rgb.dcm", read_all([os.path.join(OUT, "deflate_rgb.dcm")]), None),
        ("high_bit.dcm", read_all([os.path.join(OUT, "high_bit.dcm")]), None),
        ("seg_1bit.dcm", read_all([os.path.join(OUT, "seg_1bit.dcm")]), None),
        ("uneven", read_all([os.path.join(OUT, "uneven", p) for p in sorted(os.listdir(os.path.join(OUT, "uneven")))]), 0),
        ("tilted", read_all([os.path.join(OUT, "tilted", p) for p in sorted(os.listdir(os.path.join(OUT, "tilted")))]), 0),
    ]
    for name, dss, nskipped in cases:
        e = expected_volume(dss)
        record(lines, "fixtures", name, e, nskipped=nskipped, nibabel=nibabel_checks(e, dss))
    record(lines, "fixtures", "jpeg2000_header.dcm", status=ERR_FORMAT,
           contains="jpeg2000_header.dcm: JPEG 2000 frame 1: header: ")
    record(lines, "fixtures", "truncated.dcm", status=ERR_FORMAT, contains="truncated.dcm: truncated: Pixel Data")
    record(lines, "fixtures", "two_series", status=ERR_ARG, contains="2 series")

    for where, folder, files in (("pydicom", PYDICOM_DATA, PYDICOM_FILES), ("nicom", NICOM_DATA, NICOM_FILES)):
        for name, error in files:
            path = os.path.join(folder, name)
            if not os.path.exists(path):
                continue
            if error:
                record(lines, where, name, status=error[0], contains=error[1])
                continue
            dss = read_all([path])
            e = expected_volume(dss)
            record(lines, where, name, e, nibabel=nibabel_checks(e, dss))
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print("wrote %s (%d bytes in all)" % (OUT, total))


def check(keep_dir):
    """nibabel reads the NIfTI files test_dicom wrote (MS_DICOM_KEEP_DIR)."""
    import nibabel as nib
    recs, cur = {}, None
    for line in open(os.path.join(OUT, "expected.txt")):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "case":
            cur = recs.setdefault(parts[2], {})
        elif parts[0] in ("affine", "sum", "shape", "meta_sheared") and cur is not None:
            cur[parts[0]] = np.array(list(map(float, parts[1:])))
    bad = 0
    for fn in sorted(os.listdir(keep_dir)):
        if not fn.endswith(".nii"):
            continue
        key = fn[:-4]
        if key not in recs or "affine" not in recs[key]:
            continue
        img = nib.load(os.path.join(keep_dir, fn))
        ref = recs[key]
        A = ref["affine"].reshape(4, 4)
        ok_aff = np.allclose(img.affine, A, rtol=0, atol=1e-4)
        ok_q = (img.header.get_qform(coded=True)[1] == 0 or ref["meta_sheared"][0] == 1 or
                np.allclose(img.header.get_qform(), A, atol=1e-3))
        data = np.asanyarray(img.dataobj)
        if data.dtype.names:  # RGB24 structured
            data = np.stack([data[c] for c in data.dtype.names], -1).astype(np.float64)
        else:
            data = img.get_fdata()
        ok_sum = abs(data.sum() - ref["sum"][0]) <= 1e-6 * max(1.0, ref["sum"][1])
        ok_shape = tuple(img.shape[:3]) == tuple(int(x) for x in ref["shape"])
        ok = ok_aff and ok_q and ok_sum and ok_shape
        bad += not ok
        print("%s %-32s affine %s qform %s sum %s shape %s" % ("ok  " if ok else "FAIL", fn, ok_aff, ok_q, ok_sum,
                                                               ok_shape))
    print("%d mismatches" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    main()
