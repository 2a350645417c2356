#!/usr/bin/env python3
"""Reference loss trajectory of MedSAM fine-tuning (train_one_gpu.py) for tests/test_train_trajectory.c.

    /usr/bin/python3 tools/ref/make_train_trajectory.py      # writes tests/fixtures/trajectory/

  `medsam train` itself against PyTorch (the command line, log.csv and latest.pth; not in CI):
    /usr/bin/python3 tools/ref/make_train_trajectory.py --run-dir DIR [--config tiny|vitb256] [--lr LR]
        writes DIR/init.pth, DIR/data/{imgs,gts}/caseN.npy, DIR/torch_steps.npy, DIR/torch_final.pth
        and prints the `medsam train` command to run (its output goes to DIR/run), then
    /usr/bin/python3 tools/ref/make_train_trajectory.py --compare DIR
        compares DIR/run/log.csv (every step's loss) and DIR/run/latest.pth (every weight) with PyTorch.
  tools/ref/check_train_trajectory.sh runs the three steps. Config "vitb256" is ViT-B (embed 768,
  depth 12, 12 heads, windows of 14, global blocks 2 5 8 11, decoder as MedSAM's) at a 256 input
  (16 x 16 tokens, windows padded 16 -> 28), random weights (sam_ref.randomize_, seed 0).

What is run: the official modules (sam_ref.py, from $SAM_REF_DIR) in the "tiny" configuration
(S = 128), initialised from tests/fixtures/tiny/model.pth, wrapped as train_one_gpu.py's MedSAM class
does it (image encoder + mask decoder trained, prompt encoder frozen and run under no_grad,
multimask_output=False, low-res logits bilinearly upsampled to S, align_corners=False), trained for
STEPS = 10 AdamW steps (lr 1e-3, weight_decay 0.01, torch defaults otherwise, parameter list
image_encoder then mask_decoder, zero_grad / loss.backward / step as the official loop) with
loss = DiceLoss(sigmoid=True, squared_pred=True, reduction="mean") + BCEWithLogitsLoss(mean).

monai is not installed here, so DiceLoss is written out as monai 1.x computes it for these options
(monai/losses/dice.py:DiceLoss.forward): input = sigmoid(input); reduce over the spatial dims only
(batch=False); intersection = sum(target * input); ground_o = sum(target ** 2); pred_o =
sum(input ** 2) (squared_pred); f = 1 - (2 * intersection + smooth_nr) / (ground_o + pred_o +
smooth_dr) with smooth_nr = smooth_dr = 1e-5; reduction "mean" = torch.mean over (batch, channel).
All in float32 torch ops, in that order.

Data (N = 4 samples, batch 2, 2 steps per epoch, 5 epochs): label maps gts.npy (N, S, S) uint8
with several labels each (stored); images are not stored but computed from the labels and an
integer hash that the C test computes identically (traj_hash): pixel (y, x), channel c of sample n
  image = float32(((h >> 8) / 2^24) * 0.5 + 0.0625 * label(y, x)), h = traj_hash(((n*3 + c)*S + y)*S + x, 7)
(exact in float64, so both sides round the same double). Sample order, label choice and box jitter
follow `medsam train` (src/train/trainer.h): one Python `random` generator seeded with SEED,
random.shuffle of the sample list at each epoch start, then per sample random.choice of the label
(np.unique(gt)[1:]) and the official box formula with bbox_shift 0 (the four randint(0, 0) draws are
still made). The official DataLoader shuffles with torch's generator instead; the order is recorded
in the fixture so the C test checks it draws the same samples, labels and boxes.

Stored in tests/fixtures/trajectory/ (all float64 unless said):
  gts.npy       (N, S, S) uint8 label maps
  steps.npy     (STEPS, 10): per step [loss, dice, bce (torch float32 run), loss, dice, bce (the
                same run in float64: how far float32 itself is from exact), sample0, label0,
                sample1, label1, ... ] -- cols 6..9: sample index and label of the two batch entries
  boxes.npy     (STEPS, 2, 4) the boxes used (x0, y0, x1, y1)
  weights.npy   (ntensors, 2 + K + M) per state_dict tensor, of the weight change D = final - initial
                of the float32 run: [changed (1 when any element moved), ||D||, K=16 projections of D
                on +-1 vectors (sign of element j for projection r: bit 31 of traj_hash(j*K + r,
                1000 + k)), M=16 elements of D at indices traj_hash(m, 5000 + k) % numel]
  weights64.npy same digest for the float64 run
  names.txt     the state_dict names, one per row of weights.npy
The projections estimate each tensor's relative L2 error (Johnson-Lindenstrauss) without storing the
1.4 MB of final weights.
"""
import os
import random
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
OUT = os.path.join(ROOT, "tests/fixtures/trajectory")
N, BATCH, EPOCHS = 4, 2, 5
STEPS = EPOCHS * N // BATCH
LR, WD, SEED, SHIFT = 1e-3, 0.01, 2023, 0
K, M = 16, 16
M32 = np.uint64(0xFFFFFFFF)


