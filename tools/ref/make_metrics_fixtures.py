#!/usr/bin/env python3
"""Reference numbers for src/metrics (DSC, NSD, ASD, robust HD) from MedSAM's own code.

Runs the official functions of utils/SurfaceDice.py (main branch) and of
evaluation/compute_metrics.py + evaluation/SurfaceDice.py (LiteMedSAM branch), taken
from the MedSAM clone with `git show` into a temporary directory (never copied into
the repository), on cases generated here, and writes tests/fixtures/metrics/:

  case_<name>.npy        uint8 (2, n0, n1, n2) or (2, H, W): [gt, pred] label volumes
  binary.txt             per binary case (mask = value != 0): official surface numbers
  surfels_<name>_{gt,pred}.npy   (n, 2) float64 sorted [distance, area] of a few cases
  areas.txt              the official surfel-area table (256 values) for a few spacings
  challenge.txt          per multi-label case: compute_metrics.py's dsc and nsd
  cli/gts, cli/segs      npz pairs for the CLI test, and cli/expected_challenge.csv
                         written by the unmodified compute_metrics.py script itself
  cli/png/*.png          8- and 16-bit label maps and cli/expected_png.txt
  cli/nii/*.nii(.gz)     NIfTI label maps (pixdim 0.8, 0.9, 2.5) and cli/expected_nii.txt
  cli/expected_npz_xyz.txt  3DBox_CT_a.npz with its spacing read as (x,y,z)

Usage: /usr/bin/python3 tools/ref/make_metrics_fixtures.py   (SAM_REF_DIR defaults
to /work/ref/MedSAM).
"""
import ast
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import scipy.ndimage as ndi

REF = os.environ.get("SAM_REF_DIR", "/work/ref/MedSAM")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics")

if not hasattr(np, "Inf"):  # NumPy 2 dropped the aliases the official code uses
    np.Inf, np.NaN = np.inf, np.nan


def git_show(spec):
    return subprocess.check_output(["git", "-C", REF, "show", spec])


def load_official(tmp):
    """Imports the two SurfaceDice.py copies and the functions of compute_metrics.py."""
    main_dir, lite_dir = os.path.join(tmp, "main"), os.path.join(tmp, "lite")
    os.makedirs(main_dir), os.makedirs(lite_dir)
    with open(os.path.join(main_dir, "SurfaceDice.py"), "wb") as f:
        f.write(git_show("HEAD:utils/SurfaceDice.py"))
    with open(os.path.join(lite_dir, "SurfaceDice.py"), "wb") as f:
        f.write(git_show("origin/LiteMedSAM:evaluation/SurfaceDice.py"))
    cm_src = git_show("origin/LiteMedSAM:evaluation/compute_metrics.py")
    with open(os.path.join(lite_dir, "compute_metrics.py"), "wb") as f:
        f.write(cm_src)

    def import_from(d):
        sys.path.insert(0, d)
        try:
            sys.modules.pop("SurfaceDice", None)
            return importlib.import_module("SurfaceDice")
        finally:
            sys.path.pop(0)

    sd_main = import_from(main_dir)
    sys.modules.pop("SurfaceDice", None)
    sd_lite = import_from(lite_dir)
    # compute_metrics.py parses argv and starts a pool at import: take its functions only
    tree = ast.parse(cm_src)
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    ns = {
        "np": np,
        "join": os.path.join,
        "compute_surface_distances": sd_lite.compute_surface_distances,
        "compute_surface_dice_at_tolerance": sd_lite.compute_surface_dice_at_tolerance,
        "compute_dice_coefficient": sd_lite.compute_dice_coefficient,
        "compute_NSD": True,
    }
    exec(compile(ast.Module(body=keep, type_ignores=[]), "compute_metrics.py", "exec"), ns)
    return sd_main, sd_lite, ns, lite_dir


# ---- case generation ---------------------------------------------------------

rng = np.random.default_rng(20240611)


def blob(shape, sigma=2.0, frac=0.35):
    f = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    return f > np.quantile(f, 1.0 - frac)


def perturb(m, flips=0.03):
    p = ndi.binary_dilation(m) if rng.random() < 0.5 else ndi.binary_erosion(m)
    p = np.roll(p, 1, axis=int(rng.integers(0, m.ndim)))
    noise = rng.random(m.shape) < flips
    return p ^ noise


