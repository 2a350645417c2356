#!/bin/sh
# `make bench-train`: one MedSAM training step (forward + backward + AdamW, batch 1)
# in medsam.c and in PyTorch on the same weights and the same synthetic sample,
# side by side. Settings (environment variables):
#   BENCH_ARCH     vit_b (default) | tiny (a quick smoke run)
#   BENCH_THREADS  thread counts for medsam.c, comma-separated (default 2); PyTorch
#                  runs at the first one (torch.set_num_threads)
#   BENCH_REPS     timed steps, median reported (default 3), after BENCH_WARMUP (default 1)
#   BENCH_TORCH    auto (default: when /usr/bin/python3 has torch and the official
#                  checkout is there) | 0 | 1. PyTorch takes ~30 s per ViT-B step on 2 cores.
#   BENCH_PHASES   1: medsam.c also times the encoder's training forward and backward alone
#   BENCH_LOCK     a lock file held around each timing run, so that benchmarks started by
#                  several people never overlap (default: none)
#   SAM_REF_DIR    official MedSAM checkout (default /work/ref/MedSAM)
# The checkpoint (`medsam init --arch ARCH --seed 0`) is made once in $BUILD/bench/;
# results go to $BUILD/bench/train_results_{c,torch}.txt.
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ARCH=${BENCH_ARCH:-vit_b}
THREADS=${BENCH_THREADS:-2}
REPS=${BENCH_REPS:-3}
WARMUP=${BENCH_WARMUP:-1}
TORCH=${BENCH_TORCH:-auto}
LOCK=${BENCH_LOCK:-}
REF=${SAM_REF_DIR:-/work/ref/MedSAM}
OUT=$BUILD/bench
PY=/usr/bin/python3
mkdir -p "$OUT"

locked() {
    if [ -n "$LOCK" ] && command -v flock >/dev/null 2>&1; then flock "$LOCK" "$@"; else "$@"; fi
}

CKPT=$OUT/${ARCH}_seed0.pth
if [ ! -s "$CKPT" ]; then
    "$BUILD/medsam" init --arch "$ARCH" --seed 0 -o "$CKPT"
fi
${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE -fopenmp -Iinclude -Isrc bench/bench_train.c "$BUILD/libmedsam.a" \
    -lpng -ljpeg -lz -lm -o "$OUT/bench_train"

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "######## medsam.c training step, $ARCH batch 1 ($(uname -m), $(nproc) CPUs: $CPU)"
rm -f "$OUT/train_results_c.txt" "$OUT/train_results_torch.txt"
PHASES=
[ "${BENCH_PHASES:-0}" = 1 ] && PHASES=--phases
locked "$OUT/bench_train" -m "$CKPT" --threads "$THREADS" --reps "$REPS" --warmup "$WARMUP" $PHASES \
    --results "$OUT/train_results_c.txt"

T1=${THREADS%%,*}
run_torch=0
case $TORCH in
0) ;;
1) run_torch=1 ;;
*) if [ -x "$PY" ] && "$PY" -c "import torch" >/dev/null 2>&1 && [ -d "$REF/segment_anything" ]; then
       run_torch=1
   else
       echo "(PyTorch side skipped: needs $PY with torch and the official checkout at $REF)"
   fi ;;
esac
if [ "$run_torch" -eq 1 ]; then
    echo
    locked env SAM_REF_DIR="$REF" "$PY" bench/pytorch_train_bench.py -m "$CKPT" --arch "$ARCH" --threads "$T1" \
        --reps "$REPS" --warmup "$WARMUP" --results "$OUT/train_results_torch.txt"
fi

# side by side
val() { [ -f "$2" ] && awk -v k="$1" '$1 == k { print $2 }' "$2"; }
C_S=$(val "c_step_s_${T1}t" "$OUT/train_results_c.txt")
C_RSS=$(val c_peak_rss_mb "$OUT/train_results_c.txt")
P_S=$(val "torch_step_s_${T1}t" "$OUT/train_results_torch.txt" || true)
P_RSS=$(val torch_peak_rss_mb "$OUT/train_results_torch.txt" || true)
echo
echo "######## $ARCH training step, batch 1, $T1 threads (median of $REPS after $WARMUP warm-up)"
printf '%-12s %14s %16s\n' "" "step (s)" "peak RSS (MB)"
printf '%-12s %14s %16s\n' "medsam.c" "$C_S" "$C_RSS"
if [ -n "$P_S" ]; then
    printf '%-12s %14s %16s\n' "PyTorch" "$P_S" "$P_RSS"
    awk -v c="$C_S" -v p="$P_S" 'BEGIN { printf "medsam.c / PyTorch step time: %.3f (goal <= 0.5)\n", c / p }'
fi
