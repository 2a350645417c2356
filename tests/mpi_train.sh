#!/bin/sh
# Data-parallel `medsam train` over MPI (not run by `make test`: it needs OpenMPI,
# Debian packages libopenmpi-dev and openmpi-bin). Builds with `make MPI=1` into
# build-mpi/, makes a tiny npy dataset (S = 128, labels 1..3) and the tiny test
# model, then trains 3 steps (1 epoch of 6 samples) from the same init and seed:
#   A: one process, --batch 2
#   B: mpirun -np 2, --batch 1 (global batch 2)
# and compares the final weights (per-tensor max|a-b|/max|b| <= 1e-5) and the
# log.csv step losses; 3 and 4 processes (a short last batch) within the fp32
# rounding bounds explained below; checks that only rank 0 wrote, that both ranks were used,
# that a 2-process run resumed from a mid-run latest.pth ends like B, and that a
# build without MPI refuses to run under mpirun.
#   sh tests/mpi_train.sh            (MPIRUN_FLAGS adds mpirun options)
. tests/lib_mpi.sh
MAX_REL=${MAX_REL:-1e-5}
B=build-mpi/medsam
mpicc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc tests/mpi_weights_diff.c build-mpi/libmedsam.a \
    -o "$T/wdiff" -lpng -ljpeg -lz -lm -fopenmp || { echo "FAIL build mpi_weights_diff"; exit 1; }

