"""Fixtures for the NIfTI and NPZ readers/writers (src/io/nifti*.c, npz.c).

    /usr/bin/python3 tools/ref/make_volume_fixtures.py            # (re)write the fixtures
    /usr/bin/python3 tools/ref/make_volume_fixtures.py --check DIR # check files the C tests wrote

Writes into tests/fixtures/nifti/:
  * tiny self-made .nii / .nii.gz files covering every supported datatype,
    both byte orders, NIfTI-1 and -2, gzip (also two concatenated members),
    scl_slope/scl_inter, qform with qfac -1, sform, no codes (base affine),
    header extensions, header values that nibabel fixes on load, 5-D with
    singleton dims, and one unsupported 6-D file;
  * expected.txt: what nibabel 5 says about those files and about nibabel's own
    test data files (nibabel/tests/data, read by the C test when present):
    version, sizes, datatype, pixdim after nibabel's fixes, slope/inter,
    get_best_affine / get_qform / get_sform, a CRC-32 of the raw samples
    (little-endian, x fastest), the sum of the scaled values and a few
    scaled values (%.17g) at given sample indices.
and into tests/fixtures/npz/: savez and savez_compressed files with every
dtype the C side reads, MedSAM-style {imgs, gts, spacing}, members the C side
must refuse (Fortran order, big-endian), and npz_expected.txt.

--check DIR: the C tests, run with MS_VOLUME_KEEP_DIR=DIR, leave the files
they wrote there (NAME.rt.nii[.gz] re-written from fixture NAME, mask_like_*.nii.gz
label maps made on an image's grid, *.npz). This loads each with nibabel /
numpy and checks affine, shape, datatype and values against the source.
"""
import gzip
import io
import math
import os
import struct
import sys
import zlib

import nibabel as nib
import numpy as np
from nibabel.nifti1 import Nifti1Extension, Nifti1Header
from nibabel.nifti2 import Nifti2Header

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NII_DIR = os.path.join(ROOT, "tests", "fixtures", "nifti")
NPZ_DIR = os.path.join(ROOT, "tests", "fixtures", "npz")
NIBABEL_DATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
NIBABEL_FILES = [
    "anatomical.nii",  # big-endian int16, qfac -1
    "example4d.nii.gz",  # 4-D int16, vox_offset 416 (extensions)
    "example_nifti2.nii.gz",  # NIfTI-2, 4-D
    "functional.nii",  # 4-D int16 with scl_slope / scl_inter
    "reoriented_anat_moved.nii",  # big-endian float32
    "resampled_anat_moved.nii",  # big-endian float32
    "standard.nii.gz",  # uint8, qform_code 0, sform_code 2
    "row_major.dconn.nii",  # CIFTI-2: 6-D, refused
]

RGB_DTYPE = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
RGBA_DTYPE = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")])


# ---------------------------------------------------------------- writing NIfTI


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine_of(rot, zooms, offset, flip_z=False):
    a = np.eye(4)
    z = np.array(zooms, dtype=float)
    if flip_z:
        z[2] = -z[2]
    a[:3, :3] = rot @ np.diag(z)
    a[:3, 3] = offset
    return a


def file_bytes(hdr, data, extensions=b""):
    """Header + extension flag (+ extensions) + samples (x fastest), by hand so that
    every header field (slope, codes, pixdim) is exactly what we set."""
    dt = hdr.get_data_dtype()
    hsize = hdr.sizeof_hdr
    min_off = hsize + 4 + len(extensions)
    if int(hdr["vox_offset"]) < min_off:
        hdr["vox_offset"] = min_off
    ext_flag = b"\x01\x00\x00\x00" if extensions else b"\x00" * 4
    head = hdr.binaryblock + ext_flag + extensions
    head += b"\x00" * (int(hdr["vox_offset"]) - len(head))
    return head + np.asarray(data).astype(dt, copy=False).tobytes(order="F")


def make_header(klass, data, dtype, endian="<", qform=None, qcode=0, sform=None, scode=0, zooms=None):
    hdr = klass(endianness=endian)
    hdr.set_data_dtype(dtype)
    hdr.set_data_shape(data.shape)
    if zooms is not None:
        hdr.set_zooms(zooms)
    if qform is not None:
        hdr.set_qform(qform, code=qcode)
    else:
        hdr["qform_code"] = qcode
    if sform is not None:
        hdr.set_sform(sform, code=scode)
    else:
        hdr["sform_code"] = scode
    hdr["scl_slope"] = 1.0
    hdr["scl_inter"] = 0.0
    return hdr


