#!/bin/sh
# tools/default_model/evaluate.sh MODEL [W]: the numbers of docs/default-model.md.
#   - held-out synthetic set ($W/heldout, `medsam synth --seed 2`, never trained on): one case per
#     object, box = the object's bounding box with each side moved out by a fixed random 0..5 px
#     (tools/default_model/make_eval_cases.py, seed 0); the model (`medsam segment --npz`) and the
#     classical baseline (`medsam baseline --npz`) on the same boxes; Dice and NSD (2 px) by
#     `medsam eval`, tabled per modality, contrast band and kind (tools/default_model/summarize.py);
#   - real labelled images, evaluation only: every npz (imgs + gts) in $REAL_DIR when it is set
#     (none were found on the machines this was written on; see docs/default-model.md);
#   - the loss curve of $W/run/log.csv, continued by $RUN/log.csv when RUN (the run whose best.pth
#     was bundled) is another one (tools/default_model/plot_loss.py, needs python3-matplotlib).
# Writes docs/default-model/results.md and docs/default-model/loss.png. Needs /usr/bin/python3
# with numpy (python3-numpy).
set -eu
cd "$(dirname "$0")/../.."
B=${MEDSAM:-build/medsam}
MODEL=$1
W=${2:-build/default-model}
RUN=${RUN:-$W/run}
# the box zoom the model file records (README "Box zoom"), 0 when none: the float32 checkpoint runs with it too
ZOOM=$("$B" info -m "$MODEL" | sed -n 's/^box zoom: \([0-9.e+]*\) .*/\1/p')
ZOOM=${ZOOM:-0}
D=${DOCS:-docs/default-model}
PY=/usr/bin/python3
THREADS=${THREADS:-$(nproc)}
mkdir -p "$D"
SHA=$(sha256sum "$MODEL" | cut -c1-16)

run_set() { # run_set KEY TITLE SRC: cases, model and baseline predictions, eval CSVs, a table
    key=$1; name=$2; src=$3; E=$W/eval/$key
    [ -f "$E/cases/manifest.csv" ] || $PY tools/default_model/make_eval_cases.py "$src" "$E/cases" --jitter 5 --seed 0
    P=$E/model-$SHA # predictions of this model file only (a retrained model is evaluated afresh)
    mkdir -p "$P" "$E/baseline"
    # the model: every case in one process (`segment --batch`, the same files as one `segment --npz` each;
    # cases already predicted are skipped, so an interrupted evaluation resumes)
    "$B" segment -m "$MODEL" --batch "$E/cases" -o "$P" --efficiency "$E/model-times.csv" --threads "$THREADS" \
        2>"$E/model-batch.log" || { tail -n 3 "$E/model-batch.log" >&2; exit 1; }
    n=0
    for c in "$E"/cases/*.npz; do
        f=$(basename "$c")
        [ -f "$E/baseline/$f" ] || "$B" baseline --npz "$c" -o "$E/baseline/$f"
        n=$((n + 1))
    done
    "$B" eval --pred "$P" --gt "$E/cases" --labels 1 --csv "$E/model.csv" -q --threads "$THREADS" >/dev/null
    "$B" eval --pred "$E/baseline" --gt "$E/cases" --labels 1 --csv "$E/baseline.csv" -q --threads "$THREADS" >/dev/null
    $PY tools/default_model/summarize.py "$E/cases/manifest.csv" "$E/model.csv" "$E/baseline.csv" "$name ($n objects)" \
        >>"$D/results.md.tmp"
}

{
    echo "<!-- written by tools/default_model/evaluate.sh; do not edit by hand -->"
    echo "Model: \`$MODEL\` (SHA-256 $SHA...), baseline: \`medsam baseline\`."
    echo "Boxes: ground-truth bounding box, each side out by a fixed random 0..5 px; NSD tolerance 2 px."
} >"$D/results.md.tmp"
run_set synth "held-out synthetic (seed 2)" "$W/heldout"
if [ -n "${REAL_DIR:-}" ]; then
    run_set real "real labelled images ($REAL_DIR)" "$REAL_DIR"
else
    printf '\n### real labelled images\n\nNone evaluated (REAL_DIR not set; none found on the build machine).\n' >>"$D/results.md.tmp"
fi
# float16 storage against the float32 checkpoint it came from, on the first 50 held-out objects
if [ -f "$RUN/best.pth" ]; then
    F=$W/eval/f32-$SHA
    mkdir -p "$F/model" "$F/f16"
    for c in $(ls "$W/eval/synth/cases"/*.npz | head -50); do
        f=$(basename "$c")
        [ -f "$F/model/$f" ] || "$B" segment -m "$RUN/best.pth" --npz "$c" -o "$F/model/$f" --threads "$THREADS" \
            --box-zoom "$ZOOM"
        cp "$W/eval/synth/model-$SHA/$f" "$F/f16/$f"
    done
    "$B" eval --pred "$F/f16" --gt "$F/model" --gt-key segs --labels 1 --csv "$F/agree.csv" -q >/dev/null
    $PY - "$F/agree.csv" >>"$D/results.md.tmp" <<'PYEOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["label"] != "mean"]
d = [1.0 if r["gt_voxels"] == r["pred_voxels"] == "0" else float(r["dsc"]) for r in rows]  # both empty: the same
same = sum(x == 1.0 for x in d)
print(f"\n### float16 file vs the float32 checkpoint\n\nOn the first {len(rows)} held-out objects: masks identical "
      f"in {same}, mean Dice between the two {sum(d) / max(1, len(d)):.6f}, lowest {min(d) if d else float('nan'):.6f}.")
PYEOF
fi
mv "$D/results.md.tmp" "$D/results.md"
if $PY -c 'import matplotlib' 2>/dev/null; then
    if [ "$RUN" != "$W/run" ]; then logs="$W/run/log.csv $RUN/log.csv"; else logs="$W/run/log.csv"; fi
    # shellcheck disable=SC2086
    $PY tools/default_model/plot_loss.py $logs "$D/loss.png"
else
    echo "evaluate.sh: no matplotlib (apt-get install python3-matplotlib): loss curve not drawn" >&2
fi
echo "evaluate.sh: $D/results.md"
