#!/bin/sh
# `medsam train` on the tiny test model (S = 128) with npy data made here:
# a run writes latest.pth / best.pth / log.csv; an interrupted run (SIGTERM)
# resumed from latest.pth ends with the same weights as an uninterrupted run;
# latest.pth loads in `medsam segment` (and, when Debian's python3 with torch is
# present, in torch.load + AdamW.load_state_dict, and the same run replayed in PyTorch with
# the official modules ends with the same weights); bad arguments and broken
# resume files give one line on stderr and a non-zero exit.
. tests/lib_cli.sh


S=128
mkdata() { # mkdata DIR N
    mkdir -p "$1/imgs" "$1/gts"
    k=0
    while [ "$k" -lt "$2" ]; do
        f="$1/imgs/case$k.npy"
        npy_header '<f4' "($S, $S, 3)" >"$f"
        # rows of 0.5 (0x3f000000) and 0.25 (0x3e800000) floats, a pattern that differs per case
        r=0
        while [ "$r" -lt "$S" ]; do
            if [ $(((r / (8 + k)) % 2)) -eq 0 ]; then printf '\000\000\000\077%.0s' $(seq 1 $((S * 3)))
            else printf '\000\000\200\076%.0s' $(seq 1 $((S * 3))); fi
            r=$((r + 1))
        done >>"$f"
        g="$1/gts/case$k.npy"
        npy_header '|u1' "($S, $S)" >"$g"
        r=0
        while [ "$r" -lt "$S" ]; do
            if [ "$r" -ge $((20 + 5 * k)) ] && [ "$r" -lt $((70 + 3 * k)) ]; then
                printf '\000%.0s' $(seq 1 $((30 + k))); printf '\001%.0s' $(seq 1 40); printf '\002%.0s' $(seq 1 20)
                printf '\000%.0s' $(seq 1 $((S - 90 - k)))
            else printf '\000%.0s' $(seq 1 $S); fi
            r=$((r + 1))
        done >>"$g"
        k=$((k + 1))
    done
}
mkdata "$T/data" 4
$B init --arch tiny --seed 1 -o "$T/init.pth" >/dev/null 2>&1 || bad "init"

# uninterrupted: 2 epochs of 2 steps, 1 validation sample
if $B train --data "$T/data" --init "$T/init.pth" --out "$T/runA" --epochs 2 --batch 2 --lr 1e-3 --bbox-shift 20 --seed 2023 \
    --val-fraction 0.25 --threads 2 2>"$T/a.err"; then
    ok "train runs: $(tail -n 2 "$T/a.err" | head -n 1)"
else bad "train: $(tail -n 3 "$T/a.err")"; fi
if [ -s "$T/runA/latest.pth" ] && [ -s "$T/runA/best.pth" ] && grep -q '^val,1,' "$T/runA/log.csv" &&
    [ "$(grep -c '^step,' "$T/runA/log.csv")" -eq 4 ]
then ok "latest.pth, best.pth, log.csv (4 steps, validation each epoch)"; else bad "run folder: $(ls "$T/runA"; cat "$T/runA/log.csv")"; fi
if grep -q 'samples/s, ETA' "$T/a.err"; then ok "progress on stderr"; else bad "no progress line"; fi
if $B segment -m "$T/runA/latest.pth" -i tests/fixtures/images/camera.png -b 10,10,200,200 -o "$T/mask.png" -t 1 \
    >/dev/null 2>&1 && [ -s "$T/mask.png" ]
then ok "segment loads latest.pth"; else bad "segment with latest.pth failed"; fi

# the same run, one step at a time: --save-every 1 and SIGTERM after the first step, then resume
$B train --data "$T/data" --init "$T/init.pth" --out "$T/runB" --epochs 2 --batch 2 --lr 1e-3 \
    --val-fraction 0.25 --threads 2 --save-every 1 2>"$T/b.err" &
