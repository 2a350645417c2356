#!/bin/sh
# `make bench`: medsam.c against the official PyTorch code on one real image.
# See bench/README.md. Settings (environment variables):
#   BENCH_ARCH     vit_b (default) | vit_l | vit_h | tiny (a quick smoke run)
#   BENCH_REPS     timed runs per measurement, median reported (default 3)
#   BENCH_THREADS  thread counts, comma-separated (default 1,2)
#   BENCH_IMAGE    image (default tests/fixtures/images/retina.jpg, 1411x1411 RGB)
#   BENCH_BOX      box for the whole-process runs (default 300,300,1100,1100)
#   BENCH_TORCH    auto (default: run PyTorch when it is available) | 0 | 1
#   SAM_REF_DIR    official MedSAM checkout (default /work/ref/MedSAM, else extracted from the
#                  local mirror $MEDSAM_MIRROR into $BUILD/bench/ref/MedSAM)
#   BENCH_LITE     1 (default): then the LiteMedSAM part, bench/lite.sh (its own settings there) | 0
#   BENCH_MODELS   1 (default): then one encode per architecture, bench/models.sh | 0
#   BENCH_BF16     1 (default): then --precision bf16 beside fp32 (bench_bf16, ViT-B, 2 threads) | 0
#   BENCH_BATCH    1 (default): then `segment --batch` throughput, 1 and 2 processes (bench/batch.sh) | 0
#   BENCH_SERVE    1 (default): then `medsam serve` box -> mask round trips, 1 and 32 clients (bench/serve_load.sh) | 0
# The random-initialised checkpoint (`medsam init --seed 0`) is made once and
# kept in $BUILD/bench/; results go to $BUILD/bench/results_{c,torch}.txt.
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ARCH=${BENCH_ARCH:-vit_b}
REPS=${BENCH_REPS:-3}
THREADS=${BENCH_THREADS:-1,2}
IMG=${BENCH_IMAGE:-tests/fixtures/images/retina.jpg}
BOX=${BENCH_BOX:-300,300,1100,1100}
TORCH=${BENCH_TORCH:-auto}
REF=${SAM_REF_DIR:-/work/ref/MedSAM}
OUT=$BUILD/bench
PY=/usr/bin/python3
MIRROR=${MEDSAM_MIRROR:-/work/.mirror/bowang-lab+MedSAM/repo}
mkdir -p "$OUT"
# no checkout: extract the official code (branch main) from the local mirror into the build folder, once
if [ ! -d "$REF/segment_anything" ] && [ -z "$SAM_REF_DIR" ] && [ -d "$MIRROR" ]; then
    REF=$OUT/ref/MedSAM
    if [ ! -d "$REF/segment_anything" ]; then
        mkdir -p "$REF" && git -C "$MIRROR" archive main segment_anything | tar -x -C "$REF"
    fi
fi

CKPT=$OUT/${ARCH}_seed0.pth
if [ ! -s "$CKPT" ]; then
    "$BUILD/medsam" init --arch "$ARCH" --seed 0 -o "$CKPT"
fi
${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_encoder.c "$BUILD/libmedsam.a" \
    -lpng -ljpeg -lz -lm -o "$OUT/bench_encoder"

echo "######## medsam.c ($(uname -m), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
rm -f "$OUT/results_c.txt" "$OUT/results_torch.txt"
"$OUT/bench_encoder" -m "$CKPT" -i "$IMG" -b "$BOX" --threads "$THREADS" --reps "$REPS" \
    --medsam "$BUILD/medsam" --results "$OUT/results_c.txt"

run_torch=0
case $TORCH in
0) ;;
1) run_torch=1 ;;
*) if [ -x "$PY" ] && "$PY" -c "import torch, skimage" >/dev/null 2>&1 && [ -d "$REF/segment_anything" ]; then
       run_torch=1
   else
       echo "(PyTorch side skipped: needs $PY with torch and scikit-image, and the official checkout at $REF)"
   fi ;;
esac
if [ "$run_torch" -eq 1 ]; then
    echo
    echo "######## PyTorch (official code path of MedSAM_Inference.py)"
    SAM_REF_DIR=$REF "$PY" bench/pytorch_bench.py --checkpoint "$CKPT" --arch "$ARCH" --image "$IMG" --box "$BOX" \
        --threads "$THREADS" --reps "$REPS" --results "$OUT/results_torch.txt"
    echo
    echo "######## side by side ($ARCH, median of $REPS; ratio = PyTorch / medsam.c, > 1: medsam.c is faster or smaller)"
    awk -v threads="$THREADS" '
        function row(label, key,    ratio) {
            if (!(key in cres) || !(key in tres)) return
            ratio = (cres[key] > 0) ? tres[key] / cres[key] : 0
            printf "  %-34s %12.3f %12.3f %8.2fx\n", label, cres[key], tres[key], ratio
        }
        FNR == NR { cres[$1] = $2; next }
        { tres[$1] = $2 }
        END {
            printf "  %-34s %12s %12s %9s\n", "", "medsam.c", "PyTorch", "ratio"
            n = split(threads, th, ",")
            for (i = 1; i <= n; i++) row("encoder s/image, " th[i] " thr", "encoder_s_" th[i])
            for (i = 1; i <= n; i++) row("decoder ms/box, 1 box, " th[i] " thr", "decoder_ms_1box_" th[i])
            for (i = 1; i <= n; i++) row("decoder ms/box, 10 boxes, " th[i] " thr", "decoder_ms_10box_" th[i])
            row("segment process wall s", "segment_wall_s")
            row("segment process peak RSS MB", "segment_rss_mb")
        }' "$OUT/results_c.txt" "$OUT/results_torch.txt"
fi
if [ "${BENCH_LITE:-1}" != 0 ]; then
    BUILD=$BUILD sh bench/lite.sh
fi
if [ "${BENCH_MODELS:-1}" != 0 ]; then
    BUILD=$BUILD sh bench/models.sh
fi
if [ "${BENCH_BF16:-1}" != 0 ]; then
    echo
    echo "######## --precision bf16 beside fp32 ($ARCH, 2 threads, encoder alternated rep by rep)"
    ${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_bf16.c "$BUILD/libmedsam.a" \
        -lpng -ljpeg -lopenjp2 -lcharls -lz -lm -o "$OUT/bench_bf16"
    "$OUT/bench_bf16" -m "$CKPT" -i tests/fixtures/images/medsam_demo.png --threads 2 --reps "$REPS"
    if "$PY" -c "import numpy, nibabel, PIL" 2>/dev/null; then
        echo "bf16 against fp32 on the fixture images and a CT slice (tools/bf16_accuracy.sh, same checkpoint):"
        BUILD=$BUILD sh tools/bf16_accuracy.sh "$CKPT" | tail -n 1
    else
        echo "(bf16 accuracy skipped: tools/bf16_accuracy.sh needs $PY with numpy, nibabel and PIL)"
    fi
fi
if [ "${BENCH_BATCH:-1}" != 0 ]; then
    BUILD=$BUILD sh bench/batch.sh
fi
if [ "${BENCH_SERVE:-1}" != 0 ]; then
    echo
    BUILD=$BUILD sh bench/serve_load.sh
fi
