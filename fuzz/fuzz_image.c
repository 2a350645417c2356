/* fuzz_image.c — libFuzzer target for the PNG / JPEG / BMP / .npy image readers.
 *
 * Every input goes through ms_image_decode with small limits (so that a header claiming a
 * huge image is refused rather than allocated); a decoded image is checked for a
 * consistent description, every sample is read, and small images also run through the
 * MedSAM preprocessing at a 24-pixel target.
 *
 * Build and run by hand (not part of `make`):
 */
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -Iinclude -Isrc fuzz/fuzz_image.c src/io/image*.c src/pipeline/preprocess.c src/pipeline/resize*.c \
//     src/core/error.c src/core/budget.c src/core/npy.c src/core/atomic_file.c -lpng -ljpeg -lz -lm -o build/fuzz_image
// mkdir -p build/fuzz_image_corpus && cp tests/fixtures/preprocess/*.png tests/fixtures/preprocess/*.jpg \
//     tests/fixtures/preprocess/*decoded.npy tests/fixtures/bmp/*.bmp build/fuzz_image_corpus/
// build/fuzz_image -max_len=65536 -timeout=10 -rss_limit_mb=2048 -max_total_time=300 build/fuzz_image_corpus
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "pipeline/preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ms_image img;
    medsam_error err;
    ms_image_limits lim = {.max_side = 4096, .max_pixels = 1 << 22};
    if (ms_image_decode(data, size, "fuzz", &lim, &img, &err) != MEDSAM_OK) {
        if (strncmp(err.message, "fuzz: ", 6) != 0 || strchr(err.message, '\n')) abort();
        return 0;
    }
    int stores = (img.u8 != NULL) + (img.u16 != NULL) + (img.f32 != NULL);
    if (stores != 1 || img.width < 1 || img.height < 1 || img.width > 4096 || img.height > 4096 || img.channels < 1 ||
        img.channels > 4)
        abort();
    if ((img.bit_depth == 8 && !img.u8) || (img.bit_depth == 16 && !img.u16) || (img.bit_depth == 32 && !img.f32))
        abort();
    double sum = 0;
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++)
            for (int c = 0; c < img.channels; c++) sum += ms_image_sample(&img, y, x, c);
    if (sum < 0 && img.bit_depth != 32) abort();
    if ((long long)img.width * img.height <= 256 * 256) {
        enum { T = 24 };
        float out[T * T * 3];
        uint8_t q[T * T * 3];
        ms_preprocess_opts o = {.target = T, .threads = 1};
        medsam_status st = ms_preprocess_medsam(out, q, &img, &o, &err);
        if (st == MEDSAM_OK)
            for (int i = 0; i < T * T * 3; i++)
                if (!(out[i] >= 0.0f && out[i] <= 1.0f)) abort();
    }
    ms_image_free(&img);
    return 0;
}
