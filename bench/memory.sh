#!/bin/sh
# `make bench-memory`: peak resident memory (/usr/bin/time -v) of `medsam segment` on three
# generated inputs, against the goals of issue 16 (README "Memory"):
#   - a 16000 x 16000 grey PNG (256 MB of pixels)          goal: peak RSS <= pixels + 1 GB
#   - a 512 x 512 x 600 int16 CT NIfTI (.nii.gz, 300 MB)    goal: peak RSS <= voxels + 1.5 GB
#   - a 1024^3 int16 NIfTI of zeros (2 GiB, ~2 MB on disk)  goal: peak RSS <= voxels + 1.5 GB
# The 2-D run uses a random-initialised ViT-B checkpoint (`medsam init --arch vit_b`: the real
# MedSAM model size and its 1024 x 1024 input, so the preprocessing is MedSAM's); the volume runs
# use the tiny test model tests/fixtures/tiny/model.pth (the memory that matters there is the
# volume's; the tiny model adds a few MB). The inputs are made by bench/gen_memory_inputs.c
# (the library's own writers) in $MEM_DIR and are not committed.
# Settings:
#   MEM_DIR      scratch folder (default /tmp/medsam_bench_memory; about 300 MB of files)
#   MEM_THREADS  threads (default 2)
#   OLD_MEDSAM   a `medsam` binary of the code before issue 16: its runs are measured too, and the
#                outputs compared byte for byte; the 2-D comparison then uses a 6000 x 6000 image
#                (the old whole-image resize needs ~70 bytes a pixel: 18.6 GB at 16000 x 16000),
#                unless OLD_BIG=1.
# Heavy (minutes, GBs): run it niced on a quiet machine.
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
B=$BUILD/medsam
DIR=${MEM_DIR:-/tmp/medsam_bench_memory}
TH=${MEM_THREADS:-2}
TINY=tests/fixtures/tiny/model.pth
mkdir -p "$DIR"
[ -x /usr/bin/time ] || { echo "bench/memory.sh needs /usr/bin/time (Debian package: time)"; exit 1; }

