/* fuzz_npz.c — libFuzzer target for the .npz reader (zip from memory, every
 * member parsed as .npy and converted to float). An input that does not
 * start with "PK" is taken as one .npy member and wrapped here in a valid
 * archive (stored or deflated), so that fuzzed .npy bytes get past the
 * member CRC-32 that a fuzzed zip rarely matches.
 *
 * Checks beyond "no crash": every listed member is found by its name, and a
 * failure leaves a one-line message.
 *
 * Build and run by hand (not part of `make`): */
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -Iinclude -Isrc fuzz/fuzz_npz.c src/io/npz.c src/weights/zip.c src/weights/zip_write.c src/core/npy.c \
//     src/core/error.c src/core/budget.c src/core/atomic_file.c -lz -lm -o build/fuzz_npz
// mkdir -p build/fuzz_npz_corpus && cp tests/fixtures/npz/*.npz build/fuzz_npz_corpus/
// (cd build/fuzz_npz_corpus && unzip -o -q ../../tests/fixtures/npz/stored.npz)  # .npy seeds
// build/fuzz_npz -max_len=16384 -timeout=10 -rss_limit_mb=2048 -max_total_time=300 build/fuzz_npz_corpus
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npz.h"
#include "weights/zip.h"

#define FUZZ_MAX_COUNT (1 << 22)

static void read_archive(const uint8_t *data, size_t size, int must_open) {
    ms_npz *z = NULL;
    medsam_error err = {0};
    if (ms_npz_open_mem(data, size, &z, &err) != MEDSAM_OK) {
        if (must_open || z || !err.message[0] || strchr(err.message, '\n')) abort();
        return;
    }
    for (int i = 0; i < ms_npz_count(z); i++) {
        const char *name = ms_npz_name(z, i);
        if (!name || !ms_npz_has(z, name)) abort();
        ms_npy a;
        err.message[0] = 0;
        if (ms_npz_get(z, name, &a, &err) != MEDSAM_OK) {
            if (!err.message[0] || strchr(err.message, '\n')) abort();
            continue;
        }
        if (a.count <= FUZZ_MAX_COUNT) {
            float *f = NULL;
            if (ms_npy_to_f32(&a, &f, &err) == MEDSAM_OK) free(f);
        }
        ms_npy_free(&a);
    }
    ms_npz_close(z);
}

/* Wraps `data` as member "x.npy" of a zip made by our writer (deflated when
 * the first byte is odd); the archive itself must always open. */
static void read_as_member(const uint8_t *data, size_t size) {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) return;
    pth_zip_writer zw;
    medsam_error err;
    pth_zip_writer_init(&zw, fp, 0);
    pth_zip_part part = {data, size};
    medsam_status st = pth_zip_writer_add_parts(&zw, "x.npy", &part, 1, size && (data[0] & 1) ? 1 : 0, &err);
    if (!st) st = pth_zip_writer_finish(&zw, &err);
    pth_zip_writer_free(&zw);
    fclose(fp);
    if (st == MEDSAM_OK) read_archive((const uint8_t *)buf, len, 1);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') read_archive(data, size, 0);
    else read_as_member(data, size);
    return 0;
}
