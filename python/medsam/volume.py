"""Volumes (NIfTI, DICOM, npz) with their geometry, intensity normalisation, and
label volumes written on a volume's grid."""
import ctypes
import numbers

import numpy as np

from . import _arrays
from ._lib import CError, Handle, Intensity, IntensityApplied, VolumeInfo, check, lib

_DTYPES = {"uint8": np.uint8, "int8": np.int8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
           "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64, "float32": np.float32,
           "float64": np.float64}
_MODES = {0: "auto", 1: "as is", 2: "window", 3: "percentile", 4: "dicom window"}


def intensity(window=None, mr=False):
    """The medsam_intensity for `medsam segment`'s --window / --mr options."""
    how = Intensity()  # AUTO
    if window is not None and mr:
        raise ValueError("window and mr exclude each other")
    if mr:
        how.mode = 3
    if window is not None:
        if isinstance(window, str):
            spec = window
        else:
            try:
                level, width = window
            except (TypeError, ValueError):
                raise ValueError("window: a name (soft, lung, brain, bone, dicom) or (level, width), got %r"
                                 % (window,)) from None
            if not all(isinstance(v, numbers.Real) for v in (level, width)):
                raise ValueError("window: (level, width) must be numbers, got %r" % (window,))
            spec = "%r,%r" % (float(level), float(width))
        err = CError()
        check(lib.medsam_intensity_parse(spec.encode(), ctypes.byref(how), ctypes.byref(err)), err)
    return how


class Volume(Handle):
    """A volume read by read_volume(). shape is (nz, ny, nx): slice z is an image of ny rows and
    nx columns (pixel (y, x) = voxel (x, y, z)), as MedSAM's npz 'imgs' (D, H, W).
    spacing: voxel size along x, y, z; array_spacing: along the array axes (z, y, x), what
    eval_metrics wants; affine: voxel (x, y, z, 1) -> world, 4x4."""

    _FREE, _WHAT = "medsam_volume_free", "volume"

    def __init__(self, path):
        self.path = str(path)
        h, err = ctypes.c_void_p(), CError()
        check(lib.medsam_volume_read(_arrays.fspath(path), ctypes.byref(h), ctypes.byref(err)), err)
        self._own(h.value, "volume %s" % self.path)
        vi = VolumeInfo()
        lib.medsam_volume_get_info(h.value, ctypes.byref(vi))
        self.shape = (vi.nz, vi.ny, vi.nx)
        self.spacing = tuple(vi.spacing)
        self.array_spacing = self.spacing[::-1]
        self.affine = np.array([[vi.affine[r][c] for c in range(4)] for r in range(4)])
        self.format = vi.format.decode()
        self.dtype = vi.dtype.decode()
        self.scaled = bool(vi.scaled)
        self.modality = vi.modality.decode()
        self.window = (vi.window_center, vi.window_width) if vi.has_window else None

    @property
    def array(self):
        """The voxel values (nz, ny, nx): the stored type, or float64 with the file's
        slope / intercept applied when it has them. A copy."""
        slope, inter = ctypes.c_double(), ctypes.c_double()
        dt = np.dtype(_DTYPES[self.dtype])
        n = self.shape[0] * self.shape[1] * self.shape[2]
        with self._use() as h:
            p = lib.medsam_volume_samples(h, ctypes.byref(slope), ctypes.byref(inter))
            raw = np.frombuffer((ctypes.c_char * (n * dt.itemsize)).from_address(p), dtype=dt).reshape(
                self.shape).copy()
        if not self.scaled:
            return raw
        out = raw.astype(np.float64)
        if slope.value != 1.0:   # nibabel's apply_read_scaling: multiply only if slope != 1, add only if inter != 0
            out *= slope.value
        if inter.value != 0.0:
            out += inter.value
        return out

    def normalize(self, window=None, mr=False):
        """The uint8 (nz, ny, nx) volume the segmentation works on (pre_CT_MR.py): CT window,
        MR percentiles or the default (see `medsam segment -h`)."""
        how = intensity(window, mr)
        out = np.empty(self.shape, np.uint8)
        applied, err = IntensityApplied(), CError()
        with self._use() as h:
            check(lib.medsam_volume_normalize(h, ctypes.byref(how), out.ctypes.data, ctypes.byref(applied),
                                              ctypes.byref(err)), err)
        self.intensity_applied = (_MODES.get(applied.mode, "?"), applied.lo, applied.hi)
        return out

    def write_labels(self, path, labels):
        """Writes labels (nz, ny, nx) as NIfTI on this volume's grid (same dimensions, voxel sizes,
        qform / sform), gzip-compressed when the path ends in .gz; atomic."""
        a = np.asarray(labels)
        if a.shape != self.shape:
            raise ValueError("labels: shape %s, the volume is %s" % (a.shape, self.shape))
        a = _arrays.label_map(a, "labels")
        err = CError()
        with self._use() as h:
            check(lib.medsam_volume_write_labels(_arrays.fspath(path), h, a.ctypes.data, a.dtype.itemsize,
                                                 ctypes.byref(err)), err)

    def __repr__(self):
        return "<medsam.Volume %s %s %s (z,y,x) spacing %s>" % (self.path, self.format, self.shape, self.spacing)


def read_volume(path):
    """Reads a NIfTI (.nii, .nii.gz), a DICOM file or series folder, or an npz with imgs (D, H, W)."""
    return Volume(path)
