#!/bin/sh
# `medsam train` against the official training loop in PyTorch, at the command line:
# 10 AdamW steps (4 samples, batch 2, 5 epochs, bbox shift 0, seed 2023), every step's
# loss from log.csv and every weight of latest.pth compared (tools/ref/make_train_trajectory.py).
#   sh tools/ref/check_train_trajectory.sh DIR [tiny|vitb256] [LR] [THREADS]
# tiny: the CI fixture model at 128 (seconds); vitb256: ViT-B at a 256 input, random weights
# (about 2 minutes per side on 2 cores). Needs Debian's python3 with torch and the official checkout.
set -e
DIR=${1:?usage: check_train_trajectory.sh DIR [tiny|vitb256] [LR] [THREADS]}
CONFIG=${2:-tiny}
LR=${3:-1e-3}
THREADS=${4:-2}
B=${BUILD:-build}/medsam
PY=/usr/bin/python3
mkdir -p "$DIR"
OMP_NUM_THREADS=$THREADS "$PY" tools/ref/make_train_trajectory.py --run-dir "$DIR" --config "$CONFIG" --lr "$LR" | tail -n 1
rm -rf "$DIR/run"
$B train --data "$DIR/data" --init "$DIR/init.pth" --out "$DIR/run" --epochs 5 --batch 2 --lr "$LR" \
    --weight-decay 0.01 --bbox-shift 0 --seed 2023 --threads "$THREADS" 2>"$DIR/train.err" || { cat "$DIR/train.err"; exit 1; }
"$PY" tools/ref/make_train_trajectory.py --compare "$DIR"
