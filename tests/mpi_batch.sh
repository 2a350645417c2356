#!/bin/sh
# `medsam segment --batch` over MPI (run by `make test-mpi`, not `make test`: it needs
# OpenMPI, Debian packages libopenmpi-dev and openmpi-bin). A CSV list of 9 LiteMedSAM
# cases (npz cases, 2-D boxes on a PNG, a bad row, a missing file) run by 1 process and
# by mpirun -np 2 and -np 3: the outputs are the same bytes, the merged timing CSV has
# the same rows (row, case, status, message) in the same order, only the seconds differ;
# every rank took cases from the shared counter; exit codes agree; a rerun skips all.
. tests/lib_mpi.sh
B=$(pwd)/build-mpi/medsam
L=$(pwd)/tests/fixtures/lite/model.pth
E=tests/fixtures/lite/e2e
cp $E/lite2d_odd.npz $E/lite2d_up.npz $E/3D_lite_blob.npz tests/fixtures/images/camera.png "$T/"
{
    echo "input,boxes,output"
    for r in a b c; do
        echo "lite2d_odd.npz,,OUT/$r-odd.npz"
        echo "camera.png,\"100,100,300,300;40,50,200,260\",OUT/$r-cam.png"
    done
    echo "lite2d_up.npz,,OUT/up.npz"
    echo "camera.png,\"1,2\",OUT/bad.png"
    echo "nothere.png,\"1,2,3,4\",OUT/nothere.png"
} >"$T/list.csv"
for run in 1 2 3; do
    sed "s|OUT/|out$run/|" "$T/list.csv" >"$T/list$run.csv"
    if [ $run -eq 1 ]; then
        (cd "$T" && $B segment -m $L --batch list1.csv -t 1 2>err1.txt); rc=$?
    else
        (cd "$T" && $MPIRUN -np $run $B segment -m $L --batch list$run.csv -t 1 2>err$run.txt); rc=$?
    fi
    echo "$rc" >"$T/rc$run"
done
same=1
for f in a-odd.npz b-odd.npz c-odd.npz a-cam.png b-cam.png c-cam.png up.npz; do
    for run in 2 3; do cmp -s "$T/out1/$f" "$T/out$run/$f" || same=0; done
done
if [ $same -eq 1 ] && [ "$(ls "$T/out1" | wc -l)" -eq 7 ]
then ok "1, 2 and 3 processes: the same 7 output files, byte for byte"; else bad "outputs differ between process counts"; fi
for run in 2 3; do
    cut -d, -f1-3,5- "$T/list1-efficiency.csv" | sed 's|out1/|OUT/|g' >"$T/c1"
    cut -d, -f1-3,5- "$T/list$run-efficiency.csv" | sed "s|out$run/|OUT/|g" >"$T/c$run"
    if cmp -s "$T/c1" "$T/c$run" && [ "$(wc -l <"$T/c1")" -eq 10 ]
    then ok "-np $run: merged timing CSV equals the 1-process one but for the seconds"
    else bad "-np $run: CSV differs: $(diff "$T/c1" "$T/c$run")"; fi
    ranks=0
    for r in $(seq 0 $((run - 1))); do grep -q "(rank $r of $run)" "$T/err$run.txt" && ranks=$((ranks + 1)); done
    if [ $ranks -eq $run ]; then ok "-np $run: every rank ran cases"; else bad "-np $run: $ranks of $run ranks ran cases"; fi
    if [ "$(cat "$T/rc$run")" = "$(cat "$T/rc1")" ] && [ "$(cat "$T/rc1")" -eq 1 ]
    then ok "-np $run: exit code 1 as one process (a bad row, a missing file)"; else bad "-np $run: rc $(cat "$T/rc$run") vs $(cat "$T/rc1")"; fi
done
if [ "$(grep -c '^medsam: batch: ' "$T/err2.txt")" -eq 1 ] && grep -q '9 case(s): 7 ok, 0 skipped, 1 failed, 1 bad row(s)' "$T/err2.txt"
then ok "-np 2: one summary (rank 0): 7 ok, 1 failed, 1 bad row"; else bad "-np 2 summary: $(grep 'batch:' "$T/err2.txt")"; fi
(cd "$T" && $MPIRUN -np 2 $B segment -m $L --batch list2.csv -t 1 2>err2b.txt)
if [ "$(grep -c ',skipped,[0-9.][0-9.]*,' "$T/list2-efficiency.csv")" -eq 7 ]
then ok "-np 2 rerun: the 7 finished cases skipped, their times kept"; else bad "rerun: $(cat "$T/list2-efficiency.csv")"; fi
summary
