#!/bin/sh
# `medsam segment --batch`: a folder of CVPR24 npz cases and a CSV list (2-D boxes,
# several boxes, 3-D boxes, npz cases) give byte for byte the files of single runs;
# bad rows and failing cases are reported by row and the others go on (exit 1);
# outputs that exist are skipped with their earlier times kept (resume); Ctrl-C stops
# after the running case (exit 130) and a rerun finishes the list; usage errors are
# one line, exit 2. The LiteMedSAM test model keeps it fast.
. tests/lib_cli.sh
L=tests/fixtures/lite/model.pth
E=tests/fixtures/lite/e2e
BA=$(cd "$(dirname "$B")" && pwd)/medsam # the binary from another folder
mkdir -p "$T/npz" "$T/list/img"
cp $E/lite2d_odd.npz $E/lite2d_up.npz $E/3D_lite_blob.npz "$T/npz/"
cp tests/fixtures/images/camera.png tests/fixtures/images/cell.png "$T/list/img/"
cp $E/3D_lite_blob.npz "$T/list/img/blob.npz"

# ---- folder of npz cases
if $B segment -m $L --batch "$T/npz" -o "$T/npz_out" -t 2 2>"$T/err"; then ok "folder: exit 0"; else bad "folder: $(cat "$T/err")"; fi
same=0
for c in lite2d_odd lite2d_up 3D_lite_blob; do
    $B segment -m $L --npz "$T/npz/$c.npz" -o "$T/single_$c.npz" -t 2 2>/dev/null
    cmp -s "$T/single_$c.npz" "$T/npz_out/$c.npz" && same=$((same + 1))
done
if [ $same -eq 3 ]; then ok "folder: 3 outputs equal to single runs"; else bad "folder: $same of 3 equal single runs"; fi
E1=$T/npz_out/efficiency.csv
if [ "$(head -1 "$E1")" = "row,case,status,seconds,message" ] && [ "$(grep -c ',ok,[0-9.]*,$' "$E1")" -eq 3 ] &&
   [ "$(sed -n 2p "$E1" | cut -d, -f2)" = "3D_lite_blob.npz" ]
then ok "folder: efficiency.csv, 3 ok rows in name order"; else bad "folder: efficiency.csv: $(cat "$E1")"; fi
if grep -q '^medsam: \[3/3\] .*lite2d_up.npz: ok [0-9.]* s | [0-9.]* cases/min, ETA 0m00s$' "$T/err" &&
   grep -q '^medsam: batch: 3 case(s): 3 ok, 0 skipped, 0 failed, 0 bad row(s) in' "$T/err"
then ok "folder: progress lines with cases/min and ETA, summary"; else bad "folder: progress: $(cat "$T/err")"; fi

# ---- CSV list: relative paths from the list's folder, other columns ignored, quoting
cat >"$T/list/cases.csv" <<'EOF'
id,input,boxes,output,note
1,img/camera.png,"100,100,300,300",out/cam1.png,one box
2,img/camera.png,"[100,100,300,300]; [50,60,120,200]",out/sub/cam2.png,"two boxes, quoted ""note"""
3,img/cell.png,"1,2,3",out/bad.png,three numbers
4,img/missing.png,"10,10,50,50",out/missing.png,no such file
5,img/blob.npz,,out/blob.npz,npz case
6,img/cell.png,"10,10,9000,60",out/outside.png,box outside
7,img/blob.npz,"20,20,3,60,60,7",out/blob3d.npz,3-D box on a volume
8,img/cell.png,"10,10,50,50;1,1,2,3,4,5",out/mixed.png,mixed kinds
EOF
(cd "$T" && $BA segment -m "$OLDPWD/$L" --batch list/cases.csv -t 2 2>err.csv.txt); rc=$?
EC=$T/list/cases-efficiency.csv
if [ $rc -eq 1 ]; then ok "list: exit 1 (bad rows and failures)"; else bad "list: exit $rc: $(cat "$T/err.csv.txt")"; fi
st=$(tail -n +2 "$EC" | cut -d, -f1,3 | tr '\n' ' ')
if [ "$st" = "1,ok 2,ok 3,bad-row 4,error 5,ok 6,error 7,ok 8,bad-row " ]
then ok "list: statuses by row: $st"; else bad "list: statuses: $st / $(cat "$EC")"; fi
if grep -q '^4,missing.png,error,[0-9.]*,.*img/missing.png: cannot open' "$EC" &&
   grep -q '^6,cell.png,error,[0-9.]*,".*box 1 (10,10,9000,60) lies outside the' "$EC" &&
   grep -q "row 3: box 1 '1,2,3' is not 4 numbers" "$T/err.csv.txt" && grep -q "row 8: box 2 has 6 numbers, box 1 has 4" "$T/err.csv.txt"
then ok "list: the failing cases' messages in the CSV, bad rows named by row"; else bad "list: messages: $(cat "$EC" "$T/err.csv.txt")"; fi
$B segment -m $L -i "$T/list/img/camera.png" -b 100,100,300,300 -o "$T/s1.png" -t 2 2>/dev/null
$B segment -m $L -i "$T/list/img/camera.png" -b 100,100,300,300 -b 50,60,120,200 -o "$T/s2.png" -t 2 2>/dev/null
$B segment -m $L --npz "$T/list/img/blob.npz" -o "$T/s5.npz" -t 2 2>/dev/null
$B segment -m $L -i "$T/list/img/blob.npz" -B 20,20,3,60,60,7 -o "$T/s7.npz" -t 2 2>/dev/null
if cmp -s "$T/s1.png" "$T/list/out/cam1.png" && cmp -s "$T/s2.png" "$T/list/out/sub/cam2.png" &&
   cmp -s "$T/s5.npz" "$T/list/out/blob.npz" && cmp -s "$T/s7.npz" "$T/list/out/blob3d.npz"
