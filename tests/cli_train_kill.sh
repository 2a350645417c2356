#!/bin/sh
# kill -9 during `medsam train` (tiny model, the NIfTI fixture of cli_train_data.sh,
# --save-every 1 so that latest.pth is rewritten after every step): the run is killed
# three times (after a few checkpoints; while a checkpoint is being written, by waiting
# for its temp file RUN/latest.pth.tmp.PID to appear; at an arbitrary moment) and
# resumed with --resume RUN/latest.pth each time. Checked: after every kill latest.pth
# is a complete checkpoint (it loads, and the resume from it runs), a temp file left
# by the kill is not taken for a checkpoint (a partial one is refused with one line),
# and the final latest.pth, best.pth and log.csv are byte for byte those of an
# uninterrupted run (so every weight, the AdamW state and the generator are equal;
# tests/mpi_weights_diff.c counts differing weights when they are not).
# Truncated and other-architecture resume files are refused in tests/cli_train.sh.
. tests/lib_cli.sh
D=tests/fixtures/traindata

# 7 slices, 2 for validation, 5 for training: 3 steps per epoch, 4 epochs = 12 steps
ARGS="--data $D/nifti --window soft --epochs 4 --batch 2 --val-fraction 0.3 --seed 3 --lr 1e-3 --threads 1 --save-every 1"
$B init --arch tiny --seed 1 -o "$T/init.pth" >/dev/null 2>&1 || bad "init"

# shellcheck disable=SC2086
if $B train $ARGS --init "$T/init.pth" --out "$T/A" 2>"$T/a.err"; then ok "uninterrupted run: $(grep -c '^step,' "$T/A/log.csv") steps"
else bad "uninterrupted run: $(tail -n 3 "$T/a.err")"; fi

R="$T/B"
inode() { stat -c %i "$R/latest.pth" 2>/dev/null || echo none; }
alive() { kill -0 "$pid" 2>/dev/null; }
# start [resume]: a run in the background; pid
start() {
    # shellcheck disable=SC2086
    if [ -n "$1" ]; then $B train $ARGS --resume "$R/latest.pth" --out "$R" 2>>"$T/b.err" &
    else $B train $ARGS --init "$T/init.pth" --out "$R" 2>>"$T/b.err" & fi
    pid=$!
}
# wait_saves N: until latest.pth has been replaced N times (or the run ended)
wait_saves() {
    n=0; last=$(inode); i=0
    while [ "$n" -lt "$1" ] && alive && [ "$i" -lt 20000 ]; do
        cur=$(inode)
        if [ "$cur" != "$last" ]; then n=$((n + 1)); last=$cur; fi
        sleep 0.002; i=$((i + 1))
    done
}
# kill9 WHAT: SIGKILL, then reap; killed=1 when the kill landed before the run ended
kill9() {
    if kill -KILL "$pid" 2>/dev/null; then killed=1; else killed=0; fi
    wait "$pid" 2>/dev/null
    if [ "$killed" -eq 1 ]; then echo "     killed $1 (pid $pid, log.csv at step $(step_of))"; fi
}
step_of() { grep '^step,' "$R/log.csv" 2>/dev/null | tail -n 1 | cut -d, -f4; }
# checkpoint_ok WHAT: latest.pth is complete: it loads as a model in `medsam segment`
checkpoint_ok() {
    if $B segment -m "$R/latest.pth" -i tests/fixtures/images/camera.png -b 10,10,200,200 -o "$T/m.png" -t 1 \
        >/dev/null 2>"$T/seg.err"
    then ok "after kill -9 $1: latest.pth is a complete checkpoint"
    else bad "after kill -9 $1: latest.pth does not load: $(cat "$T/seg.err")"; fi
}
kills=0

# 1. after a few checkpoints
start
wait_saves 3
kill9 "after 3 checkpoints"
kills=$((kills + killed))
[ -s "$R/latest.pth" ] && checkpoint_ok "after 3 checkpoints"

# 2. while a checkpoint is being written: spin until this process's temp file exists
if [ "$killed" -eq 1 ]; then
    before=$(inode)
    start resume
    tmpf="$R/latest.pth.tmp.$pid"
    i=0
    while [ ! -e "$tmpf" ] && [ "$i" -lt 2000000 ] && alive; do i=$((i + 1)); done
    kill9 "while writing latest.pth"
    kills=$((kills + killed))
    if [ "$killed" -eq 1 ]; then
        checkpoint_ok "during a checkpoint write"
        if [ -e "$tmpf" ]; then
            tsize=$(stat -c %s "$tmpf"); lsize=$(stat -c %s "$R/latest.pth")
            if [ "$(inode)" = "$before" ]; then ok "the interrupted write left latest.pth untouched ($tsize of ~$lsize bytes in $(basename "$tmpf"))"
            else bad "latest.pth was replaced although its write was interrupted"; fi
            if [ "$tsize" -lt "$lsize" ]; then
                mkdir -p "$T/o"
                # shellcheck disable=SC2086
                $B train $ARGS --resume "$tmpf" --out "$T/o" >/dev/null 2>"$T/t.err"; rc=$?
                if [ "$rc" -ne 0 ] && [ "$(wc -l <"$T/t.err")" -eq 1 ] && grep -q "^medsam: $tmpf" "$T/t.err"
                then ok "the partial temp checkpoint is refused: $(cat "$T/t.err")"
                else bad "partial temp checkpoint: rc=$rc $(cat "$T/t.err")"; fi
            else echo "     (the kill came after the temp file was complete, before the rename)"; fi
        else echo "     (the write had finished when the kill landed)"; fi
    fi
fi

# 3. at an arbitrary moment after the next checkpoint
if [ "$killed" -eq 1 ]; then
    start resume
    wait_saves 1
    sleep 0.03
    kill9 "at an arbitrary moment"
    kills=$((kills + killed))
    [ "$killed" -eq 1 ] && checkpoint_ok "at an arbitrary moment"
fi

# resume to the end
start resume
wait "$pid"; rc=$?
if [ "$rc" -eq 0 ]; then ok "resumed run finished ($kills kills landed, stale temp files: $(ls "$R" | grep -c '\.tmp\.'))"
else bad "final resume: rc=$rc $(tail -n 3 "$T/b.err")"; fi
[ "$kills" -ge 2 ] || echo "note: only $kills kills landed before the run ended (fast machine?)"

for f in latest.pth best.pth log.csv; do
    if cmp -s "$T/A/$f" "$R/$f"; then ok "$f equals the uninterrupted run's, byte for byte"
    else bad "$f differs from the uninterrupted run's"; fi
done
# on a difference, say how many weights differ (tests/mpi_weights_diff.c)
if ! cmp -s "$T/A/latest.pth" "$R/latest.pth" &&
    ${CC:-cc} -O1 -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc tests/mpi_weights_diff.c "${BUILD:-build}/libmedsam.a" \
        -o "$T/wdiff" -lpng -ljpeg -lz -lm -fopenmp 2>/dev/null; then
    echo "     $("$T/wdiff" "$T/A/latest.pth" "$R/latest.pth" 0)"
fi

summary
