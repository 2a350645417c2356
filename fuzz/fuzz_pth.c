/* fuzz_pth.c — libFuzzer target for the .pth reader.
 *
 * Inputs starting with "PK" go through the whole checkpoint path (zip +
 * unpickler + tensor checks + reading every tensor, capped in size). Any
 * other input is taken as a pickle: it goes straight to the unpickler, what it
 * builds is written back with the pickle writer and parsed again, and it is
 * also wrapped as archive/data.pkl in a valid zip with storages data/0..15 so
 * that fuzzed pickles reach storage checks and strided reads (which a fuzzed
 * zip rarely does, since data.pkl carries a CRC).
 *
 * Build and run by hand (not part of `make`); see the commands after this comment. */
// clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_DEFAULT_SOURCE \
//     -Iinclude -Isrc fuzz/fuzz_pth.c src/weights/*.c src/core/error.c src/core/atomic_file.c -lz -o build/fuzz_pth
// mkdir -p build/fuzz_pth_corpus && cp tests/fixtures/pth/*.pth build/fuzz_pth_corpus/
// (cd tests/fixtures/pth && for f in *.pth; do unzip -p "$f" '*data.pkl' > ../../../build/fuzz_pth_corpus/$f.pkl; done)
// build/fuzz_pth -max_len=16384 -timeout=10 -rss_limit_mb=2048 -max_total_time=300 build/fuzz_pth_corpus
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weights/pickle.h"
#include "weights/pth.h"
#include "weights/zip.h"

#define FUZZ_MAX_NUMEL (1 << 16)

static void read_all_tensors(pth_file *f) {
    float *buf = malloc(FUZZ_MAX_NUMEL * sizeof *buf);
    int64_t *ibuf = malloc(FUZZ_MAX_NUMEL * sizeof *ibuf);
    medsam_error err;
    for (int i = 0; i < pth_tensor_count(f); i++) {
        const pth_tensor *t = pth_tensor_at(f, i);
        if (t->numel > FUZZ_MAX_NUMEL) continue;
        pth_read_f32(f, t, buf, &err);
        pth_read_i64(f, t, ibuf, &err);
        if (pth_find(f, t->name) == NULL) abort(); /* every listed name must be findable */
    }
    /* tensors elsewhere in the tree (optimizer state) */
    const pth_value *root = pth_root(f);
    for (size_t i = 0; i < pth_value_len(root) && i < 64; i++) {
        const pth_tensor *t = pth_value_tensor(pth_dict_value(root, i));
        if (t && t->numel <= FUZZ_MAX_NUMEL) pth_read_f32(f, t, buf, &err);
    }
    free(buf);
    free(ibuf);
}

/* Wraps a pickle as archive/data.pkl next to 16 storages of 256 patterned bytes. */
static void open_wrapped(const uint8_t *pkl, size_t size) {
    char *zbuf = NULL;
    size_t zlen = 0;
    FILE *fp = open_memstream(&zbuf, &zlen);
    if (!fp) return;
    medsam_error err;
    pth_zip_writer zw;
    pth_zip_writer_init(&zw, fp, size & 1);
    uint8_t storage[256];
    for (int i = 0; i < 256; i++) storage[i] = (uint8_t)(i * 37 + 11);
    int ok = pth_zip_writer_add(&zw, "archive/data.pkl", pkl, size, &err) == MEDSAM_OK;
    for (int k = 0; ok && k < 16; k++) {
        char name[32];
        snprintf(name, sizeof name, "archive/data/%d", k);
        ok = pth_zip_writer_add(&zw, name, storage, (uint64_t)(16 * k), &err) == MEDSAM_OK;
    }
    ok = ok && pth_zip_writer_finish(&zw, &err) == MEDSAM_OK;
    pth_zip_writer_free(&zw);
    fclose(fp);
    pth_file *f = NULL;
    if (ok && pth_open_mem(zbuf, zlen, "wrapped.pth", &f, &err) == MEDSAM_OK) read_all_tensors(f);
    pth_close(f);
    free(zbuf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    medsam_error err;
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        pth_file *f = NULL;
        if (pth_open_mem(data, size, "fuzz.pth", &f, &err) == MEDSAM_OK) read_all_tensors(f);
        pth_close(f);
        return 0;
    }
    pth_heap *h = pth_heap_new(PTH_PICKLE_MAX_NODES);
    pth_value *root = NULL;
    if (h && pth_unpickle(data, size, h, &root, &err) == MEDSAM_OK) {
        uint8_t *out = NULL;
        size_t len = 0, nt = 0;
        const pth_value **ts = NULL;
        /* loaded tensors have no in-memory data, so trees with tensors are refused; others must re-parse */
        if (pth_pickle_dump(root, &out, &len, &ts, &nt, &err) == MEDSAM_OK) {
            pth_heap *h2 = pth_heap_new(PTH_PICKLE_MAX_NODES);
            pth_value *back = NULL;
            if (pth_unpickle(out, len, h2, &back, &err) != MEDSAM_OK) abort();
            pth_heap_free(h2);
        }
        free(out);
        free(ts);
    }
    pth_heap_free(h);
    open_wrapped(data, size);
    return 0;
}