then ok "list: 4 outputs equal to single runs (1 box, 2 boxes, npz case, 3-D box)"; else bad "list: outputs differ from single runs"; fi
if [ ! -e "$T/list/out/bad.png" ] && [ ! -e "$T/list/out/outside.png" ] && [ ! -e "$T/list/out/missing.png" ]
then ok "list: no output for bad rows and failed cases"; else bad "list: outputs left by failures"; fi

# ---- rerun: finished cases skipped with their times, failures retried
t1=$(grep '^1,' "$EC" | cut -d, -f4)
(cd "$T" && $BA segment -m "$OLDPWD/$L" --batch list/cases.csv -t 2 2>err2.txt); rc=$?
if [ $rc -eq 1 ] && [ "$(grep '^1,' "$EC" | cut -d, -f3,4)" = "skipped,$t1" ] &&
   [ "$(grep -c ',skipped,' "$EC")" -eq 4 ] && grep -q 'skipped, .*out/cam1.png exists' "$T/err2.txt"
then ok "rerun: 4 existing outputs skipped, their times kept ($t1 s)"; else bad "rerun: rc=$rc $(cat "$EC")"; fi
rm "$T/list/out/sub/cam2.png"
(cd "$T" && $BA segment -m "$OLDPWD/$L" --batch list/cases.csv -t 2 2>err3.txt)
if [ "$(grep '^2,' "$EC" | cut -d, -f3)" = "ok" ] && cmp -s "$T/s2.png" "$T/list/out/sub/cam2.png"
then ok "rerun: a deleted output is made again"; else bad "rerun after delete: $(cat "$EC")"; fi

# ---- Ctrl-C: the running case finishes, the batch stops (130); a rerun completes it
mkdir -p "$T/many"
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do cp $E/lite2d_odd.npz "$T/many/c$i.npz"; done
# (a background job of a non-interactive shell ignores SIGINT: give the default back)
env --default-signal=INT $B segment -m $L --batch "$T/many" -o "$T/many_out" -t 1 2>"$T/int.txt" &
pid=$!
n=0
while [ $n -lt 300 ] && ! grep -q '^medsam: \[1/12\]' "$T/int.txt" 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
kill -INT $pid
wait $pid; rc=$?
done1=$(ls "$T/many_out" | grep -c '^c.*\.npz$')
if [ $rc -eq 130 ] && [ "$done1" -ge 1 ] && [ "$done1" -lt 12 ] && grep -q ',pending,' "$T/many_out/efficiency.csv" &&
   ! ls "$T/many_out" | grep -q tmp
then ok "Ctrl-C: exit 130 after $done1 of 12 cases, no partial file, CSV marks the rest pending"
else bad "Ctrl-C: rc=$rc done=$done1 $(tail -3 "$T/int.txt")"; fi
if $B segment -m $L --batch "$T/many" -o "$T/many_out" -t 2 2>"$T/res.txt" &&
   [ "$(grep -c ',skipped,[0-9.][0-9.]*,' "$T/many_out/efficiency.csv")" -eq "$done1" ] &&
   [ "$(grep -c ',ok,' "$T/many_out/efficiency.csv")" -eq $((12 - done1)) ] && ! ls "$T/many_out" | grep -q '\.part'
then ok "resume: $((12 - done1)) run, $done1 skipped with the times of the interrupted run, journal removed"
else bad "resume: $(cat "$T/many_out/efficiency.csv" "$T/res.txt")"; fi

# ---- usage errors: one line, exit 2
expect_usage() {
    name=$1; text=$2; shift 2
    "$@" >"$T/stdout" 2>"$T/stderr"; rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$T/stderr")" -eq 1 ] && grep -q -- "$text" "$T/stderr"
    then ok "$name: $(cat "$T/stderr")"; else bad "$name: rc=$rc $(cat "$T/stderr")"; fi
}
expect_usage "per-case option" "-b is per case" $B segment -m $L --batch "$T/npz" -o "$T/x" -b 1,2,3,4
expect_usage "folder without -o" "give -o OUTDIR" $B segment -m $L --batch "$T/npz"
expect_usage "list with -o" "no -o" $B segment -m $L --batch "$T/list/cases.csv" -o "$T/x"
printf 'file,box,out\na.png,"1,2,3,4",b.png\n' >"$T/nohead.csv"
expect_usage "no header" "header naming the columns input, boxes and output" $B segment -m $L --batch "$T/nohead.csv"
expect_usage "missing list" "--batch $T/nope.csv" $B segment -m $L --batch "$T/nope.csv"
printf 'input,boxes,output\n"a.png,1,1\n' >"$T/quote.csv"
expect_usage "unclosed quote" "line 2: a quoted field is not closed" $B segment -m $L --batch "$T/quote.csv"
$B segment -m $L --batch "$T/npz" -o "$T/bad_opt" --frobnicate 3 2>"$T/stderr"; rc=$?
if [ $rc -eq 2 ] && grep -q "stopped: the options given to every case were refused" "$T/stderr" &&
   [ "$(grep -c '\] ' "$T/stderr")" -eq 1 ]
then ok "a bad shared option stops the batch after the first case (exit 2)"; else bad "bad shared option: rc=$rc $(cat "$T/stderr")"; fi
summary