pid=$!
i=0
while [ "$i" -lt 600 ] && ! grep -q 'step 1/' "$T/b.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -TERM "$pid" 2>/dev/null
wait "$pid"; rc=$?
if [ "$rc" -eq 130 ] && grep -q 'interrupted' "$T/b.err"; then ok "SIGTERM: clean stop, exit 130: $(tail -n 1 "$T/b.err")"
elif [ "$rc" -eq 0 ]; then ok "SIGTERM came after the run ended (machine too fast); resume still checked"
else bad "SIGTERM: rc=$rc $(tail -n 2 "$T/b.err")"; fi
if $B train --data "$T/data" --resume "$T/runB/latest.pth" --out "$T/runB" --epochs 2 --batch 2 --lr 1e-3 \
    --val-fraction 0.25 --threads 2 2>"$T/c.err"; then ok "resume runs"; else bad "resume: $(tail -n 2 "$T/c.err")"; fi
# same weights: compare the "model" tensors through medsam segment logits
$B segment -m "$T/runA/latest.pth" -i tests/fixtures/images/camera.png -b 10,10,200,200 -o "$T/ma.png" --logits "$T/la.npy" -t 1 >/dev/null 2>&1
$B segment -m "$T/runB/latest.pth" -i tests/fixtures/images/camera.png -b 10,10,200,200 -o "$T/mb.png" --logits "$T/lb.npy" -t 1 >/dev/null 2>&1
if [ -s "$T/la.npy" ] && cmp -s "$T/la.npy" "$T/lb.npy" && cmp -s "$T/runA/log.csv" "$T/runB/log.csv"
then ok "interrupted + resumed run = uninterrupted run (same logits, same log.csv)"
else bad "resumed run differs from the uninterrupted one"; fi

# a step schedule: --lr given with --resume is the rate from there on (0: the weights stay), absent: the checkpoint's
$B train --data "$T/data" --init "$T/init.pth" --out "$T/runC" --epochs 1 --batch 2 --lr 1e-3 --val-fraction 0.25 \
    --threads 2 2>/dev/null && mkdir -p "$T/runD" "$T/runE" && cp "$T/runC/"* "$T/runD/" && cp "$T/runC/"* "$T/runE/"
$B train --data "$T/data" --resume "$T/runD/latest.pth" --out "$T/runD" --epochs 2 --batch 2 --lr 0 \
    --val-fraction 0.25 --threads 2 2>/dev/null
$B train --data "$T/data" --resume "$T/runE/latest.pth" --out "$T/runE" --epochs 2 --batch 2 \
    --val-fraction 0.25 --threads 2 2>/dev/null
for r in C D E; do
    $B segment -m "$T/run$r/latest.pth" -i tests/fixtures/images/camera.png -b 10,10,200,200 -o "$T/m$r.png" \
        --logits "$T/l$r.npy" -t 1 >/dev/null 2>&1
done
if [ -s "$T/lC.npy" ] && cmp -s "$T/lC.npy" "$T/lD.npy" && [ -s "$T/lE.npy" ] && ! cmp -s "$T/lC.npy" "$T/lE.npy" &&
   cmp -s "$T/lE.npy" "$T/la.npy"
then ok "resume --lr 0: weights unchanged over epoch 2; resume without --lr: the checkpoint's 1e-3 (= the uninterrupted run)"
else bad "step schedule on resume"; fi

# validation (inference path) and training (ms_model_loss_grad) agree on the loss: two copies of
# one single-label sample, one trained with --lr 0 and tight boxes, the other validated
mkdir -p "$T/same/imgs" "$T/same/gts"
for n in a b; do
    cp "$T/data/imgs/case1.npy" "$T/same/imgs/$n.npy"
    { npy_header '|u1' "($S, $S)"
      r=0; while [ "$r" -lt "$S" ]; do
        if [ "$r" -ge 30 ] && [ "$r" -lt 90 ]; then printf '\000%.0s' $(seq 1 40); printf '\003%.0s' $(seq 1 50); printf '\000%.0s' $(seq 1 38)
        else printf '\000%.0s' $(seq 1 $S); fi
        r=$((r + 1)); done; } >"$T/same/gts/$n.npy"