def traj_hash(i, seed):
    """uint32 mix of (index, seed); same arithmetic as traj_hash in test_train_trajectory.c."""
    x = (np.asarray(i, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(seed) * np.uint64(40503)) & M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(2246822519)) & M32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(3266489917)) & M32
    x ^= x >> np.uint64(16)
    return x


CONFIGS = {"tiny": sam_ref.CONFIGS["tiny"],
           "vitb256": dict(sam_ref.CONFIGS["vit_b"], img=256)}


def make_labels(S):
    """N label maps with 2-3 labels each (rectangles, a disc; later shapes overwrite earlier ones),
    drawn in a 128 frame and repeated by S / 128 for larger inputs."""
    if S != 128:
        f = S // 128
        return np.repeat(np.repeat(make_labels(128), f, axis=1), f, axis=2)
    gts = np.zeros((N, S, S), np.uint8)
    yy, xx = np.mgrid[0:S, 0:S]
    gts[0, 20:70, 30:100] = 1
    gts[0, 80:120, 10:50] = 2
    gts[1][(yy - 64) ** 2 + (xx - 60) ** 2 < 30 ** 2] = 3
    gts[1, 5:25, 90:127] = 1
    gts[2, 40:100, 40:90] = 2
    gts[2, 50:60, 100:128] = 5
    gts[2, 0:12, 0:30] = 1
    gts[3][(yy - 40) ** 2 + (xx - 85) ** 2 < 22 ** 2] = 4
    gts[3, 70:125, 15:60] = 2
    return gts


def make_images(gts):
    """(N, S, S, 3) float32 in [0, 1]: half hash noise, plus 0.0625 * label."""
    n, S, _ = gts.shape
    idx = np.arange(n * 3 * S * S, dtype=np.uint64)
    noise = (traj_hash(idx, 7) >> np.uint64(8)).astype(np.float64) / 16777216.0
    noise = noise.reshape(n, 3, S, S)
    img = (noise * 0.5 + 0.0625 * gts[:, None].astype(np.float64)).astype(np.float32)
    assert img.min() >= 0.0 and img.max() <= 1.0  # NpyDataset's assertion
    return np.ascontiguousarray(np.transpose(img, (0, 2, 3, 1)))


class MedSAM(nn.Module):
    """train_one_gpu.py's MedSAM wrapper, same semantics (written here, not copied)."""

    def __init__(self, sam):
        super().__init__()
        self.image_encoder, self.mask_decoder, self.prompt_encoder = sam.image_encoder, sam.mask_decoder, \
            sam.prompt_encoder
        for p in self.prompt_encoder.parameters():
            p.requires_grad = False

    def forward(self, image, box):
        emb = self.image_encoder(image)
        with torch.no_grad():
            box_t = torch.as_tensor(box, dtype=torch.float32)[:, None, :]
            sparse, dense = self.prompt_encoder(points=None, boxes=box_t, masks=None)
            pe = self.prompt_encoder.get_dense_pe()
        # the float64 run keeps the (frozen) prompt encoder in float32: its outputs are cast
        low, _ = self.mask_decoder(image_embeddings=emb, image_pe=pe.to(emb.dtype),
                                   sparse_prompt_embeddings=sparse.to(emb.dtype),
                                   dense_prompt_embeddings=dense.to(emb.dtype),
                                   multimask_output=False)
        return F.interpolate(low, size=(image.shape[2], image.shape[3]), mode="bilinear", align_corners=False)


def monai_dice_loss(inp, target, smooth_nr=1e-5, smooth_dr=1e-5):
    """monai 1.x DiceLoss(sigmoid=True, squared_pred=True, reduction="mean"), see the module docstring."""
    inp = torch.sigmoid(inp)
    reduce_axis = list(range(2, inp.dim()))
    intersection = torch.sum(target * inp, dim=reduce_axis)
    ground_o = torch.sum(target ** 2, dim=reduce_axis)
    pred_o = torch.sum(inp ** 2, dim=reduce_axis)
    denominator = ground_o + pred_o
    f = 1.0 - (2.0 * intersection + smooth_nr) / (denominator + smooth_dr)
    return torch.mean(f)