def binary_cases():
    """(name, gt, pred, spacing, dump_surfels)."""
    S = (14, 18, 16)
    c = []
    g = blob(S)
    p = perturb(g)
    c.append(("blobs_iso", g, p, (1.0, 1.0, 1.0), False))
    c.append(("blobs_aniso_xyz", g, p, (0.7, 0.7, 5.0), True))
    c.append(("blobs_aniso_zyx", g, p, (5.0, 0.7, 0.7), False))
    g2 = blob(S, 1.5, 0.25)
    c.append(("blobs_generic", g2, perturb(g2, 0.05), (1.3, 0.6, 2.2), False))
    c.append(("blobs_half", g2, perturb(g2, 0.0), (0.5, 2.0, 1.0), False))
    # thin structures: a one-voxel plane and a diagonal line against shifted copies
    t = np.zeros(S, bool)
    t[6, 2:15, 3:13] = True
    for i in range(12):
        t[1 + i, 2 + i, 2 + i] = True
    tp = np.zeros(S, bool)
    tp[7, 2:15, 3:13] = True
    for i in range(12):
        tp[1 + i, 3 + i, 2 + i] = True
    c.append(("thin", t, tp, (1.0, 1.0, 1.0), True))
    c.append(("thin_aniso", t, tp, (0.7, 0.7, 5.0), False))
    # masks touching the border of the volume
    b = np.zeros(S, bool)
    b[:, :, :] = True
    b[3:10, 4:12, 5:] = False
    bp = blob(S, 2.0, 0.6)
    bp[0, :, :] = True
    bp[:, -1, :] = True
    c.append(("border", b, bp, (0.8, 1.1, 1.7), False))
    full = np.ones(S, bool)
    c.append(("full_full", full, full, (0.7, 0.7, 5.0), False))
    c.append(("full_blob", full, g, (1.0, 1.0, 1.0), False))
    empty = np.zeros(S, bool)
    c.append(("empty_gt", empty, g, (0.7, 0.7, 5.0), False))
    c.append(("empty_pred", g, empty, (0.7, 0.7, 5.0), False))
    c.append(("empty_both", empty, empty, (1.0, 1.0, 1.0), False))
    v1, v2 = np.zeros(S, bool), np.zeros(S, bool)
    v1[2, 3, 4] = True
    v2[11, 15, 12] = True
    c.append(("far_voxels", v1, v2, (0.7, 0.7, 5.0), False))
    v3 = np.zeros(S, bool)
    v3[2, 3, 5] = True
    c.append(("voxel_neighbours", v1, v3, (1.0, 1.0, 1.0), False))
    # salt noise hits every one of the 256 codes: checks the whole area table
    Sn = (8, 9, 10)
    c.append(("noise", rng.random(Sn) < 0.4, rng.random(Sn) < 0.4, (1.3, 0.6, 2.2), True))
    c.append(("noise_iso", rng.random(Sn) < 0.5, rng.random(Sn) < 0.3, (1.0, 1.0, 1.0), False))
    # 2-D (evaluated as (H, W, 1))
    S2 = (40, 48)
    g2d = blob(S2, 3.0, 0.3)
    c.append(("2d_blobs", g2d, perturb(g2d), (1.0, 1.0, 1.0), False))
    c.append(("2d_blobs_spacing", g2d, perturb(g2d), (0.8, 1.2, 1.0), False))
    l2 = np.zeros(S2, bool)
    l2[5:35, 20] = True
    l2[10, 3:45] = True
    l2p = np.zeros(S2, bool)
    l2p[5:35, 22] = True
    l2p[11, 3:40] = True
    c.append(("2d_thin", l2, l2p, (1.0, 1.0, 1.0), False))
    bb = blob(S2, 3.0, 0.5)
    bb[0, :] = True
    bb[:, -1] = True
    c.append(("2d_border", bb, blob(S2, 3.0, 0.5), (1.0, 1.0, 1.0), False))
    c.append(("2d_empty_pred", g2d, np.zeros(S2, bool), (1.0, 1.0, 1.0), False))
    c.append(("2d_noise", rng.random(S2) < 0.5, rng.random(S2) < 0.5, (1.0, 1.0, 1.0), False))
    return c


