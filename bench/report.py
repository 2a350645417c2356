"""Markdown tables for the README's "Performance" section from one `make bench` run's results
(build/bench/results_*.txt) and, optionally, the saved output of `make bench-serve`:

    python3 bench/report.py [BUILD_BENCH_DIR] [--serve-log FILE]

Prints the tables only; the prose around them is the README's. Any value missing prints as "—".
"""
import argparse
import os
import re


def load(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            p = line.split()
            if len(p) == 2:
                try:
                    d[p[0]] = float(p[1])
                except ValueError:
                    pass
    return d


def f(v, fmt):
    return "—" if v is None else format(v, fmt)


def ratio(a, b):
    return "—" if a is None or b is None or a <= 0 else f"{b / a:.2f}×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="build/bench")
    ap.add_argument("--serve-log")
    ap.add_argument("--bench-log", help="the output of make bench: adds the TinyViT stage rows")
    a = ap.parse_args()
    c, t = load(os.path.join(a.dir, "results_c.txt")), load(os.path.join(a.dir, "results_torch.txt"))
    lc, lt = load(os.path.join(a.dir, "results_lite_c.txt")), load(os.path.join(a.dir, "results_lite_torch.txt"))
    lo, mo = load(os.path.join(a.dir, "results_lite_ort.txt")), load(os.path.join(a.dir, "results_models.txt"))
    g = lambda d, k: d.get(k)  # noqa: E731

    print("**ViT-B, MedSAM pipeline** (`MedSAM_Inference.py`; retina.jpg 1411×1411, box 300,300,1100,1100):\n")
    print("| | medsam.c | PyTorch 1.13 (Debian) | ratio |")
    print("|---|---|---|---|")
    print(f"| FMA peak measured in the same run, {f(g(c, 'peak_width'), '.0f')}-bit fp32 (256-bit), 1 / 2 threads | "
          f"{f(g(c, 'peak_gflops_1'), '.1f')} / {f(g(c, 'peak_gflops_2'), '.1f')} GFLOP/s "
          f"({f(g(c, 'peak256_gflops_1'), '.1f')} / {f(g(c, 'peak256_gflops_2'), '.1f')}) | | |")
    for n in (1, 2):
        s, gf, pk = g(c, f"encoder_s_{n}"), g(c, f"encoder_gflops_{n}"), g(c, f"peak_gflops_{n}")
        pct = None if gf is None or not pk else 100 * gf / pk
        print(f"| ViT-B encoder, {n} thread{'s' if n > 1 else ''} | {f(s, '.2f')} s ({f(gf, '.0f')} GFLOP/s, "
              f"{f(pct, '.0f')} % of peak) | {f(g(t, f'encoder_s_{n}'), '.2f')} s | {ratio(s, g(t, f'encoder_s_{n}'))} |")
    print(f"| whole `medsam embed` process, 2 threads | {f(g(c, 'embed_wall_s'), '.2f')} s | | |")
    for k, label in (("decoder_ms_1box_2", "decoder + upsampling + threshold, 1 box, 512×512 output, 2 threads"),
                     ("decoder_ms_10box_2", "decoder, 10 boxes on one embedding, 2 threads (per box)")):
        print(f"| {label} | {f(g(c, k), '.1f')} ms | {f(g(t, k), '.1f')} ms | {ratio(g(c, k), g(t, k))} |")
    print(f"| whole `medsam segment` process | {f(g(c, 'segment_wall_s'), '.2f')} s | "
          f"{f(g(t, 'segment_wall_s'), '.2f')} s | {ratio(g(c, 'segment_wall_s'), g(t, 'segment_wall_s'))} |")
    print(f"| peak RSS of that process | {f(g(c, 'segment_rss_mb'), '.0f')} MB | {f(g(t, 'segment_rss_mb'), '.0f')} MB "
          f"| {ratio(g(c, 'segment_rss_mb'), g(t, 'segment_rss_mb'))} smaller |")

    print("\n**LiteMedSAM** (`CVPR24_LiteMedSAM_infer.py`; same random full-size weights on every side; "
          f"work {f(g(lc, 'lite_gmac'), '.2f')} GMAC performed, {f(g(lc, 'official_gmac'), '.2f')} GMAC in the "
          "official model):\n")
    print("| | medsam.c | PyTorch 1.13 (official) | ratio | ONNX Runtime 1.31.1 | ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| FMA peak measured in the same run, {f(g(lc, 'peak_width'), '.0f')}-bit fp32 (256-bit), 1 / 2 threads | "
          f"{f(g(lc, 'peak_gflops_1'), '.1f')} / {f(g(lc, 'peak_gflops_2'), '.1f')} GFLOP/s "
          f"({f(g(lc, 'peak256_gflops_1'), '.1f')} / {f(g(lc, 'peak256_gflops_2'), '.1f')}) | | | | |")
    for n in (1, 2):
        s = g(lc, f"lite_encoder_s_{n}")
        print(f"| TinyViT encoder at 256×256, {n} thread{'s' if n > 1 else ''} | {f(s, '.3f')} s "
              f"({f(g(lc, f'lite_gflops_{n}'), '.0f')} GFLOP/s, {f(g(lc, f'lite_pct_peak_{n}'), '.0f')} % of peak) | "
              f"{f(g(lt, f'lite_encoder_s_{n}'), '.3f')} s | {ratio(s, g(lt, f'lite_encoder_s_{n}'))} | "
              f"{f(g(lo, f'lite_encoder_s_{n}'), '.3f')} s | {ratio(s, g(lo, f'lite_encoder_s_{n}'))} |")
    seg, enc2 = g(lc, "segment_2d_wall_s"), g(lc, "lite_encoder_s_2")
    extra = g(lc, "segment_2d_rest_s")  # wall - the encoder time the same process printed (-v)
    if extra is None and seg is not None and enc2 is not None:
        extra = seg - enc2
    print(f"| whole `medsam segment -i retina.jpg -b …` process (2 threads) | {f(seg, '.3f')} s "
          f"(its own encoder + {f(extra, '.3f')} s) | | | | |")
    print(f"| its peak RSS | {f(g(lc, 'segment_2d_rss_mb'), '.0f')} MB | | | | |")
    print(f"| whole process on the same image + box as a CVPR24 2-D npz | {f(g(lc, 'npz_2d_wall_s'), '.3f')} s | "
          f"{f(g(lt, 'npz_2d_wall_s'), '.2f')} s (script timer: {f(g(lt, 'npz_2d_inner_s'), '.2f')} s) | "
          f"{ratio(g(lc, 'npz_2d_wall_s'), g(lt, 'npz_2d_wall_s'))} | | |")
    print(f"| its peak RSS | {f(g(lc, 'npz_2d_rss_mb'), '.0f')} MB | {f(g(lt, 'npz_2d_rss_mb'), '.0f')} MB | "
          f"{ratio(g(lc, 'npz_2d_rss_mb'), g(lt, 'npz_2d_rss_mb'))} smaller | | |")
    c3, t3 = g(lc, "npz_3d_wall_s"), g(lt, "npz_3d_inner_s")
    print(f"| 3-D npz, 80×512×512, one box over 60 slices: whole process (ours) / script timer (official) | "
          f"{f(c3, '.2f')} s = **{f(None if c3 is None else 60 / c3, '.2f')} slices/s** | {f(t3, '.2f')} s = "
          f"{f(None if t3 is None else 60 / t3, '.2f')} slices/s (process {f(g(lt, 'npz_3d_wall_s'), '.1f')} s) | "
          f"{ratio(c3, t3)} | | |")
    print(f"| its peak RSS | {f(g(lc, 'npz_3d_rss_mb'), '.0f')} MB | {f(g(lt, 'npz_3d_rss_mb'), '.0f')} MB | "
          f"{ratio(g(lc, 'npz_3d_rss_mb'), g(lt, 'npz_3d_rss_mb'))} smaller | | |")

    if a.bench_log and os.path.exists(a.bench_log):
        # bench_lite's stage rows, per thread count: "  NAME  ms ms  GMAC GMAC  GFLOP/s GFLOP/s  pct %"
        text = open(a.bench_log).read()
        part = text[text.find("######## LiteMedSAM"):]
        blocks = re.split(r"\n(\d) thread\(s\): FMA peak", part)
        rows = {}
        for i in range(1, len(blocks) - 1, 2):
            n = int(blocks[i])
            for m in re.finditer(r"^  (\S+)\s+([\d.]+) ms\s+([\d.]+) GMAC\s+([\d.]+) GFLOP/s\s+(\d+) %", blocks[i + 1],
                                 re.M):
                rows.setdefault(m.group(1), {})[n] = (float(m.group(2)), float(m.group(3)), int(m.group(5)))
        if rows:
            groups = {}
            for name, d in rows.items():
                key = re.sub(r"\.block\.\d+$", " blocks", name)
                g0 = groups.setdefault(key, {1: [0, 0], 2: [0, 0]})
                for n in (1, 2):
                    if n in d:
                        g0[n][0] += d[n][0]
                        g0[n][1] += d[n][1]
            print("\nTinyViT encoder stages (`bench_lite`'s trace rows, medians; % of the FMA peak of the same thread "
                  "count):\n")
            print("| stage | GMAC | 1 thread | 2 threads |")
            print("|---|---|---|---|")
            for key, d in groups.items():
                cells = []
                for n in (1, 2):
                    ms, gm = d[n]
                    pk = g(lc, f"peak_gflops_{n}")
                    cells.append(f"{ms:.1f} ms ({100 * 2 * gm / (ms * 1e-3) / pk:.0f} %)" if ms > 0 and pk else "—")
                print(f"| {key} | {d[1][1] or d[2][1]:.2f} | {cells[0]} | {cells[1]} |")

    print("\nGoals (issue 10, \"Speed and memory\"; issue 11, \"Speed\"), from the numbers above:\n")
    pct = g(lc, "lite_pct_peak_2")
    yes = lambda ok: "**met**" if ok else "**missed**"  # noqa: E731
    if pct is not None:
        print(f"- LiteMedSAM encoder ≥ 60 % of the FMA peak: {pct:.0f} % with 2 threads "
              f"({f(g(lc, 'lite_pct_peak_1'), '.0f')} % with 1): {yes(pct >= 60)}")
    if extra is not None:
        print(f"- whole `medsam segment` process ≤ encoder + 0.15 s: encoder + {extra:.3f} s: {yes(extra <= 0.15)}")
    r2, r3 = g(lt, "lite_encoder_s_2"), g(lt, "npz_2d_wall_s")
    if r2 and enc2:
        print(f"- ≥ 3× faster than the official PyTorch LiteMedSAM on the same cores: encoder {r2 / enc2:.2f}×, "
              f"2-D process {ratio(g(lc, 'npz_2d_wall_s'), r3)}, 3-D {ratio(c3, t3)}: "
              f"{yes(r2 / enc2 >= 3 and (c3 is None or t3 is None or t3 / c3 >= 3))}")
    o2 = g(lo, "lite_encoder_s_2")
    if o2 and enc2:
        o1, e1 = g(lo, "lite_encoder_s_1"), g(lc, "lite_encoder_s_1")
        print(f"- faster than ONNX Runtime on the same weights: {o2 / enc2:.2f}× with 2 threads"
              f"{'' if not (o1 and e1) else f', {o1 / e1:.2f}× with 1'}: {yes(o2 > enc2)}")
    rss = [v for v in (g(lc, "segment_2d_rss_mb"), g(lc, "npz_2d_rss_mb"), g(lc, "npz_3d_rss_mb")) if v is not None]
    if rss:
        print(f"- peak RSS ≤ 200 MB: 2-D image {f(g(lc, 'segment_2d_rss_mb'), '.0f')} MB, 2-D npz "
              f"{f(g(lc, 'npz_2d_rss_mb'), '.0f')} MB, 3-D npz {f(g(lc, 'npz_3d_rss_mb'), '.0f')} MB: "
              f"{yes(max(rss) <= 200)}")

    if a.serve_log and os.path.exists(a.serve_log):
        print("\n**HTTP** (`make bench-serve`: `medsam serve` with a random ViT-B, camera.png 512×512, box → mask on "
              "the cached embedding, every answer compared with the CLI's mask):\n")
        print("| clients | answers | p50 | p99 | server RSS (after / peak) |")
        print("|---|---|---|---|---|")
        pat = re.compile(r"serve load: (\d+) clients, (\d+) s: (\d+) answers \(([\d.]+)/s\), (\d+) wrong or failed; "
                         r"latency p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms; server RSS (\d+) MB before, "
                         r"(\d+) MB after, peak (\d+) MB")
        seen = []
        for line in open(a.serve_log):
            m = pat.search(line)
            if m:
                nc, secs, ans, rate, bad, p50, p99, _, _, after, peak = m.groups()
                who = "1, sequential" if nc == "1" else f"{nc} concurrent"
                ok = "all correct" if bad == "0" else f"{bad} wrong or failed"
                print(f"| {who}, {secs} s | {ans} ({rate}/s), {ok} | **{float(p50):.1f} ms** | {float(p99):.1f} ms | "
                      f"{after} MB / {peak} MB |")
                seen.append((int(nc), float(p50), float(p99)))
        for nc, p50, p99 in seen:
            print(f"\n- issue 11, HTTP box → mask p50 ≤ 30 ms with {nc} client{'s' if nc > 1 else ''}: p50 {p50:.1f} ms "
                  f"(p99 {p99:.1f} ms): {'**met**' if p50 <= 30 else '**missed**'}")

    if mo:
        e = lambda k: (f(g(mo, "model_encoder_s_" + k), ".2f") + " s"  # noqa: E731
                       if g(mo, "model_encoder_s_" + k) is not None else "not measured")
        print("\n**Supported model files** (encode time: one `medsam embed -v` of retina.jpg, 2 threads, "
              "`bench/models.sh` in the same run):\n")
        print("| model | file, where users get it | architecture | pipeline (default) | input | encode |")
        print("|---|---|---|---|---|---|")
        print("| MedSAM | `medsam_vit_b.pth` (MedSAM README); Hugging Face `wanglab/medsam-vit-base` "
              "(`pytorch_model.bin` / `model.safetensors`) | SAM ViT-B (12 blocks, width 768) + prompt encoder + "
              f"mask decoder | `medsam` | 1024×1024 | {e('vit_b')} |")
        print("| SAM ViT-B / ViT-L / ViT-H | `sam_vit_b_01ec64.pth`, `sam_vit_l_0b3195.pth`, `sam_vit_h_4b8939.pth` "
              "(segment-anything README); Hugging Face `facebook/sam-vit-base`, `-large`, `-huge` | ViT-B / ViT-L "
              f"(24 × 1024) / ViT-H (32 × 1280) | `medsam`; `--pipeline sam` for SamPredictor's | 1024×1024 | {e('vit_b')} / {e('vit_l')} / {e('vit_h')} |")
        print("| SlimSAM | Hugging Face `nielsr/slimsam-50-uniform`, `nielsr/slimsam-77-uniform` (`model.safetensors`) "
              "| pruned SAM ViT-B (hidden 384 / 168, 12 heads) | `medsam` | 1024×1024 | not measured (no such "
              "file here) |")
        print("| LiteMedSAM | `lite_medsam.pth` (bowang-lab/MedSAM, branch `LiteMedSAM`, README) | TinyViT-5M "
              f"(dims 64/128/160/320, depths 2/2/6/2) | `lite` | 256×256 | {e('lite')} |")
        print("| your fine-tuned model | `medsam train` checkpoints, `medsam convert` output | as its base | as its base "
              "| as its base | as its base |")


if __name__ == "__main__":
    main()
