"""Loading libmedsam.so with ctypes: where the library is looked for, the C
structs, the function prototypes, and the one exception type (medsam.Error).

ctypes.CDLL releases the GIL for the duration of every foreign call, so an
encode or a volume segmentation running in one Python thread does not stop the
others (the library itself is thread-safe: a loaded model is read-only).
"""
import contextlib
import ctypes
import os
import threading

SONAME_MAJOR = 0                       # the SONAME these bindings were written for
SONAME = "libmedsam.so.%d" % SONAME_MAJOR

STATUS_NAMES = ["OK", "IO", "FORMAT", "UNSAFE", "SHAPE", "ARG", "NOMEM", "UNSUPPORTED", "NUMERIC", "CANCELLED"]


class Error(Exception):
    """An error reported by libmedsam. str(e) is the library's one-line message;
    e.code is the status name ("IO", "FORMAT", "SHAPE", "ARG", ...)."""

    def __init__(self, message, code="ARG"):
        super().__init__(message)
        self.message = message
        self.code = code


class CError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 512)]


class ModelInfo(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("img_size", "embed_dim", "depth", "num_heads", "window_size",
                                             "patch_size", "emb_channels", "emb_size", "mask_size")] + \
               [("num_params", ctypes.c_longlong), ("encoder", ctypes.c_char_p), ("family", ctypes.c_char_p)]


class Box(ctypes.Structure):
    _fields_ = [("x0", ctypes.c_float), ("y0", ctypes.c_float), ("x1", ctypes.c_float), ("y1", ctypes.c_float)]


MAX_POINTS = 64                        # MEDSAM_MAX_POINTS
PIPELINES = ["auto", "medsam", "sam", "lite"]  # medsam_pipeline: AUTO, MEDSAM, SAM, LITE


class Prompt(ctypes.Structure):
    _fields_ = [("points", ctypes.c_void_p), ("labels", ctypes.c_void_p), ("n_points", ctypes.c_int),
                ("has_box", ctypes.c_int), ("box", Box), ("mask_input", ctypes.c_void_p)]


class Box3d(ctypes.Structure):
    _fields_ = [("x0", ctypes.c_float), ("y0", ctypes.c_float), ("x1", ctypes.c_float), ("y1", ctypes.c_float),
                ("z0", ctypes.c_int), ("z1", ctypes.c_int)]


class VolumeInfo(ctypes.Structure):
    _fields_ = [("nx", ctypes.c_int), ("ny", ctypes.c_int), ("nz", ctypes.c_int),
                ("spacing", ctypes.c_double * 3), ("affine", (ctypes.c_double * 4) * 4),
                ("format", ctypes.c_char_p), ("dtype", ctypes.c_char_p), ("scaled", ctypes.c_int),
                ("modality", ctypes.c_char * 17), ("has_window", ctypes.c_int),
                ("window_center", ctypes.c_double), ("window_width", ctypes.c_double)]


class Intensity(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("level", ctypes.c_double), ("width", ctypes.c_double)]


class IntensityApplied(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("lo", ctypes.c_double), ("hi", ctypes.c_double)]


PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)


class VolumeOpts(ctypes.Structure):
    _fields_ = [("nthreads", ctypes.c_int), ("margin", ctypes.c_double), ("cache_bytes", ctypes.c_longlong),
                ("progress", PROGRESS_FN), ("progress_user", ctypes.c_void_p),
                ("slices_encoded", ctypes.c_int), ("boxes_decoded", ctypes.c_int)]


class Metrics(ctypes.Structure):
    _fields_ = [("dsc", ctypes.c_double), ("nsd", ctypes.c_double), ("asd_gt_to_pred", ctypes.c_double),
                ("asd_pred_to_gt", ctypes.c_double), ("hd95", ctypes.c_double),
                ("vol_gt", ctypes.c_longlong), ("vol_pred", ctypes.c_longlong)]


P = ctypes.POINTER
vp, cp, i32, f64, ll = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_double, ctypes.c_longlong
ERR = P(CError)

