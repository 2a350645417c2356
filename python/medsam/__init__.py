"""medsam: Python bindings of libmedsam (MedSAM / SAM box-prompted segmentation in C).

    import medsam
    model = medsam.Model("medsam_vit_b.pth")
    emb = model.encode(image)                      # uint8 / uint16 (H, W[, C]) or a file path
    labels = model.segment(emb, boxes=[[95, 255, 190, 350]])
    vol = medsam.read_volume("ct.nii.gz")
    seg = model.segment_volume(vol, boxes3d=[[120, 140, 40, 260, 300, 75]], window="soft")
    vol.write_labels("mask.nii.gz", seg)
    medsam.eval_metrics(seg, gt, spacing=vol.array_spacing)

ctypes over libmedsam.so (found next to this package, through MEDSAM_LIBRARY, in the
installation prefix, or by the dynamic linker); NumPy arrays in and out; the GIL is
released during every library call. Errors of the library raise medsam.Error with its
one-line message; wrong arguments raise TypeError / ValueError before the library runs.
"""
from ._lib import Error, lib as _lib, path as library_path
from .metrics import eval_metrics
from .model import Embedding, Model
from .volume import Volume, read_volume

__version__ = "0.1.0"
__all__ = ["Error", "Model", "Embedding", "Volume", "read_volume", "read_image", "eval_metrics", "library_version",
           "library_path"]


def library_version():
    """The loaded libmedsam's version, "MAJOR.MINOR.PATCH"."""
    return _lib.medsam_version().decode()


def read_image(path):
    """An image file's samples as stored (PNG, JPEG, BMP, .npy): (H, W) or (H, W, C) uint8 / uint16
    (float32 for .npy float arrays), decoded as `medsam segment` decodes it."""
    import ctypes

    import numpy as np

    from ._arrays import fspath
    from ._lib import CError, check
    p = ctypes.c_void_p()
    w, h, c, bits, err = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), CError()
    check(_lib.medsam_image_read(fspath(path), ctypes.byref(p), ctypes.byref(w), ctypes.byref(h), ctypes.byref(c),
                                 ctypes.byref(bits), ctypes.byref(err)), err)
    try:
        dt = {8: np.uint8, 16: np.uint16, 32: np.float32}[bits.value]
        n = h.value * w.value * c.value * np.dtype(dt).itemsize
        a = np.frombuffer((ctypes.c_char * n).from_address(p.value), dtype=dt).reshape(h.value, w.value, c.value)
        a = a.copy()
    finally:
        _lib.medsam_free(p)
    return a[:, :, 0] if c.value == 1 else a
