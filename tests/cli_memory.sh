#!/bin/sh
# cli_memory.sh — --max-memory on the command line: inputs over the budget are refused with
# one line (file, decoded size, budget) and nothing written, and under `ulimit -v` a 4000 x 4000
# image (16 MB of pixels; the whole-image float64 resize needed ~70 bytes a pixel, 1.1 GB) is
# segmented within 600 MB of address space, proving the banded preprocessing and the budget
# hold (bench/memory.sh measures 16000 x 16000). The ulimit runs are skipped for ASan builds
# (BUILD=build-asan: ASan reserves terabytes of virtual memory). The inputs are made here with
# printf / gzip (nothing committed).
cd "$(dirname "$0")/.." || exit 1
. tests/lib_cli.sh
M=tests/fixtures/tiny/model.pth

# little-endian bytes of an integer (2 or 4 bytes)
le16() { printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $((($1 >> 8) & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $((($1 >> 16) & 65535)); }

# bmp W H: an 8-bit BMP of zeros with a one-entry black palette (read as grey), W a multiple of 4
bmp() {
    w=$1; h=$2
    { printf 'BM'; le32 $((58 + w * h)); le32 0; le32 58
      le32 40; le32 "$w"; le32 "$h"; le16 1; le16 8; le32 0; le32 0; le32 0; le32 0; le32 1; le32 0
      le32 0; head -c $((w * h)) /dev/zero; }
}

# nii_gz NX NY NZ: a gzip NIfTI-1 int16 volume of zeros (header written field by field)
nii_gz() {
    { le32 348; head -c 36 /dev/zero
      le16 3; le16 "$1"; le16 "$2"; le16 "$3"; le16 1; le16 1; le16 1; le16 1  # dim[0..7]
      head -c 14 /dev/zero; le16 4; le16 16; le16 0                           # intent, datatype int16, bitpix, slice_start
      printf '\000\000\200\077\000\000\200\077\000\000\200\077\000\000\200\077' # pixdim[0..3] = 1
      head -c 16 /dev/zero; printf '\000\000\260\103'                          # pixdim[4..7], vox_offset 352
      head -c $((344 - 112)) /dev/zero; printf 'n+1\000'; le32 0
      head -c $(($1 * $2 * $3 * 2)) /dev/zero; } | gzip -1
}

bmp 4000 4000 >"$T/big.bmp"
nii_gz 512 512 1024 >"$T/bomb.nii.gz"     # 512 MiB of voxels in about 500 KB
nii_gz 64 64 8 >"$T/small.nii.gz"

expect "image over --max-memory" "big.bmp: file size 15.3 MiB is over the memory budget of 8.0 MiB" \
    "$B" segment -m "$M" -i "$T/big.bmp" -b 10,10,100,100 -o "$T/out.png" --max-memory 8M
expect "gzip NIfTI bomb over --max-memory" "bomb.nii.gz: NIfTI 512x512x1024x1 int16: decoded size 512.0 MiB" \
    "$B" segment -m "$M" -i "$T/bomb.nii.gz" -B 1,1,0,20,20,3 -o "$T/out.nii.gz" --max-memory 64M
expect "bad --max-memory" "unknown unit" "$B" segment -m "$M" -i "$T/big.bmp" -b 1,1,9,9 -o "$T/out.png" --max-memory 8Q

if "$B" segment -m "$M" -i "$T/small.nii.gz" --window soft -B 1,1,0,20,20,3 -o "$T/small_out.nii.gz" --max-memory 64M --threads 1 \
    >/dev/null 2>"$T/err" && [ -s "$T/small_out.nii.gz" ]; then
    ok "volume within --max-memory segmented"
else
    bad "volume within --max-memory: $(cat "$T/err")"
fi

case "${BUILD:-build}" in
*asan*) echo "skip ulimit -v runs (ASan build)" ;;
*)
    # 600 MB of address space: the image (16 MB), its file (16 MB), the mask (16 MB), the bands
    # of the resize, the model, the libraries and the thread stacks
    if (ulimit -v 600000 && exec "$B" segment -m "$M" -i "$T/big.bmp" -b 10,10,4000,3000 -o "$T/big_out.png" \
        --max-memory 256M --threads 2) >/dev/null 2>"$T/err" && [ -s "$T/big_out.png" ]; then
        ok "4000x4000 image segmented under ulimit -v 600000 (KB)"
    else
        bad "4000x4000 image under ulimit -v 600000: $(cat "$T/err")"
    fi
    if (ulimit -v 600000 && exec "$B" segment -m "$M" -i "$T/bomb.nii.gz" -B 1,1,0,20,20,3 -o "$T/out.nii.gz" \
        --max-memory 256M --threads 1) >/dev/null 2>"$T/err"; then
        bad "bomb under ulimit accepted"
    elif grep -q "over the memory budget of 256.0 MiB" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]; then
        ok "gzip NIfTI bomb refused under ulimit -v: $(cat "$T/err")"
    else
        bad "gzip NIfTI bomb under ulimit -v: $(cat "$T/err")"
    fi ;;
esac
summary