# name: (restype, argtypes)
PROTOTYPES = {
    "medsam_version": (cp, []),
    "medsam_status_name": (cp, [i32]),
    "medsam_free": (None, [vp]),
    "medsam_model_load": (i32, [cp, P(vp), ERR]),
    "medsam_model_free": (None, [vp]),
    "medsam_model_get_info": (None, [vp, P(ModelInfo)]),
    "medsam_model_describe": (None, [vp, cp, i32]),
    "medsam_image_read": (i32, [cp, P(vp), P(i32), P(i32), P(i32), P(i32), ERR]),
    "medsam_preprocess_pixels": (i32, [vp, i32, i32, i32, i32, i32, i32, vp, ERR]),
    "medsam_prepare_input": (i32, [cp, i32, i32, P(vp), P(i32), P(i32), ERR]),
    "medsam_model_set_pipeline": (i32, [vp, i32, ERR]),
    "medsam_model_get_pipeline": (i32, [vp]),
    "medsam_pipeline_name": (cp, [i32]),
    "medsam_pipeline_parse": (i32, [cp, P(i32), ERR]),
    "medsam_model_preprocess": (i32, [vp, vp, i32, i32, i32, i32, i32, vp, ERR]),
    "medsam_model_prepare_input": (i32, [vp, cp, i32, P(vp), P(i32), P(i32), ERR]),
    "medsam_encode": (i32, [vp, vp, i32, P(vp), ERR]),
    "medsam_embedding_from_data": (i32, [vp, vp, ctypes.c_long, P(vp), ERR]),
    "medsam_embedding_data": (vp, [vp, P(ctypes.c_long)]),
    "medsam_embedding_free": (None, [vp]),
    "medsam_decode_boxes": (i32, [vp, vp, i32, i32, P(Box), i32, i32, vp, vp, vp, ERR]),
    "medsam_model_get_box_zoom": (ctypes.c_double, [vp]),
    "medsam_model_set_box_zoom": (i32, [vp, ctypes.c_double, ERR]),
    "medsam_segment_pixels": (i32, [vp, vp, i32, i32, i32, i32, P(Box), i32, i32, vp, P(i32), ERR]),
    "medsam_model_keep_decoder_input": (i32, [vp, i32, ERR]),
    "medsam_decode_prompt": (i32, [vp, vp, i32, i32, P(Prompt), i32, i32, vp, vp, vp, ERR]),
    "medsam_volume_read": (i32, [cp, P(vp), ERR]),
    "medsam_volume_get_info": (None, [vp, P(VolumeInfo)]),
    "medsam_volume_free": (None, [vp]),
    "medsam_volume_samples": (vp, [vp, P(f64), P(f64)]),
    "medsam_intensity_parse": (i32, [cp, P(Intensity), ERR]),
    "medsam_volume_normalize": (i32, [vp, P(Intensity), vp, P(IntensityApplied), ERR]),
    "medsam_segment_volume": (i32, [vp, vp, i32, i32, i32, P(Box3d), i32, P(VolumeOpts), vp, i32, ERR]),
    "medsam_volume_write_labels": (i32, [cp, vp, vp, i32, ERR]),
    "medsam_eval_label": (i32, [vp, i32, vp, i32, P(ll), P(f64), f64, ctypes.c_uint, i32, P(Metrics), ERR]),
}


def _candidates():
    env = os.environ.get("MEDSAM_LIBRARY")
    if env:
        return [env]  # asked for explicitly: that one or nothing
    here = os.path.dirname(os.path.abspath(__file__))
    prefix_lib = os.path.dirname(os.path.dirname(os.path.dirname(here)))  # PREFIX/lib/python3/dist-packages/medsam
    return [os.path.join(here, SONAME), os.path.join(here, "libmedsam.so"),
            os.path.join(prefix_lib, SONAME), SONAME]   # last: the dynamic linker's own search (ld.so.cache, ...)


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        missing = [n for n in PROTOTYPES if not hasattr(lib, n)]
        if missing:
            tried.append("%s (no %s: an older libmedsam)" % (path, missing[0]))
            continue
        for name, (res, args) in PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        version = lib.medsam_version().decode()
        if int(version.split(".")[0]) != SONAME_MAJOR:
            tried.append("%s (version %s, these bindings need %d.x)" % (path, version, SONAME_MAJOR))
            continue
        return lib, path
    raise ImportError("medsam: cannot load libmedsam: tried " + "; ".join(tried) +
                      ". Install the library (make install) or set MEDSAM_LIBRARY to libmedsam.so's path.")


lib, path = _load()


def has(name):
    """Whether the loaded library has the symbol (functions added after 0.1.0)."""
    return hasattr(lib, name)


def check(status, err):
    if status != 0:
        code = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else str(status)
        raise Error(err.message.decode("utf-8", "replace"), code)


class Handle:
    """Owns one C object. Calls hold it with `with self._use() as h:`; close() frees it at
    once when no call holds it, else when the last one returns (so closing an object
    that another thread is using never frees memory under it). Using it after close()
    raises ValueError."""

    _FREE = None     # name of the library's free function
    _WHAT = "object"

    def _own(self, h, what):
        self._lock = threading.Lock()
        self._busy, self._closing, self._what = 0, False, what
        self._h = h

    @property
    def closed(self):
        return not getattr(self, "_h", None) or self._closing

    @contextlib.contextmanager
    def _use(self):
        lock = getattr(self, "_lock", None)
        if lock is None:
            raise ValueError("%s: not loaded" % self._WHAT)
        with lock:
            if not self._h or self._closing:
                raise ValueError("%s: closed (close() was called)" % self._what)
            self._busy += 1
            h = self._h
        try:
            yield h
        finally:
            with lock:
                self._busy -= 1
                last = self._closing and self._busy == 0
            if last:
                self._release()

    def close(self):
        """Frees the C object (also done when the Python object is garbage-collected)."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if not self._h or self._closing:
                return
            self._closing = True
            idle = self._busy == 0
        if idle:
            self._release()

    def _release(self):
        with self._lock:
            h, self._h = self._h, None
        if h:
            getattr(lib, self._FREE)(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
