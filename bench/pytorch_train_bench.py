"""One MedSAM training step in PyTorch, timed: the counterpart of bench/bench_train.c.

    /usr/bin/python3 bench/pytorch_train_bench.py -m MODEL.pth [--threads 2] [--reps 3] [--warmup 1]
                                                  [--arch vit_b] [--results FILE]

The official modules are built by tools/ref/sam_ref.py (from $SAM_REF_DIR, default
/work/ref/MedSAM) and loaded with the checkpoint `medsam init` wrote (the same weights
as the C side). A step is train_one_gpu.py's: MedSAM.forward (image encoder, prompt
encoder frozen and under no_grad, mask decoder with multimask_output=False, bilinear
upsampling to S), DiceLoss(sigmoid, squared_pred, mean) + BCEWithLogitsLoss(mean)
(monai is not installed: its Dice formula is written out, as in
tools/ref/make_grad_fixtures.py), loss.backward(), AdamW(lr 1e-4, weight decay 0.01)
over the image encoder and mask decoder parameters. Batch 1, the synthetic sample of
bench_train.c (image ((7x + 13y + 29c) mod 256) / 255, a rectangle as ground truth and
a box around it). Prints each step, the median and the peak RSS of this process.
"""
import argparse
import os
import resource
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))


def make_input(S):
    """The sample of bench_train.c:bt_make_input: (1,3,S,S) image, (1,1,S,S) gt, (1,4) box."""
    import numpy as np
    y, x = np.mgrid[0:S, 0:S]
    img = np.stack([((7 * x + 13 * y + 29 * c) % 256) / np.float32(255.0) for c in range(3)]).astype(np.float32)
    x0, x1, y0, y1 = S * 300 // 1024, S * 700 // 1024, S * 350 // 1024, S * 650 // 1024
    gt = ((x >= x0) & (x < x1) & (y >= y0) & (y < y1)).astype(np.float32)
    f = np.float32(S / 1024.0)
    box = np.array([[280, 330, 720, 670]], np.float32) * f
    return img[None], gt[None, None], box


def dice_loss(x, g):
    """monai DiceLoss(sigmoid=True, squared_pred=True, reduction='mean')."""
    import torch
    p = torch.sigmoid(x)
    red = list(range(2, x.dim()))
    inter = (p * g).sum(red)
    den = (g * g).sum(red) + (p * p).sum(red)
    return (1.0 - (2.0 * inter + 1e-5) / (den + 1e-5)).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--arch", default="vit_b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--results")
    a = ap.parse_args()

    import torch
    import torch.nn.functional as F
    import sam_ref
    torch.set_num_threads(a.threads)
    sam = sam_ref.build_sam(a.arch)
    sam.load_state_dict(torch.load(a.model, map_location="cpu"))
    S = sam.image_encoder.img_size
    img, gt, box = make_input(S)
    image, gt2D = torch.from_numpy(img), torch.from_numpy(gt)

    # ref: train_one_gpu.py:MedSAM.__init__ -- prompt encoder frozen
    for p in sam.prompt_encoder.parameters():
        p.requires_grad = False
    sam.train()
    # ref: train_one_gpu.py:main -- AdamW over image encoder + mask decoder
    params = list(sam.image_encoder.parameters()) + list(sam.mask_decoder.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)

    def step():
        opt.zero_grad()
        # ref: train_one_gpu.py:MedSAM.forward
        emb = sam.image_encoder(image)
        with torch.no_grad():
            box_torch = torch.as_tensor(box, dtype=torch.float32)[:, None, :]
            sparse, dense = sam.prompt_encoder(points=None, boxes=box_torch, masks=None)
        low_res, _ = sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=False)
        pred = F.interpolate(low_res, size=(S, S), mode="bilinear", align_corners=False)
        loss = dice_loss(pred, gt2D) + F.binary_cross_entropy_with_logits(pred, gt2D, reduction="mean")
        loss.backward()
        opt.step()
        return float(loss)

    print("######## PyTorch %s (torch %s, %d threads)" % (a.arch, torch.__version__, torch.get_num_threads()))
    times = []
    for r in range(a.warmup + a.reps):
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
        warm = r < a.warmup
        print("  threads %d %s %d: step %.2f s, loss %.6f" % (a.threads, "warm-up" if warm else "step",
                                                           r + 1 if warm else r - a.warmup + 1, dt, loss),
              flush=True)
        if not warm:
            times.append(dt)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("threads %d: median step %.2f s over %d steps, peak RSS %.0f MB" % (a.threads, med, len(times), rss))
    if a.results:
        with open(a.results, "w") as f:
            f.write("torch_step_s_%dt %.3f\ntorch_peak_rss_mb %.0f\n" % (a.threads, med, rss))


if __name__ == "__main__":
    main()
