#!/bin/sh
# medsam baseline: the classical box baseline written as `medsam segment` writes, so that
# `medsam eval` scores it (the exact masks are checked in tests/test_baseline.c).
. tests/lib_cli.sh

F=tests/fixtures/baseline/disks.npz
"$B" baseline --npz $F -o "$T/p.npz" 2>"$T/err" && "$B" eval --pred "$T/p.npz" --gt $F --csv "$T/m.csv" -q >/dev/null &&
    [ "$(grep -c '^disks.npz,[12],1\(\.0*\)\?,1\(\.0*\)\?,' "$T/m.csv")" -eq 2 ] &&
    ok "--npz: both objects exact (eval DSC 1, NSD 1)" || bad "--npz: $(cat "$T/err" "$T/m.csv")"
I=tests/fixtures/images/medsam_demo.png
"$B" baseline -i $I -b 95,255,190,350 -o "$T/one.png" --overlay "$T/ov.png" 2>"$T/err" && [ -s "$T/ov.png" ] &&
    "$B" eval --pred "$T/one.png" --gt "$T/one.png" -q >/dev/null && ok "PNG mask + overlay" || bad "PNG: $(cat "$T/err")"
"$B" baseline -i $I -b 95,255,190,350 -b 280,240,370,330 -o "$T/two.png" 2>"$T/err" &&
    "$B" eval --pred "$T/two.png" --gt "$T/two.png" --csv "$T/two.csv" -q >/dev/null &&
    grep -q '^two.png,1,' "$T/two.csv" && grep -q '^two.png,2,' "$T/two.csv" && ok "two boxes: labels 1 and 2" ||
    bad "two boxes: $(cat "$T/err")"
expect "box outside" "lies outside\|must satisfy" "$B" baseline -i $I -b 95,255,190,600 -o "$T/out.png"
expect "missing image" "nope.png" "$B" baseline -i "$T/nope.png" -b 1,1,5,5 -o "$T/out.png"
"$B" synth --out "$T/s" --count 1 --size 64 --threads 1 >/dev/null 2>&1
expect "npz without boxes" "'imgs' and 'boxes'" "$B" baseline --npz "$T/s/synth_ct_000000.npz" -o "$T/out.npz"
"$B" baseline -i $I -o "$T/out.png" >/dev/null 2>&1; [ $? -eq 2 ] && ok "no box: usage error" || bad "no box"
summary