def save(name, raw, compress=False, members=1):
    path = os.path.join(NII_DIR, name)
    if compress:
        if members == 1:
            blob = gzip.compress(raw, compresslevel=9, mtime=0)
        else:  # split into concatenated gzip members, as `cat a.gz b.gz` makes
            cut = len(raw) // 2
            blob = gzip.compress(raw[:cut], mtime=0) + gzip.compress(raw[cut:], mtime=0)
        raw = blob
    with open(path, "wb") as f:
        f.write(raw)


def make_nifti_fixtures():
    os.makedirs(NII_DIR, exist_ok=True)
    rng = np.random.RandomState(1234)
    names = []

    # int16 with scaling, qform only (qfac -1 from a flipped z), little-endian
    d = rng.randint(-300, 300, size=(5, 4, 3)).astype(np.int16)
    q = affine_of(rotation(0.3, -0.2, 0.7), (0.8, 0.9, 2.5), (-12.5, 30.25, 7.0), flip_z=True)
    h = make_header(Nifti1Header, d, np.int16, qform=q, qcode=1, zooms=(0.8, 0.9, 2.5))
    h["scl_slope"], h["scl_inter"] = 0.5, -10.0
    h["descrip"] = b"int16 scaled, qform only"
    h["xyzt_units"] = 10
    save("le_int16_scaled.nii", file_bytes(h, d))
    names.append("le_int16_scaled.nii")

    # big-endian float32, both forms (sform with a shear wins)
    d = rng.standard_normal((4, 3, 2)).astype(np.float32) * 100
    q = affine_of(rotation(-0.1, 0.4, 0.2), (1.5, 1.25, 3.0), (10, -20, 30))
    s = q.copy()
    s[0, 1] += 0.125  # shear: only the sform can hold it
    h = make_header(Nifti1Header, d, np.float32, endian=">", qform=q, qcode=1, sform=s, scode=2, zooms=(1.5, 1.25, 3.0))
    save("be_float32.nii", file_bytes(h, d))
    names.append("be_float32.nii")

    # uint8 labels, gzip, sform only
    d = rng.randint(0, 4, size=(6, 5, 4)).astype(np.uint8)
    s = affine_of(rotation(0, 0, 0.5), (0.7, 0.7, 1.2), (-100, -80, 50))
    h = make_header(Nifti1Header, d, np.uint8, sform=s, scode=4, zooms=(0.7, 0.7, 1.2))
    save("labels_uint8.nii.gz", file_bytes(h, d), compress=True)
    names.append("labels_uint8.nii.gz")

    # the same labels as two concatenated gzip members
    save("labels_uint8_2members.nii.gz", file_bytes(h, d), compress=True, members=2)
    names.append("labels_uint8_2members.nii.gz")

    # no codes at all: base affine from pixdim, uint16
    d = rng.randint(0, 65535, size=(4, 3, 5)).astype(np.uint16)
    h = make_header(Nifti1Header, d, np.uint16, zooms=(2.0, 3.0, 4.0))
    save("uint16_nocodes.nii", file_bytes(h, d))
    names.append("uint16_nocodes.nii")

    # 2-D, big-endian, slope only, codes 0: base affine pads z with 1
    d = rng.randint(-1000, 1000, size=(7, 3)).astype(np.int32)
    h = make_header(Nifti1Header, d, np.int32, endian=">", zooms=(0.5, 0.25))
    h["scl_slope"], h["scl_inter"] = 2.0, 0.0
    save("be_int32_2d.nii", file_bytes(h, d))
    names.append("be_int32_2d.nii")

    # header values nibabel fixes on load: qfac 0, zero / negative pixdim, bad sform code
    d = rng.randint(0, 100, size=(3, 4, 2)).astype(np.uint8)
    q = affine_of(rotation(0.2, 0.1, -0.3), (2.0, 1.0, 3.0), (1, 2, 3))
    h = make_header(Nifti1Header, d, np.uint8, qform=q, qcode=2, zooms=(2.0, 1.0, 3.0))
    pd = h["pixdim"].copy()
    pd[0], pd[1], pd[2] = 0.0, -2.0, 0.0
    h["pixdim"] = pd
    h["sform_code"] = 9
    save("nibabel_fixes.nii", file_bytes(h, d))
    names.append("nibabel_fixes.nii")

    # header extension: vox_offset past 352, a comment extension in between
    d = rng.randint(-128, 127, size=(3, 3, 3)).astype(np.int8)
    h = make_header(Nifti1Header, d, np.int8, sform=np.diag([1.0, 2.0, 3.0, 1.0]), scode=1)
    ext = Nifti1Extension("comment", b"medsam test extension")
    buf = io.BytesIO()
    ext.write_to(buf, False)
    h["vox_offset"] = 352 + len(buf.getvalue())
    save("int8_extension.nii", file_bytes(h, d, extensions=buf.getvalue()))
    names.append("int8_extension.nii")

    # every remaining sample type, small, little-endian, with a qform
    q = affine_of(rotation(0.05, 0.1, 0.15), (1.0, 1.0, 2.0), (0, 0, 0))
    for dt, gen in [
        (np.uint32, lambda s: rng.randint(0, 2**32 - 1, size=s, dtype=np.uint64)),
        (np.int64, lambda s: rng.randint(-(2**62), 2**62, size=s, dtype=np.int64)),
        (np.uint64, lambda s: rng.randint(0, 2**63, size=s, dtype=np.uint64) * 2 + 1),
        (np.float64, lambda s: rng.standard_normal(s) * 1e3),
    ]:
        d = gen((3, 2, 2)).astype(dt)
        h = make_header(Nifti1Header, d, dt, qform=q, qcode=1, zooms=(1.0, 1.0, 2.0))
        name = f"dtype_{np.dtype(dt).name}.nii"
        save(name, file_bytes(h, d))
        names.append(name)

    # RGB24 and RGBA32
    for dt, nm in [(RGB_DTYPE, "rgb24"), (RGBA_DTYPE, "rgba32")]:
        flat = rng.randint(0, 256, size=(3, 2, 2, dt.itemsize)).astype(np.uint8)
        d = flat.view(dt).reshape(3, 2, 2)
        h = make_header(Nifti1Header, d, dt, sform=np.diag([0.5, 0.5, 1.0, 1.0]), scode=2)
        save(f"{nm}.nii", file_bytes(h, d))
        names.append(f"{nm}.nii")

    # NIfTI-2: 4-D int32 gzip, and big-endian float64 with scaling
    d = rng.randint(-50000, 50000, size=(3, 3, 2, 2)).astype(np.int32)
    q = affine_of(rotation(0.5, -0.25, 0.125), (1.1, 1.2, 1.3), (-5, 6, -7), flip_z=True)
    h = make_header(Nifti2Header, d, np.int32, qform=q, qcode=1, sform=q, scode=1, zooms=(1.1, 1.2, 1.3, 2.5))
    save("nifti2_int32_4d.nii.gz", file_bytes(h, d), compress=True)
    names.append("nifti2_int32_4d.nii.gz")
    d = rng.standard_normal((2, 3, 4)) * 10
    h = make_header(Nifti2Header, d, np.float64, endian=">", qform=q, qcode=1, zooms=(1.1, 1.2, 1.3))
    h["scl_slope"], h["scl_inter"] = 0.25, 100.0
    save("nifti2_be_float64.nii", file_bytes(h, d))
    names.append("nifti2_be_float64.nii")

    # 5-D with singleton dims 4 and 5 (read as a 3-D volume), and a 5-D vector field (refused)
    d = rng.randint(0, 1000, size=(2, 3, 2, 1, 1)).astype(np.int16)
    h = make_header(Nifti1Header, d, np.int16, zooms=(1, 1, 1, 1, 1))
    save("singleton_5d.nii", file_bytes(h, d))
    names.append("singleton_5d.nii")
    d = rng.standard_normal((2, 2, 2, 1, 3)).astype(np.float32)
    h = make_header(Nifti1Header, d, np.float32, zooms=(1, 1, 1, 1, 1))
    save("vector_5d.nii", file_bytes(h, d))
    names.append("vector_5d.nii")
    return names