def label_map(shape, nlab, frac=0.5):
    f = np.zeros(shape, np.uint8)
    for lab in range(1, nlab + 1):
        f[blob(shape, 2.0, frac / nlab)] = lab
    return f


def shift_labels(m):
    p = np.roll(m, 1, axis=0).copy()
    p[rng.random(m.shape) < 0.02] = 0
    return p


def challenge_cases():
    """(name, gt, seg, npz spacing as stored) — names starting with 3D are 3-D cases."""
    c = []
    S = (12, 20, 18)
    g = label_map(S, 3)
    c.append(("3D_good.npz", g, shift_labels(g), (0.7, 0.7, 5.0)))
    c.append(("3D_iso.npz", g, shift_labels(g), (1.0, 1.0, 1.0)))
    lowp = np.zeros(S, np.uint8)
    lowp[:4] = g[8:]
    c.append(("3D_low.npz", g, lowp, (0.8, 0.8, 2.5)))
    gm = g.copy()
    gm[gm == 2] = 0
    c.append(("3D_missing_label.npz", gm, shift_labels(gm), (0.7, 0.7, 5.0)))
    gp = g.copy()
    gp[gp == 2] = 0
    c.append(("3D_pred_only_label.npz", gp, shift_labels(g), (1.2, 0.9, 3.0)))
    S2 = (36, 44)
    g2 = label_map(S2, 2)
    c.append(("2D_good.npz", g2, shift_labels(g2), None))
    p2 = shift_labels(g2)
    p2[p2 == 1] = 5  # labels above max(gt) are never looked at
    c.append(("2D_pred_extra.npz", g2, p2, None))
    c.append(("2D_gt_empty.npz", np.zeros(S2, np.uint8), shift_labels(g2), None))
    return c


def fmt(x):
    return repr(float(x))


def surface_numbers(sd, g, p, spacing):
    if g.ndim == 2:
        g, p = g[..., None], p[..., None]
    s = sd.compute_surface_distances(g, p, list(spacing))
    asd = sd.compute_average_surface_distance(s)
    og, op = sd.compute_surface_overlap_at_tolerance(s, 2.0)
    vals = [
        len(s["distances_gt_to_pred"]), len(s["distances_pred_to_gt"]),
        np.sum(s["surfel_areas_gt"]), np.sum(s["surfel_areas_pred"]),
        sd.compute_dice_coefficient(g, p),
        sd.compute_surface_dice_at_tolerance(s, 1.0),
        sd.compute_surface_dice_at_tolerance(s, 2.0),
        sd.compute_surface_dice_at_tolerance(s, 5.0),
        og, op, asd[0], asd[1],
        sd.compute_robust_hausdorff(s, 95),
        sd.compute_robust_hausdorff(s, 100),
        sd.compute_robust_hausdorff(s, 50),
    ]
    return s, vals


def write_npy(path, arr):
    np.save(path, np.ascontiguousarray(arr))


