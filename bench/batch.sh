#!/bin/sh
# The batch part of `make bench` (bench/run.sh; alone: `make bench-batch`): throughput of
# `medsam segment --batch` on a folder of CVPR24-style 2-D cases, one object each, made
# by `medsam synth --seed 3 --size 512` and tools/default_model/make_eval_cases.py (needs
# /usr/bin/python3 with numpy), segmented with the bundled default model (before it
# exists: `medsam init --arch small --seed 0`). Runs: 1 process x 1 thread, 1 process x
# 2 threads, 2 MPI processes x 1 thread (build-mpi/ from `make MPI=1`, when mpicc and
# mpirun exist); cases per minute and the speedups; every run's outputs are compared
# byte for byte with the first's. Settings: BENCH_BATCH_IMAGES (default 24 images).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${BENCH_BATCH_IMAGES:-24}
PY=/usr/bin/python3
OUT=$BUILD/bench/batch
mkdir -p "$OUT"
echo
echo "######## medsam segment --batch ($(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' '))"
if ! "$PY" -c "import numpy" 2>/dev/null; then echo "(skipped: $PY with numpy makes the cases)"; exit 0; fi
M=models/medsam-small.safetensors
if [ ! -s "$M" ]; then
    M=$OUT/small_seed0.pth
    [ -s "$M" ] || "$BUILD/medsam" init --arch small --seed 0 -o "$M" >/dev/null
fi
if [ ! -f "$OUT/cases/manifest.csv" ]; then
    "$BUILD/medsam" synth --out "$OUT/synth" --count "$N" --seed 3 --size 512 2>/dev/null
    "$PY" tools/default_model/make_eval_cases.py "$OUT/synth" "$OUT/cases" --jitter 5 --seed 0 >/dev/null
fi
n=$(ls "$OUT/cases"/*.npz | wc -l)
mpi=0
if command -v mpicc >/dev/null && command -v mpirun >/dev/null; then
    make -s MPI=1 -j"$(nproc)" all >"$OUT/mpi_build.log" 2>&1 && mpi=1
fi
echo "$n cases (512x512, one box each), model $M"
first=""
base=""
run() { # NAME PROCS THREADS
    name=$1; p=$2; t=$3
    rm -rf "$OUT/out_$name"
    t0=$(date +%s.%N)
    if [ "$p" -eq 1 ]; then
        "$BUILD/medsam" segment -m "$M" --batch "$OUT/cases" -o "$OUT/out_$name" -t "$t" 2>"$OUT/$name.log"
    else
        mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$p" build-mpi/medsam segment -m "$M" \
            --batch "$OUT/cases" -o "$OUT/out_$name" -t "$t" 2>"$OUT/$name.log"
    fi
    t1=$(date +%s.%N)
    same=yes
    if [ -n "$first" ]; then
        for f in "$OUT/out_$first"/*.npz; do cmp -s "$f" "$OUT/out_$name/$(basename "$f")" || same=NO; done
    fi
    [ -n "$first" ] || first=$name
    wall=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')
    [ -n "$base" ] || base=$wall
    printf "  %-26s %8.2f s %8.1f cases/min %6.2fx   outputs equal: %s\n" "$p process(es) x $t thread(s)" "$wall" \
        "$(echo "$n $wall" | awk '{ print 60 * $1 / $2 }')" "$(echo "$base $wall" | awk '{ print $1 / $2 }')" "$same"
}
run p1t1 1 1
run p1t2 1 2
if [ $mpi -eq 1 ]; then run p2t1 2 1; else echo "  (2 processes: no mpicc/mpirun, or make MPI=1 failed: $OUT/mpi_build.log)"; fi
echo "  (per case: $OUT/out_p1t1/efficiency.csv; whole process incl. model load, wall clock)"