# ---------------------------------------------------------------- recording


def raw_bytes_of(path):
    with open(path, "rb") as f:
        b = f.read()
    return gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b


def fmt(x):
    return "%.17g" % x


def record(out, label, path):
    """Writes what nibabel says about `path`."""
    raw = raw_bytes_of(path)
    size = struct.unpack("<i", raw[:4])[0]
    if size not in (348, 540):
        size = struct.unpack(">i", raw[:4])[0]
    klass = Nifti1Header if size == 348 else Nifti2Header
    hdr = klass.from_fileobj(io.BytesIO(raw))  # check=True: nibabel's load-time fixes
    shape = hdr.get_data_shape()
    out.append(f"file {label} {os.path.basename(path)}")
    if len(shape) > 4 and any(s != 1 for s in shape[4:]):
        out.append("error UNSUPPORTED")
        out.append("end")
        return
    img = nib.load(path)
    out.append(f"version {1 if size == 348 else 2}")
    dims = list(shape[:4]) + [1] * (4 - min(len(shape), 4))
    out.append(f"ndim {min(len(shape), 4)}")
    out.append("shape " + " ".join(str(int(s)) for s in dims))
    out.append(f"datatype {int(hdr['datatype'])}")
    out.append("pixdim " + " ".join(fmt(float(p)) for p in hdr["pixdim"]))
    slope, inter = hdr.get_slope_inter()
    out.append("slope_inter " + ("none" if slope is None else f"{fmt(slope)} {fmt(inter)}"))
    out.append(f"codes {int(hdr['qform_code'])} {int(hdr['sform_code'])}")
    out.append("affine " + " ".join(fmt(v) for v in hdr.get_best_affine().ravel()))
    assert np.array_equal(hdr.get_best_affine(), img.affine), path
    try:
        out.append("qform " + " ".join(fmt(v) for v in hdr.get_qform().ravel()))
    except Exception:
        out.append("qform error")
    out.append("sform " + " ".join(fmt(v) for v in hdr.get_sform().ravel()))
    unscaled = np.asanyarray(img.dataobj.get_unscaled())
    if unscaled.dtype.fields:  # RGB24 / RGBA32: samples interleaved per voxel
        samples = np.frombuffer(unscaled.tobytes(order="F"), dtype=np.uint8)
        le = samples.tobytes()
        scaled = samples.astype(np.float64)
    else:
        le = unscaled.astype(unscaled.dtype.newbyteorder("<"), copy=False).tobytes(order="F")
        scaled = np.asarray(img.get_fdata(), dtype=np.float64).ravel(order="F")
    out.append(f"crc32 {zlib.crc32(le)}")
    out.append(f"sum {fmt(math.fsum(scaled))} {fmt(math.fsum(np.abs(scaled)))}")
    n = scaled.size
    rng = np.random.RandomState(n)
    picks = sorted(set([0, n - 1, n // 2] + list(rng.randint(0, n, size=5))))
    for i in picks:
        out.append(f"value {i} {fmt(scaled[i])}")
    out.append("end")


# ---------------------------------------------------------------- NPZ


NPY_CODES = {"float32": "f32", "float64": "f64", "uint8": "u8", "int16": "i16", "uint16": "u16",
             "int32": "i32", "int64": "i64", "bool": "bool", "uint32": "u32"}


def npz_arrays():
    rng = np.random.RandomState(7)
    arrays = {
        "imgs": rng.randint(0, 256, size=(4, 6, 5)).astype(np.uint8),
        "gts": (rng.rand(4, 6, 5) > 0.7).astype(np.uint8),
        "spacing": np.array([2.5, 0.8, 0.8]),
        "f32": rng.standard_normal((2, 3)).astype(np.float32),
        "i16": rng.randint(-30000, 30000, size=(3, 2)).astype(np.int16),
        "u16": rng.randint(0, 65535, size=(5,)).astype(np.uint16),
        "i32": rng.randint(-(2**31), 2**31 - 1, size=(2, 2, 2)).astype(np.int32),
        "i64": rng.randint(-(2**62), 2**62, size=(3,), dtype=np.int64),
        "u32": rng.randint(0, 2**32 - 1, size=(2, 3), dtype=np.uint64).astype(np.uint32),
        "mask": rng.rand(3, 4) > 0.5,
        "scalar": np.array(3.25, dtype=np.float64),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    return arrays


def make_npz_fixtures():
    os.makedirs(NPZ_DIR, exist_ok=True)
    arrays = npz_arrays()
    np.savez(os.path.join(NPZ_DIR, "stored.npz"), **arrays)
    np.savez_compressed(os.path.join(NPZ_DIR, "compressed.npz"), **arrays)
    # members the reader must refuse with a clear message, next to a good one
    bad = {
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "big_endian": np.arange(4, dtype=">f4"),
        "ok": np.arange(3, dtype=np.int16),
    }
    np.savez_compressed(os.path.join(NPZ_DIR, "refused_members.npz"), **bad)
    lines = []
    for fname in ("stored.npz", "compressed.npz"):
        for name, a in arrays.items():
            shape = " ".join(str(s) for s in a.shape)
            lines.append(f"array {fname} {name} {NPY_CODES[a.dtype.name]} {a.ndim} {shape} crc32 {zlib.crc32(a.tobytes())}")
    lines.append(f"array refused_members.npz ok i16 1 3 crc32 {zlib.crc32(bad['ok'].tobytes())}")
    lines.append("refuse refused_members.npz fortran")
    lines.append("refuse refused_members.npz big_endian")
    with open(os.path.join(NPZ_DIR, "npz_expected.txt"), "w") as f:
        f.write("# made by tools/ref/make_volume_fixtures.py (numpy %s)\n" % np.__version__)
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- --check


def source_of(name):
    src = os.path.join(NII_DIR, name)
    return src if os.path.exists(src) else os.path.join(NIBABEL_DATA, name)


def check_written(d):
    problems, checked = [], 0
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if ".rt.nii" in name:
            src = source_of(name.split(".rt.")[0])
            a, b = nib.load(src), nib.load(path)
            checked += 1
            same = np.array_equal(a.affine, b.affine) if a.header.sizeof_hdr == 348 else np.allclose(a.affine, b.affine, rtol=1e-6, atol=1e-6)
            if not same:
                problems.append(f"{name}: affine differs from {src}:\n{a.affine}\n{b.affine}")
            if a.shape[:4] != b.shape[:4] or a.get_data_dtype().str[1:] != b.get_data_dtype().str[1:]:
                problems.append(f"{name}: shape/dtype {b.shape} {b.get_data_dtype()} vs {a.shape} {a.get_data_dtype()}")
            ua = np.asanyarray(a.dataobj.get_unscaled())
            ub = np.asanyarray(b.dataobj.get_unscaled())
            if ua.tobytes(order="F") != ub.astype(ua.dtype).tobytes(order="F") if not ua.dtype.fields else ua.tobytes() != ub.tobytes():
                problems.append(f"{name}: raw samples differ")
            fa, fb = (np.ravel(x.get_fdata(), order="F") for x in (a, b)) if not ua.dtype.fields else (0, 0)
            if not np.array_equal(fa, fb, equal_nan=True):
                problems.append(f"{name}: scaled values differ")
        elif name.startswith("mask_like_"):
            src = source_of(name[len("mask_like_"):].replace(".mask.nii.gz", ""))
            a, b = nib.load(src), nib.load(path)
            checked += 1
            # NIfTI-1 sources: identical; NIfTI-2 geometry was rounded to float32 in NIfTI-1
            same = np.array_equal(a.affine, b.affine) if a.header.sizeof_hdr == 348 else np.allclose(a.affine, b.affine, rtol=1e-6, atol=1e-6)
            if not same or a.shape[:3] != b.shape[:3]:
                problems.append(f"{name}: does not overlay {src}: {b.shape} {b.affine} vs {a.shape} {a.affine}")
            if b.get_data_dtype() != np.uint8:
                problems.append(f"{name}: dtype {b.get_data_dtype()}, expected uint8")
        elif name.endswith(".npz"):
            ref = npz_arrays()
            got = np.load(path)
            checked += 1
            for k, v in ref.items():
                if k not in got or got[k].dtype != v.dtype or got[k].shape != v.shape or not np.array_equal(got[k], v):
                    problems.append(f"{name}: array {k} differs")
    for p in problems:
        print("FAIL", p)
    print(f"checked {checked} files written by the C code: {len(problems)} problems")
    return 1 if problems or checked == 0 else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check_written(sys.argv[2]))
    names = make_nifti_fixtures()
    out = ["# made by tools/ref/make_volume_fixtures.py (nibabel %s, numpy %s)" % (nib.__version__, np.__version__)]
    for n in names:
        record(out, "fixtures", os.path.join(NII_DIR, n))
    for n in NIBABEL_FILES:
        p = os.path.join(NIBABEL_DATA, n)
        if os.path.exists(p):
            record(out, "nibabel", p)
        else:
            print("note: missing", p)
    with open(os.path.join(NII_DIR, "expected.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    make_npz_fixtures()
    print("wrote", NII_DIR, NPZ_DIR)


if __name__ == "__main__":
    main()
