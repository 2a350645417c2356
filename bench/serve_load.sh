#!/bin/sh
# `make bench-serve`: box -> mask round trips over HTTP on a cached embedding.
# Starts `medsam serve` with a random-initialised ViT-B (`medsam init --seed 0`,
# kept in $BUILD/bench/; the decoder's cost does not depend on the weights),
# uploads a 512x512 image, checks the answer against `medsam segment`, then
# measures: 1 client (sequential), then SERVE_CLIENTS (default 32) concurrent
# clients for SERVE_SECONDS (default 30) s. Every answer is compared with the
# CLI's mask byte for byte. Settings: SERVE_ARCH (vit_b), SERVE_THREADS (all cores).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ARCH=${SERVE_ARCH:-vit_b}
CLIENTS=${SERVE_CLIENTS:-32}
SECS=${SERVE_SECONDS:-30}
IMG=tests/fixtures/images/camera.png
BOX=100,80,400,420
OUT=$BUILD/bench
mkdir -p "$OUT"
CKPT=$OUT/${ARCH}_seed0.pth
[ -s "$CKPT" ] || "$BUILD/medsam" init --arch "$ARCH" --seed 0 -o "$CKPT"
${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE -pthread bench/serve_load.c -o "$OUT/serve_load"
"$BUILD/medsam" segment -m "$CKPT" -i $IMG -b $BOX -o "$OUT/serve_expected.png"
"$BUILD/medsam" serve -m "$CKPT" --port 0 ${SERVE_THREADS:+--threads $SERVE_THREADS} 2>"$OUT/serve.err" &
SRV=$!
trap 'kill $SRV 2>/dev/null' EXIT
i=0
while ! grep -q 'ready at' "$OUT/serve.err" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$OUT/serve.err")
ID=$(curl -s -H 'Content-Type: application/octet-stream' --data-binary @$IMG "http://127.0.0.1:$PORT/api/images" |
     sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p')
JSON="{\"boxes\": [[$BOX]]}"
# the first request waits for the encoder; it must give the CLI's mask
curl -s -o "$OUT/serve_first.png" -H 'Content-Type: application/json' -d "$JSON" "http://127.0.0.1:$PORT/api/images/$ID/segment"
cmp "$OUT/serve_first.png" "$OUT/serve_expected.png"
echo "######## medsam serve ($ARCH, $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
"$OUT/serve_load" "$PORT" "$ID" "$JSON" "$OUT/serve_expected.png" 1 5 $SRV
"$OUT/serve_load" "$PORT" "$ID" "$JSON" "$OUT/serve_expected.png" "$CLIENTS" "$SECS" $SRV
