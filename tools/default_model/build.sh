#!/bin/sh
# tools/default_model/build.sh — `make default-model`: rebuilds the bundled default model
# models/medsam-small.safetensors from nothing but this repository, with fixed seeds:
#
#   1. synthetic training set   medsam synth --seed 1 --count $TRAIN_CASES   -> $W/train
#   2. synthetic held-out set   medsam synth --seed 2 --count $HELDOUT_CASES -> $W/heldout (evaluation only)
#   3. random initialisation    medsam init --arch small --seed 0            -> $W/init.pth
#   4. training, one epoch per stage: medsam train (--init, then --resume $W/run/latest.pth)
#      AdamW lr $LR for epochs 1..$LR_STEP then $LR_LATE (a step schedule), batch $BATCH, weight decay 0.01,
#      --bbox-shift $BBOX_SHIFT for epochs 1..$SHIFT_STEP then $BBOX_SHIFT_LATE, --seed 2023,
#      --val-fraction $VAL_FRACTION of the training set held out for the validation loss
#      (the only thing that picks the checkpoint: best.pth), latest.pth every 100 steps
#   4b. box-zoom fine-tuning (README "Box zoom"): $ZOOM_EPOCHS more epochs from the end of step 4
#      ($W/run/latest.pth, fresh AdamW at $ZOOM_LR, --bbox-shift $BBOX_SHIFT_LATE) with
#      `--box-zoom $ZOOM`: a small object's sample is cut to its zoom window, as inference
#      cuts it; the same validation split, in the same view, picks $W/run-zoom/best.pth
#      (ZOOM_EPOCHS=0: no step 4b, step 4's best.pth is bundled without a zoom record)
#   5. best.pth -> models/medsam-small.safetensors (float16, metadata medsam.box_zoom = $ZOOM)
#      + models/medsam-small.sha256
#   6. tools/default_model/evaluate.sh: model and baseline on the held-out set -> docs/default-model/
#
# Resumable after a kill at any point: a stage whose result exists is skipped (synth keeps the
# cases it wrote, the trainer resumes from latest.pth to the same weights as an uninterrupted
# run, every output is written atomically). STAGES=N runs at most N training epochs in this
# call and stops (to spread the training over several sessions). Stage times are appended
# to $W/times.csv. Work folder: W=build/default-model (ignored by git).
set -eu
cd "$(dirname "$0")/../.."
B=${MEDSAM:-build/medsam}
W=${W:-build/default-model}
TRAIN_CASES=${TRAIN_CASES:-3000}
HELDOUT_CASES=${HELDOUT_CASES:-600}
EPOCHS=${EPOCHS:-9}
BATCH=${BATCH:-4}
LR=${LR:-2e-4}
LR_LATE=${LR_LATE:-5e-5}   # the rate of the epochs after LR_STEP (a step schedule)
LR_STEP=${LR_STEP:-3}
BBOX_SHIFT=${BBOX_SHIFT:-8}
BBOX_SHIFT_LATE=${BBOX_SHIFT_LATE:-5}  # the box jitter of the epochs after SHIFT_STEP: MedSAM's 20 px at 1024 is 5 px at 256
SHIFT_STEP=${SHIFT_STEP:-5}
ZOOM=${ZOOM:-3}               # box zoom factor of step 4b and of the bundled file
ZOOM_EPOCHS=${ZOOM_EPOCHS:-3}
ZOOM_LR=${ZOOM_LR:-5e-5}
VAL_FRACTION=${VAL_FRACTION:-0.05}
THREADS=${THREADS:-$(nproc)}
STAGES=${STAGES:-$EPOCHS}
ARCH=${ARCH:-small} # tests/cli_default_model_build.sh runs the whole script with ARCH=tiny SIZE=64
SIZE=${SIZE:-256}
OUT=${OUT:-models/medsam-small.safetensors}
SUM=${OUT%.safetensors}.sha256

mkdir -p "$W"
[ -f "$W/times.csv" ] || echo "stage,seconds,finished_utc" >"$W/times.csv"
now() { date +%s; }
log() { echo "default-model: $*" >&2; }
timed() { # timed NAME COMMAND...: runs it, appends its wall time
    name=$1; shift
    t0=$(now)
    "$@"
    echo "$name,$(($(now) - t0)),$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$W/times.csv"
}

# 1, 2: the data (synth skips cases already written; the .done marks say all are there)
if [ ! -f "$W/train/.done" ]; then
    log "synthetic training set: $TRAIN_CASES cases, seed 1"
    timed synth_train "$B" synth --out "$W/train" --count "$TRAIN_CASES" --seed 1 --size "$SIZE" --threads "$THREADS"
    touch "$W/train/.done"
