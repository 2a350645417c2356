#!/bin/sh
# The bundled default model: used when -m is absent (segment, info, embed, volumes, serve),
# found through $MEDSAM_DEFAULT_MODEL, next to the binary (../models/) or in the installed
# share dir (../share/medsam/), its SHA-256 checked; missing or corrupt files refused with
# one line naming the file and `make default-model`. The stand-in is the tiny CI model as
# float16 safetensors (no trained weights are committed yet).
. tests/lib_cli.sh

M=tests/fixtures/tiny/model.pth
I=tests/fixtures/images/camera.png
mkdir -p "$T/bin" "$T/models" "$T/share/medsam"
cp "$B" "$T/bin/medsam"
D=$T/models/medsam-small.safetensors
"$B" convert $M "$D" --dtype f16 >"$T/conv.txt" 2>&1 && grep -q float16 "$T/conv.txt" &&
    ok "convert --dtype f16" || bad "convert --dtype f16: $(cat "$T/conv.txt")"
sz32=$(wc -c <$M); sz16=$(wc -c <"$D")
[ "$sz16" -lt $((sz32 * 6 / 10)) ] && ok "f16 file is about half: $sz16 of $sz32 bytes" || bad "f16 size $sz16 vs $sz32"
(cd "$T/models" && sha256sum medsam-small.safetensors >medsam-small.sha256)

# found next to the binary (bin/medsam -> ../models/), no -m
"$T/bin/medsam" info >"$T/info.txt" 2>"$T/err.txt" && grep -q "^$T/models/medsam-small.safetensors\$" "$T/info.txt" &&
    grep -q "parameters: 342248" "$T/info.txt" && ok "info without -m describes ../models/medsam-small.safetensors" ||
    bad "info without -m: $(cat "$T/info.txt" "$T/err.txt")"
"$T/bin/medsam" segment -i $I -b 20,30,200,220 -o "$T/def.png" --threads 2 2>"$T/err.txt" &&
    "$B" segment -m "$D" -i $I -b 20,30,200,220 -o "$T/explicit.png" --threads 2 2>>"$T/err.txt" &&
    cmp -s "$T/def.png" "$T/explicit.png" && ok "segment without -m = segment -m the default file" ||
    bad "segment without -m: $(cat "$T/err.txt")"
"$T/bin/medsam" embed -i $I -o "$T/emb.npy" --threads 2 2>"$T/err.txt" && [ -s "$T/emb.npy" ] &&
    ok "embed without -m" || bad "embed without -m: $(cat "$T/err.txt")"

# the installed layout: bin/medsam -> ../share/medsam/
mv "$D" "$T/models/medsam-small.sha256" "$T/share/medsam/"
"$T/bin/medsam" info >"$T/info.txt" 2>&1 && grep -q "^$T/share/medsam/medsam-small.safetensors\$" "$T/info.txt" &&
    ok "info without -m finds ../share/medsam/" || bad "share dir: $(cat "$T/info.txt")"

# $MEDSAM_DEFAULT_MODEL points the lookup elsewhere (the checksum file beside it)
S=$T/share/medsam/medsam-small.safetensors
MEDSAM_DEFAULT_MODEL=$S "$B" segment -i $I -b 20,30,200,220 -o "$T/env.png" --threads 2 2>"$T/err.txt" &&
    cmp -s "$T/env.png" "$T/explicit.png" && ok "MEDSAM_DEFAULT_MODEL" || bad "MEDSAM_DEFAULT_MODEL: $(cat "$T/err.txt")"

# refused: missing, corrupt, truncated, no checksum; -m still works past a broken default
expect "missing default model" "none.safetensors: the default model is missing: rebuild it with \`make default-model\`" \
    env MEDSAM_DEFAULT_MODEL="$T/none.safetensors" "$B" segment -i $I -b 20,30,200,220 -o "$T/out.png"
mv "$S" "$T/s.bak"
expect "clone without weights (info)" "$T/models/medsam-small.safetensors: the default model is missing" \
    "$T/bin/medsam" info