GEN=$DIR/gen_memory_inputs
${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc bench/gen_memory_inputs.c "$BUILD/libmedsam.a" -o "$GEN" \
    -lpng -ljpeg -lz -lm -fopenmp
[ -s "$DIR/grey16000.png" ] || "$GEN" png "$DIR/grey16000.png" 16000
[ -s "$DIR/ct512x600.nii.gz" ] || "$GEN" ct "$DIR/ct512x600.nii.gz" 512 512 600
[ -s "$DIR/zeros1024.nii.gz" ] || "$GEN" zeros "$DIR/zeros1024.nii.gz" 1024
[ -s "$DIR/vit_b_seed0.pth" ] || "$B" init --arch vit_b --seed 0 -o "$DIR/vit_b_seed0.pth" >/dev/null
VITB=$DIR/vit_b_seed0.pth

# run NAME BIN ARGS...: prints "peak_kb seconds" of the command (which must succeed)
run() {
    name=$1; shift
    if ! /usr/bin/time -v "$@" >"$DIR/$name.out" 2>"$DIR/$name.time"; then
        echo "FAIL $name: $(grep -v '^\s' "$DIR/$name.time" | head -3)" >&2; return 1
    fi
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$DIR/$name.time")
    el=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$DIR/$name.time")
    echo "$kb $el"
}

# report NAME INPUT_BYTES SLACK_MB PEAK_KB ELAPSED
report() {
    goal=$(( $2 / 1048576 + $3 ))
    peak=$(( $4 / 1024 ))
    verdict=$([ "$peak" -le "$goal" ] && echo ok || echo OVER)
    printf '%-34s %10d MiB %10d MiB %10d MiB  %-4s %s\n' "$1" $(( $2 / 1048576 )) "$peak" "$goal" "$verdict" "$5"
}

echo "machine: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; threads $TH"
printf '%-34s %14s %14s %14s  %s\n' "run" "decoded input" "peak RSS" "goal" "verdict, wall time"

set -- $(run png_new nice "$B" segment -m "$VITB" -i "$DIR/grey16000.png" -b 2000,2000,9000,9000 \
    -o "$DIR/png_new.png" --threads "$TH")
report "16000^2 grey PNG, ViT-B" 256000000 1024 "$1" "$2"
set -- $(run ct_new nice "$B" segment -m "$TINY" -i "$DIR/ct512x600.nii.gz" --window soft \
    -B 200,150,150,350,300,170 -o "$DIR/ct_new.nii.gz" --threads "$TH")
report "512x512x600 CT .nii.gz, tiny" $((512 * 512 * 600 * 2)) 1536 "$1" "$2"
set -- $(run zeros_new nice "$B" segment -m "$TINY" -i "$DIR/zeros1024.nii.gz" --window soft \
    -B 100,100,500,300,300,505 -o "$DIR/zeros_new.nii.gz" --threads "$TH")
report "1024^3 zeros .nii.gz, tiny" $((1024 * 1024 * 1024 * 2)) 1536 "$1" "$2"

if [ -n "${OLD_MEDSAM:-}" ]; then
    echo "old code ($OLD_MEDSAM): peak RSS and outputs"
    PNG=$DIR/grey16000.png; SIDE=16000
    if [ "${OLD_BIG:-0}" != 1 ]; then
        [ -s "$DIR/grey6000.png" ] || "$GEN" png "$DIR/grey6000.png" 6000
        PNG=$DIR/grey6000.png; SIDE=6000
        set -- $(run png6_new nice "$B" segment -m "$VITB" -i "$PNG" -b 1000,1000,4000,4000 -o "$DIR/png6_new.png" --threads "$TH")
        report "6000^2 grey PNG, ViT-B (new)" 36000000 1024 "$1" "$2"
        set -- $(run png6_old nice "$OLD_MEDSAM" segment -m "$VITB" -i "$PNG" -b 1000,1000,4000,4000 -o "$DIR/png6_old.png" --threads "$TH")
        report "6000^2 grey PNG, ViT-B (old)" 36000000 1024 "$1" "$2"
        cmp "$DIR/png6_new.png" "$DIR/png6_old.png" && echo "6000^2 mask: identical"
    else
        set -- $(run png_old nice "$OLD_MEDSAM" segment -m "$VITB" -i "$PNG" -b 2000,2000,9000,9000 -o "$DIR/png_old.png" --threads "$TH")
        report "16000^2 grey PNG, ViT-B (old)" 256000000 1024 "$1" "$2"
        cmp "$DIR/png_new.png" "$DIR/png_old.png" && echo "16000^2 mask: identical"
    fi
    set -- $(run ct_old nice "$OLD_MEDSAM" segment -m "$TINY" -i "$DIR/ct512x600.nii.gz" --window soft \
        -B 200,150,150,350,300,170 -o "$DIR/ct_old.nii.gz" --threads "$TH")
    report "512x512x600 CT .nii.gz (old)" $((512 * 512 * 600 * 2)) 1536 "$1" "$2"
    cmp "$DIR/ct_new.nii.gz" "$DIR/ct_old.nii.gz" && echo "CT labels: identical"
    set -- $(run zeros_old nice "$OLD_MEDSAM" segment -m "$TINY" -i "$DIR/zeros1024.nii.gz" --window soft \
        -B 100,100,500,300,300,505 -o "$DIR/zeros_old.nii.gz" --threads "$TH")
    report "1024^3 zeros .nii.gz (old)" $((1024 * 1024 * 1024 * 2)) 1536 "$1" "$2"
    cmp "$DIR/zeros_new.nii.gz" "$DIR/zeros_old.nii.gz" && echo "zeros labels: identical"
fi
