#!/bin/sh
# medsam synth: writes npz cases + cases.csv, reproducibly, resumes, and its output trains.
. tests/lib_cli.sh

"$B" synth --out "$T/a" --count 6 --size 64 --seed 3 --threads 2 2>/dev/null && [ -f "$T/a/cases.csv" ] &&
    [ "$(ls "$T/a" | grep -c '\.npz$')" -eq 6 ] && ok "6 cases + cases.csv" || bad "synth wrote $(ls "$T/a" | tr '\n' ' ')"
"$B" synth --out "$T/b" --count 3 --start 3 --size 64 --seed 3 --threads 1 2>/dev/null
same=1; for f in "$T"/b/*.npz; do cmp -s "$f" "$T/a/$(basename "$f")" || same=0; done
[ "$same" -eq 1 ] && ok "cases 3..5 alone are the same files" || bad "cases 3..5 differ when made alone"
rm "$T"/a/synth_ct_000000.npz
"$B" synth --out "$T/a" --count 6 --size 64 --seed 3 2>/dev/null && [ -f "$T/a/synth_ct_000000.npz" ] &&
    ok "a missing case is written again" || bad "resume"
grep -q '^synth_us_000002,us,' "$T/a/cases.csv" && ok "cases.csv names modality" || bad "cases.csv: $(head -3 "$T/a/cases.csv")"
"$B" synth --out "$T/c" --modality pet >/dev/null 2>&1; [ $? -eq 2 ] && ok "unknown modality: usage error" || bad "unknown modality"
"$B" synth --count 3 >/dev/null 2>&1; [ $? -eq 2 ] && ok "no --out: usage error" || bad "no --out"
"$B" train --data "$T/a" --init tests/fixtures/tiny/model.pth --out "$T/run" --epochs 1 --batch 2 --val-fraction 0 \
    --threads 2 >/dev/null 2>&1 && [ -f "$T/run/latest.pth" ] && ok "medsam train runs on synth output" || bad "train on synth output"
summary
