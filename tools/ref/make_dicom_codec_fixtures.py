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
from pydicom.pixel_data_handlers import gdcm_handler, numpy_handler, pillow_handler, rle_handler
from pydicom.pixel_data_handlers.util import convert_color_space

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
        ds.PixelData  # noqa: keep the element loaded
        from pydicom.pixel_data_handlers.util import reshape_pixel_array, pixel_dtype
        arr = reshape_pixel_array(ds, flat.view(pixel_dtype(ds)) if flat.dtype == np.uint8 and ds.BitsAllocated > 8 else flat)
        nf = int(getattr(ds, "NumberOfFrames", 1) or 1)
        spp = int(ds.SamplesPerPixel)
        pi = ds.PhotometricInterpretation
        if handler == "pillow_handler" and "YBR" not in pi:
            pass
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


if __name__ == "__main__":
    main()
