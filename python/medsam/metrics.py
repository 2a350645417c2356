"""eval_metrics: DSC, NSD, surface distances per label, as `medsam eval` (MedSAM's
utils/SurfaceDice.py)."""
import ctypes

import numpy as np

from . import _arrays
from ._lib import CError, Metrics, check, lib

FIELDS = ("dsc", "nsd", "asd_gt_to_pred", "asd_pred_to_gt", "hd95")


def eval_metrics(pred, gt, spacing=None, tolerance=2.0, labels=None, threads=1):
    """Metrics of a predicted label map against the ground truth, per label and their mean.

    pred, gt: integer (or bool) arrays of the same shape, (H, W) or (n0, n1, n2), labels 0..65535.
    spacing: voxel size per ARRAY axis (2 or 3 numbers; for a Volume's array use
    vol.array_spacing); default 1 per axis. tolerance: NSD tolerance in the spacing's unit.
    labels: which labels (default: every non-zero label present in either map, as `medsam eval`).

    Returns {"labels": {label: {"dsc", "nsd", "asd_gt_to_pred", "asd_pred_to_gt", "hd95",
    "vol_gt", "vol_pred"}}, "dsc": mean, "nsd": mean, "asd_gt_to_pred": mean, "asd_pred_to_gt": mean,
    "hd95": mean, "spacing": (s0, s1, s2), "tolerance": tolerance}. Empty-mask conventions are
    SurfaceDice.py's: both empty -> DSC and NSD NaN, HD95 inf; one empty -> 0, 0, inf."""
    p, g = np.asarray(pred), np.asarray(gt)
    if p.shape != g.shape:
        raise ValueError("pred: shape %s, gt is %s" % (p.shape, g.shape))
    if p.ndim not in (2, 3):
        raise ValueError("pred: shape %s: needs a 2-D (H, W) or 3-D label map" % (p.shape,))
    p, g = _arrays.label_map(p, "pred"), _arrays.label_map(g, "gt")
    shape3 = p.shape if p.ndim == 3 else p.shape + (1,)
    if spacing is None:
        sp = [1.0, 1.0, 1.0]
    else:
        try:
            sp = [float(v) for v in spacing]
        except (TypeError, ValueError):
            raise ValueError("spacing: needs %d numbers, got %r" % (p.ndim, spacing)) from None
        if len(sp) != p.ndim:
            raise ValueError("spacing: needs %d numbers (one per array axis), got %d" % (p.ndim, len(sp)))
        if not all(v > 0 and np.isfinite(v) for v in sp):
            raise ValueError("spacing: needs positive finite numbers, got %r" % (spacing,))
        if len(sp) == 2:
            sp.append(1.0)
    if labels is None:
        present = np.union1d(np.unique(p), np.unique(g))
        labels = [int(v) for v in present if v != 0]
    else:
        labels = [int(v) for v in labels]
        if any(v < 1 or v > 65535 for v in labels):
            raise ValueError("labels: need values in 1..65535, got %r" % (labels,))
    c_shape = (ctypes.c_longlong * 3)(*shape3)
    c_sp = (ctypes.c_double * 3)(*sp)
    out = {"labels": {}, "spacing": tuple(sp), "tolerance": float(tolerance)}
    cols = {f: [] for f in FIELDS}
    for label in labels:
        m, err = Metrics(), CError()
        check(lib.medsam_eval_label(p.ctypes.data, p.dtype.itemsize, g.ctypes.data, g.dtype.itemsize, c_shape, c_sp,
                                    float(tolerance), label, int(threads), ctypes.byref(m), ctypes.byref(err)), err)
        row = {f: getattr(m, f) for f in FIELDS}
        row["vol_gt"], row["vol_pred"] = m.vol_gt, m.vol_pred
        out["labels"][label] = row
        for f in FIELDS:
            cols[f].append(row[f])
    for f in FIELDS:
        out[f] = float(np.mean(np.array(cols[f], dtype=np.float64))) if labels else float("nan")
    return out
