"""The Python bindings (python/medsam) against the command line, bit for bit, on the
fixtures; bad input raising the right exception; the GIL released during encode.
Run by tests/cli_python.sh with /usr/bin/python3 (Debian's python3-numpy; no PyTorch):
MEDSAM_LIBRARY points at the freshly built libmedsam.so, MEDSAM_CLI at build/medsam.
Last line: "N passed, N failed"."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading

import numpy as np

import medsam

CLI = os.environ.get("MEDSAM_CLI", "build/medsam")
M = "tests/fixtures/tiny/model.pth"
VOL = "tests/fixtures/volume"
MET = "tests/fixtures/metrics/cli"
T = tempfile.mkdtemp(prefix="medsam_py_")
passed = failed = 0


def ok(name):
    global passed
    passed += 1
    print("ok   " + name)


def bad(name):
    global failed
    failed += 1
    print("FAIL " + name)


def check(name, cond, detail=""):
    ok(name) if cond else bad(name + (": " + detail if detail else ""))


def cli(*args):
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("medsam %s: %s" % (" ".join(map(str, args)), r.stderr.strip()))
    return r.stdout


def raises(name, exc, fn, text=None):
    """fn() must raise exc (exactly that class or a subclass), with `text` in its message."""
    try:
        fn()
    except exc as e:
        if text and text not in str(e):
            bad("%s: %s raised, but the message %r lacks %r" % (name, type(e).__name__, str(e), text))
        else:
            ok("%s -> %s: %s" % (name, type(e).__name__, e))
        return
    except Exception as e:  # noqa: BLE001 - the wrong kind is a failure
        bad("%s: expected %s, got %s: %s" % (name, exc.__name__, type(e).__name__, e))
        return
    bad("%s: expected %s, nothing raised" % (name, exc.__name__))


def boxes_for(w, h):
    return [[w * 0.1, h * 0.15, w * 0.6, h * 0.7], [w * 0.4, h * 0.3, w * 0.9, h * 0.95]]


def box_args(boxes):
    out = []
    for b in boxes:
        out += ["-b", ",".join(repr(float(np.float32(v))) for v in b)]
    return out


model = medsam.Model(M, threads=2)

# ---- version ---------------------------------------------------------------------------------
check("library version %s = `medsam --version`" % medsam.library_version(),
      cli("--version").split() == ["medsam", medsam.library_version()])
check("the loaded library is MEDSAM_LIBRARY", os.path.realpath(medsam.library_path) ==
      os.path.realpath(os.environ.get("MEDSAM_LIBRARY", medsam.library_path)))

# ---- 2-D: the same masks as `medsam segment`, bit for bit -----------------------------------
for path in sorted(glob.glob("tests/fixtures/images/*")):
    name = os.path.basename(path)
    pix = medsam.read_image(path)
    H, W = pix.shape[:2]
    boxes = [[float(np.float32(v)) for v in b] for b in boxes_for(W, H)]
    out, lg = os.path.join(T, "m.png"), os.path.join(T, "lg.npy")
    cli("segment", "-m", M, "-i", path, *box_args(boxes), "-o", out, "--logits", lg, "--threads", "2")
    ref = medsam.read_image(out)
    ref_logits = np.load(lg)[:, 0]
    emb = model.encode(path)                       # the file route (medsam_prepare_input)
    lab_file, logits, iou = model.segment(emb, boxes=boxes, return_logits=True)
    lab_pix = model.segment(pix, boxes=np.array(boxes))   # the pixel route (medsam_preprocess_pixels)
    check("%s: labels from a path = CLI (%d pixels, %d labelled)" % (name, ref.size, int((ref > 0).sum())),
          lab_file.shape == ref.shape and np.array_equal(lab_file, ref))
    check("%s: labels from read_image pixels = CLI" % name, np.array_equal(lab_pix, ref))
    check("%s: logits = CLI --logits, bit for bit" % name, np.array_equal(logits, ref_logits))
    check("%s: predicted IoU finite, one per box" % name, iou.shape == (2,) and np.all(np.isfinite(iou)))
    # one box: the CLI writes 255, the bindings label 1
    cli("segment", "-m", M, "-i", path, *box_args(boxes[:1]), "-o", out, "--threads", "2")
    one = model.segment(emb, boxes=boxes[0])
    check("%s: one flat box = CLI's 255 mask" % name, np.array_equal(np.where(one > 0, 255, 0), medsam.read_image(out)))

# embeddings: `medsam embed` writes the same numbers; a saved embedding decodes the same masks
img = "tests/fixtures/images/camera.png"
pix = medsam.read_image(img)
H, W = pix.shape[:2]
boxes = boxes_for(W, H)
cli("embed", "-m", M, "-i", img, "-o", os.path.join(T, "e.npy"), "--threads", "2")
emb = model.encode(pix)
ref = np.load(os.path.join(T, "e.npy"))
check("Embedding.data = `medsam embed` (1,%d,%d,%d), bit for bit" % emb.shape,
      ref.shape == (1,) + emb.shape and np.array_equal(emb.data, ref[0]))
emb.save(os.path.join(T, "e2.npy"))
e2 = medsam.Embedding.from_array(model, np.load(os.path.join(T, "e2.npy")), W, H)
check("Embedding.save + from_array decodes the same labels",
      np.array_equal(model.segment(e2, boxes=boxes), model.segment(emb, boxes=boxes)))

kept = medsam.Model(M, threads=2)
kept.keep_decoder_input()
lk, lgk, _ = kept.segment(medsam.Embedding.from_array(kept, emb.data, W, H), boxes=boxes, return_logits=True)
lp, lgp, _ = model.segment(emb, boxes=boxes, return_logits=True)
check("keep_decoder_input(): the same labels and logits, bit for bit", np.array_equal(lk, lp) and np.array_equal(lgk, lgp))
kept.close()

# ---- pipelines: LiteMedSAM's own ("lite") and SamPredictor's ("sam"), as `medsam segment` ----
LITE = "tests/fixtures/lite/model.pth"
lite = medsam.Model(LITE, threads=2)
check("LiteMedSAM fixture: default pipeline 'lite', tiny ViT: 'medsam'",
      lite.pipeline == "lite" and model.pipeline == "medsam", "%s, %s" % (lite.pipeline, model.pipeline))
tiny_sam = medsam.Model(M, threads=2, pipeline="sam")
check("Model(pipeline='sam').pipeline", tiny_sam.pipeline == "sam")
check("Model(pipeline='auto') = the default", medsam.Model(LITE, threads=1, pipeline="auto").pipeline == "lite")
for mdl, margs, label in ((lite, ["-m", LITE], "lite"), (tiny_sam, ["-m", M, "--pipeline", "sam"], "sam")):
    for path in ("tests/fixtures/images/camera.png", "tests/fixtures/images/retina.jpg"):
        name = os.path.basename(path)
        ppix = medsam.read_image(path)
        bx = [[float(np.float32(v)) for v in b] for b in boxes_for(ppix.shape[1], ppix.shape[0])]
        out, lg = os.path.join(T, "p.png"), os.path.join(T, "p.npy")
        cli("segment", *margs, "-i", path, *box_args(bx), "-o", out, "--logits", lg, "--threads", "2")
        ref = medsam.read_image(out)
        e_p = mdl.encode(path)
        lab, lo, _ = mdl.segment(e_p, boxes=bx, return_logits=True)
        check("%s pipeline, %s: labels from a path = CLI (%d labelled)" % (label, name, int((ref > 0).sum())),
              np.array_equal(lab, ref))
        check("%s pipeline, %s: labels from pixels = CLI" % (label, name),
              np.array_equal(mdl.segment(ppix, boxes=bx), ref))
        check("%s pipeline, %s: logits = CLI --logits, bit for bit" % (label, name),
              np.array_equal(lo, np.load(lg)[:, 0]))
        cli("segment", *margs, "-i", path, *box_args(bx[:1]), "-o", out, "--threads", "2")
        check("%s pipeline, %s: one box = CLI's 255 mask" % (label, name),
              np.array_equal(np.where(mdl.segment(e_p, boxes=bx[0]) > 0, 255, 0), medsam.read_image(out)))
        x, _ = mdl.preprocess(ppix)
        x_ref, _ = mdl.preprocess(path)
        check("%s pipeline, %s: preprocess(pixels) = preprocess(path)" % (label, name), np.array_equal(x, x_ref))

# ---- point prompts (+ box, multimask, mask input): `medsam segment -p`, masks and logits -----
pimg = "tests/fixtures/images/chelsea.png"
ppix = medsam.read_image(pimg)
PH, PW = ppix.shape[:2]
pts = [[PW * 0.45, PH * 0.5], [PW * 0.2, PH * 0.3, 0], [PW * 0.6, PH * 0.4, 1]]
pts = [[float(np.float32(v)) for v in p[:2]] + p[2:] for p in pts]
box = [float(np.float32(v)) for v in boxes_for(PW, PH)[0]]


def point_args(points):
    return sum((["-p", ",".join([repr(p[0]), repr(p[1])] + ([str(int(p[2]))] if len(p) > 2 else []))]
                for p in points), [])


for mdl, margs, label in ((lite, ["-m", LITE], "lite"), (model, ["-m", M], "tiny medsam"),
                          (tiny_sam, ["-m", M, "--pipeline", "sam"], "tiny sam")):
    e_p = mdl.encode(pimg)
    PL = mdl.info["mask_size"]
    prev = None
    for case, kw, extra in (("1 point", dict(points=pts[:1]), point_args(pts[:1])),
                            ("3 points + box, multimask", dict(points=np.array([p + [1] if len(p) == 2 else p
                                                                                for p in pts]), boxes=[box],
                                                              multimask=True),
                             point_args(pts) + box_args([box]) + ["--multimask"]),
                            ("box, multimask", dict(boxes=box, multimask=True), box_args([box]) + ["--multimask"]),
                            ("2 points + mask_input from the previous logits", dict(points=pts[:2], mask_input=None),
                             point_args(pts[:2])),
                            ("mask_input alone (1,1,L,L)", dict(mask_input=None), [])):
        if "mask_input" in kw:
            kw["mask_input"] = prev if case.startswith("2") else prev[None, None]
            np.save(os.path.join(T, "mi.npy"), prev)
            extra = extra + ["--mask-input", os.path.join(T, "mi.npy")]
        out, lg, sc = os.path.join(T, "q.png"), os.path.join(T, "q.npy"), os.path.join(T, "q.json")
        cli("segment", *margs, "-i", pimg, *extra, "-o", out, "--logits", lg, "--scores", sc, "--threads", "2")
        ref, ref_lg, ref_sc = medsam.read_image(out), np.load(lg)[0], json.load(open(sc))
        mask, lo, iou = mdl.segment(e_p, return_logits=True, **kw)
        check("%s, %s: mask = CLI's (0/255; %d pixels set)" % (label, case, int((ref > 0).sum())),
              mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1} and
              np.array_equal(np.where(mask > 0, 255, 0), ref))
        check("%s, %s: logits %s = CLI --logits, bit for bit" % (label, case, lo.shape),
              lo.shape == ref_lg.shape and np.array_equal(lo, ref_lg))
        check("%s, %s: iou = CLI --scores" % (label, case),
              np.allclose(iou, ref_sc["iou"], rtol=1e-7, atol=0) and int(np.argmax(iou)) == ref_sc["best"])
        check("%s, %s: without return_logits the same mask" % (label, case),
              np.array_equal(mdl.segment(e_p, **kw), mask))
        prev = lo[int(np.argmax(iou))].copy()
    check("%s: points on pixels (encoded first) = on the embedding" % label,
          np.array_equal(mdl.segment(ppix, points=pts[:1]), mdl.segment(e_p, points=pts[:1])))

# pixel layouts: a strided view and a byte-swapped copy give the contiguous array's result; uint16,
# RGBA and grey+alpha arrays equal the CLI on the same pixels saved as .npy
base = model.segment(pix, boxes=boxes)
flipped = pix[:, ::-1]
check("strided (flipped) view = its contiguous copy",
      np.array_equal(model.segment(flipped, boxes=boxes), model.segment(flipped.copy(), boxes=boxes)))
p16 = (pix.astype(np.uint16) * 257 + 3)
check("big-endian uint16 = native uint16",
      np.array_equal(model.segment(p16.astype(">u2"), boxes=boxes), model.segment(p16, boxes=boxes)))
rgba = np.dstack([pix, pix // 2, 255 - pix, np.full_like(pix, 7)])
ga = np.dstack([pix, np.full_like(pix, 200)])
for label, arr in (("uint16 grey", p16), ("uint8 RGBA", rgba), ("uint8 grey+alpha", ga),
                   ("uint16 RGB", np.ascontiguousarray(rgba[:, :, :3]).astype(np.uint16) * 250)):
    np.save(os.path.join(T, "a.npy"), arr)
    cli("segment", "-m", M, "-i", os.path.join(T, "a.npy"), *box_args(boxes), "-o", os.path.join(T, "a.png"),
        "--threads", "2")
    check("%s array = CLI on the same .npy" % label,
          np.array_equal(model.segment(arr, boxes=boxes), medsam.read_image(os.path.join(T, "a.png"))))
# a preprocessed float (S,S,3) input in [0,1] is used as it is, like the CLI's float .npy
S = model.info["img_size"]
xp, wh = model.preprocess(img)
np.save(os.path.join(T, "x.npy"), xp)
cli("embed", "-m", M, "-i", os.path.join(T, "x.npy"), "-o", os.path.join(T, "ex.npy"), "--threads", "2")
check("Model.preprocess keeps (W, H); its float (%d,%d,3) output = CLI's embedding of the same .npy" % (S, S),
      wh == (W, H) and np.array_equal(model.encode(xp).data, np.load(os.path.join(T, "ex.npy"))[0]) and
      np.array_equal(model.encode(xp).data, model.encode(img).data))
x = xp

# ---- volumes: the same labels as `medsam segment -B`, on the same grid -----------------------
CT = VOL + "/ct_phantom.nii.gz"
CTB = [[17, 18, 1, 43, 38, 12], [39, 26, 4, 57, 42, 13]]
cli("segment", "-m", M, "-i", CT, "--window", "soft", "-B", "17,18,1,43,38,12", "-B", "39,26,4,57,42,13",
    "-o", os.path.join(T, "ct.nii"), "--threads", "2")
vol = medsam.read_volume(CT)
calls = []
seg = model.segment_volume(vol, boxes3d=CTB, window="soft", progress=lambda d, t: calls.append((d, t)))
ref = medsam.read_volume(os.path.join(T, "ct.nii"))
check("CT phantom %s: labels = `medsam segment -B` (%d labelled voxels)" % (seg.shape, int((seg > 0).sum())),
      seg.dtype == np.uint8 and np.array_equal(seg, ref.array))
vol.write_labels(os.path.join(T, "py.nii"), seg)
with open(os.path.join(T, "py.nii"), "rb") as a, open(os.path.join(T, "ct.nii"), "rb") as b:
    check("Volume.write_labels writes the CLI's file byte for byte", a.read() == b.read())
check("labels in the test fixture's reference (ct_labels.nii)",
      np.array_equal(seg, medsam.read_volume(VOL + "/ct_labels.nii").array))
check("progress called from 0 to the last slice", calls and calls[0][0] == 0 and calls[-1][0] == calls[-1][1])
check("window=(40, 400) = 'soft'", np.array_equal(model.segment_volume(vol, CTB, window=(40, 400)), seg))
check("a normalised uint8 array = the Volume", np.array_equal(model.segment_volume(vol.normalize("soft"), CTB), seg))
cli("segment", "-m", M, "-i", VOL + "/case3d.npz", "-B", "10,10,1,40,34,7", "-B", "38,19,0,56,41,5",
    "-o", os.path.join(T, "c3.nii"), "--threads", "2")
v3 = medsam.read_volume(VOL + "/case3d.npz")
check("npz case, default intensities: labels = CLI",
      np.array_equal(model.segment_volume(v3, [[10, 10, 1, 40, 34, 7], [38, 19, 0, 56, 41, 5]]),
                     medsam.read_volume(os.path.join(T, "c3.nii")).array))
try:
    import nibabel
    img_nb = nibabel.load(CT)
    check("Volume.array / affine / spacing = nibabel's", np.array_equal(vol.array, np.asarray(
        img_nb.dataobj).transpose(2, 1, 0)) and np.allclose(vol.affine, img_nb.affine, rtol=0, atol=1e-12) and
        np.allclose(vol.spacing, img_nb.header.get_zooms()[:3], rtol=0, atol=0))
    sc = medsam.read_volume(VOL + "/intensity/scaled_int16.nii.gz")
    check("scaled volume: float64 values = nibabel's get_fdata", sc.scaled and np.array_equal(
        sc.array, nibabel.load(VOL + "/intensity/scaled_int16.nii.gz").get_fdata().transpose(2, 1, 0)))
except ImportError:
    print("(nibabel not installed: the Volume.array cross-check is skipped)")
raises("progress returning True cancels", medsam.Error,
       lambda: model.segment_volume(vol, CTB, window="soft", progress=lambda d, t: d >= 2), "cancelled")

# ---- metrics: medsam.eval_metrics = `medsam eval --json` ----------------------------------
for pred, gt in ((MET + "/nii/pred.nii", MET + "/nii/case.nii.gz"), (MET + "/png/pred8.png", MET + "/png/gt8.png"),
                 (MET + "/png/pred16.png", MET + "/png/gt16.png")):
    cli("eval", "--pred", pred, "--gt", gt, "--json", os.path.join(T, "ev.json"), "-q")
    with open(os.path.join(T, "ev.json")) as f:
        case = json.load(f)["cases"][0]
    if pred.endswith(".nii"):
        g = medsam.read_volume(gt)
        p_arr, g_arr, sp = medsam.read_volume(pred).array, g.array, g.array_spacing
    else:
        p_arr, g_arr, sp = medsam.read_image(pred), medsam.read_image(gt), None
    res = medsam.eval_metrics(p_arr, g_arr, spacing=sp)
    same = [r["label"] for r in case["labels"]] == list(res["labels"])
    for r in case["labels"]:
        got = res["labels"].get(r["label"], {})
        same &= all(got.get(k) == r[k] for k in ("dsc", "nsd", "asd_gt_to_pred", "asd_pred_to_gt", "hd95"))
        same &= got.get("vol_gt") == r["gt_voxels"] and got.get("vol_pred") == r["pred_voxels"]
    same &= all(res[k] == case["mean"][k] for k in ("dsc", "nsd", "asd_gt_to_pred", "asd_pred_to_gt", "hd95"))
    check("eval_metrics(%s) = `medsam eval` exactly (%d labels, mean DSC %.6f)" % (
        os.path.basename(pred), len(res["labels"]), res["dsc"]), same, json.dumps(res["labels"], default=str))
e = medsam.eval_metrics(np.zeros((5, 6), np.uint8), np.zeros((5, 6), np.uint8), labels=[1])
check("both empty: DSC NaN, HD95 inf", np.isnan(e["dsc"]) and np.isinf(e["hd95"]))
bm = np.zeros((6, 7, 8), bool)
bm[1:4, 2:5, 3:6] = True
check("bool masks, identical: DSC 1, NSD 1, HD95 0",
      medsam.eval_metrics(bm, bm)["labels"][1]["dsc"] == 1.0 and medsam.eval_metrics(bm, bm)["hd95"] == 0.0)

# ---- bad input: the right exception, never a crash ----------------------------------------
raises("missing checkpoint", medsam.Error, lambda: medsam.Model(os.path.join(T, "nope.pth")), "nope.pth")
raises("an image as checkpoint", medsam.Error, lambda: medsam.Model(img))
raises("missing image file", medsam.Error, lambda: model.encode(os.path.join(T, "nope.png")), "nope.png")
raises("read_image of a missing file", medsam.Error, lambda: medsam.read_image(os.path.join(T, "nope.png")))
raises("int32 image", TypeError, lambda: model.encode(pix.astype(np.int32)), "uint8 or uint16")
raises("bool image", TypeError, lambda: model.encode(pix > 3))
raises("5 channels", ValueError, lambda: model.encode(np.zeros((8, 8, 5), np.uint8)), "C = 1")
raises("4-D image", ValueError, lambda: model.encode(np.zeros((8, 8, 3, 1), np.uint8)))
raises("1-D image", ValueError, lambda: model.encode(np.zeros(8, np.uint8)))
raises("empty image", ValueError, lambda: model.encode(np.zeros((0, 5), np.uint8)), "empty")
raises("float image of another shape", ValueError, lambda: model.encode(np.zeros((20, 30), np.float32)),
       "preprocessed")
raises("float image outside [0,1]", ValueError, lambda: model.encode(np.full((S, S, 3), 1.5, np.float32)), "[0, 1]")
raises("float image with NaN", ValueError, lambda: model.encode(np.full((S, S, 3), np.nan, np.float32)), "NaN")
raises("box of 3 numbers", ValueError, lambda: model.segment(emb, boxes=[[1, 2, 3]]), "needs 4 numbers")
raises("flat box of 3 numbers", ValueError, lambda: model.segment(emb, boxes=[1, 2, 3]), "needs 4 numbers")
raises("box of 5 numbers", ValueError, lambda: model.segment(emb, boxes=[[1, 2, 3, 4], [1, 2, 3, 4, 5]]),
       "boxes[1]")
raises("box as a string", ValueError, lambda: model.segment(emb, boxes=["1,2,3,4"]), "string")
raises("box with NaN", ValueError, lambda: model.segment(emb, boxes=[[1, 2, np.nan, 4]]), "NaN")
raises("(n, 5) box array", ValueError, lambda: model.segment(emb, boxes=np.zeros((2, 5))))
raises("no boxes", ValueError, lambda: model.segment(emb, boxes=[]), "no boxes")
raises("boxes missing", ValueError, lambda: model.segment(emb))
raises("empty box", ValueError, lambda: model.segment(emb, boxes=[[5, 5, 5, 9]]), "x0 < x1")
raises("box outside the image", ValueError, lambda: model.segment(emb, boxes=[[0, 0, W + 1, 10]]), "outside")
raises("256 boxes", ValueError, lambda: model.segment(emb, boxes=[[0, 0, 5, 5]] * 256), "255")
raises("points with 2 boxes", ValueError,
       lambda: model.segment(emb, boxes=[[0, 0, 5, 5], [1, 1, 6, 6]], points=[[3, 3]]), "at most one box")
raises("point outside the image", ValueError, lambda: model.segment(emb, points=[[W + 1, 3]]), "points[0]")
raises("point with a negative y", ValueError, lambda: model.segment(emb, points=[[3, 3], [4, -1]]), "points[1]")
raises("point label 2", ValueError, lambda: model.segment(emb, points=[[3, 3, 2]]), "label")
raises("point label 0.5", ValueError, lambda: model.segment(emb, points=[[3, 3, 0.5]]), "label")
raises("point of 1 number", ValueError, lambda: model.segment(emb, points=[[3]]), "points[0]")
raises("(n, 4) point array", ValueError, lambda: model.segment(emb, points=np.zeros((2, 4))), "points")
raises("point with NaN", ValueError, lambda: model.segment(emb, points=[[np.nan, 3]]), "NaN")
raises("no points", ValueError, lambda: model.segment(emb, points=[]), "no points")
raises("65 points", ValueError, lambda: model.segment(emb, points=[[3, 3]] * 65), "at most 64")
raises("multimask without a prompt", ValueError, lambda: model.segment(emb, multimask=True), "multimask")
raises("point prompt with an empty box", ValueError, lambda: model.segment(emb, points=[[3, 3]], boxes=[5, 5, 5, 9]),
       "x0 < x1")
Lm = model.info["mask_size"]
raises("mask_input float64", TypeError, lambda: model.segment(emb, mask_input=np.zeros((Lm, Lm))), "float32")
raises("mask_input as a list", TypeError, lambda: model.segment(emb, mask_input=[[0.0] * Lm] * Lm), "mask_input")
raises("mask_input of another size", ValueError,
       lambda: model.segment(emb, mask_input=np.zeros((Lm, Lm + 1), np.float32)), "mask_input")
raises("mask_input of 3 masks", ValueError,
       lambda: model.segment(emb, mask_input=np.zeros((3, Lm, Lm), np.float32)), "mask_input")
raises("mask_input with NaN", ValueError,
       lambda: model.segment(emb, mask_input=np.full((Lm, Lm), np.nan, np.float32)), "NaN")
raises("unknown pipeline", ValueError, lambda: medsam.Model(M, pipeline="medsam2"), "pipeline")
raises("pipeline not a string", TypeError, lambda: medsam.Model(M, pipeline=1), "pipeline")
raises("pipeline lite on a ViT model (the library's message)", medsam.Error,
       lambda: medsam.Model(M, pipeline="lite"), "lite")
raises("embedding of another shape", ValueError, lambda: medsam.Embedding.from_array(model, np.zeros((3, 4, 4)), 5, 5))
raises("3-D box of 4 numbers", ValueError, lambda: model.segment_volume(vol, [[17, 18, 43, 38]], window="soft"),
       "needs 6 numbers")
raises("3-D box with a fractional z", ValueError, lambda: model.segment_volume(vol, [[17, 18, 1.5, 43, 38, 12]]),
       "integers")
raises("3-D box outside the volume", ValueError, lambda: model.segment_volume(vol, [[17, 18, 1, 43, 38, 99]]),
       "outside")
raises("unknown window name (the library's message)", medsam.Error,
       lambda: model.segment_volume(vol, CTB, window="soft-tissue"), "soft-tissue")
raises("window and mr together", ValueError, lambda: model.segment_volume(vol, CTB, window="soft", mr=True))
raises("int16 array as a volume", ValueError, lambda: model.segment_volume(vol.array, CTB), "uint8")
raises("read_volume of a missing file", medsam.Error, lambda: medsam.read_volume(os.path.join(T, "no.nii.gz")))
raises("write_labels of the wrong shape", ValueError, lambda: vol.write_labels(os.path.join(T, "w.nii"), seg[1:]))
raises("eval: shapes differ", ValueError, lambda: medsam.eval_metrics(np.zeros((4, 5), int), np.zeros((5, 4), int)))
raises("eval: float label maps", TypeError, lambda: medsam.eval_metrics(np.zeros((4, 5)), np.zeros((4, 5))))
raises("eval: negative labels", ValueError,
       lambda: medsam.eval_metrics(np.full((4, 5), -1), np.zeros((4, 5), int)), "0..65535")
raises("eval: spacing of 3 for a 2-D map", ValueError,
       lambda: medsam.eval_metrics(np.zeros((4, 5), int), np.zeros((4, 5), int), spacing=(1, 1, 1)))
raises("eval: zero spacing", ValueError,
       lambda: medsam.eval_metrics(np.zeros((4, 5), int), np.zeros((4, 5), int), spacing=(1, 0)))

m2 = medsam.Model(M, threads=1)
e_m2 = m2.encode(pix)
m2.close()
m2.close()  # twice is fine
raises("closed model: encode", ValueError, lambda: m2.encode(pix), "closed")
raises("closed model: segment", ValueError, lambda: m2.segment(e_m2, boxes=boxes), "closed")
raises("closed model: info", ValueError, lambda: m2.info, "closed")
check("an embedding outlives its model", e_m2.data.shape == emb.shape)
e_m2.close()
raises("closed embedding", ValueError, lambda: model.segment(e_m2, boxes=boxes), "closed")
# close() while a call is using the model (here from its own progress callback, i.e. while
# medsam_segment_volume runs): the call finishes on a live model, the model is freed after it
m3 = medsam.Model(M, threads=2)
seg3 = m3.segment_volume(vol, CTB, window="soft", progress=lambda d, t: m3.close())
check("close() during a call: the call completes with the same labels, the model is then closed",
      np.array_equal(seg3, seg) and m3.closed and m3._h is None)
raises("model closed during a call, used afterwards", ValueError, lambda: m3.encode(pix), "closed")
v2 = medsam.read_volume(CT)
v2.close()
raises("closed volume", ValueError, lambda: v2.array, "closed")

# ---- the GIL is released while the library encodes ---------------------------------------
# With a very long switch interval, a Python thread only gets to run while another one
# waits outside the interpreter. The counter thread yields at every step (time.sleep(0)).
counter = [0]
stop = threading.Event()


def spin():
    import time
    while not stop.is_set():
        counter[0] += 1
        time.sleep(0)


old = sys.getswitchinterval()
sys.setswitchinterval(100.0)
th = threading.Thread(target=spin)
th.start()
advanced = 0
for _ in range(20):
    c0 = counter[0]
    model.encode(x)
    advanced += counter[0] > c0
stop.set()
th.join()
sys.setswitchinterval(old)
check("another Python thread ran during encode (%d of 20 calls)" % advanced, advanced > 0)

# encode from two threads at once gives the same embedding as one thread
res = [None, None]


def enc(i):
    res[i] = model.encode(pix).data


ts = [threading.Thread(target=enc, args=(i,)) for i in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
check("two threads encoding at once: the same embedding", np.array_equal(res[0], res[1]) and
      np.array_equal(res[0], emb.data))

# box zoom: a model file that asks for it (medsam convert --box-zoom 3) segments a small box on its window,
# as `medsam segment` does; on an Embedding (the whole image) nothing is zoomed; 0 turns it off
zpath = os.path.join(T, "zoom3.safetensors")
cli("convert", M, zpath, "--box-zoom", "3")
zm = medsam.Model(zpath, threads=2)
check("box_zoom read from the file: 3", zm.box_zoom == 3)
zimg = "tests/fixtures/images/cell.png"
zbox = [200.0, 300.0, 220.0, 320.0]
out = os.path.join(T, "z.png")
cli("segment", "-m", zpath, "-i", zimg, "-b", "200,300,220,320", "-o", out, "--threads", "2")
zref = medsam.read_image(out)
check("box zoom, path: = CLI", np.array_equal(np.where(zm.segment(zimg, boxes=zbox) > 0, 255, 0), zref))
check("box zoom, pixels: = CLI", np.array_equal(np.where(zm.segment(medsam.read_image(zimg), boxes=zbox) > 0, 255, 0), zref))
raises("box zoom with return_logits", ValueError, lambda: zm.segment(zimg, boxes=zbox, return_logits=True), "box_zoom")
zm.box_zoom = 0
cli("segment", "-m", zpath, "-i", zimg, "-b", "200,300,220,320", "-o", out, "--threads", "2", "--box-zoom", "0")
check("box_zoom = 0: = CLI --box-zoom 0", np.array_equal(np.where(zm.segment(zimg, boxes=zbox) > 0, 255, 0),
                                                        medsam.read_image(out)))
raises("box_zoom = -1", medsam.Error if hasattr(medsam, "Error") else Exception, lambda: setattr(zm, "box_zoom", -1))
zm.close()

model.close()
import shutil  # noqa: E402
shutil.rmtree(T, ignore_errors=True)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
