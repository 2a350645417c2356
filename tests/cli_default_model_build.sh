#!/bin/sh
# make default-model's script end to end at toy scale (tools/default_model/build.sh with the
# tiny CI architecture, 64 px cases, 2 epochs + 1 box-zoom epoch): data, init, staged training
# (STAGES=1 stops after one epoch, the next call resumes), the box-zoom fine-tuning from the end
# of it, float16 + SHA-256 + box-zoom record that the default lookup accepts, evaluation tables;
# a finished run is not redone. Needs /usr/bin/python3 with numpy.
. tests/lib_cli.sh

if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    echo "skipped: no /usr/bin/python3 with numpy"; summary; exit 0
fi
ROOT=$(pwd)
export MEDSAM="$ROOT/$B" W="$T/w" OUT="$T/models/medsam-small.safetensors" DOCS="$T/docs" ARCH=tiny SIZE=64 \
    TRAIN_CASES=8 HELDOUT_CASES=3 EPOCHS=2 BATCH=2 THREADS=2 VAL_FRACTION=0.25 ZOOM_EPOCHS=1
STAGES=1 sh tools/default_model/build.sh >"$T/log1" 2>&1 && [ "$(grep -c '^val,' "$W/run/log.csv")" -eq 1 ] &&
    [ ! -f "$OUT" ] && grep -q "stopping after 1 stage" "$T/log1" && ok "STAGES=1: one epoch, then stops" ||
    bad "STAGES=1: $(tail -3 "$T/log1")"
sh tools/default_model/build.sh >"$T/log2" 2>&1 && [ "$(grep -c '^val,' "$W/run/log.csv")" -eq 2 ] &&
    grep -q "training stage 2 of 2 (--resume" "$T/log2" && ! grep -q "synthetic training set" "$T/log2" &&
    ok "second call: data kept, epoch 2 resumed from latest.pth" || bad "resume: $(tail -3 "$T/log2")"
[ "$(grep -c '^val,' "$W/run-zoom/log.csv")" -eq 1 ] &&
    grep -q "box-zoom stage 1 of 1 (--init $W/run/latest.pth, lr 5e-5, box zoom 3" "$T/log2" &&
    ok "box-zoom epoch from the end of the first run" || bad "box-zoom stage: $(grep -i zoom "$T/log2" | tail -3)"
[ -f "$OUT" ] && (cd "$T/models" && sha256sum -c medsam-small.sha256 >/dev/null 2>&1) &&
    grep -q F16 "$OUT" && ok "float16 model + its SHA-256" || bad "bundled form"
"$B" info -m "$W/run-zoom/best.pth" >"$T/a" 2>&1 && env MEDSAM_DEFAULT_MODEL="$OUT" "$B" info >"$T/b" 2>&1 &&
    [ "$(tail -n +2 "$T/a" | grep -v '^box zoom')" = "$(tail -n +2 "$T/b" | grep -v '^box zoom')" ] &&
    grep -q "^box zoom: 3 (the file asks" "$T/b" && ok "the default lookup loads it, box zoom 3 recorded" ||
    bad "info: $(cat "$T/b")"
grep -q '^| all | [0-9]* |' "$DOCS/results.md" && grep -q '^| faint (< 0.15)\|^| medium\|^| strong (> 0.6)' "$DOCS/results.md" &&
    ok "results.md: per band and overall tables" || bad "results.md: $(head -20 "$DOCS/results.md")"
cp "$DOCS/results.md" "$T/results1.md"
sh tools/default_model/build.sh >"$T/log3" 2>&1 && ! grep -q "training stage" "$T/log3" &&
    cmp -s "$DOCS/results.md" "$T/results1.md" && ok "a finished run is not redone; results reproduce" ||
    bad "third call: $(tail -3 "$T/log3")"
summary