fi
if [ ! -f "$W/heldout/.done" ]; then
    log "synthetic held-out set: $HELDOUT_CASES cases, seed 2"
    timed synth_heldout "$B" synth --out "$W/heldout" --count "$HELDOUT_CASES" --seed 2 --size "$SIZE" --threads "$THREADS"
    touch "$W/heldout/.done"
fi

# 3: the initial weights
[ -f "$W/init.pth" ] || timed init "$B" init --arch "$ARCH" --seed 0 -o "$W/init.pth"

# 4: training, one epoch per stage; finished epochs are the 'val' rows of log.csv
done_epochs() { # [RUNDIR]: finished epochs of a run
    r=${1:-$W/run}
    if [ -f "$r/log.csv" ]; then grep -c '^val,' "$r/log.csv" || true; else echo 0; fi
}
ran=0
while [ "$(done_epochs)" -lt "$EPOCHS" ]; do
    if [ "$ran" -ge "$STAGES" ]; then
        log "stopping after $ran stage(s) as STAGES=$STAGES asks: $(done_epochs) of $EPOCHS epochs done; run again to go on"
        exit 0
    fi
    e=$(($(done_epochs) + 1))
    if [ -f "$W/run/latest.pth" ]; then start="--resume $W/run/latest.pth"; else start="--init $W/init.pth"; fi
    if [ "$e" -le "$LR_STEP" ]; then lr=$LR; else lr=$LR_LATE; fi
    if [ "$e" -le "$SHIFT_STEP" ]; then jitter=$BBOX_SHIFT; else jitter=$BBOX_SHIFT_LATE; fi
    log "training stage $e of $EPOCHS ($start, lr $lr, box jitter 0..$jitter px)"
    # shellcheck disable=SC2086
    timed "train_epoch_$e" "$B" train --data "$W/train" $start --out "$W/run" --epochs "$e" --batch "$BATCH" \
        --lr "$lr" --weight-decay 0.01 --bbox-shift "$jitter" --seed 2023 --val-fraction "$VAL_FRACTION" \
        --save-every 100 --threads "$THREADS"
    ran=$((ran + 1))
done

# 4b: box-zoom fine-tuning from the end of step 4, one epoch per stage as above
R=$W/run
if [ "$ZOOM_EPOCHS" -gt 0 ]; then
    R=$W/run-zoom
    while [ "$(done_epochs "$R")" -lt "$ZOOM_EPOCHS" ]; do
        if [ "$ran" -ge "$STAGES" ]; then
            log "stopping after $ran stage(s) as STAGES=$STAGES asks: $(done_epochs "$R") of $ZOOM_EPOCHS box-zoom epochs done"
            exit 0
        fi
        e=$(($(done_epochs "$R") + 1))
        if [ -f "$R/latest.pth" ]; then start="--resume $R/latest.pth"; else start="--init $W/run/latest.pth"; fi
        log "box-zoom stage $e of $ZOOM_EPOCHS ($start, lr $ZOOM_LR, box zoom $ZOOM, box jitter 0..$BBOX_SHIFT_LATE px)"
        # shellcheck disable=SC2086
        timed "zoom_epoch_$e" "$B" train --data "$W/train" $start --out "$R" --epochs "$e" --batch "$BATCH" \
            --lr "$ZOOM_LR" --weight-decay 0.01 --bbox-shift "$BBOX_SHIFT_LATE" --seed 2023 \
            --val-fraction "$VAL_FRACTION" --save-every 100 --threads "$THREADS" --box-zoom "$ZOOM"
        ran=$((ran + 1))
    done
fi

# 5: the bundled form: best validation loss, float16 safetensors + its checksum
if [ ! -f "$SUM" ] || [ "$R/best.pth" -nt "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    zoom_record=0
    [ "$ZOOM_EPOCHS" -gt 0 ] && zoom_record=$ZOOM
    timed convert "$B" convert "$R/best.pth" "$OUT" --dtype f16 --box-zoom "$zoom_record"
    (cd "$(dirname "$OUT")" && sha256sum "$(basename "$OUT")" >"$(basename "$SUM").tmp" &&
        mv "$(basename "$SUM").tmp" "$(basename "$SUM")")
    size=$(wc -c <"$OUT")
    [ "$size" -le 41943040 ] || { log "$OUT is $size bytes, over the 40 MB cap"; exit 1; }
fi

# 6: evaluation, loss curve and tables for docs/default-model.md
export RUN="$R"
timed evaluate sh tools/default_model/evaluate.sh "$OUT" "$W"
log "done: $OUT ($(wc -c <"$OUT") bytes), results in docs/default-model/"
