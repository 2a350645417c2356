/* fuzz_safetensors.c — libFuzzer target for the safetensors reader and the
 * JSON parser under it.
 *
 * Each input is used three ways: (1) as a whole safetensors file image
 * (st_open_mem; every accepted tensor is read, and the checks the reader
 * promises are verified: offsets tile the data area, byte counts match);
 * (2) as a header: wrapped with a correct 8-byte length and a data area sized
 * from the input's last byte, so that fuzzed JSON reaches the entry checks
 * (which a random length prefix rarely lets it do); (3) as a plain JSON
 * document (json_parse with duplicate keys refused and allowed, a small depth
 * limit), walking every node through the accessors.
 *
 * Build and run by hand (not part of `make`):
 */
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -Iinclude -Isrc fuzz/fuzz_safetensors.c src/weights/*.c src/core/error.c src/core/atomic_file.c -lz \
//     -o build/fuzz_safetensors
// mkdir -p build/fuzz_st_corpus && cp tests/fixtures/weights/*.safetensors tests/fixtures/weights/slim/config.json \
//     build/fuzz_st_corpus/
// nice -n 5 build/fuzz_safetensors -max_len=65536 -timeout=10 -rss_limit_mb=2048 -max_total_time=300 build/fuzz_st_corpus
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weights/json_min.h"
#include "weights/safetensors.h"

#define FUZZ_MAX_NUMEL (1 << 16)

static void check_file(st_file *f, size_t data_size) {
    float *buf = malloc(FUZZ_MAX_NUMEL * sizeof *buf);
    medsam_error err;
    uint64_t covered = 0;
    for (int i = 0; i < st_tensor_count(f); i++) {
        const st_tensor *t = st_tensor_at(f, i);
        if (t->end < t->begin || t->end > data_size) abort();
        if (t->end - t->begin != (uint64_t)t->numel * (uint64_t)pth_dtype_size(t->dtype)) abort();
        if (st_find(f, t->name) != t) abort(); /* names are unique and findable */
        covered += t->end - t->begin;
        if (t->numel <= FUZZ_MAX_NUMEL && st_read_f32(f, t, buf, &err) != MEDSAM_OK) abort(); /* memory reads cannot fail */
    }
    if (covered != data_size) abort(); /* tiling */
    (void)st_metadata(f, "format");
    free(buf);
}

static void open_image(const uint8_t *data, size_t size) {
    st_file *f = NULL;
    medsam_error err;
    if (st_open_mem(data, size, "fuzz.safetensors", &f, &err) == MEDSAM_OK) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | data[i];
        check_file(f, size - 8 - (size_t)n);
    } else if (strchr(err.message, '\n') || strncmp(err.message, "fuzz.safetensors: ", 18) != 0) {
        abort(); /* one line, starting with the file name */
    }
    st_close(f);
}

static void wrap_header(const uint8_t *data, size_t size) {
    if (size == 0) return;
    size_t data_size = (size_t)data[size - 1] * 4;
    uint8_t *img = calloc(1, 8 + size + data_size);
    if (!img) return;
    for (int i = 0; i < 8; i++) img[i] = (uint8_t)((uint64_t)size >> (8 * i));
    memcpy(img + 8, data, size);
    for (size_t i = 0; i < data_size; i++) img[8 + size + i] = (uint8_t)(i * 37 + 11);
    open_image(img, 8 + size + data_size);
    free(img);
}

static void walk_json(const uint8_t *data, size_t size, int dups, int depth) {
    json_limits lim = json_default_limits();
    lim.reject_duplicate_keys = dups;
    lim.max_depth = depth;
    json_doc *d = NULL;
    medsam_error err;
    if (json_parse((const char *)data, size, &lim, &d, &err) != MEDSAM_OK) {
        if (d || strncmp(err.message, "JSON: ", 6) != 0) abort();
        return;
    }
    for (int i = 0; i < json_node_count(d); i++) {
        size_t len;
        int64_t v;
        double x;
        const char *s = json_str(d, i, &len);
        if (s && s[len] != 0) abort();
        const char *k = json_key(d, i, &len);
        if (k && (k[len] != 0 || json_get(d, -1, k) != -1)) abort();
        (void)json_as_i64(d, i, &v);
        (void)json_as_double(d, i, &x);
        int n = 0;
        for (int c = json_first(d, i); c >= 0; c = json_next(d, c)) n++;
        if (n != json_len(d, i)) abort();
    }
    json_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    open_image(data, size);
    wrap_header(data, size);
    walk_json(data, size, 1, 64);
    walk_json(data, size, 0, 3);
    return 0;
}
