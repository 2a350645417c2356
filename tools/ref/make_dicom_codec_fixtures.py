#!/usr/bin/python3
"""Expected decoded pixels of pydicom's compressed test files, for
tests/test_dicom_codecs.c (tests/fixtures/dicom/codecs.txt).

Run with Debian's /usr/bin/python3 (python3-pydicom 2.3, numpy, Pillow) plus
python3-gdcm, which is needed only here (JPEG lossless and JPEG-LS; the tests
read the committed text file, not Python):

    /usr/bin/python3 tools/ref/make_dicom_codec_fixtures.py > tests/fixtures/dicom/codecs.txt

Handlers in pydicom's own order for what each supports: numpy (native), its
RLE handler, Pillow (JPEG baseline/extended 8-bit, JPEG 2000, via libjpeg-turbo
and OpenJPEG), GDCM (JPEG lossless, JPEG-LS, 12-bit JPEG). YBR_FULL and
YBR_FULL_422 arrays are converted to RGB with pydicom's convert_color_space,
as medsam.c does. Each line: file, transfer syntax, frames rows columns
samples, numpy dtype, CRC-32 of the little-endian samples (frame, row,
column, sample order), sum, or "refused" with the reason medsam.c gives.
"""
import os
import sys
import warnings
import zlib

import numpy as np
import pydicom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pydicom.pixel_data_handlers import gdcm_handler, numpy_handler, pillow_handler, rle_handler
from pydicom.pixel_data_handlers.util import convert_color_space, pixel_dtype, reshape_pixel_array

warnings.filterwarnings("ignore")
D = os.environ.get("MS_PYDICOM_DATA", "/usr/lib/python3/dist-packages/pydicom/data/test_files")

# (file, reason medsam.c refuses it, or None)
FILES = [
    ("MR_small_RLE.dcm", None), ("MR_small_jp2klossless.dcm", None), ("MR_small_jpeg_ls_lossless.dcm", None),
    ("SC_rgb_rle.dcm", None), ("SC_rgb_rle_2frame.dcm", None),
    ("SC_rgb_rle_16bit.dcm", "16-bit colour is not supported"),
    ("SC_rgb_rle_16bit_2frame.dcm", "16-bit colour is not supported"),
    ("SC_rgb_rle_32bit.dcm", "32-bit colour is not supported"),
    ("SC_rgb_rle_32bit_2frame.dcm", "32-bit colour is not supported"),
    ("rtdose_rle.dcm", None), ("rtdose_rle_1frame.dcm", None), ("emri_small_RLE.dcm", None),
    ("SC_rgb_jpeg_gdcm.dcm", None),
    ("693_J2KI.dcm", None), ("J2K_pixelrep_mismatch.dcm", None), ("JPEG2000.dcm", None),
    ("JPEG2000-embedded-sequence-delimiter.dcm", "JPEG 2000 frame 1: header"),  # SIZ is corrupt (Xsiz 0xDDE00100) ("GDCMJ2K_TextGBR.dcm", None), ("SC_rgb_gdcm_KY.dcm", None),
    ("US1_J2KR.dcm", None), ("US1_J2KI.dcm", None), ("emri_small_jpeg_2k_lossless.dcm", None),
    ("emri_small_jpeg_ls_lossless.dcm", None),
    ("SC_rgb_jpeg.dcm", None), ("SC_rgb_jpeg_app14_dcmd.dcm", None), ("SC_rgb_jpeg_dcmtk.dcm", None),
    ("SC_rgb_jpeg_lossy_gdcm.dcm", None), ("SC_rgb_small_odd_jpeg.dcm", None), ("SC_jpeg_no_color_transform.dcm", None),
    ("SC_jpeg_no_color_transform_2.dcm", None),
    ("SC_rgb_dcmtk_+eb+cr.dcm", None), ("SC_rgb_dcmtk_+eb+cy+n1.dcm", None), ("SC_rgb_dcmtk_+eb+cy+n2.dcm", None),
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", None), ("SC_rgb_dcmtk_+eb+cy+s2.dcm", None), ("SC_rgb_dcmtk_+eb+cy+s4.dcm", None),
    ("SC_ybr_full_422_uncompressed.dcm", None), ("SC_ybr_full_uncompressed.dcm", None),
    ("color3d_jpeg_baseline.dcm", None),
    ("JPEG-lossy.dcm", "12-bit JPEG"), ("JPGExtended.dcm", "12-bit JPEG"),
]


