"""The official PyTorch LiteMedSAM in `make bench` (bench/lite.sh), run with Debian's python3-torch:

    /usr/bin/python3 bench/pytorch_lite_bench.py encoder DIR [--threads 1,2] [--reps 5] [--results FILE]
    /usr/bin/python3 bench/pytorch_lite_bench.py case DIR CASE.npz OUT_DIR [--threads 2] [--time-file FILE]

DIR is tools/ref/make_lite_bench.py's output (lite.pth, input.f32).

`encoder`: CVPR24_LiteMedSAM_infer.py's `medsam_lite_model.image_encoder(img_256_tensor)` under
no_grad on the lite pipeline's input of the 2-D image, with torch.set_num_threads(n): one warm-up,
median of `reps`.

`case`: one whole run of the official script on one CVPR24 npz, as a process (bench/proc_time
measures its wall time and peak RSS): import torch, build MedSAM_Lite exactly as the script does
(TinyViT + PromptEncoder + MaskDecoder with its arguments, torch.load + load_state_dict, eval),
then the script's own MedSAM_infer_npz_2D / MedSAM_infer_npz_3D (taken from its source with ast,
tools/ref/make_lite_bench.script_namespace), timed as the script's main loop times a case
(time() around the call; lines 545-553), which goes to --time-file. Two deliberate differences
from running the file: save_overlay is False (the script's `--save_overlay` flag is
store_true with default True, so it cannot be turned off, and a 300-dpi matplotlib figure
is not segmentation), and torch.set_num_threads(--threads) (the script leaves torch's default,
which is 1 thread on this machine).
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "ref"))


def encoder(a):
    import numpy as np
    import torch
    import make_lite_bench
    ns = make_lite_bench.script_namespace(os.path.join(a.dir, "lite.pth"), a.dir)
    model = ns["medsam_lite_model"]
    x = torch.from_numpy(np.fromfile(os.path.join(a.dir, "input.f32"), "<f4").reshape(1, 3, 256, 256))
    lines = []
    print(f"PyTorch {torch.__version__} (Debian python3-torch), official modules")
    for n in [int(v) for v in a.threads.split(",")]:
        torch.set_num_threads(n)
        with torch.no_grad():
            model.image_encoder(x)  # warm-up
            t = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                model.image_encoder(x)
                t.append(time.perf_counter() - t0)
        med = float(np.median(t))
        print(f"  {n} thread(s): official image_encoder {med:.3f} s (median of {a.reps})")
        lines.append(f"lite_encoder_s_{n} {med:.4f}")
    if a.results:
        with open(a.results, "a") as f:
            f.write("\n".join(lines) + "\n")


def case(a):
    import torch
    torch.set_num_threads(int(a.threads.split(",")[0]))
    import make_lite_bench
    os.makedirs(a.out, exist_ok=True)
    ns = make_lite_bench.script_namespace(os.path.join(a.dir, "lite.pth"), a.out)
    name = os.path.basename(a.npz)
    start_time = time.time()  # the script's main loop, lines 545-551
    if name.startswith("3D"):
        ns["MedSAM_infer_npz_3D"](a.npz)
    else:
        ns["MedSAM_infer_npz_2D"](a.npz)
    end_time = time.time()
    if a.time_file:
        with open(a.time_file, "w") as f:
            f.write(f"{end_time - start_time:.4f}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["encoder", "case"])
    ap.add_argument("dir")
    ap.add_argument("npz", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--results")
    ap.add_argument("--time-file")
    a = ap.parse_args()
    if a.mode == "encoder":
        encoder(a)
    else:
        if not a.npz or not a.out:
            ap.error("case needs CASE.npz and OUT_DIR")
        case(a)


if __name__ == "__main__":
    main()
