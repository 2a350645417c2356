#!/bin/sh
# `medsam init`: writes a loadable, deterministic random-initialised checkpoint;
# bad arguments give one line on stderr, a non-zero exit and no file. When
# Debian's python3 with torch and the official checkout are present, the file
# is also checked against torch.manual_seed + the official modules (bit for bit,
# and load_state_dict(strict=True)).
. tests/lib_cli.sh
IMG=tests/fixtures/images/camera.png


# a tiny checkpoint, twice with the same seed and once with another
if $B init --arch tiny --seed 3 -o "$T/a.pth" >"$T/stdout" 2>&1 && grep -q "tiny, seed 3, 202 tensors, 342248 parameters" "$T/stdout"
then ok "init tiny: $(cat "$T/stdout")"; else bad "init tiny: $(cat "$T/stdout")"; fi
$B init --arch tiny --seed 3 -o "$T/b.pth" >/dev/null 2>&1
$B init --arch tiny --seed 4 -o "$T/c.pth" >/dev/null 2>&1
if cmp -s "$T/a.pth" "$T/b.pth"; then ok "same seed, same bytes"; else bad "same seed gives different files"; fi
if [ -s "$T/c.pth" ] && ! cmp -s "$T/a.pth" "$T/c.pth"; then ok "other seed, other bytes"; else bad "seeds 3 and 4 give the same file"; fi

# the checkpoint loads and runs
if $B info -m "$T/a.pth" 2>&1 | grep -q "embed 48, depth 4"; then ok "info reads it"; else bad "info: $($B info -m "$T/a.pth" 2>&1)"; fi
if $B segment -m "$T/a.pth" -i "$IMG" -b 10,10,200,200 -o "$T/mask.png" -t 1 >/dev/null 2>&1 && [ -s "$T/mask.png" ]
then ok "segment runs with it"; else bad "segment with the init checkpoint failed"; fi

# the default architecture is vit_b (checked by name only: no 375 MB write here)
if $B init -h | grep -q "vit_b (default)"; then ok "init -h"; else bad "init -h"; fi

# against PyTorch, when available
if /usr/bin/python3 -c "import torch" >/dev/null 2>&1 && [ -d "${SAM_REF_DIR:-/work/ref/MedSAM}/segment_anything" ]; then
    if out=$(/usr/bin/python3 tools/ref/check_init.py "$T/a.pth" tiny 3 2>&1); then ok "torch: $out"
    else bad "torch check: $out"; fi
else
    echo "skip torch check (no /usr/bin/python3 with torch, or no official checkout)"
fi

expect "unknown arch" "unknown architecture 'vit_q'" $B init --arch vit_q -o "$T/out.pth"
expect "negative seed" "--seed wants" $B init --seed -1 -o "$T/out.pth"
expect "non-numeric seed" "--seed wants" $B init --seed abc -o "$T/out.pth"
expect "seed over 64 bits" "--seed wants" $B init --seed 99999999999999999999999 -o "$T/out.pth"
expect "missing -o" "missing -o" $B init --arch tiny
expect "option without value" "needs a value" $B init --arch tiny -o
expect "unknown option" "unknown option '--bogus'" $B init --bogus -o "$T/out.pth"
expect "unwritable output" "cannot create" $B init --arch tiny -o "$T/no/dir/out.pth"
summary