def sample(gts, index, rng):
    """NpyDataset.__getitem__'s label choice and box formula (bbox_shift = SHIFT) on generator rng."""
    gt = gts[index]
    label_ids = np.unique(gt)[1:]
    label = rng.choice(label_ids.tolist())
    gt2D = np.uint8(gt == label)
    y_indices, x_indices = np.where(gt2D > 0)
    x_min, x_max = np.min(x_indices), np.max(x_indices)
    y_min, y_max = np.min(y_indices), np.max(y_indices)
    H, W = gt2D.shape
    x_min = max(0, x_min - rng.randint(0, SHIFT))
    x_max = min(W, x_max + rng.randint(0, SHIFT))
    y_min = max(0, y_min - rng.randint(0, SHIFT))
    y_max = min(H, y_max + rng.randint(0, SHIFT))
    return label, gt2D, [x_min, y_min, x_max, y_max]


def run(sd0, gts, imgs, dtype, config="tiny", lr=LR):
    """STEPS official training steps; returns (per-step rows, boxes, final state_dict)."""
    sam = sam_ref.build_sam(config, CONFIGS[config])
    sam.load_state_dict(sd0)
    sam.image_encoder.to(dtype)
    sam.mask_decoder.to(dtype)
    model = MedSAM(sam)
    model.train()
    params = list(model.image_encoder.parameters()) + list(model.mask_decoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=WD)
    rng = random.Random(SEED)
    rows, boxes_all = [], []
    for epoch in range(EPOCHS):
        order = list(range(N))
        rng.shuffle(order)
        for b0 in range(0, N, BATCH):
            image, gt2D, boxes, meta = [], [], [], []
            for idx in order[b0:b0 + BATCH]:
                label, g, box = sample(gts, idx, rng)
                image.append(torch.tensor(np.transpose(imgs[idx], (2, 0, 1))).float())
                gt2D.append(torch.tensor(g[None]).long())
                boxes.append(box)
                meta += [idx, label]
            image = torch.stack(image).to(dtype)
            gt2D = torch.stack(gt2D)
            boxes_np = np.array(boxes, np.float32)  # DataLoader collates the float32 box tensors
            # ref: train_one_gpu.py:main (use_amp off)
            opt.zero_grad()
            pred = model(image, boxes_np)
            dice = monai_dice_loss(pred, gt2D)
            bce = nn.BCEWithLogitsLoss(reduction="mean")(pred, gt2D.to(dtype))
            loss = dice + bce
            loss.backward()
            opt.step()
            opt.zero_grad()
            rows.append([loss.item(), dice.item(), bce.item()] + meta)
            boxes_all.append(boxes)
    return rows, boxes_all, {k: v.detach().double() for k, v in sam.state_dict().items()}


def digest(sd0, sd1):
    rows = []
    for k, name in enumerate(sd0):
        d = (sd1[name] - sd0[name].double()).flatten().numpy()
        j = np.arange(d.size)
        proj = [float(np.dot(np.where(traj_hash(j * K + r, 1000 + k) >> np.uint64(31), -1.0, 1.0), d))
                for r in range(K)]
        idx = (traj_hash(np.arange(M), 5000 + k) % np.uint64(d.size)).astype(np.int64)
        rows.append([1.0 if np.any(d != 0) else 0.0, float(np.linalg.norm(d))] + proj + list(d[idx]))
    return np.array(rows, np.float64)


def write_dataset(d, gts, imgs):
    os.makedirs(os.path.join(d, "imgs"), exist_ok=True)
    os.makedirs(os.path.join(d, "gts"), exist_ok=True)
    for n in range(N):
        np.save(os.path.join(d, "imgs", "case%d.npy" % n), imgs[n])
        np.save(os.path.join(d, "gts", "case%d.npy" % n), gts[n])


def run_dir(d, config, lr):
    """Everything `medsam train` needs to redo the run, plus PyTorch's result (float32)."""
    torch.manual_seed(0)
    sam = sam_ref.randomize_(sam_ref.build_sam(config, CONFIGS[config]), seed=0) if config != "tiny" else None
    sd0 = torch.load(os.path.join(ROOT, "tests/fixtures/tiny/model.pth"), map_location="cpu") if sam is None \
        else sam.state_dict()
    os.makedirs(d, exist_ok=True)
    torch.save(sd0, os.path.join(d, "init.pth"))
    S = CONFIGS[config]["img"]
    gts = make_labels(S)
    imgs = make_images(gts)
    write_dataset(os.path.join(d, "data"), gts, imgs)
    rows, _, sd1 = run(sd0, gts, imgs, torch.float32, config, lr)
    np.save(os.path.join(d, "torch_steps.npy"), np.array([r[:3] for r in rows], np.float64))
    torch.save({k: v.float() for k, v in sd1.items()}, os.path.join(d, "torch_final.pth"))
    for t, r in enumerate(rows):
        print("torch step %2d loss %.9f samples %s" % (t + 1, r[0], r[3:]))
    print("now: medsam train --data %s/data --init %s/init.pth --out %s/run --epochs %d --batch %d --lr %r "
          "--weight-decay %r --bbox-shift %d --seed %d" % (d, d, d, EPOCHS, BATCH, lr, WD, SHIFT, SEED))