# npy_head DESCR SHAPE: a version 1.0 .npy header, 128 bytes
npy_head() {
    d="{'descr': '$1', 'fortran_order': False, 'shape': $2, }"
    printf '\223NUMPY\001\000\166\000%s%*s\n' "$d" $((128 - 10 - ${#d} - 1)) ""
}
# rep N ESC: the printf escape text ESC (e.g. '\001') N times, as escape text
# (shell variables cannot hold NUL bytes, so bytes stay escapes until printf)
rep() { i=0; while [ "$i" -lt "$1" ]; do printf '%s' "$2"; i=$((i + 1)); done; }
S=128
# sample K: float32 image with horizontal bands of 0.25 / 0.75 (period 6 + K rows);
# uint8 labels: 1 in a K-dependent rectangle, 2 in another, 3 in a thin strip for odd K
row_lo=$(rep $((S * 3)) '\000\000\200\076'); row_hi=$(rep $((S * 3)) '\000\000\100\077')
mksample() {
    k=$1
    { npy_head '<f4' "($S, $S, 3)"
      r=0; while [ "$r" -lt "$S" ]; do
          if [ $(((r / (6 + k)) % 2)) -eq 0 ]; then printf "$row_lo"; else printf "$row_hi"; fi
          r=$((r + 1)); done; } >"$T/data/imgs/c$k.npy"
    band="$(rep $((20 + k)) '\000')$(rep 30 '\001')$(rep 10 '\000')$(rep $((15 + 3 * k)) '\002')$(rep $((S - 75 - 4 * k)) '\000')"
    strip="$(rep 40 '\000')$(rep 50 '\003')$(rep $((S - 90)) '\000')"
    empty=$(rep "$S" '\000')
    { npy_head '|u1' "($S, $S)"
      r=0; while [ "$r" -lt "$S" ]; do
          if [ "$r" -ge $((10 + 4 * k)) ] && [ "$r" -lt $((60 + 2 * k)) ]; then printf "$band"
          elif [ $((k % 2)) -eq 1 ] && [ "$r" -ge 100 ] && [ "$r" -lt 104 ]; then printf "$strip"
          else printf "$empty"; fi
          r=$((r + 1)); done; } >"$T/data/gts/c$k.npy"
}
mkdir -p "$T/data/imgs" "$T/data/gts"
for k in 0 1 2 3 4 5; do mksample "$k"; done
$B init --arch tiny --seed 3 -o "$T/init.pth" >/dev/null 2>&1 || bad "medsam init"

ARGS="--data $T/data --init $T/init.pth --epochs 1 --lr 1e-3 --bbox-shift 8 --seed 5 --threads 1"
if $B train $ARGS --batch 2 --out "$T/one" 2>"$T/one.err"; then ok "1 process, --batch 2"
else bad "1 process: $(tail -n 2 "$T/one.err")"; fi
if $MPIRUN -np 2 $B train $ARGS --batch 1 --out "$T/two" >"$T/two.out" 2>"$T/two.err"; then
    ok "mpirun -np 2, --batch 1: $(grep -m1 'processes x batch' "$T/two.err")"
else bad "mpirun -np 2: $(tail -n 5 "$T/two.err")"; fi

if out=$("$T/wdiff" "$T/two/latest.pth" "$T/one/latest.pth" "$MAX_REL"); then ok "same weights: $out"
else bad "weights differ: $out"; fi
if out=$("$T/wdiff" "$T/two/latest.pth" "$T/init.pth" 1e-4); then bad "training did not move the weights: $out"
else ok "the weights moved from init: $out"; fi
# 3 processes (shares of 1/3) and 4 processes with a short last batch (6 samples:
# steps of 4 and 2, two processes without a sample in the second). With more than
# two addends the fp32 sums are rounded in another order than one process's, and
# AdamW turns that into visible differences where a gradient element nearly cancels
# (its first steps move each weight by about lr * sign(grad)): so here the relative
# L2 difference of all weights must stay <= 1e-5 and no tensor's max|a-b|/max|b|
# above 1e-2 (measured: 1.3e-6 / 5.7e-4 for 3, 1.7e-7 / 7.4e-5 for 4 processes).
for np in 3 4; do
    $B train $ARGS --batch $np --out "$T/one$np" 2>"$T/one$np.err" || bad "1 process, --batch $np"
    $MPIRUN -np $np $B train $ARGS --batch 1 --out "$T/np$np" >/dev/null 2>"$T/np$np.err" ||
        bad "mpirun -np $np: $(tail -n 3 "$T/np$np.err")"
    if out=$("$T/wdiff" "$T/np$np/latest.pth" "$T/one$np/latest.pth" 1e-2 1e-5); then
        ok "$np processes x batch 1 = 1 x batch $np: $out"
    else bad "$np processes: $out"; fi
done
# step losses: log.csv columns 5..7 within 1e-5 relative
if awk -F, 'NR == FNR { if ($1 == "step") l[$4] = $5; next }
            $1 == "step" { n++; d = $5 - l[$4]; if (d < 0) d = -d; if (d > 1e-5 * ($5 < 0 ? -$5 : $5)) bad++ }
            END { exit !(n == 3 && bad == 0) }' "$T/one/log.csv" "$T/two/log.csv"
then ok "3 step losses in log.csv agree (1e-5 relative)"; else bad "log.csv: $(cat "$T/one/log.csv" "$T/two/log.csv")"; fi
lines=$(grep -c 'step [0-9]/3' "$T/two.err")
if [ "$lines" -eq 3 ]; then ok "progress printed by rank 0 only (3 step lines)"; else bad "$lines progress lines"; fi

# 2 epochs uninterrupted, and stopped with SIGUSR1 (forwarded by mpirun) after a step then resumed
$MPIRUN -np 2 $B train $ARGS --batch 1 --out "$T/full" --epochs 30 >/dev/null 2>"$T/full.err" ||
    bad "2 epochs: $(tail -n 3 "$T/full.err")"
$MPIRUN -np 2 $B train $ARGS --batch 1 --out "$T/stop" --epochs 30 >/dev/null 2>"$T/stop.err" &
pid=$!
i=0
while [ "$i" -lt 1200 ] && ! grep -q 'step 1/3' "$T/stop.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -USR1 "$pid" 2>/dev/null
wait "$pid"; rc=$?
if [ "$rc" -eq 0 ]; then
    ok "SIGUSR1 came after the run ended (machine too fast): stop not checked"
elif grep -q 'interrupted after' "$T/stop.err"; then
    ok "SIGUSR1 to mpirun: both processes stop together: $(grep -m1 interrupted "$T/stop.err")"
    if $MPIRUN -np 2 $B train $ARGS --batch 1 --out "$T/stop" --epochs 30 --resume "$T/stop/latest.pth" \
        >/dev/null 2>"$T/res.err" && out=$("$T/wdiff" "$T/stop/latest.pth" "$T/full/latest.pth" 0); then
        ok "2 processes resumed = uninterrupted 2-process run, bit for bit: $out"
    else bad "resume: $(tail -n 3 "$T/res.err") $out"; fi
else bad "SIGUSR1: rc=$rc $(tail -n 3 "$T/stop.err")"; fi

# a rank with other options: every process refuses
if $MPIRUN -np 2 sh -c 'exec "$0" "$@" --weight-decay 0.0$OMPI_COMM_WORLD_RANK' $B train $ARGS --batch 1 \
    --out "$T/mismatch" >/dev/null 2>"$T/mm.err"; then bad "different options accepted"
elif grep -q 'process 1 of 2 has other options' "$T/mm.err"; then ok "different options refused: $(grep -m1 'other options' "$T/mm.err")"
else bad "mismatch: $(tail -n 3 "$T/mm.err")"; fi

# the default build (no MPI) under mpirun
if [ -x build/medsam ]; then
    if $MPIRUN -np 2 build/medsam train $ARGS --batch 1 --out "$T/nompi" >/dev/null 2>"$T/nompi.err"; then
        bad "non-MPI build ran under mpirun"
    elif grep -q 'built without MPI' "$T/nompi.err"; then ok "non-MPI build refuses: $(grep -m1 'without MPI' "$T/nompi.err")"
    else bad "non-MPI build: $(tail -n 3 "$T/nompi.err")"; fi
fi
# a rank with other data options (here the 2-D dust threshold; likewise --window / --mr): refused too
if $MPIRUN -np 2 sh -c 'exec "$0" "$@" --min-pixels-2d 10$OMPI_COMM_WORLD_RANK' $B train $ARGS --batch 1 \
    --out "$T/mismatch2" >/dev/null 2>"$T/mm2.err"; then bad "different data options accepted"
elif grep -q 'process 1 of 2 has other options' "$T/mm2.err"; then ok "different data options refused"
else bad "different data options: $(cat "$T/mm2.err")"; fi


summary
