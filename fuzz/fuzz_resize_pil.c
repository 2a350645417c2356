/* fuzz_resize_pil.c — libFuzzer target for the Pillow bilinear resize (resize_pil.c):
 * the first 5 bytes pick the input and output sizes (1..256 per side) and the channel
 * count (1 or 3), the rest are the pixels (repeated to fill the image).
 *
 * Checks beyond "no crash": the result does not depend on the thread count; every
 * output sample lies within its channel's input [min, max] (the weights are a convex
 * combination in fixed point); a constant image stays constant; the same size copies.
 *
 * Build and run by hand (not part of `make`): */
// clang -g -O1 -fopenmp -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 \
//     -D_DEFAULT_SOURCE -Iinclude -Isrc fuzz/fuzz_resize_pil.c src/pipeline/resize_pil.c src/core/error.c -lm \
//     -o build/fuzz_resize_pil
// build/fuzz_resize_pil -max_len=4096 -timeout=10 -max_total_time=120
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/resize_pil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 6) return 0;
    const int ih = data[0] + 1, iw = data[1] + 1, oh = data[2] + 1, ow = data[3] + 1, ch = data[4] & 1 ? 3 : 1;
    const int constant = (data[4] & 2) != 0;
    data += 5, size -= 5;
    const size_t nin = (size_t)ih * iw * ch, nout = (size_t)oh * ow * ch;
    uint8_t *in = malloc(nin), *out = malloc(nout), *out3 = malloc(nout);
    for (size_t i = 0; i < nin; i++) in[i] = constant ? data[0] : data[i % size];
    medsam_error err;
    if (ms_resize_pil_bilinear(in, ih, iw, ch, oh, ow, out, 1, &err) != MEDSAM_OK) abort();
    if (ms_resize_pil_bilinear(in, ih, iw, ch, oh, ow, out3, 3, &err) != MEDSAM_OK) abort();
    if (memcmp(out, out3, nout)) abort();
    for (int c = 0; c < ch; c++) {
        uint8_t lo = 255, hi = 0;
        for (size_t i = (size_t)c; i < nin; i += (size_t)ch) lo = in[i] < lo ? in[i] : lo, hi = in[i] > hi ? in[i] : hi;
        for (size_t i = (size_t)c; i < nout; i += (size_t)ch)
            if (out[i] < lo || out[i] > hi || (constant && out[i] != lo)) abort();
    }
    if (ih == oh && iw == ow && memcmp(in, out, nin)) abort();
    free(in), free(out), free(out3);
    return 0;
}
