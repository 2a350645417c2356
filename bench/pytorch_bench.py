"""The PyTorch side of `make bench`: the official MedSAM code path on the same
checkpoint, image and boxes as bench/bench_encoder.c.

  - model: the official modules from $SAM_REF_DIR (default /work/ref/MedSAM),
    sam_model_registry[arch](checkpoint=...) (torch.load + load_state_dict) as
    MedSAM_Inference.py does; the "tiny" test configuration goes through
    tools/ref/sam_ref.py instead (same modules, other sizes);
  - preprocessing as MedSAM_Inference.py (skimage imread, resize order 3 with
    anti-aliasing, uint8, min-max), not timed;
  - encoder: model.image_encoder(x) under torch.no_grad(), median of --reps runs
    per torch.set_num_threads(n);
  - decoder: prompt_encoder(boxes) + mask_decoder(multimask_output=False) +
    sigmoid + bilinear resize to 512x512 + (> 0.5), as MedSAM_Inference.py's
    medsam_inference, for 1 box and for 10 boxes in one batch, ms per box;
  - one whole segmentation in a child process (load, preprocess, encode, decode
    one box, save the mask PNG; default threads): wall time and peak RSS.

Run with Debian's python3 (python3-torch, python3-skimage):
    /usr/bin/python3 bench/pytorch_bench.py --checkpoint build/bench/vit_b_seed0.pth \
        --arch vit_b --image tests/fixtures/images/retina.jpg --box 300,300,1100,1100 \
        [--threads 1,2] [--reps 3] [--results FILE]
"""
import argparse
import os
import resource
import statistics
import sys
import tempfile
import time

SAM_REF_DIR = os.environ.get("SAM_REF_DIR", "/work/ref/MedSAM")
sys.path.insert(0, SAM_REF_DIR)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "ref"))

# numpy, torch and skimage are imported by import_heavy(), after the whole-process
# child has run: Linux carries the spawning process's RSS high-water mark into
# the child's ru_maxrss at exec, so the parent must still be small then.
np = torch = F = io = transform = None

DECODER_SIZE = 512  # decoder output H = W, as in bench_encoder.c


def import_heavy():
    global np, torch, F, io, transform
    import numpy as np
    import torch
    import torch.nn.functional as F
    from skimage import io, transform


def load_model(checkpoint, arch):
    if arch in ("vit_b", "vit_l", "vit_h"):
        from segment_anything import sam_model_registry
        model = sam_model_registry[arch](checkpoint=checkpoint)
    else:
        import sam_ref
        model = sam_ref.build_sam(arch)
        model.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    model.eval()
    return model


def preprocess(path, size):
    """MedSAM_Inference.py's reading and preprocessing; returns (1,3,S,S) and (H, W)."""
    img_np = io.imread(path)
    img_3c = np.repeat(img_np[:, :, None], 3, axis=-1) if img_np.ndim == 2 else img_np
    H, W, _ = img_3c.shape
    img = transform.resize(img_3c, (size, size), order=3, preserve_range=True, anti_aliasing=True).astype(np.uint8)
    img = (img - img.min()) / np.clip(img.max() - img.min(), a_min=1e-8, a_max=None)
    return torch.tensor(img).float().permute(2, 0, 1).unsqueeze(0), (H, W)


def decode(model, embedding, box_s, H, W):
    """The calls of MedSAM_Inference.py's medsam_inference for a (B, 4) box array in model pixels."""
    with torch.no_grad():
        return decode_no_grad(model, embedding, box_s, H, W)


def decode_no_grad(model, embedding, box_s, H, W):
    box_torch = torch.as_tensor(box_s, dtype=torch.float)
    if box_torch.dim() == 2:
        box_torch = box_torch[:, None, :]
    sparse, dense = model.prompt_encoder(points=None, boxes=box_torch, masks=None)
    low_res_logits, _ = model.mask_decoder(
        image_embeddings=embedding, image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False)
    pred = F.interpolate(torch.sigmoid(low_res_logits), size=(H, W), mode="bilinear", align_corners=False)
    return (pred.squeeze().cpu().numpy() > 0.5).astype(np.uint8)