done
if $B train --data "$T/same" --init "$T/init.pth" --out "$T/runS" --epochs 1 --batch 1 --lr 0 --bbox-shift 0 \
    --val-fraction 0.5 --threads 2 2>"$T/s.err"; then
    tl=$(grep '^step,' "$T/runS/log.csv" | cut -d, -f5); vl=$(grep '^val,' "$T/runS/log.csv" | cut -d, -f5)
    if awk -v a="$tl" -v b="$vl" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-4 * b + 1e-6) }'
    then ok "validation loss $vl = training-step loss $tl (rtol 1e-4)"; else bad "validation loss $vl vs training loss $tl"; fi
else bad "train on same-sample data: $(tail -n 2 "$T/s.err")"; fi

PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then
    if out=$("$PY" tools/ref/make_train_fixtures.py --check "$T/runA/latest.pth" 2>&1); then
        ok "torch.load + AdamW.load_state_dict: $out"
    else bad "torch check: $out"; fi
    # the same run in PyTorch (official modules, official box formula, torch AdamW), weights compared
    if [ -d "${SAM_REF_DIR:-/work/ref/MedSAM}/segment_anything" ]; then
        if out=$("$PY" tools/ref/make_train_fixtures.py --replay "$T/data" "$T/init.pth" "$T/runA/latest.pth" \
            2 2 1e-3 0.01 20 2023 0.25 2>&1); then ok "PyTorch replay: $out"; else bad "PyTorch replay: $out"; fi
    else echo "skip PyTorch replay (no official checkout)"; fi
else echo "skip torch.load check (no torch)"; fi

# errors
expect_train "no --data" "missing --data" $B train --init "$T/init.pth" --out "$T/o"
expect_train "no --init" "missing --init" $B train --data "$T/data" --out "$T/o"
expect_train "bad batch" "bad value '0' for --batch" $B train --data "$T/data" --init "$T/init.pth" --out "$T/o" --batch 0
expect_train "bad lr" "bad value 'x' for --lr" $B train --data "$T/data" --init "$T/init.pth" --out "$T/o" --lr x
expect_train "unknown option" "unknown option '--bogus'" $B train --bogus 1
expect_train "missing data dir" "no gts/ folder" $B train --data "$T/nowhere" --init "$T/init.pth" --out "$T/o"
mkdir -p "$T/empty/gts" "$T/empty/imgs"
expect_train "empty data" "no NAME.npy present" $B train --data "$T/empty" --init "$T/init.pth" --out "$T/o"
head -c 3000 "$T/runA/latest.pth" >"$T/trunc.pth"
expect_train "truncated resume" "trunc.pth" $B train --data "$T/data" --init "$T/init.pth" --resume "$T/trunc.pth" --out "$T/o"
expect_train "resume without optimizer" "no AdamW optimizer state" $B train --data "$T/data" --init "$T/init.pth" --resume "$T/init.pth" --out "$T/o"
$B init --arch vit_b --seed 0 -o "$T/vitb.pth" >/dev/null 2>&1
expect_train "other architecture resume" "expected shape (1,8,8,48), got (1,64,64,768)" $B train --data "$T/data" --init "$T/init.pth" --resume "$T/vitb.pth" --out "$T/o"
rm -f "$T/vitb.pth"
mkdir -p "$T/small/imgs" "$T/small/gts"
cp "$T/data/gts/case0.npy" "$T/small/gts/x.npy"
{ npy_header '<f4' "(64, 64, 3)"; printf '\000\000\000\077%.0s' $(seq 1 12288); } >"$T/small/imgs/x.npy"
expect_train "image of the wrong size" "expected a float array of shape (128,128,3)" $B train --data "$T/small" --init "$T/init.pth" --out "$T/o" --threads 1

summary
