#!/bin/sh
# `medsam segment` with a LiteMedSAM checkpoint: the CVPR24 npz cases reproduce the
# official CVPR24_LiteMedSAM_infer.py's segs (tools/ref/make_lite_e2e_fixtures.py;
# Dice per label from `medsam eval`), --pipeline chooses and refuses as documented,
# and bad choices give one line, a non-zero exit and no output.
. tests/lib_cli.sh
L=tests/fixtures/lite/model.pth
E=tests/fixtures/lite/e2e

# min DSC over the labels of an `medsam eval --json` file (1 when it has none)
min_dsc() { grep -o '"dsc": [0-9.e-]*' "$1" | awk '{ if (!n++ || $2 < m) m = $2 } END { print n ? m : 1 }'; }

for c in lite2d_odd 3D_lite_wide; do
    if $B segment -m $L --npz $E/$c.npz -o "$T/$c.npz" -t 2 2>"$T/err" &&
        $B eval --pred "$T/$c.npz" --gt $E/${c}_expected.npz --gt-key segs --json "$T/$c.json" -q 2>>"$T/err"; then
        d=$(min_dsc "$T/$c.json")
        if awk -v d="$d" 'BEGIN { exit !(d >= 0.999) }'; then ok "--npz $c: min Dice $d vs the official script"
        else bad "--npz $c: min Dice $d"; fi
    else
        bad "--npz $c: $(cat "$T/err")"
    fi
done

# the same 2-D case with the pipeline named: the same file
if $B segment -m $L --npz $E/lite2d_odd.npz -o "$T/named.npz" --pipeline lite -t 2 2>/dev/null &&
    cmp -s "$T/named.npz" "$T/lite2d_odd.npz"; then ok "--pipeline lite = the default for a TinyViT model"
else bad "--pipeline lite differs from the default"; fi

# an image file through the lite pipeline, and through medsam's on the same model
if $B segment -m $L -i tests/fixtures/images/camera.png -b 100,80,400,420 -o "$T/cam.png" -t 2 2>"$T/err" &&
    $B segment -m $L -i tests/fixtures/images/camera.png -b 100,80,400,420 -o "$T/cam_m.png" --pipeline medsam -t 2 \
        2>>"$T/err" && [ -s "$T/cam.png" ] && [ -s "$T/cam_m.png" ]; then
    ok "image file: lite and medsam pipelines both run"
else
    bad "image file: $(cat "$T/err")"
fi

expect "unknown pipeline" "wants medsam, sam, lite" $B segment -m $L --npz $E/lite2d_odd.npz -o "$T/out.npz" --pipeline foo
expect "sam pipeline" "not supported yet" $B segment -m $L --npz $E/lite2d_odd.npz -o "$T/out.npz" --pipeline sam
expect "lite on a ViT at 128" "pipeline 'lite'" $B segment -m tests/fixtures/tiny/model.pth \
    -i tests/fixtures/images/camera.png -b 100,80,400,420 -o "$T/out.png" --pipeline lite
summary