def bench_boxes(n):
    """The boxes of bench_encoder.c's decoder benchmark, in 512x512 image pixels."""
    return np.array([[40 + 17 * k, 60 + 11 * k, 300 + 13 * k, 330 + 9 * k] for k in range(n)], dtype=np.float64)


def segment_once(a):
    """One whole MedSAM_Inference.py run (child process)."""
    model = load_model(a.checkpoint, a.arch)
    S = model.image_encoder.img_size
    x, (H, W) = preprocess(a.image, S)
    box = np.array([[int(v) for v in a.box.split(",")]])
    with torch.no_grad():
        embedding = model.image_encoder(x)
    seg = decode(model, embedding, box / np.array([W, H, W, H]) * S, H, W)
    io.imsave(a.segment_once, seg, check_contrast=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--arch", default="vit_b")
    p.add_argument("--image", required=True)
    p.add_argument("--box", default="300,300,1100,1100")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--results")
    p.add_argument("--segment-once", help=argparse.SUPPRESS)  # internal: child mode, value = output PNG
    a = p.parse_args()
    if a.segment_once:
        import_heavy()
        segment_once(a)
        return
    threads = [int(t) for t in a.threads.split(",")]
    res = open(a.results, "w") if a.results else None

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "seg.png")
        cmd = [sys.executable, os.path.abspath(__file__), "--checkpoint", a.checkpoint, "--arch", a.arch,
               "--image", a.image, "--box", a.box, "--segment-once", out]
        t0 = time.perf_counter()
        pid = os.posix_spawn(sys.executable, cmd, os.environ)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"pytorch_bench: the whole-process run failed ({cmd})")
    rss = usage.ru_maxrss / 1024.0

    import_heavy()
    print(f"== PyTorch {torch.__version__}, official code from {SAM_REF_DIR}")
    t0 = time.perf_counter()
    model = load_model(a.checkpoint, a.arch)
    print(f"  model {a.checkpoint} ({a.arch}) loaded in {time.perf_counter() - t0:.2f} s")
    S = model.image_encoder.img_size
    x, (H, W) = preprocess(a.image, S)

    print(f"== encoder, model.image_encoder under no_grad, median of {a.reps} (seconds per image)")
    embedding = None
    for n in threads:
        torch.set_num_threads(n)
        times = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            with torch.no_grad():
                embedding = model.image_encoder(x)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(f"  {n} thread{'s' if n > 1 else ''}: {med:9.4f} s   (runs: {', '.join(f'{t:.3f}' for t in times)})")
        if res:
            res.write(f"encoder_s_{n} {med:.4f}\n")

    print(f"== decoder, medsam_inference calls, {DECODER_SIZE}x{DECODER_SIZE} output (ms per box, median)")
    for n in threads:
        torch.set_num_threads(n)
        row = []
        for nb, reps in ((1, max(3, 3 * a.reps)), (10, a.reps)):
            boxes = bench_boxes(nb) / DECODER_SIZE * S
            decode(model, embedding, boxes, DECODER_SIZE, DECODER_SIZE)  # warm-up
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                decode(model, embedding, boxes, DECODER_SIZE, DECODER_SIZE)
                times.append((time.perf_counter() - t0) * 1e3 / nb)
            row.append(statistics.median(times))
        print(f"  {n} thread{'s' if n > 1 else ''}:  1 box {row[0]:8.2f} ms/box   10 boxes {row[1]:8.2f} ms/box")
        if res:
            res.write(f"decoder_ms_1box_{n} {row[0]:.3f}\ndecoder_ms_10box_{n} {row[1]:.3f}\n")

    print("== process: one MedSAM_Inference.py-style run (default threads, run first), wall time and peak RSS")
    print(f"  segment: {wall:7.2f} s wall, peak RSS {rss:7.1f} MB (box {a.box})")
    print(f"  (this benchmark process itself: peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0:.1f} MB)")
    if res:
        res.write(f"segment_wall_s {wall:.3f}\nsegment_rss_mb {rss:.1f}\n")
        res.close()


if __name__ == "__main__":
    main()