cp "$T/s.bak" "$S"
printf '\001' | dd of="$S" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect "one flipped byte" "medsam-small.safetensors: SHA-256 .* does not match .*medsam-small.sha256 .*truncated or corrupt; rebuild it with \`make default-model\` .* or pass -m MODEL" \
    env MEDSAM_DEFAULT_MODEL="$S" "$B" segment -i $I -b 20,30,200,220 -o "$T/out.png"
head -c 100000 "$T/s.bak" >"$S"
expect "truncated (info)" "does not match" env MEDSAM_DEFAULT_MODEL="$S" "$B" info
expect "truncated (volume segment)" "does not match" env MEDSAM_DEFAULT_MODEL="$S" "$B" segment \
    -i tests/fixtures/metrics/cli/nii/case.nii.gz -B 1,1,0,5,5,2 -o "$T/out.nii.gz"
expect "truncated (serve)" "does not match" env MEDSAM_DEFAULT_MODEL="$S" "$B" serve --port 0
cp "$T/s.bak" "$S"
rm "$T/share/medsam/medsam-small.sha256"
expect "no checksum file" "checksum file .*medsam-small.sha256 is missing" env MEDSAM_DEFAULT_MODEL="$S" "$B" info
MEDSAM_DEFAULT_MODEL="$T/none.safetensors" "$B" segment -m "$T/s.bak" -i $I -b 20,30,200,220 -o "$T/m.png" \
    --threads 2 2>/dev/null && cmp -s "$T/m.png" "$T/explicit.png" && ok "-m bypasses the default (and its checksum)" ||
    bad "-m with a broken default"
"$B" convert $M "$T/out.safetensors" --dtype f8 >/dev/null 2>&1; [ $? -eq 2 ] && ok "--dtype f8: usage error" || bad "--dtype f8"

# the README's quick start with the model in the repository: checksum, mask and overlay of the bundled CT slice,
# the mask inside the box and covering part of it
if [ -f models/medsam-small.safetensors ]; then
    if (cd models && sha256sum -c --quiet medsam-small.sha256) && [ "$(wc -c <models/medsam-small.safetensors)" -le 41943040 ] &&
        "$B" segment -i examples/abdomen_ct.png -b 95,255,190,350 -o "$T/qs.png" --overlay "$T/qs_overlay.png" 2>"$T/err" &&
        /usr/bin/python3 - "$T/qs.png" "$T/qs_overlay.png" <<'PYEOF'
import sys, zlib, struct
def png_gray(path):  # 8-bit grey, no interlace: the CLI's mask PNGs
    d = open(path, "rb").read(); w, h = struct.unpack(">II", d[16:24]); raw = b""; i = 8
    while i < len(d):
        n, t = struct.unpack(">I4s", d[i:i + 8]); raw += d[i + 8:i + 8 + n] if t == b"IDAT" else b""; i += 12 + n
    raw = zlib.decompress(raw); assert d[24] == 8 and d[25] == 0
    return w, h, [raw[y * (w + 1) + 1:(y + 1) * (w + 1)] for y in range(h)]  # filter byte 0 (the CLI writes none)
w, h, rows = png_gray(sys.argv[1])
inside = sum(1 for y in range(h) for x in range(w) if rows[y][x] and 95 <= x < 190 and 255 <= y < 350)
near = sum(1 for y in range(h) for x in range(w) if rows[y][x] and 91 <= x < 194 and 251 <= y < 354)
outside = sum(1 for y in range(h) for x in range(w) if rows[y][x]) - near  # beyond the box grown by 4 px
assert (w, h) == (512, 512) and outside == 0 and 0.2 * 95 * 95 < inside < 95 * 95, (inside, outside)
assert open(sys.argv[2], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
PYEOF
    then ok "quick start: the bundled model (checksum, <= 40 MB) segments examples/abdomen_ct.png within its box (+4 px), with an overlay"
    else bad "quick start: $(cat "$T/err")"; fi
fi
summary
