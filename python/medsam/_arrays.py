"""Checks and conversions of NumPy arguments before they reach the C library:
every wrong dtype, shape or value raises here with a message naming the argument,
so nothing malformed is ever handed to C."""
import numbers
import os

import numpy as np


def is_path(x):
    return isinstance(x, (str, bytes, os.PathLike))


def fspath(x):
    return os.fsencode(x)


def image_pixels(image, name="image"):
    """uint8 / uint16 pixels, (H, W) or (H, W, C) with C in 1..4, as a C-contiguous
    native-endian array (a copy when the input is strided or byte-swapped), plus
    (channels, bit_depth)."""
    a = np.asarray(image)
    if a.dtype.kind not in "u" or a.dtype.itemsize not in (1, 2):
        raise TypeError("%s: dtype %s is not supported: pass uint8 or uint16 pixels (or a preprocessed float "
                        "(S, S, 3) array in [0, 1])" % (name, a.dtype))
    if a.ndim == 2:
        channels = 1
    elif a.ndim == 3 and 1 <= a.shape[2] <= 4:
        channels = a.shape[2]
    else:
        raise ValueError("%s: shape %s: needs (H, W) or (H, W, C) with C = 1 (grey), 2 (grey+alpha), 3 (RGB) "
                         "or 4 (RGBA)" % (name, a.shape))
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError("%s: shape %s is empty" % (name, a.shape))
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
    return a, channels, 8 * a.dtype.itemsize


def preprocessed(image, size, name="image"):
    """A float (size, size, 3) array in [0, 1]: the encoder input as it is."""
    a = np.asarray(image)
    if a.shape != (size, size, 3):
        raise ValueError("%s: a float image must be the preprocessed encoder input of shape (%d, %d, 3) with values "
                         "in [0, 1], got shape %s; pass uint8 / uint16 pixels for anything else" % (name, size, size,
                                                                                                    a.shape))
    if not np.all(np.isfinite(a)):
        raise ValueError("%s: the preprocessed input holds NaN or Inf" % name)
    lo, hi = float(a.min()), float(a.max())
    if lo < 0 or hi > 1:
        raise ValueError("%s: the preprocessed input must lie in [0, 1], its values span [%g, %g]" % (name, lo, hi))
    return np.ascontiguousarray(a, dtype=np.float32)


def _numbers(row, n, what, i):
    if isinstance(row, (str, bytes)):
        raise ValueError("%s[%d]: needs %d numbers, got the string %r" % (what, i, n, row))
    try:
        vals = [float(v) for v in row]
    except TypeError:
        raise ValueError("%s[%d]: needs %d numbers, got %r" % (what, i, n, row)) from None
    except ValueError as e:
        raise ValueError("%s[%d]: %s" % (what, i, e)) from None
    if len(vals) != n:
        raise ValueError("%s[%d]: needs %d numbers, got %d" % (what, i, n, len(vals)))
    if not all(np.isfinite(vals)):
        raise ValueError("%s[%d]: %r holds NaN or Inf" % (what, i, row))
    return vals


def box_rows(boxes, n, what):
    """A list of n-number rows from [[...], ...], an (k, n) array, or one flat row of n numbers."""
    if boxes is None:
        raise ValueError("%s: missing" % what)
    if isinstance(boxes, np.ndarray):
        if boxes.ndim == 1:
            boxes = [boxes]
        elif boxes.ndim != 2:
            raise ValueError("%s: array of shape %s, needs (k, %d)" % (what, boxes.shape, n))
        boxes = list(boxes)
    else:
        boxes = list(boxes)
        if boxes and all(isinstance(v, numbers.Real) for v in boxes):
            boxes = [boxes]  # one box given flat
    if len(boxes) == 0:
        raise ValueError("%s: no boxes given" % what)
    return [_numbers(b, n, what, i) for i, b in enumerate(boxes)]


def label_map(a, name):
    """An integer / bool label map as uint8 or uint16 (values 0..65535), C-contiguous."""
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if a.dtype.kind not in "ui":
        raise TypeError("%s: dtype %s: label maps must be integer (or bool) arrays" % (name, a.dtype))
    if a.size == 0:
        raise ValueError("%s: shape %s is empty" % (name, a.shape))
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi > 65535:
        raise ValueError("%s: labels must lie in 0..65535, got %d..%d" % (name, lo, hi))
    return np.ascontiguousarray(a, dtype=np.uint8 if hi <= 255 else np.uint16)


def point_rows(points, max_points, what="points"):
    """Points [[x, y], ...] / [[x, y, label], ...] (or an (n, 2) / (n, 3) array, or one flat
    [x, y] / [x, y, label]) as float32 (n, 2) coordinates and int32 (n,) labels (1 by default)."""
    if isinstance(points, np.ndarray):
        if points.ndim == 1:
            points = [points]
        elif points.ndim != 2 or points.shape[1] not in (2, 3):
            raise ValueError("%s: array of shape %s, needs (n, 2) x, y or (n, 3) x, y, label" % (what, points.shape))
        points = list(points)
    else:
        if isinstance(points, (str, bytes)):
            raise ValueError("%s: needs [[x, y], ...] or [[x, y, label], ...], got the string %r" % (what, points))
        points = list(points)
        if points and all(isinstance(v, numbers.Real) for v in points):
            points = [points]  # one point given flat
    if len(points) == 0:
        raise ValueError("%s: no points given" % what)
    if len(points) > max_points:
        raise ValueError("%s: at most %d points, got %d" % (what, max_points, len(points)))
    xy, labels = [], []
    for i, p in enumerate(points):
        if isinstance(p, (str, bytes)):
            raise ValueError("%s[%d]: needs x, y or x, y, label numbers, got the string %r" % (what, i, p))
        try:
            k = len(p)
        except TypeError:
            raise ValueError("%s[%d]: needs x, y or x, y, label, got %r" % (what, i, p)) from None
        if k not in (2, 3):
            raise ValueError("%s[%d]: needs x, y or x, y, label (2 or 3 numbers), got %d" % (what, i, k))
        v = _numbers(p, k, what, i)
        if k == 3 and v[2] not in (0.0, 1.0):
            raise ValueError("%s[%d]: label %g, needs 1 (foreground) or 0 (background)" % (what, i, v[2]))
        xy.append(v[:2])
        labels.append(int(v[2]) if k == 3 else 1)
    return np.array(xy, np.float32).reshape(-1, 2), np.array(labels, np.int32)


def mask_logits(mask, L, what="mask_input"):
    """A float32 (L, L) / (1, L, L) / (1, 1, L, L) finite array as C-contiguous (L, L)."""
    if not isinstance(mask, np.ndarray):
        raise TypeError("%s: needs a float32 numpy array of low-resolution logits (%d, %d) or (1, 1, %d, %d), got %s"
                        % (what, L, L, L, L, type(mask).__name__))
    if mask.dtype != np.float32:
        raise TypeError("%s: dtype %s, needs float32 low-resolution logits (as returned with return_logits=True)"
                        % (what, mask.dtype))
    if mask.ndim < 2 or mask.ndim > 4 or mask.shape[-2:] != (L, L) or any(d != 1 for d in mask.shape[:-2]):
        raise ValueError("%s: shape %s, needs (%d, %d) or (1, 1, %d, %d) (one mask of this model's low-resolution "
                         "logits)" % (what, mask.shape, L, L, L, L))
    if not np.all(np.isfinite(mask)):
        raise ValueError("%s: holds NaN or Inf" % what)
    return np.ascontiguousarray(mask.reshape(L, L), dtype=np.float32)