def compare(d):
    """`medsam train`'s log.csv and latest.pth against torch_steps.npy / torch_final.pth."""
    ref = np.load(os.path.join(d, "torch_steps.npy"))
    got = {}
    with open(os.path.join(d, "run", "log.csv")) as f:
        for line in f:
            c = line.strip().split(",")
            if c[0] == "step":
                got[int(c[3])] = [float(c[4]), float(c[5]), float(c[6])]
    ok = sorted(got) == list(range(1, len(ref) + 1))
    worst = 0.0
    for t in range(len(ref)):
        g = got.get(t + 1, [float("nan")] * 3)
        rel = max(abs(g[k] - ref[t, k]) / abs(ref[t, k]) for k in range(3))
        worst = max(worst, rel) if rel == rel else float("inf")
        print("step %2d loss C %.9f torch %.9f rel %.2e" % (t + 1, g[0], ref[t, 0], abs(g[0] - ref[t, 0]) / ref[t, 0]))
    sd0 = torch.load(os.path.join(d, "init.pth"), map_location="cpu")
    sdt = torch.load(os.path.join(d, "torch_final.pth"), map_location="cpu")
    sdc = torch.load(os.path.join(d, "run", "latest.pth"), map_location="cpu")["model"]
    num = den = 0.0
    per = []
    for k in sd0:
        if k.endswith("k_proj.bias"):  # zero gradient in exact arithmetic: rounding noise on both sides
            continue
        dt = (sdt[k].double() - sd0[k].double())
        dc = (sdc[k].double() - sd0[k].double())
        e, n = float(((dc - dt) ** 2).sum()), float((dt ** 2).sum())
        num, den = num + e, den + n
        if n > 0:
            per.append(((e / n) ** 0.5, k))
    per.sort(reverse=True)
    print("per-step loss (total, dice, bce): worst rel error %.2e over %d steps (tolerance 1e-4)" % (worst, len(ref)))
    print("weight change rel L2: whole model %.2e, worst tensor %.2e (%s), median tensor %.2e"
          % ((num / den) ** 0.5, per[0][0], per[0][1], per[len(per) // 2][0]))
    return ok and worst <= 1e-4


def main():
    if "--compare" in sys.argv:
        sys.exit(0 if compare(sys.argv[sys.argv.index("--compare") + 1]) else 1)
    if "--run-dir" in sys.argv:
        config = sys.argv[sys.argv.index("--config") + 1] if "--config" in sys.argv else "tiny"
        lr = float(sys.argv[sys.argv.index("--lr") + 1]) if "--lr" in sys.argv else LR
        run_dir(sys.argv[sys.argv.index("--run-dir") + 1], config, lr)
        return
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    sd0 = torch.load(os.path.join(ROOT, "tests/fixtures/tiny/model.pth"), map_location="cpu")
    S = sam_ref.CONFIGS["tiny"]["img"]
    gts = make_labels(S)
    imgs = make_images(gts)
    rows32, boxes32, sd32 = run(sd0, gts, imgs, torch.float32)
    rows64, boxes64, sd64 = run(sd0, gts, imgs, torch.float64)
    assert boxes32 == boxes64 and [r[3:] for r in rows32] == [r[3:] for r in rows64]
    steps = np.array([r[:3] + r64[:3] + r[3:] for r, r64 in zip(rows32, rows64)], np.float64)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "gts.npy"), gts)
    np.save(os.path.join(OUT, "steps.npy"), steps)
    np.save(os.path.join(OUT, "boxes.npy"), np.array(boxes32, np.float64))
    np.save(os.path.join(OUT, "weights.npy"), digest(sd0, sd32))
    np.save(os.path.join(OUT, "weights64.npy"), digest(sd0, sd64))
    with open(os.path.join(OUT, "names.txt"), "w") as f:
        f.write("\n".join(sd0.keys()) + "\n")
    gap = max(abs(a[0] - b[0]) / abs(b[0]) for a, b in zip(rows32, rows64))
    num = sum(float(((sd32[k] - sd64[k]) ** 2).sum()) for k in sd0)
    den = sum(float(((sd64[k] - sd0[k].double()) ** 2).sum()) for k in sd0)
    for t, r in enumerate(rows32):
        print("step %2d loss %.9f (dice %.6f bce %.6f) samples %s" % (t + 1, r[0], r[1], r[2], r[3:]))
    print("torch float32 vs float64: worst step loss rel %.2e, weight change rel L2 %.2e" % (gap, (num / den) ** 0.5))


if __name__ == "__main__":
    main()
