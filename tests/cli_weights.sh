#!/bin/sh
# Model files in other containers and namings through the command line:
# `medsam convert` (official and transformers names, round trip), the same
# masks and logits from every layout, and refusals of broken safetensors files
# (one line naming the file, exit 1, nothing written).
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth
HF=tests/fixtures/weights/tiny_hf.safetensors
SLIM=tests/fixtures/weights/slim/model.safetensors
IMG=tests/fixtures/images/camera.png

# convert, both layouts, and back
if $B convert "$M" "$T/sam.safetensors" >"$T/stdout" 2>&1 && grep -q "202 tensors, 342248 values, float32, official layout" "$T/stdout"
then ok "convert .pth -> safetensors: $(cat "$T/stdout")"; else bad "convert: $(cat "$T/stdout")"; fi
$B convert "$M" "$T/hf.safetensors" --layout hf >"$T/stdout" 2>&1 && grep -q "transformers SamModel layout" "$T/stdout" \
    && ok "convert --layout hf" || bad "convert --layout hf: $(cat "$T/stdout")"
$B convert "$T/hf.safetensors" "$T/back.safetensors" >/dev/null 2>&1
if cmp -s "$T/sam.safetensors" "$T/back.safetensors"; then ok "official -> HF -> official gives the same bytes"
else bad "round trip through the HF layout changed the file"; fi
$B convert "$HF" "$T/py.safetensors" >/dev/null 2>&1
if $B info -m "$T/py.safetensors" 2>&1 | grep -q "342248 in 202 tensors"; then ok "Python-made HF file converts to a loadable one"
else bad "convert of the Python-made HF file"; fi
if $B info -m "$T/hf.safetensors" 2>&1 | grep -q "342248 in 202 tensors$"; then ok "info on an HF file: no extra tensors"
else bad "info: $($B info -m "$T/hf.safetensors" 2>&1)"; fi

# the same masks and logits from every layout
$B segment -m "$M" -i "$IMG" -b 20,30,300,250 -o "$T/ref.png" --logits "$T/ref.npy" -t 1 >/dev/null 2>&1
for f in "$T/sam.safetensors" "$T/hf.safetensors" "$HF"; do
    rm -f "$T/m.png" "$T/m.npy"
    $B segment -m "$f" -i "$IMG" -b 20,30,300,250 -o "$T/m.png" --logits "$T/m.npy" -t 1 >/dev/null 2>&1
    if [ -s "$T/ref.npy" ] && cmp -s "$T/ref.png" "$T/m.png" && cmp -s "$T/ref.npy" "$T/m.npy"; then ok "segment with $(basename "$f"): identical mask and logits"
    else bad "segment with $f differs from the .pth"; fi
done

# usage errors: exit 2
for args in "" "$M" "$M $T/out.pth" "$M $T/out.safetensors --layout x" "$M $T/out.safetensors --nope"; do
    # shellcheck disable=SC2086
    $B convert $args >/dev/null 2>&1; rc=$?
    if [ "$rc" -eq 2 ] && ! ls "$T"/out* >/dev/null 2>&1; then ok "convert usage '$args': exit 2"; else bad "convert usage '$args': rc=$rc"; fi
done
$B convert -h | grep -q "layout hf" && ok "convert -h" || bad "convert -h"

# broken safetensors files: 8-byte little-endian length + header (+ data)
st() { # st FILE HEADER DATA_BYTES [CLAIMED_LENGTH]
    n=${4:-${#2}}
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o\\%03o\\%03o\\%03o\\%03o' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) \
        $((n >> 24 & 255)) $((n >> 32 & 255)) 0 0 0)" >"$1"
    printf '%s' "$2" >>"$1"
    head -c "$3" /dev/zero >>"$1"
}
A='"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
st "$T/past_end.safetensors" "{$A}" 4
st "$T/big_header.safetensors" "{$A}" 8 2147483648
st "$T/overlap.safetensors" "{$A,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}" 12
st "$T/dtype.safetensors" '{"a":{"dtype":"F8_E5M2","shape":[8],"data_offsets":[0,8]}}' 8
st "$T/json.safetensors" "{$A,}" 8
st "$T/dup.safetensors" "{$A,$A}" 8
st "$T/count.safetensors" '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}' 8
st "$T/not_sam.safetensors" "{$A}" 8
head -c 300000 "$SLIM" >"$T/truncated.safetensors"
# a tensor of the right size but the wrong shape: (116,28) -> (28,116) in the header of a SlimSAM-shaped file
cp "$SLIM" "$T/misshapen.safetensors"
off=$(grep -abo '"vision_encoder.layers.1.mlp.lin1.weight":{"dtype":"F32","shape":\[116,28\]' "$SLIM" | head -1 | cut -d: -f1)
key='"vision_encoder.layers.1.mlp.lin1.weight":{"dtype":"F32","shape":'
printf '[28,116]' | dd of="$T/misshapen.safetensors" bs=1 seek=$((off + ${#key})) conv=notrunc 2>/dev/null

for c in "info -m" "segment -i $IMG -b 1,1,50,50 -o $T/out.png -m" "convert"; do
    tail=""; [ "$c" = convert ] && tail="$T/out.safetensors"
    # shellcheck disable=SC2086
    {
    expect "$c: offsets past the end" "past_end.safetensors: tensor 'a': data_offsets \[0, 8\] run past the end" $B $c "$T/past_end.safetensors" $tail
    expect "$c: 2 GB header" "big_header.safetensors: safetensors header length 2147483648 is outside" $B $c "$T/big_header.safetensors" $tail
    expect "$c: overlapping tensors" "overlap.safetensors: tensor 'b': data_offsets \[4, 12\] overlap tensor 'a'" $B $c "$T/overlap.safetensors" $tail
    expect "$c: unsupported dtype" "dtype.safetensors: tensor 'a': dtype \"F8_E5M2\" is not supported" $B $c "$T/dtype.safetensors" $tail
    expect "$c: bad JSON" "json.safetensors: header: JSON: object key" $B $c "$T/json.safetensors" $tail
    expect "$c: duplicate names" "dup.safetensors: header: JSON: duplicate key \"a\"" $B $c "$T/dup.safetensors" $tail
    expect "$c: byte count" "count.safetensors: tensor 'a': 8 bytes for 3 F32 elements" $B $c "$T/count.safetensors" $tail
    expect "$c: truncated file" "truncated.safetensors: tensor .* run past the end of the data" $B $c "$T/truncated.safetensors" $tail
    expect "$c: missing tensor" "not_sam.safetensors: missing tensor 'image_encoder.patch_embed.proj.weight'" $B $c "$T/not_sam.safetensors" $tail
    expect "$c: misshapen tensor" "misshapen.safetensors: tensor 'vision_encoder.layers.1.mlp.lin1.weight': expected shape (116,28), got (28,116)" $B $c "$T/misshapen.safetensors" $tail
    }
done
summary
