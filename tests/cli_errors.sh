#!/bin/sh
# Bad input through the `medsam` command: one line on stderr naming the
# problem, a non-zero exit, and no output file left behind.
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth
IMG=tests/fixtures/images/camera.png

head -c 100000 "$M" >"$T/truncated.pth"
printf 'not a checkpoint at all' >"$T/garbage.pth"
head -c 3000 "$IMG" >"$T/truncated.png"
printf 'hello' >"$T/notimage.png"

expect "missing checkpoint" "no_such.pth" $B segment -m "$T/no_such.pth" -i "$IMG" -b 1,1,50,50 -o "$T/out.png"
expect "truncated checkpoint" "truncated.pth" $B segment -m "$T/truncated.pth" -i "$IMG" -b 1,1,50,50 -o "$T/out.png"
expect "not a checkpoint" "garbage.pth" $B info -m "$T/garbage.pth"
for f in tests/fixtures/pth/malicious*.pth; do
    [ -e "$f" ] || continue
    expect "malicious pickle $(basename "$f")" "refusing" $B segment -m "$f" -i "$IMG" -b 1,1,50,50 -o "$T/out.png"
done
expect "missing image" "nope.png" $B segment -m "$M" -i "$T/nope.png" -b 1,1,50,50 -o "$T/out.png"
expect "truncated image" "truncated.png" $B segment -m "$M" -i "$T/truncated.png" -b 1,1,50,50 -o "$T/out.png"
expect "not an image" "notimage.png" $B embed -m "$M" -i "$T/notimage.png" -o "$T/out.npy"
expect "box outside image" "outside" $B segment -m "$M" -i "$IMG" -b 10,10,600,50 -o "$T/out.png"
expect "box x1<=x0" "x0 < x1" $B segment -m "$M" -i "$IMG" -b 50,10,40,60 -o "$T/out.png"
expect "negative box" "outside" $B segment -m "$M" -i "$IMG" -b -5,10,40,60 -o "$T/out.png"
expect "malformed box" "not x0,y0,x1,y1" $B segment -m "$M" -i "$IMG" -b 1,2,3 -o "$T/out.png"
expect "bad thread count" "threads" $B embed -m "$M" -i "$IMG" -o "$T/out.npy" --threads 0
expect "unwritable output" "cannot create" $B segment -m "$M" -i "$IMG" -b 1,1,50,50 -o "$T/no/dir/out.png"
expect "embedding of the wrong size" "expects" $B segment -m "$M" -i "$IMG" -b 1,1,50,50 -o "$T/out.png" --embedding tests/fixtures/tiny/params.npy

# an existing output is never clobbered by a failed run
printf 'keep me' >"$T/keep.png"
$B segment -m "$T/truncated.pth" -i "$IMG" -b 1,1,50,50 -o "$T/keep.png" 2>/dev/null
if [ "$(cat "$T/keep.png")" = "keep me" ]; then pass=$((pass + 1)); echo "ok   failed run keeps the old output"; else fail=$((fail + 1)); echo "FAIL old output overwritten"; fi

# and -h works everywhere
for c in info embed segment preprocess; do
    if $B $c -h >/dev/null 2>&1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $c -h"; fi
done
summary
