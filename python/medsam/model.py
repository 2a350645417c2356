"""Model and Embedding: a loaded checkpoint, image encoding and box decoding."""
import ctypes
import os

import numpy as np

from . import _arrays
from ._lib import MAX_POINTS, Box, CError, Handle, ModelInfo, Prompt, check, lib


def _default_threads():
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _check_boxes(rows, W, H, what):
    for i, (x0, y0, x1, y1) in enumerate(rows):
        if not (x1 > x0 and y1 > y0):
            raise ValueError("%s[%d]: (%g, %g, %g, %g) is empty: needs x0 < x1 and y0 < y1" % (what, i, x0, y0, x1, y1))
        if x0 < 0 or y0 < 0 or x1 > W or y1 > H:
            raise ValueError("%s[%d]: (%g, %g, %g, %g) lies outside the %dx%d image" % (what, i, x0, y0, x1, y1, W, H))


class Embedding(Handle):
    """One encoded image: (emb_channels, emb_size, emb_size) float32 features plus the
    width and height of the image it came from (boxes are in that image's pixels)."""

    _FREE, _WHAT = "medsam_embedding_free", "embedding"

    def __init__(self, handle, width, height, shape):
        self._own(handle, "embedding")
        self.width, self.height = width, height
        self.shape = shape  # (C, S, S)

    @property
    def data(self):
        """A copy of the features, float32 of shape (C, S, S)."""
        n = ctypes.c_long()
        with self._use() as h:
            p = lib.medsam_embedding_data(h, ctypes.byref(n))
            return np.ctypeslib.as_array(ctypes.cast(p, ctypes.POINTER(ctypes.c_float)), (n.value,)).reshape(
                self.shape).copy()

    @classmethod
    def from_array(cls, model, data, width, height):
        """Wraps features saved earlier (e.g. `medsam embed`'s (1, C, S, S) .npy) for an image of width x height."""
        a = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
        info = model.info
        want = (info["emb_channels"], info["emb_size"], info["emb_size"])
        if a.shape not in (want, (1,) + want):
            raise ValueError("embedding: shape %s, this model's embeddings are %s" % (a.shape, want))
        if int(width) < 1 or int(height) < 1:
            raise ValueError("embedding: width and height must be >= 1, got %r x %r" % (width, height))
        e, err = ctypes.c_void_p(), CError()
        with model._use() as h:
            check(lib.medsam_embedding_from_data(h, a.ctypes.data, a.size, ctypes.byref(e), ctypes.byref(err)), err)
        return cls(e.value, int(width), int(height), want)

    def save(self, path):
        """Writes the features as `medsam embed` does: float32 (1, C, S, S) .npy."""
        np.save(path, self.data[None])

    def __repr__(self):
        return "<medsam.Embedding %s of a %dx%d image%s>" % (self.shape, self.width, self.height,
                                                              ", closed" if self.closed else "")