def decode(ds):
    syntax = ds.file_meta.TransferSyntaxUID
    for h in (numpy_handler, rle_handler, pillow_handler, gdcm_handler):
        if h.is_available() and h.supports_transfer_syntax(syntax):
            try:
                return h.get_pixeldata(ds), h.__name__.split(".")[-1]
            except Exception:
                continue
    raise RuntimeError("no handler")


FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "dicom", "codecs")


def _new_ds(syntax, rows, cols, bits, stored, signed, spp=1, pi="MONOCHROME2", nframes=1):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["medsam.c codec fixture", syntax, str(rows), pi])
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["medsam.c codec fixture study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["medsam.c codec fixture series", syntax, pi])
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, spp
    ds.PhotometricInterpretation = pi
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, stored, stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if spp == 3:
        ds.PlanarConfiguration = 0
    if nframes > 1:
        ds.NumberOfFrames = nframes
    return ds


def _save(ds, name, frames=None):
    from pydicom.encaps import encapsulate
    if frames is not None:
        ds.PixelData = encapsulate(frames, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    os.makedirs(FIX, exist_ok=True)
    ds.save_as(os.path.join(FIX, name), write_like_original=False)


def _gdcm_check(path, want):
    ds = pydicom.dcmread(path)
    got = reshape_pixel_array(ds, gdcm_handler.get_pixeldata(ds)).reshape(want.shape)
    if not np.array_equal(got.astype(np.int64), want.astype(np.int64)):
        raise SystemExit("GDCM decodes %s differently from the encoder's input" % path)


def make_files(rng):
    """Hand-made fixtures: JPEG lossless with every predictor, point transform
    and restart intervals (checked by GDCM), MONOCHROME1 and its inverted
    MONOCHROME2 twin. Returns (name, expected array (frames, rows, cols, spp), dtype, checker)."""
    from jpeg_lossless_encode import encode
    from pydicom.encaps import encapsulate
    out = []
    rows, cols = 20, 24
    yy, xx = np.mgrid[0:rows, 0:cols]
    base = (800 * np.sin(xx / 4.0) * np.cos(yy / 5.0)).astype(np.int64)
    # 7 frames, predictors 1..7; frame 3 and 7 with restart intervals, frame 5 with point transform 2
    frames, want = [], []
    for k, sel in enumerate(range(1, 8)):
        a = base + rng.integers(-300, 300, size=(rows, cols)) - 1024 * (k % 2)
        a = np.clip(a, -2048, 2047)
        pt = 2 if sel == 5 else 0
        rr = 2 if sel == 3 else 3 if sel == 7 else 0
        frames.append(encode((a & 0xFFF)[:, :, None], 12, sel, pt=pt, restart_rows=rr))
        w = ((a & 0xFFF) >> pt) << pt
        w = np.where(w >= 2048, w - 4096, w)
        want.append(w[:, :, None])
    ds = _new_ds("1.2.840.10008.1.2.4.57", rows, cols, 16, 12, True, nframes=7)
    _save(ds, "jpll_predictors.dcm", frames)
    want = np.stack(want)
    _gdcm_check(os.path.join(FIX, "jpll_predictors.dcm"), want)
    out.append(("jpll_predictors.dcm", want, np.int16))
    # 16-bit unsigned, full range jumps (difference 32768: SSSS 16), SV1
    a = rng.integers(0, 65536, size=(rows, cols))
    a[::3, ::2] = 0
    a[1::3, 1::2] = 65535
    a[0, 1] = 32768
    ds = _new_ds("1.2.840.10008.1.2.4.70", rows, cols, 16, 16, False)
    _save(ds, "jpll_u16.dcm", [encode(a[:, :, None], 16, 1)])
    _gdcm_check(os.path.join(FIX, "jpll_u16.dcm"), a.reshape(1, rows, cols, 1))
    out.append(("jpll_u16.dcm", a.reshape(1, rows, cols, 1), np.uint16))
    # 8-bit RGB, three interleaved components, predictor 6
    a = np.clip(np.stack([base // 8 + 128, base // 16 + 100, 200 - base // 12], -1) + rng.integers(0, 20, size=(rows, cols, 3)), 0, 255)
    ds = _new_ds("1.2.840.10008.1.2.4.57", rows, cols, 8, 8, False, spp=3, pi="RGB")
    _save(ds, "jpll_rgb.dcm", [encode(a, 8, 6, restart_rows=5)])
    _gdcm_check(os.path.join(FIX, "jpll_rgb.dcm"), a.reshape(1, rows, cols, 3))
    out.append(("jpll_rgb.dcm", a.reshape(1, rows, cols, 3), np.uint8))
    # MONOCHROME1, unsigned 12 bits in 16 and signed 10 bits in 16, uncompressed; MONOCHROME2 twins hold
    # the inverted values ((min + max) - v over the stored range)
    for signed, bits in ((False, 12), (True, 10)):
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        a = rng.integers(lo, hi + 1, size=(rows, cols))
        tag = "s%d" % bits if signed else "u%d" % bits
        for pi, data in (("MONOCHROME1", a), ("MONOCHROME2", lo + hi - a)):
            ds = _new_ds("1.2.840.10008.1.2.1", rows, cols, 16, bits, signed, pi=pi)
            ds.RescaleSlope, ds.RescaleIntercept = "2", "-100"
            ds.PixelData = (data.astype(np.int16 if signed else np.uint16)).tobytes()
            _save(ds, "%s_%s.dcm" % (pi.lower(), tag))
        out.append(("monochrome1_%s.dcm" % tag, (lo + hi - a).reshape(1, rows, cols, 1), np.int16 if signed else np.uint16))
    # enhanced multi-frame (functional groups, frames out of spatial order) compressed: RLE (pydicom's encoder)
    # and JPEG lossless; test_dicom_codecs reads both as the same volume as the uncompressed original
    from pydicom.uid import RLELossless
    src = os.path.join(FIX, "..", "be_multiframe.dcm")
    ds = pydicom.dcmread(src)
    arr = ds.pixel_array.astype(np.int16)
    nf = int(ds.NumberOfFrames)
    ds.compress(RLELossless, arr)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    _save(ds, "be_multiframe_rle.dcm")
    ds = pydicom.dcmread(src)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.70"
    ds.is_little_endian = True
    _save(ds, "be_multiframe_jpll.dcm", [encode(f.astype(np.int64)[:, :, None] & 0xFFFF, 16, 1) for f in arr])
    _gdcm_check(os.path.join(FIX, "be_multiframe_jpll.dcm"), arr.reshape(nf, ds.Rows, ds.Columns, 1))
    for name in ("be_multiframe_rle.dcm", "be_multiframe_jpll.dcm"):
        out.append((name, arr.reshape(nf, ds.Rows, ds.Columns, 1), np.int16))
    # 24 frames of 64 x 64 that compress ~100:1 with per-frame functional groups: a compressed file much
    # smaller than its decoded frames must not be taken for a lying Number of Frames
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    nf, r, c = 24, 64, 64
    arr = np.zeros((nf, r, c), np.int16)
    for k in range(nf):
        arr[k, 10 + k: 30 + k, 20:40] = 100 * k - 1000
    ds = _new_ds("1.2.840.10008.1.2.5", r, c, 16, 16, True, nframes=nf)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    shared = Dataset()
    pm, po = Dataset(), Dataset()
    pm.PixelSpacing, pm.SliceThickness = ["0.5", "0.5"], "2"
    po.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    shared.PixelMeasuresSequence, shared.PlaneOrientationSequence = Sequence([pm]), Sequence([po])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    order = np.random.default_rng(7).permutation(nf)
    per = []
    for k in range(nf):
        it, pp = Dataset(), Dataset()
        pp.ImagePositionPatient = ["0", "0", str(2 * int(order[k]))]
        it.PlanePositionSequence = Sequence([pp])
        per.append(it)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.PixelData = arr.tobytes()
    ds.compress(RLELossless, arr)
    _save(ds, "enhanced_ct_rle.dcm")
    out.append(("enhanced_ct_rle.dcm", arr.reshape(nf, r, c, 1), np.int16))
    # MR_small.dcm's JPEG lossless (process 14 SV1) twin: the fourth lossless copy of MR_small
    ds = pydicom.dcmread(os.path.join(D, "MR_small.dcm"))
    arr = ds.pixel_array.astype(np.int16)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.70"
    _save(ds, "MR_small_jpeg_lossless.dcm", [encode(arr.astype(np.int64)[:, :, None] & 0xFFFF, 16, 1)])
    _gdcm_check(os.path.join(FIX, "MR_small_jpeg_lossless.dcm"), arr.reshape(1, ds.Rows, ds.Columns, 1))
    out.append(("MR_small_jpeg_lossless.dcm", arr.reshape(1, ds.Rows, ds.Columns, 1), np.int16))
    # CT_small.dcm compressed by GDCM's own JPEG lossless encoder (IJG ljpeg, SV1): a stream not written by us
    import gdcm
    reader = gdcm.ImageReader()
    reader.SetFileName(os.path.join(D, "CT_small.dcm"))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(os.path.join(FIX, "CT_small_gdcm_jpeg_lossless.dcm"))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    arr = pydicom.dcmread(os.path.join(D, "CT_small.dcm")).pixel_array.astype(np.int16)
    out.append(("CT_small_gdcm_jpeg_lossless.dcm", arr.reshape(1, arr.shape[0], arr.shape[1], 1), np.int16))
    # the CT series fixture as a folder mixing syntaxes: IM1 RLE, a0.dcm JPEG lossless, the rest as they are
    import shutil
    src_dir, dst_dir = os.path.join(FIX, "..", "ct_series"), os.path.join(FIX, "ct_series_mixed")
    os.makedirs(dst_dir, exist_ok=True)
    for name in sorted(os.listdir(src_dir)):
        if name == "IM1":
            ds = pydicom.dcmread(os.path.join(src_dir, name))
            ds.compress(RLELossless, ds.pixel_array)
            ds.save_as(os.path.join(dst_dir, name), write_like_original=False)
        elif name == "a0.dcm":
            ds = pydicom.dcmread(os.path.join(src_dir, name))
            a = ds.pixel_array.astype(np.int64)
            ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.70"
            ds.PixelData = encapsulate([encode((a & 0xFFF)[:, :, None], 12, 1)], has_bot=True)
            ds["PixelData"].VR = "OB"
            ds["PixelData"].is_undefined_length = True
            ds.save_as(os.path.join(dst_dir, name), write_like_original=False)
            _gdcm_check(os.path.join(dst_dir, name), a.reshape(1, ds.Rows, ds.Columns, 1))
        else:
            shutil.copyfile(os.path.join(src_dir, name), os.path.join(dst_dir, name))
    return out


def main():
    print("# made by tools/ref/make_dicom_codec_fixtures.py (pydicom %s, numpy %s)" % (pydicom.__version__, np.__version__))
    for name, refused in FILES:
        path = os.path.join(D, name)
        if not os.path.exists(path):
            continue
        ds = pydicom.dcmread(path)
        syntax = str(ds.file_meta.TransferSyntaxUID)
        if refused:
            print("%s %s refused %s" % (name, syntax, refused.replace(" ", "_")))
            continue
        flat, handler = decode(ds)
        arr = reshape_pixel_array(ds, flat.view(pixel_dtype(ds)) if flat.dtype == np.uint8 and ds.BitsAllocated > 8 else flat)
        nf = int(getattr(ds, "NumberOfFrames", 1) or 1)
        spp = int(ds.SamplesPerPixel)
        pi = ds.PhotometricInterpretation
        # pydicom leaves YCbCr as decoded (its Pillow and RLE handlers); GDCM converts to RGB itself
        if spp == 3 and pi in ("YBR_FULL", "YBR_FULL_422") and not (handler == "gdcm_handler"):
            arr = convert_color_space(arr, pi, "RGB", per_frame=True)
        arr = np.asarray(arr).reshape(nf, ds.Rows, ds.Columns, spp)
        bs, ba = int(ds.BitsStored), int(ds.BitsAllocated)
        signed = int(ds.PixelRepresentation) == 1
        dt = {8: np.int8 if signed else np.uint8, 16: np.int16 if signed else np.uint16,
              32: np.int32 if signed else np.uint32}[ba]
        if spp == 3:
            dt = {8: np.uint8, 16: np.uint16, 32: np.uint32}[ba]
        a = arr.astype(np.int64)
        if bs < ba:  # keep Bits Stored, sign-extend (as medsam.c and pydicom's numpy path)
            a &= (1 << bs) - 1
            if signed and spp == 1:
                a = np.where(a >= (1 << (bs - 1)), a - (1 << bs), a)
        a = a.astype(dt)
        data = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        print("%s %s %d %d %d %d %s %d %d %s" % (name, syntax, nf, ds.Rows, ds.Columns, spp, np.dtype(dt).name,
                                              zlib.crc32(data), int(a.astype(np.int64).sum()), handler))
    # hand-made files (tests/fixtures/dicom/codecs/): the expected arrays are the encoder's input
    for name, want, dt in make_files(np.random.default_rng(20251206)):
        ds = pydicom.dcmread(os.path.join(FIX, name))
        a = want.astype(dt)
        data = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        checker = "gdcm_encoder" if "gdcm" in name else "gdcm_handler" if "jpll" in name or "jpeg_lossless" in name else "rule"
        print("fixtures/%s %s %d %d %d %d %s %d %d %s" % (name, ds.file_meta.TransferSyntaxUID, a.shape[0], a.shape[1],
                                                        a.shape[2], a.shape[3], np.dtype(dt).name, zlib.crc32(data),
                                                        int(a.astype(np.int64).sum()), checker))


if __name__ == "__main__":
    main()
