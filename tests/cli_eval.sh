#!/bin/sh
# `medsam eval` against numbers from MedSAM's own evaluation code
# (tools/ref/make_metrics_fixtures.py): the challenge CSV byte for byte as
# compute_metrics.py writes it, per-label DSC / NSD / HD95 to 1e-6 for PNG (8 and
# 16 bit), NIfTI and npz inputs; and bad input: one line on stderr, non-zero exit,
# no output file.
. tests/lib_cli.sh
F=tests/fixtures/metrics/cli

# compare_rows NAME CSV EXPECTED: each "label dsc nsd hd95" line of EXPECTED must match
# the CSV row of that label (columns 2, 3, 4, 7) to 1e-6
compare_rows() {
    if awk -F'[, ]' -v tol=1e-6 '
        function d(a, b) { return (a > b) ? a - b : b - a }
        FNR == NR { if ($1 != "case") { dsc[$2] = $3; nsd[$2] = $4; hd[$2] = $7 } next }
        /^#/ { next }
        { n++; if (!($1 in dsc) || d(dsc[$1], $2) > tol || d(nsd[$1], $3) > tol || d(hd[$1], $4) > tol) {
              printf "label %s: got %s %s %s, official %s %s %s\n", $1, dsc[$1], nsd[$1], hd[$1], $2, $3, $4; bad = 1 } }
        END { exit (bad || n == 0) }' "$2" "$3"; then ok "$1"; else bad "$1"; fi
}

# 1. challenge mode over folders = the official metrics.csv
if $B eval --pred $F/segs --gt $F/gts --challenge --csv "$T/ch.csv" --json "$T/ch.json" -q && cmp -s "$T/ch.csv" $F/expected_challenge.csv; then
    ok "challenge CSV identical to compute_metrics.py's"
else
    bad "challenge CSV differs: $(diff "$T/ch.csv" $F/expected_challenge.csv | tr '\n' ' ')"
fi
if grep -q '"spacing_from": "npz spacing as stored' "$T/ch.json" && grep -q '"challenge": true' "$T/ch.json"; then
    ok "challenge JSON names the spacing it used"
else
    bad "challenge JSON"
fi

# 2. PNG label maps, 8-bit labels 1,2 and 16-bit labels 300,1000 (the same masks)
$B eval --pred $F/png/pred8.png --gt $F/png/gt8.png --csv "$T/p8.csv" -q || bad "png8 run"
compare_rows "PNG 8-bit per-label dsc/nsd/hd95" "$T/p8.csv" $F/expected_png.txt
$B eval --pred $F/png/pred16.png --gt $F/png/gt16.png --csv "$T/p16.csv" -q || bad "png16 run"
sed 's/^gt16.png,300,/gt16.png,1,/; s/^gt16.png,1000,/gt16.png,2,/' "$T/p16.csv" >"$T/p16b.csv"
compare_rows "PNG 16-bit: the labels present (300, 1000)" "$T/p16b.csv" $F/expected_png.txt
$B eval --pred $F/png/pred16.png --gt $F/png/gt16.png --labels 1000 --csv "$T/one.csv" -q || bad "png16 --labels run"
if [ "$(wc -l <"$T/one.csv")" -eq 2 ] && grep -q '^gt16.png,1000,0.7642276422764' "$T/one.csv"; then
    ok "--labels 1000: one row, no mean row"
else
    bad "--labels 1000: $(cat "$T/one.csv" | tr '\n' ' ')"
fi
if grep -q '^gt8.png,mean,' "$T/p8.csv" && [ "$(wc -l <"$T/p8.csv")" -eq 4 ]; then ok "multi-label CSV has a mean row"; else bad "mean row"; fi

# 3. NIfTI: spacing from pixdim, placed on (z, y, x)
$B eval --pred $F/nii/pred.nii --gt $F/nii/case.nii.gz --csv "$T/n.csv" -q || bad "nifti run"
compare_rows "NIfTI (uint8 .nii.gz vs int16 .nii, pixdim 0.8/0.9/2.5)" "$T/n.csv" $F/expected_nii.txt

# 4. npz spacing read as (x, y, z)
$B eval --pred $F/segs/3DBox_CT_a.npz --gt $F/gts/3DBox_CT_a.npz --npz-spacing-xyz --csv "$T/x.csv" -q || bad "npz run"
compare_rows "npz with --npz-spacing-xyz" "$T/x.csv" $F/expected_npz_xyz.txt

# 5. folders: a case missing from pred is skipped with a warning
mkdir -p "$T/segs"
cp $F/segs/2DBox_X_a.npz "$T/segs/"
if $B eval --pred "$T/segs" --gt $F/gts --challenge --csv "$T/part.csv" -q 2>"$T/warn" &&
    [ "$(wc -l <"$T/part.csv")" -eq 2 ] && [ "$(grep -c warning "$T/warn")" -eq 3 ]; then
    ok "folder with missing predictions: evaluated 1, warned 3 times"
else
    bad "folder with missing predictions"
fi

# 6. bad input
printf 'hello' >"$T/junk.png"
head -c 200 $F/png/gt8.png >"$T/trunc.png"
printf '\377\330\377\340 jpeg' >"$T/x.jpg"
expect "shape mismatch" "ground truth is" $B eval --pred $F/png/pred8.png --gt $F/nii/case.nii.gz --csv "$T/out.csv"
expect "missing file" "nope.png" $B eval --pred "$T/nope.png" --gt $F/png/gt8.png --csv "$T/out.csv"
expect "not a label map" "junk.png" $B eval --pred "$T/junk.png" --gt $F/png/gt8.png --csv "$T/out.csv"
expect "truncated PNG" "trunc.png" $B eval --pred "$T/trunc.png" --gt $F/png/gt8.png --csv "$T/out.csv"
expect "JPEG refused" "lossy" $B eval --pred "$T/x.jpg" --gt $F/png/gt8.png --csv "$T/out.csv"
expect "npz without segs" "no array 'segs'" $B eval --pred $F/gts/3DBox_CT_a.npz --gt $F/gts/3DBox_CT_a.npz --csv "$T/out.csv"
expect "labels with challenge" "cannot be combined" $B eval --pred $F/segs --gt $F/gts --challenge --labels 1
expect "bad spacing" "--spacing" $B eval --pred $F/png/pred8.png --gt $F/png/gt8.png --spacing 1,0
expect "bad tolerance" "--tolerance" $B eval --pred $F/png/pred8.png --gt $F/png/gt8.png --tolerance abc
expect "file vs folder" "both be files" $B eval --pred $F/segs --gt $F/png/gt8.png
expect "unwritable csv" "out" $B eval --pred $F/png/pred8.png --gt $F/png/gt8.png --csv "$T/outdir/no/x.csv" -q
expect "challenge 3-D without spacing" "without a spacing" $B eval --pred $F/nospacing/segs --gt $F/nospacing/gts --challenge --csv "$T/out.csv"

# an existing output is never clobbered by a failed run
printf 'keep me' >"$T/keep.csv"
$B eval --pred "$T/junk.png" --gt $F/png/gt8.png --csv "$T/keep.csv" 2>/dev/null
if [ "$(cat "$T/keep.csv")" = "keep me" ]; then ok "failed run keeps the old CSV"; else bad "old CSV overwritten"; fi
if $B eval -h >/dev/null 2>&1; then ok "eval -h"; else bad "eval -h"; fi

summary