def main():
    import warnings

    warnings.simplefilter("ignore")
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        p = os.path.join(OUT, f)
        if os.path.isfile(p):
            os.remove(p)
    shutil.rmtree(os.path.join(OUT, "cli"), ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix="medsam_metrics_")
    try:
        sd_main, sd_lite, cm, lite_dir = load_official(tmp)
        assert sd_main.neighbour_code_to_normals == sd_lite.neighbour_code_to_normals

        # the official area table for a few spacings (same loop as compute_surface_distances)
        with open(os.path.join(OUT, "areas.txt"), "w") as f:
            f.write("# spacing s0 s1 s2, then area[code] for the 256 codes (utils/SurfaceDice.py)\n")
            for sp in [(1.0, 1.0, 1.0), (0.7, 0.7, 5.0), (1.3, 0.6, 2.2)]:
                table = []
                for code in range(256):
                    normals = np.array(sd_main.neighbour_code_to_normals[code])
                    total = 0
                    for ni in range(normals.shape[0]):
                        n = np.zeros([3])
                        n[0] = normals[ni, 0] * sp[1] * sp[2]
                        n[1] = normals[ni, 1] * sp[0] * sp[2]
                        n[2] = normals[ni, 2] * sp[0] * sp[1]
                        total += np.linalg.norm(n)
                    table.append(total)
                f.write(" ".join(fmt(v) for v in sp) + " " + " ".join(fmt(v) for v in table) + "\n")

        with open(os.path.join(OUT, "binary.txt"), "w") as f:
            f.write("# name s0 s1 s2 n_surfels_gt n_surfels_pred sum_area_gt sum_area_pred dsc nsd@1 nsd@2 nsd@5 "
                    "overlap_gt@2 overlap_pred@2 asd_gt_to_pred asd_pred_to_gt hd95 hd100 hd50\n")
            for name, g, p, sp, dump in binary_cases():
                write_npy(os.path.join(OUT, "case_%s.npy" % name), np.stack([g, p]).astype(np.uint8))
                s, vals = surface_numbers(sd_main, g, p, sp)
                f.write(" ".join([name] + [fmt(v) for v in sp] + [str(vals[0]), str(vals[1])] +
                                 [fmt(v) for v in vals[2:]]) + "\n")
                if dump:
                    for side, d, a in (("gt", "distances_gt_to_pred", "surfel_areas_gt"),
                                       ("pred", "distances_pred_to_gt", "surfel_areas_pred")):
                        arr = np.stack([s[d], s[a]], axis=1).astype(np.float64)
                        write_npy(os.path.join(OUT, "surfels_%s_%s.npy" % (name, side)), arr)

        # challenge numbers from compute_metrics.py's own compute_metrics(npz_name)
        gt_dir, seg_dir = os.path.join(tmp, "gts"), os.path.join(tmp, "segs")
        os.makedirs(gt_dir), os.makedirs(seg_dir)
        cm["gt_dir"], cm["seg_dir"] = gt_dir, seg_dir
        with open(os.path.join(OUT, "challenge.txt"), "w") as f:
            f.write("# name s0 s1 s2 dsc nsd  (compute_metrics.py; spacing as the npz stores it, 2-D: 1 1 1)\n")
            for name, g, p, sp in challenge_cases():
                base = name[:-4]
                write_npy(os.path.join(OUT, "case_ch_%s.npy" % base), np.stack([g, p]).astype(np.uint8))
                extra = {"spacing": np.array(sp, np.float64)} if sp is not None else {}
                np.savez(os.path.join(gt_dir, name), gts=g, **extra)
                np.savez(os.path.join(seg_dir, name), segs=p)
                _, dsc, nsd = cm["compute_metrics"](name)
                used = sp if sp is not None else (1.0, 1.0, 1.0)
                f.write(" ".join([base] + [fmt(v) for v in used] + [fmt(dsc), fmt(nsd)]) + "\n")

        make_cli_fixtures(sd_main, lite_dir, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("wrote", os.path.normpath(OUT), "(%d bytes)" % total)


def make_cli_fixtures(sd_main, lite_dir, tmp):
    from PIL import Image

    cli = os.path.join(OUT, "cli")
    gts, segs, png = os.path.join(cli, "gts"), os.path.join(cli, "segs"), os.path.join(cli, "png")
    for d in (gts, segs, png):
        os.makedirs(d)
    S = (10, 24, 20)
    g = label_map(S, 3)
    cases = [
        ("3DBox_CT_a.npz", g, shift_labels(g), (0.7, 0.7, 5.0)),
        ("3DBox_MR_low.npz", g, np.roll(g, 6, axis=1), (1.0, 1.0, 3.0)),
    ]
    g2 = label_map((30, 34), 2)
    cases.append(("2DBox_X_a.npz", g2, shift_labels(g2), None))
    gm = g2.copy()
    gm[gm == 1] = 0
    cases.append(("2DBox_X_missing.npz", gm, shift_labels(gm), None))
    for name, gt, seg, sp in cases:
        extra = {"spacing": np.array(sp, np.float64)} if sp is not None else {}
        np.savez_compressed(os.path.join(gts, name), gts=gt, imgs=np.zeros_like(gt), **extra)
        np.savez_compressed(os.path.join(segs, name), segs=seg)
    # a 3-D case without 'spacing' (compute_metrics.py fails on it with a KeyError)
    for sub, key in (("gts", "gts"), ("segs", "segs")):
        d = os.path.join(cli, "nospacing", sub)
        os.makedirs(d)
        np.savez_compressed(os.path.join(d, "3DBox_nosp.npz"), **{key: g[:4, :8, :8]})
    # the unmodified official script over the folders writes the reference CSV
    out_csv = os.path.join(cli, "expected_challenge.csv")
    subprocess.check_call([sys.executable, os.path.join(lite_dir, "compute_metrics.py"), "-s", segs, "-g", gts,
                           "-csv_dir", out_csv, "-num_workers", "1"], cwd=lite_dir, stderr=subprocess.DEVNULL)

    # PNG label maps, evaluated per label on (H, W, 1) with spacing 1,1,1 and tolerance 2
    g8 = label_map((28, 36), 2)
    p8 = shift_labels(g8)
    Image.fromarray(g8).save(os.path.join(png, "gt8.png"))
    Image.fromarray(p8).save(os.path.join(png, "pred8.png"))
    g16 = np.zeros((28, 36), np.uint16)
    g16[g8 == 1], g16[g8 == 2] = 300, 1000
    p16 = np.zeros((28, 36), np.uint16)
    p16[p8 == 1], p16[p8 == 2] = 300, 1000
    Image.fromarray(g16).save(os.path.join(png, "gt16.png"))
    Image.fromarray(p16).save(os.path.join(png, "pred16.png"))
    assert np.array_equal(np.array(Image.open(os.path.join(png, "gt16.png"))), g16)
    with open(os.path.join(cli, "expected_png.txt"), "w") as f:
        f.write("# label dsc nsd@2 hd95 for gt8/pred8 (labels 1, 2) = gt16/pred16 (labels 300, 1000)\n")
        for lab in (1, 2):
            _, v = surface_numbers(sd_main, g8 == lab, p8 == lab, (1.0, 1.0, 1.0))
            f.write("%d %s %s %s\n" % (lab, fmt(v[4]), fmt(v[6]), fmt(v[12])))

    # the npz spacing is SimpleITK's (x, y, z); read that way it belongs reversed on (z, y, x)
    gt_a, seg_a, sp_a = cases[0][1], cases[0][2], cases[0][3]
    with open(os.path.join(cli, "expected_npz_xyz.txt"), "w") as f:
        f.write("# label dsc nsd@2 hd95 of 3DBox_CT_a.npz with spacing (z,y,x) = reversed npz spacing\n")
        for lab in (1, 2, 3):
            _, v = surface_numbers(sd_main, gt_a == lab, seg_a == lab, sp_a[::-1])
            f.write("%d %s %s %s\n" % (lab, fmt(v[4]), fmt(v[6]), fmt(v[12])))

    # NIfTI: nibabel arrays are (x, y, z); medsam.c reads them as (z, y, x) with spacing
    # (pixdim3, pixdim2, pixdim1) -- the official functions on the (z, y, x) arrays
    import nibabel as nib

    nii = os.path.join(cli, "nii")
    os.makedirs(nii)
    zooms = (0.8, 0.9, 2.5)  # x, y, z
    gz = label_map((8, 22, 18), 2)  # (z, y, x)
    pz = shift_labels(gz)
    aff = np.diag([zooms[0], zooms[1], zooms[2], 1.0])
    img = nib.Nifti1Image(np.ascontiguousarray(gz.transpose(2, 1, 0)).astype(np.uint8), aff)
    img.header.set_zooms(zooms)
    nib.save(img, os.path.join(nii, "case.nii.gz"))
    img = nib.Nifti1Image(np.ascontiguousarray(pz.transpose(2, 1, 0)).astype(np.int16), aff)
    img.header.set_zooms(zooms)
    nib.save(img, os.path.join(nii, "pred.nii"))
    # the header stores float32 voxel sizes: use them as nibabel reads them
    zooms_read = [float(z) for z in nib.load(os.path.join(nii, "case.nii.gz")).header.get_zooms()]
    with open(os.path.join(cli, "expected_nii.txt"), "w") as f:
        f.write("# label dsc nsd@2 hd95 of nii/pred.nii vs nii/case.nii.gz, spacing (z,y,x) = float32 "
                "pixdim (2.5, 0.9, 0.8)\n")
        for lab in (1, 2):
            _, v = surface_numbers(sd_main, gz == lab, pz == lab, zooms_read[::-1])
            f.write("%d %s %s %s\n" % (lab, fmt(v[4]), fmt(v[6]), fmt(v[12])))


if __name__ == "__main__":
    main()