class Model(Handle):
    """A checkpoint loaded as it is (medsam_vit_b.pth, sam_vit_*.pth, training checkpoints).

    threads: threads per call (default: the CPUs this process may use).
    pipeline: "medsam" (MedSAM_Inference.py), "sam" (segment_anything's SamPredictor),
    "lite" (CVPR24_LiteMedSAM_infer.py), or None / "auto": the model's own (ViT -> medsam,
    TinyViT -> lite), as `medsam segment --pipeline`. It decides the preprocessing, the box
    and point mapping and the mask postprocessing. A Model is
    read-only and may be used from several Python threads at once; the GIL is
    released while the library works. close() frees it (at once, or when calls running
    in other threads return; it is also freed when garbage-collected); using a closed
    model raises ValueError."""

    _FREE, _WHAT = "medsam_model_free", "model"

    def __init__(self, path, threads=None, pipeline=None):
        self.path = os.fspath(path)
        self.threads = int(threads) if threads else _default_threads()
        if self.threads < 1:
            raise ValueError("threads: needs a positive number, got %r" % threads)
        kind = ctypes.c_int(0)  # MEDSAM_PIPELINE_AUTO
        if pipeline is not None:
            if not isinstance(pipeline, str):
                raise TypeError("pipeline: needs \"medsam\", \"sam\", \"lite\" or None, got %r" % (pipeline,))
            err = CError()
            if lib.medsam_pipeline_parse(pipeline.encode(), ctypes.byref(kind), ctypes.byref(err)) != 0:
                raise ValueError("pipeline: needs \"medsam\", \"sam\", \"lite\" or None, got %r" % pipeline)
        h, err = ctypes.c_void_p(), CError()
        check(lib.medsam_model_load(_arrays.fspath(path), ctypes.byref(h), ctypes.byref(err)), err)
        self._own(h.value, "model %s" % self.path)
        if kind.value != 0:
            st = lib.medsam_model_set_pipeline(h.value, kind.value, ctypes.byref(err))
            if st != 0:
                self.close()
                check(st, err)
        mi = ModelInfo()
        lib.medsam_model_get_info(h.value, ctypes.byref(mi))
        self._info = {name: getattr(mi, name) for name, _ in ModelInfo._fields_}
        for name in ("encoder", "family"):  # static C strings
            self._info[name] = self._info[name].decode() if self._info[name] else ""

    @property
    def info(self):
        """Architecture facts: img_size, embed_dim, depth, num_heads, window_size, patch_size,
        emb_channels, emb_size, mask_size, num_params, encoder ("vit" or "tinyvit"), family."""
        with self._use():
            return dict(self._info)

    @property
    def box_zoom(self):
        """Box zoom factor, 0 = off (README "Box zoom"): the model file's record (the bundled
        default model: 3), or what was set. segment() applies it to boxes on images given as
        pixels or paths; an Embedding is the whole image, so boxes on it are never zoomed."""
        with self._use() as h:
            return lib.medsam_model_get_box_zoom(h)

    @box_zoom.setter
    def box_zoom(self, factor):
        err = CError()
        with self._use() as h:
            check(lib.medsam_model_set_box_zoom(h, float(factor), ctypes.byref(err)), err)

    @property
    def pipeline(self):
        """The pipeline in use: "medsam", "sam" or "lite"."""
        with self._use() as h:
            return lib.medsam_pipeline_name(lib.medsam_model_get_pipeline(h)).decode()

    def keep_decoder_input(self):
        """For interactive use (many prompts on few images): compute the decoder's per-model
        input once (about 16 MB) so that every later segment() call skips it; same results."""
        err = CError()
        with self._use() as h:
            check(lib.medsam_model_keep_decoder_input(h, self.threads, ctypes.byref(err)), err)

    def describe(self):
        buf = ctypes.create_string_buffer(2048)
        with self._use() as h:
            lib.medsam_model_describe(h, buf, len(buf))
        return buf.value.decode()

    def __repr__(self):
        return "<medsam.Model %s%s>" % (self.path, ", closed" if self.closed else "")

    # ---- encode ------------------------------------------------------------

    def preprocess(self, image):
        """The encoder input for an image, float32 (S, S, 3), and (width, height), through the
        model's pipeline (see Model): medsam: grey to RGB, skimage resize order 3, uint8, min-max;
        sam: Pillow bilinear resize of the longest side, pixel mean / std, zero pad; lite:
        OpenCV INTER_AREA of the longest side, min-max, zero pad.
        image: a file path (PNG, JPEG, BMP, .npy), or uint8 / uint16 pixels (H, W) or (H, W, C),
        C in 1..4, or an already preprocessed float (S, S, 3) array in [0, 1] (returned as it is)."""
        S = self.info["img_size"]
        err = CError()
        if _arrays.is_path(image):
            p, w, h = ctypes.c_void_p(), ctypes.c_int(), ctypes.c_int()
            with self._use() as handle:
                check(lib.medsam_model_prepare_input(handle, _arrays.fspath(image), self.threads, ctypes.byref(p),
                                                     ctypes.byref(w), ctypes.byref(h), ctypes.byref(err)), err)
            try:
                x = np.ctypeslib.as_array(ctypes.cast(p, ctypes.POINTER(ctypes.c_float)), (S, S, 3)).copy()
            finally:
                lib.medsam_free(p)
            return x, (w.value, h.value)
        a = np.asarray(image)
        if a.dtype.kind == "f":
            return _arrays.preprocessed(a, S), (S, S)
        pix, channels, bits = _arrays.image_pixels(a)
        H, W = pix.shape[:2]
        x = np.empty((S, S, 3), np.float32)
        with self._use() as handle:
            check(lib.medsam_model_preprocess(handle, pix.ctypes.data, W, H, channels, bits, self.threads,
                                              x.ctypes.data, ctypes.byref(err)), err)
        return x, (W, H)

    def encode(self, image):
        """Runs the image encoder once; returns an Embedding to decode any number of prompts on.
        image: as for preprocess(). The GIL is released while the encoder runs."""
        x, (w, h) = self.preprocess(image)
        e, err = ctypes.c_void_p(), CError()
        with self._use() as handle:
            check(lib.medsam_encode(handle, x.ctypes.data, self.threads, ctypes.byref(e), ctypes.byref(err)), err)
        i = self._info
        return Embedding(e.value, w, h, (i["emb_channels"], i["emb_size"], i["emb_size"]))

    # ---- decode ------------------------------------------------------------

    def segment(self, image, boxes=None, points=None, multimask=False, mask_input=None, return_logits=False):
        """Segments box prompts, or one SAM prompt set (points, at most one box, a mask input).

        image: an Embedding from encode(), or anything encode() takes (then encoded first).
        boxes: [[x0, y0, x1, y1], ...] (or one flat [x0, y0, x1, y1], or an (n, 4) array) in the
        image's pixel coordinates, 0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H; at most 255 boxes.

        Boxes alone: returns the (H, W) uint8 label map, 0 background, k for the k-th box (a later
        box wins where masks overlap; `medsam segment` writes 255 instead of 1 for a single box).
        return_logits: also the low-resolution logits float32 (n, L, L) and the predicted IoU (n,).

        With points, mask_input or multimask (SamPredictor.predict, `medsam segment -p`):
        points: [[x, y], ...] or [[x, y, label], ...] (or an (n, 2) / (n, 3) array), label 1
        foreground (the default) or 0 background, inside [0, W] x [0, H], at most 64.
        boxes: at most one box. mask_input: float32 (L, L) or (1, 1, L, L) low-resolution logits,
        e.g. the best of a previous call's logits. multimask: three masks instead of one.
        Returns the (H, W) uint8 0 / 1 mask with the highest predicted IoU; with return_logits
        (mask, logits (1 or 3, L, L), iou (1 or 3,))."""
        if points is None and mask_input is None and not multimask:
            return self._segment_boxes(image, boxes, return_logits)
        info = self.info  # raises on a closed model before the arguments are looked at
        L = info["mask_size"]
        box = None
        if boxes is not None:
            rows = _arrays.box_rows(boxes, 4, "boxes")
            if len(rows) > 1:
                raise ValueError("boxes: a prompt set with points, mask_input or multimask takes at most one box, got "
                                 "%d (segment each box in its own call)" % len(rows))
            box = rows[0]
        xy, lab = _arrays.point_rows(points, MAX_POINTS) if points is not None else (None, None)
        mask_in = _arrays.mask_logits(mask_input, L) if mask_input is not None else None
        if xy is None and box is None and mask_in is None:
            raise ValueError("points / boxes / mask_input: multimask needs a prompt: points, a box or mask_input")
        emb = self._embedding(image)
        W, H = emb.width, emb.height
        if box is not None:
            _check_boxes([box], W, H, "boxes")
        if xy is not None:
            for i, (x, y) in enumerate(xy):
                if x < 0 or y < 0 or x > W or y > H:
                    raise ValueError("points[%d]: (%g, %g) lies outside the %dx%d image" % (i, x, y, W, H))
        pr = Prompt()
        if xy is not None:
            pr.points, pr.labels, pr.n_points = xy.ctypes.data, lab.ctypes.data, len(xy)
        if box is not None:
            pr.has_box, pr.box = 1, Box(*box)
        if mask_in is not None:
            pr.mask_input = mask_in.ctypes.data
        nm = 3 if multimask else 1
        mask = np.empty((H, W), np.uint8)
        logits = np.empty((nm, L, L), np.float32)
        iou = np.empty((nm,), np.float32)
        err = CError()
        with self._use() as handle, emb._use() as eh:
            check(lib.medsam_decode_prompt(handle, eh, W, H, ctypes.byref(pr), 1 if multimask else 0, self.threads,
                                           logits.ctypes.data, iou.ctypes.data, mask.ctypes.data,
                                           ctypes.byref(err)), err)
        return (mask, logits, iou) if return_logits else mask

    def _embedding(self, image):
        emb = image if isinstance(image, Embedding) else self.encode(image)
        want = (self._info["emb_channels"], self._info["emb_size"], self._info["emb_size"])
        if emb.shape != want:
            raise ValueError("embedding: shape %s does not fit this model's %s" % (emb.shape, want))
        return emb

    def _segment_boxes(self, image, boxes, return_logits):
        self.info  # raises on a closed model before the arguments are looked at
        rows = _arrays.box_rows(boxes, 4, "boxes")
        if len(rows) > 255:
            raise ValueError("boxes: at most 255 boxes (labels are uint8), got %d" % len(rows))
        if self.box_zoom > 0 and not isinstance(image, Embedding):
            if return_logits:
                raise ValueError("return_logits: the logits are the whole image's, but this model zooms small boxes "
                                 "(box_zoom %g): set model.box_zoom = 0 first" % self.box_zoom)
            pixels = self._pixels(image)
            if pixels is not None:
                return self._segment_zoomed(pixels, rows)
        emb = self._embedding(image)
        W, H = emb.width, emb.height
        _check_boxes(rows, W, H, "boxes")
        n = len(rows)
        cboxes = (Box * n)(*[Box(*r) for r in rows])
        L = self._info["mask_size"]
        labels = np.empty((H, W), np.uint8)
        logits = np.empty((n, L, L), np.float32) if return_logits else None
        iou = np.empty((n,), np.float32) if return_logits else None
        err = CError()
        with self._use() as handle, emb._use() as eh:
            check(lib.medsam_decode_boxes(handle, eh, W, H, cboxes, n, self.threads,
                                          logits.ctypes.data if return_logits else None,
                                          iou.ctypes.data if return_logits else None, labels.ctypes.data,
                                          ctypes.byref(err)), err)
        return (labels, logits, iou) if return_logits else labels

    def _pixels(self, image):
        """(pixels, channels, bits) of a path or a uint8 / uint16 array; None for a preprocessed float array."""
        if _arrays.is_path(image):  # the samples as stored, float .npy arrays included (as the CLI reads them)
            from . import read_image
            a = np.ascontiguousarray(read_image(image))
            return a, 1 if a.ndim == 2 else a.shape[2], {1: 8, 2: 16, 4: 32}[a.itemsize]
        a = np.asarray(image)
        if a.dtype.kind == "f":
            return None
        return _arrays.image_pixels(a)

    def _segment_zoomed(self, pixels, rows):
        pix, channels, bits = pixels
        H, W = pix.shape[:2]
        _check_boxes(rows, W, H, "boxes")
        n = len(rows)
        cboxes = (Box * n)(*[Box(*r) for r in rows])
        labels = np.empty((H, W), np.uint8)
        pix = np.ascontiguousarray(pix)
        err, enc = CError(), ctypes.c_int()
        with self._use() as handle:
            check(lib.medsam_segment_pixels(handle, pix.ctypes.data, W, H, channels, bits, cboxes, n, self.threads,
                                            labels.ctypes.data, ctypes.byref(enc), ctypes.byref(err)), err)
        return labels

    # ---- volumes -----------------------------------------------------------

    def segment_volume(self, volume, boxes3d, window=None, mr=False, margin=None, cache_mb=None, progress=None):
        """3-D boxes by slice propagation (see `medsam segment -B`); returns labels (nz, ny, nx),
        uint8 (uint16 over 255 boxes), 0 background, k for box k, on the volume's grid.

        volume: a Volume from read_volume() (its intensities normalised as `medsam segment`
        does: window= "soft" | "lung" | "brain" | "bone" | "dicom" | (level, width), or
        mr=True for the 0.5 / 99.5 percentiles, else the default), or a uint8 (nz, ny, nx)
        array already normalised.
        boxes3d: [[x0, y0, z0, x1, y1, z1], ...], z inclusive (integers).
        margin: pixels around the previous slice's mask (default 3*max(nx,ny)/256).
        cache_mb: embeddings kept between the two sweeps (default 1024, 0: none).
        progress: called as progress(done, total) after each slice; return True to stop
        (medsam.Error with code "CANCELLED")."""
        from .volume import Volume  # noqa: circular at import time
        self.info  # raises on a closed model
        if isinstance(volume, Volume):
            u8 = volume.normalize(window=window, mr=mr)
        else:
            if window is not None or mr:
                raise ValueError("window / mr: only for a Volume; an array must already be uint8")
            u8 = np.asarray(volume)
            if u8.dtype != np.uint8 or u8.ndim != 3:
                raise ValueError("volume: needs a Volume or a uint8 (nz, ny, nx) array, got %s %s" % (u8.dtype,
                                                                                                    u8.shape))
            u8 = np.ascontiguousarray(u8)
        nz, ny, nx = u8.shape
        rows = _arrays.box_rows(boxes3d, 6, "boxes3d")
        if len(rows) > 65535:
            raise ValueError("boxes3d: at most 65535 boxes")
        cb = []
        for i, (x0, y0, z0, x1, y1, z1) in enumerate(rows):
            if z0 != int(z0) or z1 != int(z1):
                raise ValueError("boxes3d[%d]: z0 and z1 must be integers (slice indices), got %g, %g" % (i, z0, z1))
            if not (x1 > x0 and y1 > y0):
                raise ValueError("boxes3d[%d]: empty: needs x0 < x1 and y0 < y1" % i)
            if x0 < 0 or y0 < 0 or x1 > nx or y1 > ny or not (0 <= z0 <= z1 < nz):
                raise ValueError("boxes3d[%d]: (%g, %g, %g, %g, %g, %g) lies outside the %dx%dx%d volume "
                                 "(needs 0 <= z0 <= z1 < nz)" % ((i, x0, y0, z0, x1, y1, z1, nx, ny, nz)))
            cb.append((x0, y0, x1, y1, int(z0), int(z1)))
        from ._lib import Box3d, PROGRESS_FN, VolumeOpts
        n = len(cb)
        c_boxes = (Box3d * n)(*[Box3d(*b) for b in cb])
        opts = VolumeOpts()
        opts.nthreads = self.threads
        opts.margin = float(margin) if margin is not None else 0.0
        if margin is not None and not (opts.margin > 0):
            raise ValueError("margin: needs a number of pixels > 0, got %r" % margin)
        if cache_mb is not None:
            if int(cache_mb) < 0:
                raise ValueError("cache_mb: needs megabytes >= 0, got %r" % cache_mb)
            opts.cache_bytes = -1 if int(cache_mb) == 0 else int(cache_mb) << 20
        raised = []
        if progress is not None:
            def _cb(user, done, total):
                try:
                    return 1 if progress(done, total) else 0
                except BaseException as e:  # stop the library, re-raise below
                    raised.append(e)
                    return 1
            opts.progress = PROGRESS_FN(_cb)
        label_bytes = 1 if n <= 255 else 2
        labels = np.zeros((nz, ny, nx), np.uint8 if label_bytes == 1 else np.uint16)
        err = CError()
        with self._use() as handle:
            st = lib.medsam_segment_volume(handle, u8.ctypes.data, nx, ny, nz, c_boxes, n, ctypes.byref(opts),
                                           labels.ctypes.data, label_bytes, ctypes.byref(err))
        if raised:
            raise raised[0]
        check(st, err)
        return labels
